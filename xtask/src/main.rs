//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! runs (see rust-analyzer's xtask convention).
//!
//! - `cargo xtask ci` — the one gate: formatting, clippy with warnings denied,
//!   every test of the workspace (unit, integration, doctests, property tests),
//!   rustdoc with warnings denied (broken links, missing docs), true
//!   requirement IDs (`spec-ids`), GPU artefacts that match their source
//!   (`kernels --check`) and the BDD
//!   suite where it exists. Exits non-zero on any failure and names
//!   the steps that failed.
//! - `cargo xtask bdd [ARGS]` — the cucumber suite in `bdd/`; ARGS go to the
//!   runner (`--tags EXPR`, a feature path; see `bdd/README.md`), under a
//!   throwaway PostgreSQL for the `@fleet` scenarios.
//! - `cargo xtask proptest` — every property test with a nightly-sized case
//!   count and a fixed, printed seed.
//! - `cargo xtask spec-ids` — every requirement ID cited in code exists in
//!   `.specs/`; lists the IDs no test cites (see [`spec_ids`]).
//! - `cargo xtask mutants [CRATE...] [--in-diff]` — mutation testing (see
//!   [`mutants`]).
//! - `cargo xtask gpu-bundle` — builds the test binaries and `vramctl` in
//!   release, stripped, into `.gpu/` with a `run.sh` that runs the CUDA
//!   checks on a machine that has a GPU but no Rust toolchain (see
//!   `docs/gpu-checks.md`).
//! - `cargo xtask kernels [--check]` — regenerates the GPU kernel's
//!   committed PTX and cubins with NVRTC and `ptxas` from PyPI in a private
//!   virtualenv; `--check` (a CI step, no download) fails when they no
//!   longer match their source (see [`kernels`]).
//! - `cargo xtask pg -- COMMAND...` — runs COMMAND under a throwaway
//!   PostgreSQL (`DATABASE_URL`, `VRAM_REQUIRE_POSTGRES=1`), stopped
//!   afterwards whatever the outcome (see [`pg`]); `ci`'s test step runs
//!   under one too, and so does the bdd step.

mod gpu_bundle;
mod kernels;
mod mutants;
mod pg;
mod spec_ids;

use std::process::{Command, ExitCode};
use std::time::Instant;

/// Cases per property in the nightly-sized run.
const NIGHTLY_PROPTEST_CASES: &str = "2048";
/// Fixed seed so a nightly failure can be replayed exactly.
const NIGHTLY_PROPTEST_SEED: &str = "20261126";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("proptest") => proptest(),
        Some("bdd") => bdd(args.get(1..).unwrap_or_default()),
        Some("gpu-bundle") => gpu_bundle::run(&workspace_root()),
        Some("spec-ids") => spec_ids::run(&workspace_root()),
        Some("kernels") => kernels::run(&workspace_root(), args.get(1..).unwrap_or_default()),
        Some("release-features") => release_features(),
        Some("pg") => pg::run(args.get(1..).unwrap_or_default()),
        Some("mutants") => mutants::run(&workspace_root(), args.get(1..).unwrap_or_default()),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci         formatting, spec-ids, kernels --check, clippy (-D warnings), all workspace tests, rustdoc (-D warnings), the BDD suite; the CI gate
  bdd [ARGS] the cucumber suite (ARGS: --tags EXPR, a feature file or folder)
  proptest   every property test with PROPTEST_CASES=2048 and a fixed seed
  gpu-bundle release test binaries + vramctl + run.sh in .gpu/, for a GPU machine
  spec-ids   fails when code cites a requirement ID that .specs/ does not define; lists IDs no test cites
  kernels [--check]  rebuild the GPU kernel's PTX and cubins (NVRTC/ptxas 12.4 from PyPI); --check: fail if they do not match the source
  release-features  fails if a release vramctl would be built with vram-residency's test-util feature
  mutants [CRATE...] [--in-diff] [--shard K/N]  mutation testing with cargo-mutants; caught/missed per crate (docs/testing.md)
  pg -- COMMAND...  run COMMAND under a throwaway PostgreSQL (DATABASE_URL, VRAM_REQUIRE_POSTGRES=1), stopped afterwards";

/// One step of a gate: a name for the summary and the cargo arguments.
struct Step {
    name: &'static str,
    args: Vec<String>,
    env: &'static [(&'static str, &'static str)],
    /// Runs under a throwaway PostgreSQL, started just before the step and
    /// stopped just after, whatever its outcome.
    postgres: bool,
}

impl Step {
    fn new(name: &'static str, args: &[&str]) -> Self {
        Self {
            name,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: &[],
            postgres: false,
        }
    }
}

/// The BDD runner: `cargo test -p bdd --test bdd -- ARGS`, under a
/// throwaway PostgreSQL for the `@fleet` scenarios (which then fail, not
/// skip, without it: `VRAM_REQUIRE_POSTGRES=1`).
fn bdd_step(extra: &[String]) -> Step {
    let mut step = Step {
        postgres: true,
        ..Step::new(
            "bdd",
            &["test", "--locked", "-p", "bdd", "--test", "bdd", "--"],
        )
    };
    step.args.extend(extra.iter().cloned());
    step
}

fn bdd_exists() -> bool {
    workspace_root().join("bdd").join("Cargo.toml").is_file()
}

