//! Steps of `sealing.feature`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{MIB, bad_shard_id, model_bytes};
use cucumber::{then, when};
use gpu_alloc::AllocError;
use sha2::Digest as _;
use vram_residency::{ResidencyError, SealOptions};

use crate::world::{ResidencyWorld, parse_size};

#[when(
    regex = r#"^the worker seals (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" for model "([^"]*)" as shard (\d+) of (\d+)$"#
)]
fn seals_with_labels(
    world: &mut ResidencyWorld,
    size: String,
    id: String,
    model: String,
    index: u32,
    total: u32,
) {
    let options = SealOptions::default().model_ref(model).shard(index, total);
    world.seal(&id, parse_size(&size), options);
    assert!(
        matches!(world.last.seal, Some(Ok(_))),
        "{:?}",
        world.last.seal
    );
}

#[when(
    regex = r#"^the worker tries to seal (\d+ (?:MiB|KiB|bytes?)) of weights as "([^"]*)" for model "([^"]*)" as shard (\d+) of (\d+)$"#
)]
fn tries_with_labels(
    world: &mut ResidencyWorld,
    size: String,
    id: String,
    model: String,
    index: u32,
    total: u32,
) {
    let options = SealOptions::default().model_ref(model).shard(index, total);
    world.seal(&id, parse_size(&size), options);
}

#[when(
    regex = r"^the worker seals (\d+ (?:MiB|KiB|bytes?)) of weights under a shard id of (\d+) bytes$"
)]
fn seals_long_id(world: &mut ResidencyWorld, size: String, len: usize) {
    let id = "a".repeat(len);
    world.seal(&id, parse_size(&size), SealOptions::default());
}

#[when(
    regex = r"^the worker tries to seal (\d+ (?:MiB|KiB|bytes?)) of weights under a bad shard id: (.+)$"
)]
fn tries_bad_id(world: &mut ResidencyWorld, size: String, kind: String) {
    let id = bad_shard_id(kind.trim()).unwrap_or_else(|| panic!("no bad shard id named {kind:?}"));
    world.seal(&id, parse_size(&size), SealOptions::default());
    world.bad_id = Some(id);
}

#[then(
    regex = r#"^the shard "([^"]*)" records its id, a size of (\d+ (?:MiB|KiB|bytes?)), device (\d+) and the SHA-256 digest of the weights$"#
)]
fn records_fields(world: &mut ResidencyWorld, id: String, size: String, device: u32) {
    let id = id.as_str();
    let shard = world.shard(id);
    let len = parse_size(&size);
    assert_eq!(shard.id(), id);
    assert_eq!(shard.bytes(), len);
    assert_eq!(shard.device(), device);
    assert_eq!(shard.claims().size_bytes, len);
    // An independent SHA-256 (the `sha2` crate, not the project's wrapper)
    // of exactly the bytes that were sealed: what `sha256sum` prints.
    let bytes = model_bytes(usize::try_from(len).unwrap(), id);
    let independent: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(shard.digest().to_string(), independent);
    assert_eq!(shard.claims().digest.to_string(), independent);
}

#[then(regex = r#"^the shard "([^"]*)" records a seal time within the last minute$"#)]
fn seal_time(world: &mut ResidencyWorld, id: String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let sealed = world.shard(&id).sealed_at_unix_ns();
    assert!(sealed <= now, "sealed in the future: {sealed} > {now}");
    assert!(
        now - sealed < 60_000_000_000,
        "sealed more than a minute ago"
    );
    assert!(world.shard(&id).sealed_at().ends_with('Z'));
}

#[then(regex = r#"^the shard "([^"]*)" is made of (\d+) chunks of 1 MiB$"#)]
fn chunks(world: &mut ResidencyWorld, id: String, count: u64) {
    let shard = world.shard(&id);
    assert_eq!(shard.chunk_count(), count);
    assert_eq!(shard.bytes().div_ceil(MIB), count);
}

#[then(regex = r#"^the shard "([^"]*)" belongs to model "([^"]*)" as shard (\d+) of (\d+)$"#)]
fn labels(world: &mut ResidencyWorld, id: String, model: String, index: u32, total: u32) {
    let shard = world.shard(&id);
    assert_eq!(shard.model_ref(), Some(model.as_str()));
    assert_eq!(shard.shard_index(), Some(index));
    assert_eq!(shard.total_shards(), Some(total));
    let json = serde_json::to_value(shard).expect("a shard serializes");
    assert_eq!(json["model_ref"], model.as_str());
    assert_eq!(json["shard_index"], index);
    assert_eq!(json["total_shards"], total);
    // The labels are part of what the seal signs (seal version 2).
    let claims = shard.claims();
    assert_eq!(claims.version, 2);
    assert_eq!(claims.model_ref.as_deref(), Some(model.as_str()));
    assert_eq!(
        claims.shard_position,
        Some(seal_crypto::ShardPosition { index, total })
    );
    assert_eq!(json["seal_version"], 2);
}

