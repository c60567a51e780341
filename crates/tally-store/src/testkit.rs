//! The conformance kit: the storage contract as executable checks.
//!
//! Every backend, ours or a host's, proves it keeps the [`Store`] contract
//! by running these checks in its tests. Each check takes a **fresh, empty**
//! store and panics with an explanation when the backend breaks a rule.
//!
//! The easy way is the [`conformance_tests!`](crate::conformance_tests)
//! macro, which writes one `#[test]` per check:
//!
//! ```
//! mod mem_store_conformance {
//!     tally_store::conformance_tests!(tally_store::MemStore::new());
//! }
//! ```
//!
//! A backend that needs a server can skip when it is not configured by
//! passing an `Option` with `optional:`; `None` skips through [`skip`]: a
//! note on stderr and a pass, or a failure when
//! [`TALLY_REQUIRE_SERVICES=1`](REQUIRE_SERVICES_ENV) (CI sets it, so a
//! misconfigured CI cannot pass by skipping):
//!
//! ```
//! fn connect() -> Option<tally_store::MemStore> {
//!     std::env::var("MY_DB_URL").ok().map(|_url| tally_store::MemStore::new())
//! }
//! mod my_backend_conformance {
//!     tally_store::conformance_tests!(optional: super::connect());
//! }
//! ```
//!
//! Or call [`run_all`], or any single check, by hand.
//!
//! What is covered: versions (growth, no reuse after delete), preconditions
//! (at version, absent, on keys the batch does not write), atomicity of
//! multi-key batches, operation order within a batch, scan order, prefix and
//! pagination edges, every limit, large values (up to
//! [`MAX_VALUE_BYTES`]), the empty key and binary keys, and concurrency
//! ([`Config::cas_threads`] threads incrementing one counter by
//! compare-and-set never lose an increment; transactions that read and write
//! two keys never lose an update; two commits that each check the key the
//! other writes never both succeed (no write skew); writers on disjoint keys
//! make progress and never see a precondition conflict).
//!
//! [`skip`], [`service_env`] and [`services_required`] are for any test that
//! needs a service (a database server, a node toolchain).

// The kit's job is to fail loudly with a message; panicking is the interface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Debug;

use bytes::Bytes;

use crate::batch::{Batch, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};
use crate::error::{Conflict, InvalidRequest, StoreError};
use crate::store::{Entry, Store, scan_all};

/// Sizes of the concurrency checks. Start from the default and change what
/// a slow backend needs: `Config { cas_increments_per_thread: 300, ..Config::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Threads in the concurrency checks (default 8).
    pub cas_threads: usize,
    /// Compare-and-set increments of the shared counter per thread (default 10,000).
    pub cas_increments_per_thread: u64,
    /// Writes per thread in the disjoint-keys check (default 1,000).
    pub disjoint_writes_per_thread: u64,
    /// Two-key read-modify-write transactions per thread (default 500).
    pub multi_key_rounds_per_thread: u64,
    /// Rounds of the write-skew race, two racing commits each (default 200).
    pub write_skew_rounds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cas_threads: 8,
            cas_increments_per_thread: 10_000,
            disjoint_writes_per_thread: 1_000,
            multi_key_rounds_per_thread: 500,
            write_skew_rounds: 200,
        }
    }
}

/// The environment variable that turns skips into failures: when it is `1`,
/// a test whose service is not configured fails instead of passing.
/// `.ci/run` sets it.
pub const REQUIRE_SERVICES_ENV: &str = "TALLY_REQUIRE_SERVICES";

/// True when [`REQUIRE_SERVICES_ENV`] is set to `1`.
pub fn services_required() -> bool {
    std::env::var(REQUIRE_SERVICES_ENV).is_ok_and(|value| value == "1")
}

/// Skips `test` because `reason` (its service is not configured): prints a
/// note on stderr and returns, so the caller can `return` and pass, unless
/// [`services_required`], in which case it panics and the test fails.
///
/// libtest hides the output of passing tests, so a note alone is easy to
/// miss; the failure is what makes a skip in CI impossible to overlook.
///
/// # Panics
/// When [`REQUIRE_SERVICES_ENV`] is `1`.
pub fn skip(test: &str, reason: &str) {
    skip_unless(services_required(), test, reason);
}

/// [`skip`] with the requirement passed in (what `skip` reads from the
/// environment).
///
/// # Panics
/// When `required` is true.
pub fn skip_unless(required: bool, test: &str, reason: &str) {
    if required {
        panic!("{test} needs a service: {reason}; {REQUIRE_SERVICES_ENV}=1 forbids skipping it");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// The value of the environment variable `variable` (a service's URL, say)
/// when it is set and not empty; otherwise [`skip`]s `test` and returns
/// `None`.
///
/// ```no_run
/// fn connects_to_the_database() {
///     let Some(url) = tally_store::testkit::service_env("MY_DB_URL", "connects_to_the_database") else {
///         return; // skipped (or failed, under TALLY_REQUIRE_SERVICES=1)
///     };
///     // ... connect to `url` ...
/// #   let _ = url;
/// }
/// ```
///
/// # Panics
/// When the variable is unset or empty and [`REQUIRE_SERVICES_ENV`] is `1`.
pub fn service_env(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            skip(test, &format!("{variable} is not set"));
            None
        }
    }
}

/// The name of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "absent_keys_read_as_none",
    "versions_grow_on_every_write_and_are_never_reused",
    "preconditions_guard_commits",
    "failed_batches_write_nothing",
    "batches_apply_every_operation_in_order",
    "empty_and_read_only_batches",
    "scan_returns_keys_in_bytewise_order",
    "scan_respects_prefix_and_cursor_edges",
    "scan_pages_cover_everything_exactly_once",
    "limits_are_enforced_before_anything_is_written",
    "large_values_round_trip",
    "empty_and_binary_keys_work",
    "concurrent_cas_increments_are_never_lost",
    "multi_key_transactions_never_lose_an_update",
    "write_skew_is_impossible",
    "disjoint_writers_never_conflict",
    "get_many_answers_each_key_as_get_does",
];

