//! The transparency log from the command line (`AC-100` to `AC-109`):
//! `audit keygen`, `audit checkpoint --key`, `audit verify --public`,
//! `audit prove inclusion|consistency` and `audit check-proof`.
//!
//! Only `checkpoint --key` needs the worker secret (it opens the log for
//! writing, as signing a checkpoint stores it there). `keygen` needs no
//! log; `verify --public`, `prove` and `check-proof` need no secret and
//! never read one, and what they read of a log they read as every reader
//! does, never writing a byte (`AC-017`).
//!
//! Record `seq` is leaf `seq − 1` of the log's Merkle tree: a tree of `N`
//! leaves is records 1 to `N`, and a tlog-proof's `index i` is record
//! `i + 1`.
//!
//! Exit codes as everywhere: 0 verified, 1 a check failed (a proof or a log
//! that does not verify), 2 bad input (a file that is not a note, a proof
//! or a key; a size no checkpoint has).

use std::path::{Path, PathBuf};

use audit_core::tlog::tlog_proof::TLOG_PROOF_HEADER;
use audit_core::tlog::{
    AddCheckpointRequest, Checkpoint, EMPTY_ROOT, Hash, Note, SignatureType, SignedCheckpoint,
    TlogProof, VerifierKey, WitnessPolicy, open_checkpoint,
};
use audit_core::{
    AuditError, AuditLog, AuditRecord, CheckpointSource, MAX_CHECKPOINT_NOTE_BYTES,
    MAX_PAYLOAD_BYTES, PublicLog, PublicReport, StoredCheckpoint,
};
use clap::Subcommand;

use crate::audit_cmd::require_file;
use crate::cli_error::CliError;
use crate::output::{self, errln, outln};
use crate::{bounded, print_json, secret};

/// The most bytes `check-proof` reads of a proof: a checkpoint note, 64
/// proof lines and an `extra` line carrying one record (base64 of at most
/// a payload and its fields) fit well within.
pub const MAX_PROOF_FILE_BYTES: usize = MAX_CHECKPOINT_NOTE_BYTES + 2 * MAX_PAYLOAD_BYTES;

/// The most bytes `check-proof --record` reads: one exported record line.
pub const MAX_RECORD_LINE_BYTES: usize = 2 * MAX_PAYLOAD_BYTES;

/// `vramctl audit keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the new key file: created with mode 0600, never over
    /// an existing file. Keep it off the worker if you can.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The worker whose log the key signs (the key is named after the log's
    /// origin, `vram-residency/audit/<worker id>`).
    #[arg(
        long = "worker-id",
        visible_alias = "worker",
        value_name = "ID",
        default_value = "vramctl"
    )]
    worker_id: String,
}

/// The options of `vramctl audit verify --public`.
#[derive(Debug, clap::Args)]
pub struct PublicVerifyArgs {
    /// Verify without the worker secret (none is read): every record's
    /// Merkle leaf, the whole tree, and its root against a checkpoint
    /// signed by the log key (--vkey).
    #[arg(
        long,
        conflicts_with_all = ["public_key", "from", "to", "secret_file", "worker_id"]
    )]
    pub public: bool,
    /// The log's verifier key (`name+id+base64`, as `audit keygen` prints it).
    #[arg(long, value_name = "VKEY", requires = "public")]
    vkey: Option<String>,
    /// A signed checkpoint note kept from an earlier check: the log must
    /// extend it (catches a rollback, a rewrite, a fork).
    #[arg(long, value_name = "NOTEFILE", requires = "public")]
    previous: Option<PathBuf>,
    /// A witness's verifier key; repeat for several. The checkpoint must
    /// carry at least --quorum of their cosignatures.
    #[arg(long = "witness", value_name = "VKEY", requires = "public")]
    witnesses: Vec<String>,
    /// Cosignatures required (default: every --witness).
    #[arg(long, value_name = "K", requires = "public")]
    quorum: Option<usize>,
}

/// `vramctl audit prove ...`.
#[derive(Debug, Subcommand)]
pub enum ProveCommand {
    /// Print a C2SP tlog-proof that record SEQ (leaf SEQ − 1) is in the
    /// log: the inclusion proof and the signed checkpoint it is proved
    /// against, and the record itself on its `extra` line.
    Inclusion(InclusionArgs),
    /// Print a tlog-witness add-checkpoint body: `old SIZE`, the
    /// consistency proof from SIZE records to a stored signed checkpoint,
    /// and that checkpoint.
    Consistency(ConsistencyArgs),
}

