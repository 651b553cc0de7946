//! The mailbox: an authority system sends through the API, the citizen reads and answers on
//! the pages, a portal shows the inbox with the citizen's token, evidence is hash-chained and
//! signed, content is encrypted at rest, and notification mails are batched.

use crate::helpers::rp::{discover, finish, jwt_payload, run_browser, start};
use crate::helpers::{AppOptions, Backend, TestApp, TestClient, hidden, location, spawn_app_with};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

pub(crate) const PW: &str = "ein langes Passwort";
pub(crate) const EMAIL: &str = "post@example.org";
const PDF: &[u8] = b"%PDF-1.4\n% Bescheid\n%%EOF\n";

struct Fixture {
    app: TestApp,
    /// The citizen's account id (their subject at portals with public subjects).
    account_id: String,
    /// An authority system's token (client_credentials, mailbox.send).
    authority: String,
    authority_id: String,
    /// The citizen's subject at the tenant, and a portal access token with mailbox.read.
    sub: String,
    portal_token: String,
}

fn tweak(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_notify_delay_secs = 1;
    raw.mailbox_interval_secs = 1;
    raw.mailbox_retention_days = 0;
}

async fn fixture(backend: Backend) -> Fixture {
    fixture_with(backend, tweak).await
}

async fn fixture_with(
    backend: Backend,
    tweak: fn(&mut buergerkonto::config::RawConfig),
) -> Fixture {
    let app = spawn_app_with(AppOptions {
        backend,
        tweak,
        ..AppOptions::default()
    })
    .await;
    let account_id = app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (sub, portal_token) = citizen_at(&app, &portal).await;
    let (authority, authority_id) = authority(&app, &app.tenant).await;
    Fixture {
        app,
        account_id,
        authority,
        authority_id,
        sub,
        portal_token,
    }
}

/// Logs the citizen in at a portal: their `sub` there and an access token with mailbox.read.
pub(crate) async fn citizen_at(app: &TestApp, portal: &TestClient) -> (String, String) {
    let rp = discover(app, portal).await;
    let flow = start(&rp, &["mailbox.read"], &[]);
    let cb = run_browser(app, &flow.url, EMAIL, PW).await;
    let tokens = finish(app, &rp, flow, &cb).await;
    let id = jwt_payload(&tokens.id_token().expect("id token").to_string());
    (
        id["sub"].as_str().expect("sub").to_owned(),
        tokens.access_token().secret().clone(),
    )
}

/// An authority system of `tenant`: its token (scope `mailbox.send`) and client id.
pub(crate) async fn authority(app: &TestApp, tenant: &str) -> (String, String) {
    let c = app.add_service_client(tenant, &["--scope", "mailbox.send"]);
    (app.service_token(&c, Some("mailbox.send")).await, c.id)
}

