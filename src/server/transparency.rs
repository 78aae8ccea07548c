//! The transparency log over the event log: a follower that keeps the
//! RFC 6962 tree's stored nodes ([`rectify_transparency`]) in a sled tree of
//! the projections' store, the log-signing key, and signed checkpoints.
//!
//! The follower reads the log with [`EventStore::subscribe`] (either
//! backend), turns each event into a [`Leaf`] (position, id, stream, type,
//! stored BLAKE3 hash: no payload) and writes a chunk's new nodes together
//! with the new tree size in one atomic sled batch, so the stored tree is
//! always a prefix of the log: after a crash it resumes from the size it
//! stored and never appends a leaf twice. A checkpoint is signed at most
//! every [`CHECKPOINT_INTERVAL_S`] seconds of the injected clock while the
//! tree grows; the latest is kept in memory and in sled.
//!
//! The signing key is `<data_dir>/log-signing.key` (created on first start,
//! mode 0600, with a warning, like the master key) or a configured file, in
//! the C2SP note signer key format; its verifier key is written beside the
//! default key as `log-signing.pub` for operators to hand out.

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
    Checkpoint, Hash, Leaf, NodeId, NodeStore, PendingNodes, Receipt, Signer, TreeError, Verifier,
    open_checkpoint, sign_checkpoint,
};
use tokio::sync::watch;

use crate::server::{clock::Clock, config::ServerConfig};

/// The sled tree (in the projections' store) holding the nodes.
pub const TREE_NAME: &str = "transparency";
/// The signing key file inside the data directory when none is configured.
pub const DEFAULT_SIGNING_KEY_FILE: &str = "log-signing.key";
/// The verifier key written beside the default signing key.
pub const VERIFIER_KEY_FILE: &str = "log-signing.pub";
/// Fewest seconds (of the injected clock) between two checkpoints.
pub const CHECKPOINT_INTERVAL_S: i64 = 5;
/// Most events appended to the tree per sled batch.
const CHUNK: usize = 4_096;

/// Node keys are [`NodeId::key`] (9 bytes); these are longer, so they never
/// collide with a node.
const KEY_SIZE: &[u8] = b"\0meta/size";
const KEY_CHECKPOINT: &[u8] = b"\0meta/checkpoint";

/// The nodes as stored in sled.
#[derive(Debug, Clone)]
struct SledNodes(sled::Tree);

impl NodeStore for SledNodes {
    type Error = sled::Error;

    fn node(&self, id: NodeId) -> Result<Option<Hash>, sled::Error> {
        Ok(self
            .0
            .get(id.key())?
            .and_then(|bytes| bytes.as_ref().try_into().ok()))
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
    nodes: SledNodes,
    signer: Signer,
    clock: Arc<dyn Clock>,
    size: watch::Sender<u64>,
    latest: Mutex<Option<SignedCheckpoint>>,
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
            return Err(TransparencyError::BeyondTree { asked, size });
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

/// Loads the signing key: the configured file, or
/// `<data_dir>/log-signing.key`, created (named after the configured
/// origin) if missing. A configured file that is missing is an error.
pub fn load_signer(config: &ServerConfig) -> anyhow::Result<Signer> {
    let path = match &config.log_signing_key_file {
        Some(path) => path.clone(),
        None => {
            let path = config.data_dir.join(DEFAULT_SIGNING_KEY_FILE);
            if !path.exists() {
                create_key(&path, &config.log_origin)?;
                tracing::info!(path = %path.display(), origin = %config.log_origin, "created a new log-signing key");
            }
            tracing::warn!(
                path = %path.display(),
                "the log-signing key is kept inside the data directory; set log_signing_key_file to keep it apart"
            );
            path
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading the log-signing key {}", path.display()))?;
    let signer = Signer::from_key_string(text.trim())
        .with_context(|| format!("the log-signing key {}", path.display()))?;
    if config.log_signing_key_file.is_none() {
        let public = config.data_dir.join(VERIFIER_KEY_FILE);
        std::fs::write(&public, format!("{}\n", signer.verifier()))
            .with_context(|| format!("writing the verifier key {}", public.display()))?;
    }
    Ok(signer)
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
    signer: Signer,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<Transparency>, tokio::task::JoinHandle<()>)> {
    let tree = db
        .named_tree(TREE_NAME)
        .context("opening the transparency tree")?;
    let mut size = match tree.get(KEY_SIZE)? {
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .context("the stored tree size is not 8 bytes")?,
        ),
        None => 0,
    };
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
        size = 0;
    }
    let latest = tree
        .get(KEY_CHECKPOINT)?
        .and_then(|bytes| SignedCheckpoint::decode(&bytes))
        // One signed by another key, or of a tree since dropped, is not kept.
        .filter(|c| c.size <= size && open_checkpoint(&c.note, &[signer.verifier()]).is_ok());
    let (sender, _) = watch::channel(size);
    let log = Arc::new(Transparency {
        nodes: SledNodes(tree),
        signer,
        clock,
        size: sender,
        latest: Mutex::new(latest),
    });
    let follower = log.clone();
    let task = tokio::spawn(async move {
        if let Err(error) = follow(store, &follower).await {
            tracing::error!(%error, "the transparency follower stopped");
        }
    });
    Ok((log, task))
}

/// Appends every event from the tree's size on, one batch per chunk, and
/// signs checkpoints as the clock allows.
async fn follow<S: EventStore>(store: S, log: &Transparency) -> anyhow::Result<()> {
    let mut events = store
        .subscribe(log.size() + 1, Filter::default())
        .ready_chunks(CHUNK);
    let mut tick = tokio::time::interval(Duration::from_secs(CHECKPOINT_INTERVAL_S as u64));
    loop {
        tokio::select! {
            chunk = events.next() => {
                let Some(chunk) = chunk else { return Ok(()) };
                let chunk = chunk.into_iter().collect::<Result<Vec<_>, _>>()?;
                append(log, &chunk).await?;
            }
            _ = tick.tick() => {}
        }
        log.checkpoint()?;
    }
}

/// Appends `events` (the next ones of the log) in one atomic batch.
async fn append(log: &Transparency, events: &[RecordedEvent]) -> anyhow::Result<()> {
    let size = log.size();
    let mut pending = PendingNodes::new(&log.nodes, size);
    for event in events {
        anyhow::ensure!(
            event.position == pending.size() + 1,
            "the log gave position {} after {}",
            event.position,
            pending.size()
        );
        let hash = leaf_of(event)
            .hash()
            .with_context(|| format!("the leaf of position {}", event.position))?;
        pending.append(hash)?;
    }
    let new_size = pending.size();
    let mut batch = sled::Batch::default();
    for write in pending.into_writes() {
        batch.insert(&write.id.key()[..], &write.hash[..]);
    }
    batch.insert(KEY_SIZE, &new_size.to_be_bytes());
    let tree = log.nodes.0.clone();
    tokio::task::spawn_blocking(move || tree.apply_batch(batch))
        .await
        .context("writing tree nodes")??;
    log.size.send_replace(new_size);
    Ok(())
}
