//! Ending sessions, and back-channel logout (OpenID Connect Back-Channel Logout 1.0).
//!
//! Every way a session ends (logout, the citizen ending one on the account page, a new login
//! in the same browser, a password reset) goes through [`Provider::end_session`] and its
//! siblings: the session is destroyed, its portals are told, and the end is audited. Each
//! portal that received tokens in the session and registered a `backchannel_logout_uri` is
//! sent a signed logout token. Delivery runs in the background with bounded timeouts and a
//! few retries, so a slow or failing portal never holds up the citizen's logout.

use super::Provider;
use super::claims::subject;
use crate::authn::Session;
use crate::crypto::random_token;
use crate::domain::ids::AccountId;
use crate::ephemeral::EphResult;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const ATTEMPTS: u32 = 3;

/// Logout token claims (§2.4).
#[derive(Debug, Serialize)]
struct LogoutToken {
    iss: String,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: String,
    events: Value,
    sid: String,
}

/// Why a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Logout at the provider (RP-initiated or from the account page).
    Logout,
    /// The citizen ended it from the list of sessions.
    ByCitizen,
    /// A new login in the same browser replaced it.
    Replaced,
    /// The password was reset: every session of the account ends.
    PasswordReset,
    /// The password was changed in another session of the account.
    PasswordChange,
    /// The account is being deleted.
    AccountDeletion,
    /// An administrator ended them (clerk desk); audited by the administration.
    ByAdmin,
}

impl Provider {
    /// Ends the session behind a cookie value. Returns it, if there was one.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end_session(&self, token: &str, why: Ending) -> EphResult<Option<Session>> {
        let ended = self.sessions.destroy(token).await?;
        if let Some(s) = &ended {
            self.ended(s.clone(), why).await;
        }
        Ok(ended)
    }

    /// Ends one of the account's sessions by its handle (from the account page); another
    /// account's handle ends nothing. Returns whether one ended.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end_session_of(&self, account: AccountId, handle: &str) -> EphResult<bool> {
        let Some(s) = self.sessions.end(account, handle).await? else {
            return Ok(false);
        };
        self.ended(s, Ending::ByCitizen).await;
        Ok(true)
    }

    /// Ends every session of the account (after a password reset, for a deletion). Returns
    /// how many.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end_all_sessions(&self, account: AccountId, why: Ending) -> EphResult<usize> {
        let ended = self.sessions.end_all_but(account, "").await?;
        let n = ended.len();
        for s in ended {
            self.ended(s, why).await;
        }
        Ok(n)
    }

    /// Ends every session of the account but the one with `keep` as its handle (after a
    /// password change in that session). Returns how many.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end_other_sessions(&self, account: AccountId, keep: &str) -> EphResult<usize> {
        let ended = self.sessions.end_all_but(account, keep).await?;
        let n = ended.len();
        for s in ended {
            self.ended(s, Ending::PasswordChange).await;
        }
        Ok(n)
    }

    /// Audits an ended session and tells its portals.
    async fn ended(&self, s: Session, why: Ending) {
        let record = match why {
            Ending::Logout => Some((
                "session.logout",
                json!({ "sid_prefix": crate::crypto::log_prefix(&s.sid) }),
            )),
            Ending::ByCitizen => Some(("session.ended_by_citizen", json!({}))),
            // The new login, the password's reset or change and the deletion are audited
            // themselves.
            Ending::Replaced
            | Ending::PasswordReset
            | Ending::PasswordChange
            | Ending::AccountDeletion
            | Ending::ByAdmin => None,
        };
        if let Some((kind, detail)) = record
            && let Err(e) = self
                .db
                .audit()
                .record(kind, Some(s.account_id), None, detail)
                .await
        {
            tracing::warn!(error = %e, kind, "could not write the audit record");
        }
        self.backchannel_logout(s);
    }

    /// Starts delivering logout tokens for an ended session; returns at once.
    fn backchannel_logout(&self, session: Session) {
        if session.clients.is_empty() {
            return;
        }
        let p = self.clone();
        tokio::spawn(async move {
            p.deliver_logouts(&session).await;
        });
    }

    /// Delivers logout tokens for a session; returns (client_id, delivered) per portal.
    pub async fn deliver_logouts(&self, session: &Session) -> Vec<(String, bool)> {
        let mut deliveries = tokio::task::JoinSet::new();
        for client_id in &session.clients {
            let client = match self.client(client_id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(client_id, error = %e, "back-channel logout: client unavailable");
                    continue;
                }
            };
            let Some(uri) = &client.backchannel_logout_uri else {
                continue;
            };
            let now = chrono::Utc::now().timestamp();
            let token = LogoutToken {
                iss: self.issuer.clone(),
                sub: subject(self.keys.pairwise_secret(), &client, session.account_id),
                aud: client.id.0.clone(),
                iat: now,
                exp: now + 120,
                jti: random_token(),
                events: json!({ EVENT: {} }),
                sid: session.sid.clone(),
            };
            let jwt = match self.keys.sign(client.id_token_alg, "logout+jwt", &token) {
                Ok(j) => j,
                Err(e) => {
                    tracing::error!(error = %e, "back-channel logout: signing failed");
                    continue;
                }
            };
            // Portals are told in parallel: a dead one does not delay the others.
            let p = self.clone();
            let (uri, client_id) = (uri.as_str().to_owned(), client_id.clone());
            let (tenant, id) = (client.tenant_id, client.id.clone());
            deliveries.spawn(async move {
                let ok = p.post_logout(&uri, &jwt).await;
                if !ok {
                    tracing::warn!(client_id, "back-channel logout not delivered");
                    // The administration's overview lists portals whose logout URI fails.
                    if let Err(e) =
                        p.db.audit()
                            .record_by(
                                "backchannel.failed",
                                None,
                                Some(tenant),
                                None,
                                Some(&id),
                                json!({}),
                            )
                            .await
                    {
                        tracing::warn!(error = %e, "could not write the audit record");
                    }
                }
                (client_id, ok)
            });
        }
        let mut results = Vec::new();
        while let Some(r) = deliveries.join_next().await {
            if let Ok(r) = r {
                results.push(r);
            }
        }
        results
    }

    async fn post_logout(&self, uri: &str, jwt: &str) -> bool {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * 3u64.pow(attempt - 1))).await;
            }
            match self
                .http
                .post(uri)
                .form(&[("logout_token", jwt)])
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return true,
                // §2.8: 400 means the portal refused this token; trying again will not help.
                Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => return false,
                Ok(r) => {
                    tracing::info!(status = %r.status(), attempt, "back-channel logout failed")
                }
                Err(e) => tracing::info!(error = %e, attempt, "back-channel logout failed"),
            }
        }
        false
    }
}
