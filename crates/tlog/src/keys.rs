//! Note keys (C2SP signed-note): key IDs, verifier keys (`vkey`), signer
//! keys (`skey`), and the two signature types this crate speaks: Ed25519
//! (`0x01`) and timestamped Ed25519 cosignatures (`0x04`,
//! c2sp.org/tlog-cosignature).
//!
//! A key is named, and identified on a signature line by its name *and* its
//! key ID, `SHA-256(name || 0x0A || type || public key)[:4]`. Because the type
//! byte is hashed in, the same Ed25519 key has one ID as a log key and
//! another as a cosigner key, and a signature of one kind can never be
//! matched to a key of the other.
//!
//! Text forms (Go's `golang.org/x/mod/sumdb/note`):
//! - verifier key: `<name>+<8 lower-case hex key ID>+<base64(type || public key)>`
//! - signer key: `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(type || 32-byte seed)>`
//!
//! The base64 part may itself hold `+`, so a key is split on its first two
//! (`PRIVATE+KEY+` aside) `+` only.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::cosignature::{TIMESTAMP_SIZE, cosigned_message};
use crate::text::{decode_base64, encode_base64};

/// Bytes in an Ed25519 public key or seed.
pub const ED25519_KEY_SIZE: usize = 32;
/// Bytes in an Ed25519 signature.
pub const ED25519_SIGNATURE_SIZE: usize = 64;

/// The four-byte key ID on a signature line: a big-endian `u32`, shown as 8
/// lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    /// The ID with this value.
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// The value.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// The four bytes on a signature line (big-endian).
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The ID of the key `name` with signature type `sig_type` and public key
    /// bytes `public_key`: `SHA-256(name || 0x0A || sig_type || public_key)[:4]`.
    pub fn compute(name: &str, sig_type: u8, public_key: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([b'\n', sig_type]);
        hasher.update(public_key);
        let digest: [u8; 32] = hasher.finalize().into();
        let [a, b, c, d, ..] = digest;
        Self(u32::from_be_bytes([a, b, c, d]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The signature types this crate signs and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text. What a log signs checkpoints with.
    Ed25519,
    /// `0x04`: a timestamped Ed25519 cosignature (c2sp.org/tlog-cosignature)
    /// over `cosignature/v1\ntime <t>\n` and the note text. What witnesses
    /// sign with.
    Cosignature,
}

impl SignatureType {
    /// The type byte.
    pub const fn byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::Cosignature => 0x04,
        }
    }

    /// The type with this byte, if this crate supports it.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::Cosignature),
            _ => None,
        }
    }
}

/// A key or key string that cannot be used. Never carries secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The name is empty or holds a space, a `+` or a control character.
    #[error(
        "key name {name:?} is not valid: it must be non-empty, without spaces, '+' or control characters"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// The string is not `name+hex8+base64` (or `PRIVATE+KEY+…`).
    #[error("not a {what}: {reason}")]
    Malformed {
        /// `verifier key` or `signer key`.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The stated key ID is not the one the name and key give.
    #[error(
        "key ID {stated} does not match the name and key (they give {computed}); the key string is corrupt or was edited"
    )]
    KeyIdMismatch {
        /// The ID in the string.
        stated: KeyId,
        /// The ID computed from the name and key.
        computed: KeyId,
    },
    /// A signature type this crate does not support.
    #[error(
        "signature type 0x{0:02x} is not supported (only 0x01 Ed25519 and 0x04 Ed25519 cosignatures are)"
    )]
    UnsupportedType(u8),
    /// The key bytes are not 32 long.
    #[error("an Ed25519 key is {ED25519_KEY_SIZE} bytes, this one is {len}")]
    WrongKeyLength {
        /// The length found.
        len: usize,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    InvalidPublicKey,
}

/// Why a note could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// A cosigner key asked to make a plain Ed25519 signature, or the reverse.
    #[error(
        "key {name} is a {actual:?} key and cannot make a {wanted:?} signature; use sign for 0x01 keys and cosign for 0x04 keys"
    )]
    WrongKeyType {
        /// The key name.
        name: String,
        /// The key's type.
        actual: SignatureType,
        /// The signature asked for.
        wanted: SignatureType,
    },
    /// A cosignature timestamp above `2^63 − 1`.
    #[error("cosignature time {0} is above 2^63 - 1, which tlog-cosignature forbids")]
    TimestampTooLarge(u64),
}

/// A key name is non-empty and has no Unicode space, no `+` and (as
/// anywhere in a note) no ASCII control character (signed-note
/// "Signatures").
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < '\u{20}')
}

fn check_name(name: &str) -> Result<(), KeyError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName {
            name: name.to_owned(),
        })
    }
}

/// Splits `name+hex8+base64` into its three parts and checks the first two.
fn split_key<'a>(text: &'a str, what: &'static str) -> Result<(&'a str, KeyId, &'a str), KeyError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hex), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::Malformed {
            what,
            reason: "expected name+keyid+key",
        });
    };
    check_name(name)?;
    if hex.len() != 8
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(KeyError::Malformed {
            what,
            reason: "the key ID must be 8 lower-case hex digits",
        });
    }
    let id = u32::from_str_radix(hex, 16).map_err(|_| KeyError::Malformed {
        what,
        reason: "the key ID must be 8 lower-case hex digits",
    })?;
    Ok((name, KeyId(id), data))
}

