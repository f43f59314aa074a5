//! [`AuditWriter`]: non-blocking emission, batched durable writes.
//!
//! Producers put events on a bounded queue; a tokio task on the writer's own
//! single-thread runtime drains it and appends batches, one transaction per
//! batch with `synchronous=FULL`. Because the runtime is private, the writer
//! works the same from synchronous code, from `Drop`, and from inside the
//! caller's own tokio runtime.
//!
//! Nothing is lost silently. [`AuditWriter::emit`] never waits: when the
//! queue is full it counts the event and returns [`EmitOutcome::Dropped`],
//! and the next batch starts with an `AuditGap` record carrying the count;
//! a failed batch is counted the same way. Producers that must not drop
//! anything use [`AuditWriter::send`] or [`AuditWriter::send_blocking`],
//! which wait for room instead. Memory is bounded by the queue capacity.
//!
//! A full disk must not silence the log either. Like journald, which keeps
//! free space for itself, the writer holds a reserve: a file of
//! [`DISK_RESERVE_BYTES`] beside the log (`<log>-reserve`). When a batch
//! fails because the disk is full, the writer deletes the reserve and
//! writes the batch again, so the events (and any `AuditGap` before them)
//! still reach the log; it tries to take the reserve back after each later
//! successful batch. Opening a log on a full disk spends the reserve the
//! same way. Only when even that fails is the batch lost, counted, and
//! recorded as an `AuditGap` by the next write that succeeds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use seal_crypto::WorkerSecret;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use crate::{AuditError, AuditEvent, AuditLog, AuditSink, EmitOutcome, Severity};

/// Name of the writer's runtime thread.
const WRITER_THREAD: &str = "audit-writer";
/// Largest queue capacity accepted (larger values are clamped).
pub const MAX_QUEUE_CAPACITY: usize = 1 << 28;
/// How long dropping an [`AuditWriter`] waits for the queue to drain.
pub const DROP_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes the writer keeps in reserve beside the log, released when the disk
/// is full so that a batch (and the record of any loss) can still be written.
pub const DISK_RESERVE_BYTES: u64 = 1 << 20;

/// Settings of an [`AuditWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Events the queue holds before [`AuditWriter::emit`] drops (and
    /// counts) and [`AuditWriter::send`] waits. Bounds memory. Default 65,536.
    pub queue_capacity: usize,
    /// Most events per transaction. Default 4,096. Batches never wait to
    /// fill: a batch is whatever is queued when the previous one is done,
    /// so this only caps how far one fsync is amortised under load.
    pub max_batch: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_batch: 4096,
        }
    }
}

impl WriterConfig {
    /// Sets the queue capacity (clamped to 1..=[`MAX_QUEUE_CAPACITY`]).
    #[must_use]
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Sets the most events per transaction (at least 1).
    #[must_use]
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }
}

/// Counters of an [`AuditWriter`] since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Events written durably (including `AuditGap` records).
    pub written: u64,
    /// Events `emit` dropped because the queue was full.
    pub dropped: u64,
    /// Events lost because a batch could not be written.
    pub write_failed: u64,
    /// `AuditGap` records written.
    pub gaps_recorded: u64,
    /// Transactions committed.
    pub batches: u64,
}

enum Ack {
    Async(oneshot::Sender<Result<(), AuditError>>),
    Blocking(std_mpsc::SyncSender<Result<(), AuditError>>),
}

