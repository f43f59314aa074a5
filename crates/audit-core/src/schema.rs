//! The SQLite schema: tables, indexes, append-only triggers, version check
//! and connection settings.
//!
//! The database header carries an application id (`AUDT`) and a schema
//! version (`PRAGMA user_version`); a file with another version is refused
//! with [`AuditError::UnknownSchema`]. Triggers reject `UPDATE` and `DELETE`
//! on the records, so an ordinary SQL client cannot edit the log by mistake;
//! the one sanctioned deletion is retention, which may delete only records
//! at or below a MAC-authenticated anchor written in the same transaction.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::AuditError;

/// The schema version this build creates: version 2 plus the Merkle tree
/// (`tree`) and the signed checkpoints (`checkpoints`). Version 1 and 2
/// logs are still read and verified, and migrated to this version when
/// opened for writing (see [`SUPPORTED_SCHEMA_VERSIONS`]).
pub const SCHEMA_VERSION: i64 = 3;

/// The first schema version with a Merkle tree over the records.
pub const TREE_SCHEMA_VERSION: i64 = 3;

/// Every schema version this build reads.
pub const SUPPORTED_SCHEMA_VERSIONS: [i64; 3] = [1, 2, 3];

/// SQLite application id of an audit log: ASCII `AUDT`.
pub const APPLICATION_ID: i64 = 0x4155_4454;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of the file SQLite may memory-map for reading.
const MMAP_BYTES: i64 = 1 << 30;

/// Version 2: `STRICT` tables with `CHECK`s on every column's shape, and
/// triggers that refuse every change outside the sanctioned paths (append
/// the next record; retention's anchor and deletes). These are a first line
/// only: the verifier trusts none of it (an attacker can rebuild a table).
const CREATE: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE records (
    seq       INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    id        BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    ts_ns     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    severity  INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 3),
    worker_id TEXT NOT NULL,
    shard_id  TEXT,
    event     TEXT NOT NULL,
    prev_mac  BLOB NOT NULL CHECK (length(prev_mac) = 32),
    mac       BLOB NOT NULL CHECK (length(mac) = 32)
) STRICT;
CREATE INDEX records_ts ON records(ts_ns);
CREATE INDEX records_kind ON records(kind);
CREATE INDEX records_shard ON records(shard_id) WHERE shard_id IS NOT NULL;
CREATE TABLE anchors (
    seq        INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    mac        BLOB NOT NULL CHECK (length(mac) = 32),
    dropped    INTEGER NOT NULL CHECK (dropped >= 1),
    ts_ns      INTEGER NOT NULL,
    anchor_mac BLOB NOT NULL CHECK (length(anchor_mac) = 32)
) STRICT;
";

/// Version 3: the Merkle tree in `tlog`'s stored-hash layout, one row per
/// appended batch (`hashes` is the concatenation of the 32-byte hashes at
/// stored indexes `first, first + 1, …`), and the signed checkpoints (C2SP
/// notes, with the cosignatures added later).
const CREATE_TREE: &str = "
CREATE TABLE tree (
    first  INTEGER PRIMARY KEY NOT NULL CHECK (first >= 0),
    hashes BLOB NOT NULL CHECK (length(hashes) >= 32 AND length(hashes) % 32 = 0)
) STRICT;
CREATE TABLE checkpoints (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id >= 1),
    size  INTEGER NOT NULL CHECK (size >= 0),
    root  BLOB NOT NULL CHECK (length(root) = 32),
    ts_ns INTEGER NOT NULL,
    note  TEXT NOT NULL
) STRICT;
CREATE INDEX checkpoints_size ON checkpoints(size);
";

