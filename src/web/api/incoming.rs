//! Citizens write first, through the APIs: an authority system fetches the messages citizens
//! wrote on its topics by cursor (`mailbox.send`); admins list, add, disable and enable
//! contact topics (`/api/v1/admin/topics`). The work is in [`crate::mailbox::incoming`] and
//! [`crate::admin::topics`].

use super::admin::{actor, problem as admin_problem};
use super::mailbox::{FileOut, RepliesQuery, problem};
use crate::admin::topics::{NewTopic, TopicView};
use crate::mailbox::incoming::FetchedIncoming;
use crate::web::extract::{ApiJson, ApiPath, ApiQuery, ApiQueryOf, ServiceCaller, need};
use crate::web::respond::{ApiError, Problem};
use crate::web::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/mailbox/incoming", get(incoming))
        .route("/api/v1/admin/topics", get(topics).post(create_topic))
        .route("/api/v1/admin/topics/{id}/disable", post(disable_topic))
        .route("/api/v1/admin/topics/{id}/enable", post(enable_topic))
}

/// A message a citizen wrote on one of your topics.
#[derive(Serialize, ToSchema)]
pub struct IncomingOut {
    pub cursor: String,
    /// The message id: its status, evidence and receipt are yours as for messages you sent.
    pub id: Uuid,
    /// The citizen as your tenant knows them: send your answer to it.
    pub recipient_sub: String,
    pub topic: Option<String>,
    pub process: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<FileOut>,
}

impl From<FetchedIncoming> for IncomingOut {
    fn from(m: FetchedIncoming) -> Self {
        Self {
            cursor: m.cursor,
            id: m.id,
            recipient_sub: m.recipient_sub,
            topic: m.topic,
            process: m.process,
            subject: m.subject,
            body: m.body,
            created_at: m.created_at,
            attachments: m.attachments.into_iter().map(FileOut::from).collect(),
        }
    }
}

/// A page of citizens' messages.
#[derive(Serialize, ToSchema)]
pub struct IncomingPage {
    pub items: Vec<IncomingOut>,
    /// Pass as `after` to continue; unchanged when there was nothing new.
    pub next_cursor: String,
}

/// Messages citizens wrote on your topics, oldest first. Page with `after=next_cursor`;
/// every message comes exactly once, in order.
#[utoipa::path(get, path = "/api/v1/mailbox/incoming", tag = "mailbox", params(RepliesQuery),
    responses((status = 200, body = IncomingPage), (status = 422, body = Problem)),
    security(("bearer" = ["mailbox.send"])))]
pub async fn incoming(
    State(state): State<AppState>,
    caller: ServiceCaller<need::MailboxSend>,
    ApiQueryOf(q): ApiQueryOf<RepliesQuery>,
) -> Result<Json<IncomingPage>, ApiError> {
    let (items, next_cursor) = state
        .mailbox
        .incoming(caller.client.id.as_str(), q.after.as_deref(), q.limit)
        .await
        .map_err(problem)?;
    Ok(Json(IncomingPage {
        items: items.into_iter().map(IncomingOut::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/admin/topics`: the topics of the tenants the token configures
/// (`?tenant=SLUG` for one).
#[utoipa::path(get, path = "/api/v1/admin/topics", tag = "admin",
    params(("tenant" = Option<String>, Query)),
    responses((status = 200, body = Vec<TopicView>), (status = 400, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn topics(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiQuery(q): ApiQuery,
) -> Result<Json<Vec<TopicView>>, ApiError> {
    state
        .admin
        .topics(&actor(&caller), q.get("tenant"))
        .await
        .map(Json)
        .map_err(admin_problem)
}

/// `POST /api/v1/admin/topics`: a new contact topic.
#[utoipa::path(post, path = "/api/v1/admin/topics", tag = "admin", request_body = NewTopic,
    responses((status = 201, body = TopicView), (status = 400, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn create_topic(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiJson(req): ApiJson<NewTopic>,
) -> Result<(StatusCode, Json<TopicView>), ApiError> {
    let t = state
        .admin
        .create_topic(&actor(&caller), req)
        .await
        .map_err(admin_problem)?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// `POST /api/v1/admin/topics/{id}/disable`: citizens no longer see it.
#[utoipa::path(post, path = "/api/v1/admin/topics/{id}/disable", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn disable_topic(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_topic_disabled(&actor(&caller), id, true)
        .await
        .map_err(admin_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/admin/topics/{id}/enable`.
#[utoipa::path(post, path = "/api/v1/admin/topics/{id}/enable", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("bearer" = ["admin.verbund", "admin.tenant"])))]
pub async fn enable_topic(
    State(state): State<AppState>,
    caller: ServiceCaller<need::Admin>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .admin
        .set_topic_disabled(&actor(&caller), id, false)
        .await
        .map_err(admin_problem)?;
    Ok(StatusCode::NO_CONTENT)
}
