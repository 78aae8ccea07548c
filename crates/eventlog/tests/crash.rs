//! SIGKILL crash test: a child process appends in the default (fsync) mode
//! and prints every acknowledgement; the parent kills it at a random moment,
//! reopens the store, and checks that every acknowledged event is present,
//! byte-identical, and that the hash chain verifies. The child is this test
//! binary re-executed with `CHILD_ENV` set.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rectify_eventlog::{
    EventStore, ExpectedVersion, Metadata, NewEvent, SledStore, StoreConfig, Uuid,
};

const CHILD_ENV: &str = "RECTIFY_EVENTLOG_CRASH_CHILD";
const ROUNDS: u64 = 20;
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill";
/// Concurrent appenders in the child, so kills land inside group commits.
const CHILD_APPENDERS: usize = 8;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

fn payload(id: Uuid) -> Vec<u8> {
    format!("{{\"id\":\"{id}\",\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes()
}

fn random_below(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish() % bound
}

/// Child mode: append forever, print `ACK stream first_version first_position id...`.
fn run_child(dir: &Path) {
    let store = SledStore::open(config(dir)).expect("child opens the store");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let tasks = (0..CHILD_APPENDERS).map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0u64.. {
                    let stream = format!("crash-{}", (task as u64 + n) % 5);
                    let count = 1 + (n % 3) as usize;
                    let events: Vec<NewEvent> = (0..count)
                        .map(|_| {
                            let id = Uuid::new_v4();
                            NewEvent {
                                id,
                                event_type: "Appended".into(),
                                schema_version: 1,
                                payload: payload(id),
                                metadata: Metadata {
                                    actor: Some(format!("task-{task}")),
                                    recorded_at_ms: n as i64,
                                    ..Metadata::default()
                                },
                            }
                        })
                        .collect();
                    let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
                    let outcome = store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .expect("child append");
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ACK {stream} {} {} {}",
                        outcome.first_version,
                        outcome.first_position,
                        ids.join(" ")
                    )
                    .and_then(|()| out.flush())
                    .expect("report ack");
                }
            })
        });
        futures::future::join_all(tasks).await;
    });
}

struct Ack {
    stream: String,
    first_version: u64,
    first_position: u64,
    ids: Vec<Uuid>,
}

fn parse(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ACK ")?.split(' ');
    let stream = words.next()?.to_owned();
    let first_version = words.next()?.parse().ok()?;
    let first_position = words.next()?.parse().ok()?;
    let ids = words
        .map(|w| w.parse().ok())
        .collect::<Option<Vec<Uuid>>>()?;
    Some(Ack {
        stream,
        first_version,
        first_position,
        ids,
    })
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("log");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (first_ack, first_ack_seen) = mpsc::channel();
        let collector = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(ack) = parse(&line) {
                    if acks.is_empty() {
                        let _ = first_ack.send(());
                    }
                    acks.push(ack);
                }
            }
            acks
        });
        first_ack_seen
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledged an append");
        // The random kill moment: somewhere in the next 0–60 ms of appends.
        std::thread::sleep(Duration::from_millis(random_below(60)));
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        let acks = collector.join().expect("collector");
        total_acked += acks.len();

        let config = config(&data);
        let store = SledStore::open(config).expect("reopen after kill");
        runtime.block_on(async {
            for ack in &acks {
                for (i, id) in ack.ids.iter().enumerate() {
                    let event = store
                        .find_event(*id)
                        .await
                        .expect("find")
                        .unwrap_or_else(|| panic!("round {round}: acknowledged event {id} lost"));
                    assert_eq!(event.stream, ack.stream);
                    assert_eq!(event.version, ack.first_version + i as u64);
                    assert_eq!(event.position, ack.first_position + i as u64);
                    assert_eq!(event.payload, payload(*id));
                }
            }
            let report = store.verify(&mut |_| {}).await.expect("verify");
            assert!(report.ok(), "round {round}: {report:?}");
            assert_eq!(
                report.events_checked,
                store.head_position().await.expect("head")
            );
        });
        store.shutdown().expect("shutdown");
    }
    assert!(total_acked >= ROUNDS as usize);
}
