//! Signed callbacks to authority systems, in FIT-Connect's scheme: a JSON body
//! (`type` URI, `event_id` to de-duplicate by, the ids to fetch) posted to the system's https
//! URL with `callback-timestamp` (Unix seconds) and `callback-authentication`, the hex
//! HMAC-SHA512 of `"{timestamp}.{body}"` under the system's secret.
//!
//! Deliveries come from a durable outbox (`store::callbacks`), written in the transaction of
//! the evidence event they announce: at least once, in order per message, retried with a
//! doubling backoff (up to an hour) until `give_up_after` has passed since they were queued,
//! then given up (`dead`), listed for the system and the console, and re-queued by hand.
//! Each instance's [`Deliverer`] takes due deliveries under a lease, so several instances
//! never send one at the same time, and one that is killed lets go when the lease ends.
//! Receivers that hang, refuse or redirect cost one of a few slots per system for at most
//! `timeout`.

use super::MailboxError;
use crate::clock::Clock;
use crate::crypto::aead;
use crate::keyring::mailbox::MasterKeys;
use crate::store::callbacks::{Backlog, CallbackRow, TargetRow};
use crate::store::{Db, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How callbacks are delivered.
#[derive(Clone, Debug)]
pub struct Settings {
    /// One attempt may take this long (connect, send, the receiver's answer).
    pub timeout: Duration,
    /// The first retry comes this long after a failure; each further one waits twice as
    /// long, at most an hour.
    pub retry_base: Duration,
    /// Retries stop this long after the delivery was queued (or re-queued by hand).
    pub give_up_after: Duration,
    /// Also accept `http://` URLs (a receiver on the same host; tests). Default: https only.
    pub allow_http: bool,
    /// How often each instance looks for due deliveries.
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(10),
            give_up_after: Duration::from_secs(24 * 3600),
            allow_http: false,
            poll: Duration::from_millis(500),
        }
    }
}

/// Deliveries in flight per instance, and per receiving system (a hanging receiver holds
/// no more than this many).
const MAX_IN_FLIGHT: usize = 32;
const PER_CLIENT: usize = 4;

/// Why a callback setting was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadCallback {
    #[error(
        "the callback URL must be an absolute https URL of at most 500 characters, without user name or fragment"
    )]
    Url,
    #[error("the callback secret must be 32 to 256 visible ASCII characters")]
    Secret,
    #[error("give a secret with the first callback URL (or leave it out to have one generated)")]
    NoTarget,
}

/// Checks a callback URL: https (or http where allowed), a host, no credentials, no fragment.
///
/// # Errors
/// [`BadCallback::Url`].
pub fn check_url(raw: &str, allow_http: bool) -> Result<String, BadCallback> {
    let url = url::Url::parse(raw.trim()).map_err(|_| BadCallback::Url)?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
        || raw.len() > 500
    {
        return Err(BadCallback::Url);
    }
    Ok(url.to_string())
}

/// Checks a secret chosen by the system: 32 to 256 visible ASCII characters.
///
/// # Errors
/// [`BadCallback::Secret`].
pub fn check_secret(s: &str) -> Result<(), BadCallback> {
    if (32..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(BadCallback::Secret)
    }
}

fn secret_aad(client: &str) -> Vec<u8> {
    format!("callback|{client}").into_bytes()
}

/// A target with its secret sealed under a fresh data key, which the master key wraps
/// (bound to the client, so a row copied to another client does not open).
#[must_use]
pub fn seal_target(keys: &MasterKeys, client: &str, url: String, secret: &str) -> TargetRow {
    let data_key: aead::Key = crate::crypto::random_bytes::<32>();
    let (key_id, wrapped_key) = keys.wrap(&data_key, &secret_aad(client));
    TargetRow {
        client_id: client.to_owned(),
        url,
        key_id,
        wrapped_key,
        secret: aead::seal(&data_key, &secret_aad(client), secret.as_bytes()),
        updated_at: Utc::now(),
    }
}

