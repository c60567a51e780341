//! Property tests over random operation sequences: the accounting
//! invariants hold after every operation, every injected store fault and
//! every restart; a fault (before the write, or after it as a lost
//! acknowledgement) followed by repeating the operation leaves exactly the
//! state one clean application leaves; nothing leaks (Codex issues #825,
//! #1251 and #626 cannot happen); and the find index agrees with the linear
//! scan.
//!
//! `TALLY_LONG_TESTS=1` runs twenty times as many cases.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use common::{aid, request, rid, u};
use proptest::prelude::*;
use tally_market::{
    AvailabilitySpec, AvailabilityUpdate, FindQuery, MarketError, OpId, ReservationSpec, Reservations, Snapshot, U256,
    matches,
};
use tally_store::{Fault, FaultyStore, MemStore, Store};

const QUOTA: u64 = 600;

#[derive(Debug, Clone)]
enum Op {
    CreateAvailability {
        a: u8,
        size: u64,
        duration: u64,
        price: u64,
        collateral: u64,
        enabled: bool,
        until: u64,
    },
    UpdateAvailability {
        a: u8,
        size: Option<u64>,
        duration: Option<u64>,
        price: Option<u64>,
        collateral: Option<u64>,
        enabled: Option<bool>,
        until: Option<u64>,
    },
    DeleteAvailability {
        a: u8,
    },
    CreateReservation {
        r: u8,
        a: u8,
        size: u64,
        request: u8,
        slot: u64,
        collateral_per_byte: u64,
        valid_until: u64,
    },
    Release {
        r: u8,
        bytes: u64,
    },
    ReturnBytes {
        r: u8,
        bytes: u64,
    },
    DeleteReservation {
        r: u8,
        returned: u64,
    },
    Find {
        size: u64,
        duration: u64,
        price: u64,
        collateral_per_byte: u64,
        valid_until: u64,
    },
    Restart,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let until = prop_oneof![Just(0u64), 1u64..120];
    prop_oneof![
        3 => (0u8..3, 1u64..250, 0u64..100, 0u64..5, 0u64..1_500, prop::bool::weighted(0.8), until.clone())
            .prop_map(|(a, size, duration, price, collateral, enabled, until)| Op::CreateAvailability {
                a, size, duration, price, collateral, enabled, until
            }),
        2 => (0u8..3, prop::option::of(1u64..300), prop::option::of(0u64..100), prop::option::of(0u64..5),
              prop::option::of(0u64..1_500), prop::option::of(any::<bool>()), prop::option::of(until.clone()))
            .prop_map(|(a, size, duration, price, collateral, enabled, until)| Op::UpdateAvailability {
                a, size, duration, price, collateral, enabled, until
            }),
        1 => (0u8..3).prop_map(|a| Op::DeleteAvailability { a }),
        4 => (0u8..6, 0u8..3, 0u64..120, 0u8..2, 0u64..3, 0u64..6, 0u64..120)
            .prop_map(|(r, a, size, request, slot, collateral_per_byte, valid_until)| Op::CreateReservation {
                r, a, size, request, slot, collateral_per_byte, valid_until
            }),
        3 => (0u8..6, 0u64..70).prop_map(|(r, bytes)| Op::Release { r, bytes }),
        2 => (0u8..6, 0u64..70).prop_map(|(r, bytes)| Op::ReturnBytes { r, bytes }),
        2 => (0u8..6, 0u64..400).prop_map(|(r, returned)| Op::DeleteReservation { r, returned }),
        2 => (0u64..150, 0u64..100, 0u64..5, 0u64..12, 0u64..120)
            .prop_map(|(size, duration, price, collateral_per_byte, valid_until)| Op::Find {
                size, duration, price, collateral_per_byte, valid_until
            }),
        1 => Just(Op::Restart),
    ]
}

/// What an operation answered, reduced to what must not depend on faults.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Ok,
    Found(bool),
    Refused(&'static str),
}

