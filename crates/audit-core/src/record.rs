//! A stored record, its canonical encoding, and the keyed chain over it.
//!
//! Each record's MAC is HMAC-SHA256, under the audit-chain key derived from
//! the worker secret (`seal_crypto::context::AUDIT_CHAIN`, distinct from the
//! seal key), over a [`CanonicalEncoder`] encoding of *every* field and the
//! previous record's MAC. The first record links to a *genesis* MAC that
//! binds the log to its worker id, so a log copied from another worker (or
//! written under another secret) fails at its first record.

use chrono::{DateTime, Utc};
use seal_crypto::{CanonicalEncoder, SealKey, WorkerSecret, context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{AuditError, Severity};

const RECORD_DOMAIN: &str = "vram-residency/audit-record";
const GENESIS_DOMAIN: &str = "vram-residency/audit-genesis";
const ANCHOR_DOMAIN: &str = "vram-residency/audit-anchor";
const LEAF_DOMAIN: &str = "vram-residency/audit-leaf";
const DROPPED_LEAF_DOMAIN: &str = "vram-residency/audit-leaf-dropped";
const ENCODING_VERSION: u16 = 1;

/// Bytes in a record MAC.
pub const MAC_BYTES: usize = 32;

/// Longest worker id, in bytes.
pub const MAX_WORKER_ID_BYTES: usize = 128;

/// Checks a worker (or service) id: 1 to [`MAX_WORKER_ID_BYTES`] bytes, no
/// control characters.
pub fn validate_worker_id(worker_id: &str) -> Result<(), AuditError> {
    if worker_id.is_empty()
        || worker_id.len() > MAX_WORKER_ID_BYTES
        || worker_id.chars().any(char::is_control)
    {
        return Err(AuditError::InvalidWorkerId {
            reason: format!(
                "use 1 to {MAX_WORKER_ID_BYTES} bytes without control characters (got {} bytes)",
                worker_id.len()
            ),
        });
    }
    Ok(())
}

/// A record as stored: the exact columns the MAC covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawRecord {
    pub seq: u64,
    pub id: Vec<u8>,
    pub ts_ns: i64,
    pub kind: String,
    pub severity: i64,
    pub worker_id: String,
    pub shard_id: Option<String>,
    pub event: String,
    pub prev_mac: Vec<u8>,
    pub mac: Vec<u8>,
    /// A column of the wrong SQLite storage class or size, if any: the row
    /// is not what the log writes, whatever its MAC says.
    pub defect: Option<String>,
}

/// The fields of a record that its MAC and its Merkle leaf cover, borrowed,
/// in their stored form: what a reader that holds a record's columns (the
/// fleet collector) hashes without building an [`AuditRecord`].
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// The record's id, its 16 UUID bytes.
    pub id: &'a [u8],
    /// The time, Unix nanoseconds.
    pub ts_ns: i64,
    /// The event kind.
    pub kind: &'a str,
    /// The severity's rank ([`crate::Severity::rank`]).
    pub severity: i64,
    /// The worker that wrote the log.
    pub worker_id: &'a str,
    /// The shard, if any.
    pub shard_id: Option<&'a str>,
    /// The event's JSON text, exactly as the MAC covers it (`AC-073`).
    pub event: &'a str,
    /// The previous record's MAC.
    pub prev_mac: &'a [u8],
}

impl RecordFields<'_> {
    /// The Merkle leaf hash (`AC-086`) of the record with these fields and
    /// MAC `mac`: the same bytes as [`crate::leaf_hash`] of its export
    /// form. `scratch` holds the encoding between calls. Needs no key.
    pub fn leaf_hash(&self, mac: &[u8], scratch: &mut Vec<u8>) -> tlog::Hash {
        let input = leaf_input(std::mem::take(scratch), self, mac);
        let hash = tlog::leaf_hash(&input);
        *scratch = input;
        hash
    }
}

