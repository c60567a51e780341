//! The rules of availabilities and reservations, in one place.
//!
//! Everything here is pure: each operation takes the records it concerns
//! (as the shell loaded them) and returns the records to write, or the
//! reason it refuses. No I/O, no clock; the shell ([`Reservations`](crate::Reservations)) loads,
//! calls these functions and commits the [`Change`] atomically.
//!
//! # Accounting
//!
//! Bytes live in exactly one of four places: the quota's headroom
//! (`max − used − reserved`), an availability's free size, a reservation's
//! size (reserved for a slot, not written yet) or a reservation's stored
//! bytes (written: counted as used). So, after every operation:
//!
//! - **`quota.reserved = Σ availability.free + Σ reservation.size`**
//!   (Codex's implicit invariant, now checked);
//! - `quota.used = Σ reservation.stored` (no used bytes without an owner);
//! - for each availability, `total = free + Σ (size + stored)` over its
//!   reservations: when the last reservation goes, the availability is
//!   whole again;
//! - for each availability, `total_collateral = remaining + Σ collateral
//!   of its reservations + forfeited`: collateral is never created or lost
//!   without a record.
//!
//! Each operation touches at most one availability and one reservation, so
//! each asserts (`debug_assert!`) that it changed these sums consistently;
//! the property tests check the global sums after random operation
//! sequences with store faults and restarts.
//!
//! # Idempotence
//!
//! Every operation can be repeated after a lost acknowledgement and leaves
//! the state as if it had applied once: creations compare with the stored
//! record (same parameters: [`Change::none`], other parameters:
//! [`MarketError::AlreadyExists`]); updates set absolute values; deletions
//! of absent records succeed; the two delta operations, [`release`] and
//! [`return_bytes`], carry an [`OpId`] that the reservation remembers
//! (its last [`MAX_REMEMBERED_OPS`]).
//!
//! # Where this differs from Codex, and why
//!
//! - The six matching conditions ([`matches()`]) are Codex's; the reservation
//!   re-checks **free size, collateral and `until`** under the commit (Codex
//!   re-checks free size only, so a racing pair could drive
//!   `totalRemainingCollateral` below zero).
//! - [`return_bytes`] returns exactly the bytes asked for, from the
//!   reservation's stored bytes (Codex's `returnBytesToAvailability`
//!   subtracts the still-reserved part from its argument in unsigned
//!   arithmetic and re-reserves quota, so it can wrap, fail on a full quota,
//!   or return the same bytes twice).
//! - [`delete_reservation`] returns everything the reservation still
//!   accounts for, reserved and stored bytes alike (Codex returns only the
//!   reserved part; bytes stored but not returned first stayed counted as
//!   used forever: the leak of Codex issues #1251 and #626).
//! - Setting `total_collateral` sets the remaining collateral to the new
//!   total less what live reservations hold (Codex set it to the new total,
//!   counting locked collateral twice).
//! - Re-enabling an availability also signals "saved" (Codex's signal fires
//!   only when a size, duration, price or collateral grows).

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::error::{MarketError, RecordKind};
use crate::types::{AvailabilityId, OpId, RequestId, ReservationId, SlotRef, keccak256, u256_bytes};

/// How many [`OpId`]s a reservation remembers for repeated delta operations.
pub const MAX_REMEMBERED_OPS: usize = 8;
/// The most availabilities one store holds.
pub const MAX_AVAILABILITIES: u64 = 1_000_000;
/// The most reservations one store holds.
pub const MAX_RESERVATIONS: u64 = 1_000_000;

/// The node's storage quota for sales: Codex's repo quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The most bytes sales may occupy.
    pub max_bytes: u64,
    /// Bytes written for hosted slots.
    pub used_bytes: u64,
    /// Bytes promised (free in availabilities or reserved for slots).
    pub reserved_bytes: u64,
    /// How many availabilities exist (for [`MAX_AVAILABILITIES`]).
    pub availability_count: u64,
    /// How many reservations exist (for [`MAX_RESERVATIONS`]).
    pub reservation_count: u64,
}

impl Quota {
    /// An empty quota of `max_bytes`.
    pub fn new(max_bytes: u64) -> Quota {
        Quota {
            max_bytes,
            used_bytes: 0,
            reserved_bytes: 0,
            availability_count: 0,
            reservation_count: 0,
        }
    }

    /// `max − used − reserved` (0 if the quota was lowered below what is taken).
    pub fn available_bytes(&self) -> u64 {
        self.max_bytes
            .saturating_sub(self.used_bytes.saturating_add(self.reserved_bytes))
    }

    /// Whether `bytes` more could be reserved (Codex's `hasAvailable`).
    pub fn has_available(&self, bytes: u64) -> bool {
        bytes <= self.available_bytes()
    }

