//! Identity proofing: who confirmed an account holder's identity, how, and at which level.
//! Recording it and raising the account's level happen in one transaction.

use super::on_db;
use super::{Db, StoreResult, write_tx};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Proofings<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn proofings(&self) -> Proofings<'_> {
        Proofings(self)
    }
}

const INSERT: &str = "INSERT INTO identity_proofings (id, account_id, level, method, document_type, verified_by, at, tenant_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const OF_ACCOUNT: &str = "SELECT level, method, document_type, verified_by, at, tenant_id \
    FROM identity_proofings WHERE account_id = $1 ORDER BY at DESC LIMIT 50";

/// One recorded proofing, as the clerk desk shows it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProofingRow {
    pub level: String,
    pub method: String,
    pub document_type: Option<String>,
    pub verified_by: String,
    pub at: DateTime<Utc>,
    pub tenant_id: Option<uuid::Uuid>,
}
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
        tenant: Option<TenantId>,
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
                .bind(tenant.map(|t| t.0))
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

    /// The account's proofings, newest first (at most 50).
    ///
    /// # Errors
    /// A backend error.
    pub async fn of_account(&self, account: AccountId) -> StoreResult<Vec<ProofingRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(OF_ACCOUNT)
            .bind(account.0)
            .fetch_all(p)
            .await)?)
    }
}
