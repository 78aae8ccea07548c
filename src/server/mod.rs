//! Everything `rectify serve` runs.
//!
//! From the wire inward:
//!
//! - [`serve`] binds the port and serves the gRPC [`services`] with health
//!   and reflection behind the tower layers of [`authn`] (bearer tokens),
//!   [`rate_limit`] and [`metrics`]; graceful shutdown;
//! - [`services`] convert protobuf at the edge ([`convert`]) and turn
//!   request metadata into an actor ([`auth`]);
//! - [`app`] runs commands: load → evolve → decide → seal → append, with
//!   idempotent retries by request id, for the aggregates bound to the log
//!   in [`aggregates`];
//! - [`privacy`] says who sees a submitter and masks or opens sealed
//!   personal data; [`vault`] seals it with a data key per complaint;
//! - [`watcher`] appends deadline warnings from the ledger projection;
//! - [`state`] opens what every service shares; [`maintenance`] backs up,
//!   restores, verifies, rebuilds and rotates keys of a data directory;
//! - [`open311`] serves Open311 GeoReport v2 over HTTP on the same port,
//!   calling the same [`services`];
//! - [`dashboard`] serves the dispatch centre's read-only pages over HTTP
//!   on the same port, calling the same [`services`];
//! - [`transparency`] keeps the Merkle tree over the log, its signing key
//!   and signed checkpoints, following the log like a projection;
//! - [`registry_csv`] reads the registries' spreadsheet files;
//! - [`config`], [`clock`] and [`error`] (the one mapping to `Status`).
//!
//! **Invariant:** nothing here depends on the command-line half of the
//! binary; the CLI is a client of this module, never the other way round
//! (`tests/tidy.rs` checks it).

pub mod aggregates;
pub mod app;
pub mod auth;
pub mod authn;
pub mod clock;
pub mod config;
pub mod convert;
pub mod dashboard;
pub mod error;
pub mod form;
pub mod maintenance;
pub mod metrics;
pub mod open311;
pub mod privacy;
pub mod rate_limit;
pub mod registry_csv;
pub mod serve;
pub mod services;
pub mod state;
pub mod transparency;
pub mod vault;
pub mod watcher;

pub use serve::{serve, serve_with, shutdown_signal};
pub use state::{AppState, open_state};
