//! Reading a file named on the command line without trusting its size: at
//! most what a valid file of its kind can hold, so an endless pipe or
//! `/dev/zero` is a clear error at once, never all of memory.

use std::io::Read;
use std::path::Path;

use crate::cli_error::CliError;

/// Reads `reader` to its end, or `None` as soon as it holds more than
/// `max` bytes (reading one byte past `max` at the most).
pub fn read_at_most(reader: impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}

/// Reads the UTF-8 text file `path`, at most `max` bytes of it; `what` (`a
/// checkpoint`, `a proof`) names what it should hold in the usage errors
/// (exit 2) for a file that cannot be read, is larger, or is not UTF-8.
pub fn read_text_file(path: &Path, max: usize, what: &str) -> Result<String, CliError> {
    let shown = path.display();
    let cannot = |e: std::io::Error| CliError::usage(format!("cannot read {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let bytes = read_at_most(file, max).map_err(cannot)?.ok_or_else(|| {
        CliError::usage(format!(
            "{shown} holds more than {max} bytes, more than {what} can; check the path"
        ))
    })?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("{shown} is not UTF-8 text, so not {what}")))
}
