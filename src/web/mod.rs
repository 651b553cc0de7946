//! HTTP: the only module that imports axum. Handlers stay thin: extract, call a service,
//! render. Middleware: request ids, tracing, body and URI limits, timeouts, security headers.

pub mod admin;
pub mod api;
pub mod extract;
pub mod face;
pub mod i18n;
pub mod metrics;
pub mod oidc;
pub mod pages;
pub mod respond;
pub mod server;
pub mod state;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use extract::PageLang;
use respond::PageError;
use state::AppState;
use std::time::Duration;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body we read (forms, token requests).
pub const MAX_BODY: usize = 64 * 1024;
/// Longest request target (path and query) we accept.
pub const MAX_URI: usize = 8 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";
const CSS: &[u8] = include_bytes!("static/style.css");
const PASSKEY_JS: &[u8] = include_bytes!("static/passkey.js");
const AUTOSUBMIT_JS: &[u8] = include_bytes!("static/autosubmit.js");

/// The complete router: one router per surface (protocol, pages, APIs), each route next to
/// its handler, merged here under the layers every request passes.
pub fn router(state: AppState) -> Router {
    let ops = state.ops.clone();
    let metrics = state
        .web
        .metrics_here
        .clone()
        .map(|access| metrics::routes(ops.clone(), access));
    let router = Router::new()
        .merge(oidc::routes())
        .merge(pages::routes())
        .merge(api::routes())
        .merge(admin::routes())
        .merge(face::routes())
        .route("/", get(|| async { respond::see_other("/konto", &[]) }))
        .route("/static/style.css", get(css))
        .route("/static/passkey.js", get(passkey_js))
        .route("/static/autosubmit.js", get(autosubmit_js))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(not_found)
        .with_state(state);
    router
        .merge(metrics.unwrap_or_default())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(limit_uri))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(middleware::from_fn_with_state(ops, metrics::track))
        .layer(middleware::map_response(security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeId::new()))
}

/// The request span: method, matched route (or path), request id. Never the query string,
/// which can carry codes and tokens.
fn request_span(req: &Request) -> tracing::Span {
    // Borrowed values only: when the span is disabled, nothing is allocated.
    let matched = req.extensions().get::<axum::extract::MatchedPath>();
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %matched.map_or(req.uri().path(), |m| m.as_str()),
        request_id = %req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or(""),
    )
}

/// Request ids: a random per-process prefix and a counter (unique across instances, and
/// no system call per request as a random UUID would need).
#[derive(Clone)]
struct MakeId {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl MakeId {
    fn new() -> Self {
        let prefix = crate::crypto::random_token();
        Self {
            prefix: prefix[..10].into(),
            next: std::sync::Arc::default(),
        }
    }
}

impl tower_http::request_id::MakeRequestId for MakeId {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// Security headers on every response that does not set them itself (one layer for all).
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        // Ignored by browsers on plain http (development); binding on https.
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

async fn limit_uri(req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI {
        let lang = extract::lang_of(req.headers());
        return PageError::new(StatusCode::URI_TOO_LONG, lang, |t| t.error_too_large)
            .into_response();
    }
    next.run(req).await
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn autosubmit_js() -> Response {
    asset("text/javascript; charset=utf-8", AUTOSUBMIT_JS)
}

async fn passkey_js() -> Response {
    asset("text/javascript; charset=utf-8", PASSKEY_JS)
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn not_found(PageLang(lang): PageLang) -> Response {
    PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_not_found).into_response()
}

/// `/readyz`: 200 when the database and the short-lived store answer, else 503 naming what
/// is missing (`not ready: redis`). Each check has a deadline, so it never hangs.
async fn ready(State(ops): State<crate::operations::Operations>) -> Response {
    let health = ops.health().await;
    if health.ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
            format!("not ready: {}", health.missing().join(", ")),
        )
            .into_response()
    }
}
