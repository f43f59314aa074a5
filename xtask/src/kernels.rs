//! `cargo xtask kernels [--check]`: the GPU kernel's committed artefacts
//! (spec GA-KERN-005, docs/gpu-kernel.md).
//!
//! Workers have a driver, no toolkit, so the repository ships the kernel
//! `crates/gpu-alloc/kernels/leaf_hash.cu` compiled: PTX for `compute_80`
//! (the driver's JIT fallback) and cubins for `sm_80` and `sm_90`, with
//! `kernels.json` recording the hashes of the source and of each artefact.
//!
//! - `cargo xtask kernels` regenerates them: a private virtualenv under
//!   `target/kernels-venv` gets NVRTC and `ptxas` from PyPI's
//!   `nvidia-cuda-nvrtc-cu12` and `nvidia-cuda-nvcc-cu12` wheels (12.4, whose
//!   PTX is ISA 8.4: NVRTC 12.9 writes ISA 8.8, which drivers R550 to R570
//!   refuse), `xtask/kernels/nvrtc_compile.py` compiles the source to PTX
//!   through NVRTC, `ptxas` assembles the cubins. Everything is built in
//!   `target/kernels-out` first and copied into place only when all of it
//!   succeeded.
//! - `cargo xtask kernels --check` downloads nothing: it fails when the
//!   source's hash or an artefact's differs from the manifest, when an
//!   artefact is missing or unlisted, or when the PTX is newer than ISA 8.4.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The wheels, pinned: the newest 12.4 builds. NVRTC 12.4 writes PTX ISA 8.4.
const NVRTC_WHEEL: &str = "nvidia-cuda-nvrtc-cu12==12.4.127";
const NVCC_WHEEL: &str = "nvidia-cuda-nvcc-cu12==12.4.131";
/// The newest PTX ISA the committed PTX may have (drivers from R550 on).
const MAX_PTX_ISA: (u32, u32) = (8, 4);
/// Virtual architecture of the PTX; real ones of the cubins.
const PTX_ARCH: &str = "compute_80";
const CUBIN_ARCHES: [&str; 2] = ["sm_80", "sm_90"];
const PTXAS_OPTIONS: [&str; 1] = ["-O3"];

const SOURCE: &str = "leaf_hash.cu";
const STEM: &str = "leaf_hash";
const ENTRY: &str = "leaf_hashes";
const MANIFEST: &str = "kernels.json";

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let result = match args {
        [] => generate(root),
        [flag] if flag == "--check" => check(root),
        _ => Err("usage: cargo xtask kernels [--check]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask kernels: {message}");
            ExitCode::FAILURE
        }
    }
}

fn kernels_dir(root: &Path) -> PathBuf {
    root.join("crates").join("gpu-alloc").join("kernels")
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// `value[key]`, or null: the JSON here is ours, a missing key is a mismatch.
fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value.get(key).unwrap_or(&Value::Null)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `(major, minor)` of the PTX's `.version` line.
fn ptx_isa(ptx: &str) -> Option<(u32, u32)> {
    let line = ptx
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(".version"))?;
    let (major, minor) = line.strip_prefix(".version")?.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The PTX's `.target` line's first target (`sm_80`).
fn ptx_target(ptx: &str) -> Option<&str> {
    ptx.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(".target"))
        .and_then(|rest| rest.split([',', ' ']).find(|t| !t.is_empty()))
}

/// Runs a command to its end; fails, with what it printed, unless it succeeds.
fn output(command: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = command
        .output()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", command.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The virtualenv's Python, with both wheels installed.
fn venv_python(root: &Path) -> Result<PathBuf, String> {
    let venv = target_dir(root).join("kernels-venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        println!("kernels: creating {}", venv.display());
        status(
            Command::new(&system).args(["-m", "venv"]).arg(&venv),
            "creating the virtualenv",
        )?;
    }
    println!("kernels: pip install {NVRTC_WHEEL} {NVCC_WHEEL}");
    status(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            NVRTC_WHEEL,
            NVCC_WHEEL,
        ]),
        "pip install",
    )?;
    Ok(python)
}

/// `ptxas` from the nvidia-cuda-nvcc-cu12 wheel in the virtualenv.
fn find_ptxas(python: &Path) -> Result<PathBuf, String> {
    let site = stdout(&output(
        Command::new(python).args([
            "-c",
            "import nvidia.cuda_nvcc, os; print(list(nvidia.cuda_nvcc.__path__)[0])",
        ]),
        "locating the nvidia-cuda-nvcc-cu12 wheel",
    )?);
    let ptxas = PathBuf::from(site.trim()).join("bin").join("ptxas");
    if ptxas.is_file() {
        Ok(ptxas)
    } else {
        Err(format!("{} does not exist", ptxas.display()))
    }
}

