//! 单件: one complaint for investigators — status, routing rule, lead and
//! responsible units, deadlines, the timeline of events with actors and
//! times, and whether the log verifies (only for roles the API lets
//! verify).

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use tonic::Status;

use super::layout::{self, Chrome, beijing, remaining};
use super::{Dashboard, sessions::Identity};
use crate::labels::{milestone_label, status_code, status_label};
use crate::pb::{
    self, complaint_service_server::ComplaintService as _, event_service_server::EventService as _,
};
use crate::wire::from_timestamp;

/// One deadline of a complaint.
#[derive(Debug)]
pub struct DeadlineRow {
    /// The milestone's Chinese label.
    pub milestone: String,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// When met, if met.
    pub met_at: Option<DateTime<Utc>>,
}

/// One event of a complaint's timeline.
#[derive(Debug)]
pub struct EventRow {
    /// Log position.
    pub position: u64,
    /// Event type.
    pub event_type: String,
    /// The actor exactly as the API gave it.
    pub actor: String,
    /// When recorded.
    pub recorded_at: Option<DateTime<Utc>>,
}

/// What the complaint page shows.
#[derive(Debug)]
pub struct ComplaintPage {
    /// The header.
    pub chrome: Chrome,
    /// The clock's now.
    pub now: DateTime<Utc>,
    /// Complaint id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Status code and label.
    pub status: (String, String),
    /// The routing rule the dispatch applied.
    pub routing_rule: String,
    /// Lead unit's name.
    pub lead_unit: String,
    /// Responsible units' names.
    pub responsible_units: Vec<String>,
    /// Deadlines.
    pub deadlines: Vec<DeadlineRow>,
    /// Events, oldest first.
    pub events: Vec<EventRow>,
    /// Whether the log verifies, for roles that may ask; `None` shows nothing.
    pub log_verifies: Option<bool>,
}

/// Loads and renders one complaint.
pub async fn load(dashboard: &Dashboard, identity: &Identity, id: &str) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "");
    let view = dashboard
        .complaints
        .get_complaint(Dashboard::request(
            identity,
            pb::GetComplaintRequest {
                complaint_id: id.to_owned(),
                min_position: 0,
            },
        )?)
        .await?
        .into_inner()
        .complaint
        .ok_or_else(|| Status::internal("a complaint reply without its complaint"))?;
    let events = dashboard
        .complaints
        .get_history(Dashboard::request(
            identity,
            pb::GetHistoryRequest {
                complaint_id: id.to_owned(),
            },
        )?)
        .await?
        .into_inner()
        .events;
    // Only roles the API lets verify see anything about it.
    let log_verifies = match dashboard
        .events
        .verify_log(Dashboard::request(identity, pb::VerifyLogRequest {})?)
        .await
    {
        Ok(reply) => Some(reply.into_inner().ok),
        Err(status) if status.code() == tonic::Code::PermissionDenied => None,
        Err(status) => return Err(status),
    };
    let status = pb::ComplaintStatus::try_from(view.status).unwrap_or_default();
    Ok(render(&ComplaintPage {
        chrome,
        now: dashboard.state.clock.now(),
        id: view.complaint_id,
        title: view.title,
        status: (status_code(status), status_label(status).to_owned()),
        routing_rule: view.routing_rule,
        lead_unit: dashboard.unit_name(&view.lead_unit),
        responsible_units: view
            .responsible_units
            .iter()
            .map(|u| dashboard.unit_name(u))
            .collect(),
        deadlines: view
            .deadlines
            .iter()
            .map(|d| DeadlineRow {
                milestone: milestone_label(d.milestone).to_owned(),
                due_at: d.due_at.as_ref().and_then(from_timestamp),
                met_at: d.met_at.as_ref().and_then(from_timestamp),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventRow {
                position: e.position,
                recorded_at: e.recorded_at.as_ref().and_then(from_timestamp),
                event_type: e.event_type,
                actor: e.actor,
            })
            .collect(),
        log_verifies,
    }))
}

fn deadline_state(row: &DeadlineRow, now: DateTime<Utc>) -> Markup {
    match (row.due_at, row.met_at) {
        (_, Some(met)) => html! { "已完成 " (beijing(met)) },
        (Some(due), None) if due < now => html! { span.overdue { (remaining(due, now)) } },
        (Some(due), None) => html! { (remaining(due, now)) },
        (None, None) => html! { "—" },
    }
}

/// 单件.
pub fn render(view: &ComplaintPage) -> Markup {
    layout::page(
        &view.id,
        Some(&view.chrome),
        html! {
            section {
                h2 { (view.id) " " (view.title) }
                table {
                    tr { th { "状态" } td id="status" data-code=(view.status.0) { (view.status.1) " " code { (view.status.0) } } }
                    tr { th { "派单规则" } td { (view.routing_rule) } }
                    tr { th { "牵头单位" } td { (view.lead_unit) } }
                    tr { th { "责任单位" } td { @for (i, unit) in view.responsible_units.iter().enumerate() { @if i > 0 { "、" } (unit) } } }
                    @if let Some(ok) = view.log_verifies {
                        tr { th { "日志校验" } td id="log-verifies" { @if ok { "通过" } @else { span.overdue { "未通过" } } } }
                    }
                }
            }
            section {
                h2 { "时限" }
                table {
                    tr { th { "环节" } th { "时限" } th { "情况" } }
                    @for row in &view.deadlines {
                        tr {
                            td { (row.milestone) }
                            td { @if let Some(due) = row.due_at { (beijing(due)) } }
                            td { (deadline_state(row, view.now)) }
                        }
                    }
                }
            }
            section {
                h2 { "办理过程" }
                table {
                    tr { th { "#" } th { "事件" } th { "操作人" } th { "时间" } }
                    @for event in &view.events {
                        tr data-position=(event.position) {
                            td { (event.position) }
                            td.event-type { (event.event_type) }
                            td.actor { (event.actor) }
                            td { @if let Some(at) = event.recorded_at { (beijing(at)) } }
                        }
                    }
                }
            }
        },
    )
}
