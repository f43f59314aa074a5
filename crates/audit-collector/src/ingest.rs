//! Record ingestion (`COL-ING-001` to `COL-ING-006`): `POST /ingest` takes
//! a batch of a worker's records with the signed checkpoint it ends at,
//! verifies it against the tree held for that worker, and stores it;
//! `GET /workers/{origin}/size` says how many records are held.
//!
//! The wire format (`application/x-ndjson`, one JSON value per line):
//!
//! ```text
//! {"origin":"vram-residency/audit/worker-1","from":1,"to":3,"checkpoint":"<signed note>"}
//! {"seq":1,"id":"…","timestamp":"…","kind":"…",…,"prev_mac":"…","mac":"…"}
//! {"seq":2,…}
//! {"seq":3,…}
//! ```
//!
//! a header, then the records `from..=to` in the export form
//! (`audit_core::AuditRecord`, as `vramctl audit export` writes them, MACs
//! included), in order. The checkpoint is a C2SP signed note of size `to`.
//! Records are parsed borrowed from the body (`WireRecord`), the event
//! kept as the JSON text sent: that text is what the leaf covers and what
//! is stored, so nothing is parsed into a tree and written again.
//!
//! One batch is one transaction, under `SELECT … FOR UPDATE` of the
//! worker's row: the checkpoint must be signed by the registered key; the
//! records already held (`from ≤ size held`) must have the leaf hashes
//! stored (else a rewritten history: 422 and an alert); the new records'
//! leaves, computed as `audit_core::leaf_hash` does, extend the tree held
//! ([`Frontier`]) to exactly the checkpoint's root (else a fork or a cut:
//! 422 and an alert). Only then are the new records written, with `COPY
//! … FROM STDIN BINARY`, and the tree's new size, root and border. A
//! retried batch is answered 200 with the size held and writes nothing.

use std::time::Instant;

use std::borrow::Cow;

use audit_core::tlog::{Checkpoint, Hash, Note, VerifierKey, open_checkpoint};
use audit_core::{RecordFields, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use crate::CollectorError;
use crate::alerts::{AlertKind, Endpoint, NewAlert, record_alert};
use crate::db::Database;
use crate::frontier::Frontier;

/// The content type of a batch.
pub const INGEST_CONTENT_TYPE: &str = "application/x-ndjson";

/// The most records one batch may hold.
pub const MAX_BATCH_RECORDS: u64 = 50_000;

/// The largest batch body accepted, in bytes.
pub const MAX_INGEST_BODY_BYTES: usize = 64 << 20;

/// The first line of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchHeader {
    origin: String,
    from: u64,
    to: u64,
    checkpoint: String,
}

/// A record line as sent: the export form of `audit_core::AuditRecord`
/// (the same fields, names and types), its text borrowed from the body
/// where JSON needs no unescaping, and its event kept as the text sent.
#[derive(Debug, Deserialize)]
struct WireRecord<'a> {
    seq: u64,
    id: Uuid,
    timestamp: DateTime<Utc>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    severity: Severity,
    #[serde(borrow)]
    worker_id: Cow<'a, str>,
    #[serde(borrow)]
    shard_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: &'a RawValue,
    #[serde(borrow)]
    prev_mac: Cow<'a, str>,
    #[serde(borrow)]
    mac: Cow<'a, str>,
}

/// A record in its stored form, as its leaf hash covers it and as it is
/// written to `records` (the batch's worker id is the batch's).
#[derive(Debug)]
struct StoredRecord {
    seq: u64,
    id: [u8; 16],
    ts_ns: i64,
    kind: String,
    severity: i16,
    shard_id: Option<String>,
    /// The event's JSON text as sent: the text the leaf hash covers.
    event: String,
    prev_mac: Vec<u8>,
    mac: Vec<u8>,
}

/// A parsed batch: its header, its records and their leaf hashes.
#[derive(Debug)]
struct Batch {
    header: BatchHeader,
    checkpoint: Checkpoint,
    /// The worker every record names.
    worker_id: String,
    records: Vec<StoredRecord>,
    leaves: Vec<Hash>,
}

