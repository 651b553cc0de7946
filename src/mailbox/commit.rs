//! Group commit for sends: concurrent sends wait in a queue, and each of a few committers
//! takes whatever waits (up to [`BATCH`]) and stores it in one transaction. One commit (one
//! fsync) and one statement (PostgreSQL without TLS) or a statement per message serve a whole
//! batch instead of one message each, with no
//! added wait: a batch forms from the sends that arrived while the previous commit ran. The
//! recipients of a batch are looked up in one statement too, and each message's data key is
//! wrapped for the account found (the wrapping names the account). If a batch fails (say one
//! send reused an idempotency key), each of its messages is stored on its own, so every send
//! gets its own answer.

use super::seal::key_aad;
use crate::crypto::aead::Key;
use crate::domain::ids::AccountId;
use crate::keyring::mailbox::MasterKeys;
use crate::store::mailbox::PendingMessage;
use crate::store::{Db, StoreError, StoreResult};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// At most this many messages in one transaction.
const BATCH: usize = 64;

/// A sealed message addressed by the recipient's subject in `sector`: its `account`,
/// `key_id` and `wrapped_key` are filled in by the committer once the subject is resolved.
pub(super) struct Addressed {
    pub sector: String,
    /// The message's data key, wrapped under the master key for the account found.
    pub key: Key,
    pub message: PendingMessage,
}

impl Addressed {
    fn for_account(mut self, keys: &MasterKeys, account: AccountId) -> PendingMessage {
        let m = &mut self.message;
        m.account = account;
        (m.key_id, m.wrapped_key) = keys.wrap(
            &self.key,
            &key_aad(
                m.id,
                account.0,
                Some(m.required_level.name()),
                &m.sender_client_id,
            ),
        );
        self.message
    }
}

type Done = oneshot::Sender<StoreResult<()>>;

struct Job {
    item: Addressed,
    done: Done,
}

/// The queue in front of the committers; cheap to clone.
#[derive(Clone)]
pub(super) struct Committer {
    queue: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts `workers` committers on `db` (a SQLite database has one writer: one is enough).
    pub(super) fn start(db: Db, keys: Arc<MasterKeys>, workers: usize) -> Self {
        let (queue, rx) = mpsc::channel::<Job>(BATCH * 16);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let (db, keys, rx) = (db.clone(), Arc::clone(&keys), Arc::clone(&rx));
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
                    let ready = address(&db, &keys, batch).await;
                    commit(&db, ready).await;
                }
            });
        }
        Self { queue }
    }

    /// Stores one message with the next batch. `NotFound` when its subject names nobody.
    pub(super) async fn store(&self, item: Addressed) -> StoreResult<()> {
        let (done, wait) = oneshot::channel();
        let gone = || crate::store::StoreError::Corrupt("the committer stopped".into());
        self.queue
            .send(Job { item, done })
            .await
            .map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?
    }
}

/// Resolves the batch's subjects (one statement per sector) and wraps each found message's
/// key for its account; a send whose subject names nobody hears `NotFound` now. If the
/// batch's lookup fails, each send is looked up on its own, with its own answer.
async fn address(db: &Db, keys: &MasterKeys, batch: Vec<Job>) -> Vec<(PendingMessage, Done)> {
    let mut sectors: Vec<String> = batch.iter().map(|j| j.item.sector.clone()).collect();
    sectors.sort_unstable();
    sectors.dedup();
    let mut found: HashMap<(String, String), AccountId> = HashMap::new();
    let mut failed = false;
    for sector in &sectors {
        let subs: Vec<&str> = batch
            .iter()
            .filter(|j| &j.item.sector == sector)
            .map(|j| j.item.message.recipient_sub.as_str())
            .collect();
        match db.subjects().resolve_many(sector, &subs).await {
            Ok(m) => found.extend(m.into_iter().map(|(sub, a)| ((sector.clone(), sub), a))),
            Err(_) => failed = true,
        }
    }
    let mut ready = Vec::with_capacity(batch.len());
    for Job { item, done } in batch {
        let key = (item.sector.clone(), item.message.recipient_sub.clone());
        let account = match found.get(&key) {
            Some(a) => Ok(Some(*a)),
            None if failed => db.subjects().resolve(&key.0, &key.1).await,
            None => Ok(None),
        };
        match account {
            Ok(Some(a)) => ready.push((item.for_account(keys, a), done)),
            Ok(None) => {
                let _ = done.send(Err(StoreError::NotFound));
            }
            Err(e) => {
                let _ = done.send(Err(e));
            }
        }
    }
    ready
}

async fn commit(db: &Db, batch: Vec<(PendingMessage, Done)>) {
    // A key twice in one batch (a bulk call that repeats one) would fail the whole batch,
    // and everyone's messages would go one at a time: the repeat goes on its own after it.
    let mut seen = std::collections::HashSet::new();
    let (batch, repeats): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(m, _)| {
        m.idempotency_key
            .as_ref()
            .is_none_or(|k| seen.insert((m.sender_client_id.clone(), k.clone())))
    });
    commit_batch(db, batch).await;
    for (m, done) in repeats {
        let r = db.mailbox().insert_messages(std::slice::from_ref(&m)).await;
        let _ = done.send(r);
    }
}

async fn commit_batch(db: &Db, batch: Vec<(PendingMessage, Done)>) {
    if batch.is_empty() {
        return;
    }
    let (messages, waiting): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
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
