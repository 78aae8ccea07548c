//! `LedgerService`: rectification ledgers, the action plan as a ledger,
//! closure tracking and class problems.
//!
//! Commands go through [`crate::server::app::execute`] on the ledger's stream. Two
//! steps touch complaints as well, each written so that a retry completes
//! it without duplicating anything:
//!
//! - linking: the complaint records the link (`LinkedToLedgerItem`), then the
//!   item records the complaint (`ComplaintLinkedToItem`); a link already on
//!   either side is skipped;
//! - closing an item: after `LedgerItemClosed`, each complaint it answers
//!   records `ClassProblemFixed`, as the system, with a request id derived
//!   from the item, its closing count and the complaint.

use std::sync::Arc;

use rectify_domain::{
    Actor, ComplaintId, Role, UnitCode,
    complaint::{self, CommandKind},
    ledger::{self, ItemSpec, LedgerCommand, LedgerCommandKind, LedgerSource, LedgerState, Phase},
};
use tonic::{Request, Response, Status};

use super::{
    prepare::{command_context, id_field, unit_code},
    reads::{on_view, receipts_between, wait_for_position, with_receipts},
};
use crate::wire::{from_timestamp, timestamp};
use crate::{
    pb::{self, ledger_service_server::LedgerService},
    server::aggregates::{ComplaintAggregate, LedgerAggregate},
    server::app::{self, CommandContext, Executed},
    server::auth::{Action, authorize},
    server::convert,
    server::error::ServiceError,
    server::state::AppState,
};

/// What a ledger command returns: its result, with receipts if asked for.
pub async fn ledger_result(
    state: &AppState,
    ctx: &CommandContext,
    id: &str,
    done: &Executed<LedgerState>,
) -> Result<pb::CommandResult, ServiceError> {
    let result = convert::ledger_result(id, done);
    with_receipts(state, ctx, result, done.first_position).await
}

/// The id of the 2021 action plan's ledger.
pub const PLAN_LEDGER_ID: &str = "plan-2021";
/// The unit that issued the plan and owns its ledger (市委办公室).
pub const PLAN_OWNER: &str = "party-committee-office";
/// The plan phase whose end is every plan item's deadline (集中整治).
pub const PLAN_DEADLINE_PHASE: &str = "rectification";
/// Most complaints one `LinkComplaints` call links.
pub const MAX_LINKS_PER_CALL: usize = 100;
/// Suggestions when the caller asks for none.
pub const DEFAULT_SUGGESTIONS: usize = 20;

/// The fields every ledger command request has.
trait LedgerRequest {
    fn options(&self) -> Option<pb::CommandOptions>;
    fn ledger_id(&self) -> &str;
}

macro_rules! ledger_requests {
    ($($request:ident),+ $(,)?) => {
        $(impl LedgerRequest for pb::$request {
            fn options(&self) -> Option<pb::CommandOptions> {
                self.options.clone()
            }
            fn ledger_id(&self) -> &str {
                &self.ledger_id
            }
        })+
    };
}

ledger_requests!(
    OpenLedgerRequest,
    AddItemRequest,
    RecordItemProgressRequest,
    CloseItemRequest,
    ReopenItemRequest,
    LinkComplaintsRequest,
    CloseLedgerRequest,
);

/// The `LedgerService` implementation.
#[derive(Debug, Clone)]
pub struct Ledgers {
    state: Arc<AppState>,
}

impl Ledgers {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Runs one ledger command.
    async fn run(
        &self,
        actor: &Actor,
        ctx: &CommandContext,
        id: &str,
        kind: LedgerCommandKind,
    ) -> Result<Executed<LedgerState>, ServiceError> {
        tracing::Span::current().record("ledger_id", id);
        let now = self.state.clock.now();
        app::execute::<LedgerAggregate, _>(&self.state.store, &self.state.vault, id, ctx, |_| {
            Ok(LedgerCommand {
                actor: actor.clone(),
                at: now,
                kind: kind.clone(),
            })
        })
        .await
        .map_err(|error| error.with_id(id))
    }

