//! The working-day calendar: official dates, office hours, and properties.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;
use rectify_catalog::{Calendar, CalendarError, Catalog, WORKING_MINUTES_PER_DAY};

fn calendar() -> &'static Calendar {
    static CALENDAR: std::sync::OnceLock<Calendar> = std::sync::OnceLock::new();
    CALENDAR.get_or_init(|| Catalog::embedded().unwrap().calendar().clone())
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An instant given in Asia/Shanghai local time.
fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn official_2026_dates() {
    let c = calendar();
    for off in [
        day(2026, 1, 1),
        day(2026, 1, 2),
        day(2026, 2, 16),
        day(2026, 2, 23),
        day(2026, 10, 7),
    ] {
        assert!(!c.is_working_day(off).unwrap(), "{off} is a holiday");
    }
    for worked in [
        day(2026, 1, 4),
        day(2026, 2, 14),
        day(2026, 2, 28),
        day(2026, 9, 20),
        day(2026, 10, 10),
    ] {
        assert!(
            c.is_working_day(worked).unwrap(),
            "{worked} is an adjusted working day"
        );
    }
    assert!(
        c.is_working_day(day(2026, 11, 23)).unwrap(),
        "an ordinary Monday"
    );
    assert!(
        !c.is_working_day(day(2026, 11, 22)).unwrap(),
        "an ordinary Sunday"
    );
    assert_eq!(c.holiday_name(day(2026, 10, 1)), Some("国庆节"));
}

#[test]
fn a_spring_festival_day_and_a_worked_weekend_of_every_earlier_year() {
    // Each pair checked against the chinese-calendar data set.
    let c = calendar();
    for (off, worked) in [
        (day(2021, 2, 12), day(2021, 2, 7)),
        (day(2022, 2, 1), day(2022, 1, 29)),
        (day(2023, 1, 23), day(2023, 1, 28)),
        (day(2024, 2, 12), day(2024, 2, 4)),
        (day(2025, 1, 29), day(2025, 1, 26)),
    ] {
        assert!(!c.is_working_day(off).unwrap(), "{off} is a holiday");
        assert!(c.is_working_day(worked).unwrap(), "{worked} is worked");
    }
    let years: Vec<i32> = c.years().collect();
    assert_eq!(years, (2021..=2026).collect::<Vec<_>>());
}

#[test]
fn years_outside_the_table_are_errors() {
    let c = calendar();
    assert_eq!(
        c.is_working_day(day(2020, 6, 1)),
        Err(CalendarError::YearNotCovered(2020))
    );
    assert_eq!(
        c.add_working_days(local(2026, 12, 30, 10, 0), 5),
        Err(CalendarError::YearNotCovered(2027))
    );
}

#[test]
fn adding_working_time_skips_nights_weekends_and_holidays() {
    let c = calendar();
    // Friday 2026-09-25 is 中秋节: from Thursday 16:30, one working day ends
    // after the holiday and the weekend, on Monday 16:30.
    assert_eq!(
        c.add_working_days(local(2026, 9, 24, 16, 30), 1).unwrap(),
        local(2026, 9, 28, 16, 30)
    );
    // An evening call starts counting at the next opening.
    assert_eq!(
        c.add_working_minutes(local(2026, 11, 23, 20, 0), 60)
            .unwrap(),
        local(2026, 11, 24, 10, 0)
    );
    // The lunch break does not count.
    assert_eq!(
        c.add_working_minutes(local(2026, 11, 23, 11, 30), 60)
            .unwrap(),
        local(2026, 11, 23, 14, 0)
    );
    // Half a working day.
    assert_eq!(
        c.add_working_minutes(local(2026, 11, 23, 9, 0), WORKING_MINUTES_PER_DAY / 2)
            .unwrap(),
        local(2026, 11, 23, 14, 0)
    );
    // 春节 2026: Feb 15–23 off, Feb 14 (Saturday) worked.
    assert_eq!(
        c.add_working_days(local(2026, 2, 13, 10, 0), 1).unwrap(),
        local(2026, 2, 14, 10, 0)
    );
    assert_eq!(
        c.add_working_days(local(2026, 2, 14, 10, 0), 1).unwrap(),
        local(2026, 2, 24, 10, 0)
    );
    assert_eq!(
        c.working_days_between(local(2026, 2, 13, 10, 0), local(2026, 2, 24, 10, 0))
            .unwrap(),
        2
    );
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // Any minute of 2021-01-01 .. 2026-06-30 (leaving room to add).
    (0i64..(5 * 365 + 180) * 24 * 60)
        .prop_map(|m| local(2021, 1, 1, 0, 0) + chrono::Duration::minutes(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn adding_a_then_b_equals_adding_a_plus_b(at in instant(), a in 0u32..5_000, b in 0u32..5_000) {
        let c = calendar();
        let stepwise = c.add_working_minutes(c.add_working_minutes(at, a).unwrap(), b).unwrap();
        prop_assert_eq!(stepwise, c.add_working_minutes(at, a + b).unwrap());
    }

    #[test]
    fn results_land_in_office_hours_of_working_days(at in instant(), n in 0u32..10_000) {
        let c = calendar();
        let due = c.add_working_minutes(at, n).unwrap();
        prop_assert!(c.is_office_time(due).unwrap(), "{} + {} = {}", at, n, due);
        prop_assert!(due >= at);
    }

    #[test]
    fn between_inverts_add(at in instant(), n in 0u32..10_000) {
        let c = calendar();
        let due = c.add_working_minutes(at, n).unwrap();
        prop_assert_eq!(c.working_minutes_between(at, due).unwrap(), n);
    }
}
