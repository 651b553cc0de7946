//! The mailbox API. Authority systems (`client_credentials`, scope `mailbox.send`) send
//! messages, read their status and evidence, fetch signed receipts and poll replies. Portals
//! (a citizen's access token with scope `mailbox.read`) show the citizen's messages from
//! their own Kommune.

use crate::domain::level::Loa;
use crate::domain::params::Params;
use crate::mailbox::{
    FetchedReply, File, MailboxError, Opened, Outgoing, Presence, Reader, Status, Summary, limits,
};
use crate::web::extract::{
    ApiPath, ApiQueryOf, CitizenCaller, FromParams, IdempotencyKey, ServiceCaller, need,
};
use crate::web::respond::{ApiError, Challenge, Problem, download};
use crate::web::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/api/v1/mailbox/messages",
            post(send).layer(DefaultBodyLimit::max(crate::mailbox::limits::REQUEST_BYTES)),
        )
        .route(
            "/api/v1/mailbox/bulk",
            post(bulk).layer(DefaultBodyLimit::max(BULK_REQUEST_BYTES)),
        )
        .route("/api/v1/mailbox/messages/{id}", get(status))
        .route("/api/v1/mailbox/messages/{id}/receipt", get(receipt))
        .route("/api/v1/mailbox/messages/{id}/events", get(event_log))
        .route("/api/v1/mailbox/replies", get(replies))
        .route("/api/v1/mailbox/inbox", get(inbox))
        .route("/api/v1/mailbox/inbox/{id}", get(open))
        .route(
            "/api/v1/mailbox/inbox/{id}/attachments/{attachment}",
            get(attachment),
        )
}
use axum::extract::DefaultBodyLimit;

/// An attachment as sent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentIn {
    /// Shown to the citizen; a path is cut off.
    #[schema(example = "Bescheid.pdf")]
    pub filename: String,
    #[schema(example = "application/pdf")]
    pub content_type: String,
    /// The file, base64 (RFC 4648 §4).
    pub content_base64: String,
}

/// A message to a citizen.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The citizen's `sub` as your tenant knows it (pairwise).
    pub recipient_sub: String,
    /// 1-200 characters.
    #[schema(example = "Ihr Antrag auf einen Anwohnerparkausweis")]
    pub subject: String,
    /// Plain text, at most 100 KiB.
    pub body: String,
    /// Your case reference (*Aktenzeichen*), at most 100 characters.
    #[serde(default)]
    #[schema(example = "32-1234/2026")]
    pub reference: Option<String>,
    /// A process id from the catalogue; its level applies if it is higher.
    #[serde(default)]
    pub process: Option<String>,
    /// `low` (default), `substantial` or `high`: the level needed to read the message.
    #[serde(default)]
    pub required_level: Option<String>,
    #[serde(default)]
    pub reply_allowed: bool,
    /// When the message leaves the mailbox (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// At most 10 files, 5 MiB each, 10 MiB together.
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
}

/// The stored message.
#[derive(Serialize, ToSchema)]
pub struct Sent {
    pub id: Uuid,
    /// Where status and evidence are.
    pub status_url: String,
}

/// A reply as the authority system fetches it.
#[derive(Serialize, ToSchema)]
pub struct ReplyOut {
    pub cursor: String,
    pub id: Uuid,
    pub message_id: Uuid,
    pub reference: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub attachments: Vec<FileOut>,
}

/// A file on the wire: its content in base64 (RFC 4648 §4).
#[derive(Serialize, ToSchema)]
pub struct FileOut {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub content_base64: String,
}

impl From<FetchedReply> for ReplyOut {
    fn from(r: FetchedReply) -> Self {
        Self {
            cursor: r.cursor,
            id: r.id,
            message_id: r.message_id,
            reference: r.reference,
            body: r.body,
            created_at: r.created_at,
            attachments: r.attachments.into_iter().map(FileOut::from).collect(),
        }
    }
}

impl From<File> for FileOut {
    fn from(f: File) -> Self {
        Self {
            size: i64::try_from(f.content.len()).unwrap_or(i64::MAX),
            content_base64: STANDARD.encode(&f.content),
            filename: f.filename,
            content_type: f.content_type,
        }
    }
}

/// Replies after a cursor.
#[derive(Serialize, ToSchema)]
pub struct RepliesPage {
    pub items: Vec<ReplyOut>,
    /// Pass as `after` to continue; unchanged when there was nothing new.
    pub next_cursor: String,
}

