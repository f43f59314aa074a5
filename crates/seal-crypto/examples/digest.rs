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
//! `--rounds`, default 5) beside `sha256sum` on the same file in the same run;
//! `--json` adds a machine-readable last line.
#![allow(clippy::print_stdout)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

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
    Ok(Args { file, chunked_only, bench, json, rounds })
}

fn plain(path: &Path) -> std::io::Result<Digest> {
    Ok(sha256_reader(File::open(path)?)?.0)
}

fn chunked(path: &Path) -> std::io::Result<Digest> {
    Ok(ChunkTree::from_file(&File::open(path)?)?.root())
}

fn sha256sum(path: &Path) -> Result<String, String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run sha256sum: {e}"))?;
    if !out.status.success() {
        return Err(format!("sha256sum failed: {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| "sha256sum printed nothing".to_owned())
}

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds.get(seconds.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let start = Instant::now();
    let value = f()?;
    Ok((value, start.elapsed().as_secs_f64()))
}

fn bench(args: &Args) -> Result<(), String> {
    let bytes = std::fs::metadata(&args.file).map_err(|e| e.to_string())?.len();
    let io = |e: std::io::Error| e.to_string();
    // Warm the page cache so every method reads from memory alike.
    plain(&args.file).map_err(io)?;
    let (mut t_sum, mut t_plain, mut t_chunked) = (vec![], vec![], vec![]);
    let (mut d_sum, mut d_plain, mut d_root) = (String::new(), None, None);
    for _ in 0..args.rounds {
        let (d, t) = timed(|| sha256sum(&args.file))?;
        (d_sum, t_sum) = (d, [t_sum, vec![t]].concat());
        let (d, t) = timed(|| plain(&args.file).map_err(io))?;
        d_plain = Some(d);
        t_plain.push(t);
        let (d, t) = timed(|| chunked(&args.file).map_err(io))?;
        d_root = Some(d);
        t_chunked.push(t);
    }
    let gbps = |t: f64| bytes as f64 / t / 1e9;
    let (s, p, c) = (median(t_sum), median(t_plain), median(t_chunked));
    let d_plain = d_plain.map(|d| d.to_string()).unwrap_or_default();
    if d_plain != d_sum {
        return Err(format!("plain digest {d_plain} differs from sha256sum {d_sum}"));
    }
    let threads = rayon::current_num_threads();
    println!(
        "file: {} ({:.2} GiB), median of {} rounds, {threads} threads",
        args.file.display(),
        bytes as f64 / (1u64 << 30) as f64,
        args.rounds
    );
    println!("sha256sum (baseline)  {:>7.3} GB/s  {s:.3} s", gbps(s));
    println!("plain digest          {:>7.3} GB/s  {p:.3} s  {:.2}x sha256sum", gbps(p), s / p);
    println!("chunked root          {:>7.3} GB/s  {c:.3} s  {:.2}x sha256sum", gbps(c), s / c);
    println!("plain digest equals sha256sum: {d_plain}");
    if let Some(root) = d_root {
        println!("chunked root: {root}");
    }
    if args.json {
        println!(
            "{{\"bytes\":{bytes},\"rounds\":{},\"threads\":{threads},\"sha256sum_gbps\":{:.4},\"plain_gbps\":{:.4},\"chunked_gbps\":{:.4},\"plain_vs_sha256sum\":{:.4},\"chunked_vs_sha256sum\":{:.4}}}",
            args.rounds,
            gbps(s),
            gbps(p),
            gbps(c),
            s / p,
            s / c
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
        (plain.join().map_err(|_| "plain digest thread failed".to_owned()), root)
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
