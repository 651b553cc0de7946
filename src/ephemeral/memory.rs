//! In-process short-lived store (mini-redis style): a map under one mutex, expiry checked on
//! every read and swept in the background. Uses `tokio::time::Instant`, so tests can pause
//! and advance time.

use super::EphResult;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

type Map = HashMap<String, (String, Instant)>;

impl MemoryStore {
    /// A new store; spawns a sweeper when called inside a Tokio runtime.
    #[must_use]
    pub fn new() -> Self {
        let s = Self::default();
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak: Weak<Mutex<Map>> = Arc::downgrade(&s.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(30));
                loop {
                    tick.tick().await;
                    let Some(map) = weak.upgrade() else { break };
                    let now = Instant::now();
                    lock(&map).retain(|_, (_, exp)| *exp > now);
                }
            });
        }
        s
    }

    fn with<R>(&self, f: impl FnOnce(&mut Map, Instant) -> R) -> R {
        let now = Instant::now();
        f(&mut lock(&self.inner), now)
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        self.with(|m, now| m.insert(key.to_owned(), (value.to_owned(), now + ttl)));
        Ok(())
    }

    pub async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        Ok(self.with(|m, now| match m.get_mut(key) {
            Some(entry) if entry.1 > now => {
                *entry = (value.to_owned(), now + ttl);
                true
            }
            _ => false,
        }))
    }

    pub async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        Ok(self.with(|m, now| match m.get(key) {
            Some((_, exp)) if *exp > now => false,
            _ => {
                m.insert(key.to_owned(), (value.to_owned(), now + ttl));
                true
            }
        }))
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        Ok(self.with(|m, now| {
            m.get(key)
                .filter(|(_, exp)| *exp > now)
                .map(|(v, _)| v.clone())
        }))
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        Ok(self.with(|m, now| m.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        self.with(|m, _| m.remove(key));
        Ok(())
    }

    pub async fn incr_window(&self, key: &str, window: Duration) -> EphResult<u64> {
        Ok(self.with(|m, now| {
            let entry = m
                .entry(key.to_owned())
                .or_insert_with(|| ("0".into(), now + window));
            if entry.1 <= now {
                *entry = ("0".into(), now + window);
            }
            let n = entry.0.parse::<u64>().unwrap_or(0).saturating_add(1);
            entry.0 = n.to_string();
            n
        }))
    }

    pub async fn release(&self, key: &str) -> EphResult<()> {
        self.with(|m, now| {
            if let Some(entry) = m.get_mut(key).filter(|e| e.1 > now) {
                let n = entry.0.parse::<u64>().unwrap_or(0).saturating_sub(1);
                entry.0 = n.to_string();
            }
        });
        Ok(())
    }

    // Sets are stored as newline-separated members (members never contain newlines).
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        self.with(|m, now| {
            let entry = m
                .entry(key.to_owned())
                .or_insert_with(|| (String::new(), now + ttl));
            if entry.1 <= now {
                *entry = (String::new(), now + ttl);
            }
            entry.1 = entry.1.max(now + ttl);
            if !entry.0.lines().any(|l| l == member) {
                if !entry.0.is_empty() {
                    entry.0.push('\n');
                }
                entry.0.push_str(member);
            }
        });
        Ok(())
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        self.with(|m, _| {
            if let Some(entry) = m.get_mut(key) {
                entry.0 = entry
                    .0
                    .lines()
                    .filter(|l| *l != member)
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        });
        Ok(())
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        Ok(self.with(|m, now| {
            m.get(key)
                .filter(|(_, exp)| *exp > now)
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
fn lock(m: &Mutex<Map>) -> std::sync::MutexGuard<'_, Map> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
