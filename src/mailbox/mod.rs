//! The mailbox (*Postfach*): authority systems send messages to citizens, citizens read and
//! answer them, authority systems fetch status, signed receipts and replies. Content is sealed
//! with a fresh AES-256-GCM data key per message (and per reply), wrapped by the master key
//! (`keyring::mailbox`); the store only ever holds ciphertext. Every change appends to the
//! message's hash-chained evidence log. A background task sends batched notification mails,
//! expires messages and purges content after the retention period.

pub mod worker;

use crate::catalogue;
use crate::crypto::aead::{self, Key};
use crate::crypto::{random_bytes, sha256};
use crate::domain::client::{Client, SigningAlg};
use crate::domain::evidence::{Event, verify_chain};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use crate::keyring::Keyring;
use crate::keyring::mailbox::MasterKeys;
use crate::mail::Mailer;
use crate::store::mailbox::{
    AttachmentRow, MessageRow, NewAttachment, NewMessage, ReplyRow, Sealed,
};
use crate::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Limits on what a message may carry.
pub mod limits {
    pub const SUBJECT_CHARS: usize = 200;
    pub const BODY_BYTES: usize = 100 * 1024;
    pub const REFERENCE_CHARS: usize = 100;
    pub const ATTACHMENTS: usize = 10;
    pub const ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
    pub const TOTAL_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
    pub const FILENAME_CHARS: usize = 200;
    /// A JSON request with this much base64 in it is refused before parsing.
    pub const REQUEST_BYTES: usize = TOTAL_ATTACHMENT_BYTES * 4 / 3 + BODY_BYTES * 2 + 64 * 1024;
    /// Attachments and text in one page of replies, at most (at least one reply is sent).
    pub const REPLIES_PAGE_BYTES: usize = 20 * 1024 * 1024;
    /// Replies to one message, at most.
    pub const REPLIES_PER_MESSAGE: usize = 100;
    /// Longest idempotency key.
    pub const IDEMPOTENCY_KEY_CHARS: usize = 200;
}

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The recipient is not known to the sender's tenant (or not at all: the same answer).
    #[error("recipient_sub is not known to your tenant")]
    UnknownRecipient,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the Idempotency-Key was used before with a different request")]
    IdempotencyMismatch,
    #[error("not found")]
    NotFound,
    /// Reading needs a higher level than the session has.
    #[error("this message needs the assurance level {0}")]
    NeedsLevel(Loa),
    /// A portal acts with a token from a login older than this many seconds: the citizen
    /// must authenticate again (RFC 9470 `max_age`).
    #[error("this needs a login within the last {0} seconds")]
    NeedsFreshLogin(u64),
    #[error("replies are not allowed for this message")]
    ReplyNotAllowed,
    #[error("the message content cannot be decrypted")]
    Undecryptable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("master key: {0}")]
    Keys(String),
    #[error("mail: {0}")]
    Mail(String),
}

/// A file as received or shown.
#[derive(Clone, Debug)]
pub struct File {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A message as the authority system hands it over (already parsed from JSON).
#[derive(Debug)]
pub struct Outgoing {
    pub recipient_sub: String,
    pub subject: String,
    pub body: String,
    pub reference: Option<String>,
    pub process: Option<String>,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub attachments: Vec<File>,
}

/// A message's place in a listing.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub id: Uuid,
    pub sender: String,
    /// `None` when the message needs a higher level than the reader has.
    pub subject: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub unread: bool,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub archived: bool,
}

/// Attachment metadata (content on request).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// A reply as the citizen wrote it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyView {
    pub id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<AttachmentInfo>,
}

/// A message opened by its recipient.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Opened {
    #[serde(flatten)]
    pub summary: Summary,
    pub body: String,
    pub process: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub attachments: Vec<AttachmentInfo>,
    pub replies: Vec<ReplyView>,
}

