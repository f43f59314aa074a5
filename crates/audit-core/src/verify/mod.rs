//! Verification: what a verifier checks, in which order, and how it
//! reports.
//!
//! Before any record: the file's shape ([`structure::shape`]: header,
//! tables, columns), the key (the chain's start, so a wrong secret is named
//! as such), and every `meta` and `anchors` row. Then the walk:
//! For each record, in order: its sequence number is the next one
//! (else [`FailureReason::SequenceGap`]: something was deleted), its
//! `prev_mac` equals the previous record's MAC, or the genesis value for
//! record 1 (else [`FailureReason::BrokenLink`]: inserted or reordered, or
//! [`FailureReason::WrongGenesis`]: another worker's log), and its own MAC
//! verifies (else [`FailureReason::MacMismatch`]: edited). The first failure
//! stops the walk and is reported with its sequence number. The link checks
//! are sequential and cheap; the MAC checks run in parallel over blocks of
//! rows with rayon.
//!
//! A large log read from a file is split into contiguous parts, one per
//! core, each read on its own read-only connection (SQLite reading is the
//! bottleneck) and checked from its own first row; the parts are then joined
//! in order, checking each part's first row against the previous part's last,
//! so the report is exactly the one a single walk would give.
//!
//! After a walk that found nothing: a range must have held what the log
//! holds ([`check_range_complete`]), and no `records` row may lie outside
//! the chain ([`structure::account_records`]).

use std::ops::RangeInclusive;
use std::path::Path;

use rusqlite::Connection;
use seal_crypto::WorkerSecret;

use crate::AuditError;
use crate::reader;
use crate::record::ChainKey;

mod chain;
mod report;
mod rows;
mod split;
mod structure;
mod tree;
mod walk;

pub(crate) use chain::Layer;
pub(crate) use chain::{ChainVerifier, Start};
pub use report::{FailureReason, VerifyFailure, VerifyReport};
use rows::INTEGER_SEQ;
pub(crate) use rows::seq_param;
pub(crate) use rows::{class, latest_anchor, read_raw, read_raw_into, record_mac};
pub(crate) use split::Split;
pub(crate) use split::verify_split;
pub(crate) use structure::{
    Shape, account_records, check_key, check_meta, shape, stored_worker_id,
};
pub(crate) use tree::{TreeFault, TreeScan, scan_tree};
pub(crate) use walk::verify_walk;

/// Rows read before their MACs are checked in parallel.
const BLOCK_ROWS: usize = 2048;

/// What a verification works on: an open log and the key to check it with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub conn: &'a Connection,
    pub worker_id: &'a str,
    pub key: &'a ChainKey,
    /// The file's schema version (which anchor MAC it uses).
    pub schema_version: i64,
    /// A URI that opens the same immutable file again, for parallel parts.
    pub reopen: Option<&'a str>,
}

/// Verifies the chain of an open log, whole or over `range`, splitting a
/// large range into parts (see [`verify_conn_at`]).
pub(crate) fn verify_conn(
    target: Target<'_>,
    range: Option<RangeInclusive<u64>>,
) -> Result<VerifyReport, AuditError> {
    verify_conn_at(target, range, Split::auto())
}

