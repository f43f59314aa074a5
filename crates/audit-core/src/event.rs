//! Typed audit events: what happened, how serious it is, and its fields.
//!
//! The set of kinds is open. The brief's VRAM events have typed constructors
//! ([`AuditEvent::vram_sealed`] and friends), the writer adds its own
//! [`kinds::AUDIT_GAP`] and [`kinds::AUDIT_RETENTION`] records, and any team
//! can add kinds with [`AuditEvent::custom`], which validates the name and
//! refuses the built-in ones so nobody can forge, say, a `SealVerified`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use seal_crypto::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AuditError;

/// The names of the built-in event kinds.
pub mod kinds {
    /// A shard was loaded into VRAM and sealed.
    pub const VRAM_SEALED: &str = "VramSealed";
    /// A shard's seal (and contents) checked out.
    pub const SEAL_VERIFIED: &str = "SealVerified";
    /// A shard failed its seal or content check: a security incident.
    pub const SEAL_VERIFICATION_FAILED: &str = "SealVerificationFailed";
    /// VRAM was allocated.
    pub const VRAM_ALLOCATED: &str = "VramAllocated";
    /// A VRAM allocation was refused.
    pub const VRAM_ALLOCATION_FAILED: &str = "VramAllocationFailed";
    /// VRAM was freed.
    pub const VRAM_DEALLOCATED: &str = "VramDeallocated";
    /// A residency or security policy was violated.
    pub const POLICY_VIOLATION: &str = "PolicyViolation";
    /// The writer could not write some events (queue full, disk error);
    /// the payload's `lost` field counts them.
    pub const AUDIT_GAP: &str = "AuditGap";
    /// Retention dropped the oldest records.
    pub const AUDIT_RETENTION: &str = "AuditRetention";
    /// A witness refused the log's checkpoint (tlog-witness 403, 404 or
    /// 422), or answered with a cosignature that does not verify: the log
    /// it saw under this origin is not this one, or the keys differ.
    pub const WITNESS_ALARM: &str = "WitnessAlarm";

    /// Every built-in kind; [`super::AuditEvent::custom`] refuses these.
    pub const BUILT_IN: [&str; 10] = [
        VRAM_SEALED,
        SEAL_VERIFIED,
        SEAL_VERIFICATION_FAILED,
        VRAM_ALLOCATED,
        VRAM_ALLOCATION_FAILED,
        VRAM_DEALLOCATED,
        POLICY_VIOLATION,
        AUDIT_GAP,
        AUDIT_RETENTION,
        WITNESS_ALARM,
    ];
}

/// Longest event kind name, in bytes.
pub const MAX_KIND_BYTES: usize = 64;
/// Longest shard id accepted by [`AuditEvent::custom`], in bytes.
pub const MAX_SHARD_ID_BYTES: usize = 256;
/// Largest custom payload, serialized, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// How serious an event is. Ordered: `Low < Medium < High < Critical`.
///
/// Critical events are written without waiting for a batch to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine, informational.
    Low,
    /// Normal resource events (allocation, free).
    Medium,
    /// Security-relevant success or an audit-trail anomaly.
    High,
    /// A security incident or a step that must never be lost.
    Critical,
}

impl Severity {
    /// The stored rank: 0 (low) to 3 (critical).
    pub const fn rank(self) -> i64 {
        match self {
            Self::Low => 0,
            Self::Medium => 1,
            Self::High => 2,
            Self::Critical => 3,
        }
    }

    /// The severity of a stored rank, if it is one.
    pub const fn from_rank(rank: i64) -> Option<Self> {
        match rank {
            0 => Some(Self::Low),
            1 => Some(Self::Medium),
            2 => Some(Self::High),
            3 => Some(Self::Critical),
            _ => None,
        }
    }

    /// Lower-case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = AuditError;

    /// Parses `low`, `medium`, `high` or `critical` (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(AuditError::InvalidEvent {
                reason: format!("unknown severity {text:?}; use low, medium, high or critical"),
            }),
        }
    }
}

