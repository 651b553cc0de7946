//! The authorization code flow end to end, driven by the `openidconnect` crate.

use crate::helpers::rp::{discover, finish, jwt_header, jwt_payload, run_browser, start, userinfo};
use crate::helpers::{AppOptions, Backend, location, query_param, spawn_app, spawn_app_with};
use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{OAuth2TokenResponse, TokenResponse};

const PW: &str = "ein langes Passwort";

#[tokio::test]
async fn register_verify_login_consent_tokens_userinfo_sso_and_logout() {
    let app = spawn_app().await;
    full_flow(&app).await;
}

/// The same flow on the embedded backends, also when CI points the default at PostgreSQL.
#[tokio::test]
async fn full_flow_on_sqlite_and_memory() {
    let app = spawn_app_with(AppOptions {
        backend: Backend::Embedded,
        ..AppOptions::default()
    })
    .await;
    full_flow(&app).await;
}

async fn full_flow(app: &crate::helpers::TestApp) {
    let client = app.add_client(&app.tenant, &[]).await;
    app.register_and_verify("anna@example.org", PW).await;
    let rp = discover(app, &client).await;

    // First login: password, then consent.
    let flow = start(&rp, &["email"], &[]);
    let cb = run_browser(app, &flow.url, "anna@example.org", PW).await;
    let nonce = flow.nonce.clone();
    let tokens = finish(app, &rp, flow, &cb).await;
    let id_token = tokens.id_token().expect("an id_token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("ID token verifies (signature, iss, aud, exp, nonce)");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("http://eidas.europa.eu/LoA/low")
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    assert_eq!(amr, vec!["pwd".to_owned()]);
    assert!(claims.auth_time().is_some());
    let raw_id = id_token.to_string();
    let payload = jwt_payload(&raw_id);
    assert!(
        payload["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "sid claim present"
    );
    assert_eq!(jwt_header(&raw_id)["alg"], "RS256", "RS256 is the default");
    let access = jwt_payload(tokens.access_token().secret());
    assert_eq!(access["client_id"], client.id.as_str());
    assert_eq!(jwt_header(tokens.access_token().secret())["typ"], "at+jwt");

    let info = userinfo(&rp, &tokens).await;
    assert_eq!(
        info.subject(),
        claims.subject(),
        "userinfo sub equals ID token sub"
    );
    assert_eq!(info.email().map(|e| e.as_str()), Some("anna@example.org"));
    assert_eq!(info.email_verified(), Some(true));

    // SSO: a second authorization needs neither password nor consent.
    let flow2 = start(&rp, &["email"], &[]);
    let r = app.get(&flow2.url).await;
    assert_eq!(r.status(), 303);
    let cb2 = location(&r);
    assert!(
        cb2.starts_with(&client.redirect_uri),
        "straight back to the portal: {cb2}"
    );
    let nonce2 = flow2.nonce.clone();
    let tokens2 = finish(app, &rp, flow2, &cb2).await;
    let claims2 = tokens2
        .id_token()
        .expect("id_token")
        .claims(&rp.id_token_verifier(), &nonce2)
        .expect("verifies");
    assert_eq!(claims2.subject(), claims.subject());
    assert_eq!(
        claims2.auth_time(),
        claims.auth_time(),
        "no new authentication happened"
    );

    // Logout with id_token_hint and a registered post-logout redirect URI.
    let logout = format!(
        "/logout?id_token_hint={raw_id}&post_logout_redirect_uri={}&state=bye",
        urlencode("http://127.0.0.1:9/logged-out")
    );
    let r = app.get(&logout).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:9/logged-out?state=bye");

    // The session is gone: prompt=none now answers login_required.
    let flow3 = start(&rp, &["email"], &[("prompt", "none")]);
    let r = app.get(&flow3.url).await;
    assert_eq!(r.status(), 303);
    let cb3 = location(&r);
    assert_eq!(
        query_param(&cb3, "error").as_deref(),
        Some("login_required")
    );
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required_and_ignores_login_hint() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("bernd@example.org", PW).await;
    let rp = discover(&app, &client).await;
    let flow = start(
        &rp,
        &[],
        &[("prompt", "none"), ("login_hint", "bernd@example.org")],
    );
    let r = app.get(&flow.url).await;
    assert_eq!(r.status(), 303);
    let cb = location(&r);
    assert!(cb.starts_with(&client.redirect_uri));
    assert_eq!(query_param(&cb, "error").as_deref(), Some("login_required"));
    assert_eq!(
        query_param(&cb, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
    assert_eq!(query_param(&cb, "iss").as_deref(), Some(app.addr.as_str()));
    assert!(query_param(&cb, "code").is_none());
}

#[tokio::test]
async fn prompt_none_with_session_but_without_consent_is_consent_required() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("c@example.org", PW).await;
    assert_eq!(app.login("", "c@example.org", PW).await.status(), 303);
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[("prompt", "none")]);
    let cb = location(&app.get(&flow.url).await);
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("consent_required")
    );
}

#[tokio::test]
async fn consent_is_remembered_per_client_and_denial_is_access_denied() {
    let app = spawn_app().await;
    let a = app.add_client(&app.tenant, &[]).await;
    let b = app.add_client(&app.tenant, &[]).await;
    app.add_user("d@example.org", PW).await;
    let rp_a = discover(&app, &a).await;
    let flow = start(&rp_a, &["email"], &[]);
    let cb = run_browser(&app, &flow.url, "d@example.org", PW).await;
    assert!(query_param(&cb, "code").is_some());
    // Remembered for a: no consent page.
    let flow = start(&rp_a, &["email"], &[]);
    let cb = location(&app.get(&flow.url).await);
    assert!(
        query_param(&cb, "code").is_some(),
        "consent remembered: {cb}"
    );
    // Not for b: the consent page comes, and denying it answers access_denied.
    let rp_b = discover(&app, &b).await;
    let flow = start(&rp_b, &["email"], &[]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/consent?req="), "{next}");
    let req = query_param(&next, "req").expect("req");
    let page = app.get(&next).await.text().await.expect("page");
    assert!(
        page.contains("Bürgerportal Test"),
        "consent page names the portal"
    );
    assert!(
        page.contains("E-Mail-Adresse"),
        "consent page lists the data"
    );
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "deny")],
        )
        .await;
    let cb = location(&r);
    assert!(cb.starts_with(&b.redirect_uri));
    assert_eq!(query_param(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query_param(&cb, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
    // prompt=consent asks again even though a consented.
    let flow = start(&rp_a, &["email"], &[("prompt", "consent")]);
    assert!(location(&app.get(&flow.url).await).starts_with("/consent?req="));
}

#[tokio::test]
async fn prompt_login_and_max_age_zero_force_a_new_login() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("e@example.org", PW).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[]);
    let cb = run_browser(&app, &flow.url, "e@example.org", PW).await;
    assert!(query_param(&cb, "code").is_some());
    for extra in [("prompt", "login"), ("max_age", "0")] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let flow = start(&rp, &[], &[extra]);
        let next = location(&app.get(&flow.url).await);
        assert!(
            next.starts_with("/login?req="),
            "{extra:?} asks for the password again: {next}"
        );
        let cb = run_browser(&app, &flow.url, "e@example.org", PW).await;
        let nonce = flow.nonce.clone();
        let tokens = finish(&app, &rp, flow, &cb).await;
        let claims = tokens
            .id_token()
            .expect("id")
            .claims(&rp.id_token_verifier(), &nonce)
            .expect("verifies");
        let auth_time = claims.auth_time().expect("auth_time").timestamp();
        assert!(
            chrono::Utc::now().timestamp() - auth_time <= 2,
            "auth_time reflects the new login"
        );
    }
}

