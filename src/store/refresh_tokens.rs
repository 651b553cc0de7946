//! Refresh tokens: only their SHA-256 is stored. Each use rotates the token within its
//! family; presenting a used token again is reuse, which revokes the whole family
//! (RFC 9700 §4.14.2).

use super::{Db, StoreError, StoreResult, on_db, write_tx};
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
    /// The upstream that confirmed the grant's level (`upstream:ID`), if one did.
    pub level_source: Option<String>,
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
    level_source: Option<String>,
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
            level_source: r.level_source,
            sid: r.sid,
            created_at: r.created_at,
            expires_at: r.expires_at,
            family_expires_at: r.family_expires_at,
        })
    }
}

/// What a presented refresh token is.
#[derive(Debug)]
pub enum Presented {
    /// Unused, unrevoked, unexpired, and its grant not revoked: it may be rotated.
    Usable(Box<RefreshRecord>),
    /// Used before (and otherwise still valid): presenting it again is reuse.
    Used { family_id: Uuid },
    /// Unknown, revoked (itself or its grant), expired, or issued to another client.
    Invalid,
}

pub struct RefreshTokens<'a>(&'a Db);

/// Binds a record to [`INSERT`] (one body for both backends, like `on_db!`).
macro_rules! bind_record {
    ($q:expr, $r:expr) => {
        $q.bind(&$r.token_hash)
            .bind($r.family_id)
            .bind(&$r.client_id)
            .bind($r.account_id.0)
            .bind(&$r.sub)
            .bind(&$r.scope)
            .bind($r.auth_time)
            .bind($r.acr.name())
            .bind(Json(&$r.amr))
            .bind(&$r.level_source)
            .bind(&$r.sid)
            .bind($r.created_at)
            .bind($r.expires_at)
            .bind($r.family_expires_at)
    };
}

impl Db {
    #[must_use]
    pub fn refresh_tokens(&self) -> RefreshTokens<'_> {
        RefreshTokens(self)
    }
}

const INSERT: &str = "INSERT INTO refresh_tokens (token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, level_source, sid, \
    created_at, expires_at, family_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
/// The token as presented, with whether it was used and whether it (or its grant) is revoked.
const PRESENT: &str = "SELECT token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, level_source, sid, \
    created_at, expires_at, family_expires_at, used_at IS NOT NULL AS used, \
    (revoked_at IS NOT NULL OR EXISTS (SELECT 1 FROM revoked_grants g WHERE g.family_id = refresh_tokens.family_id)) AS revoked \
    FROM refresh_tokens WHERE token_hash = $1 AND client_id = $2";
/// Marks the token used only while it is still usable, its grant included: the same
/// conditions as [`PRESENT`], checked again in the statement that changes it.
const USE: &str = "UPDATE refresh_tokens SET used_at = $3 WHERE token_hash = $1 AND client_id = $2 \
    AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3 AND family_expires_at > $3 \
    AND NOT EXISTS (SELECT 1 FROM revoked_grants g WHERE g.family_id = refresh_tokens.family_id)";
const REVOKE_GRANT: &str = "INSERT INTO revoked_grants (family_id, revoked_at, expires_at) VALUES ($1, $2, $3) \
    ON CONFLICT (family_id) DO NOTHING";
const REVOKE_FAMILY: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
/// The grants of an account (`$2` NULL) or of one client for an account.
const REVOKE_GRANTS_OF: &str = "INSERT INTO revoked_grants (family_id, revoked_at, expires_at) \
    SELECT family_id, $3, MAX(family_expires_at) FROM refresh_tokens \
    WHERE account_id = $1 AND ($2 IS NULL OR client_id = $2) AND revoked_at IS NULL GROUP BY family_id \
    ON CONFLICT (family_id) DO NOTHING";
const REVOKE_TOKENS_OF: &str = "UPDATE refresh_tokens SET revoked_at = $3 \
    WHERE account_id = $1 AND ($2 IS NULL OR client_id = $2) AND revoked_at IS NULL";
const ACTIVE: &str = "SELECT token_hash, family_id, client_id, account_id, sub, scope, auth_time, acr, amr, level_source, sid, created_at, expires_at, \
    family_expires_at FROM refresh_tokens WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL";
