//! The right border of an RFC 6962 tree (`COL-ING-002`): the complete
//! subtrees a tree of `size` leaves ends with, largest first. That is all
//! the collector keeps of a worker's tree to extend it with a batch and
//! compare the new root with the batch's checkpoint: at most 64 hashes per
//! origin, whatever the size, stored in PostgreSQL as one `bytea`.
//!
//! The border itself is `audit_core::Frontier`, the one the worker's log
//! keeps over its SQLite `tree` table; this adds its stored form.

use audit_core::tlog::{HASH_SIZE, Hash};

/// The right border of a tree: its size and the hashes of the complete
/// subtrees it ends with, largest first (one per set bit of the size).
/// `audit_core::Frontier` does the appending and the root; this adds the
/// stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier(audit_core::Frontier);

impl Frontier {
    /// The empty tree.
    pub fn empty() -> Self {
        Self(audit_core::Frontier::empty())
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
        audit_core::Frontier::from_border(size, border)
            .map(Self)
            .map_err(|e| e.to_string())
    }

    /// The stored form: the border hashes concatenated, largest subtree
    /// first.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.border_hashes().flat_map(|h| *h.as_bytes()).collect()
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.0.size()
    }

    /// Appends a leaf hash.
    ///
    /// # Errors
    /// Only for a tree beyond the stored-hash layout (2^62 leaves).
    pub fn append(&mut self, leaf: Hash) -> Result<(), String> {
        self.append_into(leaf, &mut Vec::new())
    }

    /// Appends a leaf hash as [`Self::append`] does, and pushes onto
    /// `stored` the hashes tlog's stored-hash layout holds for it (32 bytes
    /// each): the leaf, then every subtree it completes, lowest first
    /// (`tlog::hashes_to_append`), which go at stored indexes
    /// `stored_hash_count(size)` onwards.
    ///
    /// # Errors
    /// As [`Self::append`].
    pub fn append_into(&mut self, leaf: Hash, stored: &mut Vec<u8>) -> Result<(), String> {
        let mut hashes = Vec::with_capacity(4);
        self.0
            .append_into(leaf, &mut hashes)
            .map_err(|e| e.to_string())?;
        for hash in &hashes {
            stored.extend_from_slice(hash.as_bytes());
        }
        Ok(())
    }

    /// The tree's root.
    pub fn root(&self) -> Hash {
        self.0.root()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use audit_core::tlog::{EMPTY_ROOT, leaf_hash, merkle_root};

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
            frontier.append(*leaf).unwrap();
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
            frontier.append_into(*leaf, &mut stored).unwrap();
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
