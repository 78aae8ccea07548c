//! Conversions at the protobuf edge: wire enums and timestamps to domain
//! types (rejecting unknown values with `INVALID_ARGUMENT`), domain state and
//! stored events to replies, and the complaint aggregate's binding to the log.
//!
//! Personal data is masked here for callers that may not see it: a masked
//! phone keeps its first three and last four digits (138****5678).

use chrono::{DateTime, NaiveDate, Utc};
use rectify_catalog::{Area, AreaSuggestion};
use rectify_domain::ledger::{ItemState, LedgerSource, LedgerState, Phase};
use rectify_domain::{
    AreaCode, DistrictCode, DomainError, UnitCode,
    complaint::{
        self, Channel, ComplaintKind, ComplaintState, ComplaintStatus, Milestone, Satisfaction,
        Urgency, WarningLevel,
    },
};
use rectify_eventlog::RecordedEvent;
use rectify_projections::count::{Counts, Dimension, Key};
use rectify_projections::items::{LedgerBook, Tally};

use crate::wire::{from_timestamp, timestamp};
use crate::{
    pb,
    server::{app::Executed, error::ServiceError, maintenance::VerifyReport, privacy},
};

fn from_millis(ms: i64) -> Option<prost_types::Timestamp> {
    DateTime::from_timestamp_millis(ms).map(timestamp)
}

/// One table per wire enum, read in both directions: `$name` validates a
/// wire value into the domain's (an unspecified value is `$unspecified`,
/// an unknown one names itself; both name `$field`), and `From` turns the
/// domain's value into the wire's.
macro_rules! wire_enum {
    ($name:ident, $field:literal, $unspecified:literal, $pb:ident, $domain:ident, { $($pbv:ident <=> $dv:ident),+ $(,)? }) => {
        /// Validates a wire value: unknown and unspecified values are rejected.
        pub fn $name(raw: i32) -> Result<$domain, ServiceError> {
            match pb::$pb::try_from(raw) {
                $(Ok(pb::$pb::$pbv) => Ok($domain::$dv),)+
                Ok(_) => Err(ServiceError::invalid($field, $unspecified)),
                Err(_) => Err(ServiceError::invalid($field, format!("unknown value {raw}"))),
            }
        }

        impl From<$domain> for pb::$pb {
            fn from(value: $domain) -> Self {
                match value {
                    $($domain::$dv => Self::$pbv,)+
                }
            }
        }
    };
}

wire_enum!(channel, "channel", "required", Channel, Channel, {
    Hotline12345 <=> Hotline12345,
    MengsubanApp <=> MengSuBanApp,
    Wechat <=> WeChat,
    WebPortal <=> WebPortal,
    QrCode <=> QrCode,
    ExperienceOfficer <=> ExperienceOfficer,
    SupervisionInspection <=> SupervisionInspection,
    Other <=> Other,
});

wire_enum!(complaint_kind, "kind", "required", ComplaintKind, ComplaintKind, {
    Complaint <=> Complaint,
    Consultation <=> Consultation,
    Suggestion <=> Suggestion,
    Report <=> Report,
    Praise <=> Praise,
});

wire_enum!(urgency, "urgency", "required", Urgency, Urgency, {
    Emergency <=> Emergency,
    Urgent <=> Urgent,
    Normal <=> Normal,
    Complex <=> Complex,
});

wire_enum!(satisfaction, "satisfaction", "required", Satisfaction, Satisfaction, {
    Satisfied <=> Satisfied,
    BasicallySatisfied <=> BasicallySatisfied,
    Unsatisfied <=> Unsatisfied,
});

wire_enum!(status_filter, "filter.statuses", "UNSPECIFIED is not a status", ComplaintStatus, ComplaintStatus, {
    Received <=> Received,
    AwaitingDispatch <=> AwaitingDispatch,
    Dispatched <=> Dispatched,
    InProgress <=> InProgress,
    Resolved <=> Resolved,
    Verified <=> Verified,
    CalledBack <=> CalledBack,
    Closed <=> Closed,
});

wire_enum!(ledger_source, "source", "required", LedgerSource, LedgerSource, {
    SelfInspection <=> SelfInspection,
    SupervisionInspection <=> SupervisionInspection,
    ExperienceOfficer <=> ExperienceOfficer,
    ComplaintCluster <=> ComplaintCluster,
    ReformPlan <=> ReformPlan,
});

wire_enum!(ledger_dimension, "group_by", "UNSPECIFIED is not a dimension", LedgerDimension, Dimension, {
    Status <=> Status,
    Warning <=> Warning,
    Channel <=> Channel,
    Area <=> Area,
    District <=> District,
    LeadUnit <=> LeadUnit,
    ReceivedDay <=> ReceivedDay,
    ReceivedMonth <=> ReceivedMonth,
});

