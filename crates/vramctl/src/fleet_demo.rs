//! `vramctl demo --fleet` (spec COL-DEMO-001): the fleet side end to end.
//! A PostgreSQL (a throwaway server of its own unless `DATABASE_URL` is
//! set), a collector on 127.0.0.1, three simulated workers that seal and
//! verify shards (their audit events through the real writer) and ship
//! their logs with the real shipper. Then one worker's host cuts its log
//! back to an older copy and writes on (truncate and resume, the attack
//! of CVE-2023-31438 against a witness): its next batch is refused and the
//! collector raises an `inconsistent` alert, which is printed. Exit 0 when
//! exactly that alert was raised and the honest workers' chains verify
//! centrally; 1 otherwise.

use std::path::Path;

use audit_collector::AlertKind;
use audit_core::{AuditEvent, AuditWriter, PublicLog, WriterConfig};
use audit_ship::ship::{ShipConfig, ShipError, Shipper};

use crate::cli_error::CliError;
use crate::fleet::{LocalCollector, Postgres, SimWorker, runtime};
use crate::output::outln;

/// Writes `shards` seal-and-verify rounds (a `VramSealed` then a
/// `SealVerified` event each) to the worker's log, then closes it.
fn seal_and_verify(worker: &SimWorker, first: u64, shards: u64) -> Result<(), CliError> {
    let fail = |e: audit_core::AuditError| CliError::usage(format!("{}: {e}", worker.worker_id));
    let writer = AuditWriter::open(
        &worker.db,
        &worker.worker_id,
        &worker.secret,
        WriterConfig::default(),
    )
    .map_err(fail)?;
    for i in first..first + shards {
        let shard = format!("demo-model:tp{i}");
        let bytes = format!("{} weights of shard {i}", worker.worker_id);
        let digest = seal_crypto::sha256(bytes.as_bytes());
        writer
            .send_blocking(AuditEvent::vram_sealed(
                &shard,
                0,
                bytes.len() as u64,
                &digest,
            ))
            .map_err(fail)?;
        writer
            .send_blocking(AuditEvent::seal_verified(&shard, 0))
            .map_err(fail)?;
    }
    writer.shutdown_blocking().map(drop).map_err(fail)
}

fn records(db: &Path) -> Result<u64, CliError> {
    PublicLog::open(db)
        .and_then(|log| log.tree_size())
        .map_err(|e| CliError::usage(e.to_string()))
}

/// Ships the worker's log until the collector holds all of it.
fn ship(worker: &SimWorker, collector: &str) -> Result<u64, ShipError> {
    let mut config = ShipConfig::new(collector)?;
    config.batch = 100;
    Shipper::new(&worker.db, config, Some(worker.key.clone()))?.ship_until_caught_up()
}

pub fn run() -> Result<(), CliError> {
    let runtime = runtime()?;
    let pg = Postgres::start(&runtime, "demo_fleet", false)?;
    let result = demo(&runtime, &pg);
    let closed = pg.close(&runtime);
    let outcome = result?;
    closed?;
    outcome
}

