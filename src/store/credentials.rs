//! Second factors: a TOTP secret per account (with the last accepted time step, so a code is
//! never accepted twice) and single-use recovery codes stored as digests.

use super::{Db, StoreResult, on_db, write_tx};
use crate::domain::ids::AccountId;
use chrono::Utc;

pub struct Credentials<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn credentials(&self) -> Credentials<'_> {
        Credentials(self)
    }
}

const SET_TOTP: &str = "INSERT INTO totp_credentials (account_id, secret, last_used_step, created_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, last_used_step = excluded.last_used_step, created_at = excluded.created_at";
const GET_TOTP: &str = "SELECT secret, last_used_step FROM totp_credentials WHERE account_id = $1";
const USE_STEP: &str =
    "UPDATE totp_credentials SET last_used_step = $2 WHERE account_id = $1 AND last_used_step < $2";
const DELETE_CODES: &str = "DELETE FROM recovery_codes WHERE account_id = $1";
const ADD_CODE: &str = "INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)";
const DELETE_TOTP: &str = "DELETE FROM totp_credentials WHERE account_id = $1";
const USE_CODE: &str = "UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL";

impl Credentials<'_> {
    /// Stores (or replaces) the TOTP secret and the recovery-code digests of an account.
    ///
    /// # Errors
    /// A backend error.
    pub async fn set_totp(
        &self,
        account: AccountId,
        secret: &[u8],
        used_step: i64,
        recovery_digests: &[String],
    ) -> StoreResult<()> {
        write_tx!(self.0, |tx| {
            sqlx::query(SET_TOTP)
                .bind(account.0)
                .bind(secret)
                .bind(used_step)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_CODES)
                .bind(account.0)
                .execute(&mut *tx)
                .await?;
            for d in recovery_digests {
                sqlx::query(ADD_CODE)
                    .bind(account.0)
                    .bind(d)
                    .execute(&mut *tx)
                    .await?;
            }
        })?;
        Ok(())
    }

    /// The TOTP secret and last accepted step, if the account has TOTP.
    ///
    /// # Errors
    /// A backend error.
    pub async fn totp(&self, account: AccountId) -> StoreResult<Option<(Vec<u8>, i64)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(GET_TOTP)
            .bind(account.0)
            .fetch_optional(p)
            .await)?)
    }

    /// Accepts a time step once: true only if it is newer than every step accepted before
    /// (atomic, so two concurrent uses of one code cannot both succeed).
    ///
    /// # Errors
    /// A backend error.
    pub async fn use_step(&self, account: AccountId, step: i64) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(USE_STEP)
            .bind(account.0)
            .bind(step)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Removes the account's TOTP secret and recovery codes.
    ///
    /// # Errors
    /// A backend error.
    pub async fn remove_totp(&self, account: AccountId) -> StoreResult<()> {
        write_tx!(self.0, |tx| {
            sqlx::query(DELETE_TOTP)
                .bind(account.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(DELETE_CODES)
                .bind(account.0)
                .execute(&mut *tx)
                .await?;
        })?;
        Ok(())
    }

    /// Uses a recovery code once.
    ///
    /// # Errors
    /// A backend error.
    pub async fn use_recovery_code(&self, account: AccountId, digest: &str) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(USE_CODE)
            .bind(account.0)
            .bind(digest)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
