//! The citizen's account page.

use super::login::current_session;
use super::{PageError, html, lang_switch, see_other, with_cookies};
use crate::domain::level::Loa;
use crate::web::csrf;
use crate::web::extract::PageLang;
use crate::web::i18n::{Texts, texts};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    level: &'a str,
}

pub async fn get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((_, session)) = current_session(&state.sessions, &headers, lang).await? else {
        return Ok(see_other("/login", &[]));
    };
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let t = texts(lang);
    let level = match session.acr {
        Loa::Low => t.level_low,
        Loa::Substantial => t.level_substantial,
        Loa::High => t.level_high,
    };
    let (token, set) = csrf::token(&headers, state.web.secure_cookies);
    let page = AccountPage {
        t,
        lang_switch: lang_switch(t, "/konto"),
        csrf: &token,
        email: account.email.as_str(),
        level,
    };
    Ok(with_cookies(html(StatusCode::OK, &page), set))
}
