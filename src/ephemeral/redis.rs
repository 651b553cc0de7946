//! Redis short-lived store: `SET .. PX`, `SET .. NX PX`, `GETDEL` (Redis >= 6.2) and a small
//! script for fixed-window counters. All keys carry a configurable prefix (`bk:`).

use super::{EphResult, EphemeralError};
use redis::aio::ConnectionManager;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: std::sync::Arc<str>,
}

fn err(e: redis::RedisError) -> EphemeralError {
    EphemeralError::Backend(e.into())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

const SET_ADD: &str = "redis.call('SADD', KEYS[1], ARGV[1]) \
    if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 1";
const INCR_WINDOW: &str = "local n = redis.call('INCR', KEYS[1]) \
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n";

/// DECR keeps the key's expiry; a missing (expired) counter is not brought back.
const RELEASE: &str = "local v = tonumber(redis.call('GET', KEYS[1])) \
    if v and v > 0 then return redis.call('DECR', KEYS[1]) end return 0";

impl RedisStore {
    fn k(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// # Errors
    /// When the URL is malformed or the server cannot be reached.
    /// Each command, and each (re)connection, waits at most `timeout`; while Redis is down a
    /// command fails after one quick reconnection attempt, and the next command after Redis
    /// is back reconnects.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> EphResult<Self> {
        let client = redis::Client::open(url).map_err(err)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| EphemeralError::Backend("timed out connecting to Redis".into()))?
        .map_err(err)?;
        let s = Self {
            conn,
            prefix: prefix.into(),
        };
        s.ping().await?;
        Ok(s)
    }

    /// `SET key value [NX|XX] PX ttl`; whether it was set.
    async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        condition: Option<&str>,
    ) -> EphResult<bool> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.k(key)).arg(value);
        if let Some(cond) = condition {
            cmd.arg(cond);
        }
        let r: Option<String> = cmd
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(r.is_some())
    }

    pub async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphResult<()> {
        self.set(key, value, ttl, None).await.map(|_| ())
    }

    pub async fn replace(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        self.set(key, value, ttl, Some("XX")).await
    }

    pub async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphResult<bool> {
        self.set(key, value, ttl, Some("NX")).await
    }

    pub async fn get(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        redis::cmd("GET")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn.clone();
        redis::cmd("GETDEL")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("DEL")
            .arg(self.k(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn incr_window(&self, key: &str, window: Duration) -> EphResult<u64> {
        let mut c = self.conn.clone();
        redis::Script::new(INCR_WINDOW)
            .key(self.k(key))
            .arg(ms(window))
            .invoke_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn release(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::Script::new(RELEASE)
            .key(self.k(key))
            .invoke_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::Script::new(SET_ADD)
            .key(self.k(key))
            .arg(member)
            .arg(ms(ttl))
            .invoke_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("SREM")
            .arg(self.k(key))
            .arg(member)
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        let mut c = self.conn.clone();
        redis::cmd("SMEMBERS")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn ping(&self) -> EphResult<()> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }
}
