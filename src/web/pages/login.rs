//! Login page, language switch.

use super::req_id;
use crate::account::AccountError;
use crate::domain::lang::Lang;
use crate::domain::level::Amr;
use crate::oidc::Provider;
use crate::oidc::backchannel::Ending;
use crate::web::extract::{CheckedForm, MaybeSession, SignedIn, csrf_token};
use crate::web::extract::{
    ClientIp, DEVICE_COOKIE, DEVICE_COOKIE_SECS, LANG_COOKIE, PageLang, Query, SESSION_COOKIE,
    cookie, set_cookie,
};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::{AppState, WebConfig};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/login", get(show).post(submit))
        .route("/lang", get(switch))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    email: &'a str,
    portal: Option<&'a crate::oidc::flow::Portal>,
    error: Option<&'a str>,
    face: crate::web::face::Face,
    /// (id, button label) of each upstream to log in with.
    upstreams: Vec<(&'a str, String)>,
}

/// The language for a page within a flow: the request's `ui_locales` wins.
async fn flow_lang(
    p: &Provider,
    req: &str,
    fallback: Lang,
) -> (Lang, Option<crate::oidc::flow::Portal>, Option<String>) {
    if req.is_empty() {
        return (fallback, None, None);
    }
    match p.load_pending(req).await {
        Ok(pending) => (
            pending.req.lang.unwrap_or(fallback),
            Some(pending.portal()),
            pending.req.login_hint,
        ),
        Err(_) => (fallback, None, None),
    }
}

/// The login page's context within an authorization flow.
struct Flow {
    lang: Lang,
    req: String,
    portal: Option<crate::oidc::flow::Portal>,
}

fn render(
    status: StatusCode,
    headers: &HeaderMap,
    web: &WebConfig,
    flow: &Flow,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (token, set) = csrf_token(headers, web.secure_cookies);
    let t = texts(flow.lang);
    let req = flow.req.as_str();
    let portal = flow.portal.as_ref();
    let back = if req.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?req={req}")
    };
    // "Anmeldung für Hundesteuer online – Gemeinde Beispielheim", or the Verbund's name.
    let mut face = crate::web::face::Face::of(portal, web);
    if portal.is_some() {
        face.title = format!("{} {}", t.login_for, face.title);
    }
    let page = LoginPage {
        t,
        lang_switch: lang_switch(t, &back),
        csrf: &token,
        req,
        email,
        portal,
        error,
        face,
        upstreams: web
            .upstream_logins
            .iter()
            .map(|(id, name)| (id.as_str(), t.upstream_login.replace("{}", name)))
            .collect(),
    };
    with_cookies(html(status, &page), set)
}

