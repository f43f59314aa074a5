//! The audit trail beyond the worker's disk.
//!
//! A checkpoint is worth something once it has left the host that signed
//! it. This crate holds the network side of the audit log: the [`ship`]per
//! ([`ship::Shipper`]), which follows a worker's log read-only and sends
//! its records, in batches each ending at a signed checkpoint, to the
//! fleet collector (`vram-auditd`), resuming from what the collector
//! acknowledges; and the [`witness`] client, which submits the log's
//! signed checkpoints to independent tlog-witnesses
//! (c2sp.org/tlog-witness), stores their cosignatures in the log and
//! records their alarms. [`http`] holds their HTTP calls (plain `http://`,
//! a timeout on every exchange, bounded answers).
//!
//! The key design decision: the shipper never writes the log and holds no
//! secret. It reads a snapshot as any holder of the file may, so it cannot
//! slow or block the worker's writer, and the collector checks everything
//! it is sent against the worker's signed checkpoints.
//!
//! Layering: `audit-core` (and `tlog` through it) only; never `gpu-alloc`.
//!
//! ```no_run
//! use audit_core::{AuditLog, load_log_key};
//! use audit_ship::witness::{Outcome, Witness, submit};
//! use seal_crypto::WorkerSecret;
//!
//! let secret = WorkerSecret::new(&[7u8; 32])?;
//! let mut log = AuditLog::open("audit.db", "worker-1", &secret)?;
//! let note = log.signed_checkpoint(&load_log_key("audit-log.key")?)?;
//! let size = log.tree_size()?;
//! let witness = Witness::parse(
//!     "http://witness.example:7380=witness.example/w1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X",
//! )?;
//! match submit(&mut log, &witness, &note, size, std::time::Duration::from_secs(10))? {
//!     Outcome::Cosigned { .. } => println!("cosigned"),
//!     Outcome::Alarm { reason, .. } => eprintln!("ALARM: {reason}"),
//!     Outcome::Failed { reason } => eprintln!("not cosigned: {reason}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod http;
pub mod ship;
pub mod witness;
