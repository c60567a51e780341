//! A tour of tally. Run it with `cargo run --release --example tour`.
//!
//! For now it shows the storage layer every tally crate builds on: typed
//! records under order-preserving keys, optimistic transactions that retry
//! on conflict, paging through a prefix, and how an idempotent transaction
//! survives a lost acknowledgement. Later releases extend it to each domain.
//!
//! Choose the store with `--store`:
//!
//! - `--store redb:PATH`: a redb file (created if missing). The default is a
//!   fresh file in a temporary directory, removed at the end.
//! - `--store mem`: in memory.
//! - `--store postgres:URL`: a PostgreSQL table named `tally_tour` (build
//!   with `--features postgres`), e.g.
//!   `cargo run --release --features postgres --example tour -- --store postgres:postgres://postgres@127.0.0.1:5432/test`.
//! - `--store etcd:HOST:PORT,HOST:PORT,...`: an etcd cluster, keys under the
//!   prefix `tally-tour/` (build with `--features etcd`), e.g.
//!   `cargo run --release --features etcd --example tour -- --store etcd:127.0.0.1:2379`.
//!
//! Each run keeps its records under a fresh run number, so running the tour
//! again against the same file or table starts over cleanly.

use std::error::Error;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tally::store::key::{KeyBuilder, KeyReader};
use tally::store::{Fault, FaultyStore, MemStore, RetryPolicy, Store, StoreError, Txn, codec, scan_all, transact};

/// The namespace of this example's keys.
const NAMESPACE: &str = "tour";

/// Which run of the tour in this store (so a persistent store can be reused).
static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn run() -> u64 {
    RUN.get().copied().unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: u128,
}

#[derive(Debug, thiserror::Error)]
enum TourError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] codec::CodecError),
    #[error(transparent)]
    Key(#[from] tally::store::key::KeyError),
    #[error("account {0} has too little money")]
    InsufficientFunds(u64),
    #[error("account {0} would overflow")]
    BalanceOverflow(u64),
    #[error("account {0} does not exist")]
    NoSuchAccount(u64),
}

fn account_key(id: u64) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).u64(run()).str("account").u64(id).build()
}

fn transfer_key(transfer_id: u64) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE)
        .u64(run())
        .str("transfer")
        .u64(transfer_id)
        .build()
}

/// Claims the next run number in this store.
fn next_run(store: &dyn Store) -> Result<u64, TourError> {
    let key = KeyBuilder::new(NAMESPACE).str("runs").build();
    transact(store, &RetryPolicy::default(), |txn| {
        let previous: u64 = match txn.get(&key)? {
            Some(bytes) => codec::decode(&bytes)?,
            None => 0,
        };
        let run = previous + 1;
        txn.put(key.clone(), codec::encode(&run)?);
        Ok(run)
    })
}

/// The store named by `--store` (see the module docs).
struct Opened {
    store: Arc<dyn Store>,
    description: String,
    /// A directory the tour made and removes at the end.
    _temporary_dir: Option<tempfile::TempDir>,
}

fn open_store() -> Result<Opened, Box<dyn Error>> {
    let opened = |store: Arc<dyn Store>, description: String, dir: Option<tempfile::TempDir>| Opened {
        store,
        description,
        _temporary_dir: dir,
    };
    let mut args = std::env::args().skip(1);
    let spec = match (args.next().as_deref(), args.next()) {
        (None, _) => "redb".to_owned(),
        (Some("--store"), Some(spec)) => spec,
        _ => return Err("usage: tour [--store mem|redb:PATH|postgres:URL]".into()),
    };
    if spec == "mem" {
        return Ok(opened(Arc::new(MemStore::new()), "MemStore (in memory)".into(), None));
    }
    if spec == "redb" {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tour.redb");
        let store = tally::redb::RedbStore::open(&path)?;
        return Ok(opened(
            Arc::new(store),
            format!("RedbStore at {}", path.display()),
            Some(dir),
        ));
    }
    if let Some(path) = spec.strip_prefix("redb:") {
        let store = tally::redb::RedbStore::open(path)?;
        return Ok(opened(Arc::new(store), format!("RedbStore at {path}"), None));
    }
    if let Some(url) = spec.strip_prefix("postgres:") {
        #[cfg(feature = "postgres")]
        {
            let options = tally::postgres::PgOptions {
                table: "tally_tour".into(),
                ..Default::default()
            };
            let store = tally::postgres::PgStore::connect_with(url, options)?;
            return Ok(opened(
                Arc::new(store),
                format!("PgStore, table tally_tour at {url}"),
                None,
            ));
        }
        #[cfg(not(feature = "postgres"))]
        {
            return Err(format!("--store postgres:{url} needs the postgres feature: cargo run --features postgres --example tour -- --store postgres:URL").into());
        }
    }
    if let Some(endpoints) = spec.strip_prefix("etcd:") {
        #[cfg(feature = "etcd")]
        {
            let options = tally::etcd::EtcdOptions {
                prefix: b"tally-tour/".to_vec(),
                ..Default::default()
            };
            let store = tally::etcd::EtcdStore::connect_with(endpoints, options)?;
            return Ok(opened(
                Arc::new(store),
                format!("EtcdStore, prefix tally-tour/ on {endpoints}"),
                None,
            ));
        }
        #[cfg(not(feature = "etcd"))]
        {
            return Err(format!("--store etcd:{endpoints} needs the etcd feature: cargo run --features etcd --example tour -- --store etcd:HOST:PORT,...").into());
        }
    }
    Err(format!("unknown store {spec:?}: use mem, redb:PATH or postgres:URL").into())
}

