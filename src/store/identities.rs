//! Identities confirmed elsewhere: links to accounts at upstream identity providers, and
//! verified personal data (given name, birth date, ...) with its source and level.

use super::{Db, StoreResult, on_db, write_tx};
use crate::domain::ids::AccountId;
use crate::domain::level::Loa;
use chrono::{DateTime, Utc};

pub struct Identities<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn identities(&self) -> Identities<'_> {
        Identities(self)
    }
}

/// One verified claim of an account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VerifiedClaim {
    pub claim: String,
    /// The claim's JSON value (a string, or an object for `address`).
    pub value: String,
    /// Who confirmed it: `upstream:ID` or `clerk:NAME`.
    pub source: String,
    pub level: String,
    pub verified_at: DateTime<Utc>,
}

/// A link to an account at an upstream provider.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UpstreamLink {
    pub upstream: String,
    pub level: String,
    pub linked_at: DateTime<Utc>,
}

const LINK_OWNER: &str =
    "SELECT account_id FROM upstream_links WHERE upstream = $1 AND upstream_sub = $2";
const SUBJECT_OF: &str =
    "SELECT upstream_sub FROM upstream_links WHERE account_id = $1 AND upstream = $2";
const UNLINK_OLD: &str = "DELETE FROM upstream_links WHERE account_id = $1 AND upstream = $2";
const LINK: &str = "INSERT INTO upstream_links (upstream, upstream_sub, account_id, level, linked_at) VALUES ($1, $2, $3, $4, $5)";
const LINKS: &str =
    "SELECT upstream, level, linked_at FROM upstream_links WHERE account_id = $1 ORDER BY upstream";
const SET_CLAIM: &str = "INSERT INTO verified_claims (account_id, claim, value, source, level, verified_at) VALUES ($1, $2, $3, $4, $5, $6) \
    ON CONFLICT (account_id, claim) DO UPDATE SET value = excluded.value, source = excluded.source, level = excluded.level, verified_at = excluded.verified_at \
    WHERE CASE verified_claims.level WHEN 'high' THEN 3 WHEN 'substantial' THEN 2 ELSE 1 END <= CASE excluded.level WHEN 'high' THEN 3 WHEN 'substantial' THEN 2 ELSE 1 END";
const CLAIMS: &str = "SELECT claim, value, source, level, verified_at FROM verified_claims WHERE account_id = $1 ORDER BY claim";

impl Identities<'_> {
    /// The account an upstream subject is linked to, if any.
    ///
    /// # Errors
    /// A backend error.
    pub async fn linked_account(
        &self,
        upstream: &str,
        upstream_sub: &str,
    ) -> StoreResult<Option<AccountId>> {
        let id: Option<(uuid::Uuid,)> = on_db!(self.0, |p| sqlx::query_as(LINK_OWNER)
            .bind(upstream)
            .bind(upstream_sub)
            .fetch_optional(p)
            .await)?;
        Ok(id.map(|(u,)| AccountId(u)))
    }

    /// Links the account to an upstream subject (replacing its earlier link to that
    /// upstream) and stores the verified claims that came with it, in one transaction.
    /// `Conflict` when the upstream subject is linked to another account.
    ///
    /// # Errors
    /// A backend error or `Conflict`.
    pub async fn link(
        &self,
        account: AccountId,
        upstream: &str,
        upstream_sub: &str,
        level: Loa,
        claims: &[(String, String)],
    ) -> StoreResult<()> {
        let source = format!("upstream:{upstream}");
        let now = Utc::now();
        write_tx!(self.0, |tx| {
            sqlx::query(UNLINK_OLD)
                .bind(account.0)
                .bind(upstream)
                .execute(&mut *tx)
                .await?;
            sqlx::query(LINK)
                .bind(upstream)
                .bind(upstream_sub)
                .bind(account.0)
                .bind(level.name())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for (claim, value) in claims {
                sqlx::query(SET_CLAIM)
                    .bind(account.0)
                    .bind(claim)
                    .bind(value)
                    .bind(&source)
                    .bind(level.name())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        })?;
        Ok(())
    }

    /// Stores verified claims from one source (a clerk's check).
    ///
    /// # Errors
    /// A backend error.
    pub async fn set_claims(
        &self,
        account: AccountId,
        source: &str,
        level: Loa,
        claims: &[(String, String)],
    ) -> StoreResult<()> {
        let now = Utc::now();
        write_tx!(self.0, |tx| {
            for (claim, value) in claims {
                sqlx::query(SET_CLAIM)
                    .bind(account.0)
                    .bind(claim)
                    .bind(value)
                    .bind(source)
                    .bind(level.name())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
        })?;
        Ok(())
    }

    /// The upstream subject the account is linked to at `upstream`, if any.
    ///
    /// # Errors
    /// A backend error.
    pub async fn subject_of(
        &self,
        account: AccountId,
        upstream: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = on_db!(self.0, |p| sqlx::query_as(SUBJECT_OF)
            .bind(account.0)
            .bind(upstream)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|(s,)| s))
    }

    /// The account's upstream links.
    ///
    /// # Errors
    /// A backend error.
    pub async fn links(&self, account: AccountId) -> StoreResult<Vec<UpstreamLink>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(LINKS)
            .bind(account.0)
            .fetch_all(p)
            .await)?)
    }

    /// The account's verified claims.
    ///
    /// # Errors
    /// A backend error.
    pub async fn claims(&self, account: AccountId) -> StoreResult<Vec<VerifiedClaim>> {
        Ok(on_db!(self.0, |p| sqlx::query_as(CLAIMS)
            .bind(account.0)
            .fetch_all(p)
            .await)?)
    }
}
