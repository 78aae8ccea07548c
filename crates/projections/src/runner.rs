//! Feeding the ledger (and, through the same `Checkpointed` trait, the
//! mechanisms view, in its own tree) from the log, with checkpoints.
//!
//! The ledger's rows and the position they reflect are persisted together in
//! one sled batch per checkpoint (a page while catching up; while live, at
//! most every [`CHECKPOINT_EVERY`]): only the rows changed since the last
//! one, each in the binary encoding of [`crate::codec`] under its slot
//! (ledgers, few and small, as JSON), so after a crash the checkpoint is a
//! consistent prefix of the log: the runner resumes from the position after
//! it and never applies an event twice or skips one. Projections are
//! rebuildable, so the checkpoint store is not fsynced on every batch; a
//! crash or a stop only costs re-applying the events after the last flushed
//! checkpoint. The bigram postings of a block of slots that has filled (see
//! [`TEXT_BLOCK_SLOTS`]) are written once, just before that batch, in a tree
//! of their own (`ledger-text`): a load uses a block only when every row of
//! it is stored.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use rectify_eventlog::{EventStore, Filter, RecordedEvent};
use tokio::sync::watch;

use crate::{
    ProjectionError, codec,
    items::LedgerBook,
    ledger::{Changed, LedgerView, TEXT_BLOCK_SLOTS, ViewBuilder},
    row::LedgerRow,
    slab::SLAB_BLOCK,
};

/// Events read per page while catching up, and most events applied per
/// checkpoint while live.
pub const CATCH_UP_PAGE: usize = 4_096;
/// Longest a live view holds applied changes before it checkpoints them:
/// one sled batch per interval rather than per commit of the log (each
/// batch makes sled write its buffers out), at the cost of re-applying at
/// most this much of the log after a crash.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The format of persisted rows; a different stored format is dropped and
/// rebuilt from position 0. Format 9: a row's strings as one text and the
/// ends of its parts, its instants in 8 fixed bytes (8: strings one by one,
/// instants as varints, the bigram blocks in a tree of their own; 7: those
/// blocks beside the rows; a row's instants as nanoseconds; 6: as seconds
/// and nanoseconds, rows keyed by slot, and the bigram postings of full
/// blocks of slots stored; 5: rows keyed by id, every index rebuilt from the
/// rows; 4 and before: JSON rows).
pub const LEDGER_FORMAT: u64 = 9;

/// Blocks of rows the decoder of the first half keeps ready ahead of the
/// one being indexed (each is a block of the view's slab, [`SLAB_BLOCK`]
/// rows, handed over whole).
const LOAD_BLOCKS_AHEAD: usize = 2;

/// Reserved keys start with a NUL byte; rows are keyed `s/<slot>` (the
/// slot as 4 big-endian bytes, so keys sort in slot order), ledgers
/// `l/<ledger id>`; in the `ledger-text` tree, bigram blocks
/// `t/<first slot>` (the same way).
pub(crate) const KEY_APPLIED: &[u8] = b"\0applied";
pub(crate) const KEY_FORMAT: &[u8] = b"\0format";
const PREFIX_ROW: &[u8] = b"s/";
const PREFIX_TEXT: &[u8] = b"t/";
const PREFIX_LEDGER: &[u8] = b"l/";

fn key(prefix: &[u8], id: &str) -> Vec<u8> {
    [prefix, id.as_bytes()].concat()
}

fn slot_key(prefix: &[u8], slot: u32) -> Vec<u8> {
    [prefix, &slot.to_be_bytes()].concat()
}

