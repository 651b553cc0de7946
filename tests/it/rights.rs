//! Data rights: "Meine Daten" shows and exports everything held about the account (DSGVO
//! Art. 15 and 20), and nothing secret.

use crate::helpers::portal::spawn_portal;
use crate::helpers::rp::jwt_payload;
use crate::helpers::{
    AppOptions, TestApp, basic, browser_client, code_for, exchange, hidden, location, spawn_app,
    spawn_app_with, token,
};
use crate::mailbox::{EMAIL, PW, authority, citizen_at, letter, send};
use buergerkonto::clock::Clock;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn the_export_names_every_kind_of_data_and_no_secret() {
    let app = spawn_app().await;
    app.add_user(EMAIL, PW).await;
    // A clerk confirmed the identity with a name; a portal got consent; a message arrived.
    let (ok, _, err) = app.cli(
        &[
            "user",
            "verify-identity",
            "--email",
            EMAIL,
            "--level",
            "substantial",
            "--document-type",
            "personalausweis",
            "--clerk",
            "Bürgerbüro Musterstadt",
            "--given-name",
            "Erika",
        ],
        None,
    );
    assert!(ok, "{err}");
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, _) = authority(&app, &app.tenant).await;
    assert_eq!(send(&app, &token, &letter(&sub), None).await.0, 201);

    let r = app
        .browser
        .get(app.url("/konto/daten.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment")
    );
    let raw = r.text().await.expect("body");
    let e: Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(e["format"], "buergerkonto-export/1");
    for key in [
        "account",
        "verified_data",
        "linked_identities",
        "sign_in_methods",
        "sessions",
        "consents",
        "mailbox",
        "audit",
    ] {
        assert!(e.get(key).is_some(), "the export names {key}");
    }
    assert_eq!(e["account"]["email"], EMAIL);
    assert_eq!(e["account"]["identity_level"], "substantial");
    let given = e["verified_data"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["claim"] == "given_name")
        .expect("the confirmed given name");
    assert_eq!(given["value"], "Erika");
    assert!(
        given["confirmed_by"]
            .as_str()
            .expect("who")
            .contains("Bürgerbüro Musterstadt")
    );
    assert_eq!(e["sign_in_methods"]["password"], true);
    let sessions = e["sessions"].as_array().expect("sessions");
    assert!(!sessions.is_empty());
    // Sessions name their portals as the account page does, not by client id.
    assert!(
        sessions
            .iter()
            .any(|s| s["portals"] == serde_json::json!(["Bürgerportal Test"])),
        "{sessions:?}"
    );
    assert!(
        e["consents"]
            .as_array()
            .expect("consents")
            .iter()
            .any(|c| c["client_id"] == portal.id.as_str()),
        "{}",
        e["consents"]
    );
    let messages = e["mailbox"].as_array().expect("mailbox");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["sender"], "Gemeinde A");
    assert_eq!(e["mailbox_complete"], true);
    assert!(!e["audit"].as_array().expect("audit").is_empty());
    // Nothing that would let someone sign in or read sealed content.
    for secret in ["argon2", PW, "wrapped", "credential_id", "passkey\":"] {
        assert!(!raw.contains(secret), "the export holds {secret}");
    }

    // The same as a page, linked from the account page.
    let konto = app
        .browser
        .get(app.url("/konto"))
        .send()
        .await
        .expect("get");
    let konto = konto.text().await.expect("page");
    assert!(konto.contains("href=\"/konto/daten\""));
    assert!(
        konto.contains("(1 neu)"),
        "the account page counts the unread message"
    );
    let page = app
        .browser
        .get(app.url("/konto/daten"))
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(
        page.contains("<h1>Meine Daten</h1>") && page.contains(EMAIL) && page.contains("Erika")
    );
    assert!(page.contains("href=\"/konto/daten.json\""));

    // Without a session: no data.
    let stranger = browser_client();
    for path in ["/konto/daten", "/konto/daten.json"] {
        let r = stranger.get(app.url(path)).send().await.expect("get");
        assert_ne!(r.status(), 200, "{path}");
        assert!(!r.text().await.expect("body").contains(EMAIL), "{path}");
    }
}

/// A server on a manual clock whose background rounds run every second.
async fn clocked(tweak: fn(&mut buergerkonto::config::RawConfig)) -> (TestApp, Clock) {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(AppOptions {
        tweak,
        clock: clock.clone(),
        ..AppOptions::default()
    })
    .await;
    (app, clock)
}

fn every_second(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_interval_secs = 1;
}