#[then(regex = r"^the seal is refused as an invalid shard id$")]
fn refused_invalid_id(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::InvalidShardId(_)),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

#[then(regex = r"^the error message does not repeat the id$")]
fn error_does_not_echo(world: &mut ResidencyWorld) {
    let id = world.bad_id.clone().expect("a bad id was tried");
    let message = world.seal_error().to_string();
    let debug = format!("{:?}", world.seal_error());
    // Ids of one or two characters (`..`) may coincide with the rule's own
    // text; longer ones must never be echoed.
    if id.len() > 2 {
        assert!(!message.contains(&id), "{message:?} repeats the id");
        assert!(!debug.contains(&id), "{debug:?} repeats the id");
    }
    assert!(
        !message.chars().any(char::is_control),
        "{message:?} holds a control character"
    );
}

#[then(
    regex = r"^the seal is refused as an invalid label: shard (\d+) is not below the (\d+) shards of the model$"
)]
fn refused_label(world: &mut ResidencyWorld, index: u32, total: u32) {
    let error = world.seal_error();
    assert!(
        matches!(
            error,
            ResidencyError::InvalidLabel(seal_crypto::SealError::ShardIndexOutOfRange { index: i, total: t })
                if *i == index && *t == total
        ),
        "{error:?}"
    );
    assert!(!error.is_retriable());
}

#[then(regex = r"^the seal is refused as an empty model$")]
fn refused_empty(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(matches!(error, ResidencyError::EmptyModel), "{error:?}");
}

#[then(
    regex = r"^the seal is refused as a model of (\d+ (?:MiB|KiB|bytes?)) over the limit of (\d+ (?:MiB|KiB|bytes?))$"
)]
fn refused_too_large(world: &mut ResidencyWorld, size: String, limit: String) {
    let error = world.seal_error();
    match error {
        ResidencyError::ModelTooLarge { bytes, max } => {
            assert_eq!(*bytes, parse_size(&size));
            assert_eq!(*max, parse_size(&limit));
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&parse_size(&size).to_string()),
        "{message}"
    );
    assert!(
        message.contains(&parse_size(&limit).to_string()),
        "{message}"
    );
}

#[then(
    regex = r"^the seal is refused as insufficient VRAM, needing (\d+ (?:MiB|KiB|bytes?)) with (\d+ (?:MiB|KiB|bytes?)) available$"
)]
fn refused_insufficient(world: &mut ResidencyWorld, needed: String, available: String) {
    match world.seal_error() {
        ResidencyError::InsufficientVram {
            needed: n,
            available: a,
        } => {
            assert_eq!(*n, parse_size(&needed), "needed");
            assert_eq!(*a, parse_size(&available), "available");
        }
        other => panic!("{other:?}"),
    }
}

#[then(regex = r"^the error message gives the bytes needed and available$")]
fn message_gives_numbers(world: &mut ResidencyWorld) {
    let error = world.last_error();
    let ResidencyError::InsufficientVram { needed, available } = error else {
        panic!("{error:?}");
    };
    let message = error.to_string();
    assert!(message.contains(&needed.to_string()), "{message}");
    assert!(message.contains(&available.to_string()), "{message}");
}

#[then(regex = r"^the seal is refused as a duplicate shard$")]
fn refused_duplicate(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::DuplicateShard { .. }),
        "{error:?}"
    );
}

#[then(regex = r"^the seal is refused because the residency policy has not been checked$")]
fn refused_not_checked(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::PolicyNotChecked),
        "{error:?}"
    );
}

#[then(regex = r"^the seal is refused as a transient device failure$")]
fn refused_transient(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::Device(AllocError::Transient { .. })),
        "{error:?}"
    );
}

#[then(regex = r"^the seal is refused as a failed copy to the device$")]
fn refused_copy(world: &mut ResidencyWorld) {
    let error = world.seal_error();
    assert!(
        matches!(error, ResidencyError::Device(AllocError::CopyFailed { .. })),
        "{error:?}"
    );
}
