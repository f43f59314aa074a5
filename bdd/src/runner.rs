//! The runner behind `cargo xtask bdd [--tags EXPR] [FEATURE]`.
//!
//! Runs every selected scenario of `bdd/features` against the simulated
//! device, then, when a CUDA driver and a GPU are present, a second time
//! against CUDA device 0 (scenarios tagged `@simulated` need fault injection
//! or a configurable device and are left out of that pass by design). When
//! no GPU is present it prints one line saying the CUDA pass did not run.
//!
//! Exits non-zero if any step fails, is undefined or is skipped, if a
//! feature does not parse, or if no scenario was selected.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::capture;
use crate::require_cuda;
use crate::world::{Pass, ResidencyWorld};
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use cucumber::{World as _, cli};

/// Options beyond cucumber's own (`--tags`, `--name`, `--input`,
/// `--concurrency`, `--fail-fast`, `--verbose`, `--color`).
#[derive(Debug, Clone, clap::Args)]
struct Custom {
    /// A feature file or folder to run instead of all of `bdd/features`:
    /// relative to the current folder, the workspace root, `bdd/` or
    /// `bdd/features/` (`sealing`, `sealing.feature`,
    /// `bdd/features/sealing.feature` all work).
    #[arg(value_name = "FEATURE")]
    feature: Option<PathBuf>,
}

type Opts = cli::Opts<
    cucumber::parser::basic::Cli,
    cucumber::runner::basic::Cli,
    cucumber::writer::basic::Cli,
    Custom,
>;

/// Outcome of one pass.
#[derive(Debug, Clone, Copy)]
struct PassResult {
    scenarios: cucumber::writer::summarize::Stats,
    steps: cucumber::writer::summarize::Stats,
    parsing_errors: usize,
    hook_errors: usize,
}

impl PassResult {
    fn failed(&self) -> bool {
        self.scenarios.failed > 0
            || self.scenarios.skipped > 0
            || self.steps.failed > 0
            || self.steps.skipped > 0
            || self.parsing_errors > 0
            || self.hook_errors > 0
    }

    fn summary(&self, pass: Pass) -> String {
        let s = self.scenarios;
        let t = self.steps;
        let mut line = format!(
            "bdd: {} pass: {} scenarios ({} passed, {} failed, {} skipped), {} steps ({} passed, {} failed, {} skipped)",
            pass.name(),
            s.total(),
            s.passed,
            s.failed,
            s.skipped,
            t.total(),
            t.passed,
            t.failed,
            t.skipped,
        );
        if self.parsing_errors > 0 || self.hook_errors > 0 {
            line.push_str(&format!(
                ", {} parsing errors, {} hook errors",
                self.parsing_errors, self.hook_errors
            ));
        }
        line
    }
}

