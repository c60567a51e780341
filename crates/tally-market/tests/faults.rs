//! Every write of the reservations shell under store faults: a commit that
//! fails before the write changes nothing; a commit whose acknowledgement
//! is lost changed everything once, and repeating the call leaves exactly
//! the state of one clean call. (Codex's repo quota applied the delta twice
//! when persisting failed, and its two-step reserve-then-persist calls
//! could leave the quota and the records disagreeing.)
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use common::*;
use tally_market::{AvailabilityUpdate, MarketError, OpId, Reservations, Snapshot};
use tally_store::{Fault, FaultyStore, MemStore};

type Faulty = FaultyStore<MemStore>;
type Step = fn(&Reservations<&Faulty>) -> Result<(), MarketError>;

/// Availability 1 (100 bytes) with reservation 1 (60 bytes, 20 stored).
fn setup(reservations: &Reservations<&Faulty>) {
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.release(&rid(1), 20, OpId([0xaa; 32])).unwrap();
}

fn snapshot(store: &Faulty) -> Snapshot {
    let reservations = Reservations::open(store.inner(), QUOTA).unwrap();
    reservations.check_index().unwrap();
    let snapshot = reservations.snapshot().unwrap();
    snapshot.check().unwrap();
    snapshot
}

fn steps() -> Vec<(&'static str, Step)> {
    vec![
        ("create_availability", |r| r.create_availability(&spec(2, 50)).map(drop)),
        ("update_availability", |r| {
            let update = AvailabilityUpdate {
                total_size_bytes: Some(150),
                until_secs: Some(900),
                total_collateral: Some(u(2_000)),
                ..AvailabilityUpdate::default()
            };
            r.update_availability(&aid(1), &update).map(drop)
        }),
        ("set_enabled", |r| r.set_enabled(&aid(1), false).map(drop)),
        ("delete_availability", |r| {
            // An availability without reservations.
            r.delete_availability(&aid(3)).map(drop)
        }),
        ("create_reservation", |r| {
            r.create_reservation(&reservation_spec(2, 1, 30, 1)).map(drop)
        }),
        ("release", |r| r.release(&rid(1), 15, OpId([1; 32])).map(drop)),
        ("return_bytes", |r| r.return_bytes(&rid(1), 10, OpId([2; 32])).map(drop)),
        ("delete_reservation", |r| r.delete_reservation(&rid(1), u(50)).map(drop)),
        ("set_quota_max", |r| r.set_quota_max(500).map(drop)),
    ]
}

fn prepared() -> Faulty {
    let store = FaultyStore::new(MemStore::new());
    let reservations = Reservations::open(&store, QUOTA).unwrap();
    setup(&reservations);
    reservations.create_availability(&spec(3, 10)).unwrap();
    store
}

#[test]
fn a_commit_failing_before_the_write_changes_nothing() {
    for (name, step) in steps() {
        let store = prepared();
        let before = snapshot(&store);
        let reservations = Reservations::open(&store, QUOTA).unwrap();
        store.inject(Fault::on_commit().nth(1).times(1).before_write());
        let error = step(&reservations).expect_err(name);
        assert!(
            matches!(error, MarketError::Store(ref e) if e.is_injected()),
            "{name}: {error}"
        );
        assert_eq!(snapshot(&store), before, "{name} changed something");
        step(&reservations).unwrap_or_else(|e| panic!("{name} retried: {e}"));
    }
}

#[test]
fn repeating_a_call_whose_acknowledgement_was_lost_leaves_the_state_of_one_call() {
    for (name, step) in steps() {
        let clean = prepared();
        step(&Reservations::open(&clean, QUOTA).unwrap()).unwrap();
        let expected = snapshot(&clean);

        let store = prepared();
        let reservations = Reservations::open(&store, QUOTA).unwrap();
        store.inject(Fault::on_commit().nth(1).times(1).after_write());
        let error = step(&reservations).expect_err(name);
        assert!(
            matches!(error, MarketError::Store(ref e) if e.is_injected()),
            "{name}: {error}"
        );
        assert_eq!(
            snapshot(&store),
            expected,
            "{name}: the lost acknowledgement hid a full write"
        );
        step(&reservations).unwrap_or_else(|e| panic!("{name} repeated: {e}"));
        assert_eq!(snapshot(&store), expected, "{name} applied twice");
        step(&reservations).unwrap_or_else(|e| panic!("{name} repeated twice: {e}"));
        assert_eq!(snapshot(&store), expected, "{name} applied three times");
    }
}

#[test]
fn a_failed_read_changes_nothing_and_the_call_can_be_repeated() {
    for (name, step) in steps() {
        let store = prepared();
        let before = snapshot(&store);
        let reservations = Reservations::open(&store, QUOTA).unwrap();
        store.inject(Fault::on_get().nth(1).times(1));
        let error = step(&reservations).expect_err(name);
        assert!(
            matches!(error, MarketError::Store(ref e) if e.is_injected()),
            "{name}: {error}"
        );
        assert_eq!(snapshot(&store), before, "{name}");
        step(&reservations).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn a_restart_after_any_fault_resumes_from_consistent_records() {
    for (name, step) in steps() {
        for after_write in [false, true] {
            let store = prepared();
            {
                let reservations = Reservations::open(&store, QUOTA).unwrap();
                let fault = Fault::on_commit().nth(1).times(1);
                store.inject(if after_write {
                    fault.after_write()
                } else {
                    fault.before_write()
                });
                assert!(step(&reservations).is_err());
            } // the process dies here
            snapshot(&store);
            let restarted = Reservations::open(&store, QUOTA).unwrap();
            step(&restarted).unwrap_or_else(|e| panic!("{name} after restart: {e}"));
            snapshot(&store);
        }
    }
}
