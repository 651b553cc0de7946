//! `/admin/portale`: portals and authority systems of the tenants the admin configures.
//! Creating one and rotating a secret reveal a secret (fresh authentication, shown once);
//! disabling and deleting need it too.

use super::Console;
use super::texts::AdminTexts;
use crate::admin::AdminError;
use crate::domain::client::{Client, ClientAuthMethod, GrantType, SubjectType};
use crate::domain::params::Params;
use crate::registry::NewClient;
use crate::store::clients::ClientRecord;
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
        .route("/admin/portale", get(list).post(create))
        .route("/admin/portale/neu", get(new_form))
        .route("/admin/portale/{id}", get(show).post(save))
        .route("/admin/portale/{id}/geheimnis", post(rotate))
        .route("/admin/portale/{id}/rueckruf", post(callback))
        .route(
            "/admin/portale/{id}/rueckruf/{event}/erneut",
            post(redeliver),
        )
        .route("/admin/portale/{id}/themen", post(add_topic))
        .route("/admin/portale/{id}/themen/{topic}", post(switch_topic))
        .route("/admin/portale/{id}/sperren", post(disable))
        .route("/admin/portale/{id}/loeschen", post(delete))
}

/// The form's values as typed (or as stored).
#[derive(Default)]
struct Values {
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: String,
    scopes: String,
    grant_code: bool,
    grant_refresh: bool,
    grant_cc: bool,
    default_level: String,
    subject_type: String,
    public: bool,
}

impl Values {
    fn from_form(f: &Params) -> Self {
        let text = |n: &str| f.get(n).unwrap_or("").to_owned();
        let on = |n: &str| f.get(n).is_some();
        Self {
            name: text("name"),
            redirect_uris: text("redirect_uris"),
            post_logout_redirect_uris: text("post_logout_redirect_uris"),
            backchannel_logout_uri: text("backchannel_logout_uri"),
            scopes: text("scopes"),
            grant_code: on("grant_authorization_code"),
            grant_refresh: on("grant_refresh_token"),
            grant_cc: on("grant_client_credentials"),
            default_level: text("default_level"),
            subject_type: text("subject_type"),
            public: on("public"),
        }
    }

    fn from_client(c: &Client) -> Self {
        let lines = |v: &[crate::domain::client::RedirectUri]| {
            v.iter().map(|u| u.as_str()).collect::<Vec<_>>().join("\n")
        };
        Self {
            name: c.name.clone(),
            redirect_uris: lines(&c.redirect_uris),
            post_logout_redirect_uris: lines(&c.post_logout_redirect_uris),
            backchannel_logout_uri: c
                .backchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            scopes: c.scopes.to_vec().join(" "),
            grant_code: c.allows_grant(GrantType::AuthorizationCode),
            grant_refresh: c.allows_grant(GrantType::RefreshToken),
            grant_cc: c.allows_grant(GrantType::ClientCredentials),
            default_level: c
                .default_level
                .map(|l| l.name().to_owned())
                .unwrap_or_default(),
            subject_type: match c.subject_type {
                SubjectType::Public => "public".into(),
                SubjectType::Pairwise => "pairwise".into(),
            },
            public: c.is_public(),
        }
    }

    fn request(&self) -> NewClient {
        let lines = |s: &str| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut grant_types = Vec::new();
        for (on, g) in [
            (self.grant_code, "authorization_code"),
            (self.grant_refresh, "refresh_token"),
            (self.grant_cc, "client_credentials"),
        ] {
            if on {
                grant_types.push(g.to_owned());
            }
        }
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        NewClient {
            name: self.name.clone(),
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            public: self.public,
            grant_types,
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            subject_type: opt(&self.subject_type),
            backchannel_logout_uri: opt(&self.backchannel_logout_uri),
            default_level: opt(&self.default_level),
            ..NewClient::default()
        }
    }
}

fn kind(a: &AdminTexts, c: &Client) -> &'static str {
    if c.is_public() {
        a.kind_public
    } else if c.redirect_uris.is_empty() {
        a.kind_system
    } else {
        a.kind_portal
    }
}

