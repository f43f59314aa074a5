//! The audit benchmark, shared by `cargo run --release -p audit-core
//! --example bench` and `vramctl bench audit`.
//!
//! One [`run`] measures, on the same machine and disk:
//!
//! - **baseline**: raw SQLite inserts of pre-built rows (same schema, same
//!   pragmas: WAL, `synchronous=FULL`) in transactions of 1,000: the ceiling;
//! - **emit + flush**: `events` pre-built events of about `payload_bytes`
//!   through [`AuditWriter::emit`] then one [`AuditWriter::flush_blocking`],
//!   timed until durable. The queue is sized to the burst so nothing is
//!   dropped, and `written` (records counted in the file afterwards) must
//!   equal `events`;
//! - **send**: the same events through [`AuditWriter::send_blocking`] with
//!   the default queue (bounded memory, backpressure instead of drops);
//! - the p99 latency of one `emit`, and of emitting one critical event and
//!   flushing it;
//! - verification of the emit log, in records per second: with the worker
//!   secret (both layers: the HMAC chain and the Merkle tree), and without
//!   it ([`crate::verify_public`] against a checkpoint signed by a log key:
//!   leaves recomputed, the whole tree and the signed root checked).
//!
//! ```no_run
//! let report = audit_core::bench::run(&audit_core::bench::BenchConfig::default())?;
//! println!("{}", serde_json::to_string(&report)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{TransactionBehavior, params};
use seal_crypto::WorkerSecret;
use serde::Serialize;
use serde_json::json;

mod proofs;

pub use proofs::{ProofConfig, ProofReport, run_proofs};

use crate::schema::{self, INSERT_RECORD};
use crate::{AuditError, AuditEvent, AuditLog, AuditWriter, Severity, WriterConfig};

const WORKER: &str = "bench-worker";
const BASELINE_BATCH: usize = 1000;
/// Verification passes whose median is reported.
const VERIFY_ROUNDS: usize = 5;

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchConfig {
    /// Events to write (default 200,000).
    pub events: u64,
    /// Approximate serialized size of each event's payload (default 300).
    pub payload_bytes: usize,
    /// Critical-flush samples for the p99 (default 200).
    pub flush_samples: usize,
    /// Also measure the `send_blocking` path (default true).
    pub measure_send: bool,
    /// Directory for the database files (default: a fresh temporary one,
    /// removed afterwards).
    pub dir: Option<PathBuf>,
    /// The proof benchmark ([`run_proofs`]; default: a tree of 10,000,000
    /// leaves), or `None` to skip it.
    pub proofs: Option<ProofConfig>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            events: 200_000,
            payload_bytes: 300,
            flush_samples: 200,
            measure_send: true,
            dir: None,
            proofs: Some(ProofConfig::default()),
        }
    }
}

/// The figures of one run. Serialized, it is the JSON line the example prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// Events emitted.
    pub events: u64,
    /// Records counted in the database after the flush (must equal `events`).
    pub written: u64,
    /// Events `emit` dropped (0 when the queue holds the burst).
    pub dropped: u64,
    /// Events per second through `emit` + `flush` until durable.
    pub events_per_s: f64,
    /// Rows per second of raw SQLite inserts in batches of 1,000.
    pub baseline_rows_per_s: f64,
    /// `events_per_s / baseline_rows_per_s`.
    pub ratio_to_baseline: f64,
    /// Events per second through `send_blocking` + `flush` with the default
    /// queue (0 when not measured).
    pub send_events_per_s: f64,
    /// Records verified per second (whole chain, MACs checked, and the
    /// Merkle tree against the recomputed leaves).
    pub verify_records_per_s: f64,
    /// Records verified per second without the secret
    /// ([`crate::verify_public`] against a signed checkpoint).
    pub public_verify_records_per_s: f64,
    /// Proof generation and verification on a large tree (when measured).
    pub proofs: Option<ProofReport>,
    /// p99 latency of one `emit`, microseconds.
    pub emit_p99_us: f64,
    /// p99 latency of emitting one critical event and flushing it, microseconds.
    pub critical_flush_p99_us: f64,
}

