//! Conversions at the protobuf edge: wire enums and timestamps to domain
//! types (rejecting unknown values with `INVALID_ARGUMENT`), domain state and
//! stored events to replies, and the complaint aggregate's binding to the log.
//!
//! Personal data is masked here for callers that may not see it: a masked
//! phone keeps its first three and last four digits (138****5678).

use chrono::{DateTime, Utc};
use rectify_catalog::{Area, AreaSuggestion, CatalogError};
use rectify_domain::{
    AreaCode, DistrictCode, DomainError, UnitCode,
    complaint::{
        self, Channel, ComplaintEvent, ComplaintKind, ComplaintState, ComplaintStatus, Milestone,
        Satisfaction, Urgency, WarningLevel,
    },
};
use rectify_eventlog::RecordedEvent;

use crate::{
    app::{Aggregate, Executed},
    error::ServiceError,
    pb,
};

/// Binds the complaint decider to its streams in the log.
#[derive(Debug, Clone, Copy)]
pub struct ComplaintAggregate;

impl Aggregate for ComplaintAggregate {
    type State = ComplaintState;
    type Command = complaint::Command;
    type Event = ComplaintEvent;

    fn stream_name(id: &str) -> String {
        format!("complaint-{id}")
    }

    fn decide(
        state: &ComplaintState,
        command: &complaint::Command,
    ) -> Result<Vec<ComplaintEvent>, ServiceError> {
        complaint::decide(state, command).map_err(|error| domain_error(error, state))
    }

    fn evolve(state: ComplaintState, event: &ComplaintEvent) -> ComplaintState {
        complaint::evolve(state, event)
    }

    /// The submitter of `ComplaintReceived` is sealed under a new data key,
    /// which becomes the stream's secret; `PersonalDataErased` destroys it.
    fn seal(
        vault: &crate::vault::Vault,
        stream: &str,
        event: &ComplaintEvent,
    ) -> Result<Option<(ComplaintEvent, rectify_eventlog::SecretChange)>, ServiceError> {
        use rectify_eventlog::SecretChange;
        match event {
            ComplaintEvent::ComplaintReceived { at, submission } => {
                let Some(submitter) = &submission.submitter else {
                    return Ok(None);
                };
                let (token, secret) = vault
                    .seal(stream, submitter)
                    .map_err(|e| ServiceError::Internal(format!("sealing personal data: {e}")))?;
                let sealed = ComplaintEvent::ComplaintReceived {
                    at: *at,
                    submission: complaint::Submission {
                        submitter: None,
                        sealed_submitter: Some(token),
                        ..submission.clone()
                    },
                };
                Ok(Some((sealed, SecretChange::Set(secret))))
            }
            ComplaintEvent::PersonalDataErased { .. } => {
                Ok(Some((event.clone(), SecretChange::Destroy)))
            }
            _ => Ok(None),
        }
    }

    fn encode(event: &ComplaintEvent) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn decode(stored: &RecordedEvent) -> Result<ComplaintEvent, ServiceError> {
        ComplaintEvent::decode(&stored.event_type, stored.schema_version, &stored.payload).map_err(
            |error| {
                ServiceError::Internal(format!(
                    "cannot decode event at position {}: {error}",
                    stored.position
                ))
            },
        )
    }
}

/// The rectification ledger as an aggregate of the app layer.
#[derive(Debug)]
pub struct LedgerAggregate;

impl Aggregate for LedgerAggregate {
    type State = rectify_domain::ledger::LedgerState;
    type Command = rectify_domain::ledger::LedgerCommand;
    type Event = rectify_domain::ledger::LedgerEvent;

    fn stream_name(id: &str) -> String {
        rectify_domain::ledger::stream_name(id)
    }

    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, ServiceError> {
        rectify_domain::ledger::decide(state, command)
            .map_err(|error| rejection(error, state.status_name(), "ledger"))
    }

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State {
        rectify_domain::ledger::evolve(state, event)
    }

    fn encode(event: &Self::Event) -> (&'static str, u32, Vec<u8>) {
        event.encode()
    }