/// Fields 1 to 10 of `AC-072` under `domain`, then (for a leaf) field 11.
fn encode_record(
    buffer: Vec<u8>,
    domain: &str,
    fields: &RecordFields<'_>,
    mac: Option<&[u8]>,
) -> Vec<u8> {
    let enc = CanonicalEncoder::reusing(buffer, domain, ENCODING_VERSION)
        .field(1, fields.worker_id.as_bytes())
        .u64(2, fields.seq)
        .field(3, fields.id)
        .i64(4, fields.ts_ns)
        .field(5, fields.kind.as_bytes())
        .i64(6, fields.severity);
    let enc = match fields.shard_id {
        Some(shard) => enc.field(7, &[1]).field(8, shard.as_bytes()),
        None => enc.field(7, &[0]).field(8, &[]),
    };
    let enc = enc
        .field(9, fields.event.as_bytes())
        .field(10, fields.prev_mac);
    match mac {
        Some(mac) => enc.field(11, mac).finish(),
        None => enc.finish(),
    }
}

/// The canonical bytes a record's MAC is computed over (`AC-072`), written
/// into `buffer` (reused across records to spare an allocation each).
pub(crate) fn mac_input(buffer: Vec<u8>, fields: &RecordFields<'_>) -> Vec<u8> {
    encode_record(buffer, RECORD_DOMAIN, fields, None)
}

/// The data of a record's Merkle leaf (`AC-086`): the fields of the MAC
/// input under the leaf domain, and the MAC itself as field 11.
pub(crate) fn leaf_input(buffer: Vec<u8>, fields: &RecordFields<'_>, mac: &[u8]) -> Vec<u8> {
    encode_record(buffer, LEAF_DOMAIN, fields, Some(mac))
}

/// The leaf data standing for a record that retention dropped before the
/// log had a Merkle tree (`AC-089`): domain `vram-residency/audit-leaf-dropped`,
/// the worker id and the sequence number.
pub(crate) fn dropped_leaf_input(worker_id: &str, seq: u64) -> Vec<u8> {
    CanonicalEncoder::new(DROPPED_LEAF_DOMAIN, ENCODING_VERSION)
        .field(1, worker_id.as_bytes())
        .u64(2, seq)
        .finish()
}

impl RawRecord {
    pub(crate) fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            seq: self.seq,
            id: &self.id,
            ts_ns: self.ts_ns,
            kind: &self.kind,
            severity: self.severity,
            worker_id: &self.worker_id,
            shard_id: self.shard_id.as_deref(),
            event: &self.event,
            prev_mac: &self.prev_mac,
        }
    }

    pub(crate) fn mac_input(&self, buffer: Vec<u8>) -> Vec<u8> {
        mac_input(buffer, &self.fields())
    }

    /// The record's Merkle leaf hash (`AC-086`), with `scratch` holding the
    /// encoding between calls. Needs no key.
    pub(crate) fn leaf_hash(&self, scratch: &mut Vec<u8>) -> tlog::Hash {
        self.fields().leaf_hash(&self.mac, scratch)
    }
}

/// The audit-chain HMAC key and the operations over it.
#[derive(Clone, Debug)]
pub(crate) struct ChainKey(SealKey);

impl ChainKey {
    pub fn derive(secret: &WorkerSecret) -> Result<Self, AuditError> {
        Ok(Self(SealKey::derive(secret, context::AUDIT_CHAIN)?))
    }

    /// The value the first record's `prev_mac` must equal.
    pub fn genesis(&self, worker_id: &str) -> [u8; MAC_BYTES] {
        self.0.mac(&genesis_input(worker_id))
    }

    pub fn mac(&self, input: &[u8]) -> [u8; MAC_BYTES] {
        self.0.mac(input)
    }

    /// Constant-time check of a stored record's MAC. `scratch` holds the
    /// encoding between calls.
    pub fn verify_record(&self, record: &RawRecord, scratch: &mut Vec<u8>) -> bool {
        let input = record.mac_input(std::mem::take(scratch));
        let ok = self.0.verify_mac(&input, &record.mac).is_ok();
        *scratch = input;
        ok
    }

    /// The MAC that authenticates a retention anchor: "the chain continues
    /// after record `seq`, whose MAC was `mac`". Schema version 1 covers
    /// those two; version 2 also the anchor's `dropped` and `ts_ns`.
    pub fn anchor_mac(
        &self,
        worker_id: &str,
        schema_version: i64,
        anchor: &AnchorFields<'_>,
    ) -> [u8; MAC_BYTES] {
        self.0.mac(&anchor_input(worker_id, schema_version, anchor))
    }

