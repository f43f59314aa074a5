//! `vramctl audit ship DB --collector URL [--key FILE] [--batch N] [--once]
//! [--interval-ms N] [--timeout-ms N]`: ships the log's records to the fleet
//! collector with `audit_ship::ship` (spec `COL-SHIP-001` to
//! `COL-SHIP-004`), reading the log without the secret and never writing
//! it.
//!
//! With `--once`: ship until the collector holds every record of the log
//! as it is now, print a summary, exit 0; a collector that cannot be
//! reached is exit 2, a refusal (an alert on the collector) or a log the
//! collector holds more of is exit 1. Without: follow the log until
//! killed, retrying with backoff while the collector is down; a refusal
//! stops it with exit 1.

use std::path::PathBuf;
use std::time::Duration;

use audit_ship::ship::{DEFAULT_BATCH_RECORDS, MAX_BATCH_RECORDS, ShipConfig, ShipError, Shipper};

use crate::cli_error::CliError;
use crate::output::outln;

#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    /// The audit database (read only, no secret needed).
    db: PathBuf,
    /// The collector's base URL (plain http://), e.g. http://collector:7380.
    #[arg(long, value_name = "URL")]
    collector: String,
    /// The log key file (`PRIVATE+KEY+...`, mode 0600): signs a checkpoint
    /// at the end of every batch (not stored in the log). Without it,
    /// batches end at the checkpoints stored in the log.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Records per batch at most.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_RECORDS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BATCH_RECORDS))]
    batch: u64,
    /// Ship what the log holds now, then exit.
    #[arg(long)]
    once: bool,
    /// Milliseconds between looks at the log once caught up.
    #[arg(long, value_name = "N", default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    interval_ms: u64,
    /// Time allowed for each request, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: u64,
}

fn refused(e: &ShipError) -> CliError {
    if e.is_retriable() {
        CliError::usage(e.to_string())
    } else {
        CliError::check(e.to_string())
    }
}

pub fn run(args: &ShipArgs) -> Result<(), CliError> {
    let mut config = ShipConfig::new(&args.collector)
        .map_err(|e| CliError::usage(format!("--collector: {e}")))?;
    config.batch = args.batch;
    config.interval = Duration::from_millis(args.interval_ms);
    config.timeout = Duration::from_millis(args.timeout_ms);
    if !args.db.is_file() {
        return Err(CliError::usage(format!(
            "{} is not a file (give the worker's audit database)",
            args.db.display()
        )));
    }
    let key = args
        .key
        .as_deref()
        .map(audit_core::load_log_key)
        .transpose()?;
    let mut shipper =
        Shipper::new(&args.db, config, key).map_err(|e| CliError::usage(e.to_string()))?;
    if args.once {
        let held = shipper.ship_until_caught_up().map_err(|e| refused(&e))?;
        let status = shipper.status();
        outln!(
            "shipped: {} records in {} batch{}; the collector holds {held} of the {} records of {}; {} behind",
            status.records_stored,
            status.batches,
            if status.batches == 1 { "" } else { "es" },
            status.local_size,
            status.origin.as_deref().unwrap_or("?"),
            status.records_behind
        )?;
        return Ok(());
    }
    let handle = shipper
        .spawn()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let mut shown = None;
    loop {
        std::thread::sleep(Duration::from_millis(args.interval_ms.clamp(100, 5_000)));
        let status = handle.status();
        if let Some(stopped) = &status.stopped {
            return Err(CliError::check(stopped.clone()));
        }
        let line = (status.acknowledged, status.records_behind);
        if shown != Some(line) {
            shown = Some(line);
            outln!(
                "held {} of {} records, {} behind ({:.1} s){}",
                status
                    .acknowledged
                    .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                status.local_size,
                status.records_behind,
                status.seconds_behind,
                status
                    .last_error
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            )?;
        }
    }
}
