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

/// What the audit log is searched for; every part optional.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub tenant: Option<TenantId>,
    pub actor: Option<AccountId>,
    /// A prefix of the kind (`admin.`, `account.login`).
    pub kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// An event with who did it and where.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub account_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub detail: Json<serde_json::Value>,
    pub actor_id: Option<Uuid>,
    pub tenant_id: Option<Uuid>,
    pub actor_email: Option<String>,
    /// The address the account has now (a deleted account's is its tombstone's).
    pub account_email: Option<String>,
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
const SEARCH: &str = "SELECT e.id, e.at, e.kind, e.account_id, e.client_id, e.detail, e.actor_id, \
    e.tenant_id, a.email AS actor_email, b.email AS account_email FROM audit_events e \
    LEFT JOIN accounts a ON a.id = e.actor_id LEFT JOIN accounts b ON b.id = e.account_id \
    WHERE ($1 IS NULL OR e.tenant_id = $1) AND ($2 IS NULL OR e.actor_id = $2) \
    AND ($3 IS NULL OR substr(e.kind, 1, length($3)) = $3) AND ($4 IS NULL OR e.at >= $4) \
    AND ($5 IS NULL OR e.at < $5) ORDER BY e.at DESC, e.id DESC LIMIT $6";
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

    /// The newest events that match, at most `limit`.
    ///
    /// # Errors
    /// A backend error.
    pub async fn search(&self, f: &AuditFilter, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(SEARCH)
            .bind(f.tenant.map(|t| t.0))
            .bind(f.actor.map(|a| a.0))
            .bind(f.kind.as_deref())
            .bind(f.from)
            .bind(f.until)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }
}
