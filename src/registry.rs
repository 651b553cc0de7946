//! Registering clients: turns what an operator (CLI) or an admin (API) asks for into a
//! checked [`Client`] with fresh credentials. Uses domain and crypto; storing is the caller's.

use crate::crypto::{random_bytes, random_token, sha256};
use crate::domain::client::{
    Client, ClientAuthMethod, GrantType, RedirectUri, SigningAlg, SubjectType,
};
use crate::domain::ids::{ClientId, TenantId};
use crate::domain::scope::Scopes;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// A registration request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[serde(default)]
    pub public: bool,
    /// `client_secret_basic` (default), `client_secret_post`, `private_key_jwt`, `none`.
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub subject_type: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// `low`, `substantial` or `high`: the level every login for this client needs.
    #[serde(default)]
    pub default_level: Option<String>,
}

/// The request that describes an existing client (to change some of it and check it again).
#[must_use]
pub fn request_of(c: &Client) -> NewClient {
    let strings = |v: &[RedirectUri]| v.iter().map(|u| u.as_str().to_owned()).collect();
    NewClient {
        name: c.name.clone(),
        redirect_uris: strings(&c.redirect_uris),
        post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
        public: c.is_public(),
        token_endpoint_auth_method: Some(c.auth_method.as_str().to_owned()),
        grant_types: c
            .grant_types
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        scopes: c.scopes.to_vec(),
        subject_type: Some(
            match c.subject_type {
                SubjectType::Pairwise => "pairwise",
                SubjectType::Public => "public",
            }
            .to_owned(),
        ),
        id_token_signed_response_alg: Some(c.id_token_alg.as_str().to_owned()),
        jwks: c.jwks.clone(),
        jwks_uri: c.jwks_uri.clone(),
        backchannel_logout_uri: c
            .backchannel_logout_uri
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        default_level: c.default_level.map(|l| l.name().to_owned()),
    }
}

/// Checks a registration request and makes the client; returns the secret in clear (shown
/// once) for the secret methods.
///
/// # Errors
/// A message saying what is wrong.
pub fn register(tenant: TenantId, req: NewClient) -> Result<(Client, Option<String>), String> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err("name must be 1 to 200 characters".into());
    }
    let uris = |v: &[String]| -> Result<Vec<RedirectUri>, String> {
        v.iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| format!("{u}: {e}")))
            .collect()
    };
    let redirect_uris = uris(&req.redirect_uris)?;
    let post_logout_redirect_uris = uris(&req.post_logout_redirect_uris)?;
    let mut grants = req
        .grant_types
        .iter()
        .map(|g| GrantType::parse(g).ok_or_else(|| format!("unknown grant type {g}")))
        .collect::<Result<Vec<_>, _>>()?;
    if grants.is_empty() {
        grants.push(if redirect_uris.is_empty() {
            GrantType::ClientCredentials
        } else {
            GrantType::AuthorizationCode
        });
    }
    grants.sort_by_key(|g| g.as_str());
    grants.dedup();
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err("authorization_code needs at least one redirect URI".into());
    }
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode)
    {
        return Err("refresh_token goes with authorization_code".into());
    }
    let auth_method = match (req.public, req.token_endpoint_auth_method.as_deref()) {
        (true, None | Some("none")) => ClientAuthMethod::None,
        (true, Some(_)) => {
            return Err("a public client has no token endpoint authentication".into());
        }
        (false, None) => ClientAuthMethod::ClientSecretBasic,
        (false, Some(m)) => ClientAuthMethod::parse(m)
            .ok_or_else(|| format!("unknown authentication method {m}"))?,
    };
    if auth_method == ClientAuthMethod::None && grants.contains(&GrantType::ClientCredentials) {
        return Err("a public client cannot use client_credentials".into());
    }
    // RFC 8252 §8.3: a native app's loopback redirect names the IP literal; `localhost` (or
    // `localhost.`, `*.localhost`) may resolve elsewhere and another program could take it.
    if auth_method == ClientAuthMethod::None
        && let Some(u) = redirect_uris
            .iter()
            .find(|u| crate::domain::client::names_localhost(u.as_str()))
    {
        return Err(format!(
            "{}: a public client's loopback redirect URI must use 127.0.0.1 or [::1], not localhost (RFC 8252 §8.3)",
            u.as_str()
        ));
    }
    let (jwks, jwks_uri) = match auth_method {
        ClientAuthMethod::PrivateKeyJwt => match (req.jwks, req.jwks_uri) {
            (Some(j), None) => (Some(check_jwks(j)?), None),
            (None, Some(u)) => (
                None,
                Some(
                    RedirectUri::parse(&u)
                        .map_err(|e| format!("jwks_uri: {e}"))?
                        .as_str()
                        .to_owned(),
                ),
            ),
            _ => return Err("private_key_jwt needs exactly one of jwks and jwks_uri".into()),
        },
        _ if req.jwks.is_some() || req.jwks_uri.is_some() => {
            return Err("jwks and jwks_uri go with private_key_jwt".into());
        }
        _ => (None, None),
    };
    let scopes = if req.scopes.is_empty() {
        if grants == [GrantType::ClientCredentials] {
            Scopes::default()
        } else {
            ["openid", "email"].into_iter().collect()
        }
    } else {
        Scopes::parse(&req.scopes.join(" "))?
    };
    if grants.contains(&GrantType::AuthorizationCode) && !scopes.contains("openid") {
        return Err("a client of the authorization code flow needs the openid scope".into());
    }
    let subject_type = match req.subject_type.as_deref() {
        None | Some("pairwise") => SubjectType::Pairwise,
        Some("public") => SubjectType::Public,
        Some(other) => return Err(format!("unknown subject type {other} (pairwise, public)")),
    };
    let id_token_alg = match req.id_token_signed_response_alg.as_deref() {
        None => SigningAlg::RS256,
        Some(a) => SigningAlg::parse(a)
            .ok_or_else(|| format!("unsupported algorithm {a} (RS256, ES256)"))?,
    };
    let backchannel_logout_uri = req
        .backchannel_logout_uri
        .map(|u| RedirectUri::parse(&u).map_err(|e| format!("backchannel_logout_uri: {e}")))
        .transpose()?;
    let secret = matches!(
        auth_method,
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
    )
    .then(random_token);
    let client = Client {
        id: ClientId(URL_SAFE_NO_PAD.encode(random_bytes::<16>())),
        tenant_id: tenant,
        name: name.to_owned(),
        auth_method,
        secret_hash: secret.as_ref().map(|s| sha256(s.as_bytes()).to_vec()),
        previous_secret: None,
        jwks,
        jwks_uri,
        backchannel_logout_uri,
        redirect_uris,
        post_logout_redirect_uris,
        grant_types: grants,
        scopes,
        subject_type,
        id_token_alg,
        default_level: req
            .default_level
            .as_deref()
            .map(|l| {
                crate::domain::level::Loa::from_name(l)
                    .ok_or_else(|| format!("unknown level {l} (low, substantial, high)"))
            })
            .transpose()?,
    };
    Ok((client, secret))
}

