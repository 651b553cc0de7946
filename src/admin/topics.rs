//! Contact topics: what citizens can write to a Kommune about (a name, the process, the
//! level it needs) and which of the Kommune's authority systems receives it. Configured by
//! the Kommune's admins and the Verbund's, through the console, the admin API and the CLI.

use super::{Actor, Admin, AdminError, Bad};
use crate::domain::ids::{TenantId, TenantSlug};
use crate::domain::level::Loa;
use crate::domain::role::Duty;
use crate::store::StoreError;
use crate::store::topics::TopicRow;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// A topic as the administration shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TopicView {
    pub id: Uuid,
    pub tenant: String,
    pub slug: String,
    pub name: String,
    pub process: Option<String>,
    /// The authority system that receives the messages.
    pub client_id: String,
    pub required_level: String,
    pub disabled: bool,
}

/// A new topic.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    /// The tenant's slug.
    pub tenant: String,
    /// 2 to 63 lower-case letters, digits and hyphens; unique in the tenant.
    pub slug: String,
    /// What the citizen reads, e.g. "Wohngeld".
    pub name: String,
    /// A catalogue process: the level is at least its level.
    pub process: Option<String>,
    /// The tenant's authority system (scope `mailbox.send`) that receives the messages.
    pub client_id: String,
    /// `low` (default), `substantial` or `high`.
    pub required_level: Option<String>,
}

impl Admin {
    /// The topics of the tenants the actor configures (of one tenant, by slug).
    ///
    /// # Errors
    /// `NotFound` for a tenant out of reach; storage failures.
    pub async fn topics(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
    ) -> Result<Vec<TopicView>, AdminError> {
        let only = match tenant {
            Some(slug) => Some(self.configured_tenant(actor, slug).await?.0),
            None => None,
        };
        let names = self.all_tenant_names().await?;
        let mut out = Vec::new();
        for t in self.db.topics().list(only).await? {
            if !actor.grants.may(Duty::Configure(TenantId(t.tenant_id))) {
                continue;
            }
            let tenant = names
                .iter()
                .find(|(id, _)| id.0 == t.tenant_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            out.push(view(t, tenant));
        }
        Ok(out)
    }

    async fn configured_tenant(&self, actor: &Actor, slug: &str) -> Result<TenantId, AdminError> {
        let t = match self.db.tenants().by_slug(slug).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => return Err(AdminError::Invalid(Bad::UnknownTenant)),
            Err(e) => return Err(e.into()),
        };
        if !actor.grants.may(Duty::Configure(t.id)) {
            return Err(AdminError::Invalid(Bad::UnknownTenant));
        }
        Ok(t.id)
    }

    /// Adds a topic to a tenant the actor configures.
    ///
    /// # Errors
    /// `Invalid` (slug, name, level, process, a system of another tenant or without
    /// `mailbox.send`), `Invalid(Bad::SlugTaken)`; storage failures.
    pub async fn create_topic(&self, actor: &Actor, n: NewTopic) -> Result<TopicView, AdminError> {
        let tenant = self.configured_tenant(actor, n.tenant.trim()).await?;
        let slug = TenantSlug::parse(n.slug.trim()).map_err(|_| AdminError::Invalid(Bad::Slug))?;
        let name = n.name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AdminError::Invalid(Bad::Name));
        }
        let mut level = match n.required_level.as_deref().map(str::trim) {
            None | Some("") => Loa::Low,
            Some(l) => Loa::from_name(l).ok_or(AdminError::Invalid(Bad::Level))?,
        };
        let process = n
            .process
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty());
        if let Some(p) = process {
            let id = crate::domain::process::ProcessId::parse(p)
                .map_err(|_| AdminError::Invalid(Bad::Process("unknown process".into())))?;
            match crate::catalogue::Catalogue::new(self.db.clone())
                .lookup(&id, Some(tenant))
                .await?
            {
                Some((_, l)) => level = level.max(l),
                None => return Err(AdminError::Invalid(Bad::Process("unknown process".into()))),
            }
        }
        let client = match self.db.clients().record(n.client_id.trim()).await {
            Ok(c) => c.client,
            Err(StoreError::NotFound) => {
                return Err(AdminError::Invalid(Bad::Client("no such system".into())));
            }
            Err(e) => return Err(e.into()),
        };
        if client.tenant_id != tenant || !client.scopes.contains("mailbox.send") {
            return Err(AdminError::Invalid(Bad::Client(
                "the receiving system must be one of the tenant's with scope mailbox.send".into(),
            )));
        }
        // Routing citizens' messages to a system is a change to it: a system with the
        // Verbund's scopes is the Verbund admin's to change.
        self.client_to_change(actor, client.id.as_str()).await?;
        let row = TopicRow {
            id: Uuid::now_v7(),
            tenant_id: tenant.0,
            slug: slug.as_str().to_owned(),
            name: name.to_owned(),
            process: process.map(str::to_owned),
            client_id: client.id.as_str().to_owned(),
            required_level: level,
            created_at: chrono::Utc::now(),
            disabled_at: None,
        };
        match self.db.topics().insert(&row).await {
            Err(e) if e.is_conflict_on("slug") => return Err(AdminError::Invalid(Bad::SlugTaken)),
            other => other?,
        }
        self.audit(
            actor,
            "admin.topic_created",
            Some(tenant),
            None,
            Some(&client.id),
            json!({ "topic": row.slug, "name": row.name, "level": level.name() }),
        )
        .await?;
        Ok(view(row, n.tenant))
    }

    /// Disables a topic (citizens no longer see it; what was written stays) or enables it.
    ///
    /// # Errors
    /// `NotFound` (also out of reach); storage failures.
    pub async fn set_topic_disabled(
        &self,
        actor: &Actor,
        id: Uuid,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let t = self
            .db
            .topics()
            .by_id(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        if !actor.grants.may(Duty::Configure(TenantId(t.tenant_id))) {
            return Err(AdminError::NotFound);
        }
        self.db
            .topics()
            .set_disabled(id, disabled.then(chrono::Utc::now))
            .await?;
        let kind = if disabled {
            "admin.topic_disabled"
        } else {
            "admin.topic_enabled"
        };
        self.audit(
            actor,
            kind,
            Some(TenantId(t.tenant_id)),
            None,
            None,
            json!({ "topic": t.slug }),
        )
        .await
    }
}

fn view(t: TopicRow, tenant: String) -> TopicView {
    TopicView {
        id: t.id,
        tenant,
        slug: t.slug,
        name: t.name,
        process: t.process,
        client_id: t.client_id,
        required_level: t.required_level.name().to_owned(),
        disabled: t.disabled_at.is_some(),
    }
}
