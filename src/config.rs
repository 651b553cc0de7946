//! Configuration: `buergerkonto.toml` (optional) overlaid by `BUERGERKONTO_*` environment
//! variables, validated into [`Config`] once at start-up. Nothing reads the environment later.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// What the file and the environment may say, before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawConfig {
    pub issuer: String,
    pub listen: String,
    pub database_url: String,
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several installations can share one Redis.
    pub redis_prefix: String,
    pub keys_dir: String,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub outbox_dir: String,
    /// Seconds an ID token and an access token are valid.
    pub token_ttl_secs: u64,
    /// Seconds a refresh token family lives at most, and unused at most.
    pub refresh_token_ttl_secs: u64,
    pub refresh_token_idle_secs: u64,
    /// Seconds a login session lasts.
    pub session_ttl_secs: u64,
    /// Failed logins per account (e-mail) and per client address in the window before refusing.
    pub login_max_failures_per_account: u64,
    pub login_max_failures_per_ip: u64,
    pub login_failure_window_secs: u64,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: String,
    /// Upstream identity providers a citizen may link (`[[upstreams]]` tables in the file).
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    /// Seconds after the first new message before the citizen is mailed (one mail per burst).
    #[serde(default = "default_notify_delay")]
    pub mailbox_notify_delay_secs: u64,
    /// Days that deleted and expired messages keep their content before it is purged.
    #[serde(default = "default_retention_days")]
    pub mailbox_retention_days: u64,
    /// Seconds between the mailbox's background rounds (notifications, expiry, purging).
    #[serde(default = "default_mailbox_interval")]
    pub mailbox_interval_secs: u64,
    /// Days between a citizen's request to delete the account and the deletion; a login in
    /// between cancels it.
    #[serde(default = "default_deletion_grace")]
    pub deletion_grace_days: u64,
    /// Days without a login after which an account is deleted (0: never). BundID deletes after
    /// two years unused.
    #[serde(default = "default_inactive_days")]
    pub inactive_delete_days: u64,
    /// Days before that deletion that the warning mail goes out; a login in between keeps
    /// the account.
    #[serde(default = "default_inactive_warn_days")]
    pub inactive_warn_days: u64,
    /// Seconds within which the console's graver actions (revoking, disabling, revealing a
    /// secret) need the admin's second factor to have been given.
    #[serde(default = "default_admin_fresh")]
    pub admin_fresh_secs: u64,
    /// The Verbund's name on the neutral login (without a portal), e.g. "Bürgerkonto
    /// Landkreis Emsland".
    #[serde(default = "default_verbund_name")]
    pub verbund_name: String,
    /// A PNG or SVG file with the Verbund's logo for the neutral login (none: no logo).
    #[serde(default)]
    pub verbund_logo: String,
    /// Seconds a client has to send a complete request head, and that an idle keep-alive
    /// connection stays open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Longest pause, in seconds, between two pieces of a request body.
    #[serde(default = "default_body_timeout")]
    pub body_timeout_secs: u64,
    /// Most HTTP connections open at once (lowered to fit the open-file limit).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds that running requests may take to finish after SIGTERM.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// AAGUIDs (comma-separated) of authenticators whose device-bound passkeys give *high*;
    /// empty: every device-bound passkey does.
    #[serde(default)]
    pub passkey_high_aaguids: String,
    /// A PEM file with the attestation root certificates of those authenticators.
    #[serde(default)]
    pub passkey_attestation_roots: Option<String>,
    /// The in-process short-lived store (without Redis) holds at most this many MiB.
    #[serde(default = "default_memory_store_max_mb")]
    pub memory_store_max_mb: usize,
    /// Authorization requests that wait for a login or consent (each is held up to 10
    /// minutes) per client address (IPv6: per /64) in 10 minutes, with or without a session.
    #[serde(default = "default_authorize_pending_per_ip")]
    pub authorize_pending_per_ip: u64,
    /// A portal shows mailbox content above *low*, and records evidence, only with a token
    /// from a login at most this many seconds old.
    #[serde(default = "default_portal_max_age")]
    pub mailbox_portal_max_age_secs: u64,
    /// At most one unrequested mail (reset link, resent confirmation link, "already
    /// registered" notice) per address in this many seconds.
    #[serde(default = "default_mail_interval")]
    pub mail_interval_secs: u64,
    /// The operator's Markdown files for the legal pages (`impressum.md`, `impressum.en.md`,
    /// `datenschutz.md`, ...); a missing file shows the shipped template.
    #[serde(default = "default_legal_dir")]
    pub legal_dir: String,
    /// Where barrier reports from the accessibility statement go; empty: the address of
    /// `smtp_from`.
    #[serde(default)]
    pub feedback_to: String,
    /// The ClamAV daemon that scans every mailbox attachment: `tcp://HOST:PORT` or
    /// `unix:///run/clamav/clamd.ctl`; empty: no scanning.
    #[serde(default)]
    pub clamd: String,
    /// Accept attachments unscanned while clamd cannot be reached (default: refuse, 503).
    #[serde(default)]
    pub clamd_fail_open: bool,
    /// One callback delivery may take this many seconds (connect, send, answer).
    #[serde(default = "default_callback_timeout")]
    pub callback_timeout_secs: u64,
    /// The first retry of a failed callback waits this long; each further one twice as long
    /// (at most an hour).
    #[serde(default = "default_callback_retry_base")]
    pub callback_retry_base_secs: u64,
    /// A callback is given up (dead-lettered) this many seconds after it was queued.
    #[serde(default = "default_callback_give_up")]
    pub callback_give_up_secs: u64,
    /// Also accept `http://` callback URLs (a receiver on the same host); default https only.
    #[serde(default)]
    pub callback_allow_http: bool,
    /// Whether this instance delivers callbacks (all do by default; the outbox's leases keep
    /// them from sending one twice at the same time).
    #[serde(default = "default_true")]
    pub callback_deliver: bool,
    /// When a message counts as announced: `ozg` (§ 9 Abs. 1 OZG, the default), `baydig`
    /// (Art. 24 Abs. 2 BayDiG) or `vwvfg` (§ 41 Abs. 2a VwVfG).
    #[serde(default = "default_announcement_rule")]
    pub announcement_rule: String,
    /// Move an announcement date on a Saturday, Sunday or holiday to the next working day.
    #[serde(default)]
    pub announcement_next_working_day: bool,
    /// The Land's holidays besides the nationwide ones, `YYYY-MM-DD`, comma-separated.
    #[serde(default)]
    pub announcement_holidays: String,
    /// Serve `/metrics` on this address (`127.0.0.1:9464`) instead of the main listener.
    #[serde(default)]
    pub metrics_listen: String,
    /// When set, `/metrics` asks for `Authorization: Bearer <this token>`.
    #[serde(default)]
    pub metrics_token: String,
    /// How long a request waits for a database connection before it is answered 503.
    #[serde(default = "default_backend_timeout_ms")]
    pub db_timeout_ms: u64,
    /// How long a request waits for Redis before it is answered 503.
    #[serde(default = "default_backend_timeout_ms")]
    pub redis_timeout_ms: u64,
}

