//! RFC 6962 §2.1 hashing: leaf and node hashes with domain separation, and
//! the Merkle Tree Hash (MTH) of a list of leaves.
//!
//! A leaf is hashed as `SHA-256(0x00 || data)` and an inner node as
//! `SHA-256(0x01 || left || right)`, so no leaf can pass for a node (the
//! second-preimage attack on unprefixed trees). The tree of `n > 1` leaves
//! splits at `k`, the largest power of two strictly below `n`:
//! `MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n]))`; one leaf is its own root,
//! and the empty tree's root is `SHA-256("")` ([`EMPTY_ROOT`]).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::text::{decode_base64, encode_base64};

/// Bytes in a hash: SHA-256.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 value in a Merkle tree: a leaf hash, a node hash or a root.
///
/// Built only from exactly 32 bytes: [`Hash::from_slice`] refuses any other
/// length with [`HashError::WrongLength`], so a truncated hash read from a
/// proof or a database is an error, never a panic. Displayed as 64 lower-case
/// hex digits; [`Hash::to_base64`] gives the form C2SP text formats use.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash([u8; HASH_SIZE]);

/// The root of the empty tree: `SHA-256("")`,
/// `e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 649b934c a495991b 7852b855`.
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// A value that is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The bytes are not 32 long.
    #[error(
        "a hash is {HASH_SIZE} bytes (SHA-256), this one is {len}: it was truncated or is not a hash"
    )]
    WrongLength {
        /// The length found.
        len: usize,
    },
    /// The text is not standard, padded, canonical base64.
    #[error("a hash must be standard padded base64 of {HASH_SIZE} bytes (44 characters)")]
    NotBase64,
    /// The text is not 64 hex digits.
    #[error("a hash must be 64 hex digits")]
    NotHex,
}

impl Hash {
    /// The hash with these bytes.
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }

    /// The hash in `bytes`, which must be exactly 32 long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashError::WrongLength { len: bytes.len() })
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Standard padded base64, as in checkpoints and proofs (44 characters).
    pub fn to_base64(&self) -> String {
        encode_base64(&self.0)
    }

    /// Parses standard padded base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, HashError> {
        let bytes = decode_base64(text).ok_or(HashError::NotBase64)?;
        Self::from_slice(&bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = HashError;

    /// Parses 64 hex digits of either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.as_bytes();
        if text.len() != 2 * HASH_SIZE {
            return Err(HashError::NotHex);
        }
        let mut bytes = [0u8; HASH_SIZE];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).map_err(|_| HashError::NotHex)?;
            *byte = u8::from_str_radix(digits, 16).map_err(|_| HashError::NotHex)?;
        }
        Ok(Self(bytes))
    }
}

/// The leaf hash of one entry: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an inner node: `SHA-256(0x01 || left || right)`.
///
/// The input is always 65 bytes, so `seal_crypto::node_hash_bytes`
/// compresses its two padded blocks directly, the second with a schedule
/// computed ahead (one byte of it varies): the hash of every proof step and
/// of every inner node a verifier recomputes.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(seal_crypto::node_hash_bytes(&left.0, &right.0))
}

/// The Merkle Tree Hash of a list of leaf hashes (RFC 6962 §2.1);
/// [`EMPTY_ROOT`] for none.
///
/// Runs in one pass with O(log n) memory: a stack of the complete subtrees
/// seen so far, merged as soon as two have the same size, then folded right
/// to left, which is the same tree as the recursive definition.
pub fn merkle_root(leaf_hashes: &[Hash]) -> Hash {
    // (hash, leaves under it); sizes strictly decrease from bottom to top.
    let mut stack: Vec<(Hash, u64)> = Vec::with_capacity(64);
    for leaf in leaf_hashes {
        let mut hash = *leaf;
        let mut size = 1u64;
        while let Some(&(left, left_size)) = stack.last() {
            if left_size != size {
                break;
            }
            stack.pop();
            hash = node_hash(&left, &hash);
            size = size.saturating_mul(2);
        }
        stack.push((hash, size));
    }
    let mut subtrees = stack.into_iter().rev();
    let Some((mut root, _)) = subtrees.next() else {
        return EMPTY_ROOT;
    };
    for (left, _) in subtrees {
        root = node_hash(&left, &root);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TL-HASH-001: the empty root is SHA-256 of nothing.
    #[test]
    fn tl_hash_001_empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT.0, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(merkle_root(&[]), EMPTY_ROOT);
    }

    /// TL-HASH-002: hashes of any other length are refused.
    #[test]
    fn tl_hash_002_wrong_lengths_are_errors() {
        for len in [0, 1, 31, 33, 64] {
            assert_eq!(
                Hash::from_slice(&vec![0u8; len]),
                Err(HashError::WrongLength { len })
            );
        }
        let short = encode_base64(&[7u8; 31]);
        assert_eq!(
            Hash::from_base64(&short),
            Err(HashError::WrongLength { len: 31 })
        );
        assert_eq!("zz".repeat(32).parse::<Hash>(), Err(HashError::NotHex));
        assert_eq!("ab".parse::<Hash>(), Err(HashError::NotHex));
        assert_eq!("é".repeat(32).parse::<Hash>(), Err(HashError::NotHex));
    }

    /// TL-HASH-004: the direct two-block node hash is SHA-256 of
    /// `0x01 || left || right`, for any bytes.
    #[test]
    fn tl_hash_004_node_hash_is_sha256_of_its_input() {
        let mut left = leaf_hash(b"left");
        let mut right = leaf_hash(b"right");
        for round in 0..200u32 {
            let mut input = vec![0x01];
            input.extend_from_slice(&left.0);
            input.extend_from_slice(&right.0);
            let expected = Hash(Sha256::digest(&input).into());
            assert_eq!(node_hash(&left, &right), expected, "round {round}");
            left = leaf_hash(&round.to_be_bytes());
            right = expected;
        }
        assert_eq!(node_hash(&Hash([0; 32]), &Hash([0xff; 32])).0.len(), 32);
    }

    #[test]
    fn text_forms_round_trip() {
        let h = leaf_hash(b"x");
        assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(format!("{h:?}"), format!("Hash({h})"));
    }
}
