//! Application assembly: `Application::build(Config)` connects the database (and migrates),
//! the short-lived store, loads or creates keys, builds the mailer and the router, and binds
//! the listener. `serve` and every integration test use the same builder.

use crate::account::passkeys::PasskeyPolicy;
use crate::account::{AccountService, LoginLimits};
use crate::authn::Sessions;
use crate::clock::Clock;
use crate::config::Config;
use crate::ephemeral::Ephemeral;
use crate::keyring::Keyring;
use crate::keyring::mailbox::MasterKeys;
use crate::mail::Mailer;
use crate::mailbox::{MailboxService, Settings as MailboxSettings};
use crate::oidc::{Provider, TokenSettings};
use crate::store::Db;
use crate::web::server::ServerLimits;
use crate::web::state::{AppState, WebConfig};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: axum::Router,
    limits: ServerLimits,
    provider: Provider,
    mailbox: MailboxService,
    rights: crate::rights::DataRights,
    mailbox_interval: Duration,
    /// Whether this instance delivers callbacks.
    callback_deliver: bool,
    /// `/metrics` on an address of its own, if configured.
    metrics: Option<(TcpListener, axum::Router)>,
    /// The stop signals, listened to from before the port is bound: a SIGTERM that arrives
    /// while the server starts still shuts it down in order.
    stop: Option<StopSignals>,
}

/// The signals that stop the server (SIGINT, SIGTERM).
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
                term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn received(mut self) {
        #[cfg(unix)]
        tokio::select! { _ = self.int.recv() => {}, _ = self.term.recv() => {} }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The services, for commands that need them without HTTP.
pub struct Services {
    pub db: Db,
    pub eph: Ephemeral,
    pub keys: Arc<Keyring>,
    pub sessions: Sessions,
    pub accounts: AccountService,
    pub provider: Provider,
    pub mailbox: MailboxService,
    pub mailer: Mailer,
    /// Health and metrics of this instance.
    pub ops: crate::operations::Operations,
}

impl Services {
    /// # Errors
    /// When a backend cannot be reached or keys cannot be loaded.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        Self::connect_with(config, Clock::system()).await
    }

    /// Like [`Services::connect`], with the clock that decides expiry.
    ///
    /// # Errors
    /// When a backend cannot be reached or keys cannot be loaded.
    pub async fn connect_with(config: &Config, clock: Clock) -> anyhow::Result<Self> {
        let db = Db::connect_with(config.database_url.expose(), config.db_timeout).await?;
        let eph = Ephemeral::connect(
            config.redis_url.as_ref().map(|s| s.expose()),
            &config.redis_prefix,
            config.memory_store_max_mb.saturating_mul(1024 * 1024),
            config.redis_timeout,
        )
        .await
        .context("connecting to Redis (BUERGERKONTO_REDIS_URL)")?;
        let keys = Arc::new(Keyring::load_or_init(&config.keys_dir).context("loading keys")?);
        let mailer = Mailer::new(&config.mail, &config.smtp_from)?;
        let master = Arc::new(
            MasterKeys::load_or_init(&config.keys_dir).context("loading the mailbox master key")?,
        );
        let mailbox = MailboxService::new(
            db.clone(),
            master,
            keys.clone(),
            mailer.clone(),
            config.issuer_str(),
            MailboxSettings {
                notify_delay: Duration::from_secs(config.mailbox_notify_delay_secs),
                retention: Duration::from_secs(config.mailbox_retention_days * 86_400),
                portal_max_age: Duration::from_secs(config.mailbox_portal_max_age_secs),
                scanner: config.scanner.clone(),
                callbacks: config.callbacks.clone(),
                announcement: config.announcement.clone(),
            },
            clock.clone(),
        );
        let issuer = config.issuer_str();
        let limits = LoginLimits {
            per_account: config.login_max_failures_per_account,
            per_ip: config.login_max_failures_per_ip,
            window: Duration::from_secs(config.login_failure_window_secs),
            mail_interval: Duration::from_secs(config.mail_interval_secs),
        };
        let roots = match &config.passkey_attestation_roots {
            Some(path) => std::fs::read(path).with_context(|| {
                format!("reading the passkey attestation roots {}", path.display())
            })?,
            None => Vec::new(),
        };
        let passkey_policy =
            PasskeyPolicy::new(&roots, &config.passkey_high_aaguids).map_err(anyhow::Error::msg)?;
        let accounts = AccountService::new(
            db.clone(),
            eph.clone(),
            mailer.clone(),
            issuer.clone(),
            limits,
            passkey_policy,
            clock.clone(),
        );
        let settings = TokenSettings {
            token_ttl: config.token_ttl_secs,
            refresh_ttl: config.refresh_token_ttl_secs,
            refresh_idle: config.refresh_token_idle_secs,
            pending_requests_per_ip: config.authorize_pending_per_ip,
            upstream_step_up: config
                .upstreams
                .iter()
                .any(|u| u.kind == crate::config::UpstreamKind::Saml),
        };
        let sessions = Sessions::new(
            eph.clone(),
            Duration::from_secs(config.session_ttl_secs),
            config.secure_cookies(),
        );
        let provider = Provider::new(
            (db.clone(), eph.clone(), keys.clone()),
            sessions.clone(),
            accounts.clone(),
            issuer,
            settings,
            clock.clone(),
        )?;
        let ops = crate::operations::Operations::new(
            (db.clone(), eph.clone(), keys.clone()),
            mailbox.clone(),
            crate::telemetry::metrics::Metrics::new(),
            clock,
        );
        Ok(Self {
            db,
            eph,
            keys,
            sessions,
            accounts,
            provider,
            mailbox,
            mailer,
            ops,
        })
    }
}

