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

/// The stored short name; anything else is corrupt data, never silently a level.
impl TryFrom<String> for Loa {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        Loa::from_name(&s).ok_or(UnknownName(s))
    }
}

/// A stored name that is not one of the known values.
#[derive(Debug, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

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
    /// Proof of possession of a hardware-secured key: a device-bound passkey (its key cannot
    /// leave the authenticator).
    Hwk,
    /// Proof of possession of a software-secured key: a synced passkey (backup eligible: its
    /// key is copied between devices through a cloud account).
    Swk,
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
            Amr::Swk => "swk",
            Amr::User => "user",
            Amr::Mfa => "mfa",
        }
    }
}

/// The strength of a session's authentication, from the methods it used.
///
/// *High* needs a key that cannot leave its device, verified with PIN or biometrics (`hwk`
/// and `user`): eIDAS 2015/1502 Annex 2.2.1 asks for protection against duplication and
/// attackers with high attack potential, which a passkey synced through a cloud account
/// (`swk`) does not give. Any passkey, or password and one-time code, is *substantial*.
#[must_use]
pub fn strength_of(amr: &[Amr]) -> Loa {
    let has = |m| amr.contains(&m);
    if has(Amr::Hwk) && has(Amr::User) {
        Loa::High
    } else if has(Amr::Hwk) || has(Amr::Swk) || (has(Amr::Pwd) && has(Amr::Otp)) {
        Loa::Substantial
    } else {
        Loa::Low
    }
}

/// The methods a passkey login adds, by the level the passkey gives (see
/// [`strength_of`]): a device-bound one `hwk`, a synced one `swk`, both with `user`.
#[must_use]
pub fn passkey_amr(level: Loa) -> [Amr; 2] {
    if level == Loa::High {
        [Amr::Hwk, Amr::User]
    } else {
        [Amr::Swk, Amr::User]
    }
}

/// The highest level a session reaches by proving one more factor of the account: the
/// authenticator app (`totp`), or its strongest passkey (`passkey`, the level it gives).
#[must_use]
pub fn reachable_by_step_up(proofing: Loa, amr: &[Amr], totp: bool, passkey: Option<Loa>) -> Loa {
    let with = |extra: &[Amr]| {
        let mut all = amr.to_vec();
        all.extend_from_slice(extra);
        effective(proofing, strength_of(&all))
    };
    let by_otp = if totp { with(&[Amr::Otp]) } else { Loa::Low };
    let by_passkey = passkey.map_or(Loa::Low, |p| with(&passkey_amr(p)));
    effective(proofing, strength_of(amr))
        .max(by_otp)
        .max(by_passkey)
}

/// The citizen's way to a level: the identity confirmed at least at that level (at the
/// Bürgerbüro or through BundID), and a factor strong enough for it. Each step done or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathTo {
    pub level: Loa,
    pub identity_done: bool,
    pub factor_done: bool,
}

/// The way from an account's proofing and factors to `target`.
#[must_use]
pub fn path_to(target: Loa, proofing: Loa, totp: bool, passkey: Option<Loa>) -> PathTo {
    let by_factor = reachable_by_step_up(Loa::High, &[Amr::Pwd], totp, passkey);
    PathTo {
        level: target,
        identity_done: proofing >= target,
        factor_done: target == Loa::Low || by_factor >= target,
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
    fn the_path_names_what_is_missing() {
        let p = path_to(Loa::Substantial, Loa::Low, true, None);
        assert!(
            !p.identity_done && p.factor_done,
            "the app alone does not give substanziell"
        );
        let p = path_to(Loa::Substantial, Loa::Substantial, false, None);
        assert!(p.identity_done && !p.factor_done);
        let p = path_to(Loa::High, Loa::High, true, Some(Loa::Substantial));
        assert!(
            p.identity_done && !p.factor_done,
            "high needs a device-bound passkey"
        );
        let p = path_to(Loa::High, Loa::High, false, Some(Loa::High));
        assert!(p.identity_done && p.factor_done);
    }

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
        assert_eq!(strength_of(&[Amr::Swk, Amr::User]), Loa::Substantial);
        assert_eq!(
            strength_of(&[Amr::Pwd, Amr::Swk, Amr::User, Amr::Mfa]),
            Loa::Substantial,
            "a synced passkey never gives high, whatever comes with it"
        );
    }

    #[test]
    fn step_up_reach() {
        let pwd = [Amr::Pwd];
        assert_eq!(
            reachable_by_step_up(Loa::High, &pwd, false, Some(Loa::Substantial)),
            Loa::Substantial
        );
        assert_eq!(
            reachable_by_step_up(Loa::High, &pwd, true, Some(Loa::High)),
            Loa::High
        );
        assert_eq!(
            reachable_by_step_up(Loa::Substantial, &pwd, false, Some(Loa::High)),
            Loa::Substantial,
            "proofing caps it"
        );
        assert_eq!(reachable_by_step_up(Loa::High, &pwd, false, None), Loa::Low);
    }
}
