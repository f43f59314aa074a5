//! What the collector serves auditors (spec `.specs/audit-collector.md`,
//! COL-AUD-*): real worker logs, the real shipper, a real collector on
//! 127.0.0.1, a real PostgreSQL, and the `vramctl` binary checking the
//! proofs served. No mocks.
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

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use audit_collector::registry::add_worker;
use audit_core::PublicLog;
use audit_core::tlog::{Checkpoint, Note};
use audit_ship::ship::{ShipConfig, Shipper};
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

fn config(url: &str, batch: u64) -> ShipConfig {
    let mut config = ShipConfig::new(url).unwrap();
    config.batch = batch;
    config.interval = Duration::from_millis(50);
    config.max_backoff = Duration::from_millis(400);
    config
}

/// `GET url`: the status and the body.
fn get(url: &str) -> (u16, String) {
    let (head, body) = raw(url, "GET", b"");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, body)
}

fn segment(origin: &str) -> String {
    origin.replace('/', "%2F")
}

/// `vramctl audit check-proof FILE --vkey V ARGS…`: the exit code and
/// output.
fn check_proof(vramctl: &Path, file: &Path, vkey: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(vramctl)
        .args(["audit", "check-proof"])
        .arg(file)
        .args(["--vkey", vkey])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("VRAM_WORKER_SECRET")
        .output()
        .unwrap();
    (out.status.code(), text(&out))
}

/// Changes one base64 character of the first proof hash line (a line
/// after `skip` header lines): a tampered proof.
fn tamper(proof: &str, skip: usize) -> String {
    let mut lines: Vec<String> = proof.lines().map(str::to_owned).collect();
    let line = &mut lines[skip];
    let first = line.remove(0);
    line.insert(0, if first == 'A' { 'B' } else { 'A' });
    lines.join("\n") + "\n"
}

/// A log of 300 records shipped in batches of 64 (five blocks of stored
/// hashes), its latest checkpoint cosigned by the collector.
struct Shipped {
    db: pg_server::TestDatabase,
    log: WorkerLog,
    collector: TestCollector,
}

fn shipped(name: &str, records: u64, batch: u64) -> Option<Shipped> {
    let db = test_database(name)?;
    let log = WorkerLog::new(WORKER, 0);
    log.append_many(records, "a");
    register(db.url(), &log);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let mut shipper = Shipper::new(
        &log.db,
        config(&collector.url, batch),
        Some(log.key.clone()),
    )
    .unwrap();
    assert_eq!(shipper.ship_until_caught_up().unwrap(), records);
    Some(Shipped { db, log, collector })
}

