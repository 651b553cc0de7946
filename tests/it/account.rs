//! The citizen's control: sessions and consents on the account page, password reset.

use crate::helpers::portal::spawn_portal;
use crate::helpers::{TestApp, basic, code_for, exchange, hidden, location, spawn_app, token};
use reqwest::redirect::Policy;

const PW: &str = "ein langes Passwort";

/// A second browser (own cookie jar) for the same app.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
        .build()
        .expect("client")
}

async fn login_with(app: &TestApp, b: &reqwest::Client, email: &str) {
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("req", ""),
            ("email", email),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
}

/// (handle, is_current) of every session listed on the account page.
fn sessions_on(page: &str) -> Vec<(String, bool)> {
    page.split("<li")
        .skip(1)
        .filter_map(|li| {
            Some((
                hidden(li, "session")?,
                li.starts_with(" aria-current=\"true\""),
            ))
        })
        .collect()
}

#[tokio::test]
async fn the_account_page_lists_sessions_and_ends_another_one_with_backchannel_logout() {
    let app = spawn_app().await;
    let portal = spawn_portal().await;
    let c = app
        .add_client(
            &app.tenant,
            &["--backchannel-logout-uri", &format!("{}/bcl", portal.base)],
        )
        .await;
    app.add_user("s@example.org", PW).await;
    let other = browser();
    login_with(&app, &other, "s@example.org").await;
    // The main browser logs in through the portal (so its session has a portal).
    let code = code_for(&app, &c, "s@example.org", PW, "openid").await;
    assert_eq!(
        token(&app, Some(basic(&c)), &exchange(&c, &code)).await.0,
        200
    );

    let page = app.get("/konto").await.text().await.expect("page");
    let sessions = sessions_on(&page);
    assert_eq!(sessions.len(), 2, "{page}");
    assert_eq!(sessions.iter().filter(|(_, cur)| *cur).count(), 1);
    assert!(
        page.contains("Firefox, Linux"),
        "the other browser is recognisable"
    );
    assert!(
        page.contains("Bürgerportal Test"),
        "the portal of this session is listed"
    );

    // End the other browser's session from here.
    let (theirs, _) = sessions
        .iter()
        .find(|(_, cur)| !cur)
        .cloned()
        .expect("other");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/konto/sessions/end",
            &[("csrf", &csrf), ("session", &theirs)],
        )
        .await;
    assert_eq!(location(&r), "/konto");
    let r = other.get(app.url("/konto")).send().await.expect("get");
    assert_eq!(r.status(), 303, "the other browser is logged out");
    assert_eq!(
        sessions_on(&app.get("/konto").await.text().await.expect("page")).len(),
        1
    );
    // Handles of other accounts or made up ones do nothing.
    let r = app
        .post_form(
            "/konto/sessions/end",
            &[("csrf", &csrf), ("session", "bogus")],
        )
        .await;
    assert_eq!(location(&r), "/konto");
    assert_eq!(app.get("/konto").await.status(), 200);

    // Ending this session logs out here and tells the portal.
    let (mine, _) = sessions_on(&app.get("/konto").await.text().await.expect("page")).remove(0);
    let r = app
        .post_form(
            "/konto/sessions/end",
            &[("csrf", &csrf), ("session", &mine)],
        )
        .await;
    assert_eq!(location(&r), "/login");
    assert_eq!(app.get("/konto").await.status(), 303);
    assert_eq!(
        portal.wait_for_logouts(1).await.len(),
        1,
        "back-channel logout for the portal of that session"
    );
}

