//! `/metrics` (Prometheus text format) and the layer that times every request by its route
//! template. `/metrics` is on the main listener unless `BUERGERKONTO_METRICS_LISTEN` moves it
//! to an address of its own; with `BUERGERKONTO_METRICS_TOKEN` it asks for that bearer token.
//! It never looks at a citizen's cookie.

use crate::operations::Operations;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Instant;

/// Who may read `/metrics`.
#[derive(Clone)]
pub struct MetricsAccess {
    pub token: Option<Arc<crate::crypto::Secret>>,
}

#[derive(Clone)]
struct MetricsState {
    ops: Operations,
    access: MetricsAccess,
}

/// The route `/metrics` alone (merged into the main router, or served on its own address).
pub fn routes(ops: Operations, access: MetricsAccess) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(MetricsState { ops, access })
}

async fn scrape(State(s): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.access.token {
        let given = super::extract::bearer_token(&headers).unwrap_or_default();
        if !crate::crypto::ct_eq(given.as_bytes(), token.expose().as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                "a bearer token is required\n",
            )
                .into_response();
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.ops.render().await,
    )
        .into_response()
}

/// Times each request and counts it by route template, method and status; 429s also count
/// as throttling refusals.
pub async fn track(State(ops): State<Operations>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let m = ops.metrics();
    let route = route.as_ref().map(MatchedPath::as_str);
    m.observe_request(route, method.as_str(), status, start.elapsed());
    if status == 429 {
        let route = m.intern(route.unwrap_or("unmatched"));
        m.inc("buergerkonto_throttled_total", &[("route", route)]);
    }
    res
}
