//! Proof generation from stored hashes: the root of any size, inclusion
//! proofs (RFC 6962 §2.1.1 `PATH`, RFC 9162 §2.1.3.1) and consistency proofs
//! (RFC 6962 §2.1.2 `SUBPROOF`, RFC 9162 §2.1.4.1).
//!
//! Each function first plans which RFC 6962 tree nodes the answer needs,
//! turns each node into the complete subtrees that make it up (one stored
//! hash each, see [`crate::store`]), reads them all in one
//! [`HashStore::read_hashes`] call, and folds them back. Proof hashes come
//! in RFC order: from the leaf's (or old tree's) side up to the root's child.

use crate::hash::{EMPTY_ROOT, Hash, node_hash};
use crate::store::{HashStore, MAX_TREE_SIZE, stored_hash_index};

/// Why a root or proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The leaf is not in the tree.
    #[error("leaf {index} is not in a tree of {size} leaves; prove it against a larger tree")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error(
        "no consistency proof from size {old} to the smaller size {new}; swap the sizes or check for a rollback"
    )]
    OldLargerThanNew {
        /// The old (first) size.
        old: u64,
        /// The new (second) size.
        new: u64,
    },
    /// The tree is beyond what the stored layout numbers.
    #[error("a tree of {size} leaves is larger than the {max} the stored-hash layout supports")]
    TreeTooLarge {
        /// The size asked for.
        size: u64,
        /// [`MAX_TREE_SIZE`].
        max: u64,
    },
    /// The store failed.
    #[error("the hash store failed: {0}; check the store holds the tree size asked for")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The store answered with a different number of hashes than asked.
    #[error(
        "the hash store returned {got} hashes for {asked} indexes; the store implementation is wrong"
    )]
    StoreReturnedWrongCount {
        /// How many were asked for.
        asked: usize,
        /// How many came back.
        got: usize,
    },
}

/// A node of the RFC 6962 tree: the leaves `[lo, hi)`, where `lo` is a
/// multiple of the power of two that the split rule gives it (true of every
/// node the recursion reaches).
#[derive(Debug, Clone, Copy)]
struct Node {
    lo: u64,
    hi: u64,
}

/// The largest power of two strictly below `n` (for `n ≥ 2`), the RFC 6962
/// split point.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n.saturating_sub(1)).leading_zeros().min(63))
}

impl Node {
    /// The complete subtrees `(level, n)` of this node, left to right: take
    /// the largest power of two that fits, repeatedly.
    fn subtrees(self) -> impl Iterator<Item = (u8, u64)> {
        let mut lo = self.lo;
        let hi = self.hi;
        std::iter::from_fn(move || {
            if lo >= hi {
                return None;
            }
            let level = 63 - (hi - lo).leading_zeros();
            let piece = (level as u8, lo >> level);
            lo += 1u64 << level;
            Some(piece)
        })
    }
}

/// Reads `indexes` from `store`, boxing its error and checking the count.
pub(crate) fn read_exactly<S: HashStore + ?Sized>(
    store: &S,
    indexes: &[u64],
) -> Result<Vec<Hash>, ProveError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = store
        .read_hashes(indexes)
        .map_err(|e| ProveError::Store(Box::new(e)))?;
    if hashes.len() != indexes.len() {
        return Err(ProveError::StoreReturnedWrongCount {
            asked: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

fn check_size(size: u64) -> Result<(), ProveError> {
    if size > MAX_TREE_SIZE {
        return Err(ProveError::TreeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

/// Reads what `nodes` need in one call and returns each node's hash.
fn node_hashes<S: HashStore + ?Sized>(store: &S, nodes: &[Node]) -> Result<Vec<Hash>, ProveError> {
    let mut indexes = Vec::new();
    for node in nodes {
        for (level, n) in node.subtrees() {
            indexes.push(stored_hash_index(level, n).ok_or(ProveError::TreeTooLarge {
                size: node.hi,
                max: MAX_TREE_SIZE,
            })?);
        }
    }
    let hashes = read_exactly(store, &indexes)?;
    let mut hashes = hashes.into_iter();
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        // A node is node(first, node(second, … last)): fold right to left.
        let pieces: Vec<Hash> = hashes.by_ref().take(node.subtrees().count()).collect();
        let mut pieces = pieces.into_iter().rev();
        let Some(mut hash) = pieces.next() else {
            return Err(ProveError::StoreReturnedWrongCount {
                asked: indexes.len(),
                got: 0,
            });
        };
        for left in pieces {
            hash = node_hash(&left, &hash);
        }
        out.push(hash);
    }
    Ok(out)
}

/// The root of the tree's first `size` leaves: [`EMPTY_ROOT`] for 0. Reads
/// at most `log₂ size + 1` hashes.
pub fn tree_root<S: HashStore + ?Sized>(store: &S, size: u64) -> Result<Hash, ProveError> {
    check_size(size)?;
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    let roots = node_hashes(store, &[Node { lo: 0, hi: size }])?;
    roots
        .into_iter()
        .next()
        .ok_or(ProveError::StoreReturnedWrongCount { asked: 1, got: 0 })
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves
/// (RFC 9162 §2.1.3.1): the sibling hashes from the leaf up.
pub fn inclusion_proof<S: HashStore + ?Sized>(
    store: &S,
    size: u64,
    index: u64,
) -> Result<Vec<Hash>, ProveError> {
    check_size(size)?;
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    // PATH(m, D[lo:hi]) = PATH(m, one half) : MTH(the other half); walk down
    // from the root, then reverse so the deepest sibling comes first.
    let (mut lo, mut hi) = (0u64, size);
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            siblings.push(Node { lo: lo + k, hi });
            hi = lo + k;
        } else {
            siblings.push(Node { lo, hi: lo + k });
            lo += k;
        }
    }
    siblings.reverse();
    node_hashes(store, &siblings)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves (RFC 9162 §2.1.4.1). Empty when `old` is 0 or equals `new`, as
/// tlog-witness expects for `old 0`.
pub fn consistency_proof<S: HashStore + ?Sized>(
    store: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProveError> {
    check_size(new)?;
    if old > new {
        return Err(ProveError::OldLargerThanNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], b): m leaves of the old tree within this node;
    // b says whether this node is an ancestor-or-self the verifier already
    // knows (the old root itself is never sent).
    let (mut lo, mut hi, mut m, mut known) = (0u64, new, old, true);
    let mut nodes = Vec::new();
    loop {
        let n = hi - lo;
        if m == n {
            if !known {
                nodes.push(Node { lo, hi });
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            nodes.push(Node { lo: lo + k, hi });
            hi = lo + k;
        } else {
            nodes.push(Node { lo, hi: lo + k });
            lo += k;
            m -= k;
            known = false;
        }
    }
    nodes.reverse();
    node_hashes(store, &nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
        assert_eq!(split_point((1 << 40) + 1), 1 << 40);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn nodes_split_into_complete_subtrees() {
        let pieces: Vec<_> = Node { lo: 8, hi: 15 }.subtrees().collect();
        assert_eq!(pieces, [(2, 2), (1, 6), (0, 14)]);
        let pieces: Vec<_> = Node { lo: 0, hi: 8 }.subtrees().collect();
        assert_eq!(pieces, [(3, 0)]);
    }
}