    /// Authorizes a command RPC and builds its context.
    /// Authorizes a command request and validates its options and ledger
    /// id: (actor, context, ledger id, request).
    fn prepare<R: LedgerRequest>(
        &self,
        request: Request<R>,
    ) -> Result<(Actor, CommandContext, String, R), ServiceError> {
        let actor = authorize(&request, Action::Command)?;
        let req = request.into_inner();
        let ctx = command_context(&actor, req.options(), self.state.clock.now())?;
        let id = id_field("ledger_id", req.ledger_id())?;
        Ok((actor, ctx, id, req))
    }

    /// Records the class fix of `item_id` on each complaint it answers.
    async fn record_class_fix(
        &self,
        ledger_id: &str,
        item_id: &str,
        closing: u64,
        complaints: &[String],
    ) -> Result<Vec<String>, ServiceError> {
        let system = Actor {
            principal: "system:class-problems".to_owned(),
            role: Role::System,
        };
        let now = self.state.clock.now();
        let mut fixed = Vec::new();
        for complaint_id in complaints {
            let ctx = CommandContext::system(
                &system.principal,
                format!("classfix:{ledger_id}:{item_id}:{closing}:{complaint_id}"),
                now,
            );
            let result = app::execute::<ComplaintAggregate, _>(
                &self.state.store,
                &self.state.vault,
                complaint_id,
                &ctx,
                |_| {
                    Ok(complaint::Command {
                        actor: system.clone(),
                        at: now,
                        kind: CommandKind::RecordClassProblemFixed {
                            ledger_id: ledger_id.to_owned(),
                            item_id: item_id.to_owned(),
                        },
                    })
                },
            )
            .await;
            match result {
                Ok(_) => fixed.push(complaint_id.clone()),
                // Fixed before (a repeated closing of a reopened item).
                Err(ServiceError::FailedPrecondition {
                    kind: "ALREADY_RECORDED",
                    ..
                }) => {
                    fixed.push(complaint_id.clone());
                }
                Err(error) => return Err(error),
            }
        }
        Ok(fixed)
    }
}

