//! Login sessions: who is logged in in this browser, since when, with which methods, at
//! which level, and which portals were given tokens in this session (for logout).
//!
//! A session lives in the short-lived store under the SHA-256 of its cookie value (its
//! *handle*), so a leak of the store does not hand out cookies. The `sid` claim is a separate
//! random value: portals see `sid`, never the cookie. Every login creates a fresh cookie value
//! (no fixation). Each account has an index of its session handles, so the citizen can see
//! and end sessions, and a password reset can end them all.
//!
//! A password login of an account with a second factor starts a session that waits for the
//! factor (`second_factor_due`). Only [`Sessions::get_awaiting_factor`] returns it, so every
//! other door (pages, the authorization flow, the account's APIs) treats the browser as
//! signed out until [`Sessions::complete`].

use crate::crypto::{random_token, token_digest};
use crate::domain::ids::AccountId;
use crate::domain::level::{Amr, Loa, effective, strength_of};
use crate::ephemeral::{EphResult, Ephemeral, Key};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// Session id as told to portals (`sid`).
    pub sid: String,
    pub account_id: AccountId,
    /// Unix time of the last authentication.
    pub auth_time: i64,
    /// The same in milliseconds: "a login after the request" (`prompt=login`, `max_age=0`)
    /// is decided at this precision, not in whole seconds.
    #[serde(default)]
    pub auth_time_ms: i64,
    pub amr: Vec<Amr>,
    /// The level reached: min(proofing, strength).
    pub acr: Loa,
    /// Client ids that received tokens in this session.
    pub clients: Vec<String>,
    /// Unix time when the session started.
    #[serde(default)]
    pub created_at: i64,
    /// Unix time when the session ends; saving it again does not extend it.
    #[serde(default)]
    pub expires_at: i64,
    /// The browser's `User-Agent`, shortened, so the citizen can recognise the session.
    #[serde(default)]
    pub user_agent: String,
    /// A second factor was added in this session (it may then manage its factors without
    /// proving one first; it does not raise the level).
    #[serde(default)]
    pub factor_enrolled: bool,
    /// The password was right, the account's second factor is still to come: such a session
    /// opens nothing but the second-factor page ([`Sessions::get`] does not return it) and
    /// lives [`SECOND_FACTOR_TTL`].
    #[serde(default)]
    pub second_factor_due: bool,
    /// The level an upstream identity provider (BundID) confirmed in this session, by a login
    /// or a step-up there: it counts as the session's strength, and tokens name it as the
    /// level's source (`level_source`).
    #[serde(default)]
    pub upstream: Option<UpstreamAuth>,
}

/// An authentication at an upstream provider within a session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpstreamAuth {
    pub id: String,
    pub level: Loa,
}

/// How long a login may wait for its second factor.
pub const SECOND_FACTOR_TTL: Duration = Duration::from_secs(600);

impl Session {
    /// The strength of the session's authentication: its own methods, or the upstream's
    /// confirmation if that is stronger.
    #[must_use]
    pub fn strength(&self) -> Loa {
        let own = strength_of(&self.amr);
        self.upstream.as_ref().map_or(own, |u| own.max(u.level))
    }

    /// The level reached with `proofing`: min(proofing, strength).
    pub fn reach(&mut self, proofing: Loa) {
        self.acr = effective(proofing, self.strength());
    }

    /// Whether an upstream confirmed at least `level` in this session.
    #[must_use]
    pub fn confirmed_upstream(&self, level: Loa) -> bool {
        self.upstream.as_ref().is_some_and(|u| u.level >= level)
    }

    /// The upstream that confirmed the session's level, if one did (`upstream:ID`).
    #[must_use]
    pub fn level_source(&self) -> Option<String> {
        self.upstream
            .as_ref()
            .filter(|u| u.level >= self.acr)
            .map(|u| format!("upstream:{}", u.id))
    }

    /// Records an authentication now (a login or a step-up).
    pub fn authenticated_now(&mut self) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.auth_time = now_ms.div_euclid(1000);
        self.auth_time_ms = now_ms;
    }

    /// When the last authentication was, in Unix milliseconds.
    #[must_use]
    pub fn auth_time_ms(&self) -> i64 {
        if self.auth_time_ms == 0 {
            self.auth_time.saturating_mul(1000)
        } else {
            self.auth_time_ms
        }
    }
}

/// A browser's session: its cookie value (to save or end it) and what it holds.
#[derive(Clone)]
pub struct SignedIn {
    pub token: String,
    pub session: Session,
}

#[derive(Clone)]
pub struct Sessions {
    eph: Ephemeral,
    ttl: Duration,
    secure_cookies: bool,
}

/// The store handle of a session: the digest of its cookie value.
#[must_use]
pub fn handle_of(token: &str) -> String {
    token_digest(token)
}

fn key(handle: &str) -> Key<'_> {
    Key::Session(handle)
}

fn index(account: AccountId) -> Key<'static> {
    Key::AccountSessions(account)
}

