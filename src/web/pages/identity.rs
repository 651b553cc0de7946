//! Linking an upstream identity provider from the sign-in methods page: `POST
//! /konto/verknuepfen/{upstream}` sends the browser there, `GET /konto/verknuepfen/callback`
//! takes the answer, records what was confirmed and shows the resulting level.

use super::factors::needs_current_factor;
use super::passkeys::security_page;
use crate::account::AccountError;
use crate::broker::{BrokerError, Completed};
use crate::web::extract::{CheckedForm, PagePath, SignedIn};
use crate::web::extract::{MaybeSession, cookie, set_cookie};
use crate::web::extract::{PageLang, Query};
use crate::web::i18n::texts;
use crate::web::pages::upstream::ROUND_TRIP_COOKIE;
use crate::web::respond::{PageError, see_other};
use crate::web::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/konto/verknuepfen/callback", get(callback))
        .route("/konto/verknuepfen/{upstream}", post(begin))
}

/// `POST /konto/verknuepfen/{upstream}`.
pub async fn begin(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    crate::web::extract::ClientIp(ip): crate::web::extract::ClientIp,
    SignedIn { session, .. }: SignedIn,
    PagePath(upstream): PagePath<String>,
    headers: HeaderMap,
    CheckedForm { csrf_ok, .. }: CheckedForm,
) -> Result<Response, PageError> {
    let t = texts(lang);
    if !csrf_ok {
        return security_page(
            &state,
            &headers,
            &session,
            lang,
            StatusCode::FORBIDDEN,
            None,
            Some(t.err_csrf),
        )
        .await;
    }
    // Like changing factors: a password alone must not attach someone's identity.
    if let Some(r) = needs_current_factor(&state, &session, lang, "/konto/sicherheit").await? {
        return Ok(r);
    }
    if state.saml.has(&upstream) {
        let purpose = crate::saml::Purpose::Link {
            account: session.account_id,
        };
        return super::upstream::depart(
            &state,
            lang,
            &upstream,
            purpose,
            (crate::domain::level::Loa::Low, true),
            ip,
        )
        .await;
    }
    match state.broker.begin(&upstream, session.account_id, ip).await {
        Ok(url) => Ok(see_other(&url, &[])),
        Err(BrokerError::UnknownUpstream) => {
            Err(PageError::new(StatusCode::NOT_FOUND, lang, |t| {
                t.error_not_found
            }))
        }
        Err(BrokerError::TooMany) => {
            Err(PageError::new(StatusCode::TOO_MANY_REQUESTS, lang, |t| {
                t.error_too_many
            }))
        }
        Err(e) => {
            tracing::warn!(error = %e, upstream, "linking could not start");
            security_page(
                &state,
                &headers,
                &session,
                lang,
                StatusCode::BAD_GATEWAY,
                None,
                Some(t.link_failed),
            )
            .await
        }
    }
}

/// `GET /konto/verknuepfen/callback?code=...&state=...&iss=...` (or `error=...`): a link
/// (in the session that began it) or a login (in the browser that began it).
pub async fn callback(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(signed_in): MaybeSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let session = signed_in.map(|s| s.session);
    let (Some(st), Some(code)) = (q.get("state"), q.get("code")) else {
        // The citizen cancelled upstream, or the upstream answered with an error.
        return failed(
            &state,
            &headers,
            session.as_ref(),
            lang,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let secure = state.web.secure_cookies;
    let secret = cookie(&headers, ROUND_TRIP_COOKIE, secure);
    let bound = (session.as_ref().map(|s| s.account_id), secret.as_deref());
    match state.broker.complete(st, code, q.get("iss"), bound).await {
        Ok(Completed::Link(assertion)) => match &session {
            Some(s) => linked(&state, &headers, s, lang, &assertion).await,
            None => Err(PageError::new(StatusCode::BAD_REQUEST, lang, |t| {
                t.error_expired
            })),
        },
        Ok(Completed::Login { confirmed, req }) => {
            let clear = set_cookie(ROUND_TRIP_COOKIE, "", Some(0), secure);
            super::upstream::login_through(&state, &headers, lang, &confirmed, &req, clear).await
        }
        Err(BrokerError::Ephemeral(e)) => Err(PageError::internal(lang, e)),
        Err(e) => {
            tracing::warn!(error = %e, "upstream round trip failed");
            let status = match e {
                BrokerError::InvalidState | BrokerError::UnknownUpstream => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            failed(&state, &headers, session.as_ref(), lang, status).await
        }
    }
}

/// A link or login that did not work: the security page says so to a signed-in citizen,
/// an error page to anybody else.
async fn failed(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<&crate::authn::Session>,
    lang: crate::domain::lang::Lang,
    status: StatusCode,
) -> Result<Response, PageError> {
    match session {
        Some(s) => {
            let t = texts(lang);
            security_page(state, headers, s, lang, status, None, Some(t.link_failed)).await
        }
        None => Err(PageError::new(status, lang, |t| t.upstream_invalid)),
    }
}

/// Records a confirmed link and shows the security page with the resulting level.
pub(super) async fn linked(
    state: &AppState,
    headers: &HeaderMap,
    session: &crate::authn::Session,
    lang: crate::domain::lang::Lang,
    assertion: &crate::broker::Assertion,
) -> Result<Response, PageError> {
    let t = texts(lang);
    // A link is this person's, whichever door it comes through: another person's identity
    // does not replace the one linked (unlinking is a separate, deliberate step).
    match state.accounts.upstream_step_up(assertion).await {
        Ok(level) => {
            let level = t.level(level);
            let notice = format!("{} {level}", t.link_done);
            security_page(
                state,
                headers,
                session,
                lang,
                StatusCode::OK,
                Some(&notice),
                None,
            )
            .await
        }
        Err(AccountError::Store(crate::store::StoreError::Conflict { .. })) => {
            security_page(
                state,
                headers,
                session,
                lang,
                StatusCode::CONFLICT,
                None,
                Some(t.link_taken),
            )
            .await
        }
        Err(AccountError::OtherPerson) => {
            security_page(
                state,
                headers,
                session,
                lang,
                StatusCode::CONFLICT,
                None,
                Some(t.upstream_other_person),
            )
            .await
        }
        Err(e) => Err(PageError::internal(lang, e)),
    }
}
