//! Closure tracking (逐项销号) of rectification ledgers: per ledger, per group,
//! per unit and per phase — items total, open, closed and overdue, and the
//! share closed — and a per-unit rollup across every ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rectify_domain::ledger::{self, ItemState, LedgerEvent, LedgerInfo, LedgerState};
use serde::{Deserialize, Serialize};

/// One rectification ledger as the projection holds it: the domain's own
/// fold of the ledger's stream (so the two can never disagree) and the
/// stream version and log position it reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerBook {
    /// The folded state; its header is always set.
    pub state: LedgerState,
    /// Stream version of the last applied event.
    pub version: u64,
    /// Position of the last applied event.
    pub position: u64,
}

impl LedgerBook {
    /// The ledger from its opening event; `None` for any other event.
    pub fn opened(position: u64, version: u64, event: &LedgerEvent) -> Option<Self> {
        let LedgerEvent::LedgerOpened { .. } = event else {
            return None;
        };
        Some(LedgerBook {
            state: ledger::evolve(LedgerState::default(), event),
            version,
            position,
        })
    }

    /// Folds one event of this ledger's stream.
    pub fn apply(&mut self, position: u64, version: u64, event: &LedgerEvent) {
        // The view applies each position once, in order, so a stream's events only move on.
        debug_assert!(position > self.position && version > self.version);
        self.position = position;
        self.version = version;
        self.state = ledger::evolve(std::mem::take(&mut self.state), event);
    }

    /// The header (set from the opening event on).
    pub fn info(&self) -> Option<&LedgerInfo> {
        self.state.info.as_ref()
    }

    /// The ledger id.
    pub fn ledger_id(&self) -> &str {
        self.info().map_or("", |info| info.ledger_id.as_str())
    }

    /// Items by id.
    pub fn items(&self) -> &BTreeMap<String, ItemState> {
        &self.state.items
    }

    /// Closure figures of the whole ledger and per group, unit and phase.
    pub fn progress(&self, now: DateTime<Utc>) -> Progress {
        let mut total = Tally::default();
        let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
        let mut units: BTreeMap<String, UnitTally> = BTreeMap::new();
        for item in self.items().values() {
            total.count(item, now);
            groups
                .entry(item.spec.group.clone().unwrap_or_default())
                .or_default()
                .count(item, now);
            for unit in &item.spec.lead {
                units
                    .entry(unit.as_str().to_owned())
                    .or_default()
                    .as_lead
                    .count(item, now);
            }
            for unit in &item.spec.responsible {
                units
                    .entry(unit.as_str().to_owned())
                    .or_default()
                    .as_responsible
                    .count(item, now);
            }
        }
        let phases = self
            .info()
            .map(|info| info.phases.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|phase| {
                // The last instant of the phase's last day.
                let end = phase.end() - chrono::Duration::milliseconds(1);
                let items = self.items().values();
                PhaseProgress {
                    code: phase.code.clone(),
                    name: phase.name.clone(),
                    ends: end,
                    due_by_end: items
                        .clone()
                        .filter(|i| i.spec.deadline.is_some_and(|d| d <= end))
                        .count() as u64,
                    closed_by_end: items
                        .filter(|i| i.closed_at.is_some_and(|c| c <= end))
                        .count() as u64,
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
    fn count(&mut self, item: &ItemState, now: DateTime<Utc>) {
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
