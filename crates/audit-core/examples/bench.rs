//! `cargo run --release -p audit-core --example bench [--events N] [--payload-bytes B]`
//!
//! Thin wrapper over [`audit_core::bench::run`]: prints the figures, then one
//! JSON object as the last line.
#![allow(clippy::print_stdout)]

use audit_core::bench::{BenchConfig, run};

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
            "-h" | "--help" => {
                println!(
                    "usage: bench [--events N (200000)] [--payload-bytes B (300)] [--no-send]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}; see --help").into()),
        }
    }
    let r = run(&config)?;
    println!("events                 {}", r.events);
    println!("written                {}", r.written);
    println!("dropped                {}", r.dropped);
    println!("emit+flush events/s    {:.0}", r.events_per_s);
    println!("baseline rows/s        {:.0}", r.baseline_rows_per_s);
    println!("ratio to baseline      {:.2}", r.ratio_to_baseline);
    println!("send_blocking events/s {:.0}", r.send_events_per_s);
    println!("verify records/s       {:.0}", r.verify_records_per_s);
    println!("emit p99               {:.2} us", r.emit_p99_us);
    println!("critical flush p99     {:.0} us", r.critical_flush_p99_us);
    println!("{}", serde_json::to_string(&r)?);
    if r.written != r.events {
        return Err(format!("written {} != events {}", r.written, r.events).into());
    }
    Ok(())
}
