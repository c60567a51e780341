//! Properties of the core and the book, checked on random inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use tally_channel::{
    BlockHash, ChainId, ChannelBook, ChannelError, ChannelEvent, ChannelState, EventFields, EventType, StateUpdate,
    U256, fold_events,
};
use tally_store::MemStore;

const AMOUNTS: u64 = 40;

/// Signing is the slow part; sign each amount once.
fn signed(amount: u64) -> StateUpdate {
    static CACHE: OnceLock<HashMap<u64, StateUpdate>> = OnceLock::new();
    CACHE
        .get_or_init(|| (0..AMOUNTS).map(|n| (n * 25, payment(channel(1), n * 25))).collect())
        .get(&amount)
        .cloned()
        .unwrap()
}

fn arb_fields() -> impl Strategy<Value = EventFields> {
    (
        any::<bool>(),
        prop::option::of(0u64..2_000),
        prop::option::of(0u64..500),
        prop::option::of(0u64..100),
        any::<bool>(),
    )
        .prop_map(|(parties, value, payment, period, max)| EventFields {
            sender: parties.then(|| sender().address),
            receiver: parties.then(receiver),
            value_wei: if max { Some(U256::MAX) } else { value.map(U256::from) },
            settlement_period_s: period,
            until_s: period.map(|p| p * 1_000),
            payment_wei: payment.map(U256::from),
            odd_value_wei: payment.map(|p| U256::from(p / 2)),
            token_contract: None,
        })
}

fn arb_event() -> impl Strategy<Value = ChannelEvent> {
    (
        prop::sample::select(EventType::ALL.to_vec()),
        0u64..8,
        any::<bool>(),
        any::<bool>(),
        arb_fields(),
    )
        .prop_map(|(event_type, block, is_intent, valid, fields)| {
            let mut built = if is_intent {
                intent(channel(1), event_type, block, fields)
            } else {
                event(channel(1), event_type, block, fields)
            };
            built.block_is_valid = valid || is_intent;
            built
        })
}

/// Chain events, some with a log position drawn from a small set (so that
/// positions repeat, with other content: identity clashes).
fn arb_chain_event() -> impl Strategy<Value = ChannelEvent> {
    (
        prop::sample::select(vec![EventType::DidOpen, EventType::DidDeposit, EventType::DidClaim]),
        10u64..13,
        prop::option::of((0u8..3, 0u64..3)),
        0u64..3,
    )
        .prop_map(|(event_type, block, log, value)| {
            let fields = if event_type == EventType::DidOpen {
                EventFields {
                    sender: Some(sender().address),
                    receiver: Some(receiver()),
                    value_wei: Some(U256::from(100 + value)),
                    ..EventFields::default()
                }
            } else {
                deposit_fields(value)
            };
            let built = event(channel(1), event_type, block, fields);
            match log {
                Some((tx, index)) => positioned(built, tx, index),
                None => built,
            }
        })
}