fn run<S: Store>(reservations: &Reservations<S>, op: &Op, step: usize) -> Result<Answer, MarketError> {
    let op_id = OpId::derive("property step", &[&(step as u64).to_be_bytes()]);
    let outcome = match op {
        Op::CreateAvailability {
            a,
            size,
            duration,
            price,
            collateral,
            enabled,
            until,
        } => reservations
            .create_availability(&AvailabilitySpec {
                id: aid(*a),
                total_size_bytes: *size,
                duration_secs: *duration,
                min_price_per_byte_per_second: u(*price),
                total_collateral: u(*collateral),
                enabled: *enabled,
                until_secs: *until,
            })
            .map(|_| Answer::Ok),
        Op::UpdateAvailability {
            a,
            size,
            duration,
            price,
            collateral,
            enabled,
            until,
        } => reservations
            .update_availability(
                &aid(*a),
                &AvailabilityUpdate {
                    total_size_bytes: *size,
                    duration_secs: *duration,
                    min_price_per_byte_per_second: price.map(u),
                    total_collateral: collateral.map(u),
                    enabled: *enabled,
                    until_secs: *until,
                },
            )
            .map(|_| Answer::Ok),
        Op::DeleteAvailability { a } => reservations.delete_availability(&aid(*a)).map(|_| Answer::Ok),
        Op::CreateReservation {
            r,
            a,
            size,
            request: req,
            slot,
            collateral_per_byte,
            valid_until,
        } => reservations
            .create_reservation(&ReservationSpec {
                id: rid(*r),
                availability_id: aid(*a),
                size_bytes: *size,
                request_id: request(*req),
                slot_index: *slot,
                collateral_per_byte: u(*collateral_per_byte),
                valid_until_secs: *valid_until,
            })
            .map(|_| Answer::Ok),
        Op::Release { r, bytes } => reservations.release(&rid(*r), *bytes, op_id).map(|_| Answer::Ok),
        Op::ReturnBytes { r, bytes } => reservations.return_bytes(&rid(*r), *bytes, op_id).map(|_| Answer::Ok),
        Op::DeleteReservation { r, returned } => reservations
            .delete_reservation(&rid(*r), u(*returned))
            .map(|_| Answer::Ok),
        Op::Find {
            size,
            duration,
            price,
            collateral_per_byte,
            valid_until,
        } => {
            let query = FindQuery {
                size_bytes: *size,
                duration_secs: *duration,
                price_per_byte_per_second: u(*price),
                collateral_per_byte: u(*collateral_per_byte),
                valid_until_secs: *valid_until,
            };
            let found = reservations.find_availability(&query)?;
            if let Some(availability) = &found {
                assert!(matches(availability, &query), "the index returned a non-match");
            }
            Ok(Answer::Found(found.is_some()))
        }
        Op::Restart => Ok(Answer::Ok),
    };
    match outcome {
        Err(MarketError::Store(error)) => Err(MarketError::Store(error)),
        Err(MarketError::Corrupt { reason }) => panic!("records became inconsistent: {reason}"),
        Err(refused) => Ok(Answer::Refused(refused.kind())),
        Ok(answer) => Ok(answer),
    }
}

fn snapshot_of(store: &MemStore) -> Snapshot {
    let reservations = Reservations::open(store, QUOTA).unwrap();
    let snapshot = reservations.snapshot().unwrap();
    snapshot.check().unwrap();
    reservations.check_index().unwrap();
    snapshot
}

fn find_agrees_with_scan(store: &MemStore, op: &Op) {
    let Op::Find {
        size,
        duration,
        price,
        collateral_per_byte,
        valid_until,
    } = op
    else {
        return;
    };
    let query = FindQuery {
        size_bytes: *size,
        duration_secs: *duration,
        price_per_byte_per_second: u(*price),
        collateral_per_byte: u(*collateral_per_byte),
        valid_until_secs: *valid_until,
    };
    let reservations = Reservations::open(store, QUOTA).unwrap();
    let by_index = reservations.find_availability(&query).unwrap();
    let by_scan = reservations.find_availability_by_scan(&query).unwrap().0;
    assert_eq!(
        by_index.is_some(),
        by_scan.is_some(),
        "index and scan disagree on {query:?}"
    );
}

