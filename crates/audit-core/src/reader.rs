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
    memory_image_with(path, wal, || {})
}

/// [`memory_image`], calling `while_read` after the files were read and
/// before they are looked at again: where a test plays the writer.
fn memory_image_with(
    path: &Path,
    wal: &Path,
    mut while_read: impl FnMut(),
) -> Result<Vec<u8>, AuditError> {
    for _ in 0..SNAPSHOT_ATTEMPTS {
        let before = stamp(path);
        let db = read(path, "reading the log")?;
        let wal_bytes = read(wal, "reading the log's -wal file")?;
        while_read();
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
            let end = start + page_size;
            // A page past the end grows the image, zeros between.
            db.resize(db.len().max(end), 0);
            if let Some(dst) = db.get_mut(start..end) {
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

    /// The WAL checksum as the file-format page states it, written apart
    /// from [`checksum`] so that a fault in one is not copied into the other.
    fn spec_checksum(data: &[u8], big_endian: bool, (mut s0, mut s1): (u32, u32)) -> (u32, u32) {
        let words: Vec<u32> = data
            .chunks(4)
            .map(|c| {
                let raw = [c[0], c[1], c[2], c[3]];
                if big_endian {
                    u32::from_be_bytes(raw)
                } else {
                    u32::from_le_bytes(raw)
                }
            })
            .collect();
        for pair in words.chunks(2) {
            s0 = s0.wrapping_add(pair[0]).wrapping_add(s1);
            s1 = s1.wrapping_add(pair[1]).wrapping_add(s0);
        }
        (s0, s1)
    }

    /// A page whose bytes differ, so that byte order and offsets show.
    fn page(size: usize, fill: u8) -> Vec<u8> {
        (0..size).map(|i| fill ^ (i as u8)).collect()
    }

    /// A WAL built by hand, frame by frame, as SQLite writes one.
    struct Wal {
        page_size: usize,
        big_endian: bool,
        sum: (u32, u32),
        bytes: Vec<u8>,
    }

    const SALTS: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

    impl Wal {
        fn new(page_size: u32, big_endian: bool) -> Self {
            let mut bytes = Vec::new();
            bytes.extend((WAL_MAGIC | u32::from(big_endian)).to_be_bytes());
            bytes.extend(3_007_000u32.to_be_bytes());
            bytes.extend(page_size.to_be_bytes());
            bytes.extend(0u32.to_be_bytes());
            bytes.extend(SALTS);
            let sum = spec_checksum(&bytes, big_endian, (0, 0));
            bytes.extend(sum.0.to_be_bytes());
            bytes.extend(sum.1.to_be_bytes());
            Self {
                page_size: page_size as usize,
                big_endian,
                sum,
                bytes,
            }
        }

        /// A frame of page `pgno`; `commit` is the database's size in
        /// pages after a commit frame, 0 in the others.
        fn frame(mut self, pgno: u32, commit: u32, fill: u8) -> Self {
            let mut head = Vec::new();
            head.extend(pgno.to_be_bytes());
            head.extend(commit.to_be_bytes());
            head.extend(SALTS);
            let body = page(self.page_size, fill);
            self.sum = spec_checksum(&head[..8], self.big_endian, self.sum);
            self.sum = spec_checksum(&body, self.big_endian, self.sum);
            head.extend(self.sum.0.to_be_bytes());
            head.extend(self.sum.1.to_be_bytes());
            self.bytes.extend(head);
            self.bytes.extend(body);
            self
        }

        /// Where frame `k` (from 0) starts.
        fn frame_at(&self, k: usize) -> usize {
            WAL_HEADER_BYTES + k * (WAL_FRAME_HEADER_BYTES + self.page_size)
        }
    }

    const PS: usize = 512;

    /// A database image of `pages` pages of 512 bytes in WAL mode.
    fn image(pages: usize) -> Vec<u8> {
        let mut db = vec![0xAA; pages * PS];
        db[18..20].copy_from_slice(&[2, 2]);
        db
    }

    fn page_of(db: &[u8], pgno: usize) -> &[u8] {
        &db[(pgno - 1) * PS..pgno * PS]
    }

    /// The helper above agrees with SQLite: the checksums of a WAL that
    /// SQLite wrote verify with it, header and every frame.
    #[test]
    fn ac_017_the_hand_built_wal_checksums_as_sqlite_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
             CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(3000));
             INSERT INTO t VALUES (randomblob(3000));",
        )
        .unwrap();
        let wal = std::fs::read(wal_path(&path)).unwrap();
        let big_endian = wal[3] & 1 == 1;
        let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
        let mut sum = spec_checksum(&wal[..24], big_endian, (0, 0));
        assert_eq!(
            wal[24..32],
            [sum.0.to_be_bytes(), sum.1.to_be_bytes()].concat()
        );
        let frames = (wal.len() - WAL_HEADER_BYTES) / (WAL_FRAME_HEADER_BYTES + page_size);
        assert!(frames >= 3, "{frames} frames");
        for k in 0..frames {
            let at = WAL_HEADER_BYTES + k * (WAL_FRAME_HEADER_BYTES + page_size);
            sum = spec_checksum(&wal[at..at + 8], big_endian, sum);
            let body = at + WAL_FRAME_HEADER_BYTES;
            sum = spec_checksum(&wal[body..body + page_size], big_endian, sum);
            assert_eq!(
                wal[at + 16..at + 24],
                [sum.0.to_be_bytes(), sum.1.to_be_bytes()].concat()
            );
        }
        // And the frames it committed are what `committed_frames` finds.
        let (found, pages) = committed_frames(&wal).unwrap();
        assert_eq!(found.page_size, page_size);
        assert_eq!(found.pages.len(), frames);
        assert!(pages >= 2);
    }

    #[test]
    fn ac_017_committed_frames_are_applied_at_their_pages() {
        // Page 2 replaced; page 4 beyond the file: it grows, page 3 zeroed.
        let wal = Wal::new(PS as u32, false)
            .frame(2, 0, 0xB2)
            .frame(4, 4, 0xC4);
        let out = apply_wal(image(2), &wal.bytes);
        assert_eq!(out.len(), 4 * PS);
        assert_eq!(&out[..18], &[0xAA; 18]);
        assert_eq!(&out[20..PS], &[0xAA; PS - 20]);
        assert_eq!(page_of(&out, 2), page(PS, 0xB2));
        assert_eq!(page_of(&out, 3), &[0u8; PS]);
        assert_eq!(page_of(&out, 4), page(PS, 0xC4));
        // A later transaction's frame of the same page wins.
        let wal = wal.frame(2, 4, 0xD2);
        let out = apply_wal(image(2), &wal.bytes);
        assert_eq!(page_of(&out, 2), page(PS, 0xD2));
    }

    #[test]
    fn ac_017_big_endian_checksums_are_read_when_the_magic_says_so() {
        let wal = Wal::new(PS as u32, true).frame(2, 2, 0xB2);
        assert_eq!(page_of(&apply_wal(image(2), &wal.bytes), 2), page(PS, 0xB2));
        // The same frames under the other magic fail their checksums.
        let mut other = wal.bytes.clone();
        other[3] ^= 1;
        assert_eq!(apply_wal(image(2), &other)[PS..], image(2)[PS..]);
    }

    #[test]
    fn ac_017_frames_after_the_last_commit_are_not_applied() {
        let wal = Wal::new(PS as u32, false)
            .frame(2, 2, 0xB2)
            .frame(2, 0, 0xD2);
        let out = apply_wal(image(2), &wal.bytes);
        assert_eq!(page_of(&out, 2), page(PS, 0xB2));
        let uncommitted = Wal::new(PS as u32, false)
            .frame(2, 0, 0xB2)
            .frame(3, 0, 0xC3);
        assert!(committed_frames(&uncommitted.bytes).is_none());
        let out = apply_wal(image(2), &uncommitted.bytes);
        assert_eq!(out.len(), 2 * PS);
        assert_eq!(page_of(&out, 2), page_of(&image(2), 2));
    }

    #[test]
    fn ac_017_a_commit_can_shrink_the_database() {
        let wal = Wal::new(PS as u32, false).frame(1, 1, 0x11);
        assert_eq!(apply_wal(image(3), &wal.bytes), page(PS, 0x11));
    }

    #[test]
    fn ac_017_other_salts_a_bad_checksum_page_zero_or_a_torn_frame_end_the_wal() {
        let wal = Wal::new(PS as u32, false)
            .frame(2, 2, 0xB2)
            .frame(3, 3, 0xC3)
            .frame(4, 4, 0xD4);
        let second = wal.frame_at(1);
        let whole = apply_wal(image(2), &wal.bytes);
        assert_eq!(whole.len(), 4 * PS);
        // Each fault in the second frame leaves only the first transaction,
        // also where the third frame is intact.
        for (what, at) in [
            ("salt", second + 8),
            ("salt", second + 15),
            ("checksum", second + 16),
            ("checksum", second + 23),
            ("page", second + WAL_FRAME_HEADER_BYTES + 100),
            ("size after commit", second + 4),
        ] {
            let mut bytes = wal.bytes.clone();
            bytes[at] ^= 0x40;
            let out = apply_wal(image(2), &bytes);
            assert_eq!(out.len(), 2 * PS, "{what}");
            assert_eq!(page_of(&out, 2), page(PS, 0xB2), "{what}");
        }
        let torn = &wal.bytes[..wal.bytes.len() - 1];
        assert_eq!(apply_wal(image(2), torn).len(), 3 * PS);
        // A frame of page 0 (checksums intact) ends the WAL too.
        let zero = Wal::new(PS as u32, false)
            .frame(2, 2, 0xB2)
            .frame(0, 3, 0xEE)
            .frame(3, 3, 0xC3);
        let out = apply_wal(image(2), &zero.bytes);
        assert_eq!(out.len(), 2 * PS);
        assert_eq!(page_of(&out, 2), page(PS, 0xB2));
    }

    #[test]
    fn ac_017_a_bad_header_checksum_or_page_size_adds_nothing() {
        let wal = Wal::new(PS as u32, false).frame(2, 2, 0xB2);
        for at in [4, 12, 16, 24, 31] {
            let mut bytes = wal.bytes.clone();
            bytes[at] ^= 1;
            assert!(committed_frames(&bytes).is_none(), "header byte {at}");
        }
        // The page sizes SQLite has, 512 to 65,536, and no other.
        for size in [512u32, 1024, 65_536] {
            let wal = Wal::new(size, false).frame(1, 1, 0x11);
            assert_eq!(
                apply_wal(Vec::new(), &wal.bytes),
                page(size as usize, 0x11),
                "{size}"
            );
        }
        for size in [256u32, 768, 1000, 131_072] {
            let wal = Wal::new(size, false).frame(1, 1, 0x11);
            assert!(committed_frames(&wal.bytes).is_none(), "{size}");
        }
    }

    #[test]
    fn ac_017_only_a_wal_mode_header_is_marked_out_of_wal_mode() {
        assert_eq!(apply_wal(image(1), &[])[18..20], [1, 1]);
        for versions in [[1u8, 1], [2, 1], [1, 2]] {
            let mut db = image(1);
            db[18..20].copy_from_slice(&versions);
            assert_eq!(apply_wal(db, &[])[18..20], versions);
        }
        assert_eq!(apply_wal(vec![2; 19], &[]), vec![2; 19]);
    }

    /// A log whose main file or `-wal` header changes while it is read (a
    /// writer checkpointing) is read again; one that keeps changing is never
    /// taken as a snapshot, and the error says to retry.
    #[test]
    fn ac_017_a_log_that_changes_while_it_is_read_is_read_again() {
        use std::io::Write as _;
        use std::os::unix::fs::FileExt as _;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let wal = wal_path(&path);
        std::fs::write(&path, image(1)).unwrap();
        std::fs::write(&wal, Wal::new(PS as u32, false).frame(1, 1, 0x11).bytes).unwrap();
        let mut reads = 0;
        assert_eq!(
            memory_image_with(&path, &wal, || reads += 1).unwrap(),
            page(PS, 0x11)
        );
        assert_eq!(reads, 1, "an unchanged log is read once");

        // The main file grows by a byte; the WAL's checkpoint number moves.
        let grow = |_: u32| {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(b"x").unwrap();
        };
        let checkpoint = |n: u32| {
            let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
            file.write_all_at(&n.to_be_bytes(), 12).unwrap();
        };
        for (what, change) in [
            ("main file", &grow as &dyn Fn(u32)),
            ("wal header", &checkpoint),
        ] {
            // Changed during the first read only: the second read is taken.
            let mut reads = 0u32;
            let taken = memory_image_with(&path, &wal, || {
                reads += 1;
                if reads == 1 {
                    change(reads);
                }
            })
            .unwrap();
            assert_eq!(reads, 2, "{what}");
            if what == "main file" {
                assert_eq!(taken, page(PS, 0x11));
            } else {
                // A moved header fails its checksum: the WAL adds nothing.
                assert_eq!(taken[20..PS], image(1)[20..PS]);
            }
            // Changed during every read: given up after every attempt.
            let mut reads = 0u32;
            let result = memory_image_with(&path, &wal, || {
                reads += 1;
                change(reads + 1_000);
            });
            assert_eq!(reads as usize, SNAPSHOT_ATTEMPTS, "{what}");
            match result {
                Err(AuditError::Io { operation, detail }) => {
                    assert_eq!(operation, "taking a snapshot of the log", "{what}");
                    assert!(
                        detail.contains("kept changing") && detail.contains("retry"),
                        "{detail}"
                    );
                }
                other => panic!(
                    "{what}: a changing log was taken: {:?}",
                    other.map(|i| i.len())
                ),
            }
        }
    }

    /// Every reader's connection is `query_only`, and one on the file is
    /// also opened read-only, with a `-wal` and without: nothing can write
    /// through it. (A snapshot is a copy in memory: it cannot reach the
    /// file at all.)
    #[test]
    fn ac_017_every_reader_connection_is_query_only_and_read_only_on_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;
                 CREATE TABLE t(x); INSERT INTO t VALUES (1);",
            )
            .unwrap();
        let check = |conn: &Connection, how: &str, on_the_file: bool| {
            let query_only: i64 = conn
                .pragma_query_value(None, "query_only", |r| r.get(0))
                .unwrap();
            assert_eq!(query_only, 1, "{how}");
            assert_eq!(conn.is_readonly(MAIN_DB).unwrap(), on_the_file, "{how}");
            let count: i64 = conn
                .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 1, "{how}");
        };
        assert!(wal_path(&path).exists());
        check(&open(&path).unwrap().conn, "snapshot beside a -wal", false);
        check(&open_live(&path).unwrap(), "live beside a -wal", true);
        drop(writer);
        assert!(!wal_path(&path).exists());
        let snapshot = open(&path).unwrap();
        check(&snapshot.conn, "immutable", true);
        check(
            &open_uri(snapshot.reopen.as_deref().unwrap()).unwrap(),
            "reopened",
            true,
        );
        check(&open_live(&path).unwrap(), "live, closed cleanly", true);
    }

    /// A `-wal` that vanished between the look and the read is no WAL; one
    /// that cannot be read is an error, not an empty WAL.
    #[test]
    fn ac_017_a_vanished_wal_is_empty_an_unreadable_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read(&dir.path().join("gone"), "reading").unwrap(),
            Vec::<u8>::new()
        );
        assert!(matches!(
            read(dir.path(), "reading"),
            Err(AuditError::Io { .. })
        ));
        std::fs::write(dir.path().join("f"), b"abc").unwrap();
        assert_eq!(read(&dir.path().join("f"), "reading").unwrap(), b"abc");
    }
}
