//! The chunked digest (spec `SC-CHUNK-001`..`005`): a shard cut into 1 MiB
//! chunks, each hashed on its own, combined into an RFC 6962 Merkle root.
//!
//! Why a tree and not one long hash: a plain SHA-256 is inherently serial, so
//! re-hashing tens of GB through one core takes tens of seconds. Chunk hashes
//! are independent, so all cores (or, later, a GPU) compute them at once, and
//! one chunk or a range can be re-checked against the root without touching
//! the rest. Leaves and nodes are hashed with different prefix bytes (0x00,
//! 0x01), as in RFC 6962, so a node can never pass for a leaf.

use std::ops::Range;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::digest::{Digest, Sha256Stream, sha256};

/// Bytes per chunk (1 MiB). Fixed by version 1 of the chunked digest; the
/// last chunk of a shard may be shorter.
pub const CHUNK_SIZE: usize = 1 << 20;

/// Chunks buffered by [`ChunkedHasher`] before hashing them in parallel:
/// enough to keep every core busy, small enough to bound memory (16 MiB).
const BATCH_CHUNKS: usize = 16;

/// A chunk index, proof or leaf list did not fit the tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// The chunk index is past the last chunk.
    #[error("chunk {index} does not exist; the shard has {count} chunks")]
    NoSuchChunk {
        /// Index asked for.
        index: u64,
        /// Chunks in the shard.
        count: u64,
    },
    /// The number of leaf hashes does not match the shard size.
    #[error("{leaves} leaf hashes do not fit a shard of {bytes} bytes ({expected} chunks)")]
    LeafCountMismatch {
        /// Leaves given.
        leaves: usize,
        /// Shard size in bytes.
        bytes: u64,
        /// Chunks that size has.
        expected: u64,
    },
    /// The chunk's bytes, its proof or the root do not agree.
    #[error("chunk {index} does not match the chunked root")]
    Mismatch {
        /// The chunk that failed.
        index: u64,
    },
}

/// Hash of one chunk: `SHA-256(0x00 || chunk)`.
pub fn leaf_hash(chunk: &[u8]) -> Digest {
    let out: [u8; 32] = Sha256::new()
        .chain_update([0x00])
        .chain_update(chunk)
        .finalize()
        .into();
    Digest::from_bytes(out)
}

/// Hash of an inner node: `SHA-256(0x01 || left || right)`
/// (computed by [`crate::node_hash_bytes`]).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::from_bytes(crate::node_hash_bytes(left.as_bytes(), right.as_bytes()))
}

/// Number of chunks in a shard of `bytes` bytes.
pub(crate) fn chunk_count(bytes: u64) -> u64 {
    bytes.div_ceil(CHUNK_SIZE as u64)
}

/// RFC 6962 Merkle tree hash of a list of leaf hashes, computed bottom-up:
/// adjacent pairs are joined and a lone last node moves up unchanged, which
/// gives the same root as the RFC's "split at the largest power of two".
/// The empty list hashes to `SHA-256("")`, as in the RFC.
fn merkle_root(leaves: &[Digest]) -> Digest {
    let mut level: Vec<Digest> = leaves.to_vec();
    if level.is_empty() {
        return sha256(b"");
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => node_hash(left, right),
                [lone] => *lone,
                _ => sha256(b""), // chunks(2) yields one or two items
            })
            .collect();
    }
    level.first().copied().unwrap_or_else(|| sha256(b""))
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The chunked digest of a shard: one leaf hash per chunk, and the root.
///
/// Keep it beside a sealed shard (32 bytes per MiB) to re-check single chunks
/// or ranges later.
///
/// ```
/// use seal_crypto::{ChunkTree, CHUNK_SIZE};
/// let shard = vec![7u8; 2 * CHUNK_SIZE + 5];
/// let tree = ChunkTree::from_bytes(&shard);
/// assert_eq!(tree.chunk_count(), 3);
/// let proof = tree.proof(2)?;
/// seal_crypto::verify_chunk(&tree.root(), shard.len() as u64, &shard[2 * CHUNK_SIZE..], &proof)?;
/// # Ok::<(), seal_crypto::ChunkedError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkTree {
    leaves: Vec<Digest>,
    bytes: u64,
}

