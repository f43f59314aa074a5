//! Splitting a large range into parts, each read on its own connection and
//! thread, joined in order into exactly the report one walk would give.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::Connection;

use super::chain::{ChainVerifier, Layer, Start};
use super::rows::{Anchor, latest_anchor, read_raw, read_raw_into, seq_param};
use super::{BLOCK_ROWS, VerifyReport};
use crate::AuditError;
use crate::reader;
use crate::record::RawRecord;
use crate::schema::RECORD_COLUMNS;
use crate::tree::StoredLeaves;

/// Sequence numbers a range must span before it is split into parts.
const SPLIT_MIN_RECORDS: u64 = 50_000;

/// Most parts (connections, threads) a verification is split into.
pub(super) const MAX_PARTS: usize = 8;

/// How a verification of a file may be split into parts read in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    /// Parts (1: one walk on the caller's connection).
    pub parts: usize,
    /// Smallest span of sequence numbers that is split.
    pub min_records: u64,
}

impl Split {
    /// One part per available core (at most [`MAX_PARTS`]), for ranges
    /// spanning at least [`SPLIT_MIN_RECORDS`] sequence numbers.
    pub fn auto() -> Self {
        Self {
            parts: std::thread::available_parallelism()
                .map_or(1, NonZeroUsize::get)
                .min(MAX_PARTS),
            min_records: SPLIT_MIN_RECORDS,
        }
    }
}

/// What one part of a split verification found.
#[derive(Debug)]
pub(super) struct PartResult {
    /// The part's first row: its seq and `prev_mac` (`None`: no rows).
    pub first: Option<(u64, Vec<u8>)>,
    /// The part checked from its first row, trusting that row's link.
    pub report: VerifyReport,
    /// The MAC of the part's last good record.
    pub tail: Option<Vec<u8>>,
}

/// A part's outcome: checked, or given up because an earlier part failed.
type PartOutcome = Option<PartResult>;

/// The smallest and largest sequence numbers in `lo..=hi`.
pub(super) fn seq_bounds(
    conn: &Connection,
    lo: u64,
    hi: u64,
) -> rusqlite::Result<Option<(u64, u64)>> {
    let (min, max) = conn.query_row(
        // Two subqueries: SQLite finds a lone MIN or MAX with one seek, but
        // scans the table for both together.
        "SELECT (SELECT MIN(seq) FROM records WHERE seq >= ?1 AND seq <= ?2), \
                (SELECT MAX(seq) FROM records WHERE seq >= ?1 AND seq <= ?2)",
        [seq_param(lo), seq_param(hi)],
        |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Option<i64>>(1)?)),
    )?;
    Ok(match (min, max) {
        (Some(min), Some(max)) => u64::try_from(min).ok().zip(u64::try_from(max).ok()),
        _ => None,
    })
}

/// Opens the immutable file `uri` again and checks that it has the same
/// latest anchor and the same sequence bounds in `lo..=max` as the
/// caller's connection; `None` when it cannot (the caller then walks its
/// own connection).
pub(super) fn open_part_connection(
    uri: &str,
    anchor: Option<&Anchor>,
    lo: u64,
    bounds: (u64, u64),
) -> Option<Connection> {
    let conn = reader::open_uri(uri).ok()?;
    let same_anchor = latest_anchor(&conn).ok()?.as_ref() == anchor;
    let same_rows = seq_bounds(&conn, lo, bounds.1).ok()? == Some(bounds);
    (same_anchor && same_rows).then_some(conn)
}

