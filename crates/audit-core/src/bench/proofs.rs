//! The proof benchmark (`AC-098`): inclusion and consistency proofs
//! generated from the stored tree of a large log, and verified.
//!
//! Proofs read only the `tree` table, so the fixture is the `tree` table of
//! a log of `leaves` records (default 10,000,000), built in the log's own
//! schema and layout (one block per batch of [`ProofConfig::batch`]
//! records, the writer's largest batch, hence its largest blocks) from
//! synthetic leaves, without the records themselves. Generation goes
//! through [`crate::TreeStore`], as `vramctl audit prove` does; the
//! baseline beside it is the time to read one stored hash by its index
//! (one primary-key seek), so a proof costs about as many seeks as blocks
//! it touches.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;

use crate::AuditError;
use crate::log::insert_tree_hashes;
use crate::schema;
use crate::tree::{Frontier, TreeStore};

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofConfig {
    /// Leaves of the fixture tree (default 10,000,000).
    pub leaves: u64,
    /// Records per appended batch, one stored block each (default 4,096).
    pub batch: usize,
    /// Proofs generated and verified of each kind (default 1,000).
    pub samples: usize,
}

impl Default for ProofConfig {
    fn default() -> Self {
        Self {
            leaves: 10_000_000,
            batch: 4096,
            samples: 1000,
        }
    }
}

/// The figures of one proof run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProofReport {
    /// Leaves of the tree the proofs are of.
    pub leaves: u64,
    /// Seconds to build the fixture (not a figure of merit).
    pub build_s: f64,
    /// Median and p99 time to generate an inclusion proof of a random
    /// leaf at the full size, microseconds.
    pub inclusion_median_us: f64,
    /// p99 of the same.
    pub inclusion_p99_us: f64,
    /// Median time to generate a consistency proof from a random older
    /// size to the full size, microseconds.
    pub consistency_median_us: f64,
    /// p99 of the same.
    pub consistency_p99_us: f64,
    /// Median time to read one stored hash by index (the baseline),
    /// microseconds.
    pub hash_read_median_us: f64,
    /// Inclusion proofs verified per second on one thread (against the
    /// root).
    pub inclusion_verify_per_s: f64,
    /// Consistency proofs verified per second on one thread.
    pub consistency_verify_per_s: f64,
    /// Inclusion proofs verified per second on all cores (rayon).
    pub inclusion_verify_parallel_per_s: f64,
    /// Inclusion proofs verified per second on one thread by
    /// `tlog::verify_inclusions`, four at a time.
    pub inclusion_verify_batched_per_s: f64,
    /// The same on all cores (rayon, batches of 256 proofs).
    pub inclusion_verify_batched_parallel_per_s: f64,
    /// Whether the four-at-a-time node hashes ran on the CPU's SHA
    /// extensions (`seal_crypto::node_lanes_accelerated`).
    pub node_lanes_accelerated: bool,
    /// Hashes in an inclusion proof, on average: the node hashes one
    /// verification computes.
    pub inclusion_proof_hashes: f64,
    /// The baseline of verification: chained `node_hash` calls per second
    /// on one thread (two SHA-256 compressions each). A verification costs
    /// about `inclusion_proof_hashes` of them.
    pub node_hashes_per_s: f64,
}

/// Proofs handed to one `verify_inclusions` call by the batched
/// all-cores figure.
const BATCH_CHECKS: usize = 256;

/// A small deterministic generator (xorshift64*): the same sample indexes
/// on every run, no dependency.
struct Sampler(u64);

impl Sampler {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median_p99(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        let rank = ((samples.len() as f64) * q).ceil() as usize;
        samples
            .get(rank.saturating_sub(1).min(samples.len().saturating_sub(1)))
            .map_or(0.0, |d| us(*d))
    };
    (at(0.5), at(0.99))
}

fn tree_error(e: impl std::fmt::Display) -> AuditError {
    AuditError::Tree {
        detail: e.to_string(),
    }
}

