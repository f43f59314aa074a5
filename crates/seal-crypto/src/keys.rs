//! Key material: the worker secret, the HMAC keys derived from it, and the
//! fingerprint that is the only way a key is ever shown.
//!
//! Every key is derived from one worker secret with HKDF-SHA256 (RFC 5869)
//! under a distinct context string ([`context`]), so the seal key and the
//! audit-chain key are independent even though the operator manages one
//! secret. Key bytes live in zeroizing buffers and never reach `Debug`.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Fewest bytes a worker secret or key may have: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;
/// Most bytes a worker secret or key may have (1 KiB); longer input is more
/// likely a wrong file than a key.
pub const MAX_KEY_BYTES: usize = 1024;

/// Fixed HKDF salt: binds every derived key to this protocol, so the same
/// secret used elsewhere cannot produce our keys.
const HKDF_SALT: &[u8] = b"vram-residency/hkdf-salt/v1";

/// Domain-separation strings for HKDF. Two purposes never share a context.
pub mod context {
    /// The key that signs shard seals.
    pub const SEAL: &str = "vram-residency/seal-key/v1";
    /// The key of the audit log's HMAC chain.
    pub const AUDIT_CHAIN: &str = "vram-residency/audit-chain-key/v1";
    /// The seed of the Ed25519 key that signs audit checkpoints.
    pub const AUDIT_CHECKPOINT: &str = "vram-residency/audit-checkpoint-key/v1";
}

/// A key or secret was refused. The message gives the bound, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No bytes at all.
    #[error("key material is empty; supply at least {MIN_KEY_BYTES} random bytes")]
    Empty,
    /// Fewer than [`MIN_KEY_BYTES`].
    #[error(
        "key material is {actual} bytes; at least {min} are required (generate 32 random bytes)"
    )]
    TooShort {
        /// The minimum, [`MIN_KEY_BYTES`].
        min: usize,
        /// Bytes given.
        actual: usize,
    },
    /// More than [`MAX_KEY_BYTES`].
    #[error("key material is {actual} bytes; at most {max} are allowed (is this the right file?)")]
    TooLong {
        /// The maximum, [`MAX_KEY_BYTES`].
        max: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A derivation context must name its purpose.
    #[error("key derivation context is empty; use one of seal_crypto::context")]
    EmptyContext,
}

fn check_length(bytes: &[u8]) -> Result<(), KeyError> {
    match bytes.len() {
        0 => Err(KeyError::Empty),
        n if n < MIN_KEY_BYTES => Err(KeyError::TooShort {
            min: MIN_KEY_BYTES,
            actual: n,
        }),
        n if n > MAX_KEY_BYTES => Err(KeyError::TooLong {
            max: MAX_KEY_BYTES,
            actual: n,
        }),
        _ => Ok(()),
    }
}

/// A short, stable, non-secret name for a key: the first 8 bytes of a
/// domain-separated SHA-256 of it, in hex. Lets operators tell keys apart in
/// logs without revealing them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 8]);

impl Fingerprint {
    fn of(domain: &[u8], key: &[u8]) -> Self {
        let hash = Sha256::new()
            .chain_update(b"vram-residency/fingerprint/v1")
            .chain_update((domain.len() as u64).to_be_bytes())
            .chain_update(domain)
            .chain_update(key)
            .finalize();
        let mut short = [0u8; 8];
        short.copy_from_slice(hash.get(..8).unwrap_or(&[0; 8]));
        Self(short)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The worker's root secret, from which every key is derived.
///
/// 32 to 1024 bytes; zeroized on drop; `Debug` shows only a fingerprint.
///
/// ```
/// # use seal_crypto::{WorkerSecret, KeyError};
/// assert_eq!(WorkerSecret::new(b"short").unwrap_err(), KeyError::TooShort { min: 32, actual: 5 });
/// let secret = WorkerSecret::new(&[42u8; 32])?;
/// assert!(!format!("{secret:?}").contains("42"));
/// # Ok::<(), KeyError>(())
/// ```
#[derive(Clone)]
pub struct WorkerSecret(Zeroizing<Vec<u8>>);

impl WorkerSecret {
    /// Copies the secret into zeroizing memory after checking its length.
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        check_length(bytes)?;
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// Takes ownership of a buffer (zeroized on drop even if refused).
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes);
        check_length(&bytes)?;
        Ok(Self(bytes))
    }

