//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo
//! runs (see rust-analyzer's xtask convention).
//!
//! - `cargo xtask ci` — the one gate: formatting, clippy with warnings denied,
//!   every test of the workspace (unit, integration, doctests, property tests)
//!   and the BDD suite where it exists. Exits non-zero on any failure and names
//!   the steps that failed.
//! - `cargo xtask proptest` — every property test with a nightly-sized case
//!   count and a fixed, printed seed.

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
  ci         formatting, clippy (-D warnings), all workspace tests; the CI gate
  proptest   every property test with PROPTEST_CASES=2048 and a fixed seed";

/// One step of a gate: a name for the summary and the cargo arguments.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const CI_STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--check"],
        env: &[],
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step {
        name: "test",
        args: &["test", "--locked", "--workspace"],
        env: &[],
    },
];

fn ci() -> ExitCode {
    run_steps("ci", CI_STEPS)
}

fn proptest() -> ExitCode {
    println!(
        "xtask proptest: PROPTEST_CASES={NIGHTLY_PROPTEST_CASES} PROPTEST_RNG_SEED={NIGHTLY_PROPTEST_SEED}"
    );
    run_steps(
        "proptest",
        &[Step {
            name: "property tests",
            args: &["test", "--locked", "--workspace", "--release", "prop_"],
            env: &[
                ("PROPTEST_CASES", NIGHTLY_PROPTEST_CASES),
                ("PROPTEST_RNG_SEED", NIGHTLY_PROPTEST_SEED),
            ],
        }],
    )
}

/// Runs every step even after a failure, so one run shows everything that is
/// wrong, then prints a summary and fails if any step failed.
fn run_steps(gate: &str, steps: &[Step]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut failed = Vec::new();
    for step in steps {
        println!("\n==> xtask {gate}: {} (cargo {})", step.name, step.args.join(" "));
        let started = Instant::now();
        let status = Command::new(&cargo)
            .args(step.args)
            .envs(step.env.iter().copied())
            .status();
        let seconds = started.elapsed().as_secs_f64();
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
