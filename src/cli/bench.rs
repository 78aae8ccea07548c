//! `rectify bench`: a load generator that drives realistic complaints through
//! the gRPC API and reports throughput and latency percentiles per RPC.
//!
//! Complaints are drawn from the catalog the server serves (areas, tasks,
//! districts) and from every intake channel. Scenarios:
//!
//! - `submit`: each client submits complaints back to back;
//! - `lifecycle`: each client takes a complaint through submit → classify →
//!   dispatch → accept → step → resolve → verify → callback → close;
//! - `raw-append`: the event store alone, in process (the reference);
//! - `umadb-append`: the same one-event appends to an UmaDB server (the peer);
//! - `open311-submit`: the `submit` complaints as Open311 form posts over
//!   HTTP/1.1 on the same port, one keep-alive connection per client.
//!
//! With `--spawn` the bench starts its own server on a temporary data
//! directory (durable mode unless told otherwise), so one command measures a
//! fresh machine; with `--store postgres://…` its log is on PostgreSQL, and
//! `--nodes N` starts N such servers on the one log. Clients are spread
//! round-robin over the servers (spawned, or several `--server` addresses).
//! Latencies are recorded in HdrHistograms, one per RPC.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use tonic::{Request, transport::Channel};

use crate::{
    pb::{
        self, catalog_service_client::CatalogServiceClient,
        complaint_service_client::ComplaintServiceClient,
    },
    server::config::{DurabilityMode, ServerConfig},
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Most concurrent clients one level may use.
pub const MAX_CLIENTS: usize = 4_096;
/// Clients that share one HTTP/2 connection.
const CLIENTS_PER_CONNECTION: usize = 32;
/// Highest latency the histograms record (60 s, in microseconds).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Arguments of `rectify bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Server to drive (ignored with --spawn); several, comma-separated,
    /// share the clients round-robin.
    #[arg(long, env = "RECTIFY_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Start a server in this process on a fresh temporary data directory.
    #[arg(long)]
    pub spawn: bool,
    /// Data directory for --spawn (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// With --spawn: the spawned servers' log on PostgreSQL
    /// (`postgres://…[?schema=…]`, an empty schema) instead of sled.
    #[arg(long)]
    pub store: Option<String>,
    /// With --spawn: how many servers to start on the one log (more than one
    /// needs --store postgres://…).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Durability of the spawned server.
    #[arg(long, value_enum, default_value = "fsync")]
    pub durability: DurabilityMode,
    /// Concurrency levels to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    pub clients: Vec<usize>,
    /// Seconds to run each level.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// What each client does.
    #[arg(long, value_enum, default_value = "submit")]
    pub scenario: Scenario,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What each bench client does in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Submit complaints.
    Submit,
    /// Take complaints through the whole lifecycle to close.
    Lifecycle,
    /// No gRPC, no domain: append one ~300-byte event per call straight to
    /// an event store on the same disk — the reference for the other two.
    RawAppend,
    /// The peer: append one ~300-byte event per call to an UmaDB server at
    /// `--server` over its gRPC API (`umadb.v1.DCB/Append`).
    UmadbAppend,
    /// Submit complaints through Open311 (`POST /open311/v2/requests.json`,
    /// HTTP/1.1 on the same port), to compare with `submit`.
    Open311Submit,
}

/// Results of one concurrency level.
#[derive(Debug, serde::Serialize)]
pub struct LevelReport {
    /// Concurrent clients.
    pub clients: usize,
    /// Wall time of the level in seconds.
    pub seconds: f64,
    /// Complaints that completed the scenario.
    pub complaints: u64,
    /// Completed complaints per second.
    pub complaints_per_s: f64,
    /// Per RPC: calls, calls/s and latency percentiles in milliseconds.
    pub rpcs: BTreeMap<String, RpcReport>,
    /// Failed calls.
    pub errors: u64,
}

/// Latency and throughput of one RPC.
#[derive(Debug, serde::Serialize)]
pub struct RpcReport {
    /// Successful calls.
    pub calls: u64,
    /// Calls per second.
    pub per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, ms.
    pub p999_ms: f64,
    /// Maximum latency, ms.
    pub max_ms: f64,
}

/// What the bench draws complaints from.
#[derive(Debug)]
struct Universe {
    areas: Vec<pb::Area>,
    districts: Vec<pb::District>,
}

