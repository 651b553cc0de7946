//! The process catalogue.

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::ids::TenantId;
use crate::domain::level::Loa;
use crate::domain::process::{Process, ProcessId, ProcessScope};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Processes<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn processes(&self) -> Processes<'_> {
        Processes(self)
    }
}

const UPSERT: &str = "INSERT INTO processes (id, scope, tenant_id, name, level, updated_at, updated_by, upstream_required) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id, scope) DO UPDATE SET name = excluded.name, \
    level = excluded.level, updated_at = excluded.updated_at, updated_by = excluded.updated_by, \
    upstream_required = excluded.upstream_required";
// The Verbund's entries that match (id or name), with every raise of them.
const SEARCH: &str = "SELECT id, tenant_id, name, level, updated_at, updated_by, upstream_required FROM processes \
    WHERE id IN (SELECT id FROM processes WHERE scope = 'verbund' \
        AND ($1 IS NULL OR lower(name) LIKE $1 ESCAPE '\\' OR id LIKE $1 ESCAPE '\\') ORDER BY id LIMIT $2) \
    ORDER BY id, tenant_id IS NOT NULL, updated_at";

/// An entry as the administration lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProcessRow {
    pub id: String,
    /// `None` for the Verbund's entry, the raising tenant otherwise.
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub level: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
    pub upstream_required: bool,
}
const GET: &str =
    "SELECT name, level, upstream_required FROM processes WHERE id = $1 AND scope = $2";

impl Processes<'_> {
    /// Creates or replaces an entry.
    ///
    /// # Errors
    /// A backend error, or `Conflict` if the tenant is gone.
    pub async fn upsert(&self, p: &Process, by: &str) -> StoreResult<()> {
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
            .bind(by)
            .bind(p.upstream_required)
            .execute(db)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// # Errors
    /// A backend error.
    pub async fn get(&self, id: &ProcessId, scope: ProcessScope) -> StoreResult<Option<Process>> {
        let row: Option<(String, String, bool)> = on_db!(self.0, |db| sqlx::query_as(GET)
            .bind(id.as_str())
            .bind(scope.key())
            .fetch_optional(db)
            .await)?;
        row.map(|(name, level, upstream_required)| {
            Ok(Process {
                id: id.clone(),
                scope,
                name,
                level: Loa::from_name(&level)
                    .ok_or_else(|| StoreError::Corrupt(format!("level {level}")))?,
                upstream_required,
            })
        })
        .transpose()
    }

    /// The Verbund's entries whose id or name contains `text` (all without), at most
    /// `limit`, each followed by its tenant raises.
    ///
    /// # Errors
    /// A backend error.
    pub async fn search(&self, text: Option<&str>, limit: i64) -> StoreResult<Vec<ProcessRow>> {
        let pattern = text.map(|t| {
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        Ok(on_db!(self.0, |db| sqlx::query_as(SEARCH)
            .bind(pattern.as_deref())
            .bind(limit)
            .fetch_all(db)
            .await)?)
    }
}
