//! Data-driven tables: every command in every status (the status machine),
//! and every role on every command where the status allows it (the
//! permission rules). One table row per command; one function checks every cell.

use super::*;

/// The statuses a table's columns stand for, each reached by legal steps.
const STATUS_COLUMNS: &[&str] = &[
    "received",
    "awaiting_dispatch",
    "dispatched",
    "in_progress",
    "extension_pending",
    "paused",
    "resolved",
    "verified",
    "called_back_unhappy",
    "called_back_happy",
    "closed",
];

/// When every table's command is decided: after every fixture's history.
fn now() -> DateTime<Utc> {
    t(10)
}

/// A complaint in the named situation; its history ends before [`now`].
fn fixture(name: &str) -> Given {
    let mut history = match name {
        "none" => vec![],
        "received" => vec![complaint_received(t(1))],
        "awaiting_dispatch" => vec![complaint_received(t(1)), complaint_classified(t(2))],
        "dispatched" => dispatched_history(),
        _ => in_progress_history(),
    };
    let unhappy = || callback_recorded(t(7), false, Satisfaction::Unsatisfied);
    let more = match name {
        "none" | "received" | "awaiting_dispatch" | "dispatched" | "in_progress" => vec![],
        "both_accepted" => vec![assignment_accepted(t(5), responsible_unit())],
        "extension_pending" => vec![E::ExtensionRequested {
            at: t(5),
            unit: lead_unit(),
            reason: "等待电网改造".into(),
            requested_due_at: t(24 * 10),
        }],
        "paused" => vec![E::ClockPaused {
            at: t(5),
            reason: "等待企业补充材料".into(),
        }],
        "resolved" => vec![resolution_submitted(t(5))],
        "verified" => vec![resolution_submitted(t(5)), resolution_verified(t(6))],
        "called_back_unhappy" => vec![
            resolution_submitted(t(5)),
            resolution_verified(t(6)),
            unhappy(),
        ],
        "called_back_happy" => vec![
            resolution_submitted(t(5)),
            resolution_verified(t(6)),
            callback_recorded(t(7), true, Satisfaction::Satisfied),
        ],
        "closed" => vec![
            resolution_submitted(t(5)),
            resolution_verified(t(6)),
            unhappy(),
            complaint_closed(t(8)),
        ],
        "appealed" => vec![
            resolution_submitted(t(5)),
            resolution_verified(t(6)),
            unhappy(),
            E::AppealFiled {
                at: t(8),
                unit: lead_unit(),
                reason: "诉求超出职责范围".into(),
            },
        ],
        "linked" => vec![E::LinkedToLedgerItem {
            at: t(5),
            ledger_id: "plan-2021".into(),
            item_id: "getting-electricity/3".into(),
        }],
        other => panic!("no fixture {other}"),
    };
    history.extend(more);
    given(history)
}

fn link() -> CommandKind {
    CommandKind::LinkToLedgerItem {
        ledger_id: "plan-2021".into(),
        item_id: "getting-electricity/3".into(),
    }
}

