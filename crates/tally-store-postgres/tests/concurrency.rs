//! The locked (multi-key) commit path under real concurrency.
//!
//! Single-key compare-and-set takes a one-statement path, so the kit's
//! counter check does not reach the path that locks several keys; these
//! tests do.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::Barrier;

use tally_store::{Batch, RetryPolicy, Store, StoreError, transact};

fn read_u64(txn: &mut tally_store::Txn<'_, support::TempPg>, key: &[u8]) -> Result<u64, StoreError> {
    Ok(txn
        .get(key)?
        .map_or(0, |value| u64::from_be_bytes(value[..].try_into().unwrap())))
}

#[test]
fn multi_key_transactions_never_lose_an_update() {
    let Some(url) = support::url("multi_key_transactions_never_lose_an_update") else {
        return;
    };
    let store = support::TempPg::new(&url, "multi");
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 150;
    let policy = RetryPolicy::default().with_max_attempts(10_000);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (store, policy) = (&store, &policy);
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    transact(store, policy, |txn| -> Result<(), StoreError> {
                        let a = read_u64(txn, b"a")?;
                        let b = read_u64(txn, b"b")?;
                        txn.put(b"a".to_vec(), (a + 1).to_be_bytes().to_vec());
                        txn.put(b"b".to_vec(), (b + 2).to_be_bytes().to_vec());
                        txn.put(format!("log/{thread}/{round}").into_bytes(), b"done".to_vec());
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
    });
    let get = |key: &[u8]| u64::from_be_bytes(store.get(key).unwrap().unwrap().value[..].try_into().unwrap());
    assert_eq!(get(b"a"), THREADS * ROUNDS);
    assert_eq!(get(b"b"), 2 * THREADS * ROUNDS);
    let logged = tally_store::scan_all(&store, b"log/", 1_000).count();
    assert_eq!(logged as u64, THREADS * ROUNDS);
}

/// Two commits that each check the key the other writes (both absent) must
/// not both succeed: that would be write skew.
#[test]
fn write_skew_between_two_commits_is_impossible() {
    let Some(url) = support::url("write_skew_between_two_commits_is_impossible") else {
        return;
    };
    let store = support::TempPg::new(&url, "skew");
    let barrier = Barrier::new(2);
    let mut both_won = 0;
    let mut one_won = 0;
    for round in 0..200u32 {
        let x = format!("x/{round}").into_bytes();
        let y = format!("y/{round}").into_bytes();
        let commit = |check: &[u8], write: &[u8]| {
            let mut batch = Batch::new();
            batch
                .expect_absent(check.to_vec())
                .put(write.to_vec(), b"mine".to_vec());
            // Two keys, so this takes the locked path.
            batch.expect_absent(format!("z/{round}").into_bytes());
            barrier.wait();
            store.commit(batch)
        };
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(|| commit(&y, &x));
            let second = scope.spawn(|| commit(&x, &y));
            (first.join().unwrap(), second.join().unwrap())
        });
        for result in [&first, &second] {
            if let Err(error) = result {
                assert!(error.is_conflict(), "{error:?}");
            }
        }
        match (first.is_ok(), second.is_ok()) {
            (true, true) => both_won += 1,
            (true, false) | (false, true) => one_won += 1,
            (false, false) => {}
        }
    }
    assert_eq!(both_won, 0, "write skew: both commits succeeded in {both_won} rounds");
    assert!(one_won > 0, "the test never let a commit through");
}
