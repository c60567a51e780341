//! Fuzzing entry point shared by the `fuzz/` target `connector_link` and
//! the seed replay in `cargo test`. Not a stable API.
//!
//! The input is a sequence of frames, each a length byte then that many
//! bytes; the first byte of the input picks the family (even: BTP 2.0, odd:
//! CLP). Frames alternate between the sender's link and the next hop's link
//! of one connector, and every event they produce is applied. Nothing may
//! panic, and the next hop's balance may never go below zero nor its
//! prepared amount disagree with the payments in flight.

use tally_store::MemStore;

use crate::account::{AccountConfig, AccountId, WorkerId};
use crate::connector::{Connector, ConnectorConfig, PrepareOutcome};
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
                        forwarded.push(out);
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