fn load<S: Store + ?Sized>(txn: &mut Txn<'_, S>, id: u64) -> Result<Account, TourError> {
    let bytes = txn.get(&account_key(id))?.ok_or(TourError::NoSuchAccount(id))?;
    Ok(codec::decode(&bytes)?)
}

/// Moves `amount` from one account to another exactly once per `transfer_id`:
/// running it again (say, after a lost acknowledgement) finds the transfer
/// already recorded and does nothing.
fn transfer<S: Store + ?Sized>(
    store: &S,
    transfer_id: u64,
    from: u64,
    to: u64,
    amount: u128,
) -> Result<bool, TourError> {
    transact(store, &RetryPolicy::default(), |txn| {
        if txn.get(&transfer_key(transfer_id))?.is_some() {
            return Ok(false); // already applied
        }
        let mut source = load(txn, from)?;
        let mut target = load(txn, to)?;
        source.balance = source
            .balance
            .checked_sub(amount)
            .ok_or(TourError::InsufficientFunds(from))?;
        target.balance = target
            .balance
            .checked_add(amount)
            .ok_or(TourError::BalanceOverflow(to))?;
        txn.put(account_key(from), codec::encode(&source)?);
        txn.put(account_key(to), codec::encode(&target)?);
        txn.put(transfer_key(transfer_id), codec::encode(&(from, to, amount))?);
        Ok(true)
    })
}

fn print_accounts<S: Store + ?Sized>(store: &S) -> Result<(), TourError> {
    let prefix = KeyBuilder::new(NAMESPACE).u64(run()).str("account").build();
    for entry in scan_all(store, &prefix, 100) {
        let entry = entry?;
        let mut reader = KeyReader::new(NAMESPACE, &entry.key)?;
        reader.u64()?; // the run
        reader.str()?; // "account"
        let id = reader.u64()?;
        reader.finish()?;
        let account: Account = codec::decode(&entry.value)?;
        println!(
            "  account {id}: {:<6} balance {:>5}  (version {})",
            account.owner, account.balance, entry.version
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let Opened {
        store,
        description,
        _temporary_dir,
    } = open_store()?;
    let run = next_run(&*store)?;
    let _ = RUN.set(run);
    println!("Store: {description} (tour run {run} in this store)\n");

    println!("1. Open three accounts in one atomic batch");
    transact(&*store, &RetryPolicy::default(), |txn| {
        for (id, owner, balance) in [(1, "alice", 1_000), (2, "bob", 0), (3, "carol", 500)] {
            txn.expect_version(account_key(id), 0); // must not exist yet
            txn.put(
                account_key(id),
                codec::encode(&Account {
                    owner: owner.into(),
                    balance,
                })?,
            );
        }
        Ok::<_, TourError>(())
    })?;
    print_accounts(&*store)?;

    println!("\n2. Four threads make 250 transfers each, alice -> bob, racing on the same keys");
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let store = Arc::clone(&store);
            scope.spawn(move || {
                for n in 0..250 {
                    if let Err(error) = transfer(&*store, 1_000 + thread * 250 + n, 1, 2, 1) {
                        eprintln!("transfer failed: {error}");
                    }
                }
            });
        }
    });
    print_accounts(&*store)?;

    println!("\n3. An overdraft is refused and changes nothing");
    match transfer(&*store, 9_000, 3, 1, 10_000) {
        Err(TourError::InsufficientFunds(id)) => println!("  refused: account {id} has too little money"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("\n4. A lost acknowledgement: the commit lands but the caller sees an error");
    let faulty = FaultyStore::new(Arc::clone(&store));
    faulty.inject(Fault::on_commit().nth(1).after_write());
    match transfer(&faulty, 9_001, 3, 2, 100) {
        Err(error) => println!("  first try: {error}"),
        Ok(applied) => println!("  first try: applied={applied}"),
    }
    let applied_again = transfer(&faulty, 9_001, 3, 2, 100)?;
    println!("  retry with the same transfer id: applied again? {applied_again}");
    print_accounts(&*store)?;

    let total: u128 = [1, 2, 3]
        .iter()
        .map(|id| -> Result<u128, TourError> {
            let found = store.get(&account_key(*id))?.ok_or(TourError::NoSuchAccount(*id))?;
            Ok(codec::decode::<Account>(&found.value)?.balance)
        })
        .sum::<Result<u128, TourError>>()?;
    println!("\nMoney is conserved: the balances add up to {total} (started with 1500).");
    Ok(())
}
