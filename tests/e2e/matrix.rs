//! The role × RPC matrix of docs/security.md, every cell through the real
//! server: each RPC is called as each role and must be refused with
//! `PERMISSION_DENIED` exactly where the matrix says so. (An allowed call may
//! still fail for other reasons — an unknown id, say — which is not a
//! permission question.)

use rectify::pb::{
    self, admin_service_client::AdminServiceClient, catalog_service_client::CatalogServiceClient,
    event_service_client::EventServiceClient, ledger_service_client::LedgerServiceClient,
    query_service_client::QueryServiceClient,
};
use tonic::{Code, Request};

use crate::support::{Server, as_role, as_unit, submit_and_dispatch, submit_request};

/// The roles, as the matrix's columns; `unit` acts as power-bureau, the
/// lead unit of the probed complaint.
const ROLES: [&str; 6] = [
    "hotline",
    "portal",
    "dispatcher",
    "unit",
    "supervisor",
    "admin",
];

fn request<T>(message: T, role: &'static str) -> Request<T> {
    if role == "unit" {
        as_unit(message, "power-bureau")
    } else {
        as_role(message, role)
    }
}

fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// Calls the RPC named `rpc` as `role`; returns the status code.
async fn call(server: &Server, rpc: &str, role: &'static str, complaint: &str, n: usize) -> Code {
    let channel = server.channel().await;
    let mut complaints = pb::complaint_service_client::ComplaintServiceClient::new(channel.clone());
    let mut events = EventServiceClient::new(channel.clone());
    let mut queries = QueryServiceClient::new(channel.clone());
    let mut admin = AdminServiceClient::new(channel.clone());
    let mut ledgers = LedgerServiceClient::new(channel.clone());
    let mut catalog = CatalogServiceClient::new(channel);
    let id = complaint.to_owned();
    match rpc {
        "SubmitComplaint" => code(
            complaints
                .submit_complaint(request(submit_request("权限矩阵"), role))
                .await,
        ),
        "GetComplaint" => code(
            complaints
                .get_complaint(request(
                    pb::GetComplaintRequest {
                        complaint_id: id,
                        min_position: 0,
                    },
                    role,
                ))
                .await,
        ),
        "GetHistory" => code(
            complaints
                .get_history(request(pb::GetHistoryRequest { complaint_id: id }, role))
                .await,
        ),
        "ChaseUp" => code(
            complaints
                .chase_up(request(
                    pb::ChaseUpRequest {
                        complaint_id: id,
                        note: "请尽快办理".into(),
                        ..Default::default()
                    },
                    role,
                ))
                .await,
        ),
        "FlagSupervision" => code(
            complaints
                .flag_supervision(request(
                    pb::FlagSupervisionRequest {
                        complaint_id: id,
                        note: "列入督办".into(),
                        ..Default::default()
                    },
                    role,
                ))
                .await,
        ),
        "ErasePersonalData" => code(
            complaints
                .erase_personal_data(request(
                    pb::ErasePersonalDataRequest {
                        complaint_id: id,
                        reason: "PIPL-2026-0001".into(),
                        ..Default::default()
                    },
                    role,
                ))
                .await,
        ),
        "ReadLog" => code(
            events
                .read_log(request(
                    pb::ReadLogRequest {
                        from_position: 1,
                        max_count: 1,
                        filter: None,
                    },
                    role,
                ))
                .await,
        ),
        "VerifyLog" => code(
            events
                .verify_log(request(pb::VerifyLogRequest {}, role))
                .await,
        ),
        "ListAreas" => code(
            catalog
                .list_areas(request(pb::ListAreasRequest {}, role))
                .await,
        ),
        "ListLedger" => code(
            queries
                .list_ledger(request(pb::ListLedgerRequest::default(), role))
                .await,
        ),
        "GetInbox" => code(
            queries
                .get_inbox(request(
                    pb::GetInboxRequest {
                        unit: "power-bureau".into(),
                        min_position: 0,
                    },
                    role,
                ))
                .await,
        ),
        "ListUnitWorkloads" => code(
            queries
                .list_unit_workloads(request(pb::ListUnitWorkloadsRequest::default(), role))
                .await,
        ),
        "GetEvaluation" => code(
            queries
                .get_evaluation(request(
                    pb::GetEvaluationRequest {
                        period: "2026-11".into(),
                        group_by: pb::EvaluationGroup::Unit as i32,
                        ..Default::default()
                    },
                    role,
                ))
                .await,
        ),
        "ScanDeadlines" => code(
            admin
                .scan_deadlines(request(pb::ScanDeadlinesRequest {}, role))
                .await,
        ),
        "GetStoreStats" => code(
            admin
                .get_store_stats(request(pb::GetStoreStatsRequest {}, role))
                .await,
        ),
        "Backup" => {
            let destination = server.data_dir.with_file_name(format!("backup-{role}-{n}"));
            code(
                admin
                    .backup(request(
                        pb::BackupRequest {
                            destination: destination.display().to_string(),
                        },
                        role,
                    ))
                    .await,
            )
        }
        "ListLedgers" => code(
            ledgers
                .list_ledgers(request(pb::ListLedgersRequest::default(), role))
                .await,
        ),
        "GetUnitRollup" => code(
            ledgers
                .get_unit_rollup(request(pb::GetUnitRollupRequest::default(), role))
                .await,
        ),
        "ImportPlan" => code(
            ledgers
                .import_plan(request(pb::ImportPlanRequest {}, role))
                .await,
        ),
        other => panic!("no probe for {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_is_refused_exactly_where_the_matrix_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let mut c = server.complaints().await;
    let (id, lead) = submit_and_dispatch(&mut c, "权限矩阵探针").await;
    assert_eq!(lead, "power-bureau");

    // (RPC, the roles allowed.)
    let matrix: &[(&str, &[&str])] = &[
        (
            "SubmitComplaint",
            &["hotline", "portal", "dispatcher", "admin"],
        ),
        ("GetComplaint", &ROLES),
        (
            "GetHistory",
            &["hotline", "dispatcher", "unit", "supervisor", "admin"],
        ),
        ("ChaseUp", &["dispatcher", "supervisor", "admin"]),
        ("FlagSupervision", &["supervisor", "admin"]),
        ("ReadLog", &["hotline", "dispatcher", "supervisor", "admin"]),
        ("VerifyLog", &["supervisor", "admin"]),
        ("ListAreas", &ROLES),
        ("ListLedger", &ROLES),
        ("GetInbox", &["dispatcher", "unit", "supervisor", "admin"]),
        ("ListUnitWorkloads", &["dispatcher", "supervisor", "admin"]),
        ("GetEvaluation", &["dispatcher", "supervisor", "admin"]),
        ("ScanDeadlines", &["dispatcher", "admin"]),
        ("GetStoreStats", &["admin"]),
        ("Backup", &["admin"]),
        ("ListLedgers", &ROLES),
        ("GetUnitRollup", &["dispatcher", "supervisor", "admin"]),
        ("ImportPlan", &["dispatcher", "admin"]),
        // Last: it erases the probe's personal data (once; a second allowed
        // caller gets FAILED_PRECONDITION, not a permission error).
        ("ErasePersonalData", &["dispatcher", "admin"]),
    ];
    let mut wrong = Vec::new();
    for (n, (rpc, allowed)) in matrix.iter().enumerate() {
        for role in ROLES {
            let got = call(&server, rpc, role, &id, n).await;
            let denied = got == Code::PermissionDenied;
            if denied == allowed.contains(&role) {
                wrong.push(format!("{rpc} as {role}: {got:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cells that disagree with the matrix:\n{}",
        wrong.join("\n")
    );
}
