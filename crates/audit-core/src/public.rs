//! Verification without the worker secret (`AC-094`): what an auditor, a
//! monitor or a witness holding only the log's public key (its vkey) can
//! check, and what they cannot be fooled about.
//!
//! The HMAC chain needs the secret, and whoever holds the secret can forge
//! it. [`verify_public`] checks the other layer instead: every record's
//! Merkle leaf is recomputed from the record (no key needed), the stored
//! tree must be exactly the tree of those leaves, and its root at the size
//! of a checkpoint signed by the log key (not derived from the secret) must
//! be the signed root. Given a checkpoint the auditor kept from before
//! (`previous_note`, e.g. the last one a witness cosigned), the tree must
//! also extend it: a history rewritten and re-signed by a compromised host,
//! an older copy put back, or a fork, fail here.

use std::path::Path;

use rusqlite::Connection;
use serde::{Serialize, Serializer};
use tlog::{Hash, SignedCheckpoint, VerifierKey, WitnessPolicy, open_checkpoint};

use crate::AuditError;
use crate::logkey::log_origin;
use crate::reader;
use crate::schema::TREE_SCHEMA_VERSION;
use crate::signed::read_checkpoints;
use crate::tree::TreeStore;
use crate::verify::{
    self, FailureReason, Layer, Shape, Split, Start, TreeFault, TreeScan, VerifyReport,
};

fn base64_hash<S: Serializer>(hash: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
    match hash {
        Some(h) => s.serialize_str(&h.to_base64()),
        None => s.serialize_none(),
    }
}

/// Where the checkpoint checked came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointSource {
    /// Given by the verifier (from a witness, a collector, a file kept).
    Given,
    /// The latest one stored in the log's `checkpoints` table.
    Stored,
}

