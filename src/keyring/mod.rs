//! Key material in the `keys/` folder: JWT signing keys and the pairwise-subject secret.
//!
//! Layout: `keys/signing/<kid>.json` holds one signing key (algorithm, creation and
//! retirement time, PKCS#8 private key in PEM) with mode 0600; `keys/pairwise.key` holds 32
//! random bytes. Keys are generated on first start. `keys rotate` adds a new key for an
//! algorithm that is published in the JWKS at once but signs only from its activation time
//! (by default [`DEFAULT_ACTIVATION_DELAY`] later), so relying parties that cache the JWKS
//! and every instance of a cluster know it before the first token it signs. The old key
//! signs until then and stays in the JWKS for [`RETIRED_KEY_RETENTION`] after, so tokens it
//! signed still verify. Running servers notice a rotation by the folder's modification time
//! ([`Keyring::reload_if_changed`]); which key signs is decided at signing time.
//!
//! Keys are generated with aws-lc-rs. Signing uses aws-lc-rs key pairs parsed once at load:
//! jsonwebtoken 11's aws-lc-rs backend parses the PKCS#8 key again for every signature,
//! which cost more than the signature itself on the token endpoint (see docs/performance.md).
//! Verification goes through jsonwebtoken. The `kid` is the RFC 7638 JWK thumbprint.

pub mod mailbox;

use crate::crypto::{random_bytes, sha256};
use crate::domain::client::SigningAlg;
use anyhow::{Context, anyhow, bail};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// How long a retired key stays in the JWKS: longer than any token or `id_token_hint` we
/// still accept.
pub const RETIRED_KEY_RETENTION: ChronoDuration = ChronoDuration::days(2);

/// How long after `keys rotate` the new key starts signing: longer than the JWKS cache
/// lifetime (5 minutes) plus the reload interval of running servers (30 seconds).
pub const DEFAULT_ACTIVATION_DELAY: ChronoDuration = ChronoDuration::minutes(10);

/// The algorithms for which a key always exists.
pub const ALGS: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kid: String,
    alg: SigningAlg,
    created_at: DateTime<Utc>,
    /// From when the key signs; `None` means from its creation.
    #[serde(default)]
    activates_at: Option<DateTime<Utc>>,
    /// From when the key no longer signs.
    retired_at: Option<DateTime<Utc>>,
    private_key_pem: String,
}

impl KeyFile {
    fn activates(&self) -> DateTime<Utc> {
        self.activates_at.unwrap_or(self.created_at)
    }

    /// Whether the key signs now or will sign later (not retired).
    fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.retired_at.is_none_or(|r| r > now)
    }
}

/// A private key, parsed once.
enum Signer {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

struct SigningKey {
    kid: String,
    alg: SigningAlg,
    key: Signer,
    activates: DateTime<Utc>,
    retired: Option<DateTime<Utc>>,
}

impl SigningKey {
    fn signs_at(&self, now: DateTime<Utc>) -> bool {
        self.activates <= now && self.retired.is_none_or(|r| r > now)
    }
}

struct VerifyKey {
    alg: SigningAlg,
    key: DecodingKey,
}

struct KeySet {
    /// Per algorithm, the keys that sign now or later, oldest activation first.
    signing: HashMap<SigningAlg, Vec<Arc<SigningKey>>>,
    verify: HashMap<String, Arc<VerifyKey>>,
    jwks: Arc<Value>,
}

/// Signing keys and secrets, shared by all handlers.
pub struct Keyring {
    dir: PathBuf,
    set: RwLock<Arc<KeySet>>,
    seen_mtime: Mutex<Option<SystemTime>>,
    pairwise_secret: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no key for algorithm {0:?}")]
    NoKey(SigningAlg),
    #[error("malformed token")]
    Malformed,
    #[error("unknown key id")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

fn jwt_alg(a: SigningAlg) -> Algorithm {
    match a {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_body(pem: &str) -> anyhow::Result<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).context("decoding PEM")
}

/// Public JWK members of a PKCS#8 private key (without `kid`/`alg`/`use`).
fn public_jwk(alg: SigningAlg, pkcs8: &[u8]) -> anyhow::Result<Value> {
    Ok(match alg {
        SigningAlg::RS256 => {
            let kp =
                aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).map_err(|e| anyhow!("RSA key: {e}"))?;
            let pk = kp.public_key();
            json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero()),
            })
        }
        SigningAlg::ES256 => {
            let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                .map_err(|e| anyhow!("EC key: {e}"))?;
            let point = kp.public_key().as_ref();
            if point.len() != 65 || point[0] != 4 {
                bail!("unexpected EC public key encoding");
            }
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            })
        }
    })
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap_or(""),
            jwk["n"].as_str().unwrap_or("")
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap_or(""),
            jwk["x"].as_str().unwrap_or(""),
            jwk["y"].as_str().unwrap_or("")
        ),
    };
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

