//! `SealedShard`: a model shard resident in VRAM, with the seal that vouches
//! for it. Owning one keeps the memory; dropping it frees the memory and
//! records `VramDeallocated` (spec `VR-SHARD-*`).

use std::sync::Arc;

use gpu_alloc::{Backend, BufferId, DeviceBuffer};
use seal_crypto::{ChunkTree, Digest, SealClaims, SealError, ShardPosition, Signature};
use serde::Serialize;

use crate::error::ResidencyError;
use crate::inner::{Allocation, Inner};

/// Labels of a shard: which model it belongs to and where it sits among the
/// model's shards.
///
/// They are signed into the seal (seal version 2, spec `SC-SEAL-005`), so a
/// changed label fails verification like a changed digest. A model
/// reference is 1 to 1024 bytes without control characters (paths are
/// fine); a position needs both `shard_index` and `total_shards`, with
/// `shard_index < total_shards` (spec `VR-SEAL-006`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SealOptions {
    /// Which model the shard belongs to (a catalog name, a path, a hash).
    pub model_ref: Option<String>,
    /// This shard's position among the model's shards (tensor parallelism).
    pub shard_index: Option<u32>,
    /// How many shards the model has.
    pub total_shards: Option<u32>,
}

impl SealOptions {
    /// Sets the model reference.
    pub fn model_ref(mut self, model_ref: impl Into<String>) -> Self {
        self.model_ref = Some(model_ref.into());
        self
    }

    /// Sets the shard's position: `index` of `total`.
    pub fn shard(mut self, index: u32, total: u32) -> Self {
        self.shard_index = Some(index);
        self.total_shards = Some(total);
        self
    }

    /// Validates the labels, before anything is allocated or recorded.
    pub(crate) fn into_labels(self) -> Result<Labels, ResidencyError> {
        let position = match (self.shard_index, self.total_shards) {
            (None, None) => None,
            (Some(index), Some(total)) => {
                Some(ShardPosition::new(index, total).map_err(ResidencyError::InvalidLabel)?)
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ResidencyError::InvalidOptions {
                    reason: "give both shard_index and total_shards, or neither".to_owned(),
                });
            }
        };
        if let Some(model_ref) = &self.model_ref {
            seal_crypto::validate_model_ref(model_ref).map_err(ResidencyError::InvalidLabel)?;
        }
        Ok(Labels {
            model_ref: self.model_ref,
            position,
        })
    }
}

/// Validated labels, waiting for the rest of the claims.
#[derive(Debug)]
pub(crate) struct Labels {
    model_ref: Option<String>,
    position: Option<ShardPosition>,
}

impl Labels {
    /// `claims` carrying these labels.
    pub(crate) fn apply(self, mut claims: SealClaims) -> Result<SealClaims, SealError> {
        if let Some(model_ref) = &self.model_ref {
            claims = claims.with_model_ref(model_ref)?;
        }
        if let Some(position) = self.position {
            claims = claims.with_shard_position(position)?;
        }
        Ok(claims)
    }
}

/// A shard sealed in device memory.
///
/// Serializes (for logs, APIs, `vramctl seal`) to its id, device, size,
/// digests, seal time, seal signature and labels — never a device pointer,
/// key or model byte. Dropping it frees the memory and records
/// `VramDeallocated`.
pub struct SealedShard {
    /// The device memory; gives it back when the shard drops.
    allocation: Allocation,
    /// What the seal signs, labels included.
    claims: SealClaims,
    signature: Signature,
    chunks: ChunkTree,
    backend: Backend,
}

impl SealedShard {
    /// A shard from its finished parts: the memory holding it, the signed
    /// claims, their signature and the chunk hashes.
    pub(crate) fn new(
        allocation: Allocation,
        claims: SealClaims,
        signature: Signature,
        chunks: ChunkTree,
        backend: Backend,
    ) -> Self {
        Self {
            allocation,
            claims,
            signature,
            chunks,
            backend,
        }
    }

    /// The shard's id.
    pub fn id(&self) -> &str {
        &self.claims.shard_id
    }

