//! Group commit: [`LedgerClient`] coalesces the calls of many threads into
//! batches of up to [`BATCH_EVENTS_MAX`] events, one commit each.
//!
//! Every commit of a [`Ledger`] writes its head record, so commits are
//! serialized: a thousand threads each creating one transfer at a time would
//! make a thousand commits one after another, and a hot account would see
//! its throughput collapse into the latency of one commit. TigerBeetle
//! avoids this by batching in its clients; [`LedgerClient`] does the same
//! inside the process.
//!
//! # How it works
//!
//! A call enqueues its events and waits. Whenever no commit is under way,
//! one of the waiting threads (the *leader*) takes the calls at the front of
//! the queue, concatenates their events into one batch, commits it through
//! [`Ledger`], and hands every caller the results of its own events; then
//! the next leader takes what queued up meanwhile. No thread of its own is
//! started: the callers do the work, and a lone caller commits its call at
//! once, as [`Ledger`] would.
//!
//! # Semantics
//!
//! - **As if one after another.** A batch applies its events in order, each
//!   seeing the effects of the ones before it, exactly as if the calls in it
//!   had been committed one by one in queue order. Each caller gets one
//!   result per event, in order, with the same statuses it would get from
//!   such a sequence of [`Ledger`] calls; only the timestamps differ (a call
//!   is stamped after the calls before it in its batch).
//! - **Queue order.** Calls are taken first come, first served. A call that
//!   returned before another call was made is applied before it.
//! - **A call is never split.** All of a call's events land in one commit,
//!   so a call is atomic just as a [`Ledger`] call is.
//! - **Linked chains never cross calls.** A chain inside a call ends inside
//!   the call, so it cannot absorb another caller's events. A call whose
//!   *last* event is flagged `linked` leaves its chain open; alone it would
//!   get `linked_event_chain_open`. Such a call always goes last in its
//!   batch, so its chain is still open at the batch's end and it gets
//!   exactly that result, never a chain stitched onto someone else's events.
//! - **Accounts and transfers** are never mixed in one batch: a batch takes
//!   the calls of the front call's kind, up to the first call of the other
//!   kind.
//! - **Time.** A batch is stamped from the latest `now_ns` of its calls (and
//!   never before the ledger's last timestamp, as always).
//! - **Failure.** When the commit of a batch fails as a whole (a store
//!   error, the clock, an inconsistent store), every caller in the batch gets
//!   [`LedgerError::GroupCommit`] carrying the one error; use
//!   [`LedgerError::root`] to look inside. As with [`Ledger`], a
//!   [`LedgerError::Store`] from a commit may be a lost acknowledgement: the
//!   batch may have been applied. Retrying the same events (same ids) is
//!   always safe: what was applied answers `exists`, so **no event is ever
//!   applied twice**. Errors that concern a call alone (too many events, a
//!   `now_ns` too close to the largest timestamp to stamp a full batch) are
//!   returned directly, before it is queued.
//!
//! ```
//! use tally_ledger::{Account, AccountFlags, CreateTransferStatus as S, Ledger, LedgerClient, Transfer};
//! use tally_store::MemStore;
//!
//! let client = LedgerClient::new(Ledger::new(MemStore::new()));
//! let now_ns = 1_700_000_000_000_000_000;
//! client.create_accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)], now_ns)?;
//! std::thread::scope(|scope| {
//!     for thread in 0..8u128 {
//!         let client = &client;
//!         scope.spawn(move || {
//!             for i in 0..10 {
//!                 let transfer = Transfer::new(1 + thread * 10 + i, 1, 2, 5, 1, 1);
//!                 let results = client.create_transfers(&[transfer], now_ns).expect("commit");
//!                 assert_eq!(results[0].status, S::Created);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(client.ledger().lookup_accounts(&[2])?[0].credits_posted, 400);
//! let stats = client.stats();
//! assert_eq!((stats.calls, stats.events), (81, 82));
//! assert!(stats.commits <= stats.calls, "concurrent calls may share commits");
//! # Ok::<(), tally_ledger::LedgerError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tally_store::Store;

use crate::core;
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::status::{CreateAccountResult, CreateTransferResult};
use crate::types::{Account, AccountFlags, BATCH_EVENTS_MAX, Transfer, TransferFlags};

