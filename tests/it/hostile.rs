//! Hostile clients: a fuzzer that sends thousands of malformed requests to every endpoint
//! (and fails on any 5xx), and connections that are silent, slow, too many, or still open
//! when the server is told to stop.

use crate::helpers::{AppOptions, TestApp, hidden, spawn_app_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PW: &str = "ein langes Passwort";

/// Sends raw bytes on a new connection; the status of the answer, `None` if the server
/// closed the connection without one. Panics when nothing happens within `wait`.
async fn raw(port: u16, request: &[u8], wait: Duration) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    // A server that answers before reading everything may reset the rest: that is fine.
    let _ = s.write_all(request).await;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(wait, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {wait:?} to {:?}", head(request)));
    let line = String::from_utf8_lossy(&buf);
    line.split(' ').nth(1).and_then(|c| c.parse().ok())
}

fn head(request: &[u8]) -> String {
    String::from_utf8_lossy(&request[..request.len().min(200)]).into_owned()
}

/// A small deterministic generator (xorshift), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).expect("fits")
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const ID: &str = "01a2401e-f24c-76ba-a4ca-36b2e58d0d98";

const GET_PATHS: &[&str] = &[
    "/",
    "/.well-known/openid-configuration",
    "/jwks.json",
    "/authorize",
    "/authorize/resume",
    "/consent",
    "/password/forgot",
    "/password/reset",
    "/login/otp",
    "/konto/totp",
    "/userinfo",
    "/logout",
    "/login",
    "/register",
    "/verify-email",
    "/konto",
    "/lang",
    "/static/style.css",
    "/login/passkey",
    "/konto/verknuepfen/callback",
    "/konto/sicherheit",
    "/api/v1/processes/bauantrag",
    "/api/v1/processes/%00",
    "/api/openapi.json",
    "/postfach",
    "/postfach/ID",
    "/postfach/%ff%fe",
    "/postfach/ID/anhang/ID",
    "/api/v1/mailbox/messages/ID",
    "/api/v1/mailbox/messages/ID/receipt",
    "/api/v1/mailbox/replies",
    "/api/v1/mailbox/inbox",
    "/api/v1/mailbox/inbox/ID",
    "/api/v1/mailbox/inbox/%00/attachments/ID",
    "/healthz",
    "/readyz",
    "/impressum",
    "/konto/daten",
    "/konto/passwort",
    "/konto/email",
    "/konto/email/bestaetigen",
    "/konto/daten.json",
    "/barrierefreiheit",
    "/hilfe",
    "/kontakt",
    "/nicht-da",
];

const POST_PATHS: &[&str] = &[
    "/authorize",
    "/consent",
    "/token",
    "/introspect",
    "/revoke",
    "/password/forgot",
    "/password/reset",
    "/login/otp",
    "/konto/totp",
    "/konto/sessions/end",
    "/konto/consents/withdraw",
    "/userinfo",
    "/logout",
    "/logout/confirm",
    "/login",
    "/register",
    "/verify-email",
    "/login/passkey",
    "/login/otp/passkey",
    "/konto/verknuepfen/upstream",
    "/konto/passkeys",
    "/konto/passkeys/rename",
    "/konto/factors/remove",
    "/postfach/ID/antwort",
    "/postfach/ID/archivieren",
    "/postfach/ID/loeschen",
    "/api/v1/mailbox/messages",
    "/api/v1/identity-proofings",
    "/barrierefreiheit",
    "/konto/passwort",
    "/konto/email",
    "/konto/email/bestaetigen",
    "/authorize/cancel",
];

const NAMES: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "id_token_hint",
    "login_hint",
    "acr_values",
    "claims",
    "process",
    "ui_locales",
    "req",
    "email",
    "password",
    "code",
    "grant_type",
    "refresh_token",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "ceremony",
    "credential",
    "name",
    "id",
    "archived",
    "decision",
    "next",
    "to",
    "back",
    "handle",
    "client",
    "page",
    "archiv",
    "seite",
    "after",
    "limit",
    "tenant",
    "post_logout_redirect_uri",
    "body",
    "factor",
];

/// A hostile value, percent-encoded as it goes on the wire.
fn value(r: &mut Rng, ctx: &Ctx) -> String {
    match r.below(16) {
        0 => String::new(),
        1 => "%00".into(),
        2 => "a%0d%0aSet-Cookie:%20x=1".into(),
        3 => "%zz%f".into(),
        4 => "%ff%fe%80".into(),
        5 => "x".repeat(r.below(3) * 40_000 + 1),
        6 => "%7B%22a%22%3A%5B%5B%5B%5B1%5D%5D%5D%5D%7D".into(),
        7 => "-99999999999999999999".into(),
        8 => "..%2F..%2Fetc%2Fpasswd".into(),
        9 => "%E2%80%AE%C2%85%7F".into(),
        10 => ctx.client_id.clone(),
        11 => "http%3A%2F%2F127.0.0.1%3A9%2Fcb".into(),
        12 => "openid%20email%20offline_access%20mailbox.read".into(),
        13 => "S256".into(),
        14 => ID.into(),
        _ => format!("{}", r.next()),
    }
}

