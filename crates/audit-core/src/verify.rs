//! Walking the chain: what a verifier checks and how it reports.
//!
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

use std::fmt;
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;

use rayon::prelude::*;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row};
use seal_crypto::WorkerSecret;
use serde::{Deserialize, Serialize};

use crate::AuditError;
use crate::record::{ChainKey, RawRecord, to_hex};
use crate::schema::{self, RECORD_COLUMNS, SchemaState};

/// Rows read before their MACs are checked in parallel.
const BLOCK_ROWS: usize = 2048;

/// Sequence numbers a range must span before it is split into parts.
const SPLIT_MIN_RECORDS: u64 = 50_000;

/// Most parts (connections, threads) a verification is split into.
const MAX_PARTS: usize = 8;

/// How a verification of a file may be split into parts read in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Parts (1: one walk on the caller's connection).
    pub parts: usize,
    /// Smallest span of sequence numbers that is split.
    pub min_records: u64,
}

impl Split {
    /// One part per available core (at most [`MAX_PARTS`]), for ranges
    /// spanning at least [`SPLIT_MIN_RECORDS`] sequence numbers.
    pub fn auto() -> Self {
        Self {
            parts: std::thread::available_parallelism()
                .map_or(1, NonZeroUsize::get)
                .min(MAX_PARTS),
            min_records: SPLIT_MIN_RECORDS,
        }
    }
}

/// Why verification stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The record's MAC does not match its contents: it was edited.
    MacMismatch,
    /// A sequence number is missing: records were deleted.
    SequenceGap {
        /// The sequence number that should have come next.
        expected: u64,
        /// The one found instead.
        found: u64,
    },
    /// The record does not link to the one before it: a record was
    /// inserted, or records were reordered.
    BrokenLink,
    /// The first record does not link to this worker's genesis value: the
    /// log belongs to another worker, or was written under another secret
    /// (or its first record was replaced or moved: any broken link at
    /// record 1 is reported this way).
    WrongGenesis,
    /// The retention anchor the chain starts from is not authentic.
    BadAnchor,
    /// The log's schema version is not one this build reads.
    UnknownSchema {
        /// The version found.
        found: i64,
    },
    /// The log ends before the checkpoint's head: records were cut off the
    /// tail, or an older copy of the database was put back.
    Truncated {
        /// The checkpoint's last sequence number.
        checkpoint_seq: u64,
        /// The log's last sequence number (0 when empty).
        log_last_seq: u64,
    },
    /// The record at the checkpoint's head is not the one that was
    /// checkpointed: an older copy was put back and written on since.
    RolledBack {
        /// The checkpoint's last sequence number.
        checkpoint_seq: u64,
    },
    /// A record in an export could not be decoded into the stored form.
    Malformed {
        /// What could not be decoded.
        detail: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MacMismatch => f.write_str("MAC mismatch: the record was edited"),
            Self::SequenceGap { expected, found } => write!(
                f,
                "sequence gap: expected {expected}, found {found} (records were deleted)"
            ),
            Self::BrokenLink => f.write_str(
                "broken link: the record does not follow the previous one (inserted or reordered)",
            ),
            Self::WrongGenesis => f.write_str(
                "wrong genesis: the log belongs to another worker or was written under another secret",
            ),
            Self::BadAnchor => f.write_str("the retention anchor is not authentic"),
            Self::UnknownSchema { found } => write!(f, "unknown schema version {found}"),
            Self::Truncated {
                checkpoint_seq,
                log_last_seq,
            } => write!(
                f,
                "truncated: the checkpoint covers up to {checkpoint_seq} but the log ends at {log_last_seq} (tail cut off or older copy restored)"
            ),
            Self::RolledBack { checkpoint_seq } => write!(
                f,
                "rolled back: record {checkpoint_seq} is not the one checkpointed (older copy restored and written on)"
            ),
            Self::Malformed { detail } => write!(f, "malformed record: {detail}"),
        }
    }
}

/// The first bad record and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyFailure {
    /// The sequence number at which the problem was found (`None` when it
    /// concerns the whole file, like an unknown schema).
    pub seq: Option<u64>,
    /// Why.
    #[serde(flatten)]
    pub reason: FailureReason,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record {seq}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// What a verification found.
