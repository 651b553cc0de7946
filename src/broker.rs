//! Identity brokering: a citizen links an account at an upstream OpenID provider (ELSTER,
//! an eID gateway, another Bürgerkonto), or logs in with it. We are the relying party there:
//! code flow with PKCE, state and nonce; the ID token is verified with the upstream's JWKS;
//! its `acr` is mapped to our levels by configuration; verified attributes come from the
//! upstream's userinfo. A login is bound to the browser that began it (a cookie's digest in
//! the pending record), a link to the signed-in account.

use crate::config::UpstreamConfig;
use crate::crypto::{ct_eq, random_token, sha256, token_digest};
use crate::domain::claims::{VERIFIED_CLAIMS, verified_claim};
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::ephemeral::{Ephemeral, EphemeralError, Key};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long the citizen may take at the upstream provider.
pub const LINK_TTL: Duration = Duration::from_secs(600);
/// Largest upstream response read.
const MAX_RESPONSE: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("unknown upstream provider")]
    UnknownUpstream,
    #[error("the link request is unknown or expired")]
    InvalidState,
    #[error("the upstream provider refused: {0}")]
    Refused(String),
    #[error("the upstream provider's answer is invalid: {0}")]
    Invalid(String),
    #[error("the upstream provider cannot be reached: {0}")]
    Unreachable(String),
    #[error("too many round trips from this address")]
    TooMany,
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

/// What an upstream (OpenID or SAML) confirmed, before it is an account's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Confirmed {
    pub upstream: String,
    pub upstream_sub: String,
    pub level: Loa,
    /// Verified claims as (name, JSON value).
    pub claims: Vec<(String, String)>,
    /// The address the upstream confirmed, for a first login.
    pub email: Option<String>,
}

impl Confirmed {
    /// The confirmation as a link of `account`.
    #[must_use]
    pub fn into_assertion(&self, account: AccountId) -> Assertion {
        Assertion {
            account,
            upstream: self.upstream.clone(),
            upstream_sub: self.upstream_sub.clone(),
            level: self.level,
            claims: self.claims.clone(),
        }
    }
}

/// How a finished round trip continues.
#[derive(Debug)]
pub enum Completed {
    /// Link the signed-in account.
    Link(Assertion),
    /// Log in (or create the account), then continue the authorization request `req`.
    Login { confirmed: Confirmed, req: String },
}

/// What the upstream confirmed about the citizen.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub account: AccountId,
    pub upstream: String,
    pub upstream_sub: String,
    /// Our level for the upstream's `acr`.
    pub level: Loa,
    /// Verified claims as (name, JSON value).
    pub claims: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    /// The account to link; none for a login.
    account: Option<AccountId>,
    upstream: String,
    nonce: String,
    verifier: String,
    /// A login: the authorization request to continue, and the digest of the browser
    /// secret.
    #[serde(default)]
    req: String,
    #[serde(default)]
    browser: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
    access_token: String,
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    acr: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    aud: serde_json::Value,
}

/// The configured upstream providers; cheap to clone.
#[derive(Clone)]
pub struct Broker(Arc<Inner>);

struct Inner {
    upstreams: Vec<UpstreamConfig>,
    eph: Ephemeral,
    http: reqwest::Client,
    redirect_uri: String,
}

