//! The mailbox tables: messages, attachments, replies with their cursor counters, and the
//! hash-chained evidence events. Content columns hold ciphertexts only; this module never
//! sees plaintext. Every state change and its evidence event commit together.

use super::{Db, StoreError, StoreResult, on_db, write_tx};
use crate::domain::evidence::{Event, EventKind, GENESIS, event_hash};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use crate::domain::mailbox::MessageState;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

pub struct Mailbox<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn mailbox(&self) -> Mailbox<'_> {
        Mailbox(self)
    }
}

/// A message to store.
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub sender_client_id: &'a str,
    pub sender_tenant_id: Uuid,
    pub account: AccountId,
    pub recipient_sub: &'a str,
    /// The case reference, sealed like the subject.
    pub reference: Option<&'a [u8]>,
    pub process: Option<&'a str>,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_id: &'a str,
    pub wrapped_key: &'a [u8],
    pub subject: &'a [u8],
    pub body: &'a [u8],
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a str>,
}

/// A message to store, owned: it may wait for the group commit.
pub struct PendingMessage {
    pub id: Uuid,
    pub sender_client_id: String,
    pub sender_tenant_id: Uuid,
    pub account: AccountId,
    pub recipient_sub: String,
    /// The case reference, sealed like the subject.
    pub reference: Option<Vec<u8>>,
    pub process: Option<String>,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub subject: Vec<u8>,
    pub body: Vec<u8>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub attachments: Vec<NewAttachment>,
}

/// An encrypted attachment to store.
#[derive(Clone)]
pub struct NewAttachment {
    pub id: Uuid,
    pub content_type: String,
    pub size: i64,
    /// SHA-512 of the plaintext, hex: named in the evidence (`sent`, `replied`).
    pub sha512: String,
    pub filename: Vec<u8>,
    pub content: Vec<u8>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub sender_client_id: String,
    pub sender_tenant_id: Uuid,
    pub account_id: Uuid,
    pub recipient_sub: String,
    /// Plaintext case reference of a message stored before references were sealed (until
    /// the background round seals it); `None` otherwise.
    pub reference: Option<String>,
    pub reference_sealed: Option<Vec<u8>>,
    pub process: Option<String>,
    #[sqlx(try_from = "String")]
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub state: MessageState,
    pub opened_at: Option<DateTime<Utc>>,
    pub notified_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub purged_at: Option<DateTime<Utc>>,
    pub key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub body: Option<Vec<u8>>,
    /// `authority` (sent to the citizen) or `citizen` (the citizen wrote it on a topic, to
    /// the system in `sender_client_id`).
    pub origin: String,
    /// The topic's name, for a citizen's message.
    pub topic: Option<String>,
    /// A citizen's message's place in its system's feed.
    pub incoming_cursor: Option<i64>,
}

impl MessageRow {
    /// Whether the citizen wrote it (to the system in `sender_client_id`).
    #[must_use]
    pub fn from_citizen(&self) -> bool {
        self.origin == "citizen"
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub reply_id: Option<Uuid>,
    pub position: i32,
    pub content_type: String,
    pub size: i64,
    pub filename: Vec<u8>,
    pub content: Option<Vec<u8>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ReplyRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub client_id: String,
    pub cursor_no: i64,
    pub created_at: DateTime<Utc>,
    pub key_id: Option<String>,
    pub wrapped_key: Option<Vec<u8>>,
    pub body: Option<Vec<u8>>,
    /// The case reference of the message it answers: plaintext (stored before sealing) or
    /// sealed under the message's data key, which the `message_*` columns unwrap.
    pub reference: Option<String>,
    pub reference_sealed: Option<Vec<u8>>,
    pub message_key_id: Option<String>,
    pub message_wrapped_key: Option<Vec<u8>>,
    pub message_account_id: Uuid,
    #[sqlx(try_from = "String")]
    pub message_level: Loa,
}

/// A wrapped data key with what its wrapping is bound to (see the mailbox).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WrappedKey {
    pub id: Uuid,
    pub key_id: String,
    pub wrapped: Vec<u8>,
    /// The recipient account (messages) or the message (replies).
    pub owner: Uuid,
    /// The level needed to read (messages only), as stored: the wrapping is bound to these
    /// exact bytes.
    pub level: Option<String>,
    /// The sending (messages) or receiving (replies) client.
    pub client: String,
}

/// Which table a wrapped data key lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sealed {
    Message,
    Reply,
}

const MESSAGE_COLUMNS: &str = "id, sender_client_id, sender_tenant_id, account_id, recipient_sub, reference, reference_sealed, process, \
    required_level, reply_allowed, expires_at, created_at, state, opened_at, notified_at, archived_at, deleted_at, \
    purged_at, key_id, wrapped_key, subject, body, origin, topic, incoming_cursor";
/// The head of an insert of messages (`state` comes after `created_at`).
macro_rules! message_head {
    () => {
        "INSERT INTO mailbox_messages (id, sender_client_id, sender_tenant_id, account_id, \
    recipient_sub, reference_sealed, process, required_level, reply_allowed, expires_at, created_at, state, key_id, \
    wrapped_key, subject, body, idempotency_key, request_hash) VALUES "
    };
}
const INSERT_MESSAGE: &str = concat!(
    message_head!(),
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'delivered', $12, $13, $14, $15, $16, $17)"
);
const INSERT_EVENTS: &str =
    "INSERT INTO mailbox_events (message_id, seq, kind, at, detail, prev_hash, hash) VALUES ";
