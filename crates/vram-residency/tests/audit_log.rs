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
