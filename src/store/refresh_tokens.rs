//! Refresh tokens: only their SHA-256 is stored. Each use rotates the token within its
//! family; presenting a used token again is reuse, which revokes the whole family
//! (RFC 9700 §4.14.2).

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::ids::AccountId;
use crate::domain::level::{Amr, Loa};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// A stored refresh token.
#[derive(Clone, Debug)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub family_id: Uuid,
    pub client_id: String,
    pub account_id: AccountId,
    pub sub: String,
    pub scope: String,
    pub auth_time: i64,
    pub acr: Loa,
    pub amr: Vec<Amr>,
    pub sid: String,
    pub created_at: DateTime<Utc>,
    /// Idle expiry of this token.
    pub expires_at: DateTime<Utc>,
    /// Absolute expiry of the family.
    pub family_expires_at: DateTime<Utc>,
}

impl RefreshRecord {
    #[must_use]
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now || self.family_expires_at <= now
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    token_hash: String,
    family_id: Uuid,
    client_id: String,
    account_id: Uuid,
    sub: String,
    scope: String,
    auth_time: i64,
    acr: String,
    amr: Json<Vec<Amr>>,
    sid: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    family_expires_at: DateTime<Utc>,
}

impl TryFrom<Row> for RefreshRecord {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(RefreshRecord {
            token_hash: r.token_hash,
            family_id: r.family_id,
            client_id: r.client_id,
            account_id: AccountId(r.account_id),
            sub: r.sub,
            scope: r.scope,
            auth_time: r.auth_time,
            acr: Loa::from_name(&r.acr)
                .ok_or_else(|| StoreError::Corrupt(format!("acr {}", r.acr)))?,
            amr: r.amr.0,
            sid: r.sid,
            created_at: r.created_at,
            expires_at: r.expires_at,
            family_expires_at: r.family_expires_at,
        })
    }
}

/// The result of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// The token was valid and is now used; issue its successor.
    Rotated(Box<RefreshRecord>),
    /// The token had been used before: its family is now revoked.
    Reused { family_id: Uuid },
    /// Unknown, revoked, or issued to another client.
    Invalid,
}

pub struct RefreshTokens<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn refresh_tokens(&self) -> RefreshTokens<'_> {
        RefreshTokens(self)
    }
}

const INSERT: &str = "INSERT INTO refresh_tokens (token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, sid, \
    created_at, expires_at, family_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const USE: &str = "UPDATE refresh_tokens SET used_at = $3 WHERE token_hash = $1 AND client_id = $2 \
    AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3 AND family_expires_at > $3 RETURNING token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, sid, \
    created_at, expires_at, family_expires_at";
const STATE: &str = "SELECT family_id, used_at, revoked_at, expires_at, family_expires_at FROM refresh_tokens \
    WHERE token_hash = $1 AND client_id = $2";
const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
const REVOKE_FOR: &str = "UPDATE refresh_tokens SET revoked_at = $3 WHERE account_id = $1 AND client_id = $2 AND revoked_at IS NULL";
const REVOKE_ALL: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL";
const ACTIVE: &str = "SELECT token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, sid, created_at, expires_at, \
    family_expires_at FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL";
const PURGE: &str = "DELETE FROM refresh_tokens WHERE family_expires_at < $1";

impl RefreshTokens<'_> {
    /// # Errors
    /// A backend error.
    pub async fn insert(&self, r: &RefreshRecord) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(&r.token_hash)
            .bind(r.family_id)
            .bind(&r.client_id)
            .bind(r.account_id.0)
            .bind(&r.sub)
            .bind(&r.scope)
            .bind(r.auth_time)
            .bind(r.acr.name())
            .bind(Json(&r.amr))
            .bind(&r.sid)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.family_expires_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Marks the token used, atomically: of two concurrent uses exactly one rotates and the
    /// other is reuse (the caller revokes the family). An expired token is `Invalid` and left
    /// as it is (presenting it again is not reuse). The common case is one statement.
    ///
    /// # Errors
    /// A backend error.
    pub async fn use_once(&self, token_hash: &str, client_id: &str) -> StoreResult<Rotation> {
        let now = Utc::now();
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(USE)
            .bind(token_hash)
            .bind(client_id)
            .bind(now)
            .fetch_optional(p)
            .await)?;
        if let Some(r) = row {
            return Ok(Rotation::Rotated(Box::new(r.try_into()?)));
        }
        type State = (
            Uuid,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
            DateTime<Utc>,
        );
        let state: Option<State> = on_db!(self.0, |p| sqlx::query_as(STATE)
            .bind(token_hash)
            .bind(client_id)
            .fetch_optional(p)
            .await)?;
        match state {
            Some((family_id, Some(_), None, expires, family_expires))
                if expires > now && family_expires > now =>
            {
                Ok(Rotation::Reused { family_id })
            }
            _ => Ok(Rotation::Invalid),
        }
    }

    /// Revokes every token of a family.
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_family(&self, family_id: Uuid) -> StoreResult<u64> {
        Ok(on_db!(self.0, |p| sqlx::query(REVOKE_FAMILY)
            .bind(family_id)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Revokes every refresh token of an account (password reset).
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_all_for(&self, account: AccountId) -> StoreResult<u64> {
        Ok(on_db!(self.0, |p| sqlx::query(REVOKE_ALL)
            .bind(account.0)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Revokes every token a client holds for an account (consent withdrawn).
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_for(&self, account: AccountId, client_id: &str) -> StoreResult<u64> {
        Ok(on_db!(self.0, |p| sqlx::query(REVOKE_FOR)
            .bind(account.0)
            .bind(client_id)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// The unused, unrevoked token with this hash (expiry is the caller's to check).
    ///
    /// # Errors
    /// A backend error.
    pub async fn active(&self, token_hash: &str) -> StoreResult<Option<RefreshRecord>> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(ACTIVE)
            .bind(token_hash)
            .fetch_optional(p)
            .await)?;
        row.map(TryInto::try_into).transpose()
    }

    /// Deletes families whose absolute lifetime ended before `before`.
    ///
    /// # Errors
    /// A backend error.
    pub async fn purge_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(on_db!(self.0, |p| sqlx::query(PURGE)
            .bind(before)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
