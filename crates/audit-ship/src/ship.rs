//! The shipper (`COL-SHIP-001` to `COL-SHIP-004`): follows a worker's
//! audit log and sends its records to the fleet collector's `POST /ingest`
//! in batches, each ending at a signed checkpoint.
//!
//! It reads the log as anyone holding the file may
//! ([`PublicLog::open_live`]: no secret, an ordinary read-only SQLite
//! connection and one read transaction per round, never a copy of the file
//! in memory; the worker's writer is never locked out or slowed), asks the collector how many
//! records it holds (`GET /workers/{origin}/size`), and sends the next at
//! most [`ShipConfig::batch`] records from there. Memory is one batch,
//! whatever the backlog. A batch ends at a signed checkpoint of its last
//! record: one stored in the log at that size, or, given the log key, one
//! the shipper signs itself (not stored: the log is never written); without
//! a key, a batch ends at the largest stored checkpoint it reaches, and the
//! shipper waits when there is none.
//!
//! The collector's answer says what it now holds, so a restart of either
//! side resumes from there: nothing is sent twice that the collector would
//! store twice (it takes a retried batch as a no-op), nothing skipped. A
//! collector that cannot be reached is retried with exponential backoff; a
//! refusal that is an alert there (403, 404, 422) stops the shipper and is
//! reported: it is not retried away. Caught up, it compares before it
//! trusts: unless the collector confirmed the log's present root at the
//! size held, it sends the last record with a checkpoint of the log as it
//! is now, so a log rewritten to exactly that size is refused with an
//! alert (`COL-SHIP-006`). [`ShipStatus`] (from
//! [`Shipper::status`] or [`ShipperHandle::status`]) shows how far behind
//! it is, in records and seconds; so do its `tracing` events.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audit_core::tlog::{Checkpoint, Hash, SignatureType, SignerKey};
use audit_core::{AuditError, PublicLog};
use serde::{Deserialize, Serialize};

use crate::http;

/// Records per batch by default.
pub const DEFAULT_BATCH_RECORDS: u64 = 10_000;

/// The most records per batch the collector takes.
pub const MAX_BATCH_RECORDS: u64 = 50_000;

/// The largest answer read from the collector.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How the shipper talks to the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipConfig {
    /// The collector's base URL (plain `http://`).
    pub collector: String,
    /// Records per batch at most (1 to [`MAX_BATCH_RECORDS`]).
    pub batch: u64,
    /// How long to wait between rounds once caught up.
    pub interval: Duration,
    /// Time allowed for one exchange with the collector.
    pub timeout: Duration,
    /// The longest wait between retries while the collector is down.
    pub max_backoff: Duration,
}

impl ShipConfig {
    /// Defaults for the collector at `collector`: batches of
    /// [`DEFAULT_BATCH_RECORDS`], a round every second once caught up, 30 s
    /// per exchange, retries backing off to 30 s.
    pub fn new(collector: &str) -> Result<Self, ShipError> {
        http::check_url(collector).map_err(|why| ShipError::BadCollectorUrl {
            url: collector.to_owned(),
            why,
        })?;
        Ok(Self {
            collector: collector.trim_end_matches('/').to_owned(),
            batch: DEFAULT_BATCH_RECORDS,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
        })
    }
}