/// The answer to `POST /ingest` and `GET /workers/{origin}/size` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    /// The HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// The log's origin, when known.
    pub origin: Option<String>,
    /// The records held for the origin after this request (a refusal
    /// changed nothing); `None` for an unknown origin or a malformed batch.
    pub size: Option<u64>,
    /// Records this request stored (0 for a retry or a refusal).
    pub stored: u64,
    /// Why it was refused.
    pub error: Option<String>,
    /// The alert raised, if the refusal is one (`COL-ALERT-001`).
    pub alert: Option<AlertKind>,
}

impl IngestReply {
    fn refused(status: u16, origin: Option<&str>, size: Option<u64>, error: String) -> Self {
        Self {
            status,
            origin: origin.map(str::to_owned),
            size,
            stored: 0,
            error: Some(error),
            alert: None,
        }
    }

    fn unavailable(error: &CollectorError) -> Self {
        tracing::error!(error = %error, "ingest: database unavailable; answered 503 (the batch not stored, or its commit not confirmed)");
        Self::refused(
            503,
            None,
            None,
            "the collector's database is unavailable; the batch was not stored, or its commit could not be confirmed: send it again later (a batch already stored is not stored twice)"
                .to_owned(),
        )
    }
}

/// Reads a batch: the header, then exactly `to − from + 1` records whose
/// `seq` run from `from` to `to`, each with a computable leaf hash; the
/// checkpoint must parse and be of size `to` and of the header's origin.
/// `Err` is why, for a 400.
fn parse_batch(body: &[u8]) -> Result<Batch, String> {
    let mut lines = body.split(|&b| b == b'\n');
    let header: BatchHeader = serde_json::from_slice(lines.next().unwrap_or_default())
        .map_err(|e| format!("the first line is not a batch header: {e}"))?;
    if header.from == 0 || header.to < header.from {
        return Err(format!(
            "from {} to {}: a batch holds the records from..=to, sequence numbers starting at 1",
            header.from, header.to
        ));
    }
    let count = header.to - header.from + 1;
    if count > MAX_BATCH_RECORDS {
        return Err(format!(
            "{count} records: a batch holds at most {MAX_BATCH_RECORDS}"
        ));
    }
    let note = Note::parse(header.checkpoint.as_bytes())
        .map_err(|e| format!("the checkpoint is not a signed note: {e}"))?;
    let checkpoint = Checkpoint::from_text(note.text())
        .map_err(|e| format!("the checkpoint is not a checkpoint: {e}"))?;
    if checkpoint.origin() != header.origin {
        return Err(format!(
            "the checkpoint is of origin {:?}, the batch of {:?}",
            checkpoint.origin(),
            header.origin
        ));
    }
    if checkpoint.size() != header.to {
        return Err(format!(
            "the checkpoint is of size {}, the batch ends at record {}: a batch ends at its checkpoint",
            checkpoint.size(),
            header.to
        ));
    }
    let capacity = usize::try_from(count).unwrap_or_default();
    let mut records = Vec::with_capacity(capacity);
    let mut leaves = Vec::with_capacity(capacity);
    let mut worker_id: Option<String> = None;
    let mut scratch = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let expected = header.from + records.len() as u64;
        if expected > header.to {
            return Err(format!(
                "more than the {count} records from {} to {}",
                header.from, header.to
            ));
        }
        let record: WireRecord<'_> = serde_json::from_slice(line)
            .map_err(|e| format!("record {expected} is not an exported record: {e}"))?;
        if record.seq != expected {
            return Err(format!(
                "record {} where {expected} was expected: records go in order without gaps",
                record.seq
            ));
        }
        match &worker_id {
            Some(id) if *id == record.worker_id => {}
            Some(_) => {
                return Err(format!(
                    "record {expected} names another worker than the records before it"
                ));
            }
            None => {
                let origin = audit_core::log_origin(&record.worker_id)
                    .map_err(|e| format!("record {expected}: {e}"))?;
                if origin != header.origin {
                    return Err(format!(
                        "record {expected} is of worker {:?}, whose log is {origin:?}, not {:?}",
                        record.worker_id, header.origin
                    ));
                }
                worker_id = Some(record.worker_id.clone().into_owned());
            }
        }
        let worker = worker_id.as_deref().unwrap_or_default();
        let unhashable =
            || format!("record {expected} has a MAC that is not hex or a time out of range");
        let stored = StoredRecord {
            seq: record.seq,
            id: record.id.into_bytes(),
            ts_ns: record
                .timestamp
                .timestamp_nanos_opt()
                .ok_or_else(unhashable)?,
            kind: record.kind.into_owned(),
            severity: i16::try_from(record.severity.rank()).map_err(|_| unhashable())?,
            shard_id: record.shard_id.map(Cow::into_owned),
            event: record.event.get().to_owned(),
            prev_mac: audit_core::hex::decode(&record.prev_mac).ok_or_else(unhashable)?,
            mac: audit_core::hex::decode(&record.mac).ok_or_else(unhashable)?,
        };
        let leaf = RecordFields {
            seq: stored.seq,
            id: &stored.id,
            ts_ns: stored.ts_ns,
            kind: &stored.kind,
            severity: i64::from(stored.severity),
            worker_id: worker,
            shard_id: stored.shard_id.as_deref(),
            event: &stored.event,
            prev_mac: &stored.prev_mac,
        }
        .leaf_hash(&stored.mac, &mut scratch);
        records.push(stored);
        leaves.push(leaf);
    }
    if records.len() as u64 != count {
        return Err(format!(
            "{} records where the header announces {count} ({} to {})",
            records.len(),
            header.from,
            header.to
        ));
    }
    Ok(Batch {
        header,
        checkpoint,
        worker_id: worker_id.unwrap_or_default(),
        records,
        leaves,
    })
}