/// The slot a `s/` or `t/` key names.
fn key_slot(key: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = key.get(2..)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// The projections' own store: rows and checkpoints, beside the log.
#[derive(Debug, Clone)]
pub struct ProjectionDb {
    ledger: sled::Tree,
    /// The ledger's stored bigram blocks, apart from its rows: a block is
    /// megabytes, and a sled node holding one is rewritten whole whenever a
    /// key beside it changes (the rows are written every checkpoint).
    ledger_text: sled::Tree,
    db: sled::Db,
    /// Slots a stored block of the bigram index spans.
    text_block_size: u32,
}

impl ProjectionDb {
    /// Opens (or creates) the store in `path`. Blocking.
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(Some(1_000))
            .open()?;
        let ledger = db.open_tree("ledger")?;
        let ledger_text = db.open_tree("ledger-text")?;
        if ledger.is_empty() {
            ledger.insert(KEY_FORMAT, &LEDGER_FORMAT.to_be_bytes())?;
        }
        Ok(ProjectionDb {
            ledger,
            ledger_text,
            db,
            text_block_size: TEXT_BLOCK_SLOTS,
        })
    }

    /// Stores the bigram index in blocks of `slots` slots instead of
    /// [`TEXT_BLOCK_SLOTS`], so a test's few complaints fill some. A store
    /// keeps each block's span, so reopening it with another size still
    /// loads what it holds.
    pub fn with_text_block_size(mut self, slots: u32) -> Self {
        self.text_block_size = slots.max(1);
        self
    }

    /// Loads the persisted ledger; a store written in another format is
    /// cleared (the caller then catches up from position 0). Blocking, and
    /// uses a second thread: one reads and decodes the rows while the other
    /// indexes them.
    pub fn load_ledger(&self) -> Result<LedgerView, ProjectionError> {
        let format = self
            .ledger
            .get(KEY_FORMAT)?
            .map(|v| read_u64(&v))
            .transpose()?;
        if format != Some(LEDGER_FORMAT) {
            if format.is_some() {
                tracing::warn!(
                    ?format,
                    current = LEDGER_FORMAT,
                    "ledger format changed; rebuilding"
                );
            }
            self.clear_ledger()?;
            let mut view = LedgerView::default();
            view.set_text_block_size(self.text_block_size);
            return Ok(view);
        }
        let applied = match self.ledger.get(KEY_APPLIED)? {
            Some(bytes) => read_u64(&bytes)?,
            None => 0,
        };
        let rows = match self.ledger.scan_prefix(PREFIX_ROW).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                let last = key_slot(&key).ok_or_else(|| undecodable(&key, &"not a row key"))?;
                last as usize + 1
            }
            None => 0,
        };
        let mut view = ViewBuilder::with_capacity(rows);
        for entry in self.ledger_text.scan_prefix(PREFIX_TEXT) {
            let (key, value) = entry?;
            let (slots, postings) =
                codec::decode_text_block(&value).map_err(|e| undecodable(&key, &e))?;
            if key_slot(&key) != Some(slots.start) {
                return Err(undecodable(&key, &"the key and the block disagree"));
            }
            // A block is written just before the checkpoint that completes
            // it: after a crash between the two its rows are not all
            // stored, and it is written again when they are.
            if slots.end as usize > rows {
                break;
            }
            view.add_text_block(slots, postings)
                .map_err(|e| undecodable(&key, &e))?;
        }
        load_rows(&self.ledger, rows, &mut view)?;
        let mut books = Vec::new();
        for entry in self.ledger.scan_prefix(PREFIX_LEDGER) {
            let (key, value) = entry?;
            books.push(
                serde_json::from_slice::<LedgerBook>(&value).map_err(|e| undecodable(&key, &e))?,
            );
        }
        Ok(view.finish(books, applied, self.text_block_size))
    }

    /// Removes everything the store holds, for a rebuild from the log: the
    /// ledger's rows and checkpoint and every other tree a view or follower
    /// keeps here (the mechanisms view's, the transparency tree). Blocking.
    pub fn clear(&self) -> Result<(), ProjectionError> {
        for name in self.db.tree_names() {
            if name != self.db.name() {
                self.db.open_tree(&name)?.clear()?;
            }
        }
        self.clear_ledger()
    }

    /// Removes the ledger's rows and checkpoint only (its format changed;
    /// the other views keep theirs). Blocking.
    fn clear_ledger(&self) -> Result<(), ProjectionError> {
        self.ledger_text.clear()?;
        self.ledger.clear()?;
        self.ledger
            .insert(KEY_FORMAT, &LEDGER_FORMAT.to_be_bytes())?;
        Ok(())
    }

    /// Persists the `dirty` rows and the applied position of `view` in one
    /// atomic batch. Blocking.
    pub fn checkpoint(
        &self,
        view: &mut LedgerView,
        dirty: &BTreeSet<Changed>,
    ) -> Result<(), ProjectionError> {
        Writes::of(view, dirty)?.write(&self.ledger_trees(), view.applied())
    }

    /// Where the ledger's checkpoints go.
    fn ledger_trees(&self) -> Trees {
        Trees {
            main: self.ledger.clone(),
            side: Some(self.ledger_text.clone()),
        }
    }

    /// Opens (or creates) the named sled tree beside the ledger, for a
    /// follower that keeps its own state in this store (the transparency
    /// tree). Blocking.
    pub fn named_tree(&self, name: &str) -> Result<sled::Tree, ProjectionError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Makes everything saved so far durable. Blocking.
    pub fn flush(&self) -> Result<(), ProjectionError> {
        self.db.flush()?;
        Ok(())
    }
}

