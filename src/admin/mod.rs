//! Administration: the operations of the console, the admin API and the CLI, each checked
//! against the actor's roles ([`crate::domain::role::Grants::may`]) and audited with the
//! actor. Uses the store and the other services; no HTTP.
//!
//! The three doors call the same methods: the CLI as [`Actor::operator`] (the shell is the
//! Verbund's operator), the console as the signed-in admin, the admin API as the calling
//! authority system with the roles its scopes carry.

pub mod accounts;
pub mod audit;
pub mod callbacks;
pub mod clients;
pub mod desk;
pub mod json;
pub mod processes;
pub mod roles;
pub mod tenants;
pub mod topics;

use crate::domain::ids::{AccountId, ClientId, TenantId};
use crate::domain::role::{Duty, Grants, Role};
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The actor's roles do not allow it (or the thing is in a tenant the actor cannot see).
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// Input that breaks a rule: which one.
    #[error("{}", .0.en())]
    Invalid(Bad),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another service failed (accounts, sessions, mail), or a desk action in the CLI.
    #[error("backend failure")]
    Backend(#[source] crate::telemetry::Cause),
}

/// The rules an administrative input can break, each with its German and English message
/// (the console shows the reader's language, the CLI and the API English).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bad {
    Role,
    UnknownTenant,
    RoleTenant,
    Email,
    Slug,
    SlugTaken,
    Name,
    Accent,
    Support,
    Link,
    LastVerbundAdmin,
    /// A client registration the registry refused, with its (English, technical) reason.
    Client(String),
    NoSecret,
    Overlap,
    Level,
    Document,
    Unconfirmed,
    Claim(String),
    Kind,
    Date,
    /// A catalogue rule, with the catalogue's (English) reason.
    Process(String),
    Logo,
    TenantInUse,
    /// A callback URL or secret that breaks its rule.
    Callback(crate::mailbox::callback::BadCallback),
    /// A delivery listing names a state other than pending, delivered, dead.
    CallbackState,
    /// Only given-up deliveries are re-queued by hand.
    NotGivenUp,
}

impl Bad {
    #[must_use]
    pub fn en(&self) -> String {
        match self {
            Bad::Client(why) => format!("the client is not valid: {why}"),
            Bad::Process(why) => why.clone(),
            Bad::Callback(why) => why.to_string(),
            other => other.en_static().to_owned(),
        }
    }