    fn reserve(mut self, bytes: u64) -> Result<Quota, MarketError> {
        if !self.has_available(bytes) {
            return Err(MarketError::QuotaNotEnough {
                requested_bytes: bytes,
                available_bytes: self.available_bytes(),
            });
        }
        self.reserved_bytes = add(self.reserved_bytes, bytes, "reserved bytes")?;
        Ok(self)
    }

    fn unreserve(mut self, bytes: u64) -> Result<Quota, MarketError> {
        self.reserved_bytes = sub(self.reserved_bytes, bytes, "reserved bytes")?;
        Ok(self)
    }

    /// Reserved bytes written to disk: reserved → used.
    fn store(mut self, bytes: u64) -> Result<Quota, MarketError> {
        self.reserved_bytes = sub(self.reserved_bytes, bytes, "reserved bytes")?;
        self.used_bytes = add(self.used_bytes, bytes, "used bytes")?;
        Ok(self)
    }

    /// Written bytes given back to an availability: used → reserved.
    fn unstore(mut self, bytes: u64) -> Result<Quota, MarketError> {
        self.used_bytes = sub(self.used_bytes, bytes, "used bytes")?;
        self.reserved_bytes = add(self.reserved_bytes, bytes, "reserved bytes")?;
        Ok(self)
    }
}

fn add(a: u64, b: u64, what: &'static str) -> Result<u64, MarketError> {
    a.checked_add(b).ok_or(MarketError::Overflow { what })
}

/// Subtraction that the accounting guarantees never underflows; if it
/// would, the stored records contradict each other.
fn sub(a: u64, b: u64, what: &'static str) -> Result<u64, MarketError> {
    a.checked_sub(b)
        .ok_or_else(|| MarketError::corrupt(format!("{what}: {a} − {b} underflows")))
}

fn add_u256(a: U256, b: U256, what: &'static str) -> Result<U256, MarketError> {
    a.checked_add(b).ok_or(MarketError::Overflow { what })
}

fn sub_u256(a: U256, b: U256, what: &'static str) -> Result<U256, MarketError> {
    a.checked_sub(b)
        .ok_or_else(|| MarketError::corrupt(format!("{what}: {a} − {b} underflows")))
}

/// What a host offers: the parameters of a new [`Availability`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilitySpec {
    /// Chosen by the caller (Codex draws it at random).
    pub id: AvailabilityId,
    /// How many bytes to offer (at least 1).
    pub total_size_bytes: u64,
    /// The longest slot duration accepted.
    pub duration_secs: u64,
    /// The lowest price per byte per second accepted.
    #[serde(with = "u256_bytes")]
    pub min_price_per_byte_per_second: U256,
    /// The collateral the host is willing to lock across its slots.
    #[serde(with = "u256_bytes")]
    pub total_collateral: U256,
    /// Whether new slots may be matched (existing ones are unaffected).
    pub enabled: bool,
    /// No slot may end after this time; `0` = no limit.
    pub until_secs: u64,
}

impl AvailabilitySpec {
    /// A spec with Codex's defaults: enabled, no `until`.
    pub fn new(
        id: AvailabilityId,
        total_size_bytes: u64,
        duration_secs: u64,
        min_price_per_byte_per_second: U256,
        total_collateral: U256,
    ) -> AvailabilitySpec {
        AvailabilitySpec {
            id,
            total_size_bytes,
            duration_secs,
            min_price_per_byte_per_second,
            total_collateral,
            enabled: true,
            until_secs: 0,
        }
    }

    fn digest(&self) -> Result<[u8; 32], MarketError> {
        let bytes = tally_store::codec::encode(self).map_err(|error| MarketError::Invalid {
            field: "availability",
            reason: error.to_string(),
        })?;
        Ok(keccak256(&bytes))
    }
}

/// Storage a host offers for sale, carved into [`Reservation`]s as slots
/// are taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// The id.
    pub id: AvailabilityId,
    /// All bytes of the availability: free, reserved and stored.
    pub total_size_bytes: u64,
    /// Bytes not promised to any slot.
    pub free_size_bytes: u64,
    /// The longest slot duration accepted.
    pub duration_secs: u64,
    /// The lowest price per byte per second accepted.
    #[serde(with = "u256_bytes")]
    pub min_price_per_byte_per_second: U256,
    /// The collateral the host committed to this availability.
    #[serde(with = "u256_bytes")]
    pub total_collateral: U256,
    /// What is not locked in reservations nor forfeited.
    #[serde(with = "u256_bytes")]
    pub total_remaining_collateral: U256,
    /// Collateral reservations took and did not give back (slashed or kept
    /// by the contract).
    #[serde(with = "u256_bytes")]
    pub collateral_forfeited: U256,
    /// Whether new slots may be matched.
    pub enabled: bool,
    /// No slot may end after this time; `0` = no limit.
    pub until_secs: u64,
    /// Digest of the creating [`AvailabilitySpec`], to recognise a repeated create.
    pub creation_digest: [u8; 32],
}

