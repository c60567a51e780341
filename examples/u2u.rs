//! `u2u`: TiMPE's load tool `u2u_transactions`, grown up, on tally-ledger's
//! user-to-user API.
//!
//! ```text
//! cargo run --release --example u2u --features ledger,redb,postgres -- --store redb:/tmp/u2u.redb seed
//! cargo run --release --example u2u --features ledger,redb,postgres -- --store redb:/tmp/u2u.redb run -t 200 -c 100
//! cargo run --release --example u2u --features ledger,redb,postgres -- --store redb:/tmp/u2u.redb report --json
//! cargo run --example u2u --features ledger,redb,postgres -- --help
//! ```
//!
//! Commands (the format is documented in `tally::ledger::u2u`):
//! `seed`, `run [-t N] [-c C] [-i] [--from A --to B]`, `process`,
//! `report [--json]`; `--store mem|redb:PATH|postgres:URL|etcd:HOST:PORT,...` (default `mem`,
//! a fresh store in memory, on which `run` seeds first). Several `run`s may
//! share one PostgreSQL database at once, after one `seed`.

use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tally::ledger::u2u::{self, Command, Invocation};
use tally::ledger::users::Users;
use tally::postgres::PgStore;
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

/// The text `--help` prints: what the tool does, how to run it, its
/// commands and options.
fn help() -> String {
    format!(
        "\
u2u: a load tool for tally-ledger's user-to-user API (TiMPE's u2u_transactions, grown up).

run it with: cargo run --features ledger,redb,postgres --example u2u -- [--store STORE] COMMAND
(add --release for real loads, and the etcd feature for --store etcd:...)

{usage}

stores (--store, before the command):
  mem                    a fresh store in memory (the default; run seeds it first)
  redb:PATH              a redb file, created if missing
  postgres:URL           a PostgreSQL database, e.g. postgres:postgres://postgres@127.0.0.1:5432/test
  etcd:HOST:PORT,...     an etcd cluster started with --max-txn-ops=1024 (feature etcd)

commands:
  seed                   reset, then register {users} with {balance} each
  run                    send the amounts 1..=N from one user to another
    -t N                 N transfers (default 200, at most {transfers})
    -c C                 on C threads (default 100, at most {threads})
    -i                   each transfer in both phases at once instead of phase one and a sweep
    --from A --to B      between these nicknames (default elon_musk to nikola_tesla)
  process                post everything pending
  report [--json]        print the balances, the total, the pending count and the audit
                         (--json: one JSON object)
  -h, --help             print this text

Several runs may share one PostgreSQL database or etcd cluster at once, after one seed.
",
        usage = u2u::USAGE,
        users = u2u::SEED_USERS.join(", "),
        balance = u2u::SEED_BALANCE,
        transfers = u2u::TRANSFERS_MAX,
        threads = u2u::THREADS_MAX,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{}", help());
        return;
    }
    let invocation = match u2u::parse_args(&args) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("u2u: {message}\n\n{}", help());
            std::process::exit(2);
        }
    };
    let spec = invocation.store.clone();
    let outcome = if spec == "mem" {
        execute(&Users::new(MemStore::new()), &invocation, true)
    } else if let Some(path) = spec.strip_prefix("redb:") {
        match RedbStore::open(path) {
            Ok(store) => execute(&Users::new(store), &invocation, false),
            Err(error) => Err(format!("cannot open the store {spec:?}: {error}")),
        }
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        match PgStore::connect(url) {
            Ok(store) => execute(&Users::new(store), &invocation, false),
            Err(error) => Err(format!("cannot open the store {spec:?}: {error}")),
        }
    } else if let Some(endpoints) = spec.strip_prefix("etcd:") {
        open_etcd(endpoints).and_then(|store| execute(&Users::new(store), &invocation, false))
    } else {
        Err(format!("unknown store {spec:?}\n{}", u2u::USAGE))
    };
    if let Err(message) = outcome {
        eprintln!("u2u: {message}");
        std::process::exit(1);
    }
}

/// An etcd cluster (`--store etcd:HOST:PORT,...`), keys under `tally-u2u/`.
/// The cluster must take transactions of up to 1,024 operations
/// (`--max-txn-ops=1024`, as `crates/tally-store-etcd/tests/etcd-cluster.sh`
/// starts it): a batch of the sweep can write that many records.
#[cfg(feature = "etcd")]
fn open_etcd(endpoints: &str) -> Result<tally::etcd::EtcdStore, String> {
    let options = tally::etcd::EtcdOptions {
        prefix: b"tally-u2u/".to_vec(),
        server_limits: tally::etcd::EtcdLimits::RAISED,
        ..Default::default()
    };
    tally::etcd::EtcdStore::connect_with(endpoints, options)
        .map_err(|error| format!("cannot open the store etcd:{endpoints}: {error}"))
}

#[cfg(not(feature = "etcd"))]
fn open_etcd(endpoints: &str) -> Result<MemStore, String> {
    Err(format!(
        "--store etcd:{endpoints} needs the etcd feature: cargo run --features ledger,redb,postgres,etcd --example u2u -- --store etcd:HOST:PORT,..."
    ))
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
}

fn execute<S: Store>(users: &Users<S>, invocation: &Invocation, in_memory: bool) -> Result<(), String> {
    let failed = |error: tally::ledger::LedgerError| error.to_string();
    match &invocation.command {
        Command::Seed => print!("{}", u2u::seed(users, now_ns()).map_err(failed)?),
        Command::Run(options) => {
            if in_memory {
                // A fresh memory store has nobody to send from.
                print!("{}", u2u::seed(users, now_ns()).map_err(failed)?);
            }
            let bar = ProgressBar::with_draw_target(Some(options.transfers), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {per_sec}") {
                bar.set_style(style);
            }
            let report = u2u::run(users, options, &now_ns, &|done| bar.inc(done)).map_err(failed)?;
            bar.finish_and_clear();
            println!("{report}");
        }
        Command::Process => println!("{}", u2u::process_all(users, now_ns()).map_err(failed)?),
        Command::Report { json } => {
            let report = users.report().map_err(failed)?;
            if *json {
                println!("{}", u2u::report_json(&report));
            } else {
                println!("{}", u2u::report_text(&report));
            }
        }
    }
    Ok(())
}
