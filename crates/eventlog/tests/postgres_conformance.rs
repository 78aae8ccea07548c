//! Runs the backend-neutral conformance suite against PostgreSQL, each test
//! in a fresh schema dropped afterwards, plus the checks only several
//! writers on one database can make.
//!
//! The server comes from `RECTIFY_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached the
//! tests fail saying so; they never pass without it.

use futures::StreamExt;
use rectify_eventlog::conformance::new_event;
use rectify_eventlog::{
    EventStore, ExpectedVersion, Filter, PostgresStore, SecretChange, SledStore, StoreConfig, Uuid,
    copy_log,
};

fn server() -> String {
    std::env::var("RECTIFY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops its schema (and every table in it) when the test ends.
struct Schema {
    name: String,
}

impl Schema {
    fn url(&self) -> String {
        format!("{}?schema={}", server(), self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (server(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test schema {}: {error}", self.name);
        }
    }
}

fn new_schema() -> Schema {
    Schema {
        name: format!("rectify_test_{}", Uuid::new_v4().simple()),
    }
}

async fn open(schema: &Schema) -> PostgresStore {
    PostgresStore::open(&schema.url(), StoreConfig::default())
        .await
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL at {} is unreachable or refused the test schema: {error}. \
                 Start it (service postgresql start) or set RECTIFY_TEST_POSTGRES.",
                server()
            )
        })
}

async fn fresh() -> (PostgresStore, Schema) {
    let schema = new_schema();
    (open(&schema).await, schema)
}

rectify_eventlog::conformance_tests!(fresh);

/// Several stores on one schema are several nodes: appenders on each
/// (separate connections, separate writers) race a subscriber on a fifth
/// store that checkpoints by position. It must see every position exactly
/// once, in order, and the chain must verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_several_nodes_and_a_racing_reader_miss_nothing() {
    let schema = new_schema();
    let nodes = [
        open(&schema).await,
        open(&schema).await,
        open(&schema).await,
    ];
    let reader_node = open(&schema).await;
    let per_task = 20u128;
    let tasks_per_node = 6u128;
    let total = nodes.len() as u64 * (tasks_per_node * per_task * 2) as u64;
    let mut subscription = reader_node.subscribe(1, Filter::default());
    let reader = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(total as usize);
        while (seen.len() as u64) < total {
            let event = subscription
                .next()
                .await
                .expect("subscription ended")
                .expect("subscription failed");
            seen.push(event.position);
        }
        seen
    });
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for t in 0..tasks_per_node {
            let node = node.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..per_task {
                    let base = ((n as u128 * 100 + t) * 1000 + i) * 2;
                    node.append(
                        &format!("s-{}", (t + i) % 5),
                        ExpectedVersion::Any,
                        vec![
                            new_event(base + 1, "E", "{}"),
                            new_event(base + 2, "E", "{}"),
                        ],
                    )
                    .await
                    .expect("append");
                }
            }));
        }
    }
    for writer in writers {
        writer.await.expect("writer task");
    }
    let seen = reader.await.expect("reader task");
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert_eq!(reader_node.head_position().await.unwrap(), total);
    let report = nodes[0].verify(&mut |_| {}).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.events_checked, total);
}

/// Two nodes appending to one stream with the same expected version:
/// exactly one wins, the other gets a conflict naming the winner's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_appends_on_two_nodes_have_one_winner() {
    let schema = new_schema();
    let (a, b) = (open(&schema).await, open(&schema).await);
    for round in 0..20u128 {
        let expected = match round {
            0 => ExpectedVersion::NoStream,
            r => ExpectedVersion::Exact(r as u64 - 1),
        };
        let (x, y) = futures::join!(
            a.append("c", expected, vec![new_event(round * 2 + 1, "E", "{}")]),
            b.append("c", expected, vec![new_event(round * 2 + 2, "E", "{}")]),
        );
        assert!(x.is_ok() ^ y.is_ok(), "round {round}: {x:?} {y:?}");
    }
    assert_eq!(b.stream_version("c").await.unwrap(), Some(19));
}

/// A log copied sled → PostgreSQL → sled keeps positions, versions,
/// hashes and secrets; each copy verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_copied_between_backends_keeps_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let sled_at = |name: &str| StoreConfig {
        path: dir.path().join(name),
        ..StoreConfig::default()
    };
    let source = SledStore::open(sled_at("a")).unwrap();
    for i in 0..40u128 {
        let secret = if i < 3 {
            SecretChange::Set(format!("key-{i}").into_bytes())
        } else {
            SecretChange::Keep
        };
        source
            .append_with_secret(
                &format!("s-{}", i % 3),
                ExpectedVersion::Any,
                vec![new_event(i + 1, "E", &format!("{{\"n\":{i}}}"))],
                secret,
            )
            .await
            .unwrap();
    }
    let (middle, _schema) = fresh().await;
    let there = copy_log(&source, &middle, 40, &mut |_, _| {})
        .await
        .unwrap();
    let back = SledStore::open(sled_at("b")).unwrap();
    let again = copy_log(&middle, &back, 40, &mut |_, _| {}).await.unwrap();
    assert_eq!(there.last_hash, again.last_hash);
    let all = Filter::default();
    assert_eq!(
        source.read_all(1, 100, &all).await.unwrap(),
        middle.read_all(1, 100, &all).await.unwrap()
    );
    assert_eq!(
        middle.stream_secret("s-2").await.unwrap().as_deref(),
        Some(&b"key-2"[..])
    );
    assert_eq!(
        back.stream_secret("s-1").await.unwrap().as_deref(),
        Some(&b"key-1"[..])
    );
    assert!(middle.verify(&mut |_| {}).await.unwrap().ok());
    assert!(back.verify(&mut |_| {}).await.unwrap().ok());
}

/// Erasure deletes the secret's row; no table keeps a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_secret_leaves_no_row() {
    let (store, schema) = fresh().await;
    store
        .append_with_secret(
            "s",
            ExpectedVersion::NoStream,
            vec![new_event(1, "Created", "{}")],
            SecretChange::Set(b"wrapped-key".to_vec()),
        )
        .await
        .unwrap();
    store
        .append_with_secret(
            "s",
            ExpectedVersion::Exact(0),
            vec![new_event(2, "Erased", "{}")],
            SecretChange::Destroy,
        )
        .await
        .unwrap();
    let (client, connection) = tokio_postgres::connect(&server(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            &format!(
                "SELECT count(*) FROM {}.stream_secrets WHERE position('wrapped-key'::bytea in secret) > 0",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    assert!(store.secrets_page(None, 10).await.unwrap().is_empty());
}

/// A NUL character, which PostgreSQL text cannot hold, is refused on its
/// own and does not fail the appends committed beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_name_is_refused_alone() {
    let (store, _schema) = fresh().await;
    let (bad, good) = futures::join!(
        store.append("a\0b", ExpectedVersion::Any, vec![new_event(1, "E", "{}")]),
        store.append("ok", ExpectedVersion::Any, vec![new_event(2, "E", "{}")]),
    );
    assert!(
        matches!(bad, Err(rectify_eventlog::StoreError::InvalidArgument(_))),
        "{bad:?}"
    );
    good.unwrap();
    let bad_type = store
        .append("ok", ExpectedVersion::Any, vec![new_event(3, "E\0", "{}")])
        .await;
    assert!(matches!(
        bad_type,
        Err(rectify_eventlog::StoreError::InvalidArgument(_))
    ));
    assert_eq!(store.head_position().await.unwrap(), 1);
}