///
/// `failure` is `None` when every checked record verified.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records that verified (up to, not including, the first bad one).
    pub records_checked: u64,
    /// First sequence number checked.
    pub first_seq: Option<u64>,
    /// Last sequence number that verified.
    pub last_seq: Option<u64>,
    /// MAC of the last record that verified, hex.
    pub head_mac: Option<String>,
    /// The first problem, if any.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    pub(crate) fn failed(seq: Option<u64>, reason: FailureReason) -> Self {
        Self {
            failure: Some(VerifyFailure { seq, reason }),
            ..Self::default()
        }
    }
}

/// Where the chain under check starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// At record 1, linked to the worker's genesis value.
    Genesis([u8; 32]),
    /// After record `seq` (kept, or a retention anchor) whose MAC was `mac`.
    After { seq: u64, mac: Vec<u8> },
    /// At `seq`, trusting the first record's `prev_mac` (a range whose
    /// predecessor is not available, or an export of a range).
    Trusting { seq: u64 },
}

/// Streaming chain verifier: feed it blocks of consecutive rows.
#[derive(Debug)]
pub(crate) struct ChainVerifier<'k> {
    key: &'k ChainKey,
    expected_seq: u64,
    prev: Option<Vec<u8>>,
    at_genesis: bool,
    /// Check a block's MACs with rayon (else on this thread).
    parallel: bool,
    report: VerifyReport,
}

impl<'k> ChainVerifier<'k> {
    pub fn new(key: &'k ChainKey, start: Start) -> Self {
        let (expected_seq, prev, at_genesis) = match start {
            Start::Genesis(g) => (1, Some(g.to_vec()), true),
            Start::After { seq, mac } => (seq.saturating_add(1), Some(mac), false),
            Start::Trusting { seq } => (seq, None, false),
        };
        Self {
            key,
            expected_seq,
            prev,
            at_genesis,
            parallel: true,
            report: VerifyReport::default(),
        }
    }

    /// Checks MACs on the calling thread (for a part already running on a
    /// thread of its own).
    fn sequential(mut self) -> Self {
        self.parallel = false;
        self
    }

    /// Checks the next rows; false once a failure was found.
    pub fn check_block(&mut self, rows: &[RawRecord]) -> bool {
        if self.report.failure.is_some() {
            return false;
        }
        let mut structural: Option<(usize, FailureReason)> = None;
        let mut expected = self.expected_seq;
        let mut prev: Option<&[u8]> = self.prev.as_deref();
        for (i, row) in rows.iter().enumerate() {
            if row.seq != expected {
                structural = Some((
                    i,
                    FailureReason::SequenceGap {
                        expected,
                        found: row.seq,
                    },
                ));
                break;
            }
            if let Some(p) = prev
                && p != row.prev_mac.as_slice()
            {
                let reason = if i == 0 && self.at_genesis {
                    FailureReason::WrongGenesis
                } else {
                    FailureReason::BrokenLink
                };
                structural = Some((i, reason));
                break;
            }
            prev = Some(&row.mac);
            expected = expected.saturating_add(1);
        }
        let limit = structural.as_ref().map_or(rows.len(), |(i, _)| i + 1);
        let checked = rows.get(..limit).unwrap_or(rows);
        let key = self.key;
        let mac_bad = if self.parallel {
            checked
                .par_iter()
                .map_init(Vec::new, |scratch, r| key.verify_record(r, scratch))
                .position_first(|ok| !ok)
        } else {
            let mut scratch = Vec::new();
            checked
                .iter()
                .position(|r| !key.verify_record(r, &mut scratch))
        };
        let failure = match (structural, mac_bad) {
            (Some((i, _)), Some(j)) if j < i => Some((j, FailureReason::MacMismatch)),
            (Some(found), _) => Some(found),
            (None, Some(j)) => Some((j, FailureReason::MacMismatch)),
            (None, None) => None,
        };
        let good = failure.as_ref().map_or(rows.len(), |(i, _)| *i);
        if let Some(first) = rows.first()
            && self.report.first_seq.is_none()
        {
            self.report.first_seq = Some(first.seq);
        }
        if let Some(last_good) = good.checked_sub(1).and_then(|i| rows.get(i)) {
            self.report.last_seq = Some(last_good.seq);
            self.report.head_mac = Some(to_hex(&last_good.mac));
            self.expected_seq = last_good.seq.saturating_add(1);
            self.prev = Some(last_good.mac.clone());
            self.at_genesis = false;
        }
        self.report.records_checked += good as u64;
        match failure {
            Some((i, reason)) => {
                let seq = rows.get(i).map(|r| r.seq);
                self.report.failure = Some(VerifyFailure { seq, reason });
                false
            }
            None => true,
        }
    }

