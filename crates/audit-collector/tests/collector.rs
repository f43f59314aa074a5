//! The collector against a real PostgreSQL and real HTTP on 127.0.0.1,
//! no mocks (spec `.specs/audit-collector.md`): migrations, the registry,
//! the tlog-witness endpoint end to end with the real witness client
//! (`audit_ship::witness::submit`), alerts, and the compare-and-swap under
//! concurrent submissions through two collectors.
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

use std::sync::{Arc, Barrier};

use audit_collector::migrate::{migrate, schema_version};
use audit_collector::registry::{add_worker, list_workers};
use audit_collector::{CollectorError, SCHEMA_VERSION};
use audit_core::tlog::{SignatureType, SignerKey};
use audit_ship::witness::Outcome;
use common::*;

/// The stored tree of `origin`: size and root.
fn witnessed(url: &str, origin: &str) -> Option<(u64, Vec<u8>)> {
    runtime().block_on(async {
        let c = client(url).await;
        c.query_opt(
            "SELECT size, root FROM witnessed WHERE origin = $1",
            &[&origin],
        )
        .await
        .unwrap()
        .map(|row| {
            let size: i64 = row.get(0);
            (u64::try_from(size).unwrap(), row.get(1))
        })
    })
}

fn register(url: &str, log: &WorkerLog) {
    runtime().block_on(async {
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

fn root(log: &WorkerLog, size: u64) -> Vec<u8> {
    log.open().tree_root(size).unwrap().as_bytes().to_vec()
}

/// COL-DB-001: a fresh database is migrated to the newest version in one
/// go and `schema_migrations` says so; migrating again applies nothing;
/// two collectors migrating at once do not race; a database at a newer
/// version is refused with a typed error and left as it was.
#[test]
fn col_db_001_migrations_fresh_reapplied_concurrent_and_newer_refused() {
    let Some(db) = test_database("col_db_001") else {
        return;
    };
    runtime().block_on(async {
        let mut a = client(db.url()).await;
        let mut b = client(db.url()).await;
        assert_eq!(schema_version(&a).await.unwrap(), 0);
        let (ra, rb) = tokio::join!(migrate(&mut a), migrate(&mut b));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let mut applied = [ra.applied.clone(), rb.applied.clone()];
        applied.sort();
        assert_eq!(applied, [vec![], vec![1, 2, 3, 4, 5]], "{ra:?} {rb:?}");
        assert_eq!(ra.to, SCHEMA_VERSION);
        assert_eq!(rb.to, SCHEMA_VERSION);
        assert_eq!(schema_version(&a).await.unwrap(), SCHEMA_VERSION);
        for table in [
            "workers",
            "witnessed",
            "alerts",
            "schema_migrations",
            "records",
            "ingested",
            "ingest_checkpoints",
            "tree_blocks",
        ] {
            let found: bool = a
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await
                .unwrap()
                .get(0);
            assert!(found, "{table}");
        }
        let again = migrate(&mut a).await.unwrap();
        assert!(again.applied.is_empty(), "{again:?}");
        assert_eq!((again.from, again.to), (SCHEMA_VERSION, SCHEMA_VERSION));
        let rows: i64 = a
            .query_one("SELECT count(*) FROM schema_migrations", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, SCHEMA_VERSION);

        a.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')",
            &[],
        )
        .await
        .unwrap();
        let refused = migrate(&mut a).await.unwrap_err();
        assert_eq!(
            refused,
            CollectorError::SchemaTooNew {
                found: 999,
                supported: SCHEMA_VERSION
            }
        );
        assert!(refused.to_string().contains("newer"), "{refused}");
        assert_eq!(schema_version(&a).await.unwrap(), 999);
    });
}

/// COL-DB-003: every record names a registered worker, checked by the
/// database once per statement (a `COPY` of many rows or an `INSERT`),
/// and a worker with records cannot be deleted or renamed; one without
/// records can.
#[test]
fn col_db_003_records_name_registered_workers_who_keep_them() {
    let Some(db) = test_database("col_db_003") else {
        return;
    };
    runtime().block_on(async {
        let mut c = client(db.url()).await;
        migrate(&mut c).await.unwrap();
        for (origin, key) in [("w/kept", 1u8), ("w/empty", 2), ("w/other", 3)] {
            c.execute(
                "INSERT INTO workers (origin, vkey, public_key) VALUES ($1, 'vkey', $2)",
                &[&origin, &vec![key; 32]],
            )
            .await
            .unwrap();
        }
        let insert = |origin: &'static str, seq: i64| {
            format!(
                "INSERT INTO records SELECT '{origin}', s, decode(repeat('07', 16), 'hex'), 0, 'K', 1, 'w', NULL, '{{}}', \
                 decode(repeat('00', 32), 'hex'), decode(repeat('01', 32), 'hex'), decode(repeat('02', 32), 'hex') \
                 FROM generate_series({seq}, {seq} + 2) s"
            )
        };
        c.batch_execute(&insert("w/kept", 1)).await.unwrap();
        // One statement of two origins, one registered, in either order:
        // the one-origin shortcut must not take it (migration 5).
        let mixed = |first: &str, second: &str| {
            format!(
                "INSERT INTO records SELECT CASE WHEN s % 2 = 0 THEN '{first}' ELSE '{second}' END, s, \
                 decode(repeat('07', 16), 'hex'), 0, 'K', 1, 'w', NULL, '{{}}', \
                 decode(repeat('00', 32), 'hex'), decode(repeat('01', 32), 'hex'), decode(repeat('02', 32), 'hex') \
                 FROM generate_series(100, 103) s"
            )
        };
        // An insert of no rows names no origin.
        c.batch_execute("INSERT INTO records SELECT * FROM records WHERE false")
            .await
            .unwrap();
        for refused in [
            insert("w/nobody", 1),
            mixed("w/kept", "w/nobody"),
            mixed("w/nobody", "w/kept"),
            mixed("w/a-nobody", "w/z-nobody"),
            "DELETE FROM workers WHERE origin = 'w/kept'".to_owned(),
            "UPDATE workers SET origin = 'w/renamed' WHERE origin = 'w/kept'".to_owned(),
        ] {
            let e = c.batch_execute(&refused).await.unwrap_err();
            assert_eq!(
                e.code(),
                Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION),
                "{refused}: {e}"
            );
        }
        // Two registered origins in one statement are taken.
        c.batch_execute(&mixed("w/other", "w/kept")).await.unwrap();
        c.batch_execute("UPDATE workers SET vkey = 'vkey2', origin = origin WHERE origin = 'w/kept'")
            .await
            .unwrap();
        c.batch_execute("DELETE FROM workers WHERE origin = 'w/empty'")
            .await
            .unwrap();
        let rows: i64 = c
            .query_one("SELECT count(*) FROM records", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 3 + 4);
    });
}

