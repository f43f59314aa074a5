//! The tree layer of verification: the `tree` table checked on its own
//! (`AC-090`). Needs no key and no record: the walk (`chain.rs`) compares
//! each record's recomputed leaf with the stored leaf, and this scan checks
//! that every stored inner node is the hash of its children, so together
//! the stored tree is the tree of the records. The same scan serves
//! `verify_log` and `verify_public`, beside their walks.
//!
//! One pass in index order over the `tree` blocks: every stored leaf is
//! appended to a frontier, and every subtree it completes is recomputed
//! and compared with its stored hash. Blocks must be contiguous (the first
//! starts at index 0, each next one where the previous ends), each a
//! non-empty blob of whole 32-byte hashes, and together hold exactly
//! `2N − popcount(N)` hashes. The roots of the sizes asked for are folded
//! from the right border on the way.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tlog::{EMPTY_ROOT, HASH_SIZE, Hash, stored_hash_count};

use super::rows::class;
use crate::AuditError;
use crate::tree::Frontier;

/// What a clean scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeScan {
    /// Leaves in the tree.
    pub size: u64,
    /// The root of all of them.
    pub root: Hash,
    /// The root at each size asked for that the tree reaches.
    pub roots: Vec<(u64, Hash)>,
}

impl TreeScan {
    /// The root at `size`, if the scan was asked for it.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        self.roots.iter().find(|(s, _)| *s == size).map(|(_, r)| *r)
    }
}

/// What the scan (or the walk's leaf check) found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TreeFault {
    /// A block or hash missing, extra, out of place or of the wrong shape.
    Structure(String),
    /// A stored inner node is not the hash of its children.
    NodeMismatch { index: u64 },
}

fn storage(e: rusqlite::Error) -> AuditError {
    AuditError::storage("reading the Merkle tree")(e)
}

fn describe(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Text(t) => crate::record::to_display(&String::from_utf8_lossy(t)),
        other => class(other).to_owned(),
    }
}

/// The scan's state: the tree hashes read so far and the frontier rebuilt
/// from the checked hashes.
struct Scanner<'r, 's> {
    rows: HashStream<'r, 's>,
    frontier: Frontier,
    size: u64,
    count: u64,
    wanted: std::iter::Peekable<std::vec::IntoIter<u64>>,
    roots: Vec<(u64, Hash)>,
    /// The hashes of the last append, reused.
    scratch: Vec<Hash>,
}

impl Scanner<'_, '_> {
    fn ended(&self, expected: u64) -> TreeFault {
        TreeFault::Structure(format!(
            "the tree table ends after {expected} hashes where {} leaves need {}: hashes were removed",
            self.size, self.count
        ))
    }

    /// The stored leaf of the next leaf.
    fn stored_leaf(&mut self) -> Result<Result<Hash, TreeFault>, AuditError> {
        let position = self.frontier.next_index();
        Ok(match self.rows.next(position)? {
            Row::Hash(hash) => Ok(hash),
            Row::End => Err(self.ended(position)),
            Row::Bad(detail) => Err(TreeFault::Structure(detail)),
        })
    }

    /// Appends a checked leaf and checks the nodes it completes.
    fn append(&mut self, leaf: Hash) -> Result<Result<(), TreeFault>, AuditError> {
        let position = self.frontier.next_index();
        let mut hashes = std::mem::take(&mut self.scratch);
        hashes.clear();
        self.frontier.append_into(leaf, &mut hashes)?;
        let checked = self.check_completed(position, &hashes);
        self.scratch = hashes;
        if let Err(fault) = checked? {
            return Ok(Err(fault));
        }
        if self.wanted.peek() == Some(&self.frontier.size()) {
            self.wanted.next();
            self.roots
                .push((self.frontier.size(), self.frontier.root()));
        }
        Ok(Ok(()))
    }

    /// Checks the subtrees a leaf completed (`hashes` after the leaf's own)
    /// against the stored hashes that follow it.
    fn check_completed(
        &mut self,
        position: u64,
        hashes: &[Hash],
    ) -> Result<Result<(), TreeFault>, AuditError> {
        for (offset, hash) in (1u64..).zip(hashes.iter().skip(1)) {
            let index = position + offset;
            match self.rows.next(index)? {
                Row::Hash(stored) if stored == *hash => {}
                Row::Hash(_) => return Ok(Err(TreeFault::NodeMismatch { index })),
                Row::End => return Ok(Err(self.ended(index))),
                Row::Bad(detail) => return Ok(Err(TreeFault::Structure(detail))),
            }
        }
        Ok(Ok(()))
    }
}

