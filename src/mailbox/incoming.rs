//! Citizens write first: a Kommune's contact topics name what a citizen can write about
//! and which authority system receives it; the citizen writes from `/postfach/neu` (text and
//! files, photos from a phone included), and the system fetches the messages by cursor (and
//! hears of each by callback: `submitted`). Sealing, evidence and idempotency as in the other
//! direction; the message stays in the citizen's mailbox as the thread the citizen can add
//! to (replies go to the same system).

use super::seal::{aad, key_aad};
use super::view::File;
use super::{MailboxError, MailboxService, Reader, limits};
use crate::crypto::aead::{self, Key};
use crate::crypto::{random_bytes, sha256};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use crate::store::mailbox::{MessageRow, NewMessage};
use crate::store::topics::TopicRow;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A topic as the citizen chooses it.
#[derive(Clone, Debug)]
pub struct TopicChoice {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub level: Loa,
}

/// What the citizen writes.
#[derive(Debug)]
pub struct CitizenMessage {
    pub topic: Uuid,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<File>,
    /// The form's one-time value: a second submission of the same form stores nothing new.
    pub nonce: String,
}

/// A citizen's message as its system fetches it.
#[derive(Clone, Debug)]
pub struct FetchedIncoming {
    pub cursor: String,
    pub id: Uuid,
    /// The citizen as the system's tenant knows them (send answers to this).
    pub recipient_sub: String,
    pub topic: Option<String>,
    pub process: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<File>,
}

