//! Optimistic transactions: read, compute, commit, and retry on conflict.
//!
//! [`transact`] runs a closure against a [`Txn`]. Every key the closure reads
//! through the `Txn` becomes a precondition (the key must still be at the
//! version it was read at), and every write is buffered. When the closure
//! returns, the writes and preconditions go to the store as one
//! [`Batch`]; if another writer got there first the store answers
//! [`Conflict`](crate::StoreError::Conflict), nothing is written, and the
//! closure runs again on fresh reads, up to [`RetryPolicy::max_attempts`]
//! times.
//!
//! # The guarantee
//!
//! **Every `Ok` and every error the closure returns through `transact` was
//! computed from one consistent snapshot of the keys it read**: as if the
//! closure had run alone, at one instant, between two commits.
//!
//! Reads go to the store one key at a time, so within one attempt a closure
//! can see key A from before a concurrent commit and key B from after it (a
//! *torn view*). A result computed from such a view is never returned:
//!
//! - on `Ok`, the commit carries every read as a precondition, so it
//!   conflicts (and the closure runs again) unless all of them still hold;
//! - on `Err`, `transact` first checks the read set with a commit of
//!   preconditions only (it writes nothing). If any key read has changed
//!   since, the error may be an artefact of the torn view, so the closure
//!   runs again on fresh reads instead; only an error the check confirms is
//!   returned.
//!
//! Keys read with [`Txn::scan_guarded`] are covered by their guard key, as
//! that method describes; reads through [`Txn::store`] are not covered at all.
//!
//! ```
//! use tally_store::{transact, MemStore, RetryPolicy, StoreError};
//!
//! let store = MemStore::new();
//! // Increment a counter; safe from any number of threads.
//! let next = transact(&store, &RetryPolicy::default(), |txn| {
//!     let current = match txn.get(b"counter")? {
//!         Some(bytes) => u64::from_be_bytes(bytes[..].try_into().unwrap_or_default()),
//!         None => 0,
//!     };
//!     txn.put(b"counter", (current + 1).to_be_bytes().to_vec());
//!     Ok::<_, StoreError>(current + 1)
//! })?;
//! assert_eq!(next, 1);
//! # Ok::<(), StoreError>(())
//! ```
//!
//! # Idempotence and lost acknowledgements
//!
//! The closure may run several times, so it must not have effects outside
//! the `Txn`. When the final commit fails with
//! [`StoreError::Backend`], the batch may have
//! been applied anyway; `transact` returns that error rather than guessing.
//! Write domain closures so that running them again after such an error is
//! safe: key each change by an id, read that id first, and do nothing if the
//! change is already there. Then nothing is lost and nothing applies twice.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::{Batch, Precondition};
use crate::codec;
use crate::error::StoreError;
use crate::store::{Page, Store, Versioned};

/// How often, and how patiently, [`transact`] retries after a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most times the closure runs and commits (at least 1).
    pub max_attempts: u32,
    /// The pause after the second conflict; it doubles after each further
    /// one (the first conflict only yields the thread). Each pause is
    /// jittered down to between half and all of its nominal length so racing
    /// writers spread out.
    pub backoff_initial: Duration,
    /// The longest pause between attempts.
    pub backoff_max: Duration,
}

impl Default for RetryPolicy {
    /// 100 attempts, pauses from 20 µs up to 5 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 100,
            backoff_initial: Duration::from_micros(20),
            backoff_max: Duration::from_millis(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that tries exactly once: the caller handles conflicts.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The same policy with `max_attempts` changed.
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Waits before attempt `next_attempt` (2, 3, ...).
    fn pause(&self, next_attempt: u32) {
        debug_assert!(next_attempt >= 2);
        if next_attempt == 2 || self.backoff_max.is_zero() {
            std::thread::yield_now();
            return;
        }
        let doublings = (next_attempt - 3).min(30);
        let nominal = self
            .backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max);
        // Jitter from the std hasher's per-instance random keys: no RNG crate needed.
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let fraction = 0.5 + (random % 1024) as f64 / 2048.0;
        std::thread::sleep(nominal.mul_f64(fraction));
    }
}

