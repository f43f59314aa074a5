//! Alerts (`COL-ALERT-001`, `COL-ING-004`): every refused checkpoint or
//! ingested batch that means a log is not what the collector saw before,
//! or not the worker's, is stored in
//! the `alerts` table, raised with `tracing::error!`, and listed by
//! `GET /alerts` and `vram-auditd alerts`. They are never retried away:
//! the refusal stands, and the row stays.
//!
//! | kind | status | what it means |
//! | --- | --- | --- |
//! | `unknown_origin` | 404 | a log no operator registered |
//! | `bad_signature` | 403 | a checkpoint not signed by the registered key |
//! | `inconsistent` | 422 | not an extension of the tree cosigned (or the records held) before: a fork, a rewritten record, or a truncation followed by new records |
//! | `rollback` | 409 | a checkpoint smaller than the tree cosigned before: the log was rolled back or cut, or an old checkpoint replayed |

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::CollectorError;
use crate::registry::utc;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// 404: an origin no operator registered.
    UnknownOrigin,
    /// 403: not signed by the registered key.
    BadSignature,
    /// 422: inconsistent with the tree cosigned before.
    Inconsistent,
    /// 409 with a checkpoint smaller than the tree cosigned before.
    Rollback,
}

impl AlertKind {
    /// Its name in the table and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownOrigin => "unknown_origin",
            Self::BadSignature => "bad_signature",
            Self::Inconsistent => "inconsistent",
            Self::Rollback => "rollback",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::UnknownOrigin,
            Self::BadSignature,
            Self::Inconsistent,
            Self::Rollback,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Which endpoint refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Endpoint {
    /// The tlog-witness's `POST /add-checkpoint`.
    #[serde(rename = "add-checkpoint")]
    AddCheckpoint,
    /// `POST /ingest`: a batch of records.
    #[serde(rename = "ingest")]
    Ingest,
}

impl Endpoint {
    /// Its name in the table and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddCheckpoint => "add-checkpoint",
            Self::Ingest => "ingest",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The endpoint that refused.
    pub endpoint: Endpoint,
    /// The checkpoint's origin.
    pub origin: String,
    /// What it is.
    pub kind: AlertKind,
    /// The status answered.
    pub status: u16,
    /// The request's `old` size.
    pub old_size: Option<u64>,
    /// The checkpoint's size.
    pub checkpoint_size: Option<u64>,
    /// The size of the tree the collector holds for the origin.
    pub held_size: Option<u64>,
    /// Why, in words.
    pub reason: String,
    /// Who sent it (`IP:port`).
    pub peer: Option<String>,
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Its number, increasing.
    pub id: i64,
    /// The endpoint that refused.
    pub endpoint: Endpoint,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// The checkpoint's origin.
    pub origin: String,
    /// What it is.
    pub kind: AlertKind,
    /// The status answered.
    pub status: u16,
    /// The request's `old` size.
    pub old_size: Option<u64>,
    /// The checkpoint's size.
    pub checkpoint_size: Option<u64>,
    /// The size held for the origin.
    pub held_size: Option<u64>,
    /// Why.
    pub reason: String,
    /// Who sent it.
    pub peer: Option<String>,
}

fn to_i64(size: Option<u64>) -> Option<i64> {
    size.and_then(|s| i64::try_from(s).ok())
}

fn to_u64(size: Option<i64>) -> Option<u64> {
    size.and_then(|s| u64::try_from(s).ok())
}

fn shown(size: Option<u64>) -> String {
    size.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// Stores `alert` and raises it at error level; its id.
pub async fn record_alert(
    client: &impl GenericClient,
    alert: &NewAlert,
) -> Result<i64, CollectorError> {
    let status = i16::try_from(alert.status).unwrap_or(i16::MAX);
    let id: i64 = client
        .query_one(
            "INSERT INTO alerts (origin, kind, status, old_size, checkpoint_size, held_size, reason, peer, endpoint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &alert.origin,
                &alert.kind.as_str(),
                &status,
                &to_i64(alert.old_size),
                &to_i64(alert.checkpoint_size),
                &to_i64(alert.held_size),
                &alert.reason,
                &alert.peer,
                &alert.endpoint.as_str(),
            ],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| CollectorError::db("storing an alert", &e))?;
    tracing::error!(
        alert = id,
        endpoint = alert.endpoint.as_str(),
        origin = %alert.origin,
        kind = %alert.kind,
        status = alert.status,
        old = %shown(alert.old_size),
        size = %shown(alert.checkpoint_size),
        held = %shown(alert.held_size),
        peer = alert.peer.as_deref().unwrap_or("-"),
        reason = %alert.reason,
        "ALERT: log refused"
    );
    Ok(id)
}

/// The alerts, oldest first (of `origin` only, if given).
pub async fn list_alerts(
    client: &impl GenericClient,
    origin: Option<&str>,
) -> Result<Vec<Alert>, CollectorError> {
    let sql = format!(
        "SELECT id, {}, origin, kind, status, old_size, checkpoint_size, held_size, reason, peer, endpoint
         FROM alerts WHERE ($1::text IS NULL OR origin = $1) ORDER BY id",
        utc("at")
    );
    let rows = client
        .query(&sql, &[&origin])
        .await
        .map_err(|e| CollectorError::db("listing alerts", &e))?;
    let read = |row: &tokio_postgres::Row| -> Result<Alert, tokio_postgres::Error> {
        let kind: String = row.try_get(3)?;
        let status: i16 = row.try_get(4)?;
        Ok(Alert {
            id: row.try_get(0)?,
            at: row.try_get(1)?,
            origin: row.try_get(2)?,
            // The table's CHECK allows the four kinds only.
            kind: AlertKind::parse(&kind).unwrap_or(AlertKind::Inconsistent),
            status: u16::try_from(status).unwrap_or_default(),
            old_size: to_u64(row.try_get(5)?),
            checkpoint_size: to_u64(row.try_get(6)?),
            held_size: to_u64(row.try_get(7)?),
            reason: row.try_get(8)?,
            peer: row.try_get(9)?,
            endpoint: if row.try_get::<_, String>(10)? == "ingest" {
                Endpoint::Ingest
            } else {
                Endpoint::AddCheckpoint
            },
        })
    };
    rows.iter()
        .map(read)
        .collect::<Result<_, _>>()
        .map_err(|e| CollectorError::db("reading alerts", &e))
}
