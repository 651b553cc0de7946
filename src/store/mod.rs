//! Durable state: the only module that speaks SQL.
//!
//! # One body per query, two backends
//! [`Db`] is an enum over a PostgreSQL and a SQLite pool. Every store method is written once,
//! with a `&'static str` query in the SQL subset both dialects share (`$1` placeholders,
//! `ON CONFLICT`, `RETURNING`), and the [`on_db!`] macro expands that one body once per backend
//! so each arm is fully typed (no `Any` driver: it cannot carry UUIDs, timestamps or JSON).
//! Row structs derive `FromRow` generically, so one struct decodes rows of both backends.
//! We chose this over a trait with two implementations (every query written twice, and the
//! copies drift) and over code generic in `sqlx::Database` (trait bounds multiply and there is
//! no gain in safety). Since nothing checks SQL at compile time, the store tests in
//! `tests/it/store.rs` run the methods on SQLite and, when configured, on PostgreSQL (its
//! doc lists what it covers; passkeys and processes only through their HTTP tests).
//! Migrations live in `migrations/{postgres,sqlite}` with the same numbers and names.
//! One exception to the shared body: `Mailbox::insert_messages` stores a batch of sends on
//! PostgreSQL in one statement with `WITH … INSERT` clauses, which SQLite does not have (the
//! shared transaction is its fallback, tested on both).

pub mod accounts;
pub mod audit;
pub mod callbacks;
pub mod clients;
pub mod consents;
pub mod credentials;
pub mod devices;
pub mod identities;
pub mod mailbox;
pub mod passkeys;
pub mod processes;
pub mod proofings;
pub mod refresh_tokens;
pub mod roles;
pub mod stats;
pub mod subjects;
pub mod tenants;
pub mod topics;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    Pg(PgPool),
    Sqlite(SqlitePool, SqliteWriter),
}

/// SQLite has one writer at a time. Queueing write transactions here is fairer and much
/// faster under load than SQLite's own busy loop, which sleeps up to 100 ms per retry.
#[derive(Clone, Debug, Default)]
pub struct SqliteWriter(std::sync::Arc<tokio::sync::Mutex<()>>);

/// Runs the same body against whichever pool `$db` holds; `$p` names the typed pool.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Pg($p) => $body,
            $crate::store::Db::Sqlite($p, _) => $body,
        }
    };
}
pub(crate) use on_db;

/// A write transaction `$tx` on whichever pool `$db` holds, with the SQLite writer slot held
/// across it (nothing to wait for on PostgreSQL): every write transaction goes through here,
/// so none can forget the writer rule. `$body` evaluates to the value to return; a `?` in it
/// returns early, which drops `$tx` and so rolls it back. Commits otherwise; the result is
/// `Result<T, sqlx::Error>`.
macro_rules! write_tx {
    ($db:expr, |$tx:ident| $body:expr) => {{
        let _writer = $db.writer().await;
        $crate::store::on_db!($db, |p| {
            let mut $tx = p.begin().await?;
            let value = $body;
            $tx.commit().await.map(|()| value)
        })
    }};
}
pub(crate) use write_tx;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error()
            && (db.is_unique_violation() || db.is_foreign_key_violation())
        {
            return StoreError::Conflict {
                constraint: db.constraint().unwrap_or("unique").to_owned(),
            };
        }
        StoreError::Backend(e)
    }
}

impl StoreError {
    /// A failure that says the database did not answer (for each of several waiters that
    /// shared one failed attempt).
    #[must_use]
    pub fn unavailable() -> Self {
        StoreError::Backend(sqlx::Error::PoolTimedOut)
    }

