//! [`Reservations`]: the shell over the [rules]. Each call loads the
//! records it needs from a [`Store`], applies one rule and commits the
//! result (records, indexes and quota together) in one atomic commit,
//! retried on conflict.

pub mod index;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use primitive_types::U256;
use tally_store::{RetryPolicy, Store, Txn, codec, scan_all, transact};

pub use index::FindStats;
use rules::{
    Availability, AvailabilitySpec, AvailabilityUpdate, Change, FindQuery, Quota, Reservation, ReservationSpec, Write,
};

use crate::error::{MarketError, RecordKind};
use crate::keys;
use crate::types::{AvailabilityId, OpId, ReservationId, SlotRef};

/// How many times a read-only call re-reads when writers keep changing the
/// records under it.
const MAX_READ_ATTEMPTS: u32 = 64;
/// The most records one page of a listing returns.
pub const MAX_LIST: usize = 10_000;

/// The result of a write: the record as it is now, whether this call
/// changed anything (`false` for a repeat of an operation that had already
/// applied), and whether it signals "availability saved" (see
/// [`Change::saved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied<T> {
    /// The record after the call.
    pub value: T,
    /// Whether the call wrote anything.
    pub changed: bool,
    /// Whether the availability now offers more (unpause the slot queue).
    pub saved: bool,
}

impl<T> Applied<T> {
    fn new(value: T, change: &Change) -> Applied<T> {
        Applied {
            value,
            changed: !change.is_none(),
            saved: change.saved,
        }
    }
}

/// Everything the reservations hold, read at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The quota.
    pub quota: Quota,
    /// Every availability, by id.
    pub availabilities: Vec<Availability>,
    /// Every reservation, by id.
    pub reservations: Vec<Reservation>,
}

impl Snapshot {
    /// Checks every accounting invariant of the [rules](rules#accounting):
    /// the quota's reserved bytes are `Σ free + Σ reserved`, its used bytes
    /// `Σ stored`; each availability's bytes and collateral add up to its
    /// totals; each reservation belongs to an availability whose `until`
    /// covers it, holds no more than its slot, and is the only one for its
    /// slot; the counts match.
    ///
    /// # Errors
    /// [`MarketError::Corrupt`] describing the first violation.
    pub fn check(&self) -> Result<(), MarketError> {
        let fail = |reason: String| Err(MarketError::Corrupt { reason });
        let quota = &self.quota;
        let sum_free: u128 = self.availabilities.iter().map(|a| u128::from(a.free_size_bytes)).sum();
        let sum_size: u128 = self.reservations.iter().map(|r| u128::from(r.size_bytes)).sum();
        let sum_stored: u128 = self.reservations.iter().map(|r| u128::from(r.stored_bytes)).sum();
        if u128::from(quota.reserved_bytes) != sum_free + sum_size {
            return fail(format!(
                "quota reserved {} ≠ Σ free {sum_free} + Σ reserved {sum_size}",
                quota.reserved_bytes
            ));
        }
        if u128::from(quota.used_bytes) != sum_stored {
            return fail(format!("quota used {} ≠ Σ stored {sum_stored}", quota.used_bytes));
        }
        if u128::from(quota.used_bytes) + u128::from(quota.reserved_bytes) > u128::from(quota.max_bytes) {
            return fail(format!("quota over its maximum: {quota:?}"));
        }
        if quota.availability_count != self.availabilities.len() as u64
            || quota.reservation_count != self.reservations.len() as u64
        {
            return fail(format!(
                "counts {}/{} ≠ records {}/{}",
                quota.availability_count,
                quota.reservation_count,
                self.availabilities.len(),
                self.reservations.len()
            ));
        }
        let mut held: BTreeMap<AvailabilityId, (u128, U256)> = BTreeMap::new();
        let mut slots = BTreeSet::new();
        let by_id: BTreeMap<AvailabilityId, &Availability> = self.availabilities.iter().map(|a| (a.id, a)).collect();
        for r in &self.reservations {
            let Some(a) = by_id.get(&r.availability_id) else {
                return fail(format!("reservation {} has no availability", r.id));
            };
            if u128::from(r.size_bytes) + u128::from(r.stored_bytes) > u128::from(r.slot_size_bytes) {
                return fail(format!("reservation {} holds more than its slot", r.id));
            }
            if r.collateral_per_byte.checked_mul(U256::from(r.slot_size_bytes)) != Some(r.collateral) {
                return fail(format!("reservation {} collateral ≠ slot size × per byte", r.id));
            }
            if a.until_secs != 0 && r.valid_until_secs > a.until_secs {
                return fail(format!("reservation {} ends after its availability's until", r.id));
            }
            if !slots.insert(r.slot()) {
                return fail(format!("two reservations for one slot ({})", r.id));
            }
            let entry = held.entry(r.availability_id).or_insert((0, U256::zero()));
            entry.0 += u128::from(r.size_bytes) + u128::from(r.stored_bytes);
            entry.1 = entry.1.saturating_add(r.collateral);
        }
        for a in &self.availabilities {
            let (bytes, collateral) = held.get(&a.id).copied().unwrap_or((0, U256::zero()));
            if u128::from(a.total_size_bytes) != u128::from(a.free_size_bytes) + bytes {
                return fail(format!(
                    "availability {}: total {} ≠ free {} + held {bytes}",
                    a.id, a.total_size_bytes, a.free_size_bytes
                ));
            }
            let accounted = a
                .total_remaining_collateral
                .checked_add(collateral)
                .and_then(|sum| sum.checked_add(a.collateral_forfeited));
            if accounted != Some(a.total_collateral) {
                return fail(format!(
                    "availability {}: collateral {} ≠ remaining {} + locked {collateral} + forfeited {}",
                    a.id, a.total_collateral, a.total_remaining_collateral, a.collateral_forfeited
                ));
            }
        }
        Ok(())
    }
}

