//! Logins, links and step-ups through a SAML upstream (BundID): the buttons' POSTs send the
//! browser there; the IdP posts its answer to the ACS; the browser returns by a GET that
//! carries our cookies, and only there does anything happen to an account or a session.
//!
//! `POST /anmelden/extern/{upstream}` (login page), `POST /authorize/extern/{upstream}`
//! (the "cannot reach" page's step-up), `POST /konto/verknuepfen/{upstream}` (the security
//! page, see [`super::identity`]), `GET /saml/{upstream}/metadata`, `POST
//! /saml/{upstream}/acs`, `GET /saml/weiter`.

use super::factors::needs_current_factor;
use super::login::{await_second_factor, completed_login, end_previous, user_agent};
use crate::account::AccountError;
use crate::authn::UpstreamAuth;
use crate::domain::level::Loa;
use crate::saml::message::{Departure, ResponseError};
use crate::saml::{Purpose, SamlError};
use crate::web::extract::{
    CheckedForm, ClientIp, MaybeSession, PageForm, PageLang, PagePath, Query, SESSION_COOKIE,
    SignedIn, cookie, set_cookie,
};
use crate::web::i18n::{Texts, texts};
use crate::web::respond::{PageError, html, see_other, with_cookies};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The cookie that binds a round trip to the browser that began it.
pub const ROUND_TRIP_COOKIE: &str = "bk_saml";

/// This room's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/anmelden/extern/{upstream}", post(login))
        .route("/authorize/extern/{upstream}", post(step_up))
        .route("/saml/{upstream}/metadata", get(metadata))
        .route("/saml/{upstream}/acs", post(acs))
        .route("/saml/weiter", get(finish))
}

#[derive(Template)]
#[template(path = "upstream_post.html")]
struct PostPage<'a> {
    t: &'static Texts,
    lang_switch: String,
    title: String,
    url: &'a str,
    saml_request: &'a str,
    relay_state: &'a str,
}

/// Sends the browser to the upstream, with the round trip's cookie.
pub(super) async fn depart(
    state: &AppState,
    lang: crate::domain::lang::Lang,
    upstream: &str,
    purpose: Purpose,
    (min_level, force): (Loa, bool),
    ip: std::net::IpAddr,
) -> Result<Response, PageError> {
    let (departure, secret) = match state
        .saml
        .begin(upstream, purpose, (min_level, force), ip)
        .await
    {
        Ok(d) => d,
        Err(e) => return Err(refusal(lang, &e)),
    };
    let cookie = set_cookie(
        ROUND_TRIP_COOKIE,
        &secret,
        Some(crate::saml::ROUND_TRIP_TTL.as_secs()),
        state.web.secure_cookies,
    );
    Ok(match departure {
        Departure::Redirect(url) => see_other(&url, &[cookie]),
        Departure::Post {
            url,
            saml_request,
            relay_state,
        } => {
            let t = texts(lang);
            let name = state
                .saml
                .upstreams()
                .find(|(id, _)| *id == upstream)
                .map_or("", |(_, n)| n);
            let page = PostPage {
                t,
                lang_switch: crate::web::respond::lang_switch(t, "/login"),
                title: t.upstream_continue.replace("{}", name),
                url: &url,
                saml_request: &saml_request,
                relay_state: &relay_state,
            };
            with_cookies(html(StatusCode::OK, &page), [cookie])
        }
    })
}

/// The page for a round trip that failed; nothing was changed.
fn refusal(lang: crate::domain::lang::Lang, e: &SamlError) -> PageError {
    tracing::warn!(error = %e, "upstream round trip refused");
    match e {
        SamlError::UnknownUpstream => {
            PageError::new(StatusCode::NOT_FOUND, lang, |t| t.error_not_found)
        }
        SamlError::Unavailable(_) => {
            PageError::new(StatusCode::BAD_GATEWAY, lang, |t| t.upstream_unavailable)
        }
        SamlError::Ephemeral(_) => PageError::new(StatusCode::SERVICE_UNAVAILABLE, lang, |t| {
            t.upstream_unavailable
        }),
        SamlError::InvalidState => {
            PageError::new(StatusCode::BAD_REQUEST, lang, |t| t.error_expired)
        }
        SamlError::TooMany => {
            PageError::new(StatusCode::TOO_MANY_REQUESTS, lang, |t| t.error_too_many)
        }
        SamlError::Response(ResponseError::Cancelled) => {
            PageError::new(StatusCode::UNAUTHORIZED, lang, |t| t.upstream_cancelled)
        }
        SamlError::Response(ResponseError::LevelNotReached) => {
            PageError::new(StatusCode::FORBIDDEN, lang, |t| {
                t.upstream_level_not_reached
            })
        }
        SamlError::Replayed | SamlError::Response(_) => {
            PageError::new(StatusCode::BAD_REQUEST, lang, |t| t.upstream_invalid)
        }
    }
}

