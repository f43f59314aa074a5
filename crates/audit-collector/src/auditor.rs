//! What the collector serves auditors (`COL-AUD-001` to `COL-AUD-006`),
//! read from PostgreSQL alone: a worker's latest cosigned checkpoint, its
//! records by kind, shard and time, and inclusion and consistency proofs
//! in exactly the text forms `vramctl audit prove` prints, so `vramctl
//! audit check-proof` verifies them with the worker's verifier key.
//!
//! Proofs are computed from `tree_blocks`, where ingestion stores every
//! node hash of a worker's tree in tlog's stored-hash layout (one block
//! per accepted batch, `COL-AUD-003`). `tlog`'s proof functions read
//! through the synchronous [`HashStore`] trait; a proof is computed twice:
//! once over a store that only notes the indexes asked for, then, once
//! those O(log n) hashes are read in one query, over them. Every proof is
//! verified against the checkpoint's root before it is served.

use std::cell::RefCell;
use std::collections::HashMap;

use audit_core::tlog::{
    AddCheckpointRequest, Hash, HashStore, Note, TlogProof, consistency_proof, inclusion_proof,
    tree_root, verify_consistency, verify_inclusion,
};
use audit_core::{AuditRecord, leaf_hash};
use serde::Serialize;
use tokio_postgres::Transaction;

use crate::CollectorError;
use crate::db::Database;
use crate::ingest::RECORD_COLUMNS;
use crate::witness::Answer;

/// The most records one `GET /records` answer holds.
pub const MAX_RECORDS_PAGE: u64 = 1_000;

/// The records returned when `limit` is not given.
pub const DEFAULT_RECORDS_PAGE: u64 = 100;

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// Why a request was not answered with what it asked for.
enum Refusal {
    /// A status and a message saying what to do.
    Status(u16, String),
    /// The database failed: 503.
    Database(CollectorError),
}

impl From<CollectorError> for Refusal {
    fn from(e: CollectorError) -> Self {
        Self::Database(e)
    }
}

fn refuse(status: u16, message: String) -> Refusal {
    Refusal::Status(status, message)
}

fn answer(result: Result<Answer, Refusal>) -> Answer {
    match result {
        Ok(answer) => answer,
        Err(Refusal::Status(status, mut message)) => {
            message.push('\n');
            Answer {
                status,
                content_type: TEXT,
                body: message,
            }
        }
        Err(Refusal::Database(e)) => {
            tracing::error!(error = %e, "auditor request failed: database unavailable (503)");
            Answer {
                status: 503,
                content_type: TEXT,
                body: "the collector's database is unavailable; try again later\n".to_owned(),
            }
        }
    }
}

fn db(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> CollectorError {
    move |e| CollectorError::db(operation, &e)
}

fn to_i64(n: u64, what: &str) -> Result<i64, Refusal> {
    i64::try_from(n).map_err(|_| refuse(400, format!("{what} {n} is out of range")))
}

fn to_u64(n: i64, operation: &'static str) -> Result<u64, Refusal> {
    u64::try_from(n).map_err(|_| corrupt(operation, format!("a stored size or seq of {n}")))
}

/// What the collector holds does not add up (a missing stored hash, a
/// record that does not hash to its leaf, a proof that does not verify):
/// 500, raised at error level for an operator; never served as a proof.
fn corrupt(operation: &'static str, detail: String) -> Refusal {
    tracing::error!(
        operation,
        detail,
        "auditor request: the stored data is inconsistent (500)"
    );
    Refusal::Status(
        500,
        format!(
            "{operation}: {detail}; the collector's stored data is inconsistent: nothing was served, tell its operator"
        ),
    )
}

/// A hash store that only notes what is asked of it (and answers zeros).
#[derive(Default)]
struct NotingStore(RefCell<Vec<u64>>);

impl HashStore for NotingStore {
    type Error = std::convert::Infallible;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash::from_bytes([0; 32]); indexes.len()])
    }
}

/// A stored hash a proof needed was not read from `tree_blocks`.
#[derive(Debug, thiserror::Error)]
#[error("stored hash {0} is not in tree_blocks")]
struct MissingStoredHash(u64);

/// The hashes read from `tree_blocks`, by stored index.
struct FetchedStore(HashMap<u64, Hash>);

impl HashStore for FetchedStore {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        indexes
            .iter()
            .map(|i| self.0.get(i).copied().ok_or(MissingStoredHash(*i)))
            .collect()
    }
}

