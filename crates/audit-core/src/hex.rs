//! Hexadecimal text of bytes, the form MACs take in exports and on the
//! fleet's wire: plain arithmetic per digit, no formatting machinery.
//! Every record shipped carries two MACs, so this is on the hot path of
//! the shipper (encoding) and the collector (decoding).

/// Appends the lower-case hex of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        for digit in [b >> 4, b & 0x0f] {
            out.push(char::from(if digit < 10 {
                b'0' + digit
            } else {
                b'a' - 10 + digit
            }));
        }
    }
}

/// The lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut out);
    out
}

/// The value of one hex digit (either case), or `None`.
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes of hex text (either case, an even number of digits and nothing
/// else); `None` if it is not hex.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            // `+`, not `|`: the nibbles never overlap, and a mutation of `+`
            // changes the value.
            [hi, lo] => Some((digit(*hi)? << 4) + digit(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text, expected);
        assert_eq!(decode(&text), Some(all.clone()));
        assert_eq!(decode(&text.to_uppercase()), Some(all));
        let mut out = String::from("x");
        encode_into(&[0xab], &mut out);
        assert_eq!(out, "xab");
    }

    #[test]
    fn refuses_what_is_not_hex() {
        for bad in ["0", "zz", "+1", "0g", "g0", " 0", "é0", "0x"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert_eq!(decode(""), Some(vec![]));
    }
}