    fn en_static(&self) -> &'static str {
        match self {
            Bad::Client(_) => "the client is not valid",
            Bad::Process(_) => "the process entry is not valid",
            Bad::Callback(_) => "the callback setting is not valid",
            Bad::CallbackState => "the state is pending, delivered or dead",
            Bad::NotGivenUp => "only deliveries that were given up are re-queued by hand",
            Bad::NoSecret => "this client has no secret to rotate",
            Bad::Level => "an identity check confirms substantial or high",
            Bad::Kind => "an event type is lower-case letters, dots and underscores",
            Bad::TenantInUse => {
                "the tenant's systems sent messages whose evidence names it: disable it instead"
            }
            Bad::Logo => {
                "a logo is a PNG or an SVG without scripts or external references, at most 200 KiB"
            }
            Bad::Date => "dates are written YYYY-MM-DD",
            Bad::Document => "the document type is 1 to 100 characters",
            Bad::Unconfirmed => "the account's e-mail address is not confirmed yet",
            Bad::Claim(_) => "a name or birth date is not valid",
            Bad::Overlap => "the overlap is 0 to 720 hours",
            Bad::Role => "the role must be verbund_admin, kommune_admin, clerk or auditor",
            Bad::UnknownTenant => "there is no tenant with this slug",
            Bad::RoleTenant => "Kommune admins and clerks need a tenant, Verbund admins take none",
            Bad::Email => "this is not an e-mail address",
            Bad::Slug => "the slug is 2 to 63 lower-case letters, digits and hyphens",
            Bad::SlugTaken => "a tenant with this slug exists already",
            Bad::Name => "the name is 1 to 200 characters on one line",
            Bad::Accent => {
                "the accent colour must be #rrggbb with a contrast of at least 4.5:1 against white"
            }
            Bad::Support => "the support contact is one line of at most 200 characters",
            Bad::Link => "links must be https URLs of at most 500 characters",
            Bad::LastVerbundAdmin => "the last Verbund admin cannot be revoked in the console",
        }
    }

    #[must_use]
    pub fn de(&self) -> String {
        match self {
            Bad::Client(why) => format!(
                "Die Angaben sind so nicht gültig. Bitte prüfen Sie sie; der technische Grund: {why}"
            ),
            Bad::Process(why) => format!(
                "Das Verfahren lässt sich so nicht speichern. Eine Kommune kann nur ein Verfahren des Verbunds anheben, nie senken; die Kennung besteht aus Kleinbuchstaben, Ziffern und Bindestrichen. Der technische Grund: {why}"
            ),
            other => other.de_static().to_owned(),
        }
    }

    fn de_static(&self) -> &'static str {
        match self {
            Bad::Client(_) => "Die Angaben sind so nicht gültig.",
            Bad::Process(_) => "Das Verfahren lässt sich so nicht speichern.",
            Bad::Callback(crate::mailbox::callback::BadCallback::Url) => {
                "Die Rückruf-Adresse muss eine https-Adresse mit höchstens 500 Zeichen sein, ohne Benutzername und ohne #-Teil."
            }
            Bad::Callback(crate::mailbox::callback::BadCallback::Secret) => {
                "Das Rückruf-Geheimnis hat 32 bis 256 sichtbare ASCII-Zeichen (keine Leerzeichen, keine Umlaute). Lassen Sie das Feld leer, um eines erzeugen zu lassen."
            }
            Bad::Callback(crate::mailbox::callback::BadCallback::NoTarget) => {
                "Für diesen Zugang ist noch keine Rückruf-Adresse eingetragen."
            }
            Bad::CallbackState => "Bitte wählen Sie: wartend, zugestellt oder aufgegeben.",
            Bad::NotGivenUp => {
                "Diese Zustellung wartet noch oder ist zugestellt; erneut zustellen lassen sich nur aufgegebene."
            }
            Bad::NoSecret => "Dieser Zugang hat kein Geheimnis, das sich erneuern ließe.",
            Bad::Level => "Eine Identitätsprüfung bestätigt „substanziell“ oder „hoch“.",
            Bad::Kind => {
                "Ein Ereignistyp besteht aus Kleinbuchstaben, Punkten und Unterstrichen, z. B. admin."
            }
            Bad::Date => "Bitte geben Sie Daten als JJJJ-MM-TT ein, z. B. 2026-12-04.",
            Bad::TenantInUse => {
                "Die Fachverfahren dieser Kommune haben Nachrichten gesendet, deren Nachweise sie nennen. Sperren Sie die Kommune stattdessen."
            }
            Bad::Logo => {
                "Das Logo muss eine PNG- oder SVG-Datei bis 200 KiB sein; SVG ohne Skripte, Links und Verweise auf andere Dateien."
            }
            Bad::Document => "Bitte wählen Sie das geprüfte Dokument.",
            Bad::Unconfirmed => {
                "Die E-Mail-Adresse dieses Kontos ist noch nicht bestätigt. Senden Sie den Bestätigungslink erneut; nach der Bestätigung kann die Identität geprüft werden."
            }
            Bad::Claim(_) => {
                "Ein Name oder das Geburtsdatum ist so nicht gültig (Geburtsdatum als JJJJ-MM-TT)."
            }
            Bad::Overlap => "Die Überlappung beträgt 0 bis 720 Stunden.",
            Bad::Role => "Bitte wählen Sie eine Rolle.",
            Bad::UnknownTenant => "Diese Kommune gibt es nicht.",
            Bad::RoleTenant => {
                "Kommunen-Administration und Sachbearbeitung gelten für eine Kommune, die Verbund-Administration für keine. Bitte wählen Sie passend."
            }
            Bad::Email => "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
            Bad::Slug => {
                "Das Kürzel besteht aus 2 bis 63 Kleinbuchstaben, Ziffern und Bindestrichen."
            }
            Bad::SlugTaken => "Eine Kommune mit diesem Kürzel gibt es schon.",
            Bad::Name => "Der Name hat 1 bis 200 Zeichen in einer Zeile.",
            Bad::Accent => {
                "Die Akzentfarbe wird als #rrggbb geschrieben und braucht gegen Weiß einen Kontrast von mindestens 4,5:1 (WCAG 2.1). Bitte wählen Sie eine dunklere Farbe."
            }
            Bad::Support => "Der Support-Kontakt ist eine Zeile mit höchstens 200 Zeichen.",
            Bad::Link => "Links sind https-Adressen mit höchstens 500 Zeichen.",
            Bad::LastVerbundAdmin => {
                "Die letzte Verbund-Administration kann hier nicht entzogen werden."
            }
        }
    }
}