#[tokio::test]
async fn withdrawing_consent_revokes_the_portals_refresh_tokens() {
    let app = spawn_app().await;
    let c = app
        .add_client(
            &app.tenant,
            &[
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
            ],
        )
        .await;
    app.add_user("w@example.org", PW).await;
    let code = code_for(&app, &c, "w@example.org", PW, "openid offline_access").await;
    let (_, body, _) = token(&app, Some(basic(&c)), &exchange(&c, &code)).await;
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    let page = app.get("/konto").await.text().await.expect("page");
    assert!(
        page.contains("Bürgerportal Test")
            && page.contains("auch dann, wenn Sie gerade nicht angemeldet sind")
    );
    let csrf = hidden(&page, "csrf").expect("csrf");
    assert_eq!(
        app.post_form(
            "/konto/consents/withdraw",
            &[("csrf", "forged"), ("client_id", &c.id)]
        )
        .await
        .status(),
        403
    );
    let r = app
        .post_form(
            "/konto/consents/withdraw",
            &[("csrf", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(location(&r), "/konto");
    let (s, b, _) = token(
        &app,
        Some(basic(&c)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    assert!(
        app.get("/konto")
            .await
            .text()
            .await
            .expect("page")
            .contains("noch keinem Dienst")
    );
    // The next login at the portal asks for consent again.
    let url = format!(
        "/authorize?client_id={}&redirect_uri={}&response_type=code&scope=openid&code_challenge={}&code_challenge_method=S256",
        c.id,
        crate::oidc_flow::urlencode(&c.redirect_uri),
        crate::helpers::CHALLENGE
    );
    assert!(location(&app.get(&url).await).starts_with("/consent?req="));
}

#[tokio::test]
async fn password_reset_by_mailed_link_ends_all_sessions() {
    let app = spawn_app().await;
    app.add_user("pw@example.org", PW).await;
    let other = browser();
    login_with(&app, &other, "pw@example.org").await;

    // Unknown and known addresses get the same page; only the known one gets mail.
    let csrf = app.csrf_of("/password/forgot").await;
    let unknown = app
        .post_form(
            "/password/forgot",
            &[("csrf", &csrf), ("email", "niemand@example.org")],
        )
        .await;
    assert_eq!(unknown.status(), 200);
    let unknown = unknown.text().await.expect("page");
    let known = app
        .post_form(
            "/password/forgot",
            &[("csrf", &csrf), ("email", "pw@example.org")],
        )
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(
        unknown,
        known.replace(
            &hidden(&known, "csrf").unwrap_or_default(),
            &hidden(&unknown, "csrf").unwrap_or_default()
        )
    );
    assert!(
        app.mailed_link("niemand@example.org", "/password/reset")
            .is_none()
    );
    let link = app
        .wait_for_link("pw@example.org", "/password/reset")
        .await
        .expect("reset mail");
    // Asking again within a minute sends no second mail.
    let before = app.mails().len();
    app.post_form(
        "/password/forgot",
        &[("csrf", &csrf), ("email", "pw@example.org")],
    )
    .await;
    // Mail goes out in the background: give a (wrongly) sent one time to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.mails().len(), before);

    let page = app.get(&link).await.text().await.expect("page");
    assert!(page.contains(r#"autocomplete="new-password""#));
    let token_value = hidden(&page, "token").expect("token");
    let csrf = hidden(&page, "csrf").expect("csrf");
    // A too short password keeps the link usable.
    let r = app
        .post_form(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token_value),
                ("password", "kurz"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .post_form(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token_value),
                ("password", "ein neues langes Passwort"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    // Single use.
    let r = app
        .post_form(
            "/password/reset",
            &[
                ("csrf", &csrf),
                ("token", &token_value),
                ("password", "noch ein Passwort"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(app.get(&link).await.status(), 400);
    // Every session ended; the old password is gone, the new one works.
    assert_eq!(
        other
            .get(app.url("/konto"))
            .send()
            .await
            .expect("get")
            .status(),
        303
    );
    assert_eq!(app.login("", "pw@example.org", PW).await.status(), 401);
    assert_eq!(
        app.login("", "pw@example.org", "ein neues langes Passwort")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn only_the_newest_reset_link_works_and_a_reset_ends_every_other() {
    let app = crate::helpers::spawn_app_with(crate::helpers::AppOptions {
        tweak: |c| c.mail_interval_secs = 1,
        ..crate::helpers::AppOptions::default()
    })
    .await;
    app.add_user("alt@example.org", PW).await;
    let ask = || async {
        let csrf = app.csrf_of("/password/forgot").await;
        let r = app
            .post_form(
                "/password/forgot",
                &[("csrf", &csrf), ("email", "alt@example.org")],
            )
            .await;
        assert_eq!(r.status(), 200);
    };
    ask().await;
    let older = app
        .wait_for_link("alt@example.org", "/password/reset")
        .await
        .expect("first link");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    ask().await;
    let mut newer = older.clone();
    for _ in 0..50 {
        newer = app
            .mailed_link("alt@example.org", "/password/reset")
            .expect("link");
        if newer != older {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(newer, older, "a second link was mailed");
    let reset = |link: String, pw: &'static str| {
        let app = &app;
        async move {
            let token = crate::helpers::query_param(&link, "token").expect("token");
            let csrf = app.csrf_of("/password/forgot").await;
            app.post_form(
                "/password/reset",
                &[
                    ("csrf", csrf.as_str()),
                    ("token", token.as_str()),
                    ("password", pw),
                ],
            )
            .await
            .status()
        }
    };
    // The older link stops working once a newer one was requested.
    assert_eq!(app.get(&older).await.status(), 400);
    assert_eq!(reset(older.clone(), "das alte Passwort neu").await, 400);
    assert_eq!(reset(newer.clone(), "ein neues langes Passwort").await, 200);
    assert_eq!(reset(newer, "noch ein anderes Passwort").await, 400);
    assert_eq!(
        app.login("", "alt@example.org", "ein neues langes Passwort")
            .await
            .status(),
        303
    );
}

/// Logs `email` in with a browser of its own (not the app's).
async fn login_elsewhere(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let other = crate::helpers::browser_client();
    let page = other
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let r = other
        .post(app.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("req", ""),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    other
}

#[tokio::test]
async fn changing_the_password_checks_the_current_one_ends_other_sessions_and_mails_a_notice() {
    let app = spawn_app().await;
    app.add_user("wechsel@example.org", PW).await;
    assert_eq!(app.login("", "wechsel@example.org", PW).await.status(), 303);
    let elsewhere = login_elsewhere(&app, "wechsel@example.org", PW).await;
    assert_eq!(
        elsewhere
            .get(app.url("/konto"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );

    let page = app.get("/konto/passwort").await.text().await.expect("page");
    assert!(
        page.contains("autocomplete=\"current-password\"")
            && page.contains("autocomplete=\"username\"")
    );
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let new_pw = "ein ganz neues Passwort";
    // The wrong current password: refused, the field marked, nothing changed.
    let r = app
        .post_form(
            "/konto/passwort",
            &[
                ("csrf", &csrf),
                ("current", "falsch falsch"),
                ("new", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("page");
    assert!(
        body.contains("<title>Fehler: Passwort ändern") && body.contains("aria-invalid=\"true\"")
    );
    // A new password that breaks the policy: refused before the current one is checked.
    let r = app
        .post_form(
            "/konto/passwort",
            &[("csrf", &csrf), ("current", PW), ("new", "kurz")],
        )
        .await;
    assert_eq!(r.status(), 400);
    // Without the form token: refused.
    let r = app
        .post_form("/konto/passwort", &[("current", PW), ("new", new_pw)])
        .await;
    assert_eq!(r.status(), 403);
    assert!(
        app.mailed_link("wechsel@example.org", "/password/forgot")
            .is_none()
    );

    let r = app
        .post_form(
            "/konto/passwort",
            &[("csrf", &csrf), ("current", PW), ("new", new_pw)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().ok(),
        Some("/konto/passwort?geaendert=1#pwc-notice")
    );
    // This session stays, the other one ended; the holder was told.
    assert_eq!(app.get("/konto").await.status(), 200);
    assert_ne!(
        elsewhere
            .get(app.url("/konto"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    assert!(
        app.mailed_link("wechsel@example.org", "/password/forgot")
            .is_some(),
        "a notice with the way to reset"
    );
    // Only the new password works now.
    let fresh = crate::helpers::browser_client();
    let page = fresh
        .get(app.url("/login"))
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
            ("req", ""),
            ("email", "wechsel@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_ne!(r.status(), 303, "the old password no longer works");
    login_elsewhere(&app, "wechsel@example.org", new_pw).await;
}

#[tokio::test]
async fn changing_the_address_needs_the_new_one_confirmed_and_tells_the_old_one() {
    let app = spawn_app().await;
    app.add_user("alt@example.org", PW).await;
    app.add_user("belegt@example.org", PW).await;
    assert_eq!(app.login("", "alt@example.org", PW).await.status(), 303);
    let page = app.get("/konto/email").await.text().await.expect("page");
    assert!(page.contains("alt@example.org"));
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    let post = |email: &'static str, password: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        async move {
            app.post_form(
                "/konto/email",
                &[("csrf", &csrf), ("email", email), ("password", password)],
            )
            .await
        }
    };
    // The password is checked; the current address and malformed ones are refused.
    let r = post("neu@example.org", "falsch falsch").await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("aria-invalid=\"true\"")
    );
    assert_eq!(post("alt@example.org", PW).await.status(), 400);
    assert_eq!(post("kein-at", PW).await.status(), 400);
    // Another account's address: the same answer as a free one, and no mail to it. It uses
    // up the mail interval like a free one, so a second try cannot tell them apart.
    let r = post("neu@example.org", PW).await;
    assert_eq!(r.status(), 303);
    let link = app
        .wait_for_link("neu@example.org", "/konto/email/bestaetigen")
        .await
        .expect("a link to the new address");
    let prober = login_elsewhere(&app, "belegt@example.org", PW).await;
    let probe = |email: &'static str| {
        let prober = &prober;
        let app = &app;
        async move {
            let page = prober
                .get(app.url("/konto/email"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("page");
            let csrf = hidden(&page, "csrf").expect("csrf");
            prober
                .post(app.url("/konto/email"))
                .form(&[("csrf", csrf.as_str()), ("email", email), ("password", PW)])
                .send()
                .await
                .expect("post")
        }
    };
    let taken = probe("alt@example.org").await;
    assert_eq!(taken.status(), 303);
    assert_eq!(taken.headers()["location"], r.headers()["location"]);
    let free_after_taken = probe("frei@example.org").await;
    assert_eq!(free_after_taken.status(), 303);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        app.mails()
            .iter()
            .all(|m| !m.contains("To: alt@example.org") || !m.contains("/konto/email/")),
        "no link to the holder of a taken address"
    );
    assert!(
        app.mailed_link("frei@example.org", "/konto/email")
            .is_none(),
        "the taken address used up the interval, exactly as a free one would"
    );
    // A reset link mailed to the old address before the change.
    let csrf_f = app.csrf_of("/password/forgot").await;
    app.post_form(
        "/password/forgot",
        &[("csrf", &csrf_f), ("email", "alt@example.org")],
    )
    .await;
    let reset = app
        .wait_for_link("alt@example.org", "/password/reset")
        .await
        .expect("a reset link");
    assert_eq!(app.get(&reset).await.status(), 200);
    // Nothing changes before the link is used; opening it only shows a button.
    let other = crate::helpers::browser_client();
    let confirm = other
        .get(&link)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let token = hidden(&confirm, "token").expect("token");
    let csrf2 = hidden(&confirm, "csrf").expect("csrf");
    assert!(
        app.get("/konto")
            .await
            .text()
            .await
            .expect("page")
            .contains("alt@example.org")
    );
    let r = other
        .post(app.url("/konto/email/bestaetigen"))
        .form(&[("csrf", csrf2.as_str()), ("token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    // Used once.
    let again = other
        .post(app.url("/konto/email/bestaetigen"))
        .form(&[("csrf", csrf2.as_str()), ("token", token.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(again.status(), 400);
    assert!(
        app.get("/konto")
            .await
            .text()
            .await
            .expect("page")
            .contains("neu@example.org")
    );
    let notice = app
        .mails()
        .into_iter()
        .find(|m| m.contains("To: alt@example.org") && m.contains("neu@example.org"))
        .expect("the old address is told the new one");
    assert!(notice.contains("/password/forgot"));
    // The reset link sent to the old address died with it.
    assert_eq!(app.get(&reset).await.status(), 400);
    // The account signs in with the new address only.
    let fresh = crate::helpers::browser_client();
    let page = fresh
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let c = hidden(&page, "csrf").expect("csrf");
    let r = fresh
        .post(app.url("/login"))
        .form(&[
            ("csrf", c.as_str()),
            ("req", ""),
            ("email", "alt@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_ne!(r.status(), 303);
    login_elsewhere(&app, "neu@example.org", PW).await;
}

#[tokio::test]
async fn a_login_from_a_new_browser_is_mailed_to_the_holder() {
    let app = spawn_app().await;
    app.add_user("geraet@example.org", PW).await;
    let new_device_mails = || {
        app.mails()
            .iter()
            .filter(|m| m.contains("To: geraet@example.org") && m.contains("Firefox, Linux"))
            .count()
    };
    // The first browser the account knows is not news.
    assert_eq!(app.login("", "geraet@example.org", PW).await.status(), 303);
    // A second browser is: the mail says when and which.
    let other = browser();
    login_with(&app, &other, "geraet@example.org").await;
    for _ in 0..50 {
        if new_device_mails() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(new_device_mails(), 1);
    let mail = app
        .mails()
        .into_iter()
        .find(|m| m.contains("Firefox, Linux"))
        .expect("mail");
    assert!(mail.contains("/konto"));
    // Signing in again from either browser sends nothing more.
    login_with(&app, &other, "geraet@example.org").await;
    assert_eq!(app.login("", "geraet@example.org", PW).await.status(), 303);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(new_device_mails(), 1);
    assert_eq!(
        app.mails()
            .iter()
            .filter(|m| m.contains("To: geraet@example.org"))
            .count(),
        1,
        "no other mail"
    );
}
