//! The tlog-witness protocol (c2sp.org/tlog-witness v1.0.0) without HTTP:
//! both ends of `POST <prefix>/add-checkpoint`, as bytes in and bytes out.
//!
//! **The witness** ([`Witness`]) knows the logs it witnesses (origin and
//! Ed25519 key) and, per origin, the tree it last cosigned
//! ([`WitnessedTree`], kept by the caller). For a request body it answers
//! exactly one of:
//!
//! | status | when | [`WitnessRefusal`] |
//! | --- | --- | --- |
//! | 400 | the body is malformed, or `old` is above the checkpoint's size | `Malformed` |
//! | 404 | the checkpoint's origin is not a log it knows | `UnknownOrigin` |
//! | 403 | no valid signature of the log's key, or a failing one | `Forbidden` |
//! | 409 | `old` is not the size it holds; body `<size>\n`, `text/x.tlog.size` | `Conflict` |
//! | 422 | the consistency proof fails (a fork, a truncate-and-resume) | `Inconsistent` |
//! | 200 | its cosignature line: `Cosigned` | |
//!
//! It is two calls, so that the caller can hold its lock on the stored tree
//! of the origin between them (the compare-and-swap the spec requires):
//! [`Witness::open_request`] parses the body and checks the log's
//! signature, [`Witness::cosign`] checks `old` and the proof against the
//! stored tree and returns the new tree to persist *before* replying.
//!
//! **The log** (the witness's client) reads the answer with
//! [`read_response`]: the size a 409 names, or the cosignature lines of a
//! 200, each verified under the witness's key over the checkpoint that was
//! sent, with bounds on the body's size and line count. A refusal (403, 404,
//! 422) and a 200 without a valid cosignature are **alarms**
//! ([`WitnessReply::is_alarm`], [`WitnessResponseError::is_alarm`]): the
//! witness saw a log with this origin that is not this one, or keys differ.

use std::fmt;

use crate::add_checkpoint::{AddCheckpointError, AddCheckpointRequest, ConsistencyCheckError};
use crate::checkpoint::{Checkpoint, CheckpointError, open_checkpoint};
use crate::cosignature::MAX_TIMESTAMP;
use crate::hash::{EMPTY_ROOT, Hash};
use crate::keys::{SignatureType, SignerKey, VerifierKey};
use crate::note::{Note, NoteError, NoteSignature};
use crate::text::parse_decimal;

/// The most bytes of an `add-checkpoint` request body a witness reads: 63
/// proof lines and a checkpoint note with 100 signature lines fit well
/// below it.
pub const MAX_ADD_CHECKPOINT_BODY_BYTES: usize = 128 * 1024;

/// The most bytes of a witness's answer a log reads.
pub const MAX_WITNESS_RESPONSE_BYTES: usize = 64 * 1024;

/// The most cosignature lines a log reads in one answer (a witness sends one
/// per key it cosigns with; a few is plenty).
pub const MAX_COSIGNATURE_LINES: usize = 16;

/// The content type of a 409 answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The tree a witness last cosigned for an origin: its size and root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WitnessedTree {
    /// The number of leaves.
    pub size: u64,
    /// The root of those leaves.
    pub root: Hash,
}

impl WitnessedTree {
    /// What a witness holds for a log it never cosigned: the empty tree.
    pub const EMPTY: Self = Self {
        size: 0,
        root: EMPTY_ROOT,
    };
}

/// Why a witness refuses a request: each maps to its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessRefusal {
    /// 400: the body is malformed, not a checkpoint, or `old` is above the
    /// checkpoint's size.
    #[error("malformed request: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// 404: the checkpoint's origin is not a log this witness knows.
    #[error("unknown origin {origin:?}: this witness does not witness that log")]
    UnknownOrigin {
        /// The origin.
        origin: String,
    },
    /// 403: the note carries no valid signature of the log's key, or a
    /// signature of that key fails.
    #[error("the checkpoint is not signed by the log's key: {reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// 409: `old` is not the size the witness last cosigned; `size` is.
    #[error("old size {old} is not the size this witness holds ({size})")]
    Conflict {
        /// The request's old size.
        old: u64,
        /// The size the witness holds.
        size: u64,
    },
    /// 422: the consistency proof from the witness's tree fails.
    #[error("the checkpoint is not consistent with the tree this witness holds: {reason}")]
    Inconsistent {
        /// Why.
        reason: String,
    },
    /// 500: the witness cannot cosign (a timestamp of 0 or above
    /// `2^63 − 1`).
    #[error("the witness cannot cosign: {reason}")]
    Internal {
        /// Why.
        reason: String,
    },
}

