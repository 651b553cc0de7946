//! The citizen's side: the inbox, opening a message and its files, replying, archiving and
//! deleting. Every act passes one gate, [`MailboxService::admit`].

use super::seal::{aad, key_aad};
use super::view::{File, Opened, ReplyView, Summary};
use super::{MailboxError, MailboxService, limits};
use crate::crypto::aead::{self, Key};
use crate::crypto::random_bytes;
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use crate::domain::mailbox::MessageState;
use crate::store::mailbox::MessageRow;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Who acts on a message as its recipient, and how that was established.
#[derive(Clone, Copy, Debug)]
pub struct Reader {
    pub account: AccountId,
    /// The level of the session or token.
    pub level: Loa,
    /// A portal sees only its own tenant's messages; the citizen's own pages see all.
    pub tenant: Option<TenantId>,
    pub presence: Presence,
}

/// How present the citizen is.
#[derive(Clone, Copy, Debug)]
pub enum Presence {
    /// The citizen's own browser session on our pages.
    Session,
    /// A portal with the citizen's access token, from a login at `auth_time` (Unix seconds).
    Token { auth_time: i64 },
}

impl Reader {
    /// The citizen, on our pages.
    #[must_use]
    pub fn session(account: AccountId, level: Loa) -> Self {
        Self {
            account,
            level,
            tenant: None,
            presence: Presence::Session,
        }
    }

    /// Whether the authentication behind this act is recent enough to count as the citizen
    /// being there.
    pub(super) fn fresh(&self, max_age: Duration, now: DateTime<Utc>) -> bool {
        match self.presence {
            Presence::Session => true,
            Presence::Token { auth_time } => {
                let age = now.timestamp().saturating_sub(auth_time);
                u64::try_from(age).unwrap_or(0) <= max_age.as_secs()
            }
        }
    }

    /// The level content is shown at: a stale portal token counts as *low*.
    pub(super) fn content_level(&self, max_age: Duration, now: DateTime<Utc>) -> Loa {
        if self.fresh(max_age, now) {
            self.level
        } else {
            self.level.min(Loa::Low)
        }
    }
}

/// What is done to a message. Every act passes [`MailboxService::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Open,
    Download,
    Reply,
    Archive,
    Delete,
}

impl Act {
    /// Whether the act is recorded in the sender's evidence.
    pub(super) fn is_evidence(self) -> bool {
        matches!(self, Act::Open | Act::Reply | Act::Delete)
    }
}

