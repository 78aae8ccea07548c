//! Command-line interface: argument definitions and dispatch.
//!
//! Raw parsed arguments live here; the server resolves them into a
//! [`crate::server::config::ServerConfig`], client commands into gRPC requests.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::server::config::ServeArgs;

pub mod bench;
mod catalog;
pub mod client;
mod complaint;
mod connect;
mod inbox;
mod ledger;
mod output;
mod rect;
pub mod reports;
mod stats;
mod watch;

use bench::BenchArgs;
use catalog::CatalogCommand;
use complaint::ComplaintCommand;
pub use connect::{CommandFlags, Connection};
use inbox::InboxArgs;
use ledger::LedgerCommand;
use rect::RectCommand;
use stats::StatsArgs;
use watch::WatchArgs;

/// rectify — complaint and rectification workflow service.
#[derive(Debug, Parser)]
#[command(name = "rectify", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
// Parsed once per process; boxing the large variants buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC server (embedded store, seeded catalog).
    Serve(ServeArgs),
    /// Work on complaints: submit, dispatch, handle, call back, close.
    Complaint {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The step to take.
        #[command(subcommand)]
        command: ComplaintCommand,
    },
    /// Follow the event log live (catch-up first).
    Watch(WatchArgs),
    /// Look up units, districts, task areas and routing.
    Catalog {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The lookup.
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The issue ledger (台账): filtered lists and spreadsheet exports.
    Ledger {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The query.
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Rectification ledgers (整改台账): items closed one by one (逐项销号),
    /// the action plan as a ledger, class problems.
    #[command(alias = "rect")]
    Rectification {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The step.
        #[command(subcommand)]
        command: RectCommand,
    },
    /// What waits for a unit, by step; without a unit, every unit's
    /// workload (dispatch centre).
    Inbox(InboxArgs),
    /// Evaluation (月调度、季点评、年总评): response, resolution and
    /// satisfaction rates per unit or district, with red and black lists.
    Stats(StatsArgs),
    /// Drive realistic complaints through the full lifecycle and report
    /// throughput and latency per RPC.
    Bench(BenchArgs),
    /// Operator commands.
    Admin {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The operation.
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Verify the log's hash chain on a running server. Exit code 3 when the
    /// chain is broken.
    Verify,
    /// Rotate the master key (server stopped): re-wrap every complaint's data
    /// key under a new master key, then retire the old one. Copies of
    /// destroyed data keys left in old storage segments or in earlier
    /// backups are wrapped by the old key, so erased data is gone for good
    /// once the old key is destroyed.
    RotateMasterKey {
        /// The data directory.
        data_dir: PathBuf,
        /// The current master key file (default: DATA_DIR/master.key).
        #[arg(long)]
        master_key_file: Option<PathBuf>,
        /// The new master key file; created if missing. Without it the new
        /// key replaces the current key file in place and the old one is
        /// overwritten and removed.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
    /// Verify the hash chain of a data directory directly (server stopped).
    VerifyDir {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Run one pass of the deadline watcher now.
    ScanDeadlines,
    /// Load every task of the 2021 action plan as ledger `plan-2021`
    /// (idempotent).
    ImportPlan,
    /// Online backup: the running server copies its log, as it stands now,
    /// into a new directory on the server's disk.
    Backup {
        /// Destination directory on the server (must not exist or be empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into a new data directory (no server needed), then
    /// verify it.
    Restore {
        /// The backup directory.
        backup: PathBuf,
        /// The new data directory (must not exist or be empty).
        data_dir: PathBuf,
    },
    /// Events, streams and size on disk of the running server's log.
    Stats,
    /// Make a new random API token and print it with the hash to put in the
    /// server's `[[principals]]` (the server stores only the hash).
    NewToken,
    /// Drop the projections of a data directory and rebuild them from
    /// position 0 (server stopped), with a progress bar.
    Rebuild {
        /// The data directory.
        data_dir: PathBuf,
    },
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // The server sets up its own telemetry once its configuration is known.
    if !matches!(cli.command, Command::Serve(_)) {
        crate::cli::client::init_tracing(false);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::cli::client::dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