/// Runs `body` as an optimistic transaction against `store`, retrying on
/// conflict; returns what `body` returned once its writes are committed.
///
/// The closure's error type only needs `From<StoreError>`, so domain errors
/// pass straight through: returning `Err` aborts the transaction and writes
/// nothing. The error is returned once a commit of preconditions only has
/// confirmed that every key the closure read is still at the version it saw;
/// if one changed, the error may come from a torn view, so the closure runs
/// again instead (see [the guarantee](crate::txn#the-guarantee)).
///
/// # Errors
/// - whatever `body` returns, confirmed as above;
/// - [`StoreError::RetriesExhausted`] when every attempt conflicted (at its
///   commit, or at the check of its error);
/// - any other [`StoreError`] from a read, the commit or the check,
///   unretried (see the [module docs](crate::txn) on lost acknowledgements).
pub fn transact<S, T, E, F>(store: &S, policy: &RetryPolicy, mut body: F) -> Result<T, E>
where
    S: Store + ?Sized,
    E: From<StoreError>,
    F: FnMut(&mut Txn<'_, S>) -> Result<T, E>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let mut txn = Txn::new(store);
        let (batch, outcome) = match body(&mut txn) {
            Ok(output) => (txn.into_batch(), Ok(output)),
            // Abort, but only with an error computed from one snapshot.
            Err(error) => (txn.into_read_check(), Err(error)),
        };
        if batch.is_empty() {
            return outcome;
        }
        match store.commit(batch) {
            Ok(()) => return outcome,
            Err(StoreError::Conflict(conflict)) => {
                if attempt >= max_attempts {
                    return Err(StoreError::RetriesExhausted {
                        attempts: attempt,
                        last: conflict,
                    }
                    .into());
                }
            }
            Err(other) => return Err(other.into()),
        }
        attempt += 1;
        policy.pause(attempt);
    }
}

/// One attempt of an optimistic transaction; see [`transact`].
///
/// Reads go to the store the first time a key is asked for and are then
/// repeated from memory, so the closure sees one consistent view; the
/// commit fails with a conflict if any key read has changed since. Writes are
/// buffered and visible to later reads of the same `Txn`.
#[derive(Debug)]
pub struct Txn<'s, S: ?Sized> {
    store: &'s S,
    /// What each key held when first read: its value (`None` = absent), for
    /// repeated reads, and its version (`0` = absent), for the commit.
    reads: BTreeMap<Vec<u8>, (Option<Bytes>, u64)>,
    /// Buffered writes: `Some` = put, `None` = delete.
    writes: BTreeMap<Vec<u8>, Option<Bytes>>,
    /// Preconditions asked for explicitly with [`Txn::expect_version`].
    expected: Vec<Precondition>,
}

impl<'s, S: Store + ?Sized> Txn<'s, S> {
    /// A transaction with nothing read or written yet. Commit it with
    /// [`into_batch`](Txn::into_batch) and [`Store::commit`], or let
    /// [`transact`] do both.
    pub fn new(store: &'s S) -> Self {
        Txn {
            store,
            reads: BTreeMap::new(),
            writes: BTreeMap::new(),
            expected: Vec::new(),
        }
    }

