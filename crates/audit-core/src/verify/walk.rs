//! One walk over a range on one connection: a reader thread and a checker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;

use super::chain::{ChainVerifier, Layer, Start};
use super::rows::{read_raw, read_raw_into, seq_param};
use super::{BLOCK_ROWS, VerifyReport};
use crate::AuditError;
use crate::record::RawRecord;
use crate::schema::RECORD_COLUMNS;
use crate::tree::StoredLeaves;

/// Walks `lo..=hi` on `conn`: one thread reads, another checks. With
/// `tree_size` (schema 3), each record's leaf is checked against the stored
/// tree of that many leaves too.
pub(crate) fn verify_walk(
    conn: &Connection,
    layer: Layer<'_>,
    start: Start,
    lo: u64,
    hi: u64,
    tree_size: Option<u64>,
) -> Result<VerifyReport, AuditError> {
    let verifier = ChainVerifier::with_layer(layer, start);
    let mut leaves = tree_size.map(|size| StoredLeaves::new(conn, size));
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq"
        ))
        .map_err(AuditError::storage("reading records"))?;
    let mut rows = stmt
        .query([seq_param(lo), seq_param(hi)])
        .map_err(AuditError::storage("reading records"))?;
    // Pipeline: this thread reads block n+1 from SQLite while another checks
    // block n (its MACs in parallel). Blocks and their buffers are recycled.
    let stop_flag = AtomicBool::new(false);
    let stop = &stop_flag;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = std_mpsc::sync_channel::<Full>(2);
        let (empty_tx, empty_rx) = std_mpsc::channel::<Vec<RawRecord>>();
        let checker = scope.spawn(move || {
            let mut verifier = verifier;
            for (block, len, stored) in full_rx {
                if !verifier.check_block_leaves(block.get(..len).unwrap_or(&block), &stored) {
                    stop.store(true, Ordering::Release);
                    break;
                }
                let _ = empty_tx.send(block);
            }
            verifier.finish()
        });
        let read = (|| {
            let mut block: Vec<RawRecord> = Vec::with_capacity(BLOCK_ROWS);
            let mut len = 0usize;
            while let Some(row) = rows
                .next()
                .map_err(AuditError::storage("reading records"))?
            {
                match block.get_mut(len) {
                    Some(slot) => read_raw_into(row, slot),
                    None => read_raw(row).map(|raw| block.push(raw)),
                }
                .map_err(AuditError::storage("reading records"))?;
                len += 1;
                if len == BLOCK_ROWS {
                    let stored = stored_of(leaves.as_mut(), &block, len)?;
                    if stop.load(Ordering::Acquire) || full_tx.send((block, len, stored)).is_err() {
                        return Ok(());
                    }
                    block = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BLOCK_ROWS));
                    len = 0;
                }
            }
            if len > 0 {
                let stored = stored_of(leaves.as_mut(), &block, len)?;
                let _ = full_tx.send((block, len, stored));
            }
            Ok::<(), AuditError>(())
        })();
        drop(full_tx);
        let report = checker.join().map_err(|_| AuditError::Storage {
            operation: "verifying records",
            detail: "the checking thread stopped unexpectedly".to_owned(),
        });
        read.and(report)
    })
}

/// A block of rows for the checker: the rows, how many are in use, and
/// their stored leaves (empty without a tree).
type Full = (Vec<RawRecord>, usize, Vec<Option<tlog::Hash>>);

/// The stored leaves of the first `len` rows of `block`, when the tree is
/// checked.
pub(super) fn stored_of(
    leaves: Option<&mut StoredLeaves<'_>>,
    block: &[RawRecord],
    len: usize,
) -> Result<Vec<Option<tlog::Hash>>, AuditError> {
    let mut stored = Vec::new();
    if let Some(leaves) = leaves {
        leaves.read(block.get(..len).unwrap_or(block), &mut stored)?;
    }
    Ok(stored)
}
