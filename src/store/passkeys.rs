//! Passkeys: the WebAuthn credential of each passkey (serialised by the account layer), its
//! name and when it was last used. A credential id belongs to one account only.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::AccountId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Passkeys<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn passkeys(&self) -> Passkeys<'_> {
        Passkeys(self)
    }
}

/// One stored passkey.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PasskeyRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub credential_id: String,
    pub name: String,
    /// The credential as the WebAuthn library serialises it (public key, counter, flags).
    pub passkey: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const LIST: &str = "SELECT id, account_id, credential_id, name, passkey, created_at, last_used_at FROM passkeys WHERE account_id = $1 ORDER BY id";
const BY_CREDENTIAL: &str = "SELECT id, account_id, credential_id, name, passkey, created_at, last_used_at FROM passkeys WHERE credential_id = $1";
const INSERT: &str = "INSERT INTO passkeys (id, account_id, credential_id, name, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
const COUNT: &str = "SELECT COUNT(*) FROM passkeys WHERE account_id = $1";
const RENAME: &str = "UPDATE passkeys SET name = $3 WHERE account_id = $1 AND id = $2";
const DELETE: &str = "DELETE FROM passkeys WHERE account_id = $1 AND id = $2";
const USED: &str = "UPDATE passkeys SET passkey = $2, last_used_at = $3 WHERE credential_id = $1";

impl Passkeys<'_> {
    /// Adds a passkey; `Conflict` when the credential id is registered already (to anyone).
    ///
    /// # Errors
    /// A backend error or `Conflict`.
    pub async fn add(
        &self,
        account: AccountId,
        credential_id: &str,
        name: &str,
        passkey: &str,
    ) -> StoreResult<Uuid> {
        let id = Uuid::now_v7();
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(id)
            .bind(account.0)
            .bind(credential_id)
            .bind(name)
            .bind(passkey)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(id)
    }

    /// The account's passkeys, oldest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn list(&self, account: AccountId) -> StoreResult<Vec<PasskeyRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(LIST)
            .bind(account.0)
            .fetch_all(p)
            .await)?)
    }

    /// How many passkeys the account has.
    ///
    /// # Errors
    /// A backend error.
    pub async fn count(&self, account: AccountId) -> StoreResult<usize> {
        let (n,): (i64,) = on_db!(self.0, |p| sqlx::query_as(COUNT)
            .bind(account.0)
            .fetch_one(p)
            .await)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The passkey with this credential id, whoever owns it.
    ///
    /// # Errors
    /// A backend error.
    pub async fn by_credential(&self, credential_id: &str) -> StoreResult<Option<PasskeyRow>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(BY_CREDENTIAL)
            .bind(credential_id)
            .fetch_optional(p)
            .await)?)
    }

    /// Renames one of the account's passkeys; false when it has no such passkey.
    ///
    /// # Errors
    /// A backend error.
    pub async fn rename(&self, account: AccountId, id: Uuid, name: &str) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(RENAME)
            .bind(account.0)
            .bind(id)
            .bind(name)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Removes one of the account's passkeys; false when it has no such passkey.
    ///
    /// # Errors
    /// A backend error.
    pub async fn remove(&self, account: AccountId, id: Uuid) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(DELETE)
            .bind(account.0)
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Stores the credential after a use (its signature counter) and the time of use.
    ///
    /// # Errors
    /// A backend error.
    pub async fn used(&self, credential_id: &str, passkey: &str) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(USED)
            .bind(credential_id)
            .bind(passkey)
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
