//! Tampering with a shard's host-side record (digest, size, labels,
//! signature) is caught by every verification mode and audited (spec
//! `VR-VER-003`).
//! Needs the `test-util` feature (`cargo test --all-features`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{MIB, kinds, model, rig};
use vram_residency::{ResidencyError, SealOptions, VerifyMode};

fn assert_caught(case: &str, tamper: impl Fn(&mut vram_residency::SealedShard)) {
    for mode in [
        VerifyMode::Quick,
        VerifyMode::Full,
        VerifyMode::Sampled { count: 1 },
    ] {
        let r = rig(16 * MIB);
        let mut shard = r
            .manager
            .seal_with(
                "victim",
                &model(2 * MIB as usize, 9),
                SealOptions::default().model_ref("llama-3-8b").shard(0, 2),
            )
            .unwrap();
        tamper(&mut shard);
        let err = r.manager.verify_with(&shard, &mode).unwrap_err();
        assert!(
            matches!(err, ResidencyError::IntegrityViolation { .. }),
            "{case} {mode:?}: {err}"
        );
        assert!(
            err.to_string().contains("seal does not match"),
            "{case}: {err}"
        );
        assert!(r.manager.state().is_stopped(), "{case}");
        assert_eq!(
            kinds(&r.audit).last().unwrap(),
            "SealVerificationFailed",
            "{case}"
        );
        let event = r.audit.events().pop().unwrap();
        assert_eq!(event.shard_id(), Some("victim"));
    }
}

#[test]
fn vr_ver_003_tampered_digest() {
    assert_caught("digest", |s| {
        s.tamper_digest(seal_crypto::sha256(b"other weights"))
    });
}

#[test]
fn vr_ver_003_zeroed_signature() {
    assert_caught("zeroed signature", |s| s.tamper_signature([0; 32]));
}

#[test]
fn vr_ver_003_forged_signature() {
    // A seal made with another key over the same claims.
    assert_caught("forged signature", |s| {
        let other = seal_crypto::SealKey::from_bytes(&[0x99; 32]).unwrap();
        let forged = seal_crypto::sign(&other, s.claims()).unwrap();
        s.tamper_signature(*forged.as_bytes());
    });
}

#[test]
fn vr_ver_003_tampered_size() {
    assert_caught("size", |s| s.tamper_size(1));
}

/// VR-VER-003, VR-SEAL-006: the labels are signed (seal version 2), so a
/// relabelled shard fails like a changed digest.
#[test]
fn vr_ver_003_tampered_labels() {
    assert_caught("model_ref changed", |s| {
        s.tamper_model_ref(Some("llama-3-70b"))
    });
    assert_caught("model_ref removed", |s| s.tamper_model_ref(None));
    assert_caught("shard index changed", |s| s.tamper_shard_position(1, 2));
    assert_caught("total changed", |s| s.tamper_shard_position(0, 3));
}

/// Accounting follows what was allocated, not the (tampered) record.
#[test]
fn vr_ver_003_tampered_record_still_frees_exactly() {
    let r = rig(16 * MIB);
    let mut shard = r.manager.seal("v", &[1; 5000]).unwrap();
    shard.tamper_size(1);
    drop(shard);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
    assert_eq!(r.device.live_buffer_count(), 0);
}
