//! The citizen writes first: `/postfach/neu` lists the Kommunen's contact topics,
//! `/postfach/neu/{topic}` takes the message (text and files, photos from a phone included;
//! multipart, works without JavaScript). A topic above the session's level asks for step-up
//! before anything is typed. Sending the same form twice stores one message.

use super::factors::{level_path, needs_level_step_up};
use super::postfach::ReplyUpload;
use crate::authn::Session;
use crate::domain::lang::Lang;
use crate::mailbox::incoming::{CitizenMessage, TopicChoice};
use crate::mailbox::{MailboxError, Reader, limits};
use crate::web::extract::{PageLang, PagePath, SignedIn, csrf_token};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use uuid::Uuid;

pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/postfach/neu", get(topics))
        .route(
            "/postfach/neu/{topic}",
            get(form)
                .post(submit)
                .layer(DefaultBodyLimit::max(limits::REQUEST_BYTES)),
        )
}

struct TopicRow {
    id: Uuid,
    tenant: String,
    name: String,
    /// The level it needs, when above *low*.
    level: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "pf_new.html")]
struct TopicsPage {
    t: &'static Texts,
    lang_switch: String,
    topics: Vec<TopicRow>,
}

fn mail_error(lang: Lang, e: MailboxError) -> PageError {
    match e {
        MailboxError::NotFound => {
            PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_not_found)
        }
        e => PageError::internal(lang, e),
    }
}

/// `GET /postfach/neu`.
async fn topics(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { .. }: SignedIn,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let topics = state
        .mailbox
        .topics()
        .await
        .map_err(|e| mail_error(lang, e))?
        .into_iter()
        .map(|c| TopicRow {
            id: c.id,
            tenant: c.tenant,
            name: c.name,
            level: (c.level > crate::domain::level::Loa::Low).then(|| t.level(c.level)),
        })
        .collect();
    let page = TopicsPage {
        t,
        lang_switch: lang_switch(t, "/postfach/neu"),
        topics,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "pf_write.html")]
struct WritePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    topic: &'a TopicChoice,
    nonce: &'a str,
    subject: &'a str,
    body: &'a str,
    error: Option<&'a str>,
    /// For a topic above the account's reach: the way to its level.
    path: Option<crate::domain::level::PathTo>,
}

/// The form, or the way to the topic's level.
#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    lang: Lang,
    topic: &TopicChoice,
    status: StatusCode,
    typed: (&str, &str, &str),
    error: Option<&str>,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let back = format!("/postfach/neu/{}", topic.id);
    let path = if session.acr < topic.level {
        if needs_level_step_up(state, session, topic.level, lang).await? {
            return Ok(see_other(&format!("/login/otp?next={back}"), &[]));
        }
        Some(level_path(state, session.account_id, topic.level, lang).await?)
    } else {
        None
    };
    let (csrf, cookie) = csrf_token(headers, state.web.secure_cookies);
    let fresh = crate::crypto::random_token();
    let (subject, body, nonce) = typed;
    let page = WritePage {
        t,
        lang_switch: lang_switch(t, &back),
        csrf: &csrf,
        topic,
        nonce: if nonce.is_empty() { &fresh } else { nonce },
        subject,
        body,
        error,
        path,
    };
    let status = if page.path.is_some() {
        StatusCode::FORBIDDEN
    } else {
        status
    };
    Ok(with_cookies(html(status, &page), cookie))
}

/// `GET /postfach/neu/{topic}`.
async fn form(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let topic = state
        .mailbox
        .topic(id)
        .await
        .map_err(|e| mail_error(lang, e))?;
    render(
        &state,
        &headers,
        &session,
        lang,
        &topic,
        StatusCode::OK,
        ("", "", ""),
        None,
    )
    .await
}

/// `POST /postfach/neu/{topic}` (multipart: `csrf`, `nonce`, `subject`, `body`, `files`).
async fn submit(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    headers: HeaderMap,
    upload: ReplyUpload,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if !upload.csrf_ok {
        return Err(if upload.too_large {
            PageError::too_large(lang)
        } else {
            super::postfach::csrf_error(lang)
        });
    }
    let topic = state
        .mailbox
        .topic(id)
        .await
        .map_err(|e| mail_error(lang, e))?;
    let typed = (
        upload.subject.as_str(),
        upload.body.as_str(),
        upload.nonce.as_str(),
    );
    let again = |status: StatusCode, error: &'static str| {
        let (state, headers, session, topic) = (&state, &headers, &session, &topic);
        async move {
            render(
                state,
                headers,
                session,
                lang,
                topic,
                status,
                typed,
                Some(error),
            )
            .await
        }
    };
    if upload.too_large {
        return again(StatusCode::PAYLOAD_TOO_LARGE, t.pf_err_large).await;
    }
    let msg = CitizenMessage {
        topic: id,
        subject: upload.subject.clone(),
        body: upload.body.clone(),
        attachments: upload.files,
        nonce: upload.nonce.clone(),
    };
    let reader = Reader::session(session.account_id, session.acr);
    let result = state.mailbox.submit(&reader, &msg).await;
    let outcome = match &result {
        Ok((_, false)) => "stored",
        Ok((_, true)) => "replayed",
        Err(
            MailboxError::Store(_) | MailboxError::Keys(_) | MailboxError::ScannerUnavailable(_),
        ) => "failed",
        Err(_) => "refused",
    };
    state.ops.metrics().inc(
        "buergerkonto_mailbox_sends_total",
        &[("via", "citizen"), ("outcome", outcome)],
    );
    match result {
        Ok((message, _)) => Ok(see_other(
            &format!("/postfach/{message}?eingereicht=1"),
            &[],
        )),
        Err(MailboxError::Invalid(_)) => again(StatusCode::BAD_REQUEST, t.pf_err_subject).await,
        Err(MailboxError::TooLarge(_)) => {
            again(StatusCode::PAYLOAD_TOO_LARGE, t.pf_err_large).await
        }
        Err(MailboxError::Infected { .. }) => {
            again(StatusCode::UNPROCESSABLE_ENTITY, t.pf_err_infected).await
        }
        Err(MailboxError::IdempotencyMismatch) => again(StatusCode::CONFLICT, t.pf_err_again).await,
        Err(MailboxError::Throttled) => {
            again(StatusCode::TOO_MANY_REQUESTS, t.pf_err_written_enough).await
        }
        Err(MailboxError::ScannerUnavailable(_)) => {
            let mut r = again(StatusCode::SERVICE_UNAVAILABLE, t.pf_err_scanner).await?;
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
            Ok(r)
        }
        Err(MailboxError::NeedsLevel(_)) => Ok(see_other(&format!("/postfach/neu/{id}"), &[])),
        Err(e) => Err(mail_error(lang, e)),
    }
}
