//! Attachments are scanned by a real ClamAV daemon (Debian's clamd, with a one-signature
//! database that knows the EICAR test file): malware is refused in both directions and
//! audited; a scanner outage is a 503, never a silent pass, unless fail-open is configured.

use crate::helpers::{Backend, TestApp, hidden, spawn_app_configured};
use crate::mailbox::{EMAIL, PW, authority, citizen_at, letter, send};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The EICAR anti-virus test file (harmless; every scanner reports it).
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A clamd of the test's own on a free port, which the test may stop.
pub struct PrivateClamd {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl Drop for PrivateClamd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl PrivateClamd {
    /// `None` outside CI when clamd is not installed.
    pub fn start() -> Option<Self> {
        if std::process::Command::new("clamd")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but clamd is missing"
            );
            eprintln!("skipped: clamd is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        // The MD5 of the EICAR file, its size and a name: a database of one signature.
        std::fs::write(
            db.join("eicar.hdb"),
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        )
        .expect("signature");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        std::fs::write(
            dir.path().join("clamd.conf"),
            format!(
                "DatabaseDirectory {}\nTCPSocket {port}\nTCPAddr 127.0.0.1\nLocalSocket {}\nForeground yes\nLogFile {}\n",
                db.display(),
                dir.path().join("clamd.sock").display(),
                dir.path().join("clamd.log").display()
            ),
        )
        .expect("config");
        let mut c = Self {
            port,
            dir,
            child: None,
        };
        c.resume();
        Some(c)
    }

    /// Starts clamd (again) and waits until it answers.
    pub fn resume(&mut self) {
        let conf = self.dir.path().join("clamd.conf");
        let child = std::process::Command::new("clamd")
            .arg(format!("--config-file={}", conf.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start clamd");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("clamd did not start");
    }

    /// Stops clamd (an outage).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn addr(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// The same daemon's Unix socket.
    pub fn unix_addr(&self) -> String {
        format!("unix://{}", self.dir.path().join("clamd.sock").display())
    }
}

/// The app with the scanner, a citizen logged in at a portal, and an authority system.
async fn fixture(clamd: &str, fail_open: bool) -> (TestApp, String, String) {
    let addr = clamd.to_owned();
    let app = spawn_app_configured(Backend::Default, |raw| {
        raw.clamd = addr;
        raw.clamd_fail_open = fail_open;
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
    let (token, _) = authority(&app, &app.tenant).await;
    (app, sub, token)
}

fn with_file(sub: &str, name: &str, data: &[u8]) -> Value {
    let mut m = letter(sub);
    m["attachments"] = json!([{"filename": name, "content_type": "application/octet-stream", "content_base64": STANDARD.encode(data)}]);
    m
}

/// The citizen's reply on the page, with one file.
async fn reply(app: &TestApp, id: &str, data: &[u8]) -> reqwest::Response {
    let page = app
        .get(&format!("/postfach/{id}"))
        .await
        .text()
        .await
        .expect("page");
    let csrf = hidden(&page, "csrf").expect("csrf");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("body", "Anbei das Dokument.")
        .part(
            "files",
            reqwest::multipart::Part::bytes(data.to_vec())
                .file_name("scan.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    app.browser
        .post(app.url(&format!("/postfach/{id}/antwort")))
        .multipart(form)
        .send()
        .await
        .expect("reply")
}

#[tokio::test]
async fn eicar_is_refused_in_both_directions_and_an_outage_refuses_too() {
    let Some(mut clamd) = PrivateClamd::start() else {
        return;
    };
    let (app, sub, token) = fixture(&clamd.addr(), false).await;

    // Authority → citizen: malware is a 422 that names it; nothing is stored.
    let (status, _, problem) = send(&app, &token, &with_file(&sub, "virus.com", EICAR), None).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("malware") && d.contains("Eicar")),
        "{problem}"
    );
    let (status, _, sent) = send(&app, &token, &letter(&sub), None).await;
    assert_eq!(status, 201, "a clean attachment passes: {sent}");
    let id = sent["id"].as_str().expect("id").to_owned();
    let inbox = app.get("/postfach").await.text().await.expect("inbox");
    assert_eq!(
        inbox.matches("/postfach/0").count(),
        1,
        "only the clean message"
    );

    // Citizen → authority: the same on the reply page.
    let r = reply(&app, &id, EICAR).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("page").contains("Schadsoftware"));
    let r = reply(&app, &id, b"%PDF-1.4 sauber").await;
    assert_eq!(r.status(), 303, "a clean file passes");

    // Both findings are audited, with the direction and the signature.
    let db = buergerkonto::store::Db::connect(app.config.database_url.expose())
        .await
        .expect("db");
    let filter = buergerkonto::store::audit::AuditFilter {
        kind: Some("mailbox.attachment_refused".into()),
        ..Default::default()
    };
    let events = db.audit().search(&filter, 10).await.expect("audit");
    let mut directions: Vec<&str> = events
        .iter()
        .filter_map(|e| e.detail.0["direction"].as_str())
        .collect();
    directions.sort_unstable();
    assert_eq!(directions, ["from_citizen", "to_citizen"]);
    assert!(events.iter().all(|e| {
        e.detail.0["signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("Eicar"))
    }));

    // The scanner is down: a clear 503 with Retry-After, in both directions; nothing passes.
    clamd.stop();
    let (status, headers, problem) = send(&app, &token, &letter(&sub), None).await;
    assert_eq!(status, 503, "{problem}");
    assert!(headers.contains_key("retry-after"));
    let r = reply(&app, &id, b"%PDF-1.4 sauber").await;
    assert_eq!(r.status(), 503);
    // A message without attachments needs no scanner.
    let mut plain = letter(&sub);
    plain["attachments"] = json!([]);
    assert_eq!(send(&app, &token, &plain, None).await.0, 201);
    clamd.resume();
    assert_eq!(send(&app, &token, &letter(&sub), None).await.0, 201, "back");
}

#[tokio::test]
async fn fail_open_accepts_unscanned_only_when_the_operator_chose_it() {
    let Some(mut clamd) = PrivateClamd::start() else {
        return;
    };
    let (app, sub, token) = fixture(&clamd.addr(), true).await;
    // Scanning still refuses what it finds.
    assert_eq!(
        send(&app, &token, &with_file(&sub, "virus.com", EICAR), None)
            .await
            .0,
        422
    );
    clamd.stop();
    assert_eq!(send(&app, &token, &letter(&sub), None).await.0, 201);
}

#[tokio::test]
async fn the_scanner_is_reached_over_its_unix_socket_too() {
    let Some(clamd) = PrivateClamd::start() else {
        return;
    };
    let socket = clamd.unix_addr();
    for _ in 0..100 {
        if std::path::Path::new(socket.trim_start_matches("unix://")).exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (app, sub, token) = fixture(&socket, false).await;
    assert_eq!(
        send(&app, &token, &with_file(&sub, "virus.com", EICAR), None)
            .await
            .0,
        422
    );
    assert_eq!(send(&app, &token, &letter(&sub), None).await.0, 201);
}
