//! HTTP adapters for the protocol engine (`crate::oidc`): they extract, call, and map
//! errors to the form each spec demands: JSON at the token and userinfo endpoints, a
//! redirect with `error` only to a registered redirect URI, an HTML page otherwise.

use super::extract::{ClientIp, GetOrPost, OAuthForm, PageLang, Query, SESSION_COOKIE, set_cookie};
use super::i18n::{Texts, texts};
use super::pages::req_id;
use super::state::AppState;
use crate::authn::Session;
use crate::domain::lang::Lang;
use crate::domain::params::Params;
use crate::oidc::Provider;
use crate::oidc::authorize::{
    AccountFacts, AuthRequest, AuthorizeError, Decision, Obstacle, PageReason, Pending, decide,
    validate,
};
use crate::oidc::client_auth::presented;
use crate::oidc::error::{ErrorCode, OAuthError};
use crate::oidc::token::TokenRequest;
use crate::web::extract::{CsrfForm, MaybeSession, SignedIn, csrf_token};
use crate::web::respond::{
    PageError, html, lang_switch, message, no_store, oauth_json, public_json, see_other,
    with_cookies,
};
use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

/// Maps an authorization error to a page or a redirect to the registered redirect URI.
fn authorize_error(p: &Provider, e: AuthorizeError, lang: Lang) -> Response {
    match e {
        AuthorizeError::Redirect(r) => see_other(&p.error_url(&r), &[]),
        AuthorizeError::Page(PageReason::TooManyRequests, detail) => {
            tracing::info!(detail, "authorization request refused");
            let mut r = PageError::new(StatusCode::TOO_MANY_REQUESTS, lang, |t| t.error_too_many)
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
            r
        }
        AuthorizeError::Page(PageReason::Busy, detail) => {
            tracing::warn!(detail, "authorization request refused");
            let mut r = PageError::new(StatusCode::SERVICE_UNAVAILABLE, lang, |t| t.error_busy)
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            r
        }
        AuthorizeError::Page(reason, detail) => {
            tracing::info!(detail, "authorization request refused");
            let text: fn(&Texts) -> &str = match reason {
                PageReason::UnknownClient | PageReason::MissingClientId => {
                    |t| t.error_unknown_client
                }
                PageReason::UnregisteredRedirectUri | PageReason::MissingRedirectUri => {
                    |t| t.error_redirect_uri
                }
                PageReason::UnknownRequest => |t| t.error_expired,
                PageReason::MalformedParameters
                | PageReason::TooManyRequests
                | PageReason::Busy => |t| t.error_bad_request,
            };
            PageError::new(StatusCode::BAD_REQUEST, lang, text).into_response()
        }
        AuthorizeError::Internal(c) => PageError::internal(lang, c).into_response(),
    }
}

/// Runs the decision for a request and answers with the next step.
async fn proceed(
    state: &AppState,
    req: AuthRequest,
    client_name: String,
    session: Option<SignedIn>,
    pending_id: Option<String>,
    lang: Lang,
    ip: std::net::IpAddr,
) -> Response {
    let p = &state.provider;
    let consented = match &session {
        Some(SignedIn { session: s, .. }) => match p
            .db
            .consents()
            .get(
                s.account_id,
                &crate::domain::ids::ClientId(req.client_id.clone()),
            )
            .await
        {
            Ok(c) => c,
            Err(e) => return PageError::internal(lang, e).into_response(),
        },
        None => None,
    };
    let facts = match &session {
        Some(SignedIn { session: s, .. }) => match account_facts(state, &req, s, lang).await {
            Ok(f) => f,
            Err(r) => return r,
        },
        None => None,
    };
    match decide(
        &req,
        session.as_ref().map(|s| &s.session),
        consented.as_ref(),
        facts,
    ) {
        Err(e) => {
            if let Some(id) = &pending_id {
                let _ = p.drop_pending(id).await;
            }
            authorize_error(p, e, lang)
        }
        Ok(Decision::Issue) => {
            let Some(SignedIn {
                token,
                session: mut s,
            }) = session
            else {
                return PageError::internal(lang, "issue without session").into_response();
            };
            if let Some(id) = &pending_id
                && let Err(e) = p.drop_pending(id).await
            {
                return authorize_error(p, e, lang);
            }
            finish(state, &req, &token, &mut s, lang).await
        }
        Ok(Decision::CannotReach(obstacle)) => {
            if let Some(id) = &pending_id {
                let _ = p.drop_pending(id).await;
            }
            cannot_reach(p, &req, obstacle, lang)
        }
        Ok(next) => {
            let id = match pending_id {
                Some(id) => id,
                None => match p.save_pending(&Pending { req, client_name }, ip).await {
                    Ok(id) => id,
                    Err(e) => return authorize_error(p, e, lang),
                },
            };
            let path = match next {
                Decision::Login => "/login",
                Decision::StepUp => "/login/otp",
                _ => "/consent",
            };
            see_other(&format!("{path}?req={id}"), &[])
        }
    }
}

