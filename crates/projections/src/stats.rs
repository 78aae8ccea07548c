//! Evaluation (月调度、季点评、年总评): the rates 12345 platforms publish per
//! unit and per district, for a month, a quarter or a year.
//!
//! The formulas (docs/evaluation.md has the same list with examples):
//!
//! - **valid callbacks** `V`: callbacks recorded in the period and marked
//!   valid, less those on complaints where an appeal was upheld (申诉成立:
//!   the callback was not the unit's fault, so it leaves the count);
//! - **response rate** = callbacks where the submitter confirms contact ÷ `V`;
//! - **resolution rate** = callbacks where the problem is solved ÷ `V`;
//! - **satisfaction rate** = (satisfied + 0.9 × basically satisfied) ÷ `V`;
//! - **composite score** = 100 × (w₁·response + w₂·resolution +
//!   w₃·satisfaction) ÷ (w₁ + w₂ + w₃), weights configurable (default
//!   10/50/40; some banners use 30/35/35);
//! - **on-time acceptance** = assignments dispatched in the period and
//!   accepted by their due time ÷ assignments dispatched in the period and
//!   not returned;
//! - **on-time closure** = complaints closed in the period whose resolution
//!   met its (possibly extended) due time ÷ complaints closed in the period;
//! - **return rate** (退单率) = assignments dispatched in the period that the
//!   lead unit returned ÷ assignments dispatched in the period;
//! - **redo rate** (重办率) = reopenings in the period ÷ callbacks in the
//!   period;
//! - **extensions** and **overdue** are counts of granted extensions and of
//!   red warnings (missed deadlines) in the period.
//!
//! A unit is evaluated for what happened while it was the lead unit; a
//! district for what happened to complaints located in it. A rate with an
//! empty denominator is absent, not zero, and a group without valid callbacks
//! has no composite score.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, NaiveDate, TimeZone as _, Utc};
use rectify_domain::complaint::{Milestone, Satisfaction};

use crate::{ProjectionError, ledger::LedgerView, row::LedgerRow, timestamp::Timestamp};

/// The weight of "basically satisfied" in the satisfaction rate.
pub const BASICALLY_SATISFIED_WEIGHT: f64 = 0.9;

/// A calendar period in China Standard Time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant.
    pub start: DateTime<Utc>,
    /// First instant after the period.
    pub end: DateTime<Utc>,
}

impl Period {
    /// Parses `2026-10` (month), `2026-Q4` (quarter) or `2026` (year).
    pub fn parse(spec: &str) -> Result<Period, ProjectionError> {
        let bad = || ProjectionError::InvalidArgument {
            field: "period",
            reason: format!("{spec:?} is not YYYY, YYYY-MM or YYYY-Qn"),
        };
        let (year, first_month, months) = match spec.split_once('-') {
            None => (spec.parse::<i32>().map_err(|_| bad())?, 1, 12),
            Some((year, rest)) => {
                let year = year.parse::<i32>().map_err(|_| bad())?;
                if let Some(q) = rest.strip_prefix('Q') {
                    let q: u32 = q.parse().map_err(|_| bad())?;
                    if !(1..=4).contains(&q) {
                        return Err(bad());
                    }
                    (year, 3 * (q - 1) + 1, 3)
                } else {
                    let m: u32 = rest.parse().map_err(|_| bad())?;
                    if !(1..=12).contains(&m) || rest.len() != 2 {
                        return Err(bad());
                    }
                    (year, m, 1)
                }
            }
        };
        if !(2000..=2200).contains(&year) {
            return Err(bad());
        }
        let start = month_start(year, first_month).ok_or_else(bad)?;
        let end_month = first_month + months;
        let end = if end_month > 12 {
            month_start(year + 1, end_month - 12)
        } else {
            month_start(year, end_month)
        }
        .ok_or_else(bad)?;
        Ok(Period { start, end })
    }