    /// Reads `key`: this transaction's own pending write if there is one,
    /// else the store's value, which is remembered and becomes a
    /// precondition of the commit.
    ///
    /// # Errors
    /// Whatever [`Store::get`] returns.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        if let Some(pending) = self.writes.get(key) {
            return Ok(pending.clone());
        }
        self.read_from_store(key)
    }

    /// Reads `key` like [`get`](Txn::get) and decodes it with the
    /// [`codec`] as a `T`.
    ///
    /// ```
    /// use tally_store::{transact, MemStore, RetryPolicy, StoreError};
    ///
    /// let store = MemStore::new();
    /// let total = transact(&store, &RetryPolicy::default(), |txn| {
    ///     let seen: u64 = txn.get_as(b"total")?.unwrap_or(0);
    ///     txn.put_as(b"total", &(seen + 5))?;
    ///     Ok::<_, StoreError>(seen + 5)
    /// })?;
    /// assert_eq!(total, 5);
    /// # Ok::<(), StoreError>(())
    /// ```
    ///
    /// # Errors
    /// Whatever [`Store::get`] returns, and [`StoreError::Codec`] (naming the
    /// key) when the stored bytes are not a `T`.
    pub fn get_as<T: DeserializeOwned>(&mut self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            Some(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|error| StoreError::codec(key, error)),
            None => Ok(None),
        }
    }

    /// Reads one page from the store, like [`Store::scan`], and makes the
    /// version of every returned key a precondition.
    ///
    /// The page shows the store, not this transaction's pending writes. It
    /// does not guard against keys *inserted* into the range later (the
    /// storage contract has no range locks): guard such invariants with a
    /// key you read and write, such as a counter or an index entry.
    ///
    /// # Errors
    /// Whatever [`Store::scan`] returns.
    pub fn scan(&mut self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        let page = self.store.scan(prefix, after, limit)?;
        for entry in &page.entries {
            if let btree_map::Entry::Vacant(slot) = self.reads.entry(entry.key.clone()) {
                slot.insert((Some(entry.value.clone()), entry.version));
            }
        }
        Ok(page)
    }

    /// Reads one page from the store, like [`Store::scan`], **without** making
    /// the returned keys preconditions; instead `guard` is read through this
    /// transaction (if it was not already), so the commit, and the check of a
    /// returned error, conflict if `guard` changed.
    ///
    /// This is how a transaction reads many records cheaply: a scan through
    /// [`scan`](Txn::scan) adds one precondition per entry (on PostgreSQL, one
    /// row lock each), while a guarded scan adds one in all.
    ///
    /// # When this is safe
    ///
    /// Only when **every** writer of the keys under `prefix` also writes
    /// `guard` in the same commit (for example a per-channel record that
    /// every event insert rewrites). Then a commit that changes the scanned
    /// range changes `guard` too, and this transaction cannot commit, or
    /// return an error, on a stale view. If some writer can change the range
    /// without touching `guard`, use [`scan`](Txn::scan).
    ///
    /// Like [`scan`](Txn::scan), the page shows the store, not this
    /// transaction's pending writes.
    ///
    /// # Errors
    /// Whatever [`Store::get`] (for `guard`) or [`Store::scan`] returns.
    pub fn scan_guarded(
        &mut self,
        guard: &[u8],
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.read_from_store(guard)?;
        self.store.scan(prefix, after, limit)
    }

    /// What the store held at `key` when this transaction first read it
    /// (reading it now if it has not), ignoring this transaction's own
    /// writes. Every key read this way is a precondition of the commit.
    fn read_from_store(&mut self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        if let Some((value, _version)) = self.reads.get(key) {
            return Ok(value.clone());
        }
        let (value, version) = match self.store.get(key)? {
            Some(Versioned { value, version }) => (Some(value), version),
            None => (None, 0),
        };
        self.reads.insert(key.to_vec(), (value.clone(), version));
        Ok(value)
    }

    /// Buffers a write of `value` to `key`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Bytes>) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    /// Encodes `value` with the [`codec`] and buffers its write
    /// to `key`; read it back with [`get_as`](Txn::get_as).
    ///
    /// # Errors
    /// [`StoreError::Codec`] (naming the key) when `T`'s `Serialize`
    /// implementation fails; nothing is buffered then.
    pub fn put_as<T: Serialize + ?Sized>(&mut self, key: impl Into<Vec<u8>>, value: &T) -> Result<(), StoreError> {
        let key = key.into();
        match codec::encode(value) {
            Ok(bytes) => {
                self.put(key, bytes);
                Ok(())
            }
            Err(error) => Err(StoreError::codec(&key, error)),
        }
    }

    /// Buffers a removal of `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), None);
    }

    /// Requires `key` to be at `version` (`0` = absent) at commit time,
    /// without reading it. If the key was read at another version, both
    /// cannot hold and the commit conflicts.
    pub fn expect_version(&mut self, key: impl Into<Vec<u8>>, version: u64) {
        self.expected.push(Precondition {
            key: key.into(),
            version,
        });
    }

    /// The store, for reads that should **not** become preconditions.
    pub fn store(&self) -> &'s S {
        self.store
    }

    /// True when nothing has been read or written.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.writes.is_empty() && self.expected.is_empty()
    }

    /// A batch of preconditions only, writing nothing: every key this
    /// transaction read must still be at the version it saw. Committing it
    /// proves that what the transaction saw was one consistent snapshot;
    /// [`transact`] does this before it returns a closure's error.
    ///
    /// Explicit [`expect_version`](Txn::expect_version) preconditions are
    /// left out: they guard the writes, which an aborted transaction drops.
    pub fn into_read_check(self) -> Batch {
        let mut batch = Batch::new();
        for (key, (_value, version)) in self.reads {
            batch.expect_version(key, version);
        }
        batch
    }

    /// The batch this transaction commits: its writes in key order, guarded
    /// by the version of every key it read.
    pub fn into_batch(self) -> Batch {
        let mut batch = Batch::with_capacity(self.writes.len());
        for (key, (_value, version)) in self.reads {
            batch.expect_version(key, version);
        }
        for Precondition { key, version } in self.expected {
            batch.expect_version(key, version);
        }
        for (key, write) in self.writes {
            match write {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            };
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Conflict, MemStore};

    fn put(store: &MemStore, key: &[u8], value: &[u8]) {
        let mut batch = Batch::new();
        batch.put(key, value.to_vec());
        store.commit(batch).expect("commit");
    }

    #[test]
    fn reads_see_pending_writes_and_repeat() {
        let store = MemStore::new();
        put(&store, b"a", b"1");
        let mut txn = Txn::new(&store);
        assert_eq!(txn.get(b"a").expect("get").as_deref(), Some(&b"1"[..]));
        put(&store, b"a", b"2"); // another writer
        assert_eq!(
            txn.get(b"a").expect("get").as_deref(),
            Some(&b"1"[..]),
            "repeatable read"
        );
        txn.put(b"a", b"3".to_vec());
        assert_eq!(txn.get(b"a").expect("get").as_deref(), Some(&b"3"[..]));
        txn.delete(b"a");
        assert_eq!(txn.get(b"a").expect("get"), None);
        let conflict = store.commit(txn.into_batch()).expect_err("a changed since it was read");
        assert!(conflict.is_conflict());
        assert_eq!(&store.get(b"a").expect("get").expect("present").value[..], b"2");
    }

    #[test]
    fn closure_errors_abort_without_writing_or_retrying() {
        let store = MemStore::new();
        let mut runs = 0;
        let result: Result<(), StoreError> = transact(&store, &RetryPolicy::default(), |txn| {
            runs += 1;
            txn.put(b"x", b"never".to_vec());
            Err(StoreError::Invalid(crate::InvalidRequest::ScanLimit {
                limit: 0,
                max_limit: 1,
            }))
        });
        assert!(result.is_err());
        assert_eq!(runs, 1);
        assert!(store.is_empty());
    }

    /// A domain error that only a torn view can produce: "b is set but a is not",
    /// although every writer sets both at once.
    fn torn_view_check(txn: &mut Txn<'_, crate::Interleaved<MemStore>>) -> Result<&'static str, String> {
        let a = txn.get(b"a").map_err(|e| e.to_string())?;
        let b = txn.get(b"b").map_err(|e| e.to_string())?;
        match (a, b) {
            (None, Some(_)) => Err("b without a: impossible in any serial order".to_owned()),
            (Some(_), None) => Err("a without b".to_owned()),
            (Some(_), Some(_)) => Ok("both"),
            (None, None) => Ok("neither"),
        }
    }

    fn write_both(inner: &MemStore) {
        let mut batch = Batch::new();
        batch.put(b"a", b"1".to_vec()).put(b"b", b"1".to_vec());
        inner.commit(batch).expect("the other writer commits");
    }

    impl From<StoreError> for String {
        fn from(error: StoreError) -> String {
            error.to_string()
        }
    }

    #[test]
    fn an_error_from_a_torn_view_is_never_returned() {
        let store = crate::Interleaved::new(MemStore::new());
        // Another writer commits between the first attempt's two reads.
        store.before_read(2, write_both);
        let mut attempts = 0;
        let outcome = transact(&store, &RetryPolicy::default(), |txn| {
            attempts += 1;
            torn_view_check(txn)
        });
        assert_eq!(outcome, Ok("both"), "the torn attempt's error must not escape");
        assert_eq!(attempts, 2);
    }

    #[test]
    fn a_confirmed_error_is_returned_after_one_attempt_and_writes_nothing() {
        let store = crate::Interleaved::new(MemStore::new());
        put(store.inner(), b"a", b"1");
        let mut attempts = 0;
        let outcome = transact(&store, &RetryPolicy::default(), |txn| {
            attempts += 1;
            txn.put(b"junk", b"never".to_vec());
            torn_view_check(txn)
        });
        assert_eq!(outcome, Err("a without b".to_owned()));
        assert_eq!(attempts, 1);
        assert!(store.inner().get(b"junk").expect("get").is_none());
    }

    #[test]
    fn errors_from_views_torn_on_every_attempt_exhaust_the_retries() {
        let store = crate::Interleaved::new(MemStore::new());
        let mut attempts = 0;
        let outcome: Result<&str, String> = transact(&store, &RetryPolicy::default().with_max_attempts(3), |txn| {
            attempts += 1;
            // Before this attempt's second read, someone changes `a` again.
            txn.store().before_read(2, move |inner: &MemStore| {
                let mut batch = Batch::new();
                batch.put(b"a", vec![0u8; 1]);
                inner.commit(batch).expect("commit");
            });
            txn.get(b"a")?;
            txn.get(b"b")?;
            Err("computed from a torn view".to_owned())
        });
        assert_eq!(attempts, 3);
        let error = outcome.expect_err("never confirmed");
        assert!(error.contains("gave up after 3 attempts"), "{error}");
    }

    #[test]
    fn typed_values_round_trip_and_bad_bytes_name_their_key() {
        let store = MemStore::new();
        transact(&store, &RetryPolicy::no_retry(), |txn| {
            txn.put_as(b"pair", &(7u32, "seven".to_owned()))?;
            let back: Option<(u32, String)> = txn.get_as(b"pair")?;
            assert_eq!(back, Some((7, "seven".to_owned())), "reads see pending typed writes");
            Ok::<_, StoreError>(())
        })
        .expect("commit");
        put(&store, b"garbage", &[99, 1, 2]);
        let mut txn = Txn::new(&store);
        let missing: Option<u64> = txn.get_as(b"missing").expect("absent is not an error");
        assert_eq!(missing, None);
        match txn.get_as::<u64>(b"garbage") {
            Err(StoreError::Codec { key, error }) => {
                assert_eq!(key, b"garbage");
                assert_eq!(error, crate::codec::CodecError::UnknownFormat { found: 99 });
            }
            other => panic!("expected a codec error, got {other:?}"),
        }
        let pair: Option<(u32, String)> = Txn::new(&store).get_as(b"pair").expect("stored");
        assert_eq!(pair, Some((7, "seven".to_owned())));
    }

    #[test]
    fn guarded_scans_are_covered_by_their_guard_alone() {
        let store = MemStore::new();
        put(&store, b"guard", b"1");
        put(&store, b"e/1", b"x");
        put(&store, b"e/2", b"y");

        // The scanned keys are not preconditions: the batch checks the guard only.
        let mut txn = Txn::new(&store);
        let page = txn.scan_guarded(b"guard", b"e/", None, 10).expect("scan");
        assert_eq!(page.entries.len(), 2);
        txn.put(b"out", b"ok".to_vec());
        let batch = txn.into_batch();
        let checked: Vec<&[u8]> = batch.preconditions().iter().map(|p| p.key.as_slice()).collect();
        assert_eq!(checked, vec![&b"guard"[..]]);
        store.commit(batch).expect("nothing changed");

        // A writer that changes the range and the guard makes the commit conflict,
        // even when the transaction wrote the guard without reading it first.
        let mut txn = Txn::new(&store);
        txn.put(b"guard", b"mine".to_vec());
        txn.scan_guarded(b"guard", b"e/", None, 10).expect("scan");
        let mut theirs = Batch::new();
        theirs.put(b"e/3", b"z".to_vec()).put(b"guard", b"2".to_vec());
        store.commit(theirs).expect("their commit");
        assert!(store.commit(txn.into_batch()).expect_err("guard changed").is_conflict());
    }

    #[test]
    fn read_checks_hold_reads_only() {
        let store = MemStore::new();
        put(&store, b"r", b"1");
        let mut txn = Txn::new(&store);
        txn.get(b"r").expect("get");
        txn.get(b"absent").expect("get");
        txn.expect_version(b"w".to_vec(), 42);
        txn.put(b"w", b"x".to_vec());
        let check = txn.into_read_check();
        assert!(check.ops().is_empty());
        let keys: Vec<&[u8]> = check.preconditions().iter().map(|p| p.key.as_slice()).collect();
        assert_eq!(keys, vec![&b"absent"[..], &b"r"[..]]);
        store.commit(check).expect("reads unchanged");
    }

    #[test]
    fn gives_up_after_max_attempts_with_the_last_conflict() {
        let store = MemStore::new();
        let mut runs = 0;
        let result = transact(&store, &RetryPolicy::default().with_max_attempts(3), |txn| {
            runs += 1;
            txn.get(b"hot")?;
            // Someone else always writes between our read and our commit.
            put(txn.store(), b"hot", b"theirs");
            txn.put(b"hot", b"ours".to_vec());
            Ok::<_, StoreError>(())
        });
        assert_eq!(runs, 3);
        match result {
            Err(StoreError::RetriesExhausted {
                attempts: 3,
                last: Conflict::Precondition { key, .. },
            }) => {
                assert_eq!(key, b"hot");
            }
            other => panic!("expected RetriesExhausted, got {other:?}"),
        }
        assert_eq!(&store.get(b"hot").expect("get").expect("present").value[..], b"theirs");
    }

    #[test]
    fn contradictory_expectations_conflict() {
        let store = MemStore::new();
        let mut txn = Txn::new(&store);
        txn.expect_version(b"k".to_vec(), 0);
        txn.expect_version(b"k".to_vec(), 5);
        txn.put(b"k", b"v".to_vec());
        assert!(store.commit(txn.into_batch()).expect_err("impossible").is_conflict());
        assert!(store.is_empty());
    }

    #[test]
    fn scan_reads_become_preconditions() {
        let store = MemStore::new();
        put(&store, b"p1", b"a");
        put(&store, b"p2", b"b");
        let mut txn = Txn::new(&store);
        let page = txn.scan(b"p", None, 10).expect("scan");
        assert_eq!(page.entries.len(), 2);
        txn.put(b"sum", b"ab".to_vec());
        put(&store, b"p2", b"changed");
        assert!(store.commit(txn.into_batch()).expect_err("p2 changed").is_conflict());
    }

    #[test]
    fn read_only_and_empty_transactions_commit_nothing() {
        let store = MemStore::new();
        let value = transact(&store, &RetryPolicy::no_retry(), |txn| {
            assert!(txn.is_empty());
            Ok::<_, StoreError>(7)
        })
        .expect("empty transaction");
        assert_eq!(value, 7);
        let seen = transact(&store, &RetryPolicy::no_retry(), |txn| txn.get(b"missing")).expect("read-only");
        assert_eq!(seen, None);
        assert!(store.is_empty());
    }
}
