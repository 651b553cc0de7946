//! The account's life after registration: the browsers it signs in from (a mail when a new one
//! appears), the last login (for the inactivity rule), and its deletion, on request or after
//! long disuse, announced by mail and cancelled by any login before the day. Ending the
//! sessions and purging the mailbox belong to other rooms; `rights::erasure` puts the steps
//! together.

use super::{AccountError, AccountService};
use crate::crypto::{random_token, token_digest};
use crate::domain::civil::{browser_name, date_time, day};
use crate::domain::ids::AccountId;
use crate::ephemeral::Key;
use crate::mail::{self, DeletionNotice};
use crate::store::accounts::DeletionReason;
use crate::store::devices::Seen;
use chrono::{DateTime, Utc};
use serde_json::json;
use std::net::IpAddr;

/// How long a browser stays known without a login from it.
const DEVICE_MEMORY_DAYS: i64 = 400;
/// At most one "new browser" mail per account in this time.
const NEW_DEVICE_MAIL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// What a completed login changed.
#[derive(Debug, Default)]
pub struct LoginNotes {
    /// A new device cookie to set (the browser had none, or a malformed one).
    pub device_cookie: Option<String>,
    /// A deletion that was due is cancelled.
    pub deletion_cancelled: bool,
}

/// A device cookie value as we make them (43 characters of URL-safe base64).
fn well_formed(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl AccountService {
    /// After every completed login (all factors given): remembers the time, cancels a due
    /// deletion (and says so by mail), and recognises the browser by its device cookie; a
    /// browser the account has not used before earns the holder a mail, except for the
    /// account's first one.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn signed_in(
        &self,
        account: AccountId,
        device: Option<&str>,
        user_agent: &str,
        reached: crate::domain::level::Loa,
    ) -> Result<LoginNotes, AccountError> {
        let now = self.clock.now();
        let mut notes = LoginNotes::default();
        // Every door ends here (password, second factor, passkey, confirmation link). The
        // store refuses a disabled (or deleted) account in the same statement that records
        // the login; only then is it asked which of the two, for the answer.
        let logged_in = match self.db.accounts().logged_in(account, now).await {
            Err(crate::store::StoreError::NotFound) => {
                return Err(match self.db.accounts().is_disabled(account).await {
                    Ok(true) => AccountError::Disabled,
                    Ok(false) => crate::store::StoreError::NotFound.into(),
                    Err(e) => e.into(),
                });
            }
            other => other?,
        };
        if let Some(reason) = logged_in {
            notes.deletion_cancelled = true;
            self.record(
                "account.deletion_cancelled",
                account,
                json!({ "reason": reason.name() }),
            )
            .await;
            let link = format!("{}/konto", self.issuer);
            // Mails leave in the background: a login never waits for the mail server.
            let this = self.clone();
            tokio::spawn(async move {
                this.mail_holder(account, |lang| mail::deletion_cancelled(lang, &link))
                    .await;
            });
        }
        // The completed login and the level it reached (the overview counts them).
        self.record(signed_in_kind(reached), account, json!({}))
            .await;
        let value = match device.filter(|d| well_formed(d)) {
            Some(d) => d.to_owned(),
            None => {
                let fresh = random_token();
                notes.device_cookie = Some(fresh.clone());
                fresh
            }
        };
        let forget = now - chrono::Duration::days(DEVICE_MEMORY_DAYS);
        let seen = self
            .db
            .devices()
            .seen(account, &token_digest(&value), now, forget)
            .await?;
        if seen == Seen::New {
            self.record("account.new_device", account, json!({})).await;
            // One such mail per account in ten minutes: many logins at once (each without a
            // device cookie is a new browser) do not flood the holder.
            let first = self
                .eph
                .put_if_absent(&Key::NewDeviceMail(account), "1", NEW_DEVICE_MAIL_INTERVAL)
                .await?;
            if first {
                let link = format!("{}/konto", self.issuer);
                let browser = browser_name(user_agent).unwrap_or_else(|| "?".into());
                let when = date_time(now);
                let this = self.clone();
                tokio::spawn(async move {
                    this.mail_holder(account, |lang| {
                        mail::new_device(lang, &when, &browser, &link)
                    })
                    .await;
                });
            }
        }
        Ok(notes)
    }

    /// A mail to the account's address in its language; a failure is logged (what it tells
    /// has happened).
    pub(super) async fn mail_holder(
        &self,
        account: AccountId,
        make: impl FnOnce(crate::domain::lang::Lang) -> Result<mail::Mail, mail::MailError>,
    ) {
        let found = async {
            let a = self.db.accounts().by_id(account).await?;
            Ok::<_, AccountError>((a.email, self.db.accounts().lang(account).await?))
        }
        .await;
        match found {
            Ok((to, lang)) => self.mail_to(&to, make(lang)).await,
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::Chain(&e), "mail to the holder not sent")
            }
        }
    }

    /// A mail to `to` that tells of something done; a failure is logged, not returned.
    pub(super) async fn mail_to(
        &self,
        to: &crate::domain::account::EmailAddress,
        made: Result<mail::Mail, mail::MailError>,
    ) {
        let sent = async {
            self.mailer.send(to, made?).await?;
            Ok::<(), AccountError>(())
        }
        .await;
        if let Err(e) = sent {
            tracing::warn!(error = %crate::telemetry::Chain(&e), "notice mail not sent");
        }
    }

    /// The holder asks for the account's deletion on `due` (the password is checked like a
    /// login and throttled like one). The portals' refresh tokens die now; the account stays
    /// until `due`, and a login before then keeps it. A mail confirms the date.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Throttled`, or an internal failure.
    pub async fn request_deletion(
        &self,
        account: AccountId,
        password: &str,
        ip: IpAddr,
        due: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        self.reauthenticate(account, password, ip).await?;
        self.db
            .accounts()
            .schedule_deletion(account, due, DeletionReason::Requested)
            .await?;
        let revoked = self.db.refresh_tokens().revoke_all_for(account).await?;
        self.db
            .audit()
            .record(
                "account.deletion_requested",
                Some(account),
                None,
                json!({ "due": due, "refresh_tokens_revoked": revoked }),
            )
            .await?;
        let link = format!("{}/login", self.issuer);
        let on = day(due);
        self.mail_holder(account, |lang| {
            mail::deletion_due(lang, DeletionNotice::Requested, &on, &link)
        })
        .await;
        Ok(())
    }

    /// When the account will be deleted, if it will.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn deletion_due(
        &self,
        account: AccountId,
    ) -> Result<Option<DateTime<Utc>>, AccountError> {
        Ok(self
            .db
            .accounts()
            .deletion(account)
            .await?
            .map(|(at, _)| at))
    }

    /// The inactivity rule: accounts without a login since `unused_since` are told that they
    /// will be deleted on `due` (each once, whichever instance asks). Returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn announce_inactive(
        &self,
        unused_since: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<usize, AccountError> {
        let accounts = self
            .db
            .accounts()
            .announce_inactive(unused_since, due)
            .await?;
        let link = format!("{}/login", self.issuer);
        let on = day(due);
        for &account in &accounts {
            self.record(
                "account.deletion_announced",
                account,
                json!({ "due": due, "reason": "inactive" }),
            )
            .await;
            self.mail_holder(account, |lang| {
                mail::deletion_due(lang, DeletionNotice::Inactive, &on, &link)
            })
            .await;
        }
        Ok(accounts.len())
    }

    /// Accounts whose deletion is due.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn due_deletions(&self, now: DateTime<Utc>) -> Result<Vec<AccountId>, AccountError> {
        Ok(self.db.accounts().due_deletions(now).await?)
    }

    /// Deletes the account's own data and leaves a nameless tombstone; the address it had
    /// is told. Portals' grants are revoked first. True for the one caller that did it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn erase(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> Result<bool, AccountError> {
        let before = self.db.accounts().by_id(account).await?;
        let lang = self.db.accounts().lang(account).await?;
        self.db.refresh_tokens().revoke_all_for(account).await?;
        if !self.db.accounts().erase(account, now).await? {
            return Ok(false);
        }
        for key in [
            super::reset_current_key(account),
            super::verify_current_key(account),
            Key::EmailChangeCurrent(account),
        ] {
            self.eph.delete(&key).await?;
        }
        self.record("account.deleted", account, json!({})).await;
        let link = format!("{}/register", self.issuer);
        self.mail_to(&before.email, mail::account_deleted(lang, &link))
            .await;
        Ok(true)
    }
}

/// The audit kind of a completed login at `level`: one kind per level, so the overview counts
/// them with one portable query.
fn signed_in_kind(level: crate::domain::level::Loa) -> &'static str {
    match level {
        crate::domain::level::Loa::Low => "account.signed_in.low",
        crate::domain::level::Loa::Substantial => "account.signed_in.substantial",
        crate::domain::level::Loa::High => "account.signed_in.high",
    }
}