/// `vramctl audit prove inclusion`.
#[derive(Debug, clap::Args)]
pub struct InclusionArgs {
    /// The audit database.
    db: PathBuf,
    /// The record's sequence number (its leaf index is SEQ − 1).
    seq: u64,
    /// Prove against the stored signed checkpoint of this many records
    /// (default: the latest, which must cover SEQ).
    #[arg(long, value_name = "N")]
    size: Option<u64>,
    /// Leave the record out (no `extra` line): the relying party then
    /// needs it separately (`check-proof --record`).
    #[arg(long)]
    no_record: bool,
}

/// `vramctl audit prove consistency`.
#[derive(Debug, clap::Args)]
pub struct ConsistencyArgs {
    /// The audit database.
    db: PathBuf,
    /// The older size (records in the checkpoint kept from before; 0 for
    /// none).
    #[arg(long, value_name = "SIZE")]
    from: u64,
    /// The newer size: a stored signed checkpoint of this many records
    /// (default: the latest).
    #[arg(long, value_name = "SIZE")]
    to: Option<u64>,
}

/// `vramctl audit check-proof`.
#[derive(Debug, clap::Args)]
pub struct CheckProofArgs {
    /// The proof: a tlog-proof (`audit prove inclusion`) or an
    /// add-checkpoint body (`audit prove consistency`).
    file: PathBuf,
    /// The log's verifier key (`name+id+base64`).
    #[arg(long, value_name = "VKEY")]
    vkey: String,
    /// The log's origin (default: the verifier key's name, which is the
    /// origin for keys from `audit keygen`).
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// Inclusion: the record, one line of `vramctl audit export`, instead
    /// of the one the proof carries.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Consistency: the signed checkpoint note of the older size, kept from
    /// before (needed unless the proof starts at 0).
    #[arg(long, value_name = "NOTEFILE")]
    previous: Option<PathBuf>,
    /// A witness's verifier key; repeat for several. The checkpoint must
    /// carry at least --quorum of their cosignatures.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// Cosignatures required (default: every --witness).
    #[arg(long, value_name = "K")]
    quorum: Option<usize>,
}

/// A verifier key from the command line. A signer key given by mistake is
/// refused without being echoed.
fn parse_vkey(text: &str, option: &str) -> Result<VerifierKey, CliError> {
    if text.starts_with("PRIVATE+KEY+") {
        return Err(CliError::usage(format!(
            "{option} was given a private signer key; give the verifier key (`audit keygen` prints it), and consider that key exposed"
        )));
    }
    text.parse::<VerifierKey>()
        .map_err(|e| CliError::usage(format!("{option}: {e}")))
}

/// The log's key: an Ed25519 (0x01) verifier key.
fn parse_log_vkey(text: &str) -> Result<VerifierKey, CliError> {
    let key = parse_vkey(text, "--vkey")?;
    if key.kind() != SignatureType::Ed25519 {
        return Err(CliError::usage(format!(
            "--vkey {}+{} is a {:?} key; a log signs its checkpoints with an Ed25519 (0x01) key",
            key.name(),
            key.key_id(),
            key.kind()
        )));
    }
    Ok(key)
}

fn parse_witnesses(witnesses: &[String]) -> Result<Vec<VerifierKey>, CliError> {
    witnesses
        .iter()
        .map(|w| parse_vkey(w, "--witness"))
        .collect()
}

/// The quorum: as given, else every witness.
fn quorum(witnesses: &[VerifierKey], quorum: Option<usize>) -> Result<usize, CliError> {
    match (witnesses.is_empty(), quorum) {
        (true, Some(k)) if k > 0 => Err(CliError::usage(format!(
            "--quorum {k} needs the witnesses' keys: pass --witness VKEY for each"
        ))),
        (_, Some(k)) => Ok(k),
        (_, None) => Ok(witnesses.len()),
    }
}

