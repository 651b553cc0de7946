//! `/admin/rollen`: who holds which role; granting and revoking (fresh authentication).

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::domain::role::{DutyKind, Role};
use crate::web::extract::{CsrfForm, Query, csrf_token};
use crate::web::i18n::Texts;
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/rollen", get(show).post(grant))
        .route("/admin/rollen/entziehen", post(revoke))
}

struct Row {
    email: String,
    role: &'static str,
    role_label: &'static str,
    tenant_slug: String,
    tenant_name: String,
    since: String,
    by: String,
    can_revoke: bool,
}

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct Page {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    rows: Vec<Row>,
    role_options: Vec<(&'static str, &'static str)>,
    tenant_options: Vec<(String, String)>,
    verbund: bool,
    email: String,
}

async fn page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    ok: Option<&str>,
    error: Option<String>,
    email: &str,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let fail = |e| PageError::internal(c.lang, e);
    if c.actor.grants.reach(DutyKind::Configure).is_empty() {
        return Ok(c.fail(AdminError::Forbidden));
    }
    let tenants = state.admin.tenants(&c.actor).await.map_err(fail)?;
    let names = state.admin.all_tenant_names().await.map_err(fail)?;
    let all = state.admin.all_tenant_slugs().await.map_err(fail)?;
    let rows = state
        .admin
        .roles(&c.actor)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|r| {
            let tenant_name = r
                .grant
                .tenant
                .and_then(|id| names.iter().find(|(t, _)| *t == id).map(|(_, n)| n.clone()))
                .unwrap_or_else(|| a.whole_verbund.to_owned());
            let tenant_slug = r
                .grant
                .tenant
                .and_then(|id| all.iter().find(|(t, _)| *t == id).map(|(_, s)| s.clone()))
                .unwrap_or_default();
            Row {
                can_revoke: c.actor.grants.may_assign(r.grant),
                email: r.email,
                role: r.grant.role.as_str(),
                role_label: a.role(r.grant.role),
                tenant_slug,
                tenant_name,
                since: crate::domain::civil::date_time(r.granted_at),
                by: r.granted_by,
            }
        })
        .collect();
    let verbund = c.actor.grants.is_verbund_admin();
    let role_options = Role::ALL
        .into_iter()
        .filter(|r| verbund || *r != Role::VerbundAdmin)
        .map(|r| (r.as_str(), a.role(r)))
        .collect();
    let reach = c.actor.grants.reach(DutyKind::Configure);
    let tenant_options = tenants
        .into_iter()
        .filter(|t| reach.covers(t.id))
        .map(|t| (t.slug.as_str().to_owned(), t.name))
        .collect();
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = Page {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/rollen"),
        f: c.frame("roles", ok, error),
        csrf,
        rows,
        role_options,
        tenant_options,
        verbund,
        email: email.to_owned(),
    };
    Ok(with_cookies(html(status, &p), cookie))
}

/// `GET /admin/rollen`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    page(&state, &c, &headers, StatusCode::OK, q.get("ok"), None, "").await
}

/// `POST /admin/rollen`: grants a role (fresh authentication).
async fn grant(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = c.require_fresh("/admin/rollen", true) {
        return Ok(r);
    }
    let email = form.get("email").unwrap_or("");
    let done = match state
        .admin
        .parse_grant(form.get("role").unwrap_or(""), form.get("tenant"))
        .await
    {
        Ok(g) => state.admin.grant(&c.actor, email, g).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(new) => Ok(see_other(
            if new {
                "/admin/rollen?ok=granted"
            } else {
                "/admin/rollen?ok=already"
            },
            &[],
        )),
        Err(e) => refused(&state, &c, &headers, e, email).await,
    }
}

/// `POST /admin/rollen/entziehen`: revokes a role (fresh authentication).
async fn revoke(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = c.require_fresh("/admin/rollen", true) {
        return Ok(r);
    }
    let email = form.get("email").unwrap_or("");
    let done = match state
        .admin
        .parse_grant(form.get("role").unwrap_or(""), form.get("tenant"))
        .await
    {
        Ok(g) => state.admin.revoke(&c.actor, email, g).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Ok(see_other("/admin/rollen?ok=revoked", &[])),
        Err(e) => refused(&state, &c, &headers, e, "").await,
    }
}

/// A refused grant or revocation: the page again with the reason.
async fn refused(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    e: AdminError,
    email: &str,
) -> Result<Response, PageError> {
    let (status, text) = match e {
        AdminError::NotFound => (StatusCode::BAD_REQUEST, c.a().err_unknown_email.to_owned()),
        AdminError::Forbidden => (StatusCode::FORBIDDEN, c.a().err_forbidden_action.to_owned()),
        AdminError::Invalid(bad) => (StatusCode::BAD_REQUEST, c.bad(&bad)),
        AdminError::Store(e) => return Err(PageError::internal(c.lang, e)),
        AdminError::Backend(e) => return Err(PageError::internal(c.lang, e)),
    };
    page(state, c, headers, status, None, Some(text), email).await
}