/// Runs every check, each on a fresh store from `make`.
pub fn run_all<S: Store, F: FnMut() -> S>(mut make: F, config: &Config) {
    absent_keys_read_as_none(&make());
    versions_grow_on_every_write_and_are_never_reused(&make());
    preconditions_guard_commits(&make());
    failed_batches_write_nothing(&make());
    batches_apply_every_operation_in_order(&make());
    empty_and_read_only_batches(&make());
    scan_returns_keys_in_bytewise_order(&make());
    scan_respects_prefix_and_cursor_edges(&make());
    scan_pages_cover_everything_exactly_once(&make());
    limits_are_enforced_before_anything_is_written(&make());
    large_values_round_trip(&make());
    empty_and_binary_keys_work(&make());
    concurrent_cas_increments_are_never_lost(&make(), config);
    multi_key_transactions_never_lose_an_update(&make(), config);
    write_skew_is_impossible(&make(), config);
    disjoint_writers_never_conflict(&make(), config);
    get_many_answers_each_key_as_get_does(&make());
}

/// Writes one tested `#[test]` function per conformance check.
///
/// `conformance_tests!(EXPR)` evaluates `EXPR` once per test to make a fresh,
/// empty store. `conformance_tests!(optional: EXPR)` takes an `Option` and
/// [`skip`](crate::testkit::skip)s when it is `None` (a failure under
/// `TALLY_REQUIRE_SERVICES=1`). Either form accepts a
/// [`testkit::Config`](crate::testkit::Config) as a second argument:
/// `conformance_tests!(EXPR, CONFIG)`. Invoke it inside its own module.
#[macro_export]
macro_rules! conformance_tests {
    (optional: $make:expr) => {
        $crate::conformance_tests!(optional: $make, $crate::testkit::Config::default());
    };
    (optional: $make:expr, $config:expr) => {
        $crate::__conformance_each!(
            (|| -> ::core::option::Option<_> { $make }),
            $config
        );
    };
    ($make:expr) => {
        $crate::conformance_tests!($make, $crate::testkit::Config::default());
    };
    ($make:expr, $config:expr) => {
        $crate::__conformance_each!(
            (|| -> ::core::option::Option<_> { ::core::option::Option::Some($make) }),
            $config
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    ($make:tt, $config:expr) => {
        $crate::__conformance_one!($make, absent_keys_read_as_none);
        $crate::__conformance_one!($make, versions_grow_on_every_write_and_are_never_reused);
        $crate::__conformance_one!($make, preconditions_guard_commits);
        $crate::__conformance_one!($make, failed_batches_write_nothing);
        $crate::__conformance_one!($make, batches_apply_every_operation_in_order);
        $crate::__conformance_one!($make, empty_and_read_only_batches);
        $crate::__conformance_one!($make, scan_returns_keys_in_bytewise_order);
        $crate::__conformance_one!($make, scan_respects_prefix_and_cursor_edges);
        $crate::__conformance_one!($make, scan_pages_cover_everything_exactly_once);
        $crate::__conformance_one!($make, limits_are_enforced_before_anything_is_written);
        $crate::__conformance_one!($make, large_values_round_trip);
        $crate::__conformance_one!($make, empty_and_binary_keys_work);
        $crate::__conformance_one!($make, concurrent_cas_increments_are_never_lost, $config);
        $crate::__conformance_one!($make, multi_key_transactions_never_lose_an_update, $config);
        $crate::__conformance_one!($make, write_skew_is_impossible, $config);
        $crate::__conformance_one!($make, disjoint_writers_never_conflict, $config);
        $crate::__conformance_one!($make, get_many_answers_each_key_as_get_does);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_one {
    ($make:tt, $check:ident $(, $config:expr)?) => {
        #[test]
        fn $check() {
            let ::core::option::Option::Some(store) = ($make)() else {
                $crate::testkit::skip(
                    ::core::concat!("conformance check ", ::core::stringify!($check)),
                    "the store is not configured",
                );
                return;
            };
            $crate::testkit::$check(&store $(, &$config)?);
        }
    };
}

fn must<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: unexpected error {error:?}"),
    }
}

fn put<S: Store + ?Sized>(store: &S, key: &[u8], value: &[u8]) {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    must(store.commit(batch), "a plain put");
}

fn version_of<S: Store + ?Sized>(store: &S, key: &[u8]) -> u64 {
    must(store.get(key), "get").map_or(0, |found| found.version)
}

fn value_of<S: Store + ?Sized>(store: &S, key: &[u8]) -> Option<Bytes> {
    must(store.get(key), "get").map(|found| found.value)
}

fn all_entries<S: Store + ?Sized>(store: &S) -> Vec<Entry> {
    must(
        scan_all(store, b"", MAX_SCAN_LIMIT).collect(),
        "scan of the whole store",
    )
}

fn expect_precondition_conflict(
    result: Result<(), StoreError>,
    key: &[u8],
    expected_version: u64,
    actual_version: u64,
) {
    match result {
        Err(StoreError::Conflict(Conflict::Precondition {
            key: found_key,
            expected_version: found_expected,
            actual_version: found_actual,
        })) => {
            assert_eq!(
                found_key, key,
                "the conflict must name the key whose precondition failed"
            );
            assert_eq!(
                found_expected, expected_version,
                "the conflict must report the required version"
            );
            assert_eq!(
                found_actual, actual_version,
                "the conflict must report the key's actual version"
            );
        }
        other => panic!(
            "expected Conflict::Precondition on {key:?} (required {expected_version}, actual {actual_version}), got {other:?}"
        ),
    }
}

fn expect_invalid(result: Result<impl Debug, StoreError>, what: &str) {
    match result {
        Err(StoreError::Invalid(_)) => {}
        other => panic!("{what}: expected StoreError::Invalid, got {other:?}"),
    }
}

/// Deterministic filler bytes (an LCG), so large-value checks compare real data.
fn pattern(size_bytes: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..size_bytes)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

/// A fresh store holds nothing: `get` is `None`, scans are empty.
pub fn absent_keys_read_as_none<S: Store + ?Sized>(store: &S) {
    assert_eq!(must(store.get(b"missing"), "get of an absent key"), None);
    assert_eq!(must(store.get(b""), "get of the empty key"), None);
    let page = must(store.scan(b"", None, 10), "scan of an empty store");
    assert!(page.entries.is_empty(), "a fresh store must scan empty, got {page:?}");
    assert!(!page.more, "an empty scan has no more pages");
}

/// [`Store::get_many`] answers every key in order, as `get` does: present,
/// absent, deleted, repeated, the empty key, none at all; and refuses too
/// many keys or an over-long key.
pub fn get_many_answers_each_key_as_get_does<S: Store + ?Sized>(store: &S) {
    put(store, b"a", b"1");
    put(store, b"b", b"2");
    put(store, b"gone", b"3");
    put(store, b"", b"empty");
    let mut batch = Batch::new();
    batch.delete(b"gone");
    must(store.commit(batch), "delete");
    let keys: [&[u8]; 6] = [b"b", b"missing", b"a", b"gone", b"b", b""];
    let many = must(store.get_many(&keys), "get_many");
    assert_eq!(many.len(), keys.len(), "one answer per key");
    for (key, answer) in keys.iter().zip(&many) {
        assert_eq!(
            answer,
            &must(store.get(key), "get"),
            "get_many of {key:?} differs from get"
        );
    }
    assert_eq!(many[0].as_ref().map(|v| &v.value[..]), Some(&b"2"[..]));
    assert_eq!(many[1], None);
    assert_eq!(many[3], None, "a deleted key is absent");
    assert!(must(store.get_many(&[]), "get_many of nothing").is_empty());
    let long = vec![0u8; MAX_KEY_BYTES + 1];
    assert!(
        matches!(
            store.get_many(&[b"a", &long]),
            Err(StoreError::Invalid(InvalidRequest::KeyTooLong { .. }))
        ),
        "an over-long key must be refused"
    );
    let key = b"a".as_slice();
    let too_many = vec![key; crate::MAX_GET_MANY_KEYS + 1];
    assert!(
        matches!(
            store.get_many(&too_many),
            Err(StoreError::Invalid(InvalidRequest::TooManyKeys { .. }))
        ),
        "more than MAX_GET_MANY_KEYS keys must be refused"
    );
    let most = vec![key; crate::MAX_GET_MANY_KEYS];
    assert_eq!(
        must(store.get_many(&most), "get_many at the limit").len(),
        crate::MAX_GET_MANY_KEYS
    );
}

/// A write gives a version `>= 1` that every read reports; each later write
/// of the key gives a greater one, also after a delete; writing other keys
/// leaves it alone.
pub fn versions_grow_on_every_write_and_are_never_reused<S: Store + ?Sized>(store: &S) {
    put(store, b"k", b"one");
    let first = must(store.get(b"k"), "get").expect("written key is present");
    assert!(first.version >= 1, "a present key has a version >= 1");
    assert_eq!(&first.value[..], b"one");
    let scanned = must(store.scan(b"k", None, 10), "scan");
    assert_eq!(scanned.entries.len(), 1);
    assert_eq!(
        scanned.entries[0].version, first.version,
        "scan and get report the same version"
    );

    put(store, b"other", b"x");
    assert_eq!(
        version_of(store, b"k"),
        first.version,
        "writing another key must not change this key's version"
    );

    put(store, b"k", b"two");
    let second = version_of(store, b"k");
    assert!(
        second > first.version,
        "a rewrite must raise the version ({second} <= {})",
        first.version
    );

    put(store, b"k", b"two");
    let same_value = version_of(store, b"k");
    assert!(same_value > second, "rewriting the same value still raises the version");

    let mut delete = Batch::new();
    delete.delete(b"k");
    must(store.commit(delete), "delete");
    assert_eq!(must(store.get(b"k"), "get after delete"), None);
    assert!(must(store.scan(b"k", None, 10), "scan").entries.is_empty());

    put(store, b"k", b"three");
    let recreated = version_of(store, b"k");
    assert!(
        recreated > same_value,
        "a key re-created after a delete must get a version above every earlier one ({recreated} <= {same_value}): \
         otherwise a stale compare-and-set would succeed (ABA)"
    );
    // The ABA case itself: a precondition on the pre-delete version fails.
    let mut stale = Batch::new();
    stale.expect_version(b"k", first.version).put(b"k", b"stale".to_vec());
    expect_precondition_conflict(store.commit(stale), b"k", first.version, recreated);

    // Deleting an absent key is not an error and creates nothing.
    let mut delete_absent = Batch::new();
    delete_absent.delete(b"never-there");
    must(store.commit(delete_absent), "delete of an absent key");
    assert_eq!(must(store.get(b"never-there"), "get"), None);
}

/// `expect_version` and `expect_absent` decide whether a batch applies, also
/// for keys the batch only checks.
pub fn preconditions_guard_commits<S: Store + ?Sized>(store: &S) {
    let mut create = Batch::new();
    create.expect_absent(b"a").put(b"a", b"1".to_vec());
    must(store.commit(create), "expect_absent on an absent key");
    let version_a = version_of(store, b"a");

    let mut again = Batch::new();
    again.expect_absent(b"a").put(b"a", b"2".to_vec());
    expect_precondition_conflict(store.commit(again), b"a", 0, version_a);
    assert_eq!(value_of(store, b"a").as_deref(), Some(&b"1"[..]));

    let mut wrong = Batch::new();
    wrong.expect_version(b"a", version_a + 1).put(b"a", b"2".to_vec());
    expect_precondition_conflict(store.commit(wrong), b"a", version_a + 1, version_a);

    let mut absent_wrong = Batch::new();
    absent_wrong.expect_version(b"nope", 1).put(b"nope", b"x".to_vec());
    expect_precondition_conflict(store.commit(absent_wrong), b"nope", 1, 0);
    assert_eq!(must(store.get(b"nope"), "get"), None);

    let mut right = Batch::new();
    right.expect_version(b"a", version_a).put(b"a", b"2".to_vec());
    must(store.commit(right), "expect_version at the current version");
    assert_eq!(value_of(store, b"a").as_deref(), Some(&b"2"[..]));
    let version_a2 = version_of(store, b"a");

    // A precondition on a key the batch does not write guards it too.
    put(store, b"guard", b"g1");
    let guard_version = version_of(store, b"guard");
    put(store, b"guard", b"g2");
    let mut guarded = Batch::new();
    guarded.expect_version(b"guard", guard_version).put(b"a", b"3".to_vec());
    expect_precondition_conflict(
        store.commit(guarded),
        b"guard",
        guard_version,
        version_of(store, b"guard"),
    );
    assert_eq!(
        version_of(store, b"a"),
        version_a2,
        "a failed commit must leave versions alone"
    );
    assert_eq!(value_of(store, b"a").as_deref(), Some(&b"2"[..]));

    // expect_version(k, 0) is the same as expect_absent(k).
    let mut zero = Batch::new();
    zero.expect_version(b"fresh", 0).put(b"fresh", b"f".to_vec());
    must(store.commit(zero), "expect_version(0) on an absent key");
}

/// A batch whose precondition fails writes none of its operations, however
/// many keys it touches.
pub fn failed_batches_write_nothing<S: Store + ?Sized>(store: &S) {
    let mut seed = Batch::new();
    for i in 0u32..50 {
        seed.put(format!("keep/{i:03}").into_bytes(), b"original".to_vec());
    }
    must(store.commit(seed), "seed batch");
    let before = all_entries(store);

    let mut doomed = Batch::new();
    for i in 0u32..50 {
        doomed.put(format!("keep/{i:03}").into_bytes(), b"overwritten".to_vec());
        doomed.put(format!("new/{i:03}").into_bytes(), b"created".to_vec());
    }
    for i in 0u32..10 {
        doomed.delete(format!("keep/{i:03}").into_bytes());
    }
    doomed.expect_absent(b"keep/049");
    let result = store.commit(doomed);
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected a conflict, got {result:?}"
    );
    assert_eq!(
        all_entries(store),
        before,
        "a conflicting batch must write nothing at all"
    );

    // The failing precondition may come first, too.
    let mut doomed_first = Batch::new();
    doomed_first.expect_version(b"keep/000", 999_999_999);
    doomed_first.delete(b"keep/001").put(b"new/x", b"x".to_vec());
    assert!(store.commit(doomed_first).is_err());
    assert_eq!(
        all_entries(store),
        before,
        "a conflicting batch must write nothing at all"
    );
}

/// A successful batch applies every put and delete, in order: the last
/// write to a key wins.
pub fn batches_apply_every_operation_in_order<S: Store + ?Sized>(store: &S) {
    put(store, b"d1", b"x");
    put(store, b"d2", b"x");
    let mut batch = Batch::new();
    batch
        .put(b"p1", b"1".to_vec())
        .put(b"p2", b"2".to_vec())
        .delete(b"d1")
        .put(b"twice", b"first".to_vec())
        .put(b"twice", b"second".to_vec())
        .put(b"put-then-delete", b"gone".to_vec())
        .delete(b"put-then-delete")
        .delete(b"d2")
        .put(b"d2", b"back".to_vec())
        .put(b"empty-value", Vec::new());
    must(store.commit(batch), "mixed batch");
    assert_eq!(value_of(store, b"p1").as_deref(), Some(&b"1"[..]));
    assert_eq!(value_of(store, b"p2").as_deref(), Some(&b"2"[..]));
    assert_eq!(value_of(store, b"d1"), None);
    assert_eq!(
        value_of(store, b"twice").as_deref(),
        Some(&b"second"[..]),
        "the later put wins"
    );
    assert_eq!(value_of(store, b"put-then-delete"), None, "a delete after a put wins");
    assert_eq!(
        value_of(store, b"d2").as_deref(),
        Some(&b"back"[..]),
        "a put after a delete wins"
    );
    assert_eq!(
        value_of(store, b"empty-value").as_deref(),
        Some(&b""[..]),
        "an empty value is a present key"
    );
    let keys: Vec<Vec<u8>> = all_entries(store).into_iter().map(|e| e.key).collect();
    assert_eq!(
        keys,
        [&b"d2"[..], b"empty-value", b"p1", b"p2", b"twice"]
            .map(<[u8]>::to_vec)
            .to_vec()
    );
}

/// An empty batch succeeds and changes nothing; a batch of preconditions
/// alone checks them and writes nothing.
pub fn empty_and_read_only_batches<S: Store + ?Sized>(store: &S) {
    must(store.commit(Batch::new()), "empty batch");
    assert!(all_entries(store).is_empty());
    put(store, b"r", b"v");
    let version = version_of(store, b"r");
    let mut holds = Batch::new();
    holds.expect_version(b"r", version).expect_absent(b"s");
    must(store.commit(holds), "read-only batch whose preconditions hold");
    assert_eq!(version_of(store, b"r"), version, "a read-only batch writes nothing");
    let mut fails = Batch::new();
    fails.expect_absent(b"r");
    expect_precondition_conflict(store.commit(fails), b"r", 0, version);
}

/// Scans return keys in ascending bytewise order, whatever order they were
/// written in.
pub fn scan_returns_keys_in_bytewise_order<S: Store + ?Sized>(store: &S) {
    let mut keys: Vec<Vec<u8>> = vec![
        b"b".to_vec(),
        b"a".to_vec(),
        b"ab".to_vec(),
        b"a\x00".to_vec(),
        b"a\xff".to_vec(),
        vec![0x00],
        vec![0xff],
        vec![0x7f],
        vec![0x80],
        b"A".to_vec(),
        b"aa".to_vec(),
        b"".to_vec(),
    ];
    for (index, key) in keys.iter().enumerate() {
        // One commit per key, in a scrambled order.
        put(store, key, &[index as u8]);
    }
    keys.sort();
    let scanned: Vec<Vec<u8>> = all_entries(store).into_iter().map(|e| e.key).collect();
    assert_eq!(
        scanned, keys,
        "scan must return keys in bytewise order (0x80 and 0xff sort after 0x7f)"
    );
}

/// Prefixes select exactly the keys that start with them, including at
/// `0x00` and `0xff` boundaries; the cursor is exclusive and may lie
/// anywhere, inside the prefix or not.
pub fn scan_respects_prefix_and_cursor_edges<S: Store + ?Sized>(store: &S) {
    let keys: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x61],
        vec![0x61, 0x00],
        vec![0x61, 0x00, 0x00],
        vec![0x61, 0x01],
        vec![0x61, 0xff],
        vec![0x61, 0xff, 0xff],
        vec![0x62],
        vec![0xfe, 0xff],
        vec![0xff],
        vec![0xff, 0x00],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 0xff],
    ];
    let mut batch = Batch::new();
    for key in &keys {
        batch.put(key.clone(), key.clone());
    }
    must(store.commit(batch), "seed batch");

    let expect = |prefix: &[u8], after: Option<&[u8]>| -> Vec<Vec<u8>> {
        let mut expected: Vec<Vec<u8>> = keys
            .iter()
            .filter(|key| key.starts_with(prefix) && after.is_none_or(|after| key.as_slice() > after))
            .cloned()
            .collect();
        expected.sort();
        expected
    };
    let prefixes: [&[u8]; 9] = [
        &[],
        &[0x61],
        &[0x61, 0x00],
        &[0x61, 0xff],
        &[0x60],
        &[0x62],
        &[0xff],
        &[0xff, 0xff],
        &[0xff, 0xff, 0xff, 0xff],
    ];
    let cursors: [Option<&[u8]>; 9] = [
        None,
        Some(&[]),
        Some(&[0x00]),
        Some(&[0x61]),
        Some(&[0x61, 0x00]),
        Some(&[0x61, 0x80]),
        Some(&[0x61, 0xff, 0xff]),
        Some(&[0xff]),
        Some(&[0xff, 0xff, 0xff, 0xff]),
    ];
    for prefix in prefixes {
        for after in cursors {
            let page = must(store.scan(prefix, after, MAX_SCAN_LIMIT), "scan");
            let found: Vec<Vec<u8>> = page.entries.iter().map(|e| e.key.clone()).collect();
            assert_eq!(
                found,
                expect(prefix, after),
                "scan(prefix {prefix:02x?}, after {after:02x?})"
            );
            assert!(!page.more, "a page that holds everything has no more");
            for entry in &page.entries {
                assert_eq!(
                    entry.value,
                    Bytes::from(entry.key.clone()),
                    "value travels with its key"
                );
            }
        }
    }
}

