//! The Interledger connector's rules as an embeddable, sans-IO library.
//!
//! (Crate documentation is completed as the modules land.)

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod balance;
mod connector;
mod error;
pub mod forward;
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
