//! The find index: how [`Reservations::find_availability`] finds a matching
//! availability without reading them all.
//!
//! A match must pass five range conditions at once (Codex's sixth,
//! `enabled`, is kept by indexing enabled availabilities only):
//!
//! | dimension | condition | indexed value (ascending) |
//! |---|---|---|
//! | 0 free size | `size ≤ free` | `free` |
//! | 1 duration | `duration ≤ a.duration` | `a.duration` |
//! | 2 price | `price ≥ a.min_price` | `U256::MAX − a.min_price` |
//! | 3 collateral | `collateral_per_byte ≤ a.max_collateral_per_byte` | `a.max_collateral_per_byte` |
//! | 4 until | `a.until = 0 ∨ a.until ≥ valid_until` | `a.until`, with `0` as `u64::MAX` |
//!
//! Each dimension keeps every enabled availability once, ordered so that
//! the ones passing its condition are exactly the keys from a seek point to
//! the end, and each entry carries all five values, so an entry is checked
//! against the whole query without reading the availability.
//!
//! The search walks the five ranges side by side, a page from each in turn
//! (pages double from 4 to 512 entries), and stops at the first entry that
//! passes everything. It also stops, with no match, as soon as **one**
//! range is used up: every match passes that range's condition, so every
//! match would have been in it. The cost is therefore at most about ten
//! times the length of the *shortest* walk to a match (or, with no match,
//! of the smallest range), plus a seek per page. Whenever one condition is
//! selective, that is small, however many availabilities there are.
//!
//! The worst case is a query that no single condition narrows but the
//! conjunction does (say each condition passes half the availabilities and
//! no availability passes all five, by anti-correlated values): then every
//! range is long and the search reads in proportion to them. A linear scan
//! ([`Reservations::find_availability_by_scan`], Codex's algorithm) reads
//! every availability up to the first match in any case.
//!
//! Which availability is returned among several matches is deterministic
//! for a given state and otherwise unspecified, as in Codex.
//!
//! [`Reservations::find_availability`]: crate::Reservations::find_availability
//! [`Reservations::find_availability_by_scan`]: crate::Reservations::find_availability_by_scan

use primitive_types::U256;
use serde::{Deserialize, Serialize};
use tally_store::{Store, Txn, codec};

use crate::error::MarketError;
use crate::keys;
use crate::reservations::rules::{Availability, FindQuery, matches_parts};
use crate::types::{AvailabilityId, u256_bytes};

/// The number of indexed dimensions.
pub(crate) const DIMENSIONS: u8 = 5;
const FIRST_PAGE: usize = 4;
const MAX_PAGE: usize = 512;

/// What an index entry holds: everything a query checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    free_size_bytes: u64,
    duration_secs: u64,
    #[serde(with = "u256_bytes")]
    min_price_per_byte_per_second: U256,
    #[serde(with = "u256_bytes")]
    max_collateral_per_byte: U256,
    until_secs: u64,
}

impl IndexEntry {
    fn of(availability: &Availability) -> IndexEntry {
        IndexEntry {
            free_size_bytes: availability.free_size_bytes,
            duration_secs: availability.duration_secs,
            min_price_per_byte_per_second: availability.min_price_per_byte_per_second,
            max_collateral_per_byte: availability.max_collateral_per_byte(),
            until_secs: availability.until_secs,
        }
    }

    fn matches(&self, query: &FindQuery) -> bool {
        matches_parts(
            true,
            self.free_size_bytes,
            self.duration_secs,
            self.max_collateral_per_byte,
            self.min_price_per_byte_per_second,
            self.until_secs,
            query,
        )
    }

    /// The entry's sort value in `dimension`.
    fn ordered(&self, dimension: u8) -> Vec<u8> {
        match dimension {
            0 => self.free_size_bytes.to_be_bytes().to_vec(),
            1 => self.duration_secs.to_be_bytes().to_vec(),
            2 => (U256::MAX - self.min_price_per_byte_per_second)
                .to_big_endian()
                .to_vec(),
            3 => self.max_collateral_per_byte.to_big_endian().to_vec(),
            _ => until_order(self.until_secs).to_be_bytes().to_vec(),
        }
    }
}

fn until_order(until_secs: u64) -> u64 {
    if until_secs == 0 { u64::MAX } else { until_secs }
}

