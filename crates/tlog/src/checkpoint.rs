//! Checkpoints (c2sp.org/tlog-checkpoint v1.0.0): the signed statement "the
//! log `origin` has `size` entries and root `root`".
//!
//! ```text
//! <origin>\n                      non-empty
//! <tree size>\n                   ASCII decimal, no sign, no leading zeroes ("0" if empty)
//! <base64 root hash>\n            exactly 32 bytes, standard padded base64
//! [<extension line>\n]…           optional, each non-empty
//! ```
//!
//! The parser is strict where Go's `transparency-dev/formats` is lenient:
//! `08`, a 31-byte root and an empty extension line are errors.
//!
//! [`open_checkpoint`] is the one way to *trust* a checkpoint: the note must
//! verify, carry a valid signature of **the log's** Ed25519 key, and name the
//! expected origin. A note verified only by a witness's cosignature is not a
//! checkpoint of the log, whatever its text says.

use std::fmt;

use crate::hash::{Hash, HashError};
use crate::keys::{SignatureType, SignerKey, VerifierKey};
use crate::note::{Note, NoteError, VerifiedNote, VerifiedSignature};
use crate::text::parse_decimal;

/// Why a checkpoint body is malformed, or a signed checkpoint not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Fewer than three lines, or the text does not end in a newline.
    #[error(
        "a checkpoint is at least three lines (origin, size, root hash), each ending in a newline"
    )]
    TooShort,
    /// The origin line is empty or holds a control character.
    #[error("the origin line must be non-empty and hold no control character")]
    BadOrigin,
    /// The size line is not a canonical decimal.
    #[error(
        "tree size {line:?} is not an ASCII decimal without sign or leading zeroes that fits 64 bits"
    )]
    BadSize {
        /// The line as found.
        line: String,
    },
    /// The root hash line is not base64 of 32 bytes.
    #[error("root hash line {line:?}: {source}")]
    BadRootHash {
        /// The line as found.
        line: String,
        /// Why.
        source: HashError,
    },
    /// An extension line is empty or holds a control character.
    #[error(
        "extension line {number} is empty or holds a control character; extension lines must be non-empty"
    )]
    BadExtension {
        /// Its number among the extension lines, from 1.
        number: usize,
    },
    /// The note is malformed or did not verify.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The key given as the log's is not an Ed25519 (0x01) key.
    #[error(
        "the log key {key} is a {kind:?} key; a log signs checkpoints with an Ed25519 (0x01) key, and a cosignature is a witness's statement, not the log's"
    )]
    LogKeyNotEd25519 {
        /// The key's vkey string.
        key: String,
        /// Its type.
        kind: SignatureType,
    },
    /// The note verified, but not with the log's key.
    #[error(
        "the checkpoint is not signed by the log key {key} (verified only by: {verified_by:?}); do not trust it as the log's"
    )]
    NotSignedByLog {
        /// The log's vkey string.
        key: String,
        /// The names of the keys that did verify.
        verified_by: Vec<String>,
    },
    /// The origin is not the expected log's.
    #[error("the checkpoint is for origin {found:?}, not {expected:?}: it is another log's")]
    OriginMismatch {
        /// The origin expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

/// The body of a checkpoint: origin, tree size, root hash, extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// An ASCII control character (newline included): what a note forbids
/// inside a line.
fn has_control(line: &str) -> bool {
    line.bytes().any(|b| b < 0x20)
}

impl Checkpoint {
    /// The checkpoint of `origin` at `size` leaves with this root.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if origin.is_empty() || has_control(origin) {
            return Err(CheckpointError::BadOrigin);
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line (non-empty, no control character). Extension
    /// lines are NOT RECOMMENDED: monitors cannot audit them.
    pub fn with_extension(mut self, line: &str) -> Result<Self, CheckpointError> {
        if line.is_empty() || has_control(line) {
            return Err(CheckpointError::BadExtension {
                number: self.extensions.len() + 1,
            });
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// Parses a checkpoint body (a note text, final newline included).
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::TooShort)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::TooShort);
        };
        let mut checkpoint = Self::new(origin, 0, crate::hash::EMPTY_ROOT)?;
        checkpoint.size = parse_decimal(size).ok_or_else(|| CheckpointError::BadSize {
            line: size.to_owned(),
        })?;
        checkpoint.root =
            Hash::from_base64(root).map_err(|source| CheckpointError::BadRootHash {
                line: root.to_owned(),
                source,
            })?;
        for line in lines {
            checkpoint = checkpoint.with_extension(line)?;
        }
        Ok(checkpoint)
    }

    /// The origin: the log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of `size` leaves.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: every line with its newline.
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// A note of this checkpoint signed by the log's Ed25519 key. The key's
    /// name SHOULD equal the origin.
    pub fn sign(&self, log_key: &SignerKey) -> Result<Note, CheckpointError> {
        let mut note = Note::new(self.to_text())?;
        note.sign(log_key)?;
        Ok(note)
    }
}

impl fmt::Display for Checkpoint {
    /// The note text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.origin)?;
        writeln!(f, "{}", self.size)?;
        writeln!(f, "{}", self.root.to_base64())?;
        for line in &self.extensions {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A checkpoint the log's key signed, with the note it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
    verified: VerifiedNote,
    log_signature: VerifiedSignature,
}

impl SignedCheckpoint {
    /// The checkpoint body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The note as received, every signature line included: keep it as
    /// evidence.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// The signatures that verified (the log's, and any other known key's).
    pub fn verified(&self) -> &VerifiedNote {
        &self.verified
    }

    /// The log key's signature.
    pub fn log_signature(&self) -> &VerifiedSignature {
        &self.log_signature
    }
}

/// Opens a checkpoint note: parses it, verifies it with `log_key` and
/// `other_keys` (witnesses whose cosignatures should be checked too), and
/// requires a valid signature by `log_key` itself and the origin `origin`.
///
/// Fails closed: a note that verifies only under a witness key is
/// [`CheckpointError::NotSignedByLog`]; a log key that is not Ed25519 (0x01)
/// is refused up front.
pub fn open_checkpoint(
    note: &[u8],
    origin: &str,
    log_key: &VerifierKey,
    other_keys: &[VerifierKey],
) -> Result<SignedCheckpoint, CheckpointError> {
    if log_key.kind() != SignatureType::Ed25519 {
        return Err(CheckpointError::LogKeyNotEd25519 {
            key: log_key.to_string(),
            kind: log_key.kind(),
        });
    }
    let parsed = Note::parse(note)?;
    let mut keys = Vec::with_capacity(other_keys.len() + 1);
    keys.push(log_key.clone());
    keys.extend_from_slice(other_keys);
    let verified = parsed.verify(&keys)?;
    let Some(log_signature) = verified.signature_of(log_key).cloned() else {
        return Err(CheckpointError::NotSignedByLog {
            key: log_key.to_string(),
            verified_by: verified.verified().iter().map(|s| s.name.clone()).collect(),
        });
    };
    let checkpoint = Checkpoint::from_text(parsed.text())?;
    if checkpoint.origin != origin {
        return Err(CheckpointError::OriginMismatch {
            expected: origin.to_owned(),
            found: checkpoint.origin,
        });
    }
    Ok(SignedCheckpoint {
        checkpoint,
        note: parsed,
        verified,
        log_signature,
    })
}
