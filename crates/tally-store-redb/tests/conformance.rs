//! The storage contract, checked on a real redb file.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_store::testkit::Config;
use tally_store::{Batch, Page, Store, StoreError, Versioned};
use tally_store_redb::{Durability, Options, RedbStore};

/// A store in its own temporary directory, removed when the test ends.
struct TempRedb {
    store: RedbStore,
    _dir: tempfile::TempDir,
}

impl Store for TempRedb {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.store.get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.store.scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.store.commit(batch)
    }
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.store.get_many(keys)
    }
}

fn temp_store(durability: Durability) -> TempRedb {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        durability,
        ..Options::default()
    };
    let store = RedbStore::open_with(dir.path().join("conformance.redb"), options).unwrap();
    TempRedb { store, _dir: dir }
}

/// Every durable commit costs an fsync (~0.3 ms here), so the concurrency
/// checks are sized to finish in seconds while still contending hard.
fn durable_config() -> Config {
    Config {
        cas_threads: 8,
        cas_increments_per_thread: 300,
        disjoint_writes_per_thread: 200,
        multi_key_rounds_per_thread: 100,
        ..Config::default()
    }
}

mod immediate {
    tally_store::conformance_tests!(
        super::temp_store(tally_store_redb::Durability::Immediate),
        super::durable_config()
    );
}

/// Buffered commits skip the fsync, so this run contends five times harder.
fn buffered_config() -> Config {
    Config {
        cas_threads: 8,
        cas_increments_per_thread: 1_500,
        disjoint_writes_per_thread: 1_000,
        ..Config::default()
    }
}

mod buffered {
    tally_store::conformance_tests!(
        super::temp_store(tally_store_redb::Durability::Buffered),
        super::buffered_config()
    );
}
