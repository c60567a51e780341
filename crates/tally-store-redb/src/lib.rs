//! The embedded, durable [`Store`]: one [redb](https://docs.rs/redb) file,
//! no server.
//!
//! [`RedbStore`] keeps tally's ordered, versioned key-value contract in a
//! single file. It is the default store for hosts that persist on one
//! machine: open a path and go.
//!
//! ```
//! use tally_store::{Batch, Store};
//! use tally_store_redb::RedbStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = RedbStore::open(dir.path().join("tally.redb"))?;
//!
//! let mut batch = Batch::new();
//! batch.expect_absent(b"greeting");
//! batch.put(b"greeting", b"hello".to_vec());
//! store.commit(batch)?; // durable once this returns
//!
//! let found = store.get(b"greeting")?.expect("just written");
//! assert_eq!(&found.value[..], b"hello");
//! assert!(found.version >= 1);
//! # Ok(())
//! # }
//! ```
//!
//! # How commits work
//!
//! Every [`Store::commit`] is exactly one redb write transaction: it reads the
//! version of every key a precondition names, returns
//! [`Conflict::Precondition`] (and
//! writes nothing) if one does not hold, and otherwise applies the batch's
//! operations in order and commits. redb admits one write transaction at a
//! time, so commits from many threads are serialized by redb itself; a
//! precondition can fail only because another commit really changed the key.
//! Read-only work never takes the write transaction: reads ([`Store::get`],
//! [`Store::scan`]) and batches of preconditions only (what
//! `tally_store::transact` commits to confirm a read set) run in read
//! transactions on the snapshot of the last finished commit, so they neither
//! wait for a writer nor block one.
//!
//! Versions come from one counter stored in the same file and raised by every
//! commit, so a key written, deleted and written again never gets a version it
//! had before.
//!
//! # Durability
//!
//! [`Durability::Immediate`] (the default): when `commit` returns, the batch
//! is on disk and survives a crash or power loss (redb fsyncs before
//! returning; on our test VM that costs about 0.3 ms per commit, so group many
//! writes into one batch when you can). [`Durability::Buffered`] skips the
//! fsync: commits are atomic and visible at once, and a crash loses at most the
//! buffered commits since the last durable one, never part of one. Call
//! [`RedbStore::flush`] (or make any commit with immediate durability) to make
//! everything before it durable; dropping the store (a clean close) does too.
//! Choose buffered for hosts that batch their own acknowledgements and can
//! replay the last few seconds of input.
//!
//! After a crash or power cut, opening the file repairs it: if the commit
//! being written when the power failed reached the disk only in part, redb
//! finds its pages failing their checksums and opens the commit before it
//! ([`RedbStore::rolled_back_on_open`] says so). That commit had not been
//! acknowledged, so nothing acknowledged is lost. One exception: if the power
//! fails while a new file is first being created, before anything was ever
//! committed, the half-made file fails to open with [`StoreError::Corrupt`]
//! (redb writes its magic number last); delete it and start again.
//!
//! These promises are tested against power loss, not only a killed process
//! (whose writes the operating system still completes): the crate's tests run
//! a committing workload over a simulated disk that loses, or tears at
//! 512-byte sector granularity, every write not yet synced, and cut the power
//! at hundreds of seeded points. The simulated disk is public behind the
//! `testkit` feature (`testkit::SimulatedDisk`), for hosts that want to test
//! their own workloads the same way; [`RedbStore::open_with_backend`] opens a
//! store over it, or over any other redb [`StorageBackend`].
//!
//! The file is locked by the process that opens it: one process at a time.
//! For several processes or machines sharing one database, use the
//! PostgreSQL store (`tally-store-postgres`).
//!
//! # Errors
//!
//! I/O failures are [`StoreError::Backend`] with the operation that failed
//! and redb's error as the source; a file that is not a redb database, or
//! fails redb's page checksums (verified on open, see
//! [`Options::verify_on_open`]) with no older whole commit to fall back to,
//! is [`StoreError::Corrupt`]. Nothing panics, and damaged data is never
//! returned as data.

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// The redb version this crate is built on, for implementing
/// [`StorageBackend`] (and naming redb's own backends) without a second,
/// possibly mismatched, redb dependency.
pub use ::redb;
/// redb's storage-backend trait: what [`RedbStore::open_with_backend`] opens
/// a store over.
pub use ::redb::StorageBackend;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Op, Operation, Page, Precondition, Store, StoreError, Versioned};

#[cfg(feature = "testkit")]
pub mod testkit;

/// The backend name in every [`StoreError`] this crate returns.
pub const BACKEND: &str = "redb";

/// The on-disk layout version this crate writes and understands.
pub const SCHEMA_VERSION: u64 = 1;

