//! JSON APIs for portals, authority systems and admins. Errors are problem details
//! (RFC 9457, `application/problem+json`); callers authenticate with a bearer access token.

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
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            cause: None,
        }
    }
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "internal error".into(),
            cause: Some(cause.to_string()),
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
    if !Scopes::parse(&at.scope).unwrap_or_default().contains(scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the access token lacks the scope {scope}"),
        ));
    }
    Ok(at)
}
