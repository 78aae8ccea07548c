//! The Merkle tree over leaf hashes: stored complete subtrees, the root at
//! any size, and RFC 6962 inclusion and consistency proofs.
//!
//! # Storage layout
//!
//! Node `(level, index)` is the hash of the *complete* subtree over leaves
//! `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf hashes. A
//! node is written once, when its last leaf arrives, and never changes, so a
//! tree of `n` leaves holds fewer than `2n` nodes and a backend can keep
//! them under the key `level (1 byte) ‖ index (8 bytes, big-endian)`, one
//! ordered range per level.
//!
//! Every range the RFC 6962 definitions hash, `MTH(D[a:b])`, is either a
//! stored node or splits into at most 64 stored nodes (one per set bit of
//! `b − a`), so the root, an inclusion proof and a consistency proof each
//! read O(log n) nodes.
//!
//! The functions here read through [`NodeStore`]; [`MemoryTree`] is the
//! in-memory store, and [`PendingNodes`] layers one append batch's new nodes
//! over any store, so a backend can compute and persist them in the same
//! write as the events.

use std::collections::BTreeMap;

use crate::leaf::{EMPTY_ROOT, Hash, node_hash};

/// The highest level a node can have (a tree of `2^63` leaves).
pub const MAX_LEVEL: u8 = 63;

/// Where a node sits: the complete subtree over leaves
/// `[index·2^level, (index+1)·2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves; 0 is a leaf hash.
    pub level: u8,
    /// Position among the nodes of its level, from 0.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    /// The storage key: `level ‖ index` big-endian, so each level is one
    /// ordered key range.
    pub fn key(&self) -> [u8; 9] {
        let mut key = [0u8; 9];
        key[0] = self.level;
        key[1..].copy_from_slice(&self.index.to_be_bytes());
        key
    }

    /// The node named by a storage key.
    pub fn from_key(key: [u8; 9]) -> NodeId {
        let mut index = [0u8; 8];
        index.copy_from_slice(&key[1..]);
        NodeId::new(key[0], u64::from_be_bytes(index))
    }
}

/// A node an append created, for the backend to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeWrite {
    /// Which node.
    pub id: NodeId,
    /// Its hash.
    pub hash: Hash,
}

/// Read access to stored nodes; a backend implements it over its storage.
pub trait NodeStore {
    /// What a failed read reports (the backend's storage error;
    /// [`std::convert::Infallible`] in memory).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hash of a stored node: `Ok(None)` if it is not stored, `Err` if
    /// the storage failed to answer.
    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error>;
}

/// Reads a node the computation needs: absent is [`TreeError::MissingNode`].
fn read<S: NodeStore + ?Sized>(store: &S, id: NodeId) -> Result<Hash, TreeError> {
    store
        .node(id)
        .map_err(|error| TreeError::Storage(Box::new(error)))?
        .ok_or(TreeError::MissingNode(id))
}

/// Why a tree operation could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The store failed to read a node (an I/O or storage engine error).
    #[error("reading a tree node failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A node the computation needs is not in the store: the store is behind
    /// the size asked for, or damaged.
    #[error("node (level {}, index {}) is missing from the store", .0.level, .0.index)]
    MissingNode(NodeId),
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old size {old_size} is larger than new size {new_size}")]
    SizeOrder {
        /// The old size.
        old_size: u64,
        /// The new size.
        new_size: u64,
    },
    /// The tree cannot grow further.
    #[error("the tree is full")]
    Full,
}

/// `MTH(D[start:end])` for a range that RFC 6962 hashes as one subtree:
/// `start` is a multiple of the largest power of two below `end − start`
/// (or of `end − start` itself, when that is a power of two).
///
/// Reads one stored node per set bit of `end − start`, largest first, and
/// folds them from the right, which is exactly the MTH split at the largest
/// power of two.
fn range_hash<S: NodeStore + ?Sized>(store: &S, start: u64, end: u64) -> Result<Hash, TreeError> {
    debug_assert!(start < end);
    let mut nodes = [EMPTY_ROOT; 64];
    let mut count = 0;
    let mut at = start;
    while at < end {
        let level = (end - at).ilog2();
        debug_assert_eq!(
            at % (1 << level),
            0,
            "range [{start}, {end}) is not a subtree"
        );
        let id = NodeId::new(level as u8, at >> level);
        nodes[count] = read(store, id)?;
        count += 1;
        at += 1 << level;
    }
    let mut hash = nodes[count - 1];
    for left in nodes[..count - 1].iter().rev() {
        hash = node_hash(left, &hash);
    }
    Ok(hash)
}

