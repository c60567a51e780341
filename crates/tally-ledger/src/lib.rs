//! TigerBeetle's ledger, embedded: double-entry accounts and two-phase
//! transfers on any [`tally_store::Store`].
//!
//! [TigerBeetle](https://tigerbeetle.com) is a database built for one job:
//! moving value between accounts safely, fast. This crate gives a host the
//! same semantics inside its own process, on the store it already runs
//! (memory, redb, PostgreSQL), so that a user who knows TigerBeetle 0.17
//! finds nothing surprising:
//!
//! - [`Account`]s with `debits_pending/posted`, `credits_pending/posted`
//!   and the limit flags `debits_must_not_exceed_credits` /
//!   `credits_must_not_exceed_debits`;
//! - [`Transfer`]s: single-phase, **pending** (phase one reserves the funds,
//!   so a limit can never be broken later), **post** (all or part of the
//!   pending amount; the rest goes back) and **void**, with timeouts and
//!   explicit [`expire`](Ledger::expire); linked chains (all or nothing);
//!   balancing and closing transfers;
//! - one result per event, named and ordered exactly as TigerBeetle's
//!   ([`CreateTransferStatus`], [`CreateAccountStatus`]), including the
//!   idempotent `exists` / `exists_with_different_*` and `id_already_failed`;
//! - the queries `lookup_accounts`, `lookup_transfers`,
//!   `get_account_transfers`, `get_account_balances` with TigerBeetle's
//!   [`AccountFilter`];
//! - an append-only [`journal`] with gapless sequence numbers, and
//!   [`audit`](Ledger::audit), which replays it and checks every balance;
//! - [`LedgerClient`], a group-commit front: calls from many threads share
//!   commits of up to [`BATCH_EVENTS_MAX`] events, so a hot account does not
//!   serialize into one commit per transfer ([`client`]);
//! - [`users`], TiMPE's user-to-user API on top: users registered by
//!   nickname, transfers in two phases (phase one reserves the funds), a
//!   resumable phase-two sweep, transfers made immediately; and [`u2u`],
//!   the commands of the `u2u` load tool.
//!
//! # Example
//!
//! ```
//! use tally_ledger::{Account, AccountFlags, CreateTransferStatus as S, Ledger, Transfer, TransferFlags};
//! use tally_store::MemStore;
//!
//! let ledger = Ledger::new(MemStore::new());
//! let now_ns = 1_700_000_000_000_000_000;
//! let bank = Account::new(1, 1, 10);
//! let alice = Account::new(2, 1, 10).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
//! let bob = Account::new(3, 1, 10);
//! ledger.create_accounts(&[bank, alice, bob], now_ns)?;
//!
//! // Fund alice, then reserve 70 of her 100 for bob (phase one).
//! let status = |results: Vec<tally_ledger::CreateTransferResult>| -> Vec<S> {
//!     results.into_iter().map(|r| r.status).collect()
//! };
//! let results = ledger.create_transfers(&[
//!     Transfer::new(100, 1, 2, 100, 1, 1),
//!     Transfer::new(101, 2, 3, 70, 1, 1).with_flags(TransferFlags::PENDING),
//! ], now_ns)?;
//! assert_eq!(status(results), [S::Created, S::Created]);
//!
//! // The reservation counts: another 70 would overdraw her.
//! let results = ledger.create_transfers(&[Transfer::new(102, 2, 3, 70, 1, 1)], now_ns)?;
//! assert_eq!(status(results), [S::ExceedsCredits]);
//!
//! // Phase two: post 50 of the 70; 20 goes back to alice.
//! let results = ledger.create_transfers(&[Transfer::post(103, 101, 50)], now_ns)?;
//! assert_eq!(status(results), [S::Created]);
//! let alice = ledger.lookup_accounts(&[2])?[0];
//! assert_eq!((alice.debits_pending, alice.debits_posted, alice.credits_posted), (0, 50, 100));
//!
//! // Retrying a batch (say after a lost acknowledgement) applies nothing twice.
//! let results = ledger.create_transfers(&[Transfer::post(103, 101, 50)], now_ns)?;
//! assert_eq!(status(results), [S::Exists]);
//! assert!(ledger.audit()?.is_ok());
//! # Ok::<(), tally_ledger::LedgerError>(())
//! ```
//!
//! # Design
//!
//! - [`core`]: the rules, pure (no I/O, no clock): a batch is decided
//!   against a [`core::View`] and yields results plus [`core::Changes`].
//!   Read it to learn what may happen to an account.
//! - [`Ledger`]: the shell. Each batch is **one atomic commit** of the
//!   store, computed from one consistent snapshot and retried on conflict,
//!   so threads and processes sharing a store never overdraw, lose or
//!   double-apply anything. Every commit writes the ledger's head record,
//!   and all other reads are covered by it. Records are stored in buckets
//!   of 64 consecutive ids, so a batch of 8,189 transfers with time-ordered
//!   ids (as TigerBeetle recommends) is one commit with one precondition,
//!   about 130 transfer buckets and one bucket per touched 64 accounts,
//!   all read with one `get_many` (the layout is in the `keys` module's
//!   source docs).
//! - [`journal`]: the append-only record of applied events, and the audit.
//! - [`jsonl`]: the JSON-lines protocol of `examples/ledger-cli.rs`.
//! - [`client`]: group commit ([`LedgerClient`]).
//! - [`users`]: TiMPE's users and two-phase transfers on a [`LedgerClient`];
//!   [`u2u`]: the `examples/u2u.rs` commands as a library.
//!
//! On a store that pays a round trip per call (PostgreSQL, Redis), a batch
//! costs about four: the head, one `get_many` of every bucket it reads (one
//! more when it posts or voids), and the commit, which PostgreSQL runs as
//! one statement (the head's compare-and-set guarding every other write).
//!
//! # Time
//!
//! The caller passes `now_ns` (nanoseconds since the Unix epoch, as
//! TigerBeetle's timestamps) to every call that changes the ledger; the
//! ledger stamps events with strictly increasing timestamps from it.
//! Pending transfers expire only when the host calls [`Ledger::expire`]
//! (TigerBeetle's pulse); posting or voiding one after its timeout fails
//! with `pending_transfer_expired` either way.
//!
//! # Where this differs from TigerBeetle
//!
//! - No `imported` flag (user-supplied timestamps): its bit is a reserved
//!   flag here, so such events fail with `reserved_flag`, and the
//!   `imported_event_*` statuses are never returned.
//! - No `query_accounts` / `query_transfers` and no change events.
//! - Expiry runs when the host calls [`Ledger::expire`], not on a timer.
//!
//! # Limits
//!
//! At most [`BATCH_EVENTS_MAX`] events per batch and ids per lookup,
//! [`QUERY_LIMIT_MAX`] results per query, [`EXPIRE_BATCH_MAX`] expiries
//! per commit; timestamps up to [`TIMESTAMP_MAX_NS`]. All arithmetic is
//! checked: an overflow is a status (`overflows_*`), never a wrap.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod core;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod id_hash;
pub mod journal;
pub mod jsonl;
mod keys;
mod ledger;
mod status;
mod types;
pub mod u2u;
pub mod users;

pub use client::{ClientStats, LedgerClient, QUEUE_CALLS_MAX};
pub use error::LedgerError;
pub use id_hash::{IdHash, IdHasher, IdMap};
pub use ledger::{DEFAULT_NAMESPACE, Head, Ledger};
pub use status::{CreateAccountResult, CreateAccountStatus, CreateTransferResult, CreateTransferStatus};
pub use types::{
    AMOUNT_MAX, Account, AccountBalance, AccountFilter, AccountFilterFlags, AccountFlags, BATCH_EVENTS_MAX,
    EXPIRE_BATCH_MAX, NS_PER_S, PendingStatus, QUERY_LIMIT_MAX, TIMESTAMP_MAX_NS, TIMESTAMP_MIN_NS, Transfer,
    TransferFlags, TransferRecord,
};