#[tokio::test]
async fn max_age_zero_does_not_loop_when_consent_takes_a_while() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("m@example.org", PW).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &["email"], &[("max_age", "0")]);
    let next = location(&app.get(&flow.url).await);
    let req = query_param(&next, "req").expect("req");
    assert_eq!(app.login(&req, "m@example.org", PW).await.status(), 303);
    let consent = location(&app.get(&format!("/authorize/resume?req={req}")).await);
    assert!(consent.starts_with("/consent?req="), "{consent}");
    let csrf = app.csrf_of(&consent).await;
    // The citizen reads the consent page for a while.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app
        .post_form(
            "/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    let cb = location(&r);
    assert!(
        query_param(&cb, "code").is_some(),
        "a code, not another login: {cb}"
    );
}

#[tokio::test]
async fn es256_id_tokens_per_client_and_public_clients_with_pkce() {
    let app = spawn_app().await;
    let es = app
        .add_client(&app.tenant, &["--id-token-alg", "ES256"])
        .await;
    app.add_user("f@example.org", PW).await;
    let rp = discover(&app, &es).await;
    let flow = start(&rp, &[], &[]);
    let cb = run_browser(&app, &flow.url, "f@example.org", PW).await;
    let nonce = flow.nonce.clone();
    let tokens = finish(&app, &rp, flow, &cb).await;
    let id = tokens.id_token().expect("id");
    assert_eq!(jwt_header(&id.to_string())["alg"], "ES256");
    let verifier = rp
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    id.claims(&verifier, &nonce)
        .expect("ES256 ID token verifies with the JWKS");

    // A public client: no secret, PKCE does the proving.
    let public = app.add_client(&app.tenant, &["--public"]).await;
    assert!(public.secret.is_none());
    let rp = discover(&app, &public).await;
    let flow = start(&rp, &[], &[]);
    let cb = run_browser(&app, &flow.url, "f@example.org", PW).await;
    let nonce = flow.nonce.clone();
    let tokens = finish(&app, &rp, flow, &cb).await;
    tokens
        .id_token()
        .expect("id")
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("verifies");
}

