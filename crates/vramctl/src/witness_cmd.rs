//! `vramctl audit witness DB --witness URL=VKEY ... [--key FILE] [--quorum K]
//! [--timeout-ms N]`: the log's side of the tlog-witness protocol
//! (c2sp.org/tlog-witness v1.0.0, spec `AC-WIT-002` to `AC-WIT-006`).
//!
//! The checkpoint sent is the latest signed one stored in the log, or, with
//! `--key`, a new one signed now when the latest does not cover every
//! record. Each witness is sent `POST URL/add-checkpoint` with `old <size>`,
//! where size is the largest stored checkpoint that witness cosigned (0 at
//! first), and the consistency proof from there. Its answer:
//!
//! - 200: its cosignature is verified over the checkpoint sent and stored
//!   in the log beside the checkpoint (`AuditLog::add_cosignatures`);
//! - 409: it holds another size; sent again once from that size (a size
//!   above the log's tree is an alarm: the log was cut or rolled back);
//! - 403, 404, 422, or a 200 whose cosignature does not verify: an
//!   **alarm**, appended to the log as a `WitnessAlarm` record, exit 1;
//! - anything else (400, a server error, no connection, a timeout): that
//!   witness did not cosign; reported, no record.
//!
//! Exit 0 when no witness raised an alarm and at least `--quorum` (default:
//! all) cosigned; else 1. Plain `http://` only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::tlog::{
    self, MAX_WITNESS_RESPONSE_BYTES, Note, SignatureType, VerifierKey, WitnessReply,
};
use audit_core::{AuditError, AuditEvent, AuditLog, StoredCheckpoint};

use crate::cli_error::CliError;
use crate::http;
use crate::output::{errln, outln};
use crate::secret;

const WITNESS_HELP: &str = "A witness to ask, as URL=VKEY (repeat for each witness). URL is its \
tlog-witness submission prefix, a plain http:// URL without '=' (vramctl posts to \
URL/add-checkpoint); VKEY is its verifier key, name+keyid+base64, as a cosigner (0x04) key or \
the Ed25519 (0x01) key it publishes. Example: \
--witness http://witness.example:7380=witness.example/w1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";

#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// The audit database (opened for writing: cosignatures and alarms are
    /// stored in it).
    db: PathBuf,
    /// Worker id the log belongs to.
    #[arg(long, default_value = "vramctl")]
    worker_id: String,
    /// File holding the worker secret (32 to 1024 bytes, mode 0600). Else
    /// VRAM_WORKER_SECRET.
    #[arg(long, value_name = "FILE", long_help = secret::FILE_HELP)]
    secret_file: Option<PathBuf>,
    /// A witness, URL=VKEY (repeat for each).
    #[arg(long = "witness", value_name = "URL=VKEY", required = true, long_help = WITNESS_HELP)]
    witnesses: Vec<String>,
    /// The log key file (`PRIVATE+KEY+...`, mode 0600): signs a new
    /// checkpoint when the latest stored one does not cover every record.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// How many witnesses must cosign (1 to their number; default all).
    #[arg(long, value_name = "K")]
    quorum: Option<usize>,
    /// Time allowed for each request, in milliseconds (1 to 600000).
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: u64,
}

/// A witness from the command line.
#[derive(Debug)]
struct WitnessSpec {
    /// The submission prefix.
    url: String,
    /// Its cosigner (0x04) key.
    key: VerifierKey,
}

impl WitnessSpec {
    fn name(&self) -> &str {
        self.key.name()
    }
}

