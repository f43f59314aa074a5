//! `vramctl bench`: the workspace's benchmarks, each beside its baseline.
//!
//! Every measurement lives in the library it measures, shared with that
//! crate's example, so the command line and the example cannot drift apart:
//! `seal_crypto::bench` (digest vs `sha256sum`), `gpu_alloc::bench` (copies
//! vs host memcpy), `vram_residency::bench` (verification in place vs copy
//! back) and `audit_core::bench` (audit writer throughput). This
//! module only parses arguments, prepares inputs and prints.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::cli_error::CliError;
use crate::device::{self, BackendArg};
use crate::output::{self, errln};

const MIB: u64 = 1 << 20;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Digest throughput: `sha256sum` (baseline), the plain SHA-256 digest
    /// and the chunked Merkle root over the same file, median of several
    /// rounds.
    Digest(DigestArgs),
    /// Copy throughput host-to-device and device-to-host at 1, 4, 16 and
    /// 64 MiB chunks, beside a host memcpy baseline.
    Copy(CopyArgs),
    /// Audit trail throughput: append events through the writer and verify
    /// the HMAC chain.
    Audit(AuditArgs),
    /// Full verification throughput: leaf hashes computed where the weights
    /// are (the kernel on CUDA) beside the host path (copy back + CPU hash)
    /// and the device's copy bandwidth, and in place by number of chunks.
    Verify(VerifyArgs),
    /// The fleet's ingest path on loopback: simulated workers writing and
    /// shipping to a collector on PostgreSQL, beside a raw COPY BINARY of
    /// the same rows; lag, lost, duplicated, chains, the shipper's RSS.
    Fleet(crate::fleet_bench::FleetArgs),
}

/// Arguments of `vramctl bench verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Which device backend to measure (device 0).
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Size of the buffer verified, in MiB.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    size_mib: u64,
    /// Runs to time after one warm-up run; figures are the median.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vramctl bench digest`.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// File to hash. Without it, a temporary file of --size-mib MiB of
    /// pseudo-random bytes is written, hashed and removed.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Size of the generated file in MiB (only without FILE).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1024,
        conflicts_with = "file"
    )]
    size_mib: u64,
    /// Rounds to time; figures are the median.
    #[arg(long, value_name = "N", default_value_t = 5)]
    rounds: usize,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vramctl bench copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Which device backend to measure (device 0).
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Size of the buffer copied each run, in MiB.
    #[arg(long, value_name = "N", default_value_t = 256)]
    size_mib: u64,
    /// Runs to time after one warm-up run; figures are the median.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vramctl bench audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Events to append.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    events: u64,
    /// Leaves of the tree the proof benchmark builds (0: skip it).
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    proof_leaves: u64,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

/// Runs one benchmark and prints its table (and, with `--json`, one JSON
/// line). Every failure is a usage/I/O error (exit 2).
pub fn run(command: &BenchCommand) -> Result<(), CliError> {
    match command {
        BenchCommand::Digest(args) => digest(args),
        BenchCommand::Copy(args) => copy(args),
        BenchCommand::Audit(args) => audit(args),
        BenchCommand::Verify(args) => verify(args),
        BenchCommand::Fleet(args) => crate::fleet_bench::run(args),
    }
}

fn verify(args: &VerifyArgs) -> Result<(), CliError> {
    if args.runs == 0 {
        return Err(CliError::usage("--runs must be at least 1"));
    }
    let bytes = mib_to_bytes(args.size_mib, "--size-mib")?;
    let device = device::open(args.backend, 0, bytes)?;
    errln!("{}", device::describe(&device));
    let allocator = device.allocator();
    let report = vram_residency::bench::verify_throughput(allocator.as_ref(), bytes, args.runs)?;
    print_report(&report, args.json)
}

fn digest(args: &DigestArgs) -> Result<(), CliError> {
    if args.rounds == 0 {
        return Err(CliError::usage("--rounds must be at least 1"));
    }
    let report = match &args.file {
        Some(path) => measure_digest(path, args.rounds)?,
        None => {
            let bytes = mib_to_bytes(args.size_mib, "--size-mib")?;
            let scratch = ScratchFile::create(bytes)?;
            measure_digest(scratch.path(), args.rounds)?
        }
    };
    print_report(&report, args.json)
}

fn measure_digest(path: &Path, rounds: usize) -> Result<seal_crypto::bench::DigestBench, CliError> {
    seal_crypto::bench::digest_throughput(path, rounds)
        .map_err(|e| CliError::usage(format!("digest benchmark failed: {e}")))
}

fn copy(args: &CopyArgs) -> Result<(), CliError> {
    if args.runs == 0 {
        return Err(CliError::usage("--runs must be at least 1"));
    }
    let bytes = mib_to_bytes(args.size_mib, "--size-mib")?;
    let size = usize::try_from(bytes)
        .map_err(|_| CliError::usage("--size-mib is too large for this machine"))?;
    let device = device::open(args.backend, 0, bytes)?;
    errln!("{}", device::describe(&device));
    let allocator = device.allocator();
    let report = gpu_alloc::bench::copy_throughput(allocator.as_ref(), size, args.runs)?;
    print_report(&report, args.json)
}