/// Reads a signed checkpoint note (at most [`MAX_CHECKPOINT_NOTE_BYTES`])
/// that must at least parse as one: anything else is bad input (exit 2);
/// whether it is *the log's* is for the check to say (exit 1).
fn read_note(path: &Path) -> Result<String, CliError> {
    let text = bounded::read_text_file(path, MAX_CHECKPOINT_NOTE_BYTES, "a checkpoint note")?;
    let note = Note::parse(text.as_bytes())
        .map_err(|e| CliError::usage(format!("{} is not a signed note: {e}", path.display())))?;
    Checkpoint::from_text(note.text())
        .map_err(|e| CliError::usage(format!("{} is not a checkpoint: {e}", path.display())))?;
    Ok(text)
}

/// `vramctl audit keygen --out FILE --worker-id ID` (`AC-100`).
pub fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let out = &args.out;
    if out.symlink_metadata().is_ok() {
        return Err(CliError::usage(format!(
            "{} already exists; vramctl never overwrites a key file (move it away, or choose another --out)",
            out.display()
        )));
    }
    let key = audit_core::generate_log_key(&args.worker_id)?;
    // Never over a file created meanwhile: the library creates it new.
    audit_core::save_log_key(out, &key)?;
    let vkey = key.verifier_key();
    errln!(
        "log key for the log {} written to {} (mode 0600); give auditors and witnesses its verifier key:",
        vkey.name(),
        out.display()
    );
    outln!("{vkey}")
}

/// `vramctl audit checkpoint DB --key FILE` (`AC-101`).
pub fn signed_checkpoint(
    db: &Path,
    worker_id: &str,
    secret_file: Option<&Path>,
    key_file: &Path,
    out: Option<&Path>,
) -> Result<(), CliError> {
    require_file(db)?;
    let key = audit_core::load_log_key(key_file)?;
    let secret = secret::load(secret_file)?;
    let mut log = AuditLog::open(db, worker_id, &secret)?;
    let note = log.signed_checkpoint(&key).map_err(|e| match e {
        // Records that do not verify, a tree that no longer extends the
        // last checkpoint: the log failed a check, nothing was signed.
        AuditError::SignedCheckpoint { .. } => CliError::check(e.to_string()),
        other => other.into(),
    })?;
    let size = Note::parse(note.as_bytes())
        .ok()
        .and_then(|n| Checkpoint::from_text(n.text()).ok())
        .map_or(0, |c| c.size());
    match out {
        Some(path) => {
            std::fs::write(path, &note)
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
            errln!(
                "signed checkpoint of {size} records stored in {} and written to {}",
                db.display(),
                path.display()
            );
            Ok(())
        }
        None => {
            errln!(
                "signed checkpoint of {size} records stored in {}",
                db.display()
            );
            output::lines(&note)
        }
    }
}

/// `vramctl audit verify DB --public --vkey VKEY ...` (`AC-102`, `AC-103`).
pub fn verify_public(
    db: &Path,
    args: &PublicVerifyArgs,
    checkpoint: Option<&Path>,
    json: bool,
) -> Result<(), CliError> {
    let vkey = args.vkey.as_deref().ok_or_else(|| {
        CliError::usage("--public needs the log's verifier key: --vkey VKEY (from `audit keygen`)")
    })?;
    let vkey = parse_log_vkey(vkey)?;
    let witnesses = parse_witnesses(&args.witnesses)?;
    let quorum = quorum(&witnesses, args.quorum)?;
    let checkpoint = checkpoint.map(read_note).transpose()?;
    let previous = args.previous.as_deref().map(read_note).transpose()?;
    require_file(db)?;
    let report = audit_core::verify_public(
        db,
        &vkey,
        checkpoint.as_deref(),
        previous.as_deref(),
        &witnesses,
        quorum,
    )?;
    let printed = if json {
        print_json(&report)
    } else {
        print_public_report(&report)
    };
    if report.is_ok() {
        return printed;
    }
    if let Err(CliError::Usage(message)) = printed {
        errln!("vramctl: {message}");
    }
    Err(CliError::check(
        "public verification of the audit log failed",
    ))
}

fn b64(hash: Option<&Hash>) -> String {
    hash.map_or_else(|| "-".to_owned(), Hash::to_base64)
}

