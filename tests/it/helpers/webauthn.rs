//! A software passkey: a P-256 key in memory that answers WebAuthn registration and
//! authentication options the way a platform authenticator would (attestation "none",
//! user present and verified), with a tiny CBOR encoder for the attestation object. It can
//! say it is synced (the backup flags) and attest itself as a listed device ("packed"
//! attestation with the test certificate in `tests/fixtures/attestation`).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

pub struct SoftPasskey {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    user_handle: Vec<u8>,
    origin: String,
    counter: u32,
    /// Whether the authenticator reports user verification (PIN, biometrics).
    pub user_verified: bool,
    /// Whether it says the key is synced (backup eligible and backed up).
    pub synced: bool,
    /// Attest registrations ("packed", x5c) with the test attestation certificate.
    pub attested: bool,
}

/// The AAGUID in the test attestation certificate.
pub const TEST_AAGUID: &str = "6e6f7465-7374-6b65-7900-000000000001";

/// The test attestation root (PEM).
pub fn test_attestation_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attestation/root.pem")
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | u8::try_from(len).expect("small")),
        24..=255 => out.extend([m | 24, u8::try_from(len).expect("byte")]),
        _ => {
            out.push(m | 25);
            out.extend(u16::try_from(len).expect("short").to_be_bytes());
        }
    }
}

fn int(v: i64, out: &mut Vec<u8>) {
    if v >= 0 {
        head(0, usize::try_from(v).expect("small"), out);
    } else {
        head(1, usize::try_from(-1 - v).expect("small"), out);
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len(), out);
    out.extend_from_slice(b);
}

