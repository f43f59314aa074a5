//! Steps of `capacity.feature`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cucumber::{given, then};
use vram_residency::VerifyMode;

use crate::world::ResidencyWorld;

#[then(regex = r"^every shard verifies in full mode$")]
fn every_shard_verifies(world: &mut ResidencyWorld) {
    let manager = world.manager();
    for (id, shard) in &world.worker().shards {
        let report = manager
            .verify_with(shard, &VerifyMode::Full)
            .unwrap_or_else(|e| panic!("{id} failed: {e}"));
        assert_eq!(report.bytes_hashed, shard.bytes(), "{id}");
    }
}

#[then(regex = r"^each shard records the SHA-256 digest of its own weights$")]
fn each_digest(world: &mut ResidencyWorld) {
    let shards = &world.worker().shards;
    for (id, shard) in shards {
        assert_eq!(shard.digest(), world.sealed_digests[id], "{id}");
    }
    let mut digests: Vec<String> = shards.values().map(|s| s.digest().to_string()).collect();
    digests.dedup();
    assert_eq!(digests.len(), shards.len(), "two shards share a digest");
}

#[given(regex = r"^the device will fail the next (allocation|copy)$")]
fn device_will_fail(world: &mut ResidencyWorld, what: String) {
    let host = world.host();
    match what.as_str() {
        "allocation" => host.fail_next_allocation(),
        _ => host.fail_next_copy(),
    }
}
