//! `vram-auditd`: the fleet collector's command line.
//!
//! - `serve --listen ADDR`: the tlog-witness endpoint and the alerts, on
//!   the database of `--database-url` (or `DATABASE_URL`), cosigning with
//!   `--witness-key FILE`. Prints `listening on http://ADDR` and the
//!   witness's verifier key on its first lines.
//! - `worker add ORIGIN VKEY`, `worker list [--json]`: the registry.
//! - `alerts [--json] [--origin ORIGIN]`: the stored alerts.
//! - `migrate`: applies the schema (every command that opens the database
//!   does it first).
//! - `keygen --out FILE --name NAME`: a new witness key (no database).
//!
//! Exit codes: 0 done, 2 bad usage, a refused input or a failure (the
//! message says which and what to do).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use audit_collector::witness_key::{generate_witness_key, load_witness_key, save_witness_key};
use audit_collector::{Collector, CollectorError, ReadOnlyCollector, db, migrate, registry};
use audit_core::tlog::Witness;
use clap::{Parser, Subcommand};

/// The fleet collector: a tlog-witness for every worker's audit log, on
/// PostgreSQL, with a worker registry and alerts.
#[derive(Debug, Parser)]
#[command(name = "vram-auditd", version)]
struct Cli {
    /// The PostgreSQL database (postgres://USER@HOST:PORT/DATABASE).
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// The witness key file (`vram-auditd keygen`), for `serve`.
    #[arg(long, global = true, value_name = "FILE")]
    witness_key: Option<PathBuf>,
    /// Log filter for diagnostics on stderr (tracing's EnvFilter syntax).
    #[arg(
        long,
        env = "RUST_LOG",
        global = true,
        default_value = "info,tokio_postgres=warn"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the tlog-witness endpoint (POST /add-checkpoint) and the
    /// alerts (GET /alerts).
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7380")]
        listen: String,
        /// Serve only the reads (auditors' routes, sizes, alerts) from a
        /// database never written: a streaming replica. No witness key, no
        /// migration.
        #[arg(long)]
        read_only: bool,
    },
    /// The workers whose logs this collector witnesses.
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// List the stored alerts, oldest first.
    Alerts {
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
        /// Only the alerts of this origin.
        #[arg(long, value_name = "ORIGIN")]
        origin: Option<String>,
    },
    /// Apply the database schema's migrations.
    Migrate,
    /// Make a new witness key file (mode 0600, never over an existing
    /// file) and print its verifier key.
    Keygen {
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The witness's name (no spaces, no `+`), e.g.
        /// collector.example/witness.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum WorkerCommand {
    /// Register a worker's log: its origin and the verifier key of its
    /// checkpoints (as `vramctl audit keygen` prints it).
    Add {
        /// The log's origin (vram-residency/audit/WORKER_ID).
        origin: String,
        /// The log's Ed25519 verifier key (name+keyid+base64).
        vkey: String,
    },
    /// List the registered workers.
    List {
        /// One JSON array instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// Writes a line to stdout; a closed stdout is not a panic.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn database_url(cli: &Cli) -> Result<&str, CollectorError> {
    cli.database_url
        .as_deref()
        .ok_or_else(|| CollectorError::BadDatabaseUrl {
            reason: "none given: pass --database-url URL or set DATABASE_URL".to_owned(),
        })
}

/// One connection, migrated.
async fn open(cli: &Cli) -> Result<tokio_postgres::Client, CollectorError> {
    let mut client = db::connect_url(database_url(cli)?).await?;
    migrate::migrate(&mut client).await?;
    Ok(client)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn json<T: serde::Serialize>(value: &T) -> Result<(), CollectorError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CollectorError::Serve {
        address: "stdout".to_owned(),
        detail: e.to_string(),
    })?;
    out(&text);
    Ok(())
}