    pub fn fail(&mut self, seq: Option<u64>, reason: FailureReason) {
        if self.report.failure.is_none() {
            self.report.failure = Some(VerifyFailure { seq, reason });
        }
    }

    /// Appends a part verified on its own from its first row
    /// ([`Start::Trusting`] that row's seq): checks that first row's sequence
    /// number and link against this chain, as [`Self::check_block`] would,
    /// then takes the part's result. False once a failure was found.
    fn join_part(&mut self, part: PartResult) -> bool {
        if self.report.failure.is_some() {
            return false;
        }
        let Some((seq, prev_mac)) = part.first else {
            return true;
        };
        if self.report.first_seq.is_none() {
            self.report.first_seq = Some(seq);
        }
        if seq != self.expected_seq {
            let expected = self.expected_seq;
            self.fail(
                Some(seq),
                FailureReason::SequenceGap {
                    expected,
                    found: seq,
                },
            );
            return false;
        }
        if let Some(p) = &self.prev
            && *p != prev_mac
        {
            let reason = if self.at_genesis {
                FailureReason::WrongGenesis
            } else {
                FailureReason::BrokenLink
            };
            self.fail(Some(seq), reason);
            return false;
        }
        let report = part.report;
        self.report.records_checked += report.records_checked;
        if let (Some(last), Some(head), Some(tail)) = (report.last_seq, report.head_mac, part.tail)
        {
            self.report.last_seq = Some(last);
            self.report.head_mac = Some(head);
            self.expected_seq = last.saturating_add(1);
            self.prev = Some(tail);
            self.at_genesis = false;
        }
        match report.failure {
            Some(failure) => {
                self.report.failure = Some(failure);
                false
            }
            None => true,
        }
    }

    pub fn finish(self) -> VerifyReport {
        self.report
    }

    pub fn finish_ref(&self) -> VerifyReport {
        self.report.clone()
    }
}

fn set_bytes(dst: &mut Vec<u8>, value: ValueRef<'_>) {
    dst.clear();
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => dst.extend_from_slice(b),
        ValueRef::Integer(i) => dst.extend_from_slice(i.to_string().as_bytes()),
        ValueRef::Real(r) => dst.extend_from_slice(r.to_string().as_bytes()),
        ValueRef::Null => {}
    }
}

fn bytes_of(value: ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    set_bytes(&mut out, value);
    out
}

fn set_text(dst: &mut String, value: ValueRef<'_>) {
    dst.clear();
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => match std::str::from_utf8(b) {
            Ok(s) => dst.push_str(s),
            // Not what the log writes; the lossy text fails the MAC check.
            Err(_) => dst.push_str(&String::from_utf8_lossy(b)),
        },
        other => dst.push_str(&String::from_utf8_lossy(&bytes_of(other))),
    }
}

fn int_of(value: ValueRef<'_>) -> i64 {
    match value {
        ValueRef::Integer(i) => i,
        // Not what the log writes: a sentinel that no MAC covers.
        _ => i64::MIN,
    }
}

/// Reads a row of [`RECORD_COLUMNS`] into `dst`, reusing its buffers, without
/// trusting the column types: whatever was put there, the MAC check decides.
pub(crate) fn read_raw_into(row: &Row<'_>, dst: &mut RawRecord) -> rusqlite::Result<()> {
    dst.seq = u64::try_from(int_of(row.get_ref(0)?)).unwrap_or(u64::MAX);
    set_bytes(&mut dst.id, row.get_ref(1)?);
    dst.ts_ns = int_of(row.get_ref(2)?);
    set_text(&mut dst.kind, row.get_ref(3)?);
    dst.severity = int_of(row.get_ref(4)?);
    set_text(&mut dst.worker_id, row.get_ref(5)?);
    match row.get_ref(6)? {
        ValueRef::Null => dst.shard_id = None,
        other => set_text(dst.shard_id.get_or_insert_with(String::new), other),
    }
    set_text(&mut dst.event, row.get_ref(7)?);
    set_bytes(&mut dst.prev_mac, row.get_ref(8)?);
    set_bytes(&mut dst.mac, row.get_ref(9)?);
    Ok(())
}

