//! [`FaultyStore`]: a wrapper that fails chosen operations, deterministically.
//!
//! Domain tests wrap a store in it to prove that a failed commit loses
//! nothing and that a lost acknowledgement applies nothing twice. Two kinds
//! of commit failure are injected:
//!
//! - [`Timing::BeforeWrite`]: the commit fails and **nothing** was applied,
//!   as when a connection drops before the transaction reaches the server;
//! - [`Timing::AfterWrite`]: the batch **was** applied, but the caller gets
//!   an error anyway, as when the connection drops before the server's
//!   acknowledgement arrives.
//!
//! Both look to the caller like any backend failure:
//! [`StoreError::Backend`] whose source is an
//! [`InjectedFault`] ([`StoreError::is_injected`]
//! tells them apart in tests).
//!
//! ```
//! use tally_store::{Batch, Fault, FaultyStore, MemStore, Store};
//!
//! let store = FaultyStore::new(MemStore::new());
//! // The second commit is applied but its acknowledgement is lost.
//! store.inject(Fault::on_commit().nth(2).after_write());
//!
//! let mut first = Batch::new();
//! first.put(b"a", b"1".to_vec());
//! store.commit(first)?;
//!
//! let mut second = Batch::new();
//! second.put(b"b", b"2".to_vec());
//! let error = store.commit(second).unwrap_err();
//! assert!(error.is_injected());
//! assert!(store.get(b"b")?.is_some(), "applied despite the error");
//! # Ok::<(), tally_store::StoreError>(())
//! ```

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::batch::Batch;
use crate::error::{Operation, StoreError};
use crate::store::{Page, Store, Versioned};

/// When, relative to the write, an injected commit failure happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timing {
    /// Fail without calling the inner store: nothing is applied.
    BeforeWrite,
    /// Call the inner store, then report an error even though it succeeded:
    /// the batch is applied but its acknowledgement is lost. If the inner
    /// commit itself fails (a conflict, say), that error is returned instead.
    AfterWrite,
}

/// Which calls a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct OpSet {
    get: bool,
    scan: bool,
    commit: bool,
}

impl OpSet {
    fn contains(self, operation: Operation) -> bool {
        match operation {
            Operation::Get => self.get,
            Operation::Scan => self.scan,
            Operation::Commit => self.commit,
            Operation::Open => false,
        }
    }
}

/// When a [`Fault`] fires among the calls it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Trigger {
    Always,
    Nth(u64),
    EveryNth(u64),
    Rate { per_million: u32, seed: u64 },
}

/// A rule for [`FaultyStore::inject`]: which calls fail, when, and how often.
///
/// Build it from the operation it applies to, then narrow it:
///
/// ```
/// use tally_store::Fault;
///
/// // Every commit touching a `ledger/` key fails before writing, at most twice.
/// let a = Fault::on_commit().with_prefix(b"ledger/").times(2);
/// // The 3rd get fails.
/// let b = Fault::on_get().nth(3);
/// // Each call fails with probability 0.1, the same calls on every run with seed 7.
/// let c = Fault::on_any().rate(0.1, 7);
/// ```
///
/// Calls are counted per rule, among the calls the rule applies to (its
/// operations and prefix). Rules are checked in the order they were
/// injected; every applicable rule counts the call, and the first that fires
/// decides the failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fault {
    operations: OpSet,
    prefix: Option<Vec<u8>>,
    trigger: Trigger,
    timing: Timing,
    max_fires: Option<u64>,
}

impl Fault {
    fn new(operations: OpSet) -> Self {
        Fault {
            operations,
            prefix: None,
            trigger: Trigger::Always,
            timing: Timing::BeforeWrite,
            max_fires: None,
        }
    }

    /// A rule for [`Store::commit`] calls.
    pub fn on_commit() -> Self {
        Fault::new(OpSet {
            get: false,
            scan: false,
            commit: true,
        })
    }