/// Why public verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PublicFailure {
    /// The log has no Merkle tree (schema 1 or 2): nothing can be checked
    /// without the secret until it is opened for writing once (migrated).
    NoTree {
        /// The file's schema version.
        schema_version: i64,
    },
    /// The file's schema version is not one this build reads.
    UnknownSchema {
        /// The version found.
        found: i64,
    },
    /// Something around the records was removed, added or changed: a
    /// missing table, a `meta` row, a record or tree row outside the
    /// tree, a stored checkpoint that is not the tree's.
    Structure {
        /// What, naming the table and row.
        detail: String,
    },
    /// A record is not in the form the log writes.
    Malformed {
        /// The record.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// A record is missing among those kept (deleted).
    SequenceGap {
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The record's leaf in the tree is not its hash: the record (or the
    /// tree) was changed after it was logged.
    LeafMismatch {
        /// The record.
        seq: u64,
    },
    /// A stored inner node is not the hash of its children.
    TreeMismatch {
        /// Its stored index.
        index: u64,
    },
    /// No checkpoint to check against: none was given and the log stores
    /// none. A log is never publicly verified without a signed checkpoint.
    NoCheckpoint,
    /// The checkpoint is not the log's: malformed, another origin, not
    /// signed by the log key, or a known signature fails.
    CheckpointRejected {
        /// Why.
        detail: String,
    },
    /// Too few of the witnesses cosigned the checkpoint.
    QuorumNotMet {
        /// Valid cosignatures.
        cosigned: usize,
        /// Required.
        quorum: usize,
        /// The witnesses that did not cosign.
        missing: Vec<String>,
    },
    /// The previous checkpoint is not the log's.
    PreviousRejected {
        /// Why.
        detail: String,
    },
    /// The checkpoint signs more leaves than the file's tree holds: records
    /// were cut off, or an older copy of the file was put back.
    CheckpointBeyondLog {
        /// Leaves the checkpoint signs.
        checkpoint_size: u64,
        /// Leaves in the file.
        tree_size: u64,
    },
    /// The file's tree at the checkpoint's size does not have the signed
    /// root: the history was rewritten.
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// The checkpoint is smaller than the previous one: the log went
    /// backwards (an older copy, or a rollback).
    RolledBack {
        /// The previous checkpoint's size.
        previous_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// Two signed checkpoints of the same size with different roots: the
    /// log forked (equivocation). Keep both notes as evidence.
    Forked {
        /// The size.
        size: u64,
    },
    /// The checkpoint's tree does not extend the previous one: the history
    /// up to the previous checkpoint was rewritten, or the log forked.
    Inconsistent {
        /// The previous checkpoint's size.
        previous_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

impl std::fmt::Display for PublicFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoTree { schema_version } => write!(
                f,
                "no Merkle tree: the log is schema version {schema_version}; open it for writing once to migrate it, then sign a checkpoint"
            ),
            Self::UnknownSchema { found } => write!(f, "unknown schema version {found}"),
            Self::Structure { detail } => write!(f, "structure changed: {detail}"),
            Self::Malformed { seq, detail } => write!(f, "record {seq} is malformed: {detail}"),
            Self::SequenceGap { expected, found } => write!(
                f,
                "sequence gap: expected record {expected}, found {found} (records were deleted)"
            ),
            Self::LeafMismatch { seq } => write!(
                f,
                "record {seq} is not the one logged: its Merkle leaf differs (the record or the tree was changed)"
            ),
            Self::TreeMismatch { index } => write!(
                f,
                "tree node {index} is not the hash of its children (the tree was changed)"
            ),
            Self::NoCheckpoint => f.write_str(
                "no signed checkpoint: none was given and the log stores none, so nothing vouches for it",
            ),
            Self::CheckpointRejected { detail } => write!(f, "checkpoint rejected: {detail}"),
            Self::QuorumNotMet {
                cosigned,
                quorum,
                missing,
            } => write!(
                f,
                "{cosigned} of the {quorum} witness cosignatures required (missing: {})",
                missing.join(", ")
            ),
            Self::PreviousRejected { detail } => {
                write!(f, "previous checkpoint rejected: {detail}")
            }
            Self::CheckpointBeyondLog {
                checkpoint_size,
                tree_size,
            } => write!(
                f,
                "the checkpoint signs {checkpoint_size} records but the log holds {tree_size}: records were cut off or an older copy was restored"
            ),
            Self::RootMismatch { size } => write!(
                f,
                "the log's tree at {size} records does not have the signed root: the history was rewritten"
            ),
            Self::RolledBack {
                previous_size,
                size,
            } => write!(
                f,
                "rolled back: the checkpoint signs {size} records, fewer than the {previous_size} signed before"
            ),
            Self::Forked { size } => write!(
                f,
                "forked: two checkpoints of {size} records with different roots (keep both as evidence)"
            ),
            Self::Inconsistent {
                previous_size,
                size,
            } => write!(
                f,
                "inconsistent: the tree of {size} records does not extend the checkpoint of {previous_size} (history rewritten or forked; keep both as evidence)"
            ),
        }
    }
}

/// What [`verify_public`] found. `failure` is `None` when everything
/// checked out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PublicReport {
    /// The worker id the file says it belongs to (its `meta` row; every
    /// record's `worker_id` must be it).
    pub worker_id: Option<String>,
    /// The log's origin ([`crate::log_origin`] of the worker id).
    pub origin: Option<String>,
    /// The file's schema version.
    pub schema_version: Option<i64>,
    /// Leaves in the file's tree (the head sequence number).
    pub tree_size: u64,
    /// The root of the file's tree (base64 in JSON).
    #[serde(serialize_with = "base64_hash")]
    pub tree_root: Option<Hash>,
    /// Records whose leaf was recomputed and matched.
    pub records_checked: u64,
    /// First and last record checked.
    pub first_seq: Option<u64>,
    /// Last record checked.
    pub last_seq: Option<u64>,
    /// Leaves whose records retention dropped: taken as stored (an earlier
    /// checkpoint's consistency still covers them).
    pub leaves_without_record: u64,
    /// Where the checkpoint came from.
    pub checkpoint_source: Option<CheckpointSource>,
    /// The size the checkpoint signs.
    pub checkpoint_size: Option<u64>,
    /// The root it signs (base64 in JSON).
    #[serde(serialize_with = "base64_hash")]
    pub checkpoint_root: Option<Hash>,
    /// The previous checkpoint's size, when one was given.
    pub previous_size: Option<u64>,
    /// The witnesses whose cosignatures verified.
    pub cosigned_by: Vec<String>,
    /// The first problem, if any.
    pub failure: Option<PublicFailure>,
}

impl PublicReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    fn fail(mut self, failure: PublicFailure) -> Self {
        self.failure = Some(failure);
        self
    }
}

fn from_fault(fault: TreeFault) -> PublicFailure {
    match fault {
        TreeFault::Structure(detail) => PublicFailure::Structure { detail },
        TreeFault::NodeMismatch { index } => PublicFailure::TreeMismatch { index },
    }
}

