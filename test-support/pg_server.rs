//! A throwaway PostgreSQL server, and one fresh database per test.
//!
//! [`PgServer::start`] makes a temporary directory, runs `initdb` in it
//! and starts the server with `pg_ctl` on 127.0.0.1 and a free port (its
//! Unix socket in the same directory, never `/var/run/postgresql`), with
//! `fsync=off`: what it holds is thrown away ([`PgServer::start_durable`]
//! keeps PostgreSQL's durable defaults instead, for benchmarks whose
//! figures say "durable"). As root, `initdb` and
//! `pg_ctl` run as the `postgres` user (`runuser -u postgres --`), since
//! PostgreSQL refuses to run as root; the directory is handed to that
//! user. Dropping the server stops it (`pg_ctl stop -m immediate`) and
//! removes the directory.
//!
//! [`test_database`] is what a test calls: given the server in
//! `DATABASE_URL` (which `cargo xtask pg` and `cargo xtask ci` set), it
//! creates a database of its own (`t_<pid>_<counter>`), dropped when the
//! test ends, so tests are isolated and run in parallel. Without
//! `DATABASE_URL` the test did not run and says so on stderr; with
//! `VRAM_REQUIRE_POSTGRES=1` it fails instead (a gate never passes
//! silently).
//!
//! Shared by the tests (`#[path]`) and by `xtask` (`xtask/src/pg.rs`), so
//! it uses the standard library only, and `psql` for the one statement it
//! sends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian puts the server programs: `/usr/lib/postgresql/<major>/bin`.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The environment variable that names the server tests use.
pub const DATABASE_URL: &str = "DATABASE_URL";

/// Set to `1` (by `cargo xtask pg` and `ci`): a test without a server fails.
pub const REQUIRE_POSTGRES: &str = "VRAM_REQUIRE_POSTGRES";

/// What a test prints when it did not run.
pub const DID_NOT_RUN: &str = "PostgreSQL tests did not run: DATABASE_URL is not set (cargo xtask ci starts a throwaway server)";

/// A running throwaway server; stopped and removed when dropped.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    startup: Duration,
    stopped: bool,
    durable: bool,
}

