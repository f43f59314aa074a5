//! A fleet on one host, for `vramctl bench fleet` and `vramctl demo
//! --fleet`: a PostgreSQL database (a throwaway server of our own, or a
//! fresh database on the server of `DATABASE_URL`), a real collector
//! (`audit_collector::Collector`, serving HTTP on 127.0.0.1 in this
//! process, stoppable and restartable on the same port) and simulated
//! workers (a real audit log each, with its log key, registered with the
//! collector). Nothing here is a mock: the workers' records go through the
//! real writer, the real shipper and the real collector into PostgreSQL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_collector::Collector;
use audit_core::tlog::SignerKey;
use seal_crypto::WorkerSecret;

use crate::cli_error::CliError;
use crate::pg_server::{self, PgServer};

/// The database of one run: dropped (and our own server stopped) at the
/// end.
pub struct Postgres {
    server: Option<PgServer>,
    admin_url: String,
    database: String,
    url: String,
}

fn db_error(what: &str) -> impl Fn(audit_collector::CollectorError) -> CliError + '_ {
    move |e| CliError::usage(format!("PostgreSQL: {what}: {e}"))
}

/// Runs `sql` on `url`.
pub fn execute(runtime: &tokio::runtime::Runtime, url: &str, sql: &str) -> Result<(), CliError> {
    runtime.block_on(async {
        let client = audit_collector::db::connect_url(url)
            .await
            .map_err(db_error("connecting"))?;
        client.batch_execute(sql).await.map_err(|e| {
            let detail = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            CliError::usage(format!("PostgreSQL: {sql}: {detail}"))
        })
    })
}

impl Postgres {
    /// A fresh database `vramctl_<label>_<pid>`: on the server of
    /// `DATABASE_URL` when set, else on a throwaway server started now,
    /// with PostgreSQL's durable defaults when `durable` (a benchmark whose
    /// figures say "durable"), else with `fsync` off (the demo).
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        label: &str,
        durable: bool,
    ) -> Result<Self, CliError> {
        let start = if durable {
            PgServer::start_durable
        } else {
            PgServer::start
        };
        let server = match std::env::var(pg_server::DATABASE_URL) {
            Ok(_) => None,
            Err(_) => Some(start().map_err(|e| {
                CliError::usage(format!(
                    "cannot start a throwaway PostgreSQL ({e}); or set DATABASE_URL to a server where a database may be created"
                ))
            })?),
        };
        let admin_url = match &server {
            Some(server) => server.url(),
            None => std::env::var(pg_server::DATABASE_URL).unwrap_or_default(),
        };
        let database = format!("vramctl_{label}_{}", std::process::id());
        execute(
            runtime,
            &admin_url,
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        )?;
        execute(runtime, &admin_url, &format!("CREATE DATABASE {database}"))?;
        let url = pg_server::with_database(&admin_url, &database);
        Ok(Self {
            server,
            admin_url,
            database,
            url,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where it runs, for the output (never a password: ours has none,
    /// and of `DATABASE_URL` only that it was used is said).
    pub fn describe(&self) -> String {
        match &self.server {
            Some(server) => format!(
                "a throwaway PostgreSQL on 127.0.0.1:{} ({}; started in {:.1} s, stopped at the end), database {}",
                server.port(),
                if server.durable() {
                    "durable: fsync, synchronous_commit and full_page_writes on"
                } else {
                    "fsync off"
                },
                server.startup().as_secs_f64(),
                self.database
            ),
            None => format!(
                "the server of DATABASE_URL, database {} (dropped at the end)",
                self.database
            ),
        }
    }

    /// Whether the server is ours (and so may be restarted).
    pub fn own_server(&self) -> bool {
        self.server.is_some()
    }

    /// Restarts our own server (`pg_ctl restart -m immediate`).
    pub fn restart(&self) -> Result<(), CliError> {
        match &self.server {
            Some(server) => server.restart().map_err(CliError::usage),
            None => Err(CliError::usage(
                "PostgreSQL of DATABASE_URL is not ours to restart",
            )),
        }
    }

    /// Drops the database and stops our server.
    pub fn close(mut self, runtime: &tokio::runtime::Runtime) -> Result<(), CliError> {
        let dropped = execute(
            runtime,
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
        );
        let stopped = match self.server.take() {
            Some(mut server) => server.stop().map_err(CliError::usage),
            None => Ok(()),
        };
        dropped.and(stopped)
    }
}

/// A collector serving on 127.0.0.1 in this process.
pub struct LocalCollector {
    database_url: String,
    key: SignerKey,
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), audit_collector::CollectorError>>>,
}

impl LocalCollector {
    /// Migrates the database and serves a collector on a free port.
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        database_url: &str,
        key: SignerKey,
    ) -> Result<Self, CliError> {
        let mut collector = Self {
            database_url: database_url.to_owned(),
            key,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            stop: None,
            task: None,
        };
        collector.serve(runtime)?;
        Ok(collector)
    }

    fn serve(&mut self, runtime: &tokio::runtime::Runtime) -> Result<(), CliError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let address = self.address;
        let (task, address) = runtime.block_on(async {
            let collector = Collector::open(&self.database_url, self.key.clone())
                .await
                .map_err(db_error("opening the collector's database"))?;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| CliError::usage(format!("cannot listen on {address}: {e}")))?;
            let address = listener
                .local_addr()
                .map_err(|e| CliError::usage(format!("the collector's address: {e}")))?;
            let task = tokio::spawn(collector.serve(listener, async {
                let _ = stopped.await;
            }));
            Ok::<_, CliError>((task, address))
        })?;
        self.address = address;
        self.stop = Some(stop);
        self.task = Some(task);
        Ok(())
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving (the exchanges in flight finish) and waits.
    pub fn stop(&mut self, runtime: &tokio::runtime::Runtime) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = runtime.block_on(task);
        }
    }

    /// Stops, waits `down`, and serves again on the same port (a new
    /// collector on the same database, as after a restart).
    pub fn restart(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        down: Duration,
    ) -> Result<(), CliError> {
        self.stop(runtime);
        std::thread::sleep(down);
        self.serve(runtime)
    }
}

