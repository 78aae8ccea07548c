//! `decide`: which events a ledger command produces, or why it is refused.
//!
//! Order of checks: opening needs no ledger, every other step needs one;
//! then the role; then whether the ledger is open; then the item (it must
//! exist, and be open or closed as the step needs); then the command's
//! fields. Recording progress looks the item up before the role check,
//! because who may record progress depends on the item's units.

use chrono::{DateTime, Utc};

use super::{
    ItemSpec, ItemState, LedgerCommand, LedgerCommandKind as K, LedgerEvent as E, LedgerSource,
    LedgerState, MAX_ITEM_UNITS, MAX_ITEMS, MAX_LINKED_COMPLAINTS, MAX_PHASES, Phase, evolve,
};
use crate::text::{self, MAX_LEDGER_TEXT_CHARS};
use crate::{DomainError, Role, UnitCode, codes::check_id, complaint::WarningLevel};

type Decision = Result<Vec<E>, DomainError>;

fn rejected(state: &LedgerState, reason: impl Into<String>) -> DomainError {
    DomainError::Rejected {
        subject: state.status_name().to_owned(),
        reason: reason.into(),
    }
}

fn denied(kind: &K, reason: impl Into<String>) -> DomainError {
    DomainError::NotPermitted {
        attempted: kind.name(),
        reason: reason.into(),
    }
}

/// The actor must be the dispatch centre (or an administrator); `reason`
/// says so in the refusal.
fn require_manager(command: &LedgerCommand, reason: &str) -> Result<(), DomainError> {
    if command.actor.role.dispatches() {
        Ok(())
    } else {
        Err(denied(&command.kind, reason))
    }
}

/// The ledger must not be closed.
fn require_open(state: &LedgerState) -> Result<(), DomainError> {
    if state.closed_at.is_some() {
        Err(rejected(state, "the ledger is closed"))
    } else {
        Ok(())
    }
}

/// The item must exist.
fn require_item<'a>(state: &'a LedgerState, item_id: &str) -> Result<&'a ItemState, DomainError> {
    state
        .items
        .get(item_id)
        .ok_or_else(|| DomainError::Missing {
            what: "ledger item",
            id: item_id.to_owned(),
        })
}

/// Decides the events of a ledger command.
pub fn decide(state: &LedgerState, command: &LedgerCommand) -> Decision {
    let decision = decide_step(state, command);
    if let Ok(events) = &decision {
        debug_check_decided(state, command, events);
    }
    decision
}

/// The ledger's status changes a step may make, as (before, after) status
/// names; a closed ledger has none.
const LIFECYCLE: &[(&str, &str)] = &[("none", "open"), ("open", "open"), ("open", "closed")];

/// Assertions at the seam between `decide` and `evolve`, in debug builds
/// (tests run them; a release build skips the fold they need). They hold
/// for every state folded from events this decider produced, which are the
/// only events a ledger stream holds (a state folded from arbitrary events,
/// say a `LedgerClosed` without a `LedgerOpened`, could break the last
/// two):
///
/// - The decision is not empty: every step function returns one event or
///   an error.
/// - Folding the events keeps the stream's identity: only `LedgerOpened`
///   sets the header with the ledger id, and opening is decided only while
///   there is no ledger. After opening the id is the command's.
/// - The status moves along [`LIFECYCLE`]: opening needs no ledger, every
///   other step requires an open one (`require_open`), and only closing the
///   ledger closes it. A closed ledger is final.
/// - A closed ledger has no open item: closing is decided only when
///   `open_items` is empty, and no step is decided on a closed ledger.
fn debug_check_decided(state: &LedgerState, command: &LedgerCommand, events: &[E]) {
    if !cfg!(debug_assertions) {
        return;
    }
    let step = command.kind.name();
    debug_assert!(
        !events.is_empty(),
        "{step}: an accepted step decided no events"
    );
    let after = events.iter().fold(state.clone(), evolve);
    let id = |s: &LedgerState| s.info.as_ref().map(|info| info.ledger_id.clone());
    let expected = match &command.kind {
        K::Open { ledger_id, .. } => Some(ledger_id.clone()),
        _ => id(state),
    };
    debug_assert_eq!(
        id(&after),
        expected,
        "{step}: the events changed the ledger's id"
    );
    let (before, now) = (state.status_name(), after.status_name());
    debug_assert!(
        LIFECYCLE.contains(&(before, now)),
        "{step}: the events moved the ledger from {before} to {now}"
    );
    debug_assert!(
        after.closed_at.is_none() || after.open_items().is_empty(),
        "{step}: the ledger is closed with open items {:?}",
        after.open_items()
    );
}

