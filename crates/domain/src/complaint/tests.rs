//! Given/when/then tests of the complaint decider, and property tests of
//! folding and the event codec.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use proptest::prelude::*;

use super::*;
use crate::testing::{self, Complaints};
use crate::{Actor, AreaCode, DomainError, Role, UnitCode};

mod arbitrary;
mod matrix;

use ComplaintEvent as E;

/// A complaint's history and state, for the shared harness.
type Given = testing::Given<Complaints>;

/// Given these events happened.
fn given(history: impl IntoIterator<Item = ComplaintEvent>) -> Given {
    testing::given(history)
}

/// `who` does `kind` at `at`.
fn by(who: Actor, at: DateTime<Utc>, kind: CommandKind) -> Command {
    Command {
        actor: who,
        at,
        kind,
    }
}

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap() + Duration::hours(hours)
}

fn unit(code: &str) -> UnitCode {
    UnitCode::new(code).unwrap()
}

/// The lead unit of [`dispatch`].
fn lead_unit() -> UnitCode {
    unit("power-bureau")
}

/// The responsible unit of [`dispatch`].
fn responsible_unit() -> UnitCode {
    unit("natural-resources")
}

fn actor(role: Role) -> Actor {
    Actor {
        principal: format!("{}-principal", role.name()),
        role,
    }
}

fn hotline() -> Actor {
    actor(Role::Hotline)
}
fn dispatcher() -> Actor {
    actor(Role::Dispatcher)
}
fn supervisor() -> Actor {
    actor(Role::Supervisor)
}
fn system() -> Actor {
    actor(Role::System)
}
fn lead() -> Actor {
    actor(Role::Unit(lead_unit()))
}
fn responsible() -> Actor {
    actor(Role::Unit(responsible_unit()))
}
fn stranger() -> Actor {
    actor(Role::Unit(unit("tax-bureau")))
}

fn submission() -> Submission {
    Submission {
        id: ComplaintId::new("RC-1").unwrap(),
        channel: Channel::Hotline12345,
        kind: ComplaintKind::Complaint,
        submitter: Some(Submitter {
            name: "王女士".into(),
            phone: "13812345678".into(),
            id_number: None,
        }),
        sealed_submitter: None,
        enterprise: Some("某商贸公司".into()),
        district: None,
        location: None,
        title: "用电报装迟迟不接电".into(),
        text: "两个月还没有接电".into(),
        external_ref: None,
        station: None,
        officer: None,
        dispatch_due_at: t(2),
    }
}

// Commands, and the events they decide.

fn submit() -> CommandKind {
    CommandKind::Submit(submission())
}
fn complaint_received(at: DateTime<Utc>) -> ComplaintEvent {
    E::ComplaintReceived {
        at,
        submission: submission(),
    }
}

fn classify() -> CommandKind {
    CommandKind::Classify {
        area: AreaCode::new("getting-electricity").unwrap(),
        task: Some(3),
        district: None,
        tags: vec!["用电".into()],
        urgency: Urgency::Normal,
    }
}
fn complaint_classified(at: DateTime<Utc>) -> ComplaintEvent {
    E::ComplaintClassified {
        at,
        area: AreaCode::new("getting-electricity").unwrap(),
        task: Some(3),
        district: None,
        tags: vec!["用电".into()],
        urgency: Urgency::Normal,
    }
}

fn dispatch() -> CommandKind {
    CommandKind::Dispatch {
        lead: lead_unit(),
        responsible: vec![responsible_unit()],
        rule_id: "plan:getting-electricity/3".into(),
        override_reason: None,
        accept_due_at: t(24),
        first_contact_due_at: t(24),
        resolve_due_at: t(24 * 7),
        liaison: None,
    }
}
fn complaint_dispatched(at: DateTime<Utc>) -> ComplaintEvent {
    E::ComplaintDispatched {
        at,
        lead: lead_unit(),
        responsible: vec![responsible_unit()],
        rule_id: "plan:getting-electricity/3".into(),
        override_reason: None,
        accept_due_at: t(24),
        first_contact_due_at: t(24),
        resolve_due_at: t(24 * 7),
    }
}

fn assignment_accepted(at: DateTime<Utc>, unit: UnitCode) -> ComplaintEvent {
    E::AssignmentAccepted { at, unit }
}

fn step(contacted: bool) -> CommandKind {
    CommandKind::RecordStep {
        description: "现场勘查".into(),
        evidence: vec!["photo-1".into()],
        contacted_submitter: contacted,
    }
}
fn step_recorded(at: DateTime<Utc>, unit: UnitCode, contacted: bool) -> ComplaintEvent {
    E::RectificationStepRecorded {
        at,
        unit,
        description: "现场勘查".into(),
        evidence: vec!["photo-1".into()],
        contacted_submitter: contacted,
    }
}

fn resolve() -> CommandKind {
    CommandKind::SubmitResolution {
        result: "已送电".into(),
        evidence: vec![],
    }
}
/// The lead unit's [`resolve`].
fn resolution_submitted(at: DateTime<Utc>) -> ComplaintEvent {
    E::ResolutionSubmitted {
        at,
        unit: lead_unit(),
        result: "已送电".into(),
        evidence: vec![],
    }
}

fn verify() -> CommandKind {
    CommandKind::VerifyResolution { note: None }
}
fn resolution_verified(at: DateTime<Utc>) -> ComplaintEvent {
    E::ResolutionVerified { at, note: None }
}

fn callback(solved: bool, satisfaction: Satisfaction) -> CommandKind {
    CommandKind::RecordCallback {
        valid: true,
        contacted: true,
        solved,
        satisfaction: Some(satisfaction),
        comment: None,
    }
}
fn callback_recorded(
    at: DateTime<Utc>,
    solved: bool,
    satisfaction: Satisfaction,
) -> ComplaintEvent {
    E::CallbackRecorded {
        at,
        valid: true,
        contacted: true,
        solved,
        satisfaction: Some(satisfaction),
        comment: None,
    }
}

