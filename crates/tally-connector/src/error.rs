//! [`ConnectorError`]: everything that can go wrong in a tally-connector call.
//!
//! A refused payment is **not** an error: it is a decision (an ILP Reject
//! with an RFC 27 code) returned as a value. Errors are what the caller must
//! act on: a store failure (retry the call, it is idempotent), a bad
//! configuration, a packet that does not decode, a limit.

use tally_store::StoreError;
use tally_store::key::KeyError;

use crate::account::AccountId;

/// Everything that can go wrong in a tally-connector call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The store failed. After a failed commit the call may or may not have
    /// applied; calling it again is safe, every call is idempotent.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A stored key does not decode (a bug, or another program's data).
    #[error("corrupt connector key: {0}")]
    Key(#[from] KeyError),

    /// No account with this id was opened.
    #[error("unknown account {account}")]
    UnknownAccount {
        /// The id asked for.
        account: AccountId,
    },

    /// An account id is empty, too long or uses characters outside
    /// `[A-Za-z0-9._~-]`.
    #[error("invalid account id {id:?}: {reason}")]
    InvalidAccountId {
        /// The id as given (lossy).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// An account configuration breaks a rule (parallelism 0 or above
    /// [`MAX_PARALLELISM`](crate::MAX_PARALLELISM), ...).
    #[error("invalid account configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },

    /// An amount or a balance would leave its range. Nothing was applied.
    #[error("arithmetic overflow in {what}")]
    Overflow {
        /// Which quantity overflowed.
        what: &'static str,
    },

    /// A move or an unconditional payment out of a balance that does not
    /// cover it (the rule is in [`balance`](crate::balance)). Nothing was applied.
    #[error("balance of {account} cannot cover {amount}: {available} available")]
    InsufficientBalance {
        /// The account.
        account: AccountId,
        /// The amount asked for.
        amount: u64,
        /// What the rule allows right now.
        available: i128,
    },

    /// A balance change releases or settles more than is prepared (the
    /// records contradict each other: a bug, or tampering).
    #[error("{account} has {prepared} prepared, cannot settle {amount}")]
    NotPrepared {
        /// The account.
        account: AccountId,
        /// The amount being settled.
        amount: u64,
        /// What the record says is prepared.
        prepared: u128,
    },

    /// A limit of this crate was reached; the call did nothing.
    #[error("limit reached: {what} (at most {max})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        max: u64,
    },

    /// A packet from a peer does not decode.
    #[error("undecodable packet: {0}")]
    Decode(#[from] tally_ilp::DecodeError),

    /// A packet we built does not encode (a field breaks the codec's rules).
    #[error("unencodable packet: {0}")]
    Encode(#[from] tally_ilp::EncodeError),

    /// A packet decodes but breaks the protocol (wrong type for the
    /// exchange, missing `ilp` protocol data, ...).
    #[error("protocol violation: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },

    /// Stored records contradict each other.
    #[error("inconsistent connector records: {0}")]
    Inconsistent(String),
}

impl ConnectorError {
    pub(crate) fn overflow(what: &'static str) -> Self {
        ConnectorError::Overflow { what }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        ConnectorError::Protocol { reason: reason.into() }
    }
}
