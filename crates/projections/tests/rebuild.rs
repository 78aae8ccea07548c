//! Invariant 6: a view is a pure function of the log. Random valid command
//! histories (decided by the real domain) are applied to the ledger in one
//! pass and, separately, in chunks with a checkpoint round trip through the
//! projection store between them; both must give the same rows. Each row must
//! also agree with the domain's own fold on status and deadlines.

use std::collections::BTreeSet;
use std::sync::RwLock;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use proptest::prelude::*;
use rectify_domain::{
    Actor, AreaCode, ComplaintId, ComplaintState, Role, UnitCode,
    complaint::{
        self, Channel, Command, CommandKind, ComplaintKind, Satisfaction, Submission, Submitter,
        Urgency, WarningLevel,
    },
};
use rectify_eventlog::{
    EventStore as _, ExpectedVersion, Metadata, NewEvent, RecordedEvent, SledStore, StoreConfig,
    Uuid,
};
use rectify_projections::{
    LedgerFilter, LedgerView, ListQuery, ProjectionDb, Scope, SortOrder, Timestamp, runner,
};

const COMPLAINTS: usize = 3;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 8, 1, 0, 0).unwrap()
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

/// One step of a random history: which complaint, which command, how much
/// time passes first, and a few bits of choice.
#[derive(Debug, Clone)]
struct Move {
    complaint: usize,
    command: u8,
    minutes: i64,
    flag: bool,
    pick: u8,
}

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (0..COMPLAINTS, 0u8..36, 0i64..3_000, any::<bool>(), 0u8..4).prop_map(
            |(complaint, command, minutes, flag, pick)| Move {
                complaint,
                command,
                minutes,
                flag,
                pick,
            },
        ),
        1..120,
    )
}

