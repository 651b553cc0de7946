//! Token introspection (RFC 7662) for authenticated clients.

use super::Provider;
use super::error::OAuthError;
use crate::crypto::token_digest;
use crate::domain::client::Client;
use crate::domain::params::Params;
use crate::store::refresh_tokens::Presented;
use serde_json::{Value, json};

impl Provider {
    /// RFC 7662 §2.2. Anything unknown, expired or revoked is `{"active": false}`; refresh
    /// tokens are described only to the client they were issued to.
    ///
    /// # Errors
    /// `invalid_request` without a token; storage failures.
    pub async fn introspect(&self, client: &Client, form: &Params) -> Result<Value, OAuthError> {
        let token = form.get("token").ok_or_else(|| {
            OAuthError::new(super::error::ErrorCode::InvalidRequest, "token is missing")
        })?;
        let inactive = json!({ "active": false });
        if token.len() > 4096 {
            return Ok(inactive);
        }
        if let Ok(at) = self.verify_access_token(token) {
            if self.is_revoked(&at).await? {
                return Ok(inactive);
            }
            // Pairwise subjects are per tenant: a client learns about tokens of its own
            // tenant's clients only, never another Kommune's subjects.
            let same_tenant = match self.client(&at.client_id).await {
                Ok(owner) => owner.tenant_id == client.tenant_id,
                Err(_) => false,
            };
            if !same_tenant {
                return Ok(inactive);
            }
            let mut v = json!({
                "active": true,
                "token_type": "Bearer",
                "scope": at.scope,
                "client_id": at.client_id,
                "sub": at.sub,
                "exp": at.exp,
                "iat": at.iat,
                "iss": at.iss,
                "aud": at.aud,
                "jti": at.jti,
            });
            if let Some(a) = at.acr {
                v["acr"] = json!(a);
            }
            if let Some(t) = at.auth_time {
                v["auth_time"] = json!(t);
            }
            return Ok(v);
        }
        // Only the caller's own refresh tokens, and only while usable (grant included).
        if let Presented::Usable(rt) = self
            .db
            .refresh_tokens()
            .present(&token_digest(token), &client.id.0, self.clock.now())
            .await?
        {
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": rt.scope,
                "client_id": rt.client_id,
                "sub": rt.sub,
                "exp": rt.expires_at.timestamp(),
                "iat": rt.created_at.timestamp(),
                "iss": self.issuer,
                "acr": rt.acr.acr(),
                "auth_time": rt.auth_time,
            }));
        }
        Ok(inactive)
    }
}
