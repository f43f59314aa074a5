//! What a verification reports: the first failure and why.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why verification stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The record's MAC does not match its contents: it was edited.
    MacMismatch,
    /// A sequence number is missing: records were deleted.
    SequenceGap {
        /// The sequence number that should have come next.
        expected: u64,
        /// The one found instead.
        found: u64,
    },
    /// The record does not link to the one before it: a record was
    /// inserted, or records were reordered.
    BrokenLink,
    /// The first record does not link to this worker's genesis value: the
    /// log belongs to another worker, or was written under another secret
    /// (or its first record was replaced or moved: any broken link at
    /// record 1 is reported this way).
    WrongGenesis,
    /// The retention anchor the chain starts from is not authentic.
    BadAnchor,
    /// The log's schema version is not one this build reads.
    UnknownSchema {
        /// The version found.
        found: i64,
    },
    /// The log ends before the checkpoint's head: records were cut off the
    /// tail, or an older copy of the database was put back.
    Truncated {
        /// The checkpoint's last sequence number.
        checkpoint_seq: u64,
        /// The log's last sequence number (0 when empty).
        log_last_seq: u64,
    },
    /// The record at the checkpoint's head is not the one that was
    /// checkpointed: an older copy was put back and written on since.
    RolledBack {
        /// The checkpoint's last sequence number.
        checkpoint_seq: u64,
    },
    /// The record's leaf in the Merkle tree is not the hash of the record
    /// (with its MAC): the record or the tree was changed after it was
    /// written.
    LeafMismatch,
    /// A stored inner node of the Merkle tree is not the hash of its two
    /// children: the tree was changed.
    TreeMismatch {
        /// The node's stored index in the `tree` table.
        index: u64,
    },
    /// A record is not in the form the log writes: a column of the wrong
    /// SQLite storage class or size, or an export line that cannot be
    /// decoded into the stored form.
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// Something the chain relies on around the records was removed,
    /// added or changed: a missing table or column, a changed header, an
    /// unexpected or malformed `meta` or `anchors` row, a `records` row
    /// outside the chain, or (against a checkpoint) a file that is no
    /// longer an audit log at all.
    Structure {
        /// What, naming the table and row.
        detail: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MacMismatch => f.write_str("MAC mismatch: the record was edited"),
            Self::SequenceGap { expected, found } => write!(
                f,
                "sequence gap: expected {expected}, found {found} (records were deleted)"
            ),
            Self::BrokenLink => f.write_str(
                "broken link: the record does not follow the previous one (inserted or reordered)",
            ),
            Self::WrongGenesis => f.write_str(
                "wrong genesis: the log belongs to another worker or was written under another secret (check the worker id and the secret)",
            ),
            Self::BadAnchor => f.write_str("the retention anchor is not authentic"),
            Self::UnknownSchema { found } => write!(f, "unknown schema version {found}"),
            Self::Truncated {
                checkpoint_seq,
                log_last_seq,
            } => write!(
                f,
                "truncated: the checkpoint covers up to {checkpoint_seq} but the log ends at {log_last_seq} (tail cut off or older copy restored)"
            ),
            Self::RolledBack { checkpoint_seq } => write!(
                f,
                "rolled back: record {checkpoint_seq} is not the one checkpointed (older copy restored and written on)"
            ),
            Self::LeafMismatch => f.write_str(
                "leaf mismatch: the record's Merkle leaf is not its hash (the record or the tree was changed)",
            ),
            Self::TreeMismatch { index } => write!(
                f,
                "tree mismatch: stored node {index} is not the hash of its children (the tree was changed)"
            ),
            Self::Malformed { detail } => write!(f, "malformed record: {detail}"),
            Self::Structure { detail } => write!(f, "structure changed: {detail}"),
        }
    }
}

/// The first bad record and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyFailure {
    /// The sequence number at which the problem was found (`None` when it
    /// concerns the whole file, like an unknown schema).
    pub seq: Option<u64>,
    /// Why.
    #[serde(flatten)]
    pub reason: FailureReason,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record {seq}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// What a verification found.
///
/// `failure` is `None` when every checked record verified.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records that verified (up to, not including, the first bad one).
    pub records_checked: u64,
    /// First sequence number checked.
    pub first_seq: Option<u64>,
    /// Last sequence number that verified.
    pub last_seq: Option<u64>,
    /// MAC of the last record that verified, hex.
    pub head_mac: Option<String>,
    /// The first problem, if any.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// True when nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }

    pub(crate) fn failed(seq: Option<u64>, reason: FailureReason) -> Self {
        Self {
            failure: Some(VerifyFailure { seq, reason }),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AC-030: a failure says where and what, in words a person acts on;
    /// each reason names itself and its numbers.
    #[test]
    fn ac_030_failures_say_where_and_what() {
        let cases = [
            (
                FailureReason::MacMismatch,
                "MAC mismatch: the record was edited",
            ),
            (
                FailureReason::SequenceGap {
                    expected: 4,
                    found: 9,
                },
                "sequence gap: expected 4, found 9 (records were deleted)",
            ),
            (FailureReason::BrokenLink, "broken link"),
            (
                FailureReason::WrongGenesis,
                "check the worker id and the secret",
            ),
            (
                FailureReason::BadAnchor,
                "the retention anchor is not authentic",
            ),
            (
                FailureReason::UnknownSchema { found: 7 },
                "unknown schema version 7",
            ),
            (
                FailureReason::Truncated {
                    checkpoint_seq: 12,
                    log_last_seq: 10,
                },
                "the checkpoint covers up to 12 but the log ends at 10",
            ),
            (
                FailureReason::RolledBack { checkpoint_seq: 5 },
                "rolled back: record 5",
            ),
            (FailureReason::LeafMismatch, "leaf mismatch"),
            (
                FailureReason::TreeMismatch { index: 33 },
                "tree mismatch: stored node 33",
            ),
            (
                FailureReason::Malformed {
                    detail: "bad hex".into(),
                },
                "malformed record: bad hex",
            ),
            (
                FailureReason::Structure {
                    detail: "row 3".into(),
                },
                "structure changed: row 3",
            ),
        ];
        for (reason, says) in cases {
            let text = reason.to_string();
            assert!(text.contains(says), "{reason:?}: {text}");
            let at = VerifyFailure {
                seq: Some(41),
                reason: reason.clone(),
            };
            assert_eq!(at.to_string(), format!("record 41: {text}"));
            let nowhere = VerifyFailure { seq: None, reason };
            assert_eq!(nowhere.to_string(), text);
        }
    }
}
