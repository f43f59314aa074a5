//! Where a log keeps its node hashes: the stored-hash layout, the
//! [`HashStore`] trait proofs read through, and [`MemoryHashStore`].
//!
//! # The layout (Go's `sumdb/tlog` "stored hashes")
//!
//! A log stores, for every *complete* subtree, its hash, and nothing else:
//! the leaf hashes (level 0), and the hash of every aligned block of `2^ℓ`
//! leaves once its last leaf has been appended. The subtree at level `ℓ`,
//! number `n` covers the leaves `[n·2^ℓ, (n+1)·2^ℓ)`.
//!
//! Hashes are numbered in the order an append-only writer produces them:
//! appending leaf `i` writes its leaf hash, then the hash of each subtree that
//! leaf completes, lowest level first. So the numbering never changes as the
//! tree grows, and a table `hashes(idx INTEGER PRIMARY KEY, h BLOB)` is only
//! ever appended to. The index of subtree `(ℓ, n)` is
//!
//! ```text
//! m     = (n + 1) · 2^ℓ − 1            the subtree's last leaf
//! index = 2·m − popcount(m) + ℓ        (= m + ⌊m/2⌋ + ⌊m/4⌋ + … + ℓ)
//! ```
//!
//! ([`stored_hash_index`]); a tree of `N` leaves holds exactly
//! `2·N − popcount(N)` hashes ([`stored_hash_count`]), indexes `0..count`.
//! Appending leaf `i` writes [`hashes_to_append`] at indexes
//! `stored_hash_index(0, i)` onwards, in the same transaction as the entry.
//!
//! With that table, the root of *any* earlier size, and any inclusion or
//! consistency proof, is computed from at most about `2·log₂ N` hashes read
//! in one batch ([`HashStore::read_hashes`]): every node of an RFC 6962 tree
//! is either a complete subtree (one stored hash) or lies on the right edge,
//! where it is the fold of at most `log₂ N` complete subtrees.

use crate::hash::{Hash, node_hash};
use crate::prove::ProveError;

/// The largest tree the stored layout numbers: `2^62` leaves, whose
/// `2^63 − 1` hashes still have indexes that fit in a SQLite `INTEGER`.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The stored-hash index of the complete subtree at `level` (0 = leaves),
/// number `n` (it covers leaves `[n·2^level, (n+1)·2^level)`); see the
/// [module documentation](self) for the formula. `None` when that subtree
/// reaches past [`MAX_TREE_SIZE`] leaves.
pub fn stored_hash_index(level: u8, n: u64) -> Option<u64> {
    let end = n.checked_add(1)?.checked_shl(u32::from(level))?;
    if end > MAX_TREE_SIZE || end >> level != n + 1 {
        return None;
    }
    let last_leaf = end - 1;
    // 2m − popcount(m) ≤ 2^63 for m < 2^62, plus a level ≤ 62.
    Some(2 * last_leaf - u64::from(last_leaf.count_ones()) + u64::from(level))
}

/// How many hashes a tree of `size` leaves has stored (indexes
/// `0..stored_hash_count(size)`): `2·size − popcount(size)`. `None` past
/// [`MAX_TREE_SIZE`].
pub fn stored_hash_count(size: u64) -> Option<u64> {
    if size > MAX_TREE_SIZE {
        return None;
    }
    Some(2 * size - u64::from(size.count_ones()))
}

/// The inverse of [`stored_hash_index`]: which `(level, n)` a stored index
/// holds. `None` past the largest tree.
pub fn split_stored_hash_index(index: u64) -> Option<(u8, u64)> {
    // The hashes written with leaf i sit at stored_hash_index(0, i) ..
    // + trailing_ones(i); that start is 2i − popcount(i), within 64 of 2i, so
    // the leaf is found by stepping up from index / 2 (at most ~65 steps).
    let mut leaf = index / 2;
    loop {
        let start = stored_hash_index(0, leaf)?;
        if start > index {
            leaf = leaf.checked_sub(1)?;
            continue;
        }
        let written = 1 + u64::from(leaf.trailing_ones());
        let offset = index - start;
        if offset < written {
            let level = u8::try_from(offset).ok()?;
            return Some((level, leaf >> level));
        }
        leaf = leaf.checked_add(1)?;
    }
}

