//! The evidence log of a mailbox message: events hash-chained per message, so that changing,
//! removing or reordering an event breaks the chain. Pure functions; the store appends, the
//! mailbox verifies and the keyring signs the chain as a receipt.

use serde::{Deserialize, Serialize};

/// What happened to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The authority system handed the message over and it was stored.
    Sent,
    /// It is in the citizen's mailbox.
    Delivered,
    /// The citizen was told by e-mail that mail arrived.
    Notified,
    /// The citizen opened it (recorded once).
    Opened,
    /// The citizen answered.
    Replied,
    /// Its `expires_at` passed.
    Expired,
    /// The citizen deleted it (into the bin).
    Deleted,
    /// The citizen took it back out of the bin before its content was purged.
    Restored,
    /// Its content was purged after the retention period (the evidence stays).
    Purged,
    /// The citizen wrote it to an authority (a message the citizen started, on a topic).
    Submitted,
}

impl EventKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Notified => "notified",
            Self::Opened => "opened",
            Self::Replied => "replied",
            Self::Expired => "expired",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Purged => "purged",
            Self::Submitted => "submitted",
        }
    }
}

impl EventKind {
    /// The event's URI: the `type` of its callback, the key of its Security Event Token.
    #[must_use]
    pub fn uri(self) -> String {
        format!("{EVENT_URI_PREFIX}{}", self.as_str())
    }

    /// The kind by its stored name.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        [
            Self::Sent,
            Self::Delivered,
            Self::Notified,
            Self::Opened,
            Self::Replied,
            Self::Expired,
            Self::Deleted,
            Self::Restored,
            Self::Purged,
            Self::Submitted,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// Whether the sending system hears about it by callback (it did the others itself, or
    /// they change nothing it acts on).
    #[must_use]
    pub fn is_called_back(self) -> bool {
        matches!(
            self,
            Self::Notified
                | Self::Opened
                | Self::Replied
                | Self::Expired
                | Self::Deleted
                | Self::Submitted
        )
    }

    /// Its name in § 9 OZG's terms, where it has one: made available, notified, first
    /// retrieval.
    #[must_use]
    pub fn legal_name(self) -> Option<&'static str> {
        match self {
            Self::Delivered => Some("bereitgestellt"),
            Self::Notified => Some("benachrichtigt"),
            Self::Opened => Some("erster Abruf"),
            _ => None,
        }
    }
}

/// The body of the event's callback: the `type` URI, the event id to de-duplicate by, and
/// the ids to fetch (the message; the reply for `replied`).
#[must_use]
pub fn callback_body(
    kind: EventKind,
    event_id: uuid::Uuid,
    message_id: uuid::Uuid,
    seq: i32,
    at: &str,
    reply_id: Option<&serde_json::Value>,
) -> String {
    let mut b = serde_json::json!({
        "type": kind.uri(),
        "event_id": event_id,
        "message_id": message_id,
        "seq": seq,
        "occurred_at": at,
    });
    if let Some(r) = reply_id {
        b["reply_id"] = r.clone();
    }
    b.to_string()
}

/// What every event URI starts with.
pub const EVENT_URI_PREFIX: &str = "urn:buergerkonto:mailbox:event:";

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i32,
    pub kind: String,
    /// RFC 3339 time, stored as text so that the hashed form never changes.
    pub at: String,
    /// JSON object with details (may be `{}`).
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 (hex) over the previous hash and the event's fields, separated by newlines.
#[must_use]
pub fn event_hash(
    prev: &str,
    message_id: &str,
    seq: i32,
    kind: &str,
    at: &str,
    detail: &str,
) -> String {
    let input = format!("{prev}\n{message_id}\n{seq}\n{kind}\n{at}\n{detail}");
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, input.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a message's chain: numbered from 1 without gaps, each linked to the one before and
/// each hash matching its content. Returns the first broken sequence number.
///
/// # Errors
/// The `seq` of the first event that does not verify.
pub fn verify_chain(message_id: &str, events: &[Event]) -> Result<(), i32> {
    let mut prev = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        let expected_seq = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if e.seq != expected_seq
            || e.prev_hash != prev
            || e.hash != event_hash(&prev, message_id, e.seq, &e.kind, &e.at, &e.detail)
        {
            return Err(expected_seq);
        }
        prev.clone_from(&e.hash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i32) -> Vec<Event> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let at = format!("2026-11-23T00:00:0{seq}Z");
                let hash = event_hash(&prev, "m", seq, "sent", &at, "{}");
                let e = Event {
                    seq,
                    kind: "sent".into(),
                    at,
                    detail: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn a_changed_removed_or_reordered_event_breaks_the_chain() {
        let good = chain(3);
        assert_eq!(verify_chain("m", &good), Ok(()));
        assert_eq!(verify_chain("other", &good), Err(1), "bound to the message");
        let mut changed = good.clone();
        changed[1].kind = "opened".into();
        assert_eq!(verify_chain("m", &changed), Err(2));
        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(verify_chain("m", &removed), Err(2));
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_chain("m", &swapped), Err(2));
    }
}
