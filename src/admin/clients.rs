//! Portals and authority systems (clients): create (the secret shown once), edit, rotate the
//! secret with an overlap, disable, delete; each in a tenant the actor configures.

use super::{Actor, Admin, AdminError, Bad};
use crate::crypto::{random_token, sha256};
use crate::domain::client::{Client, ClientAuthMethod};
use crate::domain::role::{Duty, DutyKind, VERBUND_SCOPES};
use crate::registry::{self, NewClient};
use crate::store::StoreError;
use crate::store::clients::ClientRecord;
use crate::store::tenants::Tenant;
use serde_json::json;

/// The longest overlap in which a rotated secret keeps working.
pub const MAX_OVERLAP_HOURS: u32 = 24 * 30;

impl Admin {
    /// The clients of the tenants the actor configures (or of one of them), by tenant.
    ///
    /// # Errors
    /// `NotFound` for a tenant outside the actor's reach.
    pub async fn clients(
        &self,
        actor: &Actor,
        tenant: Option<&str>,
    ) -> Result<Vec<(Tenant, Vec<ClientRecord>)>, AdminError> {
        let reach = actor.grants.reach(DutyKind::Configure);
        let tenants = match tenant {
            Some(slug) => vec![self.tenant(actor, slug).await?],
            None => self.tenants(actor).await?,
        };
        let mut out = Vec::new();
        for t in tenants.into_iter().filter(|t| reach.covers(t.id)) {
            let cs = self.db.clients().of_tenant(t.id).await?;
            out.push((t, cs));
        }
        if tenant.is_some() && out.is_empty() {
            return Err(AdminError::NotFound);
        }
        Ok(out)
    }

    /// A client in a tenant the actor configures.
    ///
    /// # Errors
    /// `NotFound` (also outside the actor's reach: one answer).
    pub async fn client(&self, actor: &Actor, id: &str) -> Result<ClientRecord, AdminError> {
        if id.is_empty() || id.len() > 64 {
            return Err(AdminError::NotFound);
        }
        let c = match self.db.clients().record(id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Err(AdminError::NotFound),
            Err(e) => return Err(e.into()),
        };
        if actor.grants.may(Duty::Configure(c.client.tenant_id)) {
            Ok(c)
        } else {
            Err(AdminError::NotFound)
        }
    }

    /// A client the actor may change (edit, rotate, disable, delete): one in a tenant it
    /// configures, and, when the client holds a Verbund scope, only by a Verbund admin. A
    /// Kommune admin who could rotate the secret of its tenant's `admin.verbund` system
    /// would hold the Verbund's power.
    ///
    /// # Errors
    /// `NotFound` outside the reach, `Forbidden` for a client with Verbund scopes.
    pub(super) async fn client_to_change(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Client, AdminError> {
        let c = self.client(actor, id).await?.client;
        if VERBUND_SCOPES.iter().any(|s| c.scopes.contains(s)) {
            actor.must(Duty::Verbund)?;
        }
        Ok(c)
    }

    /// Only Verbund admins give a client the Verbund's scopes.
    fn check_scopes(actor: &Actor, scopes: &[String]) -> Result<(), AdminError> {
        let reserved = scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .any(|s| VERBUND_SCOPES.contains(&s));
        if reserved && !actor.grants.may(Duty::Verbund) {
            return Err(AdminError::Forbidden);
        }
        Ok(())
    }

    /// Registers a client in the tenant; returns it and its secret (shown once).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::Client)` with the registry's reason.
    pub async fn create_client(
        &self,
        actor: &Actor,
        tenant: &str,
        req: NewClient,
    ) -> Result<(Client, Option<String>), AdminError> {
        let t = self.tenant(actor, tenant).await?;
        actor.must(Duty::Configure(t.id))?;
        Self::check_scopes(actor, &req.scopes)?;
        let (client, secret) =
            registry::register(t.id, req).map_err(|e| AdminError::Invalid(Bad::Client(e)))?;
        self.db.clients().insert(&client).await?;
        self.audit(
            actor,
            "admin.client_created",
            Some(t.id),
            None,
            Some(&client.id),
            json!({ "name": client.name }),
        )
        .await?;
        Ok((client, secret))
    }

    /// Changes what an admin may change (name, URIs, grant types, scopes, subject type,
    /// back-channel URI, default level), checked by the same rules as a registration. The
    /// id, the authentication method and the credentials stay.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::Client)`.
    pub async fn update_client(
        &self,
        actor: &Actor,
        id: &str,
        mut req: NewClient,
    ) -> Result<Client, AdminError> {
        let old = self.client_to_change(actor, id).await?;
        Self::check_scopes(actor, &req.scopes)?;
        req.public = old.is_public();
        req.token_endpoint_auth_method = Some(old.auth_method.as_str().to_owned());
        req.jwks.clone_from(&old.jwks);
        req.jwks_uri.clone_from(&old.jwks_uri);
        req.id_token_signed_response_alg = Some(old.id_token_alg.as_str().to_owned());
        let (checked, _) = registry::register(old.tenant_id, req)
            .map_err(|e| AdminError::Invalid(Bad::Client(e)))?;
        let updated = Client {
            id: old.id.clone(),
            secret_hash: old.secret_hash.clone(),
            previous_secret: old.previous_secret.clone(),
            ..checked
        };
        self.db.clients().update(&updated).await?;
        self.client_changed(&old.id);
        self.audit(
            actor,
            "admin.client_updated",
            Some(old.tenant_id),
            None,
            Some(&old.id),
            json!({
                "redirect_uris": updated.redirect_uris.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                "scopes": updated.scopes.to_vec(),
                "grant_types": updated.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                "default_level": updated.default_level.map(|l| l.name()),
            }),
        )
        .await?;
        Ok(updated)
    }

    /// A new secret for a client of the secret methods; the old one keeps working for
    /// `overlap_hours` (0: not at all). Returns the new secret (shown once).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::NoSecret)` for clients without a secret,
    /// `Invalid(Bad::Overlap)` for an overlap beyond 30 days.
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        id: &str,
        overlap_hours: u32,
    ) -> Result<String, AdminError> {
        let c = self.client_to_change(actor, id).await?;
        if !matches!(
            c.auth_method,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        ) {
            return Err(AdminError::Invalid(Bad::NoSecret));
        }
        if overlap_hours > MAX_OVERLAP_HOURS {
            return Err(AdminError::Invalid(Bad::Overlap));
        }
        let secret = random_token();
        let until = chrono::Utc::now() + chrono::Duration::hours(i64::from(overlap_hours));
        let previous = c
            .secret_hash
            .as_deref()
            .filter(|_| overlap_hours > 0)
            .map(|h| (h, until));
        self.db
            .clients()
            .set_secret(&c.id, &sha256(secret.as_bytes()), previous)
            .await?;
        self.client_changed(&c.id);
        self.audit(
            actor,
            "admin.client_secret_rotated",
            Some(c.tenant_id),
            None,
            Some(&c.id),
            json!({ "overlap_hours": overlap_hours }),
        )
        .await?;
        Ok(secret)
    }

