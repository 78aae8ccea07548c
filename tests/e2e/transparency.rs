//! The transparency log through a real server: receipts, checkpoints,
//! inclusion and consistency proofs fetched over gRPC and checked on the
//! client side with `rectify_transparency` alone, before and after a
//! restart; sizes past the tree and bad arguments refused by name.

use rectify::pb::{self, transparency_service_client::TransparencyServiceClient};
use rectify_transparency::{
    Checkpoint, EntryStatement, Hash, Leaf, Receipt, SignedStatement, Verifier, open_checkpoint,
};
use tonic::{Code, transport::Channel};

use crate::support::{Server, TestClock, as_role, as_unit, head, submit, submit_request};

fn hashes(bytes: Vec<Vec<u8>>) -> Vec<Hash> {
    bytes
        .into_iter()
        .map(|hash| hash.try_into().expect("32-byte hashes"))
        .collect()
}

async fn client(server: &Server) -> TransparencyServiceClient<Channel> {
    TransparencyServiceClient::new(server.channel().await)
}

pub(crate) async fn log_key(server: &Server) -> Verifier {
    let key = client(server)
        .await
        .get_log_key(as_role(pb::GetLogKeyRequest {}, "portal"))
        .await
        .expect("log key")
        .into_inner();
    let verifier: Verifier = key.verifier_key.parse().expect("a verifier key");
    assert_eq!(verifier.name(), key.origin);
    assert_eq!(verifier.key_id(), key.key_id);
    verifier
}