/// Reads the stored hashes at `indexes` of `origin`'s tree in one query:
/// each from the block with the greatest `first` at or below it.
async fn read_stored_hashes(
    tx: &Transaction<'_>,
    origin: &str,
    indexes: &[u64],
) -> Result<FetchedStore, Refusal> {
    let mut wanted: Vec<i64> = Vec::with_capacity(indexes.len());
    for i in indexes {
        wanted.push(to_i64(*i, "stored hash index")?);
    }
    wanted.sort_unstable();
    wanted.dedup();
    let rows = tx
        .query(
            "SELECT i, substring(b.hashes FROM ((i - b.first) * 32 + 1)::int FOR 32)
             FROM unnest($2::bigint[]) AS i
             CROSS JOIN LATERAL (
                 SELECT first, hashes FROM tree_blocks t
                 WHERE t.origin = $1 AND t.first <= i ORDER BY t.first DESC LIMIT 1
             ) b",
            &[&origin, &wanted],
        )
        .await
        .map_err(db("reading the stored tree hashes"))?;
    let mut hashes = HashMap::with_capacity(rows.len());
    for row in rows {
        let index: i64 = row
            .try_get(0)
            .map_err(db("reading the stored tree hashes"))?;
        let bytes: Vec<u8> = row
            .try_get(1)
            .map_err(db("reading the stored tree hashes"))?;
        let hash = Hash::from_slice(&bytes).map_err(|_| {
            corrupt(
                "reading the stored tree hashes",
                format!(
                    "stored hash {index} of {origin:?} is not 32 bytes: tree_blocks has a hole"
                ),
            )
        })?;
        hashes.insert(to_u64(index, "reading the stored tree hashes")?, hash);
    }
    Ok(FetchedStore(hashes))
}

/// Runs `compute` over the stored hashes of `origin`'s tree: first to note
/// the indexes it reads, then over those hashes read in one query.
async fn with_stored_hashes<T, E: std::fmt::Display>(
    tx: &Transaction<'_>,
    origin: &str,
    compute: impl Fn(&dyn HashStoreDyn) -> Result<T, E>,
) -> Result<T, Refusal> {
    let noting = NotingStore::default();
    // The first pass's result is of zeros: only the indexes matter.
    let _ = compute(&noting);
    let indexes = noting.0.into_inner();
    let fetched = read_stored_hashes(tx, origin, &indexes).await?;
    compute(&fetched).map_err(|e| {
        corrupt(
            "computing a proof from the stored tree hashes",
            format!("{origin:?}: {e}"),
        )
    })
}

/// The two stores behind one object-safe face, so `compute` is written
/// once.
trait HashStoreDyn {
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash>;
}

impl HashStoreDyn for NotingStore {
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        Ok(self.read_hashes(indexes).unwrap_or_default())
    }
}

impl HashStoreDyn for FetchedStore {
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingStoredHash> {
        self.read_hashes(indexes)
    }
}

impl HashStore for dyn HashStoreDyn + '_ {
    type Error = MissingStoredHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error> {
        self.read(indexes)
    }
}

/// A checkpoint an accepted batch ended at, as proofs need it.
struct Accepted {
    size: u64,
    root: Hash,
    /// The signed note, with the collector's cosignature when it cosigned
    /// that same tree.
    note: String,
}

