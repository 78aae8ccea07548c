//! Receipts: the log's signed promise, given at append time, that an entry
//! is at a position, like Rekor's signed entry timestamp.
//!
//! The signed statement is a binary encoding of (origin, position, leaf
//! hash, time):
//!
//! | offset  | size | field                                          |
//! |---------|------|------------------------------------------------|
//! | 0       | 27   | context, `rectify entry statement v1` and NUL  |
//! | 27      | 2    | origin length `o`, big-endian `u16`            |
//! | 29      | `o`  | origin, UTF-8                                  |
//! | 29+o    | 8    | position, big-endian `u64`                     |
//! | 37+o    | 32   | leaf hash                                      |
//! | 69+o    | 8    | time, Unix seconds, big-endian `i64`           |
//!
//! The NUL in the context is a control character no signed-note text may
//! hold, so a statement signature can never pass as a checkpoint signature
//! by the same key, nor the reverse.

use crate::checkpoint::{Checkpoint, Signer, Verifier};
use crate::leaf::{Hash, Leaf, LeafError};
use crate::verify::{VerifyError, verify_inclusion};

/// The context prefix of every signed statement (version 1).
const CONTEXT: &[u8; 27] = b"rectify entry statement v1\0";

/// Why a receipt is refused; each variant is one kind of failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The statement's signing key is not one the reader knows.
    #[error("receipt signed by unknown key {name}+{key_id:08x}")]
    UnknownKey {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The signature does not verify: the statement was changed or forged.
    #[error("receipt signature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The key name.
        name: String,
        /// The key id.
        key_id: u32,
    },
    /// The entry's leaf hash is not the one the log signed for its
    /// position: the entry was changed after it was acknowledged.
    #[error(
        "the entry at position {position} is not the one the receipt was given for: it was changed"
    )]
    ChangedEntry {
        /// The position.
        position: u64,
    },
    /// The leaf's position is not the statement's.
    #[error("the leaf is at position {leaf}, the receipt is for position {statement}")]
    PositionMismatch {
        /// The leaf's position.
        leaf: u64,
        /// The statement's position.
        statement: u64,
    },
    /// The receipt is from another log.
    #[error("the receipt is from log {receipt:?}, the checkpoint from {checkpoint:?}")]
    OriginMismatch {
        /// The receipt's origin.
        receipt: String,
        /// The checkpoint's origin.
        checkpoint: String,
    },
    /// The origin is longer than a statement can hold.
    #[error("origin is {0} bytes, over the 65535-byte limit")]
    OriginTooLong(usize),
    /// The leaf cannot be encoded.
    #[error(transparent)]
    Leaf(#[from] LeafError),
    /// The inclusion proof against a checkpoint failed.
    #[error(transparent)]
    Inclusion(#[from] VerifyError),
}

/// What the log states about one entry when it accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryStatement {
    /// The log's origin, as in its checkpoints.
    pub origin: String,
    /// The entry's global position, from 1.
    pub position: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// When the log accepted it, Unix seconds (the caller's clock).
    pub time_unix_s: i64,
}

impl EntryStatement {
    /// The canonical bytes that are signed (see the module doc's table).
    pub fn encode(&self) -> Result<Vec<u8>, ReceiptError> {
        let origin_len = u16::try_from(self.origin.len())
            .map_err(|_| ReceiptError::OriginTooLong(self.origin.len()))?;
        let mut out = Vec::with_capacity(CONTEXT.len() + 2 + self.origin.len() + 8 + 32 + 8);
        out.extend_from_slice(CONTEXT);
        out.extend_from_slice(&origin_len.to_be_bytes());
        out.extend_from_slice(self.origin.as_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        out.extend_from_slice(&self.leaf_hash);
        out.extend_from_slice(&self.time_unix_s.to_be_bytes());
        Ok(out)
    }

    /// Signs the statement.
    pub fn sign(self, signer: &Signer) -> Result<SignedStatement, ReceiptError> {
        let signature = signer.sign(&self.encode()?);
        Ok(SignedStatement {
            statement: self,
            key_name: signer.name().to_owned(),
            key_id: signer.key_id(),
            signature,
        })
    }
}

/// An entry statement with the log's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedStatement {
    /// What is stated.
    pub statement: EntryStatement,
    /// The signing key's name.
    pub key_name: String,
    /// The signing key's C2SP key id.
    pub key_id: u32,
    /// The Ed25519 signature of [`EntryStatement::encode`].
    pub signature: [u8; 64],
}

impl SignedStatement {
    /// Checks the signature with the known key of this name and id.
    pub fn verify(&self, verifiers: &[Verifier]) -> Result<(), ReceiptError> {
        let verifier = verifiers
            .iter()
            .find(|v| v.name() == self.key_name && v.key_id() == self.key_id)
            .ok_or_else(|| ReceiptError::UnknownKey {
                name: self.key_name.clone(),
                key_id: self.key_id,
            })?;
        if verifier.verifies(&self.statement.encode()?, &self.signature) {
            Ok(())
        } else {
            Err(ReceiptError::BadSignature {
                name: self.key_name.clone(),
                key_id: self.key_id,
            })
        }
    }
}

/// What a client is given when its event is appended: the leaf, and the
/// signed statement of its position and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's leaf.
    pub leaf: Leaf,
    /// The log's signed statement about it.
    pub signed: SignedStatement,
}

impl Receipt {
    /// Signs a receipt for `leaf` at `time_unix_s`.
    pub fn issue(
        origin: &str,
        leaf: Leaf,
        time_unix_s: i64,
        signer: &Signer,
    ) -> Result<Receipt, ReceiptError> {
        let statement = EntryStatement {
            origin: origin.to_owned(),
            position: leaf.position,
            leaf_hash: leaf.hash()?,
            time_unix_s,
        };
        Ok(Receipt {
            signed: statement.sign(signer)?,
            leaf,
        })
    }

    /// Checks the signature, and that the leaf is the one stated.
    pub fn verify(&self, verifiers: &[Verifier]) -> Result<(), ReceiptError> {
        self.signed.verify(verifiers)?;
        self.check_entry(&self.leaf)
    }

    /// Checks that `entry`, as the log serves it now, is the entry this
    /// receipt was given for.
    pub fn check_entry(&self, entry: &Leaf) -> Result<(), ReceiptError> {
        let statement = &self.signed.statement;
        if entry.position != statement.position {
            return Err(ReceiptError::PositionMismatch {
                leaf: entry.position,
                statement: statement.position,
            });
        }
        if entry.hash()? != statement.leaf_hash {
            return Err(ReceiptError::ChangedEntry {
                position: statement.position,
            });
        }
        Ok(())
    }

    /// Checks that the receipt's entry is in the tree a checkpoint commits
    /// to, given an inclusion proof for it at the checkpoint's size.
    pub fn verify_in(&self, checkpoint: &Checkpoint, proof: &[Hash]) -> Result<(), ReceiptError> {
        let statement = &self.signed.statement;
        if statement.origin != checkpoint.origin {
            return Err(ReceiptError::OriginMismatch {
                receipt: statement.origin.clone(),
                checkpoint: checkpoint.origin.clone(),
            });
        }
        let index = statement
            .position
            .checked_sub(1)
            .ok_or(LeafError::ZeroPosition)?;
        verify_inclusion(
            &statement.leaf_hash,
            index,
            checkpoint.size,
            proof,
            &checkpoint.root,
        )?;
        Ok(())
    }
}
