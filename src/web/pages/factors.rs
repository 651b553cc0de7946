//! Second factors: the step-up page during a login (`/login/otp`) and TOTP enrolment on the
//! account page (`/konto/totp`).

use super::req_id;
use crate::account::AccountError;
use crate::account::passkeys::Ceremony;
use crate::domain::lang::Lang;
use crate::domain::level::Amr;
use crate::web::extract::{CheckedForm, FactorSession, SignedIn, csrf_token};
use crate::web::extract::{PageLang, Query};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/login/otp", get(otp_get).post(otp_post))
        .route("/konto/totp", get(totp_get).post(totp_post))
}

#[derive(Template)]
#[template(path = "otp.html")]
struct OtpPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    next: &'a str,
    error: Option<&'a str>,
    title: &'static str,
    intro: &'static str,
    /// The way out: back to the login (the login's second step), the account page (a change)
    /// or the login (a step-up, which resumes the portal's request).
    cancel: (String, &'static str),
    totp: bool,
    /// A passkey ceremony (id, options) when the account has passkeys.
    passkey: Option<Ceremony>,
    face: crate::web::face::Face,
}

/// The step-up page: a TOTP code form and/or a passkey button, whichever the account has.
/// Whether a step-up (a second factor the account has) reaches `required`; false when the
/// account's proofing or factors cannot.
///
/// # Errors
/// Storage failures.
pub(crate) async fn needs_level_step_up(
    state: &AppState,
    session: &crate::authn::Session,
    required: crate::domain::level::Loa,
    lang: Lang,
) -> Result<bool, PageError> {
    let internal = |e: AccountError| PageError::internal(lang, e);
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(internal)?;
    let factors = state
        .accounts
        .factors(session.account_id)
        .await
        .map_err(internal)?;
    Ok(crate::domain::level::reachable_by_step_up(
        account.proofing,
        &session.amr,
        factors.totp,
        factors.best_passkey,
    ) >= required)
}

/// The account's way to `target`: identity confirmation and factor, each done or not.
pub(crate) async fn level_path(
    state: &AppState,
    account: crate::domain::ids::AccountId,
    target: crate::domain::level::Loa,
    lang: Lang,
) -> Result<crate::domain::level::PathTo, PageError> {
    let internal = |e: AccountError| PageError::internal(lang, e);
    let a = state.accounts.get(account).await.map_err(internal)?;
    let f = state.accounts.factors(account).await.map_err(internal)?;
    Ok(crate::domain::level::path_to(
        target,
        a.proofing,
        f.totp,
        f.best_passkey,
    ))
}

/// The recovery codes as a plain-text file in a `data:` URL, for a download without script.
fn codes_file(t: &Texts, codes: &[String]) -> String {
    let text = format!(
        "{}\r\n\r\n{}\r\n",
        t.totp_codes_file_head,
        codes.join("\r\n")
    );
    let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("data:text/plain;charset=utf-8,{encoded}")
}

/// The secret in blocks of four, as people type it (authenticator apps ignore the spaces).
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The account pages that may ask for a second factor first and are returned to after it.
const FACTOR_PAGES: [&str; 6] = [
    "/konto/sicherheit",
    "/konto/totp",
    "/konto/email",
    "/konto/passwort",
    "/konto/loeschen",
    "/postfach?papierkorb=1",
];

/// Where to go after a step-up outside an authorization: a mailbox message or one of the
/// account pages that ask for a factor; nothing else (no open redirect).
#[must_use]
pub fn local_next(v: Option<&str>) -> String {
    v.filter(|n| {
        FACTOR_PAGES.contains(n)
            || is_console_page(n)
            || n.strip_prefix("/postfach/").is_some_and(|id| {
                !id.is_empty()
                    && id.len() <= 40
                    && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            })
    })
    .unwrap_or("")
    .to_owned()
}