impl MailboxService {
    pub(super) async fn tenant_names(
        &self,
        rows: &[MessageRow],
    ) -> Result<HashMap<Uuid, String>, MailboxError> {
        let mut names = HashMap::new();
        for r in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(r.sender_tenant_id)
            {
                let t = self
                    .db
                    .tenants()
                    .by_id(TenantId(r.sender_tenant_id))
                    .await?;
                slot.insert(t.name);
            }
        }
        Ok(names)
    }

    /// A message in a listing. Subject and case reference only when the reader's content
    /// level reaches the message's.
    pub(super) fn summary(&self, r: &MessageRow, sender: String, reader: &Reader) -> Summary {
        let required = r.required_level;
        let readable =
            required <= reader.content_level(self.settings.portal_max_age, self.clock.now());
        let key = readable.then(|| self.message_key(r).ok()).flatten();
        let subject = key
            .as_ref()
            .and_then(|k| Self::open_text(k, r.id, "subject", r.subject.as_deref()).ok());
        let reference = key.as_ref().and_then(|k| self.reference(r, Some(k)));
        Summary {
            id: r.id,
            sender,
            subject,
            reference,
            created_at: r.created_at,
            unread: r.opened_at.is_none(),
            required_level: required,
            reply_allowed: r.reply_allowed,
            archived: r.archived_at.is_some(),
            origin: r.origin.clone(),
            topic: r.topic.clone(),
        }
    }

    /// One page of the reader's mailbox (unread first, then newest). Subjects and case
    /// references of messages above the reader's content level are withheld; a portal sees
    /// only its own tenant's messages.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn inbox(
        &self,
        reader: &Reader,
        archived: bool,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<Summary>, bool), MailboxError> {
        // One row more than a page tells whether another page follows.
        let mut rows = self
            .db
            .mailbox()
            .inbox(
                reader.account,
                reader.tenant.map(|t| t.0),
                archived,
                i64::from(per_page) + 1,
                i64::from(page) * i64::from(per_page),
            )
            .await?;
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        let names = self.tenant_names(&rows).await?;
        let items = rows
            .iter()
            .map(|r| {
                self.summary(
                    r,
                    names.get(&r.sender_tenant_id).cloned().unwrap_or_default(),
                    reader,
                )
            })
            .collect();
        Ok((items, more))
    }

    /// One page of the citizen's bin (deleted messages whose content is still kept), each
    /// with the day its content will be purged. Only the citizen's own pages see it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn bin(
        &self,
        reader: &Reader,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<(Summary, DateTime<Utc>)>, bool), MailboxError> {
        if reader.tenant.is_some() {
            return Ok((Vec::new(), false));
        }
        let mut rows = self
            .db
            .mailbox()
            .bin(
                reader.account,
                i64::from(per_page) + 1,
                i64::from(page) * i64::from(per_page),
            )
            .await?;
        let more = rows.len() > per_page as usize;
        rows.truncate(per_page as usize);
        let names = self.tenant_names(&rows).await?;
        let keep = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        let items = rows
            .iter()
            .map(|r| {
                let sender = names.get(&r.sender_tenant_id).cloned().unwrap_or_default();
                let purge_on = r.deleted_at.unwrap_or(r.created_at) + keep;
                (self.summary(r, sender, reader), purge_on)
            })
            .collect();
        Ok((items, more))
    }

    /// Takes a message back out of the bin: the citizen's own, still deleted and not purged,
    /// and the reader's level must reach the message's (as for deleting it).
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`; storage failures.
    pub async fn restore(&self, reader: &Reader, id: Uuid) -> Result<(), MailboxError> {
        let m = self
            .db
            .mailbox()
            .message(id)
            .await?
            .filter(|m| {
                m.account_id == reader.account.0
                    && reader.tenant.is_none()
                    && m.deleted_at.is_some()
                    && m.purged_at.is_none()
            })
            .ok_or(MailboxError::NotFound)?;
        if reader.level < m.required_level {
            return Err(MailboxError::NeedsLevel(m.required_level));
        }
        // After the purge day (the round may not have run yet) it is gone as announced.
        let keep = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        if m.deleted_at.is_some_and(|d| d + keep <= self.clock.now()) {
            return Err(MailboxError::NotFound);
        }
        if !self.db.mailbox().restore(id).await? {
            return Err(MailboxError::NotFound);
        }
        Ok(())
    }

    /// The one gate for every act on a message: it must be the reader's (and, for a portal,
    /// from the portal's tenant), not deleted, purged or expired; the reader's level must
    /// reach the message's; and a portal's token must come from a recent login for content
    /// above *low* and for every act that the sender's evidence records. Returns the message.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    pub(super) async fn admit(
        &self,
        reader: &Reader,
        id: Uuid,
        act: Act,
    ) -> Result<MessageRow, MailboxError> {
        let m = self
            .db
            .mailbox()
            .message(id)
            .await?
            .filter(|m| {
                m.account_id == reader.account.0
                    && m.deleted_at.is_none()
                    && m.purged_at.is_none()
                    && m.state != MessageState::Expired
                    && reader.tenant.is_none_or(|t| t.0 == m.sender_tenant_id)
            })
            .ok_or(MailboxError::NotFound)?;
        let required = m.required_level;
        if reader.level < required {
            return Err(MailboxError::NeedsLevel(required));
        }
        let max_age = self.settings.portal_max_age;
        if !reader.fresh(max_age, self.clock.now()) && (required > Loa::Low || act.is_evidence()) {
            return Err(MailboxError::NeedsFreshLogin(max_age.as_secs()));
        }
        Ok(m)
    }

    /// Opens a message for its reader, recording `opened` the first time.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`, `Undecryptable`; storage failures.
    pub async fn open(&self, reader: &Reader, id: Uuid, via: &str) -> Result<Opened, MailboxError> {
        let opened = self.read(reader, id).await?;
        self.db.mailbox().open_once(id, via).await?;
        Ok(opened)
    }

    /// Records that the reader took these messages' content out another way (`via`, e.g.
    /// `export`): `opened` the first time, as [`MailboxService::open`] does.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn mark_opened(&self, ids: &[Uuid], via: &str) -> Result<(), MailboxError> {
        for &id in ids {
            self.db.mailbox().open_once(id, via).await?;
        }
        Ok(())
    }

    /// The content of a message for its reader, through the same gate as opening it, but
    /// recording nothing: the caller records `opened` once the content is handed over.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`, `Undecryptable`; storage failures.
    pub async fn read(&self, reader: &Reader, id: Uuid) -> Result<Opened, MailboxError> {
        let m = self.admit(reader, id, Act::Open).await?;
        let key = self.message_key(&m)?;
        let body = Self::open_text(&key, id, "body", m.body.as_deref())?;
        let attachments = self
            .db
            .mailbox()
            .attachment_list(id, None)
            .await?
            .iter()
            .map(|a| Self::attachment_info(&key, id, a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replies = Vec::new();
        for r in self.db.mailbox().replies_to(id).await? {
            if r.body.is_none() {
                continue;
            }
            let (key, body) = self.reply_text(&r)?;
            let attachments = self
                .db
                .mailbox()
                .attachment_list(id, Some(r.id))
                .await?
                .iter()
                .map(|a| Self::attachment_info(&key, r.id, a))
                .collect::<Result<Vec<_>, _>>()?;
            replies.push(ReplyView {
                id: r.id,
                body,
                created_at: r.created_at,
                attachments,
            });
        }
        let names = self.tenant_names(std::slice::from_ref(&m)).await?;
        let mut summary = self.summary(
            &m,
            names.get(&m.sender_tenant_id).cloned().unwrap_or_default(),
            reader,
        );
        summary.unread = false;
        Ok(Opened {
            announcement: self.announcement(&m, m.opened_at.or_else(|| Some(self.clock.now()))),
            summary,
            body,
            process: m.process,
            expires_at: m.expires_at,
            attachments,
            replies,
        })
    }

    /// One attachment of a recipient's message (or of a reply to it).
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`, `Undecryptable`; storage failures.
    pub async fn attachment(
        &self,
        reader: &Reader,
        id: Uuid,
        attachment: Uuid,
    ) -> Result<File, MailboxError> {
        let m = self.admit(reader, id, Act::Download).await?;
        let a = self
            .db
            .mailbox()
            .attachment(id, attachment)
            .await?
            .ok_or(MailboxError::NotFound)?;
        match a.reply_id {
            None => Self::open_file(&self.message_key(&m)?, id, &a),
            Some(reply) => {
                let r = self
                    .db
                    .mailbox()
                    .reply(id, reply)
                    .await?
                    .ok_or(MailboxError::NotFound)?;
                let (key, _) = self.reply_text(&r)?;
                Self::open_file(&key, reply, &a)
            }
        }
    }

    /// The recipient answers a message that allows replies.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `ReplyNotAllowed`, `TopicClosed`, `Invalid`, `TooLarge`;
    /// storage failures.
    pub async fn reply(
        &self,
        reader: &Reader,
        id: Uuid,
        body: &str,
        files: &[File],
    ) -> Result<Uuid, MailboxError> {
        let m = self.admit(reader, id, Act::Reply).await?;
        if !m.reply_allowed {
            return Err(MailboxError::ReplyNotAllowed);
        }
        // The citizen's own thread goes to the topic's system: only while the topic is open.
        if m.from_citizen() && !self.topic_still_open(&m).await? {
            return Err(MailboxError::TopicClosed);
        }
        limits::check_reply_count(self.db.mailbox().reply_count(id).await?)?;
        let body = limits::validate_reply(body, files)?;
        self.scan_files(files, "from_citizen", Some(reader.account), None)
            .await?;
        let reply = Uuid::now_v7();
        let key: Key = random_bytes::<32>();
        let (key_id, wrapped) = self
            .keys
            .wrap(&key, &key_aad(reply, id, None, &m.sender_client_id));
        let body_ct = aead::seal(&key, &aad(reply, "body"), body.as_bytes());
        let attachments = self.seal_files(reply, &key, files);
        self.db
            .mailbox()
            .insert_reply(
                reply,
                id,
                &m.sender_client_id,
                &key_id,
                &wrapped,
                &body_ct,
                &attachments,
                limits::REPLIES_PER_MESSAGE as i64,
            )
            .await?
            // Replies that arrived at the same time took the last places.
            .ok_or_else(limits::too_many_replies)?;
        Ok(reply)
    }

    /// Archives (or restores) a recipient's message. The same gate as reading: a session
    /// below the message's level cannot even tell it apart from the others by moving it.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    pub async fn archive(
        &self,
        reader: &Reader,
        id: Uuid,
        archived: bool,
    ) -> Result<(), MailboxError> {
        self.admit(reader, id, Act::Archive).await?;
        self.db.mailbox().archive(id, archived).await?;
        Ok(())
    }

    /// Deletes a recipient's message (hidden now, content purged after the retention
    /// period). Deleting is evidence for the sender ("the citizen deleted it"), so it needs
    /// the message's level like reading does.
    ///
    /// # Errors
    /// `NotFound`, `NeedsLevel`, `NeedsFreshLogin`; storage failures.
    pub async fn delete(&self, reader: &Reader, id: Uuid) -> Result<(), MailboxError> {
        self.admit(reader, id, Act::Delete).await?;
        self.db.mailbox().delete(id).await?;
        Ok(())
    }
}