/// A page of a citizen's mailbox.
#[derive(Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<Summary>,
    pub page: u32,
    /// Whether another page follows.
    pub more: bool,
}

pub(super) fn problem(e: MailboxError) -> ApiError {
    match e {
        MailboxError::UnknownRecipient | MailboxError::Invalid(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        MailboxError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        MailboxError::IdempotencyMismatch => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        MailboxError::Throttled => ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
        MailboxError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "no such message"),
        MailboxError::NeedsLevel(l) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the citizen must log in with the level {l} to read this message"),
        )
        .with_challenge(Challenge {
            error: "insufficient_user_authentication",
            acr: Some(l),
            max_age: None,
        }),
        MailboxError::NeedsFreshLogin(max_age) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "the citizen must have logged in within the last {max_age} seconds: send them through a new authorization with max_age={max_age}"
            ),
        )
        .with_challenge(Challenge {
            error: "insufficient_user_authentication",
            acr: None,
            max_age: Some(max_age),
        }),
        MailboxError::ReplyNotAllowed | MailboxError::TopicClosed => {
            ApiError::new(StatusCode::CONFLICT, e.to_string())
        }
        MailboxError::Infected { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        MailboxError::ScannerUnavailable(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the virus scanner cannot be reached; nothing was stored, try again later",
        ),
        MailboxError::Undecryptable
        | MailboxError::Store(_)
        | MailboxError::Sign(_)
        | MailboxError::Keys(_)
        | MailboxError::Mail(_) => ApiError::internal(e),
    }
}

/// The request body, at most [`limits::REQUEST_BYTES`].
async fn read_body(request: axum::extract::Request) -> Result<Bytes, ApiError> {
    read_body_up_to(request, limits::REQUEST_BYTES).await
}

/// A bulk send's body: one message and up to 10,000 recipients.
const BULK_REQUEST_BYTES: usize = limits::REQUEST_BYTES + 2 * 1024 * 1024;

/// The request body, at most `limit` bytes.
async fn read_body_up_to(request: axum::extract::Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request may have at most {limit} bytes"),
        )
    };
    if crate::web::extract::announced_over(request.headers(), limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "the body could not be read")
            }
        })
}

fn parse_send(body: &[u8]) -> Result<Outgoing, ApiError> {
    let bad = |d: String| ApiError::new(StatusCode::BAD_REQUEST, d);
    if crate::domain::text::json_has_forbidden_controls(body) {
        return Err(bad(
            "strings must not contain control characters (other than tab and line breaks)".into(),
        ));
    }
    let req: SendRequest = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not a valid message: {e}")))?;
    let required_level = match req.required_level.as_deref() {
        None => Loa::Low,
        Some(l) => Loa::from_name(l)
            .or_else(|| Loa::from_acr(l))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "required_level must be low, substantial or high",
                )
            })?,
    };
    // Decoding is bounded by the request size; the mailbox checks counts and sizes.
    let mut attachments = Vec::with_capacity(req.attachments.len());
    for a in req.attachments {
        let unprocessable = |d: &str| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{}: {d}", a.filename),
            )
        };
        let filename = crate::mailbox::limits::clean_filename(&a.filename)
            .ok_or_else(|| unprocessable("the file name is empty"))?;
        let content_type = crate::mailbox::limits::clean_content_type(&a.content_type)
            .ok_or_else(|| unprocessable("content_type must be type/subtype"))?;
        let content = STANDARD
            .decode(a.content_base64.trim())
            .map_err(|_| unprocessable("content_base64 is not base64"))?;
        attachments.push(File {
            filename,
            content_type,
            content,
        });
    }
    Ok(Outgoing {
        recipient_sub: req.recipient_sub,
        subject: req.subject,
        body: req.body,
        reference: req.reference,
        process: req.process,
        required_level,
        reply_allowed: req.reply_allowed,
        expires_at: req.expires_at,
        attachments,
    })
}

