//! Property test of request tracking: whatever the peer sends back, in any
//! order, duplicated, or after the deadline, every request resolves exactly
//! once and its balance change is applied exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tally_connector::BalanceParts;
use tally_connector::tracking::{Handled, Reply, Tracker, Transfer};
use tally_ilp::ilp4::fulfillment_to_condition;

#[derive(Debug, Clone)]
enum Step {
    /// Send a Prepare of `amount` expiring `ttl_ms` from now.
    Send { amount: u64, ttl_ms: u64 },
    /// The peer answers request number `index` (mod sent) with this reply kind.
    Answer { index: usize, kind: u8, right: bool },
    /// Time passes.
    Tick { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (1u64..1_000, 1u64..200).prop_map(|(amount, ttl_ms)| Step::Send { amount, ttl_ms }),
        6 => (any::<usize>(), 0u8..5, any::<bool>()).prop_map(|(index, kind, right)| Step::Answer { index, kind, right }),
        2 => (0u64..100).prop_map(|ms| Step::Tick { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_balance_change_is_applied_twice_whatever_the_replies(steps in proptest::collection::vec(step(), 1..80)) {
        let mut tracker = Tracker::new([5; 32], 1);
        let mut now_ms = 0u64;
        let mut balance = BalanceParts::default().apply(tally_connector::BalanceChange::IncomingUnconditional(1 << 40)).unwrap();
        // request id -> (transfer id, amount, fulfillment)
        let mut sent: Vec<(u32, [u8; 16], u64, [u8; 32])> = Vec::new();
        let mut resolutions: BTreeMap<u32, usize> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Send { amount, ttl_ms } => {
                    let fulfillment = [sent.len() as u8; 32];
                    let transfer = Transfer {
                        amount: Some(amount),
                        execution_condition: Some(fulfillment_to_condition(&fulfillment)),
                        expires_at_ms: Some(now_ms + ttl_ms),
                    };
                    let out = tracker.send(transfer, None, now_ms).unwrap();
                    balance = balance.apply(out.kind.prepared_change().unwrap()).unwrap();
                    sent.push((out.request_id, out.transfer_id.unwrap(), amount, fulfillment));
                }
                Step::Answer { index, kind, right } => {
                    if sent.is_empty() { continue; }
                    let (request_id, transfer_id, _, fulfillment) = sent[index % sent.len()];
                    let offered = if right { fulfillment } else { [0xee; 32] };
                    let reply = match kind {
                        0 => Reply::Ack { request_id },
                        1 => Reply::Fulfill { transfer_id, fulfillment: offered },
                        2 => Reply::Reject { transfer_id },
                        3 => Reply::FulfillFor { request_id, fulfillment: offered },
                        _ => Reply::Error { request_id },
                    };
                    if let Handled::Resolved(resolution) = tracker.handle_reply(reply) {
                        *resolutions.entry(resolution.request_id).or_default() += 1;
                        balance = balance.apply(resolution.balance_change().unwrap()).unwrap();
                    }
                }
                Step::Tick { ms } => {
                    now_ms += ms;
                    for resolution in tracker.handle_timeout(now_ms) {
                        *resolutions.entry(resolution.request_id).or_default() += 1;
                        balance = balance.apply(resolution.balance_change().unwrap()).unwrap();
                    }
                }
            }
            prop_assert!(resolutions.values().all(|&n| n == 1), "a request resolved twice");
            // What is still prepared is exactly what is still pending.
            let pending: u128 = tracker.pending().map(|p| match p.kind {
                tally_connector::tracking::RequestKind::Prepare { amount, .. } => u128::from(amount),
                _ => 0,
            }).sum();
            prop_assert_eq!(balance.outgoing_prepared, pending);
        }
        // Once every deadline has passed nothing is prepared any more.
        for resolution in tracker.handle_timeout(u64::MAX) {
            *resolutions.entry(resolution.request_id).or_default() += 1;
            balance = balance.apply(resolution.balance_change().unwrap()).unwrap();
        }
        prop_assert_eq!(balance.outgoing_prepared, 0);
        prop_assert_eq!(resolutions.len(), sent.len());
        prop_assert!(resolutions.values().all(|&n| n == 1));
    }
}