/// The account's proofing level and second factors, for the decision. Only looked up when
/// the session is below the requested level: the common SSO case costs no extra queries.
pub(crate) async fn account_facts(
    state: &AppState,
    req: &AuthRequest,
    s: &Session,
    lang: Lang,
) -> Result<Option<AccountFacts>, Response> {
    if s.acr >= req.required_level {
        return Ok(None);
    }
    let internal = |e: crate::account::AccountError| PageError::internal(lang, e).into_response();
    let account = state.accounts.get(s.account_id).await.map_err(internal)?;
    let factors = state
        .accounts
        .factors(s.account_id)
        .await
        .map_err(internal)?;
    Ok(Some(AccountFacts {
        proofing: account.proofing,
        has_totp: factors.totp,
        passkey: factors.best_passkey,
    }))
}

#[derive(Template)]
#[template(path = "cannot_reach.html")]
struct CannotReachPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    text: &'a str,
    back: &'a str,
    setup: bool,
}

/// Explains why the level cannot be reached and how to change that; the way back to the
/// portal carries `unmet_authentication_requirements`.
fn cannot_reach(p: &Provider, req: &AuthRequest, obstacle: Obstacle, lang: Lang) -> Response {
    let e = crate::oidc::authorize::RedirectError {
        redirect_uri: req.redirect_uri.clone(),
        code: ErrorCode::UnmetAuthenticationRequirements,
        description: "the requested assurance level cannot be reached with this account".into(),
        state: req.state.clone(),
    };
    let back = p.error_url(&e);
    let t = texts(lang);
    let (text, setup) = match obstacle {
        Obstacle::Proofing => (t.reach_proofing, false),
        Obstacle::Factor => (t.reach_factor, true),
    };
    html(
        StatusCode::OK,
        &CannotReachPage {
            t,
            lang_switch: lang_switch(t, "/konto"),
            text,
            back: &back,
            setup,
        },
    )
}

/// Issues the code, remembers the client in the session, redirects to the portal.
async fn finish(
    state: &AppState,
    req: &AuthRequest,
    token: &str,
    s: &mut Session,
    lang: Lang,
) -> Response {
    match state.provider.issue_code(req, s).await {
        Ok(url) => {
            if !s.clients.contains(&req.client_id) {
                s.clients.push(req.client_id.clone());
                if let Err(e) = state.sessions.save(token, s).await {
                    return PageError::internal(lang, e).into_response();
                }
            }
            see_other(&url, &[])
        }
        Err(e) => authorize_error(&state.provider, e, lang),
    }
}

/// `GET|POST /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    MaybeSession(session): MaybeSession,
    GetOrPost(raw): GetOrPost,
) -> Response {
    let (client, req) = match validate(&state.provider, &raw).await {
        Ok(v) => v,
        Err(e) => return authorize_error(&state.provider, e, lang),
    };
    let lang = req.lang.unwrap_or(lang);
    proceed(&state, req, client.name.clone(), session, None, lang, ip).await
}

/// `GET /authorize/resume?req=ID`: after login.
pub async fn resume(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    MaybeSession(session): MaybeSession,
    Query(q): Query,
) -> Response {
    let id = req_id(q.get("req"));
    let pending = match state.provider.load_pending(&id).await {
        Ok(p) => p,
        Err(e) => return authorize_error(&state.provider, e, lang),
    };
    let lang = pending.req.lang.unwrap_or(lang);
    proceed(
        &state,
        pending.req,
        pending.client_name,
        session,
        Some(id),
        lang,
        ip,
    )
    .await
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    client_name: &'a str,
    scopes: Vec<&'static str>,
}

