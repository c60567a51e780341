//! [`MarketError`]: every way a tally-market call can fail, typed.

use primitive_types::U256;
use tally_store::StoreError;

use crate::types::{AvailabilityId, ReservationId, SlotId, SlotRef};

/// Which kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An [`Availability`](crate::Availability).
    Availability,
    /// A [`Reservation`](crate::Reservation).
    Reservation,
    /// A sales [`Agent`](crate::sales::Agent).
    Agent,
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordKind::Availability => "availability",
            RecordKind::Reservation => "reservation",
            RecordKind::Agent => "sales agent",
        })
    }
}

/// Everything that can go wrong in tally-market.
///
/// The reservation variants correspond to Codex's `ReservationsError`
/// family (`NotExistsError`, `BytesOutOfBoundsError`,
/// `UntilOutOfBoundsError`, the quota's `QuotaNotEnoughError`); a refused
/// operation has changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// The store failed. After a failed commit the call may or may not have
    /// applied (a lost acknowledgement); calling again is safe, because every
    /// write is idempotent (see the crate docs).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The marketplace contract refused the operation (see
    /// [`ContractError`](crate::marketplace::ContractError)); nothing changed.
    #[error(transparent)]
    Contract(#[from] crate::marketplace::ContractError),
    /// The record does not exist.
    #[error("{kind} {id} does not exist", id = hex::encode(id))]
    NotExists {
        /// What was looked for.
        kind: RecordKind,
        /// Its id.
        id: [u8; 32],
    },
    /// A record with this id exists and was created with other parameters
    /// (creating it again with the same parameters is a no-op, so that a
    /// retry after a lost acknowledgement succeeds).
    #[error("{kind} {id} already exists with other parameters", id = hex::encode(id))]
    AlreadyExists {
        /// What was created.
        kind: RecordKind,
        /// Its id.
        id: [u8; 32],
    },
    /// More bytes were asked for than there are: a reservation larger than
    /// the availability's free size, a release larger than what the
    /// reservation still holds, a return larger than what it stored, or a
    /// shrink below what is free.
    #[error("asked for {requested_bytes} bytes but only {available_bytes} are there")]
    BytesOutOfBounds {
        /// What the call needed.
        requested_bytes: u64,
        /// What there was.
        available_bytes: u64,
    },
    /// An availability's `until` would end before a slot it hosts (or is
    /// asked to host) ends.
    #[error("until {until_secs} is before the end of a hosted slot ({valid_until_secs})")]
    UntilOutOfBounds {
        /// The availability's `until`.
        until_secs: u64,
        /// The end of the slot that does not fit.
        valid_until_secs: u64,
    },
    /// The node's storage quota cannot cover the bytes.
    #[error("quota cannot cover {requested_bytes} more bytes ({available_bytes} left)")]
    QuotaNotEnough {
        /// What the call needed.
        requested_bytes: u64,
        /// `max − used − reserved`.
        available_bytes: u64,
    },
    /// More collateral was asked for, or given back, than there is.
    #[error("collateral {requested} exceeds the {available} available")]
    CollateralOutOfBounds {
        /// What the call needed or returned.
        requested: U256,
        /// What there was.
        available: U256,
    },
    /// An availability with reservations cannot be deleted.
    #[error("availability {availability_id} still has reservations")]
    HasReservations {
        /// The availability.
        availability_id: AvailabilityId,
    },
    /// The slot already has a reservation (one per slot).
    #[error("slot {slot_index} of request {request_id} is already reserved by {reservation_id}",
            request_id = slot.request_id, slot_index = slot.slot_index)]
    SlotAlreadyReserved {
        /// The slot.
        slot: SlotRef,
        /// The reservation holding it.
        reservation_id: ReservationId,
    },
    /// An input is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An amount or size computation would overflow.
    #[error("{what} overflows")]
    Overflow {
        /// Which computation.
        what: &'static str,
    },
    /// A limit of this crate would be exceeded.
    #[error("{what}: limit of {max} reached")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        max: u64,
    },
    /// Stored records are unreadable or contradict each other (a bug, or
    /// another program writing this crate's keys).
    #[error("corrupt market records: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },
    /// The slot is already in the slot queue.
    #[error("slot {slot_index} of request {request_id} is already queued")]
    SlotQueueItemExists {
        /// The request.
        request_id: crate::types::RequestId,
        /// The slot.
        slot_index: u16,
    },
    /// A request has more slots than the queue can index (`u16::MAX`).
    #[error("{slots} slots; the slot queue takes at most {max}", max = u16::MAX)]
    SlotsOutOfRange {
        /// How many slots the request has.
        slots: u64,
    },
    /// No sales agent for the slot.
    #[error("no sales agent for slot {slot_id}")]
    AgentNotFound {
        /// The slot.
        slot_id: SlotId,
    },
    /// A sales agent for the slot exists already.
    #[error("a sales agent for slot {slot_id} exists already")]
    AgentExists {
        /// The slot.
        slot_id: SlotId,
    },
    /// The sales machine got an input its state does not accept.
    #[error("sales state {state} does not accept {input}")]
    UnexpectedInput {
        /// The agent's state.
        state: &'static str,
        /// The input.
        input: &'static str,
    },
    /// The proof computation needs a block hash that was not given.
    #[error("block hash {pointer} blocks back is missing ({given} given)")]
    MissingBlockHash {
        /// How far back (the pointer).
        pointer: u8,
        /// How many hashes were given.
        given: usize,
    },
}

impl MarketError {
    /// The kind a JSON tool reports (`examples/market-cli.rs`):
    /// `not_exists`, `bytes_out_of_bounds`, `until_out_of_bounds`,
    /// `quota_not_enough`, `store` (the store failed or records are corrupt),
    /// a marketplace refusal's own kind ([`ContractError::kind`](crate::marketplace::ContractError::kind))
    /// or `invalid` (everything else: a refused input).
    pub fn kind(&self) -> &'static str {
        match self {
            MarketError::NotExists { .. } | MarketError::AgentNotFound { .. } => "not_exists",
            MarketError::BytesOutOfBounds { .. } => "bytes_out_of_bounds",
            MarketError::UntilOutOfBounds { .. } => "until_out_of_bounds",
            MarketError::QuotaNotEnough { .. } => "quota_not_enough",
            MarketError::Store(_) | MarketError::Corrupt { .. } => "store",
            MarketError::Contract(refusal) => refusal.kind(),
            _ => "invalid",
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> MarketError {
        MarketError::Corrupt { reason: reason.into() }
    }
}

impl From<tally_store::key::KeyError> for MarketError {
    fn from(error: tally_store::key::KeyError) -> Self {
        MarketError::corrupt(format!("key: {error}"))
    }
}
