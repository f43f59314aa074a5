//! `vramctl seal FILE`: stream a model file into device memory, seal it,
//! verify it, print the sealed shard as JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_core::{AuditSink, AuditWriter, WriterConfig};
use vram_residency::SealOptions;

use crate::cli_error::CliError;
use crate::device;
use crate::output::{self, errln};
use crate::{WorkerArgs, secret, to_json};

#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// The model file (any format; streamed, never read whole).
    file: PathBuf,
    /// Shard id (default: the file name, if it is a valid id).
    #[arg(long)]
    id: Option<String>,
    /// Audit database to record into.
    #[arg(long, value_name = "DB", default_value = "vramctl-audit.db")]
    audit_db: PathBuf,
    #[command(flatten)]
    worker: WorkerArgs,
}

/// Checks the file before anything else, so a bad path is exit 2 with a
/// clear message rather than a device or audit error.
fn model_len(path: &Path) -> Result<u64, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(CliError::usage(format!(
            "{} is a directory, not a model file",
            path.display()
        )));
    }
    if meta.len() == 0 {
        return Err(CliError::usage(format!(
            "{} is empty; there is nothing to seal",
            path.display()
        )));
    }
    std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot open {}: {e}", path.display())))?;
    Ok(meta.len())
}

pub fn run(args: &SealArgs) -> Result<(), CliError> {
    let len = model_len(&args.file)?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    vram_residency::validate_shard_id(&id)
        .map_err(|e| CliError::usage(format!("{e} (choose one with --id)")))?;
    let secret = secret::load(args.worker.secret_file.as_deref())?;
    // The simulated device needs room for the model itself.
    let device = device::open(args.worker.backend, args.worker.device, len.max(1 << 20))?;
    errln!("{}", device::describe(&device));
    let writer: Arc<dyn AuditSink> = Arc::new(AuditWriter::open(
        &args.audit_db,
        &args.worker.worker_id,
        &secret,
        WriterConfig::default(),
    )?);
    let manager = device::start_worker(
        &device,
        args.worker.device,
        &args.worker.worker_id,
        secret,
        Arc::clone(&writer),
    )?;
    let progress = crate::progress::bytes_bar(len);
    let options = SealOptions::default().model_ref(args.file.display().to_string());
    let shard = manager.seal_file(&id, &args.file, options, &mut |done| {
        progress.set_position(done);
    })?;
    progress.finish();
    let report = manager.verify(&shard)?;
    // The work is done and audited before anything is printed, so a closed
    // or full stdout cannot cut it short.
    let result = to_json(&SealOutput {
        shard: &shard,
        verified: report,
    })?;
    drop(shard);
    manager.flush_audit()?;
    errln!("audit log: {}", args.audit_db.display());
    output::json_line(&result)
}

/// What `seal` prints.
#[derive(serde::Serialize)]
struct SealOutput<S, R> {
    shard: S,
    verified: R,
}
