//! Maintenance of a data directory: online backup, and the offline
//! operations run on a stopped server's directory — restore, hash-chain
//! verification, projection rebuild, master-key rotation and the upgrade
//! of the event log's on-disk format.
//!
//! Every function reports progress through a callback and returns what it
//! did; drawing progress bars and printing is the CLI's business. Offline
//! operations open the store with [`open_stopped`], which fails at once
//! (sled's lock) instead of racing a running server.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rectify_eventlog::{CopyReport, Durability, EventStore, PostgresStore, SledStore, StoreConfig};

use crate::server::{
    config::StoreLocation,
    state::{
        DEFAULT_MASTER_KEY_FILE, PROJECTIONS_DIR, Store, close_store, open_projections, open_store,
    },
    vault::{self, Vault},
};

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
    /// The transparency tree checked against the log; `None` when there
    /// was none to check.
    pub tree: Option<crate::server::transparency::TreeCheck>,
}

impl VerifyReport {
    /// True when the chain verified and the tree, if checked, is the log's.
    pub fn all_ok(&self) -> bool {
        self.ok && self.tree.as_ref().is_none_or(|t| t.problem.is_none())
    }
}

impl From<&rectify_eventlog::VerifyReport> for VerifyReport {
    fn from(report: &rectify_eventlog::VerifyReport) -> Self {
        match &report.first_broken {
            None => Self {
                ok: true,
                events_checked: report.events_checked,
                first_bad_position: 0,
                reason: String::new(),
                tree: None,
            },
            Some((position, reason)) => Self {
                ok: false,
                events_checked: report.events_checked,
                first_bad_position: *position,
                reason: reason.clone(),
                tree: None,
            },
        }
    }
}