/// One audit event, before it is written: kind, severity, optional shard id,
/// the typed fields as a JSON object, and the time it was created.
///
/// The log adds the sequence number, id, worker id and MACs when it writes
/// the event (see [`crate::AuditRecord`]). No constructor takes key
/// material, device pointers or model bytes, and none should be put in a
/// custom payload.
///
/// ```
/// use audit_core::{AuditEvent, Severity};
/// let digest = seal_crypto::sha256(b"weights");
/// let sealed = AuditEvent::vram_sealed("llama:0", 0, 1 << 30, &digest);
/// assert_eq!(sealed.kind(), "VramSealed");
/// assert_eq!(sealed.severity(), Severity::Critical);
/// assert_eq!(sealed.payload()["digest"], digest.to_hex());
///
/// let mine = AuditEvent::custom("BackupTaken", Severity::Low, None, serde_json::json!({"bytes": 7}))?;
/// assert_eq!(mine.kind(), "BackupTaken");
/// assert!(AuditEvent::custom("SealVerified", Severity::High, None, serde_json::json!({})).is_err());
/// # Ok::<(), audit_core::AuditError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    kind: String,
    severity: Severity,
    shard_id: Option<String>,
    payload: Value,
    timestamp: DateTime<Utc>,
}

/// Where a sealed shard's memory is, for [`AuditEvent::with_residency`]:
/// what the driver reports for the buffer's own address, and the identity
/// and host-memory access of the GPU that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealResidency<'a> {
    /// The kind of memory (`device`, `host`, `unified`, `simulated`, ...).
    pub memory: &'a str,
    /// The memory is managed (may migrate).
    pub managed: bool,
    /// The CUDA ordinal of the device the memory belongs to.
    pub device_ordinal: u32,
    /// The GPU's UUID, which names the physical GPU whatever
    /// `CUDA_VISIBLE_DEVICES` makes its ordinal; `None` when simulated.
    pub gpu_uuid: Option<&'a str>,
    /// The GPU's PCI bus id; `None` when simulated.
    pub pci_bus_id: Option<&'a str>,
    /// The GPU can access pageable host memory (HMM or ATS).
    pub pageable_memory_access: bool,
    /// ... through the host's page tables (ATS).
    pub uses_host_page_tables: bool,
}

impl AuditEvent {
    fn built_in(kind: &str, severity: Severity, shard_id: Option<&str>, payload: Value) -> Self {
        Self {
            kind: kind.to_owned(),
            severity,
            shard_id: shard_id.map(str::to_owned),
            payload,
            timestamp: Utc::now(),
        }
    }

    /// A shard was loaded into VRAM and sealed (critical).
    pub fn vram_sealed(shard_id: &str, device: u32, bytes: u64, digest: &Digest) -> Self {
        Self::built_in(
            kinds::VRAM_SEALED,
            Severity::Critical,
            Some(shard_id),
            json!({"shard_id": shard_id, "device": device, "bytes": bytes, "digest": digest.to_hex()}),
        )
    }

    /// The same `VramSealed` event, also saying where the shard's memory is
    /// and which physical GPU holds it (`residency`; AC-110). Other kinds
    /// are returned unchanged.
    #[must_use]
    pub fn with_residency(mut self, residency: &SealResidency<'_>) -> Self {
        if self.kind == kinds::VRAM_SEALED
            && let Value::Object(fields) = &mut self.payload
        {
            fields.insert(
                "residency".to_owned(),
                json!({
                    "memory": residency.memory,
                    "managed": residency.managed,
                    "device_ordinal": residency.device_ordinal,
                    "gpu_uuid": residency.gpu_uuid,
                    "pci_bus_id": residency.pci_bus_id,
                    "pageable_memory_access": residency.pageable_memory_access,
                    "uses_host_page_tables": residency.uses_host_page_tables,
                }),
            );
        }
        self
    }

    /// A shard's seal checked out (high).
    pub fn seal_verified(shard_id: &str, device: u32) -> Self {
        Self::built_in(
            kinds::SEAL_VERIFIED,
            Severity::High,
            Some(shard_id),
            json!({"shard_id": shard_id, "device": device}),
        )
    }