/// Returns everything to the availabilities and checks that they are whole.
fn nothing_leaks(store: &MemStore) {
    let reservations = Reservations::open(store, QUOTA).unwrap();
    for reservation in reservations.snapshot().unwrap().reservations {
        reservations
            .delete_reservation(&reservation.id, reservation.collateral)
            .unwrap();
    }
    let snapshot = reservations.snapshot().unwrap();
    snapshot.check().unwrap();
    assert_eq!(snapshot.quota.used_bytes, 0, "no used bytes without a reservation");
    let total: u64 = snapshot.availabilities.iter().map(|a| a.total_size_bytes).sum();
    assert_eq!(
        snapshot.quota.reserved_bytes, total,
        "every reserved byte belongs to an availability"
    );
    for a in &snapshot.availabilities {
        assert_eq!(
            a.free_size_bytes, a.total_size_bytes,
            "availability {} is whole again",
            a.id
        );
        assert_eq!(
            a.total_remaining_collateral + a.collateral_forfeited,
            a.total_collateral,
            "collateral of {} adds up",
            a.id
        );
    }
    for a in &snapshot.availabilities {
        reservations.delete_availability(&a.id).unwrap();
    }
    let empty = reservations.snapshot().unwrap();
    assert_eq!((empty.quota.reserved_bytes, empty.quota.used_bytes), (0, 0));
    let store_keys = tally_store::scan_all(store, b"", 100).count();
    assert_eq!(
        store_keys, 1,
        "only the quota record is left: no index entries or slot keys leak"
    );
}