/// What is held for an origin: the tree's border.
async fn read_held(tx: &Transaction<'_>, origin: &str) -> Result<Frontier, CollectorError> {
    let row = tx
        .query_opt(
            "SELECT size, frontier FROM ingested WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(|e| CollectorError::db("reading the tree held", &e))?;
    let Some(row) = row else {
        return Ok(Frontier::empty());
    };
    let size: i64 = row
        .try_get(0)
        .map_err(|e| CollectorError::db("reading the tree held", &e))?;
    let bytes: Vec<u8> = row
        .try_get(1)
        .map_err(|e| CollectorError::db("reading the tree held", &e))?;
    let corrupt = |detail: String| CollectorError::Database {
        operation: "reading the tree held",
        detail: format!("the stored tree of {origin:?} is not valid: {detail}"),
    };
    let size = u64::try_from(size).map_err(|_| corrupt(format!("size {size}")))?;
    Frontier::from_bytes(size, &bytes).map_err(corrupt)
}

fn to_i64(n: u64, operation: &'static str) -> Result<i64, CollectorError> {
    i64::try_from(n).map_err(|_| CollectorError::Database {
        operation,
        detail: format!("{n} does not fit a bigint"),
    })
}

/// The columns of `records`, in `COPY` order: what ingest writes, the
/// auditor reads and the fleet benchmark's baseline copies.
pub const RECORD_COLUMNS: &str =
    "origin, seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac, leaf";

/// The types of [`RECORD_COLUMNS`], in order.
pub const RECORD_TYPES: &[Type] = &[
    Type::TEXT,
    Type::INT8,
    Type::BYTEA,
    Type::INT8,
    Type::TEXT,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
];

/// Writes `records` (with their `leaves`) of `worker_id` with `COPY …
/// FROM STDIN BINARY`.
async fn copy_records(
    tx: &Transaction<'_>,
    origin: &str,
    worker_id: &str,
    records: &[StoredRecord],
    leaves: &[Hash],
) -> Result<u64, CollectorError> {
    let step =
        |operation: &'static str| move |e: tokio_postgres::Error| CollectorError::db(operation, &e);
    let sink = tx
        .copy_in(&format!(
            "COPY records ({RECORD_COLUMNS}) FROM STDIN BINARY"
        ))
        .await
        .map_err(step("starting COPY of the records"))?;
    let writer = BinaryCopyInWriter::new(sink, RECORD_TYPES);
    let mut writer = std::pin::pin!(writer);
    for (record, leaf) in records.iter().zip(leaves) {
        let seq = to_i64(record.seq, "writing the records")?;
        let id = record.id.as_slice();
        let prev_mac = record.prev_mac.as_slice();
        let mac = record.mac.as_slice();
        let leaf = leaf.as_bytes().as_slice();
        let row: [&(dyn ToSql + Sync); 12] = [
            &origin,
            &seq,
            &id,
            &record.ts_ns,
            &record.kind,
            &record.severity,
            &worker_id,
            &record.shard_id,
            &record.event,
            &prev_mac,
            &mac,
            &leaf,
        ];
        writer
            .as_mut()
            .write(&row)
            .await
            .map_err(step("writing the records"))?;
    }
    writer
        .as_mut()
        .finish()
        .await
        .map_err(step("finishing COPY of the records"))
}

/// Writes the stored hashes a batch added to the tree of `origin`, which
/// held `old_size` leaves, as one block (`COL-AUD-003`): the row of
/// `tree_blocks` starting at stored index `stored_hash_count(old_size)`.
async fn store_tree_block(
    tx: &Transaction<'_>,
    origin: &str,
    old_size: u64,
    hashes: &[u8],
) -> Result<(), CollectorError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let first =
        audit_core::tlog::stored_hash_count(old_size).ok_or_else(|| CollectorError::Database {
            operation: "storing the tree's hashes",
            detail: format!("a tree of {old_size} leaves is beyond the stored-hash layout"),
        })?;
    tx.execute(
        "INSERT INTO tree_blocks (origin, first, hashes) VALUES ($1, $2, $3)",
        &[
            &origin,
            &to_i64(first, "storing the tree's hashes")?,
            &hashes,
        ],
    )
    .await
    .map_err(|e| CollectorError::db("storing the tree's hashes", &e))?;
    Ok(())
}