/// Reads a row of [`RECORD_COLUMNS`] (see [`read_raw_into`]).
pub(crate) fn read_raw(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    let mut raw = RawRecord::default();
    read_raw_into(row, &mut raw)?;
    Ok(raw)
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A retention anchor: the chain continues after `seq`, whose MAC was `mac`;
/// `tag` authenticates both.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub mac: Vec<u8>,
    pub tag: Vec<u8>,
}

/// The latest retention anchor.
pub(crate) fn latest_anchor(conn: &Connection) -> Result<Option<Anchor>, AuditError> {
    conn.query_row(
        "SELECT seq, mac, anchor_mac FROM anchors ORDER BY seq DESC LIMIT 1",
        [],
        |row| {
            Ok(Anchor {
                seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                mac: bytes_of(row.get_ref(1)?),
                tag: bytes_of(row.get_ref(2)?),
            })
        },
    )
    .optional()
    .map_err(AuditError::storage("reading the retention anchor"))
}

pub(crate) fn record_mac(conn: &Connection, seq: u64) -> Result<Option<Vec<u8>>, AuditError> {
    conn.query_row(
        "SELECT mac FROM records WHERE seq = ?1",
        [seq_param(seq)],
        |row| Ok(bytes_of(row.get_ref(0)?)),
    )
    .optional()
    .map_err(AuditError::storage("reading a record"))
}

/// Verifies the chain of an open connection, whole or over `range`,
/// splitting a large range into parts (see [`verify_conn_at`]).
pub(crate) fn verify_conn(
    conn: &Connection,
    worker_id: &str,
    key: &ChainKey,
    range: Option<RangeInclusive<u64>>,
) -> Result<VerifyReport, AuditError> {
    verify_conn_at(conn, worker_id, key, range, Split::auto())
}

