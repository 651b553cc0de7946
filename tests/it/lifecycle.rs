//! The token lifecycle: refresh rotation and reuse detection, client_credentials,
//! introspection, revocation, private_key_jwt, back-channel logout.

use crate::helpers::portal::{assertion, es256_key, spawn_portal};
use crate::helpers::{
    AppOptions, TestApp, TestClient, basic, code_for, exchange, post_oauth, spawn_app,
    spawn_app_with, token, userinfo_status,
};
use buergerkonto::domain::client::SigningAlg;
use buergerkonto::keyring::Keyring;
use serde_json::{Value, json};

const PW: &str = "ein langes Passwort";

async fn refresh_client(app: &TestApp) -> TestClient {
    app.add_client(
        &app.tenant,
        &[
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ],
    )
    .await
}

async fn first_tokens(app: &TestApp, c: &TestClient, email: &str) -> Value {
    let code = code_for(app, c, email, PW, "openid email offline_access").await;
    let (s, body, _) = token(app, Some(basic(c)), &exchange(c, &code)).await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn refresh(app: &TestApp, c: &TestClient, rt: &str) -> (u16, Value) {
    let (s, b, _) = token(
        app,
        Some(basic(c)),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    (s, b)
}

async fn introspect(app: &TestApp, c: &TestClient, t: &str) -> Value {
    let (s, b, _) = post_oauth(app, "/introspect", Some(basic(c)), &[("token", t)]).await;
    assert_eq!(s, 200, "{b}");
    b
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_family() {
    let app = spawn_app().await;
    let c = refresh_client(&app).await;
    app.add_user("r@example.org", PW).await;
    let first = first_tokens(&app, &c, "r@example.org").await;
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("a refresh token with offline_access")
        .to_owned();
    assert!(
        first["scope"]
            .as_str()
            .expect("scope")
            .contains("offline_access")
    );

    let (s, second) = refresh(&app, &c, &rt1).await;
    assert_eq!(s, 200, "{second}");
    let rt2 = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(rt1, rt2);
    let id1 = crate::helpers::rp::jwt_payload(first["id_token"].as_str().expect("id"));
    let id2 = crate::helpers::rp::jwt_payload(second["id_token"].as_str().expect("id on refresh"));
    assert_eq!(
        (id1["sub"].clone(), id1["auth_time"].clone()),
        (id2["sub"].clone(), id2["auth_time"].clone())
    );
    assert!(id2.get("nonce").is_none());
    let at2 = second["access_token"].as_str().expect("at").to_owned();
    assert_eq!(userinfo_status(&app, &at2).await, 200);

    // Narrowing works, widening does not.
    let (s, narrowed, _) = token(
        &app,
        Some(basic(&c)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    let rt3 = narrowed["refresh_token"].as_str().expect("rt3").to_owned();
    let (s, b, _) = token(
        &app,
        Some(basic(&c)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("scope", "openid email profile"),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));

    // Another client cannot use it.
    let other = refresh_client(&app).await;
    let (s, b) = refresh(&app, &other, &rt3).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));

    // Reuse of rt1: invalid_grant, and the whole family (rt3 too) and its access tokens are dead.
    let (s, b) = refresh(&app, &c, &rt1).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _) = refresh(&app, &c, &rt3).await;
    assert_eq!(s, 400, "the family is revoked");
    assert_eq!(userinfo_status(&app, &at2).await, 401);
    assert_eq!(introspect(&app, &c, &at2).await, json!({"active": false}));
    assert_eq!(introspect(&app, &c, &rt3).await, json!({"active": false}));
}

#[tokio::test]
async fn refresh_tokens_need_the_grant_and_expire() {
    let clock = buergerkonto::clock::Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.refresh_token_idle_secs = 1,
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    app.add_user("e@example.org", PW).await;
    // A client without the refresh_token grant gets none, even when asking for offline_access.
    let plain = app.add_client(&app.tenant, &[]).await;
    let body = first_tokens(&app, &plain, "e@example.org").await;
    assert!(body.get("refresh_token").is_none());
    assert!(
        !body["scope"]
            .as_str()
            .expect("scope")
            .contains("offline_access")
    );
    let (s, b, _) = token(
        &app,
        Some(basic(&plain)),
        &[("grant_type", "refresh_token"), ("refresh_token", "x")],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")));
    // Idle expiry.
    let c = refresh_client(&app).await;
    let body = first_tokens(&app, &c, "e@example.org").await;
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    clock.advance(std::time::Duration::from_millis(2100));
    let (s, b) = refresh(&app, &c, &rt).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "expired after the idle time"
    );
}

#[tokio::test]
async fn client_credentials_is_limited_to_registered_scopes() {
    let app = spawn_app().await;
    let (ok, m2m, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Fachverfahren",
            "--scope",
            "api.read",
            "--scope",
            "api.write",
        ],
        None,
    );
    assert!(ok, "{err}");
    let m2m = TestClient {
        id: m2m["client_id"].as_str().expect("id").into(),
        secret: m2m["client_secret"].as_str().map(Into::into),
        redirect_uri: String::new(),
    };
    let (s, b, _) = token(
        &app,
        Some(basic(&m2m)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["scope"], "api.read api.write");
    assert!(b.get("id_token").is_none() && b.get("refresh_token").is_none());
    let (s, b, _) = token(
        &app,
        Some(basic(&m2m)),
        &[("grant_type", "client_credentials"), ("scope", "api.read")],
    )
    .await;
    assert_eq!((s, b["scope"].as_str()), (200, Some("api.read")));
    let at = b["access_token"].as_str().expect("at").to_owned();
    let info = introspect(&app, &m2m, &at).await;
    assert_eq!(
        (
            info["active"].clone(),
            info["sub"].clone(),
            info["scope"].clone()
        ),
        (json!(true), json!(m2m.id), json!("api.read"))
    );
    let (s, b, _) = token(
        &app,
        Some(basic(&m2m)),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "api.read api.admin"),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
    // A portal registered for the code flow may not use it.
    let portal = app.add_client(&app.tenant, &[]).await;
    let (s, b, _) = token(
        &app,
        Some(basic(&portal)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")));
}

#[tokio::test]
async fn introspection_and_revocation() {
    let app = spawn_app().await;
    let c = refresh_client(&app).await;
    let other = refresh_client(&app).await;
    app.add_user("i@example.org", PW).await;
    let body = first_tokens(&app, &c, "i@example.org").await;
    let at = body["access_token"].as_str().expect("at").to_owned();
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();

    // Introspection needs client authentication.
    let (s, _, _) = post_oauth(&app, "/introspect", None, &[("token", &at)]).await;
    assert_eq!(s, 401);
    let info = introspect(&app, &c, &at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], c.id.as_str());
    assert!(info["exp"].is_i64() && info["scope"].as_str().is_some_and(|s| s.contains("openid")));
    let info = introspect(&app, &c, &rt).await;
    assert_eq!(
        (info["active"].clone(), info["token_type"].clone()),
        (json!(true), json!("refresh_token"))
    );
    assert_eq!(
        introspect(&app, &other, &rt).await,
        json!({"active": false}),
        "refresh tokens only to their client"
    );
    for junk in ["nonsense", &"x".repeat(5000)] {
        assert_eq!(introspect(&app, &c, junk).await, json!({"active": false}));
    }
    // Another Kommune's system learns nothing about this tenant's tokens.
    app.add_tenant("gemeinde-z", "Gemeinde Z").await;
    let foreign = app.add_client("gemeinde-z", &[]).await;
    assert_eq!(
        introspect(&app, &foreign, &at).await,
        json!({"active": false})
    );
    // An expired access token, signed with the server's own key.
    let ring = Keyring::load_or_init(&app.config.keys_dir).expect("keys");
    let now = chrono::Utc::now().timestamp();
    let expired = ring
        .sign(SigningAlg::ES256, "at+jwt", &json!({"iss": app.addr, "aud": app.addr, "sub": "x", "client_id": c.id, "scope": "openid", "jti": "j", "iat": now - 600, "exp": now - 300}))
        .expect("sign");
    assert_eq!(
        introspect(&app, &c, &expired).await,
        json!({"active": false})
    );
    assert_eq!(userinfo_status(&app, &expired).await, 401);

    // Revocation: another client's token is refused; unknown tokens are fine.
    let (s, b, _) = post_oauth(&app, "/revoke", Some(basic(&other)), &[("token", &at)]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = post_oauth(&app, "/revoke", Some(basic(&c)), &[("token", "unknown")]).await;
    assert_eq!(s, 200);
    let (s, b, _) = post_oauth(&app, "/revoke", Some(basic(&c)), &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")));
    // Revoking the access token.
    let (s, _, _) = post_oauth(
        &app,
        "/revoke",
        Some(basic(&c)),
        &[("token", &at), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(userinfo_status(&app, &at).await, 401);
    assert_eq!(introspect(&app, &c, &at).await, json!({"active": false}));
    // Revoking the refresh token ends the family: no refresh, and its new access tokens die too.
    let (s, b) = refresh(&app, &c, &rt).await;
    assert_eq!(s, 200);
    let rt2 = b["refresh_token"].as_str().expect("rt2").to_owned();
    let at2 = b["access_token"].as_str().expect("at2").to_owned();
    let (s, _, _) = post_oauth(
        &app,
        "/revoke",
        Some(basic(&c)),
        &[("token", &rt2), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(refresh(&app, &c, &rt2).await.0, 400);
    assert_eq!(userinfo_status(&app, &at2).await, 401);
}

#[tokio::test]
async fn a_replayed_code_revokes_the_tokens_it_produced() {
    let app = spawn_app().await;
    let c = refresh_client(&app).await;
    app.add_user("k@example.org", PW).await;
    let code = code_for(&app, &c, "k@example.org", PW, "openid offline_access").await;
    let (s, body, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    assert_eq!(s, 200);
    let at = body["access_token"].as_str().expect("at");
    assert_eq!(userinfo_status(&app, at).await, 200);
    let (s, b, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        userinfo_status(&app, at).await,
        401,
        "access token of the replayed code revoked"
    );
    assert_eq!(
        refresh(&app, &c, body["refresh_token"].as_str().expect("rt"))
            .await
            .0,
        400,
        "and its refresh token"
    );
}

#[tokio::test]
async fn private_key_jwt_with_inline_jwks_and_jwks_uri() {
    let app = spawn_app().await;
    let (der, jwk) = es256_key("k1");
    let jwks = json!({"keys": [jwk]}).to_string();
    let (ok, out, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Fachverfahren JWT",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks,
            "--scope",
            "api.read",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out["client_secret"].is_null(),
        "no secret for private_key_jwt"
    );
    let id = out["client_id"].as_str().expect("id").to_owned();
    let now = chrono::Utc::now().timestamp();
    let token_url = app.url("/token");
    let claims = |jti: &str, aud: &str, exp: i64| json!({"iss": id, "sub": id, "aud": aud, "jti": jti, "iat": now, "exp": exp});
    let form = |a: String| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), a),
        ]
    };
    let app_ref = &app;
    let send = |f: Vec<(String, String)>| async move {
        app_ref
            .http
            .post(app_ref.url("/token"))
            .form(&f)
            .send()
            .await
            .expect("post")
    };

    let issuer = app.addr.clone();
    let good = assertion(&der, "k1", &claims("jti-1", &issuer, now + 60));
    let r = send(form(good.clone())).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // The same jti again: replay.
    let r = send(form(good)).await;
    assert_eq!(r.status(), 401);
    // The audience is the issuer as one string: not the token endpoint, not a list with it.
    assert_eq!(
        send(form(assertion(
            &der,
            "k1",
            &claims("jti-2", &token_url, now + 60)
        )))
        .await
        .status(),
        401
    );
    let mut listed = claims("jti-2b", &issuer, now + 60);
    listed["aud"] = json!([issuer, "https://elsewhere.example"]);
    assert_eq!(
        send(form(assertion(&der, "k1", &listed))).await.status(),
        401
    );
    // Wrong audience, expired, too long-lived, signed by another key, wrong iss.
    assert_eq!(
        send(form(assertion(
            &der,
            "k1",
            &claims("jti-3", "https://elsewhere.example/token", now + 60)
        )))
        .await
        .status(),
        401
    );
    assert_eq!(
        send(form(assertion(
            &der,
            "k1",
            &claims("jti-4", &issuer, now - 120)
        )))
        .await
        .status(),
        401
    );
    assert_eq!(
        send(form(assertion(
            &der,
            "k1",
            &claims("jti-5", &issuer, now + 86_400)
        )))
        .await
        .status(),
        401
    );
    let (other_der, _) = es256_key("k1");
    assert_eq!(
        send(form(assertion(
            &other_der,
            "k1",
            &claims("jti-6", &issuer, now + 60)
        )))
        .await
        .status(),
        401
    );
    let mut wrong_iss = claims("jti-7", &issuer, now + 60);
    wrong_iss["iss"] = json!("someone-else");
    let mut f = form(assertion(&der, "k1", &wrong_iss));
    f.push(("client_id".into(), id.clone()));
    assert_eq!(send(f).await.status(), 401);
    // A secret is not accepted for a private_key_jwt client.
    let (s, _, _) = token(
        &app,
        Some(basic(&TestClient {
            id: id.clone(),
            secret: Some("guess".into()),
            redirect_uri: String::new(),
        })),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(s, 401);

    // jwks_uri: the keys come from the client's own server.
    let portal = spawn_portal().await;
    let (der2, jwk2) = es256_key("k2");
    *portal.jwks.lock().expect("lock") = json!({"keys": [jwk2]});
    let (ok, out, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Fachverfahren URI",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            &format!("{}/jwks", portal.base),
        ],
        None,
    );
    assert!(ok, "{err}");
    let id2 = out["client_id"].as_str().expect("id").to_owned();
    let c2 = json!({"iss": id2, "sub": id2, "aud": issuer, "jti": "u1", "exp": now + 60});
    assert_eq!(send(form(assertion(&der2, "k2", &c2))).await.status(), 200);
}

/// Registers a private_key_jwt client with `jwks` (inline) or `jwks_uri`; its id.
fn jwt_client(app: &TestApp, keys: (&str, &str)) -> String {
    let (ok, out, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Fachverfahren JWT",
            "--auth-method",
            "private_key_jwt",
            keys.0,
            keys.1,
        ],
        None,
    );
    assert!(ok, "{err}");
    out["client_id"].as_str().expect("id").to_owned()
}

async fn assertion_status(app: &TestApp, assertion: String) -> u16 {
    let (s, _, _) = token(
        app,
        None,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    s
}

#[tokio::test]
async fn client_assertions_need_a_signing_key_of_the_registered_algorithm() {
    let app = spawn_app().await;
    let now = chrono::Utc::now().timestamp();
    let (der, mut jwk) = es256_key("k1");
    // A key marked for encryption is no signing key.
    jwk["use"] = json!("enc");
    let id = jwt_client(&app, ("--jwks", &json!({"keys": [jwk]}).to_string()));
    let claims = json!({"iss": id, "sub": id, "aud": app.addr, "jti": "e1", "exp": now + 60});
    assert_eq!(
        assertion_status(&app, assertion(&der, "k1", &claims)).await,
        401
    );
    // A key registered for another algorithm is not used with this one.
    let (der, mut jwk) = es256_key("k2");
    jwk["alg"] = json!("ES384");
    let id = jwt_client(&app, ("--jwks", &json!({"keys": [jwk]}).to_string()));
    let claims = json!({"iss": id, "sub": id, "aud": app.addr, "jti": "e2", "exp": now + 60});
    assert_eq!(
        assertion_status(&app, assertion(&der, "k2", &claims)).await,
        401
    );
    // Without `use` and `alg` the key is fine.
    let (der, mut jwk) = es256_key("k3");
    jwk.as_object_mut().expect("object").remove("use");
    jwk.as_object_mut().expect("object").remove("alg");
    let id = jwt_client(&app, ("--jwks", &json!({"keys": [jwk]}).to_string()));
    let claims = json!({"iss": id, "sub": id, "aud": app.addr, "jti": "e3", "exp": now + 60});
    assert_eq!(
        assertion_status(&app, assertion(&der, "k3", &claims)).await,
        200
    );
}

#[tokio::test]
async fn a_failing_or_endless_jwks_uri_is_asked_rarely_and_read_only_so_far() {
    let app = spawn_app().await;
    let portal = spawn_portal().await;
    let now = chrono::Utc::now().timestamp();
    let (der, _) = es256_key("k1");
    for path in ["/jwks-broken", "/jwks-endless"] {
        let id = jwt_client(&app, ("--jwks-uri", &format!("{}{path}", portal.base)));
        let before = portal
            .bad_jwks_fetches
            .load(std::sync::atomic::Ordering::SeqCst);
        for i in 0..5 {
            let claims = json!({"iss": id, "sub": id, "aud": app.addr, "jti": format!("f{i}"), "exp": now + 60});
            assert_eq!(
                assertion_status(&app, assertion(&der, "k1", &claims)).await,
                401,
                "{path}"
            );
        }
        assert_eq!(
            portal
                .bad_jwks_fetches
                .load(std::sync::atomic::Ordering::SeqCst)
                - before,
            1,
            "{path}: one fetch for ten attempts; the failure is remembered"
        );
    }
}

#[tokio::test]
async fn backchannel_logout_reaches_portals_and_a_broken_one_does_not_block() {
    let app = spawn_app().await;
    let portal = spawn_portal().await;
    let good = app
        .add_client(
            &app.tenant,
            &["--backchannel-logout-uri", &format!("{}/bcl", portal.base)],
        )
        .await;
    let broken = app
        .add_client(
            &app.tenant,
            &[
                "--backchannel-logout-uri",
                &format!("{}/broken", portal.base),
            ],
        )
        .await;
    let unreachable = app
        .add_client(
            &app.tenant,
            &[
                "--backchannel-logout-uri",
                "http://127.0.0.1:9/nothing-listens",
            ],
        )
        .await;
    app.add_user("b@example.org", PW).await;
    let mut id_token = String::new();
    for c in [&broken, &unreachable, &good] {
        let code = code_for(&app, c, "b@example.org", PW, "openid").await;
        let (s, body, _) = token(&app, Some(basic(c)), &exchange(c, &code)).await;
        assert_eq!(s, 200);
        id_token = body["id_token"].as_str().expect("id").to_owned();
    }
    let disc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("disc")
        .json()
        .await
        .expect("json");
    assert_eq!(disc["backchannel_logout_supported"], true);
    assert_eq!(disc["backchannel_logout_session_supported"], true);

    let started = std::time::Instant::now();
    let r = app.get(&format!("/logout?id_token_hint={id_token}")).await;
    assert_eq!(r.status(), 200, "logged out at once");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "failing portals do not hold up the logout"
    );

    let tokens = portal.wait_for_logouts(1).await;
    assert_eq!(tokens.len(), 1, "the working portal got its logout token");
    let lt = &tokens[0];
    let header = crate::helpers::rp::jwt_header(lt);
    assert_eq!(header["typ"], "logout+jwt");
    // Verify with the published JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = jwks
        .find(header["kid"].as_str().expect("kid"))
        .expect("key published");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[&good.id]);
    v.set_issuer(&[&app.addr]);
    let claims: Value = jsonwebtoken::decode(
        lt,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("logout token verifies")
    .claims;
    let id = crate::helpers::rp::jwt_payload(&id_token);
    assert_eq!(claims["sid"], id["sid"], "same session id as the ID token");
    assert!(claims["sub"].is_string() && claims["jti"].is_string() && claims["iat"].is_i64());
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(
        claims.get("nonce").is_none(),
        "a logout token never carries a nonce"
    );
}

#[tokio::test]
async fn a_refresh_that_fails_validation_leaves_the_token_valid() {
    let app = spawn_app().await;
    let c = refresh_client(&app).await;
    app.add_user("v@example.org", PW).await;
    let first = first_tokens(&app, &c, "v@example.org").await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let at = first["access_token"].as_str().expect("at").to_owned();
    for bad in ["openid email profile", "openid \u{7f}"] {
        let (s, b, _) = token(
            &app,
            Some(basic(&c)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("scope", bad),
            ],
        )
        .await;
        assert_eq!(s, 400, "{b}");
    }
    // The client's plain retry is not "reuse": it rotates, and nothing was revoked.
    let (s, b) = refresh(&app, &c, &rt).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(userinfo_status(&app, &at).await, 200);
    let next = b["refresh_token"].as_str().expect("rotated");
    assert_eq!(refresh(&app, &c, next).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_with_one_token_revoke_the_whole_family_for_good() {
    // SQLite and the in-process store, so that a second instance on the same database knows
    // nothing of the first one's short-lived revocation flags: only the database decides.
    let app = spawn_app_with(AppOptions {
        backend: crate::helpers::Backend::Embedded,
        ..AppOptions::default()
    })
    .await;
    let c = refresh_client(&app).await;
    app.add_user("race@example.org", PW).await;
    let peer = crate::helpers::spawn_peer(&app).await;
    for trial in 0..15 {
        let first = first_tokens(&app, &c, "race@example.org").await;
        let rt = first["refresh_token"].as_str().expect("rt").to_owned();
        let (a, b) = tokio::join!(refresh(&app, &c, &rt), refresh(&app, &c, &rt));
        let statuses = [a.0, b.0];
        assert!(
            statuses.contains(&400),
            "trial {trial}: one of two uses of one token is reuse: {statuses:?}"
        );
        // Whatever the winner got is dead, here and on the other instance, whose
        // short-lived store never heard of the revocation.
        for (s, body) in [a, b] {
            if s == 200 {
                let next = body["refresh_token"].as_str().expect("rt");
                assert_eq!(
                    refresh(&peer, &c, next).await.0,
                    400,
                    "trial {trial}: the winner's successor is revoked in the database"
                );
                assert_eq!(refresh(&app, &c, next).await.0, 400, "trial {trial}");
            }
        }
        assert_eq!(refresh(&peer, &c, &rt).await.0, 400, "trial {trial}");
    }
}

#[tokio::test]
async fn a_refresh_during_a_redis_outage_never_burns_the_token() {
    let Some(mut redis) = crate::helpers::PrivateRedis::start() else {
        return;
    };
    let url = redis.url();
    let app = crate::helpers::spawn_app_configured(crate::helpers::Backend::Default, |raw| {
        raw.redis_url = Some(url);
        raw.redis_prefix = "outage:".into();
    })
    .await;
    let c = refresh_client(&app).await;
    app.add_user("ausfall@example.org", PW).await;
    let first = first_tokens(&app, &c, "ausfall@example.org").await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();

    redis.stop();
    let (s, during) = refresh(&app, &c, &rt).await;
    assert!(
        s == 200 || s == 503,
        "an outage answers with tokens or 'try again', never another error: {s} {during}"
    );
    redis.resume();
    // Whichever it was, the client can go on: with the new token after a success, with the
    // same one after a 503. The grant is intact.
    let usable = if s == 200 {
        during["refresh_token"].as_str().expect("rt").to_owned()
    } else {
        rt.clone()
    };
    let mut last = (0, Value::Null);
    for _ in 0..40 {
        last = refresh(&app, &c, &usable).await;
        if last.0 != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last.0, 200, "the grant survived the outage: {}", last.1);
}
