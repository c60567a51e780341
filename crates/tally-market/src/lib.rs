//! Storage-marketplace sales after nim-codex (work in progress).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod periods;
pub mod reservations;
pub mod sales;
pub mod sim;
pub mod slot_queue;
pub mod types;

pub use error::{MarketError, RecordKind};
pub use reservations::rules::{
    Availability, AvailabilitySpec, AvailabilityUpdate, Change, FindQuery, MAX_AVAILABILITIES, MAX_REMEMBERED_OPS,
    MAX_RESERVATIONS, Quota, Reservation, ReservationSpec, Write, matches,
};
pub use reservations::{Applied, FindStats, MAX_LIST, Reservations, Snapshot};
pub use types::{
    Address, AvailabilityId, HexError, Nonce, OpId, RequestId, RequestState, ReservationId, SlotId, SlotRef, SlotState,
    StorageAsk, StorageContent, StorageRequest, keccak256, parse_amount, slot_collateral, slot_id,
};

/// Re-exported: the 256-bit unsigned integer token amounts are.
pub use primitive_types::U256;