const PURGE: &str = "DELETE FROM refresh_tokens WHERE family_expires_at < $1";
const PURGE_GRANTS: &str = "DELETE FROM revoked_grants WHERE expires_at < $1";

#[derive(sqlx::FromRow)]
struct PresentRow {
    #[sqlx(flatten)]
    row: Row,
    used: bool,
    revoked: bool,
}

impl RefreshTokens<'_> {
    /// # Errors
    /// A backend error.
    pub async fn insert(&self, r: &RefreshRecord) -> StoreResult<()> {
        on_db!(self.0, |p| bind_record!(sqlx::query(INSERT), r)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// What the presented token is at `now`, without changing anything.
    ///
    /// # Errors
    /// A backend error.
    pub async fn present(
        &self,
        token_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Presented> {
        let row: Option<PresentRow> = on_db!(self.0, |p| sqlx::query_as(PRESENT)
            .bind(token_hash)
            .bind(client_id)
            .fetch_optional(p)
            .await)?;
        let Some(r) = row else {
            return Ok(Presented::Invalid);
        };
        let rec: RefreshRecord = r.row.try_into()?;
        Ok(if r.revoked || rec.is_expired(now) {
            Presented::Invalid
        } else if r.used {
            Presented::Used {
                family_id: rec.family_id,
            }
        } else {
            Presented::Usable(Box::new(rec))
        })
    }

    /// Rotates in one transaction at `now`: marks `old` used, if it is still usable (unused,
    /// unrevoked, unexpired, its grant not revoked), and stores `next`. Returns whether it
    /// rotated; `false` changes nothing (another request used the token first, or it was
    /// revoked meanwhile). Of two concurrent rotations of one token exactly one succeeds, and
    /// its successor is committed before the other can see the token as used.
    ///
    /// # Errors
    /// A backend error (nothing changed).
    pub async fn rotate(
        &self,
        old_hash: &str,
        client_id: &str,
        next: &RefreshRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(write_tx!(self.0, |tx| {
            let used = sqlx::query(USE)
                .bind(old_hash)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if used == 1 {
                bind_record!(sqlx::query(INSERT), next)
                    .execute(&mut *tx)
                    .await?;
                true
            } else {
                // Nothing changed: committing is the same as rolling back.
                false
            }
        })?)
    }

    /// Revokes a grant for good: a row in `revoked_grants` until `until` (when the family
    /// would have expired anyway) and every token of the family. Tokens that a concurrent
    /// rotation adds to the family later are refused by that row.
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_family(&self, family_id: Uuid, until: DateTime<Utc>) -> StoreResult<u64> {
        let now = Utc::now();
        Ok(write_tx!(self.0, |tx| {
            sqlx::query(REVOKE_GRANT)
                .bind(family_id)
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REVOKE_FAMILY)
                .bind(family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        })?)
    }

    /// Revokes every grant of an account (password reset), for good (see
    /// [`RefreshTokens::revoke_family`]).
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_all_for(&self, account: AccountId) -> StoreResult<u64> {
        self.revoke_grants_of(account, None).await
    }

    /// Revokes every grant a client holds for an account (consent withdrawn), for good.
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke_for(&self, account: AccountId, client_id: &str) -> StoreResult<u64> {
        self.revoke_grants_of(account, Some(client_id)).await
    }

    async fn revoke_grants_of(
        &self,
        account: AccountId,
        client_id: Option<&str>,
    ) -> StoreResult<u64> {
        let now = Utc::now();
        Ok(write_tx!(self.0, |tx| {
            sqlx::query(REVOKE_GRANTS_OF)
                .bind(account.0)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REVOKE_TOKENS_OF)
                .bind(account.0)
                .bind(client_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        })?)
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

    /// Deletes families whose absolute lifetime ended before `before`, and revocation rows
    /// of grants that could no longer be used anyway.
    ///
    /// # Errors
    /// A backend error.
    pub async fn purge_expired(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        on_db!(self.0, |p| sqlx::query(PURGE_GRANTS)
            .bind(before)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(on_db!(self.0, |p| sqlx::query(PURGE)
            .bind(before)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