fn scope_labels(t: &'static Texts, req: &AuthRequest) -> Vec<&'static str> {
    req.scopes()
        .iter()
        .filter_map(|s| t.scope_label(s))
        .collect()
}

/// `GET /consent?req=ID`.
/// The consent step is only reachable when the request needs nothing but consent: the login
/// (`prompt=login`, `max_age`) and the level must be satisfied first, so a browser cannot skip
/// them by going to the consent page directly.
async fn consent_gate(
    state: &AppState,
    pending: &Pending,
    id: &str,
    session: &Session,
    lang: Lang,
) -> Result<(), Response> {
    let p = &state.provider;
    let client_id = crate::domain::ids::ClientId(pending.req.client_id.clone());
    let consented =
        p.db.consents()
            .get(session.account_id, &client_id)
            .await
            .map_err(|e| PageError::internal(lang, e).into_response())?;
    let facts = account_facts(state, &pending.req, session, lang).await?;
    match decide(&pending.req, Some(session), consented.as_ref(), facts) {
        Ok(Decision::Consent | Decision::Issue) => Ok(()),
        Ok(Decision::Login) => Err(see_other(&format!("/login?req={id}"), &[])),
        Ok(Decision::StepUp) => Err(see_other(&format!("/login/otp?req={id}"), &[])),
        Ok(Decision::CannotReach(o)) => {
            let _ = p.drop_pending(id).await;
            Err(cannot_reach(p, &pending.req, o, lang))
        }
        Err(e) => {
            let _ = p.drop_pending(id).await;
            Err(authorize_error(p, e, lang))
        }
    }
}

pub async fn consent_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Response {
    let id = req_id(q.get("req"));
    let pending = match state.provider.load_pending(&id).await {
        Ok(p) => p,
        Err(e) => return authorize_error(&state.provider, e, lang),
    };
    let lang = pending.req.lang.unwrap_or(lang);
    let Some(signed_in) = session else {
        return see_other(&format!("/login?req={id}"), &[]);
    };
    if let Err(r) = consent_gate(&state, &pending, &id, &signed_in.session, lang).await {
        return r;
    }
    let t = texts(lang);
    let (token, set) = csrf_token(&headers, state.web.secure_cookies);
    let page = ConsentPage {
        t,
        lang_switch: lang_switch(t, &format!("/consent?req={id}")),
        csrf: &token,
        req: &id,
        client_name: &pending.client_name,
        scopes: scope_labels(t, &pending.req),
    };
    with_cookies(html(StatusCode::OK, &page), set)
}

/// `POST /consent`: allow records the consent and issues the code; deny answers `access_denied`.
pub async fn consent_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    CsrfForm(form): CsrfForm,
) -> Response {
    let p = &state.provider;
    let id = req_id(form.get("req"));
    let pending = match p.load_pending(&id).await {
        Ok(x) => x,
        Err(e) => return authorize_error(p, e, lang),
    };
    let lang = pending.req.lang.unwrap_or(lang);
    let Some(SignedIn { token, mut session }) = session else {
        return see_other(&format!("/login?req={id}"), &[]);
    };
    if let Err(r) = consent_gate(&state, &pending, &id, &session, lang).await {
        return r;
    }
    if let Err(e) = p.drop_pending(&id).await {
        return authorize_error(p, e, lang);
    }
    let req = pending.req;
    if form.get("decision") != Some("allow") {
        let e = crate::oidc::authorize::RedirectError {
            redirect_uri: req.redirect_uri.clone(),
            code: ErrorCode::AccessDenied,
            description: "the citizen denied consent".into(),
            state: req.state.clone(),
        };
        return see_other(&p.error_url(&e), &[]);
    }
    let client_id = crate::domain::ids::ClientId(req.client_id.clone());
    if let Err(e) =
        p.db.consents()
            .grant(session.account_id, &client_id, &req.scopes())
            .await
    {
        return PageError::internal(lang, e).into_response();
    }
    finish(&state, &req, &token, &mut session, lang).await
}

