//! `spawn_app`, `TestApp` and a browser with a cookie jar.
//!
//! Backends: SQLite and the in-process store by default; PostgreSQL (a fresh database per
//! test) and Redis (a fresh key prefix per test) when `BUERGERKONTO_TEST_DATABASE_URL` /
//! `BUERGERKONTO_TEST_REDIS_URL` are set. In CI (`CI=true`) both must be set.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod portal;
pub mod receiver;
pub mod rp;
pub mod webauthn;

use buergerkonto::app::Application;
use buergerkonto::config::{Config, RawConfig};
use reqwest::redirect::Policy;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Once;

/// Which backends a test app uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL + Redis when configured, else SQLite + memory.
    Default,
    /// Always SQLite + memory.
    Embedded,
}

pub fn test_pg_url() -> Option<String> {
    let v = std::env::var("BUERGERKONTO_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if v.is_none() && std::env::var("CI").is_ok_and(|c| c == "true") {
        panic!(
            "CI=true but BUERGERKONTO_TEST_DATABASE_URL is not set: backend tests must not be skipped in CI"
        );
    }
    v
}

pub fn test_redis_url() -> Option<String> {
    let v = std::env::var("BUERGERKONTO_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if v.is_none() && std::env::var("CI").is_ok_and(|c| c == "true") {
        panic!(
            "CI=true but BUERGERKONTO_TEST_REDIS_URL is not set: backend tests must not be skipped in CI"
        );
    }
    v
}

/// Creates a fresh PostgreSQL database and returns its URL.
pub async fn fresh_pg_database(base: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("BUERGERKONTO_TEST_DATABASE_URL must be reachable");
    let name = format!("bk_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(base).expect("database URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            buergerkonto::telemetry::init("debug,sqlx=warn,hyper=info");
        }
    });
}

pub struct TestApp {
    pub addr: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub browser: reqwest::Client,
    pub http: reqwest::Client,
    pub tenant: String,
    pub backend_is_pg: bool,
}

pub struct AppOptions {
    pub backend: Backend,
    pub tweak: fn(&mut RawConfig),
    /// The clock that decides expiry (a manual one is moved instead of sleeping).
    pub clock: buergerkonto::clock::Clock,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Default,
            tweak: |_| {},
            clock: buergerkonto::clock::Clock::system(),
        }
    }
}

/// A browser: cookie jar on, redirects off.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// A server whose issuer is a host name (WebAuthn needs a domain as relying party id).
pub async fn spawn_named() -> TestApp {
    spawn_app_with(AppOptions {
        tweak: |raw| raw.issuer = raw.issuer.replace("127.0.0.1", "localhost"),
        ..AppOptions::default()
    })
    .await
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(opts: AppOptions) -> TestApp {
    spawn_app_clocked(opts.backend, opts.tweak, opts.clock).await
}

/// Like [`spawn_app_with`], with a configuration step that may capture (for instance, to
/// register this server as a client of another one once its address is known).
pub async fn spawn_app_configured(backend: Backend, tweak: impl FnOnce(&mut RawConfig)) -> TestApp {
    spawn_app_clocked(backend, tweak, buergerkonto::clock::Clock::system()).await
}

async fn spawn_app_clocked(
    backend: Backend,
    tweak: impl FnOnce(&mut RawConfig),
    clock: buergerkonto::clock::Clock,
) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let addr = format!("http://127.0.0.1:{port}");
    let mut raw = RawConfig {
        issuer: addr.clone(),
        listen: format!("127.0.0.1:{port}"),
        database_url: format!("sqlite://{}", dir.path().join("db.sqlite").display()),
        keys_dir: dir.path().join("keys").display().to_string(),
        outbox_dir: dir.path().join("outbox").display().to_string(),
        ..RawConfig::default()
    };
    let mut backend_is_pg = false;
    if backend == Backend::Default {
        if let Some(pg) = test_pg_url() {
            raw.database_url = fresh_pg_database(&pg).await;
            backend_is_pg = true;
        }
        if let Some(r) = test_redis_url() {
            raw.redis_url = Some(r);
            raw.redis_prefix = format!("bkt:{}:", uuid::Uuid::new_v4().simple());
        }
    }
    tweak(&mut raw);
    // A test may serve under another host name (passkeys need one): pages are then
    // requested there too.
    // (The server itself speaks plain HTTP; an https issuer is a proxy's business.)
    let addr = raw.issuer.replacen("https://", "http://", 1);
    let config = Config::from_raw(raw).expect("valid test config");
    let app = Application::build_with(config.clone(), listener, clock)
        .await
        .expect("build app");
    tokio::spawn(app.run_until_stopped());
    let browser = browser_client();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let mut app = TestApp {
        addr,
        port,
        dir,
        config,
        browser,
        http,
        tenant: String::new(),
        backend_is_pg,
    };
    // A restored backup has its tenant already.
    let (ok, _, err) = app.cli(
        &[
            "tenant",
            "add",
            "--slug",
            "gemeinde-a",
            "--name",
            "Gemeinde A",
        ],
        None,
    );
    assert!(
        ok || err.contains("exists already"),
        "tenant add failed: {err}"
    );
    app.tenant = "gemeinde-a".to_owned();
    app
}

