//! The id indexer: writes the id index's runs behind the writer.
//!
//! The writer acknowledges an append once its records are durable in the
//! segment file and its ids are in the [`Unindexed`] map; the indexer
//! thread hands them to the [`RunWriter`], which writes a run once enough
//! are waiting and only afterwards drops them from the map, so an id is
//! always in the map, in a run, or both. Its queue is bounded at
//! [`QUEUE`] commits, enough to absorb a merge of large runs (about a
//! second a million ids) without making the writer wait; a writer that gets
//! further ahead waits. After a stop or a crash, the store's open reads the
//! ids after the last run again from the segment file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use crate::StoreError;
use crate::Uuid;
use crate::idruns::{RunWriter, Unindexed};
use crate::sled_store::Loc;

/// Commits the indexer may be behind before the writer waits.
const QUEUE: usize = 1024;
/// Commits taken from the queue per step.
const STEP: usize = 64;

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
    pub(crate) fn start(writer: RunWriter, unindexed: Unindexed) -> Result<Indexer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let handle = std::thread::Builder::new()
            .name("eventlog-indexer".into())
            .spawn(move || run(writer, &receiver, &unindexed, &flag))?;
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

fn run(
    mut writer: RunWriter,
    receiver: &mpsc::Receiver<Job>,
    unindexed: &Unindexed,
    failed: &AtomicBool,
) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        while jobs.len() < STEP {
            match receiver.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if failed.load(Ordering::Acquire) {
            continue;
        }
        for job in jobs {
            if let Err(error) = writer.add(job.ids, job.through, unindexed) {
                // Later ids must not go into a run past these: the runs
                // must cover the log without a gap. Stop; the writer stops too.
                tracing::error!(%error, "writing the event id index failed");
                failed.store(true, Ordering::Release);
                break;
            }
        }
    }
}