fn open_secret(keys: &MasterKeys, t: &TargetRow) -> Option<Vec<u8>> {
    let aad = secret_aad(&t.client_id);
    let key = keys.unwrap(&t.key_id, &t.wrapped_key, &aad)?;
    aead::open(&key, &aad, &t.secret)
}

/// `callback-authentication`: hex HMAC-SHA512 of `"{timestamp}.{body}"`.
#[must_use]
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, secret);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&k);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    crate::crypto::hex(ctx.sign().as_ref())
}

/// A system's callback setting as it may see it (never the secret), with its backlog.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub url: String,
    pub updated_at: DateTime<Utc>,
    /// Deliveries waiting (including those being retried).
    pub pending: i64,
    /// Deliveries given up after the retry period; re-deliverable by hand.
    pub dead: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// One delivery, for the system and the console.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The event id (`event_id` in the body).
    pub id: Uuid,
    pub message_id: Uuid,
    pub seq: i32,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body as delivered.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl From<CallbackRow> for Delivery {
    fn from(r: CallbackRow) -> Self {
        let pending = r.state == "pending";
        Self {
            id: r.id,
            message_id: r.message_id,
            seq: r.seq,
            kind: r.kind,
            state: r.state,
            created_at: r.created_at,
            attempts: r.attempts,
            next_attempt_at: pending.then_some(r.next_attempt_at),
            last_error: r.last_error,
            delivered_at: r.delivered_at,
            body: serde_json::from_str(&r.body).unwrap_or_default(),
        }
    }
}

/// The states a listing may ask for.
pub const STATES: [&str; 3] = ["pending", "delivered", "dead"];

/// A system's target and backlog; `None` without a target.
///
/// # Errors
/// Storage failures.
pub async fn target(db: &Db, client: &str) -> Result<Option<Target>, StoreError> {
    let Some(t) = db.callbacks().target(client).await? else {
        return Ok(None);
    };
    let Backlog {
        pending,
        dead,
        oldest_pending,
    } = db.callbacks().backlog(client).await?;
    Ok(Some(Target {
        url: t.url,
        updated_at: t.updated_at,
        pending,
        dead,
        oldest_pending_at: oldest_pending,
    }))
}

/// A system's deliveries in `state` (one of [`STATES`]), newest first.
///
/// # Errors
/// Storage failures.
pub async fn deliveries(
    db: &Db,
    client: &str,
    state: &str,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let rows = db
        .callbacks()
        .list(client, state, i64::from(limit.clamp(1, 500)))
        .await?;
    Ok(rows.into_iter().map(Delivery::from).collect())
}

/// What a redelivery by hand did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redelivery {
    /// Back in line, with a new retry period.
    Queued,
    /// The delivery is pending or delivered: only given-up ones are re-queued.
    NotGivenUp,
    /// The system has no delivery with this id.
    Unknown,
}

/// Puts a given-up delivery of the system back in line (one statement: of forty calls at
/// once, one re-queues it).
///
/// # Errors
/// Storage failures.
pub async fn redeliver(
    db: &Db,
    client: &str,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Redelivery, StoreError> {
    if db.callbacks().redeliver(client, id, now).await? {
        return Ok(Redelivery::Queued);
    }
    Ok(match db.callbacks().state(client, id).await? {
        Some(_) => Redelivery::NotGivenUp,
        None => Redelivery::Unknown,
    })
}

impl super::MailboxService {
    /// Starts this instance's callback deliveries.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn spawn_callbacks(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        Ok(Deliverer::new(
            self.db.clone(),
            Arc::clone(&self.keys),
            self.settings.callbacks.clone(),
            self.clock.clone(),
        )?
        .spawn())
    }

    /// The calling system's callback setting and backlog; `None` without one.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn callback_target(&self, client: &str) -> Result<Option<Target>, MailboxError> {
        Ok(target(&self.db, client).await?)
    }

    /// The calling system's deliveries in `state`, newest first.
    ///
    /// # Errors
    /// `Invalid` for an unknown state; storage failures.
    pub async fn callback_deliveries(
        &self,
        client: &str,
        state: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, MailboxError> {
        if !STATES.contains(&state) {
            return Err(MailboxError::Invalid(
                "state is pending, delivered or dead".into(),
            ));
        }
        Ok(deliveries(&self.db, client, state, limit).await?)
    }

    /// Re-queues one of the calling system's given-up deliveries.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn redeliver_callback(
        &self,
        client: &str,
        id: Uuid,
    ) -> Result<Redelivery, MailboxError> {
        Ok(redeliver(&self.db, client, id, self.clock.now()).await?)
    }
}

