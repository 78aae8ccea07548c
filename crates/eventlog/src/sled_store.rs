//! The sled backend: one tree, one writer thread, group commit.
//!
//! # Layout: format 2 (one sled tree, big-endian numbers in keys)
//!
//! | key | value |
//! | --- | --- |
//! | `Mformat` | the on-disk format version, u32: `2` |
//! | `B` first position:u64 | a batch value: the envelopes of consecutive positions and their chain hashes, contiguous, checksummed (see `batch`) |
//! | `T` len:u16 stream first version:u64 | a run of the stream's events: batch:u64, offset:u32, count:u32 (little-endian) |
//! | `X` event-id:[16] | batch:u64, offset:u32 (little-endian) |
//! | `M` `streams` | number of streams:u64 |
//! | `K` stream name | the stream's secret (outside the hash chain) |
//!
//! A commit of n events writes its envelopes into batch values of at most
//! [`BATCH_VALUE_BYTES`] (32 KiB, about 75 events of 300 bytes) each: one
//! value for a smaller commit, several for a larger one (the cap keeps
//! values inline in sled's segments instead of in blob files). It also
//! writes one `T` entry per accepted append (its events are contiguous,
//! though they may continue into the next value) and one `X` entry per
//! event, all in one `sled::Batch`. An event at (batch, offset) has
//! position batch + offset. Every read checks the checksum of each batch
//! value it touches before using any of it. Format 1 (one key per event, see `legacy_v1`)
//! has no `Mformat` key; [`SledStore::open`] refuses it with
//! [`StoreError::Format`] and `upgrade` converts it.
//!
//! # Write path
//!
//! Appenders validate limits, take a permit of the bounded queue and send
//! their request to the single writer thread. The writer drains up to
//! `max_batch_events` events' worth of requests, decides each one in order
//! (idempotency, expected version against the committed head *or* the head
//! left by an earlier request of the same batch), assigns versions and
//! positions, chains hashes, and writes every accepted request in ONE
//! `sled::Batch`, so each append is atomic and a rejected one writes nothing.
//! Then, with [`Durability::Fsync`], it calls `Db::flush` (which on Linux
//! ends in `sync_file_range`, not a disk-cache flush) followed by
//! `fdatasync` of sled's data file and of any new blob files, and only then
//! acknowledges. If anything fails, every request of the batch gets the
//! error and the writer reloads its state from disk.
//!
//! Readers only see positions up to the committed head, which advances after
//! the sync, so nothing is observable before it is durable.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, oneshot};

use crate::batch::{self, BatchBuilder};
use crate::envelope::{self, GENESIS_HASH};
use crate::keys::{
    FORMAT_KEY, FORMAT_VERSION, SECRET, STREAMS_KEY, secret_key, storage, stored_format,
};
use crate::legacy_v1;
use crate::subscription::Subscription;
use crate::{
    AppendOutcome, Direction, Durability, EventStore, ExpectedVersion, Filter, NewEvent,
    RecordedEvent, SecretChange, StoreConfig, StoreError, StoreStats, Uuid, VerifyProgress,
    VerifyReport,
};

pub(crate) const BATCH: u8 = b'B';
const STREAM: u8 = b'T';
const ID: u8 = b'X';
/// Largest batch value the writer starts a new value after (a single
/// larger event still gets a value of its own). sled moves values over a
/// quarter of its 512 KiB segment into blob files, one file each.
pub(crate) const BATCH_VALUE_BYTES: usize = 32 * 1024;
/// Committed batches kept for live subscribers before they lag and re-read storage.
const LIVE_BATCHES: usize = 256;
/// Events a lagging or catching-up subscriber reads from storage per page.
const CATCH_UP_PAGE: usize = 512;
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

