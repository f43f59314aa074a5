//! Signed checkpoints of the chain head, so truncation and rollback are
//! caught by someone who holds only a public key.
//!
//! The HMAC chain proves that no record was changed *between* the first and
//! the last, but whoever can write the file can cut records off the end or
//! put an older copy back, and the shorter chain still verifies. A
//! [`Checkpoint`] fixes the head (last sequence number, its MAC, the record
//! count and the time) under an Ed25519 signature. The signing key is
//! derived from the worker secret (HKDF context
//! `seal_crypto::context::AUDIT_CHECKPOINT`), or built from a stored seed;
//! its public half ([`CheckpointPublicKey`], 64 hex characters) is what an
//! auditor keeps. Store checkpoints somewhere the worker cannot rewrite.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use seal_crypto::{CanonicalEncoder, WorkerSecret, context};
use serde::{Deserialize, Serialize};

use crate::record::{from_hex, to_hex};
use crate::verify::{FailureReason, VerifyFailure, record_mac};
use crate::{AuditError, AuditLog, VerifyReport};

const CHECKPOINT_DOMAIN: &str = "vram-residency/audit-checkpoint";
/// Format version of [`Checkpoint`].
pub const CHECKPOINT_VERSION: u16 = 1;

/// The most bytes a checkpoint's JSON can hold (a 128-byte worker id with
/// every byte escaped, the hex fields and pretty-printing fit in well under
/// half of it). Readers of checkpoint files read at most this much.
pub const MAX_CHECKPOINT_JSON_BYTES: usize = 4096;

fn rejected(reason: impl Into<String>) -> AuditError {
    AuditError::Checkpoint {
        reason: reason.into(),
    }
}

/// The Ed25519 key that signs checkpoints. Zeroized on drop; `Debug` shows
/// only the public key.
#[derive(Clone)]
pub struct CheckpointSigner(SigningKey);

impl CheckpointSigner {
    /// Derives the signing key from the worker secret (HKDF-SHA256, context
    /// `seal_crypto::context::AUDIT_CHECKPOINT`).
    pub fn derive(secret: &WorkerSecret) -> Result<Self, AuditError> {
        let seed = secret.derive_bytes(context::AUDIT_CHECKPOINT)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// Uses a stored 32-byte Ed25519 seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The public half, for verifiers.
    pub fn public_key(&self) -> CheckpointPublicKey {
        CheckpointPublicKey(self.0.verifying_key())
    }
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointSigner(public {})", self.public_key())
    }
}

/// An Ed25519 public key that checks checkpoints; text form is 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPublicKey(VerifyingKey);

impl CheckpointPublicKey {
    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| rejected(format!("a public key is 32 bytes, got {}", bytes.len())))?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| rejected("the public key is not a valid Ed25519 point"))
    }
}

impl fmt::Display for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for CheckpointPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointPublicKey({self})")
    }
}

impl FromStr for CheckpointPublicKey {
    type Err = AuditError;

    /// Parses 64 hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes =
            from_hex(text.trim()).ok_or_else(|| rejected("a public key is 64 hex digits"))?;
        Self::from_bytes(&bytes)
    }
}

/// The signed head of a log. Serialize it with [`Checkpoint::to_json`] and
/// keep it where the worker cannot rewrite it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`CHECKPOINT_VERSION`]).
    pub version: u16,
    /// The worker whose log this is.
    pub worker_id: String,
    /// Sequence number of the last record (0 for an empty log).
    pub last_seq: u64,
    /// MAC of that record, hex (the genesis value for an empty log).
    pub head_mac: String,
    /// Records in the file when the checkpoint was taken.
    pub record_count: u64,
    /// When the checkpoint was taken.
    pub created_at: DateTime<Utc>,
    /// The signer's public key, hex (informative: verify against a key you
    /// trust, not this one).
    pub public_key: String,
    /// Ed25519 signature over the canonical encoding of the fields above, hex.
    pub signature: String,
}

