//! Token and userinfo endpoints: RFC 6749 §5.2 errors, single-use codes, client authentication.

use crate::helpers::{TestApp, TestClient, basic, exchange, spawn_app, token};
use serde_json::Value;

const PW: &str = "ein langes Passwort";

async fn code_for(app: &TestApp, c: &TestClient, email: &str) -> String {
    crate::helpers::code_for(app, c, email, PW, "openid email").await
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_client_redirect_uri_and_verifier() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let other = app.add_client(&app.tenant, &[]).await;
    app.add_user("t@example.org", PW).await;

    let code = code_for(&app, &c, "t@example.org").await;
    let (s, body, headers) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["id_token"].is_string() && body["access_token"].is_string());
    assert_eq!(headers["cache-control"], "no-store");
    // Replay.
    let (s, body, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));

    // Another client cannot redeem it, and the attempt burns the code.
    let code = code_for(&app, &c, "t@example.org").await;
    let mut form = exchange(&c, &code);
    form[2] = ("redirect_uri", &other.redirect_uri);
    let (s, body, _) = token(&app, Some(basic(&other)), &form).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    assert_eq!(
        s, 400,
        "a code is taken by the first attempt, right or wrong"
    );

    // Wrong redirect URI, wrong or missing verifier.
    let wrong_uri = format!("{}x", c.redirect_uri);
    for (k, v) in [
        ("redirect_uri", wrong_uri.as_str()),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
        ),
        ("code_verifier", ""),
    ] {
        let code = code_for(&app, &c, "t@example.org").await;
        let form: Vec<(&str, &str)> = exchange(&c, &code)
            .into_iter()
            .map(|(a, b)| if a == k { (a, v) } else { (a, b) })
            .collect();
        let (s, body, _) = token(&app, Some(basic(&c)), &form).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{k}={v}"
        );
    }

    // client_secret_post works too.
    let code = code_for(&app, &c, "t@example.org").await;
    let mut form = exchange(&c, &code);
    let secret = c.secret.clone().expect("secret");
    form.push(("client_id", &c.id));
    form.push(("client_secret", &secret));
    let (s, body, _) = token(&app, None, &form).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let wrong = TestClient {
        secret: Some("wrong".into()),
        ..c.clone()
    };
    let unknown = TestClient {
        id: "unknown".into(),
        ..c.clone()
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("redirect_uri", c.redirect_uri.as_str()),
    ];
    for auth in [
        Some(basic(&wrong)),
        Some(basic(&unknown)),
        Some("Basic !!!".into()),
        None,
    ] {
        let (s, body, headers) = token(&app, auth.clone(), &form).await;
        assert_eq!(
            (s, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{auth:?}"
        );
        assert!(headers.get("www-authenticate").is_some());
    }
    // A confidential client without its secret.
    let (s, _, _) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", &c.id),
        ],
    )
    .await;
    assert_eq!(s, 401);
    // Two methods at once.
    let secret = c.secret.clone().expect("secret");
    let (s, body, _) = token(
        &app,
        Some(basic(&c)),
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn malformed_token_requests_are_invalid_request_or_unsupported_grant_type() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let (s, body, _) = token(
        &app,
        Some(basic(&c)),
        &[("grant_type", "password"), ("username", "x")],
    )
    .await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (s, body, _) = token(&app, Some(basic(&c)), &[("code", "x")]).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    let (s, body, _) = token(
        &app,
        Some(basic(&c)),
        &[("grant_type", "authorization_code")],
    )
    .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_request")));
    // Repeated parameter, wrong content type, non-UTF-8, oversized body.
    let raw = |body: Vec<u8>, ct: &str| {
        app.http
            .post(app.url("/token"))
            .header("authorization", basic(&c))
            .header("content-type", ct.to_owned())
            .body(body)
            .send()
    };
    for (body, ct) in [
        (
            b"grant_type=authorization_code&grant_type=authorization_code&code=x".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (
            b"{\"grant_type\":\"authorization_code\"}".to_vec(),
            "application/json",
        ),
        (
            b"grant_type=authorization_code&code=%FF".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (vec![b'a'; 100_000], "application/x-www-form-urlencoded"),
    ] {
        let r = raw(body, ct).await.expect("send");
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.expect("JSON error body");
        assert_eq!(v["error"], "invalid_request");
    }
    let r = app.http.get(app.url("/token")).send().await.expect("get");
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn userinfo_needs_a_valid_bearer_token() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    app.add_user("u@example.org", PW).await;
    let r = app
        .http
        .get(app.url("/userinfo"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    for t in [
        "garbage",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        &"a".repeat(5000),
    ] {
        let r = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(t)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .contains("invalid_token")
        );
    }
    // An ID token is not an access token.
    let code = code_for(&app, &c, "u@example.org").await;
    let (_, body, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(body["id_token"].as_str().expect("id"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    // The access token works with GET and POST.
    let at = body["access_token"].as_str().expect("at");
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["email"], "u@example.org");
    // A tampered token fails.
    let mut tampered = at.to_owned();
    tampered.pop();
    tampered.push(if at.ends_with('A') { 'B' } else { 'A' });
    let r = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&tampered)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
}
