//! `ledger-cli`: a JSON-lines interface to tally-ledger, for checking it
//! against TigerBeetle line by line.
//!
//! ```text
//! cargo run --example ledger-cli --features ledger,redb,postgres -- [--store mem|redb:PATH|postgres:URL] < requests
//! cargo run --example ledger-cli --features ledger,redb,postgres -- --help
//! ```
//!
//! One request per line on stdin, one JSON value per line on stdout; the
//! requests and answers are described in `tally::ledger::jsonl` (for example
//! `{"op":"create_account","id":"1","ledger":1,"code":10,"flags":[]}`
//! answers `"created"`). A malformed line gets `{"error": "..."}` and the
//! tool goes on. The default store is a fresh in-memory ledger.

use std::io::{BufRead, Write};

use tally::ledger::Ledger;
use tally::ledger::jsonl::Session;
use tally::postgres::PgStore;
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

const HELP: &str = r#"ledger-cli: a JSON-lines interface to tally-ledger (TigerBeetle's two-phase ledger).

usage: cargo run --features ledger,redb,postgres --example ledger-cli -- [--store STORE] < requests
       ledger-cli [--store mem|redb:PATH|postgres:URL]

options:
  --store mem           a fresh ledger in memory (the default)
  --store redb:PATH     a redb file, created if missing
  --store postgres:URL  a PostgreSQL database, e.g. postgres:postgres://postgres@127.0.0.1:5432/test
  -h, --help            print this text

One request per stdin line, one JSON answer per stdout line (the requests
are documented in tally::ledger::jsonl: create_account(s), create_transfer(s),
lookup_account, lookup_transfer, get_account_transfers, get_account_balances,
advance, ...). A malformed line answers {"error": "..."} and the tool goes on.
For example:
  {"op":"create_account","id":"1","ledger":1,"code":10,"flags":[]}
answers
  "created"
and then
  {"op":"lookup_account","id":"1"}
answers
  {"debits_pending":"0","debits_posted":"0","credits_pending":"0","credits_posted":"0"}
"#;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{HELP}");
        return;
    }
    let store = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] | ["--store", "mem"] => "mem".to_owned(),
        ["--store", spec] => (*spec).to_owned(),
        _ => usage(&format!("unexpected arguments {args:?}")),
    };
    let result = if store == "mem" {
        run(Session::new(Ledger::new(MemStore::new())));
        Ok(())
    } else if let Some(path) = store.strip_prefix("redb:") {
        RedbStore::open(path)
            .map(|store| run(Session::new(Ledger::new(store))))
            .map_err(|error| error.to_string())
    } else if let Some(url) = store.strip_prefix("postgres:") {
        PgStore::connect(url)
            .map(|store| run(Session::new(Ledger::new(store))))
            .map_err(|error| error.to_string())
    } else {
        usage(&format!("unknown store {store:?}"))
    };
    if let Err(error) = result {
        eprintln!("ledger-cli: cannot open the store {store:?}: {error}");
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("ledger-cli: {problem}\n\n{HELP}");
    std::process::exit(2);
}

fn run<S: Store>(mut session: Session<S>) {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                eprintln!("ledger-cli: reading stdin: {error}");
                std::process::exit(1);
            }
        }
        let answer = match std::str::from_utf8(&line) {
            Ok(text) => session.handle_line(text.trim_end_matches(['\n', '\r'])),
            Err(_) => r#"{"error":"line is not UTF-8"}"#.to_owned(),
        };
        if writeln!(stdout, "{answer}").and_then(|()| stdout.flush()).is_err() {
            return; // the reader went away
        }
    }
}
