//! rectify-catalog: what the city looks like before the first complaint.
//!
//! This crate owns the catalog taken from the seed documents (`seeds/`):
//! every unit with one stable code and all its spellings, the banners and
//! districts, the action plan's working groups, 28 specialised groups (task
//! areas) and their tasks with lead (牵头单位) and responsible (责任单位)
//! units and promised time limits, the working-day calendar, and the
//! deadline policy. On top of the data it answers three questions: which
//! units a complaint routes to ([`Catalog::route`]), which task area a text
//! is probably about ([`Catalog::suggest_areas`]), and when each milestone is
//! due ([`DeadlinePolicy`], [`Calendar`]; an intake channel may have response
//! rules of its own, the experience officers', applied after the area's).
//!
//! Invariants:
//!
//! - A [`Catalog`] is immutable and fully checked: every code a task, area or
//!   district refers to exists, codes and aliases are unique, every task has a
//!   lead. A load either yields such a catalog or a precise [`CatalogError`]
//!   naming the file, the item and the offending value.
//! - No I/O except reading files in [`Catalog::from_dir`]; the default
//!   catalog is embedded in the binary ([`Catalog::embedded`]).
//! - Durations are integer minutes; time zone arithmetic is Asia/Shanghai
//!   (UTC+8, no daylight saving).
//!
//! Routing rule (see docs/routing.md): a task's lead and responsible units
//! as the plan assigns them; without a task, the area's units ranked by how
//! many of its tasks name them. A complaint located in a banner or district
//! also goes to that banner's government as a responsible unit, unless the
//! area is `city_only`. Plural references such as 市直各有关部门 stay
//! references: they are listed but never assigned.

mod calendar;
mod classify;
mod load;
mod policy;

use std::{collections::BTreeMap, path::Path};

pub use calendar::{Calendar, CalendarError, WORKING_MINUTES_PER_DAY};
pub use policy::{
    CHANNELS, DeadlinePolicy, DueTimes, MilestoneSpans, RequestKind, Span, SpanOverrides, Urgency,
};

/// Why a catalog could not be loaded or a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A seed file could not be read.
    #[error("cannot read {file}: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        reason: String,
    },
    /// A seed file is not valid TOML of the expected shape.
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: &'static str,
        /// What the parser said.
        reason: String,
    },
    /// A seed file is well-formed but inconsistent.
    #[error("{file}: {item}: {field}: {reason}")]
    Invalid {
        /// The file.
        file: &'static str,
        /// The item, e.g. `area getting-electricity task 3`.
        item: String,
        /// The field, e.g. `lead`.
        field: &'static str,
        /// What is wrong, with the offending value.
        reason: String,
    },
    /// No such task area.
    #[error("unknown area {0:?}")]
    UnknownArea(String),
    /// No such task in the area.
    #[error("area {area} has no task {task}")]
    UnknownTask {
        /// The area.
        area: String,
        /// The task number asked for.
        task: u32,
    },
    /// No such district.
    #[error("unknown district {0:?}")]
    UnknownDistrict(String),
    /// No such unit.
    #[error("unknown unit {code:?}")]
    UnknownUnit {
        /// The code asked for.
        code: String,
    },
    /// A collective reference (市直各有关部门) where a unit that can act is needed.
    #[error("{code:?} is a collective reference, not a unit that can be assigned")]
    NotAssignable {
        /// The collective's code.
        code: String,
    },
    /// A dispatcher's override names a unit twice, or the lead again as responsible.
    #[error("unit {code:?} is named twice in the override")]
    DuplicateAssignment {
        /// The repeated code.
        code: String,
    },
    /// The deadline policy cannot answer.
    #[error("deadline policy: {0}")]
    Policy(String),
    /// A calendar calculation failed.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// A unit: a department, agency, court, enterprise or government.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Stable code, e.g. `power-bureau`.
    pub code: String,
    /// Canonical short name, e.g. `鄂尔多斯电业局`.
    pub name: String,
    /// Full name.
    pub full_name: String,
    /// Kind, e.g. `city_department`, `district_government`.
    pub kind: String,
    /// Every other spelling the source uses.
    pub aliases: Vec<String>,
}

