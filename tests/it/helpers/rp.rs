//! A relying party built with the `openidconnect` crate, as a Kommune's portal would use it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use super::{TestApp, TestClient, location, query_param};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};

/// The HTTP client the RP library calls (reqwest 0.13 without TLS, loopback only).
pub async fn http_client(
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = req.into_parts();
    let resp = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let bytes = resp.bytes().await?;
    Ok(builder.body(bytes.to_vec()).expect("response"))
}

pub type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Discovers the provider and builds a client.
pub async fn discover(app: &TestApp, c: &TestClient) -> Rp {
    let meta = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.addr.clone()).expect("issuer"),
        &http_client,
    )
    .await
    .expect("discovery and JWKS succeed");
    CoreClient::from_provider_metadata(
        meta,
        ClientId::new(c.id.clone()),
        c.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).expect("redirect"))
}

/// One authorization in progress.
pub struct Flow {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// Builds an authorization URL with PKCE, state and nonce, plus `extra` parameters.
pub fn start(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> Flow {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in scopes {
        req = req.add_scope(Scope::new((*s).to_owned()));
    }
    for (k, v) in extra {
        req = req.add_extra_param(*k, *v);
    }
    let (url, state, nonce) = req.url();
    Flow {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// Follows our own redirects (login, consent pages are answered by `on_page`) until the
/// browser is sent to the portal's redirect URI; returns that URL.
pub async fn run_browser(app: &TestApp, start_url: &str, email: &str, password: &str) -> String {
    let mut url = start_url.to_owned();
    for _ in 0..10 {
        let r = app.get(&url).await;
        assert!(
            r.status().is_redirection() || r.status() == 200,
            "unexpected status {} at {url}",
            r.status()
        );
        if r.status() == 200 {
            panic!(
                "unexpected page at {url}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        let next = location(&r);
        let next_abs = if next.starts_with('/') {
            app.url(&next)
        } else {
            next.clone()
        };
        if next.starts_with("/login") {
            let req = query_param(&next, "req").expect("req");
            let r = app.login(&req, email, password).await;
            assert_eq!(r.status(), 303, "login succeeds");
            url = app.url(&location(&r));
        } else if next.starts_with("/consent") {
            let req = query_param(&next, "req").expect("req");
            let csrf = app.csrf_of(&next).await;
            let r = app
                .post_form(
                    "/consent",
                    &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
                )
                .await;
            assert_eq!(r.status(), 303, "consent accepted");
            return location(&r);
        } else if next_abs.starts_with(&app.addr) {
            url = next_abs;
        } else {
            return next;
        }
    }
    panic!("too many redirects");
}

/// Checks the authorization response (state, RFC 9207 iss) and exchanges the code.
pub async fn finish(app: &TestApp, rp: &Rp, flow: Flow, callback: &str) -> CoreTokenResponse {
    assert_eq!(
        query_param(callback, "state").as_deref(),
        Some(flow.state.secret().as_str()),
        "state is echoed"
    );
    assert_eq!(
        query_param(callback, "iss").as_deref(),
        Some(app.addr.as_str()),
        "RFC 9207 iss is present"
    );
    let code = query_param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    rp.exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(flow.verifier)
        .request_async(&http_client)
        .await
        .expect("token exchange succeeds")
}

pub async fn userinfo(rp: &Rp, token: &CoreTokenResponse) -> CoreUserInfoClaims {
    rp.user_info(
        AccessToken::new(token.access_token().secret().clone()),
        None,
    )
    .expect("userinfo endpoint known")
    .request_async(&http_client)
    .await
    .expect("userinfo succeeds")
}

/// The payload of a JWT, unverified (to read claims the RP library does not model, like `sid`).
pub fn jwt_payload(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn jwt_header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}