fn default_backend_timeout_ms() -> u64 {
    1000
}

fn default_true() -> bool {
    true
}
fn default_callback_timeout() -> u64 {
    10
}
fn default_callback_retry_base() -> u64 {
    10
}
fn default_callback_give_up() -> u64 {
    24 * 3600
}
fn default_announcement_rule() -> String {
    "ozg".into()
}

fn default_legal_dir() -> String {
    "legal".into()
}

fn default_notify_delay() -> u64 {
    60
}
fn default_retention_days() -> u64 {
    90
}
fn default_mailbox_interval() -> u64 {
    10
}
fn default_deletion_grace() -> u64 {
    14
}
fn default_inactive_days() -> u64 {
    730
}
fn default_inactive_warn_days() -> u64 {
    30
}
fn default_admin_fresh() -> u64 {
    600
}
fn default_verbund_name() -> String {
    "Bürgerkonto".into()
}
fn default_header_timeout() -> u64 {
    15
}
fn default_body_timeout() -> u64 {
    15
}
fn default_max_connections() -> usize {
    4096
}
fn default_shutdown_grace() -> u64 {
    20
}
fn default_memory_store_max_mb() -> usize {
    256
}
fn default_authorize_pending_per_ip() -> u64 {
    60
}
fn default_portal_max_age() -> u64 {
    900
}
fn default_mail_interval() -> u64 {
    60
}

