//! The citizen's account page: the account, its sessions (end any of them) and the portals
//! with consent (withdraw it, which revokes that portal's refresh tokens).

use super::date_time;
use crate::authn::handle_of;
use crate::domain::ids::ClientId;
use crate::web::extract::{CsrfForm, SignedIn, csrf_token};
use crate::web::extract::{PageLang, SESSION_COOKIE, set_cookie};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/konto", get(show))
        .route("/konto/sessions/end", post(end_session))
        .route("/konto/consents/withdraw", post(withdraw_consent))
}

struct SessionRow {
    handle: String,
    browser: String,
    since: String,
    portals: String,
    current: bool,
}

struct ConsentRow {
    client_id: String,
    name: String,
    scopes: String,
    granted: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    email: &'a str,
    level: &'a str,
    sessions: Vec<SessionRow>,
    consents: Vec<ConsentRow>,
    /// Unread messages in the inbox's first page (`unread_more`: there may be more).
    unread: usize,
    unread_more: bool,
}

/// A short, recognisable name for a browser from its User-Agent.
fn browser_name(ua: &str, t: &Texts) -> String {
    crate::domain::civil::browser_name(ua).unwrap_or_else(|| t.unknown_browser.to_owned())
}

pub async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { token, session }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let internal = |e: crate::telemetry::Cause| PageError::internal(lang, e);
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| internal(e.into()))?;
    let t = texts(lang);
    let level = t.level(session.acr);
    let current = handle_of(&token);
    let mut sessions = Vec::new();
    for (handle, s) in state
        .sessions
        .list(account.id)
        .await
        .map_err(|e| internal(e.into()))?
    {
        let mut names = Vec::new();
        for c in &s.clients {
            if let Ok(client) = state.provider.client(c).await {
                names.push(client.name.clone());
            }
        }
        sessions.push(SessionRow {
            current: handle == current,
            browser: browser_name(&s.user_agent, t),
            since: date_time(chrono::DateTime::from_timestamp(s.created_at, 0).unwrap_or_default()),
            portals: names.join(", "),
            handle,
        });
    }
    let consents = state
        .provider
        .consents_of(account.id)
        .await
        .map_err(|e| internal(e.into()))?
        .into_iter()
        .map(|c| ConsentRow {
            scopes: c
                .scopes
                .iter()
                .filter_map(|s| t.scope_label(s))
                .collect::<Vec<_>>()
                .join("; "),
            client_id: c.client_id,
            name: c.client_name,
            granted: date_time(c.granted_at),
        })
        .collect();
    // Unread messages (the inbox lists them first), at the session's level.
    let (first, more) = state
        .mailbox
        .inbox(
            &crate::mailbox::Reader::session(account.id, session.acr),
            false,
            0,
            50,
        )
        .await
        .map_err(|e| internal(e.into()))?;
    let unread = first.iter().filter(|m| m.unread).count();
    let unread_more = more && unread == first.len();
    let (csrf_token, set) = csrf_token(&headers, state.web.secure_cookies);
    let page = AccountPage {
        t,
        lang_switch: lang_switch(t, "/konto"),
        csrf: &csrf_token,
        email: account.email.as_str(),
        level,
        sessions,
        consents,
        unread,
        unread_more,
    };
    Ok(with_cookies(html(StatusCode::OK, &page), set))
}

/// `POST /konto/sessions/end`: ends one of the citizen's sessions (this one or another).
pub async fn end_session(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { token, session: me }: SignedIn,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let handle = form.get("session").unwrap_or("");
    state
        .provider
        .end_session_of(me.account_id, handle)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    if handle == handle_of(&token) {
        let clear = set_cookie(SESSION_COOKIE, "", Some(0), state.web.secure_cookies);
        return Ok(see_other("/login", &[clear]));
    }
    Ok(see_other("/konto", &[]))
}

/// `POST /konto/consents/withdraw`: withdraws a consent and revokes the portal's refresh tokens.
pub async fn withdraw_consent(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session: me, .. }: SignedIn,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let client = ClientId(
        form.get("client_id")
            .unwrap_or("")
            .chars()
            .take(128)
            .collect(),
    );
    state
        .provider
        .withdraw_consent(me.account_id, &client)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    Ok(see_other("/konto", &[]))
}