/// The held tree of `origin`: its size and the size from which its stored
/// hashes exist. 404 when no record of it is held.
async fn held_tree(tx: &Transaction<'_>, origin: &str) -> Result<u64, Refusal> {
    let row = tx
        .query_opt(
            "SELECT size, hashes_from FROM ingested WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(db("reading the tree held"))?;
    let Some(row) = row else {
        return Err(refuse(
            404,
            format!(
                "the collector holds no record of {origin:?} (an origin no operator registered, or one whose shipper has sent nothing yet)"
            ),
        ));
    };
    let size: i64 = row.try_get(0).map_err(db("reading the tree held"))?;
    let hashes_from: i64 = row.try_get(1).map_err(db("reading the tree held"))?;
    if hashes_from != 0 {
        return Err(refuse(
            409,
            format!(
                "the first {hashes_from} records of {origin:?} were ingested before the collector stored tree hashes (schema 3): no proof can be computed here for this log; prove from the worker's log (`vramctl audit prove`)"
            ),
        ));
    }
    to_u64(size, "reading the tree held")
}

/// The checkpoint an accepted batch ended at: of `size` records, or the
/// latest.
async fn accepted_checkpoint(
    tx: &Transaction<'_>,
    origin: &str,
    size: Option<u64>,
) -> Result<Accepted, Refusal> {
    let row = match size {
        Some(size) => tx
            .query_opt(
                "SELECT size, root, checkpoint FROM ingest_checkpoints WHERE origin = $1 AND size = $2",
                &[&origin, &to_i64(size, "size")?],
            )
            .await,
        None => tx
            .query_opt(
                "SELECT size, root, checkpoint FROM ingested WHERE origin = $1",
                &[&origin],
            )
            .await,
    }
    .map_err(db("reading an accepted checkpoint"))?;
    let Some(row) = row else {
        return Err(refuse(
            404,
            match size {
                Some(size) => format!(
                    "no batch of {origin:?} was accepted ending at {size} records: ask for a size a batch ended at (GET /workers/ORIGIN/checkpoints lists them), or leave size out for the latest"
                ),
                None => format!("the collector holds no record of {origin:?}"),
            },
        ));
    };
    let size: i64 = row
        .try_get(0)
        .map_err(db("reading an accepted checkpoint"))?;
    let root: Vec<u8> = row
        .try_get(1)
        .map_err(db("reading an accepted checkpoint"))?;
    let mut note: String = row
        .try_get(2)
        .map_err(db("reading an accepted checkpoint"))?;
    let root = Hash::from_slice(&root).map_err(|_| {
        corrupt(
            "reading an accepted checkpoint",
            format!("the stored root of {origin:?} is not 32 bytes"),
        )
    })?;
    // The collector's own cosignature, when it cosigned this very tree.
    let cosigned = tx
        .query_opt(
            "SELECT cosignature FROM witnessed WHERE origin = $1 AND size = $2 AND root = $3",
            &[&origin, &size, &root.as_bytes().as_slice()],
        )
        .await
        .map_err(db("reading the cosignature"))?;
    if let Some(row) = cosigned {
        let cosignature: String = row.try_get(0).map_err(db("reading the cosignature"))?;
        if note.ends_with('\n') && !note.contains(&cosignature) {
            note.push_str(&cosignature);
            note.push('\n');
        }
    }
    Ok(Accepted {
        size: to_u64(size, "reading an accepted checkpoint")?,
        root,
        note,
    })
}

fn parse_note(note: &str) -> Result<Note, Refusal> {
    Note::parse(note.as_bytes()).map_err(|e| {
        corrupt(
            "reading an accepted checkpoint",
            format!("a stored checkpoint is not a signed note: {e}"),
        )
    })
}

/// One row of `records` in the export form (`vramctl audit export`).
fn record_of(row: &tokio_postgres::Row) -> Result<(AuditRecord, Vec<u8>), Refusal> {
    let read = db("reading records");
    let seq: i64 = row.try_get("seq").map_err(&read)?;
    let id: Vec<u8> = row.try_get("id").map_err(&read)?;
    let ts_ns: i64 = row.try_get("ts_ns").map_err(&read)?;
    let kind: String = row.try_get("kind").map_err(&read)?;
    let severity: i16 = row.try_get("severity").map_err(&read)?;
    let worker_id: String = row.try_get("worker_id").map_err(&read)?;
    let shard_id: Option<String> = row.try_get("shard_id").map_err(&read)?;
    let event: String = row.try_get("event").map_err(&read)?;
    let prev_mac: Vec<u8> = row.try_get("prev_mac").map_err(&read)?;
    let mac: Vec<u8> = row.try_get("mac").map_err(&read)?;
    let leaf: Vec<u8> = row.try_get("leaf").map_err(&read)?;
    let bad = |detail: String| corrupt("reading records", format!("record {seq}: {detail}"));
    let record = AuditRecord {
        seq: to_u64(seq, "reading records")?,
        id: uuid::Uuid::from_slice(&id).map_err(|_| bad("an id that is not 16 bytes".into()))?,
        timestamp: chrono::DateTime::from_timestamp_nanos(ts_ns),
        kind,
        severity: audit_core::Severity::from_rank(i64::from(severity))
            .ok_or_else(|| bad(format!("severity rank {severity}")))?,
        worker_id,
        shard_id,
        event: serde_json::from_str(&event).map_err(|e| bad(format!("event JSON: {e}")))?,
        prev_mac: hex(&prev_mac),
        mac: hex(&mac),
    };
    Ok((record, leaf))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0xf] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
    out
}

