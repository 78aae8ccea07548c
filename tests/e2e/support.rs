//! The harness the end-to-end tests share: a `rectify serve` process on
//! port 0 with its data directory ([`Server`]), requests with identity
//! headers, the common workflow steps, reads of the log, and the `rectify`
//! CLI run as a client or offline.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use rectify::{
    pb::{
        self, admin_service_client::AdminServiceClient,
        catalog_service_client::CatalogServiceClient,
        complaint_service_client::ComplaintServiceClient, event_service_client::EventServiceClient,
        ledger_service_client::LedgerServiceClient, query_service_client::QueryServiceClient,
    },
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};
use tonic::{Request, transport::Channel};

/// A clock file the server reads its time from (`--clock-file`), moved by
/// the test.
pub struct TestClock {
    pub path: PathBuf,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl TestClock {
    /// A clock file in `dir` reading `at`.
    pub fn new(dir: &Path, at: chrono::DateTime<chrono::Utc>) -> Self {
        let mut clock = TestClock {
            path: dir.join("clock"),
            now: at,
        };
        clock.set(at);
        clock
    }

    /// A clock file in `dir` reading 2026-11-02 10:00 Beijing time.
    pub fn in_dir(dir: &Path) -> Self {
        use chrono::TimeZone as _;
        Self::new(
            dir,
            chrono::Utc.with_ymd_and_hms(2026, 11, 2, 2, 0, 0).unwrap(),
        )
    }

    pub fn set(&mut self, at: chrono::DateTime<chrono::Utc>) {
        self.now = at;
        std::fs::write(&self.path, at.to_rfc3339()).expect("write the clock file");
    }

    pub fn advance(&mut self, seconds: i64) {
        self.set(self.now + chrono::Duration::seconds(seconds));
    }

    /// `serve` flags: read this clock.
    pub fn args(&self) -> Vec<String> {
        vec!["--clock-file".into(), self.path.display().to_string()]
    }
}

/// A running server process; killed on drop if the test did not stop it.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Extra `serve` flags, kept for restarts.
    extra_args: Vec<String>,
    /// The metrics endpoint, when started with `--metrics-listen`.
    pub metrics_addr: Option<SocketAddr>,
    /// The temporary directory holding `data_dir`, when the server owns it
    /// ([`Server::fresh`]); removed after the process is gone.
    temp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts on a new temporary data directory that lives as long as the
    /// server (restarts included).
    pub fn fresh() -> Self {
        Self::fresh_with(&[])
    }

