//! A measurement harness for full verification (`VR-VER-007`), used by
//! `vramctl bench verify`.
//!
//! [`verify_throughput`] fills one buffer of the given size with
//! pseudo-random bytes, then times, in the same run and on the same bytes:
//!
//! - **in place**: what a `Full` check does now, the leaf hash of every
//!   1 MiB chunk computed where the memory is (`DeviceBuffer::leaf_hashes`:
//!   the kernel on CUDA) and the root combined on the host;
//! - **host path**: what `Full` did before, every byte copied back in
//!   16 MiB pieces and hashed on the CPU (plain digest and chunked root in
//!   one pass);
//! - **copy back**: the same copy with no hashing, the device's copy
//!   bandwidth, which bounds any host path;
//! - **by chunks**: in place over the first 1, 16, 256, 4096, 16384 and
//!   65536 chunks (those the buffer holds), since a GPU runs one thread per
//!   chunk and needs many chunks in flight to fill.
//!
//! Figures are medians of several runs after one warm-up run; both roots
//! must equal the one computed when the bytes were written, or the
//! benchmark fails rather than report a fast wrong answer.

use std::fmt;
use std::time::Instant;

use gpu_alloc::{Backend, DeviceBuffer, VramAllocator};
use seal_crypto::{CHUNK_SIZE, ChunkTree, Digest, ShardDigester};
use serde::Serialize;

use crate::error::ResidencyError;

const MIB: u64 = 1 << 20;
/// Host pieces of the host path, as the old `Full` read them.
const STAGING: usize = 16 << 20;
/// Chunk counts of the sweep (those below the buffer's count).
const SWEEP: [u64; 6] = [1, 16, 256, 4096, 16_384, 65_536];

/// In-place throughput over the first `chunks` chunks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChunkRow {
    /// Chunks hashed by one call.
    pub chunks: u64,
    /// GB/s (10^9 bytes per second) of device memory hashed.
    pub gbps: f64,
}

/// The outcome of one verification benchmark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyBench {
    /// The backend measured.
    pub backend: Backend,
    /// The device's name as the driver reports it.
    pub device_name: String,
    /// Bytes in the buffer.
    pub bytes: u64,
    /// 1 MiB chunks in the buffer.
    pub chunks: u64,
    /// Runs timed after one warm-up run.
    pub runs: usize,
    /// The statistic reported (`"median"`).
    pub statistic: &'static str,
    /// In-place full verification: leaves where the memory is, root on the host.
    pub in_place_gbps: f64,
    /// Copy back and hash on the CPU (the former `Full`).
    pub host_path_gbps: f64,
    /// Copy back only: the device-to-host bandwidth.
    pub copy_back_gbps: f64,
    /// In place over the first N chunks.
    pub by_chunks: Vec<ChunkRow>,
}

impl fmt::Display for VerifyBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} backend ({}), {} MiB in {} chunks of 1 MiB, median of {} runs",
            self.backend,
            self.device_name,
            self.bytes / MIB,
            self.chunks,
            self.runs
        )?;
        let ratio = |x: f64| x / self.host_path_gbps;
        writeln!(
            f,
            "path                                    GB/s   vs host path"
        )?;
        writeln!(
            f,
            "in place (leaves where the memory is) {:>8.2} {:>8.2}x",
            self.in_place_gbps,
            ratio(self.in_place_gbps)
        )?;
        writeln!(
            f,
            "host path (copy back + CPU hash)      {:>8.2} {:>8.2}x",
            self.host_path_gbps, 1.0
        )?;
        write!(
            f,
            "copy back only (device bandwidth)     {:>8.2} {:>8.2}x",
            self.copy_back_gbps,
            ratio(self.copy_back_gbps)
        )?;
        for row in &self.by_chunks {
            write!(
                f,
                "\nin place, {:>6} chunks               {:>8.2} {:>8.2}x",
                row.chunks,
                row.gbps,
                ratio(row.gbps)
            )?;
        }
        Ok(())
    }
}

