//! Reads that the services share: the read-your-writes wait for a log
//! position, queries on the projections' view off the async workers, and
//! receipts for events of the log.

use std::time::Duration;

use rectify_eventlog::{EventStore as _, Filter, RecordedEvent};

use crate::{
    pb,
    server::{error::ServiceError, state::AppState, transparency::leaf_of},
};

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

/// A receipt for the event at `position`, signed now.
pub async fn receipt_at(state: &AppState, position: u64) -> Result<pb::Receipt, ServiceError> {
    let event = state
        .store
        .read_all(position, 1, &Filter::default())
        .await?
        .into_iter()
        .next()
        .filter(|event| event.position == position)
        .ok_or_else(|| ServiceError::Internal(format!("position {position} not readable")))?;
    receipt_pb(state, &event)
}