/// Why shipping stopped or a round failed. None holds a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipError {
    /// The collector URL cannot be used.
    #[error("collector URL {url:?}: the URL {why}")]
    BadCollectorUrl {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// A batch size out of range.
    #[error("a batch of {0} records: give 1 to {MAX_BATCH_RECORDS}")]
    BadBatch(u64),
    /// The log key is not this log's.
    #[error(
        "the log key is not this log's: {reason} (give the key `vramctl audit keygen` made for this worker)"
    )]
    BadKey {
        /// Why (never the key).
        reason: String,
    },
    /// The local log cannot be read.
    #[error(
        "the local audit log cannot be read: {0}; check the path, and run `vramctl audit verify` on it"
    )]
    Log(String),
    /// The collector cannot be reached or is unavailable: retried.
    #[error("the collector is unavailable: {detail}; retrying with backoff, nothing is lost")]
    Unavailable {
        /// What failed.
        detail: String,
    },
    /// The collector refused a batch: an alert there, not retried.
    #[error(
        "the collector refused the batch of records {from} to {to} with {status}{}: {reason}; shipping stopped: investigate this log before sending anything else",
        alert.as_deref().map(|a| format!(" (alert: {a})")).unwrap_or_default()
    )]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The alert the collector raised, if any.
        alert: Option<String>,
        /// What the collector said.
        reason: String,
        /// The batch's first record.
        from: u64,
        /// The batch's last record.
        to: u64,
    },
    /// The collector holds more records than the log has.
    #[error(
        "the collector holds {held} records of this log, which has {local}: records were cut off or an older copy of the log put back; keep the file as evidence"
    )]
    CollectorAhead {
        /// What the collector holds.
        held: u64,
        /// What the log holds.
        local: u64,
    },
    /// An answer that does not follow the protocol.
    #[error("the collector's answer does not follow the ingest protocol: {0}")]
    Protocol(String),
}

impl ShipError {
    /// Whether trying again later may succeed (the collector was down).
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

impl From<AuditError> for ShipError {
    fn from(e: AuditError) -> Self {
        Self::Log(e.to_string())
    }
}

/// Where the shipper stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ShipStatus {
    /// The log's origin, once read.
    pub origin: Option<String>,
    /// Records in the local log at the last look.
    pub local_size: u64,
    /// Records the collector last acknowledged holding (`None`: not asked
    /// yet).
    pub acknowledged: Option<u64>,
    /// Records not yet held by the collector.
    pub records_behind: u64,
    /// Age of the oldest record the collector does not hold, in seconds
    /// (0 when caught up).
    pub seconds_behind: f64,
    /// Batches the collector accepted.
    pub batches: u64,
    /// Records the collector stored from this shipper.
    pub records_stored: u64,
    /// Failed attempts in a row (the collector down).
    pub failures: u32,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// Why shipping stopped for good (a refusal, a cut log).
    pub stopped: Option<String>,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The collector holds every record of the log.
    CaughtUp {
        /// Records held.
        size: u64,
    },
    /// A batch was accepted.
    Shipped {
        /// Its first record.
        from: u64,
        /// Its last record.
        to: u64,
        /// Records the collector stored (fewer when it held some).
        stored: u64,
        /// Records the collector now holds.
        size: u64,
    },
    /// The collector holds another size than assumed (409): resume there.
    Resync {
        /// Records held.
        size: u64,
    },
    /// No signed checkpoint to end a batch at (no log key given).
    Waiting {
        /// Why.
        reason: String,
    },
}

/// The collector's JSON answer.
#[derive(Debug, Deserialize)]
struct Reply {
    size: Option<u64>,
    #[serde(default)]
    stored: u64,
    error: Option<String>,
    alert: Option<String>,
}

/// The first line of a batch (the collector's `ingest` wire format).
#[derive(Serialize)]
struct Header<'a> {
    origin: &'a str,
    from: u64,
    to: u64,
    checkpoint: &'a str,
}

/// `origin` for a URL path segment: every byte but the unreserved ones
/// percent-encoded (`/` as `%2F`).
fn path_segment(origin: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(origin.len() * 3);
    for &b in origin.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn reply_of(response: &http::Response) -> Result<Reply, ShipError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        ShipError::Protocol(format!(
            "status {} with a body that is not the ingest reply: {e}",
            response.status
        ))
    })
}

