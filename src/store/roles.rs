//! Administration roles bound to accounts (see [`crate::domain::role`] for what each may do).

use super::{Db, StoreError, StoreResult, on_db};
use crate::domain::ids::{AccountId, TenantId};
use crate::domain::role::{Grant, Grants, Role};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A grant as listed: whose, since when, from whom.
#[derive(Clone, Debug)]
pub struct RoleRow {
    pub account_id: AccountId,
    pub email: String,
    pub grant: Grant,
    pub granted_at: DateTime<Utc>,
    pub granted_by: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    account_id: Uuid,
    email: String,
    role: String,
    tenant_id: Option<Uuid>,
    granted_at: DateTime<Utc>,
    granted_by: String,
}

impl TryFrom<Row> for RoleRow {
    type Error = StoreError;
    fn try_from(r: Row) -> StoreResult<Self> {
        let role =
            Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("role {}", r.role)))?;
        Ok(RoleRow {
            account_id: AccountId(r.account_id),
            email: r.email,
            grant: Grant {
                role,
                tenant: r.tenant_id.map(TenantId),
            },
            granted_at: r.granted_at,
            granted_by: r.granted_by,
        })
    }
}

pub struct Roles<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn roles(&self) -> Roles<'_> {
        Roles(self)
    }
}

// ON CONFLICT without a target: both partial unique indexes (with and without tenant) count.
const GRANT: &str = "INSERT INTO admin_roles (account_id, role, tenant_id, granted_at, granted_by) \
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
const REVOKE_TENANT: &str =
    "DELETE FROM admin_roles WHERE account_id = $1 AND role = $2 AND tenant_id = $3";
const REVOKE_VERBUND: &str =
    "DELETE FROM admin_roles WHERE account_id = $1 AND role = $2 AND tenant_id IS NULL";
const OF_ACCOUNT: &str = "SELECT r.account_id, a.email, r.role, r.tenant_id, r.granted_at, r.granted_by \
    FROM admin_roles r JOIN accounts a ON a.id = r.account_id \
    WHERE r.account_id = $1 AND a.deleted_at IS NULL";
const ALL: &str = "SELECT r.account_id, a.email, r.role, r.tenant_id, r.granted_at, r.granted_by \
    FROM admin_roles r JOIN accounts a ON a.id = r.account_id \
    WHERE a.deleted_at IS NULL ORDER BY a.email, r.role";
const COUNT_VERBUND_ADMINS: &str = "SELECT COUNT(*) FROM admin_roles r JOIN accounts a \
    ON a.id = r.account_id WHERE r.role = 'verbund_admin' AND a.deleted_at IS NULL";

impl Roles<'_> {
    /// Grants a role; granting it again changes nothing. Returns whether it is new.
    ///
    /// # Errors
    /// A backend error; `Conflict` when the account or tenant does not exist.
    pub async fn grant(&self, account: AccountId, grant: Grant, by: &str) -> StoreResult<bool> {
        let n = on_db!(self.0, |p| sqlx::query(GRANT)
            .bind(account.0)
            .bind(grant.role.as_str())
            .bind(grant.tenant.map(|t| t.0))
            .bind(Utc::now())
            .bind(by)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Revokes a role; returns whether the account had it.
    ///
    /// # Errors
    /// A backend error.
    pub async fn revoke(&self, account: AccountId, grant: Grant) -> StoreResult<bool> {
        let n = match grant.tenant {
            Some(t) => on_db!(self.0, |p| sqlx::query(REVOKE_TENANT)
                .bind(account.0)
                .bind(grant.role.as_str())
                .bind(t.0)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?,
            None => on_db!(self.0, |p| sqlx::query(REVOKE_VERBUND)
                .bind(account.0)
                .bind(grant.role.as_str())
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?,
        };
        Ok(n > 0)
    }

    /// What an account was granted (nothing once it is deleted).
    ///
    /// # Errors
    /// A backend error.
    pub async fn of(&self, account: AccountId) -> StoreResult<Grants> {
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(OF_ACCOUNT)
            .bind(account.0)
            .fetch_all(p)
            .await)?;
        let rows = rows
            .into_iter()
            .map(RoleRow::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Grants(rows.into_iter().map(|r| r.grant).collect()))
    }

    /// Every grant, by address.
    ///
    /// # Errors
    /// A backend error.
    pub async fn all(&self) -> StoreResult<Vec<RoleRow>> {
        let rows: Vec<Row> = on_db!(self.0, |p| sqlx::query_as(ALL).fetch_all(p).await)?;
        rows.into_iter().map(RoleRow::try_from).collect()
    }

    /// How many accounts are Verbund admins.
    ///
    /// # Errors
    /// A backend error.
    pub async fn verbund_admins(&self) -> StoreResult<i64> {
        Ok(on_db!(self.0, |p| sqlx::query_scalar(
            COUNT_VERBUND_ADMINS
        )
        .fetch_one(p)
        .await)?)
    }
}
