#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! GA-003: no Debug, Display, serde output or error message shows anything
//! that looks like an address.

use std::sync::Arc;

use gpu_alloc::{
    AllocError, Backend, CopyDirection, HostDevice, HostDeviceConfig, MemoryInfo, VramAllocator,
};

/// Addresses print as `0x...` or, in decimal, as 13 or more digits; the
/// sizes used here stay well below that.
fn assert_no_pointer_like_text(text: &str) {
    assert!(!text.to_ascii_lowercase().contains("0x"), "hex in: {text}");
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        assert!(run < 13, "long number in: {text}");
    }
}

fn every_error() -> Vec<AllocError> {
    vec![
        AllocError::ZeroSize,
        AllocError::OutOfMemory {
            requested: 4096,
            available: 1024,
        },
        AllocError::Transient {
            requested: 1,
            reason: "injected".into(),
        },
        AllocError::NoCudaDriver,
        AllocError::NoSuchDevice { index: 3, count: 1 },
        AllocError::OutOfBounds {
            offset: 8,
            len: 16,
            buffer_len: 10,
        },
        AllocError::CopyFailed {
            direction: CopyDirection::DeviceToHost,
            len: 5,
            reason: "x".into(),
        },
        AllocError::NoSuchBuffer { id: 9 },
        AllocError::InvalidArgument { reason: "chunk" },
        AllocError::Driver {
            call: "cuMemAlloc",
            name: "CUDA_ERROR_OUT_OF_MEMORY".into(),
            description: "out of memory".into(),
        },
    ]
}

/// GA-003.
#[test]
fn ga_003_buffers_devices_and_data_types_print_no_addresses() {
    let device = HostDevice::new(HostDeviceConfig::with_capacity(1 << 20));
    let shared: Arc<dyn VramAllocator> = device.clone();
    let buffer = shared.allocate(4096).unwrap();
    let debug = format!("{buffer:?}");
    assert!(debug.contains("id") && debug.contains("4096"), "{debug}");
    let props = shared.properties().unwrap();
    let info = shared.memory_info().unwrap();
    for text in [
        debug,
        format!("{buffer:#?}"),
        buffer.to_string(),
        buffer.id().to_string(),
        format!("{shared:?}"),
        format!("{device:?}"),
        format!("{props:?}"),
        format!("{info:?}"),
        serde_json::to_string(&props).unwrap(),
        serde_json::to_string(&info).unwrap(),
        serde_json::to_string(&buffer.id()).unwrap(),
        serde_json::to_string(&Backend::Cuda).unwrap(),
    ] {
        assert_no_pointer_like_text(&text);
    }
}

/// GA-003, GA-019.
#[test]
fn ga_003_ga_019_errors_print_no_addresses_and_say_what_to_do() {
    for err in every_error() {
        let text = err.to_string();
        assert_no_pointer_like_text(&text);
        assert_no_pointer_like_text(&format!("{err:?}"));
        assert!(text.len() > 20, "too terse: {text}");
    }
    let oom = AllocError::OutOfMemory {
        requested: 4096,
        available: 1024,
    };
    let text = oom.to_string();
    assert!(
        text.contains("requested 4096 bytes") && text.contains("1024 bytes available"),
        "{text}"
    );
}

/// GA-019.
#[test]
fn ga_019_only_memory_shortage_and_transient_failures_are_retriable() {
    let retriable: Vec<bool> = every_error().iter().map(AllocError::is_retriable).collect();
    assert_eq!(
        retriable,
        [
            false, true, true, false, false, false, false, false, false, false
        ]
    );
}

#[test]
fn serde_round_trips_the_data_types() {
    let info = MemoryInfo { total: 10, free: 4 };
    let json = serde_json::to_string(&info).unwrap();
    assert_eq!(serde_json::from_str::<MemoryInfo>(&json).unwrap(), info);
    assert_eq!(serde_json::to_string(&Backend::Host).unwrap(), "\"host\"");
}
