//! The fleet side of the audit trail: a collector, on PostgreSQL, that
//! witnesses every worker's log.
//!
//! A checkpoint is worth something once it has left the host that signed
//! it. The collector ([`Collector`], the `vram-auditd` binary) is a C2SP
//! tlog-witness (`POST /add-checkpoint`, [`witness`]) for the workers an
//! operator registered ([`registry`]: origin and the Ed25519 verifier key
//! of the log's checkpoints; the collector holds no worker secret). It
//! cosigns a checkpoint only when it extends the tree it cosigned before,
//! and every refusal that means a fork, a rollback, a cut, a bad signature
//! or an unknown log is an [`alerts`] row, raised at error level and
//! listed by `GET /alerts` and `vram-auditd alerts`.
//!
//! It also takes the records themselves ([`ingest`]: `POST /ingest`, a
//! batch of a worker's records and the signed checkpoint it ends at, as
//! `audit_ship::ship` sends them): a batch is stored only when its
//! records' leaves extend the tree held for that worker to exactly the
//! checkpoint's root, so the central copy is complete and every record in
//! it is under a checkpoint the worker's key signed.
//!
//! The key design decision: **the witness's state is PostgreSQL's**, not
//! the process's. The tree cosigned per origin is read under a row lock
//! (`SELECT … FOR UPDATE`) and written and committed before the
//! cosignature is sent, so the compare-and-swap the protocol requires
//! holds across restarts and across any number of collectors sharing the
//! database. The schema is versioned ([`migrate`]).
//!
//! Layering: `audit-core` (and `tlog` through it) only; never `gpu-alloc`,
//! `vram-residency` or `vramctl`.
//!
//! ```no_run
//! use audit_collector::{Collector, witness_key::load_witness_key};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = load_witness_key(std::path::Path::new("witness.key"))?;
//! let collector = Collector::open("postgres://postgres@127.0.0.1:5432/audit", key).await?;
//! println!("witness key: {}", collector.verifier_key());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7380").await?;
//! collector.serve(listener, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alerts;
pub mod auditor;
pub mod db;
mod error;
pub mod frontier;
pub mod ingest;
pub mod migrate;
pub mod registry;
pub mod server;
pub mod witness;
pub mod witness_key;

pub use alerts::{Alert, AlertKind, Endpoint};
pub use error::CollectorError;
pub use migrate::{MigrationReport, SCHEMA_VERSION};
pub use registry::Worker;
pub use server::{Collector, ReadOnlyCollector};
