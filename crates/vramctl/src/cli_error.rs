//! Exit codes and the one error type of the command line.
//!
//! 0: success. 1: a check failed (tampering, a broken audit chain, a policy
//! violation). 2: bad usage or an I/O problem (missing file, unreadable
//! database, stdout that cannot be written). Messages say what to do next and
//! never hold secrets.
//!
//! A closed stdout pipe (`vramctl audit query DB | head`) is not an error:
//! the reader has all it wanted, so `vramctl` stops quietly with exit 0, as
//! `ripgrep` does. `audit verify` still exits 1 when the log failed.

use std::process::ExitCode;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// A check ran and failed: exit 1.
    CheckFailed(String),
    /// Bad usage or I/O: exit 2.
    Usage(String),
    /// Stdout is a pipe whose reader has gone: stop quietly, exit 0.
    StdoutClosed,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn check(message: impl Into<String>) -> Self {
        Self::CheckFailed(message.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::CheckFailed(_) => ExitCode::from(1),
            Self::Usage(_) => ExitCode::from(2),
            Self::StdoutClosed => ExitCode::SUCCESS,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::CheckFailed(m) | Self::Usage(m) => m,
            Self::StdoutClosed => "",
        }
    }
}

/// Facade errors: security incidents are failed checks, the rest usage/I/O.
impl From<vram_residency::ResidencyError> for CliError {
    fn from(error: vram_residency::ResidencyError) -> Self {
        if error.is_security_incident() {
            Self::CheckFailed(error.to_string())
        } else {
            Self::Usage(error.to_string())
        }
    }
}

/// Audit errors that mean "the log is not what it should be" are failed
/// checks; the rest (missing file, bad arguments) are usage/I/O.
impl From<audit_core::AuditError> for CliError {
    fn from(error: audit_core::AuditError) -> Self {
        use audit_core::AuditError as E;
        match error {
            E::Corrupt { .. }
            | E::Damaged { .. }
            | E::BrokenTail { .. }
            | E::WorkerMismatch { .. }
            | E::Checkpoint { .. } => Self::CheckFailed(error.to_string()),
            other => Self::Usage(other.to_string()),
        }
    }
}

impl From<gpu_alloc::AllocError> for CliError {
    fn from(error: gpu_alloc::AllocError) -> Self {
        Self::Usage(error.to_string())
    }
}
