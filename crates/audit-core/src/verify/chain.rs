//! The streaming chain check: sequence, link and MAC of each record, in
//! order, and (schema 3) each record's Merkle leaf against the stored one.
//!
//! Folding the leaf check into the walk reads every record once for both
//! layers; the stored tree's inner nodes are checked on their own
//! (`tree::scan_tree` over the `tree` table alone), which needs no record.

use rayon::prelude::*;
use tlog::Hash;

use super::split::PartResult;
use super::{FailureReason, VerifyFailure, VerifyReport};
use crate::record::{ChainKey, RawRecord, to_hex};

/// What a walk checks of each record besides its sequence number and its
/// stored leaf.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer<'k> {
    /// The HMAC chain: each link and MAC, with the chain key.
    Chain(&'k ChainKey),
    /// No key (public verification): each record must carry the log's
    /// worker id; links and MACs cannot be checked.
    Public { worker_id: &'k str },
}

/// The result of checking one record on its own (in parallel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    Good,
    BadMac,
    BadLeaf,
}

fn check_own(
    layer: Layer<'_>,
    record: &RawRecord,
    stored_leaf: Option<&Option<Hash>>,
    scratch: &mut Vec<u8>,
) -> Own {
    if let Layer::Chain(key) = layer
        && !key.verify_record(record, scratch)
    {
        return Own::BadMac;
    }
    match stored_leaf {
        Some(Some(stored)) if record.leaf_hash(scratch) != *stored => Own::BadLeaf,
        _ => Own::Good,
    }
}

/// Where the chain under check starts.
#[derive(Debug, Clone)]
pub(crate) enum Start {
    /// At record 1, linked to the worker's genesis value.
    Genesis([u8; 32]),
    /// After record `seq` (kept, or a retention anchor) whose MAC was `mac`.
    After { seq: u64, mac: Vec<u8> },
    /// At `seq`, trusting the first record's `prev_mac` (a range whose
    /// predecessor is not available, or an export of a range).
    Trusting { seq: u64 },
}

/// Streaming chain verifier: feed it blocks of consecutive rows.
#[derive(Debug)]
pub(crate) struct ChainVerifier<'k> {
    layer: Layer<'k>,
    expected_seq: u64,
    pub(super) prev: Option<Vec<u8>>,
    at_genesis: bool,
    /// Check a block's MACs with rayon (else on this thread).
    parallel: bool,
    report: VerifyReport,
}

impl<'k> ChainVerifier<'k> {
    pub fn new(key: &'k ChainKey, start: Start) -> Self {
        Self::with_layer(Layer::Chain(key), start)
    }

    /// A verifier of `layer` from `start` (a public walk starts
    /// [`Start::Trusting`]: it has no link to check).
    pub fn with_layer(layer: Layer<'k>, start: Start) -> Self {
        let (expected_seq, prev, at_genesis) = match start {
            Start::Genesis(g) => (1, Some(g.to_vec()), true),
            Start::After { seq, mac } => (seq.saturating_add(1), Some(mac), false),
            Start::Trusting { seq } => (seq, None, false),
        };
        Self {
            layer,
            expected_seq,
            prev,
            at_genesis,
            parallel: true,
            report: VerifyReport::default(),
        }
    }

    /// Checks MACs on the calling thread (for a part already running on a
    /// thread of its own).
    pub(super) fn sequential(mut self) -> Self {
        self.parallel = false;
        self
    }

    /// Checks the next rows; false once a failure was found.
    pub fn check_block(&mut self, rows: &[RawRecord]) -> bool {
        self.check_block_leaves(rows, &[])
    }

