//! A minimal portal backend on a random loopback port: receives back-channel logout tokens
//! and serves a JWK Set (for `private_key_jwt` with `jwks_uri`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Portal {
    pub base: String,
    pub logout_tokens: Arc<Mutex<Vec<String>>>,
    pub jwks: Arc<Mutex<serde_json::Value>>,
    /// How often `/jwks-broken` and `/jwks-endless` were asked.
    pub bad_jwks_fetches: Arc<std::sync::atomic::AtomicUsize>,
}

pub async fn spawn_portal() -> Portal {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let portal = Portal {
        base,
        ..Portal::default()
    };
    let app = Router::new()
        .route(
            "/bcl",
            post(
                |State(p): State<Portal>, Form(f): Form<HashMap<String, String>>| async move {
                    match f.get("logout_token") {
                        Some(t) => {
                            p.logout_tokens.lock().expect("lock").push(t.clone());
                            StatusCode::OK
                        }
                        None => StatusCode::BAD_REQUEST,
                    }
                },
            ),
        )
        .route(
            "/broken",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/jwks",
            get(|State(p): State<Portal>| async move {
                axum::Json(p.jwks.lock().expect("lock").clone())
            }),
        )
        .route(
            "/jwks-broken",
            get(|State(p): State<Portal>| async move {
                p.bad_jwks_fetches
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                StatusCode::INTERNAL_SERVER_ERROR
            }),
        )
        .route(
            // A chunked body without Content-Length that never ends.
            "/jwks-endless",
            get(|State(p): State<Portal>| async move {
                p.bad_jwks_fetches
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let chunks = std::iter::repeat_with(|| {
                    Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(vec![b' '; 1024]))
                });
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .with_state(portal.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    portal
}

impl Portal {
    /// Waits up to 10 s for `n` logout tokens.
    pub async fn wait_for_logouts(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let got = self.logout_tokens.lock().expect("lock").clone();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.logout_tokens.lock().expect("lock").clone()
    }
}

/// An ES256 key pair for client assertions: (PKCS#8 DER, public JWK with `kid`).
pub fn es256_key(kid: &str) -> (Vec<u8>, serde_json::Value) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("keygen");
    let der = kp.to_pkcs8v1().expect("pkcs8").as_ref().to_vec();
    let point = kp.public_key().as_ref().to_vec();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": kid, "alg": "ES256", "use": "sig"});
    (der, jwk)
}

/// A signed client assertion (RFC 7523).
pub fn assertion(der: &[u8], kid: &str, claims: &serde_json::Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &jsonwebtoken::EncodingKey::from_ec_der(der)).expect("sign")
}