#[tokio::test]
async fn subjects_are_pairwise_per_tenant_unless_public() {
    let app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let a1 = app.add_client("gemeinde-a", &[]).await;
    let a2 = app.add_client("gemeinde-a", &[]).await;
    let b1 = app.add_client("gemeinde-b", &[]).await;
    let p1 = app
        .add_client("gemeinde-b", &["--subject-type", "public"])
        .await;
    let id = app.add_user("g@example.org", PW).await;
    let mut subs = Vec::new();
    for c in [&a1, &a2, &b1, &p1] {
        let rp = discover(&app, c).await;
        let flow = start(&rp, &[], &[]);
        let cb = run_browser(&app, &flow.url, "g@example.org", PW).await;
        let nonce = flow.nonce.clone();
        let tokens = finish(&app, &rp, flow, &cb).await;
        let claims = tokens
            .id_token()
            .expect("id")
            .claims(&rp.id_token_verifier(), &nonce)
            .expect("verifies");
        // userinfo resolves every kind of subject.
        assert_eq!(userinfo(&rp, &tokens).await.subject(), claims.subject());
        subs.push(claims.subject().to_string());
    }
    assert_eq!(subs[0], subs[1], "one sub for all portals of one Kommune");
    assert_ne!(subs[0], subs[2], "another Kommune sees another sub");
    assert_ne!(subs[0], id, "pairwise subs do not reveal the account id");
    assert_eq!(subs[3], id, "public subject type is the account id");
}

#[tokio::test]
async fn a_level_above_the_reachable_one_is_refused_not_faked() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("h@example.org", PW).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[]);
    run_browser(&app, &flow.url, "h@example.org", PW).await;
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["http://eidas.europa.eu/LoA/substantial"]}}}"#;
    for extra in [
        ("acr_values", "http://eidas.europa.eu/LoA/substantial"),
        ("acr_values", "STORK-QAA-Level-4"),
        ("claims", claims),
    ] {
        let flow = start(&rp, &[], &[extra]);
        let cb = crate::helpers::unmet_target(app.get(&flow.url).await).await;
        assert_eq!(
            query_param(&cb, "error").as_deref(),
            Some("unmet_authentication_requirements"),
            "{extra:?}"
        );
        assert!(query_param(&cb, "code").is_none());
    }
    // Asking for low (also in BundID's vocabulary) works.
    let flow = start(&rp, &[], &[("acr_values", "STORK-QAA-Level-1")]);
    let cb = location(&app.get(&flow.url).await);
    assert!(query_param(&cb, "code").is_some(), "{cb}");
}

