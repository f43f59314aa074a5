//! `VramManager`: seal, verify and free shards under the brief's rules.
//!
//! The manager joins three seams — a [`VramAllocator`], the seal key, and an
//! [`AuditSink`] — and keeps the ledger of what it holds. Every rule of the
//! brief that spans crates lives here: ids are validated before anything
//! happens, failures leave nothing allocated, incidents are flushed to the
//! audit trail before the call returns, and the worker stops on them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use audit_core::tlog::SignerKey;
use audit_core::{AuditEvent, AuditSink, SealResidency};
use audit_ship::ship::{ShipConfig, ShipStatus, Shipper};
use gpu_alloc::{AllocError, BufferPlacement, DeviceProperties, VramAllocator};
use seal_crypto::{Fingerprint, SealClaims, SealKey, ShardDigester, WorkerSecret, context};

use crate::error::ResidencyError;
use crate::inner::{Allocation, Inner, Ledger, STAGING_BYTES, lock};
use crate::policy::{ResidencyPolicy, Violation};
use crate::shard::{SealOptions, SealedShard};
use crate::shard_id;
use crate::state::{StopReason, WorkerState};
use crate::verify::{VerifyMode, VerifyReport};

/// Longest worker id, in bytes.
const MAX_WORKER_ID_LEN: usize = 128;

/// How to build a [`VramManager`].
///
/// ```
/// use std::sync::Arc;
/// use audit_core::MemorySink;
/// use gpu_alloc::{HostDevice, HostDeviceConfig};
/// use seal_crypto::WorkerSecret;
/// use vram_residency::{ManagerConfig, ResidencyPolicy, VramManager};
///
/// let audit = Arc::new(MemorySink::new());
/// let device = HostDevice::new(HostDeviceConfig::with_capacity(64 << 20));
/// let manager = VramManager::new(
///     ManagerConfig::new("worker-1", WorkerSecret::new(&[7; 32])?, audit)
///         .allocator(device)
///         .policy(ResidencyPolicy::allow_simulated()),
/// )?;
/// manager.enforce_policy()?;
/// let shard = manager.seal("tiny-model:0", &[1, 2, 3])?;
/// manager.verify(&shard)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ManagerConfig {
    worker_id: String,
    secret: WorkerSecret,
    audit: Arc<dyn AuditSink>,
    device_index: u32,
    max_model_bytes: u64,
    allocator: Option<Arc<dyn VramAllocator>>,
    policy: ResidencyPolicy,
    shipping: Option<Shipping>,
}

/// Where and how the audit log is shipped (`ManagerConfig::ship_audit_log`).
struct Shipping {
    log: PathBuf,
    config: ShipConfig,
    log_key: Option<SignerKey>,
}

impl ManagerConfig {
    /// A configuration with the defaults: device 0, models up to 1 TiB, an
    /// auto-selected allocator, the strict residency policy.
    pub fn new(
        worker_id: impl Into<String>,
        secret: WorkerSecret,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            worker_id: worker_id.into(),
            secret,
            audit,
            device_index: 0,
            max_model_bytes: 1 << 40,
            allocator: None,
            policy: ResidencyPolicy::strict(),
            shipping: None,
        }
    }

    /// Which device to use (auto-selected allocators only; a given
    /// allocator must be for this index).
    pub fn device_index(mut self, index: u32) -> Self {
        self.device_index = index;
        self
    }

    /// Largest model this worker accepts, in bytes.
    pub fn max_model_bytes(mut self, bytes: u64) -> Self {
        self.max_model_bytes = bytes;
        self
    }

    /// Uses this allocator instead of auto-selecting one.
    pub fn allocator(mut self, allocator: Arc<dyn VramAllocator>) -> Self {
        self.allocator = Some(allocator);
        self
    }

    /// The residency policy `enforce_policy()` applies.
    pub fn policy(mut self, policy: ResidencyPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Ships the audit log to a fleet collector (`VR-SHIP-001`): the
    /// manager starts an [`audit_ship::ship::Shipper`] of the SQLite log at
    /// `log` (the file the audit sink writes) on a thread of its own, which
    /// reads the log read-only and never slows or blocks the sink;
    /// [`VramManager::audit_shipping`] says how far behind it is. With
    /// `log_key` (the worker's checkpoint key, `vramctl audit keygen`) every
    /// batch ends at a checkpoint the shipper signs; without it, at
    /// checkpoints stored in the log.
    pub fn ship_audit_log(
        mut self,
        log: impl Into<PathBuf>,
        config: ShipConfig,
        log_key: Option<SignerKey>,
    ) -> Self {
        self.shipping = Some(Shipping {
            log: log.into(),
            config,
            log_key,
        });
        self
    }
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("worker_id", &self.worker_id)
            .field("secret", &self.secret)
            .field("device_index", &self.device_index)
            .field("max_model_bytes", &self.max_model_bytes)
            .field("policy", &self.policy)
            .field(
                "ships_to",
                &self.shipping.as_ref().map(|s| &s.config.collector),
            )
            .finish_non_exhaustive()
    }
}

