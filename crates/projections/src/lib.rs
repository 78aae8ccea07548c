//! rectify-projections: the read models, each a pure function of the log.
//!
//! This crate owns the views people work from, built by folding the event
//! log: the issue ledger (台账, [`ledger`]) with its filtered lists, unit
//! inboxes, per-unit counts and grouped counts ([`count`]); the evaluation (月调度、季点评、年总评,
//! [`stats`]); spreadsheet exports ([`export`]); the indexes that answer
//! queries without scanning every row; and the checkpointed runner that keeps
//! them current ([`runner`]). Beside them, [`mechanisms`] folds the city's
//! registries and what came through its own mechanisms (stations' QR
//! complaints, liaison cadres', experience officers' reports), checkpointed
//! by the same runner in its own tree of the projection store.
//!
//! # Invariants
//!
//! 1. A view is a pure function of the log: applying the events from
//!    position 1 in order gives the same state as any interleaving of
//!    checkpoints, restarts and incremental updates (tested by replaying
//!    random valid histories both ways).
//! 2. A checkpoint (rows and the position they reflect) is written in one
//!    atomic batch, so a restart resumes exactly after the last applied
//!    event.
//! 3. Events arrive in strictly increasing positions; anything else is a bug
//!    in the feed and stops the view rather than corrupting it.
//! 4. Views hold no personal data of submitters.
//! 5. Every query is bounded: page sizes, free-text length, export size and
//!    ranking lengths have named limits.
//! 6. The secondary indexes (`index.rs`: free-text bigrams, per-unit and
//!    per-area intake order, open work per unit, the watcher's rows, fact
//!    spans) are derived from the rows and rebuilt on load, except the
//!    bigram postings of full blocks of slots, which are stored with the
//!    checkpoint because a full block's never change; a loaded index equals
//!    one rebuilt from the rows, and a query through the indexes returns
//!    exactly what a full scan returns (tested with random histories,
//!    filters and pages).
//! 7. Rows hold unit, area and district codes as interned [`Code`]s (one
//!    allocation per distinct code for the process), never free text, and
//!    instants as 8-byte [`Timestamp`]s. A row's strings share one
//!    allocation, and the id → slot table
//!    (`ids.rs`) finds rows through their own ids, so no id is held twice.
//! 8. Checkpointed rows use the binary encoding of `codec.rs`, keyed by
//!    slot so a load gives each row the slot it had, under one
//!    format number ([`runner::LEDGER_FORMAT`]; the mechanisms view's,
//!    [`mechanisms::CHECKPOINT_FORMAT`]); a store in another format is
//!    rebuilt from the log, never misread.
//!
//! This crate knows nothing of gRPC; the service converts at its edge.

pub mod code;
mod codec;
pub mod count;
pub mod export;
mod ids;
mod index;
pub mod items;
pub mod ledger;
pub mod mechanisms;
mod parallel;
pub mod row;
pub mod runner;
mod slab;
pub mod stats;
pub mod timestamp;

pub use code::Code;
pub use ledger::{
    DueWarning, Inbox, LedgerFilter, LedgerView, ListPage, ListQuery, Scope, SortOrder, UnitCounts,
};
pub use row::LedgerRow;
pub use runner::{Ledger, ProjectionDb};
pub use timestamp::Timestamp;

/// Errors of the read models; each variant is one kind of failure.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// A query argument is malformed.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The view has not reached the wanted position in time.
    #[error("the ledger has applied position {applied}, not yet {wanted}")]
    NotYetApplied {
        /// The position asked for.
        wanted: u64,
        /// The position reached.
        applied: u64,
    },
    /// An event was fed out of order (a bug in the feed).
    #[error("event at position {got} arrived after position {applied}")]
    OutOfOrder {
        /// The last applied position.
        applied: u64,
        /// The position that arrived.
        got: u64,
    },
    /// A stored event cannot be read.
    #[error("cannot read the event at position {position}: {reason}")]
    Decode {
        /// Its position.
        position: u64,
        /// Why.
        reason: String,
    },
    /// The checkpoint store holds something unreadable.
    #[error("checkpoint store: {0}")]
    Checkpoint(String),
    /// Writing an export failed.
    #[error("export failed: {0}")]
    Export(String),
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] rectify_eventlog::StoreError),
    /// The checkpoint store's engine failed.
    #[error("checkpoint store engine: {0}")]
    Sled(#[from] sled::Error),
}
