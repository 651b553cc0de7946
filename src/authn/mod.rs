//! Login sessions: who is logged in in this browser, since when, with which methods, at
//! which level, and which portals were given tokens in this session (for logout).
//!
//! A session lives in the short-lived store under the SHA-256 of its cookie value, so a leak
//! of the store does not hand out cookies. The `sid` claim is a separate random value: portals
//! see `sid`, never the cookie. Every login creates a fresh cookie value (no fixation).

use crate::crypto::{random_token, token_digest};
use crate::domain::ids::AccountId;
use crate::domain::level::{Amr, Loa, effective, strength_of};
use crate::ephemeral::{EphResult, Ephemeral};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// Session id as told to portals (`sid`).
    pub sid: String,
    pub account_id: AccountId,
    /// Unix time of the last authentication.
    pub auth_time: i64,
    pub amr: Vec<Amr>,
    /// The level reached: min(proofing, strength).
    pub acr: Loa,
    /// Client ids that received tokens in this session.
    pub clients: Vec<String>,
    /// Unix time when the session ends; saving it again does not extend it.
    pub expires_at: i64,
}

#[derive(Clone)]
pub struct Sessions {
    eph: Ephemeral,
    ttl: Duration,
}

fn key(token: &str) -> String {
    format!("sess:{}", token_digest(token))
}

impl Sessions {
    #[must_use]
    pub fn new(eph: Ephemeral, ttl: Duration) -> Self {
        Self { eph, ttl }
    }

    /// Starts a session after a successful authentication. Returns the cookie value.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn create(
        &self,
        account: AccountId,
        proofing: Loa,
        amr: Vec<Amr>,
    ) -> EphResult<(String, Session)> {
        let token = random_token();
        let now = chrono::Utc::now().timestamp();
        let session = Session {
            expires_at: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            sid: random_token(),
            account_id: account,
            auth_time: now,
            acr: effective(proofing, strength_of(&amr)),
            amr,
            clients: Vec::new(),
        };
        self.save(&token, &session).await?;
        Ok((token, session))
    }

    /// The session for a cookie value, if it exists and has not expired.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn get(&self, token: &str) -> EphResult<Option<Session>> {
        if token.len() > 64 {
            return Ok(None);
        }
        Ok(self
            .eph
            .get(&key(token))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// # Errors
    /// When the short-lived store fails.
    pub async fn save(&self, token: &str, session: &Session) -> EphResult<()> {
        let left = session.expires_at - chrono::Utc::now().timestamp();
        let Ok(left) = u64::try_from(left) else {
            return self.eph.delete(&key(token)).await;
        };
        let json = serde_json::to_string(session).unwrap_or_default();
        self.eph
            .put(&key(token), &json, Duration::from_secs(left.max(1)))
            .await
    }

    /// Ends a session; returns what it was.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn destroy(&self, token: &str) -> EphResult<Option<Session>> {
        if token.len() > 64 {
            return Ok(None);
        }
        Ok(self
            .eph
            .take(&key(token))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }
}