    pub fn verify_anchor(
        &self,
        worker_id: &str,
        schema_version: i64,
        anchor: &AnchorFields<'_>,
        tag: &[u8],
    ) -> bool {
        self.0
            .verify_mac(&anchor_input(worker_id, schema_version, anchor), tag)
            .is_ok()
    }
}

/// The bytes the genesis MAC covers (see [`ChainKey::genesis`]).
pub(crate) fn genesis_input(worker_id: &str) -> Vec<u8> {
    CanonicalEncoder::new(GENESIS_DOMAIN, ENCODING_VERSION)
        .field(1, worker_id.as_bytes())
        .finish()
}

/// The columns of an `anchors` row that its MAC covers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnchorFields<'a> {
    pub seq: u64,
    pub mac: &'a [u8],
    pub dropped: i64,
    pub ts_ns: i64,
}

/// The bytes an anchor MAC covers (see [`ChainKey::anchor_mac`]).
pub(crate) fn anchor_input(
    worker_id: &str,
    schema_version: i64,
    anchor: &AnchorFields<'_>,
) -> Vec<u8> {
    if schema_version <= 1 {
        return CanonicalEncoder::new(ANCHOR_DOMAIN, 1)
            .field(1, worker_id.as_bytes())
            .u64(2, anchor.seq)
            .field(3, anchor.mac)
            .finish();
    }
    CanonicalEncoder::new(ANCHOR_DOMAIN, 2)
        .field(1, worker_id.as_bytes())
        .u64(2, anchor.seq)
        .field(3, anchor.mac)
        .i64(4, anchor.dropped)
        .i64(5, anchor.ts_ns)
        .finish()
}

/// One record of the log, as returned by queries and written by the NDJSON
/// export (one per line). Carrying both MACs, an exported file can be
/// verified again with [`crate::verify_ndjson`].
///
/// `event` is the typed fields; its serialization with `serde_json` is the
/// exact text the MAC covers (the log stores that canonical form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain: 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// Unique id (UUID v7: time-ordered).
    pub id: Uuid,
    /// When the event was created, UTC, nanosecond precision.
    pub timestamp: DateTime<Utc>,
    /// Event kind, for example `VramSealed`.
    pub kind: String,
    /// Severity.
    pub severity: Severity,
    /// The worker (or service) that wrote the log.
    pub worker_id: String,
    /// The shard the event is about, if any.
    pub shard_id: Option<String>,
    /// The event's typed fields.
    pub event: Value,
    /// The previous record's MAC (or the genesis value), lower-case hex.
    pub prev_mac: String,
    /// This record's MAC, lower-case hex.
    pub mac: String,
}

/// A stored record that cannot be what the log wrote.
fn corrupt(raw: &RawRecord, detail: String) -> AuditError {
    AuditError::Corrupt {
        seq: raw.seq,
        detail,
    }
}

impl AuditRecord {
    /// The stored fields that must parse: the severity and the id; `Corrupt`
    /// naming the record otherwise.
    fn checked_fields(raw: &RawRecord) -> Result<(Severity, Uuid), AuditError> {
        let severity = Severity::from_rank(raw.severity)
            .ok_or_else(|| corrupt(raw, format!("unknown severity rank {}", raw.severity)))?;
        let id =
            Uuid::from_slice(&raw.id).map_err(|_| corrupt(raw, "id is not 16 bytes".into()))?;
        Ok((severity, id))
    }

    pub(crate) fn from_raw(raw: RawRecord) -> Result<Self, AuditError> {
        let (severity, id) = Self::checked_fields(&raw)?;
        let event = serde_json::from_str(&raw.event)
            .map_err(|e| corrupt(&raw, format!("event is not JSON: {e}")))?;
        Ok(Self {
            seq: raw.seq,
            id,
            timestamp: DateTime::from_timestamp_nanos(raw.ts_ns),
            kind: raw.kind,
            severity,
            worker_id: raw.worker_id,
            shard_id: raw.shard_id,
            event,
            prev_mac: to_hex(&raw.prev_mac),
            mac: to_hex(&raw.mac),
        })
    }

