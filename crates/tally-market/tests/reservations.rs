//! The Reservations module's behaviour, scenario by scenario: every test of
//! Codex's `testreservations.nim` (both the first version, ccf349bd, and the
//! latest), each named for the rule it checks, plus the bugs Codex's users
//! reported.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::{Arc, Barrier};

use common::*;
use tally_market::{
    AvailabilityUpdate, MarketError, OpId, Quota, RecordKind, Reservation, Reservations, SlotRef, U256, matches,
};
use tally_store::{Interleaved, MemStore, Store, codec};

fn op(n: u8) -> OpId {
    OpId([n; 32])
}

// ----- availabilities --------------------------------------------------------

#[test]
fn availabilities_round_trip_through_the_codec() {
    let reservations = open();
    let created = reservations.create_availability(&spec(1, 100)).unwrap().value;
    let bytes = codec::encode(&created).unwrap();
    assert_eq!(codec::decode::<tally_market::Availability>(&bytes).unwrap(), created);
}

#[test]
fn there_are_no_availabilities_initially() {
    let reservations = open();
    assert!(reservations.availabilities(None, 10).unwrap().is_empty());
    assert!(reservations.reservations(None, 10).unwrap().is_empty());
    assert_eq!(reservations.quota().unwrap(), Quota::new(QUOTA));
}

#[test]
fn availabilities_with_equal_parameters_and_distinct_ids_are_distinct() {
    let reservations = open();
    let mut second = spec(1, 100);
    second.id = aid(2);
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_availability(&second).unwrap();
    let all = reservations.availabilities(None, 10).unwrap();
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), vec![aid(1), aid(2)]);
    check(&reservations);
}

#[test]
fn creating_an_availability_reserves_its_bytes_in_the_quota() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_availability(&spec(2, 250)).unwrap();
    let quota = reservations.quota().unwrap();
    assert_eq!(quota.reserved_bytes, 350);
    assert_eq!(reservations.available_bytes().unwrap(), QUOTA - 350);
    check(&reservations);
}

#[test]
fn a_created_availability_exists_with_the_given_values_and_codex_defaults() {
    let reservations = open();
    let spec = spec(1, 100);
    assert!(spec.enabled, "enabled by default");
    assert_eq!(spec.until_secs, 0, "no until by default");
    let created = reservations.create_availability(&spec).unwrap();
    assert!(created.changed && created.saved);
    let stored = reservations.availability(&aid(1)).unwrap().expect("exists");
    assert_eq!(stored, created.value);
    assert_eq!(
        (stored.total_size_bytes, stored.free_size_bytes, stored.duration_secs),
        (100, 100, 1_000)
    );
    assert_eq!(stored.min_price_per_byte_per_second, u(2));
    assert_eq!(stored.total_collateral, u(1_000));
    assert_eq!(stored.total_remaining_collateral, u(1_000));
    assert!(stored.enabled);
    assert_eq!(stored.until_secs, 0);
    assert!(
        reservations.availability(&aid(9)).unwrap().is_none(),
        "others do not exist"
    );
}

