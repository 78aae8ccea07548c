//! Given/when/then tests of the complaint decider, and property tests of
//! folding and the event codec.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use proptest::prelude::*;

use super::*;
use crate::{Actor, AreaCode, DomainError, Role, UnitCode};

mod arbitrary;
mod matrix;

fn t(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap() + Duration::hours(hours)
}

fn unit(code: &str) -> UnitCode {
    UnitCode::new(code).unwrap()
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
    actor(Role::Unit(unit("power-bureau")))
}
fn responsible() -> Actor {
    actor(Role::Unit(unit("natural-resources")))
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
        dispatch_due_at: t(2),
    }
}

fn submit() -> CommandKind {
    CommandKind::Submit(submission())
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
fn dispatch() -> CommandKind {
    CommandKind::Dispatch {
        lead: unit("power-bureau"),
        responsible: vec![unit("natural-resources")],
        rule_id: "plan:getting-electricity/3".into(),
        override_reason: None,
        accept_due_at: t(24),
        first_contact_due_at: t(24),
        resolve_due_at: t(24 * 7),
    }
}
fn step(contacted: bool) -> CommandKind {
    CommandKind::RecordStep {
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
fn callback(solved: bool, satisfaction: Satisfaction) -> CommandKind {
    CommandKind::RecordCallback {
        valid: true,
        contacted: true,
        solved,
        satisfaction: Some(satisfaction),
        comment: None,
    }
}

/// The scenario: the given history, built by deciding commands in order.
struct Given {
    state: ComplaintState,
    events: Vec<ComplaintEvent>,
    clock: i64,
}

fn given(steps: &[(Actor, CommandKind)]) -> Given {
    let mut g = Given {
        state: ComplaintState::default(),
        events: Vec::new(),
        clock: 0,
    };
    for (who, kind) in steps {
        let events = g.decide(who, kind).unwrap_or_else(|e| {
            panic!(
                "given step {} by {} failed: {e}",
                kind.name(),
                who.role.name()
            )
        });
        for event in &events {
            g.state = evolve(g.state.clone(), event);
        }
        g.events.extend(events);
    }
    g
}

impl Given {
    fn decide(
        &mut self,
        who: &Actor,
        kind: &CommandKind,
    ) -> Result<Vec<ComplaintEvent>, DomainError> {
        self.clock += 1;
        decide(
            &self.state,
            &Command {
                actor: who.clone(),
                at: t(self.clock),
                kind: kind.clone(),
            },
        )
    }

    /// When `who` does `kind`, then these event types.
    fn then(mut self, who: Actor, kind: CommandKind, expected: &[&str]) -> Self {
        let events = self
            .decide(&who, &kind)
            .unwrap_or_else(|e| panic!("{} by {}: {e}", kind.name(), who.role.name()));
        let types: Vec<&str> = events.iter().map(ComplaintEvent::event_type).collect();
        assert_eq!(types, expected, "{} by {}", kind.name(), who.role.name());
        for event in &events {
            self.state = evolve(self.state.clone(), event);
        }
        self.events.extend(events);
        self
    }

    /// When `who` does `kind`, then an error matching `check`.
    fn then_error(
        mut self,
        who: Actor,
        kind: CommandKind,
        check: impl Fn(&DomainError) -> bool,
    ) -> Self {
        match self.decide(&who, &kind) {
            Ok(events) => panic!(
                "{} by {} should fail, got {events:?}",
                kind.name(),
                who.role.name()
            ),
            Err(error) => assert!(
                check(&error),
                "{} by {}: unexpected {error:?}",
                kind.name(),
                who.role.name()
            ),
        }
        self
    }
}

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

fn in_progress() -> Given {
    given(&[
        (hotline(), submit()),
        (dispatcher(), classify()),
        (dispatcher(), dispatch()),
        (lead(), CommandKind::Accept),
    ])
}

fn called_back(solved: bool, satisfaction: Satisfaction) -> Given {
    let steps = vec![
        (lead(), resolve()),
        (dispatcher(), CommandKind::VerifyResolution { note: None }),
        (hotline(), callback(solved, satisfaction)),
    ];
    let mut g = in_progress();
    for (who, kind) in steps {
        let events = g.decide(&who, &kind).unwrap();
        for e in &events {
            g.state = evolve(g.state.clone(), e);
        }
        g.events.extend(events);
    }
    g
}

#[test]
fn full_lifecycle_with_return_extension_reopen_and_close() {
    let g = given(&[
        (hotline(), submit()),
        (dispatcher(), classify()),
        (dispatcher(), dispatch()),
    ])
    .then(
        lead(),
        CommandKind::Return {
            reason: "非本单位职责".into(),
        },
        &["AssignmentReturned"],
    );
    assert_eq!(g.state.status(), Some(ComplaintStatus::AwaitingDispatch));
    assert_eq!(g.state.return_count(), 1);
    assert!(g.state.lead_unit().is_none());
    let g = g
        .then(dispatcher(), dispatch(), &["ComplaintDispatched"])
        .then(lead(), CommandKind::Accept, &["AssignmentAccepted"])
        .then(responsible(), CommandKind::Accept, &["AssignmentAccepted"])
        .then(responsible(), step(false), &["RectificationStepRecorded"])
        .then(lead(), step(true), &["RectificationStepRecorded"])
        .then(
            lead(),
            CommandKind::RequestExtension {
                reason: "电网改造".into(),
                requested_due_at: t(24 * 14),
            },
            &["ExtensionRequested"],
        )
        .then(
            dispatcher(),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
            &["ExtensionGranted"],
        );
    assert_eq!(
        g.state.deadline(Milestone::Resolve).unwrap().due_at,
        t(24 * 14)
    );
    assert!(
        g.state
            .deadline(Milestone::FirstContact)
            .unwrap()
            .met_at
            .is_some()
    );
    let g = g
        .then(lead(), resolve(), &["ResolutionSubmitted"])
        .then(
            dispatcher(),
            CommandKind::VerifyResolution { note: None },
            &["ResolutionVerified"],
        )
        .then(
            hotline(),
            callback(false, Satisfaction::Unsatisfied),
            &["CallbackRecorded"],
        )
        .then(
            dispatcher(),
            CommandKind::Reopen {
                reason: "仍未通电".into(),
                resolve_due_at: t(24 * 20),
            },
            &["ComplaintReopened"],
        )
        .then(lead(), resolve(), &["ResolutionSubmitted"])
        .then(
            dispatcher(),
            CommandKind::VerifyResolution { note: None },
            &["ResolutionVerified"],
        )
        .then(
            hotline(),
            callback(true, Satisfaction::Satisfied),
            &["CallbackRecorded"],
        )
        .then(
            dispatcher(),
            CommandKind::Close { note: None },
            &["ComplaintClosed"],
        );
    assert_eq!(g.state.status(), Some(ComplaintStatus::Closed));
    assert_eq!(
        (
            g.state.return_count(),
            g.state.extension_count(),
            g.state.reopen_count()
        ),
        (1, 1, 1)
    );
    assert_eq!(g.state.satisfaction(), Some(Satisfaction::Satisfied));
}

#[test]
fn existence_rules() {
    given(&[])
        .then_error(dispatcher(), classify(), |e| *e == DomainError::NotFound)
        .then(hotline(), submit(), &["ComplaintReceived"])
        .then_error(hotline(), submit(), |e| *e == DomainError::AlreadyExists);
}

#[test]
fn intake_is_validated_and_restricted_to_intake_roles() {
    let mut s = submission();
    s.title = " ".into();
    given(&[]).then_error(hotline(), CommandKind::Submit(s), invalid("title"));
    let mut s = submission();
    s.text = "字".repeat(MAX_TEXT_CHARS + 1);
    given(&[]).then_error(hotline(), CommandKind::Submit(s), invalid("text"));
    let mut s = submission();
    s.submitter.as_mut().unwrap().phone = "call me".into();
    given(&[]).then_error(
        hotline(),
        CommandKind::Submit(s),
        invalid("submitter.phone"),
    );
    let mut s = submission();
    s.submitter = None;
    given(&[]).then_error(hotline(), CommandKind::Submit(s), invalid("submitter"));
    let mut s = submission();
    s.sealed_submitter = Some("token".into());
    given(&[]).then_error(hotline(), CommandKind::Submit(s), invalid("submitter"));
    given(&[]).then_error(lead(), submit(), not_permitted);
    given(&[]).then_error(supervisor(), submit(), not_permitted);
    given(&[]).then(actor(Role::Portal), submit(), &["ComplaintReceived"]);
}

#[test]
fn dispatch_rules() {
    given(&[(hotline(), submit())])
        .then_error(dispatcher(), dispatch(), illegal("received"))
        .then_error(hotline(), classify(), not_permitted)
        .then(dispatcher(), classify(), &["ComplaintClassified"])
        .then_error(lead(), dispatch(), not_permitted)
        .then_error(
            dispatcher(),
            CommandKind::Dispatch {
                lead: unit("power-bureau"),
                responsible: vec![unit("power-bureau")],
                rule_id: "override".into(),
                override_reason: Some("x".into()),
                accept_due_at: t(24),
                first_contact_due_at: t(24),
                resolve_due_at: t(48),
            },
            invalid("responsible_units"),
        )
        .then_error(
            dispatcher(),
            CommandKind::Dispatch {
                lead: unit("power-bureau"),
                responsible: vec![],
                rule_id: "override".into(),
                override_reason: Some("x".into()),
                accept_due_at: t(-5),
                first_contact_due_at: t(24),
                resolve_due_at: t(48),
            },
            invalid("accept_due_at"),
        )
        .then(dispatcher(), dispatch(), &["ComplaintDispatched"])
        .then_error(dispatcher(), dispatch(), illegal("dispatched"));
}

#[test]
fn unit_rules() {
    let g = given(&[(hotline(), submit()), (dispatcher(), classify())])
        .then_error(lead(), CommandKind::Accept, illegal("awaiting_dispatch"))
        .then(dispatcher(), dispatch(), &["ComplaintDispatched"])
        .then_error(stranger(), CommandKind::Accept, not_permitted)
        .then_error(dispatcher(), CommandKind::Accept, not_permitted)
        .then_error(
            responsible(),
            CommandKind::Return { reason: "x".into() },
            not_permitted,
        )
        .then_error(lead(), step(true), illegal("dispatched"))
        .then(responsible(), CommandKind::Accept, &["AssignmentAccepted"]);
    assert_eq!(
        g.state.status(),
        Some(ComplaintStatus::Dispatched),
        "only the lead's acceptance starts handling"
    );
    let g = g
        .then_error(responsible(), CommandKind::Accept, already)
        .then(lead(), CommandKind::Accept, &["AssignmentAccepted"]);
    assert_eq!(g.state.status(), Some(ComplaintStatus::InProgress));
    g.then_error(responsible(), resolve(), not_permitted)
        .then_error(stranger(), step(false), not_permitted)
        .then_error(supervisor(), resolve(), not_permitted)
        .then_error(
            lead(),
            CommandKind::Return { reason: " ".into() },
            invalid("reason"),
        );
}

#[test]
fn a_unit_that_has_not_accepted_cannot_record_steps() {
    in_progress().then_error(responsible(), step(false), illegal("in_progress"));
}

#[test]
fn extension_rules() {
    in_progress()
        .then_error(
            dispatcher(),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
            illegal("in_progress"),
        )
        .then_error(
            lead(),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24),
            },
            invalid("requested_due_at"),
        )
        .then_error(
            responsible(),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 10),
            },
            not_permitted,
        )
        .then(
            lead(),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 10),
            },
            &["ExtensionRequested"],
        )
        .then_error(
            lead(),
            CommandKind::RequestExtension {
                reason: "again".into(),
                requested_due_at: t(24 * 11),
            },
            illegal("in_progress"),
        )
        .then_error(
            lead(),
            CommandKind::DenyExtension {
                reason: "no".into(),
            },
            not_permitted,
        )
        .then(
            dispatcher(),
            CommandKind::DenyExtension {
                reason: "理由不足".into(),
            },
            &["ExtensionDenied"],
        )
        .then_error(
            dispatcher(),
            CommandKind::DenyExtension {
                reason: "no".into(),
            },
            illegal("in_progress"),
        );
}

