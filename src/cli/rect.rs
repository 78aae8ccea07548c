//! `rectify rectification …` (alias `rect`): rectification ledgers (整改台账)
//! whose items are closed one by one (逐项销号), the action plan as a ledger
//! and class problems (complaints linked to an item); also
//! `rectify admin import-plan`, which loads the action plan as a ledger.

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};

use super::{
    connect::{Authed, CommandFlags, Connection, client, time_flag},
    output::{beijing_time, call, print_reply, print_result},
};
use crate::pb::{self, ledger_service_client::LedgerServiceClient};

/// Rectification ledger steps and views.
#[derive(Debug, Subcommand)]
pub enum RectCommand {
    /// Open a ledger.
    Open(OpenArgs),
    /// Add an item.
    AddItem(AddItemArgs),
    /// Record progress on an item.
    Progress(ProgressArgs),
    /// 销号: close an item with evidence and the verifier.
    CloseItem(CloseItemArgs),
    /// Reopen a closed item.
    ReopenItem(ReopenItemArgs),
    /// Link complaints to an item (its class problem).
    Link(LinkArgs),
    /// Complaints that may belong to an item's class problem.
    Suggest(SuggestArgs),
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
    Items(ItemsArgs),
    /// Which units hold the most open items across every ledger.
    Rollup,
}

/// `rectification open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
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
}

/// `rectification add-item`.
#[derive(Debug, Args)]
pub struct AddItemArgs {
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
}

/// `rectification progress`.
#[derive(Debug, Args)]
pub struct ProgressArgs {
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
}

/// `rectification close-item`.
#[derive(Debug, Args)]
pub struct CloseItemArgs {
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
}

/// `rectification reopen-item`.
#[derive(Debug, Args)]
pub struct ReopenItemArgs {
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
}

/// `rectification link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
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
}

/// `rectification suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
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
}

/// `rectification items`.
#[derive(Debug, Args)]
pub struct ItemsArgs {
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

impl From<SourceArg> for pb::LedgerSource {
    fn from(source: SourceArg) -> Self {
        match source {
            SourceArg::SelfInspection => Self::SelfInspection,
            SourceArg::Supervision => Self::SupervisionInspection,
            SourceArg::Officer => Self::ExperienceOfficer,
            SourceArg::Complaints => Self::ComplaintCluster,
            SourceArg::Plan => Self::ReformPlan,
        }
    }
}

type Client = LedgerServiceClient<Authed>;

/// `rectify rectification …`: one function per step or view.
pub(super) async fn run(conn: &Connection, command: RectCommand) -> anyhow::Result<()> {
    let c = &mut client(conn, LedgerServiceClient::new).await?;
    let json = conn.json;
    match command {
        RectCommand::Open(args) => open(c, json, args).await,
        RectCommand::AddItem(args) => add_item(c, json, args).await,
        RectCommand::Progress(args) => progress(c, json, args).await,
        RectCommand::CloseItem(args) => close_item(c, json, args).await,
        RectCommand::ReopenItem(args) => reopen_item(c, json, args).await,
        RectCommand::Link(args) => link(c, json, args).await,
        RectCommand::Suggest(args) => suggest(c, json, args).await,
        RectCommand::Close {
            ledger_id,
            note,
            flags,
        } => close(c, json, ledger_id, note, flags).await,
        RectCommand::Show {
            ledger_id,
            min_position,
        } => show(c, json, ledger_id, min_position).await,
        RectCommand::List => list(c, json).await,
        RectCommand::Items(args) => items(c, json, args).await,
        RectCommand::Rollup => rollup(c, json).await,
    }
}

/// `rectify admin import-plan`.
pub(super) async fn import_plan(conn: &Connection) -> anyhow::Result<()> {
    let mut c = client(conn, LedgerServiceClient::new).await?;
    let reply = call(c.import_plan(pb::ImportPlanRequest {})).await?;
    print_reply(conn.json, "rectify.v1.ImportPlanResponse", &reply, |r| {
        println!(
            "ledger {}: {} items added, {} in all (position {})",
            r.ledger_id, r.items_added, r.items_total, r.position
        );
    })
}

/// `rectification open`.
async fn open(c: &mut Client, json: bool, args: OpenArgs) -> anyhow::Result<()> {
    let request = pb::OpenLedgerRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        title: args.title,
        source: pb::LedgerSource::from(args.source) as i32,
        owner_unit: args.owner,
        phases: vec![],
        plan_phases: args.plan_phases,
    };
    let reply = call(c.open_ledger(request)).await?;
    let name = "rectify.v1.OpenLedgerResponse";
    print_result(json, name, &reply, "opened", reply.result.as_ref())
}