/// The head of an insert of attachments.
macro_rules! attachment_head {
    () => {
        "INSERT INTO mailbox_attachments (id, message_id, reply_id, position, content_type, size, filename, content) VALUES "
    };
}
const INSERT_ATTACHMENT: &str = concat!(attachment_head!(), "($1, $2, $3, $4, $5, $6, $7, $8)");
const BY_IDEMPOTENCY: &str = "SELECT id, request_hash FROM mailbox_messages WHERE sender_client_id = $1 AND idempotency_key = $2";
const ATTACHMENT_COLUMNS: &str =
    "id, message_id, reply_id, position, content_type, size, filename, content";
const ATTACHMENT_META_COLUMNS: &str =
    "id, message_id, reply_id, position, content_type, size, filename, NULL AS content";
const LAST_EVENT: &str =
    "SELECT seq, hash FROM mailbox_events WHERE message_id = $1 ORDER BY seq DESC LIMIT 1";
const INSERT_EVENT: &str = "INSERT INTO mailbox_events (message_id, seq, kind, at, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const EVENTS: &str = "SELECT seq, kind, at, detail, prev_hash, hash FROM mailbox_events WHERE message_id = $1 ORDER BY seq";
const OPEN: &str = "UPDATE mailbox_messages SET opened_at = $2, state = CASE WHEN state IN ('delivered', 'notified') THEN 'opened' ELSE state END \
    WHERE id = $1 AND opened_at IS NULL AND deleted_at IS NULL AND purged_at IS NULL";
const ARCHIVE: &str =
    "UPDATE mailbox_messages SET archived_at = $2 WHERE id = $1 AND deleted_at IS NULL";
const DELETE: &str = "UPDATE mailbox_messages SET deleted_at = $2, state = 'deleted' WHERE id = $1 AND deleted_at IS NULL \
    AND state <> 'expired'";
const RESTORE: &str = "UPDATE mailbox_messages SET deleted_at = NULL, archived_at = NULL, state = CASE \
    WHEN expires_at IS NOT NULL AND expires_at <= $2 THEN 'expired' \
    WHEN EXISTS (SELECT 1 FROM mailbox_replies r WHERE r.message_id = mailbox_messages.id) THEN 'replied' \
    WHEN opened_at IS NOT NULL THEN 'opened' WHEN notified_at IS NOT NULL THEN 'notified' ELSE 'delivered' END \
    WHERE id = $1 AND deleted_at IS NOT NULL AND deleted_at <= $2 AND purged_at IS NULL";
const MARK_INCOMING: &str = "UPDATE mailbox_messages SET origin = 'citizen', topic = $2, incoming_cursor = $3, \
    opened_at = $4 WHERE id = $1";
// Messages an account wrote since $2 (the write limit; read under the account's lock).
const WRITTEN_SINCE: &str = "SELECT COUNT(*) FROM mailbox_messages WHERE account_id = $1 \
    AND origin = 'citizen' AND created_at > $2";
const NEXT_CURSOR: &str = "INSERT INTO mailbox_reply_cursors (client_id, last) VALUES ($1, 1) \
    ON CONFLICT (client_id) DO UPDATE SET last = mailbox_reply_cursors.last + 1 RETURNING last";
const INSERT_REPLY: &str = "INSERT INTO mailbox_replies (id, message_id, client_id, cursor_no, created_at, key_id, wrapped_key, body) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const REPLIED: &str = "UPDATE mailbox_messages SET state = 'replied' WHERE id = $1 AND state IN ('delivered', 'notified', 'opened')";
// Replies with their message's case reference (the authority system wants it with each).
const REPLIES_AFTER: &str = "SELECT r.id, r.message_id, r.client_id, r.cursor_no, r.created_at, r.key_id, r.wrapped_key, r.body, \
    m.reference, m.reference_sealed, m.key_id AS message_key_id, m.wrapped_key AS message_wrapped_key, \
    m.account_id AS message_account_id, m.required_level AS message_level FROM mailbox_replies r JOIN mailbox_messages m ON m.id = r.message_id \
    WHERE r.client_id = $1 AND r.cursor_no > $2 ORDER BY r.cursor_no LIMIT $3";
const REPLIES_TO: &str = "SELECT r.id, r.message_id, r.client_id, r.cursor_no, r.created_at, r.key_id, r.wrapped_key, r.body, \
    m.reference, m.reference_sealed, m.key_id AS message_key_id, m.wrapped_key AS message_wrapped_key, \
    m.account_id AS message_account_id, m.required_level AS message_level FROM mailbox_replies r JOIN mailbox_messages m ON m.id = r.message_id \
    WHERE r.message_id = $1 ORDER BY r.cursor_no";
const REPLY: &str = "SELECT r.id, r.message_id, r.client_id, r.cursor_no, r.created_at, r.key_id, r.wrapped_key, r.body, \
    m.reference, m.reference_sealed, m.key_id AS message_key_id, m.wrapped_key AS message_wrapped_key, \
    m.account_id AS message_account_id, m.required_level AS message_level FROM mailbox_replies r JOIN mailbox_messages m ON m.id = r.message_id \
    WHERE r.message_id = $1 AND r.id = $2";
const REPLY_COUNT: &str = "SELECT COUNT(*) FROM mailbox_replies WHERE message_id = $1";
const DUE_NOTIFY: &str = "SELECT account_id FROM mailbox_messages WHERE notified_at IS NULL AND origin = 'authority' AND deleted_at IS NULL \
    AND purged_at IS NULL AND created_at <= $1 AND (notify_claimed_at IS NULL OR notify_claimed_at <= $2) \
    GROUP BY account_id ORDER BY MIN(created_at) LIMIT 1000";
