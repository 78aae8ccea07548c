//! Request validation: arbitrary bytes decoded (with prost) as a request
//! message and handed to the real service handlers, in process, over one
//! shared store. Properties:
//!
//! - no panic anywhere between the protobuf decoder and the event store;
//! - no hang: every call answers within [`CALL_TIMEOUT`];
//! - the status is one a client can act on ([`ALLOWED`]): a malformed or
//!   out-of-place request is the caller's error, never `INTERNAL`,
//!   `UNKNOWN` or `UNAVAILABLE`.
//!
//! Input layout: byte 0 picks the RPC (an index into [`RPCS`]), byte 1 the
//! caller's role (an index into [`ROLES`]), the rest is the request message.
//!
//! The handlers are the service structs' trait methods, called directly
//! (no socket, no HTTP/2): the tower layers in front of them (bearer tokens,
//! rate limit, metrics, request timeout) are not part of this target. The
//! store is opened once per process with `interval` durability (no fsync)
//! in a fresh directory under `fuzz/target/fuzz-data`, and seeded with the
//! plan ledger, a ledger of our own and complaints `FUZZ-1` … `FUZZ-7`, one
//! in each status from `received` to `called_back`, so that mutated seeds
//! reach the workflow's state checks rather than stopping at NOT_FOUND.
//! State carries over from one input to the next (a fuzzed callback really
//! moves `FUZZ-6` on), so a crash may need the inputs before it to
//! reproduce; the assertion message names the RPC, role and request. The
//! directory is not removed when the process ends (`fuzz/run.sh` removes
//! `fuzz/target/fuzz-data`); `RECTIFY_FUZZ_DATA=<dir>` puts it elsewhere.
//!
//! `min_position` is capped at 1: a larger one makes a query wait its full
//! five seconds for a position that will never come (DEADLINE_EXCEEDED, by
//! design), which would only slow the fuzzer down.
//!
//! Setting `RECTIFY_FUZZ_WRITE_SEEDS=<dir>` makes the first call write the
//! seed inputs of `fuzz/seeds/request_validation` into `<dir>`. Setting
//! `RECTIFY_FUZZ_STATS=<n>` prints, every `n` inputs, how many calls of each
//! RPC ended with each status (to see how deep the inputs get).

#![no_main]