fn audit(args: &AuditArgs) -> Result<(), CliError> {
    if args.events == 0 {
        return Err(CliError::usage("--events must be at least 1"));
    }
    let config = audit_core::bench::BenchConfig {
        events: args.events,
        proofs: (args.proof_leaves > 0).then(|| audit_core::bench::ProofConfig {
            leaves: args.proof_leaves,
            ..audit_core::bench::ProofConfig::default()
        }),
        ..audit_core::bench::BenchConfig::default()
    };
    let report = audit_core::bench::run(&config)?;
    print_report(&report, args.json)
}

fn mib_to_bytes(mib: u64, flag: &str) -> Result<u64, CliError> {
    if mib == 0 {
        return Err(CliError::usage(format!("{flag} must be at least 1")));
    }
    mib.checked_mul(MIB)
        .ok_or_else(|| CliError::usage(format!("{flag} {mib} is too large")))
}

/// Prints a report's table and, with `json`, one JSON line.
fn print_report(
    report: &(impl std::fmt::Display + serde::Serialize),
    json: bool,
) -> Result<(), CliError> {
    output::lines(&report.to_string())?;
    if json {
        print_json_line(report)?;
    }
    Ok(())
}

/// Prints a report as one JSON line on stdout.
fn print_json_line(value: &impl serde::Serialize) -> Result<(), CliError> {
    let line = serde_json::to_string(value)
        .map_err(|e| CliError::usage(format!("cannot encode JSON: {e}")))?;
    output::json_line(&line)
}

/// A temporary file of pseudo-random bytes, removed on drop.
struct ScratchFile {
    path: PathBuf,
}

impl ScratchFile {
    /// Writes `bytes` pseudo-random bytes to a new file in the temporary
    /// directory.
    fn create(bytes: u64) -> Result<Self, CliError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "vramctl-bench-digest-{}-{nanos}.bin",
            std::process::id()
        ));
        let io = |what: &str, e: std::io::Error| {
            CliError::usage(format!(
                "cannot {what} scratch file {}: {e}; pass a FILE or free space in the temporary directory",
                path.display()
            ))
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io("create", e))?;
        errln!(
            "writing {} MiB of pseudo-random bytes to {}",
            bytes / MIB,
            path.display()
        );
        // From here on the file exists: drop removes it, also on error.
        let scratch = Self { path };
        fill(file, bytes).map_err(|e| {
            CliError::usage(format!(
                "cannot write scratch file {}: {e}; pass a FILE or free space in the temporary directory",
                scratch.path.display()
            ))
        })?;
        Ok(scratch)
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            errln!(
                "vramctl: could not remove scratch file {}: {e}",
                self.path.display()
            );
        }
    }
}

/// Writes `bytes` bytes of xorshift output, 1 MiB at a time.
fn fill(mut file: File, bytes: u64) -> std::io::Result<()> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut block = vec![0u8; MIB as usize];
    let mut left = bytes;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = usize::try_from(left.min(MIB)).unwrap_or(block.len());
        file.write_all(block.get(..n).unwrap_or(&block))?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: BenchCommand,
    }

    #[test]
    fn defaults_and_conflicts() {
        let cli = Cli::try_parse_from(["bench", "digest"]).unwrap();
        let BenchCommand::Digest(args) = cli.command else {
            panic!("not digest")
        };
        assert_eq!((args.size_mib, args.rounds, args.json), (1024, 5, false));
        assert!(args.file.is_none());
        assert!(Cli::try_parse_from(["bench", "digest", "f.bin", "--size-mib", "2"]).is_err());

        let cli = Cli::try_parse_from(["bench", "copy"]).unwrap();
        let BenchCommand::Copy(args) = cli.command else {
            panic!("not copy")
        };
        assert_eq!(
            (args.backend, args.size_mib, args.runs),
            (BackendArg::Auto, 256, 5)
        );

        let cli = Cli::try_parse_from(["bench", "audit", "--json"]).unwrap();
        let BenchCommand::Audit(args) = cli.command else {
            panic!("not audit")
        };
        assert_eq!((args.events, args.json), (200_000, true));
    }

    #[test]
    fn scratch_file_has_the_size_and_is_removed() {
        let scratch = ScratchFile::create(3 * MIB).unwrap();
        let path = scratch.path().to_path_buf();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * MIB);
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn bad_sizes_are_usage_errors() {
        assert!(matches!(
            mib_to_bytes(0, "--size-mib"),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            mib_to_bytes(u64::MAX, "--size-mib"),
            Err(CliError::Usage(_))
        ));
    }
}
