//! Changing the account's e-mail address (DSGVO Art. 16): the holder asks with the password,
//! the new address confirms with a single-use link (so nobody can move an account to an
//! address they do not control), and the old address is told afterwards (so a holder learns
//! when someone else did it). An address that another account has gets no mail and the same
//! answer: the form reveals nothing about who is registered.

use super::{AccountError, AccountService, VERIFY_TTL};
use crate::crypto::{random_token, token_digest};
use crate::domain::account::EmailAddress;
use crate::domain::ids::AccountId;
use crate::domain::lang::Lang;
use crate::ephemeral::Key;
use crate::mail;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::IpAddr;

/// What a pending change carries.
#[derive(Serialize, Deserialize)]
struct Pending {
    account: AccountId,
    email: String,
    lang: Lang,
}

impl AccountService {
    /// Mails a confirmation link to `new` after checking the password (throttled like a
    /// login). At most one mail per mail interval; one pending change per account (a new
    /// request replaces the previous link).
    ///
    /// # Errors
    /// `InvalidEmail`, `EmailUnchanged`, `InvalidCredentials`, `Throttled`, or an internal
    /// failure.
    pub async fn request_email_change(
        &self,
        account: AccountId,
        new: &str,
        password: &str,
        lang: Lang,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        let new = EmailAddress::parse(new).map_err(|_| AccountError::InvalidEmail)?;
        self.reauthenticate(account, password, ip).await?;
        let current = self.db.accounts().by_id(account).await?;
        if current.email == new {
            return Err(AccountError::EmailUnchanged);
        }
        // The mail interval is used up before anything looks at the address: a taken address
        // and a free one cost the same slot and get the same answer.
        if !self.may_mail(account).await? {
            return Ok(());
        }
        // Taken by another account: no mail to its holder.
        match self.db.accounts().by_email(&new).await {
            Ok(_) => return Ok(()),
            Err(crate::store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let token = random_token();
        let digest = token_digest(&token);
        let pending = Pending {
            account,
            email: new.as_str().to_owned(),
            lang,
        };
        if let Some(previous) = self.eph.take(&Key::EmailChangeCurrent(account)).await? {
            self.eph.delete(&Key::EmailChange(&previous)).await?;
        }
        self.eph
            .put(
                &Key::EmailChange(&digest),
                &serde_json::to_string(&pending).unwrap_or_default(),
                VERIFY_TTL,
            )
            .await?;
        self.eph
            .put(&Key::EmailChangeCurrent(account), &digest, VERIFY_TTL)
            .await?;
        let link = format!("{}/konto/email/bestaetigen?token={token}", self.issuer);
        let message = mail::email_change(lang, &link)?;
        // Sent in the background, so a free address answers as fast as a taken one. A mail
        // that fails gives the interval back: the holder may ask again at once.
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.mailer.send(&new, message).await {
                tracing::error!(error = %e, "e-mail change link not sent");
                if let Err(e) = this.eph.delete(&super::verify_sent_key(account)).await {
                    tracing::warn!(error = %e, "mail interval not given back");
                }
                return;
            }
            this.record("account.email_change_requested", account, json!({}))
                .await;
        });
        Ok(())
    }

    /// Confirms a change with its link (once): the account takes the new address, and the old
    /// one is told. Returns the account.
    ///
    /// # Errors
    /// `InvalidToken` for unknown, used, replaced or expired links; `EmailTaken` when another
    /// account took the address meanwhile; an internal failure.
    pub async fn confirm_email_change(&self, token: &str) -> Result<AccountId, AccountError> {
        if token.len() > 64 {
            return Err(AccountError::InvalidToken);
        }
        let digest = token_digest(token);
        // Checked first; used up only when the change is ready to be stored.
        let pending: Pending = self
            .eph
            .get(&Key::EmailChange(&digest))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or(AccountError::InvalidToken)?;
        let account = pending.account;
        // Only the account's newest link counts, and a stale one leaves the newest usable.
        let current = self.eph.get(&Key::EmailChangeCurrent(account)).await?;
        if current.as_deref() != Some(digest.as_str()) {
            return Err(AccountError::InvalidToken);
        }
        let new = EmailAddress::parse(&pending.email).map_err(|_| AccountError::InvalidToken)?;
        let old = self.db.accounts().by_id(account).await?.email;
        // Single use: of two concurrent confirmations only one gets past this take.
        if self.eph.take(&Key::EmailChange(&digest)).await?.is_none() {
            return Err(AccountError::InvalidToken);
        }
        self.eph.delete(&Key::EmailChangeCurrent(account)).await?;
        match self.db.accounts().set_email(account, &new).await {
            Ok(()) => {}
            Err(e) if e.is_conflict_on("email") => return Err(AccountError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        // Links mailed to the old address (a password reset, a verification) die with it.
        self.eph.delete(&super::reset_current_key(account)).await?;
        self.eph.delete(&super::verify_current_key(account)).await?;
        self.record("account.email_changed", account, json!({}))
            .await;
        let lang = self
            .db
            .accounts()
            .lang(account)
            .await
            .unwrap_or(pending.lang);
        let link = format!("{}/password/forgot", self.issuer);
        self.mail_to(&old, mail::email_changed(lang, new.as_str(), &link))
            .await;
        Ok(account)
    }
}
