//! `decide`: which events a command produces, or why it is refused.
//!
//! Order of checks: existence; then the role; then the status; then, for
//! unit steps, whether the acting unit is assigned (and lead where needed);
//! then the command's fields. A unit acting on a complaint in the wrong status
//! learns the status (nobody is assigned to a complaint awaiting dispatch).

use chrono::{DateTime, Utc};

use super::{
    Channel, Command, CommandKind, ComplaintEvent as E, ComplaintState, ComplaintStatus as S,
    LiaisonRef, MAX_LEDGER_LINKS, MAX_RESPONSIBLE_UNITS, Milestone, Satisfaction, Submission,
    Urgency, WarningLevel, evolve,
};
use crate::text::{
    self, MAX_COMPLAINT_TEXT_CHARS, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_PHONE_CHARS,
    MAX_SHORT_TEXT_CHARS, MAX_TITLE_CHARS,
};
use crate::{AreaCode, DistrictCode, DomainError, Role, UnitCode, codes};

type Decision = Result<Vec<E>, DomainError>;

fn illegal(state: &ComplaintState, command: &CommandKind) -> DomainError {
    DomainError::IllegalTransition {
        status: state.status_name(),
        attempted: command.name(),
        detail: None,
    }
}

fn illegal_because(state: &ComplaintState, command: &CommandKind, detail: &str) -> DomainError {
    DomainError::IllegalTransition {
        status: state.status_name(),
        attempted: command.name(),
        detail: Some(detail.to_owned()),
    }
}

fn denied(command: &CommandKind, reason: impl Into<String>) -> DomainError {
    DomainError::NotPermitted {
        attempted: command.name(),
        reason: reason.into(),
    }
}

fn require_status(
    state: &ComplaintState,
    command: &CommandKind,
    allowed: &[S],
) -> Result<(), DomainError> {
    match state.status {
        Some(status) if allowed.contains(&status) => Ok(()),
        _ => Err(illegal(state, command)),
    }
}

fn require_dispatcher(command: &Command) -> Result<(), DomainError> {
    if command.actor.role.dispatches() {
        Ok(())
    } else {
        Err(denied(
            &command.kind,
            format!(
                "only the dispatch centre may do this, not role {}",
                command.actor.role.name()
            ),
        ))
    }
}

/// The acting unit, which must be assigned to the complaint.
fn assigned_unit<'a>(
    state: &ComplaintState,
    command: &'a Command,
) -> Result<&'a UnitCode, DomainError> {
    match &command.actor.role {
        Role::Unit(unit) if state.is_assigned(unit) => Ok(unit),
        Role::Unit(unit) => Err(denied(
            &command.kind,
            format!("unit {unit} is not assigned to this complaint"),
        )),
        other => Err(denied(
            &command.kind,
            format!(
                "only an assigned unit may do this, not role {}",
                other.name()
            ),
        )),
    }
}

/// The acting unit, which must be the lead unit.
fn lead_unit<'a>(
    state: &ComplaintState,
    command: &'a Command,
) -> Result<&'a UnitCode, DomainError> {
    let unit = assigned_unit(state, command)?;
    if state.lead.as_ref() == Some(unit) {
        Ok(unit)
    } else {
        Err(denied(
            &command.kind,
            format!("unit {unit} is a responsible unit; only the lead unit may do this"),
        ))
    }
}

fn check_submission(s: &Submission) -> Result<(), DomainError> {
    if let Some(officer) = &s.officer {
        if s.channel != Channel::ExperienceOfficer {
            return Err(DomainError::Invalid {
                field: "officer_id",
                reason: "only a report through the experience-officer channel names an officer"
                    .to_owned(),
            });
        }
        codes::check_id("officer_id", officer)?;
    }
    if s.station.is_some() && s.channel != Channel::QrCode {
        return Err(DomainError::Invalid {
            field: "station_code",
            reason:
                "only a complaint through a station's QR code (channel qr_code) names a station"
                    .to_owned(),
        });
    }
    text::required("title", &s.title, MAX_TITLE_CHARS)?;
    text::required("text", &s.text, MAX_COMPLAINT_TEXT_CHARS)?;
    let Some(submitter) = &s.submitter else {
        return Err(DomainError::Invalid {
            field: "submitter",
            reason: "required".to_owned(),
        });
    };
    if s.sealed_submitter.is_some() {
        return Err(DomainError::Invalid {
            field: "submitter",
            reason: "intake takes the submitter in clear; the service seals it".to_owned(),
        });
    }
    text::required("submitter.name", &submitter.name, MAX_NAME_CHARS)?;
    text::required("submitter.phone", &submitter.phone, MAX_PHONE_CHARS)?;
    if !submitter
        .phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    {
        return Err(DomainError::Invalid {
            field: "submitter.phone",
            reason: "only digits, '+', '-' and spaces".to_owned(),
        });
    }
    text::optional(
        "submitter.id_number",
        submitter.id_number.as_deref(),
        MAX_PHONE_CHARS,
    )?;
    text::optional("enterprise", s.enterprise.as_deref(), MAX_SHORT_TEXT_CHARS)?;
    text::optional("location", s.location.as_deref(), MAX_SHORT_TEXT_CHARS)?;
    text::optional(
        "external_ref",
        s.external_ref.as_deref(),
        MAX_SHORT_TEXT_CHARS,
    )?;
    Ok(())
}