    fn decode(stored: &RecordedEvent) -> Result<Self::Event, ServiceError> {
        rectify_domain::ledger::LedgerEvent::decode(
            &stored.event_type,
            stored.schema_version,
            &stored.payload,
        )
        .map_err(|error| {
            ServiceError::Internal(format!(
                "cannot decode event at position {}: {error}",
                stored.position
            ))
        })
    }
}

/// Maps a domain rejection to the service error of its kind.
pub fn domain_error(error: DomainError, state: &ComplaintState) -> ServiceError {
    rejection(error, state.status_name(), "complaint")
}

/// Maps a domain rejection of an aggregate in `status` (of kind `what`).
fn rejection(error: DomainError, status: &str, what: &'static str) -> ServiceError {
    let message = error.to_string();
    match error {
        DomainError::Invalid { field, reason } => ServiceError::invalid(field, reason),
        DomainError::NotPermitted { .. } => ServiceError::PermissionDenied(message),
        DomainError::NotFound => ServiceError::NotFound {
            what,
            id: String::new(),
        },
        DomainError::AlreadyExists => ServiceError::FailedPrecondition {
            kind: "EXISTS",
            subject: status.to_owned(),
            message,
        },
        DomainError::AlreadyRecorded { .. } => ServiceError::FailedPrecondition {
            kind: "ALREADY_RECORDED",
            subject: status.to_owned(),
            message,
        },
        DomainError::IllegalTransition { .. } => ServiceError::FailedPrecondition {
            kind: "STATUS",
            subject: status.to_owned(),
            message,
        },
        DomainError::Rejected { subject, .. } => ServiceError::FailedPrecondition {
            kind: "STATE",
            subject,
            message,
        },
        DomainError::Missing { what: missing, id } => ServiceError::NotFound { what: missing, id },
    }
}

/// Maps a catalog error (unknown area, district, unit; calendar gaps).
pub fn catalog_error(error: CatalogError) -> ServiceError {
    let message = error.to_string();
    match error {
        CatalogError::UnknownArea(_) => ServiceError::invalid("area", message),
        CatalogError::UnknownDistrict(_) => ServiceError::invalid("district", message),
        CatalogError::UnknownUnit { .. } => ServiceError::invalid("unit", message),
        CatalogError::UnknownTask { .. } => ServiceError::invalid("task", message),
        CatalogError::NotAssignable { .. } | CatalogError::DuplicateAssignment { .. } => {
            ServiceError::invalid("responsible_units", message)
        }
        _ => ServiceError::Internal(message),
    }
}

/// A protobuf timestamp.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp as an instant; `None` when out of range.
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(t.nanos).ok()?;
    DateTime::from_timestamp(t.seconds, nanos)
}

fn from_millis(ms: i64) -> Option<prost_types::Timestamp> {
    DateTime::from_timestamp_millis(ms).map(timestamp)
}

macro_rules! wire_enum {
    ($name:ident, $field:literal, $pb:ty, $domain:ty, { $($pbv:ident => $dv:ident),+ $(,)? }) => {
        /// Validates a wire value: unknown and unspecified values are rejected.
        pub fn $name(raw: i32) -> Result<$domain, ServiceError> {
            match <$pb>::try_from(raw) {
                $(Ok(<$pb>::$pbv) => Ok(<$domain>::$dv),)+
                Ok(_) => Err(ServiceError::invalid($field, "required")),
                Err(_) => Err(ServiceError::invalid($field, format!("unknown value {raw}"))),
            }
        }
    };
}

wire_enum!(channel, "channel", pb::Channel, Channel, {
    Hotline12345 => Hotline12345,
    MengsubanApp => MengSuBanApp,
    Wechat => WeChat,
    WebPortal => WebPortal,
    QrCode => QrCode,
    ExperienceOfficer => ExperienceOfficer,
    SupervisionInspection => SupervisionInspection,
    Other => Other,
});

wire_enum!(complaint_kind, "kind", pb::ComplaintKind, ComplaintKind, {
    Complaint => Complaint,
    Consultation => Consultation,
    Suggestion => Suggestion,
    Report => Report,
    Praise => Praise,
});

wire_enum!(urgency, "urgency", pb::Urgency, Urgency, {
    Emergency => Emergency,
    Urgent => Urgent,
    Normal => Normal,
    Complex => Complex,
});

