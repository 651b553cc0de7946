//! The three answers of the three surfaces, side by side (conventions: one error type per
//! surface, each mapped exhaustively in one `IntoResponse`):
//!
//! - [`PageError`]: an HTML page for people, in their language;
//! - [`ApiError`]: problem details (RFC 9457) for the JSON APIs;
//! - [`OAuthError`] (defined by the protocol engine): RFC 6749 §5.2 JSON at the OAuth
//!   endpoints.
//!
//! Internal causes are logged with their cause chain, never shown. Also here: rendering
//! pages, redirects, cookies on responses, downloads and the cache headers of JSON answers.

use super::i18n::{Texts, texts};
use crate::domain::lang::Lang;
use crate::mailbox::File;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::telemetry::{Cause, Chain};
use askama::Template;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

// ---- pages

/// Renders a template as an HTML response.
pub fn html<T: Template>(status: StatusCode, tpl: &T) -> Response {
    match tpl.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub t: &'static Texts,
    pub lang_switch: String,
    pub title: &'a str,
    pub text: &'a str,
    pub link: Option<(String, &'a str)>,
    pub is_error: bool,
}

/// The link that switches the language and comes back to `back`.
#[must_use]
pub fn lang_switch(t: &Texts, back: &str) -> String {
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/lang?to={}&back={back}", t.other_lang_code)
}

/// An informational page.
#[must_use]
pub fn message(
    lang: Lang,
    status: StatusCode,
    title: fn(&Texts) -> &str,
    text: fn(&Texts) -> &str,
    link: Option<(String, &'static str)>,
) -> Response {
    let t = texts(lang);
    html(
        status,
        &MessagePage {
            t,
            lang_switch: lang_switch(t, "/konto"),
            title: title(t),
            text: text(t),
            link,
            is_error: false,
        },
    )
}

/// An error shown to a person, in their language.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub lang: Lang,
    pub text: fn(&Texts) -> &str,
    /// Logged with its causes, never shown.
    pub cause: Option<Cause>,
}

impl PageError {
    #[must_use]
    pub fn new(status: StatusCode, lang: Lang, text: fn(&Texts) -> &str) -> Self {
        Self {
            status,
            lang,
            text,
            cause: None,
        }
    }
    #[must_use]
    pub fn bad_request(lang: Lang) -> Self {
        Self::new(StatusCode::BAD_REQUEST, lang, |t| t.error_bad_request)
    }
    #[must_use]
    pub fn too_large(lang: Lang) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, lang, |t| t.error_too_large)
    }
    #[must_use]
    pub fn expired(lang: Lang) -> Self {
        Self::new(StatusCode::BAD_REQUEST, lang, |t| t.error_expired)
    }
    /// A failure of ours: 500, or 503 when a backend did not answer (the page says to try
    /// again in a few minutes, and `Retry-After` says when).
    #[must_use]
    pub fn internal(lang: Lang, cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        let (status, text): (_, fn(&Texts) -> &str) = match failure(&cause) {
            Failure::Shed => (StatusCode::SERVICE_UNAVAILABLE, |t| t.error_busy),
            Failure::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, |t| t.error_unavailable),
            Failure::Ours => (StatusCode::INTERNAL_SERVER_ERROR, |t| t.error_internal),
        };
        Self {
            status,
            lang,
            text,
            cause: Some(cause),
        }
    }
}

/// How long a client should wait after a 503 for a backend outage.
const OUTAGE_RETRY_AFTER: &str = "10";

/// What a failure's causes say, beyond "ours": a request shed under overload (too many
/// password checks waiting), or a backend that did not answer (no connection within the
/// deadline, refused or dropped). Both are answered 503 with `Retry-After` on every surface.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Shed,
    Unavailable,
    Ours,
}