/// Parses the command line, runs the passes, prints the summary lines and
/// returns the exit code.
pub fn run() -> ExitCode {
    capture::install();
    let mut opts = Opts::parsed();
    // Filters are applied here (not by cucumber) so the CUDA pass can add
    // "not @simulated" to whatever the caller asked for.
    let tags = opts.tags_filter.take();
    let name = opts.re_filter.take();
    let input = match opts.custom.feature.take() {
        Some(path) => match resolve_feature(&path) {
            Some(found) => found,
            None => {
                eprintln!(
                    "bdd: no feature file or folder {} (looked in the current folder, the workspace root, bdd/ and bdd/features/)",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        },
        None => features_dir(),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the runner");

    // The @fleet scenarios need PostgreSQL (DATABASE_URL, which `cargo
    // xtask bdd` and `ci` set): without it they are left out and the run
    // says so; under VRAM_REQUIRE_POSTGRES=1 that is a failure.
    let postgres = std::env::var(crate::pg_server::DATABASE_URL).is_ok();
    let mut failed = false;
    if !postgres {
        println!(
            "bdd: fleet scenarios (@fleet) did not run: DATABASE_URL is not set (cargo xtask bdd and cargo xtask ci start a throwaway PostgreSQL)"
        );
        if std::env::var(crate::pg_server::REQUIRE_POSTGRES).is_ok_and(|v| v == "1") {
            println!(
                "bdd: {}=1 is set, so fleet scenarios that did not run are a failure",
                crate::pg_server::REQUIRE_POSTGRES
            );
            failed = true;
        }
    }

    let simulated = runtime.block_on(run_pass(
        Pass::Simulated,
        &opts,
        tags.clone(),
        name.clone(),
        &input,
        postgres,
    ));
    println!("{}", simulated.summary(Pass::Simulated));
    failed |= simulated.failed();
    let mut passed_scenarios = simulated.scenarios.passed;
    let mut failed_scenarios = simulated.scenarios.failed;
    let mut skipped_scenarios = simulated.scenarios.skipped;
    if simulated.scenarios.total() == 0 {
        println!("bdd: no scenario was selected; check --tags, --name and the feature path");
        failed = true;
    }

    match cuda_devices() {
        Ok(count) if count > 0 => {
            let cuda = runtime.block_on(run_pass(Pass::Cuda, &opts, tags, name, &input, postgres));
            println!("{}", cuda.summary(Pass::Cuda));
            if cuda.scenarios.total() == 0 {
                println!(
                    "bdd: CUDA pass ran no scenario: every selected scenario is tagged @simulated"
                );
            }
            failed |= cuda.failed();
            passed_scenarios += cuda.scenarios.passed;
            failed_scenarios += cuda.scenarios.failed;
            skipped_scenarios += cuda.scenarios.skipped;
        }
        Ok(_) => {
            println!("bdd: CUDA pass did not run: the CUDA driver sees no GPU");
            failed |= cuda_required();
        }
        Err(gpu_alloc::AllocError::NoCudaDriver) => {
            println!("bdd: CUDA pass did not run: no CUDA driver found");
            failed |= cuda_required();
        }
        Err(error) => {
            println!("bdd: CUDA pass did not run: the CUDA driver failed: {error}");
            failed |= cuda_required();
        }
    }

    println!(
        "bdd: {passed_scenarios} passed, {failed_scenarios} failed, {skipped_scenarios} skipped"
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `BDD_REQUIRE_CUDA=1`, or the workspace-wide `VRAM_REQUIRE_CUDA=1`
/// (GA-022), turns "the CUDA pass did not run" into a failure, for GPU
/// runners that must not pass without exercising the GPU.
fn cuda_required() -> bool {
    let switch = if std::env::var("BDD_REQUIRE_CUDA").is_ok_and(|v| v == "1") {
        "BDD_REQUIRE_CUDA"
    } else if require_cuda::required() {
        require_cuda::SWITCH
    } else {
        return false;
    };
    println!("bdd: {switch}=1 is set, so a missing CUDA pass is a failure");
    true
}

/// Number of CUDA devices; no cudarc call is made without a driver.
fn cuda_devices() -> Result<u32, gpu_alloc::AllocError> {
    if !gpu_alloc::cuda::driver_present() {
        return Err(gpu_alloc::AllocError::NoCudaDriver);
    }
    gpu_alloc::device_count(gpu_alloc::Backend::Cuda)
}

async fn run_pass(
    pass: Pass,
    opts: &Opts,
    tags: Option<TagOperation>,
    name: Option<cucumber::codegen::Regex>,
    input: &Path,
    postgres: bool,
) -> PassResult {
    Pass::set_current(pass);
    println!("bdd: {} pass: starting", pass.name());
    let writer = ResidencyWorld::cucumber()
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .with_cli(opts.clone())
        .filter_run(input.to_path_buf(), move |feature, rule, scenario| {
            let all_tags = feature
                .tags
                .iter()
                .chain(rule.iter().flat_map(|r| &r.tags))
                .chain(scenario.tags.iter());
            let simulated_only = all_tags.clone().any(|t| t == "simulated");
            // The fleet runs no device: once, in the simulated pass, and
            // only with a PostgreSQL.
            let fleet = all_tags.clone().any(|t| t == "fleet");
            name.as_ref().is_none_or(|re| re.is_match(&scenario.name))
                && tags.as_ref().is_none_or(|t| t.eval(all_tags))
                && !(pass == Pass::Cuda && simulated_only)
                && !(fleet && (pass == Pass::Cuda || !postgres))
        })
        .await;
    let summary = writer.inner_writer();
    PassResult {
        scenarios: *summary.scenarios_stats(),
        steps: *summary.steps_stats(),
        parsing_errors: cucumber::writer::Stats::<ResidencyWorld>::parsing_errors(&writer),
        hook_errors: cucumber::writer::Stats::<ResidencyWorld>::hook_errors(&writer),
    }
}

fn bdd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn features_dir() -> PathBuf {
    bdd_dir().join("features")
}

/// Finds a feature file or folder given on the command line.
fn resolve_feature(path: &Path) -> Option<PathBuf> {
    let bdd = bdd_dir();
    let root = bdd.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut candidates = vec![
        path.to_path_buf(),
        root.join(path),
        bdd.join(path),
        features_dir().join(path),
    ];
    if path.extension().is_none() {
        candidates.push(features_dir().join(path).with_extension("feature"));
    }
    candidates
        .into_iter()
        .find(|p| p.exists())
        .and_then(|p| p.canonicalize().ok())
}
