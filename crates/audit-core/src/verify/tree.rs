//! The tree layer of verification: the `tree` table against the records it
//! commits to (`AC-090`), and the stored signed checkpoints against the
//! tree. Needs no key, so the same scan serves `verify_log` (after the HMAC
//! walk) and `verify_public` (instead of it).
//!
//! One pass in index order over the `tree` blocks, merged with the records
//! in `seq` order: for every leaf `i` the scan recomputes the record's leaf
//! hash (`seq = i + 1`; a leaf below the first kept record, dropped by
//! retention, is taken as stored), compares it with the stored one, and
//! recomputes every subtree the leaf completes from the hashes already
//! checked, comparing each with its stored hash. Blocks must be contiguous
//! (the first starts at index 0, each next one where the previous ends),
//! each a non-empty blob of whole 32-byte hashes, and together hold exactly
//! `2N − popcount(N)` hashes. The roots of the sizes asked for are folded
//! from the right border on the way.

use rayon::prelude::*;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tlog::{EMPTY_ROOT, HASH_SIZE, Hash, stored_hash_count};

use super::BLOCK_ROWS;
use super::rows::{INTEGER_SEQ, class, read_raw, read_raw_into, seq_param};
use crate::AuditError;
use crate::record::RawRecord;
use crate::schema::RECORD_COLUMNS;
use crate::tree::{Blocks, Frontier};

/// What a clean scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeScan {
    /// Leaves in the tree.
    pub size: u64,
    /// The root of all of them.
    pub root: Hash,
    /// The root at each size asked for that the tree reaches.
    pub roots: Vec<(u64, Hash)>,
    /// Leaves recomputed from records.
    pub records: u64,
    /// First and last record recomputed.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

impl TreeScan {
    /// The root at `size`, if the scan was asked for it.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        self.roots.iter().find(|(s, _)| *s == size).map(|(_, r)| *r)
    }
}

/// What the scan found wrong, at which record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TreeFault {
    /// A block or hash missing, extra, out of place or of the wrong shape.
    Structure(String),
    /// A record not in the form the log writes.
    Malformed { seq: u64, detail: String },
    /// A record missing among those kept.
    SequenceGap { expected: u64, found: u64 },
    /// The stored leaf hash is not the record's.
    LeafMismatch { seq: u64 },
    /// A stored inner node is not the hash of its children.
    NodeMismatch { index: u64 },
}

/// What to scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanInput<'a> {
    pub conn: &'a Connection,
    /// Leaves the tree must have: the chain's head sequence number.
    pub size: u64,
    /// The first kept record (the latest anchor's seq + 1); leaves below it
    /// are taken as stored.
    pub records_from: u64,
    /// For the public check: the worker id every record must carry.
    pub worker_id: Option<&'a str>,
    /// Sizes whose roots to report (checkpoints).
    pub roots_at: &'a [u64],
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

/// Reads up to [`BLOCK_ROWS`] records into `block` (reusing its buffers);
/// returns how many.
fn read_block(
    rows: &mut rusqlite::Rows<'_>,
    block: &mut Vec<RawRecord>,
) -> Result<usize, AuditError> {
    let mut len = 0usize;
    while len < BLOCK_ROWS {
        let Some(row) = rows.next().map_err(storage)? else {
            break;
        };
        match block.get_mut(len) {
            Some(slot) => read_raw_into(row, slot),
            None => read_raw(row).map(|raw| block.push(raw)),
        }
        .map_err(storage)?;
        len += 1;
    }
    Ok(len)
}

/// The leaf hashes of `block`'s first `len` records, in parallel.
fn leaves_of(block: &[RawRecord], len: usize) -> Vec<Hash> {
    block
        .get(..len)
        .unwrap_or(&[])
        .par_iter()
        .map_init(Vec::new, |scratch, r| r.leaf_hash(scratch))
        .collect()
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
        let hashes = self.frontier.append(leaf)?;
        for (offset, hash) in (1u64..).zip(hashes.iter().skip(1)) {
            let index = position + offset;
            match self.rows.next(index)? {
                Row::Hash(stored) if stored == *hash => {}
                Row::Hash(_) => return Ok(Err(TreeFault::NodeMismatch { index })),
                Row::End => return Ok(Err(self.ended(index))),
                Row::Bad(detail) => return Ok(Err(TreeFault::Structure(detail))),
            }
        }
        if self.wanted.peek() == Some(&self.frontier.size()) {
            self.wanted.next();
            self.roots
                .push((self.frontier.size(), self.frontier.root()));
        }
        Ok(Ok(()))
    }
}

