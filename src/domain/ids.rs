//! Identifiers. Accounts, tenants and audit events use UUID v7 (time-ordered, good index
//! locality); client ids are random strings because portals paste them into configuration.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(AccountId);
uuid_id!(TenantId);

impl TenantId {
    /// The tenant's pairwise sector (OIDC Core §8.1): the subjects all its pairwise portals
    /// share, and the name under which its authority systems address a citizen.
    #[must_use]
    pub fn sector(self) -> String {
        format!("tenant:{self}")
    }
}

/// The `client_id` of a relying party or authority system.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub String);

impl ClientId {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant's short name (`landkreis-musterland`, `gemeinde-a`): lowercase ASCII letters,
/// digits and hyphens, 2 to 63 characters, no leading or trailing hyphen.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// # Errors
    /// When the slug has characters outside `[a-z0-9-]` or a bad length.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(2..=63).contains(&s.len()) || !ok_chars || s.starts_with('-') || s.ends_with('-') {
            return Err(
                "a slug is 2 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
            );
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(TenantSlug::parse("gemeinde-a").is_ok());
        assert!(TenantSlug::parse("a").is_err());
        assert!(TenantSlug::parse("-a").is_err());
        assert!(TenantSlug::parse("Gemeinde").is_err());
        assert!(TenantSlug::parse("g\u{e4}rten").is_err());
    }
}
