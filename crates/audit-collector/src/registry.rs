//! The worker registry (`COL-REG-001`): which logs the collector
//! witnesses, each by its origin and the verifier key of its checkpoints.
//!
//! An operator registers a worker (`vram-auditd worker add ORIGIN VKEY`);
//! the collector only ever holds public keys, never a worker's secret or
//! log key. A key must be an Ed25519 (0x01) C2SP verifier key, as
//! `vramctl audit keygen` prints; an origin is registered once and a key
//! belongs to one origin only.

use audit_core::tlog::{Checkpoint, EMPTY_ROOT, SignatureType, VerifierKey};
use serde::Serialize;
use tokio_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use crate::CollectorError;

/// A registered worker, and what the collector last cosigned of its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worker {
    /// The log's origin.
    pub origin: String,
    /// The verifier key of its checkpoints.
    pub vkey: String,
    /// When it was registered (UTC, RFC 3339).
    pub added_at: String,
    /// The size of the tree last cosigned (none yet: `None`).
    pub witnessed_size: Option<u64>,
    /// When (UTC, RFC 3339).
    pub cosigned_at: Option<String>,
    /// Records of its log the collector holds ([`crate::ingest`]).
    pub records_held: u64,
}

/// A timestamptz column as RFC 3339 UTC text, in SQL.
pub(crate) fn utc(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// Checks `origin` and parses `vkey` as the Ed25519 key of its log.
pub fn parse_worker(origin: &str, vkey: &str) -> Result<VerifierKey, CollectorError> {
    if let Err(e) = Checkpoint::new(origin, 0, EMPTY_ROOT) {
        return Err(CollectorError::BadOrigin {
            origin: origin.to_owned(),
            reason: e.to_string(),
        });
    }
    if vkey.contains("PRIVATE+KEY") {
        return Err(CollectorError::PrivateKey);
    }
    let key = VerifierKey::parse(vkey.trim()).map_err(|e| CollectorError::BadVerifierKey {
        reason: e.to_string(),
    })?;
    if key.kind() != SignatureType::Ed25519 {
        return Err(CollectorError::NotEd25519 {
            origin: origin.to_owned(),
            kind: key.kind(),
        });
    }
    Ok(key)
}

/// Registers the worker whose log is `origin`, with the verifier key
/// `vkey` of its checkpoints (`COL-REG-001`).
pub async fn add_worker(
    client: &impl GenericClient,
    origin: &str,
    vkey: &str,
) -> Result<VerifierKey, CollectorError> {
    let key = parse_worker(origin, vkey)?;
    let public_key = key.public_key().to_vec();
    let inserted = client
        .execute(
            "INSERT INTO workers (origin, vkey, public_key) VALUES ($1, $2, $3)",
            &[&origin, &key.to_string(), &public_key],
        )
        .await;
    match inserted {
        Ok(_) => {
            tracing::info!(origin, vkey = %key, "worker registered");
            Ok(key)
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let constraint = e
                .as_db_error()
                .and_then(|d| d.constraint())
                .unwrap_or_default();
            if constraint == "workers_pkey" {
                return Err(CollectorError::WorkerExists {
                    origin: origin.to_owned(),
                });
            }
            let other: String = client
                .query_one(
                    "SELECT origin FROM workers WHERE public_key = $1",
                    &[&public_key],
                )
                .await
                .and_then(|row| row.try_get(0))
                .map_err(|e| CollectorError::db("looking up a registered key", &e))?;
            Err(CollectorError::KeyInUse { other })
        }
        Err(e) => Err(CollectorError::db("registering a worker", &e)),
    }
}

/// Every registered worker, by origin.
pub async fn list_workers(client: &impl GenericClient) -> Result<Vec<Worker>, CollectorError> {
    let sql = format!(
        "SELECT w.origin, w.vkey, {}, t.size, {}, coalesce(i.size, 0) FROM workers w LEFT JOIN witnessed t USING (origin) LEFT JOIN ingested i USING (origin) ORDER BY w.origin",
        utc("w.added_at"),
        utc("t.cosigned_at")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| CollectorError::db("listing workers", &e))?;
    rows.iter()
        .map(|row| {
            let size: Option<i64> = row.try_get(3)?;
            Ok(Worker {
                origin: row.try_get(0)?,
                vkey: row.try_get(1)?,
                added_at: row.try_get(2)?,
                witnessed_size: size.and_then(|s| u64::try_from(s).ok()),
                cosigned_at: row.try_get(4)?,
                records_held: u64::try_from(row.try_get::<_, i64>(5)?).unwrap_or_default(),
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(|e| CollectorError::db("reading workers", &e))
}
