//! k-of-n witness policies: a checkpoint is trusted only when the log signed
//! it and at least `quorum` of the configured witnesses cosigned it.
//!
//! A witness cosigns (c2sp.org/tlog-witness) only a checkpoint consistent
//! with everything it saw before, so a quorum of independent cosignatures
//! makes a split view (one history shown to some, another to others) need the
//! witnesses' collusion. The policy is explicit and fails closed:
//! [`WitnessPolicy::check`] reports which witnesses cosigned, and
//! [`PolicyReport::require_quorum`] is an error unless enough did.
//!
//! Witness keys may be given as cosigner (0x04) vkeys or as plain Ed25519
//! (0x01) vkeys; the latter are turned into cosigner keys (same name and
//! public key, the 0x04 key ID), since that is how witnesses such as the
//! Armored Witnesses publish them. Only cosignatures (0x04) count.

use std::collections::BTreeSet;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, open_checkpoint};
use crate::keys::{KeyId, SignatureType, VerifierKey};

/// A policy that cannot be built, or a checkpoint that does not satisfy it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The quorum is 0 or above the number of witnesses.
    #[error(
        "a quorum of {quorum} among {witnesses} witnesses is not a policy (it must be 1 to {witnesses}); to trust the log alone, use open_checkpoint"
    )]
    BadQuorum {
        /// The quorum asked for.
        quorum: usize,
        /// How many witnesses there are.
        witnesses: usize,
    },
    /// Two witnesses share a name or a public key, so one could count twice.
    #[error(
        "witness {name} appears twice (same name or same public key); each witness must count once"
    )]
    DuplicateWitness {
        /// The witness name.
        name: String,
    },
    /// A witness has the log's public key.
    #[error("witness {name} has the log's public key: the log cannot witness itself")]
    WitnessIsLog {
        /// The witness name.
        name: String,
    },
    /// The checkpoint is not the log's, or a known signature failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// Too few witnesses cosigned.
    #[error(
        "{cosigned} of the {quorum} witness cosignatures the policy requires (missing: {missing:?}); do not trust this checkpoint yet"
    )]
    QuorumNotMet {
        /// How many cosigned.
        cosigned: usize,
        /// How many are required.
        quorum: usize,
        /// The witnesses that did not cosign.
        missing: Vec<String>,
    },
}

/// The log's key, the witnesses' keys, and how many witnesses must cosign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    log: VerifierKey,
    witnesses: Vec<VerifierKey>,
    quorum: usize,
}

/// A valid cosignature by a witness of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessCosignature {
    /// The witness's key name.
    pub name: String,
    /// Its cosigner (0x04) key ID.
    pub key_id: KeyId,
    /// The time it cosigned (POSIX seconds).
    pub timestamp: u64,
}

/// What a checkpoint met of a [`WitnessPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyReport {
    checkpoint: SignedCheckpoint,
    cosigned: Vec<WitnessCosignature>,
    missing: Vec<String>,
    quorum: usize,
}

impl PolicyReport {
    /// The checkpoint, signed by the log.
    pub fn checkpoint(&self) -> &Checkpoint {
        self.checkpoint.checkpoint()
    }

    /// The checkpoint with its note and every verified signature.
    pub fn signed_checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// The witnesses that cosigned validly, in policy order.
    pub fn cosigned(&self) -> &[WitnessCosignature] {
        &self.cosigned
    }

    /// The witnesses with no cosignature on the note, in policy order.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    /// The number of cosignatures required.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Whether at least `quorum` witnesses cosigned.
    pub fn quorum_met(&self) -> bool {
        self.cosigned.len() >= self.quorum
    }

    /// The report itself if the quorum is met, else
    /// [`PolicyError::QuorumNotMet`].
    pub fn require_quorum(self) -> Result<Self, PolicyError> {
        if self.quorum_met() {
            Ok(self)
        } else {
            Err(PolicyError::QuorumNotMet {
                cosigned: self.cosigned.len(),
                quorum: self.quorum,
                missing: self.missing,
            })
        }
    }
}

impl WitnessPolicy {
    /// A policy: checkpoints signed by `log` (an Ed25519 0x01 key) and
    /// cosigned by at least `quorum` of `witnesses` (1 ≤ quorum ≤ n; no two
    /// witnesses with the same name or public key, none with the log's key).
    pub fn new(
        log: VerifierKey,
        witnesses: Vec<VerifierKey>,
        quorum: usize,
    ) -> Result<Self, PolicyError> {
        if log.kind() != SignatureType::Ed25519 {
            return Err(CheckpointError::LogKeyNotEd25519 {
                key: log.to_string(),
                kind: log.kind(),
            }
            .into());
        }
        if quorum == 0 || quorum > witnesses.len() {
            return Err(PolicyError::BadQuorum {
                quorum,
                witnesses: witnesses.len(),
            });
        }
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut cosigners = Vec::with_capacity(witnesses.len());
        for witness in witnesses {
            let witness = match witness.kind() {
                SignatureType::Cosignature => witness,
                SignatureType::Ed25519 => witness.to_cosigner(),
            };
            if witness.public_key() == log.public_key() {
                return Err(PolicyError::WitnessIsLog {
                    name: witness.name().to_owned(),
                });
            }
            if !names.insert(witness.name().to_owned()) || !keys.insert(witness.public_key()) {
                return Err(PolicyError::DuplicateWitness {
                    name: witness.name().to_owned(),
                });
            }
            cosigners.push(witness);
        }
        Ok(Self {
            log,
            witnesses: cosigners,
            quorum,
        })
    }

    /// The log's key.
    pub fn log_key(&self) -> &VerifierKey {
        &self.log
    }

    /// The witnesses' cosigner (0x04) keys.
    pub fn witnesses(&self) -> &[VerifierKey] {
        &self.witnesses
    }

    /// The number of cosignatures required.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Opens the checkpoint note of `origin` and reports which witnesses
    /// cosigned it. Errors if the log did not sign it or any known signature
    /// fails; a quorum that is not met is *reported*, see
    /// [`PolicyReport::require_quorum`].
    pub fn check(&self, note: &[u8], origin: &str) -> Result<PolicyReport, PolicyError> {
        let signed = open_checkpoint(note, origin, &self.log, &self.witnesses)?;
        let mut cosigned = Vec::new();
        let mut missing = Vec::new();
        for witness in &self.witnesses {
            match signed
                .verified()
                .signature_of(witness)
                .and_then(|s| s.timestamp)
            {
                Some(timestamp) => cosigned.push(WitnessCosignature {
                    name: witness.name().to_owned(),
                    key_id: witness.key_id(),
                    timestamp,
                }),
                None => missing.push(witness.name().to_owned()),
            }
        }
        Ok(PolicyReport {
            checkpoint: signed,
            cosigned,
            missing,
            quorum: self.quorum,
        })
    }

    /// [`check`](Self::check), then [`PolicyReport::require_quorum`].
    pub fn verify(&self, note: &[u8], origin: &str) -> Result<PolicyReport, PolicyError> {
        self.check(note, origin)?.require_quorum()
    }
}
