//! The BDD suite's entry point: `cargo xtask bdd [ARGS]` runs
//! `cargo test -p bdd --test bdd -- [ARGS]`. Everything else is in the
//! library (`bdd::run`), where clippy checks it.

fn main() -> std::process::ExitCode {
    bdd::run()
}
