//! The city's own mechanisms as read models: the registries (key
//! enterprises, liaison pairs, experience officers, grassroots stations) and
//! what complaints through those mechanisms came to: each station's
//! QR-code complaints with their closure and callbacks, ranked; and each
//! liaison cadre's (包联) complaints of their enterprises, with the cadre's
//! first contact, resolution and satisfaction; and each experience
//! officer's (营商环境体验官) reports, with acknowledgement, warnings,
//! closure and satisfaction, per officer and per officer kind.
//!
//! [`MechanismsView`] is a pure fold of the log like the issue ledger: it
//! reads `registry-*` streams whole, and of complaints only the events that
//! matter here (intake, callbacks, closure), skipping the others by their
//! type before decoding them. It is kept in memory and checkpointed like
//! the ledger, by the same runner ([`crate::runner`]), in its own tree of
//! the projection store (`mechanisms`): each applied page writes the records
//! and complaint facts it changed (registry records as JSON with the
//! position they were recorded at, complaint facts in the binary encoding
//! of `codec.rs`) and the position reached, in one atomic batch. At start
//! ([`start`]) the view is loaded from the checkpoint and catches up from
//! the position after it.
//!
//! Folding the whole log at every start was measured too slow to keep: the
//! view must read every event to find the few it keeps, so the refold runs
//! at the log's raw read rate, seconds per million events on a busy
//! machine (see `docs/benchmarks.md`, "The mechanisms view at start"),
//! while loading the checkpoint costs only the facts it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rectify_domain::{
    ComplaintEvent,
    complaint::Satisfaction,
    registry::{
        self, Enterprise, Liaison, Officer, OfficerKind, RegistryEvent, RegistryKind,
        RegistryRecord, Station,
    },
};
use rectify_eventlog::{EventStore, RecordedEvent};
use tokio::sync::watch;

use crate::{
    ProjectionError, codec,
    ledger::COMPLAINT_STREAM_PREFIX,
    runner::{self, Checkpointed, Encoded, KEY_APPLIED, KEY_FORMAT, ProjectionDb},
};

/// The view's tree in the projection store.
pub(crate) const TREE: &str = "mechanisms";
/// The format of the checkpoint; a tree in another format is cleared and
/// the view folded again from position 1.
pub const CHECKPOINT_FORMAT: u64 = 1;
/// Key prefixes: `r/<registry>/<key>` a record (the position it was
/// recorded at, 8 bytes big-endian, then its JSON), `m/<complaint id>` a
/// complaint's facts.
const PREFIX_RECORD: &[u8] = b"r/";
const PREFIX_FACTS: &[u8] = b"m/";

/// The complaint event types this view reads; the rest are skipped unread.
const COMPLAINT_EVENTS: [&str; 9] = [
    "ComplaintReceived",
    "LiaisonAssigned",
    "LiaisonNoteRecorded",
    "RectificationStepRecorded",
    "ResolutionSubmitted",
    "CallbackRecorded",
    "ComplaintClosed",
    "DeadlineWarned",
    "DeadlineMissed",
];
/// Of them, those that start tracking a complaint (read for every one).
const TRACKING_EVENTS: [&str; 2] = ["ComplaintReceived", "LiaisonAssigned"];

/// What the view keeps of a complaint whose enterprise has a liaison cadre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiaisonComplaint {
    /// The cadre told at dispatch.
    pub cadre: String,
    /// The enterprise's credit code.
    pub credit_code: String,
    /// When the cadre was told.
    pub assigned_at: DateTime<Utc>,
    /// The cadre's first contact with the enterprise.
    pub contacted_at: Option<DateTime<Utc>>,
    /// Notes the cadre recorded.
    pub notes: u32,
    /// A resolution was submitted (办结).
    pub resolved: bool,
    /// Closure (销号), once closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Callbacks recorded with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
    /// Callbacks that found the problem solved.
    pub solved: u32,
}

/// What the view keeps of an experience officer's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerComplaint {
    /// The officer's id.
    pub officer: String,
    /// Intake.
    pub received_at: DateTime<Utc>,
    /// The first contact with the officer (a handling step that reached
    /// the submitter): the acknowledgement the response rules ask for.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Deadline warnings and misses recorded on it.
    pub warnings: u32,
    /// Closure (销号), once closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Callbacks (feedback to the officer) with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
}

/// Figures of a group of officer reports: one officer's, or one kind's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficerTally {
    /// Reports.
    pub reports: u32,
    /// Of them acknowledged (the officer was contacted).
    pub acknowledged: u32,
    /// Median minutes from intake to acknowledgement.
    pub median_minutes_to_acknowledge: Option<u64>,
    /// Of them warned or missed at least once.
    pub warned: u32,
    /// Of them closed.
    pub closed: u32,
    /// Callbacks with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
}

/// Officer tallies per officer (by id) and per officer kind
/// ([`MechanismsView::officer_tallies`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficerTallies {
    /// Every registered officer (and any other who reported), by id.
    pub by_officer: Vec<(String, OfficerTally)>,
    /// Every officer kind with reports.
    pub by_kind: Vec<(OfficerKind, OfficerTally)>,
}

/// One liaison cadre's figures ([`MechanismsView::liaison_reports`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiaisonReport {
    /// The cadre's principal.
    pub cadre: String,
    /// Enterprises paired with the cadre in the registry.
    pub enterprises: u32,
    /// Complaints of those enterprises the cadre was told of.
    pub complaints: u32,
    /// Of them, where the cadre has reached the enterprise.
    pub contacted: u32,
    /// Median minutes from being told to first contact.
    pub median_minutes_to_contact: Option<u64>,
    /// Of them, resolved (办结 submitted).
    pub resolved: u32,
    /// Of them, closed.
    pub closed: u32,
    /// Callbacks with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
    /// Callbacks that found the problem solved.
    pub solved: u32,
    /// The complaints, by id.
    pub complaint_ids: Vec<String>,
}

/// What the view keeps of a complaint that came through a station's QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationComplaint {
    /// The station's code.
    pub station: String,
    /// Intake.
    pub received_at: DateTime<Utc>,
    /// Closure (销号), once closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Callbacks recorded with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
}

