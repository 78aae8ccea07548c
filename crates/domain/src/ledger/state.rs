//! The state folded from a ledger's events, and `evolve`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ItemSpec, LedgerEvent, LedgerSource, Phase};
use crate::{UnitCode, complaint::WarningLevel};

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
