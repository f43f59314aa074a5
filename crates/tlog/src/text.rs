//! The text pieces every C2SP format shares: standard, padded base64
//! (RFC 4648 §4), ASCII decimals without leading zeroes, and blocks of
//! base64 hash lines ended by an empty line.
//!
//! Decoding is strict on purpose: a non-canonical encoding (bad padding, set
//! trailing bits, a `+5` or `007` size) is refused, so one value has exactly
//! one text form and two parties can never read the same bytes differently.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::hash::{Hash, HashError};

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

/// Parses an ASCII decimal with no sign and no leading zeroes (`0` itself is
/// allowed), as C2SP writes tree sizes, indexes and timestamps. `None` when
/// the text is empty, has any other character, a leading zero, or does not
/// fit in a `u64`.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    match bytes {
        [] => return None,
        [b'0'] => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut value: u64 = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    Some(value)
}

/// Takes the next line (without its `\n`) off `rest`.
pub(crate) fn next_line<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let (line, tail) = rest.split_once('\n')?;
    *rest = tail;
    Some(line)
}

/// Reads base64 hash lines up to the empty line; `rest` is left after it.
pub(crate) fn hash_lines(rest: &mut &str, max: usize) -> Result<Vec<Hash>, HashLinesError> {
    let mut hashes = Vec::new();
    loop {
        let line = next_line(rest).ok_or(HashLinesError::NoEmptyLine)?;
        if line.is_empty() {
            return Ok(hashes);
        }
        if hashes.len() == max {
            return Err(HashLinesError::TooMany);
        }
        let hash = Hash::from_base64(line).map_err(|source| HashLinesError::Bad {
            number: hashes.len() + 1,
            source,
        })?;
        hashes.push(hash);
    }
}

/// What [`hash_lines`] found wrong.
pub(crate) enum HashLinesError {
    /// The text ended before an empty line.
    NoEmptyLine,
    /// More than the maximum number of lines.
    TooMany,
    /// Line `number` (from 1) is not a base64 hash.
    Bad { number: usize, source: HashError },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TL-CKPT-002: sizes are canonical decimals.
    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("8"), Some(8));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "08",
            "00",
            "+8",
            "-8",
            " 8",
            "8 ",
            "1e3",
            "18446744073709551616",
            "٣",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

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