    /// [`Server::fresh`] with extra `serve` flags.
    pub fn fresh_with(extra_args: &[String]) -> Self {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self::start_with(temp.path(), extra_args);
        server.temp = Some(temp);
        server
    }

    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Starts with extra `serve` flags (e.g. a clock file).
    pub fn start_with(data_dir: &Path, extra_args: &[String]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            // Tests run the deadline watcher themselves, when they mean to,
            // and drive load faster than a production rate limit allows
            // (variables, so a test's own flags override them).
            .env("RECTIFY_DEADLINE_SCAN_INTERVAL_S", "0")
            .env("RECTIFY_RATE_LIMIT_PER_S", "0")
            .args(extra_args)
            .env("RUST_LOG", "warn")
            .env_remove("RECTIFY_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rectify serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix("rectify listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a socket address");
        let metrics_addr = extra_args.iter().any(|a| a == "--metrics-listen").then(|| {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read the metrics line");
            line.trim()
                .strip_prefix("rectify metrics on ")
                .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                .parse()
                .expect("a socket address")
        });
        Self {
            child: Some(child),
            addr,
            data_dir: data_dir.to_path_buf(),
            extra_args: extra_args.to_vec(),
            metrics_addr,
            temp: None,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the server")
    }

    pub async fn complaints(&self) -> ComplaintServiceClient<Channel> {
        ComplaintServiceClient::new(self.channel().await)
    }

    pub async fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::new(self.channel().await)
    }

    pub async fn queries(&self) -> QueryServiceClient<Channel> {
        QueryServiceClient::new(self.channel().await)
    }

    pub async fn ledgers(&self) -> LedgerServiceClient<Channel> {
        LedgerServiceClient::new(self.channel().await)
    }

    pub async fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel().await)
    }

    pub async fn catalog(&self) -> CatalogServiceClient<Channel> {
        CatalogServiceClient::new(self.channel().await)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        child.wait().expect("wait for the server")
    }

    /// Stops cleanly and starts again on the same data directory and flags.
    pub fn restart(mut self) -> Self {
        let data_dir = self.data_dir.clone();
        let extra_args = self.extra_args.clone();
        let temp = self.temp.take();
        let status = self.stop();
        assert!(status.success(), "server exited with {status}");
        let mut server = Self::start_with(&data_dir, &extra_args);
        server.temp = temp;
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `message` from `role`, as principal `test-<role>`.
pub fn as_role<T>(message: T, role: &'static str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(HEADER_ROLE, role.parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_PRINCIPAL, format!("test-{role}").parse().unwrap());
    request
}

/// `message` from a clerk of `unit` (role `unit`, principal `clerk@<unit>`).
pub fn as_unit<T>(message: T, unit: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(HEADER_ROLE, "unit".parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_UNIT, unit.parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_PRINCIPAL, format!("clerk@{unit}").parse().unwrap());
    request
}

/// Command options carrying only an idempotency key.
pub fn options(request_id: &str) -> Option<pb::CommandOptions> {
    Some(pb::CommandOptions {
        request_id: request_id.to_owned(),
        ..Default::default()
    })
}

/// A valid intake by the hotline: 获得电力 in 东胜区, with a submitter.
pub fn submit_request(title: &str) -> pb::SubmitComplaintRequest {
    pb::SubmitComplaintRequest {
        channel: pb::Channel::Hotline12345 as i32,
        kind: pb::ComplaintKind::Complaint as i32,
        submitter: Some(pb::Submitter {
            name: "王女士".into(),
            phone: "13812345678".into(),
            id_number: String::new(),
        }),
        enterprise: "鄂尔多斯市某某商贸有限公司".into(),
        district: "dongsheng".into(),
        location: "东胜区天骄路".into(),
        title: title.into(),
        text: "新建厂房申请用电报装，两个月还没有接电，影响企业投产。".into(),
        external_ref: "12345-20261122-0001".into(),
        ..Default::default()
    }
}

/// Submits [`submit_request`] as the hotline; returns the command's result.
pub async fn submit(
    client: &mut ComplaintServiceClient<Channel>,
    title: &str,
) -> pb::CommandResult {
    submit_as_hotline(client, submit_request(title)).await
}

/// Submits `request` as the hotline; returns the command's result.
pub async fn submit_as_hotline(
    client: &mut ComplaintServiceClient<Channel>,
    request: pb::SubmitComplaintRequest,
) -> pb::CommandResult {
    client
        .submit_complaint(as_role(request, "hotline"))
        .await
        .expect("submit")
        .into_inner()
        .result
        .expect("a result")
}

/// The log's head position.
pub async fn head(server: &Server) -> u64 {
    server
        .events()
        .await
        .read_log(as_role(
            pb::ReadLogRequest {
                from_position: 1,
                max_count: 1,
                filter: None,
            },
            "supervisor",
        ))
        .await
        .expect("read log")
        .into_inner()
        .head_position
}

/// The complaint as the dispatch centre sees it.
pub async fn get(client: &mut ComplaintServiceClient<Channel>, id: &str) -> pb::ComplaintView {
    client
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: id.into(),
                min_position: 0,
            },
            "dispatcher",
        ))
        .await
        .expect("get complaint")
        .into_inner()
        .complaint
        .expect("a complaint")
}

/// Every event of a complaint, as a supervisor reads them.
pub async fn history(client: &mut ComplaintServiceClient<Channel>, id: &str) -> Vec<pb::Event> {
    client
        .get_history(as_role(
            pb::GetHistoryRequest {
                complaint_id: id.into(),
            },
            "supervisor",
        ))
        .await
        .expect("history")
        .into_inner()
        .events
}

