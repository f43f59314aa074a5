//! The exact bytes of the wire formats of `.specs/audit-core.md` (section
//! "Wire format", `AC-070` onward), for the known-answer vectors
//! (`tests/wire_vectors.rs`, `AC-085`) and for anyone comparing an
//! independent verifier with this one byte for byte.
//!
//! Each function returns bytes the log computes anyway, through the same
//! code the writer and the verifier use; nothing here takes a shortcut.
//! Hidden from the documentation: not a stable API.

use seal_crypto::WorkerSecret;

use crate::record::{self, AnchorFields, ChainKey, MAC_BYTES};
use crate::{AuditError, AuditRecord, Checkpoint};

/// The canonical encoding a record's MAC covers (`AC-072`), for a record
/// in its export form (an NDJSON line, `AC-080`) as [`crate::verify_ndjson`]
/// rebuilds it: `event` re-serialized compactly (`AC-073`), the time back
/// to Unix nanoseconds, the severity back to its rank, the MACs from hex.
/// `None` when a MAC is not hex or the time is out of the nanosecond range
/// (what `verify_ndjson` reports as `Malformed`).
pub fn record_encoding(record: &AuditRecord) -> Option<Vec<u8>> {
    record.to_raw().map(|raw| raw.mac_input(Vec::new()))
}

/// The canonical encoding the genesis value covers (`AC-074`).
pub fn genesis_encoding(worker_id: &str) -> Vec<u8> {
    record::genesis_input(worker_id)
}

/// The genesis value of `worker_id` under `secret`: what record 1's
/// `prev_mac` must equal (`AC-074`).
pub fn genesis_mac(secret: &WorkerSecret, worker_id: &str) -> Result<[u8; MAC_BYTES], AuditError> {
    Ok(ChainKey::derive(secret)?.genesis(worker_id))
}

/// The canonical encoding a retention anchor's MAC covers (`AC-076`) in a
/// log of `schema_version` (1: version-1 anchor, else version 2).
pub fn anchor_encoding(
    worker_id: &str,
    schema_version: i64,
    seq: u64,
    mac: &[u8],
    dropped: i64,
    ts_ns: i64,
) -> Vec<u8> {
    let fields = AnchorFields {
        seq,
        mac,
        dropped,
        ts_ns,
    };
    record::anchor_input(worker_id, schema_version, &fields)
}

/// The MAC of a retention anchor (`AC-076`), as retention writes it to
/// the `anchor_mac` column.
pub fn anchor_mac(
    secret: &WorkerSecret,
    worker_id: &str,
    schema_version: i64,
    seq: u64,
    mac: &[u8],
    dropped: i64,
    ts_ns: i64,
) -> Result<[u8; MAC_BYTES], AuditError> {
    let fields = AnchorFields {
        seq,
        mac,
        dropped,
        ts_ns,
    };
    Ok(ChainKey::derive(secret)?.anchor_mac(worker_id, schema_version, &fields))
}

/// The message a checkpoint's Ed25519 signature covers (`AC-078`), rebuilt
/// from its fields as [`Checkpoint::verify`] does. An error when
/// `head_mac` is not hex or `created_at` is outside the nanosecond range.
pub fn checkpoint_message(checkpoint: &Checkpoint) -> Result<Vec<u8>, AuditError> {
    checkpoint.signed_message()
}