fn text(s: &str, out: &mut Vec<u8>) {
    head(3, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// The `publicKey` options from a page's `data-options` attribute (HTML-escaped JSON).
pub fn options_of(page: &str, form_action: &str) -> (String, Value) {
    let form_at = page
        .find(&format!("action=\"{form_action}\""))
        .unwrap_or_else(|| panic!("no form posting to {form_action}"));
    let rest = &page[form_at..];
    let start = rest.find("data-options=\"").expect("data-options") + "data-options=\"".len();
    let raw = &rest[start..start + rest[start..].find('"').expect("end")];
    let json = raw
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x22;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2d;", "-")
        .replace("&#x5f;", "_")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&");
    let ceremony = crate::helpers::hidden(rest, "ceremony").expect("ceremony field");
    (
        ceremony,
        serde_json::from_str(&json).expect("options are JSON"),
    )
}

impl SoftPasskey {
    pub fn new(origin: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("key");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).expect("key");
        let mut credential_id = vec![0u8; 32];
        rng.fill(&mut credential_id).expect("random");
        Self {
            key,
            credential_id,
            user_handle: Vec::new(),
            origin: origin.to_owned(),
            counter: 0,
            user_verified: true,
            synced: false,
            attested: false,
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": options["publicKey"]["challenge"],
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data_head(&mut self, options: &Value, attested: bool) -> Vec<u8> {
        let rp_id = options["publicKey"]["rp"]["id"]
            .as_str()
            .or(options["publicKey"]["rpId"].as_str())
            .expect("rp id");
        let mut flags = 0x01; // user present
        if self.user_verified {
            flags |= 0x04;
        }
        if self.synced {
            flags |= 0x08 | 0x10; // backup eligible, backed up
        }
        if attested {
            flags |= 0x40;
        }
        self.counter += 1;
        let mut d = sha256(rp_id.as_bytes());
        d.push(flags);
        d.extend(self.counter.to_be_bytes());
        d
    }

    /// Answers `navigator.credentials.create()`: the JSON the page's script would post.
    pub fn register(&mut self, options: &Value) -> String {
        self.user_handle = B64
            .decode(
                options["publicKey"]["user"]["id"]
                    .as_str()
                    .expect("user id"),
            )
            .expect("user id is base64url");
        let mut auth = self.auth_data_head(options, true);
        if self.attested {
            auth.extend(
                uuid::Uuid::parse_str(TEST_AAGUID)
                    .expect("aaguid")
                    .as_bytes(),
            );
        } else {
            auth.extend([0u8; 16]); // AAGUID
        }
        auth.extend(
            u16::try_from(self.credential_id.len())
                .expect("len")
                .to_be_bytes(),
        );
        auth.extend(&self.credential_id);
        let public = self.key.public_key().as_ref().to_vec(); // 0x04 | x | y
        let mut cose = Vec::new();
        head(5, 5, &mut cose);
        int(1, &mut cose);
        int(2, &mut cose); // kty: EC2
        int(3, &mut cose);
        int(-7, &mut cose); // alg: ES256
        int(-1, &mut cose);
        int(1, &mut cose); // crv: P-256
        int(-2, &mut cose);
        bytes(&public[1..33], &mut cose);
        int(-3, &mut cose);
        bytes(&public[33..65], &mut cose);
        auth.extend(cose);
        let cd = self.client_data("webauthn.create", options);
        let mut att = Vec::new();
        head(5, 3, &mut att);
        text("fmt", &mut att);
        if self.attested {
            // "packed" with x5c (WebAuthn §8.2): the attestation key signs authData and the
            // hash of the client data.
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attestation");
            let cert = std::fs::read(dir.join("att.der")).expect("attestation certificate");
            let pk8 = std::fs::read(dir.join("att-key.pk8")).expect("attestation key");
            let att_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pk8)
                .expect("attestation key");
            let mut signed = auth.clone();
            signed.extend(sha256(&cd));
            let sig = att_key
                .sign(&SystemRandom::new(), &signed)
                .expect("signature");
            text("packed", &mut att);
            text("attStmt", &mut att);
            head(5, 3, &mut att);
            text("alg", &mut att);
            int(-7, &mut att);
            text("sig", &mut att);
            bytes(sig.as_ref(), &mut att);
            text("x5c", &mut att);
            head(4, 1, &mut att);
            bytes(&cert, &mut att);
        } else {
            text("none", &mut att);
            text("attStmt", &mut att);
            head(5, 0, &mut att);
        }
        text("authData", &mut att);
        bytes(&auth, &mut att);
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "attestationObject": B64.encode(att),
                "clientDataJSON": B64.encode(cd),
                "transports": ["internal"],
            },
        })
        .to_string()
    }

    /// Answers `navigator.credentials.get()`.
    pub fn authenticate(&mut self, options: &Value) -> String {
        let auth = self.auth_data_head(options, false);
        let cd = self.client_data("webauthn.get", options);
        let mut signed = auth.clone();
        signed.extend(sha256(&cd));
        let sig = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("signature");
        json!({
            "id": B64.encode(&self.credential_id),
            "rawId": B64.encode(&self.credential_id),
            "type": "public-key",
            "extensions": {},
            "response": {
                "authenticatorData": B64.encode(auth),
                "clientDataJSON": B64.encode(cd),
                "signature": B64.encode(sig.as_ref()),
                "userHandle": B64.encode(&self.user_handle),
            },
        })
        .to_string()
    }
}

/// The passkey form posting to `action` on the page at `path`: (csrf, ceremony id, options).
pub async fn ceremony(
    app: &crate::helpers::TestApp,
    path: &str,
    action: &str,
) -> (String, String, Value) {
    let page = app.get(path).await.text().await.expect("page");
    let (ceremony, options) = options_of(&page, action);
    let csrf = crate::helpers::hidden(&page, "csrf").expect("csrf");
    (csrf, ceremony, options)
}

/// Posts what the page's script would: the authenticator's answer to a ceremony.
pub async fn post_credential(
    app: &crate::helpers::TestApp,
    action: &str,
    csrf: &str,
    req: &str,
    ceremony: &str,
    credential: &str,
) -> reqwest::Response {
    app.post_form(
        action,
        &[
            ("csrf", csrf),
            ("req", req),
            ("ceremony", ceremony),
            ("credential", credential),
        ],
    )
    .await
}
