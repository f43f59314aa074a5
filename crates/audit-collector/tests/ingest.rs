//! Records leave the worker and are verified centrally (spec
//! `.specs/audit-collector.md`, COL-ING-* and COL-SHIP-*): real worker logs
//! written by audit-core, the real shipper (`audit_ship::ship`), a real
//! collector (its router on 127.0.0.1, or the `vram-auditd` binary, killed
//! and restarted), a real PostgreSQL. No mocks.
//!
//! Without `DATABASE_URL` every test says it did not run; under `cargo
//! xtask pg` / `ci` (`VRAM_REQUIRE_POSTGRES=1`) they fail instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use audit_collector::AlertKind;
use audit_collector::registry::add_worker;
use audit_core::PublicLog;
use audit_ship::ship::{ShipConfig, ShipError, ShipStatus, Shipper, Step};
use common::*;

fn register(url: &str, log: &WorkerLog) {
    runtime().block_on(async {
        audit_collector::migrate::migrate(&mut client(url).await)
            .await
            .unwrap();
        add_worker(&client(url).await, &log.origin(), &log.vkey().to_string())
            .await
            .unwrap();
    });
}

fn alerts(url: &str) -> Vec<audit_collector::Alert> {
    runtime().block_on(async {
        audit_collector::alerts::list_alerts(&client(url).await, None)
            .await
            .unwrap()
    })
}

/// The tree held for `origin`: size and root.
fn held(url: &str, origin: &str) -> Option<(u64, Vec<u8>)> {
    runtime().block_on(async {
        client(url)
            .await
            .query_opt(
                "SELECT size, root FROM ingested WHERE origin = $1",
                &[&origin],
            )
            .await
            .unwrap()
            .map(|row| (u64::try_from(row.get::<_, i64>(0)).unwrap(), row.get(1)))
    })
}

/// Rows of `origin` in `records`: count, distinct seqs, min and max seq.
fn rows(url: &str, origin: &str) -> (i64, i64, Option<i64>, Option<i64>) {
    runtime().block_on(async {
        let row = client(url)
            .await
            .query_one(
                "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM records WHERE origin = $1",
                &[&origin],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2), row.get(3))
    })
}

/// Every record of `origin` arrived once: `size` rows, seqs 1..=size.
fn assert_complete(url: &str, log: &WorkerLog, size: u64) {
    let n = i64::try_from(size).unwrap();
    assert_eq!(
        rows(url, &log.origin()),
        (n, n, Some(1), Some(n)),
        "rows of {}",
        log.origin()
    );
    let root = log.open().tree_root(size).unwrap().as_bytes().to_vec();
    assert_eq!(held(url, &log.origin()), Some((size, root)));
}

fn root_of(note: &str) -> Vec<u8> {
    let note = audit_core::tlog::Note::parse(note.as_bytes()).unwrap();
    audit_core::tlog::Checkpoint::from_text(note.text())
        .unwrap()
        .root()
        .as_bytes()
        .to_vec()
}