impl WitnessRefusal {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed { .. } => 400,
            Self::UnknownOrigin { .. } => 404,
            Self::Forbidden { .. } => 403,
            Self::Conflict { .. } => 409,
            Self::Inconsistent { .. } => 422,
            Self::Internal { .. } => 500,
        }
    }

    /// The content type of [`body`](Self::body).
    pub fn content_type(&self) -> &'static str {
        match self {
            Self::Conflict { .. } => SIZE_CONTENT_TYPE,
            _ => "text/plain; charset=utf-8",
        }
    }

    /// The body to answer with: for a 409 the size the witness holds and a
    /// newline (what the log retries from), else the reason and a newline.
    pub fn body(&self) -> String {
        match self {
            Self::Conflict { size, .. } => format!("{size}\n"),
            other => format!("{other}\n"),
        }
    }
}

/// Why a witness cannot be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessConfigError {
    /// A log key that is not an Ed25519 (0x01) key.
    #[error("the key of log {origin:?} is a {kind:?} key; logs sign with Ed25519 (0x01) keys")]
    LogKeyNotEd25519 {
        /// The origin.
        origin: String,
        /// The key's type.
        kind: SignatureType,
    },
    /// The origin is already configured.
    #[error("log {origin:?} is configured twice")]
    DuplicateOrigin {
        /// The origin.
        origin: String,
    },
    /// The origin is not a valid checkpoint origin.
    #[error("{origin:?} is not a checkpoint origin (non-empty, no control character)")]
    BadOrigin {
        /// The origin.
        origin: String,
    },
    /// The log's key is the witness's own.
    #[error("log {origin:?} has the witness's own public key; a witness cannot witness itself")]
    LogIsWitness {
        /// The origin.
        origin: String,
    },
}

/// A request the witness has parsed and whose log signature verified; the
/// next step is [`Witness::cosign`] with the tree stored for its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRequest {
    request: AddCheckpointRequest,
    checkpoint: Checkpoint,
}

impl WitnessRequest {
    /// The checkpoint's origin: the key of the witness's stored tree.
    pub fn origin(&self) -> &str {
        self.checkpoint.origin()
    }

    /// The size the log believes the witness holds.
    pub fn old_size(&self) -> u64 {
        self.request.old_size()
    }

    /// The checkpoint to cosign.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The request as parsed.
    pub fn request(&self) -> &AddCheckpointRequest {
        &self.request
    }
}

/// What a witness answers when it cosigns: the 200 body, and the tree to
/// store for the origin before answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree to persist for the origin (the checkpoint's size and root).
    pub tree: WitnessedTree,
    /// The cosignature line.
    pub signature: NoteSignature,
}

impl Cosigned {
    /// The 200 body: the cosignature line and a newline.
    pub fn body(&self) -> String {
        format!("{}\n", self.signature)
    }
}

/// A witness: a cosigner key and the logs it witnesses. It holds no state
/// of its own; the tree per origin is the caller's to store.
#[derive(Debug, Clone)]
pub struct Witness {
    key: SignerKey,
    logs: Vec<(String, VerifierKey)>,
}

impl Witness {
    /// A witness signing with `key`: a cosigner (0x04) key, or an Ed25519
    /// (0x01) key used as one (same name and seed, the 0x04 key ID).
    pub fn new(key: &SignerKey) -> Self {
        let key = match key.kind() {
            SignatureType::Cosignature => key.clone(),
            SignatureType::Ed25519 => key.to_cosigner(),
        };
        Self {
            key,
            logs: Vec::new(),
        }
    }

