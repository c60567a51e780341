//! Storage-marketplace sales after [nim-codex]: a storage host's
//! availabilities, the per-slot reservations carved out of them, the slot
//! queue, and the sales state machine that takes a slot from "a request was
//! posted" to "paid", persisted through any tally [`Store`](tally_store::Store).
//!
//! A host offers storage as **availabilities** (so many bytes, for so long,
//! at no less than this price, with this much collateral). Clients post
//! **storage requests** split into **slots**. For each slot it considers
//! (in [slot queue](slot_queue) order), the host finds a matching
//! availability, **reserves** the slot's bytes and collateral in it,
//! reserves the slot on chain, downloads the data (each stored batch turns
//! reserved bytes into used ones), proves it, fills the slot, proves every
//! period the contract asks, and finally frees the slot to be paid; or
//! gives up at any point, and then every byte and token goes back where it
//! came from.
//!
//! # Core, then shell
//!
//! - [`reservations::rules`]: the rules of availabilities and reservations
//!   in one file, pure. The accounting invariant, **quota reserved = Σ
//!   availability free size + Σ reservation size**, and its siblings (used
//!   = Σ stored; each availability's bytes and collateral add up) are
//!   asserted by every operation.
//! - [`Reservations`]: the shell. Every call is one atomic commit of every
//!   record it touches, retried on conflict, and safe to repeat after a
//!   lost acknowledgement; a find index answers
//!   [`find_availability`](Reservations::find_availability) without reading
//!   every availability.
//! - [`slot_queue`]: the bounded priority queue of slots to consider.
//! - [`sales::machine`]: the sales state machine, sans-IO (events in,
//!   [effects](sales::Effect) out), every state and transition of Codex's.
//! - [`sales::Sales`]: the shell that keeps each sale's agent in the store
//!   and performs its reservation effects in the same commit, so a restarted
//!   host resumes every sale where it was and leaks nothing.
//! - [`periods`]: the proof period clock and the contract's "is a proof
//!   required" rule, from the chain's randomness as input.
//! - [`types`]: requests, asks, slots and their ids (keccak-256 of the ABI
//!   encoding, as the contract derives them).
//! - [`marketplace`]: the other side, the Codex marketplace contract's
//!   rules as a pure state machine ([`marketplace::rules`]: requests and
//!   escrow, slot reservations, fills and collateral, proofs, slashing,
//!   repair, payouts and refunds, tokens conserved) with a shell on any
//!   store, a JSON-lines tool and a [driver](marketplace::driver) that runs
//!   a host's sales against it.
//! - [`sim`]: a toy market to run sales against, for tests;
//!   [`cli`]: the JSON-lines tool of `examples/market-cli.rs`.
//!
//! Time is seconds (chain time), passed in; sizes are `u64` bytes; token
//! amounts [`U256`]; all arithmetic is checked.
//!
//! # Example
//!
//! ```
//! use tally_market::{AvailabilityId, AvailabilitySpec, FindQuery, OpId, RequestId, ReservationId};
//! use tally_market::{ReservationSpec, Reservations, U256};
//! use tally_store::MemStore;
//!
//! // A host with a quota of 1 MB offers 100 kB for up to a day, at 2 tokens
//! // per byte-second or more, with 1,000,000 tokens of collateral.
//! let reservations = Reservations::open(MemStore::new(), 1_000_000)?;
//! let offer = AvailabilityId([1; 32]);
//! reservations.create_availability(&AvailabilitySpec::new(offer, 100_000, 86_400, U256::from(2u8), U256::from(1_000_000u32)))?;
//!
//! // A slot of 40 kB for an hour at 3 per byte-second, 5 collateral per byte.
//! let query = FindQuery {
//!     size_bytes: 40_000,
//!     duration_secs: 3_600,
//!     price_per_byte_per_second: U256::from(3u8),
//!     collateral_per_byte: U256::from(5u8),
//!     valid_until_secs: 1_700_003_600,
//! };
//! let found = reservations.find_availability(&query)?.expect("it fits");
//! let slot = ReservationSpec {
//!     id: ReservationId([2; 32]),
//!     availability_id: found.id,
//!     size_bytes: query.size_bytes,
//!     request_id: RequestId([3; 32]),
//!     slot_index: 0,
//!     collateral_per_byte: query.collateral_per_byte,
//!     valid_until_secs: query.valid_until_secs,
//! };
//! reservations.create_reservation(&slot)?;
//!
//! // 25 kB of the slot's data are written: reserved bytes become used ones.
//! reservations.release(&slot.id, 25_000, OpId([1; 32]))?;
//! let quota = reservations.quota()?;
//! assert_eq!((quota.reserved_bytes, quota.used_bytes), (75_000, 25_000));
//!
//! // The sale ends; everything the reservation held goes back.
//! reservations.delete_reservation(&slot.id, U256::from(200_000u32))?;
//! let offer = reservations.availability(&offer)?.expect("still there");
//! assert_eq!(offer.free_size_bytes, 100_000);
//! assert_eq!(offer.total_remaining_collateral, U256::from(1_000_000u32));
//! reservations.snapshot()?.check()?; // every invariant, checked
//! # Ok::<(), tally_market::MarketError>(())
//! ```
//!
//! A whole sale against the marketplace rules is in the
//! [`marketplace::driver`] docs and in `examples/market.rs`; against a toy
//! market, in the [`sim`] docs.
//!
//! # Where this differs from Codex
//!
//! Codex's behaviour is kept unless it loses bytes or collateral, or cannot
//! be made safe under crashes; each difference is listed where it lives
//! ([rules](reservations::rules#where-this-differs-from-codex-and-why),
//! [returned collateral](sales::machine#collateral-given-back-at-clean-up),
//! [slot queue](slot_queue)). In short: reservations re-check collateral and
//! `until` as well as size inside their commit; returning bytes takes an
//! exact count; deleting a reservation returns its stored bytes too;
//! collateral never locked on chain always goes back; the sales state,
//! which Codex keeps in memory, is persisted; records are created with ids
//! the caller picks, and creating one again with the same parameters is a
//! no-op rather than an error, so every call can be repeated.
//!
//! [nim-codex]: https://github.com/codex-storage/nim-codex

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod marketplace;
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
    StorageAsk, StorageContent, StorageRequest, TxId, keccak256, parse_amount, slot_collateral, slot_id,
};

/// Re-exported: the 256-bit unsigned integer token amounts are.
pub use primitive_types::U256;