/// A `GET /records` query (`COL-AUD-002`), from its query string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecordsQuery {
    /// Only this log's records.
    pub origin: Option<String>,
    /// Only records of this kind.
    pub kind: Option<String>,
    /// Only records about this shard.
    pub shard_id: Option<String>,
    /// Only records at or after this time (ns since the epoch).
    pub since_ns: Option<i64>,
    /// Only records before this time (ns since the epoch).
    pub until_ns: Option<i64>,
    /// Records after this `(origin, seq)` (paging).
    pub after: Option<(String, u64)>,
    /// At most this many.
    pub limit: u64,
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let pair = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("{text:?} has a bad percent escape"))?;
                out.push(pair);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

fn parse_time(name: &str, value: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| format!("{name}={value:?} is not an RFC 3339 time (2026-12-02T03:05:14Z)"))
}

fn parse_number(name: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{name}={value:?} is not a whole number"))
}

impl RecordsQuery {
    /// Parses a query string: `origin`, `kind`, `shard_id`, `since`,
    /// `until` (RFC 3339), `after_origin` and `after_seq` (together),
    /// `limit` (1 to [`MAX_RECORDS_PAGE`], default
    /// [`DEFAULT_RECORDS_PAGE`]). Unknown or repeated names are refused.
    pub fn parse(query: Option<&str>) -> Result<Self, String> {
        let mut out = Self {
            limit: DEFAULT_RECORDS_PAGE,
            ..Self::default()
        };
        let (mut after_origin, mut after_seq, mut seen) = (None, None, Vec::new());
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name)?;
            let value = percent_decode(value)?;
            if seen.contains(&name) {
                return Err(format!("{name} is given twice"));
            }
            match name.as_str() {
                "origin" => out.origin = Some(value),
                "kind" => out.kind = Some(value),
                "shard_id" => out.shard_id = Some(value),
                "since" => out.since_ns = Some(parse_time("since", &value)?),
                "until" => out.until_ns = Some(parse_time("until", &value)?),
                "after_origin" => after_origin = Some(value),
                "after_seq" => after_seq = Some(parse_number("after_seq", &value)?),
                "limit" => {
                    out.limit = parse_number("limit", &value)?;
                    if !(1..=MAX_RECORDS_PAGE).contains(&out.limit) {
                        return Err(format!(
                            "limit={} is outside 1 to {MAX_RECORDS_PAGE}",
                            out.limit
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown parameter {name:?}: use origin, kind, shard_id, since, until, after_origin, after_seq, limit"
                    ));
                }
            }
            seen.push(name);
        }
        out.after = match (after_origin, after_seq) {
            (Some(origin), Some(seq)) => Some((origin, seq)),
            (None, None) => None,
            _ => {
                return Err(
                    "after_origin and after_seq go together: pass the `next` of the previous page"
                        .to_owned(),
                );
            }
        };
        Ok(out)
    }
}

/// The one optional whole-number parameter `name` of a proof's query
/// string (`size` or `to`); any other parameter is refused.
fn number_param(query: Option<&str>, name: &str) -> Result<Option<u64>, String> {
    let mut found = None;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key)? != name || found.is_some() {
            return Err(format!(
                "the only parameter here is {name}=N, once; got {pair:?}"
            ));
        }
        found = Some(parse_number(name, &percent_decode(value)?)?);
    }
    Ok(found)
}

/// One page of `GET /records`.
#[derive(Debug, Serialize)]
struct RecordsPage {
    records: Vec<PagedRecord>,
    next: Option<Cursor>,
}

#[derive(Debug, Serialize)]
struct PagedRecord {
    origin: String,
    record: AuditRecord,
}

#[derive(Debug, Serialize)]
struct Cursor {
    after_origin: String,
    after_seq: u64,
}

/// Runs `$serve` with `$tx` a read-only, repeatable-read transaction of
/// a pooled connection (one snapshot: a batch committed meanwhile is not
/// half seen), and answers.
macro_rules! read {
    ($self:ident, $tx:ident => $serve:expr) => {{
        let result = async {
            let mut connection = $self.db.get().await?;
            let $tx = connection
                .build_transaction()
                .read_only(true)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .start()
                .await
                .map_err(db("starting a read transaction"))?;
            let served = $serve;
            drop($tx);
            connection.release();
            served
        }
        .await;
        answer(result)
    }};
}

