//! Tenants: the Landkreis and the Kommunen of a Verbund.

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::ids::{TenantId, TenantSlug};
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<Row> for Tenant {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(Tenant {
            id: TenantId(r.id),
            slug: TenantSlug::parse(&r.slug).map_err(|e| StoreError::Corrupt(e.into()))?,
            name: r.name,
            created_at: r.created_at,
        })
    }
}

pub struct Tenants<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants(self)
    }
}

const INSERT: &str = "INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)";
const BY_SLUG: &str = "SELECT id, slug, name, created_at FROM tenants WHERE slug = $1";
const BY_ID: &str = "SELECT id, slug, name, created_at FROM tenants WHERE id = $1";

impl Tenants<'_> {
    /// # Errors
    /// `Conflict` when the slug is taken.
    pub async fn insert(&self, slug: &TenantSlug, name: &str) -> StoreResult<Tenant> {
        let t = Tenant {
            id: TenantId::new(),
            slug: slug.clone(),
            name: name.to_owned(),
            created_at: Utc::now(),
        };
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(t.id.0)
            .bind(t.slug.as_str())
            .bind(&t.name)
            .bind(t.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(t)
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn by_slug(&self, slug: &str) -> StoreResult<Tenant> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(BY_SLUG)
            .bind(slug)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn by_id(&self, id: TenantId) -> StoreResult<Tenant> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(BY_ID)
            .bind(id.0)
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }
}
