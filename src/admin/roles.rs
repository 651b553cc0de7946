//! Granting and revoking roles (CLI `admin grant|revoke|list`, the console's role page).

use super::{Actor, Admin, AdminError, Bad};
use crate::domain::role::{DutyKind, Grant, Role};
use crate::store::StoreError;
use crate::store::roles::RoleRow;
use serde_json::json;

impl Admin {
    /// Parses a role and an optional tenant slug into a grant the role's rule allows.
    ///
    /// # Errors
    /// `Invalid` for an unknown role or tenant, or a tenant where the role takes none.
    pub async fn parse_grant(&self, role: &str, tenant: Option<&str>) -> Result<Grant, AdminError> {
        let role = Role::parse(role).ok_or(AdminError::Invalid(Bad::Role))?;
        let tenant = match tenant.map(str::trim).filter(|s| !s.is_empty()) {
            Some(slug) => Some(match self.db.tenants().by_slug(slug).await {
                Ok(t) => t.id,
                Err(StoreError::NotFound) => return Err(AdminError::Invalid(Bad::UnknownTenant)),
                Err(e) => return Err(e.into()),
            }),
            None => None,
        };
        Grant::new(role, tenant).map_err(|_| AdminError::Invalid(Bad::RoleTenant))
    }

    /// Grants `grant` to the account with this address; returns whether it is new.
    ///
    /// # Errors
    /// `Forbidden` when the actor may not assign it, `NotFound` for an unknown address.
    pub async fn grant(
        &self,
        actor: &Actor,
        email: &str,
        grant: Grant,
    ) -> Result<bool, AdminError> {
        if !actor.grants.may_assign(grant) {
            return Err(AdminError::Forbidden);
        }
        let account = self.account_of(email).await?.id;
        let new = self.db.roles().grant(account, grant, &actor.label).await?;
        if new {
            self.audit(
                actor,
                "admin.role_granted",
                grant.tenant,
                Some(account),
                None,
                json!({ "role": grant.role.as_str() }),
            )
            .await?;
        }
        Ok(new)
    }

    /// Revokes `grant` from the account with this address; returns whether it had it. In the
    /// console, the last Verbund admin cannot revoke that role (the shell can grant it again).
    ///
    /// # Errors
    /// `Forbidden` when the actor may not assign it or it is the last Verbund admin,
    /// `NotFound` for an unknown address.
    pub async fn revoke(
        &self,
        actor: &Actor,
        email: &str,
        grant: Grant,
    ) -> Result<bool, AdminError> {
        if !actor.grants.may_assign(grant) {
            return Err(AdminError::Forbidden);
        }
        let account = self.account_of(email).await?.id;
        if grant.role == Role::VerbundAdmin
            && actor.account.is_some()
            && self.db.roles().verbund_admins().await? <= 1
        {
            return Err(AdminError::Invalid(Bad::LastVerbundAdmin));
        }
        let had = self.db.roles().revoke(account, grant).await?;
        if had {
            self.audit(
                actor,
                "admin.role_revoked",
                grant.tenant,
                Some(account),
                None,
                json!({ "role": grant.role.as_str() }),
            )
            .await?;
        }
        Ok(had)
    }

    /// The grants the actor may see: all for a Verbund admin, those in the tenants it
    /// configures otherwise.
    ///
    /// # Errors
    /// A backend error.
    pub async fn roles(&self, actor: &Actor) -> Result<Vec<RoleRow>, AdminError> {
        let reach = actor.grants.reach(DutyKind::Configure);
        Ok(self
            .db
            .roles()
            .all()
            .await?
            .into_iter()
            .filter(|r| {
                actor.grants.may_assign(r.grant) || r.grant.tenant.is_some_and(|t| reach.covers(t))
            })
            .collect())
    }
}
