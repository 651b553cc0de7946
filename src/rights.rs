//! The citizen's data rights. Access and portability (DSGVO Art. 15 and 20): everything we
//! hold about an account, in one machine-readable document that the account page also shows.
//! Erasure (Art. 17) and the inactivity rule are in [`erasure`].
//! This room sits above the services whose data it gathers (accounts, sessions, the protocol
//! engine's consents, the mailbox) and reaches none of their storage itself.

use crate::account::{AccountError, AccountService};
use crate::authn::Sessions;
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use crate::mailbox::{MailboxError, MailboxService, Reader, Summary};
use crate::oidc::Provider;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub mod erasure;
pub use erasure::ErasureRules;

/// The export format's name and version (a new field does not change it; a changed one does).
pub const FORMAT: &str = "buergerkonto-export/1";

/// Most messages listed (metadata only); a mailbox beyond that is cut and says so.
const MAX_MESSAGES: usize = 10_000;
/// Most messages whose content goes into one download.
pub const MAX_CONTENTS: usize = 500;
/// Most messages and log entries the page shows.
pub const PAGE_MESSAGES: usize = 100;
pub const PAGE_AUDIT: i64 = 50;
/// Most audit entries.
const MAX_AUDIT: i64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error("the short-lived store failed")]
    Ephemeral(#[from] crate::ephemeral::EphemeralError),
    #[error("the database failed")]
    Store(#[from] crate::store::StoreError),
    #[error("the mailbox failed")]
    Mailbox(#[from] MailboxError),
}

/// Everything about one account.
#[derive(Debug, Serialize)]
pub struct Export {
    pub format: &'static str,
    pub exported_at: DateTime<Utc>,
    pub account: AccountPart,
    /// Data an authority or an upstream identity provider confirmed, with who and when.
    pub verified_data: Vec<VerifiedPart>,
    pub linked_identities: Vec<LinkPart>,
    /// Which ways of signing in exist (never a secret, a key or a hash).
    pub sign_in_methods: MethodsPart,
    pub sessions: Vec<SessionPart>,
    /// Portals the citizen allowed to receive data, and what.
    pub consents: Vec<ConsentPart>,
    /// Messages in the mailbox (metadata; a subject only where the session's level reaches the
    /// message's).
    pub mailbox: Vec<Summary>,
    pub mailbox_complete: bool,
    /// The messages themselves (asked for separately): body, process, attachments (names and
    /// sizes; the files download from the mailbox) and replies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_contents: Option<ContentsPart>,
    /// What happened to the account, newest first.
    pub audit: Vec<AuditPart>,
}

#[derive(Debug, Serialize)]
pub struct ContentsPart {
    pub messages: Vec<crate::mailbox::Opened>,
    /// Messages whose level the session does not reach (their content stays out).
    pub withheld_above_level: usize,
    /// Messages whose content could not be decrypted (their key is gone).
    pub unreadable: usize,
    /// False when there were more than [`MAX_CONTENTS`] messages.
    pub complete: bool,
}

#[derive(Debug, Serialize)]
pub struct AccountPart {
    pub id: AccountId,
    pub email: String,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub language: crate::domain::lang::Lang,
    /// How well the identity is confirmed.
    pub identity_level: Loa,
}

#[derive(Debug, Serialize)]
pub struct VerifiedPart {
    pub claim: String,
    pub value: serde_json::Value,
    pub level: String,
    pub confirmed_by: String,
    pub confirmed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct LinkPart {
    pub provider: String,
    pub level: String,
    pub linked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct MethodsPart {
    pub password: bool,
    pub authenticator_app: bool,
    pub passkeys: Vec<PasskeyPart>,
}

#[derive(Debug, Serialize)]
pub struct PasskeyPart {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub level: Loa,
    pub synced: bool,
}

#[derive(Debug, Serialize)]
pub struct SessionPart {
    pub started_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub browser: String,
    pub level: Loa,
    pub portals: Vec<String>,
    /// A login whose password was right and whose second factor has not come (yet).
    pub awaiting_second_factor: bool,
}

#[derive(Debug, Serialize)]
pub struct ConsentPart {
    pub portal: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct AuditPart {
    pub at: DateTime<Utc>,
    pub event: String,
    pub portal: Option<String>,
    pub detail: serde_json::Value,
}

/// The data-rights service; cheap to clone.
#[derive(Clone)]
pub struct DataRights {
    accounts: AccountService,
    sessions: Sessions,
    provider: Provider,
    mailbox: MailboxService,
    rules: ErasureRules,
    clock: crate::clock::Clock,
}

impl DataRights {
    #[must_use]
    pub fn new(
        accounts: AccountService,
        sessions: Sessions,
        provider: Provider,
        mailbox: MailboxService,
        rules: ErasureRules,
        clock: crate::clock::Clock,
    ) -> Self {
        Self {
            accounts,
            sessions,
            provider,
            mailbox,
            rules,
            clock,
        }
    }

    /// Everything about `account`, for a session at `level` (which decides which message
    /// subjects are shown, as in the mailbox itself).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn export(&self, account: AccountId, level: Loa) -> Result<Export, RightsError> {
        self.export_with(account, level, false).await
    }

    /// What the "Meine Daten" page shows: the same, with at most the newest
    /// [`PAGE_MESSAGES`] messages and [`PAGE_AUDIT`] log entries (the download has all), so
    /// that showing the page stays cheap.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn overview(&self, account: AccountId, level: Loa) -> Result<Export, RightsError> {
        self.gather(account, level, false, (PAGE_MESSAGES, PAGE_AUDIT))
            .await
    }

    /// Whether a download may start now (at most one per
    /// [`crate::account::EXPORT_INTERVAL`]); claims it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim_download(&self, account: AccountId) -> Result<bool, RightsError> {
        Ok(self.accounts.claim_export(account).await?)
    }

    /// Like [`DataRights::export`], with the messages themselves when `contents` is set.
    /// Taking a message's content out is reading it: an unopened message counts as opened
    /// (the sender's evidence says `opened` via `export`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn export_with(
        &self,
        account: AccountId,
        level: Loa,
        contents: bool,
    ) -> Result<Export, RightsError> {
        self.gather(account, level, contents, (MAX_MESSAGES, MAX_AUDIT))
            .await
    }

    /// Gathers the export with at most `bounds` (messages, log entries).
    async fn gather(
        &self,
        account: AccountId,
        level: Loa,
        contents: bool,
        bounds: (usize, i64),
    ) -> Result<Export, RightsError> {
        let a = self.accounts.get(account).await?;
        let language = self.accounts.lang(account).await?;
        let identity = self.accounts.identity(account).await?;
        let factors = self.accounts.factors(account).await?;
        let passkeys = self.accounts.passkeys(account).await?;
        let mut sessions = Vec::new();
        for (_, s) in self.sessions.list(account).await? {
            // Portals by name, as the account page shows them.
            let mut portals = Vec::new();
            for c in &s.clients {
                if let Ok(client) = self.provider.client(c).await {
                    portals.push(client.name.clone());
                }
            }
            sessions.push((s, portals));
        }
        let consents = self.provider.consents_of(account).await?;
        let audit = self.accounts.audit_of(account, bounds.1).await?;
        let (mailbox, mailbox_complete) = self.messages(account, level, bounds.0).await?;
        let message_contents = if contents {
            Some(
                self.contents(account, level, &mailbox, mailbox_complete)
                    .await?,
            )
        } else {
            None
        };
        let time = |secs: i64| DateTime::from_timestamp(secs, 0).filter(|_| secs > 0);
        Ok(Export {
            format: FORMAT,
            exported_at: Utc::now(),
            account: AccountPart {
                id: a.id,
                email: a.email.as_str().to_owned(),
                email_verified: a.email_verified,
                created_at: a.created_at,
                language,
                identity_level: a.proofing,
            },
            verified_data: identity
                .claims
                .into_iter()
                .map(|c| VerifiedPart {
                    value: serde_json::from_str(&c.value)
                        .unwrap_or(serde_json::Value::String(c.value)),
                    claim: c.claim,
                    level: c.level,
                    confirmed_by: c.source,
                    confirmed_at: c.verified_at,
                })
                .collect(),
            linked_identities: identity
                .links
                .into_iter()
                .map(|l| LinkPart {
                    provider: l.upstream,
                    level: l.level,
                    linked_at: l.linked_at,
                })
                .collect(),
            sign_in_methods: MethodsPart {
                password: true,
                authenticator_app: factors.totp,
                passkeys: passkeys
                    .into_iter()
                    .map(|p| PasskeyPart {
                        name: p.name,
                        created_at: p.created_at,
                        last_used_at: p.last_used_at,
                        level: p.level,
                        synced: p.synced,
                    })
                    .collect(),
            },
            sessions: sessions
                .into_iter()
                .map(|(s, portals)| SessionPart {
                    started_at: time(s.created_at),
                    last_login_at: time(s.auth_time),
                    browser: crate::domain::civil::browser_name(&s.user_agent).unwrap_or_default(),
                    level: s.acr,
                    portals,
                    awaiting_second_factor: s.second_factor_due,
                })
                .collect(),
            consents: consents
                .into_iter()
                .map(|c| ConsentPart {
                    portal: c.client_name,
                    client_id: c.client_id,
                    scopes: c.scopes.iter().map(str::to_owned).collect(),
                    granted_at: c.granted_at,
                })
                .collect(),
            mailbox,
            mailbox_complete,
            message_contents,
            audit: audit
                .into_iter()
                .map(|e| AuditPart {
                    at: e.at,
                    event: e.kind,
                    portal: e.client_id,
                    detail: e.detail.0,
                })
                .collect(),
        })
    }

    /// The content of the listed messages that the session's level reaches (at most
    /// [`MAX_CONTENTS`]).
    async fn contents(
        &self,
        account: AccountId,
        level: Loa,
        listed: &[Summary],
        complete: bool,
    ) -> Result<ContentsPart, RightsError> {
        let reader = Reader::session(account, level);
        let mut part = ContentsPart {
            messages: Vec::new(),
            withheld_above_level: 0,
            unreadable: 0,
            complete: complete && listed.len() <= MAX_CONTENTS,
        };
        for s in listed.iter().take(MAX_CONTENTS) {
            match self.mailbox.read(&reader, s.id).await {
                Ok(m) => part.messages.push(m),
                Err(MailboxError::NeedsLevel(_) | MailboxError::NeedsFreshLogin(_)) => {
                    part.withheld_above_level += 1;
                }
                // Its key is gone or it does not decrypt: said, not a failed export.
                Err(MailboxError::Undecryptable) => part.unreadable += 1,
                // Expired or deleted since it was listed.
                Err(MailboxError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Only what is handed over counts as opened, and only once it is all gathered.
        let ids: Vec<_> = part.messages.iter().map(|m| m.summary.id).collect();
        self.mailbox.mark_opened(&ids, "export").await?;
        Ok(part)
    }

    /// Every message of the account, inbox and archive, as the mailbox lists them.
    async fn messages(
        &self,
        account: AccountId,
        level: Loa,
        max: usize,
    ) -> Result<(Vec<Summary>, bool), RightsError> {
        let reader = Reader::session(account, level);
        let mut all = Vec::new();
        for archived in [false, true] {
            let mut page = 0;
            loop {
                let (items, more) = self.mailbox.inbox(&reader, archived, page, 100).await?;
                all.extend(items);
                if all.len() > max {
                    all.truncate(max);
                    return Ok((all, false));
                }
                if !more {
                    break;
                }
                page += 1;
            }
        }
        Ok((all, true))
    }
}