/// One station's figures ([`MechanismsView::station_rankings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRanking {
    /// The station.
    pub station: Station,
    /// Complaints through its QR code.
    pub complaints: u32,
    /// Of them closed.
    pub closed: u32,
    /// Callbacks with a satisfaction.
    pub callbacks: u32,
    /// Of them satisfied or basically satisfied.
    pub satisfied: u32,
    /// Median minutes from intake to closure of the closed ones.
    pub median_minutes_to_close: Option<u64>,
}

impl StationRanking {
    /// satisfied / callbacks in per mille, when there are callbacks.
    pub fn satisfaction_permille(&self) -> Option<u32> {
        (self.callbacks > 0).then(|| {
            u32::try_from(u64::from(self.satisfied) * 1_000 / u64::from(self.callbacks))
                .unwrap_or(1_000)
        })
    }
}

/// What one event changed in the view: a registry record or a complaint's
/// facts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// The record of this registry and key.
    Record(RegistryKind, String),
    /// The facts of the complaint with this id.
    Complaint(String),
}

/// The registries and mechanism facts folded from the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MechanismsView {
    applied: u64,
    enterprises: BTreeMap<String, Enterprise>,
    /// Normalised name or alias → the credit codes of the enterprises
    /// claiming it, by the position each was recorded at; the newest
    /// recorded one answers to the name.
    claims: BTreeMap<String, BTreeMap<u64, String>>,
    /// The position each record was last recorded at, by registry and key.
    recorded: BTreeMap<(RegistryKind, String), u64>,
    liaisons: BTreeMap<String, Liaison>,
    officers: BTreeMap<String, Officer>,
    stations: BTreeMap<String, Station>,
    station_complaints: BTreeMap<String, StationComplaint>,
    liaison_complaints: BTreeMap<String, LiaisonComplaint>,
    officer_complaints: BTreeMap<String, OfficerComplaint>,
}

/// A name as matched against the registry: without whitespace and ASCII
/// punctuation, ASCII lowercased, full-width brackets as half-width ones.
pub fn normalise_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '.' | ',' | '-' | '_'))
        .collect()
}