/// Who acts: a signed-in admin, an authority system with admin scopes, or the operator's shell.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The admin's account; none for the shell and for systems.
    pub account: Option<AccountId>,
    /// The calling system, for the admin API.
    pub client: Option<ClientId>,
    /// How the audit names the actor: an address, a client id or `cli`.
    pub label: String,
    pub grants: Grants,
}

impl Actor {
    /// The operator at the shell: a Verbund admin.
    #[must_use]
    pub fn operator() -> Self {
        Self {
            account: None,
            client: None,
            label: "cli".into(),
            grants: Grants(vec![crate::domain::role::Grant {
                role: Role::VerbundAdmin,
                tenant: None,
            }]),
        }
    }

    /// Ok when the actor may do `duty`.
    ///
    /// # Errors
    /// `Forbidden` otherwise.
    pub fn must(&self, duty: Duty) -> Result<(), AdminError> {
        if self.grants.may(duty) {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

/// The administration service: cheap to clone (handles).
#[derive(Clone)]
pub struct Admin {
    db: Db,
    /// The running server's protocol engine, whose client cache forgets a changed client
    /// (none in the CLI, which has no cache).
    provider: Option<crate::oidc::Provider>,
    /// The server's account service (the clerk desk's resend and unlock).
    accounts: Option<crate::account::AccountService>,
    /// The mailbox master keys that seal callback secrets, and whether http callback URLs
    /// are allowed (none: callbacks cannot be set here).
    callbacks: Option<(std::sync::Arc<crate::keyring::mailbox::MasterKeys>, bool)>,
}

impl Admin {
    #[must_use]
    pub fn new(db: Db) -> Self {
        Self {
            db,
            provider: None,
            accounts: None,
            callbacks: None,
        }
    }

    /// The server's administration: client changes apply at once on this instance.
    #[must_use]
    pub fn serving(
        db: Db,
        provider: crate::oidc::Provider,
        accounts: crate::account::AccountService,
    ) -> Self {
        Self {
            db,
            provider: Some(provider),
            accounts: Some(accounts),
            callbacks: None,
        }
    }

    /// Callback targets can be set, their secrets sealed with these master keys.
    #[must_use]
    pub fn with_callbacks(
        mut self,
        keys: std::sync::Arc<crate::keyring::mailbox::MasterKeys>,
        allow_http: bool,
    ) -> Self {
        self.callbacks = Some((keys, allow_http));
        self
    }

    fn tenant_changed(&self) {
        if let Some(p) = &self.provider {
            p.forget_clients();
        }
    }

    fn client_changed(&self, id: &ClientId) {
        if let Some(p) = &self.provider {
            p.forget_client(id.as_str());
        }
    }

    /// What an account was granted.
    ///
    /// # Errors
    /// A backend error.
    pub async fn grants_of(&self, account: AccountId) -> Result<Grants, AdminError> {
        Ok(self.db.roles().of(account).await?)
    }

    /// Records an administrative action in the audit log, with the actor.
    ///
    /// # Errors
    /// A backend error: an action that cannot be audited is reported as failed.
    pub(crate) async fn audit(
        &self,
        actor: &Actor,
        kind: &str,
        tenant: Option<TenantId>,
        account: Option<AccountId>,
        client: Option<&ClientId>,
        mut detail: serde_json::Value,
    ) -> Result<(), AdminError> {
        if let Some(map) = detail.as_object_mut() {
            map.insert("actor".into(), actor.label.clone().into());
            if let Some(c) = &actor.client {
                map.insert("via".into(), c.as_str().into());
            }
        }
        self.db
            .audit()
            .record_by(kind, actor.account, tenant, account, client, detail)
            .await?;
        Ok(())
    }
}
