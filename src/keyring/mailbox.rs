//! The mailbox master keys in `keys/mailbox/`: one file per key (`ID.key`, 32 random bytes,
//! base64url), created on first start. Ids count up (`k000001-…`); the greatest wraps new
//! data keys;
//! older ones stay readable until `buergerkonto keys rotate-mailbox` has re-wrapped every
//! data key. A key id the process has not seen makes it read the folder again, so a key
//! added by another instance is picked up without a restart.

use super::{create_private_dir, write_private};
use crate::crypto::aead::{self, Key};
use crate::crypto::random_bytes;
use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

pub struct MasterKeys {
    dir: PathBuf,
    keys: RwLock<BTreeMap<String, Key>>,
    /// The folder's modification time when it was last read: a key added by
    /// `keys rotate-mailbox` (another process) changes it, and the next wrap reads again.
    seen: std::sync::Mutex<Option<std::time::SystemTime>>,
}

fn modified(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

fn folder(keys_dir: &Path) -> PathBuf {
    keys_dir.join("mailbox")
}

fn read_all(dir: &Path) -> anyhow::Result<BTreeMap<String, Key>> {
    let mut keys = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".key"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|b| Key::try_from(b).ok())
            .ok_or_else(|| anyhow!("{} is malformed", path.display()))?;
        keys.insert(id.to_owned(), key);
    }
    Ok(keys)
}

/// A new key file whose id sorts after every existing one (`k000001-…`, `k000002-…`).
fn new_key_file(dir: &Path) -> anyhow::Result<String> {
    let last = read_all(dir)?
        .keys()
        .filter_map(|id| id.get(1..7).and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    let id = format!(
        "k{:06}-{}",
        last + 1,
        crate::crypto::hex(&random_bytes::<4>())
    );
    write_private(
        &dir.join(format!("{id}.key")),
        URL_SAFE_NO_PAD.encode(random_bytes::<32>()).as_bytes(),
    )?;
    Ok(id)
}

impl MasterKeys {
    /// Loads `KEYS_DIR/mailbox`, creating the folder and a first key if needed.
    ///
    /// # Errors
    /// When the folder cannot be read or written, or a key file is malformed.
    pub fn load_or_init(keys_dir: &Path) -> anyhow::Result<Self> {
        let dir = folder(keys_dir);
        create_private_dir(keys_dir)?;
        create_private_dir(&dir)?;
        let mut keys = read_all(&dir)?;
        if keys.is_empty() {
            new_key_file(&dir)?;
            keys = read_all(&dir)?;
            tracing::info!("generated the mailbox master key");
        }
        Ok(Self::of(dir, keys))
    }

    /// Loads `KEYS_DIR/mailbox` and fails when it holds no key (commands that seal with the
    /// server's key must not make one of their own that the server does not have).
    ///
    /// # Errors
    /// When the folder cannot be read, holds no key, or a key file is malformed.
    pub fn load_existing(keys_dir: &Path) -> anyhow::Result<Self> {
        let dir = folder(keys_dir);
        let keys = if dir.is_dir() {
            read_all(&dir)?
        } else {
            std::collections::BTreeMap::new()
        };
        if keys.is_empty() {
            anyhow::bail!(
                "no mailbox master key in {}: run this with the server's keys folder \
                 (BUERGERKONTO_KEYS_DIR), after the server has started once",
                dir.display()
            );
        }
        Ok(Self::of(dir, keys))
    }

    fn of(dir: std::path::PathBuf, keys: std::collections::BTreeMap<String, Key>) -> Self {
        Self {
            seen: std::sync::Mutex::new(modified(&dir)),
            dir,
            keys: RwLock::new(keys),
        }
    }

    /// Adds a new master key, which wraps every data key from now on; returns its id.
    ///
    /// # Errors
    /// When the folder cannot be written.
    pub fn add_key(&self) -> anyhow::Result<String> {
        let id = new_key_file(&self.dir)?;
        self.reload()?;
        Ok(id)
    }

    fn reload(&self) -> anyhow::Result<()> {
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = modified(&self.dir);
        let keys = read_all(&self.dir)?;
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
        Ok(())
    }

    fn current(&self) -> (String, Key) {
        let changed = *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            != modified(&self.dir);
        if changed && let Err(e) = self.reload() {
            tracing::warn!(error = %e, "could not re-read the mailbox master keys");
        }
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // load_or_init guarantees at least one key.
        keys.iter()
            .next_back()
            .map(|(id, k)| (id.clone(), *k))
            .unwrap_or_default()
    }

    /// The id of the key that wraps new data keys.
    #[must_use]
    pub fn current_id(&self) -> String {
        self.current().0
    }

    fn get(&self, id: &str) -> Option<Key> {
        let found = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .copied();
        found.or_else(|| {
            self.reload().ok()?;
            self.keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(id)
                .copied()
        })
    }

    /// Wraps a data key with the current master key, bound to `aad`; returns (key id, wrapped).
    #[must_use]
    pub fn wrap(&self, data_key: &Key, aad: &[u8]) -> (String, Vec<u8>) {
        let (id, master) = self.current();
        (id, aead::seal(&master, aad, data_key))
    }

    /// Unwraps a data key; `None` when the master key is unknown or the wrapping does not verify.
    #[must_use]
    pub fn unwrap(&self, key_id: &str, wrapped: &[u8], aad: &[u8]) -> Option<Key> {
        let master = self.get(key_id)?;
        aead::open(&master, aad, wrapped).and_then(|k| Key::try_from(k).ok())
    }
}
