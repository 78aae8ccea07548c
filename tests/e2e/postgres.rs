//! Two `rectify serve` nodes on one PostgreSQL log: both take writes at
//! once, one is killed with SIGKILL mid-load, and afterwards every
//! acknowledged submission is in the log and both nodes' projections
//! agree on it (read-your-writes through `min_position` on either node).
//!
//! The server comes from `RECTIFY_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each run uses a fresh schema,
//! dropped afterwards. Without a reachable server the test fails saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rectify::pb::{self, complaint_service_client::ComplaintServiceClient};
use tokio::sync::mpsc;

use crate::support::{
    Server, admin_offline, as_role, head, options, read_log, submit, submit_and_dispatch,
    submit_request,
};

fn postgres() -> String {
    std::env::var("RECTIFY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema of its own for the test, dropped with everything in it at the end.
struct Schema {
    name: String,
}

impl Schema {
    /// Checks that PostgreSQL answers (failing the test with the reason
    /// when it does not) and names a fresh schema.
    async fn fresh() -> Schema {
        let url = postgres();
        match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
            Ok((_client, connection)) => drop(connection),
            Err(error) => panic!(
                "PostgreSQL at {url} is unreachable ({error}); start it (service postgresql \
                 start) or set RECTIFY_TEST_POSTGRES"
            ),
        }
        Schema {
            name: format!("rectify_e2e_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn store_url(&self) -> String {
        format!("{}?schema={}", postgres(), self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (postgres(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A node on the schema's log with the shared master key (and `extra`
/// `serve` flags).
fn node(data_dir: &Path, schema: &Schema, key: &Path, extra: &[String]) -> Server {
    let mut args = vec![
        "--store".to_owned(),
        schema.store_url(),
        "--master-key-file".to_owned(),
        key.display().to_string(),
    ];
    args.extend_from_slice(extra);
    Server::start_with(data_dir, &args)
}

/// A fresh master key file (mode 0600) in `dir`, shared by the nodes.
fn master_key(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let key = dir.join("master.key");
    let hex = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(&key, hex).expect("write the master key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

/// Submits up to `count` complaints through a node, reporting each
/// acknowledged one as (node, complaint id, position); stops at the first
/// error (its node was killed).
async fn load(
    mut client: ComplaintServiceClient<tonic::transport::Channel>,
    node: char,
    tag: String,
    count: usize,
    acked: mpsc::UnboundedSender<(char, String, u64)>,
) {
    for i in 0..count {
        let mut request = submit_request(&format!("{tag} {i}"));
        request.options = options(&format!("{tag}-{i}"));
        match client.submit_complaint(as_role(request, "hotline")).await {
            Ok(reply) => {
                let result = reply.into_inner().result.expect("a result");
                if acked.send((node, result.id, result.position)).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

async fn view(server: &Server, id: &str, min_position: u64) -> pb::ComplaintView {
    server
        .complaints()
        .await
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: id.to_owned(),
                min_position,
            },
            "dispatcher",
        ))
        .await
        .unwrap_or_else(|status| panic!("get {id}: {status}"))
        .into_inner()
        .complaint
        .expect("a complaint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_log_and_survive_a_sigkill() {
    let schema = Schema::fresh().await;
    let temp = tempfile::tempdir().expect("temp dir");
    let key = master_key(temp.path());
    let (dir_a, dir_b) = (temp.path().join("a"), temp.path().join("b"));
    let a = node(&dir_a, &schema, &key, &[]);
    let b = node(&dir_b, &schema, &key, &[]);

    let (sender, mut acked) = mpsc::unbounded_channel();
    let mut loads = Vec::new();
    for writer in 0..2 {
        loads.push(tokio::spawn(load(
            a.complaints().await,
            'a',
            format!("a{writer}"),
            25,
            sender.clone(),
        )));
        // Node b gets more than it can finish before it is killed.
        loads.push(tokio::spawn(load(
            b.complaints().await,
            'b',
            format!("b{writer}"),
            10_000,
            sender.clone(),
        )));
    }
    drop(sender);
    let mut positions: BTreeMap<String, u64> = BTreeMap::new();
    let mut from_b = 0;
    while from_b < 20 {
        let (node, id, position) = acked.recv().await.expect("acknowledgements");
        from_b += usize::from(node == 'b');
        positions.insert(id, position);
    }
    // SIGKILL, mid-load: dropping a running server kills it.
    drop(b);
    while let Some((_, id, position)) = acked.recv().await {
        positions.insert(id, position);
    }
    for task in loads {
        task.await.expect("load task");
    }
    let b = node(&dir_b, &schema, &key, &[]);
    let last = positions
        .values()
        .copied()
        .max()
        .expect("acknowledged writes");
    assert!(positions.len() >= 70, "{} acknowledged", positions.len());
    for (id, position) in &positions {
        // Read-your-writes on whichever node is asked next.
        let on_a = view(&a, id, *position).await;
        let on_b = view(&b, id, last).await;
        assert_eq!(on_a, on_b, "the nodes disagree on {id}");
        assert_eq!(on_a.complaint_id, *id);
    }
    let report = a
        .events()
        .await
        .verify_log(as_role(pb::VerifyLogRequest {}, "supervisor"))
        .await
        .expect("verify")
        .into_inner();
    assert!(report.ok, "{report:?}");
    assert!(report.events_checked >= last);

    // Rotating the master key works on the shared log with every node
    // stopped, and a node starts on the rotated key.
    drop((a, b));
    let store = schema.store_url();
    let printed = admin_offline(
        "rotate-master-key",
        &[Path::new(&store), Path::new("--master-key-file"), &key],
    );
    let rewrapped: usize = printed
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {printed:?}"));
    assert!(rewrapped >= positions.len(), "{printed}");
    let a = node(&dir_a, &schema, &key, &[]);
    let (id, position) = positions.iter().next().expect("a complaint");
    assert_eq!(view(&a, id, *position).await.complaint_id, *id);
}

/// The deadline watcher runs on every node, and a watcher on one node does
/// not know what the other's is doing: here six passes, three per node, run
/// at once over the same overdue complaints. Each warning is still in the
/// log exactly once, because its request id is derived from (complaint,
/// milestone, level, due time) and the log's exact event-id check and
/// per-stream version check run in the append transaction, whichever node
/// appends; the passes' own counts add up to what the log holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_watcher_runs_and_each_warning_is_written_once() {
    use chrono::TimeZone as _;
    let schema = Schema::fresh().await;
    let temp = tempfile::tempdir().expect("temp dir");
    let key = master_key(temp.path());
    let clock = temp.path().join("clock");
    // Wednesday 14 October 2026, 10:00 Beijing time.
    let start = chrono::Utc.with_ymd_and_hms(2026, 10, 14, 2, 0, 0).unwrap();
    std::fs::write(&clock, start.to_rfc3339()).expect("write the clock");
    let on_clock = ["--clock-file".to_owned(), clock.display().to_string()];
    let a = node(&temp.path().join("a"), &schema, &key, &on_clock);
    let b = node(&temp.path().join("b"), &schema, &key, &on_clock);

    // Received on one node, dispatched through the other; a few left
    // undispatched so the dispatch deadline is warned too.
    let (mut on_a, mut on_b) = (a.complaints().await, b.complaints().await);
    let mut ids = Vec::new();
    for n in 0..12 {
        if n % 4 == 0 {
            ids.push(submit(&mut on_a, &format!("停电 {n}")).await.id);
        } else {
            ids.push(submit_and_dispatch(&mut on_b, &format!("停电 {n}")).await.0);
        }
    }
    // Two working weeks later every deadline has passed.
    std::fs::write(&clock, (start + chrono::Duration::days(14)).to_rfc3339())
        .expect("move the clock");
    let before = head(&a).await;
    // A pass finds its candidates in its node's own ledger: let both
    // catch up first (a later pass would find what a lagging one missed).
    for server in [&a, &b] {
        warning_counts(server, before).await;
    }

    let mut passes = Vec::new();
    for server in [&a, &b, &a, &b, &a, &b] {
        let mut admin = server.admin().await;
        passes.push(tokio::spawn(async move {
            admin
                .scan_deadlines(as_role(pb::ScanDeadlinesRequest {}, "admin"))
                .await
                .expect("scan deadlines")
                .into_inner()
        }));
    }
    let (mut reported, mut skipped) = (0, 0);
    for pass in passes {
        let report = pass.await.expect("pass");
        reported += report.yellow + report.red;
        skipped += report.skipped;
    }
    // The passes did meet: some found their warning already written.
    assert!(skipped > 0, "no pass met another's warning");

    let warnings: Vec<pb::Event> = read_log(&b, "supervisor", None)
        .await
        .into_iter()
        .filter(|event| event.position > before)
        .filter(|event| {
            matches!(
                event.event_type.as_str(),
                "DeadlineWarned" | "DeadlineMissed"
            )
        })
        .collect();
    let mut seen = BTreeSet::new();
    for event in &warnings {
        let payload: serde_json::Value =
            serde_json::from_str(&event.payload_json).expect("payload JSON");
        assert!(
            payload["milestone"].is_string() && payload["due_at"].is_string(),
            "{payload}"
        );
        let key = (
            event.stream.clone(),
            event.event_type.clone(),
            payload["milestone"].to_string(),
            payload["due_at"].to_string(),
        );
        assert!(seen.insert(key.clone()), "written twice: {key:?}");
    }
    // Every complaint has at least its red warning; the counts agree.
    let warned: BTreeSet<&str> = warnings.iter().map(|e| e.stream.as_str()).collect();
    assert_eq!(warned.len(), ids.len(), "{warned:?}");
    assert_eq!(reported as usize, warnings.len());

    // Both nodes' ledgers see the same warnings.
    let last = head(&a).await;
    let counts = [
        warning_counts(&a, last).await,
        warning_counts(&b, last).await,
    ];
    assert_eq!(counts[0], counts[1]);
    let red = counts[0]
        .buckets
        .iter()
        .find(|bucket| bucket.key == "WARNING_LEVEL_RED")
        .map_or(0, |bucket| bucket.count);
    assert_eq!(red as usize, ids.len());
}

/// The node's ledger rows by their highest warning, once its projections
/// have reached `min_position`.
async fn warning_counts(server: &Server, min_position: u64) -> pb::LedgerGrouping {
    server
        .queries()
        .await
        .count_ledger(as_role(
            pb::CountLedgerRequest {
                filter: None,
                group_by: vec![pb::LedgerDimension::Warning as i32],
                min_position,
            },
            "dispatcher",
        ))
        .await
        .expect("count ledger")
        .into_inner()
        .groupings
        .remove(0)
}

/// `rectify bench --spawn --store postgres://… --nodes 2` runs against two
/// nodes on one log without errors, and every submission it counts is in
/// the log, once. (Which node each client used is not visible in the log;
/// the round-robin is `run_level`'s indexing, not checked here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bench_drives_two_nodes_on_one_log() {
    let schema = Schema::fresh().await;
    let temp = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args([
            "bench",
            "--spawn",
            "--store",
            &schema.store_url(),
            "--nodes",
            "2",
        ])
        .args(["--clients", "4", "--seconds", "1", "--json", "--data-dir"])
        .arg(temp.path().join("bench"))
        .env("RUST_LOG", "error")
        .output()
        .expect("run rectify bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the bench's JSON");
    let level = &reports[0];
    assert_eq!(level["clients"], 4);
    assert_eq!(level["errors"], 0, "{level}");
    let submitted = level["complaints"].as_u64().expect("complaints");
    assert!(submitted > 0, "{level}");

    // The log holds exactly the acknowledged submissions (one event each).
    let key = temp.path().join("bench").join("master.key");
    let node = node(&temp.path().join("after"), &schema, &key, &[]);
    let events = read_log(&node, "supervisor", None).await;
    let received = events
        .iter()
        .filter(|event| event.event_type == "ComplaintReceived")
        .count();
    assert_eq!(received as u64, submitted);
}

/// The transparency tree follows a PostgreSQL log too: two nodes, each with
/// its own signing key, build the same tree over the shared log, and a
/// receipt from one node checks against the other's checkpoint.
#[tokio::test]
async fn two_nodes_build_the_same_transparency_tree_over_one_log() {
    use crate::support::TestClock;
    use crate::transparency::{checkpoint_at_head, inclusion, log_key, receipt};

    let schema = Schema::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let key = master_key(dir.path());
    let mut clock = TestClock::in_dir(dir.path());
    let on_clock = clock.args();
    let a = node(&dir.path().join("a"), &schema, &key, &on_clock);
    let b = node(&dir.path().join("b"), &schema, &key, &on_clock);
    let mut on_a = a.complaints().await;
    let mut on_b = b.complaints().await;
    let first = submit(&mut on_a, "停电 a").await;
    for n in 0..6 {
        submit(&mut on_b, &format!("停电 b{n}")).await;
    }
    let (key_a, key_b) = (log_key(&a).await, log_key(&b).await);
    assert_ne!(key_a, key_b, "each node signs with its own key");
    let at_a = checkpoint_at_head(&a, &mut clock, &key_a).await;
    let at_b = checkpoint_at_head(&b, &mut clock, &key_b).await;
    assert_eq!((at_a.size, at_a.root), (at_b.size, at_b.root));
    let from_b = receipt(&b, first.position).await;
    from_b.verify(std::slice::from_ref(&key_b)).unwrap();
    let proof = inclusion(&a, first.position, at_a.size).await;
    from_b
        .verify_in(&at_a, &proof)
        .expect("node b's receipt is in node a's tree");
}
