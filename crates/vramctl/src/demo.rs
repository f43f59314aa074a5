//! `vramctl demo`: the main job end to end on a synthetic model, runnable
//! with no arguments on a fresh machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use audit_core::{AuditWriter, WriterConfig};
use vram_residency::VerifyMode;

use crate::cli_error::CliError;
use crate::device::{self, BackendArg, Device};
use crate::output::outln;
use crate::secret::{self, SecretSource};

const MIB: u64 = 1 << 20;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Size of the synthetic model in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    size_mib: u64,
    /// Audit database to write (default: a new folder under the system's
    /// temporary directory, printed).
    #[arg(long, value_name = "DB")]
    audit_db: Option<PathBuf>,
    /// File holding the worker secret. Else VRAM_WORKER_SECRET, else the
    /// `worker.secret` beside the audit database is loaded, or created
    /// (mode 0600).
    #[arg(long, value_name = "FILE", long_help = secret::FILE_HELP)]
    secret_file: Option<PathBuf>,
    /// Which device backend to use.
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// The fleet instead: a collector on PostgreSQL (a throwaway server
    /// unless DATABASE_URL is set), three simulated workers shipping their
    /// logs, one log cut and written on, the collector's alert.
    #[arg(long, conflicts_with_all = ["size_mib", "audit_db", "secret_file", "backend"])]
    fleet: bool,
}

/// Deterministic pseudo-random bytes (xorshift), fast enough for GiBs.
/// Memory is reserved first, so a size the host cannot hold is an error,
/// never an abort.
fn synthetic_model(len: usize) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| {
        CliError::usage(format!(
            "cannot hold a {} MiB model in host memory; choose a smaller --size-mib",
            len >> 20
        ))
    })?;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (len - bytes.len()).min(8);
        bytes.extend_from_slice(x.to_le_bytes().get(..take).unwrap_or_default());
    }
    Ok(bytes)
}

/// Host memory available to new allocations (Linux `MemAvailable`), if
/// the system says.
fn host_available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a model the device or the host cannot hold, with the numbers,
/// before any memory is touched. The simulated device keeps its copy in
/// host memory too, so there the host must hold the model twice.
fn check_room(device: &Device, bytes: u64) -> Result<(), CliError> {
    let info = device.allocator().memory_info()?;
    if bytes > info.free {
        return Err(CliError::usage(format!(
            "a {} MiB model does not fit on the device: {} MiB free of {} MiB; choose a smaller --size-mib",
            bytes / MIB,
            info.free / MIB,
            info.total / MIB
        )));
    }
    let copies = match device {
        Device::Host(_) => 2,
        Device::Cuda(_) => 1,
    };
    let needed = bytes.saturating_mul(copies);
    if let Some(available) = host_available_bytes()
        && needed > available
    {
        return Err(CliError::usage(format!(
            "a {} MiB model needs {} MiB of host memory here, and {} MiB are available; choose a smaller --size-mib",
            bytes / MIB,
            needed / MIB,
            available / MIB
        )));
    }
    Ok(())
}

/// A fresh folder only this user can enter, under the system's temporary
/// directory (never a predictable name another user could prepare).
fn private_temp_dir() -> Result<PathBuf, CliError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("vramctl-demo-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = builder.tempdir().map_err(|e| {
        CliError::usage(format!(
            "cannot create a folder under {}: {e}",
            std::env::temp_dir().display()
        ))
    })?;
    // The demo's log and secret outlive the run, for `audit verify`.
    Ok(dir.keep())
}

fn secs(started: Instant) -> f64 {
    started.elapsed().as_secs_f64()
}

fn gbps(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds.max(1e-9) / 1e9
}