/// Builds the fixture: a new audit database at `path` whose `tree` table
/// holds the tree of `config.leaves` synthetic leaves.
fn build(path: &Path, config: &ProofConfig) -> Result<Connection, AuditError> {
    let mut conn = schema::connect(path)?;
    schema::enable_wal(&conn)?;
    schema::create_if_empty(&mut conn, path, "bench-proofs", 0)?;
    // A fixture: durability is not what is measured.
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(AuditError::storage("building the proof fixture"))?;
    let mut frontier = Frontier::empty();
    let mut next = 0u64;
    while next < config.leaves {
        let end = next
            .saturating_add(config.batch.max(1) as u64)
            .min(config.leaves);
        let first = frontier.next_index();
        let mut hashes = Vec::with_capacity(config.batch * 2 + 64);
        for i in next..end {
            hashes.extend(frontier.append(tlog::leaf_hash(&i.to_be_bytes()))?);
        }
        let tx = conn
            .transaction()
            .map_err(AuditError::storage("building the proof fixture"))?;
        insert_tree_hashes(&tx, first, &hashes)?;
        tx.commit()
            .map_err(AuditError::storage("building the proof fixture"))?;
        next = end;
    }
    Ok(conn)
}

/// Runs the proof benchmark in `dir` (see the module documentation).
pub fn run_proofs(dir: &Path, config: &ProofConfig) -> Result<ProofReport, AuditError> {
    let size = config.leaves.max(2);
    let config = ProofConfig {
        leaves: size,
        ..config.clone()
    };
    let path = dir.join("proofs.db");
    let started = Instant::now();
    let conn = build(&path, &config)?;
    let build_s = started.elapsed().as_secs_f64();
    let store = TreeStore::new(&conn);
    let root = tlog::tree_root(&store, size).map_err(tree_error)?;
    let mut sampler = Sampler(0x9e37_79b9_7f4a_7c15);
    let samples = config.samples.max(1);

    let mut reads = Vec::with_capacity(samples);
    for _ in 0..samples {
        let index = tlog::stored_hash_index(0, sampler.below(size)).unwrap_or(0);
        let t = Instant::now();
        // A new reader each time: no block cached from the last sample.
        tlog::HashStore::read_hashes(&TreeStore::new(&conn), &[index]).map_err(tree_error)?;
        reads.push(t.elapsed());
    }

    let mut inclusion = Vec::with_capacity(samples);
    let mut inclusion_proofs = Vec::with_capacity(samples);
    for _ in 0..samples {
        let index = sampler.below(size);
        let t = Instant::now();
        let proof = tlog::inclusion_proof(&store, size, index).map_err(tree_error)?;
        inclusion.push(t.elapsed());
        let leaf = tlog::leaf_hash(&index.to_be_bytes());
        inclusion_proofs.push((index, leaf, proof));
    }

    let mut consistency = Vec::with_capacity(samples);
    let mut consistency_proofs = Vec::with_capacity(samples);
    for _ in 0..samples {
        let old = 1 + sampler.below(size - 1);
        let t = Instant::now();
        let proof = tlog::consistency_proof(&store, old, size).map_err(tree_error)?;
        consistency.push(t.elapsed());
        let old_root = tlog::tree_root(&store, old).map_err(tree_error)?;
        consistency_proofs.push((old, old_root, proof));
    }

    let verify_one = |(index, leaf, proof): &(u64, tlog::Hash, Vec<tlog::Hash>)| {
        tlog::verify_inclusion(leaf.as_bytes(), *index, size, proof, root.as_bytes())
            .map_err(tree_error)
    };
    // Rates from several passes over the samples, for a stable figure.
    let passes = 20usize;
    let t = Instant::now();
    for _ in 0..passes {
        inclusion_proofs.iter().try_for_each(verify_one)?;
    }
    let inclusion_verify_per_s = (samples * passes) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let t = Instant::now();
    for _ in 0..passes {
        use rayon::prelude::*;
        inclusion_proofs.par_iter().try_for_each(verify_one)?;
    }
    let inclusion_verify_parallel_per_s =
        (samples * passes) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let checks: Vec<tlog::InclusionCheck<'_, tlog::Hash>> = inclusion_proofs
        .iter()
        .map(|(index, leaf, proof)| tlog::InclusionCheck {
            leaf_hash: leaf.as_bytes(),
            index: *index,
            size,
            proof,
            root: root.as_bytes(),
        })
        .collect();
    let verify_batch = |batch: &[tlog::InclusionCheck<'_, tlog::Hash>]| {
        tlog::verify_inclusions(batch)
            .into_iter()
            .collect::<Result<(), _>>()
            .map_err(tree_error)
    };
    let t = Instant::now();
    for _ in 0..passes {
        verify_batch(&checks)?;
    }
    let inclusion_verify_batched_per_s =
        (samples * passes) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let t = Instant::now();
    for _ in 0..passes {
        use rayon::prelude::*;
        checks.par_chunks(BATCH_CHECKS).try_for_each(verify_batch)?;
    }
    let inclusion_verify_batched_parallel_per_s =
        (samples * passes) as f64 / t.elapsed().as_secs_f64().max(1e-9);
    let inclusion_proof_hashes = inclusion_proofs
        .iter()
        .map(|(_, _, proof)| proof.len() as f64)
        .sum::<f64>()
        / samples as f64;
    let rounds = 1_000_000u32;
    let mut chained = root;
    let t = Instant::now();
    for _ in 0..rounds {
        chained = tlog::node_hash(&chained, &root);
    }
    let node_hashes_per_s = f64::from(rounds) / t.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(chained);
    let t = Instant::now();
    for _ in 0..passes {
        for (old, old_root, proof) in &consistency_proofs {
            tlog::verify_consistency(*old, size, old_root.as_bytes(), root.as_bytes(), proof)
                .map_err(tree_error)?;
        }
    }
    let consistency_verify_per_s = (samples * passes) as f64 / t.elapsed().as_secs_f64().max(1e-9);

    let (inclusion_median_us, inclusion_p99_us) = median_p99(inclusion);
    let (consistency_median_us, consistency_p99_us) = median_p99(consistency);
    Ok(ProofReport {
        leaves: size,
        build_s,
        inclusion_median_us,
        inclusion_p99_us,
        consistency_median_us,
        consistency_p99_us,
        hash_read_median_us: median_p99(reads).0,
        inclusion_verify_per_s,
        consistency_verify_per_s,
        inclusion_verify_parallel_per_s,
        inclusion_verify_batched_per_s,
        inclusion_verify_batched_parallel_per_s,
        node_lanes_accelerated: seal_crypto::node_lanes_accelerated(),
        inclusion_proof_hashes,
        node_hashes_per_s,
    })
}