/// Waits (up to 10 s) for a mail to `to` whose text contains `what`.
async fn wait_for_mail(app: &TestApp, to: &str, what: &str) -> Option<String> {
    for _ in 0..100 {
        let found = app
            .mails()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")) && m.contains(what));
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

async fn login_status(app: &TestApp, email: &str) -> String {
    let b = browser_client();
    let page = b
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
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
    if r.status() == 303 {
        location(&r)
    } else {
        r.status().as_u16().to_string()
    }
}

/// Asks for the deletion from the browser's session; the page after it.
async fn ask_deletion(app: &TestApp, password: &str) -> reqwest::Response {
    let page = app.get("/konto/loeschen").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    app.post_form(
        "/konto/loeschen",
        &[("csrf", &csrf), ("password", password)],
    )
    .await
}

#[tokio::test]
async fn deleting_the_account_tells_portals_kills_tokens_purges_the_mailbox_and_keeps_evidence() {
    let (app, clock) = clocked(every_second).await;
    let bcl = spawn_portal().await;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &[
                "--scope",
                "openid",
                "--scope",
                "offline_access",
                "--scope",
                "mailbox.read",
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--backchannel-logout-uri",
                &format!("{}/bcl", bcl.base),
            ],
        )
        .await;
    let code = code_for(
        &app,
        &portal,
        EMAIL,
        PW,
        "openid offline_access mailbox.read",
    )
    .await;
    let (status, body, _) = token(&app, Some(basic(&portal)), &exchange(&portal, &code)).await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    let sub = jwt_payload(body["id_token"].as_str().expect("id token"))["sub"]
        .as_str()
        .expect("sub")
        .to_owned();
    let (authority_token, _) = authority(&app, &app.tenant).await;
    let (s, _, sent) = send(&app, &authority_token, &letter(&sub), None).await;
    assert_eq!(s, 201, "{sent}");
    let message = sent["id"].as_str().expect("id").to_owned();

    // The page says plainly what happens, what stays, and when.
    let page = app.get("/konto/loeschen").await.text().await.expect("page");
    for phrase in [
        "auf allen Geräten abgemeldet",
        "Dauerhafte Zugänge der Dienste",
        "Inhalte Ihres Postfachs",
        "Melden Sie sich einfach an",
        "§ 9 OZG",
        "Sicherheitsprotokoll",
        "/konto/daten",
    ] {
        assert!(page.contains(phrase), "{phrase}: {page}");
    }
    // A wrong password changes nothing.
    let r = ask_deletion(&app, "falsch falsch").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("page").contains("<title>Fehler:"));
    assert_eq!(app.get("/konto").await.status(), 200);
    // The request: every session ends at once, the portal hears of it, its tokens die.
    let r = ask_deletion(&app, PW).await;
    assert_eq!(r.status(), 200);
    let done = r.text().await.expect("page");
    let day = buergerkonto::domain::civil::day(clock.now() + chrono::Duration::days(14));
    assert!(
        done.contains("Löschung beantragt") && done.contains(&day),
        "{done}"
    );
    assert_eq!(location(&app.get("/konto").await), "/login");
    assert!(
        !bcl.wait_for_logouts(1).await.is_empty(),
        "back-channel logout for the portal"
    );
    let (s, b, _) = token(
        &app,
        Some(basic(&portal)),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let confirmation = wait_for_mail(&app, EMAIL, "beantragt. Es wird")
        .await
        .unwrap_or_else(|| panic!("a mail names the day: {:?}", app.mails()));
    assert!(confirmation.contains(&day));
    // Until the day the message is kept.
    let status_of = || async {
        let r = app
            .http
            .get(app.url(&format!("/api/v1/mailbox/messages/{message}")))
            .bearer_auth(&authority_token)
            .send()
            .await
            .expect("get");
        r.json::<Value>().await.expect("json")
    };
    let kinds = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["type"].as_str().expect("type").to_owned())
            .collect()
    };
    assert!(!kinds(&status_of().await).contains(&"purged".to_owned()));

    // The day comes: the background round deletes the account.
    clock.advance(Duration::from_secs(15 * 86_400));
    let last = wait_for_mail(&app, EMAIL, "Ihre Anmeldedaten")
        .await
        .expect("a last mail to the address it had");
    assert!(last.contains("Nachweise"));
    // The mailbox content is gone (the purge follows the account's erasure and its mail in
    // the same round), the sender's evidence stays and verifies.
    let mut after = status_of().await;
    for _ in 0..50 {
        if kinds(&after).contains(&"purged".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = status_of().await;
    }
    assert!(kinds(&after).contains(&"purged".to_owned()), "{after}");
    assert_eq!(after["evidence_intact"], true);
    let r = app
        .http
        .get(app.url(&format!("/api/v1/mailbox/messages/{message}/receipt")))
        .bearer_auth(&authority_token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    // Nobody can sign in any more, the portal cannot write to the old subject, and the
    // address is free for a new account.
    assert_eq!(login_status(&app, EMAIL).await, "401");
    let (s, _, _) = send(&app, &authority_token, &letter(&sub), None).await;
    let (unknown, _, _) = send(&app, &authority_token, &letter("unbekannt"), None).await;
    assert_eq!(
        (s, unknown),
        (422, 422),
        "the old subject is as unknown as any"
    );
    assert_eq!(app.register(EMAIL, PW).await.status(), 200);
    assert!(
        app.wait_for_link(EMAIL, "/verify-email").await.is_some(),
        "a new registration with the freed address"
    );
}

#[tokio::test]
async fn a_login_within_the_grace_period_keeps_the_account() {
    let (app, clock) = clocked(every_second).await;
    app.add_user(EMAIL, PW).await;
    assert_eq!(app.login("", EMAIL, PW).await.status(), 303);
    assert_eq!(ask_deletion(&app, PW).await.status(), 200);
    assert_eq!(location(&app.get("/konto").await), "/login");
    // The citizen changes their mind and signs in: the deletion is off, and a mail says so.
    assert_eq!(login_status(&app, EMAIL).await, "/konto");
    assert!(wait_for_mail(&app, EMAIL, "abgebrochen").await.is_some());
    clock.advance(Duration::from_secs(30 * 86_400));
    // Several rounds pass; the account is still there.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        app.mails().iter().all(|m| !m.contains("Ihre Anmeldedaten")),
        "no deletion"
    );
    assert_eq!(login_status(&app, EMAIL).await, "/konto");
}