/// `rectification add-item`.
async fn add_item(c: &mut Client, json: bool, args: AddItemArgs) -> anyhow::Result<()> {
    let request = pb::AddItemRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        problem: args.problem,
        measures: args.measures,
        group: args.group.unwrap_or_default(),
        lead_units: args.lead,
        responsible_units: args.responsible,
        deadline: time_flag(args.deadline.as_deref(), "deadline")?,
    };
    let reply = call(c.add_item(request)).await?;
    let name = "rectify.v1.AddItemResponse";
    print_result(json, name, &reply, "item added to", reply.result.as_ref())
}

/// `rectification progress`.
async fn progress(c: &mut Client, json: bool, args: ProgressArgs) -> anyhow::Result<()> {
    let request = pb::RecordItemProgressRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        note: args.note,
        evidence: args.evidence,
    };
    let reply = call(c.record_item_progress(request)).await?;
    let name = "rectify.v1.RecordItemProgressResponse";
    let verb = "progress recorded on";
    print_result(json, name, &reply, verb, reply.result.as_ref())
}

/// `rectification close-item`, then the complaints whose class fix it
/// recorded.
async fn close_item(c: &mut Client, json: bool, args: CloseItemArgs) -> anyhow::Result<()> {
    let request = pb::CloseItemRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        evidence: args.evidence,
        verifier: args.verifier,
        note: args.note,
    };
    let reply = call(c.close_item(request)).await?;
    let name = "rectify.v1.CloseItemResponse";
    let verb = "item closed (销号) in";
    print_result(json, name, &reply, verb, reply.result.as_ref())?;
    if !json && !reply.fixed_complaints.is_empty() {
        let fixed = reply.fixed_complaints.join(", ");
        println!("class fix recorded on: {fixed}");
    }
    Ok(())
}

/// `rectification reopen-item`.
async fn reopen_item(c: &mut Client, json: bool, args: ReopenItemArgs) -> anyhow::Result<()> {
    let request = pb::ReopenItemRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        reason: args.reason,
    };
    let reply = call(c.reopen_item(request)).await?;
    let name = "rectify.v1.ReopenItemResponse";
    print_result(
        json,
        name,
        &reply,
        "item reopened in",
        reply.result.as_ref(),
    )
}

/// `rectification link`: which complaints were linked now and which were
/// already.
async fn link(c: &mut Client, json: bool, args: LinkArgs) -> anyhow::Result<()> {
    let request = pb::LinkComplaintsRequest {
        options: args.flags.options(),
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        complaint_ids: args.complaints,
    };
    let reply = call(c.link_complaints(request)).await?;
    print_reply(json, "rectify.v1.LinkComplaintsResponse", &reply, |r| {
        let (linked, already) = (r.linked.join(", "), r.already_linked.join(", "));
        println!("linked: {linked}; already linked: {already}");
    })
}

/// `rectification suggest`.
async fn suggest(c: &mut Client, json: bool, args: SuggestArgs) -> anyhow::Result<()> {
    let request = pb::SuggestComplaintsRequest {
        ledger_id: args.ledger_id,
        item_id: args.item_id,
        district: args.district.unwrap_or_default(),
        limit: args.limit,
        min_position: 0,
    };
    let reply = call(c.suggest_complaints(request)).await?;
    print_reply(json, "rectify.v1.SuggestComplaintsResponse", &reply, |r| {
        for s in &r.complaints {
            let (score, id, district) = (s.score, &s.complaint_id, &s.district);
            println!("{score:.2}  {id:<28} {district:<16} {}", s.title);
        }
    })
}

