//! Operating the server: online backup under concurrent writes, restore,
//! store figures, health and reflection, metrics, traces, authentication by
//! token and by client certificate, rate limits.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use futures::StreamExt as _;
use rectify::pb;
use tonic::Code;

use crate::support::{Server, admin_offline, as_role, backup, get, submit, submit_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_under_writes_restores_everything_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backup_dir = dir.path().join("backup");
    let server = Server::start(&data);

    // Writers submit complaints until told to stop, keeping what was
    // acknowledged.
    let acked: Arc<Mutex<Vec<pb::CommandResult>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = server.complaints().await;
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                n += 1;
                let result = submit(&mut c, &format!("备份期间的诉求 {w}-{n}")).await;
                acked.lock().unwrap().push(result);
            }
        }));
    }
    // Let some writes land, then back up while the writers go on.
    while acked.lock().unwrap().len() < 40 {
        tokio::task::yield_now().await;
    }
    let before: Vec<pb::CommandResult> = acked.lock().unwrap().clone();
    let backed_up = backup(&server, &backup_dir, "admin").await.expect("backup");
    let after_backup = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let last_before = before.iter().map(|r| r.position).max().unwrap();
    assert!(
        backed_up.events >= last_before,
        "{} < {last_before}",
        backed_up.events
    );
    assert_eq!(backed_up.last_hash.len(), 64);
    assert!(
        acked.lock().unwrap().len() >= after_backup,
        "writers kept writing"
    );

    // Only administrators back up; an existing directory is refused.
    let denied = backup(&server, &dir.path().join("other"), "dispatcher")
        .await
        .expect_err("dispatchers may not back up");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let occupied = backup(&server, &backup_dir, "admin")
        .await
        .expect_err("the backup directory is taken");
    assert_eq!(occupied.code(), Code::InvalidArgument);
    let mut admin = server.admin().await;
    let stats = admin
        .get_store_stats(as_role(pb::GetStoreStatsRequest {}, "admin"))
        .await
        .expect("stats")
        .into_inner();
    assert!(stats.events >= backed_up.events);
    assert!(stats.streams >= before.len() as u64);
    assert!(stats.size_on_disk_bytes > 0);
    drop(admin);
    assert!(server.stop().success());

    // Restore into a new data directory: the copy verifies.
    let restored = dir.path().join("restored");
    let stdout = admin_offline("restore", &[&backup_dir, &restored]);
    assert!(
        stdout.contains(&format!("hash chain verified: {} events", backed_up.events)),
        "{stdout}"
    );

    // A server on the restored copy has every complaint acknowledged before
    // the backup started.
    let server = Server::start(&restored);
    let mut c = server.complaints().await;
    for result in &before {
        let view = get(&mut c, &result.id).await;
        assert_eq!(view.complaint_id, result.id);
    }
}

/// The services a reflection client of `$version` (`v1`, `v1alpha`) lists.
macro_rules! list_services {
    ($version:ident, $channel:expr) => {{
        use tonic_reflection::pb::$version::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = ServerReflectionClient::new($channel)
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .expect("a reflection stream")
            .into_inner();
        let response = responses.next().await.expect("a reply").expect("a reply");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection reply {response:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        names
    }};
}

#[tokio::test]
async fn health_and_reflection_answer_on_the_same_port() {
    let server = Server::fresh();
    let channel = server.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "rectify.v1.ComplaintService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    // Reflection answers in both versions generic tools ask for.
    // Each lists itself as the reflection service, and the same others.
    let v1 = list_services!(v1, channel.clone());
    let v1alpha = list_services!(v1alpha, channel);
    assert!(
        v1.iter()
            .any(|n| n == "grpc.reflection.v1.ServerReflection"),
        "{v1:?}"
    );
    assert!(
        v1alpha
            .iter()
            .any(|n| n == "grpc.reflection.v1alpha.ServerReflection"),
        "{v1alpha:?}"
    );
    let others = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|n| !n.starts_with("grpc.reflection."))
            .cloned()
            .collect()
    };
    assert_eq!(others(&v1), others(&v1alpha));
    for expected in [
        "rectify.v1.ComplaintService",
        "rectify.v1.EventService",
        "rectify.v1.CatalogService",
        "rectify.v1.QueryService",
        "rectify.v1.LedgerService",
        "rectify.v1.AdminService",
        "grpc.health.v1.Health",
    ] {
        assert!(v1.iter().any(|n| n == expected), "{expected} in {v1:?}");
    }
    let mut catalog = server.catalog().await;
    let areas = catalog
        .list_areas(as_role(pb::ListAreasRequest {}, "portal"))
        .await
        .unwrap()
        .into_inner()
        .areas;
    assert_eq!(areas.len(), 28);
}

