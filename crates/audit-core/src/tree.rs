//! The Merkle tree over the records: every record is a leaf (`AC-086`,
//! `AC-087`), kept in the `tree` table in `tlog`'s stored-hash layout and
//! written in the same transaction as the records (`AC-088`).
//!
//! Leaf `i` is record `seq = i + 1`; its data is the record's canonical
//! encoding *with* its MAC ([`leaf_hash`]), so a tree root commits to the
//! records and to the HMAC chain over them. The tree has as many leaves as
//! the chain's head sequence number: retention deletes records, never tree
//! hashes, so proofs keep working for every size a checkpoint was signed at.
//!
//! The layout holds, for every complete subtree, its hash, at the index
//! `tlog::stored_hash_index` gives; a tree of `N` leaves has exactly
//! `2N − popcount(N)` stored hashes, `0..` without a hole. The table keeps
//! them in blocks, one row per appended batch: `tree(first, hashes)`, the
//! hashes at indexes `first, first + 1, …` concatenated, each block
//! starting where the previous one ends. Stored index `i` is in the block
//! with the greatest `first ≤ i`, one primary-key seek away. Appending
//! needs only the tree's right border (at most 62 complete subtrees,
//! [`Frontier`]), read at the start of a batch; proofs read through
//! [`TreeStore`], a seek per block they touch.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use tlog::{EMPTY_ROOT, Hash, HashStore, node_hash, stored_hash_count, stored_hash_index};

use crate::record::dropped_leaf_input;
use crate::{AuditError, AuditRecord};

/// The leaf hash of a record in its export form (an NDJSON line,
/// `AC-080`): `SHA-256(0x00 || leaf data)`, the leaf data being the
/// `AC-070` encoding with domain `vram-residency/audit-leaf`, version 1, of
/// the `AC-072` fields (tags 1 to 10) and the record's MAC as tag 11
/// (`AC-086`). Needs no key: anyone holding an export recomputes it.
///
/// `None` when a MAC is not hex or the time is outside the nanosecond range
/// (such a record cannot be one the log wrote).
pub fn leaf_hash(record: &AuditRecord) -> Option<Hash> {
    record.to_raw().map(|raw| raw.leaf_hash(&mut Vec::new()))
}

/// The leaf standing for a record retention dropped before the log had a
/// tree (a log migrated from schema 1 or 2 after retention, `AC-089`).
pub(crate) fn dropped_leaf_hash(worker_id: &str, seq: u64) -> Hash {
    tlog::leaf_hash(&dropped_leaf_input(worker_id, seq))
}

/// The tree's right border: the complete subtrees a tree of `size` leaves
/// ends with, largest first, with their stored indexes. All that appending
/// a leaf, or the root, needs: the log keeps it over its `tree` table, the
/// fleet collector over PostgreSQL ([`Frontier::from_border`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    border: Vec<(u64, Hash)>,
}

/// The stored indexes of the right border of a tree of `size` leaves,
/// largest subtree first.
pub(crate) fn border_indexes(size: u64) -> Result<Vec<u64>, AuditError> {
    let mut out = Vec::new();
    for level in (0..64u8).rev() {
        if size >> level & 1 == 1 {
            let n = (size >> level) - 1;
            out.push(stored_hash_index(level, n).ok_or_else(|| too_large(size))?);
        }
    }
    Ok(out)
}

fn too_large(size: u64) -> AuditError {
    AuditError::Tree {
        detail: format!("a tree of {size} leaves is beyond the stored-hash layout"),
    }
}

impl Frontier {
    /// The empty tree.
    pub fn empty() -> Self {
        Self {
            size: 0,
            border: Vec::new(),
        }
    }

    /// The border of a tree of `size` leaves from its hashes, largest
    /// subtree first (one per set bit of `size`).
    ///
    /// # Errors
    /// [`AuditError::Tree`] when `border` has another number of hashes.
    pub fn from_border(size: u64, border: Vec<Hash>) -> Result<Self, AuditError> {
        let indexes = border_indexes(size)?;
        if indexes.len() != border.len() {
            return Err(AuditError::Tree {
                detail: format!(
                    "a tree of {size} leaves has {} border hashes, not {}",
                    indexes.len(),
                    border.len()
                ),
            });
        }
        Ok(Self {
            size,
            border: indexes.into_iter().zip(border).collect(),
        })
    }

    /// The border's hashes, largest subtree first.
    pub fn border_hashes(&self) -> impl Iterator<Item = &Hash> {
        self.border.iter().map(|(_, hash)| hash)
    }