    /// Appends this stored record's export form to `out`, one JSON object
    /// and `\n`: the bytes `serde_json::to_writer` writes for the
    /// [`AuditRecord`] [`Self::from_raw`] gives, without building it. The
    /// event's text goes out as stored (the canonical form the MAC and the
    /// leaf cover, `AC-073`), after a check that it is JSON, rather than
    /// parsed into a tree and written again; the MACs through
    /// [`crate::hex`]. Refuses what `from_raw` refuses.
    pub(crate) fn write_export(raw: &RawRecord, out: &mut Vec<u8>) -> Result<(), AuditError> {
        let (severity, id) = Self::checked_fields(raw)?;
        serde_json::from_str::<serde::de::IgnoredAny>(&raw.event)
            .map_err(|e| corrupt(raw, format!("event is not JSON: {e}")))?;
        let timestamp: DateTime<Utc> = DateTime::from_timestamp_nanos(raw.ts_ns);
        let json = |e: serde_json::Error| corrupt(raw, format!("cannot be written as JSON: {e}"));
        out.extend_from_slice(b"{\"seq\":");
        serde_json::to_writer(&mut *out, &raw.seq).map_err(json)?;
        out.extend_from_slice(b",\"id\":");
        serde_json::to_writer(&mut *out, &id).map_err(json)?;
        out.extend_from_slice(b",\"timestamp\":");
        serde_json::to_writer(&mut *out, &timestamp).map_err(json)?;
        out.extend_from_slice(b",\"kind\":");
        serde_json::to_writer(&mut *out, &raw.kind).map_err(json)?;
        out.extend_from_slice(b",\"severity\":");
        serde_json::to_writer(&mut *out, &severity).map_err(json)?;
        out.extend_from_slice(b",\"worker_id\":");
        serde_json::to_writer(&mut *out, &raw.worker_id).map_err(json)?;
        out.extend_from_slice(b",\"shard_id\":");
        serde_json::to_writer(&mut *out, &raw.shard_id).map_err(json)?;
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(raw.event.as_bytes());
        let mut hex = String::with_capacity(2 * MAC_BYTES);
        for (name, mac) in [
            (&b",\"prev_mac\":\""[..], &raw.prev_mac),
            (b"\",\"mac\":\"", &raw.mac),
        ] {
            out.extend_from_slice(name);
            hex.clear();
            crate::hex::encode_into(mac, &mut hex);
            out.extend_from_slice(hex.as_bytes());
        }
        out.extend_from_slice(b"\"}\n");
        Ok(())
    }

    /// Back to the stored form, for verification. `None` when a field
    /// cannot be what the log wrote (bad hex, out-of-range time).
    pub(crate) fn to_raw(&self) -> Option<RawRecord> {
        Some(RawRecord {
            seq: self.seq,
            id: self.id.as_bytes().to_vec(),
            ts_ns: self.timestamp.timestamp_nanos_opt()?,
            kind: self.kind.clone(),
            severity: self.severity.rank(),
            worker_id: self.worker_id.clone(),
            shard_id: self.shard_id.clone(),
            event: serde_json::to_string(&self.event).ok()?,
            prev_mac: from_hex(&self.prev_mac)?,
            mac: from_hex(&self.mac)?,
            defect: None,
        })
    }
}

/// Whether `c` must not reach a terminal raw: C0 (ESC, CR, LF, TAB...),
/// DEL and C1 (CSI is U+009B), the bidirectional marks, overrides and
/// isolates, zero-width characters and the line/paragraph separators.
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Text from a file, safe to show on a terminal: every character of
/// [`is_terminal_control`] shown as an escape (`\t`, `\n`, `\r`, else
/// `\u{..}` in hex), everything else as it is. Escaping twice changes
/// nothing, so a message that names a value can be escaped again whole.
///
/// ```
/// assert_eq!(audit_core::escape_controls("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
/// assert_eq!(audit_core::escape_controls("Grüße 模型"), "Grüße 模型");
/// ```
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !text.chars().any(is_terminal_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if is_terminal_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`escape_controls`] in double quotes, for naming a value in a message.
pub(crate) fn to_display(text: &str) -> String {
    format!("\"{}\"", escape_controls(text))
}

