//! Steps of `verification.feature`: verifying, tampering with a shard's
//! record, corrupting device memory, and a second worker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::MIB;
use cucumber::{given, then, when};
use seal_crypto::SealKey;
use vram_residency::{ResidencyError, SealOptions, VerifyMode};

use crate::world::{OTHER_SECRET, ResidencyWorld, SECRET, WorkerSpec, parse_size};

/// `quick`, `full`, `sampled` (2 chunks) or `chunk N`.
fn mode(text: &str) -> VerifyMode {
    match text {
        "quick" => VerifyMode::Quick,
        "full" => VerifyMode::Full,
        "sampled" => VerifyMode::Sampled { count: 2 },
        other => {
            let index = other
                .strip_prefix("chunk ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no verification mode {other:?}"));
            VerifyMode::Chunks(vec![index])
        }
    }
}

#[when(regex = r#"^the worker verifies "([^"]*)" in (quick|full|sampled|chunk \d+) mode$"#)]
fn verifies(world: &mut ResidencyWorld, id: String, how: String) {
    world.verify(&id, &mode(&how));
}

#[then(
    regex = r"^the verification passes, having re-hashed (\d+ (?:MiB|KiB|bytes?)) of device memory$"
)]
fn passes(world: &mut ResidencyWorld, hashed: String) {
    match &world.last.verify {
        Some(Ok(report)) => assert_eq!(report.bytes_hashed, parse_size(&hashed), "{report:?}"),
        other => panic!("the verification did not pass: {other:?}"),
    }
}

#[then(regex = r#"^the verification fails as an integrity violation of "([^"]*)"$"#)]
fn fails(world: &mut ResidencyWorld, id: String) {
    let error = world.verify_error();
    match error {
        ResidencyError::IntegrityViolation { shard_id, .. } => assert_eq!(shard_id, &id),
        other => panic!("{other:?}"),
    }
}

#[given(
    regex = r#"^an attacker (replaces the recorded digest|zeroes the seal|forges the seal with another key|changes the recorded size|relabels it as a shard of another model|moves it to another position among the shards) of "([^"]*)"$"#
)]
fn attacker_tampers(world: &mut ResidencyWorld, how: String, id: String) {
    let shard = world
        .worker_mut()
        .shards
        .get_mut(&id)
        .unwrap_or_else(|| panic!("no sealed shard {id:?}"));
    match how.as_str() {
        "replaces the recorded digest" => {
            shard.tamper_digest(seal_crypto::sha256(b"the attacker's weights"));
        }
        "zeroes the seal" => shard.tamper_signature([0; 32]),
        "forges the seal with another key" => {
            // A valid seal over the very same claims, made with a key that
            // is not this worker's.
            let other = SealKey::from_bytes(OTHER_SECRET).expect("a key");
            let forged = seal_crypto::sign(&other, shard.claims()).expect("sign");
            shard.tamper_signature(*forged.as_bytes());
        }
        "changes the recorded size" => {
            let size = shard.bytes();
            shard.tamper_size(size - 1);
        }
        // The labels are signed too (seal version 2).
        "relabels it as a shard of another model" => {
            shard.tamper_model_ref(Some("another-model"));
        }
        "moves it to another position among the shards" => shard.tamper_shard_position(1, 2),
        other => panic!("unknown tampering {other:?}"),
    }
}

#[given(regex = r#"^one bit of "([^"]*)" flips in device memory, in chunk (\d+)$"#)]
fn bit_flips(world: &mut ResidencyWorld, id: String, chunk: u64) {
    let buffer = world
        .shard(&id)
        .buffer_id()
        .expect("the shard holds a buffer");
    // A fixed bit in the middle of the chunk: deterministic, not random.
    let bit = (chunk * MIB + 123_457) * 8 + 5;
    world.host().flip_bit(buffer, bit).expect("flip one bit");
}

#[then(regex = r"^the failure names chunk (\d+) as the first differing chunk$")]
fn names_chunk(world: &mut ResidencyWorld, chunk: u64) {
    let message = world.verify_error().to_string();
    assert!(
        message.contains(&format!("first differing chunk: {chunk} of")),
        "{message}"
    );
}

#[then(
    regex = r#"^the SealVerificationFailed event for "([^"]*)" gives the sealed chunked root as expected and another root as actual$"#
)]
fn failed_event_digests(world: &mut ResidencyWorld, id: String) {
    let sealed = world.sealed_roots[&id].to_string();
    let records = world.records();
    let record = records
        .iter()
        .rev()
        .find(|r| r.kind == "SealVerificationFailed")
        .expect("a SealVerificationFailed event");
    assert_eq!(record.shard_id.as_deref(), Some(id.as_str()));
    assert_eq!(record.severity, audit_core::Severity::Critical);
    let event = &record.event;
    assert_eq!(event["expected_chunk_root"], sealed.as_str(), "{event}");
    let actual = event["actual_chunk_root"].as_str().expect("an actual root");
    assert_eq!(actual.len(), 64, "{event}");
    assert_ne!(actual, sealed, "{event}");
    assert_eq!(event["device"], 0, "{event}");
    assert!(
        event["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{event}"
    );
}

#[given(regex = r"^a second worker with (another|the same) secret$")]
fn second_worker(world: &mut ResidencyWorld, which: String) {
    let spec = WorkerSpec {
        id: "worker-b".to_owned(),
        secret: if which == "another" {
            OTHER_SECRET
        } else {
            SECRET
        },
        db_name: "worker-b.db".to_owned(),
        ..WorkerSpec::first()
    };
    let other = world.start(&spec);
    world.other = Some(other);
}

#[given(
    regex = r#"^the second worker has sealed (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)"$"#
)]
fn second_has_sealed(world: &mut ResidencyWorld, size: String, id: String) {
    let len = usize::try_from(parse_size(&size)).unwrap();
    let bytes = crate::model_bytes(len, &id);
    let other = world.other.as_mut().expect("a second worker");
    let shard = other
        .manager()
        .seal_with(&id, &bytes, SealOptions::default())
        .expect("the second worker seals");
    other.shards.insert(id, shard);
}

#[when(regex = r#"^the worker verifies the second worker's shard "([^"]*)"$"#)]
fn verifies_foreign(world: &mut ResidencyWorld, id: String) {
    let other = world.other.as_ref().expect("a second worker");
    let shard = other.shards.get(&id).expect("the second worker's shard");
    let result = world.manager().verify_with(shard, &VerifyMode::Full);
    world.last.op = Some(crate::world::Op::Verify);
    world.last.verify = Some(result.map_err(|e| world.saw(e)));
}

#[then(regex = r"^the verification is refused as an unknown shard$")]
fn unknown(world: &mut ResidencyWorld) {
    let error = world.verify_error();
    assert!(
        matches!(error, ResidencyError::UnknownShard { .. }),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}
