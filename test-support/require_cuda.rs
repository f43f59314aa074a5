//! `VRAM_REQUIRE_CUDA=1` (GA-022): on a machine that must exercise its GPU,
//! a CUDA test that finds no driver or no device fails instead of reporting
//! that it did not run. Without the switch (CI, laptops) it reports and
//! passes (GA-017). Include it by path as a module of a test binary
//! (`#[path = ".../test-support/require_cuda.rs"] mod require_cuda;`), so
//! every crate reads the switch the same way.

/// The switch's name, for messages.
pub const SWITCH: &str = "VRAM_REQUIRE_CUDA";

/// Whether the switch is set: exactly `1`, as `VRAM_REQUIRE_TOOLS` is read.
pub fn required() -> bool {
    std::env::var_os(SWITCH).is_some_and(|v| v == "1")
}

/// Reports that `test` did not exercise a GPU because of `why`: a line on
/// stderr, past the harness's capture so every run shows it, or under the
/// switch a failure that names it.
#[track_caller]
pub fn did_not_run(test: &str, why: &str) {
    assert!(
        !required(),
        "CUDA tests did not run ({test}): {why}; {SWITCH}=1 is set, so that is a failure"
    );
    // One write, so the line does not interleave with the harness's output.
    let line = format!("CUDA tests did not run ({test}): {why}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}
