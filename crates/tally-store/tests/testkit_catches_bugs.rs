//! The conformance kit is only worth running if it fails broken stores.
//! Each test here breaks one rule of the contract and expects the kit to panic.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use support::{Bug, ModelStore};
use tally_store::testkit::{self, Config};

fn small() -> Config {
    Config {
        cas_threads: 4,
        cas_increments_per_thread: 300,
        disjoint_writes_per_thread: 50,
        multi_key_rounds_per_thread: 50,
        write_skew_rounds: 50,
    }
}

fn kit_rejects(bug: Bug) {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        testkit::run_all(|| ModelStore::with_bug(bug), &small())
    }));
    assert!(caught.is_err(), "the conformance kit passed a store with bug {bug:?}");
}

#[test]
fn the_reference_model_itself_passes_the_kit() {
    testkit::run_all(ModelStore::new, &small());
}

#[test]
fn catches_ignored_preconditions() {
    kit_rejects(Bug::IgnoresPreconditions);
}

#[test]
fn catches_non_atomic_batches() {
    kit_rejects(Bug::AppliesOpsBeforeChecking);
}

#[test]
fn catches_versions_reused_after_delete() {
    kit_rejects(Bug::ResetsVersionOnDelete);
}

#[test]
fn catches_unordered_scans() {
    kit_rejects(Bug::UnorderedScan);
}

#[test]
fn catches_pages_over_the_limit() {
    kit_rejects(Bug::OffByOnePages);
}

#[test]
fn catches_missing_limits() {
    kit_rejects(Bug::NoLimits);
}

#[test]
fn catches_ignored_operation_order() {
    kit_rejects(Bug::FirstWriteWins);
}

#[test]
fn catches_lost_concurrent_increments() {
    // Checking and applying under separate lock holds lets two CAS
    // increments both succeed from the same read; the kit must notice.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        testkit::concurrent_cas_increments_are_never_lost(&ModelStore::with_bug(Bug::RacyCommit), &small())
    }));
    assert!(caught.is_err(), "the kit passed a racy commit");
}
