//! Protocol errors with the error codes of the specs.

use crate::telemetry::Cause;
use std::fmt;

/// Error codes of RFC 6749 §4.1.2.1 / §5.2, OIDC Core §3.1.2.6 and RFC 6750 §3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    UnmetAuthenticationRequirements,
    InvalidToken,
    InsufficientScope,
}

impl ErrorCode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }
}

/// An error of the token, userinfo or other back-channel endpoints.
#[derive(Debug)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Set for internal failures; logged with its causes, never shown.
    pub cause: Option<Cause>,
}

impl OAuthError {
    #[must_use]
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            cause: None,
        }
    }

    /// An internal failure: the caller sees `server_error` (or `temporarily_unavailable`),
    /// the log gets the cause.
    #[must_use]
    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: "internal error".into(),
            cause: Some(cause.into()),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<crate::ephemeral::EphemeralError> for OAuthError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        Self {
            code: ErrorCode::TemporarilyUnavailable,
            description: "try again later".into(),
            cause: Some(e.into()),
        }
    }
}

impl From<crate::keyring::TokenError> for OAuthError {
    fn from(e: crate::keyring::TokenError) -> Self {
        Self::internal(e)
    }
}
