//! `GET /api/v1/processes/{id}` (anyone: levels are public) and `PUT` for admins: scope
//! `catalogue.admin` sets the Verbund's level, scope `catalogue.tenant` raises it for the
//! calling client's own tenant.

use crate::catalogue::{Catalogue, CatalogueError};
use crate::domain::level::Loa;
use crate::domain::process::{Process, ProcessId, ProcessScope};
use crate::web::extract::{ApiPath, ServiceCaller, need};
use crate::web::respond::ApiError;
use crate::web::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/api/v1/processes/{id}", get(show).put(put))
}

/// A process and the level that applies.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ProcessOut {
    #[schema(example = "bauantrag")]
    id: String,
    #[schema(example = "Bauantrag")]
    name: String,
    #[schema(example = "high")]
    level: String,
    #[schema(example = "http://eidas.europa.eu/LoA/high")]
    acr: String,
    /// The tenant asked about, if any.
    tenant: Option<String>,
    /// The level must be confirmed by an upstream identity provider (BundID) in the login,
    /// not by a clerk's check (§ 3 Abs. 4 OZG); ID tokens then carry `level_source`.
    upstream_required: bool,
}

impl ProcessOut {
    fn new(p: &Process, level: Loa, tenant: Option<&str>) -> Self {
        Self {
            id: p.id.as_str().to_owned(),
            name: p.name.clone(),
            level: level.name().to_owned(),
            acr: level.acr().to_owned(),
            tenant: tenant.map(str::to_owned),
            upstream_required: p.upstream_required,
        }
    }
}

/// The level of a process: the Verbund's, or the tenant's if it raised it. Public.
#[utoipa::path(
    get,
    path = "/api/v1/processes/{id}",
    tag = "admin",
    params(("id" = String, Path), ("tenant" = Option<String>, Query, description = "A tenant slug")),
    responses((status = 200, body = ProcessOut), (status = 404, body = crate::web::respond::Problem))
)]
pub async fn show(
    State(catalogue): State<Catalogue>,
    ApiPath(id): ApiPath<String>,
    crate::web::extract::ApiQuery(q): crate::web::extract::ApiQuery,
) -> Result<Json<ProcessOut>, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "unknown process");
    let id = ProcessId::parse(&id).map_err(|_| not_found())?;
    let tenant = match q.get("tenant") {
        None => None,
        Some(slug) => Some(
            catalogue
                .tenant(slug)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown tenant"))?,
        ),
    };
    let (process, level) = catalogue
        .lookup(&id, tenant.as_ref().map(|t| t.id))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    Ok(Json(ProcessOut::new(
        &process,
        level,
        tenant.as_ref().map(|t| t.slug.as_str()),
    )))
}

/// A process's name and level.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetProcess {
    name: String,
    level: String,
    /// Require the level to be confirmed by an upstream (BundID); a tenant may add this to
    /// the Verbund's entry, never take it away. Left out: the entry keeps its value.
    #[serde(default)]
    upstream_required: Option<bool>,
}

/// Sets a process's level: for the Verbund (scope `catalogue.admin`) or raised for the
/// caller's tenant (scope `catalogue.tenant`; `422` if it would be lower than the Verbund's).
#[utoipa::path(
    put,
    path = "/api/v1/processes/{id}",
    tag = "admin",
    params(("id" = String, Path)),
    request_body = SetProcess,
    responses(
        (status = 200, body = ProcessOut),
        (status = 400, body = crate::web::respond::Problem),
        (status = 404, description = "Unknown process (tenant scope)", body = crate::web::respond::Problem),
        (status = 422, description = "Would lower the Verbund's level", body = crate::web::respond::Problem),
    ),
    security(("bearer" = ["catalogue.admin"]), ("bearer" = ["catalogue.tenant"]))
)]
pub async fn put(
    State(catalogue): State<Catalogue>,
    caller: ServiceCaller<need::Catalogue>,
    ApiPath(id): ApiPath<String, 400>,
    crate::web::extract::ApiJson(req): crate::web::extract::ApiJson<SetProcess>,
) -> Result<Json<ProcessOut>, ApiError> {
    let (scope, tenant_slug) = match caller.scope {
        "catalogue.admin" => (ProcessScope::Verbund, None),
        _ => {
            let tenant = catalogue
                .tenant_by_id(caller.client.tenant_id)
                .await
                .map_err(ApiError::internal)?;
            (ProcessScope::Tenant(tenant.id), Some(tenant.slug))
        }
    };
    let level = Loa::from_name(&req.level).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "level must be low, substantial or high",
        )
    })?;
    let process = catalogue
        .set(
            &id,
            &req.name,
            (level, req.upstream_required),
            scope,
            caller.client.id.as_str(),
        )
        .await
        .map_err(|e| match e {
            CatalogueError::Invalid(d) => ApiError::new(StatusCode::BAD_REQUEST, d),
            CatalogueError::UnknownProcess => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            CatalogueError::WouldLower(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            CatalogueError::Store(s) => ApiError::internal(s),
        })?;
    // A tenant's level cannot be below the Verbund's (set refuses that), so the level
    // just set is the one that applies.
    Ok(Json(ProcessOut::new(
        &process,
        level,
        tenant_slug.as_ref().map(|s| s.as_str()),
    )))
}
