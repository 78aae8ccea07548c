//! Transparency for the global event log: a Merkle tree over its events,
//! proofs that an event is in it and that it only grows, signed
//! checkpoints and signed receipts.
//!
//! This crate owns the leaf encoding ([`Leaf`]), the RFC 6962 hashing
//! (SHA-256, [`leaf_hash`], [`node_hash`]), the stored-node tree and its
//! proofs ([`tree`]), the client-side verifiers ([`verify`]), C2SP signed
//! checkpoints ([`checkpoint`]) and receipts ([`receipt`]). It does no I/O,
//! reads no clock and draws no random numbers: nodes are read through
//! [`NodeStore`], times and keys arrive as arguments. It knows nothing of
//! the event store; the caller turns a recorded event into a [`Leaf`].
//!
//! # Invariants
//!
//! 1. Leaf index = position − 1: the tree has exactly one leaf per event of
//!    the log, in log order, and a tree of size `n` covers positions
//!    `1..=n`.
//! 2. A leaf holds the event's position, id, stream, type and stored BLAKE3
//!    chain hash in one canonical, versioned encoding, and nothing else: no
//!    payload and no personal data, so erasure never invalidates a proof.
//! 3. Hashing is RFC 6962 (`SHA-256(0x00 ‖ leaf)`, `SHA-256(0x01 ‖ l ‖ r)`,
//!    `MTH` split at the largest power of two below the size), and proofs
//!    are RFC 6962 `PATH` and `PROOF`, so Certificate Transparency and Go
//!    `sumdb/tlog` verifiers check them unchanged.
//! 4. Stored nodes are complete subtrees, written once when their last leaf
//!    arrives and never changed; the root at any size, an inclusion proof
//!    and a consistency proof each read O(log n) of them.
//! 5. Verification ([`verify`]) needs no tree: only the proof, the sizes
//!    and the roots. Every failure is a typed error naming what failed.
//! 6. Checkpoints are C2SP `tlog-checkpoint` bodies in C2SP signed notes
//!    with Ed25519 signatures; a note is accepted only if a known key signed
//!    it, and any bad signature by a known key rejects it.
//! 7. Receipts sign a binary statement that can never be read as a note
//!    body, so a receipt signature is never a checkpoint signature.

pub mod checkpoint;
pub mod leaf;
pub mod receipt;
pub mod tree;
pub mod verify;

pub use checkpoint::{Checkpoint, NoteError, Signer, Verifier, open_checkpoint, sign_checkpoint};
pub use leaf::{EMPTY_ROOT, Hash, LEAF_VERSION, Leaf, LeafError, leaf_hash, node_hash};
pub use receipt::{EntryStatement, Receipt, ReceiptError, SignedStatement};
pub use tree::{
    MemoryTree, NodeId, NodeStore, NodeWrite, PendingNodes, TreeError, append_nodes,
    consistency_proof, inclusion_proof, root,
};
pub use verify::{VerifyError, verify_consistency, verify_inclusion};
