//! The facade ships its audit log to a fleet collector (spec `VR-SHIP-001`):
//! a real collector (`audit-collector`) on a real PostgreSQL
//! (`test-support/pg_server.rs`), serving HTTP on 127.0.0.1; and a
//! collector that cannot be reached, which must not slow the worker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[path = "../../../test-support/pg_server.rs"]
#[allow(dead_code)]
mod pg_server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_core::tlog::SignerKey;
use audit_core::{AuditWriter, WriterConfig};
use audit_ship::ship::{ShipConfig, ShipStatus};
use gpu_alloc::{HostDevice, HostDeviceConfig};
use vram_residency::{ManagerConfig, ResidencyError, ResidencyPolicy, VramManager};

const WORKER: &str = "ship-worker";

fn ship_config(url: &str) -> ShipConfig {
    ShipConfig {
        interval: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..ShipConfig::new(url).unwrap()
    }
}

/// A ready manager over a SQLite audit log at `db`, shipping it with
/// `config`.
fn shipping_manager(db: &Path, config: ShipConfig, key: Option<SignerKey>) -> VramManager {
    let writer = AuditWriter::open(db, WORKER, &common::secret(), WriterConfig::default()).unwrap();
    let manager = VramManager::new(
        ManagerConfig::new(WORKER, common::secret(), Arc::new(writer))
            .allocator(HostDevice::new(HostDeviceConfig::with_capacity(16 << 20)))
            .policy(ResidencyPolicy::allow_simulated())
            .ship_audit_log(db, config, key),
    )
    .unwrap();
    manager.enforce_policy().unwrap();
    manager
}

/// Waits up to 30 s for `done`; the last status either way.
fn wait_for(manager: &VramManager, done: impl Fn(&ShipStatus) -> bool) -> ShipStatus {
    let start = Instant::now();
    loop {
        let status = manager.audit_shipping().unwrap();
        if done(&status) || start.elapsed() > Duration::from_secs(30) {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// VR-SHIP-001: a manager configured to ship its log sends every record
/// to the collector, each batch under a checkpoint signed with the log
/// key, and says so in `audit_shipping`; the collector holds exactly the
/// worker's records.
#[test]
fn vr_ship_001_the_manager_ships_its_audit_log_to_a_collector() {
    let Some(database) = pg_server::test_database("vr_ship_001") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let origin = audit_core::log_origin(WORKER).unwrap();
    let log_key = audit_core::generate_log_key(WORKER).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = runtime.block_on(async {
        let witness = audit_collector::witness_key::generate_witness_key("collector").unwrap();
        let collector = audit_collector::Collector::open(database.url(), witness)
            .await
            .unwrap();
        let client = audit_collector::db::connect_url(database.url())
            .await
            .unwrap();
        audit_collector::registry::add_worker(
            &client,
            &origin,
            &log_key.verifier_key().to_string(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            collector
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        url
    });

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let manager = shipping_manager(&db, ship_config(&url), Some(log_key));
    let shard = manager.seal("m:0", &common::model(3 << 20, 7)).unwrap();
    manager.verify(&shard).unwrap();
    drop(shard);
    manager.flush_audit().unwrap();

    // VramAllocated, VramSealed, SealVerified, VramDeallocated.
    let status = wait_for(&manager, |s| s.acknowledged == Some(4));
    assert_eq!(status.acknowledged, Some(4), "{status:?}");
    assert_eq!(status.origin.as_deref(), Some(origin.as_str()));
    assert_eq!(status.records_behind, 0, "{status:?}");
    assert_eq!(status.records_stored, 4, "{status:?}");
    assert_eq!(status.stopped, None);

    let kinds: Vec<String> = runtime.block_on(async {
        let client = audit_collector::db::connect_url(database.url())
            .await
            .unwrap();
        client
            .query(
                "SELECT kind FROM records WHERE origin = $1 ORDER BY seq",
                &[&origin],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    });
    assert_eq!(
        kinds,
        [
            "VramAllocated",
            "VramSealed",
            "SealVerified",
            "VramDeallocated"
        ]
    );

    // Dropping the manager stops its shipper (and does not hang).
    let start = Instant::now();
    drop(manager);
    assert!(start.elapsed() < Duration::from_secs(10));
    let _ = stop.send(());
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// VR-SHIP-001: with the collector unreachable the worker seals and
/// verifies as before, and the status shows the failures and the backlog.
#[test]
fn vr_ship_001_an_unreachable_collector_never_slows_the_worker() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let manager = shipping_manager(
        &db,
        ship_config(&format!("http://127.0.0.1:{port}")),
        Some(audit_core::generate_log_key(WORKER).unwrap()),
    );
    let shard = manager.seal("m:0", &common::model(1 << 20, 3)).unwrap();
    manager.verify(&shard).unwrap();
    manager.flush_audit().unwrap();

    let status = wait_for(&manager, |s| s.failures >= 2);
    assert!(status.failures >= 2, "{status:?}");
    let error = status.last_error.clone().unwrap();
    assert!(error.contains("unavailable"), "{error}");
    assert_eq!(status.acknowledged, None);
    assert_eq!(status.stopped, None, "a collector that is down is retried");
}

/// VR-SHIP-001: a shipping configuration that cannot work is refused when
/// the manager is built, saying what to fix.
#[test]
fn vr_ship_001_a_bad_shipping_configuration_is_refused_at_construction() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let writer =
        AuditWriter::open(&db, WORKER, &common::secret(), WriterConfig::default()).unwrap();
    let config = ShipConfig {
        batch: 0,
        ..ShipConfig::new("http://127.0.0.1:9").unwrap()
    };
    let err = VramManager::new(
        ManagerConfig::new(WORKER, common::secret(), Arc::new(writer))
            .allocator(HostDevice::new(HostDeviceConfig::with_capacity(1 << 20)))
            .ship_audit_log(&db, config, None),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ResidencyError::InvalidConfig { reason } if reason.contains("audit shipping") && reason.contains("batch of 0")),
        "{err}"
    );
}
