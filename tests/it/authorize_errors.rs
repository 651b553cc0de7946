//! Authorization endpoint errors: never an open redirect, never a 5xx.

use crate::helpers::{TestApp, TestClient, location, query_param, spawn_app};
use crate::oidc_flow::urlencode;

use crate::helpers::CHALLENGE;

fn auth_url(c: &TestClient, extra: &str) -> String {
    format!(
        "/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        c.id,
        urlencode(&c.redirect_uri)
    )
}

async fn assert_error_page(app: &TestApp, url: &str) {
    let r = app.get(url).await;
    assert_eq!(r.status(), 400, "{url}");
    assert!(
        r.headers().get("location").is_none(),
        "no redirect for {url}"
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let body = r.text().await.expect("body");
    assert!(body.contains("<html lang=\"de\""), "German page by default");
}

async fn assert_redirect_error(app: &TestApp, c: &TestClient, url: &str, error: &str) {
    let r = app.get(url).await;
    assert_eq!(r.status(), 303, "{url}");
    let cb = location(&r);
    assert!(
        cb.starts_with(&format!("{}?", c.redirect_uri)),
        "only to the registered URI: {cb}"
    );
    assert_eq!(query_param(&cb, "error").as_deref(), Some(error), "{url}");
    assert_eq!(query_param(&cb, "state").as_deref(), Some("s1"));
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(app.addr.as_str()));
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_not_a_redirect() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let evil = "https://evil.example/cb";
    assert_error_page(
        &app,
        &format!(
            "/authorize?client_id=nope&redirect_uri={}&response_type=code&scope=openid",
            urlencode(evil)
        ),
    )
    .await;
    assert_error_page(&app, "/authorize?response_type=code&scope=openid").await;
    assert_error_page(
        &app,
        &format!(
            "/authorize?client_id={}&response_type=code&scope=openid",
            c.id
        ),
    )
    .await;
    for bad in [
        evil.to_owned(),
        format!("{}/", c.redirect_uri),
        format!("{}x", c.redirect_uri),
        c.redirect_uri.to_uppercase(),
        format!("{}?a=b", c.redirect_uri),
    ] {
        assert_error_page(
            &app,
            &format!(
                "/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid",
                c.id,
                urlencode(&bad)
            ),
        )
        .await;
    }
    // Even a malformed request with a valid redirect URI must not redirect when a parameter repeats.
    assert_error_page(&app, &format!("{}&state=again", auth_url(&c, ""))).await;
    assert_error_page(&app, &format!("{}&client_id=x", auth_url(&c, ""))).await;
    // Non-UTF-8 percent encoding.
    assert_error_page(&app, &auth_url(&c, "&nonce=%FF%FE")).await;
}

#[tokio::test]
async fn errors_after_the_redirect_uri_is_trusted_are_redirected_with_state_and_iss() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let base = |extra: &str| auth_url(&c, extra);
    assert_redirect_error(
        &app,
        &c,
        &base("").replace("response_type=code&", ""),
        "invalid_request",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("").replace("response_type=code", "response_type=token"),
        "unsupported_response_type",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("").replace("scope=openid", "scope=profile"),
        "invalid_scope",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("").replace("scope=openid", "scope=openid%20admin"),
        "invalid_scope",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("").replace("S256", "plain"),
        "invalid_request",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("").replace(CHALLENGE, "short"),
        "invalid_request",
    )
    .await;
    assert_redirect_error(&app, &c, &base("&prompt=none%20login"), "invalid_request").await;
    assert_redirect_error(&app, &c, &base("&prompt=bogus"), "invalid_request").await;
    assert_redirect_error(&app, &c, &base("&max_age=-1"), "invalid_request").await;
    assert_redirect_error(
        &app,
        &c,
        &base("&response_mode=fragment"),
        "invalid_request",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("&request=eyJhbGciOiJub25lIn0.e30."),
        "request_not_supported",
    )
    .await;
    assert_redirect_error(
        &app,
        &c,
        &base("&request_uri=https%3A%2F%2Fx"),
        "request_uri_not_supported",
    )
    .await;
    assert_redirect_error(&app, &c, &base("&claims=%7Bnot%20json"), "invalid_request").await;
    assert_redirect_error(&app, &c, &base("&process=bauantrag"), "invalid_request").await;
    assert_redirect_error(
        &app,
        &c,
        &base(&format!("&nonce={}", "n".repeat(600))),
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn public_clients_must_use_pkce() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &["--public"]).await;
    let url = auth_url(&c, "").replace(
        &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
        "",
    );
    assert_redirect_error(&app, &c, &url, "invalid_request").await;
}

#[tokio::test]
async fn oversized_and_odd_requests_are_4xx() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let r = app
        .get(&auth_url(&c, &format!("&x={}", "a".repeat(10_000))))
        .await;
    assert_eq!(r.status(), 414);
    // POST to /authorize works like GET; a wrong content type is a 400 page.
    let body = auth_url(&c, "")
        .trim_start_matches("/authorize?")
        .to_owned();
    let r = app
        .browser
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with("/login?req="));
    let r = app
        .browser
        .post(app.url("/authorize"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let r = app
        .browser
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200_000])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    // Unknown or expired pending requests.
    for p in [
        "/authorize/resume?req=nope",
        "/consent?req=nope",
        "/authorize/resume",
        &format!("/authorize/resume?req={}", "x".repeat(100)),
    ] {
        let r = app.get(p).await;
        assert_eq!(r.status(), 400, "{p}");
    }
    let r = app.get("/does-not-exist").await;
    assert_eq!(r.status(), 404);
}
