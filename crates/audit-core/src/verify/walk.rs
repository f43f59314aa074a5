//! One walk over a range on one connection: a reader thread and a checker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;

use super::chain::{ChainVerifier, Start};
use super::rows::{read_raw, read_raw_into, seq_param};
use super::{BLOCK_ROWS, VerifyReport};
use crate::AuditError;
use crate::record::{ChainKey, RawRecord};
use crate::schema::RECORD_COLUMNS;

/// Walks `lo..=hi` on `conn`: one thread reads, another checks.
pub(super) fn verify_walk(
    conn: &Connection,
    key: &ChainKey,
    start: Start,
    lo: u64,
    hi: u64,
) -> Result<VerifyReport, AuditError> {
    let verifier = ChainVerifier::new(key, start);
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
        let (full_tx, full_rx) = std_mpsc::sync_channel::<(Vec<RawRecord>, usize)>(2);
        let (empty_tx, empty_rx) = std_mpsc::channel::<Vec<RawRecord>>();
        let checker = scope.spawn(move || {
            let mut verifier = verifier;
            for (block, len) in full_rx {
                if !verifier.check_block(block.get(..len).unwrap_or(&block)) {
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
                    if stop.load(Ordering::Acquire) || full_tx.send((block, len)).is_err() {
                        return Ok(());
                    }
                    block = empty_rx
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BLOCK_ROWS));
                    len = 0;
                }
            }
            if len > 0 {
                let _ = full_tx.send((block, len));
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