/// Availabilities and per-slot reservations of a storage host, on a
/// [`Store`] (Codex's `Reservations` module).
///
/// Every write is one atomic commit of all the records it touches (the
/// quota, the availability and its find-index entries, the reservation and
/// its slot entry), retried on conflict; so the
/// [accounting invariants](rules#accounting) hold after every call, every
/// failed commit and every restart, whoever shares the store. Every write
/// can be repeated after an error and applies at most once.
#[derive(Debug)]
pub struct Reservations<S> {
    store: S,
    retry: RetryPolicy,
}

impl<S: Store> Reservations<S> {
    /// Opens the reservations on `store`, creating the quota of
    /// `quota_max_bytes` if the store has none, or changing its maximum.
    ///
    /// # Errors
    /// [`MarketError::QuotaNotEnough`] when the store already uses or
    /// reserves more than `quota_max_bytes`; store errors.
    pub fn open(store: S, quota_max_bytes: u64) -> Result<Self, MarketError> {
        let reservations = Reservations {
            store,
            retry: RetryPolicy::default(),
        };
        transact(&reservations.store, &reservations.retry, |txn| {
            match txn.get_as::<Quota>(&keys::quota())? {
                None => {
                    txn.put_as(keys::quota(), &Quota::new(quota_max_bytes))?;
                }
                Some(quota) => {
                    let change = rules::set_quota_max(&quota, quota_max_bytes)?;
                    apply(txn, None, None, &change)?;
                }
            }
            Ok::<_, MarketError>(())
        })?;
        Ok(reservations)
    }