impl ChunkTree {
    /// Hashes `bytes` chunk by chunk on all cores (the current rayon pool).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let leaves = bytes.par_chunks(CHUNK_SIZE).map(leaf_hash).collect();
        Self {
            leaves,
            bytes: bytes.len() as u64,
        }
    }

    /// Rebuilds a tree from stored leaf hashes, checking their count.
    pub fn from_leaves(leaves: Vec<Digest>, bytes: u64) -> Result<Self, ChunkedError> {
        let expected = chunk_count(bytes);
        if leaves.len() as u64 != expected {
            return Err(ChunkedError::LeafCountMismatch {
                leaves: leaves.len(),
                bytes,
                expected,
            });
        }
        Ok(Self { leaves, bytes })
    }

    /// Hashes a file's chunks on all cores with positional reads, holding one
    /// chunk buffer per worker thread (memory stays flat for any file size).
    #[cfg(unix)]
    pub fn from_file(file: &std::fs::File) -> std::io::Result<Self> {
        use std::os::unix::fs::FileExt;
        let bytes = file.metadata()?.len();
        let leaves = (0..chunk_count(bytes))
            .into_par_iter()
            .map_init(
                || vec![0u8; CHUNK_SIZE],
                |buffer, index| {
                    let offset = index * CHUNK_SIZE as u64;
                    let len = (bytes - offset).min(CHUNK_SIZE as u64) as usize;
                    let chunk = buffer.get_mut(..len).unwrap_or_default();
                    file.read_exact_at(chunk, offset)?;
                    Ok(leaf_hash(chunk))
                },
            )
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { leaves, bytes })
    }

    /// The Merkle root: the value a seal signs.
    pub fn root(&self) -> Digest {
        merkle_root(&self.leaves)
    }

    /// The leaf hashes, one per chunk, in order.
    pub fn leaves(&self) -> &[Digest] {
        &self.leaves
    }

    /// Size of the shard in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> u64 {
        self.leaves.len() as u64
    }

    /// Byte range of chunk `index` within the shard.
    pub fn chunk_range(&self, index: u64) -> Result<Range<u64>, ChunkedError> {
        if index >= self.chunk_count() {
            return Err(ChunkedError::NoSuchChunk {
                index,
                count: self.chunk_count(),
            });
        }
        let start = index * CHUNK_SIZE as u64;
        Ok(start..(start + CHUNK_SIZE as u64).min(self.bytes))
    }

    /// Checks one chunk's bytes against its stored leaf hash. To trust the
    /// stored leaves, first check `root()` against the sealed root.
    pub fn check_chunk(&self, index: u64, chunk: &[u8]) -> Result<(), ChunkedError> {
        let expected = usize::try_from(index)
            .ok()
            .and_then(|i| self.leaves.get(i))
            .ok_or(ChunkedError::NoSuchChunk {
                index,
                count: self.chunk_count(),
            })?;
        if leaf_hash(chunk) == *expected {
            Ok(())
        } else {
            Err(ChunkedError::Mismatch { index })
        }
    }

    /// The audit path of chunk `index` (RFC 6962 §2.1.1): the sibling hashes
    /// from the leaf up, enough to check that chunk against the root alone.
    pub fn proof(&self, index: u64) -> Result<ChunkProof, ChunkedError> {
        let position = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.leaves.len())
            .ok_or(ChunkedError::NoSuchChunk {
                index,
                count: self.chunk_count(),
            })?;
        let mut path = Vec::new();
        audit_path(position, &self.leaves, &mut path);
        Ok(ChunkProof { index, path })
    }
}

/// RFC 6962 PATH(m, D[n]), leaf to root.
fn audit_path(m: usize, leaves: &[Digest], path: &mut Vec<Digest>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split_point(leaves.len());
    let (left, right) = leaves.split_at(k);
    if m < k {
        audit_path(m, left, path);
        path.push(merkle_root(right));
    } else {
        audit_path(m - k, right, path);
        path.push(merkle_root(left));
    }
}

/// Proof that one chunk belongs to a chunked root (an RFC 6962 audit path).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkProof {
    /// Which chunk the proof is for.
    pub index: u64,
    /// Sibling hashes, from the leaf's level up to the root's children.
    pub path: Vec<Digest>,
}

