//! The plain SHA-256 digest of a shard: the value operators compare with
//! `sha256sum` and with a model catalog.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::Digest as _;
use subtle::ConstantTimeEq;

/// Bytes read per `read` call when hashing a stream: large enough that system
/// calls do not dominate, small enough that memory stays flat.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// A SHA-256 value (32 bytes).
///
/// `Display` and `FromStr` use lower-case hex, the form `sha256sum` prints.
/// Equality is constant time, so comparing an expected digest with an
/// attacker-influenced one leaks nothing through timing.
#[derive(Clone, Copy, Eq)]
pub struct Digest([u8; 32]);

/// A digest could not be built from the given bytes or text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The input had the wrong number of bytes (or hex characters).
    #[error("a SHA-256 digest is {expected} bytes ({} hex characters), got {actual}; pass the full digest", expected * 2)]
    WrongLength {
        /// Bytes a digest has (32).
        expected: usize,
        /// Bytes (or, for text, half the characters) given.
        actual: usize,
    },
    /// The text had a character that is not a hex digit.
    #[error("a SHA-256 digest is written in hex; character {position} is not 0-9 or a-f")]
    NotHex {
        /// Zero-based index of the first bad character.
        position: usize,
    },
}

impl Digest {
    /// Length of a SHA-256 digest in bytes.
    pub const LEN: usize = 32;

    /// Wraps 32 raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Builds a digest from a slice, refusing any length but 32.
    ///
    /// ```
    /// # use seal_crypto::{Digest, DigestError};
    /// assert!(matches!(Digest::from_slice(&[0; 31]), Err(DigestError::WrongLength { actual: 31, .. })));
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Self, DigestError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| DigestError::WrongLength {
                expected: Self::LEN,
                actual: bytes.len(),
            })
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as `sha256sum` prints it.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

// Hash agrees with the constant-time `eq`: both look at all 32 bytes.
impl std::hash::Hash for Digest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    /// Parses 64 hex digits (either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(position) = text.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(DigestError::NotHex { position });
        }
        if text.len() != Self::LEN * 2 {
            return Err(DigestError::WrongLength {
                expected: Self::LEN,
                actual: text.len() / 2,
            });
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
            // `+`, not `|`: the same value here, and a mutation of it shows.
            *byte = (hex_value(pair.first()) << 4) + hex_value(pair.get(1));
        }
        Ok(Self(bytes))
    }
}

/// Value of one ASCII hex digit already checked by `is_ascii_hexdigit`.
fn hex_value(c: Option<&u8>) -> u8 {
    match c {
        Some(c @ b'0'..=b'9') => c - b'0',
        Some(c @ b'a'..=b'f') => c - b'a' + 10,
        Some(c @ b'A'..=b'F') => c - b'A' + 10,
        _ => 0,
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// SHA-256 of a byte slice.
///
/// ```
/// assert_eq!(
///     seal_crypto::sha256(b"abc").to_string(),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest(sha2::Sha256::digest(bytes).into())
}

/// Incremental SHA-256 over bytes that arrive in pieces (a file, a device
/// read-back). Feeding the same bytes in any split gives the same digest.
#[derive(Clone, Default)]
pub struct Sha256Stream {
    hasher: sha2::Sha256,
    bytes: u64,
}

impl Sha256Stream {
    /// A stream that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes = self.bytes.saturating_add(bytes.len() as u64);
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest(self.hasher.finalize().into())
    }
}