/// Sends a message to a citizen's mailbox.
///
/// The answer comes after the message is durably stored. With an `Idempotency-Key`, a retry
/// with the same key and body returns the first answer and stores nothing; the same key with
/// another body is `409`. An unknown `recipient_sub` and another tenant's are the same `422`.
#[utoipa::path(
    post,
    path = "/api/v1/mailbox/messages",
    tag = "mailbox",
    request_body = SendRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (at most 200 characters).")),
    responses(
        (status = 201, description = "Stored", body = Sent),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 401, description = "No or bad token", body = Problem),
        (status = 403, description = "Token without mailbox.send", body = Problem),
        (status = 409, description = "Idempotency-Key reused with another body", body = Problem),
        (status = 413, description = "Too large", body = Problem),
        (status = 422, description = "Unknown recipient, an invalid field, or an attachment with malware (the scanner's finding is named)", body = Problem),
        (status = 503, description = "The virus scanner cannot be reached: nothing was stored; retry after Retry-After", body = Problem),
    ),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn send(
    State(state): State<AppState>,
    // Who sends is checked before the (up to 14 MB) body is read.
    sender: ServiceCaller<need::MailboxSend>,
    IdempotencyKey(key): IdempotencyKey,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let body = read_body(request).await?;
    let out = parse_send(&body)?;
    let sent = state
        .mailbox
        .send(&sender.client, out, key.as_deref().map(|k| (k, &body[..])))
        .await
        .map_err(problem);
    let outcome = match &sent {
        Ok((_, false)) => "stored",
        Ok((_, true)) => "replayed",
        Err(p) if p.status.is_client_error() => "refused",
        Err(_) => "failed",
    };
    state.ops.metrics().inc(
        "buergerkonto_mailbox_sends_total",
        &[("via", "api"), ("outcome", outcome)],
    );
    let (id, replayed) = sent?;
    let url = format!("/api/v1/mailbox/messages/{id}");
    let mut resp = (
        StatusCode::CREATED,
        Json(Sent {
            id,
            status_url: url.clone(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// One message to many recipients.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// The message, as for a single send but without `recipient_sub`.
    #[schema(value_type = Object)]
    pub message: serde_json::Map<String, serde_json::Value>,
    /// 1 to 10,000 recipients.
    pub recipients: Vec<BulkRecipient>,
}

/// One recipient of a bulk send.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRecipient {
    pub recipient_sub: String,
    /// This recipient's case reference (else the message's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Makes this item's retries safe, also in a later call (else the call's key with `#INDEX`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// Each recipient's result, in the order sent.
#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub results: Vec<BulkItemResult>,
    pub sent: usize,
    pub replayed: usize,
    pub failed: usize,
}

#[derive(Serialize, ToSchema)]
pub struct BulkItemResult {
    pub index: usize,
    pub recipient_sub: String,
    /// 201 stored, 200 an idempotent replay, or the error status of this item alone.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Sends one message to many citizens (a *Bescheid* run): checked and scanned once, stored
/// per recipient, each with its own result. With an `Idempotency-Key` (or per-item keys) a
/// retry of the call replays each stored item and stores nothing twice.
#[utoipa::path(
    post,
    path = "/api/v1/mailbox/bulk",
    tag = "mailbox",
    request_body = BulkRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of the whole call safe; item i uses KEY#i.")),
    responses(
        (status = 200, description = "Each recipient's result", body = BulkResult),
        (status = 400, description = "Malformed JSON", body = Problem),
        (status = 413, description = "Too many recipients, or attachments times recipients too large", body = Problem),
        (status = 422, description = "An invalid message or an attachment with malware (nothing stored)", body = Problem),
        (status = 503, description = "The virus scanner cannot be reached (nothing stored)", body = Problem),
    ),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn bulk(
    State(state): State<AppState>,
    sender: ServiceCaller<need::MailboxSend>,
    IdempotencyKey(key): IdempotencyKey,
    request: axum::extract::Request,
) -> Result<Json<BulkResult>, ApiError> {
    let body = read_body_up_to(request, BULK_REQUEST_BYTES).await?;
    let bad = |d: String| ApiError::new(StatusCode::BAD_REQUEST, d);
    if crate::domain::text::json_has_forbidden_controls(&body) {
        return Err(bad(
            "strings must not contain control characters (other than tab and line breaks)".into(),
        ));
    }
    let req: BulkRequest = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body is not a valid bulk send: {e}")))?;
    let first = req
        .recipients
        .first()
        .map(|r| r.recipient_sub.clone())
        .unwrap_or_default();
    let mut message = serde_json::Value::Object(req.message);
    if message.get("recipient_sub").is_some() {
        return Err(bad(
            "the recipients are in recipients, not in message".into()
        ));
    }
    // The message is hashed once, without a recipient: each item's request digest covers
    // it and the item, whichever call the item comes in.
    let message_digest =
        crate::crypto::sha256(&serde_json::to_vec(&message).map_err(|e| bad(e.to_string()))?);
    message["recipient_sub"] = first.into();
    let shared = parse_send(&serde_json::to_vec(&message).map_err(|e| bad(e.to_string()))?)?;
    let items: Vec<crate::mailbox::BulkItem> = req
        .recipients
        .iter()
        .map(|r| {
            let mut request = message_digest.to_vec();
            request.extend(serde_json::to_vec(r).unwrap_or_default());
            crate::mailbox::BulkItem {
                recipient_sub: r.recipient_sub.clone(),
                reference: r.reference.clone(),
                idempotency_key: r.idempotency_key.clone(),
                request_hash: crate::crypto::hex(&crate::crypto::sha256(&request)),
            }
        })
        .collect();
    let outcomes = state
        .mailbox
        .send_bulk(&sender.client, &shared, &items, key.as_deref())
        .await
        .map_err(problem)?;
    let mut out = BulkResult {
        results: Vec::with_capacity(outcomes.len()),
        sent: 0,
        replayed: 0,
        failed: 0,
    };
    for (index, (r, item)) in outcomes.into_iter().zip(&req.recipients).enumerate() {
        let (status, id, detail) = match r {
            Ok((id, false)) => {
                out.sent += 1;
                (201, Some(id), None)
            }
            Ok((id, true)) => {
                out.replayed += 1;
                (200, Some(id), None)
            }
            Err(e) => {
                out.failed += 1;
                let p = problem(e);
                (p.status.as_u16(), None, Some(p.detail))
            }
        };
        out.results.push(BulkItemResult {
            index,
            recipient_sub: item.recipient_sub.clone(),
            status,
            id,
            detail,
        });
    }
    let m = state.ops.metrics();
    for (outcome, n) in [
        ("stored", out.sent),
        ("replayed", out.replayed),
        ("refused", out.failed),
    ] {
        m.add(
            "buergerkonto_mailbox_sends_total",
            &[("via", "bulk"), ("outcome", outcome)],
            n as u64,
        );
    }
    Ok(Json(out))
}

/// State and evidence of one of your messages. `evidence_intact` is `false` when the
/// hash chain does not verify.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/messages/{id}",
    tag = "mailbox",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Status), (status = 404, description = "Not your message", body = Problem)),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn status(
    State(state): State<AppState>,
    sender: ServiceCaller<need::MailboxSend>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Status>, ApiError> {
    state
        .mailbox
        .status(sender.client.id.as_str(), id)
        .await
        .map(Json)
        .map_err(problem)
}

/// The message's evidence as Security Event Tokens.
#[derive(Serialize, ToSchema)]
pub struct EventLog {
    /// One compact JWS per evidence event, oldest first (RFC 8417, `typ: secevent+jwt`,
    /// ES256, verifiable with `/jwks.json`); each carries `seq`, `prev_hash` and `hash`.
    pub event_log: Vec<String>,
}

/// Every evidence event as a signed Security Event Token (RFC 8417), chained by the
/// evidence's hashes; the shape of FIT-Connect's event log.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/messages/{id}/events",
    tag = "mailbox",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = EventLog),
        (status = 404, description = "Not your message", body = Problem),
        (status = 422, description = "The evidence chain does not verify", body = Problem),
    ),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn event_log(
    State(state): State<AppState>,
    sender: ServiceCaller<need::MailboxSend>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EventLog>, ApiError> {
    state
        .mailbox
        .event_log(sender.client.id.as_str(), id)
        .await
        .map(|event_log| Json(EventLog { event_log }))
        .map_err(problem)
}

/// The evidence chain signed by Bürgerkonto: a compact JWS (`typ: evidence+jwt`, ES256),
/// verifiable with the keys at `/jwks.json`.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/messages/{id}/receipt",
    tag = "mailbox",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The JWS", content_type = "application/jose", body = String),
        (status = 404, description = "Not your message", body = Problem),
        (status = 422, description = "The evidence chain does not verify", body = Problem),
    ),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn receipt(
    State(state): State<AppState>,
    sender: ServiceCaller<need::MailboxSend>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let jws = state
        .mailbox
        .receipt(sender.client.id.as_str(), id)
        .await
        .map_err(problem)?;
    Ok(([(header::CONTENT_TYPE, "application/jose")], jws).into_response())
}

#[derive(utoipa::IntoParams)]
pub struct RepliesQuery {
    /// The `next_cursor` of the previous page; empty for the start.
    pub(super) after: Option<String>,
    /// 1-100, default 50.
    #[param(value_type = Option<u32>)]
    pub(super) limit: u32,
}

impl FromParams for RepliesQuery {
    fn from_params(q: &Params) -> Result<Self, ApiError> {
        let limit = match q.get("limit") {
            None => 50,
            Some(l) => l
                .parse()
                .ok()
                .filter(|l| (1..=100).contains(l))
                .ok_or_else(|| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit must be 1-100")
                })?,
        };
        Ok(Self {
            after: q.get("after").map(str::to_owned),
            limit,
        })
    }
}

