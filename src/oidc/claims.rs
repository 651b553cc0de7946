//! Token contents and subject identifiers.

use crate::crypto::sha256;
use crate::domain::client::{Client, SigningAlg, SubjectType};
use crate::domain::ids::AccountId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The `sub` for an account at a client: HMAC-SHA256(secret, sector | account) for pairwise,
/// the account id for public subjects.
#[must_use]
pub fn subject(secret: &[u8; 32], client: &Client, account: AccountId) -> String {
    match client.subject_type {
        SubjectType::Pairwise => crate::crypto::pairwise_sub(secret, &client.sector(), account),
        SubjectType::Public => account.to_string(),
    }
}

/// `at_hash` (OIDC Core §3.1.3.6): left half of the hash of the access token, base64url.
#[must_use]
pub fn at_hash(_alg: SigningAlg, access_token: &str) -> String {
    // RS256 and ES256 both use SHA-256.
    let h = sha256(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&h[..16])
}

#[derive(Debug, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: String,
    pub amr: Vec<String>,
    /// Which upstream confirmed the level in `acr` (`upstream:ID`, e.g. `upstream:bundid`);
    /// absent when our own factors over the account's proofing reached it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub level_source: Option<String>,
    pub sid: String,
    pub azp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Verified personal data released with the `profile` / `address` scopes.
    #[serde(flatten)]
    pub verified: serde_json::Map<String, serde_json::Value>,
}

/// Access token claims (RFC 9068 §2.2), signed ES256 with `typ: at+jwt`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The grant this token belongs to (one code exchange and its refresh tokens), so that
    /// revoking the grant revokes the token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gid: Option<uuid::Uuid>,
}

/// Signing algorithm for access tokens: ES256 is about 20 times cheaper than RS256.
pub const ACCESS_TOKEN_ALG: SigningAlg = SigningAlg::ES256;
