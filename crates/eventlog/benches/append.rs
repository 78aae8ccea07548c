//! Event log benchmark, one run: durable appends at 1/16/256 concurrent
//! appenders against a plain-file group-commit reference on the same disk,
//! intake appends (a new stream whose secret is set, as a complaint's
//! intake) against plain ones, replay speed and bytes on disk over 1M
//! events, and resident memory.
//!
//! Run: `cargo bench -p rectify-eventlog --bench append`. Set
//! `EVENTLOG_BENCH_DIR` to measure on another disk (default: the system temp
//! dir), `EVENTLOG_BENCH_SECS` for the length of each throughput phase,
//! `EVENTLOG_BENCH_APPENDERS` (e.g. `256`) to run only some throughput
//! phases and `EVENTLOG_BENCH_EVENTS` for the size of the replay log
//! (default 1M; smaller for profiling under callgrind). With
//! `EVENTLOG_BENCH_POSTGRES` (e.g. `postgres://postgres@127.0.0.1/test`)
//! the throughput phases also run on PostgreSQL.

/// The allocator the `rectify` binary uses, so the bench measures what the
/// server's writer does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rectify_eventlog::{
    Durability, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, PostgresStore,
    SecretChange, SledStore, StoreConfig, Uuid,
};

const PAYLOAD_BYTES: usize = 300;
const REPLAY_EVENTS: u64 = 1_000_000;

/// A number from the environment, or `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn payload() -> Vec<u8> {
    let mut p = br#"{"text":""#.to_vec();
    p.resize(PAYLOAD_BYTES - 2, b'x');
    p.extend_from_slice(br#""}"#);
    p
}

fn event() -> NewEvent {
    NewEvent {
        id: Uuid::new_v4(),
        event_type: "ComplaintReceived".into(),
        schema_version: 1,
        payload: payload(),
        metadata: Metadata {
            actor: Some("bench".into()),
            recorded_at_ms: 1_700_000_000_000,
            ..Metadata::default()
        },
    }
}

/// VmHWM and VmRSS in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct Run {
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
}

fn summarize(mut latencies_us: Vec<u64>, elapsed: Duration) -> Run {
    latencies_us.sort_unstable();
    let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q) as usize];
    Run {
        per_sec: latencies_us.len() as f64 / elapsed.as_secs_f64(),
        p50_us: at(0.50),
        p99_us: at(0.99),
    }
}

async fn drive<F, Fut>(appenders: usize, duration: Duration, append: F) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks = (0..appenders).map(|task| {
        let append = append.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                append(task).await;
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        })
    });
    let mut all = Vec::new();
    for latencies in futures::future::join_all(tasks).await {
        all.extend(latencies.expect("appender task"));
    }
    summarize(all, start.elapsed())
}

/// The physical reference: a plain append-only file, one writer thread,
/// one fdatasync per drained batch, then every waiter is acknowledged.
fn reference_writer(path: &Path) -> mpsc::Sender<(Vec<u8>, tokio::sync::oneshot::Sender<()>)> {
    let (sender, receiver) = mpsc::channel::<(Vec<u8>, tokio::sync::oneshot::Sender<()>)>();
    let mut file = File::create(path).expect("reference file");
    std::thread::spawn(move || {
        while let Ok(first) = receiver.recv() {
            let mut batch = vec![first];
            batch.extend(receiver.try_iter().take(4095));
            let mut buf = Vec::with_capacity(batch.len() * (PAYLOAD_BYTES + 8));
            for (record, _) in &batch {
                buf.extend_from_slice(&(record.len() as u32).to_le_bytes());
                buf.extend_from_slice(record);
            }
            file.write_all(&buf).expect("reference write");
            file.sync_data().expect("reference fdatasync");
            for (_, ack) in batch {
                let _ = ack.send(());
            }
        }
    });
    sender
}

fn open(dir: &Path, durability: Durability) -> SledStore {
    SledStore::open(StoreConfig {
        path: dir.to_path_buf(),
        durability,
        ..StoreConfig::default()
    })
    .expect("open store")
}

