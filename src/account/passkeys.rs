//! Passkeys (WebAuthn, through webauthn-rs): registration from the account page, login with a
//! passkey alone (discoverable credentials), and step-up with one of the account's passkeys.
//! Ceremony state waits in the short-lived store and is taken once.
//!
//! # The level a passkey gives
//! Every passkey verifies the user (PIN or biometrics). A *synced* passkey (the authenticator
//! flags it backup eligible: its key travels through a cloud account) gives *substantial*; a
//! *device-bound* one (BE flag clear) gives *high* (eIDAS 2015/1502 Annex 2.2.1, see
//! `domain::level::strength_of`). The flags are recorded with the credential at
//! registration and kept current at every use. The operator may demand more for *high*: an
//! authenticator whose attestation chains to a configured root and whose AAGUID is on an
//! allow-list ([`PasskeyPolicy`]); registration then asks for direct attestation, and a
//! passkey without it gives *substantial*.

use super::{AccountError, AccountService};
use crate::crypto::random_token;
use crate::domain::account::Account;
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::ephemeral::{Key, PerAddress};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestationMetadata, Credential,
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

/// How long a ceremony may take.
pub const CEREMONY_TTL: Duration = Duration::from_secs(300);
/// At most this many passkeys per account.
pub const MAX_PASSKEYS: usize = 20;
/// Longest passkey name.
pub const MAX_NAME: usize = 64;
/// Anonymous passkey-login ceremonies per client address and minute.
pub const ANONYMOUS_CEREMONIES_PER_MINUTE: u64 = 30;

/// What a device-bound passkey needs to give *high* (from the configuration).
#[derive(Clone, Debug, Default)]
pub struct PasskeyPolicy {
    /// When set: only authenticators whose attestation chains to one of these roots, with
    /// one of the AAGUIDs they were listed with, give *high*.
    pub attested_high: Option<AttestationCaList>,
}

impl PasskeyPolicy {
    /// Builds the allow-list from PEM root certificates and AAGUIDs. No AAGUIDs: no
    /// attestation needed.
    ///
    /// # Errors
    /// A certificate that does not parse, or AAGUIDs without roots.
    pub fn new(roots_pem: &[u8], aaguids: &[Uuid]) -> Result<Self, String> {
        if aaguids.is_empty() {
            return Ok(Self::default());
        }
        let text = String::from_utf8_lossy(roots_pem);
        let blocks: Vec<String> = text
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|b| format!("-----BEGIN CERTIFICATE-----{b}"))
            .collect();
        if blocks.is_empty() {
            return Err(
                "passkey_high_aaguids needs passkey_attestation_roots (PEM certificates)".into(),
            );
        }
        let mut builder = AttestationCaListBuilder::new();
        for pem in &blocks {
            for aaguid in aaguids {
                builder
                    .insert_device_pem(
                        pem.as_bytes(),
                        *aaguid,
                        format!("allowed authenticator {aaguid}"),
                        std::collections::BTreeMap::new(),
                    )
                    .map_err(|e| format!("attestation root certificate: {e:?}"))?;
            }
        }
        Ok(Self {
            attested_high: Some(builder.build()),
        })
    }
}

/// The relying party for WebAuthn: the issuer's host name. `None` when the issuer is an IP
/// address, where browsers offer no passkeys.
#[must_use]
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let origin = Url::parse(issuer).ok()?;
    let rp_id = origin.domain()?.to_owned();
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Bürgerkonto")
        .build()
        .ok()
}

/// A ceremony for the browser: its id (a form field) and the options for
/// `navigator.credentials.create()` / `.get()` as JSON.
pub struct Ceremony {
    pub id: String,
    pub options: String,
}

/// A passkey as the account page lists it.
pub struct PasskeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The level a login with it gives.
    pub level: Loa,
    /// Backup eligible: synced through a cloud account.
    pub synced: bool,
}

/// Who a passkey authentication proved, and whether the authenticator verified the user
/// (PIN or biometrics).
pub struct PasskeyLogin {
    pub account: AccountId,
    pub user_verified: bool,
    /// The level the passkey gives (see the module doc).
    pub level: Loa,
}

#[derive(Serialize, Deserialize)]
struct RegState {
    account: AccountId,
    state: PasskeyRegistration,
}

#[derive(Serialize, Deserialize)]
enum AuthState {
    /// Step-up: one of this account's passkeys.
    Account(AccountId, PasskeyAuthentication),
    /// Login with a passkey alone: the authenticator names the account.
    Discoverable(DiscoverableAuthentication),
}

