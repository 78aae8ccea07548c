//! The read models through the real server: the issue ledger, paging,
//! exports, the deadline watcher under a controlled clock, and the
//! evaluation's rates.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use rectify::pb::{self, query_service_client::QueryServiceClient};
use tonic::{Code, transport::Channel};

use crate::support::{
    Server, TestClock, accept, admin_offline, as_role, as_unit, callback, classify_and_dispatch,
    get, head, history, record_callback, resolve, submit, submit_and_dispatch, submit_as_hotline,
    submit_request, verify,
};

/// Wednesday 14 October 2026, 10:00 in Ordos: an ordinary working day.
fn october_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 14, 2, 0, 0).unwrap()
}

async fn list(
    q: &mut QueryServiceClient<Channel>,
    role: &'static str,
    filter: pb::LedgerFilter,
    page_size: u32,
    page_token: String,
    min_position: u64,
) -> pb::ListLedgerResponse {
    q.list_ledger(as_role(
        pb::ListLedgerRequest {
            filter: Some(filter),
            order: pb::LedgerOrder::ReceivedAsc as i32,
            page_size,
            page_token,
            min_position,
        },
        role,
    ))
    .await
    .expect("list ledger")
    .into_inner()
}

/// One page of `page_size` of the whole ledger, oldest first, as the
/// dispatch centre sees it.
async fn page_of(
    q: &mut QueryServiceClient<Channel>,
    page_size: u32,
    page_token: String,
    min_position: u64,
) -> pb::ListLedgerResponse {
    let all = pb::LedgerFilter::default();
    list(q, "dispatcher", all, page_size, page_token, min_position).await
}

/// Every row (up to 50) the dispatch centre sees through `filter`.
async fn filtered(
    q: &mut QueryServiceClient<Channel>,
    filter: pb::LedgerFilter,
    min_position: u64,
) -> pb::ListLedgerResponse {
    list(q, "dispatcher", filter, 50, String::new(), min_position).await
}

