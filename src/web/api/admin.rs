//! The administration API (`/api/v1/admin/...`): the console's operations for systems, with
//! a `client_credentials` token whose scopes carry the roles. `admin.verbund` acts as a
//! Verbund admin (only a Verbund admin can give a client that scope), `admin.tenant` as a
//! Kommune admin of the calling client's own tenant, `admin.audit` as that tenant's auditor.
//! Every call goes through [`crate::admin::Admin`]: the same rules and the same audit (the
//! actor is the client) as the console and the CLI.

use crate::admin::audit::{AuditQuery, PAGE_ROWS};
use crate::admin::clients::ClientChanges;
use crate::admin::tenants::TenantChanges;
use crate::admin::{Actor, AdminError};
use crate::domain::role::{Grant, Grants, Role};
use crate::registry::NewClient;
use crate::web::extract::{ApiJson, ApiPath, ApiQuery, ServiceCaller, need};
use crate::web::respond::ApiError;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;

pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/admin/tenants", get(tenants).post(create_tenant))
        .route(
            "/api/v1/admin/tenants/{slug}",
            get(tenant).patch(update_tenant),
        )
        .route("/api/v1/admin/clients", get(clients).post(create_client))
        .route(
            "/api/v1/admin/clients/{id}",
            get(client).patch(update_client).delete(delete_client),
        )
        .route("/api/v1/admin/clients/{id}/secret", post(rotate_secret))
        .route("/api/v1/admin/clients/{id}/disable", post(disable_client))
        .route("/api/v1/admin/clients/{id}/enable", post(enable_client))
        .route("/api/v1/admin/audit", get(audit))
        .route("/api/v1/admin/accounts/lookup", post(lookup_account))
        .route(
            "/api/v1/admin/accounts/{id}",
            axum::routing::delete(delete_account),
        )
        .route("/api/v1/admin/accounts/{id}/disable", post(disable_account))
        .route("/api/v1/admin/accounts/{id}/enable", post(enable_account))
}

/// The roles a token's scopes carry.
pub(super) fn actor(caller: &ServiceCaller<need::Admin>) -> Actor {
    let tenant = Some(caller.client.tenant_id);
    let mut grants = Vec::new();
    for (scope, role) in [
        ("admin.verbund", Role::VerbundAdmin),
        ("admin.tenant", Role::KommuneAdmin),
        ("admin.audit", Role::Auditor),
    ] {
        if caller.scopes.contains(scope) {
            let tenant = if role == Role::VerbundAdmin {
                None
            } else {
                tenant
            };
            grants.push(Grant { role, tenant });
        }
    }
    Actor {
        account: None,
        client: Some(caller.client.id.clone()),
        label: format!("client:{}", caller.client.id.as_str()),
        grants: Grants(grants),
    }
}

pub(super) fn problem(e: AdminError) -> ApiError {
    match e {
        AdminError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not found"),
        AdminError::Forbidden => ApiError::new(
            StatusCode::FORBIDDEN,
            "the token's scopes do not allow this",
        ),
        AdminError::Invalid(bad) => ApiError::new(StatusCode::BAD_REQUEST, bad.en()),
        AdminError::Store(e) => ApiError::internal(e),
        AdminError::Backend(e) => ApiError::internal(e),
    }
}

use crate::admin::json::{ClientView as ClientOut, TenantView as TenantOut};

