//! The catalog checker: every inconsistency is a precise load error.

use rectify_catalog::{Catalog, CatalogError, Sources};

const UNITS: &str = r#"
[[unit]]
code = "power-bureau"
name = "鄂尔多斯电业局"
full_name = "鄂尔多斯供电分公司"
kind = "enterprise"
aliases = ["电业局"]

[[unit]]
code = "dongsheng-gov"
name = "东胜区政府"
full_name = "东胜区人民政府"
kind = "district_government"

[[collective]]
code = "city-departments"
name = "市直各有关部门"
"#;
const DISTRICTS: &str = r#"
[[district]]
code = "dongsheng"
name = "东胜区"
kind = "district"
government_unit = "dongsheng-gov"
"#;
const PLAN: &str = r#"
[[phase]]
code = "launch"
name = "部署启动阶段"
starts = "2021-05-06"
ends = "2021-05-31"

[[working_group]]
code = "government-services"
name = "政务服务组"
number = 6

[[area]]
code = "getting-electricity"
number = 15
name = "获得电力组"
working_group = "government-services"
city_only = false
keywords = ["用电"]

[[area.task]]
number = 1
title = "一窗通办"
text = "推行一窗通办。"
lead = ["power-bureau"]
responsible = ["city-departments"]
source_line = 337
"#;
const HOLIDAYS: &str = r#"
[[year]]
year = 2026
notice = "国务院办公厅关于2026年部分节假日安排的通知"
off = [ { from = "2026-01-01", to = "2026-01-03", name = "元旦" } ]
workdays = [ { date = "2026-01-04", name = "元旦调休" } ]
"#;
const DEADLINES: &str = r#"
yellow_percent = 80
warn_before = { minutes = 2880 }
escalate_before = { minutes = 1440 }
callback = { working_days = 1 }
dispatch = { working_minutes = 120 }
[urgency.emergency]
dispatch = { minutes = 15 }
accept = { minutes = 30 }
first_contact = { minutes = 60 }
resolve = { minutes = 120 }
[urgency.urgent]
accept = { minutes = 30 }
first_contact = { minutes = 60 }
resolve = { minutes = 120 }
[urgency.normal]
accept = { working_days = 1 }
first_contact = { working_days = 2 }
resolve = { working_days = 7 }
[urgency.complex]
accept = { working_days = 1 }
first_contact = { working_days = 2 }
resolve = { working_days = 15 }
[kind.consultation.normal]
resolve = { working_days = 3 }
[area.getting-electricity.normal]
first_contact = { working_minutes = 240 }
"#;

fn load(edit: impl Fn(&mut [String; 5])) -> Result<Catalog, CatalogError> {
    let mut texts = [UNITS, DISTRICTS, PLAN, HOLIDAYS, DEADLINES].map(str::to_owned);
    edit(&mut texts);
    Catalog::from_texts(Sources {
        units: &texts[0],
        districts: &texts[1],
        plan: &texts[2],
        holidays: &texts[3],
        deadlines: &texts[4],
    })
}

/// A named edit of the fixture files and the text its error must contain.
type Case = (&'static str, Box<dyn Fn(&mut [String; 5])>, &'static str);

fn error(edit: impl Fn(&mut [String; 5])) -> String {
    load(edit)
        .expect_err("the edit must be refused")
        .to_string()
}

#[test]
fn the_fixture_loads() {
    let c = load(|_| {}).unwrap();
    assert_eq!(c.resolve_unit("电业局").unwrap().code, "power-bureau");
}

