//! Seals: an HMAC-SHA256 over the canonical encoding of a shard's claims.
//!
//! A seal says "this worker's key vouched that shard `id`, of `size_bytes`
//! bytes on device `device_index`, had plain digest `digest` and chunked root
//! `chunk_root` at `sealed_at`" and, from seal version 2 on, "belonged to
//! model `model_ref` as shard `index` of `total`". Any change to any claim, a
//! different key, or a signature of the wrong length fails verification with
//! the one error [`SealError::VerificationFailed`], checked in constant time.
//!
//! Versions (spec `SC-SEAL-006`): new seals are always made at
//! [`SEAL_VERSION`] (2). Seals of version 1, which carry no labels, still
//! verify, so a seal stored before version 2 existed stays checkable; they
//! are no longer made.

use std::fmt;

use crate::digest::Digest;
use crate::encoding::CanonicalEncoder;
use crate::keys::SealKey;

/// Version of the claim encoding that [`sign`] produces; part of every
/// seal, so one encoding can never be confused with another.
pub const SEAL_VERSION: u16 = 2;
/// The first encoding (spec `SC-SEAL-002`): no model reference, no shard
/// position. Verified, never signed any more.
pub const SEAL_VERSION_1: u16 = 1;
/// Every version [`verify`] accepts, oldest first.
pub const SUPPORTED_SEAL_VERSIONS: [u16; 2] = [SEAL_VERSION_1, SEAL_VERSION];
/// Longest shard id, in bytes of UTF-8.
pub const MAX_SHARD_ID_BYTES: usize = 256;
/// Longest model reference, in bytes of UTF-8 (room for a file path).
pub const MAX_MODEL_REF_BYTES: usize = 1024;

const SEAL_DOMAIN: &str = "vram-residency/seal";

/// Presence byte of an optional field that is absent (spec `SC-SEAL-005`).
const ABSENT: u8 = 0x00;
/// Presence byte of an optional field that is present.
const PRESENT: u8 = 0x01;

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
    /// A model reference was given but is empty; leave it out instead.
    #[error(
        "model reference is empty; give 1 to {MAX_MODEL_REF_BYTES} bytes or no model reference"
    )]
    EmptyModelRef,
    /// Model reference longer than [`MAX_MODEL_REF_BYTES`].
    #[error("model reference is {actual} bytes; the limit is {max}")]
    ModelRefTooLong {
        /// [`MAX_MODEL_REF_BYTES`].
        max: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The model reference holds a control character (it would garble a
    /// log or terminal). Names the position, never echoes the text.
    #[error("model reference contains a control character at byte {position}")]
    ModelRefControlCharacter {
        /// Byte offset of the first control character.
        position: usize,
    },
    /// A model of zero shards has no position to be in.
    #[error("total_shards is 0; a model has at least one shard")]
    ZeroTotalShards,
    /// The shard index is not below the number of shards.
    #[error("shard_index {index} is not below total_shards {total}; indices count from 0")]
    ShardIndexOutOfRange {
        /// Index given.
        index: u32,
        /// Number of shards given.
        total: u32,
    },
    /// Claims of seal version 1 carry a model reference or shard position,
    /// which that version cannot encode.
    #[error(
        "seal version {version} cannot carry a model reference or shard position; they need version {SEAL_VERSION}"
    )]
    LabelsNeedNewerVersion {
        /// The claims' version.
        version: u16,
    },
    /// The claims name a version this crate does not know.
    #[error("seal version {version} is unknown; supported versions are 1 and {SEAL_VERSION}")]
    UnsupportedVersion {
        /// The claims' version.
        version: u16,
    },
    /// New seals are made at [`SEAL_VERSION`] only; older versions are
    /// verified but never signed.
    #[error(
        "seal version {version} is accepted for verification only; new seals are made at version {SEAL_VERSION}"
    )]
    RetiredVersion {
        /// The claims' version.
        version: u16,
    },
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

/// A shard's position among its model's shards (tensor parallelism):
/// shard `index` of `total`, counting from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ShardPosition {
    /// This shard's index, below `total`.
    pub index: u32,
    /// How many shards the model has (at least 1).
    pub total: u32,
}

impl ShardPosition {
    /// Shard `index` of `total`, refusing `total == 0`
    /// ([`SealError::ZeroTotalShards`]) and `index >= total`
    /// ([`SealError::ShardIndexOutOfRange`]).
    ///
    /// ```
    /// use seal_crypto::{SealError, ShardPosition};
    /// assert!(ShardPosition::new(1, 8).is_ok());
    /// assert_eq!(ShardPosition::new(8, 8), Err(SealError::ShardIndexOutOfRange { index: 8, total: 8 }));
    /// assert_eq!(ShardPosition::new(0, 0), Err(SealError::ZeroTotalShards));
    /// ```
    pub fn new(index: u32, total: u32) -> Result<Self, SealError> {
        let position = Self { index, total };
        position.validate()?;
        Ok(position)
    }

    /// Checks the bounds again (the fields are public).
    pub fn validate(&self) -> Result<(), SealError> {
        if self.total == 0 {
            return Err(SealError::ZeroTotalShards);
        }
        if self.index >= self.total {
            return Err(SealError::ShardIndexOutOfRange {
                index: self.index,
                total: self.total,
            });
        }
        Ok(())
    }
}

