//! The collector as a C2SP tlog-witness (`COL-WIT-001` to `COL-WIT-005`):
//! `POST /add-checkpoint` answered with `tlog::Witness` over the state
//! kept in PostgreSQL.
//!
//! One request is one transaction. The worker's row is locked (`SELECT …
//! FOR UPDATE`) before its stored tree is read, the request is checked
//! against that tree (`Witness::open_request`, then `Witness::cosign`),
//! the new tree is written and the transaction committed, and only then is
//! the cosignature sent: the compare-and-swap the protocol requires,
//! atomic across any number of collectors on the same database. A refusal
//! that is an alert (see [`crate::alerts`]) is stored in the same
//! transaction before it is answered. If the database fails, the answer
//! is 503 and nothing was cosigned.

use std::time::{SystemTime, UNIX_EPOCH};

use audit_core::tlog::{
    AddCheckpointRequest, Checkpoint, Hash, SignerKey, VerifierKey, Witness, WitnessRefusal,
    WitnessedTree,
};
use tokio_postgres::Transaction;

use crate::CollectorError;
use crate::alerts::{AlertKind, Endpoint, NewAlert, record_alert};
use crate::db::Database;

/// An HTTP answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Answer {
    fn unavailable(error: &CollectorError) -> Self {
        tracing::error!(error = %error, "add-checkpoint: database unavailable; answered 503, nothing cosigned");
        Self {
            status: 503,
            content_type: "text/plain; charset=utf-8",
            body: "the witness's database is unavailable; nothing was cosigned, try again later\n"
                .to_owned(),
        }
    }

    fn refusal(refusal: &WitnessRefusal) -> Self {
        Self {
            status: refusal.status(),
            content_type: refusal.content_type(),
            body: refusal.body(),
        }
    }
}

/// What a request said before it was checked: for alerts and logs.
#[derive(Debug, Clone, Default)]
struct Claimed {
    origin: Option<String>,
    old: Option<u64>,
    size: Option<u64>,
}

fn claimed(body: &[u8]) -> Claimed {
    let Ok(request) = AddCheckpointRequest::parse(body) else {
        return Claimed::default();
    };
    let checkpoint = Checkpoint::from_text(request.checkpoint().text()).ok();
    Claimed {
        origin: checkpoint.as_ref().map(|c| c.origin().to_owned()),
        old: Some(request.old_size()),
        size: checkpoint.map(|c| c.size()),
    }
}

