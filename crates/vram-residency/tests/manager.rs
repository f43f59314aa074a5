//! The facade's behaviour on the simulated device (spec `VR-*`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Cursor;

use common::{MIB, kinds, model, rig};
use vram_residency::{ResidencyError, SealOptions, ShardIdError, VerifyMode, WorkerState};

/// VR-SEAL-001: a seal gives the shard's fields, the plain digest equals
/// SHA-256 of the bytes, and the audit trail holds allocation then seal.
#[test]
fn vr_seal_001_seal_reports_fields_and_audits() {
    let r = rig(64 * MIB);
    let bytes = model(3 * MIB as usize + 5, 1);
    let shard = r
        .manager
        .seal_with(
            "llama:0",
            &bytes,
            SealOptions::default().model_ref("llama-3").shard(0, 2),
        )
        .unwrap();
    assert_eq!(shard.id(), "llama:0");
    assert_eq!(shard.bytes(), bytes.len() as u64);
    assert_eq!(shard.device(), 0);
    assert_eq!(shard.digest(), seal_crypto::sha256(&bytes));
    assert_eq!(
        shard.chunk_root(),
        seal_crypto::ChunkTree::from_bytes(&bytes).root()
    );
    assert_eq!(shard.chunk_count(), 4);
    assert_eq!(
        (shard.model_ref(), shard.shard_index(), shard.total_shards()),
        (Some("llama-3"), Some(0), Some(2))
    );
    // The labels are in the signed claims (seal version 2).
    let claims = shard.claims();
    assert_eq!(claims.version, seal_crypto::SEAL_VERSION);
    assert_eq!(claims.model_ref.as_deref(), Some("llama-3"));
    assert_eq!(
        claims.shard_position,
        Some(seal_crypto::ShardPosition { index: 0, total: 2 })
    );
    let json = serde_json::to_value(&shard).unwrap();
    assert_eq!(json["seal_version"], 2);
    assert_eq!(json["model_ref"], "llama-3");
    assert_eq!(
        (json["shard_index"].clone(), json["total_shards"].clone()),
        (0.into(), 2.into())
    );
    // VramAllocated names the shard (AC-002).
    assert_eq!(r.audit.events()[0].shard_id(), Some("llama:0"));
    assert!(shard.sealed_at().ends_with('Z'));
    assert_eq!(kinds(&r.audit), ["VramAllocated", "VramSealed"]);
    let report = r.manager.verify(&shard).unwrap();
    assert_eq!(
        (report.bytes_hashed, report.chunks_checked),
        (bytes.len() as u64, 4)
    );
    assert_eq!(kinds(&r.audit).last().unwrap(), "SealVerified");
}

/// VR-SEAL-006: bad labels are refused with typed errors before anything
/// happens: no event, no memory held; the reference is never echoed.
#[test]
fn vr_seal_006_bad_labels_change_nothing() {
    use seal_crypto::SealError;
    let r = rig(8 * MIB);
    let long = "m".repeat(1025);
    type Check = fn(&ResidencyError) -> bool;
    let cases: [(SealOptions, Check); 7] = [
        (SealOptions::default().model_ref(""), |e| {
            matches!(e, ResidencyError::InvalidLabel(SealError::EmptyModelRef))
        }),
        (SealOptions::default().model_ref(long), |e| {
            matches!(
                e,
                ResidencyError::InvalidLabel(SealError::ModelRefTooLong {
                    max: 1024,
                    actual: 1025
                })
            )
        }),
        (SealOptions::default().model_ref("ll\x1b[2Jama"), |e| {
            matches!(
                e,
                ResidencyError::InvalidLabel(SealError::ModelRefControlCharacter { position: 2 })
            )
        }),
        (SealOptions::default().shard(2, 2), |e| {
            matches!(
                e,
                ResidencyError::InvalidLabel(SealError::ShardIndexOutOfRange {
                    index: 2,
                    total: 2
                })
            )
        }),
        (SealOptions::default().shard(0, 0), |e| {
            matches!(e, ResidencyError::InvalidLabel(SealError::ZeroTotalShards))
        }),
        (
            SealOptions {
                shard_index: Some(0),
                ..SealOptions::default()
            },
            |e| matches!(e, ResidencyError::InvalidOptions { .. }),
        ),
        (
            SealOptions {
                total_shards: Some(1),
                ..SealOptions::default()
            },
            |e| matches!(e, ResidencyError::InvalidOptions { .. }),
        ),
    ];
    for (options, want) in cases {
        let err = r
            .manager
            .seal_with("m:0", b"weights", options.clone())
            .unwrap_err();
        assert!(want(&err), "{options:?}: {err:?}");
        assert!(!err.is_retriable() && !err.is_security_incident());
        assert!(!err.to_string().contains('\x1b'), "{err}");
    }
    assert!(r.audit.events().is_empty());
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
    assert_eq!(r.device.live_buffer_count(), 0);
    // Paths are model references; the id is free again after the refusals.
    let shard = r
        .manager
        .seal_with(
            "m:0",
            b"weights",
            SealOptions::default()
                .model_ref("/models/llama/model-00001-of-00002.safetensors")
                .shard(1, 2),
        )
        .unwrap();
    r.manager.verify_with(&shard, &VerifyMode::Quick).unwrap();
}