fn valid_handle(h: &str) -> bool {
    h.len() == 43
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Sessions {
    #[must_use]
    pub fn new(eph: Ephemeral, ttl: Duration, secure_cookies: bool) -> Self {
        Self {
            eph,
            ttl,
            secure_cookies,
        }
    }

    /// Whether the session cookie is sent over https only (and so carries `__Host-`).
    #[must_use]
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
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
        user_agent: &str,
    ) -> EphResult<(String, Session)> {
        self.start(account, proofing, amr, user_agent, false, None)
            .await
    }

    /// Starts a session after a login at an upstream provider.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn create_upstream(
        &self,
        account: AccountId,
        proofing: Loa,
        upstream: UpstreamAuth,
        user_agent: &str,
    ) -> EphResult<(String, Session)> {
        self.start(
            account,
            proofing,
            Vec::new(),
            user_agent,
            false,
            Some(upstream),
        )
        .await
    }

    /// Starts a session that waits for the account's second factor (after the password).
    /// Returns the cookie value.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn create_awaiting_factor(
        &self,
        account: AccountId,
        proofing: Loa,
        amr: Vec<Amr>,
        user_agent: &str,
        upstream: Option<UpstreamAuth>,
    ) -> EphResult<(String, Session)> {
        self.start(account, proofing, amr, user_agent, true, upstream)
            .await
    }

    async fn start(
        &self,
        account: AccountId,
        proofing: Loa,
        amr: Vec<Amr>,
        user_agent: &str,
        second_factor_due: bool,
        upstream: Option<UpstreamAuth>,
    ) -> EphResult<(String, Session)> {
        let ttl = if second_factor_due {
            SECOND_FACTOR_TTL
        } else {
            self.ttl
        };
        let token = random_token();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let now = now_ms.div_euclid(1000);
        let mut session = Session {
            expires_at: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            created_at: now,
            sid: random_token(),
            account_id: account,
            auth_time: now,
            auth_time_ms: now_ms,
            acr: Loa::Low,
            amr,
            clients: Vec::new(),
            user_agent: user_agent
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            factor_enrolled: false,
            second_factor_due,
            upstream,
        };
        session.reach(proofing);
        let json = serde_json::to_string(&session).unwrap_or_default();
        self.eph.put(&key(&handle_of(&token)), &json, ttl).await?;
        self.eph
            .set_add(&index(account), &handle_of(&token), self.ttl)
            .await?;
        Ok((token, session))
    }

    /// The signed-in session for a cookie value, if it exists, has not expired and does not
    /// wait for a second factor.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn get(&self, token: &str) -> EphResult<Option<Session>> {
        Ok(self
            .get_awaiting_factor(token)
            .await?
            .filter(|s| !s.second_factor_due))
    }

    /// Like [`Sessions::get`], and also a session that waits for its second factor: for the
    /// second-factor page only.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn get_awaiting_factor(&self, token: &str) -> EphResult<Option<Session>> {
        if token.len() > 64 {
            return Ok(None);
        }
        self.get_handle(&handle_of(token)).await
    }

    /// The second factor came: the waiting session becomes a signed-in one with the full
    /// lifetime from now. A session ended meanwhile stays ended.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn complete(&self, token: &str, session: &mut Session) -> EphResult<()> {
        let now = chrono::Utc::now().timestamp();
        session.second_factor_due = false;
        session.created_at = now;
        session.expires_at = now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        self.save(token, session).await?;
        // The account's index keeps it as long as the session lives.
        self.eph
            .set_add(&index(session.account_id), &handle_of(token), self.ttl)
            .await
    }

    async fn get_handle(&self, handle: &str) -> EphResult<Option<Session>> {
        Ok(self
            .eph
            .get(&key(handle))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// Stores a changed session, keeping its expiry. A session that was ended meanwhile (a
    /// logout in another tab, a password reset) stays ended.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn save(&self, token: &str, session: &Session) -> EphResult<()> {
        let left = session.expires_at - chrono::Utc::now().timestamp();
        let Ok(left) = u64::try_from(left) else {
            return Ok(());
        };
        let json = serde_json::to_string(session).unwrap_or_default();
        self.eph
            .replace(
                &key(&handle_of(token)),
                &json,
                Duration::from_secs(left.max(1)),
            )
            .await?;
        Ok(())
    }

    /// Ends the session of a cookie value; returns what it was.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn destroy(&self, token: &str) -> EphResult<Option<Session>> {
        if token.len() > 64 {
            return Ok(None);
        }
        self.destroy_handle(&handle_of(token)).await
    }

    async fn destroy_handle(&self, handle: &str) -> EphResult<Option<Session>> {
        let s: Option<Session> = self
            .eph
            .take(&key(handle))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok());
        if let Some(s) = &s {
            self.eph.set_remove(&index(s.account_id), handle).await?;
        }
        Ok(s)
    }

    /// The account's live sessions with their handles, newest first.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn list(&self, account: AccountId) -> EphResult<Vec<(String, Session)>> {
        let mut out = Vec::new();
        for handle in self.eph.set_members(&index(account)).await? {
            match self.get_handle(&handle).await? {
                Some(s) if s.account_id == account => out.push((handle, s)),
                // Expired: drop it from the index.
                _ => self.eph.set_remove(&index(account), &handle).await?,
            }
        }
        out.sort_by_key(|(_, s)| std::cmp::Reverse(s.created_at));
        Ok(out)
    }

    /// Ends one of the account's sessions by handle (from the account page).
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end(&self, account: AccountId, handle: &str) -> EphResult<Option<Session>> {
        if !valid_handle(handle) {
            return Ok(None);
        }
        match self.get_handle(handle).await? {
            Some(s) if s.account_id == account => self.destroy_handle(handle).await,
            _ => Ok(None),
        }
    }

    /// Ends every session of an account but the one with handle `keep` (none when empty);
    /// returns them.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn end_all_but(&self, account: AccountId, keep: &str) -> EphResult<Vec<Session>> {
        let mut ended = Vec::new();
        for (handle, _) in self.list(account).await? {
            if handle == keep {
                continue;
            }
            if let Some(s) = self.destroy_handle(&handle).await? {
                ended.push(s);
            }
        }
        Ok(ended)
    }
}
