//! The CLI's read-model commands: `rectify ledger list|export`, `rectify
//! inbox`, `rectify stats`, `rectify admin scan-deadlines` and the offline
//! `rectify admin rebuild`.

use std::path::Path;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;

use crate::{
    cli::connect::{client, time_flag},
    cli::output::{call, print_ledger_rows, print_reply, status_error, to_json},
    cli::{
        Connection, GroupArg, LedgerCommand, LedgerFilterArgs, OrderArg, StatsArgs, StatusArg,
        WarningArg,
    },
    pb::{
        self, admin_service_client::AdminServiceClient, query_service_client::QueryServiceClient,
    },
    server::maintenance::{self, VerifyReport},
};

/// The wire filter of `args`. `--unit` (also the identity of a unit caller)
/// filters by lead or responsible unit unless `--assigned` says otherwise: a
/// unit sees only its own complaints anyway, so both readings agree.
fn filter_pb(
    args: &LedgerFilterArgs,
    conn: &Connection,
) -> anyhow::Result<(pb::LedgerFilter, pb::LedgerOrder)> {
    let statuses = args
        .statuses
        .iter()
        .map(|s| {
            (match s {
                StatusArg::Received => pb::ComplaintStatus::Received,
                StatusArg::AwaitingDispatch => pb::ComplaintStatus::AwaitingDispatch,
                StatusArg::Dispatched => pb::ComplaintStatus::Dispatched,
                StatusArg::InProgress => pb::ComplaintStatus::InProgress,
                StatusArg::Resolved => pb::ComplaintStatus::Resolved,
                StatusArg::Verified => pb::ComplaintStatus::Verified,
                StatusArg::CalledBack => pb::ComplaintStatus::CalledBack,
                StatusArg::Closed => pb::ComplaintStatus::Closed,
            }) as i32
        })
        .collect();
    let filter = pb::LedgerFilter {
        statuses,
        area: args.area.clone().unwrap_or_default(),
        district: args.district.clone().unwrap_or_default(),
        channel: 0,
        lead_unit: args.lead.clone().unwrap_or_default(),
        unit: args
            .assigned
            .clone()
            .or_else(|| conn.unit.clone())
            .unwrap_or_default(),
        overdue_only: args.overdue,
        min_warning: match args.warning {
            None => 0,
            Some(WarningArg::Yellow) => pb::WarningLevel::Yellow as i32,
            Some(WarningArg::Red) => pb::WarningLevel::Red as i32,
        },
        supervised_only: args.supervised,
        received_from: time_flag(args.from.as_deref(), "from")?,
        received_before: time_flag(args.before.as_deref(), "before")?,
        text: args.text.clone().unwrap_or_default(),
        due_before: time_flag(args.due_before.as_deref(), "due-before")?,
        satisfaction: args
            .satisfaction
            .map_or(0, |s| pb::Satisfaction::from(s) as i32),
        extended_only: args.extended,
        returned_only: args.returned,
        reopened_only: args.reopened,
    };
    let order = match args.order {
        OrderArg::Newest => pb::LedgerOrder::ReceivedDesc,
        OrderArg::Oldest => pb::LedgerOrder::ReceivedAsc,
        OrderArg::Due => pb::LedgerOrder::DueAsc,
        OrderArg::Id => pb::LedgerOrder::Id,
    };
    Ok((filter, order))
}

/// `rectify ledger …`.
pub async fn ledger(conn: &Connection, command: LedgerCommand) -> anyhow::Result<()> {
    let mut client = client(conn, QueryServiceClient::new).await?;
    match command {
        LedgerCommand::List {
            filter,
            limit,
            page_token,
        } => {
            let min_position = filter.min_position;
            let (filter, order) = filter_pb(&filter, conn)?;
            let page = call(client.list_ledger(pb::ListLedgerRequest {
                filter: Some(filter),
                order: order as i32,
                page_size: limit,
                page_token,
                min_position,
            }))
            .await?;
            if conn.json {
                println!("{}", to_json("rectify.v1.ListLedgerResponse", &page)?);
                return Ok(());
            }
            print_ledger_rows(&page.rows);
            println!(
                "{} of {} rows (ledger at position {})",
                page.rows.len(),
                page.total,
                page.applied_position
            );
            if !page.next_page_token.is_empty() {
                println!("next page: --page-token {}", page.next_page_token);
            }
        }
        LedgerCommand::Export { filter, xlsx, out } => {
            let min_position = filter.min_position;
            let (filter, order) = filter_pb(&filter, conn)?;
            let format = if xlsx {
                pb::ExportFormat::Xlsx
            } else {
                pb::ExportFormat::Csv
            };
            let mut chunks = call(client.export_ledger(pb::ExportLedgerRequest {
                filter: Some(filter),
                order: order as i32,
                format: format as i32,
                min_position,
            }))
            .await?;
            let mut bytes = Vec::new();
            let mut rows = 0;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(status_error)?;
                rows = rows.max(chunk.rows);
                bytes.extend_from_slice(&chunk.data);
            }
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "wrote {rows} rows to {} ({} bytes)",
                out.display(),
                bytes.len()
            );
        }
    }
    Ok(())
}

