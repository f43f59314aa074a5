//! `cargo xtask gpu-bundle`: everything a GPU machine without a Rust
//! toolchain needs to run the CUDA checks, in one folder (`.gpu/`, ignored by
//! git): the workspace's test binaries and `vramctl`, built in release and
//! stripped so they fit a small upload, and `run.sh`, which runs them and
//! keeps each output under `$OUT`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const RUN_SH: &str = r##"#!/usr/bin/env bash
# Made by `cargo xtask gpu-bundle`. Run from the repository root on a machine
# with an NVIDIA driver: `bash .gpu/run.sh`. Outputs go to $OUT (default
# /tmp/gpu-out), one file per check; the exit code is the number of failed checks.
# Every check must exercise CUDA: VRAM_REQUIRE_CUDA=1 fails a test that finds
# no driver or device, and vramctl gets --backend cuda, so nothing falls back
# to the simulated device and passes.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
# Never an empty element, not even one of the caller's: the loader reads it
# as the current folder, and would load a libcuda from wherever this runs.
given=":${LD_LIBRARY_PATH:-}:"
while [[ $given == *::* ]]; do given=${given//::/:}; done
given=${given#:}
given=${given%:}
export LD_LIBRARY_PATH="/usr/local/nvidia/lib64${given:+:$given}"
export VRAM_REQUIRE_CUDA=1
if ! command -v timeout > /dev/null; then
  echo "run.sh needs timeout (coreutils) to bound each check"
  exit 1
fi
failed=0

# Prints one fact about the machine; never fails the script, even on a hang.
diag() { # title, shell command
  echo "# $1: $2"
  timeout --kill-after=5 30 bash -c "$2" 2>&1
  local status=$?
  if [ "$status" -ne 0 ]; then echo "(exit $status)"; fi
}
diagnostics() {
  diag "driver version" 'cat /proc/driver/nvidia/version'
  diag "device nodes" 'ls -l /dev/nvidia*'
  diag "nvidia-smi" 'nvidia-smi'
  diag "addressing mode (HMM/ATS)" 'nvidia-smi -q | grep -i -A2 addressing'
  diag "kernel" 'uname -r'
  diag "glibc" 'ldd --version | head -1'
  diag "LD_LIBRARY_PATH" 'echo "$LD_LIBRARY_PATH"'
}
diagnostics 2>&1 | tee "$OUT/diagnostics.txt"

# Where libcuda.so.1 is: the loader cache, then the usual folders and those
# of LD_LIBRARY_PATH, since a driver mounted into a container is often not
# in the cache. Fails only if it is nowhere.
libcuda() {
  local found=1 dir seen=" " IFS=:
  local dirs="/usr/lib/x86_64-linux-gnu:/usr/lib64:/usr/local/nvidia/lib64:/usr/local/cuda/compat:/usr/lib/wsl/lib:${LD_LIBRARY_PATH:-}"
  if "$(command -v ldconfig || echo /sbin/ldconfig)" -p 2>/dev/null | grep 'libcuda\.so\.1'; then
    found=0
  else
    echo "loader cache: no libcuda.so.1"
  fi
  for dir in $dirs; do
    case "$seen" in *" $dir "*) continue ;; esac
    seen="$seen$dir "
    if [ -n "$dir" ] && ls -l "$dir"/libcuda.so* 2> /dev/null; then found=0; fi
  done
  if [ "$found" -ne 0 ]; then echo "libcuda.so.1 found nowhere: is the NVIDIA driver installed (or mounted)?"; fi
  return "$found"
}
export -f libcuda

# Each check is bounded, so one hang costs minutes, not the machine's whole
# lease; a timeout is a failure like any other.
check() { # limit in seconds, name, command...
  local limit=$1 name=$2 started=$SECONDS status
  shift 2
  echo "=== $name (limit $limit s): $*"
  # A subshell that waits (no exec), so bash's "Killed" notice goes to the file.
  (timeout --kill-after=10 "$limit" "$@"; exit $?) > "$OUT/$name.txt" 2>&1
  status=$?
  if [ "$status" -eq 0 ]; then
    echo "--- $name: ok"
  elif [ $((SECONDS - started)) -ge "$limit" ] && [ "$status" -eq 124 ]; then
    echo "--- $name: FAILED: TIMED OUT after $limit s"
    failed=$((failed + 1))
  elif [ $((SECONDS - started)) -ge "$limit" ] && [ "$status" -eq 137 ]; then
    echo "--- $name: FAILED: TIMED OUT after $limit s (ignored SIGTERM, killed 10 s later)"
    failed=$((failed + 1))
  else
    echo "--- $name: FAILED ($status)"
    failed=$((failed + 1))
  fi
  tail -n 40 "$OUT/$name.txt"
}
check 30 libcuda bash -c libcuda
# gpu-alloc's CUDA tests: 1 GiB allocate/free, 256 MiB round trip, fill free
# memory until allocation fails cleanly, device properties.
check 300 gpu-alloc-cuda .gpu/bin/cuda --test-threads=1 --nocapture
check 180 demo .gpu/bin/vramctl demo --backend cuda --size-mib 1024
check 120 bench-copy .gpu/bin/vramctl bench copy --backend cuda --json
# Leaf hashes by the kernel where the weights are, beside copy back + CPU hash.
check 300 bench-verify .gpu/bin/vramctl bench verify --backend cuda --size-mib 16384 --runs 3 --json
# CPU only: the digest figures of the machine the GPU sits in.
check 180 bench-digest .gpu/bin/vramctl bench digest --size-mib 1024 --json
# The BDD suite: the simulated pass, then the same scenarios on CUDA, which
# VRAM_REQUIRE_CUDA=1 makes a failure to skip.
check 300 bdd .gpu/bin/bdd bdd/features
for t in .gpu/bin/*; do
  case "$(basename "$t")" in cuda|bdd|vramctl) continue ;; esac
  check 120 "test-$(basename "$t")" "$t" --test-threads=2
done
echo "failed checks: $failed"
exit "$failed"
"##;

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
    let vramctl = build_vramctl(root)?;
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
    std::fs::copy(&vramctl, bin.join("vramctl"))
        .map_err(|e| format!("cannot copy {vramctl}: {e}"))?;
    let script = root.join(".gpu").join("run.sh");
    std::fs::write(&script, RUN_SH)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    println!(
        "gpu-bundle: {copied} test binaries and vramctl in {}",
        bin.display()
    );
    Ok(root.join(".gpu"))
}

/// Builds `vramctl` in release and returns the executable cargo reports,
/// wherever the target directory is (`CARGO_TARGET_DIR`, `build.target-dir`).
fn build_vramctl(root: &Path) -> Result<String, String> {
    let output = cargo(root)
        .args([
            "build",
            "--locked",
            "--release",
            "-p",
            "vramctl",
            "--bin",
            "vramctl",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err("building vramctl failed".to_owned());
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| {
            m.pointer("/target/name")
                .and_then(serde_json::Value::as_str)
                == Some("vramctl")
        })
        .find_map(|m| {
            m.pointer("/executable")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| "cargo built vramctl but named no executable".to_owned())
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

#[cfg(test)]
mod tests {
    use super::RUN_SH;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A fresh folder under the system temp folder, removed by the caller.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_script(path: &Path, body: &str) {
        std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// Every check has a limit, every vramctl command that opens a device
    /// asks for CUDA, and "did not run" is a failure for all of them.
    #[test]
    fn every_check_is_bounded_and_requires_cuda() {
        assert!(RUN_SH.contains("\nexport VRAM_REQUIRE_CUDA=1\n"));
        let checks: Vec<&str> = RUN_SH
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("check "))
            .collect();
        assert!(checks.len() >= 7, "{checks:?}");
        for line in checks {
            let limit = line.split_whitespace().nth(1).unwrap_or_default();
            assert!(limit.parse::<u32>().is_ok_and(|s| s > 0), "{line}");
            if line.contains("vramctl") && !line.contains("bench digest") {
                assert!(line.contains("--backend cuda"), "{line}");
            }
        }
    }

    /// The script parses, and against fake binaries: the diagnostics print
    /// without failing it, LD_LIBRARY_PATH gets no empty element, a failed
    /// and a timed-out check each count, and the exit code is their number.
    #[cfg(target_os = "linux")]
    #[test]
    fn run_sh_counts_failures_and_timeouts() {
        let root = scratch("run-sh");
        let bin = root.join(".gpu").join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        write_script(
            &bin.join("cuda"),
            r#"echo "require=$VRAM_REQUIRE_CUDA path=$LD_LIBRARY_PATH""#,
        );
        write_script(
            &bin.join("vramctl"),
            r#"echo "vramctl $*"; case "$*" in *"bench copy"*) exit 2 ;; esac"#,
        );
        write_script(&bin.join("bdd"), r#"echo "bdd require=$VRAM_REQUIRE_CUDA""#);
        write_script(&bin.join("slow"), "exec sleep 30");
        // The bundled test binaries' limit, cut to 1 s so `slow` times out.
        let script = RUN_SH.replace("check 120 \"test-", "check 1 \"test-");
        assert_ne!(script, RUN_SH);
        let run_sh = root.join(".gpu").join("run.sh");
        std::fs::write(&run_sh, &script).unwrap();
        let parsed = Command::new("bash")
            .arg("-n")
            .arg(&run_sh)
            .status()
            .unwrap();
        assert!(parsed.success());

        let out_dir = root.join("out");
        let run = Command::new("bash")
            .arg(&run_sh)
            .current_dir(&root)
            .env("OUT", &out_dir)
            .env("LD_LIBRARY_PATH", ":/opt/x::")
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&run.stdout).into_owned();
        let failures = shown.lines().filter(|l| l.contains(": FAILED")).count();
        assert_eq!(run.status.code(), Some(failures as i32), "{shown}");
        // bench copy, the timed-out binary, and libcuda where there is none.
        let libcuda_failed = shown.contains("--- libcuda: FAILED");
        assert_eq!(failures, 2 + usize::from(libcuda_failed), "{shown}");
        for needle in [
            "# driver version: cat /proc/driver/nvidia/version",
            "# addressing mode (HMM/ATS)",
            "# glibc: ldd --version | head -1",
            "require=1 path=/usr/local/nvidia/lib64:/opt/x\n",
            "vramctl demo --backend cuda",
            "vramctl bench verify --backend cuda",
            "bdd require=1",
            "--- bench-copy: FAILED (2)",
            "--- test-slow: FAILED: TIMED OUT after 1 s",
            "--- demo: ok",
        ] {
            assert!(shown.contains(needle), "missing {needle:?} in\n{shown}");
        }
        for file in [
            "diagnostics",
            "libcuda",
            "gpu-alloc-cuda",
            "demo",
            "bdd",
            "test-slow",
        ] {
            assert!(out_dir.join(format!("{file}.txt")).is_file(), "{file}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}
