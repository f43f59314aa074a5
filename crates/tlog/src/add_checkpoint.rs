//! The body of a tlog-witness `add-checkpoint` request (c2sp.org/tlog-witness
//! v1.0.0), and the consistency checks a witness makes on it. No HTTP here:
//! the body's bytes in and out, and the math.
//!
//! ```text
//! old <size>\n                 the size the witness last cosigned (0 at first)
//! <base64 hash>\n…             0 to 63 lines: consistency proof old → new
//! \n
//! <checkpoint note, possibly with several signatures>
//! ```
//!
//! The witness answers with cosignature lines, which
//! [`NoteSignature::parse_lines`](crate::NoteSignature::parse_lines) reads;
//! [`crate::witness`] has both ends of the exchange (the witness's checks
//! and statuses, and the log's reading of the answer).

use std::fmt;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::{EMPTY_ROOT, Hash, HashError};
use crate::note::{Note, NoteError};
use crate::text::{HashLinesError, hash_lines, next_line, parse_decimal};
use crate::verify::{VerifyError, verify_consistency};

/// The most consistency proof lines a request may carry.
pub const MAX_CONSISTENCY_PROOF_LINES: usize = 63;

/// Why an `add-checkpoint` body is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddCheckpointError {
    /// The body is not UTF-8.
    #[error("the request body must be UTF-8")]
    NotUtf8,
    /// The first line is not `old <decimal>`.
    #[error("the request must start with `old <size>` (ASCII decimal, no leading zeroes)")]
    BadOldSize,
    /// A proof line is not a base64 hash.
    #[error("consistency proof line {number}: {source}")]
    BadProofHash {
        /// Its number among the proof lines, from 1.
        number: usize,
        /// Why.
        source: HashError,
    },
    /// More than 63 proof lines.
    #[error("more than {MAX_CONSISTENCY_PROOF_LINES} consistency proof lines")]
    TooManyProofHashes,
    /// No empty line before the checkpoint.
    #[error("the proof lines must be followed by an empty line and the checkpoint")]
    NoCheckpoint,
    /// The checkpoint note is malformed.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
}

/// Why a witness must refuse to cosign (tlog-witness: 400 or 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyCheckError {
    /// `old` is larger than the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint's size {size}")]
    OldLargerThanNew {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// `old 0` with a non-empty proof (422).
    #[error("old size 0 needs an empty proof, and {len} hashes came")]
    ProofFromEmptyTree {
        /// The proof hashes given.
        len: usize,
    },
    /// A size-0 checkpoint whose root is not `SHA-256("")` (422).
    #[error("a checkpoint of size 0 must have the empty root SHA-256(\"\"), it has {root}")]
    WrongEmptyRoot {
        /// The root found.
        root: Hash,
    },
    /// The consistency proof failed (422), or equal sizes with different
    /// roots.
    #[error(transparent)]
    Proof(#[from] VerifyError),
    /// The request's note is not a checkpoint (400).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// An `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    old_size: u64,
    proof: Vec<Hash>,
    checkpoint: Note,
}

impl AddCheckpointRequest {
    /// A request to cosign `checkpoint`, proved consistent with the
    /// witness's `old_size` by `proof` (at most 63 hashes).
    pub fn new(
        old_size: u64,
        proof: Vec<Hash>,
        checkpoint: Note,
    ) -> Result<Self, AddCheckpointError> {
        if proof.len() > MAX_CONSISTENCY_PROOF_LINES {
            return Err(AddCheckpointError::TooManyProofHashes);
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// Parses a request body.
    pub fn parse(bytes: &[u8]) -> Result<Self, AddCheckpointError> {
        let mut rest = std::str::from_utf8(bytes).map_err(|_| AddCheckpointError::NotUtf8)?;
        let old_size = next_line(&mut rest)
            .and_then(|line| line.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or(AddCheckpointError::BadOldSize)?;
        let proof = hash_lines(&mut rest, MAX_CONSISTENCY_PROOF_LINES).map_err(|e| match e {
            HashLinesError::NoEmptyLine => AddCheckpointError::NoCheckpoint,
            HashLinesError::TooMany => AddCheckpointError::TooManyProofHashes,
            HashLinesError::Bad { number, source } => {
                AddCheckpointError::BadProofHash { number, source }
            }
        })?;
        let checkpoint = Note::parse(rest.as_bytes())?;
        Ok(Self {
            old_size,
            proof,
            checkpoint,
        })
    }

    /// The body's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The size the client believes the witness last cosigned.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// The consistency proof hashes.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint note to cosign.
    pub fn checkpoint(&self) -> &Note {
        &self.checkpoint
    }

    /// The witness's checks of the proof, made after it has opened the
    /// request's checkpoint note (log signature, origin) and found that
    /// `old_size` is the size it last cosigned, with root `old_root`
    /// (ignored for `old 0`). Returns the checkpoint body.
    pub fn check_consistency(&self, old_root: &Hash) -> Result<Checkpoint, ConsistencyCheckError> {
        let checkpoint = Checkpoint::from_text(self.checkpoint.text())?;
        let (old, size) = (self.old_size, checkpoint.size());
        if old > size {
            return Err(ConsistencyCheckError::OldLargerThanNew { old, size });
        }
        if size == 0 && *checkpoint.root() != EMPTY_ROOT {
            return Err(ConsistencyCheckError::WrongEmptyRoot {
                root: *checkpoint.root(),
            });
        }
        if old == 0 {
            if !self.proof.is_empty() {
                return Err(ConsistencyCheckError::ProofFromEmptyTree {
                    len: self.proof.len(),
                });
            }
            return Ok(checkpoint);
        }
        verify_consistency(
            old,
            size,
            old_root.as_bytes(),
            checkpoint.root().as_bytes(),
            &self.proof,
        )?;
        Ok(checkpoint)
    }
}

impl fmt::Display for AddCheckpointRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "old {}", self.old_size)?;
        for hash in &self.proof {
            writeln!(f, "{}", hash.to_base64())?;
        }
        writeln!(f)?;
        write!(f, "{}", self.checkpoint)
    }
}