#[tokio::test]
async fn the_consent_page_cannot_skip_a_required_login_or_level() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("skip@example.org", PW).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[]);
    run_browser(&app, &flow.url, "skip@example.org", PW).await;

    // prompt=login: going straight to the consent page leads back to the login.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let flow = start(&rp, &["email"], &[("prompt", "login")]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/login?req="), "{next}");
    let req = query_param(&next, "req").expect("req");
    let r = app.get(&format!("/consent?req={req}")).await;
    assert_eq!(location(&r), format!("/login?req={req}"));
    let csrf = app.csrf_of("/login").await;
    let r = app
        .post_form(
            "/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    assert_eq!(
        location(&r),
        format!("/login?req={req}"),
        "no code without the fresh login"
    );

    // A level the account cannot reach: after the password, the consent page answers with the error.
    let fresh = crate::helpers::browser_client();
    let flow = start(
        &rp,
        &["email"],
        &[("acr_values", "http://eidas.europa.eu/LoA/substantial")],
    );
    let next = location(&fresh.get(&flow.url).send().await.expect("get"));
    let req = query_param(&next, "req").expect("req");
    let page = fresh
        .get(app.url(&next))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let r = fresh
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("req", req.as_str()),
            ("email", "skip@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let r = fresh
        .get(app.url(&format!("/consent?req={req}")))
        .send()
        .await
        .expect("get");
    let cb = crate::helpers::unmet_target(r).await;
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{cb}"
    );
}

