//! GA-020: host-to-device and device-to-host copy throughput, beside a host-memory
//! baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p gpu-alloc --example copy_bench -- [--backend auto|host|cuda] [--runs N] [--size-mib N] [--json]
//! ```
//!
//! For each chunk size (1, 4, 16, 64 MiB) it copies the whole buffer in
//! pieces of that size, both ways, and a plain host `copy_from_slice` of the
//! same bytes at the same chunk size. Figures are the median of `--runs`
//! runs after one warm-up run; `--json` adds a machine-readable last line.
//! The measurement is `gpu_alloc::bench::copy_throughput`, shared with
//! `vramctl bench copy`.

use std::error::Error;
use std::process::ExitCode;

use gpu_alloc::bench::copy_throughput;
use gpu_alloc::{BackendChoice, HostDeviceConfig};

const MIB: usize = 1 << 20;

struct Options {
    backend: BackendChoice,
    runs: usize,
    size: usize,
    json: bool,
}

fn parse_options() -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        backend: BackendChoice::Auto,
        runs: 5,
        size: 256 * MIB,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--backend" => options.backend = value()?.parse()?,
            "--runs" => options.runs = value()?.parse()?,
            "--size-mib" => options.size = value()?.parse::<usize>()? * MIB,
            "--json" => options.json = true,
            other => {
                return Err(
                    format!("unknown argument {other}; see the example's doc comment").into(),
                );
            }
        }
    }
    if options.runs == 0 || options.size == 0 {
        return Err("--runs and --size-mib must be at least 1".into());
    }
    if let BackendChoice::Host(config) = &mut options.backend {
        // Room for the buffer whatever its size.
        *config = HostDeviceConfig::with_capacity(options.size as u64);
    }
    Ok(options)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("copy_bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let options = parse_options()?;
    let device = gpu_alloc::open(options.backend.clone(), 0)?;
    let report = copy_throughput(device.as_ref(), options.size, options.runs)?;
    println!("copy_bench: {report}");
    if options.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
