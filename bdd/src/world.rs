//! The world of one scenario: a worker (a `VramManager`) on the pass's
//! device, writing to a real SQLite audit log in a temporary directory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{MIB, SecretScanner, model_bytes};
use audit_core::{AuditLog, AuditRecord, AuditWriter, QueryFilter, WriterConfig};
use gpu_alloc::{HostDevice, HostDeviceConfig, VramAllocator};
use seal_crypto::{Digest, WorkerSecret};
use tempfile::TempDir;
use vram_residency::{
    ManagerConfig, ResidencyError, ResidencyPolicy, SealOptions, SealedShard, VerifyReport,
    VramManager,
};

/// The worker secret of every scenario's first worker. Printable on
/// purpose: if it ever leaked into a log or an event, a plain text search
/// would find it.
pub const SECRET: &[u8; 32] = b"bdd-worker-secret:never-log-me!!";
/// Another worker's secret.
pub const OTHER_SECRET: &[u8; 32] = b"bdd-other-secret:never-log-me-2!";
/// The first worker's id.
pub const WORKER_ID: &str = "worker-a";
/// Capacity of the simulated device when a scenario does not choose one.
pub const DEFAULT_SIMULATED_CAPACITY: u64 = 64 * MIB;

/// Which device the scenarios of this pass run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// `gpu_alloc::HostDevice`, the simulated device.
    Simulated,
    /// The first CUDA GPU.
    Cuda,
}

static PASS: AtomicU8 = AtomicU8::new(0);

impl Pass {
    /// Sets the pass new worlds are created for.
    pub fn set_current(pass: Self) {
        PASS.store(
            match pass {
                Self::Simulated => 0,
                Self::Cuda => 1,
            },
            Ordering::SeqCst,
        );
    }

    /// The pass new worlds are created for.
    pub fn current() -> Self {
        match PASS.load(Ordering::SeqCst) {
            1 => Self::Cuda,
            _ => Self::Simulated,
        }
    }

    /// Name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::Cuda => "CUDA",
        }
    }
}

/// A worker: its manager and its audit writer, plus the simulated device
/// behind it when there is one.
#[derive(Debug)]
pub struct Worker {
    pub id: String,
    pub secret: WorkerSecret,
    pub db: PathBuf,
    pub host: Option<Arc<HostDevice>>,
    pub writer: Option<Arc<AuditWriter>>,
    pub manager: Option<VramManager>,
    pub shards: BTreeMap<String, SealedShard>,
}

impl Worker {
    /// The manager; panics with a clear message when the worker is gone.
    pub fn manager(&self) -> &VramManager {
        self.manager
            .as_ref()
            .unwrap_or_else(|| panic!("worker {} has no manager (shut down?)", self.id))
    }

    /// Drops every shard (recording the frees), the manager and the audit
    /// writer, which writes everything queued before it closes.
    pub fn shut_down(&mut self) {
        self.shards.clear();
        self.manager = None;
        if let Some(writer) = self.writer.take() {
            let writer = Arc::try_unwrap(writer)
                .unwrap_or_else(|_| panic!("the audit writer of {} is still shared", self.id));
            writer
                .shutdown_blocking()
                .expect("shut the audit writer down");
        }
    }
}

/// Options for starting a worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub id: String,
    pub secret: &'static [u8; 32],
    pub db_name: String,
    /// `Some(capacity)` for a simulated device (whatever the pass), `None`
    /// for the pass's device.
    pub simulated: Option<HostDeviceConfig>,
    pub policy: Option<ResidencyPolicy>,
    pub max_model_bytes: Option<u64>,
    pub enforce_policy: bool,
}

impl WorkerSpec {
    /// The first worker, ready, on the pass's device.
    pub fn first() -> Self {
        Self {
            id: WORKER_ID.to_owned(),
            secret: SECRET,
            db_name: "audit.db".to_owned(),
            simulated: None,
            policy: None,
            max_model_bytes: None,
            enforce_policy: true,
        }
    }
}

/// Which operation ran last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Seal,
    Verify,
    Policy,
}

/// What the last seal, verification or policy check did.
#[derive(Debug, Default)]
pub struct Last {
    pub seal: Option<Result<String, ResidencyError>>,
    pub verify: Option<Result<VerifyReport, ResidencyError>>,
    pub policy: Option<Result<(), ResidencyError>>,
    pub op: Option<Op>,
}

/// Outcome of a concurrency run.
#[derive(Debug, Default, Clone)]
pub struct ConcurrencyOutcome {
    pub seals_ok: u64,
    pub seals_insufficient: u64,
    pub verifications_ok: u64,
    pub unexpected: Vec<String>,
    pub observations: u64,
    pub bad_observations: Vec<String>,
    pub duplicate_refusals: u64,
}