/// [`verify_conn`] split as `split` says: a range spanning at least
/// `split.min_records` sequence numbers is verified in `split.parts` parts,
/// each read on its own connection to the same immutable file (a snapshot
/// in memory is walked in one piece).
///
/// A range that holds no record of the log is [`AuditError::EmptyRange`].
pub(crate) fn verify_conn_at(
    target: Target<'_>,
    range: Option<RangeInclusive<u64>>,
    split: Split,
) -> Result<VerifyReport, AuditError> {
    let Target {
        conn,
        worker_id,
        key,
        ..
    } = target;
    let _span = tracing::info_span!("audit_verify", worker_id).entered();
    if let Some(failure) = check_key(conn, worker_id, key, target.schema_version)? {
        return Ok(VerifyReport::failed(failure.seq, failure.reason));
    }
    if let Some(failure) = structure::check_tables(&target)? {
        return Ok(VerifyReport::failed(failure.seq, failure.reason));
    }
    let anchor = latest_anchor(conn)?;
    let anchor_seq = anchor.as_ref().map_or(0, |a| a.seq);
    let first_in_chain = anchor_seq.saturating_add(1);
    let (lo, hi) = range
        .clone()
        .map_or((0, u64::MAX), |r| (*r.start(), *r.end()));
    if range.is_some() {
        check_range_not_empty(conn, lo, hi, first_in_chain)?;
    }
    // Rows before the chain's start (seq 0, at or below the anchor) are not
    // walked: `account_records` names them as rows outside the chain.
    let lo = lo.max(first_in_chain);
    let start = if lo <= first_in_chain {
        match &anchor {
            Some(a) => Start::After {
                seq: a.seq,
                mac: a.mac.clone(),
            },
            None => Start::Genesis(key.genesis(worker_id)),
        }
    } else {
        match record_mac(conn, lo - 1)? {
            Some(mac) => Start::After { seq: lo - 1, mac },
            None => Start::Trusting { seq: lo },
        }
    };
    // A whole-log check of a file that can be opened again checks the tree
    // layer on its own connection while the chain is walked.
    let has_tree = target.schema_version >= crate::schema::TREE_SCHEMA_VERSION;
    let whole_tree = range.is_none() && has_tree;
    // The head as the walk starts; a passing whole-log walk reaches it.
    let head = head_seq(conn, anchor_seq)?;
    let tree_size = has_tree.then_some(head);
    let (report, early_tree) = std::thread::scope(|scope| {
        let tree_job = match target.reopen {
            Some(uri) if whole_tree => Some(scope.spawn(move || {
                on_own_connection(uri, anchor_seq, head, |own| {
                    check_whole_tree(own, worker_id, anchor_seq)
                })
            })),
            _ => None,
        };
        let report = (|| {
            let split_report = match target.reopen {
                Some(uri) if split.parts > 1 => verify_split(
                    conn,
                    uri,
                    Layer::Chain(key),
                    start.clone(),
                    anchor.as_ref(),
                    lo,
                    hi,
                    split,
                    tree_size,
                )?,
                _ => None,
            };
            match split_report {
                Some(report) => Ok(report),
                None => verify_walk(conn, Layer::Chain(key), start.clone(), lo, hi, tree_size),
            }
        })();
        let tree = tree_job.and_then(|job| job.join().ok());
        (report, tree)
    });
    let mut report = report?;
    if range.is_none() && report.is_ok() {
        check_reached_head(&mut report, anchor_seq, head);
    }
    if range.is_some() && report.is_ok() {
        check_range_complete(conn, &mut report, lo.max(first_in_chain), hi)?;
    }
    if report.is_ok() {
        structure::account_records(conn, &mut report, anchor_seq)?;
    }
    if report.is_ok() && target.schema_version >= crate::schema::TREE_SCHEMA_VERSION {
        let failure = match range {
            None => match early_tree {
                Some(Ok(Some(failure))) => failure,
                Some(Err(e)) => return Err(e),
                _ => check_whole_tree(conn, worker_id, anchor_seq)?,
            },
            Some(_) => tree::check_tree_size(conn, head)?.map(tree_failure),
        };
        if failure.is_some() {
            report.failure = failure;
        }
    }
    tracing::debug!(
        checked = report.records_checked,
        ok = report.is_ok(),
        "audit chain verified"
    );
    Ok(report)
}

/// Defence in depth: a whole-log walk that passed must have checked every
/// record up to the head seen before it started (records appended since
/// may be checked too). One that stopped short is a failure, never a pass:
/// no bug in the walk can turn an unchecked tail into "verified".
fn check_reached_head(report: &mut VerifyReport, anchor_seq: u64, head: u64) {
    let reached = report.last_seq.unwrap_or(anchor_seq);
    if reached < head {
        report.failure = Some(VerifyFailure {
            seq: Some(reached.saturating_add(1)),
            reason: FailureReason::Structure {
                detail: format!(
                    "verification checked the records only up to {reached}, not to the head {head}: the check is incomplete (a fault of the verifier; report it, and do not trust this log until a check passes)"
                ),
            },
        });
    }
}

