//! Hostile input, as a table: each malformed or refused request gets the
//! status it should, with a message naming what is wrong, and the log is
//! byte-for-byte what it was before the table ran.
//!
//! The rows are built per service ([`intake_cases`], [`workflow_cases`],
//! [`query_cases`], [`ledger_and_log_cases`]) against one [`Target`]; the
//! test runs them all, in that order, and then compares the whole log.

use std::{future::Future, pin::Pin};

use rectify::pb::{
    self, complaint_service_client::ComplaintServiceClient,
    event_service_client::EventServiceClient, ledger_service_client::LedgerServiceClient,
    query_service_client::QueryServiceClient,
};
use tonic::{Code, Status, transport::Channel};

use crate::support::{
    Server, as_role, as_unit, get, options, read_log, submit, submit_and_dispatch, submit_request,
};

type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// One row: the case, the code it must get, text its message must contain,
/// and the call.
type Case = (&'static str, Code, &'static str, Call);

/// Wraps an RPC future as a table cell's call.
fn call<T: Send + 'static>(
    future: impl Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
) -> Call {
    Box::pin(async move { future.await.map(|_| ()) })
}

/// What the rows are aimed at: the clients, and complaints in two states.
struct Target {
    complaints: ComplaintServiceClient<Channel>,
    queries: QueryServiceClient<Channel>,
    ledgers: LedgerServiceClient<Channel>,
    events: EventServiceClient<Channel>,
    /// A complaint awaiting triage.
    received: String,
    /// A complaint dispatched to `lead`, at `version`.
    dispatched: String,
    lead: String,
    version: u64,
}

impl Target {
    /// Submits 恶意输入 as the hotline, edited by `edit`.
    fn submit_with(&self, edit: impl FnOnce(&mut pb::SubmitComplaintRequest)) -> Call {
        let mut request = submit_request("恶意输入");
        edit(&mut request);
        let mut c = self.complaints.clone();
        call(async move { c.submit_complaint(as_role(request, "hotline")).await })
    }

    /// Dispatches the received complaint by override, edited by `edit`.
    fn dispatch_with(&self, edit: impl FnOnce(&mut pb::DispatchComplaintRequest)) -> Call {
        let mut request = pb::DispatchComplaintRequest {
            complaint_id: self.received.clone(),
            lead_unit: "power-bureau".into(),
            override_reason: "人工指定".into(),
            ..Default::default()
        };
        edit(&mut request);
        let mut c = self.complaints.clone();
        call(async move { c.dispatch_complaint(as_role(request, "dispatcher")).await })
    }

    /// Classifies the received complaint as the dispatch centre, edited by
    /// `edit`.
    fn classify_with(&self, edit: impl FnOnce(&mut pb::ClassifyComplaintRequest)) -> Call {
        let mut request = pb::ClassifyComplaintRequest {
            complaint_id: self.received.clone(),
            area: "getting-electricity".into(),
            urgency: pb::Urgency::Normal as i32,
            ..Default::default()
        };
        edit(&mut request);
        let mut c = self.complaints.clone();
        call(async move { c.classify_complaint(as_role(request, "dispatcher")).await })
    }

    /// Lists the ledger as the dispatch centre, edited by `edit`.
    fn list_with(&self, edit: impl FnOnce(&mut pb::ListLedgerRequest)) -> Call {
        let mut request = pb::ListLedgerRequest::default();
        edit(&mut request);
        let mut q = self.queries.clone();
        call(async move { q.list_ledger(as_role(request, "dispatcher")).await })
    }

    fn complaints(&self) -> ComplaintServiceClient<Channel> {
        self.complaints.clone()
    }
}