#[test]
fn creating_the_same_availability_again_is_a_no_op_but_other_parameters_are_refused() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let again = reservations.create_availability(&spec(1, 100)).unwrap();
    assert!(!again.changed);
    assert_eq!(reservations.quota().unwrap().reserved_bytes, 100, "reserved once");
    match reservations.create_availability(&spec(1, 101)) {
        Err(MarketError::AlreadyExists {
            kind: RecordKind::Availability,
            ..
        }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    check(&reservations);
}

#[test]
fn an_availability_larger_than_the_quota_is_refused_and_not_stored() {
    let reservations = Reservations::open(MemStore::new(), 99).unwrap();
    match reservations.create_availability(&spec(1, 100)) {
        Err(MarketError::QuotaNotEnough {
            requested_bytes: 100,
            available_bytes: 99,
        }) => {}
        other => panic!("expected QuotaNotEnough, got {other:?}"),
    }
    assert!(reservations.availability(&aid(1)).unwrap().is_none());
    assert_eq!(reservations.quota().unwrap().reserved_bytes, 0);
}

#[test]
fn the_quota_reports_what_is_available_and_what_is_not() {
    let reservations = Reservations::open(MemStore::new(), 100).unwrap();
    assert!(reservations.has_available(100).unwrap());
    reservations.create_availability(&spec(1, 60)).unwrap();
    assert_eq!(
        reservations.available_bytes().unwrap(),
        40,
        "reserving reduces what is available"
    );
    assert!(reservations.has_available(40).unwrap());
    assert!(!reservations.has_available(41).unwrap());
}

#[test]
fn a_zero_sized_availability_is_refused() {
    let reservations = open();
    assert!(matches!(
        reservations.create_availability(&spec(1, 0)),
        Err(MarketError::Invalid {
            field: "total_size",
            ..
        })
    ));
}

#[test]
fn growing_an_availability_reserves_quota_and_shrinking_releases_it() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let grow = AvailabilityUpdate {
        total_size_bytes: Some(150),
        ..AvailabilityUpdate::default()
    };
    let grown = reservations.update_availability(&aid(1), &grow).unwrap().value;
    assert_eq!((grown.total_size_bytes, grown.free_size_bytes), (150, 150));
    assert_eq!(reservations.quota().unwrap().reserved_bytes, 150);
    let shrink = AvailabilityUpdate {
        total_size_bytes: Some(40),
        ..AvailabilityUpdate::default()
    };
    let shrunk = reservations.update_availability(&aid(1), &shrink).unwrap().value;
    assert_eq!((shrunk.total_size_bytes, shrunk.free_size_bytes), (40, 40));
    assert_eq!(reservations.quota().unwrap().reserved_bytes, 40);
    check(&reservations);
}

#[test]
fn a_size_change_moves_the_free_size_by_the_same_amount() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 70, 0)).unwrap();
    let grown = reservations
        .update_availability(
            &aid(1),
            &AvailabilityUpdate {
                total_size_bytes: Some(120),
                ..AvailabilityUpdate::default()
            },
        )
        .unwrap()
        .value;
    assert_eq!((grown.total_size_bytes, grown.free_size_bytes), (120, 50));
    check(&reservations);
}

#[test]
fn shrinking_an_availability_below_what_is_free_is_out_of_bounds() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 70, 0)).unwrap();
    let shrink = AvailabilityUpdate {
        total_size_bytes: Some(69),
        ..AvailabilityUpdate::default()
    };
    match reservations.update_availability(&aid(1), &shrink) {
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 31,
            available_bytes: 30,
        }) => {}
        other => panic!("expected BytesOutOfBounds, got {other:?}"),
    }
    let fits = AvailabilityUpdate {
        total_size_bytes: Some(70),
        ..AvailabilityUpdate::default()
    };
    assert_eq!(
        reservations
            .update_availability(&aid(1), &fits)
            .unwrap()
            .value
            .free_size_bytes,
        0
    );
    check(&reservations);
}

#[test]
fn growing_an_availability_beyond_the_quota_is_refused() {
    let reservations = Reservations::open(MemStore::new(), 150).unwrap();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let grow = AvailabilityUpdate {
        total_size_bytes: Some(151),
        ..AvailabilityUpdate::default()
    };
    assert!(matches!(
        reservations.update_availability(&aid(1), &grow),
        Err(MarketError::QuotaNotEnough {
            requested_bytes: 51,
            available_bytes: 50
        })
    ));
}

#[test]
fn updating_a_missing_availability_does_not_exist() {
    let reservations = open();
    assert!(matches!(
        reservations.update_availability(&aid(1), &AvailabilityUpdate::default()),
        Err(MarketError::NotExists {
            kind: RecordKind::Availability,
            ..
        })
    ));
}

#[test]
fn until_cannot_move_before_the_end_of_a_hosted_slot() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 10, 0)).unwrap(); // ends at 500
    let mut second = reservation_spec(2, 1, 10, 0);
    second.valid_until_secs = 700;
    reservations.create_reservation(&second).unwrap();
    let until = |secs| AvailabilityUpdate {
        until_secs: Some(secs),
        ..AvailabilityUpdate::default()
    };
    match reservations.update_availability(&aid(1), &until(699)) {
        Err(MarketError::UntilOutOfBounds {
            until_secs: 699,
            valid_until_secs: 700,
        }) => {}
        other => panic!("expected UntilOutOfBounds, got {other:?}"),
    }
    assert_eq!(
        reservations
            .update_availability(&aid(1), &until(700))
            .unwrap()
            .value
            .until_secs,
        700
    );
    assert_eq!(
        reservations
            .update_availability(&aid(1), &until(0))
            .unwrap()
            .value
            .until_secs,
        0,
        "0 = no limit"
    );
    reservations.delete_reservation(&rid(2), u(10)).unwrap();
    assert_eq!(
        reservations
            .update_availability(&aid(1), &until(500))
            .unwrap()
            .value
            .until_secs,
        500,
        "the longest remaining slot ends at 500"
    );
}

