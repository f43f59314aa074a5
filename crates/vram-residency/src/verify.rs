//! What each verification mode checks, and proves (spec `VR-VER-*`).
//!
//! - [`VerifyMode::Quick`] re-checks the seal only: the shard's recorded
//!   claims (id, size, device, digests, time, model reference and position)
//!   are exactly what this worker's key signed. It reads no VRAM, so it
//!   proves nothing about the contents; it catches a tampered host-side
//!   record in microseconds.
//! - [`VerifyMode::Full`] checks the seal, then re-hashes every byte in
//!   device memory and compares both the plain digest and the chunked root.
//!   It proves the contents are exactly what was sealed.
//! - [`VerifyMode::Sampled`] and [`VerifyMode::Chunks`] check the seal, check
//!   that the stored chunk hashes combine to the sealed root, then re-hash
//!   only the chosen 1 MiB chunks. They prove those chunks intact; random
//!   samples make undetected corruption of a large region unlikely, at a
//!   fraction of the cost, but a single changed byte elsewhere is only caught
//!   by a full check.

use std::time::Duration;

use seal_crypto::{ChunkTree, Digest, SealKey, ShardDigester};
use serde::Serialize;

use crate::inner::STAGING_BYTES;
use crate::shard::SealedShard;

/// How thoroughly to verify a shard. See the module docs for what each mode
/// proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyMode {
    /// The seal only; reads no VRAM.
    Quick,
    /// The seal and every byte in VRAM.
    Full,
    /// The seal and `count` chunks chosen at random.
    Sampled {
        /// Chunks to re-hash (all of them if the shard has fewer).
        count: u32,
    },
    /// The seal and these chunks.
    Chunks(Vec<u64>),
}

impl VerifyMode {
    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Quick => "quick",
            Self::Full => "full",
            Self::Sampled { .. } => "sampled",
            Self::Chunks(_) => "chunks",
        }
    }
}

/// What a successful verification checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The shard.
    pub shard_id: String,
    /// The mode's name.
    pub mode: &'static str,
    /// Bytes read back from device memory and hashed.
    pub bytes_hashed: u64,
    /// Chunks whose hashes were checked.
    pub chunks_checked: u64,
    /// Time taken.
    pub duration: Duration,
}

/// Why a verification failed, for the audit event and the error.
pub(crate) struct Failure {
    pub(crate) reason: String,
    /// The digest actually found, where one was computed.
    pub(crate) actual: Option<Digest>,
}

fn fail(reason: impl Into<String>, actual: Option<Digest>) -> Failure {
    Failure {
        reason: reason.into(),
        actual,
    }
}

pub(crate) fn check(
    key: &SealKey,
    shard: &SealedShard,
    mode: &VerifyMode,
) -> Result<VerifyReport, Failure> {
    let claims = shard.claims();
    seal_crypto::verify(key, claims, shard.signature().as_bytes()).map_err(|_| {
        fail(
            "the seal does not match the shard's claims (digest, size, id, labels or signature changed, or another key)",
            None,
        )
    })?;
    let mut report = VerifyReport {
        shard_id: shard.id().to_owned(),
        mode: mode.name(),
        bytes_hashed: 0,
        chunks_checked: 0,
        duration: Duration::ZERO,
    };
    match mode {
        VerifyMode::Quick => Ok(report),
        VerifyMode::Full => {
            let found = rehash_all(shard)?;
            report.bytes_hashed = found.chunks.len_bytes();
            report.chunks_checked = found.chunks.chunk_count();
            if found.plain == claims.digest && found.chunks.root() == claims.chunk_root {
                return Ok(report);
            }
            let first_bad = first_differing_chunk(shard.chunks(), &found.chunks);
            Err(fail(
                format!(
                    "device memory differs from the sealed contents (first differing chunk: {} of {})",
                    first_bad.map_or_else(|| "unknown".to_owned(), |i| i.to_string()),
                    shard.chunk_count()
                ),
                Some(found.plain),
            ))
        }
        VerifyMode::Sampled { count } => {
            let chosen = sample(shard.chunk_count(), u64::from(*count));
            check_chunks(shard, &chosen, &mut report)?;
            Ok(report)
        }
        VerifyMode::Chunks(chosen) => {
            check_chunks(shard, chosen, &mut report)?;
            Ok(report)
        }
    }
}

