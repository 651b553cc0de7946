//! eIDAS assurance levels (*Vertrauensniveau*) and authentication method references.
//!
//! The level of a login is the lower of the account's identity proofing and the strength of
//! the session's authentication (design: "Assurance levels"). acr values are the eIDAS URIs;
//! BundID's `STORK-QAA-Level-1..4` are accepted on input and answered with the eIDAS URI.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An eIDAS level of assurance, ordered `Low < Substantial < High`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Loa {
    Low,
    Substantial,
    High,
}

pub const ACR_LOW: &str = "http://eidas.europa.eu/LoA/low";
pub const ACR_SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
pub const ACR_HIGH: &str = "http://eidas.europa.eu/LoA/high";

impl Loa {
    pub const ALL: [Loa; 3] = [Loa::Low, Loa::Substantial, Loa::High];

    /// The eIDAS URI used as `acr` value.
    #[must_use]
    pub fn acr(self) -> &'static str {
        match self {
            Loa::Low => ACR_LOW,
            Loa::Substantial => ACR_SUBSTANTIAL,
            Loa::High => ACR_HIGH,
        }
    }

    /// Parses an `acr` value: an eIDAS URI or a STORK QAA level (1-2 low, 3 substantial, 4 high).
    #[must_use]
    pub fn from_acr(s: &str) -> Option<Self> {
        match s {
            ACR_LOW | "STORK-QAA-Level-1" | "STORK-QAA-Level-2" => Some(Loa::Low),
            ACR_SUBSTANTIAL | "STORK-QAA-Level-3" => Some(Loa::Substantial),
            ACR_HIGH | "STORK-QAA-Level-4" => Some(Loa::High),
            _ => None,
        }
    }

    /// Parses the short names used by the CLI and the database (`low`, `substantial`, `high`).
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Loa::Low),
            "substantial" => Some(Loa::Substantial),
            "high" => Some(Loa::High),
            _ => None,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Loa::Low => "low",
            Loa::Substantial => "substantial",
            Loa::High => "high",
        }
    }
}

impl fmt::Display for Loa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Authentication method references (RFC 8176).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// Password.
    Pwd,
    /// One-time password (TOTP).
    Otp,
    /// Proof of possession of a hardware-secured key (passkey).
    Hwk,
    /// User presence / verification on the authenticator.
    User,
    /// Multiple factors.
    Mfa,
}

impl Amr {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Pwd => "pwd",
            Amr::Otp => "otp",
            Amr::Hwk => "hwk",
            Amr::User => "user",
            Amr::Mfa => "mfa",
        }
    }
}

/// The strength of a session's authentication, from the methods it used.
#[must_use]
pub fn strength_of(amr: &[Amr]) -> Loa {
    let has = |m| amr.contains(&m);
    if has(Amr::Hwk) && has(Amr::User) {
        Loa::High
    } else if has(Amr::Hwk) || (has(Amr::Pwd) && has(Amr::Otp)) {
        Loa::Substantial
    } else {
        Loa::Low
    }
}

/// The level a login reaches: the lower of identity proofing and authentication strength.
#[must_use]
pub fn effective(proofing: Loa, strength: Loa) -> Loa {
    proofing.min(strength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_and_effective_level() {
        assert!(Loa::Low < Loa::Substantial && Loa::Substantial < Loa::High);
        assert_eq!(effective(Loa::High, Loa::Low), Loa::Low);
        assert_eq!(effective(Loa::Low, Loa::High), Loa::Low);
        assert_eq!(effective(Loa::Substantial, Loa::High), Loa::Substantial);
    }

    #[test]
    fn acr_round_trip_and_stork() {
        for l in Loa::ALL {
            assert_eq!(Loa::from_acr(l.acr()), Some(l));
            assert_eq!(Loa::from_name(l.name()), Some(l));
        }
        assert_eq!(Loa::from_acr("STORK-QAA-Level-2"), Some(Loa::Low));
        assert_eq!(Loa::from_acr("STORK-QAA-Level-3"), Some(Loa::Substantial));
        assert_eq!(Loa::from_acr("STORK-QAA-Level-4"), Some(Loa::High));
        assert_eq!(Loa::from_acr("urn:unknown"), None);
    }

    #[test]
    fn strength() {
        assert_eq!(strength_of(&[Amr::Pwd]), Loa::Low);
        assert_eq!(
            strength_of(&[Amr::Pwd, Amr::Otp, Amr::Mfa]),
            Loa::Substantial
        );
        assert_eq!(strength_of(&[Amr::Hwk]), Loa::Substantial);
        assert_eq!(strength_of(&[Amr::Hwk, Amr::User]), Loa::High);
    }
}