fn due_after(
    field: &'static str,
    due: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    if due <= at {
        Err(DomainError::Invalid {
            field,
            reason: format!("due time {due} is not after now ({at})"),
        })
    } else {
        Ok(())
    }
}

/// Statuses in which a complaint may be chased up: open and dispatched at
/// least once in its current handling, so there is someone to chase.
const CHASEABLE: &[S] = &[
    S::Dispatched,
    S::InProgress,
    S::Resolved,
    S::Verified,
    S::CalledBack,
];

/// Decides the events of `command` on `state`.
pub fn decide(state: &ComplaintState, command: &Command) -> Decision {
    let decision = decide_step(state, command);
    if let Ok(events) = &decision {
        debug_check_decided(state, command, events);
    }
    decision
}

/// The status changes the lifecycle allows, as (before, after): the arrows
/// of the status machine in the module documentation. Steps not listed keep
/// the status.
const LIFECYCLE: &[(Option<S>, S)] = &[
    (None, S::Received),
    (Some(S::Received), S::AwaitingDispatch),
    (Some(S::AwaitingDispatch), S::Dispatched),
    (Some(S::Dispatched), S::InProgress),
    (Some(S::InProgress), S::Resolved),
    (Some(S::Resolved), S::Verified),
    (Some(S::Verified), S::CalledBack),
    (Some(S::CalledBack), S::Closed),
    (Some(S::Dispatched), S::AwaitingDispatch),
    (Some(S::InProgress), S::AwaitingDispatch),
    (Some(S::Resolved), S::InProgress),
    (Some(S::CalledBack), S::InProgress),
];

/// Assertions at the seam between `decide` and `evolve`, in debug builds
/// (tests run them; a release build skips the fold they need). They hold
/// for any state, also one folded from events no decider produced:
///
/// - The decision is not empty: every step function returns one event or
///   an error.
/// - Folding the events keeps the stream's identity: only
///   `ComplaintReceived` sets the submission and with it the id, and intake
///   is decided only while there is no complaint (`require_existence`);
///   erasure clears the submitter, never the id. After intake the id is the
///   submission's.
/// - The status after folding is the status before or one arrow of
///   [`LIFECYCLE`] away: every step that emits a status-changing event
///   first requires the status that arrow starts from (`require_status`,
///   `require_existence`), and `evolve` moves the status only along those
///   arrows. A closed complaint, having no arrow out, stays closed.
fn debug_check_decided(state: &ComplaintState, command: &Command, events: &[E]) {
    if !cfg!(debug_assertions) {
        return;
    }
    let step = command.kind.name();
    debug_assert!(
        !events.is_empty(),
        "{step}: an accepted step decided no events"
    );
    let after = events.iter().fold(state.clone(), evolve);
    let id = match &command.kind {
        CommandKind::Submit(submission) => Some(&submission.id),
        _ => state.id(),
    };
    debug_assert_eq!(
        after.id(),
        id,
        "{step}: the events changed the complaint's id"
    );
    let (before, now) = (state.status, after.status);
    debug_assert!(
        now == before || now.is_some_and(|now| LIFECYCLE.contains(&(before, now))),
        "{step}: the events moved the status from {before:?} to {now:?}, which the lifecycle does not allow"
    );
}

