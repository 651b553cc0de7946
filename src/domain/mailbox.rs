//! A mailbox message's life: the states the sender sees in its status and receipt. The
//! hash-chained evidence of each change is in [`crate::domain::evidence`].

use crate::domain::level::UnknownName;
use serde::Serialize;
use std::fmt;

/// Where a message stands. `Delivered → Notified → Opened → Replied` in that order (a later
/// step never goes back); `Deleted` by the citizen and `Expired` by its sender's date end it.
/// A deleted message lies in the citizen's bin until its content is purged; taken back out,
/// it returns to the state its dates give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageState {
    Delivered,
    Notified,
    Opened,
    Replied,
    Deleted,
    Expired,
}

impl MessageState {
    pub const ALL: [MessageState; 6] = [
        MessageState::Delivered,
        MessageState::Notified,
        MessageState::Opened,
        MessageState::Replied,
        MessageState::Deleted,
        MessageState::Expired,
    ];

    /// The stored name (also the wire name).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MessageState::Delivered => "delivered",
            MessageState::Notified => "notified",
            MessageState::Opened => "opened",
            MessageState::Replied => "replied",
            MessageState::Deleted => "deleted",
            MessageState::Expired => "expired",
        }
    }

    /// Whether the message has ended (deleted or expired): nobody acts on it any more.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, MessageState::Deleted | MessageState::Expired)
    }
}

impl TryFrom<String> for MessageState {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or(UnknownName(s))
    }
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for s in MessageState::ALL {
            assert_eq!(MessageState::try_from(s.name().to_owned()).ok(), Some(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.name().into()));
        }
        assert!(MessageState::try_from("purged".to_owned()).is_err());
        assert!(MessageState::try_from("Opened".to_owned()).is_err());
    }
}
