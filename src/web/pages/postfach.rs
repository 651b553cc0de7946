//! The citizen's mailbox pages: `/postfach` (inbox and archive), `/postfach/{id}` (read,
//! recording `opened` once; a message above the session's level asks for step-up first),
//! attachments, replies with attachments (multipart, works without JavaScript), archive and
//! delete.

use super::date_time;
use super::factors::needs_level_step_up;
use crate::authn::Session;
use crate::domain::lang::Lang;
use crate::mailbox::{File, MailboxError, Reader, limits};
use crate::web::extract::{CsrfForm, PagePath, SignedIn, csrf_matches, csrf_token};
use crate::web::extract::{PageLang, Query};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, lang_switch, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use uuid::Uuid;

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/postfach", get(list))
        .route("/postfach/{id}", get(message))
        .route("/postfach/{id}/anhang/{attachment}", get(attachment))
        .route(
            "/postfach/{id}/antwort",
            post(reply).layer(DefaultBodyLimit::max(crate::mailbox::limits::REQUEST_BYTES)),
        )
        .route("/postfach/{id}/archivieren", post(archive))
        .route("/postfach/{id}/wiederherstellen", post(restore))
        .route("/postfach/{id}/loeschen", get(delete_page).post(delete))
}
use axum::extract::DefaultBodyLimit;

const PER_PAGE: u32 = 50;

pub(super) fn size(n: i64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MB", n as f64 / 1_048_576.0),
        n if n >= 1024 => format!("{} KB", n / 1024),
        n => format!("{n} B"),
    }
}

/// Who the message is from, or (for one the citizen wrote) to whom and on which topic.
fn correspondent(s: &crate::mailbox::Summary) -> String {
    match &s.topic {
        Some(topic) if s.origin == "citizen" => format!("{} – {topic}", s.sender),
        _ => s.sender.clone(),
    }
}

fn not_found(lang: Lang) -> PageError {
    PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_not_found)
}

fn mail_error(lang: Lang, e: MailboxError) -> PageError {
    match e {
        MailboxError::NotFound => not_found(lang),
        e => PageError::internal(lang, e),
    }
}

struct Row {
    id: Uuid,
    subject: Option<String>,
    level: &'static str,
    sender: String,
    /// "Von" for messages to the citizen, "An" for those the citizen wrote.
    from_label: &'static str,
    date: String,
    reference: Option<String>,
    unread: bool,
    /// In the bin: the day its content is purged.
    purge_on: Option<String>,
}

/// Which list: the inbox, the archive or the bin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Folder {
    Inbox,
    Archive,
    Bin,
}

impl Folder {
    fn query(self) -> &'static str {
        match self {
            Folder::Inbox => "",
            Folder::Archive => "&amp;archiv=1",
            Folder::Bin => "&amp;papierkorb=1",
        }
    }
}

#[derive(Template)]
#[template(path = "postfach.html")]
struct ListPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    items: Vec<Row>,
    folder: Folder,
    page: u32,
    more: bool,
    notice: Option<&'a str>,
}

/// `GET /postfach[?archiv=1|?papierkorb=1][&seite=N]`.
pub async fn list(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let folder = if q.get("papierkorb") == Some("1") {
        Folder::Bin
    } else if q.get("archiv") == Some("1") {
        Folder::Archive
    } else {
        Folder::Inbox
    };
    let page: u32 = q
        .get("seite")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
        .min(10_000);
    let reader = Reader::session(session.account_id, session.acr);
    let (items, more) = if folder == Folder::Bin {
        let (items, more) = state
            .mailbox
            .bin(&reader, page, PER_PAGE)
            .await
            .map_err(|e| mail_error(lang, e))?;
        let items = items
            .into_iter()
            .map(|(s, purge)| (s, Some(super::day(purge))))
            .collect::<Vec<_>>();
        (items, more)
    } else {
        let (items, more) = state
            .mailbox
            .inbox(&reader, folder == Folder::Archive, page, PER_PAGE)
            .await
            .map_err(|e| mail_error(lang, e))?;
        (items.into_iter().map(|s| (s, None)).collect(), more)
    };
    let items = items
        .into_iter()
        .map(|(s, purge_on)| Row {
            id: s.id,
            level: t.level(s.required_level),
            from_label: if s.origin == "citizen" {
                t.pf_to
            } else {
                t.pf_from
            },
            sender: correspondent(&s),
            subject: s.subject,
            date: date_time(s.created_at),
            reference: s.reference,
            unread: s.unread && folder != Folder::Bin,
            purge_on,
        })
        .collect();
    let notice = if q.get("geloescht") == Some("1") {
        Some(t.pf_deleted)
    } else if q.get("archiviert") == Some("1") {
        Some(t.pf_archived)
    } else if q.get("zurueckgelegt") == Some("1") {
        Some(t.pf_restored)
    } else if q.get("wiederhergestellt") == Some("1") {
        Some(t.pf_unbinned)
    } else {
        None
    };
    let (csrf, cookie) = crate::web::extract::csrf_token(&headers, state.web.secure_cookies);
    Ok(with_cookies(
        html(
            StatusCode::OK,
            &ListPage {
                t,
                lang_switch: lang_switch(t, "/postfach"),
                csrf: &csrf,
                items,
                folder,
                page,
                more,
                notice,
            },
        ),
        cookie,
    ))
}

