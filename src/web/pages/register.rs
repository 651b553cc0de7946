//! Registration and e-mail verification pages.

use super::req_id;
use crate::account::AccountError;
use crate::domain::account::PasswordProblem;
use crate::domain::lang::Lang;
use crate::web::extract::{CheckedForm, csrf_token};
use crate::web::extract::{ClientIp, PageLang, Query};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, message, with_cookies};
use crate::web::state::{AppState, WebConfig};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/register", get(show).post(submit))
        .route("/verify-email", get(verify_get).post(verify_post))
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    req: &'a str,
    email: &'a str,
    /// A problem with the form as a whole (forged token, too many registrations).
    error: Option<&'a str>,
    /// The field errors, all at once, each tied to its field.
    email_error: Option<&'a str>,
    password_error: Option<&'a str>,
    face: &'a crate::web::face::Face,
}

impl RegisterPage<'_> {
    fn has_errors(&self) -> bool {
        self.error.is_some() || self.email_error.is_some() || self.password_error.is_some()
    }
}

fn render(
    status: StatusCode,
    headers: &HeaderMap,
    (web, face): (&WebConfig, &crate::web::face::Face),
    lang: Lang,
    req: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    render_fields(
        status,
        headers,
        (web, face),
        lang,
        req,
        email,
        error,
        (None, None),
    )
}

#[allow(clippy::too_many_arguments)]
fn render_fields(
    status: StatusCode,
    headers: &HeaderMap,
    (web, face): (&WebConfig, &crate::web::face::Face),
    lang: Lang,
    req: &str,
    email: &str,
    error: Option<&str>,
    (email_error, password_error): (Option<&str>, Option<&str>),
) -> Response {
    let (token, set) = csrf_token(headers, web.secure_cookies);
    let t = texts(lang);
    let page = RegisterPage {
        t,
        lang_switch: lang_switch(t, "/register"),
        csrf: &token,
        req,
        email,
        error,
        email_error,
        password_error,
        face,
    };
    with_cookies(html(status, &page), set)
}

pub async fn show(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query,
) -> Response {
    let req = req_id(q.get("req"));
    let face = crate::web::face::Face::of_request(&state, &req).await;
    render(
        StatusCode::OK,
        &headers,
        (&state.web, &face),
        lang,
        &req,
        "",
        None,
    )
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
    let t = texts(lang);
    let req = req_id(form.get("req"));
    let email = form.get("email").unwrap_or("");
    let shown: String = email.chars().take(254).collect();
    let face = crate::web::face::Face::of_request(&state, &req).await;
    let again = |status, msg: &str| {
        render(
            status,
            &headers,
            (&state.web, &face),
            lang,
            &req,
            &shown,
            Some(msg),
        )
    };
    if !csrf_ok {
        return Ok(again(StatusCode::FORBIDDEN, t.err_csrf));
    }
    // Every field error at once (the service checks the same rules again).
    let email_error = crate::domain::account::EmailAddress::parse(email)
        .err()
        .map(|_| t.err_email);
    let password_error =
        match crate::domain::account::check_new_password(form.get("password").unwrap_or("")) {
            Ok(()) => None,
            Err(PasswordProblem::TooShort) => Some(t.err_pw_short),
            Err(PasswordProblem::TooLong) => Some(t.err_pw_long),
        };
    if email_error.is_some() || password_error.is_some() {
        return Ok(render_fields(
            StatusCode::BAD_REQUEST,
            &headers,
            (&state.web, &face),
            lang,
            &req,
            &shown,
            None,
            (email_error, password_error),
        ));
    }
    let cont = (!req.is_empty()).then_some(req.as_str());
    // The mail names the portal and its Kommune the registration started at.
    let via = cont.map(|_| face.title.as_str());
    match state
        .accounts
        .register(
            email,
            form.get("password").unwrap_or(""),
            lang,
            (cont, via),
            ip,
        )
        .await
    {
        Ok(()) => {
            // The address as typed (the same answer whether or not it has an account).
            let text = format!(
                "{} {} {}. {}",
                t.register_done_text, t.register_done_to, shown, t.register_done_missing
            );
            Ok(html(
                StatusCode::OK,
                &crate::web::respond::MessagePage {
                    t,
                    lang_switch: lang_switch(t, "/register"),
                    title: t.register_done_title,
                    text: &text,
                    link: Some((format!("/register?req={req}"), t.register_button)),
                    is_error: false,
                },
            ))
        }
        Err(AccountError::Throttled) => Ok(again(StatusCode::TOO_MANY_REQUESTS, t.err_too_many)),
        Err(AccountError::InvalidEmail) => Ok(again(StatusCode::BAD_REQUEST, t.err_email)),
        Err(AccountError::Password(PasswordProblem::TooShort)) => {
            Ok(again(StatusCode::BAD_REQUEST, t.err_pw_short))
        }
        Err(AccountError::Password(PasswordProblem::TooLong)) => {
            Ok(again(StatusCode::BAD_REQUEST, t.err_pw_long))
        }
        Err(e) => Err(PageError::internal(lang, e)),
    }
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    token: &'a str,
    /// The account's address, for password managers (a hidden `username` field).
    email: &'a str,
    /// The portal's request that the registration started from is gone (D12): said before
    /// the citizen types anything.
    expired: bool,
    error: Option<&'a str>,
}

