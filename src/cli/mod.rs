//! Command-line interface: argument definitions and dispatch.
//!
//! Raw parsed arguments live here; the server resolves them into a
//! [`crate::server::config::ServerConfig`], client commands into gRPC requests.

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::server::config::ServeArgs;

pub mod bench;
mod catalog;
pub mod client;
mod complaint;
mod connect;
mod inbox;
mod ledger;
mod output;
pub mod rect;
pub mod reports;
mod stats;
mod watch;

use bench::BenchArgs;
use catalog::CatalogCommand;
use complaint::ComplaintCommand;
pub use connect::{CommandFlags, Connection};
use inbox::InboxArgs;
use ledger::LedgerCommand;
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

/// Ledger sources, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SourceArg {
    /// 自查自纠.
    SelfInspection,
    /// Supervision inspection.
    Supervision,
    /// Experience officers' feedback.
    Officer,
    /// A cluster of complaints.
    Complaints,
    /// A reform plan.
    Plan,
}

/// Rectification ledger steps and views.
#[derive(Debug, Subcommand)]
pub enum RectCommand {
    /// Open a ledger.
    Open {
        /// Ledger id.
        ledger_id: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Where its problems come from.
        #[arg(long, value_enum)]
        source: SourceArg,
        /// Owning unit code.
        #[arg(long)]
        owner: String,
        /// Use the action plan's four phases.
        #[arg(long)]
        plan_phases: bool,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// Add an item.
    AddItem {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// The problem.
        #[arg(long)]
        problem: String,
        /// The measures.
        #[arg(long, default_value = "")]
        measures: String,
        /// Task area code it belongs to.
        #[arg(long)]
        group: Option<String>,
        /// Lead unit codes (repeatable).
        #[arg(long = "lead", required = true)]
        lead: Vec<String>,
        /// Responsible unit codes (repeatable).
        #[arg(long = "responsible")]
        responsible: Vec<String>,
        /// Deadline (RFC 3339).
        #[arg(long)]
        deadline: Option<String>,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// Record progress on an item.
    Progress {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// What was done.
        #[arg(long)]
        note: String,
        /// Evidence references (repeatable).
        #[arg(long)]
        evidence: Vec<String>,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// 销号: close an item with evidence and the verifier.
    CloseItem {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// Evidence references (repeatable, at least one).
        #[arg(long, required = true)]
        evidence: Vec<String>,
        /// Who verified the rectification.
        #[arg(long)]
        verifier: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// Reopen a closed item.
    ReopenItem {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// Link complaints to an item (its class problem).
    Link {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// Complaint ids.
        #[arg(required = true)]
        complaints: Vec<String>,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// Complaints that may belong to an item's class problem.
    Suggest {
        /// Ledger id.
        ledger_id: String,
        /// Item id.
        item_id: String,
        /// Only this district.
        #[arg(long)]
        district: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Close the ledger (refused while items are open).
    Close {
        /// Ledger id.
        ledger_id: String,
        /// Note.
        #[arg(long, default_value = "")]
        note: String,
        /// Idempotency and concurrency.
        #[command(flatten)]
        flags: CommandFlags,
    },
    /// One ledger's progress per group, unit and phase.
    Show {
        /// Ledger id.
        ledger_id: String,
        /// Wait until the projection has applied this log position.
        #[arg(long, default_value_t = 0)]
        min_position: u64,
    },
    /// Every ledger with its totals.
    List,
    /// A ledger's items.
    Items {
        /// Ledger id.
        ledger_id: String,
        /// Only this group (task area code).
        #[arg(long)]
        group: Option<String>,
        /// Only items this unit answers for (`--unit` is the identity).
        #[arg(long = "of")]
        of: Option<String>,
        /// Only open items.
        #[arg(long)]
        open: bool,
        /// Only overdue items.
        #[arg(long)]
        overdue: bool,
    },
    /// Which units hold the most open items across every ledger.
    Rollup,
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
