//! The authorization flow in the browser, step by step (OIDC Core §3.1.2): a request
//! arrives ([`Provider::authorize`]), waits while the citizen logs in or steps up
//! ([`Provider::resume`]), is shown for consent ([`Provider::consent_step`]) and answered
//! ([`Provider::answer_consent`]). Each entry returns one [`Next`] that the web layer only
//! renders.
//!
//! A request that needs the citizen is kept as a *pending* record in the short-lived store
//! ([`Key::Pending`]); it is created in [`Provider::park`] and dropped in
//! [`Provider::settle`] on every terminal step, and nowhere else. Before a code is issued the
//! record is gone, so one pending request yields at most one code per answer.

use super::authorize::{
    AccountFacts, AuthRequest, AuthorizeError, Decision, Obstacle, PageReason, Pending,
    RedirectError, decide, validate,
};
use super::error::ErrorCode;
use super::{PENDING_TTL_SECS, Provider};
use crate::authn::{Session, SignedIn};
use crate::crypto::random_token;
use crate::domain::ids::ClientId;
use crate::domain::lang::Lang;
use crate::domain::scope::Scopes;
use crate::ephemeral::{Key, PerAddress};
use std::net::IpAddr;
use std::time::Duration;

/// What the browser is shown next.
#[derive(Debug)]
pub enum Step {
    /// Back to the portal: a code, or an error, at its registered redirect URI.
    Redirect(String),
    /// The login page for this pending request.
    Login { pending: String },
    /// The step-up page (a second factor) for this pending request.
    StepUp { pending: String },
    /// The consent question: a page of its own (`/consent`), which the other steps redirect
    /// to.
    Consent {
        pending: String,
        portal: Portal,
        scopes: Scopes,
    },
    /// The level cannot be reached with this account: why, and the way back to the portal
    /// (with `unmet_authentication_requirements`).
    CannotReach { back: String, obstacle: Obstacle },
    /// The level cannot be reached here, but an upstream can confirm it: the page offers
    /// that step-up for this pending request (or to cancel it).
    UpstreamStepUp { pending: String, obstacle: Obstacle },
    /// Refused with a page: the request cannot be answered at a redirect URI.
    Refused(PageReason),
    /// A backend failed (the cause is for the log).
    Failed(crate::telemetry::Cause),
}

/// The portal and its Kommune, as the login and consent pages name them.
#[derive(Clone, Debug, Default)]
pub struct Portal {
    pub client_name: String,
    pub tenant_name: String,
    /// The Kommune's own Impressum and privacy notice, if it set them.
    pub impressum_url: Option<String>,
    pub privacy_url: Option<String>,
    /// The Kommune's face: its slug (for its logo and colour), whether it has a logo, its
    /// accent colour and support contact.
    pub tenant_slug: String,
    pub logo: bool,
    pub accent: Option<String>,
    pub support: Option<String>,
}

impl Portal {
    /// A portal of the tenant `t`, with the Kommune's name, links and face.
    #[must_use]
    pub fn of(client_name: &str, t: crate::store::tenants::Tenant) -> Self {
        Self {
            client_name: client_name.to_owned(),
            tenant_slug: t.slug.as_str().to_owned(),
            tenant_name: t.name,
            impressum_url: t.impressum_url,
            privacy_url: t.privacy_url,
            logo: t.has_logo,
            accent: t.accent_color,
            support: t.support_contact,
        }
    }
}

/// The next step, and the language the request asked for (`ui_locales`), once known.
#[derive(Debug)]
pub struct Next {
    pub step: Step,
    pub lang: Option<Lang>,
}

/// Where the request is in its life: just arrived from a client address, or pending.
#[derive(Clone, Copy)]
enum At<'a> {
    New(IpAddr),
    Pending(&'a str),
}

