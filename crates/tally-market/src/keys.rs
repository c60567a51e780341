//! The crate's key layout: namespace `"market"`, every part built with
//! [`KeyBuilder`] (escaped strings, fixed-size ids, big-endian integers).
//!
//! | kind | rest | value |
//! |---|---|---|
//! | `q` | | the [`Quota`](crate::Quota); written by **every** change to availabilities or reservations |
//! | `a` | availability id 32 | an [`Availability`](crate::Availability) |
//! | `r` | reservation id 32 | a [`Reservation`](crate::Reservation) |
//! | `ar` | availability id 32 / `u64::MAX − valid_until` / reservation id 32 | `()`: the availability's reservations, longest-running first |
//! | `sr` | request id 32 / slot index u64 | the [`ReservationId`] holding the slot (one per slot) |
//! | `i` | dimension u8 / ordered value / availability id 32 | an entry of the [find index](crate::reservations::index) (enabled availabilities only) |
//! | `g` | slot id 32 | a sales [`Agent`](crate::sales::Agent) |
//!
//! Because every change to availabilities or reservations rewrites the
//! quota record, the quota's version is a sequence number for all of them:
//! a reader that sees the same version before and after its reads saw one
//! snapshot ([`Reservations::snapshot`](crate::Reservations::snapshot)), and
//! the availability record guards its own `ar` range (every writer of the
//! range writes the availability too), so [`Txn::scan_guarded`] covers it.
//!
//! [`Txn::scan_guarded`]: tally_store::Txn::scan_guarded

use tally_store::key::{KeyBuilder, KeyReader};

use crate::error::MarketError;
use crate::types::{AvailabilityId, RequestId, ReservationId, SlotId};

/// The namespace of every key this crate writes.
pub const NAMESPACE: &str = "market";

fn base(kind: &str) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(kind)
}

pub(crate) fn quota() -> Vec<u8> {
    base("q").build()
}

pub(crate) fn availability(id: &AvailabilityId) -> Vec<u8> {
    base("a").fixed(id.as_bytes()).build()
}

pub(crate) fn availability_prefix() -> Vec<u8> {
    base("a").build()
}

pub(crate) fn reservation(id: &ReservationId) -> Vec<u8> {
    base("r").fixed(id.as_bytes()).build()
}

pub(crate) fn reservation_prefix() -> Vec<u8> {
    base("r").build()
}

pub(crate) fn by_availability(
    availability: &AvailabilityId,
    valid_until_secs: u64,
    reservation: &ReservationId,
) -> Vec<u8> {
    base("ar")
        .fixed(availability.as_bytes())
        .u64(u64::MAX - valid_until_secs)
        .fixed(reservation.as_bytes())
        .build()
}

pub(crate) fn by_availability_prefix(availability: &AvailabilityId) -> Vec<u8> {
    base("ar").fixed(availability.as_bytes()).build()
}

/// Decodes an `ar` key into (valid_until_secs, reservation id).
pub(crate) fn read_by_availability(key: &[u8]) -> Result<(u64, ReservationId), MarketError> {
    let mut reader = KeyReader::new(NAMESPACE, key)?;
    let kind = reader.str()?;
    if kind != "ar" {
        return Err(MarketError::corrupt(format!(
            "expected an `ar` key, found kind {kind:?}"
        )));
    }
    let _availability: [u8; 32] = reader.fixed()?;
    let inverted = reader.u64()?;
    let reservation: [u8; 32] = reader.fixed()?;
    reader.finish()?;
    Ok((u64::MAX - inverted, ReservationId(reservation)))
}

pub(crate) fn slot_reservation(request: &RequestId, slot_index: u64) -> Vec<u8> {
    base("sr").fixed(request.as_bytes()).u64(slot_index).build()
}

pub(crate) fn index_prefix(dimension: u8) -> Vec<u8> {
    base("i").u8(dimension).build()
}

pub(crate) fn index(dimension: u8, ordered: &[u8], availability: &AvailabilityId) -> Vec<u8> {
    base("i")
        .u8(dimension)
        .fixed(ordered)
        .fixed(availability.as_bytes())
        .build()
}

pub(crate) fn agent(slot: &SlotId) -> Vec<u8> {
    base("g").fixed(slot.as_bytes()).build()
}

pub(crate) fn agent_prefix() -> Vec<u8> {
    base("g").build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_never_share_a_prefix() {
        let id = [7u8; 32];
        let keys = [
            quota(),
            availability(&AvailabilityId(id)),
            reservation(&ReservationId(id)),
            by_availability(&AvailabilityId(id), 5, &ReservationId(id)),
            slot_reservation(&RequestId(id), 1),
            index(0, &[1; 8], &AvailabilityId(id)),
            agent(&SlotId(id)),
        ];
        let prefixes = [
            availability_prefix(),
            reservation_prefix(),
            by_availability_prefix(&AvailabilityId(id)),
            index_prefix(0),
            agent_prefix(),
        ];
        for (i, prefix) in prefixes.iter().enumerate() {
            let matching = keys.iter().filter(|key| key.starts_with(prefix)).count();
            assert_eq!(matching, 1, "prefix {i} matches exactly its own kind");
        }
    }

    #[test]
    fn by_availability_keys_sort_longest_running_first_and_decode() {
        let a = AvailabilityId([1; 32]);
        let early = by_availability(&a, 10, &ReservationId([9; 32]));
        let late = by_availability(&a, 20, &ReservationId([1; 32]));
        assert!(late < early);
        assert_eq!(
            read_by_availability(&late).expect("decodes"),
            (20, ReservationId([1; 32]))
        );
    }
}