/// What the confirmation form shows besides its token.
#[derive(Default)]
struct VerifyForm<'a> {
    email: &'a str,
    expired: bool,
}

fn verify_page(
    status: StatusCode,
    headers: &HeaderMap,
    web: &WebConfig,
    lang: Lang,
    token: &str,
    form: &VerifyForm<'_>,
    error: Option<&str>,
) -> Response {
    let t = texts(lang);
    let (csrf_token, set) = csrf_token(headers, web.secure_cookies);
    with_cookies(
        html(
            status,
            &VerifyPage {
                t,
                lang_switch: lang_switch(t, "/konto"),
                csrf: &csrf_token,
                token,
                email: form.email,
                expired: form.expired,
                error,
            },
        ),
        set,
    )
}

/// `GET /verify-email?token=...`: a form (the password of the registration), so that mail
/// scanners that fetch links do not use up the single-use token.
pub async fn verify_get(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let token = q.get("token").filter(|t| t.len() <= 64).unwrap_or("");
    let link = state
        .accounts
        .verify_link(token)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let Some((email, cont)) = link else {
        return Ok(message(
            lang,
            StatusCode::BAD_REQUEST,
            |t| t.verify_failed_title,
            |t| t.verify_failed_text,
            Some(("/login".into(), texts(lang).login_link)),
        ));
    };
    let expired = match cont {
        Some(req) => state.provider.load_pending(&req).await.is_err(),
        None => false,
    };
    let form = VerifyForm {
        email: email.as_str(),
        expired,
    };
    Ok(verify_page(
        StatusCode::OK,
        &headers,
        &state.web,
        lang,
        token,
        &form,
        None,
    ))
}

pub async fn verify_post(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    CheckedForm {
        params: form,
        csrf_ok,
    }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let token = form.get("token").filter(|t| t.len() <= 64).unwrap_or("");
    let email: String = form
        .get("username")
        .unwrap_or("")
        .chars()
        .take(254)
        .collect();
    let again = VerifyForm {
        email: &email,
        expired: false,
    };
    if !csrf_ok {
        return Ok(verify_page(
            StatusCode::FORBIDDEN,
            &headers,
            &state.web,
            lang,
            token,
            &again,
            Some(t.err_csrf),
        ));
    }
    match state
        .accounts
        .verify_email(token, form.get("password").unwrap_or(""))
        .await
    {
        // The password was just checked: the citizen is signed in and continues where the
        // registration started (the portal's request, if it still waits), without typing the
        // password a third time (D13).
        Ok((id, cont)) => {
            let account = state
                .accounts
                .get(id)
                .await
                .map_err(|e| PageError::internal(lang, e))?;
            let mut req = String::new();
            if let Some(r) = cont.map(|r| req_id(Some(&r)))
                && !r.is_empty()
                && state.provider.load_pending(&r).await.is_ok()
            {
                req = r;
            }
            state
                .accounts
                .record(
                    "account.login",
                    id,
                    serde_json::json!({ "amr": ["pwd"], "via": "email_verification" }),
                )
                .await;
            super::login::start_session(
                &state,
                &headers,
                &account,
                vec![crate::domain::level::Amr::Pwd],
                &req,
                lang,
            )
            .await
        }
        Err(AccountError::InvalidCredentials) => Ok(verify_page(
            StatusCode::UNAUTHORIZED,
            &headers,
            &state.web,
            lang,
            token,
            &again,
            Some(t.err_verify_password),
        )),
        Err(AccountError::Throttled) => Ok(verify_page(
            StatusCode::TOO_MANY_REQUESTS,
            &headers,
            &state.web,
            lang,
            token,
            &again,
            Some(t.err_throttled),
        )),
        Err(AccountError::InvalidToken) => Ok(message(
            lang,
            StatusCode::BAD_REQUEST,
            |t| t.verify_failed_title,
            |t| t.verify_failed_text,
            Some(("/login".into(), t.login_link)),
        )),
        Err(e) => Err(PageError::internal(lang, e)),
    }
}