fn config(url: &str, batch: u64) -> ShipConfig {
    let mut config = ShipConfig::new(url).unwrap();
    config.batch = batch;
    config.interval = Duration::from_millis(50);
    config.timeout = Duration::from_secs(30);
    config.max_backoff = Duration::from_millis(400);
    config
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// COL-ING-001, COL-ING-002, COL-ING-006, COL-SHIP-001: 25,000 records
/// shipped in batches of 4,000 by the real shipper (checkpoints signed
/// with the log key at every batch end) arrive once each: 25,000 rows,
/// seqs 1..=25,000, every stored leaf and field equal to the worker's, and
/// the central tree's root equal to the root of the worker's own signed
/// checkpoint. Prints the ingest rate.
#[test]
fn col_ing_001_ship_25000_records_every_row_once_root_equal() {
    let Some(db) = test_database("col_ing_001") else {
        return;
    };
    const N: u64 = 25_000;
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(N, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut shipper = Shipper::new(
        &log.db,
        config(&collector.url, 4_000),
        Some(log.key.clone()),
    )
    .unwrap();
    let started = Instant::now();
    assert_eq!(shipper.ship_until_caught_up().unwrap(), N);
    let elapsed = started.elapsed();
    let status = shipper.status();
    assert_eq!(status.batches, 7, "{status:?}");
    assert_eq!(status.records_stored, N);
    assert_eq!((status.records_behind, status.seconds_behind), (0, 0.0));
    eprintln!(
        "COL-ING-001: shipped and ingested {N} records in {:.3} s: {:.0} records/s (7 batches of <= 4,000: read from SQLite, signed, sent, parsed, verified, COPY BINARY, committed)",
        elapsed.as_secs_f64(),
        N as f64 / elapsed.as_secs_f64()
    );
    assert_complete(db.url(), &log, N);
    let out = auditd_on(db.url(), &["worker", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["records_held"], N);
    let note = log.sign();
    assert_eq!(held(db.url(), &log.origin()).unwrap().1, root_of(&note));

    // Every stored leaf is the worker's, and the fields are the export's.
    let records = PublicLog::open(&log.db).unwrap().records(1, N).unwrap();
    type StoredRow = (i64, Vec<u8>, String, String, Vec<u8>);
    let stored: Vec<StoredRow> = runtime().block_on(async {
        client(db.url())
            .await
            .query(
                "SELECT seq, leaf, kind, event, mac FROM records WHERE origin = $1 ORDER BY seq",
                &[&log.origin()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
    });
    assert_eq!(stored.len(), records.len());
    for (record, (seq, leaf, kind, event, mac)) in records.iter().zip(&stored) {
        assert_eq!(record.seq, u64::try_from(*seq).unwrap());
        assert_eq!(
            audit_core::leaf_hash(record).unwrap().as_bytes().as_slice(),
            leaf.as_slice()
        );
        assert_eq!(&record.kind, kind);
        assert_eq!(serde_json::to_string(&record.event).unwrap(), *event);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(record.mac, hex);
    }
    assert!(alerts(db.url()).is_empty());
}

/// COL-ING-003, COL-ING-004, COL-ING-005: ingestion is idempotent by
/// (origin, seq). The same batch twice stores it once; an overlapping
/// batch stores only its new tail; a batch wholly held (at a size no batch
/// ended at) changes nothing; a gap is 409 with the size held; the size is
/// served by `GET /workers/{origin}/size`. None of these is an alert.
#[test]
fn col_ing_003_retries_and_overlaps_change_nothing() {
    let Some(db) = test_database("col_ing_003") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(30, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let size_url = format!(
        "{}/workers/{}/size",
        collector.url,
        log.origin().replace('/', "%2F")
    );
    let size: serde_json::Value = serde_json::from_str(&ureq_get(&size_url)).unwrap();
    assert_eq!(size["size"], 0);

    let first = log.batch(1, 10, &log.note_at(10, &log.key));
    let (status, answer) = ingest(&collector.url, &first);
    assert_eq!(
        (status, &answer["size"], &answer["stored"]),
        (200, &10.into(), &10.into()),
        "{answer}"
    );
    let (status, answer) = ingest(&collector.url, &first);
    assert_eq!(
        (status, &answer["size"], &answer["stored"]),
        (200, &10.into(), &0.into()),
        "{answer}"
    );
    assert_eq!(rows(db.url(), &log.origin()), (10, 10, Some(1), Some(10)));

    let overlap = log.batch(5, 20, &log.note_at(20, &log.key));
    let (status, answer) = ingest(&collector.url, &overlap);
    assert_eq!(
        (status, &answer["size"], &answer["stored"]),
        (200, &20.into(), &10.into()),
        "{answer}"
    );
    let (status, answer) = ingest(
        &collector.url,
        &log.batch(1, 15, &log.note_at(15, &log.key)),
    );
    assert_eq!(
        (status, &answer["size"], &answer["stored"]),
        (200, &20.into(), &0.into()),
        "{answer}"
    );
    let (status, answer) = ingest(&collector.url, &overlap);
    assert_eq!((status, &answer["stored"]), (200, &0.into()), "{answer}");

    let gap = log.batch(25, 30, &log.note_at(30, &log.key));
    let (status, answer) = ingest(&collector.url, &gap);
    assert_eq!((status, &answer["size"]), (409, &20.into()), "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("send from 21"),
        "{answer}"
    );
    assert_complete(db.url(), &log, 20);
    let size: serde_json::Value = serde_json::from_str(&ureq_get(&size_url)).unwrap();
    assert_eq!(size["size"], 20);

    // Malformed: 400, no alert, nothing stored.
    let (status, _) = ingest(&collector.url, b"{\"origin\":\"x\"}\n");
    assert_eq!(status, 400);
    let mut short = log.batch(21, 30, &log.note_at(30, &log.key));
    short.truncate(short.len() - 2);
    let (status, answer) = ingest(&collector.url, &short);
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = ingest(
        &collector.url,
        &log.batch(21, 30, &log.note_at(29, &log.key)),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("ends at its checkpoint"),
        "{answer}"
    );
    assert_complete(db.url(), &log, 20);
    assert!(alerts(db.url()).is_empty(), "{:?}", alerts(db.url()));
}

/// COL-ING-004, COL-ALERT-001: a rewritten history under the same key —
/// another record at a seq held, new records that do not extend the tree
/// held, another root signed at a size accepted — is 422 and an
/// `inconsistent` alert of the ingest endpoint; nothing changes.
#[test]
fn col_ing_004_rewritten_history_is_422_and_an_alert() {
    let Some(db) = test_database("col_ing_004_fork") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(20, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let (status, _) = ingest(
        &collector.url,
        &log.batch(1, 20, &log.note_at(20, &log.key)),
    );
    assert_eq!(status, 200);

    let fork = WorkerLog::with_key(WORKER, 0, log.key.clone());
    fork.append_many(25, "fork");
    let (status, answer) = ingest(
        &collector.url,
        &fork.batch(15, 25, &fork.note_at(25, &fork.key)),
    );
    assert_eq!(
        (status, &answer["alert"]),
        (422, &"inconsistent".into()),
        "{answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("record 15 differs"),
        "{answer}"
    );
    let (status, answer) = ingest(
        &collector.url,
        &fork.batch(21, 25, &fork.note_at(25, &fork.key)),
    );
    assert_eq!(
        (status, &answer["alert"]),
        (422, &"inconsistent".into()),
        "{answer}"
    );
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("not an extension"),
        "{answer}"
    );
    // The held records under another signed root of the same size.
    let mut other_root = log.batch(1, 20, &fork.note_at(20, &fork.key));
    let (status, answer) = ingest(&collector.url, &other_root);
    assert_eq!(status, 422, "{answer}");
    other_root.clear();

    assert_complete(db.url(), &log, 20);
    let stored = alerts(db.url());
    assert_eq!(stored.len(), 3, "{stored:?}");
    for alert in &stored {
        assert_eq!(alert.kind, AlertKind::Inconsistent);
        assert_eq!(alert.status, 422);
        assert_eq!(alert.endpoint, audit_collector::alerts::Endpoint::Ingest);
        assert_eq!(alert.held_size, Some(20));
        assert_eq!(alert.origin, log.origin());
    }
    assert_eq!(
        (stored[0].old_size, stored[0].checkpoint_size),
        (Some(14), Some(25))
    );
    let listed = collector.alerts();
    assert_eq!(listed[0]["endpoint"], "ingest");
    assert_eq!(listed[0]["kind"], "inconsistent");
    let out = auditd_on(db.url(), &["alerts"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(
        shown.contains("ALERT inconsistent (422) vram-residency/audit/worker-c old 14 size 25 held 20 from 127.0.0.1:"),
        "{shown}"
    );
    assert!(shown.contains(" on ingest: record 15 differs"), "{shown}");
}

/// COL-ING-004, COL-SHIP-004: a log cut back and written again, shipped by
/// the real shipper: past the size held, its new records do not extend
/// the tree held (422); short of it, its last records differ from those
/// held (422). Both are `inconsistent` alerts, the shipper stops with the
/// refusal in its status, and nothing held changes.
#[test]
fn col_ing_004_col_ship_004_truncated_and_resumed_log_is_refused() {
    let Some(db) = test_database("col_ing_004_cut") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(30, "a");
    let saved = tempfile::tempdir().unwrap();
    log.save(saved.path());
    log.append_many(10, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(log.key.clone())).unwrap();
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 40);

    // Cut back to 30 and written on to 50.
    log.restore(saved.path());
    log.append_many(20, "resumed");
    assert_eq!(log.size(), 50);
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(log.key.clone())).unwrap();
    let refused = shipper.ship_until_caught_up().unwrap_err();
    assert!(
        matches!(&refused, ShipError::Refused { status: 422, alert: Some(a), from: 41, to: 50, .. } if a == "inconsistent"),
        "{refused:?}"
    );
    assert!(shipper.status().stopped.is_some());

    // Cut back to 30 and written on to 35: short of the 40 held.
    log.restore(saved.path());
    log.append_many(5, "resumed");
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(log.key.clone())).unwrap();
    let refused = shipper.ship_until_caught_up().unwrap_err();
    assert!(
        matches!(
            &refused,
            ShipError::Refused {
                status: 422,
                from: 1,
                to: 35,
                ..
            }
        ),
        "{refused:?}"
    );

    // Only cut (no new record): the records match, the shipper reports
    // that the collector holds more than the log.
    log.restore(saved.path());
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(log.key.clone())).unwrap();
    assert_eq!(
        shipper.ship_until_caught_up().unwrap_err(),
        ShipError::CollectorAhead {
            held: 40,
            local: 30
        }
    );

    let stored = alerts(db.url());
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|a| a.kind == AlertKind::Inconsistent && a.status == 422)
    );
    let n = 40;
    assert_eq!(rows(db.url(), &log.origin()), (n, n, Some(1), Some(n)));
    assert_eq!(held(db.url(), &log.origin()).unwrap().0, 40);
}

/// COL-ING-004, COL-ALERT-001: a batch whose checkpoint another key signed
/// is 403 and a `bad_signature` alert; a batch of an origin no operator
/// registered is 404 and an `unknown_origin` alert; the real shipper stops
/// on both. Nothing is stored.
#[test]
fn col_ing_004_other_key_is_403_unknown_origin_is_404_both_alerts() {
    let Some(db) = test_database("col_ing_004_403_404") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(12, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));

    let impostor_key = audit_core::generate_log_key(WORKER).unwrap();
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(impostor_key)).unwrap();
    let refused = shipper.ship_until_caught_up().unwrap_err();
    assert!(
        matches!(&refused, ShipError::Refused { status: 403, alert: Some(a), .. } if a == "bad_signature"),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("shipping stopped"),
        "{refused}"
    );
    assert_eq!(held(db.url(), &log.origin()), None);

    let stranger = WorkerLog::new("worker-stranger", 0);
    stranger.append_many(3, "s");
    let mut shipper = Shipper::new(
        &stranger.db,
        config(&collector.url, 100),
        Some(stranger.key.clone()),
    )
    .unwrap();
    let refused = shipper.ship_until_caught_up().unwrap_err();
    assert!(
        matches!(&refused, ShipError::Refused { status: 404, alert: Some(a), .. } if a == "unknown_origin"),
        "{refused:?}"
    );

    let stored = alerts(db.url());
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0].kind, AlertKind::BadSignature);
    assert_eq!(stored[0].status, 403);
    assert_eq!(stored[0].origin, log.origin());
    assert_eq!(stored[1].kind, AlertKind::UnknownOrigin);
    assert_eq!(stored[1].status, 404);
    assert_eq!(stored[1].origin, stranger.origin());
    assert_eq!(rows(db.url(), &log.origin()).0, 0);
    assert_eq!(rows(db.url(), &stranger.origin()).0, 0);
}

