//! The right border of an RFC 6962 tree (`COL-ING-002`): the complete
//! subtrees a tree of `size` leaves ends with, largest first. That is all
//! the collector keeps of a worker's tree to extend it with a batch and
//! compare the new root with the batch's checkpoint: at most 64 hashes per
//! origin, whatever the size, stored in PostgreSQL as one `bytea`.
//!
//! `audit-core` has the same border over its SQLite `tree` table
//! (crate-private, tied to that table); this one holds only hashes.

use audit_core::tlog::{EMPTY_ROOT, HASH_SIZE, Hash, node_hash};

/// The right border of a tree: its size and the hashes of the complete
/// subtrees it ends with, largest first (one per set bit of the size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    border: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn empty() -> Self {
        Self {
            size: 0,
            border: Vec::new(),
        }
    }

    /// The border of a tree of `size` leaves from its stored form
    /// ([`Self::to_bytes`]); `Err` says why it cannot be that tree's.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Result<Self, String> {
        let expected = usize::try_from(size.count_ones()).unwrap_or(usize::MAX);
        if bytes.len() != expected.saturating_mul(HASH_SIZE) {
            return Err(format!(
                "a tree of {size} leaves has {expected} border hashes ({} bytes), not {} bytes",
                expected.saturating_mul(HASH_SIZE),
                bytes.len()
            ));
        }
        let border = bytes
            .chunks_exact(HASH_SIZE)
            .map(Hash::from_slice)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        Ok(Self { size, border })
    }

    /// The stored form: the border hashes concatenated, largest subtree
    /// first.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.border.iter().flat_map(|h| *h.as_bytes()).collect()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. Leaf `n` completes one subtree per trailing one
    /// bit of `n`, each the node of the border's smallest subtree and the
    /// one completed before it.
    pub fn append(&mut self, leaf: Hash) {
        self.append_into(leaf, &mut Vec::new());
    }

    /// Appends a leaf hash as [`Self::append`] does, and pushes onto
    /// `stored` the hashes tlog's stored-hash layout holds for it (32 bytes
    /// each): the leaf, then every subtree it completes, lowest first
    /// (`tlog::hashes_to_append`), which go at stored indexes
    /// `stored_hash_count(size)` onwards.
    pub fn append_into(&mut self, leaf: Hash, stored: &mut Vec<u8>) {
        let mut top = leaf;
        stored.extend_from_slice(top.as_bytes());
        for _ in 0..self.size.trailing_ones() {
            // The border has one hash per set bit of the size, so this pops
            // one for each trailing one.
            if let Some(left) = self.border.pop() {
                top = node_hash(&left, &top);
                stored.extend_from_slice(top.as_bytes());
            }
        }
        self.border.push(top);
        self.size += 1;
    }

    /// The tree's root: the border folded right to left.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.border.iter().rev();
        let Some(&last) = subtrees.next() else {
            return EMPTY_ROOT;
        };
        subtrees.fold(last, |root, left| node_hash(left, &root))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use audit_core::tlog::{leaf_hash, merkle_root};

    use super::*;

    /// COL-ING-002: the border's root equals the RFC 6962 root of every
    /// size from 0 to 300, and survives its stored form; a stored form of
    /// the wrong length for its size is refused. COL-AUD-003: the hashes
    /// `append_into` stores are tlog's stored-hash layout, hash for hash.
    #[test]
    fn col_ing_002_frontier_root_matches_rfc6962() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut frontier = Frontier::empty();
        assert_eq!(frontier.root(), EMPTY_ROOT);
        for (i, leaf) in leaves.iter().enumerate() {
            frontier.append(*leaf);
            let size = i + 1;
            assert_eq!(frontier.size(), size as u64);
            assert_eq!(frontier.root(), merkle_root(&leaves[..size]), "size {size}");
            let stored = Frontier::from_bytes(frontier.size(), &frontier.to_bytes()).unwrap();
            assert_eq!(stored, frontier);
        }
        let mut store = audit_core::tlog::MemoryHashStore::new();
        let mut frontier = Frontier::empty();
        let mut stored = Vec::new();
        for leaf in &leaves {
            store.append_leaf_hash(*leaf).unwrap();
            frontier.append_into(*leaf, &mut stored);
        }
        let expected: Vec<u8> = store
            .stored_hashes()
            .iter()
            .flat_map(|h| *h.as_bytes())
            .collect();
        assert_eq!(stored, expected, "COL-AUD-003: the stored-hash layout");
        assert!(Frontier::from_bytes(3, &[0; 32]).is_err());
        assert!(Frontier::from_bytes(4, &[0; 64]).is_err());
        assert_eq!(Frontier::from_bytes(0, &[]).unwrap().root(), EMPTY_ROOT);
    }
}
