//! The UserInfo endpoint (OIDC Core §5.3).

use super::Provider;

use super::error::{ErrorCode, OAuthError};
use crate::domain::scope::Scopes;
use crate::store::StoreError;
use serde_json::{Value, json};

impl Provider {
    /// Verified personal data with the standard claim names, only for the scopes granted:
    /// `profile` (names, birth date) and `address`. Nothing is looked up without them.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn verified_claims(
        &self,
        account: crate::domain::ids::AccountId,
        scopes: &Scopes,
    ) -> Result<serde_json::Map<String, Value>, OAuthError> {
        let (profile, address) = (scopes.contains("profile"), scopes.contains("address"));
        let mut out = serde_json::Map::new();
        if profile || address {
            for c in self.db.identities().claims(account).await? {
                let wanted = if c.claim == "address" {
                    address
                } else {
                    profile
                };
                if wanted && let Ok(v) = serde_json::from_str::<Value>(&c.value) {
                    out.insert(c.claim, v);
                }
            }
        }
        Ok(out)
    }

    /// Claims for a bearer access token.
    ///
    /// # Errors
    /// `invalid_token` for bad, expired or orphaned tokens; `insufficient_scope` without `openid`.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, OAuthError> {
        let at = self.check_access_token(access_token).await?;
        let scopes = Scopes::parse(&at.scope).unwrap_or_default();
        if !scopes.contains("openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the token lacks the openid scope",
            ));
        }
        let gone = || {
            OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is no longer valid",
            )
        };
        let (_, account_id) = self.citizen_of(&at).await?;
        let account = match self.db.accounts().by_id(account_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        let mut claims = json!({ "sub": at.sub });
        if scopes.contains("email") {
            claims["email"] = json!(account.email.as_str());
            claims["email_verified"] = json!(account.email_verified);
        }
        for (name, value) in self.verified_claims(account_id, &scopes).await? {
            claims[name.as_str()] = value;
        }
        Ok(claims)
    }
}
