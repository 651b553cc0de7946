//! Consent: which scopes a citizen released to which portal. Read by the flow, granted on
//! the consent page, listed and withdrawn on the account page. Granting and withdrawing are
//! audited (GDPR Art. 7(1): the controller must be able to show the consent); withdrawing
//! also revokes the portal's refresh tokens, so it loses access at once, not at the next
//! refresh.

use super::Provider;
use super::authorize::AuthRequest;
use crate::domain::ids::{AccountId, ClientId};
use crate::store::StoreError;
use crate::store::consents::ConsentEntry;
use serde_json::json;

impl Provider {
    /// Records (or replaces) the consent a request asked for.
    pub(super) async fn grant(
        &self,
        account: AccountId,
        req: &AuthRequest,
    ) -> Result<(), StoreError> {
        let client = ClientId(req.client_id.clone());
        let scopes = req.scopes();
        self.db.consents().grant(account, &client, &scopes).await?;
        self.audit(
            "consent.granted",
            account,
            &client,
            json!({ "scopes": scopes.to_vec() }),
        )
        .await;
        Ok(())
    }

    /// The account's consents with the portal names, newest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn consents_of(&self, account: AccountId) -> Result<Vec<ConsentEntry>, StoreError> {
        self.db.consents().for_account(account).await
    }

    /// Withdraws a consent and revokes the portal's refresh tokens. Returns whether there was
    /// one.
    ///
    /// # Errors
    /// A backend error.
    pub async fn withdraw_consent(
        &self,
        account: AccountId,
        client: &ClientId,
    ) -> Result<bool, StoreError> {
        if !self.db.consents().withdraw(account, client).await? {
            return Ok(false);
        }
        let revoked = self
            .db
            .refresh_tokens()
            .revoke_for(account, client.as_str())
            .await?;
        self.audit(
            "consent.withdrawn",
            account,
            client,
            json!({ "refresh_tokens_revoked": revoked }),
        )
        .await;
        Ok(true)
    }

    /// An audit record; a failure is logged, not an error (the change has happened).
    async fn audit(
        &self,
        kind: &str,
        account: AccountId,
        client: &ClientId,
        detail: serde_json::Value,
    ) {
        if let Err(e) = self
            .db
            .audit()
            .record(kind, Some(account), Some(client), detail)
            .await
        {
            tracing::warn!(error = %e, kind, "could not write the audit record");
        }
    }
}
