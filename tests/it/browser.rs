//! The pages in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (`tests/browser/check.mjs`). It covers what HTTP-level tests cannot: the
//! passkey script with Chrome's virtual authenticator, script errors and CSP violations, a
//! language and labels on every page it visits; and the administration console as its
//! people use it (`tests/browser/console.mjs`). `.ci/run` installs Chromium and the npm
//! package; elsewhere the test says it was skipped unless `CI` is set.

use std::path::{Path, PathBuf};

/// The browser scripts' folder and Chromium, or `None` (skipped) where they are not
/// installed; CI must have them.
fn browser_ready() -> Option<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs {chromium} and tests/browser/node_modules (.ci/run installs both)"
        );
        eprintln!("skipped: no Chromium or playwright-core (see .ci/run)");
        return None;
    }
    Some((dir, chromium))
}

#[tokio::test]
async fn pages_and_passkeys_work_in_headless_chromium() {
    let Some((dir, chromium)) = browser_ready() else {
        return;
    };
    let mut app = crate::helpers::spawn_named().await;
    // A citizen with a message that allows replies (through the real API).
    use crate::mailbox::{EMAIL, PW, authority, citizen_at, letter, send};
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, _) = authority(&app, &app.tenant).await;
    let (status, _, sent) = send(&app, &token, &letter(&sub), None).await;
    assert_eq!(status, 201);
    let message = sent["id"].as_str().expect("id").to_owned();
    // A confirmation link whose portal request has ended (the page says so) and a reset
    // link, for the pages they open (opening uses neither). From a browser without a session.
    app.reset_browser();
    let rp = crate::helpers::rp::discover(&app, &portal).await;
    let flow = crate::helpers::rp::start(&rp, &[], &[]);
    let login = crate::helpers::location(&app.get(&flow.url).await);
    let req = crate::helpers::query_param(&login, "req").expect("req");
    let page = app.get(&format!("/register?req={req}")).await;
    let page = page.text().await.expect("page");
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let form = [
        ("csrf", csrf.as_str()),
        ("req", req.as_str()),
        ("email", "neu@example.org"),
        ("password", PW),
    ];
    assert_eq!(app.post_form("/register", &form).await.status(), 200);
    let verify = app
        .wait_for_link("neu@example.org", "/verify-email")
        .await
        .expect("verification link");
    let page = app.get(&login).await.text().await.expect("page");
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form("/authorize/cancel", &[("csrf", &csrf), ("req", &req)])
        .await;
    assert_eq!(r.status(), 303);
    app.add_user("vergessen@example.org", PW).await;
    let csrf = app.csrf_of("/password/forgot").await;
    app.post_form(
        "/password/forgot",
        &[("csrf", &csrf), ("email", "vergessen@example.org")],
    )
    .await;
    let reset = app
        .wait_for_link("vergessen@example.org", "/password/reset")
        .await
        .expect("reset link");
    let path = |link: &str| link.replacen(app.addr.as_str(), "", 1);
    let out = tokio::process::Command::new("node")
        .arg("check.mjs")
        .args([
            app.addr.as_str(),
            EMAIL,
            PW,
            message.as_str(),
            &path(&verify),
            &path(&reset),
        ])
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An account with a confirmed identity and TOTP, signed out; its secret (hex) and the step
/// its enrolment used.
async fn staff(app: &mut crate::helpers::TestApp, email: &str) -> (String, i64) {
    app.add_user(email, crate::admin::PW).await;
    let (ok, err) = crate::levels::verify_identity(app, email, "substantial");
    assert!(ok, "{err}");
    app.reset_browser();
    assert_eq!(app.login("", email, crate::admin::PW).await.status(), 303);
    let (secret, step, _) = crate::levels::enrol_totp(app).await;
    app.reset_browser();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    (hex, step)
}

#[tokio::test]
async fn the_console_works_in_headless_chromium() {
    let Some((dir, chromium)) = browser_ready() else {
        return;
    };
    let mut app = crate::helpers::spawn_app().await;
    let (admin_secret, admin_step) = staff(&mut app, "verbund@example.org").await;
    let (ok, _, err) = app.cli(
        &[
            "admin",
            "grant",
            "--email",
            "verbund@example.org",
            "--role",
            "verbund_admin",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (clerk_secret, clerk_step) = staff(&mut app, "clerk@example.org").await;
    app.register_and_verify("buergerin@example.org", crate::admin::PW)
        .await;
    let out = tokio::process::Command::new("node")
        .arg("console.mjs")
        .args([
            app.addr.as_str(),
            "verbund@example.org",
            "clerk@example.org",
            crate::admin::PW,
            &admin_secret,
            &admin_step.to_string(),
            &clerk_secret,
            &clerk_step.to_string(),
            "buergerin@example.org",
        ])
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "console check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
