//! Kommunen (tenants): create, rename, disable, and their face (accent colour, support
//! contact, legal links).

use super::{Actor, Admin, AdminError, Bad};
use crate::domain::brand;
use crate::domain::ids::TenantSlug;
use crate::domain::role::{Duty, DutyKind, Reach};
use crate::store::StoreError;
use crate::store::tenants::Tenant;
use serde_json::json;

/// What an admin may change about a tenant's face; every field as typed in the form.
#[derive(Clone, Debug, Default)]
pub struct TenantProfile {
    pub name: String,
    pub accent_color: String,
    pub support_contact: String,
    pub impressum_url: String,
    pub privacy_url: String,
}

impl Admin {
    /// A tenant by slug, if the actor has any duty there.
    ///
    /// # Errors
    /// `NotFound` for an unknown slug and for one the actor has no duty in (one answer, so
    /// an admin does not learn other tenants' slugs).
    pub async fn tenant(&self, actor: &Actor, slug: &str) -> Result<Tenant, AdminError> {
        let t = match self.db.tenants().by_slug(slug).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => return Err(AdminError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let sees = [DutyKind::Configure, DutyKind::Desk, DutyKind::ReadAudit]
            .into_iter()
            .any(|k| actor.grants.reach(k).covers(t.id));
        if sees {
            Ok(t)
        } else {
            Err(AdminError::NotFound)
        }
    }

    /// The tenants the actor has a duty in, by slug.
    ///
    /// # Errors
    /// A backend error.
    pub async fn tenants(&self, actor: &Actor) -> Result<Vec<Tenant>, AdminError> {
        let reaches: Vec<Reach> = [DutyKind::Configure, DutyKind::Desk, DutyKind::ReadAudit]
            .into_iter()
            .map(|k| actor.grants.reach(k))
            .collect();
        Ok(self
            .db
            .tenants()
            .all()
            .await?
            .into_iter()
            .filter(|t| reaches.iter().any(|r| r.covers(t.id)))
            .collect())
    }

    /// Creates a tenant (Verbund admins).
    ///
    /// # Errors
    /// `Forbidden`, `Invalid` for a bad slug or name or a taken slug.
    pub async fn create_tenant(
        &self,
        actor: &Actor,
        slug: &str,
        name: &str,
    ) -> Result<Tenant, AdminError> {
        actor.must(Duty::Verbund)?;
        let slug = TenantSlug::parse(slug.trim()).map_err(|_| AdminError::Invalid(Bad::Slug))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AdminError::Invalid(Bad::Name));
        }
        let t = match self.db.tenants().insert(&slug, name).await {
            Err(e) if e.is_conflict_on("slug") => {
                return Err(AdminError::Invalid(Bad::SlugTaken));
            }
            other => other?,
        };
        self.audit(
            actor,
            "admin.tenant_created",
            Some(t.id),
            None,
            None,
            json!({ "slug": t.slug, "name": t.name }),
        )
        .await?;
        Ok(t)
    }

    /// Changes a tenant's name and face (its Kommune admins and Verbund admins). Every field
    /// is checked before anything is stored.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid` naming the field that is wrong.
    pub async fn update_tenant(
        &self,
        actor: &Actor,
        slug: &str,
        p: &TenantProfile,
    ) -> Result<Tenant, AdminError> {
        let t = self.tenant(actor, slug).await?;
        actor.must(Duty::Configure(t.id))?;
        let name = p.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AdminError::Invalid(Bad::Name));
        }
        let accent =
            brand::accent_color(&p.accent_color).map_err(|_| AdminError::Invalid(Bad::Accent))?;
        let support = brand::support_contact(&p.support_contact)
            .map_err(|_| AdminError::Invalid(Bad::Support))?;
        let link = |v: &str| {
            crate::domain::net::public_link(v).map_err(|_| AdminError::Invalid(Bad::Link))
        };
        let (impressum, privacy) = (link(&p.impressum_url)?, link(&p.privacy_url)?);
        let tenants = self.db.tenants();
        tenants
            .set_profile(t.id, name, accent.as_deref(), support.as_deref())
            .await?;
        tenants
            .set_links(t.id, impressum.as_deref(), privacy.as_deref())
            .await?;
        self.audit(
            actor,
            "admin.tenant_updated",
            Some(t.id),
            None,
            None,
            json!({
                "name": name,
                "accent_color": accent,
                "support_contact": support,
                "impressum_url": impressum,
                "privacy_url": privacy,
            }),
        )
        .await?;
        Ok(tenants.by_id(t.id).await?)
    }

    /// Disables a tenant (its portals and systems are refused from then on) or enables it
    /// again (Verbund admins).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn set_tenant_disabled(
        &self,
        actor: &Actor,
        slug: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let t = self.tenant(actor, slug).await?;
        actor.must(Duty::Verbund)?;
        let at = disabled.then(chrono::Utc::now);
        self.db.tenants().set_disabled(t.id, at).await?;
        self.tenant_changed();
        let kind = if disabled {
            "admin.tenant_disabled"
        } else {
            "admin.tenant_enabled"
        };
        self.audit(
            actor,
            kind,
            Some(t.id),
            None,
            None,
            json!({ "slug": t.slug }),
        )
        .await
    }
}

/// The overview's counts: aggregates only.
pub struct Overview {
    /// Accounts per proofing level.
    pub accounts: Vec<(String, i64)>,
    /// Completed logins since midnight (German civil time) per the level they reached.
    pub logins: Vec<(String, i64)>,
    /// Per tenant: name, clients, messages sent, unread.
    pub tenants: Vec<(String, i64, i64, i64)>,
    /// Portals whose back-channel logout failed in the last day: name, failures.
    pub failing_backchannel: Vec<(String, i64)>,
}

