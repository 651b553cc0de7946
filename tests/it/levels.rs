//! Assurance levels: a clerk's identity check raises the proofing, a TOTP second factor
//! raises the strength, step-up asks for exactly the missing factor, and no token claims a
//! level that was not reached.

use crate::helpers::rp::{discover, finish, jwt_payload, start};
use crate::helpers::{TestApp, hidden, location, query_param, spawn_app, unmet_target};
use buergerkonto::crypto::totp::{base32_decode, code_at, step_of};
use openidconnect::TokenResponse;

const PW: &str = "ein langes Passwort";
const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";

/// Enrols TOTP on the account page of the logged-in browser; returns the secret and the recovery codes.
pub(crate) async fn enrol_totp(app: &TestApp) -> (Vec<u8>, i64, Vec<String>) {
    let page = app.get("/konto/totp").await.text().await.expect("page");
    assert!(page.contains("<svg"), "a QR code is shown");
    let start = page.find("id=\"secret\">").expect("secret") + "id=\"secret\">".len();
    let secret_b32 = &page[start..start + page[start..].find('<').expect("end")];
    assert!(secret_b32.contains(' '), "shown in blocks of four");
    let secret = base32_decode(&secret_b32.replace(' ', "")).expect("base32 secret");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form("/konto/totp", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(r.status(), 400, "a wrong code does not enrol");
    let again = r.text().await.expect("page");
    assert!(
        again.contains(secret_b32),
        "the same secret is offered again after a typo"
    );
    let step = step_of(chrono::Utc::now().timestamp());
    let code = format!("{:06}", code_at(&secret, step));
    let r = app
        .post_form("/konto/totp", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(r.status(), 200);
    let done = r.text().await.expect("page");
    let codes: Vec<String> = done
        .split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    // They can be saved as a file without script: a download link carries all of them.
    let file = done
        .split("href=\"data:text/plain;charset=utf-8,")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a download link");
    assert!(done.contains("download=\"buergerkonto-wiederherstellungscodes.txt\""));
    assert!(codes.iter().all(|c| file.contains(c.as_str())), "{file}");
    (secret, step, codes)
}

pub(crate) fn verify_identity(app: &TestApp, email: &str, level: &str) -> (bool, String) {
    let (ok, _, err) = app.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            email,
            "--level",
            level,
            "--document-type",
            "personalausweis",
            "--clerk",
            "Bürgerbüro Musterstadt, M. Muster",
        ],
        None,
    );
    (ok, err)
}