impl Availability {
    /// `total_remaining_collateral / free_size_bytes`, or the remaining
    /// collateral itself when nothing is free (Codex's convention).
    pub fn max_collateral_per_byte(&self) -> U256 {
        if self.free_size_bytes == 0 {
            self.total_remaining_collateral
        } else {
            self.total_remaining_collateral / U256::from(self.free_size_bytes)
        }
    }

    /// Collateral held by the availability's live reservations.
    pub fn collateral_locked(&self) -> Result<U256, MarketError> {
        let unlocked = add_u256(
            self.total_remaining_collateral,
            self.collateral_forfeited,
            "unlocked collateral",
        )?;
        sub_u256(self.total_collateral, unlocked, "locked collateral")
    }

    /// Bytes held by the availability's live reservations (reserved or stored).
    pub fn bytes_in_reservations(&self) -> u64 {
        self.total_size_bytes.saturating_sub(self.free_size_bytes)
    }
}

/// Changes to an [`Availability`]; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityUpdate {
    /// New total size: the free size moves by the same amount.
    pub total_size_bytes: Option<u64>,
    /// New longest duration.
    pub duration_secs: Option<u64>,
    /// New lowest price.
    #[serde(with = "u256_bytes::option")]
    pub min_price_per_byte_per_second: Option<U256>,
    /// New total collateral: the remaining collateral becomes it less what
    /// live reservations hold.
    #[serde(with = "u256_bytes::option")]
    pub total_collateral: Option<U256>,
    /// Enable or disable matching.
    pub enabled: Option<bool>,
    /// New `until` (`0` = no limit).
    pub until_secs: Option<u64>,
}

/// What a reservation is for: the parameters of a new [`Reservation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationSpec {
    /// Chosen by the caller.
    pub id: ReservationId,
    /// The availability to carve it from.
    pub availability_id: AvailabilityId,
    /// The slot size.
    pub size_bytes: u64,
    /// The slot: its request.
    pub request_id: RequestId,
    /// The slot: its index.
    pub slot_index: u64,
    /// The ask's collateral per byte: `size × this` is taken from the
    /// availability's remaining collateral.
    #[serde(with = "u256_bytes")]
    pub collateral_per_byte: U256,
    /// When the slot's contract ends.
    pub valid_until_secs: u64,
}

/// Bytes (and collateral) of one availability promised to one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The id.
    pub id: ReservationId,
    /// Where the bytes came from.
    pub availability_id: AvailabilityId,
    /// The slot: its request.
    pub request_id: RequestId,
    /// The slot: its index.
    pub slot_index: u64,
    /// Bytes still reserved (not written yet): Codex's `size`.
    pub size_bytes: u64,
    /// The slot size when the reservation was made.
    pub slot_size_bytes: u64,
    /// Bytes written (released from the reservation, counted as used) and
    /// not yet returned to the availability.
    pub stored_bytes: u64,
    /// The ask's collateral per byte.
    #[serde(with = "u256_bytes")]
    pub collateral_per_byte: U256,
    /// The collateral taken from the availability (`slot_size × per byte`).
    #[serde(with = "u256_bytes")]
    pub collateral: U256,
    /// When the slot's contract ends.
    pub valid_until_secs: u64,
    /// The last delta operations applied, newest last.
    pub recent_ops: Vec<OpId>,
}

impl Reservation {
    /// The slot the reservation is for.
    pub fn slot(&self) -> SlotRef {
        SlotRef {
            request_id: self.request_id,
            slot_index: self.slot_index,
        }
    }

    fn remembers(&self, op: &OpId) -> bool {
        self.recent_ops.contains(op)
    }

    fn remember(&mut self, op: OpId) {
        if self.recent_ops.len() >= MAX_REMEMBERED_OPS {
            self.recent_ops.remove(0);
        }
        self.recent_ops.push(op);
        debug_assert!(self.recent_ops.len() <= MAX_REMEMBERED_OPS);
    }
}

/// What a slot needs from an availability: the inputs of Codex's
/// `findAvailability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindQuery {
    /// The slot size.
    pub size_bytes: u64,
    /// The contract duration.
    pub duration_secs: u64,
    /// What the request pays per byte per second.
    #[serde(with = "u256_bytes")]
    pub price_per_byte_per_second: U256,
    /// The collateral per byte the request demands.
    #[serde(with = "u256_bytes")]
    pub collateral_per_byte: U256,
    /// When the contract would end.
    pub valid_until_secs: u64,
}

/// Whether `availability` can host a slot described by `query`: Codex's six
/// conditions, all required.
pub fn matches(availability: &Availability, query: &FindQuery) -> bool {
    matches_parts(
        availability.enabled,
        availability.free_size_bytes,
        availability.duration_secs,
        availability.max_collateral_per_byte(),
        availability.min_price_per_byte_per_second,
        availability.until_secs,
        query,
    )
}

