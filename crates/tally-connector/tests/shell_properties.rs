//! Property test through the shell: whatever order, duplication or lateness
//! the replies come in, each payment changes the balances exactly once, and
//! the balances are always the formula over the payments' final states.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeMap;

use common::{connector, fulfillment, id, prepare, set_up};
use proptest::prelude::*;
use tally_connector::forward::PaymentState;
use tally_connector::{PrepareOutcome, RejectReason};
use tally_store::MemStore;

#[derive(Debug, Clone)]
enum Step {
    Prepare { n: u64, amount: u64, ttl_ms: u64 },
    Fulfill { n: u64, right: bool },
    Reject { n: u64 },
    Tick { ms: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..12, 1u64..200, 1_600u64..4_000).prop_map(|(n, amount, ttl_ms)| Step::Prepare { n, amount, ttl_ms }),
        4 => (0u64..12, prop::bool::weighted(0.8)).prop_map(|(n, right)| Step::Fulfill { n, right }),
        2 => (0u64..12).prop_map(|n| Step::Reject { n }),
        2 => (0u64..1_500).prop_map(|ms| Step::Tick { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn duplicated_and_late_replies_never_apply_a_balance_change_twice(steps in proptest::collection::vec(step(), 1..50)) {
        let hub = connector(MemStore::new(), 0);
        set_up(&hub, 1, 1_000);
        let mut now_ms = 0u64;
        let mut sent: BTreeMap<u64, tally_connector::OutgoingPrepare> = BTreeMap::new();
        for step in steps {
            match step {
                Step::Prepare { n, amount, ttl_ms } => {
                    if let PrepareOutcome::Forward(out) = hub.handle_prepare(&prepare(n, amount, now_ms + ttl_ms), now_ms).unwrap() {
                        sent.insert(n, out);
                    }
                }
                Step::Fulfill { n, right } => {
                    if let Some(out) = sent.get(&n) {
                        let offered = if right { fulfillment(n) } else { [0xee; 32] };
                        hub.handle_fulfill(&id("bob"), &out.transfer_id, offered, now_ms).unwrap();
                    }
                }
                Step::Reject { n } => {
                    if let Some(out) = sent.get(&n) {
                        let reason = RejectReason { code: *b"F99", triggered_by: b"test.bob".to_vec(), message: String::new(), data: vec![] };
                        hub.handle_reject(&id("bob"), &out.transfer_id, reason, now_ms).unwrap();
                    }
                }
                Step::Tick { ms } => {
                    now_ms += ms;
                    hub.handle_timeouts(now_ms).unwrap();
                }
            }
            // The balances are exactly the formula over the payments' states.
            let (mut prepared, mut fulfilled) = (0u128, 0u128);
            for out in sent.values() {
                match hub.payment(&out.payment).unwrap().unwrap().state {
                    PaymentState::Forwarded => prepared += u128::from(out.amount),
                    PaymentState::Fulfilled { .. } => fulfilled += u128::from(out.amount),
                    _ => {}
                }
            }
            let bob = hub.balances(&id("bob")).unwrap();
            prop_assert_eq!(bob.total.outgoing_prepared, prepared);
            prop_assert_eq!(bob.total.outgoing_fulfilled, fulfilled);
            prop_assert_eq!(bob.balance(), 1_000 - prepared as i128 - fulfilled as i128);
            prop_assert_eq!(hub.balances(&id("alice")).unwrap().total.incoming_fulfilled, fulfilled);
        }
        hub.recover(u64::MAX).unwrap();
        prop_assert_eq!(hub.balances(&id("bob")).unwrap().total.outgoing_prepared, 0);
    }
}
