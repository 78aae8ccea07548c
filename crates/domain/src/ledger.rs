//! Rectification ledgers (整改台账) with item-by-item closure (逐项销号).
//!
//! A ledger is opened with a title, a source and an owning unit, and the
//! phases of its campaign (部署启动, 自查自纠, 集中整治, 总结验收). Items are
//! added with the problem, the measures, lead and responsible units and a
//! deadline; units record progress; the dispatch centre closes an item with
//! evidence and the verifier (销号) and may reopen it; the ledger closes only
//! when every item is closed — otherwise the refusal lists the open items.
//! Complaints are linked to items ("answer one complaint, solve one class of
//! problems"); the item remembers the complaints it answers so that closing
//! it can record the fix on each.
//!
//! Permissions: opening, adding items, closing and reopening items, linking
//! complaints and closing the ledger belong to the dispatch centre (or an
//! administrator); progress is recorded by an item's lead or responsible
//! units or the dispatch centre; deadline warnings by the system.
//!
//! Texts follow the same rules as a complaint's ([`crate::text`]): required
//! texts are not blank, no text exceeds [`MAX_TEXT_CHARS`] characters or
//! holds control characters other than line breaks and tabs, and evidence
//! references are limited in number and length.
//!
//! Same shape as the complaint: `decide(&state, &command)` never panics and
//! never returns no events; `evolve` is total.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::text::{self, MAX_LEDGER_TEXT_CHARS};
use crate::{Actor, DomainError, Role, UnitCode, codes::check_id, complaint::WarningLevel};

// The text limits live with the text rules in `crate::text`; these names
// stay for callers that know them from here.
pub use crate::text::{MAX_EVIDENCE_REFS as MAX_EVIDENCE, MAX_LEDGER_TEXT_CHARS as MAX_TEXT_CHARS};

/// Most items in one ledger.
pub const MAX_ITEMS: usize = 2_000;
/// Most complaints linked to one item.
pub const MAX_LINKED_COMPLAINTS: usize = 1_000;
/// Most units on one item.
pub const MAX_ITEM_UNITS: usize = 32;
/// Most phases of a ledger.
pub const MAX_PHASES: usize = 12;

/// The name of a ledger's stream in the log.
pub fn stream_name(ledger_id: &str) -> String {
    format!("ledger-{ledger_id}")
}

/// Where a ledger's problems come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerSource {
    /// 自查自纠: the units' own inspection.
    SelfInspection,
    /// A supervision inspection (督查).
    SupervisionInspection,
    /// Feedback of business-environment experience officers.
    ExperienceOfficer,
    /// A cluster of complaints with one cause.
    ComplaintCluster,
    /// A reform plan (the 2021 action plan).
    ReformPlan,
}

/// A phase of the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// Code, e.g. `self-inspection`.
    pub code: String,
    /// Name, e.g. `自查自纠阶段`.
    pub name: String,
    /// First day.
    pub starts: NaiveDate,
    /// Last day.
    pub ends: NaiveDate,
}

impl Phase {
    /// The first instant after the phase's last day (China Standard Time).
    pub fn end(&self) -> DateTime<Utc> {
        self.ends
            .succ_opt()
            .and_then(|next| next.and_hms_opt(0, 0, 0))
            .and_then(|t| t.and_local_timezone(crate::CHINA_STANDARD_TIME).single())
            .map_or(DateTime::<Utc>::MAX_UTC, |t| t.with_timezone(&Utc))
    }
}

/// What an item is about and who answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSpec {
    /// Item id, unique in the ledger.
    pub item_id: String,
    /// The problem.
    pub problem: String,
    /// The measures (细化措施).
    pub measures: String,
    /// The group it belongs to (a task area code for the plan).
    pub group: Option<String>,
    /// Lead units (牵头单位).
    pub lead: Vec<UnitCode>,
    /// Responsible units (责任单位).
    pub responsible: Vec<UnitCode>,
    /// When it must be closed.
    pub deadline: Option<DateTime<Utc>>,
}