/// [`matches`] on the values it reads (the find index stores just these).
pub(crate) fn matches_parts(
    enabled: bool,
    free_size_bytes: u64,
    duration_secs: u64,
    max_collateral_per_byte: U256,
    min_price_per_byte_per_second: U256,
    until_secs: u64,
    query: &FindQuery,
) -> bool {
    enabled
        && query.size_bytes <= free_size_bytes
        && query.duration_secs <= duration_secs
        && query.collateral_per_byte <= max_collateral_per_byte
        && query.price_per_byte_per_second >= min_price_per_byte_per_second
        && (until_secs == 0 || until_secs >= query.valid_until_secs)
}

/// A record to write: the new value, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<T> {
    /// Store this value (creating or replacing).
    Put(T),
    /// Remove the record.
    Delete,
}

/// What an operation changes. Empty ([`Change::none`]) for a repeated
/// operation that had already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The new quota, when it changes.
    pub quota: Option<Quota>,
    /// The availability's new state.
    pub availability: Option<Write<Availability>>,
    /// The reservation's new state.
    pub reservation: Option<Write<Reservation>>,
    /// Whether the availability now offers more (created, re-enabled, or a
    /// free size, duration, price limit or collateral grew) while enabled:
    /// Codex's `OnAvailabilitySaved`, on which the slot queue clears its
    /// `seen` flags and unpauses.
    pub saved: bool,
}

impl Change {
    /// Nothing to write.
    pub fn none() -> Change {
        Change {
            quota: None,
            availability: None,
            reservation: None,
            saved: false,
        }
    }

    /// True when there is nothing to write.
    pub fn is_none(&self) -> bool {
        self.quota.is_none() && self.availability.is_none() && self.reservation.is_none()
    }
}

fn offers_more(before: &Availability, after: &Availability) -> bool {
    after.enabled
        && (!before.enabled
            || after.free_size_bytes > before.free_size_bytes
            || after.duration_secs > before.duration_secs
            || after.min_price_per_byte_per_second > before.min_price_per_byte_per_second
            || after.total_remaining_collateral > before.total_remaining_collateral)
}

/// Asserts that one operation kept the accounting: the quota's reserved
/// bytes moved exactly as the free and reserved sizes did, and the
/// availability's bytes and collateral stayed whole.
fn debug_assert_balanced(
    quota: (&Quota, &Quota),
    availability: (Option<&Availability>, Option<&Availability>),
    reservation: (Option<&Reservation>, Option<&Reservation>),
) {
    if !cfg!(debug_assertions) {
        return;
    }
    let signed = |value: u64| i128::from(value);
    let free = |a: Option<&Availability>| a.map_or(0, |a| signed(a.free_size_bytes));
    let size = |r: Option<&Reservation>| r.map_or(0, |r| signed(r.size_bytes));
    let stored = |r: Option<&Reservation>| r.map_or(0, |r| signed(r.stored_bytes));
    let reserved_delta = signed(quota.1.reserved_bytes) - signed(quota.0.reserved_bytes);
    let used_delta = signed(quota.1.used_bytes) - signed(quota.0.used_bytes);
    assert_eq!(
        reserved_delta,
        (free(availability.1) - free(availability.0)) + (size(reservation.1) - size(reservation.0)),
        "quota reserved must move with Σ free + Σ reserved"
    );
    assert_eq!(
        used_delta,
        stored(reservation.1) - stored(reservation.0),
        "quota used must move with Σ stored"
    );
    let taken = |q: &Quota| q.used_bytes.saturating_add(q.reserved_bytes);
    assert!(
        taken(quota.1) <= taken(quota.0) || taken(quota.1) <= quota.1.max_bytes,
        "bytes were taken beyond the quota"
    );
    for a in [availability.0, availability.1].into_iter().flatten() {
        assert!(a.free_size_bytes <= a.total_size_bytes, "free exceeds total");
        assert!(a.collateral_locked().is_ok(), "collateral does not add up");
    }
    // Within one availability, bytes and collateral only move between it
    // and the reservation.
    if let (Some(before), Some(after)) = availability {
        let held = |r: Option<&Reservation>| r.map_or(0, |r| signed(r.size_bytes) + signed(r.stored_bytes));
        let total_delta = signed(after.total_size_bytes) - signed(before.total_size_bytes);
        assert_eq!(
            total_delta,
            (signed(after.free_size_bytes) - signed(before.free_size_bytes))
                + (held(reservation.1) - held(reservation.0)),
            "availability bytes must stay whole"
        );
    }
    for r in [reservation.0, reservation.1].into_iter().flatten() {
        assert!(
            r.size_bytes.saturating_add(r.stored_bytes) <= r.slot_size_bytes,
            "reservation holds more than its slot"
        );
    }
}

