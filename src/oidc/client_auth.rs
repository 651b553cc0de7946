//! Client authentication (RFC 6749 §2.3, OIDC Core §9): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2), and `none` for public clients
//! (which must then prove possession through PKCE).

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::{ct_eq, sha256, token_digest};
use crate::domain::client::{Client, ClientAuthMethod};
use crate::domain::params::Params;
use crate::ephemeral::Key;
use crate::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use std::time::Duration;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials as presented.
#[derive(Debug)]
pub enum Presented {
    Secret {
        client_id: String,
        secret: crate::crypto::Secret,
    },
    Assertion {
        client_id: Option<String>,
        assertion: crate::crypto::Secret,
    },
    None {
        client_id: String,
    },
}

fn invalid_client(d: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, d)
}

/// Reads the credentials from an `Authorization: Basic` header, the form, or a client assertion.
///
/// # Errors
/// `invalid_request` for two methods at once; `invalid_client` for malformed or missing credentials.
pub fn presented(authorization: Option<&str>, form: &Params) -> Result<Presented, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    let assertion_type = form.get("client_assertion_type");
    let assertion = form.get("client_assertion");
    let methods = usize::from(authorization.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion_type.is_some() || assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "use one client authentication method",
        ));
    }
    if assertion_type.is_some() || assertion.is_some() {
        if assertion_type != Some(JWT_BEARER) {
            return Err(invalid_client("unsupported client_assertion_type"));
        }
        let assertion = assertion.ok_or_else(|| invalid_client("client_assertion is missing"))?;
        return Ok(Presented::Assertion {
            client_id: form_id.map(str::to_owned),
            assertion: crate::crypto::Secret::new(assertion.to_owned()),
        });
    }
    if let Some(h) = authorization {
        let (scheme, value) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "unsupported Authorization scheme",
            ));
        }
        let bad = || invalid_client("malformed Basic credentials");
        let decoded = STANDARD.decode(value.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let id = percent_decode_str(&id.replace('+', " "))
            .decode_utf8()
            .map_err(|_| bad())?
            .into_owned();
        let secret = percent_decode_str(&secret.replace('+', " "))
            .decode_utf8()
            .map_err(|_| bad())?
            .into_owned();
        // The edge for Basic credentials: no control characters reach a lookup.
        if crate::domain::text::has_forbidden_controls(&id)
            || crate::domain::text::has_forbidden_controls(&secret)
        {
            return Err(bad());
        }
        if form_id.is_some_and(|f| f != id) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "client_id does not match the credentials",
            ));
        }
        return Ok(Presented::Secret {
            client_id: id,
            secret: crate::crypto::Secret::new(secret),
        });
    }
    let id = form_id
        .ok_or_else(|| invalid_client("client authentication is missing"))?
        .to_owned();
    Ok(match form_secret {
        Some(s) => Presented::Secret {
            client_id: id,
            secret: crate::crypto::Secret::new(s.to_owned()),
        },
        None => Presented::None { client_id: id },
    })
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    /// Checked by hand: one string, the issuer (jsonwebtoken would accept a list).
    aud: serde_json::Value,
    exp: i64,
    jti: String,
}

/// Algorithms accepted for client assertions (asymmetric only).
const ASSERTION_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS512,
];

/// The longest an assertion may be valid for: bounds the replay store.
const MAX_ASSERTION_LIFETIME: i64 = 3600;

