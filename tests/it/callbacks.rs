//! Signed callbacks to authority systems: every evidence event a system should hear about
//! reaches its receiver, signed (HMAC-SHA512 over timestamp and body), in order per
//! message, at least once: across failing, hanging and redirecting receivers, a killed
//! instance, and two instances on one database.

use crate::helpers::receiver::{Mode, Receiver, types_for};
use crate::helpers::{AppOptions, Backend, TestApp, hidden, spawn_app_with, spawn_peer};
use crate::mailbox::{EMAIL, PW, authority, citizen_at, letter, send};
use serde_json::{Value, json};
use std::time::Duration;

fn quick(raw: &mut buergerkonto::config::RawConfig) {
    raw.mailbox_notify_delay_secs = 1;
    raw.mailbox_interval_secs = 1;
    raw.callback_allow_http = true;
    raw.callback_retry_base_secs = 1;
    raw.callback_timeout_secs = 2;
}

/// A server with a citizen logged in at a portal of the tenant, and an authority system.
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    /// The citizen's subject at the tenant.
    pub(crate) sub: String,
    /// The authority system's token (`mailbox.send`) and client id.
    pub(crate) token: String,
    pub(crate) client_id: String,
}

pub(crate) async fn setup(
    backend: Backend,
    tweak: fn(&mut buergerkonto::config::RawConfig),
) -> Setup {
    let app = spawn_app_with(AppOptions {
        backend,
        tweak,
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
    let (token, client_id) = authority(&app, &app.tenant).await;
    Setup {
        app,
        sub,
        token,
        client_id,
    }
}

/// Registers the receiver for the client through the CLI (the secret on stdin).
fn register(app: &TestApp, client: &str, rx: &Receiver) {
    let (ok, out, err) = app.cli(
        &[
            "client",
            "callback",
            "set",
            "--id",
            client,
            "--url",
            &rx.url,
            "--secret-stdin",
        ],
        Some(&rx.secret),
    );
    assert!(ok, "{err}");
    assert_eq!(out["url"], rx.url.as_str());
    assert!(
        out.get("secret").is_none(),
        "a given secret is never echoed"
    );
}

async fn api(app: &TestApp, token: &str, method: reqwest::Method, path: &str) -> (u16, Value) {
    let r = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn open_reply_delete(app: &TestApp, id: &str) {
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let r = crate::helpers::reply_on_page(app, id, &csrf, "Danke, erhalten.").await;
    assert_eq!(r.status(), 303);
    let r = app
        .post_form(&format!("/postfach/{id}/loeschen"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
}

/// The callback kinds of a message's evidence, in the evidence's order.
async fn evidence_kinds(app: &TestApp, token: &str, id: &str) -> Vec<(String, i64)> {
    let (_, status) = api(
        app,
        token,
        reqwest::Method::GET,
        &format!("/api/v1/mailbox/messages/{id}"),
    )
    .await;
    status["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            ["notified", "opened", "replied", "deleted", "expired"]
                .contains(&e["type"].as_str().unwrap_or(""))
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_owned(),
                e["seq"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_event_reaches_the_receiver_signed_in_order_with_the_ids_to_fetch() {
    let s = setup(Backend::Default, quick).await;
    let app = &s.app;
    let rx = Receiver::start().await;
    register(app, &s.client_id, &rx);
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    // Notified by the background round, then opened, answered, deleted by the citizen.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    open_reply_delete(app, &id).await;
    let got = rx.wait_for(4, 30).await;
    assert_eq!(rx.bad_signatures(), 0);
    let evidence = evidence_kinds(app, &s.token, &id).await;
    assert_eq!(
        types_for(&got, &id),
        evidence.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "one callback per event, in the evidence's order"
    );
    assert_eq!(evidence.len(), 4, "{evidence:?}");
    for (v, (kind, seq)) in got.iter().zip(&evidence) {
        assert_eq!(v["type"], format!("urn:buergerkonto:mailbox:event:{kind}"));
        assert_eq!(v["seq"], *seq);
        assert_eq!(v["message_id"], id.as_str());
        assert!(v["event_id"].as_str().is_some_and(|e| e.len() == 36));
        assert!(v["occurred_at"].is_string());
    }
    // The reply's id is there to fetch it.
    let replied = got
        .iter()
        .find(|v| v["type"].as_str().is_some_and(|t| t.ends_with(":replied")))
        .expect("replied");
    let (_, replies) = api(
        app,
        &s.token,
        reqwest::Method::GET,
        "/api/v1/mailbox/replies",
    )
    .await;
    assert_eq!(replied["reply_id"], replies["items"][0]["id"]);
    // The system sees its setting (never the secret) and its deliveries.
    let (code, target) = api(
        app,
        &s.token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback",
    )
    .await;
    assert_eq!(code, 200, "{target}");
    assert_eq!(target["url"], rx.url.as_str());
    assert_eq!(
        (target["pending"].as_i64(), target["dead"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(!target.to_string().contains(&rx.secret));
    let (_, done) = api(
        app,
        &s.token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback/deliveries?state=delivered",
    )
    .await;
    let mut listed: Vec<&str> = done
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    let mut received: Vec<&str> = got
        .iter()
        .map(|v| v["event_id"].as_str().expect("id"))
        .collect();
    listed.sort_unstable();
    received.sort_unstable();
    assert_eq!(listed, received);
    let (code, _) = api(
        app,
        &s.token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback/deliveries?state=lost",
    )
    .await;
    assert_eq!(code, 422);
    // A system without a target has none; another tenant's system sees none of these.
    let other = app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let (other_token, _) = authority(app, &other).await;
    let (code, _) = api(
        app,
        &other_token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback",
    )
    .await;
    assert_eq!(code, 404);
    let (_, none) = api(
        app,
        &other_token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback/deliveries?state=delivered",
    )
    .await;
    assert_eq!(none, json!([]));
}

fn failing(raw: &mut buergerkonto::config::RawConfig) {
    quick(raw);
    raw.callback_timeout_secs = 1;
}

#[tokio::test]
async fn a_refusing_hanging_or_redirecting_receiver_gets_the_backlog_in_order_once_it_recovers() {
    let s = setup(Backend::Default, failing).await;
    let app = &s.app;
    let rx = Receiver::start().await;
    register(app, &s.client_id, &rx);
    rx.set_mode(Mode::Refuse(503));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
        ids.push(sent["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        open_reply_delete(app, id).await;
    }
    // Refused, then hanging, then redirected: nothing counts as delivered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    rx.set_mode(Mode::Hang);
    tokio::time::sleep(Duration::from_secs(3)).await;
    rx.set_mode(Mode::Redirect);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(rx.accepted().is_empty());
    assert!(rx.requests() >= 3, "attempts were made: {}", rx.requests());
    let (_, pending) = api(
        app,
        &s.token,
        reqwest::Method::GET,
        "/api/v1/mailbox/callback/deliveries?state=pending",
    )
    .await;
    let errors: Vec<String> = pending
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["last_error"].as_str().map(str::to_owned))
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("503") || e.contains("no answer") || e.contains("redirect")),
        "{errors:?}"
    );
    rx.set_mode(Mode::Accept);
    let want: usize = {
        let mut n = 0;
        for id in &ids {
            n += evidence_kinds(app, &s.token, id).await.len();
        }
        n
    };
    let got = rx.wait_for(want, 60).await;
    assert_eq!(got.len(), want, "all delivered after recovery");
    for id in &ids {
        let evidence: Vec<String> = evidence_kinds(app, &s.token, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(types_for(&got, id), evidence, "in order for {id}");
    }
    assert_eq!(rx.bad_signatures(), 0);
}

fn give_up_fast(raw: &mut buergerkonto::config::RawConfig) {
    quick(raw);
    raw.callback_give_up_secs = 2;
}

#[tokio::test]
async fn a_delivery_given_up_is_listed_and_redelivered_by_hand_through_each_door() {
    let s = setup(Backend::Default, give_up_fast).await;
    let app = &s.app;
    let rx = Receiver::start().await;
    register(app, &s.client_id, &rx);
    rx.set_mode(Mode::Refuse(500));
    let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
    let id = sent["id"].as_str().expect("id").to_owned();
    open_reply_delete(app, &id).await;
    let mut dead = Value::Null;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, t) = api(
            app,
            &s.token,
            reqwest::Method::GET,
            "/api/v1/mailbox/callback",
        )
        .await;
        if t["dead"].as_i64().unwrap_or(0) >= 3 && t["pending"].as_i64() == Some(0) {
            dead = api(
                app,
                &s.token,
                reqwest::Method::GET,
                "/api/v1/mailbox/callback/deliveries?state=dead",
            )
            .await
            .1;
            break;
        }
    }
    let list = dead.as_array().expect("given up");
    assert!(list.len() >= 3, "{dead}");
    assert!(
        list.iter()
            .all(|d| d["last_error"] == "HTTP 500" && d["attempts"].as_i64() >= Some(1))
    );
    rx.set_mode(Mode::Accept);
    // Another system cannot re-queue them; an unknown id is a 404.
    let (other_token, _) = authority(app, &app.tenant).await;
    let first = list[0]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/mailbox/callback/deliveries/{first}/redeliver");
    assert_eq!(
        api(app, &other_token, reqwest::Method::POST, &path).await.0,
        404
    );
    let bad = api(
        app,
        &s.token,
        reqwest::Method::POST,
        "/api/v1/mailbox/callback/deliveries/not-an-id/redeliver",
    )
    .await
    .0;
    assert!((400..500).contains(&bad), "{bad}");
    // The system itself re-queues one; the CLI another; forty at once re-queue it once.
    let calls = (0..40).map(|_| api(app, &s.token, reqwest::Method::POST, &path));
    let codes: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 202 || *c == 409), "{codes:?}");
    let second = list[1]["id"].as_str().expect("id");
    let (ok, _, err) = app.cli(
        &[
            "client",
            "callback",
            "redeliver",
            "--id",
            &s.client_id,
            "--event",
            second,
        ],
        None,
    );
    assert!(ok, "{err}");
    let got = rx.wait_for(2, 20).await;
    let mut ids: Vec<&str> = got
        .iter()
        .map(|v| v["event_id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    let mut want = vec![first.as_str(), second];
    want.sort_unstable();
    assert_eq!(ids, want, "each re-queued delivery arrived once");
}

fn not_here(raw: &mut buergerkonto::config::RawConfig) {
    quick(raw);
    raw.callback_deliver = false;
}

/// The real binary on the app's database and keys, delivering callbacks only.
fn deliverer(app: &TestApp, log: &str) -> std::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    std::process::Command::new(env!("CARGO_BIN_EXE_buergerkonto"))
        .arg("serve")
        .env(
            "BUERGERKONTO_DATABASE_URL",
            app.config.database_url.expose(),
        )
        .env("BUERGERKONTO_KEYS_DIR", &app.config.keys_dir)
        .env("BUERGERKONTO_OUTBOX_DIR", app.outbox_dir())
        .env("BUERGERKONTO_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("BUERGERKONTO_LISTEN", format!("127.0.0.1:{port}"))
        .env("BUERGERKONTO_CALLBACK_ALLOW_HTTP", "true")
        .env("BUERGERKONTO_CALLBACK_TIMEOUT_SECS", "5")
        .env("BUERGERKONTO_CALLBACK_RETRY_BASE_SECS", "1")
        .env("BUERGERKONTO_MAILBOX_INTERVAL_SECS", "3600")
        .env_remove("BUERGERKONTO_REDIS_URL")
        .current_dir(app.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(app.dir.path().join(log)).expect("log file"))
        .spawn()
        .expect("start the server")
}

#[tokio::test]
async fn nothing_is_lost_when_the_delivering_instance_is_killed_between_commit_and_delivery() {
    let s = setup(Backend::Default, not_here).await;
    let app = &s.app;
    let rx = Receiver::start().await;
    register(app, &s.client_id, &rx);
    rx.set_mode(Mode::Hang);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
        ids.push(sent["id"].as_str().expect("id").to_owned());
    }
    // Committed here (this instance delivers nothing): notified, opened, replied, deleted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in &ids {
        open_reply_delete(app, id).await;
    }
    let mut want = 0;
    for id in &ids {
        want += evidence_kinds(app, &s.token, id).await.len();
    }
    assert_eq!(want, 8);
    // The other instance takes deliveries; while the receiver holds them, it is killed.
    let mut first = deliverer(app, "first.log");
    for _ in 0..200 {
        if rx.requests() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rx.requests() >= 1, "the instance was delivering");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    assert!(rx.accepted().is_empty());
    // Restarted, it sends everything once the dead instance's leases run out.
    rx.set_mode(Mode::Accept);
    let mut second = deliverer(app, "second.log");
    let got = rx.wait_for(want, 60).await;
    let _ = second.kill();
    let _ = second.wait();
    let mut unique: Vec<&str> = got
        .iter()
        .map(|v| v["event_id"].as_str().expect("id"))
        .collect();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), want, "every committed event arrived: {got:?}");
    for id in &ids {
        let evidence: Vec<String> = evidence_kinds(app, &s.token, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut seen = types_for(&got, id);
        seen.dedup();
        assert_eq!(seen, evidence, "in order for {id}");
    }
    assert_eq!(rx.bad_signatures(), 0);
}

#[tokio::test]
async fn two_instances_on_postgresql_never_deliver_one_event_twice_at_the_same_time() {
    if crate::helpers::test_pg_url().is_none() {
        eprintln!("skipped: BUERGERKONTO_TEST_DATABASE_URL is not set");
        return;
    }
    let s = setup(Backend::Default, quick).await;
    let app = &s.app;
    let _peer = spawn_peer(app).await;
    let rx = Receiver::start().await;
    rx.hold(Duration::from_millis(150));
    register(app, &s.client_id, &rx);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (_, _, sent) = send(app, &s.token, &letter(&s.sub), None).await;
        ids.push(sent["id"].as_str().expect("id").to_owned());
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in &ids {
        open_reply_delete(app, id).await;
    }
    let mut want = 0;
    for id in &ids {
        want += evidence_kinds(app, &s.token, id).await.len();
    }
    let got = rx.wait_for(want, 60).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_all = rx.accepted();
    assert_eq!(got.len(), want);
    assert_eq!(got_all.len(), want, "no event twice");
    assert_eq!(rx.parallel_duplicates(), 0);
    for id in &ids {
        let evidence: Vec<String> = evidence_kinds(app, &s.token, id)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(types_for(&got_all, id), evidence, "in order for {id}");
    }
}

async fn admin_api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_set_and_clear_callbacks_within_their_rights_through_the_api_and_the_console() {
    use reqwest::Method;
    let mut app = spawn_app_with(AppOptions {
        tweak: quick,
        ..AppOptions::default()
    })
    .await;
    app.add_tenant("gemeinde-b", "Gemeinde B").await;
    let system = app.add_service_client("gemeinde-a", &["--scope", "mailbox.send"]);
    let foreign = app.add_service_client("gemeinde-b", &["--scope", "mailbox.send"]);
    let kommune_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.tenant"]);
    let audit_sys = app.add_service_client("gemeinde-a", &["--scope", "admin.audit"]);
    let kommune = app.service_token(&kommune_sys, None).await;
    let auditor = app.service_token(&audit_sys, None).await;
    let path = format!("/api/v1/admin/clients/{}/callback", system.id);
    let url = "http://127.0.0.1:9/fachverfahren";

    // The first setting without a secret gets a generated one, once.
    let (s, out) = admin_api(
        &app,
        Method::PUT,
        &path,
        &kommune,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["url"], url);
    let secret = out["secret"].as_str().expect("generated secret").to_owned();
    assert!(secret.len() >= 32);
    let (s, shown) = admin_api(&app, Method::GET, &path, &kommune, None).await;
    assert_eq!(s, 200);
    // An auditor does not configure clients: it sees them as little as their settings.
    assert_eq!(
        admin_api(&app, Method::GET, &path, &auditor, None).await.0,
        404
    );
    assert_eq!(shown["url"], url);
    assert!(!shown.to_string().contains(&secret), "write-only");
    // A later change of the URL keeps the secret (and shows none).
    let (s, out) = admin_api(
        &app,
        Method::PUT,
        &path,
        &kommune,
        Some(json!({ "url": format!("{url}/v2") })),
    )
    .await;
    assert_eq!(s, 200);
    assert!(out.get("secret").is_none());
    // Bad input is a clear 400; the auditor changes nothing; another tenant's system is not found.
    for bad in [
        json!({ "url": "ftp://fv.example/x" }),
        json!({ "url": "https://user:pw@fv.example/x" }),
        json!({ "url": "https://fv.example/x", "secret": "kurz" }),
    ] {
        let (s, e) = admin_api(&app, Method::PUT, &path, &kommune, Some(bad)).await;
        assert_eq!(s, 400, "{e}");
    }
    let (s, _) = admin_api(
        &app,
        Method::PUT,
        &path,
        &kommune,
        Some(json!({ "url": url, "extra": 1 })),
    )
    .await;
    assert!((400..500).contains(&s));
    assert_eq!(
        admin_api(
            &app,
            Method::PUT,
            &path,
            &auditor,
            Some(json!({ "url": url }))
        )
        .await
        .0,
        404
    );
    let foreign_path = format!("/api/v1/admin/clients/{}/callback", foreign.id);
    assert_eq!(
        admin_api(
            &app,
            Method::PUT,
            &foreign_path,
            &kommune,
            Some(json!({ "url": url }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        admin_api(&app, Method::GET, &foreign_path, &kommune, None)
            .await
            .0,
        404
    );
    let (s, _) = admin_api(
        &app,
        Method::GET,
        &format!("{path}/deliveries?state=dead"),
        &kommune,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = admin_api(
        &app,
        Method::POST,
        &format!("{path}/deliveries/{}/redeliver", uuid::Uuid::now_v7()),
        &kommune,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (_, audit) = admin_api(&app, Method::GET, "/api/v1/admin/audit", &auditor, None).await;
    assert!(
        audit.to_string().contains("admin.callback_set"),
        "audited: {audit}"
    );

    // The console: the Kommune admin sees the section, saves, gets a new secret once, clears.
    let kommune_admin = crate::admin::admin(
        &mut app,
        "kommune@example.org",
        "kommune_admin",
        Some("gemeinde-a"),
    )
    .await;
    app.as_admin(&kommune_admin);
    let page_path = format!("/admin/portale/{}", system.id);
    let page = app.get(&page_path).await.text().await.expect("page");
    assert!(
        page.contains("Rückrufe an das Fachverfahren") && page.contains("/v2"),
        "{page}"
    );
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("{page_path}/rueckruf"),
        &[("url", url), ("action", "save")],
    )
    .await;
    assert_eq!(
        crate::helpers::location(&r),
        format!("{page_path}?ok=callback")
    );
    let page = crate::admin::console_post(
        &app,
        &page_path,
        &format!("{page_path}/rueckruf"),
        &[("url", url), ("action", "new_secret")],
    )
    .await
    .text()
    .await
    .expect("page");
    assert!(page.contains("id=\"callback-secret\""), "{page}");
    assert!(!page.contains(&secret));
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("{page_path}/rueckruf"),
        &[("url", "http://"), ("action", "save")],
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("/admin/portale/{}/rueckruf", foreign.id),
        &[("url", url)],
    )
    .await;
    assert_eq!(r.status(), 404);
    // The system's contact topics are defined on the same page.
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("{page_path}/themen"),
        &[
            ("tenant", "gemeinde-a"),
            ("name", "Sperrmüll anmelden"),
            ("slug", "sperrmuell"),
            ("level", "low"),
            ("process", ""),
        ],
    )
    .await;
    assert_eq!(
        crate::helpers::location(&r),
        format!("{page_path}?ok=topic#themen")
    );
    let page = app.get(&page_path).await.text().await.expect("page");
    assert!(
        page.contains("Sperrmüll anmelden") && page.contains("<code>sperrmuell</code>"),
        "{page}"
    );
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("/admin/portale/{}/themen", foreign.id),
        &[
            ("tenant", "gemeinde-b"),
            ("name", "X"),
            ("slug", "x"),
            ("level", "low"),
        ],
    )
    .await;
    assert_eq!(r.status(), 404, "another tenant's system gets no topic");
    let r = crate::admin::console_post(
        &app,
        &page_path,
        &format!("{page_path}/rueckruf"),
        &[("action", "clear")],
    )
    .await;
    assert_eq!(
        crate::helpers::location(&r),
        format!("{page_path}?ok=callback_removed")
    );
    assert_eq!(
        admin_api(&app, Method::GET, &path, &kommune, None).await.0,
        404
    );
    assert_eq!(
        admin_api(&app, Method::DELETE, &path, &kommune, None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_long_backlog_at_a_hanging_receiver_does_not_hold_back_another_system() {
    let s = setup(Backend::Default, quick).await;
    let app = &s.app;
    let slow = Receiver::start().await;
    slow.set_mode(Mode::Hang);
    register(app, &s.client_id, &slow);
    // 600 letters in one run: once notified, 600 deliveries wait for a receiver that hangs
    // (four at a time, two seconds each).
    let recipients: Vec<Value> = (0..600)
        .map(|_| json!({ "recipient_sub": s.sub }))
        .collect();
    let r = app
        .http
        .post(app.url("/api/v1/mailbox/bulk"))
        .bearer_auth(&s.token)
        .json(&json!({ "message": { "subject": "Bescheid", "body": "Guten Tag." }, "recipients": recipients }))
        .send()
        .await
        .expect("bulk");
    assert_eq!(r.status().as_u16(), 200);
    for _ in 0..200 {
        if slow.requests() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slow.requests() >= 4, "the backlog is being delivered");
    // Another system of the Kommune, with a receiver that answers: its event is not queued
    // behind the 600 (before, the oldest 200 due deliveries were all the slow system's).
    let (other_token, other_id) = authority(app, &app.tenant).await;
    let fast = Receiver::start().await;
    register(app, &other_id, &fast);
    let (code, _, _) = send(app, &other_token, &letter(&s.sub), None).await;
    assert_eq!(code, 201);
    let got = fast.wait_for(1, 20).await;
    assert_eq!(
        got.len(),
        1,
        "the other system heard of its message within 20 s"
    );
}