fn failure(cause: &Cause) -> Failure {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&**cause);
    while let Some(e) = next {
        if matches!(
            e.downcast_ref::<crate::crypto::PasswordError>(),
            Some(crate::crypto::PasswordError::Busy)
        ) {
            return Failure::Shed;
        }
        if crate::store::StoreError::is_unavailable(e)
            || crate::ephemeral::EphemeralError::is_unavailable(e)
        {
            return Failure::Unavailable;
        }
        next = e.source();
    }
    Failure::Ours
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = texts(self.lang);
        // A failure of ours gets a number the citizen can quote and the log carries (D19).
        let reference = self
            .status
            .is_server_error()
            .then(|| crate::crypto::hex(&crate::crypto::random_bytes::<4>()).to_uppercase());
        if let Some(c) = &self.cause {
            tracing::error!(
                cause = %Chain(c.as_ref()),
                reference = reference.as_deref().unwrap_or(""),
                "request failed"
            );
        }
        // The title names the error (WCAG 2.4.2); the text says what to do, and where help is.
        let title = match self.status {
            StatusCode::NOT_FOUND => t.error_title_not_found,
            StatusCode::BAD_REQUEST => t.error_title_bad,
            StatusCode::FORBIDDEN => t.error_title_forbidden,
            StatusCode::PAYLOAD_TOO_LARGE => t.error_title_too_large,
            StatusCode::TOO_MANY_REQUESTS => t.error_title_too_many,
            StatusCode::SERVICE_UNAVAILABLE => t.error_title_unavailable,
            _ => t.error_title,
        };
        let text = match &reference {
            Some(r) => format!(
                "{} {} {}: {r}.",
                (self.text)(t),
                t.error_contact,
                t.error_reference
            ),
            None => format!("{} {}", (self.text)(t), t.error_contact),
        };
        let mut resp = html(
            self.status,
            &MessagePage {
                t,
                lang_switch: lang_switch(t, "/konto"),
                title,
                text: &text,
                link: Some(("/konto".into(), t.error_next)),
                is_error: true,
            },
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(OUTAGE_RETRY_AFTER),
            );
        }
        resp
    }
}

/// A 303 redirect (post/redirect/get), optionally setting cookies.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut resp = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Appends `Set-Cookie` headers to a response.
pub fn with_cookies(mut resp: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

// ---- JSON APIs

/// An API error: a status and a sentence for the caller; internal causes are only logged.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// Logged with its causes, never shown.
    pub cause: Option<Cause>,
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
    /// A failure of ours: 500, or 503 when a backend did not answer.
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        let (status, detail) = match failure(&cause) {
            Failure::Shed => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests at once; try again shortly",
            ),
            Failure::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "a backend is temporarily unavailable; try again shortly",
            ),
            Failure::Ours => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        Self {
            status,
            detail: detail.into(),
            cause: Some(cause),
            auth_error: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(c) = &self.cause {
            tracing::error!(cause = %Chain(c.as_ref()), "API request failed");
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
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
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

// ---- OAuth endpoints

impl IntoResponse for OAuthError {
    fn into_response(mut self) -> Response {
        // A backend that did not answer is an outage, not our error.
        if self.code == ErrorCode::ServerError
            && self
                .cause
                .as_ref()
                .is_some_and(|c| failure(c) != Failure::Ours)
        {
            self.code = ErrorCode::TemporarilyUnavailable;
            "try again later".clone_into(&mut self.description);
        }
        if let Some(c) = &self.cause {
            tracing::error!(error = self.code.as_str(), cause = %Chain(c.as_ref()), "OAuth request failed");
        }
        let status = match self.code {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut resp = (
            status,
            Json(json!({ "error": self.code.as_str(), "error_description": self.description })),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(OUTAGE_RETRY_AFTER),
            );
        }
        match self.code {
            ErrorCode::InvalidClient => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"buergerkonto\""),
                );
            }
            ErrorCode::InvalidToken | ErrorCode::InsufficientScope => {
                let v = format!(
                    "Bearer realm=\"buergerkonto\", error=\"{}\"",
                    self.code.as_str()
                );
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            _ => {}
        }
        resp
    }
}

pub fn public_json(v: &serde_json::Value) -> Response {
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

/// The answer of a back-channel endpoint: JSON that is never cached, or the OAuth error.
pub fn oauth_json<T: serde::Serialize>(result: Result<T, OAuthError>) -> Response {
    match result {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

pub fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

// ---- downloads

/// A file as a download: its type, `attachment` disposition (RFC 6266, with a UTF-8
/// `filename*`), and a sandbox so that nothing in it runs on our origin.
#[must_use]
pub fn download(f: File) -> Response {
    let ascii: String = f
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(&f.filename, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut resp = f.content.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&f.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_failure_of_ours_gets_a_reference_number_and_a_named_title() {
        let r = PageError::internal(Lang::De, "database down").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let page = body(r).await;
        assert!(page.contains("Fehlernummer: "), "{page}");
        assert!(
            !page.contains("database down"),
            "the cause stays in the log"
        );
        let r =
            PageError::new(StatusCode::NOT_FOUND, Lang::En, |t| t.error_not_found).into_response();
        let page = body(r).await;
        assert!(page.contains("<title>Page not found") && !page.contains("Error reference"));
    }
}
