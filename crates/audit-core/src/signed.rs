//! Signed checkpoints (C2SP signed notes), their cosignatures, and the
//! proofs a log serves: inclusion (as a C2SP `tlog-proof`) and consistency
//! (as the body of a tlog-witness `add-checkpoint` request). `AC-092` to
//! `AC-095`.
//!
//! A checkpoint says "the log `origin` has `size` leaves with root `root`",
//! signed by the log key ([`crate::generate_log_key`]), which is not derived
//! from the worker secret. Every checkpoint signed is stored in the
//! `checkpoints` table; witnesses' cosignatures are appended to its note
//! later ([`AuditLog::add_cosignatures`]), so the stored note is always a
//! complete signed note to hand out.

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tlog::{
    AddCheckpointRequest, Checkpoint, Hash, Note, NoteSignature, SignerKey, TlogProof, VerifierKey,
    verify_consistency, verify_inclusion,
};

use crate::logkey::{check_log_key, log_origin};
use crate::schema::TREE_SCHEMA_VERSION;
use crate::tree::{Frontier, TreeStore};
use crate::verify::{self, Target, read_raw};
use crate::{AuditError, AuditLog};

/// The most bytes a stored checkpoint note may hold: a checkpoint body and
/// 100 signature lines fit in well under this.
pub const MAX_CHECKPOINT_NOTE_BYTES: usize = 64 * 1024;

fn refused(reason: impl Into<String>) -> AuditError {
    AuditError::SignedCheckpoint {
        reason: reason.into(),
    }
}

fn proof_error(e: impl std::fmt::Display) -> AuditError {
    AuditError::Proof {
        reason: e.to_string(),
    }
}

/// A signed checkpoint as stored in the log's `checkpoints` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Its number: 1, 2, … in the order they were signed.
    pub id: u64,
    /// The tree size it signs.
    pub size: u64,
    /// The root it signs.
    pub root: Hash,
    /// When it was signed.
    pub created_at: DateTime<Utc>,
    /// The signed note: the checkpoint body, the log's signature and any
    /// cosignatures added since.
    pub note: String,
}

/// Reads every stored checkpoint, in id order, checking each row without
/// trusting the schema: ids `1, 2, …`, the column shapes, a note that
/// parses as a signed checkpoint of `origin` whose size and root are the
/// row's, sizes never decreasing and never beyond `tree_size`. `Err` is
/// what is wrong, for a `Structure` failure.
pub(crate) fn read_checkpoints(
    conn: &Connection,
    origin: &str,
    tree_size: u64,
) -> Result<Result<Vec<StoredCheckpoint>, String>, AuditError> {
    let storage = AuditError::storage("reading the signed checkpoints");
    let mut stmt = conn
        .prepare("SELECT id, size, root, ts_ns, note FROM checkpoints ORDER BY id")
        .map_err(storage)?;
    let mut rows = stmt
        .query([])
        .map_err(AuditError::storage("reading the signed checkpoints"))?;
    let mut out: Vec<StoredCheckpoint> = Vec::new();
    while let Some(row) = rows
        .next()
        .map_err(AuditError::storage("reading the signed checkpoints"))?
    {
        let expected = out.len() as u64 + 1;
        let get = |i| {
            row.get_ref(i)
                .map_err(AuditError::storage("reading the signed checkpoints"))
        };
        let (id, size, root, ts_ns, note) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
        let ValueRef::Integer(id) = id else {
            return Ok(Err(format!(
                "checkpoints row {expected}: column id holds {}, expected an integer",
                crate::verify::class(id)
            )));
        };
        if u64::try_from(id).ok() != Some(expected) {
            return Ok(Err(format!(
                "checkpoints holds a row with id {id} where id {expected} should come: rows were inserted, removed or renumbered"
            )));
        }
        let name = format!("checkpoints row {id}");
        let (
            ValueRef::Integer(size),
            ValueRef::Blob(root),
            ValueRef::Integer(ts_ns),
            ValueRef::Text(note),
        ) = (size, root, ts_ns, note)
        else {
            return Ok(Err(format!(
                "{name}: expected an integer size, a blob root, an integer ts_ns and a text note"
            )));
        };
        let Ok(size) = u64::try_from(size) else {
            return Ok(Err(format!("{name}: negative size {size}")));
        };
        let Ok(root) = Hash::from_slice(root) else {
            return Ok(Err(format!(
                "{name}: the root is {} bytes, not 32",
                root.len()
            )));
        };
        if note.len() > MAX_CHECKPOINT_NOTE_BYTES {
            return Ok(Err(format!("{name}: the note is too long")));
        }
        let body = match Note::parse(note) {
            Ok(parsed) => Checkpoint::from_text(parsed.text()),
            Err(e) => return Ok(Err(format!("{name}: the note is not a signed note: {e}"))),
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => return Ok(Err(format!("{name}: the note is not a checkpoint: {e}"))),
        };
        if body.origin() != origin || body.size() != size || *body.root() != root {
            return Ok(Err(format!(
                "{name}: the note's origin, size or root is not the row's ({origin}, {size})"
            )));
        }
        if size > tree_size {
            return Ok(Err(format!(
                "{name} signs {size} leaves but the tree holds {tree_size}: records were cut off after it was signed"
            )));
        }
        if let Some(last) = out.last()
            && size < last.size
        {
            return Ok(Err(format!(
                "{name} signs {size} leaves after checkpoint {} signed {}",
                last.id, last.size
            )));
        }
        out.push(StoredCheckpoint {
            id: expected,
            size,
            root,
            created_at: DateTime::from_timestamp_nanos(ts_ns),
            note: String::from_utf8_lossy(note).into_owned(),
        });
    }
    Ok(Ok(out))
}

