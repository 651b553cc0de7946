//! In-process short-lived store (mini-redis style): a map under one mutex, expiry checked on
//! every read and swept in the background. Uses `tokio::time::Instant`, so tests can pause
//! and advance time.
//!
//! The store has a size limit (keys and values, in bytes, plus a fixed cost per entry), like
//! Redis's `maxmemory` with `noeviction`: a write that would pass it first sweeps expired
//! entries, and if that is not enough it is refused with [`EphemeralError::Full`]. Requests
//! from the network can then fail, but they can never exhaust the process's memory.

use super::{EphResult, EphemeralError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// What an entry costs besides its key and value (map slot, allocations, expiry).
const ENTRY_OVERHEAD: usize = 64;

/// A share of the store for keys with one prefix: what anybody can make us hold (pending
/// authorization requests) cannot crowd out what logged-in citizens need (sessions).
#[derive(Clone, Debug)]
struct Budget {
    prefix: &'static str,
    limit: usize,
    used: usize,
}

#[derive(Default)]
struct State {
    map: HashMap<String, (String, Instant)>,
    /// Bytes accounted for all entries.
    bytes: usize,
    /// The limit for `bytes`.
    capacity: usize,
    budgets: Vec<Budget>,
    /// When a full store last swept: at most one sweep a second, so that writes to a full
    /// store do not each walk the whole map.
    last_sweep: Option<Instant>,
}

fn cost(key: &str, value: &str) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl State {
    fn budget_of(&self, key: &str) -> Option<usize> {
        self.budgets.iter().position(|b| key.starts_with(b.prefix))
    }

    fn account(&mut self, key: &str, added: usize, removed: usize) {
        self.bytes = self.bytes.saturating_add(added).saturating_sub(removed);
        if let Some(i) = self.budget_of(key) {
            let b = &mut self.budgets[i];
            b.used = b.used.saturating_add(added).saturating_sub(removed);
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<(String, usize)> = self
            .map
            .iter()
            .filter(|(_, (_, exp))| *exp <= now)
            .map(|(k, (v, _))| (k.clone(), cost(k, v)))
            .collect();
        for (k, c) in expired {
            self.map.remove(&k);
            self.account(&k, 0, c);
        }
    }

    fn fits(&self, key: &str, added: usize) -> bool {
        self.bytes.saturating_add(added) <= self.capacity
            && self
                .budget_of(key)
                .is_none_or(|i| self.budgets[i].used.saturating_add(added) <= self.budgets[i].limit)
    }

    /// Stores `value` under `key` (replacing), within the capacity and the key's budget. A
    /// full store first sweeps expired entries (at most once a second), then refuses.
    fn set(&mut self, key: &str, value: String, exp: Instant, now: Instant) -> EphResult<()> {
        let new = cost(key, &value);
        let old = |s: &Self| s.map.get(key).map_or(0, |(v, _)| cost(key, v));
        if new > old(self) && !self.fits(key, new - old(self)) {
            if self
                .last_sweep
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
            {
                self.last_sweep = Some(now);
                self.sweep(now);
            }
            // The sweep may have removed this very key: measure again.
            if new > old(self) && !self.fits(key, new - old(self)) {
                return Err(EphemeralError::Full);
            }
        }
        let replaced = old(self);
        self.map.insert(key.to_owned(), (value, exp));
        self.account(key, new, replaced);
        Ok(())
    }

    fn remove(&mut self, key: &str) -> Option<(String, Instant)> {
        let removed = self.map.remove(key);
        if let Some((v, _)) = &removed {
            let c = cost(key, v);
            self.account(key, 0, c);
        }
        removed
    }

    fn live(&self, key: &str, now: Instant) -> Option<&(String, Instant)> {
        self.map.get(key).filter(|(_, exp)| *exp > now)
    }
}

#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(usize::MAX)
    }
}