/// An upstream identity provider (BundID, Mein Unternehmenskonto, ELSTER, an eID gateway)
/// that confirms identities: OpenID Connect (`kind = "openid"`, the default) or SAML 2.0
/// (`kind = "saml"`). `Debug` leaves out the client secret.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Short id used in URLs and as the provenance of verified data (`upstream:ID`).
    pub id: String,
    /// Name shown to citizens ("BundID").
    pub name: String,
    #[serde(default)]
    pub kind: UpstreamKind,
    /// OpenID: the upstream issuer; its discovery document is read from
    /// `ISSUER/.well-known/openid-configuration`.
    #[serde(default)]
    pub issuer: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    /// OpenID: scopes to ask for.
    #[serde(default = "default_upstream_scopes")]
    pub scopes: String,
    /// OpenID: `acr_values` to send upstream, if any.
    #[serde(default)]
    pub acr_values: Option<String>,
    /// The level map: an upstream `acr` (OpenID) or `AuthnContextClassRef` / level attribute
    /// value (SAML) -> our level (`low`, `substantial`, `high`). OpenID: an `acr` that is not
    /// listed counts as `low`. SAML: empty means the standard map of `level_vocabulary`; a
    /// value that is not listed is refused.
    #[serde(default)]
    pub acr_map: std::collections::BTreeMap<String, String>,
    /// SAML: the IdP's metadata, a file path or an https URL (read again every
    /// `metadata_refresh_secs`).
    #[serde(default)]
    pub idp_metadata: String,
    /// SAML: a PEM certificate file; when set, the metadata must carry a valid signature by it.
    #[serde(default)]
    pub idp_metadata_cert: Option<String>,
    #[serde(default = "default_metadata_refresh")]
    pub metadata_refresh_secs: u64,
    /// SAML: how the `AuthnRequest` travels, `redirect` or `post`.
    #[serde(default)]
    pub binding: SamlBinding,
    /// SAML: the words for levels in requests: `stork` (`STORK-QAA-Level-1..4`, BundID) or
    /// `eidas` (`http://eidas.europa.eu/LoA/...`).
    #[serde(default)]
    pub level_vocabulary: LevelVocabulary,
    /// SAML: an attribute that carries the level, read instead of `AuthnContextClassRef`.
    #[serde(default)]
    pub level_attribute: Option<String>,
    /// SAML: the attribute that identifies the citizen for good (BundID: bPK2,
    /// `urn:oid:1.3.6.1.4.1.25484.494450.3`); without it, a persistent `NameID`.
    #[serde(default)]
    pub subject_attribute: Option<String>,
    /// SAML: attributes to request, by name, each with what it fills: `given_name`,
    /// `family_name`, `birthdate`, `email`, `address.street_address`, `address.postal_code`,
    /// `address.locality`, `address.country`.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// SAML: our entity id at this upstream (default `ISSUER/saml/ID`).
    #[serde(default)]
    pub entity_id: Option<String>,
}

/// The protocol an upstream speaks.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    #[default]
    Openid,
    Saml,
}

/// The binding of our SAML `AuthnRequest`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SamlBinding {
    #[default]
    Redirect,
    Post,
}

/// How levels are named in SAML requests and responses.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LevelVocabulary {
    #[default]
    Stork,
    Eidas,
}

/// The claims a SAML attribute may fill.
pub const SAML_TARGETS: [&str; 8] = [
    "given_name",
    "family_name",
    "birthdate",
    "email",
    "address.street_address",
    "address.postal_code",
    "address.locality",
    "address.country",
];

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("scopes", &self.scopes)
            .field("acr_values", &self.acr_values)
            .field("acr_map", &self.acr_map)
            .field("idp_metadata", &self.idp_metadata)
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

fn default_metadata_refresh() -> u64 {
    86_400
}

