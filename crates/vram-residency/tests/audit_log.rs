//! The facade over a real SQLite audit log (spec `VR-AUD-001`): every step
//! lands in the database, in order, and the chain verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use audit_core::{AuditEvent, AuditSink, AuditWriter, EmitOutcome, WriterConfig};
use gpu_alloc::{HostDevice, HostDeviceConfig};
use vram_residency::{ManagerConfig, ResidencyPolicy, VramManager};

/// A manager over a 16 MiB simulated device that records into `sink`,
/// under `policy`; the policy check is left to the test.
fn manager_with(
    sink: Arc<dyn AuditSink>,
    policy: ResidencyPolicy,
) -> (VramManager, Arc<HostDevice>) {
    let device = HostDevice::new(HostDeviceConfig::with_capacity(16 << 20));
    let manager = VramManager::new(
        ManagerConfig::new("test-worker", common::secret(), sink)
            .allocator(device.clone())
            .policy(policy),
    )
    .unwrap();
    (manager, device)
}

/// A ready manager (policy passed) over a real SQLite audit log at
/// `dir/audit.db`, with the log's path.
fn sqlite_manager(dir: &Path) -> (VramManager, Arc<HostDevice>, PathBuf) {
    let db = dir.join("audit.db");
    let writer = AuditWriter::open(
        &db,
        "test-worker",
        &common::secret(),
        WriterConfig::default(),
    )
    .unwrap();
    let (manager, device) = manager_with(Arc::new(writer), ResidencyPolicy::allow_simulated());
    manager.enforce_policy().unwrap();
    (manager, device, db)
}

#[test]
fn vr_aud_001_drop_event_is_in_the_database_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, _device, db) = sqlite_manager(dir.path());
    let secret = common::secret();
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
    // Nothing secret in the database, nor in its write-ahead log (the
    // writer is still open, so the newest pages are only there).
    let mut raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(dir.path().join("audit.db-wal")).unwrap();
    assert!(!wal.is_empty(), "the live writer's records are in the -wal");
    raw.extend_from_slice(&wal);
    let needle = [0x42u8; 16];
    assert!(!raw.windows(16).any(|w| w == needle));
}

/// An audit sink whose queue is always full: `emit` drops everything,
/// `send_blocking` (which waits for room) records, `flush_blocking` marks
/// what was sent as durable.
#[derive(Debug, Default)]
struct AlwaysFull {
    sent: Mutex<Vec<AuditEvent>>,
    durable: Mutex<usize>,
}

impl AuditSink for AlwaysFull {
    fn emit(&self, _event: AuditEvent) -> EmitOutcome {
        EmitOutcome::Dropped
    }

    fn send_blocking(&self, event: AuditEvent) -> Result<(), audit_core::AuditError> {
        self.sent.lock().unwrap().push(event);
        Ok(())
    }

    fn flush_blocking(&self) -> Result<(), audit_core::AuditError> {
        *self.durable.lock().unwrap() = self.sent.lock().unwrap().len();
        Ok(())
    }
}

/// VR-VER-004: a failed verification's `SealVerificationFailed` is sent
/// with `send_blocking` (never dropped for a full queue) and flushed before
/// `verify` returns; VR-POL-006: the same for a policy violation.
#[test]
fn vr_ver_004_vr_pol_006_incidents_are_never_dropped_for_a_full_queue() {
    let sink = Arc::new(AlwaysFull::default());
    let (manager, device) = manager_with(sink.clone(), ResidencyPolicy::allow_simulated());
    manager.enforce_policy().unwrap();
    let shard = manager.seal("m:0", &common::model(2 << 20, 3)).unwrap();
    device.flip_bit(shard.buffer_id().unwrap(), 12_345).unwrap();
    let err = manager.verify(&shard).unwrap_err();
    assert!(err.is_security_incident(), "{err}");
    let sent = sink.sent.lock().unwrap().clone();
    let at = sent
        .iter()
        .position(|e| e.kind() == "SealVerificationFailed")
        .expect("the incident was sent, not emitted into a full queue");
    assert!(
        *sink.durable.lock().unwrap() > at,
        "flushed before verify returned"
    );

    // A policy violation: the production policy refuses a simulated device.
    let sink = Arc::new(AlwaysFull::default());
    let (manager, _device) = manager_with(sink.clone(), ResidencyPolicy::strict());
    assert!(manager.enforce_policy().is_err());
    let sent = sink.sent.lock().unwrap().clone();
    let at = sent
        .iter()
        .position(|e| e.kind() == "PolicyViolation")
        .expect("the violation was sent, not emitted into a full queue");
    assert!(
        *sink.durable.lock().unwrap() > at,
        "flushed before enforce_policy returned"
    );
}

/// VR-VER-004 against the real SQLite writer: the incident is in the
/// database when `verify` returns, with no flush by the caller.
#[test]
fn vr_ver_004_the_incident_is_in_the_database_when_verify_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, device, db) = sqlite_manager(dir.path());
    let secret = common::secret();
    let shard = manager.seal("m:0", &common::model(2 << 20, 5)).unwrap();
    device.flip_bit(shard.buffer_id().unwrap(), 999).unwrap();
    assert!(manager.verify(&shard).is_err());
    let log = audit_core::AuditLog::open_read(&db, "test-worker", &secret).unwrap();
    let failed = log
        .query(&audit_core::QueryFilter {
            kind: Some("SealVerificationFailed".to_owned()),
            ..audit_core::QueryFilter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].shard_id.as_deref(), Some("m:0"));
    assert!(log.verify(None).unwrap().is_ok());
}

/// VR-AUD-002 (AC-002): every event of a shard's life carries its id, so a
/// query by shard id (`vramctl audit query --shard X`) finds the allocation
/// too, and none of another shard's events.
#[test]
fn vr_aud_002_query_by_shard_finds_its_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, _device, db) = sqlite_manager(dir.path());
    let secret = common::secret();
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

/// An audit sink whose disk has failed: nothing becomes durable.
#[derive(Debug, Default)]
struct BrokenDisk;

impl AuditSink for BrokenDisk {
    fn emit(&self, _event: AuditEvent) -> EmitOutcome {
        EmitOutcome::Queued
    }

    fn flush_blocking(&self) -> Result<(), audit_core::AuditError> {
        Err(audit_core::AuditError::WriteFailed {
            lost: 1,
            detail: "disk failed".to_owned(),
        })
    }
}

/// VR-AUD-001: `flush_audit` reports the sink's failure instead of
/// claiming the trail is durable.
#[test]
fn vr_aud_001_flush_audit_reports_a_failed_flush() {
    let (manager, _device) = manager_with(Arc::new(BrokenDisk), ResidencyPolicy::allow_simulated());
    assert!(matches!(
        manager.flush_audit(),
        Err(audit_core::AuditError::WriteFailed { lost: 1, .. })
    ));
}
