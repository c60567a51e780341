//! What may happen to a state update (a signed payment): the rules of
//! pg-machinomy's `mcy_insert_state_update`, as pure functions.
//!
//! A state update says "the receiver may claim `amount` wei of this channel",
//! signed by the sender. Amounts are cumulative: each payment carries the
//! total so far, and the **latest** state is the one with the largest amount.
//!
//! # The checks, in order
//!
//! [`decide`] checks a new update against the channel (as its events make
//! it, intents included), the latest stored update and the stored update
//! with the same amount, if any, in pg-machinomy's order:
//!
//! 1. **`signature_invalid`**: the signature does not recover to the
//!    update's `sender` under the contract's [`Scheme`] (sub-reason in
//!    [`Rejection::SignatureInvalid`]).
//! 2. **`conflict`**: an update for the **same amount** is already stored
//!    with a **different signature** (or sender). Both cannot stand, since
//!    the amount identifies a state; the stored one is kept and the newcomer
//!    refused. Because step 1 passed, the newcomer is itself well signed, so
//!    a conflict means the key holder signed the same payment twice (a
//!    second nonce, a malleated high-`s` twin) or two senders claim the same
//!    channel. pg-machinomy documented this status but its SQL could never
//!    produce it: it only compared against the latest amount, and a second
//!    signature for an older amount hit a unique index and raised a database
//!    error instead.
//! 3. **`invalid_amount`** (pg-machinomy's `negative_amount`): amounts are
//!    parsed from decimal strings into `U256` before any of this runs, so a
//!    negative, fractional, exponent-form, numeric or oversized amount never
//!    becomes a [`StateUpdate`]: [`crate::json`] refuses it with
//!    `invalid_amount`.
//! 4. **`incorrect_sender`**: the channel has no sender (not opened, or its
//!    opening was orphaned) or a different one.
//! 5. **`amount_exceeds_channel_value`**: the amount is above the channel's
//!    value (deposits included).
//!
//! An update passing them is a [`Decision::Duplicate`] when the very same
//! update (amount, signature, sender) is stored, else [`Decision::Insert`]:
//! stored, and the latest when its amount is at least the latest one's. An
//! update *below* the latest is stored but is not latest (pg-machinomy
//! raised a database error when its amount equalled an older one; here
//! that is a duplicate or a conflict).
//!
//! # Storing an accepted update
//!
//! [`UpdateHead::after_insert`] says what an insert stores: the update gets
//! the next id (ids run from 1 in storage order, unique within the
//! channel), and the head's latest state becomes the update when
//! [`is_latest`] holds for it (its amount is at least the latest one's), so
//! the latest state is always the stored update with the largest amount.
//!
//! # Refusals
//!
//! A refused update changes nothing but the channel's audit log: it is kept
//! as a [`RejectedUpdate`] (once, however often it arrives), up to a cap per
//! channel; past the cap it is only counted ([`RejectedCount::record`]).

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, ChannelKey};
use crate::signature::{Payment, Scheme, SignatureError, SignaturePolicy, verify_payment};
use crate::types::{Address, ChainId, ChannelId, Signature, wei};

/// A signed payment (pg-machinomy's `StateUpdate`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateUpdate {
    /// The chain.
    pub chain_id: ChainId,
    /// The channel contract.
    pub contract_id: Address,
    /// The channel.
    pub channel_id: ChannelId,
    /// When the host received it, milliseconds since the Unix epoch.
    #[serde(rename = "ts")]
    pub ts_ms: u64,
    /// The cumulative amount the receiver may claim, in wei.
    #[serde(rename = "amount", with = "wei")]
    pub amount_wei: U256,
    /// The sender's signature over the scheme's digest.
    pub signature: Signature,
    /// Who claims to have signed it (must be the channel's sender).
    pub sender: Address,
}

impl StateUpdate {
    /// The channel it pays into.
    pub fn key(&self) -> ChannelKey {
        ChannelKey {
            chain_id: self.chain_id,
            contract_id: self.contract_id,
            channel_id: self.channel_id,
        }
    }

    /// True when `other` is the same payment with the same signature: an
    /// exact duplicate (`ts` does not count).
    pub fn same_as(&self, other: &StateUpdate) -> bool {
        self.key() == other.key()
            && self.amount_wei == other.amount_wei
            && self.signature == other.signature
            && self.sender == other.sender
    }
}