    /// Disables a client (its logins, tokens and API calls are refused; within the
    /// protocol's ten-second client cache) or enables it again.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn set_client_disabled(
        &self,
        actor: &Actor,
        id: &str,
        disabled: bool,
    ) -> Result<(), AdminError> {
        let c = self.client_to_change(actor, id).await?;
        self.db
            .clients()
            .set_disabled(&c.id, disabled.then(chrono::Utc::now))
            .await?;
        self.client_changed(&c.id);
        let kind = if disabled {
            "admin.client_disabled"
        } else {
            "admin.client_enabled"
        };
        self.audit(actor, kind, Some(c.tenant_id), None, Some(&c.id), json!({}))
            .await
    }

    /// Deletes a client with its consents and refresh tokens.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn delete_client(&self, actor: &Actor, id: &str) -> Result<(), AdminError> {
        let c = self.client_to_change(actor, id).await?;
        self.db.clients().delete(&c.id).await?;
        self.client_changed(&c.id);
        self.audit(
            actor,
            "admin.client_deleted",
            Some(c.tenant_id),
            None,
            Some(&c.id),
            json!({ "name": c.name }),
        )
        .await
    }
}

/// A change of some of a client's settings (the CLI's `client update`, the API's `PATCH`):
/// what is absent stays, a list given replaces the list.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub subject_type: Option<String>,
    /// An empty string removes it.
    pub backchannel_logout_uri: Option<String>,
    /// `low`, `substantial`, `high`, or an empty string for none.
    pub default_level: Option<String>,
}

impl Admin {
    /// Applies a change to a client under the registration's rules; returns it as it is now.
    ///
    /// # Errors
    /// As [`Admin::update_client`].
    pub async fn change_client(
        &self,
        actor: &Actor,
        id: &str,
        ch: ClientChanges,
    ) -> Result<ClientRecord, AdminError> {
        let old = self.client(actor, id).await?;
        let mut req = registry::request_of(&old.client);
        if let Some(v) = ch.name {
            req.name = v;
        }
        for (given, list) in [
            (ch.redirect_uris, &mut req.redirect_uris),
            (
                ch.post_logout_redirect_uris,
                &mut req.post_logout_redirect_uris,
            ),
            (ch.grant_types, &mut req.grant_types),
            (ch.scopes, &mut req.scopes),
        ] {
            if let Some(v) = given {
                *list = v;
            }
        }
        if ch.subject_type.is_some() {
            req.subject_type = ch.subject_type;
        }
        if let Some(u) = ch.backchannel_logout_uri {
            req.backchannel_logout_uri = Some(u).filter(|u| !u.is_empty());
        }
        if let Some(l) = ch.default_level {
            req.default_level = Some(l).filter(|l| !l.is_empty());
        }
        self.update_client(actor, id, req).await?;
        self.client(actor, id).await
    }
}