fn close() -> CommandKind {
    CommandKind::Close { note: None }
}
fn complaint_closed(at: DateTime<Utc>) -> ComplaintEvent {
    E::ComplaintClosed { at, note: None }
}

// Histories: received at hour 1, classified at 2, dispatched at 3, accepted
// by the lead at 4, resolved at 5, verified at 6, called back at 7.

fn dispatched_history() -> Vec<ComplaintEvent> {
    vec![
        complaint_received(t(1)),
        complaint_classified(t(2)),
        complaint_dispatched(t(3)),
    ]
}

fn in_progress_history() -> Vec<ComplaintEvent> {
    let mut history = dispatched_history();
    history.push(assignment_accepted(t(4), lead_unit()));
    history
}

fn in_progress() -> Given {
    given(in_progress_history())
}

fn called_back(solved: bool, satisfaction: Satisfaction) -> Given {
    let mut history = in_progress_history();
    history.extend([
        resolution_submitted(t(5)),
        resolution_verified(t(6)),
        callback_recorded(t(7), solved, satisfaction),
    ]);
    given(history)
}

// Error checks for errors whose wording a test does not pin down.

fn illegal(status: &'static str) -> impl Fn(&DomainError) -> bool {
    move |e| matches!(e, DomainError::IllegalTransition { status: s, .. } if *s == status)
}
fn not_permitted(e: &DomainError) -> bool {
    matches!(e, DomainError::NotPermitted { .. })
}
fn invalid(field: &'static str) -> impl Fn(&DomainError) -> bool {
    move |e| matches!(e, DomainError::Invalid { field: f, .. } if *f == field)
}
fn already(e: &DomainError) -> bool {
    matches!(e, DomainError::AlreadyRecorded { .. })
}

/// The whole error for an invalid field.
fn invalid_because(field: &'static str, reason: &str) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.to_owned(),
    }
}

#[test]
fn full_lifecycle_with_return_extension_reopen_and_close() {
    let g = given(dispatched_history())
        .when(by(
            lead(),
            t(4),
            CommandKind::Return {
                reason: "非本单位职责".into(),
            },
        ))
        .then([E::AssignmentReturned {
            at: t(4),
            unit: lead_unit(),
            reason: "非本单位职责".into(),
        }]);
    assert_eq!(g.state().status(), Some(ComplaintStatus::AwaitingDispatch));
    assert_eq!(g.state().return_count(), 1);
    assert!(g.state().lead_unit().is_none());
    let g = g
        .when(by(dispatcher(), t(5), dispatch()))
        .then([complaint_dispatched(t(5))])
        .when(by(lead(), t(6), CommandKind::Accept))
        .then([assignment_accepted(t(6), lead_unit())])
        .when(by(responsible(), t(7), CommandKind::Accept))
        .then([assignment_accepted(t(7), responsible_unit())])
        .when(by(responsible(), t(8), step(false)))
        .then([step_recorded(t(8), responsible_unit(), false)])
        .when(by(lead(), t(9), step(true)))
        .then([step_recorded(t(9), lead_unit(), true)])
        .when(by(
            lead(),
            t(10),
            CommandKind::RequestExtension {
                reason: "电网改造".into(),
                requested_due_at: t(24 * 14),
            },
        ))
        .then([E::ExtensionRequested {
            at: t(10),
            unit: lead_unit(),
            reason: "电网改造".into(),
            requested_due_at: t(24 * 14),
        }])
        .when(by(
            dispatcher(),
            t(11),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
        ))
        .then([E::ExtensionGranted {
            at: t(11),
            due_at: t(24 * 14),
            note: None,
        }]);
    assert_eq!(
        g.state().deadline(Milestone::Resolve).unwrap().due_at,
        t(24 * 14)
    );
    assert!(
        g.state()
            .deadline(Milestone::FirstContact)
            .unwrap()
            .met_at
            .is_some()
    );
    let g = g
        .when(by(lead(), t(12), resolve()))
        .then([resolution_submitted(t(12))])
        .when(by(dispatcher(), t(13), verify()))
        .then([resolution_verified(t(13))])
        .when(by(
            hotline(),
            t(14),
            callback(false, Satisfaction::Unsatisfied),
        ))
        .then([callback_recorded(t(14), false, Satisfaction::Unsatisfied)])
        .when(by(
            dispatcher(),
            t(15),
            CommandKind::Reopen {
                reason: "仍未通电".into(),
                resolve_due_at: t(24 * 20),
            },
        ))
        .then([E::ComplaintReopened {
            at: t(15),
            reason: "仍未通电".into(),
            resolve_due_at: t(24 * 20),
        }])
        .when(by(lead(), t(16), resolve()))
        .then([resolution_submitted(t(16))])
        .when(by(dispatcher(), t(17), verify()))
        .then([resolution_verified(t(17))])
        .when(by(
            hotline(),
            t(18),
            callback(true, Satisfaction::Satisfied),
        ))
        .then([callback_recorded(t(18), true, Satisfaction::Satisfied)])
        .when(by(dispatcher(), t(19), close()))
        .then([complaint_closed(t(19))]);
    assert_eq!(g.state().status(), Some(ComplaintStatus::Closed));
    assert_eq!(
        (
            g.state().return_count(),
            g.state().extension_count(),
            g.state().reopen_count()
        ),
        (1, 1, 1)
    );
    assert_eq!(g.state().satisfaction(), Some(Satisfaction::Satisfied));
}

#[test]
fn existence_rules() {
    given([])
        .when(by(dispatcher(), t(1), classify()))
        .then_err(DomainError::NotFound)
        .when(by(hotline(), t(2), submit()))
        .then([complaint_received(t(2))])
        .when(by(hotline(), t(3), submit()))
        .then_err(DomainError::AlreadyExists);
}

