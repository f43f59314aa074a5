//! GA-KERN-005: the committed PTX and cubins are those `kernels.json`
//! records for the committed `leaf_hash.cu` (the same check as `cargo xtask
//! kernels --check`, here so `cargo test` catches a stale artefact too), and
//! they are what a worker's driver can load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use seal_crypto::sha256;

fn kernels_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gpu-alloc/kernels")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(kernels_dir().join("kernels.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// GA-KERN-005: source and artefact hashes agree with the manifest.
#[test]
fn ga_kern_005_committed_artefacts_match_the_manifest() {
    let manifest = manifest();
    let source = std::fs::read(kernels_dir().join("leaf_hash.cu")).unwrap();
    assert_eq!(
        manifest["source_sha256"].as_str().unwrap(),
        sha256(&source).to_hex(),
        "leaf_hash.cu changed since its artefacts were built: run `cargo xtask kernels`"
    );
    let artefacts = manifest["artefacts"].as_array().unwrap();
    let mut files: Vec<&str> = artefacts
        .iter()
        .map(|a| a["file"].as_str().unwrap())
        .collect();
    files.sort_unstable();
    assert_eq!(
        files,
        [
            "leaf_hash.ptx",
            "leaf_hash.sm_80.cubin",
            "leaf_hash.sm_90.cubin"
        ]
    );
    for artefact in artefacts {
        let name = artefact["file"].as_str().unwrap();
        let bytes = std::fs::read(kernels_dir().join(name)).unwrap();
        assert_eq!(
            artefact["sha256"].as_str().unwrap(),
            sha256(&bytes).to_hex(),
            "{name} is not the artefact the manifest records"
        );
        assert_eq!(artefact["bytes"].as_u64().unwrap(), bytes.len() as u64);
    }
}

/// GA-KERN-005: the PTX is ISA 8.4 or older for compute_80 and exports the
/// kernel by its C name; the cubins are ELF files naming it too.
#[test]
fn ga_kern_005_artefacts_are_loadable_by_older_drivers() {
    let ptx = std::fs::read_to_string(kernels_dir().join("leaf_hash.ptx")).unwrap();
    let version = ptx
        .lines()
        .find_map(|l| l.trim().strip_prefix(".version "))
        .unwrap();
    let (major, minor) = version.trim().split_once('.').unwrap();
    let isa: (u32, u32) = (major.parse().unwrap(), minor.parse().unwrap());
    assert!(
        isa <= (8, 4),
        "PTX ISA {version} is too new for R550 drivers"
    );
    assert!(ptx.lines().any(|l| l.trim() == ".target sm_80"));
    assert!(ptx.contains(".visible .entry leaf_hashes("));
    // Six parameters: data, len, chunk_bytes, first_chunk, count, out.
    assert!(ptx.contains("leaf_hashes_param_5") && !ptx.contains("leaf_hashes_param_6"));
    for arch in ["sm_80", "sm_90"] {
        let cubin = std::fs::read(kernels_dir().join(format!("leaf_hash.{arch}.cubin"))).unwrap();
        assert_eq!(&cubin[..4], b"\x7fELF", "{arch} cubin is not ELF");
        assert!(
            cubin
                .windows(b"leaf_hashes".len())
                .any(|w| w == b"leaf_hashes"),
            "{arch} cubin does not name the kernel"
        );
    }
}