/// Verifies `lo..=hi` in contiguous parts, each on its own connection and
/// thread, then joins them in order. `None` when the range is too small to
/// split or the parts' connections cannot be opened on the same snapshot.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_split(
    conn: &Connection,
    uri: &str,
    layer: Layer<'_>,
    start: Start,
    anchor: Option<&Anchor>,
    lo: u64,
    hi: u64,
    split: Split,
    tree_size: Option<u64>,
) -> Result<Option<VerifyReport>, AuditError> {
    let Some((min, max)) =
        seq_bounds(conn, lo, hi).map_err(AuditError::storage("reading records"))?
    else {
        return Ok(None);
    };
    let span = max.saturating_sub(min).saturating_add(1);
    if span < split.min_records.max(2) {
        return Ok(None);
    }
    let parts = u64::try_from(split.parts).unwrap_or(1).min(span).max(1);
    // Part k covers [first_of(k), first_of(k + 1) - 1].
    let first_of = |k: u64| -> u64 {
        let offset = u128::from(span) * u128::from(k) / u128::from(parts);
        min.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    };
    let mut work = Vec::new();
    for k in 0..parts {
        let Some(part_conn) = open_part_connection(uri, anchor, lo, (min, max)) else {
            return Ok(None);
        };
        // The last part ends at first_of(parts) - 1 = min + span - 1 = max.
        let to = first_of(k + 1).saturating_sub(1);
        work.push((part_conn, first_of(k), to));
    }
    // The first part to find a failure: later parts may give up.
    let failed = AtomicUsize::new(usize::MAX);
    let failed = &failed;
    let outcomes: Vec<Result<PartOutcome, AuditError>> = std::thread::scope(|scope| {
        let mut work = work.into_iter().enumerate();
        let own = work.next();
        let handles: Vec<_> = work
            .map(|(index, (part_conn, from, to))| {
                scope.spawn(move || {
                    verify_part(&part_conn, layer, from, to, index, failed, tree_size)
                })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(handles.len() + 1);
        if let Some((index, (part_conn, from, to))) = own {
            outcomes.push(verify_part(
                &part_conn, layer, from, to, index, failed, tree_size,
            ));
        }
        for handle in handles {
            outcomes.push(handle.join().unwrap_or_else(|_| {
                Err(AuditError::Storage {
                    operation: "verifying records",
                    detail: "a checking thread stopped unexpectedly".to_owned(),
                })
            }));
        }
        outcomes
    });
    let mut verifier = ChainVerifier::with_layer(layer, start);
    for outcome in outcomes {
        match outcome? {
            Some(part) => {
                if !verifier.join_part(part) {
                    break;
                }
            }
            // Given up for an earlier failure, which the join stops at:
            // not reached. Should it be, walk the range once instead.
            None => return Ok(None),
        }
    }
    Ok(Some(verifier.finish()))
}

/// Checks the rows `from..=to` of one part, from its first row, on the
/// calling thread. Gives up (`None`) once a part before `index` has failed.
pub(super) fn verify_part(
    conn: &Connection,
    layer: Layer<'_>,
    from: u64,
    to: u64,
    index: usize,
    failed: &AtomicUsize,
    tree_size: Option<u64>,
) -> Result<PartOutcome, AuditError> {
    let mut leaves = tree_size.map(|size| StoredLeaves::new(conn, size));
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
        ))
        .map_err(AuditError::storage("reading records"))?;
    let mut rows = stmt
        .query([seq_param(from), seq_param(to)])
        .map_err(AuditError::storage("reading records"))?;
    let mut verifier: Option<ChainVerifier<'_>> = None;
    let mut first: Option<(u64, Vec<u8>)> = None;
    let mut block: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
    let mut len = 0usize;
    loop {
        let row = rows
            .next()
            .map_err(AuditError::storage("reading records"))?;
        if let Some(row) = row {
            match block.get_mut(len) {
                Some(slot) => read_raw_into(row, slot),
                None => read_raw(row).map(|raw| block.push(raw)),
            }
            .map_err(AuditError::storage("reading records"))?;
            len += 1;
            if len < BLOCK_ROWS {
                continue;
            }
        }
        let rows_read = block.get(..len).unwrap_or(&block);
        let Some(head) = rows_read.first() else {
            break;
        };
        if failed.load(Ordering::Acquire) < index {
            return Ok(None);
        }
        let verifier = verifier.get_or_insert_with(|| {
            first = Some((head.seq, head.prev_mac.clone()));
            ChainVerifier::with_layer(layer, Start::Trusting { seq: head.seq }).sequential()
        });
        let stored = super::walk::stored_of(leaves.as_mut(), rows_read, rows_read.len())?;
        if !verifier.check_block_leaves(rows_read, &stored) {
            failed.fetch_min(index, Ordering::AcqRel);
            break;
        }
        // A short block was the last: the next read finds no row and stops.
        len = 0;
    }
    Ok(Some(match verifier {
        Some(verifier) => PartResult {
            first,
            tail: verifier.prev.clone(),
            report: verifier.finish(),
        },
        None => PartResult {
            first: None,
            report: VerifyReport::default(),
            tail: None,
        },
    }))
}
