//! Group commit for sends: concurrent sends wait in a queue, and each of a few committers
//! takes whatever waits (up to [`BATCH`]) and stores it in one transaction. One commit (one
//! fsync) and a handful of statements serve a whole batch instead of one message, with no
//! added wait: a batch forms from the sends that arrived while the previous commit ran. If
//! a batch fails (say one send reused an idempotency key), each of its messages is stored on
//! its own, so every send gets its own answer.

use crate::store::mailbox::PendingMessage;
use crate::store::{Db, StoreError, StoreResult};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// At most this many messages in one transaction.
const BATCH: usize = 64;

struct Job {
    message: PendingMessage,
    done: oneshot::Sender<StoreResult<()>>,
}

/// The queue in front of the committers; cheap to clone.
#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts `workers` committers on `db` (a SQLite database has one writer: one is enough).
    pub(super) fn start(db: Db, workers: usize) -> Self {
        let (queue, rx) = mpsc::channel::<Job>(BATCH * 16);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (db, rx) = (db.clone(), Arc::clone(&rx));
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    commit(&db, batch).await;
                }
            });
        }
        Self { queue }
    }

    /// Stores one message with the next batch.
    pub(super) async fn store(&self, message: PendingMessage) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let gone = || crate::store::StoreError::Corrupt("the committer stopped".into());
        self.queue
            .send(Job { message, done })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }
}

async fn commit(db: &Db, batch: Vec<Job>) {
    // A key twice in one batch (a bulk call that repeats one) would fail the whole batch,
    // and everyone's messages would go one at a time: the repeat goes on its own after it.
    let mut seen = std::collections::HashSet::new();
    let (batch, repeats): (Vec<_>, Vec<_>) = batch.into_iter().partition(|j| {
        j.message
            .idempotency_key
            .as_ref()
            .is_none_or(|k| seen.insert((j.message.sender_client_id.clone(), k.clone())))
    });
    commit_batch(db, batch).await;
    for j in repeats {
        let r = db
            .mailbox()
            .insert_messages(std::slice::from_ref(&j.message))
            .await;
        let _ = j.done.send(r);
    }
}

async fn commit_batch(db: &Db, batch: Vec<Job>) {
    if batch.is_empty() {
        return;
    }
    let (messages, waiting): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|j| (j.message, j.done)).unzip();
    if messages.len() > 1 {
        match db.mailbox().insert_messages(&messages).await {
            Ok(()) => {
                for w in waiting {
                    let _ = w.send(Ok(()));
                }
                return;
            }
            // The database is away: every send hears so now (503), instead of each waiting
            // in turn for its own connection attempt.
            Err(e) if StoreError::is_unavailable(&e) => {
                tracing::warn!(error = %crate::telemetry::Chain(&e), "a batch of sends failed: the database is unavailable");
                for w in waiting {
                    let _ = w.send(Err(StoreError::unavailable()));
                }
                return;
            }
            Err(_) => {}
        }
    }
    // One message, or a batch that failed: each on its own, with its own answer.
    for (m, w) in messages.into_iter().zip(waiting) {
        let r = db.mailbox().insert_messages(std::slice::from_ref(&m)).await;
        let _ = w.send(r);
    }
}