/// A checkpoint covering the whole log: waits for the tree to reach the
/// head, then moves the clock past the checkpoint interval so the next one
/// is signed at that size.
pub(crate) async fn checkpoint_at_head(
    server: &Server,
    clock: &mut TestClock,
    verifier: &Verifier,
) -> Checkpoint {
    let head = head(server).await;
    let mut client = client(server).await;
    let request = |min| {
        as_role(
            pb::GetCheckpointRequest { min_tree_size: min },
            "supervisor",
        )
    };
    let waited = client
        .get_checkpoint(request(head))
        .await
        .unwrap()
        .into_inner();
    assert!(waited.tree_size >= head);
    clock.advance(10);
    let signed = client
        .get_checkpoint(request(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        signed.size, head,
        "a checkpoint at the head once the interval passed"
    );
    let checkpoint =
        open_checkpoint(&signed.note, std::slice::from_ref(verifier)).expect("a signed checkpoint");
    assert_eq!(checkpoint.size, head);
    checkpoint
}

/// A receipt as the client keeps it.
pub(crate) fn from_pb(reply: pb::Receipt) -> Receipt {
    Receipt {
        leaf: Leaf::decode(&reply.leaf).expect("a leaf"),
        signed: SignedStatement {
            statement: EntryStatement {
                origin: reply.origin,
                position: reply.position,
                leaf_hash: reply.leaf_hash.try_into().expect("32 bytes"),
                time_unix_s: reply.time_unix_s,
            },
            key_name: reply.key_name,
            key_id: reply.key_id,
            signature: reply.signature.try_into().expect("64 bytes"),
        },
    }
}

pub(crate) async fn receipt(server: &Server, position: u64) -> Receipt {
    let reply = client(server)
        .await
        .get_receipt(as_role(pb::GetReceiptRequest { position }, "hotline"))
        .await
        .expect("a receipt")
        .into_inner();
    from_pb(reply.receipt.expect("a receipt"))
}

pub(crate) async fn inclusion(server: &Server, position: u64, tree_size: u64) -> Vec<Hash> {
    let reply = client(server)
        .await
        .get_inclusion_proof(as_unit(
            pb::GetInclusionProofRequest {
                position,
                tree_size,
            },
            "power-bureau",
        ))
        .await
        .expect("an inclusion proof")
        .into_inner();
    assert_eq!(reply.leaf_index, position - 1);
    hashes(reply.hashes)
}

#[tokio::test]
async fn receipts_and_checkpoints_verify_offline_across_growth_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut clock = TestClock::in_dir(dir.path());
    let server = Server::fresh_with(&clock.args());
    let mut complaints = server.complaints().await;
    let intake = complaints
        .submit_complaint(as_role(submit_request("停电 0"), "hotline"))
        .await
        .expect("submit")
        .into_inner();
    let first = intake.result.expect("a result");
    for n in 1..5 {
        submit(&mut complaints, &format!("停电 {n}")).await;
    }
    let verifier = log_key(&server).await;
    assert_eq!(verifier.name(), "rectify.local/log");

    // The intake's receipt is signed by the log's key, at the time of the
    // clock; asked for later, the receipt states the same entry.
    let receipt = from_pb(intake.receipt.expect("intake returns a receipt"));
    let later = self::receipt(&server, first.position).await;
    assert_eq!(later.leaf, receipt.leaf);
    later
        .verify(std::slice::from_ref(&verifier))
        .expect("the later receipt's signature");
    receipt
        .verify(std::slice::from_ref(&verifier))
        .expect("the receipt's signature");
    assert_eq!(receipt.leaf.position, first.position);
    assert_eq!(receipt.leaf.stream, format!("complaint-{}", first.id));
    assert_eq!(receipt.leaf.event_type, "ComplaintReceived");
    assert_eq!(receipt.signed.statement.time_unix_s, clock.now.timestamp());
    // A leaf changed after the fact is named.
    let mut altered = receipt.leaf.clone();
    altered.event_type = "ComplaintWithdrawn".into();
    assert!(
        receipt
            .check_entry(&altered)
            .unwrap_err()
            .to_string()
            .contains(&first.position.to_string())
    );

    // Included in a checkpoint covering the log.
    let older = checkpoint_at_head(&server, &mut clock, &verifier).await;
    let proof = inclusion(&server, first.position, older.size).await;
    receipt
        .verify_in(&older, &proof)
        .expect("included in the checkpoint");

    // The log grows; the later checkpoint extends the earlier one.
    for n in 5..40 {
        submit(&mut complaints, &format!("供水 {n}")).await;
    }
    let newer = checkpoint_at_head(&server, &mut clock, &verifier).await;
    assert!(newer.size > older.size);
    let consistency = client(&server)
        .await
        .get_consistency_proof(as_role(
            pb::GetConsistencyProofRequest {
                old_size: older.size,
                new_size: newer.size,
            },
            "portal",
        ))
        .await
        .expect("a consistency proof")
        .into_inner();
    newer
        .verify_extends(&older, &hashes(consistency.hashes))
        .expect("the newer checkpoint extends the older");
    let proof = inclusion(&server, first.position, newer.size).await;
    receipt.verify_in(&newer, &proof).expect("still included");

    // After a restart: the same key, the checkpoint kept, proofs still verify,
    // and the tree follows new events.
    // Open channels would hold the graceful shutdown for its grace period.
    drop(complaints);
    let server = server.restart();
    assert_eq!(log_key(&server).await, verifier);
    let kept = client(&server)
        .await
        .get_checkpoint(as_role(
            pb::GetCheckpointRequest { min_tree_size: 0 },
            "hotline",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        open_checkpoint(&kept.note, std::slice::from_ref(&verifier)).unwrap(),
        newer
    );
    let proof = inclusion(&server, first.position, newer.size).await;
    receipt
        .verify_in(&newer, &proof)
        .expect("included after the restart");
    let mut complaints = server.complaints().await;
    submit(&mut complaints, "燃气 41").await;
    let latest = checkpoint_at_head(&server, &mut clock, &verifier).await;
    assert_eq!(latest.size, newer.size + 1);
    let consistency = client(&server)
        .await
        .get_consistency_proof(as_role(
            pb::GetConsistencyProofRequest {
                old_size: older.size,
                new_size: latest.size,
            },
            "portal",
        ))
        .await
        .unwrap()
        .into_inner();
    latest
        .verify_extends(&older, &hashes(consistency.hashes))
        .expect("the tree after the restart extends the one before");
}

#[tokio::test]
async fn sizes_past_the_tree_and_bad_arguments_are_refused_by_name() {
    let server = Server::fresh();
    let mut complaints = server.complaints().await;
    let submitted = submit(&mut complaints, "停电").await;
    let mut client = client(&server).await;
    let beyond = submitted.position + 1_000;

    let error = client
        .get_inclusion_proof(as_role(
            pb::GetInclusionProofRequest {
                position: 1,
                tree_size: beyond,
            },
            "portal",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert!(error.message().contains(&beyond.to_string()), "{error:?}");

    let error = client
        .get_consistency_proof(as_role(
            pb::GetConsistencyProofRequest {
                old_size: 1,
                new_size: beyond,
            },
            "portal",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert!(error.message().contains(&beyond.to_string()), "{error:?}");

    let error = client
        .get_receipt(as_role(
            pb::GetReceiptRequest { position: beyond },
            "hotline",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert!(error.message().contains(&beyond.to_string()), "{error:?}");

    for (request, field) in [
        (
            pb::GetInclusionProofRequest {
                position: 0,
                tree_size: 1,
            },
            "position",
        ),
        (
            pb::GetInclusionProofRequest {
                position: 2,
                tree_size: 1,
            },
            "tree_size",
        ),
    ] {
        let error = client
            .get_inclusion_proof(as_role(request, "portal"))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
        assert!(error.message().contains(field), "{error:?}");
    }
    let error = client
        .get_consistency_proof(as_role(
            pb::GetConsistencyProofRequest {
                old_size: 2,
                new_size: 1,
            },
            "portal",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert!(error.message().contains("old_size"), "{error:?}");

    // A receipt names the event's stream: a unit not assigned to the
    // complaint may not have one.
    let error = client
        .get_receipt(as_unit(
            pb::GetReceiptRequest {
                position: submitted.position,
            },
            "power-bureau",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied, "{error:?}");
}

/// A receipt from the wire, checked against `keys` and its claimed entry.
fn checked(reply: &pb::Receipt, keys: &[Verifier], position: u64, stream: &str) -> Receipt {
    let receipt = from_pb(reply.clone());
    receipt.verify(keys).expect("the receipt's signature");
    assert_eq!(receipt.leaf.position, position);
    assert_eq!(receipt.leaf.stream, stream);
    receipt
}

#[tokio::test]
async fn any_command_returns_receipts_of_what_it_wrote_on_request() {
    let server = Server::fresh();
    let verifier = log_key(&server).await;
    let keys = std::slice::from_ref(&verifier);
    let mut complaints = server.complaints().await;
    let id = submit(&mut complaints, "停电").await.id;
    let stream = format!("complaint-{id}");

    // Without the option, none.
    let plain = complaints
        .classify_complaint(as_role(
            pb::ClassifyComplaintRequest {
                complaint_id: id.clone(),
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
        .unwrap();
    assert!(plain.receipts.is_empty());

    // With it, one per event written, oldest first, ending at the result's
    // position; a replay of the request gets the same entries.
    let dispatch = || {
        as_role(
            pb::DispatchComplaintRequest {
                complaint_id: id.clone(),
                options: Some(pb::CommandOptions {
                    request_id: "dispatch-1".into(),
                    receipt: true,
                    ..Default::default()
                }),
                ..Default::default()
            },
            "dispatcher",
        )
    };
    let result = complaints
        .dispatch_complaint(dispatch())
        .await
        .expect("dispatch")
        .into_inner()
        .result
        .unwrap();
    assert!(!result.receipts.is_empty());
    let first = result.position + 1 - result.receipts.len() as u64;
    let leaves: Vec<Leaf> = result
        .receipts
        .iter()
        .zip(first..)
        .map(|(reply, position)| checked(reply, keys, position, &stream).leaf)
        .collect();
    assert_eq!(leaves.last().unwrap().position, result.position);
    assert!(leaves.iter().any(|l| l.event_type == "ComplaintDispatched"));
    let replayed = complaints
        .dispatch_complaint(dispatch())
        .await
        .expect("replay")
        .into_inner()
        .result
        .unwrap();
    assert!(replayed.deduplicated);
    let again: Vec<Leaf> = replayed
        .receipts
        .iter()
        .map(|reply| from_pb(reply.clone()).leaf)
        .collect();
    assert_eq!(again, leaves);
}

/// The verifier keys of `GetLogKey`: the current one, then the retired.
async fn all_log_keys(server: &Server) -> (Verifier, Vec<Verifier>) {
    let reply = client(server)
        .await
        .get_log_key(as_role(pb::GetLogKeyRequest {}, "portal"))
        .await
        .unwrap()
        .into_inner();
    let retired = reply
        .retired
        .iter()
        .map(|key| {
            let verifier: Verifier = key.verifier_key.parse().unwrap();
            assert_eq!(verifier.key_id(), key.key_id);
            assert!(key.retired_at.is_some());
            verifier
        })
        .collect();
    (reply.verifier_key.parse().unwrap(), retired)
}

#[tokio::test]
async fn a_rotated_key_signs_on_while_old_receipts_verify_with_the_retired_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut clock = TestClock::in_dir(dir.path());
    let data = dir.path().join("data");
    let args = clock.args();
    let server = Server::start_with(&data, &args);
    let mut complaints = server.complaints().await;
    let intake = complaints
        .submit_complaint(as_role(submit_request("停电"), "hotline"))
        .await
        .unwrap()
        .into_inner();
    let old_key = log_key(&server).await;
    let old_receipt = from_pb(intake.receipt.unwrap());
    let before = checkpoint_at_head(&server, &mut clock, &old_key).await;
    drop(complaints);
    assert!(server.stop().success());

    // Offline: the chain and the tree both verify.
    let verified = crate::support::admin_offline("verify-dir", &[&data]);
    assert!(
        verified.contains(&format!(
            "transparency tree verified: {} leaves",
            before.size
        )),
        "{verified}"
    );
    let rotated = crate::support::admin_offline("rotate-log-key", &[&data]);
    assert!(
        rotated.contains(&format!("{:08x}", old_key.key_id())),
        "{rotated}"
    );

    let server = Server::start_with(&data, &args);
    let (new_key, retired) = all_log_keys(&server).await;
    assert_ne!(new_key.key_id(), old_key.key_id());
    assert_eq!(new_key.name(), old_key.name());
    assert_eq!(retired, vec![old_key.clone()]);
    let published = std::fs::read_to_string(data.join("log-signing.pub")).unwrap();
    assert_eq!(published, format!("{new_key}\n{old_key}\n"));
    // The old receipt verifies with the retired key, not the new one.
    old_receipt
        .verify(std::slice::from_ref(&old_key))
        .expect("verifies with the retired key");
    assert!(old_receipt.verify(std::slice::from_ref(&new_key)).is_err());

    let mut complaints = server.complaints().await;
    let later = submit(&mut complaints, "供水").await;
    let after = checkpoint_at_head(&server, &mut clock, &new_key).await;
    assert!(after.size >= later.position);
    let consistency = client(&server)
        .await
        .get_consistency_proof(as_role(
            pb::GetConsistencyProofRequest {
                old_size: before.size,
                new_size: after.size,
            },
            "portal",
        ))
        .await
        .unwrap()
        .into_inner();
    after
        .verify_extends(&before, &hashes(consistency.hashes))
        .expect("the new key's tree extends the old key's");
    let proof = inclusion(&server, old_receipt.leaf.position, after.size).await;
    old_receipt
        .verify_in(&after, &proof)
        .expect("the old entry is in the new key's checkpoint");
}

/// Rewrites the stored tree of a stopped server's data directory.
fn edit_tree(data: &std::path::Path, edit: impl FnOnce(&sled::Tree)) {
    let db = rectify_projections::ProjectionDb::open(&data.join("projections")).unwrap();
    let tree = db.named_tree("transparency").unwrap();
    edit(&tree);
    tree.flush().unwrap();
}

#[tokio::test]
async fn a_tampered_tree_is_named_by_verify_and_a_stalled_one_by_health() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut clock = TestClock::in_dir(dir.path());
    let data = dir.path().join("data");
    let args = clock.args();
    let server = Server::start_with(&data, &args);
    let mut complaints = server.complaints().await;
    for n in 0..4 {
        submit(&mut complaints, &format!("停电 {n}")).await;
    }
    let key = log_key(&server).await;
    let before = checkpoint_at_head(&server, &mut clock, &key).await;
    let reply = server
        .events()
        .await
        .verify_log(as_role(pb::VerifyLogRequest {}, "supervisor"))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.ok && reply.tree_ok, "{reply:?}");
    assert_eq!(reply.tree_size, before.size);
    drop(complaints);
    assert!(server.stop().success());

    // A stored leaf changed: verify-dir names its position, exit code 4.
    edit_tree(&data, |tree| {
        let key = rectify::server::transparency::tile_key(0, 0);
        let mut tile = tree.get(key).unwrap().expect("the first tile").to_vec();
        tile[32..64].copy_from_slice(&[7u8; 32]);
        tree.insert(key, tile).unwrap();
    });
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["admin", "verify-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    assert!(stdout.contains("hash chain verified"), "{stdout}");
    assert!(
        stdout.contains("the stored leaf of position 2 is not the leaf"),
        "{stdout}"
    );

    // Every node gone: the follower cannot extend the tree. It keeps
    // retrying; health says the service is not serving, proofs past the
    // tree say why, and the online verify names the tree's problem.
    edit_tree(&data, |tree| {
        for key in tree.scan_prefix(b"t").keys() {
            tree.remove(key.unwrap()).unwrap();
        }
    });
    clock.advance(10);
    let server = Server::start_with(&data, &args);
    let mut complaints = server.complaints().await;
    let stuck = submit(&mut complaints, "供水").await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "rectify.v1.TransparencyService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(status) = watch.message().await.unwrap() {
            if status.status == ServingStatus::NotServing as i32 {
                return;
            }
        }
        panic!("the health stream ended");
    })
    .await
    .expect("the transparency service reported not serving");
    let error = client(&server)
        .await
        .get_inclusion_proof(as_role(
            pb::GetInclusionProofRequest {
                position: 1,
                tree_size: stuck.position + 1,
            },
            "portal",
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
    assert!(error.message().contains("not growing"), "{error:?}");
    let reply = server
        .events()
        .await
        .verify_log(as_role(pb::VerifyLogRequest {}, "supervisor"))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.ok, "the chain itself is intact: {reply:?}");
    assert!(!reply.tree_ok, "{reply:?}");
    assert!(reply.tree_problem.contains("position 1"), "{reply:?}");
}

#[tokio::test]
async fn a_tree_stored_in_the_earlier_form_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mut complaints = server.complaints().await;
    for n in 0..3 {
        submit(&mut complaints, &format!("停电 {n}")).await;
    }
    let head = head(&server).await;
    drop(complaints);
    assert!(server.stop().success());
    // What a data directory of the previous version holds: nodes under
    // 9-byte keys and no format mark.
    edit_tree(&data, |tree| {
        for key in tree.scan_prefix(b"t").keys() {
            tree.remove(key.unwrap()).unwrap();
        }
        tree.remove(b"\0meta/format").unwrap();
        tree.insert(
            rectify_transparency::NodeId::new(0, 0).key(),
            &[1u8; 32][..],
        )
        .unwrap();
    });
    let server = Server::start(&data);
    let key = log_key(&server).await;
    let mut client = client(&server).await;
    let rebuilt = client
        .get_checkpoint(as_role(
            pb::GetCheckpointRequest {
                min_tree_size: head,
            },
            "portal",
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(rebuilt.tree_size >= head, "{rebuilt:?}");
    let reply = server
        .events()
        .await
        .verify_log(as_role(pb::VerifyLogRequest {}, "supervisor"))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.ok && reply.tree_ok, "{reply:?}");
    assert_eq!(reply.tree_size, head);
    let receipt = self::receipt(&server, 1).await;
    receipt.verify(std::slice::from_ref(&key)).unwrap();
}