fn workspace_root() -> std::path::PathBuf {
    // xtask lives one level below the workspace root.
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

fn ci() -> ExitCode {
    // `--all-features` turns on `test-util`, which the tamper tests need.
    let mut steps = vec![
        Step::new("fmt", &["fmt", "--all", "--check"]),
        Step::new(
            "spec-ids",
            &["run", "--locked", "-q", "-p", "xtask", "--", "spec-ids"],
        ),
        // The committed PTX and cubins are those of the committed kernel source.
        Step::new(
            "kernels --check",
            &[
                "run", "--locked", "-q", "-p", "xtask", "--", "kernels", "--check",
            ],
        ),
        Step::new(
            "clippy",
            &[
                "clippy",
                "--locked",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
        Step {
            // Tests that need an outside tool (sha256sum) or PostgreSQL
            // fail, not skip.
            env: &[("VRAM_REQUIRE_TOOLS", "1")],
            postgres: true,
            ..Step::new(
                "test",
                &["test", "--locked", "--workspace", "--all-features"],
            )
        },
        // The facade as a worker builds it: without the tamper helpers;
        // its shipping test needs PostgreSQL, so the same rule holds.
        Step {
            env: &[("VRAM_REQUIRE_TOOLS", "1")],
            postgres: true,
            ..Step::new(
                "test vram-residency without test-util",
                &["test", "--locked", "-p", "vram-residency"],
            )
        },
        Step::new(
            "release-features",
            &[
                "run",
                "--locked",
                "-q",
                "-p",
                "xtask",
                "--",
                "release-features",
            ],
        ),
        Step {
            env: &[("RUSTDOCFLAGS", "-D warnings")],
            ..Step::new(
                "doc",
                &[
                    "doc",
                    "--locked",
                    "--workspace",
                    "--no-deps",
                    "--all-features",
                ],
            )
        },
    ];
    if bdd_exists() {
        steps.push(bdd_step(&[]));
    } else {
        println!("xtask ci: no bdd/Cargo.toml yet, so there is no BDD step");
    }
    run_steps("ci", &steps)
}

/// The tamper helpers of `vram-residency` (`test-util`) must never be in
/// a release `vramctl`: resolves the features `cargo build --release -p
/// vramctl` would use and fails if `test-util` is among them.
fn release_features() -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args([
            "tree", "--locked", "-p", "vramctl", "-e", "features", "-e", "normal", "--prefix",
            "none",
        ])
        .output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "xtask release-features: cargo tree failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("xtask release-features: could not start cargo: {e}");
            return ExitCode::from(2);
        }
    };
    let tree = String::from_utf8_lossy(&output.stdout);
    if !tree.contains("vram-residency") {
        eprintln!(
            "xtask release-features: vramctl's tree does not list vram-residency; is this check still looking at the right crate?"
        );
        return ExitCode::FAILURE;
    }
    if tree.contains("feature \"test-util\"") {
        eprintln!(
            "xtask release-features: a release vramctl would contain vram-residency's test-util tamper helpers; remove the feature from vramctl's dependencies"
        );
        return ExitCode::FAILURE;
    }
    println!("release-features: vramctl is built without test-util");
    ExitCode::SUCCESS
}

fn bdd(args: &[String]) -> ExitCode {
    if !bdd_exists() {
        eprintln!("xtask bdd: bdd/Cargo.toml does not exist");
        return ExitCode::FAILURE;
    }
    run_steps("bdd", &[bdd_step(args)])
}

fn proptest() -> ExitCode {
    println!(
        "xtask proptest: PROPTEST_CASES={NIGHTLY_PROPTEST_CASES} PROPTEST_RNG_SEED={NIGHTLY_PROPTEST_SEED}"
    );
    let mut step = Step::new(
        "property tests",
        &[
            "test",
            "--locked",
            "--workspace",
            "--all-features",
            "--release",
            "prop_",
        ],
    );
    step.env = &[
        ("PROPTEST_CASES", NIGHTLY_PROPTEST_CASES),
        ("PROPTEST_RNG_SEED", NIGHTLY_PROPTEST_SEED),
    ];
    run_steps("proptest", &[step])
}

/// Runs every step even after a failure, so one run shows everything that is
/// wrong, then prints a summary and fails if any step failed.
fn run_steps(gate: &str, steps: &[Step]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut failed = Vec::new();
    for step in steps {
        println!(
            "\n==> xtask {gate}: {} (cargo {})",
            step.name,
            step.args.join(" ")
        );
        let server = if step.postgres {
            match pg::start(step.name) {
                Ok(server) => Some(server),
                Err(e) => {
                    println!("<== {}: FAILED: cannot start PostgreSQL: {e}", step.name);
                    failed.push(step.name);
                    continue;
                }
            }
        } else {
            None
        };
        let started = Instant::now();
        let status = Command::new(&cargo)
            .current_dir(workspace_root())
            .args(&step.args)
            .envs(step.env.iter().copied())
            .envs(server.iter().flat_map(pg::env))
            .status();
        let seconds = started.elapsed().as_secs_f64();
        if let Some(server) = server {
            pg::stop(server);
        }
        match status {
            Ok(s) if s.success() => println!("<== {}: ok ({seconds:.1}s)", step.name),
            Ok(s) => {
                println!("<== {}: FAILED ({s}, {seconds:.1}s)", step.name);
                failed.push(step.name);
            }
            Err(e) => {
                println!("<== {}: could not start cargo: {e}", step.name);
                failed.push(step.name);
            }
        }
    }
    if failed.is_empty() {
        println!("\nxtask {gate}: all {} steps passed", steps.len());
        ExitCode::SUCCESS
    } else {
        println!("\nxtask {gate}: FAILED steps: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
