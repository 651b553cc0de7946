//! The browsers an account signed in from, by the digest of a long-lived device cookie: a
//! login from one not listed earns the holder a mail.

use super::{Db, StoreResult, on_db};
use crate::domain::ids::AccountId;
use chrono::{DateTime, Utc};

pub struct Devices<'a>(&'a Db);

impl Db {
    #[must_use]
    pub fn devices(&self) -> Devices<'_> {
        Devices(self)
    }
}

const SEEN: &str =
    "UPDATE account_devices SET last_seen = $3 WHERE account_id = $1 AND device_hash = $2";
const ADD: &str = "INSERT INTO account_devices (account_id, device_hash, first_seen, last_seen) \
    VALUES ($1, $2, $3, $3) ON CONFLICT (account_id, device_hash) DO NOTHING";
const COUNT: &str = "SELECT COUNT(*) FROM account_devices WHERE account_id = $1";
/// Browsers unused for long, and all but the newest [`KEPT`] (logins without a cookie each
/// add one): the table stays small whatever a client does.
const FORGET_OLD: &str = "DELETE FROM account_devices WHERE account_id = $1 AND (last_seen < $2 \
    OR device_hash NOT IN (SELECT device_hash FROM account_devices WHERE account_id = $1 \
    ORDER BY last_seen DESC LIMIT 50))";
/// How many browsers an account keeps (the `LIMIT` in `FORGET_OLD`).
pub const KEPT: usize = 50;

/// What a login's device was to the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Signed in from there before.
    Known,
    /// New, and the account knew other devices.
    New,
    /// The account's first device (just registered, or from before devices were kept).
    First,
}

impl Devices<'_> {
    /// Records a login from the device with this digest; devices unused since `forget_before`
    /// are forgotten.
    ///
    /// # Errors
    /// A backend error.
    pub async fn seen(
        &self,
        account: AccountId,
        device_hash: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> StoreResult<Seen> {
        let _w = self.0.writer().await;
        let updated = on_db!(self.0, |p| sqlx::query(SEEN)
            .bind(account.0)
            .bind(device_hash)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        if updated > 0 {
            return Ok(Seen::Known);
        }
        self.forget(account, forget_before).await?;
        let (before,): (i64,) = on_db!(self.0, |p| sqlx::query_as(COUNT)
            .bind(account.0)
            .fetch_one(p)
            .await)?;
        let added = on_db!(self.0, |p| sqlx::query(ADD)
            .bind(account.0)
            .bind(device_hash)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        // And the cap holds with this one counted.
        self.forget(account, forget_before).await?;
        Ok(match (added, before) {
            (0, _) => Seen::Known,
            (_, 0) => Seen::First,
            _ => Seen::New,
        })
    }

    async fn forget(&self, account: AccountId, before: DateTime<Utc>) -> StoreResult<()> {
        on_db!(self.0, |p| sqlx::query(FORGET_OLD)
            .bind(account.0)
            .bind(before)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