    /// The same reservations with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    fn write<T>(&self, mut body: impl FnMut(&mut Txn<'_, S>) -> Result<T, MarketError>) -> Result<T, MarketError> {
        transact(&self.store, &self.retry, |txn| body(txn))
    }

    /// The quota.
    ///
    /// # Errors
    /// Store errors; [`MarketError::Corrupt`] if the store was never opened.
    pub fn quota(&self) -> Result<Quota, MarketError> {
        Ok(read_quota(&self.store)?.0)
    }

    /// Bytes the quota can still reserve (`max − used − reserved`).
    ///
    /// # Errors
    /// As [`quota`](Self::quota).
    pub fn available_bytes(&self) -> Result<u64, MarketError> {
        Ok(self.quota()?.available_bytes())
    }

    /// Whether `bytes` more could be reserved (Codex's `hasAvailable`).
    ///
    /// # Errors
    /// As [`quota`](Self::quota).
    pub fn has_available(&self, bytes: u64) -> Result<bool, MarketError> {
        Ok(self.quota()?.has_available(bytes))
    }

    /// Changes the quota's maximum.
    ///
    /// # Errors
    /// [`MarketError::QuotaNotEnough`] when what is taken would not fit.
    pub fn set_quota_max(&self, max_bytes: u64) -> Result<Quota, MarketError> {
        self.write(|txn| {
            let quota = load_quota(txn)?;
            let change = rules::set_quota_max(&quota, max_bytes)?;
            apply(txn, None, None, &change)?;
            Ok(change.quota.unwrap_or(quota))
        })
    }

    /// Creates an availability, reserving its whole size from the quota.
    /// Creating it again with the same spec is a no-op.
    ///
    /// ```
    /// use tally_market::{AvailabilityId, AvailabilitySpec, Reservations, U256};
    /// use tally_store::MemStore;
    ///
    /// let reservations = Reservations::open(MemStore::new(), 1_000_000)?;
    /// let spec = AvailabilitySpec::new(AvailabilityId([1; 32]), 4096, 3600, U256::one(), U256::from(10_000u32));
    /// let created = reservations.create_availability(&spec)?;
    /// assert_eq!(created.value.free_size_bytes, 4096);
    /// assert_eq!(reservations.quota()?.reserved_bytes, 4096);
    /// assert!(!reservations.create_availability(&spec)?.changed, "a repeat changes nothing");
    /// # Ok::<(), tally_market::MarketError>(())
    /// ```
    ///
    /// # Errors
    /// See [`rules::create_availability`].
    pub fn create_availability(&self, spec: &AvailabilitySpec) -> Result<Applied<Availability>, MarketError> {
        self.write(|txn| create_availability_in(txn, spec))
    }

    /// Updates an availability; see [`rules::update_availability`].
    ///
    /// # Errors
    /// [`MarketError::NotExists`], and see [`rules::update_availability`].
    pub fn update_availability(
        &self,
        id: &AvailabilityId,
        update: &AvailabilityUpdate,
    ) -> Result<Applied<Availability>, MarketError> {
        self.write(|txn| update_availability_in(txn, id, update))
    }

    /// Enables or disables matching (the first version's `markUnused` /
    /// `markUsed`).
    ///
    /// # Errors
    /// As [`update_availability`](Self::update_availability).
    pub fn set_enabled(&self, id: &AvailabilityId, enabled: bool) -> Result<Applied<Availability>, MarketError> {
        let update = AvailabilityUpdate {
            enabled: Some(enabled),
            ..AvailabilityUpdate::default()
        };
        self.update_availability(id, &update)
    }

    /// Deletes an availability without reservations and releases its bytes
    /// from the quota. Deleting an absent one succeeds (`changed: false`).
    ///
    /// # Errors
    /// [`MarketError::HasReservations`].
    pub fn delete_availability(&self, id: &AvailabilityId) -> Result<Applied<()>, MarketError> {
        self.write(|txn| {
            let quota = load_quota(txn)?;
            let current = load_availability(txn, id)?;
            let has_reservations = match &current {
                Some(_) => {
                    let prefix = keys::by_availability_prefix(id);
                    !txn.scan_guarded(&keys::availability(id), &prefix, None, 1)?
                        .entries
                        .is_empty()
                }
                None => false,
            };
            let change = rules::delete_availability(&quota, current.as_ref(), has_reservations)?;
            apply(txn, current.as_ref(), None, &change)?;
            Ok(Applied::new((), &change))
        })
    }

    /// Creates a reservation for a slot out of an availability, checking
    /// free size, collateral and `until` inside the commit: of two
    /// concurrent creations that fit only once, exactly one fails with
    /// [`MarketError::BytesOutOfBounds`]. Creating it again with the same
    /// spec is a no-op.
    ///
    /// # Errors
    /// See [`rules::create_reservation`].
    pub fn create_reservation(&self, spec: &ReservationSpec) -> Result<Applied<Reservation>, MarketError> {
        self.write(|txn| create_reservation_in(txn, spec))
    }

    /// Releases `bytes` of a reservation as they are written (reserved →
    /// used). Repeating it with the same `op` applies nothing.
    ///
    /// # Errors
    /// [`MarketError::NotExists`]; [`MarketError::BytesOutOfBounds`].
    pub fn release(&self, id: &ReservationId, bytes: u64, op: OpId) -> Result<Applied<Reservation>, MarketError> {
        self.write(|txn| release_in(txn, id, bytes, op))
    }

    /// Returns `bytes` of what a reservation stored to its availability (used
    /// → free), as the host deletes that data. Repeating it with the same
    /// `op` applies nothing.
    ///
    /// # Errors
    /// [`MarketError::NotExists`]; [`MarketError::BytesOutOfBounds`].
    pub fn return_bytes(&self, id: &ReservationId, bytes: u64, op: OpId) -> Result<Applied<Reservation>, MarketError> {
        self.write(|txn| return_bytes_in(txn, id, bytes, op))
    }

    /// Deletes a reservation, returning all its bytes to the availability
    /// and `returned_collateral` to its remaining collateral. Deleting an
    /// absent reservation succeeds (`changed: false`).
    ///
    /// # Errors
    /// See [`rules::delete_reservation`].
    pub fn delete_reservation(
        &self,
        id: &ReservationId,
        returned_collateral: U256,
    ) -> Result<Applied<()>, MarketError> {
        self.write(|txn| delete_reservation_in(txn, id, returned_collateral).map(|(_, applied)| applied))
    }

    /// Reads one availability.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn availability(&self, id: &AvailabilityId) -> Result<Option<Availability>, MarketError> {
        read_as(&self.store, &keys::availability(id))
    }

    /// Reads one reservation.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn reservation(&self, id: &ReservationId) -> Result<Option<Reservation>, MarketError> {
        read_as(&self.store, &keys::reservation(id))
    }

    /// The reservation holding `slot`, if any.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn reservation_for_slot(&self, slot: &SlotRef) -> Result<Option<Reservation>, MarketError> {
        match read_as::<_, ReservationId>(&self.store, &keys::slot_reservation(&slot.request_id, slot.slot_index))? {
            Some(id) => self.reservation(&id),
            None => Ok(None),
        }
    }

    /// Up to `limit` (at most [`MAX_LIST`]) availabilities with ids after `after`, by id.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn availabilities(
        &self,
        after: Option<&AvailabilityId>,
        limit: usize,
    ) -> Result<Vec<Availability>, MarketError> {
        let after_key = after.map(keys::availability);
        list(&self.store, &keys::availability_prefix(), after_key.as_deref(), limit)
    }

    /// Up to `limit` (at most [`MAX_LIST`]) reservations with ids after `after`, by id.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn reservations(&self, after: Option<&ReservationId>, limit: usize) -> Result<Vec<Reservation>, MarketError> {
        let after_key = after.map(keys::reservation);
        list(&self.store, &keys::reservation_prefix(), after_key.as_deref(), limit)
    }

    /// The reservations of one availability (Codex's `all(Reservation,
    /// availabilityId)`), longest-running first, at most [`MAX_LIST`].
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn reservations_of(&self, availability: &AvailabilityId) -> Result<Vec<Reservation>, MarketError> {
        let page = self
            .store
            .scan(&keys::by_availability_prefix(availability), None, MAX_LIST)?;
        let mut out = Vec::with_capacity(page.entries.len());
        for entry in &page.entries {
            let (_, id) = keys::read_by_availability(&entry.key)?;
            if let Some(reservation) = self.reservation(&id)? {
                out.push(reservation);
            }
        }
        Ok(out)
    }

    /// Every availability and reservation and the quota, read at one
    /// instant (without committing anything: the quota's version, which
    /// every write changes, is read before and after).
    ///
    /// # Errors
    /// Store and decoding errors; [`MarketError::Limit`] when writers keep
    /// changing the records for 64 attempts.
    pub fn snapshot(&self) -> Result<Snapshot, MarketError> {
        consistent_read(&self.store, || {
            let availabilities = read_all(&self.store, &keys::availability_prefix())?;
            let reservations = read_all(&self.store, &keys::reservation_prefix())?;
            Ok((availabilities, reservations))
        })
        .map(|(quota, (availabilities, reservations))| Snapshot {
            quota,
            availabilities,
            reservations,
        })
    }

    /// The enabled (`true`) or disabled availabilities (the first
    /// version's `unused()` / `find(used)`).
    ///
    /// # Errors
    /// As [`snapshot`](Self::snapshot).
    pub fn availabilities_by_enabled(&self, enabled: bool) -> Result<Vec<Availability>, MarketError> {
        let all: Vec<Availability> = read_all(&self.store, &keys::availability_prefix())?;
        Ok(all.into_iter().filter(|a| a.enabled == enabled).collect())
    }

    /// An availability that can host the slot `query` describes (all six
    /// of Codex's conditions), found through the find index (see
    /// [`FindStats`] and the index's documentation for the cost), or `None`.
    ///
    /// Like Codex's `findAvailability` this is advice, not a promise: the
    /// reservation re-checks under its commit. The answer was true at one
    /// instant (the quota's version is read around the search).
    ///
    /// # Errors
    /// Store and decoding errors; [`MarketError::Limit`] under endless
    /// concurrent writes.
    pub fn find_availability(&self, query: &FindQuery) -> Result<Option<Availability>, MarketError> {
        Ok(self.find_availability_with_stats(query)?.0)
    }

    /// [`find_availability`](Self::find_availability), also saying what the
    /// search cost.
    ///
    /// # Errors
    /// As [`find_availability`](Self::find_availability).
    pub fn find_availability_with_stats(
        &self,
        query: &FindQuery,
    ) -> Result<(Option<Availability>, FindStats), MarketError> {
        find_in_store(&self.store, query)
    }

    /// The same answer as Codex computes it: the first matching
    /// availability in id order, reading every one before it. `O(n)`; kept
    /// as the reference the index is checked and benchmarked against.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn find_availability_by_scan(
        &self,
        query: &FindQuery,
    ) -> Result<(Option<Availability>, FindStats), MarketError> {
        let mut stats = FindStats::default();
        let found = index::scan(&self.store, query, &mut stats)?;
        Ok((found, stats))
    }

    /// Checks that the find index holds exactly the enabled availabilities,
    /// with their current values (a test aid; reads the whole index).
    ///
    /// # Errors
    /// [`MarketError::Corrupt`] describing the first difference.
    pub fn check_index(&self) -> Result<(), MarketError> {
        let snapshot = self.snapshot()?;
        let mut expected = BTreeMap::new();
        {
            let mut txn = Txn::new(&self.store);
            for availability in &snapshot.availabilities {
                index::write_entries(&mut txn, None, Some(availability))?;
            }
            for op in txn.into_batch().into_parts().0 {
                if let tally_store::Op::Put { key, value } = op {
                    expected.insert(key, value);
                }
            }
        }
        let mut found = BTreeMap::new();
        for dimension in 0..index::DIMENSIONS {
            for entry in scan_all(&self.store, &keys::index_prefix(dimension), 1_000) {
                let entry = entry?;
                found.insert(entry.key, entry.value);
            }
        }
        if expected != found {
            let missing = expected.keys().filter(|key| !found.contains_key(*key)).count();
            let extra = found.keys().filter(|key| !expected.contains_key(*key)).count();
            return Err(MarketError::corrupt(format!(
                "find index differs: {missing} entries missing, {extra} extra, or values differ"
            )));
        }
        Ok(())
    }
}

