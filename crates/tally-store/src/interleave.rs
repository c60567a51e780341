//! [`Interleaved`]: a wrapper that runs a test's code between two reads of
//! one transaction, deterministically.
//!
//! Races between transactions depend on where one commit falls between
//! another's reads. Threads find such an interleaving only by luck; this
//! wrapper puts it exactly where a test wants it. Schedule a closure
//! *before the n-th read* (a `get` or a `scan`, counted from the moment it
//! is scheduled); the closure gets the inner store and may commit to it,
//! and then the read goes ahead and sees what the closure did.
//!
//! ```
//! use tally_store::interleave::Interleaved;
//! use tally_store::{transact, Batch, MemStore, RetryPolicy, Store, StoreError};
//!
//! let store = Interleaved::new(MemStore::new());
//! // Between the transaction's first and second read, another writer
//! // sets both keys.
//! store.before_read(2, |inner: &MemStore| {
//!     let mut batch = Batch::new();
//!     batch.put(b"a", b"theirs".to_vec()).put(b"b", b"theirs".to_vec());
//!     inner.commit(batch).expect("the other writer commits");
//! });
//! let mut attempts = 0;
//! let seen = transact(&store, &RetryPolicy::default(), |txn| {
//!     attempts += 1;
//!     let a = txn.get(b"a")?; // before the other commit
//!     let b = txn.get(b"b")?; // after it: a torn view
//!     Ok::<_, StoreError>((a, b))
//! })?;
//! // The torn attempt did not validate; the second saw one snapshot.
//! assert_eq!(attempts, 2);
//! assert_eq!(seen.0, seen.1);
//! # Ok::<(), StoreError>(())
//! ```

use std::fmt;
use std::sync::Mutex;

use crate::batch::Batch;
use crate::error::StoreError;
use crate::store::{Page, Store, Versioned};

type Hook<S> = Box<dyn FnOnce(&S) + Send>;

/// A [`Store`] that forwards every call to an inner store and runs scheduled
/// closures before chosen reads. See the [module docs](self).
///
/// Commits are forwarded untouched and do not count as reads.
pub struct Interleaved<S> {
    inner: S,
    state: Mutex<Schedule<S>>,
}

struct Schedule<S> {
    /// Reads (gets and scans) seen so far.
    reads: u64,
    /// `(read number, hook)`: run the hook just before that read.
    hooks: Vec<(u64, Hook<S>)>,
}

impl<S> fmt::Debug for Interleaved<S>
where
    S: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pending = self.state.lock().map_or(0, |state| state.hooks.len());
        f.debug_struct("Interleaved")
            .field("inner", &self.inner)
            .field("pending_hooks", &pending)
            .finish()
    }
}

impl<S: Store> Interleaved<S> {
    /// Wraps `inner`; nothing is scheduled.
    pub fn new(inner: S) -> Self {
        Interleaved {
            inner,
            state: Mutex::new(Schedule {
                reads: 0,
                hooks: Vec::new(),
            }),
        }
    }

    /// Runs `hook` with the inner store once, just before the `nth` read
    /// (`get` or `scan`, `1` = the next one) counted from now. Several hooks
    /// may be scheduled; hooks for the same read run in the order they were
    /// scheduled. `nth = 0` is treated as `1`.
    pub fn before_read(&self, nth: u64, hook: impl FnOnce(&S) + Send + 'static) {
        let mut state = self.lock();
        let at = state.reads.saturating_add(nth.max(1));
        state.hooks.push((at, Box::new(hook)));
    }

    /// How many scheduled hooks have not run yet.
    pub fn pending(&self) -> usize {
        self.lock().hooks.len()
    }

    /// How many reads have passed through so far.
    pub fn reads(&self) -> u64 {
        self.lock().reads
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store, dropping any hooks that have not run.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule<S>> {
        // A hook that panicked poisons nothing we rely on: the schedule is
        // a counter and a list.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one read and runs the hooks due before it, outside the lock
    /// (a hook may itself read through this wrapper).
    fn before_each_read(&self) {
        let due: Vec<Hook<S>> = {
            let mut state = self.lock();
            state.reads += 1;
            let now = state.reads;
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.hooks)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            state.hooks = later;
            due.into_iter().map(|(_, hook)| hook).collect()
        };
        for hook in due {
            hook(&self.inner);
        }
    }
}

impl<S: Store> Store for Interleaved<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.before_each_read();
        self.inner.get(key)
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.before_each_read();
        self.inner.scan(prefix, after, limit)
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.inner.commit(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemStore;

    #[test]
    fn hooks_run_once_before_the_chosen_read() {
        let store = Interleaved::new(MemStore::new());
        store.before_read(2, |inner| {
            let mut batch = Batch::new();
            batch.put(b"k", b"v".to_vec());
            inner.commit(batch).expect("commit");
        });
        assert_eq!(store.get(b"k").expect("get"), None, "first read: before the hook");
        assert_eq!(store.pending(), 1);
        assert!(
            store.get(b"k").expect("get").is_some(),
            "second read sees the hook's commit"
        );
        assert_eq!(store.pending(), 0);
        assert_eq!(store.reads(), 2);
    }
}