/// A stored state update with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStateUpdate {
    /// Unique within the channel, from 1, in storage order.
    pub id: u64,
    /// The update.
    pub update: StateUpdate,
}

/// What a channel's stored updates come to: the latest one and the next id.
/// The book keeps it in one record, so it never reads all the updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateHead {
    /// The latest state: the stored update with the largest amount.
    pub latest: StateUpdate,
    /// The id the next stored update gets.
    pub next_id: u64,
}

impl UpdateHead {
    /// Stores `update` after `head` (`None`: nothing stored yet): the stored
    /// record, with the next id, and the new head (see [storing an accepted
    /// update](self#storing-an-accepted-update)).
    ///
    /// Returns `None` when the channel has used every id (2^64 - 1 updates).
    pub fn after_insert(head: Option<&UpdateHead>, update: &StateUpdate) -> Option<(StoredStateUpdate, UpdateHead)> {
        debug_assert!(head.is_none_or(|head| head.latest.key() == update.key()));
        let id = head.map_or(1, |head| head.next_id);
        let next_id = id.checked_add(1)?;
        let latest = match head {
            Some(head) if !is_latest(update, Some(&head.latest)) => head.latest.clone(),
            _ => update.clone(),
        };
        debug_assert!(latest.amount_wei >= update.amount_wei);
        let stored = StoredStateUpdate {
            id,
            update: update.clone(),
        };
        Some((stored, UpdateHead { latest, next_id }))
    }
}

/// True when `update` is (or becomes, once stored) the latest state: its
/// amount is at least the latest stored one's, or nothing is stored.
pub fn is_latest(update: &StateUpdate, latest: Option<&StateUpdate>) -> bool {
    latest.is_none_or(|latest| update.amount_wei >= latest.amount_wei)
}

/// A refused state update, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedUpdate {
    /// The reason code.
    pub reason: String,
    /// The precise reason.
    pub detail: String,
    /// The status it had.
    pub status: StateUpdateStatus,
    /// The update as received.
    pub update: StateUpdate,
}

/// A channel's audit log of refused updates, as counts: how many are kept,
/// and how many were refused after the log was full and not kept.
///
/// The log is bounded: the first `max_stored` distinct refusals are kept
/// (evidence of a forger is kept, not overwritten by later noise), later
/// ones are only counted ([`RejectedCount::record`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RejectedCount {
    /// Refused updates stored for audit.
    pub stored: u64,
    /// Refusals not stored because `stored` had reached the cap. A call
    /// retried after a lost acknowledgement may count twice here (nothing
    /// was stored to recognise it by).
    pub dropped: u64,
}

impl RejectedCount {
    /// Counts one more refusal, not stored yet, under a cap of `max_stored`
    /// kept refusals: returns true when it is to be stored.
    pub fn record(&mut self, max_stored: u64) -> bool {
        if self.stored < max_stored {
            self.stored += 1;
            true
        } else {
            self.dropped = self.dropped.saturating_add(1);
            false
        }
    }
}

/// How a new update relates to the stored ones with the same amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DupeStatus {
    /// No stored update has this amount.
    Distinct,
    /// The same update (amount, signature, sender) is stored.
    Duplicate,
    /// Another update with this amount is stored (see the `conflict` rule in
    /// the [module docs](self)).
    Conflict,
}

/// pg-machinomy's `StateUpdateStatus`: what an update would be, without
/// storing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateUpdateStatus {
    /// The signature recovers to the update's sender.
    pub signature_valid: bool,
    /// Its amount is at least the latest stored amount (true when none is).
    pub is_latest: bool,
    /// Duplicate, conflict or distinct.
    pub dupe_status: DupeStatus,
    /// How much it adds over the latest stored amount; `None` unless latest.
    #[serde(rename = "added_amount", with = "wei::option")]
    pub added_amount_wei: Option<U256>,
}

