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

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
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
            report: VerifyReport::default(),
        }
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
        let mac_bad = checked
            .par_iter()
            .map_init(Vec::new, |scratch, r| key.verify_record(r, scratch))
            .position_first(|ok| !ok);
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

/// Verifies the chain of an open connection, whole or over `range`.
pub(crate) fn verify_conn(
    conn: &Connection,
    worker_id: &str,
    key: &ChainKey,
    range: Option<RangeInclusive<u64>>,
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
    let (lo, hi) = range.map_or((0, u64::MAX), |r| (*r.start(), *r.end()));
    let start = if lo <= first_in_chain {
        chain_start
    } else {
        match record_mac(conn, lo - 1)? {
            Some(mac) => Start::After { seq: lo - 1, mac },
            None => Start::Trusting { seq: lo },
        }
    };
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
    let report = std::thread::scope(|scope| {
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
    })?;
    tracing::debug!(
        checked = report.records_checked,
        ok = report.is_ok(),
        "audit chain verified"
    );
    Ok(report)
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
    crate::record::validate_worker_id(worker_id)?;
    let path = path.as_ref();
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
        SchemaState::Current => verify_conn(&conn, worker_id, &key, range),
    }
}
