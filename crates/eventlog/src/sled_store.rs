//! The sled backend: one tree, one writer thread, group commit.
//!
//! # Layout (one sled tree, big-endian numbers in keys)
//!
//! | key | value |
//! | --- | --- |
//! | `E` position:u64 | the envelope (see `envelope`) with its chain hash |
//! | `S` len:u16 stream version:u64 | position:u64 |
//! | `I` event-id:[16] | position:u64 |
//! | `M` `streams` | number of streams:u64 |
//! | `K` stream name | the stream's secret (outside the hash chain) |
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

use crate::envelope::{self, GENESIS_HASH};
use crate::subscription::Subscription;
use crate::{
    AppendOutcome, Direction, Durability, EventStore, ExpectedVersion, Filter, NewEvent,
    RecordedEvent, SecretChange, StoreConfig, StoreError, StoreStats, Uuid, VerifyProgress,
    VerifyReport,
};

const EVENT: u8 = b'E';
const STREAM: u8 = b'S';
const ID: u8 = b'I';
const SECRET: u8 = b'K';
const STREAMS_KEY: &[u8] = b"Mstreams";
/// Committed batches kept for live subscribers before they lag and re-read storage.
const LIVE_BATCHES: usize = 256;
/// Events a lagging or catching-up subscriber reads from storage per page.
const CATCH_UP_PAGE: usize = 512;
/// Records verify checks per blocking step between progress reports.
const VERIFY_STEP: u64 = 16_384;

