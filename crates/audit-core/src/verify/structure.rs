//! Everything around the chain that verification relies on, checked row by
//! row without trusting the schema: the file's shape (header, tables,
//! columns), the key (genesis or anchor), every `meta` and `anchors` row,
//! and that no `records` row lies outside the walked chain.
//!
//! `STRICT` tables, `CHECK`s and triggers keep honest mistakes out, but an
//! attacker with the file can rebuild any table without them; so every rule
//! they state is checked again here.

use std::collections::BTreeSet;

use rusqlite::{Connection, ErrorCode, OptionalExtension};

use super::rows::{
    Anchor, INTEGER_SEQ, Want, bytes_of, latest_anchor, read_raw, seq_param, shape_defect,
};
use super::{FailureReason, Target, VerifyFailure, VerifyReport};
use crate::AuditError;
use crate::record::ChainKey;
use crate::schema::{APPLICATION_ID, RECORD_COLUMNS, SUPPORTED_SCHEMA_VERSIONS};

/// The tables of a log from schema 3 on, and their columns.
const TREE_TABLES: [(&str, &[&str]); 2] = [
    ("tree", &["first", "hashes"]),
    ("checkpoints", &["id", "size", "root", "ts_ns", "note"]),
];

/// The tables of every log and the columns each must have.
const TABLES: [(&str, &[&str]); 3] = [
    ("meta", &["key", "value"]),
    (
        "records",
        &[
            "seq",
            "id",
            "ts_ns",
            "kind",
            "severity",
            "worker_id",
            "shard_id",
            "event",
            "prev_mac",
            "mac",
        ],
    ),
    ("anchors", &["seq", "mac", "dropped", "ts_ns", "anchor_mac"]),
];

/// The keys of `meta`, each exactly once.
const META_KEYS: [&str; 3] = ["worker_id", "created_ns", "schema_version"];

/// What a file opened for reading is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An audit log of this schema version, with every table and column.
    Log(i64),
    /// An audit log of a version this build does not read.
    Unknown(i64),
    /// Recognisably an audit log (header or tables), with part of its
    /// structure removed or changed.
    Broken(String),
    /// Not an audit log at all: empty, not SQLite, another application's.
    NotALog(String),
}

impl Shape {
    /// The schema version of a log to open, or the error a reader that
    /// opens (rather than verifies) reports for the file at `path`.
    pub(crate) fn into_version(self, path: &std::path::Path) -> Result<i64, AuditError> {
        match self {
            Self::Log(version) => Ok(version),
            Self::NotALog(detail) => Err(AuditError::NotAnAuditLog {
                path: path.display().to_string(),
                detail,
            }),
            Self::Unknown(found) => Err(AuditError::UnknownSchema {
                found,
                supported: crate::schema::SCHEMA_VERSION,
            }),
            Self::Broken(detail) => Err(AuditError::Damaged {
                path: path.display().to_string(),
                detail,
            }),
        }
    }
}

fn storage(e: rusqlite::Error) -> AuditError {
    AuditError::Storage {
        operation: "reading the log's structure",
        detail: e.to_string(),
    }
}

/// Says what the file behind `conn` is (see [`Shape`]). Only real I/O
/// errors are errors.
pub(crate) fn shape(conn: &Connection) -> Result<Shape, AuditError> {
    let app_id: i64 = match conn.query_row("PRAGMA application_id", [], |row| row.get(0)) {
        Ok(id) => id,
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::NotADatabase => {
            return Ok(Shape::NotALog(
                "it is not an SQLite database: its header is damaged, or it is another kind of file"
                    .to_owned(),
            ));
        }
        Err(e) => return Err(storage(e)),
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(storage)?;
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .map_err(storage)?;
    if pages == 0 {
        return Ok(Shape::NotALog("the file is empty".to_owned()));
    }
    let tables = names(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table'",
        [],
    )?;
    let ours: Vec<&str> = TABLES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| tables.contains(*name))
        .collect();
    if app_id != APPLICATION_ID {
        return Ok(if ours.is_empty() {
            Shape::NotALog(format!(
                "its application id is {app_id:#x}, not AUDT, and it has no audit tables"
            ))
        } else {
            Shape::Broken(format!(
                "the header's application id is {app_id:#x}, not AUDT, but the file holds the audit tables {}",
                ours.join(", ")
            ))
        });
    }
    if !SUPPORTED_SCHEMA_VERSIONS.contains(&version) {
        return Ok(Shape::Unknown(version));
    }
    let tree_tables = if version >= crate::schema::TREE_SCHEMA_VERSION {
        &TREE_TABLES[..]
    } else {
        &[]
    };
    for &(table, columns) in TABLES.iter().chain(tree_tables) {
        if !tables.contains(table) {
            return Ok(Shape::Broken(format!("table {table} is missing")));
        }
        let present = names(conn, "SELECT name FROM pragma_table_info(?1)", [table])?;
        if let Some(missing) = columns.iter().find(|c| !present.contains(**c)) {
            return Ok(Shape::Broken(format!(
                "table {table} has no column {missing}"
            )));
        }
    }
    Ok(Shape::Log(version))
}

