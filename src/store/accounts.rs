//! Central citizen accounts.

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::account::{Account, EmailAddress};
use crate::domain::ids::AccountId;
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
const BY_EMAIL: &str = "SELECT id, email, password_hash, email_verified, proofing_level, created_at FROM accounts WHERE email = $1";
const BY_ID: &str = "SELECT id, email, password_hash, email_verified, proofing_level, created_at FROM accounts WHERE id = $1";
const SET_VERIFIED: &str = "UPDATE accounts SET email_verified = $2, updated_at = $3 WHERE id = $1";
const SET_EMAIL: &str =
    "UPDATE accounts SET email = $2, email_verified = TRUE, updated_at = $3 WHERE id = $1";
const SET_PASSWORD: &str = "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1";

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
