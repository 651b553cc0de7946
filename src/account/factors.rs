//! Second factors (TOTP with recovery codes) and identity proofing by a clerk.

use super::{AccountError, AccountService};
use crate::crypto::totp::{base32, matching_step};
use crate::crypto::{random_bytes, token_digest};
use crate::domain::account::EmailAddress;
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::ephemeral::Key;
use crate::store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use std::time::Duration;

/// How long an enrolment may take between showing the secret and confirming a code.
pub const ENROL_TTL: Duration = Duration::from_secs(600);
pub const RECOVERY_CODES: usize = 10;

/// The second factors of an account.
#[derive(Clone, Copy, Debug, Default)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: usize,
    /// The level the strongest passkey gives (see [`AccountService::passkey_level`]).
    pub best_passkey: Option<Loa>,
}

impl Factors {
    /// How many second factors there are (each passkey counts).
    #[must_use]
    pub fn count(self) -> usize {
        usize::from(self.totp) + self.passkeys
    }

    /// Whether one of them can be asked for here (`passkeys`: WebAuthn is configured).
    #[must_use]
    pub fn usable(self, passkeys: bool) -> bool {
        self.totp || (self.passkeys > 0 && passkeys)
    }
}

/// What the enrolment page shows.
pub struct TotpEnrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

fn enrol_key(account: AccountId) -> Key<'static> {
    Key::TotpEnrol(account)
}

fn normalize_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace(['-', ' '], "")
}

