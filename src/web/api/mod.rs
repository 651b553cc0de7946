//! JSON APIs for portals, authority systems and admins. Errors are problem details
//! (RFC 9457, `application/problem+json`); callers authenticate with a bearer access token.

pub mod mailbox;
pub mod openapi;
pub mod processes;
pub mod proofings;

use crate::domain::scope::Scopes;
use crate::oidc::Provider;
use crate::oidc::claims::AccessTokenClaims;
use crate::web::respond::ApiError;
use axum::http::{HeaderMap, StatusCode};

/// The verified, unrevoked bearer token of a request, which must carry `scope`.
pub async fn bearer(
    p: &Provider,
    headers: &HeaderMap,
    scope: &str,
) -> Result<AccessTokenClaims, ApiError> {
    bearer_any(p, headers, &[scope]).await.map(|(at, _)| at)
}

/// The verified, unrevoked bearer token of a request and the first of `scopes` it carries
/// (one signature check, whichever scope decides).
pub async fn bearer_any<'s>(
    p: &Provider,
    headers: &HeaderMap,
    scopes: &[&'s str],
) -> Result<(AccessTokenClaims, &'s str), ApiError> {
    let token = crate::web::extract::bearer_token(headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a bearer access token is required",
        )
    })?;
    let at = p.check_access_token(&token).await.map_err(|_| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the access token is invalid, expired or revoked",
        )
    })?;
    let granted = Scopes::parse(&at.scope).unwrap_or_default();
    match scopes.iter().find(|s| granted.contains(s)) {
        Some(s) => Ok((at, *s)),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the access token lacks the scope {}", scopes.join(" or ")),
        )),
    }
}
