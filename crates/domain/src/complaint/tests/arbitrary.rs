//! Property tests over arbitrary events, not only accepted ones: `evolve` is
//! total, `decide` never panics on any folded state, and every event
//! survives the codec unchanged.

use super::*;

fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    // Whole seconds across four centuries either side of 1970: the codec
    // writes RFC 3339, which keeps every bit of such instants.
    (-12_000_000_000_i64..12_000_000_000)
        .prop_map(|secs| DateTime::from_timestamp(secs, 0).expect("within chrono's range"))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9 ]{1,8}",
        Just("供电不及时，\"引号\"\n换行".to_owned()),
    ]
}

fn any_unit() -> impl Strategy<Value = UnitCode> {
    prop_oneof![
        Just(unit("power-bureau")),
        Just(unit("natural-resources")),
        Just(unit("tax-bureau")),
    ]
}

fn any_milestone() -> impl Strategy<Value = Milestone> {
    prop_oneof![
        Just(Milestone::Dispatch),
        Just(Milestone::Accept),
        Just(Milestone::FirstContact),
        Just(Milestone::Resolve),
    ]
}

fn any_satisfaction() -> impl Strategy<Value = Option<Satisfaction>> {
    prop_oneof![
        Just(None),
        Just(Some(Satisfaction::Satisfied)),
        Just(Some(Satisfaction::BasicallySatisfied)),
        Just(Some(Satisfaction::Unsatisfied)),
    ]
}

fn any_submission() -> impl Strategy<Value = Submission> {
    (
        prop_oneof![Just(Channel::Hotline12345), Just(Channel::QrCode)],
        prop_oneof![Just(ComplaintKind::Complaint), Just(ComplaintKind::Praise)],
        any_text(),
        proptest::option::of(any_text()),
        any_time(),
    )
        .prop_map(|(channel, kind, title, enterprise, dispatch_due_at)| {
            let mut s = submission();
            s.channel = channel;
            s.kind = kind;
            s.title = title;
            s.enterprise = enterprise;
            if let Some(submitter) = &mut s.submitter {
                submitter.id_number = Some("15270119900101123X".into());
            }
            s.district = Some(crate::DistrictCode::new("dongsheng").expect("valid code"));
            s.dispatch_due_at = dispatch_due_at;
            s
        })
}

