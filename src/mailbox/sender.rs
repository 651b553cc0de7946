//! The sending side: an authority system sends (idempotently), reads a message's state and
//! evidence, fetches a signed receipt and polls the replies.

use super::seal::aad;
use super::view::{EventOut, FetchedReply, Outgoing, Status};
use super::{File, MailboxError, MailboxService, limits};
use crate::catalogue;
use crate::crypto::aead::{self, Key};
use crate::crypto::{random_bytes, sha256};
use crate::domain::client::{Client, SigningAlg};
use crate::domain::evidence::verify_chain;
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::store::mailbox::{MessageRow, PendingMessage, ReplyRow};
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;

/// One recipient of a bulk send.
#[derive(Clone, Debug)]
pub struct BulkItem {
    pub recipient_sub: String,
    /// This recipient's case reference, if it has its own.
    pub reference: Option<String>,
    pub idempotency_key: Option<String>,
    /// The digest (hex) of the message and this item as sent: what an idempotent retry must
    /// repeat. A digest, not the bytes: 10,000 copies of a message with attachments would
    /// not fit in memory.
    pub request_hash: String,
}

impl MailboxService {
    /// Stores a message for the citizen whom `sender`'s tenant knows as `recipient_sub`.
    /// With an idempotency key, a retry with the same request returns the first message
    /// (`true` = replayed) and stores nothing.
    ///
    /// # Errors
    /// `UnknownRecipient`, `Invalid`, `TooLarge`, `IdempotencyMismatch`, or storage failures.
    #[tracing::instrument(skip_all, fields(client_id = %sender.id))]
    pub async fn send(
        &self,
        sender: &Client,
        out: Outgoing,
        idempotency: Option<(&str, &[u8])>,
    ) -> Result<(Uuid, bool), MailboxError> {
        let request_hash = idempotency.map(|(_, body)| crate::crypto::hex(&sha256(body)));
        if let Some((key, _)) = idempotency
            && let Some(replay) = self.replay(sender, key, request_hash.as_deref()).await?
        {
            return Ok((replay, true));
        }
        limits::validate(&out, self.clock.now())?;
        self.scan_files(&out.attachments, "to_citizen", None, Some(&sender.id))
            .await?;
        let required = self.required_level(sender, &out).await?;
        self.store(
            sender,
            &out,
            required,
            (&out.recipient_sub, out.reference.as_deref()),
            (idempotency.map(|(k, _)| k), request_hash.as_deref()),
        )
        .await
    }