/// How a step ends, before the pending record is kept or dropped.
enum Outcome {
    /// Wait for the citizen: login, step-up or consent.
    Wait(Decision),
    /// Issue a code; `grant` records the consent first.
    Issue {
        grant: bool,
    },
    /// The citizen said no.
    Deny,
    CannotReach(Obstacle),
    Refuse(AuthorizeError),
}

impl Provider {
    /// `GET|POST /authorize`: validates the request and decides the first step.
    pub async fn authorize(&self, raw: &[u8], session: Option<SignedIn>, ip: IpAddr) -> Next {
        let (client, req) = match validate(self, raw).await {
            Ok(v) => v,
            Err(e) => {
                return Next {
                    step: self.refuse(e),
                    lang: None,
                };
            }
        };
        let outcome = self.outcome(&req, session.as_ref()).await;
        // The Kommune is named on the pages the citizen will see (not on the SSO path).
        let mut portal = Portal {
            client_name: client.name.clone(),
            ..Portal::default()
        };
        if matches!(outcome, Outcome::Wait(_))
            && let Ok(t) = self.db.tenants().by_id(client.tenant_id).await
        {
            portal = Portal::of(&client.name, t);
        }
        self.settle(At::New(ip), (req, portal), session, outcome)
            .await
    }

    /// `GET /authorize/resume`: after a login or step-up, decides again.
    pub async fn resume(&self, pending: &str, session: Option<SignedIn>) -> Next {
        let p = match self.load_pending(pending).await {
            Ok(p) => p,
            Err(e) => return self.unknown(e),
        };
        let outcome = self.outcome(&p.req, session.as_ref()).await;
        self.settle(
            At::Pending(pending),
            {
                let portal = p.portal();
                (p.req, portal)
            },
            session,
            outcome,
        )
        .await
    }

    /// `GET /consent`: the consent question, if that is what the request needs now. The
    /// login and the level come first, so a browser cannot skip them by going here directly.
    pub async fn consent_step(&self, pending: &str, session: Option<SignedIn>) -> Next {
        let p = match self.load_pending(pending).await {
            Ok(p) => p,
            Err(e) => return self.unknown(e),
        };
        let outcome = match self.outcome(&p.req, session.as_ref()).await {
            Outcome::Issue { .. } if session.is_some() => Outcome::Wait(Decision::Consent),
            o => o,
        };
        self.settle(
            At::Pending(pending),
            {
                let portal = p.portal();
                (p.req, portal)
            },
            session,
            outcome,
        )
        .await
    }

    /// `POST /authorize/cancel`: the citizen goes back to the portal without logging in; the
    /// portal gets `access_denied` at its registered redirect URI.
    pub async fn cancel(&self, pending: &str) -> Next {
        let p = match self.load_pending(pending).await {
            Ok(p) => p,
            Err(e) => return self.unknown(e),
        };
        self.settle(
            At::Pending(pending),
            {
                let portal = p.portal();
                (p.req, portal)
            },
            None,
            Outcome::Deny,
        )
        .await
    }

    /// `POST /consent`: allow records the consent and issues the code; deny answers
    /// `access_denied`.
    pub async fn answer_consent(
        &self,
        pending: &str,
        session: Option<SignedIn>,
        allow: bool,
    ) -> Next {
        let p = match self.load_pending(pending).await {
            Ok(p) => p,
            Err(e) => return self.unknown(e),
        };
        let outcome = match self.outcome(&p.req, session.as_ref()).await {
            Outcome::Issue { .. } | Outcome::Wait(Decision::Consent) if session.is_some() => {
                if allow {
                    Outcome::Issue { grant: true }
                } else {
                    Outcome::Deny
                }
            }
            o => o,
        };
        self.settle(
            At::Pending(pending),
            {
                let portal = p.portal();
                (p.req, portal)
            },
            session,
            outcome,
        )
        .await
    }

