//! Forwarding: what the connector does with a Prepare, and with what comes
//! back for it. Pure: every function takes the state and `now_ms` and
//! returns the next state and its effects; the shell
//! ([`Connector`](crate::Connector)) loads and commits.
//!
//! # A Prepare, in order
//!
//! An incoming Prepare from account `from` is checked in this order; the
//! first failed check rejects it with the RFC 27 code shown, `triggeredBy`
//! = our address:
//!
//! 1. it has already expired: `R00` Transfer Timed Out;
//! 2. no route to its destination (longest prefix, never back to `from`):
//!    `F02` Unreachable;
//! 3. the route's curve cannot carry its amount: `T04` Insufficient Liquidity;
//! 4. too little time is left to forward it (`expiry_margin_ms` is taken
//!    off for our own hop, and `min_outgoing_window_ms` must remain):
//!    `R02` Insufficient Timeout;
//! 5. the outgoing amount is above the next account's `max_packet_amount`:
//!    `F08` Amount Too Large (data: amount received ‖ maximum, u64 each);
//! 6. the next account's balance fails the parallelism rule
//!    ([`balance`](crate::balance)): `T04` Insufficient Liquidity.
//!
//! Otherwise it is forwarded: the outgoing amount is prepared on the next
//! account's hot slot, and the payment is recorded with its owner.
//!
//! # What comes back
//!
//! [`on_downstream`] applies one downstream event to a [`Payment`]:
//!
//! | state | event | next | balances | upstream |
//! |---|---|---|---|---|
//! | forwarded | Fulfill, preimage of the condition, before expiry | fulfilled | next: prepared → fulfilled; from: incoming fulfilled | the Fulfill |
//! | forwarded | Fulfill that does not hash to the condition | rejected | next: released | `F05` by us |
//! | forwarded | Reject | rejected | next: released | the Reject as received |
//! | forwarded | expiry passed (timer, late Fulfill, start-up) | timed out | next: released | `R00` by us |
//! | final | the same kind of event again | unchanged | none | the same reply again |
//! | final | another event (a Fulfill after the timeout, ...) | unchanged | none | none: ignored |
//!
//! A final payment never changes again, so no balance change applies twice
//! however often, or however late, a reply arrives.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tally_ilp::ErrorCode;

use crate::account::{AccountConfig, AccountId, WorkerId};
use crate::balance::{BalanceChange, Refusal};
use crate::hotset::{self, Delivery};
use crate::routing::Chosen;

/// Identifies a payment through this connector: SHA-256 of the account it
/// came from and its incoming transfer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaymentId(pub [u8; 32]);

impl PaymentId {
    /// The id of the payment `from` sent with `transfer_id`.
    pub fn of(from: &AccountId, transfer_id: &[u8; 16]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"tally-connector/payment");
        hasher.update((from.as_str().len() as u64).to_be_bytes());
        hasher.update(from.as_str().as_bytes());
        hasher.update(transfer_id);
        PaymentId(hasher.finalize().into())
    }

    /// The transfer id of the outgoing leg: derived, so a retry after a
    /// crash sends the same one.
    pub fn outgoing_transfer_id(&self) -> [u8; 16] {
        let mut hasher = Sha256::new();
        hasher.update(b"tally-connector/outgoing");
        hasher.update(self.0);
        crate::tracking::uuid_v4(hasher.finalize().into())
    }
}

/// How the connector forwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardPolicy {
    /// Our ILP address: `triggeredBy` of every reject we originate.
    pub address: Vec<u8>,
    /// How much earlier than the incoming Prepare the outgoing one expires,
    /// ms: our time to pass the fulfillment back.
    pub expiry_margin_ms: u64,
    /// The least time the next hop must get, ms.
    pub min_outgoing_window_ms: u64,
    /// The longest we hold an outgoing Prepare, ms.
    pub max_hold_ms: u64,
}

impl ForwardPolicy {
    /// A policy for the connector at `address`: 1 s margin, 500 ms minimum
    /// window, 30 s maximum hold.
    pub fn new(address: impl Into<Vec<u8>>) -> Self {
        ForwardPolicy {
            address: address.into(),
            expiry_margin_ms: 1_000,
            min_outgoing_window_ms: 500,
            max_hold_ms: 30_000,
        }
    }
}

/// An ILP reject reason, as stored and as sent (RFC 27 fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectReason {
    /// The three-character code.
    pub code: [u8; 3],
    /// The address of the node that rejected.
    pub triggered_by: Vec<u8>,
    /// A human-readable reason.
    pub message: String,
    /// Machine-readable details.
    pub data: Vec<u8>,
}