    /// Whether `at` falls in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

fn month_start(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let date = NaiveDate::from_ymd_opt(year, month, 1)?;
    let local = rectify_domain::CHINA_STANDARD_TIME
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()?;
    debug_assert_eq!(local.day(), 1);
    Some(local.with_timezone(&Utc))
}

/// What the evaluation groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// The lead unit.
    Unit,
    /// The complaint's district.
    District,
}

/// Weights of the composite score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Of the response rate.
    pub response: f64,
    /// Of the resolution rate.
    pub resolution: f64,
    /// Of the satisfaction rate.
    pub satisfaction: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            response: 10.0,
            resolution: 50.0,
            satisfaction: 40.0,
        }
    }
}

impl Weights {
    /// Checks that the weights are finite, non-negative and not all zero.
    pub fn validate(&self) -> Result<(), ProjectionError> {
        let all = [self.response, self.resolution, self.satisfaction];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) || all.iter().sum::<f64>() <= 0.0 {
            return Err(ProjectionError::InvalidArgument {
                field: "weights",
                reason: "weights must be finite, non-negative and not all zero".to_owned(),
            });
        }
        Ok(())
    }
}

/// Counts and rates of one unit or district.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// The unit or district code.
    pub key: String,
    /// Valid callbacks counted (`V`).
    pub valid_callbacks: u64,
    /// Of those, the submitter confirmed contact.
    pub contacted: u64,
    /// Of those, solved.
    pub solved: u64,
    /// Of those, satisfied.
    pub satisfied: u64,
    /// Of those, basically satisfied.
    pub basically_satisfied: u64,
    /// Of those, unsatisfied.
    pub unsatisfied: u64,
    /// Callbacks left out because an appeal was upheld.
    pub appeal_excluded: u64,
    /// Assignments dispatched in the period.
    pub dispatched: u64,
    /// Of those, accepted by their due time.
    pub accepted_on_time: u64,
    /// Of those, returned (退单).
    pub returned: u64,
    /// Complaints closed in the period.
    pub closed: u64,
    /// Of those, resolved by their due time.
    pub closed_on_time: u64,
    /// Reopenings (重办) in the period.
    pub reopened: u64,
    /// All callbacks in the period (the redo rate's denominator).
    pub callbacks: u64,
    /// Extensions granted in the period.
    pub extensions: u64,
    /// Deadlines missed in the period.
    pub overdue: u64,
    /// contacted ÷ V.
    pub response_rate: Option<f64>,
    /// solved ÷ V.
    pub resolution_rate: Option<f64>,
    /// (satisfied + 0.9 × basically satisfied) ÷ V.
    pub satisfaction_rate: Option<f64>,
    /// Weighted score, 0..=100.
    pub composite_score: Option<f64>,
    /// accepted on time ÷ (dispatched − returned).
    pub on_time_acceptance_rate: Option<f64>,
    /// closed on time ÷ closed.
    pub on_time_closure_rate: Option<f64>,
    /// returned ÷ dispatched.
    pub return_rate: Option<f64>,
    /// reopened ÷ callbacks.
    pub redo_rate: Option<f64>,
}

