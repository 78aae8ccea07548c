//! The event log: rectify's only ground state.
//!
//! This crate owns the append-only, hash-chained event log behind the
//! backend-agnostic [`EventStore`] trait, its embedded sled backend
//! ([`SledStore`]), its PostgreSQL backend ([`PostgresStore`], for several
//! nodes on one database) and the [`conformance`] suite every backend must
//! pass. Both backends store the same envelope bytes and hash chain, so a
//! log copied between them ([`copy_log`]) verifies identically.
//! It knows nothing of complaints: events are opaque payload bytes with a
//! type name and a schema version.
//!
//! On disk the log has a format version ([`FORMAT_VERSION`], 5): the sled
//! backend appends each committed batch, checksummed, to a segment file
//! that is the log's truth (with the stream secrets a commit sets, in a
//! record of their own), indexes the event ids in sorted immutable run
//! files beside it, and keeps its other indexes, the stream secrets and
//! the metadata in sled (see its module doc). It opens format 4 as
//! format 5 (nothing differs but the marker), refuses a directory in
//! another format with [`StoreError::Format`], and [`upgrade_store`]
//! converts format 1 (one sled key per event; [`legacy_v1`] reads and
//! writes it), format 2 (one sled value per batch; [`legacy_v2`]) and
//! format 3 (the id index in sled) in place.
//!
//! # Invariants
//!
//! 1. Every stream's versions are gapless from 0; every event has one global
//!    position, gapless and strictly increasing from 1 (0 means "empty log").
//! 2. An append is all or nothing, and is checked against its
//!    [`ExpectedVersion`] at the moment it is ordered.
//! 3. Event ids are unique. Re-sending an append whose ids are all written
//!    returns the original versions and positions and writes nothing; the same
//!    ids with different content is [`StoreError::IdempotencyMismatch`].
//! 4. With [`Durability::Fsync`] an append is acknowledged only after its
//!    bytes are on stable storage. Storage errors are returned to the
//!    appender, never turned into an acknowledgement. A commit cut short
//!    by a crash is never read in part: opening the store cuts it off.
//! 5. Each event stores `hash = BLAKE3(previous hash || stored bytes)` in
//!    global order; [`EventStore::verify`] names the first position where
//!    the chain breaks.
//! 6. Bytes are checked before they are written and after they are read;
//!    damaged records surface as [`StoreError::Corrupt`] with their position.
//! 7. Every queue and buffer has a bound; a slow subscriber falls back to
//!    reading storage instead of holding memory.
//! 8. A stream may have one *secret* (e.g. a wrapped data key) kept beside
//!    the log, outside the hash chain. It is set or destroyed only together
//!    with an append ([`SecretChange`]), atomically and durably with it (in
//!    the sled backend: the secret is written in the commit's first record,
//!    synced with its events, and an open re-indexes it from there or cuts
//!    it off with an unfinished commit; a destroyed or replaced secret's
//!    bytes are overwritten with zeros in the segment file before the
//!    acknowledgement), so a secret never exists without its events and a
//!    destroyed secret is never acknowledged before it is gone from the
//!    live store. Destroying it changes no event and no hash.
//!
//! # Schema evolution (upcasting)
//!
//! The store never rewrites events. The envelope keeps the `event_type` and
//! the `schema_version` the event was written with; readers map old versions
//! to the current type when they decode the payload. A reader typically
//! matches on `(event_type, schema_version)`:
//!
//! ```
//! # use rectify_eventlog::RecordedEvent;
//! #[derive(serde::Deserialize)]
//! struct ReceivedV1 { text: String }
//! #[derive(serde::Deserialize, Debug, PartialEq)]
//! struct Received { title: String, text: String }
//!
//! fn decode(event: &RecordedEvent) -> Result<Received, serde_json::Error> {
//!     match (event.event_type.as_str(), event.schema_version) {
//!         // Version 1 had no title: upcast by deriving one.
//!         ("ComplaintReceived", 1) => {
//!             let old: ReceivedV1 = serde_json::from_slice(&event.payload)?;
//!             Ok(Received { title: old.text.chars().take(20).collect(), text: old.text })
//!         }
//!         _ => serde_json::from_slice(&event.payload),
//!     }
//! }
//! ```
//!
//! The conformance suite stores a version-1 event and reads it back through
//! such an upcaster (`conformance::upcasting_reads_old_versions`).

mod batch;
mod copy;
mod envelope;
mod idruns;
mod indexer;
mod keys;
mod postgres_store;
mod recover;
mod secrets;
mod segment;
mod sled_store;
mod subscription;
mod upgrade;

