//! The clerk desk (Bürgerservice) of a tenant: find a citizen by exact e-mail address, see the
//! account's proofing and history, record an identity check (the clerk is the signed-in
//! admin), resend the confirmation link, unlock after throttling, end every session.
//!
//! A Kommune's clerks see only the accounts that have to do with their Kommune (signed in to
//! one of its portals, checked by it, or written to by it): every other address answers as
//! an unknown one. An identity check is the exception: the citizen stands at the counter
//! with the document, so any confirmed account can be checked, and the check relates it.

use super::{Actor, Admin, AdminError, Bad};
use crate::account::AccountError;
use crate::account::factors::CheckedBy;
use crate::domain::account::{Account, EmailAddress};
use crate::domain::level::Loa;
use crate::domain::role::Duty;
use crate::oidc::backchannel::Ending;
use crate::store::StoreError;
use crate::store::audit::AuditEvent;
use crate::store::proofings::ProofingRow;
use crate::store::tenants::Tenant;
use serde_json::json;

/// What the desk shows about a citizen.
pub struct Citizen {
    pub account: Account,
    pub proofings: Vec<ProofingRow>,
    pub history: Vec<AuditEvent>,
}

/// An identity check as the clerk enters it.
#[derive(Clone, Debug, Default)]
pub struct Check {
    pub level: String,
    pub document_type: String,
    pub given_name: String,
    pub family_name: String,
    pub birthdate: String,
}

/// The documents a clerk can check.
pub const DOCUMENTS: [&str; 4] = [
    "personalausweis",
    "reisepass",
    "aufenthaltstitel",
    "eid_karte",
];

impl Admin {
    /// The tenant of a desk action, if the actor works its desk.
    async fn desk(&self, actor: &Actor, tenant: &str) -> Result<Tenant, AdminError> {
        let t = self.tenant(actor, tenant).await?;
        actor.must(Duty::Desk(t.id))?;
        Ok(t)
    }

