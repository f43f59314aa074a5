//! Opening a log for reading without changing a byte of it.
//!
//! A reader (verify, query, export, checkpoint) must leave the evidence as it
//! found it, also on read-only media and on a full disk. An ordinary SQLite
//! connection does not: opening a WAL database creates `-shm`, and the last
//! connection to close merges `-wal` into the main file and deletes it. So:
//!
//! - With no `-wal` file (or an empty one) the file is opened `immutable`:
//!   SQLite takes no locks and creates, merges and deletes nothing.
//! - With a `-wal` file, SQLite would ignore it under `immutable`, and those
//!   are the newest records. The reader instead takes a private snapshot in
//!   memory: the main file's bytes with the WAL's committed frames applied
//!   (the WAL format of <https://sqlite.org/fileformat2.html#walformat>:
//!   frames count only while their salts match the header and their
//!   cumulative checksums hold, and only up to the last commit frame), and
//!   opens that image read-only. The files are read twice-checked: if the
//!   main file or the WAL header changed while they were read (a writer's
//!   checkpoint), the snapshot is taken again.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use crate::AuditError;

/// Attempts at a consistent snapshot of a file and its WAL.
const SNAPSHOT_ATTEMPTS: usize = 8;
/// `WAL` magic numbers: little-endian checksums, big-endian checksums.
const WAL_MAGIC: u32 = 0x377f_0682;
const WAL_HEADER_BYTES: usize = 32;
const WAL_FRAME_HEADER_BYTES: usize = 24;

/// A read-only view of a log.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The connection (query-only).
    pub conn: Connection,
    /// A URI that opens the same immutable file again (for parallel parts);
    /// `None` for an in-memory snapshot.
    pub reopen: Option<String>,
}

/// Checks that `path` is a regular file.
fn require_file(path: &Path) -> Result<(), AuditError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => AuditError::not_found(path),
        _ => AuditError::Io {
            operation: "opening the log",
            detail: format!("{}: {e}", path.display()),
        },
    })?;
    if !meta.is_file() {
        return Err(AuditError::NotAnAuditLog {
            path: path.display().to_string(),
            detail: "it is not a regular file".to_owned(),
        });
    }
    Ok(())
}

/// Opens `path` for a follower such as a shipper (`PublicLog::open_live`),
/// never as a snapshot in memory. Where a `-wal` file exists (a writer has
/// the log open, or did not close it), through an ordinary read-only
/// connection sharing SQLite's locks and `-shm` index with the writer,
/// which never writes the database or its `-wal`; a read transaction is
/// begun, so every read sees one state of the log, the one committed at
/// its first read, until the connection is closed. Where none exists (the
/// log was closed cleanly), `immutable` as [`open`] does, so no `-wal` or
/// `-shm` is created beside a log nobody has open.
pub(crate) fn open_live(path: &Path) -> Result<Connection, AuditError> {
    require_file(path)?;
    if !wal_path(path).exists() {
        return open_uri(&immutable_uri(path));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(AuditError::storage("opening the log read-only"))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(AuditError::storage("opening the log read-only"))?;
    read_only(&conn)?;
    conn.execute_batch("BEGIN DEFERRED")
        .map_err(AuditError::storage("opening the log read-only"))?;
    Ok(conn)
}

/// Opens `path` for reading only (see the module docs).
pub(crate) fn open(path: &Path) -> Result<Snapshot, AuditError> {
    require_file(path)?;
    let wal = wal_path(path);
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    if wal_len == 0 {
        let uri = immutable_uri(path);
        let conn = open_uri(&uri)?;
        return Ok(Snapshot {
            conn,
            reopen: Some(uri),
        });
    }
    let image = memory_image(path, &wal)?;
    let mut conn =
        Connection::open_in_memory().map_err(AuditError::storage("opening a snapshot"))?;
    let len = image.len();
    conn.deserialize_read_exact(MAIN_DB, image.as_slice(), len, true)
        .map_err(AuditError::storage("opening a snapshot"))?;
    read_only(&conn)?;
    Ok(Snapshot { conn, reopen: None })
}

/// Opens an `immutable` URI read-only.
pub(crate) fn open_uri(uri: &str) -> Result<Connection, AuditError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags)
        .map_err(AuditError::storage("opening the log read-only"))?;
    read_only(&conn)?;
    conn.execute_batch("BEGIN DEFERRED")
        .map_err(AuditError::storage("opening the log read-only"))?;
    Ok(conn)
}

fn read_only(conn: &Connection) -> Result<(), AuditError> {
    conn.pragma_update(None, "query_only", true)
        .map_err(AuditError::storage("opening the log read-only"))
}

/// The `-wal` file beside `path`.
pub(crate) fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// `file:` URI of `path` with `immutable=1`, percent-encoding every byte
/// that is not unreserved (RFC 3986) or `/`.
fn immutable_uri(path: &Path) -> String {
    use std::fmt::Write as _;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut uri = String::from("file:");
    for &b in absolute.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// Length and modification time: what a writer's checkpoint changes.
fn stamp(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

fn read(path: &Path, operation: &'static str) -> Result<Vec<u8>, AuditError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        // The WAL may vanish between the look and the read (a writer closed).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(AuditError::Io {
            operation,
            detail: format!("{}: {e}", path.display()),
        }),
    }
}

