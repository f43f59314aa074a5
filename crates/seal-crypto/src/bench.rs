//! A measurement harness for the digest benchmark, used by the `digest`
//! example and `vramctl bench digest`.
//!
//! [`digest_throughput`] times three ways of hashing one file, each the
//! median of several rounds in the same run: `sha256sum FILE` (the baseline,
//! an external process), the plain digest ([`crate::sha256_reader`]) and the
//! chunked root ([`crate::ChunkTree::from_file`]). It checks that the plain
//! digest equals what `sha256sum` printed, and returns a [`DigestBench`]
//! whose `Display` is the human table and whose `Serialize` form is the
//! machine-readable report.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Instant;

use crate::{ChunkTree, Digest, sha256_reader};

/// The outcome of one digest benchmark: medians, throughput and ratios, and
/// the three digests that were computed.
///
/// `Display` prints the human table (five or six lines, no trailing newline);
/// `Serialize` gives every field. Throughput is in GB/s (10^9 bytes per
/// second); a ratio above 1 means faster than `sha256sum`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DigestBench {
    /// The file that was hashed.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Rounds timed; every figure is the median over them.
    pub rounds: usize,
    /// Threads in the rayon pool that hashes the chunks.
    pub threads: usize,
    /// Median seconds of `sha256sum FILE`.
    pub sha256sum_seconds: f64,
    /// Median seconds of the plain digest.
    pub plain_seconds: f64,
    /// Median seconds of the chunked root.
    pub chunked_seconds: f64,
    /// Throughput of `sha256sum`, GB/s.
    pub sha256sum_gbps: f64,
    /// Throughput of the plain digest, GB/s.
    pub plain_gbps: f64,
    /// Throughput of the chunked root, GB/s.
    pub chunked_gbps: f64,
    /// How many times faster the plain digest is than `sha256sum`.
    pub plain_vs_sha256sum: f64,
    /// How many times faster the chunked root is than `sha256sum`.
    pub chunked_vs_sha256sum: f64,
    /// The digest `sha256sum` printed.
    pub sha256sum_digest: Digest,
    /// The plain digest (equal to `sha256sum_digest`, or the run fails).
    pub plain_digest: Digest,
    /// The chunked root.
    pub chunked_root: Digest,
}

/// Why the digest benchmark could not produce a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Zero rounds were asked for.
    #[error("the digest benchmark needs at least one round")]
    NoRounds,
    /// The file could not be opened, measured or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being hashed.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The `sha256sum` program could not be started.
    #[error("cannot run sha256sum: {0}; install coreutils or put sha256sum on PATH")]
    Sha256sumUnavailable(#[source] io::Error),
    /// `sha256sum` ran and exited unsuccessfully.
    #[error("sha256sum failed: {0}")]
    Sha256sumFailed(ExitStatus),
    /// `sha256sum` printed no digest, or not a SHA-256 in hex.
    #[error("sha256sum printed nothing usable as a digest")]
    Sha256sumOutput,
    /// The plain digest is not what `sha256sum` computed.
    #[error("plain digest {plain} differs from sha256sum {sha256sum}")]
    DigestMismatch {
        /// The plain digest.
        plain: Digest,
        /// What `sha256sum` printed.
        sha256sum: Digest,
    },
}

/// Times `sha256sum`, the plain digest and the chunked root over `path`,
/// `rounds` times each (after one untimed read that warms the page cache),
/// and reports the medians.
///
/// # Errors
/// [`BenchError::NoRounds`] for `rounds == 0`; [`BenchError::Io`] if the
/// file cannot be read; [`BenchError::Sha256sumUnavailable`],
/// [`BenchError::Sha256sumFailed`] or [`BenchError::Sha256sumOutput`] if
/// `sha256sum` cannot be run or gives no digest;
/// [`BenchError::DigestMismatch`] if the plain digest differs from it.
pub fn digest_throughput(path: &Path, rounds: usize) -> Result<DigestBench, BenchError> {
    if rounds == 0 {
        return Err(BenchError::NoRounds);
    }
    let io = |source: io::Error| BenchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    // Warm the page cache so every method reads from memory alike.
    plain(path).map_err(io)?;
    let (mut t_sum, mut t_plain, mut t_chunked) = (Vec::new(), Vec::new(), Vec::new());
    let mut digests = None;
    for _ in 0..rounds {
        let (d_sum, t) = timed(|| sha256sum(path))?;
        t_sum.push(t);
        let (d_plain, t) = timed(|| plain(path).map_err(io))?;
        t_plain.push(t);
        let (d_root, t) = timed(|| chunked(path).map_err(io))?;
        t_chunked.push(t);
        digests = Some((d_sum, d_plain, d_root));
    }
    let (sha256sum_digest, plain_digest, chunked_root) = digests.ok_or(BenchError::NoRounds)?;
    if plain_digest != sha256sum_digest {
        return Err(BenchError::DigestMismatch {
            plain: plain_digest,
            sha256sum: sha256sum_digest,
        });
    }
    let gbps = |t: f64| bytes as f64 / t / 1e9;
    let (s, p, c) = (median(t_sum), median(t_plain), median(t_chunked));
    Ok(DigestBench {
        file: path.to_path_buf(),
        bytes,
        rounds,
        threads: rayon::current_num_threads(),
        sha256sum_seconds: s,
        plain_seconds: p,
        chunked_seconds: c,
        sha256sum_gbps: gbps(s),
        plain_gbps: gbps(p),
        chunked_gbps: gbps(c),
        plain_vs_sha256sum: s / p,
        chunked_vs_sha256sum: s / c,
        sha256sum_digest,
        plain_digest,
        chunked_root,
    })
}

