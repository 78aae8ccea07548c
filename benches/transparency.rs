//! The transparency log (the RFC 6962 tree over the event log), one run of
//! three phases:
//!
//! 1. **appends with the tree maintained**: durable appends to the sled
//!    event store at 1, 16 and 256 concurrent appenders (one ~300-byte event
//!    per append, each appender its own stream, as the event log's `append`
//!    bench makes them), in alternating rounds without and with the server's
//!    follower (`server::transparency::start`) keeping the tree in a
//!    projections store; then how far behind the follower is when a round
//!    ends and how long it takes to catch up;
//! 2. **building the tree from an existing log**: the follower from size 0
//!    to caught up on a log loaded as the `append` bench loads its replay log
//!    (16 appenders, appends of 100, relaxed durability), beside a plain
//!    drain of the same subscription, with the peak resident memory of the
//!    build;
//! 3. **proofs on a large tree**: the tree's nodes written in the stored form
//!    (the sled tree `transparency` of a projections store, one batch per
//!    chunk of 256 leaves, as the follower writes them when it catches up)
//!    straight from leaf hashes, without events, then random inclusion and consistency proofs
//!    timed one by one after reopening the store, with the nodes each reads.
//!
//! ```sh
//! cargo bench --bench transparency                  # short: 200k-event log, 1M-leaf tree
//! TRANSPARENCY_BENCH_EVENTS=1000000 TRANSPARENCY_BENCH_LEAVES=10000000 \
//!     cargo bench --bench transparency              # full
//! ```
//!
//! Environment: `TRANSPARENCY_BENCH_DIR` (the disk; default the system temp
//! dir), `TRANSPARENCY_BENCH_PHASES` (default `append,build,proofs`),
//! `TRANSPARENCY_BENCH_APPENDERS` (default `1,16,256`),
//! `TRANSPARENCY_BENCH_SECS` (seconds per append round, default 2),
//! `TRANSPARENCY_BENCH_ROUNDS` (rounds per configuration, default 3),
//! `TRANSPARENCY_BENCH_EVENTS` (the log the tree is built from, default
//! 200,000, rounded down to a multiple of 1,600),
//! `TRANSPARENCY_BENCH_LEAVES` (the proof tree, default 1,000,000),
//! `TRANSPARENCY_BENCH_CHUNK` (leaves per batch writing it, default 256) and
//! `TRANSPARENCY_BENCH_PROOFS` (proofs per kind, default 10,000).