/// Verifies the hash chain of a data directory that no server has open;
/// `progress(checked, head)` as it goes.
pub async fn verify_dir(
    data_dir: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<VerifyReport> {
    if !data_dir.exists() {
        bail!("no data directory at {}", data_dir.display());
    }
    let store = open_stopped(data_dir).await?;
    let report = store
        .verify(&mut |p: rectify_eventlog::VerifyProgress| progress(p.checked, p.head))
        .await?;
    let mut report = VerifyReport::from(&report);
    if data_dir.join(PROJECTIONS_DIR).exists() {
        let projections = open_projections(data_dir).await?;
        report.tree = crate::server::transparency::check_stored(&store, &projections, progress)
            .await
            .context("checking the transparency tree")?;
    }
    close_store(store).await?;
    Ok(report)
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
pub async fn backup_to<S: EventStore>(
    store: &S,
    destination: &Path,
    master_key: Option<&Path>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<CopyReport, BackupError> {
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
    let copy = open_store(StoreConfig {
        path: destination.to_path_buf(),
        // The copy is made durable once, at the end.
        durability: Durability::Interval { every_ms: 1_000 },
        ..StoreConfig::default()
    })
    .await?;
    let report = rectify_eventlog::copy_log(store, &copy, upto, progress).await;
    let closed = close_store(copy).await;
    let report = report?;
    closed?;
    if let Some(key) = master_key {
        vault::copy_key_file(key, &destination.join(DEFAULT_MASTER_KEY_FILE))
            .map_err(|e| BackupError::Destination(e.to_string()))?;
    }
    Ok(report)
}

/// `rectify admin restore BACKUP DATA_DIR`: copies a backup (with its
/// default master key file, when it has one) into a new data directory;
/// `progress(copied, head)` as it goes. Verify the copy afterwards with
/// [`verify_dir`].
pub async fn restore(
    backup: &Path,
    data_dir: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<CopyReport> {
    if !backup.exists() {
        bail!("no backup at {}", backup.display());
    }
    let source = open_store(StoreConfig {
        path: backup.to_path_buf(),
        ..StoreConfig::default()
    })
    .await
    .with_context(|| format!("opening the backup {}", backup.display()))?;
    let key = backup.join(DEFAULT_MASTER_KEY_FILE);
    let key = key.exists().then_some(key.as_path());
    let report = backup_to(&source, data_dir, key, progress)
        .await
        .with_context(|| format!("restoring into {}", data_dir.display()));
    close_store(source).await?;
    report
}

/// `rectify admin copy --from DIR_OR_URL --to DIR_OR_URL`: copies a whole
/// log, with its positions, versions, hashes and stream secrets, between
/// backends (sled directory ↔ PostgreSQL) or places, then verifies the
/// copy's hash chain; `progress(copied, head)` as it goes.
///
/// A sled source must be stopped (its lock refuses a second opener); a
/// PostgreSQL source may keep serving, and the copy ends at the head it had
/// when the copy began. The destination must be empty: a new or empty
/// directory, or a database (schema) without events. Projections are not
/// copied: a server started on the copy rebuilds them. The master key does
/// not travel either; the copy's secrets are wrapped by the same key.
pub async fn copy_store(
    from: &StoreLocation,
    to: &StoreLocation,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<(CopyReport, VerifyReport)> {
    if from == to {
        bail!("--from and --to are the same store ({from})");
    }
    if let StoreLocation::Sled(dir) = from
        && !dir.join("db").exists()
    {
        bail!("no sled store in {}", dir.display());
    }
    if let StoreLocation::Sled(dir) = to
        && dir.exists()
        && std::fs::read_dir(dir)?.next().is_some()
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let source = Store::open(from, StoreConfig::default())
        .await
        .with_context(|| format!("opening the source {from} (is a server running on it?)"))?;
    let durability = match to {
        // Made durable once, when it is closed.
        StoreLocation::Sled(_) => Durability::Interval { every_ms: 1_000 },
        StoreLocation::Postgres(_) => Durability::Fsync,
    };
    let dest = Store::open(
        to,
        StoreConfig {
            durability,
            ..StoreConfig::default()
        },
    )
    .await
    .with_context(|| format!("opening the destination {to}"))?;
    let upto = source.head_position().await?;
    let copied = rectify_eventlog::copy_log(&source, &dest, upto, progress)
        .await
        .with_context(|| format!("copying {from} to {to}"));
    let verified = match &copied {
        Ok(_) => Some(dest.verify(&mut |_| {}).await),
        Err(_) => None,
    };
    source.close().await?;
    dest.close().await?;
    let report = copied?;
    let verified = verified.expect("verified after a copy")?;
    Ok((report, VerifyReport::from(&verified)))
}

/// `rectify admin upgrade-store DATA_DIR`: converts the event log of a
/// stopped server's data directory to the current on-disk format, in place;
/// `progress(converted, head)` as it goes. Safe to interrupt: from format
/// 1 it resumes where it stopped, from format 2 it is all or nothing (the
/// new segment file is switched in with one sled batch); either way an
/// interrupted directory is still in an old format (the server refuses
/// it) and running the command again finishes it. Verify afterwards with
/// [`verify_dir`].
pub async fn upgrade_store(
    data_dir: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<rectify_eventlog::UpgradeReport> {
    if !data_dir.exists() {
        bail!("no data directory at {}", data_dir.display());
    }
    let dir = data_dir.to_path_buf();
    // The conversion is blocking; the callback crosses into its thread
    // through a channel and is driven here.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::task::spawn_blocking(move || {
        rectify_eventlog::upgrade_store(&dir, &mut |done, head| {
            let _ = sender.send((done, head));
        })
    });
    while let Some((done, head)) = receiver.recv().await {
        progress(done, head);
    }
    let report = task.await?.with_context(|| {
        format!(
            "upgrading the event log in {} (is a server running on it?)",
            data_dir.display()
        )
    })?;
    Ok(report)
}

/// What [`rebuild`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// The log position the projections reached.
    pub events: u64,
    /// Complaints in the rebuilt issue ledger.
    pub complaints: usize,
}

/// `rectify admin rebuild DATA_DIR`: drops the projections and replays the
/// log from position 0; `progress(applied, head)` as it goes. The server
/// must be stopped (sled locks the directory, so a running server makes
/// this fail rather than race).
pub async fn rebuild(
    data_dir: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<RebuildReport> {
    if !data_dir.exists() {
        bail!("no data directory at {}", data_dir.display());
    }
    let store = open_stopped(data_dir).await?;
    let db = open_projections(data_dir).await?;
    let head = store.head_position().await?;
    progress(0, head);
    let clearing = db.clone();
    // Every tree goes, the transparency tree too: the server's follower
    // rebuilds it from the log when it next starts.
    tokio::task::spawn_blocking(move || clearing.clear()).await??;
    let view = std::sync::RwLock::new(rectify_projections::LedgerView::default());
    let reached = rectify_projections::runner::catch_up(&store, &db, &view, &mut |applied, _| {
        progress(applied, head);
    })
    .await?;
    let flushing = db.clone();
    tokio::task::spawn_blocking(move || flushing.flush()).await??;
    let complaints = view.read().map_or(0, |v| v.len());
    close_store(store).await?;
    Ok(RebuildReport {
        events: reached,
        complaints,
    })
}

/// What [`rotate_master_key`] did.
#[derive(Debug)]
pub struct Rotation {
    /// Data keys re-wrapped.
    pub rewrapped: u64,
    /// Id of the retired master key.
    pub old_key_id: String,
    /// Id of the new master key.
    pub new_key_id: String,
    /// Where the new key is.
    pub new_key_file: PathBuf,
    /// True when the old key file is left for the operator to destroy.
    pub old_key_file_kept: bool,
}

/// `rectify admin rotate-master-key`: re-wraps every data key of a stopped
/// server's store (a data directory, or a PostgreSQL log with every node
/// stopped) under a new master key.
///
/// In place (no `new_key_file`): the new key is written beside the current
/// file, every data key re-wrapped, then the new file renamed over the
/// current one (atomically) and the old key overwritten and removed. A
/// crash while re-wrapping leaves both key files and every data key
/// opening under one of them; running the command again finishes the job.
pub async fn rotate_master_key(
    location: &StoreLocation,
    master_key_file: Option<&Path>,
    new_key_file: Option<&Path>,
) -> anyhow::Result<Rotation> {
    let current = match (location, master_key_file) {
        (_, Some(file)) => file.to_path_buf(),
        (StoreLocation::Sled(dir), None) => dir.join(DEFAULT_MASTER_KEY_FILE),
        (StoreLocation::Postgres(_), None) => {
            bail!("a log in PostgreSQL has no default master key: pass --master-key-file")
        }
    };
    if let StoreLocation::Sled(dir) = location
        && !dir.join("db").exists()
    {
        bail!("no store in {}", dir.display());
    }
    let in_place = new_key_file.is_none();
    let new = new_key_file.map_or_else(|| current.with_extension("key.new"), Path::to_path_buf);
    vault::create_key_file(&new)?;
    let rotating = Vault::from_files(&new, &[&current])?;
    let old_key_id = Vault::from_files(&current, &[] as &[&Path])?.current_id();
    let rewrapped = match location {
        StoreLocation::Sled(dir) => {
            let store = open_stopped(dir).await?;
            let done = rewrap_sled(&store, rotating).await;
            close_store(store).await?;
            done?
        }
        StoreLocation::Postgres(_) => {
            let store = Store::open(location, StoreConfig::default()).await?;
            let Store::Postgres(postgres) = &store else {
                bail!("opened another backend than asked for");
            };
            rewrap_postgres(postgres, &rotating).await?
        }
    };
    let new_key_id = Vault::from_files(&new, &[] as &[&Path])?.current_id();
    let new_key_file = if in_place {
        // `current` always names a whole key: keep a second name for the
        // old key, swap the new one in atomically, then shred the old one
        // through its second name. A leftover second name from an earlier
        // cut-short run holds an older key: shred it first.
        let old = current.with_extension("key.old");
        if old.exists() {
            shred(&old)?;
        }
        std::fs::hard_link(&current, &old)?;
        std::fs::rename(&new, &current)?;
        shred(&old)?;
        current
    } else {
        new
    };
    Ok(Rotation {
        rewrapped,
        old_key_id,
        new_key_id,
        new_key_file,
        old_key_file_kept: !in_place,
    })
}

/// Re-wraps the data keys of a sled store not under the new key.
async fn rewrap_sled(store: &SledStore, rotating: Vault) -> anyhow::Result<u64> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut chunk = Vec::with_capacity(REWRAP_CHUNK);
        let mut done = 0;
        for entry in store.secrets() {
            let (stream, secret) = entry?;
            if rotating.is_current(&secret) {
                continue;
            }
            let rewrapped = rotating
                .rewrap(&stream, &secret)
                .with_context(|| format!("re-wrapping the data key of {stream}"))?;
            chunk.push((stream, rewrapped));
            if chunk.len() == REWRAP_CHUNK {
                done += store.replace_secrets(&chunk)?;
                chunk.clear();
            }
        }
        done += store.replace_secrets(&chunk)?;
        Ok(done)
    })
    .await?
}

/// Re-wraps the data keys of a PostgreSQL store, a page at a time, each
/// page in one transaction.
async fn rewrap_postgres(store: &PostgresStore, rotating: &Vault) -> anyhow::Result<u64> {
    let mut done = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store.secrets_page(after.as_deref(), REWRAP_CHUNK).await?;
        let full = page.len() == REWRAP_CHUNK;
        after = page.last().map(|(stream, _)| stream.clone());
        let mut chunk = Vec::with_capacity(page.len());
        for (stream, secret) in page {
            if rotating.is_current(&secret) {
                continue;
            }
            let rewrapped = rotating
                .rewrap(&stream, &secret)
                .with_context(|| format!("re-wrapping the data key of {stream}"))?;
            chunk.push((stream, rewrapped));
        }
        done += store.replace_secrets(&chunk).await?;
        if !full {
            return Ok(done);
        }
    }
}

/// Data keys re-wrapped per write.
const REWRAP_CHUNK: usize = 10_000;

/// Overwrites a file with zeros, syncs it and removes it.
fn shred(path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    let len = std::fs::metadata(path)?.len();
    // Overwrite in place (no truncation, which could free the old blocks
    // untouched instead).
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.write_all(&vec![0u8; len as usize])?;
    file.sync_all()?;
    drop(file);
    std::fs::remove_file(path)?;
    Ok(())
}

/// Opens the store of a data directory no server is using (sled's lock
/// makes this fail at once, instead of racing, when one is).
pub async fn open_stopped(data_dir: &Path) -> anyhow::Result<SledStore> {
    open_store(StoreConfig {
        path: data_dir.to_path_buf(),
        ..StoreConfig::default()
    })
    .await
    .with_context(|| {
        format!(
            "opening the store in {} (is a server running on it?)",
            data_dir.display()
        )
    })
}
