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
mod log;
mod query;
mod reader;
mod record;
mod retention;
mod schema;
mod sink;
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
    AuditEvent, MAX_KIND_BYTES, MAX_PAYLOAD_BYTES, MAX_SHARD_ID_BYTES, Severity, kinds,
};
pub use log::{AuditLog, ChainHead, TAIL_CHECK_RECORDS};
pub use query::{QueryFilter, verify_ndjson};
pub use record::{
    AuditRecord, MAC_BYTES, MAX_WORKER_ID_BYTES, escape_controls, is_terminal_control,
    validate_worker_id,
};
pub use retention::{RetentionPolicy, RetentionReport};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION, SUPPORTED_SCHEMA_VERSIONS};
pub use sink::{AuditSink, EmitOutcome, MemorySink};
#[doc(hidden)]
pub use verify::verify_log_split;
pub use verify::{FailureReason, VerifyFailure, VerifyReport, verify_log};
pub use writer::{
    AuditWriter, DISK_RESERVE_BYTES, DROP_DRAIN_TIMEOUT, MAX_QUEUE_CAPACITY, WriterConfig,
    WriterStats,
};