/// Age in seconds of record `held + 1`, the oldest the collector does not
/// hold (0 when it holds every record).
fn seconds_behind(log: &PublicLog, held: u64, local: u64) -> Result<f64, ShipError> {
    if held >= local {
        return Ok(0.0);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Ok(log.record(held + 1)?.map_or(0.0, |r| {
        now.saturating_sub(r.timestamp.timestamp_millis()).max(0) as f64 / 1000.0
    }))
}

/// Follows one log and ships it (see the module docs).
#[derive(Debug)]
pub struct Shipper {
    db: PathBuf,
    config: ShipConfig,
    key: Option<SignerKey>,
    acknowledged: Option<u64>,
    /// The size and local root the collector last confirmed holding (an
    /// accepted batch ending there, or a comparison of the held tail):
    /// caught up at that size with that root, nothing is sent.
    confirmed: Option<(u64, Hash)>,
    status: Arc<Mutex<ShipStatus>>,
}

impl Shipper {
    /// A shipper of the log at `db` to `config.collector`; with `key` (the
    /// log key) it signs a checkpoint at the end of every batch, without
    /// it batches end at checkpoints stored in the log.
    pub fn new(
        db: impl AsRef<Path>,
        config: ShipConfig,
        key: Option<SignerKey>,
    ) -> Result<Self, ShipError> {
        if config.batch == 0 || config.batch > MAX_BATCH_RECORDS {
            return Err(ShipError::BadBatch(config.batch));
        }
        if let Some(key) = &key
            && key.kind() != SignatureType::Ed25519
        {
            return Err(ShipError::BadKey {
                reason: "it is not an Ed25519 signing key".to_owned(),
            });
        }
        Ok(Self {
            db: db.as_ref().to_path_buf(),
            config,
            key,
            acknowledged: None,
            confirmed: None,
            status: Arc::new(Mutex::new(ShipStatus::default())),
        })
    }

    /// Where it stands now.
    pub fn status(&self) -> ShipStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut ShipStatus)) {
        f(&mut self.status.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The records the collector holds of `origin`.
    fn ask_size(&self, origin: &str) -> Result<u64, ShipError> {
        let url = format!(
            "{}/workers/{}/size",
            self.config.collector,
            path_segment(origin)
        );
        let response = http::get(&url, self.config.timeout, MAX_REPLY_BYTES).map_err(|e| {
            ShipError::Unavailable {
                detail: format!("GET {url}: {e}"),
            }
        })?;
        match response.status {
            200 => reply_of(&response)?
                .size
                .ok_or_else(|| ShipError::Protocol("a 200 without a size".to_owned())),
            // Unknown there: the first batch is sent anyway, and its
            // refusal is the collector's alert.
            404 => Ok(0),
            500.. => Err(ShipError::Unavailable {
                detail: format!("GET {url}: status {}", response.status),
            }),
            status => Err(ShipError::Protocol(format!("GET {url}: status {status}"))),
        }
    }

    /// The signed checkpoint a batch from `from` up to `to` ends at: its
    /// size and note; `None` when there is none to end at.
    fn checkpoint(
        &self,
        log: &PublicLog,
        from: u64,
        to: u64,
    ) -> Result<Option<(u64, String)>, ShipError> {
        let stored = log.signed_checkpoints()?;
        if let Some(c) = stored.iter().rev().find(|c| c.size == to) {
            return Ok(Some((to, c.note.clone())));
        }
        if let Some(text) = self.sign_at(log, to)? {
            return Ok(Some((to, text)));
        }
        Ok(stored
            .iter()
            .rev()
            .find(|c| (from..=to).contains(&c.size))
            .map(|c| (c.size, c.note.clone())))
    }

    /// With the log key, a checkpoint of the log's tree of `size` records
    /// signed now (not stored): its note.
    fn sign_at(&self, log: &PublicLog, size: u64) -> Result<Option<String>, ShipError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let checkpoint = Checkpoint::new(log.origin(), size, log.tree_root(size)?)
            .map_err(|e| ShipError::Log(e.to_string()))?;
        let note = checkpoint.sign(key).map_err(|e| ShipError::BadKey {
            reason: e.to_string(),
        })?;
        String::from_utf8(note.to_bytes())
            .map(Some)
            .map_err(|e| ShipError::Log(e.to_string()))
    }

    /// One round: looks at the log, asks the collector what it holds if
    /// not known, sends at most one batch.
    pub fn step(&mut self) -> Result<Step, ShipError> {
        let log = PublicLog::open_live(&self.db)?;
        let origin = log.origin().to_owned();
        if let Some(key) = &self.key
            && key.name() != origin
        {
            return Err(ShipError::BadKey {
                reason: format!(
                    "it is named {:?}, the log's origin is {origin:?}",
                    key.name()
                ),
            });
        }
        let local = log.tree_size()?;
        // The lag against the last size acknowledged, shown before the
        // collector is asked (it may be down).
        let known = self
            .acknowledged
            .or(self.status().acknowledged)
            .unwrap_or_default();
        let age = seconds_behind(&log, known, local)?;
        self.update(|s| {
            s.origin = Some(origin.clone());
            s.local_size = local;
            s.records_behind = local.saturating_sub(known);
            s.seconds_behind = age;
        });
        let held = match self.acknowledged {
            Some(held) => held,
            None => self.ask_size(&origin)?,
        };
        self.acknowledged = Some(held);
        let age = if held == known {
            age
        } else {
            seconds_behind(&log, held, local)?
        };
        self.update(|s| {
            s.acknowledged = Some(held);
            s.records_behind = local.saturating_sub(held);
            s.seconds_behind = age;
        });
        if held == local {
            return self.compare_held(&log, &origin, held);
        }
        let (from, to) = if held > local {
            if local == 0 {
                return Err(ShipError::CollectorAhead { held, local });
            }
            // Send the log's last records anyway: the collector compares
            // them with what it holds and says whether they were rewritten.
            (local.saturating_sub(self.config.batch - 1).max(1), local)
        } else {
            (held + 1, local.min(held + self.config.batch))
        };
        let Some((to, note)) = self.checkpoint(&log, from, to)? else {
            if held > local {
                return Err(ShipError::CollectorAhead { held, local });
            }
            return Ok(Step::Waiting {
                reason: format!(
                    "no signed checkpoint of {from} to {to} records to end a batch at: sign one (`vramctl audit checkpoint DB --key FILE`) or give the shipper the log key"
                ),
            });
        };
        let mut body = serde_json::to_vec(&Header {
            origin: &origin,
            from,
            to,
            checkpoint: &note,
        })
        .map_err(|e| ShipError::Log(e.to_string()))?;
        body.push(b'\n');
        // The records' lines straight from the log's rows, as `vramctl
        // audit export` writes them (`PublicLog::write_export`).
        let count = log.write_export(from, to, &mut body)?;
        if count != to - from + 1 {
            return Err(ShipError::Log(format!(
                "records {from} to {to} are not all in the log ({count} found): retention dropped some before they were shipped"
            )));
        }
        let root = log.tree_root(to)?;
        drop(log);
        let step = self.send(&body, from, to, true)?;
        if let Step::Shipped { size, .. } = step
            && size == to
        {
            self.confirmed = Some((to, root));
        }
        if held > local {
            // The collector took the log's tail as a retry: the records
            // match, but the log lost the ones after them.
            return Err(ShipError::CollectorAhead { held, local });
        }
        Ok(step)
    }

    /// Caught up at `held` records (`COL-SHIP-006`): unless the collector
    /// already confirmed the log's present root at that size, sends the
    /// last record with a checkpoint of the log's tree now, so a log
    /// rewritten to exactly the size held is compared, and refused with an
    /// alert, rather than taken as caught up. The checkpoint is one stored
    /// at that size that signs the tree now, else (with the log key) one
    /// signed now, else the stored one; with none, nothing can be compared.
    fn compare_held(
        &mut self,
        log: &PublicLog,
        origin: &str,
        held: u64,
    ) -> Result<Step, ShipError> {
        if held == 0 {
            return Ok(Step::CaughtUp { size: held });
        }
        let root = log.tree_root(held)?;
        if self.confirmed == Some((held, root)) {
            return Ok(Step::CaughtUp { size: held });
        }
        let stored = log.signed_checkpoints()?;
        let signs_now = |note: &str| {
            audit_core::tlog::Note::parse(note.as_bytes())
                .ok()
                .and_then(|n| Checkpoint::from_text(n.text()).ok())
                .is_some_and(|c| *c.root() == root)
        };
        let at_size = stored.iter().rev().filter(|c| c.size == held);
        let note = match at_size.clone().find(|c| signs_now(&c.note)) {
            Some(c) => Some(c.note.clone()),
            None if self.key.is_some() => self.sign_at(log, held)?,
            None => at_size.map(|c| c.note.clone()).next(),
        };
        let records = log.records(held, held)?;
        let (Some(note), 1) = (note, records.len()) else {
            // No checkpoint to end it at, or the record is gone: nothing
            // to compare.
            return Ok(Step::CaughtUp { size: held });
        };
        let mut body = serde_json::to_vec(&Header {
            origin,
            from: held,
            to: held,
            checkpoint: &note,
        })
        .map_err(|e| ShipError::Log(e.to_string()))?;
        body.push(b'\n');
        for record in &records {
            serde_json::to_writer(&mut body, record).map_err(|e| ShipError::Log(e.to_string()))?;
            body.push(b'\n');
        }
        match self.send(&body, held, held, false)? {
            Step::Shipped { size, .. } if size == held => {
                self.confirmed = Some((held, root));
                tracing::debug!(held, "the collector compared the records held: the same");
                Ok(Step::CaughtUp { size: held })
            }
            step => Ok(step),
        }
    }

    /// Posts one batch; `counted` says whether it counts in the status's
    /// batches (a comparison of the held tail does not).
    fn send(&mut self, body: &[u8], from: u64, to: u64, counted: bool) -> Result<Step, ShipError> {
        let url = format!("{}/ingest", self.config.collector);
        let response = http::post(
            &url,
            "application/x-ndjson",
            body,
            self.config.timeout,
            MAX_REPLY_BYTES,
        )
        .map_err(|e| ShipError::Unavailable {
            detail: format!("POST {url}: {e}"),
        })?;
        let status = response.status;
        if status == 413 {
            return Err(ShipError::Protocol(format!(
                "413: the batch of records {from} to {to} ({} bytes) is larger than the collector takes; ship with a smaller batch",
                body.len()
            )));
        }
        if status >= 500 {
            return Err(ShipError::Unavailable {
                detail: format!("POST {url}: status {status}"),
            });
        }
        let reply = reply_of(&response)?;
        match (status, reply.size) {
            (200, Some(size)) => {
                self.acknowledged = Some(size);
                let mut behind = 0;
                self.update(|s| {
                    s.acknowledged = Some(size);
                    s.records_behind = s.local_size.saturating_sub(size);
                    s.batches += u64::from(counted);
                    s.records_stored += reply.stored;
                    s.failures = 0;
                    s.last_error = None;
                    behind = s.records_behind;
                });
                if counted {
                    tracing::info!(
                        from,
                        to,
                        stored = reply.stored,
                        held = size,
                        records_behind = behind,
                        "audit batch shipped"
                    );
                }
                Ok(Step::Shipped {
                    from,
                    to,
                    stored: reply.stored,
                    size,
                })
            }
            (409, Some(size)) => {
                self.acknowledged = Some(size);
                tracing::info!(
                    held = size,
                    "the collector holds another size; resuming there"
                );
                Ok(Step::Resync { size })
            }
            _ => Err(ShipError::Refused {
                status,
                alert: reply.alert,
                reason: reply.error.unwrap_or_else(|| format!("status {status}")),
                from,
                to,
            }),
        }
    }

    /// Ships until the collector holds every record of the log as it is
    /// now (or no checkpoint is left to end a batch at): the size held.
    /// Fails at the first error, retriable or not.
    pub fn ship_until_caught_up(&mut self) -> Result<u64, ShipError> {
        loop {
            match self.step() {
                Ok(Step::CaughtUp { size }) => return Ok(size),
                Ok(Step::Waiting { reason }) => {
                    tracing::warn!(reason, "shipping waits for a signed checkpoint");
                    return Ok(self.acknowledged.unwrap_or_default());
                }
                Ok(Step::Shipped { .. } | Step::Resync { .. }) => {}
                Err(e) => {
                    self.failed(&e);
                    return Err(e);
                }
            }
        }
    }

    fn failed(&mut self, e: &ShipError) {
        if e.is_retriable() {
            // The collector may come back with another size: ask again.
            self.acknowledged = None;
            self.update(|s| {
                s.failures = s.failures.saturating_add(1);
                s.last_error = Some(e.to_string());
            });
        } else {
            self.update(|s| s.stopped = Some(e.to_string()));
        }
    }

    /// Runs the shipper on a thread of its own until stopped or refused:
    /// a round, then another at once while there is a backlog, every
    /// [`ShipConfig::interval`] once caught up, backing off while the
    /// collector is down.
    pub fn spawn(mut self) -> Result<ShipperHandle, ShipError> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::clone(&self.status);
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("audit-ship".to_owned())
            .spawn(move || self.run(&stopping))
            .map_err(|e| ShipError::Log(format!("cannot start the shipper's thread: {e}")))?;
        Ok(ShipperHandle {
            status,
            stop,
            thread: Some(thread),
        })
    }

    fn run(&mut self, stop: &AtomicBool) {
        let mut backoff = Duration::from_millis(250);
        while !stop.load(Ordering::Relaxed) {
            let wait = match self.step() {
                Ok(Step::Shipped { .. } | Step::Resync { .. }) => {
                    backoff = Duration::from_millis(250);
                    Duration::ZERO
                }
                Ok(Step::CaughtUp { .. }) => {
                    backoff = Duration::from_millis(250);
                    self.update(|s| {
                        s.failures = 0;
                        s.last_error = None;
                    });
                    self.config.interval
                }
                Ok(Step::Waiting { reason }) => {
                    tracing::warn!(reason, "shipping waits for a signed checkpoint");
                    self.config.interval
                }
                Err(e) if e.is_retriable() => {
                    self.failed(&e);
                    let status = self.status();
                    tracing::warn!(
                        error = %e,
                        records_behind = status.records_behind,
                        seconds_behind = status.seconds_behind,
                        retry_in_ms = backoff.as_millis() as u64,
                        "audit shipping: collector unavailable"
                    );
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    wait
                }
                Err(e) => {
                    self.failed(&e);
                    tracing::error!(error = %e, "audit shipping stopped");
                    return;
                }
            };
            let until = Instant::now() + wait;
            while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20).min(wait));
            }
        }
    }
}

