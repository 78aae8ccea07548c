//! The CLI client: turns parsed commands into gRPC calls and prints replies,
//! as text by default or as canonical protobuf JSON with `--json`.

use std::process::ExitCode;

use crate::{
    cli::connect::client,
    cli::output::call,
    cli::{AdminCommand, Command, Connection},
    pb::{self, event_service_client::EventServiceClient},
    server::config::ServerConfig,
};

/// Exit code of `admin verify` when the hash chain is broken.
pub const EXIT_CHAIN_BROKEN: u8 = 3;

/// Sets up `tracing` output: to stderr, filtered by `RUST_LOG` (default
/// `info` for the server, `warn` for client commands).
pub fn init_tracing(server: bool) {
    let default = if server { "info" } else { "warn" };
    let _ = crate::telemetry::init(default, None);
}

/// Runs one top-level command.
pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let config = ServerConfig::resolve(&args)?;
            let _telemetry = crate::telemetry::init("info", config.otlp_endpoint.as_deref())?;
            crate::server::serve(config, crate::server::shutdown_signal()).await?;
        }
        Command::Complaint { conn, command } => crate::cli::complaint::run(&conn, command).await?,
        Command::Watch(args) => crate::cli::watch::run(args).await?,
        Command::Catalog { conn, command } => crate::cli::catalog::run(&conn, command).await?,
        Command::Ledger { conn, command } => crate::cli::ledger::run(&conn, command).await?,
        Command::Inbox(args) => crate::cli::inbox::run(args).await?,
        Command::Stats(args) => crate::cli::stats::run(args).await?,
        Command::Rectification { conn, command } => crate::cli::rect::run(&conn, command).await?,
        Command::Bench(args) => crate::cli::bench::run(args).await?,
        Command::Admin { conn, command } => return admin(&conn, command).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn admin(conn: &Connection, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Verify => {
            let mut client = client(conn, EventServiceClient::new).await?;
            let report = call(client.verify_log(pb::VerifyLogRequest {})).await?;
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
        AdminCommand::Backup { to } => {
            crate::cli::reports::backup(conn, &to).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Restore { backup, data_dir } => {
            let report = crate::cli::reports::restore(&backup, &data_dir).await?;
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
        AdminCommand::RotateMasterKey {
            data_dir,
            master_key_file,
            new_key_file,
        } => {
            let report = crate::server::maintenance::rotate_master_key(
                &data_dir,
                master_key_file.as_deref(),
                new_key_file.as_deref(),
            )
            .await?;
            if conn.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "rewrapped": report.rewrapped,
                        "old_key": report.old_key_id,
                        "new_key": report.new_key_id,
                        "new_key_file": report.new_key_file.display().to_string(),
                    })
                );
            } else {
                println!(
                    "re-wrapped {} data keys: master key {} → {} ({})",
                    report.rewrapped,
                    report.old_key_id,
                    report.new_key_id,
                    report.new_key_file.display()
                );
                if report.old_key_file_kept {
                    println!(
                        "Configure master_key_file = {} and destroy the old key file.",
                        report.new_key_file.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::NewToken => {
            let (token, hash) = crate::server::authn::new_token();
            if conn.json {
                println!(
                    "{}",
                    serde_json::json!({"token": token, "token_blake3": hash})
                );
            } else {
                println!("token:        {token}");
                println!("token_blake3: {hash}");
                println!("Give the token to its principal; put only the hash in [[principals]].");
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Stats => {
            crate::cli::reports::store_stats(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::ImportPlan => {
            crate::cli::rect::import_plan(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::ScanDeadlines => {
            crate::cli::reports::scan_deadlines(conn).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::Rebuild { data_dir } => {
            crate::cli::reports::rebuild(&data_dir).await?;
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::VerifyDir { data_dir } => {
            let report = crate::cli::reports::verify_dir(&data_dir).await?;
            Ok(print_verify(
                conn.json,
                report.ok,
                report.events_checked,
                report.first_bad_position,
                &report.reason,
            ))
        }
    }
}

fn print_verify(json: bool, ok: bool, checked: u64, first_bad: u64, reason: &str) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": ok, "events_checked": checked, "first_bad_position": first_bad, "reason": reason})
        );
    } else if ok {
        println!("hash chain verified: {checked} events");
    } else {
        println!("hash chain BROKEN at position {first_bad}: {reason} ({checked} events checked)");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CHAIN_BROKEN)
    }
}
