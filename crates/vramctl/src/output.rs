//! Everything `vramctl` writes to stdout and stderr goes through here.
//!
//! **No write panics.** `println!`/`eprintln!` panic when the stream fails
//! (stdout to `/dev/full`, a closed pipe); these helpers return the failure
//! instead. On stdout a closed pipe (`EPIPE`) is [`CliError::StdoutClosed`],
//! a quiet stop as in `ripgrep`; any other error is a usage/I/O error (exit
//! 2) that names stdout. On stderr there is nowhere left to report to, so
//! failures are ignored.
//!
//! The crate denies `print_stdout`/`print_stderr`, so a new `println!`
//! cannot bypass this rule.

use std::io::{self, Write};

use crate::cli_error::CliError;

/// Maps a failed write to stdout: a closed pipe is a quiet stop, anything
/// else exit 2 with a message.
pub fn stdout_error(error: &io::Error) -> CliError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        CliError::StdoutClosed
    } else {
        CliError::usage(format!(
            "cannot write to standard output: {error}; check where the output goes \
             (a full disk, a full device such as /dev/full) and run again"
        ))
    }
}

/// Writes `bytes` to stdout and flushes.
fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| stdout_error(&e))
}

/// Writes one human-readable line to stdout.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut text = text.to_owned();
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes a block of human-readable lines (a report's table) to stdout.
pub fn lines(text: &str) -> Result<(), CliError> {
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
    }
    write_stdout(out.as_bytes())
}

/// Writes JSON text and a newline to stdout.
pub fn json_line(json: &str) -> Result<(), CliError> {
    let mut text = json.to_owned();
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes one human-readable line to stderr. Never fails: with stderr gone
/// there is nowhere to report to.
pub fn err_line(text: &str) {
    let mut text = text.to_owned();
    text.push('\n');
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// `println!` for human-readable output: `outln!(...)?`.
macro_rules! outln {
    () => {
        $crate::output::line("")
    };
    ($($arg:tt)*) => {
        $crate::output::line(&format!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::err_line(&format!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// A stdout writer for NDJSON: holds each line until its newline and
/// remembers why a write failed (a library that wraps the error loses its
/// kind).
#[derive(Default)]
pub struct JsonLinesStdout {
    pending: Vec<u8>,
    failure: Option<io::ErrorKind>,
}

impl JsonLinesStdout {
    /// The error to report for a failed export: the stdout failure if there
    /// was one, else `other`.
    pub fn error_or(&self, other: CliError) -> CliError {
        match self.failure {
            Some(kind) => stdout_error(&io::Error::from(kind)),
            None => other,
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        io::stdout()
            .lock()
            .write_all(bytes)
            .inspect_err(|e| self.failure = Some(e.kind()))
    }
}

impl Write for JsonLinesStdout {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(data);
        if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(end + 1);
            let complete = std::mem::replace(&mut self.pending, rest);
            self.emit(&complete)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.emit(&pending)?;
        io::stdout()
            .lock()
            .flush()
            .inspect_err(|e| self.failure = Some(e.kind()))
    }
}
