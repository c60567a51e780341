//! The storage contract, checked against a real PostgreSQL server.
//!
//! Runs when `TALLY_PG_URL` is set (CI sets it); otherwise every check
//! skips, or fails under `TALLY_REQUIRE_SERVICES=1`. Each check uses its own
//! table.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use tally_store::testkit::Config;

fn store() -> Option<support::TempPg> {
    support::url("PgStore conformance").map(|url| support::TempPg::new(&url, "conf"))
}

/// Each commit is a round trip and a WAL flush, and the multi-key checks
/// are five round trips per attempt, so the concurrency checks are sized to
/// take a few seconds each (on a loaded two-core machine) while eight
/// threads still contend hard on the same keys.
fn config() -> Config {
    Config {
        cas_threads: 8,
        cas_increments_per_thread: 100,
        disjoint_writes_per_thread: 150,
        multi_key_rounds_per_thread: 40,
        write_skew_rounds: 100,
    }
}

tally_store::conformance_tests!(optional: store(), config());