/// The sender's view: state and evidence.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub id: Uuid,
    pub state: String,
    pub recipient_sub: String,
    pub reference: Option<String>,
    pub process: Option<String>,
    pub required_level: String,
    pub reply_allowed: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub events: Vec<EventOut>,
    /// Whether the hash chain verifies; `false` means the log was tampered with.
    pub evidence_intact: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventOut {
    pub seq: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

impl From<Event> for EventOut {
    fn from(e: Event) -> Self {
        Self {
            seq: e.seq,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            kind: e.kind,
            at: e.at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A reply as the authority system fetches it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyOut {
    pub cursor: String,
    pub id: Uuid,
    pub message_id: Uuid,
    pub reference: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<FileOut>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FileOut {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub content_base64: String,
}

/// Mailbox settings from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Wait this long after a message before mailing, so a burst becomes one mail.
    pub notify_delay: Duration,
    /// Keep deleted and expired messages' content this long before purging it.
    pub retention: Duration,
    /// A portal shows content above *low*, and records evidence (opened, replied, deleted),
    /// only with a citizen's token from a login at most this old: a refreshed token keeps
    /// its `acr` for weeks, long after the citizen left.
    pub portal_max_age: Duration,
}

/// Who acts on a message as its recipient, and how that was established.
#[derive(Clone, Copy, Debug)]
pub struct Reader {
    pub account: AccountId,
    /// The level of the session or token.
    pub level: Loa,
    /// A portal sees only its own tenant's messages; the citizen's own pages see all.
    pub tenant: Option<TenantId>,
    pub presence: Presence,
}

/// How present the citizen is.
#[derive(Clone, Copy, Debug)]
pub enum Presence {
    /// The citizen's own browser session on our pages.
    Session,
    /// A portal with the citizen's access token, from a login at `auth_time` (Unix seconds).
    Token { auth_time: i64 },
}

impl Reader {
    /// The citizen, on our pages.
    #[must_use]
    pub fn session(account: AccountId, level: Loa) -> Self {
        Self {
            account,
            level,
            tenant: None,
            presence: Presence::Session,
        }
    }

    /// Whether the authentication behind this act is recent enough to count as the citizen
    /// being there.
    fn fresh(&self, max_age: Duration) -> bool {
        match self.presence {
            Presence::Session => true,
            Presence::Token { auth_time } => {
                let age = Utc::now().timestamp().saturating_sub(auth_time);
                u64::try_from(age).unwrap_or(0) <= max_age.as_secs()
            }
        }
    }

    /// The level content is shown at: a stale portal token counts as *low*.
    fn content_level(&self, max_age: Duration) -> Loa {
        if self.fresh(max_age) {
            self.level
        } else {
            self.level.min(Loa::Low)
        }
    }
}

/// What is done to a message. Every act passes [`MailboxService::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Open,
    Download,
    Reply,
    Archive,
    Delete,
}

impl Act {
    /// Whether the act is recorded in the sender's evidence.
    fn is_evidence(self) -> bool {
        matches!(self, Act::Open | Act::Reply | Act::Delete)
    }
}

/// The mailbox; cheap to clone.
#[derive(Clone)]
pub struct MailboxService(Arc<Inner>);

pub struct Inner {
    db: Db,
    keys: Arc<MasterKeys>,
    keyring: Arc<Keyring>,
    mailer: Mailer,
    issuer: String,
    settings: Settings,
}

impl std::ops::Deref for MailboxService {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The additional data of a wrapped data key: besides the message (or reply) id, what must not
/// change behind our back: the recipient account (or, for a reply, its message), the level
/// needed to read, and the client that sent or receives it. A row moved to another account or
/// given a lower level in the database no longer decrypts.
fn key_aad(id: Uuid, owner: Uuid, level: Option<&str>, client: &str) -> Vec<u8> {
    format!("{id}|key|{owner}|{}|{client}", level.unwrap_or("-")).into_bytes()
}

fn message_key_aad(m: &MessageRow) -> Vec<u8> {
    key_aad(
        m.id,
        m.account_id,
        Some(&m.required_level),
        &m.sender_client_id,
    )
}

fn reply_key_aad(r: &ReplyRow) -> Vec<u8> {
    key_aad(r.id, r.message_id, None, &r.client_id)
}

fn aad(id: Uuid, field: &str) -> Vec<u8> {
    format!("{id}|{field}").into_bytes()
}

/// A file name safe to show and to send in `Content-Disposition`: no path, no control
/// characters, at most [`limits::FILENAME_CHARS`].
#[must_use]
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let n: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(limits::FILENAME_CHARS)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    (!n.is_empty()).then_some(n)
}

/// `type/subtype` of RFC 6838 restricted names, lowercased; anything else is refused.
#[must_use]
pub fn clean_content_type(ct: &str) -> Option<String> {
    let ct = ct.trim().to_ascii_lowercase();
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let (t, st) = ct.split_once('/')?;
    (ok(t) && ok(st)).then_some(ct)
}

fn check_files(files: &[File]) -> Result<(), MailboxError> {
    if files.len() > limits::ATTACHMENTS {
        return Err(MailboxError::TooLarge(format!(
            "at most {} attachments",
            limits::ATTACHMENTS
        )));
    }
    let mut total = 0;
    for f in files {
        if f.content.len() > limits::ATTACHMENT_BYTES {
            return Err(MailboxError::TooLarge(format!(
                "{}: an attachment may have at most {} bytes",
                f.filename,
                limits::ATTACHMENT_BYTES
            )));
        }
        total += f.content.len();
    }
    if total > limits::TOTAL_ATTACHMENT_BYTES {
        return Err(MailboxError::TooLarge(format!(
            "attachments may have at most {} bytes together",
            limits::TOTAL_ATTACHMENT_BYTES
        )));
    }
    Ok(())
}

impl MailboxService {
    #[must_use]
    pub fn new(
        db: Db,
        keys: Arc<MasterKeys>,
        keyring: Arc<Keyring>,
        mailer: Mailer,
        issuer: String,
        settings: Settings,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            keys,
            keyring,
            mailer,
            issuer,
            settings,
        }))
    }

    fn seal_files(&self, owner: Uuid, key: &Key, files: &[File]) -> Vec<NewAttachment> {
        files
            .iter()
            .map(|f| {
                let id = Uuid::now_v7();
                NewAttachment {
                    id,
                    content_type: f.content_type.clone(),
                    size: i64::try_from(f.content.len()).unwrap_or(i64::MAX),
                    filename: aead::seal(
                        key,
                        &aad(owner, &format!("{id}|filename")),
                        f.filename.as_bytes(),
                    ),
                    content: aead::seal(key, &aad(owner, &format!("{id}|content")), &f.content),
                }
            })
            .collect()
    }

    fn data_key(
        &self,
        binding: &[u8],
        key_id: Option<&str>,
        wrapped: Option<&[u8]>,
    ) -> Result<Key, MailboxError> {
        match (key_id, wrapped) {
            (Some(k), Some(w)) => self
                .keys
                .unwrap(k, w, binding)
                .ok_or(MailboxError::Undecryptable),
            _ => Err(MailboxError::NotFound),
        }
    }

    fn open_text(
        key: &Key,
        owner: Uuid,
        field: &str,
        sealed: Option<&[u8]>,
    ) -> Result<String, MailboxError> {
        let plain = aead::open(
            key,
            &aad(owner, field),
            sealed.ok_or(MailboxError::NotFound)?,
        )
        .ok_or(MailboxError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| MailboxError::Undecryptable)
    }

    fn attachment_info(
        key: &Key,
        owner: Uuid,
        a: &AttachmentRow,
    ) -> Result<AttachmentInfo, MailboxError> {
        Ok(AttachmentInfo {
            id: a.id,
            filename: Self::open_text(
                key,
                owner,
                &format!("{}|filename", a.id),
                Some(&a.filename),
            )?,
            content_type: a.content_type.clone(),
            size: a.size,
        })
    }

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
        let invalid = |m: &str| MailboxError::Invalid(m.to_owned());
        let subject = out.subject.trim();
        if subject.is_empty()
            || subject.chars().count() > limits::SUBJECT_CHARS
            || subject.chars().any(char::is_control)
        {
            return Err(invalid(
                "subject must be 1 to 200 characters without control characters",
            ));
        }
        if out.body.len() > limits::BODY_BYTES {
            return Err(MailboxError::TooLarge(format!(
                "body may have at most {} bytes",
                limits::BODY_BYTES
            )));
        }
        if out.reference.as_ref().is_some_and(|r| {
            r.chars().count() > limits::REFERENCE_CHARS || r.chars().any(char::is_control)
        }) {
            return Err(invalid(
                "reference must be at most 100 characters without control characters",
            ));
        }
        if out.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(invalid("expires_at must be in the future"));
        }
        check_files(&out.attachments)?;
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
        // The recipient as the sender's tenant knows them (its pairwise sector, whatever the
        // sender's own subject type: a public subject would reach other tenants' citizens);
        // another tenant's subject, or a made-up one, finds nothing and gets the same answer.
        let sector = crate::oidc::claims::tenant_sector(sender.tenant_id);
        let Some(account) = self
            .db
            .subjects()
            .resolve(&sector, &out.recipient_sub)
            .await?
        else {
            return Err(MailboxError::UnknownRecipient);
        };
        let id = Uuid::now_v7();
        let key: Key = random_bytes::<32>();
        let (key_id, wrapped) = self.keys.wrap(
            &key,
            &key_aad(id, account.0, Some(required.name()), sender.id.as_str()),
        );
        let subject_ct = aead::seal(&key, &aad(id, "subject"), subject.as_bytes());
        let reference_ct = out
            .reference
            .as_deref()
            .map(|r| aead::seal(&key, &aad(id, "reference"), r.as_bytes()));
        let body_ct = aead::seal(&key, &aad(id, "body"), out.body.as_bytes());
        let attachments = self.seal_files(id, &key, &out.attachments);
        let m = NewMessage {
            id,
            sender_client_id: sender.id.as_str(),
            sender_tenant_id: sender.tenant_id.0,
            account,
            recipient_sub: &out.recipient_sub,
            reference: reference_ct.as_deref(),
            process: out.process.as_deref(),
            required_level: required,
            reply_allowed: out.reply_allowed,
            expires_at: out.expires_at,
            key_id: &key_id,
            wrapped_key: &wrapped,
            subject: &subject_ct,
            body: &body_ct,
            idempotency_key: idempotency.map(|(k, _)| k),
            request_hash: request_hash.as_deref(),
        };
        match self.db.mailbox().insert_message(&m, &attachments).await {
            Ok(()) => Ok((id, false)),
            // A concurrent retry with the same key won the race: answer as a retry.
            Err(e) if e.is_conflict_on("idempotency") && idempotency.is_some() => {
                let key = idempotency.map_or("", |(k, _)| k);
                self.replay(sender, key, request_hash.as_deref())
                    .await?
                    .map(|id| (id, true))
                    .ok_or_else(|| MailboxError::Invalid("conflicting request".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn replay(
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
    async fn senders(&self, client_id: &str, id: Uuid) -> Result<MessageRow, MailboxError> {
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
        Ok(Status {
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
            "iat": Utc::now().timestamp(),
            "message": {
                "id": id, "recipient_sub": s.recipient_sub, "reference": s.reference,
                "process": s.process, "required_level": s.required_level, "state": s.state,
                "created_at": s.created_at,
            },
            "events": s.events,
            "head_hash": head,
        });
        self.keyring
            .sign(SigningAlg::ES256, "evidence+jwt", &claims)
            .map_err(|e| MailboxError::Sign(e.to_string()))
    }

    async fn tenant_names(
        &self,
        rows: &[MessageRow],
    ) -> Result<HashMap<Uuid, String>, MailboxError> {
        let mut names = HashMap::new();
        for r in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(r.sender_tenant_id)
            {
                let t = self
                    .db
                    .tenants()
                    .by_id(TenantId(r.sender_tenant_id))
                    .await?;
                slot.insert(t.name);
            }
        }
        Ok(names)
    }

    /// The data key of a message.
    fn message_key(&self, m: &MessageRow) -> Result<Key, MailboxError> {
        self.data_key(
            &message_key_aad(m),
            m.key_id.as_deref(),
            m.wrapped_key.as_deref(),
        )
    }

    /// A message's case reference: sealed under its data key, or plaintext for a message
    /// stored before references were sealed (until the background round seals it).
    fn reference(&self, m: &MessageRow, key: Option<&Key>) -> Option<String> {
        if let Some(plain) = &m.reference {
            return Some(plain.clone());
        }
        Self::open_text(key?, m.id, "reference", m.reference_sealed.as_deref()).ok()
    }

    /// A message in a listing. Subject and case reference only when the reader's content
    /// level reaches the message's.
    fn summary(&self, r: &MessageRow, sender: String, reader: &Reader) -> Summary {
        let required = Loa::from_name(&r.required_level).unwrap_or(Loa::High);
        let readable = required <= reader.content_level(self.settings.portal_max_age);
        let key = readable.then(|| self.message_key(r).ok()).flatten();
        let subject = key
            .as_ref()
            .and_then(|k| Self::open_text(k, r.id, "subject", r.subject.as_deref()).ok());
        let reference = key.as_ref().and_then(|k| self.reference(r, Some(k)));
        Summary {
            id: r.id,
            sender,
            subject,
            reference,
            created_at: r.created_at,
            unread: r.opened_at.is_none(),
            required_level: required,
            reply_allowed: r.reply_allowed,
            archived: r.archived_at.is_some(),
        }
    }

    /// One page of the reader's mailbox (unread first, then newest). Subjects and case
    /// references of messages above the reader's content level are withheld; a portal sees
    /// only its own tenant's messages.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn inbox(
        &self,
        reader: &Reader,
        archived: bool,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<Summary>, bool), MailboxError> {
        // One row more than a page tells whether another page follows.
        let mut rows = self
            .db
            .mailbox()
            .inbox(
                reader.account,
                reader.tenant.map(|t| t.0),
                archived,
                i64::from(per_page) + 1,
                i64::from(page) * i64::from(per_page),
            )
            .await?;
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        let names = self.tenant_names(&rows).await?;
        let items = rows
            .iter()
            .map(|r| {
                self.summary(
                    r,
                    names.get(&r.sender_tenant_id).cloned().unwrap_or_default(),
                    reader,
                )
            })
            .collect();
        Ok((items, more))
    }

    /// The one gate for every act on a message: it must be the reader's (and, for a portal,
    /// from the portal's tenant), not deleted, purged or expired; the reader's level must
    /// reach the message's; and a portal's token must come from a recent login for content
    /// above *low* and for every act that the sender's evidence records. Returns the message.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    async fn admit(&self, reader: &Reader, id: Uuid, act: Act) -> Result<MessageRow, MailboxError> {
        let m = self
            .db
            .mailbox()
            .message(id)
            .await?
            .filter(|m| {
                m.account_id == reader.account.0
                    && m.deleted_at.is_none()
                    && m.purged_at.is_none()
                    && m.state != "expired"
                    && reader.tenant.is_none_or(|t| t.0 == m.sender_tenant_id)
            })
            .ok_or(MailboxError::NotFound)?;
        let required = Loa::from_name(&m.required_level).unwrap_or(Loa::High);
        if reader.level < required {
            return Err(MailboxError::NeedsLevel(required));
        }
        let max_age = self.settings.portal_max_age;
        if !reader.fresh(max_age) && (required > Loa::Low || act.is_evidence()) {
            return Err(MailboxError::NeedsFreshLogin(max_age.as_secs()));
        }
        Ok(m)
    }

    /// Opens a message for its reader, recording `opened` the first time.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`, `Undecryptable`; storage failures.
    pub async fn open(&self, reader: &Reader, id: Uuid, via: &str) -> Result<Opened, MailboxError> {
        let m = self.admit(reader, id, Act::Open).await?;
        let key = self.message_key(&m)?;
        let body = Self::open_text(&key, id, "body", m.body.as_deref())?;
        let attachments = self
            .db
            .mailbox()
            .attachments(id, None)
            .await?
            .iter()
            .map(|a| Self::attachment_info(&key, id, a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replies = Vec::new();
        for r in self.db.mailbox().replies_to(id).await? {
            if r.body.is_none() {
                continue;
            }
            let (key, body) = self.reply_text(&r)?;
            let attachments = self
                .db
                .mailbox()
                .attachments(id, Some(r.id))
                .await?
                .iter()
                .map(|a| Self::attachment_info(&key, r.id, a))
                .collect::<Result<Vec<_>, _>>()?;
            replies.push(ReplyView {
                id: r.id,
                body,
                created_at: r.created_at,
                attachments,
            });
        }
        self.db.mailbox().open_once(id, via).await?;
        let names = self.tenant_names(std::slice::from_ref(&m)).await?;
        let mut summary = self.summary(
            &m,
            names.get(&m.sender_tenant_id).cloned().unwrap_or_default(),
            reader,
        );
        summary.unread = false;
        Ok(Opened {
            summary,
            body,
            process: m.process,
            expires_at: m.expires_at,
            attachments,
            replies,
        })
    }

    /// The case reference of the message a reply answers, for the sender.
    fn reply_reference(&self, r: &ReplyRow) -> Option<String> {
        if let Some(plain) = &r.reference {
            return Some(plain.clone());
        }
        let binding = key_aad(
            r.message_id,
            r.message_account_id,
            Some(&r.message_level),
            &r.client_id,
        );
        let key = self
            .data_key(
                &binding,
                r.message_key_id.as_deref(),
                r.message_wrapped_key.as_deref(),
            )
            .ok()?;
        Self::open_text(
            &key,
            r.message_id,
            "reference",
            r.reference_sealed.as_deref(),
        )
        .ok()
    }

    /// Seals the case references of messages stored before references were sealed (a batch
    /// per call); returns how many it changed. A purged message's plaintext reference is
    /// dropped (its data key is gone with the content); a message whose key cannot be opened
    /// keeps its plaintext and is logged, never losing the reference.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn seal_legacy_references(&self) -> Result<usize, MailboxError> {
        let mut n = 0;
        for m in self.db.mailbox().unsealed_references().await? {
            let Some(plain) = &m.reference else { continue };
            if m.purged_at.is_some() || m.wrapped_key.is_none() {
                self.db.mailbox().seal_reference(m.id, None).await?;
                n += 1;
                continue;
            }
            match self.message_key(&m) {
                Ok(key) => {
                    let sealed = aead::seal(&key, &aad(m.id, "reference"), plain.as_bytes());
                    self.db
                        .mailbox()
                        .seal_reference(m.id, Some(&sealed))
                        .await?;
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(message = %m.id, error = %e, "case reference left unsealed: its data key does not open");
                }
            }
        }
        Ok(n)
    }

    /// A reply's data key and text.
    fn reply_text(&self, r: &ReplyRow) -> Result<(Key, String), MailboxError> {
        let key = self.data_key(
            &reply_key_aad(r),
            r.key_id.as_deref(),
            r.wrapped_key.as_deref(),
        )?;
        let body = Self::open_text(&key, r.id, "body", r.body.as_deref())?;
        Ok((key, body))
    }

    /// Decrypts one attachment (name and content) sealed under `key` for `owner`.
    fn open_file(key: &Key, owner: Uuid, a: &AttachmentRow) -> Result<File, MailboxError> {
        let info = Self::attachment_info(key, owner, a)?;
        let content = aead::open(
            key,
            &aad(owner, &format!("{}|content", a.id)),
            a.content.as_deref().ok_or(MailboxError::NotFound)?,
        )
        .ok_or(MailboxError::Undecryptable)?;
        Ok(File {
            filename: info.filename,
            content_type: info.content_type,
            content,
        })
    }

    /// A reply's text and its files with content (for the authority system).
    async fn open_reply(&self, r: &ReplyRow) -> Result<(String, Vec<File>), MailboxError> {
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

    /// One attachment of a recipient's message (or of a reply to it).
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`, `Undecryptable`; storage failures.
    pub async fn attachment(
        &self,
        reader: &Reader,
        id: Uuid,
        attachment: Uuid,
    ) -> Result<File, MailboxError> {
        let m = self.admit(reader, id, Act::Download).await?;
        let a = self
            .db
            .mailbox()
            .attachment(id, attachment)
            .await?
            .ok_or(MailboxError::NotFound)?;
        match a.reply_id {
            None => Self::open_file(&self.message_key(&m)?, id, &a),
            Some(reply) => {
                let r = self
                    .db
                    .mailbox()
                    .reply(id, reply)
                    .await?
                    .ok_or(MailboxError::NotFound)?;
                let (key, _) = self.reply_text(&r)?;
                Self::open_file(&key, reply, &a)
            }
        }
    }

    /// The recipient answers a message that allows replies.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `ReplyNotAllowed`, `Invalid`, `TooLarge`; storage failures.
    pub async fn reply(
        &self,
        reader: &Reader,
        id: Uuid,
        body: &str,
        files: &[File],
    ) -> Result<Uuid, MailboxError> {
        let m = self.admit(reader, id, Act::Reply).await?;
        if !m.reply_allowed {
            return Err(MailboxError::ReplyNotAllowed);
        }
        if self.db.mailbox().reply_count(id).await? >= limits::REPLIES_PER_MESSAGE as i64 {
            return Err(MailboxError::TooLarge(format!(
                "at most {} replies to one message",
                limits::REPLIES_PER_MESSAGE
            )));
        }
        let body = body.trim();
        if body.is_empty() && files.is_empty() {
            return Err(MailboxError::Invalid("the reply is empty".into()));
        }
        if body.len() > limits::BODY_BYTES {
            return Err(MailboxError::TooLarge(format!(
                "a reply may have at most {} bytes",
                limits::BODY_BYTES
            )));
        }
        check_files(files)?;
        let reply = Uuid::now_v7();
        let key: Key = random_bytes::<32>();
        let (key_id, wrapped) = self
            .keys
            .wrap(&key, &key_aad(reply, id, None, &m.sender_client_id));
        let body_ct = aead::seal(&key, &aad(reply, "body"), body.as_bytes());
        let attachments = self.seal_files(reply, &key, files);
        self.db
            .mailbox()
            .insert_reply(
                reply,
                id,
                &m.sender_client_id,
                &key_id,
                &wrapped,
                &body_ct,
                &attachments,
            )
            .await?;
        Ok(reply)
    }

    /// Archives (or restores) a recipient's message. The same gate as reading: a session
    /// below the message's level cannot even tell it apart from the others by moving it.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    pub async fn archive(
        &self,
        reader: &Reader,
        id: Uuid,
        archived: bool,
    ) -> Result<(), MailboxError> {
        self.admit(reader, id, Act::Archive).await?;
        self.db.mailbox().archive(id, archived).await?;
        Ok(())
    }

    /// Deletes a recipient's message (hidden now, content purged after the retention
    /// period). Deleting is evidence for the sender ("the citizen deleted it"), so it needs
    /// the message's level like reading does.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    pub async fn delete(&self, reader: &Reader, id: Uuid) -> Result<(), MailboxError> {
        self.admit(reader, id, Act::Delete).await?;
        self.db.mailbox().delete(id).await?;
        Ok(())
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
    ) -> Result<(Vec<ReplyOut>, String), MailboxError> {
        let after: i64 = match cursor.filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => c
                .parse()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| MailboxError::Invalid("malformed cursor".into()))?,
        };
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
            out.push(ReplyOut {
                cursor: r.cursor_no.to_string(),
                id: r.id,
                message_id: r.message_id,
                reference: self.reply_reference(&r),
                body,
                created_at: r.created_at,
                attachments: files
                    .into_iter()
                    .map(|f| FileOut {
                        size: i64::try_from(f.content.len()).unwrap_or(i64::MAX),
                        content_base64: base64::Engine::encode(
                            &base64::engine::general_purpose::STANDARD,
                            &f.content,
                        ),
                        filename: f.filename,
                        content_type: f.content_type,
                    })
                    .collect(),
            });
        }
        Ok((out, next.to_string()))
    }

    /// Adds a new master key and re-wraps every data key under it. Returns the new key's id
    /// and how many data keys were re-wrapped.
    ///
    /// # Errors
    /// When the key folder cannot be written; see [`MailboxService::rewrap_all`].
    pub async fn rotate_master_key(&self) -> Result<(String, usize), MailboxError> {
        let id = self
            .keys
            .add_key()
            .map_err(|e| MailboxError::Keys(format!("{e:#}")))?;
        let n = self.rewrap_all().await?;
        Ok((id, n))
    }

    /// Re-wraps every data key under the newest master key (after `MasterKeys::add_key`),
    /// without touching any content. Returns how many keys were re-wrapped.
    ///
    /// # Errors
    /// A data key that no master key opens; storage failures.
    pub async fn rewrap_all(&self) -> Result<usize, MailboxError> {
        let mut n = 0;
        for which in [Sealed::Message, Sealed::Reply] {
            loop {
                // Read each round: a key added meanwhile (by another rotation) becomes the
                // target, instead of leaving rows that never match and a loop without end.
                let current = self.keys.current_id();
                let batch = self.db.mailbox().wrapped_keys(which, &current).await?;
                if batch.is_empty() {
                    break;
                }
                for w in batch {
                    let binding = key_aad(w.id, w.owner, w.level.as_deref(), &w.client);
                    let key = self
                        .keys
                        .unwrap(&w.key_id, &w.wrapped, &binding)
                        .ok_or(MailboxError::Undecryptable)?;
                    let (new_id, rewrapped) = self.keys.wrap(&key, &binding);
                    if self
                        .db
                        .mailbox()
                        .rewrap(which, w.id, &w.key_id, &new_id, &rewrapped)
                        .await?
                    {
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}