    /// The border of the stored tree of `size` leaves, read in one query;
    /// the table must hold exactly the hashes of `size` leaves.
    pub(crate) fn load(conn: &Connection, size: u64) -> Result<Self, AuditError> {
        let count = stored_hash_count(size).ok_or_else(|| too_large(size))?;
        let last = conn
            .prepare_cached(LAST_BLOCK)
            .and_then(|mut stmt| stmt.query_row([], block_of).optional())
            .map_err(AuditError::storage("reading the Merkle tree"))?;
        let (held, last) = match last {
            None => (Some(0), None),
            Some(None) => (None, None),
            Some(Some(block)) => (Some(block.end()), Some(block)),
        };
        if held != Some(count) {
            return Err(AuditError::Tree {
                detail: format!(
                    "the tree table ends at index {} where the {size} records of the chain need {count} hashes (0..={}); keep the file as evidence and run `audit verify` on it",
                    match held {
                        Some(0) => "none".to_owned(),
                        Some(end) => (end - 1).to_string(),
                        None =>
                            "? (its last block is not a whole number of 32-byte hashes)".to_owned(),
                    },
                    count.saturating_sub(1)
                ),
            });
        }
        let indexes = border_indexes(size)?;
        let mut blocks = Blocks::new(conn);
        blocks.cache.extend(last);
        let hashes = blocks.read(&indexes).map_err(|e| AuditError::Tree {
            detail: e.to_string(),
        })?;
        Ok(Self {
            size,
            border: indexes.into_iter().zip(hashes).collect(),
        })
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stored index the next leaf's hash goes to.
    pub fn next_index(&self) -> u64 {
        // 2·size − popcount(size); `size` < 2^62 once a leaf was appended.
        stored_hash_count(self.size).unwrap_or(u64::MAX)
    }

    /// Appends a leaf: returns the hashes to store from [`Self::next_index`]
    /// on (the leaf hash, then every subtree it completes, lowest first).
    ///
    /// # Errors
    /// [`AuditError::Tree`] for a border shorter than its size needs, or a
    /// tree beyond the stored-hash layout (2^62 leaves).
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<Hash>, AuditError> {
        let mut hashes = Vec::with_capacity(4);
        self.append_into(leaf, &mut hashes)?;
        Ok(hashes)
    }

    /// [`Self::append`], the hashes pushed onto `out`. Leaf `n` completes
    /// one subtree per trailing one bit of `n`: each is the node of the
    /// border's last (smallest) subtree, its left sibling, and the subtree
    /// completed before it (`tlog::hashes_to_append` computes the same from
    /// a store).
    ///
    /// # Errors
    /// As [`Self::append`].
    pub fn append_into(&mut self, leaf: Hash, out: &mut Vec<Hash>) -> Result<(), AuditError> {
        let index = self.size;
        out.push(leaf);
        let mut top = leaf;
        let completed = index.trailing_ones();
        for _ in 0..completed {
            let Some((_, left)) = self.border.pop() else {
                return Err(AuditError::Tree {
                    detail: format!(
                        "the tree's right border is shorter than a tree of {index} leaves has"
                    ),
                });
            };
            top = node_hash(&left, &top);
            out.push(top);
        }
        let level = u8::try_from(completed).map_err(|_| too_large(index))?;
        let stored = index
            .checked_shr(completed)
            .and_then(|n| stored_hash_index(level, n))
            .ok_or_else(|| too_large(index))?;
        self.border.push((stored, top));
        self.size += 1;
        Ok(())
    }

    /// The root of the tree: the border folded right to left.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.border.iter().rev();
        let Some(&(_, mut root)) = subtrees.next() else {
            return EMPTY_ROOT;
        };
        for (_, left) in subtrees {
            root = node_hash(left, &root);
        }
        root
    }
}

/// Why the tree could not be read: SQLite failed, or a hash is missing or
/// not 32 bytes (the table was changed outside the log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeReadError {
    /// SQLite reported an error.
    #[error("reading the Merkle tree failed: {0}")]
    Storage(String),
    /// No 32-byte hash at this index.
    #[error(
        "the Merkle tree has no 32-byte hash at index {index}: the tree is damaged or smaller than asked; run `audit verify`"
    )]
    Missing {
        /// The stored index.
        index: u64,
    },
}

/// The block holding stored index `?1`: the one with the greatest `first`
/// not above it.
const BLOCK_AT: &str =
    "SELECT first, hashes FROM tree WHERE first <= ?1 ORDER BY first DESC LIMIT 1";

/// The last block.
const LAST_BLOCK: &str = "SELECT first, hashes FROM tree ORDER BY first DESC LIMIT 1";

/// One row of the `tree` table: the hashes at `first..end()`.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    first: u64,
    hashes: Vec<u8>,
}

