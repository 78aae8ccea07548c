//! 总览: open complaints by status and warning level, intake by channel,
//! area, day and month, and the overdue and soon-due lists with their
//! countdowns.
//!
//! Every figure is one `CountLedger` grouping (five calls in all, each one
//! pass over the ledger) or one page of `ListLedger`; the deadline lists
//! show at most [`LIST_MAX`] rows each.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use maud::{Markup, html};
use tonic::Status;

use super::layout::{self, Chrome, Count, DueRow, bars, beijing, columns, counts, due_table};
use super::{Dashboard, sessions::Identity};
use crate::labels::{CHANNELS, OPEN_STATUSES, channel_code, status_code};
use crate::pb::{self, LedgerDimension as D};
use crate::wire::timestamp;

/// Most rows in each deadline list.
pub const LIST_MAX: u32 = 50;
/// The intake window of the channel, area and day charts, in days.
pub const WINDOW_DAYS: i64 = 30;
/// The intake window of the month chart, in months.
pub const WINDOW_MONTHS: u32 = 12;
/// How far ahead the soon-due list looks, in hours.
pub const SOON_HOURS: i64 = 24;

/// What the overview shows.
#[derive(Debug)]
pub struct Overview {
    /// The header.
    pub chrome: Chrome,
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
    /// Intake per day of the window, oldest first, days without any
    /// included.
    pub by_day: Vec<Count>,
    /// Intake per month, oldest first.
    pub by_month: Vec<Count>,
    /// Open complaints past due, earliest first.
    pub overdue: Vec<DueRow>,
    /// Open complaints due soon, earliest first.
    pub soon_due: Vec<DueRow>,
}

/// The filter of open complaints.
pub fn open_filter() -> pb::LedgerFilter {
    pb::LedgerFilter {
        statuses: OPEN_STATUSES.iter().map(|(s, _)| *s as i32).collect(),
        ..Default::default()
    }
}

/// The count of `key` in the grouping of `reply` along `dimension`.
fn bucket(reply: &pb::CountLedgerResponse, dimension: D, key: &str) -> u64 {
    reply
        .groupings
        .iter()
        .find(|g| g.dimension == dimension as i32)
        .and_then(|g| g.buckets.iter().find(|b| b.key == key))
        .map_or(0, |b| b.count)
}

/// Midnight of `day` in Beijing time.
fn beijing_midnight(day: NaiveDate) -> DateTime<Utc> {
    layout::beijing_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc)
}

/// The first `WINDOW_MONTHS` months ending with `today`'s, as (year, month).
fn months_to(today: NaiveDate) -> Vec<(i32, u32)> {
    let last = today.year() * 12 + today.month0() as i32;
    (last + 1 - WINDOW_MONTHS as i32..=last)
        .map(|m| (m.div_euclid(12), m.rem_euclid(12) as u32 + 1))
        .collect()
}

