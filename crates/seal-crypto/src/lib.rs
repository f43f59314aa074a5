//! `seal-crypto`: the cryptography of sealed model shards, and nothing else.
//!
//! A worker loads a model shard into VRAM and must later prove that what is
//! there is exactly what it loaded. This crate supplies the pieces of that
//! proof, as a thin, opinionated layer over RustCrypto's `sha2`, `hmac` and
//! `hkdf`:
//!
//! - [`Digest`]: a SHA-256 value; [`sha256`] and [`Sha256Stream`] compute the
//!   *plain digest* of a shard, equal to `sha256sum` of the same bytes.
//! - [`ChunkTree`]: the *chunked digest* (spec `SC-CHUNK-*`): 1 MiB chunks
//!   hashed in parallel and combined into an RFC 6962 Merkle root, so one
//!   chunk or a range can be re-checked without re-hashing the rest, and a GPU
//!   can compute the same root later.
//! - [`WorkerSecret`] and [`SealKey`]: keys derived with HKDF-SHA256 under a
//!   context string, zeroized on drop, shown only by [`Fingerprint`].
//! - [`SealClaims`], [`sign`] and [`verify`]: an HMAC-SHA256 seal over a
//!   canonical, versioned, length-prefixed encoding ([`CanonicalEncoder`]).
//!   Version 2 also binds the model reference and the shard's position
//!   ([`ShardPosition`]); version-1 seals still verify. Known-answer vectors
//!   for every version are in `tests/vectors/seal-known-answers.json`.
//! - [`node_hash_x4`]: four RFC 6962 node hashes at once, interleaved on the
//!   CPU's SHA extensions when it has them (Merkle proof and tree checks).
//! - [`bench`](mod@bench): a measurement harness for the digest benchmark, used by the
//!   `digest` example and `vramctl bench digest`.
//!
//! The one design decision that shapes the rest: **a seal binds both digests**.
//! The plain digest is what operators compare with a model catalog; the
//! chunked root is what makes re-verification fast and parallel. Signing both
//! means either can be used to check the shard without trusting the other.
//!
//! ```
//! use seal_crypto::{sha256, ChunkTree, SealClaims, SealKey, ShardPosition, WorkerSecret, context};
//!
//! let secret = WorkerSecret::new(&[7u8; 32])?;
//! let key = SealKey::derive(&secret, context::SEAL)?;
//! let weights = vec![1u8; 3 << 20];
//! let claims = SealClaims::new(
//!     "llama-3-8b:shard-0",
//!     sha256(&weights),
//!     ChunkTree::from_bytes(&weights).root(),
//!     weights.len() as u64,
//!     0,
//!     1_700_000_000_000_000_000,
//! )?
//! .with_model_ref("llama-3-8b")?
//! .with_shard_position(ShardPosition::new(0, 2)?)?;
//! let signature = seal_crypto::sign(&key, &claims)?;
//! seal_crypto::verify(&key, &claims, signature.as_bytes())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod bench;
mod chunked;
mod digest;
mod encoding;
mod keys;
mod lanes;
mod seal;

pub use chunked::{
    CHUNK_SIZE, ChunkProof, ChunkTree, ChunkedError, ChunkedHasher, ShardDigester, ShardDigests,
    leaf_hash, node_hash, verify_chunk,
};
pub use digest::{Digest, DigestError, Sha256Stream, ct_eq, sha256, sha256_reader};
pub use encoding::CanonicalEncoder;
pub use keys::{
    Fingerprint, KeyError, MAX_KEY_BYTES, MIN_KEY_BYTES, MacMismatch, SealKey, WorkerSecret,
    context,
};
pub use lanes::{NODE_LANES, node_hash_bytes, node_hash_x4, node_lanes_accelerated};
pub use seal::{
    MAX_MODEL_REF_BYTES, MAX_SHARD_ID_BYTES, SEAL_VERSION, SEAL_VERSION_1, SUPPORTED_SEAL_VERSIONS,
    SealClaims, SealError, ShardPosition, Signature, sign, validate_model_ref, verify,
};
