//! The issue ledger at city scale: generates N complaints (default 1M, about
//! 8.5M events) through the domain's deciders into a sled event log, then
//! measures
//!
//! - catch-up from position 0 (events/s), checkpointing as the server does;
//! - p50/p99 of typical ledger queries (one unit's overdue items, one area
//!   this month, free text, an inbox);
//! - the deadline watcher's scan;
//! - reloading the checkpoint (what a restart costs);
//! - peak resident memory (VmHWM).
//!
//! Run: `cargo bench -p rectify-projections --bench ledger -- --complaints 1000000`
//! (add `--keep DIR` to reuse a generated log on later runs, and
//! `--projections DIR` to keep the checkpoint store; `--reload-only` with
//! `--projections DIR` then times reloads of that store alone, each in a
//! fresh process, as a restart sees them).

/// The allocator the `rectify` binary uses, so the bench measures what
/// the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use futures::StreamExt as _;
use rectify_catalog::{Catalog, RouteQuery};
use rectify_domain::{
    Actor, AreaCode, ComplaintId, ComplaintState, DistrictCode, Role, UnitCode,
    complaint::{
        self, Channel, Command, CommandKind, ComplaintKind, Satisfaction, Submission, Submitter,
        Urgency,
    },
};
use rectify_eventlog::{
    Durability, EventStore as _, ExpectedVersion, Filter, Metadata, NewEvent, RecordedEvent,
    SledStore, StoreConfig, Uuid,
};
use rectify_projections::{
    LedgerFilter, LedgerView, ListQuery, ProjectionDb, Scope, SortOrder, Timestamp, runner,
};

/// xorshift64*: deterministic choices without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TEXTS: &[(&str, &str)] = &[
    (
        "用电报装迟迟不接电",
        "新建厂房申请用电报装，两个月还没有接电，影响投产。",
    ),
    (
        "燃气接入收费不透明",
        "小区燃气接入收费标准不公开，要求说明依据。",
    ),
    ("营业执照办理超时", "网上申请营业执照超过承诺时限仍未办结。"),
    (
        "不动产登记材料反复提交",
        "办理不动产登记被要求多次补交同样材料。",
    ),
    (
        "工程建设项目审批慢",
        "施工许可审批环节多，时间长，企业等待三个月。",
    ),
    (
        "纳税申报系统故障",
        "电子税务局申报时系统报错，无法按期申报。",
    ),
    ("供水管网维修不及时", "小区供水管道破裂三天无人维修。"),
    ("政府采购付款拖欠", "中标项目验收合格后半年未付款。"),
];

