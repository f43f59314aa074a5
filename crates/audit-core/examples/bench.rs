//! `cargo run --release -p audit-core --example bench [--events N] [--payload-bytes B] [--no-send] [--proof-leaves N]`
//!
//! Thin wrapper over [`audit_core::bench::run`]: prints the figures, then one
//! JSON object as the last line.
#![allow(clippy::print_stdout)]

use audit_core::bench::{BenchConfig, ProofConfig, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = BenchConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => config.events = args.next().ok_or("--events needs a number")?.parse()?,
            "--payload-bytes" => {
                config.payload_bytes = args
                    .next()
                    .ok_or("--payload-bytes needs a number")?
                    .parse()?;
            }
            "--no-send" => config.measure_send = false,
            "--proof-leaves" => {
                let leaves: u64 = args
                    .next()
                    .ok_or("--proof-leaves needs a number (0: skip)")?
                    .parse()?;
                config.proofs = (leaves > 0).then(|| ProofConfig {
                    leaves,
                    ..ProofConfig::default()
                });
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench [--events N (200000)] [--payload-bytes B (300)] [--no-send] [--proof-leaves N (10000000; 0: skip)]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}; see --help").into()),
        }
    }
    let r = run(&config)?;
    println!("{r}");
    println!("{}", serde_json::to_string(&r)?);
    if r.written != r.events {
        return Err(format!("written {} != events {}", r.written, r.events).into());
    }
    Ok(())
}
