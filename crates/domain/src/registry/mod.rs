//! The city's registries (名录): key enterprises, liaison pairs (包联),
//! business-environment experience officers (营商环境体验官) and grassroots
//! service stations.
//!
//! Each record lives in its own stream, named by its kind and key
//! ([`stream_name`]): an enterprise by its unified social credit code, a
//! liaison pair by the enterprise's code (one cadre per enterprise at a
//! time; the stream keeps the earlier pairs), an officer by id, a station by
//! code. Recording a record is the one command; the first recording
//! registers it, later ones with different content revise it, and one equal
//! to what is recorded is refused as [`DomainError::AlreadyRecorded`], so an
//! import run twice writes nothing the second time.
//!
//! Permissions: the dispatch centre or an administrator records. The
//! records hold no personal data: cadres and officers appear by principal
//! or id, never by name.
//!
//! Checks the domain can make alone live here (the credit code's check
//! character, texts, dates, rounds); whether a district or unit exists is
//! the catalog's, checked by the service before the command.

pub mod credit;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use credit::CreditCode;

use crate::{Actor, DistrictCode, DomainError, UnitCode, codes::StationCode, text};

/// Most aliases of one enterprise.
pub const MAX_ALIASES: usize = 8;
/// Longest name (enterprise, station, alias), in characters.
pub const MAX_NAME_CHARS: usize = text::MAX_SHORT_TEXT_CHARS;
/// Recruitment rounds of experience officers so far (the report names three).
pub const MAX_OFFICER_ROUND: u8 = 9;

/// The four registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryKind {
    /// Key enterprises.
    Enterprise,
    /// Liaison pairs, enterprise ↔ cadre.
    Liaison,
    /// Experience officers.
    Officer,
    /// Grassroots service stations.
    Station,
}

impl RegistryKind {
    /// The kind's name in stream names and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::Liaison => "liaison",
            Self::Officer => "officer",
            Self::Station => "station",
        }
    }
}

/// The stream of one record: `registry-<kind>-<key>`.
pub fn stream_name(kind: RegistryKind, key: &str) -> String {
    format!("{STREAM_PREFIX}{}-{key}", kind.name())
}

/// What every registry stream name starts with.
pub const STREAM_PREFIX: &str = "registry-";

/// Which key enterprises the report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnterpriseKind {
    /// 规上 / "四上" enterprise.
    AboveScale,
    /// 农牧业产业化龙头企业.
    LeadingAgricultural,
    /// 专精特新中小企业.
    SpecializedSme,
    /// Another private enterprise (民营企业), paired at banner level.
    Private,
}

/// A key enterprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enterprise {
    /// 统一社会信用代码, the key.
    pub credit_code: CreditCode,
    /// Registered name.
    pub name: String,
    /// Other names complaints use (short names, former names).
    pub aliases: Vec<String>,
    /// Kind.
    pub kind: EnterpriseKind,
    /// Where it is registered.
    pub district: Option<DistrictCode>,
}

/// At which level a cadre is paired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiaisonLevel {
    /// A city-level cadre (市级包联).
    City,
    /// A banner-level cadre (旗区级包联).
    Banner,
}

/// A liaison pair: one cadre answers for one enterprise from a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liaison {
    /// The enterprise, the key.
    pub credit_code: CreditCode,
    /// The cadre's principal (the identity the cadre signs in with).
    pub cadre: String,
    /// Level.
    pub level: LiaisonLevel,
    /// First day of the pairing.
    pub from: NaiveDate,
    /// Last day, when it has ended or is set to end.
    pub to: Option<NaiveDate>,
}

impl Liaison {
    /// Whether the pairing holds on `day`.
    pub fn holds_on(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }
}

/// The four kinds of experience officers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficerKind {
    /// 党政机关.
    PartyGovernment,
    /// 企业.
    Business,
    /// 社会组织.
    SocialOrganisation,
    /// 热心群众.
    Citizen,
}

/// An experience officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Officer {
    /// Id, the key (also the principal the officer signs in with).
    pub id: String,
    /// Kind.
    pub kind: OfficerKind,
    /// Recruitment round, from 1.
    pub round: u8,
    /// Serving now.
    pub active: bool,
}

/// A grassroots service station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    /// Code, the key.
    pub code: StationCode,
    /// Name.
    pub name: String,
    /// Where it is.
    pub district: DistrictCode,
    /// The unit that runs it and rectifies its findings.
    pub unit: UnitCode,
}

/// One record of any registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryRecord {
    /// An enterprise.
    Enterprise(Enterprise),
    /// A liaison pair.
    Liaison(Liaison),
    /// An officer.
    Officer(Officer),
    /// A station.
    Station(Station),
}

