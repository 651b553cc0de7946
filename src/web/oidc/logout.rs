//! RP-Initiated Logout 1.0: `/logout` asks first unless the portal names this very session;
//! `/logout/confirm` ends it. Ending (destroy, back-channel logout, audit) is the engine's
//! ([`crate::oidc::Provider::end_session`]).

use crate::domain::lang::Lang;
use crate::domain::params::Params;
use crate::oidc::backchannel::Ending;
use crate::web::extract::{
    CsrfForm, GetOrPost, MaybeSession, PageLang, SESSION_COOKIE, SignedIn, cookie, csrf_token,
    set_cookie,
};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, message, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    carry: Vec<(&'static str, String)>,
    face: crate::web::face::Face,
}

const LOGOUT_PARAMS: [&str; 5] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// `GET|POST /logout` (RP-Initiated Logout 1.0).
pub async fn logout(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    GetOrPost(raw): GetOrPost,
) -> Response {
    let Ok(params) = Params::parse(&raw) else {
        return PageError::bad_request(lang).into_response();
    };
    let req = match state.provider.validate_logout(&params).await {
        Ok(r) => r,
        Err(e) => return logout_error(e, lang),
    };
    let lang = req.lang.unwrap_or(lang);
    // Without a hint naming this very session, ask first: a logout link must not be a way
    // for any page to log the citizen out.
    if let Some(SignedIn { session: s, .. }) = &session
        && req.hint_sid.as_deref() != Some(s.sid.as_str())
    {
        let t = texts(lang);
        let face = match &req.client {
            Some(c) => crate::web::face::Face::of_client(&state, c).await,
            None => crate::web::face::Face::verbund(&state.web),
        };
        let (token, set) = csrf_token(&headers, state.web.secure_cookies);
        let carry = LOGOUT_PARAMS
            .iter()
            .filter_map(|k| params.get(k).map(|v| (*k, v.to_owned())))
            .collect();
        return with_cookies(
            html(
                StatusCode::OK,
                &LogoutPage {
                    t,
                    lang_switch: lang_switch(t, "/konto"),
                    csrf: &token,
                    carry,
                    face,
                },
            ),
            set,
        );
    }
    // Without a signed-in session, a login that waits for its second factor still ends.
    let token = session
        .map(|s| s.token)
        .or_else(|| cookie(&headers, SESSION_COOKIE, state.web.secure_cookies));
    end_session(&state, &req, token, lang).await
}

/// `POST /logout/confirm`: the citizen confirmed (from the question or the account page).
pub async fn logout_confirm(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let req = match state.provider.validate_logout(&form).await {
        Ok(r) => r,
        Err(e) => return logout_error(e, lang),
    };
    let lang = req.lang.unwrap_or(lang);
    let token = crate::web::extract::cookie(&headers, SESSION_COOKIE, state.web.secure_cookies);
    end_session(&state, &req, token, lang).await
}

fn logout_error(e: crate::oidc::logout::LogoutError, lang: Lang) -> Response {
    match e {
        crate::oidc::logout::LogoutError::Invalid(d) => {
            tracing::info!(detail = d, "logout request refused");
            PageError::bad_request(lang).into_response()
        }
        crate::oidc::logout::LogoutError::Internal(c) => {
            PageError::internal(lang, c).into_response()
        }
    }
}

async fn end_session(
    state: &AppState,
    req: &crate::oidc::logout::LogoutRequest,
    token: Option<String>,
    lang: Lang,
) -> Response {
    if let Some(t) = token
        && let Err(e) = state.provider.end_session(&t, Ending::Logout).await
    {
        return PageError::internal(lang, e).into_response();
    }
    let clear = set_cookie(SESSION_COOKIE, "", Some(0), state.web.secure_cookies);
    match state.provider.logout_redirect(req) {
        Some(url) => see_other(&url, &[clear]),
        None => with_cookies(
            message(
                lang,
                StatusCode::OK,
                |t| t.logged_out_title,
                |t| t.logged_out_text,
                Some(("/login".into(), texts(lang).login_link)),
            ),
            [clear],
        ),
    }
}
