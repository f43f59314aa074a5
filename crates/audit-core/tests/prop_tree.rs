//! Property tests (AC-097): for random logs written in random batches
//! (with retention now and then), the stored tree is exactly `tlog`'s
//! stored-hash layout of the leaves recomputed from the records, its root
//! at every size is `tlog::merkle_root` of them, every proof verifies, and
//! both verifications pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use audit_core::tlog::{self, Hash};
use audit_core::{AuditLog, AuditRecord, RetentionPolicy, verify_public};
use common::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

fn exported(log: &AuditLog) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    log.export_ndjson(None, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn prop_ac_097_tree_is_the_merkle_tree_of_the_records(
        batches in prop::collection::vec(1usize..12, 1..8),
        retain in prop::option::of(1u64..20),
        picks in prop::collection::vec((any::<u64>(), any::<u64>()), 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        let mut i = 0u64;
        let mut checkpoints = Vec::new();
        for (b, size) in batches.iter().enumerate() {
            let events: Vec<_> = (0..*size).map(|_| { i += 1; event(i) }).collect();
            log.append_batch(&events).unwrap();
            if b % 2 == 0 {
                checkpoints.push(log.signed_checkpoint(&log_key()).unwrap());
            }
        }
        // All leaves, recomputed from the records before any retention.
        let leaves: Vec<Hash> = exported(&log)
            .iter()
            .map(|r| audit_core::leaf_hash(r).unwrap())
            .collect();
        let mut leaves = leaves;
        if let Some(keep) = retain {
            let report = log.apply_retention(&RetentionPolicy::default().with_max_records(keep)).unwrap();
            if report.dropped > 0 {
                let kept = exported(&log);
                let retention = kept.last().unwrap();
                leaves.push(audit_core::leaf_hash(retention).unwrap());
            }
        }
        let n = leaves.len() as u64;
        prop_assert_eq!(log.tree_size().unwrap(), n);
        let mut memory = tlog::MemoryHashStore::new();
        for leaf in &leaves {
            memory.append_leaf_hash(*leaf).unwrap();
        }
        let stored = tlog::inclusion_proof(&log.tree_store(), n, 0).map(|_| ());
        prop_assert!(stored.is_ok());
        let count = tlog::stored_hash_count(n).unwrap();
        let all: Vec<u64> = (0..count).collect();
        use tlog::HashStore as _;
        prop_assert_eq!(log.tree_store().read_hashes(&all).unwrap(), memory.stored_hashes().to_vec());
        for size in 0..=n {
            prop_assert_eq!(log.tree_root(size).unwrap(), tlog::merkle_root(&leaves[..size as usize]));
        }
        for (a, b) in picks {
            let size = 1 + a % n;
            let index = b % size;
            let proof = log.inclusion_proof(index + 1, size).unwrap();
            prop_assert!(tlog::verify_inclusion(
                leaves[index as usize].as_bytes(), index, size, &proof,
                tlog::merkle_root(&leaves[..size as usize]).as_bytes()).is_ok());
            let old = 1 + b % size;
            let proof = log.consistency_proof(old, size).unwrap();
            prop_assert!(tlog::verify_consistency(
                old, size,
                tlog::merkle_root(&leaves[..old as usize]).as_bytes(),
                tlog::merkle_root(&leaves[..size as usize]).as_bytes(),
                &proof).is_ok());
        }
        let last = log.signed_checkpoint(&log_key()).unwrap();
        drop(log);
        prop_assert!(verify(&path).is_ok());
        for previous in &checkpoints {
            let report = verify_public(&path, &log_key().verifier_key(), Some(&last), Some(previous), &[], 0).unwrap();
            prop_assert!(report.is_ok(), "{:?}", report);
        }
    }
}