    /// Index of the device holding it.
    pub fn device(&self) -> u32 {
        self.claims.device_index
    }

    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.claims.size_bytes
    }

    /// SHA-256 of the contents (equals `sha256sum` of the source).
    pub fn digest(&self) -> Digest {
        self.claims.digest
    }

    /// Root of the chunked digest.
    pub fn chunk_root(&self) -> Digest {
        self.claims.chunk_root
    }

    /// Number of 1 MiB chunks.
    pub fn chunk_count(&self) -> u64 {
        self.chunks.chunk_count()
    }

    /// When it was sealed, in nanoseconds since the Unix epoch.
    pub fn sealed_at_unix_ns(&self) -> u64 {
        self.claims.sealed_at_unix_ns
    }

    /// When it was sealed, as an RFC 3339 UTC time.
    pub fn sealed_at(&self) -> String {
        let nanos = i64::try_from(self.claims.sealed_at_unix_ns).unwrap_or(i64::MAX);
        chrono::DateTime::from_timestamp_nanos(nanos)
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    /// The claims the seal signs.
    pub fn claims(&self) -> &SealClaims {
        &self.claims
    }

    /// The seal (HMAC-SHA256 of the claims under the seal key).
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// The model reference, if one was given (signed).
    pub fn model_ref(&self) -> Option<&str> {
        self.claims.model_ref.as_deref()
    }

    /// Position among the model's shards, if given (signed).
    pub fn shard_index(&self) -> Option<u32> {
        self.claims.shard_position.map(|p| p.index)
    }

    /// Number of shards of the model, if given (signed).
    pub fn total_shards(&self) -> Option<u32> {
        self.claims.shard_position.map(|p| p.total)
    }

    /// Which backend holds it.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opaque id of the device buffer (not an address), for fault
    /// injection on the simulated device (`HostDevice::flip_bit`).
    pub fn buffer_id(&self) -> Option<BufferId> {
        self.allocation.buffer().map(DeviceBuffer::id)
    }

    pub(crate) fn chunks(&self) -> &ChunkTree {
        &self.chunks
    }

    /// The device memory holding the shard.
    pub(crate) fn buffer(&self) -> Option<&DeviceBuffer> {
        self.allocation.buffer()
    }

    /// True if `manager` sealed this shard.
    pub(crate) fn sealed_by(&self, manager: &Arc<Inner>) -> bool {
        self.allocation.belongs_to(manager)
    }
}

impl std::fmt::Debug for SealedShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedShard")
            .field("id", &self.claims.shard_id)
            .field("device", &self.claims.device_index)
            .field("bytes", &self.claims.size_bytes)
            .field("digest", &self.claims.digest)
            .finish_non_exhaustive()
    }
}

/// The serialized form: plain data only.
#[derive(Serialize)]
struct ShardView<'a> {
    shard_id: &'a str,
    device: u32,
    backend: Backend,
    bytes: u64,
    digest: Digest,
    chunk_root: Digest,
    chunk_count: u64,
    sealed_at: String,
    sealed_at_unix_ns: u64,
    seal_version: u16,
    signature: Signature,
    model_ref: Option<&'a str>,
    shard_index: Option<u32>,
    total_shards: Option<u32>,
}

impl Serialize for SealedShard {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ShardView {
            shard_id: self.id(),
            device: self.device(),
            backend: self.backend,
            bytes: self.bytes(),
            digest: self.digest(),
            chunk_root: self.chunk_root(),
            chunk_count: self.chunk_count(),
            sealed_at: self.sealed_at(),
            sealed_at_unix_ns: self.sealed_at_unix_ns(),
            seal_version: self.claims.version,
            signature: self.signature,
            model_ref: self.model_ref(),
            shard_index: self.shard_index(),
            total_shards: self.total_shards(),
        }
        .serialize(serializer)
    }
}

#[cfg(feature = "test-util")]
impl SealedShard {
    /// Replaces the recorded plain digest, as an attacker editing the
    /// host-side record would. Verification must catch it.
    pub fn tamper_digest(&mut self, digest: Digest) {
        self.claims.digest = digest;
    }

    /// Replaces the seal signature (a forged or zeroed seal).
    pub fn tamper_signature(&mut self, signature: [u8; 32]) {
        self.signature = Signature::from_slice(&signature).unwrap_or(self.signature);
    }

    /// Replaces the recorded size.
    pub fn tamper_size(&mut self, bytes: u64) {
        self.claims.size_bytes = bytes;
    }

    /// Replaces the recorded model reference (a relabelled shard).
    pub fn tamper_model_ref(&mut self, model_ref: Option<&str>) {
        self.claims.model_ref = model_ref.map(str::to_owned);
    }

    /// Replaces the recorded position among the model's shards, unchecked.
    pub fn tamper_shard_position(&mut self, index: u32, total: u32) {
        self.claims.shard_position = Some(ShardPosition { index, total });
    }
}