/// Every command, by the name the tables use.
fn command(name: &str) -> CommandKind {
    match name {
        "submit" => submit(),
        "classify" => classify(),
        "dispatch" => dispatch(),
        "accept" => CommandKind::Accept,
        "return" => CommandKind::Return {
            reason: "非本单位职责".into(),
        },
        "step" => step(true),
        "request_extension" => CommandKind::RequestExtension {
            reason: "工程量大".into(),
            requested_due_at: t(24 * 12),
        },
        "grant_extension" => CommandKind::GrantExtension {
            due_at: None,
            note: None,
        },
        "deny_extension" => CommandKind::DenyExtension {
            reason: "理由不足".into(),
        },
        "resolve" => resolve(),
        "verify" => CommandKind::VerifyResolution { note: None },
        "reject" => CommandKind::RejectResolution {
            reason: "证据不足".into(),
        },
        "callback" => callback(false, Satisfaction::Unsatisfied),
        "reopen" => CommandKind::Reopen {
            reason: "仍未解决".into(),
            resolve_due_at: t(24 * 30),
        },
        "close" => CommandKind::Close { note: None },
        "chase_up" => CommandKind::ChaseUp {
            note: "请加快办理".into(),
        },
        "flag_supervision" => CommandKind::FlagSupervision {
            note: "超期督办".into(),
        },
        "accountability" => CommandKind::RecordAccountability {
            finding: "推诿扯皮".into(),
            units: vec![unit("power-bureau")],
        },
        "appeal" => CommandKind::FileAppeal {
            reason: "诉求超出职责范围".into(),
        },
        "decide_appeal" => CommandKind::DecideAppeal {
            upheld: false,
            note: None,
        },
        "pause" => CommandKind::PauseClock {
            reason: "等待群众补充材料".into(),
        },
        "resume" => CommandKind::ResumeClock { shifted: vec![] },
        "warn" => CommandKind::WarnDeadline {
            milestone: Milestone::Resolve,
            level: WarningLevel::Yellow,
            due_at: t(24 * 7),
        },
        "link" => link(),
        "class_fixed" => CommandKind::RecordClassProblemFixed {
            ledger_id: "plan-2021".into(),
            item_id: "getting-electricity/3".into(),
        },
        other => panic!("no command {other}"),
    }
}

/// Every actor, by the name the tables use.
fn who(name: &str) -> Actor {
    match name {
        "hotline" => hotline(),
        "portal" => actor(Role::Portal),
        "dispatcher" => dispatcher(),
        "admin" => actor(Role::Admin),
        "supervisor" => supervisor(),
        "system" => system(),
        "lead" => lead(),
        "responsible" => responsible(),
        "stranger" => stranger(),
        other => panic!("no actor {other}"),
    }
}

/// The unit an actor acts for.
fn unit_of(actor: &Actor) -> UnitCode {
    match &actor.role {
        Role::Unit(unit) => unit.clone(),
        other => panic!("{} acts for no unit", other.name()),
    }
}

/// The event `command(name)` decides when `actor` takes it at `at` in a
/// fixture where the table allows it: the pending extension there asks for
/// hour 240, and the pending appeal is the lead unit's.
fn expected_event(name: &str, actor: &Actor, at: DateTime<Utc>) -> ComplaintEvent {
    let ledger_item = || ("plan-2021".to_owned(), "getting-electricity/3".to_owned());
    match name {
        "submit" => complaint_received(at),
        "classify" => complaint_classified(at),
        "dispatch" => complaint_dispatched(at),
        "accept" => assignment_accepted(at, unit_of(actor)),
        "return" => E::AssignmentReturned {
            at,
            unit: unit_of(actor),
            reason: "非本单位职责".into(),
        },
        "step" => step_recorded(at, unit_of(actor), true),
        "request_extension" => E::ExtensionRequested {
            at,
            unit: unit_of(actor),
            reason: "工程量大".into(),
            requested_due_at: t(24 * 12),
        },
        "grant_extension" => E::ExtensionGranted {
            at,
            due_at: t(24 * 10),
            note: None,
        },
        "deny_extension" => E::ExtensionDenied {
            at,
            reason: "理由不足".into(),
        },
        "resolve" => E::ResolutionSubmitted {
            at,
            unit: unit_of(actor),
            result: "已送电".into(),
            evidence: vec![],
        },
        "verify" => resolution_verified(at),
        "reject" => E::ResolutionRejected {
            at,
            reason: "证据不足".into(),
        },
        "callback" => callback_recorded(at, false, Satisfaction::Unsatisfied),
        "reopen" => E::ComplaintReopened {
            at,
            reason: "仍未解决".into(),
            resolve_due_at: t(24 * 30),
        },
        "close" => complaint_closed(at),
        "chase_up" => E::ChasedUp {
            at,
            note: "请加快办理".into(),
        },
        "flag_supervision" => E::SupervisionFlagged {
            at,
            note: "超期督办".into(),
        },
        "accountability" => E::AccountabilityRecorded {
            at,
            finding: "推诿扯皮".into(),
            units: vec![lead_unit()],
        },
        "appeal" => E::AppealFiled {
            at,
            unit: unit_of(actor),
            reason: "诉求超出职责范围".into(),
        },
        "decide_appeal" => E::AppealDecided {
            at,
            unit: lead_unit(),
            upheld: false,
            note: None,
        },
        "pause" => E::ClockPaused {
            at,
            reason: "等待群众补充材料".into(),
        },
        "resume" => E::ClockResumed {
            at,
            shifted: vec![],
        },
        "warn" => E::DeadlineWarned {
            at,
            milestone: Milestone::Resolve,
            due_at: t(24 * 7),
        },
        "link" => {
            let (ledger_id, item_id) = ledger_item();
            E::LinkedToLedgerItem {
                at,
                ledger_id,
                item_id,
            }
        }
        "class_fixed" => {
            let (ledger_id, item_id) = ledger_item();
            E::ClassProblemFixed {
                at,
                ledger_id,
                item_id,
            }
        }
        other => panic!("no command {other}"),
    }
}