    /// The decision for a request in this browser (one call of [`decide`]).
    async fn outcome(&self, req: &AuthRequest, session: Option<&SignedIn>) -> Outcome {
        let s = session.map(|s| &s.session);
        let (consented, facts) = match s {
            None => (None, None),
            Some(s) => {
                let client = ClientId(req.client_id.clone());
                let consented = match self.db.consents().get(s.account_id, &client).await {
                    Ok(c) => c,
                    Err(e) => return Outcome::Refuse(e.into()),
                };
                match self.account_facts(req, s).await {
                    Ok(f) => (consented, f),
                    Err(e) => {
                        return Outcome::Refuse(AuthorizeError::Internal(std::sync::Arc::new(e)));
                    }
                }
            }
        };
        match decide(req, s, consented.as_ref(), facts) {
            Ok(Decision::Issue) => Outcome::Issue { grant: false },
            Ok(Decision::CannotReach(o)) => Outcome::CannotReach(o),
            Ok(d) => Outcome::Wait(d),
            Err(e) => Outcome::Refuse(e),
        }
    }

    /// The account's proofing level and second factors, for the decision. Only looked up
    /// when the session is below the requested level: the common SSO case costs no queries.
    async fn account_facts(
        &self,
        req: &AuthRequest,
        s: &Session,
    ) -> Result<Option<AccountFacts>, crate::account::AccountError> {
        if s.acr >= req.required_level
            && (!req.upstream_required || s.confirmed_upstream(req.required_level))
        {
            return Ok(None);
        }
        let account = self.accounts.get(s.account_id).await?;
        let factors = self.accounts.factors(s.account_id).await?;
        Ok(Some(AccountFacts {
            proofing: account.proofing,
            has_totp: factors.totp,
            passkey: factors.best_passkey,
            upstream_step_up: self.settings.upstream_step_up,
        }))
    }

    /// Keeps the request waiting, or ends it: the one place where a pending record is made
    /// and dropped. It is dropped before a code is issued or the portal is answered.
    async fn settle(
        &self,
        at: At<'_>,
        (req, portal): (AuthRequest, Portal),
        session: Option<SignedIn>,
        outcome: Outcome,
    ) -> Next {
        let lang = req.lang;
        let next = |step| Next { step, lang };
        if let Outcome::Wait(d) = outcome {
            let record = Pending {
                req,
                client_name: portal.client_name,
                tenant_name: portal.tenant_name,
                tenant_impressum: portal.impressum_url,
                tenant_privacy: portal.privacy_url,
                tenant_slug: portal.tenant_slug,
                tenant_logo: portal.logo,
                tenant_accent: portal.accent,
                tenant_support: portal.support,
            };
            let pending = match at {
                At::Pending(id) => id.to_owned(),
                At::New(ip) => match self.park(&record, ip).await {
                    Ok(id) => id,
                    Err(e) => return next(self.refuse(e)),
                },
            };
            return next(match d {
                Decision::Login => Step::Login { pending },
                Decision::StepUp => Step::StepUp { pending },
                Decision::Upstream(obstacle) => Step::UpstreamStepUp { pending, obstacle },
                _ => Step::Consent {
                    pending,
                    scopes: record.req.scopes(),
                    portal: record.portal(),
                },
            });
        }
        if let At::Pending(id) = at {
            let dropped = self.eph.delete(&Key::Pending(id)).await;
            match (&outcome, dropped) {
                (_, Ok(())) => {}
                // A code or an answer must not come twice from one request.
                (Outcome::Issue { .. } | Outcome::Deny, Err(e)) => {
                    return next(self.refuse(e.into()));
                }
                (_, Err(e)) => tracing::warn!(error = %e, "could not drop a pending request"),
            }
        }
        next(match outcome {
            Outcome::Wait(_) => unreachable!("handled above"),
            Outcome::Refuse(e) => self.refuse(e),
            Outcome::CannotReach(obstacle) => Step::CannotReach {
                back: self.error_url(&RedirectError {
                    redirect_uri: req.redirect_uri.clone(),
                    code: ErrorCode::UnmetAuthenticationRequirements,
                    description:
                        "the requested assurance level cannot be reached with this account".into(),
                    state: req.state.clone(),
                }),
                obstacle,
            },
            Outcome::Deny => Step::Redirect(self.error_url(&RedirectError {
                redirect_uri: req.redirect_uri.clone(),
                code: ErrorCode::AccessDenied,
                description: "the citizen denied consent".into(),
                state: req.state.clone(),
            })),
            Outcome::Issue { grant } => match session {
                Some(s) => self.finish(&req, s, grant).await,
                None => Step::Failed("issue without session".into()),
            },
        })
    }

