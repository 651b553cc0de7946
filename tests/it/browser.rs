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
    let app = crate::helpers::spawn_named().await;
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
    let out = tokio::process::Command::new("node")
        .arg("check.mjs")
        .args([app.addr.as_str(), EMAIL, PW, message.as_str()])
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
