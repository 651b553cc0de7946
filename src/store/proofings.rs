//! Identity proofing: who confirmed an account holder's identity, how, and at which level.
//! Recording it and raising the account's level happen in one transaction.

use super::{Db, StoreResult, write_tx};
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use chrono::Utc;
use uuid::Uuid;

pub struct Proofings<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn proofings(&self) -> Proofings<'_> {
        Proofings(self)
    }
}

const INSERT: &str = "INSERT INTO identity_proofings (id, account_id, level, method, document_type, verified_by, at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";
// Only ever raises: a weaker confirmation (a later clerk's check, a low upstream login) does
// not undo a stronger one.
const SET_LEVEL: &str = "UPDATE accounts SET proofing_level = $2, updated_at = $3 WHERE id = $1 \
    AND CASE proofing_level WHEN 'high' THEN 3 WHEN 'substantial' THEN 2 ELSE 1 END < CASE $2 WHEN 'high' THEN 3 WHEN 'substantial' THEN 2 ELSE 1 END";

impl Proofings<'_> {
    /// Records a proofing and raises the account's level to it (never lowers it).
    ///
    /// # Errors
    /// A backend error; `Conflict` when the account does not exist.
    pub async fn record(
        &self,
        account: AccountId,
        level: Loa,
        method: &str,
        document_type: Option<&str>,
        verified_by: &str,
    ) -> StoreResult<()> {
        write_tx!(self.0, |tx| {
            sqlx::query(INSERT)
                .bind(Uuid::now_v7())
                .bind(account.0)
                .bind(level.name())
                .bind(method)
                .bind(document_type)
                .bind(verified_by)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
            sqlx::query(SET_LEVEL)
                .bind(account.0)
                .bind(level.name())
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
        })?;
        Ok(())
    }
}