/// The largest power of two strictly below `n` (`n ≥ 2`): RFC 6962's `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// The root of the tree's first `size` leaves (`MTH(D[0:size])`).
pub fn root<S: NodeStore + ?Sized>(store: &S, size: u64) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_hash(store, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size`
/// leaves: RFC 6962 `PATH(index, D[0:size])`, leaf to root.
pub fn inclusion_proof<S: NodeStore + ?Sized>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::with_capacity(64);
    path(store, index, 0, size, &mut proof)?;
    Ok(proof)
}

/// `PATH(m, D[start:end])` with `m` relative to `start`, appended to `out`.
/// Recursion depth is at most 64: each level halves the range.
fn path<S: NodeStore + ?Sized>(
    store: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(store, m, start, start + k, out)?;
        out.push(range_hash(store, start + k, end)?);
    } else {
        path(store, m - k, start + k, end, out)?;
        out.push(range_hash(store, start, start + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of the first `old_size` leaves to
/// that of the first `new_size`: RFC 6962 `PROOF(old_size, D[0:new_size])`.
/// Empty when the sizes are equal or `old_size` is 0 (every tree extends
/// the empty one).
pub fn consistency_proof<S: NodeStore + ?Sized>(
    store: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, TreeError> {
    if old_size > new_size {
        return Err(TreeError::SizeOrder { old_size, new_size });
    }
    let mut proof = Vec::with_capacity(64);
    if old_size > 0 && old_size < new_size {
        subproof(store, old_size, 0, new_size, true, &mut proof)?;
    }
    Ok(proof)
}

/// `SUBPROOF(m, D[start:end], b)`, appended to `out`. Recursion depth is at
/// most 64: each level halves the range.
fn subproof<S: NodeStore + ?Sized>(
    store: &S,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Result<(), TreeError> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(range_hash(store, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(store, m, start, start + k, complete, out)?;
        out.push(range_hash(store, start + k, end)?);
    } else {
        subproof(store, m - k, start + k, end, false, out)?;
        out.push(range_hash(store, start, start + k)?);
    }
    Ok(())
}

/// The nodes that appending `leaf_hash` as leaf number `size` (0-based)
/// completes: the leaf itself, then one parent per trailing one bit of
/// `size`. Reads the left siblings from `store`.
pub fn append_nodes<S: NodeStore + ?Sized>(
    store: &S,
    size: u64,
    leaf_hash: Hash,
) -> Result<Vec<NodeWrite>, TreeError> {
    if size >= 1 << MAX_LEVEL {
        return Err(TreeError::Full);
    }
    let mut writes = Vec::with_capacity(1 + size.trailing_ones() as usize);
    let mut id = NodeId::new(0, size);
    let mut hash = leaf_hash;
    writes.push(NodeWrite { id, hash });
    while id.index & 1 == 1 {
        let left_id = NodeId::new(id.level, id.index - 1);
        let left = read(store, left_id)?;
        hash = node_hash(&left, &hash);
        id = NodeId::new(id.level + 1, id.index >> 1);
        writes.push(NodeWrite { id, hash });
    }
    Ok(writes)
}

/// One batch of appends over a store: the new nodes are read from the batch
/// first, so several leaves can be appended before anything is persisted.
#[derive(Debug)]
pub struct PendingNodes<'a, S: ?Sized> {
    /// The persisted tree the batch extends.
    base: &'a S,
    /// The tree size including the batch's leaves.
    size: u64,
    /// The batch's new nodes, by id.
    nodes: BTreeMap<NodeId, Hash>,
}

impl<'a, S: NodeStore + ?Sized> PendingNodes<'a, S> {
    /// A batch over `base`, whose tree has `size` leaves.
    pub fn new(base: &'a S, size: u64) -> Self {
        PendingNodes {
            base,
            size,
            nodes: BTreeMap::new(),
        }
    }

    /// The tree size with the batch's leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash to the batch.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<(), TreeError> {
        for write in append_nodes(self, self.size, leaf_hash)? {
            self.nodes.insert(write.id, write.hash);
        }
        self.size += 1;
        Ok(())
    }

    /// The nodes to persist, in key order.
    pub fn into_writes(self) -> Vec<NodeWrite> {
        self.nodes
            .into_iter()
            .map(|(id, hash)| NodeWrite { id, hash })
            .collect()
    }
}

impl<S: NodeStore + ?Sized> NodeStore for PendingNodes<'_, S> {
    type Error = S::Error;

    fn node(&self, id: NodeId) -> Result<Option<Hash>, S::Error> {
        match self.nodes.get(&id) {
            Some(hash) => Ok(Some(*hash)),
            None => self.base.node(id),
        }
    }
}

/// The root of a stream of leaves in O(log n) memory: the hashes of the
/// complete subtrees along the right edge (a compact range). It keeps no
/// tree, so it can recompute a root from the log alone to check a stored
/// tree against.
#[derive(Debug, Clone, Default)]
pub struct RootBuilder {
    /// `(level, hash)` of each complete subtree, left to right, levels
    /// strictly decreasing.
    edge: Vec<(u8, Hash)>,
    size: u64,
}

impl RootBuilder {
    /// No leaves yet.
    pub fn new() -> Self {
        RootBuilder::default()
    }

    /// The number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds the next leaf's hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut node = (0u8, leaf_hash);
        while let Some(&(level, left)) = self.edge.last() {
            if level != node.0 {
                break;
            }
            self.edge.pop();
            node = (level + 1, node_hash(&left, &node.1));
        }
        self.edge.push(node);
        self.size += 1;
    }

    /// `MTH` of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut edge = self.edge.iter().rev();
        let Some(&(_, mut hash)) = edge.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in edge {
            hash = node_hash(left, &hash);
        }
        hash
    }
}

/// A tree kept in memory: one vector of node hashes per level.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is node `(l, i)`; `levels[0]` holds the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf hash, returning the nodes it completed.
    pub fn append(&mut self, leaf_hash: Hash) -> Result<Vec<NodeWrite>, TreeError> {
        let writes = append_nodes(self, self.size(), leaf_hash)?;
        for write in &writes {
            self.store(*write);
        }
        Ok(writes)
    }

    /// Stores a node (e.g. one loaded from a backend). Nodes of a level
    /// must arrive in index order.
    pub fn store(&mut self, write: NodeWrite) {
        let level = usize::from(write.id.level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Vec::new);
        }
        assert_eq!(
            self.levels[level].len() as u64,
            write.id.index,
            "nodes of a level are stored in index order"
        );
        self.levels[level].push(write.hash);
    }

    /// The root at `size ≤ self.size()`.
    pub fn root(&self, size: u64) -> Result<Hash, TreeError> {
        root(self, size)
    }

    /// The inclusion proof of leaf `index` at tree size `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        inclusion_proof(self, index, size)
    }

    /// The consistency proof from `old_size` to `new_size`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TreeError> {
        consistency_proof(self, old_size, new_size)
    }
}

