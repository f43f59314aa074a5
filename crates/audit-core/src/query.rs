//! Reading records back: filtered queries, NDJSON export, and verification
//! of an exported file.

use std::io::{BufRead, Write};
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use seal_crypto::WorkerSecret;

use crate::record::{ChainKey, validate_worker_id};
use crate::schema::RECORD_COLUMNS;
use crate::verify::{ChainVerifier, FailureReason, Start, read_raw};
use crate::{AuditError, AuditLog, AuditRecord, Severity, VerifyReport};

/// Which records a query returns. Every field narrows the result; the
/// default returns everything, oldest first.
///
/// ```
/// use audit_core::{QueryFilter, Severity};
/// let filter = QueryFilter::default()
///     .kind("VramSealed")
///     .min_severity(Severity::High)
///     .limit(10)
///     .newest_first();
/// assert_eq!(filter.limit, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilter {
    /// Only records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only records strictly before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only this event kind.
    pub kind: Option<String>,
    /// Only this severity or worse.
    pub min_severity: Option<Severity>,
    /// Only events about this shard.
    pub shard_id: Option<String>,
    /// Only these sequence numbers.
    pub seq: Option<RangeInclusive<u64>>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
}

impl QueryFilter {
    /// Records at or after `t`.
    #[must_use]
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }

    /// Records before `t`.
    #[must_use]
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }

    /// Records of one kind.
    #[must_use]
    pub fn kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }

    /// Records of severity `s` or worse.
    #[must_use]
    pub fn min_severity(mut self, s: Severity) -> Self {
        self.min_severity = Some(s);
        self
    }

    /// Records about one shard.
    #[must_use]
    pub fn shard_id(mut self, shard: &str) -> Self {
        self.shard_id = Some(shard.to_owned());
        self
    }

    /// Records in a sequence range.
    #[must_use]
    pub fn seq(mut self, range: RangeInclusive<u64>) -> Self {
        self.seq = Some(range);
        self
    }

    /// At most `n` records.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Newest first.
    #[must_use]
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    fn sql(&self) -> (String, Vec<SqlValue>) {
        let mut clauses: Vec<&str> = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let ns = |t: &DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let seq = |s: u64| SqlValue::Integer(i64::try_from(s).unwrap_or(i64::MAX));
        if let Some(t) = &self.since {
            clauses.push("ts_ns >= ?");
            args.push(SqlValue::Integer(ns(t)));
        }
        if let Some(t) = &self.until {
            clauses.push("ts_ns < ?");
            args.push(SqlValue::Integer(ns(t)));
        }
        if let Some(kind) = &self.kind {
            clauses.push("kind = ?");
            args.push(SqlValue::Text(kind.clone()));
        }
        if let Some(s) = self.min_severity {
            clauses.push("severity >= ?");
            args.push(SqlValue::Integer(s.rank()));
        }
        if let Some(shard) = &self.shard_id {
            clauses.push("shard_id = ?");
            args.push(SqlValue::Text(shard.clone()));
        }
        if let Some(range) = &self.seq {
            clauses.push("seq >= ? AND seq <= ?");
            args.push(seq(*range.start()));
            args.push(seq(*range.end()));
        }
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM records");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(if self.newest_first {
            " ORDER BY seq DESC"
        } else {
            " ORDER BY seq ASC"
        });
        if let Some(limit) = self.limit {
            sql.push_str(" LIMIT ?");
            args.push(SqlValue::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        }
        (sql, args)
    }
}

impl AuditLog {
    /// Records matching `filter`. Query results are *not* verified: run
    /// [`AuditLog::verify`] to know they are authentic.
    pub fn query(&self, filter: &QueryFilter) -> Result<Vec<AuditRecord>, AuditError> {
        let mut out = Vec::new();
        self.for_each_record(filter, |record| {
            out.push(record);
            Ok(())
        })?;
        Ok(out)
    }

    fn for_each_record(
        &self,
        filter: &QueryFilter,
        mut visit: impl FnMut(AuditRecord) -> Result<(), AuditError>,
    ) -> Result<u64, AuditError> {
        let (sql, args) = filter.sql();
        let mut stmt = self
            .conn
            .prepare_cached(&sql)
            .map_err(AuditError::storage("querying records"))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(AuditError::storage("querying records"))?;
        let mut n = 0u64;
        while let Some(row) = rows
            .next()
            .map_err(AuditError::storage("querying records"))?
        {
            let raw = read_raw(row).map_err(AuditError::storage("querying records"))?;
            visit(AuditRecord::from_raw(raw)?)?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes records (all, or a sequence range), oldest first, as NDJSON:
    /// one [`AuditRecord`] per line with both MACs. Returns the number of
    /// lines. The output verifies with [`verify_ndjson`].
    pub fn export_ndjson(
        &self,
        range: Option<RangeInclusive<u64>>,
        mut out: impl Write,
    ) -> Result<u64, AuditError> {
        let filter = QueryFilter {
            seq: range,
            ..QueryFilter::default()
        };
        let n = self.for_each_record(&filter, |record| {
            serde_json::to_writer(&mut out, &record).map_err(|e| AuditError::Io {
                operation: "exporting NDJSON",
                detail: e.to_string(),
            })?;
            out.write_all(b"\n")
                .map_err(AuditError::io("exporting NDJSON"))
        })?;
        out.flush().map_err(AuditError::io("exporting NDJSON"))?;
        Ok(n)
    }
}

/// Verifies an NDJSON export (see [`AuditLog::export_ndjson`]).
///
/// An export that starts at record 1 is checked from the worker's genesis;
/// one that starts later (a range, or a log after retention) is checked from
/// its first record's `prev_mac` on. A line that is not a record is an
/// error; a record whose fields cannot be what the log wrote is reported as
/// [`FailureReason::Malformed`].
pub fn verify_ndjson(
    input: impl BufRead,
    worker_id: &str,
    secret: &WorkerSecret,
) -> Result<VerifyReport, AuditError> {
    validate_worker_id(worker_id)?;
    let key = ChainKey::derive(secret)?;
    let mut verifier: Option<ChainVerifier<'_>> = None;
    let mut block = Vec::with_capacity(4096);
    for (index, line) in input.lines().enumerate() {
        let line_no = index as u64 + 1;
        let line = line.map_err(AuditError::io("reading NDJSON"))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord = serde_json::from_str(&line).map_err(|e| AuditError::Export {
            line: line_no,
            detail: e.to_string(),
        })?;
        let v = verifier.get_or_insert_with(|| {
            let start = if record.seq <= 1 {
                Start::Genesis(key.genesis(worker_id))
            } else {
                Start::Trusting { seq: record.seq }
            };
            ChainVerifier::new(&key, start)
        });
        match record.to_raw() {
            Some(raw) => block.push(raw),
            None => {
                if v.check_block(&block) {
                    v.fail(
                        Some(record.seq),
                        FailureReason::Malformed {
                            detail: "a MAC is not hex or the time is out of range".to_owned(),
                        },
                    );
                }
                return Ok(v.finish_ref());
            }
        }
        if block.len() == block.capacity() {
            if !v.check_block(&block) {
                return Ok(v.finish_ref());
            }
            block.clear();
        }
    }
    Ok(match verifier {
        Some(mut v) => {
            v.check_block(&block);
            v.finish()
        }
        None => VerifyReport::default(),
    })
}