/// Creates an availability: its whole size is reserved from the quota
/// (Codex's `createAvailability`).
///
/// `existing` is the record already stored under the id, if any: if it was
/// created from the same spec this is a repeat and changes nothing.
///
/// # Errors
/// [`MarketError::Invalid`] for a zero size; [`MarketError::AlreadyExists`];
/// [`MarketError::QuotaNotEnough`]; [`MarketError::Limit`].
pub fn create_availability(
    quota: &Quota,
    existing: Option<&Availability>,
    spec: &AvailabilitySpec,
) -> Result<(Availability, Change), MarketError> {
    let digest = spec.digest()?;
    if let Some(existing) = existing {
        if existing.creation_digest == digest {
            return Ok((existing.clone(), Change::none()));
        }
        return Err(MarketError::AlreadyExists {
            kind: RecordKind::Availability,
            id: spec.id.0,
        });
    }
    if spec.total_size_bytes == 0 {
        return Err(MarketError::Invalid {
            field: "total_size",
            reason: "must be larger than zero".into(),
        });
    }
    if quota.availability_count >= MAX_AVAILABILITIES {
        return Err(MarketError::Limit {
            what: "availabilities",
            max: MAX_AVAILABILITIES,
        });
    }
    let mut new_quota = quota.reserve(spec.total_size_bytes)?;
    new_quota.availability_count += 1;
    let availability = Availability {
        id: spec.id,
        total_size_bytes: spec.total_size_bytes,
        free_size_bytes: spec.total_size_bytes,
        duration_secs: spec.duration_secs,
        min_price_per_byte_per_second: spec.min_price_per_byte_per_second,
        total_collateral: spec.total_collateral,
        total_remaining_collateral: spec.total_collateral,
        collateral_forfeited: U256::zero(),
        enabled: spec.enabled,
        until_secs: spec.until_secs,
        creation_digest: digest,
    };
    debug_assert_balanced((quota, &new_quota), (None, Some(&availability)), (None, None));
    Ok((
        availability.clone(),
        Change {
            quota: Some(new_quota),
            saved: availability.enabled,
            availability: Some(Write::Put(availability)),
            reservation: None,
        },
    ))
}

/// Updates an availability (Codex's `update(Availability)` behind the REST
/// `PATCH`). Every field is absolute, so a repeat changes nothing.
///
/// `longest_valid_until_secs` is the latest end among the availability's
/// reservations (`None` when it has none).
///
/// # Errors
/// [`MarketError::Invalid`] for a zero size; [`MarketError::BytesOutOfBounds`]
/// when shrinking by more than is free; [`MarketError::QuotaNotEnough`] when
/// growing beyond the quota; [`MarketError::UntilOutOfBounds`] when `until`
/// would end before a hosted slot; [`MarketError::CollateralOutOfBounds`]
/// when the new total collateral is below what live reservations hold.
pub fn update_availability(
    quota: &Quota,
    current: &Availability,
    update: &AvailabilityUpdate,
    longest_valid_until_secs: Option<u64>,
) -> Result<(Availability, Change), MarketError> {
    let mut next = current.clone();
    let mut new_quota = *quota;
    if let Some(total) = update.total_size_bytes {
        if total == 0 {
            return Err(MarketError::Invalid {
                field: "total_size",
                reason: "must be larger than zero".into(),
            });
        }
        if total >= current.total_size_bytes {
            let grow = total - current.total_size_bytes;
            new_quota = new_quota.reserve(grow)?;
            next.free_size_bytes = add(next.free_size_bytes, grow, "free size")?;
        } else {
            let shrink = current.total_size_bytes - total;
            if shrink > current.free_size_bytes {
                return Err(MarketError::BytesOutOfBounds {
                    requested_bytes: shrink,
                    available_bytes: current.free_size_bytes,
                });
            }
            new_quota = new_quota.unreserve(shrink)?;
            next.free_size_bytes -= shrink;
        }
        next.total_size_bytes = total;
    }
    if let Some(duration) = update.duration_secs {
        next.duration_secs = duration;
    }
    if let Some(price) = update.min_price_per_byte_per_second {
        next.min_price_per_byte_per_second = price;
    }
    if let Some(total_collateral) = update.total_collateral {
        let locked = current.collateral_locked()?;
        if total_collateral < locked {
            return Err(MarketError::CollateralOutOfBounds {
                requested: locked,
                available: total_collateral,
            });
        }
        next.total_collateral = total_collateral;
        next.total_remaining_collateral = total_collateral - locked;
        next.collateral_forfeited = U256::zero();
    }
    if let Some(enabled) = update.enabled {
        next.enabled = enabled;
    }
    if let Some(until) = update.until_secs {
        if let Some(longest) = longest_valid_until_secs
            && until > 0
            && longest > until
        {
            return Err(MarketError::UntilOutOfBounds {
                until_secs: until,
                valid_until_secs: longest,
            });
        }
        next.until_secs = until;
    }
    if next == *current {
        return Ok((next, Change::none()));
    }
    debug_assert_balanced((quota, &new_quota), (Some(current), Some(&next)), (None, None));
    Ok((
        next.clone(),
        Change {
            quota: Some(new_quota),
            saved: offers_more(current, &next),
            availability: Some(Write::Put(next)),
            reservation: None,
        },
    ))
}