#[tokio::test]
async fn max_age_zero_counts_a_login_in_the_same_second_as_old() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("sekunde@example.org", PW).await;
    let rp = discover(&app, &client).await;
    // Log in and ask again at once, within the same second: max_age=0 is prompt=login.
    assert_eq!(app.login("", "sekunde@example.org", PW).await.status(), 303);
    let flow = start(&rp, &[], &[("max_age", "0")]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/login?req="), "{next}");
    // prompt=none with max_age=0 cannot be satisfied without interaction.
    let flow = start(&rp, &[], &[("max_age", "0"), ("prompt", "none")]);
    let cb = location(&app.get(&flow.url).await);
    assert_eq!(query_param(&cb, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn an_id_token_hint_for_another_citizen_gets_no_code() {
    let mut app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("anna@example.org", PW).await;
    app.add_user("bernd@example.org", PW).await;
    let rp = discover(&app, &client).await;
    // Anna used the portal on this computer; her ID token is the portal's hint.
    let flow = start(&rp, &[], &[]);
    let cb = run_browser(&app, &flow.url, "anna@example.org", PW).await;
    let tokens = finish(&app, &rp, flow, &cb).await;
    let hint = tokens.id_token().expect("id").to_string();
    // Her own session with her hint: silently a code.
    let flow = start(&rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let cb = location(&app.get(&flow.url).await);
    assert!(query_param(&cb, "code").is_some(), "{cb}");
    // Bernd logs in on the same computer (the Bürgerbüro's terminal).
    app.reset_browser();
    let flow = start(&rp, &[], &[]);
    run_browser(&app, &flow.url, "bernd@example.org", PW).await;
    let flow = start(&rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let cb = location(&app.get(&flow.url).await);
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("login_required"),
        "no code for Bernd when the portal expects Anna: {cb}"
    );
    // With interaction: a new login; Anna's gets her code, Bernd's again does not.
    let flow = start(&rp, &[], &[("id_token_hint", &hint)]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/login?req="), "{next}");
    let req = query_param(&next, "req").expect("req");
    assert_eq!(app.login(&req, "bernd@example.org", PW).await.status(), 303);
    let cb = location(&app.get(&format!("/authorize/resume?req={req}")).await);
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("login_required"),
        "{cb}"
    );
    let flow = start(&rp, &[], &[("id_token_hint", &hint)]);
    let cb = run_browser(&app, &flow.url, "anna@example.org", PW).await;
    assert!(query_param(&cb, "code").is_some(), "{cb}");
    // A hint that is not this provider's ID token for this client is an error.
    let other = app.add_client(&app.tenant, &[]).await;
    let rp_other = discover(&app, &other).await;
    for bad in [hint.as_str(), "not-a-jwt"] {
        let flow = start(&rp_other, &[], &[("id_token_hint", bad)]);
        let cb = location(&app.get(&flow.url).await);
        assert_eq!(
            query_param(&cb, "error").as_deref(),
            Some("invalid_request"),
            "{cb}"
        );
    }
}

#[tokio::test]
async fn public_clients_without_a_claimed_https_redirect_ask_for_consent_every_time() {
    let app = spawn_app().await;
    app.add_user("app@example.org", PW).await;
    // A native app (loopback redirect): its client id proves nothing, so consent is asked
    // every time, and prompt=none cannot be answered with a code.
    let native = app.add_client(&app.tenant, &["--public"]).await;
    let rp = discover(&app, &native).await;
    let flow = start(&rp, &["email"], &[]);
    let cb = run_browser(&app, &flow.url, "app@example.org", PW).await;
    assert!(query_param(&cb, "code").is_some());
    let flow = start(&rp, &["email"], &[]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/consent?req="), "asked again: {next}");
    let flow = start(&rp, &["email"], &[("prompt", "none")]);
    let cb = location(&app.get(&flow.url).await);
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("consent_required")
    );
    // A web app with an https redirect URI is recognised by it: consent is remembered.
    let (ok, json, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Bürger-App",
            "--public",
            "--redirect-uri",
            "https://app.example.org/cb",
        ],
        None,
    );
    assert!(ok, "{err}");
    let web = crate::helpers::TestClient {
        id: json["client_id"].as_str().expect("id").to_owned(),
        secret: None,
        redirect_uri: "https://app.example.org/cb".into(),
    };
    let rp = discover(&app, &web).await;
    let flow = start(&rp, &["email"], &[]);
    let cb = run_browser(&app, &flow.url, "app@example.org", PW).await;
    assert!(cb.starts_with("https://app.example.org/cb?code="), "{cb}");
    let flow = start(&rp, &["email"], &[("prompt", "none")]);
    let cb = location(&app.get(&flow.url).await);
    assert!(query_param(&cb, "code").is_some(), "remembered: {cb}");
    // A public client may not register `localhost` (RFC 8252 §8.3), the IP literal is fine.
    let (ok, _, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "App",
            "--public",
            "--redirect-uri",
            "http://localhost:8765/cb",
        ],
        None,
    );
    assert!(!ok && err.contains("127.0.0.1"), "{err}");
    for sneaky in ["http://localhost.:8765/cb", "http://app.localhost:8765/cb"] {
        let (ok, _, err) = app.cli(
            &[
                "client",
                "add",
                "--tenant",
                &app.tenant,
                "--name",
                "App",
                "--public",
                "--redirect-uri",
                sneaky,
            ],
            None,
        );
        assert!(!ok, "{sneaky} is localhost too: {err}");
    }
    // An https redirect to this machine is not a claimed one: asked every time.
    let (ok, json, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Loopback-App",
            "--public",
            "--redirect-uri",
            "https://127.0.0.1:8443/cb",
        ],
        None,
    );
    assert!(ok, "{err}");
    let loopback = crate::helpers::TestClient {
        id: json["client_id"].as_str().expect("id").to_owned(),
        secret: None,
        redirect_uri: "https://127.0.0.1:8443/cb".into(),
    };
    let rp = discover(&app, &loopback).await;
    let cb = run_browser(
        &app,
        &start(&rp, &["email"], &[]).url,
        "app@example.org",
        PW,
    )
    .await;
    assert!(query_param(&cb, "code").is_some());
    let next = location(&app.get(&start(&rp, &["email"], &[]).url).await);
    assert!(next.starts_with("/consent?req="), "asked again: {next}");
}

#[tokio::test]
async fn waiting_requests_are_limited_per_client_address_with_or_without_a_session() {
    let mut app = spawn_app_with(AppOptions {
        tweak: |c| c.authorize_pending_per_ip = 5,
        ..AppOptions::default()
    })
    .await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("viele@example.org", PW).await;
    let rp = discover(&app, &client).await;
    // One flow with login and consent: one waiting request.
    let cb = run_browser(&app, &start(&rp, &[], &[]).url, "viele@example.org", PW).await;
    assert!(query_param(&cb, "code").is_some(), "{cb}");
    let citizen = std::mem::replace(&mut app.browser, crate::helpers::browser_client());
    for i in 0..4 {
        app.reset_browser();
        let r = app.get(&start(&rp, &[], &[]).url).await;
        assert!(location(&r).starts_with("/login?req="), "request {i}");
    }
    app.reset_browser();
    let r = app.get(&start(&rp, &[], &[]).url).await;
    assert_eq!(r.status(), 429, "the sixth waiting request is refused");
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.expect("page").contains("zehn Minuten"));
    // A session does not lift the limit: a request that needs interaction waits too...
    app.browser = citizen;
    let r = app
        .get(&start(&rp, &[], &[("prompt", "consent")]).url)
        .await;
    assert_eq!(r.status(), 429);
    // ...but the SSO round trip, which waits for nothing, parks nothing and still works.
    let r = app.get(&start(&rp, &[], &[]).url).await;
    assert!(
        query_param(&location(&r), "code").is_some(),
        "{}",
        location(&r)
    );
}

