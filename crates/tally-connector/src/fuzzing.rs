//! Fuzzing entry points shared by the `fuzz/` targets `connector_link` and
//! `connector_ops` and the seed replay in `cargo test`. Not a stable API.
//!
//! [`connector_link`]: the input is a sequence of frames, each a length byte then that many
//! bytes; the first byte of the input picks the family (even: BTP 2.0, odd:
//! CLP). Frames alternate between the sender's link and the next hop's link
//! of one connector, and every event they produce is applied. Nothing may
//! panic, and the next hop's balance may never go below zero nor its
//! prepared amount disagree with the payments in flight.
//!
//! [`connector_ops`]: random operations straight on the core's API (credits,
//! pay-outs, moves, Prepares, Fulfills, Rejects, timeouts, route changes)
//! by two workers sharing one store, with every balance checked against a
//! model after each operation.

use std::collections::BTreeMap;

use tally_store::MemStore;
use tally_store::testkit::FuzzBytes;

use crate::account::{AccountConfig, AccountId, WorkerId};
use crate::balance::BalanceParts;
use crate::connector::{Connector, ConnectorConfig, PrepareOutcome};
use crate::forward::{IncomingPrepare, PaymentId, PaymentState, RejectReason};
use crate::routing::LiquidityCurve;
use crate::wire::{Family, Link, LinkEvent};

/// Runs one input; panics on a violated invariant. Returns how many
/// Prepares were forwarded and how many of those ended, so seed tests can
/// tell which paths an input reaches.
pub fn connector_link(input: &[u8]) -> (usize, usize) {
    let Some((&selector, mut rest)) = input.split_first() else {
        return (0, 0);
    };
    let family = if selector % 2 == 0 { Family::Btp2 } else { Family::Clp };
    let (Ok(alice), Ok(bob)) = (AccountId::new("alice"), AccountId::new("bob")) else {
        return (0, 0);
    };
    let Ok(hub) = Connector::new(MemStore::new(), WorkerId(0), ConnectorConfig::new(b"test.hub".to_vec())) else {
        return (0, 0);
    };
    let ready = hub.open_account(&alice, AccountConfig::default()).is_ok()
        && hub.open_account(&bob, AccountConfig::default()).is_ok()
        && hub.credit(&bob, [1; 16], 1_000).is_ok()
        && hub
            .announce_route(b"test.bob", &bob, LiquidityCurve::identity())
            .is_ok();
    assert!(ready, "set-up on a fresh MemStore cannot fail");
    let mut links = [
        Link::new(alice, family, b"test.hub", [1; 32]),
        Link::new(bob.clone(), family, b"test.hub", [2; 32]),
    ];
    let mut forwarded = Vec::new();
    let mut side = 0;
    let now_ms = 1_000;
    while let Some((&len, tail)) = rest.split_first() {
        let (frame, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let Ok(received) = links[side].receive(frame, now_ms) else {
            side ^= 1;
            continue;
        };
        for event in received.events {
            match event {
                LinkEvent::Prepare(incoming) => {
                    if let Ok(PrepareOutcome::Forward(out)) = hub.handle_prepare(&incoming, now_ms) {
                        let _ = links[1].send_prepare(&out, now_ms);
                        // A repeated Prepare is answered with the same
                        // outgoing leg: one payment, counted once.
                        if !forwarded
                            .iter()
                            .any(|seen: &crate::connector::OutgoingPrepare| seen.payment == out.payment)
                        {
                            forwarded.push(out);
                        }
                    }
                }
                LinkEvent::Fulfilled {
                    transfer_id,
                    fulfillment,
                } => {
                    let _ = hub.handle_fulfill(links[side].account(), &transfer_id, fulfillment, now_ms);
                }
                LinkEvent::Rejected { transfer_id, reason } => {
                    let _ = hub.handle_reject(links[side].account(), &transfer_id, reason, now_ms);
                }
                _ => {}
            }
        }
        side ^= 1;
    }
    let Ok(balances) = hub.balances(&bob) else {
        panic!("balances readable");
    };
    assert!(balances.balance() >= 0, "overdrawn: {}", balances.balance());
    let in_flight: u128 = forwarded
        .iter()
        .filter(|out| {
            hub.payment(&out.payment)
                .ok()
                .flatten()
                .is_some_and(|p| !p.state.is_final())
        })
        .map(|out| u128::from(out.amount))
        .sum();
    assert_eq!(balances.total.outgoing_prepared, in_flight, "prepared = in flight");
    let ended = forwarded
        .iter()
        .filter(|out| {
            hub.payment(&out.payment)
                .ok()
                .flatten()
                .is_some_and(|p| p.state.is_final())
        })
        .count();
    (forwarded.len(), ended)
}

/// What this crate's fuzz targets draw from the input beyond single bytes.
trait Draw {
    /// An amount from a small set that includes the extremes.
    fn amount(&mut self) -> u64;
}

impl Draw for FuzzBytes<'_> {
    /// An amount from a small set that includes the extremes.
    fn amount(&mut self) -> u64 {
        [0, 1, 10, 100, 250, 1_000, 5_000, u64::MAX][usize::from(self.u8() % 8)]
    }
}

