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
//!   §2.1.4.2) with every hash length and size checked.
//!
//! The design decision that shapes the rest: **the tree lives in a store this
//! crate does not own.** A log keeps one hash per complete subtree in an
//! append-only table numbered as Go's `sumdb/tlog` does ([`store`] gives the
//! formula), and every root or proof is computed from a handful of those
//! hashes read in one batch. So the same code serves a SQLite log with
//! millions of entries, tiles fetched over HTTP, and the in-memory tree of a
//! test; and a verifier never needs SQLite.
//!
//! Everything that takes hashes from outside refuses, with a typed error
//! that says what to do next, anything malformed: a 31-byte hash, an index
//! past the end, a proof of the wrong length. Nothing panics on input.
//!
//! ```
//! use tlog::{MemoryHashStore, inclusion_proof, leaf_hash, tree_root, verify_inclusion};
//!
//! let mut tree = MemoryHashStore::new();
//! for entry in ["sealed shard-0", "verified shard-0", "freed shard-0"] {
//!     tree.append(entry.as_bytes())?;
//! }
//! let root = tree_root(&tree, tree.size())?;
//! let proof = inclusion_proof(&tree, tree.size(), 1)?;
//! verify_inclusion(leaf_hash(b"verified shard-0").as_bytes(), 1, 3, &proof, root.as_bytes())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod hash;
pub mod prove;
pub mod store;
mod text;
pub mod verify;

pub use hash::{EMPTY_ROOT, HASH_SIZE, Hash, HashError, leaf_hash, merkle_root, node_hash};
pub use prove::{ProveError, consistency_proof, inclusion_proof, tree_root};
pub use store::{HashStore, MAX_TREE_SIZE, MemoryHashStore, hashes_to_append};
pub use verify::{HashRole, VerifyError, verify_consistency, verify_inclusion};
