//! Administration roles and what each may do: one pure decision, [`Grants::may`], used by the
//! console, the admin API and nothing else deciding on its own.
//!
//! - **Verbund admin:** everything, in every tenant.
//! - **Kommune admin:** its tenant's portals and authority systems, process raises, branding,
//!   the roles in its tenant, and its tenant's audit trail.
//! - **Clerk:** the desk of its tenant (identity checks, citizen support).
//! - **Auditor:** reads the audit trail (of its tenant, or of the Verbund without one); changes
//!   nothing.

use super::ids::TenantId;
use serde::Serialize;

/// Scopes that reach beyond one tenant: only a Verbund admin gives a client these (the
/// Verbund's process levels, the Verbund's administration API).
pub const VERBUND_SCOPES: [&str; 2] = ["catalogue.admin", "admin.verbund"];

/// One administration role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    VerbundAdmin,
    KommuneAdmin,
    Clerk,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::VerbundAdmin,
        Role::KommuneAdmin,
        Role::Clerk,
        Role::Auditor,
    ];

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::VerbundAdmin => "verbund_admin",
            Role::KommuneAdmin => "kommune_admin",
            Role::Clerk => "clerk",
            Role::Auditor => "auditor",
        }
    }

    /// Whether a grant of this role names a tenant: always for Kommune admins and clerks,
    /// never for Verbund admins, optionally for auditors.
    #[must_use]
    pub fn tenant_rule(self) -> TenantRule {
        match self {
            Role::VerbundAdmin => TenantRule::Never,
            Role::KommuneAdmin | Role::Clerk => TenantRule::Always,
            Role::Auditor => TenantRule::Optional,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantRule {
    Never,
    Always,
    Optional,
}

/// A role, in one tenant or (without) in the whole Verbund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Grant {
    pub role: Role,
    pub tenant: Option<TenantId>,
}

impl Grant {
    /// A grant that the role's tenant rule allows.
    ///
    /// # Errors
    /// What is wrong, in English (the CLI's and the API's language).
    pub fn new(role: Role, tenant: Option<TenantId>) -> Result<Self, &'static str> {
        match (role.tenant_rule(), tenant) {
            (TenantRule::Never, Some(_)) => Err("a Verbund admin is not bound to a tenant"),
            (TenantRule::Always, None) => Err("this role needs a tenant"),
            _ => Ok(Self { role, tenant }),
        }
    }
}

/// What an action asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duty {
    /// The Verbund as a whole: create and disable tenants, the Verbund's process levels,
    /// Verbund-wide roles.
    Verbund,
    /// A tenant's configuration: its portals, authority systems, process raises, branding
    /// and roles.
    Configure(TenantId),
    /// A tenant's desk: identity checks and citizen support.
    Desk(TenantId),
    /// Reading a tenant's audit trail, or (`None`) the whole Verbund's.
    ReadAudit(Option<TenantId>),
}

/// Where a duty reaches: everywhere, or in these tenants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    All,
    Tenants(Vec<TenantId>),
}

impl Reach {
    #[must_use]
    pub fn covers(&self, tenant: TenantId) -> bool {
        match self {
            Reach::All => true,
            Reach::Tenants(ts) => ts.contains(&tenant),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!(self, Reach::Tenants(ts) if ts.is_empty())
    }
}

/// Kinds of duty, for [`Grants::reach`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DutyKind {
    Configure,
    Desk,
    ReadAudit,
}

/// Everything an account was granted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(pub Vec<Grant>);

impl Grants {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn is_verbund_admin(&self) -> bool {
        self.0.iter().any(|g| g.role == Role::VerbundAdmin)
    }

    /// Whether the grants allow the duty.
    #[must_use]
    pub fn may(&self, duty: Duty) -> bool {
        if self.is_verbund_admin() {
            return true;
        }
        self.0.iter().any(|g| match duty {
            Duty::Verbund => false,
            Duty::Configure(t) => g.role == Role::KommuneAdmin && g.tenant == Some(t),
            Duty::Desk(t) => g.role == Role::Clerk && g.tenant == Some(t),
            Duty::ReadAudit(None) => g.role == Role::Auditor && g.tenant.is_none(),
            Duty::ReadAudit(Some(t)) => {
                (g.role == Role::Auditor && (g.tenant.is_none() || g.tenant == Some(t)))
                    || (g.role == Role::KommuneAdmin && g.tenant == Some(t))
            }
        })
    }