/// A ledger command: who, when, what.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerCommand {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: LedgerCommandKind,
}

/// The steps of a ledger.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerCommandKind {
    /// Open the ledger.
    Open {
        /// Ledger id.
        ledger_id: String,
        /// Title.
        title: String,
        /// Source.
        source: LedgerSource,
        /// Owning unit.
        owner: UnitCode,
        /// Campaign phases.
        phases: Vec<Phase>,
    },
    /// Add an item.
    AddItem(ItemSpec),
    /// Record progress on an item.
    RecordProgress {
        /// Item.
        item_id: String,
        /// What was done.
        note: String,
        /// Evidence references.
        evidence: Vec<String>,
    },
    /// 销号: close an item.
    CloseItem {
        /// Item.
        item_id: String,
        /// Evidence references (at least one).
        evidence: Vec<String>,
        /// Who verified the rectification.
        verifier: String,
        /// Note.
        note: Option<String>,
    },
    /// Reopen a closed item.
    ReopenItem {
        /// Item.
        item_id: String,
        /// Why.
        reason: String,
    },
    /// Link a complaint to an item.
    LinkComplaint {
        /// Item.
        item_id: String,
        /// Complaint id.
        complaint_id: String,
    },
    /// 预警 on an item's deadline.
    WarnItemDeadline {
        /// Item.
        item_id: String,
        /// Yellow or red.
        level: WarningLevel,
        /// The deadline it refers to.
        due_at: DateTime<Utc>,
    },
    /// Close the ledger.
    Close {
        /// Note.
        note: Option<String>,
    },
}

impl LedgerCommandKind {
    /// The step's name, as errors spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open { .. } => "open the ledger",
            Self::AddItem(_) => "add an item",
            Self::RecordProgress { .. } => "record progress",
            Self::CloseItem { .. } => "close the item",
            Self::ReopenItem { .. } => "reopen the item",
            Self::LinkComplaint { .. } => "link a complaint",
            Self::WarnItemDeadline { .. } => "warn about the item's deadline",
            Self::Close { .. } => "close the ledger",
        }
    }
}

/// What happened to a ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum LedgerEvent {
    /// Opened.
    LedgerOpened {
        /// When.
        at: DateTime<Utc>,
        /// Ledger id.
        ledger_id: String,
        /// Title.
        title: String,
        /// Source.
        source: LedgerSource,
        /// Owning unit.
        owner: UnitCode,
        /// Phases.
        phases: Vec<Phase>,
    },
    /// An item was added.
    LedgerItemAdded {
        /// When.
        at: DateTime<Utc>,
        /// The item.
        item: ItemSpec,
    },
    /// Progress on an item.
    LedgerItemProgressRecorded {
        /// When.
        at: DateTime<Utc>,
        /// Item.
        item_id: String,
        /// What was done.
        note: String,
        /// Evidence.
        evidence: Vec<String>,
    },
    /// 销号.
    LedgerItemClosed {
        /// When.
        at: DateTime<Utc>,
        /// Item.
        item_id: String,
        /// Evidence.
        evidence: Vec<String>,
        /// The verifier.
        verifier: String,
        /// Note.
        note: Option<String>,
        /// The complaints the item answers, at closing.
        complaints: Vec<String>,
    },
    /// Reopened.
    LedgerItemReopened {
        /// When.
        at: DateTime<Utc>,
        /// Item.
        item_id: String,
        /// Why.
        reason: String,
    },
    /// A complaint was linked.
    ComplaintLinkedToItem {
        /// When.
        at: DateTime<Utc>,
        /// Item.
        item_id: String,
        /// Complaint.
        complaint_id: String,
    },
    /// 预警 yellow or red on an item.
    LedgerItemDeadlineWarned {
        /// When.
        at: DateTime<Utc>,
        /// Item.
        item_id: String,
        /// Level.
        level: WarningLevel,
        /// The deadline.
        due_at: DateTime<Utc>,
    },
    /// The ledger was closed.
    LedgerClosed {
        /// When.
        at: DateTime<Utc>,
        /// Note.
        note: Option<String>,
    },
}

