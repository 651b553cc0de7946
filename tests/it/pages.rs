//! Pages for people: headers, cookies, forms, languages, messages that reveal nothing.

use crate::helpers::{AppOptions, hidden, spawn_app, spawn_app_with};

const PW: &str = "ein langes Passwort";

#[tokio::test]
async fn pages_carry_security_headers_and_accessible_forms() {
    let app = spawn_app().await;
    let r = app.get("/login").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h.contains_key("strict-transport-security"));
    let set = h
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set.contains("bk_csrf=") && set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "no Secure on a plain-http loopback issuer"
    );
    let body = r.text().await.expect("body");
    assert!(body.contains("<html lang=\"de\""));
    assert!(body.contains(r#"<label for="email">"#) && body.contains(r#"id="email""#));
    assert!(
        body.contains(r#"autocomplete="username""#)
            && body.contains(r#"autocomplete="current-password""#)
    );
    let reg = app.get("/register").await.text().await.expect("body");
    assert!(
        reg.contains(r#"autocomplete="new-password""#) && reg.contains(r#"autocomplete="email""#)
    );
    for path in [
        "/.well-known/openid-configuration",
        "/jwks.json",
        "/nope",
        "/static/style.css",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

#[tokio::test]
async fn session_cookie_is_secure_on_an_https_issuer() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.issuer = c.issuer.replace("http://", "https://"),
        ..AppOptions::default()
    })
    .await;
    app.add_user("s@example.org", PW).await;
    let r = app.login("", "s@example.org", PW).await;
    assert_eq!(r.status(), 303);
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set.contains("bk_session=")
            && set.contains("Secure")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        set.contains("__Host-bk_session="),
        "a __Host- cookie cannot be planted by a sibling subdomain: {set}"
    );
}

#[tokio::test]
async fn english_through_accept_language_and_the_switch() {
    let app = spawn_app().await;
    let r = app
        .browser
        .get(app.url("/login"))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .expect("get");
    let body = r.text().await.expect("body");
    assert!(body.contains("<html lang=\"en\"") && body.contains("Log in"));
    let r = app.get("/lang?to=en&back=/register").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/register");
    assert!(
        app.get("/register")
            .await
            .text()
            .await
            .expect("body")
            .contains("Create a Bürgerkonto")
    );
    // The switch only goes back to local paths.
    let r = app.get("/lang?to=de&back=//evil.example/").await;
    assert_eq!(r.headers()["location"], "/konto");
    for evil in [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%5C/evil.example",
        "https://evil.example",
    ] {
        let r = app.get(&format!("/lang?to=de&back={evil}")).await;
        assert_eq!(r.status(), 303, "{evil}");
        assert_eq!(r.headers()["location"], "/konto", "{evil}");
    }
}

#[tokio::test]
async fn login_failures_reveal_nothing_and_are_throttled() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.login_max_failures_per_account = 3,
        ..AppOptions::default()
    })
    .await;
    app.add_user("known@example.org", PW).await;
    let wrong_known = app
        .login("", "known@example.org", "falsches Passwort")
        .await;
    assert_eq!(wrong_known.status(), 401);
    let a = wrong_known.text().await.expect("body");
    let wrong_unknown = app
        .login("", "unknown@example.org", "falsches Passwort")
        .await;
    assert_eq!(wrong_unknown.status(), 401);
    let b = wrong_unknown.text().await.expect("body");
    let msg = "E-Mail-Adresse oder Passwort ist falsch";
    assert!(a.contains(msg) && b.contains(msg));
    // The third failure (the address in any case) reaches the limit: then even the right
    // password is refused until the window ends.
    assert_eq!(
        app.login("", "known@example.org", "nochmal falsch")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login("", "KNOWN@example.org", "nochmal falsch")
            .await
            .status(),
        401
    );
    let r = app.login("", "known@example.org", PW).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.expect("body").contains("15 Minuten"));
    // Another account is not affected.
    app.add_user("other@example.org", PW).await;
    assert_eq!(app.login("", "other@example.org", PW).await.status(), 303);
}