/// A JWK Set of public keys only.
fn check_jwks(j: serde_json::Value) -> Result<serde_json::Value, String> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(j.clone()).map_err(|e| format!("jwks is not a JWK Set: {e}"))?;
    if set.keys.is_empty() {
        return Err("jwks has no keys".into());
    }
    let private = j["keys"].as_array().is_some_and(|ks| {
        ks.iter()
            .any(|k| k.get("d").is_some() || k.get("k").is_some())
    });
    if private {
        return Err("jwks must hold public keys only".into());
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> NewClient {
        NewClient {
            name: "Portal".into(),
            redirect_uris: vec!["https://p.example/cb".into()],
            ..NewClient::default()
        }
    }

    #[test]
    fn defaults_and_rules() {
        let (c, s) = register(TenantId::new(), req()).expect("valid");
        assert_eq!(c.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert!(s.is_some() && c.secret_hash.is_some());
        assert_eq!(c.grant_types, vec![GrantType::AuthorizationCode]);
        let (c, s) = register(
            TenantId::new(),
            NewClient {
                public: true,
                ..req()
            },
        )
        .expect("public");
        assert!(c.is_public() && s.is_none());
        let m2m = NewClient {
            redirect_uris: vec![],
            ..req()
        };
        let (c, _) = register(TenantId::new(), m2m).expect("m2m");
        assert_eq!(c.grant_types, vec![GrantType::ClientCredentials]);
        assert!(
            register(
                TenantId::new(),
                NewClient {
                    public: true,
                    grant_types: vec!["client_credentials".into()],
                    ..req()
                }
            )
            .is_err()
        );
        assert!(
            register(
                TenantId::new(),
                NewClient {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    ..req()
                }
            )
            .is_err()
        );
        let private = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]});
        assert!(
            register(
                TenantId::new(),
                NewClient {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    jwks: Some(private),
                    ..req()
                }
            )
            .is_err()
        );
        assert!(
            register(
                TenantId::new(),
                NewClient {
                    grant_types: vec!["refresh_token".into()],
                    ..req()
                }
            )
            .is_err()
        );
        assert!(
            register(
                TenantId::new(),
                NewClient {
                    name: " ".into(),
                    ..req()
                }
            )
            .is_err()
        );
    }
}
