//! Account lifecycle: registration with e-mail verification, password login with throttling,
//! and accounts created by an operator. Uses store, crypto, mail and the short-lived store.

pub mod email_change;
pub mod factors;
pub mod lifecycle;
pub mod passkeys;
pub mod throttle;

use crate::crypto::{self, random_token, token_digest};
use crate::domain::account::{Account, EmailAddress, PasswordProblem, check_new_password};
use crate::domain::ids::AccountId;
use crate::domain::lang::Lang;
use crate::domain::level::Loa;
use crate::ephemeral::{Ephemeral, EphemeralError, Key, PerAddress};
use crate::mail::{self, MailError, Mailer};
use crate::store::{Db, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use throttle::Counter;

/// How long a password reset link is valid.
pub const RESET_TTL: Duration = Duration::from_secs(3600);

/// How long an e-mail verification link is valid.
pub const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The short-lived keys of the mail flows. An account has at most one pending verification
/// link and one usable reset link: `*-current:{account}` names its digest, and a new link
/// replaces the old one.
fn verify_key(digest: &str) -> Key<'_> {
    Key::Verify(digest)
}
fn verify_current_key(account: AccountId) -> Key<'static> {
    Key::VerifyCurrent(account)
}
fn verify_sent_key(account: AccountId) -> Key<'static> {
    Key::VerifySent(account)
}
fn reset_key(digest: &str) -> Key<'_> {
    Key::Reset(digest)
}
fn reset_current_key(account: AccountId) -> Key<'static> {
    Key::ResetCurrent(account)
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid e-mail address")]
    InvalidEmail,
    #[error("password not acceptable")]
    Password(PasswordProblem),
    #[error("e-mail address or password is wrong")]
    InvalidCredentials,
    #[error("too many failed attempts")]
    Throttled,
    #[error("e-mail address not verified yet")]
    Unverified,
    #[error("the link is invalid or has expired")]
    InvalidToken,
    #[error("e-mail address taken")]
    EmailTaken,
    #[error("the new address is the current one")]
    EmailUnchanged,
    #[error("not available with this configuration")]
    Unavailable,
    #[error("limit reached")]
    TooMany,
    #[error("the account is disabled")]
    Disabled,
    #[error("the upstream confirmed another person than the one linked")]
    OtherPerson,
    #[error("internal error")]
    Internal(#[source] crate::telemetry::Cause),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ephemeral(#[from] EphemeralError),
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Not transparent: the chain keeps the `PasswordError`, so a shed check (`Busy`) is
    /// answered 503, not 500.
    #[error("password check")]
    Hash(#[from] crypto::PasswordError),
}

/// At most one download of an account's data in this time.
pub const EXPORT_INTERVAL: Duration = Duration::from_secs(30);

/// Attempt limits (see [`throttle`]) and the mail interval.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    /// Failed checks of one account's secrets in a window.
    pub per_account: u64,
    /// Failed logins, registrations and reset requests from one client address in a window.
    pub per_ip: u64,
    pub window: Duration,
    /// At most one mail that nobody asked for by registering (a reset link, a resent
    /// verification link, an "already registered" notice) per address in this time.
    pub mail_interval: Duration,
}

#[derive(Serialize, Deserialize)]
struct VerifyToken {
    account: AccountId,
    /// A password chosen when registering again for a not yet verified address: it replaces
    /// the stored one only when this link is used, so whoever registered an address first
    /// (perhaps not its owner) cannot keep a password on the owner's account.
    #[serde(default)]
    password_hash: Option<String>,
    /// The pending authorization request to continue after verification.
    cont: Option<String>,
    lang: Lang,
}

/// Account operations; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AccountService(std::sync::Arc<Inner>);

pub struct Inner {
    db: Db,
    eph: Ephemeral,
    mailer: Mailer,
    issuer: String,
    limits: LoginLimits,
    webauthn: Option<webauthn_rs::Webauthn>,
    passkey_policy: passkeys::PasskeyPolicy,
    /// Decides the account's dates (last login, deletion day), as the background rounds do.
    clock: crate::clock::Clock,
}

impl std::ops::Deref for AccountService {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AccountService {
    /// The audit records about the account, newest first (at most `limit`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn audit_of(
        &self,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<crate::store::audit::AuditEvent>, AccountError> {
        Ok(self.db.audit().for_account(account, limit).await?)
    }

    /// The account's language for mails and pages.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn lang(&self, account: AccountId) -> Result<Lang, AccountError> {
        Ok(self.db.accounts().lang(account).await?)
    }