fn generate(alg: SigningAlg) -> anyhow::Result<KeyFile> {
    let pkcs8: Vec<u8> = match alg {
        SigningAlg::RS256 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| anyhow!("generating RSA key: {e}"))?
            .as_der()
            .map_err(|e| anyhow!("encoding RSA key: {e}"))?
            .as_ref()
            .to_vec(),
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|e| anyhow!("generating EC key: {e}"))?
            .to_pkcs8v1()
            .map_err(|e| anyhow!("encoding EC key: {e}"))?
            .as_ref()
            .to_vec(),
    };
    let jwk = public_jwk(alg, &pkcs8)?;
    Ok(KeyFile {
        kid: thumbprint(&jwk),
        alg,
        created_at: Utc::now(),
        activates_at: None,
        retired_at: None,
        private_key_pem: pem("PRIVATE KEY", &pkcs8),
    })
}

/// Writes a file readable only by its owner, atomically (temp file + rename).
pub(crate) fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn signing_dir(dir: &Path) -> PathBuf {
    dir.join("signing")
}

fn read_key_files(dir: &Path) -> anyhow::Result<Vec<KeyFile>> {
    let sdir = signing_dir(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&sdir).with_context(|| format!("reading {}", sdir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let kf: KeyFile =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        out.push(kf);
    }
    out.sort_by_key(|k| k.created_at);
    Ok(out)
}

fn save_key_file(dir: &Path, kf: &KeyFile) -> anyhow::Result<()> {
    let path = signing_dir(dir).join(format!("{}.json", kf.kid));
    write_private(&path, serde_json::to_string_pretty(kf)?.as_bytes())
}

fn build_set(files: &[KeyFile]) -> anyhow::Result<KeySet> {
    let now = Utc::now();
    let mut signing: HashMap<SigningAlg, Vec<Arc<SigningKey>>> = HashMap::new();
    let mut verify = HashMap::new();
    let mut jwks = Vec::new();
    for kf in files {
        if kf
            .retired_at
            .is_some_and(|r| r + RETIRED_KEY_RETENTION < now)
        {
            continue;
        }
        let der = pem_body(&kf.private_key_pem)?;
        let mut jwk = public_jwk(kf.alg, &der).with_context(|| format!("key {}", kf.kid))?;
        let decoding = match kf.alg {
            SigningAlg::RS256 => DecodingKey::from_rsa_components(
                jwk["n"].as_str().unwrap_or_default(),
                jwk["e"].as_str().unwrap_or_default(),
            ),
            SigningAlg::ES256 => DecodingKey::from_ec_components(
                jwk["x"].as_str().unwrap_or_default(),
                jwk["y"].as_str().unwrap_or_default(),
            ),
        }
        .map_err(|e| anyhow!("key {}: {e}", kf.kid))?;
        verify.insert(
            kf.kid.clone(),
            Arc::new(VerifyKey {
                alg: kf.alg,
                key: decoding,
            }),
        );
        jwk["kid"] = json!(kf.kid);
        jwk["alg"] = json!(kf.alg.as_str());
        jwk["use"] = json!("sig");
        jwks.push(jwk);
        if kf.is_current(now) {
            let key = match kf.alg {
                SigningAlg::RS256 => aws_lc_rs::rsa::KeyPair::from_pkcs8(&der)
                    .map(Signer::Rsa)
                    .map_err(|e| anyhow!("key {}: {e}", kf.kid))?,
                SigningAlg::ES256 => {
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                        .map(Signer::Ec)
                        .map_err(|e| anyhow!("key {}: {e}", kf.kid))?
                }
            };
            signing
                .entry(kf.alg)
                .or_default()
                .push(Arc::new(SigningKey {
                    kid: kf.kid.clone(),
                    alg: kf.alg,
                    key,
                    activates: kf.activates(),
                    retired: kf.retired_at,
                }));
        }
    }
    for keys in signing.values_mut() {
        keys.sort_by_key(|k| k.activates);
    }
    Ok(KeySet {
        signing,
        verify,
        jwks: Arc::new(json!({ "keys": jwks })),
    })
}

fn dir_mtime(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(signing_dir(dir))
        .and_then(|m| m.modified())
        .ok()
}

/// Creates a folder only its owner can enter. An existing folder is left as it is, so a
/// read-only mount of prepared keys works.
/// Copies the keys folder (signing keys, the pairwise secret, the mailbox master keys, the
/// SAML keys) to `target`, which must not exist yet; folders 0700, files 0600. Returns how
/// many files it copied.
///
/// # Errors
/// When `target` exists or a file cannot be read or written.
pub fn copy_keys(keys_dir: &Path, target: &Path) -> anyhow::Result<usize> {
    create_new_private_dir(target)?;
    let mut copied = 0;
    for entry in
        std::fs::read_dir(keys_dir).with_context(|| format!("reading {}", keys_dir.display()))?
    {
        let entry = entry?;
        let to = target.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_keys(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
            }
            copied += 1;
        }
    }
    Ok(copied)
}