use std::{
    future::Future,
    path::PathBuf,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::StreamExt as _;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use rectify::{
    pb::{
        self, admin_service_server::AdminService, catalog_service_server::CatalogService,
        complaint_service_server::ComplaintService, event_service_server::EventService,
        ledger_service_server::LedgerService, query_service_server::QueryService,
    },
    server::config::{DurabilityMode, ServerConfig},
    server::open_state,
    server::services::{Admin, CatalogApi, Complaints, Events, Ledgers, Queries},
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};
use tonic::{Code, Request, Status, metadata::MetadataValue};

/// Longest one call may take before it counts as a hang.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The statuses a request may end with.
const ALLOWED: &[Code] = &[
    Code::Ok,
    Code::InvalidArgument,
    Code::FailedPrecondition,
    Code::NotFound,
    Code::Aborted,
    Code::PermissionDenied,
    Code::AlreadyExists,
    Code::OutOfRange,
    Code::ResourceExhausted,
    Code::DeadlineExceeded,
];

/// The RPCs this target calls. Left out: `Subscribe` (a stream that never
/// ends), `Backup` (writes wherever the request says), and the RPCs whose
/// request has no fields (`ListUnits`, `ListDistricts`, `ListAreas`,
/// `VerifyLog`, `GetStoreStats`, `ImportPlan`) except `ScanDeadlines`, which
/// works over the complaints the other inputs create.
const RPCS: &[&str] = &[
    "SubmitComplaint",
    "GetComplaint",
    "GetHistory",
    "ClassifyComplaint",
    "DispatchComplaint",
    "AcceptAssignment",
    "ReturnAssignment",
    "RecordStep",
    "RequestExtension",
    "GrantExtension",
    "DenyExtension",
    "SubmitResolution",
    "VerifyResolution",
    "RejectResolution",
    "RecordCallback",
    "ReopenComplaint",
    "CloseComplaint",
    "ChaseUp",
    "FlagSupervision",
    "RecordAccountability",
    "FileAppeal",
    "DecideAppeal",
    "PauseClock",
    "ResumeClock",
    "LinkToLedgerItem",
    "OpenLedger",
    "AddItem",
    "RecordItemProgress",
    "CloseItem",
    "ReopenItem",
    "LinkComplaints",
    "CloseLedger",
    "GetLedger",
    "ListLedgers",
    "ListItems",
    "GetUnitRollup",
    "SuggestComplaints",
    "ListLedger",
    "ExportLedger",
    "GetInbox",
    "ListUnitWorkloads",
    "GetEvaluation",
    "ScanDeadlines",
    "ReadLog",
    "Route",
    "SuggestAreas",
    "ErasePersonalData",
];

/// Who calls: role, unit (for role `unit`) and principal.
#[derive(Debug, Clone, Copy)]
struct Caller {
    role: &'static str,
    unit: Option<&'static str>,
    principal: &'static str,
}

const fn caller(role: &'static str, principal: &'static str) -> Caller {
    Caller {
        role,
        unit: None,
        principal,
    }
}

const fn unit(code: &'static str, principal: &'static str) -> Caller {
    Caller {
        role: "unit",
        unit: Some(code),
        principal,
    }
}

/// The identities an input may call as. `power-bureau` is where the seeded
/// complaints are routed; `housing-construction` is a unit they are not
/// assigned to.
const ROLES: &[Caller] = &[
    caller("hotline", "fuzz-hotline"),
    caller("portal", "fuzz-portal"),
    caller("dispatcher", "fuzz-dispatcher"),
    caller("supervisor", "fuzz-supervisor"),
    caller("admin", "fuzz-admin"),
    unit("power-bureau", "clerk@power-bureau"),
    unit("housing-construction", "clerk@housing-construction"),
];

const HOTLINE: u8 = 0;
const DISPATCHER: u8 = 2;
const SUPERVISOR: u8 = 3;
const ADMIN: u8 = 4;
const POWER_BUREAU: u8 = 5;

/// The ledger the harness opens (besides the plan ledger) and its item.
const LEDGER: &str = "fuzz-ledger";
const ITEM: &str = "item-1";

struct Harness {
    runtime: tokio::runtime::Runtime,
    complaints: Complaints,
    ledgers: Ledgers,
    queries: Queries,
    admin: Admin,
    catalog: CatalogApi,
    events: Events,
    /// Kept so the directory lives as long as the process.
    _dir: tempfile::TempDir,
}

fn request<T>(message: T, who: Caller) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(HEADER_ROLE, MetadataValue::from_static(who.role));
    if let Some(unit) = who.unit {
        metadata.insert(HEADER_UNIT, MetadataValue::from_static(unit));
    }
    metadata.insert(HEADER_PRINCIPAL, MetadataValue::from_static(who.principal));
    request
}

fn rpc_index(name: &str) -> u8 {
    let index = RPCS
        .iter()
        .position(|rpc| *rpc == name)
        .unwrap_or_else(|| panic!("no RPC {name}"));
    u8::try_from(index).expect("fewer than 256 RPCs")
}

/// One input: RPC, role, encoded request.
fn input(rpc: &str, role: u8, message: &impl Message) -> Vec<u8> {
    let mut bytes = vec![rpc_index(rpc), role];
    message.encode(&mut bytes).expect("a Vec grows");
    bytes
}

/// Decodes `bytes` as `M`, calls `f` with it and drops the response.
async fn unary<M, R, F>(
    bytes: &[u8],
    who: Caller,
    f: F,
    tame: impl FnOnce(&mut M),
) -> Option<Result<(), Status>>
where
    M: Message + Default,
    F: AsyncFnOnce(Request<M>) -> Result<R, Status>,
{
    let mut message = M::decode(bytes).ok()?;
    tame(&mut message);
    Some(f(request(message, who)).await.map(drop))
}

fn keep<M>(_: &mut M) {}

macro_rules! cap_min_position {
    () => {
        |m| m.min_position = m.min_position.min(1)
    };
}

