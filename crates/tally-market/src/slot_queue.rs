//! The slot queue: which slots of which storage requests a host considers
//! next (Codex's `SlotQueue`), as a plain bounded priority queue.
//!
//! Every slot of every storage request the host hears of is pushed
//! ([`SlotQueueItem::expand`]); slots freed for repair are pushed again;
//! slots filled, and requests cancelled, failed or fulfilled, are deleted.
//! The host's workers [`pop`](SlotQueue::pop) the best item and try to sell
//! it. Priority, highest first:
//!
//! 1. not yet `seen` (a slot already tried and ignored for lack of a
//!    matching availability comes last);
//! 2. higher profitability (`duration × price per byte per second × slot
//!    size`, what the slot pays);
//! 3. lower collateral;
//! 4. longer expiry (an item without expiry counts as expiring at 0);
//! 5. a tie-break hashed from a per-host salt, the request id and the slot
//!    index: deterministic for a host, different between hosts (Codex
//!    shuffles a request's slots at random so that hosts spread out).
//!
//! Codex orders items with a weighted score (bits 4 to 1 for the four
//! criteria); since each bit outweighs all lower ones together, that is the
//! lexicographic order above.
//!
//! The queue holds at most `max_size` items: pushing into a full queue
//! drops the lowest-priority item (possibly the one pushed). Duplicates
//! (same request and slot) are refused. The queue starts paused; pushing an
//! unseen item unpauses it; popping a `seen` item pauses it (and leaves the
//! item queued), so a host whose availabilities cannot take anything stops
//! spinning until [`clear_seen_flags`](SlotQueue::clear_seen_flags) (called
//! when an availability is saved) or a new slot arrives.
//!
//! Sans-IO: no workers or tasks live here; a host (or [`Sales`]) pops
//! while it has a free worker.
//!
//! [`Sales`]: crate::sales::Sales

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::error::MarketError;
use crate::types::{RequestId, SlotRef, StorageAsk, keccak256, u256_bytes};

/// Codex's default queue size.
pub const DEFAULT_MAX_SIZE: u16 = 128;

/// One slot to consider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotQueueItem {
    /// The request.
    pub request_id: RequestId,
    /// The slot.
    pub slot_index: u16,
    /// The slot size.
    pub slot_size_bytes: u64,
    /// The contract duration.
    pub duration_secs: u64,
    /// What the request pays per byte per second.
    #[serde(with = "u256_bytes")]
    pub price_per_byte_per_second: U256,
    /// The collateral per byte the request demands.
    #[serde(with = "u256_bytes")]
    pub collateral_per_byte: U256,
    /// The collateral to lock for this slot (less for a repair; see
    /// [`slot_collateral`](crate::slot_collateral)).
    #[serde(with = "u256_bytes")]
    pub collateral: U256,
    /// When the request expires unless filled.
    pub expiry_secs: Option<u64>,
    /// Tried and ignored before.
    pub seen: bool,
}

impl SlotQueueItem {
    /// An unseen item for one slot.
    pub fn new(
        request_id: RequestId,
        slot_index: u16,
        ask: &StorageAsk,
        expiry_secs: Option<u64>,
        collateral: U256,
    ) -> SlotQueueItem {
        SlotQueueItem {
            request_id,
            slot_index,
            slot_size_bytes: ask.slot_size_bytes,
            duration_secs: ask.duration_secs,
            price_per_byte_per_second: ask.price_per_byte_per_second,
            collateral_per_byte: ask.collateral_per_byte,
            collateral,
            expiry_secs,
            seen: false,
        }
    }

