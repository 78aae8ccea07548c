//! Logging and tracing: `tracing` to stderr (filtered by `RUST_LOG`) and,
//! when an OTLP endpoint is configured, every span exported to it over gRPC
//! (OpenTelemetry).
//!
//! Exported: the `rpc` span of every call (method, status code, request id,
//! complaint or ledger id) and, inside it, the `command`, `eventlog.append`
//! and `projection.apply` spans, whatever `RUST_LOG` says for the console.
//! No span carries personal data: handlers never record submitter fields.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// What spans go to the OTLP endpoint: rectify's own, down to debug.
const EXPORT_FILTER: &str = "info,rectify=debug,rectify_eventlog=debug,rectify_projections=debug";

/// Keeps the exporter alive; dropping it flushes and shuts it down.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: flushing traces failed: {error}");
        }
    }
}

/// Installs the process-wide subscriber. `default_level` applies when
/// `RUST_LOG` is unset; `otlp_endpoint` (e.g. `http://127.0.0.1:4317`)
/// turns on span export. Call inside a tokio runtime when exporting.
pub fn init(default_level: &str, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let console = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        );
    let (export, provider) = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                    exporter,
                    opentelemetry_sdk::runtime::Tokio,
                )
                .build();
            let provider = SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("rectify")
                        .build(),
                )
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("rectify"))
                .with_filter(EnvFilter::new(EXPORT_FILTER));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    // A second initialisation (an in-process server in a test or the
    // bench) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(export)
        .try_init();
    Ok(Telemetry { provider })
}
