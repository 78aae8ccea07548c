//! The sled backend: an append-only segment file for the log body, sled
//! for the indexes, one writer thread, group commit.
//!
//! # Layout: format 5
//!
//! The log body is the segment file `events.seg` in the data directory: the
//! batch values of every commit, in position order, each framed as a record
//! (see `segment` for the frame and `batch` for the value: the envelopes of
//! consecutive positions with their chain hashes, under one checksum). A
//! commit that sets or destroys stream secrets starts with a secrets record
//! (see `secrets`) holding those changes. The
//! event ids are indexed in sorted, immutable run files in the directory
//! `event-ids` (see `idruns`). The sled tree beside them holds (big-endian
//! numbers in keys):
//!
//! | key | value |
//! | --- | --- |
//! | `Mformat` | the on-disk format version, u32: `5` |
//! | `B` first position:u64 | where the batch starting there is in the segment file: offset:u64, length:u32 (little-endian) |
//! | `T` len:u16 stream first version:u64 | a run of the stream's events: batch:u64, offset:u32, count:u32 (little-endian) |
//! | `Mindexed` | the last position whose `B` and `T` entries are in sled, and the segment offset after it |
//! | `M` `streams` | number of streams:u64 |
//! | `K` stream name | the stream's secret (outside the hash chain) |
//! | `L` stream name | where that secret's bytes are in the segment file: offset:u64, length:u32 (little-endian) |
//! | `Z` offset:u64 length:u32 | a replaced or destroyed secret's bytes in the segment file, still to be overwritten with zeros |
//!
//! Format 4 differed only in keeping secrets in sled alone (no secrets
//! records, no `L` or `Z`; a commit changing secrets was flagged and
//! confirmed by a flush of sled); it opens as format 5 as it is. Format 3
//! also kept the id index in sled (`X` event-id → batch, offset, and the
//! marker `Mids`); `upgrade` converts it.
//!
//! An event at (batch, offset) has position batch + offset. A commit of n
//! events writes batch values of at most [`BATCH_VALUE_BYTES`] (32 KiB,
//! about 75 events of 300 bytes) each, as consecutive records with one
//! `write`; the last record carries the commit's end flag. Every read
//! checks the frame and the checksum of each record it touches before using
//! any of it, and reads only whole records. Format 2 (the batch values in
//! sled, see `legacy_v2`) and format 1 (one key per event, see `legacy_v1`)
//! are refused by [`SledStore::open`] with [`StoreError::Format`];
//! `upgrade` converts both.
//!
//! # Write path
//!
//! Appenders validate limits, take a permit of the bounded queue and send
//! their request to the single writer thread. The writer drains up to
//! `max_batch_events` events' worth of requests, decides each one in order
//! (idempotency, expected version against the committed head *or* the head
//! left by an earlier request of the same batch), assigns versions and
//! positions and chains hashes. Then, for the accepted requests together:
//!
//! 1. one `write` of their records to the segment file and, with
//!    [`Durability::Fsync`], one `fdatasync` of it: the commit point;
//! 2. one `sled::Batch` of their `B` and `T` entries, the stream count,
//!    their secret changes (`K`, `L`) and `Mindexed` (not flushed: the
//!    segment file is the truth, and an open re-indexes what sled lost,
//!    secrets included). A commit with secret changes writes them in a
//!    secrets record before its events, in the same `write`, and syncs the
//!    segment file whatever the durability, so its secrets and its events
//!    are durable together or cut off together. When it replaces or
//!    destroys a secret whose bytes are in the segment file, it also lists
//!    those bytes under `Z`, flushes and syncs sled, overwrites them with
//!    zeros, syncs the segment file and drops the `Z` entries, all before
//!    the acknowledgement; an open finishes any erasure `Z` still lists;
//! 3. their event ids go into an in-memory map of the not-yet-indexed tail,
//!    which the writer's idempotency check and `find_event` consult before
//!    the id runs, and the appends are acknowledged;
//! 4. the id indexer thread collects them behind the writer and, once
//!    `StoreConfig::id_run_events` are waiting, writes them as a
//!    run and then drops them from the map.
//!
//! A rejected request writes nothing. If any step fails, every request of
//! the commit gets the error and the writer stops taking appends (the
//! segment file may hold the commit; reopening the store decides, as after
//! a crash).
//!
//! # Open
//!
//! [`SledStore::open`] reads the segment file after `Mindexed`: each whole,
//! checked commit is indexed again (`B`, `T`, stream count); an unfinished
//! commit at the end (records after the last end flag, a torn or cut-short
//! record, a format-4 secret change sled did not confirm) is cut off the file, never
//! half-read. A damaged record followed by a good one is not a torn tail
//! and fails the open with [`StoreError::Corrupt`]. Then the ids after the
//! last run are read again from the segment file into the map of step 3,
//! so idempotency stays exact across a crash.
//!
//! Readers only see positions up to the committed head, which advances
//! after step 2, so nothing is observable before it is durable.
//!
//! # Reads of the tail
//!
//! The writer keeps the events of its latest commits (about 4,096 events)
//! in memory, the same copies it sends to live subscribers, and stores them
//! there before it moves the committed head. `read_all` from a position the
//! window still holds is answered from it, without a blocking task or a
//! segment read: the receipt of an event just appended reads it back this
//! way. Older positions are read from the segment file as above.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, oneshot};

use crate::batch::{self, BatchBuilder};
use crate::envelope::{self, GENESIS_HASH};
use crate::idruns::{IDS_DIR, RunWriter, Runs, Unindexed};
use crate::indexer::Indexer;
use crate::keys::{
    ERASE, FORMAT_4, FORMAT_KEY, FORMAT_VERSION, INDEXED_KEY, SECRET, STREAMS_KEY, secret_copy_key,
    secret_key, storage, stored_format,
};
use crate::legacy_v1;
use crate::recover;
use crate::secrets;
use crate::segment::{self, END, Next, Place, Records, SECRETS};
use crate::subscription::Subscription;
use crate::{
    AppendOutcome, Direction, Durability, EventStore, ExpectedVersion, Filter, NewEvent,
    RecordedEvent, SecretChange, StoreConfig, StoreError, StoreStats, Uuid, VerifyProgress,
    VerifyReport,
};

pub(crate) const BATCH: u8 = b'B';
pub(crate) const STREAM: u8 = b'T';
/// Formats 2 and 3: the id index's prefix in sled.
pub(crate) const ID: u8 = b'X';
/// Largest batch value the writer starts a new value after (a single
/// larger event still gets a value of its own). sled moves values over a
/// quarter of its 512 KiB segment into blob files, one file each.
pub(crate) const BATCH_VALUE_BYTES: usize = 32 * 1024;
/// Committed batches kept for live subscribers before they lag and re-read storage.
const LIVE_BATCHES: usize = 256;
/// Events of the latest commits kept in memory for reads of the log's tail
/// (tests keep few, so their reads reach the segment file).
const RECENT_EVENTS: usize = if cfg!(test) { 64 } else { 4_096 };
/// Events a lagging or catching-up subscriber reads from storage per page.
const CATCH_UP_PAGE: usize = 512;
/// Most events a read allocates room for before it finds them.
const PAGE_CAPACITY: usize = 16_384;
/// Streams whose last version the writer keeps in memory (beyond it, the
/// map starts afresh: a bound, not an LRU). Tests start it afresh often.
const KNOWN_HEADS: usize = if cfg!(test) { 16 } else { 65_536 };
/// Records verify checks per blocking step between progress reports.
const VERIFY_STEP: u64 = 16_384;

pub(crate) fn batch_key(first: u64) -> [u8; 9] {
    let mut key = [BATCH; 9];
    key[1..].copy_from_slice(&first.to_be_bytes());
    key
}

pub(crate) fn stream_prefix(stream: &str) -> Vec<u8> {
    let len = u16::try_from(stream.len()).expect("stream name length checked against limits");
    let mut key = Vec::with_capacity(3 + stream.len() + 8);
    key.push(STREAM);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(stream.as_bytes());
    key
}