/// Checks one cell: `ok` (exactly the expected event, of the table's
/// `event_type`), `illegal` (names the fixture's status), `denied`,
/// `exists`, `recorded` or `invalid`.
fn check(fixture_name: &str, actor_name: &str, command_name: &str, event_type: &str, cell: &str) {
    let given = fixture(fixture_name);
    let status = given.state().status_name();
    let actor = who(actor_name);
    let context = format!("{command_name} by {actor_name} in {fixture_name}");
    if cell == "ok" {
        let expected = expected_event(command_name, &actor, now());
        assert_eq!(expected.event_type(), event_type, "{context}: the table");
        let when = given.when(by(actor, now(), command(command_name)));
        assert_eq!(when.outcome(), &Ok(vec![expected.clone()]), "{context}");
        when.then([expected]);
        return;
    }
    let when = given.when(by(actor, now(), command(command_name)));
    match (cell, when.outcome()) {
        (
            "illegal",
            Err(DomainError::IllegalTransition {
                status: s,
                attempted,
                ..
            }),
        ) => {
            assert_eq!(*s, status, "{context}");
            assert_eq!(*attempted, command(command_name).name(), "{context}");
        }
        ("denied", Err(DomainError::NotPermitted { .. }))
        | ("exists", Err(DomainError::AlreadyExists))
        | ("recorded", Err(DomainError::AlreadyRecorded { .. }))
        | ("invalid", Err(DomainError::Invalid { .. })) => {}
        (_, outcome) => panic!("{context}: expected {cell}, got {outcome:?}"),
    }
}

