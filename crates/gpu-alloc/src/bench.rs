//! A measurement harness for copy throughput (GA-020), used by the
//! `copy_bench` example and `vramctl bench copy`.
//!
//! [`copy_throughput`] allocates one buffer of the given size and, for each
//! chunk size in [`CHUNKS_MIB`], copies the whole buffer in pieces of that
//! size host-to-device and device-to-host, checks the read-back, and times a
//! plain host `copy_from_slice` of the same bytes at the same chunk size as
//! the baseline. Figures are the median of several runs after one warm-up
//! run. The [`CopyBench`] report prints as a table (`Display`) and
//! serializes to the machine-readable form.

use std::fmt;
use std::hint::black_box;
use std::time::Instant;

use crate::{AllocError, Backend, CopyDirection, DeviceBuffer, VramAllocator};

const MIB: usize = 1 << 20;

/// The chunk sizes measured, in MiB.
pub const CHUNKS_MIB: [usize; 4] = [1, 4, 16, 64];

/// Copy throughput at one chunk size, in GB/s (10^9 bytes per second).
///
/// Fields are declared in alphabetical order so the serialized form matches
/// the one the `copy_bench` example has always printed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyRow {
    /// Host `copy_from_slice` of the same bytes at the same chunk size.
    pub baseline_gbps: f64,
    /// The chunk size in MiB (the buffer size, if smaller, rounded down).
    pub chunk_mib: usize,
    /// Device-to-host throughput.
    pub d2h_gbps: f64,
    /// Host-to-device throughput.
    pub h2d_gbps: f64,
}

/// The outcome of one copy benchmark: which device, how much, and one
/// [`CopyRow`] per chunk size.
///
/// `Display` prints the header line and the table (no trailing newline);
/// `Serialize` gives the machine-readable form. No device address appears
/// in either.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyBench {
    /// The backend measured.
    pub backend: Backend,
    /// Bytes in the buffer copied each run.
    pub bytes: usize,
    /// The device index.
    pub device: u32,
    /// The device's name as the driver reports it.
    pub device_name: String,
    /// One row per chunk size, in the order of [`CHUNKS_MIB`].
    pub results: Vec<CopyRow>,
    /// Runs timed (after one warm-up run).
    pub runs: usize,
    /// The statistic reported over the runs (`"median"`).
    pub statistic: &'static str,
}

/// Measures host-to-device and device-to-host throughput of `allocator` for
/// a `size`-byte buffer at every chunk size in [`CHUNKS_MIB`], beside a host
/// memory baseline, each the median of `runs` runs after one warm-up run.
///
/// Needs `size` bytes of free device memory and twice that in host memory.
///
/// # Errors
/// [`AllocError::ZeroSize`] for `size == 0`, [`AllocError::InvalidArgument`]
/// for `runs == 0`, any error of the allocator's `properties`, `allocate`,
/// `write` or `read`, and [`AllocError::CopyFailed`] if the bytes read back
/// differ from those written.
pub fn copy_throughput(
    allocator: &dyn VramAllocator,
    size: usize,
    runs: usize,
) -> Result<CopyBench, AllocError> {
    if size == 0 {
        return Err(AllocError::ZeroSize);
    }
    if runs == 0 {
        return Err(AllocError::InvalidArgument {
            reason: "the copy benchmark needs at least one run",
        });
    }
    let device_name = allocator.properties()?.name;
    let src = pseudo_random(size);
    let mut dst = vec![0u8; size];
    let mut buffer = allocator.allocate(size as u64)?;
    let mut results = Vec::with_capacity(CHUNKS_MIB.len());
    for chunk_mib in CHUNKS_MIB {
        let chunk = (chunk_mib * MIB).min(size);
        results.push(measure(&mut buffer, &src, &mut dst, chunk, runs)?);
    }
    Ok(CopyBench {
        backend: allocator.backend(),
        bytes: size,
        device: allocator.device_index(),
        device_name,
        results,
        runs,
        statistic: "median",
    })
}

