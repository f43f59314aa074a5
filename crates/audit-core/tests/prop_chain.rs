//! Property tests (AC-046): for random logs and one random tampering,
//! verification names the right record and reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use audit_core::{AuditEvent, AuditLog, CheckpointSigner, FailureReason, Severity};
use common::*;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

#[derive(Debug, Clone)]
enum Tamper {
    Edit(u64),
    Delete(u64),
    Insert { copy_of: u64, at: u64 },
    Swap(u64, u64),
    Truncate(u64),
}

fn scenario() -> impl Strategy<Value = (Vec<(u8, usize)>, Tamper)> {
    (3u64..40).prop_flat_map(|n| {
        let events = prop::collection::vec((0u8..4, 0usize..200), n as usize);
        let tamper = prop_oneof![
                (1..=n).prop_map(Tamper::Edit),
                (1..n).prop_map(Tamper::Delete),
                (2..=n).prop_flat_map(
                    |at| (1..at).prop_map(move |copy_of| Tamper::Insert { copy_of, at })
                ),
                (1..n).prop_flat_map(move |a| (a + 1..=n).prop_map(move |b| Tamper::Swap(a, b))),
                (1..n).prop_map(Tamper::Truncate),
            ];
        (events, tamper)
    })
}

fn make_event(i: usize, (severity, pad): (u8, usize)) -> AuditEvent {
    let severity = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ][severity as usize];
    AuditEvent::custom(
        "Prop",
        severity,
        None,
        serde_json::json!({"i": i, "pad": "p".repeat(pad)}),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn prop_verification_names_the_tampered_record((specs, tamper) in scenario()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let n = specs.len() as u64;
        let signer = CheckpointSigner::derive(&secret()).unwrap();
        let checkpoint = {
            let mut log = AuditLog::open(&path, WORKER, &secret()).unwrap();
            let events: Vec<_> = specs.iter().enumerate().map(|(i, s)| make_event(i, *s)).collect();
            let (first, rest) = events.split_at(events.len() / 2);
            log.append_batch(first).unwrap();
            log.append_batch(rest).unwrap();
            prop_assert!(log.verify(None).unwrap().is_ok());
            log.checkpoint(&signer).unwrap()
        };
        let conn = attacker(&path);
        let expected = match tamper {
            Tamper::Edit(i) => {
                conn.execute("UPDATE records SET event = json_set(event, '$.tampered', 1) WHERE seq = ?1", [i as i64]).unwrap();
                (Some(i), FailureReason::MacMismatch)
            }
            Tamper::Delete(i) => {
                conn.execute("DELETE FROM records WHERE seq = ?1", [i as i64]).unwrap();
                (Some(i + 1), FailureReason::SequenceGap { expected: i, found: i + 1 })
            }
            Tamper::Insert { copy_of, at } => {
                insert_copy(&conn, copy_of, at);
                (Some(at), FailureReason::BrokenLink)
            }
            Tamper::Swap(a, b) => {
                swap(&conn, a, b);
                // At record 1 a broken link means "does not start from this
                // worker's genesis" (AC-036).
                let reason = if a == 1 { FailureReason::WrongGenesis } else { FailureReason::BrokenLink };
                (Some(a), reason)
            }
            Tamper::Truncate(m) => {
                cut_tail(&conn, m);
                prop_assert!(verify(&path).is_ok());
                let report = audit_core::verify_log_against_checkpoint(
                    &path, WORKER, &secret(), &checkpoint, &signer.public_key()).unwrap();
                prop_assert_eq!(
                    failure(&report),
                    (Some(n), FailureReason::Truncated { checkpoint_seq: n, log_last_seq: m })
                );
                return Ok(());
            }
        };
        let report = verify(&path);
        // Split into parts read in parallel (AC-063), the report is the same.
        for parts in [2, 3, 5] {
            let split = audit_core::verify_log_split(&path, WORKER, &secret(), None, parts, 0).unwrap();
            prop_assert_eq!(&split, &report, "{} parts", parts);
        }
        // Records before the damage still verify.
        let intact = match &expected.1 {
            FailureReason::SequenceGap { expected, .. } => expected - 1,
            _ => expected.0.unwrap() - 1,
        };
        prop_assert_eq!(failure(&report), expected);
        prop_assert_eq!(report.records_checked, intact);
    }
}
