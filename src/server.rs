//! `rectify serve`: opens the store, loads the catalog, and serves the gRPC
//! services with health and reflection on one port until a shutdown signal.
//!
//! Shutdown is graceful: on SIGTERM or SIGINT the listener stops accepting,
//! in-flight calls finish, the store flushes and the process exits 0.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;
use rectify_catalog::Catalog;
use rectify_eventlog::{Durability, EventStore as _, SledStore, StoreConfig};
use rectify_projections::{Ledger, ProjectionDb};
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::{
    clock::{Clock, FileClock, SystemClock},
    config::{DurabilityMode, ServerConfig},
    pb,
    services::{Admin, CatalogApi, Complaints, Events, Ledgers, Queries},
};

/// The projections' directory inside the data directory.
pub const PROJECTIONS_DIR: &str = "projections";
/// The master key file inside the data directory when none is configured.
pub const DEFAULT_MASTER_KEY_FILE: &str = "master.key";

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

/// What every service shares.
#[derive(Debug)]
pub struct AppState {
    /// The event log: the only ground state.
    pub store: SledStore,
    /// Units, areas, routing, calendar and deadline policy.
    pub catalog: Catalog,
    /// The source of time for commands.
    pub clock: Arc<dyn Clock>,
    /// The issue ledger projection (台账), kept current from the log.
    pub ledger: Ledger,
    /// Where the projections keep their rows and checkpoints.
    pub projections: ProjectionDb,
    /// Master keys sealing submitters' personal data.
    pub vault: crate::vault::Vault,
    /// The master key file, when it is the default one inside the data
    /// directory (then backups carry it).
    pub master_key_in_data_dir: Option<std::path::PathBuf>,
    /// Background tasks (projection runner, deadline watcher), aborted at
    /// shutdown.
    pub background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Opens the store and loads the catalog described by `config`.
pub async fn open_state(config: &ServerConfig) -> anyhow::Result<Arc<AppState>> {
    let catalog = match &config.catalog_dir {
        Some(dir) => Catalog::from_dir(dir)
            .with_context(|| format!("loading the catalog from {}", dir.display()))?,
        None => Catalog::embedded().context("loading the embedded catalog")?,
    };
    let store_config = StoreConfig {
        path: config.data_dir.clone(),
        durability: match config.durability {
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::Interval => Durability::Interval {
                every_ms: config.flush_interval_ms,
            },
        },
        cache_capacity_bytes: config.cache_capacity_bytes,
        ..StoreConfig::default()
    };
    let store = tokio::task::spawn_blocking(move || SledStore::open(store_config))
        .await
        .context("opening the event store")?
        .with_context(|| format!("opening the event store in {}", config.data_dir.display()))?;
    let projections_dir = config.data_dir.join(PROJECTIONS_DIR);
    let projections = tokio::task::spawn_blocking(move || ProjectionDb::open(&projections_dir))
        .await
        .context("opening the projection store")?
        .context("opening the projection store")?;
    let (ledger, runner) = rectify_projections::runner::start(store.clone(), projections.clone())
        .await
        .context("catching the ledger up with the log")?;
    let (vault, master_key_in_data_dir) = open_vault(config)?;
    // A wrong master key file would make every submitter unreadable: check
    // one complaint's key before serving.
    let first = store.secrets().next().transpose()?;
    if let Some((stream, secret)) = first
        && let Some(id) = vault.foreign_key_id(&secret)
    {
        anyhow::bail!(
            "the data key of {stream} is wrapped by master key {id}, which is not configured \
             (the current one is {}): point master_key_file at the right key, or list the old \
             one in retired_master_key_files",
            vault.current_id()
        );
    }
    let clock: Arc<dyn Clock> = match &config.clock_file {
        Some(path) => {
            tracing::warn!(path = %path.display(), "the clock reads a file, not the system time");
            Arc::new(FileClock::new(path.clone()))
        }
        None => Arc::new(SystemClock),
    };
    Ok(Arc::new(AppState {
        store,
        catalog,
        clock,
        ledger,
        projections,
        vault,
        master_key_in_data_dir,
        background: std::sync::Mutex::new(vec![runner]),
    }))
}

/// Loads the master keys. Without a configured key file, the key lives in
/// `<data_dir>/master.key`, created on first start: erasure still works, but
/// whoever copies the data directory gets the key too, so production sets
/// `master_key_file` on a separate secret mount. A configured file that is
/// missing is an error, never replaced by a new key (that would make every
/// sealed submitter unreadable).
fn open_vault(
    config: &ServerConfig,
) -> anyhow::Result<(crate::vault::Vault, Option<std::path::PathBuf>)> {
    let (path, default) = match &config.master_key_file {
        Some(path) => (path.clone(), false),
        None => {
            let path = config.data_dir.join(DEFAULT_MASTER_KEY_FILE);
            if crate::vault::create_key_file(&path)? {
                tracing::info!(path = %path.display(), "created a new master key");
            }
            tracing::warn!(
                path = %path.display(),
                "the master key is kept inside the data directory; set master_key_file to keep it apart"
            );
            (path, true)
        }
    };
    let vault = crate::vault::Vault::from_files(&path, &config.retired_master_key_files)?;
    tracing::info!(master_key = %vault.current_id(), retired = config.retired_master_key_files.len(), "master keys loaded");
    Ok((vault, default.then_some(path)))
}

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
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), durability = ?config.durability, "listening");
    match bound {
        Some(bound) => {
            let _ = bound.send(addr);
        }
        None => println!("rectify listening on {addr}"),
    }
    if let Some(metrics_addr) = config.metrics_listen {
        let listener = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("binding the metrics endpoint {metrics_addr}"))?;
        let metrics_addr = listener.local_addr()?;
        match crate::metrics::install() {
            Some(handle) => {
                let task = crate::metrics::serve(listener, handle, state.clone());
                state
                    .background
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(task);
                tracing::info!(addr = %metrics_addr, "metrics endpoint");
                println!("rectify metrics on {metrics_addr}");
            }
            None => tracing::warn!("another server in this process reports metrics"),
        }
    }

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pb::complaint_service_server::ComplaintServiceServer<Complaints>>()
        .await;
    health_reporter
        .set_serving::<pb::event_service_server::EventServiceServer<Events>>()
        .await;
    health_reporter
        .set_serving::<pb::catalog_service_server::CatalogServiceServer<CatalogApi>>()
        .await;
    health_reporter
        .set_serving::<pb::query_service_server::QueryServiceServer<Queries>>()
        .await;
    health_reporter
        .set_serving::<pb::admin_service_server::AdminServiceServer<Admin>>()
        .await;
    health_reporter
        .set_serving::<pb::ledger_service_server::LedgerServiceServer<Ledgers>>()
        .await;
    if config.deadline_scan_interval_s > 0 {
        let watcher = crate::watcher::spawn(
            state.clone(),
            Duration::from_secs(config.deadline_scan_interval_s),
        );
        state
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(watcher);
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;

    let complaints =
        pb::complaint_service_server::ComplaintServiceServer::new(Complaints::new(state.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES);
    let events = pb::event_service_server::EventServiceServer::new(Events::new(state.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let catalog =
        pb::catalog_service_server::CatalogServiceServer::new(CatalogApi::new(state.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES);
    let queries = pb::query_service_server::QueryServiceServer::new(Queries::new(state.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let admin = pb::admin_service_server::AdminServiceServer::new(Admin::new(state.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let ledgers = pb::ledger_service_server::LedgerServiceServer::new(Ledgers::new(state.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);

    // Replies are small frames: without TCP_NODELAY, Nagle's algorithm and
    // delayed ACKs add ~40 ms to a request that follows an unacknowledged one.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let principals = crate::authn::Principals::new(config.principals.clone())
        .context("checking the configured principals")?;
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
    let serving = builder
        .concurrency_limit_per_connection(MAX_CONCURRENT_REQUESTS_PER_CONNECTION)
        .timeout(REQUEST_TIMEOUT)
        .layer(
            tower::ServiceBuilder::new()
                .layer(crate::metrics::RpcMetricsLayer)
                .layer(crate::authn::AuthLayer::new(principals))
                .layer(crate::limits::RateLimitLayer::new(config.rate_limit_per_s))
                .into_inner(),
        )
        .add_service(health_service)
        .add_service(reflection)
        .add_service(complaints)
        .add_service(events)
        .add_service(catalog)
        .add_service(queries)
        .add_service(admin)
        .add_service(ledgers)
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

    for task in state
        .background
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain(..)
    {
        task.abort();
    }
    tracing::info!("shutting down: flushing the projections and the event store");
    let projections = state.projections.clone();
    tokio::task::spawn_blocking(move || projections.flush())
        .await
        .context("joining the projection flush")?
        .context("flushing the projections")?;
    let store_state = state.clone();
    tokio::task::spawn_blocking(move || store_state.store.shutdown())
        .await
        .context("joining the store shutdown")?
        .context("flushing the event store")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

/// Verifies the hash chain of a data directory that no server has open;
/// `progress(checked, head)` as it goes.
pub async fn verify_dir_with(
    data_dir: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<VerifyReport> {
    if !data_dir.exists() {
        anyhow::bail!("no data directory at {}", data_dir.display());
    }
    let config = StoreConfig {
        path: data_dir.to_path_buf(),
        ..StoreConfig::default()
    };
    let store = tokio::task::spawn_blocking(move || SledStore::open(config))
        .await?
        .with_context(|| format!("opening {}", data_dir.display()))?;
    let report = store
        .verify(&mut |p: rectify_eventlog::VerifyProgress| progress(p.checked, p.head))
        .await?;
    let converted = crate::convert::verify_report(&report);
    tokio::task::spawn_blocking(move || store.shutdown()).await??;
    Ok(converted)
}

/// [`verify_dir_with`] without progress reports.
pub async fn verify_dir(data_dir: &Path) -> anyhow::Result<VerifyReport> {
    verify_dir_with(data_dir, &mut |_, _| {}).await
}

/// The outcome of a hash-chain verification, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// True when the whole chain verified.
    pub ok: bool,
    /// Events checked.
    pub events_checked: u64,
    /// First broken position, 0 when ok.
    pub first_bad_position: u64,
    /// What is wrong there.
    pub reason: String,
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination is unusable (exists and is not empty, cannot be
    /// created).
    #[error("{0}")]
    Destination(String),
    /// Reading the log or writing the copy failed.
    #[error(transparent)]
    Store(#[from] rectify_eventlog::StoreError),
}

/// Copies `store`'s log, as it stands now, into a new data directory at
/// `destination` (which must not exist or be empty), flushes it to disk and
/// closes it. The copy is a complete data directory without projections:
/// restore by starting a server on it (or on a copy of it). With
/// `master_key` (the default key file kept inside the data directory) the
/// key goes with it, as `master.key`; a separately configured key is never
/// copied: it is restored from wherever the operator keeps it.
pub async fn backup_to(
    store: &SledStore,
    destination: &Path,
    master_key: Option<&Path>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<rectify_eventlog::CopyReport, BackupError> {
    if destination.exists()
        && std::fs::read_dir(destination)
            .map_err(|e| BackupError::Destination(format!("{}: {e}", destination.display())))?
            .next()
            .is_some()
    {
        return Err(BackupError::Destination(format!(
            "{} exists and is not empty",
            destination.display()
        )));
    }
    let upto = store.head_position().await?;
    let config = StoreConfig {
        path: destination.to_path_buf(),
        // The copy is made durable once, at the end.
        durability: Durability::Interval { every_ms: 1_000 },
        ..StoreConfig::default()
    };
    let copy = tokio::task::spawn_blocking(move || SledStore::open(config))
        .await
        .map_err(|e| BackupError::Destination(e.to_string()))??;
    let report = rectify_eventlog::copy_log(store, &copy, upto, progress).await;
    let closing = copy.clone();
    let closed = tokio::task::spawn_blocking(move || closing.shutdown())
        .await
        .map_err(|e| BackupError::Destination(e.to_string()))?;
    let report = report?;
    closed?;
    if let Some(key) = master_key {
        crate::vault::copy_key_file(key, &destination.join(DEFAULT_MASTER_KEY_FILE))
            .map_err(|e| BackupError::Destination(e.to_string()))?;
    }
    Ok(report)
}