/// The auditors' side of the collector: its database, read only.
#[derive(Debug, Clone)]
pub struct AuditorService {
    db: Database,
}

impl AuditorService {
    /// Answers from `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// `GET /workers/{origin}/checkpoint` (`COL-AUD-001`): the checkpoint
    /// the collector last cosigned for `origin`, the worker's signed note
    /// with the collector's cosignature line.
    pub async fn cosigned_checkpoint(&self, origin: &str) -> Answer {
        let origin = origin.to_owned();
        read!(self, tx => serve_cosigned_checkpoint(&tx, &origin).await)
    }

    /// `GET /records?…` (`COL-AUD-002`).
    pub async fn records(&self, query: Option<&str>) -> Answer {
        match RecordsQuery::parse(query) {
            Ok(query) => read!(self, tx => serve_records(&tx, &query).await),
            Err(e) => answer(Err(refuse(400, e))),
        }
    }

    /// `GET /workers/{origin}/prove/inclusion/{seq}[?size=N]`
    /// (`COL-AUD-004`): the `tlog-proof` of record `seq`, its record on
    /// the `extra` line.
    pub async fn prove_inclusion(&self, origin: &str, seq: u64, query: Option<&str>) -> Answer {
        let size = match number_param(query, "size") {
            Ok(size) => size,
            Err(e) => return answer(Err(refuse(400, e))),
        };
        read!(self, tx => serve_inclusion(&tx, origin, seq, size).await)
    }

    /// `GET /workers/{origin}/prove/consistency/{from}[?to=N]`
    /// (`COL-AUD-005`): the `add-checkpoint` body from `from` records.
    pub async fn prove_consistency(&self, origin: &str, from: u64, query: Option<&str>) -> Answer {
        let to = match number_param(query, "to") {
            Ok(to) => to,
            Err(e) => return answer(Err(refuse(400, e))),
        };
        read!(self, tx => serve_consistency(&tx, origin, from, to).await)
    }
}

async fn serve_cosigned_checkpoint(tx: &Transaction<'_>, origin: &str) -> Result<Answer, Refusal> {
    let row = tx
        .query_opt(
            "SELECT checkpoint, cosignature FROM witnessed WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(db("reading the cosigned checkpoint"))?;
    let Some(row) = row else {
        return Err(refuse(
            404,
            format!(
                "the collector has cosigned no checkpoint of {origin:?} (an origin no operator registered, or a worker that never sent one to POST /add-checkpoint)"
            ),
        ));
    };
    let mut note: String = row
        .try_get(0)
        .map_err(db("reading the cosigned checkpoint"))?;
    let cosignature: String = row
        .try_get(1)
        .map_err(db("reading the cosigned checkpoint"))?;
    note.push_str(&cosignature);
    note.push('\n');
    Ok(Answer {
        status: 200,
        content_type: TEXT,
        body: note,
    })
}

async fn serve_records(tx: &Transaction<'_>, query: &RecordsQuery) -> Result<Answer, Refusal> {
    let limit = to_i64(query.limit, "limit")?;
    let (after_origin, after_seq) = match &query.after {
        Some((origin, seq)) => (Some(origin.clone()), Some(to_i64(*seq, "after_seq")?)),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {RECORD_COLUMNS} FROM records
         WHERE ($1::text IS NULL OR origin = $1)
           AND ($2::text IS NULL OR kind = $2)
           AND ($3::text IS NULL OR shard_id = $3)
           AND ($4::bigint IS NULL OR ts_ns >= $4)
           AND ($5::bigint IS NULL OR ts_ns < $5)
           AND ($6::text IS NULL OR (origin, seq) > ($6, $7::bigint))
         ORDER BY origin, seq LIMIT $8"
    );
    let rows = tx
        .query(
            &sql,
            &[
                &query.origin,
                &query.kind,
                &query.shard_id,
                &query.since_ns,
                &query.until_ns,
                &after_origin,
                &after_seq,
                &limit,
            ],
        )
        .await
        .map_err(db("reading records"))?;
    let full = rows.len() as u64 == query.limit;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let origin: String = row.try_get("origin").map_err(db("reading records"))?;
        let (record, _) = record_of(row)?;
        records.push(PagedRecord { origin, record });
    }
    let next = records.last().filter(|_| full).map(|last| Cursor {
        after_origin: last.origin.clone(),
        after_seq: last.record.seq,
    });
    let body = serde_json::to_string(&RecordsPage { records, next })
        .map_err(|e| corrupt("encoding records", e.to_string()))?;
    Ok(Answer {
        status: 200,
        content_type: JSON,
        body,
    })
}

