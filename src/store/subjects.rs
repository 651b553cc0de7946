//! Pairwise subject identifiers handed out per sector (tenant), so a `sub` can be resolved
//! back to the account by the provider only.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::AccountId;
use uuid::Uuid;

pub struct Subjects<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn subjects(&self) -> Subjects<'_> {
        Subjects(self)
    }
}

const INSERT: &str = "INSERT INTO subjects (sector, sub, account_id) VALUES ($1, $2, $3) ON CONFLICT (sector, sub) DO NOTHING";
const RESOLVE: &str = "SELECT account_id FROM subjects WHERE sector = $1 AND sub = $2";

impl Subjects<'_> {
    /// Records that `sub` in `sector` names `account` (idempotent).
    ///
    /// # Errors
    /// A backend error.
    pub async fn remember(&self, sector: &str, sub: &str, account: AccountId) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(sector)
            .bind(sub)
            .bind(account.0)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// # Errors
    /// A backend error.
    pub async fn resolve(&self, sector: &str, sub: &str) -> StoreResult<Option<AccountId>> {
        let row: Option<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(RESOLVE)
            .bind(sector)
            .bind(sub)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|(id,)| AccountId(id)))
    }
}