/// Checks `chunk` (the bytes of chunk `proof.index` of a shard of
/// `shard_bytes` bytes) against `root`, hashing only that chunk and the path
/// (RFC 9162 §2.1.3.2).
pub fn verify_chunk(
    root: &Digest,
    shard_bytes: u64,
    chunk: &[u8],
    proof: &ChunkProof,
) -> Result<(), ChunkedError> {
    let count = chunk_count(shard_bytes);
    let index = proof.index;
    let mismatch = ChunkedError::Mismatch { index };
    if index >= count {
        return Err(ChunkedError::NoSuchChunk { index, count });
    }
    // The chunk must have the length its position implies.
    let start = index * CHUNK_SIZE as u64;
    let expected_len = (shard_bytes - start).min(CHUNK_SIZE as u64);
    if chunk.len() as u64 != expected_len {
        return Err(mismatch);
    }
    let (mut f, mut s) = (index, count - 1);
    let mut hash = leaf_hash(chunk);
    for sibling in &proof.path {
        if s == 0 {
            return Err(mismatch);
        }
        if f & 1 == 1 || f == s {
            hash = node_hash(sibling, &hash);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && hash == *root {
        Ok(())
    } else {
        Err(mismatch)
    }
}

/// Builds a [`ChunkTree`] from bytes that arrive in pieces (a file, a device
/// read-back), hashing full batches of chunks in parallel. Memory is bounded
/// by one batch (16 MiB) whatever the shard size.
#[derive(Debug, Default)]
pub struct ChunkedHasher {
    batch: Vec<u8>,
    leaves: Vec<Digest>,
    bytes: u64,
}

impl ChunkedHasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes; any split of the same bytes gives the same tree.
    pub fn update(&mut self, mut data: &[u8]) {
        const BATCH_BYTES: usize = BATCH_CHUNKS * CHUNK_SIZE;
        self.bytes = self.bytes.saturating_add(data.len() as u64);
        while !data.is_empty() {
            // One exact batch, once: growing by doubling would overshoot to
            // 24 MiB and hold the old buffer too while it moves.
            if self.batch.capacity() == 0 {
                self.batch.reserve_exact(BATCH_BYTES);
            }
            let room = BATCH_BYTES - self.batch.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.batch.extend_from_slice(now);
            data = later;
            if self.batch.len() == BATCH_BYTES {
                self.hash_batch();
            }
        }
    }

    fn hash_batch(&mut self) {
        let hashed: Vec<Digest> = self.batch.par_chunks(CHUNK_SIZE).map(leaf_hash).collect();
        self.leaves.extend(hashed);
        self.batch.clear();
    }

    /// The tree of everything fed.
    pub fn finish(mut self) -> ChunkTree {
        self.hash_batch();
        ChunkTree {
            leaves: self.leaves,
            bytes: self.bytes,
        }
    }
}

/// Both digests of a shard, computed in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDigests {
    /// SHA-256 of the bytes (equals `sha256sum`).
    pub plain: Digest,
    /// The chunked digest; its root is what the seal signs.
    pub chunks: ChunkTree,
}

/// Computes the plain digest and the chunked tree of a shard in one pass over
/// bytes that arrive in pieces.
#[derive(Debug, Default)]
pub struct ShardDigester {
    plain: Sha256Stream,
    chunks: ChunkedHasher,
}

impl ShardDigester {
    /// A digester that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes. The serial plain hash and the parallel chunk
    /// hashes run at the same time, so the pass costs about one plain
    /// SHA-256 rather than one plus the chunks.
    pub fn update(&mut self, data: &[u8]) {
        let Self { plain, chunks } = self;
        rayon::join(|| plain.update(data), || chunks.update(data));
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.plain.bytes()
    }

