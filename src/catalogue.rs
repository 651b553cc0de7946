//! The process catalogue service: the Verbund sets one level per process, a tenant may raise
//! it for its own portals. Uses domain rules and the store; callers are the CLI, the admin
//! API and the authorization endpoint.

use crate::domain::ids::TenantId;
use crate::domain::level::Loa;
use crate::domain::process::{
    CatalogueRule, Process, ProcessId, ProcessScope, check_tenant_level, effective,
};
use crate::store::tenants::Tenant;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("the Verbund has no process with this id")]
    UnknownProcess,
    #[error("a tenant may raise a process's level, not lower it below the Verbund's {0}")]
    WouldLower(Loa),
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The catalogue: cheap to clone (a pool handle).
#[derive(Clone)]
pub struct Catalogue {
    db: Db,
}

impl Catalogue {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Sets a process's level for the Verbund or for one tenant.
    ///
    /// # Errors
    /// A rule violation, invalid input, or a backend error.
    pub async fn set(
        &self,
        id: &str,
        name: &str,
        (level, upstream_required): (Loa, Option<bool>),
        scope: ProcessScope,
        by: &str,
    ) -> Result<Process, CatalogueError> {
        let db = &self.db;
        let id = ProcessId::parse(id).map_err(CatalogueError::Invalid)?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(CatalogueError::Invalid(
                "a process name is 1 to 200 characters",
            ));
        }
        if let ProcessScope::Tenant(_) = scope {
            let verbund = db
                .processes()
                .get(&id, ProcessScope::Verbund)
                .await?
                .map(|p| p.level);
            check_tenant_level(verbund, level).map_err(|r| match r {
                CatalogueRule::UnknownProcess => CatalogueError::UnknownProcess,
                CatalogueRule::WouldLower { verbund } => CatalogueError::WouldLower(verbund),
            })?;
        }
        // Not named: the entry keeps what it had (an edit of the level must not drop the
        // requirement of an upstream).
        let upstream_required = match upstream_required {
            Some(u) => u,
            None => db
                .processes()
                .get(&id, scope)
                .await?
                .is_some_and(|p| p.upstream_required),
        };
        let p = Process {
            id,
            scope,
            name: name.to_owned(),
            level,
            upstream_required,
        };
        db.processes().upsert(&p, by).await?;
        Ok(p)
    }

    /// The Verbund's entry and the level that applies for `tenant`'s portals (or for the
    /// Verbund when `tenant` is `None`); the entry's `upstream_required` is the one that
    /// applies there too.
    ///
    /// # Errors
    /// A backend error.
    pub async fn lookup(
        &self,
        id: &ProcessId,
        tenant: Option<TenantId>,
    ) -> Result<Option<(Process, Loa)>, StoreError> {
        let db = &self.db;
        let Some(verbund) = db.processes().get(id, ProcessScope::Verbund).await? else {
            return Ok(None);
        };
        let own = match tenant {
            Some(t) => db.processes().get(id, ProcessScope::Tenant(t)).await?,
            None => None,
        };
        let level = effective(verbund.level, own.as_ref().map(|p| p.level));
        // Either entry's requirement of an upstream holds.
        let upstream_required =
            verbund.upstream_required || own.is_some_and(|p| p.upstream_required);
        Ok(Some((
            Process {
                upstream_required,
                ..verbund
            },
            level,
        )))
    }

    /// A tenant by slug, `None` when there is none.
    ///
    /// # Errors
    /// A backend error.
    pub async fn tenant(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        match self.db.tenants().by_slug(slug).await {
            Ok(t) => Ok(Some(t)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tenant a client belongs to.
    ///
    /// # Errors
    /// A backend error.
    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Tenant, StoreError> {
        self.db.tenants().by_id(id).await
    }
}