/// A count's group key as the wire spells it: enum value names, codes,
/// `2026-11-30`, `2026-11`.
fn bucket_key(key: &Key) -> String {
    match key {
        Key::Status(status) => pb::ComplaintStatus::from(*status).as_str_name().to_owned(),
        Key::Warning(level) => warning_pb(*level).as_str_name().to_owned(),
        Key::Channel(channel) => pb::Channel::from(*channel).as_str_name().to_owned(),
        Key::Code(code) => code.map(String::from).unwrap_or_default(),
        Key::Day(day) => day.format("%Y-%m-%d").to_string(),
        Key::Month(year, month) => format!("{year:04}-{month:02}"),
    }
}

/// A grouped count as the wire carries it.
pub fn counts_to_pb(counts: Counts, applied_position: u64) -> pb::CountLedgerResponse {
    pb::CountLedgerResponse {
        total: counts.total,
        groupings: counts
            .groupings
            .into_iter()
            .map(|(dimension, buckets)| pb::LedgerGrouping {
                dimension: pb::LedgerDimension::from(dimension) as i32,
                buckets: buckets
                    .iter()
                    .map(|(key, count)| pb::LedgerBucket {
                        key: bucket_key(key),
                        count: *count,
                    })
                    .collect(),
            })
            .collect(),
        applied_position,
    }
}

/// The wire status of a complaint that may not exist yet.
fn status_pb(status: Option<ComplaintStatus>) -> pb::ComplaintStatus {
    status.map_or(pb::ComplaintStatus::Unspecified, Into::into)
}

impl From<Milestone> for pb::Milestone {
    fn from(milestone: Milestone) -> Self {
        match milestone {
            Milestone::Dispatch => Self::Dispatch,
            Milestone::Accept => Self::Accept,
            Milestone::FirstContact => Self::FirstContact,
            Milestone::Resolve => Self::Resolve,
        }
    }
}

/// The wire warning level (no warning is `NONE`).
fn warning_pb(level: Option<WarningLevel>) -> pb::WarningLevel {
    match level {
        None => pb::WarningLevel::None,
        Some(WarningLevel::Yellow) => pb::WarningLevel::Yellow,
        Some(WarningLevel::Red) => pb::WarningLevel::Red,
    }
}

/// The catalog's urgency for the deadline policy (unclassified = normal).
pub fn catalog_urgency(urgency: Option<Urgency>) -> rectify_catalog::Urgency {
    match urgency {
        Some(Urgency::Emergency) => rectify_catalog::Urgency::Emergency,
        Some(Urgency::Urgent) => rectify_catalog::Urgency::Urgent,
        Some(Urgency::Complex) => rectify_catalog::Urgency::Complex,
        Some(Urgency::Normal) | None => rectify_catalog::Urgency::Normal,
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
        receipts: Vec::new(),
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
            milestone: pb::Milestone::from(d.milestone) as i32,
            due_at: Some(timestamp(d.due_at)),
            met_at: d.met_at.map(timestamp),
            warning: warning_pb(d.warning) as i32,
        })
        .collect();
    pb::ComplaintView {
        complaint_id: state
            .id()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default(),
        version,
        status: status_pb(state.status()) as i32,
        channel: state.channel().map_or(0, |c| pb::Channel::from(c) as i32),
        kind: state
            .kind()
            .map_or(0, |k| pb::ComplaintKind::from(k) as i32),
        submitter: state
            .submitter()
            .map(|s| privacy::shown_submitter(s, personal_data)),
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
        urgency: state.urgency().map_or(0, |u| pb::Urgency::from(u) as i32),
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
            .map_or(0, |s| pb::Satisfaction::from(s) as i32),
        received_at: state.received_at().map(timestamp),
        closed_at: state.closed_at().map(timestamp),
        ledger_items: state
            .ledger_links()
            .iter()
            .map(|(ledger, item)| format!("{ledger}/{item}"))
            .collect(),
        state_json: privacy::state_json(state, personal_data),
        personal_data_erased: state.personal_data_erased(),
    }
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
        payload_json: privacy::reply_payload(
            &event.event_type,
            &event.payload,
            submitter,
            personal_data,
        ),
        recorded_at: from_millis(event.metadata.recorded_at_ms),
        actor: event.metadata.actor.clone().unwrap_or_default(),
        request_id: event.metadata.request_id.clone().unwrap_or_default(),
        correlation_id: event.metadata.correlation_id.clone().unwrap_or_default(),
        hash: hex(&event.hash),
    }
}