/// The main file with the WAL's committed frames applied, taken again if a
/// writer changed the files while they were read.
fn memory_image(path: &Path, wal: &Path) -> Result<Vec<u8>, AuditError> {
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let before = stamp(path);
        let db = read(path, "reading the log")?;
        let wal_bytes = read(wal, "reading the log's -wal file")?;
        let after = stamp(path);
        let wal_head_after = read_head(wal);
        let wal_head = wal_bytes.get(..WAL_HEADER_BYTES).map(<[u8]>::to_vec);
        if before == after && wal_head == wal_head_after {
            return Ok(apply_wal(db, &wal_bytes));
        }
    }
    Err(AuditError::Io {
        operation: "taking a snapshot of the log",
        detail: format!(
            "{} kept changing while it was read ({SNAPSHOT_ATTEMPTS} attempts); retry when the writer is idle",
            path.display()
        ),
    })
}

fn read_head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).ok()?;
    let mut head = vec![0u8; WAL_HEADER_BYTES];
    file.read_exact(&mut head).ok()?;
    Some(head)
}

fn word(bytes: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    })
}

/// The WAL checksum: over pairs of 32-bit words, Fibonacci-weighted.
fn checksum(data: &[u8], big_endian: bool, mut s: (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let x0 = word(pair, 0, big_endian).unwrap_or(0);
        let x1 = word(pair, 4, big_endian).unwrap_or(0);
        s.0 = s.0.wrapping_add(x0).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(x1).wrapping_add(s.0);
    }
    s
}

/// Applies the committed frames of `wal` to the database image `db`, as
/// SQLite's recovery would, and marks the image as not in WAL mode (an
/// in-memory database has no WAL). A WAL with a bad header adds nothing.
pub(crate) fn apply_wal(mut db: Vec<u8>, wal: &[u8]) -> Vec<u8> {
    if let Some((frames, pages)) = committed_frames(wal) {
        let page_size = frames.page_size;
        for (pgno, offset) in frames.pages {
            let Some(page) = wal.get(offset..offset + page_size) else {
                continue;
            };
            let start = (pgno as usize - 1) * page_size;
            if db.len() < start + page_size {
                db.resize(start + page_size, 0);
            }
            if let Some(dst) = db.get_mut(start..start + page_size) {
                dst.copy_from_slice(page);
            }
        }
        db.truncate(pages as usize * page_size);
    }
    // Bytes 18 and 19 of the header: file format versions, 2 = WAL.
    if let Some(versions) = db.get_mut(18..20)
        && versions == [2, 2]
    {
        versions.copy_from_slice(&[1, 1]);
    }
    db
}

/// The frames to apply: (page number, offset of the page in the WAL).
struct Frames {
    page_size: usize,
    pages: Vec<(u32, usize)>,
}

/// The valid frames up to the last commit, and the database size in pages
/// after it; `None` when the WAL holds no committed transaction.
fn committed_frames(wal: &[u8]) -> Option<(Frames, u32)> {
    let magic = word(wal, 0, true)?;
    if magic & !1 != WAL_MAGIC {
        return None;
    }
    let big_endian = magic & 1 == 1;
    let page_size = word(wal, 8, true)? as usize;
    if !page_size.is_power_of_two() || !(512..=65_536).contains(&page_size) {
        return None;
    }
    let header = wal.get(..WAL_HEADER_BYTES)?;
    let mut sum = checksum(header.get(..24)?, big_endian, (0, 0));
    if sum != (word(header, 24, true)?, word(header, 28, true)?) {
        return None;
    }
    let salts = header.get(16..24)?;
    let frame_bytes = WAL_FRAME_HEADER_BYTES + page_size;
    let mut pending = Vec::new();
    let mut committed = Vec::new();
    let mut pages = None;
    let mut offset = WAL_HEADER_BYTES;
    while let Some(frame) = wal.get(offset..offset + frame_bytes) {
        let (head, page) = frame.split_at(WAL_FRAME_HEADER_BYTES);
        if head.get(8..16)? != salts {
            break;
        }
        sum = checksum(head.get(..8)?, big_endian, sum);
        sum = checksum(page, big_endian, sum);
        if sum != (word(head, 16, true)?, word(head, 20, true)?) {
            break;
        }
        let pgno = word(head, 0, true)?;
        if pgno == 0 {
            break;
        }
        pending.push((pgno, offset + WAL_FRAME_HEADER_BYTES));
        let size_after_commit = word(head, 4, true)?;
        if size_after_commit != 0 {
            committed.append(&mut pending);
            pages = Some(size_after_commit);
        }
        offset += frame_bytes;
    }
    pages.map(|pages| {
        (
            Frames {
                page_size,
                pages: committed,
            },
            pages,
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn uri_escapes_what_a_uri_cannot_hold() {
        let uri = immutable_uri(Path::new("/tmp/a b?c#d%e/ü.db"));
        assert_eq!(uri, "file:/tmp/a%20b%3Fc%23d%25e/%C3%BC.db?immutable=1");
    }

    #[test]
    fn a_wal_with_a_bad_header_adds_nothing() {
        let db = vec![7u8; 1024];
        assert_eq!(apply_wal(db.clone(), &[0u8; 100]), db);
        assert_eq!(apply_wal(db.clone(), &[]), db);
    }
}
