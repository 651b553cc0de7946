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
//! Client addresses are counted per IPv4 address and per IPv6 /64 (one household or device
//! gets a whole /64, so a single address there limits nothing).

use super::{AccountError, AccountService};
use std::net::IpAddr;

/// One counter and its limit within the window.
pub(crate) struct Counter {
    pub key: String,
    pub limit: u64,
}

/// The counters of an address: IPv4 as it is, IPv6 by its /64 network.
#[must_use]
pub fn address_key(prefix: &str, ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("{prefix}:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{prefix}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Attempts reserved on some counters; dropped without [`Reservation::succeeded`], they stay
/// counted (a failure).
#[must_use = "a reservation is either kept (failure) or released on success"]
pub(crate) struct Reservation {
    keys: Vec<String>,
}

impl AccountService {
    /// Reserves one attempt on every counter, or refuses with `Throttled` (giving back what
    /// it took) when any of them is over its limit.
    ///
    /// # Errors
    /// `Throttled`, or a short-lived-store failure.
    pub(crate) async fn reserve(&self, counters: &[Counter]) -> Result<Reservation, AccountError> {
        let mut taken = Vec::with_capacity(counters.len());
        for c in counters {
            let n = self.eph.incr_window(&c.key, self.limits.window).await?;
            taken.push(c.key.clone());
            if n > c.limit {
                for k in &taken {
                    self.eph.release(k).await?;
                }
                return Err(AccountError::Throttled);
            }
        }
        Ok(Reservation { keys: taken })
    }

    /// The secret was right: the attempt does not count as a failure.
    ///
    /// # Errors
    /// A short-lived-store failure.
    pub(crate) async fn succeeded(&self, r: Reservation) -> Result<(), AccountError> {
        for k in &r.keys {
            self.eph.release(k).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_is_counted_per_64() {
        let a = address_key("x", "2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = address_key("x", "2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = address_key("x", "2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            address_key("x", "::ffff:192.0.2.7".parse().expect("ip")),
            "x:192.0.2.7"
        );
    }
}
