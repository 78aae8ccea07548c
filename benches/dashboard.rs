//! The dashboard at city scale: how long each page takes to serve (its data
//! from the query and ledger services plus rendering) on a log of many
//! complaints, and, when Chromium and chromedriver are installed, the first
//! contentful paint a browser reports for each page.
//!
//! ```sh
//! # a 100,000-complaint log, generated once by the projections' bench
//! cargo bench -p rectify-projections --bench ledger -- --complaints 100000 --keep /tmp/ledger-100k
//! # the pages on it (the server runs from a copy, so the kept log stays as it was)
//! cargo bench --bench dashboard -- --data-dir /tmp/ledger-100k
//! ```
//!
//! The bench starts the release `rectify serve` on a copy of the data
//! directory, with its clock set one hour after the newest complaint, waits
//! for the ledger to catch up, imports the action plan as a ledger, signs in
//! as a supervisor, then requests each page [`RUNS`] times after
//! [`WARMUP`] unmeasured requests and prints the median and p99 in
//! milliseconds as Markdown.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Instant,
};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full};
use rectify::pb;

/// Measured requests per page.
const RUNS: usize = 50;
/// Unmeasured requests per page first.
const WARMUP: usize = 3;
/// Browser loads per page for the first paint.
const PAINT_RUNS: usize = 5;

struct Served {
    child: Child,
    addr: std::net::SocketAddr,
    _copy: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the data directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// `rectify serve` on a copy of `data_dir`, its clock read from `clock`.
fn serve(data_dir: &Path, clock: &Path) -> Served {
    let copy = tempfile::tempdir().expect("a temporary directory");
    copy_dir(data_dir, copy.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(copy.path())
        .arg("--clock-file")
        .arg(clock)
        .env("RECTIFY_DEADLINE_SCAN_INTERVAL_S", "0")
        .env("RECTIFY_RATE_LIMIT_PER_S", "0")
        .env("RUST_LOG", "error")
        .env_remove("RECTIFY_CONFIG")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start rectify serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr = line
        .trim()
        .strip_prefix("rectify listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    Served {
        child,
        addr,
        _copy: copy,
    }
}

fn grpc<T>(message: T, role: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-rectify-role", role.parse().expect("a role"));
    request
}

/// One HTTP/1.1 GET or form POST; returns the status, `Set-Cookie` and body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> (u16, String, usize) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let body = Full::new(hyper::body::Bytes::from(
        form.unwrap_or_default().to_owned(),
    ));
    let response = sender
        .send_request(request.body(body).expect("a request"))
        .await
        .expect("a response");
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, set_cookie, bytes.len())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The newest complaint's intake time.
async fn newest(addr: std::net::SocketAddr) -> (DateTime<Utc>, u64) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a URI")
        .connect()
        .await
        .expect("connect");
    let mut queries = pb::query_service_client::QueryServiceClient::new(channel.clone());
    let mut events = pb::event_service_client::EventServiceClient::new(channel);
    let head = events
        .read_log(grpc(
            pb::ReadLogRequest {
                from_position: u64::MAX,
                max_count: 1,
                ..Default::default()
            },
            "admin",
        ))
        .await
        .map(|r| r.into_inner().head_position)
        .unwrap_or(0);
    let page = queries
        .list_ledger(grpc(
            pb::ListLedgerRequest {
                page_size: 1,
                min_position: head,
                ..Default::default()
            },
            "supervisor",
        ))
        .await
        .expect("the ledger caught up")
        .into_inner();
    let received = page
        .rows
        .first()
        .and_then(|r| r.received_at.as_ref())
        .and_then(rectify::wire::from_timestamp)
        .unwrap_or_else(Utc::now);
    (received, page.total)
}

async fn import_plan(addr: std::net::SocketAddr) {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a URI")
        .connect()
        .await
        .expect("connect");
    pb::ledger_service_client::LedgerServiceClient::new(channel)
        .import_plan(grpc(pb::ImportPlanRequest {}, "admin"))
        .await
        .expect("import the plan");
}

/// Median and p99 of serving `path`, in ms, and the page's size.
async fn time_page(addr: std::net::SocketAddr, cookie: &str, path: &str) -> (f64, f64, usize) {
    let mut times = Vec::with_capacity(RUNS);
    let mut size = 0;
    for run in 0..WARMUP + RUNS {
        let started = Instant::now();
        let (status, _, bytes) = http(addr, "GET", path, Some(cookie), None).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, 200, "{path}");
        size = bytes;
        if run >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99), size)
}