/// Intake: required fields, limits, enums, identifiers.
fn intake_cases(t: &Target) -> Vec<Case> {
    let note = |role: &'static str| {
        let mut c = t.complaints.clone();
        let request = pb::RecordLiaisonNoteRequest {
            complaint_id: t.dispatched.clone(),
            note: "已联系企业".into(),
            contacted: true,
            ..Default::default()
        };
        call(async move { c.record_liaison_note(as_role(request, role)).await })
    };
    vec![
        (
            "unregistered station",
            Code::InvalidArgument,
            "station_code",
            t.submit_with(|r| {
                r.channel = pb::Channel::QrCode as i32;
                r.station_code = "no-such-station".into();
            }),
        ),
        (
            "unregistered experience officer",
            Code::InvalidArgument,
            "officer_id",
            t.submit_with(|r| {
                r.channel = pb::Channel::ExperienceOfficer as i32;
                r.officer_id = "TYG-NOBODY".into();
            }),
        ),
        (
            "liaison note by the dispatch centre",
            Code::PermissionDenied,
            "liaison cadre",
            note("dispatcher"),
        ),
        (
            "liaison note on a complaint without a cadre",
            Code::PermissionDenied,
            "no liaison cadre",
            note("liaison"),
        ),
        (
            "empty title",
            Code::InvalidArgument,
            "title",
            t.submit_with(|r| r.title.clear()),
        ),
        (
            "blank text",
            Code::InvalidArgument,
            "text",
            t.submit_with(|r| r.text = " \n ".into()),
        ),
        (
            "oversize title",
            Code::InvalidArgument,
            "title",
            t.submit_with(|r| r.title = "标".repeat(201)),
        ),
        (
            "oversize text",
            Code::InvalidArgument,
            "text",
            t.submit_with(|r| r.text = "长".repeat(10_001)),
        ),
        (
            "control characters",
            Code::InvalidArgument,
            "title",
            t.submit_with(|r| r.title = "a\u{0}b".into()),
        ),
        (
            "unknown channel",
            Code::InvalidArgument,
            "channel",
            t.submit_with(|r| r.channel = 99),
        ),
        (
            "unspecified channel",
            Code::InvalidArgument,
            "channel",
            t.submit_with(|r| r.channel = 0),
        ),
        (
            "unspecified kind",
            Code::InvalidArgument,
            "kind",
            t.submit_with(|r| r.kind = 0),
        ),
        (
            "missing submitter",
            Code::InvalidArgument,
            "submitter",
            t.submit_with(|r| r.submitter = None),
        ),
        (
            "phone with letters",
            Code::InvalidArgument,
            "submitter.phone",
            t.submit_with(|r| r.submitter.as_mut().unwrap().phone = "call 138".into()),
        ),
        (
            "oversize name",
            Code::InvalidArgument,
            "submitter.name",
            t.submit_with(|r| r.submitter.as_mut().unwrap().name = "名".repeat(101)),
        ),
        (
            "unknown district",
            Code::InvalidArgument,
            "district",
            t.submit_with(|r| r.district = "atlantis".into()),
        ),
        (
            "id with spaces",
            Code::InvalidArgument,
            "complaint_id",
            t.submit_with(|r| r.complaint_id = "RC 1".into()),
        ),
        (
            "oversize id",
            Code::InvalidArgument,
            "complaint_id",
            t.submit_with(|r| r.complaint_id = "x".repeat(65)),
        ),
        // A caller-chosen id that is taken: intake skips reading the new
        // stream, so the store's NoStream check must still refuse it.
        (
            "id already taken",
            Code::FailedPrecondition,
            "exists",
            t.submit_with(|r| r.complaint_id = t.received.clone()),
        ),
        (
            "oversize request id",
            Code::InvalidArgument,
            "request_id",
            t.submit_with(|r| r.options = options(&"k".repeat(129))),
        ),
        (
            "request id with spaces",
            Code::InvalidArgument,
            "request_id",
            t.submit_with(|r| r.options = options("a b")),
        ),
        (
            "oversize message",
            Code::OutOfRange,
            "message length",
            t.submit_with(|r| r.text = "x".repeat(2 << 20)),
        ),
    ]
}

