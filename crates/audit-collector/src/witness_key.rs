//! The collector's witness key (`COL-KEY-001`): a random Ed25519 key under
//! a name of the operator's choosing, in the same file format as a log key
//! (`vramctl audit keygen`): one `PRIVATE+KEY+name+id+base64` line, mode
//! 0600, never over an existing file, refused when others can read it. The
//! witness signs with it as a cosigner (0x04) key of the same name.

use std::path::Path;

use audit_core::tlog::{SignatureType, SignerKey};
use zeroize::Zeroizing;

use crate::CollectorError;

fn key_error(e: impl std::fmt::Display) -> CollectorError {
    CollectorError::WitnessKey {
        reason: e.to_string(),
    }
}

/// A new random witness key named `name` (e.g. `collector.example/witness`).
pub fn generate_witness_key(name: &str) -> Result<SignerKey, CollectorError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(key_error)?;
    SignerKey::from_seed(name, SignatureType::Ed25519, &seed).map_err(key_error)
}

/// Writes `key` to the new file `path` (mode 0600).
pub fn save_witness_key(path: &Path, key: &SignerKey) -> Result<(), CollectorError> {
    audit_core::save_log_key(path, key).map_err(key_error)
}

/// Reads the witness key in `path`.
pub fn load_witness_key(path: &Path) -> Result<SignerKey, CollectorError> {
    audit_core::load_log_key(path).map_err(key_error)
}
