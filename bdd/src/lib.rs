//! The BDD suite (`cargo xtask bdd`): a cucumber runner whose features live
//! in `bdd/features/*.feature` and whose steps drive the real crates
//! (`vram-residency` over `gpu-alloc`, a real `audit-core` SQLite log in a
//! temporary directory). See `bdd/README.md`.
//!
//! Everything lives in this library so `cargo clippy --all-targets` checks
//! it; the test target `tests/bdd.rs` only calls [`run`]. Beside the runner,
//! the world and the steps, the crate root holds the pure helpers the steps
//! share: deterministic model bytes, the catalogue of bad shard ids, and the
//! scanner that looks for secrets in anything the system prints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod capture;
// The fleet scenarios' databases (`test_database`), on the server of
// DATABASE_URL.
#[allow(dead_code, clippy::panic)]
#[path = "../../test-support/pg_server.rs"]
mod pg_server;
// Only the switch's reading is used here: the runner reports a missing CUDA
// pass itself rather than failing a test.
#[allow(dead_code)]
#[path = "../../test-support/require_cuda.rs"]
mod require_cuda;
mod runner;
mod steps;
#[allow(dead_code)]
#[path = "../../test-support/witness_server.rs"]
mod witness_server;
mod world;

pub use runner::run;

use seal_crypto::{WorkerSecret, context};

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Marks every model the suite seals, so a leak of model bytes into a log,
/// an event or an error is found by searching for it.
pub const MODEL_CANARY: &[u8] = b"MODEL-BYTES-CANARY";

/// Deterministic model bytes of `len` bytes: a xorshift stream seeded from
/// `seed`, with [`MODEL_CANARY`] at the start of every 64 KiB.
///
/// No randomness: the same arguments give the same bytes in every run.
pub fn model_bytes(len: usize, seed: &str) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in seed.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    x |= 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    for start in (0..len).step_by(64 << 10) {
        let end = (start + MODEL_CANARY.len()).min(len);
        out[start..end].copy_from_slice(&MODEL_CANARY[..end - start]);
    }
    out
}

/// The bad shard ids of the sealing feature, by the name the feature uses.
///
/// Gherkin cannot carry a NUL or an escape character, so features name the
/// kind of id and this table gives the exact bytes. `None` for an unknown
/// name (the step then fails, naming it).
pub fn bad_shard_id(kind: &str) -> Option<String> {
    Some(match kind {
        "path traversal" => "../../etc/passwd".to_owned(),
        "parent directory only" => "..".to_owned(),
        "embedded traversal" => "model..shard".to_owned(),
        "slash separator" => "models/llama:0".to_owned(),
        "backslash separator" => "models\\llama:0".to_owned(),
        "NUL byte" => "llama\0:0".to_owned(),
        "control character" => "llama\u{1b}[31m:0".to_owned(),
        "newline" => "llama\n:0".to_owned(),
        "empty" => String::new(),
        "257 bytes" => "a".repeat(257),
        "space" => "llama 3:0".to_owned(),
        "non-ASCII letter" => "modèle:0".to_owned(),
        _ => return None,
    })
}

/// Searches text for anything that must never be shown: the worker secret
/// and every key derived from it (raw, hex in either case, or as a Rust
/// byte list), model bytes, and anything that looks like a memory address.
#[derive(Debug, Clone)]
pub struct SecretScanner {
    needles: Vec<(String, String)>,
    raw: Vec<(String, Vec<u8>)>,
}

impl SecretScanner {
    /// A scanner for `secret`, whose raw bytes are `secret_bytes`.
    pub fn new(secret: &WorkerSecret, secret_bytes: &[u8]) -> Self {
        let mut keys: Vec<(String, Vec<u8>)> =
            vec![("worker secret".into(), secret_bytes.to_vec())];
        for (name, ctx) in [
            ("seal key", context::SEAL),
            ("audit chain key", context::AUDIT_CHAIN),
            ("audit checkpoint seed", context::AUDIT_CHECKPOINT),
        ] {
            let derived = secret.derive_bytes(ctx).expect("derive a key");
            keys.push((name.into(), derived.to_vec()));
        }
        let mut needles = Vec::new();
        let mut raw = Vec::new();
        for (name, bytes) in keys {
            // Any 12 consecutive bytes of a key are evidence enough.
            let window = &bytes[..12];
            raw.push((name.clone(), window.to_vec()));
            let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
            needles.push((format!("{name} (hex)"), hex.clone()));
            needles.push((format!("{name} (HEX)"), hex.to_uppercase()));
            let list = window
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            needles.push((format!("{name} (byte list)"), list));
            if let Ok(text) = std::str::from_utf8(window) {
                needles.push((format!("{name} (raw)"), text.to_owned()));
            }
        }
        needles.push((
            "model bytes".into(),
            String::from_utf8_lossy(MODEL_CANARY).into_owned(),
        ));
        let canary_hex: String = MODEL_CANARY.iter().map(|b| format!("{b:02x}")).collect();
        needles.push(("model bytes (hex)".into(), canary_hex));
        raw.push(("model bytes".into(), MODEL_CANARY.to_vec()));
        Self { needles, raw }
    }