/// Classifies as 获得电力 and dispatches by the catalog's routing; returns the lead unit.
pub async fn classify_and_dispatch(
    client: &mut ComplaintServiceClient<Channel>,
    id: &str,
) -> String {
    client
        .classify_complaint(as_role(
            pb::ClassifyComplaintRequest {
                complaint_id: id.into(),
                area: "getting-electricity".into(),
                urgency: pb::Urgency::Normal as i32,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("classify");
    let dispatched = client
        .dispatch_complaint(as_role(
            pb::DispatchComplaintRequest {
                complaint_id: id.into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("dispatch")
        .into_inner();
    assert!(!dispatched.lead_unit.is_empty());
    assert!(!dispatched.routing_rule.is_empty());
    dispatched.lead_unit
}

/// Submits [`submit_request`] titled `title` and classifies and dispatches
/// it; returns its id and lead unit.
pub async fn submit_and_dispatch(
    client: &mut ComplaintServiceClient<Channel>,
    title: &str,
) -> (String, String) {
    let id = submit(client, title).await.id;
    let lead = classify_and_dispatch(client, &id).await;
    (id, lead)
}

/// Backs the server up into `destination`, as `role`.
pub async fn backup(
    server: &Server,
    destination: &Path,
    role: &'static str,
) -> Result<pb::BackupResponse, tonic::Status> {
    server
        .admin()
        .await
        .backup(as_role(
            pb::BackupRequest {
                destination: destination.display().to_string(),
            },
            role,
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// The lead `unit` accepts its assignment.
pub async fn accept(client: &mut ComplaintServiceClient<Channel>, id: &str, unit: &str) {
    client
        .accept_assignment(as_unit(
            pb::AcceptAssignmentRequest {
                complaint_id: id.into(),
                ..Default::default()
            },
            unit,
        ))
        .await
        .expect("accept");
}

/// `unit` submits its resolution `result`, with `evidence`.
pub async fn resolve(
    client: &mut ComplaintServiceClient<Channel>,
    id: &str,
    unit: &str,
    result: &str,
    evidence: &[&str],
) {
    client
        .submit_resolution(as_unit(
            pb::SubmitResolutionRequest {
                complaint_id: id.into(),
                result: result.into(),
                evidence: evidence.iter().map(|e| (*e).to_owned()).collect(),
                ..Default::default()
            },
            unit,
        ))
        .await
        .expect("resolve");
}

/// The dispatch centre verifies the submitted resolution.
pub async fn verify(client: &mut ComplaintServiceClient<Channel>, id: &str) {
    client
        .verify_resolution(as_role(
            pb::VerifyResolutionRequest {
                complaint_id: id.into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("verify");
}

/// A callback's outcome, for [`record_callback`].
pub fn callback(
    valid: bool,
    contacted: bool,
    solved: bool,
    satisfaction: pb::Satisfaction,
) -> pb::RecordCallbackRequest {
    pb::RecordCallbackRequest {
        valid,
        contacted,
        solved,
        satisfaction: satisfaction as i32,
        ..Default::default()
    }
}

/// The hotline records `callback` for the complaint.
pub async fn record_callback(
    client: &mut ComplaintServiceClient<Channel>,
    id: &str,
    callback: pb::RecordCallbackRequest,
) {
    client
        .record_callback(as_role(
            pb::RecordCallbackRequest {
                complaint_id: id.into(),
                ..callback
            },
            "hotline",
        ))
        .await
        .expect("callback");
}

/// Every event of the log from position 1, page by page, as `role` reads it
/// (only those passing `filter`, when there is one).
pub async fn read_log(
    server: &Server,
    role: &'static str,
    filter: Option<pb::EventFilter>,
) -> Vec<pb::Event> {
    let mut events = server.events().await;
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = events
            .read_log(as_role(
                pb::ReadLogRequest {
                    from_position: from,
                    max_count: 1_000,
                    filter: filter.clone(),
                },
                role,
            ))
            .await
            .expect("read log")
            .into_inner();
        out.extend(page.events);
        if page.next_position == 0 {
            return out;
        }
        from = page.next_position;
    }
}

/// Runs `command` and returns its stdout; fails the test, showing what it
/// printed, unless it exits successfully.
fn stdout_of_success(mut command: Command) -> String {
    let output = command.output().expect("run the rectify CLI");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `rectify <args>` as a client of `server` and returns its stdout.
pub fn cli(server: &Server, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rectify"));
    command
        .args(args)
        .env("RECTIFY_SERVER", format!("http://{}", server.addr))
        .env_remove("RECTIFY_ROLE")
        .env_remove("RECTIFY_UNIT")
        .env_remove("RECTIFY_PRINCIPAL");
    stdout_of_success(command)
}

/// Runs the offline `rectify admin <command> <paths…>` (on a stopped
/// server's files) and returns its stdout; it must succeed.
pub fn admin_offline(command: &str, paths: &[&Path]) -> String {
    let mut run = Command::new(env!("CARGO_BIN_EXE_rectify"));
    run.args(["admin", command]).args(paths);
    stdout_of_success(run)
}

/// An HTTP reply: status, headers and body text.
pub struct HttpReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl HttpReply {
    /// A header's value; empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    pairs
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

/// One HTTP/1.1 request to the server's port (which serves Open311 and the
/// dashboard beside gRPC), with `headers` and, when given, a form body.
pub async fn http(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> HttpReply {
    use http_body_util::{BodyExt as _, Full};
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", server.addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match form {
        Some(form) => {
            request = request.header("content-type", "application/x-www-form-urlencoded");
            form_encode(form)
        }
        None => String::new(),
    };
    let response = sender
        .send_request(
            request
                .body(Full::new(hyper::body::Bytes::from(body)))
                .unwrap(),
        )
        .await
        .expect("an HTTP response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    HttpReply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("UTF-8"),
    }
}