/// Loads and renders the overview.
pub async fn load(dashboard: &Dashboard, identity: &Identity) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard");
    let now = dashboard.state.clock.now();
    let open = dashboard
        .count_ledger(identity, open_filter(), &[D::Status, D::Warning])
        .await?;
    let by_status = OPEN_STATUSES
        .iter()
        .map(|(status, label)| Count {
            code: status_code(*status),
            label: (*label).to_owned(),
            count: bucket(&open, D::Status, status.as_str_name()),
        })
        .collect();
    let by_warning = [
        (pb::WarningLevel::Yellow, "yellow", "黄色预警"),
        (pb::WarningLevel::Red, "red", "红色预警"),
    ]
    .iter()
    .map(|(level, code, label)| Count {
        code: (*code).to_owned(),
        label: (*label).to_owned(),
        count: bucket(&open, D::Warning, level.as_str_name()),
    })
    .collect();
    let today = now.with_timezone(&layout::beijing_offset()).date_naive();
    let first_day = today - Duration::days(WINDOW_DAYS - 1);
    let recent = dashboard
        .count_ledger(
            identity,
            pb::LedgerFilter {
                received_from: Some(timestamp(beijing_midnight(first_day))),
                ..Default::default()
            },
            &[D::Channel, D::Area, D::ReceivedDay],
        )
        .await?;
    let by_channel = CHANNELS
        .iter()
        .map(|(channel, label)| Count {
            code: channel_code(*channel),
            label: (*label).to_owned(),
            count: bucket(&recent, D::Channel, channel.as_str_name()),
        })
        .collect();
    let by_area = dashboard
        .state
        .catalog
        .areas()
        .iter()
        .map(|area| Count {
            code: area.code.clone(),
            label: area.name.clone(),
            count: bucket(&recent, D::Area, &area.code),
        })
        .filter(|count| count.count > 0)
        .collect();
    let by_day = first_day
        .iter_days()
        .take(WINDOW_DAYS as usize)
        .map(|day| {
            let code = day.format("%Y-%m-%d").to_string();
            Count {
                label: day.format("%m-%d").to_string(),
                count: bucket(&recent, D::ReceivedDay, &code),
                code,
            }
        })
        .collect();
    let months = months_to(today);
    let (first_year, first_month) = months[0];
    let first_of_window = NaiveDate::from_ymd_opt(first_year, first_month, 1).expect("a month");
    let yearly = dashboard
        .count_ledger(
            identity,
            pb::LedgerFilter {
                received_from: Some(timestamp(beijing_midnight(first_of_window))),
                ..Default::default()
            },
            &[D::ReceivedMonth],
        )
        .await?;
    let by_month = months
        .iter()
        .map(|(year, month)| {
            let code = format!("{year:04}-{month:02}");
            Count {
                label: code.clone(),
                count: bucket(&yearly, D::ReceivedMonth, &code),
                code,
            }
        })
        .collect();
    let due_list = |filter: pb::LedgerFilter| pb::ListLedgerRequest {
        filter: Some(filter),
        order: pb::LedgerOrder::DueAsc as i32,
        page_size: LIST_MAX,
        ..Default::default()
    };
    let overdue = dashboard
        .list_ledger(
            identity,
            due_list(pb::LedgerFilter {
                overdue_only: true,
                ..open_filter()
            }),
        )
        .await?;
    let soon = dashboard
        .list_ledger(
            identity,
            due_list(pb::LedgerFilter {
                due_before: Some(timestamp(now + Duration::hours(SOON_HOURS))),
                ..open_filter()
            }),
        )
        .await?;
    let soon_rows: Vec<_> = soon.rows.into_iter().filter(|r| !r.overdue).collect();
    Ok(render(&Overview {
        chrome,
        now,
        open_total: open.total,
        by_status,
        by_warning,
        by_channel,
        by_area,
        by_day,
        by_month,
        overdue: dashboard.due_rows(&overdue.rows),
        soon_due: dashboard.due_rows(&soon_rows),
    }))
}

/// 总览.
pub fn render(view: &Overview) -> Markup {
    layout::page(
        "总览",
        Some(&view.chrome),
        html! {
            section {
                h2 { "在办诉求 " span id="open-total" { (view.open_total) } " 件" }
                p { "数据时间 " (beijing(view.now)) "（北京时间）" }
            }
            div.grid {
                section { h2 { "按状态" } (counts("status", &view.by_status)) }
                section { h2 { "按预警" } (counts("warning", &view.by_warning)) }
                section { h2 { "近" (WINDOW_DAYS) "天受理 · 按渠道" } (bars("channel", &view.by_channel)) }
                section { h2 { "近" (WINDOW_DAYS) "天受理 · 按任务领域" } (bars("area", &view.by_area)) }
                section { h2 { "近" (WINDOW_DAYS) "天受理 · 按日" } (columns("day", &view.by_day)) }
                section { h2 { "近" (WINDOW_MONTHS) "个月受理 · 按月" } (columns("month", &view.by_month)) }
            }
            section { h2 { "已超期" } (due_table("overdue", &view.overdue, view.now)) }
            section { h2 { "即将到期（" (SOON_HOURS) "小时内）" } (due_table("soon", &view.soon_due, view.now)) }
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::months_to;

    #[test]
    fn the_month_window_crosses_the_year_and_ends_with_this_month() {
        let months = months_to(NaiveDate::from_ymd_opt(2026, 3, 15).unwrap());
        assert_eq!(months.len(), 12);
        assert_eq!(months.first(), Some(&(2025, 4)));
        assert_eq!(months.last(), Some(&(2026, 3)));
    }
}