/// COL-DB-002: each test has a database of its own on the server, so
/// tests are isolated and run in parallel.
#[test]
fn col_db_002_each_test_has_a_database_of_its_own() {
    let Some(one) = test_database("col_db_002") else {
        return;
    };
    let two = test_database("col_db_002").unwrap();
    assert_ne!(one.name(), two.name());
    assert!(
        one.url().ends_with(&format!("/{}", one.name())),
        "{}",
        one.url()
    );
    runtime().block_on(async {
        client(one.url())
            .await
            .batch_execute("CREATE TABLE only_here (x int)")
            .await
            .unwrap();
        let there: bool = client(two.url())
            .await
            .query_one("SELECT to_regclass('only_here') IS NOT NULL", &[])
            .await
            .unwrap()
            .get(0);
        assert!(!there);
    });
    assert_eq!(
        pg_server::with_database("postgres://u@h:1/postgres?sslmode=disable", "t_1"),
        "postgres://u@h:1/t_1?sslmode=disable"
    );
    assert_eq!(
        pg_server::with_database("postgres://u@h:1", "t_1"),
        "postgres://u@h:1/t_1"
    );
}

/// COL-REG-001: a worker is registered by origin and Ed25519 verifier key;
/// an origin twice, a key of another worker, a key of another type, a
/// private key (never shown), a malformed key or origin are refused with
/// typed errors that say what to do.
#[test]
fn col_reg_001_registry_refuses_bad_keys_and_duplicates() {
    let Some(db) = test_database("col_reg_001") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 0);
    let other = WorkerLog::new("worker-other", 0);
    runtime().block_on(async {
        let mut c = client(db.url()).await;
        migrate(&mut c).await.unwrap();
        let vkey = log.vkey().to_string();
        let key = add_worker(&c, &log.origin(), &vkey).await.unwrap();
        assert_eq!(key.to_string(), vkey);

        assert_eq!(
            add_worker(&c, &log.origin(), &other.vkey().to_string())
                .await
                .unwrap_err(),
            CollectorError::WorkerExists {
                origin: log.origin()
            }
        );
        assert_eq!(
            add_worker(&c, &other.origin(), &vkey).await.unwrap_err(),
            CollectorError::KeyInUse {
                other: log.origin()
            }
        );
        let cosigner = SignerKey::from_seed("cosigner", SignatureType::Cosignature, &[3; 32])
            .unwrap()
            .verifier_key()
            .to_string();
        assert!(matches!(
            add_worker(&c, &other.origin(), &cosigner)
                .await
                .unwrap_err(),
            CollectorError::NotEd25519 { .. }
        ));
        let skey = other.key.to_skey().to_string();
        let private = add_worker(&c, &other.origin(), &skey).await.unwrap_err();
        assert_eq!(private, CollectorError::PrivateKey);
        let seed_part = skey.splitn(5, '+').nth(4).unwrap();
        assert_eq!(seed_part.len(), 44);
        assert!(!private.to_string().contains(seed_part), "{private}");
        assert!(matches!(
            add_worker(&c, &other.origin(), "not-a-key")
                .await
                .unwrap_err(),
            CollectorError::BadVerifierKey { .. }
        ));
        for origin in ["", "bad\norigin", "tab\there"] {
            assert!(
                matches!(
                    add_worker(&c, origin, &other.vkey().to_string())
                        .await
                        .unwrap_err(),
                    CollectorError::BadOrigin { .. }
                ),
                "{origin:?}"
            );
        }
        let workers = list_workers(&c).await.unwrap();
        assert_eq!(workers.len(), 1);
        assert_eq!(workers[0].origin, log.origin());
        assert_eq!(workers[0].vkey, vkey);
        assert_eq!(workers[0].witnessed_size, None);
    });
}

