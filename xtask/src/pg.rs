//! `cargo xtask pg -- COMMAND...`, and the throwaway PostgreSQL that the
//! `ci` test step runs under.
//!
//! The server is `test-support/pg_server.rs` (shared with the tests): a
//! temporary directory, `initdb` and `pg_ctl` (as the `postgres` user when
//! we are root), 127.0.0.1 on a free port, stopped and removed afterwards
//! whatever the command's outcome. The command gets
//! `DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres` and
//! `VRAM_REQUIRE_POSTGRES=1`, so a test that needs the server fails rather
//! than skips when it is missing.

use std::process::{Command, ExitCode};

#[allow(dead_code)]
#[path = "../../test-support/pg_server.rs"]
mod pg_server;

pub use pg_server::{DATABASE_URL, PgServer, REQUIRE_POSTGRES};

/// Starts a throwaway server and says so, with how long it took.
pub fn start(for_what: &str) -> Result<PgServer, String> {
    println!("xtask: starting a throwaway PostgreSQL for {for_what}");
    let server = PgServer::start()?;
    println!(
        "xtask: PostgreSQL started on 127.0.0.1:{} in {:.2}s ({}={})",
        server.port(),
        server.startup().as_secs_f64(),
        DATABASE_URL,
        server.url()
    );
    Ok(server)
}

/// Stops the server and says so.
pub fn stop(mut server: PgServer) {
    let port = server.port();
    match server.stop() {
        Ok(()) => println!("xtask: PostgreSQL on 127.0.0.1:{port} stopped and removed"),
        Err(e) => eprintln!("xtask: stopping PostgreSQL on 127.0.0.1:{port}: {e}"),
    }
}

/// The environment a command under the server gets.
pub fn env(server: &PgServer) -> [(&'static str, String); 2] {
    [
        (DATABASE_URL, server.url()),
        (REQUIRE_POSTGRES, "1".to_owned()),
    ]
}

/// `cargo xtask pg [--] COMMAND [ARGS...]`: runs the command under a
/// throwaway server and exits with its code.
pub fn run(args: &[String]) -> ExitCode {
    let args = match args.first().map(String::as_str) {
        Some("--") => args.get(1..).unwrap_or_default(),
        _ => args,
    };
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: cargo xtask pg -- COMMAND [ARGS...]");
        return ExitCode::from(2);
    };
    let server = match start(&format!("`{}`", args.join(" "))) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("xtask pg: cannot start PostgreSQL: {e}");
            return ExitCode::from(2);
        }
    };
    let status = Command::new(program).args(rest).envs(env(&server)).status();
    stop(server);
    match status {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => {
                eprintln!("xtask pg: `{program}` was ended by a signal ({status})");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("xtask pg: cannot run `{program}`: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// COL-DB-002: the throwaway server starts on 127.0.0.1, answers, and
    /// once stopped no longer listens and its directory is gone. Without
    /// PostgreSQL installed this says it did not run (and fails under
    /// `VRAM_REQUIRE_POSTGRES=1`).
    #[test]
    fn col_db_002_throwaway_server_starts_answers_and_is_removed() {
        if let Err(e) = pg_server::pg_bin_dir() {
            if std::env::var(REQUIRE_POSTGRES).is_ok_and(|v| v == "1") {
                panic!("{e}");
            }
            eprintln!("PostgreSQL tests did not run: {e}");
            return;
        }
        let mut server = PgServer::start().unwrap();
        let port = server.port();
        assert_eq!(
            pg_server::psql(&server.url(), "SELECT 40 + 2")
                .unwrap()
                .trim(),
            "42"
        );
        assert!(server.startup().as_secs() < 60);
        let shown = |url: &str, setting: &str| {
            pg_server::psql(url, &format!("SHOW {setting}"))
                .unwrap()
                .trim()
                .to_owned()
        };
        assert!(!server.durable());
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            assert_eq!(shown(&server.url(), setting), "off", "{setting}");
        }
        // The benchmarks' server keeps PostgreSQL's durable defaults.
        let durable = PgServer::start_durable().unwrap();
        assert!(durable.durable());
        for setting in ["fsync", "synchronous_commit", "full_page_writes"] {
            assert_eq!(shown(&durable.url(), setting), "on", "{setting}");
        }
        drop(durable);
        let made = pg_server::psql(&server.url(), "SHOW data_directory").unwrap();
        let dir = std::path::PathBuf::from(made.trim());
        assert!(dir.is_dir());
        server.stop().unwrap();
        assert!(!dir.exists(), "{}", dir.display());
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        // Stopping again (as Drop does) is harmless.
        server.stop().unwrap();
    }
}