/// The seek point of `query` in `dimension`: every key after it passes the
/// dimension's condition, every key before it fails it.
fn seek(dimension: u8, query: &FindQuery) -> Vec<u8> {
    let bound = match dimension {
        0 => query.size_bytes.to_be_bytes().to_vec(),
        1 => query.duration_secs.to_be_bytes().to_vec(),
        2 => (U256::MAX - query.price_per_byte_per_second).to_big_endian().to_vec(),
        3 => query.collateral_per_byte.to_big_endian().to_vec(),
        _ => query.valid_until_secs.to_be_bytes().to_vec(),
    };
    let mut key = keys::index_prefix(dimension);
    key.extend_from_slice(&bound);
    key
}

/// Replaces the index entries of an availability that changed from `old`
/// to `new` (either may be absent; disabled ones are not indexed).
pub(crate) fn write_entries<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    old: Option<&Availability>,
    new: Option<&Availability>,
) -> Result<(), MarketError> {
    let old_entry = old.filter(|a| a.enabled).map(|a| (a.id, IndexEntry::of(a)));
    let new_entry = new.filter(|a| a.enabled).map(|a| (a.id, IndexEntry::of(a)));
    if old_entry == new_entry {
        return Ok(());
    }
    for dimension in 0..DIMENSIONS {
        let old_key = old_entry
            .as_ref()
            .map(|(id, entry)| keys::index(dimension, &entry.ordered(dimension), id));
        let new_key = new_entry
            .as_ref()
            .map(|(id, entry)| keys::index(dimension, &entry.ordered(dimension), id));
        if let Some(old_key) = old_key
            && Some(&old_key) != new_key.as_ref()
        {
            txn.delete(old_key);
        }
        if let (Some(key), Some((_, entry))) = (new_key, new_entry.as_ref()) {
            txn.put_as(key, entry)?;
        }
    }
    Ok(())
}

/// What a search cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindStats {
    /// Index entries (or, for the scan, availabilities) checked.
    pub entries_examined: u64,
    /// Store reads (scan pages).
    pub pages_read: u64,
}

/// Searches the index; see the [module docs](self). Plain store reads: the
/// caller confirms the candidate.
pub(crate) fn search<S: Store + ?Sized>(
    store: &S,
    query: &FindQuery,
    stats: &mut FindStats,
) -> Result<Option<AvailabilityId>, MarketError> {
    let prefixes: Vec<Vec<u8>> = (0..DIMENSIONS).map(keys::index_prefix).collect();
    let mut cursors: Vec<Vec<u8>> = (0..DIMENSIONS).map(|dimension| seek(dimension, query)).collect();
    let mut page_size = FIRST_PAGE;
    // Each round reads at least one entry per dimension or ends the search,
    // so the loop ends after at most (availabilities + 1) rounds.
    loop {
        for dimension in 0..usize::from(DIMENSIONS) {
            let page = store.scan(&prefixes[dimension], Some(&cursors[dimension]), page_size)?;
            stats.pages_read += 1;
            for entry in &page.entries {
                stats.entries_examined += 1;
                let indexed: IndexEntry = codec::decode(&entry.value)
                    .map_err(|error| MarketError::corrupt(format!("find index entry: {error}")))?;
                if indexed.matches(query) {
                    return id_of(&entry.key).map(Some);
                }
            }
            if !page.more {
                return Ok(None);
            }
            match page.entries.last() {
                Some(last) => cursors[dimension].clone_from(&last.key),
                None => return Ok(None),
            }
        }
        page_size = (page_size * 2).min(MAX_PAGE);
    }
}

fn id_of(key: &[u8]) -> Result<AvailabilityId, MarketError> {
    key.len()
        .checked_sub(32)
        .and_then(|start| key[start..].try_into().ok())
        .map(AvailabilityId)
        .ok_or_else(|| MarketError::corrupt("find index key too short"))
}

/// Codex's algorithm, for comparison: the first availability in id order
/// that matches, reading every one before it.
pub(crate) fn scan<S: Store + ?Sized>(
    store: &S,
    query: &FindQuery,
    stats: &mut FindStats,
) -> Result<Option<Availability>, MarketError> {
    let prefix = keys::availability_prefix();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan(&prefix, after.as_deref(), 1_000)?;
        stats.pages_read += 1;
        for entry in &page.entries {
            stats.entries_examined += 1;
            let availability: Availability = codec::decode(&entry.value)
                .map_err(|error| MarketError::corrupt(format!("availability record: {error}")))?;
            if crate::reservations::rules::matches(&availability, query) {
                return Ok(Some(availability));
            }
        }
        match page.next_after() {
            Some(last) => after = Some(last.to_vec()),
            None => return Ok(None),
        }
    }
}