    /// One unseen item for every slot of a request, in index order.
    ///
    /// # Errors
    /// [`MarketError::SlotsOutOfRange`] for more than `u16::MAX` slots.
    pub fn expand(
        request_id: RequestId,
        ask: &StorageAsk,
        expiry_secs: Option<u64>,
        collateral: U256,
    ) -> Result<Vec<SlotQueueItem>, MarketError> {
        let slots = u16::try_from(ask.slots).map_err(|_| MarketError::SlotsOutOfRange { slots: ask.slots })?;
        Ok((0..slots)
            .map(|index| SlotQueueItem::new(request_id, index, ask, expiry_secs, collateral))
            .collect())
    }

    /// The slot.
    pub fn slot(&self) -> SlotRef {
        SlotRef {
            request_id: self.request_id,
            slot_index: u64::from(self.slot_index),
        }
    }

    /// What the slot pays over its duration (`U256::MAX` if that overflows).
    pub fn profitability(&self) -> U256 {
        self.price_per_byte_per_second
            .checked_mul(U256::from(self.slot_size_bytes))
            .and_then(|per_second| per_second.checked_mul(U256::from(self.duration_secs)))
            .unwrap_or(U256::MAX)
    }

    /// Compares by the queue's priority criteria 1 to 4 only: `Less` means
    /// `self` goes first (Codex's `<`); `Equal` means no criterion decides.
    pub fn priority_cmp(&self, other: &SlotQueueItem) -> Ordering {
        self.seen
            .cmp(&other.seen)
            .then_with(|| other.profitability().cmp(&self.profitability()))
            .then_with(|| self.collateral.cmp(&other.collateral))
            .then_with(|| other.expiry_secs.unwrap_or(0).cmp(&self.expiry_secs.unwrap_or(0)))
    }
}

/// The queue's sort key: the priority criteria, then the tie-break.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    seen: bool,
    profitability: Reverse<U256>,
    collateral: U256,
    expiry_secs: Reverse<u64>,
    tiebreak: [u8; 32],
    request_id: RequestId,
    slot_index: u16,
}

/// What [`SlotQueue::push`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The item is queued (and, if the queue was full, this lowest item was
    /// dropped to make room).
    Queued {
        /// The item dropped, if any.
        dropped: Option<SlotQueueItem>,
    },
    /// The queue was full and the item itself ranks lowest: not queued.
    Dropped,
}

/// A bounded priority queue of slots; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SlotQueue {
    max_size: u16,
    salt: [u8; 32],
    items: BTreeMap<Key, SlotQueueItem>,
    by_slot: BTreeMap<(RequestId, u16), Key>,
    paused: bool,
}

impl SlotQueue {
    /// An empty, paused queue of at most `max_size` items (at least 1);
    /// `salt` seeds the tie-break (a host picks it at random once).
    ///
    /// # Errors
    /// [`MarketError::Invalid`] for a zero size.
    pub fn new(max_size: u16, salt: [u8; 32]) -> Result<SlotQueue, MarketError> {
        if max_size == 0 {
            return Err(MarketError::Invalid {
                field: "max_size",
                reason: "the slot queue holds at least one item".into(),
            });
        }
        Ok(SlotQueue {
            max_size,
            salt,
            items: BTreeMap::new(),
            by_slot: BTreeMap::new(),
            paused: true,
        })
    }

    fn key(&self, item: &SlotQueueItem) -> Key {
        let mut preimage = Vec::with_capacity(66);
        preimage.extend_from_slice(&self.salt);
        preimage.extend_from_slice(item.request_id.as_bytes());
        preimage.extend_from_slice(&item.slot_index.to_be_bytes());
        Key {
            seen: item.seen,
            profitability: Reverse(item.profitability()),
            collateral: item.collateral,
            expiry_secs: Reverse(item.expiry_secs.unwrap_or(0)),
            tiebreak: keccak256(&preimage),
            request_id: item.request_id,
            slot_index: item.slot_index,
        }
    }

    /// The most items the queue holds.
    pub fn max_size(&self) -> u16 {
        self.max_size
    }

