//! The process catalogue (*Verwaltungsleistungen*): every process has one assurance level for
//! the whole Verbund; a tenant may raise it for its own portals, never lower it.

use super::ids::TenantId;
use super::level::Loa;

/// A process id: 1 to 64 characters of `A-Z a-z 0-9 . _ -` (a LeiKa key such as
/// `99050012104000` or a readable name such as `bauantrag`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProcessId(String);

impl ProcessId {
    /// # Errors
    /// When the id has other characters or a bad length.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("a process id is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a catalogue entry applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessScope {
    Verbund,
    Tenant(TenantId),
}

impl ProcessScope {
    /// The stored form: `verbund` or `tenant:<uuid>`.
    #[must_use]
    pub fn key(self) -> String {
        match self {
            ProcessScope::Verbund => "verbund".into(),
            ProcessScope::Tenant(t) => format!("tenant:{t}"),
        }
    }
}

/// One catalogue entry.
#[derive(Clone, Debug)]
pub struct Process {
    pub id: ProcessId,
    pub scope: ProcessScope,
    pub name: String,
    pub level: Loa,
    /// The level must be confirmed by an upstream identity provider in the login (BundID:
    /// § 3 Abs. 4 OZG), not by our own factors over a clerk's check. A tenant may add this,
    /// never take it away (the Verbund's or the tenant's entry suffices).
    pub upstream_required: bool,
}

/// Why a catalogue change is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogueRule {
    /// A tenant can only raise a process the Verbund has.
    UnknownProcess,
    /// A tenant's level may not be below the Verbund's.
    WouldLower { verbund: Loa },
}

/// Checks a tenant's level against the Verbund's entry.
///
/// # Errors
/// When the Verbund has no such process, or the level would be lower than the Verbund's.
pub fn check_tenant_level(verbund: Option<Loa>, wanted: Loa) -> Result<(), CatalogueRule> {
    match verbund {
        None => Err(CatalogueRule::UnknownProcess),
        Some(v) if wanted < v => Err(CatalogueRule::WouldLower { verbund: v }),
        Some(_) => Ok(()),
    }
}

/// The level that applies for a tenant's portal: the higher of the Verbund's and the tenant's.
#[must_use]
pub fn effective(verbund: Loa, tenant: Option<Loa>) -> Loa {
    tenant.map_or(verbund, |t| t.max(verbund))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_raise_never_lower() {
        assert_eq!(
            check_tenant_level(None, Loa::High),
            Err(CatalogueRule::UnknownProcess)
        );
        assert_eq!(
            check_tenant_level(Some(Loa::High), Loa::Low),
            Err(CatalogueRule::WouldLower { verbund: Loa::High })
        );
        assert_eq!(check_tenant_level(Some(Loa::Low), Loa::High), Ok(()));
        assert_eq!(
            check_tenant_level(Some(Loa::Substantial), Loa::Substantial),
            Ok(())
        );
        // A Verbund raised later above a tenant's entry wins.
        assert_eq!(effective(Loa::High, Some(Loa::Substantial)), Loa::High);
        assert_eq!(
            effective(Loa::Low, Some(Loa::Substantial)),
            Loa::Substantial
        );
        assert_eq!(effective(Loa::Low, None), Loa::Low);
        assert!(
            ProcessId::parse("99050012104000").is_ok()
                && ProcessId::parse("bau antrag").is_err()
                && ProcessId::parse("").is_err()
        );
    }
}