fn last_use(a: &AdminTexts, r: &ClientRecord) -> String {
    r.last_used_at
        .map_or_else(|| a.never.to_owned(), crate::domain::civil::date_time)
}

fn state_of(a: &AdminTexts, r: &ClientRecord) -> &'static str {
    if r.disabled_at.is_some() || r.tenant_disabled {
        a.state_disabled
    } else {
        a.state_active
    }
}

struct Row {
    id: String,
    name: String,
    kind: &'static str,
    state: &'static str,
    last_use: String,
}

struct Group {
    slug: String,
    name: String,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ListPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    groups: Vec<Group>,
}

/// `GET /admin/portale[?kommune=slug]`.
async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let groups = match state.admin.clients(&c.actor, q.get("kommune")).await {
        Ok(g) => g,
        Err(e) => return Ok(c.fail(e)),
    };
    if groups.is_empty() {
        return Ok(c.fail(AdminError::Forbidden));
    }
    let groups = groups
        .into_iter()
        .map(|(tenant, clients)| Group {
            slug: tenant.slug.as_str().to_owned(),
            name: tenant.name,
            rows: clients
                .iter()
                .map(|r| Row {
                    id: r.client.id.as_str().to_owned(),
                    name: r.client.name.clone(),
                    kind: kind(a, &r.client),
                    state: state_of(a, r),
                    last_use: last_use(a, r),
                })
                .collect(),
        })
        .collect();
    let page = ListPage {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/portale"),
        f: c.frame("clients", q.get("ok"), None),
        groups,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "admin/client_new.html")]
struct NewPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    tenant_slug: String,
    tenant_name: String,
    v: Values,
}

async fn new_page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    slug: &str,
    status: StatusCode,
    error: Option<String>,
    v: Values,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let tenant = match state.admin.tenant(&c.actor, slug).await {
        Ok(t)
            if c.actor
                .grants
                .may(crate::domain::role::Duty::Configure(t.id)) =>
        {
            t
        }
        Ok(_) => return Ok(c.fail(AdminError::Forbidden)),
        Err(e) => return Ok(c.fail(e)),
    };
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let page = NewPage {
        t,
        a,
        lang_switch: lang_switch(t, "/admin/portale"),
        f: c.frame("clients", None, error),
        csrf,
        tenant_slug: tenant.slug.as_str().to_owned(),
        tenant_name: tenant.name,
        v,
    };
    Ok(with_cookies(html(status, &page), cookie))
}

/// `GET /admin/portale/neu?kommune=slug`: the form (after a fresh factor: its answer shows
/// the secret).
async fn new_form(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let slug = q.get("kommune").unwrap_or("");
    if crate::domain::ids::TenantSlug::parse(slug).is_err() {
        return Ok(c.fail(AdminError::NotFound));
    }
    // The step-up returns to a plain path: the list, where the link is offered again.
    if let Some(r) = c.require_fresh("/admin/portale", false) {
        return Ok(r);
    }
    let v = Values {
        grant_code: true,
        scopes: "openid email".into(),
        ..Values::default()
    };
    new_page(&state, &c, &headers, slug, StatusCode::OK, None, v).await
}

#[derive(Template)]
#[template(path = "admin/client_secret.html")]
struct SecretPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    id: String,
    name: String,
    secret: Option<String>,
    /// Which secret: the client's own (`client-secret`) or its callback's
    /// (`callback-secret`), with its title and what to do with it.
    kind: &'static str,
    title: &'static str,
    label: &'static str,
    text: &'static str,
}

fn secret_page(c: &Console, client: &Client, secret: Option<String>) -> Response {
    let a = c.a();
    let what = (
        "client-secret",
        a.cl_secret_title,
        a.cl_secret_label,
        a.cl_secret_text,
    );
    shown_once(c, client, secret, what)
}