impl RejectReason {
    /// A reject we originate: `triggeredBy` is `policy.address`.
    pub fn ours(policy: &ForwardPolicy, code: ErrorCode, message: &str) -> Self {
        RejectReason {
            code: code.0,
            triggered_by: policy.address.clone(),
            message: message.to_owned(),
            data: Vec::new(),
        }
    }

    /// The code as the codec's type.
    pub fn code(&self) -> ErrorCode {
        ErrorCode(self.code)
    }

    /// The code as text (`"T04"`), lossy for non-ASCII codes.
    pub fn code_str(&self) -> String {
        self.code().to_string()
    }
}

/// A Prepare that reached us from account `from`, in any wire format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingPrepare {
    /// The account it came from.
    pub from: AccountId,
    /// Its id on the incoming link (the CLP transfer id; for BTP 2.0 a
    /// UUID the link derives from the request id).
    pub transfer_id: [u8; 16],
    /// The amount, in `from`'s units.
    pub amount: u64,
    /// When it lapses, ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// SHA-256 of the fulfillment.
    pub execution_condition: [u8; 32],
    /// The ILP address of the receiver.
    pub destination: Vec<u8>,
    /// The end-to-end data, passed on untouched.
    pub data: Vec<u8>,
}

/// The outgoing leg of a forwarded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingLeg {
    /// The account it goes to.
    pub to: AccountId,
    /// Its transfer id ([`PaymentId::outgoing_transfer_id`]).
    pub transfer_id: [u8; 16],
    /// The amount, in `to`'s units.
    pub amount: u64,
    /// When it lapses, ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// The hot slot of `to` it is prepared on.
    pub slot: u32,
    /// The route prefix it was sent by (for success counts).
    pub prefix: Vec<u8>,
}

/// Where a payment is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentState {
    /// Rejected by us before forwarding.
    RefusedHere(RejectReason),
    /// Forwarded; waiting for the next hop.
    Forwarded,
    /// Fulfilled.
    Fulfilled {
        /// The preimage.
        fulfillment: [u8; 32],
    },
    /// Rejected downstream (or by us after a bad fulfillment).
    Rejected(RejectReason),
    /// The outgoing leg expired first.
    TimedOut,
}

impl PaymentState {
    /// Whether the payment can no longer change.
    pub fn is_final(&self) -> bool {
        !matches!(self, PaymentState::Forwarded)
    }
}

/// A payment through this connector: the hot set entry for its condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Its id.
    pub id: PaymentId,
    /// The account it came from.
    pub from: AccountId,
    /// Its incoming transfer id.
    pub incoming_transfer_id: [u8; 16],
    /// The incoming amount.
    pub incoming_amount: u64,
    /// The incoming expiry.
    pub incoming_expires_at_ms: u64,
    /// The hot slot of `from` an incoming fulfillment is credited to.
    pub from_slot: u32,
    /// The condition.
    pub execution_condition: [u8; 32],
    /// The destination address.
    pub destination: Vec<u8>,
    /// The worker that owns it (see [`hotset`]).
    pub owner: WorkerId,
    /// The outgoing leg, once forwarded.
    pub outgoing: Option<OutgoingLeg>,
    /// Where it is.
    pub state: PaymentState,
}

/// What to send back to the account a payment came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Upstream {
    /// Fulfill it with this preimage.
    Fulfill {
        /// The preimage.
        fulfillment: [u8; 32],
    },
    /// Reject it.
    Reject(RejectReason),
}

impl Payment {
    /// The reply the payment's final state sends upstream (`None` while forwarded).
    pub fn upstream(&self) -> Option<Upstream> {
        match &self.state {
            PaymentState::RefusedHere(reason) | PaymentState::Rejected(reason) => {
                Some(Upstream::Reject(reason.clone()))
            }
            PaymentState::Fulfilled { fulfillment } => Some(Upstream::Fulfill {
                fulfillment: *fulfillment,
            }),
            PaymentState::TimedOut => None,
            PaymentState::Forwarded => None,
        }
    }
}

/// The outgoing leg planned for an incoming Prepare (checks 1–4 passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The route.
    pub route: Chosen,
    /// The outgoing amount, from the route's curve.
    pub amount: u64,
    /// The outgoing expiry.
    pub expires_at_ms: u64,
}

