//! Helpers of the collector's tests: a real PostgreSQL database per test
//! (`test-support/pg_server.rs`), a collector serving real HTTP on
//! 127.0.0.1, worker logs signed with real log keys, the binary.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../../test-support/pg_server.rs"]
pub mod pg_server;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use audit_collector::Collector;
use audit_collector::witness_key::generate_witness_key;
use audit_core::tlog::{SignerKey, VerifierKey};
use audit_core::{AuditEvent, AuditLog, Severity};
use seal_crypto::WorkerSecret;

pub use pg_server::test_database;

/// The worker of most tests.
pub const WORKER: &str = "worker-c";

/// The worker secret of the test logs (the collector never sees it).
pub fn secret() -> WorkerSecret {
    WorkerSecret::new(b"an-operator-secret-of-at-least-32-bytes!").unwrap()
}

/// A multi-threaded runtime for the async parts of a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A connection to `url`.
pub async fn client(url: &str) -> tokio_postgres::Client {
    audit_collector::db::connect_url(url).await.unwrap()
}

/// A collector serving real HTTP on 127.0.0.1 (port 0), on its own
/// runtime; stopped when dropped.
pub struct TestCollector {
    pub url: String,
    pub vkey: VerifierKey,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestCollector {
    /// Migrates `database_url` and serves a collector cosigning with `key`.
    pub fn start(database_url: &str, key: &SignerKey) -> Self {
        let runtime = runtime();
        let collector =
            runtime.block_on(async { Collector::open(database_url, key.clone()).await.unwrap() });
        let vkey = collector.verifier_key();
        let (url, stop) = serve_in_background(&runtime, |listener, stopped| async move {
            collector.serve(listener, stopped).await.unwrap();
        });
        Self {
            url,
            vkey,
            runtime: Some(runtime),
            stop: Some(stop),
        }
    }

    /// The `URL=VKEY` form workers are given.
    pub fn witness(&self) -> audit_ship::witness::Witness {
        audit_ship::witness::Witness::new(&self.url, &self.vkey).unwrap()
    }

    /// POSTs `body` to `/add-checkpoint`: status and body.
    pub fn post(&self, body: &[u8]) -> (u16, String) {
        post(&self.url, body)
    }

    /// `GET /alerts` as JSON.
    pub fn alerts(&self) -> serde_json::Value {
        let response = ureq_get(&format!("{}/alerts", self.url));
        serde_json::from_str(&response).unwrap()
    }
}

impl Drop for TestCollector {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// Binds 127.0.0.1 (port 0) and spawns `serve` on `runtime` with the
/// listener and a shutdown future: the base URL, and what stops it.
pub fn serve_in_background<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    serve: F,
) -> (String, tokio::sync::oneshot::Sender<()>)
where
    F: FnOnce(
        tokio::net::TcpListener,
        std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Box::pin(async {
        let _ = stopped.await;
    });
    runtime.spawn(serve(listener, shutdown));
    (url, stop)
}

/// POSTs a batch to `URL/ingest`: status and the JSON answer.
pub fn ingest(url: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let response = audit_ship::http::post(
        &format!("{url}/ingest"),
        "application/x-ndjson",
        body,
        Duration::from_secs(60),
        64 * 1024,
    )
    .unwrap();
    let text = String::from_utf8(response.body).unwrap();
    (
        response.status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

/// POSTs `body` to `URL/add-checkpoint` with the witness client's HTTP.
pub fn post(url: &str, body: &[u8]) -> (u16, String) {
    let response = audit_ship::http::post(
        &format!("{url}/add-checkpoint"),
        "text/plain; charset=utf-8",
        body,
        Duration::from_secs(30),
        64 * 1024,
    )
    .unwrap();
    (response.status, String::from_utf8(response.body).unwrap())
}

/// One raw HTTP/1.1 exchange: the response's head (lower-cased) and body.
pub fn raw(url: &str, method: &str, body: &[u8]) -> (String, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_owned())
}

/// `GET url`, which must answer 200 with JSON: the body.
pub fn ureq_get(url: &str) -> String {
    let (head, body) = raw(url, "GET", b"");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    body
}

/// A new witness key for the collector.
pub fn witness_key(name: &str) -> SignerKey {
    generate_witness_key(name).unwrap()
}

/// A worker's audit log and its log key.
pub struct WorkerLog {
    dir: tempfile::TempDir,
    pub db: PathBuf,
    pub worker: String,
    pub key: SignerKey,
}

impl WorkerLog {
    /// A log of `worker` with `records` records, its key new.
    pub fn new(worker: &str, records: u64) -> Self {
        Self::with_key(
            worker,
            records,
            audit_core::generate_log_key(worker).unwrap(),
        )
    }

    /// A log of `worker` with `records` records, signed by `key`.
    pub fn with_key(worker: &str, records: u64, key: SignerKey) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let log = Self {
            dir,
            db,
            worker: worker.to_owned(),
            key,
        };
        log.append(records, "a");
        log
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn origin(&self) -> String {
        audit_core::log_origin(&self.worker).unwrap()
    }

    pub fn vkey(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    pub fn open(&self) -> AuditLog {
        AuditLog::open(&self.db, &self.worker, &secret()).unwrap()
    }

    /// Appends `n` events; `tag` makes two logs' records differ.
    pub fn append(&self, n: u64, tag: &str) {
        let mut log = self.open();
        for i in 0..n {
            log.append(
                &AuditEvent::custom(
                    "TestEvent",
                    Severity::Low,
                    Some("shard-0"),
                    serde_json::json!({ "i": i, "tag": tag }),
                )
                .unwrap(),
            )
            .unwrap();
        }
    }

    /// Appends `n` events in transactions of up to 1,000 (fast enough for
    /// tens of thousands); `tag` makes two logs' records differ.
    pub fn append_many(&self, n: u64, tag: &str) {
        let mut log = self.open();
        let mut done = 0;
        while done < n {
            let chunk: Vec<AuditEvent> = (done..n.min(done + 1_000))
                .map(|i| {
                    AuditEvent::custom(
                        "TestEvent",
                        Severity::Low,
                        Some("shard-0"),
                        serde_json::json!({ "i": i, "tag": tag }),
                    )
                    .unwrap()
                })
                .collect();
            done += chunk.len() as u64;
            log.append_batch(&chunk).unwrap();
        }
    }

    /// A checkpoint note of the first `size` records signed with `key`
    /// (not stored in the log).
    pub fn note_at(&self, size: u64, key: &SignerKey) -> String {
        let root = audit_core::PublicLog::open(&self.db)
            .unwrap()
            .tree_root(size)
            .unwrap();
        let note = audit_core::tlog::Checkpoint::new(&self.origin(), size, root)
            .unwrap()
            .sign(key)
            .unwrap();
        String::from_utf8(note.to_bytes()).unwrap()
    }

    /// An `/ingest` body: records `from..=to` ending at `note`.
    pub fn batch(&self, from: u64, to: u64, note: &str) -> Vec<u8> {
        let records = audit_core::PublicLog::open(&self.db)
            .unwrap()
            .records(from, to)
            .unwrap();
        let mut body = serde_json::to_vec(&serde_json::json!({
            "origin": self.origin(),
            "from": from,
            "to": to,
            "checkpoint": note,
        }))
        .unwrap();
        body.push(b'\n');
        for record in &records {
            serde_json::to_writer(&mut body, record).unwrap();
            body.push(b'\n');
        }
        body
    }

    /// Copies the log's files to `dir` (a snapshot to put back later).
    pub fn save(&self, dir: &Path) {
        for suffix in ["", "-wal"] {
            let from = PathBuf::from(format!("{}{suffix}", self.db.display()));
            let to = dir.join(format!("audit.db{suffix}"));
            let _ = std::fs::remove_file(&to);
            if from.exists() {
                std::fs::copy(&from, &to).unwrap();
            }
        }
    }

    /// Puts back the files `save` copied to `dir`: the log as it was.
    pub fn restore(&self, dir: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
        for suffix in ["", "-wal"] {
            let from = dir.join(format!("audit.db{suffix}"));
            if from.exists() {
                std::fs::copy(&from, format!("{}{suffix}", self.db.display())).unwrap();
            }
        }
    }

    /// Signs a checkpoint of the whole tree with its key: the note.
    pub fn sign(&self) -> String {
        self.open().signed_checkpoint(&self.key).unwrap()
    }

    /// The add-checkpoint body from `old` to the checkpoint `note`.
    pub fn request(&self, old: u64, note: &str) -> Vec<u8> {
        self.open()
            .add_checkpoint_request(old, Some(note))
            .unwrap()
            .to_bytes()
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.open().tree_size().unwrap()
    }

    /// Submits the latest checkpoint (signed now) to `collector` with the
    /// real witness client.
    pub fn submit(&self, collector: &TestCollector) -> audit_ship::witness::Outcome {
        let note = self.sign();
        let mut log = self.open();
        let size = log.tree_size().unwrap();
        audit_ship::witness::submit(
            &mut log,
            &collector.witness(),
            &note,
            size,
            Duration::from_secs(30),
        )
        .unwrap()
    }
}

/// The `vram-auditd` binary, no `DATABASE_URL`/`RUST_LOG` of the caller's.
pub fn auditd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vram-auditd"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE");
    command
}

/// Runs `vram-auditd --database-url URL ARGS`.
pub fn auditd_on(url: &str, args: &[&str]) -> Output {
    auditd()
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

/// Standard output then standard error.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A `vram-auditd serve` process on a fixed address.
pub struct Auditd {
    child: std::process::Child,
}

impl Auditd {
    pub fn start(database_url: &str, key_file: &std::path::Path, listen: &str) -> Self {
        let mut child = auditd()
            .arg("--database-url")
            .arg(database_url)
            .arg("--witness-key")
            .arg(key_file)
            .args(["serve", "--listen", listen])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.starts_with("listening on http://"), "{first}");
        Self { child }
    }

    /// SIGKILL: no graceful shutdown, whatever is in flight.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A witness key file made by `vram-auditd keygen` in `dir`.
pub fn witness_key_file(dir: &Path) -> PathBuf {
    let key_file = dir.join("witness.key");
    let out = auditd()
        .args(["keygen", "--out"])
        .arg(&key_file)
        .args(["--name", "collector.test/w1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    key_file
}

/// A loopback address nothing listens on (now).
pub fn free_address() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().to_string()
}

/// The `vramctl` binary cargo built beside this test binary (`cargo build
/// -p vramctl` with the same target directory), or `None` where it was not
/// built. Under `cargo xtask ci` (`VRAM_REQUIRE_TOOLS=1`, which builds the
/// whole workspace) a missing binary fails the test instead of skipping.
pub fn vramctl() -> Option<std::path::PathBuf> {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("vramctl")))
        .filter(|path| path.is_file());
    if path.is_none() && std::env::var_os("VRAM_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
        panic!(
            "vramctl is not built beside this test, and VRAM_REQUIRE_TOOLS=1 requires it: cargo build -p vramctl"
        );
    }
    path
}