/// Measures full verification of a `size`-byte buffer on `allocator` in
/// place, by the host path and by copy alone, and in place over growing
/// numbers of chunks; each a median of `runs` runs after a warm-up.
///
/// # Errors
/// [`ResidencyError::InvalidOptions`] for a size or run count of 0; the
/// allocator's errors; and [`ResidencyError::InvalidOptions`] if either path
/// computes a root other than the bytes' own.
pub fn verify_throughput(
    allocator: &dyn VramAllocator,
    size: u64,
    runs: usize,
) -> Result<VerifyBench, ResidencyError> {
    if size == 0 || runs == 0 {
        return Err(ResidencyError::InvalidOptions {
            reason: "the verify benchmark needs a size and a run count of at least 1".to_owned(),
        });
    }
    let device_name = allocator.properties()?.name;
    let mut buffer = allocator.allocate(size)?;
    let expected = fill(&mut buffer)?;
    let chunks = expected.chunk_count();
    let root = expected.root();
    let in_place = median_of(runs, || {
        let found = in_place_root(&buffer, chunks, size)?;
        check_root(found, root, "in place")
    })?;
    let host_path = median_of(runs, || {
        let mut digester = ShardDigester::new();
        buffer.read_chunks(0, size, STAGING, &mut |piece| {
            digester.update(piece);
            Ok(())
        })?;
        check_root(digester.finish().chunks.root(), root, "host path")
    })?;
    let copy_back = median_of(runs, || {
        let mut sink = 0u8;
        buffer.read_chunks(0, size, STAGING, &mut |piece| {
            sink ^= piece.last().copied().unwrap_or(0);
            Ok(())
        })?;
        std::hint::black_box(sink);
        Ok(())
    })?;
    let mut by_chunks = Vec::new();
    for n in SWEEP.into_iter().filter(|&n| n < chunks) {
        let bytes = n * MIB;
        let seconds = median_of(runs, || {
            buffer.leaf_hashes(CHUNK_SIZE as u64, 0, n)?;
            Ok(())
        })?;
        by_chunks.push(ChunkRow {
            chunks: n,
            gbps: gbps(bytes, seconds),
        });
    }
    Ok(VerifyBench {
        backend: allocator.backend(),
        device_name,
        bytes: size,
        chunks,
        runs,
        statistic: "median",
        in_place_gbps: gbps(size, in_place),
        host_path_gbps: gbps(size, host_path),
        copy_back_gbps: gbps(size, copy_back),
        by_chunks,
    })
}

/// Writes pseudo-random bytes (xorshift) in 16 MiB pieces and returns their
/// chunk tree, computed on the host as they are written.
fn fill(buffer: &mut DeviceBuffer) -> Result<ChunkTree, ResidencyError> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut hasher = seal_crypto::ChunkedHasher::new();
    let mut piece = vec![0u8; STAGING];
    let mut at = 0u64;
    while at < buffer.len() {
        let n = usize::try_from((buffer.len() - at).min(STAGING as u64)).unwrap_or(STAGING);
        let piece = piece.get_mut(..n).unwrap_or_default();
        for word in piece.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            word.copy_from_slice(bytes.get(..word.len()).unwrap_or_default());
        }
        buffer.write(at, piece)?;
        hasher.update(piece);
        at += n as u64;
    }
    Ok(hasher.finish())
}

/// The root of every chunk's leaf, computed where the memory is.
fn in_place_root(buffer: &DeviceBuffer, chunks: u64, size: u64) -> Result<Digest, ResidencyError> {
    let mut leaves = Vec::new();
    let mut at = 0;
    while at < chunks {
        let n = (chunks - at).min(gpu_alloc::MAX_LEAVES_PER_CALL);
        leaves.extend(
            buffer
                .leaf_hashes(CHUNK_SIZE as u64, at, n)?
                .into_iter()
                .map(Digest::from_bytes),
        );
        at += n;
    }
    let tree =
        ChunkTree::from_leaves(leaves, size).map_err(|e| ResidencyError::InvalidOptions {
            reason: format!("the device's leaves do not form a tree: {e}"),
        })?;
    Ok(tree.root())
}

fn check_root(found: Digest, expected: Digest, path: &str) -> Result<(), ResidencyError> {
    if found == expected {
        return Ok(());
    }
    Err(ResidencyError::InvalidOptions {
        reason: format!(
            "the {path} computed another root than the bytes written; the benchmark stops"
        ),
    })
}

/// Median seconds of `runs` calls of `f` after one warm-up call.
fn median_of(
    runs: usize,
    mut f: impl FnMut() -> Result<(), ResidencyError>,
) -> Result<f64, ResidencyError> {
    f()?;
    let mut seconds = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    Ok(seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN))
}

fn gbps(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gpu_alloc::{HostDevice, HostDeviceConfig};

    /// VR-VER-007: every path runs on the same bytes and agrees on the
    /// root; the sweep stops below the buffer's chunk count; the report
    /// prints each figure beside the host path.
    #[test]
    fn vr_ver_007_the_benchmark_measures_every_path_on_the_same_bytes() {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(64 << 20));
        let report = verify_throughput(device.as_ref(), 20 * MIB + 5, 1).unwrap();
        assert_eq!((report.chunks, report.runs), (21, 1));
        assert_eq!(
            report
                .by_chunks
                .iter()
                .map(|r| r.chunks)
                .collect::<Vec<_>>(),
            [1, 16]
        );
        for gbps in [
            report.in_place_gbps,
            report.host_path_gbps,
            report.copy_back_gbps,
        ] {
            assert!(gbps.is_finite() && gbps > 0.0, "{report:?}");
        }
        let text = report.to_string();
        assert!(
            text.contains("in place (leaves where the memory is)"),
            "{text}"
        );
        assert!(text.contains("in place,     16 chunks"), "{text}");
        assert!(verify_throughput(device.as_ref(), 0, 1).is_err());
        assert!(verify_throughput(device.as_ref(), MIB, 0).is_err());
    }

    /// VR-VER-007: a path that finds another root fails the benchmark.
    #[test]
    fn vr_ver_007_a_wrong_root_stops_the_benchmark() {
        let a = seal_crypto::sha256(b"a");
        let b = seal_crypto::sha256(b"b");
        assert!(check_root(a, a, "in place").is_ok());
        let err = check_root(a, b, "in place").unwrap_err();
        assert!(err.to_string().contains("another root"), "{err}");
    }
}
