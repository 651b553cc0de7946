//! Password reset by a mailed single-use link (a reset ends every session of the account),
//! and the change of the password while signed in (it ends every other session). Both mail a
//! notice to the account's address.

use super::factors::needs_current_factor;
use crate::account::AccountError;
use crate::domain::account::PasswordProblem;
use crate::domain::lang::Lang;
use crate::web::extract::{CheckedForm, CsrfForm, SignedIn, csrf_token};
use crate::web::extract::{ClientIp, PageLang, Query};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, message, see_other, with_cookies};
use crate::web::state::{AppState, WebConfig};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/password/forgot", get(forgot_get).post(forgot_post))
        .route("/password/reset", get(reset_get).post(reset_post))
        .route("/konto/passwort", get(change_get).post(change_post))
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    token: &'a str,
    /// The account's address, for password managers (a hidden `username` field).
    email: &'a str,
    error: Option<&'a str>,
}

fn forgot_page(
    status: StatusCode,
    headers: &HeaderMap,
    web: &WebConfig,
    lang: Lang,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (token, set) = csrf_token(headers, web.secure_cookies);
    let t = texts(lang);
    with_cookies(
        html(
            status,
            &ForgotPage {
                t,
                lang_switch: lang_switch(t, "/password/forgot"),
                csrf: &token,
                email,
                error,
            },
        ),
        set,
    )
}

fn reset_page(
    status: StatusCode,
    headers: &HeaderMap,
    web: &WebConfig,
    lang: Lang,
    token: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (csrf_token, set) = csrf_token(headers, web.secure_cookies);
    let t = texts(lang);
    with_cookies(
        html(
            status,
            &ResetPage {
                t,
                lang_switch: lang_switch(t, "/password/forgot"),
                csrf: &csrf_token,
                token,
                email,
                error,
            },
        ),
        set,
    )
}

pub async fn forgot_get(
    State(web): State<WebConfig>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
) -> Response {
    forgot_page(StatusCode::OK, &headers, &web, lang, "", None)
}

