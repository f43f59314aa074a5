//! Signed notes (c2sp.org/signed-note v1.0.0): parse, serialize, sign and
//! verify.
//!
//! ```text
//! <text, one or more lines, each ending in \n>
//! \n
//! — <key name> <base64(key ID (4 bytes) || signature)>\n
//! …one or more signature lines
//! ```
//!
//! The whole note is UTF-8 without ASCII control characters other than
//! `\n`; the text ends at the *last* empty line. `—` is U+2014.
//!
//! Verification follows the spec and Go's `sumdb/note`:
//! - a signature is matched to a key by name **and** key ID; signatures of
//!   unknown keys are kept aside ([`VerifiedNote::unverified`]), never trusted;
//! - a failing signature of a known key rejects the note
//!   ([`NoteError::InvalidSignature`]);
//! - a note that no known key verified is rejected
//!   ([`NoteError::NoVerifiedSignature`]);
//! - up to [`MAX_SIGNATURES`] (100) signatures are read, more is malformed.
//!
//! A verified note says only *who* signed *this text*. Whether that signer
//! was the log, and what the text means, is for [`crate::checkpoint`].

use std::fmt;

use crate::keys::{KeyId, SignError, SignatureType, SignerKey, VerifierKey, is_valid_name};
use crate::text::{decode_base64, encode_base64};

/// The most signatures a note may carry (Go's `sumdb/note` limit; the spec
/// asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The start of a signature line: em dash (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note is malformed, or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The bytes are not UTF-8.
    #[error("a signed note must be UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// An ASCII control character other than `\n`.
    #[error(
        "a signed note may hold no control character but newline (found 0x{byte:02x} at offset {offset})"
    )]
    ControlCharacter {
        /// The character.
        byte: u8,
        /// Its offset.
        offset: usize,
    },
    /// The text is empty or does not end in a newline.
    #[error("a note text must be non-empty and end in a newline")]
    BadText,
    /// There is no empty line followed by signature lines.
    #[error(
        "a signed note is its text, an empty line, and signature lines each ending in a newline; this one has no signature block"
    )]
    NoSignatureBlock,
    /// A line of the signature block is not a valid signature line.
    #[error("signature line {line} is malformed: {reason}")]
    BadSignatureLine {
        /// Line number within the signature block, from 1.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signatures.
    #[error("the note has more than {max} signatures; refused unread")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// Two configured keys share a name and key ID.
    #[error(
        "two known keys are named {name} with key ID {key_id}: the key list is ambiguous; remove one"
    )]
    AmbiguousKey {
        /// The name.
        name: String,
        /// The ID.
        key_id: KeyId,
    },
    /// A known key's signature did not verify.
    #[error(
        "the signature of known key {name}+{key_id} does not verify: the note was altered or forged; reject it"
    )]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: KeyId,
    },
    /// No signature came from a known key.
    #[error(
        "no signature on the note is from a key you trust ({unverified} from unknown keys); check the configured keys (name and key ID must both match)"
    )]
    NoVerifiedSignature {
        /// How many signatures came from unknown keys.
        unverified: usize,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

/// One signature line: key name, key ID and the signature bytes after the ID.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NoteSignature {
    name: String,
    key_id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature by key `name`/`key_id`; `signature` is what follows the
    /// key ID (at least one byte).
    pub fn new(name: &str, key_id: KeyId, signature: Vec<u8>) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::BadSignatureLine {
                line: 1,
                reason: "the key name is empty or holds a space or '+'",
            });
        }
        if signature.is_empty() {
            return Err(NoteError::BadSignatureLine {
                line: 1,
                reason: "the signature is empty",
            });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Parses one signature line without its newline: `— name base64`.
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        Self::parse_numbered(line, 1)
    }

    fn parse_numbered(line: &str, number: usize) -> Result<Self, NoteError> {
        let bad = |reason| NoteError::BadSignatureLine {
            line: number,
            reason,
        };
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(bad("it does not start with an em dash and a space"))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or(bad("expected a key name, a space and base64"))?;
        if !is_valid_name(name) {
            return Err(bad("the key name is empty or holds a space or '+'"));
        }
        let bytes =
            decode_base64(encoded).ok_or(bad("the signature is not standard padded base64"))?;
        let (id, signature) = bytes
            .split_at_checked(4)
            .ok_or(bad("the signature is shorter than its key ID"))?;
        let id: [u8; 4] = id
            .try_into()
            .map_err(|_| bad("the signature is shorter than its key ID"))?;
        if signature.is_empty() {
            return Err(bad("the signature is empty"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: KeyId::new(u32::from_be_bytes(id)),
            signature: signature.to_vec(),
        })
    }

    /// Parses a block of signature lines, each ending in `\n` (a tlog-witness
    /// `add-checkpoint` response body, for example). At most
    /// [`MAX_SIGNATURES`].
    pub fn parse_lines(text: &str) -> Result<Vec<Self>, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::NoSignatureBlock)?;
        let mut out = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            if out.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            out.push(Self::parse_numbered(line, i + 1)?);
        }
        Ok(out)
    }
}

