//! The deadline policy from the embedded seeds: spans per urgency, kind and
//! area, dispatch, warning and escalation times, callback.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use rectify_catalog::{Calendar, Catalog, DeadlinePolicy, RequestKind, Urgency};

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::embedded().expect("the embedded seeds load"))
}

fn parts() -> (&'static DeadlinePolicy, &'static Calendar) {
    (catalog().deadline_policy(), catalog().calendar())
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
fn an_emergency_runs_day_and_night() {
    let (policy, calendar) = parts();
    // Saturday night in a holiday week: nobody's office is open.
    let received = local(2026, 2, 21, 23, 0);
    assert_eq!(
        policy
            .dispatch_due_for(Urgency::Emergency, received, calendar)
            .unwrap(),
        local(2026, 2, 21, 23, 15)
    );
    let due = policy
        .due_times(
            Urgency::Emergency,
            Some("getting-electricity"),
            received,
            calendar,
        )
        .unwrap();
    assert_eq!(due.accept, local(2026, 2, 21, 23, 30));
    // The area's override is for ordinary cases; it never loosens an emergency.
    assert_eq!(due.first_contact, local(2026, 2, 22, 0, 0));
    assert_eq!(due.resolve, local(2026, 2, 22, 1, 0));
}

#[test]
fn ordinary_cases_count_working_days_across_the_spring_festival() {
    let (policy, calendar) = parts();
    // Fri 13 Feb 2026; Sat 14 Feb is worked, 15–23 Feb off, Sat 28 Feb worked.
    let start = local(2026, 2, 13, 10, 0);
    let due = policy
        .due_times(Urgency::Normal, None, start, calendar)
        .unwrap();
    assert_eq!(due.accept, local(2026, 2, 14, 10, 0));
    assert_eq!(due.first_contact, local(2026, 2, 24, 10, 0));
    assert_eq!(due.resolve, local(2026, 3, 2, 10, 0));
    // Received on the Friday evening: dispatch is due 2 working hours into
    // the next working day, the worked Saturday.
    assert_eq!(
        policy
            .dispatch_due(local(2026, 2, 13, 18, 0), calendar)
            .unwrap(),
        local(2026, 2, 14, 11, 0)
    );
}

#[test]
fn kinds_and_areas_override_their_own_urgency_only() {
    let (policy, calendar) = parts();
    let start = local(2026, 3, 2, 10, 0); // a Monday
    let consultation = policy
        .due_times_for(
            Urgency::Normal,
            Some(RequestKind::Consultation),
            None,
            start,
            calendar,
        )
        .unwrap();
    assert_eq!(consultation.resolve, local(2026, 3, 5, 10, 0));
    let urgent_consultation = policy
        .due_times_for(
            Urgency::Urgent,
            Some(RequestKind::Consultation),
            None,
            start,
            calendar,
        )
        .unwrap();
    assert_eq!(urgent_consultation.resolve, start + Duration::hours(24));
    let power = policy
        .due_times(
            Urgency::Normal,
            Some("getting-electricity"),
            start,
            calendar,
        )
        .unwrap();
    assert_eq!(power.first_contact, local(2026, 3, 2, 15, 30));
    let complex_power = policy
        .due_times(
            Urgency::Complex,
            Some("getting-electricity"),
            start,
            calendar,
        )
        .unwrap();
    assert_eq!(complex_power.first_contact, local(2026, 3, 4, 10, 0));
    assert_eq!(complex_power.resolve, local(2026, 3, 23, 10, 0));
}

#[test]
fn warnings_come_48_hours_and_escalation_24_hours_before_long_deadlines() {
    let (policy, _) = parts();
    let start = local(2026, 3, 2, 10, 0);
    let due = local(2026, 3, 11, 10, 0);
    assert_eq!(policy.yellow_at(start, due), due - Duration::hours(48));
    assert_eq!(policy.escalate_at(start, due), due - Duration::hours(24));
    // Two hours: yellow at 80 % of the time, escalation when it runs out.
    let short = start + Duration::hours(2);
    assert_eq!(
        policy.yellow_at(start, short),
        start + Duration::minutes(96)
    );
    assert_eq!(policy.escalate_at(start, short), short);
    // Both never fall outside the allowed time.
    for hours in [1, 30, 50, 80, 400] {
        let due = start + Duration::hours(hours);
        let yellow = policy.yellow_at(start, due);
        let red = policy.escalate_at(start, due);
        assert!(start < yellow && yellow < red && red <= due, "{hours} h");
    }
    // On nanoseconds, as the ledger's watcher asks, the same instants.
    let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().unwrap();
    for due in [0, 1, 7_777, 3_600_000, 7_200_001, 172_800_000, 900_000_123]
        .map(|ms| start + Duration::milliseconds(ms) + Duration::nanoseconds(ms % 997))
        .into_iter()
        .chain([start - Duration::hours(3)])
    {
        assert_eq!(
            policy.yellow_at_nanos(nanos(start), nanos(due)),
            nanos(policy.yellow_at(start, due)),
            "{start} to {due}"
        );
    }
}

#[test]
fn the_callback_is_due_the_working_day_after_closure() {
    let (policy, calendar) = parts();
    assert_eq!(
        policy
            .callback_due(local(2026, 3, 6, 15, 0), calendar)
            .unwrap(),
        local(2026, 3, 9, 15, 0)
    );
}
