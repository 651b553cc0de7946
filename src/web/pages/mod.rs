//! Pages for people: templates, the HTML error type, and the login, registration,
//! verification, consent and account handlers.

pub mod account;
pub mod factors;
pub mod identity;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod postfach;
pub mod register;

use super::i18n::{Texts, texts};
use crate::domain::lang::Lang;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A time as pages show it (the server keeps UTC).
#[must_use]
pub fn date_time(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%d.%m.%Y, %H:%M UTC").to_string()
}

/// A day as pages show it.
#[must_use]
pub fn day(ts: chrono::DateTime<chrono::Utc>) -> String {
    ts.format("%d.%m.%Y").to_string()
}

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
    /// Logged, never shown.
    pub cause: Option<String>,
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
    #[must_use]
    pub fn internal(lang: Lang, cause: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            lang,
            text: |t| t.error_internal,
            cause: Some(cause.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(c) = &self.cause {
            tracing::error!(cause = %c, "request failed");
        }
        let t = texts(self.lang);
        html(
            self.status,
            &MessagePage {
                t,
                lang_switch: lang_switch(t, "/konto"),
                title: t.error_title,
                text: (self.text)(t),
                link: Some(("/konto".into(), t.error_next)),
                is_error: true,
            },
        )
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

/// A pending-request id from a form or query: URL-safe base64 of at most 64 characters.
#[must_use]
pub fn req_id(v: Option<&str>) -> String {
    v.filter(|r| {
        r.len() <= 64
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .unwrap_or("")
    .to_owned()
}
