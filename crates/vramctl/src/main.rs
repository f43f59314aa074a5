//! `vramctl`: seal models into VRAM, verify them and their audit trail, and
//! measure the pieces. A thin front over the workspace's libraries: every
//! rule lives in `vram-residency`, `audit-core`, `gpu-alloc` and
//! `seal-crypto`; this binary parses arguments, prints, and maps outcomes to
//! exit codes (0 success, 1 a failed check, 2 bad usage or I/O).

mod audit_cmd;
mod bench;
mod cli_error;
mod demo;
mod device;
mod progress;
mod seal_cmd;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli_error::CliError;
use crate::device::BackendArg;

/// Seal model weights in GPU memory, verify them, and audit every step.
#[derive(Debug, Parser)]
#[command(name = "vramctl", version, propagate_version = true)]
struct Cli {
    /// Diagnostics level on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job end to end on a synthetic model: seal, verify, catch a
    /// flipped bit (simulated device), free, verify the audit log.
    Demo(demo::DemoArgs),
    /// Seal a model file (streamed), verify it, print the shard as JSON.
    Seal(seal_cmd::SealArgs),
    /// Verify, query, export or checkpoint an audit database.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Benchmarks, each printed beside its baseline.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Options shared by the commands that open a device and a worker.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// File holding the worker secret (32 to 1024 bytes). Else the
    /// VRAM_WORKER_SECRET environment variable is used.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Worker id recorded in the audit trail.
    #[arg(long, default_value = "vramctl")]
    worker_id: String,
    /// Which device backend to use.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    device: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Seal(args) => seal_cmd::run(&args),
        Command::Audit(command) => audit_cmd::run(&command),
        Command::Bench(command) => bench::run(&command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vramctl: {}", error.message());
            error.exit_code()
        }
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::usage(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
