//! Authorization codes (RFC 6749 §4.1.2, §4.1.3): what a code stands for, issuing it at the
//! end of the authorization flow, and redeeming it once at the token endpoint. A code lives
//! in the short-lived store under its digest for 60 seconds and is taken atomically; a
//! redeemed code leaves its grant id behind, so that a replay revokes what it produced.

use super::authorize::{AuthRequest, AuthorizeError};
use super::claims::subject;
use super::error::{ErrorCode, OAuthError};
use super::{CODE_TTL_SECS, Provider};
use crate::authn::Session;
use crate::crypto::{random_token, token_digest};
use crate::domain::ids::AccountId;
use crate::domain::level::{Amr, Loa};
use crate::ephemeral::Key;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// What an authorization code stands for; stored under the code's digest, taken once.
#[derive(Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub account_id: AccountId,
    pub sub: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: Loa,
    pub amr: Vec<Amr>,
    pub sid: String,
    /// The upstream that confirmed the level (`upstream:ID`), if one did.
    #[serde(default)]
    pub level_source: Option<String>,
}

impl Provider {
    /// Issues an authorization code and returns the redirect URL with `code`, `state` and `iss`.
    ///
    /// # Errors
    /// When storage fails or the client disappeared.
    pub async fn issue_code(
        &self,
        req: &AuthRequest,
        session: &Session,
    ) -> Result<String, AuthorizeError> {
        let client = self.client(&req.client_id).await?;
        let sub = subject(self.keys.pairwise_secret(), &client, session.account_id);
        // The subject is stored once per session and client, not on every SSO round trip.
        if !session.clients.contains(&req.client_id) {
            self.db
                .subjects()
                .remember(&client.sector(), &sub, session.account_id)
                .await?;
        }
        let code = random_token();
        let grant = CodeGrant {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            account_id: session.account_id,
            sub,
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: session.auth_time,
            acr: session.acr,
            amr: session.amr.clone(),
            sid: session.sid.clone(),
            level_source: session.level_source(),
        };
        self.eph
            .put(
                &Key::Code(&token_digest(&code)),
                &serde_json::to_string(&grant).unwrap_or_default(),
                Duration::from_secs(CODE_TTL_SECS),
            )
            .await?;
        tracing::info!(client_id = %req.client_id, code = crate::crypto::log_prefix(&code), "issued authorization code");
        Ok(self.response_url(&req.redirect_uri, &[("code", &code)], req.state.as_deref()))
    }

    /// Redeems a code, once: returns the grant id its tokens will carry and what it stands
    /// for. The code is marked as used before any check of the token request, so a replay
    /// racing this request, or one after a failed exchange, finds the grant id and revokes
    /// whatever it produced (RFC 6749 §4.1.2).
    ///
    /// # Errors
    /// `invalid_grant` for unknown, expired or used codes; storage failures.
    pub(super) async fn redeem_code(&self, code: &str) -> Result<(Uuid, CodeGrant), OAuthError> {
        let invalid = |d: &str| OAuthError::new(ErrorCode::InvalidGrant, d);
        if code.len() > 64 {
            return Err(invalid("invalid authorization code"));
        }
        let digest = token_digest(code);
        // Take-once: a replayed code finds nothing.
        let Some(raw) = self.eph.take(&Key::Code(&digest)).await? else {
            if let Some(gid) = self
                .eph
                .get(&Key::CodeUsed(&digest))
                .await?
                .and_then(|g| g.parse().ok())
            {
                tracing::warn!("authorization code replayed: revoking its grant");
                self.revoke_grant(gid).await?;
            }
            return Err(invalid(
                "invalid, expired or already used authorization code",
            ));
        };
        let gid = Uuid::now_v7();
        self.eph
            .put(
                &Key::CodeUsed(&digest),
                &gid.to_string(),
                Duration::from_secs(self.settings.token_ttl.max(600)),
            )
            .await?;
        let grant: CodeGrant = serde_json::from_str(&raw).map_err(OAuthError::internal)?;
        Ok((gid, grant))
    }
}