impl MechanismsView {
    /// The last log position applied.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Applies one event; events must come in position order. Returns what
    /// it changed, if anything.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Option<Changed>, ProjectionError> {
        if event.position <= self.applied {
            return Err(ProjectionError::OutOfOrder {
                applied: self.applied,
                got: event.position,
            });
        }
        self.applied = event.position;
        let decode_error = |reason: String| ProjectionError::Decode {
            position: event.position,
            reason,
        };
        if event.stream.starts_with(registry::STREAM_PREFIX) {
            let decoded =
                RegistryEvent::decode(&event.event_type, event.schema_version, &event.payload)
                    .map_err(decode_error)?;
            let RegistryEvent::RegistryRecorded { record, .. } = decoded;
            let changed = Changed::Record(record.kind(), record.key().to_owned());
            self.record(record, event.position);
            return Ok(Some(changed));
        }
        let Some(id) = event.stream.strip_prefix(COMPLAINT_STREAM_PREFIX) else {
            return Ok(None);
        };
        let event_type = event.event_type.as_str();
        if !COMPLAINT_EVENTS.contains(&event_type)
            || (!TRACKING_EVENTS.contains(&event_type)
                && !self.station_complaints.contains_key(id)
                && !self.liaison_complaints.contains_key(id)
                && !self.officer_complaints.contains_key(id))
        {
            return Ok(None);
        }
        let decoded =
            ComplaintEvent::decode(&event.event_type, event.schema_version, &event.payload)
                .map_err(|e| decode_error(e.to_string()))?;
        self.apply_complaint(id, &decoded);
        let tracked = self.station_complaints.contains_key(id)
            || self.liaison_complaints.contains_key(id)
            || self.officer_complaints.contains_key(id);
        Ok(tracked.then(|| Changed::Complaint(id.to_owned())))
    }

    /// Records `record`, recorded at `position` (after any record of the
    /// same key).
    fn record(&mut self, record: RegistryRecord, position: u64) {
        let previous = self
            .recorded
            .insert((record.kind(), record.key().to_owned()), position);
        match record {
            RegistryRecord::Enterprise(enterprise) => {
                let code = enterprise.credit_code.as_str().to_owned();
                if let (Some(old), Some(at)) = (self.enterprises.get(&code), previous) {
                    for name in names_of(old) {
                        if let Some(claims) = self.claims.get_mut(&name) {
                            claims.remove(&at);
                            if claims.is_empty() {
                                self.claims.remove(&name);
                            }
                        }
                    }
                }
                for name in names_of(&enterprise) {
                    self.claims
                        .entry(name)
                        .or_default()
                        .insert(position, code.clone());
                }
                self.enterprises.insert(code, enterprise);
            }
            RegistryRecord::Liaison(liaison) => {
                self.liaisons
                    .insert(liaison.credit_code.as_str().to_owned(), liaison);
            }
            RegistryRecord::Officer(officer) => {
                self.officers.insert(officer.id.clone(), officer);
            }
            RegistryRecord::Station(station) => {
                self.stations
                    .insert(station.code.as_str().to_owned(), station);
            }
        }
    }

    fn apply_complaint(&mut self, id: &str, event: &ComplaintEvent) {
        self.apply_liaison(id, event);
        self.apply_officer(id, event);
        match event {
            ComplaintEvent::ComplaintReceived { at, submission } => {
                if let Some(station) = &submission.station {
                    self.station_complaints.insert(
                        id.to_owned(),
                        StationComplaint {
                            station: station.as_str().to_owned(),
                            received_at: *at,
                            closed_at: None,
                            callbacks: 0,
                            satisfied: 0,
                        },
                    );
                }
            }
            ComplaintEvent::CallbackRecorded {
                satisfaction: Some(satisfaction),
                ..
            } => {
                if let Some(facts) = self.station_complaints.get_mut(id) {
                    facts.callbacks += 1;
                    if !matches!(satisfaction, Satisfaction::Unsatisfied) {
                        facts.satisfied += 1;
                    }
                }
            }
            ComplaintEvent::ComplaintClosed { at, .. } => {
                if let Some(facts) = self.station_complaints.get_mut(id) {
                    facts.closed_at = Some(*at);
                }
            }
            _ => {}
        }
    }

    fn apply_liaison(&mut self, id: &str, event: &ComplaintEvent) {
        if let ComplaintEvent::LiaisonAssigned { at, liaison } = event {
            self.liaison_complaints.insert(
                id.to_owned(),
                LiaisonComplaint {
                    cadre: liaison.cadre.clone(),
                    credit_code: liaison.credit_code.clone(),
                    assigned_at: *at,
                    contacted_at: None,
                    notes: 0,
                    resolved: false,
                    closed_at: None,
                    callbacks: 0,
                    satisfied: 0,
                    solved: 0,
                },
            );
            return;
        }
        let Some(facts) = self.liaison_complaints.get_mut(id) else {
            return;
        };
        match event {
            ComplaintEvent::LiaisonNoteRecorded { at, contacted, .. } => {
                facts.notes += 1;
                if *contacted && facts.contacted_at.is_none() {
                    facts.contacted_at = Some(*at);
                }
            }
            ComplaintEvent::ResolutionSubmitted { .. } => facts.resolved = true,
            ComplaintEvent::CallbackRecorded {
                satisfaction,
                solved,
                ..
            } => {
                if let Some(satisfaction) = satisfaction {
                    facts.callbacks += 1;
                    if !matches!(satisfaction, Satisfaction::Unsatisfied) {
                        facts.satisfied += 1;
                    }
                }
                if *solved {
                    facts.solved += 1;
                }
            }
            ComplaintEvent::ComplaintClosed { at, .. } => facts.closed_at = Some(*at),
            _ => {}
        }
    }

    fn apply_officer(&mut self, id: &str, event: &ComplaintEvent) {
        if let ComplaintEvent::ComplaintReceived { at, submission } = event {
            if let Some(officer) = &submission.officer {
                self.officer_complaints.insert(
                    id.to_owned(),
                    OfficerComplaint {
                        officer: officer.clone(),
                        received_at: *at,
                        acknowledged_at: None,
                        warnings: 0,
                        closed_at: None,
                        callbacks: 0,
                        satisfied: 0,
                    },
                );
            }
            return;
        }
        let Some(facts) = self.officer_complaints.get_mut(id) else {
            return;
        };
        match event {
            ComplaintEvent::RectificationStepRecorded {
                at,
                contacted_submitter: true,
                ..
            } => {
                facts.acknowledged_at.get_or_insert(*at);
            }
            ComplaintEvent::DeadlineWarned { .. } | ComplaintEvent::DeadlineMissed { .. } => {
                facts.warnings += 1;
            }
            ComplaintEvent::CallbackRecorded {
                satisfaction: Some(satisfaction),
                ..
            } => {
                facts.callbacks += 1;
                if !matches!(satisfaction, Satisfaction::Unsatisfied) {
                    facts.satisfied += 1;
                }
            }
            ComplaintEvent::ComplaintClosed { at, .. } => facts.closed_at = Some(*at),
            _ => {}
        }
    }

    /// What the view keeps of one officer report.
    pub fn officer_complaint(&self, complaint_id: &str) -> Option<&OfficerComplaint> {
        self.officer_complaints.get(complaint_id)
    }

    /// The reports of one officer, by complaint id.
    pub fn officer_reports(&self, officer: &str) -> Vec<(&str, &OfficerComplaint)> {
        self.officer_complaints
            .iter()
            .filter(|(_, facts)| facts.officer == officer)
            .map(|(id, facts)| (id.as_str(), facts))
            .collect()
    }

    /// Figures per officer (every registered officer, by id) and per
    /// officer kind (reports of officers no longer registered count under
    /// no kind).
    pub fn officer_tallies(&self) -> OfficerTallies {
        let mut by_officer: BTreeMap<String, (OfficerTally, Vec<u64>)> = self
            .officers
            .keys()
            .map(|id| (id.clone(), Default::default()))
            .collect();
        let mut by_kind: BTreeMap<OfficerKind, (OfficerTally, Vec<u64>)> = BTreeMap::new();
        for facts in self.officer_complaints.values() {
            let kind = self.officers.get(&facts.officer).map(|o| o.kind);
            let mut groups = vec![by_officer.entry(facts.officer.clone()).or_default()];
            if let Some(kind) = kind {
                groups.push(by_kind.entry(kind).or_default());
            }
            for (tally, minutes) in groups {
                tally.reports += 1;
                tally.warned += u32::from(facts.warnings > 0);
                tally.closed += u32::from(facts.closed_at.is_some());
                tally.callbacks += facts.callbacks;
                tally.satisfied += facts.satisfied;
                if let Some(acknowledged_at) = facts.acknowledged_at {
                    tally.acknowledged += 1;
                    let taken = (acknowledged_at - facts.received_at).num_minutes().max(0);
                    minutes.push(u64::try_from(taken).unwrap_or(0));
                }
            }
        }
        fn finish<K>(groups: BTreeMap<K, (OfficerTally, Vec<u64>)>) -> Vec<(K, OfficerTally)> {
            groups
                .into_iter()
                .map(|(key, (mut tally, mut minutes))| {
                    minutes.sort_unstable();
                    tally.median_minutes_to_acknowledge = median(&minutes);
                    (key, tally)
                })
                .collect()
        }
        OfficerTallies {
            by_officer: finish(by_officer),
            by_kind: finish(by_kind),
        }
    }

    /// The complaints through `station`, of `cadre` and of `officer` (each
    /// when given; all given must hold); `None` when none is given.
    pub fn complaints_through(
        &self,
        station: Option<&str>,
        cadre: Option<&str>,
        officer: Option<&str>,
    ) -> Option<std::collections::BTreeSet<String>> {
        let mut sets = Vec::new();
        if let Some(station) = station {
            sets.push(ids(&self.station_complaints, |f| f.station == station));
        }
        if let Some(cadre) = cadre {
            sets.push(ids(&self.liaison_complaints, |f| f.cadre == cadre));
        }
        if let Some(officer) = officer {
            sets.push(ids(&self.officer_complaints, |f| f.officer == officer));
        }
        sets.into_iter()
            .reduce(|a, b| a.intersection(&b).cloned().collect())
    }

    /// What the view keeps of one liaison complaint.
    pub fn liaison_complaint(&self, complaint_id: &str) -> Option<&LiaisonComplaint> {
        self.liaison_complaints.get(complaint_id)
    }

    /// Every cadre of the liaison registry, and any other cadre told of a
    /// complaint, with their figures, by cadre.
    pub fn liaison_reports(&self) -> Vec<LiaisonReport> {
        let mut reports: BTreeMap<&str, LiaisonReport> = BTreeMap::new();
        let empty = |cadre: &str| LiaisonReport {
            cadre: cadre.to_owned(),
            enterprises: 0,
            complaints: 0,
            contacted: 0,
            median_minutes_to_contact: None,
            resolved: 0,
            closed: 0,
            callbacks: 0,
            satisfied: 0,
            solved: 0,
            complaint_ids: Vec::new(),
        };
        for pair in self.liaisons.values() {
            reports
                .entry(pair.cadre.as_str())
                .or_insert_with(|| empty(&pair.cadre))
                .enterprises += 1;
        }
        let mut minutes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (id, facts) in &self.liaison_complaints {
            let report = reports
                .entry(facts.cadre.as_str())
                .or_insert_with(|| empty(&facts.cadre));
            report.complaints += 1;
            report.complaint_ids.push(id.clone());
            report.resolved += u32::from(facts.resolved);
            report.closed += u32::from(facts.closed_at.is_some());
            report.callbacks += facts.callbacks;
            report.satisfied += facts.satisfied;
            report.solved += facts.solved;
            if let Some(contacted_at) = facts.contacted_at {
                report.contacted += 1;
                let taken = (contacted_at - facts.assigned_at).num_minutes().max(0);
                minutes
                    .entry(facts.cadre.as_str())
                    .or_default()
                    .push(u64::try_from(taken).unwrap_or(0));
            }
        }
        for (cadre, mut taken) in minutes {
            taken.sort_unstable();
            if let Some(report) = reports.get_mut(cadre) {
                report.median_minutes_to_contact = median(&taken);
            }
        }
        reports.into_values().collect()
    }

    /// The enterprise with this credit code.
    pub fn enterprise(&self, credit_code: &str) -> Option<&Enterprise> {
        self.enterprises.get(credit_code)
    }

    /// The enterprise a complaint names: by credit code, else by its
    /// registered name or an alias (normalised, see [`normalise_name`]);
    /// of enterprises sharing a name, the one recorded last.
    pub fn find_enterprise(&self, named: &str) -> Option<&Enterprise> {
        let upper = named.trim().to_ascii_uppercase();
        self.enterprises.get(&upper).or_else(|| {
            self.claims
                .get(&normalise_name(named))
                .and_then(|claims| claims.values().next_back())
                .and_then(|code| self.enterprises.get(code))
        })
    }

    /// The liaison pair of an enterprise, if one is recorded.
    pub fn liaison(&self, credit_code: &str) -> Option<&Liaison> {
        self.liaisons.get(credit_code)
    }

    /// The officer with this id.
    pub fn officer(&self, id: &str) -> Option<&Officer> {
        self.officers.get(id)
    }

    /// The station with this code.
    pub fn station(&self, code: &str) -> Option<&Station> {
        self.stations.get(code)
    }

    /// The records of one registry, in key order.
    pub fn records(&self, kind: RegistryKind) -> Vec<RegistryRecord> {
        match kind {
            RegistryKind::Enterprise => self
                .enterprises
                .values()
                .cloned()
                .map(RegistryRecord::Enterprise)
                .collect(),
            RegistryKind::Liaison => self
                .liaisons
                .values()
                .cloned()
                .map(RegistryRecord::Liaison)
                .collect(),
            RegistryKind::Officer => self
                .officers
                .values()
                .cloned()
                .map(RegistryRecord::Officer)
                .collect(),
            RegistryKind::Station => self
                .stations
                .values()
                .cloned()
                .map(RegistryRecord::Station)
                .collect(),
        }
    }

    /// What the view keeps of one station complaint.
    pub fn station_complaint(&self, complaint_id: &str) -> Option<&StationComplaint> {
        self.station_complaints.get(complaint_id)
    }

    /// Every registered station with its figures, most complaints first,
    /// then by code.
    pub fn station_rankings(&self) -> Vec<StationRanking> {
        let mut minutes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        let mut rankings: BTreeMap<&str, StationRanking> = self
            .stations
            .iter()
            .map(|(code, station)| {
                (
                    code.as_str(),
                    StationRanking {
                        station: station.clone(),
                        complaints: 0,
                        closed: 0,
                        callbacks: 0,
                        satisfied: 0,
                        median_minutes_to_close: None,
                    },
                )
            })
            .collect();
        for facts in self.station_complaints.values() {
            // A complaint names a station only once it is registered (the
            // service checks), so every one has its entry.
            let Some(ranking) = rankings.get_mut(facts.station.as_str()) else {
                continue;
            };
            ranking.complaints += 1;
            ranking.callbacks += facts.callbacks;
            ranking.satisfied += facts.satisfied;
            if let Some(closed_at) = facts.closed_at {
                ranking.closed += 1;
                let taken = (closed_at - facts.received_at).num_minutes().max(0);
                minutes
                    .entry(facts.station.as_str())
                    .or_default()
                    .push(u64::try_from(taken).unwrap_or(0));
            }
        }
        for (code, mut taken) in minutes {
            taken.sort_unstable();
            if let Some(ranking) = rankings.get_mut(code) {
                ranking.median_minutes_to_close = median(&taken);
            }
        }
        let mut ranked: Vec<StationRanking> = rankings.into_values().collect();
        ranked.sort_by(|a, b| {
            b.complaints
                .cmp(&a.complaints)
                .then_with(|| a.station.code.cmp(&b.station.code))
        });
        ranked
    }
}