/// A plural reference the plan uses instead of naming units (市直各有关部门).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collective {
    /// Stable code, e.g. `city-departments`.
    pub code: String,
    /// Name as the plan writes it.
    pub name: String,
    /// Other spellings.
    pub aliases: Vec<String>,
}

/// A banner, district or development zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct District {
    /// Stable code, e.g. `dongsheng`.
    pub code: String,
    /// Name, e.g. `东胜区`.
    pub name: String,
    /// `district`, `banner` or `development_zone`.
    pub kind: String,
    /// Unit code of its government.
    pub government_unit: String,
}

/// A phase of the action plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Code, e.g. `self-inspection`.
    pub code: String,
    /// Name, e.g. `自查自纠阶段`.
    pub name: String,
    /// First day.
    pub starts: chrono::NaiveDate,
    /// Last day.
    pub ends: chrono::NaiveDate,
}

/// One of the plan's 7 working groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingGroup {
    /// Code.
    pub code: String,
    /// Name, e.g. `政务服务组`.
    pub name: String,
    /// The plan's number, 1..=7.
    pub number: u32,
}

/// A time limit a task promises (承诺时限).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// What is promised, as the plan words it.
    pub what: String,
    /// The limit in working minutes (half a working day = 210).
    pub working_minutes: u32,
}

impl std::fmt::Display for Commitment {
    /// `电力外线工程审批办结: 5 working days`; half days as `0.5`, anything
    /// finer as working minutes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.working_minutes / WORKING_MINUTES_PER_DAY;
        let rest = self.working_minutes % WORKING_MINUTES_PER_DAY;
        let unit = |n: u32| {
            if n == 1 {
                "working day"
            } else {
                "working days"
            }
        };
        match rest {
            0 => write!(f, "{}: {days} {}", self.what, unit(days)),
            _ if rest * 2 == WORKING_MINUTES_PER_DAY => {
                write!(f, "{}: {days}.5 working days", self.what)
            }
            _ if days == 0 => write!(f, "{}: {rest} working minutes", self.what),
            _ => write!(
                f,
                "{}: {days} {} {rest} working minutes",
                self.what,
                unit(days)
            ),
        }
    }
}

/// A task of a specialised group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Number within the area, as the plan numbers it.
    pub number: u32,
    /// Short title.
    pub title: String,
    /// The task as the plan writes it.
    pub text: String,
    /// Lead unit codes (a task naming only 责任单位 is led by them).
    pub lead: Vec<String>,
    /// Responsible unit or collective codes.
    pub responsible: Vec<String>,
    /// Promised time limits.
    pub commitments: Vec<Commitment>,
    /// Line in `seeds/source/2021-action-plan.txt` where the task starts.
    pub source_line: u32,
}

/// A task area: one of the plan's 28 specialised groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area {
    /// Code, e.g. `getting-electricity`.
    pub code: String,
    /// The plan's number, 1..=28.
    pub number: u32,
    /// Name, e.g. `获得电力组`.
    pub name: String,
    /// Code of its working group.
    pub working_group: String,
    /// Complaints never also route to a banner government.
    pub city_only: bool,
    /// Characteristic words, for classification.
    pub keywords: Vec<String>,
    /// Its tasks.
    pub tasks: Vec<Task>,
}

/// What [`Catalog::route`] is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteQuery<'a> {
    /// Area code.
    pub area: &'a str,
    /// Task number, when known.
    pub task: Option<u32>,
    /// District code, when known.
    pub district: Option<&'a str>,
}

/// Which units a complaint goes to, and why.
///
/// `lead` lists every lead unit in plan order. The workflow has one lead per
/// complaint: the service takes the first as lead and the others (joint
/// leads, e.g. 开办企业's 市政务服务局 and 市市场监管局) as responsible units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Lead unit codes, in plan order.
    pub lead: Vec<String>,
    /// Responsible unit codes and collective references.
    pub responsible: Vec<String>,
    /// The rule that decided, e.g. `plan:getting-electricity/3+district:dongsheng`.
    pub rule_id: String,
    /// Why, in words a dispatcher reads.
    pub explanation: String,
}