/// Deletes an availability and releases its bytes from the quota. Deleting
/// an absent one succeeds; one with reservations is refused.
///
/// # Errors
/// [`MarketError::HasReservations`].
pub fn delete_availability(
    quota: &Quota,
    current: Option<&Availability>,
    has_reservations: bool,
) -> Result<Change, MarketError> {
    let Some(current) = current else {
        return Ok(Change::none());
    };
    if has_reservations {
        return Err(MarketError::HasReservations {
            availability_id: current.id,
        });
    }
    if current.free_size_bytes != current.total_size_bytes {
        return Err(MarketError::corrupt(format!(
            "availability {} has no reservations but {} of {} bytes are not free",
            current.id,
            current.bytes_in_reservations(),
            current.total_size_bytes
        )));
    }
    let mut new_quota = quota.unreserve(current.free_size_bytes)?;
    new_quota.availability_count = new_quota.availability_count.saturating_sub(1);
    debug_assert_balanced((quota, &new_quota), (Some(current), None), (None, None));
    Ok(Change {
        quota: Some(new_quota),
        availability: Some(Write::Delete),
        reservation: None,
        saved: false,
    })
}

/// Creates a reservation for a slot, carving its size out of the
/// availability's free size and its collateral out of the remaining
/// collateral (Codex's `createReservation`, with every accounting check
/// inside the commit).
///
/// `existing` is the record stored under the spec's id; `slot_holder` the
/// reservation already holding the slot, if any.
///
/// # Errors
/// [`MarketError::NotExists`] (no availability); [`MarketError::AlreadyExists`];
/// [`MarketError::SlotAlreadyReserved`]; [`MarketError::BytesOutOfBounds`]
/// (larger than the free size); [`MarketError::CollateralOutOfBounds`];
/// [`MarketError::UntilOutOfBounds`] (the slot ends after `until`);
/// [`MarketError::Limit`]; [`MarketError::Overflow`].
pub fn create_reservation(
    quota: &Quota,
    availability: Option<&Availability>,
    existing: Option<&Reservation>,
    slot_holder: Option<ReservationId>,
    spec: &ReservationSpec,
) -> Result<(Reservation, Change), MarketError> {
    if let Some(existing) = existing {
        let same = existing.availability_id == spec.availability_id
            && existing.slot_size_bytes == spec.size_bytes
            && existing.request_id == spec.request_id
            && existing.slot_index == spec.slot_index
            && existing.collateral_per_byte == spec.collateral_per_byte
            && existing.valid_until_secs == spec.valid_until_secs;
        if same {
            return Ok((existing.clone(), Change::none()));
        }
        return Err(MarketError::AlreadyExists {
            kind: RecordKind::Reservation,
            id: spec.id.0,
        });
    }
    let slot = SlotRef {
        request_id: spec.request_id,
        slot_index: spec.slot_index,
    };
    if let Some(holder) = slot_holder {
        return Err(MarketError::SlotAlreadyReserved {
            slot,
            reservation_id: holder,
        });
    }
    let Some(availability) = availability else {
        return Err(MarketError::NotExists {
            kind: RecordKind::Availability,
            id: spec.availability_id.0,
        });
    };
    if availability.free_size_bytes < spec.size_bytes {
        return Err(MarketError::BytesOutOfBounds {
            requested_bytes: spec.size_bytes,
            available_bytes: availability.free_size_bytes,
        });
    }
    let collateral = spec
        .collateral_per_byte
        .checked_mul(U256::from(spec.size_bytes))
        .ok_or(MarketError::Overflow {
            what: "reservation collateral",
        })?;
    if collateral > availability.total_remaining_collateral {
        return Err(MarketError::CollateralOutOfBounds {
            requested: collateral,
            available: availability.total_remaining_collateral,
        });
    }
    if availability.until_secs > 0 && spec.valid_until_secs > availability.until_secs {
        return Err(MarketError::UntilOutOfBounds {
            until_secs: availability.until_secs,
            valid_until_secs: spec.valid_until_secs,
        });
    }
    if quota.reservation_count >= MAX_RESERVATIONS {
        return Err(MarketError::Limit {
            what: "reservations",
            max: MAX_RESERVATIONS,
        });
    }
    let mut next = availability.clone();
    next.free_size_bytes -= spec.size_bytes;
    next.total_remaining_collateral -= collateral;
    let reservation = Reservation {
        id: spec.id,
        availability_id: spec.availability_id,
        request_id: spec.request_id,
        slot_index: spec.slot_index,
        size_bytes: spec.size_bytes,
        slot_size_bytes: spec.size_bytes,
        stored_bytes: 0,
        collateral_per_byte: spec.collateral_per_byte,
        collateral,
        valid_until_secs: spec.valid_until_secs,
        recent_ops: Vec::new(),
    };
    let mut new_quota = *quota;
    new_quota.reservation_count += 1;
    debug_assert_balanced(
        (quota, &new_quota),
        (Some(availability), Some(&next)),
        (None, Some(&reservation)),
    );
    Ok((
        reservation.clone(),
        Change {
            quota: Some(new_quota),
            availability: Some(Write::Put(next)),
            reservation: Some(Write::Put(reservation)),
            saved: false,
        },
    ))
}