/// The world of one scenario.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct ResidencyWorld {
    pub pass: Pass,
    pub dir: TempDir,
    pub worker: Option<Worker>,
    pub other: Option<Worker>,
    /// Digest of what was sealed under each id.
    pub sealed_digests: BTreeMap<String, Digest>,
    /// The chunked root of each sealed shard's bytes, computed here.
    pub sealed_roots: BTreeMap<String, Digest>,
    pub last: Last,
    /// Every error message and `Debug` form seen in the scenario.
    pub said: Vec<String>,
    /// Where the captured log was when the scenario started capturing.
    pub log_mark: Option<usize>,
    pub checkpoint: Option<(audit_core::Checkpoint, audit_core::CheckpointPublicKey)>,
    pub concurrency: Option<ConcurrencyOutcome>,
    pub backup: Option<PathBuf>,
    /// The last bad shard id tried.
    pub bad_id: Option<String>,
    /// JSON and debug output shown during the scenario: (what, text).
    pub shown: Vec<(String, String)>,
    /// The worker's checkpoint (log) key, made at its first use.
    pub log_key: Option<audit_core::tlog::SignerKey>,
    /// A signed checkpoint note an auditor kept.
    pub kept_note: Option<String>,
    /// A proof of inclusion and the record it is for.
    pub proof: Option<(audit_core::tlog::TlogProof, audit_core::AuditRecord)>,
    /// A tlog-witness on 127.0.0.1, and what became of the last submission
    /// to it.
    pub witness: Option<RunningWitness>,
    pub witness_outcome: Option<audit_ship::witness::Outcome>,
    /// The sizes the witness cosigned, in order.
    pub cosigned_sizes: Vec<u64>,
    /// The fleet collector on PostgreSQL of a `@fleet` scenario.
    pub collector: Option<crate::steps::fleet::RunningCollector>,
}

/// The test witness of the scenario (stopped when the world is dropped).
pub struct RunningWitness(pub crate::witness_server::TestWitness);

impl std::fmt::Debug for RunningWitness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunningWitness({})", self.0.url())
    }
}