    /// What binary `data` (a database file) leaks: raw key bytes or model
    /// bytes, and everything [`Self::findings`] finds in its text.
    pub fn raw_findings(&self, what: &str, data: &[u8]) -> Vec<String> {
        let mut found: Vec<String> = self
            .raw
            .iter()
            .filter(|(_, needle)| data.windows(needle.len()).any(|w| w == needle.as_slice()))
            .map(|(name, _)| format!("{what} contains the raw {name}"))
            .collect();
        let text = String::from_utf8_lossy(data);
        for (name, needle) in &self.needles {
            if text.contains(needle.as_str()) {
                found.push(format!("{what} contains the {name}"));
            }
        }
        found
    }

    /// What `text` leaks, as short descriptions (empty when nothing).
    /// `what` names the source in the descriptions.
    pub fn findings(&self, what: &str, text: &str) -> Vec<String> {
        let mut found: Vec<String> = self
            .needles
            .iter()
            .filter(|(_, needle)| text.contains(needle.as_str()))
            .map(|(name, _)| format!("{what} contains the {name}"))
            .collect();
        if let Some(addr) = find_address(text) {
            found.push(format!(
                "{what} contains what looks like an address: {addr}"
            ));
        }
        found
    }
}

/// The first `0x` followed by 8 or more hex digits (a pointer as `{:p}` or
/// `{:#x}` prints it), if any.
pub fn find_address(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 <= bytes.len() {
        if bytes[i] == b'0' && (bytes.get(i + 1) == Some(&b'x') || bytes.get(i + 1) == Some(&b'X'))
        {
            let digits = bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if digits >= 8 {
                return Some(text[i..i + 2 + digits].to_owned());
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_bytes_are_deterministic_and_marked() {
        let a = model_bytes(200_000, "x");
        assert_eq!(a, model_bytes(200_000, "x"));
        assert_ne!(a, model_bytes(200_000, "y"));
        assert!(a.starts_with(MODEL_CANARY));
        assert_eq!(&a[65536..65536 + MODEL_CANARY.len()], MODEL_CANARY);
        assert_eq!(model_bytes(3, "x"), &MODEL_CANARY[..3]);
    }

    #[test]
    fn every_bad_id_is_refused_by_the_facade_rules() {
        for kind in [
            "path traversal",
            "parent directory only",
            "embedded traversal",
            "slash separator",
            "backslash separator",
            "NUL byte",
            "control character",
            "newline",
            "empty",
            "257 bytes",
            "space",
            "non-ASCII letter",
        ] {
            assert!(bad_shard_id(kind).is_some(), "{kind}");
        }
        assert_eq!(bad_shard_id("257 bytes").unwrap().len(), 257);
        assert!(bad_shard_id("nonsense").is_none());
    }

    #[test]
    fn scanner_finds_keys_and_addresses() {
        let raw = b"bdd-worker-secret:never-log-me!!";
        let secret = WorkerSecret::new(raw).unwrap();
        let s = SecretScanner::new(&secret, raw);
        assert!(
            s.findings("t", "all clear, fingerprint 0123456789abcdef")
                .is_empty()
        );
        assert!(!s.findings("t", "oops bdd-worker-secret:never").is_empty());
        let seal = secret.derive_bytes(context::SEAL).unwrap();
        let hex: String = seal.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!s.findings("t", &format!("key={hex}")).is_empty());
        assert!(!s.findings("t", "ptr 0x7ffc12345678").is_empty());
        assert!(s.findings("t", "0x1f").is_empty());
        assert!(!s.findings("t", "MODEL-BYTES-CANARY").is_empty());
        let mut blob = vec![0u8, 1, 2];
        blob.extend_from_slice(&seal[..12]);
        assert!(!s.raw_findings("db", &blob).is_empty());
        assert!(s.raw_findings("db", &[0u8; 64]).is_empty());
    }
}
