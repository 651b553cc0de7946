//! A system's callback target (URL and write-only secret) and its deliveries, for the
//! console, the admin API and the CLI. Changing it is changing the client (same rights);
//! reading it is reading the client. The system itself reads its own through the mailbox API
//! ([`crate::mailbox::callback`] does the work for both).

use super::{Actor, Admin, AdminError, Bad};
use crate::crypto::random_token;
use crate::mailbox::callback::{
    self, Delivery, Redelivery, STATES, Target, check_secret, check_url,
};
use serde_json::json;
use uuid::Uuid;

impl Admin {
    /// Sets the client's callback URL. With `secret`, that secret (checked) replaces any
    /// before; without, a first target gets a generated one and an existing target keeps its
    /// secret, unless `new_secret` asks for a generated one. Returns a generated secret (shown
    /// once).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::Callback)`.
    pub async fn set_callback(
        &self,
        actor: &Actor,
        id: &str,
        url: &str,
        secret: Option<&str>,
        new_secret: bool,
    ) -> Result<Option<String>, AdminError> {
        let c = self.client_to_change(actor, id).await?;
        let (keys, allow_http) = self
            .callbacks
            .clone()
            .ok_or_else(|| AdminError::Backend("callbacks are not configured here".into()))?;
        let url = check_url(url, allow_http).map_err(|e| AdminError::Invalid(Bad::Callback(e)))?;
        if let Some(s) = secret {
            check_secret(s).map_err(|e| AdminError::Invalid(Bad::Callback(e)))?;
        }
        let store = self.db.callbacks();
        let generated = match secret {
            Some(_) => None,
            None if new_secret => Some(random_token()),
            None if store.set_url(c.id.as_str(), &url).await? => None,
            None => Some(random_token()),
        };
        if let Some(s) = secret.or(generated.as_deref()) {
            store
                .set_target(&callback::seal_target(&keys, c.id.as_str(), url.clone(), s))
                .await?;
        }
        self.audit(
            actor,
            "admin.callback_set",
            Some(c.tenant_id),
            None,
            Some(&c.id),
            json!({ "url": url, "secret_changed": secret.is_some() || generated.is_some() }),
        )
        .await?;
        Ok(generated)
    }

    /// Removes the client's callback target; its queued deliveries fail until one is set
    /// again (and are given up after the retry period).
    ///
    /// # Errors
    /// `NotFound` (also when it has none), `Forbidden`.
    pub async fn clear_callback(&self, actor: &Actor, id: &str) -> Result<(), AdminError> {
        let c = self.client_to_change(actor, id).await?;
        if !self.db.callbacks().clear_target(c.id.as_str()).await? {
            return Err(AdminError::NotFound);
        }
        self.audit(
            actor,
            "admin.callback_cleared",
            Some(c.tenant_id),
            None,
            Some(&c.id),
            json!({}),
        )
        .await
    }

    /// The client's callback target and backlog (`None`: it has none).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn callback(&self, actor: &Actor, id: &str) -> Result<Option<Target>, AdminError> {
        let c = self.client(actor, id).await?.client;
        Ok(callback::target(&self.db, c.id.as_str()).await?)
    }

    /// The client's deliveries in `state`, newest first.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`, `Invalid(Bad::CallbackState)`.
    pub async fn callback_deliveries(
        &self,
        actor: &Actor,
        id: &str,
        state: &str,
        limit: u32,
    ) -> Result<Vec<Delivery>, AdminError> {
        let c = self.client(actor, id).await?.client;
        if !STATES.contains(&state) {
            return Err(AdminError::Invalid(Bad::CallbackState));
        }
        Ok(callback::deliveries(&self.db, c.id.as_str(), state, limit).await?)
    }

    /// Re-queues a given-up delivery of the client.
    ///
    /// # Errors
    /// `NotFound` (also for an unknown delivery), `Forbidden`, `Invalid(Bad::NotGivenUp)`.
    pub async fn redeliver_callback(
        &self,
        actor: &Actor,
        id: &str,
        event: Uuid,
    ) -> Result<(), AdminError> {
        let c = self.client_to_change(actor, id).await?;
        match callback::redeliver(&self.db, c.id.as_str(), event, chrono::Utc::now()).await? {
            Redelivery::Queued => {}
            Redelivery::NotGivenUp => return Err(AdminError::Invalid(Bad::NotGivenUp)),
            Redelivery::Unknown => return Err(AdminError::NotFound),
        }
        self.audit(
            actor,
            "admin.callback_redelivered",
            Some(c.tenant_id),
            None,
            Some(&c.id),
            json!({ "event": event }),
        )
        .await
    }
}