/// One function per step, each checking in the order the module documents.
fn decide_step(state: &ComplaintState, command: &Command) -> Decision {
    require_existence(state, &command.kind)?;
    match &command.kind {
        CommandKind::Submit(submission) => submit(command, submission),
        CommandKind::Classify {
            area,
            task,
            district,
            tags,
            urgency,
        } => classify(state, command, area, *task, district, tags, *urgency),
        CommandKind::Dispatch {
            lead,
            responsible,
            rule_id,
            override_reason,
            accept_due_at,
            first_contact_due_at,
            resolve_due_at,
            liaison,
        } => {
            let dues = [*accept_due_at, *first_contact_due_at, *resolve_due_at];
            let mut events = dispatch(
                state,
                command,
                lead,
                responsible,
                rule_id,
                override_reason,
                dues,
            )?;
            events.extend(assign_liaison(state, command.at, liaison.as_ref())?);
            Ok(events)
        }
        CommandKind::Accept => accept(state, command),
        CommandKind::Return { reason } => return_assignment(state, command, reason),
        CommandKind::RecordStep {
            description,
            evidence,
            contacted_submitter,
        } => record_step(state, command, description, evidence, *contacted_submitter),
        CommandKind::RequestExtension {
            reason,
            requested_due_at,
        } => request_extension(state, command, reason, *requested_due_at),
        CommandKind::GrantExtension { due_at, note } => {
            grant_extension(state, command, *due_at, note)
        }
        CommandKind::DenyExtension { reason } => deny_extension(state, command, reason),
        CommandKind::SubmitResolution { result, evidence } => {
            submit_resolution(state, command, result, evidence)
        }
        CommandKind::VerifyResolution { note } => verify_resolution(state, command, note),
        CommandKind::RejectResolution { reason } => reject_resolution(state, command, reason),
        CommandKind::RecordCallback {
            valid,
            contacted,
            solved,
            satisfaction,
            comment,
        } => record_callback(
            state,
            command,
            *valid,
            *contacted,
            *solved,
            *satisfaction,
            comment,
        ),
        CommandKind::Reopen {
            reason,
            resolve_due_at,
        } => reopen(state, command, reason, *resolve_due_at),
        CommandKind::Close { note } => close(state, command, note),
        CommandKind::ChaseUp { note } => chase_up(state, command, note),
        CommandKind::RecordLiaisonNote { note, contacted } => {
            record_liaison_note(state, command, note, *contacted)
        }
        CommandKind::FlagSupervision { note } => flag_supervision(state, command, note),
        CommandKind::RecordAccountability { finding, units } => {
            record_accountability(command, finding, units)
        }
        CommandKind::FileAppeal { reason } => file_appeal(state, command, reason),
        CommandKind::DecideAppeal { upheld, note } => decide_appeal(state, command, *upheld, note),
        CommandKind::PauseClock { reason } => pause_clock(state, command, reason),
        CommandKind::ResumeClock { shifted } => resume_clock(state, command, shifted),
        CommandKind::WarnDeadline {
            milestone,
            level,
            due_at,
        } => warn_deadline(state, command, *milestone, *level, *due_at),
        CommandKind::LinkToLedgerItem { ledger_id, item_id } => {
            link_to_ledger_item(state, command, ledger_id, item_id)
        }
        CommandKind::RecordClassProblemFixed { ledger_id, item_id } => {
            record_class_problem_fixed(state, command, ledger_id, item_id)
        }
        CommandKind::ErasePersonalData { reason } => erase_personal_data(state, command, reason),
    }
}

/// Existence: intake needs no complaint yet, every other step needs one.
fn require_existence(state: &ComplaintState, kind: &CommandKind) -> Result<(), DomainError> {
    let intake = matches!(kind, CommandKind::Submit(_));
    match (state.status.is_some(), intake) {
        (false, true) | (true, false) => Ok(()),
        (true, true) => Err(DomainError::AlreadyExists),
        (false, false) => Err(DomainError::NotFound),
    }
}

/// 接诉: intake by the hotline, a portal or the dispatch centre, of a valid
/// submission with the submitter in clear.
fn submit(command: &Command, submission: &Submission) -> Decision {
    let role = &command.actor.role;
    if !matches!(
        role,
        Role::Hotline | Role::Portal | Role::Dispatcher | Role::Admin
    ) {
        return Err(denied(
            &command.kind,
            format!("role {} may not submit", role.name()),
        ));
    }
    check_submission(submission)?;
    Ok(vec![E::ComplaintReceived {
        at: command.at,
        submission: submission.clone(),
    }])
}

/// Triage: the dispatch centre sets the task area, district, tags and
/// urgency of a complaint not yet dispatched.
fn classify(
    state: &ComplaintState,
    command: &Command,
    area: &AreaCode,
    task: Option<u32>,
    district: &Option<DistrictCode>,
    tags: &[String],
    urgency: Urgency,
) -> Decision {
    require_dispatcher(command)?;
    require_status(state, &command.kind, &[S::Received, S::AwaitingDispatch])?;
    text::tags("tags", tags)?;
    Ok(vec![E::ComplaintClassified {
        at: command.at,
        area: area.clone(),
        task,
        district: district.clone(),
        tags: tags.to_vec(),
        urgency,
    }])
}

