//! Where the worker secret comes from: `--secret-file` or the
//! `VRAM_WORKER_SECRET` environment variable, never a command-line argument
//! (arguments are visible to every user in `ps`).
//!
//! The rule that turns them into bytes (also in `--help` and the README):
//! - a file: its bytes, with one trailing `\n` removed; a file ending in
//!   `\r\n` is refused (it would silently give another key than the same
//!   text saved with a Unix line ending). The file must belong to the user
//!   running `vramctl` and be readable by nobody else (mode 0600 or
//!   stricter), as `ssh` demands of its keys; at most
//!   [`MAX_SECRET_FILE_BYTES`] are ever read.
//! - the variable: its bytes exactly.
//!
//! Either way 32 to 1024 bytes; text such as the output of
//! `openssl rand -hex 32` works as it is.

use std::path::{Path, PathBuf};

use seal_crypto::{MAX_KEY_BYTES, WorkerSecret};

use crate::bounded;
use crate::cli_error::CliError;

/// The long `--help` of every `--secret-file` option: the bytes rule.
pub const FILE_HELP: &str = "File holding the worker secret, else the VRAM_WORKER_SECRET variable is used (its bytes exactly). \
The secret is the file's bytes with one trailing \\n removed; a file ending in \\r\\n is refused. \
32 to 1024 bytes (for example the output of `openssl rand -hex 32`). \
The file must be yours and readable by you only (chmod 600).";

/// Name of the environment variable that may hold the secret.
pub const SECRET_ENV: &str = "VRAM_WORKER_SECRET";

/// The most bytes read from a secret file: the longest secret and its
/// trailing newline.
pub const MAX_SECRET_FILE_BYTES: usize = MAX_KEY_BYTES + 1;

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
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::usage(format!("cannot read secret file {shown}: {e}")))?;
    // Checked on the open file, so the file checked is the file read.
    let meta = file
        .metadata()
        .map_err(|e| CliError::usage(format!("cannot read secret file {shown}: {e}")))?;
    check_private(path, &meta)?;
    let mut bytes = bounded::read_at_most(file, MAX_SECRET_FILE_BYTES)
        .map_err(|e| CliError::usage(format!("cannot read secret file {shown}: {e}")))?
        .ok_or_else(|| {
            CliError::usage(format!(
                "secret file {shown} holds more than {MAX_SECRET_FILE_BYTES} bytes (a secret is 32 to {MAX_KEY_BYTES} bytes and one trailing newline); check the path"
            ))
        })?;
    if bytes.ends_with(b"\r\n") {
        return Err(CliError::usage(format!(
            "secret file {shown} ends with a Windows line ending (\\r\\n); the secret is the file's bytes less one trailing \\n, so the \\r would change the key: save the file with a Unix line ending (for example `dos2unix {shown}`)"
        )));
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    WorkerSecret::from_vec(bytes).map_err(|e| CliError::usage(format!("secret file {shown}: {e}")))
}

/// Refuses a secret file that another user owns or that others may read:
/// its key would not be this worker's alone.
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CliError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let shown = path.display();
    // A file, or a pipe such as `--secret-file <(vault read ...)`; never a
    // device such as /dev/zero.
    if !(meta.is_file() || meta.file_type().is_fifo()) {
        return Err(CliError::usage(format!(
            "secret file {shown} is not a regular file or a pipe; check the path"
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(CliError::usage(format!(
            "secret file {shown} belongs to user id {}, not to you (user id {me}); another user could have planted or read it: use a secret file of your own",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(CliError::usage(format!(
            "secret file {shown} is readable or writable by other users (mode {:04o}); run `chmod 600 {shown}` and consider the secret exposed",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), CliError> {
    Ok(())
}

/// Where `demo`'s secret came from.
#[derive(Debug)]
pub enum SecretSource {
    /// `--secret-file` or the environment variable.
    Given,
    /// An existing `worker.secret` in the demo's folder.
    Loaded(PathBuf),
    /// A fresh random secret, written to this file (mode 0600).
    Created(PathBuf),
}

/// Loads the secret as `load` does, or, where neither source is given,
/// loads `dir/worker.secret` (under the same ownership and mode rules) or
/// creates a fresh random one there. For `demo` only.
pub fn load_or_create(
    file: Option<&Path>,
    dir: &Path,
) -> Result<(WorkerSecret, SecretSource), CliError> {
    if file.is_some() || std::env::var_os(SECRET_ENV).is_some() {
        return Ok((load(file)?, SecretSource::Given));
    }
    let path = dir.join("worker.secret");
    // A secret made by an earlier run stays: replacing it would orphan the
    // audit log it keys.
    if path.symlink_metadata().is_ok() {
        let secret = from_file(&path)?;
        return Ok((secret, SecretSource::Loaded(path)));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random)
        .map_err(|e| CliError::usage(format!("no system randomness for a fresh secret: {e}")))?;
    // Hex text and a newline, as `openssl rand -hex 32` writes: read back
    // by the file rule it gives exactly these 64 bytes (raw random bytes
    // would lose a last byte that happened to be `\n`).
    let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, format!("{text}\n").as_bytes())?;
    let secret =
        WorkerSecret::from_vec(text.into_bytes()).map_err(|e| CliError::usage(e.to_string()))?;
    Ok((secret, SecretSource::Created(path)))
}

/// Creates a new file readable by its owner only (never overwrites, never
/// follows a planted link).
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
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}