fn cases() -> u32 {
    if std::env::var_os("TALLY_LONG_TESTS").is_some() {
        1_000
    } else {
        48
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn accounting_holds_and_faults_change_nothing_under_random_operations(
        ops in prop::collection::vec(op_strategy(), 1..45),
        seed in any::<u64>(),
    ) {
        let reference_store = MemStore::new();
        let mut reference = Reservations::open(&reference_store, QUOTA).unwrap();
        let faulty = Arc::new(FaultyStore::new(MemStore::new()));
        faulty.inject(Fault::on_commit().rate(0.15, seed).before_write());
        faulty.inject(Fault::on_commit().rate(0.15, seed ^ 0x5eed).after_write());
        faulty.inject(Fault::on_get().rate(0.02, seed ^ 0xface));
        let open_faulty = |store: &Arc<FaultyStore<MemStore>>| loop {
            match Reservations::open(Arc::clone(store), QUOTA) {
                Ok(reservations) => break reservations,
                Err(MarketError::Store(_)) => continue,
                Err(other) => panic!("open failed: {other}"),
            }
        };
        let mut under_faults = open_faulty(&faulty);

        for (step, op) in ops.iter().enumerate() {
            if let Op::Restart = op {
                // A restart: new shells over the same stores, nothing kept in memory.
                reference = Reservations::open(&reference_store, QUOTA).unwrap();
                under_faults = open_faulty(&faulty);
                continue;
            }
            let expected = run(&reference, op, step).unwrap();
            let mut attempts = 0;
            let answer = loop {
                attempts += 1;
                prop_assert!(attempts < 200, "faults never stopped");
                match run(&under_faults, op, step) {
                    Ok(answer) => break answer,
                    Err(_) => {
                        // A failed call leaves consistent records behind.
                        snapshot_of(faulty.inner());
                    }
                }
            };
            prop_assert_eq!(&answer, &expected, "step {}: {:?}", step, op);
            let clean = snapshot_of(&reference_store);
            let faulted = snapshot_of(faulty.inner());
            prop_assert_eq!(faulted, clean, "step {}: {:?}", step, op);
            find_agrees_with_scan(&reference_store, op);
        }
        nothing_leaks(&reference_store);
        nothing_leaks(faulty.inner());
    }
}

/// A reservation's bytes can only go back once, however the deletion and
/// the returns interleave with faults: the availability never ends up freer
/// than its total (the over-return Codex's unsigned `bytes − size` allowed).
#[test]
fn bytes_return_at_most_once_across_repeats() {
    let store = MemStore::new();
    let reservations = Reservations::open(&store, QUOTA).unwrap();
    reservations
        .create_availability(&AvailabilitySpec::new(aid(1), 100, 10, U256::zero(), u(100)))
        .unwrap();
    reservations
        .create_reservation(&ReservationSpec {
            id: rid(1),
            availability_id: aid(1),
            size_bytes: 50,
            request_id: request(1),
            slot_index: 0,
            collateral_per_byte: u(1),
            valid_until_secs: 5,
        })
        .unwrap();
    reservations.release(&rid(1), 50, OpId([1; 32])).unwrap();
    for _ in 0..3 {
        reservations.return_bytes(&rid(1), 50, OpId([2; 32])).unwrap();
    }
    assert!(reservations.return_bytes(&rid(1), 1, OpId([3; 32])).is_err());
    for _ in 0..3 {
        reservations.delete_reservation(&rid(1), u(50)).unwrap();
    }
    let availability = reservations.availability(&aid(1)).unwrap().unwrap();
    assert_eq!(availability.free_size_bytes, 100);
    assert_eq!(availability.total_remaining_collateral, u(100));
    reservations.snapshot().unwrap().check().unwrap();
}

fn many_availabilities() -> impl Strategy<Value = Vec<(u64, u64, u64, u64, bool, u64, u64)>> {
    // (size, duration, price, collateral, enabled, until, reserved part)
    prop::collection::vec(
        (
            1u64..2_000,
            0u64..1_000,
            0u64..50,
            0u64..40_000,
            prop::bool::weighted(0.9),
            prop_oneof![Just(0u64), 1u64..1_000],
            0u64..100,
        ),
        1..160,
    )
}

fn query_strategy() -> impl Strategy<Value = FindQuery> {
    (0u64..2_500, 0u64..1_100, 0u64..55, 0u64..40, 0u64..1_100).prop_map(
        |(size_bytes, duration_secs, price, collateral_per_byte, valid_until_secs)| FindQuery {
            size_bytes,
            duration_secs,
            price_per_byte_per_second: u(price),
            collateral_per_byte: u(collateral_per_byte),
            valid_until_secs,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 2, ..ProptestConfig::default() })]

    /// The index finds a match exactly when the linear scan does, and only
    /// ever returns a match, over populations where reservations have moved
    /// free sizes and remaining collateral around.
    #[test]
    fn the_find_index_agrees_with_the_linear_scan(
        population in many_availabilities(),
        queries in prop::collection::vec(query_strategy(), 1..25),
    ) {
        let store = MemStore::new();
        let reservations = Reservations::open(&store, u64::MAX).unwrap();
        for (n, (size, duration, price, collateral, enabled, until, reserved_percent)) in population.iter().enumerate() {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            let id = tally_market::AvailabilityId(id);
            reservations.create_availability(&AvailabilitySpec {
                id,
                total_size_bytes: *size,
                duration_secs: *duration,
                min_price_per_byte_per_second: u(*price),
                total_collateral: u(*collateral),
                enabled: *enabled,
                until_secs: *until,
            }).unwrap();
            let reserved = size * reserved_percent / 100;
            let _ = reservations.create_reservation(&ReservationSpec {
                id: tally_market::ReservationId(id.0),
                availability_id: id,
                size_bytes: reserved,
                request_id: tally_market::RequestId(id.0),
                slot_index: 0,
                collateral_per_byte: u(n as u64 % 7),
                valid_until_secs: 0,
            });
        }
        reservations.check_index().unwrap();
        for query in &queries {
            let (by_index, stats) = reservations.find_availability_with_stats(query).unwrap();
            let (by_scan, _) = reservations.find_availability_by_scan(query).unwrap();
            prop_assert_eq!(by_index.is_some(), by_scan.is_some(), "{:?}", query);
            if let Some(found) = by_index {
                prop_assert!(matches(&found, query));
            }
            prop_assert!(stats.entries_examined <= 5 * population.len() as u64 + 5);
        }
    }
}