/// `GET /metrics` over plain HTTP/1.1.
fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: rectify\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_rpcs_appends_and_open_complaints() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &["--metrics-listen".to_owned(), "127.0.0.1:0".to_owned()],
    );
    let addr = server.metrics_addr.expect("a metrics endpoint");
    let mut c = server.complaints().await;
    let first = submit(&mut c, "计量测试").await;
    submit(&mut c, "计量测试二").await;
    let missing = c
        .get_complaint(as_role(
            pb::GetComplaintRequest {
                complaint_id: "no-such-complaint".into(),
                min_position: 0,
            },
            "dispatcher",
        ))
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    // Read-your-writes on the ledger, so the projection has caught up.
    let mut q = server.queries().await;
    q.list_ledger(as_role(
        pb::ListLedgerRequest {
            min_position: first.position + 1,
            ..Default::default()
        },
        "dispatcher",
    ))
    .await
    .expect("ledger");

    let text = scrape(addr);
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value(
            r#"rectify_rpc_requests_total{method="/rectify.v1.ComplaintService/SubmitComplaint",code="0"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            r#"rectify_rpc_requests_total{method="/rectify.v1.ComplaintService/GetComplaint",code="5"}"#
        ),
        1.0
    );
    assert!(value("rectify_rpc_duration_seconds_count") >= 1.0);
    assert_eq!(value("rectify_eventlog_events_total"), 2.0);
    assert!(value("rectify_eventlog_flushes_total") >= 1.0);
    assert!(value("rectify_eventlog_flush_seconds_count") >= 1.0);
    assert_eq!(
        value(r#"rectify_projection_lag_events{projection="ledger"}"#),
        0.0
    );
    assert_eq!(
        value(r#"rectify_open_complaints{status="received",warning="none"}"#),
        2.0
    );
    assert!(!text.contains("13812345678") && !text.contains("王女士"));
}

mod otlp {
    //! A minimal OTLP/gRPC trace receiver for the export test.
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    /// A received span: name and string attributes.
    #[derive(Debug, Clone)]
    pub struct Span {
        pub name: String,
        pub attributes: Vec<(String, String)>,
    }

    #[derive(Debug, Clone, Default)]
    pub struct Receiver(pub Arc<Mutex<Vec<Span>>>);

    #[tonic::async_trait]
    impl TraceService for Receiver {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.0.lock().unwrap();
            for resource in request.into_inner().resource_spans {
                for scope in resource.scope_spans {
                    for span in scope.spans {
                        let attributes = span
                            .attributes
                            .iter()
                            .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                                Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
                                Value::IntValue(i) => Some((kv.key.clone(), i.to_string())),
                                _ => None,
                            })
                            .collect();
                        spans.push(Span {
                            name: span.name,
                            attributes,
                        });
                    }
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Starts the receiver on a free port; returns its address.
    pub async fn start(receiver: Receiver) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(receiver))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp() {
    let receiver = otlp::Receiver::default();
    let collector = otlp::start(receiver.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &["--otlp-endpoint".to_owned(), format!("http://{collector}")],
    );
    let mut c = server.complaints().await;
    let submitted = submit(&mut c, "链路追踪测试").await;
    drop(c);
    // SIGTERM flushes the exporter before the process exits.
    assert!(server.stop().success());

    let spans = receiver.0.lock().unwrap().clone();
    let rpc = spans
        .iter()
        .find(|s| {
            s.name == "rpc"
                && s.attributes.iter().any(|(k, v)| {
                    k == "rpc.method" && v == "/rectify.v1.ComplaintService/SubmitComplaint"
                })
        })
        .unwrap_or_else(|| panic!("no exported rpc span for the submit in {spans:#?}"));
    assert!(
        rpc.attributes
            .iter()
            .any(|(k, v)| k == "complaint_id" && *v == submitted.id),
        "{rpc:?}"
    );
    assert!(
        spans.iter().any(|s| s.name == "eventlog.append"),
        "{spans:#?}"
    );
    for span in &spans {
        for (_, value) in &span.attributes {
            assert!(!value.contains("13812345678") && !value.contains("王女士"));
        }
    }
}

/// A request carrying `authorization: Bearer <token>` (and, to try an
/// escalation, a role header the server must ignore).
fn with_token<T>(message: T, token: &str, claimed_role: Option<&'static str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(role) = claimed_role {
        request
            .metadata_mut()
            .insert(rectify::wire::HEADER_ROLE, role.parse().unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_principals_configured_every_call_needs_a_known_token() {
    let (hotline_token, hotline_hash) = rectify::server::authn::new_token();
    let (unit_token, unit_hash) = rectify::server::authn::new_token();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rectify.toml");
    std::fs::write(
        &config,
        format!(
            "[[principals]]\nname = \"hotline-backend\"\nrole = \"hotline\"\ntoken_blake3 = \"{hotline_hash}\"\n\n\
             [[principals]]\nname = \"clerk@power-bureau\"\nrole = \"unit\"\nunit = \"power-bureau\"\ntoken_blake3 = \"{unit_hash}\"\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config".to_owned(), config.display().to_string()],
    );
    let mut c = server.complaints().await;

    // No token, a malformed one, an unknown one: UNAUTHENTICATED.
    for request in [
        tonic::Request::new(submit_request("无凭据")),
        {
            let mut r = tonic::Request::new(submit_request("格式错误"));
            r.metadata_mut()
                .insert("authorization", "Basic abc".parse().unwrap());
            r
        },
        with_token(submit_request("未知令牌"), "rct_not-a-real-token", None),
        // Identity headers alone no longer count.
        as_role(submit_request("只有角色头"), "admin"),
    ] {
        let status = c.submit_complaint(request).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }

    // The hotline's token submits; the event's actor is its principal.
    let submitted = c
        .submit_complaint(with_token(submit_request("有令牌"), &hotline_token, None))
        .await
        .expect("submit with a token")
        .into_inner()
        .result
        .unwrap();
    let history = c
        .get_history(with_token(
            pb::GetHistoryRequest {
                complaint_id: submitted.id.clone(),
            },
            &hotline_token,
            None,
        ))
        .await
        .expect("history")
        .into_inner()
        .events;
    assert_eq!(history[0].actor, "hotline-backend");

    // A unit's token stays a unit's, whatever role header rides along.
    let mut admin = server.admin().await;
    let denied = admin
        .scan_deadlines(with_token(
            pb::ScanDeadlinesRequest {},
            &unit_token,
            Some("admin"),
        ))
        .await
        .expect_err("a unit may not run the watcher");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Health stays open for probes.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health without a token")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_over_its_rate_limit_is_refused_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    // One call a second, bursts of two (the flag beats the harness's variable).
    let server = Server::start_with(
        dir.path(),
        &["--rate-limit-per-s".to_owned(), "1".to_owned()],
    );
    let mut c = server.complaints().await;
    let lookup = |principal: &'static str| {
        let mut request = tonic::Request::new(pb::GetComplaintRequest {
            complaint_id: "RC-none".into(),
            min_position: 0,
        });
        request
            .metadata_mut()
            .insert(rectify::wire::HEADER_ROLE, "dispatcher".parse().unwrap());
        request
            .metadata_mut()
            .insert(rectify::wire::HEADER_PRINCIPAL, principal.parse().unwrap());
        request
    };
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            c.get_complaint(lookup("busy-clerk"))
                .await
                .unwrap_err()
                .code(),
        );
    }
    assert_eq!(
        &codes[..2],
        &[Code::NotFound, Code::NotFound],
        "the burst passes"
    );
    assert!(codes[2..].contains(&Code::ResourceExhausted), "{codes:?}");
    // Another principal has its own budget.
    let other = c.get_complaint(lookup("calm-clerk")).await.unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate,
/// as PEM files in `dir`; returns the client certificate's DER bytes.
fn write_certificates(dir: &std::path::Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let server = server_params.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let client_params = CertificateParams::new(vec!["hotline-backend".to_owned()]).unwrap();
    let client = client_params.signed_by(&client_key, &issuer).unwrap();

    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client.pem()),
        ("client.key", client_key.serialize_pem()),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    client.der().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_maps_the_client_certificate_to_its_principal() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

    let dir = tempfile::tempdir().unwrap();
    let client_der = write_certificates(dir.path());
    let config = dir.path().join("rectify.toml");
    std::fs::write(
        &config,
        format!(
            "tls_cert = \"{0}/server.pem\"\ntls_key = \"{0}/server.key\"\ntls_client_ca = \"{0}/ca.pem\"\n\n\
             [[principals]]\nname = \"hotline-backend\"\nrole = \"hotline\"\nclient_cert_blake3 = \"{1}\"\n",
            dir.path().display(),
            blake3::hash(&client_der).to_hex()
        ),
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &["--config".to_owned(), config.display().to_string()],
    );
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let tls = |with_identity: bool| {
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .domain_name("localhost");
        if with_identity {
            config.identity(Identity::from_pem(read("client.pem"), read("client.key")))
        } else {
            config
        }
    };
    let endpoint = || Channel::from_shared(format!("https://{}", server.addr)).unwrap();

    // With the client certificate: the call runs as its principal.
    let channel = endpoint()
        .tls_config(tls(true))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = pb::complaint_service_client::ComplaintServiceClient::new(channel);
    let submitted = c
        .submit_complaint(tonic::Request::new(submit_request("双向认证")))
        .await
        .expect("submit over mutual TLS")
        .into_inner()
        .result
        .unwrap();
    let history = c
        .get_history(tonic::Request::new(pb::GetHistoryRequest {
            complaint_id: submitted.id,
        }))
        .await
        .expect("history")
        .into_inner()
        .events;
    assert_eq!(history[0].actor, "hotline-backend");

    // Without a client certificate the connection or the call fails.
    let refused = match endpoint().tls_config(tls(false)).unwrap().connect().await {
        Err(_) => true,
        Ok(channel) => pb::complaint_service_client::ComplaintServiceClient::new(channel)
            .submit_complaint(tonic::Request::new(submit_request("无证书")))
            .await
            .is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");
    // Plain text is not spoken.
    let plain = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let result = pb::complaint_service_client::ComplaintServiceClient::new(channel)
            .submit_complaint(as_role(submit_request("明文"), "hotline"))
            .await;
        assert!(result.is_err(), "plain text must not reach the services");
    }
}
