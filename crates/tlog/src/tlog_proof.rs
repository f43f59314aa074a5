//! Offline inclusion proofs (c2sp.org/tlog-proof v1): an entry's index, its
//! inclusion proof and the (cosigned) checkpoint it is proved against, in
//! one text a relying party can check with no access to the log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1\n
//! [extra <base64 opaque data>\n]      optional, not authenticated
//! index <i>\n                          ASCII decimal, no leading zeroes
//! <base64 hash>\n…                     the inclusion proof, leaf side first
//! \n
//! <the checkpoint note, verbatim, with its signatures>
//! ```

use std::fmt;

use crate::checkpoint::{CheckpointError, SignedCheckpoint, open_checkpoint};
use crate::hash::{Hash, HashError};
use crate::keys::VerifierKey;
use crate::note::{Note, NoteError};
use crate::policy::{PolicyError, PolicyReport, WitnessPolicy};
use crate::text::{
    HashLinesError, decode_base64, encode_base64, hash_lines, next_line, parse_decimal,
};
use crate::verify::{VerifyError, verify_inclusion};

/// The first line of a tlog-proof, without its newline.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most proof hashes a tlog-proof may hold: an inclusion proof in a tree
/// of up to `2^64 − 1` leaves has at most 64.
pub const MAX_INCLUSION_PROOF_HASHES: usize = 64;

/// Why a tlog-proof is malformed or does not prove inclusion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The text is not UTF-8.
    #[error("a tlog-proof must be UTF-8")]
    NotUtf8,
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("a tlog-proof starts with the line {TLOG_PROOF_HEADER}")]
    BadHeader,
    /// The `extra` line's data is not base64.
    #[error("the extra line must be `extra <non-empty standard base64>`")]
    BadExtra,
    /// The index line is missing or not a canonical decimal.
    #[error("expected `index <decimal without leading zeroes>`")]
    BadIndex,
    /// A proof line is not a base64 hash.
    #[error("proof line {number}: {source}")]
    BadProofHash {
        /// Its number among the proof lines, from 1.
        number: usize,
        /// Why.
        source: HashError,
    },
    /// More proof lines than any inclusion proof has.
    #[error("more than {MAX_INCLUSION_PROOF_HASHES} proof lines")]
    TooManyProofHashes,
    /// No empty line before the checkpoint.
    #[error("the proof lines must be followed by an empty line and the checkpoint")]
    NoCheckpoint,
    /// The checkpoint note is malformed.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// The checkpoint is not trusted.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The witness policy is not met.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The inclusion proof does not verify against the checkpoint.
    #[error("the inclusion proof does not verify against the checkpoint: {0}")]
    Inclusion(#[from] VerifyError),
}

/// A tlog-proof: index, inclusion proof, checkpoint note, optional extra.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<Hash>,
    checkpoint: Note,
}

impl TlogProof {
    /// A proof that leaf `index` is in the tree `checkpoint` commits to.
    pub fn new(index: u64, proof: Vec<Hash>, checkpoint: Note) -> Result<Self, TlogProofError> {
        if proof.len() > MAX_INCLUSION_PROOF_HASHES {
            return Err(TlogProofError::TooManyProofHashes);
        }
        Ok(Self {
            extra: None,
            index,
            proof,
            checkpoint,
        })
    }

    /// Adds opaque, unauthenticated extra data (non-empty).
    pub fn with_extra(mut self, extra: Vec<u8>) -> Result<Self, TlogProofError> {
        if extra.is_empty() {
            return Err(TlogProofError::BadExtra);
        }
        self.extra = Some(extra);
        Ok(self)
    }

    /// Parses a tlog-proof.
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogProofError> {
        let mut rest = std::str::from_utf8(bytes).map_err(|_| TlogProofError::NotUtf8)?;
        if next_line(&mut rest) != Some(TLOG_PROOF_HEADER) {
            return Err(TlogProofError::BadHeader);
        }
        let mut line = next_line(&mut rest).ok_or(TlogProofError::BadIndex)?;
        let mut extra = None;
        if let Some(data) = line.strip_prefix("extra ") {
            extra = Some(decode_base64(data).ok_or(TlogProofError::BadExtra)?);
            line = next_line(&mut rest).ok_or(TlogProofError::BadIndex)?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or(TlogProofError::BadIndex)?;
        let proof = hash_lines(&mut rest, MAX_INCLUSION_PROOF_HASHES).map_err(|e| match e {
            HashLinesError::NoEmptyLine => TlogProofError::NoCheckpoint,
            HashLinesError::TooMany => TlogProofError::TooManyProofHashes,
            HashLinesError::Bad { number, source } => {
                TlogProofError::BadProofHash { number, source }
            }
        })?;
        let checkpoint = Note::parse(rest.as_bytes())?;
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// The serialized proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The extra data, if any. Not authenticated: do not trust it.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof hashes.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint note, as carried.
    pub fn checkpoint(&self) -> &Note {
        &self.checkpoint
    }

    /// Checks that `leaf_hash` is in the log of `origin`: the checkpoint is
    /// signed by the policy's log key and cosigned by a quorum of its
    /// witnesses, and the inclusion proof leads to its root.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        origin: &str,
        policy: &WitnessPolicy,
    ) -> Result<PolicyReport, TlogProofError> {
        let report = policy.verify(&self.checkpoint.to_bytes(), origin)?;
        self.check_inclusion(leaf_hash, report.signed_checkpoint())?;
        Ok(report)
    }

    /// Checks that `leaf_hash` is in the log of `origin` on the log's
    /// signature alone (no witnesses: weaker, see [`WitnessPolicy`]).
    pub fn verify_log_signature(
        &self,
        leaf_hash: &Hash,
        origin: &str,
        log_key: &VerifierKey,
    ) -> Result<SignedCheckpoint, TlogProofError> {
        let signed = open_checkpoint(&self.checkpoint.to_bytes(), origin, log_key, &[])?;
        self.check_inclusion(leaf_hash, &signed)?;
        Ok(signed)
    }

    fn check_inclusion(
        &self,
        leaf_hash: &Hash,
        signed: &SignedCheckpoint,
    ) -> Result<(), VerifyError> {
        let checkpoint = signed.checkpoint();
        verify_inclusion(
            leaf_hash.as_bytes(),
            self.index,
            checkpoint.size(),
            &self.proof,
            checkpoint.root().as_bytes(),
        )
    }
}

impl fmt::Display for TlogProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{TLOG_PROOF_HEADER}")?;
        if let Some(extra) = &self.extra {
            writeln!(f, "extra {}", encode_base64(extra))?;
        }
        writeln!(f, "index {}", self.index)?;
        for hash in &self.proof {
            writeln!(f, "{}", hash.to_base64())?;
        }
        writeln!(f)?;
        write!(f, "{}", self.checkpoint)
    }
}
