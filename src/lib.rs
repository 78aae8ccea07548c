//! rectify: an event-sourced complaint and rectification workflow service.
//!
//! Complaints from the 12345 hotline, government portals and inspections are
//! recorded as events in an append-only, hash-chained log; routing to lead and
//! responsible units comes from the city's action-plan catalog; every view is
//! a projection of the log.
//!
//! Layers, from the wire inward (see ARCHITECTURE.md):
//!
//! - [`server`] wires tonic, health, reflection and graceful shutdown;
//! - [`services`] implement the gRPC services and convert protobuf at the edge
//!   ([`convert`]); [`auth`] turns request metadata into an actor;
//! - [`watcher`] appends deadline warnings from the ledger projection;
//! - [`app`] runs commands: load → evolve → decide → seal → append, with
//!   idempotent retries by request id;
//! - [`vault`] seals submitters' personal data with a data key per complaint
//!   (wrapped by the master key) and makes erasure a key destruction;
//! - `rectify_domain` (pure deciders), `rectify_catalog` (routing, calendar,
//!   deadlines), `rectify_eventlog` (the store) and `rectify_projections`
//!   (the ledger, inboxes and evaluation) below it.
//!
//! Only this crate knows protobuf and tonic; errors become `tonic::Status` in
//! one place ([`error`]).

pub mod app;
pub mod auth;
pub mod authn;
pub mod bench;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod convert;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod rect_client;
pub mod reports;
pub mod server;
pub mod services;
pub mod telemetry;
pub mod vault;
pub mod watcher;

/// Code generated from `proto/rectify/v1`; never edited by hand.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod pb {
    tonic::include_proto!("rectify.v1");

    /// The encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/rectify_descriptor.bin"));
}
