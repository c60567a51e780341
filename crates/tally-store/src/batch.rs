//! [`Batch`]: the unit of atomic change, with its preconditions and limits.

use bytes::Bytes;

use crate::error::InvalidRequest;

/// The longest key a store accepts, in bytes.
///
/// Chosen so that every backend can index it (PostgreSQL's B-tree entries
/// top out near 2.7 KB); domain keys are far shorter.
pub const MAX_KEY_BYTES: usize = 1024;

/// The largest value a store accepts, in bytes (16 MiB).
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// The most operations plus preconditions one [`Batch`] may carry.
pub const MAX_BATCH_ENTRIES: usize = 100_000;

/// The most bytes (keys plus values) one [`Batch`] may carry (64 MiB).
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// The most entries one [`scan`](crate::Store::scan) returns.
pub const MAX_SCAN_LIMIT: usize = 10_000;

/// The most keys one [`get_many`](crate::Store::get_many) reads.
pub const MAX_GET_MANY_KEYS: usize = 10_000;

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value` (creating it if absent).
    Put {
        /// The key to write.
        key: Vec<u8>,
        /// Its new value.
        value: Bytes,
    },
    /// Remove `key`; removing an absent key is not an error.
    Delete {
        /// The key to remove.
        key: Vec<u8>,
    },
}

impl Op {
    /// The key this operation writes.
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// A condition a [`Batch`] requires of the store before it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    /// The key to check.
    pub key: Vec<u8>,
    /// The version the key must have; `0` means the key must be absent.
    pub version: u64,
}

/// An atomic set of writes guarded by preconditions.
///
/// A store applies a batch with [`Store::commit`](crate::Store::commit):
/// **all** preconditions are checked against the state before the batch,
/// and only if every one holds are **all** operations applied, in the order
/// they were added (so a later write to the same key wins). Otherwise the
/// commit returns [`StoreError::Conflict`](crate::StoreError::Conflict) and
/// nothing is written.
///
/// ```
/// use tally_store::{Batch, MemStore, Store};
///
/// let store = MemStore::new();
/// let mut batch = Batch::new();
/// batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
/// store.commit(batch)?;
///
/// // The same batch again conflicts: the key is no longer absent.
/// let mut again = Batch::new();
/// again.expect_absent(b"greeting").put(b"greeting", b"bonjour".to_vec());
/// assert!(store.commit(again).unwrap_err().is_conflict());
/// assert_eq!(&store.get(b"greeting")?.unwrap().value[..], b"hello");
/// # Ok::<(), tally_store::StoreError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
    preconditions: Vec<Precondition>,
}

impl Batch {
    /// An empty batch. Committing it writes nothing and always succeeds.
    pub fn new() -> Self {
        Batch::default()
    }

    /// An empty batch with room for `ops` operations.
    pub fn with_capacity(ops: usize) -> Self {
        Batch {
            ops: Vec::with_capacity(ops),
            preconditions: Vec::new(),
        }
    }

    /// Adds a write of `value` to `key`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Bytes>) -> &mut Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a removal of `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }

    /// Requires `key` to be at `version` (`0` = absent) when the batch commits.
    ///
    /// A precondition may name a key the batch does not write: that is how a
    /// commit proves that what it read is still current.
    pub fn expect_version(&mut self, key: impl Into<Vec<u8>>, version: u64) -> &mut Self {
        self.preconditions.push(Precondition {
            key: key.into(),
            version,
        });
        self
    }

    /// Requires `key` to be absent when the batch commits.
    pub fn expect_absent(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.expect_version(key, 0)
    }

    /// The operations, in the order they apply.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The preconditions.
    pub fn preconditions(&self) -> &[Precondition] {
        &self.preconditions
    }

    /// Takes the batch apart into its operations and preconditions.
    pub fn into_parts(self) -> (Vec<Op>, Vec<Precondition>) {
        (self.ops, self.preconditions)
    }

    /// True when the batch has neither operations nor preconditions.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.preconditions.is_empty()
    }

    /// Every key the batch writes or checks, operations first.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + Clone {
        self.ops
            .iter()
            .map(Op::key)
            .chain(self.preconditions.iter().map(|p| p.key.as_slice()))
    }

    /// Checks the batch against the contract's limits ([`MAX_KEY_BYTES`],
    /// [`MAX_VALUE_BYTES`], [`MAX_BATCH_ENTRIES`], [`MAX_BATCH_BYTES`]).
    ///
    /// Every backend calls this before touching its storage, so an invalid
    /// batch is refused the same way everywhere.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        let entries = self.ops.len() + self.preconditions.len();
        if entries > MAX_BATCH_ENTRIES {
            return Err(InvalidRequest::BatchTooManyEntries {
                entries,
                max_entries: MAX_BATCH_ENTRIES,
            });
        }
        let mut size_bytes = 0usize;
        for key in self.keys() {
            validate_key(key)?;
            size_bytes = size_bytes.saturating_add(key.len());
        }
        for op in &self.ops {
            if let Op::Put { value, .. } = op {
                if value.len() > MAX_VALUE_BYTES {
                    return Err(InvalidRequest::ValueTooLarge {
                        size_bytes: value.len(),
                        max_bytes: MAX_VALUE_BYTES,
                    });
                }
                size_bytes = size_bytes.saturating_add(value.len());
            }
        }
        if size_bytes > MAX_BATCH_BYTES {
            return Err(InvalidRequest::BatchTooLarge {
                size_bytes,
                max_bytes: MAX_BATCH_BYTES,
            });
        }
        Ok(())
    }
}

/// Checks one key against [`MAX_KEY_BYTES`]. Backends call this in `get`
/// and `scan` (for the prefix and the cursor).
pub fn validate_key(key: &[u8]) -> Result<(), InvalidRequest> {
    if key.len() > MAX_KEY_BYTES {
        return Err(InvalidRequest::KeyTooLong {
            size_bytes: key.len(),
            max_bytes: MAX_KEY_BYTES,
        });
    }
    Ok(())
}

/// Checks a [`get_many`](crate::Store::get_many) request: at most
/// [`MAX_GET_MANY_KEYS`] keys, each within [`MAX_KEY_BYTES`].
pub fn validate_keys(keys: &[&[u8]]) -> Result<(), InvalidRequest> {
    if keys.len() > MAX_GET_MANY_KEYS {
        return Err(InvalidRequest::TooManyKeys {
            count: keys.len(),
            max_count: MAX_GET_MANY_KEYS,
        });
    }
    keys.iter().try_for_each(|key| validate_key(key))
}

/// Checks a scan request (prefix, cursor and page size) against the limits.
pub fn validate_scan(prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<(), InvalidRequest> {
    if limit == 0 || limit > MAX_SCAN_LIMIT {
        return Err(InvalidRequest::ScanLimit {
            limit,
            max_limit: MAX_SCAN_LIMIT,
        });
    }
    validate_key(prefix)?;
    if let Some(after) = after {
        validate_key(after)?;
    }
    Ok(())
}