    /// Whether `e` (one link of a cause chain) says the database did not answer: no
    /// connection within the deadline, refused or dropped connections, a server shutting
    /// down or starting. Such failures are answered 503 with `Retry-After`, not 500.
    #[must_use]
    pub fn is_unavailable(e: &(dyn std::error::Error + 'static)) -> bool {
        let sqlx = match e.downcast_ref::<StoreError>() {
            Some(StoreError::Backend(s)) => s,
            Some(_) => return false,
            None => match e.downcast_ref::<sqlx::Error>() {
                Some(s) => s,
                None => return false,
            },
        };
        match sqlx {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::BeginFailed => true,
            // Class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up).
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }

    /// Whether this is a conflict on a unique constraint whose name contains `name`
    /// (SQLite does not report constraint names; there any conflict matches).
    #[must_use]
    pub fn is_conflict_on(&self, name: &str) -> bool {
        match self {
            StoreError::Conflict { constraint } => {
                constraint == "unique" || constraint.contains(name)
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A PostgreSQL connection idle for longer is pinged before it is handed out (the server may
/// have restarted or a firewall dropped it meanwhile).
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

impl Db {
    /// Connects to `url` (`postgres://...` or `sqlite:...`), creating a SQLite file and its
    /// folder if missing, and applies pending migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, Duration::from_secs(10)).await
    }

    /// Like [`Db::connect`]; on PostgreSQL a query waits at most `acquire` for a connection
    /// (while the server is down, requests fail after this long instead of piling up).
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn connect_with(url: &str, acquire: Duration) -> anyhow::Result<Self> {
        use anyhow::Context;
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(20)
                .acquire_timeout(acquire)
                // sqlx pings every connection it hands out (a round trip before each query,
                // on top of the one it makes when the connection comes back). Only one that
                // sat idle is asked: one in steady use just proved itself on release.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for < PING_IDLE_AFTER {
                            return Ok(true);
                        }
                        Ok(sqlx::Connection::ping(conn).await.is_ok())
                    })
                })
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            Db::Pg(pool)
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .context("parsing the SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before we acknowledge it.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = opts.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the database folder {}", dir.display()))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A file on this machine does not go away between two queries: no round trip
                // to the connection's thread before each one.
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .context("opening the SQLite database")?;
            Db::Sqlite(pool, SqliteWriter::default())
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Waits for the SQLite writer slot (nothing for PostgreSQL); [`write_tx!`] holds it
    /// across every write transaction.
    pub(crate) async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self {
            Db::Pg(_) => None,
            Db::Sqlite(_, w) => Some(w.0.lock().await),
        }
    }

    /// Applies the migrations of this backend.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        match self {
            Db::Pg(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
            Db::Sqlite(p, _) => sqlx::migrate!("./migrations/sqlite").run(p).await,
        }
        .context("applying database migrations")
    }

    /// A cheap round trip, for readiness checks.
    ///
    /// # Errors
    /// When the database does not answer.
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(self, |p| sqlx::query("SELECT 1")
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The pool's connections: open, idle, and the most it opens.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        on_db!(self, |p| (
            p.size(),
            p.num_idle(),
            p.options().get_max_connections()
        ))
    }

    /// Writes a consistent copy of a SQLite database to `target` (a new file) while the
    /// server keeps running (`VACUUM INTO`: one read transaction, so the copy is one moment
    /// of the database). `Ok(false)` on PostgreSQL, whose backups are `pg_dump`'s or the
    /// cluster's business.
    ///
    /// # Errors
    /// When the copy cannot be written (the file exists, the folder is missing).
    pub async fn backup_to(&self, target: &std::path::Path) -> StoreResult<bool> {
        match self {
            Db::Pg(_) => Ok(false),
            Db::Sqlite(p, _) => {
                let target = target.to_str().ok_or_else(|| {
                    StoreError::Corrupt("the backup path is not valid UTF-8".into())
                })?;
                sqlx::query("VACUUM INTO $1")
                    .bind(target)
                    .execute(p)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Which backend this is (`postgres`, `sqlite`), for metrics.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Pg(_) => "postgres",
            Db::Sqlite(..) => "sqlite",
        }
    }

    pub async fn close(&self) {
        on_db!(self, |p| p.close().await);
    }
}

/// Parses a JSON list of strings from a column into domain values.
pub(crate) fn parse_list<T>(
    items: Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> StoreResult<Vec<T>> {
    items
        .iter()
        .map(|s| parse(s).ok_or_else(|| StoreError::Corrupt(format!("{what}: {s}"))))
        .collect()
}
