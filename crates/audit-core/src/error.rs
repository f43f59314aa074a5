//! The one error type of this crate.
//!
//! Every variant says what went wrong and what to do next. None carries key
//! material: MACs and keys never appear in a message, only sequence numbers,
//! worker ids, paths and SQLite's own descriptions.

use std::path::Path;

use seal_crypto::KeyError;

/// Anything that can go wrong while writing, reading or verifying an audit log.
///
/// A *failed verification* is not an error: [`crate::verify_log`] returns
/// `Ok` with a [`crate::VerifyReport`] that names the first bad record. Errors
/// are for when the question could not be answered at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An event was refused before it was queued (bad kind, shard id or payload).
    #[error("invalid audit event: {reason}")]
    InvalidEvent {
        /// What was wrong and what is accepted.
        reason: String,
    },
    /// The worker id is empty, too long or has control characters.
    #[error("invalid worker id: {reason}")]
    InvalidWorkerId {
        /// What was wrong and what is accepted.
        reason: String,
    },
    /// The worker secret could not produce the audit keys.
    #[error("cannot derive the audit keys: {0}")]
    Key(#[from] KeyError),
    /// SQLite reported an error.
    #[error(
        "audit storage failed while {operation}: {detail}; check the disk (space, permissions) and retry"
    )]
    Storage {
        /// What the log was doing.
        operation: &'static str,
        /// SQLite's description.
        detail: String,
    },
    /// The filesystem holding the log is full.
    #[error(
        "the disk holding the audit log is full (while {operation}); free space on it and retry"
    )]
    DiskFull {
        /// What the log was doing.
        operation: &'static str,
    },
    /// Reading or writing a file other than the database failed.
    #[error("I/O failed while {operation}: {detail}")]
    Io {
        /// What the log was doing.
        operation: &'static str,
        /// The operating system's description.
        detail: String,
    },
    /// The file does not exist (opening for verification never creates one).
    #[error("no audit log at {path}; check the path")]
    NotFound {
        /// The path given.
        path: String,
    },
    /// The file is not an audit log: empty, not an SQLite database, or
    /// one of another application. Where a log was expected and a signed
    /// checkpoint says it held records, verification reports this as a
    /// failed check instead ([`crate::FailureReason::Structure`]).
    #[error("{path} is not an audit log ({detail}); check the path")]
    NotAnAuditLog {
        /// The path given.
        path: String,
        /// What was found instead.
        detail: String,
    },
    /// The file is recognisably an audit log (its header or its tables),
    /// but part of its structure was removed or changed: tampering or
    /// damage, not a wrong path.
    #[error(
        "{path} is an audit log whose structure was changed ({detail}); keep the file as evidence and run `audit verify` on it"
    )]
    Damaged {
        /// The path given.
        path: String,
        /// What is missing or changed.
        detail: String,
    },
    /// The log does not open under this worker id and secret: its chain
    /// does not start at this worker's genesis value (or anchor).
    #[error(
        "the audit log was not written by worker {worker_id:?} under this secret (its first record does not link to this worker's genesis value); check the worker id and the secret"
    )]
    WrongSecret {
        /// The worker id given.
        worker_id: String,
    },
    /// A sequence range that holds no record of the log.
    #[error("{}", empty_range_message(*from, *to, *first, *last))]
    EmptyRange {
        /// First sequence number asked for.
        from: u64,
        /// Last sequence number asked for.
        to: u64,
        /// First sequence number the log holds (`None`: no records).
        first: Option<u64>,
        /// Last sequence number the log holds (`None`: no records).
        last: Option<u64>,
    },
    /// The log was written by a schema version this build does not know.
    #[error(
        "audit log schema version {found} is not supported (this build reads version {supported}); use a matching vramctl/audit-core version"
    )]
    UnknownSchema {
        /// The version in the file.
        found: i64,
        /// The version this build reads and writes.
        supported: i64,
    },
    /// The log belongs to another worker.
    #[error(
        "audit log belongs to worker {found:?}, not {expected:?}; each worker needs its own log file"
    )]
    WorkerMismatch {
        /// The worker id the caller gave.
        expected: String,
        /// The worker id stored in the log.
        found: String,
    },
    /// The last records of an existing log do not verify, so the chain cannot
    /// be resumed safely.
    #[error(
        "the audit log's tail does not verify at seq {seq} ({reason}); keep the file as evidence, run `verify` on it, and start a new log"
    )]
    BrokenTail {
        /// First bad sequence number found.
        seq: u64,
        /// Why it is bad.
        reason: String,
    },
    /// The writer has shut down (or its background task stopped).
    #[error("the audit writer is closed; open a new AuditWriter")]
    WriterClosed,
    /// A batch could not be written; its events are counted, and this
    /// writer records the count as an `AuditGap` with its next successful
    /// write. A loss that no later write could record (the writer shut
    /// down first) is reported by [`crate::AuditWriter::shutdown`].
    #[error(
        "audit write failed, {lost} event(s) not recorded: {detail}; check the disk: this writer records the loss as an AuditGap with its next successful write, and a process that exits first leaves it unrecorded"
    )]
    WriteFailed {
        /// Events that were not written.
        lost: u64,
        /// Why.
        detail: String,
    },
    /// A blocking call was made from the writer's own thread, where it would
    /// deadlock.
    #[error(
        "flush_blocking/send_blocking was called on the audit writer's own thread; use the async variants"
    )]
    WouldDeadlock,
    /// The background runtime could not start.
    #[error("cannot start the audit writer's runtime: {detail}")]
    Runtime {
        /// The operating system's description.
        detail: String,
    },
    /// A checkpoint is malformed, for another worker, or its signature does
    /// not verify under the given public key.
    #[error("checkpoint rejected: {reason}")]
    Checkpoint {
        /// What was wrong.
        reason: String,
    },
    /// The Merkle tree of the log is missing, damaged, or does not hold
    /// what the records need (a log of schema 1 or 2 has none until it is
    /// opened for writing once).
    #[error("the audit log's Merkle tree cannot be used: {detail}")]
    Tree {
        /// What is wrong.
        detail: String,
    },
    /// A log signing key (C2SP signer key) is unusable, or its key file is
    /// refused. Never shows the key.
    #[error("log key rejected: {reason}")]
    LogKey {
        /// What was wrong.
        reason: String,
    },
    /// A signed checkpoint (C2SP note) or a cosignature was refused, or
    /// could not be signed.
    #[error("signed checkpoint refused: {reason}")]
    SignedCheckpoint {
        /// What was wrong.
        reason: String,
    },
    /// A proof was asked for sizes or a record the tree does not hold.
    #[error("no proof: {reason}")]
    Proof {
        /// What was wrong.
        reason: String,
    },
    /// An operation that writes was asked of a log opened for reading.
    #[error("{operation} needs the log opened for writing (AuditLog::open), not for reading")]
    ReadOnly {
        /// What was asked.
        operation: &'static str,
    },
    /// An older log could not be migrated to the current schema.
    #[error("the audit log (schema version {from}) cannot be migrated to version {to}: {reason}")]
    Migration {
        /// The file's schema version.
        from: i64,
        /// The version this build writes.
        to: i64,
        /// Why.
        reason: String,
    },
    /// An exported NDJSON line could not be parsed.
    #[error("export line {line} is not an audit record: {detail}")]
    Export {
        /// 1-based line number.
        line: u64,
        /// The parser's description.
        detail: String,
    },
    /// A stored record cannot be decoded (for example an unknown severity):
    /// the file was changed outside this crate.
    #[error("record {seq} cannot be decoded ({detail}); run verify on the log")]
    Corrupt {
        /// The record's sequence number.
        seq: u64,
        /// What could not be decoded.
        detail: String,
    },
}

fn empty_range_message(from: u64, to: u64, first: Option<u64>, last: Option<u64>) -> String {
    match first.zip(last) {
        Some((first, last)) => format!(
            "no records in seq {from}..={to}: the log holds seq {first}..={last}; give a range inside it"
        ),
        None => format!("no records in seq {from}..={to}: the log has no records"),
    }
}

impl AuditError {
    pub(crate) fn storage(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::DiskFull { operation },
            _ => Self::Storage {
                operation,
                detail: e.to_string(),
            },
        }
    }

    pub(crate) fn io(operation: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |e| Self::Io {
            operation,
            detail: e.to_string(),
        }
    }

    pub(crate) fn not_found(path: &Path) -> Self {
        Self::NotFound {
            path: path.display().to_string(),
        }
    }
}