wire_enum!(satisfaction, "satisfaction", pb::Satisfaction, Satisfaction, {
    Satisfied => Satisfied,
    BasicallySatisfied => BasicallySatisfied,
    Unsatisfied => Unsatisfied,
});

/// The catalog's urgency for the deadline policy (unclassified = normal).
pub fn catalog_urgency(urgency: Option<Urgency>) -> rectify_catalog::Urgency {
    match urgency {
        Some(Urgency::Emergency) => rectify_catalog::Urgency::Emergency,
        Some(Urgency::Urgent) => rectify_catalog::Urgency::Urgent,
        Some(Urgency::Complex) => rectify_catalog::Urgency::Complex,
        Some(Urgency::Normal) | None => rectify_catalog::Urgency::Normal,
    }
}

fn status_pb(status: Option<ComplaintStatus>) -> pb::ComplaintStatus {
    match status {
        None => pb::ComplaintStatus::Unspecified,
        Some(ComplaintStatus::Received) => pb::ComplaintStatus::Received,
        Some(ComplaintStatus::AwaitingDispatch) => pb::ComplaintStatus::AwaitingDispatch,
        Some(ComplaintStatus::Dispatched) => pb::ComplaintStatus::Dispatched,
        Some(ComplaintStatus::InProgress) => pb::ComplaintStatus::InProgress,
        Some(ComplaintStatus::Resolved) => pb::ComplaintStatus::Resolved,
        Some(ComplaintStatus::Verified) => pb::ComplaintStatus::Verified,
        Some(ComplaintStatus::CalledBack) => pb::ComplaintStatus::CalledBack,
        Some(ComplaintStatus::Closed) => pb::ComplaintStatus::Closed,
    }
}

fn channel_pb(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Hotline12345 => pb::Channel::Hotline12345,
        Channel::MengSuBanApp => pb::Channel::MengsubanApp,
        Channel::WeChat => pb::Channel::Wechat,
        Channel::WebPortal => pb::Channel::WebPortal,
        Channel::QrCode => pb::Channel::QrCode,
        Channel::ExperienceOfficer => pb::Channel::ExperienceOfficer,
        Channel::SupervisionInspection => pb::Channel::SupervisionInspection,
        Channel::Other => pb::Channel::Other,
    }
}

fn kind_pb(kind: ComplaintKind) -> pb::ComplaintKind {
    match kind {
        ComplaintKind::Complaint => pb::ComplaintKind::Complaint,
        ComplaintKind::Consultation => pb::ComplaintKind::Consultation,
        ComplaintKind::Suggestion => pb::ComplaintKind::Suggestion,
        ComplaintKind::Report => pb::ComplaintKind::Report,
        ComplaintKind::Praise => pb::ComplaintKind::Praise,
    }
}

fn urgency_pb(urgency: Urgency) -> pb::Urgency {
    match urgency {
        Urgency::Emergency => pb::Urgency::Emergency,
        Urgency::Urgent => pb::Urgency::Urgent,
        Urgency::Normal => pb::Urgency::Normal,
        Urgency::Complex => pb::Urgency::Complex,
    }
}

fn satisfaction_pb(satisfaction: Satisfaction) -> pb::Satisfaction {
    match satisfaction {
        Satisfaction::Satisfied => pb::Satisfaction::Satisfied,
        Satisfaction::BasicallySatisfied => pb::Satisfaction::BasicallySatisfied,
        Satisfaction::Unsatisfied => pb::Satisfaction::Unsatisfied,
    }
}

fn milestone_pb(milestone: Milestone) -> pb::Milestone {
    match milestone {
        Milestone::Dispatch => pb::Milestone::Dispatch,
        Milestone::Accept => pb::Milestone::Accept,
        Milestone::FirstContact => pb::Milestone::FirstContact,
        Milestone::Resolve => pb::Milestone::Resolve,
    }
}

fn warning_pb(level: Option<WarningLevel>) -> pb::WarningLevel {
    match level {
        None => pb::WarningLevel::None,
        Some(WarningLevel::Yellow) => pb::WarningLevel::Yellow,
        Some(WarningLevel::Red) => pb::WarningLevel::Red,
    }
}

/// The reply of a successful command.
pub fn command_result(id: &str, done: &Executed<ComplaintState>) -> pb::CommandResult {
    pb::CommandResult {
        id: id.to_owned(),
        version: done.version,
        position: done.position,
        deduplicated: done.deduplicated,
        status: status_pb(done.state.status()) as i32,
    }
}