/// The chain's head sequence number: its last record's, or the latest
/// anchor's when retention left none after it (never the case: retention
/// keeps the newest), or 0. The tree has this many leaves.
pub(crate) fn head_seq(conn: &Connection, anchor_seq: u64) -> Result<u64, AuditError> {
    let last = chain_bounds(conn, anchor_seq.saturating_add(1))?.map_or(0, |(_, last)| last);
    Ok(last.max(anchor_seq))
}

/// A tree fault as a failure of verification with the secret.
fn tree_failure(fault: TreeFault) -> VerifyFailure {
    let (seq, reason) = match fault {
        TreeFault::Structure(detail) => (None, FailureReason::Structure { detail }),
        TreeFault::NodeMismatch { index } => (None, FailureReason::TreeMismatch { index }),
    };
    VerifyFailure { seq, reason }
}

/// The tree layer of a whole-log check (`AC-090`) beside the walk that
/// compared the leaves: the stored tree's nodes are the hashes of its
/// leaves, and every stored checkpoint row is well-formed and has the
/// tree's root at its size.
fn check_whole_tree(
    conn: &Connection,
    worker_id: &str,
    anchor_seq: u64,
) -> Result<Option<VerifyFailure>, AuditError> {
    let size = head_seq(conn, anchor_seq)?;
    let origin = crate::logkey::log_origin(worker_id)?;
    let structure = |detail| {
        Some(VerifyFailure {
            seq: None,
            reason: FailureReason::Structure { detail },
        })
    };
    let stored = match crate::signed::read_checkpoints(conn, &origin, size)? {
        Ok(stored) => stored,
        Err(detail) => return Ok(structure(detail)),
    };
    let sizes: Vec<u64> = stored.iter().map(|c| c.size).collect();
    let scan = match scan_tree(conn, size, &sizes)? {
        Ok(scan) => scan,
        Err(fault) => return Ok(Some(tree_failure(fault))),
    };
    if let Some(bad) = stored.iter().find(|c| scan.root_at(c.size) != Some(c.root)) {
        return Ok(structure(format!(
            "stored checkpoint {} (size {}) does not have the tree's root at that size",
            bad.id, bad.size
        )));
    }
    Ok(None)
}

/// Runs `check` on a connection of its own to the immutable file at `uri`
/// (for a check beside the walk, on another thread); `Ok(None)` when that
/// connection cannot be opened or does not see the same chain (latest
/// anchor `anchor_seq`, head `head`): the caller then runs it on its own.
pub(crate) fn on_own_connection<T>(
    uri: &str,
    anchor_seq: u64,
    head: u64,
    check: impl FnOnce(&Connection) -> Result<T, AuditError>,
) -> Result<Option<T>, AuditError> {
    let Ok(own) = reader::open_uri(uri) else {
        return Ok(None);
    };
    let same = latest_anchor(&own)?.map_or(0, |a| a.seq) == anchor_seq
        && head_seq(&own, anchor_seq)? == head;
    if !same {
        return Ok(None);
    }
    check(&own).map(Some)
}