/// `rectify inbox [UNIT]`.
pub async fn inbox(
    conn: &Connection,
    unit: Option<String>,
    min_position: u64,
) -> anyhow::Result<()> {
    let mut client = client(conn, QueryServiceClient::new).await?;
    let Some(unit) = unit.or_else(|| conn.unit.clone()) else {
        let reply =
            call(client.list_unit_workloads(pb::ListUnitWorkloadsRequest { min_position })).await?;
        if conn.json {
            println!(
                "{}",
                to_json("rectify.v1.ListUnitWorkloadsResponse", &reply)?
            );
            return Ok(());
        }
        println!(
            "{:<28} {:>9} {:>11} {:>14} {:>7}",
            "unit", "to accept", "in progress", "as responsible", "overdue"
        );
        for u in &reply.units {
            println!(
                "{:<28} {:>9} {:>11} {:>14} {:>7}",
                u.unit, u.to_accept, u.in_progress, u.as_responsible, u.overdue
            );
        }
        return Ok(());
    };
    let reply = call(client.get_inbox(pb::GetInboxRequest { unit, min_position })).await?;
    if conn.json {
        println!("{}", to_json("rectify.v1.GetInboxResponse", &reply)?);
        return Ok(());
    }
    for (title, rows) in [
        ("as lead unit — to accept (签收)", &reply.lead_to_accept),
        ("as lead unit — to handle (处办)", &reply.lead_to_handle),
        ("as lead unit — to resolve (办结)", &reply.lead_to_resolve),
        (
            "as responsible unit — to accept",
            &reply.responsible_to_accept,
        ),
        (
            "as responsible unit — to handle",
            &reply.responsible_to_handle,
        ),
    ] {
        println!("{title}: {}", rows.len());
        print_ledger_rows(rows);
    }
    Ok(())
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// `rectify stats`.
pub async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let period = match (&args.month, &args.quarter, &args.year) {
        (Some(p), _, _) | (_, Some(p), _) | (_, _, Some(p)) => p.clone(),
        _ => bail!("give one of --month 2026-10, --quarter 2026-Q4 or --year 2026"),
    };
    let weights = match args.weights.as_slice() {
        [] => [0.0; 3],
        [a, b, c] => [*a, *b, *c],
        _ => bail!("--weights takes three numbers, e.g. 30,35,35"),
    };
    let mut client = client(&args.conn, QueryServiceClient::new).await?;
    let reply = call(client.get_evaluation(pb::GetEvaluationRequest {
        period: period.clone(),
        group_by: match args.by {
            GroupArg::Unit => pb::EvaluationGroup::Unit,
            GroupArg::District => pb::EvaluationGroup::District,
        } as i32,
        response_weight: weights[0],
        resolution_weight: weights[1],
        satisfaction_weight: weights[2],
        top_n: args.top,
        min_valid_callbacks: args.min_callbacks,
        min_position: args.min_position,
    }))
    .await?;
    if args.conn.json {
        println!("{}", to_json("rectify.v1.GetEvaluationResponse", &reply)?);
        return Ok(());
    }
    println!("evaluation {period}");
    println!(
        "{:<28} {:>5} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>7} {:>7} {:>4} {:>7}",
        "key",
        "valid",
        "response",
        "resolved",
        "satisf.",
        "score",
        "accept✓",
        "close✓",
        "return",
        "redo",
        "ext",
        "overdue"
    );
    for g in &reply.groups {
        println!(
            "{:<28} {:>5} {:>8} {:>8} {:>8} {:>6} {:>8} {:>8} {:>7} {:>7} {:>4} {:>7}",
            g.key,
            g.valid_callbacks,
            rate(g.response_rate),
            rate(g.resolution_rate),
            rate(g.satisfaction_rate),
            g.composite_score
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
            rate(g.on_time_acceptance_rate),
            rate(g.on_time_closure_rate),
            rate(g.return_rate),
            rate(g.redo_rate),
            g.extensions,
            g.overdue,
        );
    }
    println!("红榜 (best):  {}", reply.red_list.join(", "));
    println!("黑榜 (worst): {}", reply.black_list.join(", "));
    Ok(())
}

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
