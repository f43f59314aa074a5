//! The log's identity for public verification: its origin, and the Ed25519
//! key that signs its checkpoints (`AC-091`).
//!
//! The key is **not** derived from the worker secret: whoever holds the
//! secret can recompute every MAC, so a checkpoint key derived from it
//! would let a compromised host sign a rewritten history. This key is
//! generated at random once, kept in a file of its own (mode 0600, ideally
//! on another machine or in an HSM-backed signer), and its public half (a
//! C2SP vkey) is what auditors and witnesses are given.

use std::io::{Read as _, Write as _};
use std::path::Path;

use tlog::{SignatureType, SignerKey};
use zeroize::Zeroizing;

use crate::AuditError;
use crate::record::validate_worker_id;

/// What every origin starts with; the worker id follows, percent-encoded.
pub const ORIGIN_PREFIX: &str = "vram-residency/audit/";

/// The most bytes a key file may hold (an skey of the longest origin is
/// under 600). Longer files are refused unread.
pub const MAX_LOG_KEY_FILE_BYTES: u64 = 1024;

fn key_error(reason: impl Into<String>) -> AuditError {
    AuditError::LogKey {
        reason: reason.into(),
    }
}

/// The origin of the log of `worker_id` (`AC-091`): [`ORIGIN_PREFIX`]
/// followed by the worker id with every byte outside the RFC 3986
/// unreserved set (`A-Z a-z 0-9 - . _ ~`) written `%XX` (upper-case hex).
/// So an origin is a schema-less, URL-like string with no space, no `+`
/// and no control character, as C2SP checkpoints and key names require,
/// and two worker ids never share one. `worker-1` gives
/// `vram-residency/audit/worker-1`; `gpu 3/a+b` gives
/// `vram-residency/audit/gpu%203%2Fa%2Bb`.
///
/// ```
/// assert_eq!(audit_core::log_origin("worker-1")?, "vram-residency/audit/worker-1");
/// # Ok::<(), audit_core::AuditError>(())
/// ```
pub fn log_origin(worker_id: &str) -> Result<String, AuditError> {
    use std::fmt::Write as _;
    validate_worker_id(worker_id)?;
    let mut origin = String::with_capacity(ORIGIN_PREFIX.len() + worker_id.len() * 3);
    origin.push_str(ORIGIN_PREFIX);
    for &b in worker_id.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            origin.push(char::from(b));
        } else {
            let _ = write!(origin, "%{b:02X}");
        }
    }
    Ok(origin)
}

/// A new random Ed25519 log key (signature type 0x01) for the log of
/// `worker_id`, named after its origin ([`log_origin`]). Its public half,
/// `key.verifier_key().to_string()`, is the vkey auditors use.
pub fn generate_log_key(worker_id: &str) -> Result<SignerKey, AuditError> {
    let origin = log_origin(worker_id)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|e| AuditError::Io {
        operation: "drawing a random log key",
        detail: e.to_string(),
    })?;
    SignerKey::from_seed(&origin, SignatureType::Ed25519, &seed)
        .map_err(|e| key_error(format!("cannot make a log key: {e}")))
}

/// Checks that `key` can sign the checkpoints of the log of `worker_id`:
/// an Ed25519 (0x01) key named after the log's origin.
pub(crate) fn check_log_key(key: &SignerKey, origin: &str) -> Result<(), AuditError> {
    if key.kind() != SignatureType::Ed25519 {
        return Err(key_error(format!(
            "key {}+{} is a {:?} key; a log signs checkpoints with an Ed25519 (0x01) key",
            key.name(),
            key.key_id(),
            key.kind()
        )));
    }
    if key.name() != origin {
        return Err(key_error(format!(
            "key {}+{} is named for another log; this log's origin is {origin} (generate a key for this worker)",
            key.name(),
            key.key_id()
        )));
    }
    Ok(())
}

/// Writes `key` to a new file at `path` (`AC-091`): one line, the Go
/// `sumdb/note` signer-key string `PRIVATE+KEY+<name>+<key id>+<base64>`
/// and a newline, created with mode 0600 (on Unix) and synced. An existing
/// file is never overwritten.
pub fn save_log_key(path: impl AsRef<Path>, key: &SignerKey) -> Result<(), AuditError> {
    let path = path.as_ref();
    let file_error = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            key_error(format!(
                "{} already exists; a key file is never overwritten (move it away first)",
                path.display()
            ))
        } else {
            AuditError::Io {
                operation: "writing the log key file",
                detail: format!("{}: {e}", path.display()),
            }
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(file_error)?;
    let skey = key.to_skey();
    let mut line = Zeroizing::new(String::with_capacity(skey.len() + 1));
    line.push_str(&skey);
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

/// Reads a key file written by [`save_log_key`] (`AC-091`): at most
/// [`MAX_LOG_KEY_FILE_BYTES`], one signer-key line with one optional
/// trailing newline, an Ed25519 (0x01) key. On Unix a file readable or
/// writable by group or others is refused, as `ssh` refuses such keys.
/// Errors never show the key.
pub fn load_log_key(path: impl AsRef<Path>) -> Result<SignerKey, AuditError> {
    let path = path.as_ref();
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => AuditError::NotFound {
            path: path.display().to_string(),
        },
        _ => AuditError::Io {
            operation: "reading the log key file",
            detail: format!("{}: {e}", path.display()),
        },
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(key_error(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(format!(
                "{} is readable or writable by group or others (mode {mode:04o}); `chmod 600` it",
                path.display()
            )));
        }
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_LOG_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_LOG_KEY_FILE_BYTES {
        return Err(key_error(format!(
            "{} is larger than the {MAX_LOG_KEY_FILE_BYTES} bytes a key file holds",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| key_error(format!("{} is not a key file (not UTF-8)", path.display())))?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    let key = SignerKey::parse(line).map_err(|e| {
        key_error(format!(
            "{} does not hold a signer key: {e}",
            path.display()
        ))
    })?;
    if key.kind() != SignatureType::Ed25519 {
        return Err(key_error(format!(
            "{} holds a {:?} key; a log key is Ed25519 (0x01)",
            path.display(),
            key.kind()
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// AC-091: origins are URL-like, injective and valid key names.
    #[test]
    fn ac_091_origins() {
        assert_eq!(
            log_origin("worker-1").unwrap(),
            "vram-residency/audit/worker-1"
        );
        assert_eq!(
            log_origin("gpu 3/a+b").unwrap(),
            "vram-residency/audit/gpu%203%2Fa%2Bb"
        );
        assert_eq!(log_origin("é").unwrap(), "vram-residency/audit/%C3%A9");
        assert_ne!(log_origin("a%20").unwrap(), log_origin("a ").unwrap());
        assert!(log_origin("").is_err());
        for worker in ["w", "a b", "x+y", "tab\u{a0}", "模型"] {
            let origin = log_origin(worker).unwrap();
            assert!(
                SignerKey::from_seed(&origin, SignatureType::Ed25519, &[1; 32]).is_ok(),
                "{origin}"
            );
        }
    }
}
