//! `rectify admin …`: operator commands. On a running server: `verify`
//! (the hash chain), `backup`, `stats`, `scan-deadlines` and `import-plan`
//! (through the rectification module); on a stopped server's data
//! directory, with progress bars: `verify-dir`, `restore`, `rebuild`,
//! `upgrade-store` and `rotate-master-key`; between stores (sled or
//! PostgreSQL): `copy`; offline: `new-token`. The registries' imports and
//! a station's QR code (`import-enterprises`, …, `station-qr`) live in the
//! registry module.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::Context as _;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::{
    connect::{Connection, client},
    output::{call, print_reply},
    rect,
    registry::{self, Kind},
};
use crate::{
    pb::{
        self, admin_service_client::AdminServiceClient, event_service_client::EventServiceClient,
    },
    server::{
        config::StoreLocation,
        maintenance::{self, VerifyReport},
        transparency,
    },
};

/// Exit code of `admin verify` (and `verify-dir`, `restore`) when the hash
/// chain is broken.
const EXIT_CHAIN_BROKEN: u8 = 3;
/// Exit code of `admin verify` and `verify-dir` when the chain holds but
/// the transparency tree is not the one the log rebuilds.
const EXIT_TREE_WRONG: u8 = 4;

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
    /// Replace the log-signing key with a new one of the same name. The old
    /// verifier key is listed as retired beside the key file (its receipts
    /// and checkpoints still verify) and in log-signing.pub. Takes effect
    /// when the server (every node sharing the key) next starts.
    RotateLogKey {
        /// The data directory whose log-signing.key is replaced.
        data_dir: PathBuf,
        /// The signing key file, when configured apart from the data
        /// directory (log_signing_key_file).
        #[arg(long)]
        log_signing_key_file: Option<PathBuf>,
    },
    RotateMasterKey {
        /// The data directory, or the postgres:// URL of a log whose nodes
        /// are all stopped (then --master-key-file is required).
        data_dir: String,
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
    /// Copy a whole log between backends or places, with positions,
    /// versions, hashes and secrets, then verify the copy. Each side is a
    /// sled data directory (server stopped) or a PostgreSQL URL
    /// (postgres://user@host/db[?schema=NAME]); the destination must be
    /// empty. Exit code 3 when the copy's chain is broken.
    Copy {
        /// The source: a data directory or a postgres:// URL.
        #[arg(long)]
        from: String,
        /// The destination: a new or empty directory, or a postgres:// URL
        /// of a database (schema) without events.
        #[arg(long)]
        to: String,
    },
    /// Convert the event log of a data directory (server stopped) to the
    /// on-disk format of this version, in place, then verify its hash chain.
    /// Safe to interrupt: run it again to finish. Exit code 3 when the
    /// chain is broken.
    UpgradeStore {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Drop the projections of a data directory and rebuild them from
    /// position 0 (server stopped), with a progress bar. The transparency
    /// tree is dropped too and rebuilt by the server when it next starts.
    Rebuild {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// Import key enterprises from CSV: credit_code (统一社会信用代码),
    /// name (企业名称), kind (类型), district (旗区), aliases (别名).
    /// Idempotent; a bad row refuses the file, naming row and column.
    ImportEnterprises {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Import liaison pairs (包联) from CSV: credit_code, cadre (包联干部),
    /// level (层级: 市级/旗区级), from (起始日期), to (截止日期).
    ImportLiaisons {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Import experience officers (营商环境体验官) from CSV: id (编号),
    /// kind (类别), round (批次), active (在岗).
    ImportOfficers {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Import grassroots stations from CSV: code (站点编码), name (站点名称),
    /// district (旗区), unit (主管单位).
    ImportStations {
        /// The CSV file (UTF-8, header row).
        file: PathBuf,
    },
    /// Write a registered station's QR code as a PNG; it holds the portal
    /// URL with the station's code (`<portal>?station=<code>`).
    StationQr {
        /// The station's code.
        code: String,
        /// The PNG file to write.
        #[arg(long)]
        out: PathBuf,
        /// The portal page the code opens.
        #[arg(long, env = "RECTIFY_PORTAL_URL", default_value = registry::DEFAULT_PORTAL_URL)]
        portal_url: String,
    },
}

/// `rectify admin …`; the exit code says whether a verified hash chain
/// holds.
pub(super) async fn run(conn: &Connection, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let json = conn.json;
    let done = match command {
        AdminCommand::Verify => return Ok(print_verify(json, &verify(conn).await?)),
        AdminCommand::VerifyDir { data_dir } => {
            return Ok(print_verify(json, &verify_dir(&data_dir).await?));
        }
        AdminCommand::UpgradeStore { data_dir } => {
            return Ok(print_verify(json, &upgrade_store(json, &data_dir).await?));
        }
        AdminCommand::Copy { from, to } => {
            return Ok(print_verify(json, &copy(json, &from, &to).await?));
        }
        AdminCommand::Restore { backup, data_dir } => {
            return Ok(print_verify(json, &restore(&backup, &data_dir).await?));
        }
        AdminCommand::RotateMasterKey {
            data_dir,
            master_key_file,
            new_key_file,
        } => {
            let store = StoreLocation::parse(&data_dir);
            rotate_master_key(json, &store, master_key_file, new_key_file).await
        }
        AdminCommand::RotateLogKey {
            data_dir,
            log_signing_key_file,
        } => rotate_log_key(json, &data_dir, log_signing_key_file),
        AdminCommand::ScanDeadlines => scan_deadlines(conn).await,
        AdminCommand::ImportPlan => rect::import_plan(conn).await,
        AdminCommand::Backup { to } => backup(conn, &to).await,
        AdminCommand::Stats => store_stats(conn).await,
        AdminCommand::NewToken => {
            new_token(json);
            Ok(())
        }
        AdminCommand::Rebuild { data_dir } => rebuild(&data_dir).await,
        AdminCommand::ImportEnterprises { file } => {
            registry::import(conn, Kind::Enterprises, &file).await
        }
        AdminCommand::ImportLiaisons { file } => {
            registry::import(conn, Kind::Liaisons, &file).await
        }
        AdminCommand::ImportOfficers { file } => {
            registry::import(conn, Kind::Officers, &file).await
        }
        AdminCommand::ImportStations { file } => {
            registry::import(conn, Kind::Stations, &file).await
        }
        AdminCommand::StationQr {
            code,
            out,
            portal_url,
        } => registry::station_qr(conn, &code, &out, &portal_url).await,
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `admin verify`: the running server verifies its log's hash chain.
async fn verify(conn: &Connection) -> anyhow::Result<VerifyReport> {
    let mut client = client(conn, EventServiceClient::new).await?;
    let reply = call(client.verify_log(pb::VerifyLogRequest {})).await?;
    Ok(VerifyReport {
        ok: reply.ok,
        events_checked: reply.events_checked,
        first_bad_position: reply.first_bad_position,
        reason: reply.reason,
        tree: Some(transparency::TreeCheck {
            size: reply.tree_size,
            problem: (!reply.tree_ok).then_some(reply.tree_problem),
        }),
    })
}

/// Prints a hash-chain verification and returns the exit code it implies.
fn print_verify(json: bool, report: &VerifyReport) -> ExitCode {
    let VerifyReport {
        ok,
        events_checked: checked,
        first_bad_position: first_bad,
        reason,
        tree,
    } = report;
    if json {
        let tree = tree.as_ref().map(|t| {
            serde_json::json!({"size": t.size, "ok": t.problem.is_none(), "problem": t.problem})
        });
        println!(
            "{}",
            serde_json::json!({"ok": ok, "events_checked": checked, "first_bad_position": first_bad, "reason": reason, "tree": tree})
        );
    } else {
        if *ok {
            println!("hash chain verified: {checked} events");
        } else {
            println!(
                "hash chain BROKEN at position {first_bad}: {reason} ({checked} events checked)"
            );
        }
        match tree {
            Some(t) => match &t.problem {
                None => println!("transparency tree verified: {} leaves", t.size),
                Some(problem) => println!("transparency tree WRONG: {problem}"),
            },
            None => println!("transparency tree: none stored yet"),
        }
    }
    if !*ok {
        ExitCode::from(EXIT_CHAIN_BROKEN)
    } else if !report.all_ok() {
        ExitCode::from(EXIT_TREE_WRONG)
    } else {
        ExitCode::SUCCESS
    }
}

/// `admin verify-dir DATA_DIR` (server stopped).
async fn verify_dir(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let bar = progress_bar("verified")?;
    let report = maintenance::verify_dir(data_dir, &mut advance(&bar)).await?;
    bar.finish();
    Ok(report)
}

/// `admin restore BACKUP DATA_DIR`: copies a backup into a new data
/// directory, then verifies the copy's hash chain.
async fn restore(backup: &Path, data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let bar = progress_bar("copied")?;
    let report = maintenance::restore(backup, data_dir, &mut advance(&bar)).await?;
    bar.set_position(report.events);
    bar.finish();
    verify_dir(data_dir).await
}

/// `admin copy --from --to`, then the copy's verification.
async fn copy(json: bool, from: &str, to: &str) -> anyhow::Result<VerifyReport> {
    let (from, to) = (StoreLocation::parse(from), StoreLocation::parse(to));
    let bar = progress_bar("copied")?;
    let started = Instant::now();
    let (report, verified) = maintenance::copy_store(&from, &to, &mut advance(&bar)).await?;
    bar.set_position(report.events);
    bar.finish();
    if !json {
        println!(
            "copied {} events from {from} to {to} in {:.1} s (last hash {})",
            report.events,
            started.elapsed().as_secs_f64(),
            report
                .last_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
    }
    Ok(verified)
}

/// `admin upgrade-store DATA_DIR` (server stopped), then a verification
/// of the converted log.
async fn upgrade_store(json: bool, data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let bar = progress_bar("converted")?;
    let report = maintenance::upgrade_store(data_dir, &mut advance(&bar)).await?;
    bar.finish();
    if !json {
        if report.already_current {
            println!(
                "the event log is already in format {}",
                rectify_eventlog::FORMAT_VERSION
            );
        } else {
            println!(
                "converted the event log to format {}: {} events ({} in this run), {} streams",
                rectify_eventlog::FORMAT_VERSION,
                report.events,
                report.converted,
                report.streams
            );
        }
    }
    verify_dir(data_dir).await
}

/// `admin rebuild DATA_DIR` (server stopped), then the rate reached.
async fn rebuild(data_dir: &Path) -> anyhow::Result<()> {
    let bar = progress_bar("applied")?;
    let started = Instant::now();
    let report = maintenance::rebuild(data_dir, &mut advance(&bar)).await?;
    bar.finish();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "rebuilt the ledger: {} events, {} complaints in {elapsed:.1} s ({:.0} events/s)",
        report.events,
        report.complaints,
        report.events as f64 / elapsed.max(1e-9)
    );
    Ok(())
}

/// A progress bar over the events of a log; `what` says what happens to
/// them.
fn progress_bar(what: &str) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} events {what} ({{per_sec}}, eta {{eta}})"
        ))
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    Ok(bar)
}

/// The `progress(done, head)` callback of the offline maintenance, moving
/// `bar`.
fn advance(bar: &ProgressBar) -> impl FnMut(u64, u64) + Send + '_ {
    |done, head| {
        bar.set_length(head);
        bar.set_position(done);
    }
}

/// `admin rotate-master-key DATA_DIR` (server stopped).
async fn rotate_master_key(
    json: bool,
    store: &StoreLocation,
    master_key_file: Option<PathBuf>,
    new_key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let report =
        maintenance::rotate_master_key(store, master_key_file.as_deref(), new_key_file.as_deref())
            .await?;
    let new_key_file = report.new_key_file.display();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "rewrapped": report.rewrapped,
                "old_key": report.old_key_id,
                "new_key": report.new_key_id,
                "new_key_file": new_key_file.to_string(),
            })
        );
        return Ok(());
    }
    println!(
        "re-wrapped {} data keys: master key {} → {} ({new_key_file})",
        report.rewrapped, report.old_key_id, report.new_key_id,
    );
    if report.old_key_file_kept {
        println!("Configure master_key_file = {new_key_file} and destroy the old key file.");
    }
    Ok(())
}