    /// Records the consent if asked, issues the code and remembers the portal in the session
    /// (for back-channel logout).
    async fn finish(&self, req: &AuthRequest, signed_in: SignedIn, grant: bool) -> Step {
        let SignedIn { token, mut session } = signed_in;
        if grant && let Err(e) = self.grant(session.account_id, req).await {
            return self.refuse(e.into());
        }
        let url = match self.issue_code(req, &session).await {
            Ok(url) => url,
            Err(e) => return self.refuse(e),
        };
        if !session.clients.contains(&req.client_id) {
            session.clients.push(req.client_id.clone());
            if let Err(e) = self.sessions.save(&token, &session).await {
                return Step::Failed(e.into());
            }
        }
        Step::Redirect(url)
    }

    /// Stores a pending request; returns its id. Every one counts against the client address
    /// first (with or without a session: a session is no harder to get than an address): each
    /// is held in the short-lived store until its expiry, so nobody may park an unbounded
    /// number. The in-process store also gives them only half of its room.
    async fn park(&self, pending: &Pending, origin: IpAddr) -> Result<String, AuthorizeError> {
        let n = self
            .eph
            .incr_window(
                &Key::PerAddress(PerAddress::PendingRequests, origin),
                Duration::from_secs(PENDING_TTL_SECS),
            )
            .await?;
        if n > self.settings.pending_requests_per_ip {
            return Err(AuthorizeError::Page(
                PageReason::TooManyRequests,
                "too many waiting authorization requests from this address".into(),
            ));
        }
        let id = random_token();
        self.eph
            .put(
                &Key::Pending(&id),
                &serde_json::to_string(pending).unwrap_or_default(),
                Duration::from_secs(PENDING_TTL_SECS),
            )
            .await?;
        Ok(id)
    }

    /// A pending request by id (the login pages read its language and hints).
    ///
    /// # Errors
    /// `UnknownRequest` when the id is unknown or expired.
    pub async fn load_pending(&self, id: &str) -> Result<Pending, AuthorizeError> {
        if id.len() > 64 {
            return Err(AuthorizeError::Page(
                PageReason::UnknownRequest,
                "unknown request".into(),
            ));
        }
        self.eph
            .get(&Key::Pending(id))
            .await?
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| {
                AuthorizeError::Page(
                    PageReason::UnknownRequest,
                    "unknown or expired request".into(),
                )
            })
    }

    /// An unknown or expired pending request (nothing to drop).
    fn unknown(&self, e: AuthorizeError) -> Next {
        Next {
            step: self.refuse(e),
            lang: None,
        }
    }

    /// The step for an error: a redirect to the registered URI, or a page.
    fn refuse(&self, e: AuthorizeError) -> Step {
        match e {
            AuthorizeError::Redirect(r) => Step::Redirect(self.error_url(&r)),
            AuthorizeError::Page(reason @ PageReason::Busy, detail) => {
                tracing::warn!(detail, "authorization request refused");
                Step::Refused(reason)
            }
            AuthorizeError::Page(reason, detail) => {
                tracing::info!(detail, "authorization request refused");
                Step::Refused(reason)
            }
            AuthorizeError::Internal(cause) => Step::Failed(Box::new(Shared(cause))),
        }
    }
}

/// A shared cause, passed on as its own error (its causes stay reachable).
#[derive(Debug)]
struct Shared(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