/// Releases `bytes` of a reservation as they are written to disk: they
/// stop being reserved and count as used (Codex's `release`, called for
/// every stored batch of blocks).
///
/// # Errors
/// [`MarketError::BytesOutOfBounds`] when the reservation holds fewer
/// bytes.
pub fn release(quota: &Quota, reservation: &Reservation, bytes: u64, op: OpId) -> Result<Change, MarketError> {
    if reservation.remembers(&op) {
        return Ok(Change::none());
    }
    if bytes > reservation.size_bytes {
        return Err(MarketError::BytesOutOfBounds {
            requested_bytes: bytes,
            available_bytes: reservation.size_bytes,
        });
    }
    let new_quota = quota.store(bytes)?;
    let mut next = reservation.clone();
    next.size_bytes -= bytes;
    next.stored_bytes = add(next.stored_bytes, bytes, "stored bytes")?;
    next.remember(op);
    debug_assert_balanced((quota, &new_quota), (None, None), (Some(reservation), Some(&next)));
    Ok(Change {
        quota: Some(new_quota),
        availability: None,
        reservation: Some(Write::Put(next)),
        saved: false,
    })
}

/// Gives `bytes` of what a reservation stored back to its availability,
/// as the host deletes that data (Codex's `returnBytesToAvailability`; the
/// signal Codex issue #626 asks for).
///
/// # Errors
/// [`MarketError::BytesOutOfBounds`] when the reservation stored fewer
/// bytes (not yet returned).
pub fn return_bytes(
    quota: &Quota,
    availability: &Availability,
    reservation: &Reservation,
    bytes: u64,
    op: OpId,
) -> Result<Change, MarketError> {
    if reservation.remembers(&op) {
        return Ok(Change::none());
    }
    if bytes > reservation.stored_bytes {
        return Err(MarketError::BytesOutOfBounds {
            requested_bytes: bytes,
            available_bytes: reservation.stored_bytes,
        });
    }
    let new_quota = quota.unstore(bytes)?;
    let mut next_reservation = reservation.clone();
    next_reservation.stored_bytes -= bytes;
    next_reservation.remember(op);
    let mut next_availability = availability.clone();
    next_availability.free_size_bytes = add(next_availability.free_size_bytes, bytes, "free size")?;
    if next_availability.free_size_bytes > next_availability.total_size_bytes {
        return Err(MarketError::corrupt(format!(
            "returning {bytes} bytes would make availability {} freer than its total",
            availability.id
        )));
    }
    debug_assert_balanced(
        (quota, &new_quota),
        (Some(availability), Some(&next_availability)),
        (Some(reservation), Some(&next_reservation)),
    );
    Ok(Change {
        quota: Some(new_quota),
        saved: offers_more(availability, &next_availability),
        availability: Some(Write::Put(next_availability)),
        reservation: Some(Write::Put(next_reservation)),
    })
}

/// Deletes a reservation: every byte it still accounts for (reserved or
/// stored) goes back to the availability's free size, and
/// `returned_collateral` back to its remaining collateral (the rest of what
/// the reservation took is recorded as forfeited). Deleting an absent
/// reservation succeeds (Codex's `deleteReservation`).
///
/// # Errors
/// [`MarketError::CollateralOutOfBounds`] when more collateral is returned
/// than the reservation took.
pub fn delete_reservation(
    quota: &Quota,
    availability: Option<&Availability>,
    reservation: Option<&Reservation>,
    returned_collateral: U256,
) -> Result<Change, MarketError> {
    let Some(reservation) = reservation else {
        return Ok(Change::none());
    };
    let Some(availability) = availability else {
        return Err(MarketError::corrupt(format!(
            "reservation {} belongs to missing availability {}",
            reservation.id, reservation.availability_id
        )));
    };
    if returned_collateral > reservation.collateral {
        return Err(MarketError::CollateralOutOfBounds {
            requested: returned_collateral,
            available: reservation.collateral,
        });
    }
    let mut new_quota = quota.unstore(reservation.stored_bytes)?;
    new_quota.reservation_count = new_quota.reservation_count.saturating_sub(1);
    let mut next = availability.clone();
    let held = add(reservation.size_bytes, reservation.stored_bytes, "reservation bytes")?;
    next.free_size_bytes = add(next.free_size_bytes, held, "free size")?;
    if next.free_size_bytes > next.total_size_bytes {
        return Err(MarketError::corrupt(format!(
            "deleting reservation {} would make availability {} freer than its total",
            reservation.id, availability.id
        )));
    }
    next.total_remaining_collateral = add_u256(
        next.total_remaining_collateral,
        returned_collateral,
        "remaining collateral",
    )?;
    next.collateral_forfeited = add_u256(
        next.collateral_forfeited,
        reservation.collateral - returned_collateral,
        "forfeited collateral",
    )?;
    debug_assert_balanced(
        (quota, &new_quota),
        (Some(availability), Some(&next)),
        (Some(reservation), None),
    );
    Ok(Change {
        quota: Some(new_quota),
        saved: offers_more(availability, &next),
        availability: Some(Write::Put(next)),
        reservation: Some(Write::Delete),
    })
}

