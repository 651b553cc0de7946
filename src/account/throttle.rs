//! Attempt limits for everything that checks a secret (password, e-mail confirmation, second
//! factor): an attempt is *reserved* before the secret is checked, not counted after.
//!
//! Checking first and counting afterwards lets 40 parallel guesses all pass a limit of 10,
//! because each reads the counter before any of them has counted. Here every attempt first
//! increments each of its counters atomically (`INCR` in Redis, under the lock in memory);
//! when any counter is then above its limit the attempt is refused and gives its increments
//! back. A checked attempt keeps its increments while the secret is verified: a wrong secret
//! leaves them counted, a right one releases them ([`Reservation::succeeded`]). So at most
//! `limit` attempts per counter are ever checked in a window, however many arrive at once.
//!
//! Client addresses are counted per IPv4 address and per IPv6 /64
//! ([`crate::domain::net::address_key`]).

use super::{AccountError, AccountService};
use crate::ephemeral::Key;

/// One counter and its limit within the window.
pub(crate) struct Counter<'a> {
    pub key: Key<'a>,
    pub limit: u64,
}

/// Attempts reserved on some counters; dropped without [`Reservation::succeeded`], they stay
/// counted (a failure).
#[must_use = "a reservation is either kept (failure) or released on success"]
pub(crate) struct Reservation<'a> {
    keys: Vec<Key<'a>>,
}

impl AccountService {
    /// Reserves one attempt on every counter, or refuses with `Throttled` (giving back what
    /// it took) when any of them is over its limit.
    ///
    /// # Errors
    /// `Throttled`, or a short-lived-store failure.
    pub(crate) async fn reserve<'a>(
        &self,
        counters: &[Counter<'a>],
    ) -> Result<Reservation<'a>, AccountError> {
        let mut taken = Vec::with_capacity(counters.len());
        for c in counters {
            let over = match self.eph.incr_window(&c.key, self.limits.window).await {
                Ok(n) => {
                    taken.push(c.key);
                    n > c.limit
                }
                Err(e) => {
                    // A store failure must not leave innocent attempts counted.
                    self.give_back(&taken).await;
                    return Err(e.into());
                }
            };
            if over {
                self.give_back(&taken).await;
                return Err(AccountError::Throttled);
            }
        }
        Ok(Reservation { keys: taken })
    }

    /// Releases counts, as far as the store lets us (a failure is logged: it only means an
    /// attempt stays counted until the window ends).
    async fn give_back(&self, keys: &[Key<'_>]) {
        for k in keys {
            if let Err(e) = self.eph.release(k).await {
                tracing::warn!(error = %e, "could not release an attempt count");
            }
        }
    }

    /// The secret was right: the attempt does not count as a failure.
    ///
    /// # Errors
    /// A short-lived-store failure.
    pub(crate) async fn succeeded(&self, r: Reservation<'_>) -> Result<(), AccountError> {
        self.give_back(&r.keys).await;
        Ok(())
    }
}
