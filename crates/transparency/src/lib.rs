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
//!
//! # The whole round, in memory
//!
//! The log appends a leaf per event (persisting the nodes `append` returns
//! in the same batch as the event), gives the appender a receipt, and
//! publishes signed checkpoints; a client checks the receipt, the entry's
//! inclusion and that each checkpoint extends the last one it saw.
//!
//! ```
//! use rectify_transparency::*;
//!
//! let signer = Signer::new("rectify.example/log", [7; 32]).unwrap(); // caller's key
//! let mut tree = MemoryTree::new();
//! let mut receipts = Vec::new();
//! for position in 1..=5u64 {
//!     let leaf = Leaf {
//!         position,
//!         event_id: [position as u8; 16],
//!         stream: format!("complaint-{position}"),
//!         event_type: "ComplaintReceived".into(),
//!         event_hash: [0xee; 32],
//!     };
//!     let _new_nodes = tree.append(leaf.hash().unwrap()).unwrap();
//!     receipts.push(Receipt::issue("rectify.example/log", leaf, 1_764_500_000, &signer).unwrap());
//! }
//! let checkpoint = |size| Checkpoint {
//!     origin: "rectify.example/log".into(),
//!     size,
//!     root: tree.root(size).unwrap(),
//!     extensions: vec![],
//! };
//! let old_note = sign_checkpoint(&checkpoint(3), &[&signer]).unwrap();
//! let new_note = sign_checkpoint(&checkpoint(5), &[&signer]).unwrap();
//!
//! // The client's side: only the verifier key, the notes and the proofs.
//! let verifier: Verifier = signer.verifier().to_string().parse().unwrap();
//! let old = open_checkpoint(&old_note, &[verifier.clone()]).unwrap();
//! let new = open_checkpoint(&new_note, &[verifier.clone()]).unwrap();
//! new.verify_extends(&old, &tree.consistency_proof(3, 5).unwrap()).unwrap();
//! let receipt = &receipts[1];
//! receipt.verify(&[verifier]).unwrap();
//! receipt.verify_in(&new, &tree.inclusion_proof(1, 5).unwrap()).unwrap();
//! ```

pub mod checkpoint;
pub mod leaf;
pub mod receipt;
pub mod tree;
pub mod verify;

pub use checkpoint::{Checkpoint, NoteError, Signer, Verifier, open_checkpoint, sign_checkpoint};
pub use leaf::{EMPTY_ROOT, Hash, LEAF_VERSION, Leaf, LeafError, leaf_hash, node_hash};
pub use receipt::{EntryStatement, Receipt, ReceiptError, SignedStatement};
pub use tree::{
    MemoryTree, NodeId, NodeStore, NodeWrite, PendingNodes, RootBuilder, TreeError, append_nodes,
    consistency_proof, inclusion_proof, root,
};
pub use verify::{VerifyError, verify_consistency, verify_inclusion};
