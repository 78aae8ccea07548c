//! The transparency log over the event log: a follower that keeps the
//! RFC 6962 tree ([`rectify_transparency`]) in a sled tree of the
//! projections' store as tiles ([`StoredNodes`]: the hashes of every eighth
//! level, 256 to a value), the log-signing key, and signed checkpoints.
//!
//! The follower reads the log with [`EventStore::subscribe`] (either
//! backend), turns each event into a [`Leaf`] (position, id, stream, type,
//! stored BLAKE3 hash: no payload) and writes the new nodes together with
//! the new tree size in atomic sled batches of at most [`MAX_BATCH`] leaves,
//! at most [`COALESCE`] after it read them, so the stored tree is always a
//! prefix of the log: after a crash it resumes from the size it stored and
//! never appends a leaf twice. A checkpoint is signed at most
//! every [`CHECKPOINT_INTERVAL_S`] seconds of the injected clock while the
//! tree grows; the latest is kept in memory and in sled.
//!
//! The follower retries a failure with backoff (1 s doubling to 30 s) and
//! publishes why it fails ([`Transparency::failure`]) until it appends
//! again: health, metrics and the RPCs report it.
//!
//! The signing key is `<data_dir>/log-signing.key` (created on first start,
//! mode 0600, with a warning, like the master key) or a configured file, in
//! the C2SP note signer key format; its verifier key is written beside the
//! default key as `log-signing.pub` for operators to hand out. A rotation
//! ([`rotate_key`]) replaces the key and lists the old verifier key in
//! `<key file>.retired`, so what it signed stays checkable.
//!
//! [`check_stored`] and [`Transparency::check`] rebuild the tree from the
//! log alone and compare it with the stored one (`verify`).

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use futures::StreamExt as _;
use rectify_eventlog::{EventStore, Filter, RecordedEvent};
use rectify_projections::ProjectionDb;
use rectify_transparency::{
    Checkpoint, Hash, Leaf, NodeId, NodeStore, NodeWrite, PendingNodes, Receipt, RootBuilder,
    Signer, TreeError, Verifier, open_checkpoint, sign_checkpoint,
};
use tokio::sync::watch;

use crate::server::{clock::Clock, config::ServerConfig};

/// The sled tree (in the projections' store) holding the nodes.
pub const TREE_NAME: &str = "transparency";
/// The signing key file inside the data directory when none is configured.
pub const DEFAULT_SIGNING_KEY_FILE: &str = "log-signing.key";
/// What is appended to the signing key file's name for its retired keys.
pub const RETIRED_SUFFIX: &str = ".retired";
/// The verifier key written beside the default signing key.
pub const VERIFIER_KEY_FILE: &str = "log-signing.pub";
/// Fewest seconds (of the injected clock) between two checkpoints.
pub const CHECKPOINT_INTERVAL_S: i64 = 5;
/// The follower's first wait after a failure, doubled up to
/// [`RETRY_MOST`] while it keeps failing.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(30);
/// How long read leaves may wait to be written, so that a slow stream of
/// appends (one event per group commit) shares one sled batch, and its
/// synchronous write, per interval instead of paying one per commit.
pub const COALESCE: Duration = Duration::from_millis(100);
/// Most leaves written in one sled batch: sled holds far more memory per
/// leaf in batches of thousands.
pub const MAX_BATCH: usize = 256;
/// Most events read from the subscription at once.
const CHUNK: usize = 4_096;

/// Meta keys start with a NUL byte, tile keys with `t`: they never collide.
const KEY_SIZE: &[u8] = b"\0meta/size";
const KEY_CHECKPOINT: &[u8] = b"\0meta/checkpoint";
const KEY_FORMAT: &[u8] = b"\0meta/format";
/// The stored form: 2 = tiles (1, nodes under 9-byte keys, is rebuilt).
const FORMAT: u8 = 2;

