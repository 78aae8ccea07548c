//! Closure tracking (逐项销号) of rectification ledgers: per ledger, per group,
//! per unit and per phase — items total, open, closed and overdue, and the
//! share closed — and a per-unit rollup across every ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rectify_domain::{
    complaint::WarningLevel,
    ledger::{LedgerEvent, LedgerSource, Phase},
};
use serde::{Deserialize, Serialize};

/// One item of a rectification ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRow {
    /// Item id.
    pub item_id: String,
    /// The problem.
    pub problem: String,
    /// The measures.
    pub measures: String,
    /// Group (a task area for the plan).
    pub group: Option<String>,
    /// Lead units.
    pub lead: Vec<String>,
    /// Responsible units.
    pub responsible: Vec<String>,
    /// Deadline.
    pub deadline: Option<DateTime<Utc>>,
    /// When it was added.
    pub added_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who verified the closure.
    pub verifier: Option<String>,
    /// Progress notes recorded.
    pub progress_count: u32,
    /// Times reopened.
    pub reopen_count: u32,
    /// Complaints it answers.
    pub complaints: Vec<String>,
    /// Warnings recorded: (level, due time).
    pub warned: Vec<(WarningLevel, DateTime<Utc>)>,
}

impl ItemRow {
    /// Open and past its deadline at `now`.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.closed_at.is_none() && self.deadline.is_some_and(|d| d <= now)
    }

    /// The highest warning on the current deadline.
    pub fn warning(&self) -> Option<WarningLevel> {
        self.warned
            .iter()
            .filter(|(_, due)| Some(*due) == self.deadline)
            .map(|(level, _)| *level)
            .max()
    }

    /// Whether `unit` is a lead or responsible unit.
    pub fn involves(&self, unit: &str) -> bool {
        self.lead.iter().chain(&self.responsible).any(|u| u == unit)
    }
}

/// One rectification ledger and its items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerBook {
    /// Ledger id.
    pub ledger_id: String,
    /// Title.
    pub title: String,
    /// Source.
    pub source: LedgerSource,
    /// Owning unit.
    pub owner: String,
    /// Phases.
    pub phases: Vec<Phase>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Items by id.
    pub items: BTreeMap<String, ItemRow>,
    /// Stream version of the last applied event.
    pub version: u64,
    /// Position of the last applied event.
    pub position: u64,
}

impl LedgerBook {
    /// The ledger from its opening event; `None` for any other event.
    pub fn opened(position: u64, version: u64, event: &LedgerEvent) -> Option<Self> {
        let LedgerEvent::LedgerOpened {
            at,
            ledger_id,
            title,
            source,
            owner,
            phases,
        } = event
        else {
            return None;
        };
        Some(LedgerBook {
            ledger_id: ledger_id.clone(),
            title: title.clone(),
            source: *source,
            owner: owner.as_str().to_owned(),
            phases: phases.clone(),
            opened_at: *at,
            closed_at: None,
            items: BTreeMap::new(),
            version,
            position,
        })
    }