impl MemoryStore {
    /// A store of unlimited size; spawns a sweeper when called inside a Tokio runtime.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(usize::MAX)
    }

    /// A store that holds at most `capacity` bytes (see the module doc).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_budgets(capacity, &[])
    }

    /// Like [`MemoryStore::with_capacity`], where keys with each prefix may take at most the
    /// given number of bytes.
    #[must_use]
    pub fn with_budgets(capacity: usize, budgets: &[(&'static str, usize)]) -> Self {
        let s = Self {
            inner: Arc::new(Mutex::new(State {
                capacity,
                budgets: budgets
                    .iter()
                    .map(|(prefix, limit)| Budget {
                        prefix,
                        limit: *limit,
                        used: 0,
                    })
                    .collect(),
                ..State::default()
            })),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak: Weak<Mutex<State>> = Arc::downgrade(&s.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(30));
                loop {
                    tick.tick().await;
                    let Some(state) = weak.upgrade() else { break };
                    lock(&state).sweep(Instant::now());
                }
            });
        }
        s
    }

    fn with<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let now = Instant::now();
        f(&mut lock(&self.inner), now)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        self.with(|s, now| s.set(key, value.to_owned(), now + ttl, now))
    }

    pub async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        self.with(|s, now| {
            if s.live(key, now).is_none() {
                return Ok(false);
            }
            s.set(key, value.to_owned(), now + ttl, now).map(|()| true)
        })
    }

    pub async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        self.with(|s, now| {
            if s.live(key, now).is_some() {
                return Ok(false);
            }
            s.set(key, value.to_owned(), now + ttl, now).map(|()| true)
        })
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        Ok(self.with(|s, now| s.live(key, now).map(|(v, _)| v.clone())))
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        Ok(self.with(|s, now| s.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        self.with(|s, _| s.remove(key));
        Ok(())
    }

    pub async fn incr_window(&self, key: &str, window: Duration) -> EphResult<u64> {
        self.with(|s, now| {
            let (n, exp) = match s.live(key, now) {
                Some((v, exp)) => (v.parse::<u64>().unwrap_or(0).saturating_add(1), *exp),
                None => (1, now + window),
            };
            s.set(key, n.to_string(), exp, now).map(|()| n)
        })
    }

    pub async fn release(&self, key: &str) -> EphResult<()> {
        self.with(|s, now| {
            if let Some((v, exp)) = s.live(key, now).cloned() {
                let n = v.parse::<u64>().unwrap_or(0).saturating_sub(1);
                s.set(key, n.to_string(), exp, now)
            } else {
                Ok(())
            }
        })
    }

    // Sets are stored as newline-separated members (members never contain newlines).
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        self.with(|s, now| {
            let (mut members, exp) = match s.live(key, now) {
                Some((v, exp)) => (v.clone(), (*exp).max(now + ttl)),
                None => (String::new(), now + ttl),
            };
            if !members.lines().any(|l| l == member) {
                if !members.is_empty() {
                    members.push('\n');
                }
                members.push_str(member);
            }
            s.set(key, members, exp, now)
        })
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        self.with(|s, now| {
            if let Some((v, exp)) = s.live(key, now).cloned() {
                let rest = v
                    .lines()
                    .filter(|l| *l != member)
                    .collect::<Vec<_>>()
                    .join("\n");
                s.set(key, rest, exp, now)
            } else {
                Ok(())
            }
        })
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        Ok(self.with(|s, now| {
            s.live(key, now)
                .map(|(v, _)| {
                    v.lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    pub async fn ping(&self) -> EphResult<()> {
        Ok(())
    }
}

/// A poisoned lock only means another task panicked mid-update of a cache of short-lived
/// values; the map itself is still consistent, so keep going.
fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_store_refuses_new_values_and_frees_room_when_they_expire() {
        let s = MemoryStore::with_capacity(1000);
        let ttl = Duration::from_secs(60);
        let mut stored = 0;
        for i in 0..100 {
            match s.put(&format!("k{i}"), &"x".repeat(100), ttl).await {
                Ok(()) => stored += 1,
                Err(EphemeralError::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(stored > 0 && stored < 10, "{stored}");
        assert!(matches!(
            s.put("more", "y", ttl).await,
            Err(EphemeralError::Full)
        ));
        // Removing frees room; replacing a value with a smaller one always works.
        s.delete("k0").await.expect("delete");
        s.put("more", "y", ttl).await.expect("room again");
        s.put("k1", "z", ttl).await.expect("smaller");
        // A budgeted prefix stops at its share, while other keys still fit.
        let b = MemoryStore::with_budgets(2000, &[("authreq:", 500)]);
        let mut parked = 0;
        while b.put(&format!("authreq:{parked}"), "x", ttl).await.is_ok() {
            parked += 1;
        }
        assert!(parked > 0 && parked < 10, "{parked}");
        b.put("sess:a", &"s".repeat(500), ttl)
            .await
            .expect("sessions keep their room");
        // Expired entries are swept when room is needed.
        let short = MemoryStore::with_capacity(400);
        short
            .put("a", &"x".repeat(200), Duration::from_millis(10))
            .await
            .expect("put");
        tokio::time::sleep(Duration::from_millis(30)).await;
        short
            .put("b", &"x".repeat(200), ttl)
            .await
            .expect("the expired entry made room");
    }
}