impl fmt::Display for NoteSignature {
    /// The signature line without its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_bytes());
        bytes.extend_from_slice(&self.signature);
        write!(
            f,
            "{SIGNATURE_PREFIX}{} {}",
            self.name,
            encode_base64(&bytes)
        )
    }
}

impl fmt::Debug for NoteSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSignature({self})")
    }
}

/// Checks that `bytes` are UTF-8 with no control character but `\n`.
fn check_characters(bytes: &[u8]) -> Result<&str, NoteError> {
    let text = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some((offset, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|&(_, &b)| b < 0x20 && b != b'\n')
    {
        return Err(NoteError::ControlCharacter { byte, offset });
    }
    Ok(text)
}

/// A signed note: its text and its signature lines, verified or not.
#[derive(Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// A note with this text and no signatures yet. The text must be
    /// non-empty, end in `\n` and hold no control character but `\n`.
    pub fn new(text: impl Into<String>) -> Result<Self, NoteError> {
        let text = text.into();
        check_characters(text.as_bytes())?;
        if !text.ends_with('\n') {
            return Err(NoteError::BadText);
        }
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note (its signatures unchecked: see [`Note::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        let whole = check_characters(bytes)?;
        let split = whole.rfind("\n\n").ok_or(NoteError::NoSignatureBlock)?;
        let (text, block) = (
            whole.get(..=split).ok_or(NoteError::NoSignatureBlock)?,
            whole.get(split + 2..).ok_or(NoteError::NoSignatureBlock)?,
        );
        if block.is_empty() {
            return Err(NoteError::NoSignatureBlock);
        }
        if !block.ends_with('\n') {
            return Err(NoteError::BadSignatureLine {
                line: block.split('\n').count(),
                reason: "the last signature line does not end in a newline",
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures: NoteSignature::parse_lines(block)?,
        })
    }

    /// The text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line; one with the same name and key ID is replaced.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        if let Some(old) = self
            .signatures
            .iter_mut()
            .find(|s| s.name == signature.name && s.key_id == signature.key_id)
        {
            *old = signature;
            return Ok(());
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Signs the text with an Ed25519 (0x01) key and adds the line.
    pub fn sign(&mut self, key: &SignerKey) -> Result<(), NoteError> {
        let signature = key.sign_text(&self.text)?;
        self.add_signature(NoteSignature {
            name: key.name().to_owned(),
            key_id: key.key_id(),
            signature,
        })
    }

    /// Cosigns the text with a cosigner (0x04) key at `time` (POSIX
    /// seconds) and adds the line.
    pub fn cosign(&mut self, key: &SignerKey, time: u64) -> Result<(), NoteError> {
        let signature = key.cosign_text(&self.text, time)?;
        self.add_signature(NoteSignature {
            name: key.name().to_owned(),
            key_id: key.key_id(),
            signature,
        })
    }

    /// The signed note as bytes: text, empty line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verifies the signatures of the `known` keys (see the
    /// [module documentation](self) for the rules).
    pub fn verify(&self, known: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        let mut unverified: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matches = known
                .iter()
                .filter(|k| k.name() == sig.name && k.key_id() == sig.key_id);
            let Some(key) = matches.next() else {
                if !unverified.contains(sig) {
                    unverified.push(sig.clone());
                }
                continue;
            };
            if matches.next().is_some() {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            let timestamp = key.verify(&self.text, &sig.signature).map_err(|()| {
                NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                }
            })?;
            if !verified
                .iter()
                .any(|v| v.name == sig.name && v.key_id == sig.key_id)
            {
                verified.push(VerifiedSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                    kind: key.kind(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature {
                unverified: unverified.len(),
            });
        }
        Ok(VerifiedNote {
            text: self.text.clone(),
            verified,
            unverified,
        })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            writeln!(f, "{sig}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("text", &self.text)
            .field("signatures", &self.signatures)
            .finish()
    }
}

/// A signature that verified under a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: KeyId,
    /// The key's signature type.
    pub kind: SignatureType,
    /// For a cosignature, the time it states (POSIX seconds).
    pub timestamp: Option<u64>,
}

/// A note whose signatures from known keys all verified, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<VerifiedSignature>,
    unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The text the signatures cover.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures that verified, one per key, in note order.
    pub fn verified(&self) -> &[VerifiedSignature] {
        &self.verified
    }

    /// Signatures of keys not in the known list: not checked, not trusted.
    pub fn unverified(&self) -> &[NoteSignature] {
        &self.unverified
    }

    /// Whether `key` (matched on name and key ID) verified the note.
    pub fn is_signed_by(&self, key: &VerifierKey) -> bool {
        self.signature_of(key).is_some()
    }

    /// The verified signature of `key`, if it signed.
    pub fn signature_of(&self, key: &VerifierKey) -> Option<&VerifiedSignature> {
        self.verified
            .iter()
            .find(|v| v.name == key.name() && v.key_id == key.key_id() && v.kind == key.kind())
    }
}