pub mod legacy_v1;
pub mod legacy_v2;

pub mod conformance;

use std::future::Future;
use std::path::PathBuf;

pub use copy::{COPY_PAGE, CopyReport, copy_log};
pub use keys::FORMAT_VERSION;
pub use postgres_store::{POLL_INTERVAL, POSTGRES_SCHEMA_VERSION, PostgresStore};
pub use sled_store::SledStore;
pub use subscription::Subscription;
pub use upgrade::{UpgradeReport, upgrade_store};
pub use uuid::Uuid;

/// What the appender believes about the stream's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must exist (hold at least one event).
    StreamExists,
    /// The stream's last version must be exactly this.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `actual` (`None`: no stream)
    /// satisfies this expectation.
    pub fn admits(self, actual: Option<u64>) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual.is_none(),
            ExpectedVersion::StreamExists => actual.is_some(),
            ExpectedVersion::Exact(n) => actual == Some(n),
        }
    }
}

/// Who and what caused an event; stored with it, never interpreted here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// Ties together every event of one business transaction.
    pub correlation_id: Option<String>,
    /// The command or event that directly caused this one.
    pub causation_id: Option<String>,
    /// The authenticated principal that issued the command.
    pub actor: Option<String>,
    /// Unix milliseconds, supplied by the caller (the store reads no clock).
    pub recorded_at_ms: i64,
    /// The client's request id, for tracing retries.
    pub request_id: Option<String>,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Unique id; the idempotency key of the append.
    pub id: Uuid,
    /// Type name, e.g. `ComplaintReceived`.
    pub event_type: String,
    /// Version of the payload's schema for `event_type` (see upcasting).
    pub schema_version: u32,
    /// Payload bytes; serde JSON by convention.
    pub payload: Vec<u8>,
    /// Envelope metadata.
    pub metadata: Metadata,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream: String,
    /// Its version in the stream, gapless from 0.
    pub version: u64,
    /// Its global position, gapless from 1.
    pub position: u64,
    /// The event id.
    pub id: Uuid,
    /// Type name.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Envelope metadata.
    pub metadata: Metadata,
    /// `BLAKE3(previous event's hash || this event's stored bytes)`.
    pub hash: [u8; 32],
}

/// What an append does to its stream's secret (invariant 8).
///
/// The change is applied only when the append writes its events: a rejected
/// or deduplicated append changes no secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecretChange {
    /// Leave the secret as it is.
    #[default]
    Keep,
    /// Store this secret for the stream, replacing any earlier one.
    Set(Vec<u8>),
    /// Remove the stream's secret.
    Destroy,
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Stream version of the first appended event.
    pub first_version: u64,
    /// Stream version of the last appended event.
    pub last_version: u64,
    /// Global position of the first appended event.
    pub first_position: u64,
    /// Global position of the last appended event.
    pub last_position: u64,
    /// True when every event id was already written by an identical append,
    /// so nothing was written and the original numbers are returned.
    pub deduplicated: bool,
}

/// Reading direction within a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending versions from `from_version`.
    Forward,
    /// Descending versions from `from_version` (`u64::MAX`: from the end).
    Backward,
}

/// Which events of the whole log to return; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only streams whose name starts with this.
    pub stream_prefix: Option<String>,
    /// Only these event types (empty: all).
    pub event_types: Vec<String>,
}

impl Filter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        self.stream_prefix
            .as_deref()
            .is_none_or(|prefix| event.stream.starts_with(prefix))
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// Errors of the event store; each variant is one kind of failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream's version did not match the expectation; `actual` is its
    /// current last version (`None`: no such stream).
    #[error("version conflict on stream {stream:?}: expected {expected:?}, actual {actual:?}")]
    Conflict {
        /// The stream appended to.
        stream: String,
        /// What the appender expected.
        expected: ExpectedVersion,
        /// The stream's actual last version.
        actual: Option<u64>,
    },
    /// An event id is already written with different content (or as part of
    /// a different append).
    #[error("event id {event_id} was already appended with different content")]
    IdempotencyMismatch {
        /// The first offending id.
        event_id: Uuid,
    },
    /// A configured limit was exceeded.
    #[error("{what} exceeds the limit: {actual} > {limit}")]
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// The configured limit.
        limit: u64,
        /// The offending value.
        actual: u64,
    },
    /// The request is malformed (empty append, empty stream name, duplicate ids…).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operating system reported an I/O error (disk full, EIO, …).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The storage engine reported an error.
    #[error("storage engine error: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The data directory holds a log format this build does not read.
    #[error("the event log is in format {found}; this build reads format {supported}")]
    Format {
        /// The format found on disk.
        found: u32,
        /// The format this build reads and writes.
        supported: u32,
    },
    /// Stored bytes failed their checks.
    #[error("corrupt record at position {position}: {reason}")]
    Corrupt {
        /// Global position of the damaged record (0 if unknown).
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// The store was shut down.
    #[error("the event store is closed")]
    Closed,
}

