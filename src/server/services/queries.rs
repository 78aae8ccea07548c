//! `QueryService` over the projections, and `AdminService`.
//!
//! Every query first waits (bounded) for the projection to reach the
//! caller's `min_position`, then runs on the blocking pool: a query scans the
//! ledger's rows under a read lock and must not stall the async workers.

use std::{pin::Pin, sync::Arc};

use futures::Stream;
use rectify_domain::{Actor, Role};
use rectify_projections::{
    ListQuery, Scope, export,
    stats::{self, GroupBy, Period, StatsQuery, Weights},
};
use tonic::{Request, Response, Status};

use super::reads::{on_view, wait_for_position};
use crate::wire::timestamp;
use crate::{
    pb::{self, query_service_server::QueryService},
    server::auth::{Action, authorize},
    server::convert::{self, ledger_row_to_pb},
    server::error::ServiceError,
    server::state::AppState,
};

/// Size of one export chunk.
pub const EXPORT_CHUNK_BYTES: usize = 256 * 1024;
/// Red/black list length when the caller gives none.
pub const DEFAULT_TOP_N: usize = 5;

/// The `QueryService` implementation.
#[derive(Debug, Clone)]
pub struct Queries {
    state: Arc<AppState>,
}

/// The `count` periods before `spec`, oldest first, that exist (years from
/// 2000).
fn trend_periods(spec: &str, count: u32) -> Result<Vec<(String, Period)>, ServiceError> {
    let count = count as usize;
    if count > stats::MAX_TREND_PERIODS {
        return Err(ServiceError::invalid(
            "trend_periods",
            format!("at most {}", stats::MAX_TREND_PERIODS),
        ));
    }
    let mut specs = stats::trailing_specs(spec, count + 1).map_err(ServiceError::from)?;
    specs.pop();
    Ok(specs
        .into_iter()
        .filter_map(|spec| Period::parse(&spec).ok().map(|p| (spec, p)))
        .collect())
}

/// What a caller may see of the ledger.
fn scope(actor: &Actor) -> Scope {
    match &actor.role {
        Role::Unit(unit) => Scope::Unit(unit.as_str().to_owned()),
        Role::Portal => Scope::SubmittedBy(actor.principal.clone()),
        _ => Scope::All,
    }
}

