//! The worker's lifecycle: starting, ready, or stopped for a reason.
//!
//! A security incident (a failed verification, a policy violation) moves the
//! worker to `Stopped` for good: it then refuses to seal, and the process
//! should report the incident and exit. Verification of other shards still
//! answers, so an operator can see what else is intact.

use serde::Serialize;

/// Where the worker is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkerState {
    /// Built, but `enforce_policy()` has not passed yet: sealing is refused.
    Starting,
    /// The policy passed; the worker seals and verifies.
    Ready,
    /// A security incident stopped the worker.
    Stopped {
        /// Why.
        reason: StopReason,
    },
}

impl WorkerState {
    /// True once stopped.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Stopped { .. })
    }
}

/// The incident that stopped a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    /// The device broke the residency policy.
    PolicyViolation {
        /// The violations, joined with "; ".
        violations: String,
    },
    /// A shard failed verification.
    IntegrityViolation {
        /// The shard.
        shard_id: String,
        /// What did not match.
        reason: String,
    },
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PolicyViolation { violations } => write!(f, "policy violation: {violations}"),
            Self::IntegrityViolation { shard_id, reason } => {
                write!(f, "integrity violation on shard {shard_id}: {reason}")
            }
        }
    }
}
