//! Strict parsing of `application/x-www-form-urlencoded` parameters: every form, every query
//! string and the OAuth endpoints.
//!
//! RFC 6749 §3.1: parameters MUST NOT be included more than once, and parameters sent
//! without a value MUST be treated as if they were omitted. Percent-encoded bytes must form
//! UTF-8; anything else is a client error, never a replacement character. Control
//! characters are refused here ([`crate::domain::text`]).

use percent_encoding::percent_decode;
use std::collections::HashMap;

/// Why a parameter string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamError {
    NotUtf8,
    /// A control character other than tab, line feed and carriage return.
    ControlCharacter(String),
    Repeated(String),
    TooMany,
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::NotUtf8 => f.write_str("parameters are not valid UTF-8"),
            ParamError::ControlCharacter(n) => {
                write!(f, "parameter '{n}' contains a control character")
            }
            ParamError::Repeated(n) => write!(f, "parameter '{n}' is repeated"),
            ParamError::TooMany => f.write_str("too many parameters"),
        }
    }
}

/// Parsed parameters; empty values are dropped.
#[derive(Clone, Debug, Default)]
pub struct Params(HashMap<String, String>);

fn decode(s: &[u8]) -> Result<String, ParamError> {
    let plus: Vec<u8> = s
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ParamError::NotUtf8)
}

impl Params {
    /// # Errors
    /// On non-UTF-8 input, a repeated parameter, or more than 100 parameters.
    pub fn parse(input: &[u8]) -> Result<Self, ParamError> {
        let mut map = HashMap::new();
        for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            if map.len() >= 100 {
                return Err(ParamError::TooMany);
            }
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let k = decode(k)?;
            let v = decode(v)?;
            // The edge for every form and query: no control characters reach the store.
            if crate::domain::text::has_forbidden_controls(&k)
                || crate::domain::text::has_forbidden_controls(&v)
            {
                let name: String = k.chars().filter(|c| !c.is_control()).take(64).collect();
                return Err(ParamError::ControlCharacter(name));
            }
            if map.contains_key(&k) {
                return Err(ParamError::Repeated(k));
            }
            // Keep empty values to detect repetition; `get` treats them as absent.
            map.insert(k, v);
        }
        Ok(Self(map))
    }

    /// The value of `name`, or `None` when absent or empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_params() {
        let p = Params::parse(b"a=1&b=x+y%21&c=").expect("valid");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y!"));
        assert_eq!(p.get("c"), None);
        assert_eq!(
            Params::parse(b"a=1&a=2").err(),
            Some(ParamError::Repeated("a".into()))
        );
        assert_eq!(Params::parse(b"a=%ff").err(), Some(ParamError::NotUtf8));
        assert_eq!(
            Params::parse(b"client_id=ab%00c").err(),
            Some(ParamError::ControlCharacter("client_id".into()))
        );
        assert!(Params::parse(b"a%00=1").is_err());
        assert_eq!(
            Params::parse(b"text=a%0D%0Ab%09")
                .expect("newlines")
                .get("text"),
            Some("a\r\nb\t")
        );
        assert_eq!(
            Params::parse(b"a=%C3%A4").expect("utf8").get("a"),
            Some("\u{e4}")
        );
    }
}