/// Paging with `next_after` visits every key once, for page sizes below,
/// at and above the number of keys; `more` is false exactly on the last page.
pub fn scan_pages_cover_everything_exactly_once<S: Store + ?Sized>(store: &S) {
    const KEY_COUNT: usize = 57;
    let mut batch = Batch::new();
    for i in 0..KEY_COUNT {
        batch.put(format!("page/{i:04}").into_bytes(), vec![i as u8]);
    }
    batch.put(b"pagf".to_vec(), b"outside".to_vec());
    batch.put(b"pag".to_vec(), b"outside".to_vec());
    must(store.commit(batch), "seed batch");
    let expected: Vec<Vec<u8>> = (0..KEY_COUNT).map(|i| format!("page/{i:04}").into_bytes()).collect();
    for limit in [1, 2, 3, 7, 19, 56, 57, 58, MAX_SCAN_LIMIT] {
        let mut seen = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        let mut pages = 0;
        loop {
            let page = must(store.scan(b"page/", after.as_deref(), limit), "scan page");
            pages += 1;
            assert!(page.entries.len() <= limit, "a page holds at most `limit` entries");
            assert!(pages <= KEY_COUNT + 1, "paging must terminate");
            seen.extend(page.entries.iter().map(|e| e.key.clone()));
            match page.next_after() {
                Some(next) => {
                    assert_eq!(page.entries.len(), limit, "only a full page may have more after it");
                    after = Some(next.to_vec());
                }
                None => break,
            }
        }
        assert_eq!(
            seen, expected,
            "pages of {limit} must cover every key exactly once, in order"
        );
        assert_eq!(
            pages,
            KEY_COUNT.div_ceil(limit),
            "pages of {limit}: no empty trailing page"
        );
    }
    let past_end = must(store.scan(b"page/", Some(b"page/9999"), 10), "scan past the end");
    assert!(past_end.entries.is_empty() && !past_end.more);
}