/// The median of some rates (0 for none).
fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn p99_us(samples: &mut [Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let rank = ((samples.len() as f64) * 0.99).ceil() as usize;
    let index = rank.saturating_sub(1).min(samples.len() - 1);
    samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// The synthetic event number `i`, with a payload of about `payload_bytes`.
pub fn bench_event(i: u64, payload_bytes: usize) -> Result<AuditEvent, AuditError> {
    let pad = payload_bytes.saturating_sub(60).max(1);
    AuditEvent::custom(
        "BenchEvent",
        Severity::Medium,
        Some(&format!("bench-shard-{}", i % 8)),
        json!({"i": i, "device": 0, "bytes": 1u64 << 30, "pad": "x".repeat(pad)}),
    )
}

fn count_records(path: &Path) -> Result<u64, AuditError> {
    let log = AuditLog::open_read(path, WORKER, &bench_secret()?)?;
    log.record_count()
}

fn bench_secret() -> Result<WorkerSecret, AuditError> {
    Ok(WorkerSecret::new(&[0x5a; 32])?)
}

fn baseline(path: &Path, config: &BenchConfig) -> Result<f64, AuditError> {
    let mut conn = schema::connect(path)?;
    schema::enable_wal(&conn)?;
    schema::create_if_empty(&mut conn, path, WORKER, 0)?;
    let mut rows = Vec::with_capacity(usize::try_from(config.events).unwrap_or(0));
    for i in 0..config.events {
        let event = bench_event(i, config.payload_bytes)?;
        let json = serde_json::to_string(event.payload()).unwrap_or_default();
        let id = uuid::Uuid::now_v7();
        rows.push((i + 1, id, event, json));
    }
    let fake_mac = [0xabu8; 32];
    let start = Instant::now();
    for chunk in rows.chunks(BASELINE_BATCH) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(AuditError::storage("baseline insert"))?;
        {
            let mut stmt = tx
                .prepare_cached(INSERT_RECORD)
                .map_err(AuditError::storage("baseline insert"))?;
            for (seq, id, event, json) in chunk {
                stmt.execute(params![
                    i64::try_from(*seq).unwrap_or(i64::MAX),
                    id.as_bytes().as_slice(),
                    event.timestamp().timestamp_nanos_opt().unwrap_or(0),
                    event.kind(),
                    event.severity().rank(),
                    WORKER,
                    event.shard_id(),
                    json,
                    fake_mac.as_slice(),
                    fake_mac.as_slice(),
                ])
                .map_err(AuditError::storage("baseline insert"))?;
            }
        }
        tx.commit()
            .map_err(AuditError::storage("baseline insert"))?;
    }
    Ok(per_second(config.events, start.elapsed()))
}

/// Runs the benchmark (see the module documentation).
pub fn run(config: &BenchConfig) -> Result<BenchReport, AuditError> {
    let (dir, remove) = match &config.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("audit-bench-{}", uuid::Uuid::new_v4())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir).map_err(AuditError::io("creating the bench directory"))?;
    let result = run_in(&dir, config);
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(dir: &Path, config: &BenchConfig) -> Result<BenchReport, AuditError> {
    let secret = bench_secret()?;
    let baseline_rows_per_s = baseline(&dir.join("baseline.db"), config)?;

    // emit + flush
    let path = dir.join("emit.db");
    let events: Vec<AuditEvent> = (0..config.events)
        .map(|i| bench_event(i, config.payload_bytes))
        .collect::<Result<_, _>>()?;
    let capacity = usize::try_from(config.events)
        .unwrap_or(usize::MAX)
        .max(WriterConfig::default().queue_capacity);
    let writer = AuditWriter::open(
        &path,
        WORKER,
        &secret,
        WriterConfig::default().with_queue_capacity(capacity),
    )?;
    let mut emit_latency = Vec::with_capacity(events.len());
    let start = Instant::now();
    for event in events {
        let t = Instant::now();
        let _ = writer.emit(event);
        emit_latency.push(t.elapsed());
    }
    writer.flush_blocking()?;
    let elapsed = start.elapsed();
    let events_per_s = per_second(config.events, elapsed);
    let written = count_records(&path)?;
    let dropped = writer.stats().dropped;

    let mut flush_latency = Vec::with_capacity(config.flush_samples);
    for i in 0..config.flush_samples {
        let event = AuditEvent::custom(
            "BenchCritical",
            Severity::Critical,
            None,
            json!({"sample": i}),
        )?;
        let t = Instant::now();
        let _ = writer.emit(event);
        writer.flush_blocking()?;
        flush_latency.push(t.elapsed());
    }
    writer.shutdown_blocking()?;

    // Verification is quick and the machine noisy: report the median of
    // VERIFY_ROUNDS passes over the same file.
    let log = AuditLog::open_read(&path, WORKER, &secret)?;
    let mut verify_rates = Vec::with_capacity(VERIFY_ROUNDS);
    for _ in 0..VERIFY_ROUNDS {
        let start = Instant::now();
        let report = log.verify(None)?;
        let verify_elapsed = start.elapsed();
        if let Some(failure) = report.failure {
            return Err(AuditError::Corrupt {
                seq: failure.seq.unwrap_or(0),
                detail: format!("benchmark log does not verify: {failure}"),
            });
        }
        verify_rates.push(per_second(report.records_checked, verify_elapsed));
    }
    let verify_records_per_s = median(verify_rates);
    drop(log);

    // Public verification: sign a checkpoint with a fresh log key, then
    // check the file against it with the public key alone.
    let log_key = crate::generate_log_key(WORKER)?;
    AuditLog::open(&path, WORKER, &secret)?.signed_checkpoint(&log_key)?;
    let vkey = log_key.verifier_key();
    let mut public_rates = Vec::with_capacity(VERIFY_ROUNDS);
    for _ in 0..VERIFY_ROUNDS {
        let start = Instant::now();
        let report = crate::verify_public(&path, &vkey, None, None, &[], 0)?;
        let elapsed = start.elapsed();
        if let Some(failure) = report.failure {
            return Err(AuditError::Corrupt {
                seq: 0,
                detail: format!("benchmark log does not verify publicly: {failure}"),
            });
        }
        public_rates.push(per_second(report.records_checked, elapsed));
    }
    let public_verify_records_per_s = median(public_rates);

    let send_events_per_s = if config.measure_send {
        let path = dir.join("send.db");
        let writer = AuditWriter::open(&path, WORKER, &secret, WriterConfig::default())?;
        let events: Vec<AuditEvent> = (0..config.events)
            .map(|i| bench_event(i, config.payload_bytes))
            .collect::<Result<_, _>>()?;
        let start = Instant::now();
        for event in events {
            writer.send_blocking(event)?;
        }
        writer.flush_blocking()?;
        let rate = per_second(config.events, start.elapsed());
        writer.shutdown_blocking()?;
        rate
    } else {
        0.0
    };

    let proofs = match &config.proofs {
        Some(proof_config) => Some(run_proofs(dir, proof_config)?),
        None => None,
    };

    Ok(BenchReport {
        proofs,
        events: config.events,
        written,
        dropped,
        events_per_s,
        baseline_rows_per_s,
        ratio_to_baseline: events_per_s / baseline_rows_per_s.max(1e-9),
        send_events_per_s,
        verify_records_per_s,
        public_verify_records_per_s,
        emit_p99_us: p99_us(&mut emit_latency),
        critical_flush_p99_us: p99_us(&mut flush_latency),
    })
}

/// The human summary: one figure per line, each beside its baseline where
/// it has one.
impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "events                 {}", self.events)?;
        writeln!(f, "written                {}", self.written)?;
        writeln!(f, "dropped                {}", self.dropped)?;
        writeln!(f, "emit+flush events/s    {:.0}", self.events_per_s)?;
        writeln!(f, "baseline rows/s        {:.0}", self.baseline_rows_per_s)?;
        writeln!(f, "ratio to baseline      {:.2}", self.ratio_to_baseline)?;
        writeln!(f, "send_blocking events/s {:.0}", self.send_events_per_s)?;
        writeln!(
            f,
            "verify records/s       {:.0} (median of {VERIFY_ROUNDS})",
            self.verify_records_per_s
        )?;
        writeln!(
            f,
            "public verify records/s {:.0} (median of {VERIFY_ROUNDS}, no secret)",
            self.public_verify_records_per_s
        )?;
        if let Some(proofs) = &self.proofs {
            writeln!(f, "{proofs}")?;
        }
        writeln!(f, "emit p99               {:.2} us", self.emit_p99_us)?;
        write!(
            f,
            "critical flush p99     {:.0} us",
            self.critical_flush_p99_us
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac_060_small_bench_writes_every_event() {
        let config = BenchConfig {
            events: 2_000,
            flush_samples: 5,
            proofs: Some(ProofConfig {
                leaves: 3_000,
                batch: 100,
                samples: 10,
            }),
            ..BenchConfig::default()
        };
        let report = run(&config).unwrap();
        assert_eq!(report.written, 2_000);
        assert_eq!(report.dropped, 0);
        assert!(report.events_per_s > 0.0 && report.baseline_rows_per_s > 0.0);
        assert!(report.verify_records_per_s > 0.0);
        // AC-098: public verification of the same log, against a checkpoint.
        assert!(report.public_verify_records_per_s > 0.0);
        let size = serde_json::to_string(bench_event(1, 300).unwrap().payload())
            .unwrap()
            .len();
        assert!((250..=350).contains(&size), "{size}");
    }

    #[test]
    fn p99_picks_the_right_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert!((p99_us(&mut v) - 99.0).abs() < 1e-6);
        assert!(p99_us(&mut []).abs() < 1e-9);
    }
}