/// 转派: the dispatch centre assigns a classified complaint to a lead unit
/// and distinct responsible units, with due times in the future (`dues`:
/// acceptance, first contact, resolution).
fn dispatch(
    state: &ComplaintState,
    command: &Command,
    lead: &UnitCode,
    responsible: &[UnitCode],
    rule_id: &str,
    override_reason: &Option<String>,
    dues: [DateTime<Utc>; 3],
) -> Decision {
    let (kind, at) = (&command.kind, command.at);
    require_dispatcher(command)?;
    if state.status == Some(S::Received) {
        return Err(illegal_because(state, kind, "classify it first"));
    }
    require_status(state, kind, &[S::AwaitingDispatch])?;
    check_units(lead, responsible)?;
    text::required("routing_rule", rule_id, MAX_SHORT_TEXT_CHARS)?;
    text::optional(
        "override_reason",
        override_reason.as_deref(),
        MAX_NOTE_CHARS,
    )?;
    let [accept_due_at, first_contact_due_at, resolve_due_at] = dues;
    due_after("accept_due_at", accept_due_at, at)?;
    due_after("first_contact_due_at", first_contact_due_at, at)?;
    due_after("resolve_due_at", resolve_due_at, at)?;
    Ok(vec![E::ComplaintDispatched {
        at,
        lead: lead.clone(),
        responsible: responsible.to_vec(),
        rule_id: rule_id.to_owned(),
        override_reason: override_reason.clone(),
        accept_due_at,
        first_contact_due_at,
        resolve_due_at,
    }])
}

/// The units of a dispatch: not too many, the lead not among the
/// responsible units, none listed twice.
fn check_units(lead: &UnitCode, responsible: &[UnitCode]) -> Result<(), DomainError> {
    if responsible.len() > MAX_RESPONSIBLE_UNITS {
        return Err(DomainError::Invalid {
            field: "responsible_units",
            reason: format!("more than {MAX_RESPONSIBLE_UNITS} units"),
        });
    }
    if responsible.contains(lead) {
        return Err(DomainError::Invalid {
            field: "responsible_units",
            reason: format!("the lead unit {lead} cannot also be a responsible unit"),
        });
    }
    for (i, unit) in responsible.iter().enumerate() {
        if responsible[..i].contains(unit) {
            return Err(DomainError::Invalid {
                field: "responsible_units",
                reason: format!("{unit} is listed twice"),
            });
        }
    }
    Ok(())
}

/// 签收: an assigned unit accepts its assignment, once; the lead's
/// acceptance starts the handling.
fn accept(state: &ComplaintState, command: &Command) -> Decision {
    require_status(state, &command.kind, &[S::Dispatched, S::InProgress])?;
    let unit = assigned_unit(state, command)?;
    if state.accepted.contains(unit) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("unit {unit} already accepted"),
        });
    }
    Ok(vec![E::AssignmentAccepted {
        at: command.at,
        unit: unit.clone(),
    }])
}

/// 退单: the lead unit sends a misrouted complaint back to dispatch, with a
/// reason.
fn return_assignment(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    require_status(state, &command.kind, &[S::Dispatched, S::InProgress])?;
    let unit = lead_unit(state, command)?;
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    Ok(vec![E::AssignmentReturned {
        at: command.at,
        unit: unit.clone(),
        reason: reason.to_owned(),
    }])
}

/// 处办: an assigned unit that accepted records a rectification step, with
/// evidence and whether it contacted the submitter.
fn record_step(
    state: &ComplaintState,
    command: &Command,
    description: &str,
    evidence: &[String],
    contacted_submitter: bool,
) -> Decision {
    let kind = &command.kind;
    require_status(state, kind, &[S::InProgress])?;
    let unit = assigned_unit(state, command)?;
    if !state.accepted.contains(unit) {
        return Err(illegal_because(
            state,
            kind,
            &format!("unit {unit} has not accepted the assignment"),
        ));
    }
    text::required("description", description, MAX_NOTE_CHARS)?;
    text::evidence("evidence", evidence)?;
    Ok(vec![E::RectificationStepRecorded {
        at: command.at,
        unit: unit.clone(),
        description: description.to_owned(),
        evidence: evidence.to_vec(),
        contacted_submitter,
    }])
}

