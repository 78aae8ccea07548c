//! SIGKILL crash test: a child process appends in the default (fsync) mode
//! from concurrent tasks, one to three events per append, and prints every
//! acknowledgement with the hash of the append's last event; the parent
//! kills it at a random moment, reopens the store, and checks that every
//! acknowledged event is present, byte-identical, at its version and
//! position with its hash, that every append in the log is whole (an
//! unacknowledged one may be there, never part of one), that every
//! acknowledged id is found (the id index's runs are small here, so kills
//! also land while runs are written and merged), that a retry of
//! the last acknowledged append is deduplicated, and that the hash chain
//! verifies. Every fourth append also sets its new stream's secret, and two
//! appends later the same task destroys it with one more event on that
//! stream: each secret must be there exactly while its stream has only its
//! first event (so an acknowledged set holds it until a destroy is written,
//! and a written destroy, acknowledged or not, leaves none), and no secret
//! may exist without its stream's events. The child is this test binary re-executed with
//! `CHILD_ENV` set; the log starts afresh every `ROUNDS_PER_LOG` rounds so
//! each round's verification stays short.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rectify_eventlog::{
    EventStore, ExpectedVersion, Filter, Metadata, NewEvent, SecretChange, SledStore, StoreConfig,
    Uuid,
};

const CHILD_ENV: &str = "RECTIFY_EVENTLOG_CRASH_CHILD";
const ROUNDS: u64 = 100;
const ROUNDS_PER_LOG: u64 = 20;
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill";
/// Concurrent appenders in the child, so kills land inside group commits.
const CHILD_APPENDERS: usize = 8;
/// The streams whose one append sets their secret: `sealed-<append>`.
const SEALED: &str = "sealed-";

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        // Small id runs, so kills also land while runs are written and merged.
        id_run_events: 32,
        ..StoreConfig::default()
    }
}

/// The payload names its append (task, sequence number) and its place in it.
fn payload(id: Uuid, append: &str, index: usize, of: usize) -> Vec<u8> {
    format!(
        "{{\"id\":\"{id}\",\"append\":\"{append}\",\"index\":{index},\"of\":{of},\"pad\":\"{}\"}}",
        "x".repeat(200)
    )
    .into_bytes()
}

/// (append, index, of) from a payload written by [`payload`].
fn payload_place(payload: &[u8]) -> (String, u64, u64) {
    let value: serde_json::Value = serde_json::from_slice(payload).expect("JSON payload");
    (
        value["append"].as_str().expect("append").to_owned(),
        value["index"].as_u64().expect("index"),
        value["of"].as_u64().expect("of"),
    )
}

fn random_below(bound: u64) -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish() % bound
}

