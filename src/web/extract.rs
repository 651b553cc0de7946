//! Our own extractors and cookie helpers, so malformed input gets a 4xx in our format
//! (an HTML page for people, OAuth JSON at the token endpoint), never axum's plain text.

use super::i18n::{Texts, texts};
use super::respond::{ApiError, PageError};
use crate::domain::lang::Lang;
use crate::domain::params::Params;
use crate::oidc::error::{ErrorCode, OAuthError};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;

pub const SESSION_COOKIE: &str = "bk_session";
pub const CSRF_COOKIE: &str = "bk_csrf";
pub const LANG_COOKIE: &str = "bk_lang";
/// Recognises a browser the account signed in from before (a mail on a new one).
pub const DEVICE_COOKIE: &str = "bk_device";
/// How long the device cookie lives (400 days, the most browsers keep).
pub const DEVICE_COOKIE_SECS: u64 = 400 * 86_400;

/// The name a cookie has on the wire: with `Secure`, the `__Host-` prefix, which browsers
/// accept only from this exact host over https with `Path=/` and no `Domain` (so a sibling
/// subdomain cannot plant a session or CSRF cookie).
#[must_use]
pub fn wire_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// The value of a cookie, if sent (under its wire name).
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str, secure: bool) -> Option<String> {
    let name = wire_name(name, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when served over https.
#[must_use]
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>, secure: bool) -> String {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax",
        wire_name(name, secure)
    );
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

// ---- CSRF protection for forms: a random token in an HttpOnly, SameSite=Lax cookie,
// repeated in a hidden field, compared in constant time (double submit). SameSite alone does
// not cover same-site subdomains or old browsers; the token does.

/// The token for a form, and a `Set-Cookie` value if a new one had to be made.
#[must_use]
pub fn csrf_token(headers: &HeaderMap, secure: bool) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE, secure).filter(|c| c.len() == 43) {
        Some(t) => (t, None),
        None => {
            let t = crate::crypto::random_token();
            let c = set_cookie(CSRF_COOKIE, &t, None, secure);
            (t, Some(c))
        }
    }
}

/// Whether a form token matches the cookie.
#[must_use]
pub fn csrf_matches(headers: &HeaderMap, token: Option<&str>, secure: bool) -> bool {
    match (cookie(headers, CSRF_COOKIE, secure), token) {
        (Some(c), Some(f)) => c.len() == 43 && crate::crypto::ct_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// A form with a verified CSRF token.
pub struct CsrfForm(pub Params);

/// Why a [`CsrfForm`] was refused: a malformed body (its page), or a missing or forged token
/// (403). Pages that show their form again with the error take `Result<CsrfForm,
/// FormRejection>` and get the fields back.
pub enum FormRejection {
    Malformed(PageError),
    Forged { form: Params, lang: Lang },
}

impl axum::response::IntoResponse for FormRejection {
    fn into_response(self) -> axum::response::Response {
        match self {
            FormRejection::Malformed(e) => e.into_response(),
            FormRejection::Forged { lang, .. } => {
                PageError::new(axum::http::StatusCode::FORBIDDEN, lang, |t| t.err_csrf)
                    .into_response()
            }
        }
    }
}

impl<S> FromRequest<S> for CsrfForm
where
    S: Send + Sync,
    super::state::WebConfig: axum::extract::FromRef<S>,
{
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRef;
        let secure = super::state::WebConfig::from_ref(state).secure_cookies;
        let lang = lang_of(req.headers());
        let headers = req.headers().clone();
        let PageForm(form) = PageForm::from_request(req, state)
            .await
            .map_err(FormRejection::Malformed)?;
        if csrf_matches(&headers, form.get("csrf"), secure) {
            Ok(CsrfForm(form))
        } else {
            Err(FormRejection::Forged { form, lang })
        }
    }
}

/// Path parameters of a page: ones that do not parse (a malformed id) are the 404 page, as
/// an unknown id is.
pub struct PagePath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for PagePath<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| {
                PageError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    lang_of(&parts.headers),
                    |t| t.error_not_found,
                )
            })
    }
}

/// A form of a page that shows itself again when its token does not match (login,
/// registration): the fields, and whether the CSRF token matched. Malformed bodies are refused
/// with their page.
pub struct CheckedForm {
    pub params: Params,
    pub csrf_ok: bool,
}

impl<S> FromRequest<S> for CheckedForm
where
    S: Send + Sync,
    super::state::WebConfig: axum::extract::FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match CsrfForm::from_request(req, state).await {
            Ok(CsrfForm(params)) => Ok(Self {
                params,
                csrf_ok: true,
            }),
            Err(FormRejection::Forged { form, .. }) => Ok(Self {
                params: form,
                csrf_ok: false,
            }),
            Err(FormRejection::Malformed(e)) => Err(e),
        }
    }
}