/// COL-SHIP-001: without the log key, batches end at the checkpoints
/// stored in the log; with none to end at, the shipper waits.
#[test]
fn col_ship_001_without_a_key_batches_end_at_stored_checkpoints() {
    let Some(db) = test_database("col_ship_001_stored") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(7, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut shipper = Shipper::new(&log.db, config(&collector.url, 100), None).unwrap();
    assert!(matches!(shipper.step().unwrap(), Step::Waiting { .. }));
    log.sign();
    log.append_many(5, "a");
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 7);
    assert_eq!(shipper.status().records_behind, 5);
    log.sign();
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 12);
    assert_complete(db.url(), &log, 12);
}

/// COL-SHIP-002, COL-SHIP-003, COL-ING-006: the shipper on its own thread
/// follows a log while the worker writes; the `vram-auditd` process is
/// killed (SIGKILL) in the middle of the run and restarted on the same
/// address. While it is down `status()` shows the lag in records and
/// seconds and the failures; once it is back the shipper resumes from the
/// size it acknowledges and catches up to 0 behind; every record arrived
/// exactly once (0 lost, 0 duplicated) and the central root is the
/// worker's. A shipper restarted later resumes where the collector stands.
#[test]
fn col_ship_002_collector_killed_and_restarted_nothing_lost_or_duplicated() {
    let Some(db) = test_database("col_ship_002") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(12_000, "a");
    register(db.url(), &log);
    let keys = tempfile::tempdir().unwrap();
    let key_file = witness_key_file(keys.path());
    let listen = free_address();
    let url = format!("http://{listen}");
    let collector = Auditd::start(db.url(), &key_file, &listen);

    let handle = Shipper::new(&log.db, config(&url, 500), Some(log.key.clone()))
        .unwrap()
        .spawn()
        .unwrap();
    wait_for("a first part shipped", Duration::from_secs(60), || {
        handle.status().acknowledged.is_some_and(|s| s >= 3_000)
    });
    collector.kill();
    log.append_many(2_000, "a");
    wait_for("the lag to show", Duration::from_secs(60), || {
        let s = handle.status();
        s.failures >= 2 && s.local_size == 14_000
    });
    let down: ShipStatus = handle.status();
    assert!(down.records_behind > 2_000, "{down:?}");
    assert!(down.seconds_behind > 0.0, "{down:?}");
    assert!(
        down.last_error.as_deref().unwrap().contains("unavailable"),
        "{down:?}"
    );
    assert!(down.stopped.is_none(), "{down:?}");

    let collector = Auditd::start(db.url(), &key_file, &listen);
    log.append_many(1_000, "a");
    wait_for("the shipper to catch up", Duration::from_secs(120), || {
        let s = handle.status();
        s.local_size == 15_000 && s.records_behind == 0
    });
    let up = handle.stop();
    assert_eq!(
        (up.records_behind, up.seconds_behind, up.failures),
        (0, 0.0, 0),
        "{up:?}"
    );
    assert_eq!(up.acknowledged, Some(15_000));
    assert_complete(db.url(), &log, 15_000);
    assert!(alerts(db.url()).is_empty(), "{:?}", alerts(db.url()));

    // A shipper started afresh asks where the collector stands.
    log.append_many(700, "a");
    let mut fresh = Shipper::new(&log.db, config(&url, 500), Some(log.key.clone())).unwrap();
    assert_eq!(fresh.ship_until_caught_up().unwrap(), 15_700);
    assert_eq!(fresh.status().records_stored, 700);
    assert_complete(db.url(), &log, 15_700);
    drop(collector);
}