pub(crate) async fn send(
    app: &TestApp,
    token: &str,
    msg: &Value,
    key: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .http
        .post(app.url("/api/v1/mailbox/messages"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(msg.to_string());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

async fn api_get(
    app: &TestApp,
    token: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

pub(crate) fn letter(sub: &str) -> Value {
    json!({
        "recipient_sub": sub,
        "subject": "Ihr Antrag auf einen Anwohnerparkausweis",
        "body": "Sehr geehrte Frau Beispiel,\n\nIhr Ausweis liegt zur Abholung bereit.",
        "reference": "32-1234/2026",
        "reply_allowed": true,
        "attachments": [{"filename": "Bescheid.pdf", "content_type": "application/pdf", "content_base64": STANDARD.encode(PDF)}],
    })
}

fn kinds(status: &Value) -> Vec<String> {
    status["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn a_message_is_delivered_read_once_and_its_receipt_verifies_with_the_jwks() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let (s, h, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    assert_eq!(s, 201, "{sent}");
    let id = sent["id"].as_str().expect("id").to_owned();
    assert_eq!(
        h["location"],
        format!("/api/v1/mailbox/messages/{id}").as_str()
    );
    let (s, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(s, 200);
    let status = json_of(&body);
    assert_eq!(kinds(&status), ["sent", "delivered"]);
    assert_eq!(status["evidence_intact"], true);
    assert_eq!(status["reference"], "32-1234/2026");
    // The evidence names each attachment by its SHA-512 (and so does the receipt below).
    let pdf_sha512: String = {
        use std::fmt::Write;
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, PDF)
            .as_ref()
            .iter()
            .fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    };
    assert_eq!(
        status["events"][0]["detail"]["attachments"][0]["sha512"],
        pdf_sha512.as_str(),
        "{status}"
    );
    assert_eq!(
        status["events"][0]["detail"]["attachments"][0]["size"],
        PDF.len()
    );

    // The citizen's inbox: the message, unread.
    let page = app.get("/postfach").await.text().await.expect("page");
    assert!(
        page.contains("Anwohnerparkausweis") && page.contains("ungelesen"),
        "{page}"
    );
    assert!(page.contains("Gemeinde A") && page.contains("32-1234/2026"));
    // Opening it twice (and once more through the portal) records `opened` once.
    let msg = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        msg.contains("liegt zur Abholung bereit") && msg.contains("Bescheid.pdf"),
        "{msg}"
    );
    app.get(&format!("/postfach/{id}")).await;
    let (s, _, opened) =
        api_get(app, &f.portal_token, &format!("/api/v1/mailbox/inbox/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(json_of(&opened)["body"], letter(&f.sub)["body"]);
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    let status = json_of(&body);
    assert_eq!(
        kinds(&status),
        ["sent", "delivered", "opened"],
        "opened once"
    );
    assert_eq!(status["state"], "opened");
    let page = app.get("/postfach").await.text().await.expect("page");
    assert!(!page.contains("ungelesen"));

    // The attachment downloads with its type and as a file, sandboxed.
    let att = json_of(&opened)["attachments"][0]["id"]
        .as_str()
        .expect("attachment")
        .to_owned();
    let r = app.get(&format!("/postfach/{id}/anhang/{att}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cd.starts_with("attachment;") && cd.contains("Bescheid.pdf"),
        "{cd}"
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("sandbox")
    );
    assert_eq!(r.bytes().await.expect("file").as_ref(), PDF);

    // The receipt is a JWS over the same chain, signed with a key from the JWKS.
    let (s, h, jws) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{id}/receipt"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/jose");
    let jws = String::from_utf8(jws).expect("text");
    let header = jsonwebtoken::decode_header(&jws).expect("header");
    assert_eq!(header.typ.as_deref(), Some("evidence+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .http
        .get(app.url("/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in JWKS");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[&f.authority_id]);
    v.set_issuer(&[&app.addr]);
    v.set_required_spec_claims(&["iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(
        &jws,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("the receipt verifies")
    .claims;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["events"], status["events"]);
    assert_eq!(claims["head_hash"], status["events"][2]["hash"]);
    // Another authority cannot see it: the same 404 as an unknown id.
    let (other, _) = authority(app, &app.tenant).await;
    let (s1, _, b1) = api_get(app, &other, &format!("/api/v1/mailbox/messages/{id}")).await;
    let (s2, _, b2) = api_get(
        app,
        &other,
        &format!("/api/v1/mailbox/messages/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(json_of(&b1)["detail"], json_of(&b2)["detail"]);
}

// Several worker threads, so that the concurrent requests below really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotent_retry_stores_nothing_new_and_a_changed_body_is_a_conflict() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let msg = letter(&f.sub);
    let (s, _, first) = send(app, &f.authority, &msg, Some("antrag-4711")).await;
    assert_eq!(s, 201);
    let (s, h, again) = send(app, &f.authority, &msg, Some("antrag-4711")).await;
    assert_eq!(s, 201);
    assert_eq!(again["id"], first["id"], "the first result");
    assert_eq!(h["idempotent-replayed"], "true");
    let mut changed = msg.clone();
    changed["subject"] = "Etwas anderes".into();
    let (s, _, body) = send(app, &f.authority, &changed, Some("antrag-4711")).await;
    assert_eq!(s, 409, "{body}");
    // One message in the mailbox.
    let (_, _, inbox) = api_get(app, &f.portal_token, "/api/v1/mailbox/inbox").await;
    assert_eq!(json_of(&inbox)["items"].as_array().expect("items").len(), 1);
    // Concurrent retries with a fresh key: one message.
    let sends = (0..5).map(|_| send(app, &f.authority, &msg, Some("parallel-1")));
    let results = futures_util::future::join_all(sends).await;
    let ids: std::collections::BTreeSet<String> = results
        .iter()
        .map(|(s, _, b)| {
            assert_eq!(*s, 201, "{b}");
            b["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry names the same message");
    let (_, _, inbox) = api_get(app, &f.portal_token, "/api/v1/mailbox/inbox").await;
    assert_eq!(json_of(&inbox)["items"].as_array().expect("items").len(), 2);
}

#[tokio::test]
async fn a_foreign_tenants_sender_gets_the_same_answer_as_for_an_unknown_subject() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let other = app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let (foreign, _) = authority(app, &other).await;
    // An authority system registered with public subjects cannot use the account id (the
    // public subject) to reach another tenant's citizens.
    let public = app.add_service_client(
        &other,
        &["--scope", "mailbox.send", "--subject-type", "public"],
    );
    let public_token = app.service_token(&public, Some("mailbox.send")).await;
    let (s, _, b) = send(app, &public_token, &letter(&f.account_id), None).await;
    assert_eq!(s, 422, "{b}");
    let (s1, _, b1) = send(app, &foreign, &letter(&f.sub), None).await;
    let (s2, _, b2) = send(app, &foreign, &letter("niemand-bekannt"), None).await;
    let (s3, _, b3) = send(app, &f.authority, &letter("niemand-bekannt"), None).await;
    assert_eq!((s1, s2, s3), (422, 422, 422));
    assert_eq!(
        b1, b2,
        "no difference between a foreign and an unknown subject"
    );
    assert_eq!(b1, b3);
    // The citizen's own tenant reaches them.
    assert_eq!(send(app, &f.authority, &letter(&f.sub), None).await.0, 201);
    // A citizen's token cannot send, even with the portal's client.
    assert_eq!(
        send(app, &f.portal_token, &letter(&f.sub), None).await.0,
        403
    );
}

#[tokio::test]
async fn malformed_oversized_and_unauthorised_requests_get_clear_errors() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let check = |(s, h, b): (u16, reqwest::header::HeaderMap, Value), want: u16| {
        assert_eq!(s, want, "{b}");
        assert_eq!(h["content-type"], "application/problem+json");
        assert!(b["detail"].as_str().is_some_and(|d| !d.is_empty()));
    };
    check(send(app, "kein-token", &letter(&f.sub), None).await, 401);
    let r = app
        .http
        .post(app.url("/api/v1/mailbox/messages"))
        .bearer_auth(&f.authority)
        .header("content-type", "application/json")
        .body("{\"recipient_sub\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let mut m = letter(&f.sub);
    m["subject"] = "x".repeat(201).into();
    check(send(app, &f.authority, &m, None).await, 422);
    let mut m = letter(&f.sub);
    m["subject"] = "Betreff\nmit Zeilenumbruch".into();
    check(send(app, &f.authority, &m, None).await, 422);
    let mut m = letter(&f.sub);
    m["required_level"] = "mittel".into();
    check(send(app, &f.authority, &m, None).await, 422);
    let mut m = letter(&f.sub);
    m["process"] = "gibt-es-nicht".into();
    check(send(app, &f.authority, &m, None).await, 422);
    let mut m = letter(&f.sub);
    m["unknown_field"] = 1.into();
    check(send(app, &f.authority, &m, None).await, 400);
    let mut m = letter(&f.sub);
    m["attachments"][0]["content_base64"] = "nicht base64!".into();
    check(send(app, &f.authority, &m, None).await, 422);
    let mut m = letter(&f.sub);
    m["attachments"] = json!((0..11).map(|i| json!({"filename": format!("{i}.txt"), "content_type": "text/plain", "content_base64": "YQ=="})).collect::<Vec<_>>());
    check(send(app, &f.authority, &m, None).await, 413);
    let mut m = letter(&f.sub);
    m["attachments"][0]["content_base64"] = STANDARD.encode(vec![0u8; 5 * 1024 * 1024 + 1]).into();
    check(send(app, &f.authority, &m, None).await, 413);
    // Larger than any valid request: refused before parsing.
    let huge = "a".repeat(20 * 1024 * 1024);
    let r = app
        .http
        .post(app.url("/api/v1/mailbox/messages"))
        .bearer_auth(&f.authority)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 413);
    let r = app
        .http
        .post(app.url("/api/v1/mailbox/messages"))
        .bearer_auth(&f.authority)
        .header("idempotency-key", "x".repeat(201))
        .body(letter(&f.sub).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    // Malformed ids are 404s in problem JSON.
    let (s, h, _) = api_get(app, &f.authority, "/api/v1/mailbox/messages/%FF").await;
    assert_eq!(
        (s, h["content-type"].to_str().expect("ct")),
        (404, "application/problem+json")
    );
    let (s, _, _) = api_get(app, &f.authority, "/api/v1/mailbox/replies?after=-1").await;
    assert_eq!(s, 422);
    // The OpenAPI document is served and is the one in docs/.
    let (s, _, doc) = api_get(app, "", "/api/openapi.json").await;
    assert_eq!(s, 200);
    let served = json_of(&doc);
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .expect("docs/openapi.json"),
    )
    .expect("json");
    assert_eq!(
        served, file,
        "docs/openapi.json is stale: run `buergerkonto openapi > docs/openapi.json`"
    );
    assert!(served["paths"]["/api/v1/mailbox/messages"]["post"].is_object());
}

#[tokio::test]
async fn the_database_holds_no_plaintext_and_a_tampered_event_is_detected() {
    let f = fixture(Backend::Embedded).await;
    let app = &f.app;
    let mut m = letter(&f.sub);
    m["subject"] = "Geheimer Betreff Quokka".into();
    m["body"] = "Vertraulicher Inhalt Wombat".into();
    m["attachments"][0]["filename"] = "Pangolin.pdf".into();
    m["attachments"][0]["content_base64"] = STANDARD.encode(b"Anlage Kakapo").into();
    let (s, _, sent) = send(app, &f.authority, &m, None).await;
    assert_eq!(s, 201);
    let id = sent["id"].as_str().expect("id").to_owned();
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Wombat"), "readable through the server");
    // Every file of the database (with its WAL) is free of the plaintext.
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(app.dir.path()).expect("dir").flatten() {
        if e.file_name().to_string_lossy().starts_with("db.sqlite") {
            bytes.extend(std::fs::read(e.path()).expect("read"));
        }
    }
    assert!(bytes.len() > 10_000);
    for secret in ["Quokka", "Wombat", "Pangolin", "Kakapo"] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is stored in plaintext"
        );
    }
    // Changing an event in the database breaks the chain: status says so, no receipt.
    let url = format!("sqlite://{}", app.dir.path().join("db.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    let n =
        sqlx::query("UPDATE mailbox_events SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 1")
            .execute(&pool)
            .await
            .expect("tamper")
            .rows_affected();
    assert_eq!(n, 1);
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(json_of(&body)["evidence_intact"], false);
    let (s, _, _) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{id}/receipt"),
    )
    .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn a_message_requiring_substantial_cannot_be_read_in_a_low_session() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let mut m = letter(&f.sub);
    m["required_level"] = "substantial".into();
    m["subject"] = "Steuerbescheid 2026".into();
    let (_, _, sent) = send(app, &f.authority, &m, None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    // The list withholds the subject; the page explains; nothing is opened.
    let list = app.get("/postfach").await.text().await.expect("page");
    assert!(
        !list.contains("Steuerbescheid") && list.contains("höheres Vertrauensniveau"),
        "{list}"
    );
    let r = app.get(&format!("/postfach/{id}")).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.expect("page");
    assert!(
        !page.contains("Abholung") && page.contains("/konto/sicherheit"),
        "{page}"
    );
    // The way there, step by step: the identity (at the Bürgerbüro or through BundID) and
    // the factor, neither done yet.
    assert!(
        page.contains("Ihr Weg zum Vertrauensniveau substanziell")
            && page.contains("Bürgerbüro")
            && page.contains("BundID")
            && page.matches("✘ offen").count() == 2,
        "{page}"
    );
    // Nor the attachment, nor the portal with a low token.
    let (s, h, _) = api_get(app, &f.portal_token, &format!("/api/v1/mailbox/inbox/{id}")).await;
    assert_eq!(s, 403);
    let www = h["www-authenticate"].to_str().expect("header");
    assert!(
        www.contains("insufficient_user_authentication") && www.contains("LoA/substantial"),
        "{www}"
    );
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(kinds(&json_of(&body)), ["sent", "delivered"]);

    // With a clerk's check and TOTP, the page asks for the code and then shows the message.
    assert!(crate::levels::verify_identity(app, EMAIL, "substantial").0);
    let (secret, step, _) = crate::levels::enrol_totp(app).await;
    let r = app.get(&format!("/postfach/{id}")).await;
    let next = location(&r);
    assert_eq!(next, format!("/login/otp?next=/postfach/{id}"));
    let page = app.get(&next).await.text().await.expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    assert_eq!(
        hidden(&page, "next").as_deref(),
        Some(format!("/postfach/{id}").as_str())
    );
    let code = format!(
        "{:06}",
        buergerkonto::crypto::totp::code_at(&secret, step + 1)
    );
    let r = app
        .post_form(
            "/login/otp",
            &[
                ("csrf", &csrf),
                ("req", ""),
                ("next", &format!("/postfach/{id}")),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("/postfach/{id}"));
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Steuerbescheid 2026") && page.contains("Abholung"));
    // An open redirect through `next` is not possible.
    let page = app
        .get("/login/otp?next=https://evil.example/")
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(hidden(&page, "next").unwrap_or_default(), "", "{page}");
}

// Several worker threads, so that the concurrent requests below really run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replies_are_fetched_by_cursor_without_loss_or_repeat() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let (_, _, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let mut closed = letter(&f.sub);
    closed["reply_allowed"] = false.into();
    let (_, _, no_reply) = send(app, &f.authority, &closed, None).await;
    let no_reply = no_reply["id"].as_str().expect("id").to_owned();
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let reply =
        |text: &'static str, file: Option<(&'static str, &'static [u8])>, target: String| {
            let csrf = csrf.clone();
            async move {
                let mut form = reqwest::multipart::Form::new()
                    .text("csrf", csrf)
                    .text("body", text);
                form = match file {
                    Some((name, data)) => form.part(
                        "files",
                        reqwest::multipart::Part::bytes(data.to_vec())
                            .file_name(name)
                            .mime_str("image/png")
                            .expect("mime"),
                    ),
                    None => form.part(
                        "files",
                        reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
                    ),
                };
                app.browser
                    .post(app.url(&format!("/postfach/{target}/antwort")))
                    .multipart(form)
                    .send()
                    .await
                    .expect("reply")
            }
        };
    let r = reply("Vielen Dank, ich hole ihn Montag ab.", None, id.clone()).await;
    assert_eq!(location(&r), format!("/postfach/{id}?gesendet=1"));
    let r = reply(
        "Hier das Foto.",
        Some(("foto.png", b"\x89PNG fake")),
        id.clone(),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        reply("Darf ich?", None, no_reply).await.status(),
        400,
        "no replies allowed"
    );
    assert_eq!(
        reply("", None, id.clone()).await.status(),
        400,
        "an empty reply"
    );
    let page = app
        .get(&format!("/postfach/{id}?gesendet=1"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("übermittelt") && page.contains("foto.png"));

    // The authority pages through replies: in order, each once.
    let (s, _, b) = api_get(app, &f.authority, "/api/v1/mailbox/replies?limit=1").await;
    assert_eq!(s, 200);
    let p1 = json_of(&b);
    assert_eq!(
        p1["items"][0]["body"],
        "Vielen Dank, ich hole ihn Montag ab."
    );
    assert_eq!(p1["items"][0]["reference"], "32-1234/2026");
    let c1 = p1["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, _, b) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/replies?after={c1}"),
    )
    .await;
    let p2 = json_of(&b);
    assert_eq!(p2["items"].as_array().expect("items").len(), 1);
    assert_eq!(p2["items"][0]["body"], "Hier das Foto.");
    assert_eq!(p2["items"][0]["attachments"][0]["filename"], "foto.png");
    assert_eq!(
        STANDARD
            .decode(
                p2["items"][0]["attachments"][0]["content_base64"]
                    .as_str()
                    .expect("b64")
            )
            .expect("b64"),
        b"\x89PNG fake"
    );
    // The reply's evidence names its file by SHA-512 too.
    let (_, _, b) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    let status = json_of(&b);
    let replied: Vec<&Value> = status["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "replied")
        .collect();
    assert!(
        replied
            .iter()
            .any(|e| e["detail"]["attachments"][0]["sha512"]
                .as_str()
                .is_some_and(|h| h.len() == 128)),
        "{status}"
    );
    let c2 = p2["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, _, b) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/replies?after={c2}"),
    )
    .await;
    let p3 = json_of(&b);
    assert!(p3["items"].as_array().expect("items").is_empty());
    assert_eq!(
        p3["next_cursor"],
        c2.as_str(),
        "nothing new: the cursor stays"
    );
    // Many concurrent replies: all arrive, in cursor order, none twice.
    let rs =
        futures_util::future::join_all((0..8).map(|_| reply("gleichzeitig", None, id.clone())))
            .await;
    assert!(rs.iter().all(|r| r.status() == 303));
    let (_, _, b) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/replies?after={c2}"),
    )
    .await;
    let p4 = json_of(&b);
    let cursors: Vec<i64> = p4["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["cursor"].as_str().expect("c").parse().expect("n"))
        .collect();
    assert_eq!(cursors.len(), 8);
    assert!(cursors.windows(2).all(|w| w[0] < w[1]));
    // Another authority sees none of them.
    let (other, _) = authority(app, &app.tenant).await;
    let (_, _, b) = api_get(app, &other, "/api/v1/mailbox/replies").await;
    assert!(json_of(&b)["items"].as_array().expect("items").is_empty());
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    let status = json_of(&body);
    assert_eq!(status["state"], "replied");
    assert_eq!(
        kinds(&status).iter().filter(|k| *k == "replied").count(),
        10
    );
}

#[tokio::test]
async fn ten_messages_in_a_minute_are_one_mail_without_content() {
    // A notification delay that the ten sends fit into even on a slow machine.
    let f = fixture_with(Backend::Default, |raw| {
        tweak(raw);
        raw.mailbox_notify_delay_secs = 4;
    })
    .await;
    let app = &f.app;
    // The citizen switched the pages to English: mails without a request follow.
    assert_eq!(
        location(&app.get("/lang?to=en&back=/postfach").await),
        "/postfach"
    );
    let before = app.mails().len();
    for i in 0..10 {
        let mut m = letter(&f.sub);
        m["subject"] = format!("Vertrauliche Sache {i}").into();
        assert_eq!(send(app, &f.authority, &m, None).await.0, 201);
    }
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if app.mails().len() > before {
            break;
        }
    }
    // Give a second round the chance to (wrongly) send more.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let mails: Vec<String> = app.mails()[before..].to_vec();
    assert_eq!(mails.len(), 1, "one mail for the burst");
    let mail = &mails[0];
    assert!(
        mail.contains(EMAIL)
            && mail.contains("/postfach")
            && mail.contains("10 new messages have arrived"),
        "{mail}"
    );
    // It names who wrote: the sending Kommune, once.
    assert_eq!(
        mail.matches("From: Gemeinde A").count(),
        2,
        "text and HTML part: {mail}"
    );
    assert!(!mail.contains("Vertrauliche"), "no content in the mail");
    // Each message records `notified`.
    let (_, _, inbox) = api_get(app, &f.portal_token, "/api/v1/mailbox/inbox").await;
    let id = json_of(&inbox)["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(kinds(&json_of(&body)), ["sent", "delivered", "notified"]);
}

#[tokio::test]
async fn deleted_and_expired_messages_are_purged_and_their_evidence_stays() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let (_, _, a) = send(app, &f.authority, &letter(&f.sub), None).await;
    let a = a["id"].as_str().expect("id").to_owned();
    let mut soon = letter(&f.sub);
    soon["expires_at"] = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .to_rfc3339()
        .into();
    let (s, _, b) = send(app, &f.authority, &soon, None).await;
    assert_eq!(s, 201, "{b}");
    let b = b["id"].as_str().expect("id").to_owned();
    let (_, _, c) = send(app, &f.authority, &letter(&f.sub), None).await;
    let c = c["id"].as_str().expect("id").to_owned();
    // Archive c: out of the inbox, into the archive.
    let csrf = hidden(
        &app.get(&format!("/postfach/{c}"))
            .await
            .text()
            .await
            .expect("page"),
        "csrf",
    )
    .expect("csrf");
    let r = app
        .post_form(
            &format!("/postfach/{c}/archivieren"),
            &[("csrf", &csrf), ("archived", "1")],
        )
        .await;
    assert_eq!(location(&r), "/postfach?archiviert=1");
    let notice = app
        .get("/postfach?archiviert=1")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        notice.contains("id=\"notice\"") && notice.contains("autofocus"),
        "archiving says so, and the notice takes the focus"
    );
    let inbox = app.get("/postfach").await.text().await.expect("page");
    assert!(!inbox.contains(&c) && inbox.contains(&a));
    assert!(
        app.get("/postfach?archiv=1")
            .await
            .text()
            .await
            .expect("page")
            .contains(&c)
    );
    // Deleting is asked first: the message page links to a question, which changes nothing.
    let message = app
        .get(&format!("/postfach/{a}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(message.contains(&format!("href=\"/postfach/{a}/loeschen\"")));
    let question = app.get(&format!("/postfach/{a}/loeschen")).await;
    assert_eq!(question.status(), 200);
    let question = question.text().await.expect("page");
    assert!(question.contains(&format!("action=\"/postfach/{a}/loeschen\"")));
    assert!(
        question.contains(&format!("href=\"/postfach/{a}\"")),
        "a way back"
    );
    assert_eq!(app.get(&format!("/postfach/{a}")).await.status(), 200);
    // Delete a (without CSRF: refused).
    let r = app
        .post_form(&format!("/postfach/{a}/loeschen"), &[("csrf", "falsch")])
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post_form(&format!("/postfach/{a}/loeschen"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/postfach?geloescht=1");
    assert_eq!(app.get(&format!("/postfach/{a}")).await.status(), 404);
    // Retention 0 days: the next rounds purge a, expire and purge b; evidence stays intact.
    let mut done = false;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let (_, _, sa) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{a}")).await;
        let (_, _, sb) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{b}")).await;
        let (ka, kb) = (kinds(&json_of(&sa)), kinds(&json_of(&sb)));
        if ka.contains(&"purged".to_owned()) && kb.contains(&"purged".to_owned()) {
            assert!(ka.contains(&"deleted".to_owned()) && kb.contains(&"expired".to_owned()));
            assert_eq!(json_of(&sa)["evidence_intact"], true);
            assert_eq!(json_of(&sb)["evidence_intact"], true);
            done = true;
            break;
        }
    }
    assert!(done, "purged within the time");
    let (s, _, _) = api_get(app, &f.portal_token, &format!("/api/v1/mailbox/inbox/{b}")).await;
    assert_eq!(s, 404);
    // The receipt of a purged message still verifies.
    let (s, _, _) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{a}/receipt"),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn rotating_the_master_key_rewraps_data_keys_and_messages_stay_readable() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let (_, _, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let (ok, out, err) = app.cli(&["keys", "rotate-mailbox"], None);
    assert!(ok, "{err}");
    assert!(out["rewrapped"].as_u64().expect("count") >= 1, "{out}");
    let keys: Vec<_> =
        std::fs::read_dir(std::path::Path::new(&app.config.keys_dir).join("mailbox"))
            .expect("dir")
            .flatten()
            .collect();
    assert_eq!(keys.len(), 2, "the new master key is added");
    // The running server picks up the new key and reads the message.
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Abholung"), "{page}");
    let (ok, out, _) = app.cli(&["keys", "rotate-mailbox"], None);
    assert!(ok);
    assert!(out["rewrapped"].as_u64().expect("count") >= 1);
}

#[tokio::test]
async fn another_account_cannot_see_or_touch_a_message_and_bad_input_is_a_clear_error() {
    let f = fixture(Backend::Default).await;
    let mut app = f.app;
    // A forged (CSRF-less) post about a message does not open it: opening is evidence.
    let (_, _, unread) = send(&app, &f.authority, &letter(&f.sub), None).await;
    let unread = unread["id"].as_str().expect("id").to_owned();
    for action in ["archivieren", "loeschen"] {
        let r = app
            .post_form(
                &format!("/postfach/{unread}/{action}"),
                &[("csrf", "gefälscht")],
            )
            .await;
        assert_eq!(r.status(), 403);
    }
    let (_, _, body) = api_get(
        &app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{unread}"),
    )
    .await;
    assert_eq!(
        kinds(&json_of(&body)),
        ["sent", "delivered"],
        "not opened by a forged post"
    );
    let (_, _, sent) = send(&app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let att = page
        .split(&format!("/postfach/{id}/anhang/"))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("attachment link")
        .to_owned();
    // Malformed ids and a non-multipart reply are 4xx pages, not 5xx.
    assert_eq!(app.get("/postfach/kein-uuid").await.status(), 404);
    assert_eq!(
        app.get(&format!("/postfach/{id}/anhang/kein-uuid"))
            .await
            .status(),
        404
    );
    let r = app
        .browser
        .post(app.url(&format!("/postfach/{id}/antwort")))
        .header("content-type", "text/plain")
        .body("hallo")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let csrf = app.csrf_of("/login").await;
    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "body",
        reqwest::multipart::Part::bytes(vec![0xff, 0xfe, b'a']),
    );
    let r = app
        .browser
        .post(app.url(&format!("/postfach/{id}/antwort")))
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400, "a reply that is not UTF-8");
    // Another citizen, logged in, gets 404 for everything about it.
    app.reset_browser();
    app.add_user("fremd@example.org", PW).await;
    assert_eq!(app.login("", "fremd@example.org", PW).await.status(), 303);
    assert_eq!(app.get(&format!("/postfach/{id}")).await.status(), 404);
    assert_eq!(
        app.get(&format!("/postfach/{id}/anhang/{att}"))
            .await
            .status(),
        404
    );
    // (The CSRF token belongs to the browser, not to a page.)
    let csrf = app.csrf_of("/login").await;
    for action in ["archivieren", "loeschen"] {
        let r = app
            .post_form(&format!("/postfach/{id}/{action}"), &[("csrf", &csrf)])
            .await;
        assert_eq!(r.status(), 404, "{action}");
    }
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.clone())
        .text("body", "übernommen?");
    let r = app
        .browser
        .post(app.url(&format!("/postfach/{id}/antwort")))
        .multipart(form)
        .send()
        .await
        .expect("reply");
    assert_eq!(r.status(), 404);
    assert!(
        !app.get("/postfach")
            .await
            .text()
            .await
            .expect("page")
            .contains("Anwohnerparkausweis")
    );
    // Not logged in: the pages send the browser to the login.
    app.reset_browser();
    assert_eq!(
        location(&app.get(&format!("/postfach/{id}")).await),
        "/login"
    );
    // The message is untouched.
    let (_, _, body) = api_get(
        &app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{id}"),
    )
    .await;
    let status = json_of(&body);
    assert_eq!(kinds(&status), ["sent", "delivered", "opened"]);
}

#[tokio::test]
async fn the_inbox_pages_through_every_message_once() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    for i in 0..52 {
        let mut m = letter(&f.sub);
        m["subject"] = format!("Nachricht {i}").into();
        assert_eq!(send(app, &f.authority, &m, None).await.0, 201);
    }
    let mut seen = std::collections::BTreeSet::new();
    for (page, want, more) in [(0, 50, true), (1, 2, false)] {
        let (s, _, b) = api_get(
            app,
            &f.portal_token,
            &format!("/api/v1/mailbox/inbox?page={page}"),
        )
        .await;
        assert_eq!(s, 200);
        let body = json_of(&b);
        let items = body["items"].as_array().expect("items");
        assert_eq!((items.len(), body["more"].as_bool()), (want, Some(more)));
        for it in items {
            assert!(
                seen.insert(it["id"].as_str().expect("id").to_owned()),
                "no repeats"
            );
        }
    }
    assert_eq!(seen.len(), 52, "none skipped");
    // The citizen's page: 50, then the rest on the next page.
    let first = app.get("/postfach").await.text().await.expect("page");
    let second = app
        .get("/postfach?seite=1")
        .await
        .text()
        .await
        .expect("page");
    let count = |p: &str| p.matches("href=\"/postfach/0").count();
    assert_eq!((count(&first), count(&second)), (50, 2));
    assert!(first.contains("/postfach?seite=1") && !second.contains("seite=2"));
    // Malformed queries are problem JSON, not HTML.
    for q in ["page=1&page=2", "page=%FF", "archived=1"] {
        let (s, h, _) = api_get(app, &f.portal_token, &format!("/api/v1/mailbox/inbox?{q}")).await;
        assert!(s == 400 || s == 422, "{q}: {s}");
        assert_eq!(h["content-type"], "application/problem+json", "{q}");
    }
}

#[tokio::test]
async fn acts_on_a_message_above_the_sessions_level_all_pass_the_level_gate() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let mut m = letter(&f.sub);
    m["required_level"] = "high".into();
    m["reference"] = "AZ-Geheim-4711".into();
    let (_, _, sent) = send(app, &f.authority, &m, None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    // The form token is the browser's, whichever page issued it.
    let csrf = app.csrf_of("/login").await;
    // A password session can neither delete nor archive it: it is sent to the message page,
    // which explains the level, and nothing changes.
    for action in ["loeschen", "archivieren"] {
        let r = app
            .post_form(
                &format!("/postfach/{id}/{action}"),
                &[("csrf", &csrf), ("archived", "1")],
            )
            .await;
        assert_eq!(r.status(), 303, "{action}");
        assert_eq!(location(&r), format!("/postfach/{id}"), "{action}");
    }
    let list = app.get("/postfach").await.text().await.expect("page");
    assert!(list.contains(&id), "still in the inbox: {list}");
    // Its case reference is withheld like its subject, on the page and at the portal.
    assert!(!list.contains("AZ-Geheim-4711"), "{list}");
    let (s, _, body) = api_get(app, &f.portal_token, "/api/v1/mailbox/inbox").await;
    assert_eq!(s, 200);
    let items = json_of(&body)["items"].clone();
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["subject"], Value::Null);
    assert_eq!(items[0]["reference"], Value::Null);
    // The sender's evidence says nothing happened; the sender still sees its reference.
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    let status = json_of(&body);
    assert_eq!(kinds(&status), ["sent", "delivered"]);
    assert_eq!(status["reference"], "AZ-Geheim-4711");
}

#[tokio::test]
async fn the_case_reference_is_sealed_at_rest() {
    let f = fixture(Backend::Embedded).await;
    let app = &f.app;
    let mut m = letter(&f.sub);
    m["reference"] = "AZ-Okapi-0815".into();
    let (s, _, sent) = send(app, &f.authority, &m, None).await;
    assert_eq!(s, 201);
    let id = sent["id"].as_str().expect("id").to_owned();
    // Readable through the server: the list, the sender's status and its replies.
    let list = app.get("/postfach").await.text().await.expect("page");
    assert!(list.contains("AZ-Okapi-0815"), "{list}");
    let mut bytes = Vec::new();
    for e in std::fs::read_dir(app.dir.path()).expect("dir").flatten() {
        if e.file_name().to_string_lossy().starts_with("db.sqlite") {
            bytes.extend(std::fs::read(e.path()).expect("read"));
        }
    }
    assert!(
        !bytes.windows(13).any(|w| w == b"AZ-Okapi-0815"),
        "the reference is stored in plaintext"
    );
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(json_of(&body)["reference"], "AZ-Okapi-0815");
}

#[tokio::test]
async fn a_portal_token_from_an_old_login_neither_opens_nor_shows_protected_content() {
    let f = fixture_with(Backend::Default, |raw| {
        tweak(raw);
        raw.mailbox_portal_max_age_secs = 2;
    })
    .await;
    let app = &f.app;
    let (_, _, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    // Ages are whole seconds: after 3.1 s the login is at least 3 s old.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    // The citizen logged in more than max_age ago: the portal may list (low content) but not
    // open, and the evidence records nothing.
    let (s, _, body) = api_get(app, &f.portal_token, "/api/v1/mailbox/inbox").await;
    assert_eq!(s, 200);
    assert_eq!(json_of(&body)["items"][0]["id"], id.as_str());
    let (s, h, body) = api_get(app, &f.portal_token, &format!("/api/v1/mailbox/inbox/{id}")).await;
    assert_eq!(s, 403, "{}", String::from_utf8_lossy(&body));
    let www = h["www-authenticate"].to_str().expect("header");
    assert!(
        www.contains("insufficient_user_authentication") && www.contains("max_age=\"2\""),
        "{www}"
    );
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert!(!kinds(&json_of(&body)).contains(&"opened".to_owned()));
    // After a new login (max_age=0 forces one) the portal's new token opens it.
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let rp = discover(app, &portal).await;
    let flow = start(&rp, &["mailbox.read"], &[("max_age", "0")]);
    let cb = run_browser(app, &flow.url, EMAIL, PW).await;
    let tokens = finish(app, &rp, flow, &cb).await;
    let fresh = tokens.access_token().secret().clone();
    let (s, _, _) = api_get(app, &fresh, &format!("/api/v1/mailbox/inbox/{id}")).await;
    assert_eq!(s, 200);
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert!(kinds(&json_of(&body)).contains(&"opened".to_owned()));
}

#[tokio::test]
async fn references_stored_before_sealing_are_sealed_by_the_background_round() {
    let f = fixture(Backend::Embedded).await;
    let app = &f.app;
    let mut m = letter(&f.sub);
    m["reference"] = serde_json::Value::Null;
    let (_, _, sent) = send(app, &f.authority, &m, None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    // As a message stored by the release before: the reference in plaintext, nothing sealed.
    let url = format!("sqlite://{}", app.dir.path().join("db.sqlite").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
    let uuid = uuid::Uuid::parse_str(&id).expect("uuid");
    sqlx::query("UPDATE mailbox_messages SET reference = 'AZ-Alt-1999', reference_sealed = NULL WHERE id = $1")
        .bind(uuid)
        .execute(&pool)
        .await
        .expect("legacy row");
    // The next background round (every second here) seals it; it stays readable.
    let mut plain: Option<String> = Some(String::new());
    for _ in 0..50 {
        plain = sqlx::query_scalar("SELECT reference FROM mailbox_messages WHERE id = $1")
            .bind(uuid)
            .fetch_one(&pool)
            .await
            .expect("row");
        if plain.is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(plain, None, "the plaintext is gone");
    let (_, _, body) = api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    assert_eq!(json_of(&body)["reference"], "AZ-Alt-1999");
    let list = app.get("/postfach").await.text().await.expect("page");
    assert!(list.contains("AZ-Alt-1999"), "{list}");
}

fn thirty_days(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_interval_secs = 1;
    raw.mailbox_retention_days = 30;
}

#[tokio::test]
async fn a_deleted_message_waits_in_the_bin_and_comes_back_until_it_is_purged() {
    let f = fixture_with(Backend::Default, thirty_days).await;
    let app = &f.app;
    let (_, _, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let question = app
        .get(&format!("/postfach/{id}/loeschen"))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        question.contains("Papierkorb"),
        "the question says where it goes"
    );
    let r = app
        .post_form(&format!("/postfach/{id}/loeschen"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/postfach?geloescht=1");
    assert_eq!(app.get(&format!("/postfach/{id}")).await.status(), 404);
    // The bin lists it with the day its content goes, and a way back.
    let bin = app
        .get("/postfach?papierkorb=1")
        .await
        .text()
        .await
        .expect("page");
    let day = buergerkonto::domain::civil::day(chrono::Utc::now() + chrono::Duration::days(30));
    assert!(
        bin.contains("Anwohnerparkausweis") && bin.contains(&day),
        "{bin}"
    );
    assert!(bin.contains(&format!("action=\"/postfach/{id}/wiederherstellen\"")));
    let inbox = app.get("/postfach").await.text().await.expect("page");
    assert!(!inbox.contains(&id) && inbox.contains("/postfach?papierkorb=1"));
    // Not without the form's token, and not by another account.
    let r = app
        .post_form(
            &format!("/postfach/{id}/wiederherstellen"),
            &[("csrf", "gefälscht")],
        )
        .await;
    assert_eq!(r.status(), 403);
    app.add_user("fremd@example.org", PW).await;
    let stranger = crate::helpers::browser_client();
    let login = stranger
        .get(app.url("/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("page");
    let c = hidden(&login, "csrf").expect("csrf");
    stranger
        .post(app.url("/login"))
        .form(&[
            ("csrf", c.as_str()),
            ("req", ""),
            ("email", "fremd@example.org"),
            ("password", PW),
        ])
        .send()
        .await
        .expect("login");
    let r = stranger
        .post(app.url(&format!("/postfach/{id}/wiederherstellen")))
        .form(&[("csrf", c.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
    // The holder restores it: back in the inbox as it was (opened), and the sender's
    // evidence says deleted, then restored.
    let r = app
        .post_form(
            &format!("/postfach/{id}/wiederherstellen"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(location(&r), "/postfach?wiederhergestellt=1");
    assert_eq!(app.get(&format!("/postfach/{id}")).await.status(), 200);
    let (_, _, status) =
        api_get(app, &f.authority, &format!("/api/v1/mailbox/messages/{id}")).await;
    let status = json_of(&status);
    let k = kinds(&status);
    assert_eq!(&k[k.len() - 2..], ["deleted", "restored"], "{k:?}");
    assert_eq!(status["state"], "opened");
    assert_eq!(status["evidence_intact"], true);
    // Restoring twice does nothing more.
    let r = app
        .post_form(
            &format!("/postfach/{id}/wiederherstellen"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), 404);
    // A message whose sender's date passed while it lay in the bin comes back expired: it
    // cannot be read or answered after the deadline.
    let mut soon = letter(&f.sub);
    soon["expires_at"] = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .to_rfc3339()
        .into();
    let (_, _, short) = send(app, &f.authority, &soon, None).await;
    let short = short["id"].as_str().expect("id").to_owned();
    let r = app
        .post_form(&format!("/postfach/{short}/loeschen"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/postfach?geloescht=1");
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = app
        .post_form(
            &format!("/postfach/{short}/wiederherstellen"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(location(&r), "/postfach?wiederhergestellt=1");
    assert_eq!(app.get(&format!("/postfach/{short}")).await.status(), 404);
    let (_, _, st) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{short}"),
    )
    .await;
    assert_eq!(json_of(&st)["state"], "expired");
}

async fn bulk_send(app: &TestApp, token: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/v1/mailbox/bulk"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.expect("bulk");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bulk_send_has_a_result_per_recipient_and_is_idempotent_as_a_whole_and_per_item() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let mut message = letter(&f.sub);
    message
        .as_object_mut()
        .expect("object")
        .remove("recipient_sub");
    let body = json!({
        "message": message,
        "recipients": [
            {"recipient_sub": f.sub, "reference": "32-1/2026"},
            {"recipient_sub": "unbekannt"},
            {"recipient_sub": f.sub, "idempotency_key": "eigener-schluessel"},
        ],
    });
    let (s, first) = bulk_send(app, &f.authority, &body, Some("lauf-1")).await;
    assert_eq!(s, 200, "{first}");
    let statuses: Vec<u64> = first["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, [201, 422, 201], "{first}");
    assert_eq!(
        (first["sent"].as_u64(), first["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let inbox = app.get("/postfach").await.text().await.expect("inbox");
    assert_eq!(
        inbox.matches("Anwohnerparkausweis").count(),
        2,
        "two messages"
    );
    // Each recipient's own reference, or the message's.
    let id0 = first["results"][0]["id"].as_str().expect("id").to_owned();
    let (_, _, b) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/messages/{id0}"),
    )
    .await;
    assert_eq!(json_of(&b)["reference"], "32-1/2026");

    // The same call again: every stored item is replayed, nothing stored twice.
    let (s, again) = bulk_send(app, &f.authority, &body, Some("lauf-1")).await;
    assert_eq!(s, 200);
    assert_eq!(again["replayed"].as_u64(), Some(2), "{again}");
    for i in [0, 2] {
        assert_eq!(again["results"][i]["status"], 200);
        assert_eq!(again["results"][i]["id"], first["results"][i]["id"]);
    }
    let inbox = app.get("/postfach").await.text().await.expect("inbox");
    assert_eq!(inbox.matches("Anwohnerparkausweis").count(), 2, "still two");
    // An item with its own key is the same item in another call too; a changed message under
    // the same keys is a conflict per item, not a second letter.
    let only = json!({"message": body["message"], "recipients": [body["recipients"][2]]});
    let (_, one) = bulk_send(app, &f.authority, &only, None).await;
    assert_eq!(one["results"][0]["status"], 200, "{one}");
    assert_eq!(one["results"][0]["id"], first["results"][2]["id"]);
    // Whatever else the later call carries: another first recipient changes nothing.
    let behind = json!({"message": body["message"], "recipients": [{"recipient_sub": "unbekannt"}, body["recipients"][2]]});
    let (_, two) = bulk_send(app, &f.authority, &behind, None).await;
    assert_eq!(two["results"][1]["status"], 200, "{two}");
    assert_eq!(two["results"][1]["id"], first["results"][2]["id"]);
    // The recipients are named only in `recipients`.
    let mut named = body.clone();
    named["message"]["recipient_sub"] = f.sub.clone().into();
    assert_eq!(bulk_send(app, &f.authority, &named, None).await.0, 400);
    let mut changed = body.clone();
    changed["message"]["subject"] = "Ein anderer Betreff".into();
    let (_, conflict) = bulk_send(app, &f.authority, &changed, Some("lauf-1")).await;
    assert_eq!(conflict["results"][0]["status"], 409, "{conflict}");
    assert_eq!(conflict["sent"].as_u64(), Some(0));

    // Limits apply to the call: 10,001 recipients are refused before anything is stored.
    let many: Vec<Value> = (0..10_001)
        .map(|_| json!({"recipient_sub": f.sub}))
        .collect();
    let (s, _) = bulk_send(
        app,
        &f.authority,
        &json!({"message": body["message"], "recipients": many}),
        None,
    )
    .await;
    assert_eq!(s, 413);
    let (s, _) = bulk_send(
        app,
        &f.authority,
        &json!({"message": body["message"], "recipients": []}),
        None,
    )
    .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn forty_replies_at_once_cannot_pass_the_last_place() {
    let f = fixture(Backend::Default).await;
    let app = &f.app;
    let (_, _, sent) = send(app, &f.authority, &letter(&f.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let reply = |n: usize| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("body", format!("Antwort {n}"))
            .part(
                "files",
                reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
            );
        app.browser
            .post(app.url(&format!("/postfach/{id}/antwort")))
            .multipart(form)
            .send()
    };
    for n in 0..90 {
        assert_eq!(reply(n).await.expect("reply").status(), 303, "reply {n}");
    }
    // Ten places are left; forty replies arrive at once.
    let answers = futures_util::future::join_all((90..130).map(reply)).await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|r| r.as_ref().expect("reply").status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        10,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 303 || *s == 413),
        "{statuses:?}"
    );
    let (code, _, body) = api_get(app, &f.authority, "/api/v1/mailbox/replies?limit=100").await;
    assert_eq!(code, 200);
    let replies = json_of(&body);
    assert_eq!(replies["items"].as_array().expect("items").len(), 100);
    let next = replies["next_cursor"].as_str().expect("cursor");
    let (_, _, rest) = api_get(
        app,
        &f.authority,
        &format!("/api/v1/mailbox/replies?after={next}"),
    )
    .await;
    assert_eq!(json_of(&rest)["items"], json!([]), "no 101st reply");
}
