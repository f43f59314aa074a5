//! The facade over a real SQLite audit log (spec `VR-AUD-001`): every step
//! lands in the database, in order, and the chain verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use audit_core::{AuditWriter, WriterConfig};
use gpu_alloc::{HostDevice, HostDeviceConfig};
use vram_residency::{ManagerConfig, ResidencyPolicy, VramManager};

#[test]
fn vr_aud_001_drop_event_is_in_the_database_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let secret = common::secret();
    let writer =
        Arc::new(AuditWriter::open(&db, "test-worker", &secret, WriterConfig::default()).unwrap());
    let device = HostDevice::new(HostDeviceConfig::with_capacity(16 << 20));
    let manager = VramManager::new(
        ManagerConfig::new("test-worker", secret.clone(), writer.clone())
            .allocator(device.clone())
            .policy(ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    manager.enforce_policy().unwrap();
    let shard = manager.seal("m:0", &common::model(3 << 20, 7)).unwrap();
    manager.verify(&shard).unwrap();
    drop(shard);
    manager.flush_audit().unwrap();

    let log = audit_core::AuditLog::open(&db, "test-worker", &secret).unwrap();
    let kinds: Vec<String> = log
        .query(&audit_core::QueryFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "VramAllocated",
            "VramSealed",
            "SealVerified",
            "VramDeallocated"
        ]
    );
    let report = log.verify(None).unwrap();
    assert!(report.is_ok(), "{report:?}");
    // Nothing secret in the database.
    let raw = std::fs::read(&db).unwrap();
    let needle = [0x42u8; 16];
    assert!(!raw.windows(16).any(|w| w == needle));
}

/// VR-AUD-002 (AC-002): every event of a shard's life carries its id, so a
/// query by shard id (`vramctl audit query --shard X`) finds the allocation
/// too, and none of another shard's events.
#[test]
fn vr_aud_002_query_by_shard_finds_its_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let secret = common::secret();
    let writer =
        Arc::new(AuditWriter::open(&db, "test-worker", &secret, WriterConfig::default()).unwrap());
    let device = HostDevice::new(HostDeviceConfig::with_capacity(16 << 20));
    let manager = VramManager::new(
        ManagerConfig::new("test-worker", secret.clone(), writer.clone())
            .allocator(device.clone())
            .policy(ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    manager.enforce_policy().unwrap();
    let a = manager.seal("m:0", &common::model(1 << 20, 1)).unwrap();
    let b = manager.seal("m:1", &common::model(2 << 20, 2)).unwrap();
    manager.verify(&a).unwrap();
    drop(a);
    drop(b);
    manager.flush_audit().unwrap();

    let log = audit_core::AuditLog::open(&db, "test-worker", &secret).unwrap();
    for (shard, bytes) in [("m:0", 1u64 << 20), ("m:1", 2 << 20)] {
        let records = log
            .query(&audit_core::QueryFilter::default().shard_id(shard))
            .unwrap();
        let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
        let want: &[&str] = if shard == "m:0" {
            &[
                "VramAllocated",
                "VramSealed",
                "SealVerified",
                "VramDeallocated",
            ]
        } else {
            &["VramAllocated", "VramSealed", "VramDeallocated"]
        };
        assert_eq!(kinds, want, "{shard}");
        let allocated = &records[0];
        assert_eq!(allocated.shard_id.as_deref(), Some(shard));
        assert_eq!(allocated.event["shard_id"], shard);
        assert_eq!(allocated.event["allocated"], bytes);
    }
}