/// Scans the stored tree of `size` leaves (see the module documentation),
/// reporting the roots at `roots_at` (sizes beyond `size` are ignored).
pub(crate) fn scan_tree(
    conn: &Connection,
    size: u64,
    roots_at: &[u64],
) -> Result<Result<TreeScan, TreeFault>, AuditError> {
    let Some(count) = stored_hash_count(size) else {
        return Ok(Err(TreeFault::Structure(format!(
            "a chain of {size} records is beyond the tree's layout"
        ))));
    };
    let mut tree_stmt = conn
        .prepare("SELECT first, hashes FROM tree ORDER BY first")
        .map_err(storage)?;
    let mut tree_rows = tree_stmt.query([]).map_err(storage)?;
    let mut wanted: Vec<u64> = roots_at
        .iter()
        .copied()
        .filter(|&s| s > 0 && s <= size)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut scanner = Scanner {
        rows: HashStream {
            rows: &mut tree_rows,
            first: 0,
            bytes: Vec::new(),
            taken: 0,
        },
        frontier: Frontier::empty(),
        size,
        count,
        wanted: wanted.into_iter().peekable(),
        roots: Vec::new(),
        scratch: Vec::with_capacity(64),
    };
    if roots_at.contains(&0) {
        scanner.roots.push((0, EMPTY_ROOT));
    }
    for _ in 0..size {
        let leaf = match scanner.stored_leaf()? {
            Ok(leaf) => leaf,
            Err(fault) => return Ok(Err(fault)),
        };
        if let Err(fault) = scanner.append(leaf)? {
            return Ok(Err(fault));
        }
    }
    // No hash after the last.
    if let Some(detail) = scanner.rows.after_end(count)? {
        return Ok(Err(TreeFault::Structure(format!(
            "the tree table holds more than the {count} hashes of its {size} leaves: {detail}"
        ))));
    }
    Ok(Ok(TreeScan {
        size,
        root: scanner.frontier.root(),
        roots: scanner.roots,
    }))
}

/// One hash of the tree stream.
enum Row {
    Hash(Hash),
    End,
    Bad(String),
}

/// The `tree` blocks, read in order, as a stream of hashes; every block is
/// checked for its place and shape when it is reached.
struct HashStream<'r, 's> {
    rows: &'r mut rusqlite::Rows<'s>,
    /// The current block: its first index and its bytes.
    first: u64,
    bytes: Vec<u8>,
    /// Hashes of the current block already handed out.
    taken: usize,
}

impl HashStream<'_, '_> {
    /// The next hash, which must be at stored index `expected`.
    fn next(&mut self, expected: u64) -> Result<Row, AuditError> {
        if self.taken * HASH_SIZE >= self.bytes.len() {
            let Some(row) = self.rows.next().map_err(storage)? else {
                return Ok(Row::End);
            };
            let first = row.get_ref(0).map_err(storage)?;
            if first != ValueRef::Integer(i64::try_from(expected).unwrap_or(i64::MAX)) {
                return Ok(Row::Bad(format!(
                    "the tree table holds a block at first {} where the block at first {expected} should come (the previous one ends there): blocks were inserted, removed, cut or renumbered",
                    describe(first)
                )));
            }
            match row.get_ref(1).map_err(storage)? {
                ValueRef::Blob(bytes) if !bytes.is_empty() && bytes.len() % HASH_SIZE == 0 => {
                    self.bytes.clear();
                    self.bytes.extend_from_slice(bytes);
                }
                ValueRef::Blob(bytes) => {
                    return Ok(Row::Bad(format!(
                        "tree block at first {expected}: its hashes are a {}-byte blob, not a whole, non-zero number of {HASH_SIZE}-byte hashes",
                        bytes.len()
                    )));
                }
                other => {
                    return Ok(Row::Bad(format!(
                        "tree block at first {expected}: its hashes are {}, not a blob",
                        class(other)
                    )));
                }
            }
            self.first = expected;
            self.taken = 0;
        }
        let start = self.taken * HASH_SIZE;
        self.taken += 1;
        Ok(
            match self
                .bytes
                .get(start..start + HASH_SIZE)
                .map(Hash::from_slice)
            {
                Some(Ok(hash)) => Row::Hash(hash),
                _ => Row::Bad(format!(
                    "tree block at first {}: no hash at index {expected}",
                    self.first
                )),
            },
        )
    }