/// Runs the bench and prints the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.clients.is_empty() || args.clients.iter().any(|&c| c == 0 || c > MAX_CLIENTS) {
        bail!("--clients must list levels between 1 and {MAX_CLIENTS}");
    }
    if args.seconds == 0 || args.seconds > 3_600 {
        bail!("--seconds must be between 1 and 3600");
    }
    if args.scenario == Scenario::RawAppend {
        return run_raw(&args).await;
    }
    if args.scenario == Scenario::UmadbAppend {
        return peer::run(&args).await;
    }
    let mut _temp = None;
    let mut shutdown = Vec::new();
    let servers: Vec<String> = if args.spawn {
        let data_dir = match &args.data_dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = tempfile::tempdir().context("creating a temporary data directory")?;
                let path = dir.path().to_path_buf();
                _temp = Some(dir);
                path
            }
        };
        let mut servers = Vec::new();
        for (addr, stop) in spawn_servers(&args, &data_dir).await? {
            shutdown.push(stop);
            servers.push(format!("http://{addr}"));
        }
        servers
    } else {
        args.server
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    let mut channels = Vec::with_capacity(servers.len());
    for server in &servers {
        channels.push(connect(server, max_clients.div_ceil(servers.len())).await?);
    }
    let universe = Arc::new(load_universe(channels[0][0].clone()).await?);
    if args.scenario == Scenario::Open311Submit {
        if servers.len() > 1 {
            bail!("the open311-submit scenario drives one server");
        }
        open311::run(&args, &servers[0], universe).await?;
        for stop in shutdown {
            let _ = stop.send(());
        }
        return Ok(());
    }
    let mut reports = Vec::new();
    for &clients in &args.clients {
        let report = run_level(&channels, &universe, clients, args.scenario, args.seconds).await;
        if !args.json {
            print_level(&report);
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    for stop in shutdown {
        let _ = stop.send(());
    }
    Ok(())
}

/// Starts `--nodes` servers in this process: on sled in `data_dir`, or
/// on the `--store` PostgreSQL log, each with its projections in a
/// directory of its own under `data_dir` and one shared master key.
async fn spawn_servers(
    args: &BenchArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<Vec<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)>> {
    if args.nodes == 0 || (args.nodes > 1 && args.store.is_none()) {
        bail!("--nodes above 1 needs --store postgres://… (a sled log has one server)");
    }
    let mut servers = Vec::with_capacity(args.nodes);
    let Some(url) = &args.store else {
        let config = ServerConfig::local(data_dir.to_path_buf());
        servers.push(spawn_server(config, args.durability).await?);
        return Ok(servers);
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = data_dir.join("master.key");
    crate::server::vault::create_key_file(&key)?;
    for node in 0..args.nodes {
        let config = ServerConfig {
            postgres: Some(url.clone()),
            master_key_file: Some(key.clone()),
            ..ServerConfig::local(data_dir.join(format!("node-{node}")))
        };
        servers.push(spawn_server(config, args.durability).await?);
    }
    Ok(servers)
}

async fn spawn_server(
    config: ServerConfig,
    durability: DurabilityMode,
) -> anyhow::Result<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let config = ServerConfig {
        durability,
        rate_limit_per_s: 0,
        ..config
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let result = crate::server::serve_with(config, Some(addr_tx), async {
            let _ = stop_rx.await;
        })
        .await;
        if let Err(error) = result {
            eprintln!("bench server failed: {error:#}");
        }
    });
    let addr = addr_rx.await.context("the bench server did not start")?;
    Ok((addr, stop_tx))
}

async fn connect(server: &str, max_clients: usize) -> anyhow::Result<Vec<Channel>> {
    let count = max_clients.div_ceil(CLIENTS_PER_CONNECTION).max(1);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let channel = Channel::from_shared(server.to_owned())?
            .connect()
            .await
            .with_context(|| format!("connecting to {server}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

fn request<T>(message: T, role: &'static str, unit: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(
        HEADER_ROLE,
        tonic::metadata::MetadataValue::from_static(role),
    );
    metadata.insert(
        HEADER_PRINCIPAL,
        tonic::metadata::MetadataValue::from_static("bench"),
    );
    if let Some(unit) = unit.and_then(|u| u.parse().ok()) {
        metadata.insert(HEADER_UNIT, unit);
    }
    request
}

async fn load_universe(channel: Channel) -> anyhow::Result<Universe> {
    let mut catalog = CatalogServiceClient::new(channel);
    let areas = catalog
        .list_areas(request(pb::ListAreasRequest {}, "dispatcher", None))
        .await?
        .into_inner()
        .areas;
    let districts = catalog
        .list_districts(request(pb::ListDistrictsRequest {}, "dispatcher", None))
        .await?
        .into_inner()
        .districts;
    if areas.is_empty() || districts.is_empty() {
        bail!("the server's catalog has no areas or districts");
    }
    Ok(Universe { areas, districts })
}

/// Latencies of one client, per RPC.
#[derive(Debug, Default)]
struct Recorder {
    histograms: BTreeMap<&'static str, Histogram<u64>>,
    complaints: u64,
    errors: u64,
}

impl Recorder {
    fn record(&mut self, rpc: &'static str, elapsed: Duration) {
        let histogram = self.histograms.entry(rpc).or_insert_with(|| {
            Histogram::new_with_max(MAX_LATENCY_US, 3).expect("valid histogram bounds")
        });
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_LATENCY_US);
        histogram.saturating_record(micros.clamp(1, MAX_LATENCY_US));
    }

    fn merge(&mut self, other: Recorder) {
        for (rpc, histogram) in other.histograms {
            match self.histograms.get_mut(rpc) {
                Some(mine) => {
                    let _ = mine.add(&histogram);
                }
                None => {
                    self.histograms.insert(rpc, histogram);
                }
            }
        }
        self.complaints += other.complaints;
        self.errors += other.errors;
    }
}

/// Times one call and records it; `None` on error.
macro_rules! timed {
    ($recorder:expr, $name:literal, $call:expr) => {{
        let started = Instant::now();
        match $call.await {
            Ok(response) => {
                $recorder.record($name, started.elapsed());
                Some(response.into_inner())
            }
            Err(status) => {
                $recorder.errors += 1;
                tracing::debug!(rpc = $name, %status, "bench call failed");
                None
            }
        }
    }};
}

async fn run_level(
    channels: &[Vec<Channel>],
    universe: &Arc<Universe>,
    clients: usize,
    scenario: Scenario,
    seconds: u64,
) -> LevelReport {
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        // Round-robin over the servers, then over each one's connections.
        let server = &channels[client % channels.len()];
        let channel =
            server[client / channels.len() / CLIENTS_PER_CONNECTION % server.len()].clone();
        let universe = universe.clone();
        tasks.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            let mut client_api = ComplaintServiceClient::new(channel);
            let mut n = 0usize;
            while Instant::now() < until {
                n += 1;
                let seed = client.wrapping_mul(1_000_003).wrapping_add(n);
                let done = match scenario {
                    Scenario::Submit => submit(&mut client_api, &universe, seed, &mut recorder)
                        .await
                        .is_some(),
                    Scenario::Lifecycle
                    | Scenario::RawAppend
                    | Scenario::UmadbAppend
                    | Scenario::Open311Submit => {
                        lifecycle(&mut client_api, &universe, seed, &mut recorder)
                            .await
                            .is_some()
                    }
                };
                if done {
                    recorder.complaints += 1;
                }
            }
            recorder
        }));
    }
    let mut total = Recorder::default();
    for task in tasks {
        if let Ok(recorder) = task.await {
            total.merge(recorder);
        }
    }
    level_report(clients, started.elapsed().as_secs_f64(), total)
}