/// Always the same answer, whether or not the address has an account.
pub async fn forgot_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let email = form.get("email").unwrap_or("");
    let shown: String = email.chars().take(254).collect();
    if !csrf_ok {
        return Ok(forgot_page(
            StatusCode::FORBIDDEN,
            &headers,
            &state.web,
            lang,
            &shown,
            Some(t.err_csrf),
        ));
    }
    match state.accounts.request_reset(email, lang, ip).await {
        Ok(()) => Ok(message(
            lang,
            StatusCode::OK,
            |t| t.forgot_sent_title,
            |t| t.forgot_sent_text,
            None,
        )),
        Err(AccountError::Throttled) => Ok(forgot_page(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            &state.web,
            lang,
            &shown,
            Some(t.err_too_many),
        )),
        Err(AccountError::InvalidEmail) => Ok(forgot_page(
            StatusCode::BAD_REQUEST,
            &headers,
            &state.web,
            lang,
            &shown,
            Some(t.err_email),
        )),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

fn invalid_link(lang: Lang) -> Response {
    message(
        lang,
        StatusCode::BAD_REQUEST,
        |t| t.verify_failed_title,
        |t| t.reset_invalid_text,
        Some(("/password/forgot".into(), texts(lang).forgot_title)),
    )
}

/// `GET /password/reset?token=...`: the form; the link is used only when it is submitted.
pub async fn reset_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let token = q.get("token").unwrap_or("");
    match state.accounts.reset_link_holder(token).await {
        Ok(Some(email)) => Ok(reset_page(
            StatusCode::OK,
            &headers,
            &state.web,
            lang,
            token,
            email.as_str(),
            None,
        )),
        Ok(None) => Ok(invalid_link(lang)),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

pub async fn reset_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let token = form.get("token").filter(|t| t.len() <= 64).unwrap_or("");
    let email: String = form
        .get("username")
        .unwrap_or("")
        .chars()
        .take(254)
        .collect();
    if !csrf_ok {
        return Ok(reset_page(
            StatusCode::FORBIDDEN,
            &headers,
            &state.web,
            lang,
            token,
            &email,
            Some(t.err_csrf),
        ));
    }
    match state
        .accounts
        .reset_password(token, form.get("password").unwrap_or(""))
        .await
    {
        Ok(account) => {
            state
                .provider
                .end_all_sessions(account, crate::oidc::backchannel::Ending::PasswordReset)
                .await
                .map_err(|e| PageError::internal(lang, e))?;
            Ok(message(
                lang,
                StatusCode::OK,
                |t| t.reset_done_title,
                |t| t.reset_done_text,
                Some(("/login".into(), t.login_link)),
            ))
        }
        Err(AccountError::Password(PasswordProblem::TooShort)) => Ok(reset_page(
            StatusCode::BAD_REQUEST,
            &headers,
            &state.web,
            lang,
            token,
            &email,
            Some(t.err_pw_short),
        )),
        Err(AccountError::Password(PasswordProblem::TooLong)) => Ok(reset_page(
            StatusCode::BAD_REQUEST,
            &headers,
            &state.web,
            lang,
            token,
            &email,
            Some(t.err_pw_long),
        )),
        Err(AccountError::InvalidToken) => Ok(invalid_link(lang)),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

// ---- change while signed in

#[derive(Template)]
#[template(path = "password_change.html")]
struct ChangePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    /// The notice after a change.
    done: Option<&'static str>,
    /// The error and the field it belongs to (`current` or `new`).
    error: Option<(&'a str, &'static str)>,
}

fn change_page(
    status: StatusCode,
    headers: &HeaderMap,
    web: &WebConfig,
    lang: Lang,
    email: &str,
    done: Option<&'static str>,
    error: Option<(&str, &'static str)>,
) -> Response {
    let t = texts(lang);
    let (csrf, cookie) = csrf_token(headers, web.secure_cookies);
    let page = ChangePage {
        t,
        lang_switch: lang_switch(t, "/konto/passwort"),
        csrf: &csrf,
        email,
        done,
        error,
    };
    with_cookies(html(status, &page), cookie)
}

/// `GET /konto/passwort` (`?geaendert=1` after a change).
async fn change_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/passwort").await? {
        return Ok(r);
    }
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let t = texts(lang);
    let done = match q.as_deref() {
        Some("geaendert=1") => Some(t.pwc_done),
        Some("geaendert=2") => Some(t.pwc_done_partial),
        _ => None,
    };
    Ok(change_page(
        StatusCode::OK,
        &headers,
        &state.web,
        lang,
        account.email.as_str(),
        done,
        None,
    ))
}

/// `POST /konto/passwort`: current and new password; the other sessions end.
async fn change_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { token, session }: SignedIn,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/passwort").await? {
        return Ok(r);
    }
    let t = texts(lang);
    let account = session.account_id;
    let result = state
        .accounts
        .change_password(
            account,
            form.get("current").unwrap_or(""),
            form.get("new").unwrap_or(""),
            ip,
        )
        .await;
    let error = match result {
        Ok(()) => {
            // The password has changed either way: a failure to end the other sessions is
            // said on the page (with what to do), not turned into an error page.
            let ended = state
                .provider
                .end_other_sessions(account, &crate::authn::handle_of(&token))
                .await;
            if let Err(e) = &ended {
                tracing::error!(error = %e, "other sessions not ended after a password change");
            }
            let notice = if ended.is_ok() { 1 } else { 2 };
            return Ok(see_other(
                &format!("/konto/passwort?geaendert={notice}#pwc-notice"),
                &[],
            ));
        }
        Err(AccountError::Password(PasswordProblem::TooShort)) => {
            (StatusCode::BAD_REQUEST, t.err_pw_short, "new")
        }
        Err(AccountError::Password(PasswordProblem::TooLong)) => {
            (StatusCode::BAD_REQUEST, t.err_pw_long, "new")
        }
        Err(AccountError::InvalidCredentials) => {
            (StatusCode::BAD_REQUEST, t.pwc_err_current, "current")
        }
        Err(AccountError::Throttled) => (StatusCode::TOO_MANY_REQUESTS, t.err_throttled, "current"),
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let email = state
        .accounts
        .get(account)
        .await
        .map_err(|e| PageError::internal(lang, e))?
        .email;
    Ok(change_page(
        error.0,
        &headers,
        &state.web,
        lang,
        email.as_str(),
        None,
        Some((error.1, error.2)),
    ))
}
