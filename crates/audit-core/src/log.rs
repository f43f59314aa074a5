//! [`AuditLog`]: the SQLite file, appended to synchronously.
//!
//! This is the storage layer under [`crate::AuditWriter`], and the handle
//! that verification, query, export, checkpoints and retention work on. It
//! owns one connection; appends run in `BEGIN IMMEDIATE` transactions that
//! read the chain head inside the transaction, so even two processes
//! appending to one file extend one chain rather than forking it.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use seal_crypto::WorkerSecret;

use crate::reader;
use crate::record::{self, ChainKey, to_hex};
use crate::schema::{self, INSERT_RECORD, RECORD_COLUMNS, SchemaState};
use crate::tree::Frontier;
use crate::verify::{self, Target, read_raw};
use crate::{AuditError, AuditEvent, AuditRecord, FailureReason, VerifyReport};

/// Records re-verified when an existing log is opened for writing.
pub const TAIL_CHECK_RECORDS: u64 = 1024;

/// The end of the chain: the last record (or anchor, or genesis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Last sequence number (0 for an empty log).
    pub seq: u64,
    /// Its MAC (the genesis value for an empty log), lower-case hex.
    pub mac: String,
}

/// An open audit log file.
///
/// ```
/// use audit_core::{AuditEvent, AuditLog};
/// use seal_crypto::WorkerSecret;
///
/// let dir = tempfile::tempdir()?;
/// let secret = WorkerSecret::new(&[7u8; 32])?;
/// let mut log = AuditLog::open(dir.path().join("audit.db"), "worker-1", &secret)?;
/// log.append(&AuditEvent::seal_verified("shard-0", 0))?;
/// log.append(&AuditEvent::vram_deallocated("shard-0", 1024, 0, 0))?;
/// let report = log.verify(None)?;
/// assert!(report.is_ok());
/// assert_eq!(report.records_checked, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AuditLog {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) worker_id: String,
    pub(crate) key: ChainKey,
    pub(crate) secret: WorkerSecret,
    /// The file's schema version (1 or 2): which anchor MAC it uses.
    pub(crate) schema_version: i64,
    /// For a reader: how to open the same immutable file again (parallel
    /// verification parts); `None` for writers and in-memory snapshots.
    pub(crate) reopen: Option<String>,
    /// Opened for writing ([`AuditLog::open`]), not for reading.
    pub(crate) writable: bool,
}

impl AuditLog {
    /// Opens the log at `path` for writing, creating it if absent.
    ///
    /// An existing log must be of a schema version this build reads, belong
    /// to `worker_id`, and its last [`TAIL_CHECK_RECORDS`] records must
    /// verify, both their chain and their Merkle leaves (a crash can only
    /// lose whole batches, never leave half of one; anything else is
    /// tampering, reported as [`AuditError::BrokenTail`]). A log of schema
    /// 1 or 2 is then migrated to the current version in one transaction,
    /// once its whole chain verifies ([`AuditError::Migration`] otherwise):
    /// the Merkle tree is added and filled for every record.
    pub fn open(
        path: impl AsRef<Path>,
        worker_id: &str,
        secret: &WorkerSecret,
    ) -> Result<Self, AuditError> {
        record::validate_worker_id(worker_id)?;
        let path = path.as_ref();
        let key = ChainKey::derive(secret)?;
        let mut conn = schema::connect(path)?;
        let now = Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let schema_version = match schema::create_if_empty(&mut conn, path, worker_id, now)? {
            SchemaState::Current(version) => version,
            SchemaState::Unknown(found) => {
                return Err(AuditError::UnknownSchema {
                    found,
                    supported: schema::SCHEMA_VERSION,
                });
            }
            SchemaState::Empty => {
                return Err(AuditError::Storage {
                    operation: "creating the schema",
                    detail: "the new schema is not visible after its commit".to_owned(),
                });
            }
        };
        schema::enable_wal(&conn)?;
        let stored = schema::stored_worker_id(&conn)?;
        if stored.as_deref() != Some(worker_id) {
            return Err(AuditError::WorkerMismatch {
                expected: worker_id.to_owned(),
                found: stored.unwrap_or_default(),
            });
        }
        let mut log = Self {
            conn,
            path: path.to_path_buf(),
            worker_id: worker_id.to_owned(),
            key,
            secret: secret.clone(),
            schema_version,
            reopen: None,
            writable: true,
        };
        log.check_tail()?;
        if log.schema_version < schema::SCHEMA_VERSION {
            log.schema_version = crate::migrate::migrate(&mut log.conn, path, worker_id, &log.key)?;
        }
        Ok(log)
    }