/// COL-WIT-001: the real witness client's first submission (`old 0`) is
/// cosigned; the cosignature verifies under the collector's key and is
/// stored in the worker's log (public verification with the collector as
/// a quorum of 1 passes); the tree is stored in PostgreSQL. The next
/// submission, after more records, goes from the size held with a
/// consistency proof.
#[test]
fn col_wit_001_submission_is_cosigned_and_stored() {
    let Some(db) = test_database("col_wit_001") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 5);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    register(db.url(), &log);

    let outcome = log.submit(&collector);
    assert!(
        matches!(outcome, Outcome::Cosigned { old: 0, timestamp } if timestamp > 1_700_000_000),
        "{outcome:?}"
    );
    assert_eq!(witnessed(db.url(), &log.origin()), Some((5, root(&log, 5))));
    let report = audit_core::verify_public(
        &log.db,
        &log.vkey(),
        None,
        None,
        std::slice::from_ref(&collector.vkey),
        1,
    )
    .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.cosigned_by, vec!["collector.test/w1".to_owned()]);

    log.append(3, "a");
    let outcome = log.submit(&collector);
    assert!(
        matches!(outcome, Outcome::Cosigned { old: 5, .. }),
        "{outcome:?}"
    );
    assert_eq!(witnessed(db.url(), &log.origin()), Some((8, root(&log, 8))));
    let workers =
        runtime().block_on(async { list_workers(&client(db.url()).await).await.unwrap() });
    assert_eq!(workers[0].witnessed_size, Some(8));
    assert!(workers[0].cosigned_at.is_some());
    assert!(alerts(db.url()).is_empty());
}

/// COL-WIT-002: a retried identical request after a 200 is a 409 naming
/// the size held (`text/x.tlog.size`), changes nothing and is no alert;
/// the same checkpoint from the size held is cosigned again; a client that
/// lost its cosignature (`old 0`) gets 409 and retries from the size held.
#[test]
fn col_wit_002_retry_and_conflict() {
    let Some(db) = test_database("col_wit_002") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 5);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    register(db.url(), &log);
    let note = log.sign();
    let body = log.request(0, &note);

    let (status, answer) = collector.post(&body);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.starts_with("— collector.test/w1 "), "{answer}");
    let (head, answer) = raw(&format!("{}/add-checkpoint", collector.url), "POST", &body);
    assert!(head.starts_with("http/1.1 409"), "{head}");
    assert!(head.contains("content-type: text/x.tlog.size"), "{head}");
    assert_eq!(answer, "5\n");
    assert_eq!(witnessed(db.url(), &log.origin()), Some((5, root(&log, 5))));

    let (status, answer) = collector.post(&log.request(5, &note));
    assert_eq!(status, 200, "{answer}");

    // The log never stored those cosignatures: it sends `old 0`, is told
    // 5, and retries from there.
    log.append(2, "a");
    let outcome = log.submit(&collector);
    assert!(
        matches!(outcome, Outcome::Cosigned { old: 5, .. }),
        "{outcome:?}"
    );
    assert_eq!(witnessed(db.url(), &log.origin()), Some((7, root(&log, 7))));
    assert!(alerts(db.url()).is_empty(), "{:?}", alerts(db.url()));

    // Malformed: 400, no alert, nothing stored.
    let (status, _) = collector.post(b"old 0\n\nnot a checkpoint\n");
    assert_eq!(status, 400);
    assert!(alerts(db.url()).is_empty());
}