/// 延期 request: the lead unit asks, once at a time, for a resolve due time
/// later than the current one.
fn request_extension(
    state: &ComplaintState,
    command: &Command,
    reason: &str,
    requested_due_at: DateTime<Utc>,
) -> Decision {
    let (kind, at) = (&command.kind, command.at);
    require_status(state, kind, &[S::InProgress])?;
    let unit = lead_unit(state, command)?;
    if state.pending_extension.is_some() {
        return Err(illegal_because(
            state,
            kind,
            "an extension request is already pending",
        ));
    }
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    let current = state.deadline(Milestone::Resolve).map(|d| d.due_at);
    if current.is_some_and(|due| requested_due_at <= due) || requested_due_at <= at {
        return Err(DomainError::Invalid {
            field: "requested_due_at",
            reason: "must be later than the current resolve due time".to_owned(),
        });
    }
    Ok(vec![E::ExtensionRequested {
        at,
        unit: unit.clone(),
        reason: reason.to_owned(),
        requested_due_at,
    }])
}

/// 延期 granted: the dispatch centre grants the pending request, with the
/// requested due time or another one in the future.
fn grant_extension(
    state: &ComplaintState,
    command: &Command,
    due_at: Option<DateTime<Utc>>,
    note: &Option<String>,
) -> Decision {
    let (kind, at) = (&command.kind, command.at);
    require_dispatcher(command)?;
    require_status(state, kind, &[S::InProgress])?;
    let Some(pending) = &state.pending_extension else {
        return Err(illegal_because(
            state,
            kind,
            "no extension request is pending",
        ));
    };
    text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
    let due_at = due_at.unwrap_or(pending.requested_due_at);
    due_after("due_at", due_at, at)?;
    Ok(vec![E::ExtensionGranted {
        at,
        due_at,
        note: note.clone(),
    }])
}

/// 延期 denied: the dispatch centre refuses the pending request, with a
/// reason.
fn deny_extension(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    let kind = &command.kind;
    require_dispatcher(command)?;
    require_status(state, kind, &[S::InProgress])?;
    if state.pending_extension.is_none() {
        return Err(illegal_because(
            state,
            kind,
            "no extension request is pending",
        ));
    }
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    Ok(vec![E::ExtensionDenied {
        at: command.at,
        reason: reason.to_owned(),
    }])
}

/// 办结: the lead unit submits the result of the handling, with evidence.
fn submit_resolution(
    state: &ComplaintState,
    command: &Command,
    result: &str,
    evidence: &[String],
) -> Decision {
    require_status(state, &command.kind, &[S::InProgress])?;
    let unit = lead_unit(state, command)?;
    text::required("result", result, MAX_NOTE_CHARS)?;
    text::evidence("evidence", evidence)?;
    Ok(vec![E::ResolutionSubmitted {
        at: command.at,
        unit: unit.clone(),
        result: result.to_owned(),
        evidence: evidence.to_vec(),
    }])
}

/// 核查 passed: the dispatch centre accepts a submitted resolution.
fn verify_resolution(state: &ComplaintState, command: &Command, note: &Option<String>) -> Decision {
    require_dispatcher(command)?;
    require_status(state, &command.kind, &[S::Resolved])?;
    text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
    Ok(vec![E::ResolutionVerified {
        at: command.at,
        note: note.clone(),
    }])
}

/// 核查 failed: the dispatch centre sends a submitted resolution back to the
/// units, with a reason.
fn reject_resolution(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    require_dispatcher(command)?;
    require_status(state, &command.kind, &[S::Resolved])?;
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    Ok(vec![E::ResolutionRejected {
        at: command.at,
        reason: reason.to_owned(),
    }])
}

/// 回访: the hotline or the dispatch centre records what the submitter said
/// about a verified resolution; only a contacted submitter gives a verdict.
fn record_callback(
    state: &ComplaintState,
    command: &Command,
    valid: bool,
    contacted: bool,
    solved: bool,
    satisfaction: Option<Satisfaction>,
    comment: &Option<String>,
) -> Decision {
    let (kind, role) = (&command.kind, &command.actor.role);
    if !matches!(role, Role::Hotline | Role::Dispatcher | Role::Admin) {
        return Err(denied(
            kind,
            format!(
                "only the hotline or the dispatch centre calls back, not role {}",
                role.name()
            ),
        ));
    }
    require_status(state, kind, &[S::Verified])?;
    if contacted && satisfaction.is_none() {
        return Err(DomainError::Invalid {
            field: "satisfaction",
            reason: "required when the submitter was contacted".to_owned(),
        });
    }
    if !contacted && (satisfaction.is_some() || solved) {
        return Err(DomainError::Invalid {
            field: "satisfaction",
            reason: "a submitter who was not contacted gave no verdict".to_owned(),
        });
    }
    text::optional("comment", comment.as_deref(), MAX_NOTE_CHARS)?;
    Ok(vec![E::CallbackRecorded {
        at: command.at,
        valid,
        contacted,
        solved,
        satisfaction,
        comment: comment.clone(),
    }])
}