/// A registered test client.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    /// Runs the real binary with this app's configuration (same database and keys).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> (bool, Value, String) {
        use std::io::Write;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_buergerkonto"));
        cmd.args(args)
            .env(
                "BUERGERKONTO_DATABASE_URL",
                self.config.database_url.expose(),
            )
            .env("BUERGERKONTO_KEYS_DIR", &self.config.keys_dir)
            .env("BUERGERKONTO_ISSUER", &self.addr)
            .env("BUERGERKONTO_OUTBOX_DIR", self.outbox_dir())
            .env(
                "BUERGERKONTO_CALLBACK_ALLOW_HTTP",
                self.config.callbacks.allow_http.to_string(),
            )
            .env_remove("BUERGERKONTO_REDIS_URL")
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("run buergerkonto");
        if let Some(s) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(s.as_bytes())
                .expect("write stdin");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (
            out.status.success(),
            json,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    pub async fn add_tenant(&self, slug: &str, name: &str) -> String {
        let (ok, json, err) = self.cli(&["tenant", "add", "--slug", slug, "--name", name], None);
        assert!(ok, "tenant add failed: {err}");
        assert_eq!(json["slug"], slug);
        slug.to_owned()
    }

    /// A confidential portal client of `tenant` with a loopback redirect URI.
    pub async fn add_client(&self, tenant: &str, extra: &[&str]) -> TestClient {
        let redirect_uri = format!("http://127.0.0.1:9/cb/{}", uuid::Uuid::new_v4().simple());
        let plr = "http://127.0.0.1:9/logged-out";
        let mut args = vec![
            "client",
            "add",
            "--tenant",
            tenant,
            "--name",
            "Bürgerportal Test",
            "--redirect-uri",
            &redirect_uri,
            "--post-logout-redirect-uri",
            plr,
        ];
        args.extend_from_slice(extra);
        let (ok, json, err) = self.cli(&args, None);
        assert!(ok, "client add failed: {err}");
        TestClient {
            id: json["client_id"].as_str().expect("client_id").to_owned(),
            secret: json["client_secret"].as_str().map(str::to_owned),
            redirect_uri,
        }
    }

    /// A system without citizens (client_credentials only) of `tenant`, with `extra` arguments
    /// to `client add` (scopes, subject type, ...).
    pub fn add_service_client(&self, tenant: &str, extra: &[&str]) -> TestClient {
        let mut args = vec![
            "client",
            "add",
            "--tenant",
            tenant,
            "--name",
            "Fachverfahren",
        ];
        args.extend_from_slice(extra);
        let (ok, json, err) = self.cli(&args, None);
        assert!(ok, "client add failed: {err}");
        TestClient {
            id: json["client_id"].as_str().expect("client_id").to_owned(),
            secret: json["client_secret"].as_str().map(str::to_owned),
            redirect_uri: String::new(),
        }
    }

    /// A client_credentials token of `c`, for `scope` (or all its scopes).
    pub async fn service_token(&self, c: &TestClient, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (s, body, _) = token(self, Some(basic(c)), &form).await;
        assert_eq!(s, 200, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Forgets the browser's cookies: the next requests come from a new browser.
    pub fn reset_browser(&mut self) {
        self.browser = browser_client();
    }

    /// A verified account created by the operator command.
    pub async fn add_user(&self, email: &str, password: &str) -> String {
        let (ok, json, err) = self.cli(
            &["user", "add", "--email", email, "--password-stdin"],
            Some(password),
        );
        assert!(ok, "user add failed: {err}");
        json["id"].as_str().expect("id").to_owned()
    }

    pub fn outbox_dir(&self) -> PathBuf {
        match &self.config.mail {
            buergerkonto::config::MailTransport::Outbox(d) => d.clone(),
            buergerkonto::config::MailTransport::Smtp(_) => panic!("tests use the outbox"),
        }
    }

    /// All mails in the outbox, decoded enough to find links.
    pub fn mails(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.outbox_dir())
            .map(|r| {
                r.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .map(|p| decode_mail(&std::fs::read_to_string(p).expect("read mail")))
            .collect()
    }

    /// The newest link to `path` in mails to `to`.
    pub fn mailed_link(&self, to: &str, path: &str) -> Option<String> {
        self.mails()
            .iter()
            .rev()
            .filter(|m| m.contains(&format!("To: {to}")))
            .find_map(|m| {
                let start = m.find(&format!("{}{path}", self.addr))?;
                let rest = &m[start..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
                    .unwrap_or(rest.len());
                Some(rest[..end].to_owned())
            })
    }

    /// Waits up to 5 s for a link in a mail sent in the background.
    pub async fn wait_for_link(&self, to: &str, path: &str) -> Option<String> {
        for _ in 0..50 {
            if let Some(l) = self.mailed_link(to, path) {
                return Some(l);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        None
    }

    /// GET with the browser.
    pub async fn get(&self, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            self.url(path_or_url)
        };
        self.browser.get(url).send().await.expect("GET")
    }

    /// POST a form with the browser.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Fetches a page and returns the CSRF token of its form.
    pub async fn csrf_of(&self, path: &str) -> String {
        let body = self.get(path).await.text().await.expect("body");
        hidden(&body, "csrf").expect("page has a csrf field")
    }

    /// Registers through the page (without confirming); the answer.
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf_of("/register").await;
        self.post_form(
            "/register",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// Registers through the pages and confirms the mailed link.
    pub async fn register_and_verify(&self, email: &str, password: &str) {
        let csrf = self.csrf_of("/register").await;
        let r = self
            .post_form(
                "/register",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", password),
                    ("req", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 200);
        let link = self
            .mailed_link(email, "/verify-email")
            .expect("verification mail");
        let page = self.get(&link).await.text().await.expect("body");
        let token = hidden(&page, "token").expect("token field");
        let csrf = hidden(&page, "csrf").expect("csrf");
        let r = self
            .post_form(
                "/verify-email",
                &[("csrf", &csrf), ("token", &token), ("password", password)],
            )
            .await;
        assert_eq!(r.status(), 303, "verification succeeds and signs in");
        assert_eq!(location(&r), "/konto");
    }

    /// Logs in on the login page of a pending request (or plain `/login`).
    pub async fn login(&self, req: &str, email: &str, password: &str) -> reqwest::Response {
        let path = if req.is_empty() {
            "/login".to_owned()
        } else {
            format!("/login?req={req}")
        };
        let csrf = self.csrf_of(&path).await;
        self.post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("req", req),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }
}

/// Value of `<input type="hidden" name="NAME" value="...">` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&#x2d;", "-")
            .replace("&#x5f;", "_"),
    )
}

/// Undoes quoted-printable soft breaks and `=3D`, and appends base64 parts decoded.
fn decode_mail(raw: &str) -> String {
    use base64::Engine;
    let mut out = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    for block in raw.split("\r\n\r\n") {
        let compact: String = block.lines().map(str::trim).collect();
        if compact.len() > 40
            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&compact)
        {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// The `Location` header of a redirect.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(url)
        .or_else(|_| url::Url::parse(&format!("http://x{url}")))
        .ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The PKCE pair of RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Logs `email` in with the browser (if needed), consents, and returns a fresh code for `c`.
pub async fn code_for(
    app: &TestApp,
    c: &TestClient,
    email: &str,
    password: &str,
    scope: &str,
) -> String {
    let url = authorize_path(c, scope);
    let cb = rp::run_browser(app, &app.url(&url), email, password).await;
    query_param(&cb, "code").unwrap_or_else(|| panic!("no code in {cb}"))
}

/// `/authorize?…` for a code with PKCE (`CHALLENGE`), `state=s`, at `c`'s redirect URI.
pub fn authorize_path(c: &TestClient, scope: &str) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "/authorize?client_id={}&redirect_uri={}&response_type=code&scope={}&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        c.id,
        enc(&c.redirect_uri),
        enc(scope)
    )
}

/// The citizen answers message `id` (or adds to their own thread) by the page's form,
/// without files.
pub async fn reply_on_page(app: &TestApp, id: &str, csrf: &str, text: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .text("body", text.to_owned())
        .part(
            "files",
            reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
        );
    app.browser
        .post(app.url(&format!("/postfach/{id}/antwort")))
        .multipart(form)
        .send()
        .await
        .expect("addition")
}

/// `Authorization: Basic` for a client.
pub fn basic(c: &TestClient) -> String {
    use base64::Engine;
    let raw = format!("{}:{}", c.id, c.secret.clone().unwrap_or_default());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// POSTs a form to a back-channel endpoint (`/token`, `/introspect`, `/revoke`).
pub async fn post_oauth(
    app: &TestApp,
    path: &str,
    auth: Option<String>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app.http.post(app.url(path)).form(form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

pub async fn token(
    app: &TestApp,
    auth: Option<String>,
    form: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    post_oauth(app, "/token", auth, form).await
}

/// The form of a code exchange with the RFC 7636 verifier.
pub fn exchange<'a>(c: &'a TestClient, code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &c.redirect_uri),
        ("code_verifier", VERIFIER),
    ]
}

/// GET /userinfo with a bearer token; the status.
pub async fn userinfo_status(app: &TestApp, at: &str) -> u16 {
    app.http
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo")
        .status()
        .as_u16()
}

/// Where a refused level sends the browser: the redirect itself, or the "back to the service"
/// link of the page that explains why the level cannot be reached.
pub async fn unmet_target(r: reqwest::Response) -> String {
    if r.status().is_redirection() {
        return location(&r);
    }
    assert_eq!(r.status(), 200);
    let page = r.text().await.expect("page");
    page.split("href=\"")
        .skip(1)
        .filter_map(|p| p.split('"').next())
        .map(|h| {
            h.replace("&amp;", "&")
                .replace("&#x3d;", "=")
                .replace("&#x26;", "&")
        })
        .find(|h| h.contains("error=unmet_authentication_requirements"))
        .unwrap_or_else(|| panic!("no way back with the error on the page: {page}"))
}

/// A second instance of `app` behind the same issuer: the same database and keys, its own
/// port, and its own in-process short-lived store (what another instance, or this one after
/// a restart, would have when Redis is not configured).
pub async fn spawn_peer(app: &TestApp) -> TestApp {
    spawn_instance(app, false).await
}

/// A second instance of the same installation behind the same name: the same database,
/// Redis, keys and issuer (as behind a load balancer), on a port of its own.
pub async fn spawn_twin(app: &TestApp) -> TestApp {
    spawn_instance(app, true).await
}

async fn spawn_instance(app: &TestApp, shared_redis: bool) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = app.config.clone();
    if !shared_redis {
        config.redis_url = None;
    }
    let peer = Application::build_on(config.clone(), listener)
        .await
        .expect("build peer");
    tokio::spawn(peer.run_until_stopped());
    TestApp {
        addr: format!("http://127.0.0.1:{port}"),
        port,
        dir: tempfile::tempdir().expect("temp dir"),
        config,
        browser: browser_client(),
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client"),
        tenant: app.tenant.clone(),
        backend_is_pg: app.backend_is_pg,
    }
}

/// A Redis server of the test's own (on a free port, keeping nothing on disk) that the test
/// may stop and start again: a primary, a replica of one, or a sentinel watching one. `None`
/// outside CI when `redis-server` is not installed.
pub struct PrivateRedis {
    pub port: u16,
    args: Vec<String>,
    /// A sentinel's configuration file (it rewrites it) lives here.
    _dir: Option<tempfile::TempDir>,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Option<Self> {
        Self::start_with(|port| data_node(port, &[]), None)
    }

    /// A replica of `primary`, started once it has the primary's data.
    pub fn replica_of(primary: &PrivateRedis) -> Option<Self> {
        let p = primary.port.to_string();
        let r = Self::start_with(
            |port| data_node(port, &["--replicaof", "127.0.0.1", &p]),
            None,
        )?;
        for _ in 0..100 {
            if r.query(&["INFO", "replication"])
                .contains("master_link_status:up")
            {
                return Some(r);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the replica did not sync with its primary");
    }

    /// A sentinel (quorum 1) watching `primary` as `service`; it takes the primary for dead
    /// after `down_after_ms`.
    pub fn sentinel(service: &str, primary: &PrivateRedis, down_after_ms: u32) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("sentinel.conf");
        let port = free_port();
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {service} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {service} {down_after_ms}\n\
                 sentinel failover-timeout {service} 5000\n",
                dir.path().display(),
                primary.port
            ),
        )
        .expect("sentinel.conf");
        let conf = conf.display().to_string();
        Self::start_with(
            |_| vec![conf.clone(), "--sentinel".into()],
            Some((port, dir)),
        )
    }

    fn start_with(
        args: impl FnOnce(u16) -> Vec<String>,
        fixed: Option<(u16, tempfile::TempDir)>,
    ) -> Option<Self> {
        let available = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
        if !available {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but redis-server is missing"
            );
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let (port, dir) = fixed.map_or_else(|| (free_port(), None), |(p, d)| (p, Some(d)));
        let mut r = Self {
            port,
            args: args(port),
            _dir: dir,
            child: None,
        };
        r.resume();
        Some(r)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command against this server; its answer as text (arrays and maps flattened).
    pub fn query(&self, args: &[&str]) -> String {
        let client = redis::Client::open(self.url()).expect("url");
        let Ok(mut c) = client.get_connection() else {
            return String::new();
        };
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<redis::Value>(&mut c)
            .map(|v| format!("{v:?}"))
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// Starts the server (again) and waits until it answers.
    pub fn resume(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel and never
    /// answered, the worst kind of outage. `thaw` lets it go on.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Stops the server (an outage).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `redis-server` arguments for a node on `port` that keeps nothing on disk, then `extra`.
/// Its directory is the system's temporary one: a replica writes the primary's snapshot
/// there when it synchronises (it wrote `dump.rdb` into the checkout before).
fn data_node(port: u16, extra: &[&str]) -> Vec<String> {
    let port = port.to_string();
    let dir = std::env::temp_dir().display().to_string();
    [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        &dir,
    ]
    .iter()
    .chain(extra)
    .map(|a| (*a).to_owned())
    .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL server of the test's own (a fresh cluster on a free port, trust auth, fsync
/// off) that the test may stop and start again. `None` outside CI when PostgreSQL's server
/// programs are not installed. As root, the server runs as the `postgres` user.
pub struct PrivatePostgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl PrivatePostgres {
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists())
            .max();
        let Some(bin) = bin else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL's initdb is missing"
            );
            eprintln!("skipped: PostgreSQL's server programs are not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        if Self::is_root() {
            let ok = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .expect("chown")
                .success();
            assert!(ok, "chown to postgres failed");
        }
        let port = free_port();
        let pg = Self { port, dir, bin };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.resume();
        Some(pg)
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let exe = self.bin.join(program);
        let mut cmd = if Self::is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL of the database `postgres` on this server.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it answers.
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops the server (an outage): connections are closed, new ones refused.
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if Self::is_root() {
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        } else {
            std::process::Command::new(&exe)
                .args(args)
                .current_dir(self.dir.path())
                .output()
        };
    }
}