/// Workflow: wrong state, wrong role, wrong version, unknown ids and values.
fn workflow_cases(t: &Target) -> Vec<Case> {
    vec![
        (
            "classify into an unknown area",
            Code::InvalidArgument,
            "area",
            t.classify_with(|r| r.area = "no-such-area".into()),
        ),
        (
            "classify with an unknown urgency",
            Code::InvalidArgument,
            "urgency",
            t.classify_with(|r| r.urgency = 9),
        ),
        (
            "dispatch to an unknown unit",
            Code::InvalidArgument,
            "lead_unit",
            t.dispatch_with(|r| r.lead_unit = "ministry-of-magic".into()),
        ),
        (
            "unit code with capitals",
            Code::InvalidArgument,
            "responsible_units",
            t.dispatch_with(|r| r.responsible_units = vec!["Power-Bureau".into()]),
        ),
        (
            "dispatch before triage",
            Code::FailedPrecondition,
            "received",
            t.dispatch_with(|_| {}),
        ),
        (
            "accept before dispatch",
            Code::FailedPrecondition,
            "received",
            {
                let mut c = t.complaints();
                let request = as_unit(
                    pb::AcceptAssignmentRequest {
                        complaint_id: t.received.clone(),
                        ..Default::default()
                    },
                    "power-bureau",
                );
                call(async move { c.accept_assignment(request).await })
            },
        ),
        ("unknown complaint", Code::NotFound, "no-such", {
            let mut c = t.complaints();
            let request = as_role(
                pb::ChaseUpRequest {
                    complaint_id: "no-such".into(),
                    note: "催办".into(),
                    ..Default::default()
                },
                "dispatcher",
            );
            call(async move { c.chase_up(request).await })
        }),
        ("stale expected version", Code::Aborted, "version", {
            let mut c = t.complaints();
            let request = as_role(
                pb::ChaseUpRequest {
                    complaint_id: t.dispatched.clone(),
                    note: "催办".into(),
                    options: Some(pb::CommandOptions {
                        expected_version: Some(t.version - 1),
                        ..Default::default()
                    }),
                },
                "dispatcher",
            );
            call(async move { c.chase_up(request).await })
        }),
        (
            "another unit accepts",
            Code::PermissionDenied,
            "tax-bureau",
            {
                let mut c = t.complaints();
                let request = as_unit(
                    pb::AcceptAssignmentRequest {
                        complaint_id: t.dispatched.clone(),
                        ..Default::default()
                    },
                    "tax-bureau",
                );
                call(async move { c.accept_assignment(request).await })
            },
        ),
        (
            "resolving before acceptance",
            Code::FailedPrecondition,
            "dispatched",
            {
                let mut c = t.complaints();
                let request = as_unit(
                    pb::SubmitResolutionRequest {
                        complaint_id: t.dispatched.clone(),
                        result: "已处理".into(),
                        ..Default::default()
                    },
                    "natural-resources",
                );
                call(async move { c.submit_resolution(request).await })
            },
        ),
        (
            "callback with an unknown satisfaction",
            Code::InvalidArgument,
            "satisfaction",
            {
                let mut c = t.complaints();
                let request = as_role(
                    pb::RecordCallbackRequest {
                        complaint_id: t.dispatched.clone(),
                        valid: true,
                        contacted: true,
                        solved: true,
                        satisfaction: 17,
                        ..Default::default()
                    },
                    "hotline",
                );
                call(async move { c.record_callback(request).await })
            },
        ),
        (
            "erasure without a reason",
            Code::InvalidArgument,
            "reason",
            {
                let mut c = t.complaints();
                let request = as_role(
                    pb::ErasePersonalDataRequest {
                        complaint_id: t.dispatched.clone(),
                        ..Default::default()
                    },
                    "dispatcher",
                );
                call(async move { c.erase_personal_data(request).await })
            },
        ),
        ("unknown role", Code::Unauthenticated, "role", {
            let mut c = t.complaints();
            let mut request = tonic::Request::new(submit_request("x"));
            request
                .metadata_mut()
                .insert(rectify::wire::HEADER_ROLE, "mayor".parse().unwrap());
            call(async move { c.submit_complaint(request).await })
        }),
    ]
}

