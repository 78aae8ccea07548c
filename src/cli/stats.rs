//! `rectify stats`: the evaluation (月调度、季点评、年总评) of one month,
//! quarter or year: response, resolution and satisfaction rates per unit or
//! district, with the red and black lists.

use anyhow::bail;
use clap::{Args, ValueEnum};

use super::{
    connect::{Connection, client},
    output::{call, print_reply},
};
use crate::pb::{self, query_service_client::QueryServiceClient};

/// `rectify stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Server and identity.
    #[command(flatten)]
    conn: Connection,
    /// A month, e.g. 2026-10.
    #[arg(long, group = "period")]
    month: Option<String>,
    /// A quarter, e.g. 2026-Q4.
    #[arg(long, group = "period")]
    quarter: Option<String>,
    /// A year, e.g. 2026.
    #[arg(long, group = "period")]
    year: Option<String>,
    /// Group by unit (the lead unit) or district.
    #[arg(long, value_enum, default_value = "unit")]
    by: GroupArg,
    /// Composite weights of response, resolution and satisfaction, e.g.
    /// `30,35,35` (default 10,50,40).
    #[arg(long, value_delimiter = ',', num_args = 3)]
    weights: Vec<f64>,
    /// Length of the red and black lists.
    #[arg(long, default_value_t = 5)]
    top: u32,
    /// Fewest valid callbacks for a group to be ranked.
    #[arg(long, default_value_t = 1)]
    min_callbacks: u64,
    /// Wait until the ledger has applied this log position.
    #[arg(long, default_value_t = 0)]
    min_position: u64,
}

/// Evaluation groupings, as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupArg {
    /// Per lead unit.
    Unit,
    /// Per district.
    District,
}

impl From<GroupArg> for pb::EvaluationGroup {
    fn from(group: GroupArg) -> Self {
        match group {
            GroupArg::Unit => Self::Unit,
            GroupArg::District => Self::District,
        }
    }
}

/// `rectify stats`.
pub(super) async fn run(args: StatsArgs) -> anyhow::Result<()> {
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
    let request = pb::GetEvaluationRequest {
        period: period.clone(),
        group_by: pb::EvaluationGroup::from(args.by) as i32,
        response_weight: weights[0],
        resolution_weight: weights[1],
        satisfaction_weight: weights[2],
        top_n: args.top,
        min_valid_callbacks: args.min_callbacks,
        min_position: args.min_position,
        trend_periods: 0,
    };
    let reply = call(client.get_evaluation(request)).await?;
    print_reply(
        args.conn.json,
        "rectify.v1.GetEvaluationResponse",
        &reply,
        |reply| print_evaluation(&period, reply),
    )
}

/// The evaluation as a table, then the red and black lists.
fn print_evaluation(period: &str, reply: &pb::GetEvaluationResponse) {
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
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}
