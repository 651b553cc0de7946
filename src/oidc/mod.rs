//! The OpenID Connect protocol engine: validates requests, decides, issues and checks
//! tokens. No axum and no SQL: it works on parsed parameters and calls `store`, `ephemeral`
//! and `keyring`; `web::oidc` adapts it to HTTP.
//!
//! Specs: OpenID Connect Core 1.0, Discovery 1.0, RP-Initiated Logout 1.0; RFC 6749 (OAuth
//! 2.0), RFC 7636 (PKCE), RFC 9207 (`iss` in authorization responses), RFC 9068 (JWT access
//! tokens), RFC 9700 (security BCP).

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod logout;
pub mod token;
pub mod userinfo;

use crate::ephemeral::Ephemeral;
use crate::keyring::Keyring;
use crate::store::Db;
use std::sync::Arc;

/// Everything the protocol engine needs.
#[derive(Clone)]
pub struct Provider {
    pub db: Db,
    pub eph: Ephemeral,
    pub keys: Arc<Keyring>,
    /// Issuer identifier without trailing slash.
    pub issuer: String,
    /// Lifetime of ID and access tokens, seconds.
    pub token_ttl: u64,
}

/// Scopes this provider knows.
pub const SUPPORTED_SCOPES: [&str; 2] = ["openid", "email"];
/// How long an authorization code is valid (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL_SECS: u64 = 60;
/// How long a pending authorization request (while the citizen logs in) is kept.
pub const PENDING_TTL_SECS: u64 = 30 * 60;