impl Ack {
    fn send(self, result: Result<(), AuditError>) {
        match self {
            Self::Async(tx) => {
                let _ = tx.send(result);
            }
            Self::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

enum Command {
    Event(AuditEvent),
    Flush(Ack),
    Shutdown(Ack),
}

#[derive(Debug, Default)]
struct Shared {
    pending_dropped: AtomicU64,
    dropped: AtomicU64,
    written: AtomicU64,
    write_failed: AtomicU64,
    gaps: AtomicU64,
    batches: AtomicU64,
    closed: AtomicBool,
}

/// The SQLite audit log behind a bounded queue and a background task.
///
/// ```
/// use audit_core::{AuditEvent, AuditSink, AuditWriter, WriterConfig};
/// use seal_crypto::WorkerSecret;
///
/// let dir = tempfile::tempdir()?;
/// let secret = WorkerSecret::new(&[7u8; 32])?;
/// let writer = AuditWriter::open(dir.path().join("audit.db"), "worker-1", &secret, WriterConfig::default())?;
/// writer.emit(AuditEvent::seal_verified("shard-0", 0)); // never blocks
/// writer.flush_blocking()?;                              // durable now
/// let stats = writer.shutdown_blocking()?;
/// assert_eq!(stats.written, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AuditWriter {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    runtime: Option<Runtime>,
    path: PathBuf,
    worker_id: String,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("path", &self.path)
            .field("worker_id", &self.worker_id)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Opens (or creates) the log at `path` (see [`AuditLog::open`]) and
    /// starts the background writer.
    pub fn open(
        path: impl AsRef<Path>,
        worker_id: &str,
        secret: &WorkerSecret,
        config: WriterConfig,
    ) -> Result<Self, AuditError> {
        let path = path.as_ref();
        let log = match AuditLog::open(path, worker_id, secret) {
            // Opening needs a little space too (SQLite's `-wal` and `-shm`
            // files), and on a full disk SQLite may call that a plain I/O
            // error: where a reserve is held, spend it and try once more.
            Err(AuditError::DiskFull { .. } | AuditError::Storage { .. })
                if Reserve::beside(path).release() =>
            {
                tracing::error!(
                    "the audit log could not be opened, the disk may be full: released the audit reserve to open it; free space now"
                );
                AuditLog::open(path, worker_id, secret)?
            }
            opened => opened?,
        };
        Self::from_log(log, config)
    }

    /// Starts the background writer on an already open log.
    pub fn from_log(log: AuditLog, config: WriterConfig) -> Result<Self, AuditError> {
        let capacity = config.queue_capacity.clamp(1, MAX_QUEUE_CAPACITY);
        let max_batch = config.max_batch.max(1);
        let path = log.path().to_path_buf();
        let worker_id = log.worker_id().to_owned();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .thread_name(WRITER_THREAD)
            .build()
            .map_err(|e| AuditError::Runtime {
                detail: e.to_string(),
            })?;
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared::default());
        runtime.spawn(run(rx, log, Arc::clone(&shared), max_batch));
        Ok(Self {
            tx,
            shared,
            runtime: Some(runtime),
            path,
            worker_id,
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The worker id records are written under.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Counters since the writer was opened.
    pub fn stats(&self) -> WriterStats {
        let s = &self.shared;
        WriterStats {
            written: s.written.load(Ordering::Acquire),
            dropped: s.dropped.load(Ordering::Acquire),
            write_failed: s.write_failed.load(Ordering::Acquire),
            gaps_recorded: s.gaps.load(Ordering::Acquire),
            batches: s.batches.load(Ordering::Acquire),
        }
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Queues an event without ever waiting. Callable from any thread,
    /// inside or outside a runtime, and from `Drop`. A full queue drops the
    /// event, counts it, and an `AuditGap` record follows.
    pub fn emit(&self, event: AuditEvent) -> EmitOutcome {
        if self.shared.closed.load(Ordering::Acquire) {
            return EmitOutcome::Closed;
        }
        match self.tx.try_send(Command::Event(event)) {
            Ok(()) => EmitOutcome::Queued,
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::AcqRel);
                if self.shared.pending_dropped.fetch_add(1, Ordering::AcqRel) == 0 {
                    tracing::warn!(
                        "audit queue full: dropping events; the count will be recorded as an AuditGap"
                    );
                }
                EmitOutcome::Dropped
            }
            Err(TrySendError::Closed(_)) => EmitOutcome::Closed,
        }
    }

    /// Queues an event, waiting for room when the queue is full (no drops).
    pub async fn send(&self, event: AuditEvent) -> Result<(), AuditError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(AuditError::WriterClosed);
        }
        self.tx
            .send(Command::Event(event))
            .await
            .map_err(|_| AuditError::WriterClosed)
    }

    /// Queues an event, blocking the thread while the queue is full (no
    /// drops). Works outside and inside a tokio runtime (where it blocks
    /// that executor thread until there is room).
    pub fn send_blocking(&self, event: AuditEvent) -> Result<(), AuditError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(AuditError::WriterClosed);
        }
        self.enqueue_blocking(Command::Event(event))
    }

    /// Returns once every event queued before the call is durable (and any
    /// loss before it is durably recorded as an `AuditGap`). Errors if the
    /// batch holding them could not be written.
    pub async fn flush(&self) -> Result<(), AuditError> {
        let span = tracing::debug_span!("audit_flush");
        async {
            let (ack, done) = oneshot::channel();
            self.tx
                .send(Command::Flush(Ack::Async(ack)))
                .await
                .map_err(|_| AuditError::WriterClosed)?;
            done.await.map_err(|_| AuditError::WriterClosed)?
        }
        .instrument(span)
        .await
    }

    /// Blocking [`Self::flush`].
    ///
    /// Works from any thread. Called on a tokio runtime's worker thread it
    /// does not deadlock (the writer runs on its own runtime), but it does
    /// block that worker thread for one write (an fsync); prefer
    /// `flush().await` there. Called on the writer's own thread it returns
    /// [`AuditError::WouldDeadlock`].
    pub fn flush_blocking(&self) -> Result<(), AuditError> {
        let _span = tracing::debug_span!("audit_flush").entered();
        let (ack, done) = std_mpsc::sync_channel(1);
        self.enqueue_blocking(Command::Flush(Ack::Blocking(ack)))?;
        done.recv().map_err(|_| AuditError::WriterClosed)?
    }

    /// Writes everything queued, stops the task and returns the counters.
    /// Events emitted afterwards return [`EmitOutcome::Closed`].
    pub async fn shutdown(mut self) -> Result<WriterStats, AuditError> {
        self.shared.closed.store(true, Ordering::Release);
        let (ack, done) = oneshot::channel();
        let result = match self.tx.send(Command::Shutdown(Ack::Async(ack))).await {
            Ok(()) => done.await.unwrap_or(Err(AuditError::WriterClosed)),
            Err(_) => Err(AuditError::WriterClosed),
        };
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        result.map(|()| self.stats())
    }

    /// Blocking [`Self::shutdown`].
    pub fn shutdown_blocking(mut self) -> Result<WriterStats, AuditError> {
        let result = self.stop_blocking(None);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        result.map(|()| self.stats())
    }

    fn stop_blocking(&self, timeout: Option<Duration>) -> Result<(), AuditError> {
        self.shared.closed.store(true, Ordering::Release);
        let (ack, done) = std_mpsc::sync_channel(1);
        self.enqueue_blocking(Command::Shutdown(Ack::Blocking(ack)))?;
        match timeout {
            None => done.recv().map_err(|_| AuditError::WriterClosed)?,
            Some(t) => done.recv_timeout(t).map_err(|_| AuditError::WriterClosed)?,
        }
    }

    fn enqueue_blocking(&self, command: Command) -> Result<(), AuditError> {
        if std::thread::current().name() == Some(WRITER_THREAD) {
            return Err(AuditError::WouldDeadlock);
        }
        let command = match self.tx.try_send(command) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(AuditError::WriterClosed),
            Err(TrySendError::Full(command)) => command,
        };
        if tokio::runtime::Handle::try_current().is_err() {
            // A plain thread may block on the channel directly.
            return self
                .tx
                .blocking_send(command)
                .map_err(|_| AuditError::WriterClosed);
        }
        // Inside someone's runtime `blocking_send` would panic: let the
        // writer's runtime wait for room and block on a std channel instead.
        let runtime = self.runtime.as_ref().ok_or(AuditError::WriterClosed)?;
        let (sent, done) = std_mpsc::sync_channel(1);
        let tx = self.tx.clone();
        runtime.spawn(async move {
            let _ = sent.send(tx.send(command).await.is_ok());
        });
        match done.recv() {
            Ok(true) => Ok(()),
            _ => Err(AuditError::WriterClosed),
        }
    }
}