/// [`verify_conn`] split as `split` says: a range spanning at least
/// `split.min_records` sequence numbers is verified in `split.parts` parts,
/// each read on its own connection to the file `conn` is open on (a
/// connection without a file is walked in one piece).
pub(crate) fn verify_conn_at(
    conn: &Connection,
    worker_id: &str,
    key: &ChainKey,
    range: Option<RangeInclusive<u64>>,
    split: Split,
) -> Result<VerifyReport, AuditError> {
    let _span = tracing::info_span!("audit_verify", worker_id).entered();
    let anchor = latest_anchor(conn)?;
    let chain_start = match &anchor {
        Some(a) => {
            if !key.verify_anchor(worker_id, a.seq, &a.mac, &a.tag) {
                return Ok(VerifyReport::failed(Some(a.seq), FailureReason::BadAnchor));
            }
            Start::After {
                seq: a.seq,
                mac: a.mac.clone(),
            }
        }
        None => Start::Genesis(key.genesis(worker_id)),
    };
    let first_in_chain = anchor.as_ref().map_or(1, |a| a.seq.saturating_add(1));
    let (lo, hi) = range
        .clone()
        .map_or((0, u64::MAX), |r| (*r.start(), *r.end()));
    let start = if lo <= first_in_chain {
        chain_start
    } else {
        match record_mac(conn, lo - 1)? {
            Some(mac) => Start::After { seq: lo - 1, mac },
            None => Start::Trusting { seq: lo },
        }
    };
    let split_report = match conn.path().filter(|file| !file.is_empty()) {
        Some(file) if split.parts > 1 => verify_split(
            conn,
            Path::new(file),
            key,
            start.clone(),
            anchor.as_ref(),
            lo,
            hi,
            split,
        )?,
        _ => None,
    };
    let mut report = match split_report {
        Some(report) => report,
        None => verify_walk(conn, key, start, lo, hi)?,
    };
    if range.is_some() && report.is_ok() {
        check_range_complete(conn, &mut report, lo.max(first_in_chain), hi)?;
    }
    tracing::debug!(
        checked = report.records_checked,
        ok = report.is_ok(),
        "audit chain verified"
    );
    Ok(report)
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
    let storage = AuditError::storage("reading records");
    let table_max: Option<i64> = conn
        .query_row("SELECT MAX(seq) FROM records", [], |row| row.get(0))
        .map_err(storage)?;
    let Some(table_max) = table_max.and_then(|m| u64::try_from(m).ok()) else {
        return Ok(());
    };
    let end = hi.min(table_max);
    if begin > end || report.last_seq == Some(end) {
        return Ok(());
    }
    let missing = report.last_seq.map_or(begin, |last| last.saturating_add(1));
    let found: Option<i64> = conn
        .query_row(
            "SELECT MIN(seq) FROM records WHERE seq > ?1",
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

/// What one part of a split verification found.
#[derive(Debug)]
struct PartResult {
    /// The part's first row: its seq and `prev_mac` (`None`: no rows).
    first: Option<(u64, Vec<u8>)>,
    /// The part checked from its first row, trusting that row's link.
    report: VerifyReport,
    /// The MAC of the part's last good record.
    tail: Option<Vec<u8>>,
}

/// A part's outcome: checked, or given up because an earlier part failed.
type PartOutcome = Option<PartResult>;

/// The smallest and largest sequence numbers in `lo..=hi`.
fn seq_bounds(conn: &Connection, lo: u64, hi: u64) -> rusqlite::Result<Option<(u64, u64)>> {
    let (min, max) = conn.query_row(
        // Two subqueries: SQLite finds a lone MIN or MAX with one seek, but
        // scans the table for both together.
        "SELECT (SELECT MIN(seq) FROM records WHERE seq >= ?1 AND seq <= ?2), \
                (SELECT MAX(seq) FROM records WHERE seq >= ?1 AND seq <= ?2)",
        [seq_param(lo), seq_param(hi)],
        |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Option<i64>>(1)?)),
    )?;
    Ok(match (min, max) {
        (Some(min), Some(max)) => u64::try_from(min).ok().zip(u64::try_from(max).ok()),
        _ => None,
    })
}

/// Opens a read-only connection to `path` inside a read transaction whose
/// snapshot has the same latest anchor and the same sequence bounds in
/// `lo..=max` as the caller's; `None` when it cannot (the caller then walks
/// its own connection).
fn open_part_connection(
    path: &Path,
    anchor: Option<&Anchor>,
    lo: u64,
    bounds: (u64, u64),
) -> Option<Connection> {
    let conn = schema::connect(path, false).ok()?;
    conn.pragma_update(None, "query_only", true).ok()?;
    conn.execute_batch("BEGIN").ok()?;
    let same_anchor = match (latest_anchor(&conn).ok()?, anchor) {
        (None, None) => true,
        (Some(a), Some(b)) => a.seq == b.seq && a.mac == b.mac && a.tag == b.tag,
        _ => false,
    };
    let same_rows = seq_bounds(&conn, lo, bounds.1).ok()? == Some(bounds);
    (same_anchor && same_rows).then_some(conn)
}

