//! Reading the audit log: filtered by tenant, actor, kind and time, within the reader's
//! reach (a Kommune's auditors and admins read their Kommune's entries; a Verbund-wide
//! auditor and the Verbund admins everything).

use super::{Actor, Admin, AdminError, Bad};
use crate::domain::account::EmailAddress;
use crate::domain::role::{Duty, DutyKind, Reach};
use crate::store::StoreError;
use crate::store::audit::{AuditEntry, AuditFilter};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// The most entries a page shows.
pub const PAGE_ROWS: i64 = 200;
/// The most entries one CSV export holds.
pub const EXPORT_ROWS: i64 = 10_000;

/// A search as typed: every part may be empty.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub tenant: String,
    pub actor: String,
    pub kind: String,
    /// `YYYY-MM-DD`, German civil days, inclusive.
    pub from: String,
    pub until: String,
}

impl Admin {
    /// Entries matching the query within the actor's reach, newest first. A reader bound to
    /// tenants must name one of them (the first is taken when none is named).
    ///
    /// # Errors
    /// `Forbidden` without a reading role or for a tenant outside the reach; `Invalid` for
    /// a malformed date, kind or address.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        q: &AuditQuery,
        limit: i64,
    ) -> Result<(AuditFilter, Vec<AuditEntry>), AdminError> {
        let reach = actor.grants.reach(DutyKind::ReadAudit);
        if reach.is_empty() {
            return Err(AdminError::Forbidden);
        }
        let tenant = match (q.tenant.trim(), &reach) {
            ("", Reach::All) => None,
            ("", Reach::Tenants(ts)) => ts.first().copied(),
            (slug, _) => match self.db.tenants().by_slug(slug).await {
                Ok(t) => Some(t.id),
                Err(StoreError::NotFound) => return Err(AdminError::Invalid(Bad::UnknownTenant)),
                Err(e) => return Err(e.into()),
            },
        };
        actor.must(Duty::ReadAudit(tenant))?;
        let actor_id = match q.actor.trim() {
            "" => None,
            email => {
                let email =
                    EmailAddress::parse(email).map_err(|_| AdminError::Invalid(Bad::Email))?;
                match self.db.accounts().by_email(&email).await {
                    Ok(a) => Some(a.account.id),
                    // Nobody with this address did anything: an empty result.
                    Err(StoreError::NotFound) => {
                        Some(crate::domain::ids::AccountId(uuid::Uuid::nil()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let kind = Some(q.kind.trim())
            .filter(|k| !k.is_empty())
            .map(|k| {
                if k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b"._".contains(&b))
                {
                    Ok(k.to_owned())
                } else {
                    Err(AdminError::Invalid(Bad::Kind))
                }
            })
            .transpose()?;
        let filter = AuditFilter {
            tenant,
            actor: actor_id,
            kind,
            from: day_start(&q.from)?,
            until: day_start(&q.until)?.map(|d| d + chrono::Duration::days(1)),
        };
        let rows = self.db.audit().search(&filter, limit).await?;
        Ok((filter, rows))
    }

    /// Audits an export of the log (who took which part of it out).
    ///
    /// # Errors
    /// A backend error.
    pub async fn audit_exported(
        &self,
        actor: &Actor,
        filter: &AuditFilter,
        rows: usize,
    ) -> Result<(), AdminError> {
        self.audit(
            actor,
            "admin.audit_exported",
            filter.tenant,
            None,
            None,
            json!({ "rows": rows, "kind": filter.kind, "from": filter.from, "until": filter.until }),
        )
        .await
    }
}

/// The start of a German civil day written `YYYY-MM-DD`; empty is none.
fn day_start(s: &str) -> Result<Option<DateTime<Utc>>, AdminError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let day =
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| AdminError::Invalid(Bad::Date))?;
    let noon = day
        .and_hms_opt(12, 0, 0)
        .ok_or(AdminError::Invalid(Bad::Date))?
        .and_utc();
    Ok(Some(crate::domain::civil::start_of_day(noon)))
}
