//! "Konto löschen" (DSGVO Art. 17): what happens, plainly, and the request with the password
//! and a fresh second factor; the steps are `rights::erasure`'s.

use super::day;
use super::factors::needs_fresh_factor;
use crate::account::AccountError;
use crate::domain::lang::Lang;
use crate::rights::RightsError;
use crate::web::extract::{ClientIp, CsrfForm, PageLang, SignedIn, csrf_token};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/konto/loeschen", get(show).post(request))
}

#[derive(Template)]
#[template(path = "account_delete.html")]
struct DeletePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    /// The day the account would be deleted if asked now.
    due: String,
    error: Option<(&'static str, &'static str)>,
    /// The day it will be deleted (after the request).
    done: Option<String>,
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    lang: Lang,
    status: StatusCode,
    error: Option<(&'static str, &'static str)>,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let a = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let grace = chrono::Duration::from_std(state.rights.rules().grace).unwrap_or_default();
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = DeletePage {
        t,
        lang_switch: lang_switch(t, "/konto/loeschen"),
        csrf: &csrf,
        email: a.email.as_str(),
        due: day(chrono::Utc::now() + grace),
        error,
        done: None,
    };
    Ok(with_cookies(html(status, &p), cookie))
}

/// `GET /konto/loeschen`.
async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if let Some(r) = needs_fresh_factor(&state, &session, lang, "/konto/loeschen").await? {
        return Ok(r);
    }
    page(&state, &headers, &session, lang, StatusCode::OK, None).await
}

/// `POST /konto/loeschen`: the password; every session ends, the day is set.
async fn request(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = needs_fresh_factor(&state, &session, lang, "/konto/loeschen").await? {
        return Ok(r);
    }
    let t = texts(lang);
    let asked = state
        .rights
        .request_erasure(session.account_id, form.get("password").unwrap_or(""), ip)
        .await;
    let (status, error) = match asked {
        Ok(due) => {
            let p = DeletePage {
                t,
                lang_switch: lang_switch(t, "/login"),
                csrf: "",
                email: "",
                due: String::new(),
                error: None,
                done: Some(day(due)),
            };
            return Ok(html(StatusCode::OK, &p));
        }
        Err(RightsError::Account(AccountError::InvalidCredentials)) => {
            (StatusCode::BAD_REQUEST, (t.del_err_password, "password"))
        }
        Err(RightsError::Account(AccountError::Throttled)) => {
            (StatusCode::TOO_MANY_REQUESTS, (t.err_throttled, "password"))
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    page(&state, &headers, &session, lang, status, Some(error)).await
}