    /// Derives 32 bytes for `context` with HKDF-SHA256 (for example an Ed25519
    /// seed). The result is zeroized on drop.
    pub fn derive_bytes(&self, context: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        if context.is_empty() {
            return Err(KeyError::EmptyContext);
        }
        let mut out = Zeroizing::new([0u8; 32]);
        hkdf_sha256(HKDF_SALT, &self.0, context.as_bytes(), out.as_mut_slice())
            // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
            .map_err(|_| KeyError::EmptyContext)?;
        Ok(out)
    }

    /// A non-secret name for this secret.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(b"worker-secret", &self.0)
    }
}

impl fmt::Debug for WorkerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkerSecret({})", self.fingerprint())
    }
}

/// HMAC-SHA256 verification failed. Deliberately carries no detail: wrong
/// key, changed message and wrong tag length all look the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("MAC mismatch: the data or its tag was changed, or a different key was used")]
pub struct MacMismatch;

/// An HMAC-SHA256 key: signs shard seals, and (under another context) links
/// the audit chain.
///
/// It holds the HMAC state already keyed (the hashed inner and outer pads),
/// not the key bytes: every MAC starts from a copy of that state, which
/// saves two SHA-256 blocks per MAC (the audit chain computes millions).
/// The state is key-equivalent, so it is zeroized on drop like the key
/// (`sha2`'s `zeroize` feature clears the hash states).
///
/// ```
/// # use seal_crypto::{SealKey, WorkerSecret, context};
/// let secret = WorkerSecret::new(&[1u8; 32])?;
/// let seal = SealKey::derive(&secret, context::SEAL)?;
/// let audit = SealKey::derive(&secret, context::AUDIT_CHAIN)?;
/// assert_ne!(seal.fingerprint(), audit.fingerprint());
/// let tag = seal.mac(b"claims");
/// assert!(seal.verify_mac(b"claims", &tag).is_ok());
/// assert!(audit.verify_mac(b"claims", &tag).is_err());
/// # Ok::<(), seal_crypto::KeyError>(())
/// ```
#[derive(Clone)]
pub struct SealKey {
    keyed: Hmac<Sha256>,
    fingerprint: Fingerprint,
}

impl SealKey {
    /// Uses `bytes` directly as the key (32 to 1024 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        check_length(bytes)?;
        // HMAC takes keys of any length, so this cannot fail; map it anyway
        // rather than unwrap.
        let keyed =
            <Hmac<Sha256> as KeyInit>::new_from_slice(bytes).map_err(|_| KeyError::Empty)?;
        Ok(Self {
            keyed,
            fingerprint: Fingerprint::of(b"seal-key", bytes),
        })
    }

    /// Derives a 32-byte key from the worker secret for `context`
    /// (one of [`context`]).
    pub fn derive(secret: &WorkerSecret, context: &str) -> Result<Self, KeyError> {
        let bytes = secret.derive_bytes(context)?;
        Self::from_bytes(bytes.as_slice())
    }

    /// HMAC-SHA256 of `message`.
    pub fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Checks `tag` against `message` in constant time. A tag of any length
    /// other than 32 bytes fails the same way as a wrong one.
    pub fn verify_mac(&self, message: &[u8], tag: &[u8]) -> Result<(), MacMismatch> {
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.verify_slice(tag).map_err(|_| MacMismatch)
    }

    /// A non-secret name for this key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey({})", self.fingerprint)
    }
}

/// HKDF-SHA256 extract-and-expand (RFC 5869) into `out`.
pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<(), hkdf::InvalidLength> {
    hkdf::Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out)
}