    /// How many items are queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether [`pop`](Self::pop) is held back.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Holds [`pop`](Self::pop) back.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Lets [`pop`](Self::pop) go on.
    pub fn unpause(&mut self) {
        self.paused = false;
    }

    /// Whether the slot is queued.
    pub fn contains(&self, request_id: &RequestId, slot_index: u16) -> bool {
        self.by_slot.contains_key(&(*request_id, slot_index))
    }

    /// The queued items, highest priority first.
    pub fn items(&self) -> impl Iterator<Item = &SlotQueueItem> {
        self.items.values()
    }

    /// Queues `item`; unpauses the queue if the item is unseen.
    ///
    /// # Errors
    /// [`MarketError::SlotQueueItemExists`] when the slot is queued already.
    pub fn push(&mut self, item: SlotQueueItem) -> Result<Pushed, MarketError> {
        if self.contains(&item.request_id, item.slot_index) {
            return Err(MarketError::SlotQueueItemExists {
                request_id: item.request_id,
                slot_index: item.slot_index,
            });
        }
        let unseen = !item.seen;
        let key = self.key(&item);
        self.by_slot.insert((item.request_id, item.slot_index), key.clone());
        self.items.insert(key.clone(), item);
        let mut outcome = Pushed::Queued { dropped: None };
        if self.items.len() > usize::from(self.max_size)
            && let Some((lowest_key, lowest)) = self.items.pop_last()
        {
            self.by_slot.remove(&(lowest.request_id, lowest.slot_index));
            outcome = if lowest_key == key {
                Pushed::Dropped
            } else {
                Pushed::Queued { dropped: Some(lowest) }
            };
        }
        if unseen && outcome != Pushed::Dropped {
            self.paused = false;
        }
        debug_assert!(self.items.len() <= usize::from(self.max_size));
        debug_assert_eq!(self.items.len(), self.by_slot.len());
        Ok(outcome)
    }

    /// Pushes every item, stopping at the first error (as Codex does).
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_all(&mut self, items: impl IntoIterator<Item = SlotQueueItem>) -> Result<(), MarketError> {
        for item in items {
            self.push(item)?;
        }
        Ok(())
    }

    /// Takes the highest-priority item, unless the queue is paused or empty.
    /// If that item was `seen`, the queue pauses instead and keeps it (a
    /// host that could not take it before will not now, until something
    /// changes).
    pub fn pop(&mut self) -> Option<SlotQueueItem> {
        if self.paused {
            return None;
        }
        let (key, item) = self.items.first_key_value()?;
        if item.seen {
            self.paused = true;
            return None;
        }
        let key = key.clone();
        let item = self.items.remove(&key)?;
        self.by_slot.remove(&(item.request_id, item.slot_index));
        debug_assert_eq!(self.items.len(), self.by_slot.len());
        Some(item)
    }

    /// Removes one slot; says whether it was queued.
    pub fn delete(&mut self, request_id: &RequestId, slot_index: u16) -> bool {
        match self.by_slot.remove(&(*request_id, slot_index)) {
            Some(key) => self.items.remove(&key).is_some(),
            None => false,
        }
    }

    /// Removes every slot of a request; returns how many.
    pub fn delete_request(&mut self, request_id: &RequestId) -> usize {
        let slots: Vec<u16> = self
            .by_slot
            .range((*request_id, 0)..=(*request_id, u16::MAX))
            .map(|((_, index), _)| *index)
            .collect();
        slots.iter().filter(|index| self.delete(request_id, **index)).count()
    }

    /// Marks every item unseen (Codex's `clearSeenFlags`), reordering them.
    pub fn clear_seen_flags(&mut self) {
        let items: Vec<SlotQueueItem> = std::mem::take(&mut self.items).into_values().collect();
        self.by_slot.clear();
        for mut item in items {
            item.seen = false;
            let key = self.key(&item);
            self.by_slot.insert((item.request_id, item.slot_index), key.clone());
            self.items.insert(key, item);
        }
    }
}