/// The status machine: each command by an actor allowed to take it, in
/// every status. Columns follow [`STATUS_COLUMNS`].
#[rustfmt::skip]
const TRANSITIONS: &[(&str, &str, &str, &str)] = &[
    // command            actor          event                         rcv      awd      dsp      inp      ext      psd      res      ver      cb-      cb+      cls
    ("submit",            "hotline",     "ComplaintReceived",         "exists   exists   exists   exists   exists   exists   exists   exists   exists   exists   exists"),
    ("classify",          "dispatcher",  "ComplaintClassified",       "ok       ok       illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal"),
    ("dispatch",          "dispatcher",  "ComplaintDispatched",       "illegal  ok       illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal"),
    ("accept",            "responsible", "AssignmentAccepted",        "illegal  illegal  ok       ok       ok       ok       illegal  illegal  illegal  illegal  illegal"),
    ("return",            "lead",        "AssignmentReturned",        "illegal  illegal  ok       ok       ok       ok       illegal  illegal  illegal  illegal  illegal"),
    ("step",              "lead",        "RectificationStepRecorded", "illegal  illegal  illegal  ok       ok       ok       illegal  illegal  illegal  illegal  illegal"),
    ("request_extension", "lead",        "ExtensionRequested",        "illegal  illegal  illegal  ok       illegal  ok       illegal  illegal  illegal  illegal  illegal"),
    ("grant_extension",   "dispatcher",  "ExtensionGranted",          "illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal  illegal  illegal  illegal"),
    ("deny_extension",    "dispatcher",  "ExtensionDenied",           "illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal  illegal  illegal  illegal"),
    ("resolve",           "lead",        "ResolutionSubmitted",       "illegal  illegal  illegal  ok       ok       ok       illegal  illegal  illegal  illegal  illegal"),
    ("verify",            "dispatcher",  "ResolutionVerified",        "illegal  illegal  illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal  illegal"),
    ("reject",            "dispatcher",  "ResolutionRejected",        "illegal  illegal  illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal  illegal"),
    ("callback",          "hotline",     "CallbackRecorded",          "illegal  illegal  illegal  illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal"),
    ("reopen",            "dispatcher",  "ComplaintReopened",         "illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  ok       illegal  illegal"),
    ("close",             "dispatcher",  "ComplaintClosed",           "illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  ok       ok       illegal"),
    ("chase_up",          "supervisor",  "ChasedUp",                  "illegal  illegal  ok       ok       ok       ok       ok       ok       ok       ok       illegal"),
    ("flag_supervision",  "supervisor",  "SupervisionFlagged",        "ok       ok       ok       ok       ok       ok       ok       ok       ok       ok       illegal"),
    ("accountability",    "supervisor",  "AccountabilityRecorded",    "ok       ok       ok       ok       ok       ok       ok       ok       ok       ok       ok"),
    ("appeal",            "lead",        "AppealFiled",               "illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  ok       ok       ok"),
    ("decide_appeal",     "dispatcher",  "AppealDecided",             "illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal"),
    ("pause",             "dispatcher",  "ClockPaused",               "illegal  illegal  ok       ok       ok       illegal  illegal  illegal  illegal  illegal  illegal"),
    ("resume",            "dispatcher",  "ClockResumed",              "illegal  illegal  illegal  illegal  illegal  ok       illegal  illegal  illegal  illegal  illegal"),
    ("warn",              "system",      "DeadlineWarned",            "illegal  illegal  ok       ok       ok       illegal  illegal  illegal  illegal  illegal  illegal"),
    ("link",              "dispatcher",  "LinkedToLedgerItem",        "ok       ok       ok       ok       ok       ok       ok       ok       ok       ok       ok"),
    ("class_fixed",       "system",      "ClassProblemFixed",         "illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal  illegal"),
];

#[test]
fn every_command_in_every_status() {
    for (command_name, actor_name, event_type, cells) in TRANSITIONS {
        let cells: Vec<&str> = cells.split_whitespace().collect();
        assert_eq!(cells.len(), STATUS_COLUMNS.len(), "{command_name}");
        for (fixture_name, cell) in STATUS_COLUMNS.iter().zip(cells) {
            check(fixture_name, actor_name, command_name, event_type, cell);
        }
    }
}

#[test]
fn every_command_but_submit_needs_a_complaint() {
    for (command_name, actor_name, _, _) in TRANSITIONS.iter().skip(1) {
        fixture("none")
            .when(by(who(actor_name), now(), command(command_name)))
            .then_err(DomainError::NotFound);
    }
}

/// The actors a permission row's cells stand for, in order.
const ACTOR_COLUMNS: &[&str] = &[
    "hotline",
    "portal",
    "dispatcher",
    "admin",
    "supervisor",
    "system",
    "lead",
    "responsible",
    "stranger",
];

