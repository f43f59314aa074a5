//! Property tests of the Merkle tree against an independent implementation,
//! `ct-merkle` 0.3.0 (a dev-dependency only), and of the verifiers against
//! arbitrary input (spec `TL-VER-004`, `TL-VER-003`, `TL-PROOF-*`). Named
//! `prop_*` so `cargo xtask proptest` runs them at a nightly-sized case
//! count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2::Sha256;
use tlog::{
    Hash, InclusionCheck, MemoryHashStore, VerifyError, consistency_proof, inclusion_proof,
    leaf_hash, merkle_root, tree_root, verify_consistency, verify_inclusion, verify_inclusions,
};

/// The default case count unless `PROPTEST_CASES` overrides it.
fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config
}

/// Entries of 0..40 bytes; 1..=max of them.
fn entries(max: usize) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..=max)
}

struct Trees {
    ours: MemoryHashStore,
    /// `oracle[n - 1]` is ct-merkle's tree of the first `n` entries.
    oracle: Vec<MemoryBackedTree<Sha256, Vec<u8>>>,
}

fn build(entries: &[Vec<u8>]) -> Trees {
    let ours = MemoryHashStore::from_entries(entries).unwrap();
    let mut oracle = Vec::with_capacity(entries.len());
    let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    for entry in entries {
        tree.push(entry.clone());
        oracle.push(tree.clone());
    }
    Trees { ours, oracle }
}

fn oracle_root(tree: &MemoryBackedTree<Sha256, Vec<u8>>) -> Hash {
    Hash::from_slice(tree.root().as_bytes().as_slice()).unwrap()
}

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.as_bytes().to_vec()).collect()
}

fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.chunks(32).map(<[u8]>::to_vec).collect()
}

