//! Our SAML service-provider keys in `keys/saml/`: one RSA key with a self-signed certificate
//! for signing requests and metadata, one for receiving encrypted assertions. Generated on
//! first start; `buergerkonto keys rotate-saml` moves the current pair to `*.previous.*` and
//! makes a new one. Our metadata names both certificates during the rollover: the upstream
//! may still encrypt to the old one (decryption tries the new key, then the previous), and
//! the new signing key signs only from `signing.activates_at` on (the IdP must have read the
//! new metadata first; until then the previous key signs).

use crate::keyring::{create_private_dir, write_private};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509NameBuilder};
use std::path::{Path, PathBuf};

/// How long a generated certificate is valid (BundID's self-service asks for a renewal
/// before it ends; rotate earlier).
const CERT_DAYS: u32 = 3 * 365;
const RSA_BITS: u32 = 3072;
/// When the new signing key takes over (Unix seconds), written by a rotation.
const ACTIVATES_FILE: &str = "signing.activates_at";

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Signing,
    Encryption,
}

impl Use {
    fn name(self) -> &'static str {
        match self {
            Use::Signing => "signing",
            Use::Encryption => "encryption",
        }
    }
}

/// A private key with its certificate.
#[derive(Clone)]
pub struct Pair {
    pub key: PKey<Private>,
    /// The key as DER (PKCS#8), as xmlsec wants it for signing.
    pub key_der: Vec<u8>,
    pub cert: X509,
}

impl Pair {
    /// The certificate as base64 DER, as in `ds:X509Certificate`.
    #[must_use]
    pub fn cert_b64(&self) -> String {
        STANDARD.encode(self.cert.to_der().unwrap_or_default())
    }
}

/// The current and previous pairs for both uses.
#[derive(Clone)]
pub struct SpKeys {
    pub signing: Pair,
    pub encryption: Pair,
    pub previous_signing: Option<Pair>,
    pub previous_encryption: Option<Pair>,
    /// Unix time from which the new signing key signs (while a previous one exists).
    pub signing_activates_at: i64,
}

fn dir_of(keys_dir: &Path) -> PathBuf {
    keys_dir.join("saml")
}

fn paths(dir: &Path, u: Use, previous: bool) -> (PathBuf, PathBuf) {
    let stem = if previous {
        format!("{}.previous", u.name())
    } else {
        u.name().to_owned()
    };
    (
        dir.join(format!("{stem}.key.pem")),
        dir.join(format!("{stem}.crt.pem")),
    )
}

fn generate(u: Use, entity: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let rsa = Rsa::generate(RSA_BITS)?;
    let key = PKey::from_rsa(rsa)?;
    let mut name = X509NameBuilder::new()?;
    let cn: String = format!("Buergerkonto SAML {} {entity}", u.name())
        .chars()
        .take(64)
        .collect();
    name.append_entry_by_text("CN", &cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(128, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let (from, until) = (
        Asn1Time::days_from_now(0)?,
        Asn1Time::days_from_now(CERT_DAYS)?,
    );
    b.set_not_before(&from)?;
    b.set_not_after(&until)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build();
    Ok((key.private_key_to_pem_pkcs8()?, cert.to_pem()?))
}

fn read_pair(key_path: &Path, cert_path: &Path) -> anyhow::Result<Option<Pair>> {
    if !key_path.exists() {
        return Ok(None);
    }
    let key_pem =
        std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let cert_pem =
        std::fs::read(cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let key = PKey::private_key_from_pem(&key_pem)
        .with_context(|| format!("{} is not a private key", key_path.display()))?;
    let cert = X509::from_pem(&cert_pem)
        .with_context(|| format!("{} is not a certificate", cert_path.display()))?;
    if !cert.public_key()?.public_eq(&key) {
        anyhow::bail!(
            "{} does not belong to {}",
            cert_path.display(),
            key_path.display()
        );
    }
    Ok(Some(Pair {
        key_der: key.private_key_to_pkcs8()?,
        key,
        cert,
    }))
}

fn write_new(dir: &Path, u: Use, entity: &str) -> anyhow::Result<()> {
    let (key, cert) = generate(u, entity)?;
    let (kp, cp) = paths(dir, u, false);
    // The certificate first: a crash in between leaves a key without its certificate, which
    // the next start refuses to pair instead of pairing a new certificate with an old key.
    write_private(&cp, &cert)?;
    write_private(&kp, &key)?;
    Ok(())
}

impl SpKeys {
    /// Loads `keys/saml/`, generating a pair for each use that is missing.
    ///
    /// # Errors
    /// When the folder cannot be read or written, or a file is malformed.
    pub fn load_or_init(keys_dir: &Path, entity: &str) -> anyhow::Result<Self> {
        let dir = dir_of(keys_dir);
        create_private_dir(keys_dir)?;
        create_private_dir(&dir)?;
        let pair = |u: Use| -> anyhow::Result<Pair> {
            let (kp, cp) = paths(&dir, u, false);
            if let Some(p) = read_pair(&kp, &cp)? {
                return Ok(p);
            }
            write_new(&dir, u, entity)?;
            read_pair(&kp, &cp)?.context("the new SAML key was not written")
        };
        let signing = pair(Use::Signing)?;
        let encryption = pair(Use::Encryption)?;
        let previous = |u: Use| {
            let (kp, cp) = paths(&dir, u, true);
            read_pair(&kp, &cp)
        };
        let activates = dir.join(ACTIVATES_FILE);
        let signing_activates_at = match std::fs::read_to_string(&activates) {
            Ok(s) => s
                .trim()
                .parse()
                .with_context(|| format!("{} is not a Unix time", activates.display()))?,
            Err(_) => 0,
        };
        Ok(Self {
            signing,
            encryption,
            previous_signing: previous(Use::Signing)?,
            previous_encryption: previous(Use::Encryption)?,
            signing_activates_at,
        })
    }

    /// Makes new pairs for both uses; the current ones become the previous ones (an older
    /// previous pair is dropped). Running instances pick the new keys up at their restart.
    ///
    /// # Errors
    /// When the folder cannot be written.
    pub fn rotate(
        keys_dir: &Path,
        entity: &str,
        activate_in: std::time::Duration,
    ) -> anyhow::Result<()> {
        let dir = dir_of(keys_dir);
        create_private_dir(&dir)?;
        let at = chrono::Utc::now().timestamp()
            + i64::try_from(activate_in.as_secs()).unwrap_or(i64::MAX / 4);
        write_private(&dir.join(ACTIVATES_FILE), at.to_string().as_bytes())?;
        for u in [Use::Signing, Use::Encryption] {
            let (kp, cp) = paths(&dir, u, false);
            let (pkp, pcp) = paths(&dir, u, true);
            if kp.exists() && cp.exists() {
                std::fs::rename(&cp, &pcp).with_context(|| format!("renaming {}", cp.display()))?;
                std::fs::rename(&kp, &pkp).with_context(|| format!("renaming {}", kp.display()))?;
            }
            write_new(&dir, u, entity)?;
        }
        Ok(())
    }

    /// The key that signs now: the new one once it is active, the previous one before.
    #[must_use]
    pub fn signer(&self) -> &Pair {
        match &self.previous_signing {
            Some(p) if chrono::Utc::now().timestamp() < self.signing_activates_at => p,
            _ => &self.signing,
        }
    }

    /// The decryption keys, newest first.
    pub fn decryption_keys(&self) -> impl Iterator<Item = &Pair> {
        std::iter::once(&self.encryption).chain(self.previous_encryption.as_ref())
    }
}
