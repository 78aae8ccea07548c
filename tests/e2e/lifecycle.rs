//! Complaints through the real server from intake to close: the whole
//! workflow, restarts, idempotent retries, unit scoping and masking,
//! optimistic concurrency, subscriptions, read-your-writes waits and the
//! README's CLI walkthrough.

use std::time::Duration;

use futures::StreamExt as _;
use rectify::pb::{self, complaint_service_client::ComplaintServiceClient};
use tonic::{Code, Request, transport::Channel};

use crate::support::{
    Server, accept, as_role, as_unit, callback, classify_and_dispatch, cli, get, head, history,
    options, read_log, record_callback, resolve, submit, submit_and_dispatch, submit_as_hotline,
    submit_request, verify,
};

type Complaints = ComplaintServiceClient<Channel>;

#[tokio::test]
async fn full_lifecycle_with_return_extension_reopen_and_close() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let submitted = submit(&mut c, "用电报装迟迟不接电").await;
    let id = submitted.id.clone();
    assert_eq!(submitted.version, 0);
    assert_eq!(submitted.status, pb::ComplaintStatus::Received as i32);

    let first_lead = classify_and_dispatch(&mut c, &id).await;
    assert_eq!(
        first_lead, "power-bureau",
        "获得电力 routes to 鄂尔多斯电业局"
    );
    let lead = returned_and_redispatched(&mut c, &id, &first_lead).await;
    accepted_handled_and_extended(&mut c, &id, &lead).await;
    resolved_reopened_and_resolved_again(&mut c, &id, &lead).await;
    let closed = c
        .close_complaint(as_role(
            pb::CloseComplaintRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("close")
        .into_inner()
        .result
        .unwrap();
    assert_eq!(closed.status, pb::ComplaintStatus::Closed as i32);
    history_tells_the_whole_story(&mut c, &id, &lead, &closed).await;
}

/// 退单: the lead unit returns it; the dispatcher re-dispatches by override
/// to 住建局 with 电业局 responsible. Returns the new lead.
async fn returned_and_redispatched(c: &mut Complaints, id: &str, first_lead: &str) -> String {
    c.return_assignment(as_unit(
        pb::ReturnAssignmentRequest {
            complaint_id: id.into(),
            reason: "属于住建部门职责".into(),
            ..Default::default()
        },
        first_lead,
    ))
    .await
    .expect("return");
    assert_eq!(
        get(c, id).await.status,
        pb::ComplaintStatus::AwaitingDispatch as i32
    );
    let redispatched = c
        .dispatch_complaint(as_role(
            pb::DispatchComplaintRequest {
                complaint_id: id.into(),
                lead_unit: "housing-construction".into(),
                responsible_units: vec!["power-bureau".into()],
                override_reason: "外线工程涉及市政审批".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("re-dispatch")
        .into_inner();
    assert_eq!(redispatched.lead_unit, "housing-construction");
    assert_eq!(redispatched.routing_rule, "override");
    redispatched.lead_unit
}

/// The lead accepts, records a step and is granted a week's extension; a
/// responsible unit may not resolve.
async fn accepted_handled_and_extended(c: &mut Complaints, id: &str, lead: &str) {
    accept(c, id, lead).await;
    c.record_step(as_unit(
        pb::RecordStepRequest {
            complaint_id: id.into(),
            description: "电话联系企业，约定现场勘查".into(),
            evidence: vec!["call-20261122-01".into()],
            contacted_submitter: true,
            ..Default::default()
        },
        lead,
    ))
    .await
    .expect("step");
    let due = get(c, id)
        .await
        .deadlines
        .iter()
        .find(|d| d.milestone == pb::Milestone::Resolve as i32)
        .and_then(|d| d.due_at)
        .expect("a resolve deadline");
    c.request_extension(as_unit(
        pb::RequestExtensionRequest {
            complaint_id: id.into(),
            reason: "需协调电网改造".into(),
            requested_due_at: Some(prost_types::Timestamp {
                seconds: due.seconds + 7 * 86_400,
                nanos: 0,
            }),
            ..Default::default()
        },
        lead,
    ))
    .await
    .expect("request extension");
    c.grant_extension(as_role(
        pb::GrantExtensionRequest {
            complaint_id: id.into(),
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("grant extension");
    let resp_unit_resolve = c
        .submit_resolution(as_unit(
            pb::SubmitResolutionRequest {
                complaint_id: id.into(),
                result: "试图越权办结".into(),
                ..Default::default()
            },
            "power-bureau",
        ))
        .await
        .expect_err("a responsible unit cannot resolve");
    assert_eq!(resp_unit_resolve.code(), Code::PermissionDenied);
}

/// Two rounds of resolve, verify and callback: the unsatisfied first
/// callback reopens the complaint, the second is satisfied.
async fn resolved_reopened_and_resolved_again(c: &mut Complaints, id: &str, lead: &str) {
    for round in 0..2 {
        let result = format!("第{}次办结：已完成外线接入", round + 1);
        resolve(c, id, lead, &result, &["acceptance-report"]).await;
        verify(c, id).await;
        let satisfied = round == 1;
        let satisfaction = if satisfied {
            pb::Satisfaction::Satisfied
        } else {
            pb::Satisfaction::Unsatisfied
        };
        record_callback(c, id, callback(true, true, satisfied, satisfaction)).await;
        if !satisfied {
            c.reopen_complaint(as_role(
                pb::ReopenComplaintRequest {
                    complaint_id: id.into(),
                    reason: "企业反映仍未通电".into(),
                    ..Default::default()
                },
                "dispatcher",
            ))
            .await
            .expect("reopen");
        }
    }
}

/// The closed complaint counts one return, extension and reopening, and its
/// history holds every step in order, gapless, each with its actor.
async fn history_tells_the_whole_story(
    c: &mut Complaints,
    id: &str,
    lead: &str,
    closed: &pb::CommandResult,
) {
    let view = get(c, id).await;
    assert_eq!(view.return_count, 1);
    assert_eq!(view.extension_count, 1);
    assert_eq!(view.reopen_count, 1);

    let history = history(c, id).await;
    let types: Vec<&str> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "ComplaintReceived",
            "ComplaintClassified",
            "ComplaintDispatched",
            "AssignmentReturned",
            "ComplaintDispatched",
            "AssignmentAccepted",
            "RectificationStepRecorded",
            "ExtensionRequested",
            "ExtensionGranted",
            "ResolutionSubmitted",
            "ResolutionVerified",
            "CallbackRecorded",
            "ComplaintReopened",
            "ResolutionSubmitted",
            "ResolutionVerified",
            "CallbackRecorded",
            "ComplaintClosed",
        ]
    );
    for (version, event) in history.iter().enumerate() {
        assert_eq!(event.version, version as u64, "versions are gapless");
        assert!(!event.actor.is_empty(), "every event names its actor");
    }
    assert_eq!(history[0].actor, "test-hotline");
    assert_eq!(history[5].actor, format!("clerk@{lead}"));
    assert!(
        history.windows(2).all(|w| w[0].position < w[1].position),
        "positions increase"
    );
    assert_eq!(closed.version, history.len() as u64 - 1);
}

// Multi-threaded: `stop` blocks while the server shuts down gracefully, and
// the client connections must keep answering its HTTP/2 pings meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_state_and_history() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let (id, _) = submit_and_dispatch(&mut c, "燃气报装收费不透明").await;
    let before = get(&mut c, &id).await;
    let head_before = head(&server).await;
    drop(c);

    let server = server.restart();
    let mut c = server.complaints().await;
    let after = get(&mut c, &id).await;
    assert_eq!(before, after);
    assert_eq!(head(&server).await, head_before);
    let history = history(&mut c, &id).await;
    assert_eq!(history.len(), 3);
    // The log keeps growing from where it was.
    let next = submit(&mut c, "第二件诉求").await;
    assert_eq!(next.position, head_before + 1);
    let status = server.stop();
    assert!(status.success(), "clean exit on SIGTERM, got {status}");
}

#[tokio::test]
async fn retried_submit_with_same_request_id_is_written_once() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut first_request = submit_request("重复提交的诉求");
    first_request.options = options("hotline-ticket-0001");
    let first = submit_as_hotline(&mut c, first_request.clone()).await;
    let retry = submit_as_hotline(&mut c, first_request).await;
    assert_eq!(retry.id, first.id);
    assert_eq!(retry.position, first.position);
    assert_eq!(retry.version, first.version);
    assert!(!first.deduplicated);
    assert!(retry.deduplicated);
    let received = read_log(
        &server,
        "supervisor",
        Some(pb::EventFilter {
            stream_prefix: String::new(),
            event_types: vec!["ComplaintReceived".into()],
        }),
    )
    .await;
    assert_eq!(received.len(), 1, "the log holds one complaint");

    // The same key on a command for another complaint is a client bug.
    let other = submit(&mut c, "另一件诉求").await;
    let status = c
        .classify_complaint(as_role(
            pb::ClassifyComplaintRequest {
                options: options("hotline-ticket-0001"),
                complaint_id: other.id.clone(),
                area: "getting-electricity".into(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            "hotline",
        ))
        .await
        .expect_err("a request id already used for another complaint");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("request_id"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn units_see_only_their_complaints_and_personal_data_is_masked() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let (id, lead) = submit_and_dispatch(&mut c, "用电报装").await;
    let get_as = |request: Request<pb::GetComplaintRequest>| {
        let mut c = c.clone();
        async move { c.get_complaint(request).await }
    };
    let request = || pb::GetComplaintRequest {
        complaint_id: id.clone(),
        min_position: 0,
    };
    let status = get_as(as_unit(request(), "tax-bureau"))
        .await
        .expect_err("an unassigned unit");
    assert_eq!(status.code(), Code::PermissionDenied);
    let assigned = get_as(as_unit(request(), &lead))
        .await
        .unwrap()
        .into_inner();
    let submitter = assigned.complaint.unwrap().submitter.unwrap();
    assert_eq!(
        submitter.phone, "13812345678",
        "the handling unit calls the submitter"
    );
    let supervised = get_as(as_role(request(), "supervisor"))
        .await
        .unwrap()
        .into_inner();
    let view = supervised.complaint.unwrap();
    let submitter = view.submitter.unwrap();
    assert_eq!(submitter.phone, "138****5678");
    assert_eq!(submitter.name, "王**");
    assert!(
        !view.state_json.contains("13812345678"),
        "{}",
        view.state_json
    );
    let history = history(&mut c, &id).await;
    assert!(
        history[0].payload_json.contains("138****5678"),
        "{}",
        history[0].payload_json
    );
    assert!(
        !history
            .iter()
            .any(|e| e.payload_json.contains("13812345678"))
    );
    let status = c
        .get_complaint(Request::new(request()))
        .await
        .expect_err("no role");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn concurrent_commands_with_the_same_expected_version_one_wins() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let submitted = submit(&mut c, "并发冲突测试").await;
    let classify = |area: &str| {
        as_role(
            pb::ClassifyComplaintRequest {
                options: Some(pb::CommandOptions {
                    expected_version: Some(submitted.version),
                    ..Default::default()
                }),
                complaint_id: submitted.id.clone(),
                area: area.into(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            "dispatcher",
        )
    };
    let mut a = server.complaints().await;
    let mut b = server.complaints().await;
    let (ra, rb) = tokio::join!(
        a.classify_complaint(classify("getting-electricity")),
        b.classify_complaint(classify("starting-a-business")),
    );
    let outcomes = [ra.map(|_| ()), rb.map(|_| ())];
    let ok = outcomes.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one wins: {outcomes:?}");
    let loser = outcomes.into_iter().find_map(Result::err).unwrap();
    assert_eq!(loser.code(), Code::Aborted, "{loser:?}");
    assert!(loser.message().contains("current 1"), "{}", loser.message());
    assert_eq!(get(&mut c, &submitted.id).await.version, 1);
}

#[tokio::test]
async fn subscriptions_before_and_after_a_burst_see_every_event_once() {
    let server = Server::fresh();
    let mut events = server.events().await;
    let subscribe = || {
        as_role(
            pb::SubscribeRequest {
                from_position: 1,
                filter: None,
            },
            "hotline",
        )
    };
    let mut early = events.subscribe(subscribe()).await.unwrap().into_inner();
    let mut c = server.complaints().await;
    let mut handles = Vec::new();
    for n in 0..10 {
        let mut client = server.complaints().await;
        handles.push(tokio::spawn(async move {
            submit_and_dispatch(&mut client, &format!("批量诉求{n}")).await;
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    submit(&mut c, "最后一件").await;
    let total = head(&server).await;
    assert_eq!(total, 31);
    let mut late = events.subscribe(subscribe()).await.unwrap().into_inner();
    for stream in [&mut early, &mut late] {
        let mut positions = Vec::new();
        while positions.len() < total as usize {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("events keep coming")
                .expect("the stream stays open")
                .expect("no error");
            positions.push(next.event.unwrap().position);
        }
        assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    }
    // Live delivery after catch-up, on both.
    let live = submit(&mut c, "订阅后的诉求").await;
    for stream in [&mut early, &mut late] {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next.event.unwrap().position, live.position);
    }
}

/// The README's five-minute walkthrough, command for command.
#[tokio::test]
async fn readme_walkthrough_runs_from_submit_to_close() {
    let server = Server::fresh();
    let out = cli(
        &server,
        &[
            "complaint",
            "submit",
            "--as",
            "hotline",
            "--id",
            "RC-0001",
            "--channel",
            "hotline",
            "--name",
            "王女士",
            "--phone",
            "13812345678",
            "--district",
            "dongsheng",
            "--title",
            "用电报装迟迟不接电",
            "--text",
            "新建厂房申请用电报装，两个月还没有接电，影响投产。",
        ],
    );
    assert!(out.contains("submitted RC-0001: status received"), "{out}");
    assert!(
        out.contains("getting-electricity"),
        "suggestions name 获得电力: {out}"
    );
    let steps: &[&[&str]] = &[
        &[
            "complaint",
            "classify",
            "RC-0001",
            "--as",
            "dispatcher",
            "--area",
            "getting-electricity",
            "--urgency",
            "normal",
        ],
        &["complaint", "dispatch", "RC-0001", "--as", "dispatcher"],
        &[
            "complaint",
            "accept",
            "RC-0001",
            "--as",
            "unit",
            "--unit",
            "power-bureau",
        ],
        &[
            "complaint",
            "step",
            "RC-0001",
            "--as",
            "unit",
            "--unit",
            "power-bureau",
            "--description",
            "电话联系企业，现场勘查",
            "--contacted",
            "--evidence",
            "photo-001",
        ],
        &[
            "complaint",
            "resolve",
            "RC-0001",
            "--as",
            "unit",
            "--unit",
            "power-bureau",
            "--result",
            "外线工程已完工并送电",
        ],
        &["complaint", "verify", "RC-0001", "--as", "dispatcher"],
        &[
            "complaint",
            "callback",
            "RC-0001",
            "--as",
            "hotline",
            "--satisfaction",
            "satisfied",
            "--solved",
        ],
        &["complaint", "close", "RC-0001", "--as", "dispatcher"],
    ];
    for step in steps {
        cli(&server, step);
    }
    let history = cli(
        &server,
        &["complaint", "history", "RC-0001", "--as", "supervisor"],
    );
    assert_eq!(history.lines().count(), 9, "{history}");
    assert!(history.contains("ComplaintClosed"), "{history}");
    let shown = cli(&server, &["complaint", "show", "RC-0001", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&shown).expect("--json prints JSON");
    assert_eq!(
        json["complaint"]["status"], "COMPLAINT_STATUS_CLOSED",
        "{shown}"
    );
    assert_eq!(json["complaint"]["leadUnit"], "power-bureau", "{shown}");
    let verified = cli(&server, &["admin", "verify", "--as", "supervisor"]);
    assert!(
        verified.contains("hash chain verified: 9 events"),
        "{verified}"
    );
}

/// `min_position` waits for the log to reach a position, bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_wait_for_the_position_a_command_will_reach() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let first = submit(&mut c, "第一件").await;
    let wanted = first.position + 1;
    let mut reader = c.clone();
    let id = first.id.clone();
    let (read, written) = tokio::join!(
        async move {
            reader
                .get_complaint(as_role(
                    pb::GetComplaintRequest {
                        complaint_id: id,
                        min_position: wanted,
                    },
                    "dispatcher",
                ))
                .await
        },
        submit(&mut c, "第二件"),
    );
    assert_eq!(written.position, wanted);
    assert_eq!(
        read.expect("answered once the position was reached")
            .into_inner()
            .complaint
            .unwrap()
            .complaint_id,
        first.id
    );

    let status = c
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: first.id.clone(),
                min_position: wanted + 1_000,
            },
            "dispatcher",
        ))
        .await
        .expect_err("a position nobody writes");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("timed out waiting"),
        "{}",
        status.message()
    );
}
