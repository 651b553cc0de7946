//! Signed callbacks, through both APIs: an authority system reads its own setting and
//! deliveries and re-queues given-up ones (`mailbox.send`); admins set, read and clear any
//! system's setting within their rights (`/api/v1/admin/clients/{id}/callback`). The work
//! is in [`crate::mailbox::callback`] and [`crate::admin::callbacks`].

use super::admin::{actor, problem as admin_problem};
use crate::domain::params::Params;
use crate::mailbox::MailboxError;
use crate::mailbox::callback::{Delivery, Redelivery, STATES, Target};
use crate::web::extract::{ApiJson, ApiPath, ApiQueryOf, FromParams, ServiceCaller, need};
use crate::web::respond::{ApiError, Problem};
use crate::web::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/mailbox/callback", get(own_target))
        .route("/api/v1/mailbox/callback/deliveries", get(own_deliveries))
        .route(
            "/api/v1/mailbox/callback/deliveries/{event}/redeliver",
            post(own_redeliver),
        )
        .route(
            "/api/v1/admin/clients/{id}/callback",
            get(target).put(set).delete(clear),
        )
        .route(
            "/api/v1/admin/clients/{id}/callback/deliveries",
            get(deliveries),
        )
        .route(
            "/api/v1/admin/clients/{id}/callback/deliveries/{event}/redeliver",
            post(redeliver),
        )
}

/// Which deliveries to list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead` (given up; the default).
    #[param(value_type = Option<String>)]
    state: String,
    /// 1-500, default 100; newest first.
    #[param(value_type = Option<u32>)]
    limit: u32,
}

impl FromParams for DeliveriesQuery {
    fn from_params(q: &Params) -> Result<Self, ApiError> {
        let state = q.get("state").unwrap_or("dead");
        if !STATES.contains(&state) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "state must be pending, delivered or dead",
            ));
        }
        let limit = match q.get("limit") {
            None => 100,
            Some(l) => l
                .parse()
                .ok()
                .filter(|l| (1..=500).contains(l))
                .ok_or_else(|| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit must be 1-500")
                })?,
        };
        Ok(Self {
            state: state.to_owned(),
            limit,
        })
    }
}

fn mailbox_problem(e: MailboxError) -> ApiError {
    match e {
        MailboxError::Invalid(why) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why),
        other => ApiError::internal(other),
    }
}

/// A re-queued delivery.
#[derive(Serialize, ToSchema)]
pub struct Requeued {
    id: Uuid,
    /// Always `pending`.
    state: &'static str,
}

/// Your callback URL and backlog (the secret is never shown).
#[utoipa::path(get, path = "/api/v1/mailbox/callback", tag = "callbacks",
    responses((status = 200, body = Target), (status = 404, description = "No callback URL is set for you", body = Problem)),
    security(("bearer" = ["mailbox.send"])))]
pub async fn own_target(
    State(state): State<AppState>,
    caller: ServiceCaller<need::MailboxSend>,
) -> Result<Json<Target>, ApiError> {
    state
        .mailbox
        .callback_target(caller.client.id.as_str())
        .await
        .map_err(mailbox_problem)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no callback URL is set for this client",
            )
        })
}

/// Your deliveries in one state, newest first: `dead` lists those given up after the retry
/// period, with the last error.
#[utoipa::path(get, path = "/api/v1/mailbox/callback/deliveries", tag = "callbacks", params(DeliveriesQuery),
    responses((status = 200, body = Vec<Delivery>), (status = 422, body = Problem)),
    security(("bearer" = ["mailbox.send"])))]
pub async fn own_deliveries(
    State(state): State<AppState>,
    caller: ServiceCaller<need::MailboxSend>,
    ApiQueryOf(q): ApiQueryOf<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    state
        .mailbox
        .callback_deliveries(caller.client.id.as_str(), &q.state, q.limit)
        .await
        .map(Json)
        .map_err(mailbox_problem)
}