/// Re-hashes the whole shard from device memory, 16 MiB at a time.
fn rehash_all(shard: &SealedShard) -> Result<seal_crypto::ShardDigests, Failure> {
    let buffer = shard
        .buffer()
        .ok_or_else(|| fail("the shard holds no device memory", None))?;
    let mut digester = ShardDigester::new();
    buffer
        .read_chunks(0, shard.bytes(), STAGING_BYTES, &mut |piece| {
            digester.update(piece);
            Ok(())
        })
        .map_err(|e| fail(format!("device memory could not be read back: {e}"), None))?;
    Ok(digester.finish())
}

fn first_differing_chunk(sealed: &ChunkTree, found: &ChunkTree) -> Option<u64> {
    sealed
        .leaves()
        .iter()
        .zip(found.leaves())
        .position(|(a, b)| a != b)
        .map(|i| i as u64)
}

fn check_chunks(
    shard: &SealedShard,
    chosen: &[u64],
    report: &mut VerifyReport,
) -> Result<(), Failure> {
    let tree = shard.chunks();
    // The stored chunk hashes are only evidence once they combine to the
    // root the seal signed.
    if tree.root() != shard.claims().chunk_root {
        return Err(fail(
            "the stored chunk hashes do not combine to the sealed chunked root",
            None,
        ));
    }
    let buffer = shard
        .buffer()
        .ok_or_else(|| fail("the shard holds no device memory", None))?;
    let mut bytes = vec![0u8; seal_crypto::CHUNK_SIZE];
    for &index in chosen {
        let range = tree
            .chunk_range(index)
            .map_err(|e| fail(format!("cannot check chunk {index}: {e}"), None))?;
        let len = usize::try_from(range.end - range.start).unwrap_or(0);
        let chunk = bytes.get_mut(..len).unwrap_or_default();
        buffer
            .read(range.start, chunk)
            .map_err(|e| fail(format!("chunk {index} could not be read back: {e}"), None))?;
        tree.check_chunk(index, chunk).map_err(|_| {
            fail(
                format!(
                    "device memory of chunk {index} of {} differs from the sealed contents",
                    tree.chunk_count()
                ),
                None,
            )
        })?;
        report.bytes_hashed += len as u64;
        report.chunks_checked += 1;
    }
    Ok(())
}

/// `count` distinct chunk indices below `total`, chosen at random (all of
/// them if `count >= total`). Falls back to evenly spaced indices if the
/// system's random source fails.
fn sample(total: u64, count: u64) -> Vec<u64> {
    if count >= total {
        return (0..total).collect();
    }
    let mut chosen = std::collections::BTreeSet::new();
    while (chosen.len() as u64) < count {
        match getrandom::u64() {
            Ok(r) => {
                chosen.insert(r % total);
            }
            Err(error) => {
                tracing::warn!(%error, "no randomness; sampling evenly spaced chunks");
                return evenly_spaced(total, count);
            }
        }
    }
    chosen.into_iter().collect()
}

/// `count` distinct indices below `total`, spread evenly from 0
/// (`count < total`).
fn evenly_spaced(total: u64, count: u64) -> Vec<u64> {
    (0..count).map(|i| i * total / count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VR-VER-001: without randomness, a sample is spread evenly and still
    /// distinct; every mode reports its own name.
    #[test]
    fn vr_ver_001_fallback_sample_and_mode_names() {
        assert_eq!(evenly_spaced(10, 3), [0, 3, 6]);
        assert_eq!(evenly_spaced(1000, 4), [0, 250, 500, 750]);
        assert_eq!(evenly_spaced(7, 6), [0, 1, 2, 3, 4, 5]);
        assert_eq!(VerifyMode::Quick.name(), "quick");
        assert_eq!(VerifyMode::Full.name(), "full");
        assert_eq!(VerifyMode::Sampled { count: 1 }.name(), "sampled");
        assert_eq!(VerifyMode::Chunks(vec![]).name(), "chunks");
    }

    #[test]
    fn sample_is_distinct_and_in_range() {
        for (total, count) in [(1, 1), (10, 3), (10, 10), (10, 50), (1000, 7)] {
            let s = sample(total, count);
            assert_eq!(s.len() as u64, count.min(total));
            assert!(s.iter().all(|&i| i < total));
            let mut d = s.clone();
            d.dedup();
            assert_eq!(d.len(), s.len());
        }
    }
}
