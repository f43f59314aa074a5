//! A one-line progress bar on stderr, drawn only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    total: u64,
    enabled: bool,
    started: Instant,
    last_percent: u64,
}

impl Progress {
    pub fn new(total: u64) -> Self {
        Self {
            total: total.max(1),
            enabled: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_percent: u64::MAX,
        }
    }

    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let percent = done.saturating_mul(100) / self.total;
        if percent == self.last_percent {
            return;
        }
        self.last_percent = percent;
        let filled = usize::try_from(percent / 4).unwrap_or(25).min(25);
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9) / 1e9;
        let _ = write!(
            std::io::stderr(),
            "\r[{}{}] {percent:>3}%  {:.2}/{:.2} GiB  {rate:.2} GB/s",
            "#".repeat(filled),
            " ".repeat(25 - filled),
            done as f64 / GIB,
            self.total as f64 / GIB,
        );
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}

const GIB: f64 = (1u64 << 30) as f64;
