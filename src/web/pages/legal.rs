//! The legal pages and the accessibility statement's feedback form (`legal`): Impressum,
//! Datenschutz, Barrierefreiheit, Leichte Sprache, Gebärdensprache, Hilfe. Every page links
//! them in its footer.

use crate::domain::lang::Lang;
use crate::legal::Page;
use crate::legal::feedback::{FeedbackError, Report};
use crate::web::extract::{ClientIp, CsrfForm, PageLang, csrf_token};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    let page = |p: Page| {
        get(
            move |State(state): State<AppState>,
                  PageLang(lang): PageLang,
                  headers: HeaderMap,
                  RawQuery(q): RawQuery| async move {
                show(&state, lang, &headers, p, sent(q.as_deref()))
            },
        )
    };
    axum::Router::new()
        .route("/impressum", page(Page::Impressum))
        .route("/datenschutz", page(Page::Datenschutz))
        .route(
            "/barrierefreiheit",
            page(Page::Barrierefreiheit).post(report),
        )
        .route("/leichte-sprache", page(Page::LeichteSprache))
        .route("/gebaerdensprache", page(Page::Gebaerdensprache))
        .route("/hilfe", page(Page::Hilfe))
        .route("/kontakt", get(|| async { see_other("/hilfe", &[]) }))
}

/// `?gesendet=1` after a report, `2` when an acknowledgement went out; anything else in
/// the query is ignored.
fn sent(query: Option<&str>) -> Option<u8> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "gesendet")
        .and_then(|(_, v)| v.parse().ok())
}

#[derive(Template)]
#[template(path = "legal.html")]
struct LegalPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    title: &'a str,
    content: &'a str,
    german_only: bool,
    feedback: bool,
    csrf: String,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    message: &'a str,
    page: &'a str,
    email: &'a str,
}

fn title(t: &Texts, p: Page) -> &'static str {
    match p {
        Page::Impressum => t.legal_impressum,
        Page::Datenschutz => t.legal_privacy,
        Page::Barrierefreiheit => t.legal_accessibility,
        Page::LeichteSprache => "Leichte Sprache",
        Page::Gebaerdensprache => t.legal_sign,
        Page::Hilfe => t.legal_help,
    }
}

/// What the feedback form shows again after an error.
#[derive(Default)]
struct Form<'a> {
    error: Option<&'a str>,
    message: &'a str,
    page: &'a str,
    email: &'a str,
}

fn render(
    state: &AppState,
    lang: Lang,
    headers: &HeaderMap,
    p: Page,
    status: StatusCode,
    notice: Option<&str>,
    form: &Form<'_>,
) -> Response {
    let t = texts(lang);
    let Some(content) = state.legal.get(p, lang) else {
        return PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_bad_request)
            .into_response();
    };
    // Only the statement has a form: the other pages set no cookie.
    let (csrf, cookie) = if p == Page::Barrierefreiheit {
        csrf_token(headers, state.web.secure_cookies)
    } else {
        (String::new(), None)
    };
    let resp = html(
        status,
        &LegalPage {
            t,
            lang_switch: lang_switch(t, &format!("/{}", p.slug())),
            title: title(t, p),
            content: &content.html,
            german_only: content.lang != lang,
            feedback: p == Page::Barrierefreiheit,
            csrf,
            notice,
            error: form.error,
            message: form.message,
            page: form.page,
            email: form.email,
        },
    );
    with_cookies(resp, cookie)
}

fn show(state: &AppState, lang: Lang, headers: &HeaderMap, p: Page, sent: Option<u8>) -> Response {
    let t = texts(lang);
    let notice = match (p, sent) {
        (Page::Barrierefreiheit, Some(1)) => Some(t.fb_sent),
        (Page::Barrierefreiheit, Some(2)) => Some(t.fb_sent_ack),
        _ => None,
    };
    render(
        state,
        lang,
        headers,
        p,
        StatusCode::OK,
        notice,
        &Form::default(),
    )
}

/// `POST /barrierefreiheit`: a barrier report. Afterwards the page again, the notice in focus.
async fn report(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let t = texts(lang);
    let (message, page, email) = (
        form.get("message").unwrap_or(""),
        form.get("page").unwrap_or(""),
        form.get("email").unwrap_or(""),
    );
    let r = Report {
        message,
        page,
        reply_to: email,
        lang,
    };
    let (status, error) = match state.feedback.report(ip, &r).await {
        Ok(acked) => {
            let n = if acked { 2 } else { 1 };
            return see_other(&format!("/barrierefreiheit?gesendet={n}#fb-notice"), &[]);
        }
        Err(FeedbackError::Empty) => (StatusCode::BAD_REQUEST, t.fb_err_empty),
        Err(FeedbackError::TooLong) => (StatusCode::BAD_REQUEST, t.fb_err_long),
        Err(FeedbackError::InvalidEmail) => (StatusCode::BAD_REQUEST, t.fb_err_email),
        Err(FeedbackError::Throttled) => (StatusCode::TOO_MANY_REQUESTS, t.fb_err_throttled),
        Err(e) => return PageError::internal(lang, e).into_response(),
    };
    render(
        &state,
        lang,
        &headers,
        Page::Barrierefreiheit,
        status,
        None,
        &Form {
            error: Some(error),
            message,
            page,
            email,
        },
    )
}