/// The normalised name and aliases of an enterprise.
fn names_of(enterprise: &Enterprise) -> impl Iterator<Item = String> + '_ {
    std::iter::once(&enterprise.name)
        .chain(&enterprise.aliases)
        .map(|name| normalise_name(name))
}

/// The ids of the complaints in `facts` that pass `keep`.
fn ids<F>(
    facts: &BTreeMap<String, F>,
    keep: impl Fn(&F) -> bool,
) -> std::collections::BTreeSet<String> {
    facts
        .iter()
        .filter(|(_, f)| keep(f))
        .map(|(id, _)| id.clone())
        .collect()
}

/// The median of sorted values (the lower middle of an even count).
fn median(sorted: &[u64]) -> Option<u64> {
    match sorted.len() {
        0 => None,
        n => Some(sorted[(n - 1) / 2]),
    }
}

/// The live view: shared state and the position it reflects.
#[derive(Debug, Clone)]
pub struct Mechanisms {
    view: Arc<RwLock<MechanismsView>>,
    applied: watch::Receiver<u64>,
}

impl Mechanisms {
    /// Runs `f` on the current view. Keep `f` short: the runner waits.
    pub fn read<R>(&self, f: impl FnOnce(&MechanismsView) -> R) -> R {
        let view = self
            .view
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&view)
    }

    /// Waits until the view has applied `position`, at most `timeout`.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), ProjectionError> {
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(timeout, applied.wait_for(|p| *p >= position)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(ProjectionError::NotYetApplied {
                wanted: position,
                applied: *self.applied.borrow(),
            }),
        }
    }
}

