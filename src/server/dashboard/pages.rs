//! The dashboard's HTML, compiled by `maud` at build time: every
//! interpolated value is HTML-escaped by the template, and nothing is
//! loaded from elsewhere (one inline style block, inline SVG charts, no
//! script).
//!
//! Each number a test or a reader checks against the API carries an `id`
//! or a `data-` attribute naming what it counts.

use chrono::{DateTime, FixedOffset, Utc};
use maud::{DOCTYPE, Markup, html};

/// Beijing time, UTC+8, in which every instant on the pages is shown.
const BEIJING_OFFSET_SECS: i32 = 8 * 3600;
/// Width in pixels of the longest bar of a chart.
const BAR_WIDTH_MAX: u64 = 360;
/// Height in pixels of one bar's row in a chart.
const BAR_ROW_HEIGHT: u64 = 22;

/// The inline style: one column up to 1280 px, readable at 1366×768.
const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;\
background:#f4f5f7;color:#222;font-size:14px}\
header{background:#1f3a5f;color:#fff;padding:8px 16px;display:flex;justify-content:space-between;align-items:center}\
header a,header button{color:#fff}main{max-width:1280px;margin:0 auto;padding:12px 16px}\
section{background:#fff;border-radius:4px;padding:8px 12px;margin-bottom:12px}\
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}\
.n{text-align:right;font-variant-numeric:tabular-nums}.overdue{color:#b00020}.soon{color:#a66300}\
.yellow{color:#a66300}.red{color:#b00020}code{color:#555}h1{font-size:18px;margin:0}h2{font-size:16px;margin:4px 0}\
.dev{background:#fff3cd;padding:6px;border:1px solid #e0c060}.error{color:#b00020}";

/// An instant as Beijing time, `2026-12-01 17:00`.
pub fn beijing(instant: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(BEIJING_OFFSET_SECS).expect("UTC+8 is a valid offset");
    instant
        .with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The time left until `due` from `now`, or past it: `剩余 3小时20分`,
/// `超期 1天2小时`.
pub fn remaining(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (label, seconds) = if due >= now {
        ("剩余", (due - now).num_seconds())
    } else {
        ("超期", (now - due).num_seconds())
    };
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    if days > 0 {
        format!("{label} {days}天{hours}小时")
    } else {
        format!("{label} {hours}小时{minutes}分")
    }
}

fn page(title: &str, who: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 12345 进度可视化" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { a href="/dashboard" { "12345 进度可视化" } }
                    @if let Some(who) = who {
                        form method="post" action="/dashboard/logout" {
                            span { (who) " " }
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in form: a token field, or in development mode a role choice.
pub fn login(development: bool, roles: &[&str], error: Option<&str>) -> Markup {
    page(
        "登录",
        None,
        html! {
            section {
                h2 { "登录" }
                @if let Some(error) = error { p.error { (error) } }
                form method="post" action="/dashboard/login" {
                    @if development {
                        p.dev { "开发模式（未配置访问令牌）：选择角色登录。development mode: no principals configured." }
                        label { "角色 role " select name="role" {
                            @for role in roles { option value=(role) { (role) } }
                        } }
                    } @else {
                        label { "访问令牌 token " input type="password" name="token" autocomplete="off" required; }
                    }
                    " "
                    button type="submit" { "登录" }
                }
            }
        },
    )
}

/// A single-use sign-in code and its link.
pub fn login_code(who: &str, code: &str) -> Markup {
    page(
        "登录码",
        Some(who),
        html! {
            section {
                h2 { "一次性登录链接（60秒内有效，仅可使用一次）" }
                p { a id="login-link" data-code=(code) href={ "/dashboard/login?code=" (code) } { "打开" } }
            }
        },
    )
}

/// One row of a count table: code, Chinese label, count.
#[derive(Debug)]
pub struct Count {
    /// The stable code, used in the element id.
    pub code: String,
    /// The Chinese label.
    pub label: String,
    /// How many.
    pub count: u64,
}

/// One complaint of a deadline list.
#[derive(Debug)]
pub struct DueRow {
    /// Complaint id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Lead unit's Chinese name (or its code when unknown).
    pub lead_unit: String,
    /// The earliest open due time.
    pub due_at: DateTime<Utc>,
}

/// What the overview shows.
#[derive(Debug)]
pub struct Overview {
    /// Who is signed in, for the header.
    pub who: String,
    /// The clock's now, for countdowns.
    pub now: DateTime<Utc>,
    /// Open complaints in all.
    pub open_total: u64,
    /// Open complaints per status.
    pub by_status: Vec<Count>,
    /// Open complaints per warning level.
    pub by_warning: Vec<Count>,
    /// Intake in the window per channel.
    pub by_channel: Vec<Count>,
    /// Intake in the window per task area (areas with none left out).
    pub by_area: Vec<Count>,
    /// The intake window in days.
    pub window_days: i64,
    /// Open complaints past due, earliest first.
    pub overdue: Vec<DueRow>,
    /// Open complaints due soon, earliest first.
    pub soon_due: Vec<DueRow>,
    /// How far ahead "soon" looks, in hours.
    pub soon_hours: i64,
}

fn counts(kind: &str, rows: &[Count]) -> Markup {
    html! {
        table {
            @for row in rows {
                tr { td { (row.label) " " code { (row.code) } } td.n id={ (kind) "-" (row.code) } { (row.count) } }
            }
        }
    }
}

fn bars(kind: &str, rows: &[Count]) -> Markup {
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0).max(1);
    let height = BAR_ROW_HEIGHT * rows.len().max(1) as u64;
    html! {
        svg width="600" height=(height) role="img" xmlns="http://www.w3.org/2000/svg" {
            @for (i, row) in rows.iter().enumerate() {
                @let y = i as u64 * BAR_ROW_HEIGHT;
                text x="0" y=(y + 15) font-size="12" { (row.label) }
                rect x="170" y=(y + 3) height="16" width=(row.count * BAR_WIDTH_MAX / max) fill="#3b6ea5" {}
                text x=(175 + row.count * BAR_WIDTH_MAX / max) y=(y + 15) font-size="12" id={ (kind) "-" (row.code) } { (row.count) }
            }
        }
    }
}

fn due_table(kind: &str, rows: &[DueRow], now: DateTime<Utc>) -> Markup {
    html! {
        @if rows.is_empty() { p { "无" } } @else {
            table {
                tr { th { "编号" } th { "标题" } th { "牵头单位" } th { "办结时限" } th { "剩余时间" } }
                @for row in rows {
                    tr data-list=(kind) data-id=(row.id) {
                        td { a href={ "/dashboard/complaints/" (row.id) } { (row.id) } }
                        td { (row.title) }
                        td { (row.lead_unit) }
                        td { (beijing(row.due_at)) }
                        td class=(kind) { (remaining(row.due_at, now)) }
                    }
                }
            }
        }
    }
}

/// 总览.
pub fn overview(view: &Overview) -> Markup {
    page(
        "总览",
        Some(&view.who),
        html! {
            section {
                h2 { "在办诉求 " span id="open-total" { (view.open_total) } " 件" }
                p { "数据时间 " (beijing(view.now)) "（北京时间）" }
            }
            div.grid {
                section { h2 { "按状态" } (counts("status", &view.by_status)) }
                section { h2 { "按预警" } (counts("warning", &view.by_warning)) }
                section { h2 { "近" (view.window_days) "天受理 · 按渠道" } (bars("channel", &view.by_channel)) }
                section { h2 { "近" (view.window_days) "天受理 · 按任务领域" } (bars("area", &view.by_area)) }
            }
            section { h2 { "已超期" } (due_table("overdue", &view.overdue, view.now)) }
            section { h2 { "即将到期（" (view.soon_hours) "小时内）" } (due_table("soon", &view.soon_due, view.now)) }
        },
    )
}

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
    /// Who is signed in.
    pub who: String,
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

fn deadline_state(row: &DeadlineRow, now: DateTime<Utc>) -> Markup {
    match (row.due_at, row.met_at) {
        (_, Some(met)) => html! { "已完成 " (beijing(met)) },
        (Some(due), None) if due < now => html! { span.overdue { (remaining(due, now)) } },
        (Some(due), None) => html! { (remaining(due, now)) },
        (None, None) => html! { "—" },
    }
}

/// 单件.
pub fn complaint(view: &ComplaintPage) -> Markup {
    page(
        &view.id,
        Some(&view.who),
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _, Utc};

    use super::{beijing, remaining};

    #[test]
    fn times_are_beijing_and_countdowns_read_in_chinese() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        assert_eq!(beijing(now), "2026-12-01 17:00");
        let soon = now + Duration::minutes(3 * 60 + 20);
        assert_eq!(remaining(soon, now), "剩余 3小时20分");
        let late = now - Duration::hours(26);
        assert_eq!(remaining(late, now), "超期 1天2小时");
        assert_eq!(remaining(now, now), "剩余 0小时0分");
    }
}
