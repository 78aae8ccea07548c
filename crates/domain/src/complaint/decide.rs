//! `decide`: which events a command produces, or why it is refused.
//!
//! Order of checks: existence; then the role; then the status; then, for
//! unit steps, whether the acting unit is assigned (and lead where needed);
//! then the command's fields. A unit acting on a complaint in the wrong status
//! learns the status (nobody is assigned to a complaint awaiting dispatch).

use chrono::{DateTime, Utc};

use super::{
    Command, CommandKind, ComplaintEvent as E, ComplaintState, ComplaintStatus as S,
    MAX_LEDGER_LINKS, MAX_RESPONSIBLE_UNITS, Milestone, Submission, WarningLevel,
};
use crate::text::{
    self, MAX_COMPLAINT_TEXT_CHARS, MAX_NAME_CHARS, MAX_NOTE_CHARS, MAX_PHONE_CHARS,
    MAX_SHORT_TEXT_CHARS, MAX_TITLE_CHARS,
};
use crate::{DomainError, Role, UnitCode};

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
    let kind = &command.kind;
    let at = command.at;
    let role = &command.actor.role;
    match (state.status, kind) {
        (None, CommandKind::Submit(_)) => {}
        (Some(_), CommandKind::Submit(_)) => return Err(DomainError::AlreadyExists),
        (None, _) => return Err(DomainError::NotFound),
        (Some(_), _) => {}
    }
    match kind {
        CommandKind::Submit(submission) => {
            if !matches!(
                role,
                Role::Hotline | Role::Portal | Role::Dispatcher | Role::Admin
            ) {
                return Err(denied(kind, format!("role {} may not submit", role.name())));
            }
            check_submission(submission)?;
            Ok(vec![E::ComplaintReceived {
                at,
                submission: submission.clone(),
            }])
        }
        CommandKind::Classify {
            area,
            task,
            district,
            tags,
            urgency,
        } => {
            require_dispatcher(command)?;
            require_status(state, kind, &[S::Received, S::AwaitingDispatch])?;
            text::tags("tags", tags)?;
            Ok(vec![E::ComplaintClassified {
                at,
                area: area.clone(),
                task: *task,
                district: district.clone(),
                tags: tags.clone(),
                urgency: *urgency,
            }])
        }
        CommandKind::Dispatch {
            lead,
            responsible,
            rule_id,
            override_reason,
            accept_due_at,
            first_contact_due_at,
            resolve_due_at,
        } => {
            require_dispatcher(command)?;
            if state.status == Some(S::Received) {
                return Err(illegal_because(state, kind, "classify it first"));
            }
            require_status(state, kind, &[S::AwaitingDispatch])?;
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
            text::required("routing_rule", rule_id, MAX_SHORT_TEXT_CHARS)?;
            text::optional(
                "override_reason",
                override_reason.as_deref(),
                MAX_NOTE_CHARS,
            )?;
            due_after("accept_due_at", *accept_due_at, at)?;
            due_after("first_contact_due_at", *first_contact_due_at, at)?;
            due_after("resolve_due_at", *resolve_due_at, at)?;
            Ok(vec![E::ComplaintDispatched {
                at,
                lead: lead.clone(),
                responsible: responsible.clone(),
                rule_id: rule_id.clone(),
                override_reason: override_reason.clone(),
                accept_due_at: *accept_due_at,
                first_contact_due_at: *first_contact_due_at,
                resolve_due_at: *resolve_due_at,
            }])
        }
        CommandKind::Accept => {
            require_status(state, kind, &[S::Dispatched, S::InProgress])?;
            let unit = assigned_unit(state, command)?;
            if state.accepted.contains(unit) {
                return Err(DomainError::AlreadyRecorded {
                    what: format!("unit {unit} already accepted"),
                });
            }
            Ok(vec![E::AssignmentAccepted {
                at,
                unit: unit.clone(),
            }])
        }
        CommandKind::Return { reason } => {
            require_status(state, kind, &[S::Dispatched, S::InProgress])?;
            let unit = lead_unit(state, command)?;
            text::required("reason", reason, MAX_NOTE_CHARS)?;
            Ok(vec![E::AssignmentReturned {
                at,
                unit: unit.clone(),
                reason: reason.clone(),
            }])
        }
        CommandKind::RecordStep {
            description,
            evidence: refs,
            contacted_submitter,
        } => {
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
            text::evidence("evidence", refs)?;
            Ok(vec![E::RectificationStepRecorded {
                at,
                unit: unit.clone(),
                description: description.clone(),
                evidence: refs.clone(),
                contacted_submitter: *contacted_submitter,
            }])
        }
        CommandKind::RequestExtension {
            reason,
            requested_due_at,
        } => {
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
            if current.is_some_and(|due| *requested_due_at <= due) || *requested_due_at <= at {
                return Err(DomainError::Invalid {
                    field: "requested_due_at",
                    reason: "must be later than the current resolve due time".to_owned(),
                });
            }
            Ok(vec![E::ExtensionRequested {
                at,
                unit: unit.clone(),
                reason: reason.clone(),
                requested_due_at: *requested_due_at,
            }])
        }
        CommandKind::GrantExtension { due_at, note } => {
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
        CommandKind::DenyExtension { reason } => {
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
                at,
                reason: reason.clone(),
            }])
        }
        CommandKind::SubmitResolution {
            result,
            evidence: refs,
        } => {
            require_status(state, kind, &[S::InProgress])?;
            let unit = lead_unit(state, command)?;
            text::required("result", result, MAX_NOTE_CHARS)?;
            text::evidence("evidence", refs)?;
            Ok(vec![E::ResolutionSubmitted {
                at,
                unit: unit.clone(),
                result: result.clone(),
                evidence: refs.clone(),
            }])
        }
        CommandKind::VerifyResolution { note } => {
            require_dispatcher(command)?;
            require_status(state, kind, &[S::Resolved])?;
            text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
            Ok(vec![E::ResolutionVerified {
                at,
                note: note.clone(),
            }])
        }
        CommandKind::RejectResolution { reason } => {
            require_dispatcher(command)?;
            require_status(state, kind, &[S::Resolved])?;
            text::required("reason", reason, MAX_NOTE_CHARS)?;
            Ok(vec![E::ResolutionRejected {
                at,
                reason: reason.clone(),
            }])
        }
        CommandKind::RecordCallback {
            valid,
            contacted,
            solved,
            satisfaction,
            comment,
        } => {
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
            if *contacted && satisfaction.is_none() {
                return Err(DomainError::Invalid {
                    field: "satisfaction",
                    reason: "required when the submitter was contacted".to_owned(),
                });
            }
            if !*contacted && (satisfaction.is_some() || *solved) {
                return Err(DomainError::Invalid {
                    field: "satisfaction",
                    reason: "a submitter who was not contacted gave no verdict".to_owned(),
                });
            }
            text::optional("comment", comment.as_deref(), MAX_NOTE_CHARS)?;
            Ok(vec![E::CallbackRecorded {
                at,
                valid: *valid,
                contacted: *contacted,
                solved: *solved,
                satisfaction: *satisfaction,
                comment: comment.clone(),
            }])
        }
        CommandKind::Reopen {
            reason,
            resolve_due_at,
        } => {
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
            due_after("resolve_due_at", *resolve_due_at, at)?;
            Ok(vec![E::ComplaintReopened {
                at,
                reason: reason.clone(),
                resolve_due_at: *resolve_due_at,
            }])
        }
        CommandKind::Close { note } => {
            require_dispatcher(command)?;
            require_status(state, kind, &[S::CalledBack])?;
            text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
            Ok(vec![E::ComplaintClosed {
                at,
                note: note.clone(),
            }])
        }
        CommandKind::ChaseUp { note } => {
            if !(role.dispatches() || *role == Role::Supervisor) {
                return Err(denied(
                    kind,
                    format!("role {} may not chase up", role.name()),
                ));
            }
            require_status(state, kind, CHASEABLE)?;
            text::required("note", note, MAX_NOTE_CHARS)?;
            Ok(vec![E::ChasedUp {
                at,
                note: note.clone(),
            }])
        }
        CommandKind::FlagSupervision { note } => {
            if !matches!(role, Role::Supervisor | Role::Admin) {
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
                at,
                note: note.clone(),
            }])
        }
        CommandKind::RecordAccountability { finding, units } => {
            if !matches!(role, Role::Supervisor | Role::Admin) {
                return Err(denied(
                    kind,
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
                at,
                finding: finding.clone(),
                units: units.clone(),
            }])
        }
        CommandKind::FileAppeal { reason } => {
            require_status(state, kind, &[S::CalledBack, S::Closed])?;
            let unit = assigned_unit(state, command)?;
            if state.pending_appeal.is_some() {
                return Err(illegal_because(state, kind, "an appeal is already pending"));
            }
            text::required("reason", reason, MAX_NOTE_CHARS)?;
            Ok(vec![E::AppealFiled {
                at,
                unit: unit.clone(),
                reason: reason.clone(),
            }])
        }
        CommandKind::DecideAppeal { upheld, note } => {
            require_dispatcher(command)?;
            let Some(unit) = &state.pending_appeal else {
                return Err(illegal_because(state, kind, "no appeal is pending"));
            };
            text::optional("note", note.as_deref(), MAX_NOTE_CHARS)?;
            Ok(vec![E::AppealDecided {
                at,
                unit: unit.clone(),
                upheld: *upheld,
                note: note.clone(),
            }])
        }
        CommandKind::PauseClock { reason } => {
            if !role.dispatches() {
                lead_unit(state, command)?;
            }
            require_status(state, kind, &[S::Dispatched, S::InProgress])?;
            if state.paused_since.is_some() {
                return Err(illegal_because(state, kind, "the clock is already paused"));
            }
            text::required("reason", reason, MAX_NOTE_CHARS)?;
            Ok(vec![E::ClockPaused {
                at,
                reason: reason.clone(),
            }])
        }
        CommandKind::ResumeClock { shifted } => {
            if !role.dispatches() {
                lead_unit(state, command)?;
            }
            if state.paused_since.is_none() {
                return Err(illegal_because(state, kind, "the clock is not paused"));
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
                shifted: shifted.clone(),
            }])
        }
        CommandKind::WarnDeadline {
            milestone,
            level,
            due_at,
        } => {
            if !matches!(role, Role::System | Role::Admin) {
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
            let Some(deadline) = state.deadline(*milestone) else {
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
            if deadline.due_at != *due_at {
                return Err(DomainError::Invalid {
                    field: "due_at",
                    reason: format!(
                        "the {milestone:?} deadline is now due at {}",
                        deadline.due_at
                    ),
                });
            }
            if state.warned.contains(&(*milestone, *level, *due_at)) {
                return Err(DomainError::AlreadyRecorded {
                    what: format!("{level:?} warning for {milestone:?} due at {due_at}"),
                });
            }
            if *level == WarningLevel::Red && at < *due_at {
                return Err(DomainError::Invalid {
                    field: "level",
                    reason: "a deadline is missed only once its due time has passed".to_owned(),
                });
            }
            Ok(vec![match level {
                WarningLevel::Yellow => E::DeadlineWarned {
                    at,
                    milestone: *milestone,
                    due_at: *due_at,
                },
                WarningLevel::Red => E::DeadlineMissed {
                    at,
                    milestone: *milestone,
                    due_at: *due_at,
                },
            }])
        }
        CommandKind::LinkToLedgerItem { ledger_id, item_id } => {
            require_dispatcher(command)?;
            text::required("ledger_id", ledger_id, MAX_SHORT_TEXT_CHARS)?;
            text::required("item_id", item_id, MAX_SHORT_TEXT_CHARS)?;
            let link = (ledger_id.clone(), item_id.clone());
            if state.ledger_links.contains(&link) {
                return Err(DomainError::AlreadyRecorded {
                    what: format!("already linked to {ledger_id}/{item_id}"),
                });
            }
            if state.ledger_links.len() >= MAX_LEDGER_LINKS {
                return Err(illegal_because(state, kind, "too many ledger links"));
            }
            Ok(vec![E::LinkedToLedgerItem {
                at,
                ledger_id: ledger_id.clone(),
                item_id: item_id.clone(),
            }])
        }
        CommandKind::RecordClassProblemFixed { ledger_id, item_id } => {
            if !matches!(role, Role::System | Role::Dispatcher | Role::Admin) {
                return Err(denied(
                    kind,
                    format!("role {} may not record a class fix", role.name()),
                ));
            }
            let link = (ledger_id.clone(), item_id.clone());
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
                at,
                ledger_id: ledger_id.clone(),
                item_id: item_id.clone(),
            }])
        }
        CommandKind::ErasePersonalData { reason } => {
            require_dispatcher(command)?;
            text::required("reason", reason, MAX_NOTE_CHARS)?;
            if state.personal_data_erased {
                return Err(DomainError::AlreadyRecorded {
                    what: "erasure of the submitter's personal data".to_owned(),
                });
            }
            Ok(vec![E::PersonalDataErased {
                at,
                reason: reason.clone(),
            }])
        }
    }
}