#[tonic::async_trait]
impl LedgerService for Ledgers {
    async fn open_ledger(
        &self,
        request: Request<pb::OpenLedgerRequest>,
    ) -> Result<Response<pb::OpenLedgerResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        if req.owner_unit.is_empty() {
            return Err(ServiceError::invalid("owner_unit", "required").into());
        }
        let owner = unit_code("owner_unit", &req.owner_unit, &self.state)?;
        let phases = if req.plan_phases && req.phases.is_empty() {
            self.state
                .catalog
                .phases()
                .iter()
                .map(|p| Phase {
                    code: p.code.clone(),
                    name: p.name.clone(),
                    starts: p.starts,
                    ends: p.ends,
                })
                .collect()
        } else {
            req.phases
                .iter()
                .map(convert::phase_from_pb)
                .collect::<Result<_, _>>()?
        };
        let kind = LedgerCommandKind::Open {
            ledger_id: id.clone(),
            title: req.title,
            source: convert::ledger_source(req.source)?,
            owner,
            phases,
        };
        let done = self.run(&actor, &ctx, &id, kind).await?;
        Ok(Response::new(pb::OpenLedgerResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
        }))
    }

    async fn add_item(
        &self,
        request: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::AddItemResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let units = |field: &'static str, raw: &[String]| {
            raw.iter()
                .map(|u| unit_code(field, u, &self.state))
                .collect::<Result<Vec<UnitCode>, _>>()
        };
        let group = match req.group.as_str() {
            "" => None,
            area if self.state.catalog.area(area).is_some() => Some(area.to_owned()),
            other => {
                return Err(
                    ServiceError::invalid("group", format!("unknown task area {other:?}")).into(),
                );
            }
        };
        let deadline = req
            .deadline
            .map(|t| {
                from_timestamp(&t)
                    .ok_or_else(|| ServiceError::invalid("deadline", "not a valid timestamp"))
            })
            .transpose()?;
        let kind = LedgerCommandKind::AddItem(ItemSpec {
            item_id: id_field("item_id", &req.item_id)?,
            problem: req.problem,
            measures: req.measures,
            group,
            lead: units("lead_units", &req.lead_units)?,
            responsible: units("responsible_units", &req.responsible_units)?,
            deadline,
        });
        let done = self.run(&actor, &ctx, &id, kind).await?;
        Ok(Response::new(pb::AddItemResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
        }))
    }

    async fn record_item_progress(
        &self,
        request: Request<pb::RecordItemProgressRequest>,
    ) -> Result<Response<pb::RecordItemProgressResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let kind = LedgerCommandKind::RecordProgress {
            item_id: id_field("item_id", &req.item_id)?,
            note: req.note,
            evidence: req.evidence,
        };
        let done = self.run(&actor, &ctx, &id, kind).await?;
        Ok(Response::new(pb::RecordItemProgressResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
        }))
    }

    async fn close_item(
        &self,
        request: Request<pb::CloseItemRequest>,
    ) -> Result<Response<pb::CloseItemResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let item = id_field("item_id", &req.item_id)?;
        let kind = LedgerCommandKind::CloseItem {
            item_id: item.clone(),
            evidence: req.evidence,
            verifier: req.verifier,
            note: (!req.note.is_empty()).then_some(req.note),
        };
        let done = self.run(&actor, &ctx, &id, kind).await?;
        let closed =
            done.state.items.get(&item).ok_or_else(|| {
                ServiceError::Internal(format!("item {item} vanished after closing"))
            })?;
        let fixed = self
            .record_class_fix(
                &id,
                &item,
                u64::from(closed.reopen_count),
                &closed.complaints,
            )
            .await?;
        Ok(Response::new(pb::CloseItemResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
            fixed_complaints: fixed,
        }))
    }

    async fn reopen_item(
        &self,
        request: Request<pb::ReopenItemRequest>,
    ) -> Result<Response<pb::ReopenItemResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let kind = LedgerCommandKind::ReopenItem {
            item_id: id_field("item_id", &req.item_id)?,
            reason: req.reason,
        };
        let done = self.run(&actor, &ctx, &id, kind).await?;
        Ok(Response::new(pb::ReopenItemResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
        }))
    }

    async fn link_complaints(
        &self,
        request: Request<pb::LinkComplaintsRequest>,
    ) -> Result<Response<pb::LinkComplaintsResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let item = id_field("item_id", &req.item_id)?;
        if req.complaint_ids.is_empty() || req.complaint_ids.len() > MAX_LINKS_PER_CALL {
            return Err(ServiceError::invalid(
                "complaint_ids",
                format!("1..={MAX_LINKS_PER_CALL} complaint ids"),
            )
            .into());
        }
        let complaints = req
            .complaint_ids
            .iter()
            .map(|raw| {
                ComplaintId::new(raw)
                    .map_err(|e| ServiceError::invalid("complaint_ids", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The item must exist before any complaint records a link to it.
        let loaded =
            app::load::<LedgerAggregate, _>(&self.state.store, &ledger::stream_name(&id)).await?;
        let Some(existing) = loaded.state.items.get(&item) else {
            return Err(ServiceError::NotFound {
                what: if loaded.version.is_none() {
                    "ledger"
                } else {
                    "ledger item"
                },
                id: if loaded.version.is_none() {
                    id
                } else {
                    format!("{id}/{item}")
                },
            }
            .into());
        };
        let mut linked = Vec::new();
        let mut already = Vec::new();
        let mut last = None;
        // The positions each sub-step wrote, for receipts.
        let mut written = Vec::new();
        let now = self.state.clock.now();
        for (index, complaint_id) in complaints.iter().enumerate() {
            if existing
                .complaints
                .iter()
                .any(|c| c == complaint_id.as_str())
            {
                already.push(complaint_id.as_str().to_owned());
                continue;
            }
            // Each sub-step gets its own request id so a retried call
            // completes the links without repeating any.
            let sub = |side: &str| CommandContext {
                request_id: ctx
                    .request_id
                    .as_ref()
                    .map(|r| format!("{r}:{side}:{index}")),
                expected_version: None,
                ..ctx.clone()
            };
            let on_complaint = app::execute::<ComplaintAggregate, _>(
                &self.state.store,
                &self.state.vault,
                complaint_id.as_str(),
                &sub("c"),
                |_| {
                    Ok(complaint::Command {
                        actor: actor.clone(),
                        at: now,
                        kind: CommandKind::LinkToLedgerItem {
                            ledger_id: id.clone(),
                            item_id: item.clone(),
                        },
                    })
                },
            )
            .await
            .map_err(|e| e.with_id(complaint_id.as_str()));
            match on_complaint {
                Ok(done) => written.push((done.first_position, done.position)),
                Err(ServiceError::FailedPrecondition {
                    kind: "ALREADY_RECORDED",
                    ..
                }) => {}
                Err(error) => return Err(error.into()),
            }
            let on_item = self
                .run(
                    &actor,
                    &sub("l"),
                    &id,
                    LedgerCommandKind::LinkComplaint {
                        item_id: item.clone(),
                        complaint_id: complaint_id.as_str().to_owned(),
                    },
                )
                .await;
            match on_item {
                Ok(done) => {
                    linked.push(complaint_id.as_str().to_owned());
                    written.push((done.first_position, done.position));
                    last = Some(done);
                }
                Err(ServiceError::FailedPrecondition {
                    kind: "ALREADY_RECORDED",
                    ..
                }) => {
                    already.push(complaint_id.as_str().to_owned());
                }
                Err(error) => return Err(error.into()),
            }
        }
        let mut result = match last {
            Some(done) => convert::ledger_result(&id, &done),
            None => pb::CommandResult {
                id: id.clone(),
                version: loaded.version.unwrap_or_default(),
                position: loaded.position,
                deduplicated: true,
                status: 0,
                receipts: Vec::new(),
            },
        };
        if ctx.want_receipts {
            for (first, last) in written {
                result
                    .receipts
                    .extend(receipts_between(&self.state, first, last).await?);
            }
        }
        Ok(Response::new(pb::LinkComplaintsResponse {
            result: Some(result),
            linked,
            already_linked: already,
        }))
    }

    async fn close_ledger(
        &self,
        request: Request<pb::CloseLedgerRequest>,
    ) -> Result<Response<pb::CloseLedgerResponse>, Status> {
        let (actor, ctx, id, req) = self.prepare(request)?;
        let kind = LedgerCommandKind::Close {
            note: (!req.note.is_empty()).then_some(req.note),
        };
        let done = self.run(&actor, &ctx, &id, kind).await?;
        Ok(Response::new(pb::CloseLedgerResponse {
            result: Some(ledger_result(&self.state, &ctx, &id, &done).await?),
        }))
    }

    async fn import_plan(
        &self,
        request: Request<pb::ImportPlanRequest>,
    ) -> Result<Response<pb::ImportPlanResponse>, Status> {
        let actor = authorize(&request, Action::ScanDeadlines)?;
        let report = import_plan(&self.state, &actor).await?;
        Ok(Response::new(report))
    }

    async fn get_ledger(
        &self,
        request: Request<pb::GetLedgerRequest>,
    ) -> Result<Response<pb::GetLedgerResponse>, Status> {
        authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        let id = id_field("ledger_id", &req.ledger_id)?;
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let reply = on_view(&self.state, move |view| {
            let book = view.book(&id).ok_or_else(|| ServiceError::NotFound {
                what: "ledger",
                id: id.clone(),
            })?;
            let progress = book.progress(now);
            Ok(pb::GetLedgerResponse {
                ledger: Some(convert::summary_pb(book, now)),
                groups: progress
                    .groups
                    .iter()
                    .map(|(group, tally)| pb::GroupProgress {
                        group: group.clone(),
                        tally: Some(convert::tally_pb(tally)),
                    })
                    .collect(),
                units: progress
                    .units
                    .iter()
                    .map(|(unit, t)| pb::UnitProgress {
                        unit: unit.clone(),
                        as_lead: Some(convert::tally_pb(&t.as_lead)),
                        as_responsible: Some(convert::tally_pb(&t.as_responsible)),
                    })
                    .collect(),
                phases: progress
                    .phases
                    .iter()
                    .map(|p| pb::PhaseProgress {
                        code: p.code.clone(),
                        name: p.name.clone(),
                        ends: Some(timestamp(p.ends)),
                        due_by_end: p.due_by_end,
                        closed_by_end: p.closed_by_end,
                    })
                    .collect(),
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }

    async fn list_ledgers(
        &self,
        request: Request<pb::ListLedgersRequest>,
    ) -> Result<Response<pb::ListLedgersResponse>, Status> {
        authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let reply = on_view(&self.state, move |view| {
            Ok(pb::ListLedgersResponse {
                ledgers: view.books().map(|b| convert::summary_pb(b, now)).collect(),
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }

    async fn list_items(
        &self,
        request: Request<pb::ListItemsRequest>,
    ) -> Result<Response<pb::ListItemsResponse>, Status> {
        let actor = authorize(&request, Action::ReadLedger)?;
        let req = request.into_inner();
        let id = id_field("ledger_id", &req.ledger_id)?;
        // A unit sees only the items it answers for.
        let unit = match &actor.role {
            Role::Unit(own) => Some(own.as_str().to_owned()),
            _ => (!req.unit.is_empty()).then(|| req.unit.clone()),
        };
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let reply = on_view(&self.state, move |view| {
            let book = view.book(&id).ok_or_else(|| ServiceError::NotFound {
                what: "ledger",
                id: id.clone(),
            })?;
            let items = book
                .items()
                .values()
                .filter(|i| {
                    req.group.is_empty() || i.spec.group.as_deref() == Some(req.group.as_str())
                })
                .filter(|i| unit.as_deref().is_none_or(|u| i.involves(u)))
                .filter(|i| !req.open_only || i.closed_at.is_none())
                .filter(|i| !req.overdue_only || i.is_overdue(now))
                .map(|i| convert::item_pb(i, now))
                .collect();
            Ok(pb::ListItemsResponse {
                items,
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }

    async fn get_unit_rollup(
        &self,
        request: Request<pb::GetUnitRollupRequest>,
    ) -> Result<Response<pb::GetUnitRollupResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        let req = request.into_inner();
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let reply = on_view(&self.state, move |view| {
            Ok(pb::GetUnitRollupResponse {
                units: view
                    .unit_rollup(now)
                    .iter()
                    .map(|r| pb::UnitProgress {
                        unit: r.unit.clone(),
                        as_lead: Some(convert::tally_pb(&r.tally.as_lead)),
                        as_responsible: Some(convert::tally_pb(&r.tally.as_responsible)),
                    })
                    .collect(),
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }

    async fn suggest_complaints(
        &self,
        request: Request<pb::SuggestComplaintsRequest>,
    ) -> Result<Response<pb::SuggestComplaintsResponse>, Status> {
        authorize(&request, Action::ReadEvaluation)?;
        let req = request.into_inner();
        let id = id_field("ledger_id", &req.ledger_id)?;
        let item = id_field("item_id", &req.item_id)?;
        let limit = match req.limit {
            0 => DEFAULT_SUGGESTIONS,
            n if n as usize > rectify_projections::ledger::MAX_SUGGESTIONS => {
                return Err(ServiceError::invalid(
                    "limit",
                    format!("at most {}", rectify_projections::ledger::MAX_SUGGESTIONS),
                )
                .into());
            }
            n => n as usize,
        };
        wait_for_position(&self.state, req.min_position).await?;
        let now = self.state.clock.now();
        let district = (!req.district.is_empty()).then_some(req.district);
        let reply = on_view(&self.state, move |view| {
            if view
                .book(&id)
                .is_none_or(|b| !b.items().contains_key(&item))
            {
                return Err(ServiceError::NotFound {
                    what: "ledger item",
                    id: format!("{id}/{item}"),
                });
            }
            let found = view.suggest_complaints(&id, &item, district.as_deref(), limit)?;
            Ok(pb::SuggestComplaintsResponse {
                complaints: found
                    .iter()
                    .map(|s| pb::SuggestedComplaint {
                        complaint_id: s.row.id().to_owned(),
                        title: s.row.title().to_owned(),
                        area: s.row.area.map(String::from).unwrap_or_default(),
                        district: s.row.district.map(String::from).unwrap_or_default(),
                        status: convert::ledger_row_to_pb(&s.row, now).status,
                        score: s.score,
                    })
                    .collect(),
                applied_position: view.applied(),
            })
        })
        .await?;
        Ok(Response::new(reply))
    }
}

/// Imports the 2021 action plan as ledger [`PLAN_LEDGER_ID`]: opens it if
/// needed and adds every task not yet in it, each with a request id derived
/// from the task, so a second import (or a retried one) writes nothing.
pub async fn import_plan(
    state: &AppState,
    actor: &Actor,
) -> Result<pb::ImportPlanResponse, ServiceError> {
    let catalog = &state.catalog;
    let now = state.clock.now();
    let phases: Vec<Phase> = catalog
        .phases()
        .iter()
        .map(|p| Phase {
            code: p.code.clone(),
            name: p.name.clone(),
            starts: p.starts,
            ends: p.ends,
        })
        .collect();
    let deadline = phases
        .iter()
        .find(|p| p.code == PLAN_DEADLINE_PHASE)
        .map(Phase::end);
    let ctx = |request_id: String| CommandContext {
        principal: actor.principal.clone(),
        request_id: Some(request_id),
        expected_version: None,
        correlation_id: Some("import-plan".to_owned()),
        recorded_at_ms: now.timestamp_millis(),
        want_receipts: false,
    };
    let stream = ledger::stream_name(PLAN_LEDGER_ID);
    let loaded = app::load::<LedgerAggregate, _>(&state.store, &stream).await?;
    let mut existing = loaded.state;
    let mut position = loaded.position;
    let run = |kind: LedgerCommandKind, request_id: String| {
        let actor = actor.clone();
        async move {
            app::execute::<LedgerAggregate, _>(
                &state.store,
                &state.vault,
                PLAN_LEDGER_ID,
                &ctx(request_id),
                |_| {
                    Ok(LedgerCommand {
                        actor: actor.clone(),
                        at: now,
                        kind: kind.clone(),
                    })
                },
            )
            .await
        }
    };
    if existing.info.is_none() {
        // The plan was issued by the party committee's office (鄂党办发).
        let owner = catalog
            .unit(PLAN_OWNER)
            .ok_or_else(|| ServiceError::Internal(format!("the catalog lacks unit {PLAN_OWNER}")))
            .and_then(|unit| {
                UnitCode::new(&unit.code).map_err(|e| ServiceError::Internal(e.to_string()))
            })?;
        let done = run(
            LedgerCommandKind::Open {
                ledger_id: PLAN_LEDGER_ID.to_owned(),
                title: "鄂尔多斯市打造一流营商环境行动方案 任务台账".to_owned(),
                source: LedgerSource::ReformPlan,
                owner,
                phases,
            },
            format!("import-plan:{PLAN_LEDGER_ID}:open"),
        )
        .await?;
        position = done.position;
        existing = done.state;
    }
    let mut added = 0u32;
    for area in catalog.areas() {
        for task in &area.tasks {
            let item_id = format!("{}-{}", area.code, task.number);
            if existing.items.contains_key(&item_id) {
                continue;
            }
            let codes = |codes: &[String]| {
                codes
                    .iter()
                    .map(|c| UnitCode::new(c).map_err(|e| ServiceError::Internal(e.to_string())))
                    .collect::<Result<Vec<_>, _>>()
            };
            let lead = codes(&task.lead)?;
            let responsible: Vec<UnitCode> = codes(&task.responsible)?
                .into_iter()
                .filter(|u| !lead.contains(u))
                .collect();
            let done = run(
                LedgerCommandKind::AddItem(ItemSpec {
                    item_id: item_id.clone(),
                    problem: task.title.clone(),
                    measures: task.text.clone(),
                    group: Some(area.code.clone()),
                    lead,
                    responsible,
                    deadline,
                }),
                format!("import-plan:{PLAN_LEDGER_ID}:{item_id}"),
            )
            .await?;
            if !done.deduplicated {
                added += 1;
            }
            position = done.position;
            existing = done.state;
        }
    }
    Ok(pb::ImportPlanResponse {
        ledger_id: PLAN_LEDGER_ID.to_owned(),
        items_added: added,
        items_total: u32::try_from(existing.items.len()).unwrap_or(u32::MAX),
        position,
    })
}