/// `admin rotate-log-key DATA_DIR`.
fn rotate_log_key(json: bool, data_dir: &Path, key_file: Option<PathBuf>) -> anyhow::Result<()> {
    let key_file =
        key_file.unwrap_or_else(|| data_dir.join(transparency::DEFAULT_SIGNING_KEY_FILE));
    let rotation = transparency::rotate_key(&key_file, chrono::Utc::now())?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "old_key_id": format!("{:08x}", rotation.old_key_id),
                "new_key_id": format!("{:08x}", rotation.new_key_id),
                "new_verifier_key": rotation.new_verifier,
            })
        );
        return Ok(());
    }
    println!(
        "log-signing key {:08x} → {:08x}; the old key is listed as retired in {}",
        rotation.old_key_id,
        rotation.new_key_id,
        transparency::retired_keys_path(&key_file).display()
    );
    println!("new verifier key (hand it out): {}", rotation.new_verifier);
    println!("Restart the server to sign with it.");
    Ok(())
}

/// `admin new-token`: a token and the hash the server keeps of it.
fn new_token(json: bool) {
    let (token, hash) = crate::server::authn::new_token();
    if json {
        println!(
            "{}",
            serde_json::json!({"token": token, "token_blake3": hash})
        );
    } else {
        println!("token:        {token}");
        println!("token_blake3: {hash}");
        println!("Give the token to its principal; put only the hash in [[principals]].");
    }
}