    /// The tenants in which a kind of duty is allowed.
    #[must_use]
    pub fn reach(&self, kind: DutyKind) -> Reach {
        if self.is_verbund_admin()
            || (kind == DutyKind::ReadAudit
                && self
                    .0
                    .iter()
                    .any(|g| g.role == Role::Auditor && g.tenant.is_none()))
        {
            return Reach::All;
        }
        let mut ts: Vec<TenantId> = self
            .0
            .iter()
            .filter_map(|g| g.tenant)
            .filter(|t| match kind {
                DutyKind::Configure => self.may(Duty::Configure(*t)),
                DutyKind::Desk => self.may(Duty::Desk(*t)),
                DutyKind::ReadAudit => self.may(Duty::ReadAudit(Some(*t))),
            })
            .collect();
        ts.sort_by_key(|t| t.0);
        ts.dedup();
        Reach::Tenants(ts)
    }

    /// Whether these grants may grant or revoke `grant`: a Verbund admin any role; a Kommune
    /// admin the Kommune admin, clerk and auditor roles of its own tenant.
    #[must_use]
    pub fn may_assign(&self, grant: Grant) -> bool {
        match grant.tenant {
            None => self.may(Duty::Verbund),
            Some(t) => self.may(Duty::Configure(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn t(n: u128) -> TenantId {
        TenantId(Uuid::from_u128(n))
    }

    fn grants(list: &[(Role, Option<TenantId>)]) -> Grants {
        Grants(
            list.iter()
                .map(|(role, tenant)| Grant {
                    role: *role,
                    tenant: *tenant,
                })
                .collect(),
        )
    }

    #[test]
    fn each_role_reaches_only_its_duties() {
        let (a, b) = (t(1), t(2));
        let verbund = grants(&[(Role::VerbundAdmin, None)]);
        for d in [
            Duty::Verbund,
            Duty::Configure(a),
            Duty::Desk(b),
            Duty::ReadAudit(None),
        ] {
            assert!(verbund.may(d), "{d:?}");
        }
        let kommune = grants(&[(Role::KommuneAdmin, Some(a))]);
        assert!(kommune.may(Duty::Configure(a)));
        assert!(kommune.may(Duty::ReadAudit(Some(a))));
        for d in [
            Duty::Verbund,
            Duty::Configure(b),
            Duty::Desk(a),
            Duty::ReadAudit(None),
            Duty::ReadAudit(Some(b)),
        ] {
            assert!(!kommune.may(d), "{d:?}");
        }
        let clerk = grants(&[(Role::Clerk, Some(a))]);
        assert!(clerk.may(Duty::Desk(a)));
        for d in [Duty::Desk(b), Duty::Configure(a), Duty::ReadAudit(Some(a))] {
            assert!(!clerk.may(d), "{d:?}");
        }
        let auditor = grants(&[(Role::Auditor, None)]);
        assert!(auditor.may(Duty::ReadAudit(None)));
        assert!(auditor.may(Duty::ReadAudit(Some(b))));
        assert!(!auditor.may(Duty::Configure(a)) && !auditor.may(Duty::Desk(a)));
        let local_auditor = grants(&[(Role::Auditor, Some(a))]);
        assert!(local_auditor.may(Duty::ReadAudit(Some(a))));
        assert!(!local_auditor.may(Duty::ReadAudit(Some(b))));
        assert!(!local_auditor.may(Duty::ReadAudit(None)));
        assert!(!Grants::default().may(Duty::ReadAudit(Some(a))));
    }

    #[test]
    fn reach_and_assignment_follow_the_duties() {
        let (a, b) = (t(1), t(2));
        let g = grants(&[(Role::KommuneAdmin, Some(a)), (Role::Clerk, Some(b))]);
        assert_eq!(g.reach(DutyKind::Configure), Reach::Tenants(vec![a]));
        assert_eq!(g.reach(DutyKind::Desk), Reach::Tenants(vec![b]));
        assert_eq!(g.reach(DutyKind::ReadAudit), Reach::Tenants(vec![a]));
        assert!(g.may_assign(Grant::new(Role::Clerk, Some(a)).expect("valid grant")));
        assert!(!g.may_assign(Grant::new(Role::Clerk, Some(b)).expect("valid grant")));
        assert!(!g.may_assign(Grant::new(Role::VerbundAdmin, None).expect("valid grant")));
        assert!(!g.may_assign(Grant::new(Role::Auditor, None).expect("valid grant")));
        assert!(Grant::new(Role::VerbundAdmin, Some(a)).is_err());
        assert!(Grant::new(Role::Clerk, None).is_err());
        assert_eq!(
            grants(&[(Role::Auditor, None)]).reach(DutyKind::ReadAudit),
            Reach::All
        );
    }
}
