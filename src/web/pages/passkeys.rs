//! Passkey pages: login with a passkey alone (`/login/passkey`), step-up with a passkey
//! (`/login/otp/passkey`), and the sign-in methods page (`/konto/sicherheit`): passkeys
//! (add, rename, remove), the authenticator app (remove), verified personal data and links to
//! upstream identity providers.

use super::factors::{
    StepUpPost, needs_current_factor, needs_fresh_factor, otp_page, raise_session, step_up_post,
};
use super::login::start_session;
use super::{day, req_id};
use crate::account::AccountError;
use crate::account::passkeys::Ceremony;
use crate::domain::lang::Lang;
use crate::domain::level::Loa;
use crate::web::extract::{CheckedForm, FactorSession, SignedIn, csrf_token};
use crate::web::extract::{ClientIp, PageLang, Query};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use std::collections::HashMap;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/login/passkey", get(login_get).post(login_post))
        .route("/login/otp/passkey", post(stepup_post))
        .route("/konto/sicherheit", get(security_get))
        .route("/konto/passkeys", post(add_post))
        .route("/konto/passkeys/rename", post(rename_post))
        .route("/konto/factors/remove", post(remove_post))
}

#[derive(Template)]
#[template(path = "passkey_login.html")]
struct LoginPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    error: Option<&'a str>,
    passkey: Option<Ceremony>,
}

#[allow(clippy::too_many_arguments)]
async fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    ip: std::net::IpAddr,
    status: StatusCode,
    req: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if !state
        .accounts
        .may_start_anonymous_ceremony(ip)
        .await
        .map_err(|e| PageError::internal(lang, e))?
    {
        return Err(PageError::new(StatusCode::TOO_MANY_REQUESTS, lang, |t| {
            t.err_throttled
        }));
    }
    let passkey = match state.accounts.passkey_auth_start(None).await {
        Ok(c) => Some(c),
        Err(AccountError::Unavailable) => None,
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let (token, set) = csrf_token(headers, state.web.secure_cookies);
    let page = LoginPage {
        t,
        lang_switch: lang_switch(t, &format!("/login/passkey?req={req}")),
        csrf: &token,
        req,
        error: error.or(passkey.is_none().then_some(t.pk_unavailable)),
        passkey,
    };
    Ok(with_cookies(html(status, &page), set))
}

/// `GET /login/passkey?req=ID`: log in with a passkey alone.
pub async fn login_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let req = req_id(q.get("req"));
    login_page(&state, &headers, lang, ip, StatusCode::OK, &req, None).await
}

/// `POST /login/passkey`: a verified passkey starts a session with `hwk` (and `user` when
/// the authenticator verified the user).
pub async fn login_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let req = req_id(form.get("req"));
    if !csrf_ok {
        return login_page(
            &state,
            &headers,
            lang,
            ip,
            StatusCode::FORBIDDEN,
            &req,
            Some(t.err_csrf),
        )
        .await;
    }
    let result = state
        .accounts
        .passkey_auth_finish(
            form.get("ceremony").unwrap_or(""),
            form.get("credential").unwrap_or(""),
            None,
        )
        .await;
    let login = match result {
        Ok(l) => l,
        Err(AccountError::InvalidCredentials | AccountError::InvalidToken) => {
            return login_page(
                &state,
                &headers,
                lang,
                ip,
                StatusCode::UNAUTHORIZED,
                &req,
                Some(t.pk_failed),
            )
            .await;
        }
        // Passkeys need a host name as issuer: a clear page, not an error of ours.
        Err(AccountError::Unavailable) => {
            return login_page(
                &state,
                &headers,
                lang,
                ip,
                StatusCode::BAD_REQUEST,
                &req,
                Some(t.pk_unavailable),
            )
            .await;
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let account = state
        .accounts
        .get(login.account)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    // A device-bound passkey gives hwk, a synced one swk (both verify the user).
    let amr = crate::domain::level::passkey_amr(login.level).to_vec();
    state
        .accounts
        .record(
            "account.login",
            account.id,
            serde_json::json!({ "amr": amr }),
        )
        .await;
    start_session(&state, &headers, &account, amr, &req, lang).await
}

/// `POST /login/otp/passkey`: step-up with one of the session account's passkeys.
pub async fn stepup_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    FactorSession(signed): FactorSession,
    headers: HeaderMap,
    form: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let StepUpPost {
        req,
        next,
        token,
        session,
    } = match step_up_post(&state, &headers, signed, &form, lang).await? {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let result = state
        .accounts
        .passkey_auth_finish(
            form.params.get("ceremony").unwrap_or(""),
            form.params.get("credential").unwrap_or(""),
            Some(session.account_id),
        )
        .await;
    match result {
        Ok(login) => {
            let methods = crate::domain::level::passkey_amr(login.level);
            let post = StepUpPost {
                req,
                next,
                token,
                session,
            };
            raise_session(&state, &headers, post, &methods, lang).await
        }
        Err(AccountError::InvalidCredentials | AccountError::InvalidToken) => {
            otp_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::UNAUTHORIZED,
                &req,
                &next,
                Some(t.pk_failed),
            )
            .await
        }
        Err(AccountError::Unavailable) => {
            otp_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_REQUEST,
                &req,
                &next,
                Some(t.pk_unavailable),
            )
            .await
        }
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

/// A claim's name for people.
fn claim_label<'a>(t: &'static Texts, claim: &'a str) -> &'a str {
    match claim {
        "given_name" => t.claim_given_name,
        "family_name" => t.claim_family_name,
        "birthdate" => t.claim_birthdate,
        "address" => t.claim_address,
        other => other,
    }
}

/// Where a claim is shown: given name, family name, birth date, address, then the rest.
fn claim_rank(claim: &str) -> usize {
    ["given_name", "family_name", "birthdate", "address"]
        .iter()
        .position(|c| *c == claim)
        .unwrap_or(4)
}

/// Who confirmed a claim, without the stored prefix: the clerk's office and name, or the
/// upstream provider's name.
fn source_text(source: &str, upstream_name: impl Fn(&str) -> Option<String>) -> String {
    match source.split_once(':') {
        Some(("clerk", who)) => who.to_owned(),
        Some(("upstream", id)) => upstream_name(id).unwrap_or_else(|| id.to_owned()),
        _ => source.to_owned(),
    }
}

/// A claim's stored JSON value as text: a string as it is (an ISO date as `TT.MM.JJJJ`), an
/// address by its lines.
fn claim_text(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::String(s)) => chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_or(s, |d| d.format("%d.%m.%Y").to_string()),
        Ok(serde_json::Value::Object(o)) => {
            if let Some(f) = o.get("formatted").and_then(|v| v.as_str()) {
                return f.to_owned();
            }
            ["street_address", "postal_code", "locality", "country"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(|v| v.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }
        _ => json.to_owned(),
    }
}

struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
    /// The level it gives, in words, and why.
    level: &'static str,
    kind: &'static str,
}

