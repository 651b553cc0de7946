//! The process catalogue in the console: search, the Verbund's level (Verbund admins), a
//! tenant's raise (its Kommune admins), and who changed what when.

use super::{Actor, Admin, AdminError, Bad};
use crate::catalogue::{Catalogue, CatalogueError};
use crate::domain::level::Loa;
use crate::domain::process::ProcessScope;
use crate::domain::role::{Duty, DutyKind};
use crate::store::processes::ProcessRow;
use serde_json::json;

/// How many processes a search shows.
pub const SEARCH_ROWS: i64 = 200;

impl Admin {
    /// Catalogue entries whose id or name contains `text`, each with the raises of the
    /// tenants the actor has a duty in (a Verbund admin sees all).
    ///
    /// # Errors
    /// A backend error.
    pub async fn processes(
        &self,
        actor: &Actor,
        text: &str,
    ) -> Result<Vec<ProcessRow>, AdminError> {
        let text = Some(text.trim()).filter(|t| !t.is_empty());
        let reach = actor.grants.reach(DutyKind::Configure);
        Ok(self
            .db
            .processes()
            .search(text, SEARCH_ROWS)
            .await?
            .into_iter()
            .filter(|p| {
                p.tenant_id
                    .is_none_or(|t| reach.covers(crate::domain::ids::TenantId(t)))
            })
            .collect())
    }

    /// Sets the Verbund's level (no tenant; Verbund admins) or raises it for a tenant (its
    /// Kommune admins), by the catalogue's rules (a raise never lowers, needs the Verbund's
    /// entry).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound` (tenant), `Invalid` naming the rule.
    pub async fn set_process(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        (level, upstream_required): (&str, Option<bool>),
        tenant: Option<&str>,
    ) -> Result<(), AdminError> {
        let level = Loa::from_name(level).ok_or(AdminError::Invalid(Bad::Level))?;
        let (scope, tenant_id) = match tenant.map(str::trim).filter(|t| !t.is_empty()) {
            None => {
                actor.must(Duty::Verbund)?;
                (ProcessScope::Verbund, None)
            }
            Some(slug) => {
                let t = self.tenant(actor, slug).await?;
                actor.must(Duty::Configure(t.id))?;
                (ProcessScope::Tenant(t.id), Some(t.id))
            }
        };
        // A raise keeps the Verbund's name.
        let catalogue = Catalogue::new(self.db.clone());
        let name = match scope {
            ProcessScope::Verbund => name.to_owned(),
            ProcessScope::Tenant(_) => {
                let id = crate::domain::process::ProcessId::parse(id).map_err(|_| {
                    AdminError::Invalid(Bad::Process(CatalogueError::UnknownProcess.to_string()))
                })?;
                match catalogue.lookup(&id, None).await? {
                    Some((p, _)) => p.name,
                    None => {
                        return Err(AdminError::Invalid(Bad::Process(
                            CatalogueError::UnknownProcess.to_string(),
                        )));
                    }
                }
            }
        };
        let p = match catalogue
            .set(id, &name, (level, upstream_required), scope, &actor.label)
            .await
        {
            Ok(p) => p,
            Err(CatalogueError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(AdminError::Invalid(Bad::Process(e.to_string()))),
        };
        self.audit(
            actor,
            "admin.process_set",
            tenant_id,
            None,
            None,
            json!({ "process": p.id.as_str(), "name": p.name, "level": p.level.name(), "upstream_required": p.upstream_required }),
        )
        .await
    }
}