impl ResidencyWorld {
    fn new() -> Self {
        Self {
            pass: Pass::current(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            worker: None,
            other: None,
            sealed_digests: BTreeMap::new(),
            sealed_roots: BTreeMap::new(),
            last: Last::default(),
            said: Vec::new(),
            log_mark: None,
            checkpoint: None,
            concurrency: None,
            backup: None,
            bad_id: None,
            shown: Vec::new(),
            log_key: None,
            kept_note: None,
            proof: None,
            witness: None,
            witness_outcome: None,
            cosigned_sizes: Vec::new(),
            collector: None,
        }
    }

    /// Starts a worker as `spec` says.
    pub fn start(&mut self, spec: &WorkerSpec) -> Worker {
        let secret = WorkerSecret::new(spec.secret).expect("a valid secret");
        let db = self.dir.path().join(&spec.db_name);
        let writer = Arc::new(
            AuditWriter::open(&db, &spec.id, &secret, WriterConfig::default())
                .expect("open the audit log"),
        );
        let (allocator, host, default_policy): (Arc<dyn VramAllocator>, _, _) =
            match (&spec.simulated, self.pass) {
                (Some(config), _) => {
                    let device = HostDevice::new(config.clone());
                    (
                        device.clone(),
                        Some(device),
                        ResidencyPolicy::allow_simulated(),
                    )
                }
                (None, Pass::Simulated) => {
                    let device = HostDevice::new(HostDeviceConfig::with_capacity(
                        DEFAULT_SIMULATED_CAPACITY,
                    ));
                    (
                        device.clone(),
                        Some(device),
                        ResidencyPolicy::allow_simulated(),
                    )
                }
                (None, Pass::Cuda) => (
                    gpu_alloc::CudaDevice::open(0).expect("open CUDA device 0"),
                    None,
                    ResidencyPolicy::strict(),
                ),
            };
        let mut config = ManagerConfig::new(spec.id.clone(), secret.clone(), writer.clone())
            .allocator(allocator)
            .policy(spec.policy.unwrap_or(default_policy));
        if let Some(max) = spec.max_model_bytes {
            config = config.max_model_bytes(max);
        }
        let manager = VramManager::new(config).expect("build the manager");
        if spec.enforce_policy {
            manager
                .enforce_policy()
                .expect("the device passes the residency policy");
        }
        Worker {
            id: spec.id.clone(),
            secret,
            db,
            host,
            writer: Some(writer),
            manager: Some(manager),
            shards: BTreeMap::new(),
        }
    }

    /// The first worker.
    pub fn worker(&self) -> &Worker {
        self.worker.as_ref().expect("no worker was started")
    }

    /// The first worker, mutably.
    pub fn worker_mut(&mut self) -> &mut Worker {
        self.worker.as_mut().expect("no worker was started")
    }

    /// The first worker's manager.
    pub fn manager(&self) -> &VramManager {
        self.worker().manager()
    }

    /// The simulated device of the first worker.
    pub fn host(&self) -> &Arc<HostDevice> {
        self.worker()
            .host
            .as_ref()
            .expect("this step needs a simulated device (tag the scenario @simulated)")
    }

    /// A shard of the first worker.
    pub fn shard(&self, id: &str) -> &SealedShard {
        self.worker()
            .shards
            .get(id)
            .unwrap_or_else(|| panic!("no sealed shard {id:?}"))
    }

    /// Remembers an error's message and `Debug` form (for the secrets
    /// checks) and returns it.
    pub fn saw(&mut self, error: ResidencyError) -> ResidencyError {
        self.said.push(error.to_string());
        self.said.push(format!("{error:?}"));
        error
    }

    /// Seals `len` deterministic bytes as `id` on the first worker.
    pub fn seal(&mut self, id: &str, len: u64, options: SealOptions) {
        let bytes = model_bytes(usize::try_from(len).unwrap(), id);
        let result = self.manager().seal_with(id, &bytes, options);
        self.last.op = Some(Op::Seal);
        self.last.seal = Some(match result {
            Ok(shard) => {
                self.sealed_digests
                    .insert(id.to_owned(), seal_crypto::sha256(&bytes));
                self.sealed_roots.insert(
                    id.to_owned(),
                    seal_crypto::ChunkTree::from_bytes(&bytes).root(),
                );
                self.worker_mut().shards.insert(id.to_owned(), shard);
                Ok(id.to_owned())
            }
            Err(e) => Err(self.saw(e)),
        });
    }

    /// The last seal's error.
    pub fn seal_error(&self) -> &ResidencyError {
        match &self.last.seal {
            Some(Err(e)) => e,
            Some(Ok(id)) => panic!("the seal of {id:?} succeeded"),
            None => panic!("nothing was sealed"),
        }
    }

    /// The error of the last operation (seal, verification or policy check).
    pub fn last_error(&self) -> &ResidencyError {
        match self.last.op {
            Some(Op::Seal) => self.seal_error(),
            Some(Op::Verify) => self.verify_error(),
            Some(Op::Policy) => match &self.last.policy {
                Some(Err(e)) => e,
                _ => panic!("the policy check passed"),
            },
            None => panic!("nothing was done yet"),
        }
    }

    /// Verifies a shard of the first worker in `mode`.
    pub fn verify(&mut self, id: &str, mode: &vram_residency::VerifyMode) {
        let result = self.manager().verify_with(self.shard(id), mode);
        self.last.op = Some(Op::Verify);
        self.last.verify = Some(result.map_err(|e| self.saw(e)));
    }

    /// Checks the residency policy of the first worker.
    pub fn check_policy(&mut self) {
        let result = self.manager().enforce_policy();
        self.last.op = Some(Op::Policy);
        self.last.policy = Some(result.map_err(|e| self.saw(e)));
    }

    /// The last verification's error.
    pub fn verify_error(&self) -> &ResidencyError {
        match &self.last.verify {
            Some(Err(e)) => e,
            Some(Ok(r)) => panic!("the verification passed: {r:?}"),
            None => panic!("nothing was verified"),
        }
    }

    /// Makes every event so far durable (when the writer is running).
    pub fn flush(&self) {
        if let Some(worker) = &self.worker
            && let Some(manager) = &worker.manager
        {
            manager.flush_audit().expect("flush the audit log");
        }
    }

    /// Every record of the first worker's audit log, oldest first, as the
    /// database holds it now (no flush).
    pub fn records_now(&self) -> Vec<AuditRecord> {
        let worker = self.worker();
        let log = AuditLog::open_read(&worker.db, &worker.id, &worker.secret)
            .expect("open the audit log for reading");
        log.query(&QueryFilter::default()).expect("query the log")
    }

    /// Every record after a flush.
    pub fn records(&self) -> Vec<AuditRecord> {
        self.flush();
        self.records_now()
    }

    /// The secrets scanner for the first worker's secret.
    pub fn scanner(&self) -> SecretScanner {
        SecretScanner::new(&self.worker().secret, SECRET)
    }
}

/// Parses a size as features write it: `3 MiB`, `256 KiB`, `1 byte`,
/// `5000 bytes`.
pub fn parse_size(text: &str) -> u64 {
    let mut parts = text.split_whitespace();
    let n: u64 = parts
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a size: {text:?}"));
    match parts.next() {
        Some("MiB") => n * MIB,
        Some("KiB") => n << 10,
        Some("byte" | "bytes") => n,
        _ => panic!("not a size: {text:?}"),
    }
}
