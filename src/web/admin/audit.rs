//! `/admin/protokoll`: the audit log with filters, and `/admin/protokoll.csv`, the same
//! selection as a CSV file (the export is itself audited).

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::admin::audit::{AuditQuery, EXPORT_ROWS, PAGE_ROWS};
use crate::domain::role::{DutyKind, Reach};
use crate::store::audit::AuditEntry;
use crate::web::extract::Query;
use crate::web::i18n::Texts;
use crate::web::respond::{PageError, html, lang_switch};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/protokoll", get(show))
        .route("/admin/protokoll.csv", get(export))
}

fn query_of(q: &crate::domain::params::Params) -> AuditQuery {
    let field = |n: &str| q.get(n).unwrap_or("").chars().take(200).collect();
    AuditQuery {
        tenant: field("kommune"),
        actor: field("actor"),
        kind: field("kind"),
        from: field("from"),
        until: field("until"),
    }
}

/// The query string that repeats the filter (for the CSV link).
fn query_string(q: &AuditQuery) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("kommune", &q.tenant),
        ("actor", &q.actor),
        ("kind", &q.kind),
        ("from", &q.from),
        ("until", &q.until),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let s = s.finish();
    if s.is_empty() { s } else { format!("?{s}") }
}

/// Slugs by tenant id, for naming the tenant of an entry.
async fn slugs(state: &AppState) -> Result<HashMap<uuid::Uuid, String>, AdminError> {
    Ok(state
        .admin
        .all_tenant_slugs()
        .await?
        .into_iter()
        .map(|(id, slug)| (id.0, slug))
        .collect())
}

/// One entry as cells: when, kind, tenant, actor, account, client, detail.
fn cells(e: &AuditEntry, slugs: &HashMap<uuid::Uuid, String>) -> [String; 7] {
    let actor = e.actor_email.clone().unwrap_or_else(|| {
        e.detail
            .0
            .get("actor")
            .and_then(|a| a.as_str())
            .unwrap_or("")
            .to_owned()
    });
    [
        crate::domain::civil::date_time(e.at),
        e.kind.clone(),
        e.tenant_id
            .and_then(|t| slugs.get(&t).cloned())
            .unwrap_or_default(),
        actor,
        e.account_email
            .clone()
            .or_else(|| e.account_id.map(|a| a.to_string()))
            .unwrap_or_default(),
        e.client_id.clone().unwrap_or_default(),
        e.detail.0.to_string(),
    ]
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct Page {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    q: AuditQuery,
    query: String,
    tenants: Vec<(String, String)>,
    all_tenants: bool,
    rows: Vec<[String; 7]>,
}

/// `GET /admin/protokoll`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    Query(params): Query,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let q = query_of(&params);
    let (status, rows, error) = match state.admin.audit_log(&c.actor, &q, PAGE_ROWS).await {
        Ok((_, rows)) => (StatusCode::OK, rows, None),
        Err(AdminError::Invalid(bad)) => (StatusCode::BAD_REQUEST, Vec::new(), Some(c.bad(&bad))),
        Err(e) => return Ok(c.fail(e)),
    };
    let slugs = slugs(&state)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let reach = c.actor.grants.reach(DutyKind::ReadAudit);
    let tenants = state
        .admin
        .tenants(&c.actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .filter(|t| reach.covers(t.id))
        .map(|t| (t.slug.as_str().to_owned(), t.name))
        .collect();
    let page = Page {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/protokoll"),
        f: c.frame("audit", None, error),
        query: query_string(&q),
        q,
        tenants,
        all_tenants: reach == Reach::All,
        rows: rows.iter().map(|e| cells(e, &slugs)).collect(),
    };
    Ok(html(status, &page))
}

/// A CSV field: quoted, quotes doubled, and a leading `=`, `+`, `-`, `@`, tab or carriage
/// return defused with an apostrophe (spreadsheets would run it as a formula).
fn csv_field(s: &str) -> String {
    let defused = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// `GET /admin/protokoll.csv`: the same selection, up to 10,000 entries.
async fn export(
    State(state): State<AppState>,
    c: Console,
    Query(params): Query,
) -> Result<Response, PageError> {
    let q = query_of(&params);
    let (filter, rows) = match state.admin.audit_log(&c.actor, &q, EXPORT_ROWS).await {
        Ok(r) => r,
        Err(e) => return Ok(c.fail(e)),
    };
    state
        .admin
        .audit_exported(&c.actor, &filter, rows.len())
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let slugs = slugs(&state)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let mut out = String::from("at,kind,tenant,actor,account,client_id,detail\r\n");
    for e in &rows {
        let mut cells = cells(e, &slugs);
        cells[0] = e.at.to_rfc3339();
        let line: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"buergerkonto-protokoll.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "\"'-1\"");
        assert_eq!(csv_field("admin.role_granted"), "\"admin.role_granted\"");
    }
}