/// COL-AUD-001, COL-AUD-003, COL-AUD-004: the inclusion proof of a record
/// served from PostgreSQL is, byte for byte, what `vramctl audit prove
/// inclusion` prints for the same checkpoint (`PublicLog::tlog_proof` with
/// the record on its `extra` line), for records at block edges, against
/// the latest checkpoint and every batch end; `vramctl audit check-proof`
/// passes it (and with the collector as a witness once cosigned), and
/// fails it (exit 1) with one byte of the proof changed.
#[test]
fn col_aud_004_inclusion_proofs_match_vramctl_and_check() {
    let Some(Shipped {
        db: _db,
        log,
        collector,
    }) = shipped("col_aud_004", 300, 64)
    else {
        return;
    };
    let origin = segment(&log.origin());
    let public = PublicLog::open(&log.db).unwrap();
    let base = format!("{}/workers/{origin}", collector.url);

    // Before any cosignature: 404, and the proof carries the worker's
    // signature only.
    let (status, body) = get(&format!("{base}/checkpoint"));
    assert_eq!(status, 404, "{body}");
    for size in [64u64, 128, 192, 256, 300] {
        for seq in [
            1u64, 2, 31, 32, 33, 63, 64, 65, 128, 129, 200, 256, 299, 300,
        ] {
            if seq > size {
                continue;
            }
            let query = if size == 300 {
                String::new()
            } else {
                format!("?size={size}")
            };
            let (status, body) = get(&format!("{base}/prove/inclusion/{seq}{query}"));
            assert_eq!(status, 200, "seq {seq} size {size}: {body}");
            let proof = audit_core::tlog::TlogProof::parse(body.as_bytes()).unwrap();
            let note = String::from_utf8(proof.checkpoint().to_bytes()).unwrap();
            let expected = public
                .tlog_proof(seq, Some(&note))
                .unwrap()
                .with_extra(serde_json::to_vec(&public.record(seq).unwrap().unwrap()).unwrap())
                .unwrap()
                .to_string();
            assert_eq!(body, expected, "seq {seq} size {size}");
            let checkpoint = Checkpoint::from_text(proof.checkpoint().text()).unwrap();
            assert_eq!(checkpoint.size(), size);
            // What check-proof does, in process: the record on the extra
            // line hashed, the proof to the signed root.
            let record: audit_core::AuditRecord =
                serde_json::from_slice(proof.extra().unwrap()).unwrap();
            assert_eq!(record.seq, seq);
            let leaf = audit_core::leaf_hash(&record).unwrap();
            proof
                .verify_log_signature(&leaf, &log.origin(), &log.vkey())
                .unwrap();
        }
    }

    // The collector cosigns the latest checkpoint: served, and in proofs.
    assert!(matches!(
        log.submit(&collector),
        audit_ship::witness::Outcome::Cosigned { .. }
    ));
    let (status, cosigned) = get(&format!("{base}/checkpoint"));
    assert_eq!(status, 200, "{cosigned}");
    let note = Note::parse(cosigned.as_bytes()).unwrap();
    assert_eq!(note.signatures().len(), 2, "{cosigned}");
    audit_core::tlog::open_checkpoint(cosigned.as_bytes(), &log.origin(), &log.vkey(), &[])
        .unwrap();

    let Some(vramctl) = vramctl() else {
        eprintln!(
            "COL-AUD-004: vramctl was not built beside this test (cargo build -p vramctl, same CARGO_TARGET_DIR); its check-proof part did not run"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vkey = log.vkey().to_string();
    let (status, body) = get(&format!("{base}/prove/inclusion/150"));
    assert_eq!(status, 200, "{body}");
    let file = dir.path().join("proof.txt");
    std::fs::write(&file, &body).unwrap();
    let (code, out) = check_proof(&vramctl, &file, &vkey, &[]);
    assert_eq!(code, Some(0), "{out}");
    let bad = dir.path().join("tampered.txt");
    // Line 0 `c2sp.org/tlog-proof@v1`, 1 `extra …`, 2 `index …`, then hashes.
    std::fs::write(&bad, tamper(&body, 3)).unwrap();
    let (code, out) = check_proof(&vramctl, &bad, &vkey, &[]);
    assert_eq!(code, Some(1), "{out}");
    // Another record's line on the extra: also exit 1.
    let other = body.replacen("index 149", "index 148", 1);
    std::fs::write(&bad, &other).unwrap();
    let (code, out) = check_proof(&vramctl, &bad, &vkey, &[]);
    assert_eq!(code, Some(1), "{out}");
    // The collector cosigned that very tree (Ed25519 signs the same
    // checkpoint text the same): its cosignature is in the proof, and
    // counts with the collector as a witness.
    assert_eq!(
        body.lines().filter(|l| l.starts_with("— ")).count(),
        2,
        "{body}"
    );
    let witness = collector.vkey.to_string();
    let (code, out) = check_proof(
        &vramctl,
        &file,
        &vkey,
        &["--witness", &witness, "--quorum", "1"],
    );
    assert_eq!(code, Some(0), "{out}");
}

/// COL-AUD-005: the consistency proof served is what `vramctl audit prove
/// consistency` prints for the same checkpoint (the add-checkpoint body),
/// `vramctl audit check-proof --previous` passes it from an earlier
/// accepted checkpoint, and fails it (exit 1) with a hash changed; a
/// `from` beyond the checkpoint is 400.
#[test]
fn col_aud_005_consistency_proofs_match_vramctl_and_check() {
    let Some(Shipped {
        db: _db,
        log,
        collector,
    }) = shipped("col_aud_005", 300, 64)
    else {
        return;
    };
    let public = PublicLog::open(&log.db).unwrap();
    let base = format!("{}/workers/{}", collector.url, segment(&log.origin()));
    for (from, to) in [
        (0u64, 300u64),
        (1, 300),
        (64, 300),
        (100, 256),
        (128, 192),
        (300, 300),
        (5, 64),
    ] {
        let query = if to == 300 {
            String::new()
        } else {
            format!("?to={to}")
        };
        let (status, body) = get(&format!("{base}/prove/consistency/{from}{query}"));
        assert_eq!(status, 200, "{from}..{to}: {body}");
        let request = audit_core::tlog::AddCheckpointRequest::parse(body.as_bytes()).unwrap();
        let note = String::from_utf8(request.checkpoint().to_bytes()).unwrap();
        let expected = public
            .add_checkpoint_request(from, Some(&note))
            .unwrap()
            .to_string();
        assert_eq!(body, expected, "{from}..{to}");
        // What check-proof does, in process, from the log's own root.
        if from > 0 {
            request
                .check_consistency(&public.tree_root(from).unwrap())
                .unwrap();
        }
    }
    let (status, body) = get(&format!("{base}/prove/consistency/301"));
    assert_eq!(status, 400, "{body}");

    let Some(vramctl) = vramctl() else {
        eprintln!(
            "COL-AUD-005: vramctl was not built beside this test (cargo build -p vramctl, same CARGO_TARGET_DIR); its check-proof part did not run"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let vkey = log.vkey().to_string();
    // The previous checkpoint: the one accepted at 128 records, as an
    // auditor kept it from an earlier inclusion proof.
    let (_, earlier) = get(&format!("{base}/prove/inclusion/1?size=128"));
    let earlier = audit_core::tlog::TlogProof::parse(earlier.as_bytes()).unwrap();
    let previous = dir.path().join("previous.note");
    std::fs::write(&previous, earlier.checkpoint().to_bytes()).unwrap();
    let previous = previous.to_str().unwrap();
    let (status, body) = get(&format!("{base}/prove/consistency/128"));
    assert_eq!(status, 200, "{body}");
    let file = dir.path().join("consistency.txt");
    std::fs::write(&file, &body).unwrap();
    let (code, out) = check_proof(&vramctl, &file, &vkey, &["--previous", previous]);
    assert_eq!(code, Some(0), "{out}");
    // Line 0 `old 128`, then hashes.
    let bad = dir.path().join("tampered.txt");
    std::fs::write(&bad, tamper(&body, 1)).unwrap();
    let (code, out) = check_proof(&vramctl, &bad, &vkey, &["--previous", previous]);
    assert_eq!(code, Some(1), "{out}");
}

/// COL-AUD-006: what cannot be proved is refused with a status and a
/// reason: seq 0 or beyond the checkpoint (400), a size no batch ended at,
/// an origin with nothing held (404), an unknown or repeated parameter
/// (400).
#[test]
fn col_aud_006_refusals() {
    let Some(Shipped {
        db: _db,
        log,
        collector,
    }) = shipped("col_aud_006", 100, 40)
    else {
        return;
    };
    let base = format!("{}/workers/{}", collector.url, segment(&log.origin()));
    for (path, status, says) in [
        ("/prove/inclusion/0".to_owned(), 400, "start at 1"),
        ("/prove/inclusion/101".to_owned(), 400, "not covered"),
        ("/prove/inclusion/50?size=40".to_owned(), 400, "not covered"),
        ("/prove/inclusion/5?size=41".to_owned(), 404, "no batch"),
        ("/prove/inclusion/5?to=40".to_owned(), 400, "only parameter"),
        (
            "/prove/inclusion/5?size=40&size=80".to_owned(),
            400,
            "only parameter",
        ),
        ("/prove/consistency/5?to=41".to_owned(), 404, "no batch"),
        ("/prove/consistency/50?to=40".to_owned(), 400, "beyond"),
    ] {
        let (got, body) = get(&format!("{base}{path}"));
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(says), "{path}: {body}");
    }
    let (got, body) = get(&format!(
        "{}/workers/{}/prove/inclusion/1",
        collector.url,
        segment("vram-residency/audit/nobody")
    ));
    assert_eq!(got, 404, "{body}");
    let (got, body) = get(&format!("{}/records?colour=red", collector.url));
    assert_eq!(got, 400, "{body}");
    let (got, body) = get(&format!("{}/records?limit=0", collector.url));
    assert_eq!(got, 400, "{body}");
    let (got, body) = get(&format!("{}/records?since=yesterday", collector.url));
    assert_eq!(got, 400, "{body}");
    let (got, body) = get(&format!("{}/records?after_seq=3", collector.url));
    assert_eq!(got, 400, "{body}");
}

/// COL-AUD-007: a read-only collector serves auditors from a database it
/// never writes (here made read-only for every new session, as a
/// streaming replica is): every read answers byte for byte as the
/// primary's collector does, nothing is accepted for writing, and a
/// database at another schema version is refused.
#[test]
fn col_aud_007_a_read_only_collector_serves_auditors_from_a_replica() {
    let Some(Shipped { db, log, collector }) = shipped("col_aud_007", 300, 64) else {
        return;
    };
    assert!(matches!(
        log.submit(&collector),
        audit_ship::witness::Outcome::Cosigned { .. }
    ));
    let origin = segment(&log.origin());
    let reads = [
        format!("/workers/{origin}/checkpoint"),
        format!("/workers/{origin}/size"),
        format!("/workers/{origin}/prove/inclusion/150"),
        format!("/workers/{origin}/prove/inclusion/64?size=64"),
        format!("/workers/{origin}/prove/consistency/100"),
        "/records?limit=7".to_owned(),
        "/alerts".to_owned(),
    ];
    let primary: Vec<(u16, String)> = reads
        .iter()
        .map(|path| get(&format!("{}{path}", collector.url)))
        .collect();
    for ((status, body), path) in primary.iter().zip(&reads) {
        assert_eq!(*status, 200, "{path}: {body}");
    }

    let rt = runtime();
    let replica = rt.block_on(async {
        let admin = client(db.url()).await;
        admin
            .batch_execute(
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$",
            )
            .await
            .unwrap();
        // A new session cannot write any more.
        let session = client(db.url()).await;
        let refused = session
            .execute("DELETE FROM alerts", &[])
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
            "{refused:?}"
        );
        audit_collector::ReadOnlyCollector::open(db.url())
            .await
            .unwrap()
    });
    let (replica_url, stop) = serve_in_background(&rt, |listener, stopped| async move {
        replica.serve(listener, stopped).await.unwrap();
    });
    for ((status, body), path) in primary.iter().zip(&reads) {
        let (got, got_body) = get(&format!("{replica_url}{path}"));
        assert_eq!((got, &got_body), (*status, body), "{path}");
    }
    let (head, _) = raw(&format!("{replica_url}/ingest"), "POST", b"{}");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let (head, _) = raw(&format!("{replica_url}/add-checkpoint"), "POST", b"old 0\n");
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let _ = stop.send(());
    rt.shutdown_timeout(Duration::from_secs(5));

    // A database this code did not migrate (here: none) is refused.
    let Some(empty) = test_database("col_aud_007_empty") else {
        return;
    };
    let err = runtime()
        .block_on(audit_collector::ReadOnlyCollector::open(empty.url()))
        .unwrap_err();
    assert!(
        matches!(err, audit_collector::CollectorError::SchemaMismatch { found: 0, expected } if expected == audit_collector::SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("migrate the primary"), "{err}");
}

/// COL-AUD-002: records by origin, kind, shard and time, paged: every
/// page's records are the worker's own in the export form, in (origin,
/// seq) order, and `next` walks them all once.
#[test]
fn col_aud_002_records_by_kind_shard_time_paged() {
    let Some(Shipped {
        db: _db,
        log,
        collector,
    }) = shipped("col_aud_002", 50, 50)
    else {
        return;
    };
    let public = PublicLog::open(&log.db).unwrap();
    let all = public.records(1, 50).unwrap();
    let origin = segment(&log.origin());
    let mut seen = Vec::new();
    let mut url = format!(
        "{}/records?origin={origin}&kind=TestEvent&shard_id=shard-0&limit=7",
        collector.url
    );
    loop {
        let (status, body) = get(&url);
        assert_eq!(status, 200, "{body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        for item in page["records"].as_array().unwrap() {
            assert_eq!(item["origin"], log.origin());
            let record: audit_core::AuditRecord =
                serde_json::from_value(item["record"].clone()).unwrap();
            seen.push(record);
        }
        match page["next"].as_object() {
            Some(next) => {
                url = format!(
                    "{}/records?origin={origin}&kind=TestEvent&shard_id=shard-0&limit=7&after_origin={}&after_seq={}",
                    collector.url,
                    segment(next["after_origin"].as_str().unwrap()),
                    next["after_seq"]
                );
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    for kind_or_shard in ["kind=Nothing", "shard_id=shard-9"] {
        let (status, body) = get(&format!(
            "{}/records?origin={origin}&{kind_or_shard}",
            collector.url
        ));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, r#"{"records":[],"next":null}"#);
    }
    // A time range: from the 10th record's time to the 20th's (excluded).
    let since = all[9]
        .timestamp
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let until = all[19]
        .timestamp
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (status, body) = get(&format!(
        "{}/records?origin={origin}&since={since}&until={until}&limit=1000",
        collector.url
    ));
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let seqs: Vec<u64> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = all
        .iter()
        .filter(|r| r.timestamp >= all[9].timestamp && r.timestamp < all[19].timestamp)
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, expected);
    assert!(seqs.contains(&10));
}

/// COL-AUD-004, COL-AUD-005: proof generation time on a log of 50,000
/// records shipped in 10 batches (measured, not a timed assertion): the
/// median and worst of 200 inclusion proofs and 50 consistency proofs,
/// served end to end over HTTP.
#[test]
fn col_aud_004_proof_timings() {
    let Some(Shipped {
        db: _db,
        log,
        collector,
    }) = shipped("col_aud_time", 50_000, 5_000)
    else {
        return;
    };
    let base = format!("{}/workers/{}", collector.url, segment(&log.origin()));
    let mut inclusion = Vec::new();
    for i in 0..200u64 {
        let seq = 1 + (i * 7_919) % 50_000;
        let start = Instant::now();
        let (status, body) = get(&format!("{base}/prove/inclusion/{seq}"));
        inclusion.push(start.elapsed());
        assert_eq!(status, 200, "{body}");
    }
    let mut consistency = Vec::new();
    for i in 0..50u64 {
        let from = 1 + (i * 997) % 50_000;
        let start = Instant::now();
        let (status, body) = get(&format!("{base}/prove/consistency/{from}"));
        consistency.push(start.elapsed());
        assert_eq!(status, 200, "{body}");
    }
    inclusion.sort();
    consistency.sort();
    eprintln!(
        "COL-AUD-004 timings, 50,000 records: inclusion proof over HTTP median {:?} max {:?}; consistency median {:?} max {:?}",
        inclusion[100], inclusion[199], consistency[25], consistency[49]
    );
}

/// COL-AUD-003, COL-AUD-005: proof generation on a large tree (measured,
/// not a timed assertion; ignored by default, it writes 64 MiB): a tree of
/// 1,048,576 leaves stored as the ingest path stores it (20 blocks, the
/// hashes from `Frontier::append_into`) under a signed checkpoint; the
/// median and worst of 200 consistency proofs served over HTTP, each
/// checked against the tree. `cargo xtask pg -- cargo test -p
/// audit-collector --test auditor -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: writes a tree of 2^20 leaves (64 MiB of hashes)"]
fn col_aud_005_proof_timings_on_a_large_tree() {
    use audit_collector::frontier::Frontier;
    use audit_core::tlog::{MemoryHashStore, leaf_hash};

    let Some(db) = test_database("col_aud_large") else {
        return;
    };
    const LEAVES: u64 = 1 << 20;
    const BLOCK: u64 = 52_429;
    let log = WorkerLog::new(WORKER, 0);
    register(db.url(), &log);
    let origin = log.origin();
    let started = Instant::now();
    let mut frontier = Frontier::empty();
    let mut blocks = Vec::new();
    let mut roots = Vec::new();
    let mut done = 0u64;
    while done < LEAVES {
        let first = 2 * done - u64::from(done.count_ones());
        let mut hashes = Vec::new();
        let end = (done + BLOCK).min(LEAVES);
        for i in done..end {
            frontier
                .append_into(leaf_hash(&i.to_be_bytes()), &mut hashes)
                .unwrap();
        }
        blocks.push((first, hashes));
        roots.push((end, frontier.root()));
        done = end;
    }
    let build = started.elapsed();
    runtime().block_on(async {
        let client = client(db.url()).await;
        for (first, hashes) in &blocks {
            client
                .execute(
                    "INSERT INTO tree_blocks (origin, first, hashes) VALUES ($1, $2, $3)",
                    &[&origin, &i64::try_from(*first).unwrap(), hashes],
                )
                .await
                .unwrap();
        }
        for (size, root) in &roots {
            let note = audit_core::tlog::Checkpoint::new(&origin, *size, *root)
                .unwrap()
                .sign(&log.key)
                .unwrap();
            let note = String::from_utf8(note.to_bytes()).unwrap();
            client
                .execute(
                    "INSERT INTO ingest_checkpoints (origin, size, root, checkpoint) VALUES ($1, $2, $3, $4)",
                    &[&origin, &i64::try_from(*size).unwrap(), &root.as_bytes().as_slice(), &note],
                )
                .await
                .unwrap();
            client
                .execute(
                    "INSERT INTO ingested (origin, size, root, frontier, checkpoint) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (origin) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root, checkpoint = EXCLUDED.checkpoint",
                    &[&origin, &i64::try_from(*size).unwrap(), &root.as_bytes().as_slice(), &Vec::<u8>::new(), &note],
                )
                .await
                .unwrap();
        }
        client.execute("ANALYZE tree_blocks", &[]).await.unwrap();
    });
    eprintln!(
        "COL-AUD-005: a tree of {LEAVES} leaves built in {build:?}, stored in {:?}",
        started.elapsed()
    );
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let base = format!("{}/workers/{}", collector.url, segment(&origin));
    let mut times = Vec::new();
    for i in 0..200u64 {
        let from = 1 + (i * 104_729) % (LEAVES - 1);
        let start = Instant::now();
        let (status, body) = get(&format!("{base}/prove/consistency/{from}"));
        times.push(start.elapsed());
        assert_eq!(status, 200, "{body}");
        let request = audit_core::tlog::AddCheckpointRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(request.old_size(), from);
    }
    times.sort();
    // The same proofs' work in memory, for scale.
    let mut memory = MemoryHashStore::new();
    for i in 0..LEAVES {
        memory
            .append_leaf_hash(leaf_hash(&i.to_be_bytes()))
            .unwrap();
    }
    let start = Instant::now();
    for i in 0..200u64 {
        let from = 1 + (i * 104_729) % (LEAVES - 1);
        audit_core::tlog::consistency_proof(&memory, from, LEAVES).unwrap();
    }
    eprintln!(
        "COL-AUD-005 timings, {LEAVES} leaves: consistency proof over HTTP median {:?} max {:?}; the same 200 in memory {:?} in all",
        times[100],
        times[199],
        start.elapsed()
    );
}