impl Checkpoint {
    fn message(
        worker_id: &str,
        last_seq: u64,
        head_mac: &[u8],
        record_count: u64,
        created_ns: i64,
    ) -> Vec<u8> {
        CanonicalEncoder::new(CHECKPOINT_DOMAIN, CHECKPOINT_VERSION)
            .field(1, worker_id.as_bytes())
            .u64(2, last_seq)
            .field(3, head_mac)
            .u64(4, record_count)
            .i64(5, created_ns)
            .finish()
    }

    /// The bytes the signature covers, rebuilt from the fields (spec
    /// `AC-078`): an error when `head_mac` is not hex or `created_at` is
    /// outside the nanosecond range.
    pub(crate) fn signed_message(&self) -> Result<Vec<u8>, AuditError> {
        let head_mac = from_hex(&self.head_mac).ok_or_else(|| rejected("head_mac is not hex"))?;
        let created = self
            .created_at
            .timestamp_nanos_opt()
            .ok_or_else(|| rejected("created_at is out of range"))?;
        Ok(Self::message(
            &self.worker_id,
            self.last_seq,
            &head_mac,
            self.record_count,
            created,
        ))
    }

    /// Checks the signature with a public key the verifier trusts.
    pub fn verify(&self, key: &CheckpointPublicKey) -> Result<(), AuditError> {
        if self.version != CHECKPOINT_VERSION {
            return Err(rejected(format!(
                "checkpoint format {} is not supported (expected {CHECKPOINT_VERSION})",
                self.version
            )));
        }
        let message = self.signed_message()?;
        let signature: [u8; 64] = from_hex(&self.signature)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| rejected("a signature is 128 hex digits"))?;
        key.0
            .verify_strict(&message, &Signature::from_bytes(&signature))
            .map_err(|_| {
                rejected("the signature does not verify under this public key (forged, edited, or another worker's key)")
            })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String, AuditError> {
        serde_json::to_string_pretty(self).map_err(|e| rejected(e.to_string()))
    }

    /// Parses the JSON written by [`Self::to_json`]; text longer than
    /// [`MAX_CHECKPOINT_JSON_BYTES`] is refused unread.
    pub fn from_json(text: &str) -> Result<Self, AuditError> {
        if text.len() > MAX_CHECKPOINT_JSON_BYTES {
            return Err(rejected(format!(
                "not a checkpoint: {} bytes, more than the {MAX_CHECKPOINT_JSON_BYTES} a checkpoint can hold",
                text.len()
            )));
        }
        serde_json::from_str(text).map_err(|e| rejected(format!("not a checkpoint: {e}")))
    }
}

impl AuditLog {
    /// Signs the current head, once the whole log verifies: a checkpoint
    /// never vouches for a cut, edited or padded log. Its `record_count` is
    /// the number of records verified, so it always agrees with `last_seq`
    /// (equal without retention; the records after the latest anchor with
    /// it). A log that does not verify is [`AuditError::Checkpoint`].
    pub fn checkpoint(&self, signer: &CheckpointSigner) -> Result<Checkpoint, AuditError> {
        let report = self.verify(None)?;
        if let Some(failure) = &report.failure {
            return Err(rejected(format!(
                "the log does not verify ({failure}); no checkpoint was signed"
            )));
        }
        let head = self.head()?;
        if report.last_seq.unwrap_or(head.seq) != head.seq {
            return Err(rejected(
                "the log changed while it was checkpointed; try again",
            ));
        }
        let record_count = report.records_checked;
        let head_mac = from_hex(&head.mac).unwrap_or_default();
        let created_at = Utc::now();
        let created = created_at.timestamp_nanos_opt().unwrap_or(0);
        let created_at = DateTime::from_timestamp_nanos(created);
        let message =
            Checkpoint::message(&self.worker_id, head.seq, &head_mac, record_count, created);
        let signature = signer.0.sign(&message);
        tracing::info!(worker_id = %self.worker_id, last_seq = head.seq, "audit checkpoint signed");
        Ok(Checkpoint {
            version: CHECKPOINT_VERSION,
            worker_id: self.worker_id.clone(),
            last_seq: head.seq,
            head_mac: head.mac,
            record_count,
            created_at,
            public_key: signer.public_key().to_string(),
            signature: to_hex(&signature.to_bytes()),
        })
    }