impl NodeStore for MemoryTree {
    type Error = std::convert::Infallible;

    fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error> {
        let Ok(index) = usize::try_from(id.index) else {
            return Ok(None);
        };
        Ok(self
            .levels
            .get(usize::from(id.level))
            .and_then(|level| level.get(index))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::leaf::leaf_hash;

    /// Counts the nodes read, to check the O(log n) bound.
    struct Counting<'a> {
        tree: &'a MemoryTree,
        reads: Cell<u64>,
    }

    impl NodeStore for Counting<'_> {
        type Error = std::convert::Infallible;

        fn node(&self, id: NodeId) -> Result<Option<Hash>, Self::Error> {
            self.reads.set(self.reads.get() + 1);
            self.tree.node(id)
        }
    }

    fn tree(size: u64) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for i in 0..size {
            tree.append(leaf_hash(&i.to_be_bytes())).unwrap();
        }
        tree
    }

    #[test]
    fn appends_write_the_completed_subtrees() {
        let mut tree = MemoryTree::new();
        let ids = |writes: Vec<NodeWrite>| -> Vec<(u8, u64)> {
            writes.iter().map(|w| (w.id.level, w.id.index)).collect()
        };
        assert_eq!(ids(tree.append([0; 32]).unwrap()), [(0, 0)]);
        assert_eq!(ids(tree.append([1; 32]).unwrap()), [(0, 1), (1, 0)]);
        assert_eq!(ids(tree.append([2; 32]).unwrap()), [(0, 2)]);
        assert_eq!(ids(tree.append([3; 32]).unwrap()), [(0, 3), (1, 1), (2, 0)]);
        assert_eq!(
            tree.node(NodeId::new(2, 0)),
            Ok(Some(tree.root(4).unwrap()))
        );
    }

    #[test]
    fn the_root_builder_agrees_with_the_stored_tree_at_every_size() {
        let whole = tree(300);
        let mut builder = RootBuilder::new();
        assert_eq!(builder.root(), EMPTY_ROOT);
        for i in 0..300u64 {
            builder.push(leaf_hash(&i.to_be_bytes()));
            assert_eq!(builder.size(), i + 1);
            assert_eq!(builder.root(), whole.root(i + 1).unwrap(), "size {}", i + 1);
        }
    }

    #[test]
    fn a_pending_batch_writes_what_single_appends_write() {
        let mut whole = tree(13);
        let base = tree(5);
        let mut batch = PendingNodes::new(&base, 5);
        for i in 5u64..13 {
            batch.append(leaf_hash(&i.to_be_bytes())).unwrap();
        }
        assert_eq!(batch.size(), 13);
        let mut restored = base.clone();
        for write in batch.into_writes() {
            // Key order is level-major, so each level arrives in index order.
            restored.store(write);
        }
        whole.append([9; 32]).unwrap();
        restored.append([9; 32]).unwrap();
        assert_eq!(restored.levels, whole.levels);
    }

    #[test]
    fn keys_order_levels_then_indices() {
        let id = NodeId::new(3, 0x0102_0304_0506_0708);
        assert_eq!(NodeId::from_key(id.key()), id);
        assert!(NodeId::new(0, u64::MAX).key() < NodeId::new(1, 0).key());
        assert!(NodeId::new(1, 255).key() < NodeId::new(1, 256).key());
    }

    #[test]
    fn reads_are_logarithmic() {
        let size = 1000u64;
        let full = tree(size);
        let store = Counting {
            tree: &full,
            reads: Cell::new(0),
        };
        let bound = 3 * u64::from((size).ilog2() + 1);
        for n in 1..=size {
            store.reads.set(0);
            root(&store, n).unwrap();
            assert!(store.reads.get() <= bound, "root({n})");
            for m in [0, n / 3, n / 2, n - 1] {
                store.reads.set(0);
                inclusion_proof(&store, m, n).unwrap();
                assert!(store.reads.get() <= bound, "inclusion({m}, {n})");
                store.reads.set(0);
                consistency_proof(&store, m, n).unwrap();
                assert!(store.reads.get() <= bound, "consistency({m}, {n})");
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let t = tree(5);
        assert!(matches!(
            t.inclusion_proof(5, 5),
            Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
        ));
        assert!(matches!(
            t.consistency_proof(4, 3),
            Err(TreeError::SizeOrder {
                old_size: 4,
                new_size: 3
            })
        ));
        // Six leaves are the subtrees [0, 4) and [4, 6); the second is absent.
        assert!(matches!(
            t.root(6),
            Err(TreeError::MissingNode(NodeId { level: 1, index: 2 }))
        ));
        assert_eq!(t.root(0).unwrap(), EMPTY_ROOT);
    }

    /// A store whose reads fail, as a disk can.
    struct Broken;

    #[derive(Debug, thiserror::Error)]
    #[error("disk on fire")]
    struct Fire;

    impl NodeStore for Broken {
        type Error = Fire;

        fn node(&self, _: NodeId) -> Result<Option<Hash>, Fire> {
            Err(Fire)
        }
    }

    #[test]
    fn storage_errors_pass_through_with_their_source() {
        let Err(TreeError::Storage(error)) = root(&Broken, 3) else {
            panic!("a failed read must surface");
        };
        assert!(error.downcast_ref::<Fire>().is_some());
        assert!(matches!(
            append_nodes(&Broken, 1, [0; 32]),
            Err(TreeError::Storage(_))
        ));
    }
}
