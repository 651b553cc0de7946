//! Redis short-lived store: `SET .. PX`, `SET .. NX PX`, `GETDEL` (Redis >= 6.2) and a small
//! script for fixed-window counters. All keys carry a configurable prefix (`bk:`).
//!
//! Two ways to reach Redis: one address (`redis://`, `rediss://`; a managed Redis or a
//! virtual IP in front of a failover pair), or through Redis Sentinel
//! (`redis+sentinel://host:26379,host:26379/service`), where the sentinels name the current
//! primary. After a failover the old primary refuses connections or answers `READONLY`;
//! either drops the connection, and the next command asks the sentinels again.

use super::{EphResult, EphemeralError};
use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    prefix: std::sync::Arc<str>,
}

/// How the store reaches the primary.
#[derive(Clone)]
enum Link {
    /// One address; the manager reconnects to it by itself.
    Direct(ConnectionManager),
    /// The primary the sentinels name, asked again whenever a connection breaks.
    Sentinel(Arc<SentinelLink>),
}

struct SentinelLink {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The connection to the current primary and its generation (bumped when it breaks).
    current: std::sync::RwLock<(u64, Option<MultiplexedConnection>)>,
    timeout: Duration,
}

/// A connection to the primary for one command.
enum Conn {
    Direct(ConnectionManager),
    Sentinel {
        conn: MultiplexedConnection,
        link: Arc<SentinelLink>,
        generation: u64,
    },
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

const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// A parsed `redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]
/// [?sentinel_password=…]` address: credentials and database are the data nodes', the
/// sentinels' own password (if they have one) is the query parameter.
#[derive(Debug, PartialEq, Eq)]
struct SentinelAddress {
    sentinels: Vec<(String, u16)>,
    service: String,
    db: i64,
    username: Option<String>,
    password: Option<String>,
    sentinel_password: Option<String>,
}

fn decoded(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_sentinel(url: &str) -> Result<SentinelAddress, String> {
    let usage = "expected redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]";
    let rest = url.strip_prefix(SENTINEL_SCHEME).ok_or(usage)?;
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, None), |(r, q)| (r, Some(q)));
    let (auth, rest) = rest
        .rsplit_once('@')
        .map_or((None, rest), |(a, r)| (Some(a), r));
    let (hosts, path) = rest.split_once('/').ok_or(usage)?;
    let mut sentinels = Vec::new();
    for h in hosts.split(',') {
        let (host, port) = match h.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| usage)?),
            None => (h, 26379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(usage.into());
        }
        sentinels.push((host.to_owned(), port));
    }
    let (service, db) = path.split_once('/').map_or((path, "0"), |(s, d)| (s, d));
    if service.is_empty() {
        return Err(usage.into());
    }
    let db = if db.is_empty() {
        0
    } else {
        db.parse::<i64>().map_err(|_| usage)?
    };
    let (username, password) = match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => ((!u.is_empty()).then(|| decoded(u)), Some(decoded(p))),
            None => (None, Some(decoded(a))),
        },
    };
    let mut sentinel_password = None;
    for kv in query.into_iter().flat_map(|q| q.split('&')) {
        match kv.split_once('=') {
            Some(("sentinel_password", v)) => sentinel_password = Some(decoded(v)),
            _ => {
                return Err(format!(
                    "unknown parameter {kv} ({usage}[?sentinel_password=…])"
                ));
            }
        }
    }
    Ok(SentinelAddress {
        sentinels,
        service: decoded(service),
        db,
        username,
        password,
        sentinel_password,
    })
}

/// Whether `url` is a well-formed `redis+sentinel://` address (checked with the configuration).
///
/// # Errors
/// What is wrong with it.
pub fn check_sentinel_address(url: &str) -> Result<(), String> {
    parse_sentinel(url).map(|_| ())
}

/// Whether `e` says Redis did not answer: refused, dropped, broken or timed out.
pub(super) fn unreachable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped()
}

