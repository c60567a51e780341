//! A JSON-lines interface to the tally-market reservations, for checking
//! them from outside: one operation per stdin line, one JSON answer per
//! stdout line.
//!
//! ```sh
//! cargo run --example market-cli --features market,redb -- [--store mem|redb:PATH] [--quota BYTES] [--verbose]
//! cargo run --example market-cli --features market,redb -- --help
//! ```
//!
//! `--store` defaults to a fresh store in memory, `--quota` to
//! 1,000,000,000 bytes; `--verbose` writes why a line was refused to
//! stderr. The operations and answers are documented in
//! `tally_market::cli` (the handler this program wraps), for example:
//!
//! ```text
//! {"op":"create_availability","id":"01…01","total_size":1000,"duration":3600,"min_price_per_byte_per_second":"1","total_collateral":"1000","enabled":true,"until":0}
//! {"ok":{"id":"01…01","total_size":1000,"free_size":1000,"total_remaining_collateral":"1000","enabled":true,"until":0}}
//! {"op":"fail_next_commit","after_write":true}
//! {"ok":null}
//! ```

use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tally::market::cli::MarketCli;
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

const HELP: &str = r#"market-cli: a JSON-lines interface to the tally-market reservations (a storage host's availabilities).

usage: cargo run --features market,redb --example market-cli -- [OPTIONS] < requests
       market-cli [--store mem|redb:PATH] [--quota BYTES] [--verbose]

options:
  --store mem        a fresh store in memory (the default)
  --store redb:PATH  a redb file, created if missing, kept across runs
  --quota BYTES      the host's quota (default 1000000000)
  --verbose          write why a line was refused to stderr
  -h, --help         print this text

One operation per stdin line, one answer per stdout line: {"ok": ...} or
{"error": KIND}. The operations (create_availability, update_availability,
delete_availability, create_reservation, release, return_bytes,
delete_reservation, find, state, fail_next_commit) are documented in
tally_market::cli. For example:
  {"op":"create_availability","id":"0101010101010101010101010101010101010101010101010101010101010101","total_size":1000,"duration":3600,"min_price_per_byte_per_second":"1","total_collateral":"1000"}
answers
  {"ok":{"enabled":true,"free_size":1000,"id":"0101010101010101010101010101010101010101010101010101010101010101","total_remaining_collateral":"1000","total_size":1000,"until":0}}
and
  {"op":"frob"}
answers
  {"error":"invalid"}
"#;

/// 32 bytes no other run shares: the std hasher's random keys and the clock.
fn session() -> [u8; 32] {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_usize(i);
        hasher.write_u32(std::process::id());
        chunk.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    out
}

fn main() -> ExitCode {
    let mut store_arg = "mem".to_owned();
    let mut quota: u64 = 1_000_000_000;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => match args.next() {
                Some(value) => store_arg = value,
                None => return usage("--store needs a value"),
            },
            "--quota" => match args.next().and_then(|v| v.replace(['_', ','], "").parse().ok()) {
                Some(value) => quota = value,
                None => return usage("--quota needs a number of bytes"),
            },
            "--verbose" => verbose = true,
            "--help" | "-h" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let store: Box<dyn Store> = if store_arg == "mem" {
        Box::new(MemStore::new())
    } else if let Some(path) = store_arg.strip_prefix("redb:") {
        match RedbStore::open(path) {
            Ok(store) => Box::new(store),
            Err(error) => {
                eprintln!("market-cli: cannot open {path}: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        return usage(&format!("unknown store {store_arg:?}"));
    };
    let mut cli = match MarketCli::open(store, quota, session()) {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("market-cli: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let answer = match line {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => cli.handle_line(line.trim_end_matches('\r')),
            // Not UTF-8: answer and go on.
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => r#"{"error":"invalid"}"#.to_owned(),
            Err(error) => {
                eprintln!("market-cli: reading stdin: {error}");
                return ExitCode::FAILURE;
            }
        };
        if verbose && let Some(reason) = cli.last_error() {
            eprintln!("market-cli: {reason}");
        }
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("market-cli: {problem}\n\n{HELP}");
    ExitCode::from(2)
}