/// `POST /postfach/{id}/wiederherstellen`: out of the bin, back to the inbox.
pub async fn restore(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let reader = Reader::session(session.account_id, session.acr);
    match state.mailbox.restore(&reader, id).await {
        Ok(()) => Ok(see_other("/postfach?wiederhergestellt=1", &[])),
        // The message itself cannot be shown while it lies in the bin: the step-up, then
        // back to the bin.
        Err(MailboxError::NeedsLevel(_)) => {
            Ok(see_other("/login/otp?next=/postfach?papierkorb=1", &[]))
        }
        Err(e) => Err(mail_error(lang, e)),
    }
}

struct AttachmentView {
    id: Uuid,
    filename: String,
    size: String,
}

struct ReplyRow {
    date: String,
    body: String,
    attachments: Vec<AttachmentView>,
}

struct MessageView {
    id: Uuid,
    sender: String,
    from_label: &'static str,
    date: String,
    reference: Option<String>,
    expires: Option<String>,
    /// The day it counts as announced, with the law that says so.
    announced: Option<(String, &'static str)>,
    body: String,
    attachments: Vec<AttachmentView>,
    replies: Vec<ReplyRow>,
    reply_allowed: bool,
    archived: bool,
}

#[derive(Template)]
#[template(path = "pf_message.html")]
struct MessagePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    subject: &'a str,
    message: Option<MessageView>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    /// For a message above the account's reach: the way to its level.
    path: Option<crate::domain::level::PathTo>,
}

/// A form without a valid CSRF token: an error page that does not open the message (opening
/// is evidence, and must not happen on a forged request).
pub(super) fn csrf_error(lang: Lang) -> PageError {
    PageError::new(StatusCode::FORBIDDEN, lang, |t| t.err_csrf)
}

/// Shows a message, or sends the citizen to step-up when the session is below its level.
#[allow(clippy::too_many_arguments)]
async fn show(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    lang: Lang,
    id: Uuid,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let t = texts(lang);
    let m = match state
        .mailbox
        .open(&Reader::session(session.account_id, session.acr), id, "web")
        .await
    {
        Ok(m) => m,
        Err(MailboxError::NeedsLevel(required)) => {
            if needs_level_step_up(state, session, required, lang).await? {
                return Ok(see_other(&format!("/login/otp?next=/postfach/{id}"), &[]));
            }
            let path =
                super::factors::level_path(state, session.account_id, required, lang).await?;
            let page = MessagePage {
                t,
                lang_switch: lang_switch(t, &format!("/postfach/{id}")),
                csrf: "",
                subject: t.pf_locked_title,
                message: None,
                notice: None,
                error: None,
                path: Some(path),
            };
            return Ok(html(StatusCode::FORBIDDEN, &page));
        }
        Err(e) => return Err(mail_error(lang, e)),
    };
    let view = |a: &crate::mailbox::AttachmentInfo| AttachmentView {
        id: a.id,
        filename: a.filename.clone(),
        size: size(a.size),
    };
    let subject = m.summary.subject.clone().unwrap_or_default();
    let message = MessageView {
        id,
        sender: correspondent(&m.summary),
        from_label: if m.summary.origin == "citizen" {
            t.pf_to
        } else {
            t.pf_from
        },
        date: date_time(m.summary.created_at),
        reference: m.summary.reference.clone(),
        expires: m.expires_at.map(date_time),
        announced: m.announcement.as_ref().and_then(|a| {
            a.announced_on
                .map(|d| (d.format("%d.%m.%Y").to_string(), a.citation))
        }),
        attachments: m.attachments.iter().map(view).collect(),
        replies: m
            .replies
            .iter()
            .map(|r| ReplyRow {
                date: date_time(r.created_at),
                body: r.body.clone(),
                attachments: r.attachments.iter().map(view).collect(),
            })
            .collect(),
        body: m.body,
        reply_allowed: m.summary.reply_allowed,
        archived: m.summary.archived,
    };
    let (token, set) = csrf_token(headers, state.web.secure_cookies);
    let page = MessagePage {
        t,
        lang_switch: lang_switch(t, &format!("/postfach/{id}")),
        csrf: &token,
        subject: &subject,
        message: Some(message),
        notice,
        error,
        path: None,
    };
    Ok(with_cookies(html(status, &page), set))
}

