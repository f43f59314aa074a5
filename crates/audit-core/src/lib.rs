//! `audit-core`: a tamper-evident, append-only audit log in one SQLite file.
//!
//! Built for the VRAM residency worker, usable alone by any service that
//! needs an audit trail an operator can prove afterwards.
//!
//! - [`AuditEvent`] and [`Severity`]: typed events. The brief's VRAM events
//!   have constructors; [`AuditEvent::custom`] adds your own kinds.
//! - [`AuditWriter`]: the non-blocking writer. [`AuditWriter::emit`] never
//!   waits (callable from `Drop`); a tokio task writes batches, one
//!   transaction each; [`AuditWriter::flush`] returns once everything before
//!   it is durable. Losses (full queue, failed disk) are counted and written
//!   as `AuditGap` records, never silent.
//! - [`AuditSink`]: the seam a facade depends on, implemented by the writer
//!   and by [`MemorySink`] for tests.
//! - [`AuditLog`]: the file itself: append, [`verify`](AuditLog::verify),
//!   [`query`](AuditLog::query), [`export_ndjson`](AuditLog::export_ndjson),
//!   [`checkpoint`](AuditLog::checkpoint) and
//!   [`apply_retention`](AuditLog::apply_retention).
//!
//! **The key design decision: a keyed chain plus signed checkpoints.** Each
//! record carries an HMAC-SHA256 over every field and the previous record's
//! MAC, under a key derived from the worker secret. A plain hash chain could
//! be recomputed by anyone who can write the file; a keyed one cannot, so
//! editing, deleting, inserting or reordering records is caught by
//! [`verify_log`], which names the first bad record. What a chain alone cannot
//! show is that records were cut off the *end*, or an older copy put back:
//! for that the head is exported as an Ed25519-signed [`Checkpoint`] kept
//! elsewhere, which anyone with the public key can check the log against.
//!
//! **And a Merkle tree, for those who do not hold the secret.** Whoever can
//! verify an HMAC can forge one, and a checkpoint key derived from the same
//! secret re-signs a forged history. So every record is also a leaf of an
//! RFC 6962 tree ([`leaf_hash`]; the tree is stored in the same transaction
//! as the records), and the log signs C2SP checkpoints of it with a log key
//! that is *not* derived from the secret ([`generate_log_key`],
//! [`AuditLog::signed_checkpoint`]). Anyone holding the log's public key
//! checks the file ([`verify_public`]), a record's inclusion
//! ([`AuditLog::tlog_proof`]; [`PublicLog`] serves the same proofs from the
//! file without the secret) and that today's log extends yesterday's
//! checkpoint; witnesses cosign only consistent checkpoints
//! ([`AuditLog::add_checkpoint_request`], [`AuditLog::add_cosignatures`]).
//!
//! ```
//! use audit_core::{AuditEvent, AuditLog, generate_log_key, verify_public};
//! use seal_crypto::WorkerSecret;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.db");
//! let mut log = AuditLog::open(&path, "worker-1", &WorkerSecret::new(&[7u8; 32])?)?;
//! log.append(&AuditEvent::seal_verified("shard-0", 0))?;
//! let log_key = generate_log_key("worker-1")?;   // keep it in a file: save_log_key
//! let note = log.signed_checkpoint(&log_key)?;   // C2SP checkpoint, stored in the log
//! let vkey = log_key.verifier_key();             // what auditors get
//! let report = verify_public(&path, &vkey, Some(&note), None, &[], 0)?;
//! assert!(report.is_ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```
//! use audit_core::{AuditEvent, AuditLog, AuditSink, AuditWriter, CheckpointSigner, WriterConfig};
//! use seal_crypto::WorkerSecret;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.db");
//! let secret = WorkerSecret::new(&[7u8; 32])?;
//!
//! let writer = AuditWriter::open(&path, "worker-1", &secret, WriterConfig::default())?;
//! let digest = seal_crypto::sha256(b"weights");
//! writer.emit(AuditEvent::vram_sealed("llama:0", 0, 7, &digest));
//! writer.flush_blocking()?;
//!
//! let log = AuditLog::open_read(&path, "worker-1", &secret)?;
//! assert!(log.verify(None)?.is_ok());
//! let signer = CheckpointSigner::derive(&secret)?;
//! let checkpoint = log.checkpoint(&signer)?;
//! assert!(log.verify_against_checkpoint(&checkpoint, &signer.public_key())?.is_ok());
//! # writer.shutdown_blocking()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bench;
mod checkpoint;
mod error;
mod event;
pub mod hex;
mod log;
mod logkey;
mod migrate;
mod public;
mod public_log;
mod query;
mod reader;
mod record;
mod retention;
mod schema;
mod signed;
mod sink;
mod tree;
mod verify;
#[doc(hidden)]
pub mod wire;
mod writer;

pub use checkpoint::{
    CHECKPOINT_VERSION, Checkpoint, CheckpointPublicKey, CheckpointSigner,
    MAX_CHECKPOINT_JSON_BYTES, verify_log_against_checkpoint,
};
pub use error::AuditError;
pub use event::{
    AuditEvent, MAX_KIND_BYTES, MAX_PAYLOAD_BYTES, MAX_SHARD_ID_BYTES, SealResidency, Severity,
    kinds,
};
pub use log::{AuditLog, ChainHead, TAIL_CHECK_RECORDS};
pub use logkey::{
    MAX_LOG_KEY_FILE_BYTES, ORIGIN_PREFIX, generate_log_key, load_log_key, log_origin, save_log_key,
};
pub use public::{CheckpointSource, PublicFailure, PublicReport, verify_public};
pub use public_log::PublicLog;
pub use query::{QueryFilter, verify_ndjson};
pub use record::{
    AuditRecord, MAC_BYTES, MAX_WORKER_ID_BYTES, RecordFields, escape_controls,
    is_terminal_control, validate_worker_id,
};
pub use retention::{RetentionPolicy, RetentionReport};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS, TREE_SCHEMA_VERSION};
pub use signed::{MAX_CHECKPOINT_NOTE_BYTES, StoredCheckpoint};
pub use sink::{AuditSink, EmitOutcome, MemorySink};
pub use tlog;
pub use tree::{Frontier, TreeReadError, TreeStore, leaf_hash};
#[doc(hidden)]
pub use verify::verify_log_split;
pub use verify::{FailureReason, VerifyFailure, VerifyReport, verify_log};
pub use writer::{
    AuditWriter, DISK_RESERVE_BYTES, DROP_DRAIN_TIMEOUT, MAX_QUEUE_CAPACITY, WriterConfig,
    WriterStats,
};
