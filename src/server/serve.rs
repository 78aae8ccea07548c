//! `rectify serve`: binds the port, serves the gRPC services with health
//! and reflection on it until a shutdown signal, then drains and flushes.
//!
//! Shutdown is graceful: on SIGTERM or SIGINT the listener stops accepting,
//! in-flight calls finish, the store flushes and the process exits 0.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tonic::codegen::http;
use tonic::{
    service::{Routes, RoutesBuilder},
    transport::Server,
};
use tower::{
    layer::util::{Identity, Stack},
    util::Either,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    pb,
    server::{
        authn,
        config::ServerConfig,
        metrics, rate_limit,
        services::{
            Admin, CatalogApi, Complaints, Events, Ledgers, Queries, Registry, Transparency,
        },
        state::{AppState, open_state},
        watcher,
    },
    wire::{HEADER_PRINCIPAL, HEADER_ROLE, HEADER_UNIT},
};

/// Largest request message the server decodes (1 MiB). Complaint texts are
/// limited far below this; the cap keeps a hostile client from making the
/// server buffer large messages.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Most concurrent requests per connection.
pub const MAX_CONCURRENT_REQUESTS_PER_CONNECTION: usize = 512;
/// Longest a unary request may run before it is cancelled.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// After a shutdown signal, how long in-flight calls and open connections
/// get to finish before the server stops waiting for them. Clients that keep
/// idle connections open (or subscriptions) must not hold shutdown forever.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then flushes the store.
///
/// Prints `rectify listening on <addr>` to stdout once the port is bound, so
/// scripts and tests started with port 0 learn the address.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(config, None, shutdown).await
}

/// Like [`serve`], and sends the bound address to `bound` instead of only
/// printing it (for in-process servers such as `rectify bench --spawn`).
pub async fn serve_with(
    config: ServerConfig,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = open_state(&config).await?;
    let listener = bind(&config, bound).await?;
    start_metrics(&config, &state).await?;
    start_watcher(&config, &state);
    let principals = authn::Principals::new(config.principals.clone())
        .context("checking the configured principals")?;
    // Tells long-lived HTTP streams (the dashboard's live feed) to end, so
    // an open page does not hold shutdown for the grace period.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let routes = routes(&state, &principals, stop).await?;
    let builder = transport(&config, principals)?;
    let shutdown = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    serve_until(builder, routes, listener, shutdown).await?;
    drain(&state).await
}

/// Binds the gRPC port and announces the address: to `bound` when given,
/// otherwise as `rectify listening on <addr>` on stdout.
async fn bind(
    config: &ServerConfig,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = %config.store_location(), durability = ?config.durability, "listening");
    match bound {
        Some(bound) => {
            let _ = bound.send(addr);
        }
        None => println!("rectify listening on {addr}"),
    }
    Ok(listener)
}

/// Serves Prometheus metrics on `metrics_listen`, when configured, as a
/// background task.
async fn start_metrics(config: &ServerConfig, state: &Arc<AppState>) -> anyhow::Result<()> {
    let Some(metrics_addr) = config.metrics_listen else {
        return Ok(());
    };
    let listener = TcpListener::bind(metrics_addr)
        .await
        .with_context(|| format!("binding the metrics endpoint {metrics_addr}"))?;
    let metrics_addr = listener.local_addr()?;
    match metrics::install() {
        Some(handle) => {
            state.spawn_background(metrics::serve(listener, handle, state.clone()));
            tracing::info!(addr = %metrics_addr, "metrics endpoint");
            println!("rectify metrics on {metrics_addr}");
        }
        None => tracing::warn!("another server in this process reports metrics"),
    }
    Ok(())
}

/// Starts the periodic deadline watcher unless its interval is 0.
fn start_watcher(config: &ServerConfig, state: &Arc<AppState>) {
    if config.deadline_scan_interval_s > 0 {
        state.spawn_background(watcher::spawn(
            state.clone(),
            Duration::from_secs(config.deadline_scan_interval_s),
        ));
    }
}