    /// Opens an existing log for reading (verify, query, export, checkpoint).
    ///
    /// Never creates, changes, merges or deletes a file, so it works on
    /// read-only media and full disks: the file is opened `immutable`, or,
    /// when a `-wal` file holds newer records, read into a private snapshot
    /// in memory (see the wire-format section of `.specs/audit-core.md`).
    /// The stored worker id is *not* compared with `worker_id`: a foreign
    /// log opens, and [`Self::verify`] reports it as
    /// [`crate::FailureReason::WrongGenesis`].
    ///
    /// A file that is not an audit log is [`AuditError::NotAnAuditLog`]; an
    /// audit log whose tables were removed or whose header was changed is
    /// [`AuditError::Damaged`].
    pub fn open_read(
        path: impl AsRef<Path>,
        worker_id: &str,
        secret: &WorkerSecret,
    ) -> Result<Self, AuditError> {
        record::validate_worker_id(worker_id)?;
        let path = path.as_ref();
        let key = ChainKey::derive(secret)?;
        let snapshot = reader::open(path)?;
        let schema_version = verify::shape(&snapshot.conn)?.into_version(path)?;
        Ok(Self {
            conn: snapshot.conn,
            path: path.to_path_buf(),
            worker_id: worker_id.to_owned(),
            key,
            secret: secret.clone(),
            schema_version,
            reopen: snapshot.reopen,
            writable: false,
        })
    }

    /// Resumes only a chain this key wrote, whose last records verify.
    fn check_tail(&self) -> Result<(), AuditError> {
        // One read transaction: the chain's head and the tree are read from
        // one snapshot, whatever another process appends meanwhile.
        let snapshot = self
            .conn
            .unchecked_transaction()
            .map_err(AuditError::storage("reading the log's tail"))?;
        let checked = self.check_tail_in_snapshot();
        drop(snapshot);
        checked
    }

    fn check_tail_in_snapshot(&self) -> Result<(), AuditError> {
        let Some(last) = self.last_seq()? else {
            return Ok(());
        };
        // The key first: on a long log a wrong secret would otherwise show
        // as a MAC mismatch in the tail, which reads as tampering.
        if let Some(failure) =
            verify::check_key(&self.conn, &self.worker_id, &self.key, self.schema_version)?
            && failure.reason == FailureReason::WrongGenesis
        {
            return Err(AuditError::WrongSecret {
                worker_id: self.worker_id.clone(),
            });
        }
        let from = last.saturating_sub(TAIL_CHECK_RECORDS - 1).max(1);
        let report = self.verify(Some(from..=last))?;
        match report.failure {
            None => Ok(()),
            Some(f) => Err(AuditError::BrokenTail {
                seq: f.seq.unwrap_or(last),
                reason: f.reason.to_string(),
            }),
        }
    }