impl Admin {
    /// Every tenant's id and name (to name a grant's tenant; names are not secret).
    ///
    /// # Errors
    /// A backend error.
    pub async fn all_tenant_names(
        &self,
    ) -> Result<Vec<(crate::domain::ids::TenantId, String)>, AdminError> {
        Ok(self
            .db
            .tenants()
            .all()
            .await?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect())
    }

    /// A tenant's slug (for forms that name it).
    ///
    /// # Errors
    /// A backend error.
    pub async fn tenant_slug(
        &self,
        id: crate::domain::ids::TenantId,
    ) -> Result<String, AdminError> {
        Ok(self.db.tenants().by_id(id).await?.slug.as_str().to_owned())
    }

    /// The overview's counts for these tenants.
    ///
    /// # Errors
    /// A backend error.
    pub async fn overview(&self, tenants: &[Tenant]) -> Result<Overview, AdminError> {
        let stats = self.db.stats();
        let midnight = crate::domain::civil::start_of_day(chrono::Utc::now());
        let mut rows = Vec::with_capacity(tenants.len());
        let mut failing = Vec::new();
        let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
        for t in tenants {
            let (sent, unread) = stats.messages_of(t.id).await?;
            rows.push((t.name.clone(), stats.clients_of(t.id).await?, sent, unread));
            for (_, name, n) in stats.backchannel_failures(t.id, day_ago).await? {
                failing.push((format!("{name} ({})", t.name), n));
            }
        }
        Ok(Overview {
            accounts: stats.accounts_by_level().await?,
            logins: stats.logins_by_level(midnight).await?,
            tenants: rows,
            failing_backchannel: failing,
        })
    }
}

impl Admin {
    /// Every tenant's id and slug.
    ///
    /// # Errors
    /// A backend error.
    pub async fn all_tenant_slugs(
        &self,
    ) -> Result<Vec<(crate::domain::ids::TenantId, String)>, AdminError> {
        Ok(self
            .db
            .tenants()
            .all()
            .await?
            .into_iter()
            .map(|t| (t.id, t.slug.as_str().to_owned()))
            .collect())
    }
}

impl Admin {
    /// A tenant's logo (public: it is shown on the login page).
    ///
    /// # Errors
    /// A backend error.
    pub async fn logo(&self, slug: &str) -> Result<Option<Vec<u8>>, AdminError> {
        Ok(self.db.tenants().logo(slug).await?.map(|(bytes, _)| bytes))
    }

    /// Stores (or, with `None`, removes) a tenant's logo after checking it.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::Logo)`.
    pub async fn set_logo(
        &self,
        actor: &Actor,
        slug: &str,
        logo: Option<&[u8]>,
    ) -> Result<(), AdminError> {
        let t = self.tenant(actor, slug).await?;
        actor.must(Duty::Configure(t.id))?;
        let checked = match logo {
            Some(bytes) => Some((
                bytes,
                brand::logo(bytes).map_err(|_| AdminError::Invalid(Bad::Logo))?,
            )),
            None => None,
        };
        self.db.tenants().set_logo(t.id, checked).await?;
        self.audit(
            actor,
            if checked.is_some() {
                "admin.tenant_logo_set"
            } else {
                "admin.tenant_logo_removed"
            },
            Some(t.id),
            None,
            None,
            json!({ "bytes": logo.map_or(0, <[u8]>::len), "type": checked.map(|c| c.1) }),
        )
        .await
    }
}

impl Admin {
    /// Deletes a tenant with its portals, processes and roles (Verbund admins). A tenant
    /// whose systems sent messages cannot be deleted (the evidence names it): disable it.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::TenantInUse)`.
    pub async fn delete_tenant(&self, actor: &Actor, slug: &str) -> Result<(), AdminError> {
        let t = self.tenant(actor, slug).await?;
        actor.must(Duty::Verbund)?;
        match self.db.tenants().delete(t.id).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(AdminError::Invalid(Bad::TenantInUse)),
            Err(e) => return Err(e.into()),
        }
        self.tenant_changed();
        self.audit(
            actor,
            "admin.tenant_deleted",
            Some(t.id),
            None,
            None,
            json!({ "slug": t.slug, "name": t.name }),
        )
        .await
    }
}

/// A change of some of a tenant's face (the CLI's `tenant update`, the API's `PATCH`): what
/// is absent stays, an empty string clears.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChanges {
    pub name: Option<String>,
    /// `#rrggbb` with at least 4.5:1 against white.
    pub accent_color: Option<String>,
    pub support_contact: Option<String>,
    pub impressum_url: Option<String>,
    pub privacy_url: Option<String>,
}

impl Admin {
    /// Applies a change to a tenant's name and face, by [`Admin::update_tenant`]'s rules.
    ///
    /// # Errors
    /// As [`Admin::update_tenant`].
    pub async fn change_tenant(
        &self,
        actor: &Actor,
        slug: &str,
        ch: TenantChanges,
    ) -> Result<Tenant, AdminError> {
        let t = self.tenant(actor, slug).await?;
        let p = TenantProfile {
            name: ch.name.unwrap_or(t.name),
            accent_color: ch.accent_color.or(t.accent_color).unwrap_or_default(),
            support_contact: ch.support_contact.or(t.support_contact).unwrap_or_default(),
            impressum_url: ch.impressum_url.or(t.impressum_url).unwrap_or_default(),
            privacy_url: ch.privacy_url.or(t.privacy_url).unwrap_or_default(),
        };
        self.update_tenant(actor, slug, &p).await
    }
}