/// 138****5678: keeps the first three and last four characters.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// 王**: keeps the family name (the first character).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// Keeps only the last four characters of an ID number.
pub fn mask_id_number(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let keep = chars.len().min(4);
    format!(
        "{}{}",
        "*".repeat(chars.len() - keep),
        chars[chars.len() - keep..].iter().collect::<String>()
    )
}

fn submitter_pb(submitter: &complaint::Submitter, personal_data: bool) -> pb::Submitter {
    if personal_data {
        pb::Submitter {
            name: submitter.name.clone(),
            phone: submitter.phone.clone(),
            id_number: submitter.id_number.clone().unwrap_or_default(),
        }
    } else {
        pb::Submitter {
            name: mask_name(&submitter.name),
            phone: mask_phone(&submitter.phone),
            id_number: submitter
                .id_number
                .as_deref()
                .map(mask_id_number)
                .unwrap_or_default(),
        }
    }
}

/// The view of a complaint; personal data masked unless `personal_data`.
pub fn complaint_view(
    state: &ComplaintState,
    version: u64,
    personal_data: bool,
) -> pb::ComplaintView {
    let deadlines = state
        .deadlines()
        .iter()
        .map(|d| pb::Deadline {
            milestone: milestone_pb(d.milestone) as i32,
            due_at: Some(timestamp(d.due_at)),
            met_at: d.met_at.map(timestamp),
            warning: warning_pb(d.warning) as i32,
        })
        .collect();
    let state_json = serde_json::to_value(state)
        .map(|mut value| {
            if let Some(submission) = value
                .get_mut("submission")
                .and_then(serde_json::Value::as_object_mut)
            {
                submission.remove("sealed_submitter");
                if !personal_data && let Some(submitter) = submission.get_mut("submitter") {
                    *submitter = serde_json::Value::String("(masked)".to_owned());
                }
            }
            value.to_string()
        })
        .unwrap_or_default();
    pb::ComplaintView {
        complaint_id: state
            .id()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        version,
        status: status_pb(state.status()) as i32,
        channel: state.channel().map_or(0, |c| channel_pb(c) as i32),
        kind: state.kind().map_or(0, |k| kind_pb(k) as i32),
        submitter: state.submitter().map(|s| submitter_pb(s, personal_data)),
        enterprise: state.enterprise().unwrap_or_default().to_owned(),
        district: state
            .district()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        location: state.location().unwrap_or_default().to_owned(),
        title: state.title().to_owned(),
        text: state.text().to_owned(),
        external_ref: state.external_ref().unwrap_or_default().to_owned(),
        area: state
            .area()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default(),
        task: state.task().unwrap_or(0),
        urgency: state.urgency().map_or(0, |u| urgency_pb(u) as i32),
        tags: state.tags().to_vec(),
        lead_unit: state
            .lead_unit()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
        responsible_units: state
            .responsible_units()
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        routing_rule: state.routing_rule().unwrap_or_default().to_owned(),
        accepted_units: state
            .accepted_units()
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        deadlines,
        return_count: state.return_count(),
        extension_count: state.extension_count(),
        reopen_count: state.reopen_count(),
        paused: state.paused_since().is_some(),
        supervised: state.supervised(),
        satisfaction: state
            .satisfaction()
            .map_or(0, |s| satisfaction_pb(s) as i32),
        received_at: state.received_at().map(timestamp),
        closed_at: state.closed_at().map(timestamp),
        ledger_items: state
            .ledger_links()
            .iter()
            .map(|(ledger, item)| format!("{ledger}/{item}"))
            .collect(),
        state_json,
        personal_data_erased: state.personal_data_erased(),
    }
}

