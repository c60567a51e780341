//! Two OS processes share one counter through EtcdStore: 2 x 2,000
//! compare-and-set increments must end at exactly 4,000.
//!
//! The workers are this same test binary, re-executed to run the ignored
//! test `cas_worker_child` (see `tally_store::testkit::run_worker_processes`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::testkit::{cas_increment_worker, counter_value, run_worker_processes};
use tally_store_etcd::EtcdStore;

const PREFIX_ENV: &str = "TALLY_ETCD_CAS_CHILD_PREFIX";
const PROCESSES: usize = 2;
const INCREMENTS_PER_PROCESS: u64 = 2_000;

/// One worker: its share of the increments, each a read of the counter and
/// a commit that expects the version it read, retried on conflict.
#[test]
#[ignore = "a worker of `two_processes_never_lose_an_increment`, which runs it in child processes"]
fn cas_worker_child() {
    let endpoints = std::env::var(support::ENDPOINTS_ENV).expect("run by two_processes_never_lose_an_increment only");
    let prefix = std::env::var(PREFIX_ENV).expect("run by two_processes_never_lose_an_increment only");
    let store = EtcdStore::connect_with(&endpoints, support::options(prefix.into_bytes())).unwrap();
    cas_increment_worker(&store, INCREMENTS_PER_PROCESS);
}

#[test]
fn two_processes_never_lose_an_increment() {
    let Some(endpoints) = support::endpoints("two_processes_never_lose_an_increment") else {
        return;
    };
    let temp = support::TempEtcd::new(&endpoints, "procs");
    let prefix = String::from_utf8(temp.store().prefix().to_vec()).unwrap();
    run_worker_processes(
        "cas_worker_child",
        PROCESSES,
        &[(support::ENDPOINTS_ENV, &endpoints), (PREFIX_ENV, &prefix)],
    );
    let total = PROCESSES as u64 * INCREMENTS_PER_PROCESS;
    let (value, version) = counter_value(temp.store());
    assert_eq!(value, total);
    assert!(version >= total, "each increment raised the version; it is {version}");
}