/// Over-long keys, over-large values and batches, and out-of-range scan
/// limits are refused with [`StoreError::Invalid`] and change nothing; the
/// limits themselves are accepted.
pub fn limits_are_enforced_before_anything_is_written<S: Store + ?Sized>(store: &S) {
    let longest = vec![0xab; MAX_KEY_BYTES];
    let too_long = vec![0xab; MAX_KEY_BYTES + 1];
    put(store, &longest, b"ok");
    assert!(must(store.get(&longest), "get of the longest key").is_some());
    must(store.scan(&longest, Some(&longest), 1), "scan at the longest key");
    let before = all_entries(store);

    expect_invalid(store.get(&too_long), "get of an over-long key");
    expect_invalid(store.scan(&too_long, None, 1), "scan with an over-long prefix");
    expect_invalid(store.scan(b"", Some(&too_long), 1), "scan with an over-long cursor");
    expect_invalid(store.scan(b"", None, 0), "scan with limit 0");
    expect_invalid(store.scan(b"", None, MAX_SCAN_LIMIT + 1), "scan above MAX_SCAN_LIMIT");

    let mut long_put = Batch::new();
    long_put
        .put(b"fine", b"v".to_vec())
        .put(too_long.clone(), b"v".to_vec());
    expect_invalid(store.commit(long_put), "put of an over-long key");
    let mut long_delete = Batch::new();
    long_delete.put(b"fine", b"v".to_vec()).delete(too_long.clone());
    expect_invalid(store.commit(long_delete), "delete of an over-long key");
    let mut long_check = Batch::new();
    long_check.put(b"fine", b"v".to_vec()).expect_absent(too_long);
    expect_invalid(store.commit(long_check), "precondition on an over-long key");

    let mut big_value = Batch::new();
    big_value
        .put(b"fine", b"v".to_vec())
        .put(b"big", vec![0u8; MAX_VALUE_BYTES + 1]);
    expect_invalid(store.commit(big_value), "value above MAX_VALUE_BYTES");

    let mut many = Batch::new();
    for i in 0..=MAX_BATCH_ENTRIES {
        many.delete((i as u32).to_be_bytes().to_vec());
    }
    many.put(b"fine", b"v".to_vec());
    match store.commit(many) {
        Err(StoreError::Invalid(InvalidRequest::BatchTooManyEntries { .. })) => {}
        other => panic!("a batch above MAX_BATCH_ENTRIES must be refused, got {other:?}"),
    }

    let shared = Bytes::from(vec![7u8; MAX_VALUE_BYTES]);
    let mut heavy = Batch::new();
    for i in 0..=(MAX_BATCH_BYTES / MAX_VALUE_BYTES) {
        heavy.put(format!("heavy/{i}").into_bytes(), shared.clone());
    }
    match store.commit(heavy) {
        Err(StoreError::Invalid(InvalidRequest::BatchTooLarge { .. })) => {}
        other => panic!("a batch above MAX_BATCH_BYTES must be refused, got {other:?}"),
    }

    assert_eq!(all_entries(store), before, "refused requests must change nothing");
}

