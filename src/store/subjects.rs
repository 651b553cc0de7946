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

    /// The accounts behind several subjects of one sector, in one statement per 100
    /// subjects; subjects that name nobody are absent from the answer.
    ///
    /// # Errors
    /// A backend error.
    pub async fn resolve_many(
        &self,
        sector: &str,
        subs: &[&str],
    ) -> StoreResult<std::collections::HashMap<String, AccountId>> {
        let mut found = std::collections::HashMap::new();
        for chunk in subs.chunks(100) {
            let list = (2..chunk.len() + 2)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT sub, account_id FROM subjects WHERE sector = $1 AND sub IN ({list})"
            );
            let rows: Vec<(String, Uuid)> = on_db!(self.0, |p| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(sector);
                for sub in chunk {
                    q = q.bind(*sub);
                }
                q.fetch_all(p).await
            })?;
            found.extend(rows.into_iter().map(|(sub, id)| (sub, AccountId(id))));
        }
        Ok(found)
    }
}
