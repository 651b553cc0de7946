//! TOTP (RFC 6238) with HMAC-SHA1, 30-second steps and 6 digits, as every authenticator app
//! implements it; a window of one step either side for clock drift.

use aws_lc_rs::hmac;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;

/// The code for a time step (RFC 4226 §5.3 dynamic truncation).
#[must_use]
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(DIGITS)
}

#[must_use]
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The step whose code `given` is, within one step of `now`, if any (constant-time compare).
#[must_use]
pub fn matching_step(secret: &[u8], given: &str, now: i64) -> Option<i64> {
    let given = given.trim().replace(' ', "");
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    (current - 1..=current + 1).find(|s| {
        let expected = format!("{:06}", code_at(secret, *s));
        super::ct_eq(expected.as_bytes(), given.as_bytes())
    })
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps expect the secret.
#[must_use]
pub fn base32(data: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(B32[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(B32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes RFC 4648 base32 (no padding, case-insensitive); `None` for other characters.
#[must_use]
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = B32.iter().position(|&b| b == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            out.push(u8::try_from((buffer >> (bits - 8)) & 0xff).ok()?);
            bits -= 8;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B, SHA1 seed "12345678901234567890", 8-digit codes mod 10^6.
        let seed = b"12345678901234567890";
        for (t, expected8) in [
            (59, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
        ] {
            assert_eq!(code_at(seed, step_of(t)), expected8 % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn window_and_format() {
        let s = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = format!("{:06}", code_at(s, step_of(now) - 1));
        assert_eq!(matching_step(s, &code, now), Some(step_of(now) - 1));
        let old = format!("{:06}", code_at(s, step_of(now) - 3));
        assert_eq!(matching_step(s, &old, now), None);
        assert_eq!(matching_step(s, "12a456", now), None);
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").as_deref(), Some(&b"foobar"[..]));
        assert!(base32_decode("0189").is_none());
    }
}
