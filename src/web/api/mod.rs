//! JSON APIs for portals, authority systems and admins. Errors are problem details
//! (RFC 9457, `application/problem+json`); callers authenticate with a bearer access token.

pub mod mailbox;
pub mod openapi;
pub mod processes;
pub mod proofings;

use crate::domain::scope::Scopes;
use crate::oidc::Provider;
use crate::oidc::claims::AccessTokenClaims;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API error: a status and a sentence for the caller; internal causes are only logged.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub cause: Option<String>,
    /// A Bearer error for `WWW-Authenticate` (RFC 6750 §3, RFC 9470).
    pub auth_error: Option<Challenge>,
}

/// What a `WWW-Authenticate: Bearer` challenge asks for (RFC 6750 §3, RFC 9470 §3): the
/// error, and for `insufficient_user_authentication` the level and the login age needed.
#[derive(Clone, Copy, Debug)]
pub struct Challenge {
    pub error: &'static str,
    pub acr: Option<crate::domain::level::Loa>,
    pub max_age: Option<u64>,
}

/// A problem detail (RFC 9457), as every API error is answered.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: String,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    #[schema(example = "recipient_sub is not known to your tenant")]
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            cause: None,
            auth_error: None,
        }
    }

    /// Adds `WWW-Authenticate: Bearer error="..."` (with `acr_values` and `max_age` for
    /// RFC 9470).
    #[must_use]
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.auth_error = Some(challenge);
        self
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "internal error".into(),
            cause: Some(cause.to_string()),
            auth_error: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(c) = &self.cause {
            tracing::error!(cause = %c, "API request failed");
        }
        let title = self.status.canonical_reason().unwrap_or("Error");
        let mut resp = (self.status, Json(json!({ "type": "about:blank", "title": title, "status": self.status.as_u16(), "detail": self.detail }))).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(c) = self.auth_error {
            let acr = c
                .acr
                .map(|l| format!(", acr_values=\"{}\"", l.acr()))
                .unwrap_or_default();
            let max_age = c
                .max_age
                .map(|m| format!(", max_age=\"{m}\""))
                .unwrap_or_default();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "Bearer realm=\"buergerkonto\", error=\"{}\"{acr}{max_age}",
                c.error
            )) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"buergerkonto\""),
            );
        }
        resp
    }
}

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
