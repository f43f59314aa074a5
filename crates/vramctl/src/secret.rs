//! Where the worker secret comes from: `--secret-file` or the
//! `VRAM_WORKER_SECRET` environment variable, never a command-line argument
//! (arguments are visible to every user in `ps`).
//!
//! The secret is the file's bytes (one trailing newline removed) or the
//! variable's UTF-8 bytes, 32 to 1024 bytes; text such as the output of
//! `openssl rand -hex 32` works as it is.

use std::path::{Path, PathBuf};

use seal_crypto::WorkerSecret;

use crate::cli_error::CliError;

/// Name of the environment variable that may hold the secret.
pub const SECRET_ENV: &str = "VRAM_WORKER_SECRET";

/// Loads the secret from `file`, else from the environment.
pub fn load(file: Option<&Path>) -> Result<WorkerSecret, CliError> {
    if let Some(path) = file {
        return from_file(path);
    }
    match std::env::var_os(SECRET_ENV) {
        Some(value) => {
            let bytes = value.into_encoded_bytes();
            WorkerSecret::from_vec(bytes).map_err(|e| CliError::usage(format!("{SECRET_ENV}: {e}")))
        }
        None => Err(CliError::usage(format!(
            "no worker secret: pass --secret-file FILE or set {SECRET_ENV}"
        ))),
    }
}

fn from_file(path: &Path) -> Result<WorkerSecret, CliError> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read secret file {}: {e}", path.display())))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    WorkerSecret::from_vec(bytes)
        .map_err(|e| CliError::usage(format!("secret file {}: {e}", path.display())))
}

/// Loads the secret as `load` does, or, where neither source is given,
/// creates a fresh random one in `dir/worker.secret` (mode 0600) and says
/// so. For `demo` only.
pub fn load_or_create(
    file: Option<&Path>,
    dir: &Path,
) -> Result<(WorkerSecret, Option<PathBuf>), CliError> {
    if file.is_some() || std::env::var_os(SECRET_ENV).is_some() {
        return Ok((load(file)?, None));
    }
    let path = dir.join("worker.secret");
    // A secret made by an earlier run stays: replacing it would orphan the
    // audit log it keys.
    if path.exists() {
        return Ok((from_file(&path)?, Some(path)));
    }
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::usage(format!("no system randomness for a fresh secret: {e}")))?;
    write_private(&path, &bytes)?;
    let secret = WorkerSecret::from_vec(bytes).map_err(|e| CliError::usage(e.to_string()))?;
    Ok((secret, Some(path)))
}

/// Creates a new file readable by its owner only (never overwrites).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}