pub(crate) fn stream_key(prefix: &[u8], version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

pub(crate) fn id_key(id: Uuid) -> [u8; 17] {
    let mut key = [ID; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

pub(crate) fn be_u64(bytes: &[u8], position: u64) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "key is not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(array))
}

/// Where an event is stored: the first position of its batch value and
/// its index there. Its position is `batch + offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) batch: u64,
    pub(crate) offset: u32,
}

impl Loc {
    pub(crate) fn position(self) -> u64 {
        self.batch + u64::from(self.offset)
    }

    /// The `X` value.
    pub(crate) fn encode(self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..8].copy_from_slice(&self.batch.to_le_bytes());
        out[8..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    /// The `T` value of a run of `count` events starting here.
    pub(crate) fn encode_run(self, count: u32) -> [u8; 16] {
        let mut out = [0; 16];
        out[..12].copy_from_slice(&self.encode());
        out[12..].copy_from_slice(&count.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Loc, StoreError> {
        let bad = || StoreError::Corrupt {
            position: 0,
            reason: "index value has the wrong length".into(),
        };
        let batch = bytes.get(..8).ok_or_else(bad)?;
        let offset = bytes.get(8..12).ok_or_else(bad)?;
        Ok(Loc {
            batch: u64::from_le_bytes(batch.try_into().expect("8 bytes")),
            offset: u32::from_le_bytes(offset.try_into().expect("4 bytes")),
        })
    }
}

/// One `T` entry: `count` events of a stream from `first_version`, at
/// consecutive positions from `loc`.
#[derive(Debug, Clone, Copy)]
struct Run {
    first_version: u64,
    loc: Loc,
    count: u64,
}

impl Run {
    fn decode(key: &[u8], prefix_len: usize, value: &[u8]) -> Result<Run, StoreError> {
        let loc = Loc::decode(value)?;
        let count = value
            .get(12..16)
            .filter(|_| value.len() == 16)
            .map(|b| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .filter(|&c| c > 0)
            .ok_or(StoreError::Corrupt {
                position: loc.position(),
                reason: "stream index entry has no count".into(),
            })?;
        Ok(Run {
            first_version: be_u64(&key[prefix_len..], loc.position())?,
            loc,
            count,
        })
    }

    fn last_version(&self) -> u64 {
        self.first_version + self.count - 1
    }
}

/// The embedded event store. Cloning is cheap and shares the store.
#[derive(Debug, Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Read side shared with subscription tasks.
    reader: Reader,
    /// Validated limits and durability.
    config: StoreConfig,
    /// Requests to the writer thread; unbounded channel, bounded by `permits`.
    sender: mpsc::Sender<Message>,
    /// One permit per queued append: the bound of the writer's queue.
    permits: Arc<Semaphore>,
    /// Live feed of committed batches, for subscriptions.
    live: broadcast::Sender<Arc<[RecordedEvent]>>,
    /// The writer thread, joined on shutdown.
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.config.path)
            .field("durability", &self.config.durability)
            .field("head", &self.reader.head())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            tracing::error!(%error, "final flush of the event store failed");
        }
    }
}

impl Inner {
    fn stop(&self) -> Result<(), StoreError> {
        let (reply, done) = mpsc::channel();
        let result = match self.sender.send(Message::Shutdown(reply)) {
            Ok(()) => done.recv().unwrap_or(Ok(())),
            Err(_) => Ok(()),
        };
        let handle = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        result
    }
}

enum Message {
    Append(Request),
    Shutdown(mpsc::Sender<Result<(), StoreError>>),
}

struct Request {
    stream: String,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    secret: SecretChange,
    reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
    /// Released when the writer is done with the request.
    _permit: OwnedSemaphorePermit,
}

impl SledStore {
    /// Opens (or creates) the store in `config.path`. Blocking: async
    /// callers use `spawn_blocking`.
    pub fn open(config: StoreConfig) -> Result<SledStore, StoreError> {
        check_config(&config)?;
        std::fs::create_dir_all(&config.path)?;
        let flush_every_ms = match config.durability {
            // sled's background flusher also cleans segments; keep it.
            Durability::Fsync => 1_000,
            Durability::Interval { every_ms } => every_ms.max(1),
        };
        let db = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity_bytes)
            .flush_every_ms(Some(flush_every_ms))
            .open()
            .map_err(storage)?;
        check_format(&db, &config.path)?;
        let file = Arc::new(segment::open(&config.path)?);
        let body = Body {
            db: db.clone(),
            file: file.clone(),
        };
        let interval = matches!(config.durability, Durability::Interval { .. });
        let recovered = recover::recover(&body, interval)?;
        db.flush().map_err(storage)?;
        erase_pending(&body, recovered.len)?;
        let files = DataFiles::open(&config.path)?;
        let committed = Arc::new(AtomicU64::new(recovered.head));
        let committed_len = Arc::new(AtomicU64::new(recovered.len));
        let streams = Arc::new(AtomicU64::new(recovered.streams));
        let unindexed = Unindexed::default();
        let run_writer = RunWriter::open(
            &config.path.join(IDS_DIR),
            config.id_run_events,
            &body,
            recovered.head,
            recovered.len,
            &unindexed,
        )?;
        let runs = run_writer.runs();
        let reader = Reader {
            body: body.clone(),
            committed: committed.clone(),
            committed_len: committed_len.clone(),
            streams: streams.clone(),
            unindexed: unindexed.clone(),
            runs: runs.clone(),
            recent: Arc::default(),
        };
        let indexer = Indexer::start(run_writer, unindexed.clone())?;
        let (live, _) = broadcast::channel(LIVE_BATCHES);
        let (sender, receiver) = mpsc::channel();
        let mut writer = Writer {
            body,
            len: recovered.len,
            files,
            durability: config.durability,
            max_batch_events: config.max_batch_events,
            head: recovered.head,
            last_hash: recovered.hash,
            streams: recovered.streams,
            committed,
            committed_len,
            streams_shared: streams,
            live: live.clone(),
            recent: reader.recent.clone(),
            unindexed,
            runs,
            known_heads: HashMap::new(),
            indexer: Some(indexer),
            failed: None,
            unsynced: None,
        };
        let handle = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || writer.run(receiver))?;
        Ok(SledStore {
            inner: Arc::new(Inner {
                reader,
                permits: Arc::new(Semaphore::new(config.max_queued_appends)),
                config,
                sender,
                live,
                writer: Mutex::new(Some(handle)),
            }),
        })
    }

    /// Stops the writer after the queued appends and makes everything
    /// durable. Later appends fail with [`StoreError::Closed`]. Blocking.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.permits.close();
        self.inner.stop()
    }

    /// Event, stream and disk-size figures.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            events: self.inner.reader.head(),
            streams: self.inner.reader.streams.load(Ordering::Acquire),
            size_on_disk_bytes: self.inner.reader.body.db.size_on_disk().map_err(storage)?
                + self.inner.reader.committed_len.load(Ordering::Acquire)
                + self.inner.reader.runs.bytes(),
        })
    }

    /// The id index's runs.
    #[cfg(test)]
    pub(crate) fn id_runs(&self) -> Runs {
        self.inner.reader.runs.clone()
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Every stream secret, in stream-name order (maintenance, e.g. master
    /// key rotation). Blocking.
    pub fn secrets(&self) -> impl Iterator<Item = Result<(String, Vec<u8>), StoreError>> + '_ {
        self.inner
            .reader
            .body
            .db
            .scan_prefix([SECRET])
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                let stream =
                    String::from_utf8(key[1..].to_vec()).map_err(|_| StoreError::Corrupt {
                        position: 0,
                        reason: "a secret's stream name is not UTF-8".into(),
                    })?;
                Ok((stream, value.to_vec()))
            })
    }

    /// Replaces existing stream secrets with new bytes of the same meaning
    /// (a re-wrapped key), atomically, and makes them durable. A secret
    /// destroyed in the meantime stays destroyed. Maintenance for a store
    /// no server is using; it writes no event. Blocking.
    pub fn replace_secrets(&self, secrets: &[(String, Vec<u8>)]) -> Result<u64, StoreError> {
        let db = &self.inner.reader.body.db;
        let mut batch = sled::Batch::default();
        let mut replaced = 0;
        for (stream, secret) in secrets {
            let key = secret_key(stream);
            if db.contains_key(&key).map_err(storage)? {
                batch.insert(key, secret.as_slice());
                replaced += 1;
            }
        }
        db.apply_batch(batch).map_err(storage)?;
        db.flush().map_err(storage)?;
        Ok(replaced)
    }

    fn validate(
        &self,
        stream: &str,
        events: &[NewEvent],
        secret: &SecretChange,
    ) -> Result<(), StoreError> {
        validate_append(&self.inner.config, stream, events, secret)
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Reader) -> Result<T, StoreError> + Send + 'static,
    {
        let reader = self.inner.reader.clone();
        tokio::task::spawn_blocking(move || f(reader))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

/// Checks an append (and the secret it sets) against the limits of
/// `config`; shared by the backends.
pub(crate) fn validate_append(
    config: &StoreConfig,
    stream: &str,
    events: &[NewEvent],
    secret: &SecretChange,
) -> Result<(), StoreError> {
    if let SecretChange::Set(bytes) = secret {
        limit("secret bytes", config.max_event_bytes, bytes.len())?;
    }
    if stream.is_empty() {
        return Err(StoreError::InvalidArgument("empty stream name".into()));
    }
    limit(
        "stream name bytes",
        config.max_stream_name_bytes,
        stream.len(),
    )?;
    if events.is_empty() {
        return Err(StoreError::InvalidArgument("an append needs events".into()));
    }
    limit(
        "events per append",
        config.max_events_per_append,
        events.len(),
    )?;
    for (i, event) in events.iter().enumerate() {
        if event.event_type.is_empty() {
            return Err(StoreError::InvalidArgument(format!(
                "event {} has an empty event type",
                event.id
            )));
        }
        let size = envelope::variable_len("", &event.event_type, &event.payload, &event.metadata);
        limit("event bytes", config.max_event_bytes, size)?;
        if events[..i].iter().any(|other| other.id == event.id) {
            return Err(StoreError::InvalidArgument(format!(
                "event id {} appears twice in one append",
                event.id
            )));
        }
    }
    Ok(())
}

pub(crate) fn limit(what: &'static str, limit: usize, actual: usize) -> Result<(), StoreError> {
    if actual > limit {
        return Err(StoreError::LimitExceeded {
            what,
            limit: limit as u64,
            actual: actual as u64,
        });
    }
    Ok(())
}

pub(crate) fn check_config(config: &StoreConfig) -> Result<(), StoreError> {
    let bad = |what: &str| Err(StoreError::InvalidArgument(format!("store config: {what}")));
    if config.max_events_per_append == 0
        || config.max_queued_appends == 0
        || config.id_run_events == 0
    {
        return bad("limits must be positive");
    }
    if config.max_batch_events < config.max_events_per_append {
        return bad("max_batch_events must be at least max_events_per_append");
    }
    if config.max_stream_name_bytes > usize::from(u16::MAX) {
        return bad("max_stream_name_bytes must fit in 16 bits");
    }
    if config.max_event_bytes > (u32::MAX / 2) as usize {
        return bad("max_event_bytes too large");
    }
    if config.max_queued_appends > Semaphore::MAX_PERMITS {
        return bad("max_queued_appends too large");
    }
    Ok(())
}

/// Checks the stored format version; marks a new, empty store as the current format.
fn check_format(db: &sled::Db, dir: &Path) -> Result<(), StoreError> {
    match stored_format(db)? {
        Some(FORMAT_VERSION) => Ok(()),
        Some(FORMAT_4) => {
            // Format 5 reads format 4 as it is; the new marker keeps builds
            // that know only format 4 from misreading secrets records.
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
                .map_err(storage)?;
            db.flush().map_err(storage)?;
            tracing::info!("event log format 4 opened as format 5: nothing to convert");
            Ok(())
        }
        Some(found) => Err(StoreError::Format {
            found,
            supported: FORMAT_VERSION,
        }),
        None if legacy_v1::has_v1_keys(db)? || db.get(STREAMS_KEY).map_err(storage)?.is_some() => {
            Err(StoreError::Format {
                found: 1,
                supported: FORMAT_VERSION,
            })
        }
        None => {
            let segment = dir.join(segment::SEGMENT_FILE);
            let has_body = segment.metadata().map(|m| m.len() > 0).unwrap_or(false);
            if has_body || db.scan_prefix([BATCH]).next().is_some() {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: "a log body without a format version".into(),
                });
            }
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
                .map_err(storage)?;
            db.flush().map_err(storage)?;
            Ok(())
        }
    }
}

/// Handles to the files whose data must reach the disk before an ack.
struct DataFiles {
    /// sled's single data file.
    db_file: File,
    /// Where sled puts values too large for a segment.
    blobs_dir: PathBuf,
    /// Highest blob id already synced (blob names are increasing log sequence numbers).
    blobs_synced: u64,
}

