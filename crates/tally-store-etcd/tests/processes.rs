//! Two OS processes share one counter through EtcdStore: 2 x 2,000
//! compare-and-set increments must end at exactly 4,000.
//!
//! The workers are this same test binary, re-executed to run the ignored
//! test `cas_worker_child`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::process::{Command, Stdio};

use tally_store::{RetryPolicy, Store, StoreError, transact};
use tally_store_etcd::EtcdStore;

const PREFIX_ENV: &str = "TALLY_ETCD_CAS_CHILD_PREFIX";
const COUNTER: &[u8] = b"counter";
const PROCESSES: u64 = 2;
const INCREMENTS_PER_PROCESS: u64 = 2_000;

fn read_counter(store: &EtcdStore) -> u64 {
    store
        .get(COUNTER)
        .unwrap()
        .map_or(0, |found| u64::from_be_bytes(found.value[..].try_into().unwrap()))
}

/// One worker: 2,000 increments, each a read of the counter and a commit
/// that expects the version it read, retried on conflict.
#[test]
#[ignore = "a worker of `two_processes_never_lose_an_increment`, which runs it in child processes"]
fn cas_worker_child() {
    let endpoints = std::env::var(support::ENDPOINTS_ENV).expect("run by two_processes_never_lose_an_increment only");
    let prefix = std::env::var(PREFIX_ENV).expect("run by two_processes_never_lose_an_increment only");
    let store = EtcdStore::connect_with(&endpoints, support::options(prefix.into_bytes())).unwrap();
    let policy = RetryPolicy::default().with_max_attempts(10_000);
    for _ in 0..INCREMENTS_PER_PROCESS {
        transact(&store, &policy, |txn| -> Result<(), StoreError> {
            let current = txn
                .get(COUNTER)?
                .map_or(0, |value| u64::from_be_bytes(value[..].try_into().unwrap()));
            txn.put(COUNTER, (current + 1).to_be_bytes().to_vec());
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn two_processes_never_lose_an_increment() {
    let Some(endpoints) = support::endpoints("two_processes_never_lose_an_increment") else {
        return;
    };
    let temp = support::TempEtcd::new(&endpoints, "procs");
    let prefix = String::from_utf8(temp.store().prefix().to_vec()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "cas_worker_child", "--ignored", "--test-threads=1"])
                .env(support::ENDPOINTS_ENV, &endpoints)
                .env(PREFIX_ENV, &prefix)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a worker process failed: {status}");
    }
    assert_eq!(read_counter(temp.store()), PROCESSES * INCREMENTS_PER_PROCESS);
}
