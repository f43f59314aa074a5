//! Migrating a log of schema 1 or 2 to schema 3 when it is opened for
//! writing (`AC-089`): the Merkle tree and the signed-checkpoint table are
//! added and the tree is filled for every record, in one transaction.
//!
//! Before anything is written the whole chain must verify under the
//! writer's key, so the tree never commits to a record the chain does not
//! vouch for. Records that retention dropped before the migration can no
//! longer be hashed; each gets a placeholder leaf,
//! `SHA-256(0x00 || encode("vram-residency/audit-leaf-dropped", v1,
//! worker id, seq))`, so leaf `i` is still record `i + 1`'s slot. A
//! schema-1 log with a retention anchor is refused: its anchor MACs are of
//! version 1, which schema 3 does not read.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tlog::Hash;

use crate::AuditError;
use crate::log::insert_tree_hashes;
use crate::record::ChainKey;
use crate::schema::{self, SCHEMA_VERSION, SchemaState, TREE_SCHEMA_VERSION};
use crate::tree::{Frontier, dropped_leaf_hash};
use crate::verify::{self, Target, read_raw};

/// Leaves hashed between two writes of their tree hashes.
const MIGRATION_CHUNK: usize = 4096;

/// Migrates the log behind `conn` to [`SCHEMA_VERSION`] unless it already
/// is (re-checked inside the write transaction, so two processes opening
/// the same old log migrate it once). Returns the version now in the file.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    worker_id: &str,
    key: &ChainKey,
) -> Result<i64, AuditError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(AuditError::storage("migrating the log"))?;
    let from = match schema::inspect(&tx, path)? {
        SchemaState::Current(version) if version >= TREE_SCHEMA_VERSION => return Ok(version),
        SchemaState::Current(version) => version,
        SchemaState::Unknown(found) => {
            return Err(AuditError::UnknownSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        SchemaState::Empty => {
            return Err(AuditError::Storage {
                operation: "migrating the log",
                detail: "the file has no schema".to_owned(),
            });
        }
    };
    let refuse = |reason: String| AuditError::Migration {
        from,
        to: SCHEMA_VERSION,
        reason,
    };
    let anchor = verify::latest_anchor(&tx)?;
    if from < 2 && anchor.is_some() {
        return Err(refuse(
            "its retention anchors are MACed as version 1, which schema 3 does not read; keep writing it with the previous build, or start a new log".to_owned(),
        ));
    }
    let target = Target {
        conn: &tx,
        worker_id,
        key,
        schema_version: from,
        reopen: None,
    };
    let report = verify::verify_conn(target, None)?;
    if let Some(failure) = report.failure {
        return Err(refuse(format!(
            "the chain does not verify ({failure}), and the tree must not vouch for it; keep the file as evidence and start a new log"
        )));
    }
    schema::add_tree_tables(&tx, from)?;
    let anchor_seq = anchor.map_or(0, |a| a.seq);
    let size = verify::head_seq(&tx, anchor_seq)?;
    let mut frontier = Frontier::empty();
    {
        let op = || AuditError::storage("migrating the log");
        // Hashes are written as they come, a few thousand at a time.
        let mut pending: Vec<Hash> = Vec::with_capacity(2 * MIGRATION_CHUNK + 64);
        let mut first = 0u64;
        let mut put = |frontier: &mut Frontier, leaf| -> Result<(), AuditError> {
            if pending.is_empty() {
                first = frontier.next_index();
            }
            pending.extend(frontier.append(leaf)?);
            if pending.len() >= 2 * MIGRATION_CHUNK {
                insert_tree_hashes(&tx, first, &pending)?;
                pending.clear();
            }
            Ok(())
        };
        for seq in 1..=anchor_seq {
            put(&mut frontier, dropped_leaf_hash(worker_id, seq))?;
        }
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {} FROM records WHERE seq > ?1 ORDER BY seq",
                schema::RECORD_COLUMNS
            ))
            .map_err(op())?;
        let mut rows = stmt
            .query([i64::try_from(anchor_seq).unwrap_or(i64::MAX)])
            .map_err(op())?;
        let mut scratch = Vec::new();
        while let Some(row) = rows.next().map_err(op())? {
            let record = read_raw(row).map_err(op())?;
            put(&mut frontier, record.leaf_hash(&mut scratch))?;
        }
        insert_tree_hashes(&tx, first, &pending)?;
    }
    if frontier.size() != size {
        return Err(refuse(format!(
            "the tree got {} leaves where the chain has {size} records",
            frontier.size()
        )));
    }
    schema::set_version(&tx, SCHEMA_VERSION)?;
    tx.commit()
        .map_err(AuditError::storage("migrating the log"))?;
    tracing::info!(
        worker_id,
        path = %path.display(),
        from,
        to = SCHEMA_VERSION,
        leaves = size,
        "migrated audit log: every record is now a Merkle leaf"
    );
    Ok(SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// AC-089: a log that is current by the time the migration holds the
    /// write lock (another process migrated it first) is left as it is.
    #[test]
    fn ac_089_a_log_already_current_is_not_migrated_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let secret = seal_crypto::WorkerSecret::new(&[7; 32]).unwrap();
        let mut log = crate::AuditLog::open(&path, "w", &secret).unwrap();
        log.append_batch(&[
            crate::AuditEvent::seal_verified("s", 0),
            crate::AuditEvent::seal_verified("s", 1),
        ])
        .unwrap();
        drop(log);
        let mut conn = schema::connect(&path).unwrap();
        let key = ChainKey::derive(&secret).unwrap();
        let before = conn.total_changes();
        assert_eq!(
            migrate(&mut conn, &path, "w", &key).unwrap(),
            SCHEMA_VERSION
        );
        assert_eq!(conn.total_changes(), before, "nothing written");
    }
}