/// A page that shows a secret once.
fn shown_once(
    c: &Console,
    client: &Client,
    secret: Option<String>,
    (kind, title, label, text): (&'static str, &'static str, &'static str, &'static str),
) -> Response {
    let t = c.t();
    let page = SecretPage {
        t,
        a: c.a(),
        lang_switch: lang_switch(t, "/admin/portale"),
        f: c.frame("clients", None, None),
        id: client.id.as_str().to_owned(),
        name: client.name.clone(),
        secret,
        kind,
        title,
        label,
        text,
    };
    html(StatusCode::OK, &page)
}

/// `POST /admin/portale`: registers the client; the answer shows the secret once.
async fn create(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = c.require_fresh("/admin/portale", true) {
        return Ok(r);
    }
    let slug = form.get("kommune").unwrap_or("").to_owned();
    let v = Values::from_form(&form);
    match state
        .admin
        .create_client(&c.actor, &slug, v.request())
        .await
    {
        Ok((client, secret)) => Ok(secret_page(&c, &client, secret)),
        Err(AdminError::Invalid(bad)) => {
            let error = Some(c.bad(&bad));
            new_page(
                &state,
                &c,
                &headers,
                &slug,
                StatusCode::BAD_REQUEST,
                error,
                v,
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/client.html")]
struct ShowPage {
    t: &'static Texts,
    a: &'static AdminTexts,
    lang_switch: String,
    f: super::Frame,
    csrf: String,
    id: String,
    name: String,
    tenant_name: String,
    kind: &'static str,
    auth_method: &'static str,
    state: &'static str,
    disabled: bool,
    tenant_disabled: bool,
    created_at: String,
    last_use: String,
    previous_until: Option<String>,
    has_secret: bool,
    v: Values,
    /// For authority systems (scope `mailbox.send`): the callback section.
    mailbox_system: bool,
    callback: Option<crate::mailbox::callback::Target>,
    oldest_pending: Option<String>,
    dead: Vec<DeadRow>,
    /// The contact topics this system receives.
    topics: Vec<crate::admin::topics::TopicView>,
    tenant_slug: String,
}

/// A given-up callback delivery as the console lists it.
struct DeadRow {
    id: uuid::Uuid,
    kind: String,
    created_at: String,
    attempts: i32,
    error: String,
}

#[allow(clippy::too_many_arguments)]
async fn show_page(
    state: &AppState,
    c: &Console,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    ok: Option<&str>,
    error: Option<String>,
    typed: Option<Values>,
) -> Result<Response, PageError> {
    let (t, a) = (c.t(), c.a());
    let r = match state.admin.client(&c.actor, id).await {
        Ok(r) => r,
        Err(e) => return Ok(c.fail(e)),
    };
    let tenant_name = state
        .admin
        .all_tenant_names()
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .find(|(tid, _)| *tid == r.client.tenant_id)
        .map(|(_, n)| n)
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let mailbox_system = r.client.scopes.iter().any(|s| s == "mailbox.send");
    let (callback, dead) = if mailbox_system {
        let target = match state.admin.callback(&c.actor, id).await {
            Ok(t) => t,
            Err(e) => return Ok(c.fail(e)),
        };
        let dead = match state
            .admin
            .callback_deliveries(&c.actor, id, "dead", 50)
            .await
        {
            Ok(d) => d,
            Err(e) => return Ok(c.fail(e)),
        };
        let dead = dead
            .into_iter()
            .map(|d| DeadRow {
                id: d.id,
                kind: d.kind.rsplit(':').next().unwrap_or_default().to_owned(),
                created_at: crate::domain::civil::date_time(d.created_at),
                attempts: d.attempts,
                error: d.last_error.unwrap_or_default(),
            })
            .collect();
        (target, dead)
    } else {
        (None, Vec::new())
    };
    let tenant_slug = state
        .admin
        .tenant_slug(r.client.tenant_id)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let topics = if mailbox_system {
        match state.admin.topics(&c.actor, Some(&tenant_slug)).await {
            Ok(ts) => ts
                .into_iter()
                .filter(|t| t.client_id == r.client.id.as_str())
                .collect(),
            Err(e) => return Ok(c.fail(e)),
        }
    } else {
        Vec::new()
    };
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let back = format!("/admin/portale/{}", r.client.id.as_str());
    let page = ShowPage {
        t,
        a,
        lang_switch: lang_switch(t, &back),
        f: c.frame("clients", ok, error),
        csrf,
        id: r.client.id.as_str().to_owned(),
        name: r.client.name.clone(),
        tenant_name,
        kind: kind(a, &r.client),
        auth_method: r.client.auth_method.as_str(),
        state: state_of(a, &r),
        disabled: r.disabled_at.is_some(),
        tenant_disabled: r.tenant_disabled,
        created_at: crate::domain::civil::date_time(r.created_at),
        last_use: last_use(a, &r),
        previous_until: r
            .client
            .previous_secret
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(_, until)| crate::domain::civil::date_time(*until)),
        has_secret: matches!(
            r.client.auth_method,
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
        ),
        v: typed.unwrap_or_else(|| Values::from_client(&r.client)),
        mailbox_system,
        oldest_pending: callback
            .as_ref()
            .and_then(|t| t.oldest_pending_at)
            .map(crate::domain::civil::date_time),
        callback,
        dead,
        topics,
        tenant_slug,
    };
    Ok(with_cookies(html(status, &page), cookie))
}

/// `GET /admin/portale/{id}`.
async fn show(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    Query(q): Query,
) -> Result<Response, PageError> {
    show_page(
        &state,
        &c,
        &headers,
        &id,
        StatusCode::OK,
        q.get("ok"),
        None,
        None,
    )
    .await
}

/// `POST /admin/portale/{id}`: the settings.
async fn save(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let v = Values::from_form(&form);
    match state.admin.update_client(&c.actor, &id, v.request()).await {
        Ok(client) => Ok(see_other(
            &format!("/admin/portale/{}?ok=saved", client.id.as_str()),
            &[],
        )),
        Err(AdminError::Invalid(bad)) => {
            let error = Some(c.bad(&bad));
            show_page(
                &state,
                &c,
                &headers,
                &id,
                StatusCode::BAD_REQUEST,
                None,
                error,
                Some(v),
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

/// The client page's path for a `Location` or a step-up: only for an id that could be one.
fn back_to(id: &str) -> String {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        format!("/admin/portale/{id}")
    } else {
        "/admin/portale".into()
    }
}

/// `POST /admin/portale/{id}/geheimnis`: a new secret, shown once.
async fn rotate(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = c.require_fresh(&back_to(&id), true) {
        return Ok(r);
    }
    let Ok(overlap) = form
        .get("overlap_hours")
        .unwrap_or("0")
        .trim()
        .parse::<u32>()
    else {
        return Ok(c.fail(AdminError::Invalid(crate::admin::Bad::Overlap)));
    };
    match state.admin.rotate_secret(&c.actor, &id, overlap).await {
        Ok(secret) => {
            let r = match state.admin.client(&c.actor, &id).await {
                Ok(r) => r,
                Err(e) => return Ok(c.fail(e)),
            };
            Ok(secret_page(&c, &r.client, Some(secret)))
        }
        Err(e) => Ok(c.fail(e)),
    }
}

/// `POST /admin/portale/{id}/rueckruf`: set the callback URL (and secret), generate a new
/// secret, or remove it. Each needs fresh authentication; a generated secret is shown once.
async fn callback(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    // Every change of where a system hears of its messages needs fresh authentication,
    // removing it too (as disabling the system does).
    if let Some(r) = c.require_fresh(&back_to(&id), true) {
        return Ok(r);
    }
    let action = form.get("action").unwrap_or("save");
    if action == "clear" {
        return Ok(match state.admin.clear_callback(&c.actor, &id).await {
            Ok(()) => see_other(&format!("{}?ok=callback_removed", back_to(&id)), &[]),
            Err(e) => c.fail(e),
        });
    }
    let url = form.get("url").unwrap_or("").trim().to_owned();
    let secret = form.get("secret").map(str::trim).filter(|s| !s.is_empty());
    match state
        .admin
        .set_callback(&c.actor, &id, &url, secret, action == "new_secret")
        .await
    {
        Ok(None) => Ok(see_other(&format!("{}?ok=callback", back_to(&id)), &[])),
        Ok(Some(generated)) => {
            let r = match state.admin.client(&c.actor, &id).await {
                Ok(r) => r,
                Err(e) => return Ok(c.fail(e)),
            };
            let a = c.a();
            Ok(shown_once(
                &c,
                &r.client,
                Some(generated),
                (
                    "callback-secret",
                    a.cb_secret_title,
                    a.cb_secret_title,
                    a.cb_secret_text,
                ),
            ))
        }
        Err(AdminError::Invalid(bad)) => {
            let error = Some(c.bad(&bad));
            show_page(
                &state,
                &c,
                &headers,
                &id,
                StatusCode::BAD_REQUEST,
                None,
                error,
                None,
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

/// `POST /admin/portale/{id}/rueckruf/{event}/erneut`: re-queue a given-up delivery.
async fn redeliver(
    State(state): State<AppState>,
    c: Console,
    PagePath((id, event)): PagePath<(String, uuid::Uuid)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    Ok(
        match state.admin.redeliver_callback(&c.actor, &id, event).await {
            Ok(()) => see_other(&format!("{}?ok=requeued", back_to(&id)), &[]),
            Err(e) => c.fail(e),
        },
    )
}

/// `POST /admin/portale/{id}/themen`: a contact topic received by this system.
async fn add_topic(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let text = |n: &str| form.get(n).unwrap_or("").to_owned();
    let new = crate::admin::topics::NewTopic {
        tenant: text("tenant"),
        slug: text("slug"),
        name: text("name"),
        process: Some(text("process")),
        client_id: id.clone(),
        required_level: Some(text("level")),
    };
    match state.admin.create_topic(&c.actor, new).await {
        Ok(_) => Ok(see_other(&format!("{}?ok=topic#themen", back_to(&id)), &[])),
        Err(AdminError::Invalid(bad)) => {
            let error = Some(c.bad(&bad));
            show_page(
                &state,
                &c,
                &headers,
                &id,
                StatusCode::BAD_REQUEST,
                None,
                error,
                None,
            )
            .await
        }
        Err(e) => Ok(c.fail(e)),
    }
}

/// `POST /admin/portale/{id}/themen/{topic}` with `action=disable|enable`.
async fn switch_topic(
    State(state): State<AppState>,
    c: Console,
    PagePath((id, topic)): PagePath<(String, uuid::Uuid)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let disabled = form.get("action") != Some("enable");
    Ok(
        match state
            .admin
            .set_topic_disabled(&c.actor, topic, disabled)
            .await
        {
            Ok(()) => see_other(&format!("{}?ok=topic#themen", back_to(&id)), &[]),
            Err(e) => c.fail(e),
        },
    )
}

/// `POST /admin/portale/{id}/sperren`: disable (fresh authentication) or enable.
async fn disable(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let disable = form.get("action") != Some("enable");
    let back = back_to(&id);
    if disable && let Some(r) = c.require_fresh(&back, true) {
        return Ok(r);
    }
    match state
        .admin
        .set_client_disabled(&c.actor, &id, disable)
        .await
    {
        Ok(()) => Ok(see_other(
            &format!("{back}?ok={}", if disable { "disabled" } else { "enabled" }),
            &[],
        )),
        Err(e) => Ok(c.fail(e)),
    }
}

/// `POST /admin/portale/{id}/loeschen`: deletes (confirmed, fresh authentication).
async fn delete(
    State(state): State<AppState>,
    c: Console,
    headers: HeaderMap,
    PagePath(id): PagePath<String>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    if let Some(r) = c.require_fresh(&back_to(&id), true) {
        return Ok(r);
    }
    if form.get("confirm") != Some("yes") {
        let error = Some(c.a().cl_delete_unconfirmed.to_owned());
        return show_page(
            &state,
            &c,
            &headers,
            &id,
            StatusCode::BAD_REQUEST,
            None,
            error,
            None,
        )
        .await;
    }
    match state.admin.delete_client(&c.actor, &id).await {
        Ok(()) => Ok(see_other("/admin/portale?ok=deleted", &[])),
        Err(e) => Ok(c.fail(e)),
    }
}
