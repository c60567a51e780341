//! The group-commit front: coalescing, results routed to each caller,
//! chains that never cross calls, failures, money conserved under load.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use tally_ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateTransferStatus as S, Ledger, LedgerClient, LedgerError, NS_PER_S,
    Transfer, TransferFlags,
};
use tally_store::{Batch, Fault, FaultyStore, MemStore, Page, Store, StoreError, Versioned};

const NOW_NS: u64 = 1_700_000_000 * NS_PER_S;

/// A store whose commits can be held at a gate: a held commit waits until
/// the test opens the gate. Lets a test queue calls behind a commit in
/// progress, deterministically. A commit can also be made to panic.
struct Gate<S> {
    inner: S,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// Hold the next commit (and every one after it) until opened.
    closed: bool,
    /// Commits waiting at the gate.
    waiting: usize,
    /// Commits that have reached the gate so far.
    commits: usize,
    /// Panic in this commit (1-based), once.
    panic_at: Option<usize>,
}

impl<S: Store> Gate<S> {
    fn new(inner: S) -> Self {
        Gate {
            inner,
            state: Mutex::new(GateState::default()),
            changed: Condvar::new(),
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().closed = true;
    }

    fn open(&self) {
        self.state.lock().unwrap().closed = false;
        self.changed.notify_all();
    }

    fn panic_at_commit(&self, commit: usize) {
        self.state.lock().unwrap().panic_at = Some(commit);
    }

    /// Waits until a commit is held at the gate.
    fn wait_for_held_commit(&self) {
        let mut state = self.state.lock().unwrap();
        while state.waiting == 0 {
            state = self.changed.wait_timeout(state, Duration::from_millis(10)).unwrap().0;
        }
    }
}

impl<S: Store> Store for Gate<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key)
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.inner.scan(prefix, after, limit)
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        state.commits += 1;
        if state.panic_at == Some(state.commits) {
            state.panic_at = None;
            drop(state);
            panic!("injected panic in commit");
        }
        state.waiting += 1;
        self.changed.notify_all();
        while state.closed {
            state = self.changed.wait(state).unwrap();
        }
        state.waiting -= 1;
        drop(state);
        self.inner.commit(batch)
    }
}

/// Waits until `count` calls are queued behind the commit in progress.
fn wait_until_queued<S: Store>(client: &LedgerClient<S>, count: usize) {
    while client.queued_calls() < count {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn accounts() -> [Account; 4] {
    [
        Account::new(1, 1, 1),
        Account::new(2, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        Account::new(3, 1, 1),
        Account::new(4, 1, 1),
    ]
}

fn client_on<St: Store>(store: St, funds: u128) -> LedgerClient<St> {
    let client = LedgerClient::new(Ledger::new(store));
    client.create_accounts(&accounts(), NOW_NS).expect("accounts");
    let funded = client
        .create_transfers(&[Transfer::new(u128::MAX - 1, 1, 2, funds, 1, 1)], NOW_NS)
        .expect("funding");
    assert_eq!(funded[0].status, S::Created);
    client
}

fn statuses(results: &[tally_ledger::CreateTransferResult]) -> Vec<S> {
    results.iter().map(|r| r.status).collect()
}

const THREADS: u128 = 100;
const PER_THREAD: u128 = 200;

/// Every thread sends PER_THREAD transfers of 1 from account 2, one per
/// call; returns how many each thread saw created.
fn hammer<St: Store>(client: &LedgerClient<St>) -> u128 {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let mut created = 0;
                    for i in 0..PER_THREAD {
                        let id = 1 + thread * PER_THREAD + i;
                        let results = client
                            .create_transfers(&[Transfer::new(id, 2, 3, 1, 1, 1)], NOW_NS)
                            .expect("commit");
                        assert_eq!(results.len(), 1);
                        match results[0].status {
                            S::Created => created += 1,
                            S::ExceedsCredits => {}
                            other => panic!("transfer {id}: {other}"),
                        }
                    }
                    created
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("thread")).sum()
    })
}

