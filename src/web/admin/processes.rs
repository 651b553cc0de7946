//! `/admin/verfahren`: the catalogue with search; the Verbund's levels and the tenants'
//! raises, with who changed them when.

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::domain::role::{Duty, DutyKind};
use crate::web::extract::{CsrfForm, Query, csrf_token};
use crate::web::i18n::Texts;
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/admin/verfahren", get(show).post(set))
}

struct Row {
    id: String,
    name: String,
    level: String,
    raises: Vec<String>,
    changed: String,
}

#[derive(Template)]
#[template(path = "admin/processes.html")]
struct Page {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    search: String,
    rows: Vec<Row>,
    verbund: bool,
    raise_tenants: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    search: &str,
    ok: Option<&str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let reach = c.actor.grants.reach(DutyKind::Configure);
    if reach.is_empty() {
        return Ok(c.fail(AdminError::Forbidden));
    }
    let fail = |e| PageError::internal(c.lang, e);
    let names: std::collections::HashMap<uuid::Uuid, String> = state
        .admin
        .all_tenant_names()
        .await
        .map_err(fail)?
        .into_iter()
        .map(|(id, n)| (id.0, n))
        .collect();
    let changed = |at, by: &Option<String>| {
        format!(
            "{} {} {}",
            crate::domain::civil::date_time(at),
            a.pr_by,
            by.as_deref().unwrap_or("–")
        )
    };
    let mut rows: Vec<Row> = Vec::new();
    for p in state
        .admin
        .processes(&c.actor, search)
        .await
        .map_err(fail)?
    {
        match p.tenant_id {
            None => rows.push(Row {
                id: p.id.clone(),
                name: p.name.clone(),
                level: if p.upstream_required {
                    format!("{} ({})", a.level(&p.level), a.pr_upstream_mark)
                } else {
                    a.level(&p.level).to_owned()
                },
                raises: Vec::new(),
                changed: changed(p.updated_at, &p.updated_by),
            }),
            Some(t) => {
                if let Some(row) = rows.last_mut().filter(|r| r.id == p.id) {
                    row.raises.push(format!(
                        "{}: {}{} ({})",
                        names.get(&t).map_or("?", String::as_str),
                        a.level(&p.level),
                        if p.upstream_required {
                            format!(", {}", a.pr_upstream_mark)
                        } else {
                            String::new()
                        },
                        changed(p.updated_at, &p.updated_by)
                    ));
                }
            }
        }
    }
    let raise_tenants = state
        .admin
        .tenants(&c.actor)
        .await
        .map_err(fail)?
        .into_iter()
        .filter(|t| reach.covers(t.id))
        .map(|t| (t.slug.as_str().to_owned(), t.name))
        .collect();
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = Page {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/verfahren"),
        f: c.frame("processes", ok, error),
        csrf,
        search: search.to_owned(),
        rows,
        verbund: c.actor.grants.may(Duty::Verbund),
        raise_tenants,
    };
    Ok(with_cookies(html(status, &p), cookie))
}

/// `GET /admin/verfahren[?q=]`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let search: String = q.get("q").unwrap_or("").chars().take(100).collect();
    page(
        &state,
        &c,
        &headers,
        StatusCode::OK,
        &search,
        q.get("ok"),
        None,
    )
    .await
}

/// `POST /admin/verfahren`: the Verbund's level (without `kommune`) or a tenant's raise.
async fn set(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let id = form.get("id").unwrap_or("").trim();
    match state
        .admin
        .set_process(
            &c.actor,
            id,
            form.get("name").unwrap_or(""),
            (
                form.get("level").unwrap_or(""),
                Some(form.get("upstream") == Some("1")),
            ),
            form.get("kommune"),
        )
        .await
    {
        Ok(()) => Ok(see_other("/admin/verfahren?ok=saved", &[])),
        Err(AdminError::Invalid(bad)) => {
            let error = Some(c.bad(&bad));
            page(
                &state,
                &c,
                &headers,
                StatusCode::BAD_REQUEST,
                "",
                None,
                error,
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}
