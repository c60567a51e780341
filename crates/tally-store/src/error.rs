//! The errors a [`Store`](crate::Store) returns.
//!
//! One enum, [`StoreError`], with a variant per situation a caller handles
//! differently: a [`Conflict`] is retried, an [`InvalidRequest`] is a bug in
//! the caller, a backend failure is reported (and, after a failed `commit`,
//! means the outcome is unknown until the caller reads again).

use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a backend's own library (I/O, driver, pool, ...).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong when talking to a [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A precondition of the batch did not hold, or the backend aborted the
    /// commit because it raced another one. **Nothing was written.** Re-read
    /// and try again ([`transact`](crate::transact) does this for you).
    #[error("commit conflict: {0}")]
    Conflict(Conflict),

    /// [`transact`](crate::transact) met a conflict on every one of its
    /// attempts and gave up. Nothing from the last attempt was written.
    #[error("gave up after {attempts} attempts, each ending in a conflict; last: {last}")]
    RetriesExhausted {
        /// How many commits were tried.
        attempts: u32,
        /// The conflict that ended the last attempt.
        last: Conflict,
    },

    /// The request breaks a documented limit or rule (key too long, value too
    /// large, zero scan limit, ...). Nothing was read or written; retrying the
    /// same request fails the same way.
    #[error("invalid request: {0}")]
    Invalid(InvalidRequest),

    /// The backend failed: an I/O error, a lost connection, an exhausted pool,
    /// or a fault injected by [`FaultyStore`](crate::FaultyStore).
    ///
    /// After a failed [`commit`](crate::Store::commit) the batch **may or may
    /// not** have been applied (the acknowledgement can be lost after the
    /// write). Read the state again before deciding what to do; domain code
    /// that keys every change by an id can then tell whether it already
    /// happened.
    #[error("{backend} backend failed during {operation}: {source}")]
    Backend {
        /// Which backend failed (`"mem"`, `"redb"`, `"postgres"`, `"faulty"`, ...).
        backend: &'static str,
        /// What the caller asked for when it failed.
        operation: Operation,
        /// The backend's own error.
        #[source]
        source: BoxError,
    },

    /// A value could not be encoded, or a stored value does not decode as
    /// the type asked for ([`Txn::get_as`](crate::Txn::get_as),
    /// [`Txn::put_as`](crate::Txn::put_as)).
    ///
    /// On decode this means the record under `key` was written by another
    /// program or release, or was damaged; retrying will not help. On encode
    /// ([`CodecError::Encode`](crate::codec::CodecError::Encode)) a type's
    /// `Serialize` implementation failed; nothing was written.
    #[error("value at key {} {}: {error}", crate::key::display_key(.key), codec_failure(.error))]
    Codec {
        /// The key whose value failed.
        key: Vec<u8>,
        /// What the codec reported.
        #[source]
        error: crate::codec::CodecError,
    },

    /// The backend holds data that does not follow the storage contract
    /// (a checksum mismatch, a malformed row, an unknown schema version).
    /// Retrying will not help; the store needs attention.
    #[error("{backend} backend holds corrupt data: {detail}")]
    Corrupt {
        /// Which backend found it.
        backend: &'static str,
        /// What exactly is wrong, and where.
        detail: String,
    },
}

impl StoreError {
    /// Wraps a backend library's error as [`StoreError::Backend`].
    pub fn backend(backend: &'static str, operation: Operation, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            backend,
            operation,
            source: source.into(),
        }
    }

    /// A [`StoreError::Codec`] for the value at `key`.
    pub fn codec(key: &[u8], error: crate::codec::CodecError) -> Self {
        StoreError::Codec {
            key: key.to_vec(),
            error,
        }
    }

    /// True for [`StoreError::Conflict`]: the commit wrote nothing and the
    /// whole read-compute-commit cycle may simply run again.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }

    /// True when this error was injected by a [`FaultyStore`](crate::FaultyStore).
    pub fn is_injected(&self) -> bool {
        match self {
            StoreError::Backend { source, .. } => source.is::<crate::faulty::InjectedFault>(),
            _ => false,
        }
    }
}

fn codec_failure(error: &crate::codec::CodecError) -> &'static str {
    match error {
        crate::codec::CodecError::Encode { .. } => "could not be encoded",
        _ => "does not decode",
    }
}

