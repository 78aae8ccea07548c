//! `AdminService`: operator calls on a running server — run the deadline
//! watcher now, an online backup of the log, the store's figures.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::{
    pb::{self, admin_service_server::AdminService},
    server::{
        auth::{Action, authorize},
        convert,
        error::ServiceError,
        maintenance,
        state::AppState,
        watcher,
    },
    wire::timestamp,
};

/// The `AdminService` implementation.
#[derive(Debug, Clone)]
pub struct Admin {
    state: Arc<AppState>,
}

impl Admin {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl AdminService for Admin {
    #[tracing::instrument(skip_all)]
    async fn scan_deadlines(
        &self,
        request: Request<pb::ScanDeadlinesRequest>,
    ) -> Result<Response<pb::ScanDeadlinesResponse>, Status> {
        authorize(&request, Action::ScanDeadlines)?;
        let report = watcher::scan(&self.state).await?;
        Ok(Response::new(pb::ScanDeadlinesResponse {
            yellow: report.yellow,
            red: report.red,
            skipped: report.skipped,
            now: report.now.map(timestamp),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn backup(
        &self,
        request: Request<pb::BackupRequest>,
    ) -> Result<Response<pb::BackupResponse>, Status> {
        authorize(&request, Action::Operate)?;
        let req = request.into_inner();
        if req.destination.is_empty() {
            return Err(ServiceError::invalid("destination", "required").into());
        }
        let destination = std::path::PathBuf::from(&req.destination);
        let report = maintenance::backup_to(
            &self.state.store,
            &destination,
            self.state.master_key_in_data_dir.as_deref(),
            &mut |_, _| {},
        )
        .await
        .map_err(|error| match error {
            maintenance::BackupError::Destination(reason) => {
                ServiceError::invalid("destination", reason)
            }
            maintenance::BackupError::Store(store) => ServiceError::Store(store),
        })?;
        tracing::info!(events = report.events, destination = %destination.display(), "backup written");
        Ok(Response::new(pb::BackupResponse {
            events: report.events,
            last_hash: convert::hex(&report.last_hash),
            destination: req.destination,
        }))
    }

    async fn get_store_stats(
        &self,
        request: Request<pb::GetStoreStatsRequest>,
    ) -> Result<Response<pb::GetStoreStatsResponse>, Status> {
        authorize(&request, Action::Operate)?;
        let store = self.state.store.clone();
        let stats = tokio::task::spawn_blocking(move || store.stats())
            .await
            .map_err(|error| ServiceError::Internal(error.to_string()))?
            .map_err(ServiceError::Store)?;
        Ok(Response::new(pb::GetStoreStatsResponse {
            events: stats.events,
            streams: stats.streams,
            size_on_disk_bytes: stats.size_on_disk_bytes,
            projections_applied: self.state.ledger.applied(),
        }))
    }
}
