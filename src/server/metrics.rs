//! Prometheus metrics on a separate HTTP port (`--metrics-listen`).
//!
//! Recorded as they happen, through the `metrics` facade:
//!
//! - `rectify_rpc_requests_total{method, code}` and
//!   `rectify_rpc_duration_seconds{method}` — every gRPC call, by full method
//!   path and gRPC status code (a tower layer around the server);
//! - `rectify_eventlog_appends_total`, `rectify_eventlog_events_total`,
//!   `rectify_eventlog_flushes_total`, `rectify_eventlog_flush_seconds`,
//!   `rectify_eventlog_events_per_flush` — the store's group commit;
//! - `rectify_subscribers` — open `Subscribe` streams.
//!
//! The same layer opens the `rpc` tracing span of every call (method, status
//! code, and the request id and complaint or ledger id the handler records).
//!
//! Computed when scraped:
//!
//! - `rectify_log_head_position`, `rectify_projection_applied_position` and
//!   `rectify_projection_lag_events{projection="ledger"|"transparency"}`;
//! - `rectify_transparency_follower_up`: 0 while the transparency tree's
//!   follower is failing (it retries with backoff), 1 otherwise;
//! - `rectify_open_complaints{status, warning}` — complaints not closed, by
//!   status and warning level (`none`, `yellow`, `red`).
//!
//! Labels never carry personal data, and a method path that is not one of
//! the server's is counted as `other`, so a hostile client cannot grow the
//! label set.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rectify_domain::complaint::{ComplaintStatus, WarningLevel};
use rectify_eventlog::EventStore as _;
use tokio::net::TcpListener;
use tonic::codegen::http;
use tracing::Instrument as _;

use crate::server::state::AppState;

/// Histogram buckets for latencies, in seconds (0.1 ms to 10 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Buckets for events per flush.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
];
/// Longest method path recorded as a label.
const MAX_METHOD_LABEL: usize = 96;
/// Most concurrent scrapes served.
const MAX_SCRAPE_CONNECTIONS: usize = 16;

/// Installs the process-wide recorder. `None` when one is installed already
/// (a second in-process server, as in `rectify bench --spawn`): the first
/// server's endpoint then reports for both.
pub fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".to_owned()),
            LATENCY_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(
                    "rectify_eventlog_events_per_flush".to_owned(),
                ),
                BATCH_BUCKETS,
            )
        });
    match builder.map(PrometheusBuilder::install_recorder) {
        Ok(Ok(handle)) => Some(handle),
        Ok(Err(error)) => {
            tracing::warn!(%error, "metrics recorder not installed");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "metrics buckets rejected");
            None
        }
    }
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
pub fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    state: Arc<AppState>,
) -> tokio::task::JoinHandle<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPE_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let handle = handle.clone();
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let handle = handle.clone();
                    let state = state.clone();
                    async move {
                        if request.uri().path() == "/metrics" {
                            record_gauges(&state).await;
                            Response::builder()
                                .header("content-type", "text/plain; version=0.0.4")
                                .body(Full::new(Bytes::from(handle.render())))
                        } else {
                            Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::from_static(b"not found\n")))
                        }
                    }
                });
                let connection = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "metrics connection ended");
                }
                drop(permit);
            });
        }
    })
}

/// Sets the gauges computed at scrape time.
async fn record_gauges(state: &Arc<AppState>) {
    let head = state.store.head_position().await.unwrap_or_default();
    let applied = state.ledger.applied();
    metrics::gauge!("rectify_log_head_position").set(head as f64);
    metrics::gauge!("rectify_projection_applied_position", "projection" => "ledger")
        .set(applied as f64);
    metrics::gauge!("rectify_projection_lag_events", "projection" => "ledger")
        .set(head.saturating_sub(applied) as f64);
    let tree = state.transparency.size();
    metrics::gauge!("rectify_projection_applied_position", "projection" => "transparency")
        .set(tree as f64);
    metrics::gauge!("rectify_projection_lag_events", "projection" => "transparency")
        .set(head.saturating_sub(tree) as f64);
    metrics::gauge!("rectify_transparency_follower_up").set(
        if state.transparency.failure().is_some() {
            0.0
        } else {
            1.0
        },
    );
    let ledger = state.ledger.clone();
    let counts = tokio::task::spawn_blocking(move || {
        ledger.read(|view| {
            let mut counts: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
            for row in view.rows() {
                if row.status == ComplaintStatus::Closed {
                    continue;
                }
                let warning = match row.warning_level() {
                    None => "none",
                    Some(WarningLevel::Yellow) => "yellow",
                    Some(WarningLevel::Red) => "red",
                };
                *counts.entry((row.status.as_str(), warning)).or_default() += 1;
            }
            counts
        })
    })
    .await
    .unwrap_or_default();
    for status in [
        ComplaintStatus::Received,
        ComplaintStatus::AwaitingDispatch,
        ComplaintStatus::Dispatched,
        ComplaintStatus::InProgress,
        ComplaintStatus::Resolved,
        ComplaintStatus::Verified,
        ComplaintStatus::CalledBack,
    ] {
        for warning in ["none", "yellow", "red"] {
            let count = counts
                .get(&(status.as_str(), warning))
                .copied()
                .unwrap_or(0);
            metrics::gauge!("rectify_open_complaints", "status" => status.as_str(), "warning" => warning)
                .set(count as f64);
        }
    }
}

/// Counts open subscriptions while alive.
#[derive(Debug)]
pub struct SubscriberGuard;

impl SubscriberGuard {
    /// One more open subscription.
    pub fn new() -> Self {
        metrics::gauge!("rectify_subscribers").increment(1.0);
        SubscriberGuard
    }
}

impl Default for SubscriberGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        metrics::gauge!("rectify_subscribers").decrement(1.0);
    }
}

/// The tower layer that records every RPC.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcMetricsLayer;

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics { inner }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
}

fn method_label(path: &str) -> String {
    let known = path.len() <= MAX_METHOD_LABEL
        && (path.starts_with("/rectify.v1.") || path.starts_with("/grpc."))
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_'));
    if known {
        path.to_owned()
    } else {
        "other".to_owned()
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let started = Instant::now();
        // One span per call; handlers record the request id and the
        // aggregate's id on it.
        let span = tracing::info_span!(
            "rpc",
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            request_id = tracing::field::Empty,
            complaint_id = tracing::field::Empty,
            ledger_id = tracing::field::Empty,
        );
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(async move {
            let result = future.instrument(span.clone()).await;
            // Errors answer in headers (trailers-only); a success carries its
            // status in trailers, which a unary call always sets to 0.
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or("0")
                    .to_owned(),
                Err(_) => "transport".to_owned(),
            };
            span.record("rpc.grpc.status_code", code.as_str());
            metrics::counter!("rectify_rpc_requests_total", "method" => method.clone(), "code" => code)
                .increment(1);
            metrics::histogram!("rectify_rpc_duration_seconds", "method" => method)
                .record(started.elapsed());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::method_label;

    #[test]
    fn only_the_servers_own_methods_become_labels() {
        assert_eq!(
            method_label("/rectify.v1.ComplaintService/SubmitComplaint"),
            "/rectify.v1.ComplaintService/SubmitComplaint"
        );
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        for hostile in [
            "/evil.Service/Anything",
            "/rectify.v1.X/\u{7f}",
            "/rectify.v1.ComplaintService/a b",
            &format!("/rectify.v1.{}", "x".repeat(200)),
        ] {
            assert_eq!(method_label(hostile), "other", "{hostile:?}");
        }
    }
}