fn undecodable(key: &[u8], error: &dyn std::fmt::Display) -> ProjectionError {
    let key = match (key.get(..2), key_slot(key)) {
        (Some(PREFIX_ROW), Some(slot)) => format!("row of slot {slot}"),
        (Some(PREFIX_TEXT), Some(slot)) => format!("bigram block from slot {slot}"),
        _ => format!("{:?}", String::from_utf8_lossy(key)),
    };
    ProjectionError::Checkpoint(format!("{key} does not decode: {error}"))
}

/// Reads the `rows` stored rows into `view` in slot order. Two threads
/// read and decode them in blocks of the view's slab, one the first half of
/// the blocks and one the second, while this one indexes them: the first
/// half as it arrives, then the second, which waits decoded (in the very
/// blocks the view keeps, so waiting costs no memory). A slot without its
/// row is an error, as is any row that does not decode; the load stops at
/// the first.
fn load_rows(
    tree: &sled::Tree,
    rows: usize,
    view: &mut ViewBuilder,
) -> Result<(), ProjectionError> {
    let middle = rows.div_ceil(SLAB_BLOCK) / 2 * SLAB_BLOCK;
    let (rows, middle) = match (u32::try_from(rows), u32::try_from(middle)) {
        (Ok(rows), Ok(middle)) => (rows, middle),
        _ => {
            return Err(ProjectionError::Checkpoint(format!(
                "{rows} rows do not fit slots"
            )));
        }
    };
    std::thread::scope(|scope| {
        let (first_chunks, first) = std::sync::mpsc::sync_channel(LOAD_BLOCKS_AHEAD);
        let (second_chunks, second) = std::sync::mpsc::channel();
        scope.spawn(move || decode_rows(tree, 0..middle, |chunk| first_chunks.send(chunk).is_ok()));
        scope.spawn(move || {
            decode_rows(tree, middle..rows, |chunk| {
                second_chunks.send(chunk).is_ok()
            })
        });
        for block in first.into_iter().chain(second) {
            view.push_block(block?);
        }
        Ok::<_, ProjectionError>(())
    })?;
    if view.len() != rows as usize {
        return Err(ProjectionError::Checkpoint(format!(
            "{} of {rows} rows were loaded",
            view.len()
        )));
    }
    Ok(())
}

/// Reads and decodes the rows of `slots` (which start at a block
/// boundary), handing them to `send` in blocks of [`SLAB_BLOCK`]; stops at
/// the first error (handed on too) or when `send` returns false (the loader
/// stopped).
fn decode_rows(
    tree: &sled::Tree,
    slots: std::ops::Range<u32>,
    mut send: impl FnMut(Result<Vec<LedgerRow>, ProjectionError>) -> bool,
) {
    let block_of = |from: u32| SLAB_BLOCK.min(slots.end.saturating_sub(from) as usize);
    let mut chunk = Vec::with_capacity(block_of(slots.start));
    let mut expected = slots.start;
    let range = slot_key(PREFIX_ROW, slots.start)..slot_key(PREFIX_ROW, slots.end);
    for entry in tree.range(range) {
        let row = entry
            .map_err(ProjectionError::from)
            .and_then(|(key, value)| {
                if key_slot(&key) != Some(expected) {
                    return Err(ProjectionError::Checkpoint(format!(
                        "the row of slot {expected} is missing"
                    )));
                }
                codec::decode_row(&value).map_err(|e| undecodable(&key, &e))
            });
        match row {
            Ok(row) => chunk.push(row),
            Err(error) => {
                send(Err(error));
                return;
            }
        }
        expected += 1;
        if chunk.len() == SLAB_BLOCK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(block_of(expected)));
            if !send(Ok(full)) {
                return;
            }
        }
    }
    if expected != slots.end {
        send(Err(ProjectionError::Checkpoint(format!(
            "the row of slot {expected} is missing"
        ))));
        return;
    }
    send(Ok(chunk));
}