pub(crate) fn find_in_store<S: Store + ?Sized>(
    store: &S,
    query: &FindQuery,
) -> Result<(Option<Availability>, FindStats), MarketError> {
    let mut stats = FindStats::default();
    for _ in 0..MAX_READ_ATTEMPTS {
        let (_, before) = read_quota(store)?;
        let found = match index::search(store, query, &mut stats)? {
            Some(id) => match read_as::<_, Availability>(store, &keys::availability(&id))? {
                Some(availability) if rules::matches(&availability, query) => Some(availability),
                // The index moved under the search; look again.
                _ => continue,
            },
            None => None,
        };
        if read_quota(store)?.1 == before {
            return Ok((found, stats));
        }
    }
    Err(MarketError::Limit {
        what: "find attempts under concurrent writes",
        max: u64::from(MAX_READ_ATTEMPTS),
    })
}

fn consistent_read<S: Store + ?Sized, T>(
    store: &S,
    mut read: impl FnMut() -> Result<T, MarketError>,
) -> Result<(Quota, T), MarketError> {
    for _ in 0..MAX_READ_ATTEMPTS {
        let (quota, before) = read_quota(store)?;
        let value = read()?;
        if read_quota(store)?.1 == before {
            return Ok((quota, value));
        }
    }
    Err(MarketError::Limit {
        what: "snapshot attempts under concurrent writes",
        max: u64::from(MAX_READ_ATTEMPTS),
    })
}