// ---- the browser's session

pub use crate::authn::SignedIn;

/// The session, if the browser has one.
pub struct MaybeSession(pub Option<SignedIn>);

/// No session (the browser is sent to the login page), or the store failed.
pub enum SessionRejection {
    Login,
    Failed(PageError),
}

impl axum::response::IntoResponse for SessionRejection {
    fn into_response(self) -> axum::response::Response {
        match self {
            SessionRejection::Login => super::respond::see_other("/login", &[]),
            SessionRejection::Failed(e) => e.into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for MaybeSession
where
    S: Send + Sync,
    crate::authn::Sessions: axum::extract::FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        session_of(parts, state, false).await.map(Self)
    }
}

/// The session of the second-factor page: a signed-in one (a step-up or a change that needs
/// the factor) or one that waits for its second factor (the login's second step). No other
/// page takes the latter.
pub struct FactorSession(pub Option<SignedIn>);

impl<S> FromRequestParts<S> for FactorSession
where
    S: Send + Sync,
    crate::authn::Sessions: axum::extract::FromRef<S>,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        session_of(parts, state, true).await.map(Self)
    }
}

/// The session behind the request's cookie; one waiting for its second factor only when
/// `awaiting_factor` (the second-factor page).
async fn session_of<S>(
    parts: &Parts,
    state: &S,
    awaiting_factor: bool,
) -> Result<Option<SignedIn>, PageError>
where
    S: Send + Sync,
    crate::authn::Sessions: axum::extract::FromRef<S>,
{
    use axum::extract::FromRef;
    let sessions = crate::authn::Sessions::from_ref(state);
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE, sessions.secure_cookies()) else {
        return Ok(None);
    };
    let session = if awaiting_factor {
        sessions.get_awaiting_factor(&token).await
    } else {
        sessions.get(&token).await
    }
    .map_err(|e| PageError::internal(lang_of(&parts.headers), e))?;
    Ok(session.map(|session| SignedIn { token, session }))
}

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    crate::authn::Sessions: axum::extract::FromRef<S>,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeSession::from_request_parts(parts, state).await {
            Ok(MaybeSession(Some(s))) => Ok(s),
            Ok(MaybeSession(None)) => Err(SessionRejection::Login),
            Err(e) => Err(SessionRejection::Failed(e)),
        }
    }
}

/// The page language: the `bk_lang` cookie, else `Accept-Language`, else German.
#[derive(Clone, Copy, Debug)]
pub struct PageLang(pub Lang);

impl PageLang {
    #[must_use]
    pub fn t(self) -> &'static Texts {
        texts(self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(lang_of(&parts.headers)))
    }
}

#[must_use]
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(l) = cookie(headers, LANG_COOKIE, false)
        .or_else(|| cookie(headers, LANG_COOKIE, true))
        .and_then(|c| Lang::pick(&c))
    {
        return l;
    }
    headers
        .get(ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(Lang::pick)
        .unwrap_or_default()
}

/// The raw query string, strictly parsed.
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Params::parse(q.as_bytes())
            .map(Query)
            .map_err(|_| PageError::bad_request(lang_of(&parts.headers)))
    }
}

/// The query string of a JSON API, strictly parsed: malformed, repeated or non-UTF-8
/// parameters are a problem-JSON 400, not an HTML page.
pub struct ApiQuery(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = super::respond::ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Params::parse(q.as_bytes())
            .map(ApiQuery)
            .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.to_string()))
    }
}

/// A query type of a JSON API, read from the strictly parsed parameters.
pub trait FromParams: Sized {
    /// # Errors
    /// A problem (4xx) that names the bad parameter.
    fn from_params(q: &Params) -> Result<Self, ApiError>;
}

/// The query string of a JSON API as a typed value: malformed input is a 400, a bad value
/// the problem its type says.
pub struct ApiQueryOf<T>(pub T);

impl<S: Send + Sync, T: FromParams> FromRequestParts<S> for ApiQueryOf<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(q) = ApiQuery::from_request_parts(parts, state).await?;
        T::from_params(&q).map(Self)
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Whether the request announces a body larger than `limit` (`Content-Length`): refused at
/// once with 413, instead of waiting for bytes that would be refused anyway.
#[must_use]
pub fn announced_over(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().parse::<u64>().map_or(true, |n| n > limit as u64))
}

/// A body that could not be read: too large (413), or broken off or stalled (400: the
/// router's body timeout cuts a body that stops arriving).
fn body_error(e: &axum::extract::rejection::BytesRejection, lang: Lang) -> PageError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        PageError::too_large(lang)
    } else {
        PageError::bad_request(lang)
    }
}