/// Levels a tile spans: it stores the hashes of one level that is a
/// multiple of this, and every node of the levels above it up to the next
/// multiple is computed from them.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile (`2^TILE_HEIGHT`).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// The key of tile `index` of band `band` (it holds the hashes of level
/// `band * TILE_HEIGHT`, indexes `index * TILE_WIDTH ..`).
pub fn tile_key(band: u8, index: u64) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[0] = b't';
    key[1] = band;
    key[2..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The tree stored as tiles, as Go's checksum database stores it: the
/// hashes of every eighth level, 256 to a sled value, a partial tile
/// rewritten as it fills. An append batch writes one value per band it
/// touches instead of about two keys per leaf, and a node of the levels
/// between is the root of at most 128 hashes of one tile.
#[derive(Debug, Clone)]
pub struct StoredNodes(sled::Tree);

impl StoredNodes {
    /// The nodes kept in `tree`.
    pub fn new(tree: sled::Tree) -> StoredNodes {
        StoredNodes(tree)
    }

    /// The sled tree.
    pub fn tree(&self) -> &sled::Tree {
        &self.0
    }

    /// A sled batch storing `writes` (the nodes an append completed, as
    /// [`PendingNodes::into_writes`] gives them) and the new size: each
    /// tile they fill is rewritten whole. Reads the partial tiles.
    pub fn batch(&self, writes: &[NodeWrite], size: u64) -> anyhow::Result<sled::Batch> {
        let mut tiles: std::collections::BTreeMap<(u8, u64), Vec<(u64, Hash)>> =
            std::collections::BTreeMap::new();
        for write in writes.iter().filter(|w| w.id.level % TILE_HEIGHT == 0) {
            let band = write.id.level / TILE_HEIGHT;
            tiles
                .entry((band, write.id.index / TILE_WIDTH))
                .or_default()
                .push((write.id.index % TILE_WIDTH, write.hash));
        }
        let mut batch = sled::Batch::default();
        for ((band, index), mut hashes) in tiles {
            hashes.sort_unstable_by_key(|&(slot, _)| slot);
            let key = tile_key(band, index);
            let mut bytes = self.0.get(key)?.map(|old| old.to_vec()).unwrap_or_default();
            for (slot, hash) in hashes {
                anyhow::ensure!(
                    bytes.len() as u64 == slot * 32,
                    "tile {band}/{index} holds {} hashes; the next to write is {slot}",
                    bytes.len() / 32
                );
                bytes.extend_from_slice(&hash);
            }
            batch.insert(&key[..], bytes);
        }
        batch.insert(KEY_SIZE, &size.to_be_bytes());
        Ok(batch)
    }
}

impl NodeStore for StoredNodes {
    type Error = sled::Error;

    fn node(&self, id: NodeId) -> Result<Option<Hash>, sled::Error> {
        let band = id.level / TILE_HEIGHT;
        let height = id.level % TILE_HEIGHT;
        // The node's leaves on the band's level: 2^height of them, inside
        // one tile since tiles are aligned and wider.
        let first = id.index << height;
        let count = 1u64 << height;
        let Some(tile) = self.0.get(tile_key(band, first / TILE_WIDTH))? else {
            return Ok(None);
        };
        let start = (first % TILE_WIDTH * 32) as usize;
        let end = start + (count * 32) as usize;
        let Some(bytes) = tile.get(start..end) else {
            return Ok(None);
        };
        let mut level: Vec<Hash> = bytes
            .chunks_exact(32)
            .map(|h| h.try_into().expect("32-byte chunks"))
            .collect();
        while level.len() > 1 {
            level = level
                .chunks_exact(2)
                .map(|pair| rectify_transparency::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(level.first().copied())
    }
}

/// A signed checkpoint and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The C2SP signed note.
    pub note: String,
    /// The tree size it commits to.
    pub size: u64,
    /// When it was signed (Unix seconds of the injected clock).
    pub signed_at: i64,
}

impl SignedCheckpoint {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.note.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.signed_at.to_be_bytes());
        out.extend_from_slice(self.note.as_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<SignedCheckpoint> {
        let size = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let signed_at = i64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        let note = String::from_utf8(bytes.get(16..)?.to_vec()).ok()?;
        Some(SignedCheckpoint {
            note,
            size,
            signed_at,
        })
    }
}

/// Why a tree question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    /// A size past what the tree holds now.
    #[error("tree size {asked} is beyond the tree's current size {size}")]
    BeyondTree {
        /// The size asked for.
        asked: u64,
        /// The tree's size.
        size: u64,
    },
    /// A size past the tree while its follower is failing.
    #[error("tree size {asked} is beyond the tree's size {size}, which is not growing: {reason}")]
    Stalled {
        /// The size asked for.
        asked: u64,
        /// The tree's size.
        size: u64,
        /// Why the follower fails.
        reason: String,
    },
    /// The tree could not answer (storage or a missing node).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// Signing or storing failed.
    #[error("{0}")]
    Internal(String),
}

/// The transparency log, shared by the follower and the service.
#[derive(Debug)]
pub struct Transparency {
    nodes: StoredNodes,
    signer: Signer,
    retired: Vec<RetiredKey>,
    clock: Arc<dyn Clock>,
    size: watch::Sender<u64>,
    latest: Mutex<Option<SignedCheckpoint>>,
    /// Why the follower is failing now (`None` while it keeps up).
    failure: watch::Sender<Option<String>>,
}

/// A key the log signed with before a rotation: its verifier key (public
/// only) and when it was retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    /// The C2SP verifier key.
    pub verifier: Verifier,
    /// When it stopped signing.
    pub retired_at: chrono::DateTime<chrono::Utc>,
}

