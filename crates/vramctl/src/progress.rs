//! The seal's progress bar on stderr (`indicatif`), drawn only when stderr
//! is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` bytes: bar, percent, bytes done of total, rate.
pub fn bytes_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // A template that does not parse only loses the styling.
    if let Ok(style) = ProgressStyle::with_template(
        "[{bar:25}] {percent:>3}%  {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}",
    ) {
        bar.set_style(style.progress_chars("# "));
    }
    bar
}