/// A store of node hashes laid out as the [module documentation](self) says,
/// for example a SQLite table, files of tiles, or [`MemoryHashStore`].
///
/// Proof generation ([`crate::tree_root`], [`crate::inclusion_proof`],
/// [`crate::consistency_proof`]) calls [`read_hashes`](Self::read_hashes)
/// once per proof, with O(log n) indexes.
pub trait HashStore {
    /// Why a read failed (I/O, a missing row); boxed into
    /// [`ProveError::Store`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// The hashes at `indexes` (stored-hash indexes), in the same order.
    /// Returning a different number of hashes is reported as
    /// [`ProveError::StoreReturnedWrongCount`].
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

impl<S: HashStore + ?Sized> HashStore for &S {
    type Error = S::Error;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_hashes(indexes)
    }
}

/// The hashes to store when appending leaf number `index` whose leaf hash is
/// `leaf`: the leaf hash, then the hash of every subtree it completes, lowest
/// first. They go at stored indexes `stored_hash_index(0, index)` onwards.
/// Reads the `trailing_ones(index)` left siblings it needs from `store` in
/// one call.
pub fn hashes_to_append<S: HashStore + ?Sized>(
    store: &S,
    index: u64,
    leaf: Hash,
) -> Result<Vec<Hash>, ProveError> {
    let size = index.checked_add(1).ok_or(ProveError::TreeTooLarge {
        size: u64::MAX,
        max: MAX_TREE_SIZE,
    })?;
    if size > MAX_TREE_SIZE {
        return Err(ProveError::TreeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    // Each trailing 1 bit of `index` is a left sibling subtree that this leaf
    // completes: at level l it is subtree (l, (index >> l) - 1).
    let completed = index.trailing_ones();
    let mut wanted = Vec::with_capacity(completed as usize);
    for level in 0..completed {
        let n = (index >> level) - 1;
        wanted.push(
            stored_hash_index(level as u8, n).ok_or(ProveError::TreeTooLarge {
                size,
                max: MAX_TREE_SIZE,
            })?,
        );
    }
    let siblings = crate::prove::read_exactly(store, &wanted)?;
    let mut out = Vec::with_capacity(siblings.len() + 1);
    let mut hash = leaf;
    out.push(hash);
    for left in &siblings {
        hash = node_hash(left, &hash);
        out.push(hash);
    }
    Ok(out)
}

/// An in-memory [`HashStore`]: the whole stored-hash table in a `Vec`, for
/// tests, small logs and monitors that rebuild a tree from its entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryHashStore {
    hashes: Vec<Hash>,
    size: u64,
}

/// A read from a [`MemoryHashStore`] asked for a hash it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stored hash {index} is not in memory (the store holds {held}); ask for a tree size it has"
)]
pub struct MissingHash {
    /// The index asked for.
    pub index: u64,
    /// How many hashes the store holds.
    pub held: u64,
}

impl MemoryHashStore {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of these entries, appended in order.
    pub fn from_entries<I, D>(entries: I) -> Result<Self, ProveError>
    where
        I: IntoIterator<Item = D>,
        D: AsRef<[u8]>,
    {
        let mut store = Self::new();
        for entry in entries {
            store.append(entry.as_ref())?;
        }
        Ok(store)
    }

