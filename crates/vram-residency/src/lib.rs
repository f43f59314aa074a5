//! `vram-residency`: the facade inference workers use to keep model weights
//! resident and sealed in GPU memory, with every step audited.
//!
//! The primary type is [`VramManager`]. It joins three seams, each owned by
//! its own crate and seen here only through a trait or a value:
//!
//! - a [`gpu_alloc::VramAllocator`] (real CUDA memory, or the simulated
//!   device in tests),
//! - the seal key, derived from the worker secret by `seal-crypto`,
//! - an [`audit_core::AuditSink`] (the SQLite audit writer, or an in-memory
//!   sink in tests), and optionally an [`audit_ship::ship::Shipper`] that
//!   sends the SQLite log to a fleet collector
//!   ([`ManagerConfig::ship_audit_log`], [`VramManager::audit_shipping`]).
//!
//! The key design decision: **the facade holds the rules, not the
//! mechanisms**. Shard-id validation, the residency policy, "nothing stays
//! allocated after a failure", "incidents are durable before the call
//! returns" and "the worker stops on an incident" live here; hashing,
//! signing, allocating and logging live in the crates below, which know
//! nothing of each other.
//!
//! ```
//! use std::sync::Arc;
//! use audit_core::MemorySink;
//! use gpu_alloc::{HostDevice, HostDeviceConfig};
//! use seal_crypto::WorkerSecret;
//! use vram_residency::{ManagerConfig, ResidencyPolicy, VerifyMode, VramManager};
//!
//! // A worker: one manager per device, built once at start-up.
//! let audit = Arc::new(MemorySink::new());
//! let device = HostDevice::new(HostDeviceConfig::with_capacity(64 << 20));
//! let manager = VramManager::new(
//!     ManagerConfig::new("worker-7", WorkerSecret::new(&[42; 32])?, audit.clone())
//!         .allocator(device)
//!         .policy(ResidencyPolicy::allow_simulated()), // a real worker keeps the strict default
//! )?;
//! manager.enforce_policy()?;
//!
//! let weights = vec![0x5a_u8; 3 << 20];
//! let shard = manager.seal("llama-3-8b:tp0", &weights)?;
//! manager.verify_with(&shard, &VerifyMode::Quick)?;           // seal only
//! manager.verify_with(&shard, &VerifyMode::Sampled { count: 2 })?; // two chunks
//! manager.verify(&shard)?;                                     // every byte
//! drop(shard); // frees the VRAM and records VramDeallocated
//! assert_eq!(manager.capacity()?.used_by_shards, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod bench;
mod error;
mod inner;
mod manager;
mod policy;
mod shard;
mod shard_id;
mod state;
mod verify;

pub use error::ResidencyError;
pub use manager::{Capacity, ManagerConfig, VramManager};
pub use policy::{ResidencyPolicy, Violation};
pub use shard::{SealOptions, SealedShard};
pub use shard_id::{MAX_SHARD_ID_LEN, ShardIdError, validate_shard_id};
pub use state::{StopReason, WorkerState};
pub use verify::{VerifyMode, VerifyReport};

/// The README's worker example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