impl LedgerEvent {
    /// The event type name stored in the log.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::LedgerOpened { .. } => "LedgerOpened",
            Self::LedgerItemAdded { .. } => "LedgerItemAdded",
            Self::LedgerItemProgressRecorded { .. } => "LedgerItemProgressRecorded",
            Self::LedgerItemClosed { .. } => "LedgerItemClosed",
            Self::LedgerItemReopened { .. } => "LedgerItemReopened",
            Self::ComplaintLinkedToItem { .. } => "ComplaintLinkedToItem",
            Self::LedgerItemDeadlineWarned { .. } => "LedgerItemDeadlineWarned",
            Self::LedgerClosed { .. } => "LedgerClosed",
        }
    }

    /// Event type, schema version and JSON payload (the tag stays in the
    /// envelope, as for complaints).
    pub fn encode(&self) -> (&'static str, u32, Vec<u8>) {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.remove("event_type");
        }
        (
            self.event_type(),
            1,
            serde_json::to_vec(&value).unwrap_or_default(),
        )
    }

    /// Reads a stored event (every ledger event is at schema version 1).
    pub fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, String> {
        if schema_version != 1 {
            return Err(format!(
                "{event_type} schema version {schema_version} is not supported (current 1)"
            ));
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| format!("{event_type} payload is not a JSON object"))?;
        object.insert(
            "event_type".to_owned(),
            serde_json::Value::String(event_type.to_owned()),
        );
        serde_json::from_value(value).map_err(|e| e.to_string())
    }
}

/// One item's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemState {
    /// What it is.
    pub spec: ItemSpec,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When it was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who verified the closure, while closed.
    pub verifier: Option<String>,
    /// Progress notes recorded.
    pub progress_count: u32,
    /// Times reopened.
    pub reopen_count: u32,
    /// Linked complaints, in link order.
    pub complaints: Vec<String>,
    /// Warnings recorded: (level, due time).
    pub warned: Vec<(WarningLevel, DateTime<Utc>)>,
}

impl ItemState {
    /// Open and past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.closed_at.is_none() && self.spec.deadline.is_some_and(|d| d <= now)
    }

    /// The highest warning recorded on the current deadline.
    pub fn warning(&self) -> Option<WarningLevel> {
        self.warned
            .iter()
            .filter(|(_, due)| Some(*due) == self.spec.deadline)
            .map(|(level, _)| *level)
            .max()
    }

    /// Whether `unit` is one of its lead or responsible units.
    pub fn involves(&self, unit: &str) -> bool {
        self.spec
            .lead
            .iter()
            .chain(&self.spec.responsible)
            .any(|u| u.as_str() == unit)
    }
}

/// The ledger's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerInfo {
    /// Ledger id.
    pub ledger_id: String,
    /// Title.
    pub title: String,
    /// Source.
    pub source: LedgerSource,
    /// Owning unit.
    pub owner: UnitCode,
    /// Phases.
    pub phases: Vec<Phase>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
}

/// Everything known about a ledger. `Default` is "no ledger yet".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerState {
    /// Header, once opened.
    pub info: Option<LedgerInfo>,
    /// Items by id.
    pub items: BTreeMap<String, ItemState>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl LedgerState {
    /// Ids of the items not closed, in id order.
    pub fn open_items(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(_, item)| item.closed_at.is_none())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The status name: `none`, `open` or `closed`.
    pub fn status_name(&self) -> &'static str {
        match (&self.info, self.closed_at) {
            (None, _) => "none",
            (Some(_), None) => "open",
            (Some(_), Some(_)) => "closed",
        }
    }
}