#[test]
fn verification_and_callback_rules() {
    let g = in_progress()
        .then_error(
            dispatcher(),
            CommandKind::VerifyResolution { note: None },
            illegal("in_progress"),
        )
        .then(lead(), resolve(), &["ResolutionSubmitted"])
        .then(
            dispatcher(),
            CommandKind::RejectResolution {
                reason: "证据不足".into(),
            },
            &["ResolutionRejected"],
        );
    assert_eq!(g.state.status(), Some(ComplaintStatus::InProgress));
    assert!(
        g.state
            .deadline(Milestone::Resolve)
            .unwrap()
            .met_at
            .is_none()
    );
    g.then(lead(), resolve(), &["ResolutionSubmitted"])
        .then_error(
            hotline(),
            callback(true, Satisfaction::Satisfied),
            illegal("resolved"),
        )
        .then(
            dispatcher(),
            CommandKind::VerifyResolution { note: None },
            &["ResolutionVerified"],
        )
        .then_error(
            lead(),
            callback(true, Satisfaction::Satisfied),
            not_permitted,
        )
        .then_error(
            hotline(),
            CommandKind::RecordCallback {
                valid: true,
                contacted: true,
                solved: true,
                satisfaction: None,
                comment: None,
            },
            invalid("satisfaction"),
        )
        .then(
            hotline(),
            callback(true, Satisfaction::BasicallySatisfied),
            &["CallbackRecorded"],
        )
        .then_error(
            dispatcher(),
            CommandKind::Reopen {
                reason: "x".into(),
                resolve_due_at: t(500),
            },
            illegal("called_back"),
        )
        .then_error(hotline(), CommandKind::Close { note: None }, not_permitted)
        .then(
            dispatcher(),
            CommandKind::Close { note: None },
            &["ComplaintClosed"],
        )
        .then_error(
            dispatcher(),
            CommandKind::Close { note: None },
            illegal("closed"),
        );
}