    /// What verification works on.
    pub(crate) fn target(&self) -> Target<'_> {
        Target {
            conn: &self.conn,
            worker_id: &self.worker_id,
            key: &self.key,
            schema_version: self.schema_version,
            reopen: self.reopen.as_deref(),
        }
    }

    /// The file this log is stored in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worker id this log is opened as.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn last_seq(&self) -> Result<Option<u64>, AuditError> {
        self.conn
            .query_row("SELECT MAX(seq) FROM records", [], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .map(|v| v.and_then(|s| u64::try_from(s).ok()))
            .map_err(AuditError::storage("reading the chain head"))
    }

    /// The current end of the chain.
    pub fn head(&self) -> Result<ChainHead, AuditError> {
        let (seq, mac) = head_in(&self.conn, &self.worker_id, &self.key)?;
        Ok(ChainHead {
            seq,
            mac: to_hex(&mac),
        })
    }

    /// Number of records in the file (fewer than the head's sequence number
    /// once retention has dropped old ones).
    pub fn record_count(&self) -> Result<u64, AuditError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM records", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(AuditError::storage("counting records"))
    }

    /// Appends one event durably; returns its sequence number.
    pub fn append(&mut self, event: &AuditEvent) -> Result<u64, AuditError> {
        let range = self.append_batch(std::slice::from_ref(event))?;
        Ok(range.map_or(0, |r| *r.end()))
    }

    /// Appends events in one transaction (all or none) and returns the
    /// sequence numbers they got. Durable when it returns
    /// (`synchronous=FULL`).
    pub fn append_batch(
        &mut self,
        events: &[AuditEvent],
    ) -> Result<Option<RangeInclusive<u64>>, AuditError> {
        if events.is_empty() {
            return Ok(None);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::storage("starting an append"))?;
        let range = append_in(&tx, &self.worker_id, &self.key, events)?;
        tx.commit()
            .map_err(AuditError::storage("committing an append"))?;
        Ok(range)
    }

    /// Verifies the chain and (schema 3) the Merkle tree, whole (`None`) or
    /// over a sequence range. See [`crate::verify_log`].
    pub fn verify(&self, range: Option<RangeInclusive<u64>>) -> Result<VerifyReport, AuditError> {
        verify::verify_conn(self.target(), range)
    }

    /// The record with sequence number `seq`, if present.
    pub fn get(&self, seq: u64) -> Result<Option<AuditRecord>, AuditError> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE seq = ?1"),
                [i64::try_from(seq).unwrap_or(i64::MAX)],
                read_raw,
            )
            .optional()
            .map_err(AuditError::storage("reading a record"))?;
        raw.map(AuditRecord::from_raw).transpose()
    }
}

/// The chain head inside a connection or transaction: (seq, mac).
pub(crate) fn head_in(
    conn: &Connection,
    worker_id: &str,
    key: &ChainKey,
) -> Result<(u64, Vec<u8>), AuditError> {
    let last = conn
        .query_row(
            "SELECT seq, mac FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
        )
        .optional()
        .map_err(AuditError::storage("reading the chain head"))?;
    if let Some((seq, mac)) = last {
        return Ok((u64::try_from(seq).unwrap_or(0), mac));
    }
    if let Some(anchor) = verify::latest_anchor(conn)? {
        return Ok((anchor.seq, anchor.mac));
    }
    Ok((0, key.genesis(worker_id).to_vec()))
}

/// The insert of one block of stored tree hashes.
const INSERT_TREE_BLOCK: &str = "INSERT INTO tree (first, hashes) VALUES (?1, ?2)";

/// Batches at least this long hash their Merkle leaves on another thread
/// while this one inserts the rows; shorter ones (a critical event flushed
/// alone) hash inline rather than wake a thread.
const PARALLEL_LEAVES_FROM: usize = 64;