/// The events of one complaint, decided by the domain from realistic
/// commands; stops at a stage chosen by `rng`.
fn lifecycle(i: usize, catalog: &Catalog, rng: &mut Rng, start: DateTime<Utc>) -> Vec<NewEvent> {
    let areas = catalog.areas();
    let districts = catalog.districts();
    let area = &areas[rng.below(areas.len())];
    let district = &districts[rng.below(districts.len())];
    let routing = catalog
        .route(&RouteQuery {
            area: &area.code,
            task: None,
            district: Some(&district.code),
        })
        .expect("every area routes");
    let lead = UnitCode::new(&routing.lead[0]).unwrap();
    let responsible: Vec<UnitCode> = routing
        .responsible
        .iter()
        .filter(|code| catalog.unit(code).is_some() && **code != routing.lead[0])
        .take(3)
        .map(|code| UnitCode::new(code).unwrap())
        .collect();
    let (title, text) = TEXTS[rng.below(TEXTS.len())];
    let id = format!("RC-{i:08}");
    let system = |role| Actor {
        principal: format!("bench-{}", Role::name(&role)),
        role,
    };
    let hotline = system(Role::Hotline);
    let dispatcher = system(Role::Dispatcher);
    let unit = system(Role::Unit(lead.clone()));
    let hours = |h: i64| start + Duration::hours(h);
    let mut steps: Vec<(Actor, DateTime<Utc>, CommandKind)> = vec![
        (
            hotline.clone(),
            start,
            CommandKind::Submit(Submission {
                id: ComplaintId::new(&id).unwrap(),
                channel: [
                    Channel::Hotline12345,
                    Channel::MengSuBanApp,
                    Channel::WeChat,
                ][rng.below(3)],
                kind: ComplaintKind::Complaint,
                submitter: Some(Submitter {
                    name: "王女士".into(),
                    phone: "13812345678".into(),
                    id_number: None,
                }),
                sealed_submitter: None,
                enterprise: Some(format!("鄂尔多斯市第{}商贸有限公司", i % 5000)),
                district: Some(DistrictCode::new(&district.code).unwrap()),
                location: None,
                title: title.into(),
                text: text.into(),
                external_ref: Some(format!("12345-{i:08}")),
                station: None,
                officer: None,
                dispatch_due_at: hours(2),
            }),
        ),
        (
            dispatcher.clone(),
            hours(1),
            CommandKind::Classify {
                area: AreaCode::new(&area.code).unwrap(),
                task: None,
                district: None,
                tags: vec![],
                urgency: Urgency::Normal,
            },
        ),
        (
            dispatcher.clone(),
            hours(1),
            CommandKind::Dispatch {
                lead: lead.clone(),
                responsible,
                rule_id: routing.rule_id.clone(),
                override_reason: None,
                accept_due_at: hours(9),
                first_contact_due_at: hours(25),
                resolve_due_at: hours(24 * 15),
                liaison: None,
            },
        ),
        (unit.clone(), hours(3), CommandKind::Accept),
        (
            unit.clone(),
            hours(20),
            CommandKind::RecordStep {
                description: "电话联系企业，现场勘查".into(),
                evidence: vec!["photo-001".into()],
                contacted_submitter: true,
            },
        ),
        (
            unit.clone(),
            hours(24 * 5),
            CommandKind::SubmitResolution {
                result: "问题已解决".into(),
                evidence: vec![],
            },
        ),
        (
            dispatcher.clone(),
            hours(24 * 6),
            CommandKind::VerifyResolution { note: None },
        ),
        (
            hotline,
            hours(24 * 7),
            CommandKind::RecordCallback {
                valid: true,
                contacted: true,
                solved: rng.below(10) < 8,
                satisfaction: Some(
                    [
                        Satisfaction::Satisfied,
                        Satisfaction::BasicallySatisfied,
                        Satisfaction::Unsatisfied,
                    ][rng.below(3)],
                ),
                comment: None,
            },
        ),
        (dispatcher, hours(24 * 7), CommandKind::Close { note: None }),
    ];
    // 70% closed, the rest stopped along the way (open work for inboxes).
    let stage = match rng.below(10) {
        0 => 1,
        1 => 3,
        2 => 5,
        _ => steps.len(),
    };
    steps.truncate(stage);
    let mut state = ComplaintState::default();
    let mut events = Vec::new();
    for (actor, at, kind) in steps {
        let command = Command {
            actor: actor.clone(),
            at,
            kind,
        };
        let decided = complaint::decide(&state, &command).expect("a valid lifecycle");
        for event in decided {
            let (event_type, schema_version, payload) = event.encode();
            events.push(NewEvent {
                id: Uuid::new_v4(),
                event_type: event_type.to_owned(),
                schema_version,
                payload,
                metadata: Metadata {
                    actor: Some(actor.principal.clone()),
                    recorded_at_ms: at.timestamp_millis(),
                    ..Metadata::default()
                },
            });
            state = complaint::evolve(state, &event);
        }
    }
    events
}

fn percentile(sorted_us: &[u128], p: f64) -> f64 {
    let index = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[index] as f64 / 1000.0
}

