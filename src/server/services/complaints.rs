//! `ComplaintService`: every workflow command and the complaint queries.
//!
//! Each command handler validates its request into domain types (an
//! `INVALID_ARGUMENT` names the field), then hands a command builder to
//! [`crate::server::app::execute`]. Routing and due times are computed here from the
//! catalog — the domain receives them ready-made in the command.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rectify_catalog::{RequestKind, RouteQuery};
use rectify_domain::{
    Actor, AreaCode, ComplaintId, DistrictCode, Role, UnitCode,
    complaint::{self, Command, CommandKind, ComplaintState, Submission},
};
use rectify_eventlog::EventStore as _;
use tonic::{Request, Response, Status};

use super::{
    prepare::{
        command_context, complaint_id, district_code, optional, required, time_field, unit_code,
    },
    reads::{self, wait_for_position},
};
use crate::{
    pb::{self, complaint_service_server::ComplaintService},
    server::aggregates::ComplaintAggregate,
    server::app::{self, CommandContext, Executed, FirstRead},
    server::auth::{Action, authorize},
    server::convert,
    server::error::ServiceError,
    server::error::catalog_error,
    server::privacy::{received_submitter, reveal, sees_personal_data},
    server::state::AppState,
};

/// A registered station's code; empty means none.
async fn station_code(
    raw: &str,
    state: &AppState,
) -> Result<Option<rectify_domain::StationCode>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    if reads::in_registry(state, |view| view.station(raw).map(|_| ()))
        .await?
        .is_none()
    {
        return Err(ServiceError::invalid(
            "station_code",
            format!("unknown station {raw:?}: not in the station registry"),
        ));
    }
    rectify_domain::StationCode::new(raw)
        .map(Some)
        .map_err(|e| ServiceError::invalid("station_code", e.to_string()))
}

/// A registered, serving experience officer's id; empty means none.
async fn officer_id(raw: &str, state: &AppState) -> Result<Option<String>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    // An officer recorded as not serving may have been reinstated just
    // before this request: only a serving one ends the lookup early.
    let serving = |view: &rectify_projections::mechanisms::MechanismsView| {
        view.officer(raw).filter(|o| o.active).map(|_| true)
    };
    match reads::in_registry(state, serving).await? {
        Some(_) => Ok(Some(raw.to_owned())),
        None if state.mechanisms.read(|view| view.officer(raw).is_some()) => {
            Err(ServiceError::invalid(
                "officer_id",
                format!("experience officer {raw:?} is no longer serving"),
            ))
        }
        None => Err(ServiceError::invalid(
            "officer_id",
            format!("unknown experience officer {raw:?}: not in the officer registry"),
        )),
    }
}

/// A channel's code as the policy's response rules name it (its serde
/// name, e.g. `experience_officer`).
fn channel_code(channel: complaint::Channel) -> String {
    match serde_json::to_value(channel) {
        Ok(serde_json::Value::String(code)) => code,
        _ => String::new(),
    }
}

/// The `ComplaintService` implementation.
#[derive(Debug, Clone)]
pub struct Complaints {
    state: Arc<AppState>,
}

/// The fields every workflow command request has.
trait CommandRequest {
    fn options(&self) -> Option<pb::CommandOptions>;
    fn complaint_id(&self) -> &str;
}

macro_rules! command_requests {
    ($($request:ident),+ $(,)?) => {
        $(impl CommandRequest for pb::$request {
            fn options(&self) -> Option<pb::CommandOptions> {
                self.options.clone()
            }
            fn complaint_id(&self) -> &str {
                &self.complaint_id
            }
        })+
    };
}

