//! Given/when/then tests of the ledger decider.

use chrono::{DateTime, TimeZone as _, Utc};

use super::*;
use crate::testing::{self, Ledgers};
use crate::{Actor, DomainError, Role, UnitCode, complaint::WarningLevel};

use LedgerCommandKind as K;
use LedgerEvent as E;

/// A ledger's history and state, for the shared harness.
type Given = testing::Given<Ledgers>;

/// Given these events happened.
fn given(history: impl IntoIterator<Item = LedgerEvent>) -> Given {
    testing::given(history)
}

fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 8, 1, 0, 0).unwrap() + chrono::Duration::hours(hours)
}

/// `role` does `kind` at hour 1 (histories happen at hour 0, item
/// deadlines fall at hour 48).
fn by(role: Role, kind: LedgerCommandKind) -> LedgerCommand {
    LedgerCommand {
        actor: Actor {
            principal: "p".into(),
            role,
        },
        at: at(1),
        kind,
    }
}

fn unit(code: &str) -> UnitCode {
    UnitCode::new(code).unwrap()
}

fn open_ledger() -> LedgerCommandKind {
    K::Open {
        ledger_id: "self-2026".into(),
        title: "自查自纠台账".into(),
        source: LedgerSource::SelfInspection,
        owner: unit("business-environment-bureau"),
        phases: vec![],
    }
}
fn ledger_opened(at: DateTime<Utc>) -> LedgerEvent {
    E::LedgerOpened {
        at,
        ledger_id: "self-2026".into(),
        title: "自查自纠台账".into(),
        source: LedgerSource::SelfInspection,
        owner: unit("business-environment-bureau"),
        phases: vec![],
    }
}

fn item(id: &str) -> ItemSpec {
    ItemSpec {
        item_id: id.into(),
        problem: "审批材料重复提交".into(),
        measures: "一次告知".into(),
        group: None,
        lead: vec![unit("gov-services")],
        responsible: vec![unit("market-regulation")],
        deadline: Some(at(48)),
    }
}

