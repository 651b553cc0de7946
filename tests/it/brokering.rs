//! Identity brokering against a second Bürgerkonto as the upstream provider: the citizen links
//! it from the sign-in methods page, the upstream `acr` is mapped by configuration, verified
//! data is stored with its source and released downstream only with consent and scope.

use crate::helpers::rp::{discover, finish, start};
use crate::helpers::{
    Backend, TestApp, hidden, location, query_param, spawn_app, spawn_app_configured,
};
use crate::levels::enrol_totp;
use buergerkonto::config::UpstreamConfig;
use openidconnect::{OAuth2TokenResponse, TokenResponse};

const PW: &str = "ein langes Passwort";
const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";

/// The downstream server, configured with `upstream` as identity provider "land-id".
async fn spawn_downstream(upstream: &TestApp) -> TestApp {
    spawn_app_configured(Backend::Default, |raw| {
        let callback = format!("{}/konto/verknuepfen/callback", raw.issuer);
        let (ok, json, err) = upstream.cli(
            &[
                "client",
                "add",
                "--tenant",
                &upstream.tenant,
                "--name",
                "Bürgerkonto Landkreis",
                "--redirect-uri",
                &callback,
                "--scope",
                "openid",
                "--scope",
                "profile",
                "--scope",
                "address",
                "--scope",
                "email",
            ],
            None,
        );
        assert!(ok, "{err}");
        raw.upstreams.push(UpstreamConfig {
            id: "land-id".into(),
            name: "Land-ID".into(),
            issuer: upstream.addr.clone(),
            client_id: json["client_id"].as_str().expect("id").into(),
            client_secret: json["client_secret"].as_str().expect("secret").into(),
            scopes: "openid profile address email".into(),
            acr_values: Some(SUBSTANTIAL.into()),
            acr_map: [
                (SUBSTANTIAL.to_owned(), "substantial".to_owned()),
                (
                    "http://eidas.europa.eu/LoA/high".to_owned(),
                    "high".to_owned(),
                ),
            ]
            .into_iter()
            .collect(),
            ..UpstreamConfig::default()
        });
    })
    .await
}