impl fmt::Display for DigestBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, p, c) = (
            self.sha256sum_seconds,
            self.plain_seconds,
            self.chunked_seconds,
        );
        writeln!(
            f,
            "file: {} ({:.2} GiB), median of {} rounds, {} threads",
            self.file.display(),
            self.bytes as f64 / (1u64 << 30) as f64,
            self.rounds,
            self.threads
        )?;
        writeln!(
            f,
            "sha256sum (baseline)  {:>7.3} GB/s  {s:.3} s",
            self.sha256sum_gbps
        )?;
        writeln!(
            f,
            "plain digest          {:>7.3} GB/s  {p:.3} s  {:.2}x sha256sum",
            self.plain_gbps, self.plain_vs_sha256sum
        )?;
        writeln!(
            f,
            "chunked root          {:>7.3} GB/s  {c:.3} s  {:.2}x sha256sum",
            self.chunked_gbps, self.chunked_vs_sha256sum
        )?;
        writeln!(f, "plain digest equals sha256sum: {}", self.plain_digest)?;
        write!(f, "chunked root: {}", self.chunked_root)
    }
}

fn plain(path: &Path) -> io::Result<Digest> {
    Ok(sha256_reader(File::open(path)?)?.0)
}

fn chunked(path: &Path) -> io::Result<Digest> {
    Ok(ChunkTree::from_file(&File::open(path)?)?.root())
}

fn sha256sum(path: &Path) -> Result<Digest, BenchError> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .map_err(BenchError::Sha256sumUnavailable)?;
    if !out.status.success() {
        return Err(BenchError::Sha256sumFailed(out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // A file name with a backslash or newline makes sha256sum escape the line
    // and mark it with a leading backslash.
    text.split_whitespace()
        .next()
        .map(|word| word.trim_start_matches('\\'))
        .and_then(|hex| hex.parse().ok())
        .ok_or(BenchError::Sha256sumOutput)
}

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(f: impl FnOnce() -> Result<T, BenchError>) -> Result<(T, f64), BenchError> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256sum_present() -> bool {
        Command::new("sha256sum").arg("--version").output().is_ok()
    }

    #[test]
    fn reports_matching_digests_and_positive_throughput() {
        if !sha256sum_present() {
            // `cargo xtask ci` sets VRAM_REQUIRE_TOOLS=1: a skip there
            // would be reported as a pass.
            assert!(
                std::env::var_os("VRAM_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "sha256sum is required under `cargo xtask ci` (VRAM_REQUIRE_TOOLS=1); install coreutils"
            );
            eprintln!("digest bench test did not run: no sha256sum on PATH");
            return;
        }
        let dir = std::env::temp_dir().join(format!("seal-crypto-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..(3u32 << 20) + 17)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let report = digest_throughput(&path, 2).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(report.bytes, data.len() as u64);
        assert_eq!(report.rounds, 2);
        assert_eq!(report.plain_digest, crate::sha256(&data));
        assert_eq!(report.sha256sum_digest, report.plain_digest);
        assert_eq!(report.chunked_root, ChunkTree::from_bytes(&data).root());
        assert!(report.plain_gbps > 0.0 && report.chunked_gbps > 0.0);

        let text = report.to_string();
        assert!(text.starts_with("file: "), "{text}");
        assert!(text.contains("sha256sum (baseline)"), "{text}");
        assert!(
            text.contains(&format!(
                "plain digest equals sha256sum: {}",
                report.plain_digest
            )),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["plain_digest"], report.plain_digest.to_string());
        assert_eq!(json["bytes"], report.bytes);
    }

    #[test]
    fn zero_rounds_and_missing_file_are_errors() {
        let missing = Path::new("/nonexistent/seal-crypto-bench.bin");
        assert!(matches!(
            digest_throughput(missing, 0),
            Err(BenchError::NoRounds)
        ));
        assert!(matches!(
            digest_throughput(missing, 1),
            Err(BenchError::Io { .. })
        ));
    }
}