impl fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha256Stream")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of everything a reader yields, in bounded memory (1 MiB buffer).
/// Returns the digest and the number of bytes read.
pub fn sha256_reader<R: Read>(mut reader: R) -> io::Result<(Digest, u64)> {
    let mut stream = Sha256Stream::new();
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => stream.update(buffer.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let bytes = stream.bytes();
    Ok((stream.finish(), bytes))
}

/// Constant-time equality of two byte strings. Lengths are not secret: slices
/// of different lengths compare unequal at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SC-DIG-001: `Display` is 64 lower-case hex digits; `FromStr` takes
    /// either case.
    #[test]
    fn sc_dig_001_hex_round_trip_and_case() {
        let d = sha256(b"abc");
        assert_eq!(
            d.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let upper = d.to_string().to_uppercase();
        assert_eq!(upper.parse::<Digest>().unwrap(), d);
        assert_eq!(d.to_hex().parse::<Digest>().unwrap(), d);
    }

    /// SC-DIG-001: equality is constant-time equality of all 32 bytes
    /// (`ct_eq`), and `Hash` agrees with it.
    #[test]
    fn sc_dig_001_equality_and_hash_look_at_every_byte() {
        use std::hash::{BuildHasher, RandomState};
        assert!(ct_eq(b"same bytes", b"same bytes"));
        assert!(!ct_eq(b"same bytes", b"same bytez"));
        assert!(!ct_eq(b"short", b"shorter"));
        assert!(ct_eq(b"", b""));
        let a = sha256(b"a");
        let mut b_bytes = *a.as_bytes();
        b_bytes[31] ^= 1;
        let b = Digest::from_bytes(b_bytes);
        assert_ne!(a, b);
        let state = RandomState::new();
        assert_ne!(state.hash_one(a), state.hash_one(b));
        assert_eq!(state.hash_one(a), state.hash_one(sha256(b"a")));
        assert_eq!(format!("{a:?}"), format!("Digest({a})"));
    }

    /// `sha256_reader` retries a read that was interrupted and stops at
    /// any other error.
    #[test]
    fn reader_retries_interruptions_and_reports_errors() {
        struct Flaky {
            calls: u32,
            then: io::ErrorKind,
        }
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.calls += 1;
                match self.calls {
                    1 => Err(io::Error::from(io::ErrorKind::Interrupted)),
                    2 => {
                        buf[..3].copy_from_slice(b"abc");
                        Ok(3)
                    }
                    3 if self.then == io::ErrorKind::Interrupted => Ok(0),
                    _ => Err(io::Error::from(self.then)),
                }
            }
        }
        let (digest, n) = sha256_reader(Flaky {
            calls: 0,
            then: io::ErrorKind::Interrupted,
        })
        .unwrap();
        assert_eq!((digest, n), (sha256(b"abc"), 3));
        let err = sha256_reader(Flaky {
            calls: 0,
            then: io::ErrorKind::PermissionDenied,
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let stream = Sha256Stream::new();
        assert_eq!(format!("{stream:?}"), "Sha256Stream { bytes: 0, .. }");
    }

    /// SC-DIG-001: other lengths and non-hex text are typed errors, with
    /// the position.
    #[test]
    fn sc_dig_001_parse_errors_are_typed() {
        assert_eq!(
            "abcdef0123".parse::<Digest>(),
            Err(DigestError::WrongLength {
                expected: 32,
                actual: 5
            })
        );
        assert_eq!(
            "abc".parse::<Digest>(),
            Err(DigestError::WrongLength {
                expected: 32,
                actual: 1
            })
        );
        let mut bad = "0".repeat(64);
        bad.replace_range(5..6, "g");
        assert_eq!(
            bad.parse::<Digest>(),
            Err(DigestError::NotHex { position: 5 })
        );
        assert!(matches!(
            "é".repeat(32).parse::<Digest>(),
            Err(DigestError::NotHex { position: 0 })
        ));
    }

    #[test]
    fn serde_is_hex_text() {
        let d = sha256(b"");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"00\"").is_err());
    }

    #[test]
    fn stream_equals_one_shot_for_any_split() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for split in [0, 1, 63, 64, 65, 4096, 9_999, 10_000] {
            let mut s = Sha256Stream::new();
            s.update(&data[..split]);
            s.update(&data[split..]);
            assert_eq!(s.bytes(), 10_000);
            assert_eq!(s.finish(), sha256(&data));
        }
        let (d, n) = sha256_reader(&data[..]).unwrap();
        assert_eq!((d, n), (sha256(&data), 10_000));
    }
}
