//! [`PublicLog`]: a log file opened without the worker secret, to serve
//! what anyone holding the file may compute: its stored signed
//! checkpoints, its records, and inclusion and consistency proofs
//! (`AC-095`). A collector, a monitor or `vramctl audit prove` serves
//! proofs this way; nothing here needs or reads a key.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use tlog::{AddCheckpointRequest, TlogProof};

use crate::logkey::log_origin;
use crate::reader;
use crate::schema::{RECORD_COLUMNS, TREE_SCHEMA_VERSION};
use crate::signed::{ProofSource, StoredCheckpoint};
use crate::tree::Frontier;
use crate::verify::{self, read_raw, seq_param};
use crate::{AuditError, AuditRecord};

/// An audit log opened for reading without the worker secret.
///
/// It is read as [`crate::AuditLog::open_read`] reads (`AC-017`): the file
/// is never created, changed or merged. Nothing is verified here: a proof
/// served from a tampered file fails at the relying party, who checks it
/// with the log's public key ([`crate::verify_public`] checks the file).
///
/// ```
/// use audit_core::{AuditEvent, AuditLog, PublicLog, generate_log_key};
/// use seal_crypto::WorkerSecret;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit.db");
/// let mut log = AuditLog::open(&path, "worker-1", &WorkerSecret::new(&[7u8; 32])?)?;
/// log.append(&AuditEvent::seal_verified("shard-0", 0))?;
/// log.signed_checkpoint(&generate_log_key("worker-1")?)?;
///
/// let public = PublicLog::open(&path)?; // no secret
/// assert_eq!(public.origin(), "vram-residency/audit/worker-1");
/// let proof = public.tlog_proof(1, None)?; // against the latest stored checkpoint
/// assert_eq!(proof.index(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PublicLog {
    conn: Connection,
    path: PathBuf,
    worker_id: String,
    origin: String,
}