struct ClaimRow {
    claim: String,
    value: String,
    source: String,
    level: &'static str,
    date: String,
}

struct UpstreamRow {
    id: String,
    name: String,
    linked: Option<String>,
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    totp: bool,
    passkeys: Vec<PasskeyRow>,
    last_factor: bool,
    add: Option<Ceremony>,
    add_note: Option<&'a str>,
    claims: Vec<ClaimRow>,
    upstreams: Vec<UpstreamRow>,
    /// The way to substanziell and hoch, step by step.
    paths: Vec<crate::domain::level::PathTo>,
}

/// Renders the sign-in methods page for the session's account; `None` when there is no
/// session (the caller sends the browser to the login).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn security_page(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    lang: Lang,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    if let Some(r) = needs_current_factor(state, session, lang, "/konto/sicherheit").await? {
        return Ok(r);
    }
    let internal = |e: AccountError| PageError::internal(lang, e);
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(internal)?;
    let t = texts(lang);
    let factors = state.accounts.factors(account.id).await.map_err(internal)?;
    let passkeys = state
        .accounts
        .passkeys(account.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id.to_string(),
            name: p.name,
            created: day(p.created_at),
            last_used: p.last_used_at.map(day),
            level: t.level(p.level),
            kind: match (p.synced, p.level) {
                (true, _) => t.pk_kind_synced,
                (false, Loa::High) => t.pk_kind_bound,
                (false, _) => t.pk_kind_unattested,
            },
        })
        .collect();
    let (add, add_note) = match state.accounts.passkey_register_start(&account).await {
        Ok(c) => (Some(c), None),
        Err(AccountError::Unavailable) => (None, Some(t.pk_unavailable)),
        Err(AccountError::TooMany) => (None, Some(t.pk_too_many)),
        Err(e) => return Err(internal(e)),
    };
    let identity = state
        .accounts
        .identity(account.id)
        .await
        .map_err(internal)?;
    let mut sorted = identity.claims;
    sorted.sort_by_key(|c| claim_rank(&c.claim));
    let claims = sorted
        .into_iter()
        .map(|c| ClaimRow {
            level: t.level(Loa::from_name(&c.level).unwrap_or(Loa::Low)),
            date: day(c.verified_at),
            claim: claim_label(t, &c.claim).to_owned(),
            value: claim_text(&c.value),
            source: source_text(&c.source, |id| {
                state
                    .broker
                    .upstreams()
                    .find(|(u, _)| *u == id)
                    .map(|(_, name)| name.to_owned())
            }),
        })
        .collect();
    let linked: HashMap<String, String> = identity
        .links
        .into_iter()
        .map(|l| (l.upstream, day(l.linked_at)))
        .collect();
    let upstreams = state
        .broker
        .upstreams()
        .map(|(id, name)| UpstreamRow {
            linked: linked.get(id).cloned(),
            id: id.to_owned(),
            name: name.to_owned(),
        })
        .collect();
    let (token, set) = csrf_token(headers, state.web.secure_cookies);
    let page = SecurityPage {
        t,
        lang_switch: lang_switch(t, "/konto/sicherheit"),
        csrf: &token,
        notice,
        error,
        totp: factors.totp,
        passkeys,
        last_factor: factors.count() == 1,
        add,
        add_note,
        claims,
        upstreams,
        paths: [Loa::Substantial, Loa::High]
            .into_iter()
            .map(|l| {
                crate::domain::level::path_to(
                    l,
                    account.proofing,
                    factors.totp,
                    factors.best_passkey,
                )
            })
            .collect(),
    };
    Ok(with_cookies(html(status, &page), set))
}