pub(crate) fn read_u64(bytes: &[u8]) -> Result<u64, ProjectionError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| ProjectionError::Checkpoint("a checkpoint is not 8 bytes".to_owned()))?;
    Ok(u64::from_be_bytes(array))
}

/// The stored key and value of each changed row or ledger, encoded straight
/// from the view (no row is cloned).
fn encode_changed(
    view: &mut LedgerView,
    dirty: &BTreeSet<Changed>,
) -> Result<Vec<Encoded>, ProjectionError> {
    let mut encoded = Vec::with_capacity(dirty.len());
    for changed in dirty {
        match changed {
            Changed::Complaint(slot) => {
                encoded.extend(view.row_in(*slot).map(|row| encode_complaint(*slot, row)))
            }
            Changed::Ledger(id) => encoded.extend(encode_book(view, id)?),
        }
    }
    Ok(encoded)
}

fn encode_complaint(slot: u32, row: &LedgerRow) -> Encoded {
    let mut value = Vec::with_capacity(256);
    codec::encode_row(row, &mut value);
    (slot_key(PREFIX_ROW, slot), value)
}

fn encode_book(view: &LedgerView, id: &str) -> Result<Option<Encoded>, ProjectionError> {
    let Some(book) = view.book(id) else {
        return Ok(None);
    };
    let value =
        serde_json::to_vec(book).map_err(|error| ProjectionError::Checkpoint(error.to_string()))?;
    Ok(Some((key(PREFIX_LEDGER, id), value)))
}

/// A view kept current by this runner with checkpoints in a sled tree of
/// the projection store: the ledger, and the mechanisms view.
pub(crate) trait Checkpointed: Send + Sync + 'static {
    /// What one event changed (a key of the stored state).
    type Changed: Ord + Send;
    /// The view's name in spans and logs.
    const NAME: &'static str;
    /// The last log position applied.
    fn applied_position(&self) -> u64;
    /// Applies one event; what it changed, if anything.
    fn apply_event(
        &mut self,
        event: &RecordedEvent,
    ) -> Result<Option<Self::Changed>, ProjectionError>;
    /// The stored key and value of each changed entry, from the view.
    fn encode_changed(
        &mut self,
        dirty: &BTreeSet<Self::Changed>,
    ) -> Result<Vec<Encoded>, ProjectionError>;
    /// Large values written once, to the view's side tree and before the
    /// checkpoint batch, now counted as handed over (the ledger's full
    /// bigram blocks); none by default.
    fn take_side_values(&mut self) -> Vec<Encoded> {
        Vec::new()
    }
}

/// Where a view's checkpoints go: its tree, and the side tree for
/// [`Checkpointed::take_side_values`] (a view without side values has
/// none).
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    pub(crate) main: sled::Tree,
    pub(crate) side: Option<sled::Tree>,
}

impl Checkpointed for LedgerView {
    type Changed = Changed;
    const NAME: &'static str = "ledger";

    fn applied_position(&self) -> u64 {
        self.applied()
    }

    fn apply_event(&mut self, event: &RecordedEvent) -> Result<Option<Changed>, ProjectionError> {
        self.apply(event)
    }

    fn encode_changed(
        &mut self,
        dirty: &BTreeSet<Changed>,
    ) -> Result<Vec<Encoded>, ProjectionError> {
        encode_changed(self, dirty)
    }

    fn take_side_values(&mut self) -> Vec<Encoded> {
        self.take_full_text_blocks()
            .into_iter()
            .map(|(first, value)| (slot_key(PREFIX_TEXT, first), value))
            .collect()
    }
}

/// The live ledger: shared rows and the position they reflect.
#[derive(Debug, Clone)]
pub struct Ledger {
    view: Arc<RwLock<LedgerView>>,
    applied: watch::Receiver<u64>,
}

impl Ledger {
    /// Runs `f` on the current rows. Keep `f` short: the runner waits.
    pub fn read<R>(&self, f: impl FnOnce(&LedgerView) -> R) -> R {
        let view = self
            .view
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&view)
    }

    /// The last log position applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// A receiver that sees each position the ledger applies (to wake
    /// live pages; the value is the position).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// Waits until the ledger has applied `position`, at most `timeout`.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|p| *p >= position)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            // The runner stopped (a decode failure or shutdown): it will
            // never get there.
            Ok(Err(_)) | Err(_) => Err(ProjectionError::NotYetApplied {
                wanted: position,
                applied: self.applied(),
            }),
        }
    }
}