    /// Folds one event of this ledger's stream.
    pub fn apply(&mut self, position: u64, version: u64, event: &LedgerEvent) {
        use LedgerEvent as E;
        self.position = position;
        self.version = version;
        match event {
            E::LedgerOpened { .. } => {}
            E::LedgerItemAdded { at, item } => {
                self.items.insert(
                    item.item_id.clone(),
                    ItemRow {
                        item_id: item.item_id.clone(),
                        problem: item.problem.clone(),
                        measures: item.measures.clone(),
                        group: item.group.clone(),
                        lead: item.lead.iter().map(|u| u.as_str().to_owned()).collect(),
                        responsible: item
                            .responsible
                            .iter()
                            .map(|u| u.as_str().to_owned())
                            .collect(),
                        deadline: item.deadline,
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
                if let Some(item) = self.items.get_mut(item_id) {
                    item.progress_count = item.progress_count.saturating_add(1);
                }
            }
            E::LedgerItemClosed {
                at,
                item_id,
                verifier,
                ..
            } => {
                if let Some(item) = self.items.get_mut(item_id) {
                    item.closed_at = Some(*at);
                    item.verifier = Some(verifier.clone());
                }
            }
            E::LedgerItemReopened { item_id, .. } => {
                if let Some(item) = self.items.get_mut(item_id) {
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
                if let Some(item) = self.items.get_mut(item_id)
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
                if let Some(item) = self.items.get_mut(item_id) {
                    item.warned.push((*level, *due_at));
                }
            }
            E::LedgerClosed { at, .. } => self.closed_at = Some(*at),
        }
    }

    /// Closure figures of the whole ledger and per group, unit and phase.
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        let mut total = Tally::default();
        let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
        let mut units: BTreeMap<String, UnitTally> = BTreeMap::new();
        for item in self.items.values() {
            total.count(item, now);
            groups
                .entry(item.group.clone().unwrap_or_default())
                .or_default()
                .count(item, now);
            for unit in &item.lead {
                units
                    .entry(unit.clone())
                    .or_default()
                    .as_lead
                    .count(item, now);
            }
            for unit in &item.responsible {
                units
                    .entry(unit.clone())
                    .or_default()
                    .as_responsible
                    .count(item, now);
            }
        }
        let phases = self
            .phases
            .iter()
            .map(|phase| {
                let end = phase_end(phase);
                let due = self
                    .items
                    .values()
                    .filter(|i| i.deadline.is_some_and(|d| d <= end))
                    .count() as u64;
                let closed_by_end = self
                    .items
                    .values()
                    .filter(|i| i.closed_at.is_some_and(|c| c <= end))
                    .count() as u64;
                PhaseProgress {
                    code: phase.code.clone(),
                    name: phase.name.clone(),
                    ends: end,
                    due_by_end: due,
                    closed_by_end,
                }
            })
            .collect();
        Progress {
            total,
            groups,
            units,
            phases,
        }
    }
}

/// The last instant of a phase's last day, in China Standard Time.
fn phase_end(phase: &Phase) -> DateTime<Utc> {
    let china = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    phase
        .ends
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .and_then(|t| t.and_local_timezone(china).single())
        .map_or(DateTime::<Utc>::MAX_UTC, |t| {
            t.with_timezone(&Utc) - chrono::Duration::milliseconds(1)
        })
}

/// Items counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// All items.
    pub total: u64,
    /// Not closed.
    pub open: u64,
    /// Closed.
    pub closed: u64,
    /// Open and past their deadline.
    pub overdue: u64,
}

impl Tally {
    fn count(&mut self, item: &ItemRow, now: DateTime<Utc>) {
        self.total += 1;
        if item.closed_at.is_some() {
            self.closed += 1;
        } else {
            self.open += 1;
        }
        self.overdue += u64::from(item.is_overdue(now));
    }

    /// Closed ÷ total (1 for an empty ledger: nothing is left to do).
    pub fn share_closed(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.closed as f64 / self.total as f64
        }
    }
}

/// One unit's items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitTally {
    /// As lead unit.
    pub as_lead: Tally,
    /// As responsible unit.
    pub as_responsible: Tally,
}

/// Progress by the end of a phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseProgress {
    /// Phase code.
    pub code: String,
    /// Phase name.
    pub name: String,
    /// Its last instant.
    pub ends: DateTime<Utc>,
    /// Items due by then.
    pub due_by_end: u64,
    /// Items closed by then.
    pub closed_by_end: u64,
}

/// Closure figures of one ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The whole ledger.
    pub total: Tally,
    /// Per group ("" = no group).
    pub groups: BTreeMap<String, Tally>,
    /// Per unit.
    pub units: BTreeMap<String, UnitTally>,
    /// Per phase.
    pub phases: Vec<PhaseProgress>,
}

/// Characters bigrams of a text, for a rough similarity of Chinese texts.
pub fn bigrams(text: &str) -> std::collections::BTreeSet<(char, char)> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| {
            !c.is_whitespace() && !c.is_ascii_punctuation() && !"，。、；：！？（）“”".contains(*c)
        })
        .collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Jaccard similarity of two bigram sets.
pub fn similarity(
    a: &std::collections::BTreeSet<(char, char)>,
    b: &std::collections::BTreeSet<(char, char)>,
) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        0.0
    } else {
        a.intersection(b).count() as f64 / union as f64
    }
}
