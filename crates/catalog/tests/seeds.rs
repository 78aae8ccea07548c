//! The embedded catalog against the source document: shape, routings, aliases.

use rectify_catalog::{Catalog, RouteQuery};

const SOURCE: &str = include_str!("../../../seeds/source/2021-action-plan.txt");

fn catalog() -> Catalog {
    Catalog::embedded().expect("the embedded seeds load")
}

fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn the_plan_has_7_working_groups_and_28_specialised_groups() {
    let c = catalog();
    assert_eq!(c.working_groups().len(), 7);
    assert_eq!(c.areas().len(), 28);
    let numbers: Vec<u32> = c.areas().iter().map(|a| a.number).collect();
    assert_eq!(numbers, (1..=28).collect::<Vec<_>>());
    assert_eq!(c.phases().len(), 4);
    assert_eq!(
        c.districts()
            .iter()
            .filter(|d| d.kind != "development_zone")
            .count(),
        9
    );
}

#[test]
fn task_counts_match_the_numbered_tasks_of_the_plan() {
    // Count the (n)/（n） markers under each group heading of the source.
    let mut expected: Vec<(u32, u32)> = Vec::new();
    for line in SOURCE.lines() {
        let line = line.trim();
        if let Some((number, rest)) = line.split_once(". ")
            && let Ok(number) = number.parse::<u32>()
            && rest.ends_with('组')
            && (1..=28).contains(&number)
            && !expected.iter().any(|(n, _)| *n == number)
        {
            expected.push((number, 0));
            continue;
        }
        let marker = line.starts_with('(') || line.starts_with('（');
        let numbered = line
            .trim_start_matches(['(', '（'])
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit());
        if marker
            && numbered
            && let Some(last) = expected.last_mut()
        {
            last.1 += 1;
        }
    }
    let c = catalog();
    for (number, count) in expected {
        let area = c.areas().iter().find(|a| a.number == number).unwrap();
        // Groups with duties but no numbered tasks carry one task.
        assert_eq!(
            area.tasks.len() as u32,
            count.max(1),
            "{} ({number})",
            area.name
        );
    }
    let total: usize = c.areas().iter().map(|a| a.tasks.len()).sum();
    assert_eq!(total, 103);
}

#[test]
fn every_task_text_is_found_in_the_source() {
    let source = squash(SOURCE);
    for area in catalog().areas() {
        for task in &area.tasks {
            assert!(
                source.contains(&squash(&task.text)),
                "{} task {} not in the source: {}",
                area.code,
                task.number,
                task.text
            );
        }
    }
}

#[test]
fn spot_checks_against_the_plan() {
    let c = catalog();
    let leads = |area: &str| -> Vec<Vec<String>> {
        c.area(area)
            .unwrap()
            .tasks
            .iter()
            .map(|t| t.lead.clone())
            .collect()
    };
    for lead in leads("getting-electricity") {
        assert_eq!(lead, ["power-bureau"], "获得电力 → 鄂尔多斯电业局");
    }
    for lead in leads("starting-a-business") {
        assert_eq!(
            lead,
            ["gov-services", "market-regulation"],
            "开办企业 jointly"
        );
    }
    for lead in leads("registering-property") {
        assert_eq!(lead, ["natural-resources"], "登记财产 → 市自然资源局");
    }
    // 办理破产 (1) names only 责任单位: the court leads.
    assert_eq!(leads("resolving-insolvency")[0], ["intermediate-court"]);
    let electricity = c.unit("power-bureau").unwrap();
    assert_eq!(electricity.name, "鄂尔多斯电业局");
}

#[test]
fn promised_time_limits_are_attached_to_their_tasks() {
    let c = catalog();
    let minutes = |area: &str| -> Vec<u32> {
        c.area(area)
            .unwrap()
            .tasks
            .iter()
            .flat_map(|t| t.commitments.iter().map(|c| c.working_minutes))
            .collect()
    };
    let day = rectify_catalog::WORKING_MINUTES_PER_DAY;
    assert!(minutes("utility-connection").contains(&(7 * day)));
    assert!(minutes("getting-electricity").contains(&(5 * day)));
    assert!(minutes("registering-property").contains(&(3 * day)));
    let business = minutes("starting-a-business");
    assert!(
        business.contains(&day) && business.contains(&(day / 2)) && business.contains(&(20 * day))
    );
    assert!(minutes("paying-taxes").contains(&(7 * day)));
}