/// Folds one event into the state. Total.
pub fn evolve(mut state: LedgerState, event: &LedgerEvent) -> LedgerState {
    use LedgerEvent as E;
    match event {
        E::LedgerOpened {
            at,
            ledger_id,
            title,
            source,
            owner,
            phases,
        } => {
            state.info = Some(LedgerInfo {
                ledger_id: ledger_id.clone(),
                title: title.clone(),
                source: *source,
                owner: owner.clone(),
                phases: phases.clone(),
                opened_at: *at,
            });
        }
        E::LedgerItemAdded { at, item } => {
            state.items.insert(
                item.item_id.clone(),
                ItemState {
                    spec: item.clone(),
                    added_at: *at,
                    closed_at: None,
                    verifier: None,
                    progress_count: 0,
                    reopen_count: 0,
                    complaints: Vec::new(),
                    warned: Vec::new(),
                },
            );
        }
        E::LedgerItemProgressRecorded { item_id, .. } => {
            if let Some(item) = state.items.get_mut(item_id) {
                item.progress_count = item.progress_count.saturating_add(1);
            }
        }
        E::LedgerItemClosed {
            at,
            item_id,
            verifier,
            ..
        } => {
            if let Some(item) = state.items.get_mut(item_id) {
                item.closed_at = Some(*at);
                item.verifier = Some(verifier.clone());
            }
        }
        E::LedgerItemReopened { item_id, .. } => {
            if let Some(item) = state.items.get_mut(item_id) {
                item.closed_at = None;
                item.verifier = None;
                item.reopen_count = item.reopen_count.saturating_add(1);
            }
        }
        E::ComplaintLinkedToItem {
            item_id,
            complaint_id,
            ..
        } => {
            if let Some(item) = state.items.get_mut(item_id)
                && !item.complaints.contains(complaint_id)
            {
                item.complaints.push(complaint_id.clone());
            }
        }
        E::LedgerItemDeadlineWarned {
            item_id,
            level,
            due_at,
            ..
        } => {
            if let Some(item) = state.items.get_mut(item_id) {
                item.warned.push((*level, *due_at));
            }
        }
        E::LedgerClosed { at, .. } => state.closed_at = Some(*at),
    }
    state
}

fn rejected(state: &LedgerState, reason: impl Into<String>) -> DomainError {
    DomainError::Rejected {
        subject: state.status_name().to_owned(),
        reason: reason.into(),
    }
}

fn denied(kind: &LedgerCommandKind, reason: impl Into<String>) -> DomainError {
    DomainError::NotPermitted {
        attempted: kind.name(),
        reason: reason.into(),
    }
}

