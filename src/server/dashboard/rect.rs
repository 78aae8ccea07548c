//! 整改销号: rectification ledgers as progress bars — item-by-item closure
//! (逐项销号) per working group (task area), per unit (as lead and as
//! responsible unit) and per phase — and the open items with their lead
//! units and due dates, overdue ones marked.
//!
//! The figures are `ListLedgers`, `GetLedger` and `ListItems`.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use percent_encoding::utf8_percent_encode;
use tonic::Status;

use super::layout::{self, Chrome, beijing, progress, remaining};
use super::{Dashboard, sessions::Identity};
use crate::pb::{self, ledger_service_server::LedgerService as _};
use crate::wire::from_timestamp;

fn source_label(source: i32) -> &'static str {
    match pb::LedgerSource::try_from(source).unwrap_or_default() {
        pb::LedgerSource::SelfInspection => "自查自纠",
        pb::LedgerSource::SupervisionInspection => "督查检查",
        pb::LedgerSource::ExperienceOfficer => "体验官反馈",
        pb::LedgerSource::ComplaintCluster => "诉求集中问题",
        pb::LedgerSource::ReformPlan => "改革方案",
        pb::LedgerSource::Unspecified => "其他",
    }
}

/// Loads and renders the list of rectification ledgers.
pub async fn load_list(dashboard: &Dashboard, identity: &Identity) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/rect");
    let ledgers = dashboard
        .ledgers
        .list_ledgers(Dashboard::request(
            identity,
            pb::ListLedgersRequest { min_position: 0 },
        )?)
        .await?
        .into_inner()
        .ledgers;
    Ok(layout::page(
        "整改销号",
        Some(&chrome),
        html! {
            section {
                h2 { "整改台账" }
                @if ledgers.is_empty() { p { "尚无整改台账。" } }
                table {
                    tr { th { "台账" } th { "来源" } th { "牵头单位" } th { "逐项销号" } th.n { "超期" } }
                    @for ledger in &ledgers {
                        @let tally = ledger.tally.unwrap_or_default();
                        tr data-ledger=(ledger.ledger_id) {
                            td { a href={ "/dashboard/rect/" (utf8_percent_encode(&ledger.ledger_id, layout::URL_VALUE)) } { (ledger.title) } " " code { (ledger.ledger_id) } }
                            td { (source_label(ledger.source)) }
                            td { (dashboard.unit_name(&ledger.owner_unit)) }
                            td { (progress(&format!("closed-{}", ledger.ledger_id), tally.closed, tally.total)) }
                            td.n class=[(tally.overdue > 0).then_some("overdue")] { (tally.overdue) }
                        }
                    }
                }
            }
        },
    ))
}

/// What one ledger's page shows.
struct RectPage {
    chrome: Chrome,
    now: DateTime<Utc>,
    reply: pb::GetLedgerResponse,
    open_items: Vec<pb::LedgerItem>,
}

/// Loads and renders one rectification ledger.
pub async fn load(dashboard: &Dashboard, identity: &Identity, id: &str) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/rect");
    let reply = dashboard
        .ledgers
        .get_ledger(Dashboard::request(
            identity,
            pb::GetLedgerRequest {
                ledger_id: id.to_owned(),
                min_position: 0,
            },
        )?)
        .await?
        .into_inner();
    let mut open_items = dashboard
        .ledgers
        .list_items(Dashboard::request(
            identity,
            pb::ListItemsRequest {
                ledger_id: id.to_owned(),
                open_only: true,
                ..Default::default()
            },
        )?)
        .await?
        .into_inner()
        .items;
    open_items.sort_by(|a, b| {
        let due = |item: &pb::LedgerItem| item.deadline.as_ref().and_then(from_timestamp);
        (!a.overdue, due(a).is_none(), due(a), &a.item_id).cmp(&(
            !b.overdue,
            due(b).is_none(),
            due(b),
            &b.item_id,
        ))
    });
    Ok(render(
        dashboard,
        &RectPage {
            chrome,
            now: dashboard.state.clock.now(),
            reply,
            open_items,
        },
    ))
}

fn render(dashboard: &Dashboard, view: &RectPage) -> Markup {
    let summary = view.reply.ledger.clone().unwrap_or_default();
    let tally = summary.tally.unwrap_or_default();
    layout::page(
        &summary.title,
        Some(&view.chrome),
        html! {
            section {
                h2 { (summary.title) " " code { (summary.ledger_id) } }
                p { (source_label(summary.source)) " · 牵头 " (dashboard.unit_name(&summary.owner_unit)) }
                p { "逐项销号 " (progress("ledger-closed", tally.closed, tally.total))
                    " · 超期 " span.overdue id="ledger-overdue" { (tally.overdue) } }
            }
            div.grid {
                section {
                    h2 { "按工作组（任务领域）" }
                    table {
                        @for group in &view.reply.groups {
                            @let t = group.tally.unwrap_or_default();
                            tr data-group=(group.group) {
                                td { @if group.group.is_empty() { "未分组" } @else { (dashboard.area_name(&group.group)) } }
                                td { (progress(&format!("group-{}", group.group), t.closed, t.total)) }
                                td.n class=[(t.overdue > 0).then_some("overdue")] { (t.overdue) }
                            }
                        }
                    }
                }
                section {
                    h2 { "按阶段" }
                    table {
                        @for phase in &view.reply.phases {
                            tr data-phase=(phase.code) {
                                td { (phase.name) }
                                td { @if let Some(end) = phase.ends.as_ref().and_then(from_timestamp) { "截至 " (beijing(end)) } }
                                td { (progress(&format!("phase-{}", phase.code), phase.closed_by_end, phase.due_by_end)) }
                            }
                        }
                    }
                }
            }
            section {
                h2 { "按单位" }
                table {
                    tr { th { "单位" } th { "牵头事项" } th.n { "超期" } th { "配合事项" } }
                    @for unit in &view.reply.units {
                        @let lead = unit.as_lead.unwrap_or_default();
                        @let resp = unit.as_responsible.unwrap_or_default();
                        tr data-unit=(unit.unit) {
                            td { (dashboard.unit_name(&unit.unit)) }
                            td { (progress(&format!("lead-{}", unit.unit), lead.closed, lead.total)) }
                            td.n class=[(lead.overdue > 0).then_some("overdue")] { (lead.overdue) }
                            td { (progress(&format!("resp-{}", unit.unit), resp.closed, resp.total)) }
                        }
                    }
                }
            }
            section {
                h2 { "未销号事项 " span id="open-items" { (view.open_items.len()) } " 项" }
                table {
                    tr { th { "事项" } th { "问题" } th { "工作组" } th { "牵头单位" } th { "时限" } th { "剩余时间" } }
                    @for item in &view.open_items {
                        @let due = item.deadline.as_ref().and_then(from_timestamp);
                        tr data-item=(item.item_id) {
                            td { (item.item_id) }
                            td { (item.problem) }
                            td { (dashboard.area_name(&item.group)) }
                            td { @for (i, unit) in item.lead_units.iter().enumerate() { @if i > 0 { "、" } (dashboard.unit_name(unit)) } }
                            td { @if let Some(due) = due { (beijing(due)) } @else { "—" } }
                            td class=[item.overdue.then_some("overdue")] { @if let Some(due) = due { (remaining(due, view.now)) } }
                        }
                    }
                }
            }
        },
    )
}