/// Values of 1 MiB and of exactly [`MAX_VALUE_BYTES`] come back byte for byte,
/// from `get` and from `scan`.
pub fn large_values_round_trip<S: Store + ?Sized>(store: &S) {
    let one_mib = pattern(1024 * 1024 + 1, 1);
    let largest = pattern(MAX_VALUE_BYTES, 2);
    let mut batch = Batch::new();
    batch
        .put(b"large/1mib", one_mib.clone())
        .put(b"large/max", largest.clone());
    must(store.commit(batch), "commit of large values");
    assert!(
        value_of(store, b"large/1mib").is_some_and(|v| v[..] == one_mib[..]),
        "1 MiB value differs"
    );
    assert!(
        value_of(store, b"large/max").is_some_and(|v| v[..] == largest[..]),
        "MAX_VALUE_BYTES value differs"
    );
    let page = must(store.scan(b"large/", None, 10), "scan of large values");
    assert_eq!(page.entries.len(), 2);
    assert!(page.entries[0].value[..] == one_mib[..] && page.entries[1].value[..] == largest[..]);
    put(store, b"large/1mib", b"small again");
    assert_eq!(value_of(store, b"large/1mib").as_deref(), Some(&b"small again"[..]));
}

/// The empty key, keys of every single byte value, and keys full of `0x00`
/// or `0xff` are ordinary keys.
pub fn empty_and_binary_keys_work<S: Store + ?Sized>(store: &S) {
    put(store, b"", b"empty key");
    assert_eq!(value_of(store, b"").as_deref(), Some(&b"empty key"[..]));
    let mut keys: Vec<Vec<u8>> = (0u8..=255).map(|byte| vec![byte]).collect();
    keys.push(vec![0x00, 0x00]);
    keys.push(vec![0xff; MAX_KEY_BYTES]);
    keys.push(vec![0x00; MAX_KEY_BYTES]);
    let mut batch = Batch::new();
    for key in &keys {
        batch.put(key.clone(), key.clone());
    }
    must(store.commit(batch), "batch of binary keys");
    for key in &keys {
        assert_eq!(
            value_of(store, key).as_deref(),
            Some(key.as_slice()),
            "binary key {key:02x?}"
        );
    }
    let mut expected = keys.clone();
    expected.push(Vec::new());
    expected.sort();
    let scanned: Vec<Vec<u8>> = all_entries(store).into_iter().map(|e| e.key).collect();
    assert_eq!(
        scanned, expected,
        "binary keys scan in bytewise order, the empty key first"
    );

    let mut delete = Batch::new();
    delete.expect_version(b"", version_of(store, b"")).delete(b"");
    must(store.commit(delete), "delete of the empty key");
    assert_eq!(value_of(store, b""), None);
    assert_eq!(
        value_of(store, &[0x00]).as_deref(),
        Some(&[0x00][..]),
        "deleting the empty key leaves [0x00]"
    );
}

