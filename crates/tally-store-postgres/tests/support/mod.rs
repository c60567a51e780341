//! A PgStore in its own uniquely named table, dropped when the test ends.

#![allow(
    unreachable_pub,
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tally_store::{Batch, Page, Store, StoreError, Versioned};
use tally_store_postgres::{PgOptions, PgStore};

/// The variable that points the PostgreSQL tests at a server.
pub const URL_ENV: &str = "TALLY_PG_URL";

/// The server URL, or `None` when it is not set: the test then skips, or
/// fails under `TALLY_REQUIRE_SERVICES=1` (see `tally_store::testkit::skip`).
pub fn url(test: &str) -> Option<String> {
    tally_store::testkit::service_env(URL_ENV, test)
}

/// `url` with one more query parameter (`key=value` strings get ` key=value`).
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return format!("{url} {key}={value}");
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

/// A plain client for a test's own SQL (the server must accept plaintext).
pub fn admin(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

/// A table name no other test or run uses.
pub fn unique_table(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!(
        "tally_test_{tag}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    assert!(name.len() <= 63, "table name too long: {name}");
    name
}

/// A store in a fresh table; the table is dropped on drop.
pub struct TempPg {
    store: Option<PgStore>,
}

impl TempPg {
    pub fn new(url: &str, tag: &str) -> Self {
        Self::with_options(url, tag, PgOptions::default())
    }

    /// A store with `options`, in a fresh table (`options.table` is replaced).
    pub fn with_options(url: &str, tag: &str, options: PgOptions) -> Self {
        let options = PgOptions {
            table: unique_table(tag),
            ..options
        };
        let store = PgStore::connect_with(url, options)
            .unwrap_or_else(|error| panic!("cannot open a PgStore at {url}: {error}"));
        TempPg { store: Some(store) }
    }

    pub fn store(&self) -> &PgStore {
        self.store.as_ref().unwrap()
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let table = store.table().to_owned();
            if let Err(error) = store.drop_table() {
                eprintln!("could not drop test table {table}: {error}");
            }
        }
    }
}

impl Store for TempPg {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.store().get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.store().scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.store().commit(batch)
    }
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.store().get_many(keys)
    }
}