/// Applies the log from the ledger's position to the head, in pages,
/// checkpointing each page; `progress(applied, head)` after each page.
/// Returns the position reached.
///
/// Three stages overlap: a reader task fetches the next pages (at most
/// [`PAGES_AHEAD`] ahead), this task applies a page, and a blocking task
/// encodes and writes the previous page's checkpoint. Checkpoints are
/// written strictly in order.
pub async fn catch_up<S: EventStore + Clone>(
    store: &S,
    db: &ProjectionDb,
    view: &RwLock<LedgerView>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, ProjectionError> {
    catch_up_view(store, &db.ledger_trees(), view, progress).await
}

/// [`catch_up`] of any checkpointed view, its checkpoints in `trees`.
pub(crate) async fn catch_up_view<S: EventStore + Clone, V: Checkpointed>(
    store: &S,
    trees: &Trees,
    view: &RwLock<V>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<u64, ProjectionError> {
    let head = store.head_position().await?;
    let from = read(view).applied_position() + 1;
    if from > head {
        return Ok(from - 1);
    }
    let (pages, mut incoming) = tokio::sync::mpsc::channel(PAGES_AHEAD);
    let reader = store.clone();
    let fetching = tokio::spawn(async move {
        let mut from = from;
        while from <= head {
            let page = reader
                .read_all(from, CATCH_UP_PAGE, &Filter::default())
                .await;
            let next = match &page {
                Ok(events) => events.last().map(|e| e.position + 1),
                Err(_) => None,
            };
            if pages.send(page).await.is_err() {
                return;
            }
            match next {
                Some(next) => from = next,
                None => return,
            }
        }
    });
    let mut writing: Option<tokio::task::JoinHandle<Result<(), ProjectionError>>> = None;
    let mut reached = from - 1;
    while let Some(page) = incoming.recv().await {
        let page = page?;
        let (writes, applied) = apply_page(view, &page)?;
        if let Some(previous) = writing.take() {
            joined(previous.await)?;
        }
        writing = Some(write_checkpoint(trees, writes, applied));
        // A page holds only events past the last one applied, so each checkpoint moves on.
        debug_assert!(page.is_empty() || applied > reached);
        reached = applied;
        progress(applied, head);
    }
    fetching
        .await
        .map_err(|error| ProjectionError::Checkpoint(error.to_string()))?;
    if let Some(last) = writing {
        joined(last.await)?;
    }
    Ok(reached)
}

/// Applies `events` and encodes what changed, under the view's write lock
/// (the binary encoding is cheaper than cloning the rows out); the batch
/// is written later, outside the lock.
fn apply_page<V: Checkpointed>(
    view: &RwLock<V>,
    events: &[RecordedEvent],
) -> Result<(Writes, u64), ProjectionError> {
    let mut view = write(view);
    let mut dirty = BTreeSet::new();
    apply_events(&mut *view, events, &mut dirty)?;
    Ok((Writes::of(&mut *view, &dirty)?, view.applied_position()))
}

/// What one checkpoint writes.
struct Writes {
    /// The changed entries, in the view's tree with the position.
    rows: Vec<Encoded>,
    /// Side values, before them.
    side: Vec<Encoded>,
}

impl Writes {
    /// The `dirty` entries of `view` and its side values, encoded.
    fn of<V: Checkpointed>(
        view: &mut V,
        dirty: &BTreeSet<V::Changed>,
    ) -> Result<Writes, ProjectionError> {
        Ok(Writes {
            rows: view.encode_changed(dirty)?,
            side: view.take_side_values(),
        })
    }

    /// Writes the side values, then the rows and `applied` in one batch.
    /// Blocking.
    fn write(self, trees: &Trees, applied: u64) -> Result<(), ProjectionError> {
        if let Some(side) = &trees.side {
            for (key, value) in self.side {
                side.insert(key, value)?;
            }
        }
        trees.main.apply_batch(batch(self.rows, applied))?;
        Ok(())
    }
}

/// Writes one checkpoint on the blocking pool.
fn write_checkpoint(
    trees: &Trees,
    writes: Writes,
    applied: u64,
) -> tokio::task::JoinHandle<Result<(), ProjectionError>> {
    let trees = trees.clone();
    tokio::task::spawn_blocking(move || writes.write(&trees, applied))
}

fn joined(
    result: Result<Result<(), ProjectionError>, tokio::task::JoinError>,
) -> Result<(), ProjectionError> {
    result.map_err(|error| ProjectionError::Checkpoint(error.to_string()))?
}

/// Pages the catch-up reader fetches ahead of the one being applied.
pub const PAGES_AHEAD: usize = 2;

/// A stored key and its encoded value.
pub(crate) type Encoded = (Vec<u8>, Vec<u8>);

/// One atomic batch: the encoded rows and the position they reflect.
pub(crate) fn batch(rows: Vec<Encoded>, applied: u64) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in rows {
        batch.insert(key, value);
    }
    batch.insert(KEY_APPLIED, &applied.to_be_bytes());
    batch
}

fn read<V>(view: &RwLock<V>) -> std::sync::RwLockReadGuard<'_, V> {
    view.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<V>(view: &RwLock<V>) -> std::sync::RwLockWriteGuard<'_, V> {
    view.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Loads the ledger from `db`, catches up with the log, and follows it in a
/// background task until `store` closes or the task is aborted.
pub async fn start<S: EventStore + Clone>(
    store: S,
    db: ProjectionDb,
) -> Result<(Ledger, tokio::task::JoinHandle<()>), ProjectionError> {
    let loader = db.clone();
    let view = tokio::task::spawn_blocking(move || loader.load_ledger())
        .await
        .map_err(|error| ProjectionError::Checkpoint(error.to_string()))??;
    let resumed_from = view.applied();
    let view = Arc::new(RwLock::new(view));
    let started = std::time::Instant::now();
    let reached = catch_up(&store, &db, &view, &mut |_, _| {}).await?;
    tracing::info!(
        resumed_from,
        reached,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ledger caught up"
    );
    let (sender, receiver) = watch::channel(reached);
    let ledger = Ledger {
        view: view.clone(),
        applied: receiver,
    };
    let task = tokio::spawn(async move {
        if let Err(error) = follow(store, db.ledger_trees(), view, sender).await {
            tracing::error!(%error, "the ledger projection stopped");
        }
    });
    Ok((ledger, task))
}

/// Applies the log from the view's position on as it grows, publishing
/// each position applied, until `store` closes; checkpoints in `trees` what
/// it applied once [`CHECKPOINT_EVERY`] has passed since the first change
/// not checkpointed, or [`CATCH_UP_PAGE`] events wait, and when the log
/// closes.
pub(crate) async fn follow<S: EventStore, V: Checkpointed>(
    store: S,
    trees: Trees,
    view: Arc<RwLock<V>>,
    applied: watch::Sender<u64>,
) -> Result<(), ProjectionError> {
    let from = read(&view).applied_position() + 1;
    let mut events = store
        .subscribe(from, Filter::default())
        .ready_chunks(CATCH_UP_PAGE);
    // Changes applied since the last checkpoint.
    let mut dirty = BTreeSet::new();
    let mut due = Due::default();
    loop {
        let next = match due.deadline() {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), events.next()).await,
            None => Ok(events.next().await),
        };
        let chunk = match next {
            Ok(Some(chunk)) => chunk.into_iter().collect::<Result<Vec<_>, _>>()?,
            // The time is up: checkpoint what is applied.
            Err(_elapsed) => {
                due.take();
                checkpoint_dirty(&view, &mut dirty, &trees).await?;
                continue;
            }
            // The log closed: the same, then stop.
            Ok(None) => {
                if due.take() {
                    checkpoint_dirty(&view, &mut dirty, &trees).await?;
                }
                return Ok(());
            }
        };
        let position = {
            let mut view = write(&view);
            apply_events(&mut *view, &chunk, &mut dirty)?;
            view.applied_position()
        };
        // A chunk is never empty and follows the last applied event, so the position moves on.
        debug_assert!(position > *applied.borrow());
        applied.send_replace(position);
        if due.applied(chunk.len(), std::time::Instant::now()) {
            due.take();
            checkpoint_dirty(&view, &mut dirty, &trees).await?;
        }
    }
}