/// The ingest side of the collector: its database.
#[derive(Debug, Clone)]
pub struct IngestService {
    db: Database,
}

impl IngestService {
    /// Ingestion into `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// `GET /workers/{origin}/size`: the records held for `origin`
    /// (`COL-ING-005`); 404 for an origin no operator registered.
    pub async fn size(&self, origin: &str) -> IngestReply {
        let held = async {
            let connection = self.db.get().await?;
            let row = connection
                .query_opt(
                    "SELECT w.origin, coalesce(i.size, 0) FROM workers w LEFT JOIN ingested i USING (origin) WHERE w.origin = $1",
                    &[&origin],
                )
                .await
                .map_err(|e| CollectorError::db("reading the size held", &e))?;
            connection.release();
            row.map(|row| row.try_get::<_, i64>(1))
                .transpose()
                .map_err(|e| CollectorError::db("reading the size held", &e))
        };
        match held.await {
            Ok(Some(size)) => IngestReply {
                status: 200,
                origin: Some(origin.to_owned()),
                size: u64::try_from(size).ok(),
                stored: 0,
                error: None,
                alert: None,
            },
            Ok(None) => IngestReply::refused(
                404,
                Some(origin),
                None,
                format!(
                    "unknown origin {origin:?}: no operator registered it (vram-auditd worker add ORIGIN VKEY)"
                ),
            ),
            Err(e) => IngestReply::unavailable(&e),
        }
    }

    /// Answers one `POST /ingest` body from `peer`.
    pub async fn ingest(&self, body: axum::body::Bytes, peer: Option<String>) -> IngestReply {
        let started = Instant::now();
        // Parsing and hashing 10,000 records is CPU work: off the runtime.
        let parsed = tokio::task::spawn_blocking(move || parse_batch(&body)).await;
        let batch = match parsed {
            Ok(Ok(batch)) => batch,
            Ok(Err(reason)) => {
                tracing::warn!(
                    reason,
                    peer = peer.as_deref().unwrap_or("-"),
                    "ingest: malformed batch refused (400)"
                );
                return IngestReply::refused(400, None, None, reason);
            }
            Err(e) => {
                return IngestReply::refused(
                    500,
                    None,
                    None,
                    format!("the batch could not be read: {e}"),
                );
            }
        };
        let mut connection = match self.db.get().await {
            Ok(c) => c,
            Err(e) => return IngestReply::unavailable(&e),
        };
        let reply = match connection.transaction().await {
            Ok(tx) => in_transaction(tx, &batch, peer).await,
            Err(e) => Err(CollectorError::db("starting a transaction", &e)),
        };
        match reply {
            Ok(reply) => {
                connection.release();
                if reply.status == 200 {
                    tracing::info!(
                        origin = %batch.header.origin,
                        from = batch.header.from,
                        to = batch.header.to,
                        size = reply.size.unwrap_or_default(),
                        stored = reply.stored,
                        ms = started.elapsed().as_millis() as u64,
                        "batch ingested"
                    );
                }
                reply
            }
            Err(e) => IngestReply::unavailable(&e),
        }
    }
}

