//! [`MemStore`]: the in-memory store for tests, examples and benchmarks.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::batch::{Batch, Op, Precondition, validate_key, validate_scan};
use crate::error::{Conflict, Operation, StoreError};
use crate::store::{Entry, Page, Store, Versioned};

/// A thread-safe in-memory [`Store`]: a `BTreeMap` behind a reader-writer lock.
///
/// Reads share the lock; a commit holds it exclusively while it checks the
/// preconditions and applies the batch, so every commit is atomic and
/// linearizable. A batch of preconditions only writes nothing, so it is
/// checked under the shared lock and never waits for other readers. Versions come from one counter for the whole store: every
/// successful commit that writes takes the next number, and every key it
/// writes gets that number as its version. Values are reference-counted
/// [`Bytes`], so `get` and `scan` never copy a value.
///
/// Nothing is durable: the data lives as long as the `MemStore`.
///
/// ```
/// use tally_store::{Batch, MemStore, Store};
///
/// let store = MemStore::new();
/// let mut batch = Batch::new();
/// batch.put(b"k", b"v".to_vec());
/// store.commit(batch)?;
/// let found = store.get(b"k")?.expect("just written");
/// assert_eq!(found.version, 1);
/// # Ok::<(), tally_store::StoreError>(())
/// ```
#[derive(Debug, Default)]
pub struct MemStore {
    state: RwLock<MemState>,
}

#[derive(Debug, Default)]
struct MemState {
    entries: BTreeMap<Vec<u8>, Slot>,
    last_version: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    value: Bytes,
    version: u64,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        MemStore::default()
    }

    /// How many keys are present.
    pub fn len(&self) -> usize {
        self.read().entries.len()
    }

    /// True when no key is present.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock can only come from an allocation
    // failure in the middle of `commit`'s apply loop, after every check has
    // passed; the map is still a valid map, so recovering the guard is sound.
    fn read(&self) -> RwLockReadGuard<'_, MemState> {
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, MemState> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        validate_key(key)?;
        Ok(self.read().entries.get(key).map(|slot| Versioned {
            value: slot.value.clone(),
            version: slot.version,
        }))
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        validate_scan(prefix, after, limit)?;
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let state = self.read();
        let mut matching = state
            .entries
            .range::<[u8], _>((lower, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix));
        let entries: Vec<Entry> = matching
            .by_ref()
            .take(limit)
            .map(|(key, slot)| Entry {
                key: key.clone(),
                value: slot.value.clone(),
                version: slot.version,
            })
            .collect();
        let more = matching.next().is_some();
        debug_assert!(entries.len() <= limit);
        debug_assert!(entries.windows(2).all(|pair| pair[0].key < pair[1].key));
        Ok(Page { entries, more })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        let (ops, preconditions) = batch.into_parts();
        if ops.is_empty() {
            // Preconditions only: a check, which shares the lock with readers.
            return check_preconditions(&self.read(), &preconditions);
        }
        let mut state = self.write();
        check_preconditions(&state, &preconditions)?;
        let version = state
            .last_version
            .checked_add(1)
            .ok_or_else(|| StoreError::backend("mem", Operation::Commit, "the store's version counter is exhausted"))?;
        state.last_version = version;
        for op in ops {
            match op {
                Op::Put { key, value } => match state.entries.get_mut(&key) {
                    Some(slot) => *slot = Slot { value, version },
                    None => {
                        state.entries.insert(key, Slot { value, version });
                    }
                },
                Op::Delete { key } => {
                    state.entries.remove(&key);
                }
            }
        }
        Ok(())
    }
}

fn check_preconditions(state: &MemState, preconditions: &[Precondition]) -> Result<(), StoreError> {
    for precondition in preconditions {
        let actual_version = state.entries.get(&precondition.key).map_or(0, |slot| slot.version);
        if actual_version != precondition.version {
            return Err(StoreError::Conflict(Conflict::Precondition {
                key: precondition.key.clone(),
                expected_version: precondition.version,
                actual_version,
            }));
        }
    }
    Ok(())
}
