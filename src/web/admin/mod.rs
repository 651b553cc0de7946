//! The administration console at `/admin`: server-rendered like the citizen pages, German
//! first, without JavaScript, CSRF on every form. Handlers are thin: the [`Console`] gate,
//! a call to [`crate::admin::Admin`] (which checks the roles and audits), a page.
//!
//! The gate: a signed-in session at *substanziell* or higher with a second factor, of an
//! account with at least one role. Destructive or secret-revealing actions also need the
//! factor given recently (10 minutes by default) ([`Console::fresh`]); their confirmation pages send
//! the admin through the step-up first, and their POSTs refuse a stale session.

mod audit;
mod clients;
mod desk;
mod overview;
mod processes;
mod roles;
mod tenants;
pub mod texts;

use crate::admin::{Actor, AdminError};
use crate::domain::lang::Lang;
use crate::domain::level::Loa;
use crate::domain::role::DutyKind;
use crate::web::extract::{MaybeSession, lang_of};
use crate::web::i18n::{Texts, texts};
use crate::web::pages::factors::factor_given;
use crate::web::respond::{PageError, html, lang_switch, see_other};
use crate::web::state::AppState;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use texts::{AdminTexts, admin_texts};

/// The console's routes.
pub(in crate::web) fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(overview::routes())
        .merge(clients::routes())
        .merge(audit::routes())
        .merge(desk::routes())
        .merge(processes::routes())
        .merge(roles::routes())
        .merge(tenants::routes())
}

/// A request that passed the console's gate.
pub struct Console {
    pub actor: Actor,
    /// How recent the factor must be for [`Console::fresh`].
    fresh_for: std::time::Duration,
    pub session: crate::authn::Session,
    pub lang: Lang,
}

impl Console {
    #[must_use]
    pub fn t(&self) -> &'static Texts {
        texts(self.lang)
    }

    #[must_use]
    pub fn a(&self) -> &'static AdminTexts {
        admin_texts(self.lang)
    }

    /// Whether the second factor was given recently (`BUERGERKONTO_ADMIN_FRESH_SECS`, 10
    /// minutes by default).
    #[must_use]
    pub fn fresh(&self) -> bool {
        let window = i64::try_from(self.fresh_for.as_millis()).unwrap_or(i64::MAX);
        factor_given(&self.session)
            && chrono::Utc::now().timestamp_millis() - self.session.auth_time_ms() < window
    }

    /// `None` when fresh; otherwise the step-up that returns to `back` (a confirmation page,
    /// `GET`) or, for a `POST`, the page that explains and links the step-up.
    #[must_use]
    pub fn require_fresh(&self, back: &str, is_post: bool) -> Option<Response> {
        if self.fresh() {
            return None;
        }
        let step_up = format!("/login/otp?next={}", encode(back));
        if !is_post {
            return Some(see_other(&step_up, &[]));
        }
        let a = self.a();
        Some(message(
            self.lang,
            StatusCode::FORBIDDEN,
            a.fresh_title,
            a.fresh_text,
            Some((step_up, a.fresh_link)),
        ))
    }

    /// The page frame: navigation by role, the notice of `?ok=`, an error.
    #[must_use]
    pub fn frame(&self, section: &'static str, ok: Option<&str>, error: Option<String>) -> Frame {
        let g = &self.actor.grants;
        Frame {
            section,
            tenants: !g.reach(DutyKind::Configure).is_empty() || g.is_verbund_admin(),
            clients: !g.reach(DutyKind::Configure).is_empty(),
            desk: !g.reach(DutyKind::Desk).is_empty(),
            audit: !g.reach(DutyKind::ReadAudit).is_empty(),
            roles: !g.reach(DutyKind::Configure).is_empty(),
            notice: ok.and_then(|c| self.a().ok(c)),
            error,
        }
    }

    /// An administrative failure as a page (or the internal error).
    #[must_use]
    pub fn fail(&self, e: AdminError) -> Response {
        let a = self.a();
        match e {
            AdminError::NotFound => message(
                self.lang,
                StatusCode::NOT_FOUND,
                a.not_found_title,
                a.not_found_text,
                Some(("/admin".into(), a.back_to_console)),
            ),
            AdminError::Forbidden => message(
                self.lang,
                StatusCode::FORBIDDEN,
                a.forbidden_title,
                a.forbidden_text,
                Some(("/admin".into(), a.back_to_console)),
            ),
            AdminError::Invalid(bad) => message(
                self.lang,
                StatusCode::BAD_REQUEST,
                a.console,
                &self.bad(&bad),
                Some(("/admin".into(), a.back_to_console)),
            ),
            AdminError::Store(e) => PageError::internal(self.lang, e).into_response(),
            AdminError::Backend(e) => PageError::internal(self.lang, e).into_response(),
        }
    }

    /// A broken rule's message in the page language.
    #[must_use]
    pub fn bad(&self, bad: &crate::admin::Bad) -> String {
        match self.lang {
            Lang::De => bad.de(),
            Lang::En => bad.en(),
        }
    }
}

/// What every console page shows around its content.
pub struct Frame {
    pub section: &'static str,
    pub tenants: bool,
    pub clients: bool,
    pub desk: bool,
    pub audit: bool,
    pub roles: bool,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage<'a> {
    t: &'static Texts,
    lang_switch: String,
    title: &'a str,
    text: &'a str,
    link: Option<(String, &'a str)>,
}

fn message(
    lang: Lang,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(String, &str)>,
) -> Response {
    let t = texts(lang);
    html(
        status,
        &MessagePage {
            t,
            lang_switch: lang_switch(t, "/admin"),
            title,
            text,
            link,
        },
    )
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let MaybeSession(signed_in) = MaybeSession::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(signed_in) = signed_in else {
            return Err(see_other("/login", &[]));
        };
        let session = signed_in.session;
        let a = admin_texts(lang);
        let grants = state
            .admin
            .grants_of(session.account_id)
            .await
            .map_err(|e| PageError::internal(lang, e).into_response())?;
        if grants.is_empty() {
            return Err(message(
                lang,
                StatusCode::FORBIDDEN,
                a.gate_no_role_title,
                a.gate_no_role_text,
                None,
            ));
        }
        if session.acr < Loa::Substantial || !factor_given(&session) {
            let factors = state
                .accounts
                .factors(session.account_id)
                .await
                .map_err(|e| PageError::internal(lang, e).into_response())?;
            let account = state
                .accounts
                .get(session.account_id)
                .await
                .map_err(|e| PageError::internal(lang, e).into_response())?;
            // The step-up helps only when the account's identity is confirmed and it has a
            // factor to give; otherwise say what is missing.
            let can_step_up = account.proofing >= Loa::Substantial
                && factors.usable(state.accounts.passkeys_available());
            let (text, link) = if can_step_up {
                (
                    a.gate_level_text,
                    Some(("/login/otp?next=%2Fadmin".to_owned(), a.gate_step_up)),
                )
            } else {
                (a.gate_level_proof, None)
            };
            return Err(message(
                lang,
                StatusCode::FORBIDDEN,
                a.gate_level_title,
                text,
                link,
            ));
        }
        let email = state
            .accounts
            .get(session.account_id)
            .await
            .map_err(|e| PageError::internal(lang, e).into_response())?
            .email
            .as_str()
            .to_owned();
        Ok(Console {
            fresh_for: state.web.admin_fresh,
            actor: Actor {
                account: Some(session.account_id),
                client: None,
                label: email,
                grants,
            },
            session,
            lang,
        })
    }
}