/// [`Config::cas_threads`] threads each run
/// [`Config::multi_key_rounds_per_thread`] transactions that read two
/// counters and write both (adding 1 and 2) plus a key of their own: at the
/// end the counters hold exactly the totals and every transaction's own key
/// is present, so no update was lost or applied twice.
///
/// Unlike [`concurrent_cas_increments_are_never_lost`], every commit here
/// checks and writes several keys, which is the path backends implement with
/// locks or multi-statement transactions.
pub fn multi_key_transactions_never_lose_an_update<S: Store + ?Sized>(store: &S, config: &Config) {
    use crate::txn::{RetryPolicy, Txn, transact};
    fn read_u64<S: Store + ?Sized>(txn: &mut Txn<'_, S>, key: &[u8]) -> Result<u64, StoreError> {
        Ok(txn.get(key)?.map_or(0, |value| {
            u64::from_be_bytes(value[..].try_into().expect("counters are 8 bytes"))
        }))
    }
    let policy = RetryPolicy::default().with_max_attempts(100_000);
    std::thread::scope(|scope| {
        for thread in 0..config.cas_threads {
            let policy = &policy;
            scope.spawn(move || {
                for round in 0..config.multi_key_rounds_per_thread {
                    let outcome = transact(store, policy, |txn| -> Result<(), StoreError> {
                        let a = read_u64(txn, b"multi/a")?;
                        let b = read_u64(txn, b"multi/b")?;
                        txn.put(b"multi/a".to_vec(), (a + 1).to_be_bytes().to_vec());
                        txn.put(b"multi/b".to_vec(), (b + 2).to_be_bytes().to_vec());
                        txn.put(format!("multi/log/{thread:03}/{round:06}").into_bytes(), Vec::new());
                        Ok(())
                    });
                    must(outcome, "a two-key transaction");
                }
            });
        }
    });
    let total = config.cas_threads as u64 * config.multi_key_rounds_per_thread;
    let counter =
        |key: &[u8]| value_of(store, key).map_or(0, |value| u64::from_be_bytes(value[..].try_into().expect("8 bytes")));
    assert_eq!(counter(b"multi/a"), total, "lost or doubled updates of the first key");
    assert_eq!(
        counter(b"multi/b"),
        2 * total,
        "lost or doubled updates of the second key"
    );
    let logged = must(
        scan_all(store, b"multi/log/", MAX_SCAN_LIMIT).collect::<Result<Vec<_>, _>>(),
        "scan of the log",
    )
    .len() as u64;
    assert_eq!(logged, total, "every transaction's own key is present once");
}