/// A `/proc/self/status` figure in MiB (`VmHWM:` peak, `VmRSS:` now).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn vm_hwm_mib() -> f64 {
    status_mib("VmHWM:")
}

fn time_query(name: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        rows = f();
        samples.push(started.elapsed().as_micros());
    }
    samples.sort_unstable();
    println!(
        "| {name} | {rows} | {:.2} | {:.2} |",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

/// The command line: `--complaints N` (default 1M), `--keep DIR`,
/// `--projections DIR`, `--reload-only` (and `--reload-once`, what each of
/// its processes runs).
struct Args {
    complaints: usize,
    keep: Option<PathBuf>,
    projections: Option<PathBuf>,
    reload_only: bool,
    reload_once: bool,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    Args {
        complaints: arg("--complaints").map_or(1_000_000, |n| n.parse().unwrap()),
        keep: arg("--keep").map(PathBuf::from),
        projections: arg("--projections").map(PathBuf::from),
        reload_only: args.iter().any(|a| a == "--reload-only"),
        reload_once: args.iter().any(|a| a == "--reload-once"),
    }
}

/// Reloads of a kept checkpoint store, nothing else, each in a fresh
/// process as a restart sees it (the memory comes fresh from the kernel;
/// a second reload in one process would reuse what the allocator kept):
/// `RESTARTS` processes run `--reload-once` one after another, and this
/// prints each one's time and peak memory and their median.
fn reload_only(path: &std::path::Path) {
    const RESTARTS: usize = 5;
    let mut runs: Vec<(f64, f64)> = (0..RESTARTS)
        .map(|_| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--reload-once", "--projections"])
                .arg(path)
                .output()
                .unwrap();
            assert!(out.status.success(), "a reload failed: {out:?}");
            let line = String::from_utf8(out.stdout).unwrap();
            let mut numbers = line.split_whitespace().map(|n| n.parse::<f64>().unwrap());
            (numbers.next().unwrap(), numbers.next().unwrap())
        })
        .collect();
    let listed: Vec<String> = runs
        .iter()
        .map(|(s, hwm)| format!("{s:.2} s ({hwm:.0} MiB)"))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "checkpoint reload in a fresh process: median {:.2} s of {RESTARTS} (in order: {})",
        runs[RESTARTS / 2].0,
        listed.join(", ")
    );
}

/// One reload in this process: prints its seconds and the VmHWM after it.
fn reload_once(path: &std::path::Path) {
    let db = ProjectionDb::open(path).unwrap();
    let started = Instant::now();
    let view = db.load_ledger().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(!view.is_empty(), "the store holds no rows");
    println!("{seconds} {}", vm_hwm_mib());
}

