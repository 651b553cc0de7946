//! The pages in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (`tests/browser/check.mjs`). It covers what HTTP-level tests cannot: the
//! passkey script with Chrome's virtual authenticator, script errors and CSP violations, a
//! language and labels on every page it visits. `.ci/run` installs Chromium and the npm
//! package; elsewhere the test says it was skipped unless `CI` is set.

use std::path::Path;

#[tokio::test]
async fn pages_and_passkeys_work_in_headless_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI needs {chromium} and tests/browser/node_modules (.ci/run installs both)"
        );
        eprintln!("skipped: no Chromium or playwright-core (see .ci/run)");
        return;
    }
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
