//! `RegistryService`: importing the registries from spreadsheet files,
//! listing them, and ranking the grassroots stations.
//!
//! An import reads the whole file first ([`crate::server::registry_csv`]) and
//! checks what needs the other registries (a liaison pair's enterprise must
//! be registered), so a bad row refuses the file before anything is
//! written. Then each record is one command on its own stream, written a
//! few dozen at a time so the log group-commits them (one write and one
//! sync for many records); a record already recorded as it is writes
//! nothing, so a repeated import is a no-op and an interrupted one (or one
//! stopped by a failing write) completes when run again.

use std::sync::Arc;

use futures::StreamExt as _;
use rectify_domain::{
    Actor, Role,
    ledger::{ItemSpec, LedgerCommand, LedgerCommandKind},
    registry::{RegistryCommand, RegistryKind, RegistryRecord},
};
use rectify_eventlog::EventStore as _;
use rectify_projections::mechanisms::StationRanking;
use tonic::{Request, Response, Status};

use super::prepare::{command_context, id_field, time_field};
use crate::{
    pb::{self, registry_service_server::RegistryService},
    server::{
        aggregates::{LedgerAggregate, RegistryAggregate},
        app::{self, CommandContext},
        auth::{Action, authorize, permits},
        error::ServiceError,
        registry_csv,
        services::reads::{self, MIN_POSITION_WAIT},
        state::AppState,
    },
};

/// Records of one import written at once. The log's writer group-commits
/// concurrent appends; a few dozen in flight fill its batches without
/// crowding out other callers' commands.
const IMPORT_CONCURRENCY: usize = 32;

/// The `RegistryService` implementation.
#[derive(Debug, Clone)]
pub struct Registry {
    state: Arc<AppState>,
    import_concurrency: usize,
}