/// `rectification close`.
async fn close(
    c: &mut Client,
    json: bool,
    ledger_id: String,
    note: String,
    flags: CommandFlags,
) -> anyhow::Result<()> {
    let request = pb::CloseLedgerRequest {
        options: flags.options(),
        ledger_id,
        note,
    };
    let reply = call(c.close_ledger(request)).await?;
    let name = "rectify.v1.CloseLedgerResponse";
    print_result(json, name, &reply, "closed", reply.result.as_ref())
}

/// `rectification show`: the ledger's totals, then per group and phase.
async fn show(
    c: &mut Client,
    json: bool,
    ledger_id: String,
    min_position: u64,
) -> anyhow::Result<()> {
    let request = pb::GetLedgerRequest {
        ledger_id,
        min_position,
    };
    let reply = call(c.get_ledger(request)).await?;
    if !json && reply.ledger.is_none() {
        bail!("the server sent no ledger");
    }
    print_reply(json, "rectify.v1.GetLedgerResponse", &reply, print_ledger)
}

fn print_ledger(reply: &pb::GetLedgerResponse) {
    if let Some(ledger) = &reply.ledger {
        println!("{} — {}", ledger.ledger_id, ledger.title);
        println!("  {}", share(ledger.tally.as_ref()));
    }
    println!("by group:");
    for g in &reply.groups {
        println!("  {:<36} {}", g.group, share(g.tally.as_ref()));
    }
    println!("by phase (closed by its end / due by its end):");
    for p in &reply.phases {
        let ends = beijing_time(p.ends.as_ref())
            .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
        let (name, closed, due) = (&p.name, p.closed_by_end, p.due_by_end);
        println!("  {name:<14} ends {ends}  {closed}/{due}");
    }
}

/// `rectification list`.
async fn list(c: &mut Client, json: bool) -> anyhow::Result<()> {
    let reply = call(c.list_ledgers(pb::ListLedgersRequest { min_position: 0 })).await?;
    print_reply(json, "rectify.v1.ListLedgersResponse", &reply, |reply| {
        for l in &reply.ledgers {
            let tally = share(l.tally.as_ref());
            println!("{:<24} {tally}  {}", l.ledger_id, l.title);
        }
    })
}

/// `rectification items`: one line per item with its state.
async fn items(c: &mut Client, json: bool, args: ItemsArgs) -> anyhow::Result<()> {
    let request = pb::ListItemsRequest {
        ledger_id: args.ledger_id,
        group: args.group.unwrap_or_default(),
        unit: args.of.unwrap_or_default(),
        open_only: args.open,
        overdue_only: args.overdue,
        min_position: 0,
    };
    let reply = call(c.list_items(request)).await?;
    print_reply(json, "rectify.v1.ListItemsResponse", &reply, |reply| {
        for i in &reply.items {
            let state = if i.closed_at.is_some() {
                "closed"
            } else if i.overdue {
                "overdue"
            } else {
                "open"
            };
            let (id, lead) = (&i.item_id, i.lead_units.join(","));
            println!("{id:<40} {state:<7} lead {lead:<28} {}", i.problem);
        }
    })
}

/// `rectification rollup`: each unit's open items as lead and as
/// responsible unit.
async fn rollup(c: &mut Client, json: bool) -> anyhow::Result<()> {
    let request = pb::GetUnitRollupRequest { min_position: 0 };
    let reply = call(c.get_unit_rollup(request)).await?;
    print_reply(json, "rectify.v1.GetUnitRollupResponse", &reply, |reply| {
        for u in &reply.units {
            let (lead, responsible) = (share(u.as_lead.as_ref()), share(u.as_responsible.as_ref()));
            println!(
                "{:<28} lead: {lead}\n{:<28} resp: {responsible}",
                u.unit, ""
            );
        }
    })
}

/// A tally as one line: items, open, closed, overdue and the share closed.
fn share(tally: Option<&pb::Tally>) -> String {
    tally.map_or_else(String::new, |t| {
        format!(
            "{:>4} items {:>4} open {:>4} closed {:>4} overdue  {:>5.1}% closed",
            t.total,
            t.open,
            t.closed,
            t.overdue,
            t.share_closed * 100.0
        )
    })
}
