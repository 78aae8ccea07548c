//! The city's own mechanisms as read models: the registries (key
//! enterprises, liaison pairs, experience officers, grassroots stations) and
//! what complaints through those mechanisms came to — for now, each
//! station's QR-code complaints with their closure and callbacks, ranked.
//!
//! [`MechanismsView`] is a pure fold of the log like the issue ledger: it
//! reads `registry-*` streams whole, and of complaints only the events that
//! matter here (intake, callbacks, closure), skipping the others by their
//! type before decoding them. It is kept in memory and rebuilt from the log
//! at start ([`start`]): registries are small (thousands of records) and
//! the complaint facts it keeps are a few numbers per complaint that came
//! through a mechanism.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use rectify_domain::{
    ComplaintEvent,
    complaint::Satisfaction,
    registry::{
        self, Enterprise, Liaison, Officer, RegistryEvent, RegistryKind, RegistryRecord, Station,
    },
};
use rectify_eventlog::{EventStore, Filter, RecordedEvent};
use tokio::sync::watch;

use crate::{ProjectionError, ledger::COMPLAINT_STREAM_PREFIX, runner::CATCH_UP_PAGE};

/// The complaint event types this view reads; the rest are skipped unread.
const COMPLAINT_EVENTS: [&str; 3] = ["ComplaintReceived", "CallbackRecorded", "ComplaintClosed"];

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

/// The registries and mechanism facts folded from the log.
#[derive(Debug, Clone, Default)]
pub struct MechanismsView {
    applied: u64,
    enterprises: BTreeMap<String, Enterprise>,
    /// Normalised name or alias → credit code.
    names: BTreeMap<String, String>,
    liaisons: BTreeMap<String, Liaison>,
    officers: BTreeMap<String, Officer>,
    stations: BTreeMap<String, Station>,
    station_complaints: BTreeMap<String, StationComplaint>,
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

    /// Applies one event; events must come in position order.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
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
            self.record(record);
            return Ok(());
        }
        let Some(id) = event.stream.strip_prefix(COMPLAINT_STREAM_PREFIX) else {
            return Ok(());
        };
        if !COMPLAINT_EVENTS.contains(&event.event_type.as_str())
            || (event.event_type != "ComplaintReceived"
                && !self.station_complaints.contains_key(id))
        {
            return Ok(());
        }
        let decoded =
            ComplaintEvent::decode(&event.event_type, event.schema_version, &event.payload)
                .map_err(|e| decode_error(e.to_string()))?;
        self.apply_complaint(id, &decoded);
        Ok(())
    }

    fn record(&mut self, record: RegistryRecord) {
        match record {
            RegistryRecord::Enterprise(enterprise) => {
                let code = enterprise.credit_code.as_str().to_owned();
                self.names.retain(|_, c| *c != code);
                for name in std::iter::once(&enterprise.name).chain(&enterprise.aliases) {
                    self.names.insert(normalise_name(name), code.clone());
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

    /// The enterprise with this credit code.
    pub fn enterprise(&self, credit_code: &str) -> Option<&Enterprise> {
        self.enterprises.get(credit_code)
    }

    /// The enterprise a complaint names: by credit code, else by its
    /// registered name or an alias (normalised, see [`normalise_name`]).
    pub fn find_enterprise(&self, named: &str) -> Option<&Enterprise> {
        let upper = named.trim().to_ascii_uppercase();
        self.enterprises.get(&upper).or_else(|| {
            self.names
                .get(&normalise_name(named))
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

fn apply_all(
    view: &RwLock<MechanismsView>,
    events: &[RecordedEvent],
) -> Result<u64, ProjectionError> {
    let mut view = view
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for event in events {
        view.apply(event)?;
    }
    Ok(view.applied())
}

/// Folds the log from position 1 to its head, then follows it in a
/// background task until `store` closes or the task is aborted.
pub async fn start<S: EventStore + Clone>(
    store: S,
) -> Result<(Mechanisms, tokio::task::JoinHandle<()>), ProjectionError> {
    let view = Arc::new(RwLock::new(MechanismsView::default()));
    let head = store.head_position().await?;
    let mut from = 1;
    while from <= head {
        let page = store
            .read_all(from, CATCH_UP_PAGE, &Filter::default())
            .await?;
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        apply_all(&view, &page)?;
    }
    let reached = view
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .applied();
    let (sender, receiver) = watch::channel(reached);
    let handle = Mechanisms {
        view: view.clone(),
        applied: receiver,
    };
    let task = tokio::spawn(async move {
        let mut events = store
            .subscribe(reached + 1, Filter::default())
            .ready_chunks(CATCH_UP_PAGE);
        while let Some(chunk) = events.next().await {
            let applied = chunk
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(ProjectionError::from)
                .and_then(|chunk| apply_all(&view, &chunk));
            match applied {
                Ok(position) => {
                    sender.send_replace(position);
                }
                Err(error) => {
                    tracing::error!(%error, "the mechanisms view stopped");
                    return;
                }
            }
        }
    });
    Ok((handle, task))
}