/// `GET /postfach/{id}`.
pub async fn message(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let notice = if q.get("eingereicht") == Some("1") {
        Some(texts(lang).pf_submitted)
    } else {
        (q.get("gesendet") == Some("1")).then_some(texts(lang).pf_sent)
    };
    show(
        &state,
        &headers,
        &session,
        lang,
        id,
        StatusCode::OK,
        notice,
        None,
    )
    .await
}

/// `GET /postfach/{id}/anhang/{attachment}`: the file as a download.
pub async fn attachment(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath((id, att)): PagePath<(Uuid, Uuid)>,
) -> Result<Response, PageError> {
    match state
        .mailbox
        .attachment(&Reader::session(session.account_id, session.acr), id, att)
        .await
    {
        Ok(f) => Ok(crate::web::respond::download(f)),
        Err(MailboxError::NeedsLevel(_)) => Ok(see_other(&format!("/postfach/{id}"), &[])),
        Err(e) => Err(mail_error(lang, e)),
    }
}

/// The reply form (multipart: `csrf`, `body`, `files`), read within the mailbox's limits.
/// Over a limit, reading stops and `too_large` is set; whether the CSRF token matched is
/// known only for what was read.
pub struct ReplyUpload {
    pub(super) csrf_ok: bool,
    pub(super) body: String,
    /// Only in the form that starts a message (`/postfach/neu/...`).
    pub(super) subject: String,
    pub(super) nonce: String,
    pub(super) files: Vec<File>,
    pub(super) too_large: bool,
}

impl<S> axum::extract::FromRequest<S> for ReplyUpload
where
    S: Send + Sync,
    crate::web::state::WebConfig: axum::extract::FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, PageError> {
        use axum::extract::FromRef;
        let secure = crate::web::state::WebConfig::from_ref(state).secure_cookies;
        let lang = crate::web::extract::lang_of(req.headers());
        let headers = req.headers().clone();
        if crate::web::extract::announced_over(&headers, limits::REQUEST_BYTES) {
            return Err(PageError::too_large(lang));
        }
        let mut multipart = Multipart::from_request(req, state)
            .await
            .map_err(|_| PageError::bad_request(lang))?;
        let (mut token, mut body, mut files) = (None, String::new(), Vec::new());
        let (mut subject, mut nonce) = (String::new(), String::new());
        let mut too_large = false;
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_large = true;
                    break;
                }
                Err(_) => return Err(PageError::bad_request(lang)),
            };
            let name = field.name().unwrap_or("").to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let data = match field.bytes().await {
                Ok(d) => d,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    too_large = true;
                    break;
                }
                Err(_) => return Err(PageError::bad_request(lang)),
            };
            match name.as_str() {
                // Text fields must be UTF-8, like every other form: no replacement characters.
                "csrf" | "body" | "subject" | "nonce" => {
                    let text = String::from_utf8(data.to_vec())
                        .ok()
                        .filter(|t| !crate::domain::text::has_forbidden_controls(t))
                        .ok_or_else(|| PageError::bad_request(lang))?;
                    match name.as_str() {
                        "csrf" => token = Some(text),
                        "subject" => subject = text,
                        "nonce" => nonce = text,
                        _ => body = text,
                    }
                }
                "files" => {
                    // An empty file input still sends a part without a name and content.
                    let Some(filename) = filename
                        .as_deref()
                        .and_then(crate::mailbox::limits::clean_filename)
                    else {
                        continue;
                    };
                    files.push(File {
                        filename,
                        content_type: content_type
                            .as_deref()
                            .and_then(crate::mailbox::limits::clean_content_type)
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        content: data.to_vec(),
                    });
                    if files.len() > limits::ATTACHMENTS {
                        too_large = true;
                        break;
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            csrf_ok: csrf_matches(&headers, token.as_deref(), secure),
            body,
            subject,
            nonce,
            files,
            too_large,
        })
    }
}