fn form(r: &mut Rng, ctx: &Ctx) -> String {
    let n = r.below(8);
    let mut parts: Vec<String> = (0..n)
        .map(|_| {
            let name = if r.chance(10) {
                "%00name".to_owned()
            } else {
                (*r.pick(NAMES)).to_owned()
            };
            format!("{name}={}", value(r, ctx))
        })
        .collect();
    if r.chance(30) {
        parts.push(format!("csrf={}", ctx.csrf));
    }
    if r.chance(10) {
        // A repeated parameter.
        parts.push("scope=openid".into());
        parts.push("scope=openid".into());
    }
    parts.join("&")
}

fn json_body(r: &mut Rng) -> Vec<u8> {
    match r.below(7) {
        0 => br#"{"recipient_sub":"a\u0000b","subject":"s","body":"b"}"#.to_vec(),
        1 => format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        2 => br#"{"email":"x@example.org","level":"high","document_type":"p\u0000","clerk":"c"}"#
            .to_vec(),
        3 => br#"{"name":"N","level":"substantial"}"#.to_vec(),
        4 => b"{\"subject\": \"\xff\xfe\"}".to_vec(),
        5 => br#"{"recipient_sub":"x","subject":"s","body":"b","attachments":[{"filename":"a","content_type":"a/b","content_base64":"!!!"}]}"#.to_vec(),
        _ => b"not json at all".to_vec(),
    }
}

fn multipart(r: &mut Rng, ctx: &Ctx) -> (String, Vec<u8>) {
    let boundary = "XyZ";
    let mut body = Vec::new();
    let parts = if r.chance(10) { 2000 } else { r.below(4) + 1 };
    for i in 0..parts {
        let name = match i % 4 {
            0 => "csrf",
            1 => "body",
            2 => "files",
            _ => "\u{0}",
        };
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"a\r\n.pdf\"\r\nContent-Type: {}\r\n\r\n",
                if r.chance(50) { "application/pdf" } else { "x" }
            )
            .as_bytes(),
        );
        if name == "csrf" {
            body.extend_from_slice(ctx.csrf.as_bytes());
        } else {
            body.extend_from_slice(b"\xff\x00 Inhalt");
        }
        body.extend_from_slice(b"\r\n");
    }
    if r.chance(70) {
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    }
    let ct = if r.chance(20) {
        "multipart/form-data".to_owned()
    } else {
        format!("multipart/form-data; boundary={boundary}")
    };
    (ct, body)
}

/// What a fuzzer may attach: a logged-in browser's cookies and form token, tokens.
struct Ctx {
    cookies: String,
    csrf: String,
    client_id: String,
    bearer: Vec<String>,
    basic: String,
}