/// Version 3's triggers: a block of tree hashes is appended exactly where
/// the previous one ends and never changed; a checkpoint row is appended with the next id and its
/// note only ever grows (cosignature lines added at its end).
const TREE_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS tree_no_update BEFORE UPDATE ON tree
BEGIN SELECT RAISE(ABORT, 'audit tree hashes are append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS tree_no_delete BEFORE DELETE ON tree
BEGIN SELECT RAISE(ABORT, 'audit tree hashes are append-only: DELETE is refused'); END;
CREATE TRIGGER IF NOT EXISTS tree_append_only BEFORE INSERT ON tree
WHEN NEW.first IS NOT COALESCE((SELECT first + length(hashes) / 32 FROM tree ORDER BY first DESC LIMIT 1), 0)
BEGIN SELECT RAISE(ABORT, 'audit tree hashes are appended in order: this INSERT is refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: DELETE is refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_only_cosignatures BEFORE UPDATE ON checkpoints
WHEN NEW.id IS NOT OLD.id OR NEW.size IS NOT OLD.size OR NEW.root IS NOT OLD.root
  OR NEW.ts_ns IS NOT OLD.ts_ns OR length(NEW.note) <= length(OLD.note)
  OR substr(NEW.note, 1, length(OLD.note)) IS NOT OLD.note
BEGIN SELECT RAISE(ABORT, 'audit checkpoints only gain cosignature lines: this UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_append_only BEFORE INSERT ON checkpoints
WHEN NEW.id IS NOT COALESCE((SELECT MAX(id) FROM checkpoints), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are appended in order: this INSERT is refused'); END;
";

/// Triggers of every version, created after the metadata rows are in.
const TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
WHEN OLD.seq > (SELECT COALESCE(MAX(seq), 0) FROM anchors)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE is refused (retention deletes only below an anchor)'); END;
CREATE TRIGGER IF NOT EXISTS anchors_no_update BEFORE UPDATE ON anchors
BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS anchors_no_delete BEFORE DELETE ON anchors
BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only: DELETE is refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'audit metadata is append-only: UPDATE is refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'audit metadata is append-only: DELETE is refused'); END;
";

/// From version 2: inserts outside the sanctioned paths are refused too.
const INSERT_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS meta_no_insert BEFORE INSERT ON meta
BEGIN SELECT RAISE(ABORT, 'audit metadata is written once, at creation: INSERT is refused'); END;
CREATE TRIGGER IF NOT EXISTS anchors_only_retention BEFORE INSERT ON anchors
WHEN NEW.mac IS NOT (SELECT mac FROM records WHERE seq = NEW.seq)
  OR NEW.seq <= (SELECT COALESCE(MAX(seq), 0) FROM anchors)
BEGIN SELECT RAISE(ABORT, 'audit anchors are written by retention only: this INSERT is refused'); END;
CREATE TRIGGER IF NOT EXISTS records_append_only BEFORE INSERT ON records
WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM records),
                             (SELECT MAX(seq) FROM anchors), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit records are appended in sequence: this INSERT is refused'); END;
";

/// The insert every writer uses (also the benchmark's baseline).
pub(crate) const INSERT_RECORD: &str = "INSERT INTO records \
    (seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// The columns of [`crate::record::RawRecord`], in order.
pub(crate) const RECORD_COLUMNS: &str =
    "seq, id, ts_ns, kind, severity, worker_id, shard_id, event, prev_mac, mac";

/// What the header of an opened database says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaState {
    /// No tables yet: a new file.
    Empty,
    /// An audit log of a version this build reads (1, 2 or 3).
    Current(i64),
    /// An audit log of another version.
    Unknown(i64),
}

/// Opens, creating the file if there is none, a read-write connection with
/// the log's settings. For writers only: readers go through
/// [`crate::reader`].
pub(crate) fn connect(path: &Path) -> Result<Connection, AuditError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(AuditError::storage("opening the log"))?;
    apply_pragmas(&conn)?;
    Ok(conn)
}

/// The per-connection settings: busy timeout and `synchronous=FULL`.
pub(crate) fn apply_pragmas(conn: &Connection) -> Result<(), AuditError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(AuditError::storage("setting the busy timeout"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(AuditError::storage("setting synchronous=FULL"))?;
    // Reads (verification, queries) go through a memory map instead of a
    // read() per page; writes are unaffected.
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)
        .map_err(AuditError::storage("setting mmap_size"))?;
    Ok(())
}

/// Switches the file to the WAL journal (persistent; writers only, and only
/// once the file is known to be an audit log). Changing the journal mode
/// needs a moment alone with the file, and SQLite answers "locked" at once,
/// without its busy handler, while another connection opens it; so this
/// retries for up to the busy timeout.
pub(crate) fn enable_wal(conn: &Connection) -> Result<(), AuditError> {
    let started = std::time::Instant::now();
    loop {
        let mode = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get::<_, String>(0));
        match mode {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(AuditError::Storage {
                    operation: "enabling WAL",
                    detail: format!("journal mode stayed {mode:?}"),
                });
            }
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(AuditError::storage("enabling WAL")(e)),
        }
    }
}

/// Reads the header and says what kind of database this is. A database
/// with another application id, or none and tables of its own, is not an
/// audit log.
pub(crate) fn inspect(conn: &Connection, path: &Path) -> Result<SchemaState, AuditError> {
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |row| row.get(0))
        .map_err(AuditError::storage("reading the header"))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(AuditError::storage("reading the header"))?;
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(AuditError::storage("reading the header"))?;
    if app_id == 0 && version == 0 && tables == 0 {
        return Ok(SchemaState::Empty);
    }
    if app_id != APPLICATION_ID {
        return Err(AuditError::NotAnAuditLog {
            path: path.display().to_string(),
            detail: format!("its application id is {app_id:#x}, not AUDT"),
        });
    }
    if SUPPORTED_SCHEMA_VERSIONS.contains(&version) {
        Ok(SchemaState::Current(version))
    } else {
        Ok(SchemaState::Unknown(version))
    }
}