/// Adds each gRPC service, limited to [`MAX_REQUEST_BYTES`] per message,
/// and reports it serving through `grpc.health.v1`.
macro_rules! add_services {
    ($routes:ident, $health:ident, $state:ident; $($module:ident :: $server:ident < $service:ident >),+ $(,)?) => {$(
        $health.set_serving::<pb::$module::$server<$service>>().await;
        $routes.add_service(grpc_web(
            pb::$module::$server::new($service::new($state.clone()))
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        ));
    )+};
}

/// Reports `TransparencyService` `NOT_SERVING` through `grpc.health.v1`
/// while the tree's follower fails (its proofs and checkpoints stop
/// growing), and `SERVING` again once it recovers.
async fn report_tree_health(
    health: tonic_health::server::HealthReporter,
    mut failure: tokio::sync::watch::Receiver<Option<String>>,
) {
    type Service = pb::transparency_service_server::TransparencyServiceServer<Transparency>;
    loop {
        let failing = failure.borrow_and_update().is_some();
        if failing {
            health.set_not_serving::<Service>().await;
        } else {
            health.set_serving::<Service>().await;
        }
        if failure.changed().await.is_err() {
            return;
        }
    }
}

/// `service` answering gRPC-Web as well as gRPC. Per service, not for the
/// whole port: the translation answers every other HTTP/1.1 request with
/// 400, and Open311 shares the port.
fn grpc_web<S>(service: S) -> tonic_web::GrpcWebService<S> {
    tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), service)
}

/// Every service on the port: rectify's own, health and reflection, and
/// the HTTP routers (Open311, dashboard).
async fn routes(
    state: &Arc<AppState>,
    principals: &authn::Principals,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Routes> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut routes = RoutesBuilder::default();
    add_services!(routes, health, state;
        complaint_service_server::ComplaintServiceServer<Complaints>,
        event_service_server::EventServiceServer<Events>,
        catalog_service_server::CatalogServiceServer<CatalogApi>,
        query_service_server::QueryServiceServer<Queries>,
        admin_service_server::AdminServiceServer<Admin>,
        ledger_service_server::LedgerServiceServer<Ledgers>,
        registry_service_server::RegistryServiceServer<Registry>,
        transparency_service_server::TransparencyServiceServer<Transparency>,
    );
    routes.add_service(grpc_web(health_service));
    state.spawn_background(tokio::spawn(report_tree_health(
        health,
        state.transparency.watch_failure(),
    )));
    // Reflection in both versions: grpcurl before 1.9, grpcui and many IDE
    // clients still ask for v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    routes.add_service(grpc_web(
        reflection()
            .build_v1()
            .context("building the reflection service")?,
    ));
    routes.add_service(grpc_web(
        reflection()
            .build_v1alpha()
            .context("building the v1alpha reflection service")?,
    ));
    // The HTTP routers sign callers in themselves (api_key, session), so
    // they take the principals; gRPC-Web is not applied to them.
    let http = crate::server::open311::router(state.clone(), principals.clone()).merge(
        crate::server::dashboard::router(state.clone(), principals.clone(), stop),
    );
    Ok(Routes::from(routes.routes().into_axum_router().merge(http)))
}

