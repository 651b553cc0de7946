//! A callback receiver as an authority system would run it: it checks every delivery's
//! `callback-authentication` (hex HMAC-SHA512 of `"{timestamp}.{body}"`) and
//! `callback-timestamp` (within five minutes), records what it accepted, and can be told to
//! refuse, hang or redirect. It also notices the same event arriving twice at the same time.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// Answer with this status.
    Refuse(u16),
    /// Accept the connection and never answer.
    Hang,
    /// Answer 302 to another URL.
    Redirect,
}

#[derive(Default)]
struct Inner {
    mode: Option<Mode>,
    accepted: Vec<Value>,
    /// Every request, whatever the answer.
    requests: usize,
    bad_signatures: usize,
    in_flight: HashSet<String>,
    parallel_duplicates: usize,
    /// Hold each accepted request this long (to expose parallel deliveries).
    hold: Duration,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub secret: String,
    inner: Arc<Mutex<Inner>>,
}

fn hmac_hex(secret: &[u8], data: &[u8]) -> String {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA512, secret);
    aws_lc_rs::hmac::sign(&k, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn handle(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let (mode, hold) = {
        let mut i = r.inner.lock().expect("lock");
        i.requests += 1;
        (i.mode.unwrap_or(Mode::Accept), i.hold)
    };
    let ts = headers
        .get("callback-timestamp")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok());
    let sig = headers
        .get("callback-authentication")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let now = chrono::Utc::now().timestamp();
    let mut signed = ts.map(|t| t.to_string()).unwrap_or_default().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let valid = ts.is_some_and(|t| (now - t).abs() <= 300)
        && sig == hmac_hex(r.secret.as_bytes(), &signed)
        && headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json");
    if !valid {
        r.inner.lock().expect("lock").bad_signatures += 1;
        return (StatusCode::UNAUTHORIZED, HeaderMap::new());
    }
    match mode {
        Mode::Accept => {}
        Mode::Refuse(s) => {
            return (StatusCode::from_u16(s).expect("status"), HeaderMap::new());
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Mode::Redirect => {
            let mut h = HeaderMap::new();
            h.insert(
                "location",
                "https://elsewhere.example/".parse().expect("header"),
            );
            return (StatusCode::FOUND, h);
        }
    }
    let v: Value = serde_json::from_slice(&body).expect("json body");
    let id = v["event_id"].as_str().expect("event_id").to_owned();
    {
        let mut i = r.inner.lock().expect("lock");
        if !i.in_flight.insert(id.clone()) {
            i.parallel_duplicates += 1;
        }
    }
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    let mut i = r.inner.lock().expect("lock");
    i.in_flight.remove(&id);
    i.accepted.push(v);
    (StatusCode::NO_CONTENT, HeaderMap::new())
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let r = Receiver {
            url: format!("http://127.0.0.1:{port}/fachverfahren/callback"),
            secret: "geheim-und-lang-genug-fuer-hmac-sha512-0123456789".into(),
            inner: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/fachverfahren/callback", axum::routing::post(handle))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r
    }

    pub fn set_mode(&self, m: Mode) {
        self.inner.lock().expect("lock").mode = Some(m);
    }

    pub fn hold(&self, d: Duration) {
        self.inner.lock().expect("lock").hold = d;
    }

    pub fn accepted(&self) -> Vec<Value> {
        self.inner.lock().expect("lock").accepted.clone()
    }

    pub fn requests(&self) -> usize {
        self.inner.lock().expect("lock").requests
    }

    pub fn bad_signatures(&self) -> usize {
        self.inner.lock().expect("lock").bad_signatures
    }

    pub fn parallel_duplicates(&self) -> usize {
        self.inner.lock().expect("lock").parallel_duplicates
    }

    /// Waits (up to `secs`) until `n` deliveries were accepted; returns them.
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Value> {
        for _ in 0..secs * 10 {
            let a = self.accepted();
            if a.len() >= n {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.accepted()
    }
}

/// The types in the order the receiver accepted them for one message.
pub fn types_for(accepted: &[Value], message: &str) -> Vec<String> {
    accepted
        .iter()
        .filter(|v| v["message_id"] == message)
        .map(|v| {
            v["type"]
                .as_str()
                .expect("type")
                .trim_start_matches("urn:buergerkonto:mailbox:event:")
                .to_owned()
        })
        .collect()
}