proptest! {
    #![proptest_config(config(64))]

    /// TL-VER-004, TL-PROOF-001, TL-HASH-001: the root of every prefix
    /// equals ct-merkle's, from the store and from the leaf hashes.
    #[test]
    fn prop_roots_match_ct_merkle(entries in entries(90)) {
        let trees = build(&entries);
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        for n in 1..=entries.len() {
            let expected = oracle_root(&trees.oracle[n - 1]);
            prop_assert_eq!(tree_root(&trees.ours, n as u64).unwrap(), expected);
            prop_assert_eq!(merkle_root(&leaves[..n]), expected);
        }
    }

    /// TL-VER-004, TL-PROOF-002, TL-VER-001: inclusion proofs are
    /// byte-identical to ct-merkle's, and each side verifies the other's.
    #[test]
    fn prop_inclusion_proofs_match_ct_merkle(
        entries in entries(90),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..8),
    ) {
        let trees = build(&entries);
        for (size_pick, index_pick) in picks {
            let size = size_pick.index(entries.len()) + 1;
            let index = index_pick.index(size);
            let oracle = &trees.oracle[size - 1];
            let theirs = oracle.prove_inclusion(index);
            let ours = inclusion_proof(&trees.ours, size as u64, index as u64).unwrap();
            prop_assert_eq!(concat(&ours), theirs.as_bytes().to_vec());
            let root = oracle_root(oracle);
            verify_inclusion(
                leaf_hash(&entries[index]).as_bytes(),
                index as u64,
                size as u64,
                &split(theirs.as_bytes()),
                root.as_bytes(),
            ).unwrap();
            let ours_for_them = InclusionProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
            oracle.root().verify_inclusion(&entries[index], index as u64, &ours_for_them).unwrap();
        }
    }

    /// TL-VER-004, TL-PROOF-003, TL-VER-002: consistency proofs are
    /// byte-identical to ct-merkle's, and each side verifies the other's.
    #[test]
    fn prop_consistency_proofs_match_ct_merkle(
        entries in entries(90),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..8),
    ) {
        let trees = build(&entries);
        for (new_pick, old_pick) in picks {
            let new = new_pick.index(entries.len()) + 1;
            let old = old_pick.index(new) + 1;
            let ours = consistency_proof(&trees.ours, old as u64, new as u64).unwrap();
            let (old_root, new_root) = (oracle_root(&trees.oracle[old - 1]), oracle_root(&trees.oracle[new - 1]));
            verify_consistency(old as u64, new as u64, old_root.as_bytes(), new_root.as_bytes(), &ours).unwrap();
            if old == new {
                prop_assert!(ours.is_empty());
                continue;
            }
            let theirs = trees.oracle[new - 1].prove_consistency(new - old);
            prop_assert_eq!(concat(&ours), theirs.as_bytes().to_vec());
            let ours_for_them = ConsistencyProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
            let old_ct = RootHash::<Sha256>::new(*trees.oracle[old - 1].root().as_bytes(), old as u64);
            trees.oracle[new - 1].root().verify_consistency(&old_ct, &ours_for_them).unwrap();
        }
    }

    /// TL-VER-002: a proof from a tree whose first `old` entries differ in
    /// one entry never verifies against the honest old root (the immudb
    /// "linear" forgery, as a Merkle test).
    #[test]
    fn prop_rewritten_history_is_caught(
        entries in entries(60),
        picks in (any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()),
    ) {
        let new = picks.0.index(entries.len()) + 1;
        let old = picks.1.index(new) + 1;
        let tampered_at = picks.2.index(old);
        let honest = MemoryHashStore::from_entries(&entries[..new]).unwrap();
        let mut forged_entries = entries[..new].to_vec();
        forged_entries[tampered_at].push(0xff);
        let forged = MemoryHashStore::from_entries(&forged_entries).unwrap();
        let honest_old = tree_root(&honest, old as u64).unwrap();
        let forged_new = tree_root(&forged, new as u64).unwrap();
        let proof = consistency_proof(&forged, old as u64, new as u64).unwrap();
        prop_assert!(verify_consistency(old as u64, new as u64, honest_old.as_bytes(), forged_new.as_bytes(), &proof).is_err());
        // And the tampered entry is not provably in the honest tree.
        let honest_new = tree_root(&honest, new as u64).unwrap();
        let path = inclusion_proof(&forged, new as u64, tampered_at as u64).unwrap();
        prop_assert!(verify_inclusion(
            leaf_hash(&forged_entries[tampered_at]).as_bytes(),
            tampered_at as u64,
            new as u64,
            &path,
            honest_new.as_bytes(),
        ).is_err());
    }

    /// TL-VER-003: arbitrary bytes, sizes and indexes never panic the
    /// verifiers; they verify only when they should.
    #[test]
    fn prop_verifiers_never_panic(
        leaf in prop::collection::vec(any::<u8>(), 0..40),
        root in prop::collection::vec(any::<u8>(), 0..40),
        proof in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..70),
        index in any::<u64>(),
        size in prop_oneof![any::<u64>(), 0..20u64, Just(u64::MAX)],
        old in prop_oneof![any::<u64>(), 0..20u64],
    ) {
        let _ = verify_inclusion(&leaf, index, size, &proof, &root);
        let _ = verify_inclusion(&leaf, index % size.max(1), size, &proof, &root);
        let _ = verify_consistency(old, size, &leaf, &root, &proof);
        let _ = verify_consistency(old % size.saturating_add(1).max(1), size, &leaf, &root, &proof);
    }

    /// TL-VER-005: `verify_inclusions` says of every proof exactly what
    /// `verify_inclusion` says of it: honest proofs of every leaf of a
    /// random tree, the same proofs with one hash flipped, moved to the
    /// next index, shortened or with a short hash, in one batch (so lanes
    /// finish at different steps and are refilled).
    #[test]
    fn prop_batched_inclusion_checks_agree_with_single_ones(
        entries in entries(90),
        flip in any::<prop::sample::Index>(),
        take in 0usize..200,
    ) {
        let trees = build(&entries);
        let size = entries.len() as u64;
        let root = tree_root(&trees.ours, size).unwrap();
        let mut cases: Vec<(Vec<u8>, u64, Vec<Vec<u8>>)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let leaf = leaf_hash(entry).as_bytes().to_vec();
            let proof: Vec<Vec<u8>> = inclusion_proof(&trees.ours, size, i as u64)
                .unwrap()
                .iter()
                .map(|h| h.as_bytes().to_vec())
                .collect();
            cases.push((leaf.clone(), i as u64, proof.clone()));
            cases.push((leaf.clone(), i as u64 + 1, proof.clone()));
            if !proof.is_empty() {
                let mut flipped = proof.clone();
                let at = flip.index(flipped.len());
                flipped[at][at % 32] ^= 1;
                cases.push((leaf.clone(), i as u64, flipped));
                cases.push((leaf.clone(), i as u64, proof[1..].to_vec()));
                let mut short = proof.clone();
                short[at].pop();
                cases.push((leaf.clone(), i as u64, short));
            }
        }
        cases.truncate(take.max(1));
        let checks: Vec<InclusionCheck<'_, Vec<u8>>> = cases
            .iter()
            .map(|(leaf, index, proof)| InclusionCheck {
                leaf_hash: leaf,
                index: *index,
                size,
                proof,
                root: root.as_bytes(),
            })
            .collect();
        let batched = verify_inclusions(&checks);
        prop_assert_eq!(batched.len(), cases.len());
        for ((leaf, index, proof), got) in cases.iter().zip(&batched) {
            let single = verify_inclusion(leaf, *index, size, proof, root.as_bytes());
            prop_assert_eq!(got, &single);
        }
        // Every honest proof is among the first cases and verified.
        prop_assert_eq!(batched.first(), Some(&Ok::<(), VerifyError>(())));
    }
}
