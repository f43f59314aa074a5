//! Everything `vramctl` writes to stdout and stderr goes through here.
//!
//! Two rules hold for every byte:
//!
//! - **No write panics.** `println!`/`eprintln!` panic when the stream
//!   fails (stdout to `/dev/full`, a closed pipe); these helpers return the
//!   failure instead. On stdout a closed pipe (`EPIPE`) is
//!   [`CliError::StdoutClosed`], a quiet stop as in `ripgrep`; any other
//!   error is a usage/I/O error (exit 2) that names stdout. On stderr there is
//!   nowhere left to report to, so failures are ignored.
//! - **No terminal control from data.** Text shown to a person may echo a
//!   path, an id or a record of the audit log, which an attacker may have
//!   written. Control characters (C0, DEL, C1), the Unicode bidirectional
//!   overrides and isolates and the line/paragraph separators are shown as
//!   escapes (`\u{1b}`, `\n`, ...), so they cannot move the cursor, recolor,
//!   retitle or rewrite the operator's terminal. JSON stays JSON: serde
//!   already escapes C0; the rest are written as `\uXXXX` escapes, which
//!   decode to the same strings.
//!
//! The crate denies `print_stdout`/`print_stderr`, so a new `println!`
//! cannot bypass these rules.

use std::borrow::Cow;
use std::io::{self, Write};

pub use audit_core::escape_controls;
use audit_core::is_terminal_control;

use crate::cli_error::CliError;

/// JSON text with the terminal controls serde leaves raw (DEL, C1, bidi
/// controls, separators) written as `\uXXXX` escapes. Outside strings JSON
/// holds only ASCII punctuation, digits, letters and whitespace, so every
/// such character is inside a string, where the escape means the same.
/// C0 characters (serde escapes them inside strings; pretty-printing uses
/// `\n` and spaces between tokens) are left alone.
pub fn escape_json_controls(json: &str) -> Cow<'_, str> {
    let needs = |c: char| c > '\u{1f}' && is_terminal_control(c);
    if !json.chars().any(needs) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if needs(c) {
            // All of them lie in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

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

/// Writes one human-readable line to stdout, control characters escaped.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut text = escape_controls(text).into_owned();
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes a block of human-readable lines (a report's table) to stdout:
/// each line's control characters escaped, the line breaks kept.
pub fn lines(text: &str) -> Result<(), CliError> {
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(&escape_controls(line));
        out.push('\n');
    }
    write_stdout(out.as_bytes())
}

/// Writes JSON text and a newline to stdout, terminal controls escaped.
pub fn json_line(json: &str) -> Result<(), CliError> {
    let mut text = escape_json_controls(json).into_owned();
    text.push('\n');
    write_stdout(text.as_bytes())
}

/// Writes one human-readable line to stderr, control characters escaped.
/// Never fails: with stderr gone there is nowhere to report to.
pub fn err_line(text: &str) {
    let mut text = escape_controls(text).into_owned();
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

/// `eprintln!` that never panics and escapes control characters.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::err_line(&format!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// A stdout writer for NDJSON: holds each line until its newline, escapes
/// terminal controls as [`escape_json_controls`] does, and remembers why a
/// write failed (a library that wraps the error loses its kind).
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
        let result = match std::str::from_utf8(bytes) {
            Ok(text) => io::stdout()
                .lock()
                .write_all(escape_json_controls(text).as_bytes()),
            Err(_) => io::stdout().lock().write_all(bytes),
        };
        result.inspect_err(|e| self.failure = Some(e.kind()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_json_with_controls_escaped() {
        let value = serde_json::json!({"kind": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let escaped = escape_json_controls(&text);
        assert!(
            !escaped
                .chars()
                .any(|c| c > '\u{1f}' && is_terminal_control(c)),
            "{escaped}"
        );
        assert!(!escaped.contains('\u{1b}'));
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }
}