    /// A shard failed verification (critical). `expected` is the sealed
    /// chunked root; `actual` the root the device's leaves combine to, or
    /// `None` where not every leaf was computed (a seal or sampled check).
    pub fn seal_verification_failed(
        shard_id: &str,
        reason: &str,
        expected: &Digest,
        actual: Option<&Digest>,
        device: u32,
    ) -> Self {
        Self::built_in(
            kinds::SEAL_VERIFICATION_FAILED,
            Severity::Critical,
            Some(shard_id),
            json!({
                "shard_id": shard_id,
                "reason": reason,
                "expected_chunk_root": expected.to_hex(),
                "actual_chunk_root": actual.map(Digest::to_hex),
                "device": device,
            }),
        )
    }

    /// VRAM was allocated for shard `shard_id` (medium). The event is
    /// about that shard, so a query by shard id finds it.
    pub fn vram_allocated(
        shard_id: &str,
        requested: u64,
        allocated: u64,
        available_before: u64,
        used_after: u64,
        device: u32,
    ) -> Self {
        Self::built_in(
            kinds::VRAM_ALLOCATED,
            Severity::Medium,
            Some(shard_id),
            json!({
                "shard_id": shard_id,
                "requested": requested,
                "allocated": allocated,
                "available_before": available_before,
                "used_after": used_after,
                "device": device,
            }),
        )
    }

    /// A VRAM allocation was refused (medium).
    pub fn vram_allocation_failed(
        requested: u64,
        available: u64,
        reason: &str,
        device: u32,
    ) -> Self {
        Self::built_in(
            kinds::VRAM_ALLOCATION_FAILED,
            Severity::Medium,
            None,
            json!({"requested": requested, "available": available, "reason": reason, "device": device}),
        )
    }

    /// A shard's VRAM was freed (medium).
    pub fn vram_deallocated(shard_id: &str, freed: u64, still_used: u64, device: u32) -> Self {
        Self::built_in(
            kinds::VRAM_DEALLOCATED,
            Severity::Medium,
            Some(shard_id),
            json!({"shard_id": shard_id, "freed": freed, "still_used": still_used, "device": device}),
        )
    }

    /// A policy was violated (critical).
    pub fn policy_violation(policy: &str, violation: &str, details: &str, action: &str) -> Self {
        Self::built_in(
            kinds::POLICY_VIOLATION,
            Severity::Critical,
            None,
            json!({"policy": policy, "violation": violation, "details": details, "action_taken": action}),
        )
    }

    /// The writer lost `lost` events (high): written as soon as it can write
    /// again, so a loss is never silent.
    pub fn audit_gap(lost: u64, cause: &str) -> Self {
        Self::built_in(
            kinds::AUDIT_GAP,
            Severity::High,
            None,
            json!({"lost": lost, "cause": cause}),
        )
    }

    pub(crate) fn audit_retention(dropped_through: u64, dropped: u64, rule: &str) -> Self {
        Self::built_in(
            kinds::AUDIT_RETENTION,
            Severity::High,
            None,
            json!({"dropped_through_seq": dropped_through, "dropped_records": dropped, "rule": rule}),
        )
    }

    /// A witness raised an alarm about this log (critical): it refused the
    /// checkpoint of `checkpoint_size` records sent with `old old_size`
    /// (tlog-witness status 403, 404 or 422), or answered 200 with a
    /// cosignature that does not verify. `witness` is its vkey, `url` the
    /// address it was asked at, `reason` what it said or what was wrong.
    pub fn witness_alarm(
        witness: &str,
        url: &str,
        status: u16,
        reason: &str,
        checkpoint_size: u64,
        old_size: u64,
    ) -> Self {
        Self::built_in(
            kinds::WITNESS_ALARM,
            Severity::Critical,
            None,
            json!({
                "witness": witness,
                "url": url,
                "status": status,
                "reason": reason,
                "checkpoint_size": checkpoint_size,
                "old_size": old_size,
            }),
        )
    }

