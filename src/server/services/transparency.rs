//! `TransparencyService`: the signed checkpoints, proofs, key and receipts
//! of [`crate::server::transparency`].
//!
//! Checkpoints, proofs and the key hold no personal data and are given to
//! every authenticated role; a receipt names an event's stream and type, so
//! it goes to whoever may read that event (roles that read the whole log,
//! or anyone who may read the complaint the event belongs to).

use std::sync::Arc;

use rectify_domain::{Actor, ComplaintId, complaint};
use rectify_eventlog::{EventStore as _, Filter};
use tonic::{Request, Response, Status};

use super::{
    complaints::ensure_visible,
    reads::{MIN_POSITION_WAIT, receipt_pb},
};
use crate::{
    pb::{self, transparency_service_server::TransparencyService},
    server::{
        aggregates::ComplaintAggregate,
        app,
        auth::{Action, authorize, permits},
        error::ServiceError,
        state::AppState,
        transparency::TransparencyError,
    },
};

/// The `TransparencyService` implementation.
#[derive(Debug, Clone)]
pub struct Transparency {
    state: Arc<AppState>,
}

impl Transparency {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Refuses `actor` a receipt for an event of `stream` they may not read.
    async fn ensure_readable(&self, actor: &Actor, stream: &str) -> Result<(), ServiceError> {
        if permits(&actor.role, Action::ReadLog) {
            return Ok(());
        }
        let denied = || {
            ServiceError::PermissionDenied(format!(
                "role {} may not read events of {stream}",
                crate::server::auth::role_name(&actor.role)
            ))
        };
        let id = stream
            .strip_prefix("complaint-")
            .and_then(|raw| ComplaintId::new(raw).ok())
            .ok_or_else(denied)?;
        if complaint::stream_name(&id) != stream {
            return Err(denied());
        }
        let loaded = app::load::<ComplaintAggregate, _>(&self.state.store, stream).await?;
        ensure_visible(actor, &loaded.state, &id)
    }
}

impl From<TransparencyError> for ServiceError {
    fn from(error: TransparencyError) -> Self {
        match error {
            TransparencyError::BeyondTree { asked, size } => ServiceError::FailedPrecondition {
                kind: "TREE_SIZE",
                subject: size.to_string(),
                message: format!(
                    "tree size {asked} is beyond the tree's current size {size}; ask again later"
                ),
            },
            stalled @ TransparencyError::Stalled { .. } => {
                ServiceError::Unavailable(format!("{stalled}; ask again later"))
            }
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

fn hashes(proof: Vec<[u8; 32]>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|hash| hash.to_vec()).collect()
}

#[tonic::async_trait]
impl TransparencyService for Transparency {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::GetCheckpointResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let log = &self.state.transparency;
        let min = request.into_inner().min_tree_size;
        if min > 0 && !log.wait_for(min, MIN_POSITION_WAIT).await {
            return Err(ServiceError::NotYetApplied {
                wanted: min,
                applied: log.size(),
            }
            .into());
        }
        let signed = log.checkpoint().map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetCheckpointResponse {
            note: signed.note,
            size: signed.size,
            tree_size: log.size(),
        }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let req = request.into_inner();
        if req.position == 0 {
            return Err(ServiceError::invalid("position", "positions start at 1").into());
        }
        if req.position > req.tree_size {
            return Err(ServiceError::invalid(
                "tree_size",
                format!(
                    "a tree of size {} does not hold position {}",
                    req.tree_size, req.position
                ),
            )
            .into());
        }
        let proof = self
            .state
            .transparency
            .inclusion_proof(req.position - 1, req.tree_size)
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetInclusionProofResponse {
            leaf_index: req.position - 1,
            tree_size: req.tree_size,
            hashes: hashes(proof),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let req = request.into_inner();
        if req.old_size > req.new_size {
            return Err(ServiceError::invalid(
                "old_size",
                format!(
                    "old size {} is larger than new size {}",
                    req.old_size, req.new_size
                ),
            )
            .into());
        }
        let proof = self
            .state
            .transparency
            .consistency_proof(req.old_size, req.new_size)
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetConsistencyProofResponse {
            old_size: req.old_size,
            new_size: req.new_size,
            hashes: hashes(proof),
        }))
    }

    async fn get_log_key(
        &self,
        request: Request<pb::GetLogKeyRequest>,
    ) -> Result<Response<pb::GetLogKeyResponse>, Status> {
        authorize(&request, Action::ReadCatalog)?;
        let log = &self.state.transparency;
        let verifier = log.verifier();
        Ok(Response::new(pb::GetLogKeyResponse {
            verifier_key: verifier.to_string(),
            origin: log.origin().to_owned(),
            key_id: verifier.key_id(),
            retired: log
                .retired_keys()
                .iter()
                .rev()
                .map(|key| pb::RetiredLogKey {
                    verifier_key: key.verifier.to_string(),
                    key_id: key.verifier.key_id(),
                    retired_at: Some(crate::wire::timestamp(key.retired_at)),
                })
                .collect(),
        }))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::GetReceiptResponse>, Status> {
        let actor = authorize(&request, Action::ReadComplaint)?;
        let position = request.into_inner().position;
        if position == 0 {
            return Err(ServiceError::invalid("position", "positions start at 1").into());
        }
        let head = self
            .state
            .store
            .head_position()
            .await
            .map_err(ServiceError::from)?;
        if position > head {
            return Err(ServiceError::FailedPrecondition {
                kind: "POSITION",
                subject: head.to_string(),
                message: format!("position {position} is beyond the log's head {head}"),
            }
            .into());
        }
        let event = self
            .state
            .store
            .read_all(position, 1, &Filter::default())
            .await
            .map_err(ServiceError::from)?
            .into_iter()
            .next()
            .filter(|event| event.position == position)
            .ok_or_else(|| ServiceError::Internal(format!("position {position} not readable")))?;
        self.ensure_readable(&actor, &event.stream).await?;
        let log = &self.state.transparency;
        if !log.wait_for(position, MIN_POSITION_WAIT).await {
            return Err(ServiceError::NotYetApplied {
                wanted: position,
                applied: log.size(),
            }
            .into());
        }
        Ok(Response::new(pb::GetReceiptResponse {
            receipt: Some(receipt_pb(&self.state, &event)?),
        }))
    }
}