#[test]
fn intake_is_validated_and_restricted_to_intake_roles() {
    let intake = |s: Submission| by(hotline(), t(1), CommandKind::Submit(s));
    let mut s = submission();
    s.title = " ".into();
    given([])
        .when(intake(s))
        .then_err(invalid_because("title", "required"));
    let mut s = submission();
    s.text = "字".repeat(MAX_TEXT_CHARS + 1);
    given([])
        .when(intake(s))
        .then_err(invalid_because("text", "longer than 10000 characters"));
    let mut s = submission();
    s.submitter.as_mut().unwrap().phone = "call me".into();
    given([]).when(intake(s)).then_err(invalid_because(
        "submitter.phone",
        "only digits, '+', '-' and spaces",
    ));
    let mut s = submission();
    s.submitter = None;
    given([])
        .when(intake(s))
        .then_err(invalid_because("submitter", "required"));
    let mut s = submission();
    s.sealed_submitter = Some("token".into());
    given([]).when(intake(s)).then_err(invalid_because(
        "submitter",
        "intake takes the submitter in clear; the service seals it",
    ));
    given([])
        .when(by(lead(), t(1), submit()))
        .then_err_matching(not_permitted);
    given([])
        .when(by(supervisor(), t(1), submit()))
        .then_err_matching(not_permitted);
    given([])
        .when(by(actor(Role::Portal), t(1), submit()))
        .then([complaint_received(t(1))]);
}

/// The complaint's text rules and their exact errors, which the service
/// passes on to callers.
#[test]
fn text_errors_name_the_field_and_the_rule() {
    let mut s = submission();
    s.title = "标".repeat(MAX_TITLE_CHARS + 1);
    given([])
        .when(by(hotline(), t(1), CommandKind::Submit(s)))
        .then_err(invalid_because("title", "longer than 200 characters"));
    let mut s = submission();
    s.location = Some("a\u{0}b".into());
    given([])
        .when(by(hotline(), t(1), CommandKind::Submit(s)))
        .then_err(invalid_because("location", "contains control characters"));
    let mut s = submission();
    s.text = "第一行\r\n第二行\t缩进".into();
    given([])
        .when(by(hotline(), t(1), CommandKind::Submit(s.clone())))
        .then([E::ComplaintReceived {
            at: t(1),
            submission: s,
        }]);
    let mut too_many_tags = classify();
    if let CommandKind::Classify { tags, .. } = &mut too_many_tags {
        *tags = vec!["用电".to_owned(); MAX_TAGS + 1];
    }
    given([complaint_received(t(1))])
        .when(by(dispatcher(), t(2), too_many_tags))
        .then_err(invalid_because("tags", "more than 20 tags"));
    let with_evidence = |evidence: Vec<String>| CommandKind::RecordStep {
        description: "现场勘查".into(),
        evidence,
        contacted_submitter: false,
    };
    in_progress()
        .when(by(
            lead(),
            t(5),
            with_evidence(vec!["photo".into(); MAX_EVIDENCE + 1]),
        ))
        .then_err(invalid_because("evidence", "more than 20 references"))
        .when(by(
            lead(),
            t(6),
            with_evidence(vec!["photo-1".into(), " ".into()]),
        ))
        .then_err(invalid_because("evidence", "required"))
        .when(by(
            lead(),
            t(7),
            with_evidence(vec!["p".repeat(MAX_EVIDENCE_CHARS + 1)]),
        ))
        .then_err(invalid_because("evidence", "longer than 256 characters"))
        .when(by(
            lead(),
            t(8),
            CommandKind::Return {
                reason: "误派\u{7}".into(),
            },
        ))
        .then_err(invalid_because("reason", "contains control characters"));
}

#[test]
fn dispatch_rules() {
    given([complaint_received(t(1))])
        .when(by(dispatcher(), t(2), dispatch()))
        .then_err(DomainError::IllegalTransition {
            status: "received",
            attempted: "dispatch",
            detail: Some("classify it first".into()),
        })
        .when(by(hotline(), t(3), classify()))
        .then_err_matching(not_permitted)
        .when(by(dispatcher(), t(4), classify()))
        .then([complaint_classified(t(4))])
        .when(by(lead(), t(5), dispatch()))
        .then_err_matching(not_permitted)
        .when(by(
            dispatcher(),
            t(6),
            CommandKind::Dispatch {
                lead: lead_unit(),
                responsible: vec![lead_unit()],
                rule_id: "override".into(),
                override_reason: Some("x".into()),
                accept_due_at: t(24),
                first_contact_due_at: t(24),
                resolve_due_at: t(48),
                liaison: None,
            },
        ))
        .then_err(invalid_because(
            "responsible_units",
            "the lead unit power-bureau cannot also be a responsible unit",
        ))
        .when(by(
            dispatcher(),
            t(7),
            CommandKind::Dispatch {
                lead: lead_unit(),
                responsible: vec![],
                rule_id: "override".into(),
                override_reason: Some("x".into()),
                accept_due_at: t(-5),
                first_contact_due_at: t(24),
                resolve_due_at: t(48),
                liaison: None,
            },
        ))
        .then_err_matching(invalid("accept_due_at"))
        .when(by(dispatcher(), t(8), dispatch()))
        .then([complaint_dispatched(t(8))])
        .when(by(dispatcher(), t(9), dispatch()))
        .then_err_matching(illegal("dispatched"));
}