/// The alert a refusal raises, if it is one.
fn alert_kind(refusal: &WitnessRefusal, size: Option<u64>) -> Option<AlertKind> {
    match refusal {
        WitnessRefusal::UnknownOrigin { .. } => Some(AlertKind::UnknownOrigin),
        WitnessRefusal::Forbidden { .. } => Some(AlertKind::BadSignature),
        WitnessRefusal::Inconsistent { .. } => Some(AlertKind::Inconsistent),
        WitnessRefusal::Conflict { size: held, .. } if size.is_some_and(|s| s < *held) => {
            Some(AlertKind::Rollback)
        }
        _ => None,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The witness side of the collector: its key and its database.
#[derive(Debug, Clone)]
pub struct WitnessService {
    key: SignerKey,
    db: Database,
}

impl WitnessService {
    /// A witness cosigning with `key` (an Ed25519 key, used as a
    /// cosigner key of the same name) over the state in `db`.
    pub fn new(key: SignerKey, db: Database) -> Self {
        Self { key, db }
    }

    /// Its cosigner verifier key: what workers are given.
    pub fn verifier_key(&self) -> VerifierKey {
        Witness::new(&self.key).verifier_key()
    }

    /// Answers one `add-checkpoint` body from `peer`.
    pub async fn add_checkpoint(&self, body: &[u8], peer: Option<String>) -> Answer {
        let claimed = claimed(body);
        let mut connection = match self.db.get().await {
            Ok(c) => c,
            Err(e) => return Answer::unavailable(&e),
        };
        let answer = match connection.transaction().await {
            Ok(tx) => self.in_transaction(tx, body, &claimed, peer).await,
            Err(e) => Err(CollectorError::db("starting a transaction", &e)),
        };
        match answer {
            Ok(answer) => {
                connection.release();
                answer
            }
            Err(e) => Answer::unavailable(&e),
        }
    }

    async fn in_transaction(
        &self,
        tx: Transaction<'_>,
        body: &[u8],
        claimed: &Claimed,
        peer: Option<String>,
    ) -> Result<Answer, CollectorError> {
        let mut witness = Witness::new(&self.key);
        let mut held: Option<WitnessedTree> = None;
        if let Some(origin) = &claimed.origin {
            // The lock on the worker's row is held until COMMIT: no other
            // request for this origin reads the stored tree in between.
            let row = tx
                .query_opt(
                    "SELECT vkey FROM workers WHERE origin = $1 FOR UPDATE",
                    &[origin],
                )
                .await
                .map_err(|e| CollectorError::db("locking the worker's row", &e))?;
            if let Some(row) = row {
                let vkey: String = row
                    .try_get(0)
                    .map_err(|e| CollectorError::db("reading the worker's key", &e))?;
                let added = VerifierKey::parse(&vkey)
                    .map_err(|e| e.to_string())
                    .and_then(|key| witness.add_log(origin, key).map_err(|e| e.to_string()));
                if let Err(reason) = added {
                    tracing::error!(
                        origin,
                        reason,
                        "add-checkpoint: the registered worker cannot be witnessed"
                    );
                    return Ok(Answer {
                        status: 500,
                        content_type: "text/plain; charset=utf-8",
                        body: format!("this witness cannot witness {origin:?}: {reason}\n"),
                    });
                }
                held = read_tree(&tx, origin).await?;
            }
        }
        let outcome = witness.open_request(body).and_then(|request| {
            witness
                .cosign(&request, held.as_ref(), now())
                .map(|cosigned| (request, cosigned))
        });
        let (request, cosigned) = match outcome {
            Ok(done) => done,
            Err(refusal) => return self.refuse(tx, &refusal, claimed, held, peer).await,
        };
        let size = i64::try_from(cosigned.tree.size).map_err(|_| CollectorError::Database {
            operation: "storing the cosigned tree",
            detail: format!("size {} does not fit a bigint", cosigned.tree.size),
        })?;
        let checkpoint = request.request().checkpoint().to_string();
        let cosignature = cosigned.signature.to_string();
        let root = cosigned.tree.root.as_bytes().to_vec();
        let time = i64::try_from(now()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO witnessed (origin, size, root, checkpoint, cosignature, cosigned_at)
             VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint))
             ON CONFLICT (origin) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root,
               checkpoint = EXCLUDED.checkpoint, cosignature = EXCLUDED.cosignature,
               cosigned_at = EXCLUDED.cosigned_at",
            &[
                &request.origin(),
                &size,
                &root,
                &checkpoint,
                &cosignature,
                &time,
            ],
        )
        .await
        .map_err(|e| CollectorError::db("storing the cosigned tree", &e))?;
        // Persisted before the answer: if COMMIT fails, nothing is cosigned.
        tx.commit()
            .await
            .map_err(|e| CollectorError::db("committing the cosigned tree", &e))?;
        tracing::info!(
            origin = request.origin(),
            old = request.old_size(),
            size = cosigned.tree.size,
            "checkpoint cosigned"
        );
        Ok(Answer {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: cosigned.body(),
        })
    }

    async fn refuse(
        &self,
        tx: Transaction<'_>,
        refusal: &WitnessRefusal,
        claimed: &Claimed,
        held: Option<WitnessedTree>,
        peer: Option<String>,
    ) -> Result<Answer, CollectorError> {
        let answer = Answer::refusal(refusal);
        let kind = alert_kind(refusal, claimed.size);
        match (kind, &claimed.origin) {
            (Some(kind), Some(origin)) => {
                let alert = NewAlert {
                    endpoint: Endpoint::AddCheckpoint,
                    origin: origin.clone(),
                    kind,
                    status: answer.status,
                    old_size: claimed.old,
                    checkpoint_size: claimed.size,
                    held_size: held.map(|t| t.size),
                    reason: refusal.to_string(),
                    peer,
                };
                record_alert(&tx, &alert).await?;
                tx.commit()
                    .await
                    .map_err(|e| CollectorError::db("committing an alert", &e))?;
            }
            _ => {
                tracing::warn!(
                    status = answer.status,
                    origin = ?claimed.origin,
                    reason = %refusal,
                    "add-checkpoint refused"
                );
                // Dropping `tx` rolls it back.
            }
        }
        Ok(answer)
    }
}

/// The tree stored for `origin`, if any.
async fn read_tree(
    tx: &Transaction<'_>,
    origin: &str,
) -> Result<Option<WitnessedTree>, CollectorError> {
    let row = tx
        .query_opt(
            "SELECT size, root FROM witnessed WHERE origin = $1",
            &[&origin],
        )
        .await
        .map_err(|e| CollectorError::db("reading the witnessed tree", &e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let size: i64 = row
        .try_get(0)
        .map_err(|e| CollectorError::db("reading the witnessed tree", &e))?;
    let root: Vec<u8> = row
        .try_get(1)
        .map_err(|e| CollectorError::db("reading the witnessed tree", &e))?;
    let corrupt = |what: &str| CollectorError::Database {
        operation: "reading the witnessed tree",
        detail: format!("the stored {what} of {origin:?} is not valid"),
    };
    Ok(Some(WitnessedTree {
        size: u64::try_from(size).map_err(|_| corrupt("size"))?,
        root: Hash::from_slice(&root).map_err(|_| corrupt("root"))?,
    }))
}