/// A task area suggested for a text.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaSuggestion {
    /// Area code.
    pub area: String,
    /// Area name.
    pub name: String,
    /// Relative score; only the order is meaningful.
    pub score: f64,
}

/// Most responsible units an area-level routing lists.
pub const MAX_AREA_RESPONSIBLE: usize = 8;

/// The checked catalog.
#[derive(Debug)]
pub struct Catalog {
    units: Vec<Unit>,
    collectives: Vec<Collective>,
    districts: Vec<District>,
    phases: Vec<Phase>,
    working_groups: Vec<WorkingGroup>,
    areas: Vec<Area>,
    calendar: Calendar,
    policy: DeadlinePolicy,
    /// Every code, name and alias → unit code.
    names: BTreeMap<String, String>,
    classifier: classify::Classifier,
}

/// The seed files, as text.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// `units.toml`.
    pub units: &'a str,
    /// `districts.toml`.
    pub districts: &'a str,
    /// `plan.toml`.
    pub plan: &'a str,
    /// `holidays.toml`.
    pub holidays: &'a str,
    /// `deadlines.toml`.
    pub deadlines: &'a str,
}

/// The seed file names, as `from_dir` expects them.
pub const SEED_FILES: [&str; 5] = [
    "units.toml",
    "districts.toml",
    "plan.toml",
    "holidays.toml",
    "deadlines.toml",
];

