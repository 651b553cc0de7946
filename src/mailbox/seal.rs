//! Sealing: every message and reply has its own AES-256-GCM data key, wrapped by the master
//! key and bound to what must not change behind our back; every field is sealed under it with
//! its own additional data. Opening, re-wrapping under a new master key and sealing older
//! plaintext case references live here too.

use super::view::AttachmentInfo;
use super::{File, MailboxError, MailboxService};
use crate::crypto::aead::{self, Key};
use crate::store::mailbox::{AttachmentRow, MessageRow, NewAttachment, ReplyRow, Sealed};
use uuid::Uuid;

/// The additional data of a wrapped data key: besides the message (or reply) id, what must not
/// change behind our back: the recipient account (or, for a reply, its message), the level
/// needed to read, and the client that sent or receives it. A row moved to another account or
/// given a lower level in the database no longer decrypts.
pub(super) fn key_aad(id: Uuid, owner: Uuid, level: Option<&str>, client: &str) -> Vec<u8> {
    format!("{id}|key|{owner}|{}|{client}", level.unwrap_or("-")).into_bytes()
}

pub(super) fn message_key_aad(m: &MessageRow) -> Vec<u8> {
    key_aad(
        m.id,
        m.account_id,
        Some(m.required_level.name()),
        &m.sender_client_id,
    )
}

pub(super) fn reply_key_aad(r: &ReplyRow) -> Vec<u8> {
    key_aad(r.id, r.message_id, None, &r.client_id)
}

pub(super) fn aad(id: Uuid, field: &str) -> Vec<u8> {
    format!("{id}|{field}").into_bytes()
}

impl MailboxService {
    /// Scans every file before anything is stored; a finding is audited (who, which
    /// direction, the signature) and refuses the whole upload.
    pub(super) async fn scan_files(
        &self,
        files: &[File],
        direction: &'static str,
        account: Option<crate::domain::ids::AccountId>,
        client: Option<&crate::domain::ids::ClientId>,
    ) -> Result<(), MailboxError> {
        for f in files {
            if let super::scan::Verdict::Infected(signature) =
                self.settings.scanner.scan(&f.content).await?
            {
                self.db
                    .audit()
                    .record(
                        "mailbox.attachment_refused",
                        account,
                        client,
                        serde_json::json!({
                            "direction": direction,
                            "signature": signature,
                            "sha512": crate::crypto::hex(&crate::crypto::sha512(&f.content)),
                            "size": f.content.len(),
                        }),
                    )
                    .await?;
                return Err(MailboxError::Infected {
                    file: f.filename.chars().take(100).collect(),
                    signature,
                });
            }
        }
        Ok(())
    }

    pub(super) fn seal_files(&self, owner: Uuid, key: &Key, files: &[File]) -> Vec<NewAttachment> {
        files
            .iter()
            .map(|f| {
                let id = Uuid::now_v7();
                NewAttachment {
                    id,
                    content_type: f.content_type.clone(),
                    size: i64::try_from(f.content.len()).unwrap_or(i64::MAX),
                    sha512: crate::crypto::hex(&crate::crypto::sha512(&f.content)),
                    filename: aead::seal(
                        key,
                        &aad(owner, &format!("{id}|filename")),
                        f.filename.as_bytes(),
                    ),
                    content: aead::seal(key, &aad(owner, &format!("{id}|content")), &f.content),
                }
            })
            .collect()
    }

    pub(super) fn data_key(
        &self,
        binding: &[u8],
        key_id: Option<&str>,
        wrapped: Option<&[u8]>,
    ) -> Result<Key, MailboxError> {
        match (key_id, wrapped) {
            (Some(k), Some(w)) => self
                .keys
                .unwrap(k, w, binding)
                .ok_or(MailboxError::Undecryptable),
            _ => Err(MailboxError::NotFound),
        }
    }

    pub(super) fn open_text(
        key: &Key,
        owner: Uuid,
        field: &str,
        sealed: Option<&[u8]>,
    ) -> Result<String, MailboxError> {
        let plain = aead::open(
            key,
            &aad(owner, field),
            sealed.ok_or(MailboxError::NotFound)?,
        )
        .ok_or(MailboxError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| MailboxError::Undecryptable)
    }

    pub(super) fn attachment_info(
        key: &Key,
        owner: Uuid,
        a: &AttachmentRow,
    ) -> Result<AttachmentInfo, MailboxError> {
        Ok(AttachmentInfo {
            id: a.id,
            filename: Self::open_text(
                key,
                owner,
                &format!("{}|filename", a.id),
                Some(&a.filename),
            )?,
            content_type: a.content_type.clone(),
            size: a.size,
        })
    }

    /// Decrypts one attachment (name and content) sealed under `key` for `owner`.
    pub(super) fn open_file(
        key: &Key,
        owner: Uuid,
        a: &AttachmentRow,
    ) -> Result<File, MailboxError> {
        let info = Self::attachment_info(key, owner, a)?;
        let content = aead::open(
            key,
            &aad(owner, &format!("{}|content", a.id)),
            a.content.as_deref().ok_or(MailboxError::NotFound)?,
        )
        .ok_or(MailboxError::Undecryptable)?;
        Ok(File {
            filename: info.filename,
            content_type: info.content_type,
            content,
        })
    }

