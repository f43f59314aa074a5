//! Verification split into parts read in parallel reports exactly what the
//! single walk reports: same first bad record, reason, counts and head, for
//! every kind of tampering at every position (so at, before and after every
//! part boundary), over whole logs, ranges and logs that start at an anchor.
//! (AC-063)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::ops::RangeInclusive;
use std::path::Path;

use audit_core::{
    AuditError, AuditLog, FailureReason, RetentionPolicy, VerifyReport, verify_log_split,
};
use common::*;
use seal_crypto::WorkerSecret;

const N: u64 = 24;

type Tamper = Box<dyn Fn(&rusqlite::Connection)>;
const PARTS: [usize; 4] = [2, 3, 5, 8];

fn walk(
    path: &Path,
    worker: &str,
    secret: &WorkerSecret,
    range: Option<RangeInclusive<u64>>,
) -> Result<VerifyReport, AuditError> {
    verify_log_split(path, worker, secret, range, 1, 0)
}

/// Asserts every split gives the single walk's report; returns that report.
fn assert_split_matches(path: &Path, range: Option<RangeInclusive<u64>>) -> VerifyReport {
    assert_split_matches_as(path, WORKER, &secret(), range)
}

/// The same for another worker or secret. A range that holds no record is
/// the same usage error both ways (AC-049); it returns an empty report.
fn assert_split_matches_as(
    path: &Path,
    worker: &str,
    secret: &WorkerSecret,
    range: Option<RangeInclusive<u64>>,
) -> VerifyReport {
    let reference = walk(path, worker, secret, range.clone());
    for parts in PARTS {
        let split = verify_log_split(path, worker, secret, range.clone(), parts, 0);
        assert_eq!(split, reference, "{parts} parts, range {range:?}");
    }
    match reference {
        Ok(report) => report,
        Err(AuditError::EmptyRange { .. }) if range.is_some() => VerifyReport::default(),
        Err(e) => panic!("{range:?}: {e}"),
    }
}

fn ranges() -> Vec<Option<RangeInclusive<u64>>> {
    vec![
        None,
        Some(1..=N),
        Some(2..=N),
        Some(5..=N - 3),
        Some(N / 2..=u64::MAX),
        Some(N + 1..=N + 10),
    ]
}

fn tampered(dir: &Path, name: &str, tamper: impl Fn(&rusqlite::Connection)) -> std::path::PathBuf {
    let path = build(dir, name, N);
    tamper(&attacker(&path));
    path
}

#[test]
fn split_matches_the_walk_on_an_intact_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", N);
    for range in ranges() {
        assert_split_matches(&path, range);
    }
    let report = assert_split_matches(&path, None);
    assert!(report.is_ok());
    assert_eq!(report.records_checked, N);
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(N)));
}

#[test]
fn split_matches_the_walk_for_every_tampering_at_every_position() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=N {
        let cases: Vec<(&str, Tamper)> = vec![
            (
                "edit",
                Box::new(move |c| {
                    c.execute("UPDATE records SET severity = 0 WHERE seq = ?1", [i as i64])
                        .unwrap();
                }),
            ),
            (
                "edit-link",
                Box::new(move |c| {
                    c.execute(
                        "UPDATE records SET prev_mac = randomblob(32) WHERE seq = ?1",
                        [i as i64],
                    )
                    .unwrap();
                }),
            ),
            (
                "delete",
                Box::new(move |c| {
                    c.execute("DELETE FROM records WHERE seq = ?1", [i as i64])
                        .unwrap();
                }),
            ),
            (
                "delete-two",
                Box::new(move |c| {
                    c.execute(
                        "DELETE FROM records WHERE seq = ?1 OR seq = ?1 + 1",
                        [i as i64],
                    )
                    .unwrap();
                }),
            ),
            (
                "delete-tail",
                Box::new(move |c| {
                    c.execute("DELETE FROM records WHERE seq >= ?1", [i as i64])
                        .unwrap();
                }),
            ),
            ("insert", Box::new(move |c| insert_copy(c, i.max(2) - 1, i))),
            (
                "swap-next",
                Box::new(move |c| {
                    if i < N {
                        swap(c, i, i + 1);
                    }
                }),
            ),
            (
                "swap-far",
                Box::new(move |c| {
                    if i < N {
                        swap(c, i, N);
                    }
                }),
            ),
        ];
        for (name, tamper) in cases {
            let path = tampered(dir.path(), &format!("{name}-{i}.db"), tamper);
            for range in [None, Some(5..=N - 3)] {
                assert_split_matches(&path, range);
            }
            // The same for the tamper at both sides of a split boundary.
            for lo in [i.saturating_sub(1).max(1), i, i + 1] {
                assert_split_matches(&path, Some(lo..=N));
            }
        }
    }
}

#[test]
fn split_names_the_same_record_as_the_walk() {
    // Spot checks that the shared reference is itself right.
    let dir = tempfile::tempdir().unwrap();
    let path = tampered(dir.path(), "edit.db", |c| {
        c.execute("UPDATE records SET severity = 0 WHERE seq = 13", [])
            .unwrap();
    });
    let report = assert_split_matches(&path, None);
    assert_eq!(failure(&report), (Some(13), FailureReason::MacMismatch));
    assert_eq!(report.records_checked, 12);
    let path = tampered(dir.path(), "delete.db", |c| {
        c.execute("DELETE FROM records WHERE seq = 13", []).unwrap();
    });
    let report = assert_split_matches(&path, None);
    assert_eq!(
        failure(&report),
        (
            Some(14),
            FailureReason::SequenceGap {
                expected: 13,
                found: 14
            }
        )
    );
    let path = tampered(dir.path(), "swap.db", |c| swap(c, 1, 2));
    let report = assert_split_matches(&path, None);
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
}

#[test]
fn split_matches_the_walk_for_a_foreign_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", N);
    let report = assert_split_matches_as(&path, "worker-b", &secret(), None);
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
    let other = WorkerSecret::new(&[0x22; 32]).unwrap();
    let report = assert_split_matches_as(&path, WORKER, &other, None);
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
    // From the middle too, the key is checked first: a wrong secret is
    // named as such, not as an edited record (AC-038).
    let report = assert_split_matches_as(&path, WORKER, &other, Some(7..=N));
    assert_eq!(failure(&report), (Some(1), FailureReason::WrongGenesis));
}

#[test]
fn split_matches_the_walk_after_retention() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path(), "a.db", N);
    {
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        let report = log
            .apply_retention(&RetentionPolicy::default().with_max_records(10))
            .unwrap();
        assert_eq!(report.anchor_seq, Some(N - 10));
    }
    for range in ranges() {
        assert_split_matches(&path, range);
    }
    assert!(assert_split_matches(&path, None).is_ok());
    // Deleting past the anchor, at and after the first kept record.
    for cut in [N - 9, N - 8, N - 5] {
        let copy = dir.path().join(format!("cut-{cut}.db"));
        std::fs::copy(&path, &copy).unwrap();
        for suffix in ["-wal", "-shm"] {
            let wal = dir.path().join(format!("a.db{suffix}"));
            if wal.exists() {
                std::fs::copy(&wal, dir.path().join(format!("cut-{cut}.db{suffix}"))).unwrap();
            }
        }
        attacker(&copy)
            .execute("DELETE FROM records WHERE seq <= ?1", [cut as i64])
            .unwrap();
        let report = assert_split_matches(&copy, None);
        assert!(matches!(
            report.failure.map(|f| f.reason),
            Some(FailureReason::SequenceGap { .. })
        ));
    }
}