async fn serve_inclusion(
    tx: &Transaction<'_>,
    origin: &str,
    seq: u64,
    size: Option<u64>,
) -> Result<Answer, Refusal> {
    if seq == 0 {
        return Err(refuse(
            400,
            "sequence numbers start at 1 (record SEQ is leaf SEQ − 1)".to_owned(),
        ));
    }
    held_tree(tx, origin).await?;
    let checkpoint = accepted_checkpoint(tx, origin, size).await?;
    if checkpoint.size < seq {
        return Err(refuse(
            400,
            format!(
                "record {seq} is not covered by the accepted checkpoint of {} records; ask again once it is held",
                checkpoint.size
            ),
        ));
    }
    let row = tx
        .query_opt(
            &format!("SELECT {RECORD_COLUMNS} FROM records WHERE origin = $1 AND seq = $2"),
            &[&origin, &to_i64(seq, "seq")?],
        )
        .await
        .map_err(db("reading records"))?
        .ok_or_else(|| {
            corrupt(
                "reading records",
                format!(
                    "record {seq} of {origin:?} is covered by the tree held but not in records"
                ),
            )
        })?;
    let (record, leaf) = record_of(&row)?;
    let leaf = Hash::from_slice(&leaf)
        .ok()
        .filter(|stored| leaf_hash(&record) == Some(*stored))
        .ok_or_else(|| {
            corrupt(
                "reading records",
                format!("record {seq} of {origin:?} does not hash to its stored leaf"),
            )
        })?;
    let index = seq - 1;
    let tree = checkpoint.size;
    let proof = with_stored_hashes(tx, origin, |store| inclusion_proof(store, tree, index)).await?;
    verify_inclusion(leaf.as_bytes(), index, tree, &proof, checkpoint.root.as_bytes())
        .map_err(|e| {
            corrupt(
                "computing an inclusion proof",
                format!("the proof of record {seq} of {origin:?} does not verify against its checkpoint: {e}"),
            )
        })?;
    let line =
        serde_json::to_vec(&record).map_err(|e| corrupt("encoding a record", e.to_string()))?;
    let proof = TlogProof::new(index, proof, parse_note(&checkpoint.note)?)
        .and_then(|p| p.with_extra(line))
        .map_err(|e| corrupt("encoding a proof", e.to_string()))?;
    Ok(Answer {
        status: 200,
        content_type: TEXT,
        body: proof.to_string(),
    })
}

async fn serve_consistency(
    tx: &Transaction<'_>,
    origin: &str,
    from: u64,
    to: Option<u64>,
) -> Result<Answer, Refusal> {
    held_tree(tx, origin).await?;
    let checkpoint = accepted_checkpoint(tx, origin, to).await?;
    if from > checkpoint.size {
        return Err(refuse(
            400,
            format!(
                "from {from} is beyond the accepted checkpoint of {} records; a consistency proof goes from an older size to a newer one",
                checkpoint.size
            ),
        ));
    }
    let new = checkpoint.size;
    let (old_root, proof) = with_stored_hashes(tx, origin, |store| {
        let old_root = tree_root(store, from)?;
        consistency_proof(store, from, new).map(|proof| (old_root, proof))
    })
    .await?;
    // From the empty tree there is nothing to prove (the proof is empty).
    if from > 0 {
        verify_consistency(
            from,
            new,
            old_root.as_bytes(),
            checkpoint.root.as_bytes(),
            &proof,
        )
        .map_err(|e| {
            corrupt(
                "computing a consistency proof",
                format!("the proof of {origin:?} from {from} to {new} does not verify: {e}"),
            )
        })?;
    }
    let request = AddCheckpointRequest::new(from, proof, parse_note(&checkpoint.note)?)
        .map_err(|e| corrupt("encoding a proof", e.to_string()))?;
    Ok(Answer {
        status: 200,
        content_type: TEXT,
        body: request.to_string(),
    })
}