    /// A rule for [`Store::get`] calls.
    pub fn on_get() -> Self {
        Fault::new(OpSet {
            get: true,
            scan: false,
            commit: false,
        })
    }

    /// A rule for [`Store::scan`] calls.
    pub fn on_scan() -> Self {
        Fault::new(OpSet {
            get: false,
            scan: true,
            commit: false,
        })
    }

    /// A rule for every call.
    pub fn on_any() -> Self {
        Fault::new(OpSet {
            get: true,
            scan: true,
            commit: true,
        })
    }

    /// Applies only to calls that touch a key starting with `prefix`: a
    /// `get` of such a key, a `scan` whose range overlaps it, a `commit`
    /// that writes or checks such a key.
    pub fn with_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Fires on every applicable call (the default).
    pub fn always(mut self) -> Self {
        self.trigger = Trigger::Always;
        self
    }

    /// Fires on the `n`-th applicable call only (1-based; `0` never fires).
    pub fn nth(mut self, n: u64) -> Self {
        self.trigger = Trigger::Nth(n);
        self
    }

    /// Fires on every `n`-th applicable call (the `n`-th, `2n`-th, ...; `0`
    /// never fires).
    pub fn every_nth(mut self, n: u64) -> Self {
        self.trigger = Trigger::EveryNth(n);
        self
    }

    /// Fires on each applicable call with `probability` (clamped to 0..=1,
    /// resolved to one in a million), drawn from a generator seeded with
    /// `seed`: the same sequence of calls fails the same way on every run.
    pub fn rate(mut self, probability: f64, seed: u64) -> Self {
        let per_million = (probability.clamp(0.0, 1.0) * 1_000_000.0).round() as u32;
        self.trigger = Trigger::Rate { per_million, seed };
        self
    }

    /// Commit failures happen before the write: nothing applied (the default).
    pub fn before_write(mut self) -> Self {
        self.timing = Timing::BeforeWrite;
        self
    }

    /// Commit failures happen after the write: applied, acknowledgement lost.
    pub fn after_write(mut self) -> Self {
        self.timing = Timing::AfterWrite;
        self
    }

    /// Fires at most `max_fires` times, then lets every call through.
    pub fn times(mut self, max_fires: u64) -> Self {
        self.max_fires = Some(max_fires);
        self
    }

    fn applies_to<'k>(&self, operation: Operation, mut keys: impl Iterator<Item = &'k [u8]>) -> bool {
        if !self.operations.contains(operation) {
            return false;
        }
        let Some(prefix) = &self.prefix else {
            return true;
        };
        match operation {
            // A scan's "key" is its prefix: the ranges overlap when either
            // prefix extends the other.
            Operation::Scan => {
                keys.any(|scan_prefix| scan_prefix.starts_with(prefix) || prefix.starts_with(scan_prefix))
            }
            _ => keys.any(|key| key.starts_with(prefix)),
        }
    }
}

/// The error a [`FaultyStore`] injects, as the source of a
/// [`StoreError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFault {
    /// The operation that failed.
    pub operation: Operation,
    /// Whether a failed commit was applied ([`Timing::AfterWrite`]) or not.
    pub timing: Timing,
    /// The index of the rule that fired, as returned by [`FaultyStore::inject`].
    pub rule: usize,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.timing {
            Timing::BeforeWrite => "before the write",
            Timing::AfterWrite => "after the write (acknowledgement lost)",
        };
        write!(
            f,
            "injected {} failure {when} by fault rule {}",
            self.operation, self.rule
        )
    }
}

impl std::error::Error for InjectedFault {}

#[derive(Debug)]
struct RuleState {
    fault: Fault,
    seen: u64,
    fired: u64,
    rng: SplitMix64,
}

