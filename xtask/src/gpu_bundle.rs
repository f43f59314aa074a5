//! `cargo xtask gpu-bundle`: everything a GPU machine without a Rust
//! toolchain needs to run the CUDA checks, in one folder (`.gpu/`, ignored by
//! git): the workspace's test binaries and `vramctl`, built in release and
//! stripped so they fit a small upload, and `run.sh`, which runs them and
//! keeps each output under `$OUT`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const RUN_SH: &str = r#"#!/usr/bin/env bash
# Made by `cargo xtask gpu-bundle`. Run from the repository root on a machine
# with an NVIDIA driver: `bash .gpu/run.sh`. Outputs go to $OUT (default
# /tmp/gpu-out), one file per check; the exit code is the number of failed checks.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}"
failed=0
check() { # name, command...
  local name=$1; shift
  echo "=== $name: $*"
  if "$@" > "$OUT/$name.txt" 2>&1; then echo "--- $name: ok"; else echo "--- $name: FAILED ($?)"; failed=$((failed + 1)); fi
  tail -n 40 "$OUT/$name.txt"
}
check nvidia-smi nvidia-smi
check libcuda bash -c 'ldconfig -p | grep libcuda'
# gpu-alloc's CUDA tests: 1 GiB allocate/free, 256 MiB round trip, fill free
# memory until allocation fails cleanly, device properties.
check gpu-alloc-cuda .gpu/bin/cuda --test-threads=1 --nocapture
check demo .gpu/bin/vramctl demo --size-mib 1024
check bench-copy .gpu/bin/vramctl bench copy --backend cuda --json
check bench-digest .gpu/bin/vramctl bench digest --size-mib 1024 --json
# The BDD suite: the simulated pass, then the same scenarios on CUDA.
check bdd env BDD_REQUIRE_CUDA=1 .gpu/bin/bdd bdd/features
for t in .gpu/bin/*; do
  case "$(basename "$t")" in cuda|bdd|vramctl) continue ;; esac
  check "test-$(basename "$t")" "$t" --test-threads=2
done
echo "failed checks: $failed"
exit "$failed"
"#;

pub fn run(root: &Path) -> ExitCode {
    match bundle(root) {
        Ok(dir) => {
            println!(
                "gpu-bundle: {} is ready; on the GPU machine run `bash .gpu/run.sh` from the repository root",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("gpu-bundle: {message}");
            ExitCode::FAILURE
        }
    }
}

fn cargo(root: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .current_dir(root)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    command
}

fn bundle(root: &Path) -> Result<PathBuf, String> {
    let built = cargo(root)
        .args(["build", "--locked", "--release", "-p", "vramctl"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !built.success() {
        return Err("building vramctl failed".to_owned());
    }
    let bin = root.join(".gpu").join("bin");
    if bin.exists() {
        std::fs::remove_dir_all(&bin)
            .map_err(|e| format!("cannot clear {}: {e}", bin.display()))?;
    }
    std::fs::create_dir_all(&bin).map_err(|e| format!("cannot create {}: {e}", bin.display()))?;
    // Only the crates that touch a device: the rest is pure CPU work that CI
    // already runs, and the upload to the GPU machine is small (64 MiB).
    let mut copied = 0;
    for selection in [
        &[
            "-p",
            "gpu-alloc",
            "-p",
            "vram-residency",
            "--tests",
            "--lib",
        ][..],
        &["-p", "bdd", "--test", "bdd"][..],
    ] {
        for test in test_binaries(root, selection)? {
            std::fs::copy(&test.executable, bin.join(&test.file))
                .map_err(|e| format!("cannot copy {}: {e}", test.executable))?;
            copied += 1;
        }
    }
    let vramctl = root.join("target").join("release").join("vramctl");
    std::fs::copy(&vramctl, bin.join("vramctl"))
        .map_err(|e| format!("cannot copy {}: {e}", vramctl.display()))?;
    let script = root.join(".gpu").join("run.sh");
    std::fs::write(&script, RUN_SH)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    println!(
        "gpu-bundle: {copied} test binaries and vramctl in {}",
        bin.display()
    );
    Ok(root.join(".gpu"))
}

/// One test binary cargo built, and the file name it gets in the bundle.
struct TestBinary {
    executable: String,
    file: String,
}

/// Builds the selected test targets in release and lists their binaries.
fn test_binaries(root: &Path, selection: &[&str]) -> Result<Vec<TestBinary>, String> {
    let output = cargo(root)
        .args([
            "test",
            "--locked",
            "--release",
            "--all-features",
            "--no-run",
            "--message-format=json",
        ])
        .args(selection)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the test binaries ({}) failed",
            selection.join(" ")
        ));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let text = |pointer: &str| message.pointer(pointer).and_then(serde_json::Value::as_str);
        let is_test = message
            .pointer("/profile/test")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let (Some(executable), Some(name), Some(id)) = (
            text("/executable"),
            text("/target/name"),
            text("/package_id"),
        ) else {
            continue;
        };
        if !is_test {
            continue;
        }
        let package = id
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split(['#', '@']).next())
            .unwrap_or("unknown");
        let integration = message
            .pointer("/target/kind")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some("test")));
        let file = match (integration, name) {
            (true, "cuda" | "bdd") => name.to_owned(),
            (true, _) => format!("{package}-{name}"),
            (false, _) => format!("{package}-unit"),
        };
        found.push(TestBinary {
            executable: executable.to_owned(),
            file,
        });
    }
    Ok(found)
}
