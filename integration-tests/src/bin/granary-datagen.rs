//! `granary-datagen KIND SIZE [--seed N]`: deterministic test data on stdout for the demo and
//! the benchmark. KIND is `access-log` (nginx combined format), `words`, or `records`
//! (100-byte TeraSort-style lines).

use std::io::{BufWriter, Write};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use granary_client::size::parse_size;
use granary_integration_tests::datagen;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    AccessLog,
    Words,
    Records,
}

#[derive(Parser)]
#[command(about = "Deterministic test data for Granary jobs")]
struct Args {
    kind: Kind,
    /// Bytes to write, e.g. 100M, 2G.
    #[arg(value_parser = |s: &str| parse_size(s).map_err(|e| e.message))]
    size: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    match args.kind {
        Kind::AccessLog => datagen::access_log(&mut out, args.size, args.seed),
        Kind::Words => datagen::words(&mut out, args.size, args.seed),
        Kind::Records => datagen::records(&mut out, args.size, args.seed),
    }
    .and_then(|_| out.flush())
    .context("writing to stdout")?;
    Ok(())
}