use std::{
    cell::Cell,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use rectify::server::{
    clock::SystemClock,
    transparency::{self, StoredNodes, TREE_NAME, Transparency},
};
use rectify_eventlog::{
    Durability, EventStore, ExpectedVersion, Filter, Metadata, NewEvent, SledStore, StoreConfig,
    Uuid,
};
use rectify_projections::ProjectionDb;
use rectify_transparency::{
    Hash, Leaf, NodeId, NodeStore, PendingNodes, Signer, consistency_proof, inclusion_proof, root,
    verify_consistency, verify_inclusion,
};

const PAYLOAD_BYTES: usize = 300;
/// Leaves per sled batch when writing the proof tree: what the follower
/// writes at once when it catches up on a sled store, whose subscription
/// buffers 256 events (the follower would take up to 4,096; batches that
/// large make sled 0.34 hold about 6 KiB of memory per leaf and write twice
/// the bytes, see `TRANSPARENCY_BENCH_CHUNK`).
const CHUNK: u64 = 256;
/// Longest wait for the follower to catch up before a round counts as
/// never caught up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(600);

/// A number from the environment, or `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
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

fn open_store(dir: &Path, durability: Durability) -> SledStore {
    SledStore::open(StoreConfig {
        path: dir.to_path_buf(),
        durability,
        ..StoreConfig::default()
    })
    .expect("open the event store")
}

fn signer() -> Signer {
    Signer::new("bench.rectify.local/log", [7; 32]).expect("a signing key")
}

/// The follower on `store`, keeping its tree in a projections store in
/// `dir`, as `rectify serve` starts it.
async fn follow(
    store: &SledStore,
    dir: &Path,
) -> (ProjectionDb, Arc<Transparency>, tokio::task::JoinHandle<()>) {
    let db = ProjectionDb::open(dir).expect("open the projections store");
    let (log, task) = transparency::start(
        store.clone(),
        &db,
        transparency::LogKeys {
            signer: signer(),
            retired: Vec::new(),
        },
        Arc::new(SystemClock),
    )
    .await
    .expect("start the follower");
    (db, log, task)
}

/// The tree kept beside the appends of a round, by the server's follower.
struct KeptTree {
    _db: ProjectionDb,
    log: Arc<Transparency>,
    task: tokio::task::JoinHandle<()>,
}

impl KeptTree {
    async fn start(store: &SledStore, dir: &Path) -> KeptTree {
        let (db, log, task) = follow(store, dir).await;
        KeptTree { _db: db, log, task }
    }

    fn size(&self) -> u64 {
        self.log.size()
    }

    async fn wait_for(&mut self, size: u64) -> bool {
        self.log.wait_for(size, CATCH_UP_LIMIT).await
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

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5); whether
/// the kernel allowed it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
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

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// splitmix64: reproducible sizes and indexes without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high` (`low < high`).
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

// ---------------------------------------------------------------- appends

/// One append round's figures.
struct Round {
    per_sec: f64,
    p99_ms: f64,
    /// With the tree: events the tree lacked when the appenders stopped, and
    /// how long it took to hold them all (`None`: not within the limit).
    follower: Option<(u64, Option<Duration>)>,
}

async fn append_round(base: &Path, appenders: usize, secs: u64, with_tree: bool) -> Round {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let store = open_store(&dir.path().join("log"), Durability::Fsync);
    let tree = if with_tree {
        Some(KeptTree::start(&store, &dir.path().join("projections")).await)
    } else {
        None
    };
    let duration = Duration::from_secs(secs);
    let start = Instant::now();
    let tasks = (0..appenders).map(|task| {
        let store = store.clone();
        tokio::spawn(async move {
            let stream = format!("bench-{task}");
            let mut latencies = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                store
                    .append(&stream, ExpectedVersion::Any, vec![event()])
                    .await
                    .expect("append");
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        })
    });
    let mut latencies = Vec::new();
    for task in futures::future::join_all(tasks).await {
        latencies.extend(task.expect("appender task"));
    }
    let elapsed = start.elapsed();
    let head = store.head_position().await.expect("head");
    assert_eq!(head, latencies.len() as u64, "one event per append");
    latencies.sort_unstable();
    let p99 = latencies[(latencies.len() - 1) * 99 / 100];
    let follower = match tree {
        Some(mut tree) => {
            let lag = head - tree.size().min(head);
            let catch_up = Instant::now();
            let caught = tree.wait_for(head).await;
            let caught = caught.then(|| catch_up.elapsed());
            tree.task.abort();
            let _ = tree.task.await;
            Some((lag, caught))
        }
        None => None,
    };
    store.shutdown().expect("shutdown");
    Round {
        per_sec: head as f64 / elapsed.as_secs_f64(),
        p99_ms: p99 as f64 / 1000.0,
        follower,
    }
}

fn append_phase(runtime: &tokio::runtime::Runtime, base: &Path, secs: u64, rounds: u64) {
    let phases: Vec<usize> = std::env::var("TRANSPARENCY_BENCH_APPENDERS").map_or_else(
        |_| vec![1, 16, 256],
        |list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        },
    );
    println!(
        "## Appends with and without the tree ({rounds} rounds of {secs} s each, alternating)"
    );
    println!();
    println!(
        "| appenders | without: events/s (rounds) | p99 ms | with: events/s (rounds) | p99 ms | ratio of medians | ratio per round pair | lag at end, events (max) | catch-up ms (median / max) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |");
    for &appenders in &phases {
        let (mut without, mut with) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so a drift in the machine's load
            // does not always favour the same side.
            let order = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for with_tree in order {
                let r = runtime.block_on(append_round(base, appenders, secs, with_tree));
                if with_tree { &mut with } else { &mut without }.push(r);
            }
        }
        print_append_row(appenders, &without, &with);
    }
    println!();
}