impl Transparency {
    /// The log's origin (its key's name).
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key clients check signatures with.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    /// The keys the log signed with before, oldest first: receipts and
    /// checkpoints from before a rotation verify with these.
    pub fn retired_keys(&self) -> &[RetiredKey] {
        &self.retired
    }

    /// Why the follower is failing, if it is; it retries with backoff and
    /// clears this once it appends again.
    pub fn failure(&self) -> Option<String> {
        self.failure.borrow().clone()
    }

    /// Follows [`Transparency::failure`] as it changes.
    pub fn watch_failure(&self) -> watch::Receiver<Option<String>> {
        self.failure.subscribe()
    }

    /// The number of leaves the tree holds now.
    pub fn size(&self) -> u64 {
        *self.size.borrow()
    }

    /// Waits, at most `timeout`, until the tree holds `size` leaves; whether
    /// it does.
    pub async fn wait_for(&self, size: u64, timeout: Duration) -> bool {
        let mut receiver = self.size.subscribe();
        matches!(
            tokio::time::timeout(timeout, receiver.wait_for(|s| *s >= size)).await,
            Ok(Ok(_))
        )
    }

    fn check_size(&self, asked: u64) -> Result<(), TransparencyError> {
        let size = self.size();
        if asked > size {
            return Err(match self.failure() {
                Some(reason) => TransparencyError::Stalled {
                    asked,
                    size,
                    reason,
                },
                None => TransparencyError::BeyondTree { asked, size },
            });
        }
        Ok(())
    }

    /// The root of the tree at `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, TransparencyError> {
        self.check_size(size)?;
        Ok(rectify_transparency::root(&self.nodes, size)?)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TransparencyError> {
        self.check_size(size)?;
        Ok(rectify_transparency::inclusion_proof(
            &self.nodes,
            index,
            size,
        )?)
    }

    /// The consistency proof from the tree of `old_size` leaves to `new_size`.
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, TransparencyError> {
        self.check_size(new_size)?;
        Ok(rectify_transparency::consistency_proof(
            &self.nodes,
            old_size,
            new_size,
        )?)
    }

    /// A receipt for `leaf`, signed now.
    pub fn receipt(&self, leaf: Leaf) -> Result<Receipt, TransparencyError> {
        Receipt::issue(
            self.origin(),
            leaf,
            self.clock.now().timestamp(),
            &self.signer,
        )
        .map_err(|error| TransparencyError::Internal(format!("signing a receipt: {error}")))
    }

