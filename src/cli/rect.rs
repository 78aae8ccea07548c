//! The CLI of rectification ledgers: `rectify rectification …` (alias
//! `rect`) and `rectify admin import-plan`.

use anyhow::Context as _;

use crate::{
    cli::connect::{client, time_flag},
    cli::output::{beijing_time, call, print_reply, print_result, to_json},
    cli::{Connection, RectCommand, SourceArg},
    pb::{self, ledger_service_client::LedgerServiceClient},
};

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

/// `rectify admin import-plan`.
pub async fn import_plan(conn: &Connection) -> anyhow::Result<()> {
    let reply = call(
        client(conn, LedgerServiceClient::new)
            .await?
            .import_plan(pb::ImportPlanRequest {}),
    )
    .await?;
    print_reply(
        conn.json,
        "rectify.v1.ImportPlanResponse",
        &reply,
        |reply| {
            println!(
                "ledger {}: {} items added, {} in all (position {})",
                reply.ledger_id, reply.items_added, reply.items_total, reply.position
            );
        },
    )
}

/// `rectify rectification …`.
pub async fn run(conn: &Connection, command: RectCommand) -> anyhow::Result<()> {
    let mut c = client(conn, LedgerServiceClient::new).await?;
    match command {
        RectCommand::Open {
            ledger_id,
            title,
            source,
            owner,
            plan_phases,
            flags,
        } => {
            let source = match source {
                SourceArg::SelfInspection => pb::LedgerSource::SelfInspection,
                SourceArg::Supervision => pb::LedgerSource::SupervisionInspection,
                SourceArg::Officer => pb::LedgerSource::ExperienceOfficer,
                SourceArg::Complaints => pb::LedgerSource::ComplaintCluster,
                SourceArg::Plan => pb::LedgerSource::ReformPlan,
            };
            let reply = call(c.open_ledger(pb::OpenLedgerRequest {
                options: flags.options(),
                ledger_id,
                title,
                source: source as i32,
                owner_unit: owner,
                phases: vec![],
                plan_phases,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.OpenLedgerResponse",
                &reply,
                "opened",
                reply.result.as_ref(),
            )
        }
        RectCommand::AddItem {
            ledger_id,
            item_id,
            problem,
            measures,
            group,
            lead,
            responsible,
            deadline,
            flags,
        } => {
            let reply = call(c.add_item(pb::AddItemRequest {
                options: flags.options(),
                ledger_id,
                item_id,
                problem,
                measures,
                group: group.unwrap_or_default(),
                lead_units: lead,
                responsible_units: responsible,
                deadline: time_flag(deadline.as_deref(), "deadline")?,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.AddItemResponse",
                &reply,
                "item added to",
                reply.result.as_ref(),
            )
        }
        RectCommand::Progress {
            ledger_id,
            item_id,
            note,
            evidence,
            flags,
        } => {
            let reply = call(c.record_item_progress(pb::RecordItemProgressRequest {
                options: flags.options(),
                ledger_id,
                item_id,
                note,
                evidence,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.RecordItemProgressResponse",
                &reply,
                "progress recorded on",
                reply.result.as_ref(),
            )
        }
        RectCommand::CloseItem {
            ledger_id,
            item_id,
            evidence,
            verifier,
            note,
            flags,
        } => {
            let reply = call(c.close_item(pb::CloseItemRequest {
                options: flags.options(),
                ledger_id,
                item_id,
                evidence,
                verifier,
                note,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.CloseItemResponse",
                &reply,
                "item closed (销号) in",
                reply.result.as_ref(),
            )?;
            if !conn.json && !reply.fixed_complaints.is_empty() {
                println!(
                    "class fix recorded on: {}",
                    reply.fixed_complaints.join(", ")
                );
            }
            Ok(())
        }
        RectCommand::ReopenItem {
            ledger_id,
            item_id,
            reason,
            flags,
        } => {
            let reply = call(c.reopen_item(pb::ReopenItemRequest {
                options: flags.options(),
                ledger_id,
                item_id,
                reason,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.ReopenItemResponse",
                &reply,
                "item reopened in",
                reply.result.as_ref(),
            )
        }
        RectCommand::Link {
            ledger_id,
            item_id,
            complaints,
            flags,
        } => {
            let reply = call(c.link_complaints(pb::LinkComplaintsRequest {
                options: flags.options(),
                ledger_id,
                item_id,
                complaint_ids: complaints,
            }))
            .await?;
            print_reply(
                conn.json,
                "rectify.v1.LinkComplaintsResponse",
                &reply,
                |reply| {
                    println!(
                        "linked: {}; already linked: {}",
                        reply.linked.join(", "),
                        reply.already_linked.join(", ")
                    );
                },
            )
        }
        RectCommand::Suggest {
            ledger_id,
            item_id,
            district,
            limit,
        } => {
            let reply = call(c.suggest_complaints(pb::SuggestComplaintsRequest {
                ledger_id,
                item_id,
                district: district.unwrap_or_default(),
                limit,
                min_position: 0,
            }))
            .await?;
            if conn.json {
                println!(
                    "{}",
                    to_json("rectify.v1.SuggestComplaintsResponse", &reply)?
                );
            } else {
                for s in &reply.complaints {
                    println!(
                        "{:.2}  {:<28} {:<16} {}",
                        s.score, s.complaint_id, s.district, s.title
                    );
                }
            }
            Ok(())
        }
        RectCommand::Close {
            ledger_id,
            note,
            flags,
        } => {
            let reply = call(c.close_ledger(pb::CloseLedgerRequest {
                options: flags.options(),
                ledger_id,
                note,
            }))
            .await?;
            print_result(
                conn.json,
                "rectify.v1.CloseLedgerResponse",
                &reply,
                "closed",
                reply.result.as_ref(),
            )
        }
        RectCommand::Show {
            ledger_id,
            min_position,
        } => {
            let reply = call(c.get_ledger(pb::GetLedgerRequest {
                ledger_id,
                min_position,
            }))
            .await?;
            if conn.json {
                println!("{}", to_json("rectify.v1.GetLedgerResponse", &reply)?);
                return Ok(());
            }
            let ledger = reply.ledger.context("the server sent no ledger")?;
            println!("{} — {}", ledger.ledger_id, ledger.title);
            println!("  {}", share(ledger.tally.as_ref()));
            println!("by group:");
            for g in &reply.groups {
                println!("  {:<36} {}", g.group, share(g.tally.as_ref()));
            }
            println!("by phase (closed by its end / due by its end):");
            for p in &reply.phases {
                let ends = beijing_time(p.ends.as_ref())
                    .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
                println!(
                    "  {:<14} ends {ends}  {}/{}",
                    p.name, p.closed_by_end, p.due_by_end
                );
            }
            Ok(())
        }
        RectCommand::List => {
            let reply = call(c.list_ledgers(pb::ListLedgersRequest { min_position: 0 })).await?;
            print_reply(
                conn.json,
                "rectify.v1.ListLedgersResponse",
                &reply,
                |reply| {
                    for l in &reply.ledgers {
                        println!(
                            "{:<24} {}  {}",
                            l.ledger_id,
                            share(l.tally.as_ref()),
                            l.title
                        );
                    }
                },
            )
        }
        RectCommand::Items {
            ledger_id,
            group,
            of,
            open,
            overdue,
        } => {
            let reply = call(c.list_items(pb::ListItemsRequest {
                ledger_id,
                group: group.unwrap_or_default(),
                unit: of.unwrap_or_default(),
                open_only: open,
                overdue_only: overdue,
                min_position: 0,
            }))
            .await?;
            print_reply(conn.json, "rectify.v1.ListItemsResponse", &reply, |reply| {
                for i in &reply.items {
                    println!(
                        "{:<40} {:<7} lead {:<28} {}",
                        i.item_id,
                        if i.closed_at.is_some() {
                            "closed"
                        } else if i.overdue {
                            "overdue"
                        } else {
                            "open"
                        },
                        i.lead_units.join(","),
                        i.problem
                    );
                }
            })
        }
        RectCommand::Rollup => {
            let reply =
                call(c.get_unit_rollup(pb::GetUnitRollupRequest { min_position: 0 })).await?;
            print_reply(
                conn.json,
                "rectify.v1.GetUnitRollupResponse",
                &reply,
                |reply| {
                    for u in &reply.units {
                        println!(
                            "{:<28} lead: {}\n{:<28} resp: {}",
                            u.unit,
                            share(u.as_lead.as_ref()),
                            "",
                            share(u.as_responsible.as_ref())
                        );
                    }
                },
            )
        }
    }
}
