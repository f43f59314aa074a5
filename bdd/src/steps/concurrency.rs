//! Steps of `concurrency.feature`: real threads sharing one manager.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use cucumber::{then, when};
use vram_residency::{ResidencyError, SealOptions, VerifyMode};

use crate::world::{ConcurrencyOutcome, ResidencyWorld, parse_size};

/// How many shards a thread holds at once before it verifies and frees the
/// oldest: enough that eight threads overfill a 16 MiB device.
const HELD_PER_THREAD: usize = 3;

#[when(
    regex = r"^(\d+) threads each seal, verify and free (\d+) shards of (\d+ (?:MiB|KiB|bytes?)) while another thread watches the capacity$"
)]
fn threads_churn(world: &mut ResidencyWorld, threads: usize, per_thread: usize, size: String) {
    let len = usize::try_from(parse_size(&size)).unwrap();
    let manager = world.manager().clone();
    let outcome = Mutex::new(ConcurrencyOutcome::default());
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut observations = 0u64;
            let mut bad = Vec::new();
            while !done.load(Ordering::Acquire) {
                let c = manager.capacity().expect("capacity");
                observations += 1;
                if bad.len() < 5 {
                    if c.device_free > c.device_total {
                        bad.push(format!("free > total: {c:?}"));
                    }
                    if c.used_by_shards > c.device_total {
                        bad.push(format!("held > total: {c:?}"));
                    }
                }
                std::thread::yield_now();
            }
            (observations, bad)
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let manager = manager.clone();
                let outcome = &outcome;
                scope.spawn(move || {
                    let mut held = VecDeque::new();
                    let mut local = ConcurrencyOutcome::default();
                    for i in 0..per_thread {
                        let id = format!("t{t}:s{i}");
                        let bytes = crate::model_bytes(len, &id);
                        match manager.seal_with(&id, &bytes, SealOptions::default()) {
                            Ok(shard) => {
                                local.seals_ok += 1;
                                held.push_back(shard);
                            }
                            Err(e @ ResidencyError::InsufficientVram { .. }) => {
                                assert!(e.is_retriable());
                                local.seals_insufficient += 1;
                            }
                            Err(e) => local.unexpected.push(format!("seal {id}: {e}")),
                        }
                        if held.len() >= HELD_PER_THREAD {
                            let shard = held.pop_front().unwrap();
                            check(&manager, &shard, &mut local);
                            drop(shard);
                        }
                    }
                    for shard in held.drain(..) {
                        check(&manager, &shard, &mut local);
                    }
                    let mut total = outcome.lock().unwrap();
                    total.seals_ok += local.seals_ok;
                    total.seals_insufficient += local.seals_insufficient;
                    total.verifications_ok += local.verifications_ok;
                    total.unexpected.extend(local.unexpected);
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a worker thread panicked");
        }
        done.store(true, Ordering::Release);
        let (observations, bad) = watcher.join().expect("the watcher panicked");
        let mut total = outcome.lock().unwrap();
        total.observations = observations;
        total.bad_observations = bad;
    });
    world.concurrency = Some(outcome.into_inner().unwrap());
}

/// Verifies one shard fully, counting the outcome.
fn check(
    manager: &vram_residency::VramManager,
    shard: &vram_residency::SealedShard,
    local: &mut ConcurrencyOutcome,
) {
    match manager.verify_with(shard, &VerifyMode::Full) {
        Ok(_) => local.verifications_ok += 1,
        Err(e) => local.unexpected.push(format!("verify {}: {e}", shard.id())),
    }
}

fn outcome(world: &ResidencyWorld) -> &ConcurrencyOutcome {
    world.concurrency.as_ref().expect("threads ran")
}

#[then(regex = r"^every seal either succeeded or was refused as retriable insufficient VRAM$")]
fn seals_ok_or_insufficient(world: &mut ResidencyWorld) {
    let o = outcome(world);
    assert!(o.unexpected.is_empty(), "{:?}", o.unexpected);
    assert!(o.seals_ok > 0, "{o:?}");
}

#[then(regex = r"^every seal succeeded$")]
fn every_seal_succeeded(world: &mut ResidencyWorld) {
    let o = outcome(world);
    assert!(o.unexpected.is_empty(), "{:?}", o.unexpected);
    assert_eq!(o.seals_insufficient, 0, "{o:?}");
    assert!(o.seals_ok > 0, "{o:?}");
}

#[then(regex = r"^every successful seal verified$")]
fn every_seal_verified(world: &mut ResidencyWorld) {
    let o = outcome(world);
    assert!(o.unexpected.is_empty(), "{:?}", o.unexpected);
    assert_eq!(o.verifications_ok, o.seals_ok, "{o:?}");
}

#[then(
    regex = r"^at every observation the device's total was at least its free memory, and the worker held no more than the total$"
)]
fn observations_sound(world: &mut ResidencyWorld) {
    let o = outcome(world);
    assert!(o.observations > 0, "the watcher never observed");
    assert!(o.bad_observations.is_empty(), "{:?}", o.bad_observations);
}

#[then(
    regex = r"^the audit log has one VramSealed and one VramDeallocated event per successful seal$"
)]
fn events_per_seal(world: &mut ResidencyWorld) {
    let seals = outcome(world).seals_ok as usize;
    let refused = outcome(world).seals_insufficient as usize;
    let records = world.records();
    let count = |kind: &str| records.iter().filter(|r| r.kind == kind).count();
    assert_eq!(count("VramAllocated"), seals);
    assert_eq!(count("VramSealed"), seals);
    assert_eq!(count("SealVerified"), seals);
    assert_eq!(count("VramDeallocated"), seals);
    assert_eq!(count("VramAllocationFailed"), refused);
    assert_eq!(count("AuditGap"), 0, "audit events were lost");
    // Every sealed shard id was freed exactly once.
    let mut sealed: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "VramSealed")
        .map(|r| r.shard_id.clone())
        .collect();
    let mut freed: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "VramDeallocated")
        .map(|r| r.shard_id.clone())
        .collect();
    sealed.sort();
    freed.sort();
    assert_eq!(sealed, freed);
}

#[when(
    regex = r#"^(\d+) threads try to seal (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" at the same time$"#
)]
fn race_for_id(world: &mut ResidencyWorld, threads: usize, size: String, id: String) {
    let len = usize::try_from(parse_size(&size)).unwrap();
    let bytes = crate::model_bytes(len, &id);
    let manager = world.manager().clone();
    let barrier = std::sync::Barrier::new(threads);
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    manager.seal_with(&id, &bytes, SealOptions::default())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut outcome = ConcurrencyOutcome::default();
    for result in results {
        match result {
            Ok(shard) => {
                outcome.seals_ok += 1;
                world.worker_mut().shards.insert(id.clone(), shard);
            }
            Err(ResidencyError::DuplicateShard { .. }) => outcome.duplicate_refusals += 1,
            Err(e) => outcome.unexpected.push(e.to_string()),
        }
    }
    world.concurrency = Some(outcome);
}

#[then(regex = r"^exactly one seal succeeded and the others were refused as duplicate shards$")]
fn exactly_one(world: &mut ResidencyWorld) {
    let o = outcome(world);
    assert!(o.unexpected.is_empty(), "{:?}", o.unexpected);
    assert_eq!(o.seals_ok, 1, "{o:?}");
    assert!(o.duplicate_refusals >= 1, "{o:?}");
}