/// A refusal that is an alert: stored in `tx`, committed, answered.
async fn alert(
    tx: Transaction<'_>,
    batch: &Batch,
    kind: AlertKind,
    status: u16,
    held: Option<u64>,
    reason: String,
    peer: Option<String>,
) -> Result<IngestReply, CollectorError> {
    let origin = &batch.header.origin;
    let new = NewAlert {
        endpoint: Endpoint::Ingest,
        origin: origin.clone(),
        kind,
        status,
        old_size: Some(batch.header.from - 1),
        checkpoint_size: Some(batch.header.to),
        held_size: held,
        reason: reason.clone(),
        peer,
    };
    record_alert(&tx, &new).await?;
    tx.commit()
        .await
        .map_err(|e| CollectorError::db("committing an alert", &e))?;
    let mut reply = IngestReply::refused(status, Some(origin), held, reason);
    reply.alert = Some(kind);
    Ok(reply)
}

async fn in_transaction(
    tx: Transaction<'_>,
    batch: &Batch,
    peer: Option<String>,
) -> Result<IngestReply, CollectorError> {
    let origin = batch.header.origin.as_str();
    let (from, to) = (batch.header.from, batch.header.to);
    // The lock on the worker's row is held until COMMIT: no other batch or
    // checkpoint of this origin reads the tree held in between.
    let row = tx
        .query_opt(
            "SELECT vkey FROM workers WHERE origin = $1 FOR UPDATE",
            &[&origin],
        )
        .await
        .map_err(|e| CollectorError::db("locking the worker's row", &e))?;
    let Some(row) = row else {
        let reason = format!(
            "unknown origin {origin:?}: no operator registered this worker, so its records are not taken"
        );
        return alert(tx, batch, AlertKind::UnknownOrigin, 404, None, reason, peer).await;
    };
    let vkey: String = row
        .try_get(0)
        .map_err(|e| CollectorError::db("reading the worker's key", &e))?;
    let key = VerifierKey::parse(&vkey).map_err(|e| CollectorError::Database {
        operation: "reading the worker's key",
        detail: format!("the registered key of {origin:?} does not parse: {e}"),
    })?;
    let held = read_held(&tx, origin).await?;
    let size = held.size();
    if let Err(e) = open_checkpoint(batch.header.checkpoint.as_bytes(), origin, &key, &[]) {
        let reason =
            format!("the batch's checkpoint is not signed by the log's registered key: {e}");
        return alert(
            tx,
            batch,
            AlertKind::BadSignature,
            403,
            Some(size),
            reason,
            peer,
        )
        .await;
    }
    if from > size + 1 {
        // Not an alert: the shipper resumes from the size named.
        return Ok(IngestReply::refused(
            409,
            Some(origin),
            Some(size),
            format!(
                "a gap: the collector holds {size} records of this log, the batch starts at {from}; send from {}",
                size + 1
            ),
        ));
    }
    // The records held: the batch must carry exactly them.
    if from <= size {
        let last = to.min(size);
        let rows = tx
            .query(
                "SELECT seq, leaf FROM records WHERE origin = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                &[
                    &origin,
                    &to_i64(from, "reading the records held")?,
                    &to_i64(last, "reading the records held")?,
                ],
            )
            .await
            .map_err(|e| CollectorError::db("reading the records held", &e))?;
        if rows.len() as u64 != last - from + 1 {
            return Err(CollectorError::Database {
                operation: "reading the records held",
                detail: format!(
                    "{} rows of {origin:?} between {from} and {last}, where the tree held covers them all",
                    rows.len()
                ),
            });
        }
        for (row, sent) in rows.iter().zip(&batch.leaves) {
            let seq: i64 = row
                .try_get(0)
                .map_err(|e| CollectorError::db("reading the records held", &e))?;
            let stored: Vec<u8> = row
                .try_get(1)
                .map_err(|e| CollectorError::db("reading the records held", &e))?;
            if stored.as_slice() != sent.as_bytes().as_slice() {
                let reason = format!(
                    "record {seq} differs from the record {seq} held: a rewritten history (a fork of the log), refused"
                );
                return alert(
                    tx,
                    batch,
                    AlertKind::Inconsistent,
                    422,
                    Some(size),
                    reason,
                    peer,
                )
                .await;
            }
        }
    }
    if to <= size {
        // A retry: nothing new. Its checkpoint must be the one accepted at
        // that size, if a batch ended there.
        let stored = tx
            .query_opt(
                "SELECT root FROM ingest_checkpoints WHERE origin = $1 AND size = $2",
                &[&origin, &to_i64(to, "reading a batch checkpoint")?],
            )
            .await
            .map_err(|e| CollectorError::db("reading a batch checkpoint", &e))?;
        if let Some(row) = stored {
            let root: Vec<u8> = row
                .try_get(0)
                .map_err(|e| CollectorError::db("reading a batch checkpoint", &e))?;
            if root.as_slice() != batch.checkpoint.root().as_bytes().as_slice() {
                let reason = format!(
                    "the checkpoint of {to} records signs another root than the one accepted at that size: the log signed two histories (a fork)"
                );
                return alert(
                    tx,
                    batch,
                    AlertKind::Inconsistent,
                    422,
                    Some(size),
                    reason,
                    peer,
                )
                .await;
            }
        }
        return Ok(IngestReply {
            status: 200,
            origin: Some(origin.to_owned()),
            size: Some(size),
            stored: 0,
            error: None,
            alert: None,
        });
    }
    // The new records extend the tree held to the checkpoint's root, or
    // the log is not an extension of what was accepted before.
    let skip = usize::try_from(size + 1 - from).unwrap_or(usize::MAX);
    let new_records = batch.records.get(skip..).unwrap_or_default();
    let new_leaves = batch.leaves.get(skip..).unwrap_or_default();
    let mut tree = held;
    let mut stored_hashes = Vec::with_capacity(new_leaves.len().saturating_mul(64));
    for leaf in new_leaves {
        tree.append_into(*leaf, &mut stored_hashes)
            .map_err(|detail| CollectorError::Database {
                operation: "extending the tree held",
                detail,
            })?;
    }
    let root = tree.root();
    if root != *batch.checkpoint.root() || tree.size() != to {
        let reason = format!(
            "records {} to {to} do not extend the {size} records held to the checkpoint's root: the log is not an extension of what was accepted (a fork, or records cut off and written again)",
            size + 1
        );
        return alert(
            tx,
            batch,
            AlertKind::Inconsistent,
            422,
            Some(size),
            reason,
            peer,
        )
        .await;
    }
    let stored = copy_records(&tx, origin, &batch.worker_id, new_records, new_leaves).await?;
    store_tree_block(&tx, origin, size, &stored_hashes).await?;
    let new_size = to_i64(to, "storing the tree")?;
    let root_bytes = root.as_bytes().to_vec();
    tx.execute(
        "INSERT INTO ingested (origin, size, root, frontier, checkpoint, ingested_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (origin) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root,
           frontier = EXCLUDED.frontier, checkpoint = EXCLUDED.checkpoint,
           ingested_at = EXCLUDED.ingested_at",
        &[
            &origin,
            &new_size,
            &root_bytes,
            &tree.to_bytes(),
            &batch.header.checkpoint,
        ],
    )
    .await
    .map_err(|e| CollectorError::db("storing the tree", &e))?;
    tx.execute(
        "INSERT INTO ingest_checkpoints (origin, size, root, checkpoint) VALUES ($1, $2, $3, $4)
         ON CONFLICT (origin, size) DO NOTHING",
        &[&origin, &new_size, &root_bytes, &batch.header.checkpoint],
    )
    .await
    .map_err(|e| CollectorError::db("storing the batch's checkpoint", &e))?;
    tx.commit()
        .await
        .map_err(|e| CollectorError::db("committing the batch", &e))?;
    Ok(IngestReply {
        status: 200,
        origin: Some(origin.to_owned()),
        size: Some(to),
        stored,
        error: None,
        alert: None,
    })
}