/// The command a move stands for, from the complaint's current state.
fn command(state: &ComplaintState, m: &Move, id: &str, at: DateTime<Utc>) -> Option<Command> {
    let dispatcher = actor(Role::Dispatcher);
    let lead = state.lead_unit().map(|u| actor(Role::Unit(u.clone())));
    let responsible = state
        .responsible_units()
        .first()
        .map(|u| actor(Role::Unit(u.clone())));
    let later = |hours| at + Duration::hours(hours);
    let leads = ["power-bureau", "tax-bureau"];
    // Commands 0..=21 are taken as drawn; higher draws take the natural next
    // step of the lifecycle, so histories get far (and back) often.
    let drawn = if m.command <= 21 {
        m.command
    } else {
        use complaint::ComplaintStatus as S;
        match state.status() {
            None => 0,
            Some(S::Received) => 1,
            Some(S::AwaitingDispatch) => 2,
            Some(S::Dispatched) => [3, 4, 21, 7][usize::from(m.pick)],
            Some(S::InProgress) => [6, 10, 21, 8][usize::from(m.pick)],
            Some(S::Resolved) => [11, 12, 11, 21][usize::from(m.pick)],
            Some(S::Verified) => 13,
            Some(S::CalledBack) => [15, 14, 18, 19][usize::from(m.pick)],
            Some(S::Closed) => 18,
        }
    };
    let (who, kind) = match drawn {
        0 => (
            actor(Role::Hotline),
            CommandKind::Submit(Submission {
                id: ComplaintId::new(id).unwrap(),
                channel: if m.flag {
                    Channel::Hotline12345
                } else {
                    Channel::WeChat
                },
                kind: ComplaintKind::Complaint,
                submitter: Some(Submitter {
                    name: "王女士".into(),
                    phone: "13812345678".into(),
                    id_number: None,
                }),
                sealed_submitter: None,
                enterprise: (m.pick == 1).then(|| "鄂尔多斯Gas燃气有限公司".into()),
                district: None,
                location: None,
                title: [
                    "用电报装迟迟不接电",
                    "燃气接入收费不透明",
                    "Tax 申报系统故障",
                ][usize::from(m.pick) % 3]
                    .into(),
                text: "两个月还没有接电".into(),
                external_ref: m.flag.then(|| format!("12345-{id}")),
                station: None,
                officer: None,
                dispatch_due_at: later(4),
            }),
        ),
        1 => (
            dispatcher,
            CommandKind::Classify {
                area: AreaCode::new("getting-electricity").unwrap(),
                task: None,
                district: None,
                tags: vec![],
                urgency: Urgency::Normal,
            },
        ),
        2 => (
            dispatcher,
            CommandKind::Dispatch {
                lead: unit(leads[usize::from(m.flag)]),
                responsible: vec![unit("natural-resources")],
                rule_id: "test".into(),
                override_reason: None,
                accept_due_at: later(8),
                first_contact_due_at: later(24),
                resolve_due_at: later(24 * 15),
                liaison: None,
            },
        ),
        3 => (lead?, CommandKind::Accept),
        4 => (responsible?, CommandKind::Accept),
        5 => (
            lead?,
            CommandKind::Return {
                reason: "misrouted".into(),
            },
        ),
        6 => (
            if m.flag { lead? } else { responsible? },
            CommandKind::RecordStep {
                description: "现场勘查".into(),
                evidence: vec![],
                contacted_submitter: m.pick.is_multiple_of(2),
            },
        ),
        7 => (
            lead?,
            CommandKind::RequestExtension {
                reason: "施工".into(),
                requested_due_at: later(24 * 30),
            },
        ),
        8 => (
            dispatcher,
            CommandKind::GrantExtension {
                due_at: None,
                note: None,
            },
        ),
        9 => (
            dispatcher,
            CommandKind::DenyExtension {
                reason: "no".into(),
            },
        ),
        10 => (
            lead?,
            CommandKind::SubmitResolution {
                result: "已送电".into(),
                evidence: vec![],
            },
        ),
        11 => (dispatcher, CommandKind::VerifyResolution { note: None }),
        12 => (
            dispatcher,
            CommandKind::RejectResolution {
                reason: "not done".into(),
            },
        ),
        13 => (
            actor(Role::Hotline),
            CommandKind::RecordCallback {
                valid: m.pick != 3,
                contacted: true,
                solved: m.flag,
                satisfaction: Some(match m.pick {
                    0 => Satisfaction::Satisfied,
                    1 => Satisfaction::BasicallySatisfied,
                    _ => Satisfaction::Unsatisfied,
                }),
                comment: None,
            },
        ),
        14 => (
            dispatcher,
            CommandKind::Reopen {
                reason: "unsolved".into(),
                resolve_due_at: later(24 * 10),
            },
        ),
        15 => (dispatcher, CommandKind::Close { note: None }),
        16 => (dispatcher, CommandKind::ChaseUp { note: "快".into() }),
        17 => (
            actor(Role::Supervisor),
            CommandKind::FlagSupervision {
                note: "督办".into(),
            },
        ),
        18 => (
            lead?,
            CommandKind::FileAppeal {
                reason: "not our fault".into(),
            },
        ),
        19 => (
            dispatcher,
            CommandKind::DecideAppeal {
                upheld: m.flag,
                note: None,
            },
        ),
        20 => {
            if state.is_paused() {
                let shifted = state
                    .open_deadlines()
                    .into_iter()
                    .map(|(milestone, due)| (milestone, due + Duration::hours(2)))
                    .collect();
                (dispatcher, CommandKind::ResumeClock { shifted })
            } else {
                (
                    dispatcher,
                    CommandKind::PauseClock {
                        reason: "waiting for the submitter".into(),
                    },
                )
            }
        }
        _ => {
            let (milestone, due_at) = *state
                .open_deadlines()
                .get(usize::from(m.pick) % state.open_deadlines().len().max(1))?;
            let level = if due_at <= at {
                WarningLevel::Red
            } else {
                WarningLevel::Yellow
            };
            (
                actor(Role::System),
                CommandKind::WarnDeadline {
                    milestone,
                    level,
                    due_at,
                },
            )
        }
    };
    Some(Command {
        actor: who,
        at,
        kind,
    })
}