/// Replies of citizens to your messages, oldest first. Page with `after=next_cursor`; every
/// reply comes exactly once, in order.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/replies",
    tag = "mailbox",
    params(RepliesQuery),
    responses((status = 200, body = RepliesPage), (status = 422, description = "Malformed cursor", body = Problem)),
    security(("bearer" = ["mailbox.send"]))
)]
pub async fn replies(
    State(state): State<AppState>,
    sender: ServiceCaller<need::MailboxSend>,
    ApiQueryOf(q): ApiQueryOf<RepliesQuery>,
) -> Result<Json<RepliesPage>, ApiError> {
    let (items, next_cursor) = state
        .mailbox
        .replies(sender.client.id.as_str(), q.after.as_deref(), q.limit)
        .await
        .map_err(problem)?;
    Ok(Json(RepliesPage {
        items: items.into_iter().map(ReplyOut::from).collect(),
        next_cursor,
    }))
}

/// The portal's reader: the citizen's account, the token's level and login time, and the
/// portal's tenant.
fn reader(c: &CitizenCaller<need::MailboxRead>) -> Reader {
    Reader {
        account: c.account,
        level: c.level,
        tenant: Some(c.client.tenant_id),
        presence: Presence::Token {
            auth_time: c.auth_time,
        },
    }
}

