//! Central citizen accounts.

use super::{Db, StoreError, StoreResult, on_db, write_tx};
use crate::domain::account::{Account, EmailAddress};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::level::Loa;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    email: String,
    password_hash: String,
    email_verified: bool,
    proofing_level: String,
    created_at: DateTime<Utc>,
}

/// An account together with its password hash, for login.
#[derive(Clone, Debug)]
pub struct AccountWithHash {
    pub account: Account,
    pub password_hash: String,
}

impl TryFrom<Row> for AccountWithHash {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        Ok(AccountWithHash {
            account: Account {
                id: AccountId(r.id),
                email: EmailAddress::parse(&r.email).map_err(|e| StoreError::Corrupt(e.into()))?,
                email_verified: r.email_verified,
                proofing: Loa::from_name(&r.proofing_level).ok_or_else(|| {
                    StoreError::Corrupt(format!("proofing_level {}", r.proofing_level))
                })?,
                created_at: r.created_at,
            },
            password_hash: r.password_hash,
        })
    }
}

pub struct Accounts<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts(self)
    }
}

const INSERT: &str = "INSERT INTO accounts (id, email, password_hash, email_verified, proofing_level, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (email) DO NOTHING RETURNING id";
const LANG: &str = "SELECT lang FROM accounts WHERE id = $1";
const SET_LANG: &str = "UPDATE accounts SET lang = $2 WHERE id = $1";
const BY_EMAIL: &str = "SELECT id, email, password_hash, email_verified, proofing_level, created_at FROM accounts WHERE email = $1 AND deleted_at IS NULL";
const BY_ID: &str = "SELECT id, email, password_hash, email_verified, proofing_level, created_at FROM accounts WHERE id = $1";
const SET_DISABLED: &str =
    "UPDATE accounts SET disabled_at = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL";
const IS_DISABLED: &str = "SELECT disabled_at IS NOT NULL FROM accounts WHERE id = $1";
const PAGE: &str = "SELECT id, email, password_hash, email_verified, proofing_level, created_at FROM accounts \
    WHERE deleted_at IS NULL AND email > $1 ORDER BY email LIMIT $2";
const SET_VERIFIED: &str =
    "UPDATE accounts SET email_verified = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL";
const SET_EMAIL: &str = "UPDATE accounts SET email = $2, email_verified = TRUE, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL";
const SET_PASSWORD: &str =
    "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL";