fn names<P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> Result<BTreeSet<String>, AuditError> {
    let mut stmt = conn.prepare(sql).map_err(storage)?;
    let rows = stmt
        .query_map(params, |row| row.get::<_, String>(0))
        .map_err(storage)?;
    rows.collect::<Result<_, _>>().map_err(storage)
}

fn failure(seq: Option<u64>, reason: FailureReason) -> Option<VerifyFailure> {
    Some(VerifyFailure { seq, reason })
}

fn structure(seq: Option<u64>, detail: String) -> Option<VerifyFailure> {
    failure(seq, FailureReason::Structure { detail })
}

/// Checks that `key` and `worker_id` are the ones the chain starts with,
/// before any record is walked: a wrong secret or worker id is then named
/// as such ([`FailureReason::WrongGenesis`]) instead of showing up as a MAC
/// mismatch somewhere in a range, which would read as tampering.
///
/// The start is the latest retention anchor if there is one (a bad anchor
/// MAC is [`FailureReason::BadAnchor`] unless the record after it fails
/// under this key too, which means the key is wrong), else record 1's link
/// to this worker's genesis value. With neither (record 1 deleted), the walk
/// reports the gap.
pub(crate) fn check_key(
    conn: &Connection,
    worker_id: &str,
    key: &ChainKey,
    schema_version: i64,
) -> Result<Option<VerifyFailure>, AuditError> {
    if let Some(anchor) = latest_anchor(conn)? {
        if key.verify_anchor(worker_id, schema_version, &anchor.fields(), &anchor.tag) {
            return Ok(None);
        }
        let after = first_record_after(conn, anchor.seq)?;
        let mut scratch = Vec::new();
        return Ok(match after {
            Some(record) if !key.verify_record(&record, &mut scratch) => {
                failure(Some(record.seq), FailureReason::WrongGenesis)
            }
            _ => failure(Some(anchor.seq), FailureReason::BadAnchor),
        });
    }
    let Some(first) = first_record_after(conn, 0)? else {
        return Ok(None);
    };
    if first.seq == 1 && !seal_crypto::ct_eq(&first.prev_mac, &key.genesis(worker_id)) {
        return Ok(failure(Some(1), FailureReason::WrongGenesis));
    }
    Ok(None)
}

fn first_record_after(
    conn: &Connection,
    seq: u64,
) -> Result<Option<crate::record::RawRecord>, AuditError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE seq > ?1 AND {INTEGER_SEQ} ORDER BY seq LIMIT 1"
        ))
        .map_err(storage)?;
    let mut rows = stmt.query([seq_param(seq)]).map_err(storage)?;
    match rows.next().map_err(storage)? {
        Some(row) => read_raw(row).map(Some).map_err(storage),
        None => Ok(None),
    }
}

/// Every `meta` and `anchors` row: the right keys once each, the right
/// storage classes, authentic anchors in increasing order.
pub(crate) fn check_tables(target: &Target<'_>) -> Result<Option<VerifyFailure>, AuditError> {
    if let Some(failure) = check_meta(target.conn, target.worker_id, target.schema_version)? {
        return Ok(Some(failure));
    }
    check_anchors(target)
}

/// The worker id in `meta`, for a verifier that has no other: `Err` says
/// why there is none usable.
pub(crate) fn stored_worker_id(conn: &Connection) -> Result<Result<String, String>, AuditError> {
    let value: Option<rusqlite::types::Value> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'worker_id' LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    Ok(match value {
        Some(rusqlite::types::Value::Text(worker_id)) => {
            match crate::record::validate_worker_id(&worker_id) {
                Ok(()) => Ok(worker_id),
                Err(e) => Err(format!("meta row \"worker_id\" is not a worker id: {e}")),
            }
        }
        Some(_) => Err("meta row \"worker_id\" does not hold text".to_owned()),
        None => Err("meta has no row \"worker_id\"".to_owned()),
    })
}

/// Every `meta` row: the right keys once each, text, and the values of
/// this log (`worker_id`, `schema_version`).
pub(crate) fn check_meta(
    conn: &Connection,
    worker_id: &str,
    schema_version: i64,
) -> Result<Option<VerifyFailure>, AuditError> {
    let mut stmt = conn
        .prepare("SELECT key, value FROM meta")
        .map_err(storage)?;
    let mut rows = stmt.query([]).map_err(storage)?;
    let mut seen = BTreeSet::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let key_ref = row.get_ref(0).map_err(storage)?;
        let key = String::from_utf8_lossy(&bytes_of(key_ref)).into_owned();
        let name = crate::record::to_display(&key);
        if let Some(defect) = shape_defect("key", key_ref, Want::Text)
            .or_else(|| shape_defect("value", row.get_ref(1).ok()?, Want::Text))
        {
            return Ok(structure(None, format!("meta row {name}: {defect}")));
        }
        if !META_KEYS.contains(&key.as_str()) {
            return Ok(structure(
                None,
                format!("meta holds an unexpected row {name}"),
            ));
        }
        if !seen.insert(key.clone()) {
            return Ok(structure(None, format!("meta holds row {name} twice")));
        }
        let value: String = row.get(1).map_err(storage)?;
        let wrong = match key.as_str() {
            "worker_id" => value != worker_id,
            "schema_version" => value != schema_version.to_string(),
            _ => value.parse::<i64>().is_err(),
        };
        if wrong {
            return Ok(structure(
                None,
                format!(
                    "meta row {name} holds {}, which does not match the log",
                    crate::record::to_display(&value)
                ),
            ));
        }
    }
    if let Some(missing) = META_KEYS.iter().find(|k| !seen.contains(**k)) {
        return Ok(structure(None, format!("meta has no row {missing:?}")));
    }
    Ok(None)
}