/// Decides the events of a ledger command.
pub fn decide(
    state: &LedgerState,
    command: &LedgerCommand,
) -> Result<Vec<LedgerEvent>, DomainError> {
    use LedgerCommandKind as K;
    use LedgerEvent as E;
    let at = command.at;
    let role = &command.actor.role;
    let kind = &command.kind;
    let manages = role.dispatches();
    if let K::Open {
        ledger_id,
        title,
        source,
        owner,
        phases,
    } = kind
    {
        if !manages {
            return Err(denied(kind, "only the dispatch centre opens ledgers"));
        }
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
        return Ok(vec![E::LedgerOpened {
            at,
            ledger_id: ledger_id.clone(),
            title: title.clone(),
            source: *source,
            owner: owner.clone(),
            phases: phases.clone(),
        }]);
    }
    if state.info.is_none() {
        return Err(DomainError::Missing {
            what: "ledger",
            id: String::new(),
        });
    }
    let item = |item_id: &str| {
        state
            .items
            .get(item_id)
            .ok_or_else(|| DomainError::Missing {
                what: "ledger item",
                id: item_id.to_owned(),
            })
    };
    let open_ledger = || {
        if state.closed_at.is_some() {
            Err(rejected(state, "the ledger is closed"))
        } else {
            Ok(())
        }
    };
    match kind {
        // Decided above, before the ledger must exist.
        K::Open { .. } => Err(DomainError::AlreadyExists),
        K::AddItem(spec) => {
            if !manages {
                return Err(denied(kind, "only the dispatch centre adds items"));
            }
            open_ledger()?;
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
                at,
                item: spec.clone(),
            }])
        }
        K::RecordProgress {
            item_id,
            note,
            evidence: refs,
        } => {
            let found = item(item_id)?;
            let allowed = manages
                || matches!(role, Role::Unit(unit)
                    if found.spec.lead.contains(unit) || found.spec.responsible.contains(unit));
            if !allowed {
                return Err(denied(
                    kind,
                    "only the item's lead or responsible units or the dispatch centre",
                ));
            }
            open_ledger()?;
            if found.closed_at.is_some() {
                return Err(rejected(state, format!("item {item_id} is closed")));
            }
            text::required("note", note, MAX_LEDGER_TEXT_CHARS)?;
            text::evidence("evidence", refs)?;
            Ok(vec![E::LedgerItemProgressRecorded {
                at,
                item_id: item_id.clone(),
                note: note.clone(),
                evidence: refs.clone(),
            }])
        }
        K::CloseItem {
            item_id,
            evidence: refs,
            verifier,
            note,
        } => {
            if !manages {
                return Err(denied(kind, "only the dispatch centre closes items (销号)"));
            }
            open_ledger()?;
            let found = item(item_id)?;
            if found.closed_at.is_some() {
                return Err(DomainError::AlreadyRecorded {
                    what: format!("item {item_id} is closed"),
                });
            }
            if refs.is_empty() {
                return Err(DomainError::Invalid {
                    field: "evidence",
                    reason: "closing an item needs evidence".to_owned(),
                });
            }
            text::evidence("evidence", refs)?;
            text::required("verifier", verifier, MAX_LEDGER_TEXT_CHARS)?;
            text::optional("note", note.as_deref(), MAX_LEDGER_TEXT_CHARS)?;
            Ok(vec![E::LedgerItemClosed {
                at,
                item_id: item_id.clone(),
                evidence: refs.clone(),
                verifier: verifier.clone(),
                note: note.clone(),
                complaints: found.complaints.clone(),
            }])
        }
        K::ReopenItem { item_id, reason } => {
            if !manages {
                return Err(denied(kind, "only the dispatch centre reopens items"));
            }
            open_ledger()?;
            let found = item(item_id)?;
            if found.closed_at.is_none() {
                return Err(rejected(state, format!("item {item_id} is not closed")));
            }
            text::required("reason", reason, MAX_LEDGER_TEXT_CHARS)?;
            Ok(vec![E::LedgerItemReopened {
                at,
                item_id: item_id.clone(),
                reason: reason.clone(),
            }])
        }
        K::LinkComplaint {
            item_id,
            complaint_id,
        } => {
            if !manages {
                return Err(denied(kind, "only the dispatch centre links complaints"));
            }
            open_ledger()?;
            let found = item(item_id)?;
            check_id("complaint_id", complaint_id)?;
            if found.complaints.contains(complaint_id) {
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
                at,
                item_id: item_id.clone(),
                complaint_id: complaint_id.clone(),
            }])
        }
        K::WarnItemDeadline {
            item_id,
            level,
            due_at,
        } => {
            if !matches!(role, Role::System | Role::Admin) {
                return Err(denied(kind, "only the deadline watcher records warnings"));
            }
            open_ledger()?;
            let found = item(item_id)?;
            if found.closed_at.is_some() {
                return Err(rejected(state, format!("item {item_id} is closed")));
            }
            if found.spec.deadline != Some(*due_at) {
                return Err(DomainError::Invalid {
                    field: "due_at",
                    reason: format!("item {item_id} is not due at {due_at}"),
                });
            }
            if found.warned.contains(&(*level, *due_at)) {
                return Err(DomainError::AlreadyRecorded {
                    what: format!("{level:?} warning on {item_id}"),
                });
            }
            if *level == WarningLevel::Red && at < *due_at {
                return Err(DomainError::Invalid {
                    field: "level",
                    reason: "a deadline is missed only once it has passed".to_owned(),
                });
            }
            Ok(vec![E::LedgerItemDeadlineWarned {
                at,
                item_id: item_id.clone(),
                level: *level,
                due_at: *due_at,
            }])
        }
        K::Close { note } => {
            if !manages {
                return Err(denied(kind, "only the dispatch centre closes ledgers"));
            }
            open_ledger()?;
            let open = state.open_items();
            if !open.is_empty() {
                return Err(rejected(
                    state,
                    format!("{} items are still open: {}", open.len(), open.join(", ")),
                ));
            }
            text::optional("note", note.as_deref(), MAX_LEDGER_TEXT_CHARS)?;
            Ok(vec![E::LedgerClosed {
                at,
                note: note.clone(),
            }])
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 8, 1, 0, 0).unwrap() + chrono::Duration::hours(hours)
    }

    fn actor(role: Role) -> Actor {
        Actor {
            principal: "p".into(),
            role,
        }
    }

    fn unit(code: &str) -> UnitCode {
        UnitCode::new(code).unwrap()
    }

    fn run(
        state: LedgerState,
        role: Role,
        kind: LedgerCommandKind,
    ) -> Result<LedgerState, DomainError> {
        let events = decide(
            &state,
            &LedgerCommand {
                actor: actor(role),
                at: at(1),
                kind,
            },
        )?;
        assert!(!events.is_empty());
        for event in &events {
            let (event_type, version, payload) = event.encode();
            assert_eq!(
                &LedgerEvent::decode(event_type, version, &payload).unwrap(),
                event
            );
        }
        Ok(events.iter().fold(state, evolve))
    }

    fn opened() -> LedgerState {
        let state = run(
            LedgerState::default(),
            Role::Dispatcher,
            LedgerCommandKind::Open {
                ledger_id: "self-2026".into(),
                title: "自查自纠台账".into(),
                source: LedgerSource::SelfInspection,
                owner: unit("business-environment-bureau"),
                phases: vec![],
            },
        )
        .unwrap();
        ["a", "b"].iter().fold(state, |state, id| {
            run(
                state,
                Role::Dispatcher,
                LedgerCommandKind::AddItem(ItemSpec {
                    item_id: (*id).into(),
                    problem: "审批材料重复提交".into(),
                    measures: "一次告知".into(),
                    group: None,
                    lead: vec![unit("gov-services")],
                    responsible: vec![unit("market-regulation")],
                    deadline: Some(at(48)),
                }),
            )
            .unwrap()
        })
    }

    fn close_item(state: LedgerState, id: &str) -> Result<LedgerState, DomainError> {
        run(
            state,
            Role::Dispatcher,
            LedgerCommandKind::CloseItem {
                item_id: id.into(),
                evidence: vec!["report-1".into()],
                verifier: "督查组 李四".into(),
                note: None,
            },
        )
    }

    #[test]
    fn a_ledger_closes_only_when_every_item_is_closed() {
        let state = close_item(opened(), "a").unwrap();
        let close = LedgerCommandKind::Close { note: None };
        match run(state.clone(), Role::Dispatcher, close.clone()) {
            Err(DomainError::Rejected { reason, .. }) => {
                assert!(reason.contains("1 items are still open: b"), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let state = close_item(state, "b").unwrap();
        let state = run(state, Role::Dispatcher, close).unwrap();
        assert_eq!(state.status_name(), "closed");
    }

    #[test]
    fn items_reopen_and_close_again_with_evidence_only() {
        let state = close_item(opened(), "a").unwrap();
        assert!(matches!(
            close_item(state.clone(), "a"),
            Err(DomainError::AlreadyRecorded { .. })
        ));
        let state = run(
            state,
            Role::Dispatcher,
            LedgerCommandKind::ReopenItem {
                item_id: "a".into(),
                reason: "复查发现反弹".into(),
            },
        )
        .unwrap();
        assert_eq!(state.open_items(), vec!["a", "b"]);
        let no_evidence = run(
            state,
            Role::Dispatcher,
            LedgerCommandKind::CloseItem {
                item_id: "a".into(),
                evidence: vec![],
                verifier: "x".into(),
                note: None,
            },
        );
        assert!(matches!(
            no_evidence,
            Err(DomainError::Invalid {
                field: "evidence",
                ..
            })
        ));
    }

    #[test]
    fn units_record_progress_on_their_items_only() {
        let progress = |role| {
            run(
                opened(),
                role,
                LedgerCommandKind::RecordProgress {
                    item_id: "a".into(),
                    note: "已制定一次告知清单".into(),
                    evidence: vec![],
                },
            )
        };
        assert!(progress(Role::Unit(unit("market-regulation"))).is_ok());
        assert!(matches!(
            progress(Role::Unit(unit("tax-bureau"))),
            Err(DomainError::NotPermitted { .. })
        ));
        assert!(matches!(
            progress(Role::Supervisor),
            Err(DomainError::NotPermitted { .. })
        ));
    }

    #[test]
    fn links_and_warnings_are_recorded_once() {
        let link = LedgerCommandKind::LinkComplaint {
            item_id: "a".into(),
            complaint_id: "RC-1".into(),
        };
        let state = run(opened(), Role::Dispatcher, link.clone()).unwrap();
        assert!(matches!(
            run(state.clone(), Role::Dispatcher, link),
            Err(DomainError::AlreadyRecorded { .. })
        ));
        let state = close_item(state, "a").unwrap();
        assert_eq!(state.items["a"].complaints, vec!["RC-1"]);
        let warn = |level| LedgerCommandKind::WarnItemDeadline {
            item_id: "b".into(),
            level,
            due_at: at(48),
        };
        let state = run(state, Role::System, warn(WarningLevel::Yellow)).unwrap();
        assert!(matches!(
            run(state.clone(), Role::System, warn(WarningLevel::Yellow)),
            Err(DomainError::AlreadyRecorded { .. })
        ));
        // Red before the deadline is refused.
        assert!(matches!(
            run(state, Role::System, warn(WarningLevel::Red)),
            Err(DomainError::Invalid { field: "level", .. })
        ));
    }

    #[test]
    fn item_texts_follow_the_text_rules() {
        let add = |problem: &str, evidence_ref: &str| {
            let state = run(
                opened(),
                Role::Dispatcher,
                LedgerCommandKind::AddItem(ItemSpec {
                    item_id: "c".into(),
                    problem: problem.into(),
                    measures: "一次告知".into(),
                    group: None,
                    lead: vec![unit("gov-services")],
                    responsible: vec![],
                    deadline: None,
                }),
            )?;
            run(
                state,
                Role::Dispatcher,
                LedgerCommandKind::CloseItem {
                    item_id: "c".into(),
                    evidence: vec![evidence_ref.into()],
                    verifier: "督查组 李四".into(),
                    note: None,
                },
            )
        };
        assert!(add("审批材料重复提交\n（多次）", "report-1").is_ok());
        assert_eq!(
            add("审批材料\u{1b}重复提交", "report-1"),
            Err(DomainError::Invalid {
                field: "problem",
                reason: "contains control characters".to_owned(),
            })
        );
        assert_eq!(
            add(&"长".repeat(MAX_TEXT_CHARS + 1), "report-1"),
            Err(DomainError::Invalid {
                field: "problem",
                reason: "longer than 2000 characters".to_owned(),
            })
        );
        assert_eq!(
            add("审批材料重复提交", " "),
            Err(DomainError::Invalid {
                field: "evidence",
                reason: "required".to_owned(),
            })
        );
    }

    #[test]
    fn commands_on_a_missing_ledger_or_item_are_not_found() {
        let missing = run(
            LedgerState::default(),
            Role::Dispatcher,
            LedgerCommandKind::Close { note: None },
        );
        assert!(matches!(
            missing,
            Err(DomainError::Missing { what: "ledger", .. })
        ));
        let missing_item = close_item(opened(), "zzz");
        assert!(matches!(
            missing_item,
            Err(DomainError::Missing {
                what: "ledger item",
                ..
            })
        ));
    }
}
