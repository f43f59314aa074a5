//! The text encoding every C2SP format shares: standard, padded base64
//! (RFC 4648 §4).
//!
//! Decoding is strict on purpose: a non-canonical encoding (bad padding, set
//! trailing bits) is refused, so one value has exactly
//! one text form and two parties can never read the same bytes differently.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Standard base64 with padding.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded, canonical base64; `None` for anything else
/// (including the empty string, which no C2SP field allows).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TL-NOTE-003: base64 is standard, padded and canonical.
    #[test]
    fn base64_is_strict() {
        assert_eq!(decode_base64("AAE="), Some(vec![0, 1]));
        for bad in ["", "AAE", "AAF=", "AA==AA==", "AA-_", "AAE=\n"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
        assert_eq!(encode_base64(&[0xfb, 0xff]), "+/8=");
    }
}
