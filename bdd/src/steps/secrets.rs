//! Steps of `secrets.feature`: a busy day, then a search of everything the
//! worker said for keys, addresses and model bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use audit_core::{AuditLog, QueryFilter, verify_ndjson};
use cucumber::{given, then, when};
use vram_residency::{SealOptions, VerifyMode};

use crate::capture;
use crate::world::{Pass, ResidencyWorld};

#[given(regex = r"^the worker's log output is captured$")]
fn capture_logs(world: &mut ResidencyWorld) {
    world.log_mark = Some(capture::mark());
}

/// Shows a shard's JSON and `Debug` form, as a worker's API or logs would.
fn show_shard(world: &mut ResidencyWorld, id: &str) {
    let shard = world.shard(id);
    let json = serde_json::to_string(shard).expect("a shard serializes");
    let debug = format!("{shard:?} {shard:#?}");
    world.shown.push((format!("JSON of shard {id}"), json));
    world
        .shown
        .push((format!("debug output of shard {id}"), debug));
}

#[when(regex = r"^the worker goes through a busy day of sealing, verifying, failing and freeing$")]
fn busy_day(world: &mut ResidencyWorld) {
    let options = SealOptions::default().model_ref("llama-3-8b").shard(0, 2);
    world.seal("day:tp0", 2 << 20, options);
    world.seal("day:tp1", 3 << 19, SealOptions::default());
    assert!(matches!(world.last.seal, Some(Ok(_))));
    for mode in [
        VerifyMode::Quick,
        VerifyMode::Full,
        VerifyMode::Sampled { count: 1 },
        VerifyMode::Chunks(vec![1]),
    ] {
        world.verify("day:tp0", &mode);
    }
    // Refused input of every kind.
    for id in ["../../etc/shadow", "day\0tp9", ""] {
        world.seal(id, 1 << 20, SealOptions::default());
    }
    world.seal("day:empty", 0, SealOptions::default());
    world.seal("day:tp0", 1 << 20, SealOptions::default());
    if world.pass == Pass::Simulated {
        // More than the device holds: a refused allocation, with numbers.
        world.seal("day:huge", 65 << 20, SealOptions::default());
    }
    show_shard(world, "day:tp0");
    show_shard(world, "day:tp1");
    // An incident: a tampered record fails verification and stops the worker.
    world
        .worker_mut()
        .shards
        .get_mut("day:tp1")
        .unwrap()
        .tamper_digest(seal_crypto::sha256(b"the attacker's weights"));
    world.verify("day:tp1", &VerifyMode::Full);
    assert!(matches!(world.last.verify, Some(Err(_))));
    world.seal("day:tp2", 1 << 20, SealOptions::default());
    world.verify("day:tp0", &VerifyMode::Full);
    let manager = world.manager();
    let debug = format!("{manager:?} {manager:#?}");
    let state = serde_json::to_string(&manager.state()).unwrap();
    let capacity = serde_json::to_string(&manager.capacity().unwrap()).unwrap();
    world
        .shown
        .push(("debug output of the worker".into(), debug));
    world.shown.push(("JSON of the worker state".into(), state));
    world.shown.push(("JSON of the capacity".into(), capacity));
    if let Some(Ok(report)) = &world.last.verify {
        let report = serde_json::to_string(report).unwrap();
        world.shown.push(("JSON of a verify report".into(), report));
    }
    world.worker_mut().shards.remove("day:tp1");
    world.flush();
}