command_requests!(
    ClassifyComplaintRequest,
    DispatchComplaintRequest,
    AcceptAssignmentRequest,
    ReturnAssignmentRequest,
    RecordStepRequest,
    RequestExtensionRequest,
    GrantExtensionRequest,
    DenyExtensionRequest,
    SubmitResolutionRequest,
    VerifyResolutionRequest,
    RejectResolutionRequest,
    RecordCallbackRequest,
    ReopenComplaintRequest,
    CloseComplaintRequest,
    ChaseUpRequest,
    RecordLiaisonNoteRequest,
    FlagSupervisionRequest,
    RecordAccountabilityRequest,
    FileAppealRequest,
    DecideAppealRequest,
    PauseClockRequest,
    ResumeClockRequest,
    LinkToLedgerItemRequest,
    ErasePersonalDataRequest,
);

/// A validated command request: who, how, on which complaint.
struct Prepared {
    actor: Actor,
    ctx: CommandContext,
    id: ComplaintId,
    now: DateTime<Utc>,
}

impl Complaints {
    /// A service over the shared application state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Authorizes a workflow command and validates its common fields.
    fn prepare_command<R: CommandRequest>(
        &self,
        request: Request<R>,
    ) -> Result<(Prepared, R), ServiceError> {
        let actor = authorize(&request, Action::Command)?;
        let now = self.state.clock.now();
        let req = request.into_inner();
        let ctx = command_context(&actor, req.options(), now)?;
        let id = complaint_id(req.complaint_id())?;
        Ok((
            Prepared {
                actor,
                ctx,
                id,
                now,
            },
            req,
        ))
    }

    /// Runs a command built from the current state.
    async fn run(
        &self,
        prepared: &Prepared,
        kind: impl FnMut(&ComplaintState) -> Result<CommandKind, ServiceError> + Send,
    ) -> Result<Executed<ComplaintState>, ServiceError> {
        self.execute(prepared, kind, FirstRead::Load).await
    }

    /// Runs an intake: the stream is new, so it is not read first.
    async fn submit(
        &self,
        prepared: &Prepared,
        submission: &Submission,
    ) -> Result<Executed<ComplaintState>, ServiceError> {
        self.execute(
            prepared,
            |_| Ok(CommandKind::Submit(submission.clone())),
            FirstRead::AssumeNew,
        )
        .await
    }

    async fn execute(
        &self,
        prepared: &Prepared,
        mut kind: impl FnMut(&ComplaintState) -> Result<CommandKind, ServiceError> + Send,
        first: FirstRead,
    ) -> Result<Executed<ComplaintState>, ServiceError> {
        let Prepared {
            actor,
            ctx,
            id,
            now,
        } = prepared;
        let make = |state: &ComplaintState| {
            Ok(Command {
                actor: actor.clone(),
                at: *now,
                kind: kind(state)?,
            })
        };
        let (store, vault) = (&self.state.store, &self.state.vault);
        let done = match first {
            FirstRead::AssumeNew => {
                app::execute_creating::<ComplaintAggregate, _>(store, vault, id.as_str(), ctx, make)
                    .await
            }
            FirstRead::Load => {
                app::execute::<ComplaintAggregate, _>(store, vault, id.as_str(), ctx, make).await
            }
        };
        done.map_err(|error| error.with_id(id.as_str()))
    }

    /// What a command returns: its result, with receipts if asked for.
    async fn result(
        &self,
        prepared: &Prepared,
        done: &Executed<ComplaintState>,
    ) -> Result<pb::CommandResult, ServiceError> {
        let result = convert::command_result(prepared.id.as_str(), done);
        reads::with_receipts(&self.state, &prepared.ctx, result, done.first_position).await
    }

    /// Runs a command that needs nothing from the state and returns its result.
    async fn simple(
        &self,
        prepared: Prepared,
        kind: CommandKind,
    ) -> Result<Option<pb::CommandResult>, Status> {
        let done = self.run(&prepared, |_| Ok(kind.clone())).await?;
        Ok(Some(self.result(&prepared, &done).await?))
    }