impl AccountService {
    /// Starts a TOTP enrolment: a new secret, kept for [`ENROL_TTL`] until a code confirms it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn totp_start(
        &self,
        account: AccountId,
        email: &EmailAddress,
    ) -> Result<TotpEnrolment, AccountError> {
        // A pending enrolment keeps its secret (the page may be shown again after a typo).
        let pending = self
            .eph
            .get(&enrol_key(account))
            .await?
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
        let secret = match pending {
            Some(s) => s,
            None => {
                let s = random_bytes::<20>().to_vec();
                self.eph
                    .put(&enrol_key(account), &URL_SAFE_NO_PAD.encode(&s), ENROL_TTL)
                    .await?;
                s
            }
        };
        let secret_base32 = base32(&secret);
        let enc =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let otpauth_uri = format!(
            "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits=6&period=30",
            enc("Bürgerkonto"),
            enc(email.as_str()),
            enc("Bürgerkonto")
        );
        let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
            .map(|q| {
                q.render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build()
            })
            .unwrap_or_default();
        Ok(TotpEnrolment {
            secret_base32,
            otpauth_uri,
            qr_svg,
        })
    }

    /// Confirms an enrolment with a code from the app; returns the recovery codes, shown once.
    ///
    /// # Errors
    /// `InvalidToken` when no enrolment is pending, `InvalidCredentials` for a wrong code.
    pub async fn totp_confirm(
        &self,
        account: AccountId,
        code: &str,
    ) -> Result<Vec<String>, AccountError> {
        let secret = self
            .eph
            .get(&enrol_key(account))
            .await?
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or(AccountError::InvalidToken)?;
        let step = matching_step(&secret, code, chrono::Utc::now().timestamp())
            .ok_or(AccountError::InvalidCredentials)?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| {
                let raw = base32(&random_bytes::<5>()).to_ascii_lowercase();
                format!("{}-{}", &raw[..4], &raw[4..])
            })
            .collect();
        let digests: Vec<String> = codes
            .iter()
            .map(|c| token_digest(&normalize_recovery(c)))
            .collect();
        self.db
            .credentials()
            .set_totp(account, &secret, step, &digests)
            .await?;
        self.eph.delete(&enrol_key(account)).await?;
        self.db
            .audit()
            .record("factor.totp_added", Some(account), None, json!({}))
            .await?;
        self.tell_factor_changed(account, true, "Authenticator-App (TOTP)")
            .await;
        Ok(codes)
    }

    /// Whether the account has TOTP.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn has_totp(&self, account: AccountId) -> Result<bool, AccountError> {
        Ok(self.db.credentials().totp(account).await?.is_some())
    }

    /// Tells the holder by mail that a sign-in method was added or removed. A failed mail is
    /// logged, not an error: the change itself has happened.
    pub(crate) async fn tell_factor_changed(&self, account: AccountId, added: bool, what: &str) {
        let sent = async {
            let acc = self.db.accounts().by_id(account).await?;
            let link = format!("{}/konto/sicherheit", self.issuer);
            let mail = crate::mail::factor_changed(
                self.db.accounts().lang(account).await?,
                added,
                what,
                &link,
            )?;
            self.mailer.send(&acc.email, mail).await?;
            Ok::<(), AccountError>(())
        }
        .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not mail the factor change");
        }
    }

    /// Which second factors the account has.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn factors(&self, account: AccountId) -> Result<Factors, AccountError> {
        let levels = self.passkey_levels(account).await?;
        Ok(Factors {
            totp: self.has_totp(account).await?,
            passkeys: levels.len(),
            best_passkey: levels.into_iter().max(),
        })
    }

    /// Removes the TOTP authenticator and its recovery codes. The caller has made sure that
    /// whoever asks proved a second factor, and re-entered the password when it is the last.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn totp_remove(&self, account: AccountId) -> Result<(), AccountError> {
        self.db.credentials().remove_totp(account).await?;
        self.db
            .audit()
            .record("factor.totp_removed", Some(account), None, json!({}))
            .await?;
        self.tell_factor_changed(account, false, "Authenticator-App (TOTP)")
            .await;
        Ok(())
    }

    /// Checks a second-factor code: a TOTP code (each time step once) or a recovery code
    /// (each once). Failures are throttled like logins.
    ///
    /// # Errors
    /// `InvalidCredentials`, `Throttled`, or storage failures.
    pub async fn check_second_factor(
        &self,
        account: AccountId,
        code: &str,
    ) -> Result<(), AccountError> {
        let attempt = self
            .reserve(&[super::throttle::Counter {
                key: Key::FailedSecondFactors(account),
                limit: self.limits.per_account,
            }])
            .await?;
        if code.len() <= 64 {
            if let Some((secret, _)) = self.db.credentials().totp(account).await?
                && let Some(step) = matching_step(&secret, code, chrono::Utc::now().timestamp())
                && self.db.credentials().use_step(account, step).await?
            {
                return self.succeeded(attempt).await;
            }
            if self
                .db
                .credentials()
                .use_recovery_code(account, &token_digest(&normalize_recovery(code)))
                .await?
            {
                self.db
                    .audit()
                    .record("factor.recovery_code_used", Some(account), None, json!({}))
                    .await?;
                return self.succeeded(attempt).await;
            }
        }
        // The reservation stays counted: a failure.
        Err(AccountError::InvalidCredentials)
    }

    /// A clerk confirmed the holder's identity in person (operator command): records who,
    /// how and at which level, and raises the account's proofing level.
    ///
    /// # Errors
    /// `InvalidEmail` when no account has this address, or storage failures.
    pub async fn verify_identity(
        &self,
        email: &str,
        level: Loa,
        document_type: &str,
        clerk: &str,
        claims: &[(String, String)],
        by: CheckedBy,
    ) -> Result<AccountId, AccountError> {
        let email = EmailAddress::parse(email).map_err(|_| AccountError::InvalidEmail)?;
        let account = match self.db.accounts().by_email(&email).await {
            Ok(a) => a.account,
            Err(StoreError::NotFound) => return Err(AccountError::InvalidEmail),
            Err(e) => return Err(e.into()),
        };
        self.db
            .proofings()
            .record(
                account.id,
                level,
                "in_person",
                Some(document_type),
                clerk,
                by.tenant,
            )
            .await?;
        if !claims.is_empty() {
            self.db
                .identities()
                .set_claims(account.id, &format!("clerk:{clerk}"), level, claims)
                .await?;
        }
        self.db
            .audit()
            .record_by("account.identity_verified", by.actor, by.tenant, Some(account.id), None, json!({ "level": level.name(), "method": "in_person", "document_type": document_type, "verified_by": clerk }))
            .await?;
        Ok(account.id)
    }
}

/// Who recorded an identity check: the signed-in clerk (console) and the tenant it was made
/// in (console, a tenant's system); neither for the operator's shell.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckedBy {
    pub actor: Option<AccountId>,
    pub tenant: Option<crate::domain::ids::TenantId>,
}