#[test]
fn unit_rules() {
    let g = given([complaint_received(t(1)), complaint_classified(t(2))])
        .when(by(lead(), t(3), CommandKind::Accept))
        .then_err_matching(illegal("awaiting_dispatch"))
        .when(by(dispatcher(), t(4), dispatch()))
        .then([complaint_dispatched(t(4))])
        .when(by(stranger(), t(5), CommandKind::Accept))
        .then_err_matching(not_permitted)
        .when(by(dispatcher(), t(6), CommandKind::Accept))
        .then_err_matching(not_permitted)
        .when(by(
            responsible(),
            t(7),
            CommandKind::Return { reason: "x".into() },
        ))
        .then_err_matching(not_permitted)
        .when(by(lead(), t(8), step(true)))
        .then_err_matching(illegal("dispatched"))
        .when(by(responsible(), t(9), CommandKind::Accept))
        .then([assignment_accepted(t(9), responsible_unit())]);
    assert_eq!(
        g.state().status(),
        Some(ComplaintStatus::Dispatched),
        "only the lead's acceptance starts handling"
    );
    let g = g
        .when(by(responsible(), t(10), CommandKind::Accept))
        .then_err(DomainError::AlreadyRecorded {
            what: "unit natural-resources already accepted".into(),
        })
        .when(by(lead(), t(11), CommandKind::Accept))
        .then([assignment_accepted(t(11), lead_unit())]);
    assert_eq!(g.state().status(), Some(ComplaintStatus::InProgress));
    g.when(by(responsible(), t(12), resolve()))
        .then_err_matching(not_permitted)
        .when(by(stranger(), t(13), step(false)))
        .then_err_matching(not_permitted)
        .when(by(supervisor(), t(14), resolve()))
        .then_err_matching(not_permitted)
        .when(by(
            lead(),
            t(15),
            CommandKind::Return { reason: " ".into() },
        ))
        .then_err(invalid_because("reason", "required"));
}

#[test]
fn a_unit_that_has_not_accepted_cannot_record_steps() {
    in_progress()
        .when(by(responsible(), t(5), step(false)))
        .then_err(DomainError::IllegalTransition {
            status: "in_progress",
            attempted: "record a step on",
            detail: Some("unit natural-resources has not accepted the assignment".into()),
        });
}

#[test]
fn extension_rules() {
    in_progress()
        .when(by(
            dispatcher(),
            t(5),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
        ))
        .then_err_matching(illegal("in_progress"))
        .when(by(
            lead(),
            t(6),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24),
            },
        ))
        .then_err_matching(invalid("requested_due_at"))
        .when(by(
            responsible(),
            t(7),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 10),
            },
        ))
        .then_err_matching(not_permitted)
        .when(by(
            lead(),
            t(8),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 10),
            },
        ))
        .then([E::ExtensionRequested {
            at: t(8),
            unit: lead_unit(),
            reason: "x".into(),
            requested_due_at: t(24 * 10),
        }])
        .when(by(
            lead(),
            t(9),
            CommandKind::RequestExtension {
                reason: "again".into(),
                requested_due_at: t(24 * 11),
            },
        ))
        .then_err_matching(illegal("in_progress"))
        .when(by(
            lead(),
            t(10),
            CommandKind::DenyExtension {
                reason: "no".into(),
            },
        ))
        .then_err_matching(not_permitted)
        .when(by(
            dispatcher(),
            t(11),
            CommandKind::DenyExtension {
                reason: "理由不足".into(),
            },
        ))
        .then([E::ExtensionDenied {
            at: t(11),
            reason: "理由不足".into(),
        }])
        .when(by(
            dispatcher(),
            t(12),
            CommandKind::DenyExtension {
                reason: "no".into(),
            },
        ))
        .then_err_matching(illegal("in_progress"));
}

#[test]
fn verification_and_callback_rules() {
    let g = in_progress()
        .when(by(dispatcher(), t(5), verify()))
        .then_err_matching(illegal("in_progress"))
        .when(by(lead(), t(6), resolve()))
        .then([resolution_submitted(t(6))])
        .when(by(
            dispatcher(),
            t(7),
            CommandKind::RejectResolution {
                reason: "证据不足".into(),
            },
        ))
        .then([E::ResolutionRejected {
            at: t(7),
            reason: "证据不足".into(),
        }]);
    assert_eq!(g.state().status(), Some(ComplaintStatus::InProgress));
    assert!(
        g.state()
            .deadline(Milestone::Resolve)
            .unwrap()
            .met_at
            .is_none()
    );
    g.when(by(lead(), t(8), resolve()))
        .then([resolution_submitted(t(8))])
        .when(by(hotline(), t(9), callback(true, Satisfaction::Satisfied)))
        .then_err_matching(illegal("resolved"))
        .when(by(dispatcher(), t(10), verify()))
        .then([resolution_verified(t(10))])
        .when(by(lead(), t(11), callback(true, Satisfaction::Satisfied)))
        .then_err_matching(not_permitted)
        .when(by(
            hotline(),
            t(12),
            CommandKind::RecordCallback {
                valid: true,
                contacted: true,
                solved: true,
                satisfaction: None,
                comment: None,
            },
        ))
        .then_err(invalid_because(
            "satisfaction",
            "required when the submitter was contacted",
        ))
        .when(by(
            hotline(),
            t(13),
            callback(true, Satisfaction::BasicallySatisfied),
        ))
        .then([callback_recorded(
            t(13),
            true,
            Satisfaction::BasicallySatisfied,
        )])
        .when(by(
            dispatcher(),
            t(14),
            CommandKind::Reopen {
                reason: "x".into(),
                resolve_due_at: t(500),
            },
        ))
        .then_err_matching(illegal("called_back"))
        .when(by(hotline(), t(15), close()))
        .then_err_matching(not_permitted)
        .when(by(dispatcher(), t(16), close()))
        .then([complaint_closed(t(16))])
        .when(by(dispatcher(), t(17), close()))
        .then_err_matching(illegal("closed"));
}

#[test]
fn unsatisfied_callback_can_be_reopened() {
    called_back(true, Satisfaction::Unsatisfied)
        .when(by(
            dispatcher(),
            t(8),
            CommandKind::Reopen {
                reason: "不满意".into(),
                resolve_due_at: t(500),
            },
        ))
        .then([E::ComplaintReopened {
            at: t(8),
            reason: "不满意".into(),
            resolve_due_at: t(500),
        }]);
}

