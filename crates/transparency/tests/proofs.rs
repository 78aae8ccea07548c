//! Proofs at every small size and at random large ones: the incremental
//! tree agrees with the RFC 6962 definition, every honest proof verifies,
//! and every altered one fails with the error that names the change.

use std::sync::OnceLock;

use proptest::prelude::*;
use rectify_transparency::verify::{consistency_proof_len, inclusion_proof_len};
use rectify_transparency::{
    EMPTY_ROOT, Hash, MemoryTree, VerifyError, leaf_hash, node_hash, verify_consistency,
    verify_inclusion,
};

/// Every size up to this is checked exhaustively.
const SMALL: u64 = 300;

/// The largest tree the random cases draw from.
const LARGE: u64 = 20_000;

fn leaf(i: u64) -> Hash {
    static LEAVES: OnceLock<Vec<Hash>> = OnceLock::new();
    let leaves = LEAVES.get_or_init(|| (0..=LARGE).map(|i| leaf_hash(&i.to_be_bytes())).collect());
    leaves
        .get(i as usize)
        .copied()
        .unwrap_or_else(|| leaf_hash(&i.to_be_bytes()))
}

/// `MTH` exactly as RFC 6962 §2.1 writes it, recursive over the leaves.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = 1 << (n - 1).ilog2();
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

fn tree(size: u64) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..size {
        tree.append(leaf(i)).unwrap();
    }
    tree
}

fn small() -> &'static (MemoryTree, Vec<Hash>) {
    static TREE: OnceLock<(MemoryTree, Vec<Hash>)> = OnceLock::new();
    TREE.get_or_init(|| {
        let tree = tree(SMALL);
        let roots = (0..=SMALL).map(|n| tree.root(n).unwrap()).collect();
        (tree, roots)
    })
}

fn large() -> &'static MemoryTree {
    static TREE: OnceLock<MemoryTree> = OnceLock::new();
    TREE.get_or_init(|| tree(LARGE))
}

fn flip(hash: &Hash) -> Hash {
    let mut changed = *hash;
    changed[31] ^= 1;
    changed
}

#[test]
fn the_incremental_root_is_the_reference_root_at_every_size() {
    let (_, roots) = small();
    let leaves: Vec<Hash> = (0..SMALL).map(leaf).collect();
    for n in 0..=SMALL {
        assert_eq!(
            roots[n as usize],
            reference_root(&leaves[..n as usize]),
            "size {n}"
        );
    }
}

#[test]
fn every_inclusion_proof_verifies_and_no_altered_one_does() {
    let (tree, roots) = small();
    for size in 1..=SMALL {
        let root = &roots[size as usize];
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(Some(proof.len()), inclusion_proof_len(index, size));
            verify_inclusion(&leaf(index), index, size, &proof, root).unwrap();
            check_inclusion_fails(&proof, index, size, root);
        }
    }
}

/// Every alteration of an honest inclusion proof fails, with its name.
fn check_inclusion_fails(proof: &[Hash], index: u64, size: u64, root: &Hash) {
    let mismatch = Err(VerifyError::RootMismatch { index, size });
    let wrong_leaf = leaf(index + 1_000_000);
    assert_eq!(
        verify_inclusion(&wrong_leaf, index, size, proof, root),
        mismatch
    );
    assert_eq!(
        verify_inclusion(&leaf(index), index, size, proof, &flip(root)),
        mismatch
    );
    if let Some(first) = proof.first() {
        let mut altered = proof.to_vec();
        altered[0] = flip(first);
        assert_eq!(
            verify_inclusion(&leaf(index), index, size, &altered, root),
            mismatch
        );
    }
    // Another index needs another proof: a different length or root.
    let other = (index + 1) % size;
    if other != index {
        let result = verify_inclusion(&leaf(index), other, size, proof, root);
        assert!(
            matches!(
                result,
                Err(VerifyError::RootMismatch { .. } | VerifyError::ProofLength { .. })
            ),
            "leaf {index} passed as {other} in {size}: {result:?}"
        );
    }
    assert_eq!(
        verify_inclusion(&leaf(index), size, size, proof, root),
        Err(VerifyError::IndexOutOfRange { index: size, size })
    );
    let mut longer = proof.to_vec();
    longer.push(*root);
    assert!(matches!(
        verify_inclusion(&leaf(index), index, size, &longer, root),
        Err(VerifyError::ProofLength { .. })
    ));
}