/// Progress of a running [`EventStore::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Events checked so far.
    pub checked: u64,
    /// Head position when verification started.
    pub head: u64,
}

/// The outcome of [`EventStore::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events checked before stopping.
    pub events_checked: u64,
    /// The first position where the chain or a record check fails.
    pub first_broken: Option<(u64, String)>,
}

impl VerifyReport {
    /// True when the whole chain verified.
    pub fn ok(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// An append-only event log. Backends: [`SledStore`], [`PostgresStore`]; others run
/// [`conformance`] to prove the same behaviour.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` atomically to `stream` if `expected` holds.
    fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<AppendOutcome, StoreError>> + Send {
        self.append_with_secret(stream, expected, events, SecretChange::Keep)
    }

    /// Like [`append`](EventStore::append), and applies `secret` to the
    /// stream's secret in the same atomic write when the events are written.
    fn append_with_secret(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        secret: SecretChange,
    ) -> impl Future<Output = Result<AppendOutcome, StoreError>> + Send;

    /// The stream's secret, if it has one.
    fn stream_secret(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Up to `max_count` events of `stream` from `from_version`
    /// (inclusive). Backward with `u64::MAX` starts at the end.
    fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The stream's last version, `None` if it has no events.
    fn stream_version(
        &self,
        stream: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Up to `max_count` events matching `filter` at positions ≥ `from_position`.
    fn read_all(
        &self,
        from_position: u64,
        max_count: usize,
        filter: &Filter,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    /// The last committed position; 0 for an empty log.
    fn head_position(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The event with this id, if any.
    fn find_event(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<RecordedEvent>, StoreError>> + Send;

    /// Events matching `filter` from `from_position`: first from storage,
    /// then live, with no gap and no duplicate. Call inside a tokio runtime.
    fn subscribe(&self, from_position: u64, filter: Filter) -> Subscription;

    /// Walks the whole log checking records and the hash chain.
    fn verify(
        &self,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> impl Future<Output = Result<VerifyReport, StoreError>> + Send;
}

/// When an append is acknowledged relative to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge only after the data is on stable storage (default).
    Fsync,
    /// Acknowledge after the write reaches the OS; sync at most every
    /// `every_ms`. A power loss may lose the last `every_ms` of acknowledged
    /// appends (a process crash loses nothing).
    Interval {
        /// Milliseconds between syncs.
        every_ms: u64,
    },
}

/// Configuration of [`SledStore`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Directory of the database.
    pub path: PathBuf,
    /// Acknowledgement policy.
    pub durability: Durability,
    /// sled's page cache in bytes; sled holds the indexes, secrets and
    /// metadata (the log body is read from the segment file, outside it).
    /// Resident memory can reach several times this (sled issue 1309); the
    /// benchmark reports RSS.
    pub cache_capacity_bytes: u64,
    /// Largest payload + type + metadata of one event, in bytes.
    pub max_event_bytes: usize,
    /// Most events in one append.
    pub max_events_per_append: usize,
    /// Most appends waiting for the writer; further appenders wait.
    pub max_queued_appends: usize,
    /// Most events the writer commits with one flush (group commit).
    pub max_batch_events: usize,
    /// Longest stream name in bytes.
    pub max_stream_name_bytes: usize,
    /// Event ids the sled backend's id index gathers in memory before it
    /// writes them as a run file (runs are merged four into one as they
    /// accumulate). More means fewer, larger runs and more ids re-read
    /// from the segment file at open.
    pub id_run_events: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("rectify-data"),
            durability: Durability::Fsync,
            cache_capacity_bytes: 64 * 1024 * 1024,
            max_event_bytes: 64 * 1024,
            max_events_per_append: 100,
            max_queued_appends: 4096,
            max_batch_events: 4096,
            max_stream_name_bytes: 256,
            id_run_events: 1 << 16,
        }
    }
}

/// Size figures of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Events in the log (the head position).
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// Bytes the log occupies on disk (sled backend: sled's own figure plus
    /// the segment file's length).
    pub size_on_disk_bytes: u64,
}