fn print_public_report(report: &PublicReport) -> Result<(), CliError> {
    let worker = report.worker_id.as_deref().unwrap_or("-");
    let origin = report.origin.as_deref().unwrap_or("-");
    let source = match report.checkpoint_source {
        Some(CheckpointSource::Given) => "given",
        Some(CheckpointSource::Stored) => "latest stored",
        None => "-",
    };
    match &report.failure {
        Some(failure) => outln!("FAILED: the log of worker {worker} ({origin}): {failure}"),
        None => {
            outln!("OK: the log of worker {worker} ({origin}) verifies with the log key alone")?;
            outln!(
                "  tree: {} leaves, root {}; {} records' leaves recomputed (seq {}..={}){}",
                report.tree_size,
                b64(report.tree_root.as_ref()),
                report.records_checked,
                report.first_seq.unwrap_or(0),
                report.last_seq.unwrap_or(0),
                match report.leaves_without_record {
                    0 => String::new(),
                    n => format!(", {n} leaves of records retention dropped"),
                }
            )?;
            outln!(
                "  checkpoint ({source}): {} records, root {}, signed by the log key",
                report.checkpoint_size.unwrap_or(0),
                b64(report.checkpoint_root.as_ref()),
            )?;
            if let Some(previous) = report.previous_size {
                outln!("  previous checkpoint: {previous} records, extended consistently")?;
            }
            if !report.cosigned_by.is_empty() {
                outln!("  cosigned by: {}", report.cosigned_by.join(", "))?;
            }
            Ok(())
        }
    }
}

/// `vramctl audit prove ...` (`AC-104`, `AC-105`).
pub fn prove(command: &ProveCommand) -> Result<(), CliError> {
    match command {
        ProveCommand::Inclusion(args) => prove_inclusion(args),
        ProveCommand::Consistency(args) => prove_consistency(args),
    }
}

/// The stored checkpoint of `size` records (the latest of them), else the
/// latest stored.
fn pick_checkpoint<'a>(
    db: &Path,
    stored: &'a [StoredCheckpoint],
    size: Option<u64>,
) -> Result<&'a StoredCheckpoint, CliError> {
    let Some(latest) = stored.last() else {
        return Err(CliError::usage(format!(
            "{} holds no signed checkpoint yet; sign one with `vramctl audit checkpoint {} --key FILE`",
            db.display(),
            db.display()
        )));
    };
    match size {
        None => Ok(latest),
        Some(size) => stored.iter().rev().find(|c| c.size == size).ok_or_else(|| {
            CliError::usage(format!(
                "{} holds no signed checkpoint of {size} records (the latest is of {})",
                db.display(),
                latest.size
            ))
        }),
    }
}

fn prove_inclusion(args: &InclusionArgs) -> Result<(), CliError> {
    if args.seq == 0 {
        return Err(CliError::usage(
            "sequence numbers start at 1 (record SEQ is leaf SEQ − 1)",
        ));
    }
    require_file(&args.db)?;
    let log = PublicLog::open(&args.db)?;
    let stored = log.signed_checkpoints()?;
    let checkpoint = pick_checkpoint(&args.db, &stored, args.size)?;
    if checkpoint.size < args.seq {
        return Err(CliError::usage(format!(
            "record {} is not covered by the signed checkpoint of {} records; sign a newer one (`vramctl audit checkpoint DB --key FILE`)",
            args.seq, checkpoint.size
        )));
    }
    let mut proof = log.tlog_proof(args.seq, Some(&checkpoint.note))?;
    if !args.no_record {
        let record = log
            .record(args.seq)?
            .ok_or_else(|| CliError::usage(format!("record {} is not in the log", args.seq)))?;
        let line = serde_json::to_vec(&record)
            .map_err(|e| CliError::usage(format!("cannot encode the record: {e}")))?;
        proof = proof
            .with_extra(line)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    output::lines(&proof.to_string())
}

fn prove_consistency(args: &ConsistencyArgs) -> Result<(), CliError> {
    require_file(&args.db)?;
    let log = PublicLog::open(&args.db)?;
    let stored = log.signed_checkpoints()?;
    let checkpoint = pick_checkpoint(&args.db, &stored, args.to)?;
    if args.from > checkpoint.size {
        return Err(CliError::usage(format!(
            "--from {} is beyond the signed checkpoint of {} records; a consistency proof goes from an older size to a newer one",
            args.from, checkpoint.size
        )));
    }
    let request = log.add_checkpoint_request(args.from, Some(&checkpoint.note))?;
    output::lines(&request.to_string())
}

/// How the checkpoint of a proof is trusted: the log's signature alone, or
/// that and a quorum of witnesses.
struct Trust {
    vkey: VerifierKey,
    origin: String,
    policy: Option<WitnessPolicy>,
}

impl Trust {
    /// Opens `note` as the log's checkpoint; the witnesses that cosigned it.
    fn open(&self, note: &[u8]) -> Result<(SignedCheckpoint, Vec<String>), String> {
        match &self.policy {
            Some(policy) => policy
                .verify(note, &self.origin)
                .map(|report| {
                    let names = report.cosigned().iter().map(|c| c.name.clone()).collect();
                    (report.signed_checkpoint().clone(), names)
                })
                .map_err(|e| e.to_string()),
            None => open_checkpoint(note, &self.origin, &self.vkey, &[])
                .map(|signed| (signed, Vec::new()))
                .map_err(|e| e.to_string()),
        }
    }
}

fn cosigned_suffix(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(", cosigned by {}", names.join(", "))
    }
}

