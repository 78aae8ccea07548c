//! The dashboard's page shell and the pieces every page draws with,
//! compiled by `maud` at build time: every interpolated value is
//! HTML-escaped by the template. Styles are inline; charts are inline SVG;
//! the one script ([`LIVE_JS`]) is served from the binary and only
//! refreshes the page when the log moves.
//!
//! Each number a test or a reader checks against the API carries an `id`
//! or a `data-` attribute naming what it counts.

use chrono::{DateTime, FixedOffset, Utc};
use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// What a query value or path segment in a link is percent-encoded
/// against: everything but letters, digits and `-._~`.
pub const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Beijing time, UTC+8, in which every instant on the pages is shown.
const BEIJING_OFFSET_SECS: i32 = 8 * 3600;
/// Width in pixels of the longest bar of a chart.
const BAR_WIDTH_MAX: u64 = 360;
/// Height in pixels of one bar's row in a chart.
const BAR_ROW_HEIGHT: u64 = 22;
/// Height in pixels of a column chart's tallest column.
const COLUMN_HEIGHT_MAX: u64 = 120;

/// The live-refresh script: listens to the server-sent position feed and
/// swaps in a freshly rendered `main` when the ledger moves.
pub const LIVE_JS: &str = include_str!("live.js");

/// The inline style: one column up to 1280 px, readable at 1366×768, wider
/// and larger on a wall screen.
const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;\
background:#f4f5f7;color:#222;font-size:14px}\
header{background:#1f3a5f;color:#fff;padding:6px 16px;display:flex;justify-content:space-between;align-items:center;gap:12px}\
header a{color:#fff}header button{color:#fff;background:transparent;border:1px solid #fff;border-radius:3px}nav a{margin-right:14px;text-decoration:none}nav a.on{border-bottom:2px solid #fff}\
main{max-width:1280px;margin:0 auto;padding:12px 16px}\
section{background:#fff;border-radius:4px;padding:8px 12px;margin-bottom:12px}\
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left}\
.n{text-align:right;font-variant-numeric:tabular-nums}.overdue{color:#b00020}.soon{color:#a66300}\
.yellow{color:#a66300}.red{color:#b00020}code{color:#555}h1{font-size:18px;margin:0}h2{font-size:16px;margin:4px 0}\
.dev{background:#fff3cd;padding:6px;border:1px solid #e0c060}.error{color:#b00020}\
.bar{background:#e3e8ef;height:14px;width:240px;display:inline-block;vertical-align:middle}\
.bar span{background:#2e7d4f;height:14px;display:block}.filters label{margin-right:10px;display:inline-block}\
#live-status{font-size:12px;opacity:.8}\
@media (min-width:1900px){body{font-size:18px}main{max-width:none}h1{font-size:24px}h2{font-size:20px}}";

/// An instant as Beijing time, `2026-12-01 17:00`.
pub fn beijing(instant: DateTime<Utc>) -> String {
    instant
        .with_timezone(&beijing_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// UTC+8.
pub fn beijing_offset() -> FixedOffset {
    FixedOffset::east_opt(BEIJING_OFFSET_SECS).expect("UTC+8 is a valid offset")
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

/// A fraction as a percentage with one decimal, `87.5%`; `—` when absent.
pub fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "—".to_owned(), |f| format!("{:.1}%", f * 100.0))
}

/// The page header of a signed-in page: who, where, and the menu.
#[derive(Debug)]
pub struct Chrome {
    /// Who is signed in, `desk-1（dispatcher）`.
    pub who: String,
    /// The menu: path, label, whether it is this page.
    pub menu: Vec<(&'static str, &'static str, bool)>,
    /// The ledger position the page reflects; the live script compares it
    /// with the feed.
    pub position: u64,
}

/// A whole page; `chrome` is `None` on the sign-in pages.
pub fn page(title: &str, chrome: Option<&Chrome>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 12345 进度可视化" }
                style { (maud::PreEscaped(STYLE)) }
                @if chrome.is_some() { script src="/dashboard/assets/live.js" defer {} }
            }
            body data-applied=[chrome.map(|c| c.position)] {
                header {
                    h1 { a href="/dashboard" { "12345 进度可视化" } }
                    @if let Some(chrome) = chrome {
                        nav {
                            @for (href, label, on) in &chrome.menu {
                                a href=(href) class=[on.then_some("on")] { (label) }
                            }
                        }
                        form method="post" action="/dashboard/logout" {
                            span id="live-status" { "静态" } " "
                            span { (chrome.who) " " }
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The sign-in form: a token field, or in development mode a role choice
/// and a unit code for the unit role.
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
                        " "
                        label { "单位代码（单位角色）unit " input type="text" name="unit" autocomplete="off"; }
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
        None,
        html! {
            section {
                h2 { "一次性登录链接（60秒内有效，仅可使用一次）" }
                p { (who) }
                p { a id="login-link" data-code=(code) href={ "/dashboard/login?code=" (code) } { "打开" } }
            }
        },
    )
}

/// One row of a count table or chart: code, Chinese label, count.
#[derive(Debug, Clone)]
pub struct Count {
    /// The stable code, used in the element id.
    pub code: String,
    /// The Chinese label.
    pub label: String,
    /// How many.
    pub count: u64,
}

/// A table of counts; each count's id is `{kind}-{code}`.
pub fn counts(kind: &str, rows: &[Count]) -> Markup {
    html! {
        table {
            @for row in rows {
                tr { td { (row.label) " " code { (row.code) } } td.n id={ (kind) "-" (row.code) } { (row.count) } }
            }
        }
    }
}

/// A horizontal bar chart; each count's id is `{kind}-{code}`.
pub fn bars(kind: &str, rows: &[Count]) -> Markup {
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

/// A column chart over time (days or months), labels under every few
/// columns; each count is a `data-{kind}` attribute of its column.
pub fn columns(kind: &str, rows: &[Count]) -> Markup {
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0).max(1);
    let width = 600u64;
    let step = width / rows.len().max(1) as u64;
    let label_every = (rows.len() / 8).max(1);
    html! {
        svg width=(width) height=(COLUMN_HEIGHT_MAX + 34) role="img" xmlns="http://www.w3.org/2000/svg" {
            @for (i, row) in rows.iter().enumerate() {
                @let x = i as u64 * step;
                @let h = row.count * COLUMN_HEIGHT_MAX / max;
                rect x=(x + 1) y=(COLUMN_HEIGHT_MAX + 14 - h) width=(step.saturating_sub(2).max(1)) height=(h) fill="#3b6ea5"
                    data-kind=(kind) data-code=(row.code) data-count=(row.count) {
                    title { (row.label) "：" (row.count) }
                }
                @if i % label_every == 0 {
                    text x=(x) y=(COLUMN_HEIGHT_MAX + 30) font-size="11" { (row.label) }
                }
            }
            text x="0" y="11" font-size="11" { "最高 " (max) }
        }
    }
}

/// A progress bar of `done` out of `total` with the figures beside it;
/// `id` names the figures' element.
pub fn progress(id: &str, done: u64, total: u64) -> Markup {
    let share = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    html! {
        span.bar title=(percent(Some(share))) { span style={ "width:" (format!("{:.1}", share * 100.0)) "%" } {} }
        " "
        span id=(id) data-done=(done) data-total=(total) { (done) "/" (total) "（" (percent(Some(share))) "）" }
    }
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
    pub due_at: Option<DateTime<Utc>>,
}

/// A list of complaints with their due times and countdowns; each row
/// carries `data-list={kind}` and `data-id`.
pub fn due_table(kind: &str, rows: &[DueRow], now: DateTime<Utc>) -> Markup {
    html! {
        @if rows.is_empty() { p { "无" } } @else {
            table {
                tr { th { "编号" } th { "标题" } th { "牵头单位" } th { "时限" } th { "剩余时间" } }
                @for row in rows {
                    tr data-list=(kind) data-id=(row.id) {
                        td { a href={ "/dashboard/complaints/" (row.id) } { (row.id) } }
                        td { (row.title) }
                        td { (row.lead_unit) }
                        td { @if let Some(due) = row.due_at { (beijing(due)) } @else { "—" } }
                        td class=[row.due_at.map(|due| if due < now { "overdue" } else { "soon" })] {
                            @if let Some(due) = row.due_at { (remaining(due, now)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _, Utc};

    use super::{beijing, percent, remaining};

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

    #[test]
    fn rates_read_as_percentages_and_absent_ones_as_a_dash() {
        assert_eq!(percent(Some(0.875)), "87.5%");
        assert_eq!(percent(None), "—");
    }
}