/// 重办: the dispatch centre reopens a complaint whose callback found the
/// problem unsolved or the submitter unsatisfied, with a new resolve due
/// time.
fn reopen(
    state: &ComplaintState,
    command: &Command,
    reason: &str,
    resolve_due_at: DateTime<Utc>,
) -> Decision {
    let (kind, at) = (&command.kind, command.at);
    require_dispatcher(command)?;
    require_status(state, kind, &[S::CalledBack])?;
    let unhappy = state.last_callback.as_ref().is_some_and(|c| c.is_unhappy());
    if !unhappy {
        return Err(illegal_because(
            state,
            kind,
            "the callback found the problem solved and the submitter satisfied",
        ));
    }
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    due_after("resolve_due_at", resolve_due_at, at)?;
    Ok(vec![E::ComplaintReopened {
        at,
        reason: reason.to_owned(),
        resolve_due_at,
    }])
}

/// 销号: the dispatch centre closes a complaint after its callback.
fn close(state: &ComplaintState, command: &Command, note: &Option<String>) -> Decision {
    require_dispatcher(command)?;
    require_status(state, &command.kind, &[S::CalledBack])?;
    text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
    Ok(vec![E::ComplaintClosed {
        at: command.at,
        note: note.clone(),
    }])
}

/// 催办: the dispatch centre or a supervisor chases up the units of an open,
/// dispatched complaint.
fn chase_up(state: &ComplaintState, command: &Command, note: &str) -> Decision {
    let (kind, role) = (&command.kind, &command.actor.role);
    if *role == Role::Liaison {
        own_liaison(state, command)?;
    } else if !(role.dispatches() || *role == Role::Supervisor) {
        return Err(denied(
            kind,
            format!("role {} may not chase up", role.name()),
        ));
    }
    require_status(state, kind, CHASEABLE)?;
    text::required("note", note, MAX_NOTE_CHARS)?;
    Ok(vec![E::ChasedUp {
        at: command.at,
        note: note.to_owned(),
    }])
}

/// The liaison found at dispatch, unless the same cadre already has the
/// complaint (a re-dispatch after a return).
fn assign_liaison(
    state: &ComplaintState,
    at: DateTime<Utc>,
    liaison: Option<&LiaisonRef>,
) -> Decision {
    let Some(liaison) = liaison else {
        return Ok(vec![]);
    };
    if state
        .liaison()
        .is_some_and(|current| current.cadre == liaison.cadre)
    {
        return Ok(vec![]);
    }
    codes::check_id("liaison.cadre", &liaison.cadre)?;
    text::required(
        "liaison.enterprise",
        &liaison.enterprise,
        MAX_SHORT_TEXT_CHARS,
    )?;
    text::required(
        "liaison.credit_code",
        &liaison.credit_code,
        MAX_SHORT_TEXT_CHARS,
    )?;
    Ok(vec![E::LiaisonAssigned {
        at,
        liaison: liaison.clone(),
    }])
}

/// The acting cadre must be the complaint's liaison.
fn own_liaison(state: &ComplaintState, command: &Command) -> Result<(), DomainError> {
    match state.liaison() {
        Some(liaison) if liaison.cadre == command.actor.principal => Ok(()),
        Some(_) => Err(denied(
            &command.kind,
            format!(
                "{} is not the liaison cadre of this complaint's enterprise",
                command.actor.principal
            ),
        )),
        None => Err(denied(
            &command.kind,
            "the complaint's enterprise has no liaison cadre",
        )),
    }
}

/// 包联: the complaint's liaison cadre records what they did.
fn record_liaison_note(
    state: &ComplaintState,
    command: &Command,
    note: &str,
    contacted: bool,
) -> Decision {
    if command.actor.role != Role::Liaison {
        return Err(denied(
            &command.kind,
            format!(
                "only the liaison cadre records liaison notes, not role {}",
                command.actor.role.name()
            ),
        ));
    }
    own_liaison(state, command)?;
    require_status(state, &command.kind, CHASEABLE)?;
    text::required("note", note, MAX_NOTE_CHARS)?;
    Ok(vec![E::LiaisonNoteRecorded {
        at: command.at,
        cadre: command.actor.principal.clone(),
        note: note.to_owned(),
        contacted,
    }])
}