/// Whether `e` says this connection no longer reaches a primary: broken, timed out, or the
/// node was demoted to a replica (`READONLY`) or lost its primary (`MASTERDOWN`).
fn lost_primary(e: &RedisError) -> bool {
    unreachable(e)
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

impl SentinelLink {
    fn build(url: &str, timeout: Duration) -> EphResult<Self> {
        let a = parse_sentinel(url).map_err(|e| EphemeralError::Backend(e.into()))?;
        let nodes = a
            .sentinels
            .iter()
            .map(|(h, p)| redis::ConnectionAddr::Tcp(h.clone(), *p));
        let mut b = SentinelClientBuilder::new(nodes, &a.service, SentinelServerType::Master)
            .map_err(err)?
            .set_client_to_redis_db(a.db);
        if let Some(u) = &a.username {
            b = b.set_client_to_redis_username(u);
        }
        if let Some(p) = &a.password {
            b = b.set_client_to_redis_password(p);
        }
        if let Some(p) = &a.sentinel_password {
            b = b.set_client_to_sentinel_password(p);
        }
        Ok(Self {
            sentinels: tokio::sync::Mutex::new(b.build().map_err(err)?),
            current: std::sync::RwLock::new((0, None)),
            timeout,
        })
    }

    fn current(&self) -> (u64, Option<MultiplexedConnection>) {
        let g = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (g.0, g.1.clone())
    }

    /// The connection to the primary: the current one, or a new one to the primary the
    /// sentinels name now (one caller asks; the others wait for its answer).
    ///
    /// The wait for the other caller counts against the same bound as the asking: while
    /// the primary is away, 40 requests at once each get their answer (503) within twice
    /// the timeout, not one after the other.
    async fn connection(self: &Arc<Self>) -> EphResult<Conn> {
        if let (generation, Some(conn)) = self.current() {
            return Ok(self.conn(conn, generation));
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let (generation, conn) = tokio::time::timeout(self.timeout * 2, async {
            let mut sentinels = self.sentinels.lock().await;
            if let (generation, Some(conn)) = self.current() {
                return Ok((generation, conn));
            }
            let client = sentinels.async_get_client().await?;
            let conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let mut g = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            g.1 = Some(conn.clone());
            Ok::<_, RedisError>((g.0, conn))
        })
        .await
        .map_err(|_| {
            EphemeralError::Backend("timed out asking Redis Sentinel for the primary".into())
        })?
        .map_err(err)?;
        Ok(self.conn(conn, generation))
    }

    fn conn(self: &Arc<Self>, conn: MultiplexedConnection, generation: u64) -> Conn {
        Conn::Sentinel {
            conn,
            link: Arc::clone(self),
            generation,
        }
    }

    /// Passes `r` on; a lost primary drops the connection of `generation`.
    fn noted<T>(&self, generation: u64, r: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if let Err(e) = &r
            && lost_primary(e)
        {
            self.broken(generation);
        }
        r
    }

    /// Drops the connection of `generation` (if it is still the current one).
    fn broken(&self, generation: u64) {
        let mut g = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.0 == generation {
            *g = (generation + 1, None);
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Direct(c) => c.req_packed_command(cmd),
            Conn::Sentinel {
                conn,
                link,
                generation,
            } => {
                Box::pin(async move { link.noted(*generation, conn.req_packed_command(cmd).await) })
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Direct(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel {
                conn,
                link,
                generation,
            } => Box::pin(async move {
                link.noted(
                    *generation,
                    conn.req_packed_commands(pipeline, offset, count).await,
                )
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Direct(c) => c.get_db(),
            Conn::Sentinel { conn, .. } => conn.get_db(),
        }
    }
}

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
        let link = if url.starts_with(SENTINEL_SCHEME) {
            Link::Sentinel(Arc::new(SentinelLink::build(url, timeout)?))
        } else {
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
            Link::Direct(conn)
        };
        let s = Self {
            link,
            prefix: prefix.into(),
        };
        s.ping().await?;
        Ok(s)
    }

    /// A connection to the primary for one command.
    async fn conn(&self) -> EphResult<Conn> {
        match &self.link {
            Link::Direct(c) => Ok(Conn::Direct(c.clone())),
            Link::Sentinel(l) => l.connection().await,
        }
    }

    /// `SET key value [NX|XX] PX ttl`; whether it was set.
    async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        condition: Option<&str>,
    ) -> EphResult<bool> {
        let mut c = self.conn().await?;
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
        let mut c = self.conn().await?;
        redis::cmd("GET")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn take(&self, key: &str) -> EphResult<Option<String>> {
        let mut c = self.conn().await?;
        redis::cmd("GETDEL")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn delete(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("DEL")
            .arg(self.k(key))
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn incr_window(&self, key: &str, window: Duration) -> EphResult<u64> {
        let mut c = self.conn().await?;
        redis::Script::new(INCR_WINDOW)
            .key(self.k(key))
            .arg(ms(window))
            .invoke_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn release(&self, key: &str) -> EphResult<()> {
        let mut c = self.conn().await?;
        redis::Script::new(RELEASE)
            .key(self.k(key))
            .invoke_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> EphResult<()> {
        let mut c = self.conn().await?;
        redis::Script::new(SET_ADD)
            .key(self.k(key))
            .arg(member)
            .arg(ms(ttl))
            .invoke_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> EphResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("SREM")
            .arg(self.k(key))
            .arg(member)
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }

    pub async fn set_members(&self, key: &str) -> EphResult<Vec<String>> {
        let mut c = self.conn().await?;
        redis::cmd("SMEMBERS")
            .arg(self.k(key))
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    pub async fn ping(&self) -> EphResult<()> {
        let mut c = self.conn().await?;
        redis::cmd("PING")
            .query_async::<()>(&mut c)
            .await
            .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_addresses() {
        let a = parse_sentinel(
            "redis+sentinel://:p%40ss@10.0.0.1:26379,sentinel-b,[::1]:26380/bk-primary/2?sentinel_password=s%26s",
        )
        .expect("parses");
        assert_eq!(
            a,
            SentinelAddress {
                sentinels: vec![
                    ("10.0.0.1".into(), 26379),
                    ("sentinel-b".into(), 26379),
                    ("::1".into(), 26380)
                ],
                service: "bk-primary".into(),
                db: 2,
                username: None,
                password: Some("p@ss".into()),
                sentinel_password: Some("s&s".into()),
            }
        );
        let b = parse_sentinel("redis+sentinel://app:pw@h:1/m").expect("parses");
        assert_eq!(b.username.as_deref(), Some("app"));
        assert_eq!((b.service.as_str(), b.db), ("m", 0));
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1/",
            "redis+sentinel://h:x/m",
            "redis+sentinel://:1/m",
            "redis+sentinel://h:1/m/x",
            "redis+sentinel://h:1/m?password=x",
            "redis+sentinel://h:1/m?sentinel_password",
            "redis://h:1/m",
        ] {
            assert!(parse_sentinel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_demoted_primary_is_a_lost_one() {
        let readonly = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ReadOnly),
            "You can't write against a read only replica.",
        ));
        assert!(lost_primary(&readonly));
        let wrong = RedisError::from((ErrorKind::UnexpectedReturnType, "x"));
        assert!(!lost_primary(&wrong));
    }
}