fn request(r: &mut Rng, ctx: &Ctx, port: u16) -> Vec<u8> {
    let get = r.chance(40);
    let method = if r.chance(8) {
        (*r.pick(&["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "BREW"])).to_owned()
    } else if get {
        "GET".into()
    } else {
        "POST".into()
    };
    let path = if get {
        *r.pick(GET_PATHS)
    } else {
        *r.pick(POST_PATHS)
    }
    .replace("ID", ID);
    let query = if r.chance(60) {
        format!("?{}", form(r, ctx))
    } else {
        String::new()
    };
    let mut headers = format!("Host: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if r.chance(60) {
        headers.push_str(&format!("Cookie: {}\r\n", ctx.cookies));
    }
    match r.below(6) {
        0 => headers.push_str(&format!(
            "Authorization: Bearer {}\r\n",
            r.pick(&ctx.bearer)
        )),
        1 => headers.push_str(&format!("Authorization: {}\r\n", ctx.basic)),
        // Basic credentials with a NUL in the client id.
        2 => headers.push_str("Authorization: Basic YQBiOmM=\r\n"),
        3 => headers.push_str("Authorization: Bearer \u{7f}x\r\n"),
        _ => {}
    }
    if r.chance(10) {
        headers.push_str("Idempotency-Key: \u{1}\r\n");
    }
    let (content_type, body): (Option<String>, Vec<u8>) = if get && r.chance(80) {
        (None, Vec::new())
    } else {
        match r.below(6) {
            0 | 1 => (
                Some("application/x-www-form-urlencoded".into()),
                form(r, ctx).into_bytes(),
            ),
            2 => (Some("application/json".into()), json_body(r)),
            3 => {
                let (ct, b) = multipart(r, ctx);
                (Some(ct), b)
            }
            4 => (
                Some("application/x-www-form-urlencoded".into()),
                json_body(r),
            ),
            _ => (Some("text/plain".into()), b"\x00\x01\x02".to_vec()),
        }
    };
    if let Some(ct) = content_type {
        headers.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    // Sometimes the declared length is absurd or longer than what is sent.
    let declared = match r.below(20) {
        0 => "99999999999999999999".to_owned(),
        1 => (body.len() + 50).to_string(),
        _ => body.len().to_string(),
    };
    headers.push_str(&format!("Content-Length: {declared}\r\n"));
    let mut req = format!("{method} {path}{query} HTTP/1.1\r\n{headers}\r\n").into_bytes();
    req.extend_from_slice(&body);
    req
}

async fn context(app: &TestApp) -> Ctx {
    use crate::mailbox::{EMAIL, authority, citizen_at};
    use reqwest::cookie::CookieStore;
    app.add_user(EMAIL, PW).await;
    let portal = app
        .add_client(
            &app.tenant,
            &["--scope", "openid", "--scope", "mailbox.read"],
        )
        .await;
    let (_, portal_token) = citizen_at(app, &portal).await;
    let (send_token, _) = authority(app, &app.tenant).await;
    // A logged-in browser of our own, whose cookies go onto the raw requests.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let b = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
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
            ("email", EMAIL),
            ("password", PW),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    // The form token stays valid for this browser's later forms.
    let cookies = jar
        .cookies(&url::Url::parse(&app.addr).expect("url"))
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .expect("cookies");
    Ctx {
        cookies,
        csrf,
        client_id: portal.id.clone(),
        bearer: vec![portal_token, send_token, "x.y.z".into()],
        basic: crate::helpers::basic(&portal),
    }
}

fn fuzz_config(c: &mut buergerkonto::config::RawConfig) {
    c.body_timeout_secs = 1;
    c.login_max_failures_per_ip = 1_000_000;
    c.authorize_pending_per_ip = 1_000_000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_hostile_requests_get_no_5xx() {
    let app = spawn_app_with(AppOptions {
        tweak: fuzz_config,
        ..AppOptions::default()
    })
    .await;
    fuzz(&app, 0x5eed_b0e6_2026).await;
}

/// The same with a host name as issuer, where passkeys are available.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_hostile_requests_get_no_5xx_with_passkeys() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| {
            fuzz_config(c);
            c.issuer = c.issuer.replace("127.0.0.1", "localhost");
        },
        ..AppOptions::default()
    })
    .await;
    fuzz(&app, 0xb0e6_5eed_1202).await;
}

async fn fuzz(app: &TestApp, seed: u64) {
    let ctx = std::sync::Arc::new(context(app).await);
    let port = app.port;
    let mut r = Rng(seed);
    let requests: Vec<Vec<u8>> = (0..2000).map(|_| request(&mut r, &ctx, port)).collect();
    let mut failures = Vec::new();
    let mut answered = 0;
    for batch in requests.chunks(16) {
        let results = futures_util::future::join_all(batch.iter().map(|req| {
            let req = req.clone();
            tokio::spawn(async move {
                let status = raw(port, &req, Duration::from_secs(20)).await;
                (status, req)
            })
        }))
        .await;
        for res in results {
            let (status, req) = res.expect("join");
            match status {
                Some(s) if s >= 500 => failures.push(format!("{s}: {}", head(&req))),
                Some(_) => answered += 1,
                None => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} requests got a 5xx:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(answered > 1500, "most requests are answered: {answered}");
    // And the server still works.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn control_characters_are_refused_at_the_edge_wherever_text_enters() {
    let app = spawn_app_with(AppOptions::default()).await;
    let c = app.add_client(&app.tenant, &[]).await;
    let nul = "a\u{0}b";
    // The protocol endpoints, before any lookup.
    let r = app
        .get(&format!(
            "/authorize?client_id=a%00b&redirect_uri={}&response_type=code&scope=openid",
            crate::oidc_flow::urlencode(&c.redirect_uri)
        ))
        .await;
    assert_eq!(r.status(), 400);
    for path in ["/token", "/introspect", "/revoke"] {
        let (s, b, _) = crate::helpers::post_oauth(
            &app,
            path,
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", nul),
                ("token", "x"),
            ],
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
        // Basic credentials whose client id has a NUL: base64 of "a\0b:c".
        let (s, b, _) = crate::helpers::post_oauth(
            &app,
            path,
            Some("Basic YQBiOmM=".into()),
            &[("grant_type", "client_credentials"), ("token", "x")],
        )
        .await;
        assert_eq!(
            (s, b["error"].as_str()),
            (401, Some("invalid_client")),
            "{path}"
        );
    }
    assert_eq!(app.get("/logout?client_id=a%00b").await.status(), 400);
    // The JSON APIs: a NUL anywhere in a string is a 400 problem, not stored, not a 500.
    let (authority, _) = crate::mailbox::authority(&app, &app.tenant).await;
    let r = app
        .http
        .post(app.url("/api/v1/mailbox/messages"))
        .bearer_auth(&authority)
        .header("content-type", "application/json")
        .body(r#"{"recipient_sub":"a\u0000b","subject":"s","body":"b"}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let admin = crate::processes::m2m(&app, "catalogue.admin").await;
    let r = app
        .http
        .put(app.url("/api/v1/processes/nul-test"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(r#"{"name":"Bau\u0000antrag","level":"low"}"#)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .get(app.url("/api/v1/processes/nul-test"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404, "nothing was stored");
    let clerk = crate::processes::m2m(&app, "identity.verify").await;
    let r = app
        .http
        .post(app.url("/api/v1/identity-proofings"))
        .bearer_auth(&clerk)
        .header("content-type", "application/json")
        .body(
            r#"{"email":"x@example.org","level":"high","document_type":"Pass\u0000","clerk":"c"}"#,
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let r = app
        .http
        .get(app.url("/api/v1/processes/x?tenant=a%00b"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_and_stalled_bodies_cut() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| {
            c.header_timeout_secs = 1;
            c.body_timeout_secs = 1;
        },
        ..AppOptions::default()
    })
    .await;
    // Connects and says nothing: the server closes the connection.
    let mut silent = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    // Sends half a request head, a byte at a time: closed too.
    let mut slow = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break; // closed by the server meanwhile
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in [&mut silent, &mut slow] {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the server closed the connection, not the test")
            .unwrap_or(0);
        assert!(
            n == 0 || buf.starts_with(b"HTTP/1.1 408"),
            "closed (or told 408): {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    // A body that is announced but never arrives: answered with a 4xx, not held.
    let status = raw(
        app.port,
        b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{status:?}"
    );
    // A body announced far beyond the limit is refused at once with 413, before it is read
    // (waiting for it would end in the body timeout's 400).
    for path in ["/login", "/authorize", "/consent"] {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999999\r\n\r\na=b"
        );
        let status = raw(app.port, req.as_bytes(), Duration::from_secs(10)).await;
        assert_eq!(status, Some(413), "{path}");
    }
    // An idle keep-alive connection after a request is closed too.
    let mut kept = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = kept.read(&mut buf).await.expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let n = tokio::time::timeout(Duration::from_secs(10), kept.read(&mut buf))
        .await
        .expect("the idle connection was closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_app_with(AppOptions {
        tweak: |c| {
            c.header_timeout_secs = 60;
            c.max_connections = 20;
        },
        ..AppOptions::default()
    })
    .await;
    // The open-file limit was raised to what the system allows.
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    assert_eq!(nofile.current, nofile.maximum);
    // Twenty silent connections take every slot.
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(
            TcpStream::connect(("127.0.0.1", app.port))
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A further request waits in the backlog: the server does not take it on...
    let mut waiting = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 1024];
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), waiting.read(&mut buf))
            .await
            .is_err(),
        "no answer while all slots are taken"
    );
    // ...until a slot frees.
    drop(idle.pop());
    let n = tokio::time::timeout(Duration::from_secs(10), waiting.read(&mut buf))
        .await
        .expect("answered once a slot was free")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[tokio::test]
async fn a_stopped_server_exits_within_its_grace_period() {
    let app = spawn_app_with(AppOptions {
        backend: crate::helpers::Backend::Embedded,
        ..AppOptions::default()
    })
    .await;
    // The real binary on its own port, with a long header timeout and a short grace.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_buergerkonto"))
        .arg("serve")
        .env(
            "BUERGERKONTO_DATABASE_URL",
            app.config.database_url.expose(),
        )
        .env("BUERGERKONTO_KEYS_DIR", &app.config.keys_dir)
        .env("BUERGERKONTO_OUTBOX_DIR", app.outbox_dir())
        .env("BUERGERKONTO_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("BUERGERKONTO_LISTEN", format!("127.0.0.1:{port}"))
        .env("BUERGERKONTO_HEADER_TIMEOUT_SECS", "120")
        .env("BUERGERKONTO_SHUTDOWN_GRACE_SECS", "1")
        .env_remove("BUERGERKONTO_REDIS_URL")
        .current_dir(app.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(app.dir.path().join("serve.log")).expect("log file"))
        .spawn()
        .expect("start the server");
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "the server started");
    // A connection with unfinished headers, then SIGTERM.
    let mut pending = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    pending
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    let mut exited = None;
    for _ in 0..150 {
        if let Some(status) = child.try_wait().expect("wait") {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if exited.is_none() {
        let _ = child.kill();
    }
    let status = exited.expect("the server exited after SIGTERM instead of waiting for the client");
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(app.dir.path().join("serve.log")).unwrap_or_default()
    );
}