fn ratio(numerator: f64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

impl GroupStats {
    /// Adds the counts of `other` (rates are computed after, by `finish`).
    fn add(&mut self, other: &GroupStats) {
        // Every field named, so a new count cannot be forgotten here.
        let GroupStats {
            key: _,
            valid_callbacks,
            contacted,
            solved,
            satisfied,
            basically_satisfied,
            unsatisfied,
            appeal_excluded,
            dispatched,
            accepted_on_time,
            returned,
            closed,
            closed_on_time,
            reopened,
            callbacks,
            extensions,
            overdue,
            response_rate: _,
            resolution_rate: _,
            satisfaction_rate: _,
            composite_score: _,
            on_time_acceptance_rate: _,
            on_time_closure_rate: _,
            return_rate: _,
            redo_rate: _,
        } = other;
        self.valid_callbacks += valid_callbacks;
        self.contacted += contacted;
        self.solved += solved;
        self.satisfied += satisfied;
        self.basically_satisfied += basically_satisfied;
        self.unsatisfied += unsatisfied;
        self.appeal_excluded += appeal_excluded;
        self.dispatched += dispatched;
        self.accepted_on_time += accepted_on_time;
        self.returned += returned;
        self.closed += closed;
        self.closed_on_time += closed_on_time;
        self.reopened += reopened;
        self.callbacks += callbacks;
        self.extensions += extensions;
        self.overdue += overdue;
    }

    fn finish(&mut self, weights: &Weights) {
        let v = self.valid_callbacks;
        self.response_rate = ratio(self.contacted as f64, v);
        self.resolution_rate = ratio(self.solved as f64, v);
        self.satisfaction_rate = ratio(
            self.satisfied as f64 + BASICALLY_SATISFIED_WEIGHT * self.basically_satisfied as f64,
            v,
        );
        self.composite_score = match (
            self.response_rate,
            self.resolution_rate,
            self.satisfaction_rate,
        ) {
            (Some(r), Some(s), Some(f)) => {
                let total = weights.response + weights.resolution + weights.satisfaction;
                Some(
                    100.0
                        * (weights.response * r
                            + weights.resolution * s
                            + weights.satisfaction * f)
                        / total,
                )
            }
            _ => None,
        };
        self.on_time_acceptance_rate = ratio(
            self.accepted_on_time as f64,
            self.dispatched.saturating_sub(self.returned),
        );
        self.on_time_closure_rate = ratio(self.closed_on_time as f64, self.closed);
        self.return_rate = ratio(self.returned as f64, self.dispatched);
        self.redo_rate = ratio(self.reopened as f64, self.callbacks);
    }
}

/// An evaluation request.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    /// The period.
    pub period: Period,
    /// Per unit or per district.
    pub group_by: GroupBy,
    /// Composite score weights.
    pub weights: Weights,
    /// Length of the red and black lists.
    pub top_n: usize,
    /// Fewest valid callbacks for a group to be ranked.
    pub min_valid_callbacks: u64,
}

/// An evaluation.
#[derive(Debug, Clone, Default)]
pub struct StatsReport {
    /// One entry per group with any activity, in key order.
    pub groups: Vec<GroupStats>,
    /// 红榜: the best composite scores, best first.
    pub red_list: Vec<String>,
    /// 黑榜: the worst composite scores, worst first.
    pub black_list: Vec<String>,
}

/// Largest red/black list.
pub const MAX_TOP_N: usize = 100;

/// Most trend periods one evaluation may add.
pub const MAX_TREND_PERIODS: usize = 12;

/// `spec` and the `count - 1` periods of the same kind before it, oldest
/// first, as specs: `2026-02` → `…, 2026-01, 2026-02`; `2026-Q1` →
/// `…, 2025-Q4, 2026-Q1`; `2026` → `…, 2025, 2026`.
pub fn trailing_specs(spec: &str, count: usize) -> Result<Vec<String>, ProjectionError> {
    Period::parse(spec)?;
    let count = count as i64;
    let specs = if let Some((year, quarter)) = spec.split_once("-Q") {
        let index = year.parse::<i64>().unwrap_or(0) * 4 + quarter.parse::<i64>().unwrap_or(1) - 1;
        (index + 1 - count..=index)
            .map(|i| format!("{:04}-Q{}", i.div_euclid(4), i.rem_euclid(4) + 1))
            .collect()
    } else if let Some((year, month)) = spec.split_once('-') {
        let index = year.parse::<i64>().unwrap_or(0) * 12 + month.parse::<i64>().unwrap_or(1) - 1;
        (index + 1 - count..=index)
            .map(|i| format!("{:04}-{:02}", i.div_euclid(12), i.rem_euclid(12) + 1))
            .collect()
    } else {
        let year = spec.parse::<i64>().unwrap_or(0);
        (year + 1 - count..=year).map(|y| y.to_string()).collect()
    };
    Ok(specs)
}

/// Computes the evaluation of `query` over the ledger.
pub fn evaluate(view: &LedgerView, query: &StatsQuery) -> Result<StatsReport, ProjectionError> {
    let mut reports = evaluate_periods(view, query, &[query.period])?;
    Ok(reports.pop().unwrap_or_default())
}

