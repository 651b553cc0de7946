//! OAuth scopes (RFC 6749 §3.3): a space-delimited set of tokens of `%x21 / %x23-5B / %x5D-7E`.

use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens; ordered so that stored and displayed forms are stable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// # Errors
    /// When a token has a character outside the RFC 6749 scope-token grammar.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let mut set = BTreeSet::new();
        for tok in s.split(' ').filter(|t| !t.is_empty()) {
            let valid = tok
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid || tok.len() > 128 {
                return Err("scope contains an invalid token");
            }
            set.insert(tok.to_owned());
        }
        if set.len() > 32 {
            return Err("too many scopes");
        }
        Ok(Self(set))
    }

    #[must_use]
    pub fn contains(&self, s: &str) -> bool {
        self.0.contains(s)
    }

    #[must_use]
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Tokens of `self` that are not in `allowed`.
    #[must_use]
    pub fn difference(&self, allowed: &Scopes) -> Vec<String> {
        self.0.difference(&allowed.0).cloned().collect()
    }

    #[must_use]
    pub fn to_vec(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> Self {
        Self(it.into_iter().map(Into::into).collect())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<&str> = self.iter().collect();
        f.write_str(&v.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_scopes() {
        let s = Scopes::parse("openid  email openid").expect("valid");
        assert_eq!(s.to_string(), "email openid");
        assert!(Scopes::parse("open\"id").is_err());
        assert!(Scopes::parse("a\u{e4}").is_err());
        assert!(Scopes::parse("").expect("empty is valid").is_empty());
    }
}
