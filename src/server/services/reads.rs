//! Reads that the services share: the read-your-writes wait for a log
//! position, queries on the projections' view off the async workers, and
//! receipts for events of the log.

use std::time::Duration;

use rectify_eventlog::{EventStore as _, Filter, RecordedEvent};

use crate::{
    pb,
    server::{app::CommandContext, error::ServiceError, state::AppState, transparency::leaf_of},
};

/// Most receipts one reply carries: a command writes a handful of events.
const MAX_RECEIPTS: usize = 64;

/// Longest a query waits for `min_position` to be reached.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// Waits, at most [`MIN_POSITION_WAIT`], until the projections have applied
/// `min_position` (0: no wait). The one wait for a position: the projections
/// follow the log, so once they have applied `min_position` the log holds
/// it too, and reads that fold a stream see it as well.
pub async fn wait_for_position(state: &AppState, min_position: u64) -> Result<(), ServiceError> {
    Ok(state
        .ledger
        .wait_for(min_position, MIN_POSITION_WAIT)
        .await?)
}

/// Looks a record up in the mechanisms view (stations, officers, …). When
/// `find` finds nothing, the view first catches up with the log as it
/// stands now (a record imported just before this request may not be
/// applied yet), at most [`MIN_POSITION_WAIT`], and `find` looks again: a
/// record is called unknown only once the view has seen everything written
/// before the request.
pub async fn in_registry<R>(
    state: &AppState,
    find: impl Fn(&rectify_projections::mechanisms::MechanismsView) -> Option<R>,
) -> Result<Option<R>, ServiceError> {
    if let Some(found) = state.mechanisms.read(&find) {
        return Ok(Some(found));
    }
    let head = state.store.head_position().await?;
    state.mechanisms.wait_for(head, MIN_POSITION_WAIT).await?;
    Ok(state.mechanisms.read(&find))
}

/// Runs `f` on the projections' view on the blocking pool: a query scans
/// rows under a read lock and must not stall the async workers.
pub async fn on_view<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&rectify_projections::LedgerView) -> Result<R, ServiceError> + Send + 'static,
) -> Result<R, ServiceError> {
    let ledger = state.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.read(f))
        .await
        .map_err(|error| ServiceError::Internal(format!("query task failed: {error}")))?
}

/// A receipt for `event`, signed now, as protobuf.
pub fn receipt_pb(state: &AppState, event: &RecordedEvent) -> Result<pb::Receipt, ServiceError> {
    let leaf = leaf_of(event);
    let bytes = leaf
        .encode()
        .map_err(|error| ServiceError::Internal(format!("encoding the leaf: {error}")))?;
    let signed = state.transparency.receipt(leaf)?.signed;
    Ok(pb::Receipt {
        leaf: bytes,
        origin: signed.statement.origin,
        position: signed.statement.position,
        leaf_hash: signed.statement.leaf_hash.to_vec(),
        time_unix_s: signed.statement.time_unix_s,
        key_name: signed.key_name,
        key_id: signed.key_id,
        signature: signed.signature.to_vec(),
    })
}

/// Receipts for the events at `first..=last`, signed now, oldest first.
pub async fn receipts_between(
    state: &AppState,
    first: u64,
    last: u64,
) -> Result<Vec<pb::Receipt>, ServiceError> {
    let count = last
        .checked_sub(first)
        .and_then(|n| usize::try_from(n + 1).ok())
        .filter(|&n| first > 0 && n <= MAX_RECEIPTS)
        .ok_or_else(|| {
            ServiceError::Internal(format!("no receipts for positions {first}..={last}"))
        })?;
    let events = state
        .store
        .read_all(first, count, &Filter::default())
        .await?;
    let positions: Vec<u64> = events.iter().map(|event| event.position).collect();
    if positions != (first..=last).collect::<Vec<_>>() {
        return Err(ServiceError::Internal(format!(
            "positions {first}..={last} not readable"
        )));
    }
    events
        .iter()
        .map(|event| receipt_pb(state, event))
        .collect()
}

/// A receipt for the event at `position`, signed now.
pub async fn receipt_at(state: &AppState, position: u64) -> Result<pb::Receipt, ServiceError> {
    let mut receipts = receipts_between(state, position, position).await?;
    receipts
        .pop()
        .ok_or_else(|| ServiceError::Internal(format!("position {position} not readable")))
}

/// `result` with a receipt for each event the command wrote
/// (`first_position..=result.position`) when the caller asked for them.
pub async fn with_receipts(
    state: &AppState,
    ctx: &CommandContext,
    mut result: pb::CommandResult,
    first_position: u64,
) -> Result<pb::CommandResult, ServiceError> {
    if ctx.want_receipts {
        result.receipts = receipts_between(state, first_position, result.position).await?;
    }
    Ok(result)
}