    /// The data key of a message.
    pub(super) fn message_key(&self, m: &MessageRow) -> Result<Key, MailboxError> {
        self.data_key(
            &message_key_aad(m),
            m.key_id.as_deref(),
            m.wrapped_key.as_deref(),
        )
    }

    /// A reply's data key and text.
    pub(super) fn reply_text(&self, r: &ReplyRow) -> Result<(Key, String), MailboxError> {
        let key = self.data_key(
            &reply_key_aad(r),
            r.key_id.as_deref(),
            r.wrapped_key.as_deref(),
        )?;
        let body = Self::open_text(&key, r.id, "body", r.body.as_deref())?;
        Ok((key, body))
    }

    /// A message's case reference: sealed under its data key, or plaintext for a message
    /// stored before references were sealed (until the background round seals it).
    pub(super) fn reference(&self, m: &MessageRow, key: Option<&Key>) -> Option<String> {
        if let Some(plain) = &m.reference {
            return Some(plain.clone());
        }
        Self::open_text(key?, m.id, "reference", m.reference_sealed.as_deref()).ok()
    }

    /// The case reference of the message a reply answers, for the sender.
    pub(super) fn reply_reference(&self, r: &ReplyRow) -> Option<String> {
        if let Some(plain) = &r.reference {
            return Some(plain.clone());
        }
        let binding = key_aad(
            r.message_id,
            r.message_account_id,
            Some(r.message_level.name()),
            &r.client_id,
        );
        let key = self
            .data_key(
                &binding,
                r.message_key_id.as_deref(),
                r.message_wrapped_key.as_deref(),
            )
            .ok()?;
        Self::open_text(
            &key,
            r.message_id,
            "reference",
            r.reference_sealed.as_deref(),
        )
        .ok()
    }

    /// Seals the case references of messages stored before references were sealed (a batch
    /// per call); returns how many it changed. A purged message's plaintext reference is
    /// dropped (its data key is gone with the content); a message whose key cannot be opened
    /// keeps its plaintext and is logged, never losing the reference.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn seal_legacy_references(&self) -> Result<usize, MailboxError> {
        let mut n = 0;
        for m in self.db.mailbox().unsealed_references().await? {
            let Some(plain) = &m.reference else { continue };
            if m.purged_at.is_some() || m.wrapped_key.is_none() {
                self.db.mailbox().seal_reference(m.id, None).await?;
                n += 1;
                continue;
            }
            match self.message_key(&m) {
                Ok(key) => {
                    let sealed = aead::seal(&key, &aad(m.id, "reference"), plain.as_bytes());
                    self.db
                        .mailbox()
                        .seal_reference(m.id, Some(&sealed))
                        .await?;
                    n += 1;
                }
                Err(e) => {
                    tracing::warn!(message = %m.id, error = %e, "case reference left unsealed: its data key does not open");
                }
            }
        }
        Ok(n)
    }

    /// Adds a new master key and re-wraps every data key under it. Returns the new key's id
    /// and how many data keys were re-wrapped.
    ///
    /// # Errors
    /// When the key folder cannot be written; see [`MailboxService::rewrap_all`].
    pub async fn rotate_master_key(&self) -> Result<(String, usize), MailboxError> {
        let id = self
            .keys
            .add_key()
            .map_err(|e| MailboxError::Keys(e.into()))?;
        let n = self.rewrap_all().await?;
        Ok((id, n))
    }

    /// Re-wraps every data key under the newest master key (after `MasterKeys::add_key`),
    /// without touching any content. Returns how many keys were re-wrapped.
    ///
    /// # Errors
    /// A data key that no master key opens; storage failures.
    pub async fn rewrap_all(&self) -> Result<usize, MailboxError> {
        let mut n = 0;
        for which in [Sealed::Message, Sealed::Reply] {
            loop {
                // Read each round: a key added meanwhile (by another rotation) becomes the
                // target, instead of leaving rows that never match and a loop without end.
                let current = self.keys.current_id();
                let batch = self.db.mailbox().wrapped_keys(which, &current).await?;
                if batch.is_empty() {
                    break;
                }
                for w in batch {
                    let binding = key_aad(w.id, w.owner, w.level.as_deref(), &w.client);
                    let key = self
                        .keys
                        .unwrap(&w.key_id, &w.wrapped, &binding)
                        .ok_or(MailboxError::Undecryptable)?;
                    let (new_id, rewrapped) = self.keys.wrap(&key, &binding);
                    if self
                        .db
                        .mailbox()
                        .rewrap(which, w.id, &w.key_id, &new_id, &rewrapped)
                        .await?
                    {
                        n += 1;
                    }
                }
            }
        }
        Ok(n)
    }
}
