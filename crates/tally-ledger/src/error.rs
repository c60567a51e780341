//! [`LedgerError`]: every way a ledger call can fail (as opposed to an event
//! being rejected, which is a status in its result).

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
}
