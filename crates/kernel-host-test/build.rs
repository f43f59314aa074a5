//! Compiles `crates/gpu-alloc/kernels/leaf_hash.cu`, unchanged, as C++ for
//! the host, with `host_shim.h` force-included in place of CUDA's headers
//! (spec GA-KERN-004).

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let kernels = manifest_dir.join("../gpu-alloc/kernels");
    let source = kernels.join("leaf_hash.cu");
    let shim = kernels.join("host_shim.h");
    println!("cargo::rerun-if-changed={}", source.display());
    println!("cargo::rerun-if-changed={}", shim.display());
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        // `.cu` is no C++ extension the compiler knows: say what it is.
        .flag("-x")
        .flag("c++")
        .flag("-include")
        .flag(shim.to_string_lossy().as_ref())
        // Always optimized, also in debug test builds: the tests hash MiBs.
        .opt_level(2)
        // The kernel reads byte buffers through `uint4`, as CUDA code does.
        .flag("-fno-strict-aliasing")
        // `#pragma unroll` is for NVRTC; g++ does not know it.
        .flag_if_supported("-Wno-unknown-pragmas")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .file(&source)
        .compile("leaf_hash_host");
}
