//! 台账: the issue ledger with the API's filters, paging, and the CSV and
//! Excel exports.
//!
//! The query string names the filter (`status`, `area`, `district`,
//! `channel`, `unit`, `lead_unit`, `warning`, `overdue`, `supervised`,
//! `extended`, `returned`, `reopened`, `text`, `from`, `to` as Beijing
//! dates, `order`) and the page (`page`, the API's page token). A value the
//! API would refuse is a 400 page naming the parameter. The export link
//! carries the same filter to `ExportLedger`.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::StreamExt as _;
use maud::{Markup, html};
use percent_encoding::utf8_percent_encode;
use tonic::Status;

use super::layout::{self, Chrome, beijing};
use super::{Dashboard, error_page, params, redirect, sessions::Identity, signin};
use crate::labels::{
    CHANNELS, OPEN_STATUSES, channel_code, channel_label, status_code, status_from_code,
    status_label, warning_label,
};
use crate::pb::{self, query_service_server::QueryService as _};
use crate::server::form::Params;
use crate::wire::{from_timestamp, timestamp};

/// Rows per page.
pub const PAGE_SIZE: u32 = 50;
/// The filter parameters, in the order links carry them.
const FILTER_PARAMS: &[&str] = &[
    "status",
    "area",
    "district",
    "channel",
    "unit",
    "lead_unit",
    "warning",
    "overdue",
    "supervised",
    "extended",
    "returned",
    "reopened",
    "text",
    "from",
    "to",
    "order",
];
/// Orders: parameter value, wire order, Chinese label.
const ORDERS: &[(&str, pb::LedgerOrder, &str)] = &[
    (
        "received_desc",
        pb::LedgerOrder::ReceivedDesc,
        "受理时间（新→旧）",
    ),
    (
        "received_asc",
        pb::LedgerOrder::ReceivedAsc,
        "受理时间（旧→新）",
    ),
    ("due_asc", pb::LedgerOrder::DueAsc, "时限（近→远）"),
    ("id", pb::LedgerOrder::Id, "编号"),
];

fn invalid(param: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{param}: {reason}"))
}

/// Midnight of a Beijing date given as `2026-11-30`.
fn date(param: &str, raw: &str) -> Result<DateTime<Utc>, Status> {
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| invalid(param, format!("{raw:?} is not a date like 2026-11-30")))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_local_timezone(layout::beijing_offset())
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc))
}

/// Whether a checkbox parameter is on.
fn flag(params: &Params, name: &str) -> bool {
    matches!(params.get(name), Some("1" | "on" | "true"))
}

/// The API filter and order a query string names.
pub fn filter(params: &Params) -> Result<(pb::LedgerFilter, pb::LedgerOrder), Status> {
    let code = |name: &str| params.get(name).unwrap_or_default().to_owned();
    let statuses = match params.get("status") {
        None => Vec::new(),
        Some("open") => OPEN_STATUSES.iter().map(|(s, _)| *s as i32).collect(),
        Some(raw) => vec![
            status_from_code(raw)
                .ok_or_else(|| invalid("status", format!("unknown status {raw:?}")))?
                as i32,
        ],
    };
    let channel = match params.get("channel") {
        None => pb::Channel::Unspecified,
        Some(raw) => CHANNELS
            .iter()
            .map(|(c, _)| *c)
            .find(|c| channel_code(*c) == raw)
            .ok_or_else(|| invalid("channel", format!("unknown channel {raw:?}")))?,
    };
    let min_warning = match params.get("warning") {
        None => pb::WarningLevel::Unspecified,
        Some("yellow") => pb::WarningLevel::Yellow,
        Some("red") => pb::WarningLevel::Red,
        Some(raw) => {
            return Err(invalid(
                "warning",
                format!("{raw:?} is neither yellow nor red"),
            ));
        }
    };
    let order = match params.get("order") {
        None => pb::LedgerOrder::ReceivedDesc,
        Some(raw) => ORDERS
            .iter()
            .find(|(code, _, _)| *code == raw)
            .map(|(_, order, _)| *order)
            .ok_or_else(|| invalid("order", format!("unknown order {raw:?}")))?,
    };
    let filter = pb::LedgerFilter {
        statuses,
        area: code("area"),
        district: code("district"),
        channel: channel as i32,
        lead_unit: code("lead_unit"),
        unit: code("unit"),
        overdue_only: flag(params, "overdue"),
        min_warning: min_warning as i32,
        supervised_only: flag(params, "supervised"),
        received_from: params
            .get("from")
            .map(|raw| date("from", raw))
            .transpose()?
            .map(timestamp),
        received_before: params
            .get("to")
            .map(|raw| date("to", raw).map(|d| d + Duration::days(1)))
            .transpose()?
            .map(timestamp),
        text: code("text"),
        extended_only: flag(params, "extended"),
        returned_only: flag(params, "returned"),
        reopened_only: flag(params, "reopened"),
        ..Default::default()
    };
    Ok((filter, order))
}