#[tokio::test]
async fn throttling_per_client_address() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.login_max_failures_per_ip = 2,
        ..AppOptions::default()
    })
    .await;
    app.add_user("ip@example.org", PW).await;
    assert_eq!(
        app.login("", "a1@example.org", "falsch falsch")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.login("", "a2@example.org", "falsch falsch")
            .await
            .status(),
        401
    );
    assert_eq!(app.login("", "ip@example.org", PW).await.status(), 429);
}

#[tokio::test]
async fn forms_need_the_csrf_token() {
    let app = spawn_app().await;
    app.add_user("x@example.org", PW).await;
    let _ = app.get("/login").await; // sets the CSRF cookie
    let r = app
        .post_form("/login", &[("email", "x@example.org"), ("password", PW)])
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form(
            "/login",
            &[
                ("csrf", "forged"),
                ("email", "x@example.org"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", "forged"),
                ("email", "y@example.org"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let fresh = reqwest::Client::new();
    let r = fresh
        .post(app.url("/login"))
        .form(&[("csrf", "x"), ("email", "x@example.org"), ("password", PW)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403, "no cookie, no login");
    // Malformed bodies are a 400 page, not a 5xx.
    let r = app
        .browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"email=%FF&email=2".to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn registration_rules_and_no_account_enumeration() {
    let app = spawn_app().await;
    let csrf = app.csrf_of("/register").await;
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "neu@example.org"),
                ("password", "kurz"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("mindestens 8 Zeichen")
    );
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "kein-at-zeichen"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("gültige E-Mail-Adresse")
    );

    app.add_user("taken@example.org", PW).await;
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "Taken@Example.org"),
                ("password", "anderes Passwort"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let taken_page = r.text().await.expect("body");
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "fresh@example.org"),
                ("password", PW),
            ],
        )
        .await;
    let fresh_page = r.text().await.expect("body");
    let strip = |s: &str| s.replace(char::is_whitespace, "");
    assert_eq!(
        strip(&taken_page).len(),
        strip(&fresh_page).len(),
        "the same answer for taken and new addresses"
    );
    assert!(
        app.mailed_link("taken@example.org", "/login").is_some(),
        "the holder is told instead"
    );
    assert!(
        app.mailed_link("taken@example.org", "/verify-email")
            .is_none()
    );
    // The old password still works: nothing was overwritten.
    assert_eq!(app.login("", "taken@example.org", PW).await.status(), 303);
}

#[tokio::test]
async fn unverified_accounts_cannot_log_in_and_links_are_single_use() {
    let app = spawn_app().await;
    let r = app.register("v@example.org", PW).await;
    assert_eq!(r.status(), 200);
    let r = app.login("", "v@example.org", PW).await;
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("noch nicht bestätigt")
    );
    assert_eq!(
        app.mails().len(),
        1,
        "no second link within the mail interval: the first one still works"
    );
    let link = app
        .mailed_link("v@example.org", "/verify-email")
        .expect("link");
    let page = app.get(&link).await.text().await.expect("page");
    assert!(
        page.contains(r#"autocomplete="current-password""#),
        "confirming asks for the password"
    );
    let token = hidden(&page, "token").expect("token");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let confirm = |pw: &'static str, tok: String| {
        let (app, csrf) = (&app, csrf.clone());
        async move {
            app.post_form(
                "/verify-email",
                &[("csrf", &csrf), ("token", &tok), ("password", pw)],
            )
            .await
            .status()
        }
    };
    assert_eq!(
        confirm("nicht das Passwort", token.clone()).await,
        401,
        "a wrong password does not confirm"
    );
    assert_eq!(
        confirm(PW, token.clone()).await,
        303,
        "confirmed and signed in"
    );
    assert_eq!(confirm(PW, token).await, 400, "used up");
    assert_eq!(confirm(PW, "made-up".into()).await, 400);
    assert_eq!(app.login("", "v@example.org", PW).await.status(), 303);
    let konto = app.get("/konto").await.text().await.expect("page");
    assert!(konto.contains("v@example.org") && konto.contains("niedrig"));
}