/// 督办: a supervisor flags an open complaint for supervision, once.
fn flag_supervision(state: &ComplaintState, command: &Command, note: &str) -> Decision {
    let kind = &command.kind;
    if !matches!(command.actor.role, Role::Supervisor | Role::Admin) {
        return Err(denied(
            kind,
            "only supervision investigators flag supervision",
        ));
    }
    if state.status == Some(S::Closed) {
        return Err(illegal(state, kind));
    }
    if state.supervised {
        return Err(DomainError::AlreadyRecorded {
            what: "already flagged for supervision".to_owned(),
        });
    }
    text::required("note", note, MAX_NOTE_CHARS)?;
    Ok(vec![E::SupervisionFlagged {
        at: command.at,
        note: note.to_owned(),
    }])
}

/// 追责问责: a supervisor records a finding and the units held accountable,
/// in any status.
fn record_accountability(command: &Command, finding: &str, units: &[UnitCode]) -> Decision {
    if !matches!(command.actor.role, Role::Supervisor | Role::Admin) {
        return Err(denied(
            &command.kind,
            "only supervision investigators record accountability",
        ));
    }
    text::required("finding", finding, MAX_NOTE_CHARS)?;
    if units.len() > MAX_RESPONSIBLE_UNITS {
        return Err(DomainError::Invalid {
            field: "units",
            reason: format!("more than {MAX_RESPONSIBLE_UNITS} units"),
        });
    }
    Ok(vec![E::AccountabilityRecorded {
        at: command.at,
        finding: finding.to_owned(),
        units: units.to_vec(),
    }])
}

/// 申诉: an assigned unit appeals after the callback, one appeal at a time.
fn file_appeal(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    let kind = &command.kind;
    require_status(state, kind, &[S::CalledBack, S::Closed])?;
    let unit = assigned_unit(state, command)?;
    if state.pending_appeal.is_some() {
        return Err(illegal_because(state, kind, "an appeal is already pending"));
    }
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    Ok(vec![E::AppealFiled {
        at: command.at,
        unit: unit.clone(),
        reason: reason.to_owned(),
    }])
}

/// 申诉 decided: the dispatch centre upholds or dismisses the pending appeal.
fn decide_appeal(
    state: &ComplaintState,
    command: &Command,
    upheld: bool,
    note: &Option<String>,
) -> Decision {
    require_dispatcher(command)?;
    let Some(unit) = &state.pending_appeal else {
        return Err(illegal_because(
            state,
            &command.kind,
            "no appeal is pending",
        ));
    };
    text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
    Ok(vec![E::AppealDecided {
        at: command.at,
        unit: unit.clone(),
        upheld,
        note: note.clone(),
    }])
}

/// Pausing the deadline clock: the dispatch centre or the lead unit stops it
/// while the complaint is with the units and waits for something.
fn pause_clock(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    let kind = &command.kind;
    if !command.actor.role.dispatches() {
        lead_unit(state, command)?;
    }
    require_status(state, kind, &[S::Dispatched, S::InProgress])?;
    if state.paused_since.is_some() {
        return Err(illegal_because(state, kind, "the clock is already paused"));
    }
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    Ok(vec![E::ClockPaused {
        at: command.at,
        reason: reason.to_owned(),
    }])
}

/// Resuming the deadline clock: the dispatch centre or the lead unit
/// restarts it, moving open deadlines (each at most once) into the future.
fn resume_clock(
    state: &ComplaintState,
    command: &Command,
    shifted: &[(Milestone, DateTime<Utc>)],
) -> Decision {
    let at = command.at;
    if !command.actor.role.dispatches() {
        lead_unit(state, command)?;
    }
    if state.paused_since.is_none() {
        return Err(illegal_because(
            state,
            &command.kind,
            "the clock is not paused",
        ));
    }
    for (i, (milestone, due)) in shifted.iter().enumerate() {
        if shifted[..i].iter().any(|(m, _)| m == milestone) {
            return Err(DomainError::Invalid {
                field: "shifted",
                reason: format!("the {milestone:?} deadline is listed twice"),
            });
        }
        if state
            .deadline(*milestone)
            .is_none_or(|d| d.met_at.is_some())
        {
            return Err(DomainError::Invalid {
                field: "shifted",
                reason: format!("no open {milestone:?} deadline to move"),
            });
        }
        due_after("shifted", *due, at)?;
    }
    Ok(vec![E::ClockResumed {
        at,
        shifted: shifted.to_vec(),
    }])
}

