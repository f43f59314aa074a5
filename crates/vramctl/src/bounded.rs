//! Reading a file named on the command line without trusting its size: at
//! most what a valid file of its kind can hold, so an endless pipe or
//! `/dev/zero` is a clear error at once, never all of memory.

use std::io::Read;

/// Reads `reader` to its end, or `None` as soon as it holds more than
/// `max` bytes (reading one byte past `max` at the most).
pub fn read_at_most(reader: impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}