#[tokio::test]
async fn registering_an_unconfirmed_address_again_lets_the_owner_set_the_password() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.mail_interval_secs = 1,
        ..AppOptions::default()
    })
    .await;
    // Someone registers the victim's address with their own password and never confirms.
    let csrf = app.csrf_of("/register").await;
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "opfer@example.org"),
                ("password", "Passwort des Angreifers"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let attackers_link = app
        .mailed_link("opfer@example.org", "/verify-email")
        .expect("first link");
    // The owner registers too (after the mail interval); before confirming, the first link
    // does not accept the owner's password (it would keep the first registrant's).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app.register("opfer@example.org", PW).await;
    assert_eq!(r.status(), 200);
    let owners_link = app
        .mailed_link("opfer@example.org", "/verify-email")
        .expect("second link");
    assert_ne!(owners_link, attackers_link);
    let r = app.get(&attackers_link).await;
    assert_eq!(
        r.status(),
        400,
        "the first registrant's link was replaced by the owner's: one pending link per account \
         (said when it is opened, before any typing)"
    );
    assert!(hidden(&r.text().await.expect("page"), "token").is_none());
    // The owner's link with the owner's password confirms and sets that password.
    let page = app.get(&owners_link).await.text().await.expect("page");
    let (token, csrf) = (
        hidden(&page, "token").expect("token"),
        hidden(&page, "csrf").expect("csrf"),
    );
    let r = app
        .post_form(
            "/verify-email",
            &[("csrf", &csrf), ("token", &token), ("password", PW)],
        )
        .await;
    assert_eq!(r.status(), 303, "confirmed and signed in");
    assert_eq!(
        app.login("", "opfer@example.org", "Passwort des Angreifers")
            .await
            .status(),
        401,
        "the first password is gone"
    );
    assert_eq!(app.login("", "opfer@example.org", PW).await.status(), 303);
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Not trusted: a spoofed X-Forwarded-For does not escape the per-address limit.
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.login_max_failures_per_ip = 2,
        ..AppOptions::default()
    })
    .await;
    app.add_user("p@example.org", PW).await;
    for (i, xff) in ["10.0.0.1", "10.0.0.2"].iter().enumerate() {
        let csrf = app.csrf_of("/login").await;
        let r = app
            .browser
            .post(app.url("/login"))
            .header("x-forwarded-for", *xff)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", &format!("n{i}@example.org")),
                ("password", "falsch falsch"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 401);
    }
    let csrf = app.csrf_of("/login").await;
    let r = app
        .browser
        .post(app.url("/login"))
        .header("x-forwarded-for", "10.0.0.3")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "p@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 429);

    // Behind a trusted proxy (the loopback peer here), each citizen's address counts alone.
    let app = spawn_app_with(AppOptions {
        tweak: |c| {
            c.login_max_failures_per_ip = 2;
            c.trusted_proxies = "127.0.0.1".into();
        },
        ..AppOptions::default()
    })
    .await;
    app.add_user("p@example.org", PW).await;
    for i in 0..2 {
        let csrf = app.csrf_of("/login").await;
        let r = app
            .browser
            .post(app.url("/login"))
            .header("x-forwarded-for", "203.0.113.7, 127.0.0.1")
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", &format!("m{i}@example.org")),
                ("password", "falsch falsch"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 401);
    }
    let login_from = |xff: &'static str| {
        let app = &app;
        async move {
            let csrf = app.csrf_of("/login").await;
            app.browser
                .post(app.url("/login"))
                .header("x-forwarded-for", xff)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "p@example.org"),
                    ("password", PW),
                ])
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    assert_eq!(
        login_from("203.0.113.7").await,
        429,
        "the failing address is limited"
    );
    assert_eq!(
        login_from("1.2.3.4, 198.51.100.9").await,
        303,
        "another citizen is not (the spoofable left entry is ignored)"
    );
}

#[tokio::test]
async fn registrations_are_limited_per_client_address() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.login_max_failures_per_ip = 2,
        ..AppOptions::default()
    })
    .await;
    let csrf = app.csrf_of("/register").await;
    for (i, expected) in [(1, 200), (2, 200), (3, 429)] {
        let email = format!("viele{i}@example.org");
        let r = app
            .post_form(
                "/register",
                &[("csrf", &csrf), ("email", &email), ("password", PW)],
            )
            .await;
        assert_eq!(r.status(), expected, "registration {i}");
    }
    assert!(
        app.mailed_link("viele3@example.org", "/verify-email")
            .is_none(),
        "no mail when refused"
    );
}

