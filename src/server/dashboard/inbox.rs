//! 单位待办: what waits for one unit — to accept (签收), to handle (处办),
//! to resolve (办结) as lead unit, and to accept or handle as responsible
//! unit — each with its due time and countdown.
//!
//! A unit's own users see their own inbox; asking for another unit's is the
//! API's `PERMISSION_DENIED`. The dispatch centre, supervisors and
//! administrators choose a unit.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use tonic::Status;

use super::layout::{self, Chrome, DueRow, due_table};
use super::{Dashboard, params, sessions::Identity};
use crate::pb::{self, query_service_server::QueryService as _};

/// What the inbox page shows.
#[derive(Debug)]
struct InboxPage {
    chrome: Chrome,
    now: DateTime<Utc>,
    /// The unit shown, if one is chosen.
    unit: Option<(String, String)>,
    /// Units to choose from (code, name); empty for a unit's own users.
    choices: Vec<(String, String)>,
    /// The lists: id, heading, rows.
    lists: Vec<(&'static str, &'static str, Vec<DueRow>)>,
}

/// Loads and renders the inbox of `?unit=` (a unit user's own by default).
pub async fn load(
    dashboard: &Dashboard,
    identity: &Identity,
    query: Option<&str>,
) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/inbox");
    let params = params(query)?;
    let unit = params
        .get("unit")
        .map(str::to_owned)
        .or_else(|| identity.unit.clone());
    let choices = if identity.unit.is_some() {
        Vec::new()
    } else {
        dashboard
            .state
            .catalog
            .units()
            .iter()
            .map(|u| (u.code.clone(), u.name.clone()))
            .collect()
    };
    let mut lists = Vec::new();
    if let Some(unit) = &unit {
        let inbox = dashboard
            .queries
            .get_inbox(Dashboard::request(
                identity,
                pb::GetInboxRequest {
                    unit: unit.clone(),
                    min_position: 0,
                },
            )?)
            .await?
            .into_inner();
        lists = vec![
            (
                "lead-to-accept",
                "牵头 · 待签收",
                dashboard.due_rows(&inbox.lead_to_accept),
            ),
            (
                "lead-to-handle",
                "牵头 · 待处办",
                dashboard.due_rows(&inbox.lead_to_handle),
            ),
            (
                "lead-to-resolve",
                "牵头 · 待办结",
                dashboard.due_rows(&inbox.lead_to_resolve),
            ),
            (
                "responsible-to-accept",
                "配合 · 待签收",
                dashboard.due_rows(&inbox.responsible_to_accept),
            ),
            (
                "responsible-to-handle",
                "配合 · 待处办",
                dashboard.due_rows(&inbox.responsible_to_handle),
            ),
        ];
    }
    Ok(render(&InboxPage {
        chrome,
        now: dashboard.state.clock.now(),
        unit: unit.map(|code| {
            let name = dashboard.unit_name(&code);
            (code, name)
        }),
        choices,
        lists,
    }))
}

fn render(view: &InboxPage) -> Markup {
    let chosen = view.unit.as_ref().map(|(code, _)| code.as_str());
    layout::page(
        "单位待办",
        Some(&view.chrome),
        html! {
            @if !view.choices.is_empty() {
                section {
                    form.filters method="get" action="/dashboard/inbox" {
                        label { "单位 " select name="unit" {
                            @for (code, name) in &view.choices {
                                option value=(code) selected[chosen == Some(code.as_str())] { (name) " " (code) }
                            }
                        } }
                        button type="submit" { "查看" }
                    }
                }
            }
            @match &view.unit {
                None => section { p { "请选择单位。" } },
                Some((code, name)) => {
                    section {
                        h2 id="inbox-unit" data-unit=(code) { (name) " " code { (code) } " 待办" }
                    }
                    @for (id, heading, rows) in &view.lists {
                        section {
                            h2 { (heading) " " span id={ "count-" (id) } { (rows.len()) } " 件" }
                            (due_table(id, rows, view.now))
                        }
                    }
                }
            }
        },
    )
}