/// Checks a model reference (spec `SC-SEAL-004`): 1 to
/// [`MAX_MODEL_REF_BYTES`] bytes of UTF-8 with no control character
/// (Unicode category Cc). Paths, catalog names and hashes all fit.
///
/// ```
/// use seal_crypto::{SealError, validate_model_ref};
/// assert!(validate_model_ref("/models/llama-3-70b/model-00002-of-00008.safetensors").is_ok());
/// assert_eq!(validate_model_ref(""), Err(SealError::EmptyModelRef));
/// assert_eq!(validate_model_ref("a\nb"), Err(SealError::ModelRefControlCharacter { position: 1 }));
/// ```
pub fn validate_model_ref(model_ref: &str) -> Result<(), SealError> {
    if model_ref.is_empty() {
        return Err(SealError::EmptyModelRef);
    }
    if model_ref.len() > MAX_MODEL_REF_BYTES {
        return Err(SealError::ModelRefTooLong {
            max: MAX_MODEL_REF_BYTES,
            actual: model_ref.len(),
        });
    }
    if let Some((position, _)) = model_ref.char_indices().find(|(_, c)| c.is_control()) {
        return Err(SealError::ModelRefControlCharacter { position });
    }
    Ok(())
}

/// What a seal vouches for.
///
/// Serializes with serde; `model_ref` and `shard_position` are left out
/// when absent and default to absent when read, so stored version-1 claims
/// read back unchanged.
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
    /// Encoding version ([`SEAL_VERSION`] for new seals,
    /// [`SEAL_VERSION_1`] for old ones).
    pub version: u16,
    /// Which model the shard belongs to (version 2 and later; see
    /// [`validate_model_ref`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_ref: Option<String>,
    /// The shard's position among the model's shards (version 2 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_position: Option<ShardPosition>,
}

impl SealClaims {
    /// Builds claims at the current [`SEAL_VERSION`], without model
    /// reference or shard position, validating them.
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
            model_ref: None,
            shard_position: None,
        };
        claims.validate()?;
        Ok(claims)
    }

    /// The same claims naming the model the shard belongs to, validated
    /// ([`validate_model_ref`]).
    pub fn with_model_ref(mut self, model_ref: &str) -> Result<Self, SealError> {
        validate_model_ref(model_ref)?;
        self.model_ref = Some(model_ref.to_owned());
        self.validate()?;
        Ok(self)
    }

    /// The same claims placing the shard at `position` among the model's
    /// shards.
    pub fn with_shard_position(mut self, position: ShardPosition) -> Result<Self, SealError> {
        position.validate()?;
        self.shard_position = Some(position);
        self.validate()?;
        Ok(self)
    }

    /// Checks the claims are well formed for their version: a non-empty id
    /// within bounds, a non-zero size, a supported version, and labels that
    /// are valid and allowed by the version.
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
        match self.version {
            SEAL_VERSION_1 => {
                if self.model_ref.is_some() || self.shard_position.is_some() {
                    return Err(SealError::LabelsNeedNewerVersion {
                        version: self.version,
                    });
                }
            }
            SEAL_VERSION => {
                if let Some(model_ref) = &self.model_ref {
                    validate_model_ref(model_ref)?;
                }
                if let Some(position) = &self.shard_position {
                    position.validate()?;
                }
            }
            version => return Err(SealError::UnsupportedVersion { version }),
        }
        Ok(())
    }

    /// The canonical encoding the signature covers: `SC-SEAL-002` for
    /// version 1 (tags 1 to 6), `SC-SEAL-005` for version 2 and any other
    /// version (tags 1 to 8). Version-1 claims cannot carry labels
    /// ([`Self::validate`] refuses them), so none are lost here.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let encoder = CanonicalEncoder::new(SEAL_DOMAIN, self.version)
            .field(1, self.shard_id.as_bytes())
            .field(2, self.digest.as_bytes())
            .field(3, self.chunk_root.as_bytes())
            .u64(4, self.size_bytes)
            .u64(5, u64::from(self.device_index))
            .u64(6, self.sealed_at_unix_ns);
        if self.version == SEAL_VERSION_1 {
            return encoder.finish();
        }
        let mut model_ref = Vec::with_capacity(1 + self.model_ref.as_ref().map_or(0, String::len));
        match &self.model_ref {
            None => model_ref.push(ABSENT),
            Some(text) => {
                model_ref.push(PRESENT);
                model_ref.extend_from_slice(text.as_bytes());
            }
        }
        let mut position = Vec::with_capacity(17);
        match &self.shard_position {
            None => position.push(ABSENT),
            Some(ShardPosition { index, total }) => {
                position.push(PRESENT);
                position.extend_from_slice(&u64::from(*index).to_be_bytes());
                position.extend_from_slice(&u64::from(*total).to_be_bytes());
            }
        }
        encoder.field(7, &model_ref).field(8, &position).finish()
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
///
/// Only claims at [`SEAL_VERSION`] are signed; older versions are refused
/// with [`SealError::RetiredVersion`] (they still [`verify`]).
pub fn sign(key: &SealKey, claims: &SealClaims) -> Result<Signature, SealError> {
    claims.validate()?;
    if claims.version != SEAL_VERSION {
        return Err(SealError::RetiredVersion {
            version: claims.version,
        });
    }
    Ok(Signature(key.mac(&claims.canonical_bytes())))
}

/// Verifies `signature` over `claims` with `key`, in constant time.
///
/// Accepts every version in [`SUPPORTED_SEAL_VERSIONS`]. Every failure —
/// wrong key, any changed claim, invalid claims, an unknown version, a
/// truncated or over-long signature — is [`SealError::VerificationFailed`].
pub fn verify(key: &SealKey, claims: &SealClaims, signature: &[u8]) -> Result<(), SealError> {
    claims
        .validate()
        .map_err(|_| SealError::VerificationFailed)?;
    key.verify_mac(&claims.canonical_bytes(), signature)
        .map_err(|_| SealError::VerificationFailed)
}