/// Key -> (version, value).
const DATA: TableDefinition<'_, &[u8], (u64, &[u8])> = TableDefinition::new("tally_data");
/// Bookkeeping: the schema version and the last version handed out.
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("tally_meta");
const META_SCHEMA_VERSION: &str = "schema_version";
const META_LAST_VERSION: &str = "last_version";

/// When a commit's data reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Durable when `commit` returns (an fsync per commit). The default.
    #[default]
    Immediate,
    /// Atomic and visible when `commit` returns, durable at the next
    /// immediate commit or [`RedbStore::flush`]. A crash loses only whole
    /// buffered commits.
    Buffered,
}

/// Options for [`RedbStore::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Durability of each commit (default [`Durability::Immediate`]).
    pub durability: Durability,
    /// redb's page cache in bytes; `None` keeps redb's default.
    pub cache_size_bytes: Option<usize>,
    /// Verify the checksum of every page when opening (default `true`).
    ///
    /// redb checks checksums on its own only when recovering from a crash;
    /// a cleanly closed file that was damaged later would otherwise be
    /// trusted, and damaged values could be returned as data (or redb could
    /// panic). With this on, such a file fails to open with
    /// [`StoreError::Corrupt`]. The check reads the whole file, so opening a
    /// large store takes longer; turn it off only if you verify the file
    /// another way.
    pub verify_on_open: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Immediate,
            cache_size_bytes: None,
            verify_on_open: true,
        }
    }
}

/// A [`Store`] in one redb file. Cheap to share: wrap it in an `Arc` and use
/// it from any number of threads.
pub struct RedbStore {
    db: redb::Database,
    /// `None` when opened over a custom [`StorageBackend`].
    path: Option<PathBuf>,
    durability: Durability,
    rolled_back_on_open: bool,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .field("rolled_back_on_open", &self.rolled_back_on_open)
            .finish_non_exhaustive()
    }
}

/// Where a store's bytes live, for error messages.
struct Location<'a>(Option<&'a Path>);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str("the storage backend"),
        }
    }
}

