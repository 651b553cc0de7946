//! RP-initiated logout: exact post-logout redirect URIs, confirmation without a hint.

use crate::helpers::rp::{discover, finish, run_browser, start};
use crate::helpers::{hidden, location, spawn_app};
use crate::oidc_flow::urlencode;
use openidconnect::TokenResponse;

const PW: &str = "ein langes Passwort";

#[tokio::test]
async fn logout_validates_hint_and_redirect_uri_and_asks_without_a_hint() {
    let app = spawn_app().await;
    let c = app.add_client(&app.tenant, &[]).await;
    let other = app.add_client(&app.tenant, &[]).await;
    app.add_user("l@example.org", PW).await;
    let rp = discover(&app, &c).await;
    let flow = start(&rp, &[], &[]);
    let cb = run_browser(&app, &flow.url, "l@example.org", PW).await;
    let tokens = finish(&app, &rp, flow, &cb).await;
    let hint = tokens.id_token().expect("id").to_string();
    let plr = urlencode("http://127.0.0.1:9/logged-out");

    // Unregistered post-logout URI: an error page, no redirect, still logged in.
    for bad in ["https://evil.example/", "http://127.0.0.1:9/logged-out/x"] {
        let r = app
            .get(&format!(
                "/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
                urlencode(bad)
            ))
            .await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
    }
    // A redirect URI without a way to know the client, a forged hint, a mismatching client_id.
    let r = app
        .get(&format!("/logout?post_logout_redirect_uri={plr}"))
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .get(&format!(
            "/logout?id_token_hint={}x&post_logout_redirect_uri={plr}",
            hint
        ))
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .get(&format!(
            "/logout?id_token_hint={hint}&client_id={}&post_logout_redirect_uri={plr}",
            other.id
        ))
        .await;
    assert_eq!(r.status(), 400);
    assert!(app.get("/konto").await.status() == 200, "still logged in");

    // Without a hint, the citizen is asked; the confirmation (with CSRF) logs out and redirects.
    let r = app
        .get(&format!(
            "/logout?client_id={}&post_logout_redirect_uri={plr}&state=xyz",
            c.id
        ))
        .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    assert_eq!(hidden(&page, "state").as_deref(), Some("xyz"));
    let r = app
        .post_form(
            "/logout/confirm",
            &[("csrf", "wrong"), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form(
            "/logout/confirm",
            &[
                ("csrf", &csrf),
                ("client_id", &c.id),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/logged-out"),
                ("state", "xyz"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "http://127.0.0.1:9/logged-out?state=xyz");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cookie.contains("bk_session=;") && cookie.contains("Max-Age=0"),
        "session cookie cleared: {cookie}"
    );
    assert_eq!(app.get("/konto").await.status(), 303, "logged out");

    // Logout without a session and without parameters shows the logged-out page.
    let r = app.get("/logout").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("page").contains("abgemeldet"));
}