/// Why an update was refused; [`code`](Rejection::code) is pg-machinomy's
/// `reason` string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// `signature_invalid`.
    #[error("signature_invalid: {0}")]
    SignatureInvalid(SignatureError),
    /// `conflict`: another update with this amount is stored.
    #[error("conflict: an update for {amount_wei} wei is already stored with another signature")]
    Conflict {
        /// The contested amount.
        amount_wei: U256,
    },
    /// `incorrect_sender`.
    #[error("incorrect_sender: the update is from {claimed}, the channel's sender is {channel_sender:?}")]
    IncorrectSender {
        /// The update's sender.
        claimed: Address,
        /// The channel's sender, `None` when the channel is not open.
        channel_sender: Option<Address>,
    },
    /// `amount_exceeds_channel_value`.
    #[error("amount_exceeds_channel_value: {amount_wei} wei is more than the channel's {channel_value_wei} wei")]
    AmountExceedsChannelValue {
        /// The update's amount.
        amount_wei: U256,
        /// The channel's value.
        channel_value_wei: U256,
    },
}

impl Rejection {
    /// The reason code: `signature_invalid`, `conflict`, `incorrect_sender`
    /// or `amount_exceeds_channel_value`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::SignatureInvalid(_) => "signature_invalid",
            Rejection::Conflict { .. } => "conflict",
            Rejection::IncorrectSender { .. } => "incorrect_sender",
            Rejection::AmountExceedsChannelValue { .. } => "amount_exceeds_channel_value",
        }
    }
}

/// What to do with a new update; see [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store it.
    Insert {
        /// It becomes the latest state.
        is_latest: bool,
    },
    /// It is already stored: change nothing, report `created: false`.
    Duplicate,
    /// Refuse it (and record it for audit).
    Reject(Rejection),
}

/// Everything [`decide`] looks at, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct UpdateContext<'a> {
    /// The contract's signature scheme.
    pub scheme: Scheme,
    /// Which signatures to accept.
    pub policy: SignaturePolicy,
    /// The channel, folded with intents.
    pub channel: &'a Channel,
    /// The latest stored update of the channel.
    pub latest: Option<&'a StateUpdate>,
    /// The stored update with the new one's amount, if any.
    pub same_amount: Option<&'a StateUpdate>,
}

/// The payment a state update signs, with the token contract from the
/// channel.
pub fn payment_of(update: &StateUpdate, channel: &Channel) -> Payment {
    Payment {
        chain_id: update.chain_id,
        contract: update.contract_id,
        channel_id: update.channel_id,
        amount_wei: update.amount_wei,
        token_contract: channel.token_contract,
    }
}

/// The status of `update` (pg-machinomy's `mcy_get_state_update_status`),
/// given the signature check's outcome.
pub fn status_of(update: &StateUpdate, signature_valid: bool, context: &UpdateContext<'_>) -> StateUpdateStatus {
    let latest_amount = context.latest.map(|latest| latest.amount_wei);
    let is_latest = is_latest(update, context.latest);
    let added_amount_wei = if is_latest {
        update.amount_wei.checked_sub(latest_amount.unwrap_or_default())
    } else {
        None
    };
    let dupe_status = match context.same_amount {
        None => DupeStatus::Distinct,
        Some(stored) if stored.same_as(update) => DupeStatus::Duplicate,
        Some(_) => DupeStatus::Conflict,
    };
    StateUpdateStatus {
        signature_valid,
        is_latest,
        dupe_status,
        added_amount_wei,
    }
}

/// Decides what to do with `update`: the checks of the [module docs](self),
/// in order. Pure: the caller loads the context and applies the decision.
/// Returns the status too (pg-machinomy reports it in both outcomes).
pub fn decide(update: &StateUpdate, context: &UpdateContext<'_>) -> (Decision, StateUpdateStatus) {
    debug_assert!(context.latest.is_none_or(|latest| latest.key() == update.key()));
    debug_assert!(
        context
            .same_amount
            .is_none_or(|same| same.amount_wei == update.amount_wei)
    );
    let signature = verify_payment(
        context.scheme,
        &payment_of(update, context.channel),
        &update.signature,
        update.sender,
        context.policy,
    );
    let status = status_of(update, signature.is_ok(), context);
    let decision = match signature {
        Err(error) => Decision::Reject(Rejection::SignatureInvalid(error)),
        Ok(_) => rules_after_signature(update, &status, context),
    };
    (decision, status)
}

