//! `rectify inbox [UNIT]`: what waits for a unit, by step (签收, 处办,
//! 办结, as lead or as responsible unit); without a unit, every unit's
//! workload, as the dispatch centre sees it.

use clap::Args;

use super::{
    connect::{Authed, Connection, client},
    output::{call, print_ledger_rows, print_reply},
};
use crate::pb::{self, query_service_client::QueryServiceClient};

/// `rectify inbox`.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Server and identity.
    #[command(flatten)]
    conn: Connection,
    /// Unit code, name or alias (default: the `--unit` you act as).
    unit_code: Option<String>,
    /// Wait until the ledger has applied this log position.
    #[arg(long, default_value_t = 0)]
    min_position: u64,
}

type Client = QueryServiceClient<Authed>;

/// `rectify inbox [UNIT]`.
pub(super) async fn run(args: InboxArgs) -> anyhow::Result<()> {
    let c = &mut client(&args.conn, QueryServiceClient::new).await?;
    let json = args.conn.json;
    match args.unit_code.or(args.conn.unit) {
        Some(unit) => inbox(c, json, unit, args.min_position).await,
        None => workloads(c, json, args.min_position).await,
    }
}

/// One unit's inbox: a section per step, each with its ledger rows.
async fn inbox(c: &mut Client, json: bool, unit: String, min_position: u64) -> anyhow::Result<()> {
    let reply = call(c.get_inbox(pb::GetInboxRequest { unit, min_position })).await?;
    print_reply(json, "rectify.v1.GetInboxResponse", &reply, |reply| {
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
    })
}

/// Every unit's workload, one line each.
async fn workloads(c: &mut Client, json: bool, min_position: u64) -> anyhow::Result<()> {
    let request = pb::ListUnitWorkloadsRequest { min_position };
    let reply = call(c.list_unit_workloads(request)).await?;
    print_reply(
        json,
        "rectify.v1.ListUnitWorkloadsResponse",
        &reply,
        |reply| {
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
        },
    )
}
