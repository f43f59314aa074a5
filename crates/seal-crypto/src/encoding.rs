//! The canonical byte encoding that MACs are computed over.
//!
//! A MAC is only as good as the encoding under it: if two different claim
//! sets encode to the same bytes, one seal vouches for both. Every encoding
//! here starts with a length-prefixed domain string and a version, then writes
//! each field as `tag (1 byte) || length (8 bytes, big-endian) || bytes`, in a
//! fixed order. With every length explicit, the bytes decode one way only, so
//! the encoding is injective (spec `SC-SEAL-002`).

/// Builds a canonical, versioned, length-prefixed encoding.
///
/// ```
/// use seal_crypto::CanonicalEncoder;
/// let a = CanonicalEncoder::new("example", 1).field(1, b"ab").field(2, b"c").finish();
/// let b = CanonicalEncoder::new("example", 1).field(1, b"a").field(2, b"bc").finish();
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone)]
pub struct CanonicalEncoder {
    bytes: Vec<u8>,
}

impl CanonicalEncoder {
    /// Starts an encoding for `domain` (what is being encoded) at `version`.
    pub fn new(domain: &str, version: u16) -> Self {
        Self::reusing(Vec::with_capacity(128), domain, version)
    }

    /// Like [`Self::new`], but writes into `buffer` (cleared first), so a
    /// caller encoding millions of records can reuse one allocation.
    pub fn reusing(mut buffer: Vec<u8>, domain: &str, version: u16) -> Self {
        buffer.clear();
        buffer.extend_from_slice(&(domain.len() as u64).to_be_bytes());
        buffer.extend_from_slice(domain.as_bytes());
        buffer.extend_from_slice(&version.to_be_bytes());
        Self { bytes: buffer }
    }

    /// Appends a field: its tag, its length and its bytes.
    pub fn field(mut self, tag: u8, value: &[u8]) -> Self {
        self.bytes.push(tag);
        self.bytes
            .extend_from_slice(&(value.len() as u64).to_be_bytes());
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends an unsigned integer field (8 bytes, big-endian).
    pub fn u64(self, tag: u8, value: u64) -> Self {
        self.field(tag, &value.to_be_bytes())
    }

    /// Appends a signed integer field (8 bytes, big-endian two's complement).
    pub fn i64(self, tag: u8, value: i64) -> Self {
        self.field(tag, &value.to_be_bytes())
    }

    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}