impl Block {
    /// The index after its last whole hash.
    pub(crate) fn end(&self) -> u64 {
        self.first + (self.hashes.len() / tlog::HASH_SIZE) as u64
    }

    /// The hash at stored index `index`, if this block holds it.
    pub(crate) fn get(&self, index: u64) -> Option<Hash> {
        let offset = usize::try_from(index.checked_sub(self.first)?).ok()?;
        let start = offset.checked_mul(tlog::HASH_SIZE)?;
        let bytes = self
            .hashes
            .get(start..start.checked_add(tlog::HASH_SIZE)?)?;
        Hash::from_slice(bytes).ok()
    }
}

/// A `(first, hashes)` row as a block; `None` when `first` is not a
/// non-negative integer or `hashes` not a non-empty blob of whole hashes.
fn block_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Block>> {
    let (ValueRef::Integer(first), ValueRef::Blob(bytes)) = (row.get_ref(0)?, row.get_ref(1)?)
    else {
        return Ok(None);
    };
    let Ok(first) = u64::try_from(first) else {
        return Ok(None);
    };
    if bytes.is_empty() || bytes.len() % tlog::HASH_SIZE != 0 {
        return Ok(None);
    }
    Ok(Some(Block {
        first,
        hashes: bytes.to_vec(),
    }))
}

/// Reads stored hashes block by block, keeping the blocks it fetched so
/// that each is read once.
pub(crate) struct Blocks<'a> {
    conn: &'a Connection,
    cache: Vec<Block>,
    /// Blocks kept at most.
    keep: usize,
}

impl<'a> Blocks<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Self {
        // A handful of blocks at most: the latest few are all a proof or a
        // border revisits.
        Self::keeping(conn, 64)
    }

    /// Keeps the last `keep` blocks read (at least one).
    pub(crate) fn keeping(conn: &'a Connection, keep: usize) -> Self {
        Self {
            conn,
            cache: Vec::new(),
            keep: keep.max(1),
        }
    }

    /// The hash at stored index `index`: `Ok(None)` when no block holds a
    /// whole 32-byte hash there.
    pub(crate) fn hash_at(&mut self, index: u64) -> Result<Option<Hash>, rusqlite::Error> {
        if let Some(hash) = self.cache.iter().rev().find_map(|b| b.get(index)) {
            return Ok(Some(hash));
        }
        let Ok(key) = i64::try_from(index) else {
            return Ok(None);
        };
        let block = self
            .conn
            .prepare_cached(BLOCK_AT)?
            .query_row([key], block_of)
            .optional()?
            .flatten();
        let Some(block) = block else {
            return Ok(None);
        };
        let hash = block.get(index);
        if hash.is_some() {
            if self.cache.len() >= self.keep {
                self.cache.remove(0);
            }
            self.cache.push(block);
        }
        Ok(hash)
    }

    /// The hashes at `indexes`, in order.
    fn read(&mut self, indexes: &[u64]) -> Result<Vec<Hash>, TreeReadError> {
        indexes
            .iter()
            .map(|&index| {
                self.hash_at(index)
                    .map_err(|e| TreeReadError::Storage(e.to_string()))?
                    .ok_or(TreeReadError::Missing { index })
            })
            .collect()
    }
}

/// The stored leaves of consecutive records, read for the walk that checks
/// them against the records' recomputed leaves (`AC-090`).
pub(crate) struct StoredLeaves<'a> {
    blocks: Blocks<'a>,
    /// Leaves in the tree.
    size: u64,
}

impl<'a> StoredLeaves<'a> {
    /// The leaves of the tree of `size` leaves stored through `conn`.
    pub(crate) fn new(conn: &'a Connection, size: u64) -> Self {
        Self {
            blocks: Blocks::keeping(conn, 2),
            size,
        }
    }

    /// The stored leaf of each of `records` into `out` (cleared first):
    /// `None` for a seq outside `1..=size` or a leaf not stored (the tree
    /// scan reports what is missing).
    pub(crate) fn read(
        &mut self,
        records: &[crate::record::RawRecord],
        out: &mut Vec<Option<Hash>>,
    ) -> Result<(), AuditError> {
        out.clear();
        for record in records {
            let index = match record.seq.checked_sub(1) {
                Some(n) if record.seq <= self.size => stored_hash_index(0, n),
                _ => None,
            };
            let leaf = match index {
                Some(index) => self
                    .blocks
                    .hash_at(index)
                    .map_err(AuditError::storage("reading the Merkle tree"))?,
                None => None,
            };
            out.push(leaf);
        }
        Ok(())
    }
}

/// The `tree` table of a log as a [`tlog::HashStore`]: what roots and
/// proofs are computed from, one primary-key seek per block a root or
/// proof touches ([`crate::AuditLog::tree_store`]).
#[derive(Debug, Clone, Copy)]
pub struct TreeStore<'a> {
    conn: &'a Connection,
}

