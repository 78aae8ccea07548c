//! Tracing: every RPC has an `rpc` span with its method, status code,
//! request id and complaint id, with the command and the store's append
//! inside it; no span carries personal data.
//!
//! A test binary of its own: it installs a process-wide subscriber that
//! captures spans, and runs the server in-process (on port 0) to see them.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use rectify::{
    pb::{self, complaint_service_client::ComplaintServiceClient},
    server::config::ServerConfig,
    wire::{HEADER_PRINCIPAL, HEADER_ROLE},
};
use tonic::Request;
use tracing::{
    Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{Layer, layer::Context, prelude::*, registry::LookupSpan};

/// A closed span: its name, its parent's name and its fields.
#[derive(Debug, Clone)]
struct Closed {
    name: String,
    parent: Option<String>,
    fields: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<Closed>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(fields);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span
                .extensions_mut()
                .remove::<Fields>()
                .map(|f| f.0)
                .unwrap_or_default();
            self.0.lock().unwrap().push(Closed {
                name: span.name().to_owned(),
                parent: span.parent().map(|p| p.name().to_owned()),
                fields,
            });
        }
    }
}

fn as_role<T>(message: T, role: &'static str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(HEADER_ROLE, role.parse().unwrap());
    request
        .metadata_mut()
        .insert(HEADER_PRINCIPAL, "telemetry-test".parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_has_a_span_with_method_status_and_ids_and_no_personal_data() {
    let capture = Capture::default();
    tracing_subscriber::registry()
        .with(
            capture
                .clone()
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
        )
        .init();

    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        cache_capacity_bytes: 16 << 20,
        deadline_scan_interval_s: 0,
        rate_limit_per_s: 0,
        ..ServerConfig::local(dir.path().join("data"))
    };
    let (bound, addr) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(rectify::server::serve_with(config, Some(bound), async {
        let _ = stopped.await;
    }));
    let addr = addr.await.unwrap();
    let mut client = ComplaintServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let submitted = client
        .submit_complaint(as_role(
            pb::SubmitComplaintRequest {
                options: Some(pb::CommandOptions {
                    request_id: "hotline-ticket-77".into(),
                    ..Default::default()
                }),
                channel: pb::Channel::Hotline12345 as i32,
                kind: pb::ComplaintKind::Complaint as i32,
                submitter: Some(pb::Submitter {
                    name: "王女士".into(),
                    phone: "13812345678".into(),
                    id_number: "150602199001011234".into(),
                }),
                district: "dongsheng".into(),
                title: "用电报装迟迟不接电".into(),
                text: "两个月还没有接电".into(),
                ..Default::default()
            },
            "hotline",
        ))
        .await
        .expect("submit")
        .into_inner()
        .result
        .unwrap();
    let missing = client
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: "RC-missing".into(),
                min_position: 0,
            },
            "dispatcher",
        ))
        .await
        .expect_err("unknown complaint");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // The projection has applied the intake before the server stops.
    let mut queries =
        pb::query_service_client::QueryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    queries
        .list_ledger(as_role(
            pb::ListLedgerRequest {
                min_position: submitted.position,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("the ledger reaches the intake");
    drop((client, queries));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    let spans = capture.0.lock().unwrap().clone();
    let rpc = |method: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "rpc"
                    && s.fields.get("rpc.method").map(String::as_str)
                        == Some(&format!("/rectify.v1.ComplaintService/{method}"))
            })
            .unwrap_or_else(|| panic!("no rpc span for {method} in {spans:#?}"))
    };
    let submit = rpc("SubmitComplaint");
    assert_eq!(submit.fields["rpc.grpc.status_code"], "0");
    assert_eq!(submit.fields["request_id"], "hotline-ticket-77");
    assert_eq!(submit.fields["complaint_id"], submitted.id);
    let get = rpc("GetComplaint");
    assert_eq!(get.fields["rpc.grpc.status_code"], "5");
    assert_eq!(get.fields["complaint_id"], "RC-missing");

    // The command and the store's append run inside the call's span.
    let command = spans
        .iter()
        .find(|s| s.name == "command" && s.fields.get("aggregate_id") == Some(&submitted.id))
        .expect("a command span");
    assert_eq!(command.parent.as_deref(), Some("rpc"));
    let append = spans
        .iter()
        .find(|s| {
            s.name == "eventlog.append"
                && s.fields.get("stream") == Some(&format!("complaint-{}", submitted.id))
        })
        .expect("an append span");
    assert_eq!(append.parent.as_deref(), Some("command"));
    assert!(spans.iter().any(|s| s.name == "projection.apply"));

    // No span field anywhere holds the submitter's personal data.
    for span in &spans {
        for value in span.fields.values() {
            assert!(
                !value.contains("13812345678")
                    && !value.contains("王女士")
                    && !value.contains("150602199001011234"),
                "personal data in {span:?}"
            );
        }
    }
}