#[tokio::test]
async fn step_up_by_totp_reaches_substantial_after_a_clerks_identity_check() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("stufe@example.org", PW).await;
    assert!(
        !verify_identity(&app, "niemand@example.org", "substantial").0,
        "unknown address"
    );
    assert!(
        !verify_identity(&app, "stufe@example.org", "low").0,
        "a clerk raises, low is no check"
    );
    let (ok, err) = verify_identity(&app, "stufe@example.org", "substantial");
    assert!(ok, "{err}");
    assert_eq!(app.login("", "stufe@example.org", PW).await.status(), 303);
    let (secret, enrol_step, recovery) = enrol_totp(&app).await;

    // The portal asks for substantial: the password session is stepped up by exactly the OTP.
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &["email"], &[("acr_values", SUBSTANTIAL)]);
    let next = location(&app.get(&flow.url).await);
    assert!(
        next.starts_with("/login/otp?req="),
        "asked for the second factor, not a new login: {next}"
    );
    let req = query_param(&next, "req").expect("req");
    let page = app.get(&next).await.text().await.expect("page");
    assert!(page.contains(r#"autocomplete="one-time-code""#));
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", "123456")],
        )
        .await;
    assert_eq!(r.status(), 401);
    // The code of the time step used at enrolment is not accepted twice; the next step's is.
    let used = format!("{:06}", code_at(&secret, enrol_step));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &used)],
        )
        .await;
    assert_eq!(
        r.status(),
        401,
        "a code of an already used time step is refused"
    );
    let code = format!("{:06}", code_at(&secret, enrol_step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &code)],
        )
        .await;
    assert_eq!(location(&r), format!("/authorize/resume?req={req}"));
    let cb =
        crate::helpers::rp::run_browser(&app, &app.url(&location(&r)), "stufe@example.org", PW)
            .await;
    let nonce = flow.nonce.clone();
    let tokens = finish(&app, &rp, flow, &cb).await;
    let claims = tokens
        .id_token()
        .expect("id")
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("verifies");
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some(SUBSTANTIAL)
    );
    let amr = jwt_payload(&tokens.id_token().expect("id").to_string())["amr"].clone();
    assert_eq!(amr, serde_json::json!(["pwd", "otp", "mfa"]));

    // A new login and a recovery code instead of the app; each recovery code works once.
    let flow = start(
        &rp,
        &[],
        &[("acr_values", SUBSTANTIAL), ("prompt", "login")],
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = location(&app.get(&flow.url).await);
    let req = query_param(&next, "req").expect("req");
    // The account has an authenticator: the password alone leads to it, not to the portal.
    let next = location(&app.login(&req, "stufe@example.org", PW).await);
    assert_eq!(next, format!("/login/otp?req={req}"));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &recovery[0])],
        )
        .await;
    assert_eq!(location(&r), format!("/authorize/resume?req={req}"));
    let cb = location(&app.get(&location(&r)).await);
    assert!(query_param(&cb, "code").is_some(), "{cb}");
    // The same recovery code a second time is refused.
    let flow = start(
        &rp,
        &[],
        &[("acr_values", SUBSTANTIAL), ("prompt", "login")],
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = location(&app.get(&flow.url).await);
    let req = query_param(&next, "req").expect("req");
    app.login(&req, "stufe@example.org", PW).await;
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &recovery[0])],
        )
        .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn without_proofing_or_factor_the_page_explains_and_the_portal_gets_unmet() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("ohne@example.org", PW).await;
    assert_eq!(app.login("", "ohne@example.org", PW).await.status(), 303);
    let rp = discover(&app, &client).await;
    // Proofing too low: the Bürgerbüro is explained.
    let flow = start(&rp, &[], &[("acr_values", SUBSTANTIAL)]);
    let r = app.get(&flow.url).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Bürgerbüro") && page.contains("error=unmet_authentication_requirements")
    );
    // Proofing enough but no second factor: the setup is offered.
    assert!(verify_identity(&app, "ohne@example.org", "substantial").0);
    let flow = start(&rp, &[], &[("acr_values", SUBSTANTIAL)]);
    let page = app.get(&flow.url).await.text().await.expect("page");
    assert!(page.contains("/konto/totp"), "{page}");
    // prompt=none cannot step up: the error goes straight back.
    let flow = start(&rp, &[], &[("acr_values", SUBSTANTIAL), ("prompt", "none")]);
    let cb = unmet_target(app.get(&flow.url).await).await;
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(
        query_param(&cb, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
}

#[tokio::test]
async fn once_an_authenticator_is_set_up_every_password_login_asks_for_it() {
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("tausch@example.org", PW).await;
    assert_eq!(app.login("", "tausch@example.org", PW).await.status(), 303);
    let (secret, step, _) = enrol_totp(&app).await;
    // A new login with the right password only reaches the second step.
    let r = app.login("", "tausch@example.org", PW).await;
    assert_eq!(location(&r), "/login/otp");
    // Nothing else opens with it: not the account, not the authenticator's replacement, and
    // a portal's request asks for a login.
    assert_eq!(location(&app.get("/konto").await), "/login");
    assert_eq!(location(&app.get("/konto/totp").await), "/login");
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/login?req="), "{next}");
    // The second step names the login and lets the citizen cancel it.
    let page = app.get("/login/otp").await.text().await.expect("page");
    assert!(page.contains("Anmeldung bestätigen") && page.contains("Anmeldung abbrechen"));
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", ""), ("code", "000000")],
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(location(&app.get("/konto").await), "/login");
    let code = format!("{:06}", code_at(&secret, step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", ""), ("code", &code)],
        )
        .await;
    assert_eq!(location(&r), "/konto");
    assert_eq!(app.get("/konto").await.status(), 200);
    // The factor was given in this session: the authenticator may be replaced.
    assert_eq!(app.get("/konto/totp").await.status(), 200);
    // A passkey-less account without an authenticator still signs in with the password.
    app.add_user("nur-passwort@example.org", PW).await;
    assert_eq!(
        location(&app.login("", "nur-passwort@example.org", PW).await),
        "/konto"
    );
    // Its second-factor page is no dead end: it leads to setting one up.
    assert_eq!(location(&app.get("/login/otp").await), "/konto/sicherheit");
}

#[tokio::test]
async fn a_clients_default_level_applies_to_every_login_for_it() {
    let app = spawn_app().await;
    let (ok, _, err) = app.cli(
        &[
            "client",
            "add",
            "--tenant",
            &app.tenant,
            "--name",
            "Falsch",
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--default-level",
            "mittel",
        ],
        None,
    );
    assert!(!ok && err.contains("unknown level"), "{err}");
    let client = app
        .add_client(&app.tenant, &["--default-level", "substantial"])
        .await;
    app.add_user("standard@example.org", PW).await;
    assert_eq!(
        app.login("", "standard@example.org", PW).await.status(),
        303
    );
    let rp = discover(&app, &client).await;
    // No acr_values at all: the client's default still demands substantial.
    let flow = start(&rp, &[], &[("prompt", "none")]);
    let cb = unmet_target(app.get(&flow.url).await).await;
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    // Once reachable (clerk + TOTP), the token carries substantial.
    assert!(verify_identity(&app, "standard@example.org", "substantial").0);
    let (secret, step, _) = enrol_totp(&app).await;
    let flow = start(&rp, &["email"], &[]);
    let next = location(&app.get(&flow.url).await);
    assert!(next.starts_with("/login/otp?req="), "{next}");
    let req = query_param(&next, "req").expect("req");
    let csrf = hidden(&app.get(&next).await.text().await.expect("page"), "csrf").expect("csrf");
    let code = format!("{:06}", code_at(&secret, step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", &req), ("code", &code)],
        )
        .await;
    let cb = crate::helpers::rp::run_browser(&app, &app.url(&location(&r)), "", "").await;
    let tokens = finish(&app, &rp, flow, &cb).await;
    let id = jwt_payload(&tokens.id_token().expect("id").to_string());
    assert_eq!(id["acr"], SUBSTANTIAL);
}

#[tokio::test]
async fn a_clerks_system_records_an_identity_check_through_the_api() {
    let app = spawn_app().await;
    app.add_user("amt@example.org", PW).await;
    let clerk = crate::processes::m2m(&app, "identity.verify").await;
    let other = crate::processes::m2m(&app, "catalogue.admin").await;
    let post = |token: String, body: serde_json::Value| {
        let http = app.http.clone();
        let url = app.url("/api/v1/identity-proofings");
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            (
                status,
                ct,
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    let check = serde_json::json!({
        "email": "amt@example.org", "level": "substantial", "document_type": "reisepass",
        "clerk": "Bürgerbüro Nord, K. Beispiel", "given_name": "Karl", "birthdate": "1990-01-31"
    });
    let (s, ct, _) = post(other.clone(), check.clone()).await;
    assert_eq!((s, ct.as_str()), (403, "application/problem+json"));
    assert_eq!(post(String::new(), check.clone()).await.0, 401);
    let mut bad = check.clone();
    bad["birthdate"] = "31.01.1990".into();
    assert_eq!(post(clerk.clone(), bad).await.0, 400);
    let mut low = check.clone();
    low["level"] = "low".into();
    assert_eq!(post(clerk.clone(), low).await.0, 400);
    let mut unknown = check.clone();
    unknown["email"] = "niemand@example.org".into();
    assert_eq!(post(clerk.clone(), unknown).await.0, 404);
    let (s, _, body) = post(clerk.clone(), check).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["proofing_level"], "substantial");
    // The account page shows the verified data with the clerk as source.
    assert_eq!(app.login("", "amt@example.org", PW).await.status(), 303);
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Karl") && page.contains("Bürgerbüro Nord") && !page.contains("clerk:"),
        "{page}"
    );
}
