//! The [`Store`] trait: the whole storage contract in three methods.

use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Batch, MAX_SCAN_LIMIT};
use crate::error::StoreError;

/// A value as stored, with the version it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The stored bytes.
    pub value: Bytes,
    /// The key's version; always `>= 1` for a present key.
    pub version: u64,
}

/// One key-value pair returned by a [`scan`](Store::scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: Vec<u8>,
    /// The stored bytes.
    pub value: Bytes,
    /// The key's version (`>= 1`).
    pub version: u64,
}

/// One page of a [`scan`](Store::scan), in ascending key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The entries, ordered bytewise by key, at most `limit` of them.
    pub entries: Vec<Entry>,
    /// True when more keys with the prefix follow the last entry.
    pub more: bool,
}

impl Page {
    /// The cursor for the next page (the last key of this one), or `None`
    /// when the scan is complete.
    pub fn next_after(&self) -> Option<&[u8]> {
        if self.more {
            self.entries.last().map(|entry| entry.key.as_slice())
        } else {
            None
        }
    }
}

/// An ordered, versioned key-value store with atomic conditional commits.
///
/// Three required methods ([`get`](Store::get), [`scan`](Store::scan),
/// [`commit`](Store::commit)) and one provided ([`get_many`](Store::get_many),
/// which a backend may override to save round trips). This is the whole
/// contract every tally backend keeps (MemStore, redb,
/// PostgreSQL, Redis, or a host's own); [`testkit`](crate::testkit) checks it.
///
/// - **Keys** are byte strings of at most [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES),
///   ordered bytewise (the empty key is valid and sorts first). **Values** are
///   byte strings of at most [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES).
/// - **Versions**: every present key has a `u64` version `>= 1`; an absent key
///   has version `0`. Each write gives the key a version strictly greater than
///   any version it ever had, *including before it was deleted*, so a version
///   seen once is never seen again for another value of that key (no ABA).
///   Versions of different keys are unrelated.
/// - **Commits** are atomic and conditional: see [`commit`](Store::commit).
/// - **Durability**: `commit` returns only once the backend's durability
///   promise (documented by each backend) holds.
/// - **Concurrency**: implementations are `Send + Sync`; any number of threads
///   (and, for shared backends, processes) may call any method at once. Each
///   `get` and each `commit` is linearizable. A multi-page scan is not a
///   snapshot: each page reflects the state at the time it was read.
///
/// Every method validates its arguments against the limits and returns
/// [`StoreError::Invalid`] without touching storage when they are broken.
pub trait Store: Send + Sync {
    /// Reads `key`: its value and version, or `None` when absent.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an over-long key; [`StoreError::Backend`]
    /// or [`StoreError::Corrupt`] when the backend fails.
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError>;

    /// Reads up to `limit` entries whose key starts with `prefix` and is
    /// strictly greater than `after` (when given), in ascending key order.
    ///
    /// Page through everything by passing the previous page's
    /// [`Page::next_after`] as `after`, or use [`scan_all`].
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when `limit` is `0` or above
    /// [`MAX_SCAN_LIMIT`](crate::MAX_SCAN_LIMIT) or a key is over-long;
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`] when the backend fails.
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError>;

    /// Applies `batch` atomically **iff** every precondition holds.
    ///
    /// Preconditions are checked against the state before the batch; then
    /// the operations apply in order (a later write to the same key wins) and
    /// every written key gets a new version. Either all of it becomes visible
    /// at once, or none of it.
    ///
    /// # Errors
    /// - [`StoreError::Conflict`]: a precondition failed or the backend
    ///   aborted a racing transaction; **nothing was written**.
    /// - [`StoreError::Invalid`]: the batch breaks a limit
    ///   ([`Batch::validate`]); nothing was written.
    /// - [`StoreError::Backend`]: the backend failed; the batch may or may not
    ///   have been applied (a lost acknowledgement). Read before retrying.
    fn commit(&self, batch: Batch) -> Result<(), StoreError>;

    /// Reads every key of `keys`: one answer per key, in order, each what
    /// [`get`](Store::get) would answer (a key may appear more than once).
    ///
    /// The answers are not promised to come from one snapshot: like the
    /// pages of a scan, each may reflect a different moment (a backend may
    /// do better). The provided implementation calls `get` once per key;
    /// backends that pay a round trip per call (PostgreSQL, Redis)
    /// override it to read everything in one.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for more than
    /// [`MAX_GET_MANY_KEYS`](crate::MAX_GET_MANY_KEYS) keys or an over-long
    /// key (before any read); otherwise as [`get`](Store::get).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        crate::batch::validate_keys(keys)?;
        keys.iter().map(|key| self.get(key)).collect()
    }
}

/// Smart pointers to a store are stores: `&S`, `Arc<S>` and `Box<S>` (also
/// for `S = dyn Store`) forward every call.
macro_rules! forward_store {
    ($($pointer:ty),+) => {$(
        impl<S: Store + ?Sized> Store for $pointer {
            fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
                (**self).get(key)
            }
            fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
                (**self).scan(prefix, after, limit)
            }
            fn commit(&self, batch: Batch) -> Result<(), StoreError> {
                (**self).commit(batch)
            }
            fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
                (**self).get_many(keys)
            }
        }
    )+};
}

forward_store!(&S, Arc<S>, Box<S>);

/// Iterates over every entry whose key starts with `prefix`, fetching pages
/// of `page_size` entries (clamped to `1..=MAX_SCAN_LIMIT`) as it goes.
///
/// Like paging by hand, this is not a snapshot: keys written while it runs may
/// or may not appear, but each key appears at most once and in order. After
/// the first error the iterator ends.
///
/// ```
/// use tally_store::{scan_all, Batch, MemStore, Store};
///
/// let store = MemStore::new();
/// let mut batch = Batch::new();
/// for i in 0u8..5 {
///     batch.put(vec![b'k', i], vec![i]);
/// }
/// store.commit(batch)?;
/// let keys: Vec<Vec<u8>> = scan_all(&store, b"k", 2)
///     .map(|entry| entry.map(|e| e.key))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(keys.len(), 5);
/// # Ok::<(), tally_store::StoreError>(())
/// ```
pub fn scan_all<'a, S: Store + ?Sized>(store: &'a S, prefix: &'a [u8], page_size: usize) -> ScanAll<'a, S> {
    ScanAll {
        store,
        prefix,
        page_size: page_size.clamp(1, MAX_SCAN_LIMIT),
        after: None,
        buffer: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator returned by [`scan_all`].
#[derive(Debug)]
pub struct ScanAll<'a, S: ?Sized> {
    store: &'a S,
    prefix: &'a [u8],
    page_size: usize,
    after: Option<Vec<u8>>,
    buffer: std::vec::IntoIter<Entry>,
    done: bool,
}

impl<S: Store + ?Sized> Iterator for ScanAll<'_, S> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.buffer.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match self.store.scan(self.prefix, self.after.as_deref(), self.page_size) {
                Ok(page) => {
                    self.done = !page.more;
                    self.after = page.entries.last().map(|entry| entry.key.clone());
                    if self.after.is_none() {
                        self.done = true;
                    }
                    self.buffer = page.entries.into_iter();
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}