fn args() -> (Option<PathBuf>, bool) {
    let args: Vec<String> = std::env::args().collect();
    let data_dir = args
        .iter()
        .position(|a| a == "--data-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    (data_dir, args.iter().any(|a| a == "--no-browser"))
}

#[tokio::main]
async fn main() {
    let (data_dir, no_browser) = args();
    let Some(data_dir) = data_dir else {
        eprintln!("usage: cargo bench --bench dashboard -- --data-dir DIR [--no-browser]");
        eprintln!(
            "(DIR from: cargo bench -p rectify-projections --bench ledger -- --complaints 100000 --keep DIR)"
        );
        return;
    };
    let clock_dir = tempfile::tempdir().expect("a temporary directory");
    let clock = clock_dir.path().join("clock");
    std::fs::write(&clock, Utc::now().to_rfc3339()).expect("write the clock");
    let started = Instant::now();
    let served = serve(&data_dir, &clock);
    let (newest, complaints) = newest(served.addr).await;
    println!(
        "{complaints} complaints; server up and caught up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let now = newest + chrono::Duration::hours(1);
    std::fs::write(&clock, now.to_rfc3339()).expect("move the clock");
    import_plan(served.addr).await;
    let (status, cookie, _) = http(
        served.addr,
        "POST",
        "/dashboard/login",
        None,
        Some("role=supervisor"),
    )
    .await;
    assert_eq!(status, 303, "sign-in");
    let month = (now + chrono::Duration::hours(8))
        .format("%Y-%m")
        .to_string();
    let pages = pages(&month);
    println!("\n| page | path | bytes | p50 ms | p99 ms |\n| --- | --- | ---: | ---: | ---: |");
    for (name, path) in &pages {
        let (p50, p99, size) = time_page(served.addr, &cookie, path).await;
        println!("| {name} | `{path}` | {size} | {p50:.1} | {p99:.1} |");
    }
    if !no_browser {
        paint::report(served.addr, &pages).await;
    }
}

/// The pages measured: name and path.
fn pages(month: &str) -> Vec<(&'static str, String)> {
    vec![
        ("总览", "/dashboard".to_owned()),
        (
            "单位考评 (month, per unit)",
            format!("/dashboard/units?period={month}"),
        ),
        (
            "单位考评 (month, per district)",
            format!("/dashboard/units?period={month}&group=district"),
        ),
        (
            "单位待办 (power-bureau)",
            "/dashboard/inbox?unit=power-bureau".to_owned(),
        ),
        ("台账, first page", "/dashboard/ledger".to_owned()),
        (
            "台账, open and overdue by due time",
            "/dashboard/ledger?status=open&overdue=1&order=due_asc".to_owned(),
        ),
        (
            "台账, free text 燃气",
            "/dashboard/ledger?text=%E7%87%83%E6%B0%94".to_owned(),
        ),
        ("整改销号 list", "/dashboard/rect".to_owned()),
        ("整改销号 plan-2021", "/dashboard/rect/plan-2021".to_owned()),
        (
            "台账 CSV export (power-bureau)",
            "/dashboard/ledger/export?unit=power-bureau&format=csv".to_owned(),
        ),
    ]
}

#[path = "../tests/e2e/chrome.rs"]
mod chrome;

/// First contentful paint in headless Chromium, when it is installed.
mod paint {
    use std::time::Duration;

    use fantoccini::Locator;

    use super::chrome;

    pub async fn report(addr: std::net::SocketAddr, pages: &[(&'static str, String)]) {
        if !std::path::Path::new(chrome::CHROMEDRIVER).exists() {
            println!("\n(no chromedriver: first paint not measured)");
            return;
        }
        let (_driver, port) = chrome::start_chromedriver().await;
        let client = chrome::browser(port).await;
        client
            .goto(&format!("http://{addr}/dashboard/login"))
            .await
            .expect("login page");
        let form = client.form(Locator::Css("form")).await.expect("form");
        form.set_by_name("role", "supervisor").await.expect("role");
        form.submit().await.expect("sign in");
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("#open-total"))
            .await
            .expect("the overview");
        println!(
            "\n| page | first contentful paint, median of {} loads, ms |\n| --- | ---: |",
            super::PAINT_RUNS
        );
        for (name, path) in pages.iter().filter(|(_, p)| !p.contains("export")) {
            let mut paints = Vec::new();
            for _ in 0..super::PAINT_RUNS {
                client
                    .goto(&format!("http://{addr}{path}"))
                    .await
                    .expect("open the page");
                // The paint entry may come after the load event: wait for it.
                let fcp = client
                    .execute_async(
                        "const done = arguments[arguments.length - 1];
                         new PerformanceObserver((list) => {
                           const paint = list.getEntriesByName('first-contentful-paint')[0];
                           if (paint) { done(paint.startTime); }
                         }).observe({ type: 'paint', buffered: true });
                         setTimeout(() => done(null), 5000);",
                        vec![],
                    )
                    .await
                    .expect("read the paint timing");
                if let Some(ms) = fcp.as_f64() {
                    paints.push(ms);
                }
            }
            paints.sort_by(f64::total_cmp);
            match paints.get(paints.len() / 2) {
                Some(ms) => println!("| {name} | {ms:.0} |"),
                None => println!("| {name} | not reported |"),
            }
        }
        let _ = client.close().await;
    }
}