fn default_upstream_scopes() -> String {
    "openid profile address".into()
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            // A host name, not an address: browsers offer passkeys only for domains.
            issuer: "http://localhost:8080".into(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/buergerkonto.db".into(),
            redis_url: None,
            redis_prefix: "bk:".into(),
            keys_dir: "keys".into(),
            smtp_url: None,
            smtp_from: "Buergerkonto <noreply@buergerkonto.invalid>".into(),
            outbox_dir: "data/outbox".into(),
            token_ttl_secs: 300,
            refresh_token_ttl_secs: 30 * 86_400,
            refresh_token_idle_secs: 7 * 86_400,
            session_ttl_secs: 8 * 3600,
            login_max_failures_per_account: 10,
            login_max_failures_per_ip: 50,
            login_failure_window_secs: 900,
            trusted_proxies: String::new(),
            upstreams: Vec::new(),
            mailbox_notify_delay_secs: default_notify_delay(),
            mailbox_retention_days: default_retention_days(),
            mailbox_interval_secs: default_mailbox_interval(),
            deletion_grace_days: default_deletion_grace(),
            inactive_delete_days: default_inactive_days(),
            inactive_warn_days: default_inactive_warn_days(),
            admin_fresh_secs: default_admin_fresh(),
            verbund_name: default_verbund_name(),
            verbund_logo: String::new(),
            header_timeout_secs: default_header_timeout(),
            body_timeout_secs: default_body_timeout(),
            max_connections: default_max_connections(),
            shutdown_grace_secs: default_shutdown_grace(),
            passkey_high_aaguids: String::new(),
            passkey_attestation_roots: None,
            memory_store_max_mb: default_memory_store_max_mb(),
            authorize_pending_per_ip: default_authorize_pending_per_ip(),
            mailbox_portal_max_age_secs: default_portal_max_age(),
            mail_interval_secs: default_mail_interval(),
            legal_dir: default_legal_dir(),
            feedback_to: String::new(),
            clamd: String::new(),
            clamd_fail_open: false,
            callback_timeout_secs: default_callback_timeout(),
            callback_retry_base_secs: default_callback_retry_base(),
            callback_give_up_secs: default_callback_give_up(),
            callback_allow_http: false,
            callback_deliver: true,
            announcement_rule: default_announcement_rule(),
            announcement_next_working_day: false,
            announcement_holidays: String::new(),
            metrics_listen: String::new(),
            metrics_token: String::new(),
            db_timeout_ms: default_backend_timeout_ms(),
            redis_timeout_ms: default_backend_timeout_ms(),
        }
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    Smtp(crate::crypto::Secret),
    Outbox(PathBuf),
}

fn check_upstream(u: &UpstreamConfig) -> anyhow::Result<()> {
    if u.id.is_empty()
        || u.id.len() > 32
        || !u
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        bail!("upstream id {:?} must be 1-32 of a-z, 0-9 and -", u.id);
    }
    match u.kind {
        UpstreamKind::Openid => {
            let issuer = Url::parse(&u.issuer)
                .with_context(|| format!("upstream {}: issuer is not a URL", u.id))?;
            if !https_or_loopback(&issuer) {
                bail!("upstream {}: the issuer must use https", u.id);
            }
        }
        UpstreamKind::Saml => {
            if u.idp_metadata.is_empty() {
                bail!(
                    "upstream {}: idp_metadata (a file or an https URL) is missing",
                    u.id
                );
            }
            if let Ok(url) = Url::parse(&u.idp_metadata)
                && !https_or_loopback(&url)
            {
                bail!("upstream {}: idp_metadata must use https", u.id);
            }
            for (name, target) in &u.attributes {
                if !SAML_TARGETS.contains(&target.as_str()) {
                    bail!(
                        "upstream {}: attributes[{name:?}] = {target:?} must be one of {}",
                        u.id,
                        SAML_TARGETS.join(", ")
                    );
                }
            }
        }
    }
    for (acr, level) in &u.acr_map {
        if crate::domain::level::Loa::from_name(level).is_none() {
            bail!(
                "upstream {}: acr_map[{acr:?}] = {level:?} must be low, substantial or high",
                u.id
            );
        }
    }
    Ok(())
}

