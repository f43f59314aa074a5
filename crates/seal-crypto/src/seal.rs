//! Seals: an HMAC-SHA256 over the canonical encoding of a shard's claims.
//!
//! A seal says "this worker's key vouched that shard `id`, of `size_bytes`
//! bytes on device `device_index`, had plain digest `digest` and chunked root
//! `chunk_root` at `sealed_at`". Any change to any claim, a different key, or
//! a signature of the wrong length fails verification with the one error
//! [`SealError::VerificationFailed`], checked in constant time.

use std::fmt;

use crate::digest::Digest;
use crate::encoding::CanonicalEncoder;
use crate::keys::SealKey;

/// Version of the claim encoding; part of every seal, so a future encoding
/// can never be confused with this one.
pub const SEAL_VERSION: u16 = 1;
/// Longest shard id, in bytes of UTF-8.
pub const MAX_SHARD_ID_BYTES: usize = 256;

const SEAL_DOMAIN: &str = "vram-residency/seal";

/// A seal could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Shard ids name something; an empty one names nothing.
    #[error("shard id is empty; give the shard a name of 1 to {MAX_SHARD_ID_BYTES} bytes")]
    EmptyShardId,
    /// Shard id longer than [`MAX_SHARD_ID_BYTES`].
    #[error("shard id is {actual} bytes; the limit is {max}")]
    ShardIdTooLong {
        /// [`MAX_SHARD_ID_BYTES`].
        max: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A shard of zero bytes holds no weights.
    #[error("shard size is zero bytes; there is nothing to seal")]
    ZeroSize,
    /// A digest or signature field had the wrong length.
    #[error("{field} is {actual} bytes; it must be {expected}")]
    WrongLength {
        /// Which field.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The seal does not match the claims under this key. Deliberately one
    /// error for every cause, so verification is no oracle.
    #[error("seal verification failed: the claims, the signature or the key do not match")]
    VerificationFailed,
}

/// What a seal vouches for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealClaims {
    /// The shard's name (1 to 256 bytes of UTF-8).
    pub shard_id: String,
    /// SHA-256 of the shard's bytes (equals `sha256sum`).
    pub digest: Digest,
    /// Root of the chunked digest ([`crate::ChunkTree`]).
    pub chunk_root: Digest,
    /// Size of the shard in bytes (at least 1).
    pub size_bytes: u64,
    /// Index of the device the shard lives on.
    pub device_index: u32,
    /// When it was sealed, in nanoseconds since the Unix epoch.
    pub sealed_at_unix_ns: u64,
    /// Encoding version ([`SEAL_VERSION`]).
    pub version: u16,
}

impl SealClaims {
    /// Builds claims at the current [`SEAL_VERSION`], validating them.
    pub fn new(
        shard_id: &str,
        digest: Digest,
        chunk_root: Digest,
        size_bytes: u64,
        device_index: u32,
        sealed_at_unix_ns: u64,
    ) -> Result<Self, SealError> {
        let claims = Self {
            shard_id: shard_id.to_owned(),
            digest,
            chunk_root,
            size_bytes,
            device_index,
            sealed_at_unix_ns,
            version: SEAL_VERSION,
        };
        claims.validate()?;
        Ok(claims)
    }

    /// Checks the claims are signable: a non-empty id within bounds, a
    /// non-zero size, a known version.
    pub fn validate(&self) -> Result<(), SealError> {
        if self.shard_id.is_empty() {
            return Err(SealError::EmptyShardId);
        }
        if self.shard_id.len() > MAX_SHARD_ID_BYTES {
            return Err(SealError::ShardIdTooLong {
                max: MAX_SHARD_ID_BYTES,
                actual: self.shard_id.len(),
            });
        }
        if self.size_bytes == 0 {
            return Err(SealError::ZeroSize);
        }
        if self.version != SEAL_VERSION {
            // An unknown version can never verify; report it as a mismatch.
            return Err(SealError::VerificationFailed);
        }
        Ok(())
    }

    /// The canonical encoding the signature covers (spec `SC-SEAL-002`).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        CanonicalEncoder::new(SEAL_DOMAIN, self.version)
            .field(1, self.shard_id.as_bytes())
            .field(2, self.digest.as_bytes())
            .field(3, self.chunk_root.as_bytes())
            .u64(4, self.size_bytes)
            .u64(5, u64::from(self.device_index))
            .u64(6, self.sealed_at_unix_ns)
            .finish()
    }
}

/// An HMAC-SHA256 seal (32 bytes). Not secret; shown in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 32]);

impl Signature {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// Builds a signature from a slice, refusing any length but 32.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SealError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| SealError::WrongLength {
                field: "signature",
                expected: Self::LEN,
                actual: bytes.len(),
            })
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        // Same hex rules as a digest; both are 32 bytes.
        let digest: Digest = text.parse().map_err(serde::de::Error::custom)?;
        Ok(Self(*digest.as_bytes()))
    }
}

/// Signs validated claims with `key`.
pub fn sign(key: &SealKey, claims: &SealClaims) -> Result<Signature, SealError> {
    claims.validate()?;
    Ok(Signature(key.mac(&claims.canonical_bytes())))
}

/// Verifies `signature` over `claims` with `key`, in constant time.
///
/// Every failure — wrong key, any changed claim, invalid claims, a truncated
/// or over-long signature — is [`SealError::VerificationFailed`].
pub fn verify(key: &SealKey, claims: &SealClaims, signature: &[u8]) -> Result<(), SealError> {
    claims
        .validate()
        .map_err(|_| SealError::VerificationFailed)?;
    key.verify_mac(&claims.canonical_bytes(), signature)
        .map_err(|_| SealError::VerificationFailed)
}
