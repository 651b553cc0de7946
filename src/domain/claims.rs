//! Verified personal data: the standard OIDC claim names we store and release, and what a
//! value must look like. The same check for a clerk's input (CLI and API) and for what an
//! upstream provider asserts.

use serde_json::Value;

/// The claims kept as verified data.
pub const VERIFIED_CLAIMS: [&str; 4] = ["given_name", "family_name", "birthdate", "address"];

/// Longest name.
const NAME_CHARS: usize = 256;
/// Largest address object (serialised).
const ADDRESS_BYTES: usize = 2048;

/// The JSON to store for a verified claim, or why the value is not acceptable: names are
/// 1-256 characters without control characters, `birthdate` is `YYYY-MM-DD` (OIDC Core
/// §5.1), `address` is an object (§5.1.1).
///
/// # Errors
/// A sentence naming the claim and the rule.
pub fn verified_claim(name: &str, value: &Value) -> Result<String, String> {
    match (name, value) {
        ("given_name" | "family_name", Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.chars().count() > NAME_CHARS || s.chars().any(char::is_control) {
                return Err(format!("{name} must be 1-{NAME_CHARS} characters"));
            }
            Ok(Value::String(s.to_owned()).to_string())
        }
        ("birthdate", Value::String(s)) => chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()).to_string())
            .map_err(|_| "birthdate must be YYYY-MM-DD".to_owned()),
        ("address", Value::Object(_)) => {
            let v = value.to_string();
            if v.len() > ADDRESS_BYTES {
                return Err(format!("address may have at most {ADDRESS_BYTES} bytes"));
            }
            Ok(v)
        }
        ("address", _) => Err("address must be an object".into()),
        (n, _) if VERIFIED_CLAIMS.contains(&n) => Err(format!("{n} must be a string")),
        (n, _) => Err(format!("{n} is not a verified claim")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked() {
        assert_eq!(
            verified_claim("given_name", &json!(" Erika ")).as_deref(),
            Ok("\"Erika\"")
        );
        assert!(verified_claim("given_name", &json!("")).is_err());
        assert!(verified_claim("given_name", &json!("a\u{0}b")).is_err());
        assert!(verified_claim("given_name", &json!("x".repeat(257))).is_err());
        assert_eq!(
            verified_claim("birthdate", &json!("1964-08-12")).as_deref(),
            Ok("\"1964-08-12\"")
        );
        assert!(verified_claim("birthdate", &json!("12.08.1964")).is_err());
        assert!(verified_claim("address", &json!("Hauptstraße 1")).is_err());
        assert!(verified_claim("address", &json!({"locality": "Musterstadt"})).is_ok());
        assert!(verified_claim("nickname", &json!("x")).is_err());
    }
}
