//! The facade's one error type.
//!
//! Every error says whether retrying can help ([`ResidencyError::is_retriable`])
//! and, where memory is concerned, gives the needed and available bytes.
//! Messages never contain key material, device pointers or model bytes.

use gpu_alloc::AllocError;

use crate::shard_id::ShardIdError;

/// Anything that can go wrong in [`crate::VramManager`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResidencyError {
    /// The manager's configuration was refused at construction.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What to fix.
        reason: String,
    },
    /// The shard id breaks `VR-ID-001`.
    #[error("invalid shard id: {0}")]
    InvalidShardId(#[source] ShardIdError),
    /// A shard with this id is already sealed by this manager.
    #[error("shard {shard_id} is already sealed; free it first or use another id")]
    DuplicateShard {
        /// The id.
        shard_id: String,
    },
    /// Nothing to seal.
    #[error("the model is empty (0 bytes); there is nothing to seal")]
    EmptyModel,
    /// Larger than the configured maximum model size.
    #[error(
        "the model is {bytes} bytes; this worker accepts at most {max} (raise max_model_bytes)"
    )]
    ModelTooLarge {
        /// Size given.
        bytes: u64,
        /// Configured maximum.
        max: u64,
    },
    /// A request does not make sense: a shard index without a total (or
    /// the reverse), or a malformed verification mode.
    #[error("invalid seal options: {reason}")]
    InvalidOptions {
        /// What to fix.
        reason: String,
    },
    /// A label of the shard breaks `VR-SEAL-006`: an empty, over-long or
    /// control-character model reference, zero total shards, or a shard
    /// index not below the total. Never echoes the reference.
    #[error("invalid shard label: {0}")]
    InvalidLabel(#[source] seal_crypto::SealError),
    /// Not enough free device memory. Retriable: free shards or wait.
    #[error(
        "not enough VRAM: {needed} bytes needed, {available} available; free other shards or retry later"
    )]
    InsufficientVram {
        /// Bytes the shard needs.
        needed: u64,
        /// Bytes free on the device when it was refused.
        available: u64,
    },
    /// The device refused or failed an operation.
    #[error("device error: {0}")]
    Device(#[source] AllocError),
    /// The model source yielded a different number of bytes than announced.
    #[error(
        "the model source gave {actual} bytes where {expected} were announced; was the file changed while loading?"
    )]
    SourceLength {
        /// Bytes announced.
        expected: u64,
        /// Bytes read (stops counting one past `expected`).
        actual: u64,
    },
    /// Reading the model source failed.
    #[error("cannot read the model: {0}")]
    Io(#[source] std::io::Error),
    /// Signing failed (invalid claims).
    #[error("sealing failed: {0}")]
    Seal(#[source] seal_crypto::SealError),
    /// A seal or the contents of VRAM did not match. The worker is stopped.
    #[error("integrity violation on shard {shard_id}: {reason}; the worker has stopped")]
    IntegrityViolation {
        /// The shard that failed.
        shard_id: String,
        /// What did not match.
        reason: String,
    },
    /// The shard was not sealed by this manager (or was already freed).
    #[error("shard {shard_id} was not sealed by this manager")]
    UnknownShard {
        /// The id.
        shard_id: String,
    },
    /// The device breaks the residency policy. The worker is stopped.
    #[error("residency policy violated: {violations}; the worker has stopped")]
    PolicyViolation {
        /// Every violation found, joined with "; ".
        violations: String,
    },
    /// `enforce_policy()` has not run yet.
    #[error("the residency policy has not been checked; call enforce_policy() at start-up")]
    PolicyNotChecked,
    /// The worker stopped earlier and refuses work.
    #[error("the worker is stopped ({reason}) and refuses work; restart it after investigating")]
    WorkerStopped {
        /// Why it stopped.
        reason: String,
    },
}

impl ResidencyError {
    /// True where the same call may succeed later: not enough VRAM, or a
    /// transient allocation failure. False for seal, integrity and policy
    /// failures, which are fatal.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::InsufficientVram { .. } => true,
            Self::Device(e) => e.is_retriable(),
            _ => false,
        }
    }

    /// True for the security incidents that stop the worker.
    pub fn is_security_incident(&self) -> bool {
        matches!(
            self,
            Self::IntegrityViolation { .. } | Self::PolicyViolation { .. }
        )
    }
}

impl From<AllocError> for ResidencyError {
    fn from(error: AllocError) -> Self {
        match error {
            AllocError::OutOfMemory {
                requested,
                available,
            } => Self::InsufficientVram {
                needed: requested,
                available,
            },
            other => Self::Device(other),
        }
    }
}