#[test]
fn a_hundred_threads_sending_from_one_account_conserve_money() {
    let client = client_on(MemStore::new(), THREADS * PER_THREAD);
    let created = hammer(&client);
    assert_eq!(created, THREADS * PER_THREAD);
    let found = client.ledger().lookup_accounts(&[2, 3]).expect("lookup");
    assert_eq!(found[0].debits_posted, THREADS * PER_THREAD);
    assert_eq!(found[1].credits_posted, THREADS * PER_THREAD);
    let stats = client.stats();
    assert_eq!(stats.calls, 2 + (THREADS * PER_THREAD) as u64);
    assert_eq!(stats.events, 5 + (THREADS * PER_THREAD) as u64);
    assert!(stats.commits <= stats.calls);
    let report = client.ledger().audit().expect("audit");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.transfers, 1 + (THREADS * PER_THREAD) as u64);
}

#[test]
fn a_hundred_threads_racing_to_overdraw_one_account_never_do() {
    // Funds for three quarters of what the threads ask for.
    let funds = THREADS * PER_THREAD * 3 / 4;
    let client = client_on(MemStore::new(), funds);
    let created = hammer(&client);
    assert_eq!(created, funds, "every unit that could move moved, and no more");
    let spender = client.ledger().lookup_accounts(&[2]).expect("lookup")[0];
    assert_eq!((spender.debits_posted, spender.credits_posted), (funds, funds));
    assert!(client.ledger().audit().expect("audit").is_ok());
}

#[test]
fn calls_queued_during_a_commit_share_the_next_commit() {
    let client = client_on(Gate::new(MemStore::new()), 1_000);
    let gate = client.ledger().store();
    let before = client.stats();
    gate.close();
    std::thread::scope(|scope| {
        let first = scope.spawn(|| client.create_transfers(&[Transfer::new(1, 2, 3, 1, 1, 1)], NOW_NS));
        gate.wait_for_held_commit();
        let others: Vec<_> = (0..10u128)
            .map(|i| {
                let client = &client;
                scope
                    .spawn(move || client.create_transfers(&[Transfer::new(100 + i, 2, 3, 1, 1, 1)], NOW_NS + i as u64))
            })
            .collect();
        wait_until_queued(&client, 10);
        gate.open();
        assert_eq!(statuses(&first.join().unwrap().unwrap()), [S::Created]);
        let mut timestamps = Vec::new();
        for other in others {
            let results = other.join().unwrap().unwrap();
            assert_eq!(statuses(&results), [S::Created]);
            timestamps.push(results[0].timestamp);
        }
        timestamps.sort_unstable();
        timestamps.dedup();
        assert_eq!(timestamps.len(), 10, "each caller got its own event's result");
    });
    let stats = client.stats();
    assert_eq!(
        stats.commits - before.commits,
        2,
        "the ten queued calls made one commit"
    );
    assert_eq!(stats.calls_per_commit_max, 10);
    assert_eq!(client.ledger().lookup_accounts(&[3]).unwrap()[0].credits_posted, 11);
}

/// Runs `calls` through one shared batch (queued behind a held commit, in
/// order) and returns each call's statuses.
fn in_one_batch(calls: &[Vec<Transfer>]) -> (Vec<Vec<S>>, u64) {
    let client = client_on(Gate::new(MemStore::new()), 1_000);
    let gate = client.ledger().store();
    let before = client.stats().commits;
    gate.close();
    let answers = std::thread::scope(|scope| {
        let plug = scope.spawn(|| client.create_transfers(&[Transfer::new(999, 1, 4, 1, 1, 1)], NOW_NS));
        gate.wait_for_held_commit();
        let mut handles = Vec::new();
        for (index, call) in calls.iter().enumerate() {
            let client = &client;
            handles.push(scope.spawn(move || client.create_transfers(call, NOW_NS)));
            wait_until_queued(client, index + 1);
        }
        gate.open();
        plug.join().unwrap().unwrap();
        handles
            .into_iter()
            .map(|handle| statuses(&handle.join().unwrap().unwrap()))
            .collect()
    });
    (answers, client.stats().commits - before - 1)
}