    /// The latest checkpoint, first signing a new one if the tree grew past
    /// it and the last was signed at least [`CHECKPOINT_INTERVAL_S`] ago
    /// (or there is none yet).
    pub fn checkpoint(&self) -> Result<SignedCheckpoint, TransparencyError> {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let size = self.size();
        let now = self.clock.now().timestamp();
        if let Some(current) = latest.as_ref()
            && (current.size >= size || now - current.signed_at < CHECKPOINT_INTERVAL_S)
        {
            return Ok(current.clone());
        }
        let checkpoint = Checkpoint {
            origin: self.origin().to_owned(),
            size,
            root: rectify_transparency::root(&self.nodes, size)?,
            extensions: vec![],
        };
        let note = sign_checkpoint(&checkpoint, &[&self.signer]).map_err(|error| {
            TransparencyError::Internal(format!("signing a checkpoint: {error}"))
        })?;
        let signed = SignedCheckpoint {
            note,
            size,
            signed_at: now,
        };
        self.nodes
            .0
            .insert(KEY_CHECKPOINT, signed.encode())
            .map_err(|error| {
                TransparencyError::Internal(format!("storing a checkpoint: {error}"))
            })?;
        *latest = Some(signed.clone());
        Ok(signed)
    }
}

/// What checking a stored tree against the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeCheck {
    /// The stored tree's size: the events checked.
    pub size: u64,
    /// The first thing wrong, `None` when the tree is the log's.
    pub problem: Option<String>,
}

/// Events read from the log per page while checking.
const CHECK_PAGE: usize = 4_096;

/// Rebuilds the tree of the log's first `size` events from the log alone
/// and compares it with the stored one: each stored leaf with the event's
/// leaf (naming the first position that differs), the stored root with the
/// rebuilt one, and `checkpoint` (if any) with the rebuilt root at its
/// size. `progress(checked, size)` as it goes.
async fn check_nodes<S: EventStore>(
    store: &S,
    nodes: &StoredNodes,
    size: u64,
    checkpoint: Option<Checkpoint>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<TreeCheck> {
    let found = |problem: String| TreeCheck {
        size,
        problem: Some(problem),
    };
    if let Some(c) = &checkpoint
        && c.size > size
    {
        return Ok(found(format!(
            "the stored checkpoint is of size {} but the tree holds {size}",
            c.size
        )));
    }
    let mut rebuilt = RootBuilder::new();
    let mut checkpoint_root = checkpoint
        .as_ref()
        .filter(|c| c.size == 0)
        .map(|_| rebuilt.root());
    while rebuilt.size() < size {
        let want = usize::try_from(size - rebuilt.size()).unwrap_or(usize::MAX);
        let page = store
            .read_all(rebuilt.size() + 1, want.min(CHECK_PAGE), &Filter::default())
            .await?;
        if page.is_empty() {
            return Ok(found(format!(
                "the tree holds {size} leaves but the log ends at position {}",
                rebuilt.size()
            )));
        }
        for event in &page {
            let position = rebuilt.size() + 1;
            if event.position != position {
                return Ok(found(format!(
                    "the log gave position {} where {position} was expected",
                    event.position
                )));
            }
            let hash = leaf_of(event).hash()?;
            if nodes.node(NodeId::new(0, position - 1))? != Some(hash) {
                return Ok(found(format!(
                    "the stored leaf of position {position} is not the leaf of the log's event there"
                )));
            }
            rebuilt.push(hash);
            if let Some(c) = &checkpoint
                && c.size == rebuilt.size()
            {
                checkpoint_root = Some(rebuilt.root());
            }
            if rebuilt.size() == size {
                break;
            }
        }
        progress(rebuilt.size(), size);
    }
    if rectify_transparency::root(nodes, size)? != rebuilt.root() {
        return Ok(found(format!(
            "the stored tree's root at size {size} is not the root of the log's events"
        )));
    }
    if let Some(c) = &checkpoint
        && checkpoint_root != Some(c.root)
    {
        return Ok(found(format!(
            "the latest checkpoint (size {}) does not commit to the log's first {} events",
            c.size, c.size
        )));
    }
    Ok(TreeCheck {
        size,
        problem: None,
    })
}

/// The checkpoint body of a signed note (its signatures are not checked
/// here: this compares roots).
fn checkpoint_of(note: &str) -> Option<Checkpoint> {
    let (body, _) = note.split_once("\n\n")?;
    Checkpoint::parse(&format!("{body}\n")).ok()
}

impl Transparency {
    /// Checks the tree as it stands now against `store` (the log it
    /// follows).
    pub async fn check<S: EventStore>(&self, store: &S) -> anyhow::Result<TreeCheck> {
        let size = self.size();
        let checkpoint = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|c| checkpoint_of(&c.note));
        check_nodes(store, &self.nodes, size, checkpoint, &mut |_, _| {}).await
    }
}