/// The level the pending authorization request needs (low without one).
async fn needed(state: &AppState, req: &str) -> Loa {
    if req.is_empty() {
        return Loa::Low;
    }
    state
        .provider
        .load_pending(req)
        .await
        .map_or(Loa::Low, |p| p.req.required_level)
}

/// `POST /anmelden/extern/{upstream}` from the login page.
async fn login(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    PagePath(upstream): PagePath<String>,
    CheckedForm { params, csrf_ok }: CheckedForm,
) -> Result<Response, PageError> {
    if !csrf_ok {
        return Err(PageError::new(StatusCode::FORBIDDEN, lang, |t| t.err_csrf));
    }
    let req = super::req_id(params.get("req"));
    let level = needed(&state, &req).await;
    // A new authentication there, always: a login here must not be BundID's SSO of whoever
    // used this browser before (prompt=login, max_age, a shared computer).
    if state.broker.has(&upstream) {
        // An OpenID upstream: its own round trip, bound to this browser the same way.
        return match state.broker.begin_login(&upstream, req, ip).await {
            Ok((url, secret)) => {
                let cookie = set_cookie(
                    ROUND_TRIP_COOKIE,
                    &secret,
                    Some(crate::broker::LINK_TTL.as_secs()),
                    state.web.secure_cookies,
                );
                Ok(see_other(&url, &[cookie]))
            }
            Err(crate::broker::BrokerError::UnknownUpstream) => {
                Err(PageError::new(StatusCode::NOT_FOUND, lang, |t| {
                    t.error_not_found
                }))
            }
            Err(crate::broker::BrokerError::TooMany) => {
                Err(PageError::new(StatusCode::TOO_MANY_REQUESTS, lang, |t| {
                    t.error_too_many
                }))
            }
            Err(e) => {
                tracing::warn!(error = %e, upstream, "login at the upstream could not start");
                Err(PageError::new(StatusCode::BAD_GATEWAY, lang, |t| {
                    t.upstream_unavailable
                }))
            }
        };
    }
    let purpose = Purpose::Login { req };
    depart(&state, lang, &upstream, purpose, (level, true), ip).await
}

/// `POST /authorize/extern/{upstream}`: confirm the signed-in account's level upstream, for
/// the waiting authorization request.
async fn step_up(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    ClientIp(ip): ClientIp,
    SignedIn { session, .. }: SignedIn,
    PagePath(upstream): PagePath<String>,
    CheckedForm { params, csrf_ok }: CheckedForm,
) -> Result<Response, PageError> {
    if !csrf_ok {
        return Err(PageError::new(StatusCode::FORBIDDEN, lang, |t| t.err_csrf));
    }
    let req = super::req_id(params.get("req"));
    let back = format!("/authorize/resume?req={req}");
    // The step-up may link the upstream identity to this account: like linking, not on a
    // password alone.
    if let Some(r) = needs_current_factor(&state, &session, lang, &back).await? {
        return Ok(r);
    }
    let level = needed(&state, &req).await;
    let purpose = Purpose::StepUp {
        account: session.account_id,
        req,
    };
    depart(&state, lang, &upstream, purpose, (level, true), ip).await
}

/// `GET /saml/{upstream}/metadata`: our signed SP metadata, for the IdP's registration.
async fn metadata(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    PagePath(upstream): PagePath<String>,
) -> Result<Response, PageError> {
    let xml = state
        .saml
        .metadata(&upstream)
        .await
        .map_err(|e| refusal(lang, &e))?;
    let mut r = xml.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(r)
}

/// `POST /saml/{upstream}/acs` (HTTP-POST binding): cross-site, so no cookies of ours and no
/// CSRF token; the `RelayState` names the round trip, and the browser must still prove at
/// `/saml/weiter` that it began it.
async fn acs(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    PagePath(upstream): PagePath<String>,
    PageForm(form): PageForm,
) -> Result<Response, PageError> {
    let (Some(response), Some(relay)) = (form.get("SAMLResponse"), form.get("RelayState")) else {
        return Err(PageError::bad_request(lang));
    };
    let token = state
        .saml
        .arrive(&upstream, response, relay)
        .await
        .map_err(|e| refusal(lang, &e))?;
    Ok(see_other(&format!("/saml/weiter?t={token}"), &[]))
}