/// A shipper running on its own thread; stopped and joined when dropped.
#[derive(Debug)]
pub struct ShipperHandle {
    status: Arc<Mutex<ShipStatus>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ShipperHandle {
    /// Where it stands now.
    pub fn status(&self) -> ShipStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether it stopped for good (a refusal); see [`ShipStatus::stopped`].
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops it after the exchange in flight, and waits for it.
    pub fn stop(mut self) -> ShipStatus {
        self.halt();
        self.status()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ShipperHandle {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// COL-SHIP-001: an origin goes into the path as one segment; the
    /// collector URL must be plain http; batch sizes are bounded.
    #[test]
    fn col_ship_001_config_and_path() {
        assert_eq!(
            path_segment("vram-residency/audit/worker-1"),
            "vram-residency%2Faudit%2Fworker-1"
        );
        assert_eq!(path_segment("a%b c"), "a%25b%20c");
        assert!(ShipConfig::new("https://c.example").is_err());
        assert!(ShipConfig::new("c.example").is_err());
        let mut config = ShipConfig::new("http://127.0.0.1:7380/").unwrap();
        assert_eq!(config.collector, "http://127.0.0.1:7380");
        config.batch = 0;
        assert_eq!(
            Shipper::new("x.db", config.clone(), None).unwrap_err(),
            ShipError::BadBatch(0)
        );
        config.batch = MAX_BATCH_RECORDS + 1;
        assert!(Shipper::new("x.db", config, None).is_err());
    }
}
