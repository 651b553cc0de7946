//! The callback tables: each authority system's target (URL and sealed secret) and the
//! durable outbox of deliveries. Rows are added by the mailbox's evidence appends (same
//! transaction, see `store::mailbox`); this module takes them for delivery under a lease,
//! records outcomes, and lists and re-queues them for their client.

use super::{Db, StoreResult, on_db};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Callbacks<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn callbacks(&self) -> Callbacks<'_> {
        Callbacks(self)
    }
}

/// Where a client's callbacks go; the secret sealed (see `mailbox::callback`).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TargetRow {
    pub client_id: String,
    pub url: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub secret: Vec<u8>,
    pub updated_at: DateTime<Utc>,
}

/// One delivery as the outbox holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CallbackRow {
    pub id: Uuid,
    pub client_id: String,
    pub message_id: Uuid,
    pub seq: i32,
    pub kind: String,
    pub body: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub retry_from: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A client's backlog in numbers.
#[derive(Clone, Debug, Default)]
pub struct Backlog {
    pub pending: i64,
    pub dead: i64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

const UPSERT_TARGET: &str = "INSERT INTO mailbox_callback_targets (client_id, url, key_id, wrapped_key, secret, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO UPDATE SET url = excluded.url, key_id = excluded.key_id, \
    wrapped_key = excluded.wrapped_key, secret = excluded.secret, updated_at = excluded.updated_at";
const SET_URL: &str =
    "UPDATE mailbox_callback_targets SET url = $2, updated_at = $3 WHERE client_id = $1";
const DELETE_TARGET: &str = "DELETE FROM mailbox_callback_targets WHERE client_id = $1";
const TARGET: &str = "SELECT client_id, url, key_id, wrapped_key, secret, updated_at FROM mailbox_callback_targets \
    WHERE client_id = $1";
// The first pending delivery of each message (a later one waits until the earlier one is
// delivered or given up), due and not held by a live lease, oldest due first, and at most
// `$3` per system: a system with a huge backlog and a hanging receiver cannot fill the list
// and hold back every other system's deliveries.
const CANDIDATES: &str = "SELECT c.id, c.client_id FROM (SELECT o.id, o.client_id, o.next_attempt_at, \
    ROW_NUMBER() OVER (PARTITION BY o.client_id ORDER BY o.next_attempt_at) AS n \
    FROM mailbox_callbacks o WHERE o.state = 'pending' \
    AND o.next_attempt_at <= $1 AND (o.lease_until IS NULL OR o.lease_until <= $1) \
    AND NOT EXISTS (SELECT 1 FROM mailbox_callbacks e WHERE e.message_id = o.message_id \
    AND e.state = 'pending' AND e.seq < o.seq)) c WHERE c.n <= $3 ORDER BY c.next_attempt_at LIMIT $2";
// Taking one is a single conditional update: of two instances that picked the same row,
// the second finds the lease taken (PostgreSQL re-checks the condition on the locked row).
const CLAIM: &str = "UPDATE mailbox_callbacks SET lease_until = $3, attempts = attempts + 1 \
    WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)";
const ROW: &str = "SELECT id, client_id, message_id, seq, kind, body, state, created_at, retry_from, \
    next_attempt_at, attempts, last_error, delivered_at FROM mailbox_callbacks WHERE id = $1";
// Outcomes apply only to the attempt that holds the lease (`attempts` is its fencing number).
const DELIVERED: &str = "UPDATE mailbox_callbacks SET state = 'delivered', delivered_at = $3, lease_until = NULL, \
    last_error = NULL WHERE id = $1 AND attempts = $2 AND state = 'pending'";
const FAILED: &str = "UPDATE mailbox_callbacks SET lease_until = NULL, next_attempt_at = $3, last_error = $4, \
    state = $5 WHERE id = $1 AND attempts = $2 AND state = 'pending'";
const LIST: &str = "SELECT id, client_id, message_id, seq, kind, body, state, created_at, retry_from, \
    next_attempt_at, attempts, last_error, delivered_at FROM mailbox_callbacks WHERE client_id = $1 AND state = $2 \
    ORDER BY created_at DESC, id DESC LIMIT $3";
const REDELIVER: &str = "UPDATE mailbox_callbacks SET state = 'pending', retry_from = $3, next_attempt_at = $3, \
    lease_until = NULL WHERE id = $1 AND client_id = $2 AND state = 'dead'";
const STATE: &str = "SELECT state FROM mailbox_callbacks WHERE id = $1 AND client_id = $2";
const BACKLOG: &str = "SELECT state, COUNT(*), MIN(created_at) FROM mailbox_callbacks WHERE client_id = $1 \
    AND state IN ('pending', 'dead') GROUP BY state";
const BACKLOG_ALL: &str = "SELECT state, COUNT(*), MIN(created_at) FROM mailbox_callbacks \
    WHERE state IN ('pending', 'dead') GROUP BY state";

impl Callbacks<'_> {
    /// Sets (or replaces) a client's target with a freshly sealed secret.
    ///
    /// # Errors
    /// A backend error; `Conflict` for an unknown client.
    pub async fn set_target(&self, t: &TargetRow) -> StoreResult<()> {
        let _w = self.0.writer().await;
        on_db!(self.0, |p| sqlx::query(UPSERT_TARGET)
            .bind(&t.client_id)
            .bind(&t.url)
            .bind(&t.key_id)
            .bind(&t.wrapped_key)
            .bind(&t.secret)
            .bind(t.updated_at)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Changes only the URL (the secret stays). False when the client has no target.
    ///
    /// # Errors
    /// A backend error.
    pub async fn set_url(&self, client: &str, url: &str) -> StoreResult<bool> {
        let _w = self.0.writer().await;
        let n = on_db!(self.0, |p| sqlx::query(SET_URL)
            .bind(client)
            .bind(url)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Removes a client's target (its outbox rows stay; they fail until one is set again).
    ///
    /// # Errors
    /// A backend error.
    pub async fn clear_target(&self, client: &str) -> StoreResult<bool> {
        let _w = self.0.writer().await;
        let n = on_db!(self.0, |p| sqlx::query(DELETE_TARGET)
            .bind(client)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// A client's target.
    ///
    /// # Errors
    /// A backend error.
    pub async fn target(&self, client: &str) -> StoreResult<Option<TargetRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(TARGET)
            .bind(client)
            .fetch_optional(p)
            .await)?)
    }

    /// Up to `limit` deliveries that may be attempted now, with their clients.
    ///
    /// # Errors
    /// A backend error.
    pub async fn candidates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        per_client: i64,
    ) -> StoreResult<Vec<(Uuid, String)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(CANDIDATES)
            .bind(now)
            .bind(limit)
            .bind(per_client)
            .fetch_all(p)
            .await)?)
    }

    /// Takes one delivery until `lease_until`; `None` when another instance has it (or it
    /// is no longer due). The row's `attempts` afterwards fences its outcome.
    ///
    /// # Errors
    /// A backend error.
    pub async fn claim(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<CallbackRow>> {
        let taken = {
            let _w = self.0.writer().await;
            on_db!(self.0, |p| sqlx::query(CLAIM)
                .bind(id)
                .bind(now)
                .bind(lease_until)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?
        };
        if taken != 1 {
            return Ok(None);
        }
        Ok(on_db!(self.0, |p| sqlx::query_as(ROW)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    /// Records a delivery the receiver acknowledged.
    ///
    /// # Errors
    /// A backend error.
    pub async fn delivered(&self, id: Uuid, attempt: i32, now: DateTime<Utc>) -> StoreResult<()> {
        let _w = self.0.writer().await;
        on_db!(self.0, |p| sqlx::query(DELIVERED)
            .bind(id)
            .bind(attempt)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `next`, or given up (`dead`).
    ///
    /// # Errors
    /// A backend error.
    pub async fn failed(
        &self,
        id: Uuid,
        attempt: i32,
        next: DateTime<Utc>,
        error: &str,
        dead: bool,
    ) -> StoreResult<()> {
        let _w = self.0.writer().await;
        on_db!(self.0, |p| sqlx::query(FAILED)
            .bind(id)
            .bind(attempt)
            .bind(next)
            .bind(error)
            .bind(if dead { "dead" } else { "pending" })
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// A client's deliveries in one state, newest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn list(
        &self,
        client: &str,
        state: &str,
        limit: i64,
    ) -> StoreResult<Vec<CallbackRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(LIST)
            .bind(client)
            .bind(state)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    /// Puts a given-up delivery of the client back in line, with a new retry period.
    /// False when there is none with this id in `dead`.
    ///
    /// # Errors
    /// A backend error.
    pub async fn redeliver(&self, client: &str, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let _w = self.0.writer().await;
        let n = on_db!(self.0, |p| sqlx::query(REDELIVER)
            .bind(id)
            .bind(client)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// The state of one of the client's deliveries.
    ///
    /// # Errors
    /// A backend error.
    pub async fn state(&self, client: &str, id: Uuid) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = on_db!(self.0, |p| sqlx::query_as(STATE)
            .bind(id)
            .bind(client)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|(s,)| s))
    }

    /// How many deliveries of the client wait or were given up, and the oldest waiting.
    ///
    /// # Errors
    /// A backend error.
    pub async fn backlog(&self, client: &str) -> StoreResult<Backlog> {
        let rows = on_db!(self.0, |p| sqlx::query_as(BACKLOG)
            .bind(client)
            .fetch_all(p)
            .await)?;
        Ok(Backlog::of(rows))
    }

    /// The same over every system (the operator's metrics).
    ///
    /// # Errors
    /// A backend error.
    pub async fn backlog_all(&self) -> StoreResult<Backlog> {
        let rows = on_db!(self.0, |p| sqlx::query_as(BACKLOG_ALL).fetch_all(p).await)?;
        Ok(Backlog::of(rows))
    }
}

impl Backlog {
    fn of(rows: Vec<(String, i64, Option<DateTime<Utc>>)>) -> Self {
        let mut b = Backlog::default();
        for (state, n, oldest) in rows {
            if state == "pending" {
                b.pending = n;
                b.oldest_pending = oldest;
            } else {
                b.dead = n;
            }
        }
        b
    }
}

/// The outbox insert of `append_event!`: a delivery for the message's sender when it has a
/// target; nothing otherwise.
pub(super) const ENQUEUE: &str = "INSERT INTO mailbox_callbacks (id, client_id, message_id, seq, kind, body, state, \
    created_at, retry_from, next_attempt_at) SELECT $1, t.client_id, m.id, $3, $4, $5, 'pending', $6, $6, $6 \
    FROM mailbox_messages m JOIN mailbox_callback_targets t ON t.client_id = m.sender_client_id WHERE m.id = $2";
