//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207).
//!
//! [`validate`] turns raw parameters into an [`AuthRequest`] or an error that says whether it
//! may be sent back to the client: until the client and its exactly-registered redirect URI
//! are known, errors are shown to the citizen and never redirected (RFC 6749 §4.1.2.1).
//! [`decide`] then compares the request with the browser's session and the stored consent.

use super::error::ErrorCode;
use super::{Provider, SUPPORTED_SCOPES};
use crate::authn::Session;
use crate::crypto::is_pkce_value;
use crate::domain::client::{Client, GrantType};
use crate::domain::ids::AccountId;
use crate::domain::lang::Lang;
use crate::domain::level::Loa;
use crate::domain::params::Params;
use crate::domain::scope::Scopes;
use serde::{Deserialize, Serialize};
use url::Url;

/// Errors that must not be redirected: shown as a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageReason {
    MalformedParameters,
    MissingClientId,
    UnknownClient,
    MissingRedirectUri,
    UnregisteredRedirectUri,
    /// A pending request expired or does not exist.
    UnknownRequest,
    /// Too many requests without a session from this client address.
    TooManyRequests,
    /// The short-lived store is full: try again shortly.
    Busy,
}

/// An error that is sent to the client's registered redirect URI.
#[derive(Clone, Debug)]
pub struct RedirectError {
    pub redirect_uri: String,
    pub code: ErrorCode,
    pub description: String,
    pub state: Option<String>,
}

#[derive(Clone, Debug)]
pub enum AuthorizeError {
    Page(PageReason, String),
    Redirect(RedirectError),
    /// A backend failed; shared so the error stays cheap to clone.
    Internal(std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(e: crate::store::StoreError) -> Self {
        AuthorizeError::Internal(std::sync::Arc::new(e))
    }
}
impl From<crate::ephemeral::EphemeralError> for AuthorizeError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        match e {
            crate::ephemeral::EphemeralError::Full => {
                AuthorizeError::Page(PageReason::Busy, e.to_string())
            }
            crate::ephemeral::EphemeralError::Backend(_) => {
                AuthorizeError::Internal(std::sync::Arc::new(e))
            }
        }
    }
}

/// `prompt` values (OIDC Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    pub lang: Option<Lang>,
    /// The level the request demands (acr_values / claims), at least low.
    pub required_level: Loa,
    /// The named process wants the level confirmed by an upstream in the login.
    #[serde(default)]
    pub upstream_required: bool,
    /// Unix time when the request arrived: a login or consent after it satisfies
    /// `prompt=login` / `prompt=consent`.
    pub created_at: i64,
    /// The same in milliseconds, for "a login after the request".
    #[serde(default)]
    pub created_at_ms: i64,
    /// The citizen an `id_token_hint` names (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub hint: Option<Hint>,
    /// Whether an earlier consent to this client counts without asking again. Not for a
    /// public client whose redirect is not a claimed https URI: anyone can register another
    /// app with the same client id and a loopback or custom-scheme redirect (RFC 8252 §8.6).
    #[serde(default)]
    pub consent_remembered: bool,
}

/// Whom an `id_token_hint` names: the account behind its subject at this client, `None` when
/// the subject is not known here (then no session matches it).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Hint {
    pub account: Option<AccountId>,
}

impl AuthRequest {
    fn error(&self, code: ErrorCode, description: &str) -> AuthorizeError {
        AuthorizeError::Redirect(RedirectError {
            redirect_uri: self.redirect_uri.clone(),
            code,
            description: description.into(),
            state: self.state.clone(),
        })
    }

    #[must_use]
    pub fn scopes(&self) -> Scopes {
        Scopes::parse(&self.scope).unwrap_or_default()
    }
}

const MAX_STATE: usize = 1024;
const MAX_NONCE: usize = 512;

