//! The message a timestamped Ed25519 cosignature signs (c2sp.org/tlog-cosignature
//! v1, signature type `0x04`).
//!
//! ```text
//! cosignature/v1\n
//! time <POSIX seconds, ASCII decimal, no leading zeroes>\n
//! <the whole note text, extension lines included, final \n included>
//! ```
//!
//! The signature line's payload is `key ID (4) || timestamp (8, big-endian)
//! || Ed25519 signature (64)`: 76 bytes, 104 base64 characters. The header
//! line separates cosignatures from plain note signatures: a witness's
//! cosignature never verifies as the log's Ed25519 signature of the same
//! text, and the other way round.
//!
//! Semantics: "as of `time`, the largest consistent tree this cosigner has
//! seen for this origin has this root". The message does not name the
//! cosigner, so each cosigner needs its own key.

/// The header line of the signed message, without its newline.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1";

/// The largest timestamp a cosignature may carry: `2^63 − 1`.
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// Bytes of the timestamp in a cosignature payload.
pub(crate) const TIMESTAMP_SIZE: usize = 8;

/// The bytes a cosignature at `time` over the note `text` signs; `None` when
/// `time` is above [`MAX_TIMESTAMP`].
pub fn cosigned_message(time: u64, text: &str) -> Option<Vec<u8>> {
    if time > MAX_TIMESTAMP {
        return None;
    }
    Some(format!("{COSIGNATURE_HEADER}\ntime {time}\n{text}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TL-COSIG-001: the message is exactly header, time line and text.
    #[test]
    fn tl_cosig_001_message_format() {
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        assert_eq!(
            cosigned_message(1679315147, text).unwrap(),
            format!("cosignature/v1\ntime 1679315147\n{text}").into_bytes()
        );
        assert_eq!(
            cosigned_message(0, "a\n").unwrap(),
            b"cosignature/v1\ntime 0\na\n"
        );
        assert!(cosigned_message(MAX_TIMESTAMP, "a\n").is_some());
        assert_eq!(cosigned_message(MAX_TIMESTAMP + 1, "a\n"), None);
    }
}