/// The first and last sequence numbers of the chain's records.
fn chain_bounds(conn: &Connection, first_in_chain: u64) -> Result<Option<(u64, u64)>, AuditError> {
    let (min, max): (Option<i64>, Option<i64>) = conn
        .query_row(
            &format!(
                "SELECT (SELECT MIN(seq) FROM records WHERE seq >= ?1 AND {INTEGER_SEQ}), \
                        (SELECT MAX(seq) FROM records WHERE seq >= ?1 AND {INTEGER_SEQ})"
            ),
            [seq_param(first_in_chain)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(AuditError::storage("reading records"))?;
    Ok(min
        .and_then(|m| u64::try_from(m).ok())
        .zip(max.and_then(|m| u64::try_from(m).ok())))
}

/// A range that holds nothing the log holds (past its end, before its
/// first record, `0..=0`) is a usage error naming what the log holds, never
/// an empty success.
fn check_range_not_empty(
    conn: &Connection,
    lo: u64,
    hi: u64,
    first_in_chain: u64,
) -> Result<(), AuditError> {
    let bounds = chain_bounds(conn, first_in_chain)?;
    let holds = bounds.is_some_and(|(_, last)| lo <= last && hi >= first_in_chain && lo <= hi);
    if holds {
        return Ok(());
    }
    Err(AuditError::EmptyRange {
        from: lo,
        to: hi,
        first: bounds.map(|_| first_in_chain),
        last: bounds.map(|(_, last)| last),
    })
}

/// A range check sees only the rows in the range, so records deleted at its
/// start or end (or all of them) would leave nothing to disagree with.
/// Records that exist after the range's end prove the range should be full:
/// every sequence number from `begin` to `min(hi, last record)` must have
/// been checked, or the first missing one is reported as a gap.
fn check_range_complete(
    conn: &Connection,
    report: &mut VerifyReport,
    begin: u64,
    hi: u64,
) -> Result<(), AuditError> {
    let Some((_, table_max)) = chain_bounds(conn, 1)? else {
        return Ok(());
    };
    let end = hi.min(table_max);
    if begin > end || report.last_seq == Some(end) {
        return Ok(());
    }
    let missing = report.last_seq.map_or(begin, |last| last.saturating_add(1));
    let found: Option<i64> = conn
        .query_row(
            &format!("SELECT MIN(seq) FROM records WHERE seq > ?1 AND {INTEGER_SEQ}"),
            [seq_param(missing)],
            |row| row.get(0),
        )
        .map_err(AuditError::storage("reading records"))?;
    let found = found
        .and_then(|f| u64::try_from(f).ok())
        .unwrap_or(table_max);
    report.failure = Some(VerifyFailure {
        seq: Some(found),
        reason: FailureReason::SequenceGap {
            expected: missing,
            found,
        },
    });
    Ok(())
}

/// Verifies the log at `path` as worker `worker_id` with `secret`, whole or
/// over a sequence `range`.
///
/// Never creates, changes, merges or deletes a file (see
/// [`crate::AuditLog::open_read`]). A file that is not an audit log at all
/// (empty, not SQLite, another application's) is
/// [`AuditError::NotAnAuditLog`]; an audit log with part of its structure
/// removed or changed is a failed check ([`FailureReason::Structure`]); an
/// unknown schema is [`FailureReason::UnknownSchema`]. A range holding no
/// record is [`AuditError::EmptyRange`]. The worker id is the one the
/// verifier *expects*: a log copied from another worker fails with
/// [`FailureReason::WrongGenesis`] whatever its metadata says.
///
/// A range that starts after the first record checks the link to the record
/// before it, trusting that one; only a whole-log check (or a range from the
/// start) proves the chain from genesis.
///
/// A log of schema 3 is checked on both layers: after the chain, the Merkle
/// tree (every `tree` and `checkpoints` row against the recomputed leaves:
/// [`FailureReason::LeafMismatch`], [`FailureReason::TreeMismatch`],
/// [`FailureReason::Structure`]; a range check compares the leaves of the
/// records in the range). To check a log without the secret, see
/// [`crate::verify_public`].
pub fn verify_log(
    path: impl AsRef<Path>,
    worker_id: &str,
    secret: &WorkerSecret,
    range: Option<RangeInclusive<u64>>,
) -> Result<VerifyReport, AuditError> {
    verify_log_with(path.as_ref(), worker_id, secret, range, Split::auto())
}

/// [`verify_log`] split into `parts` read in parallel whenever the range
/// spans at least `min_records` sequence numbers (`parts` 1: one walk).
/// For tests comparing the split verification with the single walk; not a
/// stable API.
#[doc(hidden)]
pub fn verify_log_split(
    path: impl AsRef<Path>,
    worker_id: &str,
    secret: &WorkerSecret,
    range: Option<RangeInclusive<u64>>,
    parts: usize,
    min_records: u64,
) -> Result<VerifyReport, AuditError> {
    let split = Split { parts, min_records };
    verify_log_with(path.as_ref(), worker_id, secret, range, split)
}

fn verify_log_with(
    path: &Path,
    worker_id: &str,
    secret: &WorkerSecret,
    range: Option<RangeInclusive<u64>>,
    split: Split,
) -> Result<VerifyReport, AuditError> {
    crate::record::validate_worker_id(worker_id)?;
    let key = ChainKey::derive(secret)?;
    let snapshot = reader::open(path)?;
    match shape(&snapshot.conn)? {
        Shape::NotALog(detail) => Err(AuditError::NotAnAuditLog {
            path: path.display().to_string(),
            detail,
        }),
        Shape::Unknown(found) => Ok(VerifyReport::failed(
            None,
            FailureReason::UnknownSchema { found },
        )),
        Shape::Broken(detail) => Ok(VerifyReport::failed(
            None,
            FailureReason::Structure { detail },
        )),
        Shape::Log(schema_version) => {
            let target = Target {
                conn: &snapshot.conn,
                worker_id,
                key: &key,
                schema_version,
                reopen: snapshot.reopen.as_deref(),
            };
            verify_conn_at(target, range, split)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::rows::Anchor;
    use super::split::{MAX_PARTS, open_part_connection, seq_bounds, verify_part};
    use super::*;
    use crate::{AuditEvent, AuditLog};

    const WORKER: &str = "worker-s";

    /// AC-030: a whole-log walk that passed but stopped short of the head
    /// seen before it is a failure naming the first record not checked;
    /// one that reached the head (or went past it: appended meanwhile),
    /// or a log with nothing after its anchor, passes.
    #[test]
    fn ac_030_a_walk_that_stops_short_of_the_head_fails() {
        let walked = |last_seq: Option<u64>| VerifyReport {
            last_seq,
            ..VerifyReport::default()
        };
        for (last, anchor, head) in [
            (Some(7), 0, 7),
            (Some(9), 0, 7),
            (None, 3, 3),
            (Some(4), 3, 4),
        ] {
            let mut report = walked(last);
            check_reached_head(&mut report, anchor, head);
            assert!(report.is_ok(), "{last:?} {anchor} {head}: {report:?}");
        }
        for (last, anchor, head, first_unchecked) in [
            (Some(5), 0, 7, 6),
            (None, 0, 2, 1),
            (None, 3, 4, 4),
            (Some(6), 3, 7, 7),
        ] {
            let mut report = walked(last);
            check_reached_head(&mut report, anchor, head);
            let failure = report.failure.unwrap();
            assert_eq!(failure.seq, Some(first_unchecked));
            assert!(
                matches!(&failure.reason, FailureReason::Structure { detail } if detail.contains(&format!("not to the head {head}"))),
                "{failure:?}"
            );
        }
    }

    fn secret() -> WorkerSecret {
        WorkerSecret::new(&[5; 32]).unwrap()
    }

    /// A log of `n` records; `tamper` runs on a connection without the
    /// append-only triggers.
    fn log(dir: &Path, n: u64, tamper: &str) -> AuditLog {
        let path = dir.join("s.db");
        let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
        let events: Vec<_> = (0..n)
            .map(|i| {
                AuditEvent::custom(
                    "T",
                    crate::Severity::Low,
                    None,
                    serde_json::json!({ "i": i }),
                )
                .unwrap()
            })
            .collect();
        log.append_batch(&events).unwrap();
        drop(log);
        let attacker = Connection::open(&path).unwrap();
        attacker
            .execute_batch(
                "DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete; \
                 DROP TRIGGER records_append_only; PRAGMA ignore_check_constraints = ON;",
            )
            .unwrap();
        attacker.execute_batch(tamper).unwrap();
        drop(attacker);
        AuditLog::open_read(&path, WORKER, &secret()).unwrap()
    }

    /// AC-030: a check on a connection of its own runs only when that
    /// connection sees the log the caller walks (the same anchor and
    /// head); otherwise, or when the file cannot be opened again, it is
    /// left to the caller (`None`).
    #[test]
    fn ac_030_an_own_connection_is_used_only_on_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 5, "");
        let uri = log.reopen.clone().unwrap();
        let ran = |anchor, head| on_own_connection(&uri, anchor, head, |_| Ok("ran")).unwrap();
        assert_eq!(ran(0, 5), Some("ran"));
        assert_eq!(ran(0, 4), None, "another head");
        assert_eq!(ran(0, 6), None, "another head");
        assert_eq!(ran(1, 5), None, "another anchor");
        assert_eq!(
            on_own_connection("file:/nonexistent/x.db?mode=ro", 0, 5, |_| Ok(())).unwrap(),
            None
        );
    }

    /// AC-033: a range of exactly one record that was deleted is a gap at
    /// it, not an empty pass (the walk finds no row there); so is a range
    /// ending at a deleted record.
    #[test]
    fn ac_033_a_one_record_range_over_a_deleted_record_is_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 6, "DELETE FROM records WHERE seq = 3");
        for range in [3..=3, 2..=3] {
            let report = log.verify(Some(range.clone())).unwrap();
            let failure = report.failure.unwrap();
            assert_eq!(failure.seq, Some(4), "{range:?}");
            assert_eq!(
                failure.reason,
                FailureReason::SequenceGap {
                    expected: 3,
                    found: 4
                },
                "{range:?}"
            );
        }
        assert!(log.verify(Some(4..=4)).unwrap().failure.is_none());
    }

    /// The split report, asserting the split path ran (no fallback).
    fn split(log: &AuditLog, lo: u64, hi: u64, parts: usize) -> VerifyReport {
        let key = &log.key;
        let start = if lo <= 1 {
            Start::Genesis(key.genesis(WORKER))
        } else {
            match record_mac(&log.conn, lo - 1).unwrap() {
                Some(mac) => Start::After { seq: lo - 1, mac },
                None => Start::Trusting { seq: lo },
            }
        };
        let split = Split {
            parts,
            min_records: 0,
        };
        let size = Some(head_seq(&log.conn, 0).unwrap());
        let report = verify_split(
            &log.conn,
            log.reopen.as_deref().unwrap(),
            Layer::Chain(key),
            start.clone(),
            None,
            lo,
            hi,
            split,
            size,
        );
        let mut report = match report.unwrap() {
            Some(report) => report,
            None => {
                // Only a range with under two rows is not split (counted
                // here without seq_bounds, which the split itself uses).
                let rows: i64 = log
                    .conn
                    .query_row(
                        "SELECT count(*) FROM records WHERE seq >= ?1 AND seq <= ?2",
                        [rows::seq_param(lo), rows::seq_param(hi)],
                        |row| row.get(0),
                    )
                    .unwrap();
                assert!(rows < 2, "{lo}..={hi}: {rows} rows, not split");
                verify_walk(&log.conn, Layer::Chain(key), start, lo, hi, size).unwrap()
            }
        };
        // As verify_conn_at does for every range.
        if report.is_ok() {
            check_range_complete(&log.conn, &mut report, lo.max(1), hi).unwrap();
        }
        report
    }

    #[test]
    fn split_parts_join_into_the_walks_report() {
        let dir = tempfile::tempdir().unwrap();
        // 40 records: with 4 parts the boundaries are at 11, 21 and 31.
        let tampers = [
            "",
            "UPDATE records SET severity = 3 WHERE seq = 21",
            "UPDATE records SET severity = 3 WHERE seq = 20",
            "UPDATE records SET prev_mac = X'00' WHERE seq = 21",
            "DELETE FROM records WHERE seq = 21",
            "DELETE FROM records WHERE seq = 20",
            "DELETE FROM records WHERE seq >= 19 AND seq <= 32",
            "DELETE FROM records WHERE seq = 1",
            "UPDATE records SET severity = 3 WHERE seq = 1",
            "UPDATE records SET severity = 3 WHERE seq = 40",
            "UPDATE records SET severity = 3 WHERE seq IN (25, 35)",
        ];
        for (index, tamper) in tampers.into_iter().enumerate() {
            let sub = dir.path().join(index.to_string());
            std::fs::create_dir_all(&sub).unwrap();
            let log = log(&sub, 40, tamper);
            for (lo, hi) in [
                (0, u64::MAX),
                (1, 40),
                (11, 40),
                (21, 30),
                (5, 36),
                (20, 21),
            ] {
                let walk = log.verify(Some(lo..=hi)).unwrap();
                for parts in [2, 4, 7, 40, 64] {
                    assert_eq!(
                        split(&log, lo, hi, parts),
                        walk,
                        "{tamper:?} {lo}..={hi} {parts}"
                    );
                }
            }
        }
    }

    /// AC-063: the bounds a split divides are the lowest and highest
    /// sequence numbers present in the range, gaps and all; none for a
    /// range without rows.
    #[test]
    fn ac_063_seq_bounds_are_the_rows_present_in_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(
            dir.path(),
            10,
            "DELETE FROM records WHERE seq IN (1, 5, 6, 10)",
        );
        for (lo, hi, bounds) in [
            (0, u64::MAX, Some((2, 9))),
            (1, 10, Some((2, 9))),
            (3, 7, Some((3, 7))),
            (5, 6, None),
            (4, 6, Some((4, 4))),
            (10, 20, None),
            (8, 8, Some((8, 8))),
        ] {
            assert_eq!(
                seq_bounds(&log.conn, lo, hi).unwrap(),
                bounds,
                "{lo}..={hi}"
            );
        }
    }

    /// AC-063: a part longer than one block of rows ([`BLOCK_ROWS`]) is
    /// read to its end: 5,000 records in two parts of 2,500, intact and
    /// with a record changed in a part's second and third block.
    #[test]
    fn ac_063_parts_longer_than_a_block_are_read_to_their_end() {
        let dir = tempfile::tempdir().unwrap();
        for (index, tamper) in [
            "",
            "UPDATE records SET severity = 3 WHERE seq = 2100",
            "UPDATE records SET severity = 3 WHERE seq = 4700",
        ]
        .into_iter()
        .enumerate()
        {
            let sub = dir.path().join(index.to_string());
            std::fs::create_dir_all(&sub).unwrap();
            let log = log(&sub, 5000, tamper);
            let walk = log.verify(None).unwrap();
            assert_eq!(walk.is_ok(), tamper.is_empty(), "{tamper:?}: {walk:?}");
            assert_eq!(split(&log, 0, u64::MAX, 2), walk, "{tamper:?}");
        }
    }

    /// AC-063: a part gives up (`None`) once a part before it has failed,
    /// and only then: not for its own failure or a later part's.
    #[test]
    fn ac_063_a_part_gives_up_only_after_an_earlier_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 10, "");
        let part = |index: usize, failed: usize| {
            let failed = std::sync::atomic::AtomicUsize::new(failed);
            verify_part(
                &log.conn,
                Layer::Chain(&log.key),
                4,
                7,
                index,
                &failed,
                None,
            )
            .unwrap()
            .map(|part| part.report.records_checked)
        };
        assert_eq!(part(1, usize::MAX), Some(4), "nothing failed");
        assert_eq!(part(1, 0), None, "an earlier part failed");
        assert_eq!(part(1, 1), Some(4), "its own index");
        assert_eq!(part(1, 2), Some(4), "a later part failed");
    }

    /// AC-063: a part's connection is used only when it sees the caller's
    /// latest anchor and the caller's bounds; either differing is enough to
    /// refuse it (the caller then walks its own connection).
    #[test]
    fn ac_063_a_part_connection_must_see_the_same_anchor_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 10, "");
        let uri = log.reopen.clone().unwrap();
        let other_anchor = Anchor {
            seq: 3,
            mac: vec![1; 32],
            dropped: 3,
            ts_ns: 0,
            tag: vec![2; 32],
        };
        let opened = |anchor: Option<&Anchor>, bounds| {
            open_part_connection(&uri, anchor, 1, bounds).is_some()
        };
        assert!(opened(None, (1, 10)));
        assert!(!opened(Some(&other_anchor), (1, 10)), "another anchor");
        assert!(!opened(None, (1, 11)), "other bounds");
        assert!(!opened(None, (2, 10)), "other bounds");
        assert!(!opened(Some(&other_anchor), (2, 10)), "both differ");
        assert!(open_part_connection("file:/nonexistent/x.db?mode=ro", None, 1, (1, 10)).is_none());
    }

    #[test]
    fn small_ranges_and_connections_without_a_file_are_walked() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 10, "");
        let key = &log.key;
        let start = Start::Genesis(key.genesis(WORKER));
        let auto = Split::auto();
        assert!(auto.parts >= 1 && auto.parts <= MAX_PARTS);
        let none = verify_split(
            &log.conn,
            log.reopen.as_deref().unwrap(),
            Layer::Chain(key),
            start.clone(),
            None,
            0,
            u64::MAX,
            auto,
            None,
        );
        assert!(none.unwrap().is_none());
        let memory = Connection::open_in_memory().unwrap();
        assert!(memory.path().is_none_or(str::is_empty));
    }
}
