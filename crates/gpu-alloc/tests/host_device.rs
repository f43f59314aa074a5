#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The simulated device: capacity, accounting, copies and fault injection.

use std::sync::{Arc, Barrier};
use std::thread;

use gpu_alloc::{
    AllocError, Backend, BufferPlacement, CopyDirection, DeviceBuffer, HostDevice,
    HostDeviceConfig, MemoryKind, VramAllocator,
};

const MIB: u64 = 1 << 20;

fn ten_mib() -> Arc<HostDevice> {
    HostDevice::new(HostDeviceConfig::with_capacity(10 * MIB))
}

/// A small deterministic generator, so failures reproduce.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// GA-001.
#[test]
fn ga_001_host_device_is_usable_as_a_shared_trait_object() {
    fn assert_send_sync<T: Send + Sync + ?Sized>() {}
    assert_send_sync::<dyn VramAllocator>();
    assert_send_sync::<DeviceBuffer>();
    let device = ten_mib();
    let shared: Arc<dyn VramAllocator> = device.clone();
    assert_eq!(shared.backend(), Backend::Host);
    assert_eq!(shared.device_index(), 0);
    let buffer = shared.allocate(MIB).unwrap();
    assert_eq!(buffer.backend(), Backend::Host);
    // Faults injected through the concrete handle reach the trait object.
    device.fail_next_allocation();
    assert!(matches!(
        shared.allocate(1),
        Err(AllocError::Transient { requested: 1, .. })
    ));
}

/// GA-002.
#[test]
fn ga_002_drop_frees_and_returns_bytes() {
    let device = ten_mib();
    let a = device.allocate(3 * MIB).unwrap();
    let b = device.allocate(MIB).unwrap();
    assert_eq!(device.memory_info().unwrap().free, 6 * MIB);
    assert_eq!(device.live_buffer_count(), 2);
    drop(a);
    assert_eq!(device.memory_info().unwrap().free, 9 * MIB);
    drop(b);
    let info = device.memory_info().unwrap();
    assert_eq!(
        (info.total, info.free, info.used()),
        (10 * MIB, 10 * MIB, 0)
    );
    assert_eq!(device.live_buffer_count(), 0);
}

/// GA-002.
#[test]
fn ga_002_buffers_outliving_their_device_still_free_their_bytes() {
    let device = ten_mib();
    let witness = Arc::clone(&device);
    let shared: Arc<dyn VramAllocator> = device;
    let mut buffer = shared.allocate(4 * MIB).unwrap();
    drop(shared);
    buffer.write(0, b"still usable").unwrap();
    assert_eq!(witness.memory_info().unwrap().free, 6 * MIB);
    drop(witness);
    // The last handle to the device is gone; the buffer drops cleanly anyway.
    drop(buffer);
}

/// GA-004.
#[test]
fn ga_004_zero_byte_allocation_is_a_typed_error() {
    let device = ten_mib();
    assert_eq!(device.allocate(0).unwrap_err(), AllocError::ZeroSize);
    assert!(!AllocError::ZeroSize.is_retriable());
    assert_eq!(device.memory_info().unwrap().free, 10 * MIB);
}

/// GA-005.
#[test]
fn ga_005_over_capacity_reports_requested_and_available() {
    let device = ten_mib();
    let _held = device.allocate(7 * MIB).unwrap();
    let err = device.allocate(4 * MIB).unwrap_err();
    assert_eq!(
        err,
        AllocError::OutOfMemory {
            requested: 4 * MIB,
            available: 3 * MIB
        }
    );
    assert!(err.is_retriable());
    let text = err.to_string();
    assert!(
        text.contains("4194304") && text.contains("3145728"),
        "{text}"
    );
    // Exactly the remainder still fits; nothing was taken by the refusal.
    let _rest = device.allocate(3 * MIB).unwrap();
    assert_eq!(device.memory_info().unwrap().free, 0);
    assert!(matches!(
        device.allocate(1),
        Err(AllocError::OutOfMemory {
            requested: 1,
            available: 0
        })
    ));
}

