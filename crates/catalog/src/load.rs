//! Parsing the seed files into raw structs, and checking them into the
//! model. Raw shapes stay here; nothing outside this module sees them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use crate::{
    Area, Calendar, Catalog, CatalogError, Collective, Commitment, District, Phase, Sources, Task,
    Unit, WORKING_MINUTES_PER_DAY, WorkingGroup, classify::Classifier, policy::*,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitsFile {
    unit: Vec<RawUnit>,
    #[serde(default)]
    collective: Vec<RawCollective>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    code: String,
    name: String,
    full_name: String,
    kind: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollective {
    code: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistrictsFile {
    district: Vec<RawDistrict>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDistrict {
    code: String,
    name: String,
    kind: String,
    government_unit: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    phase: Vec<RawPhase>,
    working_group: Vec<RawWorkingGroup>,
    area: Vec<RawArea>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    code: String,
    name: String,
    starts: String,
    ends: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkingGroup {
    code: String,
    name: String,
    number: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    code: String,
    number: u32,
    name: String,
    working_group: String,
    city_only: bool,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    task: Vec<RawTask>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    number: u32,
    title: String,
    text: String,
    lead: Vec<String>,
    #[serde(default)]
    responsible: Vec<String>,
    source_line: u32,
    #[serde(default)]
    commitment: Vec<RawCommitment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommitment {
    what: String,
    working_days: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidaysFile {
    year: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    notice: String,
    off: Vec<RawOff>,
    workdays: Vec<RawWorkday>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOff {
    from: String,
    to: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkday {
    date: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadlinesFile {
    yellow_percent: u32,
    warn_before: RawSpan,
    escalate_before: RawSpan,
    callback: RawSpan,
    dispatch: RawSpan,
    urgency: BTreeMap<String, RawSpans>,
    #[serde(default)]
    kind: BTreeMap<String, BTreeMap<String, RawOverrides>>,
    #[serde(default)]
    area: BTreeMap<String, BTreeMap<String, RawOverrides>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    minutes: Option<u32>,
    working_minutes: Option<u32>,
    working_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpans {
    dispatch: Option<RawSpan>,
    accept: RawSpan,
    first_contact: RawSpan,
    resolve: RawSpan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverrides {
    accept: Option<RawSpan>,
    first_contact: Option<RawSpan>,
    resolve: Option<RawSpan>,
}

fn parse<'a, T: Deserialize<'a>>(file: &'static str, text: &'a str) -> Result<T, CatalogError> {
    toml::from_str(text).map_err(|e| CatalogError::Parse {
        file,
        reason: e.to_string(),
    })
}

fn invalid(
    file: &'static str,
    item: impl Into<String>,
    field: &'static str,
    reason: impl Into<String>,
) -> CatalogError {
    CatalogError::Invalid {
        file,
        item: item.into(),
        field,
        reason: reason.into(),
    }
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !code.starts_with('-')
        && !code.ends_with('-')
}

fn date(
    file: &'static str,
    item: &str,
    field: &'static str,
    text: &str,
) -> Result<NaiveDate, CatalogError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        invalid(
            file,
            item,
            field,
            format!("{text:?} is not a YYYY-MM-DD date"),
        )
    })
}

fn span(item: &str, raw: RawSpan) -> Result<Span, CatalogError> {
    match (raw.minutes, raw.working_minutes, raw.working_days) {
        (Some(m), None, None) if m > 0 => Ok(Span::Minutes(m)),
        (None, Some(m), None) if m > 0 => Ok(Span::WorkingMinutes(m)),
        (None, None, Some(d)) if d > 0 => Ok(Span::working_days(d)),
        _ => Err(invalid(
            "deadlines.toml",
            item,
            "span",
            "give exactly one positive minutes, working_minutes or working_days",
        )),
    }
}

pub(crate) fn load(sources: Sources<'_>) -> Result<Catalog, CatalogError> {
    let units_file: UnitsFile = parse("units.toml", sources.units)?;
    let districts_file: DistrictsFile = parse("districts.toml", sources.districts)?;
    let plan: PlanFile = parse("plan.toml", sources.plan)?;
    let holidays: HolidaysFile = parse("holidays.toml", sources.holidays)?;
    let deadlines: DeadlinesFile = parse("deadlines.toml", sources.deadlines)?;

    // Units and collectives: unique codes, unique names and aliases.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut unit_codes = BTreeSet::new();
    let mut collective_codes = BTreeSet::new();
    let mut claim = |name: &str, code: &str, item: &str| -> Result<(), CatalogError> {
        match names.insert(name.to_owned(), code.to_owned()) {
            Some(previous) if previous != code => Err(invalid(
                "units.toml",
                item,
                "aliases",
                format!("{name:?} already names {previous}"),
            )),
            _ => Ok(()),
        }
    };
    let mut units = Vec::new();
    for raw in units_file.unit {
        let item = format!("unit {}", raw.code);
        if !is_code(&raw.code) {
            return Err(invalid(
                "units.toml",
                &item,
                "code",
                format!("{:?} is not a kebab-case code", raw.code),
            ));
        }
        if !unit_codes.insert(raw.code.clone()) {
            return Err(invalid(
                "units.toml",
                &item,
                "code",
                format!("duplicate code {:?}", raw.code),
            ));
        }
        if raw.name.trim().is_empty() {
            return Err(invalid("units.toml", &item, "name", "empty"));
        }
        for name in [&raw.code, &raw.name, &raw.full_name]
            .into_iter()
            .chain(&raw.aliases)
        {
            claim(name, &raw.code, &item)?;
        }
        units.push(Unit {
            code: raw.code,
            name: raw.name,
            full_name: raw.full_name,
            kind: raw.kind,
            aliases: raw.aliases,
        });
    }
    let mut collectives = Vec::new();
    for raw in units_file.collective {
        let item = format!("collective {}", raw.code);
        if !is_code(&raw.code)
            || unit_codes.contains(&raw.code)
            || !collective_codes.insert(raw.code.clone())
        {
            return Err(invalid(
                "units.toml",
                &item,
                "code",
                format!("{:?} is not a new kebab-case code", raw.code),
            ));
        }
        for name in std::iter::once(&raw.name).chain(&raw.aliases) {
            claim(name, &raw.code, &item)?;
        }
        collectives.push(Collective {
            code: raw.code,
            name: raw.name,
            aliases: raw.aliases,
        });
    }
    // Collective names resolve to collectives, not units: keep only units in
    // the lookup used by `resolve_unit`.
    names.retain(|_, code| unit_codes.contains(code));

    let mut districts = Vec::new();
    let mut district_codes = BTreeSet::new();
    for raw in districts_file.district {
        let item = format!("district {}", raw.code);
        if !is_code(&raw.code) || !district_codes.insert(raw.code.clone()) {
            return Err(invalid(
                "districts.toml",
                &item,
                "code",
                format!("{:?} is not a new kebab-case code", raw.code),
            ));
        }
        if !matches!(
            raw.kind.as_str(),
            "district" | "banner" | "development_zone"
        ) {
            return Err(invalid(
                "districts.toml",
                &item,
                "kind",
                format!("unknown kind {:?}", raw.kind),
            ));
        }
        if !unit_codes.contains(&raw.government_unit) {
            return Err(invalid(
                "districts.toml",
                &item,
                "government_unit",
                format!("unknown unit {:?}", raw.government_unit),
            ));
        }
        districts.push(District {
            code: raw.code,
            name: raw.name,
            kind: raw.kind,
            government_unit: raw.government_unit,
        });
    }

    let mut phases = Vec::new();
    for raw in plan.phase {
        let item = format!("phase {}", raw.code);
        let starts = date("plan.toml", &item, "starts", &raw.starts)?;
        let ends = date("plan.toml", &item, "ends", &raw.ends)?;
        if ends < starts {
            return Err(invalid("plan.toml", &item, "ends", "before starts"));
        }
        phases.push(Phase {
            code: raw.code,
            name: raw.name,
            starts,
            ends,
        });
    }
    let working_groups: Vec<WorkingGroup> = plan
        .working_group
        .into_iter()
        .map(|raw| WorkingGroup {
            code: raw.code,
            name: raw.name,
            number: raw.number,
        })
        .collect();
    let mut areas = Vec::new();
    let mut area_codes = BTreeSet::new();
    for raw in plan.area {
        let item = format!("area {}", raw.code);
        if !is_code(&raw.code) || !area_codes.insert(raw.code.clone()) {
            return Err(invalid(
                "plan.toml",
                &item,
                "code",
                format!("{:?} is not a new kebab-case code", raw.code),
            ));
        }
        if !working_groups.iter().any(|g| g.code == raw.working_group) {
            return Err(invalid(
                "plan.toml",
                &item,
                "working_group",
                format!("unknown working group {:?}", raw.working_group),
            ));
        }
        let mut tasks = Vec::new();
        for task in raw.task {
            let item = format!("area {} task {}", raw.code, task.number);
            if tasks.iter().any(|t: &Task| t.number == task.number) {
                return Err(invalid(
                    "plan.toml",
                    &item,
                    "number",
                    "duplicate task number",
                ));
            }
            if task.lead.is_empty() {
                return Err(invalid(
                    "plan.toml",
                    &item,
                    "lead",
                    "a task needs at least one lead unit",
                ));
            }
            for code in &task.lead {
                if !unit_codes.contains(code) {
                    return Err(invalid(
                        "plan.toml",
                        &item,
                        "lead",
                        format!("unknown unit {code:?}"),
                    ));
                }
            }
            for code in &task.responsible {
                if !unit_codes.contains(code) && !collective_codes.contains(code) {
                    return Err(invalid(
                        "plan.toml",
                        &item,
                        "responsible",
                        format!("unknown unit {code:?}"),
                    ));
                }
            }
            let commitments = task
                .commitment
                .into_iter()
                .map(|c| {
                    let minutes = c.working_days * f64::from(WORKING_MINUTES_PER_DAY);
                    if !(minutes >= 1.0 && minutes.fract() == 0.0 && minutes < f64::from(u32::MAX))
                    {
                        return Err(invalid(
                            "plan.toml",
                            &item,
                            "working_days",
                            format!(
                                "{} is not a whole number of working minutes",
                                c.working_days
                            ),
                        ));
                    }
                    Ok(Commitment {
                        what: c.what,
                        // Checked above: a positive whole number below u32::MAX.
                        working_minutes: minutes as u32,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            tasks.push(Task {
                number: task.number,
                title: task.title,
                text: task.text,
                lead: task.lead,
                responsible: task.responsible,
                commitments,
                source_line: task.source_line,
            });
        }
        if tasks.is_empty() {
            return Err(invalid(
                "plan.toml",
                &item,
                "task",
                "an area needs at least one task",
            ));
        }
        areas.push(Area {
            code: raw.code,
            number: raw.number,
            name: raw.name,
            working_group: raw.working_group,
            city_only: raw.city_only,
            keywords: raw.keywords,
            tasks,
        });
    }

    let mut years = Vec::new();
    let mut off = Vec::new();
    let mut worked = Vec::new();
    for raw in holidays.year {
        let item = format!("year {}", raw.year);
        if raw.notice.trim().is_empty() {
            return Err(invalid(
                "holidays.toml",
                &item,
                "notice",
                "every year names its State Council notice",
            ));
        }
        if years.contains(&raw.year) {
            return Err(invalid("holidays.toml", &item, "year", "listed twice"));
        }
        years.push(raw.year);
        for range in raw.off {
            let from = date("holidays.toml", &item, "off.from", &range.from)?;
            let to = date("holidays.toml", &item, "off.to", &range.to)?;
            if to < from || (to - from).num_days() > 14 {
                return Err(invalid(
                    "holidays.toml",
                    &item,
                    "off",
                    format!("{} .. {} is not a holiday range", range.from, range.to),
                ));
            }
            let mut day = from;
            while day <= to {
                off.push((day, range.name.clone()));
                day = day
                    .succ_opt()
                    .ok_or_else(|| invalid("holidays.toml", &item, "off", "date overflow"))?;
            }
        }
        for workday in raw.workdays {
            let day = date("holidays.toml", &item, "workdays.date", &workday.date)?;
            use chrono::Datelike as _;
            if !matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
                return Err(invalid(
                    "holidays.toml",
                    &item,
                    "workdays",
                    format!("{} ({}) is not a weekend day", workday.date, workday.name),
                ));
            }
            worked.push(day);
        }
    }
    let calendar = Calendar::new(years, off, worked);

    let policy = policy(deadlines, &area_codes)?;
    let classifier = Classifier::new(&areas);
    Ok(Catalog {
        units,
        collectives,
        districts,
        phases,
        working_groups,
        areas,
        calendar,
        policy,
        names,
        classifier,
    })
}

fn urgency_named(item: &str, key: &str) -> Result<Urgency, CatalogError> {
    Urgency::ALL
        .into_iter()
        .find(|u| u.key() == key)
        .ok_or_else(|| {
            invalid(
                "deadlines.toml",
                item,
                "urgency",
                format!("unknown urgency {key:?} (emergency, urgent, normal, complex)"),
            )
        })
}

fn overrides(item: &str, raw: RawOverrides) -> Result<SpanOverrides, CatalogError> {
    Ok(SpanOverrides {
        accept: raw.accept.map(|s| span(item, s)).transpose()?,
        first_contact: raw.first_contact.map(|s| span(item, s)).transpose()?,
        resolve: raw.resolve.map(|s| span(item, s)).transpose()?,
    })
}

fn calendar_duration(field: &'static str, raw: RawSpan) -> Result<Duration, CatalogError> {
    match span("policy", raw)? {
        Span::Minutes(minutes) => Ok(Duration::minutes(i64::from(minutes))),
        Span::WorkingMinutes(_) => Err(invalid(
            "deadlines.toml",
            "policy",
            field,
            "must be calendar time (minutes = N)",
        )),
    }
}

fn policy(
    deadlines: DeadlinesFile,
    area_codes: &BTreeSet<String>,
) -> Result<DeadlinePolicy, CatalogError> {
    if !(1..=99).contains(&deadlines.yellow_percent) {
        return Err(invalid(
            "deadlines.toml",
            "policy",
            "yellow_percent",
            format!("{} is not between 1 and 99", deadlines.yellow_percent),
        ));
    }
    let dispatch = span("dispatch", deadlines.dispatch)?;
    for key in deadlines.urgency.keys() {
        urgency_named(&format!("urgency.{key}"), key)?;
    }
    let mut by_urgency = BTreeMap::new();
    for urgency in Urgency::ALL {
        let item = format!("urgency.{}", urgency.key());
        let raw = deadlines
            .urgency
            .get(urgency.key())
            .ok_or_else(|| invalid("deadlines.toml", &item, "urgency", "missing"))?;
        by_urgency.insert(
            urgency,
            MilestoneSpans {
                dispatch: raw
                    .dispatch
                    .map(|s| span(&item, s))
                    .transpose()?
                    .unwrap_or(dispatch),
                accept: span(&item, raw.accept)?,
                first_contact: span(&item, raw.first_contact)?,
                resolve: span(&item, raw.resolve)?,
            },
        );
    }
    let mut by_kind = BTreeMap::new();
    for (key, rows) in deadlines.kind {
        let kind = [RequestKind::Consultation, RequestKind::Complaint]
            .into_iter()
            .find(|k| k.key() == key)
            .ok_or_else(|| {
                invalid(
                    "deadlines.toml",
                    format!("kind.{key}"),
                    "kind",
                    format!("unknown kind {key:?} (consultation, complaint)"),
                )
            })?;
        for (urgency, raw) in rows {
            let item = format!("kind.{key}.{urgency}");
            by_kind.insert(
                (kind, urgency_named(&item, &urgency)?),
                overrides(&item, raw)?,
            );
        }
    }
    let mut by_area = BTreeMap::new();
    for (code, rows) in deadlines.area {
        if !area_codes.contains(&code) {
            return Err(invalid(
                "deadlines.toml",
                format!("area.{code}"),
                "area",
                format!("unknown area {code:?}"),
            ));
        }
        for (urgency, raw) in rows {
            let item = format!("area.{code}.{urgency}");
            by_area.insert(
                (code.clone(), urgency_named(&item, &urgency)?),
                overrides(&item, raw)?,
            );
        }
    }
    Ok(DeadlinePolicy {
        yellow_percent: deadlines.yellow_percent,
        warn_before: calendar_duration("warn_before", deadlines.warn_before)?,
        escalate_before: calendar_duration("escalate_before", deadlines.escalate_before)?,
        callback: span("callback", deadlines.callback)?,
        dispatch,
        by_urgency,
        by_kind,
        by_area,
    })
}