/// COL-WIT-003, COL-ALERT-001: a fork (another history of the same
/// worker, signed with the same key) is 422 and an `inconsistent` alert,
/// through the real client (which records its own alarm), and again at
/// equal size; the tree held is unchanged, and the alert is listed by
/// `GET /alerts`.
#[test]
fn col_wit_003_col_alert_001_fork_is_422_and_an_alert() {
    let Some(db) = test_database("col_wit_003_fork") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 5);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    register(db.url(), &log);
    assert!(matches!(log.submit(&collector), Outcome::Cosigned { .. }));

    let fork = WorkerLog::with_key(WORKER, 0, log.key.clone());
    fork.append(7, "fork");
    let outcome = fork.submit(&collector);
    assert!(
        matches!(
            outcome,
            Outcome::Alarm {
                status: 422,
                old: 5,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(witnessed(db.url(), &log.origin()), Some((5, root(&log, 5))));
    let stored = alerts(db.url());
    assert_eq!(stored.len(), 1, "{stored:?}");
    let alert = &stored[0];
    assert_eq!(alert.kind, audit_collector::AlertKind::Inconsistent);
    assert_eq!(alert.status, 422);
    assert_eq!(alert.origin, log.origin());
    assert_eq!(
        (alert.old_size, alert.checkpoint_size, alert.held_size),
        (Some(5), Some(7), Some(5))
    );
    assert!(alert.peer.as_deref().unwrap().starts_with("127.0.0.1:"));

    // Same size, other records.
    let twin = WorkerLog::with_key(WORKER, 0, log.key.clone());
    twin.append(5, "twin");
    let (status, _) = collector.post(&twin.request(5, &twin.sign()));
    assert_eq!(status, 422);

    let listed = collector.alerts();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["kind"], "inconsistent");
    assert_eq!(listed[0]["status"], 422);
    assert_eq!(listed[0]["origin"], log.origin().as_str());
    assert_eq!(listed[0]["checkpoint_size"], 7);
    assert_eq!(listed[0]["held_size"], 5);
    assert_eq!(listed[1]["checkpoint_size"], 5);
    // Alerts are never retried away: the honest log is still cosigned,
    // and the alerts stay.
    log.append(1, "a");
    assert!(matches!(
        log.submit(&collector),
        Outcome::Cosigned { old: 5, .. }
    ));
    assert_eq!(alerts(db.url()).len(), 2);
}

/// COL-WIT-003, COL-ALERT-001: an origin no operator registered is 404 and
/// an `unknown_origin` alert; a checkpoint signed by another key than the
/// registered one is 403 and a `bad_signature` alert; the real client
/// records both as alarms in its log.
#[test]
fn col_wit_003_col_alert_001_unknown_origin_and_bad_signature() {
    let Some(db) = test_database("col_wit_003_404_403") else {
        return;
    };
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    let stranger = WorkerLog::new("worker-stranger", 3);
    let outcome = stranger.submit(&collector);
    assert!(
        matches!(outcome, Outcome::Alarm { status: 404, .. }),
        "{outcome:?}"
    );

    let log = WorkerLog::new(WORKER, 4);
    register(db.url(), &log);
    let impostor = WorkerLog::new(WORKER, 4);
    let outcome = impostor.submit(&collector);
    assert!(
        matches!(outcome, Outcome::Alarm { status: 403, .. }),
        "{outcome:?}"
    );
    assert_eq!(witnessed(db.url(), &log.origin()), None);

    let stored = alerts(db.url());
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0].kind, audit_collector::AlertKind::UnknownOrigin);
    assert_eq!(stored[0].status, 404);
    assert_eq!(stored[0].origin, stranger.origin());
    assert_eq!(stored[0].checkpoint_size, Some(3));
    assert_eq!(stored[1].kind, audit_collector::AlertKind::BadSignature);
    assert_eq!(stored[1].status, 403);
    assert_eq!(stored[1].origin, log.origin());
    assert!(
        stored[1].reason.contains("not signed by the log's key"),
        "{}",
        stored[1].reason
    );
}