fn https_or_loopback(url: &Url) -> bool {
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer identifier, without a trailing slash.
    pub issuer: Url,
    pub listen: SocketAddr,
    pub database_url: crate::crypto::Secret,
    pub redis_url: Option<crate::crypto::Secret>,
    pub redis_prefix: String,
    pub keys_dir: PathBuf,
    pub mail: MailTransport,
    pub smtp_from: String,
    pub token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub refresh_token_idle_secs: u64,
    pub session_ttl_secs: u64,
    pub login_max_failures_per_account: u64,
    pub login_max_failures_per_ip: u64,
    pub login_failure_window_secs: u64,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub upstreams: Vec<UpstreamConfig>,
    pub mailbox_notify_delay_secs: u64,
    pub mailbox_retention_days: u64,
    pub mailbox_interval_secs: u64,
    pub deletion_grace_days: u64,
    pub inactive_delete_days: u64,
    pub inactive_warn_days: u64,
    pub admin_fresh_secs: u64,
    pub verbund_name: String,
    pub verbund_logo: Option<PathBuf>,
    pub header_timeout_secs: u64,
    pub body_timeout_secs: u64,
    pub max_connections: usize,
    pub shutdown_grace_secs: u64,
    pub passkey_high_aaguids: Vec<uuid::Uuid>,
    pub passkey_attestation_roots: Option<PathBuf>,
    pub memory_store_max_mb: usize,
    pub authorize_pending_per_ip: u64,
    pub mailbox_portal_max_age_secs: u64,
    pub mail_interval_secs: u64,
    pub legal_dir: PathBuf,
    pub feedback_to: crate::domain::account::EmailAddress,
    pub scanner: crate::mailbox::scan::Scanner,
    pub callbacks: crate::mailbox::callback::Settings,
    /// Whether this instance delivers callbacks.
    pub callback_deliver: bool,
    pub announcement: crate::domain::announcement::Rule,
    /// Where `/metrics` is served: `None` on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<crate::crypto::Secret>,
    /// How long a request waits for the database, and for Redis, before it gets a 503.
    pub db_timeout: Duration,
    pub redis_timeout: Duration,
}