/// Scans the tree against the records (see the module documentation).
pub(crate) fn scan_tree(input: ScanInput<'_>) -> Result<Result<TreeScan, TreeFault>, AuditError> {
    let ScanInput {
        conn,
        size,
        records_from,
        worker_id,
        roots_at,
    } = input;
    let Some(count) = stored_hash_count(size) else {
        return Ok(Err(TreeFault::Structure(format!(
            "a chain of {size} records is beyond the tree's layout"
        ))));
    };
    let mut tree_stmt = conn
        .prepare("SELECT first, hashes FROM tree ORDER BY first")
        .map_err(storage)?;
    let mut tree_rows = tree_stmt.query([]).map_err(storage)?;
    let mut record_stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND {INTEGER_SEQ} ORDER BY seq"
        ))
        .map_err(storage)?;
    let mut record_rows = record_stmt
        .query([seq_param(records_from.max(1))])
        .map_err(storage)?;
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
    };
    if roots_at.contains(&0) {
        scanner.roots.push((0, EMPTY_ROOT));
    }
    let mut scan = TreeScan {
        size,
        root: EMPTY_ROOT,
        roots: Vec::new(),
        records: 0,
        first_seq: None,
        last_seq: None,
    };

    // Leaves whose records retention dropped: taken as stored.
    let dropped = records_from.saturating_sub(1).min(size);
    for _ in 0..dropped {
        let leaf = match scanner.stored_leaf()? {
            Ok(leaf) => leaf,
            Err(fault) => return Ok(Err(fault)),
        };
        if let Err(fault) = scanner.append(leaf)? {
            return Ok(Err(fault));
        }
    }

    // The kept records, block by block: the leaves of the next block are
    // hashed on other threads while this one checks the current block
    // against the stored tree hashes.
    let mut current: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
    let mut next: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
    let mut len = read_block(&mut record_rows, &mut current)?;
    let mut leaves = leaves_of(&current, len);
    while len > 0 {
        let next_len = read_block(&mut record_rows, &mut next)?;
        let (checked, next_leaves) = std::thread::scope(|scope| {
            let block = &next;
            let hasher = scope.spawn(move || leaves_of(block, next_len));
            let records = current.get(..len).unwrap_or(&[]);
            let checked = check_block(&mut scanner, records, &leaves, worker_id, &mut scan);
            (checked, hasher.join())
        });
        if let Err(fault) = checked? {
            return Ok(Err(fault));
        }
        leaves = next_leaves.map_err(|_| AuditError::Storage {
            operation: "verifying the Merkle tree",
            detail: "the hashing thread stopped unexpectedly".to_owned(),
        })?;
        std::mem::swap(&mut current, &mut next);
        len = next_len;
    }
    if scanner.frontier.size() < size {
        return Ok(Err(TreeFault::Structure(format!(
            "the tree holds {size} leaves but the records end before seq {}",
            scanner.frontier.size() + 1
        ))));
    }
    // No hash after the last.
    if let Some(detail) = scanner.rows.after_end(count)? {
        return Ok(Err(TreeFault::Structure(format!(
            "the tree table holds more than the {count} hashes of its {size} leaves: {detail}"
        ))));
    }
    scan.root = scanner.frontier.root();
    scan.roots = std::mem::take(&mut scanner.roots);
    Ok(Ok(scan))
}

/// Checks consecutive kept records and their leaf hashes against the next
/// stored hashes.
fn check_block(
    scanner: &mut Scanner<'_, '_>,
    records: &[RawRecord],
    leaves: &[Hash],
    worker_id: Option<&str>,
    scan: &mut TreeScan,
) -> Result<Result<(), TreeFault>, AuditError> {
    for (record, &leaf) in records.iter().zip(leaves) {
        let seq = scanner.frontier.size() + 1;
        if seq > scanner.size {
            return Ok(Err(TreeFault::Structure(format!(
                "record {} lies beyond the {} leaves of the tree: records were added outside the log's writer",
                record.seq, scanner.size
            ))));
        }
        if let Some(defect) = &record.defect {
            return Ok(Err(TreeFault::Malformed {
                seq: record.seq,
                detail: defect.clone(),
            }));
        }
        if record.seq != seq {
            return Ok(Err(TreeFault::SequenceGap {
                expected: seq,
                found: record.seq,
            }));
        }
        if let Some(worker) = worker_id
            && record.worker_id != worker
        {
            return Ok(Err(TreeFault::Malformed {
                seq,
                detail: format!(
                    "worker_id {} is not the log's {}",
                    crate::record::to_display(&record.worker_id),
                    crate::record::to_display(worker)
                ),
            }));
        }
        match scanner.stored_leaf()? {
            Ok(stored) if stored == leaf => {}
            Ok(_) => return Ok(Err(TreeFault::LeafMismatch { seq })),
            Err(fault) => return Ok(Err(fault)),
        }
        if let Err(fault) = scanner.append(leaf)? {
            return Ok(Err(fault));
        }
        scan.records += 1;
        scan.first_seq.get_or_insert(seq);
        scan.last_seq = Some(seq);
    }
    Ok(Ok(()))
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
/// chain's `size` (its right border readable), and the leaf of every
/// record in `lo..=hi` is the record's.
pub(crate) fn check_range_leaves(
    conn: &Connection,
    size: u64,
    lo: u64,
    hi: u64,
) -> Result<Result<(), TreeFault>, AuditError> {
    if let Err(e) = Frontier::load(conn, size) {
        return match e {
            AuditError::Tree { detail } => Ok(Err(TreeFault::Structure(detail))),
            other => Err(other),
        };
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq <= ?2 AND {INTEGER_SEQ} ORDER BY seq"
        ))
        .map_err(storage)?;
    let mut rows = stmt
        .query([seq_param(lo.max(1)), seq_param(hi.min(size))])
        .map_err(storage)?;
    let mut blocks = Blocks::new(conn);
    let mut scratch = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let record = read_raw(row).map_err(storage)?;
        let index = record
            .seq
            .checked_sub(1)
            .and_then(stored_hash_count)
            .unwrap_or(u64::MAX);
        let stored = blocks.hash_at(index).map_err(storage)?;
        let leaf = record.leaf_hash(&mut scratch);
        if stored != Some(leaf) {
            return Ok(Err(TreeFault::LeafMismatch { seq: record.seq }));
        }
    }
    Ok(Ok(()))
}