/// Checks 1–4 of the [module docs](self): the outgoing leg, or the reject.
pub fn plan(
    policy: &ForwardPolicy,
    incoming: &IncomingPrepare,
    route: Option<Chosen>,
    now_ms: u64,
) -> Result<Plan, RejectReason> {
    if hotset::is_expired(incoming.expires_at_ms, now_ms) {
        return Err(RejectReason::ours(
            policy,
            ErrorCode::R00_TRANSFER_TIMED_OUT,
            "the prepare expired before it arrived",
        ));
    }
    let Some(route) = route else {
        return Err(RejectReason::ours(
            policy,
            ErrorCode::F02_UNREACHABLE,
            "no route to the destination",
        ));
    };
    let Some(amount) = route.curve.amount_at(incoming.amount) else {
        return Err(RejectReason::ours(
            policy,
            ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
            "amount beyond the route's liquidity",
        ));
    };
    let expires_at_ms = incoming
        .expires_at_ms
        .saturating_sub(policy.expiry_margin_ms)
        .min(now_ms.saturating_add(policy.max_hold_ms));
    if expires_at_ms < now_ms.saturating_add(policy.min_outgoing_window_ms) {
        return Err(RejectReason::ours(
            policy,
            ErrorCode::R02_INSUFFICIENT_TIMEOUT,
            "too little time left to forward the prepare",
        ));
    }
    debug_assert!(expires_at_ms < incoming.expires_at_ms || policy.expiry_margin_ms == 0);
    Ok(Plan {
        route,
        amount,
        expires_at_ms,
    })
}

/// Checks 5–6: the parallelism rule's refusal as the reject to send.
pub fn refusal_reject(policy: &ForwardPolicy, refusal: Refusal, amount: u64) -> RejectReason {
    match refusal {
        Refusal::AmountTooLarge { max_packet_amount } => {
            let mut reason = RejectReason::ours(policy, ErrorCode::F08_AMOUNT_TOO_LARGE, "amount too large");
            reason.data = [amount.to_be_bytes(), max_packet_amount.to_be_bytes()].concat();
            reason
        }
        Refusal::InsufficientShare { .. } => RejectReason::ours(
            policy,
            ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
            "insufficient balance with the next hop",
        ),
    }
}

/// The record of a Prepare refused before forwarding.
pub fn refused(
    incoming: &IncomingPrepare,
    from_config: &AccountConfig,
    owner: WorkerId,
    reason: RejectReason,
) -> Payment {
    base_payment(incoming, from_config, owner, None, PaymentState::RefusedHere(reason))
}

/// The record of a forwarded Prepare, with the change to prepare on the
/// next account's slot `slot`.
pub fn forwarded(
    incoming: &IncomingPrepare,
    from_config: &AccountConfig,
    owner: WorkerId,
    plan: Plan,
    slot: u32,
) -> (Payment, BalanceChange) {
    let id = PaymentId::of(&incoming.from, &incoming.transfer_id);
    let leg = OutgoingLeg {
        to: plan.route.account,
        transfer_id: id.outgoing_transfer_id(),
        amount: plan.amount,
        expires_at_ms: plan.expires_at_ms,
        slot,
        prefix: plan.route.prefix,
    };
    let change = BalanceChange::OutgoingPrepared(leg.amount);
    (
        base_payment(incoming, from_config, owner, Some(leg), PaymentState::Forwarded),
        change,
    )
}

fn base_payment(
    incoming: &IncomingPrepare,
    from_config: &AccountConfig,
    owner: WorkerId,
    outgoing: Option<OutgoingLeg>,
    state: PaymentState,
) -> Payment {
    Payment {
        id: PaymentId::of(&incoming.from, &incoming.transfer_id),
        from: incoming.from.clone(),
        incoming_transfer_id: incoming.transfer_id,
        incoming_amount: incoming.amount,
        incoming_expires_at_ms: incoming.expires_at_ms,
        from_slot: from_config.slot_of(owner),
        execution_condition: incoming.execution_condition,
        destination: incoming.destination.clone(),
        owner,
        outgoing,
        state,
    }
}

/// Something the next hop (or the clock) said about a forwarded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Downstream {
    /// The next hop fulfilled it.
    Fulfilled {
        /// The preimage offered.
        fulfillment: [u8; 32],
    },
    /// The next hop rejected it.
    Rejected(RejectReason),
    /// The outgoing leg's expiry passed (the owner's timer, or start-up).
    Expired,
}

/// One balance change to apply: to `account`'s hot slot `slot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotChange {
    /// The account.
    pub account: AccountId,
    /// Its hot slot.
    pub slot: u32,
    /// The change.
    pub change: BalanceChange,
}

