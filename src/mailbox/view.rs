//! What the mailbox hands out and takes in: messages as the sender hands them over, as the
//! recipient lists and opens them, and as the sender sees their state, evidence and replies.

use crate::domain::evidence::Event;
use crate::domain::level::Loa;
use crate::domain::mailbox::MessageState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A file as received or shown.
#[derive(Clone, Debug)]
pub struct File {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// A message as the authority system hands it over (already parsed from JSON).
#[derive(Debug)]
pub struct Outgoing {
    pub recipient_sub: String,
    pub subject: String,
    pub body: String,
    pub reference: Option<String>,
    pub process: Option<String>,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub attachments: Vec<File>,
}

/// A message's place in a listing.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub id: Uuid,
    pub sender: String,
    /// `None` when the message needs a higher level than the reader has.
    pub subject: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub unread: bool,
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub archived: bool,
    /// `authority` (to the citizen) or `citizen` (the citizen wrote it to `sender`).
    pub origin: String,
    /// The topic of a message the citizen wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// Attachment metadata (content on request).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

/// A reply as the citizen wrote it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyView {
    pub id: Uuid,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<AttachmentInfo>,
}

/// A message opened by its recipient.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Opened {
    #[serde(flatten)]
    pub summary: Summary,
    /// None for a message the citizen wrote.
    pub announcement: Option<Announcement>,
    pub body: String,
    pub process: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub attachments: Vec<AttachmentInfo>,
    pub replies: Vec<ReplyView>,
}

/// The sender's view: state and evidence.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    pub id: Uuid,
    #[schema(value_type = String)]
    pub state: MessageState,
    pub recipient_sub: String,
    pub reference: Option<String>,
    pub process: Option<String>,
    #[schema(value_type = String)]
    pub required_level: Loa,
    pub reply_allowed: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub events: Vec<EventOut>,
    /// Whether the hash chain verifies; `false` means the log was tampered with.
    pub evidence_intact: bool,
    /// When the message counts as announced, and the facts the rule counts from (none for
    /// a message the citizen wrote).
    pub announcement: Option<Announcement>,
}

/// The announcement (*Bekanntgabe*) of a message placed in the mailbox, under the configured
/// rule: when it was made available (*bereitgestellt*), the recipient notified
/// (*benachrichtigt*) and it first retrieved (*erster Abruf*), and the day it counts as
/// announced (none while the rule's starting event has not happened).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Announcement {
    /// `ozg`, `baydig` or `vwvfg`.
    pub rule: &'static str,
    /// The law, e.g. "§ 9 Abs. 1 OZG".
    pub citation: &'static str,
    /// What the rule counts from: `provided`, `notified` or `retrieved`.
    #[schema(value_type = String)]
    pub basis: crate::domain::announcement::Basis,
    pub provided_at: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
    pub first_retrieved_at: Option<DateTime<Utc>>,
    /// The day (German civil date) it counts as announced.
    #[schema(value_type = Option<String>, format = Date)]
    pub announced_on: Option<chrono::NaiveDate>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventOut {
    pub seq: i32,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    /// The event in § 9 OZG's terms, where it has one: `bereitgestellt`, `benachrichtigt`,
    /// `erster Abruf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<&'static str>,
}

impl From<Event> for EventOut {
    fn from(e: Event) -> Self {
        Self {
            term: crate::domain::evidence::EventKind::named(&e.kind)
                .and_then(crate::domain::evidence::EventKind::legal_name),
            seq: e.seq,
            detail: serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null),
            kind: e.kind,
            at: e.at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A reply as the authority system fetches it (the API puts the files on the wire).
#[derive(Clone, Debug)]
pub struct FetchedReply {
    pub cursor: String,
    pub id: Uuid,
    pub message_id: Uuid,
    pub reference: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<File>,
}
