//! Rectification ledgers through the real server: the action plan as a
//! ledger, item-by-item closure, the refusal to close early, reopening, and
//! class problems.

use std::collections::BTreeSet;

use rectify::pb::{self, ledger_service_client::LedgerServiceClient};
use tonic::{Code, transport::Channel};

use crate::support::{Server, as_role, head, history, submit_and_dispatch};

async fn ledger(
    l: &mut LedgerServiceClient<Channel>,
    id: &str,
    min_position: u64,
) -> pb::GetLedgerResponse {
    l.get_ledger(as_role(
        pb::GetLedgerRequest {
            ledger_id: id.into(),
            min_position,
        },
        "dispatcher",
    ))
    .await
    .expect("get ledger")
    .into_inner()
}

fn group_tally(reply: &pb::GetLedgerResponse, group: &str) -> pb::Tally {
    reply
        .groups
        .iter()
        .find(|g| g.group == group)
        .and_then(|g| g.tally)
        .unwrap_or_else(|| panic!("no group {group}"))
}

async fn items(
    l: &mut LedgerServiceClient<Channel>,
    id: &str,
    group: &str,
    open_only: bool,
    min_position: u64,
) -> Vec<pb::LedgerItem> {
    l.list_items(as_role(
        pb::ListItemsRequest {
            ledger_id: id.into(),
            group: group.into(),
            open_only,
            min_position,
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("list items")
    .into_inner()
    .items
}

async fn close_item(
    l: &mut LedgerServiceClient<Channel>,
    ledger_id: &str,
    item_id: &str,
) -> pb::CloseItemResponse {
    l.close_item(as_role(
        pb::CloseItemRequest {
            ledger_id: ledger_id.into(),
            item_id: item_id.into(),
            evidence: vec![format!("验收报告-{item_id}")],
            verifier: "市营商环境督查组".into(),
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("close item")
    .into_inner()
}

async fn link(
    l: &mut LedgerServiceClient<Channel>,
    ledger_id: &str,
    item_id: &str,
    complaint_ids: &[String],
) -> pb::LinkComplaintsResponse {
    l.link_complaints(as_role(
        pb::LinkComplaintsRequest {
            ledger_id: ledger_id.into(),
            item_id: item_id.into(),
            complaint_ids: complaint_ids.to_vec(),
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("link")
    .into_inner()
}

#[tokio::test]
async fn the_plan_is_imported_once_and_a_group_closes_item_by_item() {
    let server = Server::fresh();
    let mut l = server.ledgers().await;

    let first = l
        .import_plan(as_role(pb::ImportPlanRequest {}, "admin"))
        .await
        .expect("import the plan")
        .into_inner();
    assert_eq!(first.ledger_id, "plan-2021");
    assert_eq!(first.items_added, 103, "every task of the plan");
    assert_eq!(first.items_total, 103);
    let head_after_import = head(&server).await;
    let again = l
        .import_plan(as_role(pb::ImportPlanRequest {}, "admin"))
        .await
        .expect("import again")
        .into_inner();
    assert_eq!((again.items_added, again.items_total), (0, 103));
    assert_eq!(
        head(&server).await,
        head_after_import,
        "the second import writes nothing"
    );

    // The items carry the plan's routing: 获得电力 is led by 电业局.
    let group = "getting-electricity";
    let electricity = items(&mut l, "plan-2021", group, false, first.position).await;
    assert!(electricity.len() >= 3);
    assert!(
        electricity
            .iter()
            .all(|i| i.lead_units == vec!["power-bureau".to_owned()])
    );
    let reply = ledger(&mut l, "plan-2021", first.position).await;
    assert_eq!(reply.ledger.as_ref().unwrap().tally.unwrap().total, 103);
    assert_eq!(
        reply.phases.len(),
        4,
        "部署启动, 自查自纠, 集中整治, 总结验收"
    );

    // Close the group's items one by one; its share climbs to 100%.
    let total = electricity.len() as u64;
    let mut position = 0;
    for (n, item) in electricity.iter().enumerate() {
        position = close_item(&mut l, "plan-2021", &item.item_id)
            .await
            .result
            .unwrap()
            .position;
        let tally = group_tally(&ledger(&mut l, "plan-2021", position).await, group);
        assert_eq!(tally.closed, n as u64 + 1);
        assert_eq!(tally.open, total - n as u64 - 1);
        assert!((tally.share_closed - (n as f64 + 1.0) / total as f64).abs() < 1e-9);
    }
    assert!(
        (group_tally(&ledger(&mut l, "plan-2021", position).await, group).share_closed - 1.0).abs()
            < 1e-9
    );

    // Closing the whole plan now fails and names exactly the open items.
    let open: BTreeSet<String> = items(&mut l, "plan-2021", "", true, position)
        .await
        .into_iter()
        .map(|i| i.item_id)
        .collect();
    assert_eq!(open.len() as u64, 103 - total);
    let refused = l
        .close_ledger(as_role(
            pb::CloseLedgerRequest {
                ledger_id: "plan-2021".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("open items remain");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let listed: BTreeSet<String> = refused
        .message()
        .split_once(": ")
        .expect("a list of open items")
        .1
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, open);

    // Reopening one item drops the group's progress.
    let reopened = l
        .reopen_item(as_role(
            pb::ReopenItemRequest {
                ledger_id: "plan-2021".into(),
                item_id: electricity[0].item_id.clone(),
                reason: "复查发现问题反弹".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("reopen")
        .into_inner()
        .result
        .unwrap();
    let tally = group_tally(&ledger(&mut l, "plan-2021", reopened.position).await, group);
    assert_eq!((tally.open, tally.closed), (1, total - 1));
    assert!(tally.share_closed < 1.0);

    // The per-unit rollup counts power-bureau's open lead items.
    let rollup = l
        .get_unit_rollup(as_role(
            pb::GetUnitRollupRequest {
                min_position: reopened.position,
            },
            "supervisor",
        ))
        .await
        .expect("rollup")
        .into_inner();
    let power = rollup
        .units
        .iter()
        .find(|u| u.unit == "power-bureau")
        .unwrap();
    assert_eq!(power.as_lead.unwrap().open, 1);

    // Bad input: closing without evidence, an unknown item.
    let no_evidence = l
        .close_item(as_role(
            pb::CloseItemRequest {
                ledger_id: "plan-2021".into(),
                item_id: electricity[0].item_id.clone(),
                verifier: "x".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("evidence required");
    assert_eq!(no_evidence.code(), Code::InvalidArgument);
    let unknown = l
        .close_item(as_role(
            pb::CloseItemRequest {
                ledger_id: "plan-2021".into(),
                item_id: "no-such-item".into(),
                evidence: vec!["e".into()],
                verifier: "x".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("unknown item");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn closing_an_item_records_the_class_fix_on_each_linked_complaint() {
    let server = Server::fresh();
    let mut c = server.complaints().await;
    let mut l = server.ledgers().await;

    l.open_ledger(as_role(
        pb::OpenLedgerRequest {
            ledger_id: "cluster-2026-11".into(),
            title: "用电报装集中投诉整改台账".into(),
            source: pb::LedgerSource::ComplaintCluster as i32,
            owner_unit: "power-bureau".into(),
            plan_phases: true,
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("open ledger");
    l.add_item(as_role(
        pb::AddItemRequest {
            ledger_id: "cluster-2026-11".into(),
            item_id: "slow-connection".into(),
            problem: "用电报装迟迟不接电，影响企业投产".into(),
            measures: "外线工程审批并联办理，限时接电".into(),
            group: "getting-electricity".into(),
            lead_units: vec!["power-bureau".into()],
            responsible_units: vec!["housing-construction".into()],
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("add item");

    let mut ids = Vec::new();
    for title in [
        "用电报装迟迟不接电",
        "厂房用电报装两个月未接电",
        "新建厂房接电慢",
    ] {
        ids.push(submit_and_dispatch(&mut c, title).await.0);
    }
    let head = head(&server).await;

    // The three complaints are suggested for the item.
    let suggested: BTreeSet<String> = l
        .suggest_complaints(as_role(
            pb::SuggestComplaintsRequest {
                ledger_id: "cluster-2026-11".into(),
                item_id: "slow-connection".into(),
                min_position: head,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("suggest")
        .into_inner()
        .complaints
        .into_iter()
        .map(|s| s.complaint_id)
        .collect();
    assert_eq!(suggested, ids.iter().cloned().collect());

    let linked = link(&mut l, "cluster-2026-11", "slow-connection", &ids).await;
    assert_eq!(linked.linked, ids);
    let again = link(&mut l, "cluster-2026-11", "slow-connection", &ids).await;
    assert_eq!(again.already_linked, ids);
    assert!(again.linked.is_empty());

    let closed = close_item(&mut l, "cluster-2026-11", "slow-connection").await;
    assert_eq!(closed.fixed_complaints, ids);
    for id in &ids {
        let events = history(&mut c, id).await;
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert!(types.contains(&"LinkedToLedgerItem"), "{types:?}");
        assert_eq!(
            types.iter().filter(|t| **t == "ClassProblemFixed").count(),
            1,
            "{types:?}"
        );
    }
    let listed = items(
        &mut l,
        "cluster-2026-11",
        "",
        false,
        closed.result.unwrap().position,
    )
    .await;
    assert_eq!(listed[0].complaints, ids);
    assert!(listed[0].closed_at.is_some());
    assert_eq!(listed[0].verifier, "市营商环境督查组");

    // Every item closed: the ledger closes.
    l.close_ledger(as_role(
        pb::CloseLedgerRequest {
            ledger_id: "cluster-2026-11".into(),
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("close the ledger");
}