/// A console page (`/admin` and below) without query: the console asks for a fresh factor
/// before its graver actions and comes back. Only path characters, so never another origin.
fn is_console_page(n: &str) -> bool {
    (n == "/admin" || n.starts_with("/admin/"))
        && n.len() <= 200
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn otp_page(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    lang: Lang,
    status: StatusCode,
    req: &str,
    next: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let factors = state
        .accounts
        .factors(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    // Nothing to confirm with: the page that sets a factor up, not a form without a field.
    if !factors.usable(state.accounts.passkeys_available()) && !session.second_factor_due {
        return Ok(see_other("/konto/sicherheit", &[]));
    }
    let passkey = if factors.passkeys > 0 && state.accounts.passkeys_available() {
        Some(
            state
                .accounts
                .passkey_auth_start(Some(session.account_id))
                .await
                .map_err(|e| PageError::internal(lang, e))?,
        )
    } else {
        None
    };
    let t = texts(lang);
    let login_page = if req.is_empty() {
        "/login".to_owned()
    } else {
        format!("/login?req={req}")
    };
    let (title, intro, cancel) = if session.second_factor_due {
        (
            t.otp_login_title,
            t.otp_login_intro,
            (login_page, t.otp_login_cancel),
        )
    } else if next.starts_with("/konto") {
        (
            t.otp_title,
            t.otp_change_intro,
            ("/konto".to_owned(), t.cancel),
        )
    } else if next.is_empty() {
        (t.otp_title, t.otp_intro, ("/konto".to_owned(), t.cancel))
    } else {
        (t.otp_title, t.otp_intro, ("/postfach".to_owned(), t.cancel))
    };
    let face = crate::web::face::Face::of_request(state, req).await;
    let (token, set) = csrf_token(headers, state.web.secure_cookies);
    Ok(with_cookies(
        html(
            status,
            &OtpPage {
                face,
                title,
                intro,
                cancel,
                t,
                lang_switch: lang_switch(
                    t,
                    &if next.is_empty() {
                        format!("/login/otp?req={req}")
                    } else {
                        format!("/login/otp?next={next}")
                    },
                ),
                csrf: &token,
                req,
                next,
                error,
                totp: factors.totp,
                passkey,
            },
        ),
        set,
    ))
}

/// Adds the methods of a second factor to the session, raises its level to what the
/// account's proofing allows, and continues the authorization (or goes to the account page).
pub(crate) async fn raise_session(
    state: &AppState,
    headers: &HeaderMap,
    post: StepUpPost,
    methods: &[Amr],
    lang: Lang,
) -> Result<Response, PageError> {
    let StepUpPost {
        req,
        next,
        token,
        mut session,
    } = post;
    let (req, next, token) = (req.as_str(), next.as_str(), token.as_str());
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    for m in methods {
        if !session.amr.contains(m) {
            session.amr.push(*m);
        }
    }
    if session.amr.len() > 1 && session.amr.contains(&Amr::Pwd) && !session.amr.contains(&Amr::Mfa)
    {
        session.amr.push(Amr::Mfa);
    }
    session.reach(account.proofing);
    session.authenticated_now();
    let mut cookies = Vec::new();
    if session.second_factor_due {
        // The login's second step: the session opens now.
        state
            .sessions
            .complete(token, &mut session)
            .await
            .map_err(|e| PageError::internal(lang, e))?;
        match super::login::completed_login(state, headers, account.id, session.acr, lang).await {
            Ok(device) => cookies.extend(device),
            Err(e) => {
                // No login after all (the account was deleted meanwhile): the session goes.
                let _ = state.sessions.destroy(token).await;
                return Err(e);
            }
        }
    } else {
        state
            .sessions
            .save(token, &session)
            .await
            .map_err(|e| PageError::internal(lang, e))?;
    }
    state.ops.metrics().inc(
        "buergerkonto_step_ups_total",
        &[("via", "factor"), ("level", session.acr.name())],
    );
    state
        .accounts
        .record(
            "session.step_up",
            session.account_id,
            json!({ "acr": session.acr.name(), "amr": session.amr }),
        )
        .await;
    let next = if !req.is_empty() {
        format!("/authorize/resume?req={req}")
    } else if !next.is_empty() {
        next.to_owned()
    } else {
        "/konto".to_owned()
    };
    Ok(see_other(&next, &cookies))
}

/// `GET /login/otp?req=ID`: asks for the missing second factor.
pub async fn otp_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    FactorSession(signed): FactorSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let req = req_id(q.get("req"));
    let Some(SignedIn { session, .. }) = signed else {
        return Ok(see_other(&format!("/login?req={req}"), &[]));
    };
    let next = local_next(q.get("next"));
    otp_page(
        &state,
        &headers,
        &session,
        lang,
        StatusCode::OK,
        &req,
        &next,
        None,
    )
    .await
}

/// A posted step-up form (code or passkey), past the CSRF check and with a session.
pub(crate) struct StepUpPost {
    pub req: String,
    pub next: String,
    pub token: String,
    pub session: crate::authn::Session,
}

/// The common start of both step-up posts (the session, then the form's token); otherwise
/// the response to send.
pub(crate) async fn step_up_post(
    state: &AppState,
    headers: &HeaderMap,
    signed: Option<SignedIn>,
    form: &CheckedForm,
    lang: Lang,
) -> Result<Result<StepUpPost, Response>, PageError> {
    let req = req_id(form.params.get("req"));
    let next = local_next(form.params.get("next"));
    let Some(SignedIn { token, session }) = signed else {
        return Ok(Err(see_other(&format!("/login?req={req}"), &[])));
    };
    if !form.csrf_ok {
        let t = texts(lang);
        return otp_page(
            state,
            headers,
            &session,
            lang,
            StatusCode::FORBIDDEN,
            &req,
            &next,
            Some(t.err_csrf),
        )
        .await
        .map(Err);
    }
    Ok(Ok(StepUpPost {
        req,
        next,
        token,
        session,
    }))
}

/// `POST /login/otp`: a valid code adds `otp` (and `mfa`) to the session and raises its level
/// to what the account's proofing allows; then the authorization continues.
pub async fn otp_post(
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
    match state
        .accounts
        .check_second_factor(session.account_id, form.params.get("code").unwrap_or(""))
        .await
    {
        Ok(()) => {}
        Err(AccountError::InvalidCredentials) => {
            return otp_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::UNAUTHORIZED,
                &req,
                &next,
                Some(t.err_otp),
            )
            .await;
        }
        Err(AccountError::Throttled) => {
            return otp_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                &req,
                &next,
                Some(t.err_throttled),
            )
            .await;
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    }
    let post = StepUpPost {
        req,
        next,
        token,
        session,
    };
    raise_session(&state, &headers, post, &[Amr::Otp], lang).await
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    qr: &'a str,
    secret: &'a str,
    /// `otpauth://` for an authenticator app on the same phone (the QR code cannot be
    /// scanned from there).
    otpauth: &'a str,
    error: Option<&'a str>,
    recovery: Option<Vec<String>>,
    /// The codes as a `data:` URL for a download link (no script, nothing kept on the server).
    recovery_file: String,
}