/// A public key that verifies note signatures: a name, a key ID, a
/// signature type and an Ed25519 public key.
///
/// Parsed from and displayed as a vkey, e.g.
/// `example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: KeyId,
    kind: SignatureType,
    key: VerifyingKey,
}

impl VerifierKey {
    /// The key `name` of type `kind` for this Ed25519 public key; the key ID
    /// is computed.
    pub fn new(
        name: &str,
        kind: SignatureType,
        public_key: &[u8; ED25519_KEY_SIZE],
    ) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| KeyError::InvalidPublicKey)?;
        Ok(Self {
            name: name.to_owned(),
            id: KeyId::compute(name, kind.byte(), public_key),
            kind,
            key,
        })
    }

    /// Parses a vkey: `name+hex8+base64(type || key)`. The stated ID must
    /// be the computed one; the type must be 0x01 or 0x04.
    pub fn parse(vkey: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "verifier key";
        let (name, stated, data) = split_key(vkey, WHAT)?;
        let bytes = decode_base64(data).ok_or(KeyError::Malformed {
            what: WHAT,
            reason: "the key is not standard padded base64",
        })?;
        let Some((&type_byte, public)) = bytes.split_first() else {
            return Err(KeyError::Malformed {
                what: WHAT,
                reason: "the key is empty",
            });
        };
        let computed = KeyId::compute(name, type_byte, public);
        if computed != stated {
            return Err(KeyError::KeyIdMismatch { stated, computed });
        }
        let kind =
            SignatureType::from_byte(type_byte).ok_or(KeyError::UnsupportedType(type_byte))?;
        let public: &[u8; ED25519_KEY_SIZE] = public
            .try_into()
            .map_err(|_| KeyError::WrongKeyLength { len: public.len() })?;
        Self::new(name, kind, public)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The signature type.
    pub fn kind(&self) -> SignatureType {
        self.kind
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; ED25519_KEY_SIZE] {
        self.key.to_bytes()
    }

    /// The same name and Ed25519 key as a cosigner (type 0x04) key, with the
    /// 0x04 key ID. Witnesses often publish their key as a type 0x01 vkey
    /// (the Armored Witnesses do) while their cosignatures carry the 0x04 ID.
    pub fn to_cosigner(&self) -> Self {
        Self {
            name: self.name.clone(),
            id: KeyId::compute(
                &self.name,
                SignatureType::Cosignature.byte(),
                self.key.as_bytes(),
            ),
            kind: SignatureType::Cosignature,
            key: self.key,
        }
    }

    /// Checks `signature` (the bytes after the key ID) over `text`. For a
    /// cosigner key, returns the signed timestamp.
    pub(crate) fn verify(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, ()> {
        match self.kind {
            SignatureType::Ed25519 => {
                let sig: &[u8; ED25519_SIGNATURE_SIZE] = signature.try_into().map_err(|_| ())?;
                self.key
                    .verify_strict(text.as_bytes(), &Signature::from_bytes(sig))
                    .map_err(|_| ())?;
                Ok(None)
            }
            SignatureType::Cosignature => {
                let (time, sig) = signature.split_at_checked(TIMESTAMP_SIZE).ok_or(())?;
                let time: [u8; TIMESTAMP_SIZE] = time.try_into().map_err(|_| ())?;
                let time = u64::from_be_bytes(time);
                let sig: &[u8; ED25519_SIGNATURE_SIZE] = sig.try_into().map_err(|_| ())?;
                let message = cosigned_message(time, text).ok_or(())?;
                self.key
                    .verify_strict(&message, &Signature::from_bytes(sig))
                    .map_err(|_| ())?;
                Ok(Some(time))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = Vec::with_capacity(1 + ED25519_KEY_SIZE);
        data.push(self.kind.byte());
        data.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, encode_base64(&data))
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// A private key that signs notes: a name, a signature type and an Ed25519
/// seed. The seed is zeroized on drop and never shown: `Debug` prints the
/// name and key ID only.
///
/// Text form (Go's note package): `PRIVATE+KEY+name+hex8+base64(type || seed)`.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    id: KeyId,
    kind: SignatureType,
    key: SigningKey,
}

impl SignerKey {
    /// The key `name` of type `kind` with this 32-byte Ed25519 seed.
    pub fn from_seed(
        name: &str,
        kind: SignatureType,
        seed: &[u8; ED25519_KEY_SIZE],
    ) -> Result<Self, KeyError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Self {
            name: name.to_owned(),
            id: KeyId::compute(name, kind.byte(), key.verifying_key().as_bytes()),
            kind,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex8+base64(type || seed)`; the stated key
    /// ID must match the public key the seed gives.
    pub fn parse(skey: &str) -> Result<Self, KeyError> {
        const WHAT: &str = "signer key";
        let rest = skey.strip_prefix(SKEY_PREFIX).ok_or(KeyError::Malformed {
            what: WHAT,
            reason: "a signer key starts with PRIVATE+KEY+",
        })?;
        let (name, stated, data) = split_key(rest, WHAT)?;
        let bytes = Zeroizing::new(decode_base64(data).ok_or(KeyError::Malformed {
            what: WHAT,
            reason: "the key is not standard padded base64",
        })?);
        let Some((&type_byte, seed)) = bytes.split_first() else {
            return Err(KeyError::Malformed {
                what: WHAT,
                reason: "the key is empty",
            });
        };
        let kind =
            SignatureType::from_byte(type_byte).ok_or(KeyError::UnsupportedType(type_byte))?;
        let seed: &[u8; ED25519_KEY_SIZE] = seed
            .try_into()
            .map_err(|_| KeyError::WrongKeyLength { len: seed.len() })?;
        let key = Self::from_seed(name, kind, seed)?;
        if key.id != stated {
            return Err(KeyError::KeyIdMismatch {
                stated,
                computed: key.id,
            });
        }
        Ok(key)
    }

    /// The skey string. It holds the secret seed: store it like one.
    pub fn to_skey(&self) -> Zeroizing<String> {
        let mut data = Zeroizing::new(Vec::with_capacity(1 + ED25519_KEY_SIZE));
        data.push(self.kind.byte());
        data.extend_from_slice(self.key.as_bytes());
        let encoded = Zeroizing::new(encode_base64(&data));
        let mut out = Zeroizing::new(String::with_capacity(
            SKEY_PREFIX.len() + self.name.len() + 10 + encoded.len(),
        ));
        out.push_str(SKEY_PREFIX);
        out.push_str(&self.name);
        out.push('+');
        out.push_str(&self.id.to_string());
        out.push('+');
        out.push_str(&encoded);
        out
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The signature type.
    pub fn kind(&self) -> SignatureType {
        self.kind
    }

    /// The public half.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            kind: self.kind,
            key: self.key.verifying_key(),
        }
    }

    /// The same name and seed as a cosigner (type 0x04) key, as Go's
    /// `NewSignerForCosignatureV1` does with an Ed25519 skey.
    pub fn to_cosigner(&self) -> Self {
        Self {
            name: self.name.clone(),
            id: KeyId::compute(
                &self.name,
                SignatureType::Cosignature.byte(),
                self.key.verifying_key().as_bytes(),
            ),
            kind: SignatureType::Cosignature,
            key: self.key.clone(),
        }
    }

    fn require(&self, wanted: SignatureType) -> Result<(), SignError> {
        if self.kind == wanted {
            Ok(())
        } else {
            Err(SignError::WrongKeyType {
                name: self.name.clone(),
                actual: self.kind,
                wanted,
            })
        }
    }

    /// The Ed25519 signature (type 0x01) of `text`, without the key ID.
    pub(crate) fn sign_text(&self, text: &str) -> Result<Vec<u8>, SignError> {
        self.require(SignatureType::Ed25519)?;
        Ok(self.key.sign(text.as_bytes()).to_bytes().to_vec())
    }

    /// The cosignature (type 0x04) of `text` at `time`: the timestamp
    /// (8 bytes, big-endian) and the Ed25519 signature of the cosigned
    /// message, without the key ID.
    pub(crate) fn cosign_text(&self, text: &str, time: u64) -> Result<Vec<u8>, SignError> {
        self.require(SignatureType::Cosignature)?;
        let message = cosigned_message(time, text).ok_or(SignError::TimestampTooLarge(time))?;
        let mut out = Vec::with_capacity(TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE);
        out.extend_from_slice(&time.to_be_bytes());
        out.extend_from_slice(&self.key.sign(&message).to_bytes());
        Ok(out)
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignerKey({}+{}, {:?}, seed hidden)",
            self.name, self.id, self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TL-KEY-001: names with spaces, '+' or controls are refused.
    #[test]
    fn tl_key_001_names() {
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\nb",
            "a\u{1}b",
            "a\u{85}b",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
            assert!(matches!(
                SignerKey::from_seed(bad, SignatureType::Ed25519, &[1; 32]),
                Err(KeyError::BadName { .. })
            ));
        }
        assert!(is_valid_name("example.com/log-1"));
        assert!(is_valid_name("ünïcødé/—"));
        // DEL and C1 controls other than NEL are neither spaces nor ASCII
        // controls: the spec allows them, as Go does.
        assert!(is_valid_name("a\u{7f}\u{80}b"));
    }

    /// TL-KEY-002: the seed never shows in Debug.
    #[test]
    fn tl_key_002_debug_hides_the_seed() {
        let key = SignerKey::from_seed("k", SignatureType::Ed25519, &[0xab; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("seed hidden"), "{shown}");
        assert!(!shown.contains("abab"), "{shown}");
        assert!(!shown.contains(&encode_base64(&[0xab; 32])), "{shown}");
    }
}