/// The same throughput phases on PostgreSQL (`synchronous_commit` as the
/// server has it, `on` by default), each in a fresh schema dropped after.
fn postgres_phases(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    phases: &[usize],
    phase: Duration,
) {
    println!();
    println!("PostgreSQL at {url}");
    println!();
    println!("| appenders | appends/s | p50 ms | p99 ms |");
    println!("| ---: | ---: | ---: | ---: |");
    for &appenders in phases {
        let schema = format!("rectify_bench_{}", Uuid::new_v4().simple());
        let run = runtime.block_on(async {
            let store =
                PostgresStore::open(&format!("{url}?schema={schema}"), StoreConfig::default())
                    .await
                    .expect("open PostgreSQL (is it running? EVENTLOG_BENCH_POSTGRES)");
            let run = drive(appenders, phase, move |task| {
                let store = store.clone();
                async move {
                    store
                        .append(
                            &format!("bench-{task}"),
                            ExpectedVersion::Any,
                            vec![event()],
                        )
                        .await
                        .expect("append");
                }
            })
            .await;
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .expect("drop the bench schema");
            run
        });
        println!(
            "| {appenders} | {:.0} | {:.2} | {:.2} |",
            run.per_sec,
            run.p50_us as f64 / 1000.0,
            run.p99_us as f64 / 1000.0,
        );
    }
}

/// Intake as the server does it: each append opens a stream of its own and
/// sets the stream's secret (the complaint's sealing key), which its
/// commit writes in a secrets record before the events.
fn intake_phase(
    runtime: &tokio::runtime::Runtime,
    store: &SledStore,
    appenders: usize,
    phase: Duration,
) -> Run {
    let opened = Arc::new(AtomicU64::new(0));
    let store = store.clone();
    runtime.block_on(drive(appenders, phase, move |_| {
        let (store, opened) = (store.clone(), opened.clone());
        async move {
            let n = opened.fetch_add(1, Ordering::Relaxed);
            store
                .append_with_secret(
                    &format!("intake-{n}"),
                    ExpectedVersion::NoStream,
                    vec![event()],
                    SecretChange::Set(n.to_le_bytes().repeat(4)),
                )
                .await
                .expect("intake append");
        }
    }))
}

/// The intake phases beside the plain ones, as a Markdown table.
fn print_intakes(intakes: &[(usize, Run)], plains: &[(usize, f64)]) {
    println!();
    println!(
        "| appenders | intake appends/s (new stream, secret set) | p50 ms | p99 ms | intake / plain |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (appenders, intake) in intakes {
        let plain = plains
            .iter()
            .find(|(a, _)| a == appenders)
            .map_or(0.0, |(_, p)| *p);
        println!(
            "| {appenders} | {:.0} | {:.2} | {:.2} | {:.2} |",
            intake.per_sec,
            intake.p50_us as f64 / 1000.0,
            intake.p99_us as f64 / 1000.0,
            intake.per_sec / plain,
        );
    }
}

