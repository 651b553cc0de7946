//! `/admin/buergerservice`: the clerk desk. Every step is a POST (the citizen's address
//! stays out of URLs and logs); the page shows the result.

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::admin::desk::{Check, Citizen, DOCUMENTS};
use crate::domain::role::DutyKind;
use crate::web::extract::{CsrfForm, csrf_token};
use crate::web::i18n::Texts;
use crate::web::respond::{PageError, html, lang_switch, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/admin/buergerservice", get(show).post(act))
}

struct CitizenView {
    email: String,
    verified: bool,
    level: &'static str,
    created: String,
    /// When, level, method, document, by.
    proofings: Vec<(String, &'static str, String, String, String)>,
    history: Vec<(String, String)>,
}

impl CitizenView {
    fn new(a: &AdminTexts, c: Citizen) -> Self {
        use crate::domain::civil::date_time;
        Self {
            email: c.account.email.as_str().to_owned(),
            verified: c.account.email_verified,
            level: a.level(c.account.proofing.name()),
            created: date_time(c.account.created_at),
            proofings: c
                .proofings
                .into_iter()
                .map(|p| {
                    (
                        date_time(p.at),
                        a.level(&p.level),
                        p.method,
                        p.document_type
                            .map(|d| document_label(a, &d))
                            .unwrap_or_default(),
                        p.verified_by,
                    )
                })
                .collect(),
            history: c
                .history
                .into_iter()
                .map(|e| (date_time(e.at), e.kind))
                .collect(),
        }
    }
}

fn document_label(a: &AdminTexts, d: &str) -> String {
    match d {
        "personalausweis" => a.doc_personalausweis.into(),
        "reisepass" => a.doc_reisepass.into(),
        "aufenthaltstitel" => a.doc_aufenthaltstitel.into(),
        "eid_karte" => a.doc_eid_karte.into(),
        other => other.into(),
    }
}

#[derive(Template)]
#[template(path = "admin/desk.html")]
struct Page {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    tenants: Vec<(String, String)>,
    tenant: String,
    email: String,
    citizen: Option<CitizenView>,
    searched: bool,
    documents: Vec<(&'static str, String)>,
    done: Option<String>,
}

/// The page; `found` is what a search or an action showed.
#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    tenant: &str,
    email: &str,
    found: Option<Citizen>,
    searched: bool,
    done: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let reach = c.actor.grants.reach(DutyKind::Desk);
    let tenants: Vec<(String, String)> = state
        .admin
        .tenants(&c.actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .filter(|t| reach.covers(t.id))
        .map(|t| (t.slug.as_str().to_owned(), t.name))
        .collect();
    if tenants.is_empty() {
        return Ok(c.fail(AdminError::Forbidden));
    }
    let tenant = if tenants.iter().any(|(s, _)| s == tenant) {
        tenant.to_owned()
    } else {
        tenants[0].0.clone()
    };
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = Page {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/buergerservice"),
        f: c.frame("desk", None, error),
        csrf,
        tenants,
        tenant,
        email: email.to_owned(),
        citizen: found.map(|f| CitizenView::new(a, f)),
        searched,
        documents: DOCUMENTS
            .iter()
            .map(|d| (*d, document_label(a, d)))
            .collect(),
        done,
    };
    Ok(with_cookies(html(status, &p), cookie))
}

/// `GET /admin/buergerservice`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    page(
        &state,
        &c,
        &headers,
        StatusCode::OK,
        "",
        "",
        None,
        false,
        None,
        None,
    )
    .await
}

/// `POST /admin/buergerservice`: find, check, resend, unlock or end the sessions.
async fn act(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let a = c.a();
    let tenant = form.get("kommune").unwrap_or("");
    let email = form.get("email").unwrap_or("").trim();
    let admin = &state.admin;
    let done = match form.get("action").unwrap_or("find") {
        "find" => Ok(None),
        "check" => {
            let field = |n: &str| form.get(n).unwrap_or("").to_owned();
            let check = Check {
                level: field("level"),
                document_type: field("document_type"),
                given_name: field("given_name"),
                family_name: field("family_name"),
                birthdate: field("birthdate"),
            };
            admin
                .record_check(&c.actor, tenant, email, &check)
                .await
                .map(|()| Some(a.ok_checked.to_owned()))
        }
        "resend" => admin
            .resend_confirmation(&c.actor, tenant, email)
            .await
            .map(|sent| Some(if sent { a.ok_resent } else { a.ok_not_resent }.to_owned())),
        "unlock" => admin
            .unlock(&c.actor, tenant, email)
            .await
            .map(|()| Some(a.ok_unlocked.to_owned())),
        "end" => admin
            .end_sessions(&c.actor, tenant, email)
            .await
            .map(|n| Some(format!("{} {n}", a.ok_ended))),
        _ => Err(AdminError::NotFound),
    };
    let (status, done, error) = match done {
        Ok(done) => (StatusCode::OK, done, None),
        Err(AdminError::NotFound) => (StatusCode::OK, None, None),
        Err(AdminError::Invalid(bad)) => (StatusCode::BAD_REQUEST, None, Some(c.bad(&bad))),
        Err(e) => return Ok(c.fail(e)),
    };
    // After every step, what the clerk may see of the account now.
    let found = match admin.find_citizen(&c.actor, tenant, email).await {
        Ok(f) => Some(f),
        Err(AdminError::NotFound | AdminError::Invalid(_)) => None,
        Err(e) => return Ok(c.fail(e)),
    };
    let error = error.or_else(|| found.is_none().then(|| a.desk_not_found.to_owned()));
    let status = if found.is_none() && status == StatusCode::OK {
        StatusCode::NOT_FOUND
    } else {
        status
    };
    page(
        &state, &c, &headers, status, tenant, email, found, true, done, error,
    )
    .await
}