fn check_anchors(target: &Target<'_>) -> Result<Option<VerifyFailure>, AuditError> {
    let mut stmt = target
        .conn
        .prepare("SELECT seq, mac, dropped, ts_ns, anchor_mac, quote(seq) FROM anchors")
        .map_err(storage)?;
    let mut rows = stmt.query([]).map_err(storage)?;
    let shape = [
        ("seq", Want::Integer),
        ("mac", Want::Blob(crate::MAC_BYTES)),
        ("dropped", Want::Integer),
        ("ts_ns", Want::Integer),
        ("anchor_mac", Want::Blob(crate::MAC_BYTES)),
    ];
    let mut anchors = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let quoted: String = row.get(5).map_err(storage)?;
        for (index, (column, want)) in shape.iter().enumerate() {
            if let Some(defect) = shape_defect(column, row.get_ref(index).map_err(storage)?, *want)
            {
                return Ok(structure(
                    None,
                    format!(
                        "anchors row with seq {}: {defect}",
                        crate::record::escape_controls(&quoted)
                    ),
                ));
            }
        }
        let seq: i64 = row.get(0).map_err(storage)?;
        let Some(seq) = u64::try_from(seq).ok().filter(|s| *s >= 1) else {
            return Ok(structure(
                None,
                format!("anchors row with seq {seq}: a sequence number starts at 1"),
            ));
        };
        anchors.push(Anchor {
            seq,
            mac: row.get(1).map_err(storage)?,
            dropped: row.get(2).map_err(storage)?,
            ts_ns: row.get(3).map_err(storage)?,
            tag: row.get(4).map_err(storage)?,
        });
    }
    anchors.sort_by_key(|a| a.seq);
    for anchor in &anchors {
        if !target.key.verify_anchor(
            target.worker_id,
            target.schema_version,
            &anchor.fields(),
            &anchor.tag,
        ) {
            return Ok(failure(Some(anchor.seq), FailureReason::BadAnchor));
        }
    }
    Ok(None)
}

/// After a walk that found nothing wrong: every `records` row must be part
/// of the chain (an integer sequence number after the latest anchor). A row
/// outside it (seq -1, NULL, text, or at or below the anchor) is named.
pub(crate) fn account_records(
    conn: &Connection,
    report: &mut VerifyReport,
    anchor_seq: u64,
) -> Result<(), AuditError> {
    // One statement: one snapshot, even while a writer appends.
    let (total, in_chain): (i64, i64) = conn
        .query_row(
            &format!("SELECT COUNT(*), COALESCE(SUM(seq > ?1 AND {INTEGER_SEQ}), 0) FROM records"),
            [seq_param(anchor_seq)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(storage)?;
    if total == in_chain {
        return Ok(());
    }
    let stray: Option<String> = conn
        .query_row(
            &format!(
                "SELECT quote(seq) FROM records WHERE seq IS NULL OR NOT (seq > ?1 AND {INTEGER_SEQ}) LIMIT 1"
            ),
            [seq_param(anchor_seq)],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?
        .flatten();
    let stray = stray.map_or_else(
        || "?".to_owned(),
        |s| crate::record::escape_controls(&s).into_owned(),
    );
    report.failure = Some(VerifyFailure {
        seq: None,
        reason: FailureReason::Structure {
            detail: format!(
                "records holds {} row(s) outside the chain, the first with seq {stray} (inserted outside the log's writer)",
                total - in_chain
            ),
        },
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// AC-048: only a file SQLite calls "not a database" is `NotALog`; any
    /// other failure to read the header (here: a lock another connection
    /// holds) is a storage error, never a verdict about the file.
    #[test]
    fn ac_048_a_locked_file_is_a_storage_error_not_a_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("CREATE TABLE t(x); PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        reader.busy_timeout(std::time::Duration::ZERO).unwrap();
        match shape(&reader) {
            Err(AuditError::Storage { .. }) => {}
            Ok(shape) => panic!(
                "a locked file was judged: {:?}",
                matches!(shape, Shape::NotALog(_))
            ),
            Err(other) => panic!("{other}"),
        }
        std::fs::write(dir.path().join("junk.db"), vec![0x42; 4096]).unwrap();
        let junk = Connection::open(dir.path().join("junk.db")).unwrap();
        assert!(matches!(shape(&junk), Ok(Shape::NotALog(_))));
    }
}