/// A failed check: the report line on stdout, exit 1.
fn failed(message: &str) -> Result<(), CliError> {
    outln!("FAILED: {message}")?;
    Err(CliError::check("the proof does not verify"))
}

/// `vramctl audit check-proof FILE --vkey VKEY` (`AC-106`, `AC-107`).
pub fn check_proof(args: &CheckProofArgs) -> Result<(), CliError> {
    let vkey = parse_log_vkey(&args.vkey)?;
    let origin = args
        .origin
        .clone()
        .unwrap_or_else(|| vkey.name().to_owned());
    let witnesses = parse_witnesses(&args.witnesses)?;
    let policy = match quorum(&witnesses, args.quorum)? {
        0 if witnesses.is_empty() => None,
        k => Some(
            WitnessPolicy::new(vkey.clone(), witnesses, k)
                .map_err(|e| CliError::usage(format!("--witness/--quorum: {e}")))?,
        ),
    };
    let trust = Trust {
        vkey,
        origin,
        policy,
    };
    let text = bounded::read_text_file(&args.file, MAX_PROOF_FILE_BYTES, "a proof")?;
    if text.starts_with(&format!("{TLOG_PROOF_HEADER}\n")) {
        check_inclusion(args, &text, &trust)
    } else if text.starts_with("old ") {
        check_consistency(args, &text, &trust)
    } else {
        Err(CliError::usage(format!(
            "{} is neither a tlog-proof (first line {TLOG_PROOF_HEADER}) nor an add-checkpoint body (first line `old SIZE`)",
            args.file.display()
        )))
    }
}

/// The record a proof is about: `--record FILE`, else the proof's `extra`.
fn proof_record(
    args: &CheckProofArgs,
    proof: &TlogProof,
) -> Result<(AuditRecord, String), CliError> {
    if let Some(path) = &args.record {
        let text = bounded::read_text_file(path, MAX_RECORD_LINE_BYTES, "an exported record")?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let record = serde_json::from_str(line).map_err(|e| {
            CliError::usage(format!(
                "{} is not one exported audit record (a line of `vramctl audit export`): {e}",
                path.display()
            ))
        })?;
        return Ok((record, path.display().to_string()));
    }
    let Some(extra) = proof.extra() else {
        return Err(CliError::usage(format!(
            "{} carries no record (no `extra` line); pass --record FILE, the record's line of `vramctl audit export`",
            args.file.display()
        )));
    };
    let record = serde_json::from_slice(extra).map_err(|e| {
        CliError::usage(format!(
            "the `extra` line of {} is not an audit record: {e}",
            args.file.display()
        ))
    })?;
    Ok((record, "the proof".to_owned()))
}