fn event_key(position: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn stream_prefix(stream: &str) -> Vec<u8> {
    let len = u16::try_from(stream.len()).expect("stream name length checked against limits");
    let mut key = Vec::with_capacity(3 + stream.len() + 8);
    key.push(STREAM);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(stream.as_bytes());
    key
}

fn stream_key(prefix: &[u8], version: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

fn secret_key(stream: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + stream.len());
    key.push(SECRET);
    key.extend_from_slice(stream.as_bytes());
    key
}

fn id_key(id: Uuid) -> [u8; 17] {
    let mut key = [ID; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

fn be_u64(bytes: &[u8], position: u64) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        position,
        reason: "index value is not 8 bytes".into(),
    })?;
    Ok(u64::from_be_bytes(array))
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
            .open()?;
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
            size_on_disk_bytes: self.inner.reader.db.size_on_disk()?,
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
            let (key, value) = entry?;
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
            if db.contains_key(&key)? {
                batch.insert(key, secret.as_slice());
                replaced += 1;
            }
        }
        db.apply_batch(batch)?;
        db.flush()?;
        Ok(replaced)
    }

    fn validate(&self, stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
        let config = &self.inner.config;
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
            let size =
                envelope::variable_len("", &event.event_type, &event.payload, &event.metadata);
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

fn limit(what: &'static str, limit: usize, actual: usize) -> Result<(), StoreError> {
    if actual > limit {
        return Err(StoreError::LimitExceeded {
            what,
            limit: limit as u64,
            actual: actual as u64,
        });
    }
    Ok(())
}

fn check_config(config: &StoreConfig) -> Result<(), StoreError> {
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

/// Head position, last hash and stream count as stored.
fn load_state(db: &sled::Db) -> Result<(u64, [u8; 32], u64), StoreError> {
    let (head, hash) = match db.scan_prefix([EVENT]).next_back() {
        None => (0, GENESIS_HASH),
        Some(entry) => {
            let (key, value) = entry?;
            let position = be_u64(&key[1..], 0)?;
            let event = envelope::decode(&value, position)?;
            (position, event.hash)
        }
    };
    let streams = match db.get(STREAMS_KEY)? {
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
        self.db.flush()?;
        self.files.sync()?;
        Ok(())
    }

    fn commit(&mut self, batch: Vec<Request>) {
        metrics::counter!("rectify_eventlog_appends_total").increment(batch.len() as u64);
        let mut writes = sled::Batch::default();
        let mut pending: Vec<RecordedEvent> = Vec::new();
        let mut pending_ids: HashMap<Uuid, u64> = HashMap::new();
        let mut heads: HashMap<String, Option<u64>> = HashMap::new();
        let mut head = self.head;
        let mut hash = self.last_hash;
        let mut new_streams = 0;
        let mut fates = Vec::with_capacity(batch.len());
        for request in &batch {
            let fate = match self.dedup(request, &pending, &pending_ids) {
                Err(error) => Planned::Rejected(error),
                Ok(Some(outcome)) => Planned::Deduplicated(outcome),
                Ok(None) => match self.current(&request.stream, &heads) {
                    Err(error) => Planned::Rejected(error),
                    Ok(actual) if !request.expected.admits(actual) => {
                        Planned::Rejected(StoreError::Conflict {
                            stream: request.stream.clone(),
                            expected: request.expected,
                            actual,
                        })
                    }
                    Ok(actual) => {
                        let prefix = stream_prefix(&request.stream);
                        let first_version = actual.map_or(0, |v| v + 1);
                        let first_position = head + 1;
                        for (i, new) in request.events.iter().enumerate() {
                            head += 1;
                            let mut event = RecordedEvent {
                                stream: request.stream.clone(),
                                version: first_version + i as u64,
                                position: head,
                                id: new.id,
                                event_type: new.event_type.clone(),
                                schema_version: new.schema_version,
                                payload: new.payload.clone(),
                                metadata: new.metadata.clone(),
                                hash: GENESIS_HASH,
                            };
                            let (value, next_hash) = envelope::encode(&event, &hash);
                            // Check before writing: the bytes must read back as the event.
                            event.hash = next_hash;
                            debug_assert_eq!(
                                envelope::decode(&value, head).ok(),
                                Some(event.clone())
                            );
                            hash = next_hash;
                            writes.insert(&event_key(head), value);
                            writes.insert(stream_key(&prefix, event.version), &head.to_be_bytes());
                            writes.insert(&id_key(new.id), &head.to_be_bytes());
                            pending_ids.insert(new.id, head);
                            pending.push(event);
                        }
                        let last_version = first_version + request.events.len() as u64 - 1;
                        if actual.is_none() {
                            new_streams += 1;
                        }
                        match &request.secret {
                            SecretChange::Keep => {}
                            SecretChange::Set(secret) => {
                                writes.insert(secret_key(&request.stream), secret.as_slice());
                            }
                            SecretChange::Destroy => writes.remove(secret_key(&request.stream)),
                        }
                        heads.insert(request.stream.clone(), Some(last_version));
                        Planned::Accepted(AppendOutcome {
                            first_version,
                            last_version,
                            first_position,
                            last_position: head,
                            deduplicated: false,
                        })
                    }
                },
            };
            fates.push(fate);
        }

        let wrote = !pending.is_empty();
        let stored = if wrote {
            if new_streams > 0 {
                writes.insert(STREAMS_KEY, &(self.streams + new_streams).to_be_bytes());
            }
            let started = std::time::Instant::now();
            let stored = self
                .db
                .apply_batch(writes)
                .map_err(StoreError::from)
                .and_then(|()| match self.durability {
                    Durability::Fsync => self.sync(),
                    Durability::Interval { .. } => Ok(()),
                });
            metrics::histogram!("rectify_eventlog_flush_seconds").record(started.elapsed());
            metrics::histogram!("rectify_eventlog_events_per_flush").record(pending.len() as f64);
            metrics::counter!("rectify_eventlog_flushes_total").increment(1);
            metrics::counter!("rectify_eventlog_events_total").increment(pending.len() as u64);
            stored
        } else {
            Ok(())
        };
        let failure = match stored {
            Ok(()) => {
                if wrote {
                    // The single writer gave each event the next position after the committed head.
                    debug_assert_eq!(head - self.head, pending.len() as u64);
                    self.head = head;
                    self.last_hash = hash;
                    self.streams += new_streams;
                    self.committed.store(head, Ordering::Release);
                    self.streams_shared.store(self.streams, Ordering::Release);
                    // No receivers is fine.
                    let _ = self.live.send(Arc::from(pending));
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
            let position = match pending_ids.get(&event.id) {
                Some(&position) => Some(position),
                None => match self.db.get(id_key(event.id))? {
                    Some(value) => Some(be_u64(&value, 0)?),
                    None => None,
                },
            };
            found.push(position);
        }
        let Some(first_known) = found.iter().position(Option::is_some) else {
            return Ok(None);
        };
        let mismatch = |i: usize| StoreError::IdempotencyMismatch {
            event_id: request.events[i].id,
        };
        let mut previous: Option<RecordedEvent> = None;
        let mut first = None;
        for (i, (new, position)) in request.events.iter().zip(&found).enumerate() {
            let Some(position) = *position else {
                return Err(mismatch(first_known));
            };
            let recorded = if position > self.head {
                pending[(position - self.head - 1) as usize].clone()
            } else {
                read_event(&self.db, position)?.ok_or(StoreError::Corrupt {
                    position,
                    reason: "indexed event is missing".into(),
                })?
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

fn read_event(db: &sled::Db, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
    match db.get(event_key(position))? {
        None => Ok(None),
        Some(value) => envelope::decode(&value, position).map(Some),
    }
}

/// The stream's last version among events at positions ≤ `visible`.
fn stream_head(db: &sled::Db, stream: &str, visible: u64) -> Result<Option<u64>, StoreError> {
    let prefix = stream_prefix(stream);
    for entry in db.scan_prefix(&prefix).rev() {
        let (key, value) = entry?;
        let position = be_u64(&value, 0)?;
        if position <= visible {
            return Ok(Some(be_u64(&key[prefix.len()..], position)?));
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

impl Reader {
    fn head(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    fn event_at(&self, position: u64) -> Result<Option<RecordedEvent>, StoreError> {
        if position == 0 || position > self.head() {
            return Ok(None);
        }
        read_event(&self.db, position)
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
        let mut expected = from;
        for entry in self.db.range(event_key(from)..=event_key(end)) {
            let (key, value) = entry?;
            let position = be_u64(&key[1..], expected)?;
            if position != expected {
                return Err(StoreError::Corrupt {
                    position: expected,
                    reason: "event missing from the log".into(),
                });
            }
            expected += 1;
            let event = envelope::decode(&value, position)?;
            if filter.matches(&event) {
                out.push(event);
                if out.len() == max_match {
                    break;
                }
            }
        }
        if expected <= end && out.len() < max_match {
            return Err(StoreError::Corrupt {
                position: expected,
                reason: "event missing from the log".into(),
            });
        }
        Ok((out, expected))
    }

    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let head = self.head();
        let prefix = stream_prefix(stream);
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            match direction {
                Direction::Forward => Box::new(
                    self.db
                        .range(stream_key(&prefix, from_version)..=stream_key(&prefix, u64::MAX)),
                ),
                Direction::Backward => Box::new(
                    self.db
                        .range(stream_key(&prefix, 0)..=stream_key(&prefix, from_version))
                        .rev(),
                ),
            };
        let mut out = Vec::new();
        for entry in entries {
            if out.len() >= max_count {
                break;
            }
            let (key, value) = entry?;
            let position = be_u64(&value, 0)?;
            if position > head {
                continue;
            }
            let version = be_u64(&key[prefix.len()..], position)?;
            let event = read_event(&self.db, position)?.ok_or(StoreError::Corrupt {
                position,
                reason: "indexed event is missing".into(),
            })?;
            if event.stream != stream || event.version != version {
                return Err(StoreError::Corrupt {
                    position,
                    reason: "stream index disagrees with the event".into(),
                });
            }
            out.push(event);
        }
        Ok(out)
    }

    fn find(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let Some(value) = self.db.get(id_key(id))? else {
            return Ok(None);
        };
        let position = be_u64(&value, 0)?;
        let Some(event) = self.event_at(position)? else {
            return Ok(None);
        };
        if event.id != id {
            return Err(StoreError::Corrupt {
                position,
                reason: "id index disagrees with the event".into(),
            });
        }
        Ok(Some(event))
    }

    /// Checks up to `VERIFY_STEP` records from `from` (≤ `head`) chaining from `hash`.
    fn verify_step(
        &self,
        from: u64,
        head: u64,
        mut hash: [u8; 32],
    ) -> Result<VerifyStep, StoreError> {
        let end = head.min(from + VERIFY_STEP - 1);
        let mut expected = from;
        let mut checked = 0;
        let broken = |position: u64, reason: &str, checked, hash| {
            Ok(VerifyStep {
                checked,
                hash,
                broken: Some((position, reason.to_owned())),
            })
        };
        for entry in self.db.range(event_key(from)..=event_key(end)) {
            let (key, value) = entry?;
            let position = be_u64(&key[1..], expected)?;
            if position != expected {
                return broken(expected, "event missing from the log", checked, hash);
            }
            let event = match envelope::decode(&value, position) {
                Ok(event) => event,
                Err(StoreError::Corrupt { reason, .. }) => {
                    return broken(position, &reason, checked, hash);
                }
                Err(other) => return Err(other),
            };
            let (stored, _) = envelope::split(&value, position)?;
            if envelope::chain_hash(&hash, stored) != event.hash {
                return broken(position, "hash chain broken", checked, hash);
            }
            hash = event.hash;
            checked += 1;
            expected += 1;
        }
        if expected <= end {
            return broken(expected, "event missing from the log", checked, hash);
        }
        Ok(VerifyStep {
            checked,
            hash,
            broken: None,
        })
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
        self.validate(stream, &events)?;
        if let SecretChange::Set(bytes) = &secret {
            limit(
                "secret bytes",
                self.inner.config.max_event_bytes,
                bytes.len(),
            )?;
        }
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
            .get(secret_key(stream))?
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

    #[tokio::test]
    async fn tampered_bytes_are_named_by_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = StoreConfig {
            path: dir.path().join("log"),
            ..StoreConfig::default()
        };
        let store = SledStore::open(config.clone()).expect("open");
        for n in 0..10 {
            store
                .append("s", ExpectedVersion::Any, vec![event(n)])
                .await
                .expect("append");
        }
        assert!(store.verify(&mut |_| {}).await.expect("verify").ok());
        // Change one payload byte and re-seal the record's checksum so only
        // the hash chain can notice.
        let db = &store.inner.reader.db;
        let mut value = db
            .get(event_key(7))
            .expect("get")
            .expect("present")
            .to_vec();
        let stored_len = value.len() - 32;
        let body_len = stored_len - 4;
        let payload_at = value[..body_len]
            .windows(4)
            .position(|w| w == b"\"n\":")
            .expect("payload present");
        value[payload_at + 4] = b'9';
        let crc = envelope::crc32(&value[..body_len]);
        value[body_len..stored_len].copy_from_slice(&crc.to_le_bytes());
        db.insert(event_key(7), value).expect("tamper");
        let report = store.verify(&mut |_| {}).await.expect("verify");
        assert_eq!(report.events_checked, 6);
        assert_eq!(report.first_broken.map(|b| b.0), Some(7));

        // A flipped bit without a re-sealed checksum is named too, and reads fail.
        let mut value = db
            .get(event_key(3))
            .expect("get")
            .expect("present")
            .to_vec();
        value[20] ^= 1;
        db.insert(event_key(3), value).expect("tamper");
        let report = store.verify(&mut |_| {}).await.expect("verify");
        assert_eq!(report.first_broken.map(|b| b.0), Some(3));
        assert!(matches!(
            store.read_all(1, 10, &Filter::default()).await,
            Err(StoreError::Corrupt { position: 3, .. })
        ));
    }
}
