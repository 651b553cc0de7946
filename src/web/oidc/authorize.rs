//! The browser steps of the authorization flow: each handler extracts, asks the engine
//! (`oidc::flow`) for the next [`Step`], and renders it.

use crate::domain::lang::Lang;
use crate::oidc::authorize::{Obstacle, PageReason};
use crate::oidc::flow::{Next, Step};
use crate::web::extract::{
    ClientIp, CsrfForm, GetOrPost, LANG_COOKIE, MaybeSession, PageLang, Query, set_cookie,
};
use crate::web::i18n::{Texts, texts};
use crate::web::pages::req_id;
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `GET|POST /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    GetOrPost(raw): GetOrPost,
) -> Response {
    let next = state.provider.authorize(&raw, session, ip).await;
    render(&state, &headers, false, next, lang)
}

/// `GET /authorize/resume?req=ID`: after login or step-up.
pub async fn resume(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Response {
    let next = state.provider.resume(&req_id(q.get("req")), session).await;
    render(&state, &headers, false, next, lang)
}

/// `POST /authorize/cancel`: back to the portal without logging in.
pub async fn cancel(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let next = state.provider.cancel(&req_id(form.get("req"))).await;
    render(&state, &headers, false, next, lang)
}

/// `GET /consent?req=ID`.
pub async fn consent_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Response {
    let next = state
        .provider
        .consent_step(&req_id(q.get("req")), session)
        .await;
    render(&state, &headers, true, next, lang)
}

/// `POST /consent`: allow or deny.
pub async fn consent_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(session): MaybeSession,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let allow = form.get("decision") == Some("allow");
    let next = state
        .provider
        .answer_consent(&req_id(form.get("req")), session, allow)
        .await;
    render(&state, &headers, false, next, lang)
}

/// Renders a step. The consent question is a page of its own: shown on `/consent` (when
/// `consent_page`), redirected to from everywhere else. The language a portal asked for
/// (`ui_locales`) becomes the browser's language on first use, so registration, the
/// confirmation mail and the account page keep it (the citizen's own choice is never
/// overwritten).
fn render(
    state: &AppState,
    headers: &HeaderMap,
    consent_page: bool,
    next: Next,
    lang: Lang,
) -> Response {
    let Next { step, lang: asked } = next;
    let keep_lang = asked
        .filter(|_| {
            crate::web::extract::cookie(headers, LANG_COOKIE, state.web.secure_cookies).is_none()
        })
        .map(|l| {
            set_cookie(
                LANG_COOKIE,
                l.code(),
                Some(365 * 86_400),
                state.web.secure_cookies,
            )
        });
    let lang = asked.unwrap_or(lang);
    with_cookies(
        render_step(state, headers, consent_page, step, lang),
        keep_lang,
    )
}

fn render_step(
    state: &AppState,
    headers: &HeaderMap,
    consent_page: bool,
    step: Step,
    lang: Lang,
) -> Response {
    match step {
        Step::Redirect(url) => see_other(&url, &[]),
        Step::Login { pending } => see_other(&format!("/login?req={pending}"), &[]),
        Step::StepUp { pending } => see_other(&format!("/login/otp?req={pending}"), &[]),
        Step::Consent {
            pending,
            portal,
            scopes,
        } => {
            if !consent_page {
                return see_other(&format!("/consent?req={pending}"), &[]);
            }
            let t = texts(lang);
            let (token, set) = crate::web::extract::csrf_token(headers, state.web.secure_cookies);
            let page = ConsentPage {
                t,
                lang_switch: lang_switch(t, &format!("/consent?req={pending}")),
                csrf: &token,
                req: &pending,
                portal: &portal,
                scopes: scopes.iter().filter_map(|s| t.scope_label(s)).collect(),
                face: crate::web::face::Face::of(Some(&portal), &state.web),
            };
            with_cookies(html(StatusCode::OK, &page), set)
        }
        Step::CannotReach { back, obstacle } => {
            let t = texts(lang);
            html(
                StatusCode::OK,
                &CannotReachPage {
                    t,
                    lang_switch: lang_switch(t, "/konto"),
                    text: obstacle_text(t, obstacle),
                    back: &back,
                    setup: obstacle == Obstacle::Factor,
                    req: "",
                    csrf: "",
                    upstreams: Vec::new(),
                },
            )
        }
        Step::UpstreamStepUp { pending, obstacle } => {
            let t = texts(lang);
            let (token, set) = crate::web::extract::csrf_token(headers, state.web.secure_cookies);
            let page = CannotReachPage {
                t,
                lang_switch: lang_switch(t, &format!("/authorize/resume?req={pending}")),
                text: obstacle_text(t, obstacle),
                back: "",
                setup: false,
                req: &pending,
                csrf: &token,
                upstreams: state
                    .web
                    .upstream_logins
                    .iter()
                    // A step-up is SAML's (BundID); OpenID upstreams link and log in.
                    .filter(|(id, _)| state.saml.has(id))
                    .map(|(id, name)| (id.as_str(), t.upstream_confirm.replace("{}", name)))
                    .collect(),
            };
            with_cookies(html(StatusCode::OK, &page), set)
        }
        Step::Refused(reason) => refused(reason, lang),
        Step::Failed(cause) => PageError::internal(lang, cause).into_response(),
    }
}

/// The page for a request that cannot be answered at a redirect URI.
fn refused(reason: PageReason, lang: Lang) -> Response {
    let (status, text, retry): (_, fn(&Texts) -> &str, _) = match reason {
        PageReason::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            |t| t.error_too_many,
            Some("600"),
        ),
        PageReason::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            |t| t.error_busy,
            Some("60"),
        ),
        PageReason::UnknownClient | PageReason::MissingClientId => {
            (StatusCode::BAD_REQUEST, |t| t.error_unknown_client, None)
        }
        PageReason::UnregisteredRedirectUri | PageReason::MissingRedirectUri => {
            (StatusCode::BAD_REQUEST, |t| t.error_redirect_uri, None)
        }
        PageReason::UnknownRequest => (StatusCode::BAD_REQUEST, |t| t.error_expired, None),
        PageReason::MalformedParameters => (StatusCode::BAD_REQUEST, |t| t.error_bad_request, None),
    };
    let mut r = PageError::new(status, lang, text).into_response();
    if let Some(secs) = retry {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
    r
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    portal: &'a crate::oidc::flow::Portal,
    scopes: Vec<&'static str>,
    face: crate::web::face::Face,
}

#[derive(Template)]
#[template(path = "cannot_reach.html")]
struct CannotReachPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    text: &'a str,
    /// The portal's error URL (the request is over), or empty while it waits.
    back: &'a str,
    setup: bool,
    /// The waiting request, its form token, and the upstreams that can confirm the level.
    req: &'a str,
    csrf: &'a str,
    upstreams: Vec<(&'a str, String)>,
}

fn obstacle_text(t: &Texts, obstacle: Obstacle) -> &str {
    match obstacle {
        Obstacle::Proofing => t.reach_proofing,
        Obstacle::Factor => t.reach_factor,
        Obstacle::Upstream => t.reach_upstream,
    }
}