#[test]
fn a_reservation_ending_after_until_is_refused() {
    let reservations = open();
    let mut limited = spec(1, 100);
    limited.until_secs = 499;
    reservations.create_availability(&limited).unwrap();
    assert!(matches!(
        reservations.create_reservation(&reservation_spec(1, 1, 10, 0)),
        Err(MarketError::UntilOutOfBounds {
            until_secs: 499,
            valid_until_secs: 500
        })
    ));
}

#[test]
fn an_availability_with_reservations_cannot_be_deleted() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 10, 0)).unwrap();
    assert!(matches!(
        reservations.delete_availability(&aid(1)),
        Err(MarketError::HasReservations { .. })
    ));
    reservations.delete_reservation(&rid(1), u(10)).unwrap();
    assert!(reservations.delete_availability(&aid(1)).unwrap().changed);
    assert_eq!(
        reservations.quota().unwrap().reserved_bytes,
        0,
        "its bytes left the quota"
    );
    assert!(
        !reservations.delete_availability(&aid(1)).unwrap().changed,
        "deleting again is a no-op"
    );
    check(&reservations);
}

#[test]
fn setting_total_collateral_keeps_what_reservations_hold() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap(); // 1000 collateral
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap(); // takes 60
    let set = |total| AvailabilityUpdate {
        total_collateral: Some(u(total)),
        ..AvailabilityUpdate::default()
    };
    let updated = reservations.update_availability(&aid(1), &set(500)).unwrap().value;
    assert_eq!(updated.total_remaining_collateral, u(440));
    assert!(matches!(
        reservations.update_availability(&aid(1), &set(59)),
        Err(MarketError::CollateralOutOfBounds { .. })
    ));
    check(&reservations);
}

// ----- "availability saved" (Codex's OnAvailabilitySaved) ----------------------

fn saved_after(update: AvailabilityUpdate) -> bool {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.update_availability(&aid(1), &update).unwrap().saved
}

#[test]
fn saved_signals_when_created() {
    assert!(open().create_availability(&spec(1, 100)).unwrap().saved);
}

#[test]
fn saved_signals_when_size_duration_price_or_collateral_grow() {
    let size = AvailabilityUpdate {
        total_size_bytes: Some(101),
        ..AvailabilityUpdate::default()
    };
    let duration = AvailabilityUpdate {
        duration_secs: Some(1_001),
        ..AvailabilityUpdate::default()
    };
    let price = AvailabilityUpdate {
        min_price_per_byte_per_second: Some(u(3)),
        ..AvailabilityUpdate::default()
    };
    let collateral = AvailabilityUpdate {
        total_collateral: Some(u(1_001)),
        ..AvailabilityUpdate::default()
    };
    for (what, update) in [
        ("size", size),
        ("duration", duration),
        ("price", price),
        ("collateral", collateral),
    ] {
        assert!(saved_after(update), "{what} grew");
    }
}

#[test]
fn saved_does_not_signal_when_size_duration_price_or_collateral_shrink() {
    let size = AvailabilityUpdate {
        total_size_bytes: Some(99),
        ..AvailabilityUpdate::default()
    };
    let duration = AvailabilityUpdate {
        duration_secs: Some(999),
        ..AvailabilityUpdate::default()
    };
    let price = AvailabilityUpdate {
        min_price_per_byte_per_second: Some(u(1)),
        ..AvailabilityUpdate::default()
    };
    let collateral = AvailabilityUpdate {
        total_collateral: Some(u(999)),
        ..AvailabilityUpdate::default()
    };
    for (what, update) in [
        ("size", size),
        ("duration", duration),
        ("price", price),
        ("collateral", collateral),
    ] {
        assert!(!saved_after(update), "{what} shrank");
    }
}

