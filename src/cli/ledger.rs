//! `rectify ledger list|count|export`: the issue ledger (台账), one filtered
//! page at a time, counted by dimensions, or whole as a CSV file or an Excel
//! workbook, with the filter flags and how they become the wire filter.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt as _;

use super::{
    complaint::SatisfactionArg,
    connect::{Authed, Connection, client, time_flag},
    output::{call, print_ledger_rows, print_reply, status_error},
};
use crate::labels;
use crate::pb::{self, query_service_client::QueryServiceClient};

/// Ledger queries.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// One page of the ledger.
    List {
        /// Filters.
        #[command(flatten)]
        filter: LedgerFilterArgs,
        /// Rows per page (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// The `next page` token a previous page printed.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Counts of the filtered ledger grouped by dimensions (the numbers
    /// the dashboard shows).
    Count {
        /// Filters.
        #[command(flatten)]
        filter: LedgerFilterArgs,
        /// What to group by, comma-separated: status, warning, channel,
        /// area, district, lead-unit, day, month.
        #[arg(long, value_delimiter = ',', required = true)]
        by: Vec<DimensionArg>,
    },
    /// The whole filtered ledger as a CSV file or an Excel workbook.
    Export {
        /// Filters.
        #[command(flatten)]
        filter: LedgerFilterArgs,
        /// Write an Excel workbook instead of CSV.
        #[arg(long)]
        xlsx: bool,
        /// The file to write.
        #[arg(long, short)]
        out: PathBuf,
    },
}

/// Filters of the ledger, as flags.
#[derive(Debug, Clone, Args)]
pub struct LedgerFilterArgs {
    /// Only these statuses (repeatable): received, awaiting-dispatch,
    /// dispatched, in-progress, resolved, verified, called-back, closed.
    #[arg(long = "status", value_enum)]
    statuses: Vec<StatusArg>,
    /// Task area code.
    #[arg(long)]
    area: Option<String>,
    /// District code.
    #[arg(long)]
    district: Option<String>,
    /// Lead unit code.
    #[arg(long)]
    lead: Option<String>,
    /// Lead or responsible unit code; defaults to `--unit`.
    #[arg(long = "assigned")]
    assigned: Option<String>,
    /// Only complaints with an open deadline past due.
    #[arg(long)]
    overdue: bool,
    /// Only complaints with at least this warning.
    #[arg(long, value_enum)]
    warning: Option<WarningArg>,
    /// Only complaints flagged for supervision.
    #[arg(long)]
    supervised: bool,
    /// Received at or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    before: Option<String>,
    /// Only complaints with an open deadline due before this (RFC 3339).
    #[arg(long)]
    due_before: Option<String>,
    /// Satisfaction at the last callback.
    #[arg(long, value_enum)]
    satisfaction: Option<SatisfactionArg>,
    /// Only complaints granted an extension.
    #[arg(long)]
    extended: bool,
    /// Only complaints returned at least once.
    #[arg(long)]
    returned: bool,
    /// Only complaints reopened at least once.
    #[arg(long)]
    reopened: bool,
    /// Only complaints through this station's QR code.
    #[arg(long)]
    station: Option<String>,
    /// Only complaints of this liaison cadre's enterprises (包联).
    #[arg(long)]
    cadre: Option<String>,
    /// Only this experience officer's reports.
    #[arg(long)]
    officer: Option<String>,
    /// Text in the title, text, enterprise, ticket number or id.
    #[arg(long)]
    text: Option<String>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value = "newest")]
    order: OrderArg,
    /// Wait until the ledger has applied this log position.
    #[arg(long, default_value_t = 0)]
    min_position: u64,
}

/// Complaint statuses, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// 接诉.
    Received,
    /// Waiting for dispatch.
    AwaitingDispatch,
    /// 转派.
    Dispatched,
    /// 处办.
    InProgress,
    /// 办结.
    Resolved,
    /// 核查.
    Verified,
    /// 回访.
    CalledBack,
    /// 销号.
    Closed,
}

/// Warning levels, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WarningArg {
    /// Yellow or red.
    Yellow,
    /// Red only.
    Red,
}