/// COL-SHIP-005: `vramctl audit ship DB --collector URL --key FILE --batch
/// N --once` ships the log and exits 0 (again: nothing to send, exit 0);
/// a forked log is refused, exit 1, the alert named; a collector that
/// cannot be reached is exit 2.
#[test]
fn col_ship_005_vramctl_audit_ship_once() {
    let Some(db) = test_database("col_ship_005") else {
        return;
    };
    let Some(vramctl) = vramctl() else {
        eprintln!(
            "COL-SHIP-005: vramctl was not built beside this test (cargo build -p vramctl); did not run"
        );
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(2_500, "a");
    register(db.url(), &log);
    let key_file = log.dir().join("log.key");
    audit_core::save_log_key(&key_file, &log.key).unwrap();
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let ship = |db: &std::path::Path, url: &str| {
        std::process::Command::new(&vramctl)
            .args(["audit", "ship"])
            .arg(db)
            .args([
                "--collector",
                url,
                "--batch",
                "1000",
                "--once",
                "--timeout-ms",
                "5000",
            ])
            .arg("--key")
            .arg(&key_file)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = ship(&log.db, &collector.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "shipped: 2500 records in 3 batches; the collector holds 2500 of the 2500 records"
        ),
        "{}",
        text(&out)
    );
    assert_complete(db.url(), &log, 2_500);
    let out = ship(&log.db, &collector.url);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("shipped: 0 records in 0 batches"),
        "{}",
        text(&out)
    );

    let fork = WorkerLog::with_key(WORKER, 0, log.key.clone());
    fork.append_many(2_600, "fork");
    let out = ship(&fork.db, &collector.url);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("alert: inconsistent"), "{}", text(&out));
    assert_complete(db.url(), &log, 2_500);

    let unused = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", probe.local_addr().unwrap())
    };
    let out = ship(&log.db, &unused);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unavailable"), "{}", text(&out));
}

