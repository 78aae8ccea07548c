//! The backend-neutral subscription handle.
//!
//! A backend runs a task that catches up from storage and then follows live
//! commits, pushing into a bounded channel; [`Subscription`] is the receiving
//! end. When the consumer is slow the channel fills, the task waits, and the
//! backend's live feed may lag; the task then re-reads storage, so memory
//! stays bounded and appenders are never blocked. Dropping the handle stops
//! the task.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{RecordedEvent, StoreError};

/// Events delivered to a subscriber between the catch-up task and the consumer.
pub(crate) const SUBSCRIPTION_BUFFER: usize = 256;

/// What a subscription yields.
pub type SubscriptionItem = Result<RecordedEvent, StoreError>;

/// A stream of committed events in position order; see [`crate::EventStore::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    /// Events (or the error that ended the subscription) from the feeding task.
    receiver: mpsc::Receiver<Result<RecordedEvent, StoreError>>,
    /// The feeding task, aborted when the subscription is dropped.
    task: Option<JoinHandle<()>>,
}

impl Subscription {
    /// A subscription fed by `task` through `receiver`. For backends.
    pub fn new(
        receiver: mpsc::Receiver<Result<RecordedEvent, StoreError>>,
        task: JoinHandle<()>,
    ) -> Self {
        Subscription {
            receiver,
            task: Some(task),
        }
    }

    /// A bounded channel of the size subscriptions use. For backends.
    pub fn channel() -> (
        mpsc::Sender<SubscriptionItem>,
        mpsc::Receiver<SubscriptionItem>,
    ) {
        mpsc::channel(SUBSCRIPTION_BUFFER)
    }
}

impl Stream for Subscription {
    type Item = Result<RecordedEvent, StoreError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
