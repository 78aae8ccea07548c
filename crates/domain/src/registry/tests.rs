//! Given/when/then for the registry decider.

use chrono::{NaiveDate, TimeZone as _, Utc};

use super::*;
use crate::Role;

fn actor(role: Role) -> Actor {
    Actor {
        principal: "ops".to_owned(),
        role,
    }
}

fn enterprise(name: &str) -> RegistryRecord {
    RegistryRecord::Enterprise(Enterprise {
        credit_code: CreditCode::new("91350100M000100Y43").unwrap(),
        name: name.to_owned(),
        aliases: vec!["示例".to_owned()],
        kind: EnterpriseKind::AboveScale,
        district: Some(DistrictCode::new("dongsheng").unwrap()),
    })
}

fn command(role: Role, record: RegistryRecord) -> RegistryCommand {
    RegistryCommand {
        actor: actor(role),
        at: Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap(),
        record,
    }
}

fn given(events: &[RegistryEvent]) -> RegistryState {
    events.iter().fold(RegistryState::default(), evolve)
}

#[test]
fn first_recording_registers_and_a_change_revises() {
    let first = decide(
        &given(&[]),
        &command(Role::Dispatcher, enterprise("甲公司")),
    )
    .unwrap();
    assert_eq!(
        first,
        vec![RegistryEvent::RegistryRecorded {
            at: Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap(),
            record: enterprise("甲公司"),
        }]
    );
    let state = given(&first);
    let revised = decide(&state, &command(Role::Admin, enterprise("甲有限公司"))).unwrap();
    let state = given(&[first, revised].concat());
    assert_eq!(state.revisions, 2);
    assert_eq!(state.record, Some(enterprise("甲有限公司")));
}

#[test]
fn the_same_record_again_is_already_recorded() {
    let state = given(&decide(&given(&[]), &command(Role::Admin, enterprise("甲"))).unwrap());
    assert!(matches!(
        decide(&state, &command(Role::Admin, enterprise("甲"))),
        Err(DomainError::AlreadyRecorded { .. })
    ));
}

#[test]
fn only_the_dispatch_centre_keeps_registries() {
    for role in [Role::Hotline, Role::Portal, Role::Supervisor, Role::System] {
        assert!(matches!(
            decide(&given(&[]), &command(role, enterprise("甲"))),
            Err(DomainError::NotPermitted { .. })
        ));
    }
}

#[test]
fn records_are_checked() {
    let blank = decide(&given(&[]), &command(Role::Admin, enterprise(" ")));
    assert!(matches!(
        blank,
        Err(DomainError::Invalid { field: "name", .. })
    ));
    let day = |d| NaiveDate::from_ymd_opt(2025, 1, d).unwrap();
    let backwards = RegistryRecord::Liaison(Liaison {
        credit_code: CreditCode::new("91350100M000100Y43").unwrap(),
        cadre: "cadre-li".to_owned(),
        level: LiaisonLevel::City,
        from: day(10),
        to: Some(day(9)),
    });
    assert!(matches!(
        decide(&given(&[]), &command(Role::Admin, backwards)),
        Err(DomainError::Invalid { field: "to", .. })
    ));
    let round_zero = RegistryRecord::Officer(Officer {
        id: "TYG-001".to_owned(),
        kind: OfficerKind::Citizen,
        round: 0,
        active: true,
    });
    assert!(matches!(
        decide(&given(&[]), &command(Role::Admin, round_zero)),
        Err(DomainError::Invalid { field: "round", .. })
    ));
}

#[test]
fn a_stream_keeps_its_record_kind_and_key() {
    let state = given(&decide(&given(&[]), &command(Role::Admin, enterprise("甲"))).unwrap());
    let officer = RegistryRecord::Officer(Officer {
        id: "TYG-001".to_owned(),
        kind: OfficerKind::Business,
        round: 1,
        active: true,
    });
    assert!(matches!(
        decide(&state, &command(Role::Admin, officer)),
        Err(DomainError::Rejected { .. })
    ));
}

#[test]
fn events_round_trip_through_the_codec() {
    let event = RegistryEvent::RegistryRecorded {
        at: Utc.with_ymd_and_hms(2025, 3, 1, 2, 0, 0).unwrap(),
        record: enterprise("甲"),
    };
    let (event_type, version, payload) = event.encode();
    assert_eq!(
        RegistryEvent::decode(event_type, version, &payload).unwrap(),
        event
    );
    assert!(RegistryEvent::decode(event_type, 2, &payload).is_err());
}

#[test]
fn a_liaison_holds_between_its_dates() {
    let day = |d| NaiveDate::from_ymd_opt(2025, 1, d).unwrap();
    let pair = Liaison {
        credit_code: CreditCode::new("91350100M000100Y43").unwrap(),
        cadre: "cadre-li".to_owned(),
        level: LiaisonLevel::Banner,
        from: day(10),
        to: Some(day(20)),
    };
    assert!(!pair.holds_on(day(9)));
    assert!(pair.holds_on(day(10)) && pair.holds_on(day(20)));
    assert!(!pair.holds_on(day(21)));
}
