//! `EventService`: subscriptions, paged log reads and hash-chain verification.

use std::{pin::Pin, sync::Arc};

use futures::{Stream, StreamExt as _};
use rectify_eventlog::{EventStore as _, Filter};
use tonic::{Request, Response, Status};

use crate::{
    pb::{self, event_service_server::EventService},
    server::auth::{Action, authorize},
    server::convert::event_to_pb,
    server::error::ServiceError,
    server::privacy::{log_reader_sees_personal_data, received_submitter},
    server::state::AppState,
};

/// Largest page `ReadLog` returns.
pub const MAX_READ_PAGE: u32 = 1_000;
/// Page size when the caller gives none.
pub const DEFAULT_READ_PAGE: u32 = 100;
/// Longest accepted stream prefix or event type filter string.
const MAX_FILTER_LEN: usize = 128;
/// Most event types one filter may name.
const MAX_FILTER_TYPES: usize = 64;

/// The `EventService` implementation.
#[derive(Debug, Clone)]
pub struct Events {
    state: Arc<AppState>,
}

impl Events {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

fn filter_from_pb(filter: Option<pb::EventFilter>) -> Result<Filter, ServiceError> {
    let filter = filter.unwrap_or_default();
    if filter.stream_prefix.len() > MAX_FILTER_LEN {
        return Err(ServiceError::invalid(
            "filter.stream_prefix",
            format!("longer than {MAX_FILTER_LEN} bytes"),
        ));
    }
    if filter.event_types.len() > MAX_FILTER_TYPES
        || filter
            .event_types
            .iter()
            .any(|t| t.is_empty() || t.len() > MAX_FILTER_LEN)
    {
        return Err(ServiceError::invalid(
            "filter.event_types",
            format!("at most {MAX_FILTER_TYPES} non-empty names of at most {MAX_FILTER_LEN} bytes"),
        ));
    }
    Ok(Filter {
        stream_prefix: (!filter.stream_prefix.is_empty()).then_some(filter.stream_prefix),
        event_types: filter.event_types,
    })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EventService for Events {
    type SubscribeStream = EventStream;

    #[tracing::instrument(skip_all, fields(from = request.get_ref().from_position))]
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let actor = authorize(&request, Action::ReadLog)?;
        let request = request.into_inner();
        let filter = filter_from_pb(request.filter)?;
        let from = request.from_position.max(1);
        let subscription = self.state.store.subscribe(from, filter);
        let open = Arc::new(crate::server::metrics::SubscriberGuard::new());
        let state = self.state.clone();
        let pii = log_reader_sees_personal_data(&actor);
        let stream = subscription.then(move |item| {
            // The stream owns the guard: the gauge drops when it ends.
            let (state, _open) = (state.clone(), open.clone());
            async move {
                let event = item.map_err(ServiceError::from)?;
                let submitter = received_submitter(&state, &event).await?;
                Ok(pb::SubscribeResponse {
                    event: Some(event_to_pb(&event, submitter.as_ref(), pii)),
                })
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(from = request.get_ref().from_position))]
    async fn read_log(
        &self,
        request: Request<pb::ReadLogRequest>,
    ) -> Result<Response<pb::ReadLogResponse>, Status> {
        let actor = authorize(&request, Action::ReadLog)?;
        let request = request.into_inner();
        let max_count = match request.max_count {
            0 => DEFAULT_READ_PAGE,
            n if n > MAX_READ_PAGE => {
                return Err(
                    ServiceError::invalid("max_count", format!("at most {MAX_READ_PAGE}")).into(),
                );
            }
            n => n,
        };
        let filter = filter_from_pb(request.filter)?;
        let store = &self.state.store;
        let head_position = store.head_position().await.map_err(ServiceError::from)?;
        let from = request.from_position.max(1);
        let events = store
            .read_all(from, max_count as usize, &filter)
            .await
            .map_err(ServiceError::from)?;
        let next_position = match events.last() {
            Some(last) if last.position < head_position => last.position + 1,
            _ => 0,
        };
        let pii = log_reader_sees_personal_data(&actor);
        let mut replies = Vec::with_capacity(events.len());
        for event in &events {
            let submitter = received_submitter(&self.state, event).await?;
            replies.push(event_to_pb(event, submitter.as_ref(), pii));
        }
        Ok(Response::new(pb::ReadLogResponse {
            events: replies,
            next_position,
            head_position,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn verify_log(
        &self,
        request: Request<pb::VerifyLogRequest>,
    ) -> Result<Response<pb::VerifyLogResponse>, Status> {
        authorize(&request, Action::VerifyLog)?;
        let report = self
            .state
            .store
            .verify(&mut |_progress| {})
            .await
            .map_err(ServiceError::from)?;
        let tree = self
            .state
            .transparency
            .check(&self.state.store)
            .await
            .map_err(|error| ServiceError::Internal(format!("checking the tree: {error:#}")))?;
        Ok(Response::new(crate::server::convert::verify_report_to_pb(
            &report, &tree,
        )))
    }
}