#[test]
fn saved_does_not_signal_while_disabled_but_does_when_enabled_again() {
    let reservations = open();
    let mut disabled = spec(1, 100);
    disabled.enabled = false;
    assert!(!reservations.create_availability(&disabled).unwrap().saved);
    let grow = AvailabilityUpdate {
        total_size_bytes: Some(200),
        ..AvailabilityUpdate::default()
    };
    assert!(!reservations.update_availability(&aid(1), &grow).unwrap().saved);
    assert!(reservations.set_enabled(&aid(1), true).unwrap().saved);
}

#[test]
fn saved_signals_when_remaining_collateral_grows_back() {
    // Codex #1229: compare totalRemainingCollateral, not totalCollateral.
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations
        .create_reservation(&reservation_spec(1, 1, 100, 0))
        .unwrap();
    let deleted = reservations.delete_reservation(&rid(1), u(100)).unwrap();
    assert!(deleted.saved);
}

// ----- reservations ---------------------------------------------------------

#[test]
fn a_reservation_can_be_created_and_exists() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let created = reservations
        .create_reservation(&reservation_spec(1, 1, 60, 0))
        .unwrap()
        .value;
    assert_eq!(reservations.reservation(&rid(1)).unwrap(), Some(created.clone()));
    assert_eq!(
        reservations
            .reservation_for_slot(&SlotRef {
                request_id: request(1),
                slot_index: 0
            })
            .unwrap(),
        Some(created)
    );
    assert!(
        reservations.reservation(&rid(2)).unwrap().is_none(),
        "others do not exist"
    );
    check(&reservations);
}

#[test]
fn creating_a_reservation_reduces_the_availability_free_size_and_collateral() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let mut costly = reservation_spec(1, 1, 60, 0);
    costly.collateral_per_byte = u(3);
    let reservation = reservations.create_reservation(&costly).unwrap().value;
    assert_eq!(reservation.collateral, u(180));
    let availability = reservations.availability(&aid(1)).unwrap().unwrap();
    assert_eq!(availability.free_size_bytes, 40);
    assert_eq!(availability.total_remaining_collateral, u(820));
    assert_eq!(
        reservations.quota().unwrap().reserved_bytes,
        100,
        "still reserved, now for the slot"
    );
    check(&reservations);
}

#[test]
fn all_reservations_and_those_of_one_availability_can_be_listed() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_availability(&spec(2, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 10, 0)).unwrap();
    reservations.create_reservation(&reservation_spec(2, 1, 10, 1)).unwrap();
    reservations.create_reservation(&reservation_spec(3, 2, 10, 0)).unwrap();
    assert_eq!(reservations.reservations(None, 10).unwrap().len(), 3);
    let of_first: Vec<_> = reservations
        .reservations_of(&aid(1))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(of_first.len(), 2);
    assert!(of_first.contains(&rid(1)) && of_first.contains(&rid(2)));
    assert_eq!(reservations.reservations_of(&aid(2)).unwrap().len(), 1);
}

#[test]
fn a_reservation_needs_an_existing_availability() {
    let reservations = open();
    match reservations.create_reservation(&reservation_spec(1, 1, 10, 0)) {
        Err(MarketError::NotExists {
            kind: RecordKind::Availability,
            id,
        }) => assert_eq!(id, aid(1).0),
        other => panic!("expected NotExists, got {other:?}"),
    }
}

#[test]
fn a_reservation_larger_than_the_free_size_is_out_of_bounds() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    match reservations.create_reservation(&reservation_spec(1, 1, 101, 0)) {
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 101,
            available_bytes: 100,
        }) => {}
        other => panic!("expected BytesOutOfBounds, got {other:?}"),
    }
    check(&reservations);
}

#[test]
fn a_reservation_needing_more_collateral_than_remains_is_refused() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap(); // 1000 collateral
    let mut greedy = reservation_spec(1, 1, 100, 0);
    greedy.collateral_per_byte = u(11);
    assert!(matches!(
        reservations.create_reservation(&greedy),
        Err(MarketError::CollateralOutOfBounds { .. })
    ));
    check(&reservations);
}