/// The same calls, one `Ledger` call each, in order.
fn one_by_one(calls: &[Vec<Transfer>]) -> Vec<Vec<S>> {
    let client = client_on(MemStore::new(), 1_000);
    client
        .create_transfers(&[Transfer::new(999, 1, 4, 1, 1, 1)], NOW_NS)
        .unwrap();
    calls
        .iter()
        .map(|call| statuses(&client.ledger().create_transfers(call, NOW_NS).unwrap()))
        .collect()
}

#[test]
fn calls_sharing_a_batch_get_the_results_they_would_get_one_after_another() {
    let linked = TransferFlags::LINKED;
    let calls = vec![
        // A: a pending transfer, and a chain that breaks.
        vec![
            Transfer::new(10, 2, 3, 600, 1, 1).with_flags(TransferFlags::PENDING),
            Transfer::new(11, 2, 3, 1, 1, 1).with_flags(linked),
            Transfer::new(12, 2, 77, 1, 1, 1),
        ],
        // B: posts A's pending transfer; its own chain holds.
        vec![
            Transfer::post(20, 10, AMOUNT_MAX).with_flags(TransferFlags::POST_PENDING_TRANSFER | linked),
            Transfer::new(21, 2, 3, 100, 1, 1),
        ],
        // C: repeats A's id, reuses the id A burned, overdraws.
        vec![
            Transfer::new(10, 2, 3, 600, 1, 1).with_flags(TransferFlags::PENDING),
            Transfer::new(12, 2, 3, 1, 1, 1),
            Transfer::new(30, 2, 3, 301, 1, 1),
            Transfer::new(31, 2, 3, 300, 1, 1),
        ],
    ];
    let (shared, commits) = in_one_batch(&calls);
    assert_eq!(commits, 1, "the three calls shared one commit");
    assert_eq!(shared, one_by_one(&calls));
    assert_eq!(
        shared,
        [
            vec![S::Created, S::LinkedEventFailed, S::CreditAccountNotFound],
            vec![S::Created, S::Created],
            vec![S::Exists, S::IdAlreadyFailed, S::ExceedsCredits, S::Created],
        ]
    );
}

#[test]
fn a_callers_open_chain_is_never_joined_to_the_next_callers_events() {
    let linked = TransferFlags::LINKED;
    let calls = vec![
        // A leaves its chain open: alone it fails as `linked_event_chain_open`.
        vec![
            Transfer::new(10, 2, 3, 5, 1, 1).with_flags(linked),
            Transfer::new(11, 2, 3, 5, 1, 1).with_flags(linked),
        ],
        // Concatenated naively, B's event would close A's chain and make it apply.
        vec![Transfer::new(20, 2, 3, 5, 1, 1)],
    ];
    let (shared, commits) = in_one_batch(&calls);
    assert_eq!(shared, one_by_one(&calls));
    assert_eq!(
        shared,
        [vec![S::LinkedEventFailed, S::LinkedEventChainOpen], vec![S::Created]]
    );
    assert_eq!(commits, 2, "the call with the open chain ended its batch");
}