#[test]
fn each_inconsistency_is_named() {
    let cases: Vec<Case> = vec![
        (
            "unknown lead",
            Box::new(|t| {
                t[2] = t[2].replace(r#"lead = ["power-bureau"]"#, r#"lead = ["no-such-unit"]"#)
            }),
            "plan.toml: area getting-electricity task 1: lead: unknown unit \"no-such-unit\"",
        ),
        (
            "task without lead",
            Box::new(|t| t[2] = t[2].replace(r#"lead = ["power-bureau"]"#, "lead = []")),
            "task needs at least one lead",
        ),
        (
            "unknown responsible",
            Box::new(|t| t[2] = t[2].replace(r#"["city-departments"]"#, r#"["nobody"]"#)),
            "responsible: unknown unit \"nobody\"",
        ),
        (
            "duplicate unit code",
            Box::new(|t| {
                t[0] = t[0].replace(r#"code = "dongsheng-gov""#, r#"code = "power-bureau""#)
            }),
            "duplicate code \"power-bureau\"",
        ),
        (
            "duplicate alias",
            Box::new(|t| {
                t[0] = t[0].replace(r#"full_name = "东胜区人民政府""#, r#"full_name = "电业局""#)
            }),
            "\"电业局\" already names power-bureau",
        ),
        (
            "unknown government",
            Box::new(|t| {
                t[1] = t[1].replace(
                    r#"government_unit = "dongsheng-gov""#,
                    r#"government_unit = "x""#,
                )
            }),
            "government_unit: unknown unit",
        ),
        (
            "unknown working group",
            Box::new(|t| {
                t[2] = t[2].replace(
                    r#"working_group = "government-services""#,
                    r#"working_group = "nope""#,
                )
            }),
            "unknown working group",
        ),
        (
            "bad date",
            Box::new(|t| t[2] = t[2].replace("2021-05-31", "2021-13-31")),
            "not a YYYY-MM-DD date",
        ),
        (
            "worked weekday",
            Box::new(|t| t[3] = t[3].replace("2026-01-04", "2026-01-05")),
            "is not a weekend day",
        ),
        (
            "missing notice",
            Box::new(|t| t[3] = t[3].replace("国务院办公厅关于2026年部分节假日安排的通知", " ")),
            "notice",
        ),
        (
            "bad span",
            Box::new(|t| {
                t[4] = t[4].replace("resolve = { minutes = 120 }", "resolve = { minutes = 0 }")
            }),
            "span",
        ),
        (
            "working time where calendar time is needed",
            Box::new(|t| {
                t[4] = t[4].replace(
                    "warn_before = { minutes = 2880 }",
                    "warn_before = { working_days = 2 }",
                )
            }),
            "deadlines.toml: policy: warn_before: must be calendar time",
        ),
        (
            "response rules for an unknown channel",
            Box::new(|t| {
                t[4].push_str(
                    "[channel.carrier_pigeon.normal]\naccept = { working_minutes = 60 }\n",
                )
            }),
            "channel.carrier_pigeon: channel: unknown channel \"carrier_pigeon\"",
        ),
        (
            "override for an unknown urgency",
            Box::new(|t| {
                t[4] = t[4].replace(
                    "[area.getting-electricity.normal]",
                    "[area.getting-electricity.ordinary]",
                )
            }),
            "area.getting-electricity.ordinary: urgency: unknown urgency \"ordinary\"",
        ),
        (
            "override for an unknown area",
            Box::new(|t| t[4] = t[4].replace("[area.getting-electricity", "[area.no-such-area")),
            "area.no-such-area: area: unknown area \"no-such-area\"",
        ),
        (
            "unknown request kind",
            Box::new(|t| t[4] = t[4].replace("[kind.consultation", "[kind.praise")),
            "kind.praise: kind: unknown kind \"praise\"",
        ),
        (
            "missing urgency row",
            Box::new(|t| t[4] = t[4].replace("[urgency.complex]", "[urgency.complicated]")),
            "urgency.complicated: urgency: unknown urgency",
        ),
        (
            "yellow share out of range",
            Box::new(|t| t[4] = t[4].replace("yellow_percent = 80", "yellow_percent = 100")),
            "yellow_percent: 100 is not between 1 and 99",
        ),
        (
            "fractional commitment finer than a minute",
            Box::new(|t| {
                t[2] = t[2].replace(
                    "source_line = 337",
                    "source_line = 337\n[[area.task.commitment]]\nwhat = \"x\"\nworking_days = 0.3333",
                )
            }),
            "working_days: 0.3333 is not a whole number of working minutes",
        ),
        (
            "duplicate task number",
            Box::new(|t| {
                let task = &t[2][t[2].find("[[area.task]]").unwrap()..];
                let twice = format!("{}\n{task}", t[2]);
                t[2] = twice;
            }),
            "plan.toml: area getting-electricity task 1: number: duplicate task number",
        ),
        (
            "unknown field",
            Box::new(|t| {
                t[0] = t[0].replace(
                    "kind = \"enterprise\"",
                    "kind = \"enterprise\"\ncolour = \"red\"",
                )
            }),
            "units.toml",
        ),
        (
            "bad code",
            Box::new(|t| {
                t[0] = t[0].replace(r#"code = "power-bureau""#, r#"code = "Power Bureau""#)
            }),
            "not a kebab-case code",
        ),
    ];
    for (name, edit, expected) in cases {
        let message = error(edit);
        assert!(
            message.contains(expected),
            "{name}: {message:?} should contain {expected:?}"
        );
    }
}

#[test]
fn commitments_display_in_working_days() {
    let plan = PLAN.replace(
        "source_line = 337",
        "source_line = 337\n[[area.task.commitment]]\nwhat = \"电力外线工程审批办结\"\nworking_days = 5.0\n[[area.task.commitment]]\nwhat = \"网上办理\"\nworking_days = 0.5\n[[area.task.commitment]]\nwhat = \"窗口办理\"\nworking_days = 1.0",
    );
    let c = Catalog::from_sources(UNITS, DISTRICTS, &plan, HOLIDAYS, DEADLINES).unwrap();
    let shown: Vec<String> = c.areas()[0].tasks[0]
        .commitments
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "电力外线工程审批办结: 5 working days",
            "网上办理: 0.5 working days",
            "窗口办理: 1 working day",
        ]
    );
}

#[test]
fn overrides_name_assignable_units_once() {
    let c = load(|_| {}).unwrap();
    assert!(
        c.validate_override("power-bureau", &["dongsheng-gov".to_owned()])
            .is_ok()
    );
    assert!(matches!(
        c.validate_override("city-departments", &[]),
        Err(CatalogError::NotAssignable { .. })
    ));
    assert!(matches!(
        c.validate_override("power-bureau", &["city-departments".to_owned()]),
        Err(CatalogError::NotAssignable { .. })
    ));
    assert!(matches!(
        c.validate_override("nobody", &[]),
        Err(CatalogError::UnknownUnit { .. })
    ));
    assert!(matches!(
        c.validate_override("power-bureau", &["power-bureau".to_owned()]),
        Err(CatalogError::DuplicateAssignment { .. })
    ));
}

#[test]
fn a_channels_response_rules_apply_after_the_areas() {
    use chrono::{TimeZone as _, Utc};
    use rectify_catalog::{RequestKind, Urgency};
    let c = load(|t| {
        t[4].push_str(
            "[channel.experience_officer.normal]\nfirst_contact = { working_minutes = 120 }\n",
        )
    })
    .unwrap();
    let policy = c.deadline_policy();
    // Wednesday 14 October 2026, 10:00 in Ordos.
    let start = Utc.with_ymd_and_hms(2026, 10, 14, 2, 0, 0).unwrap();
    let due = |channel: &str| {
        policy
            .due_times_on_channel(
                Urgency::Normal,
                Some(RequestKind::Complaint),
                channel,
                Some("getting-electricity"),
                start,
                c.calendar(),
            )
            .unwrap()
            .first_contact
    };
    // The area's four working hours, or the officers' two.
    assert_eq!(
        due("hotline12345"),
        Utc.with_ymd_and_hms(2026, 10, 14, 7, 30, 0).unwrap()
    );
    assert_eq!(
        due("experience_officer"),
        Utc.with_ymd_and_hms(2026, 10, 14, 4, 0, 0).unwrap()
    );
    assert!(policy.channel_has_rules("experience_officer", Urgency::Normal));
    assert!(!policy.channel_has_rules("experience_officer", Urgency::Emergency));
}