/// Appends `events` inside an open transaction: each record, and its leaf
/// and the subtrees it completes in the `tree` table, one block for the
/// batch (`AC-088`), so the transaction commits both or neither.
///
/// The MACs are chained, so they are computed in order first; the leaves
/// and the tree's new nodes then depend only on finished records, and are
/// hashed on a thread of their own while this thread inserts the rows: the tree
/// costs the writer little more than the one blob it adds (`AC-098`).
pub(crate) fn append_in(
    tx: &Transaction<'_>,
    worker_id: &str,
    key: &ChainKey,
    events: &[AuditEvent],
) -> Result<Option<RangeInclusive<u64>>, AuditError> {
    let (head, prev) = head_in(tx, worker_id, key)?;
    // The tree has one leaf per sequence number up to the head: its right
    // border is all that appending needs.
    let frontier = Frontier::load(tx, head)?;
    let first_hash = frontier.next_index();
    let records = chain_records(worker_id, key, head, prev, events)?;
    let Some(last) = records.last().map(|r| r.seq) else {
        return Ok(None);
    };
    let (inserted, hashes) = if records.len() >= PARALLEL_LEAVES_FROM {
        // A thread of its own, not a pool task: a task the pool has not
        // picked up by the end of the inserts would run on this thread,
        // after them.
        std::thread::scope(|scope| {
            let records = &records;
            let hasher = std::thread::Builder::new()
                .name("audit-tree".to_owned())
                .spawn_scoped(scope, move || tree_hashes(frontier, records));
            match hasher {
                Ok(hasher) => {
                    let inserted = insert_records(tx, records);
                    let hashes = hasher.join().unwrap_or_else(|_| {
                        Err(AuditError::Tree {
                            detail: "the leaf hashing thread stopped unexpectedly".to_owned(),
                        })
                    });
                    (inserted, hashes)
                }
                Err(_) => (
                    insert_records(tx, records),
                    Frontier::load(tx, head).and_then(|f| tree_hashes(f, records)),
                ),
            }
        })
    } else {
        (
            insert_records(tx, &records),
            tree_hashes(frontier, &records),
        )
    };
    inserted?;
    insert_tree_hashes(tx, first_hash, &hashes?)?;
    Ok(Some(head.saturating_add(1)..=last))
}

/// The records of `events`, numbered after `head` and chained from `prev`:
/// ids, payloads and MACs, in order.
fn chain_records(
    worker_id: &str,
    key: &ChainKey,
    head: u64,
    mut prev: Vec<u8>,
    events: &[AuditEvent],
) -> Result<Vec<record::RawRecord>, AuditError> {
    // UUID v7 ids: the time in milliseconds plus 74 random bits, drawn for
    // the whole batch with one system call.
    let mut random = vec![0u8; events.len() * 10];
    getrandom::fill(&mut random).map_err(|e| AuditError::Io {
        operation: "drawing random record ids",
        detail: e.to_string(),
    })?;
    let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let mut scratch = Vec::new();
    let mut records = Vec::with_capacity(events.len());
    let mut seq = head;
    for (event, bits) in events.iter().zip(random.chunks_exact(10)) {
        seq = seq.saturating_add(1);
        let bits: [u8; 10] = bits.try_into().unwrap_or([0; 10]);
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid();
        let event_json =
            serde_json::to_string(event.payload()).map_err(|e| AuditError::InvalidEvent {
                reason: format!("payload cannot be serialized: {e}"),
            })?;
        let mut raw = record::RawRecord {
            seq,
            id: id.as_bytes().to_vec(),
            ts_ns: event.timestamp().timestamp_nanos_opt().unwrap_or(i64::MAX),
            kind: event.kind().to_owned(),
            severity: event.severity().rank(),
            worker_id: worker_id.to_owned(),
            shard_id: event.shard_id().map(str::to_owned),
            event: event_json,
            prev_mac: prev,
            mac: Vec::new(),
            defect: None,
        };
        scratch = raw.mac_input(std::mem::take(&mut scratch));
        raw.mac = key.mac(&scratch).to_vec();
        prev = raw.mac.clone();
        records.push(raw);
    }
    Ok(records)
}

/// Inserts the rows of `records`.
fn insert_records(tx: &Transaction<'_>, records: &[record::RawRecord]) -> Result<(), AuditError> {
    let mut stmt = tx
        .prepare_cached(INSERT_RECORD)
        .map_err(AuditError::storage("preparing an append"))?;
    for r in records {
        stmt.execute(params![
            i64::try_from(r.seq).unwrap_or(i64::MAX),
            r.id,
            r.ts_ns,
            r.kind,
            r.severity,
            r.worker_id,
            r.shard_id,
            r.event,
            r.prev_mac,
            r.mac,
        ])
        .map_err(AuditError::storage("inserting a record"))?;
    }
    Ok(())
}