#[derive(utoipa::IntoParams)]
pub struct InboxQuery {
    /// 0-based, 50 per page.
    #[param(value_type = Option<u32>)]
    page: u32,
    /// `true` for the archive.
    #[param(value_type = Option<bool>)]
    archived: bool,
}

impl FromParams for InboxQuery {
    fn from_params(q: &Params) -> Result<Self, ApiError> {
        let page = match q.get("page") {
            None => 0,
            Some(p) => p.parse().ok().filter(|p| *p <= 10_000).ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "page must be a number")
            })?,
        };
        let archived = match q.get("archived") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "archived must be true or false",
                ));
            }
        };
        Ok(Self { page, archived })
    }
}

/// The citizen's messages from your Kommune, unread first. Subjects of messages that need a
/// higher level than the token's are `null`.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/inbox",
    tag = "portal",
    params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 403, body = Problem)),
    security(("bearer" = ["mailbox.read"]))
)]
pub async fn inbox(
    State(state): State<AppState>,
    citizen: CitizenCaller<need::MailboxRead>,
    ApiQueryOf(InboxQuery { page, archived }): ApiQueryOf<InboxQuery>,
) -> Result<Json<InboxPage>, ApiError> {
    let reader = reader(&citizen);
    let (items, more) = state
        .mailbox
        .inbox(&reader, archived, page, 50)
        .await
        .map_err(problem)?;
    Ok(Json(InboxPage { items, page, more }))
}

/// Opens one message (recording `opened` the first time). A message that needs a higher level
/// than the token's is `403` with `WWW-Authenticate: Bearer error="insufficient_user_authentication"`
/// and `acr_values` (RFC 9470): send the citizen through a new authorization with that level.
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/inbox/{id}",
    tag = "portal",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Opened), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = ["mailbox.read"]))
)]
pub async fn open(
    State(state): State<AppState>,
    citizen: CitizenCaller<need::MailboxRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Opened>, ApiError> {
    state
        .mailbox
        .open(&reader(&citizen), id, "portal")
        .await
        .map(Json)
        .map_err(problem)
}

/// Downloads an attachment of a message (or of the citizen's reply to it).
#[utoipa::path(
    get,
    path = "/api/v1/mailbox/inbox/{id}/attachments/{attachment}",
    tag = "portal",
    params(("id" = Uuid, Path), ("attachment" = Uuid, Path)),
    responses((status = 200, description = "The file with its Content-Type"), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = ["mailbox.read"]))
)]
pub async fn attachment(
    State(state): State<AppState>,
    citizen: CitizenCaller<need::MailboxRead>,
    ApiPath((id, att)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    state
        .mailbox
        .attachment(&reader(&citizen), id, att)
        .await
        .map(download)
        .map_err(problem)
}