async fn run(cli: &Cli) -> Result<(), CollectorError> {
    match &cli.command {
        Command::Keygen { out: path, name } => {
            let key = generate_witness_key(name)?;
            save_witness_key(path, &key)?;
            out(&format!(
                "witness key written to {} (mode 0600)",
                path.display()
            ));
            out(&format!(
                "verifier key: {}",
                Witness::new(&key).verifier_key()
            ));
            Ok(())
        }
        Command::Migrate => {
            let mut client = db::connect_url(database_url(cli)?).await?;
            let report = migrate::migrate(&mut client).await?;
            if report.applied.is_empty() {
                out(&format!("schema at version {}: up to date", report.to));
            } else {
                out(&format!(
                    "schema migrated from version {} to {} (applied {:?})",
                    report.from, report.to, report.applied
                ));
            }
            Ok(())
        }
        Command::Worker(WorkerCommand::Add { origin, vkey }) => {
            let client = open(cli).await?;
            let key = registry::add_worker(&client, origin, vkey).await?;
            out(&format!("registered worker {origin} with key {key}"));
            Ok(())
        }
        Command::Worker(WorkerCommand::List { json: as_json }) => {
            let client = open(cli).await?;
            let workers = registry::list_workers(&client).await?;
            if *as_json {
                return json(&workers);
            }
            if workers.is_empty() {
                out("no workers registered (vram-auditd worker add ORIGIN VKEY)");
            }
            for w in &workers {
                let witnessed = w.witnessed_size.map_or_else(
                    || "nothing cosigned yet".to_owned(),
                    |size| {
                        format!(
                            "cosigned {size} records at {}",
                            w.cosigned_at.as_deref().unwrap_or("?")
                        )
                    },
                );
                out(&format!(
                    "{}  {}  added {}  {witnessed}  {} records held",
                    w.origin, w.vkey, w.added_at, w.records_held
                ));
            }
            Ok(())
        }
        Command::Alerts {
            json: as_json,
            origin,
        } => {
            let client = open(cli).await?;
            let alerts = audit_collector::alerts::list_alerts(&client, origin.as_deref()).await?;
            if *as_json {
                return json(&alerts);
            }
            if alerts.is_empty() {
                out("no alerts");
            }
            let size = |s: Option<u64>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
            for a in &alerts {
                out(&format!(
                    "#{} {} ALERT {} ({}) {} old {} size {} held {} from {} on {}: {}",
                    a.id,
                    a.at,
                    a.kind,
                    a.status,
                    a.origin,
                    size(a.old_size),
                    size(a.checkpoint_size),
                    size(a.held_size),
                    a.peer.as_deref().unwrap_or("?"),
                    a.endpoint.as_str(),
                    a.reason
                ));
            }
            Ok(())
        }
        Command::Serve {
            listen,
            read_only: true,
        } => {
            let collector = ReadOnlyCollector::open(database_url(cli)?).await?;
            let listener = bind(listen).await?;
            out(&format!(
                "listening on http://{} (read only: the auditors' routes, sizes and alerts)",
                address_of(&listener, listen)
            ));
            collector.serve(listener, shutdown_signal()).await
        }
        Command::Serve {
            listen,
            read_only: false,
        } => {
            let Some(key_file) = &cli.witness_key else {
                return Err(CollectorError::WitnessKey {
                    reason: "serve needs --witness-key FILE (make one with `vram-auditd keygen --out FILE --name NAME`)".to_owned(),
                });
            };
            let key = load_witness_key(key_file)?;
            let collector = Collector::open(database_url(cli)?, key).await?;
            let listener = bind(listen).await?;
            out(&format!(
                "listening on http://{}",
                address_of(&listener, listen)
            ));
            out(&format!("witness key: {}", collector.verifier_key()));
            collector.serve(listener, shutdown_signal()).await
        }
    }
}

async fn bind(listen: &str) -> Result<tokio::net::TcpListener, CollectorError> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CollectorError::Serve {
            address: listen.to_owned(),
            detail: e.to_string(),
        })
}

fn address_of(listener: &tokio::net::TcpListener, listen: &str) -> String {
    listener
        .local_addr()
        .map_or_else(|_| listen.to_owned(), |a| a.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_postgres=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "vram-auditd: cannot start the runtime: {e}"
            );
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "vram-auditd: {e}");
            ExitCode::from(2)
        }
    }
}