/// GA-005.
#[test]
fn ga_005_huge_request_is_refused_without_overflow() {
    let device = ten_mib();
    assert_eq!(
        device.allocate(u64::MAX).unwrap_err(),
        AllocError::OutOfMemory {
            requested: u64::MAX,
            available: 10 * MIB
        }
    );
}

/// GA-006.
#[test]
fn ga_006_accounting_is_exact_under_sixteen_threads() {
    const THREADS: u64 = 16;
    const ROUNDS: usize = 400;
    let device = ten_mib();
    let start = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let device = Arc::clone(&device);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut held: Vec<DeviceBuffer> = Vec::new();
                let mut refused = 0u32;
                start.wait();
                for _ in 0..ROUNDS {
                    if held.len() < 8 && !rng.next().is_multiple_of(3) {
                        let bytes = 1 + rng.next() % (256 * 1024);
                        match device.allocate(bytes) {
                            Ok(buffer) => {
                                assert_eq!(buffer.len(), bytes);
                                held.push(buffer);
                            }
                            Err(AllocError::OutOfMemory {
                                requested,
                                available,
                            }) => {
                                assert_eq!(requested, bytes);
                                assert!(available < bytes);
                                refused += 1;
                            }
                            Err(other) => panic!("unexpected error: {other}"),
                        }
                    } else if !held.is_empty() {
                        let i = (rng.next() % held.len() as u64) as usize;
                        held.swap_remove(i);
                    }
                    let info = device.memory_info().unwrap();
                    assert!(info.free <= info.total);
                }
                (held, refused)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let still_held: u64 = results
        .iter()
        .flat_map(|(held, _)| held)
        .map(DeviceBuffer::len)
        .sum();
    let live: usize = results.iter().map(|(held, _)| held.len()).sum();
    assert_eq!(device.memory_info().unwrap().used(), still_held);
    assert_eq!(device.live_buffer_count(), live);
    drop(results);
    assert_eq!(device.memory_info().unwrap().free, 10 * MIB);
    assert_eq!(device.live_buffer_count(), 0);
}

/// GA-007.
#[test]
fn ga_007_write_and_read_at_offsets_round_trip() {
    let device = ten_mib();
    let mut buffer = device.allocate(64).unwrap();
    buffer.write(10, b"hello").unwrap();
    buffer.write(60, b"tail").unwrap();
    let mut all = [0xAAu8; 64];
    buffer.read(0, &mut all).unwrap();
    assert_eq!(&all[10..15], b"hello");
    assert_eq!(&all[60..], b"tail");
    assert!(
        all[..10].iter().all(|&b| b == 0),
        "GA-021: new buffers are zeroed"
    );
    let mut part = [0u8; 3];
    buffer.read(11, &mut part).unwrap();
    assert_eq!(&part, b"ell");
    // Empty copies at the very end are in bounds and do nothing.
    buffer.write(64, &[]).unwrap();
    buffer.read(64, &mut []).unwrap();
}

/// GA-007.
#[test]
fn ga_007_out_of_bounds_copies_are_typed_errors_and_change_nothing() {
    let device = ten_mib();
    let mut buffer = device.allocate(16).unwrap();
    buffer.write(0, &[7u8; 16]).unwrap();
    assert_eq!(
        buffer.write(10, &[1u8; 7]).unwrap_err(),
        AllocError::OutOfBounds {
            offset: 10,
            len: 7,
            buffer_len: 16
        }
    );
    assert!(matches!(
        buffer.write(u64::MAX, &[1]),
        Err(AllocError::OutOfBounds { .. })
    ));
    let mut dst = [0u8; 4];
    assert!(matches!(
        buffer.read(13, &mut dst),
        Err(AllocError::OutOfBounds {
            offset: 13,
            len: 4,
            ..
        })
    ));
    assert!(matches!(
        buffer.read(17, &mut []),
        Err(AllocError::OutOfBounds { .. })
    ));
    let mut all = [0u8; 16];
    buffer.read(0, &mut all).unwrap();
    assert_eq!(all, [7u8; 16]);
}