    /// A user-defined event.
    ///
    /// `kind` must start with an ASCII letter, contain only ASCII letters,
    /// digits, `_`, `.` and `-`, be at most [`MAX_KIND_BYTES`] long, and not be
    /// one of [`kinds::BUILT_IN`]. `shard_id`, if any, must be 1 to
    /// [`MAX_SHARD_ID_BYTES`] bytes without control characters. `payload` must
    /// be a JSON object of at most [`MAX_PAYLOAD_BYTES`] serialized.
    pub fn custom(
        kind: &str,
        severity: Severity,
        shard_id: Option<&str>,
        payload: Value,
    ) -> Result<Self, AuditError> {
        validate_kind(kind)?;
        if kinds::BUILT_IN.contains(&kind) {
            return Err(AuditError::InvalidEvent {
                reason: format!(
                    "kind {kind:?} is built in; use its typed constructor or choose another name"
                ),
            });
        }
        if let Some(shard) = shard_id {
            validate_shard_id(shard)?;
        }
        if !payload.is_object() {
            return Err(AuditError::InvalidEvent {
                reason: "payload must be a JSON object of named fields".to_owned(),
            });
        }
        let size = serde_json::to_vec(&payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PAYLOAD_BYTES {
            return Err(AuditError::InvalidEvent {
                reason: format!(
                    "payload is {size} bytes serialized; at most {MAX_PAYLOAD_BYTES} are allowed"
                ),
            });
        }
        Ok(Self::built_in(kind, severity, shard_id, payload))
    }

    /// Replaces the creation time (for imports and tests).
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The event kind, for example `"VramSealed"`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// How serious the event is.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The shard the event is about, if any.
    pub fn shard_id(&self) -> Option<&str> {
        self.shard_id.as_deref()
    }

    /// The typed fields, as a JSON object.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// When the event was created (UTC).
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

fn validate_kind(kind: &str) -> Result<(), AuditError> {
    let mut chars = kind.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || kind.len() > MAX_KIND_BYTES {
        return Err(AuditError::InvalidEvent {
            reason: format!(
                "kind {kind:?} is not allowed; use 1 to {MAX_KIND_BYTES} ASCII letters, digits, '_', '.' or '-', starting with a letter"
            ),
        });
    }
    Ok(())
}

fn validate_shard_id(shard: &str) -> Result<(), AuditError> {
    if shard.is_empty() || shard.len() > MAX_SHARD_ID_BYTES || shard.chars().any(char::is_control) {
        return Err(AuditError::InvalidEvent {
            reason: format!(
                "shard id must be 1 to {MAX_SHARD_ID_BYTES} bytes without control characters"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ac_001_severity_is_ordered_and_round_trips() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        for s in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(Severity::from_rank(s.rank()), Some(s));
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("urgent".parse::<Severity>().is_err());
        assert_eq!(Severity::from_rank(4), None);
    }

    /// AC-110: `residency` is added to `VramSealed` only, with every field.
    #[test]
    fn ac_110_residency_is_added_to_vram_sealed_only() {
        let d = seal_crypto::sha256(b"x");
        let residency = SealResidency {
            memory: "device",
            managed: false,
            device_ordinal: 1,
            gpu_uuid: Some("GPU-00112233-4455-6677-8899-aabbccddeeff"),
            pci_bus_id: Some("0000:65:00.0"),
            pageable_memory_access: true,
            uses_host_page_tables: false,
        };
        let e = AuditEvent::vram_sealed("s", 1, 7, &d).with_residency(&residency);
        assert_eq!(
            e.payload()["residency"],
            json!({
                "memory": "device",
                "managed": false,
                "device_ordinal": 1,
                "gpu_uuid": "GPU-00112233-4455-6677-8899-aabbccddeeff",
                "pci_bus_id": "0000:65:00.0",
                "pageable_memory_access": true,
                "uses_host_page_tables": false,
            })
        );
        assert_eq!(e.payload()["digest"], d.to_hex());
        let other = AuditEvent::seal_verified("s", 1);
        assert_eq!(other.clone().with_residency(&residency), other);
    }

    #[test]
    fn ac_002_typed_constructors_carry_the_brief_fields() {
        let d = seal_crypto::sha256(b"x");
        let e = AuditEvent::seal_verification_failed("s", "digest mismatch", &d, None, 3);
        assert_eq!(e.severity(), Severity::Critical);
        assert_eq!(e.payload()["actual_chunk_root"], Value::Null);
        assert_eq!(e.payload()["expected_chunk_root"], d.to_hex());
        assert_eq!(e.shard_id(), Some("s"));
        let a = AuditEvent::vram_allocated("s", 10, 16, 100, 16, 1);
        assert_eq!(a.severity(), Severity::Medium);
        assert_eq!(a.payload()["available_before"], 100);
        assert_eq!(a.shard_id(), Some("s"));
        assert_eq!(a.payload()["shard_id"], "s");
        let p = AuditEvent::policy_violation("vram-only", "managed memory", "uvm on", "refused");
        assert_eq!(p.payload()["action_taken"], "refused");
        assert_eq!(AuditEvent::seal_verified("s", 0).severity(), Severity::High);
        assert_eq!(
            AuditEvent::vram_deallocated("s", 1, 2, 0).kind(),
            kinds::VRAM_DEALLOCATED
        );
        assert_eq!(
            AuditEvent::vram_allocation_failed(1, 0, "full", 0).payload()["available"],
            0
        );
    }

    /// AC-WIT-001: the witness alarm is a built-in, critical kind with its
    /// fields, and nobody can write one through `custom`.
    #[test]
    fn ac_wit_001_witness_alarm_event() {
        let e = AuditEvent::witness_alarm("w+0badf00d+BA==", "http://w/", 422, "proof", 12, 10);
        assert_eq!(e.kind(), kinds::WITNESS_ALARM);
        assert_eq!(e.kind(), "WitnessAlarm");
        assert_eq!(e.severity(), Severity::Critical);
        assert_eq!(e.shard_id(), None);
        assert_eq!(
            e.payload(),
            &json!({"witness": "w+0badf00d+BA==", "url": "http://w/", "status": 422,
                    "reason": "proof", "checkpoint_size": 12, "old_size": 10})
        );
        assert!(kinds::BUILT_IN.contains(&"WitnessAlarm"));
        assert!(AuditEvent::custom("WitnessAlarm", Severity::Critical, None, json!({})).is_err());
    }

    #[test]
    fn ac_003_custom_kinds_are_validated() {
        let ok = |k: &str| AuditEvent::custom(k, Severity::Low, None, json!({})).is_ok();
        assert!(ok("Backup.Taken-v2_x"));
        assert!(!ok(""));
        assert!(!ok("1abc"));
        assert!(!ok("a b"));
        assert!(!ok("a/b"));
        assert!(!ok(&"a".repeat(65)));
        assert!(!ok("AuditGap"));
        assert!(!ok("WitnessAlarm"));
        assert!(AuditEvent::custom("K", Severity::Low, Some("a\nb"), json!({})).is_err());
        assert!(AuditEvent::custom("K", Severity::Low, Some(""), json!({})).is_err());
        assert!(AuditEvent::custom("K", Severity::Low, None, json!([1])).is_err());
        let big = "x".repeat(MAX_PAYLOAD_BYTES);
        assert!(AuditEvent::custom("K", Severity::Low, None, json!({ "b": big })).is_err());
        // Each limit exactly is allowed, one byte more is not. `{"b":"…"}`
        // serializes to 8 bytes around the string.
        assert_eq!(MAX_PAYLOAD_BYTES, 65_536);
        let payload = |n: usize| json!({ "b": "x".repeat(n) });
        assert!(
            AuditEvent::custom("K", Severity::Low, None, payload(MAX_PAYLOAD_BYTES - 8)).is_ok()
        );
        assert!(
            AuditEvent::custom("K", Severity::Low, None, payload(MAX_PAYLOAD_BYTES - 7)).is_err()
        );
        assert!(ok(&"a".repeat(MAX_KIND_BYTES)));
        let shard =
            |n: usize| AuditEvent::custom("K", Severity::Low, Some(&"s".repeat(n)), json!({}));
        assert!(shard(MAX_SHARD_ID_BYTES).is_ok());
        assert!(shard(MAX_SHARD_ID_BYTES + 1).is_err());
        assert!(shard(1).is_ok());
    }
}