fn be_u64(bytes: &[u8], position: u64) -> Result<u64, StoreError> {
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

    fn decode(bytes: &[u8]) -> Result<Loc, StoreError> {
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
        check_format(&db)?;
        let files = DataFiles::open(&config.path)?;
        let committed = Arc::new(AtomicU64::new(0));
        let streams = Arc::new(AtomicU64::new(0));
        let reader = Reader {
            db: db.clone(),
            committed: committed.clone(),
            streams: streams.clone(),
        };
        let (head, last_hash, stream_count) = load_state(&db)?;
        committed.store(head, Ordering::Release);
        streams.store(stream_count, Ordering::Release);
        let (live, _) = broadcast::channel(LIVE_BATCHES);
        let (sender, receiver) = mpsc::channel();
        let mut writer = Writer {
            db,
            files,
            durability: config.durability,
            max_batch_events: config.max_batch_events,
            head,
            last_hash,
            streams: stream_count,
            committed,
            streams_shared: streams,
            live: live.clone(),
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
            size_on_disk_bytes: self.inner.reader.db.size_on_disk().map_err(storage)?,
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Every stream secret, in stream-name order (maintenance, e.g. master
    /// key rotation). Blocking.
    pub fn secrets(&self) -> impl Iterator<Item = Result<(String, Vec<u8>), StoreError>> + '_ {
        self.inner.reader.db.scan_prefix([SECRET]).map(|entry| {
            let (key, value) = entry.map_err(storage)?;
            let stream = String::from_utf8(key[1..].to_vec()).map_err(|_| StoreError::Corrupt {
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
        let db = &self.inner.reader.db;
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
    if config.max_events_per_append == 0 || config.max_queued_appends == 0 {
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

/// Checks the stored format version; marks a new, empty store as format 2.
fn check_format(db: &sled::Db) -> Result<(), StoreError> {
    match stored_format(db)? {
        Some(FORMAT_VERSION) => Ok(()),
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
            if db.scan_prefix([BATCH]).next().is_some() {
                return Err(StoreError::Corrupt {
                    position: 0,
                    reason: "batch values without a format version".into(),
                });
            }
            db.insert(FORMAT_KEY, &FORMAT_VERSION.to_be_bytes())
                .map_err(storage)?;
            db.flush().map_err(storage)?;
            Ok(())
        }
    }
}

/// Head position, last hash and stream count as stored. The last batch
/// value is checked whole: a damaged one fails the open.
pub(crate) fn load_state(db: &sled::Db) -> Result<(u64, [u8; 32], u64), StoreError> {
    let (head, hash) = match db.scan_prefix([BATCH]).next_back() {
        None => (0, GENESIS_HASH),
        Some(entry) => {
            let (key, value) = entry.map_err(storage)?;
            let first = be_u64(&key[1..], 0)?;
            let batch = batch::parse(&value, first)?;
            let last = batch.end() - 1;
            let envelope = batch.envelopes.last().expect("parse refuses empty values");
            (last, envelope::decode(envelope, last)?.hash)
        }
    };
    let streams = match db.get(STREAMS_KEY).map_err(storage)? {
        None => 0,
        Some(value) => be_u64(&value, 0)?,
    };
    Ok((head, hash, streams))
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
    db: sled::Db,
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
    /// Stream count visible to `stats`.
    streams_shared: Arc<AtomicU64>,
    live: broadcast::Sender<Arc<[RecordedEvent]>>,
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

/// The writes of one commit while its requests are decided.
struct Plan {
    writes: sled::Batch,
    values: Values,
    /// Accepted events, in position order after the committed head.
    pending: Vec<RecordedEvent>,
    pending_ids: HashMap<Uuid, u64>,
    /// Stream heads left by earlier requests of this commit.
    heads: HashMap<String, Option<u64>>,
    head: u64,
    hash: [u8; 32],
    new_streams: u64,
}

impl Plan {
    fn new(head: u64, hash: [u8; 32]) -> Plan {
        Plan {
            writes: sled::Batch::default(),
            values: Values::default(),
            pending: Vec::new(),
            pending_ids: HashMap::new(),
            heads: HashMap::new(),
            head,
            hash,
            new_streams: 0,
        }
    }

    /// Orders, hashes and stages an append whose stream is at `actual`.
    fn accept(&mut self, request: &Request, actual: Option<u64>) -> AppendOutcome {
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
            self.writes.insert(&id_key(new.id), &loc.encode());
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
            SecretChange::Set(secret) => {
                self.writes
                    .insert(secret_key(&request.stream), secret.as_slice());
            }
            SecretChange::Destroy => self.writes.remove(secret_key(&request.stream)),
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
        while let Ok(first) = receiver.recv() {
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
                let result = self.sync();
                let _ = reply.send(result);
                return;
            }
        }
        if let Err(error) = self.sync() {
            tracing::error!(%error, "final flush of the event store failed");
        }
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.db.flush().map_err(storage)?;
        self.files.sync()?;
        Ok(())
    }

    /// Decides one request against the committed log and the plan so far.
    fn decide(&self, request: &Request, plan: &mut Plan) -> Planned {
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
        let mut plan = Plan::new(self.head, self.last_hash);
        let fates: Vec<Planned> = batch.iter().map(|r| self.decide(r, &mut plan)).collect();
        let wrote = !plan.pending.is_empty();
        let stored = if wrote { self.store(&mut plan) } else { Ok(()) };
        let failure = match stored {
            Ok(()) => {
                if wrote {
                    // The single writer gave each event the next position after the committed head.
                    debug_assert_eq!(plan.head - self.head, plan.pending.len() as u64);
                    self.head = plan.head;
                    self.last_hash = plan.hash;
                    self.streams += plan.new_streams;
                    self.committed.store(plan.head, Ordering::Release);
                    self.streams_shared.store(self.streams, Ordering::Release);
                    // No receivers is fine.
                    let _ = self.live.send(Arc::from(std::mem::take(&mut plan.pending)));
                }
                None
            }
            Err(error) => {
                tracing::error!(%error, "committing a batch of appends failed");
                // Whatever reached sled stays invisible to readers until a
                // later commit succeeds; start again from what is stored.
                match load_state(&self.db) {
                    Ok((head, hash, streams)) => {
                        self.head = head;
                        self.last_hash = hash;
                        self.streams = streams;
                    }
                    Err(reload) => tracing::error!(%reload, "reloading the writer state failed"),
                }
                Some(error.to_string())
            }
        };
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
    }

    /// Writes the plan's batch values and index entries in one sled batch
    /// and, with [`Durability::Fsync`], makes them durable.
    fn store(&mut self, plan: &mut Plan) -> Result<(), StoreError> {
        let mut writes = std::mem::take(&mut plan.writes);
        if plan.new_streams > 0 {
            writes.insert(
                STREAMS_KEY,
                &(self.streams + plan.new_streams).to_be_bytes(),
            );
        }
        for (first, value) in std::mem::take(&mut plan.values).finish() {
            debug_assert!(batch::parse(&value, first).is_ok());
            writes.insert(&batch_key(first), value);
        }
        let started = std::time::Instant::now();
        let stored =
            self.db
                .apply_batch(writes)
                .map_err(storage)
                .and_then(|()| match self.durability {
                    Durability::Fsync => self.sync(),
                    Durability::Interval { .. } => Ok(()),
                });
        let events = plan.pending.len();
        metrics::histogram!("rectify_eventlog_flush_seconds").record(started.elapsed());
        metrics::histogram!("rectify_eventlog_events_per_flush").record(events as f64);
        metrics::counter!("rectify_eventlog_flushes_total").increment(1);
        metrics::counter!("rectify_eventlog_events_total").increment(events as u64);
        stored
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
        stream_head(&self.db, stream, u64::MAX)
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
            let at = match pending_ids.get(&event.id) {
                Some(&position) => Some(Err(position)),
                None => match self.db.get(id_key(event.id)).map_err(storage)? {
                    Some(value) => Some(Ok(Loc::decode(&value)?)),
                    None => None,
                },
            };
            found.push(at);
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
                Some(Ok(loc)) => read_at(&self.db, loc)?,
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

/// The event an index entry points at.
fn read_at(db: &sled::Db, loc: Loc) -> Result<RecordedEvent, StoreError> {
    let position = loc.position();
    let missing = || StoreError::Corrupt {
        position,
        reason: "indexed event is missing".into(),
    };
    let value = db
        .get(batch_key(loc.batch))
        .map_err(storage)?
        .ok_or_else(missing)?;
    let batch = batch::parse(&value, loc.batch)?;
    let envelope = batch
        .envelopes
        .get(loc.offset as usize)
        .ok_or_else(missing)?;
    envelope::decode_checked(envelope, position)
}

/// What [`walk`] calls with each position and its envelope; false stops it.
pub(crate) type Visit<'a> = dyn FnMut(u64, &[u8]) -> Result<bool, StoreError> + 'a;

/// Calls `visit(position, envelope)` for each position from `from` to `end`
/// (inclusive), in order, until it returns false; returns the position
/// after the last one visited. Every batch value touched is checked whole.
pub(crate) fn walk(
    db: &sled::Db,
    from: u64,
    end: u64,
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
    let start = match db.range(batch_key(0)..=batch_key(from)).next_back() {
        Some(entry) => be_u64(&entry.map_err(storage)?.0[1..], from)?,
        None => return Err(missing(from)),
    };
    for entry in db.range(batch_key(start)..=batch_key(end)) {
        let (key, value) = entry.map_err(storage)?;
        let first = be_u64(&key[1..], next)?;
        if first > next {
            return Err(missing(next));
        }
        let batch = batch::parse(&value, first)?;
        let skip = (next - first) as usize;
        if skip >= batch.envelopes.len() {
            return Err(missing(next));
        }
        for envelope in &batch.envelopes[skip..] {
            if next > end {
                return Ok(next);
            }
            let position = next;
            next += 1;
            if !visit(position, envelope)? {
                return Ok(next);
            }
        }
    }
    if next <= end {
        return Err(missing(next));
    }
    Ok(next)
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
    db: sled::Db,
    /// Highest position readers may see.
    committed: Arc<AtomicU64>,
    /// Streams with at least one event.
    streams: Arc<AtomicU64>,
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
        let mut out = Vec::new();
        if from > head || max_match == 0 {
            return Ok((out, from));
        }
        let end = head.min(from.saturating_add(max_scan - 1));
        let next = walk(&self.db, from, end, &mut |position, envelope| {
            let event = envelope::decode_checked(envelope, position)?;
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
                let start = match self.db.range(first_key..=upto.clone()).next_back() {
                    Some(entry) => entry.map_err(storage)?.0.to_vec(),
                    None => upto,
                };
                for entry in self.db.range(start..=stream_key(prefix, u64::MAX)) {
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
                for entry in self.db.range(first_key..=upto).rev() {
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
            walk(
                &self.db,
                from,
                from + (span.hi - span.lo),
                &mut |position, envelope| {
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
        let Some(value) = self.db.get(id_key(id)).map_err(storage)? else {
            return Ok(None);
        };
        let loc = Loc::decode(&value)?;
        let position = loc.position();
        if position == 0 || position > self.head() {
            return Ok(None);
        }
        let event = read_at(&self.db, loc)?;
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
        let walked = walk(
            &self.db,
            from,
            end,
            &mut |position, value| match envelope::check_chain(value, position, &step.hash) {
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
        stream_head(&reader.db, stream, reader.head())
    }

    async fn stream_secret(&self, stream: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if stream.len() > self.inner.config.max_stream_name_bytes {
            return Ok(None);
        }
        Ok(self
            .inner
            .reader
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
        assert_eq!(store.inner.reader.db.scan_prefix([BATCH]).count(), 1);
        store
    }

    /// The batch value at `first` with `edit` applied to the envelope at
    /// `offset`, the envelope's and the value's checksums re-sealed.
    fn resealed(db: &sled::Db, first: u64, offset: usize, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
        let value = db.get(batch_key(first)).expect("get").expect("present");
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

    #[tokio::test]
    async fn verify_names_the_broken_position_inside_a_batch() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 10).await;
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        // Change one payload byte of position 7 and re-seal both checksums
        // so only the hash chain can notice.
        let db = &store.inner.reader.db;
        let value = resealed(db, 1, 6, |envelope| {
            let at = envelope
                .windows(4)
                .position(|w| w == b"\"n\":")
                .expect("payload present");
            envelope[at + 4] = b'9';
        });
        db.insert(batch_key(1), value).expect("tamper");
        let report = store.verify(&mut |_| {}).await.expect("verify");
        assert_eq!(report.events_checked, 6);
        assert_eq!(report.first_broken.map(|b| b.0), Some(7));
    }

    #[tokio::test]
    async fn a_damaged_batch_value_is_corrupt_at_the_damaged_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 10).await;
        let db = &store.inner.reader.db;
        let mut value = db
            .get(batch_key(1))
            .expect("get")
            .expect("present")
            .to_vec();
        let third = batch::parse(&value, 1).expect("parses").envelopes[2].as_ptr() as usize
            - value.as_ptr() as usize;
        // A flipped bit, no checksum re-sealed: inside position 3's envelope.
        value[third + 20] ^= 1;
        db.insert(batch_key(1), value).expect("tamper");
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

    #[tokio::test]
    async fn a_torn_last_batch_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = one_batch(dir.path(), 5).await;
        store
            .append("s", ExpectedVersion::Exact(4), (6..=8).map(event).collect())
            .await
            .expect("append");
        store.shutdown().expect("shutdown");
        drop(store);
        let db = sled::open(dir.path().join("log")).expect("raw open");
        let value = db.get(batch_key(6)).expect("get").expect("present");
        db.insert(batch_key(6), &value[..value.len() - 7])
            .expect("truncate");
        db.flush().expect("flush");
        drop(db);
        // The cut is inside position 8's envelope: the open names it.
        let opened = SledStore::open(config(dir.path()));
        assert!(
            matches!(opened, Err(StoreError::Corrupt { position: 8, .. })),
            "{opened:?}"
        );
    }

    #[tokio::test]
    async fn a_format_1_directory_is_refused() {
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
                supported: 2
            })
        ));
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
        let db = &store.inner.reader.db;
        let values: Vec<_> = db.scan_prefix([BATCH]).map(|e| e.expect("entry")).collect();
        assert!(values.len() > 1, "{} values", values.len());
        assert!(
            values
                .iter()
                .all(|(_, v)| v.len() <= BATCH_VALUE_BYTES + 20_200)
        );
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
}
