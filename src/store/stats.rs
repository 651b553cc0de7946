//! Counts for the administration's overview: aggregates only, never a person's data.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::TenantId;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub struct Stats<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn stats(&self) -> Stats<'_> {
        Stats(self)
    }
}

const ACCOUNTS_BY_LEVEL: &str = "SELECT proofing_level, COUNT(*) FROM accounts \
    WHERE deleted_at IS NULL GROUP BY proofing_level";
// Completed logins are audited as `account.signed_in.<level>` (18 characters before it).
const LOGINS_BY_LEVEL: &str = "SELECT substr(kind, 19), COUNT(*) FROM audit_events \
    WHERE kind IN ('account.signed_in.low', 'account.signed_in.substantial', 'account.signed_in.high') \
    AND at >= $1 GROUP BY kind";
const CLIENTS_OF_TENANT: &str = "SELECT COUNT(*) FROM clients WHERE tenant_id = $1";
const MESSAGES_OF_TENANT: &str = "SELECT COUNT(*), \
    COALESCE(SUM(CASE WHEN opened_at IS NULL AND deleted_at IS NULL AND purged_at IS NULL THEN 1 ELSE 0 END), 0) \
    FROM mailbox_messages WHERE sender_tenant_id = $1";

const BACKCHANNEL_FAILURES: &str = "SELECT e.client_id, c.name, COUNT(*) FROM audit_events e \
    JOIN clients c ON c.id = e.client_id \
    WHERE e.kind = 'backchannel.failed' AND e.at >= $1 AND e.tenant_id = $2 \
    GROUP BY e.client_id, c.name ORDER BY e.client_id";

impl Stats<'_> {
    /// The tenant's clients whose back-channel logout failed since `since`: id, name, count.
    ///
    /// # Errors
    /// A backend error.
    pub async fn backchannel_failures(
        &self,
        tenant: TenantId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(String, String, i64)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(BACKCHANNEL_FAILURES)
            .bind(since)
            .bind(tenant.0)
            .fetch_all(p)
            .await)?)
    }

    /// Live accounts per proofing level (`low`, `substantial`, `high`).
    ///
    /// # Errors
    /// A backend error.
    pub async fn accounts_by_level(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(ACCOUNTS_BY_LEVEL)
            .fetch_all(p)
            .await)?)
    }

    /// Completed logins since `since`, per the level they reached.
    ///
    /// # Errors
    /// A backend error.
    pub async fn logins_by_level(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(LOGINS_BY_LEVEL)
            .bind(since)
            .fetch_all(p)
            .await)?)
    }

    /// The tenant's clients.
    ///
    /// # Errors
    /// A backend error.
    pub async fn clients_of(&self, tenant: TenantId) -> StoreResult<i64> {
        Ok(on_db!(self.0, |p| sqlx::query_scalar(CLIENTS_OF_TENANT)
            .bind(tenant.0)
            .fetch_one(p)
            .await)?)
    }

    /// Messages the tenant's systems sent, and how many of them are still unread.
    ///
    /// # Errors
    /// A backend error.
    pub async fn messages_of(&self, tenant: TenantId) -> StoreResult<(i64, i64)> {
        let id: Uuid = tenant.0;
        Ok(on_db!(self.0, |p| sqlx::query_as(MESSAGES_OF_TENANT)
            .bind(id)
            .fetch_one(p)
            .await)?)
    }
}