fn level_report(clients: usize, elapsed: f64, total: Recorder) -> LevelReport {
    let rpcs = total
        .histograms
        .iter()
        .map(|(rpc, h)| {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
            (
                (*rpc).to_owned(),
                RpcReport {
                    calls: h.len(),
                    per_s: h.len() as f64 / elapsed,
                    p50_ms: ms(0.5),
                    p99_ms: ms(0.99),
                    p999_ms: ms(0.999),
                    max_ms: h.max() as f64 / 1_000.0,
                },
            )
        })
        .collect();
    LevelReport {
        clients,
        seconds: elapsed,
        complaints: total.complaints,
        complaints_per_s: total.complaints as f64 / elapsed,
        rpcs,
        errors: total.errors,
    }
}

const CHANNELS: [pb::Channel; 7] = [
    pb::Channel::Hotline12345,
    pb::Channel::MengsubanApp,
    pb::Channel::Wechat,
    pb::Channel::WebPortal,
    pb::Channel::QrCode,
    pb::Channel::ExperienceOfficer,
    pb::Channel::SupervisionInspection,
];

async fn submit(
    client: &mut ComplaintServiceClient<Channel>,
    universe: &Universe,
    seed: usize,
    recorder: &mut Recorder,
) -> Option<(String, usize)> {
    let area_index = seed % universe.areas.len();
    let area = &universe.areas[area_index];
    let district = &universe.districts[seed / 7 % universe.districts.len()];
    let task_title = area
        .tasks
        .get(seed / 3 % area.tasks.len().max(1))
        .map_or(area.name.as_str(), |t| t.title.as_str());
    let message = pb::SubmitComplaintRequest {
        options: None,
        complaint_id: String::new(),
        channel: CHANNELS[seed % CHANNELS.len()] as i32,
        kind: pb::ComplaintKind::Complaint as i32,
        submitter: Some(pb::Submitter {
            name: "张先生".to_owned(),
            phone: format!("138{:08}", seed % 100_000_000),
            id_number: String::new(),
        }),
        enterprise: format!("鄂尔多斯市某企业{}", seed % 997),
        district: district.code.clone(),
        location: format!("{}某街道", district.name),
        title: format!("关于{task_title}的诉求"),
        text: format!(
            "企业反映在{}办理{}相关事项时，办理时间过长、材料要求反复，希望尽快解决。",
            district.name, task_title
        ),
        external_ref: String::new(),
        suggest_areas: false,
        station_code: String::new(),
        officer_id: String::new(),
    };
    let response = timed!(
        recorder,
        "SubmitComplaint",
        client.submit_complaint(request(message, "hotline", None))
    )?;
    Some((response.result?.id, area_index))
}