/// When a live view's next checkpoint is due: [`CHECKPOINT_EVERY`] after
/// the first change not checkpointed, or once [`CATCH_UP_PAGE`] events wait.
#[derive(Debug, Default)]
struct Due {
    /// When the first change not checkpointed was applied, and the events
    /// applied since.
    pending: Option<(std::time::Instant, usize)>,
}

impl Due {
    /// Counts `events` applied at `now`; whether to checkpoint now.
    fn applied(&mut self, events: usize, now: std::time::Instant) -> bool {
        let (since, waiting) = self.pending.get_or_insert((now, 0));
        *waiting += events;
        *waiting >= CATCH_UP_PAGE || now.duration_since(*since) >= CHECKPOINT_EVERY
    }

    /// When to checkpoint if no more events come; `None` with nothing pending.
    fn deadline(&self) -> Option<std::time::Instant> {
        self.pending.map(|(since, _)| since + CHECKPOINT_EVERY)
    }

    /// Forgets the pending changes (they are being checkpointed); whether
    /// there were any.
    fn take(&mut self) -> bool {
        self.pending.take().is_some()
    }
}

/// Applies `events` to `view` (held locked by the caller), adding what
/// they changed to `dirty`.
fn apply_events<V: Checkpointed>(
    view: &mut V,
    events: &[RecordedEvent],
    dirty: &mut BTreeSet<V::Changed>,
) -> Result<(), ProjectionError> {
    let _span = tracing::debug_span!(
        "projection.apply",
        projection = V::NAME,
        events = events.len()
    )
    .entered();
    for event in events {
        if let Some(changed) = view.apply_event(event)? {
            dirty.insert(changed);
        }
    }
    Ok(())
}