/// Checks the tree stored in `db` (of a stopped server) against `store`;
/// `None` when there is no tree yet.
pub async fn check_stored<S: EventStore>(
    store: &S,
    db: &ProjectionDb,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> anyhow::Result<Option<TreeCheck>> {
    let tree = db
        .named_tree(TREE_NAME)
        .context("opening the transparency tree")?;
    let Some(size) = stored_size(&tree)? else {
        return Ok(None);
    };
    let checkpoint = tree
        .get(KEY_CHECKPOINT)?
        .and_then(|bytes| SignedCheckpoint::decode(&bytes))
        .and_then(|c| checkpoint_of(&c.note));
    let nodes = StoredNodes(tree);
    Ok(Some(
        check_nodes(store, &nodes, size, checkpoint, progress).await?,
    ))
}

/// The tree size stored in `tree`, `None` when none is.
fn stored_size(tree: &sled::Tree) -> anyhow::Result<Option<u64>> {
    tree.get(KEY_SIZE)?
        .map(|bytes| {
            Ok(u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .context("the stored tree size is not 8 bytes")?,
            ))
        })
        .transpose()
}

/// The leaf of a recorded event.
pub fn leaf_of(event: &RecordedEvent) -> Leaf {
    Leaf {
        position: event.position,
        event_id: *event.id.as_bytes(),
        stream: event.stream.clone(),
        event_type: event.event_type.clone(),
        event_hash: event.hash,
    }
}

/// The log's signing key and the keys it retired.
#[derive(Debug)]
pub struct LogKeys {
    /// Signs checkpoints and receipts.
    pub signer: Signer,
    /// Keys it signed with before, oldest first.
    pub retired: Vec<RetiredKey>,
}

/// The signing key file: the configured one or `<data_dir>/log-signing.key`.
pub fn signing_key_path(config: &ServerConfig) -> std::path::PathBuf {
    config
        .log_signing_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join(DEFAULT_SIGNING_KEY_FILE))
}

/// The file of retired verifier keys beside a signing key file.
pub fn retired_keys_path(key_file: &Path) -> std::path::PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(RETIRED_SUFFIX);
    name.into()
}

/// Loads the signing key (the configured file, or
/// `<data_dir>/log-signing.key`, created named after the configured origin
/// if missing; a configured file that is missing is an error) and the
/// retired keys listed beside it. With the default key the verifier keys
/// are written to `<data_dir>/log-signing.pub`, the current one first.
pub fn load_keys(config: &ServerConfig) -> anyhow::Result<LogKeys> {
    let path = signing_key_path(config);
    if config.log_signing_key_file.is_none() {
        if !path.exists() {
            create_key(&path, &config.log_origin)?;
            tracing::info!(path = %path.display(), origin = %config.log_origin, "created a new log-signing key");
        }
        tracing::warn!(
            path = %path.display(),
            "the log-signing key is kept inside the data directory; set log_signing_key_file to keep it apart"
        );
    }
    let signer = read_signer(&path)?;
    let retired = read_retired(&retired_keys_path(&path))?;
    if let Some(clash) = retired
        .iter()
        .find(|r| r.verifier.key_id() == signer.key_id())
    {
        anyhow::bail!(
            "the log-signing key {} is also listed as retired (key id {:08x})",
            path.display(),
            clash.verifier.key_id()
        );
    }
    if config.log_signing_key_file.is_none() {
        let public = config.data_dir.join(VERIFIER_KEY_FILE);
        std::fs::write(&public, verifier_lines(&signer, &retired))
            .with_context(|| format!("writing the verifier keys {}", public.display()))?;
    }
    Ok(LogKeys { signer, retired })
}

