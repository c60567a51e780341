//! [`LedgerError`]: every way a ledger call can fail (as opposed to an event
//! being rejected, which is a status in its result).

use std::sync::Arc;

use tally_store::StoreError;

use crate::core::{ClockOverflow, Inconsistent};

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