/// Ledger orders, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrderArg {
    /// Newest first.
    Newest,
    /// Oldest first.
    Oldest,
    /// Earliest open due time first.
    Due,
    /// By id.
    Id,
}

/// `--by` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DimensionArg {
    /// The status.
    Status,
    /// The highest current warning.
    Warning,
    /// The intake channel.
    Channel,
    /// The task area.
    Area,
    /// The district.
    District,
    /// The lead unit.
    LeadUnit,
    /// The day received (Beijing time).
    Day,
    /// The month received (Beijing time).
    Month,
}

impl From<DimensionArg> for pb::LedgerDimension {
    fn from(dimension: DimensionArg) -> Self {
        match dimension {
            DimensionArg::Status => Self::Status,
            DimensionArg::Warning => Self::Warning,
            DimensionArg::Channel => Self::Channel,
            DimensionArg::Area => Self::Area,
            DimensionArg::District => Self::District,
            DimensionArg::LeadUnit => Self::LeadUnit,
            DimensionArg::Day => Self::ReceivedDay,
            DimensionArg::Month => Self::ReceivedMonth,
        }
    }
}

impl From<StatusArg> for pb::ComplaintStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Received => Self::Received,
            StatusArg::AwaitingDispatch => Self::AwaitingDispatch,
            StatusArg::Dispatched => Self::Dispatched,
            StatusArg::InProgress => Self::InProgress,
            StatusArg::Resolved => Self::Resolved,
            StatusArg::Verified => Self::Verified,
            StatusArg::CalledBack => Self::CalledBack,
            StatusArg::Closed => Self::Closed,
        }
    }
}

impl From<WarningArg> for pb::WarningLevel {
    fn from(warning: WarningArg) -> Self {
        match warning {
            WarningArg::Yellow => Self::Yellow,
            WarningArg::Red => Self::Red,
        }
    }
}

impl From<OrderArg> for pb::LedgerOrder {
    fn from(order: OrderArg) -> Self {
        match order {
            OrderArg::Newest => Self::ReceivedDesc,
            OrderArg::Oldest => Self::ReceivedAsc,
            OrderArg::Due => Self::DueAsc,
            OrderArg::Id => Self::Id,
        }
    }
}

impl LedgerFilterArgs {
    /// The wire filter. `--unit` (also the identity of a unit caller)
    /// filters by lead or responsible unit unless `--assigned` says
    /// otherwise: a unit sees only its own complaints anyway, so both
    /// readings agree.
    fn to_pb(&self, conn: &Connection) -> anyhow::Result<pb::LedgerFilter> {
        Ok(pb::LedgerFilter {
            statuses: self
                .statuses
                .iter()
                .map(|&s| pb::ComplaintStatus::from(s) as i32)
                .collect(),
            area: self.area.clone().unwrap_or_default(),
            district: self.district.clone().unwrap_or_default(),
            channel: 0,
            lead_unit: self.lead.clone().unwrap_or_default(),
            unit: self
                .assigned
                .clone()
                .or_else(|| conn.unit.clone())
                .unwrap_or_default(),
            overdue_only: self.overdue,
            min_warning: self.warning.map_or(0, |w| pb::WarningLevel::from(w) as i32),
            supervised_only: self.supervised,
            received_from: time_flag(self.from.as_deref(), "from")?,
            received_before: time_flag(self.before.as_deref(), "before")?,
            text: self.text.clone().unwrap_or_default(),
            due_before: time_flag(self.due_before.as_deref(), "due-before")?,
            satisfaction: self
                .satisfaction
                .map_or(0, |s| pb::Satisfaction::from(s) as i32),
            extended_only: self.extended,
            returned_only: self.returned,
            reopened_only: self.reopened,
            station_code: self.station.clone().unwrap_or_default(),
            liaison_cadre: self.cadre.clone().unwrap_or_default(),
            officer_id: self.officer.clone().unwrap_or_default(),
        })
    }
}

type Client = QueryServiceClient<Authed>;