/// The most operations one input runs.
const MAX_OPS: usize = 64;
/// The accounts: `(name, parallelism, min_balance, max_packet_amount)`.
const ACCOUNTS: [(&str, u32, i128, u64); 3] = [
    ("alice", 1, 0, u64::MAX),
    ("bob", 2, 0, u64::MAX),
    ("carol", 1, -500, 300),
];
/// The destinations Prepares go to: routed, unrouted, ours, not an address.
const DESTINATIONS: [&[u8]; 6] = [
    b"test.bob.x",
    b"test.carol.y",
    b"test.alice.z",
    b"test.nowhere",
    b"test.hub",
    b"not an address",
];
/// The prefixes routes are announced for.
const PREFIXES: [&[u8]; 3] = [b"test.bob", b"test.carol", b"test.alice"];

/// What the operations that applied add up to, per account: the counters
/// the connector's records must show, apart from the payments' own effects.
#[derive(Debug, Default, Clone, Copy)]
struct Applied {
    credited: u128,
    paid_out: u128,
    moved: u128,
}

/// Checks every account's balances against the model: `applied` (credits,
/// pay-outs, moves) plus what each known payment's state implies; every
/// total stays at or above its `min_balance` and every hot slot's share
/// ([`balance`](crate::balance#the-parallelism-rule)) at or above zero;
/// a payment that reached a final state never leaves it.
///
/// # Panics
/// On a broken invariant.
fn check_connector(
    hub: &Connector<&MemStore>,
    accounts: &[AccountId],
    applied: &BTreeMap<AccountId, Applied>,
    payments: &mut BTreeMap<PaymentId, Option<PaymentState>>,
) -> Option<()> {
    let mut expected: BTreeMap<&AccountId, BalanceParts> = BTreeMap::new();
    for account in accounts {
        let model = applied.get(account).copied().unwrap_or_default();
        expected.insert(
            account,
            BalanceParts {
                incoming_unconditional: model.credited,
                outgoing_unconditional: model.paid_out,
                moved_in: model.moved,
                moved_out: model.moved,
                ..BalanceParts::default()
            },
        );
    }
    for (id, final_state) in payments.iter_mut() {
        let Some(payment) = hub.payment(id).ok()? else {
            // A Prepare that failed before it was recorded.
            continue;
        };
        if let Some(state) = final_state {
            assert_eq!(&payment.state, state, "a final payment changed state");
        } else if payment.state.is_final() {
            *final_state = Some(payment.state.clone());
        }
        let Some(leg) = &payment.outgoing else { continue };
        match &payment.state {
            PaymentState::Forwarded => {
                let to = expected.get_mut(&leg.to)?;
                to.outgoing_prepared += u128::from(leg.amount);
            }
            PaymentState::Fulfilled { .. } => {
                let to = expected.get_mut(&leg.to)?;
                to.outgoing_fulfilled += u128::from(leg.amount);
                let from = expected.get_mut(&payment.from)?;
                from.incoming_fulfilled += u128::from(payment.incoming_amount);
            }
            PaymentState::Rejected(_) | PaymentState::TimedOut | PaymentState::RefusedHere(_) => {}
        }
    }
    for account in accounts {
        let balances = hub.balances(account).ok()?;
        assert_eq!(
            Some(&balances.total),
            expected.get(account),
            "{account:?}: the records disagree with the operations that applied"
        );
        let min = balances.config.min_balance;
        assert!(
            balances.balance() >= min,
            "{account:?} overdrawn: {} below {min}",
            balances.balance()
        );
        let cold = balances.cold.balance()?;
        let parallelism = i128::from(balances.config.parallelism);
        for (slot, hot) in balances.slots.iter().enumerate() {
            let share = (cold - min) + parallelism * hot.balance()?;
            assert!(share >= 0, "{account:?}: slot {slot}'s share is {share}");
        }
    }
    Some(())
}