/// The most calls that may wait in a [`LedgerClient`]'s queue; a caller
/// beyond it waits for room before it is queued.
pub const QUEUE_CALLS_MAX: usize = 65_536;

/// What a [`LedgerClient`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientStats {
    /// Calls answered (with results or an error).
    pub calls: u64,
    /// Events in those calls.
    pub events: u64,
    /// Batches committed (or failed): one [`Ledger`] call each.
    pub commits: u64,
    /// The most calls one batch carried.
    pub calls_per_commit_max: u64,
    /// The most events one batch carried.
    pub events_per_commit_max: u64,
}

/// A [`Ledger`] behind a group-commit front: call it from any number of
/// threads at once; concurrent calls share commits. See the
/// [module docs](self) for the semantics.
#[derive(Debug)]
pub struct LedgerClient<S> {
    ledger: Ledger<S>,
    state: Mutex<State>,
    /// Signalled when a batch is done (results to collect, a free leader
    /// slot, room in the queue).
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Call>,
    /// Answers not yet collected, by call id.
    done: HashMap<u64, Outcome>,
    /// True while a leader commits a batch.
    committing: bool,
    next_call_id: u64,
    stats: ClientStats,
}

#[derive(Debug)]
struct Call {
    id: u64,
    events: Events,
    now_ns: u64,
}

#[derive(Debug)]
enum Events {
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
}

impl Events {
    fn len(&self) -> usize {
        match self {
            Events::Accounts(events) => events.len(),
            Events::Transfers(events) => events.len(),
        }
    }

    fn same_kind(&self, other: &Events) -> bool {
        matches!(
            (self, other),
            (Events::Accounts(_), Events::Accounts(_)) | (Events::Transfers(_), Events::Transfers(_))
        )
    }

    /// True when the last event is flagged `linked`: the call leaves a
    /// chain open, so it must end its batch.
    fn leaves_chain_open(&self) -> bool {
        match self {
            Events::Accounts(events) => events.last().is_some_and(|a| a.flags.contains(AccountFlags::LINKED)),
            Events::Transfers(events) => events.last().is_some_and(|t| t.flags.contains(TransferFlags::LINKED)),
        }
    }
}

#[derive(Debug)]
enum Answer {
    Accounts(Vec<CreateAccountResult>),
    Transfers(Vec<CreateTransferResult>),
}

type Outcome = Result<Answer, Arc<LedgerError>>;

