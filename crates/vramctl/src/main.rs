//! `vramctl`: seal models into VRAM, verify them and their audit trail, and
//! measure the pieces. A thin front over the workspace's libraries: every
//! rule lives in `vram-residency`, `audit-core`, `gpu-alloc` and
//! `seal-crypto`; this binary parses arguments, prints, and maps outcomes to
//! exit codes (0 success, 1 a failed check, 2 bad usage or I/O).
//!
//! All output goes through [`output`]: writes never panic, and data shown to
//! a person has its terminal control characters escaped.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod audit_cmd;
mod bench;
mod bounded;
mod cli_error;
mod demo;
mod device;
mod fleet;
mod fleet_bench;
mod fleet_demo;
mod output;
// The throwaway PostgreSQL of the tests, for `bench fleet` and `demo
// --fleet` without `DATABASE_URL` (standard library only).
#[path = "../../../test-support/pg_server.rs"]
#[allow(dead_code, clippy::print_stderr)]
mod pg_server;
mod progress;
mod seal_cmd;
mod secret;
mod ship_cmd;
mod tlog_cmd;
mod witness_cmd;

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
    /// Verify, query, export or checkpoint an audit database; keys, proofs
    /// and verification without the secret for its transparency log.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Benchmarks, each printed beside its baseline.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Options shared by the commands that open a device and a worker.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// File holding the worker secret (32 to 1024 bytes, mode 0600). Else
    /// VRAM_WORKER_SECRET.
    #[arg(long, value_name = "FILE", long_help = secret::FILE_HELP)]
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_exit(&error),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A failed write to stderr must not fall back to `eprintln!`, which
        // panics.
        .log_internal_errors(false)
        .init();
    let outcome = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Seal(args) => seal_cmd::run(&args),
        Command::Audit(command) => audit_cmd::run(&command),
        Command::Bench(command) => bench::run(&command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::StdoutClosed) => CliError::StdoutClosed.exit_code(),
        Err(error) => {
            output::errln!("vramctl: {}", error.message());
            error.exit_code()
        }
    }
}

/// Prints clap's help, version or usage error (clap's own `exit` would
/// swallow a failed write and report success).
fn clap_exit(error: &clap::Error) -> ExitCode {
    let code = u8::try_from(error.exit_code()).unwrap_or(2);
    match error.print() {
        Ok(()) => ExitCode::from(code),
        Err(e) if !error.use_stderr() => match output::stdout_error(&e) {
            CliError::StdoutClosed => ExitCode::from(code),
            other => {
                output::errln!("vramctl: {}", other.message());
                other.exit_code()
            }
        },
        // A usage error that cannot even be shown on stderr.
        Err(_) => ExitCode::from(2),
    }
}

/// A value as pretty JSON.
pub fn to_json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::usage(format!("cannot encode JSON: {e}")))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    output::json_line(&to_json(value)?)
}
