//! Reading rows without trusting the column types, and the retention anchor.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::AuditError;
use crate::record::{AnchorFields, RawRecord};

fn set_bytes(dst: &mut Vec<u8>, value: ValueRef<'_>) {
    dst.clear();
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => dst.extend_from_slice(b),
        ValueRef::Integer(i) => dst.extend_from_slice(i.to_string().as_bytes()),
        ValueRef::Real(r) => dst.extend_from_slice(r.to_string().as_bytes()),
        ValueRef::Null => {}
    }
}

pub(crate) fn bytes_of(value: ValueRef<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    set_bytes(&mut out, value);
    out
}

fn set_text(dst: &mut String, value: ValueRef<'_>) {
    dst.clear();
    match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => match std::str::from_utf8(b) {
            Ok(s) => dst.push_str(s),
            // Not what the log writes; the lossy text fails the MAC check.
            Err(_) => dst.push_str(&String::from_utf8_lossy(b)),
        },
        other => dst.push_str(&String::from_utf8_lossy(&bytes_of(other))),
    }
}

fn int_of(value: ValueRef<'_>) -> i64 {
    match value {
        ValueRef::Integer(i) => i,
        // Not what the log writes: a sentinel that no MAC covers.
        _ => i64::MIN,
    }
}

/// The SQLite storage class of a value, as `typeof()` names it.
pub(crate) fn class(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "null",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "blob",
    }
}

/// What a column must hold.
#[derive(Clone, Copy)]
pub(crate) enum Want {
    Integer,
    Text,
    TextOrNull,
    /// A blob of exactly this many bytes.
    Blob(usize),
}

/// `None` when `value` is what `want` says, else what is wrong with it.
pub(crate) fn shape_defect(column: &str, value: ValueRef<'_>, want: Want) -> Option<String> {
    let ok = match (want, value) {
        (Want::Integer, ValueRef::Integer(_))
        | (Want::Text | Want::TextOrNull, ValueRef::Text(_))
        | (Want::TextOrNull, ValueRef::Null) => true,
        (Want::Blob(n), ValueRef::Blob(b)) => b.len() == n,
        _ => false,
    };
    if ok {
        return None;
    }
    let expected = match want {
        Want::Integer => "an integer".to_owned(),
        Want::Text => "text".to_owned(),
        Want::TextOrNull => "text or null".to_owned(),
        Want::Blob(n) => format!("a {n}-byte blob"),
    };
    let found = match value {
        ValueRef::Blob(b) => format!("a {}-byte blob", b.len()),
        other => class(other).to_owned(),
    };
    Some(format!(
        "column {column} holds {found}, expected {expected}"
    ))
}

/// The shape every column of a `records` row must have, in
/// `crate::schema::RECORD_COLUMNS` order.
const RECORD_SHAPE: [(&str, Want); 10] = [
    ("seq", Want::Integer),
    ("id", Want::Blob(16)),
    ("ts_ns", Want::Integer),
    ("kind", Want::Text),
    ("severity", Want::Integer),
    ("worker_id", Want::Text),
    ("shard_id", Want::TextOrNull),
    ("event", Want::Text),
    ("prev_mac", Want::Blob(crate::MAC_BYTES)),
    ("mac", Want::Blob(crate::MAC_BYTES)),
];

/// Reads a row of [`RECORD_COLUMNS`] into `dst`, reusing its buffers, without
/// trusting the column types: a column of the wrong storage class or size
/// is noted in `dst.defect` (the row fails as malformed); the MAC check
/// decides the rest.
///
/// [`RECORD_COLUMNS`]: crate::schema::RECORD_COLUMNS
pub(crate) fn read_raw_into(row: &Row<'_>, dst: &mut RawRecord) -> rusqlite::Result<()> {
    // Each column is fetched once (a fetch costs SQLite a type lookup and a
    // conversion): shape checked, then copied.
    let [
        seq,
        id,
        ts_ns,
        kind,
        severity,
        worker_id,
        shard_id,
        event,
        prev_mac,
        mac,
    ] = [
        row.get_ref(0)?,
        row.get_ref(1)?,
        row.get_ref(2)?,
        row.get_ref(3)?,
        row.get_ref(4)?,
        row.get_ref(5)?,
        row.get_ref(6)?,
        row.get_ref(7)?,
        row.get_ref(8)?,
        row.get_ref(9)?,
    ];
    let values = [
        seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac,
    ];
    dst.defect = RECORD_SHAPE
        .iter()
        .zip(values)
        .find_map(|((column, want), value)| shape_defect(column, value, *want));
    dst.seq = u64::try_from(int_of(seq)).unwrap_or(u64::MAX);
    set_bytes(&mut dst.id, id);
    dst.ts_ns = int_of(ts_ns);
    set_text(&mut dst.kind, kind);
    dst.severity = int_of(severity);
    set_text(&mut dst.worker_id, worker_id);
    match shard_id {
        ValueRef::Null => dst.shard_id = None,
        other => set_text(dst.shard_id.get_or_insert_with(String::new), other),
    }
    set_text(&mut dst.event, event);
    set_bytes(&mut dst.prev_mac, prev_mac);
    set_bytes(&mut dst.mac, mac);
    Ok(())
}

/// Reads a row of [`RECORD_COLUMNS`] (see [`read_raw_into`]).
///
/// [`RECORD_COLUMNS`]: crate::schema::RECORD_COLUMNS
pub(crate) fn read_raw(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    let mut raw = RawRecord::default();
    read_raw_into(row, &mut raw)?;
    Ok(raw)
}

pub(crate) fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// SQL that keeps only integer sequence numbers (text sorts above every
/// integer, so `MAX(seq)` alone could return a planted text row).
pub(crate) const INTEGER_SEQ: &str = "seq BETWEEN 1 AND 9223372036854775807";

/// A retention anchor: the chain continues after `seq`, whose MAC was `mac`;
/// `tag` authenticates them (and, from schema version 2, `dropped` and
/// `ts_ns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: u64,
    pub mac: Vec<u8>,
    pub dropped: i64,
    pub ts_ns: i64,
    pub tag: Vec<u8>,
}

impl Anchor {
    pub fn fields(&self) -> AnchorFields<'_> {
        AnchorFields {
            seq: self.seq,
            mac: &self.mac,
            dropped: self.dropped,
            ts_ns: self.ts_ns,
        }
    }
}

/// The latest retention anchor (with an integer sequence number).
pub(crate) fn latest_anchor(conn: &Connection) -> Result<Option<Anchor>, AuditError> {
    conn.query_row(
        &format!(
            "SELECT seq, mac, dropped, ts_ns, anchor_mac FROM anchors WHERE {INTEGER_SEQ} ORDER BY seq DESC LIMIT 1"
        ),
        [],
        |row| {
            Ok(Anchor {
                seq: u64::try_from(int_of(row.get_ref(0)?)).unwrap_or(0),
                mac: bytes_of(row.get_ref(1)?),
                dropped: int_of(row.get_ref(2)?),
                ts_ns: int_of(row.get_ref(3)?),
                tag: bytes_of(row.get_ref(4)?),
            })
        },
    )
    .optional()
    .map_err(AuditError::storage("reading the retention anchor"))
}

pub(crate) fn record_mac(conn: &Connection, seq: u64) -> Result<Option<Vec<u8>>, AuditError> {
    conn.query_row(
        "SELECT mac FROM records WHERE seq = ?1",
        [seq_param(seq)],
        |row| Ok(bytes_of(row.get_ref(0)?)),
    )
    .optional()
    .map_err(AuditError::storage("reading a record"))
}