/// One function per step, each checking in the order the module documents.
fn decide_step(state: &LedgerState, command: &LedgerCommand) -> Decision {
    let kind = &command.kind;
    if !matches!(kind, K::Open { .. }) && state.info.is_none() {
        return Err(DomainError::Missing {
            what: "ledger",
            id: String::new(),
        });
    }
    match kind {
        K::Open {
            ledger_id,
            title,
            source,
            owner,
            phases,
        } => open(state, command, ledger_id, title, *source, owner, phases),
        K::AddItem(spec) => add_item(state, command, spec),
        K::RecordProgress {
            item_id,
            note,
            evidence,
        } => record_progress(state, command, item_id, note, evidence),
        K::CloseItem {
            item_id,
            evidence,
            verifier,
            note,
        } => close_item(state, command, item_id, evidence, verifier, note),
        K::ReopenItem { item_id, reason } => reopen_item(state, command, item_id, reason),
        K::LinkComplaint {
            item_id,
            complaint_id,
        } => link_complaint(state, command, item_id, complaint_id),
        K::WarnItemDeadline {
            item_id,
            level,
            due_at,
        } => warn_item_deadline(state, command, item_id, *level, *due_at),
        K::Close { note } => close(state, command, note),
    }
}

/// Opening: the dispatch centre opens a new ledger with a title,
/// a source, an owning unit and well-formed campaign phases.
fn open(
    state: &LedgerState,
    command: &LedgerCommand,
    ledger_id: &str,
    title: &str,
    source: LedgerSource,
    owner: &UnitCode,
    phases: &[Phase],
) -> Decision {
    require_manager(command, "only the dispatch centre opens ledgers")?;
    if state.info.is_some() {
        return Err(DomainError::AlreadyExists);
    }
    check_id("ledger_id", ledger_id)?;
    text::required("title", title, MAX_LEDGER_TEXT_CHARS)?;
    if phases.len() > MAX_PHASES {
        return Err(DomainError::Invalid {
            field: "phases",
            reason: format!("at most {MAX_PHASES}"),
        });
    }
    if let Some(phase) = phases
        .iter()
        .find(|p| p.ends < p.starts || p.name.is_empty())
    {
        return Err(DomainError::Invalid {
            field: "phases",
            reason: format!(
                "phase {:?} must have a name and end after it starts",
                phase.code
            ),
        });
    }
    Ok(vec![E::LedgerOpened {
        at: command.at,
        ledger_id: ledger_id.to_owned(),
        title: title.to_owned(),
        source,
        owner: owner.clone(),
        phases: phases.to_vec(),
    }])
}

/// Adding an item: the dispatch centre adds a new item to an open ledger,
/// with its problem, at least one lead unit and a bounded number of units.
fn add_item(state: &LedgerState, command: &LedgerCommand, spec: &ItemSpec) -> Decision {
    require_manager(command, "only the dispatch centre adds items")?;
    require_open(state)?;
    check_id("item_id", &spec.item_id)?;
    if state.items.contains_key(&spec.item_id) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("item {} exists", spec.item_id),
        });
    }
    if state.items.len() >= MAX_ITEMS {
        return Err(rejected(
            state,
            format!("a ledger holds at most {MAX_ITEMS} items"),
        ));
    }
    text::required("problem", &spec.problem, MAX_LEDGER_TEXT_CHARS)?;
    text::optional("measures", Some(&spec.measures), MAX_LEDGER_TEXT_CHARS)?;
    if spec.lead.is_empty() {
        return Err(DomainError::Invalid {
            field: "lead_units",
            reason: "at least one lead unit".to_owned(),
        });
    }
    if spec.lead.len() + spec.responsible.len() > MAX_ITEM_UNITS {
        return Err(DomainError::Invalid {
            field: "responsible_units",
            reason: format!("at most {MAX_ITEM_UNITS} units on an item"),
        });
    }
    if let Some(group) = &spec.group {
        check_id("group", group)?;
    }
    Ok(vec![E::LedgerItemAdded {
        at: command.at,
        item: spec.clone(),
    }])
}

/// Progress on an item: one of the item's lead or responsible units, or the
/// dispatch centre, records what was done on an open item.
fn record_progress(
    state: &LedgerState,
    command: &LedgerCommand,
    item_id: &str,
    note: &str,
    evidence: &[String],
) -> Decision {
    let found = require_item(state, item_id)?;
    let allowed = command.actor.role.dispatches()
        || matches!(&command.actor.role, Role::Unit(unit)
            if found.spec.lead.contains(unit) || found.spec.responsible.contains(unit));
    if !allowed {
        return Err(denied(
            &command.kind,
            "only the item's lead or responsible units or the dispatch centre",
        ));
    }
    require_open(state)?;
    if found.closed_at.is_some() {
        return Err(rejected(state, format!("item {item_id} is closed")));
    }
    text::required("note", note, MAX_LEDGER_TEXT_CHARS)?;
    text::evidence("evidence", evidence)?;
    Ok(vec![E::LedgerItemProgressRecorded {
        at: command.at,
        item_id: item_id.to_owned(),
        note: note.to_owned(),
        evidence: evidence.to_vec(),
    }])
}