impl CopyBench {
    /// The header line: backend, device, size and statistic.
    #[must_use]
    pub fn header(&self) -> String {
        format!(
            "{} backend, device {} ({}), {} MiB, median of {} runs",
            self.backend,
            self.device,
            self.device_name,
            self.bytes / MIB,
            self.runs
        )
    }
}

impl fmt::Display for CopyBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.header())?;
        write!(
            f,
            "chunk      h2d GB/s  host GB/s   ratio   d2h GB/s  host GB/s   ratio"
        )?;
        for row in &self.results {
            write!(
                f,
                "\n{:>3} MiB  {:>10.2} {:>10.2} {:>7.2}x {:>10.2} {:>10.2} {:>7.2}x",
                row.chunk_mib,
                row.h2d_gbps,
                row.baseline_gbps,
                row.h2d_gbps / row.baseline_gbps,
                row.d2h_gbps,
                row.baseline_gbps,
                row.d2h_gbps / row.baseline_gbps
            )?;
        }
        Ok(())
    }
}

/// Cheap non-constant bytes (xorshift), so nothing can shortcut the copies.
fn pseudo_random(size: usize) -> Vec<u8> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Throughput in GB/s (10^9 bytes per second).
fn gbps(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time(f: impl FnOnce() -> Result<(), AllocError>) -> Result<f64, AllocError> {
    let start = Instant::now();
    f()?;
    Ok(start.elapsed().as_secs_f64())
}

/// One row; `chunk` is at least 1 because the caller refuses a zero size.
fn measure(
    buffer: &mut DeviceBuffer,
    src: &[u8],
    dst: &mut [u8],
    chunk: usize,
    runs: usize,
) -> Result<CopyRow, AllocError> {
    let chunk = chunk.max(1);
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
            return Err(AllocError::CopyFailed {
                direction: CopyDirection::DeviceToHost,
                len: src.len() as u64,
                reason: "read-back differs from what was written".to_owned(),
            });
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
    Ok(CopyRow {
        baseline_gbps: median(baseline),
        chunk_mib: chunk / MIB,
        d2h_gbps: median(d2h),
        h2d_gbps: median(h2d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostDevice, HostDeviceConfig};

    /// GA-020: one row per chunk size, every figure measured; no timing is
    /// asserted.
    #[test]
    fn ga_020_reports_every_chunk_size() {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(8 << 20));
        let report = copy_throughput(device.as_ref(), 2 << 20, 1).unwrap();
        assert_eq!(report.backend, Backend::Host);
        assert_eq!(report.bytes, 2 << 20);
        assert_eq!(report.runs, 1);
        let chunks: Vec<_> = report.results.iter().map(|r| r.chunk_mib).collect();
        assert_eq!(chunks, [1, 2, 2, 2]);
        for row in &report.results {
            assert!(row.h2d_gbps > 0.0 && row.d2h_gbps > 0.0 && row.baseline_gbps > 0.0);
        }
        let text = report.to_string();
        assert!(
            text.starts_with("host (simulated) backend, device 0"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2 + CHUNKS_MIB.len(), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["statistic"], "median");
        assert_eq!(json["results"].as_array().unwrap().len(), CHUNKS_MIB.len());
        // The freed buffer is returned to the device.
        assert_eq!(device.memory_info().unwrap().free, 8 << 20);
    }

    /// GA-020: bad arguments are typed errors, not panics.
    #[test]
    fn ga_020_rejects_zero_size_and_zero_runs() {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(1 << 20));
        assert_eq!(
            copy_throughput(device.as_ref(), 0, 1).unwrap_err(),
            AllocError::ZeroSize
        );
        assert!(matches!(
            copy_throughput(device.as_ref(), 1024, 0),
            Err(AllocError::InvalidArgument { .. })
        ));
    }
}