impl Harness {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let base = std::env::var_os("RECTIFY_FUZZ_DATA").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/fuzz-data")),
            PathBuf::from,
        );
        std::fs::create_dir_all(&base).expect("creating the fuzz data directory");
        let dir = tempfile::Builder::new()
            .prefix("request_validation-")
            .tempdir_in(&base)
            .expect("a data directory");
        let config = ServerConfig {
            durability: DurabilityMode::Interval,
            flush_interval_ms: 1000,
            cache_capacity_bytes: 16 << 20,
            deadline_scan_interval_s: 0,
            rate_limit_per_s: 0,
            ..ServerConfig::local(dir.path().join("data"))
        };
        let state = runtime
            .block_on(open_state(&config))
            .expect("opening the state");
        let harness = Harness {
            complaints: Complaints::new(Arc::clone(&state)),
            ledgers: Ledgers::new(Arc::clone(&state)),
            queries: Queries::new(Arc::clone(&state)),
            admin: Admin::new(Arc::clone(&state)),
            catalog: CatalogApi::new(Arc::clone(&state)),
            events: Events::new(state),
            runtime,
            _dir: dir,
        };
        harness.seed_state();
        harness
    }

    /// Runs `input`, panicking if it fails: the seeded state must exist.
    fn must(&self, bytes: &[u8]) {
        match self.call(bytes) {
            Some(Ok(())) => {}
            other => panic!("seeding {} failed: {other:?}", RPCS[usize::from(bytes[0])]),
        }
    }

    /// Complaints FUZZ-1 … FUZZ-7 in statuses received … called_back, the
    /// plan ledger and `fuzz-ledger` with `item-1`, linked to FUZZ-4.
    fn seed_state(&self) {
        self.runtime
            .block_on(self.ledgers.import_plan(request(
                pb::ImportPlanRequest {},
                ROLES[usize::from(DISPATCHER)],
            )))
            .expect("importing the plan");
        // FUZZ-n takes the first n steps: received, awaiting_dispatch,
        // dispatched, in_progress, resolved, verified, called_back.
        for n in 1..=7 {
            let id = format!("FUZZ-{n}");
            let steps = [
                input("SubmitComplaint", HOTLINE, &submit(&id)),
                input("ClassifyComplaint", DISPATCHER, &classify(&id)),
                input("DispatchComplaint", DISPATCHER, &dispatch(&id)),
                input("AcceptAssignment", POWER_BUREAU, &accept(&id)),
                input("SubmitResolution", POWER_BUREAU, &resolve(&id)),
                input("VerifyResolution", DISPATCHER, &verify(&id)),
                input("RecordCallback", HOTLINE, &callback(&id)),
            ];
            for step in &steps[..n] {
                self.must(step);
            }
        }
        self.must(&input("OpenLedger", DISPATCHER, &open_ledger(LEDGER)));
        self.must(&input("AddItem", DISPATCHER, &add_item(LEDGER, ITEM)));
        let link = pb::LinkComplaintsRequest {
            ledger_id: LEDGER.into(),
            item_id: ITEM.into(),
            complaint_ids: vec!["FUZZ-4".into()],
            ..Default::default()
        };
        self.must(&input("LinkComplaints", DISPATCHER, &link));
        if let Some(dir) = std::env::var_os("RECTIFY_FUZZ_WRITE_SEEDS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).expect("creating the seed directory");
            for bytes in seeds() {
                let name = format!("{}.bin", RPCS[usize::from(bytes[0])]);
                std::fs::write(dir.join(name), bytes).expect("writing a seed");
            }
        }
    }

    /// Calls the RPC the input names; `None` when the bytes are not that
    /// RPC's request message.
    fn call(&self, data: &[u8]) -> Option<Result<(), Status>> {
        let [rpc, role, message @ ..] = data else {
            return None;
        };
        let rpc = RPCS[usize::from(*rpc) % RPCS.len()];
        let who = ROLES[usize::from(*role) % ROLES.len()];
        let future = self.dispatch(rpc, who, message);
        let outcome = self
            .runtime
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, future).await });
        match outcome {
            Ok(result) => result,
            Err(_) => panic!(
                "{rpc} as {who:?} did not answer within {CALL_TIMEOUT:?}; request bytes {message:?}"
            ),
        }
    }

    fn dispatch<'a>(
        &'a self,
        rpc: &'static str,
        who: Caller,
        bytes: &'a [u8],
    ) -> impl Future<Output = Option<Result<(), Status>>> + 'a {
        let c = &self.complaints;
        let l = &self.ledgers;
        let q = &self.queries;
        async move {
            match rpc {
                "SubmitComplaint" => {
                    unary(bytes, who, async |r| c.submit_complaint(r).await, keep).await
                }
                "GetComplaint" => {
                    unary(
                        bytes,
                        who,
                        async |r| c.get_complaint(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "GetHistory" => unary(bytes, who, async |r| c.get_history(r).await, keep).await,
                "ClassifyComplaint" => {
                    unary(bytes, who, async |r| c.classify_complaint(r).await, keep).await
                }
                "DispatchComplaint" => {
                    unary(bytes, who, async |r| c.dispatch_complaint(r).await, keep).await
                }
                "AcceptAssignment" => {
                    unary(bytes, who, async |r| c.accept_assignment(r).await, keep).await
                }
                "ReturnAssignment" => {
                    unary(bytes, who, async |r| c.return_assignment(r).await, keep).await
                }
                "RecordStep" => unary(bytes, who, async |r| c.record_step(r).await, keep).await,
                "RequestExtension" => {
                    unary(bytes, who, async |r| c.request_extension(r).await, keep).await
                }
                "GrantExtension" => {
                    unary(bytes, who, async |r| c.grant_extension(r).await, keep).await
                }
                "DenyExtension" => {
                    unary(bytes, who, async |r| c.deny_extension(r).await, keep).await
                }
                "SubmitResolution" => {
                    unary(bytes, who, async |r| c.submit_resolution(r).await, keep).await
                }
                "VerifyResolution" => {
                    unary(bytes, who, async |r| c.verify_resolution(r).await, keep).await
                }
                "RejectResolution" => {
                    unary(bytes, who, async |r| c.reject_resolution(r).await, keep).await
                }
                "RecordCallback" => {
                    unary(bytes, who, async |r| c.record_callback(r).await, keep).await
                }
                "ReopenComplaint" => {
                    unary(bytes, who, async |r| c.reopen_complaint(r).await, keep).await
                }
                "CloseComplaint" => {
                    unary(bytes, who, async |r| c.close_complaint(r).await, keep).await
                }
                "ChaseUp" => unary(bytes, who, async |r| c.chase_up(r).await, keep).await,
                "FlagSupervision" => {
                    unary(bytes, who, async |r| c.flag_supervision(r).await, keep).await
                }
                "RecordAccountability" => {
                    unary(bytes, who, async |r| c.record_accountability(r).await, keep).await
                }
                "FileAppeal" => unary(bytes, who, async |r| c.file_appeal(r).await, keep).await,
                "DecideAppeal" => unary(bytes, who, async |r| c.decide_appeal(r).await, keep).await,
                "PauseClock" => unary(bytes, who, async |r| c.pause_clock(r).await, keep).await,
                "ResumeClock" => unary(bytes, who, async |r| c.resume_clock(r).await, keep).await,
                "LinkToLedgerItem" => {
                    unary(bytes, who, async |r| c.link_to_ledger_item(r).await, keep).await
                }
                "ErasePersonalData" => {
                    unary(bytes, who, async |r| c.erase_personal_data(r).await, keep).await
                }
                "OpenLedger" => unary(bytes, who, async |r| l.open_ledger(r).await, keep).await,
                "AddItem" => unary(bytes, who, async |r| l.add_item(r).await, keep).await,
                "RecordItemProgress" => {
                    unary(bytes, who, async |r| l.record_item_progress(r).await, keep).await
                }
                "CloseItem" => unary(bytes, who, async |r| l.close_item(r).await, keep).await,
                "ReopenItem" => unary(bytes, who, async |r| l.reopen_item(r).await, keep).await,
                "LinkComplaints" => {
                    unary(bytes, who, async |r| l.link_complaints(r).await, keep).await
                }
                "CloseLedger" => unary(bytes, who, async |r| l.close_ledger(r).await, keep).await,
                "GetLedger" => {
                    unary(
                        bytes,
                        who,
                        async |r| l.get_ledger(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ListLedgers" => {
                    unary(
                        bytes,
                        who,
                        async |r| l.list_ledgers(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ListItems" => {
                    unary(
                        bytes,
                        who,
                        async |r| l.list_items(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "GetUnitRollup" => {
                    unary(
                        bytes,
                        who,
                        async |r| l.get_unit_rollup(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "SuggestComplaints" => {
                    unary(
                        bytes,
                        who,
                        async |r| l.suggest_complaints(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ListLedger" => {
                    unary(
                        bytes,
                        who,
                        async |r| q.list_ledger(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ExportLedger" => {
                    let export = async |r: Request<pb::ExportLedgerRequest>| {
                        let mut chunks = q.export_ledger(r).await?.into_inner();
                        while let Some(chunk) = chunks.next().await {
                            chunk?;
                        }
                        Ok::<_, Status>(())
                    };
                    unary(bytes, who, export, cap_min_position!()).await
                }
                "GetInbox" => {
                    unary(
                        bytes,
                        who,
                        async |r| q.get_inbox(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ListUnitWorkloads" => {
                    unary(
                        bytes,
                        who,
                        async |r| q.list_unit_workloads(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "GetEvaluation" => {
                    unary(
                        bytes,
                        who,
                        async |r| q.get_evaluation(r).await,
                        cap_min_position!(),
                    )
                    .await
                }
                "ScanDeadlines" => {
                    unary(
                        bytes,
                        who,
                        async |r| self.admin.scan_deadlines(r).await,
                        keep,
                    )
                    .await
                }
                "ReadLog" => unary(bytes, who, async |r| self.events.read_log(r).await, keep).await,
                "Route" => unary(bytes, who, async |r| self.catalog.route(r).await, keep).await,
                "SuggestAreas" => {
                    unary(
                        bytes,
                        who,
                        async |r| self.catalog.suggest_areas(r).await,
                        keep,
                    )
                    .await
                }
                other => unreachable!("RPCS lists {other} but dispatch does not"),
            }
        }
    }
}

fn submit(id: &str) -> pb::SubmitComplaintRequest {
    pb::SubmitComplaintRequest {
        complaint_id: id.into(),
        channel: pb::Channel::Hotline12345 as i32,
        kind: pb::ComplaintKind::Complaint as i32,
        submitter: Some(pb::Submitter {
            name: "王女士".into(),
            phone: "13812345678".into(),
            id_number: String::new(),
        }),
        enterprise: "鄂尔多斯市某某商贸有限公司".into(),
        district: "dongsheng".into(),
        location: "东胜区天骄路".into(),
        title: "用电报装迟迟不接电".into(),
        text: "新建厂房申请用电报装，两个月还没有接电，影响企业投产。".into(),
        external_ref: "12345-20261122-0001".into(),
        ..Default::default()
    }
}

fn classify(id: &str) -> pb::ClassifyComplaintRequest {
    pb::ClassifyComplaintRequest {
        complaint_id: id.into(),
        area: "getting-electricity".into(),
        urgency: pb::Urgency::Normal as i32,
        tags: vec!["用电".into()],
        ..Default::default()
    }
}

fn dispatch(id: &str) -> pb::DispatchComplaintRequest {
    pb::DispatchComplaintRequest {
        complaint_id: id.into(),
        ..Default::default()
    }
}

fn accept(id: &str) -> pb::AcceptAssignmentRequest {
    pb::AcceptAssignmentRequest {
        complaint_id: id.into(),
        ..Default::default()
    }
}

fn resolve(id: &str) -> pb::SubmitResolutionRequest {
    pb::SubmitResolutionRequest {
        complaint_id: id.into(),
        result: "已完成外线施工并送电".into(),
        evidence: vec!["photo-1.jpg".into()],
        ..Default::default()
    }
}

fn verify(id: &str) -> pb::VerifyResolutionRequest {
    pb::VerifyResolutionRequest {
        complaint_id: id.into(),
        note: "现场核实已通电".into(),
        ..Default::default()
    }
}

fn callback(id: &str) -> pb::RecordCallbackRequest {
    pb::RecordCallbackRequest {
        complaint_id: id.into(),
        valid: true,
        contacted: true,
        solved: false,
        satisfaction: pb::Satisfaction::Unsatisfied as i32,
        comment: "电通了但电压不稳".into(),
        ..Default::default()
    }
}

fn open_ledger(id: &str) -> pb::OpenLedgerRequest {
    pb::OpenLedgerRequest {
        ledger_id: id.into(),
        title: "用电报装集中投诉整改台账".into(),
        source: pb::LedgerSource::ComplaintCluster as i32,
        owner_unit: "power-bureau".into(),
        plan_phases: true,
        ..Default::default()
    }
}

fn add_item(ledger: &str, item: &str) -> pb::AddItemRequest {
    pb::AddItemRequest {
        ledger_id: ledger.into(),
        item_id: item.into(),
        problem: "报装周期长".into(),
        measures: "压缩办电时限".into(),
        group: "getting-electricity".into(),
        lead_units: vec!["power-bureau".into()],
        responsible_units: vec!["housing-construction".into()],
        deadline: Some(timestamp(1_893_456_000)),
        ..Default::default()
    }
}

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// The seed corpus: one valid request per RPC, as a caller who may send it,
/// on the seeded complaints and ledgers.
fn seeds() -> Vec<Vec<u8>> {
    let opts = |request_id: &str| {
        Some(pb::CommandOptions {
            request_id: request_id.into(),
            correlation_id: "seed".into(),
            ..Default::default()
        })
    };
    let filter = pb::LedgerFilter {
        statuses: vec![pb::ComplaintStatus::InProgress as i32],
        area: "getting-electricity".into(),
        district: "dongsheng".into(),
        text: "用电".into(),
        ..Default::default()
    };
    vec![
        input(
            "SubmitComplaint",
            HOTLINE,
            &pb::SubmitComplaintRequest {
                options: opts("submit-1"),
                complaint_id: String::new(),
                suggest_areas: true,
                ..submit("")
            },
        ),
        input(
            "GetComplaint",
            DISPATCHER,
            &pb::GetComplaintRequest {
                complaint_id: "FUZZ-4".into(),
                min_position: 1,
            },
        ),
        input(
            "GetHistory",
            SUPERVISOR,
            &pb::GetHistoryRequest {
                complaint_id: "FUZZ-7".into(),
            },
        ),
        input("ClassifyComplaint", DISPATCHER, &classify("FUZZ-1")),
        input(
            "DispatchComplaint",
            DISPATCHER,
            &pb::DispatchComplaintRequest {
                complaint_id: "FUZZ-2".into(),
                lead_unit: "housing-construction".into(),
                responsible_units: vec!["power-bureau".into()],
                override_reason: "外线工程涉及市政审批".into(),
                ..Default::default()
            },
        ),
        input("AcceptAssignment", POWER_BUREAU, &accept("FUZZ-3")),
        input(
            "ReturnAssignment",
            POWER_BUREAU,
            &pb::ReturnAssignmentRequest {
                complaint_id: "FUZZ-3".into(),
                reason: "属于住建部门职责".into(),
                ..Default::default()
            },
        ),
        input(
            "RecordStep",
            POWER_BUREAU,
            &pb::RecordStepRequest {
                complaint_id: "FUZZ-4".into(),
                description: "已联系企业".into(),
                evidence: vec!["call.mp3".into()],
                contacted_submitter: true,
                ..Default::default()
            },
        ),
        input(
            "RequestExtension",
            POWER_BUREAU,
            &pb::RequestExtensionRequest {
                complaint_id: "FUZZ-4".into(),
                reason: "需要市政审批".into(),
                requested_due_at: Some(timestamp(1_893_456_000)),
                ..Default::default()
            },
        ),
        input(
            "GrantExtension",
            DISPATCHER,
            &pb::GrantExtensionRequest {
                complaint_id: "FUZZ-4".into(),
                note: "同意".into(),
                ..Default::default()
            },
        ),
        input(
            "DenyExtension",
            DISPATCHER,
            &pb::DenyExtensionRequest {
                complaint_id: "FUZZ-4".into(),
                reason: "理由不足".into(),
                ..Default::default()
            },
        ),
        input("SubmitResolution", POWER_BUREAU, &resolve("FUZZ-4")),
        input("VerifyResolution", DISPATCHER, &verify("FUZZ-5")),
        input(
            "RejectResolution",
            DISPATCHER,
            &pb::RejectResolutionRequest {
                complaint_id: "FUZZ-5".into(),
                reason: "未见整改材料".into(),
                ..Default::default()
            },
        ),
        input("RecordCallback", HOTLINE, &callback("FUZZ-6")),
        input(
            "ReopenComplaint",
            DISPATCHER,
            &pb::ReopenComplaintRequest {
                complaint_id: "FUZZ-7".into(),
                reason: "电压不稳".into(),
                ..Default::default()
            },
        ),
        input(
            "CloseComplaint",
            DISPATCHER,
            &pb::CloseComplaintRequest {
                complaint_id: "FUZZ-7".into(),
                note: "办结".into(),
                ..Default::default()
            },
        ),
        input(
            "ChaseUp",
            DISPATCHER,
            &pb::ChaseUpRequest {
                complaint_id: "FUZZ-3".into(),
                note: "请尽快签收".into(),
                ..Default::default()
            },
        ),
        input(
            "FlagSupervision",
            SUPERVISOR,
            &pb::FlagSupervisionRequest {
                complaint_id: "FUZZ-4".into(),
                note: "督办".into(),
                ..Default::default()
            },
        ),
        input(
            "RecordAccountability",
            SUPERVISOR,
            &pb::RecordAccountabilityRequest {
                complaint_id: "FUZZ-7".into(),
                finding: "推诿扯皮".into(),
                units: vec!["power-bureau".into()],
                ..Default::default()
            },
        ),
        input(
            "FileAppeal",
            POWER_BUREAU,
            &pb::FileAppealRequest {
                complaint_id: "FUZZ-7".into(),
                reason: "已按时办结".into(),
                ..Default::default()
            },
        ),
        input(
            "DecideAppeal",
            DISPATCHER,
            &pb::DecideAppealRequest {
                complaint_id: "FUZZ-7".into(),
                upheld: true,
                note: "申诉成立".into(),
                ..Default::default()
            },
        ),
        input(
            "PauseClock",
            DISPATCHER,
            &pb::PauseClockRequest {
                complaint_id: "FUZZ-4".into(),
                reason: "等待企业补充材料".into(),
                ..Default::default()
            },
        ),
        input(
            "ResumeClock",
            DISPATCHER,
            &pb::ResumeClockRequest {
                complaint_id: "FUZZ-4".into(),
                options: opts("resume-1"),
            },
        ),
        input(
            "LinkToLedgerItem",
            DISPATCHER,
            &pb::LinkToLedgerItemRequest {
                complaint_id: "FUZZ-3".into(),
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                ..Default::default()
            },
        ),
        input(
            "ErasePersonalData",
            ADMIN,
            &pb::ErasePersonalDataRequest {
                complaint_id: "FUZZ-7".into(),
                reason: "本人申请删除个人信息".into(),
                ..Default::default()
            },
        ),
        input("OpenLedger", DISPATCHER, &open_ledger("fuzz-ledger-2")),
        input("AddItem", DISPATCHER, &add_item(LEDGER, "item-2")),
        input(
            "RecordItemProgress",
            POWER_BUREAU,
            &pb::RecordItemProgressRequest {
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                note: "已压缩至15个工作日".into(),
                evidence: vec!["notice.pdf".into()],
                ..Default::default()
            },
        ),
        input(
            "CloseItem",
            DISPATCHER,
            &pb::CloseItemRequest {
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                evidence: vec!["report.pdf".into()],
                verifier: "督查室".into(),
                note: "销号".into(),
                ..Default::default()
            },
        ),
        input(
            "ReopenItem",
            DISPATCHER,
            &pb::ReopenItemRequest {
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                reason: "回潮".into(),
                ..Default::default()
            },
        ),
        input(
            "LinkComplaints",
            DISPATCHER,
            &pb::LinkComplaintsRequest {
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                complaint_ids: vec!["FUZZ-5".into(), "FUZZ-6".into()],
                ..Default::default()
            },
        ),
        input(
            "CloseLedger",
            DISPATCHER,
            &pb::CloseLedgerRequest {
                ledger_id: LEDGER.into(),
                note: "全部销号".into(),
                ..Default::default()
            },
        ),
        input(
            "GetLedger",
            DISPATCHER,
            &pb::GetLedgerRequest {
                ledger_id: "plan-2021".into(),
                min_position: 1,
            },
        ),
        input(
            "ListLedgers",
            SUPERVISOR,
            &pb::ListLedgersRequest { min_position: 1 },
        ),
        input(
            "ListItems",
            POWER_BUREAU,
            &pb::ListItemsRequest {
                ledger_id: "plan-2021".into(),
                ..Default::default()
            },
        ),
        input(
            "GetUnitRollup",
            DISPATCHER,
            &pb::GetUnitRollupRequest { min_position: 1 },
        ),
        input(
            "SuggestComplaints",
            DISPATCHER,
            &pb::SuggestComplaintsRequest {
                ledger_id: LEDGER.into(),
                item_id: ITEM.into(),
                ..Default::default()
            },
        ),
        input(
            "ListLedger",
            DISPATCHER,
            &pb::ListLedgerRequest {
                filter: Some(filter.clone()),
                order: pb::LedgerOrder::DueAsc as i32,
                page_size: 2,
                ..Default::default()
            },
        ),
        input(
            "ExportLedger",
            SUPERVISOR,
            &pb::ExportLedgerRequest {
                filter: Some(filter),
                format: pb::ExportFormat::Csv as i32,
                ..Default::default()
            },
        ),
        input(
            "GetInbox",
            POWER_BUREAU,
            &pb::GetInboxRequest {
                unit: "power-bureau".into(),
                min_position: 1,
            },
        ),
        input(
            "ListUnitWorkloads",
            DISPATCHER,
            &pb::ListUnitWorkloadsRequest { min_position: 1 },
        ),
        input(
            "GetEvaluation",
            SUPERVISOR,
            &pb::GetEvaluationRequest {
                period: "2026-Q4".into(),
                group_by: pb::EvaluationGroup::Unit as i32,
                top_n: 3,
                ..Default::default()
            },
        ),
        input("ScanDeadlines", DISPATCHER, &pb::ScanDeadlinesRequest {}),
        input(
            "ReadLog",
            SUPERVISOR,
            &pb::ReadLogRequest {
                from_position: 1,
                max_count: 10,
                filter: None,
            },
        ),
        input(
            "Route",
            HOTLINE,
            &pb::RouteRequest {
                area: "getting-electricity".into(),
                task: 1,
                district: "dongsheng".into(),
            },
        ),
        input(
            "SuggestAreas",
            HOTLINE,
            &pb::SuggestAreasRequest {
                text: "用电报装两个月没有接电".into(),
                limit: 3,
            },
        ),
    ]
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// Calls per RPC and status code (17 codes), for `RECTIFY_FUZZ_STATS`.
static OUTCOMES: [[AtomicU64; 17]; RPCS.len()] =
    [const { [const { AtomicU64::new(0) }; 17] }; RPCS.len()];
static INPUTS: AtomicU64 = AtomicU64::new(0);

fn record(rpc: usize, code: Code) {
    OUTCOMES[rpc][code as usize].fetch_add(1, Ordering::Relaxed);
    static EVERY: OnceLock<u64> = OnceLock::new();
    let every = *EVERY.get_or_init(|| {
        std::env::var("RECTIFY_FUZZ_STATS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    });
    let inputs = INPUTS.fetch_add(1, Ordering::Relaxed) + 1;
    if every == 0 || !inputs.is_multiple_of(every) {
        return;
    }
    eprintln!("== outcomes after {inputs} calls");
    for (rpc, codes) in RPCS.iter().zip(&OUTCOMES) {
        let counts: Vec<String> = codes
            .iter()
            .enumerate()
            .filter_map(|(code, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| format!("{:?}={n}", Code::from_i32(code as i32)))
            })
            .collect();
        eprintln!("{rpc:>20}: {}", counts.join(" "));
    }
}

fuzz_target!(|data: &[u8]| {
    let harness = HARNESS.get_or_init(Harness::start);
    let Some(result) = harness.call(data) else {
        return;
    };
    record(
        usize::from(data[0]) % RPCS.len(),
        result.as_ref().map_or_else(Status::code, |()| Code::Ok),
    );
    if let Err(status) = result {
        assert!(
            ALLOWED.contains(&status.code()),
            "{} as {:?} answered {:?}: {}\nrequest bytes: {:?}",
            RPCS[usize::from(data[0]) % RPCS.len()],
            ROLES[usize::from(data[1]) % ROLES.len()],
            status.code(),
            status.message(),
            &data[2..],
        );
    }
});
