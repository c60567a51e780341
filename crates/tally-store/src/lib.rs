//! The storage contract every tally crate persists through.
//!
//! tally's domain crates (payment channels, ledgers, Petri nets, ILP
//! connectors, marketplaces) hold no database of their own. They read and
//! write through the small [`Store`] trait defined here, so the host
//! application decides where state lives: in memory ([`MemStore`]), in an
//! embedded file (redb), on a shared server (PostgreSQL, Redis), or in its
//! own database behind its own implementation.
//!
//! # The contract in one paragraph
//!
//! Keys and values are bytes; keys are ordered bytewise. Every present key
//! has a `u64` version that grows on every write and is never reused, even
//! across a delete; an absent key has version `0`. [`Store::get`] reads one
//! key, [`Store::scan`] reads an ordered page of keys under a prefix, and
//! [`Store::commit`] applies a [`Batch`] of puts and deletes atomically *iff*
//! every precondition in it holds ("key at version v", "key absent"),
//! returning [`StoreError::Conflict`] and writing nothing otherwise. That one
//! optimistic check is what makes many threads, or many processes on one
//! database, safe.
//!
//! # Getting started
//!
//! ```
//! use tally_store::{transact, Batch, MemStore, RetryPolicy, Store, StoreError};
//!
//! let store = MemStore::new();
//!
//! // A plain atomic batch.
//! let mut batch = Batch::new();
//! batch.put(b"acct/alice", 100u64.to_be_bytes().to_vec())
//!      .put(b"acct/bob", 0u64.to_be_bytes().to_vec());
//! store.commit(batch)?;
//!
//! // A transfer as an optimistic transaction: reads become preconditions,
//! // conflicts are retried.
//! transact(&store, &RetryPolicy::default(), |txn| {
//!     let read = |bytes: Option<bytes::Bytes>| {
//!         bytes.and_then(|b| b[..].try_into().ok()).map_or(0, u64::from_be_bytes)
//!     };
//!     let alice = read(txn.get(b"acct/alice")?);
//!     let bob = read(txn.get(b"acct/bob")?);
//!     txn.put(b"acct/alice", (alice - 30).to_be_bytes().to_vec());
//!     txn.put(b"acct/bob", (bob + 30).to_be_bytes().to_vec());
//!     Ok::<_, StoreError>(())
//! })?;
//!
//! let bob = store.get(b"acct/bob")?.expect("bob exists");
//! assert_eq!(bob.value[..], 30u64.to_be_bytes());
//! # Ok::<(), StoreError>(())
//! ```
//!
//! # What is in the crate
//!
//! - [`Store`], [`Batch`], [`Versioned`], [`Page`], [`scan_all`]: the contract.
//! - [`StoreError`]: every failure, typed; [`Conflict`] says which key and
//!   versions clashed.
//! - [`transact`], [`Txn`], [`RetryPolicy`]: read-compute-commit with retries,
//!   the loop every domain shell runs. Every result and every error it
//!   returns was computed from one consistent snapshot
//!   ([the guarantee](txn#the-guarantee)); [`Txn::get_as`] and
//!   [`Txn::put_as`] read and write typed values through [`codec`].
//! - [`key`]: order-preserving composite keys (namespaces, big-endian
//!   integers, escaped variable-length parts).
//! - [`codec`]: serde values as compact bytes behind a format-version byte.
//! - [`MemStore`]: fast, thread-safe, in memory; the default for tests.
//! - [`FaultyStore`]: fails chosen calls before or after the write, to prove
//!   that nothing is lost or applied twice.
//! - [`Interleaved`]: runs a test's code between two reads of one
//!   transaction, to replay a race deterministically.
//! - [`testkit`] and [`conformance_tests!`]: the contract as tests, for any
//!   backend.
//!
//! # Limits
//!
//! Keys are at most [`MAX_KEY_BYTES`], values at most [`MAX_VALUE_BYTES`], a
//! batch at most [`MAX_BATCH_ENTRIES`] operations and preconditions and
//! [`MAX_BATCH_BYTES`] bytes, a scan page at most [`MAX_SCAN_LIMIT`] entries,
//! a [`Store::get_many`] at most [`MAX_GET_MANY_KEYS`] keys.
//! Requests beyond them fail with [`StoreError::Invalid`] before any I/O.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
pub mod codec;
mod error;
pub mod faulty;
pub mod interleave;
pub mod key;
mod mem;
mod store;
pub mod testkit;
pub mod txn;

pub use batch::{
    Batch, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_GET_MANY_KEYS, MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, Op,
    Precondition, validate_key, validate_keys, validate_scan,
};
pub use error::{BoxError, Conflict, InvalidRequest, Operation, StoreError};
pub use faulty::{Fault, FaultyStore, InjectedFault, Timing};
pub use interleave::Interleaved;
pub use mem::MemStore;
pub use store::{Entry, Page, ScanAll, Store, Versioned, scan_all};
pub use txn::{RetryPolicy, Txn, transact};

/// Re-exported so hosts and backends name the same `Bytes` type the trait uses.
pub use bytes;
