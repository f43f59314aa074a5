//! The collector's HTTP service (axum on tokio): `POST /add-checkpoint`
//! (the tlog-witness endpoint, [`crate::witness`]), `POST /ingest` and
//! `GET /workers/{origin}/size` (records shipped by the workers,
//! [`crate::ingest`]; the origin percent-encoded, `/` as `%2F`) and
//! `GET /alerts` (every stored alert as JSON, oldest first), and the
//! auditors' reads ([`crate::auditor`]).
//!
//! The reads alone, without the witness key, migrations or any write,
//! are [`ReadOnlyCollector`]: what serves auditors from a streaming
//! replica of the collector's database (`COL-AUD-007`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use audit_core::tlog::{MAX_ADD_CHECKPOINT_BODY_BYTES, SignerKey, VerifierKey};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::CollectorError;
use crate::alerts::list_alerts;
use crate::auditor::AuditorService;
use crate::db::{DEFAULT_MAX_CONNECTIONS, Database};
use crate::ingest::{IngestReply, IngestService, MAX_INGEST_BODY_BYTES};
use crate::migrate::{SCHEMA_VERSION, migrate, schema_version};
use crate::witness::{Answer, WitnessService};

/// A collector: the witness and its database, ready to serve.
#[derive(Debug, Clone)]
pub struct Collector {
    witness: Arc<WitnessService>,
    /// The reads, and the ingest service `POST /ingest` shares with
    /// `GET /workers/{origin}/size`.
    reads: Reads,
}

/// What the read routes need: the database, read only.
#[derive(Debug, Clone)]
struct Reads {
    ingest: Arc<IngestService>,
    auditor: Arc<AuditorService>,
    db: Database,
}

impl Reads {
    fn new(db: Database) -> Self {
        Self {
            ingest: Arc::new(IngestService::new(db.clone())),
            auditor: Arc::new(AuditorService::new(db.clone())),
            db,
        }
    }

    /// `GET /workers/{origin}/size`, `GET /alerts` and the auditors' routes.
    fn router(&self) -> Router {
        Router::new()
            .route("/workers/{origin}/size", get(size))
            .route("/alerts", get(alerts))
            .route("/workers/{origin}/checkpoint", get(cosigned_checkpoint))
            .route(
                "/workers/{origin}/prove/inclusion/{seq}",
                get(prove_inclusion),
            )
            .route(
                "/workers/{origin}/prove/consistency/{from}",
                get(prove_consistency),
            )
            .route("/records", get(records))
            .with_state(self.clone())
    }
}

/// The read routes alone, for auditors, from a database this process
/// never writes: a streaming replica of the collector's (`COL-AUD-007`).
/// No witness key, no migration; the database must be at exactly the
/// schema version this code knows, migrated by the collector on the
/// primary.
#[derive(Debug, Clone)]
pub struct ReadOnlyCollector {
    reads: Reads,
}

impl ReadOnlyCollector {
    /// Connects to `database_url` (a replica, or the primary) and checks
    /// its schema version; writes nothing.
    pub async fn open(database_url: &str) -> Result<Self, CollectorError> {
        let db = Database::new(database_url, DEFAULT_MAX_CONNECTIONS)?;
        let connection = db.get().await?;
        let found = schema_version(&connection).await?;
        connection.release();
        if found != SCHEMA_VERSION {
            return Err(CollectorError::SchemaMismatch {
                found,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(Self {
            reads: Reads::new(db),
        })
    }

    /// Its routes: the reads of [`Collector::router`], no `POST`.
    pub fn router(&self) -> Router {
        self.reads.router()
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CollectorError> {
        serve(self.router(), listener, shutdown).await
    }
}

impl Collector {
    /// Connects to `database_url`, applies the migrations it lacks, and
    /// makes a collector that cosigns with `witness_key`.
    pub async fn open(database_url: &str, witness_key: SignerKey) -> Result<Self, CollectorError> {
        let db = Database::new(database_url, DEFAULT_MAX_CONNECTIONS)?;
        let mut connection = db.get().await?;
        let report = migrate(&mut connection).await?;
        connection.release();
        tracing::info!(from = report.from, to = report.to, "database schema ready");
        Ok(Self {
            witness: Arc::new(WitnessService::new(witness_key, db.clone())),
            reads: Reads::new(db),
        })
    }

    /// Its cosigner verifier key: what workers list as a witness.
    pub fn verifier_key(&self) -> VerifierKey {
        self.witness.verifier_key()
    }

    /// Its routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/add-checkpoint",
                post(add_checkpoint).layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_BODY_BYTES)),
            )
            .route(
                "/ingest",
                post(ingest).layer(DefaultBodyLimit::max(MAX_INGEST_BODY_BYTES)),
            )
            .with_state(self.clone())
            .merge(self.reads.router())
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), CollectorError> {
        serve(self.router(), listener, shutdown).await
    }
}

async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CollectorError> {
    let address = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| CollectorError::Serve {
        address,
        detail: e.to_string(),
    })
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}

async fn add_checkpoint(
    State(collector): State<Collector>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    respond(
        collector
            .witness
            .add_checkpoint(&body, Some(peer.to_string()))
            .await,
    )
}

fn respond_json(reply: &IngestReply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(reply)).into_response()
}

async fn ingest(
    State(collector): State<Collector>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    respond_json(
        &collector
            .reads
            .ingest
            .ingest(body, Some(peer.to_string()))
            .await,
    )
}

async fn size(State(collector): State<Reads>, Path(origin): Path<String>) -> Response {
    respond_json(&collector.ingest.size(&origin).await)
}

async fn alerts(State(collector): State<Reads>) -> Response {
    let listed = match collector.db.get().await {
        Ok(connection) => {
            let listed = list_alerts(&*connection, None).await;
            connection.release();
            listed
        }
        Err(e) => Err(e),
    };
    match listed {
        Ok(alerts) => axum::Json(alerts).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "GET /alerts failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the collector's database is unavailable; try again later\n",
            )
                .into_response()
        }
    }
}

async fn cosigned_checkpoint(
    State(collector): State<Reads>,
    Path(origin): Path<String>,
) -> Response {
    respond(collector.auditor.cosigned_checkpoint(&origin).await)
}

async fn records(State(collector): State<Reads>, RawQuery(query): RawQuery) -> Response {
    respond(collector.auditor.records(query.as_deref()).await)
}

async fn prove_inclusion(
    State(collector): State<Reads>,
    Path((origin, seq)): Path<(String, u64)>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(
        collector
            .auditor
            .prove_inclusion(&origin, seq, query.as_deref())
            .await,
    )
}

async fn prove_consistency(
    State(collector): State<Reads>,
    Path((origin, from)): Path<(String, u64)>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(
        collector
            .auditor
            .prove_consistency(&origin, from, query.as_deref())
            .await,
    )
}