/// A `ComplaintReceived` payload for a reply: the sealed token removed and
/// the submitter (opened by the caller; `None` when erased) shown in clear or
/// masked. Other payloads are returned as stored.
fn reply_payload(
    event_type: &str,
    payload: &[u8],
    submitter: Option<&complaint::Submitter>,
    personal_data: bool,
) -> String {
    if event_type != "ComplaintReceived" {
        return String::from_utf8_lossy(payload).into_owned();
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return "(undecodable)".to_owned();
    };
    if let Some(submission) = value
        .get_mut("submission")
        .and_then(serde_json::Value::as_object_mut)
    {
        submission.remove("sealed_submitter");
        match submitter {
            Some(submitter) => {
                let shown = submitter_pb(submitter, personal_data);
                submission.insert(
                    "submitter".to_owned(),
                    serde_json::json!({
                        "name": shown.name,
                        "phone": shown.phone,
                        "id_number": (!shown.id_number.is_empty()).then_some(shown.id_number),
                    }),
                );
            }
            None => {
                submission.remove("submitter");
            }
        }
    }
    value.to_string()
}

/// A stored event for a reply. `submitter` is the opened submitter of a
/// `ComplaintReceived` event (ignored for other events), shown in clear only
/// when `personal_data`.
pub fn event_to_pb(
    event: &RecordedEvent,
    submitter: Option<&complaint::Submitter>,
    personal_data: bool,
) -> pb::Event {
    pb::Event {
        position: event.position,
        stream: event.stream.clone(),
        version: event.version,
        event_id: event.id.to_string(),
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        payload_json: reply_payload(&event.event_type, &event.payload, submitter, personal_data),
        recorded_at: from_millis(event.metadata.recorded_at_ms),
        actor: event.metadata.actor.clone().unwrap_or_default(),
        request_id: event.metadata.request_id.clone().unwrap_or_default(),
        correlation_id: event.metadata.correlation_id.clone().unwrap_or_default(),
        hash: event.hash.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Whether a log reader in `actor`'s role sees personal data (hotline,
/// dispatcher, admin).
pub fn log_reader_sees_personal_data(actor: &rectify_domain::Actor) -> bool {
    use rectify_domain::Role;
    matches!(actor.role, Role::Hotline | Role::Dispatcher | Role::Admin)
}

/// The verification report as the CLI prints it.
pub fn verify_report(report: &rectify_eventlog::VerifyReport) -> crate::server::VerifyReport {
    match &report.first_broken {
        None => crate::server::VerifyReport {
            ok: true,
            events_checked: report.events_checked,
            first_bad_position: 0,
            reason: String::new(),
        },
        Some((position, reason)) => crate::server::VerifyReport {
            ok: false,
            events_checked: report.events_checked,
            first_bad_position: *position,
            reason: reason.clone(),
        },
    }
}

/// The verification report as the API returns it.
pub fn verify_report_to_pb(report: &rectify_eventlog::VerifyReport) -> pb::VerifyLogResponse {
    let report = verify_report(report);
    pb::VerifyLogResponse {
        ok: report.ok,
        events_checked: report.events_checked,
        first_bad_position: report.first_bad_position,
        reason: report.reason,
    }
}

/// A catalog area with its tasks.
pub fn area_to_pb(area: &Area) -> pb::Area {
    pb::Area {
        code: area.code.clone(),
        number: area.number,
        name: area.name.clone(),
        working_group: area.working_group.clone(),
        city_only: area.city_only,
        tasks: area
            .tasks
            .iter()
            .map(|task| pb::Task {
                number: task.number,
                title: task.title.clone(),
                lead: task.lead.clone(),
                responsible: task.responsible.clone(),
                commitments: task.commitments.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    }
}

/// A classifier suggestion.
pub fn suggestion_to_pb(suggestion: &AreaSuggestion) -> pb::AreaSuggestion {
    pb::AreaSuggestion {
        area: suggestion.area.clone(),
        name: suggestion.name.clone(),
        score: suggestion.score,
    }
}

// ---- Read models (QueryService) ----

/// A ledger row on the wire; `now` decides `overdue`.
pub fn ledger_row_to_pb(row: &rectify_projections::LedgerRow, now: DateTime<Utc>) -> pb::LedgerRow {
    pb::LedgerRow {
        complaint_id: row.id.clone(),
        status: status_pb(Some(row.status)) as i32,
        channel: channel_pb(row.channel) as i32,
        kind: kind_pb(row.kind) as i32,
        title: row.title.clone(),
        area: row.area.clone().unwrap_or_default(),
        task: row.task.unwrap_or_default(),
        district: row.district.clone().unwrap_or_default(),
        urgency: row.urgency.map_or(0, |u| urgency_pb(u) as i32),
        lead_unit: row.lead.clone().unwrap_or_default(),
        responsible_units: row.responsible.clone(),
        accepted_units: row.accepted.clone(),
        received_at: Some(timestamp(row.received_at)),
        dispatched_at: row.dispatched_at().map(timestamp),
        resolve_due_at: row.resolve_due_at().map(timestamp),
        next_due_at: row.next_due_at().map(timestamp),
        resolved_at: row.resolved_at.map(timestamp),
        closed_at: row.closed_at.map(timestamp),
        overdue: row.is_overdue(now),
        warning: warning_pb(row.warning_level()) as i32,
        extension_count: row.extension_count(),
        return_count: row.return_count(),
        reopen_count: row.reopen_count(),
        satisfaction: row.satisfaction().map_or(0, |s| satisfaction_pb(s) as i32),
        supervised: row.supervised,
        paused: row.paused,
        version: row.version,
        position: row.position,
        ledger_items: row.ledger_items.clone(),
    }
}

fn status_from_pb(raw: i32) -> Result<ComplaintStatus, ServiceError> {
    use pb::ComplaintStatus as P;
    match P::try_from(raw) {
        Ok(P::Received) => Ok(ComplaintStatus::Received),
        Ok(P::AwaitingDispatch) => Ok(ComplaintStatus::AwaitingDispatch),
        Ok(P::Dispatched) => Ok(ComplaintStatus::Dispatched),
        Ok(P::InProgress) => Ok(ComplaintStatus::InProgress),
        Ok(P::Resolved) => Ok(ComplaintStatus::Resolved),
        Ok(P::Verified) => Ok(ComplaintStatus::Verified),
        Ok(P::CalledBack) => Ok(ComplaintStatus::CalledBack),
        Ok(P::Closed) => Ok(ComplaintStatus::Closed),
        Ok(P::Unspecified) => Err(ServiceError::invalid(
            "filter.statuses",
            "UNSPECIFIED is not a status",
        )),
        Err(_) => Err(ServiceError::invalid(
            "filter.statuses",
            format!("unknown value {raw}"),
        )),
    }
}

/// An optional filter code, checked by the domain's own code type.
fn optional_code<C>(
    field: &str,
    raw: &str,
    parse: impl Fn(&str) -> Result<C, DomainError>,
) -> Result<Option<String>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    parse(raw).map_err(|error| ServiceError::invalid(field, error.to_string()))?;
    Ok(Some(raw.to_owned()))
}

/// A ledger filter from the wire, validated.
pub fn ledger_filter(
    filter: Option<pb::LedgerFilter>,
) -> Result<rectify_projections::LedgerFilter, ServiceError> {
    let filter = filter.unwrap_or_default();
    let statuses = filter
        .statuses
        .iter()
        .map(|raw| status_from_pb(*raw))
        .collect::<Result<Vec<_>, _>>()?;
    let channel = match filter.channel {
        0 => None,
        raw => Some(channel(raw).map_err(|_| {
            ServiceError::invalid("filter.channel", format!("unknown value {raw}"))
        })?),
    };
    let min_warning = match pb::WarningLevel::try_from(filter.min_warning) {
        Ok(pb::WarningLevel::Unspecified | pb::WarningLevel::None) => None,
        Ok(pb::WarningLevel::Yellow) => Some(WarningLevel::Yellow),
        Ok(pb::WarningLevel::Red) => Some(WarningLevel::Red),
        Err(_) => {
            return Err(ServiceError::invalid(
                "filter.min_warning",
                format!("unknown value {}", filter.min_warning),
            ));
        }
    };
    let time = |field: &str, t: Option<prost_types::Timestamp>| {
        t.map(|t| {
            from_timestamp(&t).ok_or_else(|| ServiceError::invalid(field, "not a valid timestamp"))
        })
        .transpose()
    };
    let text = match filter.text.trim() {
        "" => None,
        text => Some(text.to_owned()),
    };
    Ok(rectify_projections::LedgerFilter {
        statuses,
        area: optional_code("filter.area", &filter.area, AreaCode::new)?,
        district: optional_code("filter.district", &filter.district, DistrictCode::new)?,
        channel,
        lead_unit: optional_code("filter.lead_unit", &filter.lead_unit, UnitCode::new)?,
        unit: optional_code("filter.unit", &filter.unit, UnitCode::new)?,
        overdue_only: filter.overdue_only,
        min_warning,
        supervised_only: filter.supervised_only,
        received_from: time("filter.received_from", filter.received_from)?,
        received_before: time("filter.received_before", filter.received_before)?,
        due_before: time("filter.due_before", filter.due_before)?,
        satisfaction: match filter.satisfaction {
            0 => None,
            raw => Some(satisfaction(raw).map_err(|_| {
                ServiceError::invalid("filter.satisfaction", format!("unknown value {raw}"))
            })?),
        },
        extended_only: filter.extended_only,
        returned_only: filter.returned_only,
        reopened_only: filter.reopened_only,
        text,
    })
}

/// A ledger order from the wire.
pub fn ledger_order(raw: i32) -> Result<rectify_projections::SortOrder, ServiceError> {
    use rectify_projections::SortOrder as S;
    match pb::LedgerOrder::try_from(raw) {
        Ok(pb::LedgerOrder::Unspecified | pb::LedgerOrder::ReceivedDesc) => Ok(S::ReceivedDesc),
        Ok(pb::LedgerOrder::ReceivedAsc) => Ok(S::ReceivedAsc),
        Ok(pb::LedgerOrder::DueAsc) => Ok(S::DueAsc),
        Ok(pb::LedgerOrder::Id) => Ok(S::Id),
        Err(_) => Err(ServiceError::invalid(
            "order",
            format!("unknown value {raw}"),
        )),
    }
}

/// One group of an evaluation on the wire.
pub fn group_stats_to_pb(g: &rectify_projections::stats::GroupStats) -> pb::GroupEvaluation {
    pb::GroupEvaluation {
        key: g.key.clone(),
        valid_callbacks: g.valid_callbacks,
        contacted: g.contacted,
        solved: g.solved,
        satisfied: g.satisfied,
        basically_satisfied: g.basically_satisfied,
        unsatisfied: g.unsatisfied,
        appeal_excluded: g.appeal_excluded,
        dispatched: g.dispatched,
        accepted_on_time: g.accepted_on_time,
        returned: g.returned,
        closed: g.closed,
        closed_on_time: g.closed_on_time,
        reopened: g.reopened,
        callbacks: g.callbacks,
        extensions: g.extensions,
        overdue: g.overdue,
        response_rate: g.response_rate,
        resolution_rate: g.resolution_rate,
        satisfaction_rate: g.satisfaction_rate,
        composite_score: g.composite_score,
        on_time_acceptance_rate: g.on_time_acceptance_rate,
        on_time_closure_rate: g.on_time_closure_rate,
        return_rate: g.return_rate,
        redo_rate: g.redo_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("王"), "王*");
        assert_eq!(mask_id_number("150602199001011234"), "**************1234");
    }

    #[test]
    fn received_payload_shows_the_opened_submitter_masked_or_clear_and_never_the_token() {
        let payload = r#"{"at":"2026-01-01T00:00:00Z","submission":{"id":"c1","sealed_submitter":"s1.abc","title":"t"}}"#.as_bytes();
        let submitter = complaint::Submitter {
            name: "王小明".into(),
            phone: "13812345678".into(),
            id_number: None,
        };
        let masked = reply_payload("ComplaintReceived", payload, Some(&submitter), false);
        assert!(masked.contains("138****5678"), "{masked}");
        assert!(!masked.contains("13812345678"), "{masked}");
        assert!(!masked.contains("小明"), "{masked}");
        assert!(!masked.contains("s1.abc"), "{masked}");
        let clear = reply_payload("ComplaintReceived", payload, Some(&submitter), true);
        assert!(clear.contains("13812345678"), "{clear}");
        let erased = reply_payload("ComplaintReceived", payload, None, true);
        assert!(!erased.contains("submitter"), "{erased}");
        // A version-1 payload held the submitter in clear: it is replaced too.
        let old = r#"{"submission":{"submitter":{"name":"李四","phone":"13900001111"}}}"#;
        let shown = reply_payload("ComplaintReceived", old.as_bytes(), None, false);
        assert!(!shown.contains("13900001111"), "{shown}");
    }
}