/// A form body for pages: wrong content type, oversized or malformed -> an HTML 400 page.
pub struct PageForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let lang = lang_of(req.headers());
        if !is_form(req.headers()) {
            return Err(PageError::bad_request(lang));
        }
        if announced_over(req.headers(), super::MAX_BODY) {
            return Err(PageError::too_large(lang));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e, lang))?;
        Params::parse(&body)
            .map(PageForm)
            .map_err(|_| PageError::bad_request(lang))
    }
}

/// A form body for the OAuth endpoints: errors are RFC 6749 §5.2 JSON.
pub struct OAuthForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(req.headers()) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        if announced_over(req.headers(), super::MAX_BODY) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the request body is too large",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            OAuthError::new(
                ErrorCode::InvalidRequest,
                "the request body is too large or unreadable",
            )
        })?;
        Params::parse(&body)
            .map(OAuthForm)
            .map_err(|e| OAuthError::new(ErrorCode::InvalidRequest, e.to_string()))
    }
}

/// A JSON body for the APIs: wrong content type, oversized, malformed or with control
/// characters in a string -> problem JSON (415, 413, 400), never axum's plain text.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = super::respond::ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use super::respond::ApiError;
        use axum::http::StatusCode;
        let json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json",
            ));
        }
        if announced_over(req.headers(), super::MAX_BODY) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is too large",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large")
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "the body did not arrive completely",
                )
            }
        })?;
        if crate::domain::text::json_has_forbidden_controls(&body) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "strings must not contain control characters (other than tab and line breaks)",
            ));
        }
        serde_json::from_slice(&body)
            .map(ApiJson)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed body: {e}")))
    }
}

/// Parameters of a request that may come as query (GET) or form body (POST), as the
/// authorization and logout endpoints allow (OIDC Core §3.1.2.1).
pub struct GetOrPost(pub Vec<u8>);

impl<S: Send + Sync> FromRequest<S> for GetOrPost {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let lang = lang_of(req.headers());
        if req.method() == axum::http::Method::POST {
            if !is_form(req.headers()) {
                return Err(PageError::bad_request(lang));
            }
            if announced_over(req.headers(), super::MAX_BODY) {
                return Err(PageError::too_large(lang));
            }
            let body = Bytes::from_request(req, state)
                .await
                .map_err(|e| body_error(&e, lang))?;
            Ok(GetOrPost(body.to_vec()))
        } else {
            Ok(GetOrPost(
                req.uri().query().unwrap_or("").as_bytes().to_vec(),
            ))
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted reverse proxy, the
/// nearest address in `X-Forwarded-For` that is not a trusted proxy itself. Spoofed entries
/// further left are never believed.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp
where
    super::state::WebConfig: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::{ConnectInfo, FromRef};
        let web = super::state::WebConfig::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            &web.trusted_proxies,
        )))
    }
}

#[must_use]
pub fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[std::net::IpAddr],
) -> std::net::IpAddr {
    // IPv4 peers on an IPv6 socket arrive as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    // From the nearest hop outwards: stop at the first address no trusted proxy vouches for.
    // An entry that is not an address (garbage, or with a port) ends the walk there.
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), if any.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
}

// ---- who calls a JSON API

/// The scopes an API extractor accepts (any one of them).
pub trait ScopeSet: Send + Sync {
    const ANY_OF: &'static [&'static str];
}

/// The scope sets of our APIs.
pub mod need {
    use super::ScopeSet;

    /// An authority system sending to the mailbox.
    pub struct MailboxSend;
    impl ScopeSet for MailboxSend {
        const ANY_OF: &'static [&'static str] = &["mailbox.send"];
    }
    /// A portal reading a citizen's mailbox.
    pub struct MailboxRead;
    impl ScopeSet for MailboxRead {
        const ANY_OF: &'static [&'static str] = &["mailbox.read"];
    }
    /// A clerk's system recording identity checks.
    pub struct IdentityVerify;
    impl ScopeSet for IdentityVerify {
        const ANY_OF: &'static [&'static str] = &["identity.verify"];
    }
    /// The administration API: the Verbund's (`admin.verbund`), a Kommune's
    /// (`admin.tenant`) or its audit log's (`admin.audit`).
    pub struct Admin;
    impl ScopeSet for Admin {
        const ANY_OF: &'static [&'static str] = &["admin.verbund", "admin.tenant", "admin.audit"];
    }
    /// The Verbund's or a Kommune's catalogue administration.
    pub struct Catalogue;
    impl ScopeSet for Catalogue {
        const ANY_OF: &'static [&'static str] = &["catalogue.admin", "catalogue.tenant"];
    }
}