/// Verifies `lo..=hi` in contiguous parts, each on its own connection and
/// thread, then joins them in order. `None` when the range is too small to
/// split or the parts' connections cannot be opened on the same snapshot.
#[allow(clippy::too_many_arguments)]
fn verify_split(
    conn: &Connection,
    path: &Path,
    key: &ChainKey,
    start: Start,
    anchor: Option<&Anchor>,
    lo: u64,
    hi: u64,
    split: Split,
) -> Result<Option<VerifyReport>, AuditError> {
    let Some((min, max)) =
        seq_bounds(conn, lo, hi).map_err(AuditError::storage("reading records"))?
    else {
        return Ok(None);
    };
    let span = max.saturating_sub(min).saturating_add(1);
    if span < split.min_records.max(2) {
        return Ok(None);
    }
    let parts = u64::try_from(split.parts).unwrap_or(1).min(span).max(1);
    // Part k covers [first_of(k), first_of(k + 1) - 1]; the last ends at max.
    let first_of = |k: u64| -> u64 {
        let offset = u128::from(span) * u128::from(k) / u128::from(parts);
        min.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    };
    let mut work = Vec::new();
    for k in 0..parts {
        let Some(part_conn) = open_part_connection(path, anchor, lo, (min, max)) else {
            return Ok(None);
        };
        let to = if k + 1 == parts {
            max
        } else {
            first_of(k + 1).saturating_sub(1)
        };
        work.push((part_conn, first_of(k), to));
    }
    // The first part to find a failure: later parts may give up.
    let failed = AtomicUsize::new(usize::MAX);
    let failed = &failed;
    let outcomes: Vec<Result<PartOutcome, AuditError>> = std::thread::scope(|scope| {
        let mut work = work.into_iter().enumerate();
        let own = work.next();
        let handles: Vec<_> = work
            .map(|(index, (part_conn, from, to))| {
                scope.spawn(move || verify_part(&part_conn, key, from, to, index, failed))
            })
            .collect();
        let mut outcomes = Vec::with_capacity(handles.len() + 1);
        if let Some((index, (part_conn, from, to))) = own {
            outcomes.push(verify_part(&part_conn, key, from, to, index, failed));
        }
        for handle in handles {
            outcomes.push(handle.join().unwrap_or_else(|_| {
                Err(AuditError::Storage {
                    operation: "verifying records",
                    detail: "a checking thread stopped unexpectedly".to_owned(),
                })
            }));
        }
        outcomes
    });
    let mut verifier = ChainVerifier::new(key, start);
    for outcome in outcomes {
        match outcome? {
            Some(part) => {
                if !verifier.join_part(part) {
                    break;
                }
            }
            // Given up for an earlier failure, which the join stops at:
            // not reached. Should it be, walk the range once instead.
            None => return Ok(None),
        }
    }
    Ok(Some(verifier.finish()))
}

/// Checks the rows `from..=to` of one part, from its first row, on the
/// calling thread. Gives up (`None`) once a part before `index` has failed.
fn verify_part(
    conn: &Connection,
    key: &ChainKey,
    from: u64,
    to: u64,
    index: usize,
    failed: &AtomicUsize,
) -> Result<PartOutcome, AuditError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
        ))
        .map_err(AuditError::storage("reading records"))?;
    let mut rows = stmt
        .query([seq_param(from), seq_param(to)])
        .map_err(AuditError::storage("reading records"))?;
    let mut verifier: Option<ChainVerifier<'_>> = None;
    let mut first: Option<(u64, Vec<u8>)> = None;
    let mut block: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
    let mut len = 0usize;
    loop {
        let row = rows
            .next()
            .map_err(AuditError::storage("reading records"))?;
        if let Some(row) = row {
            match block.get_mut(len) {
                Some(slot) => read_raw_into(row, slot),
                None => read_raw(row).map(|raw| block.push(raw)),
            }
            .map_err(AuditError::storage("reading records"))?;
            len += 1;
            if len < BLOCK_ROWS {
                continue;
            }
        }
        let rows_read = block.get(..len).unwrap_or(&block);
        let Some(head) = rows_read.first() else {
            break;
        };
        if failed.load(Ordering::Acquire) < index {
            return Ok(None);
        }
        let verifier = verifier.get_or_insert_with(|| {
            first = Some((head.seq, head.prev_mac.clone()));
            ChainVerifier::new(key, Start::Trusting { seq: head.seq }).sequential()
        });
        if !verifier.check_block(rows_read) {
            failed.fetch_min(index, Ordering::AcqRel);
            break;
        }
        if len < BLOCK_ROWS {
            break;
        }
        len = 0;
    }
    Ok(Some(match verifier {
        Some(verifier) => PartResult {
            first,
            tail: verifier.prev.clone(),
            report: verifier.finish(),
        },
        None => PartResult {
            first: None,
            report: VerifyReport::default(),
            tail: None,
        },
    }))
}

