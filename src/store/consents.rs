//! Consents: which scopes a citizen granted to which client.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::{AccountId, ClientId};
use crate::domain::scope::Scopes;
use chrono::Utc;
use sqlx::types::Json;

pub struct Consents<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn consents(&self) -> Consents<'_> {
        Consents(self)
    }
}

const GET: &str = "SELECT scopes FROM consents WHERE account_id = $1 AND client_id = $2";
const UPSERT: &str = "INSERT INTO consents (account_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at";

const FOR_ACCOUNT: &str = "SELECT c.client_id, cl.name, c.scopes, c.granted_at FROM consents c \
    JOIN clients cl ON cl.id = c.client_id WHERE c.account_id = $1 ORDER BY c.granted_at DESC";
const DELETE: &str = "DELETE FROM consents WHERE account_id = $1 AND client_id = $2";

/// A consent as listed on the account page.
#[derive(Clone, Debug)]
pub struct ConsentEntry {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Scopes,
    pub granted_at: chrono::DateTime<Utc>,
}

impl Consents<'_> {
    /// All consents of an account with the portal names, newest first.
    ///
    /// # Errors
    /// A backend error.
    pub async fn for_account(&self, account: AccountId) -> StoreResult<Vec<ConsentEntry>> {
        type Row = (String, String, Json<Vec<String>>, chrono::DateTime<Utc>);
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(FOR_ACCOUNT)
            .bind(account.0)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(client_id, client_name, scopes, granted_at)| ConsentEntry {
                    client_id,
                    client_name,
                    scopes: scopes.0.into_iter().collect(),
                    granted_at,
                },
            )
            .collect())
    }

    /// Withdraws a consent. Returns whether one existed.
    ///
    /// # Errors
    /// A backend error.
    pub async fn withdraw(&self, account: AccountId, client: &ClientId) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(DELETE)
            .bind(account.0)
            .bind(client.as_str())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The scopes granted, if any.
    ///
    /// # Errors
    /// A backend error.
    pub async fn get(&self, account: AccountId, client: &ClientId) -> StoreResult<Option<Scopes>> {
        let row: Option<(Json<Vec<String>>,)> = on_db!(self.0, |p| sqlx::query_as(GET)
            .bind(account.0)
            .bind(client.as_str())
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|(s,)| Scopes::from_iter(s.0)))
    }

    /// Records (or replaces) a consent.
    ///
    /// # Errors
    /// A backend error, or `Conflict` if the account or client is gone.
    pub async fn grant(
        &self,
        account: AccountId,
        client: &ClientId,
        scopes: &Scopes,
    ) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(UPSERT)
            .bind(account.0)
            .bind(client.as_str())
            .bind(Json(scopes.to_vec()))
            .bind(Utc::now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
