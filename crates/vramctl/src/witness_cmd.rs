//! `vramctl audit witness DB --witness URL=VKEY ... [--key FILE] [--quorum K]
//! [--timeout-ms N]`: submits the log's checkpoint to witnesses with
//! `audit_ship::witness` (spec `AC-WIT-002` to `AC-WIT-006`), and reports.
//!
//! The checkpoint sent is the latest signed one stored in the log, or, with
//! `--key`, a new one signed now when the latest does not cover every
//! record. Exit 0 when no witness raised an alarm and at least `--quorum`
//! (default: all) cosigned; else 1. Plain `http://` only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::tlog::{self, Note};
use audit_core::{AuditError, AuditLog};
use audit_ship::witness::{Outcome, Witness};

use crate::cli_error::CliError;
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
    let witnesses = Witness::parse_all(&args.witnesses)
        .map_err(|e| CliError::usage(format!("--witness {e}")))?;
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
            .find(|w| w.key().public_key() == key.verifier_key().public_key())
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
    let timeout = Duration::from_millis(args.timeout_ms);
    outln!(
        "checkpoint: {} at {size} records (the log holds {tree_size})",
        log.origin()?
    )?;

    let mut cosigned = 0usize;
    let mut alarms: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for witness in &witnesses {
        match audit_ship::witness::submit(&mut log, witness, &note, size, timeout)? {
            Outcome::Cosigned { old, timestamp } => {
                cosigned += 1;
                outln!(
                    "cosigned: {} ({}) cosigned {size} records (from {old}) at {timestamp}",
                    witness.name(),
                    witness.url()
                )?;
            }
            Outcome::Alarm {
                status,
                reason,
                recorded,
                ..
            } => {
                let recorded = match recorded {
                    Ok(seq) => format!("recorded as WitnessAlarm record {seq}"),
                    Err(e) => format!("COULD NOT BE RECORDED: {e}"),
                };
                outln!(
                    "ALARM: {} ({}) answered {status}: {reason}; {recorded}",
                    witness.name(),
                    witness.url()
                )?;
                alarms.push(format!("{} answered {status}", witness.name()));
            }
            Outcome::Failed { reason } => {
                outln!("failed: {} ({}): {reason}", witness.name(), witness.url())?;
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