impl Provider {
    /// Authenticates the client. Unknown clients and wrong credentials are the same error.
    ///
    /// # Errors
    /// `invalid_client` (401) on any failure to authenticate.
    pub async fn authenticate_client(
        &self,
        p: &Presented,
    ) -> Result<std::sync::Arc<Client>, OAuthError> {
        let failed = || invalid_client("client authentication failed");
        let id = match p {
            Presented::Secret { client_id, .. } | Presented::None { client_id } => {
                client_id.clone()
            }
            Presented::Assertion {
                client_id: Some(id),
                ..
            } => id.clone(),
            Presented::Assertion {
                client_id: None,
                assertion,
            } => unverified_iss(assertion.expose()).ok_or_else(failed)?,
        };
        let client = match self.client(&id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(failed()),
            Err(e) => return Err(e.into()),
        };
        match (p, client.auth_method) {
            (
                Presented::Secret { secret, .. },
                ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost,
            ) => {
                let presented = sha256(secret.expose().as_bytes());
                // After a rotation the previous secret works until its overlap ends. Both
                // comparisons always run, so timing does not tell which one matched.
                let current = client
                    .secret_hash
                    .as_ref()
                    .is_some_and(|h| ct_eq(h, &presented));
                let previous = client
                    .previous_secret
                    .as_ref()
                    .is_some_and(|(h, until)| ct_eq(h, &presented) & (chrono::Utc::now() < *until));
                if current | previous {
                    self.touch_client(&client.id);
                    Ok(client)
                } else {
                    Err(failed())
                }
            }
            (Presented::None { .. }, ClientAuthMethod::None) => {
                self.touch_client(&client.id);
                Ok(client)
            }
            (Presented::Assertion { assertion, .. }, ClientAuthMethod::PrivateKeyJwt) => {
                self.check_assertion(&client, assertion.expose()).await.map_err(|e| {
                    tracing::info!(client_id = %client.id, reason = %e, "client assertion refused");
                    failed()
                })?;
                self.touch_client(&client.id);
                Ok(client)
            }
            _ => Err(failed()),
        }
    }

    /// RFC 7523 §3: signature by a registered key, iss = sub = client_id, our audience,
    /// expiry, and a `jti` never seen before.
    ///
    /// The audience is the issuer identifier as a single string, nothing else (the 2025
    /// audience-injection fix: draft-ietf-oauth-rfc7523bis §4 and OIDC Core errata): an
    /// assertion made for another server's token endpoint, or one that lists several
    /// audiences, cannot be replayed here. A key must be meant for signing (`use` absent or
    /// `sig`) and, when it names an algorithm, be used with that one only.
    async fn check_assertion(&self, client: &Client, assertion: &str) -> Result<(), String> {
        if assertion.len() > 8192 {
            return Err("assertion too large".into());
        }
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| "malformed assertion")?;
        if !ASSERTION_ALGS.contains(&header.alg) {
            return Err("assertion algorithm not allowed".into());
        }
        let set: JwkSet = serde_json::from_value(self.client_jwks(client).await?)
            .map_err(|e| format!("client JWKS malformed: {e}"))?;
        let candidates: Vec<_> = set
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
            .filter(|k| {
                matches!(
                    k.common.public_key_use,
                    None | Some(PublicKeyUse::Signature)
                )
            })
            .filter(|k| {
                k.common
                    .key_algorithm
                    .is_none_or(|a| a == KeyAlgorithm::from(header.alg))
            })
            .collect();
        let mut last = String::from("no key of the client is meant for this signature");
        for jwk in candidates {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let mut v = Validation::new(header.alg);
            v.leeway = 30;
            v.set_issuer(&[&client.id.0]);
            v.validate_aud = false;
            v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            match jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v) {
                Ok(data) => {
                    let c = data.claims;
                    let now = chrono::Utc::now().timestamp();
                    if c.sub != client.id.0 || c.iss != client.id.0 {
                        return Err("iss and sub must be the client_id".into());
                    }
                    if c.aud.as_str() != Some(self.issuer.as_str()) {
                        return Err("aud must be the issuer identifier, as one string".into());
                    }
                    if c.exp - now > MAX_ASSERTION_LIFETIME {
                        return Err("assertion lives too long".into());
                    }
                    if c.jti.is_empty() || c.jti.len() > 256 {
                        return Err("jti missing".into());
                    }
                    let ttl =
                        Duration::from_secs(u64::try_from(c.exp - now + 60).unwrap_or(60).max(60));
                    let digest = token_digest(&c.jti);
                    let key = Key::AssertionJti(client.id.as_str(), &digest);
                    if !self
                        .eph
                        .put_if_absent(&key, "1", ttl)
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        return Err("assertion jti replayed".into());
                    }
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// The `iss` of a JWT, without verifying it (only to find the client whose keys verify it).
fn unverified_iss(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["iss"].as_str().map(str::to_owned)
}