/// Validates an authorization request.
///
/// # Errors
/// A page error before the redirect URI is trusted, a redirect error after.
pub async fn validate(
    p: &Provider,
    raw_query: &[u8],
) -> Result<(std::sync::Arc<Client>, AuthRequest), AuthorizeError> {
    let params = Params::parse(raw_query)
        .map_err(|e| AuthorizeError::Page(PageReason::MalformedParameters, e.to_string()))?;
    let client_id = params.get("client_id").ok_or_else(|| {
        AuthorizeError::Page(PageReason::MissingClientId, "client_id is missing".into())
    })?;
    // The per-instance client cache: this is on the path of every SSO round trip.
    let client = match p.client(client_id).await {
        Ok(c) => c,
        Err(crate::store::StoreError::NotFound) => {
            return Err(AuthorizeError::Page(
                PageReason::UnknownClient,
                "unknown client_id".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
        AuthorizeError::Page(
            PageReason::MissingRedirectUri,
            "redirect_uri is missing".into(),
        )
    })?;
    if client.redirect_uri(redirect_uri).is_none() {
        return Err(AuthorizeError::Page(
            PageReason::UnregisteredRedirectUri,
            "redirect_uri is not registered for this client".into(),
        ));
    }
    // From here on, errors go back to the client.
    let state = params.get("state").map(str::to_owned);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut req = AuthRequest {
        client_id: client.id.0.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: String::new(),
        state,
        nonce: None,
        code_challenge: None,
        prompt: Prompt::default(),
        max_age: None,
        login_hint: None,
        lang: None,
        required_level: Loa::Low,
        upstream_required: false,
        created_at: now_ms.div_euclid(1000),
        created_at_ms: now_ms,
        hint: None,
        consent_remembered: !client.is_public()
            || crate::domain::client::is_claimed_https(redirect_uri),
    };
    if req.state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        req.state = None;
        return Err(req.error(ErrorCode::InvalidRequest, "state is too long"));
    }
    if params.get("request").is_some() {
        return Err(req.error(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(req.error(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(req.error(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
        None => return Err(req.error(ErrorCode::InvalidRequest, "response_type is missing")),
    }
    if let Some(mode) = params.get("response_mode")
        && mode != "query"
    {
        return Err(req.error(
            ErrorCode::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(req.error(
            ErrorCode::UnauthorizedClient,
            "client may not use the authorization code flow",
        ));
    }
    let scopes = Scopes::parse(params.get("scope").unwrap_or(""))
        .map_err(|e| req.error(ErrorCode::InvalidScope, e))?;
    if !scopes.contains("openid") {
        return Err(req.error(ErrorCode::InvalidScope, "scope must contain openid"));
    }
    // offline_access (OIDC Core §11) depends on the refresh_token grant, not on the
    // registered scopes; for clients without that grant it is ignored, as the spec says.
    let offline = scopes.contains("offline_access") && client.allows_grant(GrantType::RefreshToken);
    let scopes: Scopes = scopes.iter().filter(|s| *s != "offline_access").collect();
    let unknown: Vec<String> = scopes
        .difference(&client.scopes)
        .into_iter()
        .chain(
            scopes
                .iter()
                .filter(|s| !SUPPORTED_SCOPES.contains(s))
                .map(str::to_owned),
        )
        .collect();
    if !unknown.is_empty() {
        return Err(req.error(
            ErrorCode::InvalidScope,
            &format!("scope not allowed: {}", unknown.join(" ")),
        ));
    }
    let scopes: Scopes = scopes
        .iter()
        .chain(offline.then_some("offline_access"))
        .collect();
    req.scope = scopes.to_string();

    // PKCE (RFC 7636): S256 only; required for public clients.
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(c), Some("S256")) if is_pkce_value(c) => req.code_challenge = Some(c.to_owned()),
        (Some(_), Some("S256")) => {
            return Err(req.error(ErrorCode::InvalidRequest, "code_challenge is malformed"));
        }
        (Some(_), None) => {
            return Err(req.error(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        (_, Some(_)) => {
            return Err(req.error(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 with a code_challenge",
            ));
        }
        (None, None) if client.is_public() => {
            return Err(req.error(
                ErrorCode::InvalidRequest,
                "PKCE (S256) is required for public clients",
            ));
        }
        (None, None) => {}
    }

    if let Some(n) = params.get("nonce") {
        if n.len() > MAX_NONCE {
            return Err(req.error(ErrorCode::InvalidRequest, "nonce is too long"));
        }
        req.nonce = Some(n.to_owned());
    }
    if let Some(pr) = params.get("prompt") {
        for v in pr.split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => req.prompt.none = true,
                "login" => req.prompt.login = true,
                "consent" => req.prompt.consent = true,
                "select_account" => {}
                _ => return Err(req.error(ErrorCode::InvalidRequest, "unsupported prompt value")),
            }
        }
        if req.prompt.none && pr.split(' ').filter(|v| !v.is_empty()).count() > 1 {
            return Err(req.error(
                ErrorCode::InvalidRequest,
                "prompt=none cannot be combined with other values",
            ));
        }
    }
    if let Some(m) = params.get("max_age") {
        let max_age: u64 = m.parse().map_err(|_| {
            req.error(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?;
        // OIDC Core §3.1.2.1: max_age=0 is equivalent to prompt=login. Compared in whole
        // seconds, a login earlier in the same second would otherwise count as fresh.
        if max_age == 0 {
            if req.prompt.none {
                return Err(req.error(ErrorCode::LoginRequired, "max_age=0 needs a new login"));
            }
            req.prompt.login = true;
        }
        req.max_age = Some(max_age);
    }
    if let Some(h) = params.get("id_token_hint") {
        // An ID token this provider issued to this client; its subject names the citizen.
        let claims = p
            .verify_id_token_hint(h)
            .filter(|c| c.client_id() == Some(client.id.as_str()))
            .ok_or_else(|| {
                req.error(
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not an ID token issued to this client",
                )
            })?;
        let account =
            p.db.subjects()
                .resolve(&client.sector(), &claims.sub)
                .await?;
        req.hint = Some(Hint { account });
    }
    req.login_hint = params
        .get("login_hint")
        .filter(|h| h.len() <= 254)
        .map(str::to_owned);
    req.lang = params.get("ui_locales").and_then(Lang::pick);
    req.required_level = required_level(&params)
        .map_err(|e| req.error(ErrorCode::InvalidRequest, e))?
        .max(client.default_level.unwrap_or(Loa::Low));
    // A named process demands its catalogue level (the Verbund's, or the tenant's if higher);
    // an unknown process is an error, never a silent low-level login.
    if let Some(pid) = params.get("process") {
        let unknown = || req.error(ErrorCode::InvalidRequest, "unknown process");
        let id = crate::domain::process::ProcessId::parse(pid).map_err(|_| unknown())?;
        match crate::catalogue::Catalogue::new(p.db.clone())
            .lookup(&id, Some(client.tenant_id))
            .await?
        {
            Some((process, level)) => {
                req.required_level = req.required_level.max(level);
                req.upstream_required = process.upstream_required;
            }
            None => return Err(unknown()),
        }
    }
    Ok((client, req))
}

/// The level demanded by `acr_values` and an essential `acr` in the `claims` parameter.
/// Among listed values any one satisfies the request, so the lowest known one counts.
fn required_level(params: &Params) -> Result<Loa, &'static str> {
    let mut level = Loa::Low;
    if let Some(l) = params
        .get("acr_values")
        .and_then(|v| v.split(' ').filter_map(Loa::from_acr).min())
    {
        level = level.max(l);
    }
    if let Some(c) = params.get("claims") {
        let claims: serde_json::Value =
            serde_json::from_str(c).map_err(|_| "claims is not valid JSON")?;
        if !claims.is_object() {
            return Err("claims must be a JSON object");
        }
        for member in ["id_token", "userinfo"] {
            let acr = &claims[member]["acr"];
            if acr["essential"].as_bool() != Some(true) {
                continue;
            }
            let values: Vec<Loa> = match (&acr["value"], &acr["values"]) {
                (serde_json::Value::String(s), _) => Loa::from_acr(s).into_iter().collect(),
                (_, serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str())
                    .filter_map(Loa::from_acr)
                    .collect(),
                _ => Vec::new(),
            };
            match values.into_iter().min() {
                Some(l) => level = level.max(l),
                None => return Err("essential acr names no supported level"),
            }
        }
    }
    Ok(level)
}

/// What to do with a validated request in this browser.
#[derive(Debug)]
pub enum Decision {
    /// Ask the citizen to log in (again).
    Login,
    /// Ask for the missing second factor (step-up), without a new login.
    StepUp,
    /// The level cannot be reached with this account now: explain why, then answer the
    /// portal with `unmet_authentication_requirements`.
    CannotReach(Obstacle),
    /// The level cannot be reached here, but an upstream (BundID) can confirm it: offer
    /// that step-up (the request waits).
    Upstream(Obstacle),
    /// Ask the citizen to consent to the scopes.
    Consent,
    /// Everything is in place: issue a code.
    Issue,
}

/// Why a level cannot be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obstacle {
    /// The holder's identity is not proven well enough (design: identity proofing).
    Proofing,
    /// No second factor that would reach the level is set up.
    Factor,
    /// The process wants the level confirmed by an upstream in this login (§ 3 Abs. 4 OZG).
    Upstream,
}

/// What the decision needs to know about the logged-in account.
#[derive(Clone, Copy, Debug)]
pub struct AccountFacts {
    pub proofing: Loa,
    pub has_totp: bool,
    /// The level the account's strongest passkey gives, if it has one.
    pub passkey: Option<Loa>,
    /// An upstream can confirm levels (a step-up there is possible).
    pub upstream_step_up: bool,
}

/// Decides the next step (OIDC Core §3.1.2.3). `consented` are the scopes the account has
/// already granted to this client; `facts` describe the session's account.
///
/// # Errors
/// A redirect error for `prompt=none` when interaction would be needed.
pub fn decide(
    req: &AuthRequest,
    session: Option<&Session>,
    consented: Option<&Scopes>,
    facts: Option<AccountFacts>,
) -> Result<Decision, AuthorizeError> {
    let needs_login = match session {
        None => true,
        Some(s) => {
            // Both are measured at the request: a login after it satisfies them, however
            // long the citizen then spends on the consent or step-up page.
            (req.prompt.login && !s.logged_in_after(req))
                || req.max_age.is_some_and(|m| {
                    req.created_at.saturating_sub(s.auth_time)
                        > i64::try_from(m).unwrap_or(i64::MAX)
                })
        }
    };
    if needs_login {
        return if req.prompt.none {
            Err(req.error(ErrorCode::LoginRequired, "the citizen is not logged in"))
        } else {
            Ok(Decision::Login)
        };
    }
    // The portal named the citizen it expects (a shared computer in a Bürgerbüro): another
    // logged-in citizen gets no code. Without interaction that is `login_required`; with it,
    // a new login, and if the one who then logs in is still someone else, the same error.
    if let (Some(hint), Some(s)) = (&req.hint, session)
        && hint.account != Some(s.account_id)
    {
        return if req.prompt.none || s.logged_in_after(req) {
            Err(req.error(
                ErrorCode::LoginRequired,
                "the logged-in citizen is not the one id_token_hint names",
            ))
        } else {
            Ok(Decision::Login)
        };
    }
    if let Some(s) = session
        && s.acr < req.required_level
    {
        // The level is min(proofing, strength): a second factor helps only if the proofing
        // already reaches the level. A token never claims a level that was not reached.
        let facts = facts.unwrap_or_default();
        if req.prompt.none {
            return Err(req.error(
                ErrorCode::UnmetAuthenticationRequirements,
                "a higher assurance level needs interaction",
            ));
        }
        // Our own factors cannot help when the identity is not proven well enough, or when
        // the process wants the upstream itself: BundID can, if there is one.
        if facts.proofing < req.required_level || req.upstream_required {
            let obstacle = if req.upstream_required {
                Obstacle::Upstream
            } else {
                Obstacle::Proofing
            };
            return Ok(if facts.upstream_step_up {
                Decision::Upstream(obstacle)
            } else {
                Decision::CannotReach(obstacle)
            });
        }
        let reach = crate::domain::level::reachable_by_step_up(
            facts.proofing,
            &s.amr,
            facts.has_totp,
            facts.passkey,
        );
        return Ok(if reach >= req.required_level {
            Decision::StepUp
        } else {
            Decision::CannotReach(Obstacle::Factor)
        });
    }
    // § 3 Abs. 4 OZG: the level must have been confirmed by an upstream in this session,
    // not only reached with our factors over a clerk's check.
    if let Some(s) = session
        && req.upstream_required
        && !s.confirmed_upstream(req.required_level)
    {
        if req.prompt.none {
            return Err(req.error(
                ErrorCode::UnmetAuthenticationRequirements,
                "the level must be confirmed by an upstream, which needs interaction",
            ));
        }
        return Ok(if facts.is_some_and(|f| f.upstream_step_up) {
            Decision::Upstream(Obstacle::Upstream)
        } else {
            Decision::CannotReach(Obstacle::Upstream)
        });
    }
    let covered = req.consent_remembered && consented.is_some_and(|c| req.scopes().is_subset(c));
    if !covered || req.prompt.consent {
        return if req.prompt.none {
            Err(req.error(ErrorCode::ConsentRequired, "consent is required"))
        } else {
            Ok(Decision::Consent)
        };
    }
    Ok(Decision::Issue)
}

impl Default for AccountFacts {
    /// Nothing known: unproven, no factors, no upstream.
    fn default() -> Self {
        Self {
            proofing: Loa::Low,
            has_totp: false,
            passkey: None,
            upstream_step_up: false,
        }
    }
}

impl Session {
    /// Whether this session's last authentication came after the request arrived (it was
    /// made for this request), to the millisecond. Strictly after: a login answered and a
    /// request arriving within the same millisecond is the order "login, then request"
    /// (a login made for a request takes a page, a form and a password hash: never < 1 ms).
    fn logged_in_after(&self, req: &AuthRequest) -> bool {
        let created = if req.created_at_ms == 0 {
            req.created_at.saturating_mul(1000)
        } else {
            req.created_at_ms
        };
        self.auth_time_ms() > created
    }
}

/// A request waiting for the citizen to log in or consent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    pub req: AuthRequest,
    pub client_name: String,
    /// The Kommune the portal belongs to, named on the login and consent pages, with its
    /// own Impressum and privacy notice.
    #[serde(default)]
    pub tenant_name: String,
    #[serde(default)]
    pub tenant_impressum: Option<String>,
    #[serde(default)]
    pub tenant_privacy: Option<String>,
    #[serde(default)]
    pub tenant_slug: String,
    #[serde(default)]
    pub tenant_logo: bool,
    #[serde(default)]
    pub tenant_accent: Option<String>,
    #[serde(default)]
    pub tenant_support: Option<String>,
}

impl Pending {
    /// The portal and its Kommune, as the pages name them.
    #[must_use]
    pub fn portal(&self) -> crate::oidc::flow::Portal {
        crate::oidc::flow::Portal {
            client_name: self.client_name.clone(),
            tenant_name: self.tenant_name.clone(),
            impressum_url: self.tenant_impressum.clone(),
            privacy_url: self.tenant_privacy.clone(),
            tenant_slug: self.tenant_slug.clone(),
            logo: self.tenant_logo,
            accent: self.tenant_accent.clone(),
            support: self.tenant_support.clone(),
        }
    }
}

impl Provider {
    /// The redirect for an error (RFC 6749 §4.1.2.1 plus RFC 9207 `iss`).
    #[must_use]
    pub fn error_url(&self, e: &RedirectError) -> String {
        self.response_url(
            &e.redirect_uri,
            &[
                ("error", e.code.as_str()),
                ("error_description", &e.description),
            ],
            e.state.as_deref(),
        )
    }

    pub(super) fn response_url(
        &self,
        redirect_uri: &str,
        pairs: &[(&str, &str)],
        state: Option<&str>,
    ) -> String {
        // The redirect URI was matched against a registered, parsed URI; parsing cannot fail.
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return redirect_uri.to_owned();
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(s) = state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        url.into()
    }
}