/// The directory of `initdb`, `pg_ctl`, `psql`: `$PG_BIN_DIR`, else the
/// newest `/usr/lib/postgresql/<major>/bin` that has `initdb`, else the
/// directory of an `initdb` on `PATH`.
pub fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_ROOT)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").is_file().then_some((major, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    majors.sort();
    if let Some((_, bin)) = majors.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").is_file())
        .ok_or_else(|| {
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: `apt-get install -y --no-install-recommends postgresql` (or set PG_BIN_DIR)".to_owned()
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `program` (from `bin`) with `args` in `dir` (the server's own
/// directory: `postgres` may not enter ours), as `postgres` when asked.
fn run_pg(
    bin: &Path,
    as_postgres: bool,
    dir: &Path,
    program: &str,
    args: &[&str],
) -> Result<Output, String> {
    let path = bin.join(program);
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        // The server inherits neither our locale nor a PGDATA of ours.
        .env("LC_ALL", "C")
        .env_remove("PGDATA")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))
}

fn check(output: Output, what: &str) -> Result<Output, String> {
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

fn unique_suffix() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

impl PgServer {
    /// Starts a throwaway server (see the module's doc) with `fsync`,
    /// `synchronous_commit` and `full_page_writes` off: fast, and nothing
    /// it holds survives a crash of the machine.
    pub fn start() -> Result<Self, String> {
        Self::start_with(false)
    }

    /// Starts a throwaway server as [`Self::start`] does, but with
    /// PostgreSQL's durable defaults (`fsync`, `synchronous_commit` and
    /// `full_page_writes` on): a commit is on disk when it returns.
    pub fn start_durable() -> Result<Self, String> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<Self, String> {
        let started = Instant::now();
        let bin = pg_bin_dir()?;
        let as_postgres = is_root();
        let dir = std::env::temp_dir().join(format!("vram-pg-{}", unique_suffix()));
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut server = Self {
            bin,
            dir,
            port: 0,
            as_postgres,
            startup: Duration::ZERO,
            // Nothing to stop until pg_ctl started it.
            stopped: true,
            durable,
        };
        let durability = if durable {
            ""
        } else {
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        if as_postgres {
            // PostgreSQL refuses to run as root: the directory is postgres's.
            check(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&server.dir)
                    .output()
                    .map_err(|e| format!("cannot run chown: {e}"))?,
                "chown postgres of the server's directory (is there a `postgres` user? the Debian package makes one)",
            )?;
        }
        let data = server.data_dir();
        let data_arg = data.display().to_string();
        check(
            run_pg(
                &server.bin,
                as_postgres,
                &server.dir,
                "initdb",
                &[
                    "-D",
                    &data_arg,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
            )?,
            "initdb",
        )?;
        let log = server.dir.join("server.log").display().to_string();
        let socket_dir = server.dir.display().to_string();
        // Another process may take the port between our look and the
        // server's bind: try a few.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={socket_dir} {durability} -c max_connections=200"
            );
            let output = run_pg(
                &server.bin,
                as_postgres,
                &server.dir,
                "pg_ctl",
                &[
                    "-D", &data_arg, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
                ],
            )?;
            if output.status.success() {
                server.port = port;
                server.stopped = false;
                server.startup = started.elapsed();
                return Ok(server);
            }
            last_error = format!(
                "pg_ctl start failed ({}): {}{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Err(last_error)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's URL, as the `postgres` superuser, database `postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it keeps PostgreSQL's durable defaults
    /// ([`Self::start_durable`]).
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// How long `initdb` and the start took.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// Restarts the server (`pg_ctl restart -m immediate`: every
    /// connection is cut, as in a crash) on the same port, with the same
    /// options, and waits until it accepts connections again.
    pub fn restart(&self) -> Result<(), String> {
        if self.stopped {
            return Err("the throwaway PostgreSQL is not running".to_owned());
        }
        let data = self.data_dir().display().to_string();
        let log = self.dir.join("server.log").display().to_string();
        run_pg(
            &self.bin,
            self.as_postgres,
            &self.dir,
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log,
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        )
        .and_then(|o| check(o, "pg_ctl restart"))
        .map(drop)
    }

    /// Stops the server now (`pg_ctl stop -m immediate`) and removes its
    /// directory; what `Drop` does, with the error to show.
    pub fn stop(&mut self) -> Result<(), String> {
        let mut result = Ok(());
        if !self.stopped {
            self.stopped = true;
            let data = self.data_dir().display().to_string();
            result = run_pg(
                &self.bin,
                self.as_postgres,
                &self.dir,
                "pg_ctl",
                &["-D", &data, "-m", "immediate", "-w", "stop"],
            )
            .and_then(|o| check(o, "pg_ctl stop"))
            .map(drop);
        }
        if self.dir.exists() {
            let removed = std::fs::remove_dir_all(&self.dir)
                .map_err(|e| format!("cannot remove {}: {e}", self.dir.display()));
            result = result.and(removed);
        }
        result
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("throwaway PostgreSQL: {e}");
        }
    }
}

/// `url` with its database (the path) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base
        .get(authority_start..)
        .and_then(|rest| rest.find('/'))
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", base.get(..path_start).unwrap_or(base));
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Runs one SQL statement with `psql` against `url`.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let bin = pg_bin_dir()?;
    let program = if bin.join("psql").is_file() {
        bin.join("psql")
    } else {
        PathBuf::from("psql")
    };
    let output = Command::new(&program)
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-d",
            url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    check(output, &format!("psql -c {sql:?}"))
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A database of one test on the server of `DATABASE_URL`; dropped (with
/// its connections) when the test ends.
#[derive(Debug)]
pub struct TestDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.server_url, &sql) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// A fresh database for `test` on the server of `DATABASE_URL`, or `None`
/// after printing that the test did not run. Panics (the test fails) when
/// `VRAM_REQUIRE_POSTGRES=1` and there is no server, or when the database
/// cannot be made.
#[allow(clippy::panic)]
pub fn test_database(test: &str) -> Option<TestDatabase> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let Ok(server_url) = std::env::var(DATABASE_URL) else {
        if std::env::var(REQUIRE_POSTGRES).is_ok_and(|v| v == "1") {
            panic!(
                "{test}: {REQUIRE_POSTGRES}=1 but {DATABASE_URL} is not set: run the tests under `cargo xtask pg -- cargo test ...` (or `cargo xtask ci`), which start a throwaway PostgreSQL"
            );
        }
        // Past the test harness's capture, so it is seen in every run.
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{DID_NOT_RUN} ({test})");
        return None;
    };
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    // A leftover of a dead process that had our pid is ours to replace.
    let made = psql(
        &server_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .and_then(|_| psql(&server_url, &format!("CREATE DATABASE {name}")));
    if let Err(e) = made {
        panic!("{test}: cannot create a test database on the server of {DATABASE_URL}: {e}");
    }
    Some(TestDatabase {
        url: with_database(&server_url, &name),
        name,
        server_url,
    })
}
