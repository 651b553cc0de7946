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
    /// The Kommune's own Impressum and privacy notice (https URLs), if set.
    pub impressum_url: Option<String>,
    pub privacy_url: Option<String>,
    /// Disabled by an admin: its portals and systems are refused.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The Kommune's accent colour (`#rrggbb`, checked for contrast when set).
    pub accent_color: Option<String>,
    /// Where citizens get help (a phone number, an address, a URL), shown as text.
    pub support_contact: Option<String>,
    /// Whether a logo is stored (served at `/kommune/{slug}/logo`).
    pub has_logo: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
    impressum_url: Option<String>,
    privacy_url: Option<String>,
    disabled_at: Option<DateTime<Utc>>,
    accent_color: Option<String>,
    support_contact: Option<String>,
    has_logo: bool,
}

impl TryFrom<Row> for Tenant {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(Tenant {
            id: TenantId(r.id),
            slug: TenantSlug::parse(&r.slug).map_err(|e| StoreError::Corrupt(e.into()))?,
            name: r.name,
            created_at: r.created_at,
            impressum_url: r.impressum_url,
            privacy_url: r.privacy_url,
            disabled_at: r.disabled_at,
            accent_color: r.accent_color,
            support_contact: r.support_contact,
            has_logo: r.has_logo,
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
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, slug, name, created_at, impressum_url, privacy_url, disabled_at, ",
            "accent_color, support_contact, logo IS NOT NULL AS has_logo FROM tenants ",
            $rest
        )
    };
}
const BY_SLUG: &str = select!("WHERE slug = $1");
const BY_ID: &str = select!("WHERE id = $1");
const ALL: &str = select!("ORDER BY slug");
const SET_PROFILE: &str = "UPDATE tenants SET name = $2, accent_color = $3, support_contact = $4 \
    WHERE id = $1";
const SET_DISABLED: &str = "UPDATE tenants SET disabled_at = $2 WHERE id = $1";
const SET_LOGO: &str = "UPDATE tenants SET logo = $2, logo_type = $3 WHERE id = $1";
const LOGO: &str = "SELECT logo, logo_type FROM tenants WHERE slug = $1 AND logo IS NOT NULL";
const DELETE: &str = "DELETE FROM tenants WHERE id = $1";
const SET_LINKS: &str = "UPDATE tenants SET impressum_url = $2, privacy_url = $3 WHERE id = $1";

impl Tenants<'_> {
    /// Every tenant, by slug (a Verbund has tens, a Land a few hundred).
    ///
    /// # Errors
    /// A backend error, or a stored slug that no longer parses.
    pub async fn all(&self) -> StoreResult<Vec<Tenant>> {
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(ALL).fetch_all(p).await)?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// # Errors
    /// `Conflict` when the slug is taken.
    pub async fn insert(&self, slug: &TenantSlug, name: &str) -> StoreResult<Tenant> {
        let t = Tenant {
            id: TenantId::new(),
            slug: slug.clone(),
            name: name.to_owned(),
            created_at: Utc::now(),
            impressum_url: None,
            privacy_url: None,
            disabled_at: None,
            accent_color: None,
            support_contact: None,
            has_logo: false,
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

    /// Sets (or, with `None`, clears) the Kommune's Impressum and privacy links.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_links(
        &self,
        id: TenantId,
        impressum: Option<&str>,
        privacy: Option<&str>,
    ) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_LINKS)
            .bind(id.0)
            .bind(impressum)
            .bind(privacy)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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

    /// Sets the name, accent colour and support contact.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_profile(
        &self,
        id: TenantId,
        name: &str,
        accent: Option<&str>,
        support: Option<&str>,
    ) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_PROFILE)
            .bind(id.0)
            .bind(name)
            .bind(accent)
            .bind(support)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Disables (with a time) or enables (with `None`) the tenant.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_disabled(&self, id: TenantId, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_DISABLED)
            .bind(id.0)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Stores (or, with `None`, removes) the logo and its content type.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_logo(&self, id: TenantId, logo: Option<(&[u8], &str)>) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_LOGO)
            .bind(id.0)
            .bind(logo.map(|l| l.0))
            .bind(logo.map(|l| l.1))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The logo's bytes and content type, if the tenant has one.
    ///
    /// # Errors
    /// A backend error.
    pub async fn logo(&self, slug: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(LOGO)
            .bind(slug)
            .fetch_optional(p)
            .await)?)
    }

    /// Deletes a tenant; its clients, processes and roles go with it.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` when messages name it as their sender's tenant.
    pub async fn delete(&self, id: TenantId) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(DELETE)
            .bind(id.0)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
