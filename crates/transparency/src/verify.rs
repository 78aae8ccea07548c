//! What a client runs: inclusion and consistency proof verification,
//! independent of any stored tree (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! A proof's length is fixed by the sizes and the index, so it is checked
//! before any hashing: [`VerifyError::ProofLength`] says how many hashes
//! the shape needs.

use crate::leaf::{EMPTY_ROOT, Hash, node_hash};

/// Why a proof does not verify; each variant names one failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is at or past the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for its sizes and index.
    #[error("proof has {actual} hashes where this tree shape needs {expected}")]
    ProofLength {
        /// The number the shape needs.
        expected: usize,
        /// The number given.
        actual: usize,
    },
    /// The leaf and inclusion proof lead to another root: the leaf is not
    /// in the tree the root commits to (a changed entry, or a wrong proof).
    #[error(
        "the leaf at index {index} is not in the tree of size {size}: the proof leads to another root"
    )]
    RootMismatch {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The newer tree is smaller than the older one: entries were removed.
    #[error("the log shrank from {old_size} to {new_size} entries")]
    Shrunk {
        /// The older size.
        old_size: u64,
        /// The newer, smaller size.
        new_size: u64,
    },
    /// Two different roots for the same tree size: the log forked.
    #[error("two different roots for tree size {size}: the log forked")]
    Fork {
        /// The size both roots claim.
        size: u64,
    },
    /// The proof does not rebuild the old root from the new tree: the new
    /// tree does not extend the old one (an entry under the old root was
    /// changed or removed), or the proof is wrong.
    #[error(
        "the tree of size {new_size} does not extend the tree of size {old_size}: the old root does not match"
    )]
    OldRootMismatch {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// The two checkpoints are of different logs.
    #[error("checkpoints of different logs: {old:?} and {new:?}")]
    OriginMismatch {
        /// The older checkpoint's origin.
        old: String,
        /// The newer checkpoint's origin.
        new: String,
    },
    /// The proof does not lead to the new root. When the old size is a
    /// power of two the old root is itself the proof's first node, so a
    /// tree that does not extend the old one is reported here too.
    #[error("the consistency proof from {old_size} to {new_size} does not lead to the new root")]
    NewRootMismatch {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
}

/// The number of hashes in an inclusion proof for `index < size`: the
/// inner part (below the level where the leaf's path leaves the right
/// border of the tree) and the border part (one per remaining set bit).
fn inclusion_shape(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    (inner, border)
}

/// The number of hashes in an inclusion proof of leaf `index` in a tree of
/// `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> Option<usize> {
    (index < size).then(|| {
        let (inner, border) = inclusion_shape(index, size);
        inner + border
    })
}

/// The number of hashes in a consistency proof from `old_size` to
/// `new_size` (0 when they are equal or `old_size` is 0).
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Option<usize> {
    if old_size > new_size {
        return None;
    }
    if old_size == 0 || old_size == new_size {
        return Some(0);
    }
    let shift = old_size.trailing_zeros() as usize;
    let (inner, border) = inclusion_shape(old_size - 1, new_size);
    let seed = usize::from(!old_size.is_power_of_two());
    Some(seed + inner - shift + border)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let expected =
        inclusion_proof_len(index, size).ok_or(VerifyError::IndexOutOfRange { index, size })?;
    if proof.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if root_from_inclusion(leaf_hash, index, size, proof) == Some(*root) {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch { index, size })
    }
}

/// The root an inclusion proof leads to, or `None` when its length does
/// not fit the shape (RFC 9162 §2.1.3.2, steps 2–5).
pub fn root_from_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return None;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    (s_n == 0).then_some(r)
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root` (RFC 9162 §2.1.4.2).
///
/// Equal sizes need an empty proof and equal roots (different roots are a
/// [`VerifyError::Fork`]); the empty tree (size 0, root [`EMPTY_ROOT`]) is
/// extended by every tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    let expected = consistency_proof_len(old_size, new_size)
        .ok_or(VerifyError::Shrunk { old_size, new_size })?;
    if proof.len() != expected {
        return Err(VerifyError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(VerifyError::Fork { size: old_size })
        };
    }
    if old_size == 0 {
        return if *old_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(VerifyError::OldRootMismatch { old_size, new_size })
        };
    }
    let (old, new) = roots_from_consistency(old_size, new_size, old_root, proof);
    if old != *old_root {
        Err(VerifyError::OldRootMismatch { old_size, new_size })
    } else if new != *new_root {
        Err(VerifyError::NewRootMismatch { old_size, new_size })
    } else {
        Ok(())
    }
}

/// The old and new roots a consistency proof of the right length leads to
/// (RFC 9162 §2.1.4.2, steps 2–7, for `0 < old_size < new_size`).
fn roots_from_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    proof: &[Hash],
) -> (Hash, Hash) {
    // Step 2: a complete old tree is its own first proof node.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (&proof[0], &proof[1..])
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    debug_assert_eq!(s_n, 0, "the length check admits only full-length proofs");
    (f_r, s_r)
}
