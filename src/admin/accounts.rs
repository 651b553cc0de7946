//! Accounts, for the Verbund's administrators: disable (every login refused, every session
//! ended, the portals' refresh tokens revoked), enable, delete (disabled at once, erased by
//! the next deletion round with the citizen's own deletion's steps).

use super::{Actor, Admin, AdminError};
use crate::domain::ids::AccountId;
use crate::domain::role::Duty;
use crate::oidc::backchannel::Ending;
use crate::store::StoreError;
use crate::store::accounts::DeletionReason;
use serde_json::json;

impl Admin {
    /// The live account with this id.
    async fn live_account(
        &self,
        id: AccountId,
    ) -> Result<crate::domain::account::Account, AdminError> {
        match self.db.accounts().by_id(id).await {
            Ok(a) if !a.email.as_str().ends_with("@deleted.invalid") => Ok(a),
            Ok(_) | Err(StoreError::NotFound) => Err(AdminError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The account with this address (Verbund admins; the admin API's lookup).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`, `Invalid` for a malformed address.
    pub async fn account_by_email(
        &self,
        actor: &Actor,
        email: &str,
    ) -> Result<(crate::domain::account::Account, bool), AdminError> {
        actor.must(Duty::Verbund)?;
        let a = self.account_of(email).await?;
        let disabled = self.db.accounts().is_disabled(a.id).await?;
        Ok((a, disabled))
    }

    /// Disables an account (or enables it again): its logins are refused at every door, its
    /// sessions end (portals get back-channel logout) and its refresh tokens are revoked.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn set_account_disabled(
        &self,
        actor: &Actor,
        id: AccountId,
        disabled: bool,
    ) -> Result<(), AdminError> {
        actor.must(Duty::Verbund)?;
        let a = self.live_account(id).await?;
        self.db
            .accounts()
            .set_disabled(a.id, disabled.then(chrono::Utc::now))
            .await?;
        let mut detail = json!({});
        if disabled {
            detail = json!({
                "refresh_tokens_revoked": self.db.refresh_tokens().revoke_all_for(a.id).await?,
                "sessions_ended": self.end_all(a.id).await?,
            });
        }
        let kind = if disabled {
            "admin.account_disabled"
        } else {
            "admin.account_enabled"
        };
        self.audit(actor, kind, None, Some(a.id), None, detail)
            .await
    }

    /// Deletes an account: disabled at once (as [`Admin::set_account_disabled`]) and due for
    /// deletion now; the next deletion round erases it like a citizen's own deletion (the
    /// messages' evidence stays). Returns when it is due.
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn delete_account(
        &self,
        actor: &Actor,
        id: AccountId,
    ) -> Result<chrono::DateTime<chrono::Utc>, AdminError> {
        self.set_account_disabled(actor, id, true).await?;
        let due = chrono::Utc::now();
        self.db
            .accounts()
            .schedule_deletion(id, due, DeletionReason::Administrator)
            .await?;
        self.audit(
            actor,
            "admin.account_deleted",
            None,
            Some(id),
            None,
            json!({ "due": due }),
        )
        .await?;
        Ok(due)
    }

    /// Ends every session of the account; how many (none outside the server).
    async fn end_all(&self, id: AccountId) -> Result<usize, AdminError> {
        match &self.provider {
            Some(p) => p
                .end_all_sessions(id, Ending::ByAdmin)
                .await
                .map_err(|e| AdminError::Backend(e.into())),
            // The CLI: sessions live in the server's short-lived store; a disabled account's
            // sessions are refused there at their next use (see `Sessions::get`).
            None => Ok(0),
        }
    }
}
