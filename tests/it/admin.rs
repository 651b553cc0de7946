//! The administration: roles granted with the CLI and in the console, the console's gate
//! (a role, *substanziell* with a second factor, a fresh factor before grave actions), and
//! every role boundary (a Kommune admin stays in its tenant, a clerk registers nothing, an
//! auditor changes nothing).

use crate::helpers::{
    Backend, TestApp, browser_client, hidden, location, spawn_app, spawn_app_configured,
};
use crate::levels::{enrol_totp, verify_identity};
use buergerkonto::crypto::totp::code_at;

pub(crate) const PW: &str = "ein langes Passwort";

/// A signed-in admin: its browser, and what is left to give a fresh factor.
pub(crate) struct AdminBrowser {
    pub browser: reqwest::Client,
    pub recovery: Vec<String>,
}

/// An account with `role` (in `tenant`, if given), identity confirmed at *substanziell*,
/// TOTP enrolled, signed in with password and code. The app's browser is left fresh.
pub(crate) async fn admin(
    app: &mut TestApp,
    email: &str,
    role: &str,
    tenant: Option<&str>,
) -> AdminBrowser {
    app.add_user(email, PW).await;
    let (ok, err) = verify_identity(app, email, "substantial");
    assert!(ok, "{err}");
    let mut args = vec!["admin", "grant", "--email", email, "--role", role];
    if let Some(t) = tenant {
        args.extend(["--tenant", t]);
    }
    let (ok, json, err) = app.cli(&args, None);
    assert!(ok, "grant: {err}");
    assert_eq!(json["granted"], true);
    app.reset_browser();
    assert_eq!(app.login("", email, PW).await.status(), 303);
    let (secret, step, recovery) = enrol_totp(app).await;
    app.reset_browser();
    let r = app.login("", email, PW).await;
    assert_eq!(location(&r), "/login/otp");
    let page = app.get("/login/otp").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let code = format!("{:06}", code_at(&secret, step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[("csrf", &csrf), ("req", ""), ("code", &code)],
        )
        .await;
    assert_eq!(r.status(), 303, "the second factor completes the login");
    let browser = std::mem::replace(&mut app.browser, browser_client());
    AdminBrowser { browser, recovery }
}

impl TestApp {
    /// Uses this browser for the next requests.
    pub(crate) fn as_admin(&mut self, a: &AdminBrowser) {
        self.browser = a.browser.clone();
    }
}

/// Posts a console form with the page's CSRF token.
pub(crate) async fn console_post(
    app: &TestApp,
    page: &str,
    action: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = app.csrf_of(page).await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(form);
    app.post_form(action, &all).await
}

#[tokio::test]
async fn roles_are_granted_listed_and_revoked_with_the_cli() {
    let app = spawn_app().await;
    app.add_user("amt@example.org", PW).await;
    let grant = |args: &[&str]| {
        let mut all = vec!["admin", "grant"];
        all.extend_from_slice(args);
        app.cli(&all, None)
    };
    let (ok, _, err) = grant(&["--email", "amt@example.org", "--role", "clerk"]);
    assert!(
        !ok && err.contains("tenant"),
        "a clerk needs a tenant: {err}"
    );
    let (ok, _, err) = grant(&[
        "--email",
        "amt@example.org",
        "--role",
        "verbund_admin",
        "--tenant",
        "gemeinde-a",
    ]);
    assert!(!ok && err.contains("Verbund"), "{err}");
    let (ok, _, err) = grant(&["--email", "amt@example.org", "--role", "king"]);
    assert!(!ok && err.contains("role"), "{err}");
    let (ok, _, err) = grant(&["--email", "niemand@example.org", "--role", "auditor"]);
    assert!(!ok && err.contains("no account"), "{err}");
    let (ok, _, err) = grant(&[
        "--email",
        "amt@example.org",
        "--role",
        "clerk",
        "--tenant",
        "gibt-es-nicht",
    ]);
    assert!(!ok && err.contains("tenant"), "{err}");

    let (ok, json, err) = grant(&[
        "--email",
        "amt@example.org",
        "--role",
        "clerk",
        "--tenant",
        "gemeinde-a",
    ]);
    assert!(ok, "{err}");
    assert_eq!(json["granted"], true);
    let (_, json, _) = grant(&[
        "--email",
        "amt@example.org",
        "--role",
        "clerk",
        "--tenant",
        "gemeinde-a",
    ]);
    assert_eq!(json["granted"], false, "granting twice changes nothing");
    let (ok, json, _) = grant(&["--email", "AMT@example.org", "--role", "auditor"]);
    assert!(ok && json["granted"] == true);

    let (ok, list, err) = app.cli(&["admin", "list"], None);
    assert!(ok, "{err}");
    let list = list.as_array().expect("array").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list.iter().any(|g| g["role"] == "clerk"
            && g["tenant"] == "gemeinde-a"
            && g["granted_by"] == "cli")
    );
    assert!(
        list.iter()
            .any(|g| g["role"] == "auditor" && g["tenant"].is_null())
    );

    let (ok, json, _) = app.cli(
        &[
            "admin",
            "revoke",
            "--email",
            "amt@example.org",
            "--role",
            "clerk",
            "--tenant",
            "gemeinde-a",
        ],
        None,
    );
    assert!(ok && json["revoked"] == true);
    let (_, json, _) = app.cli(
        &[
            "admin",
            "revoke",
            "--email",
            "amt@example.org",
            "--role",
            "clerk",
            "--tenant",
            "gemeinde-a",
        ],
        None,
    );
    assert_eq!(json["revoked"], false);
    let (_, list, _) = app.cli(&["admin", "list"], None);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_console_needs_a_role_and_substantial_with_a_second_factor() {
    let mut app = spawn_app().await;
    // Signed out: to the login.
    let r = app.get("/admin").await;
    assert_eq!(location(&r), "/login");
    // A citizen without a role.
    app.register_and_verify("buerger@example.org", PW).await;
    let r = app.get("/admin").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("page").contains("keine Rolle"));
    // A role, but only a password and an unconfirmed identity: told what is missing.
    let (ok, _, _) = app.cli(
        &[
            "admin",
            "grant",
            "--email",
            "buerger@example.org",
            "--role",
            "auditor",
        ],
        None,
    );
    assert!(ok);
    let r = app.get("/admin").await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.expect("page");
    assert!(page.contains("zweiten Faktor"), "{page}");
    // Confirmed identity and TOTP, but this session gave only the password: the step-up
    // is offered and returns to the console.
    assert!(verify_identity(&app, "buerger@example.org", "substantial").0);
    let (secret, step, _) = enrol_totp(&app).await;
    app.reset_browser();
    assert_eq!(app.login("", "buerger@example.org", PW).await.status(), 303);
    let page = app.get("/login/otp").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let code = format!("{:06}", code_at(&secret, step + 1));
    let r = app
        .post_form(
            "/login/otp",
            &[
                ("csrf", &csrf),
                ("req", ""),
                ("code", &code),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin", "the step-up returns to the console");
    let r = app.get("/admin").await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Revision (nur lesen)"),
        "the overview names the roles"
    );
    assert!(page.contains("aria-current=\"page\""));
    assert!(
        !page.contains("/admin/kommunen\""),
        "an auditor is not offered the tenants"
    );
    // The step-up never returns outside the console's paths.
    for evil in [
        "//evil.example/admin",
        "/admin/../konto",
        "/admin?x=https://evil.example",
        "/administrator\\x",
    ] {
        let page = app
            .get(&format!("/login/otp?next={}", urlencoding(evil)))
            .await
            .text()
            .await
            .expect("page");
        assert_eq!(hidden(&page, "next").unwrap_or_default(), "", "{evil}");
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_kommune_admin_stays_in_its_tenant_and_grave_actions_need_a_fresh_factor() {
    let mut app = spawn_app_configured(Backend::Default, |raw| raw.admin_fresh_secs = 2).await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let verbund = admin(&mut app, "verbund@example.org", "verbund_admin", None).await;
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;

    // The Kommune admin sees and edits its own tenant only.
    app.as_admin(&kommune);
    let list = app.get("/admin/kommunen").await.text().await.expect("page");
    assert!(
        list.contains("Gemeinde A") && !list.contains("Gemeinde B"),
        "{list}"
    );
    assert!(
        !list.contains("action=\"/admin/kommunen\""),
        "no form to create tenants"
    );
    assert_eq!(app.get("/admin/kommunen/gemeinde-b").await.status(), 404);
    assert_eq!(app.get("/admin/kommunen/gibt-es-nicht").await.status(), 404);
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen/gemeinde-b",
        &[("name", "Übernommen")],
    )
    .await;
    assert_eq!(r.status(), 404, "another tenant cannot be touched");
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen",
        &[("slug", "neu"), ("name", "Neu")],
    )
    .await;
    assert_eq!(r.status(), 403, "only the Verbund creates tenants");
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen/gemeinde-a/sperren",
        &[("action", "disable")],
    )
    .await;
    assert_eq!(r.status(), 403, "only the Verbund disables tenants");

    // Its face: the accent colour must be readable on white; nothing is stored on error.
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen/gemeinde-a",
        &[
            ("name", "Gemeinde A"),
            ("accent_color", "#ffff00"),
            ("support_contact", "Bürgerbüro, 05931 44-0"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("4,5:1") && page.contains("role=\"alert\""),
        "{page}"
    );
    assert!(
        page.contains("value=\"Bürgerbüro, 05931 44-0\""),
        "the typed values are kept"
    );
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen/gemeinde-a",
        &[
            ("name", "Gemeinde Beispielheim"),
            ("accent_color", "#1F4E79"),
            ("support_contact", "<script>alert(1)</script>"),
            ("impressum_url", "https://beispielheim.example/impressum"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/kommunen/gemeinde-a?ok=saved");
    let page = app.get(&location(&r)).await.text().await.expect("page");
    assert!(page.contains("Gespeichert.") && page.contains("value=\"#1f4e79\""));
    assert!(
        !page.contains("<script>alert"),
        "branding is text, never markup"
    );

    // Roles: within its tenant, and never the Verbund's.
    let r = console_post(
        &app,
        "/admin/rollen",
        "/admin/rollen",
        &[
            ("email", "kommune@example.org"),
            ("role", "clerk"),
            ("tenant", "gemeinde-b"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = console_post(
        &app,
        "/admin/rollen",
        "/admin/rollen",
        &[
            ("email", "kommune@example.org"),
            ("role", "verbund_admin"),
            ("tenant", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = console_post(
        &app,
        "/admin/rollen",
        "/admin/rollen",
        &[
            ("email", "niemand@example.org"),
            ("role", "clerk"),
            ("tenant", "gemeinde-a"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = console_post(
        &app,
        "/admin/rollen",
        "/admin/rollen",
        &[
            ("email", "kommune@example.org"),
            ("role", "clerk"),
            ("tenant", "gemeinde-a"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/rollen?ok=granted");
    let roles = app.get("/admin/rollen").await.text().await.expect("page");
    assert!(
        !roles.contains("verbund@example.org"),
        "the Verbund's roles are not its business"
    );

    // After the fresh window, a revocation is refused until the factor is given again.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let form = [
        ("email", "kommune@example.org"),
        ("role", "clerk"),
        ("tenant", "gemeinde-a"),
    ];
    let r = console_post(&app, "/admin/rollen", "/admin/rollen/entziehen", &form).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.expect("page");
    assert!(page.contains("/login/otp?next=%2Fadmin%2Frollen"), "{page}");
    let (ok, list, _) = app.cli(&["admin", "list"], None);
    assert!(
        ok && list.as_array().is_some_and(|l| l.len() == 3),
        "nothing was revoked: {list}"
    );
    let step_up = app
        .get("/login/otp?next=%2Fadmin%2Frollen")
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&step_up, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login/otp",
            &[
                ("csrf", &csrf),
                ("req", ""),
                ("next", "/admin/rollen"),
                ("code", &kommune.recovery[0]),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/rollen");
    let r = console_post(&app, "/admin/rollen", "/admin/rollen/entziehen", &form).await;
    assert_eq!(location(&r), "/admin/rollen?ok=revoked");

    // The Verbund admin creates and disables tenants; every action is audited with its actor.
    app.as_admin(&verbund);
    let r = console_post(
        &app,
        "/admin/kommunen",
        "/admin/kommunen",
        &[("slug", "Nicht Gut"), ("name", "X")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = console_post(
        &app,
        "/admin/kommunen",
        "/admin/kommunen",
        &[("slug", "gemeinde-b"), ("name", "Doppelt")],
    )
    .await;
    assert_eq!(r.status(), 400, "the slug is taken");
    let r = console_post(
        &app,
        "/admin/kommunen",
        "/admin/kommunen",
        &[("slug", "samtgemeinde-c"), ("name", "Samtgemeinde C")],
    )
    .await;
    assert_eq!(location(&r), "/admin/kommunen/samtgemeinde-c?ok=created");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = console_post(
        &app,
        "/admin/kommunen/samtgemeinde-c",
        "/admin/kommunen/samtgemeinde-c/sperren",
        &[("action", "disable")],
    )
    .await;
    assert_eq!(r.status(), 403, "disabling needs a fresh factor");
    let step_up = app
        .get("/login/otp?next=%2Fadmin%2Fkommunen%2Fsamtgemeinde-c")
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&step_up, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/login/otp",
            &[
                ("csrf", &csrf),
                ("req", ""),
                ("next", "/admin/kommunen/samtgemeinde-c"),
                ("code", &verbund.recovery[0]),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/kommunen/samtgemeinde-c");
    let r = console_post(
        &app,
        "/admin/kommunen/samtgemeinde-c",
        "/admin/kommunen/samtgemeinde-c/sperren",
        &[("action", "disable")],
    )
    .await;
    assert_eq!(location(&r), "/admin/kommunen/samtgemeinde-c?ok=disabled");
    let overview = app.get("/admin").await.text().await.expect("page");
    assert!(overview.contains("gesperrt: Samtgemeinde C"), "{overview}");
    let (_, tenants, _) = app.cli(&["tenant", "list"], None);
    assert!(tenants.as_array().is_some_and(|ts| ts.len() == 3));
}

#[tokio::test]
async fn clerks_and_auditors_change_nothing_outside_their_role() {
    let mut app = spawn_app().await;
    let clerk = admin(&mut app, "clerk@example.org", "clerk", Some("gemeinde-a")).await;
    let auditor = admin(&mut app, "revision@example.org", "auditor", None).await;
    for who in [&clerk, &auditor] {
        app.as_admin(who);
        assert_eq!(app.get("/admin").await.status(), 200);
        assert_eq!(app.get("/admin/kommunen/gemeinde-a").await.status(), 403);
        assert_eq!(app.get("/admin/rollen").await.status(), 403);
        assert_eq!(
            app.get("/admin/portale").await.status(),
            403,
            "a clerk registers no clients"
        );
        assert_eq!(
            app.get("/admin/portale/neu?kommune=gemeinde-a")
                .await
                .status(),
            403
        );
        assert_eq!(app.get("/admin/verfahren").await.status(), 403);
        let csrf = app.csrf_of("/konto").await;
        for (action, form) in [
            ("/admin/kommunen", vec![("slug", "neu"), ("name", "Neu")]),
            ("/admin/kommunen/gemeinde-a", vec![("name", "Anders")]),
            (
                "/admin/kommunen/gemeinde-a/sperren",
                vec![("action", "disable")],
            ),
            (
                "/admin/portale",
                vec![
                    ("kommune", "gemeinde-a"),
                    ("name", "X"),
                    ("scopes", "mailbox.send"),
                    ("grant_client_credentials", "1"),
                ],
            ),
            (
                "/admin/verfahren",
                vec![("id", "x"), ("kommune", "gemeinde-a"), ("level", "high")],
            ),
            (
                "/admin/rollen",
                vec![
                    ("email", "clerk@example.org"),
                    ("role", "kommune_admin"),
                    ("tenant", "gemeinde-a"),
                ],
            ),
        ] {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(form);
            let r = app.post_form(action, &all).await;
            assert_eq!(r.status(), 403, "{action}");
        }
    }
    // A form without the CSRF token is refused before anything else.
    let r = app
        .post_form(
            "/admin/rollen",
            &[("email", "x@example.org"), ("role", "auditor")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, tenants, _) = app.cli(&["tenant", "list"], None);
    assert_eq!(tenants[0]["name"], "Gemeinde A", "nothing changed");
    let (_, roles, _) = app.cli(&["admin", "list"], None);
    assert_eq!(roles.as_array().map(Vec::len), Some(2));
}

/// The value of `<code ... id="ID">VALUE</code>` on a page.
fn code_by_id(page: &str, id: &str) -> Option<String> {
    let start = page.find(&format!("id=\"{id}\">"))? + id.len() + 6;
    let end = page[start..].find('<')?;
    Some(page[start..start + end].to_owned())
}

async fn cc_status(app: &TestApp, id: &str, secret: &str) -> u16 {
    let c = crate::helpers::TestClient {
        id: id.to_owned(),
        secret: Some(secret.to_owned()),
        redirect_uri: String::new(),
    };
    let (s, _, _) = crate::helpers::token(
        app,
        Some(crate::helpers::basic(&c)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    s
}

#[tokio::test]
async fn a_kommune_admin_registers_rotates_disables_and_deletes_its_own_clients_only() {
    let mut app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let other = app.add_service_client("gemeinde-b", &["--scope", "mailbox.send"]);
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    let verbund = admin(&mut app, "verbund@example.org", "verbund_admin", None).await;
    app.as_admin(&kommune);

    // Another tenant's clients: not listed, not shown, not touched.
    let list = app.get("/admin/portale").await.text().await.expect("page");
    assert!(
        list.contains("Gemeinde A") && !list.contains("Gemeinde B"),
        "{list}"
    );
    assert_eq!(
        app.get(&format!("/admin/portale/{}", other.id))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/admin/portale?kommune=gemeinde-b").await.status(),
        404
    );
    assert_eq!(
        app.get("/admin/portale/neu?kommune=gemeinde-b")
            .await
            .status(),
        404
    );
    let csrf = app.csrf_of("/admin/kommunen/gemeinde-a").await;
    for path in ["", "/geheimnis", "/sperren", "/loeschen"] {
        let r = app
            .post_form(
                &format!("/admin/portale/{}{path}", other.id),
                &[
                    ("csrf", &csrf),
                    ("name", "X"),
                    ("confirm", "yes"),
                    ("overlap_hours", "1"),
                ],
            )
            .await;
        assert_eq!(r.status(), 404, "{path}");
    }
    assert_eq!(
        cc_status(&app, &other.id, other.secret.as_deref().unwrap_or("")).await,
        200,
        "untouched"
    );

    // Registering: a wrong redirect URI is explained in German and the input is kept; the
    // Verbund's scopes are not a Kommune admin's to give.
    let page = app
        .get("/admin/portale/neu?kommune=gemeinde-a")
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/admin/portale",
            &[
                ("csrf", &csrf),
                ("kommune", "gemeinde-a"),
                ("name", "Hundesteuer online"),
                ("redirect_uris", "javascript:alert(1)"),
                ("scopes", "openid email"),
                ("grant_authorization_code", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("page");
    assert!(
        body.contains("Die Angaben sind so nicht gültig") && body.contains("Hundesteuer online"),
        "{body}"
    );
    let r = app
        .post_form(
            "/admin/portale",
            &[
                ("csrf", &csrf),
                ("kommune", "gemeinde-a"),
                ("name", "Ebenen"),
                ("scopes", "catalogue.admin"),
                ("grant_client_credentials", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form(
            "/admin/portale",
            &[
                ("csrf", &csrf),
                ("kommune", "gemeinde-a"),
                ("name", "Fachverfahren Hund"),
                ("scopes", "mailbox.send"),
                ("grant_client_credentials", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    let id = code_by_id(&page, "client-id").expect("client id shown");
    let first = code_by_id(&page, "client-secret").expect("secret shown once");
    assert_eq!(cc_status(&app, &id, &first).await, 200);
    // The last use is written in the background, at most once a minute.
    let mut shown = String::new();
    for _ in 0..40 {
        shown = app
            .get(&format!("/admin/portale/{id}"))
            .await
            .text()
            .await
            .expect("page");
        if !shown.contains("noch nie") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!shown.contains(&first), "the secret is never shown again");
    assert!(
        shown.contains("Fachverfahren") && !shown.contains("noch nie"),
        "last use is shown: {shown}"
    );

    // Rotation with an overlap: both work; without: only the new one.
    let csrf = hidden(&shown, "csrf").expect("csrf");
    let page = app
        .post_form(
            &format!("/admin/portale/{id}/geheimnis"),
            &[("csrf", &csrf), ("overlap_hours", "24")],
        )
        .await
        .text()
        .await
        .expect("page");
    let second = code_by_id(&page, "client-secret").expect("new secret");
    assert_ne!(first, second);
    assert_eq!(
        cc_status(&app, &id, &first).await,
        200,
        "the old secret works during the overlap"
    );
    assert_eq!(cc_status(&app, &id, &second).await, 200);
    let r = app
        .post_form(
            &format!("/admin/portale/{id}/geheimnis"),
            &[("csrf", &csrf), ("overlap_hours", "721")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let page = app
        .post_form(
            &format!("/admin/portale/{id}/geheimnis"),
            &[("csrf", &csrf), ("overlap_hours", "0")],
        )
        .await
        .text()
        .await
        .expect("page");
    let third = code_by_id(&page, "client-secret").expect("new secret");
    for old in [&first, &second] {
        assert_eq!(
            cc_status(&app, &id, old).await,
            401,
            "no overlap: the old secrets end at once"
        );
    }
    assert_eq!(cc_status(&app, &id, &third).await, 200);

    // Editing keeps the rules of a registration.
    let r = app
        .post_form(
            &format!("/admin/portale/{id}"),
            &[
                ("csrf", &csrf),
                ("name", "Fachverfahren Hund"),
                ("scopes", "mailbox.send"),
                ("grant_refresh_token", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400, "refresh_token without authorization_code");
    let r = app
        .post_form(
            &format!("/admin/portale/{id}"),
            &[
                ("csrf", &csrf),
                ("name", "Fachverfahren Hundesteuer"),
                ("scopes", "mailbox.send mailbox.read"),
                ("grant_client_credentials", "1"),
                ("default_level", "substantial"),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("/admin/portale/{id}?ok=saved"));
    let shown = app.get(&location(&r)).await.text().await.expect("page");
    assert!(
        shown.contains("value=\"mailbox.read mailbox.send\"")
            || shown.contains("value=\"mailbox.send mailbox.read\""),
        "{shown}"
    );

    // Disabled: refused at once; enabled: back.
    let r = app
        .post_form(
            &format!("/admin/portale/{id}/sperren"),
            &[("csrf", &csrf), ("action", "disable")],
        )
        .await;
    assert_eq!(location(&r), format!("/admin/portale/{id}?ok=disabled"));
    assert_eq!(cc_status(&app, &id, &third).await, 401);
    let r = app
        .post_form(
            &format!("/admin/portale/{id}/sperren"),
            &[("csrf", &csrf), ("action", "enable")],
        )
        .await;
    assert_eq!(location(&r), format!("/admin/portale/{id}?ok=enabled"));
    assert_eq!(cc_status(&app, &id, &third).await, 200);

    // A disabled tenant's clients are refused too.
    app.as_admin(&verbund);
    let vcsrf = app.csrf_of("/admin/kommunen/gemeinde-a").await;
    let r = app
        .post_form(
            "/admin/kommunen/gemeinde-a/sperren",
            &[("csrf", &vcsrf), ("action", "disable")],
        )
        .await;
    assert_eq!(location(&r), "/admin/kommunen/gemeinde-a?ok=disabled");
    assert_eq!(cc_status(&app, &id, &third).await, 401);
    let r = app
        .post_form(
            "/admin/kommunen/gemeinde-a/sperren",
            &[("csrf", &vcsrf), ("action", "enable")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(cc_status(&app, &id, &third).await, 200);

    // Deleting needs the confirmation.
    app.as_admin(&kommune);
    let r = app
        .post_form(&format!("/admin/portale/{id}/loeschen"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(cc_status(&app, &id, &third).await, 200);
    let r = app
        .post_form(
            &format!("/admin/portale/{id}/loeschen"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(location(&r), "/admin/portale?ok=deleted");
    assert_eq!(cc_status(&app, &id, &third).await, 401);
    assert_eq!(app.get(&format!("/admin/portale/{id}")).await.status(), 404);
}

/// Posts to the clerk desk.
async fn desk(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    console_post(app, "/admin/buergerservice", "/admin/buergerservice", form).await
}

#[tokio::test]
async fn a_clerk_checks_identities_and_helps_only_its_kommunes_citizens() {
    let mut app = spawn_app_configured(Backend::Default, |raw| {
        raw.login_max_failures_per_account = 3
    })
    .await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let clerk_a = admin(&mut app, "clerk-a@example.org", "clerk", Some("gemeinde-a")).await;
    let clerk_b = admin(&mut app, "clerk-b@example.org", "clerk", Some("gemeinde-b")).await;
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    let verbund = admin(&mut app, "verbund@example.org", "verbund_admin", None).await;
    app.register_and_verify("buergerin@example.org", PW).await;
    let citizen = std::mem::replace(&mut app.browser, browser_client());
    let citizen = AdminBrowser {
        browser: citizen,
        recovery: Vec::new(),
    };

    // A Kommune admin has no desk.
    app.as_admin(&kommune);
    assert_eq!(app.get("/admin/buergerservice").await.status(), 403);

    // Not yet the Kommune's citizen: not found, but the check is offered.
    app.as_admin(&clerk_a);
    let r = desk(
        &app,
        &[
            ("action", "find"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Kein Konto Ihrer Kommune") && page.contains("Identität vor Ort prüfen"),
        "{page}"
    );
    assert!(!page.contains("Sitzungen beenden"));
    for (field, value) in [
        ("level", "low"),
        ("document_type", "bibliotheksausweis"),
        ("birthdate", "17.05.1980"),
    ] {
        let mut form = vec![
            ("action", "check"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
            ("level", "substantial"),
            ("document_type", "personalausweis"),
        ];
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let r = desk(&app, &form).await;
        assert_eq!(r.status(), 400, "{field}");
    }
    let r = desk(
        &app,
        &[
            ("action", "check"),
            ("kommune", "gemeinde-b"),
            ("email", "buergerin@example.org"),
            ("level", "substantial"),
            ("document_type", "personalausweis"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404, "not the desk of another Kommune");
    let r = desk(
        &app,
        &[
            ("action", "check"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
            ("level", "substantial"),
            ("document_type", "personalausweis"),
            ("given_name", "Erika"),
            ("family_name", "Mustermann"),
            ("birthdate", "1980-05-17"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Die Identitätsprüfung wurde gespeichert."),
        "{page}"
    );
    assert!(
        page.contains("clerk-a@example.org (gemeinde-a)"),
        "the clerk is the signed-in admin"
    );
    assert!(page.contains("<dd>substanziell</dd>"), "{page}");
    assert!(page.contains("account.identity_verified"));

    // The other Kommune's clerk still sees nothing and can do nothing.
    app.as_admin(&clerk_b);
    for action in ["find", "unlock", "end", "resend"] {
        let r = desk(
            &app,
            &[
                ("action", action),
                ("kommune", "gemeinde-b"),
                ("email", "buergerin@example.org"),
            ],
        )
        .await;
        assert_eq!(r.status(), 404, "{action}");
        assert!(!r.text().await.expect("page").contains("Erika"));
    }
    let r = desk(
        &app,
        &[
            ("action", "find"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404, "another tenant named in the form");

    // Locked out after failed passwords; the clerk lifts the lock.
    app.reset_browser();
    for _ in 0..3 {
        assert_eq!(
            app.login("", "buergerin@example.org", "falsch falsch falsch")
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        app.login("", "buergerin@example.org", PW).await.status(),
        429
    );
    app.as_admin(&clerk_a);
    let r = desk(
        &app,
        &[
            ("action", "unlock"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Die Sperre ist aufgehoben.")
    );
    app.reset_browser();
    assert_eq!(
        app.login("", "buergerin@example.org", PW).await.status(),
        303
    );

    // Ending every session signs the citizen out everywhere.
    app.as_admin(&citizen);
    assert_eq!(app.get("/konto").await.status(), 200);
    app.as_admin(&clerk_a);
    let r = desk(
        &app,
        &[
            ("action", "end"),
            ("kommune", "gemeinde-a"),
            ("email", "buergerin@example.org"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Sitzungen beendet: 2")
    );
    app.as_admin(&citizen);
    assert_eq!(location(&app.get("/konto").await), "/login");

    // An unconfirmed account: the Verbund's desk sends the link again, once per interval;
    // its identity cannot be checked before.
    app.reset_browser();
    assert_eq!(app.register("neu@example.org", PW).await.status(), 200);
    app.as_admin(&verbund);
    let r = desk(
        &app,
        &[
            ("action", "check"),
            ("kommune", "gemeinde-a"),
            ("email", "neu@example.org"),
            ("level", "substantial"),
            ("document_type", "reisepass"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("noch nicht bestätigt")
    );
    let before = app.mails().len();
    let r = desk(
        &app,
        &[
            ("action", "resend"),
            ("kommune", "gemeinde-a"),
            ("email", "neu@example.org"),
        ],
    )
    .await;
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Es wurde kein Link gesendet"),
        "the registration's link went out just now"
    );
    assert_eq!(app.mails().len(), before);
}

#[tokio::test]
async fn the_audit_log_is_filtered_within_the_readers_reach_and_exported_as_csv() {
    let mut app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    let auditor = admin(&mut app, "revision@example.org", "auditor", None).await;
    let clerk = admin(&mut app, "clerk@example.org", "clerk", Some("gemeinde-a")).await;
    app.as_admin(&kommune);
    let r = console_post(
        &app,
        "/admin/rollen",
        "/admin/rollen",
        &[
            ("email", "clerk@example.org"),
            ("role", "auditor"),
            ("tenant", "gemeinde-a"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/rollen?ok=granted");

    // The Kommune admin reads its Kommune's entries, with the actor; not another's.
    let page = app
        .get("/admin/protokoll?kind=admin.")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("admin.role_granted") && page.contains("kommune@example.org"),
        "{page}"
    );
    assert_eq!(
        app.get("/admin/protokoll?kommune=gemeinde-b")
            .await
            .status(),
        403
    );
    assert_eq!(
        app.get("/admin/protokoll.csv?kommune=gemeinde-b")
            .await
            .status(),
        403
    );
    assert!(
        !page.contains("<option value=\"\">"),
        "no \"all\" choice for a Kommune's reader"
    );
    assert_eq!(
        app.get("/admin/protokoll?from=04.12.2026").await.status(),
        400
    );
    assert_eq!(
        app.get("/admin/protokoll?kind=%27%3B--").await.status(),
        400
    );

    // A clerk has no audit log (until it is granted one).
    app.as_admin(&clerk);
    let page = app
        .get("/admin/protokoll")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("admin.role_granted"),
        "the clerk is now the Kommune's auditor too"
    );

    // The Verbund's auditor reads everything, filters by actor and day, and exports.
    app.as_admin(&auditor);
    // The console counts days in German civil time.
    let today = buergerkonto::domain::civil::german_time(chrono::Utc::now())
        .format("%Y-%m-%d")
        .to_string();
    let page = app
        .get(&format!(
            "/admin/protokoll?actor=kommune%40example.org&from={today}&until={today}"
        ))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("admin.role_granted"));
    assert!(
        !page.contains("<code>account.login</code>"),
        "only the actor's entries"
    );
    let page = app
        .get("/admin/protokoll?actor=niemand%40example.org")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Keine Einträge"));
    let r = app.get("/admin/protokoll.csv?kind=admin.role").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap_or("")
            .contains("attachment")
    );
    let csv = r.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "at,kind,tenant,actor,account,client_id,detail");
    assert_eq!(
        lines.len(),
        5,
        "one grant in the console, four by the CLI: {csv}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"cli\",")).count(),
        3,
        "{csv}"
    );
    assert!(
        lines[1].contains(
            "\"admin.role_granted\",\"gemeinde-a\",\"kommune@example.org\",\"clerk@example.org\""
        ),
        "{csv}"
    );
    // The export itself is audited with its reader.
    let page = app
        .get("/admin/protokoll?kind=admin.audit_exported")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("revision@example.org"), "{page}");
    // An auditor changes nothing.
    let csrf = app.csrf_of("/konto").await;
    let r = app
        .post_form(
            "/admin/rollen",
            &[
                ("csrf", &csrf),
                ("email", "revision@example.org"),
                ("role", "verbund_admin"),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn process_levels_are_set_by_the_verbund_and_raised_by_a_kommune_only_for_itself() {
    let mut app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let verbund = admin(&mut app, "verbund@example.org", "verbund_admin", None).await;
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    app.as_admin(&verbund);
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "Hunde Steuer"),
            ("name", "Hundesteuer"),
            ("level", "low"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        400,
        "an id is lower-case letters, digits and hyphens"
    );
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("name", "Hundesteuer anmelden"),
            ("level", "low"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/verfahren?ok=saved");
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("kommune", "gemeinde-b"),
            ("level", "high"),
        ],
    )
    .await;
    assert_eq!(
        location(&r),
        "/admin/verfahren?ok=saved",
        "the Verbund may raise for any Kommune"
    );

    app.as_admin(&kommune);
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[("id", "hundesteuer"), ("name", "Anders"), ("level", "high")],
    )
    .await;
    assert_eq!(r.status(), 403, "the Verbund's level is not a Kommune's");
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("kommune", "gemeinde-b"),
            ("level", "low"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404, "another Kommune's raise");
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "gibt-es-nicht"),
            ("kommune", "gemeinde-a"),
            ("level", "high"),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        400,
        "only the Verbund's processes can be raised"
    );
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("kommune", "gemeinde-a"),
            ("level", "substantial"),
        ],
    )
    .await;
    assert_eq!(location(&r), "/admin/verfahren?ok=saved");
    let page = app
        .get("/admin/verfahren?q=HUNDE")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Hundesteuer anmelden") && page.contains("Gemeinde A: substanziell"),
        "{page}"
    );
    assert!(
        page.contains("von kommune@example.org") && page.contains("von verbund@example.org"),
        "{page}"
    );
    assert!(
        !page.contains("Gemeinde B"),
        "another Kommune's raise is not shown"
    );
    assert!(
        app.get("/admin/verfahren?q=%25")
            .await
            .text()
            .await
            .expect("page")
            .contains("Keine Verfahren"),
        "a % is searched for, not a wildcard"
    );
    // What portals see: the raise applies to the Kommune's portals only.
    let level = |tenant: &'static str| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(app.url(&format!("/api/v1/processes/hundesteuer?tenant={tenant}")))
                .send()
                .await
                .expect("get");
            r.json::<serde_json::Value>().await.expect("json")["level"].clone()
        }
    };
    assert_eq!(level("gemeinde-a").await, "substantial");
    assert_eq!(level("gemeinde-b").await, "high");
    // Lowering below the Verbund's level is refused.
    app.as_admin(&verbund);
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("name", "Hundesteuer anmelden"),
            ("level", "high"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    app.as_admin(&kommune);
    let r = console_post(
        &app,
        "/admin/verfahren",
        "/admin/verfahren",
        &[
            ("id", "hundesteuer"),
            ("kommune", "gemeinde-a"),
            ("level", "substantial"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("page").contains("nie senken"));
}

const SVG_LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#1f4e79"/></svg>"##;

async fn upload_logo(app: &TestApp, slug: &str, bytes: &[u8], name: &str) -> reqwest::Response {
    let csrf = app.csrf_of(&format!("/admin/kommunen/{slug}")).await;
    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "logo",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
    );
    app.browser
        .post(app.url(&format!("/admin/kommunen/{slug}/logo")))
        .multipart(form)
        .send()
        .await
        .expect("upload")
}

#[tokio::test]
async fn the_login_shows_the_kommunes_face_and_the_verbunds_without_a_portal() {
    let dir = tempfile::tempdir().expect("dir");
    let verbund_logo = dir.path().join("verbund.svg");
    std::fs::write(&verbund_logo, SVG_LOGO).expect("write");
    let logo_path = verbund_logo.display().to_string();
    let mut app = spawn_app_configured(Backend::Default, move |raw| {
        raw.verbund_name = "Bürgerkonto Landkreis Emsland".into();
        raw.verbund_logo = logo_path;
    })
    .await;
    let kommune = admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    let client = app.add_client("gemeinde-a", &[]).await;
    app.as_admin(&kommune);

    // Logos: harmless PNG or SVG only.
    for (bad, name) in [
        (r#"<svg onload="alert(1)"/>"#.as_bytes(), "x.svg"),
        (
            br#"<svg><image href="https://tracker.example/p.png"/></svg>"#.as_slice(),
            "x.svg",
        ),
        (b"GIF89a....".as_slice(), "x.gif"),
    ] {
        let r = upload_logo(&app, "gemeinde-a", bad, name).await;
        assert_eq!(r.status(), 400, "{name}");
    }
    let r = upload_logo(&app, "gemeinde-a", &vec![b' '; 300 * 1024], "big.svg").await;
    assert_eq!(r.status(), 400, "too large");
    let r = upload_logo(&app, "gemeinde-a", SVG_LOGO.as_bytes(), "wappen.svg").await;
    assert_eq!(location(&r), "/admin/kommunen/gemeinde-a?ok=logo");
    let r = console_post(
        &app,
        "/admin/kommunen/gemeinde-a",
        "/admin/kommunen/gemeinde-a",
        &[
            ("name", "Gemeinde Beispielheim"),
            ("accent_color", "#7a1f1f"),
            ("support_contact", "Bürgerbüro <b>05931</b> 44-0"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);

    // The logo and the colour, served safely.
    let r = app
        .http
        .get(app.url("/kommune/gemeinde-a/logo"))
        .send()
        .await
        .expect("logo");
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap_or("")
            .contains("sandbox")
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.text().await.expect("svg"), SVG_LOGO);
    let css = app
        .http
        .get(app.url("/kommune/gemeinde-a/farbe.css"))
        .send()
        .await
        .expect("css")
        .text()
        .await
        .expect("css");
    assert_eq!(css.trim(), ":root { --accent: #7a1f1f; }");
    assert_eq!(
        app.http
            .get(app.url("/kommune/gemeinde-b/logo"))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(
        app.http
            .get(app.url("/kommune/..%2F/logo"))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );

    // The portal's login page: the Kommune's name with the portal's, logo, colour, support.
    app.reset_browser();
    let rp = crate::helpers::rp::discover(&app, &client).await;
    let flow = crate::helpers::rp::start(&rp, &["email"], &[]);
    let login = location(&app.get(&flow.url).await);
    let page = app.get(&login).await.text().await.expect("page");
    assert!(
        page.contains("Anmeldung für Bürgerportal Test – Gemeinde Beispielheim"),
        "{page}"
    );
    assert!(page.contains("src=\"/kommune/gemeinde-a/logo\""));
    assert!(page.contains("href=\"/kommune/gemeinde-a/farbe.css\""));
    assert!(
        page.contains("Bürgerbüro &#60;b&#62;05931&#60;/b&#62; 44-0"),
        "branding is text: {page}"
    );
    let req = crate::helpers::query_param(&login, "req").expect("req");
    let register = app
        .get(&format!("/register?req={req}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        register.contains("– Gemeinde Beispielheim")
            && register.contains("/kommune/gemeinde-a/logo")
    );
    // The confirmation mail names the portal and its Kommune too.
    let csrf = hidden(&register, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("email", "neu@example.org"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        app.wait_for_link("neu@example.org", "/verify-email")
            .await
            .is_some()
    );
    let mail = app
        .mails()
        .into_iter()
        .find(|m| m.contains("neu@example.org"))
        .expect("mail");
    assert!(
        mail.replace("=\r\n", "")
            .replace("=\n", "")
            .contains("Beispielheim"),
        "{mail}"
    );

    // Without a portal: the Verbund's neutral face.
    let page = app.get("/login").await.text().await.expect("page");
    assert!(
        page.contains("Bürgerkonto Landkreis Emsland") && page.contains("src=\"/verbund/logo\""),
        "{page}"
    );
    assert!(!page.contains("Beispielheim"));
    let r = app
        .http
        .get(app.url("/verbund/logo"))
        .send()
        .await
        .expect("logo");
    assert_eq!(r.headers()["content-type"], "image/svg+xml");

    // Removing the logo.
    app.as_admin(&kommune);
    let csrf = app.csrf_of("/admin/kommunen/gemeinde-a").await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("remove", "1");
    let r = app
        .browser
        .post(app.url("/admin/kommunen/gemeinde-a/logo"))
        .multipart(form)
        .send()
        .await
        .expect("remove");
    assert_eq!(location(&r), "/admin/kommunen/gemeinde-a?ok=logo_removed");
    assert_eq!(
        app.http
            .get(app.url("/kommune/gemeinde-a/logo"))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    // A form without its token changes nothing.
    let form = reqwest::multipart::Form::new().part(
        "logo",
        reqwest::multipart::Part::bytes(SVG_LOGO.as_bytes().to_vec()),
    );
    let r = app
        .browser
        .post(app.url("/admin/kommunen/gemeinde-a/logo"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_cli_lists_shows_updates_disables_and_deletes_tenants_clients_and_accounts() {
    let app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let sys = app.add_service_client("gemeinde-a", &["--scope", "mailbox.send"]);
    let secret = sys.secret.clone().unwrap_or_default();
    let cli = |args: &[&str]| app.cli(args, None);

    // Tenants.
    let (ok, t, err) = cli(&["tenant", "show", "--slug", "gemeinde-a"]);
    assert!(ok, "{err}");
    assert_eq!(t["name"], "Gemeinde A");
    let (ok, _, err) = cli(&[
        "tenant",
        "update",
        "--slug",
        "gemeinde-a",
        "--accent-color",
        "#eeeeee",
    ]);
    assert!(!ok && err.contains("4.5:1"), "{err}");
    let (ok, t, _) = cli(&[
        "tenant",
        "update",
        "--slug",
        "gemeinde-a",
        "--name",
        "Gemeinde Beispielheim",
        "--accent-color",
        "#1f4e79",
    ]);
    assert!(ok);
    assert_eq!(
        (t["name"].as_str(), t["accent_color"].as_str()),
        (Some("Gemeinde Beispielheim"), Some("#1f4e79"))
    );
    let (ok, _, err) = cli(&["tenant", "show", "--slug", "gibt-es-nicht"]);
    assert!(!ok && err.contains("not found"), "{err}");

    // Clients: list, update under the registration's rules, rotate, disable, delete.
    let (ok, list, _) = cli(&["client", "list", "--tenant", "gemeinde-a"]);
    assert!(
        ok && list
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["client_id"] == sys.id.as_str()))
    );
    let (ok, _, err) = cli(&[
        "client",
        "update",
        "--id",
        &sys.id,
        "--grant-type",
        "refresh_token",
    ]);
    assert!(!ok && err.contains("refresh_token"), "{err}");
    let (ok, c, _) = cli(&[
        "client",
        "update",
        "--id",
        &sys.id,
        "--scope",
        "mailbox.send",
        "--scope",
        "mailbox.read",
        "--default-level",
        "substantial",
    ]);
    assert!(ok);
    assert_eq!(
        c["scopes"],
        serde_json::json!(["mailbox.read", "mailbox.send"])
    );
    assert_eq!(c["default_level"], "substantial");
    let (ok, rotated, _) = cli(&[
        "client",
        "rotate-secret",
        "--id",
        &sys.id,
        "--overlap-hours",
        "0",
    ]);
    assert!(ok);
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(cc_status(&app, &sys.id, &secret).await, 401);
    assert_eq!(cc_status(&app, &sys.id, &new_secret).await, 200);
    let (ok, _, _) = cli(&["client", "disable", "--id", &sys.id]);
    assert!(ok);
    // Another process (the CLI) changed it: this instance sees it within the client cache.
    tokio::time::sleep(std::time::Duration::from_millis(10_100)).await;
    assert_eq!(cc_status(&app, &sys.id, &new_secret).await, 401);
    let (_, c, _) = cli(&["client", "show", "--id", &sys.id]);
    assert!(c["disabled_at"].is_string());
    let (ok, _, _) = cli(&["client", "enable", "--id", &sys.id]);
    assert!(ok);

    // A tenant whose system sent a message cannot be deleted (its evidence names it); one
    // without can.
    use crate::mailbox::{EMAIL, authority, citizen_at, letter, send};
    app.add_user(EMAIL, crate::mailbox::PW).await;
    let portal = app
        .add_client(
            "gemeinde-b",
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, _) = authority(&app, "gemeinde-b").await;
    let (status, _, _) = send(&app, &token, &letter(&sub), None).await;
    assert_eq!(status, 201);
    let (ok, _, err) = cli(&["tenant", "delete", "--slug", "gemeinde-b"]);
    assert!(!ok && err.contains("disable it instead"), "{err}");
    app.add_tenant("gemeinde-c", "Gemeinde C").await;
    let (ok, _, err) = cli(&["tenant", "delete", "--slug", "gemeinde-c"]);
    assert!(ok, "{err}");
    let (ok, tenants, _) = cli(&["tenant", "list"]);
    assert!(ok && tenants.as_array().map(Vec::len) == Some(2));
    let (ok, _, _) = cli(&["client", "delete", "--id", &sys.id]);
    assert!(ok);
    let (ok, _, err) = cli(&["client", "show", "--id", &sys.id]);
    assert!(!ok && err.contains("not found"), "{err}");

    // Accounts: a page at a time, and one with its roles and checks.
    for n in 0..3 {
        app.add_user(&format!("nutzer{n}@example.org"), PW).await;
    }
    let (ok, page, _) = cli(&["user", "list", "--limit", "2"]);
    assert!(ok);
    let page = page.as_array().cloned().unwrap_or_default();
    assert_eq!(page.len(), 2);
    let last = page[1]["email"].as_str().expect("email").to_owned();
    let (_, next, _) = cli(&["user", "list", "--limit", "10", "--after", &last]);
    assert!(
        next.as_array()
            .is_some_and(|n| n.iter().all(|a| a["email"].as_str() > Some(last.as_str())))
    );
    let (ok, _, _) = cli(&["user", "list", "--limit", "0"]);
    assert!(!ok);
    assert!(verify_identity(&app, "nutzer1@example.org", "substantial").0);
    let (ok, _, _) = cli(&[
        "admin",
        "grant",
        "--email",
        "nutzer1@example.org",
        "--role",
        "auditor",
    ]);
    assert!(ok);
    let (ok, a, _) = cli(&["user", "show", "--email", "nutzer1@example.org"]);
    assert!(ok);
    assert_eq!(a["proofing_level"], "substantial");
    assert_eq!(a["roles"][0]["role"], "auditor");
    assert_eq!(a["identity_checks"][0]["document_type"], "personalausweis");
}

/// A call to the admin API with a bearer token; the status and the JSON body.
async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = app.http.request(method, app.url(path));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_admin_api_acts_with_the_roles_its_scopes_carry_and_no_further() {
    use reqwest::Method;
    use serde_json::json;
    let app = spawn_app().await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let other = app.add_service_client("gemeinde-b", &["--scope", "mailbox.send"]);
    let kommune_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.tenant"]);
    let audit_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.audit"]);
    let verbund_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.verbund"]);
    let mail_sys = app.add_service_client("gemeinde-a", &["--scope", "mailbox.send"]);
    let kommune = app.service_token(&kommune_sys, None).await;
    let auditor = app.service_token(&audit_sys, None).await;
    let verbund = app.service_token(&verbund_sys, None).await;
    let mail = app.service_token(&mail_sys, None).await;

    // No token, or one without an admin scope.
    assert_eq!(
        api(&app, Method::GET, "/api/v1/admin/tenants", "", None)
            .await
            .0,
        401
    );
    assert_eq!(
        api(&app, Method::GET, "/api/v1/admin/tenants", &mail, None)
            .await
            .0,
        403
    );

    // A Kommune's system sees and changes its own tenant only.
    let (s, list) = api(&app, Method::GET, "/api/v1/admin/tenants", &kommune, None).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["slug"], "gemeinde-a");
    assert_eq!(
        api(
            &app,
            Method::GET,
            "/api/v1/admin/tenants/gemeinde-b",
            &kommune,
            None
        )
        .await
        .0,
        404
    );
    let (s, t) = api(
        &app,
        Method::PATCH,
        "/api/v1/admin/tenants/gemeinde-a",
        &kommune,
        Some(json!({ "support_contact": "Bürgerbüro" })),
    )
    .await;
    assert_eq!(
        (s, t["support_contact"].as_str()),
        (200, Some("Bürgerbüro"))
    );
    let (s, p) = api(
        &app,
        Method::PATCH,
        "/api/v1/admin/tenants/gemeinde-a",
        &kommune,
        Some(json!({ "accent_color": "#ffff00" })),
    )
    .await;
    assert_eq!(s, 400);
    assert!(p["detail"].as_str().unwrap_or("").contains("4.5:1"), "{p}");
    assert_eq!(
        api(
            &app,
            Method::PATCH,
            "/api/v1/admin/tenants/gemeinde-a",
            &kommune,
            Some(json!({ "colour": "x" }))
        )
        .await
        .0,
        400,
        "unknown fields"
    );
    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/tenants",
            &kommune,
            Some(json!({ "slug": "neu", "name": "Neu" }))
        )
        .await
        .0,
        403
    );

    // Clients: registered in its own tenant with the secret once; never another tenant's,
    // never with the Verbund's scopes.
    let (s, created) = api(&app, Method::POST, "/api/v1/admin/clients", &kommune, Some(json!({ "name": "Hundesteuer", "scopes": ["mailbox.send"], "grant_types": ["client_credentials"] }))).await;
    assert_eq!(s, 201, "{created}");
    let id = created["client_id"].as_str().expect("id").to_owned();
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(cc_status(&app, &id, &secret).await, 200);
    let (s, shown) = api(
        &app,
        Method::GET,
        &format!("/api/v1/admin/clients/{id}"),
        &kommune,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        shown.get("client_secret").is_none() && shown["secret_hash"].is_null(),
        "no secret: {shown}"
    );
    assert_eq!(api(&app, Method::POST, "/api/v1/admin/clients", &kommune, Some(json!({ "tenant": "gemeinde-b", "name": "X", "grant_types": ["client_credentials"] }))).await.0, 404);
    assert_eq!(api(&app, Method::POST, "/api/v1/admin/clients", &kommune, Some(json!({ "name": "X", "scopes": ["admin.verbund"], "grant_types": ["client_credentials"] }))).await.0, 403);
    for (method, path) in [
        (Method::GET, format!("/api/v1/admin/clients/{}", other.id)),
        (Method::PATCH, format!("/api/v1/admin/clients/{}", other.id)),
        (
            Method::POST,
            format!("/api/v1/admin/clients/{}/disable", other.id),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/clients/{}", other.id),
        ),
    ] {
        let body = (method == Method::PATCH).then(|| json!({ "name": "Übernommen" }));
        assert_eq!(
            api(&app, method.clone(), &path, &kommune, body).await.0,
            404,
            "{method} {path}"
        );
    }
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/clients/{}/secret", other.id),
            &kommune,
            Some(json!({ "overlap_hours": 1 }))
        )
        .await
        .0,
        404
    );
    let (_, list) = api(&app, Method::GET, "/api/v1/admin/clients", &kommune, None).await;
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().all(|c| c["client_id"] != other.id.as_str()))
    );
    let (s, patched) = api(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/clients/{id}"),
        &kommune,
        Some(json!({ "scopes": ["mailbox.send", "mailbox.read"] })),
    )
    .await;
    assert_eq!(
        (s, patched["scopes"].clone()),
        (200, json!(["mailbox.read", "mailbox.send"]))
    );
    let (s, rotated) = api(
        &app,
        Method::POST,
        &format!("/api/v1/admin/clients/{id}/secret"),
        &kommune,
        Some(json!({ "overlap_hours": 0 })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(cc_status(&app, &id, &secret).await, 401);
    let secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/clients/{id}/disable"),
            &kommune,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(cc_status(&app, &id, &secret).await, 401);
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/clients/{id}/enable"),
            &kommune,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api(
            &app,
            Method::DELETE,
            &format!("/api/v1/admin/clients/{id}"),
            &kommune,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        api(
            &app,
            Method::GET,
            &format!("/api/v1/admin/clients/{id}"),
            &kommune,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        cc_status(&app, &other.id, other.secret.as_deref().unwrap_or("")).await,
        200,
        "untouched"
    );

    // A system of its own tenant that holds a Verbund scope is not a Kommune's to change:
    // rotating its secret would hand the Kommune the Verbund's power.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/admin/clients/{}/secret", verbund_sys.id),
            Some(json!({ "overlap_hours": 0 })),
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/clients/{}", verbund_sys.id),
            Some(json!({ "name": "Übernommen" })),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/clients/{}/disable", verbund_sys.id),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/clients/{}", verbund_sys.id),
            None,
        ),
    ] {
        assert_eq!(
            api(&app, method.clone(), &path, &kommune, body).await.0,
            403,
            "{method} {path}"
        );
    }
    assert_eq!(
        cc_status(
            &app,
            &verbund_sys.id,
            verbund_sys.secret.as_deref().unwrap_or("")
        )
        .await,
        200,
        "untouched"
    );

    // The audit system reads its tenant's trail (with the acting client), changes nothing.
    let (s, entries) = api(
        &app,
        Method::GET,
        "/api/v1/admin/audit?kind=admin.client",
        &auditor,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let entries = entries.as_array().cloned().unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["kind"] == "admin.client_created"
            && e["actor"] == format!("client:{}", kommune_sys.id)),
        "{entries:?}"
    );
    assert_eq!(
        api(
            &app,
            Method::GET,
            "/api/v1/admin/audit?tenant=gemeinde-b",
            &auditor,
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/clients",
            &auditor,
            Some(json!({ "name": "X", "grant_types": ["client_credentials"] }))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        api(
            &app,
            Method::GET,
            "/api/v1/admin/audit?from=gestern",
            &auditor,
            None
        )
        .await
        .0,
        400
    );

    // The Verbund's system creates tenants.
    let (s, t) = api(
        &app,
        Method::POST,
        "/api/v1/admin/tenants",
        &verbund,
        Some(json!({ "slug": "samtgemeinde-c", "name": "Samtgemeinde C" })),
    )
    .await;
    assert_eq!((s, t["slug"].as_str()), (201, Some("samtgemeinde-c")));
    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/tenants",
            &verbund,
            Some(json!({ "slug": "samtgemeinde-c", "name": "Doppelt" }))
        )
        .await
        .0,
        400
    );
    let (_, all) = api(&app, Method::GET, "/api/v1/admin/tenants", &verbund, None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn the_overview_names_portals_whose_back_channel_logout_fails() {
    let mut app = spawn_app().await;
    let verbund = admin(&mut app, "verbund@example.org", "verbund_admin", None).await;
    let dead = app
        .add_client(
            "gemeinde-a",
            &[
                "--backchannel-logout-uri",
                "http://127.0.0.1:9/nothing-listens",
            ],
        )
        .await;
    app.add_user("buerger@example.org", PW).await;
    app.reset_browser();
    let rp = crate::helpers::rp::discover(&app, &dead).await;
    let flow = crate::helpers::rp::start(&rp, &[], &[]);
    crate::helpers::rp::run_browser(&app, &flow.url, "buerger@example.org", PW).await;
    let page = app
        .get(&format!("/logout?client_id={}", dead.id))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/logout/confirm",
            &[("csrf", &csrf), ("client_id", &dead.id)],
        )
        .await;
    assert!(r.status().is_success() || r.status().is_redirection());
    app.as_admin(&verbund);
    let mut overview = String::new();
    for _ in 0..50 {
        overview = app.get("/admin").await.text().await.expect("page");
        if overview.contains("fehlgeschlagen bei") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        overview.contains("fehlgeschlagen bei Bürgerportal Test (Gemeinde A): 1"),
        "{overview}"
    );
}

#[tokio::test]
async fn a_disabled_account_logs_in_nowhere_and_a_deleted_one_is_erased() {
    use reqwest::Method;
    use serde_json::json;
    let mut app = spawn_app_configured(Backend::Default, |raw| {
        raw.mailbox_interval_secs = 1;
        raw.mail_interval_secs = 1;
    })
    .await;
    let verbund_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.verbund"]);
    let kommune_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.tenant"]);
    let verbund = app.service_token(&verbund_sys, None).await;
    let kommune = app.service_token(&kommune_sys, None).await;
    app.register_and_verify("erika@example.org", PW).await;
    let erika = std::mem::replace(&mut app.browser, browser_client());
    let erika = AdminBrowser {
        browser: erika,
        recovery: Vec::new(),
    };

    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/accounts/lookup",
            &kommune,
            Some(json!({ "email": "erika@example.org" }))
        )
        .await
        .0,
        403,
        "accounts are the Verbund's"
    );
    let (s, account) = api(
        &app,
        Method::POST,
        "/api/v1/admin/accounts/lookup",
        &verbund,
        Some(json!({ "email": "erika@example.org" })),
    )
    .await;
    assert_eq!((s, account["disabled"].as_bool()), (200, Some(false)));
    let id = account["id"].as_str().expect("id").to_owned();
    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/accounts/lookup",
            &verbund,
            Some(json!({ "email": "niemand@example.org" }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api(
            &app,
            Method::POST,
            "/api/v1/admin/accounts/kein-uuid/disable",
            &verbund,
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/accounts/{id}/disable"),
            &kommune,
            None
        )
        .await
        .0,
        403
    );

    // Disabled: the open session ends, and neither the password nor any other door logs in.
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/accounts/{id}/disable"),
            &verbund,
            None
        )
        .await
        .0,
        204
    );
    app.as_admin(&erika);
    assert_eq!(
        location(&app.get("/konto").await),
        "/login",
        "the session ended"
    );
    app.reset_browser();
    let r = app.login("", "erika@example.org", PW).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Dieses Konto ist gesperrt")
    );
    let r = app.login("", "erika@example.org", "falsch falsch").await;
    assert_eq!(
        r.status(),
        401,
        "a wrong password does not learn that the account is disabled"
    );
    // A password reset does not open it either.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let csrf = app.csrf_of("/password/forgot").await;
    app.post_form(
        "/password/forgot",
        &[("csrf", &csrf), ("email", "erika@example.org")],
    )
    .await;
    let link = app
        .wait_for_link("erika@example.org", "/password/reset")
        .await;
    assert!(link.is_some(), "the reset mail went out");
    if let Some(link) = link {
        let page = app.get(&link).await.text().await.expect("page");
        let token = hidden(&page, "token").unwrap_or_default();
        let csrf = hidden(&page, "csrf").unwrap_or_default();
        let r = app
            .post_form(
                "/password/reset",
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("password", "ein neues langes Passwort"),
                ],
            )
            .await;
        let status = r.status();
        let body = r.text().await.expect("page");
        assert!(status.as_u16() < 500, "{status}: {body}");
        assert!(!body.contains("/konto\""), "no session from a reset");
        assert_eq!(location(&app.get("/konto").await), "/login");
        let r = app
            .login("", "erika@example.org", "ein neues langes Passwort")
            .await;
        assert_eq!(r.status(), 403);
    }
    let (_, account) = api(
        &app,
        Method::POST,
        "/api/v1/admin/accounts/lookup",
        &verbund,
        Some(json!({ "email": "erika@example.org" })),
    )
    .await;
    assert_eq!(account["disabled"], true);

    // Enabled again.
    assert_eq!(
        api(
            &app,
            Method::POST,
            &format!("/api/v1/admin/accounts/{id}/enable"),
            &verbund,
            None
        )
        .await
        .0,
        204
    );
    app.reset_browser();
    let password = if app.login("", "erika@example.org", PW).await.status() == 303 {
        PW
    } else {
        "ein neues langes Passwort"
    };
    app.reset_browser();
    assert_eq!(
        app.login("", "erika@example.org", password).await.status(),
        303
    );

    // Deleted: refused at once, erased by the next round.
    let (s, due) = api(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/accounts/{id}"),
        &verbund,
        None,
    )
    .await;
    assert_eq!(s, 202);
    assert!(due["deletion_due"].is_string());
    app.reset_browser();
    assert_eq!(
        app.login("", "erika@example.org", password).await.status(),
        403
    );
    let mut gone = false;
    for _ in 0..60 {
        if api(
            &app,
            Method::POST,
            "/api/v1/admin/accounts/lookup",
            &verbund,
            Some(json!({ "email": "erika@example.org" })),
        )
        .await
        .0 == 404
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(gone, "the deletion round erased the account");
    let (_, entries) = api(
        &app,
        Method::GET,
        "/api/v1/admin/audit?kind=admin.account",
        &verbund,
        None,
    )
    .await;
    let kinds: Vec<&str> = entries
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        kinds.contains(&"admin.account_disabled") && kinds.contains(&"admin.account_deleted"),
        "{kinds:?}"
    );

    // The CLI without Redis says how instead of leaving sessions open.
    if app.config.redis_url.is_none() {
        app.add_user("max@example.org", PW).await;
        let (ok, _, err) = app.cli(&["user", "disable", "--email", "max@example.org"], None);
        assert!(!ok && err.contains("admin API"), "{err}");
    }
}
