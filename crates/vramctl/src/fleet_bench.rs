//! `vramctl bench fleet [--workers N] [--events N] [--batch N] [--restarts]
//! [--outage-s N] [--json]` (spec COL-BENCH-001): the fleet's ingest path
//! under load on loopback, every piece real.
//!
//! N simulated workers each write events with the real audit writer
//! (`AuditWriter`, one SQLite log each, in a temporary directory) while
//! their shippers (`audit_ship::ship::Shipper`) send them to a collector
//! (`audit_collector::Collector` in this process, on 127.0.0.1) that
//! verifies every batch and stores it in PostgreSQL (a throwaway server of
//! the bench's own unless `DATABASE_URL` is set). Worker 0's shipper runs
//! as a child process (`vramctl audit ship`), so its peak RSS (`VmHWM`) is
//! one shipper's; the others are threads of this process, whose
//! per-batch acknowledgements give the lag.
//!
//! Measured in the same run, on the same database: the ingest rate beside
//! a plain `COPY … FROM STDIN BINARY` of the same rows into a table of the
//! same shape; lag p50/p99 (per record, the time its batch was
//! acknowledged, that is verified and committed, minus the record's own
//! timestamp); rows lost and duplicated per worker; each worker's central
//! tree root against its own log's. With `--restarts` the collector is
//! stopped for `--outage-s` seconds and started again after a third of
//! the records, and PostgreSQL (our own server only) restarted after two
//! thirds.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit_collector::ingest::{RECORD_COLUMNS, RECORD_TYPES};
use audit_core::{AuditEvent, AuditWriter, PublicLog, WriterConfig};
use audit_ship::ship::{ShipConfig, Shipper, Step};
use serde::Serialize;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;

use crate::cli_error::CliError;
use crate::fleet::{LocalCollector, Postgres, SimWorker, runtime};
use crate::output::{self, errln};

/// Arguments of `vramctl bench fleet`.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// Simulated workers (at least 2: worker 0's shipper is a child
    /// process, the others' are threads that time the lag).
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(2..=1024))]
    workers: u64,
    /// Events each worker writes and ships.
    #[arg(long, value_name = "N", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    events: u64,
    /// Events per second each worker writes (0: as fast as the writer
    /// goes, which saturates the collector: the lag is then the backlog's
    /// drain time; a rate the fleet sustains gives the lag of a fleet
    /// keeping up).
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate: u64,
    /// Write every worker's events first, then ship: the ingest figure is
    /// the collector draining the backlog, without the writers' cost on
    /// the same cores (the lag is then the wait for the shippers).
    #[arg(long, conflicts_with = "rate")]
    preload: bool,
    /// Records per batch at most.
    #[arg(long, value_name = "N", default_value_t = audit_ship::ship::DEFAULT_BATCH_RECORDS,
          value_parser = clap::value_parser!(u64).range(1..=audit_ship::ship::MAX_BATCH_RECORDS))]
    batch: u64,
    /// Restart the collector (down for --outage-s) after a third of the
    /// records and PostgreSQL (our own server only) after two thirds.
    #[arg(long)]
    restarts: bool,
    /// Seconds the collector stays down with --restarts (the issue asks 30).
    #[arg(long, value_name = "N", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    outage_s: u64,
    /// Also print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

/// What one run measured (the JSON line).
#[derive(Debug, Serialize)]
struct FleetReport {
    workers: u64,
    events_per_worker: u64,
    rate_per_worker: u64,
    preload: bool,
    batch: u64,
    records_written: u64,
    records_central: u64,
    wall_s: f64,
    writers_events_per_s: f64,
    ingest_records_per_s: f64,
    copy_baseline_rows_per_s: f64,
    ingest_vs_copy: f64,
    lost: u64,
    duplicated: u64,
    chains_verified: u64,
    alerts: i64,
    /// PostgreSQL's bytes per record held: `records` with its indexes,
    /// `tree_blocks` and `ingest_checkpoints`, over the records held.
    central_bytes_per_record: f64,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    lag_max_ms: f64,
    lag_records: u64,
    shipper_peak_rss_mib: f64,
    shipper_rss_before_outage_mib: Option<f64>,
    shipper_rss_end_of_outage_mib: Option<f64>,
    collector_restarted: bool,
    outage_s: Option<u64>,
    postgres_restarted: bool,
    database: String,
}