/// Computes the evaluation of `query` for each of `periods` (its own period
/// ignored; `periods` in time order, not overlapping) in one pass over the
/// ledger, each fact counted once in the period holding it; one report per
/// period, in order.
pub fn evaluate_periods(
    view: &LedgerView,
    query: &StatsQuery,
    periods: &[Period],
) -> Result<Vec<StatsReport>, ProjectionError> {
    query.weights.validate()?;
    if query.top_n > MAX_TOP_N {
        return Err(ProjectionError::InvalidArgument {
            field: "top_n",
            reason: format!("at most {MAX_TOP_N}"),
        });
    }
    debug_assert!(
        periods.windows(2).all(|w| w[0].end <= w[1].start),
        "periods in time order, not overlapping"
    );
    let (Some(first), Some(last)) = (periods.first(), periods.last()) else {
        return Ok(Vec::new());
    };
    // Only rows with a fact in the periods can count in them. Counting is
    // bound by fetching each row's facts from memory, so the rows are
    // counted in two halves on two threads and the tallies added.
    let rows: Vec<&LedgerRow> = view.rows_with_facts_in(first.start, last.end).collect();
    let (front, back) = rows.split_at(rows.len() / 2);
    let (mut tallies, back) = crate::parallel::join(
        || tally(front, periods, query.group_by),
        || tally(back, periods, query.group_by),
    );
    for (mine, theirs) in tallies.iter_mut().zip(back) {
        for (key, group) in theirs {
            mine.entry(key).or_default().add(&group);
        }
    }
    Ok(tallies
        .into_iter()
        .map(|groups| report(groups, query))
        .collect())
}

/// Counts the facts of `rows` in each of `periods`, grouped; keyed by
/// codes borrowed from the rows (no allocation per fact).
fn tally<'r>(
    rows: &[&'r LedgerRow],
    periods: &[Period],
    group_by: GroupBy,
) -> Vec<BTreeMap<&'r str, GroupStats>> {
    let mut tallies: Vec<BTreeMap<&str, GroupStats>> = vec![BTreeMap::new(); periods.len()];
    // The periods' bounds as rows keep instants, converted once.
    let periods: Vec<(Timestamp, Timestamp)> = periods
        .iter()
        .map(|p| (Timestamp::from(p.start), Timestamp::from(p.end)))
        .collect();
    for &row in rows {
        let district = row.district.as_deref();
        // The group of period `index` a fact attributed to `unit` counts for.
        let mut bump = bumper(|index, unit, f| {
            let key = match group_by {
                GroupBy::Unit => unit,
                GroupBy::District => district,
            };
            if let Some(key) = key {
                f(tallies[index].entry(key).or_default());
            }
        });
        count_row(row, &periods, &mut bump);
    }
    tallies
}

/// The finished groups of one period and its red and black lists.
fn report(groups: BTreeMap<&str, GroupStats>, query: &StatsQuery) -> StatsReport {
    let mut groups: Vec<GroupStats> = groups
        .into_iter()
        .map(|(key, group)| GroupStats {
            key: key.to_owned(),
            ..group
        })
        .collect();
    for group in &mut groups {
        group.finish(&query.weights);
    }
    let mut ranked: Vec<(&str, f64)> = groups
        .iter()
        .filter(|g| g.valid_callbacks >= query.min_valid_callbacks.max(1))
        .filter_map(|g| g.composite_score.map(|s| (g.key.as_str(), s)))
        .collect();
    // Best first; ties by key so the lists are stable.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let red_list = ranked
        .iter()
        .take(query.top_n)
        .map(|(k, _)| (*k).to_owned())
        .collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    let black_list = ranked
        .iter()
        .take(query.top_n)
        .map(|(k, _)| (*k).to_owned())
        .collect();
    StatsReport {
        groups,
        red_list,
        black_list,
    }
}

