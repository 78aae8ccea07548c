//! What every service shares: the store, the catalog, the clock, the
//! projections and the vault, opened once at start-up ([`open_state`]); and
//! the one way to open a data directory's event store ([`open_store`]).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use rectify_catalog::Catalog;
use rectify_eventlog::{Durability, SledStore, StoreConfig, StoreError};
use rectify_projections::{Ledger, ProjectionDb};

use crate::server::{
    clock::{Clock, FileClock, SystemClock},
    config::{DurabilityMode, ServerConfig},
    vault::Vault,
};

/// The projections' directory inside the data directory.
pub const PROJECTIONS_DIR: &str = "projections";
/// The master key file inside the data directory when none is configured.
pub const DEFAULT_MASTER_KEY_FILE: &str = "master.key";

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
    pub vault: Vault,
    /// The master key file, when it is the default one inside the data
    /// directory (then backups carry it).
    pub master_key_in_data_dir: Option<std::path::PathBuf>,
    /// Background tasks (projection runner, deadline watcher), aborted at
    /// shutdown.
    pub background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl AppState {
    /// Keeps `task` until shutdown, when [`AppState::abort_background`]
    /// stops it.
    pub fn spawn_background(&self, task: tokio::task::JoinHandle<()>) {
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Aborts every background task (projection runner, watcher, metrics).
    pub fn abort_background(&self) {
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
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
    let store = match open_store(store_config).await {
        Err(StoreError::Format { found, supported }) if found < supported => anyhow::bail!(
            "the event log in {dir} is in on-disk format {found}; this version reads format \
             {supported}. Stop every server on it, back it up, and run \
             `rectify admin upgrade-store {dir}`",
            dir = config.data_dir.display()
        ),
        opened => opened
            .with_context(|| format!("opening the event store in {}", config.data_dir.display()))?,
    };
    let projections = open_projections(&config.data_dir)
        .await
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
fn open_vault(config: &ServerConfig) -> anyhow::Result<(Vault, Option<std::path::PathBuf>)> {
    let (path, default) = match &config.master_key_file {
        Some(path) => (path.clone(), false),
        None => {
            let path = config.data_dir.join(DEFAULT_MASTER_KEY_FILE);
            if crate::server::vault::create_key_file(&path)? {
                tracing::info!(path = %path.display(), "created a new master key");
            }
            tracing::warn!(
                path = %path.display(),
                "the master key is kept inside the data directory; set master_key_file to keep it apart"
            );
            (path, true)
        }
    };
    let vault = Vault::from_files(&path, &config.retired_master_key_files)?;
    tracing::info!(master_key = %vault.current_id(), retired = config.retired_master_key_files.len(), "master keys loaded");
    Ok((vault, default.then_some(path)))
}

/// Opens the event store described by `config`, off the async runtime
/// (opening reads the log's tail and may recover it). The one place a
/// store is opened: the server, backups, restores and offline commands all
/// come here.
pub async fn open_store(config: StoreConfig) -> Result<SledStore, StoreError> {
    tokio::task::spawn_blocking(move || SledStore::open(config))
        .await
        .map_err(|join| StoreError::Io(std::io::Error::other(join)))?
}

/// Flushes and closes `store`, off the async runtime.
pub async fn close_store(store: SledStore) -> Result<(), StoreError> {
    tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .map_err(|join| StoreError::Io(std::io::Error::other(join)))?
}

/// Opens the projections' store inside `data_dir`, off the async runtime.
pub async fn open_projections(data_dir: &Path) -> anyhow::Result<ProjectionDb> {
    let dir: PathBuf = data_dir.join(PROJECTIONS_DIR);
    Ok(tokio::task::spawn_blocking(move || ProjectionDb::open(&dir)).await??)
}