/// COL-ALERT-001: a checkpoint smaller than the tree held (a rollback or a
/// cut, or an old checkpoint replayed) is answered 409 with the size held
/// and is a `rollback` alert; a 409 for a checkpoint at or above the size
/// held is not.
#[test]
fn col_alert_001_smaller_checkpoint_is_a_rollback_alert() {
    let Some(db) = test_database("col_alert_001_rollback") else {
        return;
    };
    let log = WorkerLog::new(WORKER, 5);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    register(db.url(), &log);
    let note5 = log.sign();
    log.append(3, "a");
    assert!(matches!(
        log.submit(&collector),
        Outcome::Cosigned { old: 0, .. }
    ));

    let (status, answer) = collector.post(&log.request(0, &note5));
    assert_eq!((status, answer.as_str()), (409, "8\n"));
    let stored = alerts(db.url());
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].kind, audit_collector::AlertKind::Rollback);
    assert_eq!(stored[0].status, 409);
    assert_eq!(
        (
            stored[0].old_size,
            stored[0].checkpoint_size,
            stored[0].held_size
        ),
        (Some(0), Some(5), Some(8))
    );
    // A stale `old` with a checkpoint at the size held: no alert.
    let note8 = log.sign();
    let (status, _) = collector.post(&log.request(5, &note8));
    assert_eq!(status, 409);
    assert_eq!(alerts(db.url()).len(), 1);
    assert_eq!(witnessed(db.url(), &log.origin()), Some((8, root(&log, 8))));
}

/// COL-WIT-004: submissions for one origin racing through two collectors
/// on the same database, all from the same old size to different sizes:
/// exactly one is cosigned, every other is 409 naming the winner's size,
/// and the stored tree is the winner's; three rounds.
#[test]
fn col_wit_004_concurrent_submissions_never_both_succeed() {
    let Some(db) = test_database("col_wit_004") else {
        return;
    };
    const RACERS: u64 = 6;
    let key = witness_key("collector.test/w1");
    let one = TestCollector::start(db.url(), &key);
    let two = TestCollector::start(db.url(), &key);
    let log = WorkerLog::new(WORKER, 2);
    register(db.url(), &log);
    assert!(matches!(log.submit(&one), Outcome::Cosigned { .. }));
    let mut held = 2;
    let mut rollbacks = 0;
    for round in 0..3 {
        let mut bodies = Vec::new();
        for _ in 0..RACERS {
            log.append(1, "a");
            bodies.push((log.size(), log.request(held, &log.sign())));
        }
        let barrier = Arc::new(Barrier::new(bodies.len()));
        let urls = [one.url.clone(), two.url.clone()];
        let threads: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, (size, body))| {
                let barrier = Arc::clone(&barrier);
                let url = urls[i % 2].clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    (size, post(&url, &body))
                })
            })
            .collect();
        let answers: Vec<(u64, (u16, String))> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<u64> = answers
            .iter()
            .filter(|(_, (status, _))| *status == 200)
            .map(|(size, _)| *size)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let winner = winners[0];
        for (size, (status, body)) in &answers {
            if *size != winner {
                assert_eq!(
                    (*status, body.clone()),
                    (409, format!("{winner}\n")),
                    "round {round}"
                );
                if *size < winner {
                    rollbacks += 1;
                }
            }
        }
        assert_eq!(
            witnessed(db.url(), &log.origin()),
            Some((winner, root(&log, winner)))
        );
        held = winner;
    }
    // Losers smaller than the winner are, as any smaller checkpoint,
    // rollback alerts; nothing else is.
    let stored = alerts(db.url());
    assert_eq!(stored.len(), rollbacks, "{stored:?}");
    assert!(
        stored
            .iter()
            .all(|a| a.kind == audit_collector::AlertKind::Rollback)
    );
}

/// COL-WIT-001: while PostgreSQL cannot be reached the answer is 503 and
/// nothing is cosigned; once it is back, connections are made anew and the
/// same request is cosigned from the tree stored before.
#[test]
fn col_wit_001_database_unavailable_is_503_and_nothing_cosigned() {
    let Some(db) = test_database("col_wit_001_503") else {
        return;
    };
    let server = std::env::var("DATABASE_URL").unwrap();
    let log = WorkerLog::new(WORKER, 5);
    let collector = TestCollector::start(db.url(), &witness_key("collector.test/w1"));
    register(db.url(), &log);
    assert!(matches!(log.submit(&collector), Outcome::Cosigned { .. }));
    log.append(2, "a");
    let body = log.request(5, &log.sign());

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
    let (status, answer) = collector.post(&body);
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("nothing was cosigned"), "{answer}");

    pg_server::psql(
        &server,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .unwrap();
    assert_eq!(witnessed(db.url(), &log.origin()), Some((5, root(&log, 5))));
    let (status, answer) = collector.post(&body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(witnessed(db.url(), &log.origin()), Some((7, root(&log, 7))));
    assert!(alerts(db.url()).is_empty());
}
