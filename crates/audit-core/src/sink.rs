//! [`AuditSink`]: the seam between code that produces audit events and
//! whatever stores them.
//!
//! The facade holds an `Arc<dyn AuditSink>`; production passes an
//! [`crate::AuditWriter`], tests a [`MemorySink`]. The trait is object safe
//! and both methods are synchronous so they can be called from `Drop`.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{AuditError, AuditEvent};

/// What happened to an emitted event. Callers may inspect it but need not:
/// a dropped event is counted and recorded as an `AuditGap` later anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitOutcome {
    /// Accepted; it will be written in the next batch.
    Queued,
    /// The queue was full: the event was not kept, the loss is counted and
    /// an `AuditGap` record with the count will be written.
    Dropped,
    /// The sink is shut down; nothing was recorded.
    Closed,
}

impl EmitOutcome {
    /// True when the event was accepted.
    pub fn is_queued(self) -> bool {
        self == Self::Queued
    }
}

/// Where audit events go.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Hands over an event without blocking. Callable from any thread,
    /// outside or inside a tokio runtime, and from `Drop`.
    fn emit(&self, event: AuditEvent) -> EmitOutcome;

    /// Returns once everything emitted before the call is durable (or its
    /// loss is durably recorded). Blocks the calling thread; see the
    /// implementation for what that means inside an async runtime.
    fn flush_blocking(&self) -> Result<(), AuditError>;

    /// Hands over an event, waiting for room instead of dropping it: for
    /// events that must not be lost (security incidents). The default emits
    /// and turns a drop into an error; the SQLite writer waits on its queue.
    fn send_blocking(&self, event: AuditEvent) -> Result<(), AuditError> {
        match self.emit(event) {
            EmitOutcome::Queued => Ok(()),
            EmitOutcome::Dropped | EmitOutcome::Closed => Err(AuditError::WriterClosed),
        }
    }
}

impl<T: AuditSink + ?Sized> AuditSink for Arc<T> {
    fn emit(&self, event: AuditEvent) -> EmitOutcome {
        (**self).emit(event)
    }

    fn send_blocking(&self, event: AuditEvent) -> Result<(), AuditError> {
        (**self).send_blocking(event)
    }

    fn flush_blocking(&self) -> Result<(), AuditError> {
        (**self).flush_blocking()
    }
}

/// An [`AuditSink`] that keeps events in memory, for tests.
///
/// ```
/// use audit_core::{AuditEvent, AuditSink, MemorySink};
/// let sink = MemorySink::new();
/// sink.emit(AuditEvent::seal_verified("s", 0));
/// sink.flush_blocking()?;
/// assert_eq!(sink.events()[0].kind(), "SealVerified");
/// # Ok::<(), audit_core::AuditError>(())
/// ```
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every event emitted so far, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of events emitted so far.
    pub fn len(&self) -> usize {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every event.
    pub fn take(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl AuditSink for MemorySink {
    fn emit(&self, event: AuditEvent) -> EmitOutcome {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
        EmitOutcome::Queued
    }

    fn flush_blocking(&self) -> Result<(), AuditError> {
        Ok(())
    }
}