/// Why a commit was refused without writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Conflict {
    /// A key was not at the version the batch required.
    Precondition {
        /// The key whose precondition failed.
        key: Vec<u8>,
        /// The version the batch required (`0` = absent).
        expected_version: u64,
        /// The version the key actually had (`0` = absent).
        actual_version: u64,
    },
    /// The backend aborted the transaction because a concurrent one touched
    /// the same data (for example PostgreSQL's serialization failure or
    /// deadlock, SQLSTATE 40001 / 40P01).
    Contention {
        /// The backend's explanation.
        reason: String,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::Precondition {
                key,
                expected_version,
                actual_version,
            } => write!(
                f,
                "key {} is at version {actual_version}, the batch required version {expected_version}",
                crate::key::display_key(key)
            ),
            Conflict::Contention { reason } => {
                write!(f, "the backend aborted a racing transaction: {reason}")
            }
        }
    }
}

/// A request that breaks a documented rule of the storage contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// A key is longer than [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES).
    #[error("key of {size_bytes} bytes exceeds the {max_bytes}-byte limit")]
    KeyTooLong {
        /// The key's length.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A value is larger than [`MAX_VALUE_BYTES`](crate::MAX_VALUE_BYTES).
    #[error("value of {size_bytes} bytes exceeds the {max_bytes}-byte limit")]
    ValueTooLarge {
        /// The value's length.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A batch holds more operations plus preconditions than
    /// [`MAX_BATCH_ENTRIES`](crate::MAX_BATCH_ENTRIES).
    #[error("batch of {entries} operations and preconditions exceeds the limit of {max_entries}")]
    BatchTooManyEntries {
        /// Operations plus preconditions in the batch.
        entries: usize,
        /// The limit.
        max_entries: usize,
    },
    /// The keys and values of a batch add up to more than
    /// [`MAX_BATCH_BYTES`](crate::MAX_BATCH_BYTES).
    #[error("batch of {size_bytes} bytes exceeds the {max_bytes}-byte limit")]
    BatchTooLarge {
        /// Total bytes of keys and values.
        size_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A [`get_many`](crate::Store::get_many) asked for more than
    /// [`MAX_GET_MANY_KEYS`](crate::MAX_GET_MANY_KEYS) keys.
    #[error("get_many of {count} keys exceeds the limit of {max_count}")]
    TooManyKeys {
        /// The keys asked for.
        count: usize,
        /// The limit.
        max_count: usize,
    },
    /// A scan asked for zero entries, or for more than
    /// [`MAX_SCAN_LIMIT`](crate::MAX_SCAN_LIMIT).
    #[error("scan limit {limit} is outside 1..={max_limit}")]
    ScanLimit {
        /// The limit asked for.
        limit: usize,
        /// The largest page a scan returns.
        max_limit: usize,
    },
    /// The request keeps the contract's limits but needs more than a
    /// smaller limit of the backend's server allows (etcd's `--max-txn-ops`,
    /// say); the backend's documentation names its limits and how to raise
    /// them. Split the batch, or raise the server's limit.
    #[error("{backend}'s {limit} is {max}, below the {needed} this request needs")]
    BackendLimit {
        /// Which backend (`"etcd"`, ...).
        backend: &'static str,
        /// The limit, as the server's operator knows it (`"--max-txn-ops"`).
        limit: &'static str,
        /// What the request needs, in the limit's unit.
        needed: usize,
        /// The limit.
        max: usize,
    },
}

impl From<InvalidRequest> for StoreError {
    fn from(invalid: InvalidRequest) -> Self {
        StoreError::Invalid(invalid)
    }
}

impl From<Conflict> for StoreError {
    fn from(conflict: Conflict) -> Self {
        StoreError::Conflict(conflict)
    }
}

/// The store operation that was under way when an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`Store::get`](crate::Store::get).
    Get,
    /// [`Store::scan`](crate::Store::scan).
    Scan,
    /// [`Store::commit`](crate::Store::commit).
    Commit,
    /// Opening or connecting to the store.
    Open,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Get => "get",
            Operation::Scan => "scan",
            Operation::Commit => "commit",
            Operation::Open => "open",
        })
    }
}
