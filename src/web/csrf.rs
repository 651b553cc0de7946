//! CSRF protection for forms: a random token in an HttpOnly, SameSite=Lax cookie, repeated
//! in a hidden field, compared in constant time (double submit). SameSite alone does not
//! cover same-site subdomains or old browsers; the token does.

use super::extract::{CSRF_COOKIE, cookie, set_cookie};
use crate::crypto::{ct_eq, random_token};
use crate::domain::params::Params;
use axum::http::HeaderMap;

/// The token for a form, and a `Set-Cookie` value if a new one had to be made.
#[must_use]
pub fn token(headers: &HeaderMap, secure: bool) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE, secure).filter(|c| c.len() == 43) {
        Some(t) => (t, None),
        None => {
            let t = random_token();
            let c = set_cookie(CSRF_COOKIE, &t, None, secure);
            (t, Some(c))
        }
    }
}

/// Whether the form's token matches the cookie.
#[must_use]
pub fn verify(headers: &HeaderMap, form: &Params, secure: bool) -> bool {
    verify_token(headers, form.get("csrf"), secure)
}

/// Whether a form token (from a multipart form, say) matches the cookie.
#[must_use]
pub fn verify_token(headers: &HeaderMap, token: Option<&str>, secure: bool) -> bool {
    match (cookie(headers, CSRF_COOKIE, secure), token) {
        (Some(c), Some(f)) => c.len() == 43 && ct_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}