/// Free space and what this manager holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capacity {
    /// Device memory in total.
    pub device_total: u64,
    /// Device memory free now.
    pub device_free: u64,
    /// Bytes held by this manager's sealed shards.
    pub used_by_shards: u64,
    /// Number of sealed shards alive.
    pub shard_count: usize,
    /// Largest model accepted.
    pub max_model_bytes: u64,
}

/// The facade workers use: seals shards into VRAM, verifies them, audits
/// every step. `Send + Sync` and cheap to clone (clones share one ledger).
#[derive(Clone)]
pub struct VramManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VramManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VramManager")
            .field("worker_id", &self.inner.worker_id)
            .field("device", &self.inner.device_index)
            .field("backend", &self.inner.allocator.backend())
            .field("secret", &self.inner.secret_fingerprint)
            .field("state", &self.inner.state())
            .finish_non_exhaustive()
    }
}

/// Where a seal's bytes come from.
enum Source<'a> {
    Bytes(&'a [u8]),
    Reader(&'a mut dyn Read),
}

impl VramManager {
    /// Builds a manager, refusing an invalid configuration. The worker
    /// starts in [`WorkerState::Starting`]: call [`Self::enforce_policy`].
    pub fn new(config: ManagerConfig) -> Result<Self, ResidencyError> {
        let invalid = |reason: &str| ResidencyError::InvalidConfig {
            reason: reason.to_owned(),
        };
        shard_id::validate_shard_id(&config.worker_id)
            .map_err(|e| invalid(&format!("worker id: {e}")))?;
        if config.worker_id.len() > MAX_WORKER_ID_LEN {
            return Err(invalid("worker id is longer than 128 bytes"));
        }
        if config.max_model_bytes == 0 {
            return Err(invalid("max_model_bytes is 0; no model could be sealed"));
        }
        let allocator = match config.allocator {
            Some(allocator) => allocator,
            None => gpu_alloc::open(gpu_alloc::BackendChoice::Auto, config.device_index)?,
        };
        if allocator.device_index() != config.device_index {
            return Err(invalid(&format!(
                "the allocator is for device {} but device {} was configured",
                allocator.device_index(),
                config.device_index
            )));
        }
        let seal_key = SealKey::derive(&config.secret, context::SEAL)
            .map_err(|e| invalid(&format!("seal key: {e}")))?;
        // Last, so that a refused configuration starts no thread.
        let shipper = match config.shipping {
            Some(shipping) => Some(
                Shipper::new(&shipping.log, shipping.config, shipping.log_key)
                    .and_then(Shipper::spawn)
                    .map_err(|e| invalid(&format!("audit shipping: {e}")))?,
            ),
            None => None,
        };
        tracing::info!(
            worker = %config.worker_id,
            backend = %allocator.backend(),
            device = config.device_index,
            secret = %config.secret.fingerprint(),
            "vram manager created"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                secret_fingerprint: config.secret.fingerprint(),
                worker_id: config.worker_id,
                device_index: config.device_index,
                max_model_bytes: config.max_model_bytes,
                allocator,
                audit: config.audit,
                seal_key,
                policy: config.policy,
                state: Mutex::new(WorkerState::Starting),
                ledger: Mutex::new(Ledger::default()),
                shipper,
            }),
        })
    }

    /// The worker id.
    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }

    /// Which backend holds the shards.
    pub fn backend(&self) -> gpu_alloc::Backend {
        self.inner.allocator.backend()
    }

    /// The device index.
    pub fn device_index(&self) -> u32 {
        self.inner.device_index
    }

    /// Fingerprint of the worker secret (the only way it is ever shown).
    pub fn secret_fingerprint(&self) -> Fingerprint {
        self.inner.secret_fingerprint
    }

    /// The worker's state.
    pub fn state(&self) -> WorkerState {
        self.inner.state()
    }

    /// Checks the device against the residency policy (spec `VR-POL-*`).
    /// On a violation, records one `PolicyViolation` event per rule
    /// (critical, flushed), stops the worker and returns the error.
    pub fn enforce_policy(&self) -> Result<(), ResidencyError> {
        if let WorkerState::Stopped { reason } = self.state() {
            return Err(ResidencyError::WorkerStopped {
                reason: reason.to_string(),
            });
        }
        let properties = self.inner.allocator.properties()?;
        let violations = self
            .inner
            .policy
            .violations(self.inner.allocator.backend(), &properties);
        if violations.is_empty() {
            let mut state = lock(&self.inner.state);
            if *state == WorkerState::Starting {
                *state = WorkerState::Ready;
            }
            tracing::info!(device = %properties.name, "residency policy passed");
            return Ok(());
        }
        let details = format!(
            "device {} ({}), backend {}",
            self.inner.device_index,
            properties.name,
            self.inner.allocator.backend()
        );
        for Violation { policy, violation } in &violations {
            self.inner.queue_critical(AuditEvent::policy_violation(
                policy,
                violation,
                &details,
                "worker stopped; no shard will be sealed",
            ));
        }
        let joined = violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.inner.stop(StopReason::PolicyViolation {
            violations: joined.clone(),
        });
        self.inner.flush_critical();
        Err(ResidencyError::PolicyViolation { violations: joined })
    }

    /// Free space and what this manager holds.
    pub fn capacity(&self) -> Result<Capacity, ResidencyError> {
        let info = self.inner.allocator.memory_info()?;
        let ledger = lock(&self.inner.ledger);
        Ok(Capacity {
            device_total: info.total,
            device_free: info.free,
            used_by_shards: ledger.used,
            shard_count: ledger.shards.values().filter(|&&b| b > 0).count(),
            max_model_bytes: self.inner.max_model_bytes,
        })
    }

    /// Seals `bytes` as shard `shard_id`.
    pub fn seal(&self, shard_id: &str, bytes: &[u8]) -> Result<SealedShard, ResidencyError> {
        self.seal_with(shard_id, bytes, SealOptions::default())
    }

    /// Seals `bytes` with labels (model reference, shard position).
    pub fn seal_with(
        &self,
        shard_id: &str,
        bytes: &[u8],
        options: SealOptions,
    ) -> Result<SealedShard, ResidencyError> {
        self.seal_source(
            shard_id,
            bytes.len() as u64,
            Source::Bytes(bytes),
            options,
            &mut |_| {},
        )
    }

    /// Seals `len` bytes streamed from `reader`, holding at most 16 MiB of
    /// them in host memory at a time. `progress` hears the bytes done so far.
    pub fn seal_reader(
        &self,
        shard_id: &str,
        reader: &mut dyn Read,
        len: u64,
        options: SealOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<SealedShard, ResidencyError> {
        self.seal_source(shard_id, len, Source::Reader(reader), options, progress)
    }

    /// Seals a model file, streamed (see [`Self::seal_reader`]).
    pub fn seal_file(
        &self,
        shard_id: &str,
        path: &Path,
        options: SealOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<SealedShard, ResidencyError> {
        let mut file = std::fs::File::open(path).map_err(ResidencyError::Io)?;
        let metadata = file.metadata().map_err(ResidencyError::Io)?;
        if !metadata.is_file() {
            return Err(ResidencyError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        self.seal_reader(shard_id, &mut file, metadata.len(), options, progress)
    }

    fn check_can_seal(&self) -> Result<(), ResidencyError> {
        match self.state() {
            WorkerState::Ready => Ok(()),
            WorkerState::Starting => Err(ResidencyError::PolicyNotChecked),
            WorkerState::Stopped { reason } => Err(ResidencyError::WorkerStopped {
                reason: reason.to_string(),
            }),
        }
    }

    /// Claims `shard_id` in the ledger so two seals cannot race for it.
    fn reserve_id(&self, shard_id: &str) -> Result<(), ResidencyError> {
        let mut ledger = lock(&self.inner.ledger);
        if ledger.shards.contains_key(shard_id) {
            return Err(ResidencyError::DuplicateShard {
                shard_id: shard_id.to_owned(),
            });
        }
        ledger.shards.insert(shard_id.to_owned(), 0);
        Ok(())
    }

    fn seal_source(
        &self,
        shard_id: &str,
        len: u64,
        source: Source<'_>,
        options: SealOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<SealedShard, ResidencyError> {
        let span = tracing::info_span!("seal", shard = shard_id, bytes = len);
        let _enter = span.enter();
        // Bad input is refused before anything is touched or recorded.
        shard_id::check(shard_id)?;
        self.check_can_seal()?;
        if len == 0 {
            return Err(ResidencyError::EmptyModel);
        }
        if len > self.inner.max_model_bytes {
            return Err(ResidencyError::ModelTooLarge {
                bytes: len,
                max: self.inner.max_model_bytes,
            });
        }
        let labels = options.into_labels()?;
        self.reserve_id(shard_id)?;
        let mut allocation = match self.allocate(shard_id, len) {
            Ok(allocation) => allocation,
            Err(error) => {
                self.inner.forget(shard_id);
                return Err(error);
            }
        };
        // From here the ledger holds the bytes; a failure releases them
        // when `allocation` drops (which records the free).
        let device = self.inner.device_index;
        // Where the memory is, checked before any weight is copied into it.
        let (placement, properties) = self.check_placement(&allocation)?;
        let digests = copy_in(&mut allocation, len, source, progress)?;
        let claims = SealClaims::new(
            shard_id,
            digests.plain,
            digests.chunks.root(),
            len,
            device,
            now_unix_ns(),
        )
        .and_then(|claims| labels.apply(claims))
        .map_err(ResidencyError::Seal)?;
        let signature =
            seal_crypto::sign(&self.inner.seal_key, &claims).map_err(ResidencyError::Seal)?;
        let memory = placement.memory.to_string();
        let residency = SealResidency {
            memory: &memory,
            managed: placement.managed,
            device_ordinal: placement.device_ordinal,
            gpu_uuid: properties.uuid.as_deref(),
            pci_bus_id: properties.pci_bus_id.as_deref(),
            pageable_memory_access: properties.pageable_memory_access,
            uses_host_page_tables: properties.pageable_memory_access_uses_host_page_tables,
        };
        let _ = self.inner.audit.emit(
            AuditEvent::vram_sealed(shard_id, device, len, &claims.digest)
                .with_residency(&residency),
        );
        tracing::info!(digest = %claims.digest, "sealed");
        Ok(SealedShard::new(
            allocation,
            claims,
            signature,
            digests.chunks,
            self.inner.allocator.backend(),
        ))
    }

    /// Where the driver says `allocation`'s memory is, and the device's
    /// properties; a buffer that is not plain, unmanaged memory of this
    /// device breaks the policy (`VR-POL-007`): recorded, the worker
    /// stopped, and the memory freed when `allocation` drops.
    fn check_placement(
        &self,
        allocation: &Allocation,
    ) -> Result<(BufferPlacement, DeviceProperties), ResidencyError> {
        let buffer = allocation.buffer().ok_or(AllocError::InvalidArgument {
            reason: "the allocation holds no buffer",
        })?;
        let placement = buffer.placement()?;
        let properties = self.inner.allocator.properties()?;
        let backend = self.inner.allocator.backend();
        let Some(Violation { policy, violation }) =
            self.inner
                .policy
                .placement_violation(backend, self.inner.device_index, &placement)
        else {
            return Ok((placement, properties));
        };
        let details = format!(
            "device {} ({}), backend {backend}: the driver reports {} memory, managed {}, of device {}",
            self.inner.device_index,
            properties.name,
            placement.memory,
            placement.managed,
            placement.device_ordinal
        );
        self.inner.queue_critical(AuditEvent::policy_violation(
            policy,
            violation,
            &details,
            "worker stopped; the shard was not sealed",
        ));
        let joined = format!("{policy}: {violation}");
        self.inner.stop(StopReason::PolicyViolation {
            violations: joined.clone(),
        });
        self.inner.flush_critical();
        Err(ResidencyError::PolicyViolation { violations: joined })
    }

    /// Allocates `len` bytes for `shard_id`, recording `VramAllocated` (with
    /// the shard id) or `VramAllocationFailed`, and enters them in the
    /// ledger. The returned guard gives them back when dropped.
    fn allocate(&self, shard_id: &str, len: u64) -> Result<Allocation, ResidencyError> {
        let device = self.inner.device_index;
        let available = self
            .inner
            .allocator
            .memory_info()
            .map(|i| i.free)
            .unwrap_or(0);
        match self.inner.allocator.allocate(len) {
            Ok(buffer) => {
                let used_after = {
                    let mut ledger = lock(&self.inner.ledger);
                    ledger.shards.insert(shard_id.to_owned(), len);
                    ledger.used = ledger.used.saturating_add(len);
                    ledger.used
                };
                let allocation = Allocation::new(Arc::clone(&self.inner), shard_id, buffer);
                let _ = self.inner.audit.emit(AuditEvent::vram_allocated(
                    shard_id, len, len, available, used_after, device,
                ));
                Ok(allocation)
            }
            Err(error) => {
                let available = match &error {
                    AllocError::OutOfMemory { available, .. } => *available,
                    _ => available,
                };
                let _ = self.inner.audit.emit(AuditEvent::vram_allocation_failed(
                    len,
                    available,
                    &error.to_string(),
                    device,
                ));
                Err(error.into())
            }
        }
    }

    /// Verifies a shard fully: the seal, then every byte in VRAM.
    pub fn verify(&self, shard: &SealedShard) -> Result<VerifyReport, ResidencyError> {
        self.verify_with(shard, &VerifyMode::Full)
    }

    /// Verifies a shard in the given mode (see [`VerifyMode`] for what each
    /// proves). A mismatch records `SealVerificationFailed` (flushed before
    /// returning), stops the worker and returns
    /// [`ResidencyError::IntegrityViolation`].
    pub fn verify_with(
        &self,
        shard: &SealedShard,
        mode: &VerifyMode,
    ) -> Result<VerifyReport, ResidencyError> {
        let span = tracing::info_span!("verify", shard = shard.id(), mode = mode.name());
        let _enter = span.enter();
        let started = Instant::now();
        if !shard.sealed_by(&self.inner) {
            return Err(ResidencyError::UnknownShard {
                shard_id: shard.id().to_owned(),
            });
        }
        // A bad request is the caller's mistake, not an incident: refuse it
        // before anything is checked or recorded.
        let count = shard.chunk_count();
        match mode {
            VerifyMode::Chunks(chosen) if chosen.is_empty() => {
                return Err(invalid_mode("Chunks needs at least one chunk index".into()));
            }
            VerifyMode::Chunks(chosen) => {
                if let Some(bad) = chosen.iter().find(|&&i| i >= count) {
                    return Err(invalid_mode(format!(
                        "chunk {bad} does not exist; the shard has {count} chunks"
                    )));
                }
            }
            VerifyMode::Sampled { count: 0 } => {
                return Err(invalid_mode("Sampled needs a count of at least 1".into()));
            }
            _ => {}
        }
        let outcome = crate::verify::check(&self.inner.seal_key, shard, mode);
        match outcome {
            Ok(mut report) => {
                report.duration = started.elapsed();
                let _ = self
                    .inner
                    .audit
                    .emit(AuditEvent::seal_verified(shard.id(), shard.device()));
                Ok(report)
            }
            Err(failure) => {
                let reason = failure.reason.clone();
                self.inner.stop(StopReason::IntegrityViolation {
                    shard_id: shard.id().to_owned(),
                    reason: reason.clone(),
                });
                self.inner
                    .record_critical(AuditEvent::seal_verification_failed(
                        shard.id(),
                        &reason,
                        &shard.chunk_root(),
                        failure.actual_root.as_ref(),
                        shard.device(),
                    ));
                Err(ResidencyError::IntegrityViolation {
                    shard_id: shard.id().to_owned(),
                    reason,
                })
            }
        }
    }

    /// Makes every audit event recorded so far durable.
    pub fn flush_audit(&self) -> Result<(), audit_core::AuditError> {
        let span = tracing::debug_span!("flush");
        let _enter = span.enter();
        self.inner.audit.flush_blocking()
    }

    /// Where the audit log's shipping stands (`None` unless configured with
    /// [`ManagerConfig::ship_audit_log`]): records and seconds behind the
    /// collector, the last failure, and why it stopped if the collector
    /// refused a batch (an alert there, `VR-SHIP-001`).
    pub fn audit_shipping(&self) -> Option<ShipStatus> {
        self.inner
            .shipper
            .as_ref()
            .map(audit_ship::ship::ShipperHandle::status)
    }
}

fn invalid_mode(reason: String) -> ResidencyError {
    ResidencyError::InvalidOptions { reason }
}

/// Copies the source into the allocation, digesting it on the way: one
/// pass, at most [`STAGING_BYTES`] of it in host memory at a time.
fn copy_in(
    allocation: &mut Allocation,
    len: u64,
    source: Source<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<seal_crypto::ShardDigests, ResidencyError> {
    let buffer =
        allocation
            .buffer_mut()
            .ok_or(ResidencyError::Device(AllocError::InvalidArgument {
                reason: "shard has no buffer",
            }))?;
    let mut digester = ShardDigester::new();
    let mut offset = 0u64;
    match source {
        Source::Bytes(bytes) => {
            for piece in bytes.chunks(STAGING_BYTES) {
                buffer.write(offset, piece)?;
                digester.update(piece);
                offset += piece.len() as u64;
                progress(offset);
            }
        }
        Source::Reader(reader) => {
            let mut staging = vec![0u8; STAGING_BYTES];
            loop {
                let filled = fill(reader, &mut staging)?;
                if filled == 0 {
                    break;
                }
                let piece = staging.get(..filled).unwrap_or_default();
                if offset + filled as u64 > len {
                    return Err(ResidencyError::SourceLength {
                        expected: len,
                        actual: offset + filled as u64,
                    });
                }
                buffer.write(offset, piece)?;
                digester.update(piece);
                offset += filled as u64;
                progress(offset);
            }
        }
    }
    if offset != len {
        return Err(ResidencyError::SourceLength {
            expected: len,
            actual: offset,
        });
    }
    Ok(digester.finish())
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, ResidencyError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ResidencyError::Io(e)),
        }
    }
    Ok(filled)
}

fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