/// GA-008.
#[test]
fn ga_008_read_chunks_visits_the_range_in_order_with_bounded_pieces() {
    let device = ten_mib();
    let mut buffer = device.allocate(1000).unwrap();
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    buffer.write(0, &data).unwrap();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    buffer
        .read_chunks(100, 850, 128, &mut |piece| {
            sizes.push(piece.len());
            seen.extend_from_slice(piece);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, &data[100..950]);
    assert!(sizes.iter().all(|&n| n <= 128));
    assert_eq!(sizes.len(), 7); // 6 * 128 + 82

    // A callback error stops the read and comes back unchanged.
    let mut calls = 0;
    let err = buffer
        .read_chunks(0, 1000, 100, &mut |_| {
            calls += 1;
            if calls == 2 {
                Err(AllocError::InvalidArgument { reason: "stop" })
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert_eq!(err, AllocError::InvalidArgument { reason: "stop" });
    assert_eq!(calls, 2);

    assert!(matches!(
        buffer.read_chunks(0, 10, 0, &mut |_| Ok(())),
        Err(AllocError::InvalidArgument { .. })
    ));
    assert!(matches!(
        buffer.read_chunks(990, 11, 4, &mut |_| Ok(())),
        Err(AllocError::OutOfBounds { .. })
    ));
    let mut none = 0;
    buffer
        .read_chunks(1000, 0, 4, &mut |_| {
            none += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(none, 0);
}

/// GA-009, GA-012.
#[test]
fn ga_009_ga_012_properties_and_memory_info_are_configurable() {
    let mut config = HostDeviceConfig::with_capacity(3 * MIB);
    config.properties.name = "integrated test GPU".to_owned();
    config.properties.integrated = true;
    config.properties.unified_addressing = true;
    config.properties.managed_memory = true;
    config.properties.pageable_memory_access = true;
    config
        .properties
        .pageable_memory_access_uses_host_page_tables = true;
    config.properties.concurrent_managed_access = true;
    config.properties.compute_capability = (8, 7);
    config.properties.total_memory = 1; // overridden by the capacity
    let device = HostDevice::new(config);
    let props = device.properties().unwrap();
    assert_eq!(props.name, "integrated test GPU");
    assert!(props.integrated && props.unified_addressing && props.managed_memory);
    assert!(props.pageable_memory_access && props.pageable_memory_access_uses_host_page_tables);
    assert!(props.concurrent_managed_access);
    assert_eq!(props.compute_capability, (8, 7));
    assert_eq!(props.total_memory, 3 * MIB);

    let default = HostDevice::new(HostDeviceConfig::default())
        .properties()
        .unwrap();
    assert!(!default.integrated && !default.unified_addressing && !default.managed_memory);
    assert!(!default.pageable_memory_access && !default.concurrent_managed_access);
    assert_eq!(default.total_memory, gpu_alloc::DEFAULT_HOST_CAPACITY);
}

/// GA-011.
#[test]
fn ga_011_device_selection_by_index() {
    let config = HostDeviceConfig::with_capacity(MIB).with_device_count(2);
    let second = HostDevice::open(config.clone(), 1).unwrap();
    assert_eq!(second.device_index(), 1);
    assert_eq!(second.device_count(), 2);
    assert_eq!(second.allocate(1).unwrap().device_index(), 1);
    assert_eq!(
        HostDevice::open(config, 2).unwrap_err(),
        AllocError::NoSuchDevice { index: 2, count: 2 }
    );
}

/// GA-013.
#[test]
fn ga_013_fail_next_allocation_fails_exactly_once_per_call() {
    let device = ten_mib();
    device.fail_next_allocation();
    device.fail_next_allocation();
    for _ in 0..2 {
        let err = device.allocate(MIB).unwrap_err();
        assert!(matches!(err, AllocError::Transient { requested, .. } if requested == MIB));
        assert!(err.is_retriable());
    }
    assert_eq!(
        device.memory_info().unwrap().free,
        10 * MIB,
        "a failed allocation takes nothing"
    );
    assert!(device.allocate(MIB).is_ok());
}

/// GA-013.
#[test]
fn ga_013_fail_next_copy_fails_one_copy_and_leaves_data_untouched() {
    let device = ten_mib();
    let mut buffer = device.allocate(8).unwrap();
    buffer.write(0, b"original").unwrap();

    device.fail_next_copy();
    let err = buffer.write(0, b"replaced").unwrap_err();
    assert!(matches!(
        err,
        AllocError::CopyFailed {
            direction: CopyDirection::HostToDevice,
            len: 8,
            ..
        }
    ));
    assert!(!err.is_retriable());

    device.fail_next_copy();
    let mut back = [0u8; 8];
    assert!(matches!(
        buffer.read(0, &mut back),
        Err(AllocError::CopyFailed {
            direction: CopyDirection::DeviceToHost,
            ..
        })
    ));
    buffer.read(0, &mut back).unwrap();
    assert_eq!(&back, b"original");

    device.fail_next_copy();
    assert!(matches!(
        buffer.read_chunks(0, 8, 3, &mut |_| Ok(())),
        Err(AllocError::CopyFailed { .. })
    ));
}

/// GA-013.
#[test]
fn ga_013_flip_bit_changes_exactly_one_bit() {
    let device = ten_mib();
    let mut buffer = device.allocate(4).unwrap();
    buffer.write(0, &[0, 0, 0, 0xFF]).unwrap();
    device.flip_bit(buffer.id(), 0).unwrap();
    device.flip_bit(buffer.id(), 8 + 7).unwrap();
    device.flip_bit(buffer.id(), 31).unwrap();
    let mut back = [0u8; 4];
    buffer.read(0, &mut back).unwrap();
    assert_eq!(back, [0x01, 0x80, 0x00, 0x7F]);

    assert_eq!(
        device.flip_bit(buffer.id(), 32).unwrap_err(),
        AllocError::OutOfBounds {
            offset: 4,
            len: 1,
            buffer_len: 4
        }
    );
    let other = ten_mib();
    assert!(matches!(
        other.flip_bit(buffer.id(), 0),
        Err(AllocError::NoSuchBuffer { .. })
    ));
    let id = buffer.id();
    drop(buffer);
    assert!(matches!(
        device.flip_bit(id, 0),
        Err(AllocError::NoSuchBuffer { .. })
    ));
}

#[test]
fn buffer_ids_are_distinct_and_sequential() {
    let device = ten_mib();
    let a = device.allocate(1).unwrap();
    let b = device.allocate(1).unwrap();
    assert_ne!(a.id(), b.id());
    assert!(b.id() > a.id());
    assert!(!a.is_empty());
}

/// GA-003: buffers are named by opaque sequential ids; `Display` of an id, a
/// buffer and a copy direction says what they are and nothing more.
#[test]
fn ga_003_ids_and_displays_name_without_pointers() {
    let device = ten_mib();
    let a = device.allocate(MIB).unwrap();
    let b = device.allocate(2 * MIB).unwrap();
    assert_ne!(a.id().get(), b.id().get());
    assert!(b.id().get() > a.id().get(), "ids are sequential");
    assert_eq!(a.id().to_string(), format!("buffer#{}", a.id().get()));
    assert_eq!(
        b.to_string(),
        format!(
            "buffer#{} (2097152 bytes on host (simulated) device 0)",
            b.id().get()
        )
    );
    assert_eq!(CopyDirection::HostToDevice.to_string(), "host-to-device");
    assert_eq!(CopyDirection::DeviceToHost.to_string(), "device-to-host");
}

/// GA-012: the default simulated device holds 1 GiB; configured
/// properties are what the device reports (its total still the capacity).
#[test]
fn ga_012_default_capacity_and_configured_properties() {
    let device = HostDevice::new(HostDeviceConfig::default());
    assert_eq!(device.memory_info().unwrap().total, 1 << 30);
    let mut properties = device.properties().unwrap();
    properties.name = "Configured GPU".to_owned();
    properties.integrated = true;
    let configured =
        HostDevice::new(HostDeviceConfig::with_capacity(10 * MIB).with_properties(properties));
    let reported = configured.properties().unwrap();
    assert_eq!(reported.name, "Configured GPU");
    assert!(reported.integrated);
    assert_eq!(reported.total_memory, 10 * MIB);
}

/// GA-KERN-006: the simulated device hashes a buffer's chunks where they
/// are, through the public `leaf_hashes` (known answers: SHA-256 of
/// `0x00 || chunk`), and a flipped bit changes exactly its chunk's leaf.
#[test]
fn ga_kern_006_host_buffers_hash_their_own_chunks() {
    let device = ten_mib();
    let mut buffer = device.allocate(10).unwrap();
    buffer.write(0, b"abcdefghij").unwrap();
    let hex = |leaf: &[u8; 32]| -> String { leaf.iter().map(|b| format!("{b:02x}")).collect() };
    let leaves = buffer.leaf_hashes(4, 1, 2).unwrap();
    let leaves: Vec<String> = leaves.iter().map(hex).collect();
    assert_eq!(
        leaves,
        [
            "3aac0bdbaff34540d716868ea9c743cd667dfbb1b46d30f9bbbec7ed16415e44", // "efgh"
            "54e62ec3b5438e8e41c0ba6348b48f5e24bf8d6c19cd2c0e682011565d98b27d", // "ij"
        ]
    );
    let before = buffer.leaf_hashes(4, 0, 3).unwrap();
    device.flip_bit(buffer.id(), 8 * 9).unwrap(); // first bit of the last byte
    let after = buffer.leaf_hashes(4, 0, 3).unwrap();
    assert_eq!(after[..2], before[..2]);
    assert_ne!(after[2], before[2]);
}

/// GA-024: only plain device memory of the asked ordinal passes
/// `is_device_memory_of`; each field alone can fail it. The simulated
/// device reports its own kind; every kind has a lower-case name.
#[test]
fn ga_024_device_memory_needs_kind_unmanaged_and_ordinal() {
    let device_memory = BufferPlacement {
        memory: MemoryKind::Device,
        managed: false,
        device_ordinal: 1,
    };
    assert!(device_memory.is_device_memory_of(1));
    assert!(!device_memory.is_device_memory_of(0));
    assert!(
        !BufferPlacement {
            managed: true,
            ..device_memory
        }
        .is_device_memory_of(1)
    );
    for (memory, name) in [
        (MemoryKind::Device, "device"),
        (MemoryKind::Host, "host"),
        (MemoryKind::Array, "array"),
        (MemoryKind::Unified, "unified"),
        (MemoryKind::Simulated, "simulated"),
        (MemoryKind::Unknown, "unknown"),
    ] {
        assert_eq!(memory.to_string(), name);
        let placement = BufferPlacement {
            memory,
            ..device_memory
        };
        assert_eq!(
            placement.is_device_memory_of(1),
            memory == MemoryKind::Device,
            "{memory:?}"
        );
    }
    let simulated = ten_mib().allocate(1).unwrap().placement().unwrap();
    assert_eq!(simulated.memory, MemoryKind::Simulated);
    assert!(!simulated.managed && !simulated.is_device_memory_of(0));
}