/// The verification report as the API returns it.
pub fn verify_report_to_pb(
    report: &rectify_eventlog::VerifyReport,
    tree: &crate::server::transparency::TreeCheck,
) -> pb::VerifyLogResponse {
    let report = VerifyReport::from(report);
    pb::VerifyLogResponse {
        ok: report.ok,
        events_checked: report.events_checked,
        first_bad_position: report.first_bad_position,
        reason: report.reason,
        tree_size: tree.size,
        tree_ok: tree.problem.is_none(),
        tree_problem: tree.problem.clone().unwrap_or_default(),
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
        complaint_id: row.id().to_owned(),
        status: status_pb(Some(row.status)) as i32,
        channel: pb::Channel::from(row.channel) as i32,
        kind: pb::ComplaintKind::from(row.kind) as i32,
        title: row.title().to_owned(),
        area: row.area.map(String::from).unwrap_or_default(),
        task: row.task.unwrap_or_default(),
        district: row.district.map(String::from).unwrap_or_default(),
        urgency: row.urgency.map_or(0, |u| pb::Urgency::from(u) as i32),
        lead_unit: row.lead.map(String::from).unwrap_or_default(),
        responsible_units: row.responsible.iter().map(|&u| u.into()).collect(),
        accepted_units: row.accepted.iter().map(|&u| u.into()).collect(),
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
        satisfaction: row
            .satisfaction()
            .map_or(0, |s| pb::Satisfaction::from(s) as i32),
        supervised: row.supervised,
        paused: row.paused,
        version: row.version,
        position: row.position,
        ledger_items: row.ledger_items.to_vec(),
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
        .map(|raw| status_filter(*raw))
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
        // Resolved from the mechanisms view by the service.
        complaint_ids: None,
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

/// Lowercase hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A plan phase from the wire; dates are `YYYY-MM-DD`.
pub fn phase_from_pb(phase: &pb::LedgerPhase) -> Result<Phase, ServiceError> {
    let day = |field: &str, raw: &str| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
            ServiceError::invalid(
                format!("phases.{field}"),
                format!("{raw:?} is not YYYY-MM-DD"),
            )
        })
    };
    Ok(Phase {
        code: phase.code.clone(),
        name: phase.name.clone(),
        starts: day("starts", &phase.starts)?,
        ends: day("ends", &phase.ends)?,
    })
}

/// A plan phase for a reply.
pub fn phase_pb(phase: &Phase) -> pb::LedgerPhase {
    pb::LedgerPhase {
        code: phase.code.clone(),
        name: phase.name.clone(),
        starts: phase.starts.to_string(),
        ends: phase.ends.to_string(),
    }
}

/// Closure counts for a reply.
pub fn tally_pb(tally: &Tally) -> pb::Tally {
    pb::Tally {
        total: tally.total,
        open: tally.open,
        closed: tally.closed,
        overdue: tally.overdue,
        share_closed: tally.share_closed(),
    }
}

/// A rectification ledger's summary for a reply, its tally as of `now`.
pub fn summary_pb(book: &LedgerBook, now: DateTime<Utc>) -> pb::LedgerSummary {
    let info = book.info();
    pb::LedgerSummary {
        ledger_id: book.ledger_id().to_owned(),
        title: info.map(|i| i.title.clone()).unwrap_or_default(),
        source: info.map_or(0, |i| pb::LedgerSource::from(i.source) as i32),
        owner_unit: info
            .map(|i| i.owner.as_str().to_owned())
            .unwrap_or_default(),
        opened_at: info.map(|i| timestamp(i.opened_at)),
        closed_at: book.state.closed_at.map(timestamp),
        tally: Some(tally_pb(&book.progress(now).total)),
        version: book.version,
        phases: info
            .map(|i| i.phases.iter().map(phase_pb).collect())
            .unwrap_or_default(),
    }
}

/// Unit codes as strings.
fn codes(units: &[UnitCode]) -> Vec<String> {
    units.iter().map(|u| u.as_str().to_owned()).collect()
}

/// One ledger item for a reply, overdue as of `now`.
pub fn item_pb(item: &ItemState, now: DateTime<Utc>) -> pb::LedgerItem {
    pb::LedgerItem {
        item_id: item.spec.item_id.clone(),
        problem: item.spec.problem.clone(),
        measures: item.spec.measures.clone(),
        group: item.spec.group.clone().unwrap_or_default(),
        lead_units: codes(&item.spec.lead),
        responsible_units: codes(&item.spec.responsible),
        deadline: item.spec.deadline.map(timestamp),
        added_at: Some(timestamp(item.added_at)),
        closed_at: item.closed_at.map(timestamp),
        verifier: item.verifier.clone().unwrap_or_default(),
        progress_count: item.progress_count,
        reopen_count: item.reopen_count,
        complaints: item.complaints.clone(),
        overdue: item.is_overdue(now),
        warning: warning_pb(item.warning()) as i32,
    }
}

/// The reply of a successful ledger command (ledgers have no complaint
/// status).
pub fn ledger_result(id: &str, done: &Executed<LedgerState>) -> pb::CommandResult {
    pb::CommandResult {
        id: id.to_owned(),
        version: done.version,
        position: done.position,
        deduplicated: done.deduplicated,
        status: pb::ComplaintStatus::Unspecified as i32,
        receipts: Vec::new(),
    }
}