/// A valid history: the recorded events of every accepted command, and each
/// complaint's domain state.
fn history(moves: &[Move]) -> (Vec<RecordedEvent>, Vec<ComplaintState>) {
    let mut states = vec![ComplaintState::default(); COMPLAINTS];
    let mut versions = [0u64; COMPLAINTS];
    let mut log = Vec::new();
    let mut at = t0();
    for m in moves {
        at += Duration::minutes(m.minutes);
        let id = format!("RC-{}", m.complaint);
        let state = &states[m.complaint];
        let Some(command) = command(state, m, &id, at) else {
            continue;
        };
        let Ok(events) = complaint::decide(state, &command) else {
            continue;
        };
        for event in events {
            let (event_type, schema_version, payload) = event.encode();
            log.push(RecordedEvent {
                stream: complaint::stream_name(&ComplaintId::new(&id).unwrap()),
                version: versions[m.complaint],
                position: log.len() as u64 + 1,
                id: Uuid::new_v4(),
                event_type: event_type.to_owned(),
                schema_version,
                payload,
                metadata: Metadata {
                    actor: Some(command.actor.principal.clone()),
                    recorded_at_ms: at.timestamp_millis(),
                    ..Metadata::default()
                },
                hash: [0; 32],
            });
            versions[m.complaint] += 1;
            states[m.complaint] = complaint::evolve(states[m.complaint].clone(), &event);
        }
    }
    (log, states)
}

fn apply_all(log: &[RecordedEvent]) -> LedgerView {
    let mut view = LedgerView::default();
    for event in log {
        view.apply(event).unwrap();
    }
    view
}

const UNITS: [&str; 4] = [
    "power-bureau",
    "tax-bureau",
    "natural-resources",
    "market-regulation",
];

/// A random list query: who asks, which filter, which order, which page size
/// and at which instant.
#[derive(Debug, Clone)]
struct RandomQuery {
    scope: Scope,
    filter: LedgerFilter,
    order: SortOrder,
    page_size: usize,
    now: DateTime<Utc>,
}

fn query() -> impl Strategy<Value = RandomQuery> {
    let scope = prop_oneof![
        Just(Scope::All),
        (0..UNITS.len()).prop_map(|u| Scope::Unit(UNITS[u].into())),
        Just(Scope::SubmittedBy("hotline-principal".into())),
    ];
    let text = prop::option::weighted(
        0.6,
        prop::sample::select(vec![
            "",
            "电",
            "接电",
            "用电报装",
            "燃气",
            "gas",
            "GAS燃",
            "tax 申",
            "rc-1",
            "RC-2",
            "12345-RC",
            "-rc-0",
            "气接",
            "不存在",
            "接电报",
            "rc-12345",
        ]),
    );
    // Each narrowing is rare, so plain queries (the ones an index answers
    // without reading rows) come up often.
    let unit = || prop::option::weighted(0.2, (0..UNITS.len()).prop_map(|u| UNITS[u].to_owned()));
    let hours = || prop::option::weighted(0.2, 0i64..400);
    let order = prop::sample::select(vec![
        SortOrder::ReceivedDesc,
        SortOrder::ReceivedAsc,
        SortOrder::DueAsc,
        SortOrder::Id,
    ]);
    let statuses = prop::collection::vec(
        prop::sample::select(vec![
            complaint::ComplaintStatus::Received,
            complaint::ComplaintStatus::AwaitingDispatch,
            complaint::ComplaintStatus::Dispatched,
            complaint::ComplaintStatus::InProgress,
            complaint::ComplaintStatus::Closed,
        ]),
        0..3,
    );
    let statuses = prop_oneof![3 => Just(Vec::new()), 1 => statuses];
    let area = prop::option::weighted(
        0.2,
        prop::sample::select(vec!["getting-electricity".to_owned(), "tax".to_owned()]),
    );
    (
        (scope, text, unit(), unit(), area, statuses),
        (
            hours(),
            hours(),
            any::<[bool; 4]>(),
            order,
            1usize..4,
            0i64..600,
        ),
    )
        .prop_map(
            |(
                (scope, text, unit, lead_unit, area, statuses),
                (from, before, flags, order, page_size, now),
            )| RandomQuery {
                scope,
                filter: LedgerFilter {
                    statuses,
                    area,
                    unit,
                    lead_unit,
                    // Rarely all at once, so most queries match something.
                    overdue_only: flags[0] && flags[1],
                    supervised_only: flags[0] && flags[2],
                    returned_only: flags[0] && flags[3],
                    received_from: from.map(|h| t0() + Duration::hours(h)),
                    received_before: before.map(|h| t0() + Duration::hours(h)),
                    text: text.map(str::to_owned),
                    ..LedgerFilter::default()
                },
                order,
                page_size,
                now: t0() + Duration::hours(now),
            },
        )
}

