//! Time, injected where expiry is decided in the database: refresh tokens (idle and
//! absolute expiry, rotation, purging), durable grant revocations, and the mailbox (a
//! message's expiry date, purging after the retention, notification delay, a portal token's
//! freshness). Tests move a manual clock instead of sleeping. On the system time stay: signed
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
