#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! GA-005, GA-006: the simulated device's accounting matches a plain model
//! for any sequence of allocations and frees.

use gpu_alloc::{AllocError, HostDevice, HostDeviceConfig, VramAllocator};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Allocate(u64),
    Free(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..5000).prop_map(Op::Allocate),
        any::<usize>().prop_map(Op::Free)
    ]
}

proptest! {
    #[test]
    fn prop_accounting_matches_the_model(capacity in 1u64..20_000, ops in prop::collection::vec(op(), 0..60)) {
        let device = HostDevice::new(HostDeviceConfig::with_capacity(capacity));
        let mut held = Vec::new();
        let mut used = 0u64;
        for op in ops {
            match op {
                Op::Allocate(bytes) => match device.allocate(bytes) {
                    Ok(buffer) => {
                        prop_assert!(bytes > 0 && used + bytes <= capacity);
                        used += bytes;
                        held.push(buffer);
                    }
                    Err(AllocError::ZeroSize) => prop_assert_eq!(bytes, 0),
                    Err(AllocError::OutOfMemory { requested, available }) => {
                        prop_assert_eq!(requested, bytes);
                        prop_assert_eq!(available, capacity - used);
                        prop_assert!(used + bytes > capacity);
                    }
                    Err(other) => prop_assert!(false, "unexpected error {other}"),
                },
                Op::Free(i) if !held.is_empty() => {
                    let buffer = held.swap_remove(i % held.len());
                    used -= buffer.len();
                }
                Op::Free(_) => {}
            }
            let info = device.memory_info().unwrap();
            prop_assert_eq!(info.total, capacity);
            prop_assert_eq!(info.free, capacity - used);
        }
    }
}
