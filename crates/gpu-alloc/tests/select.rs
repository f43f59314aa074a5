#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! GA-011, GA-018: choosing a backend.

#[path = "../../../test-support/require_cuda.rs"]
mod require_cuda;

use gpu_alloc::{AllocError, Backend, BackendChoice, HostDeviceConfig, cuda, device_count, open};

fn gpu_present() -> bool {
    cuda::driver_present() && device_count(Backend::Cuda).is_ok_and(|n| n > 0)
}

/// GA-018.
#[test]
fn ga_018_backend_display_names() {
    assert_eq!(Backend::Cuda.to_string(), "cuda");
    assert_eq!(Backend::Host.to_string(), "host (simulated)");
}

/// GA-018.
#[test]
fn ga_018_auto_picks_cuda_only_where_a_gpu_exists() {
    let device = open(BackendChoice::Auto, 0).unwrap();
    let expected = if gpu_present() {
        Backend::Cuda
    } else {
        Backend::Host
    };
    eprintln!("auto-selection picked: {}", device.backend());
    assert_eq!(device.backend(), expected);
    assert_eq!(device.device_index(), 0);
}

/// GA-018, GA-022: passes only where there is no driver, so under
/// `VRAM_REQUIRE_CUDA=1` it fails there.
#[test]
fn ga_018_ga_022_explicit_cuda_without_a_driver_is_an_error_not_a_fallback() {
    if cuda::driver_present() {
        eprintln!("CUDA driver present: the no-driver path is not exercised on this machine");
        return;
    }
    require_cuda::did_not_run(
        "explicit CUDA choice",
        "no CUDA driver found (checking the no-driver path only)",
    );
    assert_eq!(
        open(BackendChoice::Cuda, 0).unwrap_err(),
        AllocError::NoCudaDriver
    );
    assert_eq!(
        device_count(Backend::Cuda).unwrap_err(),
        AllocError::NoCudaDriver
    );
}

/// GA-011.
#[test]
fn ga_011_bad_index_is_a_typed_error() {
    let config = HostDeviceConfig::with_capacity(1024);
    assert_eq!(
        open(BackendChoice::Host(config), 1).unwrap_err(),
        AllocError::NoSuchDevice { index: 1, count: 1 }
    );
    let err = open(BackendChoice::Auto, 4096).unwrap_err();
    assert!(
        matches!(err, AllocError::NoSuchDevice { index: 4096, .. }),
        "{err}"
    );
    assert_eq!(device_count(Backend::Host).unwrap(), 1);
}

#[test]
fn backend_choice_parses_from_command_line_words() {
    assert_eq!(
        "auto".parse::<BackendChoice>().unwrap(),
        BackendChoice::Auto
    );
    assert_eq!(
        "cuda".parse::<BackendChoice>().unwrap(),
        BackendChoice::Cuda
    );
    assert_eq!(
        "host".parse::<BackendChoice>().unwrap(),
        BackendChoice::Host(HostDeviceConfig::default())
    );
    assert!(matches!(
        "gpu".parse::<BackendChoice>(),
        Err(AllocError::InvalidArgument { .. })
    ));
    assert_eq!(BackendChoice::default(), BackendChoice::Auto);
}
