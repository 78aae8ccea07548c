//! The gRPC service implementations. Each converts protobuf to domain types
//! at the edge and hands commands to [`crate::app`].

mod catalog;
mod complaints;
mod events;
mod queries;

pub use catalog::CatalogApi;
pub use complaints::Complaints;
pub use events::Events;
pub use queries::{Admin, Queries};
