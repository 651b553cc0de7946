//! Revocation (RFC 7009) and the checks every access-token consumer makes.
//!
//! Access tokens are self-contained JWTs, so revoking one puts its `jti` on a deny list in
//! the short-lived store until it would expire anyway. A *grant* (`gid` claim: one code
//! exchange and the refresh tokens rotated from it) is revoked as a whole by revoking its
//! refresh-token family in the database and putting the `gid` on the deny list.

use super::Provider;

use super::error::{ErrorCode, OAuthError};
use crate::crypto::token_digest;
use crate::domain::client::Client;
use crate::domain::params::Params;
use crate::ephemeral::Key;
use std::time::Duration;
use uuid::Uuid;

impl Provider {
    /// Revokes a grant: its refresh-token family for good (the database keeps the
    /// revocation as long as the family could live, and refuses tokens a concurrent
    /// rotation adds later), then every access token it produced (a deny-list entry for as
    /// long as they live). The durable part comes first: if the short-lived store fails,
    /// the grant is still revoked and the caller answers with an error.
    ///
    /// # Errors
    /// When storage fails.
    pub async fn revoke_grant(&self, gid: Uuid) -> Result<(), OAuthError> {
        let until = self.clock.now()
            + chrono::Duration::seconds(
                i64::try_from(self.settings.refresh_ttl).unwrap_or(i64::MAX / 4_000),
            );
        self.db.refresh_tokens().revoke_family(gid, until).await?;
        self.eph
            .put(
                &Key::RevokedGrant(gid),
                "1",
                Duration::from_secs(self.settings.token_ttl + 60),
            )
            .await?;
        Ok(())
    }

    /// RFC 7009 §2.1: revokes a refresh token (its whole family) or an access token of the
    /// authenticated client. Unknown tokens are not an error (§2.2).
    ///
    /// # Errors
    /// `invalid_request` without a token; `invalid_grant` for another client's token.
    pub async fn revoke(&self, client: &Client, form: &Params) -> Result<(), OAuthError> {
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, "token is missing"))?;
        if token.len() > 4096 {
            return Ok(());
        }
        let not_yours = || {
            OAuthError::new(
                ErrorCode::InvalidGrant,
                "the token was not issued to this client",
            )
        };
        // The hint only orders the lookups; both kinds are always tried.
        let refresh_first = form.get("token_type_hint") == Some("refresh_token");
        for kind in if refresh_first { [1, 0] } else { [0, 1] } {
            if kind == 0 {
                if let Ok(at) = self.verify_access_token(token) {
                    if at.client_id != client.id.0 {
                        return Err(not_yours());
                    }
                    let left = (at.exp - chrono::Utc::now().timestamp()).max(1);
                    let ttl = Duration::from_secs(u64::try_from(left).unwrap_or(1) + 60);
                    self.eph.put(&Key::RevokedJti(&at.jti), "1", ttl).await?;
                    return Ok(());
                }
            } else if let Some(rt) = self
                .db
                .refresh_tokens()
                .active(&token_digest(token))
                .await?
            {
                if rt.client_id != client.id.0 {
                    return Err(not_yours());
                }
                self.revoke_grant(rt.family_id).await?;
                return Ok(());
            }
        }
        Ok(())
    }
}