    /// After the last of `count` hashes: `None` when the table ends there,
    /// else what it holds beyond.
    fn after_end(&mut self, count: u64) -> Result<Option<String>, AuditError> {
        let left = (self.bytes.len() / HASH_SIZE).saturating_sub(self.taken);
        if left > 0 {
            return Ok(Some(format!(
                "the tree block at first {} holds {left} more, past index {}: hashes were added",
                self.first,
                count.saturating_sub(1)
            )));
        }
        Ok(match self.rows.next().map_err(storage)? {
            None => None,
            Some(row) => Some(format!(
                "a block at first {} follows the last: blocks were added",
                describe(row.get_ref(0).map_err(storage)?)
            )),
        })
    }
}

/// For a range check: the tree holds the right number of hashes for the
/// chain's `size` (its right border readable). The walk over the range
/// compared each record's leaf.
pub(crate) fn check_tree_size(
    conn: &Connection,
    size: u64,
) -> Result<Option<TreeFault>, AuditError> {
    match Frontier::load(conn, size) {
        Ok(_) => Ok(None),
        Err(AuditError::Tree { detail }) => Ok(Some(TreeFault::Structure(detail))),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// A `tree` table holding the tree of `n` synthetic leaves.
    fn table(n: u64) -> (Connection, Vec<Hash>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tree (first INTEGER PRIMARY KEY NOT NULL, hashes BLOB NOT NULL)",
        )
        .unwrap();
        let mut frontier = Frontier::empty();
        let mut hashes = Vec::new();
        let leaves: Vec<Hash> = (0..n).map(|i| tlog::leaf_hash(&i.to_be_bytes())).collect();
        for leaf in &leaves {
            frontier.append_into(*leaf, &mut hashes).unwrap();
        }
        crate::log::insert_tree_hashes(&conn, 0, &hashes).unwrap();
        (conn, leaves)
    }

    /// AC-090: the scan folds the roots of exactly the sizes asked for
    /// (0 is the empty tree; sizes past the tree are not reached), and the
    /// whole tree's root.
    #[test]
    fn ac_090_the_scan_reports_the_roots_asked_for_and_only_them() {
        let (conn, leaves) = table(300);
        let scan = scan_tree(&conn, 300, &[200, 0, 3, 999, 3])
            .unwrap()
            .unwrap();
        assert_eq!(
            scan.roots,
            vec![
                (0, EMPTY_ROOT),
                (3, tlog::merkle_root(&leaves[..3])),
                (200, tlog::merkle_root(&leaves[..200])),
            ]
        );
        assert_eq!(scan.root, tlog::merkle_root(&leaves));
        assert_eq!(scan.root_at(200), Some(tlog::merkle_root(&leaves[..200])));
        assert_eq!(scan.root_at(999), None);
        let none = scan_tree(&conn, 300, &[]).unwrap().unwrap();
        assert!(none.roots.is_empty());
    }

    /// AC-090: a block out of place, or one past the end, is a structure
    /// failure that names the `first` found.
    #[test]
    fn ac_090_a_misplaced_block_is_named_by_what_it_holds() {
        let (conn, _) = table(10);
        // 10 leaves: 2·10 − popcount(10) = 18 hashes, indexes 0..=17.
        conn.execute("DELETE FROM tree", []).unwrap();
        conn.execute("INSERT INTO tree VALUES (5, zeroblob(32))", [])
            .unwrap();
        let fault = scan_tree(&conn, 10, &[]).unwrap().unwrap_err();
        let TreeFault::Structure(detail) = fault else {
            panic!("{fault:?}")
        };
        assert!(detail.contains("block at first 5 where"), "{detail}");
        let (conn, _) = table(10);
        conn.execute("INSERT INTO tree VALUES (40, zeroblob(32))", [])
            .unwrap();
        let fault = scan_tree(&conn, 10, &[]).unwrap().unwrap_err();
        let TreeFault::Structure(detail) = fault else {
            panic!("{fault:?}")
        };
        assert!(detail.contains("a block at first 40 follows"), "{detail}");
    }
}
