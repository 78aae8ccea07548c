//! The verifier's command line through a real server: a receipt file kept
//! from `complaint submit --receipt-out`, verified offline and online
//! (inclusion in the latest checkpoint, consistency with a kept one) after
//! thousands of later events and a restart; and each kind of tampering —
//! an edited leaf, an unknown key, a forked log, a rewritten history —
//! detected and named by `receipt verify` or `checkpoints audit`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use rectify_transparency::{Checkpoint, Leaf, Receipt, Signer, open_checkpoint, sign_checkpoint};
use serde_json::Value;

use crate::{
    support::TestClock,
    support::{Server, cli, head, submit, submit_request},
    transparency::{checkpoint_at_head, log_key},
};

/// What a CLI run left: exit code, stdout, stderr.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `rectify <args>` with no server from the environment (verifying
/// goes online only when `--server` is given).
fn rectify(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(args)
        .env_remove("RECTIFY_SERVER")
        .env_remove("RECTIFY_TOKEN")
        .output()
        .expect("run the rectify CLI");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `rectify <args>` must exit with `code`; its stdout.
fn expect_exit(args: &[&str], code: i32) -> String {
    let run = rectify(args);
    assert_eq!(
        run.code, code,
        "rectify {args:?} exited {}:\n{}{}",
        run.code, run.stdout, run.stderr
    );
    run.stdout
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn url(server: &Server) -> String {
    format!("http://{}", server.addr)
}

/// A server on a clock file the test moves; its clock and data directory.
fn server_with_clock(dir: &Path, extra: &[String]) -> (Server, TestClock) {
    std::fs::create_dir_all(dir).unwrap();
    let clock = TestClock::in_dir(dir);
    let mut args = clock.args();
    args.extend_from_slice(extra);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    (Server::start_with(&data, &args), clock)
}

/// `complaint submit` through the CLI, keeping the intake's receipt in
/// `out`; the complaint's position.
fn submit_keeping_receipt(server: &Server, out: &Path) -> u64 {
    let printed = cli(
        server,
        &[
            "complaint",
            "submit",
            "--as",
            "hotline",
            "--name",
            "王女士",
            "--phone",
            "13812345678",
            "--district",
            "dongsheng",
            "--title",
            "新建厂房两个月未接电",
            "--text",
            "新建厂房申请用电报装，两个月还没有接电，影响企业投产。",
            "--receipt-out",
            path(out),
        ],
    );
    assert!(printed.contains("receipt written to"), "{printed}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(file["format"], "rectify-receipt");
    assert_eq!(file["version"], 1);
    assert_eq!(file["entry"]["event_type"], "ComplaintReceived");
    file["position"].as_u64().expect("a position")
}

/// `count` intakes from 16 concurrent clients.
async fn submit_many(server: &Server, count: usize) {
    const CLIENTS: usize = 16;
    let client = server.complaints().await;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            for n in (c..count).step_by(CLIENTS) {
                submit(&mut client, &format!("供水 {n}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a submitting task");
    }
}

// Several threads: the test blocks in CLI runs and the restart, while the
// dropped clients' connections must still close for the graceful shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_receipt_verifies_offline_and_online_after_thousands_of_events_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut clock) = server_with_clock(dir.path(), &[]);
    let receipt = dir.path().join("receipt.json");
    let key = server.data_dir.join("log-signing.pub");
    let position = submit_keeping_receipt(&server, &receipt);
    let verifier = log_key(&server).await;
    let key_id = format!("{:08x}", verifier.key_id());

    let offline = expect_exit(
        &["receipt", "verify", path(&receipt), "--key", path(&key)],
        0,
    );
    for expected in [
        format!("position {position} of rectify.local/log"),
        "ComplaintReceived (受理)".to_owned(),
        "2026-11-02 10:00:00 北京时间".to_owned(),
        format!("rectify.local/log+{key_id}"),
        "verified: the log signed this entry (offline".to_owned(),
    ] {
        assert!(offline.contains(&expected), "{expected:?} in {offline}");
    }
    // A receipt asked for later states the same entry.
    let later = dir.path().join("later.json");
    let position_arg = position.to_string();
    let got = cli(
        &server,
        &[
            "receipt",
            "get",
            &position_arg,
            "--as",
            "supervisor",
            "--out",
            path(&later),
        ],
    );
    assert!(got.contains("ComplaintReceived (受理)"), "{got}");
    expect_exit(&["receipt", "verify", path(&later), "--key", path(&key)], 0);

    // An investigator keeps the checkpoint covering the intake.
    let older = checkpoint_at_head(&server, &mut clock, &verifier).await;
    let kept = dir.path().join("kept.note");
    let fetched = cli(
        &server,
        &[
            "checkpoints",
            "fetch",
            "--out",
            path(&kept),
            "--key",
            path(&key),
        ],
    );
    assert!(
        fetched.contains(&format!("at size {}", older.size)),
        "{fetched}"
    );
    let kept_note = std::fs::read_to_string(&kept).unwrap();
    assert_eq!(
        open_checkpoint(&kept_note, std::slice::from_ref(&verifier)).unwrap(),
        older
    );

    // Thousands of later events, then a restart on the same data.
    submit_many(&server, 2_000).await;
    let server = server.restart();
    let newer = checkpoint_at_head(&server, &mut clock, &verifier).await;
    assert!(
        newer.size >= older.size + 2_000,
        "{} after {}",
        newer.size,
        older.size
    );

    let latest = dir.path().join("latest.note");
    let online = expect_exit(
        &[
            "receipt",
            "verify",
            path(&receipt),
            "--key",
            path(&key),
            "--server",
            &url(&server),
            "--checkpoint",
            path(&kept),
            "--save-checkpoint",
            path(&latest),
        ],
        0,
    );
    for expected in [
        format!("the server's latest, size {}", newer.size),
        format!("position {position} is in the tree of size {}", newer.size),
        format!(
            "size {} ({}) is extended by size {}",
            older.size,
            path(&kept),
            newer.size
        ),
        "verified: the log signed this entry, and holds it now".to_owned(),
    ] {
        assert!(online.contains(&expected), "{expected:?} in {online}");
    }
    let saved = std::fs::read_to_string(&latest).unwrap();
    assert_eq!(
        open_checkpoint(&saved, std::slice::from_ref(&verifier)).unwrap(),
        newer
    );

    // The same as JSON; and the saved checkpoints audit clean.
    let json: Value = serde_json::from_str(&expect_exit(
        &[
            "receipt",
            "verify",
            path(&receipt),
            "--key",
            &verifier.to_string(),
            "--server",
            &url(&server),
            "--checkpoint",
            path(&kept),
            "--json",
        ],
        0,
    ))
    .unwrap();
    assert_eq!(json["verified"], true);
    assert_eq!(json["receipt"]["position"], position);
    let checks: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "file",
            "signature",
            "leaf",
            "checkpoint",
            "inclusion",
            "consistency"
        ]
    );
    let audit = expect_exit(
        &[
            "checkpoints",
            "audit",
            path(&latest),
            path(&kept),
            "--key",
            path(&key),
            "--server",
            &url(&server),
        ],
        0,
    );
    assert!(audit.contains("ok: 3 checkpoints"), "{audit}");
    assert!(audit.contains("each extends the one before it"), "{audit}");
}

/// Rewrites the receipt file at `from` into `to` with `edit`.
fn edited(from: &Path, to: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(from).unwrap()).unwrap();
    edit(&mut file);
    std::fs::write(to, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    to.to_path_buf()
}

/// The receipt in a receipt file, as the crate reads it.
fn leaf_of(file: &Value) -> Leaf {
    Leaf::decode(&BASE64.decode(file["leaf"].as_str().unwrap()).unwrap()).unwrap()
}

/// Offline: each tampered receipt fails with exit code 3 and names what.
fn tampered_receipts_are_named(dir: &Path, receipt: &Path, key: &Path) {
    let verify =
        |file: &Path| expect_exit(&["receipt", "verify", path(file), "--key", path(key)], 3);

    // A forger who changes the leaf and its readable copy alike.
    let changed = edited(receipt, &dir.join("changed-leaf.json"), |file| {
        let mut leaf = leaf_of(file);
        leaf.event_type = "ComplaintWithdrawn".into();
        file["leaf"] = BASE64.encode(leaf.encode().unwrap()).into();
        file["entry"]["event_type"] = "ComplaintWithdrawn".into();
    });
    let out = verify(&changed);
    assert!(out.contains("FAIL leaf"), "{out}");
    assert!(out.contains("leaf hash mismatch"), "{out}");
    assert!(out.contains("NOT VERIFIED: 1 check(s) failed"), "{out}");

    // Only the readable copy edited.
    let readable = edited(receipt, &dir.join("edited-entry.json"), |file| {
        file["entry"]["stream"] = "complaint-RC-forged".into();
    });
    let out = verify(&readable);
    assert!(out.contains("FAIL file"), "{out}");
    assert!(
        out.contains("entry.stream reads \"complaint-RC-forged\""),
        "{out}"
    );

    // The position moved: the signature no longer covers the statement.
    let moved = edited(receipt, &dir.join("moved.json"), |file| {
        let position = file["position"].as_u64().unwrap();
        file["position"] = (position + 1).into();
    });
    let out = verify(&moved);
    assert!(out.contains("FAIL signature"), "{out}");
    assert!(out.contains("bad signature"), "{out}");

    // A receipt for the same leaf signed by a key the verifier does not know.
    let other = Signer::new("rectify.local/log", [9; 32]).unwrap();
    let unknown = edited(receipt, &dir.join("unknown-key.json"), |file| {
        let forged = Receipt::issue(
            "rectify.local/log",
            leaf_of(file),
            file["time_unix_s"].as_i64().unwrap(),
            &other,
        )
        .unwrap();
        file["key_id"] = format!("{:08x}", forged.signed.key_id).into();
        file["signature"] = BASE64.encode(forged.signed.signature).into();
    });
    let out = verify(&unknown);
    assert!(out.contains("FAIL signature"), "{out}");
    assert!(
        out.contains(&format!(
            "unknown key id: signed by rectify.local/log+{:08x}",
            other.key_id()
        )),
        "{out}"
    );
    // Known once its key is given too (a rotated key).
    expect_exit(
        &[
            "receipt",
            "verify",
            path(&unknown),
            "--key",
            path(key),
            "--key",
            &other.verifier().to_string(),
        ],
        0,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_receipts_forks_and_rewritten_histories_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut clock) = server_with_clock(&dir.path().join("a"), &[]);
    let receipt = dir.path().join("receipt.json");
    let key = server.data_dir.join("log-signing.pub");
    submit_keeping_receipt(&server, &receipt);
    let mut complaints = server.complaints().await;
    for n in 0..5 {
        submit(&mut complaints, &format!("停电 {n}")).await;
    }
    let verifier = log_key(&server).await;
    tampered_receipts_are_named(dir.path(), &receipt, &key);

    // A checkpoint kept at the head, and a fork of it: the same size under
    // the log's own key with another root.
    let older = checkpoint_at_head(&server, &mut clock, &verifier).await;
    let kept = dir.path().join("kept.note");
    cli(&server, &["checkpoints", "fetch", "--out", path(&kept)]);
    // An intake after it waits for the next checkpoint, which the clock
    // does not allow yet: not a failure, exit code 4.
    let late = dir.path().join("late.json");
    let late_position = submit_keeping_receipt(&server, &late);
    let out = expect_exit(
        &[
            "receipt",
            "verify",
            path(&late),
            "--key",
            path(&key),
            "--server",
            &url(&server),
        ],
        4,
    );
    assert!(
        out.contains(&format!(
            "wait inclusion    the latest checkpoint, at size {}, does not cover position {late_position} yet",
            older.size
        )),
        "{out}"
    );
    let signer = Signer::from_key_string(
        std::fs::read_to_string(server.data_dir.join("log-signing.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let fork = dir.path().join("fork.note");
    let forked = Checkpoint {
        root: [7; 32],
        ..older.clone()
    };
    std::fs::write(&fork, sign_checkpoint(&forked, &[&signer]).unwrap()).unwrap();
    let out = expect_exit(
        &[
            "checkpoints",
            "audit",
            path(&kept),
            path(&fork),
            "--key",
            path(&key),
        ],
        3,
    );
    assert!(
        out.contains(&format!(
            "fork at size {}: {} has root",
            older.size,
            path(&fork)
        )) && out.contains(&format!("and {} has root", path(&kept))),
        "{out}"
    );

    // A second log under the same key whose history differs from the
    // first event on, and grew past the kept checkpoint: its checkpoint is
    // validly signed, but no tree the real log can prove extends the kept
    // one is its tree.
    let (other, mut other_clock) = server_with_clock(
        &dir.path().join("b"),
        &[
            "--log-signing-key-file".to_owned(),
            server
                .data_dir
                .join("log-signing.key")
                .display()
                .to_string(),
        ],
    );
    let mut other_complaints = other.complaints().await;
    let mut n = 0;
    while head(&other).await < older.size + 2 {
        submit_as(&mut other_complaints, n).await;
        n += 1;
    }
    let rewritten = checkpoint_at_head(&other, &mut other_clock, &verifier).await;
    let rewritten_note = dir.path().join("rewritten.note");
    cli(
        &other,
        &["checkpoints", "fetch", "--out", path(&rewritten_note)],
    );
    while head(&server).await <= rewritten.size {
        submit(&mut complaints, "燃气").await;
    }
    let latest = checkpoint_at_head(&server, &mut clock, &verifier).await;
    assert!(latest.size > rewritten.size);

    let out = expect_exit(
        &[
            "checkpoints",
            "audit",
            path(&kept),
            path(&rewritten_note),
            "--key",
            path(&key),
            "--server",
            &url(&server),
        ],
        3,
    );
    assert!(
        out.contains(&format!(
            "checkpoint at size {} not extended by size {}",
            older.size, rewritten.size
        )),
        "{out}"
    );
    assert!(out.contains(path(&rewritten_note)), "{out}");

    // The receipt verifies against the real log, but the rewritten
    // checkpoint kept alongside fails consistency by name.
    let out = expect_exit(
        &[
            "receipt",
            "verify",
            path(&receipt),
            "--key",
            path(&key),
            "--server",
            &url(&server),
            "--checkpoint",
            path(&kept),
            "--checkpoint",
            path(&rewritten_note),
        ],
        3,
    );
    assert!(out.contains("ok   inclusion"), "{out}");
    assert!(
        out.contains(&format!(
            "size {} ({}) is extended",
            older.size,
            path(&kept)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "FAIL consistency  checkpoint at size {} not extended by size {}",
            rewritten.size, latest.size
        )),
        "{out}"
    );
    assert!(out.contains(path(&rewritten_note)), "{out}");
}

/// One intake on the second log.
async fn submit_as(
    client: &mut rectify::pb::complaint_service_client::ComplaintServiceClient<
        tonic::transport::Channel,
    >,
    n: u64,
) {
    crate::support::submit_as_hotline(client, submit_request(&format!("另一日志 {n}"))).await;
}