/// What the account page shows about confirmed identity.
pub struct Identity {
    pub claims: Vec<crate::store::identities::VerifiedClaim>,
    pub links: Vec<crate::store::identities::UpstreamLink>,
}

impl AccountService {
    /// Verified claims and upstream links of an account.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn identity(&self, account: AccountId) -> Result<Identity, AccountError> {
        Ok(Identity {
            claims: self.db.identities().claims(account).await?,
            links: self.db.identities().links(account).await?,
        })
    }

    /// Records what an upstream provider confirmed: the link, the verified claims with their
    /// source and level, and a proofing record. The account's proofing level only rises.
    /// Returns the account's proofing level afterwards.
    ///
    /// # Errors
    /// `Store(Conflict)` when the upstream identity is linked to another account; storage
    /// failures.
    pub async fn link_upstream(&self, a: &crate::broker::Assertion) -> Result<Loa, AccountError> {
        // The link's primary key refuses an upstream identity linked to another account; the
        // store keeps stronger data and never lowers the proofing level.
        self.db
            .identities()
            .link(a.account, &a.upstream, &a.upstream_sub, a.level, &a.claims)
            .await?;
        let source = format!("upstream:{}", a.upstream);
        self.db
            .proofings()
            .record(a.account, a.level, "upstream", None, &source, None)
            .await?;
        let level = self.db.accounts().by_id(a.account).await?.proofing;
        self.db
            .audit()
            .record(
                "account.identity_linked",
                Some(a.account),
                None,
                json!({ "upstream": a.upstream, "asserted_level": a.level.name(), "level": level.name(), "claims": a.claims.iter().map(|(c, _)| c).collect::<Vec<_>>() }),
            )
            .await?;
        Ok(level)
    }

    /// A step-up at an upstream for a signed-in account: it must confirm the person already
    /// linked there, if one is (a step-up raises this person's level; it does not replace
    /// who the account belongs to). Then recorded like a link.
    ///
    /// # Errors
    /// `OtherPerson`, `Store(Conflict)` when the identity belongs to another account, or a
    /// backend error.
    pub async fn upstream_step_up(
        &self,
        a: &crate::broker::Assertion,
    ) -> Result<Loa, AccountError> {
        let linked = self
            .db
            .identities()
            .subject_of(a.account, &a.upstream)
            .await?;
        if linked.is_some_and(|s| s != a.upstream_sub) {
            self.record(
                "account.step_up_refused",
                a.account,
                json!({ "upstream": a.upstream, "reason": "another person" }),
            )
            .await;
            return Err(AccountError::OtherPerson);
        }
        self.link_upstream(a).await
    }

    /// A login through an upstream provider: the account its identity is linked to (the
    /// link's data and proofing refreshed), or, at the first login, a new account with the
    /// e-mail address the upstream passed on (`Unavailable` without one, `EmailTaken` when
    /// another account has it: linking then needs that account's own login).
    ///
    /// # Errors
    /// `Unavailable`, `EmailTaken`, `Disabled`, or a backend error.
    pub async fn upstream_login(
        &self,
        c: &crate::broker::Confirmed,
    ) -> Result<(AccountId, Loa), AccountError> {
        let linked = self
            .db
            .identities()
            .linked_account(&c.upstream, &c.upstream_sub)
            .await?;
        let account = match linked {
            // A disabled account logs in nowhere: refused before anything is recorded.
            Some(id) if self.db.accounts().is_disabled(id).await? => {
                return Err(AccountError::Disabled);
            }
            Some(id) => id,
            None => {
                let email = c
                    .email
                    .as_deref()
                    .and_then(|e| crate::domain::account::EmailAddress::parse(e).ok())
                    .ok_or(AccountError::Unavailable)?;
                // Nobody knows this password; a reset by mail sets one.
                let unknown = crate::crypto::hash_password(crate::crypto::random_token()).await?;
                self.insert_verified(
                    &email,
                    &unknown,
                    "account.registered_by_upstream",
                    json!({ "upstream": c.upstream }),
                )
                .await?
            }
        };
        let level = self.link_upstream(&c.into_assertion(account)).await?;
        Ok((account, level))
    }
}