#[tokio::test]
async fn the_ledger_reflects_a_command_queried_with_its_position() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut q = server.queries().await;
    let submitted = submit(&mut c, "用电报装迟迟不接电").await;
    let classified = c
        .classify_complaint(as_role(
            pb::ClassifyComplaintRequest {
                complaint_id: submitted.id.clone(),
                area: "getting-electricity".into(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("classify")
        .into_inner()
        .result
        .expect("a result");

    let page = list(
        &mut q,
        "dispatcher",
        pb::LedgerFilter::default(),
        10,
        String::new(),
        classified.position,
    )
    .await;
    assert!(page.applied_position >= classified.position);
    assert_eq!(page.total, 1);
    let row = &page.rows[0];
    assert_eq!(row.complaint_id, submitted.id);
    assert_eq!(row.status, pb::ComplaintStatus::AwaitingDispatch as i32);
    assert_eq!(row.area, "getting-electricity");
    assert_eq!(row.district, "dongsheng");
    assert_eq!(row.position, classified.position);

    // A position the log has not reached: a distinct error, not stale data.
    let status = q
        .list_ledger(as_role(
            pb::ListLedgerRequest {
                min_position: classified.position + 1_000,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("the ledger cannot reach that position");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let wanted = (classified.position + 1_000).to_string();
    assert!(status.message().contains(&wanted), "{}", status.message());
}

#[tokio::test]
async fn filters_scopes_and_paging_are_correct_across_pages() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut q = server.queries().await;

    // 13 complaints: 10 in 东胜区, 3 in 康巴什区; every third is dispatched.
    let mut ids = Vec::new();
    let mut dispatched = BTreeSet::new();
    let mut last_position = 0;
    for n in 0..13 {
        let mut request = submit_request(&format!("第{n}号诉求 供电"));
        if n % 4 == 3 {
            request.district = "kangbashi".into();
            request.text = "康巴什区 燃气接入 迟迟不办".into();
        }
        let result = submit_as_hotline(&mut c, request).await;
        last_position = result.position;
        if n % 3 == 0 {
            classify_and_dispatch(&mut c, &result.id).await;
            dispatched.insert(result.id.clone());
        }
        ids.push(result.id);
    }
    let head = head(&server).await;
    assert!(head >= last_position);

    // Every page of 5, oldest first: each complaint once, in order.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = page_of(&mut q, 5, token, head).await;
        assert_eq!(page.total, 13);
        assert!(page.rows.len() <= 5);
        seen.extend(page.rows.iter().map(|r| r.complaint_id.clone()));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "oldest first, each once");

    // Filters.
    let by = |filter: pb::LedgerFilter| {
        let mut q = q.clone();
        async move { filtered(&mut q, filter, head).await }
    };
    let by_district = by(pb::LedgerFilter {
        district: "kangbashi".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_district.total, 3);
    assert!(by_district.rows.iter().all(|r| r.district == "kangbashi"));

    let by_status = by(pb::LedgerFilter {
        statuses: vec![pb::ComplaintStatus::Dispatched as i32],
        ..Default::default()
    })
    .await;
    let got: BTreeSet<String> = by_status
        .rows
        .iter()
        .map(|r| r.complaint_id.clone())
        .collect();
    assert_eq!(got, dispatched);

    let by_text = by(pb::LedgerFilter {
        text: "燃气".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(by_text.total, 3);
    assert!(by_text.rows.iter().all(|r| r.district == "kangbashi"));

    let by_lead_in_district = by(pb::LedgerFilter {
        lead_unit: "power-bureau".into(),
        district: "dongsheng".into(),
        ..Default::default()
    })
    .await;
    let expected = dispatched
        .iter()
        .filter(|id| ids.iter().position(|x| x == *id).unwrap() % 4 != 3)
        .count() as u64;
    assert_eq!(by_lead_in_district.total, expected);

    // A unit sees only its own complaints; a foreign unit sees none.
    let unit_page = q
        .list_ledger(as_unit(pb::ListLedgerRequest::default(), "power-bureau"))
        .await
        .expect("unit list")
        .into_inner();
    assert_eq!(unit_page.total, dispatched.len() as u64);
    let foreign = q
        .list_ledger(as_unit(pb::ListLedgerRequest::default(), "tax-bureau"))
        .await
        .expect("unit list")
        .into_inner();
    assert_eq!(foreign.total, 0);

    // Inbox: everything dispatched waits for the lead unit's acceptance.
    let inbox = q
        .get_inbox(as_unit(
            pb::GetInboxRequest {
                unit: "power-bureau".into(),
                min_position: head,
            },
            "power-bureau",
        ))
        .await
        .expect("inbox")
        .into_inner();
    assert_eq!(inbox.lead_to_accept.len(), dispatched.len());
    let denied = q
        .get_inbox(as_unit(
            pb::GetInboxRequest {
                unit: "power-bureau".into(),
                min_position: 0,
            },
            "tax-bureau",
        ))
        .await
        .expect_err("another unit's inbox");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Bad input names the field.
    for (request, field) in [
        (
            pb::ListLedgerRequest {
                page_size: 5_000,
                ..Default::default()
            },
            "page_size",
        ),
        (
            pb::ListLedgerRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            pb::ListLedgerRequest {
                filter: Some(pb::LedgerFilter {
                    statuses: vec![99],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "filter.statuses",
        ),
    ] {
        let status = q
            .list_ledger(as_role(request, "dispatcher"))
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert!(status.message().contains(field), "{}", status.message());
    }
}

#[tokio::test]
async fn exported_workbook_holds_the_filtered_rows() {
    use calamine::Reader as _;

    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut q = server.queries().await;
    let mut kangbashi = Vec::new();
    for n in 0..6 {
        let mut request = submit_request(&format!("出口测试{n}"));
        if n % 2 == 0 {
            request.district = "kangbashi".into();
        }
        let result = submit_as_hotline(&mut c, request).await;
        if n % 2 == 0 {
            kangbashi.push(result.id.clone());
        }
    }
    let head = head(&server).await;
    let export = |format: pb::ExportFormat| pb::ExportLedgerRequest {
        filter: Some(pb::LedgerFilter {
            district: "kangbashi".into(),
            ..Default::default()
        }),
        order: pb::LedgerOrder::Id as i32,
        format: format as i32,
        min_position: head,
    };
    let mut stream = q
        .export_ledger(as_role(export(pb::ExportFormat::Xlsx), "dispatcher"))
        .await
        .expect("export")
        .into_inner();
    let mut bytes = Vec::new();
    let mut rows = 0;
    while let Some(chunk) = stream.message().await.expect("chunk") {
        rows = rows.max(chunk.rows);
        bytes.extend_from_slice(&chunk.data);
    }
    assert_eq!(rows, 3);
    let mut workbook =
        calamine::Xlsx::new(std::io::Cursor::new(bytes)).expect("a readable workbook");
    let sheet = workbook.worksheet_range("台账").expect("the 台账 sheet");
    let table: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    assert_eq!(table.len(), 4, "a heading and three rows");
    assert_eq!(table[0][0], "编号 (id)");
    let mut expected = kangbashi.clone();
    expected.sort();
    let ids: Vec<String> = table[1..].iter().map(|row| row[0].clone()).collect();
    assert_eq!(ids, expected);
    assert!(table[1..].iter().all(|row| row[6] == "kangbashi"));
    // No personal data leaves in a spreadsheet.
    let all = table.concat().join("|");
    assert!(!all.contains("13812345678") && !all.contains("王女士"));

    // CSV carries the same rows; an unspecified format is refused.
    let mut stream = q
        .export_ledger(as_role(export(pb::ExportFormat::Csv), "dispatcher"))
        .await
        .expect("export csv")
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        csv.extend_from_slice(&chunk.data);
    }
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(expected.iter().all(|id| csv.contains(id.as_str())));
    let status = q
        .export_ledger(as_role(export(pb::ExportFormat::Unspecified), "dispatcher"))
        .await
        .expect_err("format required");
    assert_eq!(status.code(), Code::InvalidArgument);
}

fn event_types(events: &[pb::Event]) -> Vec<String> {
    events.iter().map(|e| e.event_type.clone()).collect()
}

async fn scan(server: &Server) -> pb::ScanDeadlinesResponse {
    server
        .admin()
        .await
        .scan_deadlines(as_role(pb::ScanDeadlinesRequest {}, "admin"))
        .await
        .expect("scan deadlines")
        .into_inner()
}

// Multi-threaded so dropped clients close their connections while the test
// blocks in the restart (a current-thread runtime would leave them open and
// the server would wait out its shutdown grace period).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_watcher_warns_once_and_survives_a_restart_between_yellow_and_red() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = october_morning();
    let mut clock = TestClock::new(dir.path(), t0);
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &clock.args());
    let mut c = server.complaints().await;
    let submitted = submit(&mut c, "营业执照办理超时").await;
    let view = get(&mut c, &submitted.id).await;
    let dispatch = view
        .deadlines
        .iter()
        .find(|d| d.milestone == pb::Milestone::Dispatch as i32)
        .expect("a dispatch deadline");
    let due = rectify::wire::from_timestamp(dispatch.due_at.as_ref().unwrap()).unwrap();
    let catalog = rectify_catalog::Catalog::embedded().unwrap();
    let yellow_at = catalog.deadline_policy().yellow_at(t0, due);
    assert!(t0 < yellow_at && yellow_at < due);

    // Before the yellow mark: nothing.
    clock.set(yellow_at - Duration::seconds(1));
    let report = scan(&server).await;
    assert_eq!((report.yellow, report.red), (0, 0));

    // Past it: one yellow warning, and only one however often the watcher runs.
    clock.set(yellow_at + Duration::seconds(1));
    assert_eq!(
        (scan(&server).await.yellow, scan(&server).await.yellow),
        (1, 0)
    );

    // Restart between yellow and red: still nothing new.
    drop(c);
    let server = server.restart();
    let mut c = server.complaints().await;
    let report = scan(&server).await;
    assert_eq!((report.yellow, report.red), (0, 0));

    // Past due: one red warning.
    clock.set(due + Duration::minutes(1));
    let report = scan(&server).await;
    assert_eq!((report.yellow, report.red), (0, 1));
    let report = scan(&server).await;
    assert_eq!((report.yellow, report.red), (0, 0));

    let events = history(&mut c, &submitted.id).await;
    let types = event_types(&events);
    assert_eq!(
        types.iter().filter(|t| *t == "DeadlineWarned").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| *t == "DeadlineMissed").count(),
        1,
        "{types:?}"
    );
    let warned = events
        .iter()
        .find(|e| e.event_type == "DeadlineMissed")
        .unwrap();
    assert_eq!(warned.actor, rectify::server::watcher::WATCHER_PRINCIPAL);

    // Warnings reach subscribers like any event.
    let mut events_client = server.events().await;
    let mut subscription = events_client
        .subscribe(as_role(
            pb::SubscribeRequest {
                from_position: 1,
                filter: Some(pb::EventFilter {
                    stream_prefix: String::new(),
                    event_types: vec!["DeadlineWarned".into(), "DeadlineMissed".into()],
                }),
            },
            "hotline",
        ))
        .await
        .expect("subscribe")
        .into_inner();
    let first = subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    let second = subscription
        .message()
        .await
        .unwrap()
        .unwrap()
        .event
        .unwrap();
    assert_eq!(
        [first.event_type.as_str(), second.event_type.as_str()],
        ["DeadlineWarned", "DeadlineMissed"]
    );

    // The ledger shows the red warning and the overdue complaint.
    let head = head(&server).await;
    let mut q = server.queries().await;
    let overdue = list(
        &mut q,
        "supervisor",
        pb::LedgerFilter {
            overdue_only: true,
            min_warning: pb::WarningLevel::Red as i32,
            ..Default::default()
        },
        10,
        String::new(),
        head,
    )
    .await;
    assert_eq!(overdue.total, 1);
    assert_eq!(overdue.rows[0].warning, pb::WarningLevel::Red as i32);
    assert!(overdue.rows[0].overdue);
}

/// One complaint from intake to callback at power-bureau.
async fn through_callback(
    c: &mut rectify::pb::complaint_service_client::ComplaintServiceClient<Channel>,
    title: &str,
    outcome: pb::RecordCallbackRequest,
) -> String {
    let (id, lead) = submit_and_dispatch(c, title).await;
    assert_eq!(lead, "power-bureau");
    accept(c, &id, &lead).await;
    resolve(c, &id, &lead, "已送电", &[]).await;
    verify(c, &id).await;
    record_callback(c, &id, outcome).await;
    id
}

#[tokio::test]
async fn three_rates_of_a_hand_built_month_equal_hand_computed_values() {
    use pb::Satisfaction as S;

    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(dir.path(), october_morning());
    let server = Server::start_with(&dir.path().join("data"), &clock.args());
    let mut c = server.complaints().await;

    // Valid callbacks: A contacted/solved/满意, B contacted/solved/基本满意,
    // C contacted/unsolved/不满意, D not reached. E is not a valid callback;
    // F's bad callback is removed by an upheld appeal.
    through_callback(&mut c, "A", callback(true, true, true, S::Satisfied)).await;
    through_callback(
        &mut c,
        "B",
        callback(true, true, true, S::BasicallySatisfied),
    )
    .await;
    through_callback(&mut c, "C", callback(true, true, false, S::Unsatisfied)).await;
    through_callback(&mut c, "D", callback(true, false, false, S::Unspecified)).await;
    through_callback(&mut c, "E", callback(false, true, true, S::Satisfied)).await;
    let f = through_callback(&mut c, "F", callback(true, true, false, S::Unsatisfied)).await;
    c.file_appeal(as_unit(
        pb::FileAppealRequest {
            complaint_id: f.clone(),
            reason: "诉求人要求超出政策范围".into(),
            ..Default::default()
        },
        "power-bureau",
    ))
    .await
    .expect("appeal");
    let decided = c
        .decide_appeal(as_role(
            pb::DecideAppealRequest {
                complaint_id: f,
                upheld: true,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("decide appeal")
        .into_inner()
        .result
        .unwrap();

    let mut q = server.queries().await;
    // The ledger filters by satisfaction: C and F were unsatisfied.
    let unsatisfied = filtered(
        &mut q,
        pb::LedgerFilter {
            satisfaction: S::Unsatisfied as i32,
            statuses: vec![pb::ComplaintStatus::CalledBack as i32],
            ..Default::default()
        },
        decided.position,
    )
    .await;
    let titles: BTreeSet<String> = unsatisfied.rows.iter().map(|r| r.title.clone()).collect();
    assert_eq!(titles, BTreeSet::from(["C".to_owned(), "F".to_owned()]));
    let per_unit = |period: &str| pb::GetEvaluationRequest {
        period: period.into(),
        group_by: pb::EvaluationGroup::Unit as i32,
        ..Default::default()
    };
    let evaluation = q
        .get_evaluation(as_role(
            pb::GetEvaluationRequest {
                min_position: decided.position,
                ..per_unit("2026-10")
            },
            "supervisor",
        ))
        .await
        .expect("evaluation")
        .into_inner();
    let power = evaluation
        .groups
        .iter()
        .find(|g| g.key == "power-bureau")
        .expect("power-bureau evaluated");
    assert_eq!(power.valid_callbacks, 4);
    assert_eq!(power.appeal_excluded, 1);
    assert_eq!(power.callbacks, 6);
    let assert_close = |a: Option<f64>, b: f64| {
        assert!((a.expect("a rate") - b).abs() < 1e-9, "{a:?}, wanted {b}");
    };
    // response = 3/4, resolution = 2/4, satisfaction = (1 + 0.9)/4.
    assert_close(power.response_rate, 0.75);
    assert_close(power.resolution_rate, 0.5);
    assert_close(power.satisfaction_rate, 0.475);
    // 100 × (0.1 × 0.75 + 0.5 × 0.5 + 0.4 × 0.475) = 51.5
    assert_close(power.composite_score, 51.5);
    assert_eq!((power.dispatched, power.accepted_on_time), (6, 6));
    assert_close(power.return_rate, 0.0);
    assert_eq!(evaluation.red_list, vec!["power-bureau".to_owned()]);

    // Weights 30/35/35: 100 × (0.3 × 0.75 + 0.35 × 0.5 + 0.35 × 0.475) = 56.625
    let weighted = q
        .get_evaluation(as_role(
            pb::GetEvaluationRequest {
                period: "2026-Q4".into(),
                group_by: pb::EvaluationGroup::District as i32,
                response_weight: 30.0,
                resolution_weight: 35.0,
                satisfaction_weight: 35.0,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("evaluation")
        .into_inner();
    let dongsheng = &weighted.groups[0];
    assert_eq!(dongsheng.key, "dongsheng");
    assert_close(dongsheng.composite_score, 56.625);

    // Another month holds nothing; a bad period names the field; units may
    // not read the evaluation.
    let november = q
        .get_evaluation(as_role(per_unit("2026-11"), "dispatcher"))
        .await
        .expect("evaluation")
        .into_inner();
    assert!(november.groups.iter().all(|g| g.valid_callbacks == 0));
    let bad = q
        .get_evaluation(as_role(per_unit("2026-13"), "dispatcher"))
        .await
        .expect_err("bad period");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("period"));
    let denied = q
        .get_evaluation(as_unit(per_unit("2026-10"), "power-bureau"))
        .await
        .expect_err("units may not read the evaluation");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_rebuild_replays_the_log_into_the_same_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mut c = server.complaints().await;
    for n in 0..4 {
        let id = submit(&mut c, &format!("重建测试{n}")).await.id;
        if n % 2 == 0 {
            classify_and_dispatch(&mut c, &id).await;
        }
    }
    let head = head(&server).await;
    let mut q = server.queries().await;
    let before = filtered(&mut q, pb::LedgerFilter::default(), head).await;
    drop((c, q));
    assert!(server.stop().success());

    let stdout = admin_offline("rebuild", &[&data]);
    assert!(
        stdout.contains(&format!("rebuilt the ledger: {head} events, 4 complaints")),
        "{stdout}"
    );

    let server = Server::start(&data);
    let mut q = server.queries().await;
    let after = filtered(&mut q, pb::LedgerFilter::default(), head).await;
    assert_eq!(before.rows, after.rows);
    assert_eq!(after.applied_position, head);
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_when_complaints_arrive_between_them() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut q = server.queries().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(submit(&mut c, &format!("分页{n}")).await.id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut arrived = false;
    loop {
        let head = head(&server).await;
        let page = page_of(&mut q, 2, token, head).await;
        seen.extend(page.rows.iter().map(|r| r.complaint_id.clone()));
        if !arrived {
            // Two more arrive after the first page was served.
            for n in 5..7 {
                ids.push(submit(&mut c, &format!("分页{n}")).await.id);
            }
            arrived = true;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen, ids,
        "oldest first, each complaint once, late arrivals included"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_the_deadline_watcher_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = october_morning();
    let mut clock = TestClock::new(dir.path(), t0);
    let mut args = clock.args();
    args.extend(["--deadline-scan-interval-s".to_owned(), "1".to_owned()]);
    let server = Server::start_with(&dir.path().join("data"), &args);
    let mut c = server.complaints().await;
    let submitted = submit(&mut c, "定时预警").await;
    // Far past every deadline: the next periodic pass records the red warning.
    clock.set(t0 + Duration::days(30));
    let mut events = server.events().await;
    let mut subscription = events
        .subscribe(as_role(
            pb::SubscribeRequest {
                from_position: submitted.position,
                filter: Some(pb::EventFilter {
                    stream_prefix: format!("complaint-{}", submitted.id),
                    event_types: vec!["DeadlineMissed".into()],
                }),
            },
            "hotline",
        ))
        .await
        .expect("subscribe")
        .into_inner();
    // Waits on the event itself; the bound only keeps a broken watcher from
    // hanging the suite.
    let missed = tokio::time::timeout(std::time::Duration::from_secs(30), subscription.message())
        .await
        .expect("a periodic pass within 30 s")
        .expect("the stream")
        .expect("an event")
        .event
        .unwrap();
    assert_eq!(missed.event_type, "DeadlineMissed");
    assert_eq!(missed.actor, rectify::server::watcher::WATCHER_PRINCIPAL);
}