    /// Writes an audit record about the account (a login, a step-up); a failure is logged,
    /// not an error: what it records has happened.
    pub async fn record(&self, kind: &'static str, account: AccountId, detail: serde_json::Value) {
        if let Err(e) = self
            .db
            .audit()
            .record(kind, Some(account), None, detail)
            .await
        {
            tracing::warn!(error = %e, kind, "could not write the audit record");
        }
    }

    #[must_use]
    pub fn new(
        db: Db,
        eph: Ephemeral,
        mailer: Mailer,
        issuer: String,
        limits: LoginLimits,
        passkey_policy: passkeys::PasskeyPolicy,
        clock: crate::clock::Clock,
    ) -> Self {
        let webauthn = passkeys::relying_party(&issuer);
        Self(std::sync::Arc::new(Inner {
            db,
            eph,
            mailer,
            issuer,
            limits,
            webauthn,
            passkey_policy,
            clock,
        }))
    }

    /// Registers a new account and mails a verification link. If the address is taken, the
    /// holder gets a notice instead, and the caller sees the same success: the page must not
    /// reveal which addresses have accounts.
    ///
    /// # Errors
    /// Invalid input, or an internal failure.
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        lang: Lang,
        (cont, via): (Option<&str>, Option<&str>),
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        // Every registration sends a mail and costs an Argon2 hash: limited per address
        // (each one counts, whatever its outcome).
        let _counted = self
            .reserve(&[Counter {
                key: Key::PerAddress(PerAddress::Registrations, ip),
                limit: self.limits.per_ip,
            }])
            .await?;
        let email = EmailAddress::parse(email).map_err(|_| AccountError::InvalidEmail)?;
        check_new_password(password).map_err(AccountError::Password)?;
        let hash = crypto::hash_password(password.to_owned()).await?;
        match self
            .db
            .accounts()
            .insert(&email, &hash, false, Loa::Low)
            .await
        {
            Ok(id) => {
                self.db.accounts().set_lang(id, lang).await?;
                self.db
                    .audit()
                    .record("account.registered", Some(id), None, json!({}))
                    .await?;
                self.send_verification(id, &email, lang, (cont, via)).await
            }
            Err(e) if e.is_conflict_on("email") => {
                let existing = self.db.accounts().by_email(&email).await?;
                if existing.account.email_verified {
                    if !self.may_mail(existing.account.id).await? {
                        return Ok(());
                    }
                    let link = format!("{}/login", self.issuer);
                    self.mailer
                        .send(&email, mail::already_registered(lang, &link)?)
                        .await?;
                    Ok(())
                } else {
                    // Registered before but never confirmed (a lost mail, or someone else
                    // typed this address): a new link that sets the new password, replacing
                    // the pending one; at most one per interval, like every mail that the
                    // holder of the address did not ask for. (Whoever owns the mailbox can
                    // also confirm it with a password-reset link.)
                    if !self.may_mail(existing.account.id).await? {
                        return Ok(());
                    }
                    self.mail_verification(
                        existing.account.id,
                        &email,
                        lang,
                        (cont, via),
                        Some(hash),
                    )
                    .await
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Mails the first verification link of a new account and starts the mail interval.
    async fn send_verification(
        &self,
        id: AccountId,
        email: &EmailAddress,
        lang: Lang,
        origin: (Option<&str>, Option<&str>),
    ) -> Result<(), AccountError> {
        self.eph
            .put(&verify_sent_key(id), "1", self.limits.mail_interval)
            .await?;
        self.mail_verification(id, email, lang, origin, None).await
    }

    /// A login of an unverified account: a new link, at most one per interval.
    async fn resend_verification(
        &self,
        id: AccountId,
        email: &EmailAddress,
        lang: Lang,
        cont: Option<&str>,
    ) -> Result<(), AccountError> {
        if !self.may_mail(id).await? {
            return Ok(());
        }
        self.mail_verification(id, email, lang, (cont, None), None)
            .await
    }

    /// `origin`: the pending request to continue, and the portal with its Kommune that the
    /// mail names.
    async fn mail_verification(
        &self,
        id: AccountId,
        email: &EmailAddress,
        lang: Lang,
        (cont, via): (Option<&str>, Option<&str>),
        password_hash: Option<String>,
    ) -> Result<(), AccountError> {
        let token = random_token();
        let digest = token_digest(&token);
        let data = VerifyToken {
            account: id,
            password_hash,
            cont: cont.map(str::to_owned),
            lang,
        };
        // One pending link per account: the new one replaces the previous one.
        if let Some(previous) = self.eph.take(&verify_current_key(id)).await? {
            self.eph.delete(&verify_key(&previous)).await?;
        }
        self.eph
            .put(
                &verify_key(&digest),
                &serde_json::to_string(&data).unwrap_or_default(),
                VERIFY_TTL,
            )
            .await?;
        self.eph
            .put(&verify_current_key(id), &digest, VERIFY_TTL)
            .await?;
        let link = format!("{}/verify-email?token={token}", self.issuer);
        self.mailer
            .send(email, mail::verification(lang, &link, via)?)
            .await?;
        Ok(())
    }

    /// The clerk desk: a new verification link for an unconfirmed account, at most one per
    /// mail interval. Returns whether one was sent (`false`: the interval is running or the
    /// account is confirmed already).
    ///
    /// # Errors
    /// Storage or mail failures.
    pub async fn resend_verification_for(&self, id: AccountId) -> Result<bool, AccountError> {
        let account = self.get(id).await?;
        if account.email_verified || !self.may_mail(id).await? {
            return Ok(false);
        }
        let lang = self.lang(id).await?;
        self.mail_verification(id, &account.email, lang, (None, None), None)
            .await?;
        Ok(true)
    }

    /// The clerk desk: clears the account's failed-attempt counters (password, second
    /// factor, confirmation), so a holder who locked themselves out can try again at once.
    /// The per-address counters stay: they protect against whoever guessed.
    ///
    /// # Errors
    /// Short-lived-store failures.
    pub async fn unlock(&self, id: AccountId) -> Result<(), AccountError> {
        let account = self.get(id).await?;
        let digest = token_digest(account.email.as_str());
        for key in [
            Key::FailedLogins(&digest),
            Key::FailedSecondFactors(id),
            Key::FailedVerifications(id),
        ] {
            self.eph.delete(&key).await?;
        }
        Ok(())
    }

    /// Whether a mail that nobody asked for by registering (a resent link, an "already
    /// registered" notice) may go to the account now: at most one per
    /// [`LoginLimits::mail_interval`]. Claims the slot when it may.
    async fn may_mail(&self, id: AccountId) -> Result<bool, AccountError> {
        Ok(self
            .eph
            .put_if_absent(&verify_sent_key(id), "1", self.limits.mail_interval)
            .await?)
    }

    /// Redeems a verification link (once). The person must also give the password chosen at
    /// that registration: a link alone (perhaps from someone else's registration of this
    /// address) never activates an account with a password its holder does not know.
    /// Returns the pending authorization request to continue, if the registration started at
    /// a portal.
    ///
    /// # Errors
    /// `InvalidToken` for unknown, used or expired links; `InvalidCredentials` for a wrong
    /// password (the link stays usable); `Throttled` after too many wrong passwords.
    pub async fn verify_email(
        &self,
        token: &str,
        password: &str,
    ) -> Result<(AccountId, Option<String>), AccountError> {
        if token.len() > 64 {
            return Err(AccountError::InvalidToken);
        }
        let digest = token_digest(token);
        let key = verify_key(&digest);
        let data: VerifyToken = self
            .eph
            .get(&key)
            .await?
            .and_then(|r| serde_json::from_str(&r).ok())
            .ok_or(AccountError::InvalidToken)?;
        let attempt = self
            .reserve(&[Counter {
                key: Key::FailedVerifications(data.account),
                limit: self.limits.per_account,
            }])
            .await?;
        let account = match self.db.accounts().by_id(data.account).await {
            Ok(a) => a,
            Err(StoreError::NotFound) => return Err(AccountError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        // Only the account's newest link, and only while the address is unconfirmed: a link
        // that a reset, a change of address or a deletion overtook is dead.
        if account.email_verified || !self.is_current_verify_link(data.account, &digest).await? {
            return Err(AccountError::InvalidToken);
        }
        let stored = match self.db.accounts().by_email(&account.email).await {
            Ok(a) => a.password_hash,
            // Deleted meanwhile.
            Err(StoreError::NotFound) => return Err(AccountError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        let expected = data.password_hash.clone().unwrap_or(stored);
        let ok = password.len() <= crate::domain::account::PASSWORD_MAX_BYTES
            && crypto::verify_password(password.to_owned(), Some(expected)).await?;
        if !ok {
            // The reservation stays counted: a failure.
            return Err(AccountError::InvalidCredentials);
        }
        self.succeeded(attempt).await?;
        // Single use: of two concurrent confirmations only one gets here.
        if self.eph.take(&key).await?.is_none() {
            return Err(AccountError::InvalidToken);
        }
        self.eph.delete(&verify_current_key(data.account)).await?;
        if let Some(hash) = &data.password_hash {
            self.db
                .accounts()
                .set_password_hash(data.account, hash)
                .await?;
        }
        self.db
            .accounts()
            .set_email_verified(data.account, true)
            .await?;
        self.db
            .audit()
            .record(
                "account.email_verified",
                Some(data.account),
                None,
                json!({}),
            )
            .await?;
        Ok((data.account, data.cont))
    }

    /// Checks e-mail and password, with throttling per account and per client address.
    /// Unknown addresses cost the same time as wrong passwords. An unverified account with
    /// the right password gets a fresh verification link.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Throttled`, `Unverified`, or an internal failure.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: IpAddr,
        lang: Lang,
        cont: Option<&str>,
    ) -> Result<Account, AccountError> {
        let account = self.check_password(email, password, ip).await?;
        // Only after the password: the answer tells nothing to someone who does not know it.
        if self.db.accounts().is_disabled(account.id).await? {
            return Err(AccountError::Disabled);
        }
        if !account.email_verified {
            self.resend_verification(account.id, &account.email, lang, cont)
                .await?;
            return Err(AccountError::Unverified);
        }
        self.db
            .audit()
            .record(
                "account.login",
                Some(account.id),
                None,
                json!({ "amr": ["pwd"] }),
            )
            .await?;
        Ok(account)
    }

    /// The holder of a session enters the password again (to remove the last factor): the
    /// same check and throttling as a login, without its side effects.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Throttled`, or an internal failure.
    pub async fn reauthenticate(
        &self,
        account: AccountId,
        password: &str,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        let email = self.db.accounts().by_id(account).await?.email;
        let checked = self.check_password(email.as_str(), password, ip).await?;
        if checked.id == account {
            Ok(())
        } else {
            Err(AccountError::InvalidCredentials)
        }
    }

    /// E-mail and password, throttled per account and per client address; unknown addresses
    /// cost the same time as wrong passwords.
    async fn check_password(
        &self,
        email: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<Account, AccountError> {
        // Under a login storm the check is shed before any work (no counter, no query).
        if crypto::hashing_saturated() {
            return Err(AccountError::Hash(crypto::PasswordError::Busy));
        }
        let normalized = email.trim().to_lowercase();
        let acct_digest = token_digest(&normalized);
        let acct_key = Key::FailedLogins(&acct_digest);
        // Reserved before Argon2 runs, so parallel guesses cannot all pass the limit.
        let attempt = self
            .reserve(&[
                Counter {
                    key: acct_key,
                    limit: self.limits.per_account,
                },
                Counter {
                    key: Key::PerAddress(PerAddress::FailedLogins, ip),
                    limit: self.limits.per_ip,
                },
            ])
            .await?;
        let found = match EmailAddress::parse(email) {
            Ok(e) => match self.db.accounts().by_email(&e).await {
                Ok(a) => Some(a),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        };
        let ok = password.len() <= crate::domain::account::PASSWORD_MAX_BYTES
            && match crypto::verify_password(
                password.to_owned(),
                found.as_ref().map(|a| a.password_hash.clone()),
            )
            .await
            {
                Ok(ok) => ok,
                Err(e) => {
                    // Shed (or failed) before the password was checked: no failure to count,
                    // so a storm cannot lock a citizen out.
                    self.succeeded(attempt).await?;
                    return Err(e.into());
                }
            };
        let Some(found) = found.filter(|_| ok) else {
            // The reservation stays counted: a failure.
            return Err(AccountError::InvalidCredentials);
        };
        self.succeeded(attempt).await?;
        // The right password ends the account's run of failures.
        self.eph.delete(&acct_key).await?;
        Ok(found.account)
    }

    /// Mails a single-use reset link if an account has this address. The caller shows the
    /// same answer either way.
    ///
    /// # Errors
    /// `InvalidEmail` for malformed input, or an internal failure.
    pub async fn request_reset(
        &self,
        email: &str,
        lang: Lang,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        // Each request counts against the caller's address, whatever its outcome.
        let _counted = self
            .reserve(&[Counter {
                key: Key::PerAddress(PerAddress::ResetRequests, ip),
                limit: self.limits.per_ip,
            }])
            .await?;
        let email = EmailAddress::parse(email).map_err(|_| AccountError::InvalidEmail)?;
        let address_digest = token_digest(email.as_str());
        let gate = Key::ResetSent(&address_digest);
        if !self
            .eph
            .put_if_absent(&gate, "1", self.limits.mail_interval)
            .await?
        {
            return Ok(());
        }
        let account = match self.db.accounts().by_email(&email).await {
            Ok(a) => a.account,
            Err(StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let token = random_token();
        let digest = token_digest(&token);
        // Only the newest link works: naming it the account's current one ends the others.
        self.eph
            .put(&reset_current_key(account.id), &digest, RESET_TTL)
            .await?;
        self.eph
            .put(&reset_key(&digest), &account.id.to_string(), RESET_TTL)
            .await?;
        let link = format!("{}/password/reset?token={token}", self.issuer);
        let message = mail::password_reset(lang, &link)?;
        // Sent in the background: the answer must take as long for known addresses as for
        // unknown ones.
        let (mailer, db, id) = (self.mailer.clone(), self.db.clone(), account.id);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&email, message).await {
                tracing::error!(error = %e, "password reset mail not sent");
            }
            if let Err(e) = db
                .audit()
                .record(
                    "account.password_reset_requested",
                    Some(id),
                    None,
                    json!({}),
                )
                .await
            {
                tracing::error!(error = %e, "audit event not written");
            }
        });
        Ok(())
    }

    /// Sets a new password with a reset link (once). Proves control of the mailbox, so the
    /// address counts as verified. Revokes the account's refresh tokens; the caller ends
    /// its sessions.
    ///
    /// # Errors
    /// `Password` for a password that breaks the policy (the link stays usable),
    /// `InvalidToken` for unknown, used or expired links.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
    ) -> Result<AccountId, AccountError> {
        check_new_password(password).map_err(AccountError::Password)?;
        if token.len() > 64 {
            return Err(AccountError::InvalidToken);
        }
        let digest = token_digest(token);
        let valid = |id: Option<String>| {
            id.and_then(|s| s.parse().ok())
                .map(AccountId)
                .ok_or(AccountError::InvalidToken)
        };
        // Checked first, used up only when the new password is ready to be stored: a failure
        // before that leaves the link usable.
        let id = valid(self.eph.get(&reset_key(&digest)).await?)?;
        // An older link of the account (a newer one was requested since) does not work.
        if self.eph.get(&reset_current_key(id)).await?.as_deref() != Some(digest.as_str()) {
            return Err(AccountError::InvalidToken);
        }
        let hash = crypto::hash_password(password.to_owned()).await?;
        // Single use: of two concurrent uses only one gets past this take.
        if valid(self.eph.take(&reset_key(&digest)).await?)? != id {
            return Err(AccountError::InvalidToken);
        }
        match self.db.accounts().set_password_hash(id, &hash).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AccountError::InvalidToken),
            Err(e) => return Err(e.into()),
        }
        // The account has no usable reset link left, nor a verification link (the address
        // is now confirmed).
        self.eph.delete(&reset_current_key(id)).await?;
        if let Some(pending) = self.eph.take(&verify_current_key(id)).await? {
            self.eph.delete(&verify_key(&pending)).await?;
        }
        self.db.accounts().set_email_verified(id, true).await?;
        // Whoever knew the old password may hold a portal's offline access: end it.
        let revoked = self.db.refresh_tokens().revoke_all_for(id).await?;
        self.db
            .audit()
            .record(
                "account.password_reset",
                Some(id),
                None,
                json!({ "refresh_tokens_revoked": revoked }),
            )
            .await?;
        self.password_notice(id).await;
        Ok(id)
    }

    /// The holder of a session changes the password: the current one is checked like a login
    /// (and throttled like one), the new one against the policy before anything is counted.
    /// Whoever knew the old password may hold a portal's offline access: the account's refresh
    /// tokens are revoked, as after a reset; the caller ends the other sessions. A notice goes
    /// to the address, so a holder learns when someone else did it.
    ///
    /// # Errors
    /// `Password` for a new password that breaks the policy, `InvalidCredentials` or
    /// `Throttled` for the current one, or an internal failure.
    pub async fn change_password(
        &self,
        account: AccountId,
        current: &str,
        new: &str,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        check_new_password(new).map_err(AccountError::Password)?;
        self.reauthenticate(account, current, ip).await?;
        let hash = crypto::hash_password(new.to_owned()).await?;
        self.db.accounts().set_password_hash(account, &hash).await?;
        let revoked = self.db.refresh_tokens().revoke_all_for(account).await?;
        self.db
            .audit()
            .record(
                "account.password_changed",
                Some(account),
                None,
                json!({ "refresh_tokens_revoked": revoked }),
            )
            .await?;
        self.password_notice(account).await;
        Ok(())
    }

    /// "Your password was changed", to the account's address in its language. A failure is
    /// logged: the change has happened.
    async fn password_notice(&self, account: AccountId) {
        let link = format!("{}/password/forgot", self.issuer);
        self.mail_holder(account, |lang| mail::password_changed(lang, &link))
            .await;
    }

    /// The address of the account a reset link (still) works for, without using it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn reset_link_holder(
        &self,
        token: &str,
    ) -> Result<Option<EmailAddress>, AccountError> {
        if token.len() > 64 {
            return Ok(None);
        }
        let digest = token_digest(token);
        let Some(id) = self
            .eph
            .get(&reset_key(&digest))
            .await?
            .and_then(|s| s.parse().ok())
            .map(AccountId)
        else {
            return Ok(None);
        };
        if self.eph.get(&reset_current_key(id)).await?.as_deref() != Some(digest.as_str()) {
            return Ok(None);
        }
        Ok(Some(self.db.accounts().by_id(id).await?.email))
    }

    /// The address of a (still usable) verification link and the portal request it
    /// continues, without using it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn verify_link(
        &self,
        token: &str,
    ) -> Result<Option<(EmailAddress, Option<String>)>, AccountError> {
        if token.len() > 64 {
            return Ok(None);
        }
        let data: Option<VerifyToken> = self
            .eph
            .get(&verify_key(&token_digest(token)))
            .await?
            .and_then(|r| serde_json::from_str(&r).ok());
        let Some(data) = data else {
            return Ok(None);
        };
        let account = self.db.accounts().by_id(data.account).await?;
        if account.email_verified
            || !self
                .is_current_verify_link(data.account, &token_digest(token))
                .await?
        {
            return Ok(None);
        }
        Ok(Some((account.email, data.cont)))
    }

    async fn is_current_verify_link(
        &self,
        account: AccountId,
        digest: &str,
    ) -> Result<bool, AccountError> {
        Ok(self.eph.get(&verify_current_key(account)).await?.as_deref() == Some(digest))
    }

    /// Creates a verified account (operator command `user add`).
    ///
    /// # Errors
    /// Invalid input, `EmailTaken`, or an internal failure.
    pub async fn create_verified(
        &self,
        email: &str,
        password: &str,
    ) -> Result<AccountId, AccountError> {
        let email = EmailAddress::parse(email).map_err(|_| AccountError::InvalidEmail)?;
        check_new_password(password).map_err(AccountError::Password)?;
        let hash = crypto::hash_password(password.to_owned()).await?;
        self.insert_verified(&email, &hash, "account.created_by_operator", json!({}))
            .await
    }

    /// Inserts an account whose address needs no confirmation (made by the operator, or
    /// passed on by a trusted upstream) and audits it as `kind`.
    pub(crate) async fn insert_verified(
        &self,
        email: &EmailAddress,
        hash: &str,
        kind: &'static str,
        detail: serde_json::Value,
    ) -> Result<AccountId, AccountError> {
        let id = match self.db.accounts().insert(email, hash, true, Loa::Low).await {
            Ok(id) => id,
            Err(e) if e.is_conflict_on("email") => return Err(AccountError::EmailTaken),
            Err(e) => return Err(e.into()),
        };
        self.db.audit().record(kind, Some(id), None, detail).await?;
        Ok(id)
    }

    /// Whether the account's data may be downloaded now: at most once per
    /// [`EXPORT_INTERVAL`] (each download gathers everything). Claims the slot when it may.
    ///
    /// # Errors
    /// When the short-lived store fails.
    pub async fn claim_export(&self, id: AccountId) -> Result<bool, AccountError> {
        Ok(self
            .eph
            .put_if_absent(&Key::Export(id), "1", EXPORT_INTERVAL)
            .await?)
    }

    /// Remembers the holder's language for mails sent without a request.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn set_lang(&self, id: AccountId, lang: Lang) -> Result<(), AccountError> {
        Ok(self.db.accounts().set_lang(id, lang).await?)
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn get(&self, id: AccountId) -> Result<Account, AccountError> {
        Ok(self.db.accounts().by_id(id).await?)
    }
}
