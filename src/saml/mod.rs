//! SAML 2.0 upstreams (BundID, *Mein Unternehmenskonto*): we are the service provider in the
//! Web Browser SSO profile. This room keeps the IdPs' metadata (refreshed), our keys, and the
//! short-lived state of each round trip; the messages themselves are in [`message`]. It knows
//! nothing of accounts or pages: it answers "this upstream confirmed this subject at this
//! level, for this purpose, in this browser".
//!
//! A round trip: [`Saml::begin`] stores a pending request under a random `RelayState` and
//! returns the signed `AuthnRequest` and a browser secret (a cookie). The IdP posts the
//! response to the ACS, cross-site, so without our cookies: [`Saml::arrive`] checks it
//! against the pending request, accepts each assertion id once, and parks the result under a
//! one-time token. The browser then comes back by a 303 (a top-level GET, which carries our
//! cookies): [`Saml::finish`] takes the result only with the secret of the browser that began.

pub mod keys;
pub mod message;

use crate::config::{UpstreamConfig, UpstreamKind};
use crate::crypto::{ct_eq, random_token, token_digest};
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::ephemeral::{Ephemeral, EphemeralError, Key};
use keys::SpKeys;
use message::{Check, Departure, Idp, Request, ResponseError, signature_template};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long the citizen may take at the IdP.
pub const ROUND_TRIP_TTL: Duration = Duration::from_secs(600);
/// How long a checked response waits for the browser's return.
const LANDED_TTL: Duration = Duration::from_secs(120);
/// Largest metadata document read.
const MAX_METADATA: usize = 1024 * 1024;
/// Refused responses after which a round trip is given up (each costs a signature check).
const MAX_FAILURES: u64 = 5;
/// How long our signed metadata is served before it is signed again.
const METADATA_CACHE: Duration = Duration::from_secs(3600);
/// After a failed metadata load, the next try waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("unknown SAML upstream")]
    UnknownUpstream,
    #[error("the upstream's metadata is not available: {0}")]
    Unavailable(String),
    #[error("the round trip is unknown, expired, or from another browser")]
    InvalidState,
    #[error("the assertion was already used")]
    Replayed,
    #[error("too many round trips from this address")]
    TooMany,
    #[error(transparent)]
    Response(#[from] ResponseError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
}

/// Why the round trip was made, and what to do with its result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Purpose {
    /// Log in (or create the account), then continue the authorization request `req`
    /// (empty: the account page).
    Login { req: String },
    /// Link the upstream identity to the signed-in account.
    Link { account: AccountId },
    /// Confirm the signed-in account's level at the upstream, then continue `req`.
    StepUp { account: AccountId, req: String },
}

pub use crate::broker::Confirmed;

#[derive(Serialize, Deserialize)]
struct Pending {
    upstream: String,
    request_id: String,
    purpose: Purpose,
    min_level: Loa,
    /// Digest of the browser secret.
    browser: String,
}

#[derive(Serialize, Deserialize)]
struct Landed {
    purpose: Purpose,
    browser: String,
    confirmed: Confirmed,
}

struct Upstream {
    cfg: UpstreamConfig,
    entity_id: String,
    acs: String,
    trust: Option<samael::crypto::CertificateDer>,
    idp: RwLock<Option<(Arc<Idp>, Instant)>>,
    /// Our signed metadata and when it was signed.
    metadata: RwLock<Option<(Arc<str>, Instant)>>,
    /// One reload at a time; the time of the last failed one.
    reload: tokio::sync::Mutex<Option<Instant>>,
}

/// The SAML upstreams; cheap to clone.
#[derive(Clone)]
pub struct Saml(Arc<Inner>);

struct Inner {
    ups: Vec<Upstream>,
    keys: Option<SpKeys>,
    eph: Ephemeral,
    http: reqwest::Client,
}

