//! A JSON-lines interface to the marketplace contract rules, for checking
//! them from outside: one operation per stdin line, one JSON answer per
//! stdout line.
//!
//! ```sh
//! cargo run --example marketplace-cli --features market,redb -- [--store mem|redb:PATH] [--config JSON] [--verbose]
//! cargo run --example marketplace-cli --features market,redb -- --help
//! ```
//!
//! `--store` defaults to a fresh marketplace in memory (its clock at 0); a
//! redb file keeps the chain across runs. `--config` replaces the default
//! configuration (`tally_market::marketplace::cli::default_config`: the
//! contract's defaults without downtime) with a `MarketplaceConfig` in
//! JSON; `--verbose` writes why a line was refused to stderr. The
//! operations and answers are documented in `tally_market::marketplace::cli`
//! (the handler this program wraps), for example:
//!
//! ```text
//! {"op":"mint","account":"0x1111111111111111111111111111111111111111","amount":"1000000"}
//! {"ok":{"events":[]}}
//! {"op":"advance","seconds":60}
//! {"ok":{"now":60}}
//! {"op":"withdraw_funds","client":"0x1111111111111111111111111111111111111111","request_id":"0x…"}
//! {"error":"unknown_request"}
//! ```

use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tally::market::marketplace::MarketplaceConfig;
use tally::market::marketplace::cli::{MarketplaceCli, default_config};
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

const HELP: &str = r#"marketplace-cli: a JSON-lines interface to the storage marketplace contract's rules (a simulated chain).

usage: cargo run --features market,redb --example marketplace-cli -- [OPTIONS] < requests
       marketplace-cli [--store mem|redb:PATH] [--config JSON] [--verbose]

options:
  --store mem        a fresh marketplace in memory, its clock at 0 (the default)
  --store redb:PATH  a redb file, created if missing, that keeps the chain across runs
  --config JSON      a MarketplaceConfig in JSON instead of the default
                     (tally_market::marketplace::cli::default_config: the contract's
                     defaults without downtime)
  --verbose          write why a line was refused to stderr
  -h, --help         print this text

One operation per stdin line, one answer per stdout line: {"ok": ...} or
{"error": KIND}. The operations (mint, request_storage, reserve_slot, fill_slot,
free_slot, submit_proof, mark_proof_as_missing, withdraw_funds, advance, state)
are documented in tally_market::marketplace::cli. For example:
  {"op":"mint","account":"0x1111111111111111111111111111111111111111","amount":"1000000"}
answers
  {"ok":{"events":[]}}
and
  {"op":"advance","seconds":60}
answers
  {"ok":{"now":60}}
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
    let mut config = default_config();
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => match args.next() {
                Some(value) => store_arg = value,
                None => return usage("--store needs a value"),
            },
            "--config" => match args.next().map(|json| serde_json::from_str::<MarketplaceConfig>(&json)) {
                Some(Ok(value)) => config = value,
                Some(Err(error)) => return usage(&format!("--config: {error}")),
                None => return usage("--config needs a JSON configuration"),
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
                eprintln!("marketplace-cli: cannot open {path}: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        return usage(&format!("unknown store {store_arg:?}"));
    };
    let mut cli = match MarketplaceCli::open(store, config, session()) {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("marketplace-cli: {error}");
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
                eprintln!("marketplace-cli: reading stdin: {error}");
                return ExitCode::FAILURE;
            }
        };
        if verbose && let Some(reason) = cli.last_error() {
            eprintln!("marketplace-cli: {reason}");
        }
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("marketplace-cli: {problem}\n\n{HELP}");
    ExitCode::from(2)
}