/// Child mode: append forever, print
/// `ACK stream first_version first_position last_hash id...`.
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
                    let count = 1 + (n % 3) as usize;
                    let append = format!("{}-{task}-{n}", std::process::id());
                    // Every fourth append opens a stream of its own and
                    // sets its secret, as a complaint's intake does.
                    let (stream, secret) = if n % 4 == 3 {
                        let secret = SecretChange::Set(append.clone().into_bytes());
                        (format!("{SEALED}{append}"), secret)
                    } else if n % 4 == 1 && n > 4 {
                        // The secret this task set two appends ago.
                        let sealed = format!("{SEALED}{}-{task}-{}", std::process::id(), n - 2);
                        (sealed, SecretChange::Destroy)
                    } else {
                        let stream = format!("crash-{}", (task as u64 + n) % 5);
                        (stream, SecretChange::Keep)
                    };
                    let events: Vec<NewEvent> = (0..count)
                        .map(|index| {
                            let id = Uuid::new_v4();
                            NewEvent {
                                id,
                                event_type: "Appended".into(),
                                schema_version: 1,
                                payload: payload(id, &append, index, count),
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
                        .append_with_secret(&stream, ExpectedVersion::Any, events, secret)
                        .await
                        .expect("child append");
                    let last = store
                        .read_all(outcome.last_position, 1, &Filter::default())
                        .await
                        .expect("child reads its append back");
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "ACK {stream} {} {} {} {}",
                        outcome.first_version,
                        outcome.first_position,
                        hex(&last[0].hash),
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Ack {
    stream: String,
    first_version: u64,
    first_position: u64,
    last_hash: String,
    ids: Vec<Uuid>,
}

fn parse(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ACK ")?.split(' ');
    let stream = words.next()?.to_owned();
    let first_version = words.next()?.parse().ok()?;
    let first_position = words.next()?.parse().ok()?;
    let last_hash = words.next()?.to_owned();
    let ids = words
        .map(|w| w.parse().ok())
        .collect::<Option<Vec<Uuid>>>()?;
    Some(Ack {
        stream,
        first_version,
        first_position,
        last_hash,
        ids,
    })
}

/// Runs one child until its first acknowledgement plus a random moment,
/// kills it, and returns what it acknowledged.
fn run_and_kill(data: &Path) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, data)
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
    // The random kill moment: somewhere in the next 0–40 ms of appends.
    std::thread::sleep(Duration::from_millis(random_below(40)));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    collector.join().expect("collector")
}

/// Every acknowledged event is there as acknowledged.
async fn check_acknowledged(store: &SledStore, acks: &[Ack], round: u64) {
    for ack in acks {
        for (i, id) in ack.ids.iter().enumerate() {
            let event = store
                .find_event(*id)
                .await
                .expect("find")
                .unwrap_or_else(|| panic!("round {round}: acknowledged event {id} lost"));
            assert_eq!(event.stream, ack.stream);
            assert_eq!(event.version, ack.first_version + i as u64);
            assert_eq!(event.position, ack.first_position + i as u64);
            let (_, index, of) = payload_place(&event.payload);
            assert_eq!((index, of), (i as u64, ack.ids.len() as u64));
            assert_eq!(
                event.payload,
                payload(*id, &payload_place(&event.payload).0, i, ack.ids.len())
            );
            if i + 1 == ack.ids.len() {
                assert_eq!(
                    hex(&event.hash),
                    ack.last_hash,
                    "round {round}: hash of {id}"
                );
            }
        }
    }
}

/// A retry of the last acknowledged append is recognised and writes
/// nothing: the id index is exact after the kill, whether or not the kill
/// came before the ids reached it.
async fn check_retry(store: &SledStore, acks: &[Ack], round: u64) {
    let Some(ack) = acks.last() else { return };
    let mut events = Vec::new();
    for id in &ack.ids {
        let event = store
            .find_event(*id)
            .await
            .expect("find")
            .expect("acknowledged event present");
        events.push(NewEvent {
            id: event.id,
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
            metadata: event.metadata,
        });
    }
    let head = store.head_position().await.expect("head");
    let retry = store
        .append(&ack.stream, ExpectedVersion::Any, events)
        .await
        .expect("retry");
    assert!(
        retry.deduplicated,
        "round {round}: the retry was written again"
    );
    assert_eq!(
        (retry.first_version, retry.first_position),
        (ack.first_version, ack.first_position),
        "round {round}"
    );
    assert_eq!(store.head_position().await.expect("head"), head);
}

/// Every acknowledged secret is there until its destroy is written, none
/// is left after, and every secret there has its stream's events (an
/// unacknowledged append may have set one, with them).
async fn check_secrets(store: &SledStore, acks: &[Ack], round: u64) {
    for ack in acks {
        if let Some(append) = ack.stream.strip_prefix(SEALED) {
            let secret = store.stream_secret(&ack.stream).await.expect("secret");
            let version = store.stream_version(&ack.stream).await.expect("version");
            // The setting append wrote 1 + n % 3 events; any later version
            // is the destroying append's.
            let n: u64 = append
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("append number");
            let expected = (version == Some(n % 3)).then_some(append.as_bytes());
            assert_eq!(
                secret.as_deref(),
                expected,
                "round {round}: {} at version {version:?}",
                ack.stream
            );
        }
    }
    for entry in store.secrets() {
        let (stream, _) = entry.expect("a stored secret");
        let version = store.stream_version(&stream).await.expect("version");
        assert!(
            version.is_some(),
            "round {round}: {stream} has a secret and no events"
        );
    }
}

/// Every append in the log is whole and contiguous, acknowledged or not.
async fn check_whole_appends(store: &SledStore, round: u64) {
    let all = store
        .read_all(1, usize::MAX, &Filter::default())
        .await
        .expect("read the log");
    let mut at = 0;
    while at < all.len() {
        let (append, index, of) = payload_place(&all[at].payload);
        assert_eq!(
            index, 0,
            "round {round}: append {append} starts in its middle"
        );
        let end = at + of as usize;
        assert!(
            end <= all.len(),
            "round {round}: append {append} is cut short"
        );
        for (i, event) in all[at..end].iter().enumerate() {
            assert_eq!(
                payload_place(&event.payload),
                (append.clone(), i as u64, of),
                "round {round}: append {append} is not contiguous"
            );
            assert_eq!(event.stream, all[at].stream);
            assert_eq!(event.version, all[at].version + i as u64);
        }
        at = end;
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut total_acked = 0;
    let mut multi_event = 0;
    let mut sealed = 0;
    let mut destroyed = 0;
    for round in 0..ROUNDS {
        let data = dir.path().join(format!("log-{}", round / ROUNDS_PER_LOG));
        let acks = run_and_kill(&data);
        total_acked += acks.len();
        multi_event += acks.iter().filter(|a| a.ids.len() > 1).count();
        sealed += acks.iter().filter(|a| a.stream.starts_with(SEALED)).count();
        destroyed += acks
            .iter()
            .filter(|a| a.stream.starts_with(SEALED) && a.first_version > 0)
            .count();
        let store = SledStore::open(config(&data)).expect("reopen after kill");
        runtime.block_on(async {
            check_acknowledged(&store, &acks, round).await;
            check_whole_appends(&store, round).await;
            check_retry(&store, &acks, round).await;
            check_secrets(&store, &acks, round).await;
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
    assert!(multi_event > 0, "no multi-event append was acknowledged");
    assert!(sealed > 0, "no append that sets a secret was acknowledged");
    assert!(
        destroyed > 0,
        "no append that destroys a secret was acknowledged"
    );
}