/// The verifier keys to hand out, one a line, the current one first.
pub fn verifier_lines(signer: &Signer, retired: &[RetiredKey]) -> String {
    let mut text = format!("{}\n", signer.verifier());
    for key in retired.iter().rev() {
        text.push_str(&format!("{}\n", key.verifier));
    }
    text
}

fn read_signer(path: &Path) -> anyhow::Result<Signer> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the log-signing key {}", path.display()))?,
    );
    Signer::from_key_string(text.trim())
        .with_context(|| format!("the log-signing key {}", path.display()))
}

/// Reads the retired keys: one line each, `<verifier key> <RFC 3339 time>`;
/// a missing file is none.
fn read_retired(path: &Path) -> anyhow::Result<Vec<RetiredKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(error).with_context(|| format!("reading retired keys {}", path.display()));
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let at = || format!("{} line {}", path.display(), index + 1);
            let (key, time) = line
                .trim()
                .split_once(' ')
                .with_context(|| format!("{}: expected `<verifier key> <time>`", at()))?;
            Ok(RetiredKey {
                verifier: key
                    .parse()
                    .with_context(|| format!("{}: the verifier key", at()))?,
                retired_at: chrono::DateTime::parse_from_rfc3339(time.trim())
                    .with_context(|| format!("{}: the time", at()))?
                    .to_utc(),
            })
        })
        .collect()
}

/// What [`rotate_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The key id that signed until now.
    pub old_key_id: u32,
    /// The new key's id.
    pub new_key_id: u32,
    /// The new verifier key.
    pub new_verifier: String,
}

