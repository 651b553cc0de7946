//! Citizen accounts: central for all tenants of a Verbund.

use super::ids::AccountId;
use super::level::Loa;
use chrono::{DateTime, Utc};
use std::fmt;

/// A syntactically plausible e-mail address, stored lowercased so that uniqueness is
/// case-insensitive. Deliverability is proven by the verification mail, not by parsing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// # Errors
    /// When the input is not of the form `local@domain.tld` or is longer than 254 characters.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.is_empty() || s.len() > 254 {
            return Err("invalid e-mail address");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("invalid e-mail address");
        };
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c);
        if local.is_empty()
            || local.len() > 64
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || local.contains('@')
            || s.chars().any(bad_char)
        {
            return Err("invalid e-mail address");
        }
        Ok(Self(s.to_lowercase()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Password policy (NIST SP 800-63B): at least 8 characters, at most 1024 bytes (bounded
/// hashing cost), no composition rules.
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// Why a new password is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
}

/// # Errors
/// When the password is shorter than 8 characters or longer than 1024 bytes.
pub fn check_new_password(pw: &str) -> Result<(), PasswordProblem> {
    if pw.chars().count() < PASSWORD_MIN_CHARS {
        Err(PasswordProblem::TooShort)
    } else if pw.len() > PASSWORD_MAX_BYTES {
        Err(PasswordProblem::TooLong)
    } else {
        Ok(())
    }
}

/// A stored account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: AccountId,
    pub email: EmailAddress,
    pub email_verified: bool,
    /// How well the holder's identity has been established.
    pub proofing: Loa,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            EmailAddress::parse(" Anna.Muster@Example.DE ")
                .expect("valid")
                .as_str(),
            "anna.muster@example.de"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@example.de",
            "a@.de",
            "a b@example.de",
            "a@example.de.",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(
            check_new_password("1234567"),
            Err(PasswordProblem::TooShort)
        );
        assert_eq!(check_new_password("12345678"), Ok(()));
        assert_eq!(check_new_password("äöüäöüäö"), Ok(()));
        assert_eq!(
            check_new_password(&"x".repeat(2000)),
            Err(PasswordProblem::TooLong)
        );
    }
}
