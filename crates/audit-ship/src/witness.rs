//! The log's side of the tlog-witness protocol (c2sp.org/tlog-witness
//! v1.0.0; spec `AC-WIT-002` to `AC-WIT-006`): submit a signed checkpoint
//! to witnesses, store their cosignatures, record their alarms.
//!
//! Each witness is sent `POST URL/add-checkpoint` with `old <size>`, where
//! size is the largest stored checkpoint that witness cosigned (0 at
//! first), and the consistency proof from there. Its answer:
//!
//! - 200: its cosignature is verified over the checkpoint sent and stored
//!   in the log beside the checkpoint (`AuditLog::add_cosignatures`);
//! - 409: it holds another size; sent again once from that size (a size
//!   above the log's tree is an alarm: the log was cut or rolled back);
//! - 403, 404, 422, or a 200 whose cosignature does not verify: an
//!   **alarm**, appended to the log as a `WitnessAlarm` record;
//! - anything else (400, a server error, no connection, a timeout): that
//!   witness did not cosign; reported, no record.

use std::time::Duration;

use audit_core::tlog::{
    self, MAX_WITNESS_RESPONSE_BYTES, Note, SignatureType, VerifierKey, WitnessReply,
};
use audit_core::{AuditError, AuditEvent, AuditLog, StoredCheckpoint};

use crate::http;

/// A witness to submit checkpoints to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    url: String,
    key: VerifierKey,
}

/// Why a witness could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessSpecError {
    /// Not `URL=VKEY`.
    #[error("{0:?}: expected URL=VKEY")]
    NotUrlEqualsKey(String),
    /// A private key was given where a verifier key goes (not shown).
    #[error(
        "that holds a private key (not shown); give the witness's verifier key (name+keyid+base64)"
    )]
    PrivateKey,
    /// The URL cannot be used.
    #[error("{url:?}: the URL {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The key is not a verifier key.
    #[error("{url:?}=...: not a verifier key: {why}")]
    BadKey {
        /// The URL it came with.
        url: String,
        /// Why.
        why: String,
    },
    /// Two witnesses with one name or key.
    #[error("{0} is given twice (same name or key); each witness counts once")]
    Twice(String),
}