fn print_append_row(appenders: usize, without: &[Round], with: &[Round]) {
    let rates = |rounds: &[Round]| rounds.iter().map(|r| r.per_sec).collect::<Vec<_>>();
    let listed = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let p99 = |rounds: &[Round]| median(&rounds.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
    let (off, on) = (rates(without), rates(with));
    let pairs = off
        .iter()
        .zip(&on)
        .map(|(off, on)| format!("{:.2}", on / off))
        .collect::<Vec<_>>()
        .join(", ");
    let lags = with.iter().filter_map(|r| r.follower.map(|(lag, _)| lag));
    let catch_ups: Vec<f64> = with
        .iter()
        .filter_map(|r| r.follower.and_then(|(_, c)| c))
        .map(|c| c.as_secs_f64() * 1000.0)
        .collect();
    let missed = with.len() - catch_ups.len();
    let catch_up = format!(
        "{:.1} / {:.1}{}",
        median(&catch_ups),
        catch_ups.iter().copied().fold(0.0, f64::max),
        if missed > 0 {
            format!(
                " ({missed} not caught up in {} s)",
                CATCH_UP_LIMIT.as_secs()
            )
        } else {
            String::new()
        }
    );
    println!(
        "| {appenders} | {:.0} ({}) | {:.2} | {:.0} ({}) | {:.2} | {:.2} | {pairs} | {} | {catch_up} |",
        median(&off),
        listed(&off),
        p99(without),
        median(&on),
        listed(&on),
        p99(with),
        median(&on) / median(&off),
        lags.max().unwrap_or(0),
    );
}

// ------------------------------------------------------------------ build

fn build_phase(runtime: &tokio::runtime::Runtime, base: &Path, events: u64) {
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let log_dir = dir.path().join("log");
    let per_task = events / 16 / 100;
    println!(
        "## Building the tree from a log of {} events",
        per_task * 1600
    );
    println!();
    let store = open_store(&log_dir, Durability::Interval { every_ms: 200 });
    let load = Instant::now();
    runtime.block_on(async {
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
        for task in futures::future::join_all(tasks).await {
            task.expect("loader task");
        }
    });
    let load = load.elapsed();
    store.shutdown().expect("shutdown");
    drop(store);
    // Reopened, as a server starts on an existing log.
    let store = open_store(&log_dir, Durability::Fsync);
    let head = runtime.block_on(store.head_position()).expect("head");
    println!(
        "loaded {head} events in {:.1} s ({:.0} events/s)",
        load.as_secs_f64(),
        head as f64 / load.as_secs_f64()
    );

    // The subscription alone: what the follower's reading costs.
    let drain = Instant::now();
    let drained = runtime.block_on(async {
        use futures::StreamExt as _;
        let mut events = store.subscribe(1, Filter::default());
        let mut count = 0u64;
        while count < head {
            events.next().await.expect("an event").expect("readable");
            count += 1;
        }
        count
    });
    let drain = drain.elapsed();

    let reset = reset_peak_rss();
    let (_, rss_before) = rss();
    let projections = dir.path().join("projections");
    let build = Instant::now();
    let caught = runtime.block_on(async {
        let (db, log, task) = follow(&store, &projections).await;
        let caught = log.wait_for(head, CATCH_UP_LIMIT).await;
        let size = log.size();
        task.abort();
        let _ = task.await;
        db.flush().expect("flush the projections store");
        caught.then_some(size)
    });
    let build = build.elapsed();
    let (hwm, rss_after) = rss();
    store.shutdown().expect("shutdown");
    println!();
    println!("| | figure |");
    println!("| --- | ---: |");
    println!(
        "| drain of the subscription from position 1 | {:.0} events/s ({drained} events in {:.2} s) |",
        drained as f64 / drain.as_secs_f64(),
        drain.as_secs_f64()
    );
    match caught {
        Some(size) => println!(
            "| follower from size 0 to caught up | {:.0} events/s ({size} leaves in {:.2} s) |",
            size as f64 / build.as_secs_f64(),
            build.as_secs_f64()
        ),
        None => println!(
            "| follower from size 0 to caught up | not caught up in {} s |",
            CATCH_UP_LIMIT.as_secs()
        ),
    }
    println!(
        "| node tree on disk (projections store, flushed) | {:.1} MiB, {:.1} B/leaf |",
        walk_size(&projections) as f64 / 1048576.0,
        walk_size(&projections) as f64 / head.max(1) as f64
    );
    println!("| RSS before the build | {rss_before:.0} MiB |");
    println!(
        "| VmHWM during the build{} | {hwm:.0} MiB (RSS after {rss_after:.0} MiB) |",
        if reset {
            " (reset before it)"
        } else {
            " (whole process: the reset was refused)"
        }
    );
    println!();
}

// ----------------------------------------------------------------- proofs

/// The follower's stored nodes (tiles of 256 hashes, see
/// `server::transparency::StoredNodes`) read as the server reads them,
/// counting the nodes asked for.
struct CountingNodes {
    nodes: StoredNodes,
    reads: Cell<u64>,
}

impl NodeStore for CountingNodes {
    type Error = sled::Error;

    fn node(&self, id: NodeId) -> Result<Option<Hash>, sled::Error> {
        self.reads.set(self.reads.get() + 1);
        self.nodes.node(id)
    }
}

fn leaf(position: u64) -> Leaf {
    let mut event_id = [0u8; 16];
    event_id[..8].copy_from_slice(&position.to_be_bytes());
    let mut event_hash = [0u8; 32];
    for (i, chunk) in event_hash.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(position ^ ((i as u64) << 56)).to_le_bytes());
    }
    Leaf {
        position,
        event_id,
        stream: format!("complaint-{}", position % 100_003),
        event_type: "ComplaintReceived".into(),
        event_hash,
    }
}