/// One in-process shipper's acknowledgements: (last seq of the batch,
/// wall-clock ms when the answer came).
type Acks = Vec<(u64, i64)>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A `/proc/PID/status` field in kB, as MiB.
fn proc_status_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Writes `events` events through the real writer, then closes it: the
/// log's size.
fn write_events(writer: AuditWriter, worker: &str, events: u64, rate: u64) -> Result<u64, String> {
    let started = Instant::now();
    for i in 0..events {
        if rate > 0 && i % 50 == 0 {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let event = AuditEvent::seal_verified(&format!("bench-model:tp{}", i % 8), 0);
        writer
            .send_blocking(event)
            .map_err(|e| format!("{worker}: writing event {i}: {e}"))?;
    }
    let path = writer.path().to_path_buf();
    writer
        .shutdown_blocking()
        .map_err(|e| format!("{worker}: closing the writer: {e}"))?;
    PublicLog::open(&path)
        .and_then(|log| log.tree_size())
        .map_err(|e| format!("{worker}: reading the log: {e}"))
}

type WriterThread = std::thread::JoinHandle<Result<(u64, Instant), String>>;

/// Waits for every writer: the logs' sizes and when the last finished.
fn join_writers(
    threads: Vec<WriterThread>,
    writing: Instant,
) -> Result<(Vec<u64>, Instant), CliError> {
    let mut written = Vec::new();
    let mut done = writing;
    for thread in threads {
        let (size, at) = thread
            .join()
            .map_err(|_| CliError::usage("a writer thread panicked"))?
            .map_err(CliError::usage)?;
        written.push(size);
        done = done.max(at);
    }
    Ok((written, done))
}

/// Ships the log at `db` until the collector holds `target` records (set
/// once the writer is done): the acknowledgements.
fn ship(
    db: PathBuf,
    key: audit_core::tlog::SignerKey,
    config: ShipConfig,
    target: &AtomicU64,
    progress: &AtomicU64,
) -> Result<Acks, String> {
    let mut shipper = Shipper::new(&db, config.clone(), Some(key)).map_err(|e| e.to_string())?;
    let mut acks = Acks::new();
    let mut backoff = Duration::from_millis(250);
    loop {
        match shipper.step() {
            Ok(Step::Shipped { to, stored, .. }) => {
                acks.push((to, now_ms()));
                progress.fetch_add(stored, Ordering::Relaxed);
                backoff = Duration::from_millis(250);
            }
            Ok(Step::Resync { .. }) => {}
            Ok(Step::CaughtUp { size }) => {
                if size >= target.load(Ordering::Acquire) {
                    return Ok(acks);
                }
                std::thread::sleep(config.interval);
            }
            Ok(Step::Waiting { .. }) => std::thread::sleep(config.interval),
            Err(e) if e.is_retriable() => {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(config.max_backoff);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The lag of every record of the log at `db` (ms): the first
/// acknowledgement at or past its seq minus its timestamp.
fn lags(db: &PathBuf, acks: &Acks, size: u64, out: &mut Vec<i64>) -> Result<(), String> {
    let log = PublicLog::open(db).map_err(|e| e.to_string())?;
    let mut ack = acks.iter().peekable();
    let mut from = 1;
    while from <= size {
        let to = size.min(from + 9_999);
        for record in log.records(from, to).map_err(|e| e.to_string())? {
            while ack.peek().is_some_and(|(last, _)| *last < record.seq) {
                ack.next();
            }
            if let Some((_, at)) = ack.peek() {
                out.push(at - record.timestamp.timestamp_millis());
            }
        }
        from = to + 1;
    }
    Ok(())
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or_default() as f64
}

/// The baseline: every row the collector stored, read back `batch` at a
/// time and written with `COPY copy_baseline (…) FROM STDIN BINARY`, one
/// transaction per batch, into a table `LIKE records INCLUDING ALL` (its
/// primary key too). Only the COPY and commit are timed: rows and seconds.
async fn copy_baseline(url: &str, batch: u64) -> Result<(u64, f64), String> {
    let text = |e: tokio_postgres::Error| e.to_string();
    let mut client = audit_collector::db::connect_url(url)
        .await
        .map_err(|e| e.to_string())?;
    client
        .batch_execute("DROP TABLE IF EXISTS copy_baseline; CREATE TABLE copy_baseline (LIKE records INCLUDING ALL)")
        .await
        .map_err(text)?;
    let origins: Vec<(String, i64)> = client
        .query("SELECT origin, size FROM ingested ORDER BY origin", &[])
        .await
        .map_err(text)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let select = format!(
        "SELECT {RECORD_COLUMNS} FROM records WHERE origin = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq"
    );
    let step = i64::try_from(batch).unwrap_or(10_000);
    let (mut rows_copied, mut seconds) = (0u64, 0.0f64);
    for (origin, size) in origins {
        let mut from = 1i64;
        while from <= size {
            let to = size.min(from + step - 1);
            let rows = client
                .query(&select, &[&origin, &from, &to])
                .await
                .map_err(text)?;
            let started = Instant::now();
            let tx = client.transaction().await.map_err(text)?;
            let sink = tx
                .copy_in(&format!(
                    "COPY copy_baseline ({RECORD_COLUMNS}) FROM STDIN BINARY"
                ))
                .await
                .map_err(text)?;
            let writer = BinaryCopyInWriter::new(sink, RECORD_TYPES);
            let mut writer = std::pin::pin!(writer);
            for row in &rows {
                let (origin, seq, id, ts): (String, i64, Vec<u8>, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                let (kind, severity, worker, shard): (String, i16, String, Option<String>) =
                    (row.get(4), row.get(5), row.get(6), row.get(7));
                let (event, prev_mac, mac, leaf): (String, Vec<u8>, Vec<u8>, Vec<u8>) =
                    (row.get(8), row.get(9), row.get(10), row.get(11));
                let values: [&(dyn ToSql + Sync); 12] = [
                    &origin, &seq, &id, &ts, &kind, &severity, &worker, &shard, &event, &prev_mac,
                    &mac, &leaf,
                ];
                writer.as_mut().write(&values).await.map_err(text)?;
            }
            rows_copied += writer.as_mut().finish().await.map_err(text)?;
            tx.commit().await.map_err(text)?;
            seconds += started.elapsed().as_secs_f64();
            from = to + 1;
        }
    }
    client
        .batch_execute("DROP TABLE copy_baseline")
        .await
        .map_err(text)?;
    Ok((rows_copied, seconds))
}

/// Per worker centrally: rows, distinct seqs, highest seq, tree size and
/// root held, and the checkpoint the last batch accepted ended at.
type Central = (i64, i64, i64, Option<(i64, Vec<u8>)>, Option<String>);

async fn central(url: &str, origin: &str) -> Result<Central, String> {
    let text = |e: tokio_postgres::Error| e.to_string();
    let client = audit_collector::db::connect_url(url)
        .await
        .map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT seq), COALESCE(max(seq), 0) FROM records WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(text)?;
    let held = client
        .query_opt(
            "SELECT size, root FROM ingested WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(text)?
        .map(|r| (r.get(0), r.get(1)));
    let last_checkpoint = client
        .query_opt(
            "SELECT checkpoint FROM ingest_checkpoints WHERE origin = $1 ORDER BY size DESC LIMIT 1",
            &[&origin],
        )
        .await
        .map_err(text)?
        .map(|r| r.get(0));
    Ok((row.get(0), row.get(1), row.get(2), held, last_checkpoint))
}

/// Whether the tree held (`size`, `root`) is the one the worker's last
/// checkpoint signs: `note` verifies under the worker's verifier key, and
/// its size and root are those held and those of the worker's own log at
/// its last record (`size`, `log_root`).
fn chain_verified(
    held: Option<&(i64, Vec<u8>)>,
    note: Option<&str>,
    vkey: &audit_core::tlog::VerifierKey,
    size: u64,
    log_root: &audit_core::tlog::Hash,
) -> bool {
    let Some((held_size, held_root)) = held else {
        return false;
    };
    let Some(checkpoint) = note
        .and_then(|n| audit_core::tlog::Note::parse(n.as_bytes()).ok())
        .filter(|n| n.verify(std::slice::from_ref(vkey)).is_ok())
        .and_then(|n| audit_core::tlog::Checkpoint::from_text(n.text()).ok())
    else {
        return false;
    };
    u64::try_from(*held_size).is_ok_and(|s| s == size)
        && checkpoint.size() == size
        && checkpoint.root() == log_root
        && held_root.as_slice() == log_root.as_bytes().as_slice()
}

/// The child `vramctl audit ship` of worker 0, killed when dropped.
struct ChildShipper(Child);

impl Drop for ChildShipper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(args: &FleetArgs) -> Result<(), CliError> {
    let usage = CliError::usage;
    let runtime = runtime()?;
    let pg = Postgres::start(&runtime, "bench_fleet", true)?;
    let result = bench(args, &runtime, &pg);
    let closed = pg.close(&runtime);
    let report = result?;
    closed?;
    output::lines(&report.to_string())?;
    if args.json {
        let line = serde_json::to_string(&report)
            .map_err(|e| usage(format!("cannot encode JSON: {e}")))?;
        output::json_line(&line)?;
    }
    if report.lost > 0 || report.duplicated > 0 || report.chains_verified < report.workers {
        return Err(CliError::check(format!(
            "{} records lost, {} duplicated, {} of {} chains verified centrally",
            report.lost, report.duplicated, report.chains_verified, report.workers
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_lines)]
fn bench(
    args: &FleetArgs,
    runtime: &tokio::runtime::Runtime,
    pg: &Postgres,
) -> Result<FleetReport, CliError> {
    let usage = CliError::usage;
    errln!("bench fleet: {}", pg.describe());
    let witness = audit_collector::witness_key::generate_witness_key("bench.collector")
        .map_err(|e| usage(e.to_string()))?;
    let mut collector = LocalCollector::start(runtime, pg.url(), witness)?;
    let dir = tempfile::Builder::new()
        .prefix("vramctl-bench-fleet-")
        .tempdir()
        .map_err(|e| usage(format!("cannot create a temporary directory: {e}")))?;
    let mut workers = Vec::new();
    for i in 0..args.workers {
        let worker = SimWorker::new(
            &dir.path().join(format!("w{i:04}")),
            &format!("bench-w{i:04}"),
        )?;
        worker.register(runtime, pg.url())?;
        workers.push(worker);
    }
    let mut config = ShipConfig::new(&collector.url()).map_err(|e| usage(e.to_string()))?;
    config.batch = args.batch;
    config.interval = Duration::from_millis(50);
    config.max_backoff = Duration::from_secs(1);
    config.timeout = Duration::from_secs(60);

    // The writers open their logs before any shipper looks at them.
    let mut writers = Vec::new();
    for worker in &workers {
        writers.push(
            AuditWriter::open(
                &worker.db,
                &worker.worker_id,
                &worker.secret,
                WriterConfig::default(),
            )
            .map_err(|e| usage(format!("{}: {e}", worker.worker_id)))?,
        );
    }
    let targets: Vec<Arc<AtomicU64>> = workers
        .iter()
        .map(|_| Arc::new(AtomicU64::new(u64::MAX)))
        .collect();
    let progress = Arc::new(AtomicU64::new(0));
    let writing = Instant::now();
    let mut writer_threads: Vec<WriterThread> = Vec::new();
    for ((writer, worker), target) in writers.into_iter().zip(&workers).zip(&targets) {
        let (id, events, target) = (worker.worker_id.clone(), args.events, Arc::clone(target));
        let rate = args.rate;
        writer_threads.push(std::thread::spawn(move || {
            let size = write_events(writer, &id, events, rate)?;
            target.store(size, Ordering::Release);
            Ok::<(u64, Instant), String>((size, Instant::now()))
        }));
    }
    // With --preload the shippers start once every log is written: the
    // ingest is then the collector draining a backlog, the writers' cost
    // not in it.
    let mut joined = None;
    if args.preload {
        joined = Some(join_writers(writer_threads, writing)?);
        writer_threads = Vec::new();
    }
    let started = Instant::now();

    // Worker 0's shipper: a child process, for its own peak RSS.
    let exe =
        std::env::current_exe().map_err(|e| usage(format!("cannot find vramctl itself: {e}")))?;
    let first = workers
        .first()
        .ok_or_else(|| CliError::usage("no worker"))?;
    let child = ChildShipper(
        Command::new(exe)
            .arg("audit")
            .arg("ship")
            .arg(&first.db)
            .arg("--collector")
            .arg(collector.url())
            .arg("--key")
            .arg(&first.key_file)
            .arg("--batch")
            .arg(args.batch.to_string())
            .arg("--interval-ms")
            .arg("50")
            .arg("--log")
            .arg("error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| usage(format!("cannot start `vramctl audit ship`: {e}")))?,
    );
    let child_pid = child.0.id();

    let mut shipper_threads = Vec::new();
    for (worker, target) in workers.iter().zip(&targets).skip(1) {
        let (db, key, config) = (worker.db.clone(), worker.key.clone(), config.clone());
        let (target, progress) = (Arc::clone(target), Arc::clone(&progress));
        shipper_threads.push(std::thread::spawn(move || {
            let acks = ship(db, key, config, &target, &progress)?;
            Ok::<(Acks, Instant), String>((acks, Instant::now()))
        }));
    }

    // Restarts, once a third and two thirds of the in-process workers'
    // records are in.
    let expected_in_process = (args.workers - 1) * args.events;
    let wait_progress = |fraction: u64| {
        while progress.load(Ordering::Relaxed) * 3 < expected_in_process * fraction
            && !shipper_threads
                .iter()
                .all(std::thread::JoinHandle::is_finished)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let (mut rss_before, mut rss_after, mut pg_restarted) = (None, None, false);
    if args.restarts {
        wait_progress(1);
        rss_before = proc_status_mib(child_pid, "VmRSS:");
        errln!(
            "bench fleet: collector stopped for {} s after {} records",
            args.outage_s,
            progress.load(Ordering::Relaxed)
        );
        collector.stop(runtime);
        std::thread::sleep(Duration::from_secs(args.outage_s));
        rss_after = proc_status_mib(child_pid, "VmRSS:");
        collector.restart(runtime, Duration::ZERO)?;
        errln!(
            "bench fleet: collector started again on {}",
            collector.url()
        );
        if pg.own_server() {
            wait_progress(2);
            errln!(
                "bench fleet: PostgreSQL restarted (immediate) after {} records",
                progress.load(Ordering::Relaxed)
            );
            pg.restart()?;
            pg_restarted = true;
        } else {
            errln!("bench fleet: PostgreSQL of DATABASE_URL is not ours: not restarted");
        }
    }

    let (written, writers_done) = match joined {
        Some(joined) => joined,
        None => join_writers(writer_threads, writing)?,
    };
    let mut acks = Vec::new();
    let mut done = started;
    for thread in shipper_threads {
        let (a, at) = thread
            .join()
            .map_err(|_| CliError::usage("a shipper thread panicked"))?
            .map_err(|e| usage(format!("a shipper stopped: {e}")))?;
        acks.push(a);
        done = done.max(at);
    }
    // Worker 0 through the child: done when the collector holds its log.
    let first_size = written.first().copied().unwrap_or_default();
    let size_url = format!(
        "{}/workers/{}/size",
        collector.url(),
        first.origin.replace('/', "%2F")
    );
    loop {
        let held = audit_ship::http::get(&size_url, Duration::from_secs(10), 64 * 1024)
            .ok()
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .and_then(|v| v.get("size").and_then(serde_json::Value::as_u64));
        if held.is_some_and(|h| h >= first_size) {
            break;
        }
        if started.elapsed() > Duration::from_secs(3_600) {
            return Err(CliError::usage(
                "worker 0's shipper did not catch up within an hour",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done = done.max(Instant::now());
    let wall = done.duration_since(started).as_secs_f64();
    let shipper_peak = proc_status_mib(child_pid, "VmHWM:").unwrap_or_default();
    drop(child);
    collector.stop(runtime);

    // Lost, duplicated, chains.
    let (mut lost, mut duplicated, mut verified, mut central_rows) = (0u64, 0u64, 0u64, 0u64);
    for (worker, &size) in workers.iter().zip(&written) {
        let (rows, distinct, max, held, last_checkpoint) = runtime
            .block_on(central(pg.url(), &worker.origin))
            .map_err(usage)?;
        let (rows, distinct, max) = (
            u64::try_from(rows).unwrap_or_default(),
            u64::try_from(distinct).unwrap_or_default(),
            u64::try_from(max).unwrap_or_default(),
        );
        central_rows += rows;
        lost += size.saturating_sub(distinct);
        duplicated += (rows - distinct) + max.saturating_sub(size);
        let root = PublicLog::open(&worker.db)
            .and_then(|log| log.tree_root(size))
            .map_err(|e| usage(format!("{}: {e}", worker.worker_id)))?;
        if chain_verified(
            held.as_ref(),
            last_checkpoint.as_deref(),
            &worker.key.verifier_key(),
            size,
            &root,
        ) {
            verified += 1;
        } else {
            errln!(
                "bench fleet: {}: the central tree is not the one its last checkpoint signs",
                worker.worker_id
            );
        }
    }
    let alerts = runtime
        .block_on(async {
            let client = audit_collector::db::connect_url(pg.url())
                .await
                .map_err(|e| e.to_string())?;
            client
                .query_one("SELECT count(*) FROM alerts", &[])
                .await
                .map(|r| r.get::<_, i64>(0))
                .map_err(|e| e.to_string())
        })
        .map_err(usage)?;

    let central_bytes = runtime
        .block_on(async {
            let client = audit_collector::db::connect_url(pg.url())
                .await
                .map_err(|e| e.to_string())?;
            client
                .query_one(
                    "SELECT (pg_total_relation_size('records') + pg_total_relation_size('tree_blocks') \
                     + pg_total_relation_size('ingest_checkpoints'))::bigint",
                    &[],
                )
                .await
                .map(|r| r.get::<_, i64>(0))
                .map_err(|e| e.to_string())
        })
        .map_err(usage)?;

    let mut all_lags = Vec::new();
    for ((worker, &size), acks) in workers.iter().zip(&written).skip(1).zip(&acks) {
        lags(&worker.db, acks, size, &mut all_lags).map_err(usage)?;
    }
    all_lags.sort_unstable();

    let (copied, copy_seconds) = runtime
        .block_on(copy_baseline(pg.url(), args.batch))
        .map_err(|e| usage(format!("the COPY baseline: {e}")))?;
    let total: u64 = written.iter().sum();
    let ingest = central_rows as f64 / wall;
    let copy = if copy_seconds > 0.0 {
        copied as f64 / copy_seconds
    } else {
        0.0
    };
    Ok(FleetReport {
        workers: args.workers,
        events_per_worker: args.events,
        rate_per_worker: args.rate,
        batch: args.batch,
        records_written: total,
        records_central: central_rows,
        wall_s: wall,
        writers_events_per_s: total as f64 / writers_done.duration_since(writing).as_secs_f64(),
        preload: args.preload,
        ingest_records_per_s: ingest,
        copy_baseline_rows_per_s: copy,
        ingest_vs_copy: if copy > 0.0 { ingest / copy } else { 0.0 },
        lost,
        duplicated,
        chains_verified: verified,
        alerts,
        central_bytes_per_record: if central_rows > 0 {
            central_bytes as f64 / central_rows as f64
        } else {
            0.0
        },
        lag_p50_ms: percentile(&all_lags, 50.0),
        lag_p99_ms: percentile(&all_lags, 99.0),
        lag_max_ms: all_lags.last().copied().unwrap_or_default() as f64,
        lag_records: all_lags.len() as u64,
        shipper_peak_rss_mib: shipper_peak,
        shipper_rss_before_outage_mib: rss_before,
        shipper_rss_end_of_outage_mib: rss_after,
        collector_restarted: args.restarts,
        outage_s: args.restarts.then_some(args.outage_s),
        postgres_restarted: pg_restarted,
        database: pg.describe(),
    })
}

impl std::fmt::Display for FleetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "fleet: {} workers x {} events ({}), batches of <= {}, on loopback; {}",
            self.workers,
            self.events_per_worker,
            if self.preload {
                "all written first, then shipped".to_owned()
            } else if self.rate_per_worker == 0 {
                "each written as fast as the writer goes".to_owned()
            } else {
                format!("each worker writing {} events/s", self.rate_per_worker)
            },
            self.batch,
            self.database
        )?;
        writeln!(
            f,
            "ingest     {:>12.0} records/s  verified and committed centrally ({} rows in {:.2} s; {} at {:.0} events/s)",
            self.ingest_records_per_s,
            self.records_central,
            self.wall_s,
            if self.preload {
                "the logs written before the shippers started"
            } else {
                "the writers running meanwhile on the same cores"
            },
            self.writers_events_per_s
        )?;
        writeln!(
            f,
            "baseline   {:>12.0} rows/s     COPY BINARY of the same rows into a table of the same shape, one connection, same run ({:.2}x)",
            self.copy_baseline_rows_per_s, self.ingest_vs_copy
        )?;
        writeln!(
            f,
            "lag        p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms  (batch acknowledged minus record timestamp, {} records of the {} in-process shippers)",
            self.lag_p50_ms,
            self.lag_p99_ms,
            self.lag_max_ms,
            self.lag_records,
            self.workers - 1
        )?;
        writeln!(
            f,
            "integrity  {} written, {} central: {} lost, {} duplicated; {} of {} chains verify centrally (tree held = the one the worker's last checkpoint signs = its log's at its last record); {} alerts",
            self.records_written,
            self.records_central,
            self.lost,
            self.duplicated,
            self.chains_verified,
            self.workers,
            self.alerts
        )?;
        writeln!(
            f,
            "storage    {:.0} bytes per record in PostgreSQL (records and their indexes, tree_blocks, ingest_checkpoints)",
            self.central_bytes_per_record
        )?;
        write!(
            f,
            "shipper    peak RSS {:.1} MiB (VmHWM of worker 0's `vramctl audit ship`, a child process)",
            self.shipper_peak_rss_mib
        )?;
        if let (Some(before), Some(after)) = (
            self.shipper_rss_before_outage_mib,
            self.shipper_rss_end_of_outage_mib,
        ) {
            write!(
                f,
                "; RSS {before:.1} MiB when the collector stopped, {after:.1} MiB after {} s down",
                self.outage_s.unwrap_or_default()
            )?;
        }
        writeln!(f)?;
        if self.collector_restarted {
            write!(
                f,
                "restarts   collector stopped {} s and started again; PostgreSQL {}",
                self.outage_s.unwrap_or_default(),
                if self.postgres_restarted {
                    "restarted (pg_ctl restart -m immediate)"
                } else {
                    "not restarted (not our server)"
                }
            )?;
        } else {
            write!(f, "restarts   none (run with --restarts [--outage-s N])")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// COL-BENCH-001: p99 of 1..=100 ms is 99 ms, of nothing 0.
    #[test]
    fn col_bench_001_percentiles() {
        let lags: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&lags, 50.0), 50.0);
        assert_eq!(percentile(&lags, 99.0), 99.0);
        assert_eq!(percentile(&lags, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
        assert_eq!(percentile(&[7], 99.0), 7.0);
    }

    /// COL-BENCH-001: a chain verifies centrally only when the tree held
    /// is the one the worker's last checkpoint signs, under its key, at
    /// the size and root of its own log.
    #[test]
    fn col_bench_001_chain_verified_needs_the_workers_signed_root() {
        let key = audit_core::generate_log_key("bench-w0000").unwrap();
        let origin = audit_core::log_origin("bench-w0000").unwrap();
        let root = audit_core::tlog::Hash::from_bytes([7; 32]);
        let other = audit_core::tlog::Hash::from_bytes([8; 32]);
        let sign = |size: u64, root: audit_core::tlog::Hash, key: &audit_core::tlog::SignerKey| {
            let note = audit_core::tlog::Checkpoint::new(&origin, size, root)
                .unwrap()
                .sign(key)
                .unwrap();
            String::from_utf8(note.to_bytes()).unwrap()
        };
        let vkey = key.verifier_key();
        let held = (5i64, root.as_bytes().to_vec());
        let note = sign(5, root, &key);
        assert!(chain_verified(Some(&held), Some(&note), &vkey, 5, &root));
        // Nothing held, no checkpoint, another size, another root.
        assert!(!chain_verified(None, Some(&note), &vkey, 5, &root));
        assert!(!chain_verified(Some(&held), None, &vkey, 5, &root));
        assert!(!chain_verified(Some(&held), Some(&note), &vkey, 6, &root));
        assert!(!chain_verified(Some(&held), Some(&note), &vkey, 5, &other));
        let held_other = (5i64, other.as_bytes().to_vec());
        assert!(!chain_verified(
            Some(&held_other),
            Some(&note),
            &vkey,
            5,
            &root
        ));
        // Signed by another key.
        let stranger = audit_core::generate_log_key("bench-w0000").unwrap();
        let forged = sign(5, root, &stranger);
        assert!(!chain_verified(Some(&held), Some(&forged), &vkey, 5, &root));
    }
}
