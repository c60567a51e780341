//! A tour of tally. Run it with `cargo run --release --example tour`.
//!
//! For now it shows the storage layer every tally crate builds on: typed
//! records under order-preserving keys, optimistic transactions that retry
//! on conflict, paging through a prefix, and how an idempotent transaction
//! survives a lost acknowledgement. Later releases extend it to each domain.

use std::error::Error;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tally::store::key::{KeyBuilder, KeyReader};
use tally::store::{Fault, FaultyStore, MemStore, RetryPolicy, Store, StoreError, Txn, codec, scan_all, transact};

/// The namespace of this example's keys.
const NAMESPACE: &str = "tour";

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
    KeyBuilder::new(NAMESPACE).str("account").u64(id).build()
}

fn transfer_key(transfer_id: u64) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).str("transfer").u64(transfer_id).build()
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
    let prefix = KeyBuilder::new(NAMESPACE).str("account").build();
    for entry in scan_all(store, &prefix, 100) {
        let entry = entry?;
        let mut reader = KeyReader::new(NAMESPACE, &entry.key)?;
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
    let store = Arc::new(MemStore::new());

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