impl Witness {
    /// The witness at `url` (its submission prefix, plain `http://`) with
    /// verifier key `key` (its cosigner 0x04 key, or the Ed25519 0x01 key
    /// it publishes).
    pub fn new(url: &str, key: &VerifierKey) -> Result<Self, WitnessSpecError> {
        http::check_url(url).map_err(|why| WitnessSpecError::BadUrl {
            url: url.to_owned(),
            why,
        })?;
        let key = match key.kind() {
            SignatureType::Cosignature => key.clone(),
            SignatureType::Ed25519 => key.to_cosigner(),
        };
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// Parses `URL=VKEY`: the URL is everything before the first `=`.
    /// Errors show the URL part only, and nothing of a private key given
    /// by mistake.
    pub fn parse(text: &str) -> Result<Self, WitnessSpecError> {
        if text.contains("PRIVATE+KEY+") {
            return Err(WitnessSpecError::PrivateKey);
        }
        let Some((url, vkey)) = text.split_once('=') else {
            return Err(WitnessSpecError::NotUrlEqualsKey(text.to_owned()));
        };
        let key = VerifierKey::parse(vkey).map_err(|e| WitnessSpecError::BadKey {
            url: url.to_owned(),
            why: e.to_string(),
        })?;
        Self::new(url, &key)
    }

    /// Parses each of `texts`; no witness twice (same name or key).
    pub fn parse_all(texts: &[String]) -> Result<Vec<Self>, WitnessSpecError> {
        let mut out: Vec<Self> = Vec::with_capacity(texts.len());
        for text in texts {
            let witness = Self::parse(text)?;
            if out.iter().any(|w| {
                w.key.name() == witness.key.name() || w.key.public_key() == witness.key.public_key()
            }) {
                return Err(WitnessSpecError::Twice(witness.name().to_owned()));
            }
            out.push(witness);
        }
        Ok(out)
    }

    /// Its name (its key's).
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// Its submission prefix.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its cosigner key.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }
}

/// What became of one witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It cosigned; the cosignature is stored in the log.
    Cosigned {
        /// The size the request was sent from.
        old: u64,
        /// The cosignature's timestamp (seconds since the epoch).
        timestamp: u64,
    },
    /// It raised an alarm, recorded in the log as a `WitnessAlarm`.
    Alarm {
        /// The status it answered.
        status: u16,
        /// The size the request was sent from.
        old: u64,
        /// What was wrong.
        reason: String,
        /// The alarm record's seq, or why it could not be appended.
        recorded: Result<u64, String>,
    },
    /// It did not cosign, for a reason that is not an alarm.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The largest stored checkpoint of at most `size` records that `witness`
/// validly cosigned: what it holds, as far as this log knows (0 at first).
pub fn last_cosigned(checkpoints: &[StoredCheckpoint], witness: &Witness, size: u64) -> u64 {
    let key = witness.key();
    checkpoints
        .iter()
        .rev()
        .filter(|c| c.size <= size)
        .find(|c| {
            Note::parse(c.note.as_bytes())
                .and_then(|note| note.verify(std::slice::from_ref(key)))
                .is_ok_and(|v| v.signature_of(key).and_then(|s| s.timestamp).is_some())
        })
        .map_or(0, |c| c.size)
}

/// The first line of a witness's answer, at most 200 characters, control
/// characters dropped: what it said, for the report and the alarm record.
pub(crate) fn said(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if line.trim().is_empty() {
        String::new()
    } else {
        format!(" (the witness said: {})", line.trim())
    }
}

/// Submits the signed checkpoint `note` of `size` records to `witness`,
/// from the size it last cosigned ([`last_cosigned`]), retrying once after
/// a 409; stores a verified cosignature, and appends a `WitnessAlarm`
/// record for an alarm. `Err` only when the log itself fails (the note is
/// not one of its checkpoints, a proof cannot be read).
pub fn submit(
    log: &mut AuditLog,
    witness: &Witness,
    note: &str,
    size: u64,
    timeout: Duration,
) -> Result<Outcome, AuditError> {
    let tree_size = log.tree_size()?;
    let old = last_cosigned(&log.signed_checkpoints()?, witness, size);
    let outcome = exchange(log, witness, note, size, tree_size, old, timeout)?;
    Ok(match outcome {
        Exchange::Alarm {
            status,
            old,
            reason,
        } => {
            let event = AuditEvent::witness_alarm(
                &witness.key.to_string(),
                &witness.url,
                status,
                &reason,
                size,
                old,
            );
            let recorded = log.append(&event).map_err(|e| e.to_string());
            Outcome::Alarm {
                status,
                old,
                reason,
                recorded,
            }
        }
        Exchange::Cosigned { old, timestamp } => Outcome::Cosigned { old, timestamp },
        Exchange::Failed { reason } => Outcome::Failed { reason },
    })
}

/// One exchange's result, before an alarm is recorded.
enum Exchange {
    Cosigned {
        old: u64,
        timestamp: u64,
    },
    Alarm {
        status: u16,
        old: u64,
        reason: String,
    },
    Failed {
        reason: String,
    },
}

fn exchange(
    log: &mut AuditLog,
    witness: &Witness,
    note: &str,
    size: u64,
    tree_size: u64,
    mut old: u64,
    timeout: Duration,
) -> Result<Exchange, AuditError> {
    let sent = Note::parse(note.as_bytes()).map_err(|e| AuditError::SignedCheckpoint {
        reason: format!("the checkpoint to send is not a signed note: {e}"),
    })?;
    let url = format!("{}/add-checkpoint", witness.url);
    let mut retried = false;
    loop {
        let body = log.add_checkpoint_request(old, Some(note))?.to_bytes();
        let response = match http::post(
            &url,
            "text/plain; charset=utf-8",
            &body,
            timeout,
            MAX_WITNESS_RESPONSE_BYTES,
        ) {
            Ok(response) => response,
            Err(e) => {
                return Ok(Exchange::Failed {
                    reason: format!("no answer from {url}: {e}"),
                });
            }
        };
        let status = response.status;
        match tlog::read_response(status, &response.body, &sent, &witness.key) {
            Ok(WitnessReply::Cosigned(lines)) => {
                let text: String = lines.iter().map(|l| format!("{}\n", l.signature)).collect();
                let timestamp = lines.first().map_or(0, |l| l.timestamp);
                return Ok(
                    match log.add_cosignatures(size, &text, std::slice::from_ref(&witness.key)) {
                        Ok(_) => Exchange::Cosigned { old, timestamp },
                        Err(e) => Exchange::Failed {
                            reason: format!(
                                "its cosignature verified but could not be stored: {e}"
                            ),
                        },
                    },
                );
            }
            Ok(WitnessReply::Conflict { size: held }) => {
                if held > tree_size {
                    return Ok(Exchange::Alarm {
                        status,
                        old,
                        reason: format!(
                            "the witness holds {held} records of this log, more than the {tree_size} it has: records were cut off or an older copy put back"
                        ),
                    });
                }
                if held > size {
                    return Ok(Exchange::Failed {
                        reason: format!(
                            "409: the witness holds a checkpoint of {held} records, newer than the {size} sent; sign one that covers every record and submit it"
                        ),
                    });
                }
                if retried || held == old {
                    return Ok(Exchange::Failed {
                        reason: format!(
                            "409 again: the witness holds {held} records after the retry from {old}; try again later"
                        ),
                    });
                }
                old = held;
                retried = true;
            }
            Ok(reply @ WitnessReply::Refused(refusal)) => {
                let reason = format!("{refusal}{}", said(&response.body));
                return Ok(if reply.is_alarm() {
                    Exchange::Alarm {
                        status,
                        old,
                        reason,
                    }
                } else {
                    Exchange::Failed { reason }
                });
            }
            Ok(WitnessReply::Unexpected { status }) => {
                return Ok(Exchange::Failed {
                    reason: format!(
                        "unexpected status {status} from {url}{}",
                        said(&response.body)
                    ),
                });
            }
            Err(e) if e.is_alarm() => {
                return Ok(Exchange::Alarm {
                    status,
                    old,
                    reason: format!("a cosignature that does not hold: {e}"),
                });
            }
            Err(e) => {
                return Ok(Exchange::Failed {
                    reason: format!("status {status}, an answer that cannot be read: {e}"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const VKEY: &str = "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";

    /// AC-WIT-002: `URL=VKEY` splits at the first `=`; the URL must be
    /// http:// with a host; the key a verifier key (a 0x01 key becomes the
    /// cosigner key); no witness twice.
    #[test]
    fn ac_wit_002_witness_arguments() {
        let w = Witness::parse(&format!("http://127.0.0.1:7380/w/={VKEY}")).unwrap();
        assert_eq!(w.url(), "http://127.0.0.1:7380/w");
        assert_eq!(w.key().to_string(), VKEY);
        for bad in [
            VKEY.to_owned(),
            format!("https://w.example={VKEY}"),
            format!("w.example={VKEY}"),
            format!("http://={VKEY}"),
            format!("http://a b={VKEY}"),
            "http://w.example=not-a-key".to_owned(),
            "http://w.example=PRIVATE+KEY+x+00000000+AQ==".to_owned(),
            format!("{VKEY}=http://w.example"),
        ] {
            assert!(Witness::parse(&bad).is_err(), "{bad}");
        }
        let private = Witness::parse("http://w.example=PRIVATE+KEY+x+00000000+AQ==")
            .unwrap_err()
            .to_string();
        assert!(!private.contains("AQ=="), "{private}");
        let twice = [format!("http://a={VKEY}"), format!("http://b={VKEY}")];
        assert!(matches!(
            Witness::parse_all(&twice),
            Err(WitnessSpecError::Twice(_))
        ));
        assert_eq!(
            said(b"no such log\nmore"),
            " (the witness said: no such log)"
        );
        assert_eq!(said(b"a\x1b[2Jb"), " (the witness said: a[2Jb)");
        assert_eq!(said(b""), "");
    }
}