impl Saml {
    /// Takes the `kind = "saml"` upstreams; loads (or makes) our keys when there is one.
    /// Metadata is read in the background from now on, and at first use if that failed.
    ///
    /// # Errors
    /// When the keys cannot be read or written, or a trust certificate is unreadable.
    pub async fn new(
        cfgs: &[UpstreamConfig],
        keys_dir: &std::path::Path,
        issuer: &str,
        eph: Ephemeral,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut ups = Vec::new();
        for cfg in cfgs.iter().filter(|u| u.kind == UpstreamKind::Saml) {
            let trust = match &cfg.idp_metadata_cert {
                Some(path) => {
                    let pem = std::fs::read(path).with_context(|| format!("reading {path}"))?;
                    let cert = openssl::x509::X509::from_pem(&pem)
                        .with_context(|| format!("{path} is not a PEM certificate"))?;
                    Some(samael::crypto::CertificateDer::from(cert.to_der()?))
                }
                None => None,
            };
            ups.push(Upstream {
                entity_id: cfg
                    .entity_id
                    .clone()
                    .unwrap_or_else(|| format!("{issuer}/saml/{}", cfg.id)),
                acs: format!("{issuer}/saml/{}/acs", cfg.id),
                trust,
                cfg: cfg.clone(),
                idp: RwLock::new(None),
                metadata: RwLock::new(None),
                reload: tokio::sync::Mutex::new(None),
            });
        }
        let keys = if ups.is_empty() {
            None
        } else {
            Some(SpKeys::load_or_init(keys_dir, issuer)?)
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("buergerkonto")
            .build()?;
        let saml = Self(Arc::new(Inner {
            ups,
            keys,
            eph,
            http,
        }));
        // Read ahead, off the start: an IdP that does not answer (a URL with its 10 s
        // timeout) must not hold up the server; the first login reads it otherwise.
        for i in 0..saml.0.ups.len() {
            let saml = saml.clone();
            tokio::spawn(async move {
                let u = &saml.0.ups[i];
                if let Err(e) = saml.idp(u).await {
                    tracing::warn!(upstream = %u.cfg.id, error = %e, "SAML metadata not loaded at start");
                }
            });
        }
        Ok(saml)
    }

    /// (id, name) of each SAML upstream.
    pub fn upstreams(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .ups
            .iter()
            .map(|u| (u.cfg.id.as_str(), u.cfg.name.as_str()))
    }

    #[must_use]
    pub fn has(&self, id: &str) -> bool {
        self.0.ups.iter().any(|u| u.cfg.id == id)
    }

    fn up(&self, id: &str) -> Result<&Upstream, SamlError> {
        self.0
            .ups
            .iter()
            .find(|u| u.cfg.id == id)
            .ok_or(SamlError::UnknownUpstream)
    }

    fn keys(&self) -> Result<&SpKeys, SamlError> {
        self.0.keys.as_ref().ok_or(SamlError::UnknownUpstream)
    }

    /// The IdP's metadata, read again when it is older than the refresh interval. A failed
    /// refresh keeps the old metadata (and is retried after [`RETRY_AFTER_FAILURE`]).
    async fn idp(&self, u: &Upstream) -> Result<Arc<Idp>, SamlError> {
        let refresh = Duration::from_secs(u.cfg.metadata_refresh_secs.max(60));
        let current = u.idp.read().ok().and_then(|g| g.clone());
        if let Some((idp, at)) = &current
            && at.elapsed() < refresh
        {
            return Ok(idp.clone());
        }
        let mut failed = u.reload.lock().await;
        // Another task may have reloaded while we waited.
        if let Some((idp, at)) = u.idp.read().ok().and_then(|g| g.clone())
            && at.elapsed() < refresh
        {
            return Ok(idp);
        }
        if let Some(at) = *failed
            && at.elapsed() < RETRY_AFTER_FAILURE
        {
            return current
                .map(|(idp, _)| idp)
                .ok_or_else(|| SamlError::Unavailable("the last load failed".into()));
        }
        match self.load(u).await {
            Ok(idp) => {
                let idp = Arc::new(idp);
                if let Ok(mut g) = u.idp.write() {
                    *g = Some((idp.clone(), Instant::now()));
                }
                *failed = None;
                Ok(idp)
            }
            Err(e) => {
                *failed = Some(Instant::now());
                tracing::warn!(upstream = %u.cfg.id, error = %e, "SAML metadata could not be read");
                current.map(|(idp, _)| idp).ok_or(SamlError::Unavailable(e))
            }
        }
    }

    async fn load(&self, u: &Upstream) -> Result<Idp, String> {
        let src = &u.cfg.idp_metadata;
        let xml = if src.starts_with("https://") || src.starts_with("http://") {
            let resp = self
                .0
                .http
                .get(src)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("metadata answered {}", resp.status()));
            }
            let body = resp.bytes().await.map_err(|e| e.to_string())?;
            if body.len() > MAX_METADATA {
                return Err("metadata too large".into());
            }
            String::from_utf8(body.to_vec()).map_err(|_| "metadata is not UTF-8".to_owned())?
        } else {
            let data = tokio::fs::read(src)
                .await
                .map_err(|e| format!("reading {src}: {e}"))?;
            if data.len() > MAX_METADATA {
                return Err("metadata too large".into());
            }
            String::from_utf8(data).map_err(|_| "metadata is not UTF-8".to_owned())?
        };
        let trust = u.trust.clone();
        // libxmlsec1 work off the async threads.
        tokio::task::spawn_blocking(move || Idp::parse(&xml, trust.as_ref()))
            .await
            .map_err(|e| e.to_string())?
    }

    /// Starts a round trip: the signed `AuthnRequest` for `min_level` (forcing a new login at
    /// the IdP when `force`), and the browser secret to set as a cookie.
    ///
    /// # Errors
    /// Unknown upstream, metadata not available, or the short-lived store.
    pub async fn begin(
        &self,
        id: &str,
        purpose: Purpose,
        (min_level, force): (Loa, bool),
        ip: std::net::IpAddr,
    ) -> Result<(Departure, String), SamlError> {
        let u = self.up(id)?;
        if !crate::broker::admit_round_trip(&self.0.eph, ip).await? {
            return Err(SamlError::TooMany);
        }
        let idp = self.idp(u).await?;
        let keys = self.keys()?;
        let relay_state = random_token();
        let request_id = format!("_{}", random_token().replace('-', "_"));
        let secret = random_token();
        let request = Request {
            upstream: u.cfg.clone(),
            idp,
            entity_id: u.entity_id.clone(),
            acs: u.acs.clone(),
            id: request_id.clone(),
            level: min_level,
            relay_state: relay_state.clone(),
            force,
        };
        // Signing is libxmlsec1 / RSA work: off the async threads.
        let keys = keys.clone();
        let departure = tokio::task::spawn_blocking(move || request.departure(&keys))
            .await
            .map_err(|e| SamlError::Unavailable(e.to_string()))?
            .map_err(SamlError::Unavailable)?;
        let pending = Pending {
            upstream: u.cfg.id.clone(),
            request_id,
            purpose,
            min_level,
            browser: token_digest(&secret),
        };
        self.0
            .eph
            .put(
                &Key::SamlPending(&relay_state),
                &serde_json::to_string(&pending).unwrap_or_default(),
                ROUND_TRIP_TTL,
            )
            .await?;
        Ok((departure, secret))
    }

    /// Checks the IdP's response at the ACS. Returns the one-time token under which the
    /// result waits for the browser.
    ///
    /// # Errors
    /// `InvalidState` for an unknown `RelayState`, `Response` for a refused response,
    /// `Replayed` for an assertion seen before.
    pub async fn arrive(
        &self,
        id: &str,
        saml_response: &str,
        relay_state: &str,
    ) -> Result<String, SamlError> {
        let u = self.up(id)?;
        if relay_state.is_empty() || relay_state.len() > 80 {
            return Err(SamlError::InvalidState);
        }
        // Read, not taken: a forged response must not use up the citizen's round trip.
        let pending: Pending = self
            .0
            .eph
            .get(&Key::SamlPending(relay_state))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .filter(|p: &Pending| p.upstream == u.cfg.id)
            .ok_or(SamlError::InvalidState)?;
        let idp = self.idp(u).await?;
        let check = Check {
            upstream: u.cfg.clone(),
            idp,
            keys: self.keys()?.clone(),
            entity_id: u.entity_id.clone(),
            acs: u.acs.clone(),
            request_id: pending.request_id.clone(),
            min_level: pending.min_level,
        };
        let response = saml_response.to_owned();
        let verified = match tokio::task::spawn_blocking(move || check.verify(&response))
            .await
            .map_err(|e| SamlError::Unavailable(e.to_string()))?
        {
            Ok(v) => v,
            Err(e) => {
                // A round trip takes a few wrong answers (a cancel, a retry), not endless
                // signature checks of forgeries.
                let failures = self
                    .0
                    .eph
                    .incr_window(&Key::SamlFailures(relay_state), ROUND_TRIP_TTL)
                    .await?;
                if failures >= MAX_FAILURES {
                    self.0.eph.delete(&Key::SamlPending(relay_state)).await?;
                }
                return Err(e.into());
            }
        };
        // Each assertion once, for as long as it could be presented (SAML Profiles
        // §4.1.4.5); claimed only now that everything else holds.
        let ttl = verified
            .not_on_or_after
            .map(|t| (t - chrono::Utc::now()).num_seconds() + 120)
            .unwrap_or(600)
            .clamp(120, 86_400);
        let seen = token_digest(&format!("{}\n{}", u.cfg.id, verified.assertion_id));
        if !self
            .0
            .eph
            .put_if_absent(
                &Key::SamlAssertion(&seen),
                "1",
                Duration::from_secs(u64::try_from(ttl).unwrap_or(600)),
            )
            .await?
        {
            return Err(SamlError::Replayed);
        }
        // The round trip ends here: one response per request.
        let pending: Pending = self
            .0
            .eph
            .take(&Key::SamlPending(relay_state))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or(SamlError::InvalidState)?;
        let landed = Landed {
            purpose: pending.purpose,
            browser: pending.browser,
            confirmed: Confirmed {
                upstream: u.cfg.id.clone(),
                upstream_sub: verified.subject,
                level: verified.level,
                claims: verified.claims,
                email: verified.email,
            },
        };
        let token = random_token();
        self.0
            .eph
            .put(
                &Key::SamlLanded(&token_digest(&token)),
                &serde_json::to_string(&landed).unwrap_or_default(),
                LANDED_TTL,
            )
            .await?;
        Ok(token)
    }

    /// The result of a round trip, once, in the browser that began it.
    ///
    /// # Errors
    /// `InvalidState` for an unknown token or another browser.
    pub async fn finish(
        &self,
        token: &str,
        browser_secret: Option<&str>,
    ) -> Result<(Purpose, Confirmed), SamlError> {
        if token.is_empty() || token.len() > 80 {
            return Err(SamlError::InvalidState);
        }
        let Some(secret) = browser_secret else {
            return Err(SamlError::InvalidState);
        };
        let landed: Landed = self
            .0
            .eph
            .take(&Key::SamlLanded(&token_digest(token)))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or(SamlError::InvalidState)?;
        if !ct_eq(landed.browser.as_bytes(), token_digest(secret).as_bytes()) {
            return Err(SamlError::InvalidState);
        }
        Ok((landed.purpose, landed.confirmed))
    }

    /// Our signed SP metadata for the upstream: entity id, ACS, certificates (current and,
    /// during a rollover, previous), the attributes we request.
    ///
    /// # Errors
    /// Unknown upstream, or signing fails.
    pub async fn metadata(&self, id: &str) -> Result<String, SamlError> {
        let u = self.up(id)?;
        if let Some((xml, at)) = u.metadata.read().ok().and_then(|g| g.clone())
            && at.elapsed() < METADATA_CACHE
        {
            return Ok(xml.to_string());
        }
        let keys = self.keys()?.clone();
        let xml = sp_metadata(u, &keys);
        let signed: Arc<str> =
            tokio::task::spawn_blocking(move || message::sign(&xml, keys.signer()))
                .await
                .map_err(|e| SamlError::Unavailable(e.to_string()))?
                .map_err(SamlError::Unavailable)?
                .into();
        if let Ok(mut g) = u.metadata.write() {
            *g = Some((signed.clone(), Instant::now()));
        }
        Ok(signed.to_string())
    }
}