/// The caller of a bearer-authenticated API, and which of `S`'s scopes it holds.
async fn api_caller<S: ScopeSet>(
    parts: &Parts,
    p: &crate::oidc::Provider,
) -> Result<(crate::oidc::access_token::Caller, &'static str), ApiError> {
    use axum::http::StatusCode;
    let token = bearer_token(&parts.headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a bearer access token is required",
        )
    })?;
    let caller = p.caller(&token).await.map_err(|e| {
        if e.code == ErrorCode::InvalidToken {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the access token is invalid, expired or revoked",
            )
        } else {
            ApiError::internal(e)
        }
    })?;
    let granted = S::ANY_OF
        .iter()
        .find(|s| caller.scopes().contains(s))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "the access token lacks the scope {}",
                    S::ANY_OF.join(" or ")
                ),
            )
        })?;
    Ok((caller, granted))
}

/// A system acting for itself (`client_credentials`) with one of `S`'s scopes; a citizen's
/// token is refused with 403.
pub struct ServiceCaller<S> {
    pub client: std::sync::Arc<crate::domain::client::Client>,
    /// The one of `S`'s scopes the token carries (the first listed, when it has several).
    pub scope: &'static str,
    /// Every scope the token carries.
    pub scopes: crate::domain::scope::Scopes,
    _scopes: std::marker::PhantomData<S>,
}

impl<St, S> FromRequestParts<St> for ServiceCaller<S>
where
    St: Send + Sync,
    S: ScopeSet,
    crate::oidc::Provider: axum::extract::FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRef;
        let p = crate::oidc::Provider::from_ref(state);
        match api_caller::<S>(parts, &p).await? {
            (crate::oidc::access_token::Caller::Service { client, scopes }, scope) => Ok(Self {
                client,
                scope,
                scopes,
                _scopes: std::marker::PhantomData,
            }),
            (crate::oidc::access_token::Caller::Citizen { .. }, scope) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                format!("{scope} needs a client_credentials token"),
            )),
        }
    }
}

/// A portal acting for a citizen with one of `S`'s scopes; a system's own token is refused
/// with 403.
pub struct CitizenCaller<S> {
    pub client: std::sync::Arc<crate::domain::client::Client>,
    pub account: crate::domain::ids::AccountId,
    /// The level the citizen's login reached.
    pub level: crate::domain::level::Loa,
    /// When the citizen logged in (Unix seconds).
    pub auth_time: i64,
    _scopes: std::marker::PhantomData<S>,
}

impl<St, S> FromRequestParts<St> for CitizenCaller<S>
where
    St: Send + Sync,
    S: ScopeSet,
    crate::oidc::Provider: axum::extract::FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRef;
        let p = crate::oidc::Provider::from_ref(state);
        match api_caller::<S>(parts, &p).await? {
            (
                crate::oidc::access_token::Caller::Citizen {
                    client,
                    account,
                    level,
                    auth_time,
                    ..
                },
                _,
            ) => Ok(Self {
                client,
                account,
                level,
                auth_time,
                _scopes: std::marker::PhantomData,
            }),
            (crate::oidc::access_token::Caller::Service { .. }, scope) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                format!("{scope} needs a citizen's token"),
            )),
        }
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 200 visible ASCII characters, else 400.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get("idempotency-key") {
            None => Ok(Self(None)),
            Some(v) => v
                .to_str()
                .ok()
                .filter(|k| {
                    !k.is_empty()
                        && k.len() <= crate::mailbox::limits::IDEMPOTENCY_KEY_CHARS
                        && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
                })
                .map(|k| Self(Some(k.to_owned())))
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "Idempotency-Key must be 1-200 visible ASCII characters",
                    )
                }),
        }
    }
}

/// Path parameters of an API. Ones that do not parse are a problem with status `MALFORMED`:
/// 404 where the path names something to read (a malformed id is as unknown as any other),
/// 400 where it names something to create.
pub struct ApiPath<T, const MALFORMED: u16 = 404>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send, const MALFORMED: u16>
    FromRequestParts<S> for ApiPath<T, MALFORMED>
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| match MALFORMED {
                400 => ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "a path parameter is malformed",
                ),
                _ => ApiError::new(axum::http::StatusCode::NOT_FOUND, "not found"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_walk() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert("x-forwarded-for", v.parse().expect("header"));
            m
        };
        assert_eq!(
            client_ip(ip("1.1.1.1"), &h("9.9.9.9"), &trusted),
            ip("1.1.1.1"),
            "untrusted peer"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h("6.6.6.6, 9.9.9.9"), &trusted),
            ip("9.9.9.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h("9.9.9.9, 10.0.0.2"), &trusted),
            ip("9.9.9.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h("6.6.6.6, garbage"), &trusted),
            ip("10.0.0.1"),
            "garbage stops the walk"
        );
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h("9.9.9.9"), &trusted),
            ip("9.9.9.9"),
            "mapped IPv4 peer"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }
}