/// Replaces the signing key at `key_file` (of a stopped server) with a new
/// one of the same name, listing the old verifier key as retired at `now`
/// beside it. The retired list is written first, so an interruption leaves
/// the old key in use and listed, which the next start refuses with a
/// clear error rather than signing under a key already called retired;
/// running the rotation again then completes it.
pub fn rotate_key(
    key_file: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<KeyRotation> {
    let old = read_signer(key_file)?;
    let retired_path = retired_keys_path(key_file);
    let mut retired = read_retired(&retired_path)?;
    if !retired.iter().any(|r| r.verifier.key_id() == old.key_id()) {
        retired.push(RetiredKey {
            verifier: old.verifier(),
            retired_at: now,
        });
        let text: String = retired
            .iter()
            .map(|r| {
                format!(
                    "{} {}\n",
                    r.verifier,
                    r.retired_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            })
            .collect();
        let temporary = key_file.with_extension("retired.tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &retired_path))
            .with_context(|| format!("writing retired keys {}", retired_path.display()))?;
    }
    let temporary = key_file.with_extension("key.tmp");
    let _ = std::fs::remove_file(&temporary);
    create_key(&temporary, old.name())?;
    let new = read_signer(&temporary)?;
    if retired.iter().any(|r| r.verifier.key_id() == new.key_id()) {
        let _ = std::fs::remove_file(&temporary);
        anyhow::bail!("the new key's id collides with a retired key's; run the rotation again");
    }
    std::fs::rename(&temporary, key_file)
        .with_context(|| format!("replacing the log-signing key {}", key_file.display()))?;
    let public = key_file.with_file_name(VERIFIER_KEY_FILE);
    if key_file.file_name() == Some(std::ffi::OsStr::new(DEFAULT_SIGNING_KEY_FILE)) {
        std::fs::write(&public, verifier_lines(&new, &retired))
            .with_context(|| format!("writing the verifier keys {}", public.display()))?;
    }
    Ok(KeyRotation {
        old_key_id: old.key_id(),
        new_key_id: new.key_id(),
        new_verifier: new.verifier().to_string(),
    })
}

/// Writes a new signing key named `origin` to `path` (mode 0600).
fn create_key(path: &Path, origin: &str) -> anyhow::Result<()> {
    let seed = crate::server::vault::random_key().context("drawing a log-signing key")?;
    let signer = Signer::new(origin, *seed)
        .with_context(|| format!("log origin {origin:?} cannot name a key"))?;
    let text = zeroize::Zeroizing::new(format!("{}\n", signer.to_key_string()));
    crate::server::vault::write_private(path, text.as_bytes())
        .with_context(|| format!("creating the log-signing key {}", path.display()))
}

/// Opens the tree in `db` and follows `store` (either backend) from the
/// tree's size in a background task (returned, for shutdown).
pub async fn start<S: EventStore + Clone>(
    store: S,
    db: &ProjectionDb,
    keys: LogKeys,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<Transparency>, tokio::task::JoinHandle<()>)> {
    let LogKeys { signer, retired } = keys;
    let tree = db
        .named_tree(TREE_NAME)
        .context("opening the transparency tree")?;
    let mut size = stored_size(&tree)?.unwrap_or(0);
    if tree.get(KEY_FORMAT)?.as_deref() != Some(&[FORMAT][..]) {
        if size > 0 {
            // Nodes of an earlier stored form: the tree is a function of
            // the log, so it is rebuilt in this one.
            tracing::warn!(
                tree_size = size,
                "the transparency tree is stored in an earlier form; rebuilding it"
            );
        }
        tree.clear()?;
        tree.insert(KEY_FORMAT, &[FORMAT])?;
        size = 0;
    }
    let head = store.head_position().await?;
    if size > head {
        // The log was restored to an earlier point: the tree no longer
        // matches it, so it is rebuilt.
        tracing::warn!(
            tree_size = size,
            head,
            "the transparency tree is ahead of the log; rebuilding it"
        );
        tree.clear()?;
        tree.insert(KEY_FORMAT, &[FORMAT])?;
        size = 0;
    }
    let latest = tree
        .get(KEY_CHECKPOINT)?
        .and_then(|bytes| SignedCheckpoint::decode(&bytes))
        // One signed by another key, or of a tree since dropped, is not kept.
        .filter(|c| c.size <= size && open_checkpoint(&c.note, &[signer.verifier()]).is_ok());
    let (sender, _) = watch::channel(size);
    let log = Arc::new(Transparency {
        nodes: StoredNodes(tree),
        signer,
        retired,
        clock,
        size: sender,
        latest: Mutex::new(latest),
        failure: watch::channel(None).0,
    });
    let follower = log.clone();
    let task = tokio::spawn(async move {
        let mut backoff = RETRY_FIRST;
        loop {
            match follow(store.clone(), &follower, &mut backoff).await {
                Ok(()) => return,
                Err(error) => {
                    let reason = format!("{error:#}");
                    tracing::error!(
                        error = %reason,
                        tree_size = follower.size(),
                        retry_in_s = backoff.as_secs(),
                        "the transparency follower failed; retrying"
                    );
                    follower.failure.send_replace(Some(reason));
                    // Real time, not the injected clock: this paces retries
                    // of a failing store, and nothing waits on it.
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MOST);
                }
            }
        }
    });
    Ok((log, task))
}

/// Appends every event from the tree's size on, one batch per chunk, and
/// signs checkpoints as the clock allows. Each successful append clears the
/// failure and resets `backoff`.
async fn follow<S: EventStore>(
    store: S,
    log: &Transparency,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let mut events = store
        .subscribe(log.size() + 1, Filter::default())
        .ready_chunks(CHUNK);
    let mut tick = tokio::time::interval(Duration::from_secs(CHECKPOINT_INTERVAL_S as u64));
    // Leaf hashes read but not yet written, and when they must be.
    let mut pending: Vec<(u64, Hash)> = Vec::new();
    let mut write_by: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            chunk = events.next() => {
                let Some(chunk) = chunk else {
                    write(log, &mut pending, backoff).await?;
                    return Ok(());
                };
                for event in chunk {
                    let event = event?;
                    let hash = leaf_of(&event)
                        .hash()
                        .with_context(|| format!("the leaf of position {}", event.position))?;
                    pending.push((event.position, hash));
                }
                if pending.len() >= MAX_BATCH {
                    write(log, &mut pending, backoff).await?;
                    write_by = None;
                } else if write_by.is_none() {
                    write_by = Some(tokio::time::Instant::now() + COALESCE);
                }
            }
            () = tokio::time::sleep_until(write_by.unwrap_or_else(tokio::time::Instant::now)),
                if write_by.is_some() =>
            {
                write(log, &mut pending, backoff).await?;
                write_by = None;
            }
            _ = tick.tick() => {}
        }
        log.checkpoint()?;
    }
}