fn generate(root: &Path) -> Result<(), String> {
    let dir = kernels_dir(root);
    let source_path = dir.join(SOURCE);
    let source = read(&source_path)?;
    let python = venv_python(root)?;
    let ptxas = find_ptxas(&python)?;
    let staging = target_dir(root).join("kernels-out");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|e| format!("cannot empty {}: {e}", staging.display()))?;
    }
    std::fs::create_dir_all(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;

    // Source -> PTX with NVRTC.
    let ptx_name = format!("{STEM}.ptx");
    let script = root.join("xtask").join("kernels").join("nvrtc_compile.py");
    let report = stdout(&output(
        Command::new(&python)
            .arg(&script)
            .arg(&source_path)
            .arg(staging.join(&ptx_name))
            .args(["--arch", PTX_ARCH]),
        "NVRTC",
    )?);
    let report: Value = serde_json::from_str(report.trim())
        .map_err(|e| format!("nvrtc_compile.py printed no JSON report: {e}"))?;
    let ptx = String::from_utf8(read(&staging.join(&ptx_name))?)
        .map_err(|_| "the PTX is not UTF-8".to_owned())?;
    let isa = ptx_isa(&ptx).ok_or("the PTX has no .version line")?;
    if isa > MAX_PTX_ISA {
        return Err(format!(
            "NVRTC wrote PTX ISA {}.{}, newer than {}.{}: drivers R550 to R570 would refuse it",
            isa.0, isa.1, MAX_PTX_ISA.0, MAX_PTX_ISA.1
        ));
    }
    println!(
        "kernels: {ptx_name}: PTX ISA {}.{}, .target {}, NVRTC {}",
        isa.0,
        isa.1,
        ptx_target(&ptx).unwrap_or("?"),
        field(&report, "nvrtc_version").as_str().unwrap_or("?")
    );

    // PTX -> cubins with ptxas.
    let ptxas_version = stdout(&output(
        Command::new(&ptxas).arg("--version"),
        "ptxas --version",
    )?);
    let ptxas_version = ptxas_version
        .lines()
        .find(|l| l.starts_with("Cuda compilation tools"))
        .unwrap_or_else(|| ptxas_version.trim())
        .to_owned();
    let mut artefacts = vec![artefact(&staging, &ptx_name, "ptx", PTX_ARCH)?];
    for arch in CUBIN_ARCHES {
        let name = format!("{STEM}.{arch}.cubin");
        let info = output(
            Command::new(&ptxas)
                .arg(format!("-arch={arch}"))
                .args(PTXAS_OPTIONS)
                .arg("-v")
                .arg(staging.join(&ptx_name))
                .arg("-o")
                .arg(staging.join(&name)),
            &format!("ptxas for {arch}"),
        )?;
        // ptxas -v: registers, stack frame and spills, on stderr.
        print!("{}{}", stdout(&info), String::from_utf8_lossy(&info.stderr));
        artefacts.push(artefact(&staging, &name, "cubin", arch)?);
    }

    let manifest = json!({
        "about": "Generated by `cargo xtask kernels` from the source below; `cargo xtask kernels --check` (in `cargo xtask ci`) fails when they differ. Do not edit.",
        "source": SOURCE,
        "source_sha256": sha256_hex(&source),
        "entry": ENTRY,
        "nvrtc": {
            "version": field(&report, "nvrtc_version"),
            "wheel": NVRTC_WHEEL,
            "options": field(&report, "options"),
        },
        "ptxas": {
            "version": ptxas_version,
            "wheel": NVCC_WHEEL,
            "options": PTXAS_OPTIONS,
        },
        "ptx_isa": format!("{}.{}", isa.0, isa.1),
        "artefacts": artefacts,
    });
    let mut text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    text.push('\n');

    // All built: now replace the committed files.
    for entry in &artefacts {
        let name = field(entry, "file").as_str().unwrap_or_default();
        std::fs::copy(staging.join(name), dir.join(name))
            .map_err(|e| format!("cannot copy {name} into {}: {e}", dir.display()))?;
        println!(
            "kernels: wrote {name} ({} bytes)",
            field(entry, "bytes").as_u64().unwrap_or(0)
        );
    }
    std::fs::write(dir.join(MANIFEST), text)
        .map_err(|e| format!("cannot write {MANIFEST}: {e}"))?;
    println!("kernels: wrote {MANIFEST}; commit the artefacts with the source");
    Ok(())
}

fn artefact(dir: &Path, name: &str, kind: &str, arch: &str) -> Result<Value, String> {
    let bytes = read(&dir.join(name))?;
    Ok(json!({
        "file": name,
        "kind": kind,
        "arch": arch,
        "bytes": bytes.len(),
        "sha256": sha256_hex(&bytes),
    }))
}