    /// Witnesses the log `origin`, whose checkpoints `log_key` signs.
    pub fn add_log(
        &mut self,
        origin: &str,
        log_key: VerifierKey,
    ) -> Result<(), WitnessConfigError> {
        if Checkpoint::new(origin, 0, EMPTY_ROOT).is_err() {
            return Err(WitnessConfigError::BadOrigin {
                origin: origin.to_owned(),
            });
        }
        if log_key.kind() != SignatureType::Ed25519 {
            return Err(WitnessConfigError::LogKeyNotEd25519 {
                origin: origin.to_owned(),
                kind: log_key.kind(),
            });
        }
        if log_key.public_key() == self.key.verifier_key().public_key() {
            return Err(WitnessConfigError::LogIsWitness {
                origin: origin.to_owned(),
            });
        }
        if self.logs.iter().any(|(o, _)| o == origin) {
            return Err(WitnessConfigError::DuplicateOrigin {
                origin: origin.to_owned(),
            });
        }
        self.logs.push((origin.to_owned(), log_key));
        Ok(())
    }

    /// The witness's cosigner (0x04) verifier key: what logs and verifiers
    /// are given.
    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    /// The witness's key name.
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// First step: parses the body (at most
    /// [`MAX_ADD_CHECKPOINT_BODY_BYTES`]), finds the checkpoint's origin
    /// among the known logs (404 otherwise) and requires a valid signature
    /// of that log's key (403 otherwise; other signatures are ignored).
    pub fn open_request(&self, body: &[u8]) -> Result<WitnessRequest, WitnessRefusal> {
        let malformed = |reason: String| WitnessRefusal::Malformed { reason };
        if body.len() > MAX_ADD_CHECKPOINT_BODY_BYTES {
            return Err(malformed(format!(
                "the body is {} bytes, more than {MAX_ADD_CHECKPOINT_BODY_BYTES}",
                body.len()
            )));
        }
        let request = AddCheckpointRequest::parse(body)
            .map_err(|e: AddCheckpointError| malformed(e.to_string()))?;
        let checkpoint = Checkpoint::from_text(request.checkpoint().text())
            .map_err(|e| malformed(format!("not a checkpoint: {e}")))?;
        let Some((origin, log_key)) = self.logs.iter().find(|(o, _)| o == checkpoint.origin())
        else {
            return Err(WitnessRefusal::UnknownOrigin {
                origin: checkpoint.origin().to_owned(),
            });
        };
        open_checkpoint(&request.checkpoint().to_bytes(), origin, log_key, &[]).map_err(
            |e| match e {
                CheckpointError::Note(
                    NoteError::InvalidSignature { .. } | NoteError::NoVerifiedSignature { .. },
                )
                | CheckpointError::NotSignedByLog { .. } => WitnessRefusal::Forbidden {
                    reason: e.to_string(),
                },
                other => malformed(other.to_string()),
            },
        )?;
        Ok(WitnessRequest {
            request,
            checkpoint,
        })
    }

    /// Second step, under the caller's lock on the origin's stored tree
    /// (`stored`; `None` for a log never cosigned, the empty tree): `old`
    /// above the checkpoint's size is 400; `old` other than the stored size
    /// is 409 naming it; then the consistency proof from the stored root
    /// must verify (422 otherwise: `old 0` with a proof, equal sizes with
    /// other roots, a size-0 checkpoint whose root is not `SHA-256("")`, a
    /// proof that fails). The witness cosigns at `time` (POSIX seconds, 1
    /// to `2^63 − 1`, 500 otherwise); the caller stores [`Cosigned::tree`]
    /// and then answers [`Cosigned::body`].
    pub fn cosign(
        &self,
        request: &WitnessRequest,
        stored: Option<&WitnessedTree>,
        time: u64,
    ) -> Result<Cosigned, WitnessRefusal> {
        let stored = stored.copied().unwrap_or(WitnessedTree::EMPTY);
        let (old, size) = (request.old_size(), request.checkpoint.size());
        if old > size {
            return Err(WitnessRefusal::Malformed {
                reason: format!("old size {old} is above the checkpoint's size {size}"),
            });
        }
        if old != stored.size {
            return Err(WitnessRefusal::Conflict {
                old,
                size: stored.size,
            });
        }
        let checkpoint = request
            .request
            .check_consistency(&stored.root)
            .map_err(|e| match e {
                ConsistencyCheckError::OldLargerThanNew { .. }
                | ConsistencyCheckError::Checkpoint(_) => WitnessRefusal::Malformed {
                    reason: e.to_string(),
                },
                other => WitnessRefusal::Inconsistent {
                    reason: other.to_string(),
                },
            })?;
        if time == 0 || time > MAX_TIMESTAMP {
            return Err(WitnessRefusal::Internal {
                reason: format!("timestamp {time} is not between 1 and 2^63 - 1"),
            });
        }
        let mut note = Note::new(request.request.checkpoint().text()).map_err(|e| {
            WitnessRefusal::Malformed {
                reason: e.to_string(),
            }
        })?;
        note.cosign(&self.key, time)
            .map_err(|e| WitnessRefusal::Internal {
                reason: e.to_string(),
            })?;
        let signature =
            note.signatures()
                .first()
                .cloned()
                .ok_or_else(|| WitnessRefusal::Internal {
                    reason: "no cosignature was made".to_owned(),
                })?;
        Ok(Cosigned {
            tree: WitnessedTree {
                size: checkpoint.size(),
                root: *checkpoint.root(),
            },
            signature,
        })
    }
}