/// The filter part of a query string, re-encoded for links.
fn filter_query(params: &Params) -> String {
    FILTER_PARAMS
        .iter()
        .filter_map(|name| {
            params
                .get(name)
                .map(|value| format!("{name}={}", utf8_percent_encode(value, layout::URL_VALUE)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What the ledger page shows.
struct LedgerPage<'a> {
    chrome: Chrome,
    params: &'a Params,
    reply: pb::ListLedgerResponse,
}

/// Loads and renders one page of the ledger.
pub async fn load(
    dashboard: &Dashboard,
    identity: &Identity,
    query: Option<&str>,
) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/ledger");
    let params = params(query)?;
    let (filter, order) = filter(&params)?;
    let reply = dashboard
        .list_ledger(
            identity,
            pb::ListLedgerRequest {
                filter: Some(filter),
                order: order as i32,
                page_size: PAGE_SIZE,
                page_token: params.get("page").unwrap_or_default().to_owned(),
                min_position: 0,
            },
        )
        .await?;
    Ok(render(
        dashboard,
        &LedgerPage {
            chrome,
            params: &params,
            reply,
        },
    ))
}

fn select(name: &str, chosen: Option<&str>, options: &[(String, String)]) -> Markup {
    html! {
        select name=(name) {
            option value="" { "全部" }
            @for (value, label) in options {
                option value=(value) selected[chosen == Some(value.as_str())] { (label) }
            }
        }
    }
}

fn filter_form(dashboard: &Dashboard, params: &Params) -> Markup {
    let catalog = &dashboard.state.catalog;
    let statuses: Vec<(String, String)> =
        std::iter::once(("open".to_owned(), "在办（全部未销号）".to_owned()))
            .chain(
                OPEN_STATUSES
                    .iter()
                    .map(|(s, _)| *s)
                    .chain([pb::ComplaintStatus::Closed])
                    .map(|s| (status_code(s), status_label(s).to_owned())),
            )
            .collect();
    let areas: Vec<_> = catalog
        .areas()
        .iter()
        .map(|a| (a.code.clone(), a.name.clone()))
        .collect();
    let districts: Vec<_> = catalog
        .districts()
        .iter()
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect();
    let units: Vec<_> = catalog
        .units()
        .iter()
        .map(|u| (u.code.clone(), u.name.clone()))
        .collect();
    let channels: Vec<_> = CHANNELS
        .iter()
        .map(|(c, label)| (channel_code(*c), (*label).to_owned()))
        .collect();
    let warnings = [
        ("yellow".to_owned(), "黄色及以上".to_owned()),
        ("red".to_owned(), "红色".to_owned()),
    ];
    let orders: Vec<_> = ORDERS
        .iter()
        .map(|(code, _, label)| ((*code).to_owned(), (*label).to_owned()))
        .collect();
    let check = |name: &str, label: &str| {
        html! { label { input type="checkbox" name=(name) value="1" checked[flag(params, name)]; (label) } }
    };
    html! {
        form.filters method="get" action="/dashboard/ledger" {
            label { "状态 " (select("status", params.get("status"), &statuses)) }
            label { "任务领域 " (select("area", params.get("area"), &areas)) }
            label { "旗县区 " (select("district", params.get("district"), &districts)) }
            label { "渠道 " (select("channel", params.get("channel"), &channels)) }
            label { "承办单位 " (select("unit", params.get("unit"), &units)) }
            label { "牵头单位 " (select("lead_unit", params.get("lead_unit"), &units)) }
            label { "预警 " (select("warning", params.get("warning"), &warnings)) }
            (check("overdue", "已超期")) (check("supervised", "督办")) (check("extended", "延期"))
            (check("returned", "退单")) (check("reopened", "重办"))
            label { "关键词 " input type="text" name="text" value=[params.get("text")] maxlength="100"; }
            label { "受理自 " input type="date" name="from" value=[params.get("from")]; }
            label { "至 " input type="date" name="to" value=[params.get("to")]; }
            label { "排序 " (select("order", params.get("order"), &orders)) }
            button type="submit" { "查询" }
            " " a href="/dashboard/ledger" { "清空" }
        }
    }
}

fn render(dashboard: &Dashboard, view: &LedgerPage<'_>) -> Markup {
    let filters = filter_query(view.params);
    let now = dashboard.state.clock.now();
    let with = |extra: &str| {
        let query = [filters.as_str(), extra]
            .iter()
            .filter(|part| !part.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("&");
        if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        }
    };
    layout::page(
        "台账",
        Some(&view.chrome),
        html! {
            section { (filter_form(dashboard, view.params)) }
            section {
                h2 {
                    "共 " span id="ledger-total" { (view.reply.total) } " 件"
                    " · 导出 "
                    a id="export-csv" href={ "/dashboard/ledger/export" (with("format=csv")) } { "CSV" }
                    " "
                    a id="export-xlsx" href={ "/dashboard/ledger/export" (with("format=xlsx")) } { "Excel" }
                }
                table {
                    tr { th { "编号" } th { "标题" } th { "状态" } th { "渠道" } th { "任务领域" } th { "旗县区" }
                         th { "牵头单位" } th { "受理时间" } th { "最近时限" } th { "预警" } }
                    @for row in &view.reply.rows {
                        @let status = pb::ComplaintStatus::try_from(row.status).unwrap_or_default();
                        @let channel = pb::Channel::try_from(row.channel).unwrap_or_default();
                        @let due = row.next_due_at.as_ref().and_then(from_timestamp);
                        tr data-id=(row.complaint_id) {
                            td { a href={ "/dashboard/complaints/" (row.complaint_id) } { (row.complaint_id) } }
                            td { (row.title) }
                            td data-code=(status_code(status)) { (status_label(status)) }
                            td { (channel_label(channel)) }
                            td { @if !row.area.is_empty() { (dashboard.area_name(&row.area)) } }
                            td { @if !row.district.is_empty() { (dashboard.district_name(&row.district)) } }
                            td { @if !row.lead_unit.is_empty() { (dashboard.unit_name(&row.lead_unit)) } }
                            td { @if let Some(at) = row.received_at.as_ref().and_then(from_timestamp) { (beijing(at)) } }
                            td class=[row.overdue.then_some("overdue")] { @if let Some(due) = due { (beijing(due)) } }
                            td class=[(row.warning == pb::WarningLevel::Red as i32).then_some("red")] { (warning_label(row.warning)) }
                        }
                    }
                }
                p {
                    @if view.params.get("page").is_some() { a id="first-page" href={ "/dashboard/ledger" (with("")) } { "首页" } " " }
                    @if !view.reply.next_page_token.is_empty() {
                        a id="next-page" href={ "/dashboard/ledger" (with(&format!("page={}", utf8_percent_encode(&view.reply.next_page_token, layout::URL_VALUE)))) } { "下一页" }
                    }
                    " 数据时间 " (beijing(now))
                }
            }
        },
    )
}

/// `GET /dashboard/ledger/export?format=csv|xlsx&…`: the filtered ledger as
/// a download, streamed from `ExportLedger`.
pub async fn export(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(identity) = dashboard.identity(&headers) else {
        return redirect(&signin::login_url(), None);
    };
    match start_export(&dashboard, &identity, query.as_deref()).await {
        Ok(response) => response,
        Err(status) => error_page(&status),
    }
}

async fn start_export(
    dashboard: &Dashboard,
    identity: &Identity,
    query: Option<&str>,
) -> Result<Response, Status> {
    let params = params(query)?;
    let (format, extension, content_type) = match params.get("format") {
        Some("csv") => (pb::ExportFormat::Csv, "csv", "text/csv; charset=utf-8"),
        Some("xlsx") => (
            pb::ExportFormat::Xlsx,
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        other => {
            return Err(invalid(
                "format",
                format!("{other:?} is neither csv nor xlsx"),
            ));
        }
    };
    let (filter, order) = filter(&params)?;
    let chunks = dashboard
        .queries
        .export_ledger(Dashboard::request(
            identity,
            pb::ExportLedgerRequest {
                filter: Some(filter),
                order: order as i32,
                format: format as i32,
                min_position: 0,
            },
        )?)
        .await?
        .into_inner();
    let day = dashboard
        .state
        .clock
        .now()
        .with_timezone(&layout::beijing_offset())
        .format("%Y%m%d");
    let disposition = format!(
        "attachment; filename=\"ledger-{day}.{extension}\"; filename*=UTF-8''{}-{day}.{extension}",
        utf8_percent_encode("台账", layout::URL_VALUE)
    );
    let body = Body::from_stream(chunks.map(|chunk| {
        chunk
            .map(|c| c.data)
            .map_err(|status| std::io::Error::other(status.message().to_owned()))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| Status::internal(format!("export response: {e}")))
}
