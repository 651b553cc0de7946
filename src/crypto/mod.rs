//! Cryptographic helpers: password hashing (Argon2id), constant-time comparison, random
//! tokens and digests. Depends only on `domain`.
//!
//! Passwords of people use Argon2id (RFC 9106, m=19456 KiB, t=2, p=1 as OWASP recommends)
//! on the blocking pool. Client secrets and one-time tokens are high-entropy random values:
//! a SHA-256 digest and a constant-time comparison are the right tool for those.

pub mod aead;
pub mod totp;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::sync::OnceLock;

/// A secret string: redacted in `Debug`, no `PartialEq` (compare through [`ct_eq`]).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    #[must_use]
    pub fn new(s: String) -> Self {
        Self(s)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Serialized as itself: only ever put into a response that exists to carry it (a token
/// response).
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Constant-time equality of two byte strings (length is not hidden).
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `n` bytes from the operating system's CSPRNG.
///
/// # Panics
/// Only if the operating system cannot provide randomness, in which case nothing secure can go on.
#[must_use]
#[allow(clippy::expect_used)]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).expect("the OS random number generator failed");
    buf
}

/// A URL-safe random token with 256 bits of entropy (43 characters).
#[must_use]
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Lowercase hex.
#[must_use]
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-512 (attachment hashes, as FIT-Connect names them).
#[must_use]
pub fn sha512(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, data)
        .as_ref()
        .to_vec()
}

/// Digest used to store and look up high-entropy secrets (codes, client secrets, tokens).
#[must_use]
pub fn token_digest(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()))
}

/// HMAC-SHA256.
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    let tag = aws_lc_rs::hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// A pairwise subject: HMAC-SHA256(secret, `sector|account`), base64url. What a tenant's
/// portals and systems know an account as.
#[must_use]
pub fn pairwise_sub(
    secret: &[u8; 32],
    sector: &str,
    account: crate::domain::ids::AccountId,
) -> String {
    let input = format!("{sector}|{account}");
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret, input.as_bytes()))
}

/// The first characters of a secret value, enough to correlate log lines, never to reuse it.
#[must_use]
pub fn log_prefix(s: &str) -> &str {
    s.get(..6).unwrap_or("")
}

#[allow(clippy::expect_used)]
fn argon2() -> Argon2<'static> {
    // OWASP / RFC 9106 second recommended option: m=19 MiB, t=2, p=1.
    let params =
        Params::new(19 * 1024, 2, 1, Some(32)).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many Argon2 computations run at once (19 MiB each); further ones wait their
/// turn, so a burst of logins cannot exhaust memory or the blocking pool.
static HASH_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(HASH_THREADS);
/// The Argon2 threads: one per slot.
const HASH_THREADS: usize = 4;
/// How many may wait for a slot: beyond it a login storm is shed at once (`Busy`), so the
/// queue, and with it every waiter's latency, stays bounded.
const HASH_QUEUE: usize = 256;
/// How long one waits for a slot at most before it is shed.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
static HASH_WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether the queue for Argon2 is full: a caller may shed before doing any other work.
#[must_use]
pub fn hashing_saturated() -> bool {
    HASH_WAITING.load(std::sync::atomic::Ordering::Acquire) >= HASH_QUEUE
}

/// A slot for one Argon2 computation, or `Busy` when too many wait or the wait is too long.
async fn hash_slot() -> Result<tokio::sync::SemaphorePermit<'static>, PasswordError> {
    use std::sync::atomic::Ordering;
    if let Ok(p) = HASH_SLOTS.try_acquire() {
        return Ok(p);
    }
    // Counted before the check, so 500 arriving at once cannot all pass it.
    if HASH_WAITING.fetch_add(1, Ordering::AcqRel) >= HASH_QUEUE {
        HASH_WAITING.fetch_sub(1, Ordering::AcqRel);
        return Err(PasswordError::Busy);
    }
    let r = tokio::time::timeout(HASH_WAIT, HASH_SLOTS.acquire()).await;
    HASH_WAITING.fetch_sub(1, Ordering::AcqRel);
    match r {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(PasswordError::Hash(e.to_string())),
        Err(_) => Err(PasswordError::Busy),
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` on the Argon2 threads: as many as there are slots, each at a lower scheduling
/// priority (nice 10). Under a login storm the CPU goes first to the requests that do not
/// hash (tokens, discovery, pages, the mailbox), and password checks get what is left.
async fn on_argon2_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    static POOL: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..HASH_THREADS {
            let rx = std::sync::Arc::clone(&rx);
            let _ = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // On Linux a thread id names the thread alone; elsewhere it stays as is.
                    #[cfg(target_os = "linux")]
                    let _ =
                        rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
                    loop {
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
        }
        tx
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    let span = tracing::Span::current();
    let job: Job = Box::new(move || {
        let _g = span.enter();
        let _ = tx.send(f());
    });
    pool.send(job)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    rx.await.map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Hashes a password with Argon2id on the Argon2 threads. Returns the PHC string.
///
/// # Errors
/// When the blocking task fails or the hasher rejects the input.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    let _slot = hash_slot().await?;
    on_argon2_thread(move || {
        let salt = random_bytes::<16>();
        argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await?
}

/// Verifies a password against a PHC string on the Argon2 threads. With `None` it hashes
/// against a dummy hash, so a missing account costs the same time as a wrong password.
///
/// # Errors
/// When the blocking task fails.
pub async fn verify_password(password: String, phc: Option<String>) -> Result<bool, PasswordError> {
    let _slot = hash_slot().await?;
    on_argon2_thread(move || {
        let dummy = dummy_hash();
        let (hash, real) = match &phc {
            Some(h) => (h.as_str(), true),
            None => (dummy, false),
        };
        let ok = argon2().verify_password(password.as_bytes(), hash).is_ok();
        ok && real
    })
    .await
}

#[allow(clippy::expect_used)]
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        argon2()
            .hash_password_with_salt(b"dummy password for timing", &random_bytes::<16>())
            .expect("hashing a constant works")
            .to_string()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Too many password checks wait already (a login storm): shed, try again shortly.
    #[error("too many password checks at once")]
    Busy,
}

/// PKCE S256 (RFC 7636 §4.6): `BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge`.
#[must_use]
pub fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    ct_eq(computed.as_bytes(), challenge.as_bytes())
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]` (the same set for a challenge).
#[must_use]
pub fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_whole_on_the_wire() {
        let s = Secret::new("hunter2-code".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(
            serde_json::to_string(&s).ok().as_deref(),
            Some("\"hunter2-code\"")
        );
    }

    #[tokio::test]
    async fn password_round_trip() {
        let h = hash_password("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify_password("correct horse".into(), Some(h.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("wrong horse".into(), Some(h))
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("dummy password for timing".into(), None)
                .await
                .expect("verify")
        );
    }

    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert!(pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(is_pkce_value("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!is_pkce_value("short"));
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