impl PublicLog {
    /// Opens the log at `path` for reading, with no secret. Not found, not
    /// an audit log, a damaged structure or an unknown schema are errors as
    /// for [`crate::AuditLog::open_read`]; so is a log of schema 1 or 2,
    /// which has no Merkle tree ([`AuditError::Tree`]). The worker id and
    /// origin are the file's (its `meta` row).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref();
        Self::with_connection(path, reader::open(path)?.conn)
    }

    /// Opens the log at `path` to follow it while its writer appends
    /// (a shipper, a monitor), never as a snapshot in memory, so what it
    /// holds is what a query needs whatever the file's size. While a
    /// `-wal` exists (a writer has the log open), through an ordinary
    /// read-only SQLite connection in one read transaction: it reads one
    /// state of the log, from its first read until it is dropped (drop it
    /// and open it again to see newer records; held open, it keeps the
    /// writer from checkpointing past that state), never writes,
    /// checkpoints or deletes the database or its `-wal`, and shares the
    /// writer's `-shm` index, which SQLite may update. A log closed cleanly
    /// (no `-wal`) is opened `immutable`, and nothing is created beside it.
    /// Where the file is evidence to keep byte for byte, use
    /// [`Self::open`]. Errors as for [`Self::open`].
    pub fn open_live(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref();
        Self::with_connection(path, reader::open_live(path)?)
    }

    fn with_connection(path: &Path, conn: Connection) -> Result<Self, AuditError> {
        let damaged = |detail| AuditError::Damaged {
            path: path.display().to_string(),
            detail,
        };
        let version = verify::shape(&conn)?.into_version(path)?;
        if version < TREE_SCHEMA_VERSION {
            return Err(AuditError::Tree {
                detail: format!(
                    "this log is schema version {version} and has no Merkle tree; open it for writing once (AuditLog::open) to migrate it"
                ),
            });
        }
        let worker_id = verify::stored_worker_id(&conn)?.map_err(damaged)?;
        let origin = log_origin(&worker_id)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            worker_id,
            origin,
        })
    }

    /// The file this log is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worker id the file says it belongs to.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The origin of its checkpoints ([`crate::log_origin`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Leaves in the Merkle tree: the chain's head sequence number
    /// (`AC-087`), once the `tree` table is checked to hold exactly their
    /// hashes.
    pub fn tree_size(&self) -> Result<u64, AuditError> {
        let anchor = verify::latest_anchor(&self.conn)?.map_or(0, |a| a.seq);
        let size = verify::head_seq(&self.conn, anchor)?;
        Frontier::load(&self.conn, size)?;
        Ok(size)
    }

    fn proof_source(&self) -> Result<ProofSource<'_>, AuditError> {
        Ok(ProofSource {
            conn: &self.conn,
            origin: self.origin.clone(),
            size: self.tree_size()?,
        })
    }

    /// Every stored signed checkpoint, oldest first, each row checked
    /// (a damaged table is [`AuditError::Tree`]). Their signatures are not
    /// checked: that needs the log's public key.
    pub fn signed_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, AuditError> {
        self.proof_source()?.signed_checkpoints()
    }

    /// The record with sequence number `seq`, if the file holds it.
    pub fn record(&self, seq: u64) -> Result<Option<AuditRecord>, AuditError> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM records WHERE seq = ?1"),
                [seq_param(seq)],
                read_raw,
            )
            .optional()
            .map_err(AuditError::storage("reading a record"))?;
        raw.map(AuditRecord::from_raw).transpose()
    }

    /// The records `from..=to` the file holds, in order (a range beyond
    /// the head, or below records retention dropped, gives fewer). One
    /// query; the caller bounds the range, and so the memory.
    pub fn records(&self, from: u64, to: u64) -> Result<Vec<AuditRecord>, AuditError> {
        let mut stmt = self.range_statement()?;
        let raws = stmt
            .query_map([seq_param(from), seq_param(to)], read_raw)
            .map_err(AuditError::storage("reading records"))?;
        let mut out = Vec::new();
        for raw in raws {
            let raw = raw.map_err(AuditError::storage("reading records"))?;
            out.push(AuditRecord::from_raw(raw)?);
        }
        Ok(out)
    }

    /// Appends the records `from..=to` the file holds to `out` in the
    /// export form, one JSON line each, exactly as `serde_json::to_writer`
    /// of each of [`Self::records`] and a `\n` would, without building
    /// them (see the shipper, which sends these lines); returns how many.
    /// One query; the caller bounds the range.
    pub fn write_export(&self, from: u64, to: u64, out: &mut Vec<u8>) -> Result<u64, AuditError> {
        let mut stmt = self.range_statement()?;
        let mut rows = stmt
            .query([seq_param(from), seq_param(to)])
            .map_err(AuditError::storage("reading records"))?;
        let mut raw = crate::record::RawRecord::default();
        let mut count = 0;
        while let Some(row) = rows
            .next()
            .map_err(AuditError::storage("reading records"))?
        {
            verify::read_raw_into(row, &mut raw).map_err(AuditError::storage("reading records"))?;
            AuditRecord::write_export(&raw, out)?;
            count += 1;
        }
        Ok(count)
    }

    /// The records of a `seq` range (`?1` to `?2`), in order.
    fn range_statement(&self) -> Result<rusqlite::Statement<'_>, AuditError> {
        self.conn
            .prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
            ))
            .map_err(AuditError::storage("reading records"))
    }

    /// The root of the tree's first `size` leaves, from the stored hashes
    /// (what a checkpoint of that size signs). `size` must not exceed
    /// [`Self::tree_size`].
    pub fn tree_root(&self, size: u64) -> Result<tlog::Hash, AuditError> {
        let held = self.tree_size()?;
        if size > held {
            return Err(AuditError::Proof {
                reason: format!("the tree holds {held} leaves, not {size}"),
            });
        }
        tlog::tree_root(&crate::tree::TreeStore::new(&self.conn), size).map_err(|e| {
            AuditError::Proof {
                reason: e.to_string(),
            }
        })
    }

    /// The C2SP `tlog-proof` of record `seq`, as
    /// [`crate::AuditLog::tlog_proof`] gives it.
    pub fn tlog_proof(
        &self,
        seq: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<TlogProof, AuditError> {
        self.proof_source()?.tlog_proof(seq, checkpoint_note)
    }

    /// The tlog-witness `add-checkpoint` body from `old_size`, as
    /// [`crate::AuditLog::add_checkpoint_request`] gives it.
    pub fn add_checkpoint_request(
        &self,
        old_size: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<AddCheckpointRequest, AuditError> {
        self.proof_source()?
            .add_checkpoint_request(old_size, checkpoint_note)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use seal_crypto::WorkerSecret;

    use super::*;
    use crate::{AuditEvent, AuditLog};

    fn bytes(path: &Path, suffix: &str) -> Vec<u8> {
        std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default()
    }

    /// `write_export` writes the bytes `serde_json` writes for `records`,
    /// line for line, for events of several kinds (a shard id or none,
    /// text that JSON escapes).
    #[test]
    fn write_export_is_the_serialized_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let mut log = AuditLog::open(
            &path,
            "worker-\"1\"",
            &WorkerSecret::new(&[7u8; 32]).unwrap(),
        )
        .unwrap();
        let mut events: Vec<AuditEvent> = (0..5)
            .map(|i| AuditEvent::seal_verified(&format!("shard-{i}\u{e9}\"\\"), i))
            .collect();
        events.push(
            AuditEvent::custom(
                "Custom",
                crate::Severity::Critical,
                None,
                serde_json::json!({"z": [1, 2.5, null], "a": "x\ny", "m": {"k": true}}),
            )
            .unwrap(),
        );
        log.append_batch(&events).unwrap();
        let public = PublicLog::open(&path).unwrap();
        let mut expected = Vec::new();
        for record in public.records(2, 6).unwrap() {
            serde_json::to_writer(&mut expected, &record).unwrap();
            expected.push(b'\n');
        }
        let mut out = b"header\n".to_vec();
        assert_eq!(public.write_export(2, 6, &mut out).unwrap(), 5);
        assert_eq!(
            String::from_utf8(out[7..].to_vec()).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        assert_eq!(public.write_export(7, 9, &mut out).unwrap(), 0);
    }

    /// AC-111: a live reader beside an open writer reads one state of the
    /// log (the records, the tree root, the size agree) until it is opened
    /// again; it never changes the database or its `-wal`; its range and
    /// root are the writer's; once the writer has closed the log, it
    /// creates no file beside it.
    #[test]
    fn ac_111_open_live_reads_one_state_beside_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let mut log =
            AuditLog::open(&path, "worker-1", &WorkerSecret::new(&[7u8; 32]).unwrap()).unwrap();
        let events: Vec<AuditEvent> = (0..10)
            .map(|i| AuditEvent::seal_verified(&format!("shard-{i}"), 0))
            .collect();
        log.append_batch(&events).unwrap();
        let (db, wal) = (bytes(&path, ""), bytes(&path, "-wal"));
        assert!(!wal.is_empty());

        let live = PublicLog::open_live(&path).unwrap();
        assert_eq!(live.tree_size().unwrap(), 10);
        log.append_batch(&events).unwrap();
        let (db, wal) = {
            // The writer moved on; the live reader still sees 10 records.
            assert_eq!(live.tree_size().unwrap(), 10);
            assert_eq!(live.records(1, 20).unwrap().len(), 10);
            assert_eq!(live.tree_root(10).unwrap(), log.tree_root(10).unwrap());
            assert!(live.tree_root(11).is_err());
            assert_ne!((bytes(&path, ""), bytes(&path, "-wal")), (db, wal));
            (bytes(&path, ""), bytes(&path, "-wal"))
        };
        drop(live);
        let live = PublicLog::open_live(&path).unwrap();
        assert_eq!(live.tree_size().unwrap(), 20);
        let records = live.records(5, 14).unwrap();
        assert_eq!(records.len(), 10);
        assert_eq!(records[0], log.get(5).unwrap().unwrap());
        assert_eq!(records[9].seq, 14);
        assert_eq!(live.tree_root(20).unwrap(), log.tree_root(20).unwrap());
        drop(live);
        assert_eq!((bytes(&path, ""), bytes(&path, "-wal")), (db, wal));
        // The writer closed: no -wal, and a live reader creates nothing.
        drop(log);
        let listing = || {
            let mut names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        };
        let before = (listing(), bytes(&path, ""));
        let live = PublicLog::open_live(&path).unwrap();
        assert_eq!(live.tree_size().unwrap(), 20);
        assert_eq!(live.records(20, 20).unwrap().len(), 1);
        drop(live);
        assert_eq!((listing(), bytes(&path, "")), before);
        assert!(matches!(
            PublicLog::open_live(dir.path().join("missing.db")),
            Err(AuditError::NotFound { .. })
        ));
    }
}
