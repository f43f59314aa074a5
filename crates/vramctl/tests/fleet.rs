//! `vramctl bench fleet` (spec COL-BENCH-001) run tiny against a real
//! PostgreSQL: the server of `DATABASE_URL` (`cargo xtask pg` / `ci`),
//! where the bench makes and drops a database of its own. Timings are
//! printed, never asserted. Without `DATABASE_URL` the tests say they did
//! not run; with `VRAM_REQUIRE_POSTGRES=1` they fail instead.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../../../test-support/pg_server.rs"]
#[allow(dead_code)]
mod pg_server;

use common::{bin, code, text};

/// Runs `vramctl bench fleet ARGS --json` on the test server: the JSON
/// line it ends with.
fn bench_fleet(test: &str, args: &[&str]) -> Option<serde_json::Value> {
    let db = pg_server::test_database(test)?;
    let out = bin()
        .env(pg_server::DATABASE_URL, db.url())
        .args(["bench", "fleet", "--json"])
        .args(args)
        .output()
        .unwrap();
    let shown = text(&out);
    eprintln!("{shown}");
    assert_eq!(code(&out), 0, "{shown}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    Some(serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}")))
}

fn check_integrity(report: &serde_json::Value, workers: u64, events: u64) {
    for key in [
        "ingest_records_per_s",
        "copy_baseline_rows_per_s",
        "lost",
        "duplicated",
        "lag_p99_ms",
        "shipper_peak_rss_mib",
    ] {
        assert!(report[key].is_number(), "{key} in {report}");
    }
    assert_eq!(report["workers"], workers);
    assert_eq!(report["records_written"], workers * events, "{report}");
    assert_eq!(report["records_central"], workers * events, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["chains_verified"], workers, "{report}");
    assert_eq!(report["alerts"], 0, "{report}");
    assert!(report["ingest_records_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["copy_baseline_rows_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["shipper_peak_rss_mib"].as_f64().unwrap() > 0.0);
    assert_eq!(report["lag_records"], (workers - 1) * events, "{report}");
}

/// COL-BENCH-001: 2 workers x 500 events through the real writer, shipper
/// and collector into PostgreSQL: every record central once, both chains
/// verify centrally, and the JSON line holds every figure the issue names.
#[test]
fn col_bench_001_bench_fleet_tiny_every_record_once_and_the_json_line() {
    let Some(report) = bench_fleet("col_bench_001", &["--workers", "2", "--events", "500"]) else {
        return;
    };
    check_integrity(&report, 2, 500);
    assert_eq!(report["collector_restarted"], false);
}

/// COL-BENCH-001: with `--restarts` (the collector stopped for 1 s and
/// started again on the same port mid-run; PostgreSQL of DATABASE_URL is
/// not the bench's to restart), still 0 lost, 0 duplicated, every chain
/// verified, and the shipper's RSS before and after the outage reported.
#[test]
fn col_bench_001_bench_fleet_collector_restart_loses_and_duplicates_nothing() {
    let Some(report) = bench_fleet(
        "col_bench_001_restarts",
        &[
            "--workers",
            "3",
            "--events",
            "600",
            "--batch",
            "50",
            "--restarts",
            "--outage-s",
            "1",
        ],
    ) else {
        return;
    };
    check_integrity(&report, 3, 600);
    assert_eq!(report["collector_restarted"], true);
    assert_eq!(report["postgres_restarted"], false);
    assert!(
        report["shipper_rss_end_of_outage_mib"].is_number(),
        "{report}"
    );
}

/// COL-DEMO-001: `vramctl demo --fleet` on the test server: three workers
/// ship, the one whose log is cut back and written on is refused with the
/// collector's `inconsistent` alert (printed), the others verify
/// centrally, exit 0.
#[test]
fn col_demo_001_demo_fleet_shows_the_alert_of_a_cut_log() {
    let Some(db) = pg_server::test_database("col_demo_001") else {
        return;
    };
    let out = bin()
        .env(pg_server::DATABASE_URL, db.url())
        .args(["demo", "--fleet"])
        .output()
        .unwrap();
    let shown = text(&out);
    eprintln!("{shown}");
    assert_eq!(code(&out), 0, "{shown}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ALERT")).collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    assert!(
        alerts[0].contains("inconsistent on vram-residency/audit/fleet-demo-w2 (status 422)"),
        "{stdout}"
    );
    assert!(stdout.contains("fleet-demo-w2: refused"), "{stdout}");
    for honest in ["fleet-demo-w1", "fleet-demo-w3"] {
        assert!(
            stdout.contains(&format!(
                "verify  {honest}: central tree of 24 records equals"
            )),
            "{stdout}"
        );
    }
}

/// COL-DEMO-001: `--fleet` takes none of the single-host demo's options.
#[test]
fn col_demo_001_demo_fleet_conflicts_with_the_single_host_options() {
    let out = bin()
        .args(["demo", "--fleet", "--size-mib", "1"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
}

/// COL-BENCH-001: with `--preload` (every log written before the shippers
/// start) the same records arrive, once each.
#[test]
fn col_bench_001_bench_fleet_preloaded_every_record_once() {
    let Some(report) = bench_fleet(
        "col_bench_001_preload",
        &["--workers", "2", "--events", "400", "--preload"],
    ) else {
        return;
    };
    check_integrity(&report, 2, 400);
    assert_eq!(report["preload"], true);
}
