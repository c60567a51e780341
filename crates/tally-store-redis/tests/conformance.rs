//! The storage contract, checked against a real Redis server.
//!
//! Runs when `TALLY_REDIS_URL` is set (CI sets it); otherwise every check
//! skips, or fails under `TALLY_REQUIRE_SERVICES=1`. Each check uses its own
//! key prefix, removed when the check ends.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::testkit::Config;

fn store() -> Option<support::TempRedis> {
    support::url("RedisStore conformance").map(|url| support::TempRedis::new(&url, "conf"))
}

/// Each commit is one round trip to an in-memory server, and the
/// multi-key checks are three round trips per attempt, so the concurrency
/// checks are sized to take a few seconds each on a loaded two-core machine
/// while eight threads still contend hard on the same keys.
fn config() -> Config {
    Config {
        cas_threads: 8,
        cas_increments_per_thread: 500,
        disjoint_writes_per_thread: 500,
        multi_key_rounds_per_thread: 200,
        write_skew_rounds: 300,
    }
}

tally_store::conformance_tests!(optional: store(), config());
