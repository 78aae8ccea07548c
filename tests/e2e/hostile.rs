//! Hostile input, as a table: each malformed or refused request gets the
//! status it should, with a message naming what is wrong, and the log is
//! byte-for-byte what it was before the table ran.

use std::{future::Future, pin::Pin};

use rectify::pb::{
    self, ledger_service_client::LedgerServiceClient, query_service_client::QueryServiceClient,
};
use tonic::{Code, Status};

use crate::support::{
    Server, as_role, as_unit, classify_and_dispatch, get, options, read_log, submit, submit_request,
};

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// Wraps an RPC future as a table cell's call.
fn call<T: Send + 'static>(
    future: impl Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
) -> Call {
    Box::pin(async move { future.await.map(|_| ()) })
}

/// Every event as stored (position, id, type, schema, payload as a log
/// reader with personal data sees it, hash over the stored bytes).
async fn whole_log(server: &Server) -> Vec<(u64, String, String, u32, String, String)> {
    read_log(server, "admin", None)
        .await
        .into_iter()
        .map(|e| {
            (
                e.position,
                e.event_id,
                e.event_type,
                e.schema_version,
                e.payload_json,
                e.hash,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_refused_requests_get_their_status_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let mut c = server.complaints().await;
    let received = submit(&mut c, "已受理诉求").await.id;
    let dispatched = submit(&mut c, "已派单诉求").await.id;
    let lead = classify_and_dispatch(&mut c, &dispatched).await;
    let version = get(&mut c, &dispatched).await.version;
    let channel = server.channel().await;
    let complaints = c.clone();
    let queries = QueryServiceClient::new(channel.clone());
    let ledgers = LedgerServiceClient::new(channel.clone());
    let before = whole_log(&server).await;
    assert!(before.len() >= 4);

    let submit_with = |edit: fn(&mut pb::SubmitComplaintRequest)| {
        let mut request = submit_request("恶意输入");
        edit(&mut request);
        let mut c = complaints.clone();
        call(async move { c.submit_complaint(as_role(request, "hotline")).await })
    };
    let dispatch_with = |edit: fn(&mut pb::DispatchComplaintRequest)| {
        let mut request = pb::DispatchComplaintRequest {
            complaint_id: received.clone(),
            lead_unit: "power-bureau".into(),
            override_reason: "人工指定".into(),
            ..Default::default()
        };
        edit(&mut request);
        let mut c = complaints.clone();
        call(async move { c.dispatch_complaint(as_role(request, "dispatcher")).await })
    };
    let list_with = |edit: fn(&mut pb::ListLedgerRequest)| {
        let mut request = pb::ListLedgerRequest::default();
        edit(&mut request);
        let mut q = queries.clone();
        call(async move { q.list_ledger(as_role(request, "dispatcher")).await })
    };

    // (case, expected code, text the message must contain, the call)
    let mut table: Vec<(&str, Code, &str, Call)> = vec![
        // Intake: required fields, limits, enums, identifiers.
        (
            "empty title",
            Code::InvalidArgument,
            "title",
            submit_with(|r| r.title.clear()),
        ),
        (
            "blank text",
            Code::InvalidArgument,
            "text",
            submit_with(|r| r.text = " \n ".into()),
        ),
        (
            "oversize title",
            Code::InvalidArgument,
            "title",
            submit_with(|r| r.title = "标".repeat(201)),
        ),
        (
            "oversize text",
            Code::InvalidArgument,
            "text",
            submit_with(|r| r.text = "长".repeat(10_001)),
        ),
        (
            "control characters",
            Code::InvalidArgument,
            "title",
            submit_with(|r| r.title = "a\u{0}b".into()),
        ),
        (
            "unknown channel",
            Code::InvalidArgument,
            "channel",
            submit_with(|r| r.channel = 99),
        ),
        (
            "unspecified kind",
            Code::InvalidArgument,
            "kind",
            submit_with(|r| r.kind = 0),
        ),
        (
            "missing submitter",
            Code::InvalidArgument,
            "submitter",
            submit_with(|r| r.submitter = None),
        ),
        (
            "phone with letters",
            Code::InvalidArgument,
            "submitter.phone",
            submit_with(|r| r.submitter.as_mut().unwrap().phone = "call 138".into()),
        ),
        (
            "oversize name",
            Code::InvalidArgument,
            "submitter.name",
            submit_with(|r| r.submitter.as_mut().unwrap().name = "名".repeat(101)),
        ),
        (
            "unknown district",
            Code::InvalidArgument,
            "district",
            submit_with(|r| r.district = "atlantis".into()),
        ),
        (
            "id with spaces",
            Code::InvalidArgument,
            "complaint_id",
            submit_with(|r| r.complaint_id = "RC 1".into()),
        ),
        (
            "oversize id",
            Code::InvalidArgument,
            "complaint_id",
            submit_with(|r| r.complaint_id = "x".repeat(65)),
        ),
        (
            "oversize request id",
            Code::InvalidArgument,
            "request_id",
            submit_with(|r| r.options = options(&"k".repeat(129))),
        ),
        (
            "request id with spaces",
            Code::InvalidArgument,
            "request_id",
            submit_with(|r| r.options = options("a b")),
        ),
        (
            "oversize message",
            Code::OutOfRange,
            "message length",
            submit_with(|r| r.text = "x".repeat(2 << 20)),
        ),
        // Workflow: wrong state, wrong role, wrong version, unknown ids.
        (
            "dispatch to an unknown unit",
            Code::InvalidArgument,
            "lead_unit",
            dispatch_with(|r| r.lead_unit = "ministry-of-magic".into()),
        ),
        (
            "unit code with capitals",
            Code::InvalidArgument,
            "responsible_units",
            dispatch_with(|r| r.responsible_units = vec!["Power-Bureau".into()]),
        ),
        (
            "dispatch before triage",
            Code::FailedPrecondition,
            "received",
            dispatch_with(|_| {}),
        ),
        ("unknown complaint", Code::NotFound, "no-such", {
            let mut c = complaints.clone();
            call(async move {
                c.chase_up(as_role(
                    pb::ChaseUpRequest {
                        complaint_id: "no-such".into(),
                        note: "催办".into(),
                        ..Default::default()
                    },
                    "dispatcher",
                ))
                .await
            })
        }),
        ("stale expected version", Code::Aborted, "version", {
            let mut c = complaints.clone();
            let id = dispatched.clone();
            call(async move {
                c.chase_up(as_role(
                    pb::ChaseUpRequest {
                        complaint_id: id,
                        note: "催办".into(),
                        options: Some(pb::CommandOptions {
                            expected_version: Some(version - 1),
                            ..Default::default()
                        }),
                    },
                    "dispatcher",
                ))
                .await
            })
        }),
        (
            "another unit accepts",
            Code::PermissionDenied,
            "tax-bureau",
            {
                let mut c = complaints.clone();
                let id = dispatched.clone();
                call(async move {
                    c.accept_assignment(as_unit(
                        pb::AcceptAssignmentRequest {
                            complaint_id: id,
                            ..Default::default()
                        },
                        "tax-bureau",
                    ))
                    .await
                })
            },
        ),
        (
            "resolving before acceptance",
            Code::FailedPrecondition,
            "dispatched",
            {
                let mut c = complaints.clone();
                let id = dispatched.clone();
                call(async move {
                    c.submit_resolution(as_unit(
                        pb::SubmitResolutionRequest {
                            complaint_id: id,
                            result: "已处理".into(),
                            ..Default::default()
                        },
                        "natural-resources",
                    ))
                    .await
                })
            },
        ),
        (
            "callback with an unknown satisfaction",
            Code::InvalidArgument,
            "satisfaction",
            {
                let mut c = complaints.clone();
                let id = dispatched.clone();
                call(async move {
                    c.record_callback(as_role(
                        pb::RecordCallbackRequest {
                            complaint_id: id,
                            valid: true,
                            contacted: true,
                            solved: true,
                            satisfaction: 17,
                            ..Default::default()
                        },
                        "hotline",
                    ))
                    .await
                })
            },
        ),
        (
            "erasure without a reason",
            Code::InvalidArgument,
            "reason",
            {
                let mut c = complaints.clone();
                let id = dispatched.clone();
                call(async move {
                    c.erase_personal_data(as_role(
                        pb::ErasePersonalDataRequest {
                            complaint_id: id,
                            ..Default::default()
                        },
                        "dispatcher",
                    ))
                    .await
                })
            },
        ),
        ("unknown role", Code::Unauthenticated, "role", {
            let mut c = complaints.clone();
            call(async move {
                let mut request = tonic::Request::new(submit_request("x"));
                request
                    .metadata_mut()
                    .insert(rectify::wire::HEADER_ROLE, "mayor".parse().unwrap());
                c.submit_complaint(request).await
            })
        }),
        // Queries and ledgers.
        (
            "oversize page",
            Code::InvalidArgument,
            "page_size",
            list_with(|r| r.page_size = 100_000),
        ),
        (
            "forged page token",
            Code::InvalidArgument,
            "page_token",
            list_with(|r| r.page_token = "!!".into()),
        ),
        (
            "filter area outside the catalog format",
            Code::InvalidArgument,
            "area",
            list_with(|r| {
                r.filter = Some(pb::LedgerFilter {
                    area: "Area 51".into(),
                    ..Default::default()
                })
            }),
        ),
        (
            "unknown status in a filter",
            Code::InvalidArgument,
            "statuses",
            list_with(|r| {
                r.filter = Some(pb::LedgerFilter {
                    statuses: vec![77],
                    ..Default::default()
                })
            }),
        ),
        (
            "evaluation period that is not one",
            Code::InvalidArgument,
            "period",
            {
                let mut q = queries.clone();
                call(async move {
                    q.get_evaluation(as_role(
                        pb::GetEvaluationRequest {
                            period: "2026-13".into(),
                            ..Default::default()
                        },
                        "dispatcher",
                    ))
                    .await
                })
            },
        ),
        (
            "ledger id with a slash",
            Code::InvalidArgument,
            "ledger_id",
            {
                let mut l = ledgers.clone();
                call(async move {
                    l.open_ledger(as_role(
                        pb::OpenLedgerRequest {
                            ledger_id: "a/b".into(),
                            title: "台账".into(),
                            ..Default::default()
                        },
                        "dispatcher",
                    ))
                    .await
                })
            },
        ),
        (
            "progress on an unknown ledger",
            Code::NotFound,
            "no-such-ledger",
            {
                let mut l = ledgers.clone();
                call(async move {
                    l.record_item_progress(as_unit(
                        pb::RecordItemProgressRequest {
                            ledger_id: "no-such-ledger".into(),
                            item_id: "x".into(),
                            note: "进展".into(),
                            ..Default::default()
                        },
                        &lead,
                    ))
                    .await
                })
            },
        ),
        (
            "too many links at once",
            Code::InvalidArgument,
            "complaint_ids",
            {
                let mut l = ledgers.clone();
                call(async move {
                    l.link_complaints(as_role(
                        pb::LinkComplaintsRequest {
                            ledger_id: "plan-2021".into(),
                            item_id: "getting-electricity-1".into(),
                            complaint_ids: (0..10_000).map(|i| format!("RC-{i}")).collect(),
                            ..Default::default()
                        },
                        "dispatcher",
                    ))
                    .await
                })
            },
        ),
        (
            "read log page too large",
            Code::InvalidArgument,
            "max_count",
            {
                let mut e = server.events().await;
                call(async move {
                    e.read_log(as_role(
                        pb::ReadLogRequest {
                            from_position: 1,
                            max_count: 1_000_000,
                            filter: None,
                        },
                        "admin",
                    ))
                    .await
                })
            },
        ),
    ];

    let mut wrong = Vec::new();
    for (case, code, text, call) in table.drain(..) {
        match call.await {
            Ok(()) => wrong.push(format!("{case}: succeeded")),
            Err(status) if status.code() != code || !status.message().contains(text) => {
                wrong.push(format!(
                    "{case}: {:?} {:?} (wanted {code:?} naming {text:?})",
                    status.code(),
                    status.message()
                ));
            }
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "cases that went wrong:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        whole_log(&server).await,
        before,
        "the log changed under hostile input"
    );
}
