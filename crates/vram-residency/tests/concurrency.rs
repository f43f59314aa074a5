//! Many threads sealing, verifying and dropping at once (spec `VR-THR-001`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{MIB, kinds, model, rig};
use vram_residency::ResidencyError;

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn vr_thr_001_manager_and_shards_are_send_and_sync() {
    assert_send_sync::<vram_residency::VramManager>();
    assert_send_sync::<vram_residency::SealedShard>();
}

/// 32 threads seal, verify and drop; capacity is never negative, total >=
/// free at every observation, and used bytes return to zero.
#[test]
fn vr_thr_001_thirty_two_threads_leave_zero_used() {
    let r = rig(48 * MIB);
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let manager = r.manager.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut observations = 0u64;
            while !done.load(Ordering::Relaxed) {
                let c = manager.capacity().unwrap();
                assert!(c.device_total >= c.device_free, "{c:?}");
                assert!(c.used_by_shards <= c.device_total, "{c:?}");
                observations += 1;
            }
            observations
        })
    };
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let manager = r.manager.clone();
            std::thread::spawn(move || {
                let mut sealed = 0;
                for round in 0..4 {
                    let bytes = model(MIB as usize + t * 1000 + round, (t * 31 + round) as u64);
                    // Each thread holds one shard at a time: 32 x ~1 MiB
                    // always fits in 48 MiB, so every seal must succeed.
                    let shard = manager
                        .seal(&format!("t{t}-r{round}"), &bytes)
                        .unwrap_or_else(|e| panic!("t{t} round {round}: {e}"));
                    manager.verify(&shard).unwrap();
                    sealed += 1;
                }
                sealed
            })
        })
        .collect();
    let sealed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    done.store(true, Ordering::Relaxed);
    assert!(watcher.join().unwrap() > 0);
    assert_eq!(sealed, 32 * 4);
    let c = r.manager.capacity().unwrap();
    assert_eq!((c.used_by_shards, c.shard_count), (0, 0));
    assert_eq!(c.device_free, c.device_total);
    assert_eq!(r.device.live_buffer_count(), 0);
    let k = kinds(&r.audit);
    let count = |kind: &str| k.iter().filter(|x| *x == kind).count();
    assert_eq!(count("VramSealed"), sealed);
    assert_eq!(count("VramDeallocated"), sealed);
    assert_eq!(count("SealVerified"), sealed);
}

/// Threads racing for the last bytes: exactly the ones that fit succeed.
#[test]
fn vr_thr_001_racing_for_capacity_is_exact() {
    let r = rig(8 * MIB);
    let results: Vec<Result<vram_residency::SealedShard, ResidencyError>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let manager = &r.manager;
                    s.spawn(move || manager.seal(&format!("s{i}"), &vec![i as u8; MIB as usize]))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 8);
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(ResidencyError::is_retriable)
    );
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 8 * MIB);
    drop(results);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
}