impl<S: Store> LedgerClient<S> {
    /// A group-commit front for `ledger`.
    pub fn new(ledger: Ledger<S>) -> Self {
        LedgerClient {
            ledger,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// The ledger, for lookups, queries and the audit (they need no group
    /// commit).
    pub fn ledger(&self) -> &Ledger<S> {
        &self.ledger
    }

    /// Gives up the front, returning the ledger.
    pub fn into_ledger(self) -> Ledger<S> {
        self.ledger
    }

    /// What the client has done so far.
    pub fn stats(&self) -> ClientStats {
        self.lock().stats
    }

    /// How many calls are waiting to be taken into a batch (not counting
    /// the batch being committed). For tests and monitoring.
    pub fn queued_calls(&self) -> usize {
        self.lock().queue.len()
    }

    /// [`Ledger::create_accounts`], sharing a commit with concurrent calls.
    ///
    /// # Errors
    /// [`LedgerError::TooMany`] above [`BATCH_EVENTS_MAX`] events and
    /// [`LedgerError::Clock`] when `now_ns` is within [`BATCH_EVENTS_MAX`] ns
    /// of [`TIMESTAMP_MAX_NS`](crate::TIMESTAMP_MAX_NS) (both before
    /// queueing); [`LedgerError::GroupCommit`] when the
    /// batch carrying the call failed (see the [module docs](self)).
    pub fn create_accounts(&self, events: &[Account], now_ns: u64) -> Result<Vec<CreateAccountResult>, LedgerError> {
        match self.submit("create_accounts", Events::Accounts(events.to_vec()), now_ns)? {
            Answer::Accounts(results) => Ok(results),
            Answer::Transfers(_) => Err(mixed_up()),
        }
    }

    /// [`Ledger::create_transfers`], sharing a commit with concurrent calls.
    ///
    /// # Errors
    /// As [`create_accounts`](Self::create_accounts).
    pub fn create_transfers(&self, events: &[Transfer], now_ns: u64) -> Result<Vec<CreateTransferResult>, LedgerError> {
        match self.submit("create_transfers", Events::Transfers(events.to_vec()), now_ns)? {
            Answer::Transfers(results) => Ok(results),
            Answer::Accounts(_) => Err(mixed_up()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only ever changed in small steps that leave it whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&self, what: &'static str, events: Events, now_ns: u64) -> Result<Answer, LedgerError> {
        let count = events.len();
        if count > BATCH_EVENTS_MAX {
            return Err(LedgerError::TooMany {
                what,
                count,
                max: BATCH_EVENTS_MAX,
            });
        }
        if count == 0 {
            return Ok(match events {
                Events::Accounts(_) => Answer::Accounts(Vec::new()),
                Events::Transfers(_) => Answer::Transfers(Vec::new()),
            });
        }
        // A clock that cannot stamp even this call alone would fail any
        // batch it joined; refuse it here so it fails nobody else.
        core::batch_base_ns(now_ns, 0, BATCH_EVENTS_MAX)?;
        let mut state = self.lock();
        while state.queue.len() >= QUEUE_CALLS_MAX {
            state = self.wait(state);
        }
        let id = state.next_call_id;
        state.next_call_id += 1;
        state.queue.push_back(Call { id, events, now_ns });
        loop {
            if let Some(outcome) = state.done.remove(&id) {
                return outcome.map_err(|source| LedgerError::GroupCommit { source });
            }
            if state.committing {
                state = self.wait(state);
                continue;
            }
            // Lead: take a batch from the front and commit it, unlocked.
            state.committing = true;
            let batch = take_batch(&mut state.queue);
            debug_assert!(!batch.is_empty());
            drop(state);
            let mut leader = Leader {
                client: self,
                ids: batch.iter().map(|call| call.id).collect(),
                own: id,
                finished: false,
            };
            let outcomes = self.commit(batch);
            state = self.lock();
            leader.finish(&mut state, outcomes);
        }
    }

    /// Commits one batch; one outcome per call, in order.
    fn commit(&self, batch: Vec<Call>) -> Vec<(u64, usize, Outcome)> {
        let now_ns = batch.iter().map(|call| call.now_ns).max().unwrap_or(0);
        let sizes: Vec<(u64, usize)> = batch.iter().map(|call| (call.id, call.events.len())).collect();
        let total: usize = sizes.iter().map(|(_, size)| size).sum();
        debug_assert!(total <= BATCH_EVENTS_MAX);
        let fail = |error: LedgerError| {
            let error = Arc::new(error);
            sizes
                .iter()
                .map(|&(id, size)| (id, size, Err(Arc::clone(&error))))
                .collect()
        };
        let is_accounts = matches!(batch.first().map(|call| &call.events), Some(Events::Accounts(_)));
        if is_accounts {
            let mut events = Vec::with_capacity(total);
            for call in batch {
                if let Events::Accounts(mut some) = call.events {
                    events.append(&mut some);
                }
            }
            match self.ledger.create_accounts(&events, now_ns) {
                Ok(results) => split(results, &sizes, Answer::Accounts),
                Err(error) => fail(error),
            }
        } else {
            let mut events = Vec::with_capacity(total);
            for call in batch {
                if let Events::Transfers(mut some) = call.events {
                    events.append(&mut some);
                }
            }
            match self.ledger.create_transfers(&events, now_ns) {
                Ok(results) => split(results, &sizes, Answer::Transfers),
                Err(error) => fail(error),
            }
        }
    }
}

/// Hands results back; on a panic in the commit, answers every caller of
/// the batch with [`LedgerError::Abandoned`] so none waits forever.
struct Leader<'c, S> {
    client: &'c LedgerClient<S>,
    ids: Vec<u64>,
    /// The leader's own call, which the unwinding leader never collects.
    own: u64,
    finished: bool,
}

impl<S> Leader<'_, S> {
    fn finish(&mut self, state: &mut State, outcomes: Vec<(u64, usize, Outcome)>) {
        debug_assert!(state.committing);
        debug_assert_eq!(outcomes.len(), self.ids.len());
        let events: usize = outcomes.iter().map(|(_, size, _)| size).sum();
        let stats = &mut state.stats;
        stats.commits += 1;
        stats.calls += outcomes.len() as u64;
        stats.events += events as u64;
        stats.calls_per_commit_max = stats.calls_per_commit_max.max(outcomes.len() as u64);
        stats.events_per_commit_max = stats.events_per_commit_max.max(events as u64);
        for (id, _, outcome) in outcomes {
            state.done.insert(id, outcome);
        }
        state.committing = false;
        self.finished = true;
        self.client.changed.notify_all();
    }
}

impl<S> Drop for Leader<'_, S> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.client.state.lock().unwrap_or_else(PoisonError::into_inner);
        let error = Arc::new(LedgerError::Abandoned);
        for id in self.ids.drain(..).filter(|&id| id != self.own) {
            state.done.insert(id, Err(Arc::clone(&error)));
        }
        state.committing = false;
        self.client.changed.notify_all();
    }
}

