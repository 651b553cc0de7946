//! Changing the e-mail address: the request while signed in (new address and password), and
//! the confirmation from the link mailed to the new address (a button, so that a mail
//! scanner that opens links does not use it up).

use super::factors::needs_current_factor;
use crate::account::AccountError;
use crate::domain::lang::Lang;
use crate::web::extract::{ClientIp, CsrfForm, PageLang, Query, SignedIn, csrf_token};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, message, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/konto/email", get(show).post(request))
        .route("/konto/email/bestaetigen", get(confirm_page).post(confirm))
}

#[derive(Template)]
#[template(path = "email_change.html")]
struct ChangePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    new_email: &'a str,
    sent: bool,
    error: Option<(&'a str, &'static str)>,
}

#[derive(Template)]
#[template(path = "email_confirm.html")]
struct ConfirmPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    token: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    email: &str,
    new_email: &str,
    sent: bool,
    error: Option<(&str, &'static str)>,
) -> Response {
    let t = texts(lang);
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = ChangePage {
        t,
        lang_switch: lang_switch(t, "/konto/email"),
        csrf: &csrf,
        email,
        new_email,
        sent,
        error,
    };
    with_cookies(html(status, &p), cookie)
}

/// `GET /konto/email` (`?gesendet=1` after a request).
async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/email").await? {
        return Ok(r);
    }
    let a = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let sent = q.get("gesendet") == Some("1");
    Ok(page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        a.email.as_str(),
        "",
        sent,
        None,
    ))
}

/// `POST /konto/email`: the new address and the password.
async fn request(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    // The address receives password resets: moving it needs the second factor too.
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/email").await? {
        return Ok(r);
    }
    let t = texts(lang);
    let new_email = form.get("email").unwrap_or("");
    let result = state
        .accounts
        .request_email_change(
            session.account_id,
            new_email,
            form.get("password").unwrap_or(""),
            lang,
            ip,
        )
        .await;
    let (status, error) = match result {
        Ok(()) => return Ok(see_other("/konto/email?gesendet=1#emc-notice", &[])),
        Err(AccountError::InvalidEmail) => (StatusCode::BAD_REQUEST, (t.err_email, "email")),
        Err(AccountError::EmailUnchanged) => (StatusCode::BAD_REQUEST, (t.emc_err_same, "email")),
        Err(AccountError::InvalidCredentials) => {
            (StatusCode::BAD_REQUEST, (t.pwc_err_current, "password"))
        }
        Err(AccountError::Throttled) => {
            (StatusCode::TOO_MANY_REQUESTS, (t.err_throttled, "password"))
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let a = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    Ok(page(
        &state,
        &headers,
        lang,
        status,
        a.email.as_str(),
        new_email,
        false,
        Some(error),
    ))
}

/// `GET /konto/email/bestaetigen?token=…`: the button that confirms.
async fn confirm_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query,
) -> Response {
    let t = texts(lang);
    let token = q.get("token").filter(|t| t.len() <= 64).unwrap_or("");
    let (csrf, cookie) = csrf_token(&headers, state.web.secure_cookies);
    let p = ConfirmPage {
        t,
        lang_switch: lang_switch(t, "/konto"),
        csrf: &csrf,
        token,
    };
    with_cookies(html(StatusCode::OK, &p), cookie)
}

/// `POST /konto/email/bestaetigen`: uses the link.
async fn confirm(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    match state
        .accounts
        .confirm_email_change(form.get("token").unwrap_or(""))
        .await
    {
        Ok(_) => Ok(message(
            lang,
            StatusCode::OK,
            |t| t.emc_done_title,
            |t| t.emc_done_text,
            Some(("/konto".into(), t.account_title)),
        )),
        Err(AccountError::InvalidToken) => Ok(message(
            lang,
            StatusCode::BAD_REQUEST,
            |t| t.emc_confirm_title,
            |t| t.emc_invalid,
            Some(("/konto/email".into(), t.emc_link)),
        )),
        Err(AccountError::EmailTaken) => Ok(message(
            lang,
            StatusCode::CONFLICT,
            |t| t.emc_confirm_title,
            |t| t.emc_taken,
            Some(("/konto".into(), t.account_title)),
        )),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}