fn ids(rows: &[rectify_projections::LedgerRow]) -> Vec<&str> {
    rows.iter().map(|row| row.id()).collect()
}

fn ref_ids<'a>(rows: &[&'a rectify_projections::LedgerRow]) -> Vec<&'a str> {
    rows.iter().map(|row| row.id()).collect()
}

/// Pages through `query` on `view` by index and by full scan: every page,
/// token and total must agree, and the pages must end.
fn check_query(view: &LedgerView, query: &RandomQuery) -> Result<(), TestCaseError> {
    let mut token = String::new();
    for _ in 0..=COMPLAINTS {
        let list = ListQuery {
            filter: query.filter.clone(),
            order: query.order,
            page_size: query.page_size,
            page_token: token.clone(),
        };
        let indexed = view.list(&query.scope, &list, query.now).unwrap();
        let scanned = view
            .list_by_full_scan(&query.scope, &list, query.now)
            .unwrap();
        prop_assert_eq!(ids(&indexed.rows), ids(&scanned.rows), "{:?}", query);
        prop_assert_eq!(&indexed.next_page_token, &scanned.next_page_token);
        prop_assert_eq!(indexed.total, scanned.total);
        let by_matching = view
            .matching(&query.scope, &query.filter, query.now)
            .count() as u64;
        prop_assert_eq!(by_matching, scanned.total);
        if indexed.next_page_token.is_empty() {
            return Ok(());
        }
        token = indexed.next_page_token;
    }
    prop_assert!(false, "more pages than complaints for {:?}", query);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn rebuilt_equals_incremental_with_checkpoints(
        moves in moves(),
        cuts in prop::collection::vec(0usize..200, 0..4),
        queries in prop::collection::vec(query(), 1..8),
    ) {
        let (log, states) = history(&moves);
        let rebuilt = apply_all(&log);

        // Incremental: apply up to each cut, checkpoint, reopen, go on.
        let dir = tempfile::tempdir().unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(log.len())).collect();
        cuts.sort_unstable();
        cuts.push(log.len());
        let mut done = 0;
        let mut view = LedgerView::default();
        // One handle for the whole history: sled releases a dropped
        // database's lock asynchronously, so reopening the same directory
        // in-process races. Every cut still reloads the view from the store;
        // restarts of the real process are covered end to end.
        // Blocks of three slots, so the bigram blocks the store keeps are
        // loaded too.
        let db = ProjectionDb::open(dir.path()).unwrap().with_text_block_size(3);
        for cut in cuts {
            let mut dirty = BTreeSet::new();
            view = db.load_ledger().unwrap();
            for event in &log[done..cut] {
                if let Some(id) = view.apply(event).unwrap() {
                    dirty.insert(id);
                }
            }
            db.checkpoint(&mut view, &dirty).unwrap();
            db.flush().unwrap();
            done = cut;
        }
        let reloaded = db.load_ledger().unwrap();
        prop_assert_eq!(&view, &rebuilt);
        prop_assert_eq!(&reloaded, &rebuilt);
        prop_assert!(view.index_is_consistent());
        prop_assert!(rebuilt.index_is_consistent());
        prop_assert!(reloaded.index_is_consistent());

        // A query through the indexes equals the same query by full scan,
        // page by page, on the incremental, the reloaded and the rebuilt view.
        for query in &queries {
            for checked in [&view, &reloaded, &rebuilt] {
                check_query(checked, query)?;
            }
        }
        // The watcher's candidates: the same on every view (slot order differs
        // after a reload), and a limit keeps their first ones.
        for query in &queries {
            let yellow = |start: Timestamp, due: Timestamp| {
                Timestamp::from_nanos(start.nanos() + (due.nanos() - start.nanos()) / 2)
            };
            let all = view.due_warnings(query.now, usize::MAX, yellow);
            for limit in 0..=all.len() {
                prop_assert_eq!(&view.due_warnings(query.now, limit, yellow), &all[..limit].to_vec());
            }
            let mut sorted = all.clone();
            sorted.sort();
            for other in [&reloaded, &rebuilt] {
                let mut theirs = other.due_warnings(query.now, usize::MAX, yellow);
                theirs.sort();
                prop_assert_eq!(&theirs, &sorted);
            }
        }

        // The evaluation's row filter keeps every row with a fact in a period.
        for day in 0..12 {
            let from = t0() + Duration::hours(day * 12);
            let until = from + Duration::hours(12);
            let kept: BTreeSet<&str> = view
                .rows_with_facts_in(from, until)
                .map(|row| row.id())
                .collect();
            for row in rebuilt.rows() {
                let facts = row
                    .callbacks
                    .iter()
                    .map(|c| c.at)
                    .chain(row.dispatches.iter().map(|d| d.at))
                    .chain(row.closed_at)
                    .chain(row.reopens.iter().chain(&row.extensions).chain(&row.missed).map(|f| f.at));
                if facts.into_iter().any(|at| at >= from && at < until) {
                    prop_assert!(kept.contains(row.id()), "{} left out", row.id());
                }
            }
        }
        for unit in UNITS {
            for checked in [&view, &reloaded] {
                let (indexed, scanned) = (checked.inbox(unit), checked.inbox_by_full_scan(unit));
                prop_assert_eq!(ref_ids(&indexed.lead_to_accept), ref_ids(&scanned.lead_to_accept));
                prop_assert_eq!(ref_ids(&indexed.lead_to_handle), ref_ids(&scanned.lead_to_handle));
                prop_assert_eq!(ref_ids(&indexed.lead_to_resolve), ref_ids(&scanned.lead_to_resolve));
                prop_assert_eq!(
                    ref_ids(&indexed.responsible_to_accept),
                    ref_ids(&scanned.responsible_to_accept)
                );
                prop_assert_eq!(
                    ref_ids(&indexed.responsible_to_handle),
                    ref_ids(&scanned.responsible_to_handle)
                );
            }
        }

        // Each row agrees with the domain's fold.
        for (index, state) in states.iter().enumerate() {
            let row = rebuilt.row(&format!("RC-{index}"));
            let Some(status) = state.status() else {
                prop_assert!(row.is_none());
                continue;
            };
            let row = row.unwrap();
            prop_assert_eq!(row.status, status);
            prop_assert_eq!(row.paused, state.is_paused());
            prop_assert_eq!(row.lead.as_deref(), state.lead_unit().map(UnitCode::as_str));
            prop_assert_eq!(row.return_count(), state.return_count());
            prop_assert_eq!(row.extension_count(), state.extension_count());
            prop_assert_eq!(row.reopen_count(), state.reopen_count());
            let row_deadlines: Vec<_> = row
                .deadlines
                .iter()
                .map(|d| (d.milestone, d.due_at, d.met_at, d.warning))
                .collect();
            let state_deadlines: Vec<_> = state
                .deadlines()
                .iter()
                .map(|d| (d.milestone, d.due_at.into(), d.met_at.map(Timestamp::from), d.warning))
                .collect();
            prop_assert_eq!(row_deadlines, state_deadlines);
            let state_warned: Vec<_> = state
                .warnings()
                .iter()
                .map(|&(milestone, level, due_at)| (milestone, level, Timestamp::from(due_at)))
                .collect();
            prop_assert_eq!(&row.warned.to_vec(), &state_warned);
        }
    }
}