fn assert_clean(findings: Vec<String>) {
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

#[then(regex = r"^no audit record contains a key, an address or model bytes$")]
fn records_clean(world: &mut ResidencyWorld) {
    let scanner = world.scanner();
    let records = world.records();
    assert!(
        records.len() >= 8,
        "the day left only {} records",
        records.len()
    );
    let mut findings = Vec::new();
    for record in &records {
        let text = serde_json::to_string(record).unwrap();
        findings.extend(scanner.findings(&format!("audit record {}", record.seq), &text));
    }
    assert_clean(findings);
}

#[then(regex = r"^the audit database file contains no key and no model bytes$")]
fn database_clean(world: &mut ResidencyWorld) {
    world.flush();
    let scanner = world.scanner();
    let db = world.worker().db.clone();
    let mut findings = Vec::new();
    for suffix in ["", "-wal"] {
        let path = db.with_file_name(format!(
            "{}{suffix}",
            db.file_name().unwrap().to_string_lossy()
        ));
        if let Ok(bytes) = std::fs::read(&path) {
            findings.extend(scanner.raw_findings(&path.display().to_string(), &bytes));
        }
    }
    assert_clean(findings);
}

fn captured(world: &ResidencyWorld) -> String {
    capture::since(world.log_mark.expect("log output is captured"))
}

#[then(regex = r"^the captured log output shows the seal, verify and free steps$")]
fn logs_show_steps(world: &mut ResidencyWorld) {
    let logs = captured(world);
    for span in ["seal{", "verify{", "free{", "sealed", "worker stopped"] {
        assert!(
            logs.contains(span),
            "no {span:?} in the captured logs:\n{logs}"
        );
    }
}

#[then(regex = r"^no captured log line contains a key, an address or model bytes$")]
fn logs_clean(world: &mut ResidencyWorld) {
    let scanner = world.scanner();
    let logs = captured(world);
    let findings: Vec<String> = logs
        .lines()
        .enumerate()
        .flat_map(|(i, line)| {
            scanner
                .findings(&format!("log line {}", i + 1), line)
                .into_iter()
                .map(move |f| format!("{f}: {line}"))
        })
        .collect();
    assert_clean(findings);
}

#[then(regex = r"^errors were returned during the day$")]
fn errors_returned(world: &mut ResidencyWorld) {
    // Each error is kept twice: its message and its Debug form.
    assert!(
        world.said.len() >= 2 * 6,
        "only {} messages",
        world.said.len()
    );
}

#[then(regex = r"^no error message contains a key, an address or model bytes$")]
fn errors_clean(world: &mut ResidencyWorld) {
    let scanner = world.scanner();
    let findings = world
        .said
        .iter()
        .flat_map(|text| scanner.findings(&format!("error {text:?}"), text))
        .collect();
    assert_clean(findings);
}

#[then(
    regex = r"^the JSON and debug output of every shard and of the worker contain no key, address or model bytes$"
)]
fn shown_clean(world: &mut ResidencyWorld) {
    let scanner = world.scanner();
    assert!(world.shown.len() >= 6);
    let findings = world
        .shown
        .iter()
        .flat_map(|(what, text)| scanner.findings(what, text))
        .collect();
    assert_clean(findings);
}

#[then(regex = r"^the worker's debug output shows the secret only by its fingerprint$")]
fn fingerprint_only(world: &mut ResidencyWorld) {
    let manager = world.manager();
    let debug = format!("{manager:?}");
    let fingerprint = manager.secret_fingerprint().to_string();
    assert!(debug.contains(&fingerprint), "{debug}");
}

fn export(world: &ResidencyWorld) -> Vec<u8> {
    world.flush();
    let worker = world.worker();
    let log = AuditLog::open_read(&worker.db, &worker.id, &worker.secret).unwrap();
    let mut out = Vec::new();
    let lines = log.export_ndjson(None, &mut out).expect("export");
    let count = log.query(&QueryFilter::default()).unwrap().len() as u64;
    assert_eq!(lines, count);
    out
}

#[then(regex = r"^the audit log's NDJSON export contains no key, address or model bytes$")]
fn export_clean(world: &mut ResidencyWorld) {
    let scanner = world.scanner();
    let out = export(world);
    let text = String::from_utf8(out).expect("NDJSON is UTF-8");
    assert_clean(scanner.findings("the NDJSON export", &text));
}

#[then(regex = r"^the NDJSON export verifies$")]
fn export_verifies(world: &mut ResidencyWorld) {
    let out = export(world);
    let worker = world.worker();
    let report = verify_ndjson(out.as_slice(), &worker.id, &worker.secret).expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert!(report.records_checked >= 8, "{report:?}");
}
