//! The `rectify` command line: the top-level commands and their dispatch.
//!
//! Each command group is one file that owns its arguments and handlers:
//! `complaint`, `watch`, `catalog`, `ledger` (台账), `inbox`, `stats`,
//! `rect` (整改台账), `registry` (名录), `receipt` and `checkpoints` (the
//! transparency log's verifier), `admin` and [`bench`](mod@bench); they share the
//! request side in `connect` and the reply side in `output`. This file
//! imports them, never the reverse. `rectify serve` hands its raw arguments
//! to the server, which resolves them into a
//! [`crate::server::config::ServerConfig`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::server::config::{ServeArgs, ServerConfig};

mod admin;
pub mod bench;
mod catalog;
mod checkpoints;
mod complaint;
mod connect;
mod inbox;
mod ledger;
mod output;
mod receipt;
mod rect;
mod registry;
mod stats;
mod watch;

use admin::AdminCommand;
use bench::BenchArgs;
use catalog::CatalogCommand;
use checkpoints::CheckpointsCommand;
use complaint::ComplaintCommand;
use connect::Connection;
use inbox::InboxArgs;
use ledger::LedgerCommand;
use receipt::ReceiptCommand;
use rect::RectCommand;
use registry::RegistryCommand;
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
    /// The city's registries (key enterprises, 包联 pairs, experience
    /// officers, stations) and the stations' ranking.
    Registry {
        /// Server and identity.
        #[command(flatten)]
        conn: Connection,
        /// The read.
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// What waits for a unit, by step; without a unit, every unit's
    /// workload (dispatch centre).
    Inbox(InboxArgs),
    /// Evaluation (月调度、季点评、年总评): response, resolution and
    /// satisfaction rates per unit or district, with red and black lists.
    Stats(StatsArgs),
    /// Receipts of the transparency log: fetch one, or verify one (its
    /// signature offline; with --server its inclusion and the log's growth).
    Receipt {
        /// The step.
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Signed checkpoints of the transparency log: save the latest, or
    /// audit those saved over time for forks and rewrites.
    Checkpoints {
        /// The step.
        #[command(subcommand)]
        command: CheckpointsCommand,
    },
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

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // The server sets up its own telemetry once its configuration is known;
    // client commands log warnings and worse to stderr (`RUST_LOG` decides).
    if !matches!(cli.command, Command::Serve(_)) {
        let _ = crate::telemetry::init("warn", None);
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one top-level command: one handler per command group.
async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let config = ServerConfig::resolve(&args)?;
            let _telemetry = crate::telemetry::init("info", config.otlp_endpoint.as_deref())?;
            crate::server::serve(config, crate::server::shutdown_signal()).await?;
        }
        Command::Complaint { conn, command } => complaint::run(&conn, command).await?,
        Command::Watch(args) => watch::run(args).await?,
        Command::Catalog { conn, command } => catalog::run(&conn, command).await?,
        Command::Ledger { conn, command } => ledger::run(&conn, command).await?,
        Command::Rectification { conn, command } => rect::run(&conn, command).await?,
        Command::Registry { conn, command } => registry::run(&conn, command).await?,
        Command::Inbox(args) => inbox::run(args).await?,
        Command::Stats(args) => stats::run(args).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::Receipt { command } => return receipt::run(command).await,
        Command::Checkpoints { command } => return checkpoints::run(command).await,
        Command::Admin { conn, command } => return admin::run(&conn, command).await,
    }
    Ok(ExitCode::SUCCESS)
}
