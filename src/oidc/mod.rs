//! The OpenID Connect protocol engine: validates requests, decides, issues and checks
//! tokens. No axum and no SQL: it works on parsed parameters and calls `store`, `ephemeral`
//! and `keyring`; `web::oidc` adapts it to HTTP.
//!
//! Specs: OpenID Connect Core 1.0, Discovery 1.0, RP-Initiated Logout 1.0, Back-Channel
//! Logout 1.0; RFC 6749 (OAuth 2.0), RFC 7636 (PKCE), RFC 7009 (revocation), RFC 7523
//! (`private_key_jwt`), RFC 7662 (introspection), RFC 9068 (JWT access tokens), RFC 9207
//! (`iss` in authorization responses), RFC 9700 (security BCP).

pub mod access_token;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod code;
pub mod consent;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod introspect;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;
pub mod worker;

use crate::account::AccountService;
use crate::authn::Sessions;
use crate::clock::Clock;
use crate::domain::client::Client;
use crate::ephemeral::Ephemeral;
use crate::keyring::Keyring;
use crate::store::{Db, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lifetimes of issued tokens and limits of the protocol engine.
#[derive(Clone, Copy, Debug)]
pub struct TokenSettings {
    /// Authorization requests that wait for the citizen, per client address in
    /// [`PENDING_TTL_SECS`]: each one is held until it ends or expires.
    pub pending_requests_per_ip: u64,
    /// ID and access tokens, seconds.
    pub token_ttl: u64,
    /// Absolute lifetime of a refresh token family, seconds.
    pub refresh_ttl: u64,
    /// How long a refresh token may lie unused, seconds.
    pub refresh_idle: u64,
    /// An upstream (BundID) can confirm levels: a citizen short of a level is offered the
    /// step-up there instead of a dead end.
    pub upstream_step_up: bool,
}

/// Everything the protocol engine needs; cheap to clone (one `Arc`), as every request does.
#[derive(Clone)]
pub struct Provider(Arc<ProviderInner>);

impl std::ops::Deref for Provider {
    type Target = ProviderInner;
    fn deref(&self) -> &ProviderInner {
        &self.0
    }
}

/// A fetched JWK Set, or why it could not be had.
type JwksFetch = Result<serde_json::Value, String>;

pub struct ProviderInner {
    /// Storage and the short-lived store are the engine's own: handlers reach them only
    /// through its methods.
    db: Db,
    eph: Ephemeral,
    pub keys: Arc<Keyring>,
    /// Login sessions: the flow records in them which portals got tokens.
    sessions: Sessions,
    /// Accounts: the flow reads their proofing level and second factors.
    accounts: AccountService,
    /// Issuer identifier without trailing slash.
    pub issuer: String,
    /// Lifetime of ID and access tokens, seconds.
    pub token_ttl: u64,
    pub settings: TokenSettings,
    /// Where expiry is decided: refresh tokens, pending requests, revocations.
    clock: Clock,
    /// Outgoing HTTP: client `jwks_uri`s and back-channel logout.
    http: reqwest::Client,
    clients: Mutex<HashMap<String, (Arc<Client>, Instant)>>,
    /// Fetched client JWK Sets, and failed fetches (for a short while).
    jwks: Mutex<HashMap<String, (JwksFetch, Instant)>>,
    /// One fetch at a time per `jwks_uri`: concurrent misses wait for it instead of each
    /// sending a request.
    jwks_fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The web origins of all clients' redirect URIs, and when they were read.
    web_origins: Mutex<Option<(Arc<std::collections::HashSet<String>>, Instant)>>,
    /// When each client's last use was last written (at most once a minute each).
    client_touches: Mutex<HashMap<String, Instant>>,
}

/// Scopes this provider knows.
/// Longest client id looked up.
pub const MAX_CLIENT_ID: usize = 128;

pub const SUPPORTED_SCOPES: [&str; 6] = [
    "openid",
    "email",
    "profile",
    "address",
    "mailbox.read",
    "offline_access",
];
/// How long an authorization code is valid (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECS: u64 = 60;
/// How long a pending authorization request (while the citizen logs in) is kept.
pub const PENDING_TTL_SECS: u64 = 10 * 60;
/// How long a client registration is cached in each instance: changes by `client add` and
/// the admin API take effect within this time.
pub const CLIENT_CACHE: Duration = Duration::from_secs(10);
/// How long a fetched client JWKS is cached.
pub const JWKS_CACHE: Duration = Duration::from_secs(300);
/// How long a failed `jwks_uri` fetch is remembered: a client with a broken or slow key
/// server makes no more than one outgoing request in this time, however often it calls.
pub const JWKS_FAILURE_CACHE: Duration = Duration::from_secs(30);
/// The largest client JWK Set read, counted while it streams in.
pub const JWKS_MAX_BYTES: usize = 64 * 1024;

impl Provider {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        (db, eph, keys): (Db, Ephemeral, Arc<Keyring>),
        sessions: Sessions,
        accounts: AccountService,
        issuer: String,
        settings: TokenSettings,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("buergerkonto")
            .build()?;
        Ok(Self(Arc::new(ProviderInner {
            db,
            eph,
            keys,
            sessions,
            accounts,
            issuer,
            token_ttl: settings.token_ttl,
            settings,
            clock,
            http,
            clients: Mutex::default(),
            jwks: Mutex::default(),
            jwks_fetching: Mutex::default(),
            web_origins: Mutex::default(),
            client_touches: Mutex::default(),
        })))
    }

    /// A client by id, from a short cache (the token endpoint's hot path).
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn client(&self, id: &str) -> Result<Arc<Client>, StoreError> {
        // Client ids are 22 characters; anything long, or with control characters (an
        // unverified assertion's `iss`), is unknown without a database query.
        if id.is_empty()
            || id.len() > MAX_CLIENT_ID
            || crate::domain::text::has_forbidden_controls(id)
        {
            return Err(StoreError::NotFound);
        }
        let now = Instant::now();
        if let Some((c, at)) = lock(&self.clients).get(id)
            && now.duration_since(*at) < CLIENT_CACHE
        {
            return Ok(c.clone());
        }
        let c = Arc::new(self.db.clients().by_id(id).await?);
        let mut cache = lock(&self.clients);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (c.clone(), now));
        Ok(c)
    }

    /// Drops a client from this instance's cache after an administrator changed it, so the
    /// change (a disabled client, a new secret, other redirect URIs) applies at once here;
    /// other instances see it within [`CLIENT_CACHE`].
    pub fn forget_client(&self, id: &str) {
        lock(&self.clients).remove(id);
        *lock(&self.web_origins) = None;
    }

    /// Drops every cached client (a tenant was disabled or enabled).
    pub fn forget_clients(&self) {
        lock(&self.clients).clear();
        *lock(&self.web_origins) = None;
    }

    /// Records that the client authenticated (its "last use" in the administration): at
    /// most once a minute per client and instance, in the background, so the token
    /// endpoint never waits for it.
    pub(crate) fn touch_client(&self, id: &crate::domain::ids::ClientId) {
        let now = Instant::now();
        {
            let mut touches = lock(&self.client_touches);
            if touches
                .get(id.as_str())
                .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60))
            {
                return;
            }
            if touches.len() > 10_000 {
                touches.clear();
            }
            touches.insert(id.as_str().to_owned(), now);
        }
        let (db, id) = (self.db.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = db.clients().touch(&id, chrono::Utc::now()).await {
                tracing::warn!(client_id = %id, error = %e, "could not record the client's last use");
            }
        });
    }

    /// Whether a browser app at `origin` may read our answers (CORS, never with
    /// credentials): `origin` is the web origin of one of `client`'s redirect URIs, or,
    /// before the client is known (a preflight, a failed client authentication), of any
    /// client's. The set of all origins is read at most every [`CLIENT_CACHE`].
    ///
    /// # Errors
    /// A backend error.
    pub async fn origin_allowed(
        &self,
        origin: &str,
        client: Option<&Client>,
    ) -> Result<bool, StoreError> {
        if let Some(c) = client {
            return Ok(c.has_web_origin(origin));
        }
        if let Some((set, at)) = lock(&self.web_origins).as_ref()
            && at.elapsed() < CLIENT_CACHE
        {
            return Ok(set.contains(origin));
        }
        let set: std::collections::HashSet<String> = self
            .db
            .clients()
            .all_redirect_uris()
            .await?
            .iter()
            .filter_map(|u| crate::domain::client::web_origin(u))
            .collect();
        let allowed = set.contains(origin);
        *lock(&self.web_origins) = Some((Arc::new(set), Instant::now()));
        Ok(allowed)
    }

    /// The client's JWK Set: registered inline, or fetched from its `jwks_uri` (cached; a
    /// failure is cached briefly too).
    ///
    /// # Errors
    /// A description when the set cannot be had.
    pub async fn client_jwks(&self, client: &Client) -> Result<serde_json::Value, String> {
        if let Some(j) = &client.jwks {
            return Ok(j.clone());
        }
        let uri = client.jwks_uri.as_ref().ok_or("client has no JWKS")?;
        if let Some(cached) = self.cached_jwks(uri) {
            return cached;
        }
        let gate = {
            let mut fetching = lock(&self.jwks_fetching);
            if fetching.len() > 10_000 {
                fetching.clear();
            }
            fetching.entry(uri.clone()).or_default().clone()
        };
        let _one_at_a_time = gate.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(cached) = self.cached_jwks(uri) {
            return cached;
        }
        let fetched = self.fetch_jwks(uri).await;
        let mut cache = lock(&self.jwks);
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(uri.clone(), (fetched.clone(), Instant::now()));
        fetched
    }

    /// A cached key set (or cached failure) that is still fresh.
    fn cached_jwks(&self, uri: &str) -> Option<JwksFetch> {
        let cache = lock(&self.jwks);
        let (cached, at) = cache.get(uri)?;
        let ttl = if cached.is_ok() {
            JWKS_CACHE
        } else {
            JWKS_FAILURE_CACHE
        };
        (at.elapsed() < ttl).then(|| cached.clone())
    }

    /// GETs a JWK Set, reading at most [`JWKS_MAX_BYTES`] whatever `Content-Length` says.
    async fn fetch_jwks(&self, uri: &str) -> Result<serde_json::Value, String> {
        let mut resp = self
            .http
            .get(uri)
            .send()
            .await
            .map_err(|e| format!("fetching jwks_uri: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("jwks_uri answered {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > JWKS_MAX_BYTES as u64)
        {
            return Err("jwks_uri document too large".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading jwks_uri: {e}"))?
        {
            if body.len() + chunk.len() > JWKS_MAX_BYTES {
                return Err("jwks_uri document too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("jwks_uri is not JSON: {e}"))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