/// Why a witness's answer cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessResponseError {
    /// The body is longer than the bound for its kind.
    #[error("the answer's body is more than {max} bytes; refused unread")]
    BodyTooLarge {
        /// The bound.
        max: usize,
    },
    /// A 409 body that is not `<size>\n`.
    #[error("a 409 answer must be the witness's tree size and a newline")]
    BadConflictBody,
    /// A 200 body that is not cosignature lines.
    #[error("a 200 answer must be cosignature lines: {0}")]
    NotSignatureLines(NoteError),
    /// More than [`MAX_COSIGNATURE_LINES`] lines.
    #[error("the answer has more than {MAX_COSIGNATURE_LINES} cosignature lines")]
    TooManyLines,
    /// A line of the witness's key that does not verify over the
    /// checkpoint sent, or states time 0.
    #[error("the cosignature of {witness} does not verify over the checkpoint sent: {reason}")]
    BadCosignature {
        /// The witness's vkey.
        witness: String,
        /// Why.
        reason: String,
    },
    /// A 200 with no line of the witness's key.
    #[error("the answer holds no cosignature of {witness} ({lines} lines of other keys)")]
    NoCosignature {
        /// The witness's vkey.
        witness: String,
        /// The lines of other keys.
        lines: usize,
    },
}

impl WitnessResponseError {
    /// Whether the witness said "cosigned" with something that is not a
    /// valid cosignature of the checkpoint: an alarm (a witness key that is
    /// not the one configured, or a witness that misbehaves).
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            Self::BadCosignature { .. } | Self::NoCosignature { .. }
        )
    }
}

/// A cosignature line of the witness that verified over the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCosignature {
    /// The line.
    pub signature: NoteSignature,
    /// The time it states (POSIX seconds, never 0).
    pub timestamp: u64,
}

/// What a witness refused, by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: it could not read the request.
    Malformed,
    /// 403: the checkpoint is not signed by the key it holds for the log.
    Forbidden,
    /// 404: it does not witness this origin.
    UnknownOrigin,
    /// 422: the checkpoint is not consistent with what it cosigned before.
    Inconsistent,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::Malformed => 400,
            Self::Forbidden => 403,
            Self::UnknownOrigin => 404,
            Self::Inconsistent => 422,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "400 Bad Request: the witness could not read the request",
            Self::Forbidden => {
                "403 Forbidden: the witness does not accept the log's signature (it holds another key for this origin)"
            }
            Self::UnknownOrigin => "404 Not Found: the witness does not know this log's origin",
            Self::Inconsistent => {
                "422 Unprocessable Entity: the checkpoint is not consistent with what the witness cosigned before (a fork, a rollback or a truncate-and-resume)"
            }
        })
    }
}

/// A witness's answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessReply {
    /// 200: the witness's verified cosignature line(s); lines of other keys
    /// are left out.
    Cosigned(Vec<VerifiedCosignature>),
    /// 409: the witness holds `size` leaves; retry with `old <size>`.
    Conflict {
        /// The size the witness holds.
        size: u64,
    },
    /// 400, 403, 404 or 422.
    Refused(Refusal),
    /// Any other status (a server error, a redirect): no statement.
    Unexpected {
        /// The status.
        status: u16,
    },
}

impl WitnessReply {
    /// Whether this answer is an alarm: the witness refused the log's
    /// signature (403), does not know its origin (404), or found the
    /// checkpoint inconsistent with what it cosigned before (422).
    pub fn is_alarm(&self) -> bool {
        matches!(
            self,
            Self::Refused(Refusal::Forbidden | Refusal::UnknownOrigin | Refusal::Inconsistent)
        )
    }
}

