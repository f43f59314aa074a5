//! Shard ids: the names shards are sealed, audited and looked up under.
//!
//! Ids end up in file names, log lines and audit records, so they are held to
//! a small alphabet (spec `VR-ID-001`): 1 to 256 bytes of ASCII letters,
//! digits, `-`, `_`, `.` and `:`, never `..`. Anything else — path
//! separators, NUL, control characters, spaces, non-ASCII — is refused
//! before any memory is touched or any event is written.

use crate::error::ResidencyError;

/// Longest shard id in bytes.
pub const MAX_SHARD_ID_LEN: usize = 256;

/// Why a shard id was refused. Names the position, never echoes the id (it
/// may hold control characters that would garble a terminal or log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShardIdError {
    /// Empty id.
    #[error("shard id is empty; use 1 to {MAX_SHARD_ID_LEN} characters")]
    Empty,
    /// Over [`MAX_SHARD_ID_LEN`] bytes.
    #[error("shard id is {len} bytes; the limit is {MAX_SHARD_ID_LEN}")]
    TooLong {
        /// Length given.
        len: usize,
    },
    /// Contains `..`.
    #[error("shard id contains '..' (path traversal); use a plain name")]
    Traversal,
    /// Contains `/` or `\`.
    #[error("shard id contains a path separator at byte {position}; use a plain name")]
    PathSeparator {
        /// Byte offset of the first separator.
        position: usize,
    },
    /// Contains NUL or another control character.
    #[error("shard id contains a control character at byte {position}")]
    ControlCharacter {
        /// Byte offset of the first control character.
        position: usize,
    },
    /// Contains a character outside `A-Z a-z 0-9 - _ . :`.
    #[error("shard id has a character outside A-Z a-z 0-9 - _ . : at byte {position}")]
    InvalidCharacter {
        /// Byte offset of the first such character.
        position: usize,
    },
}

/// Checks a shard id against `VR-ID-001`.
///
/// ```
/// use vram_residency::{validate_shard_id, ShardIdError};
/// assert!(validate_shard_id("llama-3-70b:tp0.of.8").is_ok());
/// assert_eq!(validate_shard_id("../etc/passwd"), Err(ShardIdError::PathSeparator { position: 2 }));
/// assert_eq!(validate_shard_id("model..v2"), Err(ShardIdError::Traversal));
/// assert_eq!(validate_shard_id("a\0b"), Err(ShardIdError::ControlCharacter { position: 1 }));
/// ```
pub fn validate_shard_id(id: &str) -> Result<(), ShardIdError> {
    if id.is_empty() {
        return Err(ShardIdError::Empty);
    }
    if id.len() > MAX_SHARD_ID_LEN {
        return Err(ShardIdError::TooLong { len: id.len() });
    }
    // Control characters first: they are the most dangerous to echo later.
    if let Some(position) = id.bytes().position(|b| b.is_ascii_control()) {
        return Err(ShardIdError::ControlCharacter { position });
    }
    if let Some(position) = id.bytes().position(|b| b == b'/' || b == b'\\') {
        return Err(ShardIdError::PathSeparator { position });
    }
    if id.contains("..") {
        return Err(ShardIdError::Traversal);
    }
    if let Some(position) = id
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    {
        return Err(ShardIdError::InvalidCharacter { position });
    }
    Ok(())
}

/// The same rules, as the facade's error.
pub(crate) fn check(id: &str) -> Result<(), ResidencyError> {
    validate_shard_id(id).map_err(ResidencyError::InvalidShardId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vr_id_001_accepts_the_alphabet_and_bounds() {
        for ok in ["a", "A-z_0.9:x", &"x".repeat(256), "model.v1:shard-00001"] {
            assert_eq!(validate_shard_id(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn vr_id_001_refuses_each_kind_of_bad_id() {
        let cases: [(&str, ShardIdError); 10] = [
            ("", ShardIdError::Empty),
            (&"x".repeat(257), ShardIdError::TooLong { len: 257 }),
            ("..", ShardIdError::Traversal),
            ("a..b", ShardIdError::Traversal),
            ("a/b", ShardIdError::PathSeparator { position: 1 }),
            ("a\\b", ShardIdError::PathSeparator { position: 1 }),
            ("\0", ShardIdError::ControlCharacter { position: 0 }),
            ("ab\x1b[31m", ShardIdError::ControlCharacter { position: 2 }),
            ("a b", ShardIdError::InvalidCharacter { position: 1 }),
            ("modèle", ShardIdError::InvalidCharacter { position: 3 }),
        ];
        for (id, want) in cases {
            assert_eq!(validate_shard_id(id), Err(want), "{id:?}");
        }
        assert!(
            !ShardIdError::ControlCharacter { position: 0 }
                .to_string()
                .contains('\0')
        );
    }
}
