//! The Interledger connector's rules as an embeddable, sans-IO library.
//!
//! A connector forwards conditional payments between accounts it holds
//! balances with: a Prepare comes in from one peer, goes out to the next
//! hop, and the Fulfill (or Reject) travels back. This crate holds the
//! rules, after the design of the 2017 Testnet connector ilp-node, and the
//! state, in any tally [`Store`](tally_store::Store) shared by any number of
//! worker threads or processes. The host owns sockets, threads and the
//! clock; every time is an argument (`now_ms`).
//!
//! # Core, then shell
//!
//! The rules are pure functions over plain data, one idea per module:
//!
//! | module | rules |
//! |---|---|
//! | [`balance`] | the balance formula; the **parallelism rule** and what it protects against; cold and hot balances |
//! | [`forward`] | what happens to a Prepare (checks in a fixed order, RFC 27 codes) and to what comes back |
//! | [`hotset`] | who owns an in-flight condition; expiry at start-up |
//! | [`routing`] | the prefix table, longest-prefix match, liquidity curves, the choice among equal prefixes, ILQP quotes |
//! | [`tracking`] | request and transfer ids, Message vs Prepare, deadlines, classifying replies; the listener's replies |
//! | [`reconcile`] | resolved ranges, disputed sets, pleaseReconcile |
//! | [`wire`] | bytes in and out through tally-ilp: BTP 2.0 with ILPv4, CLP with legacy ILP |
//!
//! The shell, [`Connector`], loads what a rule needs, applies it and
//! commits the result in **one** atomic commit (retried on conflict), with
//! every write keyed by an id so that a retry after a lost acknowledgement
//! applies nothing twice. Its key layout is in [`keys`]. [`sim`] is an
//! in-memory network of senders, connectors and receivers for tests and
//! demos; `websocket` (feature `websocket`) a BTP 2.0 over WebSocket
//! server around a `Connector`.
//!
//! # Example
//!
//! A connector `test.hub` holds 1000 with `bob`; `alice` sends a Prepare
//! for `test.bob.carl`; it is forwarded to bob, who fulfills it.
//!
//! ```
//! use tally_connector::routing::LiquidityCurve;
//! use tally_connector::{AccountConfig, AccountId, Connector, ConnectorConfig, IncomingPrepare};
//! use tally_connector::{PrepareOutcome, Resolved, Upstream, WorkerId};
//! use tally_ilp::ilp4::fulfillment_to_condition;
//! use tally_store::MemStore;
//!
//! let hub = Connector::new(MemStore::new(), WorkerId(0), ConnectorConfig::new(b"test.hub".to_vec()))?;
//! let (alice, bob) = (AccountId::new("alice")?, AccountId::new("bob")?);
//! hub.open_account(&alice, AccountConfig::default())?;
//! hub.open_account(&bob, AccountConfig { parallelism: 2, ..AccountConfig::default() })?;
//! hub.credit(&bob, [1; 16], 1_000)?;                  // what we hold with bob
//! hub.announce_route(b"test.bob", &bob, LiquidityCurve::identity())?;
//!
//! let fulfillment = [7u8; 32];
//! let prepare = IncomingPrepare {
//!     from: alice.clone(), transfer_id: [9; 16], amount: 300, expires_at_ms: 20_000,
//!     execution_condition: fulfillment_to_condition(&fulfillment),
//!     destination: b"test.bob.carl".to_vec(), data: vec![],
//! };
//! let PrepareOutcome::Forward(out) = hub.handle_prepare(&prepare, 0)? else { unreachable!() };
//! assert_eq!((out.to.as_str(), out.amount, out.expires_at_ms), ("bob", 300, 19_000));
//! assert_eq!(hub.balances(&bob)?.balance(), 700);     // prepared at once
//!
//! // Parallelism 2: this worker may spend only its half of the 1000: 200 more.
//! let mut big = prepare.clone();
//! big.transfer_id = [10; 16];
//! big.amount = 201;
//! let PrepareOutcome::Reply(Upstream::Reject(reason)) = hub.handle_prepare(&big, 0)? else { unreachable!() };
//! assert_eq!((reason.code_str().as_str(), &reason.triggered_by[..]), ("T04", &b"test.hub"[..]));
//!
//! // Bob fulfills; alice gets the Fulfill; both legs settle, once.
//! let resolved = hub.handle_fulfill(&bob, &out.transfer_id, fulfillment, 10)?;
//! assert!(matches!(resolved, Resolved::Upstream { reply: Upstream::Fulfill { .. }, .. }));
//! assert_eq!(hub.balances(&alice)?.balance(), 300);
//! assert!(matches!(hub.handle_fulfill(&bob, &out.transfer_id, fulfillment, 11)?, Resolved::Duplicate { .. }));
//! # Ok::<(), tally_connector::ConnectorError>(())
//! ```
//!
//! # The seed's open questions, as resolved here
//!
//! - **Which account wins when several announce the same prefix?** A
//!   pluggable [`ChooseRoute`](routing::ChooseRoute); built in: highest
//!   balance, lowest balance, best success ratio (Laplace-smoothed). The
//!   default is the best ratio with ties to the higher balance.
//! - **What is the parallelism rule for?** See [`balance`]: it lets up to
//!   `parallelism` workers spend from one shared balance without writing it
//!   (so they never conflict) and still never overdraw it together.
//! - **Hot balances** are per *slot* (`worker mod parallelism`), moved to
//!   and from the cold balance in one commit that checks every slot.
//! - **Ownership**: the worker that accepts a Prepare owns it; events
//!   reaching another worker are handed to the owner; start-up recovery
//!   takes over expired ones from any owner.
//!
//! # Limits
//!
//! Parallelism ≤ [`MAX_PARALLELISM`]; account ids ≤ [`MAX_ACCOUNT_ID_BYTES`];
//! route table, curve, tracker, link and reconcile sizes are bounded by the
//! `MAX_*` constants of their modules. Settled payments stay in the store
//! (for duplicates and reconciliation); there is no pruning yet.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod balance;
mod connector;
mod error;
pub mod forward;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod hotset;
pub mod keys;
pub mod reconcile;
pub mod routing;
pub mod sim;
pub mod tracking;
#[cfg(feature = "websocket")]
pub mod websocket;
pub mod wire;

pub use account::{AccountConfig, AccountId, MAX_ACCOUNT_ID_BYTES, MAX_PARALLELISM, WorkerId};
pub use balance::{BalanceChange, BalanceError, BalanceParts, Refusal};
pub use connector::{
    AccountBalances, AccountRecord, Connector, ConnectorConfig, MAX_TIMEOUTS_PER_CALL, OutgoingPrepare, PrepareOutcome,
    Resolved,
};
pub use error::ConnectorError;
pub use forward::{IncomingPrepare, PaymentId, RejectReason, Upstream};