/// VR-ID-001: bad ids are refused before anything happens: no event, no
/// memory held.
#[test]
fn vr_id_001_bad_ids_change_nothing() {
    let r = rig(8 * MIB);
    let long = "x".repeat(257);
    for (id, want) in [
        (
            "../../etc/passwd",
            ShardIdError::PathSeparator { position: 2 },
        ),
        ("..", ShardIdError::Traversal),
        ("a\0b", ShardIdError::ControlCharacter { position: 1 }),
        ("a\nb", ShardIdError::ControlCharacter { position: 1 }),
        ("", ShardIdError::Empty),
        (long.as_str(), ShardIdError::TooLong { len: 257 }),
    ] {
        match r.manager.seal(id, b"weights") {
            Err(ResidencyError::InvalidShardId(got)) => assert_eq!(got, want, "{id:?}"),
            other => panic!("{id:?}: {other:?}"),
        }
    }
    assert!(r.audit.events().is_empty());
    assert_eq!(r.device.live_buffer_count(), 0);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
}

/// VR-SEAL-002: empty and over-large models are refused with no event.
#[test]
fn vr_seal_002_empty_and_too_large_models() {
    let r = rig(8 * MIB);
    assert!(matches!(
        r.manager.seal("m", &[]),
        Err(ResidencyError::EmptyModel)
    ));
    let small = vram_residency::VramManager::new(
        vram_residency::ManagerConfig::new("w", common::secret(), r.audit.clone())
            .allocator(r.device.clone())
            .max_model_bytes(10)
            .policy(vram_residency::ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    small.enforce_policy().unwrap();
    let err = small.seal("m", &[0; 11]).unwrap_err();
    assert!(
        matches!(err, ResidencyError::ModelTooLarge { bytes: 11, max: 10 }),
        "{err}"
    );
    assert!(r.audit.events().is_empty());
}

/// VR-CAP-001: a seal exactly at capacity succeeds; one byte more fails,
/// retriably, with numbers, records VramAllocationFailed and leaves capacity
/// unchanged.
#[test]
fn vr_cap_001_exactly_at_and_over_capacity() {
    let r = rig(4 * MIB);
    let full = r.manager.seal("full", &model(4 * MIB as usize, 2)).unwrap();
    assert_eq!(r.manager.capacity().unwrap().device_free, 0);
    drop(full);
    let before = r.manager.capacity().unwrap();
    let err = r
        .manager
        .seal("over", &model(4 * MIB as usize + 1, 3))
        .unwrap_err();
    match &err {
        ResidencyError::InsufficientVram { needed, available } => {
            assert_eq!((*needed, *available), (4 * MIB + 1, 4 * MIB));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retriable());
    assert!(err.to_string().contains(&(4 * MIB + 1).to_string()));
    assert_eq!(r.manager.capacity().unwrap(), before);
    assert_eq!(r.device.live_buffer_count(), 0);
    assert_eq!(kinds(&r.audit).last().unwrap(), "VramAllocationFailed");
}

/// VR-SEAL-003: a failed copy or a short source leaves nothing allocated,
/// and the id can be used again.
#[test]
fn vr_seal_003_failures_leave_nothing_allocated() {
    let r = rig(16 * MIB);
    r.device.fail_next_copy();
    assert!(matches!(
        r.manager.seal("m", &[1; 100]),
        Err(ResidencyError::Device(_))
    ));
    assert_eq!(r.device.live_buffer_count(), 0);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);

    let mut short = Cursor::new(vec![7u8; 1000]);
    let err = r
        .manager
        .seal_reader("m", &mut short, 2000, SealOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(
            err,
            ResidencyError::SourceLength {
                expected: 2000,
                actual: 1000
            }
        ),
        "{err}"
    );
    let mut long = Cursor::new(vec![7u8; 3000]);
    assert!(matches!(
        r.manager
            .seal_reader("m", &mut long, 2000, SealOptions::default(), &mut |_| {}),
        Err(ResidencyError::SourceLength { expected: 2000, .. })
    ));
    r.device.fail_next_allocation();
    let err = r.manager.seal("m", &[1; 100]).unwrap_err();
    assert!(
        err.is_retriable(),
        "a transient allocation failure is retriable: {err}"
    );
    assert_eq!(r.device.live_buffer_count(), 0);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
    r.manager.seal("m", &[1; 100]).unwrap();
}

/// VR-SEAL-004: streaming a reader gives the same seal fields as sealing
/// the bytes, and reports progress up to the full length.
#[test]
fn vr_seal_004_streamed_seal_matches() {
    let r = rig(128 * MIB);
    let bytes = model(40 * MIB as usize + 123, 4);
    let mut seen = 0;
    let streamed = r
        .manager
        .seal_reader(
            "a",
            &mut Cursor::new(bytes.clone()),
            bytes.len() as u64,
            SealOptions::default(),
            &mut |n| seen = n,
        )
        .unwrap();
    assert_eq!(seen, bytes.len() as u64);
    let direct = r.manager.seal("b", &bytes).unwrap();
    assert_eq!(
        (streamed.digest(), streamed.chunk_root()),
        (direct.digest(), direct.chunk_root())
    );
    r.manager.verify(&streamed).unwrap();
}

/// VR-SEAL-005: one id at a time.
#[test]
fn vr_seal_005_duplicate_ids_are_refused() {
    let r = rig(8 * MIB);
    let _a = r.manager.seal("same", b"one").unwrap();
    assert!(matches!(
        r.manager.seal("same", b"two"),
        Err(ResidencyError::DuplicateShard { .. })
    ));
}

/// VR-VER-001: corrupted device memory is caught by a full check and by a
/// sample that includes the chunk, audited with expected and actual
/// digests, and stops the worker; other shards still verify.
#[test]
fn vr_ver_001_device_corruption_is_caught_and_stops_the_worker() {
    let r = rig(64 * MIB);
    let a = r.manager.seal("a", &model(3 * MIB as usize, 5)).unwrap();
    let b = r.manager.seal("b", &model(2 * MIB as usize, 6)).unwrap();
    // Quick mode reads no VRAM, so it cannot see the flip: it passes.
    r.device
        .flip_bit(a.buffer_id().unwrap(), 8 * (2 * MIB + 17) + 3)
        .unwrap();
    r.manager.verify_with(&a, &VerifyMode::Quick).unwrap();
    let report = r
        .manager
        .verify_with(&a, &VerifyMode::Chunks(vec![0, 1]))
        .unwrap();
    assert_eq!((report.chunks_checked, report.bytes_hashed), (2, 2 * MIB));
    let err = r
        .manager
        .verify_with(&a, &VerifyMode::Chunks(vec![2]))
        .unwrap_err();
    assert!(
        matches!(err, ResidencyError::IntegrityViolation { .. }),
        "{err}"
    );
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("chunk 2"), "{err}");
    let err = r.manager.verify(&a).unwrap_err();
    assert!(
        err.to_string().contains("first differing chunk: 2 of 3"),
        "{err}"
    );
    assert!(r.manager.state().is_stopped());
    let failed = r
        .audit
        .events()
        .into_iter()
        .filter(|e| e.kind() == "SealVerificationFailed")
        .collect::<Vec<_>>();
    assert_eq!(failed.len(), 2);
    let payload = failed[1].payload();
    assert_eq!(
        payload["expected_chunk_root"],
        a.chunk_root().to_string().as_str(),
        "{payload}"
    );
    let actual = payload["actual_chunk_root"].as_str().unwrap();
    assert!(
        actual.len() == 64 && actual != a.chunk_root().to_string(),
        "{payload}"
    );
    // The other shard still verifies; new work is refused.
    r.manager.verify(&b).unwrap();
    assert!(matches!(
        r.manager.seal("c", b"x"),
        Err(ResidencyError::WorkerStopped { .. })
    ));
    assert!(matches!(r.manager.state(), WorkerState::Stopped { .. }));
}

/// VR-VER-002: a shard from another manager is unknown here.
#[test]
fn vr_ver_002_unknown_shard() {
    let r1 = rig(8 * MIB);
    let r2 = rig(8 * MIB);
    let shard = r1.manager.seal("a", b"weights").unwrap();
    assert!(matches!(
        r2.manager.verify(&shard),
        Err(ResidencyError::UnknownShard { .. })
    ));
    assert!(!r2.manager.state().is_stopped());
}

/// VR-SHARD-001: dropping a shard frees its memory and records the free.
#[test]
fn vr_shard_001_drop_frees_and_audits() {
    let r = rig(8 * MIB);
    let shard = r.manager.seal("a", &[1; 4096]).unwrap();
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 4096);
    drop(shard);
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
    assert_eq!(r.device.live_buffer_count(), 0);
    let last = r.audit.events().pop().unwrap();
    assert_eq!(last.kind(), "VramDeallocated");
    assert_eq!(last.shard_id(), Some("a"));
    // The id is free again.
    r.manager.seal("a", &[2; 10]).unwrap();
}