/// The latest stored checkpoint, read without the row checks (for a
/// writer about to extend it; verification checks every row).
fn latest_row(conn: &Connection) -> Result<Option<StoredCheckpoint>, AuditError> {
    conn.query_row(
        "SELECT id, size, root, ts_ns, note FROM checkpoints ORDER BY id DESC LIMIT 1",
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, String>(4)?,
            ))
        },
    )
    .optional()
    .map_err(AuditError::storage("reading the signed checkpoints"))?
    .map(|(id, size, root, ts_ns, note)| {
        Ok(StoredCheckpoint {
            id: u64::try_from(id).unwrap_or(0),
            size: u64::try_from(size)
                .map_err(|_| tree_error("a checkpoint has a negative size"))?,
            root: Hash::from_slice(&root).map_err(|e| tree_error(e.to_string()))?,
            created_at: DateTime::from_timestamp_nanos(ts_ns),
            note,
        })
    })
    .transpose()
}

fn tree_error(detail: impl Into<String>) -> AuditError {
    AuditError::Tree {
        detail: detail.into(),
    }
}

/// The leaf hash of record `seq`, recomputed from the stored record.
pub(crate) fn leaf_hash_in(conn: &Connection, seq: u64) -> Result<Hash, AuditError> {
    let raw = conn
        .query_row(
            &format!(
                "SELECT {} FROM records WHERE seq = ?1",
                crate::schema::RECORD_COLUMNS
            ),
            [i64::try_from(seq).unwrap_or(i64::MAX)],
            read_raw,
        )
        .optional()
        .map_err(AuditError::storage("reading a record"))?
        .ok_or_else(|| proof_error(format!("record {seq} is not in the log")))?;
    Ok(raw.leaf_hash(&mut Vec::new()))
}

/// What serving proofs needs of a log, with or without the secret
/// ([`AuditLog`] and [`crate::PublicLog`]): its connection, its origin and
/// the size of its tree (checked to be held whole by the `tree` table).
pub(crate) struct ProofSource<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) origin: String,
    pub(crate) size: u64,
}