impl Accounts<'_> {
    /// Creates an account. Returns `Conflict` when the e-mail address is taken; the database's
    /// unique constraint decides, so two concurrent registrations cannot both win.
    ///
    /// # Errors
    /// `Conflict` or a backend error.
    pub async fn insert(
        &self,
        email: &EmailAddress,
        password_hash: &str,
        email_verified: bool,
        proofing: Loa,
    ) -> StoreResult<AccountId> {
        let id = AccountId::new();
        let got: Option<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(INSERT)
            .bind(id.0)
            .bind(email.as_str())
            .bind(password_hash)
            .bind(email_verified)
            .bind(proofing.name())
            .bind(Utc::now())
            .fetch_optional(p)
            .await)?;
        match got {
            Some((id,)) => Ok(AccountId(id)),
            None => Err(StoreError::Conflict {
                constraint: "accounts_email_key".into(),
            }),
        }
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn by_email(&self, email: &EmailAddress) -> StoreResult<AccountWithHash> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(BY_EMAIL)
            .bind(email.as_str())
            .fetch_optional(p)
            .await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn by_id(&self, id: AccountId) -> StoreResult<Account> {
        let row: Option<Row> = on_db!(self.0, |p| sqlx::query_as(BY_ID)
            .bind(id.0)
            .fetch_optional(p)
            .await)?;
        Ok(AccountWithHash::try_from(row.ok_or(StoreError::NotFound)?)?.account)
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_email_verified(&self, id: AccountId, verified: bool) -> StoreResult<()> {
        let r = on_db!(self.0, |p| sqlx::query(SET_VERIFIED)
            .bind(id.0)
            .bind(verified)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if r == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Replaces the account's address with a confirmed one.
    ///
    /// # Errors
    /// `Conflict` when another account has the address, `NotFound`, or a backend error.
    pub async fn set_email(&self, id: AccountId, email: &EmailAddress) -> StoreResult<()> {
        let r = on_db!(self.0, |p| sqlx::query(SET_EMAIL)
            .bind(id.0)
            .bind(email.as_str())
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if r == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// The language for mails sent without a request.
    ///
    /// # Errors
    /// A backend error.
    pub async fn lang(&self, id: AccountId) -> StoreResult<crate::domain::lang::Lang> {
        let row: Option<(String,)> = on_db!(self.0, |p| sqlx::query_as(LANG)
            .bind(id.0)
            .fetch_optional(p)
            .await)?;
        Ok(row
            .and_then(|(l,)| crate::domain::lang::Lang::pick(&l))
            .unwrap_or_default())
    }

    /// Remembers the language the holder uses.
    ///
    /// # Errors
    /// A backend error.
    pub async fn set_lang(
        &self,
        id: AccountId,
        lang: crate::domain::lang::Lang,
    ) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(SET_LANG)
            .bind(id.0)
            .bind(lang.code())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_password_hash(&self, id: AccountId, hash: &str) -> StoreResult<()> {
        let r = on_db!(self.0, |p| sqlx::query(SET_PASSWORD)
            .bind(id.0)
            .bind(hash)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if r == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}

// A disabled account logs in nowhere (whichever door; also when disabled meanwhile).
const LOGGED_IN: &str = "UPDATE accounts SET last_login_at = $2 WHERE id = $1 AND deleted_at IS NULL \
    AND disabled_at IS NULL";
const CANCEL_DELETION: &str = "UPDATE accounts SET deletion_due_at = NULL, deletion_reason = NULL \
    WHERE id = $1 AND deletion_due_at IS NOT NULL AND deleted_at IS NULL RETURNING deletion_reason";
const SCHEDULE_DELETION: &str = "UPDATE accounts SET deletion_due_at = $2, deletion_reason = $3 \
    WHERE id = $1 AND deleted_at IS NULL";
const DELETION: &str = "SELECT deletion_due_at, deletion_reason FROM accounts WHERE id = $1 AND deletion_due_at IS NOT NULL";
const ANNOUNCE_INACTIVE: &str = "UPDATE accounts SET deletion_due_at = $2, deletion_reason = 'inactive' \
    WHERE id IN (SELECT id FROM accounts WHERE deleted_at IS NULL AND deletion_due_at IS NULL \
    AND COALESCE(last_login_at, created_at) <= $1 LIMIT 200) AND deletion_due_at IS NULL \
    AND deleted_at IS NULL AND COALESCE(last_login_at, created_at) <= $1 RETURNING id";
const DUE_DELETIONS: &str =
    "SELECT id FROM accounts WHERE deletion_due_at <= $1 AND deleted_at IS NULL LIMIT 200";
/// Everything that belongs to the account alone goes; the row stays as a nameless tombstone
/// (messages keep their evidence, the audit log its account id).
const ERASE: [&str; 10] = [
    "DELETE FROM consents WHERE account_id = $1",
    "DELETE FROM subjects WHERE account_id = $1",
    "DELETE FROM refresh_tokens WHERE account_id = $1",
    "DELETE FROM totp_credentials WHERE account_id = $1",
    "DELETE FROM recovery_codes WHERE account_id = $1",
    "DELETE FROM identity_proofings WHERE account_id = $1",
    "DELETE FROM passkeys WHERE account_id = $1",
    "DELETE FROM upstream_links WHERE account_id = $1",
    "DELETE FROM verified_claims WHERE account_id = $1",
    "DELETE FROM account_devices WHERE account_id = $1",
];
const TOMBSTONE: &str = "UPDATE accounts SET email = $2, password_hash = '!', email_verified = FALSE, \
    proofing_level = 'low', lang = 'de', last_login_at = NULL, deletion_due_at = NULL, deletion_reason = NULL, \
    deleted_at = $3, updated_at = $3 WHERE id = $1 AND deleted_at IS NULL \
    AND deletion_due_at IS NOT NULL AND deletion_due_at <= $3";

/// Why an account is to be deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionReason {
    /// The holder asked for it (DSGVO Art. 17).
    Requested,
    /// Unused for the configured time.
    Inactive,
    /// An administrator deleted it (the account was disabled at once).
    Administrator,
}

impl DeletionReason {
    /// The stored (and audited) name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Inactive => "inactive",
            Self::Administrator => "administrator",
        }
    }

    fn from_name(s: &str) -> Self {
        match s {
            "inactive" => Self::Inactive,
            "administrator" => Self::Administrator,
            _ => Self::Requested,
        }
    }
}

impl Accounts<'_> {
    /// A login: remembers when (for the inactivity rule) and cancels a deletion that was due.
    /// Returns the cancelled deletion's reason.
    ///
    /// # Errors
    /// `NotFound` for a deleted account, or a backend error.
    pub async fn logged_in(
        &self,
        id: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DeletionReason>> {
        let _w = self.0.writer().await;
        let n = on_db!(self.0, |p| sqlx::query(LOGGED_IN)
            .bind(id.0)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        // Deleted or disabled meanwhile (a login that checked the password just before): no
        // login.
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let cancelled: Option<(Option<String>,)> =
            on_db!(self.0, |p| sqlx::query_as(CANCEL_DELETION)
                .bind(id.0)
                .fetch_optional(p)
                .await)?;
        Ok(cancelled.map(|(r,)| DeletionReason::from_name(r.as_deref().unwrap_or(""))))
    }

    /// Sets the day the account will be deleted.
    ///
    /// # Errors
    /// `NotFound` (also for a deleted account) or a backend error.
    pub async fn schedule_deletion(
        &self,
        id: AccountId,
        due: DateTime<Utc>,
        why: DeletionReason,
    ) -> StoreResult<()> {
        let r = on_db!(self.0, |p| sqlx::query(SCHEDULE_DELETION)
            .bind(id.0)
            .bind(due)
            .bind(why.name())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if r == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// When the account will be deleted, and why, if it will.
    ///
    /// # Errors
    /// A backend error.
    pub async fn deletion(
        &self,
        id: AccountId,
    ) -> StoreResult<Option<(DateTime<Utc>, DeletionReason)>> {
        let row: Option<(DateTime<Utc>, Option<String>)> =
            on_db!(self.0, |p| sqlx::query_as(DELETION)
                .bind(id.0)
                .fetch_optional(p)
                .await)?;
        Ok(row.map(|(at, r)| (at, DeletionReason::from_name(r.as_deref().unwrap_or("")))))
    }

    /// Schedules the deletion of up to 200 accounts unused since `unused_since` for `due`;
    /// returns them (each once, whichever instance asks).
    ///
    /// # Errors
    /// A backend error.
    pub async fn announce_inactive(
        &self,
        unused_since: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> StoreResult<Vec<AccountId>> {
        let _w = self.0.writer().await;
        let rows: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(ANNOUNCE_INACTIVE)
            .bind(unused_since)
            .bind(due)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(|(id,)| AccountId(id)).collect())
    }

    /// Up to 200 accounts whose deletion is due.
    ///
    /// # Errors
    /// A backend error.
    pub async fn due_deletions(&self, now: DateTime<Utc>) -> StoreResult<Vec<AccountId>> {
        let rows: Vec<(Uuid,)> = on_db!(self.0, |p| sqlx::query_as(DUE_DELETIONS)
            .bind(now)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(|(id,)| AccountId(id)).collect())
    }

    /// Deletes what belongs to the account alone (consents, pairwise subjects, refresh
    /// tokens, factors, proofings, links, confirmed data, devices) and leaves a nameless
    /// tombstone: the address is released, nothing can sign in. Only while the deletion is
    /// still due at `now` (a login that cancelled it meanwhile wins). In one transaction;
    /// true for the one caller that did it.
    ///
    /// # Errors
    /// A backend error.
    pub async fn erase(&self, id: AccountId, now: DateTime<Utc>) -> StoreResult<bool> {
        let tombstone = format!("{}@deleted.invalid", id.0.simple());
        Ok(write_tx!(self.0, |tx| {
            let n = sqlx::query(TOMBSTONE)
                .bind(id.0)
                .bind(&tombstone)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                for stmt in ERASE {
                    sqlx::query(stmt).bind(id.0).execute(&mut *tx).await?;
                }
            }
            n == 1
        })?)
    }

    /// Disables (with a time) or enables (with `None`) an account.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn set_disabled(&self, id: AccountId, at: Option<DateTime<Utc>>) -> StoreResult<()> {
        let n = on_db!(self.0, |p| sqlx::query(SET_DISABLED)
            .bind(id.0)
            .bind(at)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Whether an administrator disabled the account.
    ///
    /// # Errors
    /// `NotFound` or a backend error.
    pub async fn is_disabled(&self, id: AccountId) -> StoreResult<bool> {
        let v: Option<bool> = on_db!(self.0, |p| sqlx::query_scalar(IS_DISABLED)
            .bind(id.0)
            .fetch_optional(p)
            .await)?;
        v.ok_or(StoreError::NotFound)
    }

    /// Live accounts by address after `after`, at most `limit` (the operator's listing).
    ///
    /// # Errors
    /// A backend error.
    pub async fn page(&self, after: &str, limit: i64) -> StoreResult<Vec<Account>> {
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(PAGE)
            .bind(after)
            .bind(limit)
            .fetch_all(p)
            .await)?;
        rows.into_iter()
            .map(|r| AccountWithHash::try_from(r).map(|a| a.account))
            .collect()
    }

    /// Whether the account has to do with the tenant: it signed in to one of its portals
    /// (a subject in its sector or a consent), was identity-checked by it, or got a message
    /// from it. A Kommune's clerks see only such accounts.
    ///
    /// # Errors
    /// A backend error.
    pub async fn related_to_tenant(
        &self,
        account: AccountId,
        tenant: TenantId,
    ) -> StoreResult<bool> {
        Ok(on_db!(self.0, |p| sqlx::query_scalar(RELATED_TO_TENANT)
            .bind(account.0)
            .bind(tenant.0)
            .bind(tenant.sector())
            .fetch_one(p)
            .await)?)
    }
}

const RELATED_TO_TENANT: &str = "SELECT (\
    EXISTS (SELECT 1 FROM subjects WHERE account_id = $1 AND sector = $3) \
    OR EXISTS (SELECT 1 FROM consents c JOIN clients k ON k.id = c.client_id \
        WHERE c.account_id = $1 AND k.tenant_id = $2) \
    OR EXISTS (SELECT 1 FROM identity_proofings WHERE account_id = $1 AND tenant_id = $2) \
    OR EXISTS (SELECT 1 FROM mailbox_messages WHERE account_id = $1 AND sender_tenant_id = $2))";