/// One complaint from submit to close; `None` as soon as a step fails.
async fn lifecycle(
    client: &mut ComplaintServiceClient<Channel>,
    universe: &Universe,
    seed: usize,
    recorder: &mut Recorder,
) -> Option<()> {
    let (id, area_index) = submit(client, universe, seed, recorder).await?;
    let area = &universe.areas[area_index];
    timed!(
        recorder,
        "ClassifyComplaint",
        client.classify_complaint(request(
            pb::ClassifyComplaintRequest {
                complaint_id: id.clone(),
                area: area.code.clone(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            "dispatcher",
            None
        ))
    )?;
    let dispatched = timed!(
        recorder,
        "DispatchComplaint",
        client.dispatch_complaint(request(
            pb::DispatchComplaintRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "dispatcher",
            None
        ))
    )?;
    let lead = Some(dispatched.lead_unit.as_str());
    timed!(
        recorder,
        "AcceptAssignment",
        client.accept_assignment(request(
            pb::AcceptAssignmentRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "unit",
            lead
        ))
    )?;
    timed!(
        recorder,
        "RecordStep",
        client.record_step(request(
            pb::RecordStepRequest {
                complaint_id: id.clone(),
                description: "已电话联系企业，现场核实情况".to_owned(),
                evidence: vec!["photo-001".to_owned()],
                contacted_submitter: true,
                ..Default::default()
            },
            "unit",
            lead
        ))
    )?;
    timed!(
        recorder,
        "SubmitResolution",
        client.submit_resolution(request(
            pb::SubmitResolutionRequest {
                complaint_id: id.clone(),
                result: "已协调相关部门办结".to_owned(),
                ..Default::default()
            },
            "unit",
            lead
        ))
    )?;
    timed!(
        recorder,
        "VerifyResolution",
        client.verify_resolution(request(
            pb::VerifyResolutionRequest {
                complaint_id: id.clone(),
                ..Default::default()
            },
            "dispatcher",
            None
        ))
    )?;
    timed!(
        recorder,
        "RecordCallback",
        client.record_callback(request(
            pb::RecordCallbackRequest {
                complaint_id: id.clone(),
                valid: true,
                contacted: true,
                solved: true,
                satisfaction: pb::Satisfaction::Satisfied as i32,
                ..Default::default()
            },
            "hotline",
            None
        ))
    )?;
    timed!(
        recorder,
        "CloseComplaint",
        client.close_complaint(request(
            pb::CloseComplaintRequest {
                complaint_id: id,
                ..Default::default()
            },
            "dispatcher",
            None
        ))
    )?;
    Some(())
}

fn print_level(report: &LevelReport) {
    println!(
        "clients {:>4}: {:>8.1} complaints/s over {:.1} s ({} complaints, {} errors)",
        report.clients, report.complaints_per_s, report.seconds, report.complaints, report.errors
    );
    println!(
        "  {:<20} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "rpc", "calls", "calls/s", "p50 ms", "p99 ms", "p99.9 ms"
    );
    for (rpc, r) in &report.rpcs {
        println!(
            "  {:<20} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
            rpc, r.calls, r.per_s, r.p50_ms, r.p99_ms, r.p999_ms
        );
    }
}

/// The raw event-log reference: concurrent durable appends of one ~300-byte
/// event each, to a store in a fresh temporary directory.
async fn run_raw(args: &BenchArgs) -> anyhow::Result<()> {
    use rectify_eventlog::{
        Durability, EventStore as _, ExpectedVersion, Metadata, NewEvent, StoreConfig, Uuid,
    };
    let dir = tempfile::tempdir().context("creating a temporary data directory")?;
    let config = StoreConfig {
        path: args
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().to_path_buf()),
        durability: match args.durability {
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::Interval => Durability::Interval {
                every_ms: crate::server::config::DEFAULT_FLUSH_INTERVAL_MS,
            },
        },
        ..StoreConfig::default()
    };
    let store = crate::server::state::open_store(config).await?;
    let payload = Arc::new(vec![b'x'; 300]);
    run_simple_levels(args, "RawAppend", move |clients, client, n| {
        let store = store.clone();
        let payload = payload.clone();
        async move {
            let event = NewEvent {
                id: Uuid::new_v4(),
                event_type: "BenchEvent".to_owned(),
                schema_version: 1,
                payload: payload.to_vec(),
                metadata: Metadata {
                    actor: Some("bench".to_owned()),
                    recorded_at_ms: 0,
                    ..Metadata::default()
                },
            };
            let stream = format!("bench-{clients}-{client}-{n}");
            store
                .append(&stream, ExpectedVersion::NoStream, vec![event])
                .await
                .is_ok()
        }
    })
    .await
}

/// Runs every `--clients` level of a scenario of one call per iteration:
/// each client calls `op(clients, client, n)` back to back until the level's
/// time is up, recording each successful call's latency under `name`.
async fn run_simple_levels<Op, Fut>(
    args: &BenchArgs,
    name: &'static str,
    op: Op,
) -> anyhow::Result<()>
where
    Op: Fn(usize, usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let mut reports = Vec::new();
    for &clients in &args.clients {
        let started = Instant::now();
        let until = started + Duration::from_secs(args.seconds);
        let mut tasks = Vec::with_capacity(clients);
        for client in 0..clients {
            let op = op.clone();
            tasks.push(tokio::spawn(async move {
                let mut recorder = Recorder::default();
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let call = Instant::now();
                    if op(clients, client, n).await {
                        recorder.record(name, call.elapsed());
                        recorder.complaints += 1;
                    } else {
                        recorder.errors += 1;
                    }
                }
                recorder
            }));
        }
        let mut total = Recorder::default();
        for task in tasks {
            if let Ok(recorder) = task.await {
                total.merge(recorder);
            }
        }
        let report = level_report(clients, started.elapsed().as_secs_f64(), total);
        if !args.json {
            print_level(&report);
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(())
}

/// The UmaDB peer: its `Append` RPC driven like `raw-append`, one event per
/// call from each client. The messages mirror `umadb.v1` (proto/v1/umadb.proto
/// of umadb-proto 0.7.8) field for field, so no peer code is built here.
mod peer {
    use anyhow::Context as _;
    use tonic::{codegen::http::uri::PathAndQuery, transport::Channel};
    use tonic_prost::ProstCodec;

    use super::{BenchArgs, CLIENTS_PER_CONNECTION, connect, run_simple_levels};

    /// `umadb.v1.Event`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Event {
        #[prost(string, tag = "1")]
        pub event_type: String,
        #[prost(string, repeated, tag = "2")]
        pub tags: Vec<String>,
        #[prost(bytes = "vec", tag = "3")]
        pub data: Vec<u8>,
        #[prost(string, tag = "4")]
        pub uuid: String,
    }

    /// `umadb.v1.AppendRequest` (no condition: an unconditional append).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AppendRequest {
        #[prost(message, repeated, tag = "1")]
        pub events: Vec<Event>,
    }

    /// `umadb.v1.AppendResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AppendResponse {
        #[prost(uint64, tag = "1")]
        pub position: u64,
    }

    async fn append(channel: Channel, request: AppendRequest) -> Result<u64, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = PathAndQuery::from_static("/umadb.v1.DCB/Append");
        let codec: ProstCodec<AppendRequest, AppendResponse> = ProstCodec::default();
        let response = grpc
            .unary(tonic::Request::new(request), path, codec)
            .await?;
        Ok(response.into_inner().position)
    }

    /// Runs every level against the UmaDB server at `--server`.
    pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
        let max = args.clients.iter().copied().max().unwrap_or(1);
        let channels = connect(&args.server, max)
            .await
            .with_context(|| format!("connecting to the UmaDB server at {}", args.server))?;
        let payload = std::sync::Arc::new(vec![b'x'; 300]);
        run_simple_levels(args, "UmadbAppend", move |clients, client, n| {
            let channel = channels[client / CLIENTS_PER_CONNECTION % channels.len()].clone();
            let payload = payload.clone();
            async move {
                let request = AppendRequest {
                    events: vec![Event {
                        event_type: "BenchEvent".to_owned(),
                        tags: vec![format!("bench-{clients}-{client}-{n}")],
                        data: payload.to_vec(),
                        uuid: rectify_eventlog::Uuid::new_v4().to_string(),
                    }],
                };
                match append(channel, request).await {
                    Ok(_) => true,
                    Err(status) => {
                        tracing::debug!(%status, "umadb append failed");
                        false
                    }
                }
            }
        })
        .await
    }
}

