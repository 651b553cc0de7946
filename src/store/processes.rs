//! The process catalogue.

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::ids::TenantId;
use crate::domain::level::Loa;
use crate::domain::process::{Process, ProcessId, ProcessScope};
use chrono::Utc;
use uuid::Uuid;

pub struct Processes<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn processes(&self) -> Processes<'_> {
        Processes(self)
    }
}

const UPSERT: &str = "INSERT INTO processes (id, scope, tenant_id, name, level, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (id, scope) DO UPDATE SET name = excluded.name, level = excluded.level, updated_at = excluded.updated_at";
const GET: &str = "SELECT name, level FROM processes WHERE id = $1 AND scope = $2";

impl Processes<'_> {
    /// Creates or replaces an entry.
    ///
    /// # Errors
    /// A backend error, or `Conflict` if the tenant is gone.
    pub async fn upsert(&self, p: &Process) -> StoreResult<()> {
        let tenant: Option<Uuid> = match p.scope {
            ProcessScope::Verbund => None,
            ProcessScope::Tenant(TenantId(t)) => Some(t),
        };
        on_db!(self.0, |db| sqlx::query(UPSERT)
            .bind(p.id.as_str())
            .bind(p.scope.key())
            .bind(tenant)
            .bind(&p.name)
            .bind(p.level.name())
            .bind(Utc::now())
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// # Errors
    /// A backend error.
    pub async fn get(&self, id: &ProcessId, scope: ProcessScope) -> StoreResult<Option<Process>> {
        let row: Option<(String, String)> = on_db!(self.0, |db| sqlx::query_as(GET)
            .bind(id.as_str())
            .bind(scope.key())
            .fetch_optional(db)
            .await)?;
        row.map(|(name, level)| {
            Ok(Process {
                id: id.clone(),
                scope,
                name,
                level: Loa::from_name(&level)
                    .ok_or_else(|| StoreError::Corrupt(format!("level {level}")))?,
            })
        })
        .transpose()
    }
}
