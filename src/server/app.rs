//! The application layer: how a command becomes durable events.
//!
//! Every command is handled the same way (see ARCHITECTURE.md): load the
//! stream, fold its events into state with `evolve`, `decide` the new events,
//! append them with the expected version. A conflict means someone else wrote
//! first: when the caller gave no expected version the command is decided
//! again on the fresh state (at most [`MAX_CONFLICT_RETRIES`] times); when it
//! did, the caller gets `ABORTED` with the current version.
//!
//! Personal data: between `decide` and the append, [`Aggregate::seal`]
//! replaces what must not be stored in clear by sealed tokens and names the
//! change to the stream's secret (a new wrapped data key, or its
//! destruction), which the store applies in the same atomic write. The state
//! returned to the caller is folded from the unsealed events.
//!
//! Idempotency: a command carrying a request id gets event ids derived from
//! (principal, request id, index). Before deciding, the first of those ids is
//! looked up; if it exists, the original result is returned and nothing is
//! written. A race between two identical retries is settled by the store,
//! which refuses to write an event id twice.

use rectify_eventlog::{
    Direction, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, SecretChange,
    StoreError, Uuid,
};

use crate::{server::error::ServiceError, server::vault::Vault};

/// How many times a command without an explicit expected version is decided
/// again after losing a race for its stream.
pub const MAX_CONFLICT_RETRIES: usize = 5;
/// Page size used when loading a stream.
const LOAD_PAGE: usize = 1_000;
/// Longest accepted request id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Namespace of the UUIDv5 event ids derived from request ids.
const REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_9b7d_4e58_a0c4_52d1_7e93_b6f0);

/// An event-sourced aggregate: the pure decider plus its stream encoding.
pub trait Aggregate {
    /// State folded from the stream's events.
    type State: Default + Send + Sync;
    /// What a caller asks for.
    type Command: Send;
    /// What happened.
    type Event: Send;

    /// Stream name for an aggregate id.
    fn stream_name(id: &str) -> String;
    /// Decides the events of a command; no I/O.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, ServiceError>;
    /// Folds one event into the state.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;
    /// When `event` holds what must not be stored in clear, or changes the
    /// stream's secret: the event to store instead and the change to the
    /// secret. `None` (the default) stores the event as it is.
    fn seal(
        _vault: &Vault,
        _stream: &str,
        _event: &Self::Event,
    ) -> Result<Option<(Self::Event, SecretChange)>, ServiceError> {
        Ok(None)
    }
    /// Event type, schema version and payload bytes of an event.
    fn encode(event: &Self::Event) -> (&'static str, u32, Vec<u8>);
    /// Decodes a stored event (upcasting old schema versions).
    fn decode(stored: &RecordedEvent) -> Result<Self::Event, ServiceError>;
}

/// Who sent a command and how it should be applied.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The authenticated principal; recorded as the events' actor.
    pub principal: String,
    /// Caller's idempotency key, if any.
    pub request_id: Option<String>,
    /// Caller's expected stream version, if any.
    pub expected_version: Option<u64>,
    /// Correlation id recorded in the metadata.
    pub correlation_id: Option<String>,
    /// When the command was received (unix ms); from the server's clock.
    pub recorded_at_ms: i64,
    /// The caller asked for a receipt of each event the command wrote.
    pub want_receipts: bool,
}

impl CommandContext {
    /// The context of a step the server takes itself (a warning, a class
    /// fix): idempotent by `request_id`, no expected version.
    pub fn system(principal: &str, request_id: String, at: chrono::DateTime<chrono::Utc>) -> Self {
        CommandContext {
            principal: principal.to_owned(),
            request_id: Some(request_id),
            expected_version: None,
            correlation_id: None,
            recorded_at_ms: at.timestamp_millis(),
            want_receipts: false,
        }
    }
}

/// The outcome of a command.
#[derive(Debug)]
pub struct Executed<S> {
    /// Stream version after the command.
    pub version: u64,
    /// Global position of the first event written; the command's events
    /// are contiguous in the log, `first_position..=position`.
    pub first_position: u64,
    /// Global position of the last event written.
    pub position: u64,
    /// True when this is the replay of an earlier identical request.
    pub deduplicated: bool,
    /// State after the command.
    pub state: S,
}

/// A loaded stream: its state and version (`None` = no stream).
#[derive(Debug)]
pub struct Loaded<S> {
    /// State folded from every event of the stream.
    pub state: S,
    /// Current stream version.
    pub version: Option<u64>,
    /// Position of the stream's last event (0 = none).
    pub position: u64,
}