impl<'a> TreeStore<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Self {
        Self { conn }
    }
}

impl HashStore for TreeStore<'_> {
    type Error = TreeReadError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeReadError> {
        Blocks::new(self.conn).read(indexes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// AC-089: a dropped record's placeholder leaf is `SHA-256(0x00 || E)`
    /// with `E` written out here byte by byte from the spec, and depends
    /// on both the worker id and the seq.
    #[test]
    fn ac_089_dropped_leaves_are_the_specified_encoding() {
        let domain = b"vram-residency/audit-leaf-dropped";
        let mut e = Vec::new();
        e.extend_from_slice(&(domain.len() as u64).to_be_bytes());
        e.extend_from_slice(domain);
        e.extend_from_slice(&1u16.to_be_bytes());
        e.push(1);
        e.extend_from_slice(&2u64.to_be_bytes());
        e.extend_from_slice(b"w7");
        e.push(2);
        e.extend_from_slice(&8u64.to_be_bytes());
        e.extend_from_slice(&5u64.to_be_bytes());
        let mut leaf_data = vec![0u8];
        leaf_data.extend_from_slice(&e);
        let expected = seal_crypto::sha256(&leaf_data);
        assert_eq!(dropped_leaf_hash("w7", 5).as_bytes(), expected.as_bytes());
        assert_ne!(dropped_leaf_hash("w7", 6), dropped_leaf_hash("w7", 5));
        assert_ne!(dropped_leaf_hash("w8", 5), dropped_leaf_hash("w7", 5));
    }

    /// AC-088: the frontier writes exactly the stored-hash layout and its
    /// root is the RFC 6962 root.
    #[test]
    fn ac_088_frontier_matches_the_layout() {
        let mut frontier = Frontier::empty();
        let mut memory = tlog::MemoryHashStore::new();
        let mut leaves = Vec::new();
        for i in 0..300u64 {
            let leaf = tlog::leaf_hash(&i.to_be_bytes());
            leaves.push(leaf);
            assert_eq!(frontier.next_index(), memory.stored_hashes().len() as u64);
            let hashes = frontier.append(leaf).unwrap();
            let before = memory.stored_hashes().len();
            memory.append_leaf_hash(leaf).unwrap();
            assert_eq!(&memory.stored_hashes()[before..], hashes.as_slice());
            assert_eq!(frontier.root(), tlog::merkle_root(&leaves));
            let border: Vec<u64> = frontier.border.iter().map(|(i, _)| *i).collect();
            assert_eq!(border, border_indexes(i + 1).unwrap());
        }
        assert_eq!(Frontier::empty().root(), EMPTY_ROOT);
    }

    /// AC-088: a frontier kept elsewhere (the collector keeps it in
    /// PostgreSQL) is its size and border hashes, largest subtree first;
    /// it comes back whole and goes on growing the same tree, and a border
    /// of the wrong length is refused, saying so.
    #[test]
    fn ac_088_a_frontier_is_rebuilt_from_its_border() {
        let mut frontier = Frontier::empty();
        for i in 0..13u64 {
            frontier.append(tlog::leaf_hash(&i.to_be_bytes())).unwrap();
        }
        // 13 = 8 + 4 + 1: three subtrees, the 8-leaf one first.
        let border: Vec<Hash> = frontier.border_hashes().copied().collect();
        let first_eight: Vec<Hash> = (0..8u64)
            .map(|i| tlog::leaf_hash(&i.to_be_bytes()))
            .collect();
        assert_eq!(border.len(), 3);
        assert_eq!(border[0], tlog::merkle_root(&first_eight));
        assert_eq!(border[2], tlog::leaf_hash(&12u64.to_be_bytes()));
        let mut rebuilt = Frontier::from_border(13, border.clone()).unwrap();
        assert_eq!(rebuilt, frontier);
        let next = tlog::leaf_hash(b"next");
        assert_eq!(
            rebuilt.append(next).unwrap(),
            frontier.append(next).unwrap()
        );
        assert_eq!(rebuilt.root(), frontier.root());

        for wrong in [
            &border[..2],
            &[border[0], border[1], border[2], border[2]][..],
        ] {
            let err = Frontier::from_border(13, wrong.to_vec()).unwrap_err();
            assert_eq!(
                err.to_string(),
                AuditError::Tree {
                    detail: format!(
                        "a tree of 13 leaves has 3 border hashes, not {}",
                        wrong.len()
                    )
                }
                .to_string()
            );
        }
        assert_eq!(
            Frontier::from_border(0, Vec::new()).unwrap(),
            Frontier::empty()
        );
    }
}