impl Checkpointed for MechanismsView {
    type Changed = Changed;
    const NAME: &'static str = "mechanisms";

    fn applied_position(&self) -> u64 {
        self.applied
    }

    fn apply_event(&mut self, event: &RecordedEvent) -> Result<Option<Changed>, ProjectionError> {
        self.apply(event)
    }

    fn encode_changed(
        &mut self,
        dirty: &BTreeSet<Changed>,
    ) -> Result<Vec<Encoded>, ProjectionError> {
        let mut encoded = Vec::with_capacity(dirty.len());
        for changed in dirty {
            match changed {
                Changed::Record(kind, key) => {
                    let Some(record) = self.record_of(*kind, key) else {
                        continue;
                    };
                    let position = self
                        .recorded
                        .get(&(*kind, key.clone()))
                        .copied()
                        .unwrap_or(0);
                    let mut value = position.to_be_bytes().to_vec();
                    serde_json::to_writer(&mut value, &record)
                        .map_err(|error| ProjectionError::Checkpoint(error.to_string()))?;
                    encoded.push((record_key(*kind, key), value));
                }
                Changed::Complaint(id) => {
                    let facts = (
                        self.station_complaints.get(id),
                        self.liaison_complaints.get(id),
                        self.officer_complaints.get(id),
                    );
                    if facts == (None, None, None) {
                        continue;
                    }
                    let mut value = Vec::with_capacity(64);
                    codec::encode_mechanism_facts(facts.0, facts.1, facts.2, &mut value);
                    encoded.push(([PREFIX_FACTS, id.as_bytes()].concat(), value));
                }
            }
        }
        Ok(encoded)
    }
}

impl MechanismsView {
    /// The record of `kind` with `key`, cloned.
    fn record_of(&self, kind: RegistryKind, key: &str) -> Option<RegistryRecord> {
        match kind {
            RegistryKind::Enterprise => self
                .enterprises
                .get(key)
                .cloned()
                .map(RegistryRecord::Enterprise),
            RegistryKind::Liaison => self.liaisons.get(key).cloned().map(RegistryRecord::Liaison),
            RegistryKind::Officer => self.officers.get(key).cloned().map(RegistryRecord::Officer),
            RegistryKind::Station => self.stations.get(key).cloned().map(RegistryRecord::Station),
        }
    }

    /// The view saved in `tree` by checkpoints; an empty view when the tree
    /// is empty or in another format (then cleared). Blocking.
    pub(crate) fn load(tree: &sled::Tree) -> Result<Self, ProjectionError> {
        let format = tree
            .get(KEY_FORMAT)?
            .map(|v| runner::read_u64(&v))
            .transpose()?;
        if format != Some(CHECKPOINT_FORMAT) {
            if format.is_some() {
                tracing::warn!(
                    ?format,
                    current = CHECKPOINT_FORMAT,
                    "mechanisms checkpoint format changed; folding the log again"
                );
            }
            tree.clear()?;
            tree.insert(KEY_FORMAT, &CHECKPOINT_FORMAT.to_be_bytes())?;
            return Ok(Self::default());
        }
        let undecodable = |key: &[u8], error: &dyn std::fmt::Display| {
            ProjectionError::Checkpoint(format!(
                "{:?} does not decode: {error}",
                String::from_utf8_lossy(key)
            ))
        };
        let mut view = Self {
            applied: match tree.get(KEY_APPLIED)? {
                Some(bytes) => runner::read_u64(&bytes)?,
                None => 0,
            },
            ..Self::default()
        };
        let mut records = Vec::new();
        for entry in tree.scan_prefix(PREFIX_RECORD) {
            let (key, value) = entry?;
            let (position, json) = value
                .split_first_chunk::<8>()
                .ok_or_else(|| undecodable(&key, &"shorter than its position"))?;
            let record: RegistryRecord =
                serde_json::from_slice(json).map_err(|e| undecodable(&key, &e))?;
            records.push((u64::from_be_bytes(*position), record));
        }
        // In the order they were recorded, so names shared by enterprises
        // resolve as they did when folded.
        records.sort_by_key(|(position, _)| *position);
        for (position, record) in records {
            view.record(record, position);
        }
        for entry in tree.scan_prefix(PREFIX_FACTS) {
            let (key, value) = entry?;
            let id = std::str::from_utf8(&key[PREFIX_FACTS.len()..])
                .map_err(|e| undecodable(&key, &e))?
                .to_owned();
            let (station, liaison, officer) =
                codec::decode_mechanism_facts(&value).map_err(|e| undecodable(&key, &e))?;
            if let Some(facts) = station {
                view.station_complaints.insert(id.clone(), facts);
            }
            if let Some(facts) = liaison {
                view.liaison_complaints.insert(id.clone(), facts);
            }
            if let Some(facts) = officer {
                view.officer_complaints.insert(id, facts);
            }
        }
        Ok(view)
    }
}