#[test]
fn one_slot_has_at_most_one_reservation() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 10, 0)).unwrap();
    let mut same_slot = reservation_spec(2, 1, 10, 0);
    same_slot.request_id = request(1);
    assert!(matches!(
        reservations.create_reservation(&same_slot),
        Err(MarketError::SlotAlreadyReserved { .. })
    ));
}

#[test]
fn creating_the_same_reservation_again_is_a_no_op_but_other_parameters_are_refused() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 10, 0)).unwrap();
    assert!(
        !reservations
            .create_reservation(&reservation_spec(1, 1, 10, 0))
            .unwrap()
            .changed
    );
    assert_eq!(
        reservations.availability(&aid(1)).unwrap().unwrap().free_size_bytes,
        90,
        "carved once"
    );
    assert!(matches!(
        reservations.create_reservation(&reservation_spec(1, 1, 11, 0)),
        Err(MarketError::AlreadyExists {
            kind: RecordKind::Reservation,
            ..
        })
    ));
}

/// Runs a closure once, with the inner store, just before the first commit
/// that reaches it: "another host commits between our reads and our commit".
type Hook<S> = Box<dyn FnOnce(&S) + Send>;

struct BeforeCommit<S> {
    inner: S,
    hook: std::sync::Mutex<Option<Hook<S>>>,
}

impl<S: Store> Store for BeforeCommit<S> {
    fn get(&self, key: &[u8]) -> Result<Option<tally_store::Versioned>, tally_store::StoreError> {
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<tally_store::Page, tally_store::StoreError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: tally_store::Batch) -> Result<(), tally_store::StoreError> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook(&self.inner);
        }
        self.inner.commit(batch)
    }
}

/// Codex #825: `findAvailability` matched for two slots and both created a
/// reservation beyond the free size. Here both read a free size of 100, the
/// other commits first, and our commit conflicts, re-runs on the other's
/// result and fails out of bounds.
#[test]
fn of_two_concurrent_reservations_that_fit_only_once_exactly_one_fails_out_of_bounds() {
    let store = Arc::new(MemStore::new());
    Reservations::open(Arc::clone(&store), QUOTA)
        .unwrap()
        .create_availability(&spec(1, 100))
        .unwrap();
    let racing = BeforeCommit {
        inner: Arc::clone(&store),
        hook: std::sync::Mutex::new(None),
    };
    let reservations = Reservations::open(racing, QUOTA).unwrap();
    let commits_seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::clone(&commits_seen);
    *reservations.store().hook.lock().unwrap() = Some(Box::new(move |inner: &Arc<MemStore>| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let other = Reservations::open(Arc::clone(inner), QUOTA).unwrap();
        other.create_reservation(&reservation_spec(2, 1, 60, 0)).unwrap();
    }));
    match reservations.create_reservation(&reservation_spec(1, 1, 60, 0)) {
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 60,
            available_bytes: 40,
        }) => {}
        other => panic!("expected BytesOutOfBounds, got {other:?}"),
    }
    assert_eq!(
        commits_seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the other commit raced ours"
    );
    let mine = Reservations::open(Arc::clone(&store), QUOTA).unwrap();
    assert_eq!(mine.availability(&aid(1)).unwrap().unwrap().free_size_bytes, 40);
    assert!(mine.reservation(&rid(2)).unwrap().is_some() && mine.reservation(&rid(1)).unwrap().is_none());
    check(&mine);
}

/// The same race, deterministically at the read level: another process
/// takes the bytes between our first read and the rest.
#[test]
fn a_reservation_racing_a_commit_between_its_reads_sees_the_commit() {
    let reservations = Reservations::open(Interleaved::new(MemStore::new()), QUOTA).unwrap();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.store().before_read(2, |inner: &MemStore| {
        let other = Reservations::open(inner, QUOTA).unwrap();
        other.create_reservation(&reservation_spec(2, 1, 60, 0)).unwrap();
    });
    assert!(matches!(
        reservations.create_reservation(&reservation_spec(1, 1, 60, 0)),
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 60,
            available_bytes: 40
        })
    ));
    check(&reservations);
}