#[tokio::test]
async fn a_single_page_app_may_redeem_its_code_from_its_own_origin_only() {
    let app = spawn_app().await;
    app.add_user("spa@example.org", PW).await;
    let (ok, json, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Bürger-SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example.org/app/cb",
        ],
        None,
    );
    assert!(ok, "{err}");
    let spa = crate::helpers::TestClient {
        id: json["client_id"].as_str().expect("id").to_owned(),
        secret: None,
        redirect_uri: "https://spa.example.org/app/cb".into(),
    };
    let code = crate::helpers::code_for(&app, &spa, "spa@example.org", PW, "openid").await;
    let own = "https://spa.example.org";
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.http
                .request(reqwest::Method::OPTIONS, app.url("/token"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
                .await
                .expect("preflight")
        }
    };
    let r = preflight(own).await;
    assert!(r.status().is_success());
    assert_eq!(r.headers()["access-control-allow-origin"], own);
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .expect("ascii")
            .contains("Content-Type")
    );
    let r = preflight("https://evil.example").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // The code exchange from the app's origin: readable there, never with credentials.
    let mut form = crate::helpers::exchange(&spa, &code);
    form.push(("client_id", &spa.id));
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", own)
        .form(&form)
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], own);
    assert!(!r.headers().contains_key("access-control-allow-credentials"));
    let tokens: serde_json::Value = r.json().await.expect("json");
    let at = tokens["access_token"].as_str().expect("at");
    let r = app
        .http
        .get(app.url("/userinfo"))
        .header("origin", own)
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], own);
    // Another origin's page gets an answer it may not read.
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", "https://evil.example")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", spa.id.as_str()),
            ("code", "x"),
        ])
        .send()
        .await
        .expect("token");
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    // Discovery and keys are open to every origin.
    for path in ["/.well-known/openid-configuration", "/jwks.json"] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", "https://x.example")
            .send()
            .await
            .expect("get");
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
    }
}
