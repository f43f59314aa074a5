//! `vramctl`: the command-line front of the workspace.
//!
//! Its subcommands arrive with the facade issue; until then it says so and
//! exits with status 2 rather than pretending to work.

fn main() -> std::process::ExitCode {
    eprintln!(
        "vramctl: no subcommands yet; the seal-crypto example is the main job for now:\n  \
         cargo run --release -p seal-crypto --example digest -- FILE"
    );
    std::process::ExitCode::from(2)
}