/// The stored hashes `records` add to the tree whose border is `frontier`:
/// each leaf and the subtrees it completes, in stored-index order.
fn tree_hashes(
    mut frontier: Frontier,
    records: &[record::RawRecord],
) -> Result<Vec<tlog::Hash>, AuditError> {
    let mut hashes = Vec::with_capacity(records.len() * 2 + 64);
    let mut scratch = Vec::new();
    for r in records {
        frontier.append_into(r.leaf_hash(&mut scratch), &mut hashes)?;
    }
    Ok(hashes)
}

/// Stored hashes per row of the `tree` table at most: 120 × 32 = 3,840
/// bytes, so a row fits in one 4 KiB page and a proof reading one hash
/// reads one page, not a long batch's whole blob (`AC-088`).
pub(crate) const TREE_BLOCK_HASHES: usize = 120;

/// Inserts `hashes`, the stored hashes at indexes `first..`, as blocks of
/// at most [`TREE_BLOCK_HASHES`] (one row and one run of the append
/// trigger each); nothing when empty.
pub(crate) fn insert_tree_hashes(
    conn: &Connection,
    first: u64,
    hashes: &[tlog::Hash],
) -> Result<(), AuditError> {
    let mut stmt = conn
        .prepare_cached(INSERT_TREE_BLOCK)
        .map_err(AuditError::storage("inserting tree hashes"))?;
    let mut blob = Vec::with_capacity(TREE_BLOCK_HASHES * tlog::HASH_SIZE);
    let mut at = first;
    for block in hashes.chunks(TREE_BLOCK_HASHES) {
        let key = i64::try_from(at).map_err(|_| AuditError::Tree {
            detail: format!("stored index {at} is beyond the table"),
        })?;
        blob.clear();
        for hash in block {
            blob.extend_from_slice(hash.as_bytes());
        }
        stmt.execute(params![key, blob])
            .map_err(AuditError::storage("inserting tree hashes"))?;
        at = at.saturating_add(block.len() as u64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// AC-010: the writing connection is in WAL mode with
    /// `synchronous=FULL` (2), so a committed batch survives power loss.
    #[test]
    fn ac_010_the_writing_connection_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let secret = WorkerSecret::new(&[0x42; 32]).unwrap();
        let log = AuditLog::open(dir.path().join("a.db"), "w", &secret).unwrap();
        let synchronous: i64 = log
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "synchronous=FULL");
        let journal: String = log
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        // A writer waits up to 10 s for the lock, and reads through a
        // memory map of up to 1 GiB.
        let setting = |name: &str| -> i64 {
            log.conn
                .pragma_query_value(None, name, |r| r.get(0))
                .unwrap()
        };
        assert_eq!(setting("busy_timeout"), 10_000);
        assert_eq!(setting("mmap_size"), 1 << 30);
    }

    /// AC-088: a long batch's hashes are stored as contiguous blocks of at
    /// most 120 hashes, and the log they make verifies.
    #[test]
    fn ac_088_a_long_batch_is_stored_in_page_sized_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let secret = WorkerSecret::new(&[0x42; 32]).unwrap();
        let mut log = AuditLog::open(dir.path().join("a.db"), "w", &secret).unwrap();
        let events: Vec<AuditEvent> = (0..500)
            .map(|i| {
                AuditEvent::custom("T", crate::Severity::Low, None, serde_json::json!({"i": i}))
                    .unwrap()
            })
            .collect();
        log.append_batch(&events).unwrap();
        log.append_batch(&events[..7]).unwrap();
        let blocks: Vec<(i64, i64)> = log
            .conn
            .prepare("SELECT first, length(hashes) / 32 FROM tree ORDER BY first")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut end = 0i64;
        for &(first, count) in &blocks {
            assert_eq!(first, end, "{blocks:?}");
            assert!(
                (1..=TREE_BLOCK_HASHES as i64).contains(&count),
                "{blocks:?}"
            );
            end += count;
        }
        assert_eq!(end as u64, tlog::stored_hash_count(507).unwrap());
        assert!(blocks.len() >= 1000 / TREE_BLOCK_HASHES, "{blocks:?}");
        assert!(log.verify(None).unwrap().is_ok());
    }
}