fn read_quota<S: Store + ?Sized>(store: &S) -> Result<(Quota, u64), MarketError> {
    let key = keys::quota();
    match store.get(&key)? {
        Some(versioned) => Ok((decode(&key, &versioned.value)?, versioned.version)),
        None => Err(MarketError::corrupt(
            "no quota record: open the store with Reservations::open",
        )),
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, MarketError> {
    codec::decode(bytes).map_err(|error| MarketError::Store(tally_store::StoreError::codec(key, error)))
}

pub(crate) fn read_as<S: Store + ?Sized, T: serde::de::DeserializeOwned>(
    store: &S,
    key: &[u8],
) -> Result<Option<T>, MarketError> {
    match store.get(key)? {
        Some(versioned) => decode(key, &versioned.value).map(Some),
        None => Ok(None),
    }
}

fn read_all<S: Store + ?Sized, T: serde::de::DeserializeOwned>(
    store: &S,
    prefix: &[u8],
) -> Result<Vec<T>, MarketError> {
    let mut out = Vec::new();
    for entry in scan_all(store, prefix, 1_000) {
        let entry = entry?;
        out.push(decode(&entry.key, &entry.value)?);
    }
    Ok(out)
}

fn list<S: Store + ?Sized, T: serde::de::DeserializeOwned>(
    store: &S,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<T>, MarketError> {
    let page = store.scan(prefix, after, limit.clamp(1, MAX_LIST))?;
    page.entries
        .iter()
        .map(|entry| decode(&entry.key, &entry.value))
        .collect()
}

// ---------------------------------------------------------------------------
// The operations inside a caller's transaction, shared with the sales shell
// so that a sale's state and its reservation change in one commit.
// ---------------------------------------------------------------------------

pub(crate) fn load_quota<S: Store + ?Sized>(txn: &mut Txn<'_, S>) -> Result<Quota, MarketError> {
    txn.get_as(&keys::quota())?
        .ok_or_else(|| MarketError::corrupt("no quota record: open the store with Reservations::open"))
}

pub(crate) fn load_availability<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &AvailabilityId,
) -> Result<Option<Availability>, MarketError> {
    Ok(txn.get_as(&keys::availability(id))?)
}

pub(crate) fn load_reservation<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &ReservationId,
) -> Result<Option<Reservation>, MarketError> {
    Ok(txn.get_as(&keys::reservation(id))?)
}

fn require_reservation<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &ReservationId,
) -> Result<Reservation, MarketError> {
    load_reservation(txn, id)?.ok_or(MarketError::NotExists {
        kind: RecordKind::Reservation,
        id: id.0,
    })
}