impl MailboxService {
    /// The enabled topics of every Kommune, by Kommune and name.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn topics(&self) -> Result<Vec<TopicChoice>, MailboxError> {
        let rows = self.db.topics().list(None).await?;
        let mut out = Vec::new();
        for t in rows.into_iter().filter(|t| t.disabled_at.is_none()) {
            let tenant = self.db.tenants().by_id(TenantId(t.tenant_id)).await?;
            if tenant.disabled_at.is_some() {
                continue;
            }
            out.push(TopicChoice {
                id: t.id,
                tenant: tenant.name,
                name: t.name,
                level: t.required_level,
            });
        }
        out.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
        Ok(out)
    }

    /// One enabled topic of an enabled Kommune.
    ///
    /// # Errors
    /// `NotFound`; storage failures.
    pub async fn topic(&self, id: Uuid) -> Result<TopicChoice, MailboxError> {
        let (t, tenant) = self.open_topic(id).await?;
        Ok(TopicChoice {
            id: t.id,
            tenant,
            name: t.name,
            level: t.required_level,
        })
    }

    /// Whether the topic a citizen's message was written on still takes messages (enabled,
    /// its Kommune and its system too).
    pub(super) async fn topic_still_open(&self, m: &MessageRow) -> Result<bool, MailboxError> {
        let topic = self
            .db
            .topics()
            .list(Some(m.sender_tenant_id))
            .await?
            .into_iter()
            .find(|t| {
                t.disabled_at.is_none()
                    && t.client_id == m.sender_client_id
                    && m.topic.as_deref() == Some(t.name.as_str())
            });
        let Some(t) = topic else {
            return Ok(false);
        };
        match self.receiving(t).await {
            Ok(_) => Ok(true),
            Err(MailboxError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn open_topic(&self, id: Uuid) -> Result<(TopicRow, String), MailboxError> {
        let t = self
            .db
            .topics()
            .by_id(id)
            .await?
            .filter(|t| t.disabled_at.is_none())
            .ok_or(MailboxError::NotFound)?;
        self.receiving(t).await
    }

    /// An enabled topic, if its Kommune and its system still receive; with the Kommune's name.
    async fn receiving(&self, t: TopicRow) -> Result<(TopicRow, String), MailboxError> {
        let tenant = self.db.tenants().by_id(TenantId(t.tenant_id)).await?;
        if tenant.disabled_at.is_some() {
            return Err(MailboxError::NotFound);
        }
        // The receiving system must still be there to receive: enabled, with mailbox.send.
        let receiver = match self.db.clients().record(&t.client_id).await {
            Ok(r) => r,
            Err(crate::store::StoreError::NotFound) => return Err(MailboxError::NotFound),
            Err(e) => return Err(e.into()),
        };
        if receiver.disabled_at.is_some()
            || receiver.tenant_disabled
            || !receiver.client.scopes.contains("mailbox.send")
        {
            return Err(MailboxError::NotFound);
        }
        Ok((t, tenant.name))
    }

    /// Stores what the citizen wrote on a topic for the topic's system. The citizen's own
    /// pages only (a portal's token cannot write); the session must reach the topic's level.
    /// Returns the message and whether it was stored before (the same form sent twice).
    ///
    /// # Errors
    /// `NotFound` (topic), `NeedsLevel`, `Invalid`, `TooLarge`, `Infected`,
    /// `ScannerUnavailable`, `IdempotencyMismatch`; storage failures.
    pub async fn submit(
        &self,
        reader: &Reader,
        msg: &CitizenMessage,
    ) -> Result<(Uuid, bool), MailboxError> {
        if reader.tenant.is_some() {
            return Err(MailboxError::NotFound);
        }
        let (topic, _) = self.open_topic(msg.topic).await?;
        if reader.level < topic.required_level {
            return Err(MailboxError::NeedsLevel(topic.required_level));
        }
        let out = super::Outgoing {
            recipient_sub: String::new(),
            subject: msg.subject.clone(),
            body: msg.body.clone(),
            reference: None,
            process: topic.process.clone(),
            required_level: topic.required_level,
            reply_allowed: true,
            expires_at: None,
            attachments: Vec::new(),
        };
        limits::validate(&out, self.clock.now())?;
        limits::validate_reply(&msg.body, &msg.attachments)?;
        if msg.nonce.is_empty() || msg.nonce.len() > 64 {
            return Err(MailboxError::Invalid("the form is incomplete".into()));
        }
        let client = topic.client_id.as_str();
        let key_name = format!("citizen:{}:{}", reader.account, msg.nonce);
        let hash = request_hash(msg);
        if let Some(replayed) = self.replay_incoming(client, &key_name, &hash).await? {
            return Ok(replayed);
        }
        // The write limit, looked at before the work of scanning and sealing; the count that
        // binds is taken with the insert. At the limit, this very form may have been stored
        // since the look above (sent twice at once, the first took the last place): a replay.
        let since = self.clock.now() - chrono::Duration::hours(24);
        if self
            .db
            .mailbox()
            .written_since(reader.account, since)
            .await?
            >= limits::CITIZEN_MESSAGES_PER_DAY
        {
            return self
                .replay_incoming(client, &key_name, &hash)
                .await?
                .ok_or(MailboxError::Throttled);
        }
        self.scan_files(&msg.attachments, "from_citizen", Some(reader.account), None)
            .await?;
        let tenant = TenantId(topic.tenant_id);
        let sub = self.subject_at(tenant, reader.account).await?;
        let id = Uuid::now_v7();
        let key: Key = random_bytes::<32>();
        let level = topic.required_level;
        let (key_id, wrapped) = self.keys.wrap(
            &key,
            &key_aad(id, reader.account.0, Some(level.name()), client),
        );
        let subject_ct = aead::seal(&key, &aad(id, "subject"), msg.subject.trim().as_bytes());
        let body_ct = aead::seal(&key, &aad(id, "body"), msg.body.as_bytes());
        let attachments = self.seal_files(id, &key, &msg.attachments);
        let m = NewMessage {
            id,
            sender_client_id: client,
            sender_tenant_id: topic.tenant_id,
            account: reader.account,
            recipient_sub: &sub,
            reference: None,
            process: topic.process.as_deref(),
            required_level: level,
            reply_allowed: true,
            expires_at: None,
            key_id: &key_id,
            wrapped_key: &wrapped,
            subject: &subject_ct,
            body: &body_ct,
            idempotency_key: Some(&key_name),
            request_hash: Some(&hash),
        };
        match self
            .db
            .mailbox()
            .insert_incoming(
                &m,
                &topic.name,
                &attachments,
                (since, limits::CITIZEN_MESSAGES_PER_DAY),
            )
            .await
        {
            Ok(Some(_)) => Ok((id, false)),
            // At the limit: unless this very form was stored meanwhile (sent twice at once,
            // the first took the last place), which is a replay, not a refusal.
            Ok(None) => self
                .replay_incoming(client, &key_name, &hash)
                .await?
                .ok_or(MailboxError::Throttled),
            // The same form sent twice at once: the first one stored it.
            Err(e) if e.is_conflict_on("idempotency") => self
                .replay_incoming(client, &key_name, &hash)
                .await?
                .ok_or_else(|| MailboxError::Invalid("conflicting request".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// The answer to a form stored before under `key` (the message, replayed), if any.
    async fn replay_incoming(
        &self,
        client: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<(Uuid, bool)>, MailboxError> {
        match self.db.mailbox().by_idempotency(client, key).await? {
            None => Ok(None),
            Some((id, stored)) if stored.as_deref() == Some(hash) => Ok(Some((id, true))),
            Some(_) => Err(MailboxError::IdempotencyMismatch),
        }
    }

    /// The citizen's subject in the tenant's sector (what its systems know them as),
    /// remembered so that an answer sent to it finds the account.
    async fn subject_at(
        &self,
        tenant: TenantId,
        account: AccountId,
    ) -> Result<String, MailboxError> {
        let sector = tenant.sector();
        let sub = crate::crypto::pairwise_sub(self.keyring.pairwise_secret(), &sector, account);
        self.db.subjects().remember(&sector, &sub, account).await?;
        Ok(sub)
    }

    /// Citizens' messages to the client after `cursor` (opaque; empty = from the start),
    /// oldest first, with the cursor to continue from.
    ///
    /// # Errors
    /// `Invalid` for a malformed cursor; storage failures.
    pub async fn incoming(
        &self,
        client_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<FetchedIncoming>, String), MailboxError> {
        let after = limits::parse_cursor(cursor)?;
        let rows = self
            .db
            .mailbox()
            .incoming_after(client_id, after, i64::from(limit.clamp(1, 100)))
            .await?;
        let mut out = Vec::new();
        let mut next = after;
        let mut bytes = 0;
        for m in rows {
            let cursor = m.incoming_cursor.unwrap_or(next);
            // A purged message keeps its place in the sequence but has no content left.
            let (subject, body, files) = if m.body.is_some() {
                let key = self.message_key(&m)?;
                let subject = Self::open_text(&key, m.id, "subject", m.subject.as_deref())?;
                let body = Self::open_text(&key, m.id, "body", m.body.as_deref())?;
                let mut files = Vec::new();
                for a in self.db.mailbox().attachments(m.id, None).await? {
                    files.push(Self::open_file(&key, m.id, &a)?);
                }
                (subject, body, files)
            } else {
                (String::new(), String::new(), Vec::new())
            };
            bytes += files.iter().map(|f| f.content.len()).sum::<usize>() + body.len();
            if !out.is_empty() && bytes > limits::REPLIES_PAGE_BYTES {
                break;
            }
            next = cursor;
            out.push(FetchedIncoming {
                cursor: cursor.to_string(),
                id: m.id,
                recipient_sub: m.recipient_sub,
                topic: m.topic,
                process: m.process,
                subject,
                body,
                created_at: m.created_at,
                attachments: files,
            });
        }
        Ok((out, next.to_string()))
    }
}

/// What a repeated form must repeat: topic, subject, body and the files' digests.
fn request_hash(m: &CitizenMessage) -> String {
    let mut data = format!("{}\n{}\n{}", m.topic, m.subject, m.body).into_bytes();
    for f in &m.attachments {
        data.extend_from_slice(b"\n");
        data.extend_from_slice(&sha256(&f.content));
    }
    crate::crypto::hex(&sha256(&data))
}