fn two_years(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_interval_secs = 1;
    raw.inactive_delete_days = 730;
    raw.inactive_warn_days = 30;
}

#[tokio::test]
async fn an_unused_account_is_warned_and_then_deleted_unless_its_holder_signs_in() {
    let (app, clock) = clocked(two_years).await;
    app.add_user("vergessen@example.org", PW).await;
    app.add_user("zurueck@example.org", PW).await;
    // Nearly two years without a login: both are warned with the day.
    clock.advance(Duration::from_secs(701 * 86_400));
    let day = buergerkonto::domain::civil::day(clock.now() + chrono::Duration::days(30));
    for who in ["vergessen@example.org", "zurueck@example.org"] {
        let warning = wait_for_mail(&app, who, "lange nicht genutzt")
            .await
            .expect("a warning");
        assert!(warning.contains(&day), "{warning}");
    }
    // One signs in; the other does not.
    assert_eq!(login_status(&app, "zurueck@example.org").await, "/konto");
    clock.advance(Duration::from_secs(31 * 86_400));
    assert!(
        wait_for_mail(&app, "vergessen@example.org", "Ihre Anmeldedaten")
            .await
            .is_some()
    );
    assert_eq!(login_status(&app, "vergessen@example.org").await, "401");
    assert_eq!(login_status(&app, "zurueck@example.org").await, "/konto");
    assert!(
        app.mails()
            .iter()
            .all(|m| !(m.contains("To: zurueck@example.org") && m.contains("Ihre Anmeldedaten")))
    );
}

#[tokio::test]
async fn the_messages_themselves_come_on_request_count_as_opened_and_downloads_are_spaced() {
    let app = spawn_app().await;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, _) = authority(&app, &app.tenant).await;
    let (s, _, sent) = send(&app, &token, &letter(&sub), None).await;
    assert_eq!(s, 201);
    let id = sent["id"].as_str().expect("id").to_owned();
    let page = app.get("/konto/daten").await.text().await.expect("page");
    assert!(
        page.contains(r#"<form method="post" action="/konto/daten.json">"#)
            && page.contains("als abgerufen")
    );
    // A link (which any site can make a browser follow) never takes contents out, and a
    // form without the page's token is refused: reading is evidence.
    let forged = app
        .post_form("/konto/daten.json", &[("csrf", "gefälscht")])
        .await;
    assert_eq!(forged.status(), 403);
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = app.post_form("/konto/daten.json", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 200);
    let e: Value = serde_json::from_str(&r.text().await.expect("body")).expect("json");
    let contents = &e["message_contents"];
    assert_eq!(contents["complete"], true);
    let m = &contents["messages"][0];
    assert_eq!(m["id"], id.as_str());
    assert!(
        m["body"]
            .as_str()
            .expect("body")
            .contains("Ihr Ausweis liegt zur Abholung bereit")
    );
    assert_eq!(m["attachments"][0]["filename"], "Bescheid.pdf");
    // Taking the content out is reading it: the sender's evidence says so.
    let status: Value = app
        .http
        .get(app.url(&format!("/api/v1/mailbox/messages/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let opened = status["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "opened")
        .expect("opened");
    assert!(opened.to_string().contains("export"), "{opened}");
    // Each download gathers everything: the next one waits half a minute.
    let again = app.get("/konto/daten.json").await;
    assert_eq!(again.status(), 429);
    assert!(again.text().await.expect("page").contains("halbe Minute"));
}