impl RuleState {
    /// Counts one applicable call and says whether the rule would fire on
    /// it. Only the rule that decides the call records the firing
    /// ([`FaultyStore::decide`]), so `times(n)` counts injected failures.
    fn observe(&mut self) -> bool {
        self.seen += 1;
        if self.fault.max_fires.is_some_and(|max| self.fired >= max) {
            return false;
        }
        match self.fault.trigger {
            Trigger::Always => true,
            Trigger::Nth(n) => self.seen == n,
            Trigger::EveryNth(n) => n != 0 && self.seen.is_multiple_of(n),
            Trigger::Rate { per_million, .. } => self.rng.next() % 1_000_000 < u64::from(per_million),
        }
    }
}

/// A small, well-mixed, seedable generator (SplitMix64), so fault rates are
/// reproducible without a dependency.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Wraps any [`Store`] and fails the calls its [`Fault`] rules pick.
///
/// With no rules it is a transparent pass-through (and passes the
/// conformance kit). See the [module docs](crate::faulty) for the two failure kinds.
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    rules: Mutex<Vec<RuleState>>,
    injected: AtomicU64,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner` with no fault rules.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            rules: Mutex::new(Vec::new()),
            injected: AtomicU64::new(0),
        }
    }

    /// Adds a rule; returns its index (reported in [`InjectedFault::rule`]).
    pub fn inject(&self, fault: Fault) -> usize {
        let seed = match fault.trigger {
            Trigger::Rate { seed, .. } => seed,
            _ => 0,
        };
        let mut rules = self.lock_rules();
        rules.push(RuleState {
            fault,
            seen: 0,
            fired: 0,
            rng: SplitMix64(seed),
        });
        rules.len() - 1
    }

    /// Removes every rule: from now on every call passes through.
    pub fn clear(&self) {
        self.lock_rules().clear();
    }

    /// How many failures have been injected so far.
    pub fn injected_count(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The wrapped store, for reading behind the faults' back.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn lock_rules(&self) -> std::sync::MutexGuard<'_, Vec<RuleState>> {
        // Rule bookkeeping cannot be left half-done by a panic; recover.
        self.rules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides whether this call fails, and how. Every applicable rule
    /// counts the call; the first that fires decides it and records the
    /// firing at once, so concurrent callers never exceed `times(n)`.
    fn decide<'k>(&self, operation: Operation, keys: impl Iterator<Item = &'k [u8]> + Clone) -> Option<InjectedFault> {
        let mut rules = self.lock_rules();
        let mut decision = None;
        for (index, rule) in rules.iter_mut().enumerate() {
            if rule.fault.applies_to(operation, keys.clone()) && rule.observe() && decision.is_none() {
                rule.fired += 1;
                decision = Some(InjectedFault {
                    operation,
                    timing: rule.fault.timing,
                    rule: index,
                });
            }
        }
        decision
    }

    /// Gives back a firing that injected nothing (an after-write fault whose
    /// inner commit failed on its own).
    fn release(&self, fault: &InjectedFault) {
        if let Some(rule) = self.lock_rules().get_mut(fault.rule) {
            rule.fired = rule.fired.saturating_sub(1);
        }
    }

    fn injected_error(&self, fault: InjectedFault) -> StoreError {
        self.injected.fetch_add(1, Ordering::Relaxed);
        StoreError::backend("faulty", fault.operation, fault)
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        match self.decide(Operation::Get, std::iter::once(key)) {
            Some(fault) => Err(self.injected_error(fault)),
            None => self.inner.get(key),
        }
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        match self.decide(Operation::Scan, std::iter::once(prefix)) {
            Some(fault) => Err(self.injected_error(fault)),
            None => self.inner.scan(prefix, after, limit),
        }
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        match self.decide(Operation::Commit, batch.keys()) {
            None => self.inner.commit(batch),
            Some(fault) if fault.timing == Timing::BeforeWrite => Err(self.injected_error(fault)),
            Some(fault) => match self.inner.commit(batch) {
                Ok(()) => Err(self.injected_error(fault)),
                Err(inner) => {
                    self.release(&fault);
                    Err(inner)
                }
            },
        }
    }
}