    /// [`Self::check_block`], and each row's Merkle leaf against
    /// `stored_leaves` (the stored leaf of `rows[i]` at `i`; a row without
    /// one, `None` or past the end, is not compared here: a missing hash is
    /// the tree scan's to report).
    pub fn check_block_leaves(
        &mut self,
        rows: &[RawRecord],
        stored_leaves: &[Option<Hash>],
    ) -> bool {
        if self.report.failure.is_some() {
            return false;
        }
        let mut structural: Option<(usize, FailureReason)> = None;
        let mut expected = self.expected_seq;
        let mut prev: Option<&[u8]> = self.prev.as_deref();
        for (i, row) in rows.iter().enumerate() {
            if let Some(defect) = &row.defect {
                structural = Some((
                    i,
                    FailureReason::Malformed {
                        detail: defect.clone(),
                    },
                ));
                break;
            }
            if row.seq != expected {
                structural = Some((
                    i,
                    FailureReason::SequenceGap {
                        expected,
                        found: row.seq,
                    },
                ));
                break;
            }
            if let Layer::Public { worker_id } = self.layer
                && row.worker_id != worker_id
            {
                structural = Some((
                    i,
                    FailureReason::Malformed {
                        detail: format!(
                            "worker_id {} is not the log's {}",
                            crate::record::to_display(&row.worker_id),
                            crate::record::to_display(worker_id)
                        ),
                    },
                ));
                break;
            }
            if let (Layer::Chain(_), Some(p)) = (self.layer, prev)
                && p != row.prev_mac.as_slice()
            {
                let reason = if i == 0 && self.at_genesis {
                    FailureReason::WrongGenesis
                } else {
                    FailureReason::BrokenLink
                };
                structural = Some((i, reason));
                break;
            }
            prev = Some(&row.mac);
            expected = expected.saturating_add(1);
        }
        // Rows up to a structural failure are checked on their own: one of
        // them failing first is the failure (at the same row, the
        // structural failure is reported).
        let limit = structural.as_ref().map_or(rows.len(), |(i, _)| *i);
        let checked = rows.get(..limit).unwrap_or(rows);
        let layer = self.layer;
        let own_bad = if self.parallel {
            checked
                .par_iter()
                .enumerate()
                .map_init(Vec::new, |scratch, (i, r)| {
                    (i, check_own(layer, r, stored_leaves.get(i), scratch))
                })
                .find_first(|(_, own)| *own != Own::Good)
        } else {
            let mut scratch = Vec::new();
            checked
                .iter()
                .enumerate()
                .map(|(i, r)| (i, check_own(layer, r, stored_leaves.get(i), &mut scratch)))
                .find(|(_, own)| *own != Own::Good)
        }
        .map(|(j, own)| {
            let reason = if own == Own::BadMac {
                FailureReason::MacMismatch
            } else {
                FailureReason::LeafMismatch
            };
            (j, reason)
        });
        // Only rows before a structural failure were checked on their own,
        // so a failure among them comes first.
        let failure = own_bad.or(structural);
        let good = failure.as_ref().map_or(rows.len(), |(i, _)| *i);
        if let Some(first) = rows.first()
            && self.report.first_seq.is_none()
        {
            self.report.first_seq = Some(first.seq);
        }
        if let Some(last_good) = good.checked_sub(1).and_then(|i| rows.get(i)) {
            self.report.last_seq = Some(last_good.seq);
            self.report.head_mac = Some(to_hex(&last_good.mac));
            self.expected_seq = last_good.seq.saturating_add(1);
            self.prev = Some(last_good.mac.clone());
            self.at_genesis = false;
        }
        self.report.records_checked += good as u64;
        match failure {
            Some((i, reason)) => {
                let seq = rows.get(i).map(|r| r.seq);
                self.report.failure = Some(VerifyFailure { seq, reason });
                false
            }
            None => true,
        }
    }

    pub fn fail(&mut self, seq: Option<u64>, reason: FailureReason) {
        if self.report.failure.is_none() {
            self.report.failure = Some(VerifyFailure { seq, reason });
        }
    }

    /// Appends a part verified on its own from its first row
    /// ([`Start::Trusting`] that row's seq): checks that first row's sequence
    /// number and link against this chain, as [`Self::check_block`] would,
    /// then takes the part's result. False once a failure was found.
    pub(super) fn join_part(&mut self, part: PartResult) -> bool {
        if self.report.failure.is_some() {
            return false;
        }
        let Some((seq, prev_mac)) = part.first else {
            return true;
        };
        if self.report.first_seq.is_none() {
            self.report.first_seq = Some(seq);
        }
        // A malformed first row is reported before its sequence number and
        // link, as `check_block` does.
        if let Some(failure) = &part.report.failure
            && failure.seq == Some(seq)
            && matches!(failure.reason, FailureReason::Malformed { .. })
        {
            self.report.failure = Some(failure.clone());
            return false;
        }
        if seq != self.expected_seq {
            let expected = self.expected_seq;
            self.fail(
                Some(seq),
                FailureReason::SequenceGap {
                    expected,
                    found: seq,
                },
            );
            return false;
        }
        if let (Layer::Chain(_), Some(p)) = (self.layer, &self.prev)
            && *p != prev_mac
        {
            let reason = if self.at_genesis {
                FailureReason::WrongGenesis
            } else {
                FailureReason::BrokenLink
            };
            self.fail(Some(seq), reason);
            return false;
        }
        let report = part.report;
        self.report.records_checked += report.records_checked;
        if let (Some(last), Some(head), Some(tail)) = (report.last_seq, report.head_mac, part.tail)
        {
            self.report.last_seq = Some(last);
            self.report.head_mac = Some(head);
            self.expected_seq = last.saturating_add(1);
            self.prev = Some(tail);
            self.at_genesis = false;
        }
        match report.failure {
            Some(failure) => {
                self.report.failure = Some(failure);
                false
            }
            None => true,
        }
    }

    pub fn finish(self) -> VerifyReport {
        self.report
    }

    pub fn finish_ref(&self) -> VerifyReport {
        self.report.clone()
    }
}