fn rules_after_signature(update: &StateUpdate, status: &StateUpdateStatus, context: &UpdateContext<'_>) -> Decision {
    if status.dupe_status == DupeStatus::Conflict {
        return Decision::Reject(Rejection::Conflict {
            amount_wei: update.amount_wei,
        });
    }
    let channel = context.channel;
    let channel_sender = channel.sender.filter(|_| channel.state.is_some());
    if channel_sender != Some(update.sender) {
        return Decision::Reject(Rejection::IncorrectSender {
            claimed: update.sender,
            channel_sender,
        });
    }
    if status.dupe_status == DupeStatus::Duplicate {
        return Decision::Duplicate;
    }
    let channel_value_wei = channel.value_wei.unwrap_or_default();
    if update.amount_wei > channel_value_wei {
        return Decision::Reject(Rejection::AmountExceedsChannelValue {
            amount_wei: update.amount_wei,
            channel_value_wei,
        });
    }
    debug_assert!(channel.state.is_some(), "a channel with a sender is open");
    Decision::Insert {
        is_latest: status.is_latest,
    }
}

/// `value - payment`: what the receiver has not been paid yet. `None` when
/// the channel has no value. Zero, never negative, when the payment exceeds
/// the value (possible only after a reorg orphaned a deposit that payments
/// relied on).
pub fn remaining_balance(channel: &Channel, payment_wei: Option<U256>) -> Option<U256> {
    let value = channel.value_wei?;
    Some(value.checked_sub(payment_wei.unwrap_or_default()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Signature;

    fn update(amount: u64) -> StateUpdate {
        StateUpdate {
            chain_id: ChainId(1),
            contract_id: Address([8; 20]),
            channel_id: ChannelId([1; 32]),
            ts_ms: amount,
            amount_wei: U256::from(amount),
            signature: Signature([amount as u8; 65]),
            sender: Address([7; 20]),
        }
    }

    #[test]
    fn first_insert_gets_id_1_and_becomes_latest() {
        let (stored, head) = UpdateHead::after_insert(None, &update(5)).unwrap();
        assert_eq!(
            stored,
            StoredStateUpdate {
                id: 1,
                update: update(5)
            }
        );
        assert_eq!(
            head,
            UpdateHead {
                latest: update(5),
                next_id: 2
            }
        );
    }

    #[test]
    fn an_update_below_the_latest_is_stored_but_leaves_the_latest() {
        let head = UpdateHead {
            latest: update(9),
            next_id: 4,
        };
        let (stored, after) = UpdateHead::after_insert(Some(&head), &update(3)).unwrap();
        assert_eq!(stored.id, 4);
        assert_eq!(
            after,
            UpdateHead {
                latest: update(9),
                next_id: 5
            }
        );
        assert!(!is_latest(&update(3), Some(&update(9))));
        assert!(is_latest(&update(9), Some(&update(9))), "equal counts as latest");
    }

    #[test]
    fn the_audit_log_keeps_the_first_refusals_and_counts_the_rest() {
        let mut count = RejectedCount::default();
        assert!(count.record(2));
        assert!(count.record(2));
        assert!(!count.record(2));
        assert!(!count.record(2));
        assert_eq!(count, RejectedCount { stored: 2, dropped: 2 });
        let mut none = RejectedCount::default();
        assert!(!none.record(0), "a cap of 0 keeps nothing");
        assert_eq!(none, RejectedCount { stored: 0, dropped: 1 });
    }

    #[test]
    fn exhausted_ids_are_refused() {
        let head = UpdateHead {
            latest: update(1),
            next_id: u64::MAX,
        };
        assert_eq!(UpdateHead::after_insert(Some(&head), &update(2)), None);
    }

    proptest::proptest! {
        #[test]
        fn ids_run_from_one_and_the_latest_is_the_largest_amount(amounts in proptest::collection::vec(0u64..50, 1..30)) {
            let mut head: Option<UpdateHead> = None;
            for (index, amount) in amounts.iter().enumerate() {
                let (stored, next) = UpdateHead::after_insert(head.as_ref(), &update(*amount)).unwrap();
                proptest::prop_assert_eq!(stored.id, index as u64 + 1);
                let largest = amounts[..=index].iter().max().copied().unwrap_or_default();
                proptest::prop_assert_eq!(next.latest.amount_wei, U256::from(largest));
                proptest::prop_assert_eq!(next.next_id, stored.id + 1);
                head = Some(next);
            }
        }
    }
}
