//! State shared by a [`crate::VramManager`] and every shard it sealed: the
//! seams (allocator, audit sink, seal key), the worker's state and the
//! ledger of what it holds, and [`Allocation`], the guard that gives device
//! memory back.
//!
//! `manager`, `shard` and `verify` all depend on this module and it on none
//! of them, so they do not import each other in a cycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use audit_core::{AuditEvent, AuditSink};
use gpu_alloc::{DeviceBuffer, VramAllocator};
use seal_crypto::{Fingerprint, SealKey};

use crate::policy::ResidencyPolicy;
use crate::state::{StopReason, WorkerState};

/// Bytes moved to the device per copy, and read back per chunk when
/// re-hashing: the bound on host memory for streamed seals (16 MiB).
pub(crate) const STAGING_BYTES: usize = 16 << 20;

/// What the manager holds: live shard ids and their bytes.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Shard id to bytes; 0 while a seal is in progress.
    pub(crate) shards: HashMap<String, u64>,
    /// Sum of the bytes of live shards.
    pub(crate) used: u64,
}

/// State shared by the manager and every shard it sealed.
pub(crate) struct Inner {
    pub(crate) worker_id: String,
    pub(crate) device_index: u32,
    pub(crate) max_model_bytes: u64,
    pub(crate) allocator: Arc<dyn VramAllocator>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) seal_key: SealKey,
    pub(crate) secret_fingerprint: Fingerprint,
    pub(crate) policy: ResidencyPolicy,
    pub(crate) state: Mutex<WorkerState>,
    pub(crate) ledger: Mutex<Ledger>,
    /// The shipper of the audit log to a fleet collector, when configured;
    /// stopped when the last manager clone and shard are gone.
    pub(crate) shipper: Option<audit_ship::ship::ShipperHandle>,
}

/// Locks a mutex even if a thread panicked while holding it: the data it
/// guards (counters, a state enum) stays meaningful, and `Drop` must not
/// panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub(crate) fn state(&self) -> WorkerState {
        lock(&self.state).clone()
    }

    pub(crate) fn stop(&self, reason: StopReason) {
        let mut state = lock(&self.state);
        if !state.is_stopped() {
            tracing::error!(%reason, "worker stopped");
            *state = WorkerState::Stopped { reason };
        }
    }

    /// Records a critical event and waits until it is durable.
    /// Waits for queue room rather than dropping: an incident must be in
    /// the log, not replaced by an anonymous gap.
    pub(crate) fn record_critical(&self, event: AuditEvent) {
        self.queue_critical(event);
        self.flush_critical();
    }

    /// Queues a critical event, waiting for room (never dropped).
    pub(crate) fn queue_critical(&self, event: AuditEvent) {
        if let Err(error) = self.audit.send_blocking(event) {
            tracing::error!(%error, "could not queue a critical audit event");
        }
    }

    /// Waits until every event so far is durable. An audit failure is
    /// logged, never allowed to hide the incident being reported.
    pub(crate) fn flush_critical(&self) {
        let span = tracing::debug_span!("flush");
        let _enter = span.enter();
        if let Err(error) = self.audit.flush_blocking() {
            tracing::error!(%error, "could not make a critical audit event durable");
        }
    }

    /// Removes a shard from the ledger and records the free. Called from
    /// `SealedShard::drop`; never panics, never blocks on the audit log.
    pub(crate) fn release(&self, shard_id: &str) {
        let (freed, still_used) = {
            let mut ledger = lock(&self.ledger);
            let freed = ledger.shards.remove(shard_id).unwrap_or(0);
            ledger.used = ledger.used.saturating_sub(freed);
            (freed, ledger.used)
        };
        let _ = self.audit.emit(AuditEvent::vram_deallocated(
            shard_id,
            freed,
            still_used,
            self.device_index,
        ));
        tracing::debug!(shard = shard_id, freed, still_used, "freed shard");
    }

    /// Undoes a reservation made by `reserve_id` for a seal that failed
    /// before any memory was allocated.
    pub(crate) fn forget(&self, shard_id: &str) {
        lock(&self.ledger).shards.remove(shard_id);
    }
}

/// Device memory entered in the ledger under a shard id.
///
/// Made as soon as the allocation is in the ledger, so every later failure
/// of a seal (copy, digest, signing) gives the memory back by dropping it;
/// a finished seal moves it into its [`crate::SealedShard`]. Dropping it
/// frees the buffer, removes the ledger entry and records
/// `VramDeallocated` for the id it was allocated under, whatever the shard's
/// record says (spec `VR-SHARD-001`, `VR-SEAL-003`).
pub(crate) struct Allocation {
    manager: Arc<Inner>,
    shard_id: String,
    /// `None` only during `Drop`.
    buffer: Option<DeviceBuffer>,
}

impl Allocation {
    /// Takes charge of `buffer`, already in `manager`'s ledger as `shard_id`.
    pub(crate) fn new(manager: Arc<Inner>, shard_id: &str, buffer: DeviceBuffer) -> Self {
        Self {
            manager,
            shard_id: shard_id.to_owned(),
            buffer: Some(buffer),
        }
    }

    /// The device memory.
    pub(crate) fn buffer(&self) -> Option<&DeviceBuffer> {
        self.buffer.as_ref()
    }

    /// The device memory, to write.
    pub(crate) fn buffer_mut(&mut self) -> Option<&mut DeviceBuffer> {
        self.buffer.as_mut()
    }

    /// True if `manager` made this allocation.
    pub(crate) fn belongs_to(&self, manager: &Arc<Inner>) -> bool {
        Arc::ptr_eq(&self.manager, manager)
    }
}

impl Drop for Allocation {
    /// Frees the VRAM and records `VramDeallocated`, synchronously and
    /// without panicking: the audit event is queued, never waited for.
    fn drop(&mut self) {
        let span = tracing::debug_span!("free", shard = %self.shard_id);
        let _enter = span.enter();
        drop(self.buffer.take());
        self.manager.release(&self.shard_id);
    }
}