/// 销号: the dispatch centre closes an open item with evidence and the
/// verifier; the event lists the complaints the item answers.
fn close_item(
    state: &LedgerState,
    command: &LedgerCommand,
    item_id: &str,
    evidence: &[String],
    verifier: &str,
    note: &Option<String>,
) -> Decision {
    require_manager(command, "only the dispatch centre closes items (销号)")?;
    require_open(state)?;
    let found = require_item(state, item_id)?;
    if found.closed_at.is_some() {
        return Err(DomainError::AlreadyRecorded {
            what: format!("item {item_id} is closed"),
        });
    }
    if evidence.is_empty() {
        return Err(DomainError::Invalid {
            field: "evidence",
            reason: "closing an item needs evidence".to_owned(),
        });
    }
    text::evidence("evidence", evidence)?;
    text::required("verifier", verifier, MAX_LEDGER_TEXT_CHARS)?;
    text::optional("note", note.as_deref(), MAX_LEDGER_TEXT_CHARS)?;
    Ok(vec![E::LedgerItemClosed {
        at: command.at,
        item_id: item_id.to_owned(),
        evidence: evidence.to_vec(),
        verifier: verifier.to_owned(),
        note: note.clone(),
        complaints: found.complaints.clone(),
    }])
}

/// Reopening an item: the dispatch centre reopens a closed item, with a
/// reason.
fn reopen_item(
    state: &LedgerState,
    command: &LedgerCommand,
    item_id: &str,
    reason: &str,
) -> Decision {
    require_manager(command, "only the dispatch centre reopens items")?;
    require_open(state)?;
    let found = require_item(state, item_id)?;
    if found.closed_at.is_none() {
        return Err(rejected(state, format!("item {item_id} is not closed")));
    }
    text::required("reason", reason, MAX_LEDGER_TEXT_CHARS)?;
    Ok(vec![E::LedgerItemReopened {
        at: command.at,
        item_id: item_id.to_owned(),
        reason: reason.to_owned(),
    }])
}

/// Linking a complaint: the dispatch centre records, once, that an item
/// answers a complaint, up to [`MAX_LINKED_COMPLAINTS`] per item.
fn link_complaint(
    state: &LedgerState,
    command: &LedgerCommand,
    item_id: &str,
    complaint_id: &str,
) -> Decision {
    require_manager(command, "only the dispatch centre links complaints")?;
    require_open(state)?;
    let found = require_item(state, item_id)?;
    check_id("complaint_id", complaint_id)?;
    if found.complaints.iter().any(|c| c == complaint_id) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("{complaint_id} is linked to {item_id}"),
        });
    }
    if found.complaints.len() >= MAX_LINKED_COMPLAINTS {
        return Err(rejected(
            state,
            format!("an item answers at most {MAX_LINKED_COMPLAINTS} complaints"),
        ));
    }
    Ok(vec![E::ComplaintLinkedToItem {
        at: command.at,
        item_id: item_id.to_owned(),
        complaint_id: complaint_id.to_owned(),
    }])
}

/// 预警 on an item: the deadline watcher warns (yellow) about an open
/// item's current deadline, or records it missed (red) once it passed; each
/// (level, deadline) once.
fn warn_item_deadline(
    state: &LedgerState,
    command: &LedgerCommand,
    item_id: &str,
    level: WarningLevel,
    due_at: DateTime<Utc>,
) -> Decision {
    if !matches!(command.actor.role, Role::System | Role::Admin) {
        return Err(denied(
            &command.kind,
            "only the deadline watcher records warnings",
        ));
    }
    require_open(state)?;
    let found = require_item(state, item_id)?;
    if found.closed_at.is_some() {
        return Err(rejected(state, format!("item {item_id} is closed")));
    }
    if found.spec.deadline != Some(due_at) {
        return Err(DomainError::Invalid {
            field: "due_at",
            reason: format!("item {item_id} is not due at {due_at}"),
        });
    }
    if found.warned.contains(&(level, due_at)) {
        return Err(DomainError::AlreadyRecorded {
            what: format!("{level:?} warning on {item_id}"),
        });
    }
    if level == WarningLevel::Red && command.at < due_at {
        return Err(DomainError::Invalid {
            field: "level",
            reason: "a deadline is missed only once it has passed".to_owned(),
        });
    }
    Ok(vec![E::LedgerItemDeadlineWarned {
        at: command.at,
        item_id: item_id.to_owned(),
        level,
        due_at,
    }])
}

/// Closing the ledger: the dispatch centre closes it once every
/// item is closed; otherwise the refusal lists the open items.
fn close(state: &LedgerState, command: &LedgerCommand, note: &Option<String>) -> Decision {
    require_manager(command, "only the dispatch centre closes ledgers")?;
    require_open(state)?;
    let open = state.open_items();
    if !open.is_empty() {
        return Err(rejected(
            state,
            format!("{} items are still open: {}", open.len(), open.join(", ")),
        ));
    }
    text::optional("note", note.as_deref(), MAX_LEDGER_TEXT_CHARS)?;
    Ok(vec![E::LedgerClosed {
        at: command.at,
        note: note.clone(),
    }])
}