impl std::fmt::Display for ProofReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "tree leaves             {}", self.leaves)?;
        writeln!(f, "fixture built in        {:.1} s", self.build_s)?;
        writeln!(
            f,
            "one stored hash read    {:.1} us median (baseline)",
            self.hash_read_median_us
        )?;
        writeln!(
            f,
            "inclusion proof         {:.1} us median, {:.1} us p99",
            self.inclusion_median_us, self.inclusion_p99_us
        )?;
        writeln!(
            f,
            "consistency proof       {:.1} us median, {:.1} us p99",
            self.consistency_median_us, self.consistency_p99_us
        )?;
        writeln!(
            f,
            "node hashes/s           {:.0} (baseline: one thread)",
            self.node_hashes_per_s
        )?;
        writeln!(
            f,
            "inclusion verify/s      {:.0} one thread ({:.1} hashes a proof: ceiling {:.0}), {:.0} all cores",
            self.inclusion_verify_per_s,
            self.inclusion_proof_hashes,
            self.node_hashes_per_s / self.inclusion_proof_hashes.max(1.0),
            self.inclusion_verify_parallel_per_s
        )?;
        writeln!(
            f,
            "  four at a time        {:.0} one thread, {:.0} all cores (verify_inclusions; SHA extensions: {})",
            self.inclusion_verify_batched_per_s,
            self.inclusion_verify_batched_parallel_per_s,
            if self.node_lanes_accelerated {
                "yes"
            } else {
                "no"
            }
        )?;
        write!(
            f,
            "consistency verify/s    {:.0}",
            self.consistency_verify_per_s
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// AC-098: the proof benchmark builds a real tree, and every proof it
    /// times verifies against the tree's root (else it is an error).
    #[test]
    fn ac_098_proof_bench_proves_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let config = ProofConfig {
            leaves: 5_000,
            batch: 300,
            samples: 20,
        };
        let report = run_proofs(dir.path(), &config).unwrap();
        assert_eq!(report.leaves, 5_000);
        assert!(report.inclusion_median_us > 0.0 && report.consistency_median_us > 0.0);
        assert!(report.inclusion_verify_per_s > 0.0 && report.consistency_verify_per_s > 0.0);
        assert!(report.inclusion_verify_batched_per_s > 0.0);
        let leaves: Vec<_> = (0..5_000u64)
            .map(|i| tlog::leaf_hash(&i.to_be_bytes()))
            .collect();
        let conn = Connection::open(dir.path().join("proofs.db")).unwrap();
        let root = tlog::tree_root(&TreeStore::new(&conn), 5_000).unwrap();
        assert_eq!(root, tlog::merkle_root(&leaves));
    }
}
