//! Reads that the services share: the read-your-writes wait for a log
//! position, and queries on the projections' view off the async workers.

use std::time::Duration;

use crate::server::{error::ServiceError, state::AppState};

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
