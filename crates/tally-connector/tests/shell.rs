//! The shell on a Store: one commit per event, idempotent, owned by a
//! worker; crash and restart with FaultyStore; workers racing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use common::{connector, fulfillment, id, prepare, set_up};
use tally_connector::forward::PaymentState;
use tally_connector::{ConnectorError, PrepareOutcome, Resolved, Upstream};
use tally_store::{Fault, FaultyStore, MemStore};

fn forward(outcome: PrepareOutcome) -> tally_connector::OutgoingPrepare {
    match outcome {
        PrepareOutcome::Forward(out) => out,
        other => panic!("expected a forward, got {other:?}"),
    }
}

fn reject_code(outcome: &PrepareOutcome) -> String {
    match outcome {
        PrepareOutcome::Reply(Upstream::Reject(reason)) => reason.code_str(),
        other => panic!("expected a reject, got {other:?}"),
    }
}

#[test]
fn forwards_a_prepare_and_settles_both_legs_on_fulfill() {
    let hub = connector(MemStore::new(), 0);
    set_up(&hub, 1, 1_000);
    let out = forward(hub.handle_prepare(&prepare(1, 300, 10_000), 0).unwrap());
    assert_eq!((out.to.as_str(), out.amount, out.expires_at_ms), ("bob", 300, 9_000));
    assert_eq!(hub.balances(&id("bob")).unwrap().balance(), 700, "prepared at once");
    let resolved = hub
        .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 10)
        .unwrap();
    assert!(matches!(
        resolved,
        Resolved::Upstream {
            reply: Upstream::Fulfill { .. },
            ..
        }
    ));
    let bob = hub.balances(&id("bob")).unwrap();
    assert_eq!(
        (bob.balance(), bob.total.outgoing_prepared, bob.total.outgoing_fulfilled),
        (700, 0, 300)
    );
    assert_eq!(hub.balances(&id("alice")).unwrap().balance(), 300, "alice paid us");
    // The fulfill again: nothing applies twice.
    let again = hub
        .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 11)
        .unwrap();
    assert!(matches!(
        again,
        Resolved::Duplicate {
            reply: Some(Upstream::Fulfill { .. }),
            ..
        }
    ));
    assert_eq!(hub.balances(&id("alice")).unwrap().balance(), 300);
    assert_eq!(
        hub.routes().longest_match(b"test.bob.x").unwrap().1[&id("bob")].successes,
        1
    );
}

#[test]
fn refuses_with_t04_when_the_balance_cannot_cover_the_amount_times_parallelism() {
    let hub = connector(MemStore::new(), 0);
    set_up(&hub, 2, 1_000);
    // Parallelism 2: a worker may spend half of the cold balance.
    assert_eq!(
        reject_code(&hub.handle_prepare(&prepare(1, 501, 10_000), 0).unwrap()),
        "T04"
    );
    forward(hub.handle_prepare(&prepare(2, 500, 10_000), 0).unwrap());
    assert_eq!(
        reject_code(&hub.handle_prepare(&prepare(3, 1, 10_000), 0).unwrap()),
        "T04"
    );
    // Another worker (the other slot) still has its share.
    let other = connector(hub.store(), 1);
    forward(other.handle_prepare(&prepare(4, 500, 10_000), 0).unwrap());
    assert_eq!(hub.balances(&id("bob")).unwrap().balance(), 0);
    let PrepareOutcome::Reply(Upstream::Reject(reason)) = hub.handle_prepare(&prepare(5, 1, 10_000), 0).unwrap() else {
        panic!()
    };
    assert_eq!(reason.triggered_by, common::ADDRESS, "triggeredBy is our address");
}

#[test]
fn unroutable_and_expired_prepares_are_refused_with_their_codes() {
    let hub = connector(MemStore::new(), 0);
    set_up(&hub, 1, 1_000);
    let mut lost = prepare(1, 1, 10_000);
    lost.destination = b"test.nowhere.x".to_vec();
    assert_eq!(reject_code(&hub.handle_prepare(&lost, 0).unwrap()), "F02");
    assert_eq!(
        reject_code(&hub.handle_prepare(&prepare(2, 1, 100), 100).unwrap()),
        "R00"
    );
    assert_eq!(
        reject_code(&hub.handle_prepare(&prepare(3, 1, 1_200), 0).unwrap()),
        "R02"
    );
    let mut unknown = prepare(4, 1, 10_000);
    unknown.from = id("mallory");
    assert!(matches!(
        hub.handle_prepare(&unknown, 0),
        Err(ConnectorError::UnknownAccount { .. })
    ));
}