impl DataFiles {
    fn open(dir: &Path) -> Result<DataFiles, StoreError> {
        let db_file = File::open(dir.join("db"))?;
        // Make the files sled created at open, and their directory entries, durable.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                File::open(entry.path())?.sync_all()?;
            }
        }
        File::open(dir)?.sync_all()?;
        let mut files = DataFiles {
            db_file,
            blobs_dir: dir.join("blobs"),
            blobs_synced: 0,
        };
        files.sync()?;
        Ok(files)
    }

    /// `fdatasync` of the data file and of blob files written since the last call.
    fn sync(&mut self) -> std::io::Result<()> {
        self.db_file.sync_data()?;
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced_any = false;
        for entry in entries {
            let entry = entry?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if id <= self.blobs_synced {
                continue;
            }
            match File::open(entry.path()) {
                Ok(file) => file.sync_data()?,
                // sled removed it in the meantime: nothing to make durable.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            self.blobs_synced = self.blobs_synced.max(id);
            synced_any = true;
        }
        if synced_any {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// The single writer: owns ordering, hashing and commits.
struct Writer {
    /// sled and the segment file.
    body: Body,
    /// Bytes of the segment file written.
    len: u64,
    files: DataFiles,
    durability: Durability,
    max_batch_events: usize,
    /// Last written position.
    head: u64,
    /// Hash of the event at `head`.
    last_hash: [u8; 32],
    /// Streams with at least one event.
    streams: u64,
    /// Head visible to readers.
    committed: Arc<AtomicU64>,
    /// Segment bytes readers may read.
    committed_len: Arc<AtomicU64>,
    /// Stream count visible to `stats`.
    streams_shared: Arc<AtomicU64>,
    live: broadcast::Sender<Arc<[RecordedEvent]>>,
    /// The window of recent commits readers share.
    recent: Arc<RwLock<Recent>>,
    /// Ids committed but not yet in a run of the id index.
    unindexed: Unindexed,
    /// The id index's runs.
    runs: Runs,
    /// The last version of streams this writer appended to, so deciding
    /// an append to them reads no sled index (at most [`KNOWN_HEADS`]).
    known_heads: HashMap<String, u64>,
    /// Writes the id index's runs behind the writer; `None` after shutdown.
    indexer: Option<Indexer>,
    /// Why the writer stopped taking appends, after a failed commit.
    failed: Option<String>,
    /// With [`Durability::Interval`]: when the oldest write not yet synced was made.
    unsynced: Option<Instant>,
}

/// One request's fate within a batch.
enum Planned {
    Rejected(StoreError),
    Deduplicated(AppendOutcome),
    Accepted(AppendOutcome),
}

/// The batch values of one commit, filled in position order.
#[derive(Default)]
pub(crate) struct Values {
    done: Vec<(u64, Vec<u8>)>,
    current: Option<BatchBuilder>,
}

impl Values {
    /// Adds the envelope of `position` (the next one); returns where it goes.
    pub(crate) fn push(&mut self, position: u64, envelope: &[u8]) -> Loc {
        if let Some(current) = &self.current
            && current.count() > 0
            && current.len() + 4 + envelope.len() > BATCH_VALUE_BYTES
        {
            let full = self.current.take().expect("checked above");
            self.done.push(full.finish());
        }
        let current = self
            .current
            .get_or_insert_with(|| BatchBuilder::new(position, BATCH_VALUE_BYTES));
        debug_assert_eq!(current.first() + u64::from(current.count()), position);
        let loc = Loc {
            batch: current.first(),
            offset: current.count(),
        };
        current.push(envelope);
        loc
    }

    pub(crate) fn finish(mut self) -> Vec<(u64, Vec<u8>)> {
        if let Some(current) = self.current.take() {
            self.done.push(current.finish());
        }
        self.done
    }
}

/// The writes of one commit while its requests (which outlive it) are
/// decided.
struct Plan<'r> {
    writes: sled::Batch,
    values: Values,
    /// Accepted events, in position order after the committed head.
    pending: Vec<RecordedEvent>,
    pending_ids: HashMap<Uuid, u64>,
    /// Where each accepted event goes, for the id index.
    ids: Vec<(Uuid, Loc)>,
    /// The accepted requests' secret changes, in order: `None` destroys.
    secrets: Vec<(&'r str, Option<&'r [u8]>)>,
    /// Stream heads left by earlier requests of this commit.
    heads: HashMap<String, Option<u64>>,
    head: u64,
    hash: [u8; 32],
    new_streams: u64,
}

impl<'r> Plan<'r> {
    fn new(head: u64, hash: [u8; 32]) -> Plan<'r> {
        Plan {
            writes: sled::Batch::default(),
            values: Values::default(),
            pending: Vec::new(),
            pending_ids: HashMap::new(),
            ids: Vec::new(),
            secrets: Vec::new(),
            heads: HashMap::new(),
            head,
            hash,
            new_streams: 0,
        }
    }

    /// Orders, hashes and stages an append whose stream is at `actual`.
    fn accept(&mut self, request: &'r Request, actual: Option<u64>) -> AppendOutcome {
        let first_version = actual.map_or(0, |v| v + 1);
        let first_position = self.head + 1;
        let mut first_loc = None;
        for (i, new) in request.events.iter().enumerate() {
            self.head += 1;
            let (event, value) = envelope::seal(
                &request.stream,
                new,
                first_version + i as u64,
                self.head,
                &self.hash,
            );
            self.hash = event.hash;
            let loc = self.values.push(self.head, &value);
            first_loc.get_or_insert(loc);
            self.ids.push((new.id, loc));
            self.pending_ids.insert(new.id, self.head);
            self.pending.push(event);
        }
        let count = u32::try_from(request.events.len()).expect("events per append checked");
        let loc = first_loc.expect("an append has events");
        self.writes.insert(
            stream_key(&stream_prefix(&request.stream), first_version),
            &loc.encode_run(count),
        );
        let last_version = first_version + u64::from(count) - 1;
        if actual.is_none() {
            self.new_streams += 1;
        }
        match &request.secret {
            SecretChange::Keep => {}
            SecretChange::Set(secret) => self.secrets.push((&request.stream, Some(secret))),
            SecretChange::Destroy => self.secrets.push((&request.stream, None)),
        }
        self.heads
            .insert(request.stream.clone(), Some(last_version));
        AppendOutcome {
            first_version,
            last_version,
            first_position,
            last_position: self.head,
            deduplicated: false,
        }
    }
}

impl Writer {
    fn run(&mut self, receiver: mpsc::Receiver<Message>) {
        while let Some(first) = self.next_message(&receiver) {
            let mut batch = Vec::new();
            let mut events = 0;
            let mut shutdown = None;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Append(request) => {
                        events += request.events.len();
                        batch.push(request);
                    }
                    Message::Shutdown(reply) => shutdown = Some(reply),
                }
                if shutdown.is_none() && events < self.max_batch_events {
                    next = receiver.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
            if let Some(reply) = shutdown {
                let result = self.close();
                let _ = reply.send(result);
                return;
            }
        }
        if let Err(error) = self.close() {
            tracing::error!(%error, "final flush of the event store failed");
        }
    }

    /// The next message; with [`Durability::Interval`], syncs the segment
    /// file when the oldest unsynced write is `every_ms` old.
    fn next_message(&mut self, receiver: &mpsc::Receiver<Message>) -> Option<Message> {
        loop {
            let (Some(since), Durability::Interval { every_ms }) = (self.unsynced, self.durability)
            else {
                return receiver.recv().ok();
            };
            let wait = Duration::from_millis(every_ms).saturating_sub(since.elapsed());
            match receiver.recv_timeout(wait) {
                Ok(message) => return Some(message),
                Err(mpsc::RecvTimeoutError::Timeout) => self.interval_sync(),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn interval_sync(&mut self) {
        match self.body.file.sync_data() {
            Ok(()) => self.unsynced = None,
            Err(error) => self.fail(&StoreError::Io(error)),
        }
    }

    /// Stops the indexer after its queue and makes everything durable.
    fn close(&mut self) -> Result<(), StoreError> {
        if let Some(indexer) = self.indexer.take() {
            indexer.stop();
        }
        self.body.file.sync_data()?;
        self.unsynced = None;
        self.body.db.flush().map_err(storage)?;
        self.files.sync()?;
        Ok(())
    }

    fn fail(&mut self, error: &StoreError) {
        tracing::error!(%error, "the event log stops taking appends after a failed write");
        self.failed = Some(error.to_string());
    }

    /// Decides one request against the committed log and the plan so far.
    fn decide<'r>(&self, request: &'r Request, plan: &mut Plan<'r>) -> Planned {
        match self.dedup(request, &plan.pending, &plan.pending_ids) {
            Err(error) => Planned::Rejected(error),
            Ok(Some(outcome)) => Planned::Deduplicated(outcome),
            Ok(None) => match self.current(&request.stream, &plan.heads) {
                Err(error) => Planned::Rejected(error),
                Ok(actual) if !request.expected.admits(actual) => {
                    Planned::Rejected(StoreError::Conflict {
                        stream: request.stream.clone(),
                        expected: request.expected,
                        actual,
                    })
                }
                Ok(actual) => Planned::Accepted(plan.accept(request, actual)),
            },
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        metrics::counter!("rectify_eventlog_appends_total").increment(batch.len() as u64);
        if self.failed.is_none() && self.indexer.as_ref().is_some_and(Indexer::failed) {
            self.failed = Some("writing the event id index failed".into());
        }
        if let Some(reason) = &self.failed {
            for request in batch {
                let _ = request
                    .reply
                    .send(Err(StoreError::Io(std::io::Error::other(format!(
                        "the event log stopped taking appends after a failed write ({reason}); \
                     reopen the store"
                    )))));
            }
            return;
        }
        let mut plan = Plan::new(self.head, self.last_hash);
        let fates: Vec<Planned> = batch.iter().map(|r| self.decide(r, &mut plan)).collect();
        let wrote = !plan.pending.is_empty();
        let stored = if wrote { self.store(&mut plan) } else { Ok(()) };
        let failure = match stored {
            Ok(()) => {
                if wrote {
                    // The single writer gave each event the next position after the committed head.
                    debug_assert_eq!(plan.head - self.head, plan.pending.len() as u64);
                    let events: Arc<[RecordedEvent]> = Arc::from(std::mem::take(&mut plan.pending));
                    // Before the head moves, so a reader at the new head finds them.
                    self.recent
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(events.clone());
                    self.unindexed.insert(&plan.ids);
                    self.remember_heads(&mut plan.heads);
                    self.head = plan.head;
                    self.last_hash = plan.hash;
                    self.streams += plan.new_streams;
                    self.committed_len.store(self.len, Ordering::Release);
                    self.committed.store(plan.head, Ordering::Release);
                    self.streams_shared.store(self.streams, Ordering::Release);
                    // No receivers is fine.
                    let _ = self.live.send(events);
                }
                None
            }
            Err(error) => {
                self.fail(&error);
                Some(error.to_string())
            }
        };
        // The plan borrows from the requests, which the replies consume.
        let (ids, head) = (std::mem::take(&mut plan.ids), plan.head);
        drop(plan);
        for (request, fate) in batch.into_iter().zip(fates) {
            let result = match (fate, &failure) {
                (Planned::Rejected(error), _) => Err(error),
                (Planned::Accepted(_) | Planned::Deduplicated(_), Some(message)) => Err(
                    StoreError::Io(std::io::Error::other(format!("commit failed: {message}"))),
                ),
                (Planned::Accepted(outcome) | Planned::Deduplicated(outcome), None) => Ok(outcome),
            };
            let _ = request.reply.send(result);
        }
        if failure.is_none()
            && wrote
            && let Some(indexer) = &self.indexer
        {
            indexer.index(ids, head);
        }
    }

    /// Writes the plan's records to the segment file (synced with
    /// [`Durability::Fsync`] or a secret change), then its index entries
    /// to sled (flushed and synced with a secret change).
    fn store(&mut self, plan: &mut Plan<'_>) -> Result<(), StoreError> {
        let mut writes = std::mem::take(&mut plan.writes);
        if plan.new_streams > 0 {
            writes.insert(
                STREAMS_KEY,
                &(self.streams + plan.new_streams).to_be_bytes(),
            );
        }
        let values = std::mem::take(&mut plan.values).finish();
        let mut records =
            Vec::with_capacity(values.iter().map(|(_, v)| v.len() + segment::FRAME).sum());
        let mut end = self.len;
        let changes_secrets = !plan.secrets.is_empty();
        let mut staged = StagedSecrets::default();
        if changes_secrets {
            let (value, places) = secrets::encode(&plan.secrets);
            let len = segment::frame(&mut records, &value, SECRETS);
            let base = end + segment::FRAME as u64;
            end += u64::from(len);
            for (&(stream, secret), at) in plan.secrets.iter().zip(places) {
                let change = secret.zip(at);
                staged.stage(&self.body.db, base, stream, change, &mut writes)?;
            }
        }
        let count = values.len();
        for (i, (first, value)) in values.iter().enumerate() {
            debug_assert!(batch::parse(value, *first).is_ok());
            let flags = if i + 1 == count { END } else { 0 };
            let len = segment::frame(&mut records, value, flags);
            writes.insert(&batch_key(*first), &Place { offset: end, len }.encode());
            end += u64::from(len);
        }
        writes.insert(INDEXED_KEY, &indexed_value(plan.head, end));
        let started = Instant::now();
        self.body.file.write_all_at(&records, self.len)?;
        self.len = end;
        if self.durability == Durability::Fsync || changes_secrets {
            self.body.file.sync_data()?;
            self.unsynced = None;
        } else {
            self.unsynced.get_or_insert_with(Instant::now);
        }
        self.body.db.apply_batch(writes).map_err(storage)?;
        if staged.erases {
            // The destroyed or replaced secrets' copies are erased once sled
            // durably holds that they are to be (and that the secret is gone).
            self.body.db.flush().map_err(storage)?;
            self.files.sync()?;
            erase_pending(&self.body, self.len)?;
        }
        if let (Some(since), Durability::Interval { every_ms }) = (self.unsynced, self.durability)
            && since.elapsed() >= Duration::from_millis(every_ms)
        {
            self.body.file.sync_data()?;
            self.unsynced = None;
        }
        let events = plan.pending.len();
        metrics::histogram!("rectify_eventlog_flush_seconds").record(started.elapsed());
        metrics::histogram!("rectify_eventlog_events_per_flush").record(events as f64);
        metrics::counter!("rectify_eventlog_flushes_total").increment(1);
        metrics::counter!("rectify_eventlog_events_total").increment(events as u64);
        Ok(())
    }

    /// Keeps the heads a commit left, once it is stored.
    fn remember_heads(&mut self, heads: &mut HashMap<String, Option<u64>>) {
        for (stream, head) in heads.drain() {
            if let Some(version) = head {
                if self.known_heads.len() >= KNOWN_HEADS && !self.known_heads.contains_key(&stream)
                {
                    self.known_heads.clear();
                }
                self.known_heads.insert(stream, version);
            }
        }
    }

    /// The stream's last version, counting earlier requests of this batch.
    fn current(
        &self,
        stream: &str,
        heads: &HashMap<String, Option<u64>>,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(head) = heads.get(stream) {
            return Ok(*head);
        }
        if let Some(&head) = self.known_heads.get(stream) {
            return Ok(Some(head));
        }
        stream_head(&self.body.db, stream, u64::MAX)
    }

    /// Where the event with this id is, if it is written: the commit being
    /// planned (`Err(position)`), the not-yet-indexed tail or the id runs.
    fn locate_id(
        &self,
        id: Uuid,
        pending_ids: &HashMap<Uuid, u64>,
    ) -> Result<Option<Result<Loc, u64>>, StoreError> {
        if let Some(&position) = pending_ids.get(&id) {
            return Ok(Some(Err(position)));
        }
        if let Some(loc) = self.unindexed.get(id) {
            return Ok(Some(Ok(loc)));
        }
        Ok(self.runs.get(id)?.map(Ok))
    }

    /// `Some(original outcome)` when every id is already written by an
    /// identical append; `None` when no id is known; an error otherwise.
    fn dedup(
        &self,
        request: &Request,
        pending: &[RecordedEvent],
        pending_ids: &HashMap<Uuid, u64>,
    ) -> Result<Option<AppendOutcome>, StoreError> {
        let mut found = Vec::with_capacity(request.events.len());
        for event in &request.events {
            found.push(self.locate_id(event.id, pending_ids)?);
        }
        let Some(first_known) = found.iter().position(Option::is_some) else {
            return Ok(None);
        };
        let mismatch = |i: usize| StoreError::IdempotencyMismatch {
            event_id: request.events[i].id,
        };
        let mut previous: Option<RecordedEvent> = None;
        let mut first = None;
        for (i, (new, at)) in request.events.iter().zip(&found).enumerate() {
            let recorded = match *at {
                None => return Err(mismatch(first_known)),
                Some(Err(position)) => pending[(position - self.head - 1) as usize].clone(),
                Some(Ok(loc)) => self.body.read_at(loc, self.len)?,
            };
            let same = recorded.stream == request.stream
                && recorded.id == new.id
                && recorded.event_type == new.event_type
                && recorded.schema_version == new.schema_version
                && recorded.payload == new.payload
                && recorded.metadata == new.metadata
                && previous.as_ref().is_none_or(|p| {
                    p.version + 1 == recorded.version && p.position + 1 == recorded.position
                });
            if !same {
                return Err(mismatch(i));
            }
            first.get_or_insert((recorded.version, recorded.position));
            previous = Some(recorded);
        }
        let (first_version, first_position) = first.expect("at least one event");
        let last = previous.expect("at least one event");
        Ok(Some(AppendOutcome {
            first_version,
            last_version: last.version,
            first_position,
            last_position: last.position,
            deduplicated: true,
        }))
    }
}

/// The `Mindexed` value.
pub(crate) fn indexed_value(position: u64, segment_end: u64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&position.to_be_bytes());
    out[8..].copy_from_slice(&segment_end.to_be_bytes());
    out
}

/// The stored log: sled's indexes and the segment file. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Body {
    pub(crate) db: sled::Db,
    pub(crate) file: Arc<File>,
}

/// What [`Body::walk`] calls with each position and its envelope; false stops it.
pub(crate) type Visit<'a> = dyn FnMut(Loc, &[u8]) -> Result<bool, StoreError> + 'a;

impl Body {
    /// The batch holding `position`: its first position and its record.
    fn locate(&self, position: u64) -> Result<Option<(u64, Place)>, StoreError> {
        match self
            .db
            .range(batch_key(0)..=batch_key(position))
            .next_back()
        {
            None => Ok(None),
            Some(entry) => {
                let (key, value) = entry.map_err(storage)?;
                let first = be_u64(&key[1..], position)?;
                Ok(Some((first, Place::decode(&value, first)?)))
            }
        }
    }

    /// The event an index entry points at, reading no segment byte at or
    /// after `limit`.
    pub(crate) fn read_at(&self, loc: Loc, limit: u64) -> Result<RecordedEvent, StoreError> {
        let position = loc.position();
        let missing = || StoreError::Corrupt {
            position,
            reason: "indexed event is missing".into(),
        };
        let value = self
            .db
            .get(batch_key(loc.batch))
            .map_err(storage)?
            .ok_or_else(missing)?;
        let place = Place::decode(&value, position)?;
        if place.end() > limit {
            return Err(missing());
        }
        let value = segment::read_record(&self.file, place, position)?;
        let batch = batch::parse(&value, loc.batch)?;
        let envelope = batch
            .envelopes
            .get(loc.offset as usize)
            .ok_or_else(missing)?;
        envelope::decode_checked(envelope, position)
    }

    /// Calls `visit(loc, envelope)` for each position from `from` to
    /// `end` (inclusive), in order, until it returns false; returns the
    /// position after the last one visited. Reads the segment file
    /// sequentially, no byte at or after `limit`; every record touched is
    /// checked whole.
    pub(crate) fn walk(
        &self,
        from: u64,
        end: u64,
        limit: u64,
        visit: &mut Visit<'_>,
    ) -> Result<u64, StoreError> {
        let missing = |position| StoreError::Corrupt {
            position,
            reason: "event missing from the log".into(),
        };
        let mut next = from;
        if from > end {
            return Ok(next);
        }
        let Some((first, place)) = self.locate(from)? else {
            return Err(missing(from));
        };
        let mut records = Records::new(&self.file, place.offset, limit, place.len as usize);
        let mut expected = first;
        loop {
            let value = match records.next()? {
                Next::Record { flags, .. } if flags & SECRETS != 0 => continue,
                Next::Record { value, .. } => value,
                Next::End => return Err(missing(next)),
                Next::Torn { reason, .. } => {
                    return Err(StoreError::Corrupt {
                        position: next,
                        reason: reason.into(),
                    });
                }
            };
            let value_len = value.len();
            let batch = batch::parse(value, expected)?;
            let skip = (next - batch.first) as usize;
            if skip >= batch.envelopes.len() {
                return Err(missing(next));
            }
            for (offset, envelope) in batch.envelopes.iter().enumerate().skip(skip) {
                if next > end {
                    return Ok(next);
                }
                let loc = Loc {
                    batch: batch.first,
                    offset: offset as u32,
                };
                debug_assert_eq!(loc.position(), next);
                next += 1;
                if !visit(loc, envelope)? {
                    return Ok(next);
                }
            }
            if next > end {
                return Ok(next);
            }
            // Read ahead about as much as the rest of the walk needs.
            let per_event = value_len / batch.envelopes.len() + 4;
            expected = batch.end();
            let remaining = usize::try_from(end - next + 1).unwrap_or(usize::MAX);
            records.read_ahead(per_event.saturating_mul(remaining));
        }
    }
}

/// Where a stream's secret is in the segment file: the offset of its bytes
/// in a secrets record, and their length (the `L` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretCopy {
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

impl SecretCopy {
    fn encode(self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..8].copy_from_slice(&self.offset.to_le_bytes());
        out[8..].copy_from_slice(&self.len.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<SecretCopy, StoreError> {
        let bad = || StoreError::Corrupt {
            position: 0,
            reason: "a secret's place in the log has the wrong length".into(),
        };
        let offset = bytes.get(..8).ok_or_else(bad)?;
        let len = bytes
            .get(8..12)
            .filter(|_| bytes.len() == 12)
            .ok_or_else(bad)?;
        Ok(SecretCopy {
            offset: u64::from_le_bytes(offset.try_into().expect("8 bytes")),
            len: u32::from_le_bytes(len.try_into().expect("4 bytes")),
        })
    }

    /// The `Z` key of its pending erasure.
    fn erase_key(self) -> [u8; 13] {
        let mut key = [ERASE; 13];
        key[1..9].copy_from_slice(&self.offset.to_be_bytes());
        key[9..].copy_from_slice(&self.len.to_be_bytes());
        key
    }
}

/// The sled writes of one commit's secret changes, and whether they make
/// copies in the segment file obsolete (listed under `Z`, to erase once the
/// commit is durable in sled). Shared by the writer and by the re-indexing
/// of an open.
#[derive(Default)]
pub(crate) struct StagedSecrets {
    /// The copy each stream changed in this commit has now.
    copies: HashMap<String, Option<SecretCopy>>,
    /// Whether a `Z` entry was staged.
    pub(crate) erases: bool,
}

impl StagedSecrets {
    /// Stages setting `stream`'s secret to `secret`, written at `at` in the
    /// value of the secrets record whose value starts at file offset
    /// `base` (`Some`), or destroying it (`None`): `K`, `L`, and a `Z`
    /// entry for the copy it had.
    pub(crate) fn stage(
        &mut self,
        db: &sled::Db,
        base: u64,
        stream: &str,
        change: Option<(&[u8], usize)>,
        writes: &mut sled::Batch,
    ) -> Result<(), StoreError> {
        let change = change.map(|(secret, at)| {
            let copy = SecretCopy {
                offset: base + at as u64,
                // Secrets are bounded by the store's limits, and a record
                // stores their lengths in 32 bits.
                len: u32::try_from(secret.len()).expect("a secret's length fits 32 bits"),
            };
            (secret, copy)
        });
        let copy_key = secret_copy_key(stream);
        let old = match self.copies.get(stream) {
            Some(copy) => *copy,
            None => match db.get(&copy_key).map_err(storage)? {
                Some(value) => Some(SecretCopy::decode(&value)?),
                None => None,
            },
        };
        let new = change.map(|(_, copy)| copy);
        if let Some(old) = old.filter(|&old| Some(old) != new) {
            writes.insert(&old.erase_key(), &[]);
            self.erases = true;
        }
        match change {
            Some((secret, copy)) => {
                writes.insert(secret_key(stream), secret);
                writes.insert(copy_key, &copy.encode());
            }
            None => {
                writes.remove(secret_key(stream));
                writes.remove(copy_key);
            }
        }
        self.copies.insert(stream.to_owned(), new);
        Ok(())
    }
}

/// Erases the secret copies sled lists as pending (`Z`): overwrites each
/// with zeros, syncs the segment file, then drops the entries (a repeat
/// after a crash erases zeros again). The copies lie before `len`.
pub(crate) fn erase_pending(body: &Body, len: u64) -> Result<(), StoreError> {
    let mut done = sled::Batch::default();
    let mut any = false;
    for entry in body.db.scan_prefix([ERASE]) {
        let (key, _) = entry.map_err(storage)?;
        let copy = (key.len() == 13)
            .then(|| SecretCopy {
                offset: u64::from_be_bytes(key[1..9].try_into().expect("8 bytes")),
                len: u32::from_be_bytes(key[9..].try_into().expect("4 bytes")),
            })
            .filter(|copy| copy.offset + secrets::erased_len(copy.len as usize) as u64 <= len)
            .ok_or_else(|| StoreError::Corrupt {
                position: 0,
                reason: "a secret to erase lies outside the log".into(),
            })?;
        let zeros = vec![0; secrets::erased_len(copy.len as usize)];
        body.file.write_all_at(&zeros, copy.offset)?;
        done.remove(key);
        any = true;
    }
    if any {
        body.file.sync_data()?;
        body.db.apply_batch(done).map_err(storage)?;
    }
    Ok(())
}

/// The stream's last version among events at positions ≤ `visible`.
fn stream_head(db: &sled::Db, stream: &str, visible: u64) -> Result<Option<u64>, StoreError> {
    let prefix = stream_prefix(stream);
    for entry in db.scan_prefix(&prefix).rev() {
        let (key, value) = entry.map_err(storage)?;
        let run = Run::decode(&key, prefix.len(), &value)?;
        if run.loc.position() <= visible {
            return Ok(Some(run.last_version()));
        }
    }
    Ok(None)
}

/// The read side; cheap to clone into blocking tasks.
#[derive(Clone)]
struct Reader {
    body: Body,
    /// Highest position readers may see.
    committed: Arc<AtomicU64>,
    /// Segment bytes readers may read (stored before `committed`).
    committed_len: Arc<AtomicU64>,
    /// Streams with at least one event.
    streams: Arc<AtomicU64>,
    /// Ids committed but not yet in a run of the id index.
    unindexed: Unindexed,
    /// The id index's runs.
    runs: Runs,
    /// The latest committed events, for reads of the tail.
    recent: Arc<RwLock<Recent>>,
}

/// The events of the latest commits, oldest first, at consecutive positions
/// up to the writer's head (which may be ahead of the committed head a
/// reader loaded: readers stop at theirs). A read of the log's tail, such as
/// the receipt of an event just appended, is answered from here without a
/// blocking task or a segment read. The events are the writer's own copies,
/// the ones it sends to live subscribers.
#[derive(Default)]
struct Recent {
    commits: VecDeque<Arc<[RecordedEvent]>>,
    events: usize,
}

impl Recent {
    /// Adds a commit's events, dropping the oldest commits beyond
    /// [`RECENT_EVENTS`] (the newest commit stays, however large).
    fn push(&mut self, commit: Arc<[RecordedEvent]>) {
        self.events += commit.len();
        self.commits.push_back(commit);
        while self.commits.len() > 1 && self.events > RECENT_EVENTS {
            if let Some(old) = self.commits.pop_front() {
                self.events -= old.len();
            }
        }
    }

    /// Up to `max_match` events matching `filter` from `from` to `head`, or
    /// `None` when the window does not reach back to `from`.
    fn scan(
        &self,
        from: u64,
        head: u64,
        filter: &Filter,
        max_match: usize,
    ) -> Option<Vec<RecordedEvent>> {
        let oldest = self.commits.front()?.first()?.position;
        let newest = self.commits.back()?.last()?.position;
        if from < oldest || newest < head {
            return None;
        }
        let start = self
            .commits
            .partition_point(|commit| commit.last().is_some_and(|e| e.position < from));
        let mut out = Vec::new();
        for event in self.commits.range(start..).flat_map(|commit| commit.iter()) {
            if event.position > head || out.len() >= max_match {
                break;
            }
            if event.position >= from && filter.matches(event) {
                out.push(event.clone());
            }
        }
        Some(out)
    }
}

/// What one verify step found.
struct VerifyStep {
    checked: u64,
    hash: [u8; 32],
    broken: Option<(u64, String)>,
}

/// A part of a run to read: versions `lo..=hi`.
struct Span {
    run: Run,
    lo: u64,
    hi: u64,
}

impl Reader {
    fn head(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Segment bytes readable for positions up to a head read before.
    fn limit(&self) -> u64 {
        self.committed_len.load(Ordering::Acquire)
    }

    /// What [`Reader::scan`] without a scan limit finds, when the events
    /// from `from` on are all in the window of recent commits.
    fn recent(&self, from: u64, filter: &Filter, max_match: usize) -> Option<Vec<RecordedEvent>> {
        let head = self.head();
        let from = from.max(1);
        if from > head || max_match == 0 {
            return Some(Vec::new());
        }
        self.recent
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .scan(from, head, filter, max_match)
    }

    /// Up to `max_match` matching events from `from`, scanning at most
    /// `max_scan` records; also returns the next position to scan.
    fn scan(
        &self,
        from: u64,
        filter: &Filter,
        max_match: usize,
        max_scan: u64,
    ) -> Result<(Vec<RecordedEvent>, u64), StoreError> {
        let head = self.head();
        let from = from.max(1);
        if from > head || max_match == 0 {
            return Ok((Vec::new(), from));
        }
        let end = head.min(from.saturating_add(max_scan - 1));
        // Sized for a usual page at once; a filtered scan of a long log grows it.
        let most = usize::try_from(end - from + 1).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(most.min(max_match).min(PAGE_CAPACITY));
        let next = self
            .body
            .walk(from, end, self.limit(), &mut |loc, envelope| {
                let event = envelope::decode_checked(envelope, loc.position())?;
                if filter.matches(&event) {
                    out.push(event);
                }
                Ok(out.len() < max_match)
            })?;
        Ok((out, next))
    }

    /// The visible runs of `stream` holding the versions to read, clipped to them.
    fn spans(
        &self,
        prefix: &[u8],
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<Span>, StoreError> {
        let head = self.head();
        let mut remaining = max_count as u64;
        let mut spans = Vec::new();
        let first_key = stream_key(prefix, 0);
        let upto = stream_key(prefix, from_version);
        let decode = |entry: sled::Result<(sled::IVec, sled::IVec)>| {
            let (key, value) = entry.map_err(storage)?;
            Run::decode(&key, prefix.len(), &value)
        };
        match direction {
            Direction::Forward => {
                // The run holding `from_version` may start before it.
                let start = match self.body.db.range(first_key..=upto.clone()).next_back() {
                    Some(entry) => entry.map_err(storage)?.0.to_vec(),
                    None => upto,
                };
                for entry in self.body.db.range(start..=stream_key(prefix, u64::MAX)) {
                    let run = decode(entry)?;
                    if remaining == 0 || run.loc.position() > head {
                        break;
                    }
                    if run.last_version() < from_version {
                        continue;
                    }
                    let lo = run.first_version.max(from_version);
                    let hi = run.last_version().min(lo.saturating_add(remaining - 1));
                    remaining -= hi - lo + 1;
                    spans.push(Span { run, lo, hi });
                }
            }
            Direction::Backward => {
                for entry in self.body.db.range(first_key..=upto).rev() {
                    let run = decode(entry)?;
                    if remaining == 0 {
                        break;
                    }
                    if run.loc.position() > head {
                        continue;
                    }
                    let hi = run.last_version().min(from_version);
                    let lo = run.first_version.max(hi.saturating_sub(remaining - 1));
                    remaining -= hi - lo + 1;
                    spans.push(Span { run, lo, hi });
                }
            }
        }
        Ok(spans)
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let prefix = stream_prefix(stream);
        let mut out = Vec::new();
        for span in self.spans(&prefix, from_version, direction, max_count)? {
            let from = span.run.loc.position() + (span.lo - span.run.first_version);
            let start = out.len();
            self.body.walk(
                from,
                from + (span.hi - span.lo),
                self.limit(),
                &mut |loc, envelope| {
                    let position = loc.position();
                    let event = envelope::decode_checked(envelope, position)?;
                    let version = span.lo + (position - from);
                    if event.stream != stream || event.version != version {
                        return Err(StoreError::Corrupt {
                            position,
                            reason: "stream index disagrees with the event".into(),
                        });
                    }
                    out.push(event);
                    Ok(true)
                },
            )?;
            if direction == Direction::Backward {
                out[start..].reverse();
            }
        }
        Ok(out)
    }

    fn find(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        // The tail map first: the indexer drops an id from it only after
        // a run holds it.
        let loc = match self.unindexed.get(id) {
            Some(loc) => loc,
            None => match self.runs.get(id)? {
                Some(loc) => loc,
                None => return Ok(None),
            },
        };
        let position = loc.position();
        if position == 0 || position > self.head() {
            return Ok(None);
        }
        let event = self.body.read_at(loc, self.limit())?;
        if event.id != id {
            return Err(StoreError::Corrupt {
                position,
                reason: "id index disagrees with the event".into(),
            });
        }
        Ok(Some(event))
    }

    /// Checks up to `VERIFY_STEP` records from `from` (≤ `head`) chaining from `hash`.
    fn verify_step(&self, from: u64, head: u64, hash: [u8; 32]) -> Result<VerifyStep, StoreError> {
        let end = head.min(from + VERIFY_STEP - 1);
        let mut step = VerifyStep {
            checked: 0,
            hash,
            broken: None,
        };
        let walked =
            self.body.walk(
                from,
                end,
                self.limit(),
                &mut |loc, value| match envelope::check_chain(value, loc.position(), &step.hash) {
                    Ok(hash) => {
                        step.hash = hash;
                        step.checked += 1;
                        Ok(true)
                    }
                    Err(StoreError::Corrupt { position, reason }) => {
                        step.broken = Some((position, reason));
                        Ok(false)
                    }
                    Err(other) => Err(other),
                },
            );
        match walked {
            Ok(_) => Ok(step),
            Err(StoreError::Corrupt { position, reason }) => {
                step.broken = Some((position, reason));
                Ok(step)
            }
            Err(other) => Err(other),
        }
    }
}
impl EventStore for SledStore {
    #[tracing::instrument(
        name = "eventlog.append",
        level = "debug",
        skip_all,
        fields(stream = %stream, events = events.len())
    )]
    async fn append_with_secret(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        secret: SecretChange,
    ) -> Result<AppendOutcome, StoreError> {
        self.validate(stream, &events, &secret)?;
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let (reply, outcome) = oneshot::channel();
        let request = Request {
            stream: stream.to_owned(),
            expected,
            events,
            secret,
            reply,
            _permit: permit,
        };
        self.inner
            .sender
            .send(Message::Append(request))
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if stream.len() > self.inner.config.max_stream_name_bytes {
            return Ok(Vec::new());
        }
        let stream = stream.to_owned();
        self.blocking(move |r| r.read_stream(&stream, from_version, direction, max_count))
            .await
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        if stream.len() > self.inner.config.max_stream_name_bytes {
            return Ok(None);
        }
        let reader = &self.inner.reader;
        stream_head(&reader.body.db, stream, reader.head())
    }

    async fn stream_secret(&self, stream: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if stream.len() > self.inner.config.max_stream_name_bytes {
            return Ok(None);
        }
        Ok(self
            .inner
            .reader
            .body
            .db
            .get(secret_key(stream))
            .map_err(storage)?
            .map(|value| value.to_vec()))
    }

    async fn read_all(
        &self,
        from_position: u64,
        max_count: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if let Some(events) = self.inner.reader.recent(from_position, filter, max_count) {
            return Ok(events);
        }
        let filter = filter.clone();
        self.blocking(move |r| Ok(r.scan(from_position, &filter, max_count, u64::MAX)?.0))
            .await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        Ok(self.inner.reader.head())
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        self.inner.reader.find(id)
    }

    fn subscribe(&self, from_position: u64, filter: Filter) -> Subscription {
        let (sender, receiver) = Subscription::channel();
        let live = self.inner.live.subscribe();
        let reader = self.inner.reader.clone();
        let task = tokio::spawn(feed(reader, live, from_position.max(1), filter, sender));
        Subscription::new(receiver, task)
    }

    async fn verify(
        &self,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<VerifyReport, StoreError> {
        let head = self.inner.reader.head();
        let mut hash = GENESIS_HASH;
        let mut checked = 0;
        while checked < head {
            let from = checked + 1;
            let step = self
                .blocking(move |r| r.verify_step(from, head, hash))
                .await?;
            checked += step.checked;
            hash = step.hash;
            progress(VerifyProgress { checked, head });
            if let Some(broken) = step.broken {
                return Ok(VerifyReport {
                    events_checked: checked,
                    first_broken: Some(broken),
                });
            }
        }
        progress(VerifyProgress { checked, head });
        Ok(VerifyReport {
            events_checked: checked,
            first_broken: None,
        })
    }
}

/// Feeds one subscription: storage until caught up, then the live feed;
/// back to storage whenever the live feed lags or skips.
async fn feed(
    reader: Reader,
    mut live: broadcast::Receiver<Arc<[RecordedEvent]>>,
    mut next: u64,
    filter: Filter,
    sender: tokio::sync::mpsc::Sender<Result<RecordedEvent, StoreError>>,
) {
    'catch_up: loop {
        loop {
            let page_reader = reader.clone();
            let page_filter = filter.clone();
            let page = tokio::task::spawn_blocking(move || {
                page_reader.scan(next, &page_filter, CATCH_UP_PAGE, CATCH_UP_PAGE as u64 * 8)
            })
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))
            .and_then(|page| page);
            let (events, after) = match page {
                Ok(page) => page,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            };
            let scanned = after > next;
            next = after;
            for event in events {
                if sender.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if !scanned {
                break;
            }
        }
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                () = sender.closed() => return,
            };
            match received {
                Ok(batch) => {
                    for event in batch.iter() {
                        if event.position < next {
                            continue;
                        }
                        if event.position > next {
                            continue 'catch_up;
                        }
                        next += 1;
                        if filter.matches(event) && sender.send(Ok(event.clone())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue 'catch_up,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::CONFIRM;

    fn event(n: u128) -> NewEvent {
        NewEvent {
            id: Uuid::from_u128(n),
            event_type: "Noted".into(),
            schema_version: 1,
            payload: format!("{{\"n\":{n}}}").into_bytes(),
            metadata: Default::default(),
        }
    }

    fn config(dir: &Path) -> StoreConfig {
        StoreConfig {
            path: dir.join("log"),
            ..StoreConfig::default()
        }
    }

    /// One append of `n` events (one batch value from position 1).
    async fn one_batch(dir: &Path, n: u128) -> SledStore {
        let store = SledStore::open(config(dir)).expect("open");
        store
            .append("s", ExpectedVersion::Any, (1..=n).map(event).collect())
            .await
            .expect("append");
        assert_eq!(store.inner.reader.body.db.scan_prefix([BATCH]).count(), 1);
        store
    }

    /// The record of the batch at `first`.
    fn place(store: &SledStore, first: u64) -> Place {
        let value = store
            .inner
            .reader
            .body
            .db
            .get(batch_key(first))
            .expect("get")
            .expect("present");
        Place::decode(&value, first).expect("place")
    }

    /// The batch value at `first` with `edit` applied to the envelope at
    /// `offset`, the envelope's and the value's checksums re-sealed.
    fn resealed(
        store: &SledStore,
        first: u64,
        offset: usize,
        edit: impl Fn(&mut Vec<u8>),
    ) -> Vec<u8> {
        let file = &store.inner.reader.body.file;
        let value = segment::read_record(file, place(store, first), first).expect("read");
        let parsed = batch::parse(&value, first).expect("parses");
        let mut builder = BatchBuilder::new(first, 0);
        for (i, envelope) in parsed.envelopes.iter().enumerate() {
            let mut envelope = envelope.to_vec();
            if i == offset {
                edit(&mut envelope);
                let body_len = envelope.len() - 32 - 4;
                let crc = envelope::crc32(&envelope[..body_len]);
                envelope[body_len..body_len + 4].copy_from_slice(&crc.to_le_bytes());
            }
            builder.push(&envelope);
        }
        builder.finish().1
    }

    /// Writes `value` over the value of the record at `first`.
    fn overwrite(store: &SledStore, first: u64, value: &[u8]) {
        let at = place(store, first).offset + segment::FRAME as u64;
        store
            .inner
            .reader
            .body
            .file
            .write_all_at(value, at)
            .expect("tamper");
    }

    #[tokio::test]
    async fn verify_names_the_broken_position_inside_a_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 10).await;
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        // Change one payload byte of position 7 and re-seal both checksums
        // so only the hash chain can notice.
        let value = resealed(&store, 1, 6, |envelope| {
            let at = envelope
                .windows(4)
                .position(|w| w == b"\"n\":")
                .expect("payload present");
            envelope[at + 4] = b'9';
        });
        overwrite(&store, 1, &value);
        let report = store.verify(&mut |_| {}).await.expect("verify");
        assert_eq!(report.events_checked, 6);
        assert_eq!(report.first_broken.map(|b| b.0), Some(7));
    }

    #[tokio::test]
    async fn a_damaged_batch_value_is_corrupt_at_the_damaged_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 10).await;
        // Later commits push the first out of the window of recent ones,
        // so the reads below go to the segment file.
        for n in 0..RECENT_EVENTS as u128 {
            store
                .append("later", ExpectedVersion::Any, vec![event(100 + n)])
                .await
                .expect("append");
        }
        let file = &store.inner.reader.body.file;
        let mut value = segment::read_record(file, place(&store, 1), 1).expect("read");
        let third = batch::parse(&value, 1).expect("parses").envelopes[2].as_ptr() as usize
            - value.as_ptr() as usize;
        // A flipped bit, no checksum re-sealed: inside position 3's envelope.
        value[third + 20] ^= 1;
        overwrite(&store, 1, &value);
        let report = store.verify(&mut |_| {}).await.expect("verify");
        assert_eq!(report.first_broken.map(|b| b.0), Some(3));
        assert_eq!(report.events_checked, 0);
        // No read returns any part of the damaged value.
        assert!(matches!(
            store.read_all(1, 10, &Filter::default()).await,
            Err(StoreError::Corrupt { position: 3, .. })
        ));
        assert!(matches!(
            store.read_all(8, 2, &Filter::default()).await,
            Err(StoreError::Corrupt { position: 3, .. })
        ));
        assert!(matches!(
            store.read_stream("s", 0, Direction::Forward, 1).await,
            Err(StoreError::Corrupt { position: 3, .. })
        ));
        assert!(matches!(
            store.find_event(Uuid::from_u128(1)).await,
            Err(StoreError::Corrupt { position: 3, .. })
        ));
    }

    /// The records of one commit of `events` to stream `s` at `version`
    /// from `position`, chained after `hash`, as the writer frames them.
    fn commit_records(
        events: &[NewEvent],
        version: u64,
        position: u64,
        hash: [u8; 32],
        flags: u8,
    ) -> Vec<u8> {
        let mut builder = BatchBuilder::new(position, 0);
        let mut hash = hash;
        for (i, new) in events.iter().enumerate() {
            let (event, value) =
                envelope::seal("s", new, version + i as u64, position + i as u64, &hash);
            hash = event.hash;
            builder.push(&value);
        }
        let mut out = Vec::new();
        segment::frame(&mut out, &builder.finish().1, flags);
        out
    }

    /// A store of five events in one commit, shut down; returns its last
    /// hash and the segment file's length.
    async fn five_events(dir: &Path) -> ([u8; 32], u64) {
        let store = one_batch(dir, 5).await;
        let last = event_at(&store, 5).await.hash;
        store.shutdown().expect("shutdown");
        drop(store);
        // The segment's own length: the store's size on disk less sled's
        // would race sled's background writes.
        let len = std::fs::metadata(dir.join("log").join(segment::SEGMENT_FILE))
            .expect("segment")
            .len();
        (last, len)
    }

    fn append_raw(dir: &Path, bytes: &[u8]) {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("log").join(segment::SEGMENT_FILE))
            .expect("segment");
        std::io::Write::write_all(&mut &file, bytes).expect("append");
    }

    #[tokio::test]
    async fn a_commit_sled_never_indexed_is_indexed_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hash, _) = five_events(dir.path()).await;
        // As after a crash between the segment's fsync and sled's batch.
        append_raw(
            dir.path(),
            &commit_records(&[event(6), event(7)], 5, 6, hash, END),
        );
        let store = SledStore::open(config(dir.path())).expect("open");
        assert_eq!(store.head_position().await.expect("head"), 7);
        assert_eq!(store.stream_version("s").await.expect("version"), Some(6));
        let found = store.find_event(Uuid::from_u128(7)).await.expect("find");
        assert_eq!(found.map(|e| (e.position, e.version)), Some((7, 6)));
        let retry = store
            .append("s", ExpectedVersion::Any, vec![event(6), event(7)])
            .await
            .expect("retry");
        assert!(retry.deduplicated);
        assert_eq!(retry.first_position, 6);
        let next = store
            .append("s", ExpectedVersion::Exact(6), vec![event(8)])
            .await
            .expect("append");
        assert_eq!(next.first_position, 8);
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    /// The bytes a case appends after the last commit, given its hash.
    type Tail = dyn Fn(&[u8; 32]) -> Vec<u8>;

    /// The event at `position`.
    async fn event_at(store: &SledStore, position: u64) -> RecordedEvent {
        let mut events = store
            .read_all(position, 1, &Filter::default())
            .await
            .expect("read");
        assert_eq!(events.len(), 1, "no event at {position}");
        events.remove(0)
    }

    /// Appends event `n` to `stream` and destroys the stream's secret.
    async fn destroy(store: &SledStore, stream: &str, n: u128) {
        store
            .append_with_secret(
                stream,
                ExpectedVersion::Any,
                vec![event(n)],
                SecretChange::Destroy,
            )
            .await
            .expect("destroy");
    }

    /// The secrets record of `changes`, framed as the writer frames it.
    fn secrets_record(changes: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut out = Vec::new();
        segment::frame(&mut out, &secrets::encode(changes).0, SECRETS);
        out
    }

    #[tokio::test]
    async fn an_unfinished_commit_is_cut_at_open_never_half_read() {
        let cases: [(&str, Box<Tail>); 6] = [
            (
                "torn record",
                Box::new(|hash: &[u8; 32]| {
                    let whole = commit_records(&[event(6), event(7), event(8)], 5, 6, *hash, END);
                    whole[..whole.len() - 7].to_vec()
                }),
            ),
            (
                "no end flag",
                Box::new(|hash: &[u8; 32]| commit_records(&[event(6)], 5, 6, *hash, 0)),
            ),
            (
                "unconfirmed secret change",
                Box::new(|hash: &[u8; 32]| commit_records(&[event(6)], 5, 6, *hash, END | CONFIRM)),
            ),
            ("a frame cut short", Box::new(|_: &[u8; 32]| vec![9, 0, 0])),
            (
                "a secrets record without its events",
                Box::new(|_: &[u8; 32]| secrets_record(&[("s", Some(b"lost key"))])),
            ),
            (
                "a secrets record before a torn record",
                Box::new(|hash: &[u8; 32]| {
                    let mut out = secrets_record(&[("s", Some(b"lost key"))]);
                    let whole = commit_records(&[event(6)], 5, 6, *hash, END);
                    out.extend_from_slice(&whole[..whole.len() - 3]);
                    out
                }),
            ),
        ];
        for (case, tail) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            let (hash, len) = five_events(dir.path()).await;
            append_raw(dir.path(), &tail(&hash));
            let store = SledStore::open(config(dir.path())).expect(case);
            assert_eq!(store.head_position().await.expect("head"), 5, "{case}");
            assert_eq!(
                store.find_event(Uuid::from_u128(6)).await.expect("find"),
                None
            );
            let file_len = std::fs::metadata(dir.path().join("log").join(segment::SEGMENT_FILE))
                .expect("segment")
                .len();
            assert_eq!(file_len, len, "{case}: cut back to the last commit");
            assert_eq!(store.stream_secret("s").await.expect("secret"), None);
            let next = store
                .append("s", ExpectedVersion::Exact(4), vec![event(16)])
                .await
                .expect(case);
            assert_eq!(next.first_position, 6, "{case}");
            assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        }
    }

    #[tokio::test]
    async fn a_damaged_record_before_a_good_one_fails_the_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hash, _) = five_events(dir.path()).await;
        let mut first = commit_records(&[event(6)], 5, 6, hash, END);
        let event_6 = envelope::seal("s", &event(6), 5, 6, &hash).0;
        let second = commit_records(&[event(7)], 6, 7, event_6.hash, END);
        let at = first.len() - 40;
        first[at] ^= 1;
        first.extend_from_slice(&second);
        append_raw(dir.path(), &first);
        let opened = SledStore::open(config(dir.path()));
        assert!(
            matches!(opened, Err(StoreError::Corrupt { position: 6, .. })),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn an_index_ahead_of_the_segment_file_is_rebuilt_only_in_interval_mode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 5).await;
        store
            .append("s", ExpectedVersion::Exact(4), (6..=8).map(event).collect())
            .await
            .expect("append");
        let cut = place(&store, 6).offset;
        store.shutdown().expect("shutdown");
        drop(store);
        // As after a power loss that kept sled's index and lost the
        // segment file's last commit.
        let segment = dir.path().join("log").join(segment::SEGMENT_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("segment");
        file.set_len(cut).expect("cut");
        drop(file);
        assert!(matches!(
            SledStore::open(config(dir.path())),
            Err(StoreError::Corrupt { position: 8, .. })
        ));
        let interval = StoreConfig {
            durability: Durability::Interval { every_ms: 10 },
            ..config(dir.path())
        };
        let store = SledStore::open(interval).expect("open");
        assert_eq!(store.head_position().await.expect("head"), 5);
        assert_eq!(store.stream_version("s").await.expect("version"), Some(4));
        assert_eq!(
            store.find_event(Uuid::from_u128(7)).await.expect("find"),
            None
        );
        let found = store.find_event(Uuid::from_u128(5)).await.expect("find");
        assert_eq!(found.map(|e| e.position), Some(5));
        assert_eq!(store.stats().expect("stats").streams, 1);
        let next = store
            .append("s", ExpectedVersion::Exact(4), vec![event(6)])
            .await
            .expect("append");
        assert_eq!(next.first_position, 6);
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    #[tokio::test]
    async fn older_formats_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = crate::legacy_v1::V1Writer::open(&dir.path().join("log")).expect("v1");
        writer
            .append(
                "s",
                ExpectedVersion::Any,
                vec![event(1)],
                SecretChange::Keep,
            )
            .expect("v1 append");
        drop(writer);
        assert!(matches!(
            SledStore::open(config(dir.path())),
            Err(StoreError::Format {
                found: 1,
                supported: FORMAT_VERSION
            })
        ));
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = crate::legacy_v2::V2Writer::open(&dir.path().join("log")).expect("v2");
        writer
            .append(
                "s",
                ExpectedVersion::Any,
                vec![event(1)],
                SecretChange::Keep,
            )
            .expect("v2 append");
        drop(writer);
        assert!(matches!(
            SledStore::open(config(dir.path())),
            Err(StoreError::Format {
                found: 2,
                supported: FORMAT_VERSION
            })
        ));
    }

    /// A format-4 log (a secret set the format-4 way, in sled alone) opens
    /// as format 5 with everything in place.
    #[tokio::test]
    async fn a_format_4_log_opens_as_format_5() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hash, _) = five_events(dir.path()).await;
        {
            let db = sled::open(dir.path().join("log")).expect("sled");
            db.insert(FORMAT_KEY, &FORMAT_4.to_be_bytes())
                .expect("marker");
            db.insert(secret_key("s"), b"format 4 key").expect("secret");
            db.flush().expect("flush");
        }
        let store = SledStore::open(config(dir.path())).expect("open");
        assert_eq!(
            stored_format(&store.inner.reader.body.db).expect("format"),
            Some(5)
        );
        assert_eq!(
            store.stream_secret("s").await.expect("secret").as_deref(),
            Some(&b"format 4 key"[..])
        );
        assert_eq!(event_at(&store, 5).await.hash, hash);
        // Its first destroy finds no copy in the segment file to erase.
        destroy(&store, "s", 6).await;
        assert_eq!(store.stream_secret("s").await.expect("secret"), None);
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    #[tokio::test]
    async fn commits_split_into_values_of_bounded_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        let big = |n: u128| NewEvent {
            payload: vec![b'x'; 20_000],
            ..event(n)
        };
        // One append of five 20 kB events: three values, one append.
        let outcome = store
            .append("big", ExpectedVersion::NoStream, (1..=5).map(big).collect())
            .await
            .expect("append");
        assert_eq!((outcome.first_position, outcome.last_position), (1, 5));
        let db = &store.inner.reader.body.db;
        let places: Vec<Place> = db
            .scan_prefix([BATCH])
            .map(|e| {
                let (key, value) = e.expect("entry");
                Place::decode(&value, be_u64(&key[1..], 0).expect("key")).expect("place")
            })
            .collect();
        assert!(places.len() > 1, "{} values", places.len());
        assert!(
            places
                .iter()
                .all(|p| p.len as usize <= BATCH_VALUE_BYTES + 20_200 + segment::FRAME)
        );
        // Contiguous records, one commit.
        assert!(places.windows(2).all(|w| w[0].end() == w[1].offset));
        let read = store
            .read_stream("big", 1, Direction::Forward, 3)
            .await
            .expect("read");
        assert_eq!(
            read.iter().map(|e| e.position).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        let back = store
            .read_stream("big", 3, Direction::Backward, 10)
            .await
            .expect("read");
        assert_eq!(
            back.iter().map(|e| e.version).collect::<Vec<_>>(),
            [3, 2, 1, 0]
        );
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    /// An append sent twice at once is written once and both sends get its
    /// places, whether the repeat is decided in the original's commit or in
    /// a later one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_append_sent_twice_at_once_is_written_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        for round in 0..200u128 {
            let sends = (0..8u128).map(|task| {
                let store = store.clone();
                let n = round * 8 + task;
                async move {
                    let events = vec![event(n * 2), event(n * 2 + 1)];
                    let stream = format!("s{task}");
                    let first = store.append(&stream, ExpectedVersion::Any, events.clone());
                    let again = async {
                        tokio::task::yield_now().await;
                        store.append(&stream, ExpectedVersion::Any, events).await
                    };
                    let (first, again) = tokio::join!(first, again);
                    (first.expect("first"), again.expect("repeat"))
                }
            });
            for (first, again) in futures::future::join_all(sends).await {
                assert_eq!(
                    (again.first_position, again.first_version),
                    (first.first_position, first.first_version),
                    "round {round}"
                );
                assert!(first.deduplicated != again.deduplicated, "round {round}");
            }
        }
        assert_eq!(store.head_position().await.expect("head"), 200 * 8 * 2);
    }

    /// Versions stay gapless while the writer's map of stream heads starts
    /// afresh (every 16 streams here) under concurrent appends to the same
    /// streams: a forgotten head is read back from sled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn versions_hold_while_the_known_heads_start_afresh() {
        const STREAMS: u128 = 24;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        let tasks = (0..8u128).map(|task| {
            let store = store.clone();
            async move {
                for n in 0..60u128 {
                    let stream = format!("t{}", (task + n) % STREAMS);
                    store
                        .append(&stream, ExpectedVersion::Any, vec![event(task * 1_000 + n)])
                        .await
                        .unwrap_or_else(|e| panic!("{stream}: {e}"));
                }
            }
        });
        futures::future::join_all(tasks).await;
        let mut total = 0;
        for s in 0..STREAMS {
            let events = store
                .read_stream(&format!("t{s}"), 0, Direction::Forward, usize::MAX)
                .await
                .expect("read");
            let versions: Vec<u64> = events.iter().map(|e| e.version).collect();
            assert_eq!(
                versions,
                (0..events.len() as u64).collect::<Vec<_>>(),
                "t{s}"
            );
            total += events.len();
        }
        assert_eq!(total, 8 * 60);
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    /// Reads of the tail come from the window of recent commits and match
    /// what the segment file holds; reads reaching back past the window go
    /// to the file.
    #[tokio::test]
    async fn reads_of_the_tail_match_the_segment_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        let mut n = 0;
        // Commits of 1 to 7 events to two streams: 3 windows' worth.
        while n < 3 * RECENT_EVENTS as u128 {
            let events: Vec<NewEvent> = (0..1 + n % 7).map(|i| event(n + i)).collect();
            n += events.len() as u128;
            let stream = if n % 2 == 0 { "even" } else { "odd" };
            store
                .append(stream, ExpectedVersion::Any, events)
                .await
                .expect("append");
        }
        let head = store.head_position().await.expect("head");
        let oldest = {
            let recent = store.inner.reader.recent.read().expect("lock");
            assert!(
                recent.events <= RECENT_EVENTS + 7,
                "{} events",
                recent.events
            );
            recent.commits[0][0].position
        };
        assert!(oldest > 1 && oldest + RECENT_EVENTS as u64 > head + 1);
        let odd = Filter {
            stream_prefix: Some("odd".into()),
            ..Filter::default()
        };
        for from in [1, oldest - 1, oldest, oldest + 3, head - 1, head, head + 1] {
            for (filter, max) in [
                (&Filter::default(), 1),
                (&Filter::default(), 1_000),
                (&odd, 5),
            ] {
                let served = store.read_all(from, max, filter).await.expect("read");
                let (from_file, _) = store
                    .inner
                    .reader
                    .scan(from, filter, max, u64::MAX)
                    .expect("scan");
                assert_eq!(served, from_file, "from {from}, max {max}");
                assert_eq!(
                    store.inner.reader.recent(from, filter, max).is_some(),
                    from >= oldest,
                    "from {from}"
                );
            }
        }
    }

    /// Whether the segment file holds `bytes` anywhere.
    fn segment_holds(dir: &Path, bytes: &[u8]) -> bool {
        let file = std::fs::read(dir.join("log").join(segment::SEGMENT_FILE)).expect("segment");
        file.windows(bytes.len()).any(|w| w == bytes)
    }

    /// A commit that sets a secret is whole with its segment records alone:
    /// an open re-indexes the secret from them when sled lost it.
    #[tokio::test]
    async fn a_secret_in_the_segment_file_survives_sled_losing_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (hash, _) = five_events(dir.path()).await;
        // The records of a commit whose sled batch never reached the disk.
        let mut tail = secrets_record(&[("s", Some(b"first key")), ("t", Some(b"other key"))]);
        tail.extend_from_slice(&commit_records(&[event(6)], 5, 6, hash, END));
        append_raw(dir.path(), &tail);
        let store = SledStore::open(config(dir.path())).expect("open");
        assert_eq!(store.head_position().await.expect("head"), 6);
        assert_eq!(
            store.stream_secret("s").await.expect("secret").as_deref(),
            Some(&b"first key"[..])
        );
        assert_eq!(
            store.stream_secret("t").await.expect("secret").as_deref(),
            Some(&b"other key"[..])
        );
        assert_eq!(event_at(&store, 6).await.id, Uuid::from_u128(6));
        // Destroying it then erases the copy in the segment file.
        destroy(&store, "s", 7).await;
        assert!(!segment_holds(dir.path(), b"first key"));
        assert!(segment_holds(dir.path(), b"other key"));
        store.shutdown().expect("shutdown");
        drop(store);
        let store = SledStore::open(config(dir.path())).expect("reopen");
        assert_eq!(store.stream_secret("s").await.expect("secret"), None);
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
    }

    /// A replaced or destroyed secret leaves no copy in the segment file,
    /// while the events around it stay readable and the chain verifies.
    #[tokio::test]
    async fn replaced_and_destroyed_secrets_are_erased_from_the_segment_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        let set = |bytes: &[u8]| SecretChange::Set(bytes.to_vec());
        store
            .append_with_secret(
                "a",
                ExpectedVersion::NoStream,
                vec![event(1)],
                set(b"key-a-one"),
            )
            .await
            .expect("append");
        store
            .append_with_secret(
                "b",
                ExpectedVersion::NoStream,
                vec![event(2)],
                set(b"key-b-one"),
            )
            .await
            .expect("append");
        assert!(segment_holds(dir.path(), b"key-a-one"));
        store
            .append_with_secret("a", ExpectedVersion::Any, vec![event(3)], set(b"key-a-two"))
            .await
            .expect("replace");
        assert!(!segment_holds(dir.path(), b"key-a-one"));
        assert!(segment_holds(dir.path(), b"key-a-two"));
        destroy(&store, "b", 4).await;
        assert!(!segment_holds(dir.path(), b"key-b-one"));
        assert_eq!(store.stream_secret("b").await.expect("secret"), None);
        assert_eq!(
            store.stream_secret("a").await.expect("secret").as_deref(),
            Some(&b"key-a-two"[..])
        );
        // Every event is still read from the file (past the window of
        // recent commits) and the chain verifies.
        for n in 0..RECENT_EVENTS as u128 {
            store
                .append("later", ExpectedVersion::Any, vec![event(100 + n)])
                .await
                .expect("append");
        }
        let events = store
            .read_all(1, 4, &Filter::default())
            .await
            .expect("read");
        assert_eq!(
            events.iter().map(|e| e.id.as_u128()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        // sled lists no erasure still to do.
        assert_eq!(store.inner.reader.body.db.scan_prefix([ERASE]).count(), 0);
    }

    /// An erasure cut short after sled listed it (`Z`) and before the
    /// zeros reached the file is finished when the store opens again.
    #[tokio::test]
    async fn an_erasure_cut_short_is_finished_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(config(dir.path())).expect("open");
        store
            .append_with_secret(
                "s",
                ExpectedVersion::NoStream,
                vec![event(1)],
                SecretChange::Set(b"half-erased key".to_vec()),
            )
            .await
            .expect("append");
        store.shutdown().expect("shutdown");
        drop(store);
        assert!(segment_holds(dir.path(), b"half-erased key"));
        {
            // What a destroy's commit leaves in sled before its zeros.
            let db = sled::open(dir.path().join("log")).expect("sled");
            let copy = db.get(secret_copy_key("s")).expect("get").expect("L");
            let copy = SecretCopy::decode(&copy).expect("decode");
            db.insert(copy.erase_key(), &[]).expect("Z");
            db.flush().expect("flush");
        }
        let store = SledStore::open(config(dir.path())).expect("reopen");
        assert!(!segment_holds(dir.path(), b"half-erased key"));
        assert_eq!(store.inner.reader.body.db.scan_prefix([ERASE]).count(), 0);
        assert_eq!(event_at(&store, 1).await.id, Uuid::from_u128(1));
    }
}
