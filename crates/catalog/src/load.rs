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
    #[serde(default)]
    channel: BTreeMap<String, BTreeMap<String, RawOverrides>>,
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

/// Checks that `code` is kebab-case and in neither `codes` nor `others`, and records it in `codes`.
fn new_code(
    file: &'static str,
    item: &str,
    code: &str,
    codes: &mut BTreeSet<String>,
    others: &[&BTreeSet<String>],
) -> Result<(), CatalogError> {
    if is_code(code) && !others.iter().any(|o| o.contains(code)) && codes.insert(code.to_owned()) {
        Ok(())
    } else {
        Err(invalid(
            file,
            item,
            "code",
            format!("{code:?} is not a new kebab-case code"),
        ))
    }
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

/// The five seed files in their raw shapes.
struct Files {
    units: UnitsFile,
    districts: DistrictsFile,
    plan: PlanFile,
    holidays: HolidaysFile,
    deadlines: DeadlinesFile,
}

/// Units and collectives as checked, with the codes later files refer to.
struct Parties {
    units: Vec<Unit>,
    collectives: Vec<Collective>,
    /// Every code, name and alias of a unit → the unit's code.
    names: BTreeMap<String, String>,
    unit_codes: BTreeSet<String>,
    collective_codes: BTreeSet<String>,
}

/// Loads a catalog as a sequence of checked steps; the first inconsistency found is the error.
pub(crate) fn load(sources: Sources<'_>) -> Result<Catalog, CatalogError> {
    let files = parse_files(sources)?;
    let parties = units_and_collectives(files.units)?;
    let districts = districts(files.districts.district, &parties.unit_codes)?;
    let phases = phases(files.plan.phase)?;
    let working_groups = working_groups(files.plan.working_group);
    let areas = areas(files.plan.area, &working_groups, &parties)?;
    let calendar = calendar(files.holidays.year)?;
    let policy = policy(files.deadlines, &areas)?;
    let classifier = Classifier::new(&areas);
    Ok(Catalog {
        units: parties.units,
        collectives: parties.collectives,
        districts,
        phases,
        working_groups,
        areas,
        calendar,
        policy,
        names: parties.names,
        classifier,
    })
}

/// Checks that every seed file is TOML of its expected shape, in file order.
fn parse_files(sources: Sources<'_>) -> Result<Files, CatalogError> {
    Ok(Files {
        units: parse("units.toml", sources.units)?,
        districts: parse("districts.toml", sources.districts)?,
        plan: parse("plan.toml", sources.plan)?,
        holidays: parse("holidays.toml", sources.holidays)?,
        deadlines: parse("deadlines.toml", sources.deadlines)?,
    })
}

/// Checks `units.toml`: codes unique across units and collectives, no spelling naming two.
fn units_and_collectives(file: UnitsFile) -> Result<Parties, CatalogError> {
    let mut names = BTreeMap::new();
    let (units, unit_codes) = units(file.unit, &mut names)?;
    let (collectives, collective_codes) = collectives(file.collective, &unit_codes, &mut names)?;
    // Collective names resolve to collectives, not units: keep only units in
    // the lookup used by `resolve_unit`.
    names.retain(|_, code| unit_codes.contains(code));
    Ok(Parties {
        units,
        collectives,
        names,
        unit_codes,
        collective_codes,
    })
}

/// Checks that `name` names nothing but `code` in `units.toml`, and records it.
fn claim(
    names: &mut BTreeMap<String, String>,
    name: &str,
    code: &str,
    item: &str,
) -> Result<(), CatalogError> {
    match names.insert(name.to_owned(), code.to_owned()) {
        Some(previous) if previous != code => Err(invalid(
            "units.toml",
            item,
            "aliases",
            format!("{name:?} already names {previous}"),
        )),
        _ => Ok(()),
    }
}

/// Checks each unit: a new kebab-case code, a name, and spellings of its own.
fn units(
    raws: Vec<RawUnit>,
    names: &mut BTreeMap<String, String>,
) -> Result<(Vec<Unit>, BTreeSet<String>), CatalogError> {
    let mut units = Vec::new();
    let mut codes = BTreeSet::new();
    for raw in raws {
        let item = format!("unit {}", raw.code);
        if !is_code(&raw.code) {
            return Err(invalid(
                "units.toml",
                &item,
                "code",
                format!("{:?} is not a kebab-case code", raw.code),
            ));
        }
        if !codes.insert(raw.code.clone()) {
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
            claim(names, name, &raw.code, &item)?;
        }
        units.push(Unit {
            code: raw.code,
            name: raw.name,
            full_name: raw.full_name,
            kind: raw.kind,
            aliases: raw.aliases,
        });
    }
    Ok((units, codes))
}

/// Checks each collective: a kebab-case code no unit or collective has, spellings of its own.
fn collectives(
    raws: Vec<RawCollective>,
    unit_codes: &BTreeSet<String>,
    names: &mut BTreeMap<String, String>,
) -> Result<(Vec<Collective>, BTreeSet<String>), CatalogError> {
    let mut collectives = Vec::new();
    let mut codes = BTreeSet::new();
    for raw in raws {
        let item = format!("collective {}", raw.code);
        new_code("units.toml", &item, &raw.code, &mut codes, &[unit_codes])?;
        for name in std::iter::once(&raw.name).chain(&raw.aliases) {
            claim(names, name, &raw.code, &item)?;
        }
        collectives.push(Collective {
            code: raw.code,
            name: raw.name,
            aliases: raw.aliases,
        });
    }
    Ok((collectives, codes))
}

/// Checks `districts.toml`: new kebab-case codes, a known kind, a government that is a unit.
fn districts(
    raws: Vec<RawDistrict>,
    unit_codes: &BTreeSet<String>,
) -> Result<Vec<District>, CatalogError> {
    let mut districts = Vec::new();
    let mut codes = BTreeSet::new();
    for raw in raws {
        let item = format!("district {}", raw.code);
        new_code("districts.toml", &item, &raw.code, &mut codes, &[])?;
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
    Ok(districts)
}

/// Checks the plan's phases: real dates, and no phase ending before it starts.
fn phases(raws: Vec<RawPhase>) -> Result<Vec<Phase>, CatalogError> {
    let mut phases = Vec::new();
    for raw in raws {
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
    Ok(phases)
}

/// Takes the plan's working groups as written: nothing to check.
fn working_groups(raws: Vec<RawWorkingGroup>) -> Vec<WorkingGroup> {
    raws.into_iter()
        .map(|raw| WorkingGroup {
            code: raw.code,
            name: raw.name,
            number: raw.number,
        })
        .collect()
}

/// Checks the plan's areas: new kebab-case codes, a known working group, at least one task.
fn areas(
    raws: Vec<RawArea>,
    working_groups: &[WorkingGroup],
    parties: &Parties,
) -> Result<Vec<Area>, CatalogError> {
    let mut areas = Vec::new();
    let mut codes = BTreeSet::new();
    for raw in raws {
        let item = format!("area {}", raw.code);
        new_code("plan.toml", &item, &raw.code, &mut codes, &[])?;
        if !working_groups.iter().any(|g| g.code == raw.working_group) {
            return Err(invalid(
                "plan.toml",
                &item,
                "working_group",
                format!("unknown working group {:?}", raw.working_group),
            ));
        }
        let mut tasks = Vec::new();
        for task_raw in raw.task {
            tasks.push(task(&raw.code, task_raw, &tasks, parties)?);
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
    Ok(areas)
}

/// Checks a task: a new number, a lead, known lead and responsible units, its commitments.
fn task(
    area: &str,
    raw: RawTask,
    earlier: &[Task],
    parties: &Parties,
) -> Result<Task, CatalogError> {
    let item = format!("area {} task {}", area, raw.number);
    if earlier.iter().any(|t| t.number == raw.number) {
        return Err(invalid(
            "plan.toml",
            &item,
            "number",
            "duplicate task number",
        ));
    }
    if raw.lead.is_empty() {
        return Err(invalid(
            "plan.toml",
            &item,
            "lead",
            "a task needs at least one lead unit",
        ));
    }
    known_units(&item, "lead", &raw.lead, |code| {
        parties.unit_codes.contains(code)
    })?;
    known_units(&item, "responsible", &raw.responsible, |code| {
        parties.unit_codes.contains(code) || parties.collective_codes.contains(code)
    })?;
    let commitments = raw
        .commitment
        .into_iter()
        .map(|c| commitment(&item, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Task {
        number: raw.number,
        title: raw.title,
        text: raw.text,
        lead: raw.lead,
        responsible: raw.responsible,
        commitments,
        source_line: raw.source_line,
    })
}

/// Checks that every code a task lists in `field` is `known`, naming the first that is not.
fn known_units(
    item: &str,
    field: &'static str,
    codes: &[String],
    known: impl Fn(&String) -> bool,
) -> Result<(), CatalogError> {
    match codes.iter().find(|code| !known(code)) {
        Some(code) => Err(invalid(
            "plan.toml",
            item,
            field,
            format!("unknown unit {code:?}"),
        )),
        None => Ok(()),
    }
}

/// Checks a promised time limit: a positive whole number of working minutes below `u32::MAX`.
fn commitment(item: &str, raw: RawCommitment) -> Result<Commitment, CatalogError> {
    let minutes = raw.working_days * f64::from(WORKING_MINUTES_PER_DAY);
    if !(minutes >= 1.0 && minutes.fract() == 0.0 && minutes < f64::from(u32::MAX)) {
        return Err(invalid(
            "plan.toml",
            item,
            "working_days",
            format!(
                "{} is not a whole number of working minutes",
                raw.working_days
            ),
        ));
    }
    Ok(Commitment {
        what: raw.what,
        // Checked above: a positive whole number below u32::MAX.
        working_minutes: minutes as u32,
    })
}

/// Checks `holidays.toml`: each year once with its notice, holiday ranges, worked weekend days.
fn calendar(raws: Vec<RawYear>) -> Result<Calendar, CatalogError> {
    let mut years = Vec::new();
    let mut off = Vec::new();
    let mut worked = Vec::new();
    for raw in raws {
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
            off.extend(holiday(&item, range)?);
        }
        for workday in raw.workdays {
            worked.push(worked_weekend_day(&item, workday)?);
        }
    }
    Ok(Calendar::new(years, off, worked))
}

/// Checks a holiday range (real dates, in order, at most 14 days apart) and lists its days.
fn holiday(item: &str, range: RawOff) -> Result<Vec<(NaiveDate, String)>, CatalogError> {
    let from = date("holidays.toml", item, "off.from", &range.from)?;
    let to = date("holidays.toml", item, "off.to", &range.to)?;
    if to < from || (to - from).num_days() > 14 {
        return Err(invalid(
            "holidays.toml",
            item,
            "off",
            format!("{} .. {} is not a holiday range", range.from, range.to),
        ));
    }
    let mut days = Vec::new();
    let mut day = from;
    while day <= to {
        days.push((day, range.name.clone()));
        day = day
            .succ_opt()
            .ok_or_else(|| invalid("holidays.toml", item, "off", "date overflow"))?;
    }
    Ok(days)
}

/// Checks an adjusted working day (调休): a real date on a Saturday or Sunday.
fn worked_weekend_day(item: &str, workday: RawWorkday) -> Result<NaiveDate, CatalogError> {
    use chrono::Datelike as _;
    let day = date("holidays.toml", item, "workdays.date", &workday.date)?;
    if !matches!(day.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
        return Err(invalid(
            "holidays.toml",
            item,
            "workdays",
            format!("{} ({}) is not a weekend day", workday.date, workday.name),
        ));
    }
    Ok(day)
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

/// Checks `deadlines.toml`: the yellow share, every span, a row per urgency, overrides' keys.
fn policy(deadlines: DeadlinesFile, areas: &[Area]) -> Result<DeadlinePolicy, CatalogError> {
    if !(1..=99).contains(&deadlines.yellow_percent) {
        return Err(invalid(
            "deadlines.toml",
            "policy",
            "yellow_percent",
            format!("{} is not between 1 and 99", deadlines.yellow_percent),
        ));
    }
    let dispatch = span("dispatch", deadlines.dispatch)?;
    let by_urgency = urgency_rows(&deadlines.urgency, dispatch)?;
    let by_kind = kind_overrides(deadlines.kind)?;
    let by_area = area_overrides(deadlines.area, areas)?;
    let by_channel = channel_overrides(deadlines.channel)?;
    Ok(DeadlinePolicy {
        yellow_percent: deadlines.yellow_percent,
        warn_before: calendar_duration("warn_before", deadlines.warn_before)?,
        escalate_before: calendar_duration("escalate_before", deadlines.escalate_before)?,
        callback: span("callback", deadlines.callback)?,
        dispatch,
        by_urgency,
        by_kind,
        by_area,
        by_channel,
    })
}

/// Checks the response rules by intake channel: known channels only.
fn channel_overrides(
    by_code: BTreeMap<String, BTreeMap<String, RawOverrides>>,
) -> Result<BTreeMap<(String, Urgency), SpanOverrides>, CatalogError> {
    let mut by_channel = BTreeMap::new();
    for (code, rows) in by_code {
        let prefix = format!("channel.{code}");
        if !crate::policy::CHANNELS.contains(&code.as_str()) {
            return Err(invalid(
                "deadlines.toml",
                &prefix,
                "channel",
                format!(
                    "unknown channel {code:?} ({})",
                    crate::policy::CHANNELS.join(", ")
                ),
            ));
        }
        override_rows(&prefix, &code, rows, &mut by_channel)?;
    }
    Ok(by_channel)
}

/// Checks the urgency rows: known urgencies, every one present, valid spans.
fn urgency_rows(
    rows: &BTreeMap<String, RawSpans>,
    dispatch: Span,
) -> Result<BTreeMap<Urgency, MilestoneSpans>, CatalogError> {
    for key in rows.keys() {
        urgency_named(&format!("urgency.{key}"), key)?;
    }
    let mut by_urgency = BTreeMap::new();
    for urgency in Urgency::ALL {
        let item = format!("urgency.{}", urgency.key());
        let raw = rows
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
    Ok(by_urgency)
}

/// Checks the overrides by request kind: known kinds only.
fn kind_overrides(
    kinds: BTreeMap<String, BTreeMap<String, RawOverrides>>,
) -> Result<BTreeMap<(RequestKind, Urgency), SpanOverrides>, CatalogError> {
    let mut by_kind = BTreeMap::new();
    for (key, rows) in kinds {
        let prefix = format!("kind.{key}");
        let kind = [RequestKind::Consultation, RequestKind::Complaint]
            .into_iter()
            .find(|k| k.key() == key)
            .ok_or_else(|| {
                invalid(
                    "deadlines.toml",
                    &prefix,
                    "kind",
                    format!("unknown kind {key:?} (consultation, complaint)"),
                )
            })?;
        override_rows(&prefix, &kind, rows, &mut by_kind)?;
    }
    Ok(by_kind)
}

/// Checks the overrides by area: areas the plan has only.
fn area_overrides(
    by_code: BTreeMap<String, BTreeMap<String, RawOverrides>>,
    areas: &[Area],
) -> Result<BTreeMap<(String, Urgency), SpanOverrides>, CatalogError> {
    let mut by_area = BTreeMap::new();
    for (code, rows) in by_code {
        let prefix = format!("area.{code}");
        if !areas.iter().any(|a| a.code == code) {
            return Err(invalid(
                "deadlines.toml",
                &prefix,
                "area",
                format!("unknown area {code:?}"),
            ));
        }
        override_rows(&prefix, &code, rows, &mut by_area)?;
    }
    Ok(by_area)
}

/// Checks the override rows `{prefix}.{urgency}` of one kind or area: known urgencies, valid spans.
fn override_rows<K: Ord + Clone>(
    prefix: &str,
    key: &K,
    rows: BTreeMap<String, RawOverrides>,
    into: &mut BTreeMap<(K, Urgency), SpanOverrides>,
) -> Result<(), CatalogError> {
    for (urgency, raw) in rows {
        let item = format!("{prefix}.{urgency}");
        into.insert(
            (key.clone(), urgency_named(&item, &urgency)?),
            overrides(&item, raw)?,
        );
    }
    Ok(())
}