#[test]
fn a_duplicate_prepare_gets_the_same_answer_and_prepares_nothing_twice() {
    let hub = connector(MemStore::new(), 0);
    set_up(&hub, 1, 1_000);
    let first = forward(hub.handle_prepare(&prepare(1, 100, 10_000), 0).unwrap());
    let second = forward(hub.handle_prepare(&prepare(1, 100, 10_000), 1).unwrap());
    assert_eq!(first, second);
    assert_eq!(hub.balances(&id("bob")).unwrap().total.outgoing_prepared, 100);
    hub.handle_fulfill(&id("bob"), &first.transfer_id, fulfillment(1), 5)
        .unwrap();
    assert!(matches!(
        hub.handle_prepare(&prepare(1, 100, 10_000), 6).unwrap(),
        PrepareOutcome::Reply(Upstream::Fulfill { .. })
    ));
}

#[test]
fn a_fulfillment_arriving_at_another_worker_is_handed_to_the_owner() {
    let store = Arc::new(MemStore::new());
    let owner = connector(store.clone(), 0);
    let other = connector(store.clone(), 1);
    set_up(&owner, 1, 1_000);
    let out = forward(owner.handle_prepare(&prepare(1, 100, 10_000), 0).unwrap());
    assert_eq!(
        owner.owners_of_condition(&out.execution_condition).unwrap(),
        vec![(out.payment, tally_connector::WorkerId(0))]
    );
    assert_eq!(
        other
            .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 5)
            .unwrap(),
        Resolved::ToOwner(tally_connector::WorkerId(0))
    );
    assert_eq!(
        owner.balances(&id("bob")).unwrap().total.outgoing_prepared,
        100,
        "not applied by the other worker"
    );
    assert!(matches!(
        owner
            .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 5)
            .unwrap(),
        Resolved::Upstream { .. }
    ));
    assert!(
        owner.owners_of_condition(&out.execution_condition).unwrap().is_empty(),
        "out of the hot set"
    );
}

#[test]
fn the_owners_timer_rejects_with_r00_and_a_late_fulfill_changes_nothing() {
    let hub = connector(MemStore::new(), 0);
    set_up(&hub, 1, 1_000);
    let out = forward(hub.handle_prepare(&prepare(1, 100, 10_000), 0).unwrap());
    assert!(hub.handle_timeouts(out.expires_at_ms - 1).unwrap().is_empty());
    let timed_out = hub.handle_timeouts(out.expires_at_ms).unwrap();
    assert!(matches!(&timed_out[..], [Resolved::Upstream { reply: Upstream::Reject(r), .. }] if r.code_str() == "R00"));
    assert_eq!(hub.balances(&id("bob")).unwrap().balance(), 1_000, "released");
    let late = hub
        .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), out.expires_at_ms + 1)
        .unwrap();
    assert!(matches!(late, Resolved::Ignored(_)));
    assert_eq!(hub.balances(&id("bob")).unwrap().balance(), 1_000);
    assert_eq!(hub.balances(&id("alice")).unwrap().balance(), 0);
}

#[test]
fn start_up_recovery_releases_expired_prepares_of_any_owner_once() {
    let store = Arc::new(MemStore::new());
    let crashed = connector(store.clone(), 3);
    set_up(&crashed, 1, 1_000);
    let a = forward(crashed.handle_prepare(&prepare(1, 100, 10_000), 0).unwrap());
    let _b = forward(crashed.handle_prepare(&prepare(2, 200, 50_000), 0).unwrap());
    drop(crashed);
    let restarted = connector(store.clone(), 0);
    // Worker 0's own timer does not touch worker 3's payments...
    assert!(restarted.handle_timeouts(a.expires_at_ms).unwrap().is_empty());
    // ...start-up recovery does, for the expired one only.
    assert_eq!(restarted.recover(a.expires_at_ms).unwrap().len(), 1);
    assert_eq!(restarted.recover(a.expires_at_ms).unwrap().len(), 0, "once");
    assert_eq!(restarted.balances(&id("bob")).unwrap().total.outgoing_prepared, 200);
    let payment = restarted.payment(&a.payment).unwrap().unwrap();
    assert_eq!(payment.state, PaymentState::TimedOut);
}

