//! The storage contract, checked against a real etcd cluster.
//!
//! Runs when `TALLY_ETCD_ENDPOINTS` is set (`.ci/run` starts a three-member
//! cluster with `tests/etcd-cluster.sh` and sets it); otherwise every check
//! skips, or fails under `TALLY_REQUIRE_SERVICES=1`. Each check uses its own
//! key prefix, deleted when it ends.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::testkit::Config;

fn store() -> Option<support::TempEtcd> {
    support::endpoints("EtcdStore conformance").map(|endpoints| support::TempEtcd::new(&endpoints, "conf"))
}

/// Every commit is a Raft round on three members with an fsync on two, and
/// every read a round trip to the leader, so the concurrency checks are
/// sized to take a few seconds each on a loaded two-core machine while
/// eight threads still contend hard on the same keys.
fn config() -> Config {
    Config {
        cas_threads: 8,
        cas_increments_per_thread: 50,
        disjoint_writes_per_thread: 100,
        multi_key_rounds_per_thread: 25,
        write_skew_rounds: 100,
    }
}

tally_store::conformance_tests!(optional: store(), config());
