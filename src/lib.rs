//! rectify: an event-sourced complaint and rectification workflow service.
//!
//! Complaints from the 12345 hotline, government portals and inspections are
//! recorded as events in an append-only, hash-chained log; routing to lead and
//! responsible units comes from the city's action-plan catalog; every view is
//! a projection of the log.
//!
//! Two halves and their shared leaves (see ARCHITECTURE.md):
//!
//! - [`cli`] is the `rectify` command line: argument parsing, gRPC clients,
//!   printing, the load generator; it starts the server for `rectify serve`;
//! - [`server`] is everything `rectify serve` runs: state, gRPC services,
//!   the app layer, authentication, the vault, the deadline watcher,
//!   metrics and the offline maintenance of a data directory;
//! - the leaves both use: [`pb`] (generated code), [`wire`] (header names,
//!   timestamps), [`labels`] (Chinese names beside the wire's codes) and
//!   [`telemetry`].
//!
//! **Invariant:** dependencies run one way, `cli → server → crates/*`, and
//! no two modules import each other; `tests/tidy.rs` fails otherwise. Only
//! this crate knows protobuf and tonic; errors become `tonic::Status` in one
//! place (`server::error`).

pub mod cli;
pub mod labels;
pub mod pb;
pub mod server;
pub mod telemetry;
pub mod wire;