/// The calls of the next batch: from the front, of the front call's kind,
/// at most [`BATCH_EVENTS_MAX`] events in all, ending after a call that
/// leaves a chain open.
fn take_batch(queue: &mut VecDeque<Call>) -> Vec<Call> {
    let mut batch: Vec<Call> = Vec::new();
    let mut events = 0;
    while let Some(next) = queue.front() {
        if let Some(first) = batch.first()
            && (!first.events.same_kind(&next.events) || events + next.events.len() > BATCH_EVENTS_MAX)
        {
            break;
        }
        let open = next.events.leaves_chain_open();
        events += next.events.len();
        if let Some(call) = queue.pop_front() {
            batch.push(call);
        }
        if open {
            break;
        }
    }
    debug_assert!(events <= BATCH_EVENTS_MAX);
    batch
}

/// Splits a batch's results into each call's share.
fn split<R>(results: Vec<R>, sizes: &[(u64, usize)], wrap: impl Fn(Vec<R>) -> Answer) -> Vec<(u64, usize, Outcome)> {
    debug_assert_eq!(results.len(), sizes.iter().map(|(_, size)| size).sum::<usize>());
    let mut results = results.into_iter();
    sizes
        .iter()
        .map(|&(id, size)| (id, size, Ok(wrap(results.by_ref().take(size).collect()))))
        .collect()
}

fn mixed_up() -> LedgerError {
    core::Inconsistent {
        what: "the group commit answered a call with results of the other kind".to_owned(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfers(count: usize, last_linked: bool) -> Events {
        let mut events = vec![Transfer::new(1, 1, 2, 1, 1, 1); count];
        if last_linked && let Some(last) = events.last_mut() {
            last.flags = TransferFlags::LINKED;
        }
        Events::Transfers(events)
    }

    fn queue(calls: Vec<Events>) -> VecDeque<Call> {
        calls
            .into_iter()
            .enumerate()
            .map(|(id, events)| Call {
                id: id as u64,
                events,
                now_ns: 1,
            })
            .collect()
    }

    fn ids(batch: &[Call]) -> Vec<u64> {
        batch.iter().map(|call| call.id).collect()
    }

    #[test]
    fn a_batch_takes_calls_in_order_up_to_the_event_limit() {
        let mut calls = queue(vec![
            transfers(4_000, false),
            transfers(4_000, false),
            transfers(189, false),
            transfers(1, false),
        ]);
        assert_eq!(ids(&take_batch(&mut calls)), [0, 1, 2]);
        assert_eq!(ids(&take_batch(&mut calls)), [3]);
        assert!(take_batch(&mut calls).is_empty());
    }

    #[test]
    fn a_call_that_leaves_a_chain_open_ends_its_batch() {
        let mut calls = queue(vec![
            transfers(2, false),
            transfers(2, true),
            transfers(2, false),
            transfers(1, true),
        ]);
        assert_eq!(ids(&take_batch(&mut calls)), [0, 1]);
        assert_eq!(ids(&take_batch(&mut calls)), [2, 3]);
    }

    #[test]
    fn accounts_and_transfers_never_share_a_batch() {
        let mut calls = queue(vec![
            transfers(1, false),
            Events::Accounts(vec![Account::new(1, 1, 1)]),
            Events::Accounts(vec![Account::new(2, 1, 1)]),
            transfers(1, false),
        ]);
        assert_eq!(ids(&take_batch(&mut calls)), [0]);
        assert_eq!(ids(&take_batch(&mut calls)), [1, 2]);
        assert_eq!(ids(&take_batch(&mut calls)), [3]);
    }
}