/// Any event with any fields, in no particular order.
fn any_event() -> impl Strategy<Value = ComplaintEvent> {
    use ComplaintEvent as E;
    let t = any_time;
    prop_oneof![
        (t(), any_submission())
            .prop_map(|(at, submission)| E::ComplaintReceived { at, submission }),
        (
            t(),
            proptest::option::of(0_u32..40),
            prop::collection::vec(any_text(), 0..3)
        )
            .prop_map(|(at, task, tags)| E::ComplaintClassified {
                at,
                area: AreaCode::new("getting-electricity").expect("valid code"),
                task,
                district: None,
                tags,
                urgency: Urgency::Complex,
            }),
        (
            t(),
            any_unit(),
            prop::collection::vec(any_unit(), 0..3),
            t(),
            t(),
            t()
        )
            .prop_map(|(at, lead, responsible, a, f, r)| E::ComplaintDispatched {
                at,
                lead,
                responsible,
                rule_id: "override".into(),
                override_reason: Some("更熟悉".into()),
                accept_due_at: a,
                first_contact_due_at: f,
                resolve_due_at: r,
            }),
        (t(), any_unit()).prop_map(|(at, unit)| E::AssignmentAccepted { at, unit }),
        (t(), any_unit(), any_text()).prop_map(|(at, unit, reason)| E::AssignmentReturned {
            at,
            unit,
            reason
        }),
        (t(), any_unit(), any_text(), any::<bool>()).prop_map(|(at, unit, description, c)| {
            E::RectificationStepRecorded {
                at,
                unit,
                description,
                evidence: vec!["photo-1".into()],
                contacted_submitter: c,
            }
        }),
        (t(), any_unit(), any_text(), t()).prop_map(|(at, unit, reason, requested_due_at)| {
            E::ExtensionRequested {
                at,
                unit,
                reason,
                requested_due_at,
            }
        }),
        (t(), t(), proptest::option::of(any_text()))
            .prop_map(|(at, due_at, note)| E::ExtensionGranted { at, due_at, note }),
        (t(), any_text()).prop_map(|(at, reason)| E::ExtensionDenied { at, reason }),
        (t(), any_unit(), any_text()).prop_map(|(at, unit, result)| E::ResolutionSubmitted {
            at,
            unit,
            result,
            evidence: vec![],
        }),
        (t(), proptest::option::of(any_text()))
            .prop_map(|(at, note)| E::ResolutionVerified { at, note }),
        (t(), any_text()).prop_map(|(at, reason)| E::ResolutionRejected { at, reason }),
        (
            t(),
            any::<(bool, bool, bool)>(),
            any_satisfaction(),
            proptest::option::of(any_text())
        )
            .prop_map(|(at, (valid, contacted, solved), satisfaction, comment)| {
                E::CallbackRecorded {
                    at,
                    valid,
                    contacted,
                    solved,
                    satisfaction,
                    comment,
                }
            }),
        (t(), any_text(), t()).prop_map(|(at, reason, resolve_due_at)| E::ComplaintReopened {
            at,
            reason,
            resolve_due_at,
        }),
        (t(), proptest::option::of(any_text()))
            .prop_map(|(at, note)| E::ComplaintClosed { at, note }),
        (t(), any_text()).prop_map(|(at, note)| E::ChasedUp { at, note }),
        (t(), any_text()).prop_map(|(at, note)| E::SupervisionFlagged { at, note }),
        (t(), any_text(), prop::collection::vec(any_unit(), 0..3))
            .prop_map(|(at, finding, units)| E::AccountabilityRecorded { at, finding, units }),
        (t(), any_unit(), any_text()).prop_map(|(at, unit, reason)| E::AppealFiled {
            at,
            unit,
            reason
        }),
        (
            t(),
            any_unit(),
            any::<bool>(),
            proptest::option::of(any_text())
        )
            .prop_map(|(at, unit, upheld, note)| E::AppealDecided {
                at,
                unit,
                upheld,
                note
            }),
        (t(), any_text()).prop_map(|(at, reason)| E::ClockPaused { at, reason }),
        (t(), prop::collection::vec((any_milestone(), t()), 0..4))
            .prop_map(|(at, shifted)| E::ClockResumed { at, shifted }),
        (t(), any_milestone(), t()).prop_map(|(at, milestone, due_at)| E::DeadlineWarned {
            at,
            milestone,
            due_at
        }),
        (t(), any_milestone(), t()).prop_map(|(at, milestone, due_at)| E::DeadlineMissed {
            at,
            milestone,
            due_at
        }),
        (t(), any_text(), any_text()).prop_map(|(at, ledger_id, item_id)| {
            E::LinkedToLedgerItem {
                at,
                ledger_id,
                item_id,
            }
        }),
        (t(), any_text(), any_text()).prop_map(|(at, ledger_id, item_id)| {
            E::ClassProblemFixed {
                at,
                ledger_id,
                item_id,
            }
        }),
        (t(), any_text()).prop_map(|(at, reason)| E::PersonalDataErased { at, reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every event of any shape reads back as itself, with its type and the
    /// current schema version in the envelope.
    #[test]
    fn decode_of_encode_is_identity(event in any_event()) {
        let (event_type, version, payload) = event.encode();
        prop_assert_eq!(event_type, event.event_type());
        prop_assert_eq!(version, schema_version(event_type));
        let decoded = ComplaintEvent::decode(event_type, version, &payload);
        prop_assert_eq!(decoded, Ok(event));
    }

    /// Folding any events in any order never panics, and `decide` on the
    /// result never panics either: it answers with events or an error.
    #[test]
    fn evolve_is_total_and_decide_never_panics(
        events in prop::collection::vec(any_event(), 0..40),
        steps in prop::collection::vec(any_step(), 0..10),
    ) {
        let state = events.iter().fold(ComplaintState::default(), evolve);
        for (i, (who, kind)) in steps.into_iter().enumerate() {
            let command = Command { actor: who, at: t(i as i64), kind };
            if let Ok(produced) = decide(&state, &command) {
                prop_assert!(!produced.is_empty());
            }
        }
    }
}
