//! `vramctl audit verify|query|export|checkpoint DB`: the audit trail from
//! the operator's side. Verification failures exit 1, bad input exits 2.
//! The transparency-log commands (`keygen`, `checkpoint --key`, `verify
//! --public`, `prove`, `check-proof`) are in [`crate::tlog_cmd`].

use std::io::Write;
use std::path::{Path, PathBuf};

use audit_core::{
    AuditLog, Checkpoint, CheckpointPublicKey, CheckpointSigner, MAX_CHECKPOINT_JSON_BYTES,
    QueryFilter, Severity, VerifyReport,
};
use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::bounded;
use crate::cli_error::CliError;
use crate::output::{self, JsonLinesStdout, errln, escape_controls, outln};
use crate::{print_json, secret, tlog_cmd};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the HMAC chain (whole log or a range), optionally against a
    /// signed checkpoint to catch truncation and rollback.
    Verify(VerifyArgs),
    /// List records with filters, as a table or JSON.
    Query(QueryArgs),
    /// Write records as NDJSON, one per line with both MACs.
    Export(ExportArgs),
    /// Export the signed head of the log (keep it where the worker cannot
    /// rewrite it); with --key, sign a C2SP checkpoint of its Merkle tree.
    Checkpoint(CheckpointArgs),
    /// Create a log key (Ed25519, not derived from the worker secret) and
    /// print its public verifier key.
    Keygen(tlog_cmd::KeygenArgs),
    /// Print an inclusion or consistency proof from the log's Merkle tree
    /// (no secret needed).
    #[command(subcommand)]
    Prove(tlog_cmd::ProveCommand),
    /// Check an inclusion or consistency proof with the log's verifier key
    /// alone.
    CheckProof(tlog_cmd::CheckProofArgs),
    /// Send the latest signed checkpoint to witnesses (tlog-witness), store
    /// their cosignatures, record their alarms.
    Witness(crate::witness_cmd::WitnessArgs),
    /// Ship the log's records to the fleet collector (vram-auditd) in
    /// batches ending at signed checkpoints; resumes where the collector
    /// stands.
    Ship(crate::ship_cmd::ShipArgs),
}

/// The log and who it belongs to.
#[derive(Debug, clap::Args)]
pub struct LogArgs {
    /// The audit database.
    db: PathBuf,
    /// Worker id the log belongs to (a log of another worker fails).
    #[arg(long, default_value = "vramctl")]
    worker_id: String,
    /// File holding the worker secret (32 to 1024 bytes, mode 0600). Else
    /// VRAM_WORKER_SECRET.
    #[arg(long, value_name = "FILE", long_help = secret::FILE_HELP)]
    secret_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    log: LogArgs,
    /// A checkpoint file from `vramctl audit checkpoint` (with --public: a
    /// signed checkpoint note, e.g. the last one a witness cosigned; default:
    /// the latest stored in the log).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Public key (64 hex digits) to check the checkpoint with. Default: the
    /// key derived from the worker secret.
    #[arg(long, value_name = "HEX", requires = "checkpoint")]
    public_key: Option<String>,
    /// First sequence number to check.
    #[arg(long, conflicts_with = "checkpoint")]
    from: Option<u64>,
    /// Last sequence number to check.
    #[arg(long, conflicts_with = "checkpoint")]
    to: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    public: tlog_cmd::PublicVerifyArgs,
}

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Only records at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Only this event kind (for example VramSealed).
    #[arg(long)]
    kind: Option<String>,
    /// Only this severity or worse (low, medium, high, critical).
    #[arg(long)]
    severity: Option<Severity>,
    /// Only events about this shard.
    #[arg(long)]
    shard: Option<String>,
    /// At most this many records.
    #[arg(long)]
    limit: Option<usize>,
    /// Newest first (default: oldest first).
    #[arg(long)]
    newest_first: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    log: LogArgs,
    /// Write the checkpoint here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The log key file (from `vramctl audit keygen`): sign a C2SP
    /// checkpoint of the log's Merkle tree with it, store it in the log and
    /// print the signed note, instead of the JSON checkpoint.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
}

