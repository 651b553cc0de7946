//! Contact topics: what citizens can write to a Kommune about, and which authority system
//! receives it.

use super::{Db, StoreResult, on_db};
use crate::domain::level::Loa;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Topics<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn topics(&self) -> Topics<'_> {
        Topics(self)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TopicRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub slug: String,
    pub name: String,
    pub process: Option<String>,
    pub client_id: String,
    #[sqlx(try_from = "String")]
    pub required_level: Loa,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, tenant_id, slug, name, process, client_id, required_level, created_at, disabled_at";
const INSERT: &str = "INSERT INTO mailbox_topics (id, tenant_id, slug, name, process, client_id, required_level, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const DISABLE: &str = "UPDATE mailbox_topics SET disabled_at = $2 WHERE id = $1";

impl Topics<'_> {
    /// Adds a topic. `Conflict` when the tenant has one by this slug.
    ///
    /// # Errors
    /// A backend error or `Conflict`.
    pub async fn insert(&self, t: &TopicRow) -> StoreResult<()> {
        let _w = self.0.writer().await;
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(t.id)
            .bind(t.tenant_id)
            .bind(&t.slug)
            .bind(&t.name)
            .bind(&t.process)
            .bind(&t.client_id)
            .bind(t.required_level.name())
            .bind(t.created_at)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Every topic (of one tenant), enabled first, by tenant and name.
    ///
    /// # Errors
    /// A backend error.
    pub async fn list(&self, tenant: Option<Uuid>) -> StoreResult<Vec<TopicRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM mailbox_topics WHERE ($1 IS NULL OR tenant_id = $1) \
             ORDER BY disabled_at IS NOT NULL, tenant_id, name"
        );
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(tenant)
        .fetch_all(p)
        .await)?)
    }

    /// # Errors
    /// A backend error.
    pub async fn by_id(&self, id: Uuid) -> StoreResult<Option<TopicRow>> {
        let sql = format!("SELECT {COLUMNS} FROM mailbox_topics WHERE id = $1");
        Ok(on_db!(self.0, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// Disables (`Some`) or enables (`None`) a topic; false when there is none.
    ///
    /// # Errors
    /// A backend error.
    pub async fn set_disabled(&self, id: Uuid, at: Option<DateTime<Utc>>) -> StoreResult<bool> {
        let _w = self.0.writer().await;
        let n = on_db!(self.0, |p| sqlx::query(DISABLE)
            .bind(id)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
