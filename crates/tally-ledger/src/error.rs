//! [`LedgerError`]: every way a ledger call can fail (as opposed to an event
//! being rejected, which is a status in its result).

use std::sync::Arc;

use tally_store::StoreError;

use crate::core::{ClockOverflow, Inconsistent};
use crate::status::CreateTransferStatus;
use crate::users::UserId;

/// A ledger call that failed as a whole. Rejected events are not errors:
/// they come back as statuses in the call's results.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The store failed. A [`StoreError::Backend`] from a commit may be a
    /// lost acknowledgement: retry the same batch (same ids) and the events
    /// that were applied come back as `exists`.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A batch or lookup carried more than [`BATCH_EVENTS_MAX`](crate::BATCH_EVENTS_MAX) items.
    #[error("{what} carries {count} items; the limit is {max}")]
    TooMany {
        /// What was too big (`"create_transfers"`, `"lookup_accounts"`, ...).
        what: &'static str,
        /// How many items it carried.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `now_ns` is so late that the batch's timestamps would pass
    /// [`TIMESTAMP_MAX_NS`](crate::TIMESTAMP_MAX_NS); nothing was applied.
    #[error(transparent)]
    Clock(#[from] ClockOverflow),
    /// The stored ledger breaks an invariant (corrupt or foreign data under
    /// the ledger's keys); nothing was applied.
    #[error(transparent)]
    Inconsistent(#[from] Inconsistent),
    /// The group commit that carried this call (with other callers' calls)
    /// failed with `source`; every caller in that batch gets the same
    /// error. [`root`](Self::root) looks inside. A `Store` error here may be
    /// a lost acknowledgement, as from [`Ledger`](crate::Ledger): retry the
    /// same events (same ids).
    #[error("the group commit carrying this call failed: {source}")]
    GroupCommit {
        /// The batch's error.
        source: Arc<LedgerError>,
    },
    /// The thread committing this call's batch panicked: the batch may or
    /// may not have been applied. Retry the same events (same ids).
    #[error("the thread committing this call's batch panicked; it may or may not have been applied")]
    Abandoned,
    /// [`Users`](crate::users::Users): a nickname that is empty, too long
    /// or holds control characters.
    #[error("invalid nickname {nickname:?}: {reason}")]
    InvalidNickname {
        /// The nickname given.
        nickname: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`Users`](crate::users::Users): the nickname is registered already,
    /// with another opening balance (registering it again with the same
    /// one is an idempotent retry and succeeds).
    #[error("{nickname:?} is registered already, with another opening balance")]
    AlreadyRegistered {
        /// The nickname.
        nickname: String,
    },
    /// [`Users`](crate::users::Users): another nickname's id gives the same
    /// account id (or a reserved one); choose another nickname.
    #[error("the account id of {nickname:?} is taken by {taken_by:?}")]
    AccountIdTaken {
        /// The nickname being registered.
        nickname: String,
        /// Who holds the account id (`"(reserved)"` for a reserved id).
        taken_by: String,
    },
    /// [`Users`](crate::users::Users): no user has this id.
    #[error("unknown user {user}")]
    UnknownUser {
        /// The id.
        user: UserId,
    },
    /// [`Users`](crate::users::Users): the sender cannot cover the amount
    /// (pending transfers count: their funds are reserved).
    #[error("user {user} cannot cover {amount}")]
    InsufficientBalance {
        /// The sender.
        user: UserId,
        /// The amount asked for.
        amount: u128,
    },
    /// [`Users`](crate::users::Users): a transfer the API refuses before it
    /// reaches the ledger (a zero amount, sender and recipient the same).
    #[error("invalid transfer: {reason}")]
    InvalidTransfer {
        /// Why.
        reason: &'static str,
    },
    /// [`Users`](crate::users::Users): the ledger rejected a transfer for
    /// another reason (an id reused with other fields, say).
    #[error("transfer {id} rejected: {status}")]
    TransferRejected {
        /// The transfer.
        id: u128,
        /// The ledger's status.
        status: CreateTransferStatus,
    },
}

impl LedgerError {
    /// The error itself, or for [`GroupCommit`](Self::GroupCommit) the
    /// batch's error inside it.
    pub fn root(&self) -> &LedgerError {
        match self {
            LedgerError::GroupCommit { source } => source.root(),
            other => other,
        }
    }

    /// The store error at the [`root`](Self::root), if it is one.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self.root() {
            LedgerError::Store(error) => Some(error),
            _ => None,
        }
    }
}