/// VR-SHARD-002: the serialized shard holds no pointer and no key.
#[test]
fn vr_shard_002_serializes_without_secrets() {
    let r = rig(8 * MIB);
    let shard = r.manager.seal("a", &[9; 1000]).unwrap();
    let json = serde_json::to_value(&shard).unwrap();
    for field in [
        "shard_id",
        "device",
        "bytes",
        "digest",
        "chunk_root",
        "sealed_at",
        "signature",
        "backend",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    let text = json.to_string();
    assert!(!text.contains("0x"), "{text}");
    assert!(!text.contains("4242424242"), "secret bytes leaked: {text}");
    let shown = format!("{:?} {:?}", shard, r.manager);
    assert!(
        !shown.contains("0x") && !shown.contains("4242424242"),
        "{shown}"
    );
}

/// VR-CFG-001: invalid configuration fails at construction.
#[test]
fn vr_cfg_001_invalid_configuration() {
    let r = rig(8 * MIB);
    let build = |id: &str, max: u64, index: u32| {
        vram_residency::VramManager::new(
            vram_residency::ManagerConfig::new(id, common::secret(), r.audit.clone())
                .allocator(r.device.clone())
                .max_model_bytes(max)
                .device_index(index),
        )
    };
    assert!(matches!(
        build("", 10, 0),
        Err(ResidencyError::InvalidConfig { .. })
    ));
    assert!(matches!(
        build("w/1", 10, 0),
        Err(ResidencyError::InvalidConfig { .. })
    ));
    assert!(matches!(
        build("w", 0, 0),
        Err(ResidencyError::InvalidConfig { .. })
    ));
    assert!(matches!(
        build("w", 10, 3),
        Err(ResidencyError::InvalidConfig { .. })
    ));
    // A manager that never ran its policy check refuses to seal.
    let unchecked = build("w", 10, 0).unwrap();
    assert!(matches!(
        unchecked.seal("a", b"x"),
        Err(ResidencyError::PolicyNotChecked)
    ));
}

/// VR-VER-005: a malformed verification request is a usage error: nothing
/// recorded, the worker keeps running.
#[test]
fn vr_ver_005_bad_verify_requests_are_not_incidents() {
    let r = rig(8 * MIB);
    let shard = r.manager.seal("a", &model(2 * MIB as usize, 3)).unwrap();
    let before = r.audit.events().len();
    for mode in [
        VerifyMode::Chunks(vec![2]),
        VerifyMode::Chunks(vec![]),
        VerifyMode::Sampled { count: 0 },
    ] {
        let err = r.manager.verify_with(&shard, &mode).unwrap_err();
        assert!(
            matches!(err, ResidencyError::InvalidOptions { .. }),
            "{mode:?}: {err}"
        );
        assert!(!err.is_security_incident());
    }
    assert_eq!(r.audit.events().len(), before);
    assert!(!r.manager.state().is_stopped());
    r.manager
        .verify_with(&shard, &VerifyMode::Chunks(vec![1]))
        .unwrap();
}

/// VR-CFG-002: a new manager is `Starting` and refuses to seal, recording
/// nothing, until `enforce_policy()` passes; then it is `Ready` and seals.
#[test]
fn vr_cfg_002_nothing_is_sealed_before_the_policy_check() {
    let r = rig(8 * MIB);
    let manager = vram_residency::VramManager::new(
        vram_residency::ManagerConfig::new("w", common::secret(), r.audit.clone())
            .allocator(r.device.clone())
            .policy(vram_residency::ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    let before = kinds(&r.audit).len();
    assert_eq!(manager.state(), WorkerState::Starting);
    assert!(matches!(
        manager.seal("a", b"weights"),
        Err(ResidencyError::PolicyNotChecked)
    ));
    assert_eq!(kinds(&r.audit).len(), before, "nothing recorded");
    assert_eq!(manager.capacity().unwrap().used_by_shards, 0);
    manager.enforce_policy().unwrap();
    assert_eq!(manager.state(), WorkerState::Ready);
    manager.seal("a", b"weights").unwrap();
}

/// VR-ERR-001: `is_retriable` is true for `InsufficientVram` and transient
/// device failures only; `is_security_incident` for integrity and policy
/// violations only; memory errors give the numbers.
#[test]
fn vr_err_001_errors_are_classified_exactly() {
    use gpu_alloc::AllocError;
    let cases: Vec<(ResidencyError, bool, bool)> = vec![
        (
            ResidencyError::InsufficientVram {
                needed: 10,
                available: 3,
            },
            true,
            false,
        ),
        (
            ResidencyError::Device(AllocError::OutOfMemory {
                requested: 10,
                available: 3,
            }),
            true,
            false,
        ),
        (
            ResidencyError::Device(AllocError::Transient {
                requested: 10,
                reason: "busy".into(),
            }),
            true,
            false,
        ),
        (ResidencyError::Device(AllocError::ZeroSize), false, false),
        (
            ResidencyError::IntegrityViolation {
                shard_id: "s".into(),
                reason: "r".into(),
            },
            false,
            true,
        ),
        (
            ResidencyError::PolicyViolation {
                violations: "v".into(),
            },
            false,
            true,
        ),
        (ResidencyError::PolicyNotChecked, false, false),
        (ResidencyError::EmptyModel, false, false),
        (
            ResidencyError::UnknownShard {
                shard_id: "s".into(),
            },
            false,
            false,
        ),
        (
            ResidencyError::WorkerStopped { reason: "r".into() },
            false,
            false,
        ),
    ];
    for (error, retriable, incident) in cases {
        assert_eq!(error.is_retriable(), retriable, "{error}");
        assert_eq!(error.is_security_incident(), incident, "{error}");
    }
    let message = ResidencyError::InsufficientVram {
        needed: 4096,
        available: 1024,
    }
    .to_string();
    assert!(
        message.contains("4096") && message.contains("1024"),
        "{message}"
    );
}

/// VR-CFG-001: the manager says who and where it is; its `Debug` names the
/// worker and never the secret.
#[test]
fn vr_cfg_001_identity_and_debug() {
    let device = gpu_alloc::HostDevice::open(
        gpu_alloc::HostDeviceConfig::with_capacity(8 * MIB).with_device_count(3),
        2,
    )
    .unwrap();
    let audit = std::sync::Arc::new(audit_core::MemorySink::new());
    let config = vram_residency::ManagerConfig::new("worker-7", common::secret(), audit)
        .allocator(device)
        .device_index(2);
    let shown = format!("{config:?}");
    assert!(shown.contains("worker-7"), "{shown}");
    let manager = vram_residency::VramManager::new(config).unwrap();
    assert_eq!(manager.worker_id(), "worker-7");
    assert_eq!(manager.device_index(), 2);
    let shown = format!("{manager:?}");
    assert!(shown.contains("worker-7"), "{shown}");
    assert!(
        !shown.contains("66, 66, 66") && !shown.to_lowercase().contains("424242"),
        "{shown}"
    );
}

/// VR-SEAL-002 at its edges: a model of exactly the maximum size seals;
/// a source longer than announced is `SourceLength`, leaving nothing held.
#[test]
fn vr_seal_002_the_maximum_is_inclusive_and_long_sources_are_refused() {
    let r = rig(8 * MIB);
    let manager = vram_residency::VramManager::new(
        vram_residency::ManagerConfig::new("w", common::secret(), r.audit.clone())
            .allocator(r.device.clone())
            .max_model_bytes(MIB)
            .policy(vram_residency::ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    manager.enforce_policy().unwrap();
    let _max = manager.seal("max", &model(MIB as usize, 1)).unwrap();
    let bytes = model(MIB as usize + 5_000, 2);
    let err = manager
        .seal_reader(
            "long",
            &mut Cursor::new(bytes),
            MIB / 2,
            SealOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(err, ResidencyError::SourceLength { expected, actual } if expected == MIB / 2 && actual > MIB / 2),
        "{err:?}"
    );
    assert_eq!(manager.capacity().unwrap().shard_count, 1);
}

/// VR-SEAL-004: `seal_file` takes regular files only.
#[test]
fn vr_seal_004_seal_file_takes_regular_files_only() {
    let r = rig(16 * MIB);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.bin");
    std::fs::write(&path, model(3 * MIB as usize, 4)).unwrap();
    r.manager
        .seal_file("f", &path, SealOptions::default(), &mut |_| {})
        .unwrap();
    let err = r
        .manager
        .seal_file("d", dir.path(), SealOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, ResidencyError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// VR-SEAL-001: a shard reports the device, position and seal time it was
/// sealed with; a reader interrupted mid-way is read on; the stop reason
/// reads as what happened.
#[test]
fn vr_seal_001_shard_fields_interrupted_readers_and_stop_reasons() {
    let device = gpu_alloc::HostDevice::open(
        gpu_alloc::HostDeviceConfig::with_capacity(16 * MIB).with_device_count(2),
        1,
    )
    .unwrap();
    let audit = std::sync::Arc::new(audit_core::MemorySink::new());
    let manager = vram_residency::VramManager::new(
        vram_residency::ManagerConfig::new("w", common::secret(), audit)
            .allocator(device.clone())
            .device_index(1)
            .policy(vram_residency::ResidencyPolicy::allow_simulated()),
    )
    .unwrap();
    manager.enforce_policy().unwrap();

    /// Yields its bytes in pieces, with an `Interrupted` before each.
    struct Interrupting {
        bytes: Vec<u8>,
        at: usize,
        interrupt: bool,
    }
    impl std::io::Read for Interrupting {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(100_000).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let bytes = model(MIB as usize + 3, 8);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let shard = manager
        .seal_reader(
            "m:1",
            &mut Interrupting {
                bytes: bytes.clone(),
                at: 0,
                interrupt: false,
            },
            bytes.len() as u64,
            SealOptions::default().model_ref("m").shard(1, 2),
            &mut |_| {},
        )
        .unwrap();
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert_eq!(shard.device(), 1);
    assert_eq!(shard.shard_index(), Some(1));
    assert!(
        (before..=after).contains(&shard.sealed_at_unix_ns()),
        "{} not in {before}..={after}",
        shard.sealed_at_unix_ns()
    );
    assert_eq!(shard.digest(), seal_crypto::sha256(&bytes));
    let shown = format!("{shard:?}");
    assert!(shown.contains("m:1"), "{shown}");

    device.flip_bit(shard.buffer_id().unwrap(), 12).unwrap();
    let _ = manager.verify(&shard).unwrap_err();
    match manager.state() {
        WorkerState::Stopped { reason } => assert!(
            reason
                .to_string()
                .starts_with("integrity violation on shard m:1: "),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

/// VR-SEAL-003: a reader that fails (other than an interruption) ends the
/// seal with `Io`, leaving nothing held.
#[test]
fn vr_seal_003_a_failing_reader_is_an_io_error() {
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::PermissionDenied.into())
        }
    }
    let r = rig(8 * MIB);
    let err = r
        .manager
        .seal_reader("x", &mut Failing, MIB, SealOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, ResidencyError::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied),
        "{err:?}"
    );
    assert_eq!(r.manager.capacity().unwrap().used_by_shards, 0);
}