#[tokio::test]
async fn an_unverified_account_has_one_pending_link_resent_at_most_once_per_interval() {
    let app = spawn_app().await;
    let r = app.register("u@example.org", PW).await;
    assert_eq!(r.status(), 200);
    // 25 logins with the right password: no new mail within the interval.
    for _ in 0..25 {
        assert_eq!(app.login("", "u@example.org", PW).await.status(), 403);
    }
    assert_eq!(app.mails().len(), 1, "one mail, not 26");
}

#[tokio::test]
async fn a_resent_link_replaces_the_pending_one() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| c.mail_interval_secs = 1,
        ..AppOptions::default()
    })
    .await;
    app.register("r@example.org", PW).await;
    let first = app
        .mailed_link("r@example.org", "/verify-email")
        .expect("link");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.login("", "r@example.org", PW).await.status(), 403);
    let second = app
        .mailed_link("r@example.org", "/verify-email")
        .expect("link");
    assert_ne!(first, second, "a new link after the interval");
    let confirm = |link: String| {
        let app = &app;
        async move {
            let r = app.get(&link).await;
            if r.status() != 200 {
                // A replaced link is refused as soon as it is opened.
                return r.status();
            }
            let page = r.text().await.expect("page");
            let (token, csrf) = (
                hidden(&page, "token").expect("token"),
                hidden(&page, "csrf").expect("csrf"),
            );
            app.post_form(
                "/verify-email",
                &[("csrf", &csrf), ("token", &token), ("password", PW)],
            )
            .await
            .status()
        }
    };
    assert_eq!(confirm(first).await, 400, "the replaced link is gone");
    assert_eq!(confirm(second).await, 303);
}

#[tokio::test]
async fn registering_an_unconfirmed_address_again_and_again_mails_once_per_interval() {
    let app = spawn_app().await;
    for pw in ["erstes Passwort", "zweites Passwort", "drittes Passwort"] {
        assert_eq!(app.register("flut@example.org", pw).await.status(), 200);
    }
    assert_eq!(app.mails().len(), 1, "one mail, not three");
    // The first link is still the pending one and works with the first password.
    let link = app
        .mailed_link("flut@example.org", "/verify-email")
        .expect("link");
    let page = app.get(&link).await.text().await.expect("page");
    let (token, csrf) = (
        hidden(&page, "token").expect("token"),
        hidden(&page, "csrf").expect("csrf"),
    );
    let r = app
        .post_form(
            "/verify-email",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "erstes Passwort"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn the_language_a_portal_asks_for_sticks_through_registration_and_its_mail() {
    use crate::helpers::rp::{discover, start};
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[("ui_locales", "en")]);
    let r = app.get(&flow.url).await;
    assert_eq!(r.status(), 303);
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.contains("bk_lang=en"));
    assert!(set, "the portal's language becomes the browser's");
    // Registration, its mail and the account page stay English.
    let page = app.get("/register").await.text().await.expect("page");
    assert!(page.contains("<html lang=\"en\""), "{page}");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "english@example.org"),
                ("password", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let done = r.text().await.expect("page");
    assert!(
        done.contains("english@example.org") && done.contains("spam folder"),
        "the page names the address and what to do without a mail"
    );
    let mail = app
        .mails()
        .into_iter()
        .find(|m| m.contains("To: english@example.org"))
        .expect("mail");
    assert!(
        mail.contains("Please confirm your e-mail address"),
        "{mail}"
    );
    // A citizen's own choice is not overwritten by the next portal's.
    app.get("/lang?to=de&back=/login").await;
    let flow = start(&rp, &[], &[("ui_locales", "en")]);
    let r = app.get(&flow.url).await;
    assert!(
        !r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.contains("bk_lang=")),
        "the citizen chose German"
    );
}

#[tokio::test]
async fn registration_errors_come_all_at_once_each_tied_to_its_field() {
    let app = spawn_app().await;
    let page = app.get("/register").await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app
        .post_form(
            "/register",
            &[("csrf", &csrf), ("email", "kein-at"), ("password", "kurz")],
        )
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("page");
    assert!(body.contains("<title>Fehler: "), "{body}");
    assert!(body.contains("id=\"email-error\"") && body.contains("id=\"password-error\""));
    assert!(body.contains("aria-describedby=\"email-error\""));
    assert!(body.contains("aria-describedby=\"pw-hint password-error\""));
    assert_eq!(body.matches("aria-invalid=\"true\"").count(), 2);
    assert!(app.mails().is_empty());
}