/// Loads and folds a whole stream.
pub async fn load<A: Aggregate, S: EventStore>(
    store: &S,
    stream: &str,
) -> Result<Loaded<A::State>, ServiceError> {
    let mut state = A::State::default();
    let mut version = None;
    let mut position = 0;
    let mut next = 0u64;
    loop {
        let page = store
            .read_stream(stream, next, Direction::Forward, LOAD_PAGE)
            .await?;
        for stored in &page {
            state = A::evolve(state, &A::decode(stored)?);
            version = Some(stored.version);
            position = stored.position;
        }
        if page.len() < LOAD_PAGE {
            break;
        }
        next = version.map_or(0, |v| v + 1);
    }
    Ok(Loaded {
        state,
        version,
        position,
    })
}

/// The event id of the `index`th event of a request.
pub fn request_event_id(principal: &str, request_id: &str, index: usize) -> Uuid {
    let name = format!("{principal}\n{request_id}\n{index}");
    Uuid::new_v5(&REQUEST_NAMESPACE, name.as_bytes())
}

/// If a request with this id was already applied, the stream it was applied
/// to and the recorded events it wrote (oldest first).
pub async fn find_request<S: EventStore>(
    store: &S,
    principal: &str,
    request_id: &str,
) -> Result<Option<(String, Vec<RecordedEvent>)>, ServiceError> {
    let Some(first) = store
        .find_event(request_event_id(principal, request_id, 0))
        .await?
    else {
        return Ok(None);
    };
    let stream = first.stream.clone();
    let mut events = vec![first];
    // A command writes a handful of events; this walk is bounded by its size.
    loop {
        let id = request_event_id(principal, request_id, events.len());
        match store.find_event(id).await? {
            Some(next) if next.stream == stream => events.push(next),
            _ => break,
        }
    }
    Ok(Some((stream, events)))
}

/// Handles one command against the stream of aggregate `id`.
///
/// `make` builds the command from the current state: a command such as
/// dispatch needs the complaint's classification to compute routing and due
/// times, and must see the same state `decide` sees. It runs again when the
/// command is retried after a lost race.
pub async fn execute<A: Aggregate, S: EventStore>(
    store: &S,
    vault: &Vault,
    id: &str,
    ctx: &CommandContext,
    make: impl FnMut(&A::State) -> Result<A::Command, ServiceError> + Send,
) -> Result<Executed<A::State>, ServiceError> {
    execute_inner::<A, S>(store, vault, id, ctx, make, FirstRead::Load).await
}

/// Like [`execute`] for a command that creates its stream (intake): the
/// first attempt decides on the empty state without reading the stream and
/// appends with `NoStream`; if the stream exists after all, the store
/// refuses and the command is decided again on the loaded state (which then
/// reports that the aggregate exists).
pub async fn execute_creating<A: Aggregate, S: EventStore>(
    store: &S,
    vault: &Vault,
    id: &str,
    ctx: &CommandContext,
    make: impl FnMut(&A::State) -> Result<A::Command, ServiceError> + Send,
) -> Result<Executed<A::State>, ServiceError> {
    let first = match ctx.expected_version {
        None => FirstRead::AssumeNew,
        Some(_) => FirstRead::Load,
    };
    execute_inner::<A, S>(store, vault, id, ctx, make, first).await
}

/// How the first attempt of a command learns its stream's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRead {
    /// Load and fold the stream: every command but intake.
    Load,
    /// Decide on the empty state without reading: intake, whose stream is
    /// new; if it exists after all, the store refuses the append and the
    /// retry loads it.
    AssumeNew,
}