/// Walks `lo..=hi` on `conn`: one thread reads, another checks.
fn verify_walk(
    conn: &Connection,
    key: &ChainKey,
    start: Start,
    lo: u64,
    hi: u64,
) -> Result<VerifyReport, AuditError> {
    let verifier = ChainVerifier::new(key, start);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
        ))
        .map_err(AuditError::storage("reading records"))?;
    let mut rows = stmt
        .query([seq_param(lo), seq_param(hi)])
        .map_err(AuditError::storage("reading records"))?;
    // Pipeline: this thread reads block n+1 from SQLite while another checks
    // block n (its MACs in parallel). Blocks and their buffers are recycled.
    let stop_flag = AtomicBool::new(false);
    let stop = &stop_flag;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = std_mpsc::sync_channel::<(Vec<RawRecord>, usize)>(2);
        let (empty_tx, empty_rx) = std_mpsc::channel::<Vec<RawRecord>>();
        let checker = scope.spawn(move || {
            let mut verifier = verifier;
            for (block, len) in full_rx {
                if !verifier.check_block(block.get(..len).unwrap_or(&block)) {
                    stop.store(true, Ordering::Release);
                    break;
                }
                let _ = empty_tx.send(block);
            }
            verifier.finish()
        });
        let read = (|| {
            let mut block: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
            let mut len = 0usize;
            while let Some(row) = rows
                .next()
                .map_err(AuditError::storage("reading records"))?
            {
                match block.get_mut(len) {
                    Some(slot) => read_raw_into(row, slot),
                    None => read_raw(row).map(|raw| block.push(raw)),
                }
                .map_err(AuditError::storage("reading records"))?;
                len += 1;
                if len == BLOCK_ROWS {
                    if stop.load(Ordering::Acquire) || full_tx.send((block, len)).is_err() {
                        return Ok(());
                    }
                    block = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BLOCK_ROWS));
                    len = 0;
                }
            }
            if len > 0 {
                let _ = full_tx.send((block, len));
            }
            Ok::<(), AuditError>(())
        })();
        drop(full_tx);
        let report = checker.join().map_err(|_| AuditError::Storage {
            operation: "verifying records",
            detail: "the checking thread stopped unexpectedly".to_owned(),
        });
        read.and(report)
    })
}

/// Verifies the log at `path` as worker `worker_id` with `secret`, whole or
/// over a sequence `range`.
///
/// Never writes to or creates the file. An unknown schema is reported as
/// [`FailureReason::UnknownSchema`]; a file that is not an audit log is an
/// error. The worker id is the one the verifier *expects*: a log copied from
/// another worker fails with [`FailureReason::WrongGenesis`] whatever its
/// metadata says.
///
/// A range that starts after the first record checks the link to the record
/// before it, trusting that one; only a whole-log check (or a range from the
/// start) proves the chain from genesis.
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
    let conn = schema::connect(path, false)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(AuditError::storage("opening the log read-only"))?;
    match schema::inspect(&conn, path)? {
        SchemaState::Empty => Ok(VerifyReport::default()),
        SchemaState::Unknown(found) => Ok(VerifyReport::failed(
            None,
            FailureReason::UnknownSchema { found },
        )),
        SchemaState::Current => verify_conn_at(&conn, worker_id, &key, range, split),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::{AuditEvent, AuditLog};

    const WORKER: &str = "worker-s";

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
        let attacker = Connection::open(&path).unwrap();
        attacker
            .execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
            .unwrap();
        attacker.execute_batch(tamper).unwrap();
        drop(attacker);
        AuditLog::open_read(&path, WORKER, &secret()).unwrap()
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
        let report = verify_split(
            &log.conn,
            &log.path,
            key,
            start.clone(),
            None,
            lo,
            hi,
            split,
        );
        let mut report = match report.unwrap() {
            Some(report) => report,
            None => {
                // Only a range with under two rows is not split.
                let bounds = seq_bounds(&log.conn, lo, hi).unwrap();
                assert!(bounds.is_none_or(|(min, max)| min == max), "{lo}..={hi}");
                verify_walk(&log.conn, key, start, lo, hi).unwrap()
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
            for (lo, hi) in [(0, u64::MAX), (1, 40), (11, 40), (21, 30), (5, 36)] {
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
            &log.path,
            key,
            start.clone(),
            None,
            0,
            u64::MAX,
            auto,
        );
        assert!(none.unwrap().is_none());
        let memory = Connection::open_in_memory().unwrap();
        assert!(memory.path().is_none_or(str::is_empty));
    }
}
