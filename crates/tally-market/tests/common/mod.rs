//! Shared fixtures for the tally-market integration tests.
#![allow(dead_code, reason = "each test file uses a subset")]

use tally_market::{
    AvailabilityId, AvailabilitySpec, FindQuery, RequestId, ReservationId, ReservationSpec, Reservations, U256,
};
use tally_store::{MemStore, Store};

pub(crate) const QUOTA: u64 = 1_000_000;

pub(crate) fn aid(n: u8) -> AvailabilityId {
    AvailabilityId([n; 32])
}

pub(crate) fn rid(n: u8) -> ReservationId {
    ReservationId([n; 32])
}

pub(crate) fn request(n: u8) -> RequestId {
    RequestId([0x80 | n; 32])
}

pub(crate) fn u(n: u64) -> U256 {
    U256::from(n)
}

pub(crate) fn open() -> Reservations<MemStore> {
    Reservations::open(MemStore::new(), QUOTA).expect("opens")
}

/// An availability of `size` bytes: duration 1000 s, min price 2, collateral 10 per byte.
pub(crate) fn spec(n: u8, size: u64) -> AvailabilitySpec {
    AvailabilitySpec::new(aid(n), size, 1_000, u(2), u(size * 10))
}

/// A reservation of `size` bytes for slot `slot` of request `n`, collateral 1 per byte, ending at 500.
pub(crate) fn reservation_spec(n: u8, availability: u8, size: u64, slot: u64) -> ReservationSpec {
    ReservationSpec {
        id: rid(n),
        availability_id: aid(availability),
        size_bytes: size,
        request_id: request(n),
        slot_index: slot,
        collateral_per_byte: u(1),
        valid_until_secs: 500,
    }
}

/// A query every [`spec`] availability with `size` free bytes matches.
pub(crate) fn query(size: u64) -> FindQuery {
    FindQuery {
        size_bytes: size,
        duration_secs: 1_000,
        price_per_byte_per_second: u(2),
        collateral_per_byte: u(1),
        valid_until_secs: 500,
    }
}

pub(crate) fn check<S: Store>(reservations: &Reservations<S>) {
    reservations
        .snapshot()
        .expect("snapshot")
        .check()
        .expect("invariants hold");
    reservations.check_index().expect("index matches");
}