/// Makes `conn`'s file an audit log of `worker_id` unless it already is
/// one: inspected again inside one `IMMEDIATE` transaction, so two
/// processes creating the same new log at once make one schema, and the
/// second finds it. Returns the state found (for a new log, `Current`).
pub(crate) fn create_if_empty(
    conn: &mut Connection,
    path: &Path,
    worker_id: &str,
    now_ns: i64,
) -> Result<SchemaState, AuditError> {
    let op = AuditError::storage("creating the schema");
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(op)?;
    let state = inspect(&tx, path)?;
    if state != SchemaState::Empty {
        return Ok(state);
    }
    let op = || AuditError::storage("creating the schema");
    tx.execute_batch(CREATE).map_err(op())?;
    tx.execute_batch(CREATE_TREE).map_err(op())?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(op())?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(op())?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('worker_id', ?1), ('created_ns', ?2), ('schema_version', ?3)",
        rusqlite::params![worker_id, now_ns.to_string(), SCHEMA_VERSION.to_string()],
    )
    .map_err(op())?;
    tx.execute_batch(TRIGGERS).map_err(op())?;
    tx.execute_batch(INSERT_TRIGGERS).map_err(op())?;
    tx.execute_batch(TREE_TRIGGERS).map_err(op())?;
    tx.commit().map_err(op())?;
    tracing::info!(worker_id, path = %path.display(), "created audit log");
    Ok(SchemaState::Current(SCHEMA_VERSION))
}

/// Adds the tables and triggers of schema 3 to a log of schema `from`
/// (inside the migration's transaction); a schema-1 log also gets the
/// insert triggers of schema 2.
pub(crate) fn add_tree_tables(conn: &Connection, from: i64) -> Result<(), AuditError> {
    let op = || AuditError::storage("migrating the log");
    conn.execute_batch(CREATE_TREE).map_err(op())?;
    if from < 2 {
        conn.execute_batch(INSERT_TRIGGERS).map_err(op())?;
    }
    conn.execute_batch(TREE_TRIGGERS).map_err(op())
}

/// Sets the schema version in the header and in `meta` (inside the
/// migration's transaction: the one sanctioned change of a `meta` row).
pub(crate) fn set_version(conn: &Connection, version: i64) -> Result<(), AuditError> {
    let op = || AuditError::storage("migrating the log");
    conn.execute_batch("DROP TRIGGER IF EXISTS meta_no_update")
        .map_err(op())?;
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [version.to_string()],
    )
    .map_err(op())?;
    conn.pragma_update(None, "user_version", version)
        .map_err(op())?;
    conn.execute_batch(TRIGGERS).map_err(op())
}

/// The worker id stored when the log was created.
pub(crate) fn stored_worker_id(conn: &Connection) -> Result<Option<String>, AuditError> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'worker_id'",
        [],
        |row| row.get(0),
    )
    .optional()
    .map_err(AuditError::storage("reading the worker id"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// WAL or nothing: a database that stays in another journal mode (an
    /// in-memory one stays `memory`) is an error, not a writer without WAL.
    #[test]
    fn ac_010_a_journal_mode_other_than_wal_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        match enable_wal(&conn) {
            Err(AuditError::Storage { operation, detail }) => {
                assert_eq!(operation, "enabling WAL");
                assert!(detail.contains("memory"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// AC-016: while another connection holds a write transaction on the
    /// file, switching it to WAL answers "busy" at once, without SQLite's
    /// busy handler; the switch is tried again until that transaction
    /// ends. Any other error is returned at once, not retried.
    #[test]
    fn ac_016_switching_to_wal_waits_for_a_writer_and_only_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = connect(&path).unwrap();
        conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
        let (held, holding) = std::sync::mpsc::sync_channel::<()>(1);
        let writer = std::thread::spawn({
            let path = path.clone();
            move || {
                let other = Connection::open(&path).unwrap();
                other
                    .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (2);")
                    .unwrap();
                let _: i64 = other
                    .query_row("SELECT x FROM t", [], |r| r.get(0))
                    .unwrap();
                held.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(300));
                other.execute_batch("COMMIT").unwrap();
            }
        });
        // The other connection holds its lock: the first answer is busy.
        holding.recv().unwrap();
        let started = std::time::Instant::now();
        enable_wal(&conn).unwrap();
        writer.join().unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "the other transaction was not waited for"
        );
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");

        // A read-only connection cannot switch: refused at once, well within
        // the busy timeout it would wait for a lock.
        let plain = dir.path().join("p.db");
        Connection::open(&plain)
            .unwrap()
            .execute_batch("CREATE TABLE t(x);")
            .unwrap();
        let read_only =
            Connection::open_with_flags(&plain, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let started = std::time::Instant::now();
        assert!(enable_wal(&read_only).is_err());
        assert!(
            started.elapsed() < BUSY_TIMEOUT / 2,
            "{:?}",
            started.elapsed()
        );
    }
}