#[test]
fn of_many_threads_reserving_one_availability_only_as_many_as_fit_succeed() {
    let reservations = Arc::new(open());
    reservations.create_availability(&spec(1, 100)).unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u8)
        .map(|n| {
            let reservations = Arc::clone(&reservations);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                reservations.create_reservation(&reservation_spec(n + 1, 1, 30, 0))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let out_of_bounds = results
        .iter()
        .filter(|r| matches!(r, Err(MarketError::BytesOutOfBounds { .. })))
        .count();
    assert_eq!((won, out_of_bounds), (3, 5), "{results:?}");
    assert_eq!(reservations.availability(&aid(1)).unwrap().unwrap().free_size_bytes, 10);
    check(&reservations);
}

#[test]
fn a_reservation_can_be_partially_released_as_data_is_stored() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    let released = reservations.release(&rid(1), 59, op(1)).unwrap().value;
    assert_eq!((released.size_bytes, released.stored_bytes), (1, 59));
    let quota = reservations.quota().unwrap();
    assert_eq!((quota.reserved_bytes, quota.used_bytes), (41, 59), "reserved → used");
    check(&reservations);
}

#[test]
fn releasing_more_than_the_reservation_holds_is_out_of_bounds() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    assert!(matches!(
        reservations.release(&rid(1), 61, op(1)),
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 61,
            available_bytes: 60
        })
    ));
    check(&reservations);
}

#[test]
fn releasing_from_a_missing_reservation_does_not_exist() {
    let reservations = open();
    assert!(matches!(
        reservations.release(&rid(1), 1, op(1)),
        Err(MarketError::NotExists {
            kind: RecordKind::Reservation,
            ..
        })
    ));
}

#[test]
fn a_repeated_release_applies_once_and_a_new_one_applies_again() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.release(&rid(1), 10, op(1)).unwrap();
    assert!(!reservations.release(&rid(1), 10, op(1)).unwrap().changed);
    reservations.release(&rid(1), 10, op(2)).unwrap();
    assert_eq!(reservations.reservation(&rid(1)).unwrap().unwrap().stored_bytes, 20);
}

#[test]
fn a_reservation_can_be_deleted_and_deleting_it_again_is_a_no_op() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    assert!(reservations.delete_reservation(&rid(1), u(60)).unwrap().changed);
    assert!(reservations.reservation(&rid(1)).unwrap().is_none());
    assert!(!reservations.delete_reservation(&rid(1), u(60)).unwrap().changed);
    check(&reservations);
}

#[test]
fn deleting_a_reservation_returns_its_bytes_and_the_given_collateral() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.delete_reservation(&rid(1), u(45)).unwrap();
    let availability = reservations.availability(&aid(1)).unwrap().unwrap();
    assert_eq!(availability.free_size_bytes, 100);
    assert_eq!(availability.total_remaining_collateral, u(985));
    assert_eq!(
        availability.collateral_forfeited,
        u(15),
        "what was not given back is recorded"
    );
    check(&reservations);
}

#[test]
fn returning_more_collateral_than_the_reservation_took_is_refused() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    assert!(matches!(
        reservations.delete_reservation(&rid(1), u(61)),
        Err(MarketError::CollateralOutOfBounds { .. })
    ));
}

#[test]
fn returning_bytes_gives_stored_bytes_back_to_the_availability() {
    // Codex #626: freed data must give its capacity back.
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.release(&rid(1), 40, op(1)).unwrap();
    let returned = reservations.return_bytes(&rid(1), 30, op(2)).unwrap();
    assert!(returned.saved, "more is free");
    assert_eq!((returned.value.size_bytes, returned.value.stored_bytes), (20, 10));
    let availability = reservations.availability(&aid(1)).unwrap().unwrap();
    assert_eq!(availability.free_size_bytes, 70);
    let quota = reservations.quota().unwrap();
    assert_eq!((quota.reserved_bytes, quota.used_bytes), (90, 10));
    check(&reservations);
}

#[test]
fn returning_more_bytes_than_were_stored_is_out_of_bounds() {
    // Codex computed `bytes − reservation.size` unsigned: it could wrap.
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.release(&rid(1), 10, op(1)).unwrap();
    assert!(matches!(
        reservations.return_bytes(&rid(1), 11, op(2)),
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 11,
            available_bytes: 10
        })
    ));
    check(&reservations);
}

