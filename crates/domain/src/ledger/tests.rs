//! Given/when/then tests of the ledger decider.

use chrono::{DateTime, TimeZone as _, Utc};

use super::*;
use crate::{Actor, DomainError, Role, UnitCode, complaint::WarningLevel};

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 8, 1, 0, 0).unwrap() + chrono::Duration::hours(hours)
}

fn actor(role: Role) -> Actor {
    Actor {
        principal: "p".into(),
        role,
    }
}

fn unit(code: &str) -> UnitCode {
    UnitCode::new(code).unwrap()
}

fn run(
    state: LedgerState,
    role: Role,
    kind: LedgerCommandKind,
) -> Result<LedgerState, DomainError> {
    let events = decide(
        &state,
        &LedgerCommand {
            actor: actor(role),
            at: at(1),
            kind,
        },
    )?;
    assert!(!events.is_empty());
    for event in &events {
        let (event_type, version, payload) = event.encode();
        assert_eq!(
            &LedgerEvent::decode(event_type, version, &payload).unwrap(),
            event
        );
    }
    Ok(events.iter().fold(state, evolve))
}

fn opened() -> LedgerState {
    let state = run(
        LedgerState::default(),
        Role::Dispatcher,
        LedgerCommandKind::Open {
            ledger_id: "self-2026".into(),
            title: "自查自纠台账".into(),
            source: LedgerSource::SelfInspection,
            owner: unit("business-environment-bureau"),
            phases: vec![],
        },
    )
    .unwrap();
    ["a", "b"].iter().fold(state, |state, id| {
        run(
            state,
            Role::Dispatcher,
            LedgerCommandKind::AddItem(ItemSpec {
                item_id: (*id).into(),
                problem: "审批材料重复提交".into(),
                measures: "一次告知".into(),
                group: None,
                lead: vec![unit("gov-services")],
                responsible: vec![unit("market-regulation")],
                deadline: Some(at(48)),
            }),
        )
        .unwrap()
    })
}

fn close_item(state: LedgerState, id: &str) -> Result<LedgerState, DomainError> {
    run(
        state,
        Role::Dispatcher,
        LedgerCommandKind::CloseItem {
            item_id: id.into(),
            evidence: vec!["report-1".into()],
            verifier: "督查组 李四".into(),
            note: None,
        },
    )
}

#[test]
fn a_ledger_closes_only_when_every_item_is_closed() {
    let state = close_item(opened(), "a").unwrap();
    let close = LedgerCommandKind::Close { note: None };
    match run(state.clone(), Role::Dispatcher, close.clone()) {
        Err(DomainError::Rejected { reason, .. }) => {
            assert!(reason.contains("1 items are still open: b"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let state = close_item(state, "b").unwrap();
    let state = run(state, Role::Dispatcher, close).unwrap();
    assert_eq!(state.status_name(), "closed");
}

#[test]
fn items_reopen_and_close_again_with_evidence_only() {
    let state = close_item(opened(), "a").unwrap();
    assert!(matches!(
        close_item(state.clone(), "a"),
        Err(DomainError::AlreadyRecorded { .. })
    ));
    let state = run(
        state,
        Role::Dispatcher,
        LedgerCommandKind::ReopenItem {
            item_id: "a".into(),
            reason: "复查发现反弹".into(),
        },
    )
    .unwrap();
    assert_eq!(state.open_items(), vec!["a", "b"]);
    let no_evidence = run(
        state,
        Role::Dispatcher,
        LedgerCommandKind::CloseItem {
            item_id: "a".into(),
            evidence: vec![],
            verifier: "x".into(),
            note: None,
        },
    );
    assert!(matches!(
        no_evidence,
        Err(DomainError::Invalid {
            field: "evidence",
            ..
        })
    ));
}

#[test]
fn units_record_progress_on_their_items_only() {
    let progress = |role| {
        run(
            opened(),
            role,
            LedgerCommandKind::RecordProgress {
                item_id: "a".into(),
                note: "已制定一次告知清单".into(),
                evidence: vec![],
            },
        )
    };
    assert!(progress(Role::Unit(unit("market-regulation"))).is_ok());
    assert!(matches!(
        progress(Role::Unit(unit("tax-bureau"))),
        Err(DomainError::NotPermitted { .. })
    ));
    assert!(matches!(
        progress(Role::Supervisor),
        Err(DomainError::NotPermitted { .. })
    ));
}

#[test]
fn links_and_warnings_are_recorded_once() {
    let link = LedgerCommandKind::LinkComplaint {
        item_id: "a".into(),
        complaint_id: "RC-1".into(),
    };
    let state = run(opened(), Role::Dispatcher, link.clone()).unwrap();
    assert!(matches!(
        run(state.clone(), Role::Dispatcher, link),
        Err(DomainError::AlreadyRecorded { .. })
    ));
    let state = close_item(state, "a").unwrap();
    assert_eq!(state.items["a"].complaints, vec!["RC-1"]);
    let warn = |level| LedgerCommandKind::WarnItemDeadline {
        item_id: "b".into(),
        level,
        due_at: at(48),
    };
    let state = run(state, Role::System, warn(WarningLevel::Yellow)).unwrap();
    assert!(matches!(
        run(state.clone(), Role::System, warn(WarningLevel::Yellow)),
        Err(DomainError::AlreadyRecorded { .. })
    ));
    // Red before the deadline is refused.
    assert!(matches!(
        run(state, Role::System, warn(WarningLevel::Red)),
        Err(DomainError::Invalid { field: "level", .. })
    ));
}

#[test]
fn item_texts_follow_the_text_rules() {
    let add = |problem: &str, evidence_ref: &str| {
        let state = run(
            opened(),
            Role::Dispatcher,
            LedgerCommandKind::AddItem(ItemSpec {
                item_id: "c".into(),
                problem: problem.into(),
                measures: "一次告知".into(),
                group: None,
                lead: vec![unit("gov-services")],
                responsible: vec![],
                deadline: None,
            }),
        )?;
        run(
            state,
            Role::Dispatcher,
            LedgerCommandKind::CloseItem {
                item_id: "c".into(),
                evidence: vec![evidence_ref.into()],
                verifier: "督查组 李四".into(),
                note: None,
            },
        )
    };
    assert!(add("审批材料重复提交\n（多次）", "report-1").is_ok());
    assert_eq!(
        add("审批材料\u{1b}重复提交", "report-1"),
        Err(DomainError::Invalid {
            field: "problem",
            reason: "contains control characters".to_owned(),
        })
    );
    assert_eq!(
        add(&"长".repeat(MAX_TEXT_CHARS + 1), "report-1"),
        Err(DomainError::Invalid {
            field: "problem",
            reason: "longer than 2000 characters".to_owned(),
        })
    );
    assert_eq!(
        add("审批材料重复提交", " "),
        Err(DomainError::Invalid {
            field: "evidence",
            reason: "required".to_owned(),
        })
    );
}

#[test]
fn commands_on_a_missing_ledger_or_item_are_not_found() {
    let missing = run(
        LedgerState::default(),
        Role::Dispatcher,
        LedgerCommandKind::Close { note: None },
    );
    assert!(matches!(
        missing,
        Err(DomainError::Missing { what: "ledger", .. })
    ));
    let missing_item = close_item(opened(), "zzz");
    assert!(matches!(
        missing_item,
        Err(DomainError::Missing {
            what: "ledger item",
            ..
        })
    ));
}