impl ProofSource<'_> {
    /// The root of the tree's first `size` leaves.
    fn tree_root(&self, size: u64) -> Result<Hash, AuditError> {
        if size > self.size {
            return Err(proof_error(format!(
                "the tree holds {} leaves, not {size}",
                self.size
            )));
        }
        tlog::tree_root(&TreeStore::new(self.conn), size).map_err(proof_error)
    }

    /// Every stored signed checkpoint, oldest first, each row checked.
    pub(crate) fn signed_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, AuditError> {
        read_checkpoints(self.conn, &self.origin, self.size)?.map_err(tree_error)
    }

    /// `checkpoint_note`, else the latest stored checkpoint's note.
    fn note_or_latest(&self, checkpoint_note: Option<&str>) -> Result<String, AuditError> {
        match checkpoint_note {
            Some(note) => Ok(note.to_owned()),
            None => Ok(self
                .signed_checkpoints()?
                .pop()
                .ok_or_else(|| proof_error("the log has no signed checkpoint yet; sign one first"))?
                .note),
        }
    }

    /// The checkpoint `note` (unverified: the relying party verifies it)
    /// as this log's: its body, for a size the tree holds and a root that
    /// is the tree's at that size.
    fn own_checkpoint(&self, note: &str) -> Result<Checkpoint, AuditError> {
        let parsed = Note::parse(note.as_bytes()).map_err(|e| refused(e.to_string()))?;
        let body = Checkpoint::from_text(parsed.text()).map_err(|e| refused(e.to_string()))?;
        if body.origin() != self.origin {
            return Err(refused(format!(
                "the checkpoint is for origin {:?}, not this log's",
                body.origin()
            )));
        }
        if self.tree_root(body.size())? != *body.root() {
            return Err(refused(format!(
                "the checkpoint's root is not this log's tree at size {}: another history",
                body.size()
            )));
        }
        Ok(body)
    }

    /// See [`AuditLog::tlog_proof`].
    pub(crate) fn tlog_proof(
        &self,
        seq: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<TlogProof, AuditError> {
        let note = self.note_or_latest(checkpoint_note)?;
        let body = self.own_checkpoint(&note)?;
        let index = seq
            .checked_sub(1)
            .ok_or_else(|| proof_error("sequence numbers start at 1"))?;
        if index >= body.size() {
            return Err(proof_error(format!(
                "record {seq} is not covered by the checkpoint of {} leaves; sign a newer one",
                body.size()
            )));
        }
        let proof = tlog::inclusion_proof(&TreeStore::new(self.conn), body.size(), index)
            .map_err(proof_error)?;
        verify_inclusion(
            leaf_hash_in(self.conn, seq)?.as_bytes(),
            index,
            body.size(),
            &proof,
            body.root().as_bytes(),
        )
        .map_err(|e| tree_error(format!("the stored tree does not prove record {seq}: {e}")))?;
        let note = Note::parse(note.as_bytes()).map_err(|e| refused(e.to_string()))?;
        TlogProof::new(index, proof, note).map_err(|e| proof_error(e.to_string()))
    }

    /// See [`AuditLog::add_checkpoint_request`].
    pub(crate) fn add_checkpoint_request(
        &self,
        old_size: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<AddCheckpointRequest, AuditError> {
        let note = self.note_or_latest(checkpoint_note)?;
        let body = self.own_checkpoint(&note)?;
        let proof = tlog::consistency_proof(&TreeStore::new(self.conn), old_size, body.size())
            .map_err(proof_error)?;
        let note = Note::parse(note.as_bytes()).map_err(|e| refused(e.to_string()))?;
        AddCheckpointRequest::new(old_size, proof, note).map_err(proof_error)
    }
}

impl AuditLog {
    fn require_tree(&self) -> Result<(), AuditError> {
        if self.schema_version < TREE_SCHEMA_VERSION {
            return Err(tree_error(format!(
                "this log is schema version {} and has no Merkle tree; open it for writing once (AuditLog::open) to migrate it",
                self.schema_version
            )));
        }
        Ok(())
    }

    fn require_writable(&self, operation: &'static str) -> Result<(), AuditError> {
        if self.writable {
            Ok(())
        } else {
            Err(AuditError::ReadOnly { operation })
        }
    }

    /// The origin of this log's checkpoints ([`crate::log_origin`]).
    pub fn origin(&self) -> Result<String, AuditError> {
        log_origin(&self.worker_id)
    }

    /// The `tree` table as a [`tlog::HashStore`], for roots and proofs of
    /// any size it holds (one query per root or proof).
    pub fn tree_store(&self) -> TreeStore<'_> {
        TreeStore::new(&self.conn)
    }

    /// Leaves in the Merkle tree: the chain's head sequence number
    /// (`AC-087`), once the table is checked to hold exactly their hashes.
    pub fn tree_size(&self) -> Result<u64, AuditError> {
        self.require_tree()?;
        let (size, _) = crate::log::head_in(&self.conn, &self.worker_id, &self.key)?;
        Frontier::load(&self.conn, size)?;
        Ok(size)
    }

    /// The root of the tree's first `size` leaves.
    pub fn tree_root(&self, size: u64) -> Result<Hash, AuditError> {
        let held = self.tree_size()?;
        if size > held {
            return Err(proof_error(format!(
                "the tree holds {held} leaves, not {size}"
            )));
        }
        tlog::tree_root(&self.tree_store(), size).map_err(proof_error)
    }

    /// The leaf hash of record `seq`, recomputed from the stored record
    /// (`AC-086`).
    pub fn leaf_hash(&self, seq: u64) -> Result<Hash, AuditError> {
        leaf_hash_in(&self.conn, seq)
    }

    /// The inclusion proof of record `seq` (leaf `seq − 1`) in the tree of
    /// `tree_size` leaves (RFC 9162 §2.1.3.1; one read of O(log n) hashes).
    pub fn inclusion_proof(&self, seq: u64, tree_size: u64) -> Result<Vec<Hash>, AuditError> {
        let held = self.tree_size()?;
        if tree_size > held {
            return Err(proof_error(format!(
                "the tree holds {held} leaves, not {tree_size}"
            )));
        }
        let index = seq
            .checked_sub(1)
            .ok_or_else(|| proof_error("sequence numbers start at 1"))?;
        tlog::inclusion_proof(&self.tree_store(), tree_size, index).map_err(proof_error)
    }

    /// The consistency proof from the tree of `old_size` leaves to the tree
    /// of `new_size` (RFC 9162 §2.1.4.1; one read of O(log n) hashes).
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, AuditError> {
        let held = self.tree_size()?;
        if new_size > held {
            return Err(proof_error(format!(
                "the tree holds {held} leaves, not {new_size}"
            )));
        }
        tlog::consistency_proof(&self.tree_store(), old_size, new_size).map_err(proof_error)
    }

    /// Every stored signed checkpoint, oldest first, each row checked
    /// (a damaged table is [`AuditError::Tree`]).
    pub fn signed_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, AuditError> {
        let size = self.tree_size()?;
        read_checkpoints(&self.conn, &self.origin()?, size)?.map_err(tree_error)
    }

    /// The latest stored signed checkpoint, if any.
    pub fn latest_signed_checkpoint(&self) -> Result<Option<StoredCheckpoint>, AuditError> {
        Ok(self.signed_checkpoints()?.pop())
    }

    /// What serving proofs needs of this log: its connection, its origin
    /// and the size of its tree.
    fn proof_source(&self) -> Result<ProofSource<'_>, AuditError> {
        Ok(ProofSource {
            conn: &self.conn,
            origin: self.origin()?,
            size: self.tree_size()?,
        })
    }

    /// The C2SP `tlog-proof` that record `seq` is in the log: its leaf
    /// index (`seq − 1`), the inclusion proof, and the checkpoint note
    /// with its cosignatures (`AC-095`). The checkpoint is `checkpoint_note`
    /// if given, else the latest stored one; it must cover `seq`. Its text
    /// form is `proof.to_string()`; a relying party checks it with
    /// [`TlogProof::verify`] and [`crate::leaf_hash`] of the record.
    pub fn tlog_proof(
        &self,
        seq: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<TlogProof, AuditError> {
        self.proof_source()?.tlog_proof(seq, checkpoint_note)
    }

    /// The body of a tlog-witness `add-checkpoint` request (`AC-095`): a
    /// witness that last cosigned `old_size` leaves is sent the consistency
    /// proof from there to the checkpoint (`checkpoint_note`, else the
    /// latest stored one). Its text form is `request.to_string()`; the
    /// witness's answer goes to [`Self::add_cosignatures`].
    pub fn add_checkpoint_request(
        &self,
        old_size: u64,
        checkpoint_note: Option<&str>,
    ) -> Result<AddCheckpointRequest, AuditError> {
        self.proof_source()?
            .add_checkpoint_request(old_size, checkpoint_note)
    }

    /// Signs a C2SP checkpoint of the tree now (origin, size = leaves,
    /// root) with the log key, stores it in the `checkpoints` table, and
    /// returns the note's text (`AC-092`).
    ///
    /// Before signing: the key must be an Ed25519 key named after this
    /// log's origin; the records appended since the latest stored
    /// checkpoint must verify, both layers (their MACs and links, and their
    /// leaves), checked on a snapshot without holding the write lock; then,
    /// in a short write transaction, the new tree must extend the latest
    /// stored checkpoint (its root at that size, and a consistency proof to
    /// the new root). So the log never signs two inconsistent
    /// checkpoints, nor one over records that do not verify. Signing again
    /// at an unchanged size with the same key returns the stored note
    /// (with its cosignatures) and stores nothing.
    pub fn signed_checkpoint(&mut self, signer: &SignerKey) -> Result<String, AuditError> {
        self.require_tree()?;
        self.require_writable("signing a checkpoint")?;
        let origin = log_origin(&self.worker_id)?;
        check_log_key(signer, &origin)?;
        // The checks read a snapshot and take no write lock, so a writer
        // appending meanwhile is not held up (the first checkpoint of a
        // long log verifies all of it); only the insert takes the lock.
        let (size, root) = {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(AuditError::storage("starting a checkpoint"))?;
            let (size, _) = crate::log::head_in(&tx, &self.worker_id, &self.key)?;
            Frontier::load(&tx, size)?;
            let previous = latest_row(&tx)?;
            let verified_from = previous.as_ref().map_or(1, |p| p.size.saturating_add(1));
            if verified_from <= size {
                let target = Target {
                    conn: &tx,
                    worker_id: &self.worker_id,
                    key: &self.key,
                    schema_version: self.schema_version,
                    reopen: None,
                };
                let report = verify::verify_conn(target, Some(verified_from..=size))?;
                if let Some(failure) = report.failure {
                    return Err(refused(format!(
                        "the records since the last checkpoint do not verify ({failure}); nothing was signed"
                    )));
                }
            }
            let root = tlog::tree_root(&TreeStore::new(&tx), size).map_err(proof_error)?;
            (size, root)
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::storage("storing a checkpoint"))?;
        // Another signer may have stored a checkpoint since the snapshot:
        // the new one must extend whichever is latest now.
        let latest = latest_row(&tx)?;
        let store = TreeStore::new(&tx);
        if tlog::tree_root(&store, size).map_err(proof_error)? != root {
            return Err(refused(format!(
                "the tree at {size} leaves changed while it was checked; nothing was signed"
            )));
        }
        if let Some(previous) = &latest {
            if previous.size > size {
                return Err(refused(format!(
                    "checkpoint {} signs {} leaves, more than the {size} checked: it was signed meanwhile, or the log was cut or an older copy restored; nothing was signed",
                    previous.id, previous.size
                )));
            }
            let old_root = tlog::tree_root(&store, previous.size).map_err(proof_error)?;
            let proof =
                tlog::consistency_proof(&store, previous.size, size).map_err(proof_error)?;
            let consistent = old_root == previous.root
                && (previous.size == 0
                    || verify_consistency(
                        previous.size,
                        size,
                        previous.root.as_bytes(),
                        root.as_bytes(),
                        &proof,
                    )
                    .is_ok());
            if !consistent {
                return Err(refused(format!(
                    "the tree no longer extends checkpoint {} ({} leaves): history was rewritten; nothing was signed",
                    previous.id, previous.size
                )));
            }
        }
        let body = Checkpoint::new(&origin, size, root).map_err(|e| refused(e.to_string()))?;
        let note = body
            .sign(signer)
            .map_err(|e| refused(e.to_string()))?
            .to_string();
        if let Some(latest) = &latest
            && latest.size == size
            && latest.note.starts_with(&note)
        {
            return Ok(latest.note.clone());
        }
        let now = Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let id = latest.as_ref().map_or(1, |p| p.id.saturating_add(1));
        tx.execute(
            "INSERT INTO checkpoints (id, size, root, ts_ns, note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                i64::try_from(id).unwrap_or(i64::MAX),
                i64::try_from(size).unwrap_or(i64::MAX),
                root.as_bytes().as_slice(),
                now,
                note,
            ],
        )
        .map_err(AuditError::storage("storing a checkpoint"))?;
        tx.commit()
            .map_err(AuditError::storage("storing a checkpoint"))?;
        tracing::info!(worker_id = %self.worker_id, size, "signed audit checkpoint stored");
        Ok(note)
    }

    /// Adds witnesses' cosignature lines (a tlog-witness `add-checkpoint`
    /// response: one `— name base64` line each) to the latest stored
    /// checkpoint of `size` leaves, after verifying each against
    /// `witnesses` (cosigner 0x04 keys, or their 0x01 vkeys); returns the
    /// note with them (`AC-093`). A line of an unknown key, or one that
    /// does not verify, refuses the whole response and stores nothing.
    /// Lines of witnesses that already cosigned are skipped.
    pub fn add_cosignatures(
        &mut self,
        size: u64,
        cosignatures: &str,
        witnesses: &[VerifierKey],
    ) -> Result<String, AuditError> {
        self.require_tree()?;
        self.require_writable("adding cosignatures")?;
        let lines = NoteSignature::parse_lines(cosignatures)
            .map_err(|e| refused(format!("not cosignature lines: {e}")))?;
        let keys: Vec<VerifierKey> = witnesses
            .iter()
            .map(|k| match k.kind() {
                tlog::SignatureType::Cosignature => k.clone(),
                tlog::SignatureType::Ed25519 => k.to_cosigner(),
            })
            .collect();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::storage("adding cosignatures"))?;
        let (id, old): (i64, String) = tx
            .query_row(
                "SELECT id, note FROM checkpoints WHERE size = ?1 ORDER BY id DESC LIMIT 1",
                [i64::try_from(size).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(AuditError::storage("adding cosignatures"))?
            .ok_or_else(|| refused(format!("no checkpoint of {size} leaves is stored")))?;
        let stored = Note::parse(old.as_bytes()).map_err(|e| refused(e.to_string()))?;
        let mut text = old.clone();
        for line in &lines {
            let Some(key) = keys
                .iter()
                .find(|k| k.name() == line.name() && k.key_id() == line.key_id())
            else {
                return Err(refused(format!(
                    "a cosignature by {}+{} is not from a witness given; nothing was stored",
                    line.name(),
                    line.key_id()
                )));
            };
            let mut alone = Note::new(stored.text()).map_err(|e| refused(e.to_string()))?;
            alone
                .add_signature(line.clone())
                .map_err(|e| refused(e.to_string()))?;
            let verified = alone
                .verify(std::slice::from_ref(key))
                .map_err(|e| refused(format!("{e}; nothing was stored")))?;
            if verified
                .signature_of(key)
                .and_then(|s| s.timestamp)
                .is_none()
            {
                return Err(refused(format!(
                    "{}+{} did not cosign; nothing was stored",
                    line.name(),
                    line.key_id()
                )));
            }
            let present = stored
                .signatures()
                .iter()
                .any(|s| s.name() == line.name() && s.key_id() == line.key_id());
            let line = format!("{line}\n");
            if !present && !text.contains(&line) {
                text.push_str(&line);
            }
        }
        if text.len() > MAX_CHECKPOINT_NOTE_BYTES {
            return Err(refused("the note would be too long; nothing was stored"));
        }
        Note::parse(text.as_bytes()).map_err(|e| refused(e.to_string()))?;
        if text != old {
            tx.execute(
                "UPDATE checkpoints SET note = ?1 WHERE id = ?2",
                params![text, id],
            )
            .map_err(AuditError::storage("adding cosignatures"))?;
            tx.commit()
                .map_err(AuditError::storage("adding cosignatures"))?;
        }
        Ok(text)
    }
}
