//! Two `rectify serve` nodes on one PostgreSQL log: both take writes at
//! once, one is killed with SIGKILL mid-load, and afterwards every
//! acknowledged submission is in the log and both nodes' projections
//! agree on it (read-your-writes through `min_position` on either node).
//!
//! The server comes from `RECTIFY_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each run uses a fresh schema,
//! dropped afterwards. Without a reachable server the test fails saying so.

use std::collections::BTreeMap;
use std::path::Path;

use rectify::pb::{self, complaint_service_client::ComplaintServiceClient};
use tokio::sync::mpsc;

use crate::support::{Server, admin_offline, as_role, options, submit_request};

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

fn node(data_dir: &Path, schema: &Schema, key: &Path) -> Server {
    Server::start_with(
        data_dir,
        &[
            "--store".to_owned(),
            schema.store_url(),
            "--master-key-file".to_owned(),
            key.display().to_string(),
        ],
    )
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
    let key = temp.path().join("master.key");
    let hex = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::write(&key, hex).expect("write the master key");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (dir_a, dir_b) = (temp.path().join("a"), temp.path().join("b"));
    let a = node(&dir_a, &schema, &key);
    let b = node(&dir_b, &schema, &key);

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
    let b = node(&dir_b, &schema, &key);
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
    let a = node(&dir_a, &schema, &key);
    let (id, position) = positions.iter().next().expect("a complaint");
    assert_eq!(view(&a, id, *position).await.complaint_id, *id);
}