#[test]
fn unsatisfied_callback_can_be_reopened() {
    called_back(true, Satisfaction::Unsatisfied).then(
        dispatcher(),
        CommandKind::Reopen {
            reason: "不满意".into(),
            resolve_due_at: t(500),
        },
        &["ComplaintReopened"],
    );
}

#[test]
fn supervision_rules() {
    let g = in_progress()
        .then_error(
            dispatcher(),
            CommandKind::FlagSupervision { note: "x".into() },
            not_permitted,
        )
        .then(
            supervisor(),
            CommandKind::FlagSupervision {
                note: "超期督办".into(),
            },
            &["SupervisionFlagged"],
        )
        .then_error(
            supervisor(),
            CommandKind::FlagSupervision {
                note: "again".into(),
            },
            already,
        )
        .then(
            supervisor(),
            CommandKind::ChaseUp {
                note: "请加快办理".into(),
            },
            &["ChasedUp"],
        )
        .then(
            dispatcher(),
            CommandKind::ChaseUp {
                note: "催办".into(),
            },
            &["ChasedUp"],
        )
        .then_error(
            lead(),
            CommandKind::ChaseUp { note: "x".into() },
            not_permitted,
        )
        .then(
            supervisor(),
            CommandKind::RecordAccountability {
                finding: "推诿扯皮".into(),
                units: vec![unit("power-bureau")],
            },
            &["AccountabilityRecorded"],
        )
        .then_error(
            dispatcher(),
            CommandKind::RecordAccountability {
                finding: "x".into(),
                units: vec![],
            },
            not_permitted,
        );
    assert!(g.state.supervised());
    assert_eq!(g.state.chase_count(), 2);
}

