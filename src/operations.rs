//! What operators watch: whether the dependencies answer (`/readyz`) and the gauges of
//! `/metrics` (pools, backlogs and their age, key age, memory). Every check has a deadline,
//! so neither endpoint waits for a dependency that hangs.

use crate::clock::Clock;
use crate::domain::client::SigningAlg;
use crate::ephemeral::Ephemeral;
use crate::keyring::Keyring;
use crate::mailbox::MailboxService;
use crate::store::Db;
use crate::telemetry::metrics::{Gauge, Metrics};
use std::sync::Arc;
use std::time::Duration;

/// How long a readiness check waits for each dependency.
pub const CHECK_DEADLINE: Duration = Duration::from_millis(800);

/// The operator's view of one instance; cheap to clone.
#[derive(Clone)]
pub struct Operations {
    db: Db,
    eph: Ephemeral,
    keys: Arc<Keyring>,
    mailbox: MailboxService,
    metrics: Metrics,
    clock: Clock,
    started: chrono::DateTime<chrono::Utc>,
}

/// Which dependencies answered within the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub database: bool,
    pub redis: bool,
}

impl Health {
    #[must_use]
    pub fn ready(self) -> bool {
        self.database && self.redis
    }

    /// The names of the dependencies that did not answer.
    #[must_use]
    pub fn missing(self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if !self.database {
            m.push("database");
        }
        if !self.redis {
            m.push("redis");
        }
        m
    }
}

impl Operations {
    #[must_use]
    pub fn new(
        (db, eph, keys): (Db, Ephemeral, Arc<Keyring>),
        mailbox: MailboxService,
        metrics: Metrics,
        clock: Clock,
    ) -> Self {
        let started = clock.now();
        for (name, help) in [
            (
                "buergerkonto_password_logins_total",
                "Password checks at the login page, by outcome.",
            ),
            (
                "buergerkonto_logins_total",
                "Completed logins (a session started), by the level they reached.",
            ),
            (
                "buergerkonto_step_ups_total",
                "Sessions raised to a higher level, by way (second factor, upstream) and level.",
            ),
            (
                "buergerkonto_tokens_total",
                "Token requests, by grant type and outcome (issued or the OAuth error code).",
            ),
            (
                "buergerkonto_throttled_total",
                "Requests refused with 429 (rate limits), by route.",
            ),
            (
                "buergerkonto_mailbox_sends_total",
                "Mailbox messages sent, by way (api, bulk item, citizen) and outcome.",
            ),
        ] {
            metrics.describe(name, help);
        }
        Self {
            db,
            eph,
            keys,
            mailbox,
            metrics,
            clock,
            started,
        }
    }

    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Pings the database and the short-lived store at once, each within [`CHECK_DEADLINE`].
    pub async fn health(&self) -> Health {
        let database = async {
            matches!(
                tokio::time::timeout(CHECK_DEADLINE, self.db.ping()).await,
                Ok(Ok(()))
            )
        };
        let redis = async {
            matches!(
                tokio::time::timeout(CHECK_DEADLINE, self.eph.ping()).await,
                Ok(Ok(()))
            )
        };
        let (database, redis) = tokio::join!(database, redis);
        Health { database, redis }
    }

    /// The text of `/metrics`: the recorded counters and histograms, and gauges read now.
    pub async fn render(&self) -> String {
        let now = self.clock.now();
        let age = |t: chrono::DateTime<chrono::Utc>| {
            #[allow(clippy::cast_precision_loss)]
            let s = (now - t).num_milliseconds().max(0) as f64 / 1000.0;
            s
        };
        let (health, backlogs) = tokio::join!(
            self.health(),
            tokio::time::timeout(CHECK_DEADLINE, self.mailbox.backlogs())
        );
        let (open, idle, max) = self.db.pool_stats();
        let mut g = vec![
            Gauge::new(
                "buergerkonto_dependency_up",
                "Whether a dependency answered within the readiness deadline (1) or not (0).",
                f64::from(u8::from(health.database)),
            )
            .with(&[("dependency", "database"), ("backend", self.db.backend())]),
            Gauge::new(
                "buergerkonto_dependency_up",
                "",
                f64::from(u8::from(health.redis)),
            )
            .with(&[("dependency", "redis"), ("backend", self.eph.backend())]),
            Gauge::new(
                "buergerkonto_db_pool_connections",
                "Database connections of this instance: open, idle, and the most it opens.",
                f64::from(open),
            )
            .with(&[("state", "open")]),
            #[allow(clippy::cast_precision_loss)]
            Gauge::new("buergerkonto_db_pool_connections", "", idle as f64)
                .with(&[("state", "idle")]),
            Gauge::new("buergerkonto_db_pool_connections", "", f64::from(max))
                .with(&[("state", "max")]),
        ];
        match backlogs {
            Ok(Ok(b)) => {
                #[allow(clippy::cast_precision_loss)]
                g.extend([
                    Gauge::new(
                        "buergerkonto_mailbox_unnotified_messages",
                        "Messages from authorities whose recipient was not told yet.",
                        b.unnotified as f64,
                    ),
                    Gauge::new(
                        "buergerkonto_mailbox_unnotified_oldest_age_seconds",
                        "Age of the oldest message whose recipient was not told yet (0: none).",
                        b.unnotified_oldest.map_or(0.0, age),
                    ),
                    Gauge::new(
                        "buergerkonto_mailbox_notifications_at_risk",
                        "Untold messages a day before their announcement day (an alert).",
                        b.at_risk as f64,
                    ),
                    Gauge::new(
                        "buergerkonto_callbacks_pending",
                        "Callback deliveries waiting to be delivered.",
                        b.callbacks_pending as f64,
                    ),
                    Gauge::new(
                        "buergerkonto_callbacks_oldest_age_seconds",
                        "Age of the oldest waiting callback delivery (0: none).",
                        b.callbacks_oldest.map_or(0.0, age),
                    ),
                    Gauge::new(
                        "buergerkonto_callbacks_dead",
                        "Callback deliveries given up (they wait for a redelivery by hand).",
                        b.callbacks_dead as f64,
                    ),
                ]);
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: could not read the backlogs"),
            Err(_) => tracing::warn!("metrics: reading the backlogs timed out"),
        }
        for (alg, name) in [(SigningAlg::ES256, "ES256"), (SigningAlg::RS256, "RS256")] {
            if let Some(since) = self.keys.signing_since(alg) {
                g.push(
                    Gauge::new(
                        "buergerkonto_signing_key_age_seconds",
                        "Since when the current signing key signs.",
                        age(since),
                    )
                    .with(&[("alg", name)]),
                );
            }
        }
        g.push(Gauge::new(
            "buergerkonto_start_time_seconds",
            "When this instance started (Unix time).",
            #[allow(clippy::cast_precision_loss)]
            {
                self.started.timestamp() as f64
            },
        ));
        if let Some(rss) = resident_bytes() {
            #[allow(clippy::cast_precision_loss)]
            g.push(Gauge::new(
                "buergerkonto_resident_memory_bytes",
                "Resident memory of this process.",
                rss as f64,
            ));
        }
        g.push(
            Gauge::new("buergerkonto_build_info", "The running version.", 1.0)
                .with(&[("version", env!("CARGO_PKG_VERSION"))]),
        );
        self.metrics.render(&g)
    }
}

/// Resident memory from `/proc/self/status` (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