/// `GET /api/v1/admin/tenants`: the tenants the token may see.
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin",
    responses((status = 200, body = Vec<TenantOut>), (status = 401, body = crate::web::respond::Problem), (status = 403, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant", "admin.audit"])))]
pub async fn tenants(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
) -> Result<Json<Vec<TenantOut>>, ApiError> {
    let list = state
        .admin
        .tenants(&actor(&caller))
        .await
        .map_err(problem)?;
    Ok(Json(list.iter().map(TenantOut::from).collect()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    #[schema(example = "gemeinde-beispielheim")]
    slug: String,
    #[schema(example = "Gemeinde Beispielheim")]
    name: String,
}

/// `POST /api/v1/admin/tenants` (`admin.verbund`).
#[utoipa::path(post, path = "/api/v1/admin/tenants", tag = "admin", request_body = NewTenant,
    responses((status = 201, body = TenantOut), (status = 400, body = crate::web::respond::Problem), (status = 403, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund"])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiJson(req): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<TenantOut>), ApiError> {
    let t = state
        .admin
        .create_tenant(&actor(&caller), &req.slug, &req.name)
        .await
        .map_err(problem)?;
    Ok((StatusCode::CREATED, Json(TenantOut::from(&t))))
}

/// `GET /api/v1/admin/tenants/{slug}`.
#[utoipa::path(get, path = "/api/v1/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path)),
    responses((status = 200, body = TenantOut), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant", "admin.audit"])))]
pub async fn tenant(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<TenantOut>, ApiError> {
    let t = state
        .admin
        .tenant(&actor(&caller), &slug)
        .await
        .map_err(problem)?;
    Ok(Json(TenantOut::from(&t)))
}

/// `PATCH /api/v1/admin/tenants/{slug}` (its Kommune admin or the Verbund): what is absent
/// stays, an empty string clears.
#[utoipa::path(patch, path = "/api/v1/admin/tenants/{slug}", tag = "admin", params(("slug" = String, Path)),
    request_body = TenantChanges,
    responses((status = 200, body = TenantOut), (status = 400, body = crate::web::respond::Problem), (status = 403, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn update_tenant(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(changes): ApiJson<TenantChanges>,
) -> Result<Json<TenantOut>, ApiError> {
    let t = state
        .admin
        .change_tenant(&actor(&caller), &slug, changes)
        .await
        .map_err(problem)?;
    Ok(Json(TenantOut::from(&t)))
}

/// `GET /api/v1/admin/clients[?tenant=slug]`: the clients of the tenants the token
/// configures.
#[utoipa::path(get, path = "/api/v1/admin/clients", tag = "admin",
    params(("tenant" = Option<String>, Query, description = "A tenant slug")),
    responses((status = 200, body = Vec<ClientOut>), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn clients(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiQuery(q): ApiQuery,
) -> Result<Json<Vec<ClientOut>>, ApiError> {
    let groups = state
        .admin
        .clients(&actor(&caller), q.get("tenant"))
        .await
        .map_err(problem)?;
    Ok(Json(
        groups
            .iter()
            .flat_map(|(_, cs)| cs.iter().map(ClientOut::from))
            .collect(),
    ))
}

/// A registration: the tenant (its own for `admin.tenant`) and the client's metadata.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewAdminClient {
    #[schema(example = "gemeinde-beispielheim")]
    tenant: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    client: NewClient,
}

/// The credentials of a new or rotated client, shown once.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Credentials {
    client_id: String,
    client_secret: Option<String>,
}

/// `POST /api/v1/admin/clients`: registers a client; the secret is in the answer only.
#[utoipa::path(post, path = "/api/v1/admin/clients", tag = "admin", request_body = NewAdminClient,
    responses((status = 201, body = Credentials), (status = 400, body = crate::web::respond::Problem), (status = 403, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn create_client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiJson(req): ApiJson<NewAdminClient>,
) -> Result<(StatusCode, Json<Credentials>), ApiError> {
    let actor = actor(&caller);
    let tenant = match req.tenant {
        Some(slug) => slug,
        None => state
            .catalogue
            .tenant_by_id(caller.client.tenant_id)
            .await
            .map_err(ApiError::internal)?
            .slug
            .as_str()
            .to_owned(),
    };
    let (c, secret) = state
        .admin
        .create_client(&actor, &tenant, req.client)
        .await
        .map_err(problem)?;
    Ok((
        StatusCode::CREATED,
        Json(Credentials {
            client_id: c.id.as_str().to_owned(),
            client_secret: secret,
        }),
    ))
}

/// `GET /api/v1/admin/clients/{id}`.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = ClientOut), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClientOut>, ApiError> {
    let c = state
        .admin
        .client(&actor(&caller), &id)
        .await
        .map_err(problem)?;
    Ok(Json(ClientOut::from(&c)))
}

/// `PATCH /api/v1/admin/clients/{id}`: under the registration's rules; what is absent stays.
#[utoipa::path(patch, path = "/api/v1/admin/clients/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = ClientChanges,
    responses((status = 200, body = ClientOut), (status = 400, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn update_client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
    ApiJson(changes): ApiJson<ClientChanges>,
) -> Result<Json<ClientOut>, ApiError> {
    let c = state
        .admin
        .change_client(&actor(&caller), &id, changes)
        .await
        .map_err(problem)?;
    Ok(Json(ClientOut::from(&c)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// How long the old secret keeps working (0 to 720 hours).
    #[schema(example = 24)]
    overlap_hours: u32,
}

/// `POST /api/v1/admin/clients/{id}/secret`: a new secret, in the answer only.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/secret", tag = "admin", params(("id" = String, Path)),
    request_body = Rotation,
    responses((status = 200, body = Credentials), (status = 400, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
    ApiJson(r): ApiJson<Rotation>,
) -> Result<Json<Credentials>, ApiError> {
    let secret = state
        .admin
        .rotate_secret(&actor(&caller), &id, r.overlap_hours)
        .await
        .map_err(problem)?;
    Ok(Json(Credentials {
        client_id: id,
        client_secret: Some(secret),
    }))
}

/// `POST /api/v1/admin/clients/{id}/disable`.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/disable", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn disable_client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_client_disabled(&actor(&caller), &id, true)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/admin/clients/{id}/enable`.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/enable", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn enable_client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_client_disabled(&actor(&caller), &id, false)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/admin/clients/{id}`.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .delete_client(&actor(&caller), &id)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// One audit entry.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditOut {
    at: chrono::DateTime<chrono::Utc>,
    kind: String,
    tenant_id: Option<uuid::Uuid>,
    actor: Option<String>,
    account_id: Option<uuid::Uuid>,
    client_id: Option<String>,
    #[schema(value_type = Object)]
    detail: Value,
}

/// `GET /api/v1/admin/audit`: the newest 200 entries that match, within the token's reach.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    params(
        ("tenant" = Option<String>, Query, description = "A tenant slug (required for a tenant's token)"),
        ("actor" = Option<String>, Query, description = "The e-mail address of the admin who acted"),
        ("kind" = Option<String>, Query, description = "A prefix of the event type, e.g. admin."),
        ("from" = Option<String>, Query, description = "YYYY-MM-DD, German civil day, inclusive"),
        ("until" = Option<String>, Query, description = "YYYY-MM-DD, inclusive"),
    ),
    responses((status = 200, body = Vec<AuditOut>), (status = 400, body = crate::web::respond::Problem), (status = 403, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant", "admin.audit"])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiQuery(q): ApiQuery,
) -> Result<Json<Vec<AuditOut>>, ApiError> {
    let field = |n: &str| q.get(n).unwrap_or("").chars().take(200).collect();
    let query = AuditQuery {
        tenant: field("tenant"),
        actor: field("actor"),
        kind: field("kind"),
        from: field("from"),
        until: field("until"),
    };
    let (_, rows) = state
        .admin
        .audit_log(&actor(&caller), &query, PAGE_ROWS)
        .await
        .map_err(problem)?;
    Ok(Json(
        rows.into_iter()
            .map(|e| AuditOut {
                actor: e.actor_email.clone().or_else(|| {
                    e.detail
                        .0
                        .get("actor")
                        .and_then(|a| a.as_str())
                        .map(str::to_owned)
                }),
                at: e.at,
                kind: e.kind,
                tenant_id: e.tenant_id,
                account_id: e.account_id,
                client_id: e.client_id,
                detail: e.detail.0,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    #[schema(example = "erika@example.org")]
    email: String,
}

/// An account as the Verbund's administration sees it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AccountOut {
    id: uuid::Uuid,
    email: String,
    email_verified: bool,
    #[schema(example = "substantial")]
    proofing_level: String,
    created_at: chrono::DateTime<chrono::Utc>,
    disabled: bool,
}

/// `POST /api/v1/admin/accounts/lookup` (`admin.verbund`): the account with an address (a
/// POST, so the address stays out of URLs and logs).
#[utoipa::path(post, path = "/api/v1/admin/accounts/lookup", tag = "admin", request_body = Lookup,
    responses((status = 200, body = AccountOut), (status = 403, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund"])))]
pub async fn lookup_account(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiJson(req): ApiJson<Lookup>,
) -> Result<Json<AccountOut>, ApiError> {
    let (a, disabled) = state
        .admin
        .account_by_email(&actor(&caller), &req.email)
        .await
        .map_err(problem)?;
    Ok(Json(AccountOut {
        id: a.id.0,
        email: a.email.as_str().to_owned(),
        email_verified: a.email_verified,
        proofing_level: a.proofing.name().to_owned(),
        created_at: a.created_at,
        disabled,
    }))
}

/// `POST /api/v1/admin/accounts/{id}/disable` (`admin.verbund`): every login refused, every
/// session ended, the portals' refresh tokens revoked.
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/disable", tag = "admin", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund"])))]
pub async fn disable_account(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_account_disabled(&actor(&caller), crate::domain::ids::AccountId(id), true)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/admin/accounts/{id}/enable` (`admin.verbund`).
#[utoipa::path(post, path = "/api/v1/admin/accounts/{id}/enable", tag = "admin", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund"])))]
pub async fn enable_account(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_account_disabled(&actor(&caller), crate::domain::ids::AccountId(id), false)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// When the deletion is due.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DeletionOut {
    deletion_due: chrono::DateTime<chrono::Utc>,
}

/// `DELETE /api/v1/admin/accounts/{id}` (`admin.verbund`): disabled at once, erased by the
/// next deletion round (the messages' evidence stays).
#[utoipa::path(delete, path = "/api/v1/admin/accounts/{id}", tag = "admin", params(("id" = uuid::Uuid, Path)),
    responses((status = 202, body = DeletionOut), (status = 403, body = crate::web::respond::Problem), (status = 404, body = crate::web::respond::Problem)),
    security(("bearer" = ["admin.verbund"])))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> Result<(StatusCode, Json<DeletionOut>), ApiError> {
    let due = state
        .admin
        .delete_account(&actor(&caller), crate::domain::ids::AccountId(id))
        .await
        .map_err(problem)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DeletionOut { deletion_due: due }),
    ))
}