/// Writes the `pending` leaves, if any, and on success clears the failure
/// and resets `backoff`.
async fn write(
    log: &Transparency,
    pending: &mut Vec<(u64, Hash)>,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    for batch in pending.chunks(MAX_BATCH) {
        append(log, batch).await?;
    }
    pending.clear();
    if log
        .failure
        .send_if_modified(|failure| failure.take().is_some())
    {
        tracing::info!(
            tree_size = log.size(),
            "the transparency follower recovered"
        );
    }
    *backoff = RETRY_FIRST;
    Ok(())
}

/// Appends `leaves` (position and leaf hash of the next events of the log)
/// in one atomic batch.
async fn append(log: &Transparency, leaves: &[(u64, Hash)]) -> anyhow::Result<()> {
    let size = log.size();
    let mut pending = PendingNodes::new(&log.nodes, size);
    for &(position, hash) in leaves {
        anyhow::ensure!(
            position == pending.size() + 1,
            "the log gave position {position} after {}",
            pending.size()
        );
        pending.append(hash)?;
    }
    let new_size = pending.size();
    let batch = log.nodes.batch(&pending.into_writes(), new_size)?;
    let tree = log.nodes.0.clone();
    tokio::task::spawn_blocking(move || tree.apply_batch(batch))
        .await
        .context("writing tree nodes")??;
    log.size.send_replace(new_size);
    Ok(())
}

#[cfg(test)]
mod tests {
    use rectify_transparency::{MemoryTree, leaf_hash};

    use super::*;

    /// Appends `count` leaves from `from` in one batch, as the follower does.
    fn append(nodes: &StoredNodes, from: u64, count: u64) {
        let mut pending = PendingNodes::new(nodes, from);
        for i in from..from + count {
            pending.append(leaf_hash(&i.to_be_bytes())).unwrap();
        }
        let size = pending.size();
        let batch = nodes.batch(&pending.into_writes(), size).unwrap();
        nodes.tree().apply_batch(batch).unwrap();
    }

    #[test]
    fn tiles_answer_every_node_the_stored_tree_would() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let nodes = StoredNodes::new(db.open_tree("t").unwrap());
        let mut memory = MemoryTree::new();
        // Batches of uneven sizes, so tiles fill across several batches and
        // a batch crosses tile and band boundaries (band 1 starts at 256).
        let mut size = 0u64;
        for count in [1u64, 2, 5, 100, 147, 1, 255, 257, 300, 3]
            .into_iter()
            .cycle()
            .take(14)
        {
            append(&nodes, size, count);
            for i in size..size + count {
                memory.append(leaf_hash(&i.to_be_bytes())).unwrap();
            }
            size += count;
            assert_eq!(
                rectify_transparency::root(&nodes, size).unwrap(),
                memory.root(size).unwrap(),
                "size {size}"
            );
        }
        for (index, at) in [
            (0, size),
            (255, 256),
            (256, size),
            (size - 1, size),
            (700, 1001),
        ] {
            assert_eq!(
                rectify_transparency::inclusion_proof(&nodes, index, at).unwrap(),
                memory.inclusion_proof(index, at).unwrap(),
                "leaf {index} in {at}"
            );
        }
        for (old, new) in [(1, size), (256, 512), (300, 1001), (511, size)] {
            assert_eq!(
                rectify_transparency::consistency_proof(&nodes, old, new).unwrap(),
                memory.consistency_proof(old, new).unwrap(),
                "{old} → {new}"
            );
        }
        // A node past what the tiles hold is missing, not made up.
        assert_eq!(nodes.node(NodeId::new(0, size)).unwrap(), None);
        assert_eq!(nodes.node(NodeId::new(8, size / 256)).unwrap(), None);
    }
}
