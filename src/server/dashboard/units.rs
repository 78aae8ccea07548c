//! 单位考评: the three rates (响应率、解决率、满意率) and the composite score
//! per unit or per district for a month, quarter or year, the red and
//! black lists (红黑榜), the composite's trend over the periods before, and
//! the open work per unit.
//!
//! The figures, and the trend over [`TREND_PERIODS`] periods, come from one
//! `GetEvaluation` call (one pass over the ledger).

use chrono::{DateTime, Datelike as _, Utc};
use maud::{Markup, html};
use tonic::Status;

use super::layout::{self, Chrome, percent};
use super::{Dashboard, params, sessions::Identity};
use crate::pb::{self, query_service_server::QueryService as _};

/// Periods in the trend, the chosen one included.
pub const TREND_PERIODS: usize = 6;

/// What the units page groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Unit,
    District,
}

impl Group {
    fn parse(raw: Option<&str>) -> Result<Group, Status> {
        match raw {
            None | Some("unit") => Ok(Group::Unit),
            Some("district") => Ok(Group::District),
            Some(other) => Err(Status::invalid_argument(format!(
                "group: {other:?} is neither unit nor district"
            ))),
        }
    }

    fn wire(self) -> pb::EvaluationGroup {
        match self {
            Group::Unit => pb::EvaluationGroup::Unit,
            Group::District => pb::EvaluationGroup::District,
        }
    }
}

/// This month in Beijing time, `2026-11`.
fn this_month(now: DateTime<Utc>) -> String {
    let today = now.with_timezone(&layout::beijing_offset());
    format!("{:04}-{:02}", today.year(), today.month())
}

/// What the units page shows.
#[derive(Debug)]
struct UnitsPage {
    chrome: Chrome,
    period: String,
    group: Group,
    evaluation: pb::GetEvaluationResponse,
    /// Composite score per group name per trend period.
    trend: Vec<(String, Vec<Option<f64>>)>,
    trend_periods: Vec<String>,
    workloads: Vec<pb::UnitWorkload>,
}

impl Dashboard {
    async fn evaluation(
        &self,
        identity: &Identity,
        period: &str,
        group: Group,
    ) -> Result<pb::GetEvaluationResponse, Status> {
        let request = pb::GetEvaluationRequest {
            period: period.to_owned(),
            group_by: group.wire() as i32,
            trend_periods: TREND_PERIODS as u32 - 1,
            ..Default::default()
        };
        Ok(self
            .queries
            .get_evaluation(Self::request(identity, request)?)
            .await?
            .into_inner())
    }

    fn group_name(&self, group: Group, key: &str) -> String {
        match group {
            Group::Unit => self.unit_name(key),
            Group::District => self.district_name(key),
        }
    }
}

/// Loads and renders the units page for `?period=&group=`.
pub async fn load(
    dashboard: &Dashboard,
    identity: &Identity,
    query: Option<&str>,
) -> Result<Markup, Status> {
    let chrome = dashboard.chrome(identity, "/dashboard/units");
    let params = params(query)?;
    let group = Group::parse(params.get("group"))?;
    let period = params
        .get("period")
        .map_or_else(|| this_month(dashboard.state.clock.now()), str::to_owned);
    // The evaluation and the workloads are two passes over the ledger, each
    // on the blocking pool: run them at once.
    let workloads = async {
        let request =
            Dashboard::request(identity, pb::ListUnitWorkloadsRequest { min_position: 0 })?;
        Ok::<_, Status>(
            dashboard
                .queries
                .list_unit_workloads(request)
                .await?
                .into_inner()
                .units,
        )
    };
    let (evaluation, workloads) =
        tokio::try_join!(dashboard.evaluation(identity, &period, group), workloads)?;
    // Each listed group's composite score over the trend's periods, the
    // chosen one last.
    let mut trend: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for key in evaluation.red_list.iter().chain(&evaluation.black_list) {
        if !trend.iter().any(|(k, _)| k == key) {
            trend.push((key.clone(), Vec::new()));
        }
    }
    for (key, scores) in &mut trend {
        for earlier in &evaluation.trend {
            scores.push(
                earlier
                    .groups
                    .iter()
                    .find(|g| &g.key == key)
                    .and_then(|g| g.composite_score),
            );
        }
        scores.push(
            evaluation
                .groups
                .iter()
                .find(|g| &g.key == key)
                .and_then(|g| g.composite_score),
        );
    }
    let periods: Vec<String> = evaluation
        .trend
        .iter()
        .map(|t| t.period.clone())
        .chain([period.clone()])
        .collect();
    let view = UnitsPage {
        chrome,
        period,
        group,
        evaluation,
        trend: trend
            .into_iter()
            .map(|(key, scores)| (dashboard.group_name(group, &key), scores))
            .collect(),
        trend_periods: periods,
        workloads,
    };
    Ok(render(dashboard, &view))
}