/// The transport: TLS when configured, the per-connection limits, and the
/// tower layers every call passes, outermost first: CORS for the
/// configured gRPC-Web origins, metrics, bearer tokens, rate limit.
fn transport(
    config: &ServerConfig,
    principals: authn::Principals,
) -> anyhow::Result<Server<Stack<Layers, Identity>>> {
    if principals.enabled() {
        tracing::info!("bearer tokens required");
    } else {
        tracing::warn!("no principals configured: identity headers are trusted as sent");
    }
    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        let read = |path: &Path| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let mut tls_config = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?),
        );
        if let Some(ca) = &tls.client_ca {
            tls_config =
                tls_config.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        builder = builder.tls_config(tls_config).context("configuring TLS")?;
        tracing::info!(mutual = tls.client_ca.is_some(), "serving TLS");
    }
    // HTTP/1.1 too: browsers' gRPC-Web and the Open311 endpoints share the
    // port with gRPC.
    Ok(builder
        .accept_http1(true)
        .concurrency_limit_per_connection(MAX_CONCURRENT_REQUESTS_PER_CONNECTION)
        .timeout(REQUEST_TIMEOUT)
        .layer(
            tower::ServiceBuilder::new()
                .option_layer(cors(&config.grpc_web_origins)?)
                .layer(metrics::RpcMetricsLayer)
                .layer(authn::AuthLayer::new(principals))
                .layer(rate_limit::RateLimitLayer::new(config.rate_limit_per_s))
                .into_inner(),
        ))
}

/// The CORS policy letting pages of `origins` call over gRPC-Web; `None`
/// (no cross-origin calls) when no origin is configured.
fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| http::HeaderValue::from_str(o).with_context(|| format!("origin {o:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    tracing::info!(origins = origins.len(), "gRPC-Web open to browser origins");
    let header = http::HeaderName::from_static;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([http::Method::POST, http::Method::OPTIONS])
            .allow_headers([
                http::header::CONTENT_TYPE,
                http::header::AUTHORIZATION,
                header("x-grpc-web"),
                header("x-user-agent"),
                header("grpc-timeout"),
                header(HEADER_ROLE),
                header(HEADER_UNIT),
                header(HEADER_PRINCIPAL),
            ])
            .expose_headers([
                header("grpc-status"),
                header("grpc-message"),
                header("grpc-status-details-bin"),
            ])
            .max_age(CORS_MAX_AGE),
    ))
}

/// How long a browser may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(3_600);

/// The tower layers of [`transport`], innermost last.
type Layers = Stack<
    rate_limit::RateLimitLayer,
    Stack<
        authn::AuthLayer,
        Stack<metrics::RpcMetricsLayer, Stack<Either<CorsLayer, Identity>, Identity>>,
    >,
>;

/// Serves `routes` on `listener` until `shutdown` resolves, then lets
/// in-flight calls finish for at most [`SHUTDOWN_GRACE`].
async fn serve_until(
    mut builder: Server<Stack<Layers, Identity>>,
    routes: Routes,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Replies are small frames: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs add ~40 ms to a request that follows an unacknowledged one.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let serving = builder
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            signalled.notify_one();
        });
    tokio::select! {
        served = serving => served.context("serving gRPC")?,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; stopping anyway"),
    }
    Ok(())
}

/// Stops the background tasks and flushes the projections and the store.
async fn drain(state: &Arc<AppState>) -> anyhow::Result<()> {
    state.abort_background();
    tracing::info!("shutting down: flushing the projections and the event store");
    let projections = state.projections.clone();
    tokio::task::spawn_blocking(move || projections.flush())
        .await
        .context("joining the projection flush")?
        .context("flushing the projections")?;
    state
        .store
        .clone()
        .close()
        .await
        .context("flushing the event store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
///
/// The handlers are installed when this is called, not when the future is
/// first polled: the server announces its address before it polls the
/// future, and a SIGTERM in between must stop it gracefully rather than
/// kill it with the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        let received = |listener: std::io::Result<Signal>, name: &'static str| async move {
            match listener {
                Ok(mut listener) => {
                    listener.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, signal = name, "cannot listen for the signal");
                    std::future::pending::<()>().await;
                }
            }
        };
        async move {
            tokio::select! {
                () = received(interrupt, "SIGINT") => tracing::info!("received SIGINT"),
                () = received(terminate, "SIGTERM") => tracing::info!("received SIGTERM"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("received Ctrl-C");
    }
}