const CLAIM_NOTIFY: &str = "UPDATE mailbox_messages SET notify_claimed_at = $2 WHERE account_id = $1 AND notified_at IS NULL AND origin = 'authority' \
    AND deleted_at IS NULL AND purged_at IS NULL AND (notify_claimed_at IS NULL OR notify_claimed_at <= $3) \
    RETURNING id, sender_tenant_id";
const NOTIFIED: &str = "UPDATE mailbox_messages SET notified_at = $2, state = CASE WHEN state = 'delivered' THEN 'notified' ELSE state END \
    WHERE id = $1 AND notified_at IS NULL";
const UNNOTIFIED: &str = "SELECT COUNT(*), MIN(created_at) FROM mailbox_messages WHERE notified_at IS NULL AND origin = 'authority' \
    AND deleted_at IS NULL AND purged_at IS NULL AND created_at <= $1";
const DUE_EXPIRY: &str = "SELECT id FROM mailbox_messages WHERE expires_at IS NOT NULL AND expires_at <= $1 \
    AND state NOT IN ('expired', 'deleted') AND purged_at IS NULL LIMIT 1000";
const EXPIRE: &str = "UPDATE mailbox_messages SET state = 'expired' WHERE id = $1 AND expires_at <= $2 \
    AND state NOT IN ('expired', 'deleted')";
// One branch per reason, each on a partial index (0012, 0017): an `OR` of the
// three read the whole table every round.
const DUE_PURGE: &str = "SELECT id FROM (\
    SELECT id FROM mailbox_messages WHERE deleted_at IS NOT NULL AND deleted_at <= $1 AND purged_at IS NULL \
    UNION SELECT id FROM mailbox_messages WHERE expires_at IS NOT NULL AND expires_at <= $1 \
    AND purged_at IS NULL AND state = 'expired' \
    UNION SELECT m.id FROM accounts a JOIN mailbox_messages m ON m.account_id = a.id \
    WHERE a.deleted_at IS NOT NULL AND m.purged_at IS NULL) due LIMIT 1000";
// The reason to purge is checked again here: a message restored from the bin after it was
// picked keeps its content.
const PURGE: &str = "UPDATE mailbox_messages SET subject = NULL, body = NULL, reference_sealed = NULL, wrapped_key = NULL, purged_at = $2 \
    WHERE id = $1 AND purged_at IS NULL AND (deleted_at IS NOT NULL OR state = 'expired' \
    OR account_id IN (SELECT id FROM accounts WHERE deleted_at IS NOT NULL))";
const ACCOUNT_UNPURGED: &str =
    "SELECT id FROM mailbox_messages WHERE account_id = $1 AND purged_at IS NULL";
const PURGE_ATTACHMENTS: &str = "DELETE FROM mailbox_attachments WHERE message_id = $1";
const PURGE_REPLIES: &str =
    "UPDATE mailbox_replies SET body = NULL, wrapped_key = NULL WHERE message_id = $1";
const WRAPPED_MESSAGES: &str = "SELECT id, key_id, wrapped_key AS wrapped, account_id AS owner, required_level AS level, \
    sender_client_id AS client FROM mailbox_messages WHERE wrapped_key IS NOT NULL AND key_id <> $1 LIMIT 500";
const WRAPPED_REPLIES: &str = "SELECT id, key_id, wrapped_key AS wrapped, message_id AS owner, CAST(NULL AS TEXT) AS level, \
    client_id AS client FROM mailbox_replies WHERE wrapped_key IS NOT NULL AND key_id <> $1 LIMIT 500";
const ATTACHMENT: &str = "SELECT id, message_id, reply_id, position, content_type, size, filename, content \
    FROM mailbox_attachments WHERE message_id = $1 AND id = $2";
const REWRAP_MESSAGE: &str =
    "UPDATE mailbox_messages SET key_id = $3, wrapped_key = $4 WHERE id = $1 AND key_id = $2";
const SEAL_REFERENCE: &str = "UPDATE mailbox_messages SET reference_sealed = $2, reference = NULL WHERE id = $1 AND reference IS NOT NULL";
const DROP_REFERENCE: &str = "UPDATE mailbox_messages SET reference = NULL WHERE id = $1";
const REWRAP_REPLY: &str =
    "UPDATE mailbox_replies SET key_id = $3, wrapped_key = $4 WHERE id = $1 AND key_id = $2";

fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Appends an event inside an open transaction `$tx`: reads the last hash, links to it.
macro_rules! append_event {
    ($tx:expr, $id:expr, $kind:expr, $detail:expr, $now:expr) => {{
        let last: Option<(i32, String)> = sqlx::query_as(LAST_EVENT)
            .bind($id)
            .fetch_optional(&mut *$tx)
            .await?;
        let (seq, prev) = last.map_or((1, GENESIS.to_owned()), |(s, h)| (s + 1, h));
        let at = now_text($now);
        let kind: EventKind = $kind;
        let detail: &str = $detail;
        let hash = event_hash(&prev, &$id.to_string(), seq, kind.as_str(), &at, detail);
        if kind.is_called_back() {
            // The callback commits with its event, or neither does (the outbox).
            let event_id = Uuid::now_v7();
            let reply = serde_json::from_str::<serde_json::Value>(detail)
                .ok()
                .and_then(|d| d.get("reply").cloned());
            let body = crate::domain::evidence::callback_body(
                kind,
                event_id,
                $id,
                seq,
                &at,
                reply.as_ref(),
            );
            sqlx::query(super::callbacks::ENQUEUE)
                .bind(event_id)
                .bind($id)
                .bind(seq)
                .bind(kind.as_str())
                .bind(body)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(INSERT_EVENT)
            .bind($id)
            .bind(seq)
            .bind(kind.as_str())
            .bind(at)
            .bind(detail)
            .bind(prev)
            .bind(hash)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Inserts the attachments of a message (or of one of its replies) inside `$tx`.
macro_rules! insert_attachments {
    ($tx:expr, $message:expr, $reply:expr, $attachments:expr) => {{
        for (i, a) in $attachments.iter().enumerate() {
            sqlx::query(INSERT_ATTACHMENT)
                .bind(a.id)
                .bind($message)
                .bind($reply)
                .bind(i32::try_from(i).unwrap_or(i32::MAX))
                .bind(&a.content_type)
                .bind(a.size)
                .bind(&a.filename)
                .bind(&a.content)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Runs `f` again when a concurrent event append took the same sequence number.
async fn retry_conflicts<T, F, Fut>(mut f: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut attempts = 0;
    loop {
        match f().await {
            // SQLite names no constraint, so any conflict is taken for the events key; the
            // transactions retried here write nothing else that could conflict.
            Err(StoreError::Conflict { .. }) if attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempts)).await;
            }
            other => return other,
        }
    }
}

/// `head` followed by `rows` groups of `width` numbered placeholders.
fn multi_row(head: &str, width: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * width * 5);
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * width + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// The attachments as the evidence names them: id, size and SHA-512 each.
fn attachment_list(attachments: &[NewAttachment]) -> serde_json::Value {
    attachments
        .iter()
        .map(|a| serde_json::json!({ "id": a.id, "size": a.size, "sha512": a.sha512 }))
        .collect()
}

/// The `sent` event's detail: `{}` without attachments (as before), else their list.
fn digests(attachments: &[NewAttachment]) -> String {
    if attachments.is_empty() {
        "{}".to_owned()
    } else {
        serde_json::json!({ "attachments": attachment_list(attachments) }).to_string()
    }
}

/// Binds a [`PendingMessage`] to [`INSERT_MESSAGE`]'s 17 parameters (or a row of them).
macro_rules! bind_message {
    ($q:expr, $m:expr, $now:expr) => {{
        let m: &PendingMessage = $m;
        $q.bind(m.id)
            .bind(&m.sender_client_id)
            .bind(m.sender_tenant_id)
            .bind(m.account.0)
            .bind(&m.recipient_sub)
            .bind(&m.reference)
            .bind(&m.process)
            .bind(m.required_level.name())
            .bind(m.reply_allowed)
            .bind(m.expires_at)
            .bind($now)
            .bind(&m.key_id)
            .bind(&m.wrapped_key)
            .bind(&m.subject)
            .bind(&m.body)
            .bind(&m.idempotency_key)
            .bind(&m.request_hash)
    }};
}

/// Binds a new message's first two events (`sent`, `delivered`: the start of its chain) to
/// two rows of [`INSERT_EVENTS`].
macro_rules! bind_first_events {
    ($q:expr, $m:expr, $at:expr) => {{
        let (m, at): (&PendingMessage, &str) = ($m, $at);
        let id = m.id.to_string();
        let sent = digests(&m.attachments);
        let first = event_hash(GENESIS, &id, 1, EventKind::Sent.as_str(), at, &sent);
        let second = event_hash(&first, &id, 2, EventKind::Delivered.as_str(), at, "{}");
        $q.bind(m.id)
            .bind(1_i32)
            .bind(EventKind::Sent.as_str())
            .bind(at.to_owned())
            .bind(sent)
            .bind(GENESIS)
            .bind(first.clone())
            .bind(m.id)
            .bind(2_i32)
            .bind(EventKind::Delivered.as_str())
            .bind(at.to_owned())
            .bind("{}")
            .bind(first)
            .bind(second)
    }};
}

/// Whether a statement reaches `pool`'s server in one socket write: over a Unix socket or
/// plain TCP (`sslmode=disable`). Over TLS, sqlx writes one 16 KB record per system call and
/// sets no `TCP_NODELAY`, so a statement of several records waits for the server's delayed
/// ACK (40 ms: 400 instead of 4,500 sends per second, measured); `prefer` may be TLS. Those
/// connections take a statement per message, each about one record.
fn written_at_once(pool: &sqlx::PgPool) -> bool {
    let options = pool.connect_options();
    options.get_socket().is_some()
        || matches!(options.get_ssl_mode(), sqlx::postgres::PgSslMode::Disable)
}

/// At most this many bytes of content in one statement (larger batches take a statement per
/// message): a write larger than the socket's send buffer goes out in pieces, and the last
/// would wait for the server's delayed ACK.
const STATEMENT_BYTES: usize = 1 << 20;

/// PostgreSQL's one statement for a batch of new messages: the messages and their
/// attachments in `WITH` clauses, then their first events (their foreign keys are checked at
/// the statement's end, when the messages are there). Parameters in this order: every
/// message's 17, every attachment's 8 (message by message), every message's two events' 14.
/// `None` when the batch needs more parameters than one statement takes, or carries more
/// than [`STATEMENT_BYTES`].
fn batch_statement(batch: &[PendingMessage]) -> Option<String> {
    let files: usize = batch.iter().map(|m| m.attachments.len()).sum();
    let bytes: usize = batch
        .iter()
        .map(|m| {
            m.body.len()
                + m.subject.len()
                + m.attachments
                    .iter()
                    .map(|a| a.content.len() + a.filename.len())
                    .sum::<usize>()
        })
        .sum();
    if batch.len() * (17 + 14) + files * 8 > usize::from(u16::MAX) || bytes > STATEMENT_BYTES {
        return None;
    }
    let mut sql = String::with_capacity(batch.len() * 330 + files * 50 + 700);
    let mut next = 1;
    sql.push_str(concat!("WITH m AS (", message_head!()));
    placeholders(
        &mut sql,
        &mut next,
        batch.len(),
        17,
        Some((11, "'delivered'")),
    );
    sql.push(')');
    if files > 0 {
        sql.push_str(concat!(", a AS (", attachment_head!()));
        placeholders(&mut sql, &mut next, files, 8, None);
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(INSERT_EVENTS);
    placeholders(&mut sql, &mut next, batch.len() * 2, 7, None);
    Some(sql)
}

/// Appends `rows` groups of `width` placeholders numbered from `next` on, each with `literal`
/// after its `after`th placeholder when given.
fn placeholders(
    sql: &mut String,
    next: &mut usize,
    rows: usize,
    width: usize,
    literal: Option<(usize, &str)>,
) {
    use std::fmt::Write as _;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "${next}");
            *next += 1;
            if let Some((after, text)) = literal
                && c + 1 == after
            {
                sql.push_str(", ");
                sql.push_str(text);
            }
        }
        sql.push(')');
    }
}

impl Mailbox<'_> {
    /// Stores messages (each with its attachments and its `sent` and `delivered` events) in
    /// one transaction: a few statements for the whole batch (the group commit of
    /// concurrent sends). A new message's first events need no lookup: they start the
    /// chain. `Conflict` when a sender used an idempotency key before (then nothing of the
    /// batch is stored).
    ///
    /// # Errors
    /// A backend error or `Conflict`.
    pub async fn insert_messages(&self, batch: &[PendingMessage]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let at = now_text(now);
        if let Db::Pg(pool) = self.0
            && written_at_once(pool)
            && let Some(sql) = batch_statement(batch)
        {
            // PostgreSQL: the whole batch is one statement, so one round trip and one commit
            // (a statement is its own transaction) instead of BEGIN, a statement per message,
            // the events and COMMIT. SQLite cannot insert in a WITH clause and has no round
            // trips to save: it takes the transaction below.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in batch {
                q = bind_message!(q, m, now);
            }
            for m in batch {
                for (i, a) in m.attachments.iter().enumerate() {
                    q = q
                        .bind(a.id)
                        .bind(m.id)
                        .bind(None::<Uuid>)
                        .bind(i32::try_from(i).unwrap_or(i32::MAX))
                        .bind(&a.content_type)
                        .bind(a.size)
                        .bind(&a.filename)
                        .bind(&a.content);
                }
            }
            for m in batch {
                q = bind_first_events!(q, m, &at);
            }
            q.execute(pool).await?;
            return Ok(());
        }
        write_tx!(self.0, |tx| {
            // SQLite, PostgreSQL over TLS, or a batch too large for one statement: a statement
            // per message.
            for m in batch {
                bind_message!(sqlx::query(INSERT_MESSAGE), m, now)
                    .execute(&mut *tx)
                    .await?;
                insert_attachments!(tx, m.id, None::<Uuid>, m.attachments);
            }
            // The events of up to 16 messages per statement (about 8 KB).
            for chunk in batch.chunks(16) {
                let sql = multi_row(INSERT_EVENTS, 7, chunk.len() * 2);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for m in chunk {
                    q = bind_first_events!(q, m, &at);
                }
                q.execute(&mut *tx).await?;
            }
        })?;
        Ok(())
    }

    /// Stores a message the citizen wrote on a topic: as [`Mailbox::insert_message`], with
    /// origin `citizen`, the topic's name, the receiving system's next incoming cursor, and
    /// `submitted` and `delivered` (to the system) as its first events. It counts as seen by
    /// its author (`opened_at`), so it is neither unread nor notified, and `opened` stays the
    /// recipient's to record.
    ///
    /// # Errors
    /// A backend error or `Conflict` (the idempotency key).
    pub async fn insert_incoming(
        &self,
        m: &NewMessage<'_>,
        topic: &str,
        attachments: &[NewAttachment],
        (since, max): (DateTime<Utc>, i64),
    ) -> StoreResult<Option<i64>> {
        let now = Utc::now();
        let counter = format!("incoming:{}", m.sender_client_id);
        // One writer per account at a time (a counter row of its own, locked until the
        // commit), so the limit is counted and checked with no other write in between:
        // 40 forms sent at once cannot all pass it.
        let writer = format!("citizen-writes:{}", m.account.0);
        Ok(write_tx!(self.0, |tx| {
            sqlx::query(NEXT_CURSOR)
                .bind(&writer)
                .execute(&mut *tx)
                .await?;
            let (written,): (i64,) = sqlx::query_as(WRITTEN_SINCE)
                .bind(m.account.0)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
            if written >= max {
                return Ok(None);
            }
            let (cursor,): (i64,) = sqlx::query_as(NEXT_CURSOR)
                .bind(&counter)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(INSERT_MESSAGE)
                .bind(m.id)
                .bind(m.sender_client_id)
                .bind(m.sender_tenant_id)
                .bind(m.account.0)
                .bind(m.recipient_sub)
                .bind(m.reference)
                .bind(m.process)
                .bind(m.required_level.name())
                .bind(m.reply_allowed)
                .bind(m.expires_at)
                .bind(now)
                .bind(m.key_id)
                .bind(m.wrapped_key)
                .bind(m.subject)
                .bind(m.body)
                .bind(m.idempotency_key)
                .bind(m.request_hash)
                .execute(&mut *tx)
                .await?;
            sqlx::query(MARK_INCOMING)
                .bind(m.id)
                .bind(topic)
                .bind(cursor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            insert_attachments!(tx, m.id, None::<Uuid>, attachments);
            let mut detail = serde_json::json!({ "topic": topic });
            if !attachments.is_empty() {
                detail["attachments"] = attachment_list(attachments);
            }
            let detail = detail.to_string();
            append_event!(tx, m.id, EventKind::Submitted, &detail, now);
            append_event!(tx, m.id, EventKind::Delivered, "{}", now);
            Some(cursor)
        })?)
    }

    /// How many messages the account wrote since `since` (a quick look before the work of
    /// scanning and sealing; the binding count is the one in [`Self::insert_incoming`]).
    ///
    /// # Errors
    /// A backend error.
    pub async fn written_since(
        &self,
        account: AccountId,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let (n,): (i64,) = on_db!(self.0, |p| sqlx::query_as(WRITTEN_SINCE)
            .bind(account.0)
            .bind(since)
            .fetch_one(p)
            .await)?;
        Ok(n)
    }

    /// Citizens' messages to `client` after `cursor`, oldest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn incoming_after(
        &self,
        client: &str,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM mailbox_messages WHERE sender_client_id = $1 \
             AND incoming_cursor > $2 ORDER BY incoming_cursor LIMIT $3"
        );
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(client)
        .bind(cursor)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// The message a sender stored under an idempotency key, with its request hash.
    ///
    /// # Errors
    /// A backend error.
    pub async fn by_idempotency(
        &self,
        client: &str,
        key: &str,
    ) -> StoreResult<Option<(Uuid, Option<String>)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(BY_IDEMPOTENCY)
            .bind(client)
            .bind(key)
            .fetch_optional(p)
            .await)?)
    }

    /// # Errors
    /// A backend error.
    pub async fn message(&self, id: Uuid) -> StoreResult<Option<MessageRow>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM mailbox_messages WHERE id = $1");
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// An account's mailbox, unread first, newest first; without bodies. `tenant` limits it
    /// to one sender tenant; `archived` picks the archive instead of the inbox.
    ///
    /// # Errors
    /// A backend error.
    pub async fn inbox(
        &self,
        account: AccountId,
        tenant: Option<Uuid>,
        archived: bool,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<MessageRow>> {
        let cols = MESSAGE_COLUMNS.replace(", body", ", NULL AS body");
        let archive = if archived { "IS NOT NULL" } else { "IS NULL" };
        let tenant_filter = if tenant.is_some() {
            "AND sender_tenant_id = $4"
        } else {
            "AND $4 IS NULL"
        };
        let sql = format!(
            "SELECT {cols} FROM mailbox_messages WHERE account_id = $1 AND deleted_at IS NULL AND purged_at IS NULL \
             AND state <> 'expired' AND archived_at {archive} {tenant_filter} \
             ORDER BY opened_at IS NOT NULL, created_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(account.0)
        .bind(limit)
        .bind(offset)
        .bind(tenant)
        .fetch_all(p)
        .await)?)
    }

    /// One page of the account's bin: messages the citizen deleted whose content is not
    /// purged yet, most recently deleted first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn bin(
        &self,
        account: AccountId,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<MessageRow>> {
        let cols = MESSAGE_COLUMNS.replace(", body", ", NULL AS body");
        let sql = format!(
            "SELECT {cols} FROM mailbox_messages WHERE account_id = $1 AND deleted_at IS NOT NULL \
             AND purged_at IS NULL ORDER BY deleted_at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(account.0)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?)
    }

    /// Takes a deleted message out of the bin (until its content is purged): it comes back
    /// in the state its dates give, and the evidence records `restored`. True when it did.
    ///
    /// # Errors
    /// A backend error.
    pub async fn restore(&self, id: Uuid) -> StoreResult<bool> {
        self.transition(id, RESTORE, &[], EventKind::Restored, "{}")
            .await
    }

    /// The attachments of a message (`reply = None`) or of one of its replies.
    ///
    /// # Errors
    /// A backend error.
    pub async fn attachments(
        &self,
        message: Uuid,
        reply: Option<Uuid>,
    ) -> StoreResult<Vec<AttachmentRow>> {
        self.attachment_rows(message, reply, ATTACHMENT_COLUMNS)
            .await
    }

    /// Like [`Mailbox::attachments`], without their content (names, types, sizes): for
    /// showing a message, which must not read every file.
    ///
    /// # Errors
    /// A backend error.
    pub async fn attachment_list(
        &self,
        message: Uuid,
        reply: Option<Uuid>,
    ) -> StoreResult<Vec<AttachmentRow>> {
        self.attachment_rows(message, reply, ATTACHMENT_META_COLUMNS)
            .await
    }

    async fn attachment_rows(
        &self,
        message: Uuid,
        reply: Option<Uuid>,
        columns: &str,
    ) -> StoreResult<Vec<AttachmentRow>> {
        let filter = if reply.is_some() {
            "reply_id = $2"
        } else {
            "reply_id IS NULL AND $2 IS NULL"
        };
        let sql = format!(
            "SELECT {columns} FROM mailbox_attachments WHERE message_id = $1 AND {filter} ORDER BY position"
        );
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(message)
        .bind(reply)
        .fetch_all(p)
        .await)?)
    }

    /// One attachment of a message or of one of its replies.
    ///
    /// # Errors
    /// A backend error.
    pub async fn attachment(&self, message: Uuid, id: Uuid) -> StoreResult<Option<AttachmentRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(ATTACHMENT)
            .bind(message)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    /// # Errors
    /// A backend error.
    pub async fn events(&self, message: Uuid) -> StoreResult<Vec<Event>> {
        let rows: Vec<(i32, String, String, String, String, String)> =
            on_db!(self.0, |p| sqlx::query_as(EVENTS)
                .bind(message)
                .fetch_all(p)
                .await)?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, at, detail, prev_hash, hash)| Event {
                seq,
                kind,
                at,
                detail,
                prev_hash,
                hash,
            })
            .collect())
    }

    /// Marks the message opened, once: true (and an `opened` event) only the first time.
    ///
    /// # Errors
    /// A backend error.
    pub async fn open_once(&self, id: Uuid, via: &str) -> StoreResult<bool> {
        let detail = serde_json::json!({ "via": via }).to_string();
        self.transition(id, OPEN, &[], EventKind::Opened, &detail)
            .await
    }

    /// Moves the message into the archive or back.
    ///
    /// # Errors
    /// A backend error.
    pub async fn archive(&self, id: Uuid, archived: bool) -> StoreResult<bool> {
        let at = archived.then(Utc::now);
        let n = on_db!(self.0, |p| sqlx::query(ARCHIVE)
            .bind(id)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The citizen deletes the message: hidden at once, purged after the retention period.
    ///
    /// # Errors
    /// A backend error.
    pub async fn delete(&self, id: Uuid) -> StoreResult<bool> {
        self.transition(id, DELETE, &[], EventKind::Deleted, "{}")
            .await
    }

    /// Stores a reply with its attachments, gives it the receiving client's next cursor,
    /// and records `replied`. Returns the cursor.
    ///
    /// # Errors
    /// A backend error.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_reply(
        &self,
        id: Uuid,
        message: Uuid,
        client: &str,
        key_id: &str,
        wrapped_key: &[u8],
        body: &[u8],
        attachments: &[NewAttachment],
        max_replies: i64,
    ) -> StoreResult<Option<i64>> {
        let mut detail = serde_json::json!({ "reply": id });
        if !attachments.is_empty() {
            detail["attachments"] = attachment_list(attachments);
        }
        let detail = detail.to_string();
        retry_conflicts(|| async {
            let now = Utc::now();
            Ok(write_tx!(self.0, |tx| {
                let (cursor,): (i64,) = sqlx::query_as(NEXT_CURSOR)
                    .bind(client)
                    .fetch_one(&mut *tx)
                    .await?;
                // Counted under the client's cursor row, which this transaction holds until
                // it ends: concurrent replies cannot all pass the limit.
                let (replies,): (i64,) = sqlx::query_as(REPLY_COUNT)
                    .bind(message)
                    .fetch_one(&mut *tx)
                    .await?;
                if replies >= max_replies {
                    return Ok(None);
                }
                sqlx::query(INSERT_REPLY)
                    .bind(id)
                    .bind(message)
                    .bind(client)
                    .bind(cursor)
                    .bind(now)
                    .bind(key_id)
                    .bind(wrapped_key)
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                insert_attachments!(tx, message, Some(id), attachments);
                sqlx::query(REPLIED).bind(message).execute(&mut *tx).await?;
                append_event!(tx, message, EventKind::Replied, &detail, now);
                Some(cursor)
            })?)
        })
        .await
    }

    /// The replies to a client's messages after `cursor`, oldest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn replies_after(
        &self,
        client: &str,
        cursor: i64,
        limit: i64,
    ) -> StoreResult<Vec<ReplyRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(REPLIES_AFTER)
            .bind(client)
            .bind(cursor)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    /// The replies to one message, oldest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn replies_to(&self, message: Uuid) -> StoreResult<Vec<ReplyRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(REPLIES_TO)
            .bind(message)
            .fetch_all(p)
            .await)?)
    }

    /// One reply to a message.
    ///
    /// # Errors
    /// A backend error.
    pub async fn reply(&self, message: Uuid, id: Uuid) -> StoreResult<Option<ReplyRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(REPLY)
            .bind(message)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    /// How many replies a message has.
    ///
    /// # Errors
    /// A backend error.
    pub async fn reply_count(&self, message: Uuid) -> StoreResult<i64> {
        let (n,): (i64,) = on_db!(self.0, |p| sqlx::query_as(REPLY_COUNT)
            .bind(message)
            .fetch_one(p)
            .await)?;
        Ok(n)
    }

    /// Accounts with a message created at or before `before` whose recipient was not told
    /// yet (and not claimed since `lease_before`), the longest waiting first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn due_notifications(
        &self,
        before: DateTime<Utc>,
        lease_before: DateTime<Utc>,
    ) -> StoreResult<Vec<AccountId>> {
        let rows: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(DUE_NOTIFY)
            .bind(before)
            .bind(lease_before)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(|(a,)| AccountId(a)).collect())
    }

    /// Claims all of an account's messages whose recipient was not told yet (and that no other
    /// instance claimed since `lease_before`) for one notification mail; returns them with
    /// their senders' tenants (the mail names them).
    ///
    /// # Errors
    /// A backend error.
    pub async fn claim_notifications(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
        lease_before: DateTime<Utc>,
    ) -> StoreResult<Vec<(Uuid, TenantId)>> {
        // One statement, but a write: queued like the transactions.
        let _w = self.0.writer().await;
        let rows: Vec<(Uuid, Uuid)> = on_db!(self.0, |p| sqlx::query_as(CLAIM_NOTIFY)
            .bind(account.0)
            .bind(now)
            .bind(lease_before)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(|(m, t)| (m, TenantId(t))).collect())
    }

    /// How many messages provided at or before `before` still wait for their notification,
    /// and the oldest one's time.
    ///
    /// # Errors
    /// A backend error.
    pub async fn unnotified_since(
        &self,
        before: DateTime<Utc>,
    ) -> StoreResult<(usize, Option<DateTime<Utc>>)> {
        let (n, oldest): (i64, Option<DateTime<Utc>>) =
            on_db!(self.0, |p| sqlx::query_as(UNNOTIFIED)
                .bind(before)
                .fetch_one(p)
                .await)?;
        Ok((usize::try_from(n).unwrap_or(0), oldest))
    }

    /// Records that the recipient was told (true once): `notified_at` and the event.
    ///
    /// # Errors
    /// A backend error.
    pub async fn mark_notified(&self, id: Uuid) -> StoreResult<bool> {
        self.transition(id, NOTIFIED, &[], EventKind::Notified, "{}")
            .await
    }

    /// Marks messages whose expiry passed as expired (with an event); returns how many.
    ///
    /// # Errors
    /// A backend error.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let ids: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(DUE_EXPIRY)
            .bind(now)
            .fetch_all(p)
            .await)?;
        let mut n = 0;
        for (id,) in ids {
            n += usize::from(
                self.transition(id, EXPIRE, &[], EventKind::Expired, "{}")
                    .await?,
            );
        }
        Ok(n)
    }

    /// Removes the content of messages deleted or expired at or before `before`, and of
    /// messages to deleted accounts (subject, body, attachments, replies' bodies, wrapped
    /// keys); the evidence stays. Returns how many.
    ///
    /// # Errors
    /// A backend error.
    pub async fn purge_due(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let ids: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(DUE_PURGE)
            .bind(before)
            .fetch_all(p)
            .await)?;
        let mut n = 0;
        for (id,) in ids {
            let also = [PURGE_ATTACHMENTS, PURGE_REPLIES];
            n += usize::from(
                self.transition(id, PURGE, &also, EventKind::Purged, "{}")
                    .await?,
            );
        }
        Ok(n)
    }

    /// Removes the content of every message of an account that is being deleted; the
    /// evidence stays and says why. Returns how many.
    ///
    /// # Errors
    /// A backend error.
    pub async fn purge_account(&self, account: AccountId) -> StoreResult<usize> {
        let ids: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(ACCOUNT_UNPURGED)
            .bind(account.0)
            .fetch_all(p)
            .await)?;
        let mut n = 0;
        for (id,) in ids {
            let also = [PURGE_ATTACHMENTS, PURGE_REPLIES];
            n += usize::from(
                self.transition(
                    id,
                    PURGE,
                    &also,
                    EventKind::Purged,
                    r#"{"reason":"account_deleted"}"#,
                )
                .await?,
            );
        }
        Ok(n)
    }

    /// One state change of a message and its evidence event, in one transaction (queued on
    /// the SQLite writer, retried when a concurrent append took the sequence number). `sql`
    /// binds `$1` id and `$2` now; when it changes the row, the `also` statements (binding
    /// `$1` id) run and `kind` is appended. True when the row changed.
    async fn transition(
        &self,
        id: Uuid,
        sql: &'static str,
        also: &[&'static str],
        kind: EventKind,
        detail: &str,
    ) -> StoreResult<bool> {
        retry_conflicts(|| async {
            let now = Utc::now();
            Ok(write_tx!(self.0, |tx| {
                let n = sqlx::query(sql)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    for stmt in also {
                        sqlx::query(*stmt).bind(id).execute(&mut *tx).await?;
                    }
                    append_event!(tx, id, kind, detail, now);
                }
                n == 1
            })?)
        })
        .await
    }

    /// Up to 500 wrapped data keys not under the `current` master key.
    ///
    /// # Errors
    /// A backend error.
    pub async fn wrapped_keys(&self, which: Sealed, current: &str) -> StoreResult<Vec<WrappedKey>> {
        let sql = match which {
            Sealed::Message => WRAPPED_MESSAGES,
            Sealed::Reply => WRAPPED_REPLIES,
        };
        Ok(on_db!(self.0, |p| sqlx::query_as(sql)
            .bind(current)
            .fetch_all(p)
            .await)?)
    }

    /// Replaces a wrapped data key (only if it is still under `old`).
    ///
    /// # Errors
    /// A backend error.
    pub async fn rewrap(
        &self,
        which: Sealed,
        id: Uuid,
        old: &str,
        new: &str,
        wrapped: &[u8],
    ) -> StoreResult<bool> {
        let sql = match which {
            Sealed::Message => REWRAP_MESSAGE,
            Sealed::Reply => REWRAP_REPLY,
        };
        let n = on_db!(self.0, |p| sqlx::query(sql)
            .bind(id)
            .bind(old)
            .bind(new)
            .bind(wrapped)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Messages whose case reference is still plaintext (stored before references were
    /// sealed), a batch at a time; without bodies.
    ///
    /// # Errors
    /// A backend error.
    pub async fn unsealed_references(&self) -> StoreResult<Vec<MessageRow>> {
        let cols = MESSAGE_COLUMNS.replace(", body", ", NULL AS body");
        let sql =
            format!("SELECT {cols} FROM mailbox_messages WHERE reference IS NOT NULL LIMIT 500");
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .fetch_all(p)
        .await)?)
    }

    /// Replaces a plaintext case reference by its sealed form (`None`: drops it, for a
    /// message whose data key is gone with its content).
    ///
    /// # Errors
    /// A backend error.
    pub async fn seal_reference(&self, id: Uuid, sealed: Option<&[u8]>) -> StoreResult<()> {
        match sealed {
            Some(ct) => on_db!(self.0, |p| sqlx::query(SEAL_REFERENCE)
                .bind(id)
                .bind(ct)
                .execute(p)
                .await
                .map(|_| ()))?,
            None => on_db!(self.0, |p| sqlx::query(DROP_REFERENCE)
                .bind(id)
                .execute(p)
                .await
                .map(|_| ()))?,
        }
        Ok(())
    }
}