/// A failure of the public walk (no key: sequence numbers, worker ids and
/// leaves) as a public failure.
fn from_walk(seq: Option<u64>, reason: FailureReason) -> PublicFailure {
    match (reason, seq) {
        (FailureReason::Malformed { detail }, Some(seq)) => {
            PublicFailure::Malformed { seq, detail }
        }
        (FailureReason::SequenceGap { expected, found }, _) => {
            PublicFailure::SequenceGap { expected, found }
        }
        (FailureReason::LeafMismatch, Some(seq)) => PublicFailure::LeafMismatch { seq },
        (reason, _) => PublicFailure::Structure {
            detail: reason.to_string(),
        },
    }
}

/// The public walk over the kept records `from..=size` (split into parts
/// read in parallel when the file can be reopened) and, beside it, the
/// scan of the stored tree with the roots at `sizes`.
fn walk_and_scan(
    conn: &Connection,
    reopen: Option<&str>,
    worker_id: &str,
    from: u64,
    size: u64,
    sizes: &[u64],
) -> Result<(VerifyReport, Result<TreeScan, TreeFault>), AuditError> {
    let layer = Layer::Public { worker_id };
    let start = Start::Trusting { seq: from };
    let walk = || -> Result<VerifyReport, AuditError> {
        let split = match reopen {
            Some(uri) => verify::verify_split(
                conn,
                uri,
                layer,
                start.clone(),
                None,
                from,
                size,
                Split::auto(),
                Some(size),
            )?,
            None => None,
        };
        match split {
            Some(report) => Ok(report),
            None => verify::verify_walk(conn, layer, start.clone(), from, size, Some(size)),
        }
    };
    std::thread::scope(|scope| {
        let anchor_seq = from.saturating_sub(1);
        let scan_job = reopen.map(|uri| {
            scope.spawn(move || {
                verify::on_own_connection(uri, anchor_seq, size, |own| {
                    verify::scan_tree(own, size, sizes)
                })
            })
        });
        let report = walk()?;
        let scan = match scan_job.map(std::thread::ScopedJoinHandle::join) {
            Some(Ok(Ok(Some(scan)))) => scan,
            Some(Ok(Err(e))) => return Err(e),
            _ => verify::scan_tree(conn, size, sizes)?,
        };
        Ok((report, scan))
    })
}

/// Verifies the log at `path` with the log's public key alone (`AC-094`):
/// no worker secret, and the file is only read (reader rules, `AC-017`).
///
/// In this order; the first failure is the report's:
/// 1. The file: not found or not an audit log is an error; an unknown
///    schema, a damaged structure or a log without a tree (schema 1 or 2)
///    a failure.
/// 2. The checkpoint: `checkpoint_note` if given, else the latest stored in
///    the log; none is [`PublicFailure::NoCheckpoint`]. It must be a C2SP
///    checkpoint of the log's origin signed by `log_key`; with `witnesses`,
///    at least `quorum` of them must have cosigned it.
/// 3. `previous_note`, if given (a checkpoint kept from before): signed by
///    `log_key`, not larger than the checkpoint, and at equal size with
///    the same root.
/// 4. The checkpoint's size must not exceed the file's tree.
/// 5. Every row: no record outside the chain, every stored checkpoint row
///    well-formed.
/// 6. The tree, leaf by leaf: each kept record's leaf recomputed and equal
///    to the stored leaf, each stored node the hash of its children, no
///    row missing or extra.
/// 7. The tree's root at the checkpoint's size is the signed root.
/// 8. With `previous_note`: the tree's root at its size is its root, and
///    the consistency proof from it to the checkpoint verifies.
/// 9. Every stored checkpoint's root is the tree's at its size.
///
/// `witnesses` may be cosigner (0x04) vkeys or the witnesses' 0x01 vkeys;
/// `quorum` must be 1 to their number (0 when there are none). A bad policy
/// or a log key that is not Ed25519 is an error, not a report.
pub fn verify_public(
    path: impl AsRef<Path>,
    log_key: &VerifierKey,
    checkpoint_note: Option<&str>,
    previous_note: Option<&str>,
    witnesses: &[VerifierKey],
    quorum: usize,
) -> Result<PublicReport, AuditError> {
    let path = path.as_ref();
    if log_key.kind() != tlog::SignatureType::Ed25519 {
        return Err(AuditError::LogKey {
            reason: format!(
                "the key {}+{} is a {:?} key; a log's checkpoints are checked with its Ed25519 (0x01) vkey",
                log_key.name(),
                log_key.key_id(),
                log_key.kind()
            ),
        });
    }
    let policy = match (witnesses.is_empty(), quorum) {
        (true, 0) => None,
        (true, _) => {
            return Err(AuditError::SignedCheckpoint {
                reason: format!("a quorum of {quorum} needs witness keys, and none were given"),
            });
        }
        (false, _) => Some(
            WitnessPolicy::new(log_key.clone(), witnesses.to_vec(), quorum).map_err(|e| {
                AuditError::SignedCheckpoint {
                    reason: e.to_string(),
                }
            })?,
        ),
    };
    let snapshot = reader::open(path)?;
    let conn = &snapshot.conn;
    let report = PublicReport::default();
    let schema_version = match verify::shape(conn)? {
        Shape::NotALog(detail) => {
            return Err(AuditError::NotAnAuditLog {
                path: path.display().to_string(),
                detail,
            });
        }
        Shape::Unknown(found) => return Ok(report.fail(PublicFailure::UnknownSchema { found })),
        Shape::Broken(detail) => return Ok(report.fail(PublicFailure::Structure { detail })),
        Shape::Log(version) => version,
    };
    let report = PublicReport {
        schema_version: Some(schema_version),
        ..report
    };
    if schema_version < TREE_SCHEMA_VERSION {
        return Ok(report.fail(PublicFailure::NoTree { schema_version }));
    }
    verify_conn_public(
        conn,
        snapshot.reopen.as_deref(),
        report,
        log_key,
        policy.as_ref(),
        checkpoint_note,
        previous_note,
    )
}

