//! "Meine Daten": everything held about the signed-in citizen, as a page and as a JSON file
//! (DSGVO Art. 15 and 20), from `rights::DataRights`.

use super::date_time;
use crate::mailbox::File;
use crate::rights::Export;
use crate::web::extract::{CsrfForm, PageLang, SignedIn, csrf_token};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, download, html, lang_switch, message, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/konto/daten", get(show))
        .route("/konto/daten.json", get(file).post(file_with_contents))
}

#[derive(Template)]
#[template(path = "data.html")]
struct DataPage {
    t: &'static Texts,
    lang_switch: String,
    /// For the form that asks for the messages' contents (which records them as opened).
    csrf: String,
    email: String,
    email_verified: &'static str,
    created: String,
    language: &'static str,
    level: &'static str,
    verified: Vec<String>,
    links: Vec<String>,
    methods: Vec<String>,
    sessions: Vec<String>,
    consents: Vec<String>,
    messages: Vec<String>,
    /// The page lists only the newest messages.
    messages_cut: bool,
    audit: Vec<String>,
}

fn page(t: &'static Texts, e: Export, csrf: String) -> DataPage {
    let yes_no = |b: bool| if b { t.data_yes } else { t.data_no };
    let mut methods = vec![
        format!(
            "{}: {}",
            t.data_password,
            yes_no(e.sign_in_methods.password)
        ),
        format!(
            "{}: {}",
            t.data_app,
            yes_no(e.sign_in_methods.authenticator_app)
        ),
    ];
    methods.extend(e.sign_in_methods.passkeys.iter().map(|p| {
        format!(
            "Passkey „{}“ ({}, {})",
            p.name,
            t.level(p.level),
            date_time(p.created_at)
        )
    }));
    DataPage {
        t,
        lang_switch: lang_switch(t, "/konto/daten"),
        csrf,
        email: e.account.email,
        email_verified: yes_no(e.account.email_verified),
        created: date_time(e.account.created_at),
        language: match e.account.language {
            crate::domain::lang::Lang::De => "Deutsch",
            crate::domain::lang::Lang::En => "English",
        },
        level: t.level(e.account.identity_level),
        verified: e
            .verified_data
            .iter()
            .map(|v| {
                let value = match &v.value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!(
                    "{}: {value} ({} {}, {} {})",
                    v.claim,
                    t.data_by,
                    v.confirmed_by,
                    t.data_on,
                    date_time(v.confirmed_at)
                )
            })
            .collect(),
        links: e
            .linked_identities
            .iter()
            .map(|l| format!("{} ({}, {})", l.provider, l.level, date_time(l.linked_at)))
            .collect(),
        methods,
        sessions: e
            .sessions
            .iter()
            .map(|s| {
                let since = s.started_at.map(date_time).unwrap_or_default();
                if s.portals.is_empty() {
                    format!("{}, {since}", s.browser)
                } else {
                    format!("{}, {since}: {}", s.browser, s.portals.join(", "))
                }
            })
            .collect(),
        consents: e
            .consents
            .iter()
            .map(|c| {
                format!(
                    "{}: {} ({})",
                    c.portal,
                    c.scopes.join(" "),
                    date_time(c.granted_at)
                )
            })
            .collect(),
        messages: e
            .mailbox
            .iter()
            .map(|m| {
                let subject = m
                    .subject
                    .clone()
                    .unwrap_or_else(|| t.data_locked.to_owned());
                format!("{}, {}: {subject}", m.sender, date_time(m.created_at))
            })
            .collect(),
        messages_cut: !e.mailbox_complete,
        audit: e
            .audit
            .iter()
            .map(|a| format!("{}: {}", date_time(a.at), a.event))
            .collect(),
    }
}

/// `GET /konto/daten`.
async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let export = state
        .rights
        .overview(session.account_id, session.acr)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let (csrf, cookie) = csrf_token(&headers, state.web.secure_cookies);
    Ok(crate::web::respond::no_store(with_cookies(
        html(StatusCode::OK, &page(texts(lang), export, csrf)),
        cookie,
    )))
}

/// `GET /konto/daten.json`: the same as a file (no message contents: a link may be followed
/// from anywhere, and reading contents is evidence).
async fn file(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
) -> Result<Response, PageError> {
    export_file(&state, &session, lang, false).await
}

/// `POST /konto/daten.json` (the page's form): with the messages' contents, which counts as
/// opening them.
async fn file_with_contents(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    export_file(&state, &session, lang, true).await
}

/// The download: at most one per account and half minute (each gathers everything).
async fn export_file(
    state: &AppState,
    session: &crate::authn::Session,
    lang: crate::domain::lang::Lang,
    contents: bool,
) -> Result<Response, PageError> {
    let internal = |e| PageError::internal(lang, e);
    if !state
        .rights
        .claim_download(session.account_id)
        .await
        .map_err(internal)?
    {
        return Ok(message(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            |t| t.data_title,
            |t| t.data_wait,
            Some(("/konto/daten".into(), texts(lang).data_title)),
        ));
    }
    let export = state
        .rights
        .export_with(session.account_id, session.acr, contents)
        .await
        .map_err(internal)?;
    let content = serde_json::to_vec_pretty(&export).map_err(|e| PageError::internal(lang, e))?;
    Ok(download(File {
        filename: format!(
            "buergerkonto-daten-{}.json",
            export.exported_at.format("%Y-%m-%d")
        ),
        content_type: "application/json".into(),
        content,
    }))
}
