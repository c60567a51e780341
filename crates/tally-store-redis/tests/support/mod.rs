//! A RedisStore under its own unique key prefix, whose keys are deleted
//! when the test ends.

#![allow(
    unreachable_pub,
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tally_store::{Batch, Page, Store, StoreError, Versioned};
use tally_store_redis::{RedisOptions, RedisStore};

/// The variable that points the Redis tests at a server.
pub const URL_ENV: &str = "TALLY_REDIS_URL";

/// The server URL, or `None` when it is not set: the test then skips, or
/// fails under `TALLY_REQUIRE_SERVICES=1` (see `tally_store::testkit::skip`).
pub fn url(test: &str) -> Option<String> {
    tally_store::testkit::service_env(URL_ENV, test)
}

/// A plain connection for a test's own commands.
pub fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// A key prefix no other test or run uses.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!(
        "tally-test/{tag}/{}.{}.{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// How many Redis keys start with the store's `{prefix}:`.
pub fn keys_of(url: &str, prefix: &str) -> usize {
    let mut admin = admin(url);
    let pattern = format!("{{{prefix}}}:*");
    let mut cursor: u64 = 0;
    let mut count = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query(&mut admin)
            .unwrap();
        count += keys.len();
        if next == 0 {
            return count;
        }
        cursor = next;
    }
}

/// A store under a fresh prefix; its keys are deleted on drop.
pub struct TempRedis {
    store: Option<RedisStore>,
}

impl TempRedis {
    pub fn new(url: &str, tag: &str) -> Self {
        Self::with_options(url, tag, RedisOptions::default())
    }

    /// A store with `options`, under a fresh prefix (`options.prefix` is replaced).
    pub fn with_options(url: &str, tag: &str, options: RedisOptions) -> Self {
        let options = RedisOptions {
            prefix: unique_prefix(tag),
            ..options
        };
        let store = RedisStore::connect_with(url, options)
            .unwrap_or_else(|error| panic!("cannot open a RedisStore at {url}: {error}"));
        TempRedis { store: Some(store) }
    }

    pub fn store(&self) -> &RedisStore {
        self.store.as_ref().unwrap()
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let prefix = store.prefix().to_owned();
            if let Err(error) = store.remove_all() {
                eprintln!("could not remove the keys of test prefix {prefix}: {error}");
            }
        }
    }
}

impl Store for TempRedis {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.store().get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.store().scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.store().commit(batch)
    }
}

/// A one-key put.
pub fn put(store: &impl Store, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    store.commit(batch)
}