    /// Appends an entry (hashed as a leaf) and returns its index.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, ProveError> {
        self.append_leaf_hash(crate::hash::leaf_hash(entry))
    }

    /// Appends a leaf by its leaf hash and returns its index.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, ProveError> {
        let index = self.size;
        let new = hashes_to_append(self, index, leaf)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(index)
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stored hashes, index 0 first: exactly what a database would hold.
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashStore for MemoryHashStore {
    type Error = MissingHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        let held = self.hashes.len() as u64;
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.hashes.get(i))
                    .copied()
                    .ok_or(MissingHash { index, held })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's definition, transcribed: n = 2n+1 per level, then the sum of
    /// n >> j, plus the level.
    fn go_stored_hash_index(level: u8, mut n: u64) -> u64 {
        for _ in 0..level {
            n = 2 * n + 1;
        }
        let mut i = 0;
        while n > 0 {
            i += n;
            n >>= 1;
        }
        i + u64::from(level)
    }

    /// TL-STORE-001: the closed form equals Go's loop, the order is the
    /// order of appends, and split inverts it.
    #[test]
    fn tl_store_001_layout_matches_go_sumdb() {
        // The first hashes, in write order: leaf 0, leaf 1, (1,0), leaf 2,
        // leaf 3, (1,1), (2,0), leaf 4.
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (i, &(level, n)) in order.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n), Some(i as u64));
        }
        for level in 0..20u8 {
            for n in (0..300u64).chain([12_345, 999_999]) {
                let index = stored_hash_index(level, n).unwrap();
                assert_eq!(index, go_stored_hash_index(level, n), "({level}, {n})");
                assert_eq!(split_stored_hash_index(index), Some((level, n)));
            }
        }
        for size in 0..2000u64 {
            let expected = if size == 0 {
                0
            } else {
                let mut count = go_stored_hash_index(0, size - 1) + 1;
                let mut i = size - 1;
                while i & 1 == 1 {
                    count += 1;
                    i >>= 1;
                }
                count
            };
            assert_eq!(stored_hash_count(size), Some(expected), "size {size}");
        }
    }

    /// TL-STORE-001: the largest tree's indexes fit an i64; beyond is None.
    #[test]
    fn tl_store_001_limits() {
        let count = stored_hash_count(MAX_TREE_SIZE).unwrap();
        assert_eq!(count, (1u64 << 63) - 1);
        assert_eq!(stored_hash_index(62, 0), Some(count - 1));
        assert_eq!(stored_hash_index(0, MAX_TREE_SIZE - 1), Some(count - 63));
        assert_eq!(split_stored_hash_index(count - 1), Some((62, 0)));
        assert_eq!(stored_hash_index(0, MAX_TREE_SIZE), None);
        assert_eq!(stored_hash_index(63, 0), None);
        assert_eq!(stored_hash_index(255, 0), None);
        assert_eq!(stored_hash_index(1, u64::MAX), None);
        assert_eq!(stored_hash_count(MAX_TREE_SIZE + 1), None);
        assert_eq!(split_stored_hash_index(u64::MAX), None);
        // Appending: the last leaf the layout numbers is index
        // MAX_TREE_SIZE - 1 (its 62 left siblings are the store's to
        // find); the next is refused, as is one past u64.
        let store = MemoryHashStore::new();
        let leaf = crate::hash::leaf_hash(b"x");
        assert!(matches!(
            hashes_to_append(&store, MAX_TREE_SIZE - 1, leaf),
            Err(ProveError::Store(_))
        ));
        assert!(matches!(
            hashes_to_append(&store, MAX_TREE_SIZE, leaf),
            Err(ProveError::TreeTooLarge { size, .. }) if size == MAX_TREE_SIZE + 1
        ));
        assert!(matches!(
            hashes_to_append(&store, u64::MAX, leaf),
            Err(ProveError::TreeTooLarge { size: u64::MAX, .. })
        ));
    }

    /// A reference to a store is a store that reads the same hashes.
    #[test]
    fn tl_store_002_a_reference_to_a_store_reads_through() {
        let mut store = MemoryHashStore::new();
        for i in 0..5u64 {
            store.append(&i.to_be_bytes()).unwrap();
        }
        let by_ref: &MemoryHashStore = &store;
        let indexes = [0, 2, 7];
        assert_eq!(
            HashStore::read_hashes(&by_ref, &indexes).unwrap(),
            store.read_hashes(&indexes).unwrap()
        );
        assert_eq!(
            crate::prove::tree_root(&by_ref, 5).unwrap(),
            crate::prove::tree_root(&store, 5).unwrap()
        );
    }

    /// TL-STORE-002: appending writes exactly the layout's hashes.
    #[test]
    fn tl_store_002_appends_fill_the_layout_densely() {
        let mut store = MemoryHashStore::new();
        for i in 0..100u64 {
            assert_eq!(store.append(&i.to_be_bytes()).unwrap(), i);
            assert_eq!(
                store.stored_hashes().len() as u64,
                stored_hash_count(i + 1).unwrap()
            );
        }
        let leaves: Vec<Hash> = (0..100u64)
            .map(|i| crate::hash::leaf_hash(&i.to_be_bytes()))
            .collect();
        // Every stored hash is the MTH of the leaves it covers.
        for (index, stored) in store.stored_hashes().iter().enumerate() {
            let (level, n) = split_stored_hash_index(index as u64).unwrap();
            let lo = (n << level) as usize;
            let hi = ((n + 1) << level) as usize;
            assert_eq!(*stored, crate::hash::merkle_root(&leaves[lo..hi]));
        }
        assert_eq!(
            store.read_hashes(&[10_000]),
            Err(MissingHash {
                index: 10_000,
                held: store.stored_hashes().len() as u64
            })
        );
    }
}