#[tokio::test]
async fn login_and_consent_name_the_kommune_and_say_what_deny_does() {
    use crate::helpers::location;
    use crate::helpers::rp::{discover, start};
    let app = spawn_app().await;
    app.add_user("kommune@example.org", "ein langes Passwort")
        .await;
    // The Kommune's own legal pages: https only.
    let (ok, _, _) = app.cli(
        &[
            "tenant",
            "links",
            "--slug",
            &app.tenant,
            "--impressum-url",
            "http://gemeinde-a.example/i",
            "--privacy-url",
            "",
        ],
        None,
    );
    assert!(!ok, "not https");
    let (ok, out, err) = app.cli(
        &[
            "tenant",
            "links",
            "--slug",
            &app.tenant,
            "--impressum-url",
            "https://gemeinde-a.example/impressum",
            "--privacy-url",
            "https://gemeinde-a.example/datenschutz",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(out["privacy_url"], "https://gemeinde-a.example/datenschutz");
    let client = app.add_client(&app.tenant, &[]).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &["email"], &[]);
    let login = location(&app.get(&flow.url).await);
    let page = app.get(&login).await.text().await.expect("page");
    let login_page = page.clone();
    assert!(
        page.contains("Gemeinde A"),
        "the login names the Kommune: {page}"
    );
    let req = crate::helpers::query_param(&login, "req").expect("req");
    let r = app
        .login(&req, "kommune@example.org", "ein langes Passwort")
        .await;
    assert_eq!(r.status(), 303);
    let mut next = location(&r);
    for _ in 0..3 {
        if next.starts_with("/consent") {
            break;
        }
        next = location(&app.get(&next).await);
    }
    assert!(next.starts_with("/consent"), "{next}");
    let consent = app.get(&next).await.text().await.expect("page");
    assert!(consent.contains("<strong>Gemeinde A</strong>"), "{consent}");
    assert!(
        login_page.contains("href=\"https://gemeinde-a.example/impressum\""),
        "{login_page}"
    );
    assert!(consent.contains("keine Angaben") && consent.contains("widerrufen"));
    assert!(
        consent.contains("href=\"https://gemeinde-a.example/datenschutz\""),
        "{consent}"
    );
}

#[tokio::test]
async fn error_pages_name_the_error_and_where_help_is() {
    let app = spawn_app().await;
    let r = app.get("/nicht-da").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.expect("page");
    assert!(body.contains("<title>Seite nicht gefunden"), "{body}");
    assert!(body.contains("Hilfe und Kontakt"));
}

#[tokio::test]
async fn confirming_the_address_signs_in_and_returns_to_the_portal_that_started_it() {
    use crate::helpers::rp::{discover, start};
    use crate::helpers::{location, query_param};
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &["email"], &[]);
    let login = location(&app.get(&flow.url).await);
    let req = query_param(&login, "req").expect("req");
    let page = app
        .get(&format!("/register?req={req}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let pw = "ein langes Passwort";
    let r = app
        .post_form(
            "/register",
            &[
                ("csrf", &csrf),
                ("req", &req),
                ("email", "portal@example.org"),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let link = app
        .mailed_link("portal@example.org", "/verify-email")
        .expect("link");
    let page = app.get(&link).await.text().await.expect("page");
    let (token, csrf) = (
        hidden(&page, "token").expect("token"),
        hidden(&page, "csrf").expect("csrf"),
    );
    let r = app
        .post_form(
            "/verify-email",
            &[("csrf", &csrf), ("token", &token), ("password", pw)],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        format!("/authorize/resume?req={req}"),
        "back into the portal's flow"
    );
    // Signed in: the flow goes on to the consent question, without a login page.
    let next = location(&app.get(&location(&r)).await);
    assert!(next.starts_with("/consent?req="), "{next}");
}

#[tokio::test]
async fn the_confirmation_page_says_before_any_typing_that_the_portals_request_is_gone() {
    use crate::helpers::rp::{discover, start};
    use crate::helpers::{location, query_param};
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &["email"], &[]);
    let login = location(&app.get(&flow.url).await);
    let req = query_param(&login, "req").expect("req");
    let page = app
        .get(&format!("/register?req={req}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let pw = "ein langes Passwort";
    app.post_form(
        "/register",
        &[
            ("csrf", &csrf),
            ("req", &req),
            ("email", "spaet@example.org"),
            ("password", pw),
        ],
    )
    .await;
    let link = app
        .mailed_link("spaet@example.org", "/verify-email")
        .expect("link");
    // While the request waits, the form names the address for password managers only.
    let page = app.get(&link).await.text().await.expect("page");
    assert!(!page.contains("abgelaufen"));
    assert!(
        page.contains(
            r#"name="username" autocomplete="username" value="spaet@example.org" hidden"#
        )
    );
    // The request ends (here: cancelled at the portal's login page).
    let login_page = app.get(&login).await.text().await.expect("page");
    let c = hidden(&login_page, "csrf").expect("csrf");
    let r = app
        .post_form("/authorize/cancel", &[("csrf", &c), ("req", &req)])
        .await;
    assert_eq!(r.status(), 303);
    let page = app.get(&link).await.text().await.expect("page");
    assert!(page.contains("abgelaufen"), "{page}");
    // A made-up link is told at once, not after typing the password.
    let r = app.get("/verify-email?token=erfunden").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_login_page_leads_back_to_the_portal_without_a_login() {
    use crate::helpers::rp::{discover, start};
    use crate::helpers::{location, query_param};
    let app = spawn_app().await;
    let client = app.add_client(&app.tenant, &[]).await;
    let rp = discover(&app, &client).await;
    let flow = start(&rp, &[], &[]);
    let login = location(&app.get(&flow.url).await);
    let req = query_param(&login, "req").expect("req");
    let page = app.get(&login).await.text().await.expect("page");
    assert!(page.contains("action=\"/authorize/cancel\""));
    let csrf = hidden(&page, "csrf").expect("csrf");
    // Without the form token nothing happens.
    let r = app.post_form("/authorize/cancel", &[("req", &req)]).await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form("/authorize/cancel", &[("csrf", &csrf), ("req", &req)])
        .await;
    assert_eq!(r.status(), 303);
    let back = location(&r);
    assert!(back.starts_with(&client.redirect_uri), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(flow.state.secret().as_str())
    );
    // The request is gone: cancelling again answers a page, not a redirect.
    let r = app
        .post_form("/authorize/cancel", &[("csrf", &csrf), ("req", &req)])
        .await;
    assert_ne!(r.status(), 303);
}

#[tokio::test]
async fn a_verification_link_dies_when_the_address_is_confirmed_another_way() {
    let app = spawn_app().await;
    let pw = "ein langes Passwort";
    assert_eq!(app.register("zweiweg@example.org", pw).await.status(), 200);
    let link = app
        .mailed_link("zweiweg@example.org", "/verify-email")
        .expect("link");
    let page = app.get(&link).await.text().await.expect("page");
    let (token, csrf) = (
        hidden(&page, "token").expect("token"),
        hidden(&page, "csrf").expect("csrf"),
    );
    // The holder resets the password instead (which confirms the address).
    let c = app.csrf_of("/password/forgot").await;
    app.post_form(
        "/password/forgot",
        &[("csrf", &c), ("email", "zweiweg@example.org")],
    )
    .await;
    let reset = app
        .wait_for_link("zweiweg@example.org", "/password/reset")
        .await
        .expect("reset link");
    let rp = app.get(&reset).await.text().await.expect("page");
    let r = app
        .post_form(
            "/password/reset",
            &[
                ("csrf", &hidden(&rp, "csrf").expect("csrf")),
                ("token", &hidden(&rp, "token").expect("token")),
                ("password", "ein neues langes Passwort"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    // The old verification link is dead, opened or posted, with any password.
    assert_eq!(app.get(&link).await.status(), 400);
    let r = app
        .post_form(
            "/verify-email",
            &[("csrf", &csrf), ("token", &token), ("password", pw)],
        )
        .await;
    assert_eq!(r.status(), 400);
}