fn check(root: &Path) -> Result<(), String> {
    let dir = kernels_dir(root);
    let problems = problems(&dir)?;
    if problems.is_empty() {
        println!(
            "kernels --check: {SOURCE} and its artefacts match {MANIFEST} (crates/gpu-alloc/kernels)"
        );
        Ok(())
    } else {
        Err(format!(
            "the committed GPU artefacts do not match their source; run `cargo xtask kernels` and commit the results:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Everything that makes the manifest in `dir` untrue; empty when it holds.
fn problems(dir: &Path) -> Result<Vec<String>, String> {
    let manifest: Value = serde_json::from_slice(&read(&dir.join(MANIFEST))?)
        .map_err(|e| format!("{MANIFEST} is not JSON: {e}"))?;
    let mut problems = Vec::new();
    let source = read(&dir.join(SOURCE))?;
    if field(&manifest, "source_sha256").as_str() != Some(sha256_hex(&source).as_str()) {
        problems.push(format!(
            "{SOURCE} changed since the artefacts were built (its SHA-256 is not the manifest's)"
        ));
    }
    let listed = field(&manifest, "artefacts")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut names = Vec::new();
    for entry in &listed {
        let Some(name) = field(entry, "file").as_str() else {
            problems.push("an artefact entry has no file name".to_owned());
            continue;
        };
        names.push(name.to_owned());
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            problems.push(format!("{name} is listed but missing"));
            continue;
        };
        if field(entry, "sha256").as_str() != Some(sha256_hex(&bytes).as_str()) {
            problems.push(format!("{name} differs from the one the manifest records"));
        }
        if field(entry, "kind") == "ptx" {
            match ptx_isa(&String::from_utf8_lossy(&bytes)) {
                Some(isa) if isa <= MAX_PTX_ISA => {}
                Some((major, minor)) => problems.push(format!(
                    "{name} is PTX ISA {major}.{minor}, newer than {}.{} (drivers R550 to R570 refuse it)",
                    MAX_PTX_ISA.0, MAX_PTX_ISA.1
                )),
                None => problems.push(format!("{name} has no .version line")),
            }
        }
    }
    for wanted in std::iter::once(format!("{STEM}.ptx"))
        .chain(CUBIN_ARCHES.iter().map(|a| format!("{STEM}.{a}.cubin")))
    {
        if !names.contains(&wanted) {
            problems.push(format!("{MANIFEST} does not list {wanted}"));
        }
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.ends_with(".ptx") || name.ends_with(".cubin")) && !names.contains(&name) {
            problems.push(format!("{name} is not in {MANIFEST}"));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_header_lines_are_read() {
        let ptx = "//\n// Generated by NVIDIA NVVM Compiler\n\n.version 8.4\n.target sm_80\n.address_size 64\n";
        assert_eq!(ptx_isa(ptx), Some((8, 4)));
        assert_eq!(ptx_target(ptx), Some("sm_80"));
        assert_eq!(ptx_isa(".version 8.10\n"), Some((8, 10)));
        assert!(ptx_isa(".version 8.10\n") > Some(MAX_PTX_ISA));
        assert_eq!(ptx_isa("no version"), None);
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A manifest that holds, then a changed source, changed artefacts, a
    /// PTX too new and a stray cubin: each is reported.
    #[test]
    fn check_reports_every_mismatch() {
        let dir = std::env::temp_dir().join(format!("xtask-kernels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ptx = b".version 8.4\n.target sm_80\n".to_vec();
        let files = [
            (format!("{STEM}.ptx"), ptx.clone(), "ptx"),
            (
                format!("{STEM}.sm_80.cubin"),
                b"\x7fELF80".to_vec(),
                "cubin",
            ),
            (
                format!("{STEM}.sm_90.cubin"),
                b"\x7fELF90".to_vec(),
                "cubin",
            ),
        ];
        std::fs::write(dir.join(SOURCE), b"kernel v1").unwrap();
        let mut listed = Vec::new();
        for (name, bytes, kind) in &files {
            std::fs::write(dir.join(name), bytes).unwrap();
            listed.push(json!({"file": name, "kind": kind, "sha256": sha256_hex(bytes)}));
        }
        let manifest = json!({"source_sha256": sha256_hex(b"kernel v1"), "artefacts": listed});
        std::fs::write(dir.join(MANIFEST), manifest.to_string()).unwrap();
        assert_eq!(problems(&dir).unwrap(), Vec::<String>::new());

        std::fs::write(dir.join(SOURCE), b"kernel v2").unwrap();
        std::fs::write(dir.join(format!("{STEM}.ptx")), b".version 8.8\n").unwrap();
        std::fs::write(dir.join(format!("{STEM}.sm_90.cubin")), b"other").unwrap();
        std::fs::write(dir.join("stray.cubin"), b"x").unwrap();
        let found = problems(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].contains("changed since"));
        assert!(found[1].contains("leaf_hash.ptx differs"));
        assert!(found[2].contains("PTX ISA 8.8, newer than 8.4"));
        assert!(found[3].contains("sm_90.cubin differs"));
        assert!(found[4].contains("stray.cubin is not in"));
    }
}