/// Lower-case hex of bytes.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    crate::hex::encode(bytes)
}

/// Bytes of hex text (either case); `None` if it is not hex.
pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    crate::hex::decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::derive(&WorkerSecret::new(&[3; 32]).unwrap()).unwrap()
    }

    fn raw() -> RawRecord {
        RawRecord {
            seq: 1,
            id: vec![7; 16],
            ts_ns: 5,
            kind: "K".into(),
            severity: 1,
            worker_id: "w".into(),
            shard_id: None,
            event: "{}".into(),
            prev_mac: vec![0; 32],
            mac: vec![],
            defect: None,
        }
    }

    #[test]
    fn ac_010_every_field_is_covered_by_the_mac() {
        let k = key();
        let mut r = raw();
        let mut scratch = Vec::new();
        r.mac = k.mac(&r.mac_input(Vec::new())).to_vec();
        assert!(k.verify_record(&r, &mut scratch));
        type Edit = Box<dyn Fn(&mut RawRecord)>;
        let edits: Vec<Edit> = vec![
            Box::new(|r| r.seq = 2),
            Box::new(|r| r.id[0] ^= 1),
            Box::new(|r| r.ts_ns += 1),
            Box::new(|r| r.kind.push('x')),
            Box::new(|r| r.severity = 2),
            Box::new(|r| r.worker_id.push('x')),
            Box::new(|r| r.shard_id = Some(String::new())),
            Box::new(|r| r.event = "{ }".into()),
            Box::new(|r| r.prev_mac[31] ^= 1),
            Box::new(|r| r.mac[0] ^= 1),
        ];
        for edit in edits {
            let mut e = r.clone();
            edit(&mut e);
            assert!(!k.verify_record(&e, &mut scratch), "{e:?}");
        }
    }

    #[test]
    fn ac_011_genesis_binds_worker_and_key() {
        let k = key();
        assert_ne!(k.genesis("a"), k.genesis("b"));
        let other = ChainKey::derive(&WorkerSecret::new(&[4; 32]).unwrap()).unwrap();
        assert_ne!(k.genesis("a"), other.genesis("a"));
        // The audit key is not the seal key.
        let secret = WorkerSecret::new(&[3; 32]).unwrap();
        let seal = SealKey::derive(&secret, context::SEAL).unwrap();
        assert_ne!(seal.mac(b"m"), k.mac(b"m"));
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(to_hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("+1"), None);
    }

    /// Terminal controls: C0, DEL, C1, bidi marks and overrides, isolates,
    /// zero-width characters, separators and the BOM; not printable text.
    #[test]
    fn terminal_controls_are_recognised_and_escaped() {
        for c in [
            '\u{0}', '\u{1b}', '\n', '\u{7f}', '\u{9b}', '\u{61c}', '\u{200b}', '\u{200f}',
            '\u{2028}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{feff}',
        ] {
            assert!(is_terminal_control(c), "{:x}", u32::from(c));
        }
        for c in [
            'a', ' ', 'ü', '模', '\u{2010}', '\u{202f}', '\u{2065}', '\u{206a}',
        ] {
            assert!(!is_terminal_control(c), "{:x}", u32::from(c));
        }
        assert!(matches!(
            escape_controls("plain ü"),
            std::borrow::Cow::Borrowed("plain ü")
        ));
        assert_eq!(
            escape_controls("a\tb\nc\rd\u{1b}e\u{202e}f"),
            "a\\tb\\nc\\rd\\u{1b}e\\u{202e}f"
        );
        let once = escape_controls("x\u{200b}y").into_owned();
        assert_eq!(once, "x\\u{200b}y");
        assert_eq!(escape_controls(&once), once);
    }

    #[test]
    fn worker_ids_are_validated() {
        assert!(validate_worker_id("worker-1").is_ok());
        assert!(validate_worker_id("").is_err());
        assert!(validate_worker_id("a\u{0}").is_err());
        assert!(validate_worker_id(&"w".repeat(129)).is_err());
        assert!(validate_worker_id(&"w".repeat(MAX_WORKER_ID_BYTES)).is_ok());
    }
}