/// Each instance's delivery loop.
pub struct Deliverer {
    db: Db,
    keys: Arc<MasterKeys>,
    http: reqwest::Client,
    settings: Settings,
    clock: Clock,
}

impl Deliverer {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(
        db: Db,
        keys: Arc<MasterKeys>,
        settings: Settings,
        clock: Clock,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("buergerkonto-callbacks")
            .build()?;
        Ok(Self {
            db,
            keys,
            http,
            settings,
            clock,
        })
    }

    /// Runs until the process ends (or the handle is aborted, which drops the attempts in
    /// flight; their leases run out and another round sends them again).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(Arc::new(self).run())
    }

    async fn run(self: Arc<Self>) {
        let mut set = tokio::task::JoinSet::new();
        let mut owners: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut per_client: HashMap<String, usize> = HashMap::new();
        // While the database fails, look less often (up to every 30 s) and say so once.
        let mut failures = 0u32;
        loop {
            if set.len() < MAX_IN_FLIGHT {
                match self.take_due(&mut set, &mut owners, &mut per_client).await {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        if failures == 0 {
                            tracing::warn!(error = %e, "could not look for due callbacks; backing off");
                        }
                        failures = failures.saturating_add(1);
                    }
                }
            }
            let wait = self
                .settings
                .poll
                .saturating_mul(1 << failures.min(6))
                .min(Duration::from_secs(30));
            let done = tokio::select! {
                () = tokio::time::sleep(wait) => None,
                Some(r) = set.join_next_with_id(), if !set.is_empty() => Some(r),
            };
            let mut finished: Vec<tokio::task::Id> = Vec::new();
            if let Some(r) = done {
                finished.push(r.map_or_else(|e| e.id(), |(id, ())| id));
            }
            while let Some(r) = set.try_join_next_with_id() {
                finished.push(r.map_or_else(|e| e.id(), |(id, ())| id));
            }
            for id in finished {
                if let Some(client) = owners.remove(&id)
                    && let Some(n) = per_client.get_mut(&client)
                {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        per_client.remove(&client);
                    }
                }
            }
        }
    }

    async fn take_due(
        self: &Arc<Self>,
        set: &mut tokio::task::JoinSet<()>,
        owners: &mut HashMap<tokio::task::Id, String>,
        per_client: &mut HashMap<String, usize>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let candidates = self
            .db
            .callbacks()
            .candidates(now, 200, PER_CLIENT as i64)
            .await?;
        let lease = now
            + chrono::Duration::from_std(self.settings.timeout + Duration::from_secs(30))
                .unwrap_or_default();
        for (id, client) in candidates {
            if set.len() >= MAX_IN_FLIGHT {
                break;
            }
            if per_client.get(&client).copied().unwrap_or(0) >= PER_CLIENT {
                continue;
            }
            match self.db.callbacks().claim(id, now, lease).await {
                Ok(Some(row)) => {
                    *per_client.entry(client.clone()).or_default() += 1;
                    let this = Arc::clone(self);
                    let handle = set.spawn(async move { this.deliver(row).await });
                    owners.insert(handle.id(), client);
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn deliver(&self, row: CallbackRow) {
        let outcome = self.attempt(&row).await;
        let now = self.clock.now();
        let saved = match outcome {
            Ok(()) => {
                self.db
                    .callbacks()
                    .delivered(row.id, row.attempts, now)
                    .await
            }
            Err(why) => {
                let give_up =
                    chrono::Duration::from_std(self.settings.give_up_after).unwrap_or_default();
                let dead = now >= row.retry_from + give_up;
                let next = now + backoff(self.settings.retry_base, row.attempts);
                if dead {
                    tracing::warn!(event = %row.id, client = %row.client_id, attempts = row.attempts,
                        error = %why, "callback given up after its retry period");
                } else {
                    tracing::info!(event = %row.id, client = %row.client_id, attempts = row.attempts,
                        error = %why, "callback failed; retrying");
                }
                self.db
                    .callbacks()
                    .failed(row.id, row.attempts, next, &why, dead)
                    .await
            }
        };
        if let Err(e) = saved {
            // The lease runs out and the delivery is tried again: at least once.
            tracing::warn!(error = %e, event = %row.id, "could not record a callback's outcome");
        }
    }

    /// One POST; `Err` says why it did not count as delivered.
    async fn attempt(&self, row: &CallbackRow) -> Result<(), String> {
        let target = self
            .db
            .callbacks()
            .target(&row.client_id)
            .await
            .map_err(|_| "storage failure".to_owned())?
            .ok_or_else(|| "no callback URL is registered".to_owned())?;
        let secret = open_secret(&self.keys, &target)
            .ok_or_else(|| "the callback secret cannot be unsealed".to_owned())?;
        let ts = self.clock.now().timestamp();
        let sent = self
            .http
            .post(&target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("callback-timestamp", ts.to_string())
            .header("callback-authentication", signature(&secret, ts, &row.body))
            .body(row.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_redirection() => Err(format!(
                "HTTP {}: redirects are not followed",
                r.status().as_u16()
            )),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!(
                "no answer within {} s",
                self.settings.timeout.as_secs_f32()
            )),
            Err(e) if e.is_connect() => Err("connection refused or unreachable".to_owned()),
            Err(e) => Err(e.without_url().to_string()),
        }
    }
}

/// The wait after the `attempt`-th failure: `base`, doubling, at most an hour.
fn backoff(base: Duration, attempt: i32) -> chrono::Duration {
    let exp = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let wait = base.saturating_mul(1 << exp).min(Duration::from_secs(3600));
    chrono::Duration::from_std(wait).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha512_of_timestamp_dot_body() {
        // RFC 4231 test case 2 key and data, with our framing checked against a plain HMAC.
        let sig = signature(b"Jefe", 1, "x");
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, b"Jefe");
        let want = crate::crypto::hex(aws_lc_rs::hmac::sign(&k, b"1.x").as_ref());
        assert_eq!(sig, want);
        assert_eq!(sig.len(), 128);
        // RFC 4231 4.3: HMAC-SHA-512("Jefe", "what do ya want for nothing?").
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, b"Jefe");
        assert!(
            crate::crypto::hex(aws_lc_rs::hmac::sign(&k, b"what do ya want for nothing?").as_ref())
                .starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554")
        );
    }

    #[test]
    fn urls_and_secrets() {
        assert!(check_url("https://fv.example/cb", false).is_ok());
        assert_eq!(
            check_url("http://fv.example/cb", false),
            Err(BadCallback::Url)
        );
        assert!(check_url("http://127.0.0.1:9/cb", true).is_ok());
        assert_eq!(
            check_url("https://u:p@fv.example/cb", false),
            Err(BadCallback::Url)
        );
        assert_eq!(
            check_url("https://fv.example/cb#x", false),
            Err(BadCallback::Url)
        );
        assert_eq!(check_url("ftp://fv.example/", true), Err(BadCallback::Url));
        assert_eq!(check_url("/relative", false), Err(BadCallback::Url));
        assert!(check_secret(&"a".repeat(32)).is_ok());
        assert_eq!(check_secret(&"a".repeat(31)), Err(BadCallback::Secret));
        assert_eq!(
            check_secret(&format!("{} ", "a".repeat(40))),
            Err(BadCallback::Secret)
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let b = Duration::from_secs(10);
        assert_eq!(backoff(b, 1).num_seconds(), 10);
        assert_eq!(backoff(b, 2).num_seconds(), 20);
        assert_eq!(backoff(b, 4).num_seconds(), 80);
        assert_eq!(backoff(b, 40).num_seconds(), 3600);
    }
}