pub async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let req = req_id(q.get("req"));
    let (lang, portal, hint) = flow_lang(&state.provider, &req, lang).await;
    let email = hint.unwrap_or_default();
    let flow = Flow { lang, req, portal };
    Ok(render(
        StatusCode::OK,
        &headers,
        &state.web,
        &flow,
        &email,
        None,
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let req = req_id(form.get("req"));
    let (lang, portal, _) = flow_lang(&state.provider, &req, lang).await;
    let t = texts(lang);
    let email = form.get("email").unwrap_or("");
    let email_shown = email.chars().take(254).collect::<String>();
    let flow = Flow {
        lang,
        req: req.clone(),
        portal,
    };
    let again =
        |status, msg: &str| render(status, &headers, &state.web, &flow, &email_shown, Some(msg));
    if !csrf_ok {
        return Ok(again(StatusCode::FORBIDDEN, t.err_csrf));
    }
    let password = form.get("password").unwrap_or("");
    let cont = (!req.is_empty()).then_some(req.as_str());
    let result = state.accounts.login(email, password, ip, lang, cont).await;
    let outcome = match &result {
        Ok(_) => "password_ok",
        Err(AccountError::InvalidCredentials) => "invalid_credentials",
        Err(AccountError::Throttled) => "throttled",
        Err(AccountError::Unverified) => "unverified",
        Err(AccountError::Disabled) => "disabled",
        Err(AccountError::Hash(crate::crypto::PasswordError::Busy)) => "shed",
        Err(_) => "error",
    };
    state.ops.metrics().inc(
        "buergerkonto_password_logins_total",
        &[("outcome", outcome)],
    );
    let account = match result {
        Ok(a) => a,
        Err(AccountError::InvalidCredentials) => {
            return Ok(again(StatusCode::UNAUTHORIZED, t.err_credentials));
        }
        Err(AccountError::Throttled) => {
            return Ok(again(StatusCode::TOO_MANY_REQUESTS, t.err_throttled));
        }
        Err(AccountError::Unverified) => return Ok(again(StatusCode::FORBIDDEN, t.err_unverified)),
        Err(AccountError::Disabled) => return Ok(again(StatusCode::FORBIDDEN, t.err_disabled)),
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    // An account with a second factor: the password alone opens nothing yet.
    let factors = state
        .accounts
        .factors(account.id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    if factors.usable(state.accounts.passkeys_available()) {
        let first = (vec![Amr::Pwd], None);
        return await_second_factor(
            &state,
            &headers,
            (account.id, account.proofing),
            first,
            &req,
            lang,
        )
        .await;
    }
    start_session(&state, &headers, &account, vec![Amr::Pwd], &req, lang).await
}

/// The first factor was right (the password, or an upstream's low login) and the account
/// has a second factor: a session that waits for it (nothing but the second-factor page
/// takes it), and that page.
pub(crate) async fn await_second_factor(
    state: &AppState,
    headers: &HeaderMap,
    (account, proofing): (crate::domain::ids::AccountId, crate::domain::level::Loa),
    (amr, upstream): (Vec<Amr>, Option<crate::authn::UpstreamAuth>),
    req: &str,
    lang: Lang,
) -> Result<Response, PageError> {
    end_previous(state, headers, lang).await?;
    let (token, _) = state
        .sessions
        .create_awaiting_factor(account, proofing, amr, user_agent(headers), upstream)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let cookie = set_cookie(SESSION_COOKIE, &token, None, state.web.secure_cookies);
    let next = if req.is_empty() {
        "/login/otp".to_owned()
    } else {
        format!("/login/otp?req={req}")
    };
    Ok(see_other(&next, &[cookie]))
}

/// A new login replaces the browser's session: its portals learn that it ended.
pub(crate) async fn end_previous(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
) -> Result<(), PageError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE, state.web.secure_cookies) {
        state
            .provider
            .end_session(&old, Ending::Replaced)
            .await
            .map_err(|e| PageError::internal(lang, e))?;
    }
    Ok(())
}

/// After every completed login: the account notes it (a due deletion is cancelled, a new
/// browser is mailed about). Returns the device cookie to set, if the browser needs one.
pub(crate) async fn completed_login(
    state: &AppState,
    headers: &HeaderMap,
    account: crate::domain::ids::AccountId,
    reached: crate::domain::level::Loa,
    lang: Lang,
) -> Result<Option<String>, PageError> {
    let device = cookie(headers, DEVICE_COOKIE, state.web.secure_cookies);
    let notes = match state
        .accounts
        .signed_in(account, device.as_deref(), user_agent(headers), reached)
        .await
    {
        Ok(n) => n,
        Err(AccountError::Disabled) => {
            return Err(PageError::new(StatusCode::FORBIDDEN, lang, |t| {
                t.err_disabled
            }));
        }
        // Deleted between the password check and now: no login.
        Err(AccountError::Store(crate::store::StoreError::NotFound)) => {
            return Err(PageError::new(StatusCode::UNAUTHORIZED, lang, |t| {
                t.err_credentials
            }));
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    state
        .ops
        .metrics()
        .inc("buergerkonto_logins_total", &[("level", reached.name())]);
    Ok(notes.device_cookie.map(|v| {
        set_cookie(
            DEVICE_COOKIE,
            &v,
            Some(DEVICE_COOKIE_SECS),
            state.web.secure_cookies,
        )
    }))
}

/// Starts a session after a successful authentication (a fresh session id at every login;
/// the old one ends) and continues the authorization request, or goes to the account page.
pub(crate) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    account: &crate::domain::account::Account,
    amr: Vec<Amr>,
    req: &str,
    lang: Lang,
) -> Result<Response, PageError> {
    end_previous(state, headers, lang).await?;
    let reached =
        crate::domain::level::effective(account.proofing, crate::domain::level::strength_of(&amr));
    let device = completed_login(state, headers, account.id, reached, lang).await?;
    let (token, _) = state
        .sessions
        .create(account.id, account.proofing, amr, user_agent(headers))
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let cookie = set_cookie(SESSION_COOKIE, &token, None, state.web.secure_cookies);
    let next = if req.is_empty() {
        "/konto".to_owned()
    } else {
        format!("/authorize/resume?req={req}")
    };
    let cookies: Vec<String> = std::iter::once(cookie).chain(device).collect();
    Ok(see_other(&next, &cookies))
}

/// `GET /lang?to=en&back=/login?...`: remembers the language and goes back (local paths only).
pub async fn switch(
    State(state): State<AppState>,
    session: Result<MaybeSession, PageError>,
    Query(q): Query,
) -> Response {
    let web = &state.web;
    let lang = q.get("to").and_then(Lang::pick).unwrap_or_default();
    // A logged-in holder's choice also sets the language of mails sent without a request.
    if let Ok(MaybeSession(Some(SignedIn { session, .. }))) = session
        && let Err(e) = state.accounts.set_lang(session.account_id, lang).await
    {
        tracing::warn!(error = %e, "could not store the language");
    }
    // Only plain local paths: no scheme, no host, no control characters (browsers drop tabs
    // and newlines, which would turn "/\t/evil" into "//evil").
    let back = q
        .get("back")
        .filter(|b| {
            b.starts_with('/')
                && !b.starts_with("//")
                && b.len() <= 512
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"/?=&_.~%-".contains(&c))
        })
        .unwrap_or("/konto");
    see_other(
        back,
        &[set_cookie(
            LANG_COOKIE,
            lang.code(),
            Some(365 * 86_400),
            web.secure_cookies,
        )],
    )
}

/// The browser's `User-Agent`, for the session list.
#[must_use]
pub fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