    /// Both digests of everything fed.
    pub fn finish(self) -> ShardDigests {
        ShardDigests {
            plain: self.plain.finish(),
            chunks: self.chunks.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ShardDigester` counts every byte fed and gives both digests of
    /// them, however the input is split.
    #[test]
    fn shard_digester_counts_and_digests_every_byte() {
        let data: Vec<u8> = (0..2 * CHUNK_SIZE + 5).map(|i| (i % 241) as u8).collect();
        let mut digester = ShardDigester::new();
        assert_eq!(digester.bytes(), 0);
        for piece in data.chunks(777_777) {
            digester.update(piece);
        }
        assert_eq!(digester.bytes(), data.len() as u64);
        let digests = digester.finish();
        assert_eq!(digests.plain, sha256(&data));
        assert_eq!(digests.chunks, ChunkTree::from_bytes(&data));
    }

    /// SC-CHUNK-003: stored leaves are checked against the sealed root once;
    /// then a chunk is re-checked against its leaf alone. A stored leaf
    /// that was changed no longer gives the root; a changed chunk byte is a
    /// mismatch at that chunk; the wrong leaf count is refused.
    #[test]
    fn sc_chunk_003_stored_leaves_check_against_the_root_then_chunks_alone() {
        let data: Vec<u8> = (0..5 * CHUNK_SIZE + 77).map(|i| (i % 253) as u8).collect();
        let sealed = ChunkTree::from_bytes(&data);
        let stored = sealed.leaves().to_vec();
        let rebuilt = ChunkTree::from_leaves(stored.clone(), data.len() as u64).unwrap();
        assert_eq!(rebuilt.root(), sealed.root());
        for index in 0..rebuilt.chunk_count() {
            let range = rebuilt.chunk_range(index).unwrap();
            let chunk = &data[range.start as usize..range.end as usize];
            assert_eq!(rebuilt.check_chunk(index, chunk), Ok(()));
            let mut changed = chunk.to_vec();
            changed[chunk.len() / 2] ^= 1;
            assert_eq!(
                rebuilt.check_chunk(index, &changed),
                Err(ChunkedError::Mismatch { index })
            );
        }
        let mut forged = stored.clone();
        forged[3] = leaf_hash(b"another chunk");
        let forged = ChunkTree::from_leaves(forged, data.len() as u64).unwrap();
        assert_ne!(forged.root(), sealed.root());
        assert!(matches!(
            ChunkTree::from_leaves(stored[..5].to_vec(), data.len() as u64),
            Err(ChunkedError::LeafCountMismatch { .. })
        ));
        assert!(matches!(
            rebuilt.check_chunk(6, b"x"),
            Err(ChunkedError::NoSuchChunk { index: 6, count: 6 })
        ));
    }

    fn leaves(n: usize) -> Vec<Digest> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// RFC 6962 MTH, written recursively exactly as the RFC states it, to
    /// check the bottom-up version against.
    fn rfc_mth(d: &[Digest]) -> Digest {
        match d.len() {
            0 => sha256(b""),
            1 => d[0],
            n => {
                let k = split_point(n);
                node_hash(&rfc_mth(&d[..k]), &rfc_mth(&d[k..]))
            }
        }
    }

    #[test]
    fn bottom_up_root_equals_rfc_recursion() {
        for n in 0..70 {
            assert_eq!(merkle_root(&leaves(n)), rfc_mth(&leaves(n)), "n = {n}");
        }
    }

    /// SC-CHUNK-002: every chunk verifies against the root alone with its
    /// audit path; no other chunk, index or byte does.
    #[test]
    fn sc_chunk_002_every_proof_verifies_and_no_other_chunk_does() {
        // Small chunk contents stand in for leaves via a tree of known leaves.
        for n in 1..20u64 {
            let data: Vec<u8> = (0..n * CHUNK_SIZE as u64 - 3)
                .map(|i| (i % 253) as u8)
                .collect();
            let tree = ChunkTree::from_bytes(&data);
            let root = tree.root();
            for i in 0..tree.chunk_count() {
                let proof = tree.proof(i).unwrap();
                let range = tree.chunk_range(i).unwrap();
                let chunk = &data[range.start as usize..range.end as usize];
                verify_chunk(&root, data.len() as u64, chunk, &proof).unwrap();
                tree.check_chunk(i, chunk).unwrap();
                let mut bad = chunk.to_vec();
                bad[0] ^= 1;
                assert_eq!(
                    verify_chunk(&root, data.len() as u64, &bad, &proof),
                    Err(ChunkedError::Mismatch { index: i })
                );
                let wrong_index = ChunkProof {
                    index: (i + 1) % n,
                    ..proof.clone()
                };
                if n > 1 {
                    assert!(verify_chunk(&root, data.len() as u64, chunk, &wrong_index).is_err());
                }
            }
        }
    }

    #[test]
    fn out_of_range_is_typed() {
        let tree = ChunkTree::from_bytes(&[1, 2, 3]);
        assert_eq!(
            tree.proof(1),
            Err(ChunkedError::NoSuchChunk { index: 1, count: 1 })
        );
        assert_eq!(
            tree.chunk_range(5),
            Err(ChunkedError::NoSuchChunk { index: 5, count: 1 })
        );
        assert!(matches!(
            ChunkTree::from_leaves(vec![], 1),
            Err(ChunkedError::LeafCountMismatch {
                leaves: 0,
                bytes: 1,
                expected: 1
            })
        ));
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..(BATCH_CHUNKS + 3) * CHUNK_SIZE + 17)
            .map(|i| (i % 241) as u8)
            .collect();
        let one_shot = ChunkTree::from_bytes(&data);
        let mut streamed = ShardDigester::new();
        for piece in data.chunks(777_777) {
            streamed.update(piece);
        }
        let digests = streamed.finish();
        assert_eq!(digests.chunks, one_shot);
        assert_eq!(digests.plain, sha256(&data));
    }
}