/// `admin scan-deadlines`: one pass of the deadline watcher, now.
async fn scan_deadlines(conn: &Connection) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let reply = call(client.scan_deadlines(pb::ScanDeadlinesRequest {})).await?;
    print_reply(conn.json, "rectify.v1.ScanDeadlinesResponse", &reply, |r| {
        println!(
            "deadline watcher: {} yellow, {} red, {} skipped",
            r.yellow, r.red, r.skipped
        );
    })
}

/// `admin backup --to DIR`: the running server copies its log.
async fn backup(conn: &Connection, to: &Path) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let destination = to.display().to_string();
    let reply = call(client.backup(pb::BackupRequest { destination })).await?;
    print_reply(conn.json, "rectify.v1.BackupResponse", &reply, |r| {
        println!(
            "backed up {} events to {} (last hash {})",
            r.events, r.destination, r.last_hash
        );
    })
}

/// `admin stats`: the running server's log in numbers.
async fn store_stats(conn: &Connection) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let reply = call(client.get_store_stats(pb::GetStoreStatsRequest {})).await?;
    print_reply(conn.json, "rectify.v1.GetStoreStatsResponse", &reply, |r| {
        println!(
            "events {}  streams {}  on disk {:.1} MiB  projections at position {}",
            r.events,
            r.streams,
            r.size_on_disk_bytes as f64 / 1_048_576.0,
            r.projections_applied
        );
    })
}
