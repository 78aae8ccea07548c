//! Portals and generic tools: browser code calling over gRPC-Web (a unary
//! and a streaming RPC, and the CORS preflight for the configured origins),
//! and the start-up refusal of a public listener without principals.

use std::process::{Command, Stdio};

use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rectify::pb::{
    self, complaint_service_client::ComplaintServiceClient,
    query_service_client::QueryServiceClient,
};
use tonic_web::GrpcWebClientLayer;

use crate::support::{Server, as_role, submit_request};

/// The browser origin the tests' server lets in.
const PORTAL_ORIGIN: &str = "https://portal.example.gov.cn";

/// A server that lets [`PORTAL_ORIGIN`] call over gRPC-Web.
fn portal_server() -> Server {
    Server::fresh_with(&["--grpc-web-origin".to_owned(), PORTAL_ORIGIN.to_owned()])
}

/// A tonic client speaking gRPC-Web over HTTP/1.1, as browser code does.
macro_rules! grpc_web_client {
    ($client:ident, $server:expr) => {{
        let http = Client::builder(TokioExecutor::new()).build_http();
        let service = tower::ServiceBuilder::new()
            .layer(GrpcWebClientLayer::new())
            .service(http);
        let origin = format!("http://{}", $server.addr)
            .try_into()
            .expect("a URI");
        $client::with_origin(service, origin)
    }};
}

#[tokio::test]
async fn browser_code_submits_and_exports_over_grpc_web() {
    let server = portal_server();
    let mut complaints = grpc_web_client!(ComplaintServiceClient, server);
    let mut request = submit_request("网页提交：用电报装");
    request.channel = pb::Channel::WebPortal as i32;
    let submitted = complaints
        .submit_complaint(as_role(request, "portal"))
        .await
        .expect("a unary call over gRPC-Web")
        .into_inner()
        .result
        .expect("a result");
    assert_eq!(submitted.version, 0);

    // The same complaint read over native gRPC: one API, two transports.
    let mut native = server.complaints().await;
    let view = native
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: submitted.id.clone(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("get over gRPC")
        .into_inner()
        .complaint
        .expect("a view");
    assert_eq!(view.title, "网页提交：用电报装");
    assert_eq!(view.channel, pb::Channel::WebPortal as i32);

    // A server-streaming call: the ledger export arrives in chunks.
    let mut queries = grpc_web_client!(QueryServiceClient, server);
    let mut chunks = queries
        .export_ledger(as_role(
            pb::ExportLedgerRequest {
                format: pb::ExportFormat::Csv as i32,
                min_position: submitted.position,
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect("a streaming call over gRPC-Web")
        .into_inner();
    let mut csv = Vec::new();
    let mut rows = None;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.expect("a chunk");
        rows.get_or_insert(chunk.rows);
        csv.extend(chunk.data);
    }
    assert_eq!(rows, Some(1));
    let csv = String::from_utf8(csv).expect("UTF-8 CSV");
    assert!(csv.contains(&submitted.id), "{csv}");

    // Errors keep their gRPC status over gRPC-Web.
    let missing = complaints
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: "no-such-complaint".into(),
                ..Default::default()
            },
            "dispatcher",
        ))
        .await
        .expect_err("an unknown complaint");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn only_configured_origins_pass_the_cors_preflight() {
    let server = portal_server();
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let preflight = |origin: &'static str| {
        hyper::Request::builder()
            .method("OPTIONS")
            .uri(format!(
                "http://{}/rectify.v1.ComplaintService/SubmitComplaint",
                server.addr
            ))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-grpc-web,x-rectify-role",
            )
            .body(Empty::new())
            .expect("a request")
    };
    let allowed = http
        .request(preflight(PORTAL_ORIGIN))
        .await
        .expect("an answer");
    assert_eq!(
        allowed.headers().get("access-control-allow-origin"),
        Some(&PORTAL_ORIGIN.parse().unwrap())
    );
    let allowed_headers = allowed
        .headers()
        .get("access-control-allow-headers")
        .expect("allowed headers")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed_headers.contains("x-grpc-web"), "{allowed_headers}");
    let _ = allowed.into_body().collect().await;

    let other = http
        .request(preflight("https://elsewhere.example.com"))
        .await
        .expect("an answer");
    assert_eq!(other.headers().get("access-control-allow-origin"), None);

    // An actual call from the portal's page may read the gRPC status.
    let call = hyper::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/rectify.v1.CatalogService/ListAreas",
            server.addr
        ))
        .header("origin", PORTAL_ORIGIN)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("x-rectify-role", "portal")
        .body(Empty::new())
        .expect("a request");
    let answer = http.request(call).await.expect("an answer");
    let exposed = answer
        .headers()
        .get("access-control-expose-headers")
        .expect("exposed headers")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("grpc-status"), "{exposed}");
}

#[tokio::test]
async fn browsers_from_other_origins_are_not_let_in_by_default() {
    let server = Server::fresh();
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = hyper::Request::builder()
        .method("OPTIONS")
        .uri(format!(
            "http://{}/rectify.v1.ComplaintService/SubmitComplaint",
            server.addr
        ))
        .header("origin", PORTAL_ORIGIN)
        .header("access-control-request-method", "POST")
        .body(Empty::new())
        .expect("a request");
    let answer = http.request(request).await.expect("an answer");
    assert_eq!(answer.headers().get("access-control-allow-origin"), None);
}

#[test]
fn a_public_listener_without_principals_refuses_to_start() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("RECTIFY_CONFIG")
        .env_remove("RECTIFY_TRUST_IDENTITY_HEADERS")
        .stdin(Stdio::null())
        .output()
        .expect("run rectify serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without principals"), "{stderr}");
    assert!(stderr.contains("--trust-identity-headers"), "{stderr}");
    assert!(
        !dir.path().join("db").exists(),
        "nothing is opened before the refusal"
    );
}