/// Codex #1251: stored bytes whose reservation went away stayed "used"
/// (and the availability smaller) for good. Deleting a reservation returns
/// every byte it accounts for.
#[test]
fn deleting_a_partly_stored_reservation_leaves_nothing_used_or_missing() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations.create_reservation(&reservation_spec(1, 1, 60, 0)).unwrap();
    reservations.release(&rid(1), 25, op(1)).unwrap();
    reservations.delete_reservation(&rid(1), u(60)).unwrap();
    let quota = reservations.quota().unwrap();
    assert_eq!((quota.reserved_bytes, quota.used_bytes), (100, 0));
    let availability = reservations.availability(&aid(1)).unwrap().unwrap();
    assert_eq!(availability.free_size_bytes, availability.total_size_bytes);
    assert_eq!(availability.total_remaining_collateral, availability.total_collateral);
    check(&reservations);
}

// ----- finding --------------------------------------------------------------

#[test]
fn an_availability_matching_all_six_conditions_is_found() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let found = reservations.find_availability(&query(100)).unwrap().expect("found");
    assert_eq!(found.id, aid(1));
    assert!(matches(&found, &query(100)));
}

#[test]
fn a_disabled_availability_is_not_found() {
    let reservations = open();
    let mut disabled = spec(1, 100);
    disabled.enabled = false;
    reservations.create_availability(&disabled).unwrap();
    assert!(reservations.find_availability(&query(10)).unwrap().is_none());
    reservations.set_enabled(&aid(1), true).unwrap();
    assert!(reservations.find_availability(&query(10)).unwrap().is_some());
}

#[test]
fn an_availability_is_found_when_until_is_after_the_request_end_and_not_before() {
    let reservations = open();
    let mut limited = spec(1, 100);
    limited.until_secs = 500;
    reservations.create_availability(&limited).unwrap();
    let mut q = query(10);
    q.valid_until_secs = 500;
    assert!(reservations.find_availability(&q).unwrap().is_some(), "until ≥ end");
    q.valid_until_secs = 501;
    assert!(reservations.find_availability(&q).unwrap().is_none(), "until < end");
}

#[test]
fn an_availability_failing_any_one_condition_is_not_found() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap(); // max collateral 10/byte
    let mut too_large = query(101);
    too_large.size_bytes = 101;
    let mut too_long = query(10);
    too_long.duration_secs = 1_001;
    let mut too_cheap = query(10);
    too_cheap.price_per_byte_per_second = u(1);
    let mut too_much_collateral = query(10);
    too_much_collateral.collateral_per_byte = u(11);
    for (what, q) in [
        ("size", too_large),
        ("duration", too_long),
        ("price", too_cheap),
        ("collateral", too_much_collateral),
    ] {
        assert!(reservations.find_availability(&q).unwrap().is_none(), "{what}");
        assert!(
            reservations.find_availability_by_scan(&q).unwrap().0.is_none(),
            "{what} (scan)"
        );
    }
    assert!(reservations.find_availability(&query(100)).unwrap().is_some());
}

#[test]
fn nothing_is_found_when_there_are_no_availabilities() {
    let reservations = open();
    assert!(reservations.find_availability(&query(1)).unwrap().is_none());
}

#[test]
fn the_collateral_condition_follows_the_remaining_collateral_per_free_byte() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap(); // 1000 / 100 = 10 per byte
    let mut q = query(10);
    q.collateral_per_byte = u(10);
    assert!(reservations.find_availability(&q).unwrap().is_some());
    // Take 50 bytes at 15 per byte: 250 left for 50 free bytes = 5 per byte.
    let mut costly = reservation_spec(1, 1, 50, 0);
    costly.collateral_per_byte = u(15);
    reservations.create_reservation(&costly).unwrap();
    assert!(reservations.find_availability(&q).unwrap().is_none());
    q.collateral_per_byte = u(5);
    assert!(reservations.find_availability(&q).unwrap().is_some());
}

