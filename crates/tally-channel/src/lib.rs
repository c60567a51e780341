//! Machinomy payment channels: signed state updates, contract events and
//! channel status, persisted through any tally [`Store`](tally_store::Store).
//!
//! A Machinomy channel is an Ethereum contract holding the sender's deposit.
//! The sender pays the receiver off chain by signing **state updates**:
//! "the receiver may claim `amount` wei", amounts growing with each payment.
//! The receiver keeps the largest and claims it on chain when it likes. This
//! crate is the receiver's (or a hub's) book of channels, after
//! [pg-machinomy](https://github.com/machinomy/machinomy): it checks each
//! payment's signature exactly as the contract would, keeps the latest one,
//! folds the contract's events (and the server's own *intents*) into each
//! channel's state, and survives chain reorganisations.
//!
//! # Core, then shell
//!
//! - [`signature`]: the digest each contract signs ([`Scheme`]) and signer
//!   recovery, with the contracts' `v` and high-`s` rules.
//! - [`channel`]: events folded into a [`Channel`] (`CS_OPEN`,
//!   `CS_SETTLING`, `CS_SETTLED`), intents, invalid events, what makes two
//!   sightings one event ([`EventIdentity`]) and which events a
//!   reorganisation invalidates ([`RecentBlocks`]).
//! - [`update`]: the rules a new state update must pass, in pg-machinomy's
//!   order, including the definition of `conflict`; which stored update is
//!   the latest and how ids are assigned ([`UpdateHead`]); the bounded audit
//!   log of refusals ([`RejectedCount`]).
//! - [`json`]: pg-machinomy's JSON inputs, with typed errors and one table
//!   of reason codes.
//! - [`ChannelBook`]: the shell. Each call loads what the core needs, asks
//!   the core, and commits the outcome: one atomic commit on a
//!   [`Store`](tally_store::Store), retried on conflict, safe to repeat
//!   after a lost acknowledgement. Every read is bounded: a state update
//!   reads three keys, an event insert a constant number of preconditions,
//!   and the history comes in pages ([`HistoryPage`]).
//! - [`keys`]: the shell's key layout, the one place that knows where each
//!   record is stored.
//!
//! The core is pure: no I/O, no clock (times are passed in, in
//! milliseconds).
//!
//! # Cargo features
//!
//! - `fuzzing` (off): the `fuzzing` module, entry points for the cargo-fuzz
//!   targets in `fuzz/`. Hosts do not need it.
//!
//! # Example
//!
//! ```
//! use tally_channel::{ChannelBook, ChannelEvent, ChannelKey, EventFields, EventType, Scheme, StateUpdate};
//! use tally_channel::{Address, ChainId, ChannelId, BlockHash, Payment, sign_payment, address_of_public_key};
//! use tally_store::MemStore;
//!
//! let book = ChannelBook::new(MemStore::new());
//! let sender_key = tally_channel::secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
//! let sender = address_of_public_key(&tally_channel::secp256k1::PublicKey::from_secret_key(&sender_key));
//! let key = ChannelKey { chain_id: ChainId(1), contract_id: Address([0x08; 20]), channel_id: ChannelId([0xc0; 32]) };
//!
//! // The contract says the channel opened with 1000 wei.
//! book.insert_channel_event(ChannelEvent {
//!     chain_id: key.chain_id, contract_id: key.contract_id, channel_id: key.channel_id,
//!     ts_ms: 1_000, block_number: 10, block_hash: Some(BlockHash([1; 32])), block_is_valid: true,
//!     sender: Some(sender), event_type: EventType::DidOpen,
//!     fields: EventFields { sender: Some(sender), receiver: Some(Address([0xee; 20])),
//!                           value_wei: Some(1000u64.into()), ..EventFields::default() },
//!     log: None, // or Some(LogPosition { tx_hash, log_index }) when the watcher knows it
//! })?;
//!
//! // The sender pays 300 wei.
//! let payment = Payment { chain_id: key.chain_id, contract: key.contract_id, channel_id: key.channel_id,
//!                         amount_wei: 300u64.into(), token_contract: None };
//! let signature = sign_payment(Scheme::Unidirectional, &payment, &sender_key).unwrap();
//! let outcome = book.insert_state_update(StateUpdate {
//!     chain_id: key.chain_id, contract_id: key.contract_id, channel_id: key.channel_id,
//!     ts_ms: 2_000, amount_wei: 300u64.into(), signature, sender,
//! })?;
//! let accepted = outcome.accepted().expect("a valid payment");
//! assert!(accepted.created && accepted.is_latest);
//! assert_eq!(accepted.channel_remaining_balance_wei, Some(700u64.into()));
//! # Ok::<(), tally_channel::ChannelError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod book;
pub mod channel;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod json;
pub mod keys;
pub mod signature;
mod status;
pub mod types;
pub mod update;
pub mod verify;

pub use book::{
    ChannelBook, ChannelBookConfig, ChannelError, DEFAULT_MAX_REJECTED_PER_CHANNEL, Inconsistency,
    MAX_EVENTS_PER_CHANNEL, MAX_HISTORY_PAGE, MAX_RECENT_BLOCKS, MAX_REORG_EVENTS,
};
pub use channel::{
    Channel, ChannelEvent, ChannelKey, ChannelState, EventFields, EventIdentity, EventType, FoldedChannel,
    IdentityClash, LogPosition, RecentBlocks, Sighting, fold_events, recognize,
};
pub use signature::{
    Payment, Scheme, SignatureError, SignaturePolicy, address_of_public_key, payment_digest, recover_payment_signer,
    sign_payment, verify_payment,
};
pub use status::{
    ChannelStatus, HistoryCursor, HistoryPage, RecentBlocksResult, StateUpdateOutcome, StateUpdateRejection,
    StateUpdateResult,
};
pub use types::{Address, AmountError, BlockHash, ChainId, ChannelId, HexError, Signature, TxHash, parse_wei};
pub use update::{
    DupeStatus, RejectedCount, RejectedUpdate, Rejection, StateUpdate, StateUpdateStatus, StoredStateUpdate, UpdateHead,
};

/// Re-exported: the 256-bit unsigned integer wei amounts are.
pub use primitive_types::U256;
/// Re-exported so hosts name the same key types the signing API takes.
pub use secp256k1;

/// keccak256 (the original Keccak, as Ethereum uses it).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    use tiny_keccak::Hasher as _;
    let mut hasher = tiny_keccak::Keccak::v256();
    hasher.update(bytes);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}