fn check_inclusion(args: &CheckProofArgs, text: &str, trust: &Trust) -> Result<(), CliError> {
    let proof = TlogProof::parse(text.as_bytes()).map_err(|e| {
        CliError::usage(format!(
            "{} is not a valid tlog-proof: {e}",
            args.file.display()
        ))
    })?;
    let (record, from) = proof_record(args, &proof)?;
    let index = proof.index();
    if Some(record.seq) != index.checked_add(1) {
        return failed(&format!(
            "the record (from {from}) is seq {}, but the proof is for leaf {index}, record {}",
            record.seq,
            index.saturating_add(1)
        ));
    }
    let record_origin = audit_core::log_origin(&record.worker_id)
        .map_err(|e| CliError::usage(format!("the record (from {from}): {e}")))?;
    if record_origin != trust.origin {
        return failed(&format!(
            "the record (from {from}) is of worker {}, whose log is {record_origin}, not {}",
            record.worker_id, trust.origin
        ));
    }
    let Some(leaf) = audit_core::leaf_hash(&record) else {
        return failed(&format!(
            "the record (from {from}) cannot be one a log wrote (a MAC that is not hex, a time out of range)"
        ));
    };
    let (signed, cosigned) = match trust.open(&proof.checkpoint().to_bytes()) {
        Ok(opened) => opened,
        Err(e) => return failed(&format!("the proof's checkpoint is rejected: {e}")),
    };
    let checkpoint = signed.checkpoint();
    if let Err(e) = audit_core::tlog::verify_inclusion(
        leaf.as_bytes(),
        index,
        checkpoint.size(),
        proof.proof(),
        checkpoint.root().as_bytes(),
    ) {
        return failed(&format!(
            "record {} (from {from}) is not proved in the log {}: {e}",
            record.seq, trust.origin
        ));
    }
    outln!(
        "OK: record {} is in the log {}: leaf {index} of the checkpoint of {} records (root {}), signed by the log key{}",
        record.seq,
        trust.origin,
        checkpoint.size(),
        checkpoint.root().to_base64(),
        cosigned_suffix(&cosigned)
    )?;
    outln!(
        "  record (from {from}): {} {} {} shard {} event {}",
        record
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        record.severity,
        record.kind,
        record.shard_id.as_deref().unwrap_or("-"),
        record.event
    )?;
    outln!("  leaf hash: {}", leaf.to_base64())
}

fn check_consistency(args: &CheckProofArgs, text: &str, trust: &Trust) -> Result<(), CliError> {
    let request = AddCheckpointRequest::parse(text.as_bytes()).map_err(|e| {
        CliError::usage(format!(
            "{} is not a valid add-checkpoint body: {e}",
            args.file.display()
        ))
    })?;
    let old = request.old_size();
    let previous = match &args.previous {
        Some(path) => Some((path, read_note(path)?)),
        None if old == 0 => None,
        None => {
            return Err(CliError::usage(format!(
                "the proof goes from {old} records: pass --previous NOTEFILE, the signed checkpoint of {old} records you kept (a consistency proof means nothing without the older root)"
            )));
        }
    };
    let (signed, cosigned) = match trust.open(&request.checkpoint().to_bytes()) {
        Ok(opened) => opened,
        Err(e) => return failed(&format!("the proof's checkpoint is rejected: {e}")),
    };
    let size = signed.checkpoint().size();
    let old_root = match previous {
        None => EMPTY_ROOT,
        Some((path, note)) => {
            let previous = match open_checkpoint(note.as_bytes(), &trust.origin, &trust.vkey, &[]) {
                Ok(previous) => previous,
                Err(e) => {
                    return failed(&format!(
                        "the previous checkpoint ({}) is rejected: {e}",
                        path.display()
                    ));
                }
            };
            let previous = previous.checkpoint();
            if previous.size() > size {
                return failed(&format!(
                    "rolled back: the checkpoint signs {size} records, fewer than the {} of the previous one",
                    previous.size()
                ));
            }
            if previous.size() != old {
                return Err(CliError::usage(format!(
                    "the proof goes from {old} records but the previous checkpoint ({}) is of {}; ask for a proof from {} (`vramctl audit prove consistency DB --from {}`)",
                    path.display(),
                    previous.size(),
                    previous.size(),
                    previous.size()
                )));
            }
            *previous.root()
        }
    };
    match request.check_consistency(&old_root) {
        Ok(checkpoint) => outln!(
            "OK: the checkpoint of {} records of {} (root {}), signed by the log key{}, extends {}",
            checkpoint.size(),
            trust.origin,
            checkpoint.root().to_base64(),
            cosigned_suffix(&cosigned),
            if old == 0 {
                "the empty log".to_owned()
            } else {
                format!(
                    "the previous checkpoint of {old} records (root {})",
                    old_root.to_base64()
                )
            }
        ),
        Err(e) => failed(&format!(
            "the checkpoint of {size} records does not extend the one of {old}: {e}"
        )),
    }
}