/// What became of one witness.
#[derive(Debug)]
enum Outcome {
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

/// Parses `URL=VKEY`: the URL is everything before the first `=`. Errors
/// show the URL part only, and nothing of a private key given by mistake.
fn parse_witness(text: &str) -> Result<WitnessSpec, CliError> {
    if text.contains("PRIVATE+KEY+") {
        return Err(CliError::usage(
            "--witness: that holds a private key (not shown); give the witness's verifier key (name+keyid+base64)",
        ));
    }
    let Some((url, vkey)) = text.split_once('=') else {
        return Err(CliError::usage(format!(
            "--witness {text:?}: expected URL=VKEY"
        )));
    };
    let bad = |why: String| CliError::usage(format!("--witness {url:?}=...: {why}"));
    http::check_url(url).map_err(|why| bad(format!("the URL {why}")))?;
    let key = VerifierKey::parse(vkey).map_err(|e| bad(format!("not a verifier key: {e}")))?;
    let key = match key.kind() {
        SignatureType::Cosignature => key,
        SignatureType::Ed25519 => key.to_cosigner(),
    };
    Ok(WitnessSpec {
        url: url.trim_end_matches('/').to_owned(),
        key,
    })
}

fn parse_witnesses(texts: &[String]) -> Result<Vec<WitnessSpec>, CliError> {
    let mut out: Vec<WitnessSpec> = Vec::with_capacity(texts.len());
    for text in texts {
        let witness = parse_witness(text)?;
        if out.iter().any(|w| {
            w.key.name() == witness.key.name() || w.key.public_key() == witness.key.public_key()
        }) {
            return Err(CliError::usage(format!(
                "--witness: {} is given twice (same name or key); each witness counts once",
                witness.name()
            )));
        }
        out.push(witness);
    }
    Ok(out)
}

fn require_file(path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(CliError::usage(format!("{} is not a file", path.display()))),
        Err(e) => Err(CliError::usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The largest stored checkpoint of at most `size` records that `witness`
/// validly cosigned: what it holds, as far as this log knows (0 at first).
fn last_cosigned(checkpoints: &[StoredCheckpoint], witness: &VerifierKey, size: u64) -> u64 {
    checkpoints
        .iter()
        .rev()
        .filter(|c| c.size <= size)
        .find(|c| {
            Note::parse(c.note.as_bytes())
                .and_then(|note| note.verify(std::slice::from_ref(witness)))
                .is_ok_and(|v| v.signature_of(witness).and_then(|s| s.timestamp).is_some())
        })
        .map_or(0, |c| c.size)
}

/// The first line of a witness's answer, at most 200 characters, control
/// characters dropped: what it said, for the report and the alarm record.
fn said(body: &[u8]) -> String {
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

/// Sends the checkpoint `note` of `size` records to `witness`, from the
/// size it last cosigned, retrying once after a 409; stores a verified
/// cosignature.
fn submit(
    log: &mut AuditLog,
    witness: &WitnessSpec,
    note: &str,
    size: u64,
    tree_size: u64,
    old: u64,
    timeout: Duration,
) -> Result<Outcome, CliError> {
    let sent = Note::parse(note.as_bytes())
        .map_err(|e| CliError::check(format!("the stored checkpoint is not a signed note: {e}")))?;
    let url = format!("{}/add-checkpoint", witness.url);
    let mut old = old;
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
                return Ok(Outcome::Failed {
                    reason: format!("no answer from {url}: {e}"),
                });
            }
        };
        let status = response.status;
        match tlog::read_response(status, &response.body, &sent, &witness.key) {
            Ok(WitnessReply::Cosigned(lines)) => {
                let text: String = lines.iter().map(|l| format!("{}\n", l.signature)).collect();
                let timestamp = lines.first().map_or(0, |l| l.timestamp);
                return match log.add_cosignatures(size, &text, std::slice::from_ref(&witness.key)) {
                    Ok(_) => Ok(Outcome::Cosigned { old, timestamp }),
                    Err(e) => Ok(Outcome::Failed {
                        reason: format!("its cosignature verified but could not be stored: {e}"),
                    }),
                };
            }
            Ok(WitnessReply::Conflict { size: held }) => {
                if held > tree_size {
                    return Ok(Outcome::Alarm {
                        status,
                        old,
                        reason: format!(
                            "the witness holds {held} records of this log, more than the {tree_size} it has: records were cut off or an older copy put back"
                        ),
                    });
                }
                if held > size {
                    return Ok(Outcome::Failed {
                        reason: format!(
                            "409: the witness holds a checkpoint of {held} records, newer than the {size} sent; sign one that covers every record (--key) and run again"
                        ),
                    });
                }
                if retried || held == old {
                    return Ok(Outcome::Failed {
                        reason: format!(
                            "409 again: the witness holds {held} records after the retry from {old}; run again later"
                        ),
                    });
                }
                old = held;
                retried = true;
            }
            Ok(reply @ WitnessReply::Refused(refusal)) => {
                let reason = format!("{refusal}{}", said(&response.body));
                return Ok(if reply.is_alarm() {
                    Outcome::Alarm {
                        status,
                        old,
                        reason,
                    }
                } else {
                    Outcome::Failed { reason }
                });
            }
            Ok(WitnessReply::Unexpected { status }) => {
                return Ok(Outcome::Failed {
                    reason: format!(
                        "unexpected status {status} from {url}{}",
                        said(&response.body)
                    ),
                });
            }
            Err(e) if e.is_alarm() => {
                return Ok(Outcome::Alarm {
                    status,
                    old,
                    reason: format!("a cosignature that does not hold: {e}"),
                });
            }
            Err(e) => {
                return Ok(Outcome::Failed {
                    reason: format!("status {status}, an answer that cannot be read: {e}"),
                });
            }
        }
    }
}

/// The checkpoint to send: the latest stored when it covers the tree;
/// else, with a key, a new one signed now; else the latest stored (older).
fn checkpoint_to_send(
    log: &mut AuditLog,
    key: Option<&tlog::SignerKey>,
    tree_size: u64,
) -> Result<(u64, String), CliError> {
    let latest = log.latest_signed_checkpoint()?;
    match (latest, key) {
        (Some(latest), _) if latest.size == tree_size => Ok((latest.size, latest.note)),
        (_, Some(key)) => {
            let note = log.signed_checkpoint(key).map_err(|e| match e {
                AuditError::SignedCheckpoint { .. } => CliError::check(format!(
                    "no checkpoint was signed: {e}; no witness was asked"
                )),
                other => other.into(),
            })?;
            let size = Note::parse(note.as_bytes())
                .ok()
                .and_then(|n| tlog::Checkpoint::from_text(n.text()).ok())
                .map(|c| c.size())
                .ok_or_else(|| CliError::check("the checkpoint just signed does not parse"))?;
            errln!("signed a new checkpoint of {size} records");
            Ok((size, note))
        }
        (Some(latest), None) => {
            errln!(
                "vramctl: note: the latest signed checkpoint covers {} of the {tree_size} records; pass --key to sign one that covers them all",
                latest.size
            );
            Ok((latest.size, latest.note))
        }
        (None, None) => Err(CliError::usage(
            "the log has no signed checkpoint to send; pass --key FILE (the log key, from `vramctl audit keygen`) to sign one",
        )),
    }
}

pub fn run(args: &WitnessArgs) -> Result<(), CliError> {
    let witnesses = parse_witnesses(&args.witnesses)?;
    let quorum = args.quorum.unwrap_or(witnesses.len());
    if quorum == 0 || quorum > witnesses.len() {
        return Err(CliError::usage(format!(
            "--quorum {quorum}: it must be 1 to the number of witnesses ({})",
            witnesses.len()
        )));
    }
    require_file(&args.db)?;
    let key = args
        .key
        .as_deref()
        .map(audit_core::load_log_key)
        .transpose()?;
    if let Some(key) = &key
        && let Some(w) = witnesses
            .iter()
            .find(|w| w.key.public_key() == key.verifier_key().public_key())
    {
        return Err(CliError::usage(format!(
            "--witness {} has the log's own key: a log cannot witness itself",
            w.name()
        )));
    }
    let secret = secret::load(args.secret_file.as_deref())?;
    let mut log = AuditLog::open(&args.db, &args.worker_id, &secret)?;
    let tree_size = log.tree_size()?;
    let (size, note) = checkpoint_to_send(&mut log, key.as_ref(), tree_size)?;
    let stored = log.signed_checkpoints()?;
    let timeout = Duration::from_millis(args.timeout_ms);
    outln!(
        "checkpoint: {} at {size} records (the log holds {tree_size})",
        log.origin()?
    )?;

    let mut cosigned = 0usize;
    let mut alarms: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for witness in &witnesses {
        let old = last_cosigned(&stored, &witness.key, size);
        let outcome = submit(&mut log, witness, &note, size, tree_size, old, timeout)?;
        match outcome {
            Outcome::Cosigned { old, timestamp } => {
                cosigned += 1;
                outln!(
                    "cosigned: {} ({}) cosigned {size} records (from {old}) at {timestamp}",
                    witness.name(),
                    witness.url
                )?;
            }
            Outcome::Alarm {
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
                let recorded = match log.append(&event) {
                    Ok(seq) => format!("recorded as WitnessAlarm record {seq}"),
                    Err(e) => format!("COULD NOT BE RECORDED: {e}"),
                };
                outln!(
                    "ALARM: {} ({}) answered {status}: {reason}; {recorded}",
                    witness.name(),
                    witness.url
                )?;
                alarms.push(format!("{} answered {status}", witness.name()));
            }
            Outcome::Failed { reason } => {
                outln!("failed: {} ({}): {reason}", witness.name(), witness.url)?;
                failures.push(witness.name().to_owned());
            }
        }
    }
    let met = cosigned >= quorum;
    outln!(
        "summary: {cosigned} of {} witnesses cosigned the checkpoint of {size} records; quorum {quorum} {}; {} alarm(s), {} failed",
        witnesses.len(),
        if met { "met" } else { "NOT met" },
        alarms.len(),
        failures.len()
    )?;
    if !alarms.is_empty() {
        return Err(CliError::check(format!(
            "witness alarm: {}; the log or its key is not what the witness saw before: investigate before trusting this log",
            alarms.join(", ")
        )));
    }
    if !met {
        return Err(CliError::check(format!(
            "quorum not met: {cosigned} of the {quorum} cosignatures required{}",
            if failures.is_empty() {
                String::new()
            } else {
                format!(" ({} failed)", failures.join(", "))
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VKEY: &str = "example.com/witness1+d8fdbfae+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X";

    /// AC-WIT-002: `URL=VKEY` splits at the first `=`; the URL must be
    /// http:// with a host; the key a verifier key (a 0x01 key becomes the
    /// cosigner key); no witness twice.
    #[test]
    fn ac_wit_002_witness_arguments() {
        let w = parse_witness(&format!("http://127.0.0.1:7380/w/={VKEY}")).unwrap();
        assert_eq!(w.url, "http://127.0.0.1:7380/w");
        assert_eq!(w.key.to_string(), VKEY);
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
            assert!(parse_witness(&bad).is_err(), "{bad}");
        }
        let twice = [format!("http://a={VKEY}"), format!("http://b={VKEY}")];
        assert!(parse_witnesses(&twice).is_err());
        assert_eq!(
            said(b"no such log\nmore"),
            " (the witness said: no such log)"
        );
        assert_eq!(said(b"a\x1b[2Jb"), " (the witness said: a[2Jb)");
        assert_eq!(said(b""), "");
    }
}