/// Queries: reads of a complaint, the ledger and the evaluation.
fn query_cases(t: &Target) -> Vec<Case> {
    vec![
        (
            "get an unknown complaint",
            Code::NotFound,
            "no-such-complaint",
            {
                let mut c = t.complaints();
                let request = as_role(
                    pb::GetComplaintRequest {
                        complaint_id: "no-such-complaint".into(),
                        min_position: 0,
                    },
                    "dispatcher",
                );
                call(async move { c.get_complaint(request).await })
            },
        ),
        (
            "oversize page",
            Code::InvalidArgument,
            "page_size",
            t.list_with(|r| r.page_size = 100_000),
        ),
        (
            "forged page token",
            Code::InvalidArgument,
            "page_token",
            t.list_with(|r| r.page_token = "!!".into()),
        ),
        (
            "filter area outside the catalog format",
            Code::InvalidArgument,
            "area",
            t.list_with(|r| {
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
            t.list_with(|r| {
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
                let mut q = t.queries.clone();
                let request = as_role(
                    pb::GetEvaluationRequest {
                        period: "2026-13".into(),
                        ..Default::default()
                    },
                    "dispatcher",
                );
                call(async move { q.get_evaluation(request).await })
            },
        ),
    ]
}

/// Rectification ledgers, and the log itself.
fn ledger_and_log_cases(t: &Target) -> Vec<Case> {
    vec![
        (
            "ledger id with a slash",
            Code::InvalidArgument,
            "ledger_id",
            {
                let mut l = t.ledgers.clone();
                let request = as_role(
                    pb::OpenLedgerRequest {
                        ledger_id: "a/b".into(),
                        title: "台账".into(),
                        ..Default::default()
                    },
                    "dispatcher",
                );
                call(async move { l.open_ledger(request).await })
            },
        ),
        (
            "progress on an unknown ledger",
            Code::NotFound,
            "no-such-ledger",
            {
                let mut l = t.ledgers.clone();
                let request = as_unit(
                    pb::RecordItemProgressRequest {
                        ledger_id: "no-such-ledger".into(),
                        item_id: "x".into(),
                        note: "进展".into(),
                        ..Default::default()
                    },
                    &t.lead,
                );
                call(async move { l.record_item_progress(request).await })
            },
        ),
        (
            "too many links at once",
            Code::InvalidArgument,
            "complaint_ids",
            {
                let mut l = t.ledgers.clone();
                let request = as_role(
                    pb::LinkComplaintsRequest {
                        ledger_id: "plan-2021".into(),
                        item_id: "getting-electricity-1".into(),
                        complaint_ids: (0..10_000).map(|i| format!("RC-{i}")).collect(),
                        ..Default::default()
                    },
                    "dispatcher",
                );
                call(async move { l.link_complaints(request).await })
            },
        ),
        (
            "read log page too large",
            Code::InvalidArgument,
            "max_count",
            {
                let mut e = t.events.clone();
                let request = as_role(
                    pb::ReadLogRequest {
                        from_position: 1,
                        max_count: 1_000_000,
                        filter: None,
                    },
                    "admin",
                );
                call(async move { e.read_log(request).await })
            },
        ),
    ]
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

/// Runs the rows in order; returns a line for each that went otherwise.
async fn wrong_rows(table: Vec<Case>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (case, code, text, call) in table {
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
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_refused_requests_get_their_status_and_leave_the_log_unchanged() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let received = submit(&mut c, "已受理诉求").await.id;
    let (dispatched, lead) = submit_and_dispatch(&mut c, "已派单诉求").await;
    let version = get(&mut c, &dispatched).await.version;
    let target = Target {
        complaints: c,
        queries: server.queries().await,
        ledgers: server.ledgers().await,
        events: server.events().await,
        received,
        dispatched,
        lead,
        version,
    };
    let before = whole_log(&server).await;
    assert!(before.len() >= 4);

    let table = [
        intake_cases(&target),
        workflow_cases(&target),
        query_cases(&target),
        ledger_and_log_cases(&target),
    ]
    .into_iter()
    .flatten()
    .collect();
    let wrong = wrong_rows(table).await;
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