/// Runs the operations `data` encodes on a connector (`test.hub`) with
/// two workers on one store and three accounts (one with two hot slots, one
/// with credit and a packet limit), checking [`check_connector`] after each.
/// Returns how many payments were forwarded and how many of those ended,
/// so the seed replay can tell which paths an input reaches.
///
/// # Panics
/// On a broken invariant (that is the point).
pub fn connector_ops(data: &[u8]) -> (usize, usize) {
    let store = MemStore::new();
    let config = ConnectorConfig::new(b"test.hub".to_vec());
    let (Ok(first), Ok(second)) = (
        Connector::new(&store, WorkerId(0), config.clone()),
        Connector::new(&store, WorkerId(1), config),
    ) else {
        return (0, 0);
    };
    let workers = [first, second];
    let mut accounts = Vec::new();
    for (name, parallelism, min_balance, max_packet_amount) in ACCOUNTS {
        let Ok(id) = AccountId::new(name) else { return (0, 0) };
        let config = AccountConfig {
            parallelism,
            min_balance,
            max_packet_amount,
        };
        assert!(
            workers[0].open_account(&id, config).is_ok(),
            "opening an account on a MemStore"
        );
        accounts.push(id);
    }
    for (prefix, account) in PREFIXES.iter().zip([&accounts[1], &accounts[2], &accounts[0]]) {
        let curve = if account == &accounts[2] {
            LiquidityCurve::rate(1, 2)
        } else {
            Ok(LiquidityCurve::identity())
        };
        let Ok(curve) = curve else { return (0, 0) };
        assert!(
            workers[0].announce_route(prefix, account, curve).is_ok(),
            "announcing a route"
        );
    }
    for worker in &workers {
        assert!(worker.reload_routes().is_ok(), "reloading routes");
    }
    let mut applied: BTreeMap<AccountId, Applied> = BTreeMap::new();
    let mut payments: BTreeMap<PaymentId, Option<PaymentState>> = BTreeMap::new();
    let mut forwarded: Vec<(PaymentId, AccountId, [u8; 16])> = Vec::new();
    let mut now_ms: u64 = 1_000_000;
    let mut input = FuzzBytes::new(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        let hub = &workers[usize::from(op >> 3 & 1)];
        match op % 8 {
            0..=2 => {
                let account = accounts[usize::from(input.u8()) % accounts.len()].clone();
                let operation = [input.u8() % 8; 16];
                let amount = input.amount();
                let to_hot = input.u8().is_multiple_of(2);
                let done = match op % 8 {
                    0 => hub.credit(&account, operation, amount),
                    1 => hub.pay_out(&account, operation, amount),
                    _ => hub.move_balance(&account, operation, amount, to_hot),
                };
                if let Ok(true) = done {
                    let model = applied.entry(account).or_default();
                    let amount = u128::from(amount);
                    match op % 8 {
                        0 => model.credited += amount,
                        1 => model.paid_out += amount,
                        _ => model.moved += amount,
                    }
                }
            }
            3 => {
                let from = accounts[usize::from(input.u8()) % accounts.len()].clone();
                let transfer_id = [input.u8() % 8; 16];
                let amount = input.amount();
                let expiry = [0, 400, 1_500, 5_000, 40_000][usize::from(input.u8() % 5)];
                let destination = DESTINATIONS[usize::from(input.u8()) % DESTINATIONS.len()].to_vec();
                let secret = input.u8() % 4;
                let incoming = IncomingPrepare {
                    from,
                    transfer_id,
                    amount,
                    expires_at_ms: now_ms + expiry,
                    execution_condition: tally_ilp::ilp4::fulfillment_to_condition(&[secret; 32]),
                    destination,
                    data: vec![secret],
                };
                if let Ok(PrepareOutcome::Forward(out)) = hub.handle_prepare(&incoming, now_ms) {
                    if let std::collections::btree_map::Entry::Vacant(entry) = payments.entry(out.payment) {
                        entry.insert(None);
                        forwarded.push((out.payment, out.to, out.transfer_id));
                    }
                } else {
                    // A refused Prepare is recorded too: it may never move value.
                    payments
                        .entry(PaymentId::of(&incoming.from, &incoming.transfer_id))
                        .or_insert(None);
                }
            }
            4 | 5 => {
                let pick = input.u8();
                let right = input.u8();
                if let Some((_, to, transfer_id)) = forwarded.get(usize::from(pick) % forwarded.len().max(1)) {
                    if op % 8 == 4 {
                        // The right preimage is one of four; a wrong one rejects.
                        let _ = hub.handle_fulfill(to, transfer_id, [right % 4; 32], now_ms);
                    } else {
                        let reason = RejectReason {
                            code: *b"F99",
                            triggered_by: b"test.bob".to_vec(),
                            message: String::new(),
                            data: vec![right],
                        };
                        let _ = hub.handle_reject(to, transfer_id, reason, now_ms);
                    }
                }
            }
            6 => {
                now_ms += u64::from(input.u8()) * 100;
                if op & 16 == 0 {
                    let _ = hub.handle_timeouts(now_ms);
                } else {
                    let _ = hub.recover(now_ms);
                }
            }
            _ => {
                let prefix = PREFIXES[usize::from(input.u8()) % PREFIXES.len()];
                let account = &accounts[usize::from(input.u8()) % accounts.len()];
                if op & 16 == 0 {
                    let _ = hub.announce_route(prefix, account, LiquidityCurve::identity());
                } else {
                    let _ = hub.withdraw_route(prefix, account);
                }
                for worker in &workers {
                    let _ = worker.reload_routes();
                }
            }
        }
        if check_connector(&workers[0], &accounts, &applied, &mut payments).is_none() {
            break;
        }
    }
    let ended = payments
        .iter()
        .filter(|(id, state)| state.is_some() && forwarded.iter().any(|(f, _, _)| f == *id))
        .count();
    (forwarded.len(), ended)
}