/// Buffers the writes of `change` (records, indexes, quota).
pub(crate) fn apply<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    old_availability: Option<&Availability>,
    old_reservation: Option<&Reservation>,
    change: &Change,
) -> Result<(), MarketError> {
    if let Some(quota) = &change.quota {
        txn.put_as(keys::quota(), quota)?;
    }
    match &change.availability {
        Some(Write::Put(availability)) => {
            txn.put_as(keys::availability(&availability.id), availability)?;
            index::write_entries(txn, old_availability, Some(availability))?;
        }
        Some(Write::Delete) => {
            if let Some(old) = old_availability {
                txn.delete(keys::availability(&old.id));
                index::write_entries(txn, Some(old), None)?;
            }
        }
        None => {}
    }
    match &change.reservation {
        Some(Write::Put(reservation)) => {
            txn.put_as(keys::reservation(&reservation.id), reservation)?;
            if old_reservation.is_none() {
                txn.put_as(
                    keys::by_availability(
                        &reservation.availability_id,
                        reservation.valid_until_secs,
                        &reservation.id,
                    ),
                    &(),
                )?;
                txn.put_as(
                    keys::slot_reservation(&reservation.request_id, reservation.slot_index),
                    &reservation.id,
                )?;
            }
        }
        Some(Write::Delete) => {
            if let Some(old) = old_reservation {
                txn.delete(keys::reservation(&old.id));
                txn.delete(keys::by_availability(
                    &old.availability_id,
                    old.valid_until_secs,
                    &old.id,
                ));
                txn.delete(keys::slot_reservation(&old.request_id, old.slot_index));
            }
        }
        None => {}
    }
    Ok(())
}