#[test]
fn appeal_rules() {
    let g = called_back(false, Satisfaction::Unsatisfied)
        .then_error(
            dispatcher(),
            CommandKind::DecideAppeal {
                upheld: true,
                note: None,
            },
            illegal("called_back"),
        )
        .then_error(
            stranger(),
            CommandKind::FileAppeal { reason: "x".into() },
            not_permitted,
        )
        .then(
            lead(),
            CommandKind::FileAppeal {
                reason: "诉求超出职责范围".into(),
            },
            &["AppealFiled"],
        )
        .then_error(
            lead(),
            CommandKind::FileAppeal {
                reason: "again".into(),
            },
            illegal("called_back"),
        )
        .then_error(
            lead(),
            CommandKind::DecideAppeal {
                upheld: true,
                note: None,
            },
            not_permitted,
        )
        .then(
            dispatcher(),
            CommandKind::DecideAppeal {
                upheld: true,
                note: None,
            },
            &["AppealDecided"],
        );
    assert_eq!(g.state.upheld_appeals(), 1);
    in_progress().then_error(
        lead(),
        CommandKind::FileAppeal { reason: "x".into() },
        illegal("in_progress"),
    );
}

#[test]
fn clock_rules() {
    let g = in_progress()
        .then_error(
            lead(),
            CommandKind::ResumeClock { shifted: vec![] },
            illegal("in_progress"),
        )
        .then_error(
            responsible(),
            CommandKind::PauseClock { reason: "x".into() },
            not_permitted,
        )
        .then(
            lead(),
            CommandKind::PauseClock {
                reason: "等待企业补充材料".into(),
            },
            &["ClockPaused"],
        )
        .then_error(
            dispatcher(),
            CommandKind::PauseClock { reason: "x".into() },
            illegal("in_progress"),
        );
    assert!(g.state.paused_since().is_some());
    let g = g.then(
        dispatcher(),
        CommandKind::ResumeClock {
            shifted: vec![(Milestone::Resolve, t(24 * 9))],
        },
        &["ClockResumed"],
    );
    assert!(g.state.paused_since().is_none());
    assert!(g.state.paused_total_ms() > 0);
    assert_eq!(
        g.state.deadline(Milestone::Resolve).unwrap().due_at,
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
        .then_error(
            dispatcher(),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
            not_permitted,
        )
        .then(
            system(),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
            &["DeadlineWarned"],
        )
        .then_error(
            system(),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 7)),
            already,
        )
        .then_error(
            system(),
            warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 8)),
            invalid("due_at"),
        )
        .then_error(
            system(),
            warn(Milestone::Accept, WarningLevel::Yellow, t(24)),
            illegal("in_progress"),
        )
        .then_error(
            system(),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
            invalid("level"),
        );
    // Let time pass beyond the due time.
    let mut g = g;
    g.clock = 24 * 8;
    let g = g
        .then(
            system(),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
            &["DeadlineMissed"],
        )
        .then_error(
            system(),
            warn(Milestone::Resolve, WarningLevel::Red, t(24 * 7)),
            already,
        )
        .then(
            lead(),
            CommandKind::RequestExtension {
                reason: "x".into(),
                requested_due_at: t(24 * 30),
            },
            &["ExtensionRequested"],
        )
        .then(
            dispatcher(),
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
            &["ExtensionGranted"],
        );
    assert_eq!(
        g.state.deadline(Milestone::Resolve).unwrap().warning,
        Some(WarningLevel::Red),
        "a missed deadline stays missed"
    );
    // The new deadline gets its own yellow warning.
    g.then(
        system(),
        warn(Milestone::Resolve, WarningLevel::Yellow, t(24 * 30)),
        &["DeadlineWarned"],
    );
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
        .then_error(system(), fixed(), illegal("in_progress"))
        .then_error(lead(), link(), not_permitted)
        .then(dispatcher(), link(), &["LinkedToLedgerItem"])
        .then_error(dispatcher(), link(), already)
        .then(system(), fixed(), &["ClassProblemFixed"])
        .then_error(system(), fixed(), already);
}

