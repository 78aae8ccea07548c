//! The gRPC service implementations. Each converts protobuf to domain types
//! at the edge and hands commands to [`crate::server::app`].

mod catalog;
mod complaints;
mod events;
mod ledgers;
mod queries;

pub use catalog::CatalogApi;
pub use complaints::Complaints;
pub use events::Events;
pub use ledgers::{Ledgers, PLAN_LEDGER_ID, import_plan};
pub use queries::{Admin, Queries};
