//! The audit log: security-relevant events, append-only.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::{AccountId, ClientId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// One audit event as read back.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub detail: Json<serde_json::Value>,
}

pub struct Audit<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn audit(&self) -> Audit<'_> {
        Audit(self)
    }
}

const INSERT: &str = "INSERT INTO audit_events (id, at, kind, account_id, client_id, detail) VALUES ($1, $2, $3, $4, $5, $6)";
const INSERT_BY: &str = "INSERT INTO audit_events (id, at, kind, account_id, client_id, detail, actor_id, tenant_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const FOR_ACCOUNT: &str = "SELECT id, at, kind, account_id, client_id, detail FROM audit_events \
    WHERE account_id = $1 ORDER BY at DESC, id DESC LIMIT $2";

impl Audit<'_> {
    /// Appends an event.
    ///
    /// # Errors
    /// A backend error.
    pub async fn record(
        &self,
        kind: &str,
        account: Option<AccountId>,
        client: Option<&ClientId>,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(INSERT)
            .bind(Uuid::now_v7())
            .bind(Utc::now())
            .bind(kind)
            .bind(account.map(|a| a.0))
            .bind(client.map(ClientId::as_str))
            .bind(Json(detail))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Appends an administrator's action: who did it (`actor`, none for the operator's
    /// shell), in which tenant, to which account or client.
    ///
    /// # Errors
    /// A backend error.
    pub async fn record_by(
        &self,
        kind: &str,
        actor: Option<AccountId>,
        tenant: Option<TenantId>,
        account: Option<AccountId>,
        client: Option<&ClientId>,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(INSERT_BY)
            .bind(Uuid::now_v7())
            .bind(Utc::now())
            .bind(kind)
            .bind(account.map(|a| a.0))
            .bind(client.map(ClientId::as_str))
            .bind(Json(detail))
            .bind(actor.map(|a| a.0))
            .bind(tenant.map(|t| t.0))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The newest events of an account.
    ///
    /// # Errors
    /// A backend error.
    pub async fn for_account(
        &self,
        account: AccountId,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(FOR_ACCOUNT)
            .bind(account.0)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }
}