async fn totp_page(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    if let Some(r) = needs_current_factor(state, session, lang, "/konto/totp").await? {
        return Ok(r);
    }
    let account = state
        .accounts
        .get(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let enrol = state
        .accounts
        .totp_start(account.id, &account.email)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let t = texts(lang);
    let (token, set) = csrf_token(headers, state.web.secure_cookies);
    let page = TotpPage {
        t,
        lang_switch: lang_switch(t, "/konto/totp"),
        csrf: &token,
        qr: &enrol.qr_svg,
        secret: &grouped(&enrol.secret_base32),
        otpauth: &enrol.otpauth_uri,
        error,
        recovery: None,
        recovery_file: String::new(),
    };
    Ok(with_cookies(html(status, &page), set))
}

/// How recent a second factor must be for the gravest changes (removing the last factor,
/// deleting the account).
const FRESH_FACTOR_MS: i64 = 10 * 60 * 1000;

/// Changing second factors (or the address that resets the password) needs one of the
/// current ones: a password alone (perhaps a stolen one) must not swap or add a second factor
/// for the attacker. A session that enrolled its first factor counts. Otherwise the step-up,
/// which returns to `back` (one of [`FACTOR_PAGES`]).
pub(crate) async fn needs_current_factor(
    state: &AppState,
    session: &crate::authn::Session,
    lang: Lang,
    back: &str,
) -> Result<Option<Response>, PageError> {
    let proved = session.factor_enrolled || factor_given(session);
    factor_gate(state, session, lang, back, proved).await
}

/// The gravest changes need a second factor given in the last minutes (a recovery code
/// counts), not one from the start of a long session, and never only the password. The
/// step-up returns to `back`. Accounts without a factor pass (they have only the password).
pub(crate) async fn needs_fresh_factor(
    state: &AppState,
    session: &crate::authn::Session,
    lang: Lang,
    back: &str,
) -> Result<Option<Response>, PageError> {
    let fresh = chrono::Utc::now().timestamp_millis() - session.auth_time_ms() < FRESH_FACTOR_MS;
    factor_gate(state, session, lang, back, factor_given(session) && fresh).await
}

/// Whether the session's login or a step-up in it gave a second factor.
pub(crate) fn factor_given(session: &crate::authn::Session) -> bool {
    [Amr::Otp, Amr::Hwk, Amr::Swk]
        .iter()
        .any(|m| session.amr.contains(m))
}

/// The step-up to `back` when the account has a factor and `proved` is false.
async fn factor_gate(
    state: &AppState,
    session: &crate::authn::Session,
    lang: Lang,
    back: &str,
    proved: bool,
) -> Result<Option<Response>, PageError> {
    if proved {
        return Ok(None);
    }
    let factors = state
        .accounts
        .factors(session.account_id)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    // A passkey that cannot be used here (no WebAuthn configured) cannot be asked for.
    let usable = factors.usable(state.accounts.passkeys_available());
    Ok(usable.then(|| see_other(&format!("/login/otp?next={back}"), &[])))
}

/// `GET /konto/totp`: the secret as QR code and text.
pub async fn totp_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    totp_page(&state, &headers, &session, lang, StatusCode::OK, None).await
}

/// `POST /konto/totp`: a code from the app confirms the enrolment; the recovery codes are shown once.
pub async fn totp_post(
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
    if !csrf_ok {
        return totp_page(
            &state,
            &headers,
            &session,
            lang,
            StatusCode::FORBIDDEN,
            Some(t.err_csrf),
        )
        .await;
    }
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/totp").await? {
        return Ok(r);
    }
    match state
        .accounts
        .totp_confirm(session.account_id, form.get("code").unwrap_or(""))
        .await
    {
        Ok(codes) => {
            session.factor_enrolled = true;
            state
                .sessions
                .save(&token, &session)
                .await
                .map_err(|e| PageError::internal(lang, e))?;
            let page = TotpPage {
                t,
                lang_switch: lang_switch(t, "/konto"),
                csrf: "",
                qr: "",
                secret: "",
                otpauth: "",
                error: None,
                recovery_file: codes_file(t, &codes),
                recovery: Some(codes),
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(AccountError::InvalidCredentials | AccountError::InvalidToken) => {
            totp_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_REQUEST,
                Some(t.err_otp),
            )
            .await
        }
        Err(e) => Err(PageError::internal(lang, e)),
    }
}
