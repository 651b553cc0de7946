//! Citizens write first: a Kommune's contact topic, the citizen's message from
//! `/postfach/neu` with a photo, the system hearing of it by callback and fetching it by
//! cursor, the same sealing, evidence and idempotency as the other direction.

use crate::helpers::receiver::{Receiver, types_for};
use crate::helpers::{AppOptions, TestApp, hidden, location, spawn_app_with};
use crate::mailbox::{EMAIL, PW, authority, citizen_at, send};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::Duration;

const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 ein Foto vom Handy";

fn quick(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_notify_delay_secs = 1;
    raw.mailbox_interval_secs = 1;
    raw.callback_allow_http = true;
    raw.callback_retry_base_secs = 1;
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn add_topic(app: &TestApp, slug: &str, client: &str, level: &str) -> String {
    let (ok, out, err) = app.cli(
        &[
            "topic",
            "add",
            "--tenant",
            "gemeinde-a",
            "--slug",
            slug,
            "--name",
            "Wohngeld",
            "--client",
            client,
            "--level",
            level,
        ],
        None,
    );
    assert!(ok, "{err}");
    out["id"].as_str().expect("id").to_owned()
}

async fn post_message(
    app: &TestApp,
    topic: &str,
    csrf: &str,
    nonce: &str,
    body: &str,
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("nonce", nonce.to_owned())
        .text("subject", "Antrag auf Wohngeld")
        .text("body", body.to_owned())
        .part(
            "files",
            reqwest::multipart::Part::bytes(PHOTO.to_vec())
                .file_name("kontoauszug.jpg")
                .mime_str("image/jpeg")
                .expect("mime"),
        );
    app.browser
        .post(app.url(&format!("/postfach/neu/{topic}")))
        .multipart(form)
        .send()
        .await
        .expect("post")
}

#[tokio::test]
async fn a_citizen_writes_first_and_the_system_hears_of_it_and_fetches_it_by_cursor() {
    let app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, _) = citizen_at(&app, &portal).await;
    let (token, client) = authority(&app, &app.tenant).await;
    let rx = Receiver::start().await;
    let (ok, _, err) = app.cli(
        &[
            "client",
            "callback",
            "set",
            "--id",
            &client,
            "--url",
            &rx.url,
            "--secret-stdin",
        ],
        Some(&rx.secret),
    );
    assert!(ok, "{err}");
    let topic = add_topic(&app, "wohngeld", &client, "low");

    // The citizen finds the topic from the mailbox and writes with a photo.
    let inbox = app.get("/postfach").await.text().await.expect("page");
    assert!(inbox.contains("href=\"/postfach/neu\""));
    let list = app.get("/postfach/neu").await.text().await.expect("page");
    assert!(
        list.contains("Wohngeld") && list.contains("Gemeinde A"),
        "{list}"
    );
    let form = app
        .get(&format!("/postfach/neu/{topic}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        form.contains("accept=\"image/*,application/pdf\""),
        "phones offer the camera"
    );
    let csrf = hidden(&form, "csrf").expect("csrf");
    let nonce = hidden(&form, "nonce").expect("nonce");
    let r = post_message(&app, &topic, &csrf, &nonce, "Anbei mein Kontoauszug.").await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    let id = to
        .trim_start_matches("/postfach/")
        .trim_end_matches("?eingereicht=1")
        .to_owned();
    // The same form again (twenty times at once) stores nothing new; changed content under
    // its nonce is refused.
    let again = futures_util::future::join_all(
        (0..20).map(|_| post_message(&app, &topic, &csrf, &nonce, "Anbei mein Kontoauszug.")),
    )
    .await;
    assert!(again.iter().all(|r| location(r) == to));
    let changed = post_message(&app, &topic, &csrf, &nonce, "Etwas anderes.").await;
    assert_eq!(changed.status(), 409);
    let own_page = app.get(&to).await.text().await.expect("page");
    assert!(
        own_page.contains("Anbei mein Kontoauszug.") && own_page.contains("Gemeinde A – Wohngeld"),
        "{own_page}"
    );

    // The system hears of it and fetches it, with the photo and the citizen's subject.
    let got = rx.wait_for(1, 20).await;
    assert_eq!(types_for(&got, &id), ["submitted"]);
    let (code, page) = get_json(&app, &token, "/api/v1/mailbox/incoming").await;
    assert_eq!(code, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one message for two identical posts");
    let m = &items[0];
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["subject"], "Antrag auf Wohngeld");
    assert_eq!(m["body"], "Anbei mein Kontoauszug.");
    assert_eq!(m["topic"], "Wohngeld");
    assert_eq!(
        m["recipient_sub"],
        sub.as_str(),
        "the citizen as the tenant knows them"
    );
    let file = STANDARD
        .decode(
            m["attachments"][0]["content_base64"]
                .as_str()
                .expect("file"),
        )
        .expect("base64");
    assert_eq!(file, PHOTO);
    let next = page["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, rest) = get_json(
        &app,
        &token,
        &format!("/api/v1/mailbox/incoming?after={next}"),
    )
    .await;
    assert_eq!(rest["items"], json!([]));
    assert_eq!(
        get_json(&app, &token, "/api/v1/mailbox/incoming?after=x")
            .await
            .0,
        422
    );
    // Its evidence, as for messages sent: submitted (with the file's SHA-512), delivered.
    let (_, status) = get_json(&app, &token, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(status["evidence_intact"], true);
    let kinds: Vec<&str> = status["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds[..2], ["submitted", "delivered"]);
    // The citizen's own message is no act placed in their mailbox: no announcement date,
    // neither for the system nor on the citizen's page.
    assert_eq!(status["announcement"], Value::Null, "{status}");
    assert!(!own_page.contains("bekannt gegeben"), "{own_page}");
    assert_eq!(
        status["events"][0]["detail"]["attachments"][0]["sha512"]
            .as_str()
            .map(str::len),
        Some(128)
    );
    // The citizen is not notified of their own message.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, status) = get_json(&app, &token, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert!(!status.to_string().contains("\"notified\""), "{status}");
    // The system answers to the citizen's subject.
    let (code, _, _) = send(
        &app,
        &token,
        &json!({ "recipient_sub": sub, "subject": "Ihr Wohngeldantrag", "body": "Eingegangen." }),
        None,
    )
    .await;
    assert_eq!(code, 201);
    // Another system of the Kommune sees none of it.
    let (other, _) = authority(&app, &app.tenant).await;
    assert_eq!(
        get_json(&app, &other, "/api/v1/mailbox/incoming").await.1["items"],
        json!([])
    );
    assert_eq!(
        get_json(&app, &other, &format!("/api/v1/mailbox/messages/{id}"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_topic_above_the_session_level_asks_for_it_first_and_a_disabled_one_is_gone() {
    let app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_user(EMAIL, PW).await;
    assert_eq!(app.login("", EMAIL, PW).await.status(), 303);
    let (token, client) = authority(&app, &app.tenant).await;
    let high = add_topic(&app, "bauantrag", &client, "substantial");
    // Asked for the level before anything is typed; a post anyway stores nothing.
    let r = app.get(&format!("/postfach/neu/{high}")).await;
    assert!(
        r.status() == 403 || location(&r).starts_with("/login/otp"),
        "{}",
        r.status()
    );
    let csrf = app.csrf_of("/konto").await;
    let r = post_message(&app, &high, &csrf, "n1", "Text").await;
    assert_eq!(location(&r), format!("/postfach/neu/{high}"));
    assert_eq!(
        get_json(&app, &token, "/api/v1/mailbox/incoming").await.1["items"],
        json!([])
    );
    // Unknown and malformed topics; a disabled topic is neither listed nor reachable.
    assert_eq!(
        app.get(&format!("/postfach/neu/{}", uuid::Uuid::now_v7()))
            .await
            .status(),
        404
    );
    assert_eq!(app.get("/postfach/neu/kein-thema").await.status(), 404);
    let low = add_topic(&app, "sperrmuell", &client, "low");
    let (ok, _, err) = app.cli(&["topic", "disable", "--id", &low], None);
    assert!(ok, "{err}");
    let list = app.get("/postfach/neu").await.text().await.expect("page");
    assert!(!list.contains(&low));
    assert_eq!(app.get(&format!("/postfach/neu/{low}")).await.status(), 404);
    // Topics name one of the tenant's own systems with mailbox.send, a unique slug.
    let portal = app.add_client(&app.tenant, &["--scope", "openid"]).await;
    for (slug, c) in [
        ("anderes", portal.id.as_str()),
        ("bauantrag", client.as_str()),
    ] {
        let (ok, _, _) = app.cli(
            &[
                "topic",
                "add",
                "--tenant",
                "gemeinde-a",
                "--slug",
                slug,
                "--name",
                "X",
                "--client",
                c,
            ],
            None,
        );
        assert!(!ok, "{slug} refused");
    }
}

#[tokio::test]
async fn a_thread_on_a_topic_disabled_since_takes_no_more_additions() {
    let app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_user(EMAIL, PW).await;
    assert_eq!(app.login("", EMAIL, PW).await.status(), 303);
    let (_, client) = authority(&app, &app.tenant).await;
    let topic = add_topic(&app, "sperrmuell", &client, "low");
    let form = app
        .get(&format!("/postfach/neu/{topic}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&form, "csrf").expect("csrf");
    let nonce = hidden(&form, "nonce").expect("nonce");
    let r = post_message(&app, &topic, &csrf, &nonce, "Bitte Abholung.").await;
    let id = location(&r)
        .trim_start_matches("/postfach/")
        .trim_end_matches("?eingereicht=1")
        .to_owned();
    let r = crate::helpers::reply_on_page(&app, &id, &csrf, "Es sind zwei Schränke.").await;
    assert_eq!(r.status(), 303, "open topic: the addition goes through");

    let (ok, _, err) = app.cli(&["topic", "disable", "--id", &topic], None);
    assert!(ok, "{err}");
    let r = crate::helpers::reply_on_page(&app, &id, &csrf, "Und ein Sofa.").await;
    assert_eq!(r.status(), 409);
    let page = r.text().await.expect("page");
    assert!(
        page.contains("Dieses Thema nimmt keine Nachrichten mehr an"),
        "{page}"
    );
    let thread = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(thread.contains("Es sind zwei Schränke.") && !thread.contains("Und ein Sofa."));
}

#[tokio::test]
async fn forty_forms_at_once_cannot_write_more_than_a_day_allows() {
    let app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    citizen_at(&app, &portal).await;
    let (token, client) = authority(&app, &app.tenant).await;
    let topic = add_topic(&app, "wohngeld", &client, "low");
    let form = app
        .get(&format!("/postfach/neu/{topic}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&form, "csrf").expect("csrf");
    // Forty different forms (each its own nonce) at once: the limit is 20 a day.
    let nonces: Vec<String> = (0..40).map(|i| format!("nonce-{i:02}-abcdefgh")).collect();
    let answers = futures_util::future::join_all(
        nonces
            .iter()
            .map(|n| post_message(&app, &topic, &csrf, n, "Noch eine Frage.")),
    )
    .await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        20,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        20,
        "{statuses:?}"
    );
    let refused = answers
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a refusal");
    let page = refused.text().await.expect("page");
    assert!(page.contains("so viele, wie ein Tag erlaubt"), "{page}");
    let (code, feed) = get_json(&app, &token, "/api/v1/mailbox/incoming?limit=100").await;
    assert_eq!(code, 200, "{feed}");
    assert_eq!(feed["items"].as_array().expect("items").len(), 20);
}

#[tokio::test]
async fn the_form_that_takes_the_last_place_sent_twenty_times_at_once_is_one_message() {
    let app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    citizen_at(&app, &portal).await;
    let (_, client) = authority(&app, &app.tenant).await;
    let topic = add_topic(&app, "wohngeld", &client, "low");
    let form = app
        .get(&format!("/postfach/neu/{topic}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&form, "csrf").expect("csrf");
    for i in 0..19 {
        let r = post_message(
            &app,
            &topic,
            &csrf,
            &format!("frueher-{i:02}-abcdef"),
            "Frage.",
        )
        .await;
        assert_eq!(r.status(), 303, "form {i}");
    }
    // The twentieth form, sent twenty times at once: one message, every answer its page
    // (a repeat at the limit is a replay, not a refusal).
    let last = futures_util::future::join_all(
        (0..20).map(|_| post_message(&app, &topic, &csrf, "der-letzte-platz", "Letzte Frage.")),
    )
    .await;
    let to = location(&last[0]);
    assert!(to.starts_with("/postfach/"), "{to}");
    let answers: Vec<(u16, Option<String>)> = last
        .iter()
        .map(|r| {
            let to = r.headers().get("location").and_then(|l| l.to_str().ok());
            (r.status().as_u16(), to.map(str::to_owned))
        })
        .collect();
    assert!(
        answers
            .iter()
            .all(|(s, l)| *s == 303 && l.as_deref() == Some(to.as_str())),
        "{answers:?}"
    );
    // Then the day is full.
    let r = post_message(&app, &topic, &csrf, "einer-zu-viel", "Noch eine.").await;
    assert_eq!(r.status(), 429);
}