/// The Open311 scenario: the `submit` complaints as GeoReport v2 form posts
/// over HTTP/1.1, each client on its own keep-alive connection, in trusted
/// development mode (`api_key` names the portal).
mod open311 {
    use std::sync::Arc;

    use anyhow::{Context as _, bail};
    use http_body_util::{BodyExt as _, Full};
    use hyper::{body::Bytes, header};
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    use tokio::sync::Mutex;

    use super::{BenchArgs, Universe, run_simple_levels};

    type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

    /// The form of one complaint, drawn from the catalog like `submit`'s.
    fn form(universe: &Universe, seed: usize) -> String {
        let area = &universe.areas[seed % universe.areas.len()];
        let district = &universe.districts[seed / 7 % universe.districts.len()];
        let phone = format!("138{:08}", seed % 100_000_000);
        let location = format!("{}某街道", district.name);
        let description = format!(
            "企业反映在{}办理{}相关事项时，办理时间过长、材料要求反复，希望尽快解决。",
            district.name, area.name
        );
        [
            ("api_key", "bench"),
            ("service_code", area.code.as_str()),
            ("description", description.as_str()),
            ("address_string", location.as_str()),
            ("first_name", "先生"),
            ("last_name", "张"),
            ("phone", phone.as_str()),
            ("attribute[district]", district.code.as_str()),
        ]
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(name, NON_ALPHANUMERIC),
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
    }