#[test]
fn the_index_search_reads_few_entries_when_one_condition_is_selective() {
    let reservations = open();
    // 200 small availabilities and one large one, last in id order.
    for n in 0..200u8 {
        reservations.create_availability(&spec(n, 10)).unwrap();
    }
    let large = spec(0xff, 5_000);
    reservations.create_availability(&large).unwrap();
    let (found, stats) = reservations.find_availability_with_stats(&query(1_000)).unwrap();
    assert_eq!(found.unwrap().id, large.id);
    let (scanned, scan_stats) = reservations.find_availability_by_scan(&query(1_000)).unwrap();
    assert_eq!(scanned.unwrap().id, large.id);
    assert!(stats.entries_examined <= 8, "{stats:?}");
    assert_eq!(
        scan_stats.entries_examined, 201,
        "the scan reads every availability before it"
    );
    // And when nothing matches, the shortest range ends the search.
    let (none, stats) = reservations.find_availability_with_stats(&query(10_000)).unwrap();
    assert!(none.is_none());
    assert!(stats.entries_examined <= 8, "{stats:?}");
}

// ----- the first version (ccf349bd), in the latest model ------------------------

#[test]
fn v1_an_availability_is_unused_until_marked_used_and_can_be_marked_unused_again() {
    // v1 marked an availability `used` while downloading; the latest model
    // uses `enabled` for "may take new slots".
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    assert_eq!(
        reservations.availabilities_by_enabled(true).unwrap().len(),
        1,
        "unused initially"
    );
    reservations.set_enabled(&aid(1), false).unwrap();
    assert_eq!(
        reservations.availabilities_by_enabled(false).unwrap().len(),
        1,
        "found as used"
    );
    assert!(reservations.availabilities_by_enabled(true).unwrap().is_empty());
    reservations.set_enabled(&aid(1), true).unwrap();
    assert_eq!(
        reservations.availabilities_by_enabled(true).unwrap().len(),
        1,
        "found as unused"
    );
}

#[test]
fn v1_fully_released_bytes_leave_nothing_reserved_for_the_slot() {
    // v1 deleted an availability once all its bytes were released; now the
    // reservation empties and its deletion settles the rest.
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    reservations
        .create_reservation(&reservation_spec(1, 1, 100, 0))
        .unwrap();
    reservations.release(&rid(1), 99, op(1)).unwrap();
    let last: Reservation = reservations.release(&rid(1), 1, op(2)).unwrap().value;
    assert_eq!((last.size_bytes, last.stored_bytes), (0, 100));
    assert!(matches!(
        reservations.release(&rid(1), 1, op(3)),
        Err(MarketError::BytesOutOfBounds {
            requested_bytes: 1,
            available_bytes: 0
        })
    ));
    let quota = reservations.quota().unwrap();
    assert_eq!((quota.reserved_bytes, quota.used_bytes), (0, 100));
    check(&reservations);
}

#[test]
fn v1_the_quota_starts_fully_available() {
    let reservations = open();
    assert_eq!(reservations.available_bytes().unwrap(), QUOTA);
    assert_eq!(reservations.quota().unwrap().max_bytes, QUOTA);
}

#[test]
fn the_quota_maximum_can_change_but_not_below_what_is_taken() {
    let reservations = open();
    reservations.create_availability(&spec(1, 100)).unwrap();
    assert_eq!(reservations.set_quota_max(100).unwrap().max_bytes, 100);
    assert!(matches!(
        reservations.set_quota_max(99),
        Err(MarketError::QuotaNotEnough { .. })
    ));
    drop(reservations);
    let store = MemStore::new();
    Reservations::open(&store, 10)
        .unwrap()
        .create_availability(&spec(1, 10))
        .unwrap();
    assert!(matches!(
        Reservations::open(&store, 9),
        Err(MarketError::QuotaNotEnough { .. })
    ));
    assert_eq!(Reservations::open(&store, 20).unwrap().quota().unwrap().max_bytes, 20);
    assert!(store.get(b"unrelated").unwrap().is_none());
}

#[test]
fn records_written_by_a_newer_release_are_refused_not_misread() {
    let store = MemStore::new();
    let reservations = Reservations::open(&store, QUOTA).unwrap();
    reservations.create_availability(&spec(1, 100)).unwrap();
    let key = {
        let mut batch = tally_store::Batch::new();
        let key = tally_store::key::KeyBuilder::new("market")
            .str("a")
            .fixed(&[1; 32])
            .build();
        batch.put(key.clone(), vec![9u8, 1, 2]);
        store.commit(batch).unwrap();
        key
    };
    assert!(!key.is_empty());
    assert!(matches!(reservations.availability(&aid(1)), Err(MarketError::Store(_))));
    let _ = U256::zero();
}
