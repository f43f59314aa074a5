//! `cargo xtask mutants [CRATE...] [--in-diff] [--shard K/N]`: mutation
//! testing with `cargo-mutants` (installed with `cargo install --locked` if
//! missing). Each crate's mutants are tested by that crate's own tests; the
//! figures (caught / missed / timeout / unviable) are printed per crate, and
//! the missed mutants listed, from `target/mutants/<crate>/mutants.out/`.
//!
//! - no CRATE: `seal-crypto`, `tlog`, `audit-core`, `vram-residency` and the safe
//!   parts of `gpu-alloc` (`cuda.rs` holds only driver calls: its mutants
//!   need a GPU to be seen, see `docs/gpu-checks.md`).
//! - `--in-diff`: only the code changed against `main` (`git diff main`),
//!   the fast mode to run before stopping.
//! - `--shard K/N`: the K-th of N slices, to spread a full run over machines
//!   or sessions.
//! - `--iterate`: test again only what the last run of that crate did not
//!   catch (after adding tests for its missed mutants).
//!
//! Benchmarks (`bench.rs`) are excluded: they are measured, not asserted.
//! Times on the 2-core development machine are in `docs/testing.md`.

use std::path::Path;
use std::process::{Command, ExitCode};

/// Crates mutated by default, in order.
const DEFAULT_CRATES: [&str; 5] = [
    "seal-crypto",
    "tlog",
    "audit-core",
    "vram-residency",
    "gpu-alloc",
];

/// Files never mutated: benchmarks, and the CUDA driver calls.
const EXCLUDED: [&str; 3] = ["**/bench.rs", "**/bench/**", "crates/gpu-alloc/src/cuda.rs"];

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let mut crates: Vec<String> = Vec::new();
    let mut in_diff = false;
    let mut iterate = false;
    let mut shard: Option<String> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--in-diff" => in_diff = true,
            "--iterate" => iterate = true,
            "--shard" => match rest.next() {
                Some(value) => shard = Some(value.clone()),
                None => return usage("--shard needs K/N, for example --shard 1/4"),
            },
            other if other.starts_with('-') => return usage(&format!("unknown option {other}")),
            name => crates.push(name.to_owned()),
        }
    }
    if crates.is_empty() {
        crates = DEFAULT_CRATES.iter().map(|c| (*c).to_owned()).collect();
    }
    if let Err(e) = ensure_installed() {
        eprintln!("xtask mutants: {e}");
        return ExitCode::from(2);
    }
    let diff = if in_diff {
        match write_diff(root) {
            Ok(path) => Some(path),
            Err(e) => {
                eprintln!("xtask mutants: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let mut summaries = Vec::new();
    for name in &crates {
        let out = root.join("target").join("mutants").join(name);
        if let Err(e) = std::fs::create_dir_all(&out) {
            eprintln!("xtask mutants: cannot create {}: {e}", out.display());
            return ExitCode::from(2);
        }
        let mut command = Command::new("cargo");
        command
            .current_dir(root)
            .args(["mutants", "--no-shuffle", "--jobs", "1", "-p", name])
            .arg("--output")
            .arg(&out);
        for pattern in EXCLUDED {
            command.args(["--exclude", pattern]);
        }
        if name == "vram-residency" {
            // Its tamper tests need the test-util feature.
            command.arg("--all-features");
        }
        if let Some(diff) = &diff {
            command.arg("--in-diff").arg(diff);
        }
        if iterate {
            command.arg("--iterate");
        }
        if let Some(shard) = &shard {
            command.args(["--shard", shard]);
        }
        println!("\n==> xtask mutants: {name}");
        let started = std::time::Instant::now();
        // cargo-mutants exits non-zero when a mutant is missed; the figures
        // below say what happened either way.
        if let Err(e) = command.status() {
            eprintln!("xtask mutants: could not start cargo mutants: {e}");
            return ExitCode::from(2);
        }
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        match Summary::read(&out.join("mutants.out")) {
            Ok(summary) => summaries.push((name.clone(), summary, minutes)),
            Err(e) => {
                eprintln!("xtask mutants: {name}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!("\ncrate            mutants  caught  missed  timeout  unviable  caught%  minutes");
    let mut any_missed = false;
    for (name, s, minutes) in &summaries {
        let viable = s.caught + s.missed + s.timeout;
        let percent = if viable == 0 {
            100.0
        } else {
            100.0 * (s.caught + s.timeout) as f64 / viable as f64
        };
        println!(
            "{name:<16} {:>7}  {:>6}  {:>6}  {:>7}  {:>8}  {percent:>6.1}%  {minutes:>7.1}",
            s.total, s.caught, s.missed, s.timeout, s.unviable
        );
        any_missed |= s.missed > 0;
    }
    for (name, s, _) in &summaries {
        for line in &s.missed_list {
            println!("missed in {name}: {line}");
        }
    }
    if any_missed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "xtask mutants: {problem}\nusage: cargo xtask mutants [CRATE...] [--in-diff] [--iterate] [--shard K/N]"
    );
    ExitCode::from(2)
}

fn ensure_installed() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("xtask mutants: installing cargo-mutants (cargo install --locked cargo-mutants)");
    let status = Command::new("cargo")
        .args(["install", "--locked", "cargo-mutants"])
        .status()
        .map_err(|e| format!("could not start cargo install: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cargo install cargo-mutants failed; see above".to_owned())
    }
}

/// Writes `git diff main` (committed and uncommitted changes) for
/// `--in-diff`.
fn write_diff(root: &Path) -> Result<std::path::PathBuf, String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(["diff", "main"])
        .output()
        .map_err(|e| format!("could not run git diff: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "git diff main failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let dir = root.join("target").join("mutants");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("changes.diff");
    std::fs::write(&path, &output.stdout)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// The figures of one crate's run.
struct Summary {
    total: u64,
    caught: u64,
    missed: u64,
    timeout: u64,
    unviable: u64,
    missed_list: Vec<String>,
}

impl Summary {
    fn read(dir: &Path) -> Result<Self, String> {
        let path = dir.join("outcomes.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let count = |key: &str| {
            json.get(key)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0)
        };
        let missed_list = std::fs::read_to_string(dir.join("missed.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        Ok(Self {
            total: count("total_mutants"),
            caught: count("caught"),
            missed: count("missed"),
            timeout: count("timeout"),
            unviable: count("unviable"),
            missed_list,
        })
    }
}