fn close_item(id: &str) -> LedgerCommandKind {
    K::CloseItem {
        item_id: id.into(),
        evidence: vec!["report-1".into()],
        verifier: "督查组 李四".into(),
        note: None,
    }
}
fn item_closed(id: &str, complaints: &[&str]) -> LedgerEvent {
    E::LedgerItemClosed {
        at: at(1),
        item_id: id.into(),
        evidence: vec!["report-1".into()],
        verifier: "督查组 李四".into(),
        note: None,
        complaints: complaints.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// An open ledger with items `a` and `b`.
fn opened() -> Given {
    given([
        ledger_opened(at(0)),
        E::LedgerItemAdded {
            at: at(0),
            item: item("a"),
        },
        E::LedgerItemAdded {
            at: at(0),
            item: item("b"),
        },
    ])
}

fn not_permitted(e: &DomainError) -> bool {
    matches!(e, DomainError::NotPermitted { .. })
}
fn already(e: &DomainError) -> bool {
    matches!(e, DomainError::AlreadyRecorded { .. })
}

#[test]
fn a_ledger_is_opened_and_items_are_added() {
    let g = given([])
        .when(by(Role::Dispatcher, open_ledger()))
        .then([ledger_opened(at(1))])
        .when(by(Role::Dispatcher, K::AddItem(item("a"))))
        .then([E::LedgerItemAdded {
            at: at(1),
            item: item("a"),
        }])
        .when(by(Role::Dispatcher, open_ledger()))
        .then_err(DomainError::AlreadyExists);
    assert_eq!(g.state().status_name(), "open");
    assert_eq!(g.state().open_items(), vec!["a"]);
}

#[test]
fn a_ledger_closes_only_when_every_item_is_closed() {
    let close = || by(Role::Dispatcher, K::Close { note: None });
    let g = opened()
        .when(by(Role::Dispatcher, close_item("a")))
        .then([item_closed("a", &[])])
        .when(close())
        .then_err(DomainError::Rejected {
            subject: "open".into(),
            reason: "1 items are still open: b".into(),
        })
        .when(by(Role::Dispatcher, close_item("b")))
        .then([item_closed("b", &[])])
        .when(close())
        .then([E::LedgerClosed {
            at: at(1),
            note: None,
        }]);
    assert_eq!(g.state().status_name(), "closed");
}

#[test]
fn items_reopen_and_close_again_with_evidence_only() {
    let g = opened()
        .when(by(Role::Dispatcher, close_item("a")))
        .then([item_closed("a", &[])])
        .when(by(Role::Dispatcher, close_item("a")))
        .then_err(DomainError::AlreadyRecorded {
            what: "item a is closed".into(),
        })
        .when(by(
            Role::Dispatcher,
            K::ReopenItem {
                item_id: "a".into(),
                reason: "复查发现反弹".into(),
            },
        ))
        .then([E::LedgerItemReopened {
            at: at(1),
            item_id: "a".into(),
            reason: "复查发现反弹".into(),
        }]);
    assert_eq!(g.state().open_items(), vec!["a", "b"]);
    g.when(by(
        Role::Dispatcher,
        K::CloseItem {
            item_id: "a".into(),
            evidence: vec![],
            verifier: "x".into(),
            note: None,
        },
    ))
    .then_err(DomainError::Invalid {
        field: "evidence",
        reason: "closing an item needs evidence".into(),
    });
}

#[test]
fn units_record_progress_on_their_items_only() {
    let progress = || K::RecordProgress {
        item_id: "a".into(),
        note: "已制定一次告知清单".into(),
        evidence: vec![],
    };
    opened()
        .when(by(Role::Unit(unit("market-regulation")), progress()))
        .then([E::LedgerItemProgressRecorded {
            at: at(1),
            item_id: "a".into(),
            note: "已制定一次告知清单".into(),
            evidence: vec![],
        }]);
    opened()
        .when(by(Role::Unit(unit("tax-bureau")), progress()))
        .then_err_matching(not_permitted);
    opened()
        .when(by(Role::Supervisor, progress()))
        .then_err_matching(not_permitted);
}

#[test]
fn links_and_warnings_are_recorded_once() {
    let link = || K::LinkComplaint {
        item_id: "a".into(),
        complaint_id: "RC-1".into(),
    };
    let g = opened()
        .when(by(Role::Dispatcher, link()))
        .then([E::ComplaintLinkedToItem {
            at: at(1),
            item_id: "a".into(),
            complaint_id: "RC-1".into(),
        }])
        .when(by(Role::Dispatcher, link()))
        .then_err_matching(already)
        .when(by(Role::Dispatcher, close_item("a")))
        .then([item_closed("a", &["RC-1"])]);
    assert_eq!(g.state().items["a"].complaints, vec!["RC-1"]);
    let warn = |level| K::WarnItemDeadline {
        item_id: "b".into(),
        level,
        due_at: at(48),
    };
    g.when(by(Role::System, warn(WarningLevel::Yellow)))
        .then([E::LedgerItemDeadlineWarned {
            at: at(1),
            item_id: "b".into(),
            level: WarningLevel::Yellow,
            due_at: at(48),
        }])
        .when(by(Role::System, warn(WarningLevel::Yellow)))
        .then_err_matching(already)
        // Red before the deadline is refused.
        .when(by(Role::System, warn(WarningLevel::Red)))
        .then_err(DomainError::Invalid {
            field: "level",
            reason: "a deadline is missed only once it has passed".into(),
        });
}

#[test]
fn item_texts_follow_the_text_rules() {
    let add = |problem: &str| {
        K::AddItem(ItemSpec {
            problem: problem.into(),
            ..item("c")
        })
    };
    let invalid = |field, reason: &str| DomainError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    opened()
        .when(by(Role::Dispatcher, add("审批材料重复提交\n（多次）")))
        .then([E::LedgerItemAdded {
            at: at(1),
            item: ItemSpec {
                problem: "审批材料重复提交\n（多次）".into(),
                ..item("c")
            },
        }]);
    opened()
        .when(by(Role::Dispatcher, add("审批材料\u{1b}重复提交")))
        .then_err(invalid("problem", "contains control characters"));
    opened()
        .when(by(Role::Dispatcher, add(&"长".repeat(MAX_TEXT_CHARS + 1))))
        .then_err(invalid("problem", "longer than 2000 characters"));
    opened()
        .when(by(
            Role::Dispatcher,
            K::CloseItem {
                item_id: "a".into(),
                evidence: vec![" ".into()],
                verifier: "督查组 李四".into(),
                note: None,
            },
        ))
        .then_err(invalid("evidence", "required"));
}

#[test]
fn commands_on_a_missing_ledger_or_item_are_not_found() {
    given([])
        .when(by(Role::Dispatcher, K::Close { note: None }))
        .then_err(DomainError::Missing {
            what: "ledger",
            id: String::new(),
        });
    opened()
        .when(by(Role::Dispatcher, close_item("zzz")))
        .then_err(DomainError::Missing {
            what: "ledger item",
            id: "zzz".into(),
        });
}