#[test]
fn a_failed_batch_fails_each_of_its_callers_and_retries_apply_nothing_twice() {
    let faulty = FaultyStore::new(MemStore::new());
    let client = client_on(Gate::new(faulty), 1_000);
    let gate = client.ledger().store();
    // The batch of queued calls is the next commit after the plug: applied,
    // but its acknowledgement is lost.
    gate.inner.inject(Fault::on_commit().nth(2).after_write());
    gate.close();
    let calls: Vec<Vec<Transfer>> = (0..5u128)
        .map(|i| vec![Transfer::new(100 + i, 2, 3, 10, 1, 1)])
        .collect();
    std::thread::scope(|scope| {
        let plug = scope.spawn(|| client.create_transfers(&[Transfer::new(1, 2, 3, 1, 1, 1)], NOW_NS));
        gate.wait_for_held_commit();
        let handles: Vec<_> = calls
            .iter()
            .map(|call| {
                let client = &client;
                scope.spawn(move || client.create_transfers(call, NOW_NS))
            })
            .collect();
        wait_until_queued(&client, calls.len());
        gate.open();
        plug.join().unwrap().unwrap();
        for handle in handles {
            let error = handle
                .join()
                .unwrap()
                .expect_err("the batch's acknowledgement was lost");
            assert!(matches!(error, LedgerError::GroupCommit { .. }), "{error}");
            assert!(error.store_error().is_some_and(StoreError::is_injected), "{error}");
        }
    });
    // Each caller retries its own events: they were applied, once.
    for call in &calls {
        assert_eq!(statuses(&client.create_transfers(call, NOW_NS).unwrap()), [S::Exists]);
    }
    let payee = client.ledger().lookup_accounts(&[3]).unwrap()[0];
    assert_eq!(payee.credits_posted, 1 + 50);
    assert!(client.ledger().audit().unwrap().is_ok());
}

#[test]
fn a_panic_while_committing_answers_every_other_caller_of_the_batch() {
    let client = client_on(Gate::new(MemStore::new()), 1_000);
    let gate = client.ledger().store();
    let commits_so_far = 2; // accounts and funding
    gate.panic_at_commit(commits_so_far + 2);
    gate.close();
    std::thread::scope(|scope| {
        let plug = scope.spawn(|| client.create_transfers(&[Transfer::new(1, 2, 3, 1, 1, 1)], NOW_NS));
        gate.wait_for_held_commit();
        let handles: Vec<_> = (0..4u128)
            .map(|i| {
                let client = &client;
                scope.spawn(move || client.create_transfers(&[Transfer::new(100 + i, 2, 3, 1, 1, 1)], NOW_NS))
            })
            .collect();
        wait_until_queued(&client, 4);
        gate.open();
        plug.join().unwrap().unwrap();
        let mut panicked = 0;
        let mut abandoned = 0;
        for handle in handles {
            match handle.join() {
                Err(_) => panicked += 1,
                Ok(Err(LedgerError::GroupCommit { source })) if matches!(*source, LedgerError::Abandoned) => {
                    abandoned += 1;
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            (panicked, abandoned),
            (1, 3),
            "the leader panicked; the others were answered"
        );
    });
    // The front still works, and nothing of the abandoned batch was applied.
    let results = client
        .create_transfers(&[Transfer::new(100, 2, 3, 1, 1, 1)], NOW_NS)
        .unwrap();
    assert_eq!(statuses(&results), [S::Created]);
    assert_eq!(client.ledger().lookup_accounts(&[3]).unwrap()[0].credits_posted, 2);
}

#[test]
fn a_call_over_the_batch_limit_is_refused_before_it_is_queued() {
    let client = client_on(MemStore::new(), 1);
    let too_many = vec![Transfer::new(1, 2, 3, 1, 1, 1); tally_ledger::BATCH_EVENTS_MAX + 1];
    assert!(matches!(
        client.create_transfers(&too_many, NOW_NS),
        Err(LedgerError::TooMany { .. })
    ));
    assert!(client.create_transfers(&[], NOW_NS).unwrap().is_empty());
    assert!(matches!(
        client.create_transfers(&[Transfer::new(1, 2, 3, 1, 1, 1)], u64::MAX),
        Err(LedgerError::Clock(_))
    ));
    assert_eq!(client.queued_calls(), 0);
}
