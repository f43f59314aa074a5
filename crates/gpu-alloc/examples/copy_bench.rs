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

use std::error::Error;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use gpu_alloc::{BackendChoice, DeviceBuffer, HostDeviceConfig};

const MIB: usize = 1 << 20;
const CHUNKS_MIB: [usize; 4] = [1, 4, 16, 64];

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

/// Throughput in GB/s (10^9 bytes per second).
fn gbps(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time(f: impl FnOnce() -> Result<(), Box<dyn Error>>) -> Result<f64, Box<dyn Error>> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

struct Row {
    chunk_mib: usize,
    h2d: f64,
    d2h: f64,
    baseline: f64,
}

fn measure(
    buffer: &mut DeviceBuffer,
    src: &[u8],
    dst: &mut [u8],
    chunk: usize,
    runs: usize,
) -> Result<Row, Box<dyn Error>> {
    let (mut h2d, mut d2h, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..=runs {
        let up = time(|| {
            for (i, piece) in src.chunks(chunk).enumerate() {
                buffer.write((i * chunk) as u64, piece)?;
            }
            Ok(())
        })?;
        let down = time(|| {
            for (i, piece) in dst.chunks_mut(chunk).enumerate() {
                buffer.read((i * chunk) as u64, piece)?;
            }
            Ok(())
        })?;
        if dst != src {
            return Err("read-back differs from what was written".into());
        }
        let host = time(|| {
            for (d, s) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
                d.copy_from_slice(s);
            }
            black_box(&mut *dst);
            Ok(())
        })?;
        if run > 0 {
            // Run 0 warms up caches, page tables and the driver.
            h2d.push(gbps(src.len(), up));
            d2h.push(gbps(src.len(), down));
            baseline.push(gbps(src.len(), host));
        }
    }
    Ok(Row {
        chunk_mib: chunk / MIB,
        h2d: median(h2d),
        d2h: median(d2h),
        baseline: median(baseline),
    })
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
    let name = device.properties()?.name;
    println!(
        "copy_bench: {} backend, device {} ({name}), {} MiB, median of {} runs",
        device.backend(),
        device.device_index(),
        options.size / MIB,
        options.runs
    );

    // Cheap non-constant bytes, so nothing can shortcut the copies.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let src: Vec<u8> = (0..options.size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let mut dst = vec![0u8; options.size];
    let mut buffer = device.allocate(options.size as u64)?;

    println!("chunk      h2d GB/s  host GB/s   ratio   d2h GB/s  host GB/s   ratio");
    let mut rows = Vec::new();
    for chunk_mib in CHUNKS_MIB {
        let chunk = (chunk_mib * MIB).min(options.size);
        let row = measure(&mut buffer, &src, &mut dst, chunk, options.runs)?;
        println!(
            "{:>3} MiB  {:>10.2} {:>10.2} {:>7.2}x {:>10.2} {:>10.2} {:>7.2}x",
            row.chunk_mib,
            row.h2d,
            row.baseline,
            row.h2d / row.baseline,
            row.d2h,
            row.baseline,
            row.d2h / row.baseline
        );
        rows.push(row);
    }

    if options.json {
        let results: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "chunk_mib": r.chunk_mib,
                    "h2d_gbps": r.h2d,
                    "d2h_gbps": r.d2h,
                    "baseline_gbps": r.baseline,
                })
            })
            .collect();
        let line = serde_json::json!({
            "backend": device.backend(),
            "device": device.device_index(),
            "device_name": name,
            "bytes": options.size,
            "runs": options.runs,
            "statistic": "median",
            "results": results,
        });
        println!("{line}");
    }
    Ok(())
}
