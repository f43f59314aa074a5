//! Property tests of the facade's rules (spec `VR-ID-001`, `VR-CAP-001`,
//! `VR-SHARD-001`). Named `prop_*` for `cargo xtask proptest`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{MIB, rig};
use proptest::prelude::*;
use vram_residency::{ResidencyError, SealedShard, validate_shard_id};

fn config(default_cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config
}

/// The rule of VR-ID-001, written independently of the validator.
fn allowed(id: &str) -> bool {
    (1..=256).contains(&id.len())
        && !id.contains("..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[derive(Debug, Clone)]
enum Op {
    Seal(u64),
    Drop(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u64..=3 * MIB).prop_map(Op::Seal),
        any::<usize>().prop_map(Op::Drop),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    /// VR-ID-001: the validator accepts exactly the ids the rule allows, and
    /// a refused id leaves no event and no memory behind.
    #[test]
    fn prop_shard_id_rule_is_exact(id in "[a-zA-Z0-9._:/\\\\\\-\\x00-\\x1f é]{0,8}|.{250,260}") {
        prop_assert_eq!(validate_shard_id(&id).is_ok(), allowed(&id), "{:?}", id);
        if !allowed(&id) {
            let r = rig(4 * MIB);
            let refused = matches!(r.manager.seal(&id, b"w"), Err(ResidencyError::InvalidShardId(_)));
            prop_assert!(refused);
            prop_assert!(r.audit.events().is_empty());
            prop_assert_eq!(r.device.live_buffer_count(), 0);
        }
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// VR-CAP-001, VR-SHARD-001: under any sequence of seals and drops the
    /// ledger equals the sum of live shards, a seal fails exactly when it
    /// does not fit, and everything returns to zero.
    #[test]
    fn prop_ledger_matches_a_model(ops in prop::collection::vec(op(), 1..24)) {
        let capacity = 8 * MIB;
        let r = rig(capacity);
        let mut live: Vec<SealedShard> = Vec::new();
        let mut model_used = 0u64;
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Seal(len) => {
                    let result = r.manager.seal(&format!("s{i}"), &vec![i as u8; len as usize]);
                    if model_used + len <= capacity {
                        live.push(result.unwrap());
                        model_used += len;
                    } else {
                        let err = result.unwrap_err();
                        prop_assert!(err.is_retriable(), "{}", err);
                    }
                }
                Op::Drop(pick) if !live.is_empty() => {
                    let shard = live.swap_remove(pick % live.len());
                    model_used -= shard.bytes();
                }
                Op::Drop(_) => {}
            }
            let c = r.manager.capacity().unwrap();
            prop_assert_eq!(c.used_by_shards, model_used);
            prop_assert_eq!(c.shard_count, live.len());
            prop_assert_eq!(c.device_free, capacity - model_used);
        }
        drop(live);
        prop_assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
        prop_assert_eq!(r.device.live_buffer_count(), 0);
    }
}