impl Broker {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        upstreams: Vec<UpstreamConfig>,
        eph: Ephemeral,
        issuer: &str,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("buergerkonto")
            .build()?;
        Ok(Self(Arc::new(Inner {
            upstreams,
            eph,
            http,
            redirect_uri: format!("{issuer}/konto/verknuepfen/callback"),
        })))
    }

    /// (id, name) of each configured upstream.
    pub fn upstreams(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .upstreams
            .iter()
            .map(|u| (u.id.as_str(), u.name.as_str()))
    }

    fn upstream(&self, id: &str) -> Result<&UpstreamConfig, BrokerError> {
        self.0
            .upstreams
            .iter()
            .find(|u| u.id == id && u.kind == crate::config::UpstreamKind::Openid)
            .ok_or(BrokerError::UnknownUpstream)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, BrokerError> {
        let unreachable = |e: reqwest::Error| BrokerError::Unreachable(e.to_string());
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|l| l > MAX_RESPONSE as u64)
        {
            return Err(BrokerError::Invalid("response too large".into()));
        }
        let body = resp.bytes().await.map_err(unreachable)?;
        if body.len() > MAX_RESPONSE {
            return Err(BrokerError::Invalid("response too large".into()));
        }
        if !status.is_success() {
            let err: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            return Err(BrokerError::Refused(
                err["error"].as_str().unwrap_or(status.as_str()).to_owned(),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| BrokerError::Invalid(e.to_string()))
    }

    async fn metadata(&self, u: &UpstreamConfig) -> Result<Metadata, BrokerError> {
        let issuer = u.issuer.trim_end_matches('/');
        let m: Metadata = self
            .get_json(
                self.0
                    .http
                    .get(format!("{issuer}/.well-known/openid-configuration")),
            )
            .await?;
        if m.issuer.trim_end_matches('/') != issuer {
            return Err(BrokerError::Invalid(
                "issuer in discovery does not match".into(),
            ));
        }
        // The client secret and the tokens travel to these: https only (plain http only when
        // the configured issuer itself is a loopback test setup).
        let plain_ok = issuer.starts_with("http://");
        for ep in [
            Some(&m.authorization_endpoint),
            Some(&m.token_endpoint),
            Some(&m.jwks_uri),
            m.userinfo_endpoint.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !(ep.starts_with("https://") || plain_ok && ep.starts_with("http://")) {
                return Err(BrokerError::Invalid(format!("endpoint {ep} is not https")));
            }
        }
        Ok(m)
    }

    /// Starts linking: remembers state, nonce and PKCE verifier, and returns the upstream
    /// authorization URL to send the browser to.
    ///
    /// # Errors
    /// Unknown upstream, an unreachable upstream, or the short-lived store.
    pub async fn begin(
        &self,
        upstream: &str,
        account: AccountId,
        ip: std::net::IpAddr,
    ) -> Result<String, BrokerError> {
        self.depart(upstream, Some(account), (String::new(), None), ip)
            .await
    }

    /// Starts a login: like [`Broker::begin`], for no account yet; returns the URL and the
    /// browser secret to set as a cookie (the answer is taken only with it).
    ///
    /// # Errors
    /// Unknown upstream, an unreachable upstream, or the short-lived store.
    pub async fn begin_login(
        &self,
        upstream: &str,
        req: String,
        ip: std::net::IpAddr,
    ) -> Result<(String, String), BrokerError> {
        let secret = random_token();
        let url = self
            .depart(upstream, None, (req, Some(token_digest(&secret))), ip)
            .await?;
        Ok((url, secret))
    }

    /// Whether `id` is an OpenID upstream of ours.
    #[must_use]
    pub fn has(&self, id: &str) -> bool {
        self.upstream(id).is_ok()
    }

    async fn depart(
        &self,
        upstream: &str,
        account: Option<AccountId>,
        (req, browser): (String, Option<String>),
        ip: std::net::IpAddr,
    ) -> Result<String, BrokerError> {
        let u = self.upstream(upstream)?;
        if !admit_round_trip(&self.0.eph, ip).await? {
            return Err(BrokerError::TooMany);
        }
        let m = self.metadata(u).await?;
        let state = random_token();
        let pending = Pending {
            account,
            upstream: u.id.clone(),
            nonce: random_token(),
            verifier: random_token(),
            req,
            browser,
        };
        let login = pending.account.is_none();
        let challenge = URL_SAFE_NO_PAD.encode(sha256(pending.verifier.as_bytes()));
        let mut url = url::Url::parse(&m.authorization_endpoint)
            .map_err(|e| BrokerError::Invalid(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &u.client_id)
                .append_pair("redirect_uri", &self.0.redirect_uri)
                .append_pair("scope", &u.scopes)
                .append_pair("state", &state)
                .append_pair("nonce", &pending.nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(acr) = &u.acr_values {
                q.append_pair("acr_values", acr);
            }
            if login {
                // A login here is a new login there (a shared computer).
                q.append_pair("prompt", "login");
            }
        }
        let json = serde_json::to_string(&pending).unwrap_or_default();
        self.0
            .eph
            .put(&Key::UpstreamLink(&state), &json, LINK_TTL)
            .await?;
        Ok(url.into())
    }

    /// Finishes a link or a login with the upstream's answer (each state once). A link must
    /// come back in the session of the account that started it (`session_account`), a
    /// login in the browser that started it (`browser_secret`, the cookie).
    ///
    /// # Errors
    /// `InvalidState` for an unknown state, another account or browser, `Refused`/
    /// `Invalid`/`Unreachable` for upstream problems.
    pub async fn complete(
        &self,
        state: &str,
        code: &str,
        iss: Option<&str>,
        (session_account, browser_secret): (Option<AccountId>, Option<&str>),
    ) -> Result<Completed, BrokerError> {
        if state.len() > 64 {
            return Err(BrokerError::InvalidState);
        }
        let pending: Pending = self
            .0
            .eph
            .take(&Key::UpstreamLink(state))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .filter(|p: &Pending| match (p.account, &p.browser) {
                (Some(a), _) => session_account == Some(a),
                (None, Some(digest)) => browser_secret
                    .is_some_and(|s| ct_eq(token_digest(s).as_bytes(), digest.as_bytes())),
                (None, None) => false,
            })
            .ok_or(BrokerError::InvalidState)?;
        let u = self.upstream(&pending.upstream)?;
        let m = self.metadata(u).await?;
        // RFC 9207: an answer from another issuer is a mix-up attack.
        if iss.is_some_and(|i| i.trim_end_matches('/') != m.issuer.trim_end_matches('/'))
            || (iss.is_none() && m.authorization_response_iss_parameter_supported)
        {
            return Err(BrokerError::Invalid(
                "iss is missing or does not match".into(),
            ));
        }
        let tokens: TokenResponse = self
            .get_json(
                self.0
                    .http
                    .post(&m.token_endpoint)
                    .basic_auth(form_enc(&u.client_id), Some(form_enc(&u.client_secret)))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code),
                        ("redirect_uri", &self.0.redirect_uri),
                        ("code_verifier", &pending.verifier),
                    ]),
            )
            .await?;
        let claims = self.verify_id_token(u, &m, &tokens.id_token).await?;
        if claims.nonce.as_deref() != Some(pending.nonce.as_str()) {
            return Err(BrokerError::Invalid("nonce does not match".into()));
        }
        // OIDC Core §3.1.3.7: with several audiences, azp must name us.
        let several = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        if claims.azp.as_ref().is_some_and(|a| a != &u.client_id)
            || (several && claims.azp.is_none())
        {
            return Err(BrokerError::Invalid(
                "azp is missing or another client".into(),
            ));
        }
        let level = claims
            .acr
            .as_deref()
            .and_then(|a| u.acr_map.get(a))
            .and_then(|l| Loa::from_name(l))
            .unwrap_or(Loa::Low);
        let mut verified = Vec::new();
        let mut email = None;
        if let Some(ep) = &m.userinfo_endpoint {
            let info: Value = self
                .get_json(self.0.http.get(ep).bearer_auth(&tokens.access_token))
                .await?;
            // OIDC Core §5.3.2: userinfo for another subject must not be used.
            if info["sub"].as_str() != Some(claims.sub.as_str()) {
                return Err(BrokerError::Invalid("userinfo sub does not match".into()));
            }
            // A value that does not have the standard form is left out, not stored.
            for name in VERIFIED_CLAIMS {
                if let Some(v) = info.get(name)
                    && let Ok(stored) = verified_claim(name, v)
                {
                    verified.push((name.to_owned(), stored));
                }
            }
            // Only an address the upstream says it confirmed (OIDC Core §5.1).
            if info["email_verified"].as_bool() == Some(true) {
                email = info["email"].as_str().map(str::to_owned);
            }
        }
        let confirmed = Confirmed {
            upstream: u.id.clone(),
            upstream_sub: claims.sub,
            level,
            claims: verified,
            email,
        };
        Ok(match pending.account {
            Some(account) => Completed::Link(confirmed.into_assertion(account)),
            None => Completed::Login {
                confirmed,
                req: pending.req,
            },
        })
    }

    async fn verify_id_token(
        &self,
        u: &UpstreamConfig,
        m: &Metadata,
        id_token: &str,
    ) -> Result<IdClaims, BrokerError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|e| BrokerError::Invalid(format!("id_token: {e}")))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::PS256 | Algorithm::EdDSA
        ) {
            return Err(BrokerError::Invalid(
                "id_token algorithm not allowed".into(),
            ));
        }
        let set: JwkSet = self.get_json(self.0.http.get(&m.jwks_uri)).await?;
        let mut last = String::from("no matching key");
        for jwk in set
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let mut v = Validation::new(header.alg);
            v.leeway = 30;
            v.set_issuer(&[&m.issuer]);
            v.set_audience(&[&u.client_id]);
            v.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
            match jsonwebtoken::decode::<IdClaims>(id_token, &key, &v) {
                Ok(d) => return Ok(d.claims),
                Err(e) => last = e.to_string(),
            }
        }
        Err(BrokerError::Invalid(format!("id_token: {last}")))
    }
}

/// Round trips to upstreams (OpenID or SAML) one client address may begin in [`LINK_TTL`]:
/// each holds a record for ten minutes (and a SAML one costs a signature).
const ROUND_TRIPS_PER_IP: u64 = 60;

/// Counts a round trip begun from `ip`; `false` once the address is over the limit.
///
/// # Errors
/// When the short-lived store fails.
pub async fn admit_round_trip(
    eph: &Ephemeral,
    ip: std::net::IpAddr,
) -> Result<bool, EphemeralError> {
    let key = Key::PerAddress(crate::ephemeral::PerAddress::UpstreamRoundTrips, ip);
    Ok(eph.incr_window(&key, LINK_TTL).await? <= ROUND_TRIPS_PER_IP)
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic authentication.
fn form_enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