impl Config {
    /// Reads `buergerkonto.toml` (or the file named by `BUERGERKONTO_CONFIG`) and the environment.
    ///
    /// # Errors
    /// When a value is malformed.
    pub fn load() -> anyhow::Result<Self> {
        let file =
            std::env::var("BUERGERKONTO_CONFIG").unwrap_or_else(|_| "buergerkonto.toml".into());
        let raw: RawConfig = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("BUERGERKONTO_").ignore(&[
                "CONFIG",
                "TEST_DATABASE_URL",
                "TEST_REDIS_URL",
            ]))
            .extract()
            .context("reading configuration (buergerkonto.toml, BUERGERKONTO_* variables)")?;
        Self::from_raw(raw)
    }

    /// # Errors
    /// When a value is malformed.
    pub fn from_raw(raw: RawConfig) -> anyhow::Result<Self> {
        let issuer = Url::parse(raw.issuer.trim_end_matches('/'))
            .with_context(|| format!("BUERGERKONTO_ISSUER is not a URL: {}", raw.issuer))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
        {
            bail!("BUERGERKONTO_ISSUER must be an http(s) URL without query or fragment");
        }
        if issuer.path() != "/" && !issuer.path().is_empty() {
            // Pages and endpoints are served at the root of the host; a path prefix would
            // need every link to carry it.
            bail!(
                "BUERGERKONTO_ISSUER must not have a path (serve Bürgerkonto at the root of its host name)"
            );
        }
        let listen: SocketAddr = raw.listen.parse().with_context(|| {
            format!("BUERGERKONTO_LISTEN is not an address:port: {}", raw.listen)
        })?;
        if !(raw.database_url.starts_with("sqlite:")
            || raw.database_url.starts_with("postgres://")
            || raw.database_url.starts_with("postgresql://"))
        {
            bail!("BUERGERKONTO_DATABASE_URL must start with sqlite: or postgres://");
        }
        if let Some(r) = &raw.redis_url {
            if r.starts_with("redis+sentinel://") {
                if let Err(e) = crate::ephemeral::redis::check_sentinel_address(r) {
                    bail!("BUERGERKONTO_REDIS_URL: {e}");
                }
            } else if !(r.starts_with("redis://") || r.starts_with("rediss://")) {
                bail!(
                    "BUERGERKONTO_REDIS_URL must start with redis://, rediss:// or redis+sentinel://"
                );
            }
        }
        let trusted_proxies = raw
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse().with_context(|| {
                    format!("BUERGERKONTO_TRUSTED_PROXIES: {p} is not an IP address")
                })
            })
            .collect::<anyhow::Result<Vec<std::net::IpAddr>>>()?;
        for u in &raw.upstreams {
            check_upstream(u)?;
        }
        let passkey_high_aaguids = raw
            .passkey_high_aaguids
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| {
                uuid::Uuid::parse_str(a).with_context(|| {
                    format!("BUERGERKONTO_PASSKEY_HIGH_AAGUIDS: {a} is not an AAGUID")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let passkey_attestation_roots = raw
            .passkey_attestation_roots
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        if !passkey_high_aaguids.is_empty() && passkey_attestation_roots.is_none() {
            bail!(
                "BUERGERKONTO_PASSKEY_HIGH_AAGUIDS needs BUERGERKONTO_PASSKEY_ATTESTATION_ROOTS (a PEM file)"
            );
        }
        let mail = match raw.smtp_url.filter(|s| !s.is_empty()) {
            Some(u) => MailTransport::Smtp(crate::crypto::Secret::new(u)),
            None => MailTransport::Outbox(PathBuf::from(raw.outbox_dir)),
        };
        let feedback_raw = if raw.feedback_to.trim().is_empty() {
            // "Name <address>" or a bare address.
            raw.smtp_from
                .rsplit_once('<')
                .map_or(raw.smtp_from.as_str(), |(_, a)| a.trim_end_matches('>'))
                .trim()
                .to_owned()
        } else {
            raw.feedback_to.trim().to_owned()
        };
        let feedback_to =
            crate::domain::account::EmailAddress::parse(&feedback_raw).map_err(|e| {
                anyhow::anyhow!("BUERGERKONTO_FEEDBACK_TO is not an address ({e}): {feedback_raw}")
            })?;
        let scanner = if raw.clamd.trim().is_empty() {
            crate::mailbox::scan::Scanner::Off
        } else {
            crate::mailbox::scan::Scanner::Clamd {
                addr: crate::mailbox::scan::ClamdAddr::parse(raw.clamd.trim())
                    .map_err(|e| anyhow::anyhow!("BUERGERKONTO_CLAMD: {e}"))?,
                fail_open: raw.clamd_fail_open,
            }
        };
        let mut announcement = crate::domain::announcement::Rule::named(
            raw.announcement_rule.trim(),
        )
        .ok_or_else(|| {
            anyhow::anyhow!(
                "BUERGERKONTO_ANNOUNCEMENT_RULE is ozg, baydig or vwvfg, not {:?}",
                raw.announcement_rule
            )
        })?;
        announcement.next_working_day = raw.announcement_next_working_day;
        for d in raw
            .announcement_holidays
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            announcement.extra_holidays.push(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    anyhow::anyhow!("BUERGERKONTO_ANNOUNCEMENT_HOLIDAYS: {d:?} is not YYYY-MM-DD")
                })?,
            );
        }
        let callbacks = crate::mailbox::callback::Settings {
            timeout: Duration::from_secs(raw.callback_timeout_secs.clamp(1, 60)),
            retry_base: Duration::from_secs(raw.callback_retry_base_secs.clamp(1, 3600)),
            // At most 30 days: a larger value would overflow date arithmetic.
            give_up_after: Duration::from_secs(raw.callback_give_up_secs.clamp(1, 30 * 86_400)),
            allow_http: raw.callback_allow_http,
            ..crate::mailbox::callback::Settings::default()
        };
        let metrics_listen = match raw.metrics_listen.trim() {
            "" => None,
            a => Some(a.parse::<SocketAddr>().with_context(|| {
                format!("BUERGERKONTO_METRICS_LISTEN is not an address:port: {a}")
            })?),
        };
        let metrics_token = match raw.metrics_token.trim() {
            "" => None,
            t if t.len() < 16 => {
                bail!("BUERGERKONTO_METRICS_TOKEN must have at least 16 characters")
            }
            t => Some(crate::crypto::Secret::new(t.to_owned())),
        };
        Ok(Self {
            metrics_listen,
            metrics_token,
            db_timeout: Duration::from_millis(raw.db_timeout_ms.clamp(100, 60_000)),
            redis_timeout: Duration::from_millis(raw.redis_timeout_ms.clamp(100, 60_000)),
            scanner,
            callbacks,
            callback_deliver: raw.callback_deliver,
            announcement,
            issuer,
            listen,
            database_url: crate::crypto::Secret::new(raw.database_url),
            redis_url: raw
                .redis_url
                .filter(|s| !s.is_empty())
                .map(crate::crypto::Secret::new),
            redis_prefix: raw.redis_prefix,
            keys_dir: PathBuf::from(raw.keys_dir),
            mail,
            smtp_from: raw.smtp_from,
            token_ttl_secs: raw.token_ttl_secs.clamp(60, 86_400),
            refresh_token_ttl_secs: raw.refresh_token_ttl_secs.clamp(1, 365 * 86_400),
            refresh_token_idle_secs: raw.refresh_token_idle_secs.clamp(1, 365 * 86_400),
            session_ttl_secs: raw.session_ttl_secs.clamp(300, 30 * 86_400),
            login_max_failures_per_account: raw.login_max_failures_per_account.max(1),
            login_max_failures_per_ip: raw.login_max_failures_per_ip.max(1),
            login_failure_window_secs: raw.login_failure_window_secs.max(1),
            trusted_proxies,
            upstreams: raw.upstreams,
            mailbox_notify_delay_secs: raw.mailbox_notify_delay_secs.min(86_400),
            mailbox_retention_days: raw.mailbox_retention_days.min(3650),
            mailbox_interval_secs: raw.mailbox_interval_secs.clamp(1, 3600),
            deletion_grace_days: raw.deletion_grace_days.min(365),
            inactive_delete_days: raw.inactive_delete_days.min(36_500),
            // The warning comes at least a day before, and never before the account is a day old.
            inactive_warn_days: raw
                .inactive_warn_days
                .clamp(1, raw.inactive_delete_days.saturating_sub(1).max(1)),
            admin_fresh_secs: raw.admin_fresh_secs.clamp(1, 3600),
            verbund_name: {
                let name = raw.verbund_name.trim();
                if name.is_empty()
                    || name.chars().count() > 200
                    || name.chars().any(char::is_control)
                {
                    anyhow::bail!(
                        "BUERGERKONTO_VERBUND_NAME must be 1 to 200 characters on one line"
                    );
                }
                name.to_owned()
            },
            verbund_logo: Some(raw.verbund_logo.trim())
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            header_timeout_secs: raw.header_timeout_secs.clamp(1, 300),
            body_timeout_secs: raw.body_timeout_secs.clamp(1, 300),
            max_connections: raw.max_connections.clamp(1, 1_000_000),
            shutdown_grace_secs: raw.shutdown_grace_secs.min(3600),
            passkey_high_aaguids,
            passkey_attestation_roots,
            memory_store_max_mb: raw.memory_store_max_mb.clamp(16, 1 << 20),
            authorize_pending_per_ip: raw.authorize_pending_per_ip.max(1),
            mailbox_portal_max_age_secs: raw.mailbox_portal_max_age_secs.clamp(1, 86_400),
            mail_interval_secs: raw.mail_interval_secs.clamp(1, 86_400),
            legal_dir: PathBuf::from(raw.legal_dir),
            feedback_to,
        })
    }

    /// The issuer as a string without trailing slash: the `iss` value.
    #[must_use]
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// Whether cookies must carry `Secure`.
    #[must_use]
    pub fn secure_cookies(&self) -> bool {
        self.issuer.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_debug_leaves_out_the_client_secret() {
        let u = UpstreamConfig {
            id: "bundid".into(),
            name: "BundID".into(),
            issuer: "https://id.bund.de".into(),
            client_id: "kreis".into(),
            client_secret: "very-secret-value".into(),
            scopes: default_upstream_scopes(),
            ..Default::default()
        };
        let shown = format!("{u:?}");
        assert!(shown.contains("kreis") && !shown.contains("very-secret-value"));
    }

    #[test]
    fn validates_issuer_and_urls() {
        let ok = Config::from_raw(RawConfig::default()).expect("defaults are valid");
        assert_eq!(ok.issuer_str(), "http://localhost:8080");
        assert!(!ok.secure_cookies());
        let with = |f: fn(&mut RawConfig)| {
            let mut r = RawConfig::default();
            f(&mut r);
            Config::from_raw(r)
        };
        assert!(
            with(|r| r.issuer = "https://konto.example.de/".into())
                .expect("trailing slash")
                .secure_cookies()
        );
        assert!(
            with(|r| r.issuer = "https://example.de/konto".into()).is_err(),
            "no path"
        );
        assert!(with(|r| r.issuer = "ftp://example.de".into()).is_err());
        assert!(with(|r| r.listen = "localhost".into()).is_err());
        assert!(with(|r| r.database_url = "mysql://x".into()).is_err());
        assert!(with(|r| r.redis_url = Some("http://x".into())).is_err());
        assert!(with(|r| r.redis_url = Some("redis+sentinel://s:26379".into())).is_err());
        assert!(with(|r| r.redis_url = Some("redis+sentinel://s:26379/bk".into())).is_ok());
        assert_eq!(
            with(|r| r.trusted_proxies = "10.0.0.1, ::1".into())
                .expect("proxies")
                .trusted_proxies
                .len(),
            2
        );
        assert!(with(|r| r.trusted_proxies = "10.0.0.0/8".into()).is_err());
    }
}