impl Queries {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// The wire filter, with the complaints a station, liaison cadre or
    /// experience officer names resolved from the mechanisms view (once it
    /// has applied `min_position`).
    async fn filter(
        &self,
        filter: Option<pb::LedgerFilter>,
        min_position: u64,
    ) -> Result<rectify_projections::LedgerFilter, ServiceError> {
        let given = |raw: &str| (!raw.is_empty()).then(|| raw.to_owned());
        let (station, cadre, officer) = filter.as_ref().map_or((None, None, None), |f| {
            (
                given(&f.station_code),
                given(&f.liaison_cadre),
                given(&f.officer_id),
            )
        });
        let mut converted = convert::ledger_filter(filter)?;
        if station.is_some() || cadre.is_some() || officer.is_some() {
            self.state
                .mechanisms
                .wait_for(min_position, super::reads::MIN_POSITION_WAIT)
                .await?;
            converted.complaint_ids = self.state.mechanisms.read(|view| {
                view.complaints_through(station.as_deref(), cadre.as_deref(), officer.as_deref())
            });
        }
        Ok(converted)
    }
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportLedgerChunk, Status>> + Send>>;

#[tonic::async_trait]
impl QueryService for Queries {
    #[tracing::instrument(skip_all)]
    async fn list_ledger(
        &self,
        request: Request<pb::ListLedgerRequest>,
    ) -> Result<Response<pb::ListLedgerResponse>, Status> {
        let actor = authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        let query = ListQuery {
            filter: self.filter(req.filter, req.min_position).await?,
            order: convert::ledger_order(req.order)?,
            page_size: req.page_size as usize,
            page_token: req.page_token,
        };
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let scope = scope(&actor);
        let (page, applied) = on_view(&self.state, move |view| {
            Ok((view.list(&scope, &query, now)?, view.applied()))
        })
        .await?;
        Ok(Response::new(pb::ListLedgerResponse {
            rows: page.rows.iter().map(|r| ledger_row_to_pb(r, now)).collect(),
            next_page_token: page.next_page_token,
            total: page.total,
            applied_position: applied,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn count_ledger(
        &self,
        request: Request<pb::CountLedgerRequest>,
    ) -> Result<Response<pb::CountLedgerResponse>, Status> {
        let actor = authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        let filter = self.filter(req.filter, req.min_position).await?;
        let dimensions = req
            .group_by
            .iter()
            .map(|raw| convert::ledger_dimension(*raw))
            .collect::<Result<Vec<_>, _>>()?;
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let scope = scope(&actor);
        let (counts, applied) = on_view(&self.state, move |view| {
            Ok((
                view.count(&scope, &filter, &dimensions, now)?,
                view.applied(),
            ))
        })
        .await?;
        Ok(Response::new(convert::counts_to_pb(counts, applied)))
    }

    type ExportLedgerStream = ExportStream;

    #[tracing::instrument(skip_all)]
    async fn export_ledger(
        &self,
        request: Request<pb::ExportLedgerRequest>,
    ) -> Result<Response<Self::ExportLedgerStream>, Status> {
        let actor = authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        let filter = self.filter(req.filter, req.min_position).await?;
        let order = convert::ledger_order(req.order)?;
        let format = match pb::ExportFormat::try_from(req.format) {
            Ok(pb::ExportFormat::Csv) => pb::ExportFormat::Csv,
            Ok(pb::ExportFormat::Xlsx) => pb::ExportFormat::Xlsx,
            Ok(pb::ExportFormat::Unspecified) => {
                return Err(ServiceError::invalid("format", "required").into());
            }
            Err(_) => {
                return Err(ServiceError::invalid(
                    "format",
                    format!("unknown value {}", req.format),
                )
                .into());
            }
        };
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let scope = scope(&actor);
        let (bytes, rows) = on_view(&self.state, move |view| {
            let mut rows: Vec<_> = view.matching(&scope, &filter, now).collect();
            if rows.len() > export::MAX_EXPORT_ROWS {
                return Err(ServiceError::invalid(
                    "filter",
                    format!(
                        "{} rows match; an export holds at most {}",
                        rows.len(),
                        export::MAX_EXPORT_ROWS
                    ),
                ));
            }
            rectify_projections::ledger::sort_rows(&mut rows, order);
            let count = rows.len() as u64;
            let bytes = match format {
                pb::ExportFormat::Xlsx => export::to_xlsx(rows, now)?,
                _ => export::to_csv(rows, now)?,
            };
            Ok((bytes, count))
        })
        .await?;
        let chunks: Vec<Result<pb::ExportLedgerChunk, Status>> = bytes
            .chunks(EXPORT_CHUNK_BYTES)
            .enumerate()
            .map(|(index, data)| {
                Ok(pb::ExportLedgerChunk {
                    data: data.to_vec(),
                    rows: if index == 0 { rows } else { 0 },
                })
            })
            .collect();
        let chunks = if chunks.is_empty() {
            vec![Ok(pb::ExportLedgerChunk {
                data: Vec::new(),
                rows,
            })]
        } else {
            chunks
        };
        Ok(Response::new(Box::pin(futures::stream::iter(chunks))))
    }

    #[tracing::instrument(skip_all)]
    async fn get_inbox(
        &self,
        request: Request<pb::GetInboxRequest>,
    ) -> Result<Response<pb::GetInboxResponse>, Status> {
        let actor = authorize(&request, Action::ReadInbox)?;
        let req = request.into_inner();
        if req.unit.is_empty() {
            return Err(ServiceError::invalid("unit", "required").into());
        }
        // Codes, names and aliases all name a unit (市场监管局 → market-regulation).
        let unit = self
            .state
            .catalog
            .resolve_unit(&req.unit)
            .ok_or_else(|| ServiceError::invalid("unit", format!("unknown unit {:?}", req.unit)))?
            .code
            .clone();
        if let Role::Unit(own) = &actor.role
            && own.as_str() != unit
        {
            return Err(ServiceError::PermissionDenied(format!(
                "unit {own} may read only its own inbox, not {unit}'s"
            ))
            .into());
        }
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        // Converted under the view's lock: the inbox borrows its rows.
        let reply = on_view(&self.state, move |view| {
            let inbox = view.inbox(&unit);
            let rows = |rows: &[&rectify_projections::LedgerRow]| {
                rows.iter().map(|r| ledger_row_to_pb(r, now)).collect()
            };
            Ok(pb::GetInboxResponse {
                lead_to_accept: rows(&inbox.lead_to_accept),
                lead_to_handle: rows(&inbox.lead_to_handle),
                lead_to_resolve: rows(&inbox.lead_to_resolve),
                responsible_to_accept: rows(&inbox.responsible_to_accept),
                responsible_to_handle: rows(&inbox.responsible_to_handle),
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }

    #[tracing::instrument(skip_all)]
    async fn list_unit_workloads(
        &self,
        request: Request<pb::ListUnitWorkloadsRequest>,
    ) -> Result<Response<pb::ListUnitWorkloadsResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        let req = request.into_inner();
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let (counts, applied) = on_view(&self.state, move |view| {
            Ok((view.unit_counts(now), view.applied()))
        })
        .await?;
        Ok(Response::new(pb::ListUnitWorkloadsResponse {
            units: counts
                .into_iter()
                .map(|c| pb::UnitWorkload {
                    unit: c.unit,
                    to_accept: c.to_accept,
                    in_progress: c.in_progress,
                    as_responsible: c.as_responsible,
                    overdue: c.overdue,
                })
                .collect(),
            applied_position: applied,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_evaluation(
        &self,
        request: Request<pb::GetEvaluationRequest>,
    ) -> Result<Response<pb::GetEvaluationResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        let req = request.into_inner();
        if req.period.is_empty() {
            return Err(ServiceError::invalid("period", "required").into());
        }
        let period = Period::parse(&req.period).map_err(ServiceError::from)?;
        let group_by = match pb::EvaluationGroup::try_from(req.group_by) {
            Ok(pb::EvaluationGroup::Unit) => GroupBy::Unit,
            Ok(pb::EvaluationGroup::District) => GroupBy::District,
            Ok(pb::EvaluationGroup::Unspecified) => {
                return Err(ServiceError::invalid("group_by", "required").into());
            }
            Err(_) => {
                return Err(ServiceError::invalid(
                    "group_by",
                    format!("unknown value {}", req.group_by),
                )
                .into());
            }
        };
        let weights = if req.response_weight == 0.0
            && req.resolution_weight == 0.0
            && req.satisfaction_weight == 0.0
        {
            Weights::default()
        } else {
            Weights {
                response: req.response_weight,
                resolution: req.resolution_weight,
                satisfaction: req.satisfaction_weight,
            }
        };
        let query = StatsQuery {
            period,
            group_by,
            weights,
            top_n: match req.top_n {
                0 => DEFAULT_TOP_N,
                n => n as usize,
            },
            min_valid_callbacks: req.min_valid_callbacks.max(1),
        };
        let trend = trend_periods(&req.period, req.trend_periods)?;
        let mut periods: Vec<Period> = trend.iter().map(|(_, p)| *p).collect();
        periods.push(period);
        wait_for_position(&self.state, req.min_position).await?;
        let (mut reports, applied) = on_view(&self.state, move |view| {
            Ok((
                stats::evaluate_periods(view, &query, &periods)?,
                view.applied(),
            ))
        })
        .await?;
        let report = reports
            .pop()
            .ok_or_else(|| Status::internal("an evaluation per period"))?;
        Ok(Response::new(pb::GetEvaluationResponse {
            groups: report
                .groups
                .iter()
                .map(convert::group_stats_to_pb)
                .collect(),
            red_list: report.red_list,
            black_list: report.black_list,
            period_start: Some(timestamp(period.start)),
            period_end: Some(timestamp(period.end)),
            applied_position: applied,
            trend: trend
                .into_iter()
                .zip(reports)
                .map(|((spec, _), report)| pb::PeriodScores {
                    period: spec,
                    groups: report
                        .groups
                        .iter()
                        .map(|g| pb::GroupScore {
                            key: g.key.clone(),
                            valid_callbacks: g.valid_callbacks,
                            composite_score: g.composite_score,
                        })
                        .collect(),
                })
                .collect(),
        }))
    }
}