/// `GET /saml/weiter?t=...`: the result, in the browser that began the round trip.
async fn finish(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    MaybeSession(signed_in): MaybeSession,
    headers: HeaderMap,
    Query(q): Query,
) -> Result<Response, PageError> {
    let secret = cookie(&headers, ROUND_TRIP_COOKIE, state.web.secure_cookies);
    let (purpose, confirmed) = state
        .saml
        .finish(q.get("t").unwrap_or_default(), secret.as_deref())
        .await
        .map_err(|e| refusal(lang, &e))?;
    let clear = set_cookie(ROUND_TRIP_COOKIE, "", Some(0), state.web.secure_cookies);
    let upstream = UpstreamAuth {
        id: confirmed.upstream.clone(),
        level: confirmed.level,
    };
    let resp = match purpose {
        Purpose::Login { req } => {
            return login_through(&state, &headers, lang, &confirmed, &req, clear).await;
        }
        Purpose::Link { account } => {
            let Some(SignedIn { session, .. }) =
                signed_in.filter(|s| s.session.account_id == account)
            else {
                return Err(PageError::new(StatusCode::BAD_REQUEST, lang, |t| {
                    t.error_expired
                }));
            };
            super::identity::linked(
                &state,
                &headers,
                &session,
                lang,
                &confirmed.into_assertion(account),
            )
            .await?
        }
        Purpose::StepUp { account, req } => {
            let Some(SignedIn { token, mut session }) =
                signed_in.filter(|s| s.session.account_id == account)
            else {
                return Err(PageError::new(StatusCode::BAD_REQUEST, lang, |t| {
                    t.error_expired
                }));
            };
            let proofing = match state
                .accounts
                .upstream_step_up(&confirmed.into_assertion(account))
                .await
            {
                Ok(l) => l,
                Err(AccountError::OtherPerson) => {
                    return Err(PageError::new(StatusCode::CONFLICT, lang, |t| {
                        t.upstream_other_person
                    }));
                }
                Err(AccountError::Store(crate::store::StoreError::Conflict { .. })) => {
                    return Err(PageError::new(StatusCode::CONFLICT, lang, |t| t.link_taken));
                }
                Err(e) => return Err(PageError::internal(lang, e)),
            };
            session.upstream = Some(upstream);
            session.reach(proofing);
            session.authenticated_now();
            state
                .sessions
                .save(&token, &session)
                .await
                .map_err(|e| PageError::internal(lang, e))?;
            state.ops.metrics().inc(
                "buergerkonto_step_ups_total",
                &[("via", "upstream"), ("level", session.acr.name())],
            );
            state
                .accounts
                .record(
                    "session.step_up",
                    session.account_id,
                    serde_json::json!({ "acr": session.acr.name(), "upstream": confirmed.upstream }),
                )
                .await;
            see_other(&format!("/authorize/resume?req={req}"), &[])
        }
    };
    Ok(with_cookies(resp, [clear]))
}

/// A login through the upstream: the linked account (or a new one), then a session at the
/// level the upstream confirmed. An account with a second factor gets it asked for when the
/// upstream confirmed no more than *low* (a password there): that login counts like our own
/// password.
pub(super) async fn login_through(
    state: &AppState,
    headers: &HeaderMap,
    lang: crate::domain::lang::Lang,
    confirmed: &crate::broker::Confirmed,
    req: &str,
    clear: String,
) -> Result<Response, PageError> {
    let (account, proofing) = match state.accounts.upstream_login(confirmed).await {
        Ok(a) => a,
        Err(AccountError::Unavailable) => {
            return Err(PageError::new(StatusCode::CONFLICT, lang, |t| {
                t.upstream_no_email
            }));
        }
        Err(AccountError::EmailTaken) => {
            return Err(PageError::new(StatusCode::CONFLICT, lang, |t| {
                t.upstream_email_taken
            }));
        }
        Err(AccountError::Disabled) => {
            return Err(PageError::new(StatusCode::FORBIDDEN, lang, |t| {
                t.err_disabled
            }));
        }
        Err(AccountError::Store(crate::store::StoreError::Conflict { .. })) => {
            return Err(PageError::new(StatusCode::CONFLICT, lang, |t| t.link_taken));
        }
        Err(e) => return Err(PageError::internal(lang, e)),
    };
    let upstream = UpstreamAuth {
        id: confirmed.upstream.clone(),
        level: confirmed.level,
    };
    let ua = user_agent(headers);
    let weak = confirmed.level < Loa::Substantial
        && state
            .accounts
            .factors(account)
            .await
            .map_err(|e| PageError::internal(lang, e))?
            .usable(state.accounts.passkeys_available());
    if weak {
        let first = (Vec::new(), Some(upstream));
        let page =
            await_second_factor(state, headers, (account, proofing), first, req, lang).await?;
        return Ok(with_cookies(page, [clear]));
    }
    let reached = crate::domain::level::effective(proofing, confirmed.level);
    let device = completed_login(state, headers, account, reached, lang).await?;
    end_previous(state, headers, lang).await?;
    let (token, _) = state
        .sessions
        .create_upstream(account, proofing, upstream, ua)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let session_cookie = set_cookie(SESSION_COOKIE, &token, None, state.web.secure_cookies);
    let next = if req.is_empty() {
        "/konto".to_owned()
    } else {
        format!("/authorize/resume?req={req}")
    };
    let cookies: Vec<String> = [session_cookie, clear].into_iter().chain(device).collect();
    Ok(see_other(&next, &cookies))
}