/// `rectify ledger …`.
pub(super) async fn run(conn: &Connection, command: LedgerCommand) -> anyhow::Result<()> {
    let c = &mut client(conn, QueryServiceClient::new).await?;
    match command {
        LedgerCommand::List {
            filter,
            limit,
            page_token,
        } => list(c, conn, &filter, limit, page_token).await,
        LedgerCommand::Count { filter, by } => count(c, conn, &filter, &by).await,
        LedgerCommand::Export { filter, xlsx, out } => export(c, conn, &filter, xlsx, &out).await,
    }
}

/// `ledger list`: one page, then the count and the next page's token.
async fn list(
    c: &mut Client,
    conn: &Connection,
    filter: &LedgerFilterArgs,
    limit: u32,
    page_token: String,
) -> anyhow::Result<()> {
    let request = pb::ListLedgerRequest {
        filter: Some(filter.to_pb(conn)?),
        order: pb::LedgerOrder::from(filter.order) as i32,
        page_size: limit,
        page_token,
        min_position: filter.min_position,
    };
    let page = call(c.list_ledger(request)).await?;
    print_reply(conn.json, "rectify.v1.ListLedgerResponse", &page, |page| {
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
    })
}

/// A bucket's key as printed: Chinese name beside the code for statuses,
/// warnings and channels; codes and dates as they are; `-` for none.
fn bucket_label(dimension: i32, key: &str) -> String {
    let dimension = pb::LedgerDimension::try_from(dimension).unwrap_or_default();
    let named = match dimension {
        pb::LedgerDimension::Status => pb::ComplaintStatus::from_str_name(key)
            .map(|s| (labels::status_code(s), labels::status_label(s))),
        pb::LedgerDimension::Channel => pb::Channel::from_str_name(key)
            .map(|c| (labels::channel_code(c), labels::channel_label(c))),
        pb::LedgerDimension::Warning => pb::WarningLevel::from_str_name(key).map(|w| {
            let label = match labels::warning_label(w as i32) {
                "" => "无预警",
                label => label,
            };
            (
                key.trim_start_matches("WARNING_LEVEL_").to_lowercase(),
                label,
            )
        }),
        _ => None,
    };
    match named {
        Some((code, label)) => format!("{code} {label}"),
        None if key.is_empty() => "-".to_owned(),
        None => key.to_owned(),
    }
}

/// `ledger count`: one table per dimension, then the total.
async fn count(
    c: &mut Client,
    conn: &Connection,
    filter: &LedgerFilterArgs,
    by: &[DimensionArg],
) -> anyhow::Result<()> {
    let request = pb::CountLedgerRequest {
        filter: Some(filter.to_pb(conn)?),
        group_by: by
            .iter()
            .map(|d| pb::LedgerDimension::from(*d) as i32)
            .collect(),
        min_position: filter.min_position,
    };
    let counts = call(c.count_ledger(request)).await?;
    print_reply(
        conn.json,
        "rectify.v1.CountLedgerResponse",
        &counts,
        |counts| {
            for grouping in &counts.groupings {
                let name = pb::LedgerDimension::try_from(grouping.dimension)
                    .map_or("unknown", |d| d.as_str_name())
                    .trim_start_matches("LEDGER_DIMENSION_")
                    .to_lowercase();
                println!("by {name}:");
                for bucket in &grouping.buckets {
                    println!(
                        "  {:<32} {:>8}",
                        bucket_label(grouping.dimension, &bucket.key),
                        bucket.count
                    );
                }
            }
            println!(
                "{} rows in all (ledger at position {})",
                counts.total, counts.applied_position
            );
        },
    )
}

/// `ledger export`: streams the file's chunks into `out`.
async fn export(
    c: &mut Client,
    conn: &Connection,
    filter: &LedgerFilterArgs,
    xlsx: bool,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let format = if xlsx {
        pb::ExportFormat::Xlsx
    } else {
        pb::ExportFormat::Csv
    };
    let request = pb::ExportLedgerRequest {
        filter: Some(filter.to_pb(conn)?),
        order: pb::LedgerOrder::from(filter.order) as i32,
        format: format as i32,
        min_position: filter.min_position,
    };
    let mut chunks = call(c.export_ledger(request)).await?;
    let mut bytes = Vec::new();
    let mut rows = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(status_error)?;
        rows = rows.max(chunk.rows);
        bytes.extend_from_slice(&chunk.data);
    }
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {rows} rows to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}
