//! `tlog`: the math of a publicly verifiable, append-only log, and nothing
//! else: no I/O, no database, no clock, no network.
//!
//! An audit log is worth something to others only if anyone holding a public
//! key can check that an entry is in it, and that today's log extends
//! yesterday's. This crate is everything such a verifier (or a monitor, a
//! witness, or the log itself) computes:
//!
//! - [`hash`]: RFC 6962 leaf and node hashes and the Merkle tree root
//!   ([`leaf_hash`], [`node_hash`], [`merkle_root`], [`EMPTY_ROOT`]).
//! - [`store`]: the stored-hash layout a log keeps its tree in, and the
//!   [`HashStore`] trait proofs read through; [`MemoryHashStore`] for tests
//!   and small logs.
//! - [`prove`]: the root of any size, inclusion and consistency proofs
//!   (RFC 9162 §2.1.3.1, §2.1.4.1), from any [`HashStore`] in O(log n) reads.
//! - [`verify`]: inclusion and consistency verification (RFC 9162 §2.1.3.2,
//!   §2.1.4.2) with every hash length and size checked; [`verify_inclusions`]
//!   checks many inclusion proofs four at a time.
//! - [`keys`], [`note`], [`cosignature`]: C2SP signed notes with Ed25519
//!   (0x01) signatures and timestamped Ed25519 cosignatures (0x04).
//! - [`checkpoint`]: C2SP checkpoints, and [`open_checkpoint`], which trusts
//!   one only if the log's own key signed it.
//! - [`policy`]: k-of-n witness policies over cosigned checkpoints.
//! - [`tlog_proof`], [`add_checkpoint`]: the C2SP `tlog-proof` and
//!   tlog-witness `add-checkpoint` text forms.
//! - [`witness`]: both ends of the tlog-witness protocol without HTTP: a
//!   [`Witness`] that answers `add-checkpoint` bodies (200, 400, 403, 404,
//!   409, 422) and [`read_response`], which a log uses to read the answer.
//!
//! The design decision that shapes the rest: **the tree lives in a store this
//! crate does not own.** A log keeps one hash per complete subtree in an
//! append-only table numbered as Go's `sumdb/tlog` does ([`store`] gives the
//! formula), and every root or proof is computed from a handful of those
//! hashes read in one batch. So the same code serves a SQLite log with
//! millions of entries, tiles fetched over HTTP, and the in-memory tree of a
//! test; and a verifier never needs SQLite.
//!
//! Everything that parses input refuses, with a typed error that says what
//! to do next, anything not canonical: a 31-byte hash, a size of `08`, a
//! vkey whose ID does not match, a 101st signature. Nothing panics on input.
//!
//! ```
//! use tlog::{
//!     Checkpoint, MemoryHashStore, SignatureType, SignerKey, inclusion_proof, leaf_hash,
//!     open_checkpoint, tree_root, verify_inclusion,
//! };
//!
//! // The log: append entries, compute the root, sign a checkpoint.
//! let mut tree = MemoryHashStore::new();
//! for entry in ["sealed shard-0", "verified shard-0", "freed shard-0"] {
//!     tree.append(entry.as_bytes())?;
//! }
//! let origin = "example.com/gpu-audit-log";
//! let log_key = SignerKey::from_seed(origin, SignatureType::Ed25519, &[7; 32])?;
//! let root = tree_root(&tree, tree.size())?;
//! let note = Checkpoint::new(origin, tree.size(), root)?.sign(&log_key)?;
//! let proof = inclusion_proof(&tree, tree.size(), 1)?;
//!
//! // A verifier holding only the log's public key (its vkey string).
//! let vkey = log_key.verifier_key().to_string();
//! let signed = open_checkpoint(&note.to_bytes(), origin, &vkey.parse()?, &[])?;
//! let checkpoint = signed.checkpoint();
//! verify_inclusion(
//!     leaf_hash(b"verified shard-0").as_bytes(),
//!     1,
//!     checkpoint.size(),
//!     &proof,
//!     checkpoint.root().as_bytes(),
//! )?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod add_checkpoint;
pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod keys;
pub mod note;
pub mod policy;
pub mod prove;
pub mod store;
mod text;
pub mod tlog_proof;
pub mod verify;
pub mod witness;

pub use add_checkpoint::{AddCheckpointError, AddCheckpointRequest, ConsistencyCheckError};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, open_checkpoint};
pub use hash::{EMPTY_ROOT, HASH_SIZE, Hash, HashError, leaf_hash, merkle_root, node_hash};
pub use keys::{KeyError, KeyId, SignError, SignatureType, SignerKey, VerifierKey};
pub use note::{MAX_SIGNATURES, Note, NoteError, NoteSignature, VerifiedNote, VerifiedSignature};
pub use policy::{PolicyError, PolicyReport, WitnessCosignature, WitnessPolicy};
pub use prove::{ProveError, consistency_proof, inclusion_proof, tree_root};
pub use store::{
    HashStore, MAX_TREE_SIZE, MemoryHashStore, hashes_to_append, split_stored_hash_index,
    stored_hash_count, stored_hash_index,
};
pub use tlog_proof::{TlogProof, TlogProofError};
pub use verify::{
    HashRole, InclusionCheck, VerifyError, consistency_proof_len, inclusion_proof_len,
    verify_consistency, verify_inclusion, verify_inclusions,
};
pub use witness::{
    Cosigned, MAX_ADD_CHECKPOINT_BODY_BYTES, MAX_COSIGNATURE_LINES, MAX_WITNESS_RESPONSE_BYTES,
    Refusal, SIZE_CONTENT_TYPE, VerifiedCosignature, Witness, WitnessConfigError, WitnessRefusal,
    WitnessReply, WitnessRequest, WitnessResponseError, WitnessedTree, read_conflict,
    read_cosignatures, read_response,
};