/// [`Config::write_skew_rounds`] times, two threads race one commit each:
/// one requires `x` absent and writes `y`, the other requires `y` absent and
/// writes `x` (both also require a third key absent, so neither is a
/// single-key compare-and-set). Serially, the second would conflict; if both
/// succeed, the backend allowed write skew. Failures must be conflicts.
pub fn write_skew_is_impossible<S: Store + ?Sized>(store: &S, config: &Config) {
    let barrier = std::sync::Barrier::new(2);
    let (mut both_won, mut one_won) = (0u64, 0u64);
    for round in 0..config.write_skew_rounds {
        let x = format!("skew/{round:06}/x").into_bytes();
        let y = format!("skew/{round:06}/y").into_bytes();
        let z = format!("skew/{round:06}/z").into_bytes();
        let commit = |check: &[u8], write: &[u8]| {
            let mut batch = Batch::new();
            batch
                .expect_absent(check.to_vec())
                .expect_absent(z.clone())
                .put(write.to_vec(), b"mine".to_vec());
            barrier.wait();
            store.commit(batch)
        };
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(|| commit(&y, &x));
            let second = scope.spawn(|| commit(&x, &y));
            (
                first.join().expect("racer panicked"),
                second.join().expect("racer panicked"),
            )
        });
        for result in [&first, &second] {
            if let Err(error) = result {
                assert!(
                    error.is_conflict(),
                    "a racing commit failed with {error:?}, not a conflict"
                );
            }
        }
        match (first.is_ok(), second.is_ok()) {
            (true, true) => both_won += 1,
            (true, false) | (false, true) => one_won += 1,
            (false, false) => {
                assert!(
                    value_of(store, &x).is_none() && value_of(store, &y).is_none(),
                    "both commits conflicted, yet something was written"
                );
            }
        }
    }
    assert_eq!(both_won, 0, "write skew: both commits succeeded in {both_won} rounds");
    assert!(
        one_won > 0 || config.write_skew_rounds == 0,
        "no round let a commit through"
    );
}

/// [`Config::cas_threads`] threads each add 1 to one counter
/// [`Config::cas_increments_per_thread`] times by compare-and-set, retrying
/// on conflict: the counter ends at exactly their product.
pub fn concurrent_cas_increments_are_never_lost<S: Store + ?Sized>(store: &S, config: &Config) {
    const COUNTER: &[u8] = b"cas/counter";
    let read_counter = |store: &S| -> (u64, u64) {
        match must(store.get(COUNTER), "get of the counter") {
            Some(found) => {
                let bytes: [u8; 8] = found.value[..].try_into().expect("counter is 8 bytes");
                (u64::from_be_bytes(bytes), found.version)
            }
            None => (0, 0),
        }
    };
    let conflicts: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..config.cas_threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut conflicts = 0u64;
                    for _ in 0..config.cas_increments_per_thread {
                        loop {
                            let (value, version) = read_counter(store);
                            let mut batch = Batch::new();
                            batch
                                .expect_version(COUNTER, version)
                                .put(COUNTER, (value + 1).to_be_bytes().to_vec());
                            match store.commit(batch) {
                                Ok(()) => break,
                                Err(StoreError::Conflict(_)) => {
                                    conflicts += 1;
                                    std::thread::yield_now();
                                }
                                Err(other) => panic!("CAS increment failed: {other:?}"),
                            }
                        }
                    }
                    conflicts
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker panicked")).sum()
    });
    let total = config.cas_threads as u64 * config.cas_increments_per_thread;
    let (value, version) = read_counter(store);
    assert_eq!(
        value, total,
        "lost or doubled increments ({conflicts} conflicts retried)"
    );
    assert!(
        version >= total,
        "each of the {total} writes must raise the version; it is {version}"
    );
}