fn backend_error(operation: Operation, error: impl Into<redb::Error>) -> StoreError {
    match error.into() {
        redb::Error::Corrupted(detail) => StoreError::Corrupt {
            backend: BACKEND,
            detail,
        },
        // redb reports a file that is not a redb database (bad magic number,
        // impossible header) as invalid data.
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => StoreError::Corrupt {
            backend: BACKEND,
            detail: io.to_string(),
        },
        other => StoreError::backend(BACKEND, operation, other),
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file if it does not exist,
    /// with the default [`Options`]: [`Durability::Immediate`], and every
    /// page's checksum verified on open.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with [`Operation::Open`] if the file cannot be
    /// created or opened (missing directory, permissions, already open in
    /// another process); [`StoreError::Corrupt`] if it is not a valid redb
    /// file or was written by an incompatible schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Options::default())
    }

    /// Opens (or creates) the store at `path` with explicit [`Options`].
    ///
    /// # Errors
    ///
    /// As [`RedbStore::open`].
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let rollback = RollbackWatch::default();
        let db = Self::builder(&options, &rollback)
            .create(&path)
            .map_err(|error| backend_error(Operation::Open, error))?;
        Self::over(db, Some(path), options, &rollback)
    }

    /// Opens (or creates) a store over a custom redb [`StorageBackend`]
    /// instead of a file: for example redb's `InMemoryBackend`, a block
    /// device, or a test disk that simulates power loss (the `testkit`
    /// feature's `SimulatedDisk`).
    ///
    /// The backend must be empty (a new store is created in it) or hold a
    /// redb database; everything else behaves as with [`RedbStore::open_with`]:
    /// the same [`Options`], the same recovery after a crash, and the same
    /// durability promise, which holds exactly as far as the backend's
    /// `sync_data` makes its writes durable. redb does not lock a custom
    /// backend against a second opener unless the backend implements the
    /// trait's lock methods; opening one backend twice at a time is the
    /// caller's mistake to avoid. [`RedbStore::path`] is `None` for such a
    /// store.
    ///
    /// ```
    /// use tally_store::{Batch, Store};
    /// use tally_store_redb::{Options, RedbStore, redb};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let backend = redb::backends::InMemoryBackend::new();
    /// let store = RedbStore::open_with_backend(backend, Options::default())?;
    /// let mut batch = Batch::new();
    /// batch.put(b"k", b"v".to_vec());
    /// store.commit(batch)?;
    /// assert!(store.path().is_none());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RedbStore::open`]: [`StoreError::Backend`] with
    /// [`Operation::Open`] if the backend fails, [`StoreError::Corrupt`] if
    /// it holds something that is not a valid redb database of this schema.
    pub fn open_with_backend(backend: impl StorageBackend, options: Options) -> Result<Self, StoreError> {
        let rollback = RollbackWatch::default();
        let db = Self::builder(&options, &rollback)
            .create_with_backend(backend)
            .map_err(|error| backend_error(Operation::Open, error))?;
        Self::over(db, None, options, &rollback)
    }

    fn builder(options: &Options, rollback: &RollbackWatch) -> redb::Builder {
        let mut builder = redb::Database::builder();
        if let Some(bytes) = options.cache_size_bytes {
            builder.set_cache_size(bytes);
        }
        builder.set_check_integrity_on_open(options.verify_on_open);
        let rollback = rollback.clone();
        builder.set_repair_callback(move |session| rollback.observe(session));
        builder
    }

    fn over(
        db: redb::Database,
        path: Option<PathBuf>,
        options: Options,
        rollback: &RollbackWatch,
    ) -> Result<Self, StoreError> {
        let store = RedbStore {
            db,
            path,
            durability: options.durability,
            rolled_back_on_open: rollback.seen(),
        };
        store.initialize()?;
        Ok(store)
    }

    /// Creates the tables on first use and checks the schema version.
    fn initialize(&self) -> Result<(), StoreError> {
        let open_error = |error: redb::Error| backend_error(Operation::Open, error);
        let txn = self.db.begin_write().map_err(|e| open_error(e.into()))?;
        {
            txn.open_table(DATA).map_err(|e| open_error(e.into()))?;
            let mut meta = txn.open_table(META).map_err(|e| open_error(e.into()))?;
            let existing = meta
                .get(META_SCHEMA_VERSION)
                .map_err(|e| open_error(e.into()))?
                .map(|guard| guard.value());
            match existing {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)
                        .map_err(|e| open_error(e.into()))?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(StoreError::Corrupt {
                        backend: BACKEND,
                        detail: format!(
                            "{}: schema version {other} is not supported (this build reads version {SCHEMA_VERSION})",
                            Location(self.path.as_deref())
                        ),
                    });
                }
            }
        }
        txn.commit().map_err(|e| open_error(e.into()))
    }

    /// The file this store lives in; `None` for a store opened over a custom
    /// backend with [`RedbStore::open_with_backend`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether opening this store discarded the newest commit in the file
    /// because its pages did not all verify, and opened the commit before it.
    ///
    /// After a crash or power cut this is the expected repair of a commit
    /// that was cut off while being written: its fsync had not finished, so
    /// `commit` had not returned for it, and nothing acknowledged is lost. It
    /// can also mean that the newest commit was damaged after it was written
    /// (by the disk, or by a disk whose fsync does not really persist), and
    /// then that commit is lost; redb cannot tell the two apart, so a host
    /// that must know can log this. Either way the store holds one whole
    /// commit and nothing of the discarded one. If no commit verifies,
    /// opening fails with [`StoreError::Corrupt`] instead. Always `false`
    /// for a file that was closed cleanly: redb writes the last commit
    /// before closing in two phases (fsync, then switch), and damage to such
    /// a commit fails the open rather than rolling it back.
    pub fn rolled_back_on_open(&self) -> bool {
        self.rolled_back_on_open
    }

    /// The durability every commit uses.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Makes every commit made so far durable (an empty commit with
    /// immediate durability). Needed only with [`Durability::Buffered`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with [`Operation::Commit`] if the fsync fails.
    pub fn flush(&self) -> Result<(), StoreError> {
        let commit_error = |error: redb::Error| backend_error(Operation::Commit, error);
        let txn = self.db.begin_write().map_err(|e| commit_error(e.into()))?;
        txn.commit().map_err(|e| commit_error(e.into()))
    }

    /// A batch of preconditions only, checked on one read snapshot: it
    /// never waits for (or blocks) a writer. The snapshot is the last
    /// finished commit, so the check holds at one point in time, as if it
    /// were a commit serialized there.
    fn check_read_only(&self, batch: &Batch) -> Result<(), StoreError> {
        let commit_error = |error: redb::Error| backend_error(Operation::Commit, error);
        let txn = self.db.begin_read().map_err(|e| commit_error(e.into()))?;
        let data = txn.open_table(DATA).map_err(|e| commit_error(e.into()))?;
        check_preconditions(&data, batch, commit_error)
    }

    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        debug_assert!(!batch.ops().is_empty(), "read-only batches take check_read_only");
        let commit_error = |error: redb::Error| backend_error(Operation::Commit, error);
        let mut txn = self.db.begin_write().map_err(|e| commit_error(e.into()))?;
        if self.durability == Durability::Buffered {
            txn.set_durability(redb::Durability::None)
                .map_err(|e| commit_error(e.into()))?;
        }
        {
            let mut data = txn.open_table(DATA).map_err(|e| commit_error(e.into()))?;
            // On failure, dropping the transaction aborts it: nothing is written.
            check_preconditions(&data, batch, commit_error)?;
            let mut meta = txn.open_table(META).map_err(|e| commit_error(e.into()))?;
            let last_version = meta
                .get(META_LAST_VERSION)
                .map_err(|e| commit_error(e.into()))?
                .map_or(0, |guard| guard.value());
            let version = last_version.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                backend: BACKEND,
                detail: "the version counter is exhausted".to_owned(),
            })?;
            meta.insert(META_LAST_VERSION, version)
                .map_err(|e| commit_error(e.into()))?;
            for op in batch.ops() {
                match op {
                    Op::Put { key, value } => {
                        data.insert(&key[..], (version, &value[..]))
                            .map_err(|e| commit_error(e.into()))?;
                    }
                    Op::Delete { key } => {
                        data.remove(&key[..]).map_err(|e| commit_error(e.into()))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| commit_error(e.into()))
    }
}