    async fn load(&self, id: &ComplaintId) -> Result<app::Loaded<ComplaintState>, ServiceError> {
        let loaded =
            app::load::<ComplaintAggregate, _>(&self.state.store, &complaint::stream_name(id))
                .await?;
        if loaded.version.is_none() {
            return Err(ServiceError::NotFound {
                what: "complaint",
                id: id.as_str().to_owned(),
            });
        }
        Ok(loaded)
    }

    /// The due times of the handling milestones for a complaint's
    /// classification, starting now.
    fn handling_due(
        &self,
        state: &ComplaintState,
        start: DateTime<Utc>,
    ) -> Result<rectify_catalog::DueTimes, ServiceError> {
        let urgency = convert::catalog_urgency(state.urgency());
        let area = state.area().map(AreaCode::as_str);
        // Consultations (咨询) are answered sooner than complaints are resolved.
        let kind = match state.kind() {
            Some(complaint::ComplaintKind::Consultation) => RequestKind::Consultation,
            _ => RequestKind::Complaint,
        };
        // A channel with response rules of its own (the experience
        // officers') applies them last.
        let channel = state.channel().map(channel_code).unwrap_or_default();
        self.state
            .catalog
            .deadline_policy()
            .due_times_on_channel(
                urgency,
                Some(kind),
                &channel,
                area,
                start,
                self.state.catalog.calendar(),
            )
            .map_err(catalog_error)
    }
}