/// Writes a tree of `leaves` leaves into `nodes` as the follower does: one
/// sled batch of new nodes and the size per chunk.
fn write_tree(nodes: &CountingNodes, leaves: u64, chunk: u64) {
    let mut size = 0;
    while size < leaves {
        let mut pending = PendingNodes::new(nodes, size);
        for position in size + 1..=(size + chunk).min(leaves) {
            pending
                .append(leaf(position).hash().expect("a leaf"))
                .expect("append");
        }
        size = pending.size();
        let batch = nodes
            .nodes
            .batch(&pending.into_writes(), size)
            .expect("a batch");
        nodes
            .nodes
            .tree()
            .apply_batch(batch)
            .expect("write a chunk");
    }
}

/// One kind of proof timed one by one: p50, p99, max (µs) and the mean
/// and most reads per proof.
struct ProofStats {
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    mean_reads: f64,
    max_reads: u64,
}

/// Times `count` proofs made by `prove` (given the proof's number), and
/// checks every hundredth with `check` after its time is taken.
fn time_proofs(
    nodes: &CountingNodes,
    count: u64,
    mut prove: impl FnMut(usize) -> Vec<Hash>,
    check: impl Fn(usize, &[Hash]),
) -> ProofStats {
    let mut times = Vec::with_capacity(count as usize);
    let mut reads = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let before = nodes.reads.get();
        let t = Instant::now();
        let proof = prove(i);
        times.push(t.elapsed().as_nanos() as u64);
        reads.push(nodes.reads.get() - before);
        if i % 100 == 0 {
            check(i, &proof);
        }
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    ProofStats {
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
        mean_reads: reads.iter().sum::<u64>() as f64 / count as f64,
        max_reads: reads.iter().copied().max().unwrap_or(0),
    }
}

/// Writes the tree and reopens its store; the figures of the writing.
fn write_phase(path: &Path, leaves: u64) -> (ProjectionDb, CountingNodes) {
    let reset = reset_peak_rss();
    let write = Instant::now();
    {
        let db = ProjectionDb::open(path).expect("open the projections store");
        let nodes = CountingNodes {
            nodes: StoredNodes::new(db.named_tree(TREE_NAME).expect("the tree")),
            reads: Cell::new(0),
        };
        write_tree(
            &nodes,
            leaves,
            env_or("TRANSPARENCY_BENCH_CHUNK", CHUNK).max(1),
        );
        db.flush().expect("flush");
    }
    let write = write.elapsed();
    let (hwm, _) = rss();
    let bytes = walk_size(path);
    println!(
        "wrote the nodes in {:.1} s ({:.0} leaves/s); on disk {:.1} MiB, {:.1} B/leaf; VmHWM while writing {hwm:.0} MiB{}",
        write.as_secs_f64(),
        leaves as f64 / write.as_secs_f64(),
        bytes as f64 / 1048576.0,
        bytes as f64 / leaves as f64,
        if reset { "" } else { " (whole process)" }
    );
    // Reopened, as a restarted server reads it: sled's own cache starts
    // empty, the OS page cache still holds the files.
    let db = ProjectionDb::open(path).expect("reopen the projections store");
    let nodes = CountingNodes {
        nodes: StoredNodes::new(db.named_tree(TREE_NAME).expect("the tree")),
        reads: Cell::new(0),
    };
    (db, nodes)
}

/// One kind's draws (index or old size, size or new size), and the roots
/// at both for the proofs that are checked.
type Draws = (Vec<(u64, u64)>, Vec<(Hash, Hash)>);