#[test]
fn crash_and_restart_mid_payment_neither_loses_nor_double_counts_prepared_amounts() {
    let store = Arc::new(FaultyStore::new(MemStore::new()));
    let hub = connector(store.clone(), 0);
    set_up(&hub, 1, 1_000);

    // 1. The prepare's commit is applied but its acknowledgement is lost.
    store.inject(Fault::on_commit().nth(1).after_write());
    let error = hub.handle_prepare(&prepare(1, 100, 10_000), 0).unwrap_err();
    assert!(matches!(error, ConnectorError::Store(ref e) if e.is_injected()));
    // The connector "crashes"; a new process on the same store retries.
    drop(hub);
    let hub = connector(store.clone(), 0);
    let out = forward(hub.handle_prepare(&prepare(1, 100, 10_000), 1).unwrap());
    assert_eq!(
        hub.balances(&id("bob")).unwrap().total.outgoing_prepared,
        100,
        "prepared once"
    );

    // 2. The commit fails before the write: nothing applied, the retry applies it.
    store.inject(Fault::on_commit().nth(1).before_write());
    assert!(hub.handle_prepare(&prepare(2, 50, 10_000), 2).is_err());
    assert_eq!(
        hub.balances(&id("bob")).unwrap().total.outgoing_prepared,
        100,
        "nothing applied"
    );
    let out2 = forward(hub.handle_prepare(&prepare(2, 50, 10_000), 3).unwrap());
    assert_eq!(hub.balances(&id("bob")).unwrap().total.outgoing_prepared, 150);

    // 3. The fulfill's commit is applied, the acknowledgement lost; crash; retry.
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(
        hub.handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 4)
            .is_err()
    );
    drop(hub);
    let hub = connector(store.clone(), 0);
    let retried = hub
        .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(1), 5)
        .unwrap();
    assert!(matches!(
        retried,
        Resolved::Duplicate {
            reply: Some(Upstream::Fulfill { .. }),
            ..
        }
    ));
    let bob = hub.balances(&id("bob")).unwrap();
    assert_eq!((bob.total.outgoing_prepared, bob.total.outgoing_fulfilled), (50, 100));
    assert_eq!(
        hub.balances(&id("alice")).unwrap().total.incoming_fulfilled,
        100,
        "credited once"
    );

    // 4. Crash with the second payment in flight; restart after its expiry.
    drop(hub);
    let hub = connector(store.clone(), 0);
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(hub.recover(out2.expires_at_ms).is_err());
    assert!(hub.recover(out2.expires_at_ms).unwrap().is_empty(), "already released");
    let bob = hub.balances(&id("bob")).unwrap();
    assert_eq!((bob.total.outgoing_prepared, bob.balance()), (0, 900));
    assert_eq!(store.injected_count(), 4);
}

#[test]
fn concurrent_workers_never_take_an_account_below_its_minimum() {
    let store = Arc::new(MemStore::new());
    let setup = connector(store.clone(), 0);
    set_up(&setup, 4, 1_000);
    let threads: Vec<_> = (0..4u16)
        .map(|worker| {
            let store = store.clone();
            std::thread::spawn(move || {
                let hub = connector(store, worker);
                let mut forwarded = 0u64;
                for n in 0..40u64 {
                    let payment = prepare(u64::from(worker) * 1_000 + n, 30, 10_000);
                    if let PrepareOutcome::Forward(out) = hub.handle_prepare(&payment, 0).unwrap() {
                        forwarded += out.amount;
                    }
                }
                forwarded
            })
        })
        .collect();
    let forwarded: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let bob = setup.balances(&id("bob")).unwrap();
    assert!(bob.balance() >= 0, "overdrawn: {}", bob.balance());
    assert_eq!(bob.total.outgoing_prepared, u128::from(forwarded));
    // Each slot spends at most its quarter: 8 × 30 = 240 ≤ 250.
    assert_eq!(forwarded, 4 * 8 * 30);
}

#[test]
fn moves_between_cold_and_hot_keep_the_total_and_widen_a_workers_share() {
    let store = Arc::new(MemStore::new());
    let hub = connector(store.clone(), 1);
    set_up(&hub, 2, 1_000);
    assert!(hub.move_balance(&id("bob"), [1; 16], 400, true).unwrap());
    assert!(!hub.move_balance(&id("bob"), [1; 16], 400, true).unwrap(), "idempotent");
    let bob = hub.balances(&id("bob")).unwrap();
    assert_eq!(
        (bob.cold.balance(), bob.slots[1].balance(), bob.balance()),
        (Some(600), Some(400), 1_000)
    );
    // Worker 1's share is now 600/2 + 400 = 700; worker 0's is 300.
    forward(hub.handle_prepare(&prepare(1, 700, 10_000), 0).unwrap());
    let zero = connector(store.clone(), 0);
    assert_eq!(
        reject_code(&zero.handle_prepare(&prepare(2, 301, 10_000), 0).unwrap()),
        "T04"
    );
    // Moving more out of cold would push worker 0's share below zero.
    forward(zero.handle_prepare(&prepare(3, 300, 10_000), 0).unwrap());
    assert!(matches!(
        hub.move_balance(&id("bob"), [2; 16], 1, true),
        Err(ConnectorError::InsufficientBalance { .. })
    ));
    assert_eq!(hub.balances(&id("bob")).unwrap().balance(), 0);
}