#[derive(Debug, Clone)]
enum Step {
    Pay(u64),
    Deposit(u64, u64),
    DepositIntent(u64, u64),
    Reorg(u64, u8),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..AMOUNTS).prop_map(|n| Step::Pay(n * 25)),
        1 => (11u64..16, 1u64..300).prop_map(|(block, value)| Step::Deposit(block, value)),
        1 => (10u64..16, 1u64..300).prop_map(|(block, value)| Step::DepositIntent(block, value)),
        1 => (10u64..16, any::<u8>()).prop_map(|(first, mask)| Step::Reorg(first, mask)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn payments_are_monotonic_in_what_counts_as_latest(amounts in prop::collection::vec(0..AMOUNTS, 1..25)) {
        let book = ChannelBook::new(MemStore::new());
        let key = channel(1);
        book.insert_channel_event(open(key, 10, 600)).unwrap();
        let mut latest = None::<U256>;
        for n in amounts {
            let update = signed(n * 25);
            let amount = update.amount_wei;
            let outcome = book.insert_state_update(update).unwrap();
            match outcome.accepted() {
                Some(result) => {
                    prop_assert!(amount <= U256::from(600));
                    prop_assert_eq!(result.is_latest, latest.is_none_or(|l| amount >= l));
                    let expected = latest.map_or(amount, |l| l.max(amount));
                    prop_assert_eq!(result.channel_payment_wei, expected);
                    prop_assert!(latest.is_none_or(|l| result.channel_payment_wei >= l), "latest went down");
                    latest = Some(expected);
                }
                None => {
                    prop_assert_eq!(outcome.reason(), Some("amount_exceeds_channel_value"));
                    prop_assert!(amount > U256::from(600));
                }
            }
            let status = book.channel_status(&key, true).unwrap();
            prop_assert_eq!(status.current_payment_wei, latest);
        }
    }

    #[test]
    fn remaining_balance_is_never_negative_and_adds_up(steps in prop::collection::vec(arb_step(), 1..30)) {
        let book = ChannelBook::new(MemStore::new());
        let key = channel(1);
        book.insert_channel_event(open(key, 10, 300)).unwrap();
        for step in steps {
            match step {
                Step::Pay(amount) => {
                    book.insert_state_update(signed(amount)).unwrap();
                }
                Step::Deposit(block, value) => {
                    book.insert_channel_event(event(key, EventType::DidDeposit, block, deposit_fields(value))).unwrap();
                }
                Step::DepositIntent(block, value) => {
                    book.insert_channel_event(intent(key, EventType::DidDeposit, block, deposit_fields(value))).unwrap();
                }
                Step::Reorg(first, mask) => {
                    let hashes: Vec<BlockHash> = (first..16)
                        .map(|block| if mask & (1 << (block - 10)) == 0 { hash(block) } else { BlockHash([0x99; 32]) })
                        .collect();
                    book.set_recent_blocks(ChainId(1), first, &hashes).unwrap();
                }
            }
            for include_intent in [true, false] {
                let status = book.channel_status(&key, include_intent).unwrap();
                prop_assert_eq!(status.channel.check_invariants(), Ok(()));
                if let (Some(value), Some(remaining)) = (status.channel.value_wei, status.current_remaining_balance_wei) {
                    let paid = status.current_payment_wei.unwrap_or_default();
                    prop_assert!(remaining <= value);
                    if paid <= value {
                        prop_assert_eq!(remaining + paid, value);
                    } else {
                        prop_assert_eq!(remaining, U256::zero());
                    }
                }
            }
        }
    }

    #[test]
    fn a_chain_event_seen_again_with_a_later_ts_changes_nothing(
        events in prop::collection::vec(arb_chain_event(), 1..12),
    ) {
        let book = ChannelBook::new(MemStore::new());
        for event in &events {
            match book.insert_channel_event(event.clone()) {
                Ok(_) | Err(ChannelError::IdentityClash(_)) => {}
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
        let before = history(&book, &channel(1));
        let status = book.channel_status(&channel(1), true).unwrap();
        // Every stored event seen again, later, in both forms where it has a
        // position (an input refused as a clash was never stored).
        for stored in &before.events {
            let mut again = vec![seen_later(stored.clone())];
            if stored.log.is_some() {
                again.push(ChannelEvent { log: None, ..seen_later(stored.clone()) });
            }
            for sighting in again {
                let after = book.insert_channel_event(sighting).unwrap();
                prop_assert_eq!(&after.channel, &status.channel);
            }
        }
        prop_assert_eq!(history(&book, &channel(1)).events.len(), before.events.len());
        prop_assert_eq!(book.channel_status(&channel(1), true).unwrap(), status);
    }

    #[test]
    fn random_event_orders_never_panic_nor_yield_an_impossible_state(
        events in prop::collection::vec(arb_event(), 0..20),
        include_intent in any::<bool>(),
    ) {
        let folded = fold_events(channel(1), &events, include_intent);
        prop_assert_eq!(folded.channel.check_invariants(), Ok(()));
        if folded.channel.state.is_some() {
            prop_assert!(folded.latest_event.is_some());
        }
        if folded.is_invalid_reason.is_some() {
            prop_assert!(folded.latest_event.is_some());
        }
        if folded.channel.state == Some(ChannelState::Settled) {
            prop_assert!(folded.channel.settlement_finalized_on_ms.is_some());
        }
        // Any permutation folds too, and the book agrees with the pure fold.
        let mut reversed = events.clone();
        reversed.reverse();
        let again = fold_events(channel(1), &reversed, include_intent);
        prop_assert_eq!(again.channel.check_invariants(), Ok(()));

        let book = ChannelBook::new(MemStore::new());
        for event in &events {
            book.insert_channel_event(event.clone()).unwrap();
        }
        let status = book.channel_status(&channel(1), include_intent).unwrap();
        prop_assert_eq!(status.channel.check_invariants(), Ok(()));
    }
}
