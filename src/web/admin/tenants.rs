//! `/admin/kommunen`: the tenants; create (Verbund admins), name and face (their Kommune
//! admins), disable (Verbund admins, fresh authentication).

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::admin::tenants::TenantProfile;
use crate::domain::role::{Duty, DutyKind};
use crate::web::extract::{CsrfForm, PagePath, Query, csrf_token};
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
        .route("/admin/kommunen", get(list).post(create))
        .route("/admin/kommunen/{slug}", get(show).post(save))
        .route("/admin/kommunen/{slug}/sperren", post(disable))
        .route(
            "/admin/kommunen/{slug}/logo",
            post(logo).layer(axum::extract::DefaultBodyLimit::max(LOGO_BODY)),
        )
}

struct Row {
    slug: String,
    name: String,
    disabled: bool,
    can_edit: bool,
}

#[derive(Template)]
#[template(path = "admin/tenants.html")]
struct ListPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    rows: Vec<Row>,
    verbund: bool,
    slug: String,
    name: String,
}

async fn list_page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    ok: Option<&str>,
    error: Option<String>,
    typed: (&str, &str),
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let configure = c.actor.grants.reach(DutyKind::Configure);
    let rows = state
        .admin
        .tenants(&c.actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .map(|t| Row {
            can_edit: configure.covers(t.id),
            slug: t.slug.as_str().to_owned(),
            name: t.name,
            disabled: t.disabled_at.is_some(),
        })
        .collect();
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let p = ListPage {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/kommunen"),
        f: c.frame("tenants", ok, error),
        csrf,
        rows,
        verbund: c.actor.grants.may(Duty::Verbund),
        slug: typed.0.to_owned(),
        name: typed.1.to_owned(),
    };
    Ok(with_cookies(html(status, &p), cookie))
}

/// `GET /admin/kommunen`.
async fn list(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    list_page(
        &state,
        &c,
        &headers,
        StatusCode::OK,
        q.get("ok"),
        None,
        ("", ""),
    )
    .await
}