/// Notices redb's repair rolling back a commit, as it opens a file.
///
/// redb reports a repair only through its progress callback: a repair that
/// finds the newest commit's pages damaged reports 0.3 (one of its three
/// scans done) before it rolls the commit back, and no other repair reports
/// a value between 0 and 0.6 (redb 4.5, `Database::do_repair`). The
/// power-loss tests check that rollbacks are noticed, so a redb upgrade
/// that changes this fails them rather than silently hiding rollbacks.
#[derive(Clone, Default)]
struct RollbackWatch(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl RollbackWatch {
    fn observe(&self, session: &mut redb::RepairSession) {
        let progress = session.progress();
        if progress > 0.0 && progress < 0.6 {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn seen(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Checks every precondition of `batch` against `data` (a read-only or a
/// write transaction's view of the data table).
fn check_preconditions(
    data: &impl ReadableTable<&'static [u8], (u64, &'static [u8])>,
    batch: &Batch,
    commit_error: impl Fn(redb::Error) -> StoreError,
) -> Result<(), StoreError> {
    for Precondition { key, version } in batch.preconditions() {
        let expected_version = *version;
        let actual_version = data
            .get(&key[..])
            .map_err(|e| commit_error(e.into()))?
            .map_or(0, |guard| guard.value().0);
        if actual_version != expected_version {
            return Err(StoreError::Conflict(Conflict::Precondition {
                key: key.clone(),
                expected_version,
                actual_version,
            }));
        }
    }
    Ok(())
}

impl Store for RedbStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        tally_store::validate_key(key)?;
        let get_error = |error: redb::Error| backend_error(Operation::Get, error);
        let txn = self.db.begin_read().map_err(|e| get_error(e.into()))?;
        let data = txn.open_table(DATA).map_err(|e| get_error(e.into()))?;
        let found = data.get(key).map_err(|e| get_error(e.into()))?;
        Ok(found.map(|guard| {
            let (version, value) = guard.value();
            Versioned {
                value: Bytes::copy_from_slice(value),
                version,
            }
        }))
    }

    /// Every key in one read transaction (one snapshot).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        tally_store::validate_keys(keys)?;
        let get_error = |error: redb::Error| backend_error(Operation::Get, error);
        let txn = self.db.begin_read().map_err(|e| get_error(e.into()))?;
        let data = txn.open_table(DATA).map_err(|e| get_error(e.into()))?;
        keys.iter()
            .map(|key| {
                let found = data.get(*key).map_err(|e| get_error(e.into()))?;
                Ok(found.map(|guard| {
                    let (version, value) = guard.value();
                    Versioned {
                        value: Bytes::copy_from_slice(value),
                        version,
                    }
                }))
            })
            .collect()
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        tally_store::validate_scan(prefix, after, limit)?;
        let scan_error = |error: redb::Error| backend_error(Operation::Scan, error);
        let txn = self.db.begin_read().map_err(|e| scan_error(e.into()))?;
        let data = txn.open_table(DATA).map_err(|e| scan_error(e.into()))?;
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let range = data
            .range::<&[u8]>((start, Bound::Unbounded))
            .map_err(|e| scan_error(e.into()))?;
        let mut entries = Vec::new();
        let mut more = false;
        for item in range {
            let (key, value) = item.map_err(|e| scan_error(e.into()))?;
            let key = key.value();
            if !key.starts_with(prefix) {
                break;
            }
            if entries.len() == limit {
                more = true;
                break;
            }
            let (version, value) = value.value();
            entries.push(Entry {
                key: key.to_vec(),
                value: Bytes::copy_from_slice(value),
                version,
            });
        }
        Ok(Page { entries, more })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        if batch.ops().is_empty() {
            return self.check_read_only(&batch);
        }
        self.apply(&batch)
    }
}
