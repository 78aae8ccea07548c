//! The CLI's operator reports: `rectify admin scan-deadlines`, `backup`,
//! `stats` and the offline `rebuild`, `restore` and `verify-dir`.

use std::path::Path;

use anyhow::Context as _;

use crate::{
    cli::Connection,
    cli::connect::client,
    cli::output::{call, print_reply},
    pb::{self, admin_service_client::AdminServiceClient},
    server::maintenance::{self, VerifyReport},
};

/// `rectify admin scan-deadlines`.
pub async fn scan_deadlines(conn: &Connection) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let reply = call(client.scan_deadlines(pb::ScanDeadlinesRequest {})).await?;
    print_reply(
        conn.json,
        "rectify.v1.ScanDeadlinesResponse",
        &reply,
        |reply| {
            println!(
                "deadline watcher: {} yellow, {} red, {} skipped",
                reply.yellow, reply.red, reply.skipped
            );
        },
    )
}

/// `rectify admin rebuild DATA_DIR`, with a progress bar.
pub async fn rebuild(data_dir: &Path) -> anyhow::Result<()> {
    let bar = progress_bar(0, "applied")?;
    let started = std::time::Instant::now();
    let report = maintenance::rebuild(data_dir, &mut |applied, head| {
        bar.set_length(head);
        bar.set_position(applied);
    })
    .await?;
    bar.finish();
    let elapsed = started.elapsed();
    println!(
        "rebuilt the ledger: {} events, {} complaints in {:.1} s ({:.0} events/s)",
        report.events,
        report.complaints,
        elapsed.as_secs_f64(),
        report.events as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// `rectify admin backup --to DIR`.
pub async fn backup(conn: &Connection, to: &Path) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let reply = call(client.backup(pb::BackupRequest {
        destination: to.display().to_string(),
    }))
    .await?;
    print_reply(conn.json, "rectify.v1.BackupResponse", &reply, |reply| {
        println!(
            "backed up {} events to {} (last hash {})",
            reply.events, reply.destination, reply.last_hash
        );
    })
}

/// `rectify admin stats`.
pub async fn store_stats(conn: &Connection) -> anyhow::Result<()> {
    let mut client = client(conn, AdminServiceClient::new).await?;
    let reply = call(client.get_store_stats(pb::GetStoreStatsRequest {})).await?;
    print_reply(
        conn.json,
        "rectify.v1.GetStoreStatsResponse",
        &reply,
        |reply| {
            println!(
                "events {}  streams {}  on disk {:.1} MiB  projections at position {}",
                reply.events,
                reply.streams,
                reply.size_on_disk_bytes as f64 / 1_048_576.0,
                reply.projections_applied
            );
        },
    )
}

/// `rectify admin restore BACKUP DATA_DIR`: copies a backup into a new data
/// directory with a progress bar, then verifies the copy's hash chain.
pub async fn restore(backup: &Path, data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let bar = progress_bar(0, "copied")?;
    let report = maintenance::restore(backup, data_dir, &mut |copied, head| {
        bar.set_length(head);
        bar.set_position(copied);
    })
    .await?;
    bar.set_position(report.events);
    bar.finish();
    verify_dir(data_dir).await
}

/// Verifies a data directory's hash chain with a progress bar (server
/// stopped).
pub async fn verify_dir(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    let bar = progress_bar(0, "verified")?;
    let report = maintenance::verify_dir(data_dir, &mut |checked, head| {
        bar.set_length(head);
        bar.set_position(checked);
    })
    .await?;
    bar.finish();
    Ok(report)
}

fn progress_bar(len: u64, what: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} events {what} ({{per_sec}}, eta {{eta}})"
        ))
        .context("progress bar template")?
        .progress_chars("=> "),
    );
    Ok(bar)
}