impl RegistryRecord {
    /// Its registry.
    pub fn kind(&self) -> RegistryKind {
        match self {
            Self::Enterprise(_) => RegistryKind::Enterprise,
            Self::Liaison(_) => RegistryKind::Liaison,
            Self::Officer(_) => RegistryKind::Officer,
            Self::Station(_) => RegistryKind::Station,
        }
    }

    /// Its key in the registry.
    pub fn key(&self) -> &str {
        match self {
            Self::Enterprise(e) => e.credit_code.as_str(),
            Self::Liaison(l) => l.credit_code.as_str(),
            Self::Officer(o) => &o.id,
            Self::Station(s) => s.code.as_str(),
        }
    }

    /// Its stream.
    pub fn stream_name(&self) -> String {
        stream_name(self.kind(), self.key())
    }

    /// The checks the record must pass on its own.
    pub fn check(&self) -> Result<(), DomainError> {
        match self {
            Self::Enterprise(e) => {
                text::required("name", &e.name, MAX_NAME_CHARS)?;
                text::list(
                    "aliases",
                    &e.aliases,
                    MAX_ALIASES,
                    "aliases",
                    MAX_NAME_CHARS,
                )
            }
            Self::Liaison(l) => {
                key("cadre", &l.cadre)?;
                match l.to {
                    Some(to) if to < l.from => Err(DomainError::Invalid {
                        field: "to",
                        reason: format!("{to} is before the first day {}", l.from),
                    }),
                    _ => Ok(()),
                }
            }
            Self::Officer(o) => {
                key("id", &o.id)?;
                if (1..=MAX_OFFICER_ROUND).contains(&o.round) {
                    Ok(())
                } else {
                    Err(DomainError::Invalid {
                        field: "round",
                        reason: format!("{} is not a round from 1 to {MAX_OFFICER_ROUND}", o.round),
                    })
                }
            }
            Self::Station(s) => text::required("name", &s.name, MAX_NAME_CHARS),
        }
    }
}

fn key(field: &'static str, raw: &str) -> Result<(), DomainError> {
    crate::codes::check_id(field, raw)
}

/// A registry command: who, when, what to record.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryCommand {
    /// Who.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
    /// The record as it should stand.
    pub record: RegistryRecord,
}

/// What happened to a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type")]
pub enum RegistryEvent {
    /// The record was registered or revised; the newest one stands.
    RegistryRecorded {
        /// When.
        at: DateTime<Utc>,
        /// The record.
        record: RegistryRecord,
    },
}

impl RegistryEvent {
    /// The event type name stored in the log.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::RegistryRecorded { .. } => "RegistryRecorded",
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

    /// Reads a stored event (every registry event is at schema version 1).
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

/// A record's stream folded: the record as it stands and how often it was
/// recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegistryState {
    /// The newest record; `None` before the first.
    pub record: Option<RegistryRecord>,
    /// How many times it was recorded.
    pub revisions: u32,
}

impl RegistryState {
    /// `registered` or `unregistered`, as errors name the state.
    pub fn status_name(&self) -> &'static str {
        if self.record.is_some() {
            "registered"
        } else {
            "unregistered"
        }
    }
}

/// Folds one event (total: any event in any state).
pub fn evolve(state: RegistryState, event: &RegistryEvent) -> RegistryState {
    match event {
        RegistryEvent::RegistryRecorded { record, .. } => RegistryState {
            record: Some(record.clone()),
            revisions: state.revisions.saturating_add(1),
        },
    }
}

/// Decides whether the record is written.
pub fn decide(
    state: &RegistryState,
    command: &RegistryCommand,
) -> Result<Vec<RegistryEvent>, DomainError> {
    if !command.actor.role.dispatches() {
        return Err(DomainError::NotPermitted {
            attempted: "record a registry entry",
            reason: format!(
                "only the dispatch centre or an administrator keeps the registries, not {}",
                command.actor.role.name()
            ),
        });
    }
    command.record.check()?;
    if let Some(current) = &state.record {
        if current.kind() != command.record.kind() || current.key() != command.record.key() {
            return Err(DomainError::Rejected {
                subject: state.status_name().to_owned(),
                reason: format!(
                    "the stream holds {} {}, not {} {}",
                    current.kind().name(),
                    current.key(),
                    command.record.kind().name(),
                    command.record.key()
                ),
            });
        }
        if *current == command.record {
            return Err(DomainError::AlreadyRecorded {
                what: format!("{} {} as it stands", current.kind().name(), current.key()),
            });
        }
    }
    Ok(vec![RegistryEvent::RegistryRecorded {
        at: command.at,
        record: command.record.clone(),
    }])
}

#[cfg(test)]
mod tests;