pub fn run(command: &AuditCommand) -> Result<(), CliError> {
    match command {
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Query(args) => query(args),
        AuditCommand::Export(args) => export(args),
        AuditCommand::Checkpoint(args) => checkpoint(args),
        AuditCommand::Keygen(args) => tlog_cmd::keygen(args),
        AuditCommand::Prove(command) => tlog_cmd::prove(command),
        AuditCommand::CheckProof(args) => tlog_cmd::check_proof(args),
        AuditCommand::Witness(args) => crate::witness_cmd::run(args),
        AuditCommand::Ship(args) => crate::ship_cmd::run(args),
    }
}

/// Opens an existing log read-only; a missing file is a usage error.
fn open(args: &LogArgs) -> Result<(AuditLog, seal_crypto::WorkerSecret), CliError> {
    require_file(&args.db)?;
    let secret = secret::load(args.secret_file.as_deref())?;
    let log = AuditLog::open_read(&args.db, &args.worker_id, &secret)?;
    Ok((log, secret))
}

/// Query and export show what the file holds, but only a log that
/// verifies is evidence: they verify it first, warn before printing when
/// it does not, and then exit 1 (see [`unverified`]).
fn verify_before_showing(log: &AuditLog) -> Result<Option<String>, CliError> {
    let report = log.verify(None)?;
    Ok(report.failure.map(|failure| {
        let why = escape_controls(&failure.to_string()).into_owned();
        errln!(
            "vramctl: WARNING: this log does not verify ({why}); the records shown are not evidence. Run `vramctl audit verify` on it."
        );
        why
    }))
}

/// The failed check that ends a query or export of a log that does not
/// verify.
fn unverified(why: &str) -> CliError {
    CliError::check(format!(
        "the records shown come from a log that does not verify ({why})"
    ))
}