    /// Signs the current head with the key derived from the worker secret.
    pub fn checkpoint_derived(&self) -> Result<Checkpoint, AuditError> {
        self.checkpoint(&CheckpointSigner::derive(&self.secret)?)
    }

    /// Verifies the whole chain, then that it still contains the
    /// checkpointed head: a log that ends before it is
    /// [`FailureReason::Truncated`], one whose record at that sequence number
    /// differs is [`FailureReason::RolledBack`].
    ///
    /// Errors if the checkpoint's signature does not verify under `key`, or
    /// it names another worker.
    pub fn verify_against_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        key: &CheckpointPublicKey,
    ) -> Result<VerifyReport, AuditError> {
        checkpoint.verify(key)?;
        if checkpoint.worker_id != self.worker_id {
            return Err(rejected(format!(
                "checkpoint is for worker {:?}, not {:?}",
                checkpoint.worker_id, self.worker_id
            )));
        }
        let mut report = self.verify(None)?;
        if !report.is_ok() {
            return Ok(report);
        }
        // The signed count must agree with the signed head: all records up
        // to it, or (after retention) no more than that.
        if checkpoint.record_count > checkpoint.last_seq {
            report.failure = Some(VerifyFailure {
                seq: Some(checkpoint.last_seq),
                reason: FailureReason::Structure {
                    detail: format!(
                        "the checkpoint counts {} records but its head is seq {}: it was signed over rows outside the chain",
                        checkpoint.record_count, checkpoint.last_seq
                    ),
                },
            });
            return Ok(report);
        }
        let log_last = report.last_seq.unwrap_or(0);
        let want = from_hex(&checkpoint.head_mac).unwrap_or_default();
        let failure = if checkpoint.last_seq == 0 {
            None
        } else if log_last < checkpoint.last_seq {
            Some(FailureReason::Truncated {
                checkpoint_seq: checkpoint.last_seq,
                log_last_seq: log_last,
            })
        } else {
            // Present in the file, or dropped by retention: compare where we can.
            let found = match record_mac(&self.conn, checkpoint.last_seq)? {
                Some(mac) => Some(mac),
                None => crate::verify::latest_anchor(&self.conn)?
                    .filter(|a| a.seq == checkpoint.last_seq)
                    .map(|a| a.mac),
            };
            match found {
                Some(mac) if !seal_crypto::ct_eq(&mac, &want) => Some(FailureReason::RolledBack {
                    checkpoint_seq: checkpoint.last_seq,
                }),
                _ => None,
            }
        };
        if let Some(reason) = failure {
            report.failure = Some(VerifyFailure {
                seq: Some(checkpoint.last_seq),
                reason,
            });
        }
        Ok(report)
    }
}

/// Verifies the log at `path` against a checkpoint (see
/// [`AuditLog::verify_against_checkpoint`]).
pub fn verify_log_against_checkpoint(
    path: impl AsRef<Path>,
    worker_id: &str,
    secret: &WorkerSecret,
    checkpoint: &Checkpoint,
    key: &CheckpointPublicKey,
) -> Result<VerifyReport, AuditError> {
    // The checkpoint first: only a signed statement that the log held
    // records turns "this is not a log" into a failed check.
    checkpoint.verify(key)?;
    let path = path.as_ref();
    match AuditLog::open_read(path, worker_id, secret) {
        Ok(log) => log.verify_against_checkpoint(checkpoint, key),
        Err(AuditError::UnknownSchema { found, .. }) => Ok(VerifyReport::failed(
            None,
            FailureReason::UnknownSchema { found },
        )),
        Err(AuditError::NotAnAuditLog { detail, .. } | AuditError::Damaged { detail, .. }) => {
            Ok(VerifyReport::failed(
                None,
                FailureReason::Structure {
                    detail: format!(
                        "{} is no longer an audit log ({detail}), but the checkpoint says it held records up to seq {}: the log was destroyed or replaced",
                        path.display(),
                        checkpoint.last_seq
                    ),
                },
            ))
        }
        Err(e) => Err(e),
    }
}
