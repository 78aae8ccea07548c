//! The gRPC service implementations. Each converts protobuf to domain types
//! at the edge ([`prepare`], [`crate::server::convert`]) and hands commands
//! to [`crate::server::app`]; queries read the projections through
//! [`reads`].

mod admin;
mod catalog;
mod complaints;
mod events;
mod ledgers;
pub mod prepare;
mod queries;
pub mod reads;
mod registry;
mod transparency;

pub use admin::Admin;
pub use catalog::CatalogApi;
pub use complaints::Complaints;
pub use events::Events;
pub use ledgers::{Ledgers, PLAN_LEDGER_ID, import_plan};
pub use queries::Queries;
pub use registry::Registry;
pub use transparency::Transparency;
