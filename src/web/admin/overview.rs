//! `GET /admin`: the overview. Counts only, never a person's data; the tenant rows are
//! those the admin has a duty in.

use super::Console;
use super::texts::AdminTexts;
use crate::domain::client::SigningAlg;
use crate::web::i18n::Texts;
use crate::web::respond::{PageError, html, lang_switch};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

pub(super) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/admin", get(show))
}

/// A signing key older than this is worth a rotation.
const KEY_AGE_DAYS: i64 = 180;

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct Page {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    my_roles: Vec<(&'static str, String)>,
    /// Level, accounts, logins today.
    levels: Vec<(&'static str, i64, i64)>,
    /// Name, portals, messages sent, unread.
    tenants: Vec<(String, i64, i64, i64)>,
    attention: Vec<String>,
}

async fn show(State(state): State<AppState>, c: Console) -> Result<Response, PageError> {
    let (t, a, lang) = (c.t(), c.a(), c.lang);
    let fail = |e| PageError::internal(lang, e);
    let visible = state.admin.tenants(&c.actor).await.map_err(fail)?;
    let all = state.admin.all_tenant_names().await.map_err(fail)?;
    let my_roles = c
        .actor
        .grants
        .0
        .iter()
        .map(|g| {
            let tenant = g
                .tenant
                .and_then(|id| all.iter().find(|(t, _)| *t == id).map(|(_, n)| n.clone()))
                .unwrap_or_else(|| a.whole_verbund.to_owned());
            (a.role(g.role), tenant)
        })
        .collect();
    let counts = state.admin.overview(&visible).await.map_err(fail)?;
    let levels = ["low", "substantial", "high"]
        .into_iter()
        .map(|l| {
            let pick = |v: &[(String, i64)]| v.iter().find(|(n, _)| n == l).map_or(0, |(_, c)| *c);
            (a.level(l), pick(&counts.accounts), pick(&counts.logins))
        })
        .collect();
    let mut attention: Vec<String> = visible
        .iter()
        .filter(|t| t.disabled_at.is_some())
        .map(|t| format!("{} {}", a.ov_tenant_disabled, t.name))
        .collect();
    for (portal, n) in &counts.failing_backchannel {
        attention.push(format!("{} {portal}: {n}", a.ov_backchannel));
    }
    let keys = &state.provider.keys;
    let old = chrono::Utc::now() - chrono::Duration::days(KEY_AGE_DAYS);
    if c.actor.grants.is_verbund_admin()
        && [SigningAlg::RS256, SigningAlg::ES256]
            .into_iter()
            .any(|alg| keys.signing_since(alg).is_some_and(|since| since < old))
    {
        attention.push(a.ov_key_old.to_owned());
    }
    let page = Page {
        t,
        a,
        lang_switch: lang_switch(t, "/admin"),
        f: c.frame("start", None, None),
        my_roles,
        levels,
        tenants: counts.tenants,
        attention,
    };
    Ok(html(StatusCode::OK, &page))
}