/// 预警: the deadline watcher warns (yellow) about an open deadline of a
/// running clock, or records it missed (red) once it passed; each (milestone,
/// level, due time) once.
fn warn_deadline(
    state: &ComplaintState,
    command: &Command,
    milestone: Milestone,
    level: WarningLevel,
    due_at: DateTime<Utc>,
) -> Decision {
    let (kind, at) = (&command.kind, command.at);
    if !matches!(command.actor.role, Role::System | Role::Admin) {
        return Err(denied(kind, "only the deadline watcher records warnings"));
    }
    if state.status == Some(S::Closed) {
        return Err(illegal(state, kind));
    }
    if state.paused_since.is_some() {
        return Err(illegal_because(
            state,
            kind,
            "the clock is paused, so no deadline runs",
        ));
    }
    let Some(deadline) = state.deadline(milestone) else {
        return Err(illegal_because(
            state,
            kind,
            &format!("no {milestone:?} deadline"),
        ));
    };
    if deadline.met_at.is_some() {
        return Err(illegal_because(
            state,
            kind,
            &format!("the {milestone:?} deadline was met"),
        ));
    }
    if deadline.due_at != due_at {
        return Err(DomainError::Invalid {
            field: "due_at",
            reason: format!(
                "the {milestone:?} deadline is now due at {}",
                deadline.due_at
            ),
        });
    }
    if state.warned.contains(&(milestone, level, due_at)) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("{level:?} warning for {milestone:?} due at {due_at}"),
        });
    }
    if level == WarningLevel::Red && at < due_at {
        return Err(DomainError::Invalid {
            field: "level",
            reason: "a deadline is missed only once its due time has passed".to_owned(),
        });
    }
    Ok(vec![match level {
        WarningLevel::Yellow => E::DeadlineWarned {
            at,
            milestone,
            due_at,
        },
        WarningLevel::Red => E::DeadlineMissed {
            at,
            milestone,
            due_at,
        },
    }])
}

/// Linking to a ledger item: the dispatch centre links the complaint to a
/// rectification ledger item (整改台账), once per item.
fn link_to_ledger_item(
    state: &ComplaintState,
    command: &Command,
    ledger_id: &str,
    item_id: &str,
) -> Decision {
    require_dispatcher(command)?;
    text::required("ledger_id", ledger_id, MAX_SHORT_TEXT_CHARS)?;
    text::required("item_id", item_id, MAX_SHORT_TEXT_CHARS)?;
    let link = (ledger_id.to_owned(), item_id.to_owned());
    if state.ledger_links.contains(&link) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("already linked to {ledger_id}/{item_id}"),
        });
    }
    if state.ledger_links.len() >= MAX_LEDGER_LINKS {
        return Err(illegal_because(
            state,
            &command.kind,
            "too many ledger links",
        ));
    }
    Ok(vec![E::LinkedToLedgerItem {
        at: command.at,
        ledger_id: link.0,
        item_id: link.1,
    }])
}

/// The class fix: the system or the dispatch centre records, once, that a
/// linked ledger item's class problem was fixed.
fn record_class_problem_fixed(
    state: &ComplaintState,
    command: &Command,
    ledger_id: &str,
    item_id: &str,
) -> Decision {
    let (kind, role) = (&command.kind, &command.actor.role);
    if !matches!(role, Role::System | Role::Dispatcher | Role::Admin) {
        return Err(denied(
            kind,
            format!("role {} may not record a class fix", role.name()),
        ));
    }
    let link = (ledger_id.to_owned(), item_id.to_owned());
    if !state.ledger_links.contains(&link) {
        return Err(illegal_because(
            state,
            kind,
            &format!("not linked to {ledger_id}/{item_id}"),
        ));
    }
    if state.fixed_links.contains(&link) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("class fix of {ledger_id}/{item_id}"),
        });
    }
    Ok(vec![E::ClassProblemFixed {
        at: command.at,
        ledger_id: link.0,
        item_id: link.1,
    }])
}

/// Erasure of personal data (a PIPL deletion request): the dispatch centre
/// erases the submitter's data, once, in any status.
fn erase_personal_data(state: &ComplaintState, command: &Command, reason: &str) -> Decision {
    require_dispatcher(command)?;
    text::required("reason", reason, MAX_NOTE_CHARS)?;
    if state.personal_data_erased {
        return Err(DomainError::AlreadyRecorded {
            what: "erasure of the submitter's personal data".to_owned(),
        });
    }
    Ok(vec![E::PersonalDataErased {
        at: command.at,
        reason: reason.to_owned(),
    }])
}