/// Why a downstream event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IgnoredEvent {
    /// The payment was never forwarded (refused here).
    NotForwarded,
    /// It had already ended another way (a Fulfill after the timeout, a
    /// Reject after the Fulfill, ...).
    AlreadyFinal,
    /// The expiry has not passed yet.
    NotExpired,
}

/// What [`on_downstream`] decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    /// Store `next`, apply `changes`, count the route, reply upstream.
    Apply {
        /// The payment's new record.
        next: Box<Payment>,
        /// Balance changes, each to one slot.
        changes: Vec<SlotChange>,
        /// `(prefix, account, fulfilled)` for the route's counts.
        route_feedback: (Vec<u8>, AccountId, bool),
        /// The reply to send upstream.
        upstream: Upstream,
    },
    /// Another worker owns the payment: hand the event over.
    ToOwner(WorkerId),
    /// The same event again: nothing to apply; the same reply again (`None`
    /// for a timed-out payment, whose reject was sent by the timer).
    Duplicate(Option<Upstream>),
    /// Nothing changes.
    Ignored(IgnoredEvent),
}

/// Applies one downstream event, reaching worker `at` at `now_ms`, to
/// `payment`. See the table in the [module docs](self).
pub fn on_downstream(
    policy: &ForwardPolicy,
    payment: &Payment,
    event: Downstream,
    at: WorkerId,
    take_over: bool,
    now_ms: u64,
) -> Transition {
    let Some(leg) = &payment.outgoing else {
        return Transition::Ignored(IgnoredEvent::NotForwarded);
    };
    if payment.state.is_final() {
        let same_kind = matches!(
            (&payment.state, &event),
            (PaymentState::Fulfilled { .. }, Downstream::Fulfilled { .. })
                | (PaymentState::Rejected(_), Downstream::Rejected(_))
                | (PaymentState::TimedOut, Downstream::Expired)
        );
        return if same_kind {
            Transition::Duplicate(payment.upstream())
        } else {
            Transition::Ignored(IgnoredEvent::AlreadyFinal)
        };
    }
    if let Delivery::ToOwner(owner) = hotset::deliver(payment.owner, at, take_over) {
        return Transition::ToOwner(owner);
    }
    let expired = hotset::is_expired(leg.expires_at_ms, now_ms);
    let (state, upstream) = match event {
        Downstream::Rejected(reason) => (PaymentState::Rejected(reason.clone()), Upstream::Reject(reason)),
        // At or after the expiry a Fulfill is too late: the leg timed out.
        Downstream::Expired | Downstream::Fulfilled { .. } if expired => (
            PaymentState::TimedOut,
            Upstream::Reject(RejectReason::ours(
                policy,
                ErrorCode::R00_TRANSFER_TIMED_OUT,
                "the next hop did not fulfill in time",
            )),
        ),
        Downstream::Expired => return Transition::Ignored(IgnoredEvent::NotExpired),
        Downstream::Fulfilled { fulfillment } => {
            if tally_ilp::ilp4::fulfillment_matches_condition(&fulfillment, &payment.execution_condition) {
                (
                    PaymentState::Fulfilled { fulfillment },
                    Upstream::Fulfill { fulfillment },
                )
            } else {
                let reason = RejectReason::ours(
                    policy,
                    ErrorCode::F05_WRONG_CONDITION,
                    "the next hop's fulfillment does not match the condition",
                );
                (PaymentState::Rejected(reason.clone()), Upstream::Reject(reason))
            }
        }
    };
    let fulfilled = matches!(state, PaymentState::Fulfilled { .. });
    let mut changes = vec![SlotChange {
        account: leg.to.clone(),
        slot: leg.slot,
        change: if fulfilled {
            BalanceChange::OutgoingFulfilled(leg.amount)
        } else {
            BalanceChange::OutgoingReleased(leg.amount)
        },
    }];
    if fulfilled {
        changes.push(SlotChange {
            account: payment.from.clone(),
            slot: payment.from_slot,
            change: BalanceChange::IncomingFulfilled(payment.incoming_amount),
        });
    }
    let mut next = payment.clone();
    next.state = state;
    debug_assert!(next.state.is_final());
    Transition::Apply {
        next: Box::new(next),
        changes,
        route_feedback: (leg.prefix.clone(), leg.to.clone(), fulfilled),
        upstream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::LiquidityCurve;
    use tally_ilp::ilp4::fulfillment_to_condition;

    fn policy() -> ForwardPolicy {
        ForwardPolicy::new(b"test.us".to_vec())
    }

    fn incoming(expires_at_ms: u64) -> IncomingPrepare {
        IncomingPrepare {
            from: AccountId::new("alice").unwrap(),
            transfer_id: [1; 16],
            amount: 100,
            expires_at_ms,
            execution_condition: fulfillment_to_condition(&[7; 32]),
            destination: b"test.bob.x".to_vec(),
            data: vec![],
        }
    }

    fn route() -> Chosen {
        Chosen {
            prefix: b"test.bob".to_vec(),
            account: AccountId::new("bob").unwrap(),
            curve: LiquidityCurve::rate(1, 2).unwrap(),
        }
    }

    fn forwarded_payment() -> (Payment, u64) {
        let plan = plan(&policy(), &incoming(10_000), Some(route()), 0).unwrap();
        let expiry = plan.expires_at_ms;
        (
            forwarded(&incoming(10_000), &AccountConfig::default(), WorkerId(0), plan, 0).0,
            expiry,
        )
    }

    #[test]
    fn checks_run_in_order_with_rfc27_codes() {
        let p = policy();
        assert_eq!(
            plan(&p, &incoming(10), Some(route()), 10).unwrap_err().code_str(),
            "R00"
        );
        assert_eq!(plan(&p, &incoming(10_000), None, 0).unwrap_err().code_str(), "F02");
        assert_eq!(
            plan(&p, &incoming(1_400), Some(route()), 0).unwrap_err().code_str(),
            "R02"
        );
        let ok = plan(&p, &incoming(10_000), Some(route()), 0).unwrap();
        assert_eq!((ok.amount, ok.expires_at_ms), (50, 9_000));
        assert_eq!(
            plan(&p, &incoming(10_000), None, 0).unwrap_err().triggered_by,
            b"test.us"
        );
    }

    #[test]
    fn a_fulfill_settles_both_legs_once() {
        let (payment, _) = forwarded_payment();
        let event = Downstream::Fulfilled { fulfillment: [7; 32] };
        let Transition::Apply {
            next,
            changes,
            upstream,
            ..
        } = on_downstream(&policy(), &payment, event.clone(), WorkerId(0), false, 5)
        else {
            panic!("applies")
        };
        assert_eq!(upstream, Upstream::Fulfill { fulfillment: [7; 32] });
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].change, BalanceChange::OutgoingFulfilled(50));
        assert_eq!(changes[1].change, BalanceChange::IncomingFulfilled(100));
        assert_eq!(
            on_downstream(&policy(), &next, event, WorkerId(0), false, 6),
            Transition::Duplicate(Some(upstream))
        );
        assert_eq!(
            on_downstream(&policy(), &next, Downstream::Expired, WorkerId(0), false, 99_999),
            Transition::Ignored(IgnoredEvent::AlreadyFinal)
        );
    }

    #[test]
    fn a_wrong_fulfillment_rejects_with_f05_and_releases() {
        let (payment, _) = forwarded_payment();
        let Transition::Apply { changes, upstream, .. } = on_downstream(
            &policy(),
            &payment,
            Downstream::Fulfilled { fulfillment: [8; 32] },
            WorkerId(0),
            false,
            5,
        ) else {
            panic!("applies")
        };
        assert!(matches!(upstream, Upstream::Reject(ref r) if r.code_str() == "F05"));
        assert_eq!(
            changes,
            vec![SlotChange {
                account: AccountId::new("bob").unwrap(),
                slot: 0,
                change: BalanceChange::OutgoingReleased(50)
            }]
        );
    }

    #[test]
    fn a_fulfill_after_the_expiry_is_a_timeout() {
        let (payment, expiry) = forwarded_payment();
        let transition = on_downstream(
            &policy(),
            &payment,
            Downstream::Fulfilled { fulfillment: [7; 32] },
            WorkerId(0),
            false,
            expiry,
        );
        let Transition::Apply { next, upstream, .. } = transition else {
            panic!("applies")
        };
        assert_eq!(next.state, PaymentState::TimedOut);
        assert!(matches!(upstream, Upstream::Reject(ref r) if r.code_str() == "R00"));
    }

    #[test]
    fn events_at_another_worker_go_to_the_owner() {
        let (payment, expiry) = forwarded_payment();
        assert_eq!(
            on_downstream(&policy(), &payment, Downstream::Expired, WorkerId(3), false, expiry),
            Transition::ToOwner(WorkerId(0))
        );
        assert!(matches!(
            on_downstream(&policy(), &payment, Downstream::Expired, WorkerId(3), true, expiry),
            Transition::Apply { .. }
        ));
        assert_eq!(
            on_downstream(&policy(), &payment, Downstream::Expired, WorkerId(0), false, expiry - 1),
            Transition::Ignored(IgnoredEvent::NotExpired)
        );
    }
}