impl Registry {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            import_concurrency: IMPORT_CONCURRENCY,
        }
    }

    /// The same service writing at most `records` records of an import at
    /// once (at least one); 1 writes them one after another. For measuring
    /// what the concurrency buys.
    pub fn with_import_concurrency(mut self, records: usize) -> Self {
        self.import_concurrency = records.max(1);
        self
    }

    /// Waits until the registries have applied `min_position`.
    async fn wait(&self, min_position: u64) -> Result<(), ServiceError> {
        Ok(self
            .state
            .mechanisms
            .wait_for(min_position, MIN_POSITION_WAIT)
            .await?)
    }

    /// Refuses a liaison pair whose enterprise is not registered. An
    /// enterprise imported just before may not be in the view yet: on a
    /// miss, the check waits for the view to reach the log's head and looks
    /// again ([`reads::in_registry`]).
    async fn check_references(
        &self,
        records: &[(usize, RegistryRecord)],
    ) -> Result<(), ServiceError> {
        let unregistered = |view: &rectify_projections::mechanisms::MechanismsView| {
            records.iter().find_map(|(row, record)| match record {
                RegistryRecord::Liaison(pair)
                    if view.enterprise(pair.credit_code.as_str()).is_none() =>
                {
                    Some((*row, pair.credit_code.to_string()))
                }
                _ => None,
            })
        };
        let all_registered = |view: &_| unregistered(view).is_none().then_some(());
        if reads::in_registry(&self.state, all_registered)
            .await?
            .is_some()
        {
            return Ok(());
        }
        match self.state.mechanisms.read(unregistered) {
            Some((row, credit_code)) => Err(ServiceError::invalid(
                "csv",
                format!(
                    "row {row}, column credit_code: enterprise {credit_code} is not registered; import it first"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Records one record; which of added, revised or unchanged it was and
    /// the position written (0 when nothing was).
    async fn record(
        &self,
        actor: &Actor,
        ctx: &CommandContext,
        record: RegistryRecord,
    ) -> Result<(Outcome, u64), ServiceError> {
        let id = format!("{}-{}", record.kind().name(), record.key());
        let now = self.state.clock.now();
        let result = app::execute::<RegistryAggregate, _>(
            &self.state.store,
            &self.state.vault,
            &id,
            ctx,
            |_| {
                Ok(RegistryCommand {
                    actor: actor.clone(),
                    at: now,
                    record: record.clone(),
                })
            },
        )
        .await;
        match result {
            Ok(done) if done.state.revisions == 1 => Ok((Outcome::Added, done.position)),
            Ok(done) => Ok((Outcome::Revised, done.position)),
            Err(ServiceError::FailedPrecondition {
                kind: "ALREADY_RECORDED",
                ..
            }) => Ok((Outcome::Unchanged, 0)),
            Err(error) => Err(error.with_id(&id)),
        }
    }
}

/// What importing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Added,
    Revised,
    Unchanged,
}

/// The domain's registry for a wire kind.
fn registry_kind(raw: i32) -> Result<RegistryKind, ServiceError> {
    match pb::RegistryKind::try_from(raw) {
        Ok(pb::RegistryKind::Enterprise) => Ok(RegistryKind::Enterprise),
        Ok(pb::RegistryKind::Liaison) => Ok(RegistryKind::Liaison),
        Ok(pb::RegistryKind::Officer) => Ok(RegistryKind::Officer),
        Ok(pb::RegistryKind::Station) => Ok(RegistryKind::Station),
        Ok(pb::RegistryKind::Unspecified) | Err(_) => Err(ServiceError::invalid(
            "kind",
            "one of enterprise, liaison, officer, station",
        )),
    }
}

/// A record on the wire.
pub fn record_to_pb(record: &RegistryRecord) -> pb::RegistryRecord {
    use pb::registry_record::Record;
    let record = match record {
        RegistryRecord::Enterprise(e) => Record::Enterprise(pb::Enterprise {
            credit_code: e.credit_code.to_string(),
            name: e.name.clone(),
            aliases: e.aliases.clone(),
            kind: code(&e.kind),
            district: e
                .district
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        RegistryRecord::Liaison(l) => Record::Liaison(pb::Liaison {
            credit_code: l.credit_code.to_string(),
            cadre: l.cadre.clone(),
            level: code(&l.level),
            from: l.from.to_string(),
            to: l.to.map(|d| d.to_string()).unwrap_or_default(),
        }),
        RegistryRecord::Officer(o) => Record::Officer(pb::Officer {
            id: o.id.clone(),
            kind: code(&o.kind),
            round: u32::from(o.round),
            active: o.active,
        }),
        RegistryRecord::Station(s) => Record::Station(station_to_pb(s)),
    };
    pb::RegistryRecord {
        record: Some(record),
    }
}

fn station_to_pb(s: &rectify_domain::registry::Station) -> pb::Station {
    pb::Station {
        code: s.code.to_string(),
        name: s.name.clone(),
        district: s.district.to_string(),
        unit: s.unit.to_string(),
    }
}

fn tally_to_pb(t: &rectify_projections::mechanisms::OfficerTally) -> pb::OfficerTally {
    pb::OfficerTally {
        reports: t.reports,
        acknowledged: t.acknowledged,
        median_minutes_to_acknowledge: t.median_minutes_to_acknowledge,
        warned: t.warned,
        closed: t.closed,
        callbacks: t.callbacks,
        satisfied: t.satisfied,
    }
}

fn ranking_to_pb(r: &StationRanking) -> pb::StationRanking {
    pb::StationRanking {
        station: Some(station_to_pb(&r.station)),
        complaints: r.complaints,
        closed: r.closed,
        callbacks: r.callbacks,
        satisfied: r.satisfied,
        satisfaction_permille: r.satisfaction_permille(),
        median_minutes_to_close: r.median_minutes_to_close,
    }
}

/// A registry enum's code: its serde name (`above_scale`, `city`, …).
fn code<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => code,
        _ => String::new(),
    }
}

#[tonic::async_trait]
impl RegistryService for Registry {
    async fn import_registry(
        &self,
        request: Request<pb::ImportRegistryRequest>,
    ) -> Result<Response<pb::ImportRegistryResponse>, Status> {
        let actor = authorize(&request, Action::Command)?;
        if !actor.role.dispatches() {
            return Err(ServiceError::PermissionDenied(
                "only the dispatch centre or an administrator imports registries".to_owned(),
            )
            .into());
        }
        let req = request.into_inner();
        let kind = registry_kind(req.kind)?;
        let ctx = command_context(&actor, None, self.state.clock.now())?;
        let state = self.state.clone();
        let records =
            tokio::task::spawn_blocking(move || registry_csv::read(kind, &req.csv, &state.catalog))
                .await
                .map_err(|error| {
                    ServiceError::Internal(format!("reading the file failed: {error}"))
                })?
                .map_err(|error| ServiceError::invalid("csv", error.to_string()))?;
        self.check_references(&records).await?;
        let mut reply = pb::ImportRegistryResponse {
            rows: u32::try_from(records.len()).unwrap_or(u32::MAX),
            ..Default::default()
        };
        // Every record is on its own stream (the file has no two rows with
        // one key), so they are written concurrently: the log commits the
        // appends in flight together, one write and one sync for many.
        // `buffered` keeps file order, so the error reported is that of the
        // first failing row, as when written one by one.
        let mut written = futures::stream::iter(records)
            .map(|(_, record)| self.record(&actor, &ctx, record))
            .buffered(self.import_concurrency);
        while let Some(done) = written.next().await {
            let (outcome, position) = done?;
            match outcome {
                Outcome::Added => reply.added += 1,
                Outcome::Revised => reply.revised += 1,
                Outcome::Unchanged => reply.unchanged += 1,
            }
            reply.position = reply.position.max(position);
        }
        if reply.position == 0 {
            reply.position = self
                .state
                .store
                .head_position()
                .await
                .map_err(ServiceError::from)?;
        }
        tracing::info!(
            kind = kind.name(),
            rows = reply.rows,
            added = reply.added,
            revised = reply.revised,
            unchanged = reply.unchanged,
            "registry imported"
        );
        Ok(Response::new(reply))
    }

    async fn list_registry(
        &self,
        request: Request<pb::ListRegistryRequest>,
    ) -> Result<Response<pb::ListRegistryResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        let req = request.into_inner();
        let kind = registry_kind(req.kind)?;
        self.wait(req.min_position).await?;
        let records = self
            .state
            .mechanisms
            .read(|view| view.records(kind).iter().map(record_to_pb).collect());
        Ok(Response::new(pb::ListRegistryResponse { records }))
    }

    async fn liaison_report(
        &self,
        request: Request<pb::LiaisonReportRequest>,
    ) -> Result<Response<pb::LiaisonReportResponse>, Status> {
        let actor = crate::server::auth::actor(&request)?;
        let req = request.into_inner();
        let cadre = match actor.role {
            Role::Liaison if req.cadre.is_empty() || req.cadre == actor.principal => {
                actor.principal.clone()
            }
            Role::Liaison => {
                return Err(ServiceError::PermissionDenied(format!(
                    "{} may read only their own liaison report",
                    actor.principal
                ))
                .into());
            }
            ref role if permits(role, Action::ReadEvaluation) => req.cadre,
            ref role => {
                return Err(ServiceError::PermissionDenied(format!(
                    "role {} may not read liaison reports",
                    role.name()
                ))
                .into());
            }
        };
        self.wait(req.min_position).await?;
        let cadres = self.state.mechanisms.read(|view| {
            view.liaison_reports()
                .into_iter()
                .filter(|r| cadre.is_empty() || r.cadre == cadre)
                .map(|r| pb::CadreReport {
                    cadre: r.cadre,
                    enterprises: r.enterprises,
                    complaints: r.complaints,
                    contacted: r.contacted,
                    median_minutes_to_contact: r.median_minutes_to_contact,
                    resolved: r.resolved,
                    closed: r.closed,
                    callbacks: r.callbacks,
                    satisfied: r.satisfied,
                    solved: r.solved,
                    complaint_ids: r.complaint_ids,
                })
                .collect()
        });
        Ok(Response::new(pb::LiaisonReportResponse { cadres }))
    }

    async fn officer_report(
        &self,
        request: Request<pb::OfficerReportRequest>,
    ) -> Result<Response<pb::OfficerReportResponse>, Status> {
        let actor = crate::server::auth::actor(&request)?;
        let req = request.into_inner();
        let (officer, own) = match actor.role {
            Role::Officer if req.officer.is_empty() || req.officer == actor.principal => {
                (actor.principal.clone(), true)
            }
            Role::Officer => {
                return Err(ServiceError::PermissionDenied(format!(
                    "experience officer {} may read only their own reports",
                    actor.principal
                ))
                .into());
            }
            ref role if permits(role, Action::ReadEvaluation) => (req.officer, false),
            ref role => {
                return Err(ServiceError::PermissionDenied(format!(
                    "role {} may not read officer reports",
                    role.name()
                ))
                .into());
            }
        };
        self.wait(req.min_position).await?;
        let reply = self.state.mechanisms.read(|view| {
            let tallies = view.officer_tallies();
            let officers = tallies
                .by_officer
                .into_iter()
                .filter(|(id, _)| officer.is_empty() || *id == officer)
                .map(|(id, tally)| pb::OfficerFigures {
                    kind: view.officer(&id).map(|o| code(&o.kind)).unwrap_or_default(),
                    tally: Some(tally_to_pb(&tally)),
                    complaint_ids: view
                        .officer_reports(&id)
                        .into_iter()
                        .map(|(complaint, _)| complaint.to_owned())
                        .collect(),
                    officer: id,
                })
                .collect();
            let kinds = if own || !officer.is_empty() {
                Vec::new()
            } else {
                tallies
                    .by_kind
                    .iter()
                    .map(|(kind, tally)| pb::OfficerKindFigures {
                        kind: code(kind),
                        tally: Some(tally_to_pb(tally)),
                    })
                    .collect()
            };
            pb::OfficerReportResponse { officers, kinds }
        });
        Ok(Response::new(reply))
    }

    async fn record_station_finding(
        &self,
        request: Request<pb::RecordStationFindingRequest>,
    ) -> Result<Response<pb::RecordStationFindingResponse>, Status> {
        let actor = authorize(&request, Action::Command)?;
        let req = request.into_inner();
        let ctx = command_context(&actor, req.options, self.state.clock.now())?;
        let ledger_id = id_field("ledger_id", &req.ledger_id)?;
        let station =
            super::reads::in_registry(&self.state, |view| view.station(&req.station_code).cloned())
                .await?
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "station_code",
                        format!(
                            "unknown station {:?}: not in the station registry",
                            req.station_code
                        ),
                    )
                })?;
        let spec = ItemSpec {
            item_id: id_field("item_id", &req.item_id)?,
            problem: req.problem,
            measures: req.measures,
            group: None,
            lead: vec![station.unit.clone()],
            responsible: vec![],
            deadline: time_field("deadline", req.deadline)?,
        };
        let now = self.state.clock.now();
        let done = app::execute::<LedgerAggregate, _>(
            &self.state.store,
            &self.state.vault,
            &ledger_id,
            &ctx,
            |_| {
                Ok(LedgerCommand {
                    actor: actor.clone(),
                    at: now,
                    kind: LedgerCommandKind::AddItem(spec.clone()),
                })
            },
        )
        .await
        .map_err(|error| error.with_id(&ledger_id))?;
        Ok(Response::new(pb::RecordStationFindingResponse {
            result: Some(
                super::ledgers::ledger_result(&self.state, &ctx, &ledger_id, &done).await?,
            ),
            lead_unit: station.unit.to_string(),
        }))
    }

    async fn rank_stations(
        &self,
        request: Request<pb::RankStationsRequest>,
    ) -> Result<Response<pb::RankStationsResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        self.wait(request.get_ref().min_position).await?;
        let stations = self
            .state
            .mechanisms
            .read(|view| view.station_rankings().iter().map(ranking_to_pb).collect());
        Ok(Response::new(pb::RankStationsResponse { stations }))
    }
}
