//! Passkeys: added from the sign-in methods page with a software authenticator, used for
//! step-up (substantial) and for a login alone (high, with user verification), renamed and
//! removed (the last factor only with the password).

use crate::helpers::rp::{discover, finish, jwt_payload, start};
use crate::helpers::webauthn::{SoftPasskey, ceremony, options_of, post_credential};
use crate::helpers::{TestApp, hidden, location, query_param, spawn_named};
use crate::levels::{enrol_totp, verify_identity};

const PW: &str = "ein langes Passwort";
const SUBSTANTIAL: &str = "http://eidas.europa.eu/LoA/substantial";
const HIGH: &str = "http://eidas.europa.eu/LoA/high";

/// Adds a passkey on the sign-in methods page of the logged-in browser.
async fn add_passkey(app: &TestApp, name: &str) -> SoftPasskey {
    add_this_passkey(app, name, SoftPasskey::new(&app.addr)).await
}

/// Adds `key` (synced, attested or not) on the sign-in methods page.
async fn add_this_passkey(app: &TestApp, name: &str, mut key: SoftPasskey) -> SoftPasskey {
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("/static/passkey.js"), "{page}");
    let (ceremony, options) = options_of(&page, "/konto/passkeys");
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "a discoverable credential is requested"
    );
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let csrf = hidden(&page, "csrf").expect("csrf");
    let credential = key.register(&options);
    let r = app
        .post_form(
            "/konto/passkeys",
            &[
                ("csrf", &csrf),
                ("ceremony", &ceremony),
                ("credential", &credential),
                ("name", name),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(page.contains(name), "the passkey is listed: {page}");
    // The same ceremony cannot be used twice.
    let r = app
        .post_form(
            "/konto/passkeys",
            &[
                ("csrf", &csrf),
                ("ceremony", &ceremony),
                ("credential", &credential),
                ("name", "noch einmal"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    key
}

#[tokio::test]
async fn a_passkey_steps_a_password_session_up_and_alone_reaches_high() {
    let app = spawn_named().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("pk@example.org", PW).await;
    assert!(verify_identity(&app, "pk@example.org", "high").0);
    assert_eq!(app.login("", "pk@example.org", PW).await.status(), 303);
    let mut key = add_passkey(&app, "Laptop Küche").await;

    // A fresh password login; the portal asks for substantial: the passkey steps it up.
    let rp = discover(&app, &client).await;
    let flow = start(
        &rp,
        &["email"],
        &[("acr_values", SUBSTANTIAL), ("prompt", "login")],
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let next = location(&app.get(&flow.url).await);
    let req = query_param(&next, "req").expect("req");
    // The account has a passkey: the password leads to it.
    let next = location(&app.login(&req, "pk@example.org", PW).await);
    assert_eq!(next, format!("/login/otp?req={req}"));
    let page = app.get(&next).await.text().await.expect("page");
    assert!(!page.contains("one-time-code"), "no TOTP form without TOTP");
    let (ceremony, options) = options_of(&page, "/login/otp/passkey");
    let csrf = hidden(&page, "csrf").expect("csrf");
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        serde_json::json!(base64_url(&key.credential_id)),
        "step-up asks for this account's passkey"
    );
    // An answer signed by another key is refused.
    let mut stranger = SoftPasskey::new(&app.addr);
    stranger.credential_id = key.credential_id.clone();
    let forged = stranger.authenticate(&options);
    let r = post_credential(&app, "/login/otp/passkey", &csrf, &req, &ceremony, &forged).await;
    assert_eq!(r.status(), 401, "a forged assertion fails");
    // The ceremony was used up by the failure; a new page gives a new one.
    let page = app.get(&next).await.text().await.expect("page");
    let (ceremony, options) = options_of(&page, "/login/otp/passkey");
    let assertion = key.authenticate(&options);
    let r = post_credential(
        &app,
        "/login/otp/passkey",
        &csrf,
        &req,
        &ceremony,
        &assertion,
    )
    .await;
    assert_eq!(location(&r), format!("/authorize/resume?req={req}"));
    // Replaying the same answer is refused.
    let r = post_credential(
        &app,
        "/login/otp/passkey",
        &csrf,
        &req,
        &ceremony,
        &assertion,
    )
    .await;
    assert_eq!(r.status(), 401);
    let cb =
        crate::helpers::rp::run_browser(&app, &app.url(&location_of_resume(&req)), "", "").await;
    let tokens = finish(&app, &rp, flow, &cb).await;
    let id = jwt_payload(
        &openidconnect::TokenResponse::id_token(&tokens)
            .expect("id")
            .to_string(),
    );
    // Proofing high and a verified passkey: the session is high; substantial was asked for,
    // the token says what was reached.
    assert_eq!(id["acr"], HIGH);
    assert_eq!(id["amr"], serde_json::json!(["pwd", "hwk", "user", "mfa"]));

    // Login with the passkey alone, in a new browser.
    let mut other = app;
    other.reset_browser();
    let flow = start(&rp, &[], &[("acr_values", HIGH)]);
    let next = location(&other.get(&flow.url).await);
    assert!(next.starts_with("/login?req="), "{next}");
    let req = query_param(&next, "req").expect("req");
    let login = other.get(&next).await.text().await.expect("page");
    assert!(
        login.contains(&format!("/login/passkey?req={req}")),
        "{login}"
    );
    let page = other
        .get(&format!("/login/passkey?req={req}"))
        .await
        .text()
        .await
        .expect("page");
    let (ceremony, options) = options_of(&page, "/login/passkey");
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "any discoverable passkey"
    );
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = post_credential(
        &other,
        "/login/passkey",
        &csrf,
        &req,
        &ceremony,
        &key.authenticate(&options),
    )
    .await;
    assert_eq!(location(&r), format!("/authorize/resume?req={req}"));
    let cb = crate::helpers::rp::run_browser(&other, &other.url(&location(&r)), "", "").await;
    let tokens = finish(&other, &rp, flow, &cb).await;
    let id = jwt_payload(
        &openidconnect::TokenResponse::id_token(&tokens)
            .expect("id")
            .to_string(),
    );
    assert_eq!(id["acr"], HIGH);
    assert_eq!(id["amr"], serde_json::json!(["hwk", "user"]));

    // Without user verification the passkey is a possession factor only: substantial.
    key.user_verified = false;
    let mut third = other;
    third.reset_browser();
    let page = third
        .get("/login/passkey")
        .await
        .text()
        .await
        .expect("page");
    let (ceremony, options) = options_of(&page, "/login/passkey");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = post_credential(
        &third,
        "/login/passkey",
        &csrf,
        "",
        &ceremony,
        &key.authenticate(&options),
    )
    .await;
    assert_eq!(r.status(), 401, "passkey logins require user verification");
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn location_of_resume(req: &str) -> String {
    format!("/authorize/resume?req={req}")
}

#[tokio::test]
async fn passkeys_are_renamed_and_a_password_alone_cannot_remove_them() {
    let app = spawn_named().await;
    app.add_user("weg@example.org", PW).await;
    assert_eq!(app.login("", "weg@example.org", PW).await.status(), 303);
    let mut key = add_passkey(&app, "Telefon").await;
    let mail = app.mails().pop().expect("a mail");
    assert!(
        mail.contains("weg@example.org")
            && mail.contains("Neues Anmeldeverfahren")
            && mail.contains("Telefon"),
        "the holder is told about the new passkey: {mail}"
    );
    // Confirming with the passkey without a pending request leads to the account page.
    let (csrf, ceremony, options) = ceremony(&app, "/login/otp", "/login/otp/passkey").await;
    let r = post_credential(
        &app,
        "/login/otp/passkey",
        &csrf,
        "",
        &ceremony,
        &key.authenticate(&options),
    )
    .await;
    assert_eq!(location(&r), "/konto");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    let id = hidden(&page, "id").expect("passkey id");
    let r = app
        .post_form(
            "/konto/passkeys/rename",
            &[("csrf", &csrf), ("id", &id), ("name", "Diensthandy")],
        )
        .await;
    assert_eq!(location(&r), "/konto/sicherheit");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Diensthandy") && !page.contains("Telefon"));
    // The password alone opens no session on an account with a passkey, so it cannot
    // remove the passkey...
    assert_eq!(
        location(&app.login("", "weg@example.org", PW).await),
        "/login/otp"
    );
    let r = app
        .post_form(
            "/konto/factors/remove",
            &[
                ("csrf", &csrf),
                ("kind", "passkey"),
                ("id", &id),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(
        location(&r),
        "/login",
        "no session before the second factor"
    );
    assert_eq!(
        location(&app.get("/konto/sicherheit").await),
        "/login",
        "nor manage factors"
    );
    // ...and the passkey is still there once it signs in.
    let (csrf, cer, options) =
        crate::helpers::webauthn::ceremony(&app, "/login/otp", "/login/otp/passkey").await;
    let r = post_credential(
        &app,
        "/login/otp/passkey",
        &csrf,
        "",
        &cer,
        &key.authenticate(&options),
    )
    .await;
    assert_eq!(location(&r), "/konto");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Diensthandy"));
}

#[tokio::test]
async fn removing_the_last_factor_needs_the_factor_itself_not_the_password() {
    let app = spawn_named().await;
    app.add_user("letzter@example.org", PW).await;
    assert_eq!(app.login("", "letzter@example.org", PW).await.status(), 303);
    // TOTP first (enrolling does not count as proving it: confirm it on the step-up page),
    // then a passkey.
    let (secret, step, recovery) = enrol_totp(&app).await;
    let page = app.get("/login/otp").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let code = format!(
        "{:06}",
        buergerkonto::crypto::totp::code_at(&secret, step + 1)
    );
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", ""), ("code", &code)],
        )
        .await;
    assert_eq!(location(&r), "/konto");
    add_passkey(&app, "Schlüssel").await;
    // Two factors: removing TOTP needs nothing more.
    let r = app
        .post_form(
            "/konto/factors/remove",
            &[("csrf", &csrf), ("kind", "totp")],
        )
        .await;
    assert_eq!(location(&r), "/konto/sicherheit");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("/konto/totp"),
        "TOTP is gone and offered again"
    );
    // The passkey is the last factor now. Elsewhere the password leads to it, and a recovery
    // code of the removed app no longer works (the codes went with it).
    let id = hidden(&page, "id").expect("passkey id");
    let fresh = crate::helpers::browser_client();
    let login_page = fresh
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let c = hidden(&login_page, "csrf").expect("csrf");
    let r = fresh
        .post(app.url("/login"))
        .form(&[
            ("csrf", c.as_str()),
            ("req", ""),
            ("email", "letzter@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(location(&r), "/login/otp");
    let otp_page = fresh
        .get(app.url("/login/otp"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let c = hidden(&otp_page, "csrf").expect("csrf");
    let r = fresh
        .post(app.url("/login/otp"))
        .form(&[("csrf", c.as_str()), ("req", ""), ("code", &recovery[0])])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401, "the recovery codes went with the app");
    // In the first session, the page says what removing the last factor takes; the password
    // is not asked for and does not do it.
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("letzter zweiter Faktor") && !page.contains(r#"name="password""#));
    let remove = |password: &'static str| {
        let app = &app;
        let csrf = csrf.clone();
        let id = id.clone();
        async move {
            app.post_form(
                "/konto/factors/remove",
                &[
                    ("csrf", &csrf),
                    ("kind", "passkey"),
                    ("id", &id),
                    ("password", password),
                ],
            )
            .await
        }
    };
    // The code given above minutes ago (here: just now) is a fresh factor: the removal goes.
    let r = remove("").await;
    assert_eq!(location(&r), "/konto/sicherheit", "a factor given just now");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("Schlüssel"));
}

#[tokio::test]
async fn a_session_that_only_enrolled_its_factor_must_prove_it_to_remove_the_last_one() {
    let app = spawn_named().await;
    app.add_user("nur-schluessel@example.org", PW).await;
    assert_eq!(
        app.login("", "nur-schluessel@example.org", PW)
            .await
            .status(),
        303
    );
    let mut key = add_passkey(&app, "Schlüssel").await;
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    let id = hidden(&page, "id").expect("passkey id");
    let csrf = hidden(&page, "csrf").expect("csrf");
    // The password in the form changes nothing: the passkey itself is asked for.
    let r = app
        .post_form(
            "/konto/factors/remove",
            &[
                ("csrf", &csrf),
                ("kind", "passkey"),
                ("id", &id),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(location(&r), "/login/otp?next=/konto/sicherheit");
    let page = app
        .get("/login/otp?next=/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Bestätigen Sie diese Änderung"), "{page}");
    let (csrf2, ceremony, options) = ceremony(
        &app,
        "/login/otp?next=/konto/sicherheit",
        "/login/otp/passkey",
    )
    .await;
    let r = app
        .post_form(
            "/login/otp/passkey",
            &[
                ("csrf", csrf2.as_str()),
                ("req", ""),
                ("next", "/konto/sicherheit"),
                ("ceremony", ceremony.as_str()),
                ("credential", key.authenticate(&options).as_str()),
            ],
        )
        .await;
    assert_eq!(location(&r), "/konto/sicherheit", "back where it was asked");
    let r = app
        .post_form(
            "/konto/factors/remove",
            &[("csrf", &csrf), ("kind", "passkey"), ("id", &id)],
        )
        .await;
    assert_eq!(location(&r), "/konto/sicherheit");
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        !page.contains("Schlüssel"),
        "removed with the passkey just given"
    );
}

#[tokio::test]
async fn anonymous_passkey_ceremonies_are_limited_per_address() {
    let app = spawn_named().await;
    for _ in 0..buergerkonto::account::passkeys::ANONYMOUS_CEREMONIES_PER_MINUTE {
        assert_eq!(app.get("/login/passkey").await.status(), 200);
    }
    let r = app.get("/login/passkey").await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.expect("page").contains("lang=\"de\""));
}

/// Logs in with `key` alone in a fresh browser for a portal asking for `acr`; the ID
/// token's claims, or where the browser was sent instead.
async fn passkey_login_for(
    app: &mut TestApp,
    client: &crate::helpers::TestClient,
    key: &mut SoftPasskey,
    acr: &str,
) -> Result<serde_json::Value, String> {
    app.reset_browser();
    let rp = discover(app, client).await;
    let flow = start(&rp, &[], &[("acr_values", acr)]);
    let next = location(&app.get(&flow.url).await);
    let req = query_param(&next, "req").expect("req");
    let page = app
        .get(&format!("/login/passkey?req={req}"))
        .await
        .text()
        .await
        .expect("page");
    let (ceremony, options) = options_of(&page, "/login/passkey");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = post_credential(
        app,
        "/login/passkey",
        &csrf,
        &req,
        &ceremony,
        &key.authenticate(&options),
    )
    .await;
    let resume = location(&r);
    let r = app.get(&resume).await;
    if r.status() == 200 {
        return Err(r.text().await.expect("page"));
    }
    let next = location(&r);
    let cb = if next.starts_with('/') {
        // The consent page first (the pending request waits for it).
        crate::helpers::rp::run_browser(app, &app.url(&resume), "", "").await
    } else {
        next
    };
    let tokens = finish(app, &rp, flow, &cb).await;
    Ok(jwt_payload(
        &openidconnect::TokenResponse::id_token(&tokens)
            .expect("id")
            .to_string(),
    ))
}

#[tokio::test]
async fn a_synced_passkey_gives_substantial_and_a_device_bound_one_high() {
    let mut app = spawn_named().await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("sync@example.org", PW).await;
    assert!(verify_identity(&app, "sync@example.org", "high").0);
    assert_eq!(app.login("", "sync@example.org", PW).await.status(), 303);
    let mut synced = SoftPasskey::new(&app.addr);
    synced.synced = true;
    let mut synced = add_this_passkey(&app, "Handy", synced).await;
    // The page says what each passkey gives, and why.
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("<strong>substanziell</strong>")
            && page.contains("zwischen Geräten abgeglichen"),
        "{page}"
    );
    // Alone it reaches substantial, never high, however well the identity is proven.
    let id = passkey_login_for(&mut app, &client, &mut synced, SUBSTANTIAL)
        .await
        .expect("a login");
    assert_eq!(id["acr"], SUBSTANTIAL);
    assert_eq!(id["amr"], serde_json::json!(["swk", "user"]));
    let refused = passkey_login_for(&mut app, &client, &mut synced, HIGH).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|page| page.contains("unmet_authentication_requirements")),
        "high is out of reach with a synced passkey: {refused:?}"
    );
    // A device-bound passkey (added in a session of the synced one) reaches high.
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("/konto/passkeys"), "{page}");
    let mut bound =
        add_this_passkey(&app, "Sicherheitsschlüssel", SoftPasskey::new(&app.addr)).await;
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("<strong>hoch</strong>") && page.contains("bleibt auf seinem Gerät"));
    let id = passkey_login_for(&mut app, &client, &mut bound, HIGH)
        .await
        .expect("a login");
    assert_eq!(id["acr"], HIGH);
    assert_eq!(id["amr"], serde_json::json!(["hwk", "user"]));
}

#[tokio::test]
async fn with_an_allow_list_only_an_attested_listed_authenticator_gives_high() {
    let mut app = crate::helpers::spawn_app_configured(crate::helpers::Backend::Default, |raw| {
        raw.issuer = raw.issuer.replace("127.0.0.1", "localhost");
        raw.passkey_high_aaguids = crate::helpers::webauthn::TEST_AAGUID.into();
        raw.passkey_attestation_roots = Some(
            crate::helpers::webauthn::test_attestation_root()
                .display()
                .to_string(),
        );
    })
    .await;
    let client = app.add_client(&app.tenant, &[]).await;
    app.add_user("attest@example.org", PW).await;
    assert!(verify_identity(&app, "attest@example.org", "high").0);
    assert_eq!(app.login("", "attest@example.org", PW).await.status(), 303);
    // Registration now asks for attestation.
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    let (_, options) = options_of(&page, "/konto/passkeys");
    assert_eq!(options["publicKey"]["attestation"], "direct");
    // Device-bound but without attestation: substantial.
    let mut plain = add_this_passkey(&app, "Unbekannt", SoftPasskey::new(&app.addr)).await;
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("nicht für das Niveau hoch zugelassen"),
        "{page}"
    );
    let id = passkey_login_for(&mut app, &client, &mut plain, SUBSTANTIAL)
        .await
        .expect("a login");
    assert_eq!(id["acr"], SUBSTANTIAL);
    // Attested by the listed authenticator's certificate: high.
    let mut attested = SoftPasskey::new(&app.addr);
    attested.attested = true;
    let page = app
        .get("/konto/sicherheit")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("/konto/passkeys"));
    let mut attested = add_this_passkey(&app, "Zugelassen", attested).await;
    let id = passkey_login_for(&mut app, &client, &mut attested, HIGH)
        .await
        .expect("a login");
    assert_eq!(id["acr"], HIGH);
}