/// `POST /admin/kommunen`: creates a tenant.
async fn create(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let (slug, name) = (
        form.get("slug").unwrap_or(""),
        form.get("name").unwrap_or(""),
    );
    match state.admin.create_tenant(&c.actor, slug, name).await {
        Ok(t) => Ok(see_other(
            &format!("/admin/kommunen/{}?ok=created", t.slug.as_str()),
            &[],
        )),
        Err(AdminError::Invalid(bad)) => {
            list_page(
                &state,
                &c,
                &headers,
                StatusCode::BAD_REQUEST,
                None,
                Some(c.bad(&bad)),
                (slug, name),
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/tenant.html")]
struct EditPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    slug: String,
    name: String,
    disabled: bool,
    verbund: bool,
    has_logo: bool,
    p: TenantProfile,
}

#[allow(clippy::too_many_arguments)]
async fn edit_page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    slug: &str,
    status: StatusCode,
    ok: Option<&str>,
    error: Option<String>,
    typed: Option<TenantProfile>,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let tenant = match state.admin.tenant(&c.actor, slug).await {
        Ok(t) => t,
        Err(e) => return Ok(c.fail(e)),
    };
    if !c.actor.grants.may(Duty::Configure(tenant.id)) {
        return Ok(c.fail(AdminError::Forbidden));
    }
    let p = typed.unwrap_or_else(|| TenantProfile {
        name: tenant.name.clone(),
        accent_color: tenant.accent_color.clone().unwrap_or_default(),
        support_contact: tenant.support_contact.clone().unwrap_or_default(),
        impressum_url: tenant.impressum_url.clone().unwrap_or_default(),
        privacy_url: tenant.privacy_url.clone().unwrap_or_default(),
    });
    let back = format!("/admin/kommunen/{}", tenant.slug.as_str());
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let page = EditPage {
        t,
        a,
        lang_switch: lang_switch(t, &back),
        f: c.frame("tenants", ok, error),
        csrf,
        slug: tenant.slug.as_str().to_owned(),
        name: tenant.name,
        disabled: tenant.disabled_at.is_some(),
        verbund: c.actor.grants.may(Duty::Verbund),
        has_logo: tenant.has_logo,
        p,
    };
    Ok(with_cookies(html(status, &page), cookie))
}

/// `GET /admin/kommunen/{slug}`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(slug): PagePath<String>,
    Query(q): Query,
) -> Result<Response, PageError> {
    edit_page(
        &state,
        &c,
        &headers,
        &slug,
        StatusCode::OK,
        q.get("ok"),
        None,
        None,
    )
    .await
}

/// `POST /admin/kommunen/{slug}`: name and face.
async fn save(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(slug): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let field = |n: &str| form.get(n).unwrap_or("").to_owned();
    let p = TenantProfile {
        name: field("name"),
        accent_color: field("accent_color"),
        support_contact: field("support_contact"),
        impressum_url: field("impressum_url"),
        privacy_url: field("privacy_url"),
    };
    match state.admin.update_tenant(&c.actor, &slug, &p).await {
        Ok(t) => Ok(see_other(
            &format!("/admin/kommunen/{}?ok=saved", t.slug.as_str()),
            &[],
        )),
        Err(AdminError::Invalid(bad)) => {
            edit_page(
                &state,
                &c,
                &headers,
                &slug,
                StatusCode::BAD_REQUEST,
                None,
                Some(c.bad(&bad)),
                Some(p),
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

/// `POST /admin/kommunen/{slug}/sperren`: disable (fresh authentication) or enable.
async fn disable(
    State(state): State<AppState>,
    c: Console,
    PagePath(slug): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let disable = form.get("action") != Some("enable");
    let back = format!("/admin/kommunen/{}", encode_slug(&slug));
    if disable && let Some(r) = c.require_fresh(&back, true) {
        return Ok(r);
    }
    match state
        .admin
        .set_tenant_disabled(&c.actor, &slug, disable)
        .await
    {
        Ok(()) => Ok(see_other(
            &format!("{back}?ok={}", if disable { "disabled" } else { "enabled" }),
            &[],
        )),
        Err(e) => Ok(c.fail(e)),
    }
}

/// A slug from the path, only if it could be one (it goes into a `Location`).
fn encode_slug(slug: &str) -> String {
    crate::domain::ids::TenantSlug::parse(slug)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

/// The upload form's body: the logo with room for the form around it.
const LOGO_BODY: usize = crate::domain::brand::MAX_LOGO + 16 * 1024;

/// `POST /admin/kommunen/{slug}/logo` (multipart): a new logo, or `remove`.
async fn logo(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(slug): PagePath<String>,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, PageError> {
    let malformed = || PageError::new(StatusCode::BAD_REQUEST, c.lang, |t| t.error_bad_request);
    let mut form = form.map_err(|_| malformed())?;
    let (mut csrf, mut file, mut remove) = (None, None, false);
    while let Some(field) = form.next_field().await.map_err(|_| malformed())? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(|_| malformed())?),
            Some("remove") => remove = true,
            Some("logo") => file = Some(field.bytes().await.map_err(|_| malformed())?),
            _ => {}
        }
    }
    if !crate::web::extract::csrf_matches(&headers, csrf.as_deref(), state.web.secure_cookies) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, |t| {
            t.err_csrf
        }));
    }
    let logo = if remove {
        None
    } else {
        Some(file.unwrap_or_default())
    };
    match state.admin.set_logo(&c.actor, &slug, logo.as_deref()).await {
        Ok(()) => Ok(see_other(
            &format!(
                "/admin/kommunen/{}?ok={}",
                encode_slug(&slug),
                if remove { "logo_removed" } else { "logo" }
            ),
            &[],
        )),
        Err(AdminError::Invalid(bad)) => {
            edit_page(
                &state,
                &c,
                &headers,
                &slug,
                StatusCode::BAD_REQUEST,
                None,
                Some(c.bad(&bad)),
                None,
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}
