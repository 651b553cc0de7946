//! Short-lived state: authorization codes, login sessions, pending authorization requests,
//! one-time e-mail tokens, rate-limit counters.
//!
//! Two backends with one interface: [`memory::MemoryStore`] (in-process, the embedded
//! default) and [`redis::RedisStore`] (production, shared by every instance). Every value
//! has an expiry; single-use values are taken atomically ([`Ephemeral::take`] is `GETDEL` in
//! Redis and a remove under the lock in memory), so a code can be redeemed only once even
//! when two instances race. This is the one place where two implementations of one
//! interface are right: the backends really differ. Dispatch is an enum (no boxed futures).

pub mod keys;
pub mod memory;
pub mod redis;

pub use keys::{Key, PerAddress};

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("short-lived store unavailable")]
    Backend(#[source] crate::telemetry::Cause),
    /// The in-process store reached its size limit.
    #[error("short-lived store is full")]
    Full,
}

impl EphemeralError {
    /// Whether `e` (one link of a cause chain) says the short-lived store did not answer
    /// (answered 503 with `Retry-After`, not 500).
    #[must_use]
    pub fn is_unavailable(e: &(dyn std::error::Error + 'static)) -> bool {
        matches!(
            e.downcast_ref::<EphemeralError>(),
            Some(EphemeralError::Backend(_))
        ) || e
            .downcast_ref::<::redis::RedisError>()
            .is_some_and(redis::unreachable)
    }
}

pub type EphResult<T> = Result<T, EphemeralError>;

/// The short-lived store.
#[derive(Clone)]
pub enum Ephemeral {
    Memory(memory::MemoryStore),
    Redis(redis::RedisStore),
}

macro_rules! dispatch {
    ($self:expr, |$s:ident| $body:expr) => {
        match $self {
            Ephemeral::Memory($s) => $body,
            Ephemeral::Redis($s) => $body,
        }
    };
}

impl Ephemeral {
    /// Connects to Redis when a URL is given, else an in-process store of at most
    /// `memory_capacity` bytes (Redis has its own `maxmemory`), of which pending authorization
    /// requests (`authreq:`, which anybody can make us hold) may take at most half.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect(
        redis_url: Option<&str>,
        prefix: &str,
        memory_capacity: usize,
        timeout: Duration,
    ) -> EphResult<Self> {
        Ok(match redis_url {
            Some(url) => Ephemeral::Redis(redis::RedisStore::connect(url, prefix, timeout).await?),
            None => Ephemeral::Memory(memory::MemoryStore::with_budgets(
                memory_capacity,
                &[(keys::PENDING_PREFIX, memory_capacity / 2)],
            )),
        })
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn put(&self, key: &Key<'_>, value: &str, ttl: Duration) -> EphResult<()> {
        dispatch!(self, |s| s.put(&key.to_string(), value, ttl).await)
    }

    /// Replaces the value of `key` only if it still exists (never brings back a deleted or
    /// expired key). Returns whether it was replaced.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn replace(&self, key: &Key<'_>, value: &str, ttl: Duration) -> EphResult<bool> {
        dispatch!(self, |s| s.replace(&key.to_string(), value, ttl).await)
    }

    /// Stores `value` only if `key` is absent. Returns whether it was stored.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn put_if_absent(
        &self,
        key: &Key<'_>,
        value: &str,
        ttl: Duration,
    ) -> EphResult<bool> {
        dispatch!(self, |s| s
            .put_if_absent(&key.to_string(), value, ttl)
            .await)
    }

    /// # Errors
    /// When the backend fails.
    pub async fn get(&self, key: &Key<'_>) -> EphResult<Option<String>> {
        dispatch!(self, |s| s.get(&key.to_string()).await)
    }

    /// Removes and returns the value atomically: at most one caller ever gets it.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn take(&self, key: &Key<'_>) -> EphResult<Option<String>> {
        dispatch!(self, |s| s.take(&key.to_string()).await)
    }

    /// # Errors
    /// When the backend fails.
    pub async fn delete(&self, key: &Key<'_>) -> EphResult<()> {
        dispatch!(self, |s| s.delete(&key.to_string()).await)
    }

    /// Increments a counter that expires `window` after its first increment; returns the new count.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn incr_window(&self, key: &Key<'_>, window: Duration) -> EphResult<u64> {
        dispatch!(self, |s| s.incr_window(&key.to_string(), window).await)
    }

    /// Gives back one count of a windowed counter (never below zero, never bringing back an
    /// expired counter, leaving its expiry as it is): how an attempt reserved with
    /// [`Ephemeral::incr_window`] is released when it turned out not to count.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn release(&self, key: &Key<'_>) -> EphResult<()> {
        dispatch!(self, |s| s.release(&key.to_string()).await)
    }

    /// Reads a counter without changing it (0 when absent).
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn count(&self, key: &Key<'_>) -> EphResult<u64> {
        Ok(self
            .get(key)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Adds `member` to the set at `key`; the set lives at least `ttl` from now.
    ///
    /// # Errors
    /// When the backend fails.
    pub async fn set_add(&self, key: &Key<'_>, member: &str, ttl: Duration) -> EphResult<()> {
        dispatch!(self, |s| s.set_add(&key.to_string(), member, ttl).await)
    }

    /// # Errors
    /// When the backend fails.
    pub async fn set_remove(&self, key: &Key<'_>, member: &str) -> EphResult<()> {
        dispatch!(self, |s| s.set_remove(&key.to_string(), member).await)
    }

    /// # Errors
    /// When the backend fails.
    pub async fn set_members(&self, key: &Key<'_>) -> EphResult<Vec<String>> {
        dispatch!(self, |s| s.set_members(&key.to_string()).await)
    }

    /// # Errors
    /// When the backend fails.
    pub async fn ping(&self) -> EphResult<()> {
        dispatch!(self, |s| s.ping().await)
    }

    /// Which backend this is (`redis`, `memory`), for metrics.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Ephemeral::Memory(_) => "memory",
            Ephemeral::Redis(_) => "redis",
        }
    }
}