fn main() {
    let base = std::env::var_os("EVENTLOG_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let secs = env_or("EVENTLOG_BENCH_SECS", 4);
    let replay_events = env_or("EVENTLOG_BENCH_EVENTS", REPLAY_EVENTS);
    let phases: Vec<usize> = std::env::var("EVENTLOG_BENCH_APPENDERS").map_or_else(
        |_| vec![1, 16, 256],
        |list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        },
    );
    let phase = Duration::from_secs(secs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "payload {PAYLOAD_BYTES} B, {secs} s per phase, dir {}",
        base.display()
    );
    println!();
    println!(
        "| appenders | rectify appends/s | p50 ms | p99 ms | reference appends/s | p50 ms | p99 ms | ratio |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut single = 0.0;
    let (mut plains, mut intakes) = (Vec::new(), Vec::new());
    for &appenders in &phases {
        let dir = tempfile::tempdir_in(&base).expect("temp dir");
        let store = open(dir.path(), Durability::Fsync);
        let ours = runtime.block_on({
            let store = store.clone();
            drive(appenders, phase, move |task| {
                let store = store.clone();
                async move {
                    store
                        .append(
                            &format!("bench-{task}"),
                            ExpectedVersion::Any,
                            vec![event()],
                        )
                        .await
                        .expect("append");
                }
            })
        });
        let intake = intake_phase(&runtime, &store, appenders, phase);
        intakes.push((appenders, intake));
        store.shutdown().expect("shutdown");
        let reference = reference_writer(&dir.path().join("reference.log"));
        let theirs = runtime.block_on(drive(appenders, phase, move |_| {
            let reference = reference.clone();
            async move {
                let (ack, acked) = tokio::sync::oneshot::channel();
                reference.send((payload(), ack)).expect("reference writer");
                acked.await.expect("reference ack");
            }
        }));
        if appenders == 1 {
            single = ours.per_sec;
        }
        plains.push((appenders, ours.per_sec));
        println!(
            "| {appenders} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            ours.per_sec,
            ours.p50_us as f64 / 1000.0,
            ours.p99_us as f64 / 1000.0,
            theirs.per_sec,
            theirs.p50_us as f64 / 1000.0,
            theirs.p99_us as f64 / 1000.0,
            ours.per_sec / theirs.per_sec,
        );
        if appenders == 256 && single > 0.0 {
            println!();
            println!("256 appenders vs 1: {:.1}x", ours.per_sec / single);
        }
    }
    print_intakes(&intakes, &plains);
    let (hwm, now) = rss();
    println!("RSS after throughput phases: VmHWM {hwm:.0} MiB, VmRSS {now:.0} MiB");
    if let Ok(url) = std::env::var("EVENTLOG_BENCH_POSTGRES") {
        postgres_phases(&runtime, &url, &phases, phase);
    }

    // Replay and size over 1M events, loaded in appends of 100 by 16 appenders.
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    let store = open(dir.path(), Durability::Interval { every_ms: 200 });
    let load_start = Instant::now();
    runtime.block_on(async {
        let per_task = replay_events / 16 / 100;
        let tasks = (0..16).map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let events = (0..100).map(|_| event()).collect();
                    store
                        .append(&format!("load-{task}"), ExpectedVersion::Any, events)
                        .await
                        .expect("load");
                }
            })
        });
        futures::future::join_all(tasks).await;
    });
    let load = load_start.elapsed();
    let (hwm, now) = rss();
    println!("RSS after loading: VmHWM {hwm:.0} MiB, VmRSS {now:.0} MiB");
    store.shutdown().expect("shutdown");
    drop(store);
    let store = open(dir.path(), Durability::Fsync);
    let (hwm, now) = rss();
    println!("RSS after reopening: VmHWM {hwm:.0} MiB, VmRSS {now:.0} MiB");
    let stats = store.stats().expect("stats");
    let replay_start = Instant::now();
    let replayed = runtime.block_on(async {
        let mut from = 1;
        let mut count = 0u64;
        let mut payload_bytes = 0u64;
        loop {
            let page = store
                .read_all(from, 10_000, &Filter::default())
                .await
                .expect("replay");
            let Some(last) = page.last() else { break };
            from = last.position + 1;
            count += page.len() as u64;
            payload_bytes += page.iter().map(|e| e.payload.len() as u64).sum::<u64>();
        }
        (count, payload_bytes)
    });
    let replay = replay_start.elapsed();
    let verify_start = Instant::now();
    let report = runtime.block_on(store.verify(&mut |_| {})).expect("verify");
    let verify = verify_start.elapsed();
    let du: u64 = walk_size(dir.path());
    println!();
    println!(
        "load {} events: {:.0} events/s (relaxed mode, appends of 100)",
        stats.events,
        stats.events as f64 / load.as_secs_f64()
    );
    println!(
        "replay {} events (read + decode): {:.0} events/s",
        replayed.0,
        replayed.0 as f64 / replay.as_secs_f64()
    );
    println!(
        "verify {} events: {:.0} events/s, ok = {}",
        report.events_checked,
        report.events_checked as f64 / verify.as_secs_f64(),
        report.ok()
    );
    println!(
        "on disk: sled size_on_disk {:.1} B/event, directory {:.1} B/event, payload {:.1} B/event, directory/payload {:.2}x",
        stats.size_on_disk_bytes as f64 / stats.events as f64,
        du as f64 / stats.events as f64,
        replayed.1 as f64 / replayed.0 as f64,
        du as f64 / replayed.1 as f64
    );
    let (hwm, now) = rss();
    println!("RSS at the end: VmHWM {hwm:.0} MiB, VmRSS {now:.0} MiB (cache_capacity 64 MiB)");
}

fn walk_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => walk_size(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