/// HMAC-SHA256 with an unchecked key, for the published test vectors whose
/// keys are shorter than [`MIN_KEY_BYTES`].
#[cfg(test)]
pub(crate) fn hmac_sha256_unchecked(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_are_typed() {
        assert_eq!(WorkerSecret::new(&[]).unwrap_err(), KeyError::Empty);
        assert_eq!(
            SealKey::from_bytes(&[1; 31]).unwrap_err(),
            KeyError::TooShort {
                min: 32,
                actual: 31
            }
        );
        assert_eq!(
            SealKey::from_bytes(&[1; 1025]).unwrap_err(),
            KeyError::TooLong {
                max: 1024,
                actual: 1025
            }
        );
        assert!(SealKey::from_bytes(&[1; 32]).is_ok());
        assert!(WorkerSecret::from_vec(vec![1; 1024]).is_ok());
        assert!(
            KeyError::TooShort { min: 32, actual: 3 }
                .to_string()
                .contains("32")
        );
    }

    /// SC-KEY-003: secrets and keys show only their fingerprint in `Debug`.
    #[test]
    fn sc_key_003_debug_shows_the_fingerprint_only() {
        let secret = WorkerSecret::new(&[9; 48]).unwrap();
        let fingerprint = secret.fingerprint();
        assert_eq!(fingerprint.to_string().len(), 16);
        assert_eq!(
            format!("{fingerprint:?}"),
            format!("Fingerprint({fingerprint})")
        );
        assert_eq!(
            format!("{secret:?}"),
            format!("WorkerSecret({fingerprint})")
        );
    }

    #[test]
    fn contexts_separate_keys() {
        let secret = WorkerSecret::new(&[9; 48]).unwrap();
        let a = secret.derive_bytes(context::SEAL).unwrap();
        let b = secret.derive_bytes(context::AUDIT_CHAIN).unwrap();
        let c = secret.derive_bytes(context::AUDIT_CHECKPOINT).unwrap();
        assert_ne!(*a, *b);
        assert_ne!(*b, *c);
        assert_eq!(*a, *secret.derive_bytes(context::SEAL).unwrap());
        assert_eq!(secret.derive_bytes("").unwrap_err(), KeyError::EmptyContext);
    }

    #[test]
    fn debug_shows_only_fingerprint() {
        let key = SealKey::from_bytes(&[0xAB; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert_eq!(shown, format!("SealKey({})", key.fingerprint()));
        assert_eq!(key.fingerprint().to_string().len(), 16);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// SC-VEC-002: every RFC 4231 HMAC-SHA256 test case, on the raw primitive
    /// (most RFC keys are shorter than a SealKey may be).
    #[test]
    fn rfc4231_hmac_sha256_all_cases() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/rfc4231-hmac-sha256.json"))
                .unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 7);
        for v in vectors {
            let tag = hmac_sha256_unchecked(
                &hex(v["key"].as_str().unwrap()),
                &hex(v["data"].as_str().unwrap()),
            );
            let want = hex(v["hmac_sha256"].as_str().unwrap());
            assert_eq!(
                &tag[..want.len()],
                &want[..],
                "RFC 4231 case {}",
                v["test_case"]
            );
        }
    }

    /// SC-VEC-003: RFC 5869 HKDF-SHA256 test cases 1-3.
    #[test]
    fn rfc5869_hkdf_sha256_all_cases() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/rfc5869-hkdf-sha256.json"))
                .unwrap();
        let vectors = file["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 3);
        for v in vectors {
            let mut okm = vec![0u8; v["length"].as_u64().unwrap() as usize];
            hkdf_sha256(
                &hex(v["salt"].as_str().unwrap()),
                &hex(v["ikm"].as_str().unwrap()),
                &hex(v["info"].as_str().unwrap()),
                &mut okm,
            )
            .unwrap();
            assert_eq!(
                okm,
                hex(v["okm"].as_str().unwrap()),
                "RFC 5869 case {}",
                v["test_case"]
            );
        }
    }

    #[test]
    fn verify_rejects_wrong_length_tags() {
        let key = SealKey::from_bytes(&[5; 32]).unwrap();
        let tag = key.mac(b"m");
        assert!(key.verify_mac(b"m", &tag[..31]).is_err());
        let mut long = tag.to_vec();
        long.push(0);
        assert!(key.verify_mac(b"m", &long).is_err());
        assert!(key.verify_mac(b"m", &[]).is_err());
    }
}