/// Starts linking on the downstream page; returns the upstream authorization URL.
async fn begin_link(down: &TestApp) -> String {
    let page = down
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Land-ID"), "{page}");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = down
        .post_form("/konto/verknuepfen/land-id", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    let url = location(&r);
    assert!(url.starts_with(&down_upstream_prefix(&url)));
    url
}

fn down_upstream_prefix(url: &str) -> String {
    url.split("/authorize").next().expect("prefix").to_owned()
}

/// Logs in at the upstream (with TOTP step-up when asked) and consents; returns the
/// redirect to the downstream callback.
async fn at_upstream(up: &TestApp, url: &str, email: &str, totp: Option<(&[u8], i64)>) -> String {
    let next = location(&up.get(url).await);
    if !next.starts_with('/') {
        // Single sign-on at the upstream: straight back.
        return next;
    }
    let req = query_param(&next, "req").expect("req");
    let mut next = if next.starts_with("/login?") {
        // With an authenticator the password leads to it; otherwise back to the request.
        let after = location(&up.login(&req, email, PW).await);
        if after.starts_with("/login/otp") {
            after
        } else {
            location(&up.get(&after).await)
        }
    } else {
        location(&up.get(&format!("/authorize/resume?req={req}")).await)
    };
    if next.starts_with("/login/otp") {
        let (secret, step) = totp.expect("a second factor is asked for");
        let csrf = up.csrf_of(&next).await;
        let code = format!(
            "{:06}",
            buergerkonto::crypto::totp::code_at(secret, step + 1)
        );
        let r = up
            .post_form(
                "/login/otp",
                &[("csrf", &csrf), ("req", &req), ("code", &code)],
            )
            .await;
        next = location(&up.get(&location(&r)).await);
    }
    assert!(next.starts_with("/consent"), "{next}");
    let page = up.get(&next).await.text().await.expect("page");
    assert!(
        page.contains("Ihr bestätigter Name und Ihr Geburtsdatum"),
        "{page}"
    );
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = up
        .post_form(
            "/consent",
            &[("csrf", &csrf), ("req", &req), ("decision", "allow")],
        )
        .await;
    location(&r)
}

#[tokio::test]
async fn linking_an_upstream_maps_its_acr_and_stores_verified_data_with_provenance() {
    let up = spawn_app().await;
    // At the upstream: a low account, and one a clerk checked, with TOTP.
    up.add_user("schwach@example.org", PW).await;
    up.add_user("erika@example.org", PW).await;
    let (ok, _, err) = up.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            "erika@example.org",
            "--level",
            "substantial",
            "--document-type",
            "personalausweis",
            "--clerk",
            "Bürgerbüro Land",
            "--given-name",
            "Erika",
            "--family-name",
            "Mustermann",
            "--birthdate",
            "1964-08-12",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(up.login("", "erika@example.org", PW).await.status(), 303);
    let (secret, step, _) = enrol_totp(&up).await;
    let mut up = up;
    up.reset_browser();

    let mut down = spawn_downstream(&up).await;
    down.add_user("erika.m@example.org", PW).await;
    assert_eq!(
        down.login("", "erika.m@example.org", PW).await.status(),
        303
    );

    // The upstream cannot reach substantial for the low account: the link is refused with
    // unmet_authentication_requirements and nothing is stored.
    let url = begin_link(&down).await;
    assert!(
        url.contains("acr_values=") && url.contains("code_challenge="),
        "{url}"
    );
    let next = location(&up.get(&url).await);
    let req = query_param(&next, "req").expect("req");
    assert_eq!(
        up.login(&req, "schwach@example.org", PW).await.status(),
        303
    );
    let r = up.get(&format!("/authorize/resume?req={req}")).await;
    let back = crate::helpers::unmet_target(r).await;
    assert!(back.contains("/konto/verknuepfen/callback"), "{back}");
    let r = down.get(&back).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("page").contains("nicht geklappt"));
    up.reset_browser();

    // Erika: password and TOTP upstream, substantial asserted, mapped to substantial.
    let url = begin_link(&down).await;
    let callback = at_upstream(&up, &url, "erika@example.org", Some((&secret, step))).await;
    let r = down.get(&callback).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Bestätigtes Vertrauensniveau: substanziell"),
        "{page}"
    );
    assert!(page.contains("Erika") && page.contains("Mustermann") && page.contains("12.08.1964"));
    assert!(
        page.contains("bestätigt durch Land-ID") && !page.contains("upstream:"),
        "provenance is shown: {page}"
    );
    // The state is single-use.
    assert_eq!(down.get(&callback).await.status(), 400);

    // The proofing rose: asking for substantial now offers a second factor, not a clerk.
    let client = down
        .add_client(
            &down.tenant,
            &[
                "--scope", "openid", "--scope", "profile", "--scope", "email",
            ],
        )
        .await;
    let rp = discover(&down, &client).await;
    let flow = start(&rp, &[], &[("acr_values", SUBSTANTIAL)]);
    let page = down.get(&flow.url).await.text().await.expect("page");
    assert!(page.contains("/konto/totp"), "{page}");
    assert!(!page.contains("Bürgerbüro"), "{page}");

    // Verified data is released with consent to a portal that asks for profile, and only then.
    let flow = start(&rp, &["profile"], &[]);
    let next = location(&down.get(&flow.url).await);
    assert!(next.starts_with("/consent"), "{next}");
    let consent = down.get(&next).await.text().await.expect("page");
    assert!(consent.contains("Ihr bestätigter Name und Ihr Geburtsdatum"));
    let cb = crate::helpers::rp::run_browser(&down, &flow.url, "", "").await;
    let tokens = finish(&down, &rp, flow, &cb).await;
    let info = down
        .http
        .get(down.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .expect("userinfo")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(info["given_name"], "Erika");
    // The ID token carries them too, with the standard names.
    let id = crate::helpers::rp::jwt_payload(&tokens.id_token().expect("id token").to_string());
    assert_eq!(
        (id["given_name"].as_str(), id["birthdate"].as_str()),
        (Some("Erika"), Some("1964-08-12"))
    );
    assert_eq!(info["family_name"], "Mustermann");
    assert_eq!(info["birthdate"], "1964-08-12");
    let flow = start(&rp, &["email"], &[]);
    let cb = crate::helpers::rp::run_browser(&down, &flow.url, "", "").await;
    let tokens = finish(&down, &rp, flow, &cb).await;
    let info = down
        .http
        .get(down.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .expect("userinfo")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert!(
        info.get("given_name").is_none(),
        "not without the profile scope: {info}"
    );

    // The same upstream identity cannot be linked to a second account.
    down.reset_browser();
    down.add_user("zweit@example.org", PW).await;
    assert_eq!(down.login("", "zweit@example.org", PW).await.status(), 303);
    let url = begin_link(&down).await;
    let callback = at_upstream(&up, &url, "erika@example.org", Some((&secret, step + 2))).await;
    assert_eq!(down.get(&callback).await.status(), 409);
}

/// An upstream account that reaches substantial (a clerk's check and TOTP); the browser is
/// logged out again. Returns the TOTP secret and its enrolment step.
async fn substantial_at(up: &mut TestApp, email: &str) -> (Vec<u8>, i64) {
    up.add_user(email, PW).await;
    let (ok, _, err) = up.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            email,
            "--level",
            "substantial",
            "--document-type",
            "personalausweis",
            "--clerk",
            "Bürgerbüro Land",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(up.login("", email, PW).await.status(), 303);
    let (secret, step, _) = enrol_totp(up).await;
    up.reset_browser();
    (secret, step)
}

#[tokio::test]
async fn an_openid_upstream_is_a_way_in_on_the_login_page_bound_to_the_browser() {
    let mut up = spawn_app().await;
    let (secret, step) = substantial_at(&mut up, "land@example.org").await;
    let down = spawn_downstream(&up).await;
    // The login page offers the upstream; the round trip asks it for a new login.
    let page = down.get("/login").await.text().await.expect("page");
    assert!(page.contains("Mit Land-ID anmelden"), "{page}");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = down
        .post_form("/anmelden/extern/land-id", &[("csrf", &csrf), ("req", "")])
        .await;
    assert_eq!(r.status(), 303);
    let url = location(&r);
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("login"));
    let callback = at_upstream(&up, &url, "land@example.org", Some((&secret, step))).await;
    // Another browser cannot take the answer (a login CSRF would end here).
    let stranger = crate::helpers::browser_client();
    let r = stranger.get(&callback).send().await.expect("GET");
    assert_eq!(r.status(), 400);
    // Each begun round trip holds a record: one address may begin 60 in ten minutes, through
    // this door as through BundID's.
    let mut last = 0;
    for _ in 0..60 {
        last = down
            .post_form("/anmelden/extern/land-id", &[("csrf", &csrf), ("req", "")])
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn a_first_login_through_an_openid_upstream_creates_the_account() {
    let mut up = spawn_app().await;
    let (secret, step) = substantial_at(&mut up, "land@example.org").await;
    let down = spawn_downstream(&up).await;
    let page = down.get("/login").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = down
        .post_form("/anmelden/extern/land-id", &[("csrf", &csrf), ("req", "")])
        .await;
    let callback = at_upstream(
        &up,
        &location(&r),
        "land@example.org",
        Some((&secret, step)),
    )
    .await;
    let r = down.get(&callback).await;
    assert_eq!(location(&r), "/konto", "logged in");
    assert_eq!(down.get("/konto").await.status(), 200);
    let (ok, shown, err) = down.cli(&["user", "show", "--email", "land@example.org"], None);
    assert!(ok, "{err}");
    assert_eq!(
        shown["proofing_level"], "substantial",
        "the upstream's level: {shown}"
    );
}
