//! Retention: the one sanctioned deletion.
//!
//! Old records are dropped only as a whole range from the start of the log,
//! never from the middle, and never the newest record. In the same
//! transaction the log writes an *anchor* (the last dropped sequence number,
//! its MAC, and an HMAC over both under the audit key) and appends an
//! `AuditRetention` record saying what was dropped. Verification then starts
//! from the anchor instead of genesis, so the remaining chain still verifies,
//! and nobody without the key can forge an anchor to hide a deletion. The
//! delete trigger allows deleting only records at or below an anchor.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::log::append_in;
use crate::record::AnchorFields;
use crate::verify::record_mac;
use crate::{AuditError, AuditEvent, AuditLog};

/// What to keep. Every limit that is set applies; the strictest wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Drop records older than this (from the start, up to the first newer one).
    pub max_age: Option<Duration>,
    /// Keep at most this many records.
    pub max_records: Option<u64>,
    /// Keep at most about this many bytes of record data.
    pub max_bytes: Option<u64>,
}

impl RetentionPolicy {
    /// Drop records older than `days` days.
    pub fn max_age_days(days: u64) -> Self {
        Self {
            max_age: Some(Duration::from_secs(days.saturating_mul(86_400))),
            ..Self::default()
        }
    }

    /// Keep at most `n` records.
    #[must_use]
    pub fn with_max_records(mut self, n: u64) -> Self {
        self.max_records = Some(n);
        self
    }

    /// Keep at most about `bytes` of record data.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
}

/// What a retention run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Records deleted.
    pub dropped: u64,
    /// The anchor written (the last dropped sequence number), if any.
    pub anchor_seq: Option<u64>,
    /// Sequence number of the `AuditRetention` record, if one was written.
    pub retention_record_seq: Option<u64>,
}

/// Bytes a record is counted as for `max_bytes`: its text fields plus a
/// fixed overhead for ids, numbers and MACs.
const RECORD_SIZE_SQL: &str = "length(event) + length(kind) + length(worker_id) + \
    coalesce(length(shard_id), 0) + 120";

impl AuditLog {
    /// Applies `policy` now.
    pub fn apply_retention(
        &mut self,
        policy: &RetentionPolicy,
    ) -> Result<RetentionReport, AuditError> {
        self.apply_retention_at(policy, Utc::now())
    }

    /// Applies `policy` as if the time were `now`.
    pub fn apply_retention_at(
        &mut self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, AuditError> {
        let _span = tracing::info_span!("audit_retention", worker_id = %self.worker_id).entered();
        let op = AuditError::storage;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(op("starting retention"))?;
        let bounds: Option<(i64, i64)> = tx
            .query_row("SELECT MIN(seq), MAX(seq) FROM records", [], |row| {
                Ok(row
                    .get::<_, Option<i64>>(0)?
                    .zip(row.get::<_, Option<i64>>(1)?))
            })
            .map_err(op("reading the log bounds"))?;
        let Some((first, last)) = bounds else {
            return Ok(RetentionReport::default());
        };
        let mut cut = first - 1;
        let mut rule = Vec::new();
        if let Some(age) = policy.max_age {
            let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
            let cutoff = now
                .checked_sub_signed(age)
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(i64::MIN);
            let first_new: Option<i64> = tx
                .query_row(
                    "SELECT MIN(seq) FROM records WHERE ts_ns >= ?1",
                    [cutoff],
                    |row| row.get(0),
                )
                .map_err(op("finding old records"))?;
            let by_age = first_new.map_or(last, |s| s - 1);
            if by_age > cut {
                cut = by_age;
                rule.push("max_age");
            }
        }
        if let Some(max) = policy.max_records {
            let by_count = last.saturating_sub(i64::try_from(max).unwrap_or(i64::MAX));
            if by_count > cut {
                cut = by_count;
                rule.push("max_records");
            }
        }
        if let Some(max) = policy.max_bytes {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT seq, {RECORD_SIZE_SQL} FROM records ORDER BY seq DESC"
                ))
                .map_err(op("sizing records"))?;
            let mut rows = stmt.query([]).map_err(op("sizing records"))?;
            let mut total: u64 = 0;
            let mut by_bytes = first - 1;
            while let Some(row) = rows.next().map_err(op("sizing records"))? {
                let seq: i64 = row.get(0).map_err(op("sizing records"))?;
                let size: i64 = row.get(1).map_err(op("sizing records"))?;
                total = total.saturating_add(u64::try_from(size).unwrap_or(0));
                if total > max {
                    by_bytes = seq;
                    break;
                }
            }
            if by_bytes > cut {
                cut = by_bytes;
                rule.push("max_bytes");
            }
        }
        // Never drop the newest record: the chain resumes from it.
        cut = cut.min(last - 1);
        if cut < first {
            return Ok(RetentionReport::default());
        }
        let cut_seq = u64::try_from(cut).unwrap_or(0);
        let mac = record_mac(&tx, cut_seq)?.ok_or(AuditError::Corrupt {
            seq: cut_seq,
            detail: "record vanished during retention".to_owned(),
        })?;
        let existing: Option<i64> = tx
            .query_row("SELECT seq FROM anchors WHERE seq = ?1", [cut], |row| {
                row.get(0)
            })
            .optional()
            .map_err(op("reading anchors"))?;
        if existing.is_none() {
            let fields = AnchorFields {
                seq: cut_seq,
                mac: &mac,
                dropped: cut - first + 1,
                ts_ns: now.timestamp_nanos_opt().unwrap_or(0),
            };
            let anchor_mac = self
                .key
                .anchor_mac(&self.worker_id, self.schema_version, &fields);
            tx.execute(
                "INSERT INTO anchors (seq, mac, dropped, ts_ns, anchor_mac) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    cut,
                    mac,
                    fields.dropped,
                    fields.ts_ns,
                    anchor_mac.as_slice()
                ],
            )
            .map_err(op("writing the retention anchor"))?;
        }
        let dropped = tx
            .execute("DELETE FROM records WHERE seq <= ?1", [cut])
            .map_err(op("deleting old records"))? as u64;
        let event = AuditEvent::audit_retention(cut_seq, dropped, &rule.join(","));
        let appended = append_in(
            &tx,
            &self.worker_id,
            &self.key,
            std::slice::from_ref(&event),
        )?;
        tx.commit().map_err(op("committing retention"))?;
        tracing::info!(dropped, anchor_seq = cut_seq, "audit retention applied");
        Ok(RetentionReport {
            dropped,
            anchor_seq: Some(cut_seq),
            retention_record_seq: appended.map(|r| *r.end()),
        })
    }
}