/// Changes the quota's maximum.
///
/// # Errors
/// [`MarketError::QuotaNotEnough`] when what is used and reserved would no
/// longer fit.
pub fn set_quota_max(quota: &Quota, max_bytes: u64) -> Result<Change, MarketError> {
    if quota.max_bytes == max_bytes {
        return Ok(Change::none());
    }
    let taken = add(quota.used_bytes, quota.reserved_bytes, "taken bytes")?;
    if taken > max_bytes {
        return Err(MarketError::QuotaNotEnough {
            requested_bytes: taken,
            available_bytes: max_bytes,
        });
    }
    Ok(Change {
        quota: Some(Quota { max_bytes, ..*quota }),
        availability: None,
        reservation: None,
        saved: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u64) -> AvailabilitySpec {
        AvailabilitySpec::new(AvailabilityId([1; 32]), size, 100, U256::from(2u8), U256::from(1000u32))
    }

    fn reservation_spec(size: u64) -> ReservationSpec {
        ReservationSpec {
            id: ReservationId([2; 32]),
            availability_id: AvailabilityId([1; 32]),
            size_bytes: size,
            request_id: RequestId([3; 32]),
            slot_index: 0,
            collateral_per_byte: U256::one(),
            valid_until_secs: 50,
        }
    }

    fn put<T: Clone>(write: &Option<Write<T>>) -> T {
        match write {
            Some(Write::Put(value)) => value.clone(),
            other => panic!(
                "expected a put, got {}",
                if other.is_some() { "a delete" } else { "nothing" }
            ),
        }
    }

    #[test]
    fn a_reservation_moves_bytes_but_not_the_quota() {
        let quota = Quota::new(1_000);
        let (availability, change) = create_availability(&quota, None, &spec(100)).expect("fits");
        let quota = change.quota.expect("reserved");
        assert_eq!(quota.reserved_bytes, 100);
        let (reservation, change) =
            create_reservation(&quota, Some(&availability), None, None, &reservation_spec(60)).expect("fits");
        let after = put(&change.availability);
        assert_eq!(after.free_size_bytes, 40);
        assert_eq!(after.total_remaining_collateral, U256::from(940u32));
        assert_eq!(reservation.collateral, U256::from(60u8));
        assert_eq!(change.quota.expect("counted").reserved_bytes, 100);
    }

    #[test]
    fn max_collateral_per_byte_is_remaining_over_free_or_remaining_when_full() {
        let quota = Quota::new(1_000);
        let (mut availability, _) = create_availability(&quota, None, &spec(100)).expect("fits");
        assert_eq!(availability.max_collateral_per_byte(), U256::from(10u8));
        availability.free_size_bytes = 0;
        assert_eq!(availability.max_collateral_per_byte(), U256::from(1000u32));
    }

    #[test]
    fn repeated_delta_operations_apply_once() {
        let quota = Quota::new(1_000);
        let (availability, change) = create_availability(&quota, None, &spec(100)).expect("fits");
        let quota = change.quota.expect("reserved");
        let (reservation, change) =
            create_reservation(&quota, Some(&availability), None, None, &reservation_spec(60)).expect("fits");
        let quota = change.quota.expect("counted");
        let op = OpId([9; 32]);
        let change = release(&quota, &reservation, 10, op).expect("holds 60");
        let released = put(&change.reservation);
        assert_eq!((released.size_bytes, released.stored_bytes), (50, 10));
        assert!(
            release(&change.quota.expect("q"), &released, 10, op)
                .expect("repeat")
                .is_none()
        );
    }

    #[test]
    fn remembered_ops_are_bounded() {
        let mut reservation = Reservation {
            id: ReservationId([0; 32]),
            availability_id: AvailabilityId([0; 32]),
            request_id: RequestId([0; 32]),
            slot_index: 0,
            size_bytes: 0,
            slot_size_bytes: 0,
            stored_bytes: 0,
            collateral_per_byte: U256::zero(),
            collateral: U256::zero(),
            valid_until_secs: 0,
            recent_ops: Vec::new(),
        };
        for n in 0..20u8 {
            reservation.remember(OpId([n; 32]));
        }
        assert_eq!(reservation.recent_ops.len(), MAX_REMEMBERED_OPS);
        assert!(reservation.remembers(&OpId([19; 32])));
        assert!(!reservation.remembers(&OpId([0; 32])));
    }
}