/// Reads a witness's answer to an `add-checkpoint` request whose checkpoint
/// note was `sent`, from the witness whose key is `witness` (a cosigner
/// 0x04 vkey, or its 0x01 vkey, turned into the cosigner key).
///
/// - 200: the body (at most [`MAX_WITNESS_RESPONSE_BYTES`], at most
///   [`MAX_COSIGNATURE_LINES`] lines) must be signature lines; every line
///   of the witness's key must verify over `sent`'s text and state a time
///   other than 0 (`BadCosignature` otherwise), and there must be one
///   (`NoCosignature`). Lines of other keys are ignored.
/// - 409: the body must be `<size>\n` (canonical decimal).
/// - 400, 403, 404, 422: [`WitnessReply::Refused`]; the body is not read.
/// - anything else: [`WitnessReply::Unexpected`].
pub fn read_response(
    status: u16,
    body: &[u8],
    sent: &Note,
    witness: &VerifierKey,
) -> Result<WitnessReply, WitnessResponseError> {
    match status {
        200 => read_cosignatures(body, sent, witness).map(WitnessReply::Cosigned),
        409 => read_conflict(body).map(|size| WitnessReply::Conflict { size }),
        400 => Ok(WitnessReply::Refused(Refusal::Malformed)),
        403 => Ok(WitnessReply::Refused(Refusal::Forbidden)),
        404 => Ok(WitnessReply::Refused(Refusal::UnknownOrigin)),
        422 => Ok(WitnessReply::Refused(Refusal::Inconsistent)),
        status => Ok(WitnessReply::Unexpected { status }),
    }
}

/// The size in a 409 body: `<size>\n`, a canonical decimal.
pub fn read_conflict(body: &[u8]) -> Result<u64, WitnessResponseError> {
    // 20 digits and a newline.
    const MAX: usize = 21;
    if body.len() > MAX {
        return Err(WitnessResponseError::BodyTooLarge { max: MAX });
    }
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| text.strip_suffix('\n'))
        .and_then(parse_decimal)
        .ok_or(WitnessResponseError::BadConflictBody)
}

/// The witness's cosignatures in a 200 body, verified over `sent`'s text.
pub fn read_cosignatures(
    body: &[u8],
    sent: &Note,
    witness: &VerifierKey,
) -> Result<Vec<VerifiedCosignature>, WitnessResponseError> {
    if body.len() > MAX_WITNESS_RESPONSE_BYTES {
        return Err(WitnessResponseError::BodyTooLarge {
            max: MAX_WITNESS_RESPONSE_BYTES,
        });
    }
    if body.iter().filter(|&&b| b == b'\n').count() > MAX_COSIGNATURE_LINES {
        return Err(WitnessResponseError::TooManyLines);
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        WitnessResponseError::NotSignatureLines(NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })
    })?;
    let lines =
        NoteSignature::parse_lines(text).map_err(WitnessResponseError::NotSignatureLines)?;
    let key = match witness.kind() {
        SignatureType::Cosignature => witness.clone(),
        SignatureType::Ed25519 => witness.to_cosigner(),
    };
    let bad = |reason: String| WitnessResponseError::BadCosignature {
        witness: key.to_string(),
        reason,
    };
    let mut out: Vec<VerifiedCosignature> = Vec::new();
    let mut others = 0;
    for line in lines {
        if line.name() != key.name() || line.key_id() != key.key_id() {
            others += 1;
            continue;
        }
        let mut alone = Note::new(sent.text()).map_err(|e| bad(e.to_string()))?;
        alone
            .add_signature(line.clone())
            .map_err(|e| bad(e.to_string()))?;
        let verified = alone
            .verify(std::slice::from_ref(&key))
            .map_err(|e| bad(e.to_string()))?;
        let timestamp = verified
            .signature_of(&key)
            .and_then(|s| s.timestamp)
            .ok_or_else(|| bad("not a cosignature".to_owned()))?;
        if timestamp == 0 {
            return Err(bad("it states time 0".to_owned()));
        }
        if !out.iter().any(|c| c.signature == line) {
            out.push(VerifiedCosignature {
                signature: line,
                timestamp,
            });
        }
    }
    if out.is_empty() {
        return Err(WitnessResponseError::NoCosignature {
            witness: key.to_string(),
            lines: others,
        });
    }
    Ok(out)
}