    /// The live account with this address, or `NotFound`.
    pub(super) async fn account_of(&self, email: &str) -> Result<Account, AdminError> {
        let email = EmailAddress::parse(email).map_err(|_| AdminError::Invalid(Bad::Email))?;
        match self.db.accounts().by_email(&email).await {
            Ok(a) => Ok(a.account),
            Err(StoreError::NotFound) => Err(AdminError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The account, if it has to do with the tenant (a Verbund admin sees every account).
    async fn related(&self, actor: &Actor, t: &Tenant, email: &str) -> Result<Account, AdminError> {
        let account = self.account_of(email).await?;
        if actor.grants.is_verbund_admin()
            || self
                .db
                .accounts()
                .related_to_tenant(account.id, t.id)
                .await?
        {
            Ok(account)
        } else {
            Err(AdminError::NotFound)
        }
    }

    /// Finds a citizen of the tenant by exact address; the lookup is audited.
    ///
    /// # Errors
    /// `NotFound` for unknown and unrelated addresses alike, `Forbidden`.
    pub async fn find_citizen(
        &self,
        actor: &Actor,
        tenant: &str,
        email: &str,
    ) -> Result<Citizen, AdminError> {
        let t = self.desk(actor, tenant).await?;
        let account = self.related(actor, &t, email).await?;
        self.audit(
            actor,
            "admin.citizen_viewed",
            Some(t.id),
            Some(account.id),
            None,
            json!({}),
        )
        .await?;
        Ok(Citizen {
            proofings: self.db.proofings().of_account(account.id).await?,
            history: self.db.audit().for_account(account.id, 30).await?,
            account,
        })
    }

    /// Records an in-person identity check by the signed-in clerk in the tenant.
    ///
    /// # Errors
    /// `NotFound` (no such account), `Forbidden`, `Invalid` (level, document, names,
    /// unconfirmed address).
    pub async fn record_check(
        &self,
        actor: &Actor,
        tenant: &str,
        email: &str,
        check: &Check,
    ) -> Result<(), AdminError> {
        let t = self.desk(actor, tenant).await?;
        let level = Loa::from_name(&check.level)
            .filter(|l| *l > Loa::Low)
            .ok_or(AdminError::Invalid(Bad::Level))?;
        let document = check.document_type.trim();
        if !DOCUMENTS.contains(&document) {
            return Err(AdminError::Invalid(Bad::Document));
        }
        let account = self.account_of(email).await?;
        if !account.email_verified {
            return Err(AdminError::Invalid(Bad::Unconfirmed));
        }
        let mut claims = Vec::new();
        for (name, value) in [
            ("given_name", &check.given_name),
            ("family_name", &check.family_name),
            ("birthdate", &check.birthdate),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                let stored = crate::domain::claims::verified_claim(name, &json!(value))
                    .map_err(|e| AdminError::Invalid(Bad::Claim(e)))?;
                claims.push((name.to_owned(), stored));
            }
        }
        let clerk = format!("{} ({})", actor.label, t.slug.as_str());
        let by = CheckedBy {
            actor: actor.account,
            tenant: Some(t.id),
        };
        match self
            .serving_accounts()?
            .verify_identity(account.email.as_str(), level, document, &clerk, &claims, by)
            .await
        {
            Ok(_) => Ok(()),
            Err(AccountError::InvalidEmail) => Err(AdminError::NotFound),
            Err(e) => Err(desk_failure(e)),
        }
    }

    /// Sends a new confirmation link to an unconfirmed citizen of the tenant; returns
    /// whether one went out (not within the mail interval, not to a confirmed account).
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn resend_confirmation(
        &self,
        actor: &Actor,
        tenant: &str,
        email: &str,
    ) -> Result<bool, AdminError> {
        let t = self.desk(actor, tenant).await?;
        let account = self.related(actor, &t, email).await?;
        let sent = self
            .serving_accounts()?
            .resend_verification_for(account.id)
            .await
            .map_err(desk_failure)?;
        self.audit(
            actor,
            "admin.confirmation_resent",
            Some(t.id),
            Some(account.id),
            None,
            json!({ "sent": sent }),
        )
        .await?;
        Ok(sent)
    }

    /// Clears the citizen's failed-attempt counters.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn unlock(&self, actor: &Actor, tenant: &str, email: &str) -> Result<(), AdminError> {
        let t = self.desk(actor, tenant).await?;
        let account = self.related(actor, &t, email).await?;
        self.serving_accounts()?
            .unlock(account.id)
            .await
            .map_err(desk_failure)?;
        self.audit(
            actor,
            "admin.account_unlocked",
            Some(t.id),
            Some(account.id),
            None,
            json!({}),
        )
        .await
    }

    /// Ends every session of the citizen (portals get back-channel logout); returns how many.
    ///
    /// # Errors
    /// `NotFound`, `Forbidden`.
    pub async fn end_sessions(
        &self,
        actor: &Actor,
        tenant: &str,
        email: &str,
    ) -> Result<usize, AdminError> {
        let t = self.desk(actor, tenant).await?;
        let account = self.related(actor, &t, email).await?;
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| AdminError::Backend("the desk works in the server only".into()))?;
        let n = provider
            .end_all_sessions(account.id, Ending::ByAdmin)
            .await
            .map_err(|e| AdminError::Backend(e.into()))?;
        self.audit(
            actor,
            "admin.sessions_ended",
            Some(t.id),
            Some(account.id),
            None,
            json!({ "sessions": n }),
        )
        .await?;
        Ok(n)
    }

    fn serving_accounts(&self) -> Result<&crate::account::AccountService, AdminError> {
        self.accounts
            .as_ref()
            .ok_or_else(|| AdminError::Backend("the desk works in the server only".into()))
    }
}

fn desk_failure(e: AccountError) -> AdminError {
    match e {
        AccountError::Store(s) => AdminError::Store(s),
        other => AdminError::Backend(other.into()),
    }
}

impl Admin {
    /// Accounts by address after `after`, at most `limit` (Verbund admins: the operator's
    /// listing).
    ///
    /// # Errors
    /// `Forbidden`, a backend error.
    pub async fn accounts_page(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Account>, AdminError> {
        actor.must(Duty::Verbund)?;
        Ok(self.db.accounts().page(after.unwrap_or(""), limit).await?)
    }

    /// One account with its roles and identity checks (Verbund admins).
    ///
    /// # Errors
    /// `Forbidden`, `NotFound`.
    pub async fn account(
        &self,
        actor: &Actor,
        email: &str,
    ) -> Result<(Account, crate::domain::role::Grants, Vec<ProofingRow>), AdminError> {
        actor.must(Duty::Verbund)?;
        let a = self.account_of(email).await?;
        let grants = self.db.roles().of(a.id).await?;
        let proofings = self.db.proofings().of_account(a.id).await?;
        Ok((a, grants, proofings))
    }
}