/// COL-ING-006: batches of one origin racing through two collectors on the
/// same database — the same batch six times, and overlapping ones — are
/// serialized by the lock on the worker's row: every record is stored
/// exactly once, the stored counts add up, and the tree held is the
/// worker's.
#[test]
fn col_ing_006_racing_batches_through_two_collectors_store_each_record_once() {
    let Some(db) = test_database("col_ing_006_race") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(300, "a");
    register(db.url(), &log);
    let key = witness_key("collector.test/w1");
    let one = TestCollector::start(db.url(), &key);
    let two = TestCollector::start(db.url(), &key);
    let bodies = [
        log.batch(1, 100, &log.note_at(100, &log.key)),
        log.batch(1, 100, &log.note_at(100, &log.key)),
        log.batch(1, 100, &log.note_at(100, &log.key)),
        log.batch(1, 200, &log.note_at(200, &log.key)),
        log.batch(1, 200, &log.note_at(200, &log.key)),
        log.batch(1, 300, &log.note_at(300, &log.key)),
    ];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(bodies.len()));
    let threads: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let url = if i % 2 == 0 {
                one.url.clone()
            } else {
                two.url.clone()
            };
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                ingest(&url, &body)
            })
        })
        .collect();
    let answers: Vec<(u16, serde_json::Value)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let stored: u64 = answers
        .iter()
        .map(|(status, answer)| {
            assert_eq!(*status, 200, "{answers:?}");
            answer["stored"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(stored, 300, "{answers:?}");
    assert_complete(db.url(), &log, 300);
    assert!(alerts(db.url()).is_empty());
}

/// COL-ING-006: while PostgreSQL cannot be reached a batch is 503 and
/// nothing is stored; the shipper counts it as a failure to retry, and
/// once the database is back the same batch is stored.
#[test]
fn col_ing_006_database_unavailable_is_503_and_nothing_stored() {
    let Some(db) = test_database("col_ing_006_503") else {
        return;
    };
    let server = std::env::var("DATABASE_URL").unwrap();
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(50, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let body = log.batch(1, 50, &log.note_at(50, &log.key));
    let name = db.name();
    pg_server::psql(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .unwrap();
    pg_server::psql(
        &server,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    )
    .unwrap();
    let (status, answer) = ingest(&collector.url, &body);
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("send it again later"),
        "{answer}"
    );
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 100), Some(log.key.clone())).unwrap();
    let failed = shipper.ship_until_caught_up().unwrap_err();
    assert!(failed.is_retriable(), "{failed:?}");
    assert_eq!(shipper.status().failures, 1);

    pg_server::psql(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .unwrap();
    assert_eq!(rows(db.url(), &log.origin()).0, 0);
    let (status, answer) = ingest(&collector.url, &body);
    assert_eq!((status, &answer["stored"]), (200, &50.into()), "{answer}");
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 50);
    assert_complete(db.url(), &log, 50);
}

/// COL-SHIP-005: without `--once`, `vramctl audit ship` follows the log:
/// records the worker appends later reach the collector while it runs.
#[test]
fn col_ship_005_vramctl_audit_ship_follows_the_log() {
    let Some(db) = test_database("col_ship_005_follow") else {
        return;
    };
    let Some(vramctl) = vramctl() else {
        eprintln!(
            "COL-SHIP-005: vramctl was not built beside this test (cargo build -p vramctl); did not run"
        );
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(300, "a");
    register(db.url(), &log);
    let key_file = log.dir().join("log.key");
    audit_core::save_log_key(&key_file, &log.key).unwrap();
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut child = std::process::Command::new(&vramctl)
        .args(["audit", "ship"])
        .arg(&log.db)
        .args(["--collector", &collector.url, "--interval-ms", "50"])
        .arg("--key")
        .arg(&key_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let held_size = || held(db.url(), &log.origin()).map(|(size, _)| size);
    wait_for("the first 300 records", Duration::from_secs(60), || {
        held_size() == Some(300)
    });
    log.append_many(200, "a");
    wait_for("the 200 appended later", Duration::from_secs(60), || {
        held_size() == Some(500)
    });
    assert!(child.try_wait().unwrap().is_none(), "it keeps following");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_complete(db.url(), &log, 500);
}

/// COL-SHIP-006: a worker log rewritten to exactly the size the collector
/// holds (another history under the same log key) is not taken as caught
/// up: the shipper (the same instance, a new one, a new one without the
/// log key, which sends the checkpoint stored in the log) sends its tail
/// with a checkpoint of the log as it is now, and the collector refuses
/// it, 422 with one `inconsistent` alert; the honest log caught up sends
/// nothing that counts as a batch.
#[test]
fn col_ship_006_log_rewritten_to_the_held_size_is_refused() {
    let Some(db) = test_database("col_ship_006") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(120, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut shipper =
        Shipper::new(&log.db, config(&collector.url, 50), Some(log.key.clone())).unwrap();
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 120);
    assert_eq!(shipper.ship_until_caught_up().unwrap(), 120);
    assert_eq!(shipper.status().batches, 3);
    // A new shipper of the honest log compares the tail once: 200.
    let mut fresh =
        Shipper::new(&log.db, config(&collector.url, 50), Some(log.key.clone())).unwrap();
    assert_eq!(fresh.ship_until_caught_up().unwrap(), 120);
    assert_eq!(fresh.status().batches, 0);

    // The log is replaced by another history of exactly 120 records.
    let fork = WorkerLog::with_key(WORKER, 0, log.key.clone());
    fork.append_many(120, "rewritten");
    // Signed in the log too, so a shipper without the key has a
    // checkpoint of the rewritten tree to send.
    fork.sign();
    let saved = tempfile::tempdir().unwrap();
    fork.save(saved.path());
    log.restore(saved.path());
    assert_eq!(
        PublicLog::open(&log.db).unwrap().tree_root(120).unwrap(),
        PublicLog::open(&fork.db).unwrap().tree_root(120).unwrap(),
        "the log now is the rewritten one"
    );
    for mut s in [
        shipper,
        Shipper::new(&log.db, config(&collector.url, 50), Some(log.key.clone())).unwrap(),
        Shipper::new(&log.db, config(&collector.url, 50), None).unwrap(),
    ] {
        match s.ship_until_caught_up() {
            Err(ShipError::Refused { status, alert, .. }) => {
                assert_eq!((status, alert.as_deref()), (422, Some("inconsistent")));
            }
            other => panic!("{other:?}"),
        }
    }
    let listed = collector.alerts();
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed[0]["kind"], "inconsistent");
    assert_eq!(listed[0]["endpoint"], "ingest");
    assert_eq!(listed[0]["held_size"], 120);
}