impl Complaints {
    /// The liaison cadre (包联) paired, on `at`'s Beijing date, with the
    /// enterprise the complaint names — by unified social credit code, or by
    /// the registered name or an alias.
    fn liaison_of(
        &self,
        state: &ComplaintState,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<complaint::LiaisonRef> {
        let named = state.enterprise()?;
        let day = at
            .with_timezone(&rectify_domain::CHINA_STANDARD_TIME)
            .date_naive();
        self.state.mechanisms.read(|view| {
            let enterprise = view.find_enterprise(named)?;
            let pair = view
                .liaison(enterprise.credit_code.as_str())
                .filter(|pair| pair.holds_on(day))?;
            Some(complaint::LiaisonRef {
                credit_code: enterprise.credit_code.to_string(),
                enterprise: enterprise.name.clone(),
                cadre: pair.cadre.clone(),
                level: pair.level,
            })
        })
    }
}

/// A unit reads only complaints it is assigned to; a liaison cadre only
/// those of their own enterprises.
pub(crate) fn ensure_visible(
    actor: &Actor,
    state: &ComplaintState,
    id: &ComplaintId,
) -> Result<(), ServiceError> {
    match &actor.role {
        Role::Unit(unit) if !state.is_assigned(unit) => Err(ServiceError::PermissionDenied(
            format!("unit {unit} is not assigned to complaint {id}"),
        )),
        Role::Officer if state.officer() != Some(actor.principal.as_str()) => {
            Err(ServiceError::PermissionDenied(format!(
                "complaint {id} is not a report of experience officer {}",
                actor.principal
            )))
        }
        Role::Liaison
            if state
                .liaison()
                .is_none_or(|liaison| liaison.cadre != actor.principal) =>
        {
            Err(ServiceError::PermissionDenied(format!(
                "{} is not the liaison cadre of complaint {id}",
                actor.principal
            )))
        }
        _ => Ok(()),
    }
}

#[tonic::async_trait]
impl ComplaintService for Complaints {
    async fn submit_complaint(
        &self,
        request: Request<pb::SubmitComplaintRequest>,
    ) -> Result<Response<pb::SubmitComplaintResponse>, Status> {
        let actor = authorize(&request, Action::Submit)?;
        let now = self.state.clock.now();
        let req = request.into_inner();
        let ctx = command_context(&actor, req.options, now)?;
        // A retried submit without a caller-chosen id must find the id the
        // first attempt was given.
        // Whether the server chose the id (and may choose another when it
        // collides with an existing complaint).
        let mut generated = false;
        let id = match (&ctx.request_id, req.complaint_id.is_empty()) {
            (Some(request_id), true) => {
                match app::find_request(&self.state.store, &ctx.principal, request_id).await? {
                    Some((stream, _)) => stream
                        .strip_prefix("complaint-")
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            ServiceError::invalid(
                                "options.request_id",
                                "already used for a command on another stream",
                            )
                        })?,
                    None => {
                        generated = true;
                        new_complaint_id(now)
                    }
                }
            }
            (None, true) => {
                generated = true;
                new_complaint_id(now)
            }
            (_, false) => req.complaint_id.clone(),
        };
        let id = complaint_id(&id)?;
        let submitter = req
            .submitter
            .ok_or_else(|| ServiceError::invalid("submitter", "required"))?;
        let dispatch_due_at = self
            .state
            .catalog
            .deadline_policy()
            .dispatch_due(now, self.state.catalog.calendar())
            .map_err(catalog_error)?;
        let submission = Submission {
            id: id.clone(),
            channel: convert::channel(req.channel)?,
            kind: convert::complaint_kind(req.kind)?,
            submitter: Some(complaint::Submitter {
                name: submitter.name,
                phone: submitter.phone,
                id_number: optional(submitter.id_number),
            }),
            sealed_submitter: None,
            enterprise: optional(req.enterprise),
            district: district_code(&req.district, &self.state)?,
            location: optional(req.location),
            title: req.title,
            text: req.text,
            external_ref: optional(req.external_ref),
            station: station_code(&req.station_code, &self.state).await?,
            officer: officer_id(&req.officer_id, &self.state).await?,
            dispatch_due_at,
        };
        let suggest_text = req
            .suggest_areas
            .then(|| format!("{} {}", submission.title, submission.text));
        let mut prepared = Prepared {
            actor,
            ctx,
            id,
            now,
        };
        let mut attempts = 1;
        let done = loop {
            let submission = Submission {
                id: prepared.id.clone(),
                ..submission.clone()
            };
            match self.submit(&prepared, &submission).await {
                // A generated id that is taken: draw another.
                Err(ServiceError::FailedPrecondition { kind: "EXISTS", .. })
                    if generated && attempts < MAX_ID_ATTEMPTS =>
                {
                    attempts += 1;
                    prepared.id = complaint_id(&new_complaint_id(now))?;
                }
                other => break other?,
            }
        };
        tracing::Span::current().record("complaint_id", prepared.id.as_str());
        let suggestions = if let Some(suggest_text) = suggest_text {
            let state = self.state.clone();
            tokio::task::spawn_blocking(move || state.catalog.suggest_areas(&suggest_text, 3))
                .await
                .map_err(|e| ServiceError::Internal(format!("classifier task failed: {e}")))?
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::SubmitComplaintResponse {
            result: Some(self.result(&prepared, &done).await?),
            suggested_areas: suggestions.iter().map(convert::suggestion_to_pb).collect(),
            receipt: Some(reads::receipt_at(&self.state, done.position).await?),
        }))
    }

    async fn get_complaint(
        &self,
        request: Request<pb::GetComplaintRequest>,
    ) -> Result<Response<pb::GetComplaintResponse>, Status> {
        let actor = authorize(&request, Action::ReadComplaint)?;
        let req = request.into_inner();
        let id = complaint_id(&req.complaint_id)?;
        wait_for_position(&self.state, req.min_position).await?;
        let mut loaded = self.load(&id).await?;
        ensure_visible(&actor, &loaded.state, &id)?;
        let pii = sees_personal_data(&actor, &loaded.state);
        reveal(&self.state, &complaint::stream_name(&id), &mut loaded.state).await?;
        Ok(Response::new(pb::GetComplaintResponse {
            complaint: Some(convert::complaint_view(
                &loaded.state,
                loaded.version.unwrap_or(0),
                pii,
            )),
        }))
    }

    async fn get_history(
        &self,
        request: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        let actor = authorize(&request, Action::ReadHistory)?;
        let req = request.into_inner();
        let id = complaint_id(&req.complaint_id)?;
        let loaded = self.load(&id).await?;
        ensure_visible(&actor, &loaded.state, &id)?;
        let pii = sees_personal_data(&actor, &loaded.state);
        let stream = complaint::stream_name(&id);
        let mut events = Vec::new();
        let mut next = 0;
        loop {
            let page = self
                .state
                .store
                .read_stream(&stream, next, rectify_eventlog::Direction::Forward, 1_000)
                .await
                .map_err(ServiceError::from)?;
            let full = page.len() == 1_000;
            for event in &page {
                let submitter = received_submitter(&self.state, event).await?;
                events.push(convert::event_to_pb(event, submitter.as_ref(), pii));
                next = event.version + 1;
            }
            if !full {
                break;
            }
        }
        Ok(Response::new(pb::GetHistoryResponse { events }))
    }

    async fn classify_complaint(
        &self,
        request: Request<pb::ClassifyComplaintRequest>,
    ) -> Result<Response<pb::ClassifyComplaintResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let area_raw = required("area", req.area)?;
        let area =
            self.state.catalog.area(&area_raw).ok_or_else(|| {
                ServiceError::invalid("area", format!("unknown area {area_raw:?}"))
            })?;
        if req.task != 0 && !area.tasks.iter().any(|t| t.number == req.task) {
            return Err(ServiceError::invalid(
                "task",
                format!("area {} has no task {}", area.code, req.task),
            )
            .into());
        }
        let kind = CommandKind::Classify {
            area: AreaCode::new(&area_raw)
                .map_err(|e| ServiceError::invalid("area", e.to_string()))?,
            task: (req.task != 0).then_some(req.task),
            district: district_code(&req.district, &self.state)?,
            tags: req.tags,
            urgency: convert::urgency(req.urgency)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::ClassifyComplaintResponse { result }))
    }

    async fn dispatch_complaint(
        &self,
        request: Request<pb::DispatchComplaintRequest>,
    ) -> Result<Response<pb::DispatchComplaintResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let overridden = if req.lead_unit.is_empty() {
            if !req.responsible_units.is_empty() || !req.override_reason.is_empty() {
                return Err(ServiceError::invalid(
                    "lead_unit",
                    "required when responsible_units or override_reason is given",
                )
                .into());
            }
            None
        } else {
            let lead = unit_code("lead_unit", &req.lead_unit, &self.state)?;
            let responsible = req
                .responsible_units
                .iter()
                .map(|u| unit_code("responsible_units", u, &self.state))
                .collect::<Result<Vec<_>, _>>()?;
            let reason = required("override_reason", req.override_reason)?;
            Some((lead, responsible, reason))
        };
        let mut routed = None;
        let done = self
            .run(&prepared, |state| {
                let (lead, responsible, rule_id, explanation, override_reason) = match &overridden
                {
                    Some((lead, responsible, reason)) => (
                        lead.clone(),
                        responsible.clone(),
                        "override".to_owned(),
                        format!("dispatcher override: {reason}"),
                        Some(reason.clone()),
                    ),
                    None => {
                        let area = state.area().ok_or_else(|| ServiceError::FailedPrecondition {
                            kind: "STATUS",
                            subject: state.status_name().to_owned(),
                            message: "cannot route a complaint that has not been classified; classify it or give lead_unit".to_owned(),
                        })?;
                        let routing = self
                            .state
                            .catalog
                            .route(&RouteQuery {
                                area: area.as_str(),
                                task: state.task(),
                                district: state.district().map(DistrictCode::as_str),
                            })
                            .map_err(catalog_error)?;
                        let mut codes = routing.lead.iter();
                        let lead = codes.next().ok_or_else(|| {
                            ServiceError::Internal(format!("area {area} routes to no lead unit"))
                        })?;
                        // Joint leads: the first leads, the others become
                        // responsible units (see docs/routing.md).
                        let mut responsible: Vec<UnitCode> = Vec::new();
                        for code in codes.chain(routing.responsible.iter()) {
                            if self.state.catalog.unit(code).is_none() || code == lead {
                                continue; // collectives are references, not assignees
                            }
                            let unit = UnitCode::new(code)
                                .map_err(|e| ServiceError::Internal(e.to_string()))?;
                            if !responsible.contains(&unit) {
                                responsible.push(unit);
                            }
                        }
                        (
                            UnitCode::new(lead).map_err(|e| ServiceError::Internal(e.to_string()))?,
                            responsible,
                            routing.rule_id,
                            routing.explanation,
                            None,
                        )
                    }
                };
                let due = self.handling_due(state, prepared.now)?;
                let liaison = self.liaison_of(state, prepared.now);
                routed = Some((lead.clone(), responsible.clone(), rule_id.clone(), explanation));
                Ok(CommandKind::Dispatch {
                    lead,
                    responsible,
                    rule_id,
                    override_reason,
                    accept_due_at: due.accept,
                    first_contact_due_at: due.first_contact,
                    resolve_due_at: due.resolve,
                    liaison,
                })
            })
            .await?;
        let result = Some(self.result(&prepared, &done).await?);
        let (lead_unit, responsible_units, routing_rule, explanation) = match routed {
            Some((lead, responsible, rule, why)) => (
                lead.as_str().to_owned(),
                responsible.iter().map(|u| u.as_str().to_owned()).collect(),
                rule,
                why,
            ),
            // A replayed request: report the assignment as recorded.
            None => (
                done.state
                    .lead_unit()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
                done.state
                    .responsible_units()
                    .iter()
                    .map(|u| u.as_str().to_owned())
                    .collect(),
                done.state.routing_rule().unwrap_or_default().to_owned(),
                String::new(),
            ),
        };
        Ok(Response::new(pb::DispatchComplaintResponse {
            result,
            lead_unit,
            responsible_units,
            routing_rule,
            explanation,
        }))
    }

    async fn accept_assignment(
        &self,
        request: Request<pb::AcceptAssignmentRequest>,
    ) -> Result<Response<pb::AcceptAssignmentResponse>, Status> {
        let (prepared, _) = self.prepare_command(request)?;
        let result = self.simple(prepared, CommandKind::Accept).await?;
        Ok(Response::new(pb::AcceptAssignmentResponse { result }))
    }

    async fn return_assignment(
        &self,
        request: Request<pb::ReturnAssignmentRequest>,
    ) -> Result<Response<pb::ReturnAssignmentResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::Return {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::ReturnAssignmentResponse { result }))
    }

    async fn record_step(
        &self,
        request: Request<pb::RecordStepRequest>,
    ) -> Result<Response<pb::RecordStepResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::RecordStep {
            description: required("description", req.description)?,
            evidence: req.evidence,
            contacted_submitter: req.contacted_submitter,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RecordStepResponse { result }))
    }

    async fn request_extension(
        &self,
        request: Request<pb::RequestExtensionRequest>,
    ) -> Result<Response<pb::RequestExtensionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::RequestExtension {
            reason: required("reason", req.reason)?,
            requested_due_at: time_field("requested_due_at", req.requested_due_at)?
                .ok_or_else(|| ServiceError::invalid("requested_due_at", "required"))?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RequestExtensionResponse { result }))
    }

    async fn grant_extension(
        &self,
        request: Request<pb::GrantExtensionRequest>,
    ) -> Result<Response<pb::GrantExtensionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::GrantExtension {
            due_at: time_field("due_at", req.due_at)?,
            note: optional(req.note),
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::GrantExtensionResponse { result }))
    }

    async fn deny_extension(
        &self,
        request: Request<pb::DenyExtensionRequest>,
    ) -> Result<Response<pb::DenyExtensionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::DenyExtension {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::DenyExtensionResponse { result }))
    }

    async fn submit_resolution(
        &self,
        request: Request<pb::SubmitResolutionRequest>,
    ) -> Result<Response<pb::SubmitResolutionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::SubmitResolution {
            result: required("result", req.result)?,
            evidence: req.evidence,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::SubmitResolutionResponse { result }))
    }

    async fn verify_resolution(
        &self,
        request: Request<pb::VerifyResolutionRequest>,
    ) -> Result<Response<pb::VerifyResolutionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::VerifyResolution {
            note: optional(req.note),
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::VerifyResolutionResponse { result }))
    }

    async fn reject_resolution(
        &self,
        request: Request<pb::RejectResolutionRequest>,
    ) -> Result<Response<pb::RejectResolutionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::RejectResolution {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RejectResolutionResponse { result }))
    }

    async fn record_callback(
        &self,
        request: Request<pb::RecordCallbackRequest>,
    ) -> Result<Response<pb::RecordCallbackResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let satisfaction = match req.satisfaction {
            0 => None,
            raw => Some(convert::satisfaction(raw)?),
        };
        let kind = CommandKind::RecordCallback {
            valid: req.valid,
            contacted: req.contacted,
            solved: req.solved,
            satisfaction,
            comment: optional(req.comment),
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RecordCallbackResponse { result }))
    }

    async fn reopen_complaint(
        &self,
        request: Request<pb::ReopenComplaintRequest>,
    ) -> Result<Response<pb::ReopenComplaintResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let reason = required("reason", req.reason)?;
        let done = self
            .run(&prepared, |state| {
                let due = self.handling_due(state, prepared.now)?;
                Ok(CommandKind::Reopen {
                    reason: reason.clone(),
                    resolve_due_at: due.resolve,
                })
            })
            .await?;
        Ok(Response::new(pb::ReopenComplaintResponse {
            result: Some(self.result(&prepared, &done).await?),
        }))
    }

    async fn close_complaint(
        &self,
        request: Request<pb::CloseComplaintRequest>,
    ) -> Result<Response<pb::CloseComplaintResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::Close {
            note: optional(req.note),
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::CloseComplaintResponse { result }))
    }

    async fn chase_up(
        &self,
        request: Request<pb::ChaseUpRequest>,
    ) -> Result<Response<pb::ChaseUpResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::ChaseUp {
            note: required("note", req.note)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::ChaseUpResponse { result }))
    }

    async fn record_liaison_note(
        &self,
        request: Request<pb::RecordLiaisonNoteRequest>,
    ) -> Result<Response<pb::RecordLiaisonNoteResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::RecordLiaisonNote {
            note: required("note", req.note)?,
            contacted: req.contacted,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RecordLiaisonNoteResponse { result }))
    }

    async fn flag_supervision(
        &self,
        request: Request<pb::FlagSupervisionRequest>,
    ) -> Result<Response<pb::FlagSupervisionResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::FlagSupervision {
            note: required("note", req.note)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::FlagSupervisionResponse { result }))
    }

    async fn record_accountability(
        &self,
        request: Request<pb::RecordAccountabilityRequest>,
    ) -> Result<Response<pb::RecordAccountabilityResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let units = req
            .units
            .iter()
            .map(|u| unit_code("units", u, &self.state))
            .collect::<Result<Vec<_>, _>>()?;
        let kind = CommandKind::RecordAccountability {
            finding: required("finding", req.finding)?,
            units,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::RecordAccountabilityResponse { result }))
    }

    async fn file_appeal(
        &self,
        request: Request<pb::FileAppealRequest>,
    ) -> Result<Response<pb::FileAppealResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::FileAppeal {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::FileAppealResponse { result }))
    }

    async fn decide_appeal(
        &self,
        request: Request<pb::DecideAppealRequest>,
    ) -> Result<Response<pb::DecideAppealResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::DecideAppeal {
            upheld: req.upheld,
            note: optional(req.note),
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::DecideAppealResponse { result }))
    }

    async fn pause_clock(
        &self,
        request: Request<pb::PauseClockRequest>,
    ) -> Result<Response<pb::PauseClockResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::PauseClock {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::PauseClockResponse { result }))
    }

    async fn resume_clock(
        &self,
        request: Request<pb::ResumeClockRequest>,
    ) -> Result<Response<pb::ResumeClockResponse>, Status> {
        let (prepared, _) = self.prepare_command(request)?;
        let done = self
            .run(&prepared, |state| {
                // Paused working time does not count: every open milestone
                // moves by the working minutes the clock stood still.
                let calendar = self.state.catalog.calendar();
                let paused_since =
                    state
                        .paused_since()
                        .ok_or_else(|| ServiceError::FailedPrecondition {
                            kind: "CLOCK",
                            subject: state.status_name().to_owned(),
                            message: "the deadline clock is not paused".to_owned(),
                        })?;
                let paused_minutes = calendar
                    .working_minutes_between(paused_since, prepared.now)
                    .map_err(|e| catalog_error(e.into()))?;
                let mut shifted = Vec::new();
                for (milestone, due) in state.open_deadlines() {
                    let moved = calendar
                        .add_working_minutes(due, paused_minutes)
                        .map_err(|e| catalog_error(e.into()))?;
                    shifted.push((milestone, moved));
                }
                Ok(CommandKind::ResumeClock { shifted })
            })
            .await?;
        Ok(Response::new(pb::ResumeClockResponse {
            result: Some(self.result(&prepared, &done).await?),
        }))
    }

    async fn link_to_ledger_item(
        &self,
        request: Request<pb::LinkToLedgerItemRequest>,
    ) -> Result<Response<pb::LinkToLedgerItemResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::LinkToLedgerItem {
            ledger_id: required("ledger_id", req.ledger_id)?,
            item_id: required("item_id", req.item_id)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::LinkToLedgerItemResponse { result }))
    }

    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        let (prepared, req) = self.prepare_command(request)?;
        let kind = CommandKind::ErasePersonalData {
            reason: required("reason", req.reason)?,
        };
        let result = self.simple(prepared, kind).await?;
        Ok(Response::new(pb::ErasePersonalDataResponse { result }))
    }
}