/// A sparkline of composite scores (0–100), gaps where a period has none.
fn sparkline(scores: &[Option<f64>]) -> Markup {
    let step = 16.0;
    let points: Vec<String> = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| format!("{:.0},{:.1}", i as f64 * step, 30.0 - s * 0.3)))
        .collect();
    html! {
        svg width=((scores.len() as f64 * step) as u64) height="32" role="img" xmlns="http://www.w3.org/2000/svg" {
            polyline points=(points.join(" ")) fill="none" stroke="#3b6ea5" stroke-width="2" {}
            @for point in &points {
                @let (x, y) = point.split_once(',').unwrap_or(("0", "0"));
                circle cx=(x) cy=(y) r="2.5" fill="#3b6ea5" {}
            }
        }
    }
}

fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"))
}

fn render(dashboard: &Dashboard, view: &UnitsPage) -> Markup {
    let heading = match view.group {
        Group::Unit => "单位",
        Group::District => "旗县区",
    };
    let evaluation = &view.evaluation;
    layout::page(
        "单位考评",
        Some(&view.chrome),
        html! {
            section {
                form.filters method="get" action="/dashboard/units" {
                    label { "考评期 " input type="text" name="period" value=(view.period) size="8"
                        title="月 2026-11，季 2026-Q4，年 2026"; }
                    label { "维度 " select name="group" {
                        option value="unit" selected[view.group == Group::Unit] { "按单位" }
                        option value="district" selected[view.group == Group::District] { "按旗县区" }
                    } }
                    button type="submit" { "查看" }
                }
                p { "考评期 " span id="period" { (view.period) } "：响应率 = 已联系 ÷ 有效回访，解决率 = 已解决 ÷ 有效回访，满意率 = (满意 + 0.9 × 基本满意) ÷ 有效回访；综合得分按 10/50/40 加权。" }
            }
            div.grid {
                section {
                    h2 { "红榜" }
                    ol id="red-list" { @for key in &evaluation.red_list { li data-key=(key) { (dashboard.group_name(view.group, key)) } } }
                }
                section {
                    h2 { "黑榜" }
                    ol id="black-list" { @for key in &evaluation.black_list { li data-key=(key) { (dashboard.group_name(view.group, key)) } } }
                }
            }
            section {
                h2 { (heading) "考评" }
                table {
                    tr { th { (heading) } th.n { "有效回访" } th.n { "响应率" } th.n { "解决率" } th.n { "满意率" } th.n { "综合得分" }
                         th.n { "按时办结率" } th.n { "退单率" } th.n { "超期" } }
                    @for g in &evaluation.groups {
                        tr data-group=(g.key) data-valid=(g.valid_callbacks) data-composite=(score(g.composite_score)) {
                            td { (dashboard.group_name(view.group, &g.key)) " " code { (g.key) } }
                            td.n { (g.valid_callbacks) }
                            td.n { (percent(g.response_rate)) }
                            td.n { (percent(g.resolution_rate)) }
                            td.n { (percent(g.satisfaction_rate)) }
                            td.n { (score(g.composite_score)) }
                            td.n { (percent(g.on_time_closure_rate)) }
                            td.n { (percent(g.return_rate)) }
                            td.n { (g.overdue) }
                        }
                    }
                }
            }
            section {
                h2 { "综合得分走势（红黑榜" (heading) "）" }
                table {
                    tr { th { (heading) } @for p in &view.trend_periods { th.n { (p) } } th { "走势" } }
                    @for (name, scores) in &view.trend {
                        tr { td { (name) } @for s in scores { td.n { (score(*s)) } } td { (sparkline(scores)) } }
                    }
                }
            }
            section {
                h2 { "在办工作量" }
                table {
                    tr { th { "单位" } th.n { "待签收" } th.n { "处办中" } th.n { "配合办理" } th.n { "超期" } }
                    @for w in &view.workloads {
                        tr data-unit=(w.unit) {
                            td { (dashboard.unit_name(&w.unit)) " " code { (w.unit) } }
                            td.n { (w.to_accept) } td.n { (w.in_progress) } td.n { (w.as_responsible) }
                            td.n class=[(w.overdue > 0).then_some("overdue")] { (w.overdue) }
                        }
                    }
                }
            }
        },
    )
}