#[test]
fn supervision_rules() {
    let g = in_progress()
        .when(by(
            dispatcher(),
            t(5),
            CommandKind::FlagSupervision { note: "x".into() },
        ))
        .then_err_matching(not_permitted)
        .when(by(
            supervisor(),
            t(6),
            CommandKind::FlagSupervision {
                note: "超期督办".into(),
            },
        ))
        .then([E::SupervisionFlagged {
            at: t(6),
            note: "超期督办".into(),
        }])
        .when(by(
            supervisor(),
            t(7),
            CommandKind::FlagSupervision {
                note: "again".into(),
            },
        ))
        .then_err_matching(already)
        .when(by(
            supervisor(),
            t(8),
            CommandKind::ChaseUp {
                note: "请加快办理".into(),
            },
        ))
        .then([E::ChasedUp {
            at: t(8),
            note: "请加快办理".into(),
        }])
        .when(by(
            dispatcher(),
            t(9),
            CommandKind::ChaseUp {
                note: "催办".into(),
            },
        ))
        .then([E::ChasedUp {
            at: t(9),
            note: "催办".into(),
        }])
        .when(by(lead(), t(10), CommandKind::ChaseUp { note: "x".into() }))
        .then_err_matching(not_permitted)
        .when(by(
            supervisor(),
            t(11),
            CommandKind::RecordAccountability {
                finding: "推诿扯皮".into(),
                units: vec![lead_unit()],
            },
        ))
        .then([E::AccountabilityRecorded {
            at: t(11),
            finding: "推诿扯皮".into(),
            units: vec![lead_unit()],
        }])
        .when(by(
            dispatcher(),
            t(12),
            CommandKind::RecordAccountability {
                finding: "x".into(),
                units: vec![],
            },
        ))
        .then_err_matching(not_permitted);
    assert!(g.state().supervised());
    assert_eq!(g.state().chase_count(), 2);
}

#[test]
fn appeal_rules() {
    let decide_appeal = || CommandKind::DecideAppeal {
        upheld: true,
        note: None,
    };
    let g = called_back(false, Satisfaction::Unsatisfied)
        .when(by(dispatcher(), t(8), decide_appeal()))
        .then_err_matching(illegal("called_back"))
        .when(by(
            stranger(),
            t(9),
            CommandKind::FileAppeal { reason: "x".into() },
        ))
        .then_err_matching(not_permitted)
        .when(by(
            lead(),
            t(10),
            CommandKind::FileAppeal {
                reason: "诉求超出职责范围".into(),
            },
        ))
        .then([E::AppealFiled {
            at: t(10),
            unit: lead_unit(),
            reason: "诉求超出职责范围".into(),
        }])
        .when(by(
            lead(),
            t(11),
            CommandKind::FileAppeal {
                reason: "again".into(),
            },
        ))
        .then_err_matching(illegal("called_back"))
        .when(by(lead(), t(12), decide_appeal()))
        .then_err_matching(not_permitted)
        .when(by(dispatcher(), t(13), decide_appeal()))
        .then([E::AppealDecided {
            at: t(13),
            unit: lead_unit(),
            upheld: true,
            note: None,
        }]);
    assert_eq!(g.state().upheld_appeals(), 1);
    in_progress()
        .when(by(
            lead(),
            t(5),
            CommandKind::FileAppeal { reason: "x".into() },
        ))
        .then_err_matching(illegal("in_progress"));
}

#[test]
fn clock_rules() {
    let g = in_progress()
        .when(by(
            lead(),
            t(5),
            CommandKind::ResumeClock { shifted: vec![] },
        ))
        .then_err_matching(illegal("in_progress"))
        .when(by(
            responsible(),
            t(6),
            CommandKind::PauseClock { reason: "x".into() },
        ))
        .then_err_matching(not_permitted)
        .when(by(
            lead(),
            t(7),
            CommandKind::PauseClock {
                reason: "等待企业补充材料".into(),
            },
        ))
        .then([E::ClockPaused {
            at: t(7),
            reason: "等待企业补充材料".into(),
        }])
        .when(by(
            dispatcher(),
            t(8),
            CommandKind::PauseClock { reason: "x".into() },
        ))
        .then_err_matching(illegal("in_progress"));
    assert!(g.state().paused_since().is_some());
    let g = g
        .when(by(
            dispatcher(),
            t(9),
            CommandKind::ResumeClock {
                shifted: vec![(Milestone::Resolve, t(24 * 9))],
            },
        ))
        .then([E::ClockResumed {
            at: t(9),
            shifted: vec![(Milestone::Resolve, t(24 * 9))],
        }]);
    assert!(g.state().paused_since().is_none());
    assert!(g.state().paused_total_ms() > 0);
    assert_eq!(
        g.state().deadline(Milestone::Resolve).unwrap().due_at,
        t(24 * 9)
    );
}

#[test]
fn each_warning_is_recorded_once_and_red_survives_an_extension() {
    let warn = |milestone, level, due_at| CommandKind::WarnDeadline {
        milestone,
        level,
        due_at,
    };
    let g = in_progress()
        .when(by(
            dispatcher(),
            t(5),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
        ))
        .then_err_matching(not_permitted)
        .when(by(
            system(),
            t(6),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
        ))
        .then([E::DeadlineWarned {
            at: t(6),
            milestone: Milestone::Resolve,
            due_at: t(24 * 7),
        }])
        .when(by(
            system(),
            t(7),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
        ))
        .then_err_matching(already)
        .when(by(
            system(),
            t(8),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 8)),
        ))
        .then_err_matching(invalid("due_at"))
        .when(by(
            system(),
            t(9),
            warn(Milestone::Accept, WarningLevel::Yellow, t(24)),
        ))
        .then_err_matching(illegal("in_progress"))
        .when(by(
            system(),
            t(10),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
        ))
        .then_err_matching(invalid("level"));
    // Time passes beyond the due time.
    let late = 24 * 8;
    let g = g
        .when(by(
            system(),
            t(late),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
        ))
        .then([E::DeadlineMissed {
            at: t(late),
            milestone: Milestone::Resolve,
            due_at: t(24 * 7),
        }])
        .when(by(
            system(),
            t(late + 1),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
        ))
        .then_err_matching(already)
        .when(by(
            lead(),
            t(late + 2),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 30),
            },
        ))
        .then([E::ExtensionRequested {
            at: t(late + 2),
            unit: lead_unit(),
            reason: "x".into(),
            requested_due_at: t(24 * 30),
        }])
        .when(by(
            dispatcher(),
            t(late + 3),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
        ))
        .then([E::ExtensionGranted {
            at: t(late + 3),
            due_at: t(24 * 30),
            note: None,
        }]);
    assert_eq!(
        g.state().deadline(Milestone::Resolve).unwrap().warning,
        Some(WarningLevel::Red),
        "a missed deadline stays missed"
    );
    // The new deadline gets its own yellow warning.
    g.when(by(
        system(),
        t(late + 4),
        warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 30)),
    ))
    .then([E::DeadlineWarned {
        at: t(late + 4),
        milestone: Milestone::Resolve,
        due_at: t(24 * 30),
    }]);
}