pub fn require_file(path: &Path) -> Result<(), CliError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(CliError::usage(format!("{} is not a file", path.display()))),
        Err(e) => Err(CliError::usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn verify(args: &VerifyArgs) -> Result<(), CliError> {
    if args.public.public {
        // Before anything reads a secret: public verification needs none.
        return tlog_cmd::verify_public(
            &args.log.db,
            &args.public,
            args.checkpoint.as_deref(),
            args.json,
        );
    }
    require_file(&args.log.db)?;
    let secret = secret::load(args.log.secret_file.as_deref())?;
    let report = match &args.checkpoint {
        Some(file) => {
            let text = read_checkpoint_file(file)?;
            // Unreadable input is a usage error (2); only a checkpoint that
            // fails its signature or the log is a failed check (1).
            let checkpoint = Checkpoint::from_json(&text)
                .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
            let key = match &args.public_key {
                Some(hex) => hex
                    .parse::<CheckpointPublicKey>()
                    .map_err(|e| CliError::usage(format!("--public-key: {e}")))?,
                None => CheckpointSigner::derive(&secret)?.public_key(),
            };
            // A checkpoint whose signature fails is a failed check (exit 1).
            audit_core::verify_log_against_checkpoint(
                &args.log.db,
                &args.log.worker_id,
                &secret,
                &checkpoint,
                &key,
            )?
        }
        None => {
            let range = match (args.from, args.to) {
                (None, None) => None,
                (Some(from), Some(to)) if from > to => {
                    return Err(CliError::usage(format!("--from {from} is after --to {to}")));
                }
                (from, to) => Some(from.unwrap_or(1)..=to.unwrap_or(u64::MAX)),
            };
            audit_core::verify_log(&args.log.db, &args.log.worker_id, &secret, range)?
        }
    };
    let printed = if args.json {
        print_json(&report)
    } else {
        print_report(&report)
    };
    if report.is_ok() {
        return printed;
    }
    // A failed check outranks a failed print: exit 1 either way, and a
    // stdout that could not take the report is said on stderr.
    if let Err(CliError::Usage(message)) = printed {
        errln!("vramctl: {message}");
    }
    Err(CliError::check("audit log verification failed"))
}

/// Reads a checkpoint file, at most [`MAX_CHECKPOINT_JSON_BYTES`] of it
/// (a larger file or an endless device is refused, never read whole).
fn read_checkpoint_file(path: &Path) -> Result<String, CliError> {
    bounded::read_text_file(path, MAX_CHECKPOINT_JSON_BYTES, "a checkpoint")
}

fn print_report(report: &VerifyReport) -> Result<(), CliError> {
    match &report.failure {
        None => outln!(
            "OK: {} records verified (seq {}..={}), head MAC {}",
            report.records_checked,
            report.first_seq.unwrap_or(0),
            report.last_seq.unwrap_or(0),
            report.head_mac.as_deref().unwrap_or("-"),
        ),
        Some(failure) => outln!(
            "FAILED: {failure} ({} records verified before it)",
            report.records_checked
        ),
    }
}

fn query(args: &QueryArgs) -> Result<(), CliError> {
    let (log, _) = open(&args.log)?;
    let failed = verify_before_showing(&log)?;
    let filter = QueryFilter {
        since: args.since,
        until: args.until,
        kind: args.kind.clone(),
        min_severity: args.severity,
        shard_id: args.shard.clone(),
        limit: args.limit,
        newest_first: args.newest_first,
        ..QueryFilter::default()
    };
    let records = log.query(&filter)?;
    if args.json {
        print_json(&records)?;
    } else {
        print_table(&records)?;
    }
    match failed {
        Some(why) => Err(unverified(&why)),
        None => Ok(()),
    }
}

fn print_table(records: &[audit_core::AuditRecord]) -> Result<(), CliError> {
    outln!(
        "{:>6}  {:<30}  {:<8}  {:<22}  {:<20}  event",
        "seq",
        "time (UTC)",
        "severity",
        "kind",
        "shard"
    )?;
    // Every field may come from a tampered record: escape each before
    // padding, so the columns line up and nothing reaches the terminal raw.
    for r in records {
        outln!(
            "{:>6}  {:<30}  {:<8}  {:<22}  {:<20}  {}",
            r.seq,
            r.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            r.severity.to_string(),
            escape_controls(&r.kind),
            escape_controls(r.shard_id.as_deref().unwrap_or("-")),
            escape_controls(&r.event.to_string())
        )?;
    }
    outln!("{} records", records.len())
}

fn export(args: &ExportArgs) -> Result<(), CliError> {
    let (log, _) = open(&args.log)?;
    let failed = verify_before_showing(&log)?;
    let lines = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", path.display())))?;
            log.export_ndjson(None, std::io::BufWriter::new(file))?
        }
        None => {
            let mut stdout = JsonLinesStdout::default();
            log.export_ndjson(None, &mut stdout)
                .map_err(|e| stdout.error_or(e.into()))?
        }
    };
    errln!("exported {lines} records");
    match failed {
        Some(why) => Err(unverified(&why)),
        None => Ok(()),
    }
}

fn checkpoint(args: &CheckpointArgs) -> Result<(), CliError> {
    if let Some(key) = &args.key {
        return tlog_cmd::signed_checkpoint(
            &args.log.db,
            &args.log.worker_id,
            args.log.secret_file.as_deref(),
            key,
            args.out.as_deref(),
        );
    }
    let (log, secret) = open(&args.log)?;
    // Never vouch for a head that does not verify: that would make a cut or
    // edited log look legitimate.
    let report = log.verify(None)?;
    if let Some(failure) = &report.failure {
        return Err(CliError::check(format!(
            "the log does not verify ({failure}); no checkpoint was signed"
        )));
    }
    let signer = CheckpointSigner::derive(&secret)?;
    let checkpoint = log.checkpoint(&signer)?;
    let json = checkpoint.to_json()?;
    match &args.out {
        Some(path) => {
            let mut file = std::fs::File::create(path)
                .map_err(|e| CliError::usage(format!("cannot create {}: {e}", path.display())))?;
            writeln!(file, "{json}")
                .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
            errln!(
                "checkpoint of seq {} written to {}; public key {}",
                checkpoint.last_seq,
                path.display(),
                signer.public_key()
            );
            Ok(())
        }
        None => output::json_line(&json),
    }
}