/// `POST /postfach/{id}/antwort`.
pub async fn reply(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    // Who asks is known from the cookie before the upload is read.
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    headers: HeaderMap,
    upload: ReplyUpload,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if upload.too_large {
        // The token may not have been read before the limit: without a valid one, the
        // message is not opened (opening is evidence).
        if !upload.csrf_ok {
            return Err(PageError::too_large(lang));
        }
        return show(
            &state,
            &headers,
            &session,
            lang,
            id,
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            Some(t.pf_err_large),
        )
        .await;
    }
    if !upload.csrf_ok {
        return Err(csrf_error(lang));
    }
    let (body, files) = (upload.body, upload.files);
    match state
        .mailbox
        .reply(
            &Reader::session(session.account_id, session.acr),
            id,
            &body,
            &files,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/postfach/{id}?gesendet=1"), &[])),
        Err(MailboxError::Invalid(_)) => {
            show(
                &state,
                &headers,
                &session,
                lang,
                id,
                StatusCode::BAD_REQUEST,
                None,
                Some(t.pf_err_empty),
            )
            .await
        }
        Err(MailboxError::TooLarge(_)) => {
            show(
                &state,
                &headers,
                &session,
                lang,
                id,
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                Some(t.pf_err_large),
            )
            .await
        }
        Err(MailboxError::Infected { .. }) => {
            show(
                &state,
                &headers,
                &session,
                lang,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(t.pf_err_infected),
            )
            .await
        }
        Err(MailboxError::ScannerUnavailable(_)) => {
            let mut r = show(
                &state,
                &headers,
                &session,
                lang,
                id,
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                Some(t.pf_err_scanner),
            )
            .await?;
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
            Ok(r)
        }
        Err(MailboxError::NeedsLevel(_)) => Ok(see_other(&format!("/postfach/{id}"), &[])),
        Err(MailboxError::ReplyNotAllowed) => Err(PageError::bad_request(lang)),
        Err(MailboxError::TopicClosed) => {
            show(
                &state,
                &headers,
                &session,
                lang,
                id,
                StatusCode::CONFLICT,
                None,
                Some(t.pf_err_topic_closed),
            )
            .await
        }
        Err(e) => Err(mail_error(lang, e)),
    }
}

/// `POST /postfach/{id}/archivieren` with `archived=1` (or `0` to restore).
pub async fn archive(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, PageError> {
    let archived = form.get("archived") != Some("0");
    let reader = Reader::session(session.account_id, session.acr);
    match state.mailbox.archive(&reader, id, archived).await {
        Ok(()) => {}
        Err(MailboxError::NeedsLevel(_)) => return Ok(see_other(&format!("/postfach/{id}"), &[])),
        Err(e) => return Err(mail_error(lang, e)),
    }
    Ok(see_other(
        if archived {
            "/postfach?archiviert=1"
        } else {
            "/postfach?zurueckgelegt=1"
        },
        &[],
    ))
}

/// `POST /postfach/{id}/loeschen`.
#[derive(Template)]
#[template(path = "pf_delete.html")]
struct DeletePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    csrf: &'a str,
    id: Uuid,
}

/// `GET /postfach/{id}/loeschen`: deleting is evidence and ends reading and answering (the
/// bin can restore it until the purge), so it is asked first (WCAG 3.3.4); the message itself
/// is not opened here.
pub async fn delete_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    headers: HeaderMap,
) -> Response {
    let t = texts(lang);
    let (csrf, cookie) = crate::web::extract::csrf_token(&headers, state.web.secure_cookies);
    let page = DeletePage {
        t,
        lang_switch: lang_switch(t, &format!("/postfach/{id}/loeschen")),
        csrf: &csrf,
        id,
    };
    with_cookies(html(StatusCode::OK, &page), cookie)
}

pub async fn delete(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    SignedIn { session, .. }: SignedIn,
    PagePath(id): PagePath<Uuid>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, PageError> {
    let reader = Reader::session(session.account_id, session.acr);
    match state.mailbox.delete(&reader, id).await {
        Ok(()) => Ok(see_other("/postfach?geloescht=1", &[])),
        // Like reading: the message page asks for the missing factor or explains the level.
        Err(MailboxError::NeedsLevel(_)) => Ok(see_other(&format!("/postfach/{id}"), &[])),
        Err(e) => Err(mail_error(lang, e)),
    }
}