#[tokio::main]
async fn main() {
    let args = args();
    if args.reload_only || args.reload_once {
        let path = args
            .projections
            .as_deref()
            .expect("--reload-only needs --projections DIR");
        if args.reload_once {
            reload_once(path);
        } else {
            reload_only(path);
        }
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let dir = args.keep.clone().unwrap_or_else(|| temp.path().join("log"));
    let catalog = Arc::new(Catalog::embedded().unwrap());

    let store = SledStore::open(StoreConfig {
        path: dir,
        durability: Durability::Interval { every_ms: 100 },
        ..StoreConfig::default()
    })
    .unwrap();
    if store.head_position().await.unwrap() == 0 {
        generate(&store, &catalog, args.complaints).await;
    }
    let head = store.head_position().await.unwrap();
    let log_bytes = store.stats().unwrap().size_on_disk_bytes;
    println!(
        "log: {head} events, {:.0} MiB on disk",
        log_bytes as f64 / 1048576.0
    );
    let hwm_before = vm_hwm_mib();

    let read_s = raw_read(&store, head).await;
    read_and_apply(&store, head).await;
    let projections = args
        .projections
        .clone()
        .unwrap_or_else(|| temp.path().join("projections"));
    let db = ProjectionDb::open(&projections).unwrap();
    // A kept store starts empty: the catch-up below is from position 0.
    db.clear().unwrap();
    let view = checkpointed_catch_up(&store, &db, read_s).await;
    let hwm_after = vm_hwm_mib();
    time_queries(&view, &catalog);
    let hwm_queries = vm_hwm_mib();
    drop(view);
    reload(&db);
    println!();
    println!(
        "VmHWM: {hwm_before:.0} MiB after generation, {hwm_after:.0} MiB after catch-up, {hwm_queries:.0} MiB after the queries, {:.0} MiB after the reload",
        vm_hwm_mib()
    );
    let _ = (store.shutdown(), args.keep);
}

/// Appends `complaints` generated complaints, 256 at a time, their intake
/// spread over 90 days.
async fn generate(store: &SledStore, catalog: &Arc<Catalog>, complaints: usize) {
    let started = Instant::now();
    let base = Utc.with_ymd_and_hms(2026, 9, 1, 1, 0, 0).unwrap();
    let spacing_ms = (90 * 24 * 3600 * 1000 / complaints.max(1)) as i64;
    futures::stream::iter(0..complaints)
        .map(|i| {
            let store = store.clone();
            let catalog = catalog.clone();
            async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64).wrapping_mul(31) | 1);
                let start = base + Duration::milliseconds(spacing_ms * i as i64);
                let events = lifecycle(i, &catalog, &mut rng, start);
                store
                    .append(
                        &format!("complaint-RC-{i:08}"),
                        ExpectedVersion::NoStream,
                        events,
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(256)
        .collect::<()>()
        .await;
    let head = store.head_position().await.unwrap();
    println!(
        "generated {complaints} complaints, {head} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Reads the log up to `head` in catch-up pages, handing each to `f`.
async fn for_each_page(store: &SledStore, head: u64, mut f: impl FnMut(&[RecordedEvent])) {
    let mut from = 1;
    while from <= head {
        let page = store
            .read_all(from, runner::CATCH_UP_PAGE, &Filter::default())
            .await
            .unwrap();
        f(&page);
        from = page.last().map_or(head + 1, |e| e.position + 1);
    }
}

/// Reference: reading the whole log in the same pages, applying nothing.
/// Returns the seconds it took.
async fn raw_read(store: &SledStore, head: u64) -> f64 {
    let started = Instant::now();
    for_each_page(store, head, |_| {}).await;
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "raw read_all: {head} events in {read_s:.1} s = {:.0} events/s",
        head as f64 / read_s
    );
    read_s
}

/// Reading and applying without checkpoints: what the fold itself costs,
/// and how much memory the rows take (RSS before and after).
async fn read_and_apply(store: &SledStore, head: u64) {
    let rss_before = status_mib("VmRSS:");
    let started = Instant::now();
    let mut bare = LedgerView::default();
    for_each_page(store, head, |page| {
        for event in page {
            bare.apply(event).unwrap();
        }
    })
    .await;
    let apply_s = started.elapsed().as_secs_f64();
    let rss_view = status_mib("VmRSS:") - rss_before;
    println!(
        "read + apply, no checkpoints: {:.0} events/s; the view holds about {rss_view:.0} MiB ({:.0} bytes a complaint)",
        head as f64 / apply_s,
        rss_view * 1048576.0 / bare.len().max(1) as f64
    );
}

/// Catch-up from position 0, checkpointing into `db` like the server;
/// compared with the raw read's `read_s`. Returns the caught-up view.
async fn checkpointed_catch_up(store: &SledStore, db: &ProjectionDb, read_s: f64) -> LedgerView {
    let view = RwLock::new(LedgerView::default());
    let started = Instant::now();
    let reached = runner::catch_up(store, db, &view, &mut |_, _| {})
        .await
        .unwrap();
    let catch_up_s = started.elapsed().as_secs_f64();
    db.flush().unwrap();
    println!(
        "catch-up: {reached} events in {catch_up_s:.1} s = {:.0} events/s ({:.2} of the raw read rate)",
        reached as f64 / catch_up_s,
        read_s / catch_up_s
    );
    let view = view.into_inner().unwrap();
    println!("ledger rows: {}", view.len());
    view
}

/// p50/p99 of typical queries at the end of the generated period, as a
/// Markdown table.
fn time_queries(view: &LedgerView, catalog: &Catalog) {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 4, 0, 0).unwrap();
    let month = Utc.with_ymd_and_hms(2026, 10, 31, 16, 0, 0).unwrap();
    let page = |filter: LedgerFilter, order: SortOrder| ListQuery {
        filter,
        order,
        page_size: 50,
        page_token: String::new(),
    };
    let total = |scope: &Scope, filter: LedgerFilter, order: SortOrder| {
        view.list(scope, &page(filter, order), now).unwrap().total as usize
    };
    println!();
    println!("| query | rows matched | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: |");
    // A hundred runs of each, the scans too, so p99 is the 99th of them
    // and not the worst run.
    let runs = 100;
    time_query("one unit's overdue items (power-bureau)", runs, || {
        let filter = LedgerFilter {
            unit: Some("power-bureau".into()),
            overdue_only: true,
            ..LedgerFilter::default()
        };
        total(&Scope::All, filter, SortOrder::DueAsc)
    });
    time_query("a unit's own view (scope), newest first", runs, || {
        let scope = Scope::Unit("market-regulation".into());
        total(&scope, LedgerFilter::default(), SortOrder::ReceivedDesc)
    });
    time_query("one area this month", runs, || {
        let filter = LedgerFilter {
            area: Some("getting-electricity".into()),
            received_from: Some(month),
            ..LedgerFilter::default()
        };
        total(&Scope::All, filter, SortOrder::ReceivedDesc)
    });
    for (name, text) in [
        ("free text 燃气", "燃气"),
        ("free text, ticket number", "12345-00000777"),
    ] {
        time_query(name, runs, || {
            let filter = LedgerFilter {
                text: Some(text.into()),
                ..LedgerFilter::default()
            };
            total(&Scope::All, filter, SortOrder::ReceivedDesc)
        });
    }
    time_query("inbox of power-bureau", runs, || {
        let inbox = view.inbox("power-bureau");
        inbox.lead_to_accept.len() + inbox.lead_to_handle.len() + inbox.lead_to_resolve.len()
    });
    let policy = catalog.deadline_policy();
    let yellow_at = |start: Timestamp, due: Timestamp| {
        Timestamp::from_nanos(policy.yellow_at_nanos(start.nanos(), due.nanos()))
    };
    time_query("deadline watcher scan, every candidate", runs, || {
        view.due_warnings(now, usize::MAX, yellow_at).len()
    });
    // The server writes at most this many warnings a pass (its
    // `MAX_WARNINGS_PER_PASS`) and asks for no more.
    time_query("deadline watcher pass, first 10,000", runs, || {
        view.due_warnings(now, 10_000, yellow_at).len()
    });
    time_query("evaluation of a month per unit", runs, || {
        rectify_projections::stats::evaluate(
            view,
            &rectify_projections::stats::StatsQuery {
                period: rectify_projections::stats::Period::parse("2026-10").unwrap(),
                group_by: rectify_projections::stats::GroupBy::Unit,
                weights: Default::default(),
                top_n: 5,
                min_valid_callbacks: 1,
            },
        )
        .unwrap()
        .groups
        .len()
    });
}

/// Reloading the checkpoint: what a restart costs.
fn reload(db: &ProjectionDb) {
    let started = Instant::now();
    let reloaded = db.load_ledger().unwrap();
    println!(
        "checkpoint reload: {} rows in {:.2} s",
        reloaded.len(),
        started.elapsed().as_secs_f64()
    );
}
