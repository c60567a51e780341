//! The hot set: which worker owns each in-flight condition. Pure.
//!
//! The worker that accepts a Prepare becomes its **owner** for all four
//! steps (incoming prepare, outgoing prepare, outgoing fulfill, incoming
//! fulfill): it holds the reject timer and the link back to the sender. The
//! owner is recorded with the condition in the store, in the same commit as
//! the outgoing prepare, so that
//!
//! - a fulfillment (or reject) arriving at **any** worker is handed to the
//!   owner ([`Delivery::ToOwner`]) instead of being applied behind its back;
//! - on start-up a worker finds every condition **past its expiry** that is
//!   still in flight (its owner may have died with the timer) and marks it
//!   timed out, releasing its prepared amount ([`expired_at_start_up`]).
//!
//! Recording is idempotent: the record is keyed by the payment, so a retry
//! after a lost acknowledgement finds it and changes nothing.

use serde::{Deserialize, Serialize};

use crate::account::WorkerId;

/// Who applies an event for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Delivery {
    /// This worker owns the payment: apply it here.
    Here,
    /// Another worker owns it: hand the event to that worker.
    ToOwner(WorkerId),
}

/// Who applies an event that reached worker `at` for a payment owned by
/// `owner`. `take_over` lets a worker act for an owner it knows is gone
/// (start-up recovery); it is never implied.
pub fn deliver(owner: WorkerId, at: WorkerId, take_over: bool) -> Delivery {
    if owner == at || take_over {
        Delivery::Here
    } else {
        Delivery::ToOwner(owner)
    }
}

/// Whether an in-flight condition expiring at `expires_at_ms` is past its
/// expiry at `now_ms`: an ILP transfer may be fulfilled strictly before its
/// expiry, never at or after it.
pub fn is_expired(expires_at_ms: u64, now_ms: u64) -> bool {
    now_ms >= expires_at_ms
}

/// Of the in-flight entries `(expires_at_ms, item)` (in any order), the
/// ones a starting worker must mark timed out at `now_ms`, earliest first.
pub fn expired_at_start_up<T>(entries: impl IntoIterator<Item = (u64, T)>, now_ms: u64) -> Vec<(u64, T)> {
    let mut expired: Vec<(u64, T)> = entries
        .into_iter()
        .filter(|(expires_at_ms, _)| is_expired(*expires_at_ms, now_ms))
        .collect();
    expired.sort_by_key(|(expires_at_ms, _)| *expires_at_ms);
    expired
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_go_to_the_owner_unless_taking_over() {
        assert_eq!(deliver(WorkerId(1), WorkerId(1), false), Delivery::Here);
        assert_eq!(deliver(WorkerId(1), WorkerId(2), false), Delivery::ToOwner(WorkerId(1)));
        assert_eq!(deliver(WorkerId(1), WorkerId(2), true), Delivery::Here);
    }

    #[test]
    fn a_condition_is_expired_at_its_expiry() {
        assert!(!is_expired(100, 99));
        assert!(is_expired(100, 100));
        let expired = expired_at_start_up([(300, 'c'), (100, 'a'), (500, 'x'), (200, 'b')], 300);
        assert_eq!(expired, vec![(100, 'a'), (200, 'b'), (300, 'c')]);
    }
}
