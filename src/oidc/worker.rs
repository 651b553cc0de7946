//! The provider's background round, every instance runs it: signing keys that another
//! instance or the CLI rotated on disk are picked up, and refresh-token families past their
//! absolute lifetime are deleted (hourly; revocations stay until their grant would expire).

use super::Provider;
use std::time::Duration;

/// How often the keys folder is looked at.
pub const TICK: Duration = Duration::from_secs(30);
/// Every this many ticks (hourly), expired refresh tokens are purged.
const PURGE_EVERY: u64 = 120;

impl Provider {
    /// One round: reload changed keys and, when `purge`, delete expired refresh-token
    /// families. Failures are logged; the current keys stay in use.
    pub async fn run_round(&self, purge: bool) {
        if purge {
            match self
                .db
                .refresh_tokens()
                .purge_expired(self.clock.now())
                .await
            {
                Ok(0) => {}
                Ok(k) => tracing::info!(deleted = k, "purged expired refresh tokens"),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::Chain(&e), "could not purge refresh tokens")
                }
            }
        }
        match self.keys.reload_if_changed() {
            Ok(true) => tracing::info!("reloaded signing keys"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "could not reload keys; keeping the current ones"
                );
            }
        }
    }

    /// Runs [`Provider::run_round`] every [`TICK`] until the process ends.
    pub fn spawn_worker(self) -> tokio::task::JoinHandle<()> {
        let mut n: u64 = 0;
        crate::clock::spawn_every(TICK, move || {
            let (this, purge) = (self.clone(), n.is_multiple_of(PURGE_EVERY));
            n += 1;
            async move { this.run_round(purge).await }
        })
    }
}