/// Reads the form and authenticates the client for a back-channel endpoint.
async fn authenticated(
    p: &Provider,
    headers: &HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Result<(std::sync::Arc<crate::domain::client::Client>, Params), OAuthError> {
    let OAuthForm(form) = form?;
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

/// `POST /token`.
pub async fn token(
    State(p): State<Provider>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let (client, result) = match authenticated(&p, &headers, form).await {
        Ok((client, form)) => {
            let result = match TokenRequest::parse(&form) {
                Ok(req) => p.token(&client, req).await,
                Err(e) => Err(e),
            };
            (Some(client), result)
        }
        Err(e) => (None, Err(e)),
    };
    with_cors(&p, &headers, client.as_deref(), oauth_json(result)).await
}

/// `POST /introspect` (RFC 7662): confidential clients only.
pub async fn introspect(
    State(p): State<Provider>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let (client, form) = authenticated(&p, &headers, form).await?;
        if client.is_public() {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "introspection needs client authentication",
            ));
        }
        p.introspect(&client, &form).await
    }
    .await;
    oauth_json(result)
}

/// `POST /revoke` (RFC 7009): 200 for revoked and for unknown tokens.
pub async fn revoke(
    State(p): State<Provider>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let (client, result) = match authenticated(&p, &headers, form).await {
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

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    carry: Vec<(&'static str, String)>,
}

const LOGOUT_PARAMS: [&str; 5] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
];

/// `GET|POST /logout` (RP-Initiated Logout 1.0).
pub async fn logout(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    GetOrPost(raw): GetOrPost,
) -> Response {
    let Ok(params) = Params::parse(&raw) else {
        return PageError::bad_request(lang).into_response();
    };
    let req = match state.provider.validate_logout(&params).await {
        Ok(r) => r,
        Err(e) => return logout_error(e, lang),
    };
    let lang = req.lang.unwrap_or(lang);
    // Without a hint naming this very session, ask first: a logout link must not be a way
    // for any page to log the citizen out.
    if let Some(SignedIn { session: s, .. }) = &session
        && req.hint_sid.as_deref() != Some(s.sid.as_str())
    {
        let t = texts(lang);
        let (token, set) = csrf_token(&headers, state.web.secure_cookies);
        let carry = LOGOUT_PARAMS
            .iter()
            .filter_map(|k| params.get(k).map(|v| (*k, v.to_owned())))
            .collect();
        return with_cookies(
            html(
                StatusCode::OK,
                &LogoutPage {
                    t,
                    lang_switch: lang_switch(t, "/konto"),
                    csrf: &token,
                    carry,
                },
            ),
            set,
        );
    }
    end_session(&state, &req, session.map(|s| s.token), lang).await
}

/// `POST /logout/confirm`: the citizen confirmed (from the question or the account page).
pub async fn logout_confirm(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let req = match state.provider.validate_logout(&form).await {
        Ok(r) => r,
        Err(e) => return logout_error(e, lang),
    };
    let lang = req.lang.unwrap_or(lang);
    let token = super::extract::cookie(&headers, SESSION_COOKIE, state.web.secure_cookies);
    end_session(&state, &req, token, lang).await
}

fn logout_error(e: crate::oidc::logout::LogoutError, lang: Lang) -> Response {
    match e {
        crate::oidc::logout::LogoutError::Invalid(d) => {
            tracing::info!(detail = d, "logout request refused");
            PageError::bad_request(lang).into_response()
        }
        crate::oidc::logout::LogoutError::Internal(c) => {
            PageError::internal(lang, c).into_response()
        }
    }
}

async fn end_session(
    state: &AppState,
    req: &crate::oidc::logout::LogoutRequest,
    token: Option<String>,
    lang: Lang,
) -> Response {
    if let Some(t) = token {
        match state.sessions.destroy(&t).await {
            Ok(Some(s)) => {
                state.provider.backchannel_logout(s.clone());
                let _ = state
                    .provider
                    .db
                    .audit()
                    .record(
                        "session.logout",
                        Some(s.account_id),
                        None,
                        json!({ "sid_prefix": crate::crypto::log_prefix(&s.sid) }),
                    )
                    .await;
            }
            Ok(None) => {}
            Err(e) => return PageError::internal(lang, e).into_response(),
        }
    }
    let clear = set_cookie(SESSION_COOKIE, "", Some(0), state.web.secure_cookies);
    match state.provider.logout_redirect(req) {
        Some(url) => see_other(&url, &[clear]),
        None => with_cookies(
            message(
                lang,
                StatusCode::OK,
                |t| t.logged_out_title,
                |t| t.logged_out_text,
                None,
            ),
            [clear],
        ),
    }
}
