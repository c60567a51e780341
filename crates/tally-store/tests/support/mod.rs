//! A deliberately simple store used as the reference model in property tests,
//! and, with a bug switched on, to prove the conformance kit catches it.

#![allow(dead_code)]

use std::sync::Mutex;

use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Op, Page, Store, StoreError, Versioned, validate_key, validate_scan};

/// A contract violation the model can be told to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bug {
    /// Applies the batch without looking at its preconditions.
    IgnoresPreconditions,
    /// Applies operations up to the first failing precondition (not atomic).
    AppliesOpsBeforeChecking,
    /// Gives a re-created key version 1 again (ABA).
    ResetsVersionOnDelete,
    /// Returns scan results in insertion order.
    UnorderedScan,
    /// Returns one entry more than the limit.
    OffByOnePages,
    /// Accepts any key length.
    NoLimits,
    /// Treats a put-then-delete of one key as a put (ignores op order).
    FirstWriteWins,
    /// Loses concurrent writes: checks preconditions, then applies without
    /// holding the lock in between.
    RacyCommit,
}

/// Versions, entries and the commit counter, as plainly as possible.
#[derive(Debug, Default)]
struct State {
    /// Insertion-ordered; lookups are linear.
    entries: Vec<(Vec<u8>, Bytes, u64)>,
    last_version: u64,
}

impl State {
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.entries.iter().position(|(k, _, _)| k == key)
    }
    fn version(&self, key: &[u8]) -> u64 {
        self.find(key).map_or(0, |i| self.entries[i].2)
    }
}

/// The reference model: obviously correct, slow, with optional bugs.
#[derive(Debug, Default)]
pub(crate) struct ModelStore {
    state: Mutex<State>,
    bug: Option<Bug>,
}

impl ModelStore {
    pub(crate) fn new() -> Self {
        ModelStore::default()
    }
    pub(crate) fn with_bug(bug: Bug) -> Self {
        ModelStore {
            state: Mutex::default(),
            bug: Some(bug),
        }
    }
    fn has(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }
}

impl Store for ModelStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        if !self.has(Bug::NoLimits) {
            validate_key(key)?;
        }
        let state = self.state.lock().unwrap();
        Ok(state.find(key).map(|i| Versioned {
            value: state.entries[i].1.clone(),
            version: state.entries[i].2,
        }))
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        if !self.has(Bug::NoLimits) {
            validate_scan(prefix, after, limit)?;
        }
        let state = self.state.lock().unwrap();
        let mut matching: Vec<Entry> = state
            .entries
            .iter()
            .filter(|(key, _, _)| key.starts_with(prefix) && after.is_none_or(|after| key.as_slice() > after))
            .map(|(key, value, version)| Entry {
                key: key.clone(),
                value: value.clone(),
                version: *version,
            })
            .collect();
        if !self.has(Bug::UnorderedScan) {
            matching.sort_by(|a, b| a.key.cmp(&b.key));
        }
        let take = if self.has(Bug::OffByOnePages) { limit + 1 } else { limit };
        let more = matching.len() > take;
        matching.truncate(take);
        Ok(Page {
            entries: matching,
            more,
        })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if !self.has(Bug::NoLimits) {
            batch.validate()?;
        }
        let (mut ops, preconditions) = batch.into_parts();
        if self.has(Bug::FirstWriteWins) {
            let mut seen = Vec::new();
            ops.retain(|op| {
                let fresh = !seen.contains(&op.key().to_vec());
                seen.push(op.key().to_vec());
                fresh
            });
        }
        let mut state = self.state.lock().unwrap();
        let mut failed = None;
        if !self.has(Bug::IgnoresPreconditions) {
            for p in &preconditions {
                let actual_version = state.version(&p.key);
                if actual_version != p.version {
                    failed = Some(Conflict::Precondition {
                        key: p.key.clone(),
                        expected_version: p.version,
                        actual_version,
                    });
                    break;
                }
            }
        }
        if let Some(conflict) = &failed
            && !self.has(Bug::AppliesOpsBeforeChecking)
        {
            return Err(StoreError::Conflict(conflict.clone()));
        }
        if self.has(Bug::RacyCommit) {
            drop(state);
            std::thread::yield_now();
            state = self.state.lock().unwrap();
        }
        if ops.is_empty() {
            return Ok(());
        }
        state.last_version += 1;
        let version = state.last_version;
        for op in ops {
            match op {
                Op::Put { key, value } => match state.find(&key) {
                    Some(i) => {
                        state.entries[i].1 = value;
                        state.entries[i].2 = version;
                    }
                    None => {
                        let version = if self.has(Bug::ResetsVersionOnDelete) {
                            1
                        } else {
                            version
                        };
                        state.entries.push((key, value, version));
                    }
                },
                Op::Delete { key } => {
                    if let Some(i) = state.find(&key) {
                        state.entries.remove(i);
                    }
                }
            }
        }
        match failed {
            Some(conflict) => Err(StoreError::Conflict(conflict)),
            None => Ok(()),
        }
    }
}