fn record_key(kind: RegistryKind, key: &str) -> Vec<u8> {
    [PREFIX_RECORD, kind.name().as_bytes(), b"/", key.as_bytes()].concat()
}

/// Loads the view from its checkpoint in `db` (or folds the log from
/// position 1 when there is none, or when it is ahead of the log, which
/// was then restored to an earlier point), catches up with the log, and
/// follows it in a background task until `store` closes or the task is
/// aborted; each applied page writes a checkpoint.
pub async fn start<S: EventStore + Clone>(
    store: S,
    db: &ProjectionDb,
) -> Result<(Mechanisms, tokio::task::JoinHandle<()>), ProjectionError> {
    let tree = db.named_tree(TREE)?;
    let loading = tree.clone();
    let mut view = tokio::task::spawn_blocking(move || MechanismsView::load(&loading))
        .await
        .map_err(|error| ProjectionError::Checkpoint(error.to_string()))??;
    let head = store.head_position().await?;
    if view.applied() > head {
        tracing::warn!(
            applied = view.applied(),
            head,
            "the mechanisms checkpoint is ahead of the log; folding the log again"
        );
        let clearing = tree.clone();
        view = tokio::task::spawn_blocking(move || -> Result<_, ProjectionError> {
            clearing.clear()?;
            MechanismsView::load(&clearing)
        })
        .await
        .map_err(|error| ProjectionError::Checkpoint(error.to_string()))??;
    }
    let resumed_from = view.applied();
    let view = Arc::new(RwLock::new(view));
    let started = std::time::Instant::now();
    let trees = runner::Trees {
        main: tree,
        side: None,
    };
    let reached = runner::catch_up_view(&store, &trees, &view, &mut |_, _| {}).await?;
    tracing::info!(
        resumed_from,
        reached,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "mechanisms view caught up"
    );
    let (sender, receiver) = watch::channel(reached);
    let handle = Mechanisms {
        view: view.clone(),
        applied: receiver,
    };
    let task = tokio::spawn(async move {
        if let Err(error) = runner::follow(store, trees, view, sender).await {
            tracing::error!(%error, "the mechanisms view stopped");
        }
    });
    Ok((handle, task))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use rectify_domain::{
        ComplaintId, DistrictCode, UnitCode,
        complaint::{Channel, ComplaintKind, LiaisonRef, Submission},
        registry::{CreditCode, EnterpriseKind, LiaisonLevel},
    };
    use rectify_eventlog::{Metadata, RecordedEvent, Uuid};

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 2, 1, minute, 0).unwrap()
    }

    /// `events` (stream, type, version, payload) as recorded from position 1.
    fn recorded(events: &[(String, &str, u32, Vec<u8>)]) -> Vec<RecordedEvent> {
        events
            .iter()
            .enumerate()
            .map(
                |(index, (stream, event_type, schema_version, payload))| RecordedEvent {
                    stream: stream.clone(),
                    version: 0,
                    position: index as u64 + 1,
                    id: Uuid::nil(),
                    event_type: (*event_type).to_owned(),
                    schema_version: *schema_version,
                    payload: payload.clone(),
                    metadata: Metadata::default(),
                    hash: [0; 32],
                },
            )
            .collect()
    }

    /// Feeds `events` (stream, type, version, payload) in order.
    fn fold(events: &[(String, &str, u32, Vec<u8>)]) -> MechanismsView {
        let mut view = MechanismsView::default();
        for event in recorded(events) {
            view.apply(&event).unwrap();
        }
        view
    }

    fn registry(record: RegistryRecord) -> (String, &'static str, u32, Vec<u8>) {
        let stream = record.stream_name();
        let (event_type, version, payload) =
            RegistryEvent::RegistryRecorded { at: at(0), record }.encode();
        (stream, event_type, version, payload)
    }

    fn complaint(id: &str, event: ComplaintEvent) -> (String, &'static str, u32, Vec<u8>) {
        let (event_type, version, payload) = event.encode();
        (format!("complaint-{id}"), event_type, version, payload)
    }

    fn received(id: &str, station: Option<&str>) -> ComplaintEvent {
        ComplaintEvent::ComplaintReceived {
            at: at(0),
            submission: Submission {
                id: ComplaintId::new(id).unwrap(),
                channel: Channel::QrCode,
                kind: ComplaintKind::Complaint,
                submitter: None,
                sealed_submitter: Some("sealed".into()),
                enterprise: None,
                district: None,
                location: None,
                title: "窗口排队".into(),
                text: "排队两小时".into(),
                external_ref: None,
                station: station.map(|s| rectify_domain::StationCode::new(s).unwrap()),
                officer: None,
                dispatch_due_at: at(30),
            },
        }
    }

    fn enterprise() -> RegistryRecord {
        RegistryRecord::Enterprise(Enterprise {
            credit_code: CreditCode::new("91150602MA0YL00019").unwrap(),
            name: "示例能源化工有限公司（样例）".into(),
            aliases: vec!["示例能源".into()],
            kind: EnterpriseKind::AboveScale,
            district: Some(DistrictCode::new("dongsheng").unwrap()),
        })
    }

    #[test]
    fn enterprises_are_found_by_code_name_or_alias() {
        let view = fold(&[registry(enterprise())]);
        let code = |named: &str| {
            view.find_enterprise(named)
                .map(|e| e.credit_code.to_string())
        };
        let expected = Some("91150602MA0YL00019".to_owned());
        assert_eq!(code("91150602ma0yl00019"), expected);
        assert_eq!(code("示例能源化工有限公司(样例)"), expected);
        assert_eq!(code(" 示例能源 "), expected);
        assert_eq!(code("别的公司"), None);
    }

    #[test]
    fn a_cadres_report_counts_contact_resolution_and_satisfaction() {
        let pair = RegistryRecord::Liaison(Liaison {
            credit_code: CreditCode::new("91150602MA0YL00019").unwrap(),
            cadre: "cadre-1".into(),
            level: LiaisonLevel::City,
            from: at(0).date_naive(),
            to: None,
        });
        let liaison = LiaisonRef {
            credit_code: "91150602MA0YL00019".into(),
            enterprise: "示例能源化工有限公司（样例）".into(),
            cadre: "cadre-1".into(),
            level: LiaisonLevel::City,
        };
        let view = fold(&[
            registry(enterprise()),
            registry(pair),
            complaint("C1", received("C1", None)),
            complaint("C1", ComplaintEvent::LiaisonAssigned { at: at(5), liaison }),
            complaint(
                "C1",
                ComplaintEvent::LiaisonNoteRecorded {
                    at: at(20),
                    cadre: "cadre-1".into(),
                    note: "电话联系企业".into(),
                    contacted: true,
                },
            ),
            complaint(
                "C1",
                ComplaintEvent::ResolutionSubmitted {
                    at: at(40),
                    unit: UnitCode::new("power-bureau").unwrap(),
                    result: "已送电".into(),
                    evidence: vec![],
                },
            ),
            complaint(
                "C1",
                ComplaintEvent::CallbackRecorded {
                    at: at(50),
                    valid: true,
                    contacted: true,
                    solved: true,
                    satisfaction: Some(Satisfaction::BasicallySatisfied),
                    comment: None,
                },
            ),
        ]);
        let reports = view.liaison_reports();
        assert_eq!(reports.len(), 1);
        let report = &reports[0];
        assert_eq!(
            (report.enterprises, report.complaints, report.contacted),
            (1, 1, 1)
        );
        assert_eq!(report.median_minutes_to_contact, Some(15));
        assert_eq!((report.resolved, report.closed), (1, 0));
        assert_eq!(
            (report.callbacks, report.satisfied, report.solved),
            (1, 1, 1)
        );
        assert_eq!(report.complaint_ids, ["C1"]);
    }

    #[test]
    fn unknown_stations_and_other_streams_leave_the_ranking_alone() {
        let view = fold(&[
            complaint("C1", received("C1", Some("nowhere"))),
            ("ledger-x".into(), "LedgerOpened", 1, b"{}".to_vec()),
        ]);
        assert!(view.station_rankings().is_empty());
        assert_eq!(view.applied(), 2);
        assert!(view.station_complaint("C1").is_some());
    }
    fn renamed(name: &str, aliases: &[&str]) -> RegistryRecord {
        let RegistryRecord::Enterprise(mut e) = enterprise() else {
            unreachable!()
        };
        e.name = name.into();
        e.aliases = aliases.iter().map(|a| (*a).to_owned()).collect();
        RegistryRecord::Enterprise(e)
    }

    fn other_enterprise(aliases: &[&str]) -> RegistryRecord {
        RegistryRecord::Enterprise(Enterprise {
            credit_code: CreditCode::new("91150603MA0YL0002T").unwrap(),
            name: "示例绒纺制品有限公司（样例）".into(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            kind: EnterpriseKind::AboveScale,
            district: None,
        })
    }

    #[test]
    fn a_shared_name_belongs_to_the_enterprise_recorded_last_that_still_has_it() {
        let code = |view: &MechanismsView, named: &str| {
            view.find_enterprise(named)
                .map(|e| e.credit_code.to_string())
        };
        let first = "91150602MA0YL00019".to_owned();
        let second = "91150603MA0YL0002T".to_owned();
        // The second enterprise shares the first's alias, then the first
        // is renamed and drops it: the name stays with the second.
        let events = [
            registry(other_enterprise(&["示例能源"])),
            registry(enterprise()),
            registry(renamed("新名称能源有限公司", &[])),
        ];
        let view = fold(&events[..2]);
        assert_eq!(code(&view, "示例能源"), Some(first.clone()));
        let view = fold(&events);
        assert_eq!(code(&view, "示例能源"), Some(second.clone()));
        assert_eq!(code(&view, "新名称能源有限公司"), Some(first.clone()));
        assert_eq!(code(&view, "示例能源化工有限公司（样例）"), None);
        assert_eq!(code(&view, "示例绒纺制品有限公司（样例）"), Some(second));
    }

    /// Registries, their revisions and every kind of mechanism complaint.
    fn history() -> Vec<(String, &'static str, u32, Vec<u8>)> {
        let pair = RegistryRecord::Liaison(Liaison {
            credit_code: CreditCode::new("91150602MA0YL00019").unwrap(),
            cadre: "cadre-1".into(),
            level: LiaisonLevel::City,
            from: at(0).date_naive(),
            to: None,
        });
        let officer = |active| {
            RegistryRecord::Officer(Officer {
                id: "TYG-001".into(),
                kind: OfficerKind::Business,
                round: 1,
                active,
            })
        };
        let station = RegistryRecord::Station(Station {
            code: rectify_domain::StationCode::new("hall").unwrap(),
            name: "政务服务大厅".into(),
            district: DistrictCode::new("dongsheng").unwrap(),
            unit: UnitCode::new("dongsheng-gov").unwrap(),
        });
        let liaison = LiaisonRef {
            credit_code: "91150602MA0YL00019".into(),
            enterprise: "示例能源化工有限公司（样例）".into(),
            cadre: "cadre-1".into(),
            level: LiaisonLevel::City,
        };
        let mut report = received("C3", None);
        if let ComplaintEvent::ComplaintReceived { submission, .. } = &mut report {
            submission.channel = Channel::ExperienceOfficer;
            submission.officer = Some("TYG-001".into());
        }
        let callback = || ComplaintEvent::CallbackRecorded {
            at: at(50),
            valid: true,
            contacted: true,
            solved: true,
            satisfaction: Some(Satisfaction::Satisfied),
            comment: None,
        };
        let closed = || ComplaintEvent::ComplaintClosed {
            at: at(55),
            note: None,
        };
        vec![
            registry(other_enterprise(&["示例能源"])),
            registry(enterprise()),
            registry(pair),
            registry(officer(true)),
            registry(station),
            complaint("C1", received("C1", Some("hall"))),
            complaint("C2", received("C2", None)),
            complaint("C2", ComplaintEvent::LiaisonAssigned { at: at(5), liaison }),
            complaint("C3", report),
            complaint(
                "C2",
                ComplaintEvent::LiaisonNoteRecorded {
                    at: at(20),
                    cadre: "cadre-1".into(),
                    note: "电话联系企业".into(),
                    contacted: true,
                },
            ),
            complaint(
                "C3",
                ComplaintEvent::RectificationStepRecorded {
                    at: at(21),
                    unit: UnitCode::new("power-bureau").unwrap(),
                    description: "联系体验官".into(),
                    evidence: vec![],
                    contacted_submitter: true,
                },
            ),
            complaint(
                "C3",
                ComplaintEvent::DeadlineWarned {
                    at: at(22),
                    milestone: rectify_domain::complaint::Milestone::Resolve,
                    due_at: at(40),
                },
            ),
            registry(renamed("新名称能源有限公司", &[])),
            complaint("C1", callback()),
            complaint("C2", callback()),
            complaint("C3", callback()),
            complaint("C1", closed()),
            complaint("C3", closed()),
            registry(officer(false)),
            complaint("C4", received("C4", None)),
        ]
    }

    #[test]
    fn checkpoints_at_any_positions_resume_to_the_same_view() {
        let events = recorded(&history());
        let mut whole = MechanismsView::default();
        for event in &events {
            whole.apply(event).unwrap();
        }
        assert_eq!(whole.station_rankings()[0].complaints, 1);
        assert_eq!(whole.liaison_reports()[0].contacted, 1);
        assert_eq!(whole.officer_tallies().by_officer[0].1.warned, 1);
        for split in 0..=events.len() {
            // Two checkpoints (the second rewriting what changed since the
            // first), a reload, then the rest of the log.
            let db = sled::Config::new().temporary(true).open().unwrap();
            let tree = db.open_tree(TREE).unwrap();
            let mut view = MechanismsView::load(&tree).unwrap();
            for page in [&events[..split / 2], &events[split / 2..split]] {
                let mut dirty = BTreeSet::new();
                for event in page {
                    dirty.extend(view.apply(event).unwrap());
                }
                let encoded = view.encode_changed(&dirty).unwrap();
                tree.apply_batch(runner::batch(encoded, view.applied()))
                    .unwrap();
            }
            let mut resumed = MechanismsView::load(&tree).unwrap();
            assert_eq!(resumed, view, "reloaded after {split} events");
            for event in &events[split..] {
                resumed.apply(event).unwrap();
            }
            assert_eq!(resumed, whole, "checkpointed after {split} events");
        }
    }

    #[test]
    fn a_checkpoint_in_another_format_or_damaged_is_not_misread() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree(TREE).unwrap();
        tree.insert(KEY_FORMAT, &(CHECKPOINT_FORMAT + 1).to_be_bytes())
            .unwrap();
        tree.insert(KEY_APPLIED, &9u64.to_be_bytes()).unwrap();
        tree.insert(b"m/C1", b"junk".as_slice()).unwrap();
        // Another format: dropped, the view starts empty.
        assert_eq!(
            MechanismsView::load(&tree).unwrap(),
            MechanismsView::default()
        );
        assert_eq!(tree.len(), 1);
        // Damaged facts in the current format: an error naming the key.
        tree.insert(b"m/C1", b"junk".as_slice()).unwrap();
        let error = MechanismsView::load(&tree).unwrap_err().to_string();
        assert!(error.contains("m/C1"), "{error}");
    }
    /// Appends `events` (stream, type, version, payload) to `store`, each
    /// on its stream.
    async fn append(store: &rectify_eventlog::SledStore, events: &[(String, &str, u32, Vec<u8>)]) {
        use rectify_eventlog::{ExpectedVersion, NewEvent};
        for (stream, event_type, schema_version, payload) in events {
            store
                .append(
                    stream,
                    ExpectedVersion::Any,
                    vec![NewEvent {
                        id: Uuid::new_v4(),
                        event_type: (*event_type).to_owned(),
                        schema_version: *schema_version,
                        payload: payload.clone(),
                        metadata: Metadata::default(),
                    }],
                )
                .await
                .unwrap();
        }
    }

    fn open_log(dir: &std::path::Path) -> rectify_eventlog::SledStore {
        rectify_eventlog::SledStore::open(rectify_eventlog::StoreConfig {
            path: dir.to_path_buf(),
            ..rectify_eventlog::StoreConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_restart_resumes_from_the_checkpoint_and_a_log_behind_it_is_folded_again() {
        let temp = tempfile::tempdir().unwrap();
        let events = history();
        let db = ProjectionDb::open(&temp.path().join("projections")).unwrap();
        let log = open_log(&temp.path().join("log"));
        append(&log, &events[..10]).await;
        let (first, task) = start(log.clone(), &db).await.unwrap();
        // Live events are applied and checkpointed too.
        append(&log, &events[10..]).await;
        first
            .wait_for(events.len() as u64, Duration::from_secs(10))
            .await
            .unwrap();
        task.abort();
        let _ = task.await;
        // The catch-up's checkpoint is written before `start` returns; the
        // live ones may or may not have landed before the abort.
        let saved = MechanismsView::load(&db.named_tree(TREE).unwrap()).unwrap();
        assert!(saved.applied() >= 10, "{}", saved.applied());
        let whole = fold(&events);
        assert!(first.read(|view| *view == whole));
        assert_eq!(saved, fold(&events[..saved.applied() as usize]));
        let (restarted, task) = start(log.clone(), &db).await.unwrap();
        task.abort();
        assert!(restarted.read(|view| *view == whole));
        log.shutdown().unwrap();

        // The log restored to an earlier point (a shorter one here): the
        // checkpoint is ahead of it and the view is folded again.
        let shorter = open_log(&temp.path().join("shorter"));
        append(&shorter, &events[..6]).await;
        let (refolded, task) = start(shorter.clone(), &db).await.unwrap();
        task.abort();
        let expected = fold(&events[..6]);
        assert!(refolded.read(|view| *view == expected));
        shorter.shutdown().unwrap();
    }
}