fn demo(
    runtime: &tokio::runtime::Runtime,
    pg: &Postgres,
) -> Result<Result<(), CliError>, CliError> {
    let usage = |e: String| CliError::usage(e);
    outln!("database: {}", pg.describe())?;
    let witness = audit_collector::witness_key::generate_witness_key("demo.collector")
        .map_err(|e| usage(e.to_string()))?;
    let mut collector = LocalCollector::start(runtime, pg.url(), witness)?;
    outln!(
        "collector: vram-auditd's service on {} (witness key generated for this run)",
        collector.url()
    )?;
    let dir = tempfile::Builder::new()
        .prefix("vramctl-demo-fleet-")
        .tempdir()
        .map_err(|e| usage(format!("cannot create a temporary directory: {e}")))?;
    let mut workers = Vec::new();
    for i in 1..=3 {
        let worker = SimWorker::new(
            &dir.path().join(format!("w{i}")),
            &format!("fleet-demo-w{i}"),
        )?;
        worker.register(runtime, pg.url())?;
        outln!(
            "worker {}: registered (origin {}, verifier key {})",
            worker.worker_id,
            worker.origin,
            worker.key.verifier_key()
        )?;
        workers.push(worker);
    }
    let [w1, w2, w3] = workers.as_slice() else {
        return Err(usage("three workers".to_owned()));
    };

    // Every worker seals and verifies 5 shards; the one to be cut keeps a
    // copy of its log as it was then.
    for worker in [w1, w2, w3] {
        seal_and_verify(worker, 0, 5)?;
    }
    let older = w2.db.with_extension("db.older");
    std::fs::copy(&w2.db, &older).map_err(|e| usage(format!("cannot copy the log: {e}")))?;
    for worker in [w1, w2, w3] {
        seal_and_verify(worker, 5, 5)?;
        let held = ship(worker, &collector.url()).map_err(|e| usage(e.to_string()))?;
        outln!(
            "ship    {}: {} records written, collector holds {held}, verified against the worker's signed checkpoint",
            worker.worker_id,
            records(&worker.db)?
        )?;
    }

    // The attack: worker 2's host puts the older copy back (10 records
    // instead of 20) and writes on, past what the collector holds.
    std::fs::rename(&older, &w2.db).map_err(|e| usage(format!("cannot put the copy back: {e}")))?;
    seal_and_verify(w2, 100, 8)?;
    outln!(
        "cut     {}: log cut back to 10 records and written on to {} (a host that truncates its log and resumes)",
        w2.worker_id,
        records(&w2.db)?
    )?;
    let refused = ship(w2, &collector.url());
    match &refused {
        Err(e) => outln!("ship    {}: refused: {e}", w2.worker_id)?,
        Ok(held) => outln!(
            "ship    {}: NOT refused (collector holds {held})",
            w2.worker_id
        )?,
    }
    // The honest workers go on.
    for worker in [w1, w3] {
        seal_and_verify(worker, 10, 2)?;
        let held = ship(worker, &collector.url()).map_err(|e| usage(e.to_string()))?;
        outln!("ship    {}: collector holds {held}", worker.worker_id)?;
    }

    let alerts = runtime
        .block_on(async {
            let client = audit_collector::db::connect_url(pg.url()).await?;
            audit_collector::alerts::list_alerts(&client, None).await
        })
        .map_err(|e| usage(e.to_string()))?;
    let mut central = true;
    for worker in [w1, w3] {
        let size = records(&worker.db)?;
        let root = PublicLog::open(&worker.db)
            .and_then(|log| log.tree_root(size))
            .map_err(|e| usage(e.to_string()))?;
        let held: Option<(i64, Vec<u8>)> = runtime
            .block_on(async {
                let client = audit_collector::db::connect_url(pg.url())
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .query_opt(
                        "SELECT size, root FROM ingested WHERE origin = $1",
                        &[&worker.origin],
                    )
                    .await
                    .map(|row| row.map(|r| (r.get(0), r.get(1))))
                    .map_err(|e| e.to_string())
            })
            .map_err(usage)?;
        let ok = held.is_some_and(|(s, r)| {
            u64::try_from(s).is_ok_and(|s| s == size) && r == root.as_bytes().as_slice()
        });
        central &= ok;
        outln!(
            "verify  {}: central tree of {size} records {} the worker's log root",
            worker.worker_id,
            if ok { "equals" } else { "DIFFERS FROM" }
        )?;
    }
    collector.stop(runtime);
    outln!(
        "alerts  (vram-auditd alerts, GET /alerts): {}",
        alerts.len()
    )?;
    for alert in &alerts {
        outln!(
            "ALERT   #{} {} {} on {} (status {}): held {}, checkpoint {}: {}",
            alert.id,
            alert.at,
            alert.kind,
            alert.origin,
            alert.status,
            alert
                .held_size
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            alert
                .checkpoint_size
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            alert.reason
        )?;
    }
    let expected = central
        && matches!(refused, Err(ShipError::Refused { status: 422, .. }))
        && alerts.len() == 1
        && alerts
            .iter()
            .all(|a| a.kind == AlertKind::Inconsistent && a.origin == w2.origin);
    Ok(if expected {
        outln!(
            "summary: 3 workers shipped to the collector on PostgreSQL; the log cut and written on was refused with an alert, the others verify centrally"
        )?;
        Ok(())
    } else {
        Err(CliError::check(
            "the cut log did not raise exactly the one `inconsistent` alert expected",
        ))
    })
}