pub fn run(args: &DemoArgs) -> Result<(), CliError> {
    if args.fleet {
        return crate::fleet_demo::run();
    }
    let total = Instant::now();
    let bytes = args.size_mib * MIB;
    let device = device::open(args.backend, 0, bytes + 64 * MIB)?;
    check_room(&device, bytes)?;
    let (db, dir) = match &args.audit_db {
        Some(db) => (
            db.clone(),
            db.parent().map(PathBuf::from).unwrap_or_default(),
        ),
        None => {
            let dir = private_temp_dir()?;
            (dir.join("audit.db"), dir)
        }
    };
    let (secret, source) = secret::load_or_create(args.secret_file.as_deref(), &dir)?;
    outln!("{}", device::describe(&device))?;
    match &source {
        SecretSource::Created(path) => outln!(
            "worker secret: created {} (mode 0600), fingerprint {}",
            path.display(),
            secret.fingerprint()
        )?,
        SecretSource::Loaded(path) => outln!(
            "worker secret: loaded {} (kept from an earlier run), fingerprint {}",
            path.display(),
            secret.fingerprint()
        )?,
        SecretSource::Given => outln!("worker secret: fingerprint {}", secret.fingerprint())?,
    }
    outln!("audit log: {}", db.display())?;
    let worker_id = "vramctl";
    let writer = Arc::new(AuditWriter::open(
        &db,
        worker_id,
        &secret,
        WriterConfig::default(),
    )?);
    let manager = device::start_worker(&device, 0, worker_id, secret.clone(), writer.clone())?;
    outln!("policy: passed ({})", device.backend())?;
    outln!()?;

    let model = synthetic_model(
        usize::try_from(bytes).map_err(|_| CliError::usage("model too large for this host"))?,
    )?;
    let started = Instant::now();
    let shard = manager.seal("demo-model:0", &model)?;
    let t_seal = secs(started);
    drop(model);
    outln!(
        "seal     {}  {} MiB  sha256 {}  {:.3} s ({:.2} GB/s)",
        shard.id(),
        args.size_mib,
        shard.digest(),
        t_seal,
        gbps(bytes, t_seal)
    )?;
    let mut timings = vec![("seal", t_seal)];
    for (label, mode) in [
        ("verify quick (seal only)", VerifyMode::Quick),
        (
            "verify sampled (8 random chunks)",
            VerifyMode::Sampled { count: 8 },
        ),
        ("verify full (re-hash every byte)", VerifyMode::Full),
    ] {
        let started = Instant::now();
        let report = manager.verify_with(&shard, &mode)?;
        let t = secs(started);
        outln!(
            "{label:<34} ok   {:>8.3} ms  {} MiB hashed",
            t * 1e3,
            report.bytes_hashed / MIB
        )?;
        timings.push((report.mode, t));
    }

    let caught = match &device {
        Device::Host(host) => {
            let bit = (bytes / 2) * 8 + 5;
            let id = shard
                .buffer_id()
                .ok_or_else(|| CliError::usage("the shard holds no buffer"))?;
            host.flip_bit(id, bit)?;
            outln!("tamper   flipped bit {bit} of the shard's device memory (simulated device)")?;
            let started = Instant::now();
            match manager.verify(&shard) {
                Err(error) if error.is_security_incident() => {
                    outln!("verify full: CAUGHT in {:.3} s: {error}", secs(started))?;
                    outln!(
                        "worker state: {}",
                        serde_json::to_string(&manager.state()).unwrap_or_default()
                    )?;
                    true
                }
                Ok(_) => {
                    return Err(CliError::check(
                        "the flipped bit was NOT caught by verification",
                    ));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Device::Cuda(_) => {
            outln!("tamper   skipped: fault injection exists only on the simulated device")?;
            false
        }
    };

    drop(shard);
    manager.flush_audit()?;
    let capacity = manager.capacity()?;
    outln!(
        "free     1 shard, {} MiB; this worker now holds {} bytes",
        args.size_mib,
        capacity.used_by_shards
    )?;
    drop(manager);
    // Every shard and the manager are gone, so this is the last handle:
    // shut the writer down cleanly (drains and closes the database).
    let stats = match Arc::try_unwrap(writer) {
        Ok(writer) => writer.shutdown_blocking()?,
        Err(writer) => {
            writer.flush_blocking()?;
            writer.stats()
        }
    };

    let started = Instant::now();
    let report = audit_core::verify_log(&db, worker_id, &secret, None)?;
    let t_verify = secs(started);
    if !report.is_ok() {
        let why = report
            .failure
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(CliError::check(format!(
            "audit log verification FAILED: {why}"
        )));
    }
    outln!(
        "audit    {} records, HMAC chain verified in {:.3} ms ({} written in {} batches, {} dropped)",
        report.records_checked,
        t_verify * 1e3,
        stats.written,
        stats.batches,
        stats.dropped
    )?;
    outln!()?;
    outln!(
        "summary: sealed {} MiB on {} in {:.2} s, verified (quick/sampled/full), {}, freed, audit chain intact; total {:.2} s",
        args.size_mib,
        device.backend(),
        t_seal,
        if caught {
            "tampering caught"
        } else {
            "no tamper test"
        },
        secs(total)
    )?;
    let secret_arg = match (&source, &args.secret_file) {
        (SecretSource::Created(path) | SecretSource::Loaded(path), _)
        | (SecretSource::Given, Some(path)) => format!(" --secret-file {}", path.display()),
        (SecretSource::Given, None) => String::new(), // from VRAM_WORKER_SECRET
    };
    outln!("next: vramctl audit verify {}{secret_arg}", db.display())?;
    outln!("      vramctl audit query {}{secret_arg}", db.display())?;
    Ok(())
}
