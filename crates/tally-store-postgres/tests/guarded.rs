//! Batches guarded by one key they also write (a domain's head record) are
//! one statement: all of it or nothing, and no lost update under
//! concurrency. Also `get_many` in one round trip.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::{Batch, Conflict, RetryPolicy, Store, StoreError, transact};

fn put(store: &impl Store, key: &[u8], value: &[u8]) {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    store.commit(batch).unwrap();
}

#[test]
fn a_commit_guarded_by_one_key_applies_all_of_it_or_nothing() {
    let Some(url) = support::url("a_commit_guarded_by_one_key_applies_all_of_it_or_nothing") else {
        return;
    };
    let temp = support::TempPg::new(&url, "guard");
    let store = temp.store();
    put(store, b"guard", b"0");
    put(store, b"b", b"old");
    let guard = store.get(b"guard").unwrap().unwrap().version;
    let a_before = store.get(b"a").unwrap();

    // A stale guard: nothing is written, and the conflict names the guard.
    let mut stale = Batch::new();
    stale
        .expect_version(b"guard", guard + 7)
        .put(b"guard", b"1".to_vec())
        .put(b"a", b"new".to_vec())
        .delete(b"b");
    match store.commit(stale) {
        Err(StoreError::Conflict(Conflict::Precondition {
            key,
            expected_version,
            actual_version,
        })) => {
            assert_eq!(key, b"guard");
            assert_eq!((expected_version, actual_version), (guard + 7, guard));
        }
        other => panic!("expected a precondition conflict, got {other:?}"),
    }
    assert_eq!(store.get(b"guard").unwrap().unwrap().version, guard);
    assert_eq!(store.get(b"a").unwrap(), a_before);
    assert_eq!(&store.get(b"b").unwrap().unwrap().value[..], b"old");

    // The right guard: every write lands.
    let b_version = store.get(b"b").unwrap().unwrap().version;
    let mut good = Batch::new();
    good.expect_version(b"guard", guard)
        .put(b"guard", b"1".to_vec())
        .put(b"a", b"new".to_vec())
        .delete(b"b");
    store.commit(good).unwrap();
    let now = store.get(b"guard").unwrap().unwrap();
    assert!(now.version > guard);
    assert_eq!(&now.value[..], b"1");
    assert_eq!(&store.get(b"a").unwrap().unwrap().value[..], b"new");
    assert_eq!(store.get(b"b").unwrap(), None);
    // A key deleted by a guarded commit comes back above its old version.
    put(store, b"b", b"again");
    assert!(store.get(b"b").unwrap().unwrap().version > b_version);
}

#[test]
fn guarded_commits_from_many_threads_never_lose_an_update() {
    let Some(url) = support::url("guarded_commits_from_many_threads_never_lose_an_update") else {
        return;
    };
    let temp = support::TempPg::new(&url, "guardrace");
    let store = temp.store();
    put(store, b"guard", &0u64.to_be_bytes());
    put(store, b"shared", &0u64.to_be_bytes());
    let number = |bytes: &[u8]| u64::from_be_bytes(bytes.try_into().unwrap());
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 40;
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    transact(store, &RetryPolicy::default().with_max_attempts(10_000), |txn| {
                        // The guard is the only precondition; `shared` is
                        // read without one, covered by the guard (every
                        // writer of `shared` writes the guard).
                        let seen = number(&txn.get(b"guard")?.unwrap());
                        let shared = number(&txn.store().get(b"shared")?.unwrap().value);
                        txn.put(b"guard", (seen + 1).to_be_bytes().to_vec());
                        txn.put(b"shared", (shared + 1).to_be_bytes().to_vec());
                        txn.put(
                            format!("log/{seen:08}").into_bytes(),
                            format!("{thread}/{round}").into_bytes(),
                        );
                        Ok::<_, StoreError>(())
                    })
                    .unwrap();
                }
            });
        }
    });
    let total = THREADS * ROUNDS;
    assert_eq!(number(&store.get(b"guard").unwrap().unwrap().value), total);
    assert_eq!(
        number(&store.get(b"shared").unwrap().unwrap().value),
        total,
        "no lost update"
    );
    let log = tally_store::scan_all(store, b"log/", 1_000).count();
    assert_eq!(log as u64, total, "every commit saw a distinct guard value");
}

#[test]
fn get_many_reads_every_key_in_one_call() {
    let Some(url) = support::url("get_many_reads_every_key_in_one_call") else {
        return;
    };
    let temp = support::TempPg::new(&url, "getmany");
    let store = temp.store();
    put(store, b"x", b"1");
    put(store, b"y", b"2");
    let found = store.get_many(&[b"y", b"nope", b"x", b"y"]).unwrap();
    let values: Vec<Option<&[u8]>> = found.iter().map(|v| v.as_ref().map(|v| &v.value[..])).collect();
    assert_eq!(values, [Some(&b"2"[..]), None, Some(&b"1"[..]), Some(&b"2"[..])]);
    assert_eq!(found[0], store.get(b"y").unwrap());
}
