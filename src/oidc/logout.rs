//! RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2-§3).
//!
//! The `post_logout_redirect_uri` must match one registered for the client identified by
//! `id_token_hint` or `client_id`, byte for byte; otherwise no redirect happens. Errors are
//! shown to the citizen as a page.

use super::Provider;
use crate::domain::client::Client;
use crate::domain::lang::Lang;
use crate::domain::params::Params;
use crate::store::StoreError;
use serde::Deserialize;
use url::Url;

/// The claims we need from an `id_token_hint`.
#[derive(Debug, Deserialize)]
pub struct HintClaims {
    aud: serde_json::Value,
    pub sub: String,
    pub sid: Option<String>,
}

impl HintClaims {
    /// The client the ID token was issued to (its first audience).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match &self.aud {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Array(a) => a.first().and_then(|v| v.as_str()),
            _ => None,
        }
    }
}

/// A validated logout request.
#[derive(Debug)]
pub struct LogoutRequest {
    pub client: Option<std::sync::Arc<Client>>,
    /// The `sid` from a valid `id_token_hint`.
    pub hint_sid: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub lang: Option<Lang>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the session store failed")]
    Internal(#[from] StoreError),
}

impl Provider {
    /// An `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout §2): one of our ID tokens
    /// (typed `JWT`, not an access or logout token), signed by us. Expired ones are fine as
    /// hints: only the signature and the issuer count.
    #[must_use]
    pub fn verify_id_token_hint(&self, hint: &str) -> Option<HintClaims> {
        if hint.len() > 8192 {
            return None;
        }
        let typ = jsonwebtoken::decode_header(hint).ok().and_then(|h| h.typ);
        if typ.as_deref() != Some("JWT") {
            return None;
        }
        self.keys
            .verify(hint, |v| {
                v.validate_exp = false;
                v.validate_aud = false;
                v.set_issuer(&[&self.issuer]);
                v.set_required_spec_claims(&["iss", "sub"]);
            })
            .ok()
    }

    /// Validates a logout request.
    ///
    /// # Errors
    /// When the hint does not verify, names another client, or the redirect URI is not registered.
    pub async fn validate_logout(&self, params: &Params) -> Result<LogoutRequest, LogoutError> {
        let mut hint_aud = None;
        let mut hint_sid = None;
        if let Some(hint) = params.get("id_token_hint") {
            let claims = self.verify_id_token_hint(hint).ok_or(LogoutError::Invalid(
                "id_token_hint is not a valid ID token of this provider",
            ))?;
            hint_aud = claims.client_id().map(str::to_owned);
            hint_sid = claims.sid;
        }
        let client_id = match (params.get("client_id"), hint_aud.as_deref()) {
            (Some(c), Some(a)) if c != a => {
                return Err(LogoutError::Invalid(
                    "client_id does not match id_token_hint",
                ));
            }
            (Some(c), _) => Some(c.to_owned()),
            (None, a) => a.map(str::to_owned),
        };
        let client = match client_id {
            Some(id) => match self.client(&id).await {
                Ok(c) => Some(c),
                Err(StoreError::NotFound) => return Err(LogoutError::Invalid("unknown client_id")),
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let post_logout_redirect_uri = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let c = client.as_ref().ok_or(LogoutError::Invalid(
                    "post_logout_redirect_uri needs id_token_hint or client_id",
                ))?;
                if c.post_logout_redirect_uri(uri).is_none() {
                    return Err(LogoutError::Invalid(
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                Some(uri.to_owned())
            }
        };
        Ok(LogoutRequest {
            client,
            hint_sid,
            post_logout_redirect_uri,
            state: params
                .get("state")
                .filter(|s| s.len() <= 1024)
                .map(str::to_owned),
            lang: params.get("ui_locales").and_then(Lang::pick),
        })
    }

    /// Where to send the browser after logging out, if anywhere.
    #[must_use]
    pub fn logout_redirect(&self, req: &LogoutRequest) -> Option<String> {
        let uri = req.post_logout_redirect_uri.as_ref()?;
        let mut url = Url::parse(uri).ok()?;
        if let Some(s) = &req.state {
            url.query_pairs_mut().append_pair("state", s);
        }
        Some(url.into())
    }
}