    /// Sends one message to many recipients (a *Bescheid* run), each with its own result:
    /// the message is checked and its attachments scanned once, then stored per recipient
    /// (each its own message, sealed with its own key). Idempotent per item: an item's key is
    /// its own `idempotency_key`, or the whole call's key with `#INDEX`; its request is the
    /// message and the item, so a retry of the whole call (or of one item in another call)
    /// replays what was stored and stores nothing twice.
    ///
    /// # Errors
    /// What applies to the whole call (invalid or oversized message, malware, the scanner,
    /// too many recipients) or storage failures; per-recipient problems are item results.
    pub async fn send_bulk(
        &self,
        sender: &Client,
        shared: &Outgoing,
        items: &[BulkItem],
        key: Option<&str>,
    ) -> Result<Vec<Result<(Uuid, bool), MailboxError>>, MailboxError> {
        if items.is_empty() {
            return Err(MailboxError::Invalid("recipients must not be empty".into()));
        }
        limits::check_bulk(items.len(), &shared.attachments)?;
        limits::validate(shared, self.clock.now())?;
        self.scan_files(&shared.attachments, "to_citizen", None, Some(&sender.id))
            .await?;
        let required = self.required_level(sender, shared).await?;
        // Items go through the group commit 32 at a time, so a run of 10,000 is stored in
        // batches; results keep the items' order. Each item in flight holds its own sealed
        // copy of the attachments: with large ones, fewer at a time (about 32 MiB in all).
        let file_bytes: usize = shared.attachments.iter().map(|f| f.content.len()).sum();
        let parallel = (32 * 1024 * 1024 / file_bytes.max(1)).clamp(1, 32);
        let pending: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.bulk_item(sender, shared, required, (i, item), key))
            .collect();
        let results: Vec<Result<(Uuid, bool), MailboxError>> = futures_util::stream::iter(pending)
            .buffered(parallel)
            .collect()
            .await;
        // A backend failure ends the call; what was stored is replayed by a retry.
        if let Some(pos) = results
            .iter()
            .position(|r| matches!(r, Err(MailboxError::Store(_) | MailboxError::Keys(_))))
        {
            if let Some(Err(e)) = results.into_iter().nth(pos) {
                return Err(e);
            }
            return Err(MailboxError::Invalid("bulk send failed".into()));
        }
        Ok(results)
    }

    /// One item of a bulk send: replayed under its key, or stored.
    async fn bulk_item(
        &self,
        sender: &Client,
        shared: &Outgoing,
        required: Loa,
        (i, item): (usize, &BulkItem),
        key: Option<&str>,
    ) -> Result<(Uuid, bool), MailboxError> {
        let item_key = item
            .idempotency_key
            .clone()
            .or_else(|| key.map(|k| format!("{k}#{i}")));
        let hash = item_key.as_ref().map(|_| item.request_hash.clone());
        if let Some(k) = &item_key
            && let Some(id) = self.replay(sender, k, hash.as_deref()).await?
        {
            return Ok((id, true));
        }
        limits::check_reference(item.reference.as_deref())?;
        self.store(
            sender,
            shared,
            required,
            (
                &item.recipient_sub,
                item.reference.as_deref().or(shared.reference.as_deref()),
            ),
            (item_key.as_deref(), hash.as_deref()),
        )
        .await
    }

    /// The level a message needs: the sender's, or its process's if higher.
    async fn required_level(&self, sender: &Client, out: &Outgoing) -> Result<Loa, MailboxError> {
        let invalid = |m: &str| MailboxError::Invalid(m.to_owned());
        let mut required = out.required_level;
        if let Some(p) = &out.process {
            let id = crate::domain::process::ProcessId::parse(p)
                .map_err(|_| invalid("unknown process"))?;
            match catalogue::Catalogue::new(self.db.clone())
                .lookup(&id, Some(sender.tenant_id))
                .await?
            {
                Some((_, level)) => required = required.max(level),
                None => return Err(invalid("unknown process")),
            }
        }
        Ok(required)
    }

    /// Seals and stores one checked message for one recipient (with its own reference).
    async fn store(
        &self,
        sender: &Client,
        out: &Outgoing,
        required: Loa,
        (recipient_sub, reference): (&str, Option<&str>),
        (idempotency, request_hash): (Option<&str>, Option<&str>),
    ) -> Result<(Uuid, bool), MailboxError> {
        let subject = out.subject.trim();
        // The recipient as the sender's tenant knows them (its pairwise sector, whatever the
        // sender's own subject type: a public subject would reach other tenants' citizens);
        // another tenant's subject, or a made-up one, finds nothing and gets the same answer.
        // The committer looks the subject up with the rest of its batch and wraps the data
        // key for the account it names.
        let sector = sender.tenant_id.sector();
        let id = Uuid::now_v7();
        let key: Key = random_bytes::<32>();
        let subject_ct = aead::seal(&key, &aad(id, "subject"), subject.as_bytes());
        let reference_ct = reference.map(|r| aead::seal(&key, &aad(id, "reference"), r.as_bytes()));
        let body_ct = aead::seal(&key, &aad(id, "body"), out.body.as_bytes());
        let attachments = self.seal_files(id, &key, &out.attachments);
        let m = PendingMessage {
            id,
            sender_client_id: sender.id.as_str().to_owned(),
            sender_tenant_id: sender.tenant_id.0,
            account: AccountId(Uuid::nil()),
            recipient_sub: recipient_sub.to_owned(),
            reference: reference_ct,
            process: out.process.clone(),
            required_level: required,
            reply_allowed: out.reply_allowed,
            expires_at: out.expires_at,
            key_id: String::new(),
            wrapped_key: Vec::new(),
            subject: subject_ct,
            body: body_ct,
            idempotency_key: idempotency.map(str::to_owned),
            request_hash: request_hash.map(str::to_owned),
            attachments,
        };
        let addressed = super::commit::Addressed {
            sector,
            key,
            message: m,
        };
        match self.committer().store(addressed).await {
            Ok(()) => Ok((id, false)),
            // Another tenant's subject, or a made-up one: nobody.
            Err(crate::store::StoreError::NotFound) => Err(MailboxError::UnknownRecipient),
            // A concurrent retry with the same key won the race: answer as a retry.
            Err(e) if e.is_conflict_on("idempotency") && idempotency.is_some() => {
                let key = idempotency.unwrap_or_default();
                self.replay(sender, key, request_hash)
                    .await?
                    .map(|id| (id, true))
                    .ok_or_else(|| MailboxError::Invalid("conflicting request".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn replay(
        &self,
        sender: &Client,
        key: &str,
        hash: Option<&str>,
    ) -> Result<Option<Uuid>, MailboxError> {
        match self
            .db
            .mailbox()
            .by_idempotency(sender.id.as_str(), key)
            .await?
        {
            None => Ok(None),
            Some((id, stored)) if stored.as_deref() == hash => Ok(Some(id)),
            Some(_) => Err(MailboxError::IdempotencyMismatch),
        }
    }

    /// A message of this sender (anyone else's is `NotFound`).
    pub(super) async fn senders(
        &self,
        client_id: &str,
        id: Uuid,
    ) -> Result<MessageRow, MailboxError> {
        self.db
            .mailbox()
            .message(id)
            .await?
            .filter(|m| m.sender_client_id == client_id)
            .ok_or(MailboxError::NotFound)
    }

    /// State and evidence of a message, for its sender.
    ///
    /// # Errors
    /// `NotFound` for unknown ids and other senders' messages; storage failures.
    pub async fn status(&self, client_id: &str, id: Uuid) -> Result<Status, MailboxError> {
        let m = self.senders(client_id, id).await?;
        let events = self.db.mailbox().events(id).await?;
        let intact = verify_chain(&id.to_string(), &events).is_ok();
        // The sender's own reference; gone with the data key once the content is purged.
        let reference = self.reference(&m, self.message_key(&m).ok().as_ref());
        let announcement = self.announcement(&m, m.opened_at);
        Ok(Status {
            announcement,
            id,
            state: m.state,
            recipient_sub: m.recipient_sub,
            reference,
            process: m.process,
            required_level: m.required_level,
            reply_allowed: m.reply_allowed,
            created_at: m.created_at,
            expires_at: m.expires_at,
            events: events.into_iter().map(EventOut::from).collect(),
            evidence_intact: intact,
        })
    }

    /// The evidence chain signed with the provider's key (a JWS the sender verifies with our
    /// JWKS). A chain that does not verify is not signed.
    ///
    /// # Errors
    /// `NotFound`; `Invalid` when the chain is broken; signing or storage failures.
    pub async fn receipt(&self, client_id: &str, id: Uuid) -> Result<String, MailboxError> {
        let s = self.status(client_id, id).await?;
        if !s.evidence_intact {
            return Err(MailboxError::Invalid(
                "the evidence chain does not verify".into(),
            ));
        }
        let head = s.events.last().map(|e| e.hash.clone());
        let claims = json!({
            "iss": self.issuer,
            "aud": client_id,
            "sub": id,
            "iat": self.clock.now().timestamp(),
            "message": {
                "id": id, "recipient_sub": s.recipient_sub, "reference": s.reference,
                "process": s.process, "required_level": s.required_level, "state": s.state,
                "created_at": s.created_at,
            },
            "announcement": s.announcement,
            "events": s.events,
            "head_hash": head,
        });
        self.keyring
            .sign(SigningAlg::ES256, "evidence+jwt", &claims)
            .map_err(MailboxError::Sign)
    }

    /// Each evidence event as a Security Event Token (RFC 8417: `typ: secevent+jwt`, one
    /// event each, ES256 with our JWKS), in order. Each names its place in the hash chain
    /// (`seq`, `prev_hash`, `hash`), so the tokens chain as the evidence does. The shape
    /// follows FIT-Connect's event log (`sub`/`txn` name the message).
    ///
    /// # Errors
    /// `NotFound`; `Invalid` when the chain is broken; signing or storage failures.
    pub async fn event_log(&self, client_id: &str, id: Uuid) -> Result<Vec<String>, MailboxError> {
        let s = self.status(client_id, id).await?;
        if !s.evidence_intact {
            return Err(MailboxError::Invalid(
                "the evidence chain does not verify".into(),
            ));
        }
        s.events
            .iter()
            .map(|e| {
                let at = chrono::DateTime::parse_from_rfc3339(&e.at)
                    .map(|t| t.timestamp())
                    .unwrap_or_default();
                let claims = json!({
                    "iss": self.issuer,
                    "iat": at,
                    "jti": format!("{id}.{}", e.seq),
                    "aud": client_id,
                    "sub": format!("message:{id}"),
                    "txn": format!("message:{id}"),
                    "events": {
                        format!("{}{}", crate::domain::evidence::EVENT_URI_PREFIX, e.kind): {
                            "seq": e.seq,
                            "at": e.at,
                            "term": e.term,
                            "detail": e.detail,
                            "prev_hash": e.prev_hash,
                            "hash": e.hash,
                        }
                    },
                });
                self.keyring
                    .sign(SigningAlg::ES256, "secevent+jwt", &claims)
                    .map_err(MailboxError::Sign)
            })
            .collect()
    }

    /// Replies to the client's messages after `cursor` (an opaque string; empty = from the
    /// start), oldest first, with the cursor to continue from.
    ///
    /// # Errors
    /// `Invalid` for a malformed cursor; storage failures.
    pub async fn replies(
        &self,
        client_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<FetchedReply>, String), MailboxError> {
        let after = limits::parse_cursor(cursor)?;
        let rows = self
            .db
            .mailbox()
            .replies_after(client_id, after, i64::from(limit.clamp(1, 100)))
            .await?;
        let mut out = Vec::new();
        let mut next = after;
        let mut bytes = 0;
        for r in rows {
            // A purged reply keeps its place in the sequence but has no content left.
            let (body, files) = if r.body.is_some() {
                self.open_reply(&r).await?
            } else {
                (String::new(), Vec::new())
            };
            // A page carries at most about PAGE_BYTES of attachments (always one reply).
            bytes += files.iter().map(|f| f.content.len()).sum::<usize>() + body.len();
            if !out.is_empty() && bytes > limits::REPLIES_PAGE_BYTES {
                break;
            }
            next = r.cursor_no;
            out.push(FetchedReply {
                cursor: r.cursor_no.to_string(),
                id: r.id,
                message_id: r.message_id,
                reference: self.reply_reference(&r),
                body,
                created_at: r.created_at,
                attachments: files,
            });
        }
        Ok((out, next.to_string()))
    }

    /// A reply's text and its files with content (for the authority system).
    pub(super) async fn open_reply(
        &self,
        r: &ReplyRow,
    ) -> Result<(String, Vec<File>), MailboxError> {
        let (key, body) = self.reply_text(r)?;
        let mut files = Vec::new();
        for a in self
            .db
            .mailbox()
            .attachments(r.message_id, Some(r.id))
            .await?
        {
            files.push(Self::open_file(&key, r.id, &a)?);
        }
        Ok((body, files))
    }
}