/// Pins a bump closure's unit codes to the rows' lifetime, so groups can be
/// keyed by borrowed codes.
fn bumper<'r, F>(f: F) -> F
where
    F: FnMut(usize, Option<&'r str>, &mut dyn FnMut(&mut GroupStats)),
{
    f
}

type Bump<'a, 'r> = dyn FnMut(usize, Option<&'r str>, &mut dyn FnMut(&mut GroupStats)) + 'a;

/// The index of the period holding `at`, in periods in time order.
/// Each period is its first instant and the first instant after it.
fn period_of(periods: &[(Timestamp, Timestamp)], at: Timestamp) -> Option<usize> {
    let after = periods.partition_point(|&(start, _)| start <= at);
    after.checked_sub(1).filter(|&index| at < periods[index].1)
}

/// Counts each fact of `row` once, in the period (if any) it falls in.
fn count_row<'r>(row: &'r LedgerRow, periods: &[(Timestamp, Timestamp)], bump: &mut Bump<'_, 'r>) {
    for (callback, index) in row
        .callbacks
        .iter()
        .filter_map(|c| period_of(periods, c.at).map(|i| (c, i)))
    {
        bump(index, callback.unit.as_deref(), &mut |g| {
            g.callbacks += 1;
            if !callback.valid {
                return;
            }
            if row.appeal_upheld {
                g.appeal_excluded += 1;
                return;
            }
            g.valid_callbacks += 1;
            g.contacted += u64::from(callback.contacted);
            g.solved += u64::from(callback.solved);
            match callback.satisfaction {
                Some(Satisfaction::Satisfied) => g.satisfied += 1,
                Some(Satisfaction::BasicallySatisfied) => g.basically_satisfied += 1,
                Some(Satisfaction::Unsatisfied) => g.unsatisfied += 1,
                None => {}
            }
        });
    }
    for (dispatch, index) in row
        .dispatches
        .iter()
        .filter_map(|d| period_of(periods, d.at).map(|i| (d, i)))
    {
        bump(index, Some(&dispatch.lead), &mut |g| {
            g.dispatched += 1;
            if dispatch.returned_at.is_some() {
                g.returned += 1;
            } else if dispatch
                .accepted_at
                .is_some_and(|at| at <= dispatch.accept_due_at)
            {
                g.accepted_on_time += 1;
            }
        });
    }
    if let Some(index) = row.closed_at.and_then(|at| period_of(periods, at)) {
        let on_time = row
            .deadline(Milestone::Resolve)
            .is_some_and(|d| d.met_at.is_some_and(|met| met <= d.due_at));
        bump(index, row.lead.as_deref(), &mut |g| {
            g.closed += 1;
            g.closed_on_time += u64::from(on_time);
        });
    }
    for (fact, index) in row
        .reopens
        .iter()
        .filter_map(|f| period_of(periods, f.at).map(|i| (f, i)))
    {
        bump(index, fact.unit.as_deref(), &mut |g| g.reopened += 1);
    }
    for (fact, index) in row
        .extensions
        .iter()
        .filter_map(|f| period_of(periods, f.at).map(|i| (f, i)))
    {
        bump(index, fact.unit.as_deref(), &mut |g| g.extensions += 1);
    }
    for (fact, index) in row
        .missed
        .iter()
        .filter_map(|f| period_of(periods, f.at).map(|i| (f, i)))
    {
        bump(index, fact.unit.as_deref(), &mut |g| g.overdue += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::trailing_specs;

    #[test]
    fn trends_step_back_across_years_for_each_kind_of_period() {
        assert_eq!(
            trailing_specs("2026-02", 3).unwrap(),
            ["2025-12", "2026-01", "2026-02"]
        );
        assert_eq!(
            trailing_specs("2026-Q1", 3).unwrap(),
            ["2025-Q3", "2025-Q4", "2026-Q1"]
        );
        assert_eq!(trailing_specs("2026", 2).unwrap(), ["2025", "2026"]);
        for bad in ["soon", "2026-Q0", "2026-13", "2026-1"] {
            assert!(trailing_specs(bad, 2).is_err(), "{bad}");
        }
    }
}
