//! Prints the plain digest and the chunked root of a file, streaming it.
//!
//! ```text
//! cargo run --release -p seal-crypto --example digest -- FILE            # both
//! cargo run --release -p seal-crypto --example digest -- --chunked FILE  # root only
//! cargo run --release -p seal-crypto --example digest -- --bench FILE    # vs sha256sum
//! ```
//!
//! The plain digest line has the form `sha256sum` prints (`HEX  FILE`), so the
//! two can be compared with `diff`. Memory stays flat for any file size: the
//! plain digest reads through a 1 MiB buffer and the chunked root holds one
//! 1 MiB chunk per worker thread. `--bench` times each method (median of
//! `--rounds`, default 5) beside `sha256sum` on the same file in the same run
//! (the measurement is `seal_crypto::bench::digest_throughput`, shared with
//! `vramctl bench digest`); `--json` adds a machine-readable last line.
#![allow(clippy::print_stdout)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use seal_crypto::bench::digest_throughput;
use seal_crypto::{ChunkTree, Digest, sha256_reader};

struct Args {
    file: PathBuf,
    chunked_only: bool,
    bench: bool,
    json: bool,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut file = None;
    let (mut chunked_only, mut bench, mut json, mut rounds) = (false, false, false, 5);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--chunked" => chunked_only = true,
            "--bench" => bench = true,
            "--json" => json = true,
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--rounds needs a positive number")?;
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            path => file = Some(PathBuf::from(path)),
        }
    }
    let file = file.ok_or("no FILE given")?;
    Ok(Args {
        file,
        chunked_only,
        bench,
        json,
        rounds,
    })
}

fn plain(path: &Path) -> std::io::Result<Digest> {
    Ok(sha256_reader(File::open(path)?)?.0)
}

fn chunked(path: &Path) -> std::io::Result<Digest> {
    Ok(ChunkTree::from_file(&File::open(path)?)?.root())
}

fn bench(args: &Args) -> Result<(), String> {
    let report = digest_throughput(&args.file, args.rounds).map_err(|e| e.to_string())?;
    println!("{report}");
    if args.json {
        println!(
            "{{\"bytes\":{},\"rounds\":{},\"threads\":{},\"sha256sum_gbps\":{:.4},\"plain_gbps\":{:.4},\"chunked_gbps\":{:.4},\"plain_vs_sha256sum\":{:.4},\"chunked_vs_sha256sum\":{:.4}}}",
            report.bytes,
            report.rounds,
            report.threads,
            report.sha256sum_gbps,
            report.plain_gbps,
            report.chunked_gbps,
            report.plain_vs_sha256sum,
            report.chunked_vs_sha256sum
        );
    }
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    let shown = args.file.display();
    let io = |e: std::io::Error| format!("{shown}: {e}");
    if args.bench {
        return bench(args);
    }
    if args.chunked_only {
        println!("{}  {shown}", chunked(&args.file).map_err(io)?);
        return Ok(());
    }
    // Both digests at once: the serial plain hash on its own thread, the
    // chunk hashes on the rayon pool.
    let (digest, root) = std::thread::scope(|scope| {
        let plain = scope.spawn(|| plain(&args.file));
        let root = chunked(&args.file);
        (
            plain
                .join()
                .map_err(|_| "plain digest thread failed".to_owned()),
            root,
        )
    });
    println!("{}  {shown}", digest?.map_err(io)?);
    println!("chunked-root:v1 {}  {shown}", root.map_err(io)?);
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("digest: {message}");
            }
            eprintln!("usage: digest [--chunked | --bench [--rounds N] [--json]] FILE");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("digest: {message}");
            ExitCode::from(2)
        }
    }
}
