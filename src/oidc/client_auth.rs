//! Client authentication at the token endpoint (RFC 6749 §2.3, OIDC Core §9):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients (which must
//! then prove possession through PKCE).

use super::Provider;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::{ct_eq, sha256};
use crate::domain::client::Client;
use crate::domain::params::Params;
use crate::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

/// Credentials as presented.
#[derive(Debug)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub via_basic: bool,
}

/// Reads the credentials from an `Authorization: Basic` header and/or the form.
///
/// # Errors
/// `invalid_request` for a malformed header or two methods at once; `invalid_client` when
/// no client is named.
pub fn presented(authorization: Option<&str>, form: &Params) -> Result<Presented, OAuthError> {
    let form_id = form.get("client_id");
    let form_secret = form.get("client_secret");
    if let Some(h) = authorization {
        let (scheme, value) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "unsupported Authorization scheme",
            ));
        }
        let bad = || OAuthError::new(ErrorCode::InvalidClient, "malformed Basic credentials");
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
        if form_secret.is_some() {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "use one client authentication method",
            ));
        }
        if form_id.is_some_and(|f| f != id) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "client_id does not match the credentials",
            ));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            via_basic: true,
        });
    }
    let id = form_id.ok_or_else(|| {
        OAuthError::new(ErrorCode::InvalidClient, "client authentication is missing")
    })?;
    Ok(Presented {
        client_id: id.to_owned(),
        secret: form_secret.map(str::to_owned),
        via_basic: false,
    })
}

impl Provider {
    /// Authenticates the client. Unknown clients and wrong secrets are the same error.
    ///
    /// # Errors
    /// `invalid_client` (401) on any failure to authenticate.
    pub async fn authenticate_client(&self, p: &Presented) -> Result<Client, OAuthError> {
        let invalid = || OAuthError::new(ErrorCode::InvalidClient, "client authentication failed");
        if p.client_id.len() > 128 {
            return Err(invalid());
        }
        let client = match self.db.clients().by_id(&p.client_id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(invalid()),
            Err(e) => return Err(e.into()),
        };
        match (&client.secret_hash, &p.secret) {
            (Some(hash), Some(secret)) if ct_eq(hash, &sha256(secret.as_bytes())) => Ok(client),
            (None, None) => Ok(client),
            _ => Err(invalid()),
        }
    }
}