fn cred_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn invalid<E: std::fmt::Display>(e: E) -> AccountError {
    tracing::info!(error = %e, "passkey ceremony failed");
    AccountError::InvalidCredentials
}

impl AccountService {
    fn webauthn(&self) -> Result<&Webauthn, AccountError> {
        self.webauthn.as_ref().ok_or(AccountError::Unavailable)
    }

    /// The level a login with this passkey gives (see the module doc).
    #[must_use]
    pub fn passkey_level(&self, passkey: &Passkey) -> Loa {
        let cred: Credential = passkey.clone().into();
        if cred.backup_eligible || cred.backup_state || !cred.user_verified {
            return Loa::Substantial;
        }
        let Some(roots) = &self.passkey_policy.attested_high else {
            return Loa::High;
        };
        let aaguid = match &cred.attestation.metadata {
            AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
                *aaguid
            }
            _ => return Loa::Substantial,
        };
        match cred.verify_attestation(roots) {
            Ok(Some(ca)) if ca.aaguids().contains_key(&aaguid) => Loa::High,
            _ => Loa::Substantial,
        }
    }

    /// The levels of the account's passkeys.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn passkey_levels(&self, account: AccountId) -> Result<Vec<Loa>, AccountError> {
        Ok(self
            .stored_passkeys(account)
            .await?
            .iter()
            .map(|p| self.passkey_level(p))
            .collect())
    }

    /// Anonymous passkey ceremonies (login without a session) per client address and minute,
    /// so that nobody fills the short-lived store with challenges: true while under the limit.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn may_start_anonymous_ceremony(
        &self,
        ip: std::net::IpAddr,
    ) -> Result<bool, AccountError> {
        let n = self
            .eph
            .incr_window(
                &Key::PerAddress(PerAddress::PasskeyCeremonies, ip),
                Duration::from_secs(60),
            )
            .await?;
        Ok(n <= ANONYMOUS_CEREMONIES_PER_MINUTE)
    }

    /// Takes the account's factor-change lock for a few seconds (false if someone holds it),
    /// so that two removals cannot both pass the "last factor" check.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn lock_factors(&self, account: AccountId) -> Result<bool, AccountError> {
        Ok(self
            .eph
            .put_if_absent(&Key::FactorLock(account), "1", Duration::from_secs(10))
            .await?)
    }

    /// Releases [`AccountService::lock_factors`].
    ///
    /// # Errors
    /// Storage failures.
    pub async fn unlock_factors(&self, account: AccountId) -> Result<(), AccountError> {
        Ok(self.eph.delete(&Key::FactorLock(account)).await?)
    }

    /// Whether passkeys can be used with this issuer.
    #[must_use]
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    async fn stored_passkeys(&self, account: AccountId) -> Result<Vec<Passkey>, AccountError> {
        self.db
            .passkeys()
            .list(account)
            .await?
            .iter()
            .map(|r| {
                serde_json::from_str(&r.passkey)
                    .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()).into())
            })
            .collect()
    }

    /// Starts adding a passkey: a discoverable credential with user verification, none of
    /// the account's existing ones again.
    ///
    /// # Errors
    /// `Unavailable` without a host name, `TooMany` at the limit, storage failures.
    pub async fn passkey_register_start(
        &self,
        account: &Account,
    ) -> Result<Ceremony, AccountError> {
        let wa = self.webauthn()?;
        let existing = self.stored_passkeys(account.id).await?;
        if existing.len() >= MAX_PASSKEYS {
            return Err(AccountError::TooMany);
        }
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (ccr, state) = wa
            .start_passkey_registration(
                account.id.0,
                account.email.as_str(),
                account.email.as_str(),
                Some(exclude),
            )
            .map_err(|e| AccountError::Internal(e.into()))?;
        // Ask for a discoverable credential, so the passkey alone can log in later.
        let mut options =
            serde_json::to_value(&ccr).map_err(|e| AccountError::Internal(e.into()))?;
        if let Some(sel) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
            sel.insert("residentKey".into(), json!("required"));
            sel.insert("requireResidentKey".into(), json!(true));
        }
        // With an allow-list for *high*, the authenticator is asked to prove what it is
        // (the statement is verified at the finish; without it the passkey still works).
        if self.passkey_policy.attested_high.is_some() {
            options["publicKey"]["attestation"] = json!("direct");
        }
        let id = random_token();
        let stored = serde_json::to_string(&RegState {
            account: account.id,
            state,
        })
        .map_err(|e| AccountError::Internal(e.into()))?;
        self.eph
            .put(&Key::PasskeyRegistration(&id), &stored, CEREMONY_TTL)
            .await?;
        Ok(Ceremony {
            id,
            options: options.to_string(),
        })
    }

    /// Finishes adding a passkey with the browser's answer.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown or expired ceremony (or another account's),
    /// `InvalidCredentials` for an answer that does not verify, `EmailTaken`-like `Conflict`
    /// when the credential is registered already.
    pub async fn passkey_register_finish(
        &self,
        account: AccountId,
        ceremony: &str,
        response: &str,
        name: &str,
    ) -> Result<(), AccountError> {
        let wa = self.webauthn()?;
        // Ceremony ids are 43-character tokens: nothing longer becomes a store key.
        if ceremony.len() > 64 {
            return Err(AccountError::InvalidToken);
        }
        let state: RegState = self
            .eph
            .take(&Key::PasskeyRegistration(ceremony))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .filter(|s: &RegState| s.account == account)
            .ok_or(AccountError::InvalidToken)?;
        let reg: RegisterPublicKeyCredential = serde_json::from_str(response).map_err(invalid)?;
        let passkey = wa
            .finish_passkey_registration(&reg, &state.state)
            .map_err(invalid)?;
        let name = clean_name(name);
        let stored =
            serde_json::to_string(&passkey).map_err(|e| AccountError::Internal(e.into()))?;
        // Count and add under the account's factor lock: parallel ceremonies cannot both pass
        // the limit (the same lock serialises removals).
        if !self.lock_factors(account).await? {
            return Err(AccountError::InvalidCredentials);
        }
        let added = async {
            if self.db.passkeys().count(account).await? >= MAX_PASSKEYS {
                return Err(AccountError::TooMany);
            }
            self.db
                .passkeys()
                .add(account, &cred_key(passkey.cred_id()), &name, &stored)
                .await
                .map_err(AccountError::from)
        }
        .await;
        self.unlock_factors(account).await?;
        added?;
        self.db
            .audit()
            .record(
                "factor.passkey_added",
                Some(account),
                None,
                json!({ "name": name }),
            )
            .await?;
        self.tell_factor_changed(account, true, &format!("Passkey „{name}“"))
            .await;
        Ok(())
    }

    /// The account's passkeys.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyInfo>, AccountError> {
        self.db
            .passkeys()
            .list(account)
            .await?
            .into_iter()
            .map(|r| {
                let passkey: Passkey = serde_json::from_str(&r.passkey)
                    .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
                let cred: Credential = passkey.clone().into();
                Ok(PasskeyInfo {
                    id: r.id,
                    name: r.name,
                    created_at: r.created_at,
                    last_used_at: r.last_used_at,
                    level: self.passkey_level(&passkey),
                    synced: cred.backup_eligible || cred.backup_state,
                })
            })
            .collect()
    }

    /// Renames one of the account's passkeys.
    ///
    /// # Errors
    /// `InvalidToken` when the account has no such passkey; storage failures.
    pub async fn passkey_rename(
        &self,
        account: AccountId,
        id: Uuid,
        name: &str,
    ) -> Result<(), AccountError> {
        if self
            .db
            .passkeys()
            .rename(account, id, &clean_name(name))
            .await?
        {
            Ok(())
        } else {
            Err(AccountError::InvalidToken)
        }
    }

    /// Removes one of the account's passkeys. The caller has made sure that whoever asks
    /// proved the factors that remain (see [`AccountService::may_remove_factor`]).
    ///
    /// # Errors
    /// `InvalidToken` when the account has no such passkey; storage failures.
    pub async fn passkey_remove(&self, account: AccountId, id: Uuid) -> Result<(), AccountError> {
        if !self.db.passkeys().remove(account, id).await? {
            return Err(AccountError::InvalidToken);
        }
        self.db
            .audit()
            .record(
                "factor.passkey_removed",
                Some(account),
                None,
                json!({ "id": id }),
            )
            .await?;
        self.tell_factor_changed(account, false, "Passkey").await;
        Ok(())
    }

    /// Starts a passkey authentication: for step-up with one of `account`'s passkeys, or,
    /// without an account, a login with any discoverable passkey.
    ///
    /// # Errors
    /// `Unavailable` without host name or when the account has no passkey; storage failures.
    pub async fn passkey_auth_start(
        &self,
        account: Option<AccountId>,
    ) -> Result<Ceremony, AccountError> {
        let wa = self.webauthn()?;
        let (options, state) = match account {
            Some(a) => {
                let keys = self.stored_passkeys(a).await?;
                if keys.is_empty() {
                    return Err(AccountError::Unavailable);
                }
                let (rcr, st) = wa
                    .start_passkey_authentication(&keys)
                    .map_err(|e| AccountError::Internal(e.into()))?;
                (serde_json::to_value(&rcr), AuthState::Account(a, st))
            }
            None => {
                let (mut rcr, st) = wa
                    .start_discoverable_authentication()
                    .map_err(|e| AccountError::Internal(e.into()))?;
                // A button press, not the autofill (conditional) mediation.
                rcr.mediation = None;
                (serde_json::to_value(&rcr), AuthState::Discoverable(st))
            }
        };
        let options = options.map_err(|e| AccountError::Internal(e.into()))?;
        let id = random_token();
        let stored = serde_json::to_string(&state).map_err(|e| AccountError::Internal(e.into()))?;
        self.eph
            .put(&Key::PasskeyAuthentication(&id), &stored, CEREMONY_TTL)
            .await?;
        Ok(Ceremony {
            id,
            options: options.to_string(),
        })
    }

    /// Finishes a passkey authentication (each ceremony once). For step-up, `expected` is the
    /// session's account and the passkey must be one of its own.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown ceremony, `InvalidCredentials` when the answer does not
    /// verify or names another account; storage failures.
    pub async fn passkey_auth_finish(
        &self,
        ceremony: &str,
        response: &str,
        expected: Option<AccountId>,
    ) -> Result<PasskeyLogin, AccountError> {
        let wa = self.webauthn()?;
        // Ceremony ids are 43-character tokens: nothing longer becomes a store key.
        if ceremony.len() > 64 {
            return Err(AccountError::InvalidToken);
        }
        let state: AuthState = self
            .eph
            .take(&Key::PasskeyAuthentication(ceremony))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or(AccountError::InvalidToken)?;
        let cred: PublicKeyCredential = serde_json::from_str(response).map_err(invalid)?;
        let row = self
            .db
            .passkeys()
            .by_credential(&cred_key(cred.get_credential_id()))
            .await?
            .ok_or(AccountError::InvalidCredentials)?;
        let owner = AccountId(row.account_id);
        let mut passkey: Passkey = serde_json::from_str(&row.passkey)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        let result = match state {
            AuthState::Account(a, st) => {
                if a != owner || expected != Some(a) {
                    return Err(AccountError::InvalidCredentials);
                }
                wa.finish_passkey_authentication(&cred, &st)
                    .map_err(invalid)?
            }
            AuthState::Discoverable(st) => {
                let (user, _) = wa
                    .identify_discoverable_authentication(&cred)
                    .map_err(invalid)?;
                if user != owner.0 || expected.is_some_and(|e| e != owner) {
                    return Err(AccountError::InvalidCredentials);
                }
                wa.finish_discoverable_authentication_v2(&cred, st, &passkey)
                    .map_err(invalid)?
            }
        };
        if passkey.update_credential(&result).is_some() {
            let stored =
                serde_json::to_string(&passkey).map_err(|e| AccountError::Internal(e.into()))?;
            self.db.passkeys().used(&row.credential_id, &stored).await?;
        }
        Ok(PasskeyLogin {
            account: owner,
            user_verified: result.user_verified(),
            level: if result.user_verified() {
                self.passkey_level(&passkey)
            } else {
                Loa::Substantial
            },
        })
    }
}

fn clean_name(name: &str) -> String {
    // No control or bidirectional-override characters: the name is shown on pages and in
    // the mail that tells the holder about the new passkey.
    let bidi = |c: char| matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    let n: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control() && !bidi(*c))
        .take(MAX_NAME)
        .collect::<String>()
        .trim_end()
        .to_owned();
    if n.is_empty() { "Passkey".into() } else { n }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("  Laptop  "), "Laptop");
        assert_eq!(clean_name("evil\u{202E}txt.exe"), "eviltxt.exe");
        assert_eq!(clean_name("a\u{0}b"), "ab");
        assert_eq!(clean_name(" \u{200B} "), "Passkey");
        assert_eq!(
            clean_name(&format!("{}{}", " ".repeat(10), "x".repeat(100))).len(),
            64
        );
    }
}
