//! The mailbox's background round: notification mails (one per citizen for everything that
//! arrived since the last one, sent `notify_delay` after the first new message), expiry, and
//! purging content after the retention period. Every instance runs it; claims in the
//! database make sure a message is notified once.

use super::{MailboxError, MailboxService};
use std::time::Duration;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub mails: usize,
    /// Messages whose recipient is still not notified a day before the announcement day
    /// (logged as an alert each round).
    pub at_risk: usize,
    pub expired: usize,
    pub purged: usize,
}

/// What waits, for the operator's metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct Backlogs {
    /// Messages from authorities whose recipient was not told yet, and the oldest's age.
    pub unnotified: usize,
    pub unnotified_oldest: Option<chrono::DateTime<chrono::Utc>>,
    /// Of those, the ones a day before their announcement day (an alert).
    pub at_risk: usize,
    /// Callback deliveries waiting (and the oldest's age), and given up.
    pub callbacks_pending: i64,
    pub callbacks_oldest: Option<chrono::DateTime<chrono::Utc>>,
    pub callbacks_dead: i64,
}

impl MailboxService {
    /// Untold messages provided before this moment are at risk: a day before the earliest
    /// announcement day any rule allows (counted from provision).
    fn risk_from(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let days = i64::try_from(self.settings.announcement.days).unwrap_or(3);
        now - chrono::Duration::days((days - 1).max(0))
    }

    /// The notification and callback backlogs.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn backlogs(&self) -> Result<Backlogs, MailboxError> {
        let now = self.clock.now();
        let mailbox = self.db.mailbox();
        let callbacks = self.db.callbacks();
        let (all, risk, cb) = tokio::join!(
            mailbox.unnotified_since(now),
            mailbox.unnotified_since(self.risk_from(now)),
            callbacks.backlog_all(),
        );
        let ((unnotified, unnotified_oldest), (at_risk, _), cb) = (all?, risk?, cb?);
        Ok(Backlogs {
            unnotified,
            unnotified_oldest,
            at_risk,
            callbacks_pending: cb.pending,
            callbacks_oldest: cb.oldest_pending,
            callbacks_dead: cb.dead,
        })
    }

    /// One round of notifications, expiry and purging.
    ///
    /// # Errors
    /// Storage failures (a failed mail is retried in the next round).
    pub async fn run_round(&self) -> Result<Round, MailboxError> {
        let now = self.clock.now();
        let mut round = Round::default();
        let delay = chrono::Duration::from_std(self.settings.notify_delay).unwrap_or_default();
        // A claim that was not followed by a sent mail (the mail server failed, the instance
        // stopped) expires after this long; then the next round tries again.
        let lease_before = now - chrono::Duration::minutes(5);
        let due = self
            .db
            .mailbox()
            .due_notifications(now - delay, lease_before)
            .await?;
        for account in due {
            let claimed = self
                .db
                .mailbox()
                .claim_notifications(account, now, lease_before)
                .await?;
            if claimed.is_empty() {
                continue;
            }
            let sent = async {
                let acc = self.db.accounts().by_id(account).await?;
                let lang = self.db.accounts().lang(account).await?;
                // The mail names who wrote: each sending Kommune once.
                let mut tenants: Vec<_> = claimed.iter().map(|(_, t)| *t).collect();
                tenants.sort_by_key(|t| t.0);
                tenants.dedup();
                let mut senders = Vec::with_capacity(tenants.len());
                for t in tenants {
                    senders.push(self.db.tenants().by_id(t).await?.name);
                }
                let mail = crate::mail::new_mail(
                    lang,
                    claimed.len(),
                    &senders,
                    &format!("{}/postfach", self.issuer),
                )
                .map_err(MailboxError::Mail)?;
                self.mailer
                    .send(&acc.email, mail)
                    .await
                    .map_err(MailboxError::Mail)
            }
            .await;
            match sent {
                // The evidence says `notified` only for mail that went out.
                Ok(()) => {
                    round.mails += 1;
                    for (id, _) in claimed {
                        self.db.mailbox().mark_notified(id).await?;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notification mail failed; retrying in 5 minutes")
                }
            }
        }
        // § 9 Abs. 1 OZG: the recipient must be told by the announcement day. A day before it
        // (counted from provision, the earliest any rule starts), an untold message is an alert.
        let (at_risk, oldest) = self
            .db
            .mailbox()
            .unnotified_since(self.risk_from(now))
            .await?;
        round.at_risk = at_risk;
        if at_risk > 0 {
            tracing::error!(
                messages = at_risk,
                oldest_provided_at = ?oldest,
                rule = self.settings.announcement.citation,
                "notifications at risk: recipients not told a day before the announcement day; check the mail server"
            );
        }
        // An upgrade step, never a reason to skip expiry and purging.
        if let Err(e) = self.seal_legacy_references().await {
            tracing::warn!(error = %e, "could not seal older case references");
        }
        round.expired = self.db.mailbox().expire_due(now).await?;
        let keep = chrono::Duration::from_std(self.settings.retention).unwrap_or_default();
        round.purged = self.db.mailbox().purge_due(now - keep).await?;
        Ok(round)
    }

    /// Runs [`MailboxService::run_round`] every `tick` until the process ends.
    pub fn spawn_worker(self, tick: Duration) -> tokio::task::JoinHandle<()> {
        crate::clock::spawn_every(tick, move || {
            let this = self.clone();
            async move {
                match this.run_round().await {
                    Ok(r) if r != Round::default() => tracing::info!(?r, "mailbox round"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mailbox round failed"),
                }
            }
        })
    }
}

impl MailboxService {
    /// The recipient's account is being deleted: the content of all its messages goes now
    /// (subjects, bodies, files, replies, keys); the senders keep the evidence, which says
    /// why. Returns how many messages were purged.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_account(
        &self,
        account: crate::domain::ids::AccountId,
    ) -> Result<usize, MailboxError> {
        Ok(self.db.mailbox().purge_account(account).await?)
    }
}
