//! Captures every `tracing` line the system writes, from every thread, into
//! one buffer, so a scenario can search what a worker's logs would show.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Appends formatted lines to [`CAPTURED`].
#[derive(Debug, Clone, Copy)]
struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        Capture
    }
}

/// Installs the capturing subscriber for the whole process: every level,
/// plain text, as a worker's own log would be formatted. Nothing is printed.
pub fn install() {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Capture)
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .with_thread_names(true)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("install the log capture");
}

/// Bytes captured so far: a mark to read from later.
pub fn mark() -> usize {
    CAPTURED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}

/// Everything captured since `mark`.
pub fn since(mark: usize) -> String {
    let captured = CAPTURED.lock().unwrap_or_else(PoisonError::into_inner);
    String::from_utf8_lossy(captured.get(mark..).unwrap_or_default()).into_owned()
}