/// `GET /konto/sicherheit`.
pub async fn security_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    security_page(&state, &headers, &session, lang, StatusCode::OK, None, None).await
}

/// A form post on the security page: the form's token and a proven second factor, else the
/// response to send (the page again with the error, or the step-up).
async fn security_form(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    csrf_ok: bool,
    lang: Lang,
) -> Result<Option<Response>, PageError> {
    let t = texts(lang);
    if !csrf_ok {
        return security_page(
            state,
            headers,
            session,
            lang,
            StatusCode::FORBIDDEN,
            None,
            Some(t.err_csrf),
        )
        .await
        .map(Some);
    }
    needs_current_factor(state, session, lang, "/konto/sicherheit").await
}

/// `POST /konto/passkeys`: finishes adding a passkey.
pub async fn add_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { token, mut session }: SignedIn,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if let Some(r) = security_form(&state, &headers, &session, csrf_ok, lang).await? {
        return Ok(r);
    }
    match state
        .accounts
        .passkey_register_finish(
            session.account_id,
            form.get("ceremony").unwrap_or(""),
            form.get("credential").unwrap_or(""),
            form.get("name").unwrap_or(""),
        )
        .await
    {
        Ok(()) => {
            session.factor_enrolled = true;
            state
                .sessions
                .save(&token, &session)
                .await
                .map_err(|e| PageError::internal(lang, e))?;
            security_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::OK,
                Some(t.pk_added),
                None,
            )
            .await
        }
        Err(AccountError::TooMany) => {
            security_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_REQUEST,
                None,
                Some(t.pk_too_many),
            )
            .await
        }
        Err(
            AccountError::InvalidCredentials
            | AccountError::InvalidToken
            | AccountError::Store(crate::store::StoreError::Conflict { .. }),
        ) => {
            security_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_REQUEST,
                None,
                Some(t.pk_failed),
            )
            .await
        }
        Err(AccountError::Unavailable) => {
            security_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_REQUEST,
                None,
                Some(t.pk_unavailable),
            )
            .await
        }
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

/// `POST /konto/passkeys/rename`.
pub async fn rename_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    if let Some(r) = security_form(&state, &headers, &session, csrf_ok, lang).await? {
        return Ok(r);
    }
    let Some(id) = form.get("id").and_then(|i| uuid::Uuid::parse_str(i).ok()) else {
        return Err(PageError::bad_request(lang));
    };
    match state
        .accounts
        .passkey_rename(session.account_id, id, form.get("name").unwrap_or(""))
        .await
    {
        Ok(()) => Ok(see_other("/konto/sicherheit", &[])),
        Err(AccountError::InvalidToken) => Err(PageError::bad_request(lang)),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

/// `POST /konto/factors/remove` with `kind=totp` or `kind=passkey&id=...`. The session must
/// have proved a second factor; removing the last one needs it again, just now.
pub async fn remove_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if let Some(r) = security_form(&state, &headers, &session, csrf_ok, lang).await? {
        return Ok(r);
    }
    if !state
        .accounts
        .lock_factors(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?
    {
        return security_page(
            &state,
            &headers,
            &session,
            lang,
            StatusCode::CONFLICT,
            None,
            Some(t.factor_busy),
        )
        .await;
    }
    let result = remove_factor(&state, &form, lang, &session).await;
    let _ = state.accounts.unlock_factors(session.account_id).await;
    result
}

/// The removal itself, under the account's factor lock.
async fn remove_factor(
    state: &AppState,
    form: &crate::domain::params::Params,
    lang: Lang,
    session: &crate::authn::Session,
) -> Result<Response, PageError> {
    let internal = |e: AccountError| PageError::internal(lang, e);
    let factors = state
        .accounts
        .factors(session.account_id)
        .await
        .map_err(internal)?;
    // The last factor goes only with the factor itself (or a recovery code), given just now.
    if factors.count() == 1
        && let Some(r) = needs_fresh_factor(state, session, lang, "/konto/sicherheit").await?
    {
        return Ok(r);
    }
    let removed = match form.get("kind") {
        Some("totp") if factors.totp => state.accounts.totp_remove(session.account_id).await,
        Some("passkey") => match form.get("id").and_then(|i| uuid::Uuid::parse_str(i).ok()) {
            Some(id) => state.accounts.passkey_remove(session.account_id, id).await,
            None => return Err(PageError::bad_request(lang)),
        },
        _ => return Err(PageError::bad_request(lang)),
    };
    match removed {
        Ok(()) => Ok(see_other("/konto/sicherheit", &[])),
        Err(AccountError::InvalidToken) => Err(PageError::bad_request(lang)),
        Err(e) => Err(internal(e)),
    }
}