#[test]
fn the_known_spelling_irregularities_resolve_to_one_unit() {
    let c = catalog();
    for (alias, code) in [
        ("市政务服务中心", "gov-services"),
        ("市政务服务局", "gov-services"),
        ("市场监管局", "market-regulation"),
        ("市市场监管局", "market-regulation"),
        ("市铁航民航中心", "railway-aviation-center"),
        ("市铁路民航中心", "railway-aviation-center"),
        ("市教育局", "education-sports"),
        ("市教体局", "education-sports"),
        ("power-bureau", "power-bureau"),
    ] {
        assert_eq!(
            c.resolve_unit(alias).map(|u| u.code.as_str()),
            Some(code),
            "{alias}"
        );
    }
    assert!(
        c.resolve_unit("市直各有关部门").is_none(),
        "collectives are not units"
    );
    // 市检察院市科技局 (a missing separator) became two units on that task.
    let ip = c.area("ip-protection").unwrap();
    assert!(
        ip.tasks[1]
            .responsible
            .contains(&"procuratorate".to_owned())
    );
    assert!(
        ip.tasks[1]
            .responsible
            .contains(&"science-technology".to_owned())
    );
}

#[test]
fn routing_follows_task_area_and_district() {
    let c = catalog();
    let r = c
        .route(&RouteQuery {
            area: "getting-electricity",
            task: Some(3),
            district: Some("dongsheng"),
        })
        .unwrap();
    assert_eq!(r.lead, ["power-bureau"]);
    assert!(r.responsible.contains(&"dongsheng-gov".to_owned()), "{r:?}");
    assert_eq!(r.rule_id, "plan:getting-electricity/3+district:dongsheng");

    let r = c
        .route(&RouteQuery {
            area: "starting-a-business",
            task: None,
            district: None,
        })
        .unwrap();
    assert_eq!(r.lead, ["gov-services", "market-regulation"]);
    assert_eq!(r.rule_id, "plan:starting-a-business");
    assert!(!r.responsible.iter().any(|u| r.lead.contains(u)));

    // City-only areas do not add the banner government.
    let r = c
        .route(&RouteQuery {
            area: "resolving-insolvency",
            task: None,
            district: Some("dalad"),
        })
        .unwrap();
    assert!(!r.responsible.contains(&"dalad-gov".to_owned()));
    assert!(r.explanation.contains("city level"));

    assert!(
        c.route(&RouteQuery {
            area: "nope",
            task: None,
            district: None
        })
        .is_err()
    );
    assert!(
        c.route(&RouteQuery {
            area: "paying-taxes",
            task: Some(99),
            district: None
        })
        .is_err()
    );
    assert!(
        c.route(&RouteQuery {
            area: "paying-taxes",
            task: None,
            district: Some("atlantis")
        })
        .is_err()
    );
    assert!(
        c.validate_override("tax-bureau", &["customs".into()])
            .is_ok()
    );
    assert!(c.validate_override("city-departments", &[]).is_err());
}

#[test]
fn task_counts_match_the_plan_files_own_header() {
    // plan.toml's header lists "   n name → count" for every group; the
    // reviewed data must agree with its own summary.
    let plan = include_str!("../../../seeds/plan.toml");
    let c = catalog();
    let mut listed = 0;
    for line in plan.lines().take_while(|l| l.starts_with('#')) {
        let Some((left, count)) = line.trim_start_matches('#').split_once('→') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<usize>() else {
            continue;
        };
        let mut words = left.split_whitespace();
        match (words.next(), words.next()) {
            (Some("total"), None) => {
                let total: usize = c.areas().iter().map(|a| a.tasks.len()).sum();
                assert_eq!(total, count, "total");
            }
            (Some(number), Some(name)) => {
                let number: u32 = number.parse().expect("a group number");
                let area = c.areas().iter().find(|a| a.number == number).unwrap();
                assert_eq!(area.name, name, "group {number}");
                assert_eq!(area.tasks.len(), count, "{name}");
                listed += 1;
            }
            _ => {}
        }
    }
    assert_eq!(listed, 28);
}
