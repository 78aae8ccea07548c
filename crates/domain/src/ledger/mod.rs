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

mod decide;
mod state;
#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use decide::decide;
pub use state::{ItemState, LedgerInfo, LedgerState, evolve};

use crate::{Actor, UnitCode, complaint::WarningLevel};

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
