//! The id indexer: writes sled's `X` entries behind the writer.
//!
//! The writer acknowledges an append once its records are durable in the
//! segment file and its ids are in the [`Unindexed`] map; the indexer
//! thread then writes those ids to sled with the `Mids` marker in one
//! `sled::Batch` and only afterwards drops them from the map, so an id is
//! always in the map, in sled, or both. Its queue is bounded: a writer that
//! gets [`QUEUE`] commits ahead waits for it. After a crash, the store's
//! open indexes the ids after `Mids` again from the segment file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crate::StoreError;
use crate::Uuid;
use crate::keys::IDS_KEY;
use crate::sled_store::{Loc, id_key};

/// Commits the indexer may be behind before the writer waits.
const QUEUE: usize = 64;

/// Ids committed but not yet in sled's `X` index, and where they are.
#[derive(Clone, Default)]
pub(crate) struct Unindexed(Arc<Mutex<HashMap<Uuid, Loc>>>);

impl Unindexed {
    pub(crate) fn get(&self, id: Uuid) -> Option<Loc> {
        self.lock().get(&id).copied()
    }

    pub(crate) fn insert(&self, ids: &[(Uuid, Loc)]) {
        let mut map = self.lock();
        map.extend(ids.iter().copied());
    }

    fn remove(&self, ids: &[(Uuid, Loc)]) {
        let mut map = self.lock();
        for (id, _) in ids {
            map.remove(id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Loc>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One commit's ids, and its last position.
struct Job {
    ids: Vec<(Uuid, Loc)>,
    through: u64,
}

/// The indexer thread and its queue.
pub(crate) struct Indexer {
    sender: mpsc::SyncSender<Job>,
    handle: JoinHandle<()>,
    failed: Arc<AtomicBool>,
}

impl Indexer {
    pub(crate) fn start(db: sled::Db, unindexed: Unindexed) -> Result<Indexer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let handle = std::thread::Builder::new()
            .name("eventlog-indexer".into())
            .spawn(move || run(&db, &receiver, &unindexed, &flag))?;
        Ok(Indexer {
            sender,
            handle,
            failed,
        })
    }

    /// Queues the ids of a commit ending at `through`; waits while the
    /// queue is full.
    pub(crate) fn index(&self, ids: Vec<(Uuid, Loc)>, through: u64) {
        // A stopped indexer leaves the ids in the map, where they stay findable.
        let _ = self.sender.send(Job { ids, through });
    }

    /// Whether writing the index failed (the ids then stay in the map).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Indexes what is queued, then stops.
    pub(crate) fn stop(self) {
        drop(self.sender);
        let _ = self.handle.join();
    }
}

fn run(db: &sled::Db, receiver: &mpsc::Receiver<Job>, unindexed: &Unindexed, failed: &AtomicBool) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < QUEUE {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if failed.load(Ordering::Acquire) {
            continue;
        }
        let mut batch = sled::Batch::default();
        let mut through = 0;
        for job in &jobs {
            for (id, loc) in &job.ids {
                batch.insert(&id_key(*id), &loc.encode());
            }
            through = through.max(job.through);
        }
        batch.insert(IDS_KEY, &through.to_be_bytes());
        match db.apply_batch(batch) {
            Ok(()) => {
                for job in &jobs {
                    unindexed.remove(&job.ids);
                }
            }
            Err(error) => {
                // Later ids must not be indexed past these: `Mids` would
                // skip them after a crash. Stop; the writer stops too.
                tracing::error!(%error, "writing the event id index failed");
                failed.store(true, Ordering::Release);
            }
        }
    }
}