/// A new complaint id: `RC-<yyyymmdd>-<12 random hex digits>` (China date).
/// 48 random bits make a collision rare even at a million complaints a day;
/// a collision is retried with a fresh id (see [`MAX_ID_ATTEMPTS`]).
fn new_complaint_id(now: DateTime<Utc>) -> String {
    let local = now.with_timezone(&rectify_domain::CHINA_STANDARD_TIME);
    let random = rectify_eventlog::Uuid::new_v4().simple().to_string();
    format!("RC-{}-{}", local.format("%Y%m%d"), &random[..12])
}

/// How many generated ids a submit tries before it reports the collision.
const MAX_ID_ATTEMPTS: usize = 3;

#[cfg(test)]
mod tests {
    use rectify_domain::complaint::Channel;

    /// Every channel's code is one the deadline policy's response rules
    /// accept, so a rule can be written for any of them.
    #[test]
    fn every_channel_code_is_known_to_the_policy() {
        for channel in [
            Channel::Hotline12345,
            Channel::MengSuBanApp,
            Channel::WeChat,
            Channel::WebPortal,
            Channel::QrCode,
            Channel::ExperienceOfficer,
            Channel::SupervisionInspection,
            Channel::Other,
        ] {
            let code = super::channel_code(channel);
            assert!(rectify_catalog::CHANNELS.contains(&code.as_str()), "{code}");
        }
    }
}