impl Application {
    /// # Errors
    /// When a backend cannot be reached or the address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let stop = StopSignals::listen()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let mut app = Self::build_on(config, listener).await?;
        app.stop = Some(stop);
        Ok(app)
    }

    /// Builds on a listener bound by the caller (tests bind port 0 first, to know the
    /// issuer URL before the configuration is made).
    ///
    /// # Errors
    /// When a backend cannot be reached.
    pub async fn build_on(config: Config, listener: TcpListener) -> anyhow::Result<Self> {
        Self::build_with(config, listener, Clock::system()).await
    }

    /// Like [`Application::build_on`], with the clock that decides expiry (tests move a
    /// manual one instead of sleeping).
    ///
    /// # Errors
    /// When a backend cannot be reached.
    pub async fn build_with(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let services = Services::connect_with(&config, clock.clone()).await?;
        let rights = crate::rights::DataRights::new(
            services.accounts.clone(),
            services.sessions.clone(),
            services.provider.clone(),
            services.mailbox.clone(),
            crate::rights::ErasureRules {
                grace: Duration::from_secs(config.deletion_grace_days * 86_400),
                inactive_after: (config.inactive_delete_days > 0)
                    .then(|| Duration::from_secs(config.inactive_delete_days * 86_400)),
                warn_before: Duration::from_secs(config.inactive_warn_days * 86_400),
            },
            clock,
        );
        let state = AppState::new(crate::web::state::Services {
            sessions: services.sessions.clone(),
            broker: crate::broker::Broker::new(
                config.upstreams.clone(),
                services.eph.clone(),
                &config.issuer_str(),
            )?,
            saml: crate::saml::Saml::new(
                &config.upstreams,
                &config.keys_dir,
                &config.issuer_str(),
                services.eph.clone(),
            )
            .await
            .context("the SAML upstreams")?,
            catalogue: crate::catalogue::Catalogue::new(services.db.clone()),
            admin: crate::admin::Admin::serving(
                services.db.clone(),
                services.provider.clone(),
                services.accounts.clone(),
            )
            .with_callbacks(services.mailbox.master_keys(), config.callbacks.allow_http),
            legal: Arc::new(
                crate::legal::LegalPages::load(&config.legal_dir)
                    .context("reading the legal pages (BUERGERKONTO_LEGAL_DIR)")?,
            ),
            rights: rights.clone(),
            ops: services.ops.clone(),
            feedback: crate::legal::feedback::Feedback::new(
                services.mailer.clone(),
                config.feedback_to.clone(),
                services.eph.clone(),
                &config.issuer_str(),
            ),
            provider: services.provider.clone(),
            accounts: services.accounts,
            mailbox: services.mailbox.clone(),
            web: WebConfig {
                secure_cookies: config.secure_cookies(),
                session_ttl_secs: config.session_ttl_secs,
                admin_fresh: std::time::Duration::from_secs(config.admin_fresh_secs),
                verbund: Arc::new(verbund_face(&config)?),
                trusted_proxies: Arc::new(config.trusted_proxies.clone()),
                upstream_logins: Arc::new(
                    config
                        .upstreams
                        .iter()
                        .map(|u| (u.id.clone(), u.name.clone()))
                        .collect(),
                ),
                metrics_here: config
                    .metrics_listen
                    .is_none()
                    .then(|| metrics_access(&config)),
            },
        });
        let metrics = match config.metrics_listen {
            None => None,
            Some(addr) => Some((
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding BUERGERKONTO_METRICS_LISTEN {addr}"))?,
                crate::web::metrics::routes(services.ops.clone(), metrics_access(&config)),
            )),
        };
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            router: crate::web::router(state),
            limits: ServerLimits {
                header_timeout: Duration::from_secs(config.header_timeout_secs),
                body_timeout: Duration::from_secs(config.body_timeout_secs),
                max_connections: config.max_connections,
                grace: Duration::from_secs(config.shutdown_grace_secs),
            },
            provider: services.provider,
            mailbox: services.mailbox,
            rights,
            mailbox_interval: Duration::from_secs(config.mailbox_interval_secs),
            callback_deliver: config.callback_deliver,
            metrics,
            stop: None,
        })
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then finishes running requests within the grace period.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stop = match self.stop {
            Some(s) => s,
            None => StopSignals::listen()?,
        };
        // Background work lives with its owner; here it is only started and stopped.
        let mut workers = vec![
            self.provider.clone().spawn_worker(),
            self.mailbox.clone().spawn_worker(self.mailbox_interval),
            self.rights.clone().spawn_worker(self.mailbox_interval),
        ];
        if self.callback_deliver {
            workers.push(self.mailbox.spawn_callbacks()?);
        }
        if let Some((listener, router)) = self.metrics {
            workers.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            }));
        }
        let result =
            crate::web::server::serve(self.listener, self.router, self.limits, stop.received())
                .await
                .context("serving HTTP");
        for w in workers {
            w.abort();
        }
        result
    }
}

fn metrics_access(config: &Config) -> crate::web::metrics::MetricsAccess {
    crate::web::metrics::MetricsAccess {
        token: config.metrics_token.clone().map(Arc::new),
    }
}

/// The Verbund's name and logo for the neutral login; a logo that is not a harmless PNG or
/// SVG stops the start with the reason.
fn verbund_face(config: &Config) -> anyhow::Result<crate::web::state::VerbundFace> {
    let logo = match &config.verbund_logo {
        None => None,
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading BUERGERKONTO_VERBUND_LOGO {}", path.display()))?;
            let kind = crate::domain::brand::logo(&bytes)
                .map_err(|e| anyhow::anyhow!("BUERGERKONTO_VERBUND_LOGO: {e}"))?;
            Some((bytes, kind))
        }
    };
    Ok(crate::web::state::VerbundFace {
        name: config.verbund_name.clone(),
        logo,
    })
}
