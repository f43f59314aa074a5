//! The collector's errors: each says what went wrong and what to do next,
//! and none holds a key (a private key given by mistake is never shown).

use audit_core::tlog::SignatureType;

/// Why a collector operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectorError {
    /// The database URL cannot be read.
    #[error(
        "the database URL is not a PostgreSQL URL or connection string: {reason} (expected postgres://USER@HOST:PORT/DATABASE)"
    )]
    BadDatabaseUrl {
        /// Why.
        reason: String,
    },
    /// No connection to PostgreSQL.
    #[error(
        "cannot connect to PostgreSQL: {detail}; check --database-url (or DATABASE_URL) and that the server is running"
    )]
    Connect {
        /// The client's error.
        detail: String,
    },
    /// A statement failed.
    #[error("PostgreSQL failed while {operation}: {detail}")]
    Database {
        /// What the collector was doing.
        operation: &'static str,
        /// The server's or client's error.
        detail: String,
    },
    /// The database was migrated by a newer collector.
    #[error(
        "the database is at schema version {found}, newer than the {supported} this vram-auditd knows; run the newer vram-auditd that migrated it (an older one is refused so it cannot misread or damage it)"
    )]
    SchemaTooNew {
        /// The database's version.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// A read-only collector found a schema it was not built for.
    #[error(
        "the database is at schema version {found}, and this read-only vram-auditd serves version {expected} exactly; migrate the primary with the matching vram-auditd (`vram-auditd migrate`) and let the replica catch up, or run the vram-auditd that matches the database"
    )]
    SchemaMismatch {
        /// The database's version.
        found: i64,
        /// The version this code serves.
        expected: i64,
    },
    /// Not a checkpoint origin.
    #[error(
        "{origin:?} is not a log origin: {reason} (use the origin the worker's checkpoints carry, e.g. vram-residency/audit/<worker id>)"
    )]
    BadOrigin {
        /// The origin given.
        origin: String,
        /// Why.
        reason: String,
    },
    /// A private key where a verifier key goes (never shown).
    #[error(
        "that is a private key (not shown); give the worker's verifier key, the name+keyid+base64 line `vramctl audit keygen` prints, and keep the private key on the worker"
    )]
    PrivateKey,
    /// Not a verifier key.
    #[error(
        "not a verifier key: {reason} (give the name+keyid+base64 line `vramctl audit keygen` prints)"
    )]
    BadVerifierKey {
        /// Why.
        reason: String,
    },
    /// A verifier key of another type than Ed25519.
    #[error(
        "the key given for {origin:?} is a {kind:?} key; a worker's log signs its checkpoints with an Ed25519 (0x01) key (`vramctl audit keygen`)"
    )]
    NotEd25519 {
        /// The origin.
        origin: String,
        /// The key's type.
        kind: SignatureType,
    },
    /// The origin is registered already.
    #[error(
        "worker {origin:?} is already registered; `vram-auditd worker list` shows its key (a worker's key is not replaced silently)"
    )]
    WorkerExists {
        /// The origin.
        origin: String,
    },
    /// The key is registered for another origin.
    #[error(
        "that key is already registered for worker {other:?}; every worker's log has a key of its own (`vramctl audit keygen`)"
    )]
    KeyInUse {
        /// The origin that has it.
        other: String,
    },
    /// The witness key cannot be made, read or used.
    #[error("witness key: {reason}")]
    WitnessKey {
        /// Why (never the key).
        reason: String,
    },
    /// Listening or serving failed.
    #[error("cannot serve on {address}: {detail}")]
    Serve {
        /// The address.
        address: String,
        /// Why.
        detail: String,
    },
}

impl CollectorError {
    /// A failed statement.
    pub(crate) fn db(operation: &'static str, e: &tokio_postgres::Error) -> Self {
        Self::Database {
            operation,
            detail: e.to_string(),
        }
    }
}