impl Drop for AuditWriter {
    /// Drains the queue (waiting up to [`DROP_DRAIN_TIMEOUT`]) unless
    /// [`AuditWriter::shutdown`] already ran. Never panics, also inside a
    /// runtime.
    fn drop(&mut self) {
        if self.runtime.is_none() {
            return;
        }
        if !self.shared.closed.load(Ordering::Acquire)
            && let Err(e) = self.stop_blocking(Some(DROP_DRAIN_TIMEOUT))
        {
            tracing::error!(error = %e, "audit writer dropped without a clean shutdown");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl AuditSink for AuditWriter {
    fn emit(&self, event: AuditEvent) -> EmitOutcome {
        AuditWriter::emit(self, event)
    }

    fn flush_blocking(&self) -> Result<(), AuditError> {
        AuditWriter::flush_blocking(self)
    }

    fn send_blocking(&self, event: AuditEvent) -> Result<(), AuditError> {
        AuditWriter::send_blocking(self, event)
    }
}

/// Space kept beside the log for the moment the disk fills up.
#[derive(Debug)]
struct Reserve {
    path: PathBuf,
    held: bool,
}

impl Reserve {
    fn beside(log: &Path) -> Self {
        let mut name = log.as_os_str().to_owned();
        name.push("-reserve");
        let path = PathBuf::from(name);
        let held = std::fs::metadata(&path).is_ok_and(|m| m.len() >= DISK_RESERVE_BYTES);
        Self { path, held }
    }

    /// Takes the reserve (writes real blocks, not a sparse file) unless it
    /// is held; best effort: a full disk leaves it released.
    fn take(&mut self) {
        if self.held {
            return;
        }
        let written = (|| {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&self.path)?;
            let zeros = vec![0u8; 64 * 1024];
            let mut left = DISK_RESERVE_BYTES;
            while left > 0 {
                let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
                file.write_all(zeros.get(..n).unwrap_or(&zeros))?;
                left -= n as u64;
            }
            file.sync_all()
        })();
        match written {
            Ok(()) => self.held = true,
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::debug!(error = %e, "audit disk reserve not taken");
            }
        }
    }

    /// Frees the reserve; true if there was one to free.
    fn release(&mut self) -> bool {
        if !self.held {
            return false;
        }
        self.held = false;
        std::fs::remove_file(&self.path).is_ok()
    }
}

/// The background task: drain, batch, write, acknowledge.
async fn run(
    mut rx: mpsc::Receiver<Command>,
    mut log: AuditLog,
    shared: Arc<Shared>,
    max_batch: usize,
) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(max_batch);
    let mut acks: Vec<Ack> = Vec::new();
    let mut stops: Vec<Ack> = Vec::new();
    let mut lost = 0u64;
    let mut reserve = Reserve::beside(log.path());
    reserve.take();
    let mut state = WriteState {
        lost: &mut lost,
        reserve: &mut reserve,
    };
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Event(event) => batch.push(event),
                Command::Flush(ack) => acks.push(ack),
                Command::Shutdown(ack) => stops.push(ack),
            }
            // A flush or shutdown ends the batch; so does a full batch or an
            // empty queue (nothing waits for a batch to fill).
            if !acks.is_empty() || !stops.is_empty() || batch.len() >= max_batch {
                break;
            }
            next = rx.try_recv().ok();
        }
        // The outcome went to the flushes waiting on it; a loss is counted.
        let _ = write_batch(&mut log, &shared, &mut batch, &mut state, acks.drain(..));
        if !stops.is_empty() {
            break;
        }
    }
    // Nothing follows a shutdown in the queue: the handle that sent it was
    // consumed by it (`shutdown(self)`, `Drop`), so every event emitted
    // before it was written above. Closing refuses any late sender.
    rx.close();
    // A loss not yet recorded is recorded now (this write starts with its
    // AuditGap); if that fails too, the error carries the count to whoever
    // stops the writer: nothing later will record it.
    let result = write_batch(&mut log, &shared, &mut batch, &mut state, acks.drain(..));
    drop(log);
    tracing::debug!("audit writer stopped");
    for ack in stops {
        ack.send(result.clone());
    }
}