/// Creates `path` (0700), failing when it exists: one creator wins, however many start at
/// once (no check-then-create).
///
/// # Errors
/// When `path` exists or cannot be created.
pub fn create_new_private_dir(path: &Path) -> anyhow::Result<()> {
    match std::fs::create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!("{} exists already", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

pub(crate) fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

impl Keyring {
    /// Loads `dir`, generating whatever is missing (a signing key per algorithm in [`ALGS`],
    /// the pairwise secret).
    ///
    /// # Errors
    /// When the folder cannot be read or written, or a key file is malformed.
    pub fn load_or_init(dir: &Path) -> anyhow::Result<Self> {
        create_private_dir(dir)?;
        create_private_dir(&signing_dir(dir))?;
        let pw_path = dir.join("pairwise.key");
        let pairwise_secret: [u8; 32] = match std::fs::read(&pw_path) {
            Ok(bytes) => URL_SAFE_NO_PAD
                .decode(String::from_utf8_lossy(&bytes).trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| anyhow!("{} is malformed", pw_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let s = random_bytes::<32>();
                write_private(&pw_path, URL_SAFE_NO_PAD.encode(s).as_bytes())?;
                s
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", pw_path.display())),
        };
        let mut files = read_key_files(dir)?;
        for alg in ALGS {
            let now = Utc::now();
            if !files.iter().any(|k| k.alg == alg && k.is_current(now)) {
                let kf = generate(alg)?;
                save_key_file(dir, &kf)?;
                tracing::info!(kid = %kf.kid, alg = alg.as_str(), "generated signing key");
                files.push(kf);
            }
        }
        let set = build_set(&files)?;
        Ok(Self {
            dir: dir.to_owned(),
            set: RwLock::new(Arc::new(set)),
            seen_mtime: Mutex::new(dir_mtime(dir)),
            pairwise_secret,
        })
    }

    /// Adds a new key for `alg` that signs from `now + activate_in`, and retires the current
    /// key(s) at that moment. Returns the new `kid` and its activation time.
    ///
    /// # Errors
    /// When the folder cannot be written.
    pub fn rotate(
        dir: &Path,
        alg: SigningAlg,
        activate_in: ChronoDuration,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        // Make sure the folder and the other keys exist.
        drop(Self::load_or_init(dir)?);
        let mut new = generate(alg)?;
        let now = Utc::now();
        let activates = now + activate_in.max(ChronoDuration::zero());
        new.activates_at = Some(activates);
        save_key_file(dir, &new)?;
        for mut kf in read_key_files(dir)? {
            if kf.alg == alg && kf.is_current(now) && kf.kid != new.kid {
                kf.retired_at = Some(activates.min(kf.retired_at.unwrap_or(activates)));
                save_key_file(dir, &kf)?;
            }
        }
        Ok((new.kid, activates))
    }

    /// Re-reads the key folder if it changed since the last look (after `keys rotate`).
    ///
    /// # Errors
    /// When the folder cannot be read; the old keys stay in use then.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = dir_mtime(&self.dir);
        let mut seen = self
            .seen_mtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *seen == now {
            return Ok(false);
        }
        let set = build_set(&read_key_files(&self.dir)?)?;
        *self
            .set
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        *seen = now;
        Ok(true)
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The public JWK Set.
    #[must_use]
    pub fn jwks(&self) -> Arc<Value> {
        self.current().jwks.clone()
    }

    /// The secret for pairwise subject identifiers.
    #[must_use]
    pub fn pairwise_secret(&self) -> &[u8; 32] {
        &self.pairwise_secret
    }

    /// Since when the key that currently signs for `alg` signs (the age an operator
    /// watches).
    #[must_use]
    pub fn signing_since(&self, alg: SigningAlg) -> Option<DateTime<Utc>> {
        self.signing_key(alg).map(|k| k.activates)
    }

    /// The `kid` that currently signs for `alg`.
    #[must_use]
    pub fn current_kid(&self, alg: SigningAlg) -> Option<String> {
        self.signing_key(alg).map(|k| k.kid.clone())
    }

    /// The newest key of `alg` that signs now.
    fn signing_key(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        let now = Utc::now();
        self.current()
            .signing
            .get(&alg)?
            .iter()
            .rev()
            .find(|k| k.signs_at(now))
            .cloned()
    }

    /// Signs `claims` as a compact JWS with the current key for `alg`.
    ///
    /// # Errors
    /// When no key exists for `alg` or signing fails.
    pub fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        typ: &str,
        claims: &T,
    ) -> Result<String, TokenError> {
        let key = self.signing_key(alg).ok_or(TokenError::NoKey(alg))?;
        let header = json!({ "alg": key.alg.as_str(), "kid": key.kid, "typ": typ });
        let sign_err = |e: &dyn std::fmt::Display| TokenError::Sign(e.to_string());
        let mut out =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(|e| sign_err(&e))?);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(
            serde_json::to_vec(claims).map_err(|e| sign_err(&e))?,
            &mut out,
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = match &key.key {
            Signer::Rsa(kp) => {
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    out.as_bytes(),
                    &mut sig,
                )
                .map_err(|e| sign_err(&e))?;
                sig
            }
            Signer::Ec(kp) => kp
                .sign(&rng, out.as_bytes())
                .map_err(|e| sign_err(&e))?
                .as_ref()
                .to_vec(),
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }

    /// Verifies the signature of a token signed by one of our keys (found by `kid`), then
    /// lets `configure` set the claim checks.
    ///
    /// # Errors
    /// When the token is malformed, signed by an unknown key, or fails validation.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        configure: impl FnOnce(&mut Validation),
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let set = self.current();
        let key = set.verify.get(&kid).ok_or(TokenError::UnknownKey)?;
        if header.alg != jwt_alg(key.alg) {
            return Err(TokenError::Invalid("algorithm does not match key".into()));
        }
        let mut v = Validation::new(jwt_alg(key.alg));
        v.leeway = 30;
        configure(&mut v);
        jsonwebtoken::decode::<T>(token, &key.key, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }
}
