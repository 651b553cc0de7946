//! HTTP adapters for the protocol engine (`crate::oidc`): they extract, call, and map
//! errors to the form each spec demands: JSON at the token and userinfo endpoints, a
//! redirect with `error` only to a registered redirect URI, an HTML page otherwise.

pub mod authorize;
pub mod logout;

use crate::domain::params::Params;
use crate::oidc::Provider;
use crate::oidc::client_auth::presented;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::token::TokenRequest;
use crate::web::extract::OAuthForm;
use crate::web::respond::{no_store, oauth_json, public_json};
use crate::web::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

/// The protocol surface: discovery, the browser steps, the back-channel endpoints, logout.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/authorize/resume", get(authorize::resume))
        .route("/authorize/cancel", post(authorize::cancel))
        .route(
            "/consent",
            get(authorize::consent_get).post(authorize::consent_post),
        )
        .route("/token", post(token).options(preflight))
        .route("/introspect", post(introspect))
        .route("/revoke", post(revoke).options(preflight))
        .route("/userinfo", get(userinfo).post(userinfo).options(preflight))
        .route("/logout", get(logout::logout).post(logout::logout))
        .route("/logout/confirm", post(logout::logout_confirm))
}

pub async fn discovery(State(p): State<Provider>) -> Response {
    public_json(&p.discovery())
}

pub async fn jwks(State(p): State<Provider>) -> Response {
    let mut resp = public_json(&p.keys.jwks());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    resp
}

/// Reads the form and authenticates the client for a back-channel endpoint.
async fn authenticated(
    p: &Provider,
    headers: &HeaderMap,
    form: Params,
) -> Result<(std::sync::Arc<crate::domain::client::Client>, Params), OAuthError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let creds = presented(auth, &form)?;
    let client = p.authenticate_client(&creds).await?;
    Ok((client, form))
}

/// CORS for browser apps (a single-page app redeeming its code at `/token`): an allowed
/// origin ([`Provider::origin_allowed`]) may read the answer. Never with credentials: we
/// neither send nor want cookies here.
async fn with_cors(
    p: &Provider,
    headers: &HeaderMap,
    client: Option<&crate::domain::client::Client>,
    mut resp: Response,
) -> Response {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return resp;
    };
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let allowed = match origin.to_str() {
        Ok(o) => p.origin_allowed(o, client).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the web origins");
            false
        }),
        Err(_) => false,
    };
    if allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    resp
}

/// `OPTIONS /token|/revoke|/userinfo`: the CORS preflight. An origin of some client's
/// redirect URIs may send `Authorization` and `Content-Type`; whether it may read the
/// answer is decided per client on the request itself.
pub async fn preflight(State(p): State<Provider>, headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let Some(origin) = headers.get(header::ORIGIN).cloned() else {
        return resp;
    };
    resp.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let allowed = match origin.to_str() {
        Ok(o) => p.origin_allowed(o, None).await.unwrap_or(false),
        Err(_) => false,
    };
    if allowed {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

/// `POST /token`. A malformed form is answered here, not by the extractor, so that a
/// browser app may read that error too (CORS).
pub async fn token(
    State(p): State<Provider>,
    State(ops): State<crate::operations::Operations>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let (client, grant, result) = match form_of_client(&p, &headers, form).await {
        Ok((client, form)) => {
            let grant = match form.get("grant_type") {
                Some("authorization_code") => "authorization_code",
                Some("refresh_token") => "refresh_token",
                Some("client_credentials") => "client_credentials",
                _ => "other",
            };
            let result = match TokenRequest::parse(&form) {
                Ok(req) => p.token(&client, req).await,
                Err(e) => Err(e),
            };
            (Some(client), grant, result)
        }
        Err(e) => (None, "unknown", Err(e)),
    };
    let outcome = match &result {
        Ok(_) => "issued",
        Err(e) => e.code.as_str(),
    };
    ops.metrics().inc(
        "buergerkonto_tokens_total",
        &[("grant", grant), ("outcome", outcome)],
    );
    with_cors(&p, &headers, client.as_deref(), oauth_json(result)).await
}

/// The form, if it could be read, and the client it authenticates.
async fn form_of_client(
    p: &Provider,
    headers: &HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Result<(std::sync::Arc<crate::domain::client::Client>, Params), OAuthError> {
    authenticated(p, headers, form?.0).await
}

/// `POST /introspect` (RFC 7662): confidential clients only.
pub async fn introspect(
    State(p): State<Provider>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm,
) -> Response {
    oauth_json(introspection(&p, &headers, form).await)
}

async fn introspection(
    p: &Provider,
    headers: &HeaderMap,
    form: Params,
) -> Result<serde_json::Value, OAuthError> {
    let (client, form) = authenticated(p, headers, form).await?;
    if client.is_public() {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection needs client authentication",
        ));
    }
    p.introspect(&client, &form).await
}

/// `POST /revoke` (RFC 7009): 200 for revoked and for unknown tokens. A malformed form is
/// answered here, for CORS, as at `/token`.
pub async fn revoke(
    State(p): State<Provider>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let (client, result) = match form_of_client(&p, &headers, form).await {
        Ok((client, form)) => {
            let result = p.revoke(&client, &form).await;
            (Some(client), result)
        }
        Err(e) => (None, Err(e)),
    };
    let resp = match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    };
    with_cors(&p, &headers, client.as_deref(), resp).await
}

/// `GET|POST /userinfo` with a bearer token (RFC 6750 §2.1). A browser app at the origin of
/// any client's redirect URI may read the answer (the token it presents is its own proof).
pub async fn userinfo(State(p): State<Provider>, headers: HeaderMap) -> Response {
    let resp = userinfo_answer(&p, &headers).await;
    with_cors(&p, &headers, None, resp).await
}

async fn userinfo_answer(p: &Provider, headers: &HeaderMap) -> Response {
    let token = super::extract::bearer_token(headers);
    let Some(token) = token else {
        // RFC 6750 §3.1: no error code when the request has no authentication.
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"buergerkonto\""),
        );
        return resp;
    };
    match p.userinfo(&token).await {
        Ok(claims) => {
            let mut resp = Json(claims).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}