/// What survives between batches: events lost and not yet recorded, and
/// the disk reserve.
struct WriteState<'a> {
    lost: &'a mut u64,
    reserve: &'a mut Reserve,
}

fn write_batch(
    log: &mut AuditLog,
    shared: &Shared,
    batch: &mut Vec<AuditEvent>,
    state: &mut WriteState<'_>,
    acks: impl Iterator<Item = Ack>,
) -> Result<(), AuditError> {
    let dropped = shared.pending_dropped.swap(0, Ordering::AcqRel);
    let missing = dropped.saturating_add(*state.lost);
    if missing > 0 {
        let cause = match (dropped > 0, *state.lost > 0) {
            (true, true) => "queue full and write failure",
            (true, false) => "queue full",
            _ => "write failure",
        };
        batch.insert(0, AuditEvent::audit_gap(missing, cause));
    }
    let result = if batch.is_empty() {
        Ok(())
    } else {
        let critical = batch.iter().any(|e| e.severity() == Severity::Critical);
        let span = tracing::debug_span!("audit_write_batch", events = batch.len(), critical);
        let _entered = span.enter();
        let mut appended = log.append_batch(batch);
        if matches!(appended, Err(AuditError::DiskFull { .. })) && state.reserve.release() {
            tracing::error!(
                "the disk holding the audit log is full: released the audit reserve to write this batch; free space now"
            );
            appended = log.append_batch(batch);
        }
        match appended {
            Ok(_) => {
                *state.lost = 0;
                shared
                    .written
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                shared.batches.fetch_add(1, Ordering::AcqRel);
                if missing > 0 {
                    shared.gaps.fetch_add(1, Ordering::AcqRel);
                }
                state.reserve.take();
                Ok(())
            }
            Err(e) => {
                let failed = batch.len() as u64 - u64::from(missing > 0);
                *state.lost = missing.saturating_add(failed);
                shared.write_failed.fetch_add(failed, Ordering::AcqRel);
                tracing::error!(error = %e, lost = *state.lost, "audit batch not written; the loss will be recorded by the next successful write");
                Err(AuditError::WriteFailed {
                    lost: *state.lost,
                    detail: e.to_string(),
                })
            }
        }
    };
    batch.clear();
    for ack in acks {
        ack.send(result.clone());
    }
    result
}