pub(crate) fn create_availability_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    spec: &AvailabilitySpec,
) -> Result<Applied<Availability>, MarketError> {
    let quota = load_quota(txn)?;
    let existing = load_availability(txn, &spec.id)?;
    let (availability, change) = rules::create_availability(&quota, existing.as_ref(), spec)?;
    apply(txn, existing.as_ref(), None, &change)?;
    Ok(Applied::new(availability, &change))
}

pub(crate) fn update_availability_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &AvailabilityId,
    update: &AvailabilityUpdate,
) -> Result<Applied<Availability>, MarketError> {
    let quota = load_quota(txn)?;
    let current = load_availability(txn, id)?.ok_or(MarketError::NotExists {
        kind: RecordKind::Availability,
        id: id.0,
    })?;
    let longest = match update.until_secs {
        Some(_) => {
            let page = txn.scan_guarded(&keys::availability(id), &keys::by_availability_prefix(id), None, 1)?;
            match page.entries.first() {
                Some(entry) => Some(keys::read_by_availability(&entry.key)?.0),
                None => None,
            }
        }
        None => None,
    };
    let (availability, change) = rules::update_availability(&quota, &current, update, longest)?;
    apply(txn, Some(&current), None, &change)?;
    Ok(Applied::new(availability, &change))
}

pub(crate) fn create_reservation_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    spec: &ReservationSpec,
) -> Result<Applied<Reservation>, MarketError> {
    let quota = load_quota(txn)?;
    let existing = load_reservation(txn, &spec.id)?;
    let holder: Option<ReservationId> = txn.get_as(&keys::slot_reservation(&spec.request_id, spec.slot_index))?;
    let holder = holder.filter(|holder| *holder != spec.id);
    let availability = load_availability(txn, &spec.availability_id)?;
    let (reservation, change) =
        rules::create_reservation(&quota, availability.as_ref(), existing.as_ref(), holder, spec)?;
    apply(txn, availability.as_ref(), existing.as_ref(), &change)?;
    Ok(Applied::new(reservation, &change))
}

pub(crate) fn release_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &ReservationId,
    bytes: u64,
    op: OpId,
) -> Result<Applied<Reservation>, MarketError> {
    let quota = load_quota(txn)?;
    let reservation = require_reservation(txn, id)?;
    let change = rules::release(&quota, &reservation, bytes, op)?;
    apply(txn, None, Some(&reservation), &change)?;
    let value = match &change.reservation {
        Some(Write::Put(next)) => next.clone(),
        _ => reservation,
    };
    Ok(Applied::new(value, &change))
}

pub(crate) fn return_bytes_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &ReservationId,
    bytes: u64,
    op: OpId,
) -> Result<Applied<Reservation>, MarketError> {
    let quota = load_quota(txn)?;
    let reservation = require_reservation(txn, id)?;
    let availability = load_availability(txn, &reservation.availability_id)?.ok_or_else(|| {
        MarketError::corrupt(format!(
            "reservation {} belongs to missing availability {}",
            reservation.id, reservation.availability_id
        ))
    })?;
    let change = rules::return_bytes(&quota, &availability, &reservation, bytes, op)?;
    apply(txn, Some(&availability), Some(&reservation), &change)?;
    let value = match &change.reservation {
        Some(Write::Put(next)) => next.clone(),
        _ => reservation,
    };
    Ok(Applied::new(value, &change))
}

/// Deletes a reservation inside `txn`; also returns the record as it was.
pub(crate) fn delete_reservation_in<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    id: &ReservationId,
    returned_collateral: U256,
) -> Result<(Option<Reservation>, Applied<()>), MarketError> {
    let quota = load_quota(txn)?;
    let reservation = load_reservation(txn, id)?;
    let availability = match &reservation {
        Some(reservation) => load_availability(txn, &reservation.availability_id)?,
        None => None,
    };
    let change = rules::delete_reservation(&quota, availability.as_ref(), reservation.as_ref(), returned_collateral)?;
    apply(txn, availability.as_ref(), reservation.as_ref(), &change)?;
    let applied = Applied::new((), &change);
    Ok((reservation, applied))
}