fn verify_conn_public(
    conn: &Connection,
    reopen: Option<&str>,
    mut report: PublicReport,
    log_key: &VerifierKey,
    policy: Option<&WitnessPolicy>,
    checkpoint_note: Option<&str>,
    previous_note: Option<&str>,
) -> Result<PublicReport, AuditError> {
    let schema_version = report.schema_version.unwrap_or(TREE_SCHEMA_VERSION);
    // 1. Whose log: the meta rows, checked as with the secret.
    let worker_id = match verify::stored_worker_id(conn)? {
        Ok(worker_id) => worker_id,
        Err(detail) => return Ok(report.fail(PublicFailure::Structure { detail })),
    };
    if let Some(failure) = verify::check_meta(conn, &worker_id, schema_version)? {
        return Ok(report.fail(PublicFailure::Structure {
            detail: failure.reason.to_string(),
        }));
    }
    let origin = log_origin(&worker_id)?;
    report.worker_id = Some(worker_id.clone());
    report.origin = Some(origin.clone());
    let anchor_seq = verify::latest_anchor(conn)?.map_or(0, |a| a.seq);
    let tree_size = verify::head_seq(conn, anchor_seq)?;
    report.tree_size = tree_size;
    let stored = match read_checkpoints(conn, &origin, u64::MAX)? {
        Ok(stored) => stored,
        Err(detail) => return Ok(report.fail(PublicFailure::Structure { detail })),
    };

    // 2. The checkpoint.
    let (note, source) = match (checkpoint_note, stored.last()) {
        (Some(note), _) => (note.to_owned(), CheckpointSource::Given),
        (None, Some(latest)) => (latest.note.clone(), CheckpointSource::Stored),
        (None, None) => return Ok(report.fail(PublicFailure::NoCheckpoint)),
    };
    report.checkpoint_source = Some(source);
    let signed: SignedCheckpoint = match policy {
        Some(policy) => {
            let checked = match policy.check(note.as_bytes(), &origin) {
                Ok(checked) => checked,
                Err(e) => {
                    return Ok(report.fail(PublicFailure::CheckpointRejected {
                        detail: e.to_string(),
                    }));
                }
            };
            report.cosigned_by = checked.cosigned().iter().map(|c| c.name.clone()).collect();
            if !checked.quorum_met() {
                return Ok(report.fail(PublicFailure::QuorumNotMet {
                    cosigned: checked.cosigned().len(),
                    quorum: checked.quorum(),
                    missing: checked.missing().to_vec(),
                }));
            }
            checked.signed_checkpoint().clone()
        }
        None => match open_checkpoint(note.as_bytes(), &origin, log_key, &[]) {
            Ok(signed) => signed,
            Err(e) => {
                return Ok(report.fail(PublicFailure::CheckpointRejected {
                    detail: e.to_string(),
                }));
            }
        },
    };
    let checkpoint = signed.checkpoint();
    let size = checkpoint.size();
    report.checkpoint_size = Some(size);
    report.checkpoint_root = Some(*checkpoint.root());

    // 3. The previous checkpoint.
    let previous = match previous_note {
        None => None,
        Some(note) => match open_checkpoint(note.as_bytes(), &origin, log_key, &[]) {
            Ok(previous) => Some(previous.checkpoint().clone()),
            Err(e) => {
                return Ok(report.fail(PublicFailure::PreviousRejected {
                    detail: e.to_string(),
                }));
            }
        },
    };
    if let Some(previous) = &previous {
        report.previous_size = Some(previous.size());
        if previous.size() > size {
            return Ok(report.fail(PublicFailure::RolledBack {
                previous_size: previous.size(),
                size,
            }));
        }
        if previous.size() == size && previous.root() != checkpoint.root() {
            return Ok(report.fail(PublicFailure::Forked { size }));
        }
    }

    // 4. The file must hold what was signed.
    if size > tree_size {
        return Ok(report.fail(PublicFailure::CheckpointBeyondLog {
            checkpoint_size: size,
            tree_size,
        }));
    }

    // 5. Every row.
    let mut rows = VerifyReport::default();
    verify::account_records(conn, &mut rows, anchor_seq)?;
    if let Some(failure) = rows.failure {
        return Ok(report.fail(PublicFailure::Structure {
            detail: failure.reason.to_string(),
        }));
    }
    if let Some(bad) = stored.iter().find(|c| c.size > tree_size) {
        return Ok(report.fail(PublicFailure::Structure {
            detail: format!(
                "stored checkpoint {} signs {} leaves but the tree holds {tree_size}: records were cut off after it was signed",
                bad.id, bad.size
            ),
        }));
    }

    // 6. The tree, leaf by leaf.
    let mut sizes: Vec<u64> = stored.iter().map(|c| c.size).collect();
    sizes.push(size);
    if let Some(previous) = &previous {
        sizes.push(previous.size());
    }
    let (walk, scan) = walk_and_scan(
        conn,
        reopen,
        &worker_id,
        anchor_seq.saturating_add(1),
        tree_size,
        &sizes,
    )?;
    report.records_checked = walk.records_checked;
    report.first_seq = walk.first_seq;
    report.last_seq = walk.last_seq;
    report.leaves_without_record = tree_size.saturating_sub(walk.records_checked);
    if let Some(failure) = walk.failure {
        return Ok(report.fail(from_walk(failure.seq, failure.reason)));
    }
    let scan = match scan {
        Ok(scan) => scan,
        Err(fault) => return Ok(report.fail(from_fault(fault))),
    };
    report.tree_root = Some(scan.root);

    // 7. The signed root.
    if scan.root_at(size) != Some(*checkpoint.root()) {
        return Ok(report.fail(PublicFailure::RootMismatch { size }));
    }

    // 8. Consistency with the previous checkpoint, by the root at its size
    //    and by the RFC 9162 proof from the stored tree.
    if let Some(previous) = &previous {
        let inconsistent = PublicFailure::Inconsistent {
            previous_size: previous.size(),
            size,
        };
        if scan.root_at(previous.size()) != Some(*previous.root()) {
            return Ok(report.fail(inconsistent));
        }
        if previous.size() > 0 {
            let proof = tlog::consistency_proof(&TreeStore::new(conn), previous.size(), size)
                .map_err(|e| AuditError::Tree {
                    detail: e.to_string(),
                })?;
            if tlog::verify_consistency(
                previous.size(),
                size,
                previous.root().as_bytes(),
                checkpoint.root().as_bytes(),
                &proof,
            )
            .is_err()
            {
                return Ok(report.fail(inconsistent));
            }
        }
    }

    // 9. The stored checkpoints are the tree's.
    if let Some(bad) = stored.iter().find(|c| scan.root_at(c.size) != Some(c.root)) {
        return Ok(report.fail(PublicFailure::Structure {
            detail: format!(
                "stored checkpoint {} (size {}) does not have the tree's root at that size",
                bad.id, bad.size
            ),
        }));
    }
    Ok(report)
}
