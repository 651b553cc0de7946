//! Erasure (DSGVO Art. 17) and the inactivity rule.
//!
//! A citizen asks with the password (and a fresh second factor, where the account has one):
//! every session ends at once (portals get back-channel logout), the portals' refresh tokens
//! die, and a mail names the day. Until that day a login keeps the account. On the day the
//! background round purges the mailbox's content (the senders keep their evidence), deletes
//! what belongs to the account alone and leaves a nameless tombstone, and mails the address
//! it had. An account unused for the configured time is announced for deletion by mail the
//! same way, and then deleted unless its holder signs in.

use super::{DataRights, RightsError};
use crate::domain::ids::AccountId;
use crate::oidc::backchannel::Ending;
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::time::Duration;

/// The configured deletion rules.
#[derive(Clone, Copy, Debug)]
pub struct ErasureRules {
    /// Between the request and the deletion.
    pub grace: Duration,
    /// Without a login before an account is deleted; `None`: never.
    pub inactive_after: Option<Duration>,
    /// How long before that deletion the warning goes out.
    pub warn_before: Duration,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ErasureRound {
    pub announced: usize,
    pub erased: usize,
}

fn days(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl DataRights {
    /// The configured rules (the page states them).
    #[must_use]
    pub fn rules(&self) -> ErasureRules {
        self.rules
    }

    /// The holder asks for the deletion: checked with the password, then every session ends
    /// (portals are told) and the day is set. Returns the day.
    ///
    /// # Errors
    /// `Account(InvalidCredentials | Throttled)` or a storage failure.
    pub async fn request_erasure(
        &self,
        account: AccountId,
        password: &str,
        ip: IpAddr,
    ) -> Result<DateTime<Utc>, RightsError> {
        let due = self.clock.now() + days(self.rules.grace);
        self.accounts
            .request_deletion(account, password, ip, due)
            .await?;
        self.provider
            .end_all_sessions(account, Ending::AccountDeletion)
            .await?;
        Ok(due)
    }

    /// One round: announce the deletion of unused accounts, delete those whose day came.
    ///
    /// # Errors
    /// Storage failures (the next round tries again).
    pub async fn run_erasure_round(&self) -> Result<ErasureRound, RightsError> {
        let now = self.clock.now();
        let mut round = ErasureRound::default();
        if let Some(after) = self.rules.inactive_after {
            let warn = days(self.rules.warn_before);
            round.announced = self
                .accounts
                .announce_inactive(now - days(after) + warn, now + warn)
                .await?;
        }
        for account in self.accounts.due_deletions(now).await? {
            round.erased += usize::from(self.erase(account, now).await?);
        }
        Ok(round)
    }

    /// Deletes one account now, if its deletion is still due: first the account's own data
    /// in one step that a concurrent login's cancellation wins (and that removes the pairwise
    /// subjects, so no new message can arrive), then the mailbox content (evidence kept),
    /// then every session (portals told), including one that began during the round. A
    /// purge that fails here is done by the mailbox's round, which purges the messages of
    /// deleted accounts too.
    async fn erase(&self, account: AccountId, now: DateTime<Utc>) -> Result<bool, RightsError> {
        if !self.accounts.erase(account, now).await? {
            return Ok(false);
        }
        // Both steps run whatever the other did; a purge left undone here is the mailbox
        // round's.
        let purged = self.mailbox.purge_account(account).await;
        if let Err(e) = &purged {
            tracing::warn!(error = %e, "mailbox of a deleted account not purged yet");
        }
        self.provider
            .end_all_sessions(account, Ending::AccountDeletion)
            .await?;
        tracing::info!(purged = purged.unwrap_or(0), "account deleted");
        Ok(true)
    }

    /// Runs [`DataRights::run_erasure_round`] every `tick` until the process ends.
    pub fn spawn_worker(self, tick: Duration) -> tokio::task::JoinHandle<()> {
        crate::clock::spawn_every(tick, move || {
            let this = self.clone();
            async move {
                match this.run_erasure_round().await {
                    Ok(r) if r != ErasureRound::default() => tracing::info!(?r, "erasure round"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "erasure round failed"),
                }
            }
        })
    }
}