/// Who may take each step, in a situation where the status allows it.
/// Columns follow [`ACTOR_COLUMNS`]; `stranger` is a unit not assigned.
#[rustfmt::skip]
const PERMISSIONS: &[(&str, &str, &str, &str)] = &[
    // command            fixture                event                         hotline  portal  dispatcher  admin   supervisor  system  lead    responsible  stranger
    ("submit",            "none",                "ComplaintReceived",         "ok       ok      ok          ok      denied      denied  denied  denied       denied"),
    ("classify",          "received",            "ComplaintClassified",       "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("dispatch",          "awaiting_dispatch",   "ComplaintDispatched",       "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("accept",            "dispatched",          "AssignmentAccepted",        "denied   denied  denied      denied  denied      denied  ok      ok           denied"),
    ("return",            "dispatched",          "AssignmentReturned",        "denied   denied  denied      denied  denied      denied  ok      denied       denied"),
    ("step",              "both_accepted",       "RectificationStepRecorded", "denied   denied  denied      denied  denied      denied  ok      ok           denied"),
    ("request_extension", "in_progress",         "ExtensionRequested",        "denied   denied  denied      denied  denied      denied  ok      denied       denied"),
    ("grant_extension",   "extension_pending",   "ExtensionGranted",          "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("deny_extension",    "extension_pending",   "ExtensionDenied",           "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("resolve",           "both_accepted",       "ResolutionSubmitted",       "denied   denied  denied      denied  denied      denied  ok      denied       denied"),
    ("verify",            "resolved",            "ResolutionVerified",        "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("reject",            "resolved",            "ResolutionRejected",        "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("callback",          "verified",            "CallbackRecorded",          "ok       denied  ok          ok      denied      denied  denied  denied       denied"),
    ("reopen",            "called_back_unhappy", "ComplaintReopened",         "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("close",             "called_back_unhappy", "ComplaintClosed",           "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("chase_up",          "in_progress",         "ChasedUp",                  "denied   denied  ok          ok      ok          denied  denied  denied       denied"),
    ("flag_supervision",  "in_progress",         "SupervisionFlagged",        "denied   denied  denied      ok      ok          denied  denied  denied       denied"),
    ("accountability",    "closed",              "AccountabilityRecorded",    "denied   denied  denied      ok      ok          denied  denied  denied       denied"),
    ("appeal",            "called_back_unhappy", "AppealFiled",               "denied   denied  denied      denied  denied      denied  ok      ok           denied"),
    ("decide_appeal",     "appealed",            "AppealDecided",             "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("pause",             "in_progress",         "ClockPaused",               "denied   denied  ok          ok      denied      denied  ok      denied       denied"),
    ("resume",            "paused",              "ClockResumed",              "denied   denied  ok          ok      denied      denied  ok      denied       denied"),
    ("warn",              "in_progress",         "DeadlineWarned",            "denied   denied  denied      ok      denied      ok      denied  denied       denied"),
    ("link",              "in_progress",         "LinkedToLedgerItem",        "denied   denied  ok          ok      denied      denied  denied  denied       denied"),
    ("class_fixed",       "linked",              "ClassProblemFixed",         "denied   denied  ok          ok      denied      ok      denied  denied       denied"),
];

#[test]
fn every_role_on_every_command() {
    for (command_name, fixture_name, event_type, cells) in PERMISSIONS {
        let cells: Vec<&str> = cells.split_whitespace().collect();
        assert_eq!(cells.len(), ACTOR_COLUMNS.len(), "{command_name}");
        for (actor_name, cell) in ACTOR_COLUMNS.iter().zip(cells) {
            check(fixture_name, actor_name, command_name, event_type, cell);
        }
    }
}

#[test]
fn tables_cover_every_command() {
    let names: Vec<&str> = TRANSITIONS.iter().map(|row| row.0).collect();
    let permitted: Vec<&str> = PERMISSIONS.iter().map(|row| row.0).collect();
    assert_eq!(names, permitted);
    assert_eq!(names.len(), 25, "one row per CommandKind variant");
}
