//! The mailbox (*Postfach*): authority systems send messages to citizens, citizens read and
//! answer them, authority systems fetch status, signed receipts and replies. Content is sealed
//! with a fresh AES-256-GCM data key per message (and per reply), wrapped by the master key
//! (`keyring::mailbox`); the store only ever holds ciphertext. Every change appends to the
//! message's hash-chained evidence log. A background task sends batched notification mails,
//! expires messages and purges content after the retention period.
//!
//! # Rooms
//! - [`limits`]: every rule on what a message or reply may carry (both doors call it).
//! - `seal`: data keys, their bindings, sealing and opening, master-key rotation.
//! - `sender`: the authority system's side (send, status, receipt, replies).
//! - `recipient`: the citizen's side, behind one gate (`admit`) for every act.
//! - [`view`]: what goes in and out.
//! - [`worker`]: the background round.

pub mod callback;
mod commit;
pub mod incoming;
pub mod limits;
mod recipient;
pub mod scan;
mod seal;
mod sender;
pub use sender::BulkItem;
pub mod view;
pub mod worker;

pub use recipient::{Act, Presence, Reader};
pub use view::{
    Announcement, AttachmentInfo, EventOut, FetchedReply, File, Opened, Outgoing, ReplyView,
    Status, Summary,
};

use crate::clock::Clock;
use crate::domain::level::Loa;
use crate::keyring::Keyring;
use crate::keyring::mailbox::MasterKeys;
use crate::mail::Mailer;
use crate::store::{Db, StoreError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The recipient is not known to the sender's tenant (or not at all: the same answer).
    #[error("recipient_sub is not known to your tenant")]
    UnknownRecipient,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the Idempotency-Key was used before with a different request")]
    IdempotencyMismatch,
    /// The citizen wrote as many messages as a day allows.
    #[error("too many messages written in the last 24 hours")]
    Throttled,
    #[error("not found")]
    NotFound,
    /// Reading needs a higher level than the session has.
    #[error("this message needs the assurance level {0}")]
    NeedsLevel(Loa),
    /// A portal acts with a token from a login older than this many seconds: the citizen
    /// must authenticate again (RFC 9470 `max_age`).
    #[error("this needs a login within the last {0} seconds")]
    NeedsFreshLogin(u64),
    #[error("replies are not allowed for this message")]
    ReplyNotAllowed,
    /// An addition to the citizen's own thread on a topic that was disabled since (or whose
    /// system no longer receives).
    #[error("the topic no longer takes messages")]
    TopicClosed,
    #[error("the message content cannot be decrypted")]
    Undecryptable,
    /// An attachment carries malware (the scanner's signature name).
    #[error("the attachment {file:?} contains malware ({signature}) and was not accepted")]
    Infected { file: String, signature: String },
    #[error(transparent)]
    ScannerUnavailable(#[from] scan::ScanUnavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the receipt could not be signed")]
    Sign(#[source] crate::keyring::TokenError),
    #[error("the master key could not be added")]
    Keys(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the notification mail could not be sent")]
    Mail(#[source] crate::mail::MailError),
}

/// Mailbox settings from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Wait this long after a message before mailing, so a burst becomes one mail.
    pub notify_delay: Duration,
    /// Keep deleted and expired messages' content this long before purging it.
    pub retention: Duration,
    /// A portal shows content above *low*, and records evidence (opened, replied, deleted),
    /// only with a citizen's token from a login at most this old: a refreshed token keeps
    /// its `acr` for weeks, long after the citizen left.
    pub portal_max_age: Duration,
    /// The virus scanner every attachment passes, in both directions.
    pub scanner: scan::Scanner,
    /// How callbacks to authority systems are delivered.
    pub callbacks: callback::Settings,
    /// When a message counts as announced (§ 9 Abs. 1 OZG or a Land's rule).
    pub announcement: crate::domain::announcement::Rule,
}

/// The mailbox; cheap to clone.
#[derive(Clone)]
pub struct MailboxService(Arc<Inner>);

pub struct Inner {
    db: Db,
    keys: Arc<MasterKeys>,
    keyring: Arc<Keyring>,
    mailer: Mailer,
    issuer: String,
    settings: Settings,
    /// Where expiry, purging and a portal's freshness are decided.
    clock: Clock,
    /// The group commit for sends (started with the first send, inside the runtime).
    committer: std::sync::OnceLock<commit::Committer>,
}

impl std::ops::Deref for MailboxService {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl MailboxService {
    /// The group commit for sends.
    fn committer(&self) -> &commit::Committer {
        self.committer.get_or_init(|| {
            let workers = if matches!(self.db, crate::store::Db::Pg(_)) {
                2
            } else {
                1
            };
            commit::Committer::start(self.db.clone(), Arc::clone(&self.keys), workers)
        })
    }

    /// The message's announcement under the configured rule; `retrieved` is its first
    /// retrieval (the citizen's view passes the retrieval under way). A message the citizen
    /// wrote is not an authority's act placed in their mailbox: it has none.
    pub(crate) fn announcement(
        &self,
        m: &crate::store::mailbox::MessageRow,
        retrieved: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Option<view::Announcement> {
        if m.origin == "citizen" {
            return None;
        }
        let rule = &self.settings.announcement;
        Some(view::Announcement {
            rule: rule.name,
            citation: rule.citation,
            basis: rule.basis,
            provided_at: m.created_at,
            notified_at: m.notified_at,
            first_retrieved_at: retrieved,
            announced_on: rule.announced_on(m.created_at, m.notified_at, retrieved),
        })
    }

    /// The master keys (the administration seals callback secrets with them).
    #[must_use]
    pub fn master_keys(&self) -> Arc<MasterKeys> {
        Arc::clone(&self.keys)
    }

    #[must_use]
    pub fn new(
        db: Db,
        keys: Arc<MasterKeys>,
        keyring: Arc<Keyring>,
        mailer: Mailer,
        issuer: String,
        settings: Settings,
        clock: Clock,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            keys,
            keyring,
            mailer,
            issuer,
            settings,
            clock,
            committer: std::sync::OnceLock::new(),
        }))
    }
}