fn proofs_phase(base: &Path, leaves: u64, proofs: u64) {
    assert!(leaves >= 2, "TRANSPARENCY_BENCH_LEAVES must be at least 2");
    println!("## Proofs on a tree of {leaves} leaves");
    println!();
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let (_db, nodes) = write_phase(&dir.path().join("projections"), leaves);
    let root_at = |size: u64| root(&nodes, size).expect("a root");
    let mut rng = Rng(0x7472_616e_7370_6172);
    // Each kind: (index or old size, size or new size) drawn up front, and
    // the roots the checked proofs (every hundredth) need computed before
    // the timing starts.
    let mut draw = |pairs: &mut dyn FnMut(&mut Rng) -> (u64, u64)| -> Draws {
        let draws: Vec<(u64, u64)> = (0..proofs).map(|_| pairs(&mut rng)).collect();
        let roots: Vec<(Hash, Hash)> = draws
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| match i % 100 {
                0 => (root_at(a), root_at(b)),
                _ => ([0; 32], [0; 32]),
            })
            .collect();
        (draws, roots)
    };
    let inclusion = |(draws, roots): Draws| {
        time_proofs(
            &nodes,
            proofs,
            |i| {
                let (index, size) = draws[i];
                inclusion_proof(&nodes, index, size).expect("an inclusion proof")
            },
            |i, proof| {
                let (index, size) = draws[i];
                let leaf_hash = leaf(index + 1).hash().expect("a leaf");
                verify_inclusion(&leaf_hash, index, size, proof, &roots[i].1)
                    .expect("the inclusion proof verifies");
            },
        )
    };
    let consistency = |(draws, roots): Draws| {
        time_proofs(
            &nodes,
            proofs,
            |i| {
                let (old, new) = draws[i];
                consistency_proof(&nodes, old, new).expect("a consistency proof")
            },
            |i, proof| {
                let (old, new) = draws[i];
                verify_consistency(old, new, &roots[i].0, &roots[i].1, proof)
                    .expect("the consistency proof verifies");
            },
        )
    };
    let kinds = [
        (
            "inclusion, against the full tree",
            inclusion(draw(&mut |rng| (rng.between(0, leaves), leaves))),
        ),
        (
            "inclusion, against a random smaller size",
            inclusion(draw(&mut |rng| {
                let size = rng.between(1, leaves + 1);
                (rng.between(0, size), size)
            })),
        ),
        (
            "consistency, to the full tree",
            consistency(draw(&mut |rng| (rng.between(1, leaves), leaves))),
        ),
        (
            "consistency, between two random sizes",
            consistency(draw(&mut |rng| {
                let new = rng.between(2, leaves + 1);
                (rng.between(1, new), new)
            })),
        ),
    ];
    println!();
    println!(
        "| {proofs} proofs each | p50 µs | p99 µs | max µs | node reads per proof (mean / max) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (kind, s) in kinds {
        println!(
            "| {kind} | {:.1} | {:.1} | {:.1} | {:.1} / {} |",
            s.p50_us, s.p99_us, s.max_us, s.mean_reads, s.max_reads
        );
    }
    println!();
}

fn main() {
    let base =
        std::env::var_os("TRANSPARENCY_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let phases =
        std::env::var("TRANSPARENCY_BENCH_PHASES").unwrap_or_else(|_| "append,build,proofs".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "payload {PAYLOAD_BYTES} B, dir {}, {} cores",
        base.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    for phase in phases.split(',').map(str::trim) {
        match phase {
            "append" => append_phase(
                &runtime,
                &base,
                env_or("TRANSPARENCY_BENCH_SECS", 2),
                env_or("TRANSPARENCY_BENCH_ROUNDS", 3),
            ),
            "build" => build_phase(
                &runtime,
                &base,
                env_or("TRANSPARENCY_BENCH_EVENTS", 200_000),
            ),
            "proofs" => proofs_phase(
                &base,
                env_or("TRANSPARENCY_BENCH_LEAVES", 1_000_000),
                env_or("TRANSPARENCY_BENCH_PROOFS", 10_000),
            ),
            other => panic!("unknown phase {other:?}: append, build or proofs"),
        }
    }
    let (hwm, now) = rss();
    println!("RSS at the end: VmHWM {hwm:.0} MiB, VmRSS {now:.0} MiB");
}