#[test]
fn every_consistency_proof_verifies_and_no_altered_one_does() {
    let (tree, roots) = small();
    for new in 0..=SMALL {
        let new_root = &roots[new as usize];
        for old in 0..=new {
            let old_root = &roots[old as usize];
            let proof = tree.consistency_proof(old, new).unwrap();
            assert_eq!(Some(proof.len()), consistency_proof_len(old, new));
            verify_consistency(old, new, old_root, new_root, &proof).unwrap();
            check_consistency_fails(
                &proof,
                (old, new),
                (old_root, new_root),
                Alter::FirstAndLast,
            );
        }
    }
}

/// Every alteration of an honest consistency proof fails, with its name.
/// Which hashes of a consistency proof are altered, one at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alter {
    /// Each of them.
    EveryHash,
    /// The first and the last (each hash at every pair would be too slow).
    FirstAndLast,
}

fn check_consistency_fails(
    proof: &[Hash],
    (old, new): (u64, u64),
    (old_root, new_root): (&Hash, &Hash),
    alter: Alter,
) {
    let bad_old = verify_consistency(old, new, &flip(old_root), new_root, proof);
    let bad_new = verify_consistency(old, new, old_root, &flip(new_root), proof);
    if old == new {
        assert_eq!(bad_old, Err(VerifyError::Fork { size: old }));
        assert_eq!(bad_new, Err(VerifyError::Fork { size: old }));
    } else if old == 0 {
        let old_mismatch = Err(VerifyError::OldRootMismatch {
            old_size: 0,
            new_size: new,
        });
        assert_eq!(bad_old, old_mismatch);
        // Nothing binds the new root to the empty tree: the new root is
        // checked by its own signature, not by this proof.
        assert_eq!(bad_new, Ok(()));
    } else {
        let old_mismatch = VerifyError::OldRootMismatch {
            old_size: old,
            new_size: new,
        };
        let new_mismatch = VerifyError::NewRootMismatch {
            old_size: old,
            new_size: new,
        };
        // A complete old tree's root is the proof's first node, so a wrong
        // one is seen only at the new root.
        let bad_old_seen_as = if old.is_power_of_two() {
            new_mismatch.clone()
        } else {
            old_mismatch.clone()
        };
        assert_eq!(bad_old, Err(bad_old_seen_as));
        assert_eq!(bad_new, Err(new_mismatch.clone()));
        let altered_at = if alter == Alter::EveryHash {
            (0..proof.len()).collect()
        } else {
            vec![0, proof.len() - 1]
        };
        for i in altered_at {
            let mut altered = proof.to_vec();
            altered[i] = flip(&altered[i]);
            let result = verify_consistency(old, new, old_root, new_root, &altered);
            assert!(
                result == Err(old_mismatch.clone()) || result == Err(new_mismatch.clone()),
                "altered hash {i} of {old}→{new} gave {result:?}"
            );
        }
    }
    if old < new {
        assert_eq!(
            verify_consistency(new, old, new_root, old_root, proof),
            Err(VerifyError::Shrunk {
                old_size: new,
                new_size: old
            })
        );
    }
    let mut longer = proof.to_vec();
    longer.push(*new_root);
    assert!(matches!(
        verify_consistency(old, new, old_root, new_root, &longer),
        Err(VerifyError::ProofLength { .. })
    ));
}

fn sizes() -> impl Strategy<Value = (u64, u64)> {
    (1..=LARGE).prop_flat_map(|new| (0..=new, Just(new)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_at_random_large_sizes((index, size) in (1..=LARGE).prop_flat_map(|n| (0..n, Just(n)))) {
        let tree = large();
        let root = tree.root(size).unwrap();
        let proof = tree.inclusion_proof(index, size).unwrap();
        prop_assert!(verify_inclusion(&leaf(index), index, size, &proof, &root).is_ok());
        check_inclusion_fails(&proof, index, size, &root);
    }

    #[test]
    fn consistency_at_random_large_sizes((old, new) in sizes()) {
        let tree = large();
        let (old_root, new_root) = (tree.root(old).unwrap(), tree.root(new).unwrap());
        let proof = tree.consistency_proof(old, new).unwrap();
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof).is_ok());
        check_consistency_fails(&proof, (old, new), (&old_root, &new_root), Alter::EveryHash);
    }
}