fn requeued(id: Uuid, r: Redelivery) -> Result<(StatusCode, Json<Requeued>), ApiError> {
    match r {
        Redelivery::Queued => Ok((
            StatusCode::ACCEPTED,
            Json(Requeued {
                id,
                state: "pending",
            }),
        )),
        Redelivery::NotGivenUp => Err(ApiError::new(
            StatusCode::CONFLICT,
            "only deliveries that were given up are re-queued by hand",
        )),
        Redelivery::Unknown => Err(ApiError::new(StatusCode::NOT_FOUND, "no such delivery")),
    }
}

/// Puts one of your given-up deliveries back in line, with a new retry period.
#[utoipa::path(post, path = "/api/v1/mailbox/callback/deliveries/{event}/redeliver", tag = "callbacks",
    params(("event" = Uuid, Path)),
    responses((status = 202, body = Requeued), (status = 404, body = Problem), (status = 409, description = "Pending or delivered", body = Problem)),
    security(("bearer" = ["mailbox.send"])))]
pub async fn own_redeliver(
    State(state): State<AppState>,
    caller: ServiceCaller<need::MailboxSend>,
    ApiPath(event): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<Requeued>), ApiError> {
    let r = state
        .mailbox
        .redeliver_callback(caller.client.id.as_str(), event)
        .await
        .map_err(mailbox_problem)?;
    requeued(event, r)
}

/// A system's callback setting.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackIn {
    /// https URL (at most 500 characters, no user name, no fragment).
    #[schema(example = "https://fachverfahren.example/bk/callback")]
    url: String,
    /// 32 to 256 visible ASCII characters. Without it, a first setting gets a generated
    /// secret (in the answer, once) and a later one keeps its secret.
    secret: Option<String>,
    /// Generate a new secret (in the answer, once).
    #[serde(default)]
    new_secret: bool,
}

/// The setting as stored, and a generated secret once.
#[derive(Serialize, ToSchema)]
pub struct CallbackOut {
    #[serde(flatten)]
    target: Target,
    /// Only when it was generated by this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// `GET /api/v1/admin/clients/{id}/callback`.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}/callback", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Target), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn target(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Target>, ApiError> {
    state
        .admin
        .callback(&actor(&caller), &id)
        .await
        .map_err(admin_problem)?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "this client has no callback URL"))
}

/// `PUT /api/v1/admin/clients/{id}/callback`: sets the URL and (or keeps) the secret.
#[utoipa::path(put, path = "/api/v1/admin/clients/{id}/callback", tag = "admin", params(("id" = String, Path)),
    request_body = CallbackIn,
    responses((status = 200, body = CallbackOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn set(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CallbackIn>,
) -> Result<Json<CallbackOut>, ApiError> {
    let who = actor(&caller);
    let secret = state
        .admin
        .set_callback(&who, &id, &req.url, req.secret.as_deref(), req.new_secret)
        .await
        .map_err(admin_problem)?;
    let target = state
        .admin
        .callback(&who, &id)
        .await
        .map_err(admin_problem)?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "the setting was removed meanwhile"))?;
    Ok(Json(CallbackOut { target, secret }))
}

/// `DELETE /api/v1/admin/clients/{id}/callback`.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}/callback", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn clear(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .clear_callback(&actor(&caller), &id)
        .await
        .map_err(admin_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/clients/{id}/callback/deliveries`.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}/callback/deliveries", tag = "admin",
    params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = Vec<Delivery>), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<String>,
    ApiQueryOf(q): ApiQueryOf<DeliveriesQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    state
        .admin
        .callback_deliveries(&actor(&caller), &id, &q.state, q.limit)
        .await
        .map(Json)
        .map_err(admin_problem)
}

/// `POST /api/v1/admin/clients/{id}/callback/deliveries/{event}/redeliver`.
#[utoipa::path(post, path = "/api/v1/admin/clients/{id}/callback/deliveries/{event}/redeliver", tag = "admin",
    params(("id" = String, Path), ("event" = Uuid, Path)),
    responses((status = 202, body = Requeued), (status = 400, description = "Not given up", body = Problem), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath((id, event)): ApiPath<(String, Uuid)>,
) -> Result<(StatusCode, Json<Requeued>), ApiError> {
    state
        .admin
        .redeliver_callback(&actor(&caller), &id, event)
        .await
        .map_err(admin_problem)?;
    requeued(event, Redelivery::Queued)
}