#[test]
fn ledger_link_rules() {
    let link = || CommandKind::LinkToLedgerItem {
        ledger_id: "plan-2021".into(),
        item_id: "getting-electricity/3".into(),
    };
    let fixed = || CommandKind::RecordClassProblemFixed {
        ledger_id: "plan-2021".into(),
        item_id: "getting-electricity/3".into(),
    };
    in_progress()
        .when(by(system(), t(5), fixed()))
        .then_err_matching(illegal("in_progress"))
        .when(by(lead(), t(6), link()))
        .then_err_matching(not_permitted)
        .when(by(dispatcher(), t(7), link()))
        .then([E::LinkedToLedgerItem {
            at: t(7),
            ledger_id: "plan-2021".into(),
            item_id: "getting-electricity/3".into(),
        }])
        .when(by(dispatcher(), t(8), link()))
        .then_err_matching(already)
        .when(by(system(), t(9), fixed()))
        .then([E::ClassProblemFixed {
            at: t(9),
            ledger_id: "plan-2021".into(),
            item_id: "getting-electricity/3".into(),
        }])
        .when(by(system(), t(10), fixed()))
        .then_err_matching(already);
}

#[test]
fn erasure_is_for_the_dispatch_centre_once_and_leaves_no_personal_data() {
    let erase = || CommandKind::ErasePersonalData {
        reason: "PIPL request 2026-0042".into(),
    };
    let g = in_progress();
    assert!(g.state().submitter().is_some());
    let g = g
        .when(by(lead(), t(5), erase()))
        .then_err_matching(not_permitted)
        .when(by(supervisor(), t(6), erase()))
        .then_err_matching(not_permitted)
        .when(by(
            dispatcher(),
            t(7),
            CommandKind::ErasePersonalData { reason: " ".into() },
        ))
        .then_err(invalid_because("reason", "required"))
        .when(by(dispatcher(), t(8), erase()))
        .then([E::PersonalDataErased {
            at: t(8),
            reason: "PIPL request 2026-0042".into(),
        }])
        .when(by(dispatcher(), t(9), erase()))
        .then_err_matching(already);
    let mut state = g.state().clone();
    assert!(state.personal_data_erased());
    assert_eq!(state.submitter(), None);
    assert_eq!(state.sealed_submitter(), None);
    // Opening an old sealed copy cannot bring it back.
    let before = state.clone();
    state.reveal_submitter(submission().submitter.unwrap());
    assert_eq!(state, before);
    // The rest of the complaint goes on.
    assert_eq!(state.status(), Some(ComplaintStatus::InProgress));
    assert!(
        !serde_json::to_string(&state)
            .unwrap()
            .contains("13812345678")
    );
}

#[test]
fn errors_name_the_status_and_the_step() {
    let expected = DomainError::IllegalTransition {
        status: "received",
        attempted: "accept",
        detail: None,
    };
    assert_eq!(
        expected.to_string(),
        "cannot accept a complaint that is received"
    );
    given([complaint_received(t(1))])
        .when(by(lead(), t(2), CommandKind::Accept))
        .then_err(expected);
}

#[test]
fn a_pause_stops_warnings_and_ends_with_the_resolution() {
    let warn = CommandKind::WarnDeadline {
        milestone: Milestone::Resolve,
        level: WarningLevel::Yellow,
        due_at: t(24 * 7),
    };
    let g = in_progress()
        .when(by(
            lead(),
            t(5),
            CommandKind::PauseClock {
                reason: "等待群众提供材料".into(),
            },
        ))
        .then([E::ClockPaused {
            at: t(5),
            reason: "等待群众提供材料".into(),
        }])
        .when(by(system(), t(6), warn.clone()))
        .then_err_matching(illegal("in_progress"))
        .when(by(
            lead(),
            t(7),
            CommandKind::ResumeClock {
                shifted: vec![(Milestone::Accept, t(24 * 2))],
            },
        ))
        .then_err_matching(invalid("shifted"))
        .when(by(
            lead(),
            t(8),
            CommandKind::ResumeClock {
                shifted: vec![
                    (Milestone::Resolve, t(24 * 8)),
                    (Milestone::Resolve, t(24 * 9)),
                ],
            },
        ))
        .then_err_matching(invalid("shifted"))
        .when(by(lead(), t(9), resolve()))
        .then([resolution_submitted(t(9))]);
    assert!(!g.state().is_paused(), "handling ended, so did the pause");
    assert!(g.state().paused_total_ms() > 0);
    g.when(by(system(), t(10), warn))
        .then_err_matching(illegal("resolved"));
}