/// Appends the history's events to `store` in order, so each gets the
/// position it has in `log`.
async fn append_all(store: &SledStore, log: &[RecordedEvent]) {
    for event in log {
        store
            .append(
                &event.stream,
                ExpectedVersion::Any,
                vec![NewEvent {
                    id: event.id,
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    payload: event.payload.clone(),
                    metadata: event.metadata.clone(),
                }],
            )
            .await
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Catch-up as the server runs it (pages of the log, a checkpoint per
    /// page, complaints named by slot between checkpoints), stopped at a cut
    /// and resumed from the reloaded checkpoint, gives the view the fold
    /// gives, and so does reloading its last checkpoint.
    #[test]
    fn catch_up_with_checkpoints_equals_the_fold(moves in moves(), cut in 0usize..200) {
        let (log, _) = history(&moves);
        let rebuilt = apply_all(&log);
        let cut = cut.min(log.len());
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (caught_up, reloaded) = runtime.block_on(async {
            let store = SledStore::open(StoreConfig {
                path: dir.path().join("log"),
                ..StoreConfig::default()
            })
            .unwrap();
            let db = ProjectionDb::open(&dir.path().join("projections"))
                .unwrap()
                .with_text_block_size(2);
            append_all(&store, &log[..cut]).await;
            let view = RwLock::new(db.load_ledger().unwrap());
            runner::catch_up(&store, &db, &view, &mut |_, _| {}).await.unwrap();
            append_all(&store, &log[cut..]).await;
            let view = RwLock::new(db.load_ledger().unwrap());
            runner::catch_up(&store, &db, &view, &mut |_, _| {}).await.unwrap();
            let reloaded = db.load_ledger().unwrap();
            let _ = store.shutdown();
            (view.into_inner().unwrap(), reloaded)
        });
        prop_assert_eq!(&caught_up, &rebuilt);
        prop_assert_eq!(&reloaded, &rebuilt);
        prop_assert!(caught_up.index_is_consistent());
        prop_assert!(reloaded.index_is_consistent());
    }
}

#[test]
fn histories_reach_every_status() {
    // Guard against a generator that never gets far: some fixed histories
    // must reach closure.
    let script = [0u8, 1, 2, 3, 4, 6, 10, 11, 13, 15];
    let moves: Vec<Move> = script
        .iter()
        .map(|&command| Move {
            complaint: 0,
            command,
            minutes: 30,
            flag: true,
            pick: 0,
        })
        .collect();
    let (log, states) = history(&moves);
    assert_eq!(states[0].status(), Some(complaint::ComplaintStatus::Closed));
    let view = apply_all(&log);
    assert_eq!(
        view.row("RC-0").unwrap().status,
        complaint::ComplaintStatus::Closed
    );
}

/// The counts of an evaluation group, every one of them.
fn counts(g: &rectify_projections::stats::GroupStats) -> [u64; 16] {
    [
        g.valid_callbacks,
        g.contacted,
        g.solved,
        g.satisfied,
        g.basically_satisfied,
        g.unsatisfied,
        g.appeal_excluded,
        g.dispatched,
        g.accepted_on_time,
        g.returned,
        g.closed,
        g.closed_on_time,
        g.reopened,
        g.callbacks,
        g.extensions,
        g.overdue,
    ]
}

/// Each period's groups as key → counts.
fn evaluation(
    view: &LedgerView,
    group_by: rectify_projections::stats::GroupBy,
) -> Vec<std::collections::BTreeMap<String, [u64; 16]>> {
    use rectify_projections::stats::{self, Period, StatsQuery};
    let periods: Vec<Period> = ["2026-10", "2026-11", "2026-12", "2027-01"]
        .iter()
        .map(|p| Period::parse(p).unwrap())
        .collect();
    let query = StatsQuery {
        period: periods[0],
        group_by,
        weights: Default::default(),
        top_n: 5,
        min_valid_callbacks: 1,
    };
    stats::evaluate_periods(view, &query, &periods)
        .unwrap()
        .into_iter()
        .map(|report| {
            report
                .groups
                .iter()
                .map(|g| (g.key.clone(), counts(g)))
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The evaluation counts rows in parts on several threads and adds the
    /// parts' tallies: its counts over all complaints must be the sum of its
    /// counts over any split of the complaints.
    #[test]
    fn the_evaluation_adds_up_over_complaints(moves in moves()) {
        use rectify_projections::stats::GroupBy;
        let (log, _) = history(&moves);
        let first = complaint::stream_name(&ComplaintId::new("RC-0").unwrap());
        let (a, b): (Vec<RecordedEvent>, Vec<RecordedEvent>) =
            log.iter().cloned().partition(|e| e.stream == first);
        let (all, a, b) = (apply_all(&log), apply_all(&a), apply_all(&b));
        for group_by in [GroupBy::Unit, GroupBy::District] {
            let (all, a, b) = (evaluation(&all, group_by), evaluation(&a, group_by), evaluation(&b, group_by));
            for ((all, a), b) in all.iter().zip(&a).zip(&b) {
                let mut sum = a.clone();
                for (key, counts) in b {
                    let entry = sum.entry(key.clone()).or_insert([0; 16]);
                    for (s, c) in entry.iter_mut().zip(counts) {
                        *s += c;
                    }
                }
                prop_assert_eq!(all, &sum);
            }
        }
    }
}