/// How often one write in [`disjoint_writers_never_conflict`] may be aborted
/// by [`Conflict::Contention`] before the check calls it a livelock.
const MAX_CONTENTION_RETRIES_PER_WRITE: u32 = 1_000;

/// Threads that each write only their own key, by compare-and-set, never
/// see a precondition conflict, and make progress.
///
/// A backend may abort some of these commits with [`Conflict::Contention`]
/// (the trait allows it on engines with false conflicts, such as
/// PostgreSQL's serialization failures); the check retries them, but fails
/// if one write is aborted 1,000 times in a
/// row.
pub fn disjoint_writers_never_conflict<S: Store + ?Sized>(store: &S, config: &Config) {
    std::thread::scope(|scope| {
        for thread in 0..config.cas_threads {
            scope.spawn(move || {
                let key = format!("disjoint/{thread:03}").into_bytes();
                let mut version = 0;
                for write in 0..config.disjoint_writes_per_thread {
                    let mut contention_retries = 0u32;
                    loop {
                        let mut batch = Batch::new();
                        batch
                            .expect_version(key.clone(), version)
                            .put(key.clone(), write.to_be_bytes().to_vec());
                        match store.commit(batch) {
                            Ok(()) => break,
                            Err(StoreError::Conflict(Conflict::Contention { reason }))
                                if contention_retries < MAX_CONTENTION_RETRIES_PER_WRITE =>
                            {
                                contention_retries += 1;
                                assert_eq!(
                                    version_of(store, &key),
                                    version,
                                    "writer {thread}: a commit aborted by contention ({reason}) must write nothing"
                                );
                                std::thread::yield_now();
                            }
                            Err(error) => panic!(
                                "writer {thread} on its own key got {error:?} (after {contention_retries} contention retries)"
                            ),
                        }
                    }
                    let now = version_of(store, &key);
                    assert!(now > version, "versions grow");
                    version = now;
                }
            });
        }
    });
    let entries = all_entries(store);
    assert_eq!(entries.len(), config.cas_threads);
    let last = config.disjoint_writes_per_thread.saturating_sub(1).to_be_bytes();
    assert!(
        entries.iter().all(|e| e.value[..] == last[..]),
        "every key holds its writer's last value"
    );
}

/// The key [`cas_increment_worker`] and [`counter_value`] use.
pub const PROCESS_COUNTER_KEY: &[u8] = b"processes/counter";

/// The worker of a cross-process check: `increments` times, reads
/// [`PROCESS_COUNTER_KEY`] and writes it back plus one in a
/// [`transact`](crate::transact) (a commit that expects the version it
/// read), retried on conflict.
///
/// Run it in several OS processes on one shared store (see
/// [`run_worker_processes`]), then [`counter_value`] must be exactly the
/// sum of their increments: a lost or doubled increment means the backend
/// let two processes commit against the same version.
pub fn cas_increment_worker<S: Store + ?Sized>(store: &S, increments: u64) {
    use crate::txn::{RetryPolicy, transact};
    let policy = RetryPolicy::default().with_max_attempts(100_000);
    for _ in 0..increments {
        let outcome = transact(store, &policy, |txn| -> Result<(), StoreError> {
            let current = txn.get(PROCESS_COUNTER_KEY)?.map_or(0, |value| {
                u64::from_be_bytes(value[..].try_into().expect("the counter is 8 bytes"))
            });
            txn.put(PROCESS_COUNTER_KEY, (current + 1).to_be_bytes().to_vec());
            Ok(())
        });
        must(outcome, "a cross-process increment");
    }
}

/// The value and version of [`PROCESS_COUNTER_KEY`] (`(0, 0)` when absent).
pub fn counter_value<S: Store + ?Sized>(store: &S) -> (u64, u64) {
    match must(store.get(PROCESS_COUNTER_KEY), "get of the counter") {
        Some(found) => {
            let bytes: [u8; 8] = found.value[..].try_into().expect("the counter is 8 bytes");
            (u64::from_be_bytes(bytes), found.version)
        }
        None => (0, 0),
    }
}

/// Runs the ignored test `worker_test` of the current test binary in
/// `processes` child processes at once, each with the environment `env`
/// added, and waits for all of them; panics if any fails.
///
/// This is how a backend's tests put several OS processes on one store: the
/// test binary re-executes itself to run a worker test that is `#[ignore]`d
/// in normal runs and reads its store's address from the environment.
pub fn run_worker_processes(worker_test: &str, processes: usize, env: &[(&str, &str)]) {
    use std::process::{Command, Stdio};
    let exe = must(std::env::current_exe(), "the path of the test binary");
    let children: Vec<_> = (0..processes)
        .map(|_| {
            let mut command = Command::new(&exe);
            command
                .args(["--exact", worker_test, "--ignored", "--test-threads=1"])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            for (name, value) in env {
                command.env(name, value);
            }
            must(command.spawn(), "spawning a worker process")
        })
        .collect();
    for mut child in children {
        let status = must(child.wait(), "waiting for a worker process");
        assert!(status.success(), "worker process {worker_test} failed: {status}");
    }
}

/// Arbitrary bytes (a fuzzer's input, a property test's) read one byte at
/// a time, as zeros once they run out, so every input, however short,
/// decodes to some operation sequence. The domain crates' fuzz targets draw
/// their operations from it.
///
/// ```
/// let mut input = tally_store::testkit::FuzzBytes::new(&[7, 200]);
/// assert_eq!((input.u8(), input.u8(), input.u8()), (7, 200, 0));
/// assert!(input.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct FuzzBytes<'a> {
    data: &'a [u8],
}

impl<'a> FuzzBytes<'a> {
    /// Reads `data` from its first byte.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The next byte, or 0 past the end.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    /// Whether every byte has been read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