/// Encodes the `dirty` entries (taken) under the lock and writes them with
/// the position applied as one checkpoint.
async fn checkpoint_dirty<V: Checkpointed>(
    view: &RwLock<V>,
    dirty: &mut BTreeSet<V::Changed>,
    trees: &Trees,
) -> Result<(), ProjectionError> {
    let (writes, position) = {
        let mut view = write(view);
        let writes = Writes::of(&mut *view, &std::mem::take(dirty))?;
        (writes, view.applied_position())
    };
    joined(write_checkpoint(trees, writes, position).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::full_row_with_id;

    #[test]
    fn a_live_checkpoint_is_due_after_the_interval_or_a_full_page() {
        let start = std::time::Instant::now();
        let mut due = Due::default();
        assert_eq!(due.deadline(), None);
        assert!(!due.take());
        // Commits of one event each: one checkpoint per interval, not per commit.
        assert!(!due.applied(1, start));
        assert_eq!(due.deadline(), Some(start + CHECKPOINT_EVERY));
        assert!(!due.applied(1, start + CHECKPOINT_EVERY / 2));
        assert_eq!(due.deadline(), Some(start + CHECKPOINT_EVERY));
        assert!(due.applied(1, start + CHECKPOINT_EVERY));
        assert!(due.take());
        assert_eq!(due.deadline(), None);
        // A burst fills a page before the interval ends.
        let later = start + CHECKPOINT_EVERY * 3;
        assert!(!due.applied(CATCH_UP_PAGE - 1, later));
        assert!(due.applied(1, later));
        assert!(due.take());
        // Nothing more came: the deadline alone makes it due (the follower
        // checkpoints when it passes).
        assert!(!due.applied(1, later));
        assert_eq!(due.deadline(), Some(later + CHECKPOINT_EVERY));
    }

    /// A store in `dir` with bigram blocks of `block` slots, holding a
    /// checkpoint of `count` rows (ids `RC-00000` on) at position 42; the
    /// view checkpointed and the rows it was built from.
    fn checkpointed(
        dir: &Path,
        count: usize,
        block: u32,
    ) -> (ProjectionDb, LedgerView, Vec<LedgerRow>) {
        let db = ProjectionDb::open(dir).unwrap().with_text_block_size(block);
        let rows: Vec<LedgerRow> = (0..count)
            .map(|i| full_row_with_id(&format!("RC-{i:05}")))
            .collect();
        let mut view = LedgerView::from_parts(rows.clone(), [], 42);
        view.set_text_block_size(block);
        db.checkpoint(&mut view, &all_rows(count)).unwrap();
        (db, view, rows)
    }

    /// Every row of a view of `count` rows, as changed.
    fn all_rows(count: usize) -> BTreeSet<Changed> {
        (0..count as u32).map(Changed::Complaint).collect()
    }

    #[test]
    fn a_load_in_many_chunks_keeps_every_row_and_stops_at_a_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let (db, view, rows) = checkpointed(dir.path(), SLAB_BLOCK * 2 + 7, 1_000);
        // Two full blocks of the bigram index are stored with the rows.
        let blocks: Vec<u32> = db
            .ledger_text
            .scan_prefix(PREFIX_TEXT)
            .map(|entry| key_slot(&entry.unwrap().0).unwrap())
            .collect();
        assert_eq!(blocks, vec![0, 1_000]);
        let loaded = db.load_ledger().unwrap();
        assert_eq!(loaded, view);
        assert!(loaded.index_is_consistent());
        // Rows come back in slot order, which is the order they were given.
        assert!(
            loaded
                .rows()
                .map(LedgerRow::id)
                .eq(rows.iter().map(LedgerRow::id))
        );
        let filter = crate::ledger::LedgerFilter {
            text: Some("rc-01500".into()),
            ..Default::default()
        };
        let found = loaded.matching(&crate::ledger::Scope::All, &filter, chrono::Utc::now());
        assert_eq!(
            found.map(LedgerRow::id).collect::<Vec<_>>(),
            vec!["RC-01500"]
        );

        // A damaged row in the second half stops the load, named.
        let damaged = slot_key(PREFIX_ROW, 1_500);
        let good = db.ledger.insert(&damaged, &[0xff][..]).unwrap().unwrap();
        let error = db.load_ledger().unwrap_err().to_string();
        assert!(error.contains("row of slot 1500"), "{error}");
        // So does a missing one.
        db.ledger.remove(&damaged).unwrap();
        let error = db.load_ledger().unwrap_err().to_string();
        assert!(error.contains("the row of slot 1500 is missing"), "{error}");
        db.ledger.insert(&damaged, good).unwrap();
        assert_eq!(db.load_ledger().unwrap(), view);

        // And a damaged or misplaced bigram block.
        let block = slot_key(PREFIX_TEXT, 1_000);
        let good = db.ledger_text.insert(&block, &[0x01][..]).unwrap().unwrap();
        let error = db.load_ledger().unwrap_err().to_string();
        assert!(error.contains("bigram block from slot 1000"), "{error}");
        db.ledger_text.remove(&block).unwrap();
        db.ledger_text
            .insert(slot_key(PREFIX_TEXT, 1_001), good.clone())
            .unwrap();
        let error = db.load_ledger().unwrap_err().to_string();
        assert!(error.contains("disagree"), "{error}");
        db.ledger_text.remove(slot_key(PREFIX_TEXT, 1_001)).unwrap();
        db.ledger_text.insert(&block, good).unwrap();

        // A block written just before a crash, ahead of its rows, is left
        // for the checkpoint that completes it.
        let mut ahead = Vec::new();
        codec::encode_text_block(2_000..3_000, &[], &mut ahead);
        db.ledger_text
            .insert(slot_key(PREFIX_TEXT, 2_000), ahead)
            .unwrap();
        let loaded = db.load_ledger().unwrap();
        assert_eq!(loaded, view);
        assert!(loaded.index_is_consistent());
    }

    /// A store written in an older format (as a server upgraded across a
    /// format change finds it) is dropped whole, bigram blocks included,
    /// and the view starts empty at position 0, to be caught up from the
    /// log; the store then takes checkpoints in the current format.
    #[test]
    fn a_store_in_an_older_format_is_dropped_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let (db, mut view, _) = checkpointed(dir.path(), 5, 2);
        assert_eq!(db.load_ledger().unwrap(), view);
        db.ledger
            .insert(KEY_FORMAT, &(LEDGER_FORMAT - 1).to_be_bytes())
            .unwrap();
        let reloaded = db.load_ledger().unwrap();
        assert_eq!(reloaded, LedgerView::default());
        assert_eq!(reloaded.applied(), 0);
        assert_eq!(db.ledger.len(), 1, "only the format number is left");
        assert!(db.ledger_text.is_empty());
        assert_eq!(
            db.ledger
                .get(KEY_FORMAT)
                .unwrap()
                .map(|v| read_u64(&v).unwrap()),
            Some(LEDGER_FORMAT)
        );
        db.checkpoint(&mut view, &all_rows(5)).unwrap();
        assert_eq!(db.load_ledger().unwrap(), view);
    }
}