/// A simulated worker: its id, a fresh audit log in `dir`, its log key
/// (also in a file, mode 0600, for `vramctl audit ship --key`) and secret.
pub struct SimWorker {
    pub worker_id: String,
    pub origin: String,
    pub db: PathBuf,
    pub key: SignerKey,
    pub key_file: PathBuf,
    pub secret: WorkerSecret,
}

impl SimWorker {
    /// A worker `worker_id` whose files go in `dir` (created).
    pub fn new(dir: &Path, worker_id: &str) -> Result<Self, CliError> {
        let fail = |e: audit_core::AuditError| CliError::usage(format!("{worker_id}: {e}"));
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| CliError::usage(format!("no randomness for a worker secret: {e}")))?;
        let secret = WorkerSecret::new(&bytes)
            .map_err(|e| CliError::usage(format!("a worker secret: {e}")))?;
        let key = audit_core::generate_log_key(worker_id).map_err(fail)?;
        let key_file = dir.join("log.key");
        audit_core::save_log_key(&key_file, &key).map_err(fail)?;
        Ok(Self {
            worker_id: worker_id.to_owned(),
            origin: audit_core::log_origin(worker_id).map_err(fail)?,
            db: dir.join("audit.db"),
            key,
            key_file,
            secret,
        })
    }

    /// Registers it with the collector on `database_url` (what `vram-auditd
    /// worker add ORIGIN VKEY` does).
    pub fn register(
        &self,
        runtime: &tokio::runtime::Runtime,
        database_url: &str,
    ) -> Result<(), CliError> {
        runtime.block_on(async {
            let client = audit_collector::db::connect_url(database_url)
                .await
                .map_err(db_error("connecting"))?;
            audit_collector::registry::add_worker(
                &client,
                &self.origin,
                &self.key.verifier_key().to_string(),
            )
            .await
            .map(drop)
            .map_err(db_error("registering a worker"))
        })
    }
}

/// A runtime for the collector and the database work of a run.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))
}