impl Catalog {
    /// The catalog embedded in the binary from `seeds/`.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_texts(Sources {
            units: include_str!("../../../seeds/units.toml"),
            districts: include_str!("../../../seeds/districts.toml"),
            plan: include_str!("../../../seeds/plan.toml"),
            holidays: include_str!("../../../seeds/holidays.toml"),
            deadlines: include_str!("../../../seeds/deadlines.toml"),
        })
    }

    /// An operator's edited copy of the seed files in `dir` (the names in
    /// [`SEED_FILES`]). The only function of this crate that does I/O.
    pub fn from_dir(dir: &Path) -> Result<Self, CatalogError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| CatalogError::Read {
                file: dir.join(name).display().to_string(),
                reason: e.to_string(),
            })
        };
        let [units, districts, plan, holidays, deadlines] = SEED_FILES.map(read);
        Self::from_sources(&units?, &districts?, &plan?, &holidays?, &deadlines?)
    }

    /// A catalog from the texts of the five seed files (tests, tools).
    pub fn from_sources(
        units: &str,
        districts: &str,
        plan: &str,
        holidays: &str,
        deadlines: &str,
    ) -> Result<Self, CatalogError> {
        Self::from_texts(Sources {
            units,
            districts,
            plan,
            holidays,
            deadlines,
        })
    }

    /// A catalog from the seed texts, named.
    pub fn from_texts(sources: Sources<'_>) -> Result<Self, CatalogError> {
        load::load(sources)
    }

    /// Every unit.
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// The unit with this code.
    pub fn unit(&self, code: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.code == code)
    }

    /// Every collective reference.
    pub fn collectives(&self) -> &[Collective] {
        &self.collectives
    }

    /// The unit a code, name or alias names (市场监管局 → market-regulation).
    pub fn resolve_unit(&self, name: &str) -> Option<&Unit> {
        self.names.get(name.trim()).and_then(|code| self.unit(code))
    }

    /// Banners, districts and development zones.
    pub fn districts(&self) -> &[District] {
        &self.districts
    }

    /// The district with this code.
    pub fn district(&self, code: &str) -> Option<&District> {
        self.districts.iter().find(|d| d.code == code)
    }

    /// The plan's phases.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The plan's working groups.
    pub fn working_groups(&self) -> &[WorkingGroup] {
        &self.working_groups
    }

    /// The 28 task areas, in the plan's order.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }

    /// The area with this code.
    pub fn area(&self, code: &str) -> Option<&Area> {
        self.areas.iter().find(|a| a.code == code)
    }

    /// The working-day calendar.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The deadline policy.
    pub fn deadline_policy(&self) -> &DeadlinePolicy {
        &self.policy
    }

    /// Checks a dispatcher's override: the lead and every responsible code
    /// name a unit (not a collective reference, which nobody can act for),
    /// and no unit is named twice.
    pub fn validate_override(
        &self,
        lead: &str,
        responsible: &[String],
    ) -> Result<(), CatalogError> {
        let mut seen = std::collections::BTreeSet::new();
        for code in std::iter::once(lead).chain(responsible.iter().map(String::as_str)) {
            if self.unit(code).is_none() {
                return Err(if self.collectives.iter().any(|c| c.code == code) {
                    CatalogError::NotAssignable {
                        code: code.to_owned(),
                    }
                } else {
                    CatalogError::UnknownUnit {
                        code: code.to_owned(),
                    }
                });
            }
            if !seen.insert(code) {
                return Err(CatalogError::DuplicateAssignment {
                    code: code.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Which units a complaint routes to, and why (see the crate doc).
    pub fn route(&self, query: &RouteQuery<'_>) -> Result<Routing, CatalogError> {
        let area = self
            .area(query.area)
            .ok_or_else(|| CatalogError::UnknownArea(query.area.to_owned()))?;
        let (mut lead, mut responsible, mut rule_id, mut explanation) = match query.task {
            Some(number) => {
                let task = area
                    .tasks
                    .iter()
                    .find(|t| t.number == number)
                    .ok_or_else(|| CatalogError::UnknownTask {
                        area: area.code.clone(),
                        task: number,
                    })?;
                (
                    task.lead.clone(),
                    task.responsible.clone(),
                    format!("plan:{}/{}", area.code, number),
                    format!(
                        "{} task ({number}) {}: as the action plan assigns it",
                        area.name, task.title
                    ),
                )
            }
            None => {
                let lead = ranked(area.tasks.iter().map(|t| &t.lead));
                let responsible: Vec<String> = ranked(area.tasks.iter().map(|t| &t.responsible))
                    .into_iter()
                    .filter(|code| !lead.contains(code))
                    .take(MAX_AREA_RESPONSIBLE)
                    .collect();
                (
                    lead,
                    responsible,
                    format!("plan:{}", area.code),
                    format!("{}: the units its tasks name most often", area.name),
                )
            }
        };
        lead.retain(|code| self.unit(code).is_some());
        if let Some(code) = query.district {
            let district = self
                .district(code)
                .ok_or_else(|| CatalogError::UnknownDistrict(code.to_owned()))?;
            if area.city_only {
                explanation.push_str(&format!("; {} is handled at city level only", area.name));
            } else if !lead.contains(&district.government_unit)
                && !responsible.contains(&district.government_unit)
            {
                responsible.push(district.government_unit.clone());
                rule_id.push_str(&format!("+district:{}", district.code));
                explanation.push_str(&format!(
                    "; located in {}, so its government shares responsibility",
                    district.name
                ));
            }
        }
        Ok(Routing {
            lead,
            responsible,
            rule_id,
            explanation,
        })
    }

    /// Task areas ranked by how well `text` matches them, best first; at most
    /// `limit`, only areas with a positive score.
    pub fn suggest_areas(&self, text: &str, limit: usize) -> Vec<AreaSuggestion> {
        self.classifier
            .rank(text, limit)
            .into_iter()
            .map(|(index, score)| AreaSuggestion {
                area: self.areas[index].code.clone(),
                name: self.areas[index].name.clone(),
                score,
            })
            .collect()
    }
}

/// Codes from several lists, most frequent first, ties in first-seen order.
fn ranked<'a>(lists: impl Iterator<Item = &'a Vec<String>>) -> Vec<String> {
    let mut counts: Vec<(String, usize, usize)> = Vec::new();
    for list in lists {
        for code in list {
            match counts.iter_mut().find(|(c, _, _)| c == code) {
                Some(entry) => entry.1 += 1,
                None => {
                    let order = counts.len();
                    counts.push((code.clone(), 1, order));
                }
            }
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    counts.into_iter().map(|(code, _, _)| code).collect()
}