    async fn post(sender: &Mutex<Sender>, authority: &str, body: String) -> bool {
        let Ok(request) = hyper::Request::post("/open311/v2/requests.json")
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
        else {
            return false;
        };
        // One client per connection: the lock is never contended.
        let mut sender = sender.lock().await;
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status() == hyper::StatusCode::OK;
                ok && response.into_body().collect().await.is_ok()
            }
            Err(_) => false,
        }
    }

    pub async fn run(
        args: &BenchArgs,
        server: &str,
        universe: Arc<Universe>,
    ) -> anyhow::Result<()> {
        let Some(authority) = server.strip_prefix("http://") else {
            bail!("the open311-submit scenario speaks plain HTTP: give --server http://…");
        };
        let authority: Arc<str> = authority.trim_end_matches('/').into();
        let max_clients = args.clients.iter().copied().max().unwrap_or(1);
        let mut senders = Vec::with_capacity(max_clients);
        for _ in 0..max_clients {
            let stream = tokio::net::TcpStream::connect(&*authority)
                .await
                .with_context(|| format!("connecting to {authority}"))?;
            stream.set_nodelay(true)?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .context("the HTTP/1.1 handshake")?;
            tokio::spawn(connection);
            senders.push(Arc::new(Mutex::new(sender)));
        }
        let senders = Arc::new(senders);
        run_simple_levels(args, "Open311 POST", move |_, client, n| {
            let sender = senders[client].clone();
            let authority = authority.clone();
            let seed = client
                .wrapping_mul(1_000_003)
                .wrapping_add(usize::try_from(n).unwrap_or(usize::MAX));
            let body = form(&universe, seed);
            async move { post(&sender, &authority, body).await }
        })
        .await
    }
}