#[test]
fn erasure_is_for_the_dispatch_centre_once_and_leaves_no_personal_data() {
    let erase = || CommandKind::ErasePersonalData {
        reason: "PIPL request 2026-0042".into(),
    };
    let mut g = in_progress();
    assert!(g.state.submitter().is_some());
    g = g
        .then_error(lead(), erase(), not_permitted)
        .then_error(supervisor(), erase(), not_permitted)
        .then_error(
            dispatcher(),
            CommandKind::ErasePersonalData { reason: " ".into() },
            invalid("reason"),
        )
        .then(dispatcher(), erase(), &["PersonalDataErased"])
        .then_error(dispatcher(), erase(), already);
    assert!(g.state.personal_data_erased());
    assert_eq!(g.state.submitter(), None);
    assert_eq!(g.state.sealed_submitter(), None);
    // Opening an old sealed copy cannot bring it back.
    let before = g.state.clone();
    g.state.reveal_submitter(submission().submitter.unwrap());
    assert_eq!(g.state, before);
    // The rest of the complaint goes on.
    assert_eq!(g.state.status(), Some(ComplaintStatus::InProgress));
    assert!(
        !serde_json::to_string(&g.state)
            .unwrap()
            .contains("13812345678")
    );
}

#[test]
fn errors_name_the_status_and_the_step() {
    let g = given(&[(hotline(), submit())]);
    let mut g = g;
    let error = g.decide(&lead(), &CommandKind::Accept).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot accept a complaint that is received"
    );
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

#[test]
fn a_pause_stops_warnings_and_ends_with_the_resolution() {
    let warn = CommandKind::WarnDeadline {
        milestone: Milestone::Resolve,
        level: WarningLevel::Yellow,
        due_at: t(24 * 7),
    };
    let g = in_progress()
        .then(
            lead(),
            CommandKind::PauseClock {
                reason: "等待群众提供材料".into(),
            },
            &["ClockPaused"],
        )
        .then_error(system(), warn.clone(), illegal("in_progress"))
        .then_error(
            lead(),
            CommandKind::ResumeClock {
                shifted: vec![(Milestone::Accept, t(24 * 2))],
            },
            invalid("shifted"),
        )
        .then_error(
            lead(),
            CommandKind::ResumeClock {
                shifted: vec![
                    (Milestone::Resolve, t(24 * 8)),
                    (Milestone::Resolve, t(24 * 9)),
                ],
            },
            invalid("shifted"),
        )
        .then(lead(), resolve(), &["ResolutionSubmitted"]);
    assert!(!g.state.is_paused(), "handling ended, so did the pause");
    assert!(g.state.paused_total_ms() > 0);
    g.then_error(system(), warn, illegal("resolved"));
}
