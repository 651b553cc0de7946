//! AES-256-GCM sealing for the mailbox: `nonce (12 bytes) | ciphertext | tag (16 bytes)`.
//! Every key here encrypts only a handful of values (one message's fields, or a few data
//! keys), so random 96-bit nonces are far from the birthday bound. The additional data binds
//! a ciphertext to its place (message id and field), so ciphertexts cannot be swapped.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// A 256-bit key.
pub type Key = [u8; 32];

fn key(k: &Key) -> LessSafeKey {
    // A 32-byte key is always valid for AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).unwrap_or_else(|_| unreachable!()))
}

/// Encrypts and authenticates `plaintext`, bound to `aad`.
#[must_use]
pub fn seal(k: &Key, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = super::random_bytes::<NONCE_LEN>();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(&nonce);
    let mut body = plaintext.to_vec();
    // Sealing cannot fail for inputs below GCM's 64 GiB limit.
    let _ = key(k).seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    );
    out.extend_from_slice(&body);
    out
}

/// Decrypts what [`seal`] produced with the same key and `aad`; `None` if anything differs.
#[must_use]
pub fn open(k: &Key, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut body = rest.to_vec();
    let plain = key(k)
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .ok()?
        .len();
    body.truncate(plain);
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = [7u8; 32];
        let c = seal(&k, b"m1|body", b"Guten Tag");
        assert_eq!(open(&k, b"m1|body", &c).as_deref(), Some(&b"Guten Tag"[..]));
        assert_eq!(open(&k, b"m2|body", &c), None, "bound to its place");
        assert_eq!(open(&[8u8; 32], b"m1|body", &c), None, "wrong key");
        let mut t = c.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(open(&k, b"m1|body", &t), None, "tampering is detected");
        assert_ne!(
            seal(&k, b"x", b"same"),
            seal(&k, b"x", b"same"),
            "fresh nonces"
        );
    }
}
