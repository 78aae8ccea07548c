//! What every service shares: the store, the catalog, the clock, the
//! projections and the vault, opened once at start-up ([`open_state`]); the
//! one way to open a data directory's event store ([`open_store`]); and
//! [`Store`], the event log on either backend, which the rest of the server
//! sees only through the [`EventStore`] trait.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context as _;
use rectify_catalog::Catalog;
use rectify_eventlog::{
    AppendOutcome, Direction, Durability, EventStore, ExpectedVersion, Filter, NewEvent,
    PostgresStore, RecordedEvent, SecretChange, SledStore, StoreConfig, StoreError, StoreStats,
    Subscription, Uuid, VerifyProgress, VerifyReport,
};
use rectify_projections::{Ledger, ProjectionDb, mechanisms::Mechanisms};

use crate::server::{
    clock::{Clock, FileClock, SystemClock},
    config::{DurabilityMode, ServerConfig, StoreLocation},
    transparency::Transparency,
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
    pub store: Store,
    /// Units, areas, routing, calendar and deadline policy.
    pub catalog: Catalog,
    /// The source of time for commands.
    pub clock: Arc<dyn Clock>,
    /// The issue ledger projection (台账), kept current from the log.
    pub ledger: Ledger,
    /// Where the projections keep their rows and checkpoints.
    pub projections: ProjectionDb,
    /// The registries (enterprises, liaison pairs, experience officers,
    /// stations) and what came through them, kept current from the log.
    pub mechanisms: Mechanisms,
    /// Master keys sealing submitters' personal data.
    pub vault: Vault,
    /// The Merkle tree over the log, its signing key and checkpoints.
    pub transparency: Arc<Transparency>,
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
    let location = config.store_location();
    if matches!(location, StoreLocation::Postgres(_)) && config.master_key_file.is_none() {
        anyhow::bail!(
            "a log in PostgreSQL outlives any one server's data directory, and every server on \
             it must unwrap the same data keys: set master_key_file to the shared master key"
        );
    }
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
    let store = match Store::open(&location, store_config).await {
        Err(StoreError::Format { found, supported })
            if found < supported && matches!(location, StoreLocation::Sled(_)) =>
        {
            anyhow::bail!(
                "the event log in {location} is in on-disk format {found}; this version reads \
                 format {supported}. Stop every server on it, back it up, and run \
                 `rectify admin upgrade-store {location}`"
            )
        }
        opened => opened.with_context(|| format!("opening the event store in {location}"))?,
    };
    tracing::info!(store = %location, "event store open");
    let projections = open_projections(&config.data_dir)
        .await
        .context("opening the projection store")?;
    let (ledger, runner) = rectify_projections::runner::start(store.clone(), projections.clone())
        .await
        .context("catching the ledger up with the log")?;
    let (mechanisms, mechanisms_runner) =
        rectify_projections::mechanisms::start(store.clone(), &projections)
            .await
            .context("folding the registries from the log")?;
    let (vault, master_key_in_data_dir) = open_vault(config)?;
    // A wrong master key file would make every submitter unreadable: check
    // one complaint's key before serving.
    let first = store.first_secret().await?;
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
    let keys = crate::server::transparency::load_keys(config)?;
    let (transparency, transparency_follower) =
        crate::server::transparency::start(store.clone(), &projections, keys, clock.clone())
            .await
            .context("starting the transparency tree")?;
    Ok(Arc::new(AppState {
        store,
        catalog,
        clock,
        ledger,
        projections,
        mechanisms,
        vault,
        transparency,
        master_key_in_data_dir,
        background: std::sync::Mutex::new(vec![runner, mechanisms_runner, transparency_follower]),
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

/// The event log on either backend. The trait's methods return
/// `impl Future`, so it is not object-safe; this enum delegates instead.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded store in a data directory (one server).
    Sled(SledStore),
    /// A PostgreSQL database (one or several servers).
    Postgres(PostgresStore),
}

/// Runs `$body` with `$s` bound to whichever backend `$store` holds.
macro_rules! on_backend {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sled($s) => $body,
            Store::Postgres($s) => $body,
        }
    };
}

/// Secrets read per query by [`Store::for_each_secret`].
const SECRETS_PAGE: usize = 10_000;

impl Store {
    /// Opens the log at `location` with `config`'s limits (a sled store
    /// in the directory, or the PostgreSQL database, whose schema is
    /// migrated if needed).
    pub async fn open(location: &StoreLocation, config: StoreConfig) -> Result<Store, StoreError> {
        match location {
            StoreLocation::Sled(dir) => Ok(Store::Sled(
                open_store(StoreConfig {
                    path: dir.clone(),
                    ..config
                })
                .await?,
            )),
            StoreLocation::Postgres(url) => {
                Ok(Store::Postgres(PostgresStore::open(url, config).await?))
            }
        }
    }

    /// Events, streams and bytes on disk. Blocking: call it off the async
    /// runtime (`spawn_blocking`).
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        match self {
            Store::Sled(s) => s.stats(),
            Store::Postgres(p) => tokio::runtime::Handle::current().block_on(p.stats()),
        }
    }

    /// One stream secret, if any: enough to check the master key.
    pub async fn first_secret(&self) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        match self {
            Store::Sled(s) => s.secrets().next().transpose(),
            Store::Postgres(p) => Ok(p.secrets_page(None, 1).await?.into_iter().next()),
        }
    }

    /// Calls `visit` with every stream secret, in pages; stops at the
    /// first error `visit` returns.
    pub async fn for_each_secret(
        &self,
        visit: &mut (dyn FnMut(String, Vec<u8>) -> anyhow::Result<()> + Send),
    ) -> anyhow::Result<()> {
        match self {
            Store::Sled(s) => {
                for entry in s.secrets() {
                    let (stream, secret) = entry?;
                    visit(stream, secret)?;
                }
            }
            Store::Postgres(p) => {
                let mut after: Option<String> = None;
                loop {
                    let page = p.secrets_page(after.as_deref(), SECRETS_PAGE).await?;
                    let full = page.len() == SECRETS_PAGE;
                    after = page.last().map(|(stream, _)| stream.clone());
                    for (stream, secret) in page {
                        visit(stream, secret)?;
                    }
                    if !full {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Replaces the secrets of streams that still have one; how many.
    pub async fn replace_secrets(&self, secrets: &[(String, Vec<u8>)]) -> Result<u64, StoreError> {
        match self {
            Store::Sled(s) => s.replace_secrets(secrets),
            Store::Postgres(p) => p.replace_secrets(secrets).await,
        }
    }

    /// Flushes and closes the store (PostgreSQL commits are durable when
    /// acknowledged: closing drops the connections).
    pub async fn close(self) -> Result<(), StoreError> {
        match self {
            Store::Sled(s) => close_store(s).await,
            Store::Postgres(p) => {
                drop(p);
                Ok(())
            }
        }
    }
}

impl EventStore for Store {
    async fn append_with_secret(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        secret: SecretChange,
    ) -> Result<AppendOutcome, StoreError> {
        on_backend!(self, s => s.append_with_secret(stream, expected, events, secret).await)
    }

    async fn stream_secret(&self, stream: &str) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, s => s.stream_secret(stream).await)
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
        direction: Direction,
        max_count: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_stream(stream, from_version, direction, max_count).await)
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        on_backend!(self, s => s.stream_version(stream).await)
    }

    async fn read_all(
        &self,
        from_position: u64,
        max_count: usize,
        filter: &Filter,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.read_all(from_position, max_count, filter).await)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.head_position().await)
    }

    async fn find_event(&self, id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        on_backend!(self, s => s.find_event(id).await)
    }

    fn subscribe(&self, from_position: u64, filter: Filter) -> Subscription {
        on_backend!(self, s => s.subscribe(from_position, filter))
    }

    async fn verify(
        &self,
        progress: &mut (dyn FnMut(VerifyProgress) + Send),
    ) -> Result<VerifyReport, StoreError> {
        on_backend!(self, s => s.verify(progress).await)
    }
}

/// Opens the projections' store inside `data_dir`, off the async runtime.
pub async fn open_projections(data_dir: &Path) -> anyhow::Result<ProjectionDb> {
    let dir: PathBuf = data_dir.join(PROJECTIONS_DIR);
    Ok(tokio::task::spawn_blocking(move || ProjectionDb::open(&dir)).await??)
}