#[test]
fn callback_v1_is_upcast_to_v2() {
    let v1 = br#"{"at":"2026-11-02T01:00:00Z","contacted":true,"solved":true,"satisfaction":"satisfied","comment":null}"#;
    let event = ComplaintEvent::decode("CallbackRecorded", 1, v1).unwrap();
    assert!(matches!(
        event,
        ComplaintEvent::CallbackRecorded { valid: true, .. }
    ));
    let (_, version, _) = event.encode();
    assert_eq!(version, 2);
    assert!(matches!(
        ComplaintEvent::decode("CallbackRecorded", 3, v1),
        Err(DecodeError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        ComplaintEvent::decode("ChasedUp", 1, b"[1]"),
        Err(DecodeError::Malformed { .. })
    ));
}

/// One event of every type, each with its optional fields set.
fn one_event_of_each_type() -> Vec<ComplaintEvent> {
    let at = t(1);
    let note = || Some("n".to_owned());
    vec![
        complaint_received(at),
        complaint_classified(at),
        complaint_dispatched(at),
        assignment_accepted(at, lead_unit()),
        E::AssignmentReturned {
            at,
            unit: lead_unit(),
            reason: "r".into(),
        },
        step_recorded(at, lead_unit(), true),
        E::ExtensionRequested {
            at,
            unit: lead_unit(),
            reason: "r".into(),
            requested_due_at: t(9),
        },
        E::ExtensionGranted {
            at,
            due_at: t(9),
            note: note(),
        },
        E::ExtensionDenied {
            at,
            reason: "r".into(),
        },
        resolution_submitted(at),
        resolution_verified(at),
        E::ResolutionRejected {
            at,
            reason: "r".into(),
        },
        callback_recorded(at, true, Satisfaction::BasicallySatisfied),
        E::ComplaintReopened {
            at,
            reason: "r".into(),
            resolve_due_at: t(9),
        },
        complaint_closed(at),
        E::ChasedUp {
            at,
            note: "n".into(),
        },
        E::SupervisionFlagged {
            at,
            note: "n".into(),
        },
        E::AccountabilityRecorded {
            at,
            finding: "f".into(),
            units: vec![lead_unit()],
        },
        E::AppealFiled {
            at,
            unit: lead_unit(),
            reason: "r".into(),
        },
        E::AppealDecided {
            at,
            unit: lead_unit(),
            upheld: true,
            note: note(),
        },
        E::ClockPaused {
            at,
            reason: "r".into(),
        },
        E::ClockResumed {
            at,
            shifted: vec![(Milestone::Resolve, t(9))],
        },
        E::DeadlineWarned {
            at,
            milestone: Milestone::Accept,
            due_at: t(2),
        },
        E::DeadlineMissed {
            at,
            milestone: Milestone::Resolve,
            due_at: t(2),
        },
        E::LinkedToLedgerItem {
            at,
            ledger_id: "l".into(),
            item_id: "i".into(),
        },
        E::ClassProblemFixed {
            at,
            ledger_id: "l".into(),
            item_id: "i".into(),
        },
        E::PersonalDataErased {
            at,
            reason: "r".into(),
        },
        E::LiaisonAssigned {
            at,
            liaison: LiaisonRef {
                credit_code: "91150602MA0YL00019".into(),
                enterprise: "e".into(),
                cadre: "c".into(),
                level: crate::registry::LiaisonLevel::Banner,
            },
        },
        E::LiaisonNoteRecorded {
            at,
            cadre: "c".into(),
            note: "n".into(),
            contacted: true,
        },
    ]
}

/// Which variant an event is; a new variant does not compile until it is
/// listed here and in `one_event_of_each_type`.
fn variant(event: &ComplaintEvent) -> usize {
    match event {
        E::ComplaintReceived { .. } => 0,
        E::ComplaintClassified { .. } => 1,
        E::ComplaintDispatched { .. } => 2,
        E::AssignmentAccepted { .. } => 3,
        E::AssignmentReturned { .. } => 4,
        E::RectificationStepRecorded { .. } => 5,
        E::ExtensionRequested { .. } => 6,
        E::ExtensionGranted { .. } => 7,
        E::ExtensionDenied { .. } => 8,
        E::ResolutionSubmitted { .. } => 9,
        E::ResolutionVerified { .. } => 10,
        E::ResolutionRejected { .. } => 11,
        E::CallbackRecorded { .. } => 12,
        E::ComplaintReopened { .. } => 13,
        E::ComplaintClosed { .. } => 14,
        E::ChasedUp { .. } => 15,
        E::SupervisionFlagged { .. } => 16,
        E::AccountabilityRecorded { .. } => 17,
        E::AppealFiled { .. } => 18,
        E::AppealDecided { .. } => 19,
        E::ClockPaused { .. } => 20,
        E::ClockResumed { .. } => 21,
        E::DeadlineWarned { .. } => 22,
        E::DeadlineMissed { .. } => 23,
        E::LinkedToLedgerItem { .. } => 24,
        E::ClassProblemFixed { .. } => 25,
        E::PersonalDataErased { .. } => 26,
        E::LiaisonAssigned { .. } => 27,
        E::LiaisonNoteRecorded { .. } => 28,
    }
}

#[test]
fn every_event_type_round_trips_through_its_stored_form() {
    let events = one_event_of_each_type();
    let covered: std::collections::BTreeSet<usize> = events.iter().map(variant).collect();
    assert_eq!(covered, (0..=28).collect());
    for event in events {
        let (event_type, version, payload) = event.encode();
        // The payload is the variant's fields, the tag only in the envelope.
        let fields: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert!(fields.is_object(), "{event_type}");
        assert!(fields.get(event_type).is_none(), "{event_type}");
        assert!(fields.get("event_type").is_none(), "{event_type}");
        assert_eq!(
            ComplaintEvent::decode(event_type, version, &payload).unwrap(),
            event
        );
    }
    // A payload that is not the type's is refused, and the error names it.
    assert!(matches!(
        ComplaintEvent::decode("ChasedUp", 1, br#"{"at":1}"#),
        Err(DecodeError::Malformed { .. })
    ));
    assert!(matches!(
        ComplaintEvent::decode("NoSuchEvent", 1, b"{}"),
        Err(DecodeError::Malformed { .. })
    ));
}

proptest! {
    /// The direct reading of an instant gives what chrono's parser gives,
    /// for every form chrono writes and for near misses.
    #[test]
    fn instants_read_directly_as_chrono_reads_them(
        secs in -62_135_596_800i64..253_402_300_799,
        nanos in 0u32..1_000_000_000,
        digits in 0usize..10,
        damage in prop::option::of((0usize..32, any::<u8>())),
    ) {
        let at = DateTime::from_timestamp(secs, nanos).unwrap();
        let mut texts = vec![
            serde_json::to_value(at).unwrap().as_str().unwrap().to_owned(),
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ];
        let whole = at.format("%Y-%m-%dT%H:%M:%S").to_string();
        let fraction = format!("{nanos:09}");
        texts.push(match digits {
            0 => format!("{whole}Z"),
            n => format!("{whole}.{}Z", &fraction[..n]),
        });
        if let Some((i, byte)) = damage {
            let mut bytes = texts[2].clone().into_bytes();
            if i < bytes.len() {
                bytes[i] = byte;
            }
            if let Ok(text) = String::from_utf8(bytes) {
                texts.push(text);
            }
        }
        for text in &texts[..2] {
            prop_assert_eq!(codec::parse_utc(text), Some(at), "{}", text);
        }
        prop_assert!(codec::parse_utc(&texts[2]).is_some(), "{}", texts[2]);
        for text in texts {
            let chrono = text.parse::<DateTime<chrono::FixedOffset>>().ok().map(|a| a.with_timezone(&Utc));
            if let Some(direct) = codec::parse_utc(&text) {
                prop_assert_eq!(Some(direct), chrono, "{}", text);
            }
        }
    }
}

#[test]
fn instants_chrono_writes_take_the_direct_path() {
    for text in [
        "2026-09-01T01:00:00Z",
        "2026-09-01T01:00:00.5Z",
        "2026-12-31T23:59:59.123456789Z",
    ] {
        assert_eq!(
            codec::parse_utc(text),
            Some(text.parse().unwrap()),
            "{text}"
        );
    }
    for text in [
        "2026-09-01T01:00:00+08:00",
        "2026-09-01t01:00:00Z",
        "2026-12-31T23:59:60Z",
        "2026-02-30T01:00:00Z",
        "2026-09-01T01:00:00.Z",
        "2026-09-01T01:00:00.1234567891Z",
    ] {
        assert_eq!(codec::parse_utc(text), None, "{text}");
    }
}

/// Every command any actor might send, for the property tests.
fn any_step() -> impl Strategy<Value = (Actor, CommandKind)> {
    let actors = prop_oneof![
        Just(hotline()),
        Just(dispatcher()),
        Just(supervisor()),
        Just(system()),
        Just(lead()),
        Just(responsible()),
        Just(stranger()),
    ];
    let kinds = prop_oneof![
        Just(submit()),
        Just(classify()),
        Just(dispatch()),
        Just(CommandKind::Accept),
        Just(CommandKind::Return {
            reason: "误派".into()
        }),
        any::<bool>().prop_map(step),
        Just(CommandKind::RequestExtension {
            reason: "x".into(),
            requested_due_at: t(24 * 40)
        }),
        Just(CommandKind::GrantExtension {
            due_at: None,
            note: None
        }),
        Just(CommandKind::DenyExtension {
            reason: "no".into()
        }),
        Just(resolve()),
        Just(CommandKind::VerifyResolution { note: None }),
        Just(CommandKind::RejectResolution { reason: "x".into() }),
        (
            any::<bool>(),
            prop_oneof![
                Just(Satisfaction::Satisfied),
                Just(Satisfaction::BasicallySatisfied),
                Just(Satisfaction::Unsatisfied)
            ]
        )
            .prop_map(|(solved, s)| callback(solved, s)),
        Just(CommandKind::Reopen {
            reason: "x".into(),
            resolve_due_at: t(24 * 50)
        }),
        Just(CommandKind::Close { note: None }),
        Just(CommandKind::ChaseUp { note: "x".into() }),
        Just(CommandKind::FlagSupervision { note: "x".into() }),
        Just(CommandKind::FileAppeal { reason: "x".into() }),
        any::<bool>().prop_map(|upheld| CommandKind::DecideAppeal { upheld, note: None }),
        Just(CommandKind::PauseClock { reason: "x".into() }),
        Just(CommandKind::ResumeClock { shifted: vec![] }),
        Just(CommandKind::WarnDeadline {
            milestone: Milestone::Resolve,
            level: WarningLevel::Yellow,
            due_at: t(24 * 7)
        }),
        Just(CommandKind::LinkToLedgerItem {
            ledger_id: "l".into(),
            item_id: "i".into()
        }),
        Just(CommandKind::ErasePersonalData { reason: "x".into() }),
    ];
    (actors, kinds)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Replaying every accepted event from scratch gives the state built
    /// incrementally; rejected commands change nothing; events round-trip
    /// through the codec.
    #[test]
    fn replay_equals_incremental_state(steps in prop::collection::vec(any_step(), 1..60)) {
        let mut state = ComplaintState::default();
        let mut history = Vec::new();
        for (i, (who, kind)) in steps.into_iter().enumerate() {
            let command = Command { actor: who, at: t(i as i64), kind };
            if let Ok(events) = decide(&state, &command) {
                prop_assert!(!events.is_empty());
                for event in events {
                    let (event_type, version, payload) = event.encode();
                    let decoded = ComplaintEvent::decode(event_type, version, &payload).unwrap();
                    prop_assert_eq!(&decoded, &event);
                    state = evolve(state, &event);
                    history.push(event);
                }
            }
        }
        let replayed = history.iter().fold(ComplaintState::default(), evolve);
        prop_assert_eq!(replayed, state);
    }
}