#[tracing::instrument(name = "command", level = "debug", skip_all, fields(aggregate_id = %id))]
async fn execute_inner<A: Aggregate, S: EventStore>(
    store: &S,
    vault: &Vault,
    id: &str,
    ctx: &CommandContext,
    mut make: impl FnMut(&A::State) -> Result<A::Command, ServiceError> + Send,
    first: FirstRead,
) -> Result<Executed<A::State>, ServiceError> {
    let stream = A::stream_name(id);
    if let Some(request_id) = &ctx.request_id
        && let Some(done) = replay::<A, S>(store, &stream, ctx, request_id).await?
    {
        return Ok(done);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let loaded = if first == FirstRead::AssumeNew && attempt == 1 {
            Loaded {
                state: A::State::default(),
                version: None,
                position: 0,
            }
        } else {
            load::<A, S>(store, &stream).await?
        };
        if let Some(expected) = ctx.expected_version
            && loaded.version != Some(expected)
        {
            return Err(ServiceError::VersionMismatch {
                expected,
                actual: loaded.version,
            });
        }
        let command = make(&loaded.state)?;
        let events = A::decide(&loaded.state, &command)?;
        if events.is_empty() {
            return Err(ServiceError::Internal("a command decided no events".into()));
        }
        let mut secret = SecretChange::Keep;
        let mut new_events = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let (event_type, schema_version, payload) = match A::seal(vault, &stream, event)? {
                Some((sealed, change)) => {
                    secret = change;
                    A::encode(&sealed)
                }
                None => A::encode(event),
            };
            new_events.push(NewEvent {
                id: match &ctx.request_id {
                    Some(request_id) => request_event_id(&ctx.principal, request_id, index),
                    None => Uuid::new_v4(),
                },
                event_type: event_type.to_owned(),
                schema_version,
                payload,
                metadata: Metadata {
                    correlation_id: ctx.correlation_id.clone(),
                    causation_id: None,
                    actor: Some(ctx.principal.clone()),
                    recorded_at_ms: ctx.recorded_at_ms,
                    request_id: ctx.request_id.clone(),
                },
            });
        }
        let expected = match loaded.version {
            Some(version) => ExpectedVersion::Exact(version),
            None => ExpectedVersion::NoStream,
        };
        match store
            .append_with_secret(&stream, expected, new_events, secret)
            .await
        {
            Ok(outcome) => {
                check_appended(&outcome, events.len(), &loaded);
                let state = events.iter().fold(loaded.state, A::evolve);
                return Ok(Executed {
                    version: outcome.last_version,
                    first_position: outcome.first_position,
                    position: outcome.last_position,
                    deduplicated: outcome.deduplicated,
                    state,
                });
            }
            Err(StoreError::Conflict { actual, .. }) => {
                if ctx.expected_version.is_some() || attempt >= MAX_CONFLICT_RETRIES {
                    return Err(ServiceError::VersionMismatch {
                        expected: loaded.version.map_or(0, |v| v),
                        actual,
                    });
                }
            }
            Err(StoreError::IdempotencyMismatch { .. }) => {
                // An identical request won the race with different content
                // (decided on another state): its result is the answer.
                let request_id = ctx.request_id.as_deref().unwrap_or_default();
                return match replay::<A, S>(store, &stream, ctx, request_id).await? {
                    Some(done) => Ok(done),
                    None => Err(ServiceError::Internal(
                        "idempotency mismatch without a recorded request".into(),
                    )),
                };
            }
            Err(other) => return Err(other.into()),
        }
    }
}

/// Checks what must hold after an append of `count` events decided on
/// `loaded` (debug builds): the stream's version and the log's position
/// both advance by exactly `count` (one append's events are contiguous in
/// the log), and the stream continues right after the version the command
/// was decided on, or starts at 0. A deduplicated append reports the
/// original numbers, which share only the count.
fn check_appended<S>(outcome: &rectify_eventlog::AppendOutcome, count: usize, loaded: &Loaded<S>) {
    let count = count as u64;
    debug_assert_eq!(
        outcome.last_version - outcome.first_version + 1,
        count,
        "versions advance by the number of events"
    );
    debug_assert_eq!(
        outcome.last_position - outcome.first_position + 1,
        count,
        "positions advance by the number of events"
    );
    if !outcome.deduplicated {
        debug_assert_eq!(
            outcome.first_version,
            loaded.version.map_or(0, |v| v + 1),
            "the stream continues where the command was decided"
        );
        debug_assert!(
            outcome.first_position > loaded.position,
            "the log only grows"
        );
    }
}

/// The original result of an already-applied request, if it was applied.
async fn replay<A: Aggregate, S: EventStore>(
    store: &S,
    stream: &str,
    ctx: &CommandContext,
    request_id: &str,
) -> Result<Option<Executed<A::State>>, ServiceError> {
    let Some((found_stream, events)) = find_request(store, &ctx.principal, request_id).await?
    else {
        return Ok(None);
    };
    if found_stream != stream {
        return Err(ServiceError::invalid(
            "options.request_id",
            "this request id was already used for another complaint or ledger",
        ));
    }
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(ServiceError::Internal("empty replay".into()));
    };
    let loaded = load::<A, S>(store, stream).await?;
    Ok(Some(Executed {
        version: last.version,
        first_position: first.position,
        position: last.position,
        deduplicated: true,
        state: loaded.state,
    }))
}
