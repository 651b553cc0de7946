//! Time, injected where expiry is decided in the database: refresh tokens (idle and
//! absolute expiry, rotation, purging), durable grant revocations, and the mailbox (a
//! message's expiry date, purging after the retention, notification delay, a portal token's
//! freshness), and an account's dates (last login, the day of its deletion, the inactivity
//! rule). Tests move a manual clock instead of sleeping. [`spawn_every`] is the ticker of the
//! background rounds. On the system time stay: signed
//! tokens (their library checks `exp` against it), login sessions and authorization requests
//! (their `auth_time` and `max_age` decisions compare with each other), and the short-lived
//! store's TTLs (Redis keeps its own time).

use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The system clock, or a manual one (Unix milliseconds) that only moves when told to.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system's time.
    #[must_use]
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stands at `start` until [`Clock::advance`] moves it.
    #[must_use]
    pub fn manual(start: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(AtomicI64::new(start.timestamp_millis()))))
    }

    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(ms) => {
                DateTime::from_timestamp_millis(ms.load(Ordering::SeqCst)).unwrap_or_default()
            }
        }
    }

    /// Moves a manual clock forward; returns `false` (and changes nothing) for the system
    /// clock.
    pub fn advance(&self, by: std::time::Duration) -> bool {
        match &self.0 {
            None => false,
            Some(ms) => {
                let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
                ms.fetch_add(by, Ordering::SeqCst);
                true
            }
        }
    }
}

/// Runs `round` every `tick` until the process ends; a tick missed while a round ran late is
/// not caught up. Every background worker (provider, mailbox, erasure) runs this way.
pub fn spawn_every<F, Fut>(tick: std::time::Duration, mut round: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            round().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc::now() - chrono::Duration::days(1);
        let c = Clock::manual(start);
        let copy = c.clone();
        assert_eq!(c.now().timestamp_millis(), start.timestamp_millis());
        assert!(copy.advance(std::time::Duration::from_secs(90)));
        assert_eq!(
            c.now().timestamp_millis() - start.timestamp_millis(),
            90_000
        );
        assert!(!Clock::system().advance(std::time::Duration::from_secs(1)));
    }
}