fn sp_metadata(u: &Upstream, keys: &SpKeys) -> String {
    let id = format!("_{}", random_token().replace('-', "_"));
    let valid_until = (chrono::Utc::now() + chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let key_descriptor = |use_: &str, p: &keys::Pair, methods: &str| {
        format!(
            r#"<md:KeyDescriptor use="{use_}"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>"#,
            p.cert_b64()
        )
    };
    let enc_methods = concat!(
        r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes128-gcm"/>"#,
        r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>"#,
        r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>"#
    );
    let mut kd = key_descriptor("signing", &keys.signing, "");
    if let Some(p) = &keys.previous_signing {
        kd.push_str(&key_descriptor("signing", p, ""));
    }
    kd.push_str(&key_descriptor("encryption", &keys.encryption, enc_methods));
    if let Some(p) = &keys.previous_encryption {
        kd.push_str(&key_descriptor("encryption", p, enc_methods));
    }
    let names = message::requested_attributes(&u.cfg);
    let mut requested = String::new();
    for (n, required) in &names {
        requested.push_str(&format!(
            r#"<md:RequestedAttribute Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" isRequired="{required}"/>"#,
            message::esc(n)
        ));
    }
    let acs_service = if names.is_empty() {
        String::new()
    } else {
        format!(
            r#"<md:AttributeConsumingService index="0" isDefault="true"><md:ServiceName xml:lang="de">{}</md:ServiceName>{requested}</md:AttributeConsumingService>"#,
            message::esc(&u.cfg.name)
        )
    };
    format!(
        concat!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="{id}" entityID="{entity}" validUntil="{valid_until}">"#,
            "{signature}",
            r#"<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            "{kd}",
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"#,
            r#"<md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>"#,
            "{acs_service}",
            r#"</md:SPSSODescriptor></md:EntityDescriptor>"#
        ),
        id = id,
        entity = message::esc(&u.entity_id),
        valid_until = valid_until,
        signature = signature_template(&id, &keys.signer().cert_b64()),
        kd = kd,
        post = message::POST_BINDING,
        acs = message::esc(&u.acs),
        acs_service = acs_service,
    )
}
