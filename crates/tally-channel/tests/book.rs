//! pg-machinomy's behaviours on a ChannelBook over MemStore and FaultyStore.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use common::*;
use tally_channel::{
    BlockHash, ChainId, ChannelBook, ChannelBookConfig, ChannelEvent, ChannelKey, ChannelState, DupeStatus,
    EventFields, EventType, Payment, Scheme, StateUpdateOutcome, TxHash, U256, sign_payment,
};
use tally_store::{Fault, FaultyStore, MemStore};

fn book() -> ChannelBook<MemStore> {
    ChannelBook::new(MemStore::new())
}

fn opened(value: u64) -> (ChannelBook<MemStore>, ChannelKey) {
    let book = book();
    let key = channel(1);
    book.insert_channel_event(open(key, 10, value)).unwrap();
    (book, key)
}

fn reason(outcome: &StateUpdateOutcome) -> &str {
    outcome.reason().unwrap_or("accepted")
}

#[test]
fn accepts_payments_and_reports_pg_machinomy_fields() {
    let (book, key) = opened(1_000);
    let first = book.insert_state_update(payment(key, 300)).unwrap();
    let first = first.accepted().unwrap();
    assert_eq!((first.id, first.created, first.is_latest), (Some(1), true, true));
    assert_eq!(first.added_amount_wei, Some(U256::from(300)));
    assert_eq!(first.channel_payment_wei, U256::from(300));
    assert_eq!(first.channel_remaining_balance_wei, Some(U256::from(700)));
    assert_eq!(first.status.dupe_status, DupeStatus::Distinct);
    assert!(first.status.signature_valid);

    let second = book.insert_state_update(payment(key, 450)).unwrap();
    let second = second.accepted().unwrap();
    assert_eq!((second.id, second.added_amount_wei), (Some(2), Some(U256::from(150))));
    assert_eq!(second.latest_state.amount_wei, U256::from(450));

    let status = book.channel_status(&key, true).unwrap();
    assert_eq!(status.current_payment_wei, Some(U256::from(450)));
    assert_eq!(status.current_remaining_balance_wei, Some(U256::from(550)));
    assert_eq!(status.channel.state, Some(ChannelState::Open));
    assert!(!status.is_invalid);
}

#[test]
fn exact_duplicate_is_accepted_with_created_false_and_stores_nothing() {
    let (book, key) = opened(1_000);
    let update = payment(key, 300);
    book.insert_state_update(update.clone()).unwrap();
    let again = book.insert_state_update(update).unwrap();
    let again = again.accepted().unwrap();
    assert_eq!((again.id, again.created, again.is_latest), (None, false, true));
    assert_eq!(again.status.dupe_status, DupeStatus::Duplicate);
    assert_eq!(again.added_amount_wei, Some(U256::zero()));
    assert_eq!(history(&book, &key).state_updates.len(), 1);
}

#[test]
fn update_below_latest_is_stored_but_not_latest() {
    let (book, key) = opened(1_000);
    book.insert_state_update(payment(key, 500)).unwrap();
    let lower = book.insert_state_update(payment(key, 200)).unwrap();
    let lower = lower.accepted().unwrap();
    assert_eq!((lower.id, lower.created, lower.is_latest), (Some(2), true, false));
    assert_eq!(lower.added_amount_wei, None);
    assert_eq!(lower.latest_state.amount_wei, U256::from(500));
    assert_eq!(lower.channel_remaining_balance_wei, Some(U256::from(500)));
    // pg-machinomy raised a unique-index error for the same older amount
    // again; here it is a duplicate.
    let again = book.insert_state_update(payment(key, 200)).unwrap();
    assert!(!again.accepted().unwrap().created);
    assert_eq!(history(&book, &key).state_updates.len(), 2);
}

#[test]
fn every_rejection_reason_is_reported_recorded_and_changes_nothing_else() {
    let (book, key) = opened(1_000);
    book.insert_state_update(payment(key, 300)).unwrap();
    let before = book.channel_status(&key, true).unwrap();

    // signature_invalid: the stranger signs but claims to be the sender.
    let forged = signed_by(&stranger(), sender().address, key, 400);
    let outcome = book.insert_state_update(forged).unwrap();
    assert_eq!(reason(&outcome), "signature_invalid");
    let StateUpdateOutcome::Rejected(rejection) = &outcome else {
        unreachable!()
    };
    assert!(rejection.error);
    assert!(!rejection.status.signature_valid);
    assert!(rejection.detail.contains("signed by"), "{}", rejection.detail);

    // conflict: a second, different, valid signature for a stored amount.
    let twin = high_s_twin(&payment(key, 300));
    let outcome = book.insert_state_update(twin).unwrap();
    assert_eq!(reason(&outcome), "conflict");

    // incorrect_sender: well signed by someone who is not the channel's sender.
    let outcome = book
        .insert_state_update(signed_by(&stranger(), stranger().address, key, 400))
        .unwrap();
    assert_eq!(reason(&outcome), "incorrect_sender");

    // amount_exceeds_channel_value.
    let outcome = book.insert_state_update(payment(key, 1_001)).unwrap();
    assert_eq!(reason(&outcome), "amount_exceeds_channel_value");

    // invalid_amount: refused while parsing, before anything is stored.
    let json = r#"{"chain_id":1,"contract_id":"0808080808080808080808080808080808080808",
        "channel_id":"0101010101010101010101010101010101010101010101010101010101010101",
        "amount":"-5","signature":"0x00","sender":"0x00000000000000000000000000000000000000ee"}"#;
    let error = book.insert_state_update_json(json, 0).unwrap_err();
    assert!(error.to_string().contains("invalid_amount"), "{error}");

    let after = book.channel_status(&key, true).unwrap();
    assert_eq!(before, after, "rejections change nothing but the audit log");
    let stored = history(&book, &key);
    assert_eq!(stored.state_updates.len(), 1);
    let mut reasons: Vec<&str> = stored.rejected.iter().map(|r| r.reason.as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        [
            "amount_exceeds_channel_value",
            "conflict",
            "incorrect_sender",
            "signature_invalid"
        ]
    );
}

#[test]
fn checks_run_in_pg_machinomy_order() {
    let (book, key) = opened(1_000);
    book.insert_state_update(payment(key, 300)).unwrap();
    // Forged AND too large: signature first.
    let forged = signed_by(&stranger(), sender().address, key, 5_000);
    assert_eq!(reason(&book.insert_state_update(forged).unwrap()), "signature_invalid");
    // Conflicting AND from the wrong sender: conflict first.
    let other = signed_by(&stranger(), stranger().address, key, 300);
    assert_eq!(reason(&book.insert_state_update(other).unwrap()), "conflict");
    // Wrong sender AND too large: sender first.
    let other = signed_by(&stranger(), stranger().address, key, 5_000);
    assert_eq!(reason(&book.insert_state_update(other).unwrap()), "incorrect_sender");
    // No channel at all: incorrect_sender.
    let nowhere = payment(channel(2), 1);
    assert_eq!(reason(&book.insert_state_update(nowhere).unwrap()), "incorrect_sender");
}

#[test]
fn deposits_raise_the_value_payments_may_reach() {
    let (book, key) = opened(100);
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 150)).unwrap()),
        "amount_exceeds_channel_value"
    );
    let status = book
        .insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(100)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(200)));
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 150)).unwrap()),
        "accepted"
    );
}

#[test]
fn intent_first_counts_until_its_chain_event_arrives() {
    let (book, key) = opened(100);
    let status = book
        .insert_channel_event(intent(key, EventType::DidDeposit, 10, deposit_fields(50)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(150)));
    assert_eq!(status.channel.state_is_intent, Some(true));
    assert!(status.latest_intent_event.is_some());
    let chain_only = book.channel_status(&key, false).unwrap();
    assert_eq!(chain_only.channel.value_wei, Some(U256::from(100)));

    let status = book
        .insert_channel_event(event(key, EventType::DidDeposit, 12, deposit_fields(50)))
        .unwrap();
    assert_eq!(
        status.channel.value_wei,
        Some(U256::from(150)),
        "the intent was promoted, not added twice"
    );
    assert_eq!(status.channel.state_is_intent, Some(false));
}

#[test]
fn event_first_then_its_intent_adds_nothing() {
    let (book, key) = opened(100);
    book.insert_channel_event(event(key, EventType::DidDeposit, 12, deposit_fields(50)))
        .unwrap();
    let status = book
        .insert_channel_intent(event(key, EventType::DidDeposit, 11, deposit_fields(50)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(150)));
    assert_eq!(status.channel.state_is_intent, Some(false));
}

#[test]
fn an_intent_does_not_match_an_event_from_before_it() {
    let (book, key) = opened(100);
    book.insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(50)))
        .unwrap();
    // Made after block 12 was seen: a second deposit still to come.
    let status = book
        .insert_channel_event(intent(key, EventType::DidDeposit, 12, deposit_fields(50)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(200)));
    assert_eq!(status.channel.state_is_intent, Some(true));
}

#[test]
fn reorg_orphans_events_and_restores_them() {
    let (book, key) = opened(100);
    book.insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(50)))
        .unwrap();
    // Block 11 was replaced by another block.
    let result = book
        .set_recent_blocks(ChainId(1), 10, &[hash(10), BlockHash([0x11; 32])])
        .unwrap();
    assert_eq!(result.updated_event_count, 1);
    assert_eq!(result.updated_channels.len(), 1);
    assert_eq!(result.updated_channels[0].channel.value_wei, Some(U256::from(100)));
    assert_eq!(
        book.channel_status(&key, true).unwrap().channel.value_wei,
        Some(U256::from(100))
    );
    let stored = history(&book, &key);
    assert!(!stored.events[1].block_is_valid);

    // Nothing changes when told the same again.
    let same = book
        .set_recent_blocks(ChainId(1), 10, &[hash(10), BlockHash([0x11; 32])])
        .unwrap();
    assert_eq!(same.updated_event_count, 0);

    // The original block wins after all.
    let back = book.set_recent_blocks(ChainId(1), 11, &[hash(11)]).unwrap();
    assert_eq!(back.updated_event_count, 1);
    assert_eq!(back.updated_channels[0].channel.value_wei, Some(U256::from(150)));

    // Events past the end of the list are invalid: block 11 is not listed.
    let cut = book.set_recent_blocks(ChainId(1), 10, &[hash(10)]).unwrap();
    assert_eq!(cut.updated_event_count, 1);
    // Other chains are untouched.
    let other = book.set_recent_blocks(ChainId(3), 0, &[]).unwrap();
    assert_eq!(other.updated_event_count, 0);
}

#[test]
fn reorg_of_a_matched_event_brings_its_intent_back() {
    let (book, key) = opened(100);
    book.insert_channel_event(intent(key, EventType::DidDeposit, 10, deposit_fields(50)))
        .unwrap();
    book.insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(50)))
        .unwrap();
    let status = book.channel_status(&key, true).unwrap();
    assert_eq!(
        (status.channel.value_wei, status.channel.state_is_intent),
        (Some(U256::from(150)), Some(false))
    );

    let result = book
        .set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32])])
        .unwrap();
    let status = &result.updated_channels[0];
    assert_eq!(
        status.channel.value_wei,
        Some(U256::from(150)),
        "the intent counts again"
    );
    assert_eq!(status.channel.state_is_intent, Some(true));
    let chain_only = book.channel_status(&key, false).unwrap();
    assert_eq!(chain_only.channel.value_wei, Some(U256::from(100)));
}

#[test]
fn an_event_out_of_order_marks_the_channel_invalid_and_keeps_the_state_before_it() {
    let book = book();
    let key = channel(1);
    let status = book
        .insert_channel_event(event(key, EventType::DidDeposit, 9, deposit_fields(50)))
        .unwrap();
    assert!(status.is_invalid);
    assert_eq!(
        status.is_invalid_reason.as_deref(),
        Some("invalid channel state for event DidDeposit: got NULL but should be CS_OPEN")
    );
    assert_eq!(status.channel.state, None);
    assert_eq!(status.latest_event.unwrap().event_type, EventType::DidDeposit);

    let (book, key) = opened(100);
    let status = book.insert_channel_event(open(key, 12, 5)).unwrap();
    assert_eq!(
        status.is_invalid_reason.as_deref(),
        Some("invalid channel state for event DidOpen: got CS_OPEN but should be NULL")
    );
    assert_eq!(status.channel.value_wei, Some(U256::from(100)));
}

#[test]
fn unidirectional_lifecycle_open_settling_settled() {
    let (book, key) = opened(100);
    let none = EventFields::default;
    let status = book
        .insert_channel_event(event(key, EventType::DidSettle, 11, none()))
        .unwrap();
    assert_eq!(
        status.is_invalid_reason.as_deref(),
        Some("invalid channel state for event DidSettle: got CS_OPEN but should be CS_SETTLING")
    );
    let (book, key) = opened(100);
    let status = book
        .insert_channel_event(event(key, EventType::DidStartSettling, 11, none()))
        .unwrap();
    assert_eq!(status.channel.state, Some(ChannelState::Settling));
    assert_eq!(status.channel.settlement_started_on_ms, Some(11_000));
    let status = book
        .insert_channel_event(event(key, EventType::DidClaim, 12, none()))
        .unwrap();
    assert_eq!(status.channel.state, Some(ChannelState::Settled));
    assert_eq!(status.channel.settlement_finalized_on_ms, Some(12_000));
    assert!(!status.is_invalid);
}

#[test]
fn broker_lifecycle_with_payment_and_odd_value() {
    let book = book();
    let key = channel(4);
    let create = EventFields {
        sender: Some(sender().address),
        receiver: Some(receiver()),
        value_wei: Some(U256::from(1_000)),
        settlement_period_s: Some(60),
        until_s: Some(2_000_000),
        ..EventFields::default()
    };
    let status = book
        .insert_channel_event(event(key, EventType::DidCreateChannel, 10, create))
        .unwrap();
    assert_eq!(status.channel.until_ms, Some(2_000_000_000));
    let start = EventFields {
        payment_wei: Some(U256::from(400)),
        ..EventFields::default()
    };
    let status = book
        .insert_channel_event(event(key, EventType::DidStartSettle, 11, start))
        .unwrap();
    assert_eq!(status.channel.state, Some(ChannelState::Settling));
    assert_eq!(status.channel.until_ms, Some(11_000 + 60_000));
    let settle = EventFields {
        payment_wei: Some(U256::from(400)),
        odd_value_wei: Some(U256::from(600)),
        ..EventFields::default()
    };
    let status = book
        .insert_channel_event(event(key, EventType::DidSettle, 12, settle))
        .unwrap();
    assert_eq!(status.channel.state, Some(ChannelState::Settled));
    assert_eq!(status.channel.odd_value_wei, Some(U256::from(600)));
}

#[test]
fn lists_channels_by_party_and_tells_their_history() {
    let book = book();
    for n in 1..=3 {
        book.insert_channel_event(open(channel(n), 10, 100)).unwrap();
    }
    let by_sender = book.channels_by_sender(&sender().address, None, 10).unwrap();
    assert_eq!(by_sender, vec![channel(1), channel(2), channel(3)]);
    let page = book.channels_by_receiver(&receiver(), Some(&channel(1)), 1).unwrap();
    assert_eq!(page, vec![channel(2)]);
    assert!(
        book.channels_by_sender(&stranger().address, None, 10)
            .unwrap()
            .is_empty()
    );

    book.insert_state_update(payment(channel(2), 10)).unwrap();
    let stored = history(&book, &channel(2));
    assert_eq!((stored.events.len(), stored.state_updates.len()), (1, 1));

    // An orphaned opening drops the channel from the party indexes.
    book.set_recent_blocks(ChainId(1), 10, &[BlockHash([0x22; 32])])
        .unwrap();
    assert!(book.channels_by_sender(&sender().address, None, 10).unwrap().is_empty());
}

#[test]
fn token_channels_verify_with_the_token_from_did_open() {
    let key = channel(5);
    let token = tally_channel::Address([0x70; 20]);
    let config = ChannelBookConfig::default().with_scheme(key.chain_id, key.contract_id, Scheme::TokenUnidirectional);
    let book = ChannelBook::with_config(MemStore::new(), config);
    let mut opening = open(key, 10, 1_000);
    opening.fields.token_contract = Some(token);
    book.insert_channel_event(opening).unwrap();
    let payment_terms = Payment {
        chain_id: key.chain_id,
        contract: key.contract_id,
        channel_id: key.channel_id,
        amount_wei: U256::from(10),
        token_contract: Some(token),
    };
    let mut update = payment(key, 10);
    update.signature = sign_payment(Scheme::TokenUnidirectional, &payment_terms, &sender().key).unwrap();
    assert_eq!(reason(&book.insert_state_update(update).unwrap()), "accepted");
    // A unidirectional signature does not pass on a token contract.
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 20)).unwrap()),
        "signature_invalid"
    );
}

#[test]
fn json_entry_points_take_pg_machinomy_shapes() {
    let book = book();
    let key = channel(1);
    let sender = sender().address;
    let event = format!(
        r#"{{"chain_id":1,"contract_id":"{}","channel_id":"{}","ts":10000,"block_number":10,
        "block_hash":"{}","sender":"{sender}","event_type":"DidOpen",
        "fields":{{"sender":"{sender}","receiver":"{}","value":"1000"}}}}"#,
        key.contract_id,
        key.channel_id,
        hash(10),
        receiver()
    );
    let status = book.insert_channel_event_json(&event).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_000)));
    let update = payment(key, 25);
    let json = format!(
        r#"{{"chain_id":1,"contract_id":"{}","channel_id":"{}","amount":"25","signature":"{}","sender":"{sender}"}}"#,
        key.contract_id, key.channel_id, update.signature
    );
    let outcome = book.insert_state_update_json(&json, 77).unwrap();
    let result = outcome.accepted().unwrap();
    assert_eq!(result.latest_state.ts_ms, 77);
    let rendered = serde_json::to_value(&outcome).unwrap();
    for field in [
        "id",
        "created",
        "status",
        "is_latest",
        "latest_state",
        "channel_payment",
        "channel_remaining_balance",
        "added_amount",
    ] {
        assert!(rendered.get(field).is_some(), "missing {field}");
    }
    assert_eq!(rendered["channel_payment"], "25");
    assert_eq!(rendered["latest_state"]["amount"], "25");
    let status = serde_json::to_value(book.channel_status(&key, true).unwrap()).unwrap();
    assert_eq!(status["channel"]["state"], "CS_OPEN");
    assert_eq!(status["current_remaining_balance"], "975");
}

#[test]
fn status_without_inserting_matches_what_insert_reports() {
    let (book, key) = opened(1_000);
    book.insert_state_update(payment(key, 300)).unwrap();
    let status = book.state_update_status(&payment(key, 500)).unwrap();
    assert_eq!(
        (status.is_latest, status.added_amount_wei),
        (true, Some(U256::from(200)))
    );
    let inserted = book.insert_state_update(payment(key, 500)).unwrap();
    assert_eq!(inserted.accepted().unwrap().status, status);
    assert_eq!(
        book.state_update_status(&payment(key, 500)).unwrap().dupe_status,
        DupeStatus::Duplicate
    );
}

#[test]
fn a_failed_commit_before_the_write_stores_nothing() {
    let store = Arc::new(FaultyStore::new(MemStore::new()));
    let book = ChannelBook::new(Arc::clone(&store));
    let key = channel(1);
    book.insert_channel_event(open(key, 10, 1_000)).unwrap();
    store.inject(Fault::on_commit().nth(1).before_write());
    assert!(book.insert_state_update(payment(key, 300)).is_err());
    assert!(history(&book, &key).state_updates.is_empty());
    assert_eq!(book.channel_status(&key, true).unwrap().latest_state, None);
    let retried = book.insert_state_update(payment(key, 300)).unwrap();
    assert_eq!(retried.accepted().unwrap().id, Some(1));
}

#[test]
fn a_lost_acknowledgement_applies_nothing_twice_on_retry() {
    let store = Arc::new(FaultyStore::new(MemStore::new()));
    let book = ChannelBook::new(Arc::clone(&store));
    let key = channel(1);

    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(book.insert_channel_event(open(key, 10, 1_000)).is_err());
    book.insert_channel_event(open(key, 10, 1_000)).unwrap();
    store.clear();
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(
        book.insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(500)))
            .is_err()
    );
    let status = book
        .insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(500)))
        .unwrap();
    assert_eq!(
        status.channel.value_wei,
        Some(U256::from(1_500)),
        "the deposit counted once"
    );
    assert!(!status.is_invalid);

    store.clear();
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(book.insert_state_update(payment(key, 300)).is_err());
    let retried = book.insert_state_update(payment(key, 300)).unwrap();
    assert!(!retried.accepted().unwrap().created);

    store.clear();
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(book.insert_state_update(payment(key, 5_000)).is_err());
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 5_000)).unwrap()),
        "amount_exceeds_channel_value"
    );

    let stored = history(&book, &key);
    assert_eq!(stored.events.len(), 2);
    assert_eq!(stored.state_updates.len(), 1);
    assert_eq!(stored.rejected.len(), 1);
}

#[test]
fn racing_threads_agree_on_the_latest_state() {
    let book = Arc::new(ChannelBook::new(MemStore::new()));
    let key = channel(1);
    book.insert_channel_event(open(key, 10, 1_000_000)).unwrap();
    let updates: Vec<_> = (1..=40u64).map(|n| payment(key, n * 10)).collect();
    std::thread::scope(|scope| {
        for chunk in updates.chunks(10) {
            let book = Arc::clone(&book);
            scope.spawn(move || {
                for update in chunk {
                    assert_eq!(reason(&book.insert_state_update(update.clone()).unwrap()), "accepted");
                }
            });
        }
    });
    let stored = history(&book, &key);
    let mut ids: Vec<u64> = stored.state_updates.iter().map(|stored| stored.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>());
    let status = book.channel_status(&key, true).unwrap();
    assert_eq!(status.current_payment_wei, Some(U256::from(400)));
}

#[test]
fn status_is_a_consistent_snapshot_while_writers_race() {
    let book = Arc::new(ChannelBook::new(MemStore::new()));
    let key = channel(1);
    book.insert_channel_event(open(key, 10, 100)).unwrap();
    // Sign up front: each round deposits 100 and then pays the new total.
    let rounds = 15u64;
    let payments: Vec<_> = (1..=rounds).map(|n| payment(key, 100 * (n + 1))).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for (n, update) in payments.iter().enumerate() {
                let block = 11 + n as u64;
                book.insert_channel_event(event(key, EventType::DidDeposit, block, deposit_fields(100)))
                    .unwrap();
                assert_eq!(reason(&book.insert_state_update(update.clone()).unwrap()), "accepted");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        scope.spawn(|| {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
                let status = book.channel_status(&key, true).unwrap();
                let value = status.channel.value_wei.unwrap();
                let paid = status.current_payment_wei.unwrap_or_default();
                assert!(paid <= value, "paid {paid} of a channel holding {value}");
                assert_eq!(status.current_remaining_balance_wei, Some(value - paid));
                reads += 1;
            }
        });
    });
    let status = book.channel_status(&key, true).unwrap();
    assert_eq!(status.current_payment_wei, Some(U256::from(100 * (rounds + 1))));
}

#[test]
fn failed_event_and_reorg_commits_leave_nothing_partial_and_retry_cleanly() {
    let store = Arc::new(FaultyStore::new(MemStore::new()));
    let book = ChannelBook::new(Arc::clone(&store));
    let key = channel(1);

    // Before the write: no event, no channel record, no party index.
    store.inject(Fault::on_commit().nth(1).before_write());
    assert!(book.insert_channel_event(open(key, 10, 100)).is_err());
    assert!(history(&book, &key).events.is_empty());
    assert_eq!(book.channel_status(&key, true).unwrap().channel.state, None);
    assert!(book.channels_by_sender(&sender().address, None, 10).unwrap().is_empty());
    store.clear();
    book.insert_channel_event(open(key, 10, 100)).unwrap();
    book.insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(50)))
        .unwrap();

    // A reorg whose commit fails before the write changes nothing.
    store.inject(Fault::on_commit().nth(1).before_write());
    assert!(
        book.set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32])])
            .is_err()
    );
    assert_eq!(
        book.channel_status(&key, true).unwrap().channel.value_wei,
        Some(U256::from(150))
    );
    // A reorg whose acknowledgement is lost: applied once; the retry finds
    // nothing left to change.
    store.clear();
    store.inject(Fault::on_commit().nth(1).after_write());
    assert!(
        book.set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32])])
            .is_err()
    );
    store.clear();
    let retried = book
        .set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32])])
        .unwrap();
    assert_eq!(retried.updated_event_count, 0);
    assert_eq!(
        book.channel_status(&key, true).unwrap().channel.value_wei,
        Some(U256::from(100))
    );
}

#[test]
fn racing_identical_first_payments_both_succeed_and_one_creates() {
    use tally_store::Interleaved;
    let store = Interleaved::new(MemStore::new());
    let key = channel(1);
    ChannelBook::new(store.inner())
        .insert_channel_event(open(key, 10, 1_000))
        .unwrap();
    let update = payment(key, 300);
    // insert_state_update reads the channel record, the head, then the
    // amount key. Between the head (read as absent) and the amount key, the
    // identical payment commits through another book: the first attempt
    // then sees "a stored update but no head", a view no serial order gives.
    let theirs = update.clone();
    store.before_read(3, move |inner: &MemStore| {
        let outcome = ChannelBook::new(inner).insert_state_update(theirs).unwrap();
        assert!(outcome.accepted().unwrap().created, "the other writer stores it");
    });
    let book = ChannelBook::new(&store);
    let outcome = book.insert_state_update(update).unwrap();
    assert_eq!(store.pending(), 0, "the interleaving happened");
    let result = outcome.accepted().unwrap();
    assert_eq!((result.id, result.created), (None, false), "the loser sees a duplicate");
    assert_eq!(result.latest_state.amount_wei, U256::from(300));
    assert_eq!(result.status.dupe_status, DupeStatus::Duplicate);
}

#[test]
fn set_recent_blocks_over_its_hash_limit_says_how_far() {
    let hashes = vec![BlockHash([0; 32]); tally_channel::MAX_RECENT_BLOCKS + 1];
    match book().set_recent_blocks(ChainId(1), 0, &hashes) {
        Err(tally_channel::ChannelError::TooManyBlockHashes { hashes, max_hashes }) => {
            assert_eq!((hashes, max_hashes), (100_001, 100_000));
        }
        other => panic!("expected TooManyBlockHashes, got {other:?}"),
    }
}

#[test]
fn a_deposit_seen_again_with_a_later_ts_counts_once() {
    // The issue's scenario, in pg-machinomy's shape (no log positions).
    let (book, key) = opened(1_000);
    let deposit = event(key, EventType::DidDeposit, 11, deposit_fields(500));
    book.insert_channel_event(deposit.clone()).unwrap();
    let status = book.insert_channel_event(seen_later(deposit)).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_500)));
    assert_eq!(history(&book, &key).events.len(), 2);
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 1_501)).unwrap()),
        "amount_exceeds_channel_value"
    );
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 1_500)).unwrap()),
        "accepted"
    );

    // The same through the JSON entry point, with and without a position.
    let (book, key) = opened(1_000);
    let json = |ts: u64, log: &str| {
        format!(
            r#"{{"chain_id":1,"contract_id":"{}","channel_id":"{}","ts":{ts},"block_number":11,
            "block_hash":"{}",{log}"sender":"{}","event_type":"DidDeposit","fields":{{"deposit":"500"}}}}"#,
            key.contract_id,
            key.channel_id,
            hash(11),
            sender().address
        )
    };
    let tx = format!(r#""tx_hash":"{}","log_index":4,"#, TxHash([0x77; 32]));
    for (ts, log) in [
        (11_000, ""),
        (12_000, ""),
        (13_000, tx.as_str()),
        (14_000, tx.as_str()),
        (15_000, ""),
    ] {
        let status = book.insert_channel_event_json(&json(ts, log)).unwrap();
        assert_eq!(status.channel.value_wei, Some(U256::from(1_500)), "ts {ts} {log}");
    }
}

#[test]
fn a_positioned_event_seen_again_with_a_later_ts_changes_nothing() {
    let (book, key) = opened(1_000);
    let deposit = positioned(event(key, EventType::DidDeposit, 11, deposit_fields(500)), 0x71, 0);
    let first = book.insert_channel_event(deposit.clone()).unwrap();
    let again = book.insert_channel_event(seen_later(deposit)).unwrap();
    assert_eq!(first, again);
    assert_eq!(again.channel.value_wei, Some(U256::from(1_500)));
    assert_eq!(history(&book, &key).events.len(), 2);
}

#[test]
fn two_deposits_in_one_block_with_different_log_indexes_both_count() {
    let (book, key) = opened(1_000);
    let deposit = event(key, EventType::DidDeposit, 11, deposit_fields(500));
    book.insert_channel_event(positioned(deposit.clone(), 0x71, 0)).unwrap();
    let status = book.insert_channel_event(positioned(deposit.clone(), 0x72, 1)).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(2_000)));
    // Either seen again: still two.
    let status = book
        .insert_channel_event(seen_later(positioned(deposit, 0x71, 0)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(2_000)));
    assert_eq!(
        reason(&book.insert_state_update(payment(key, 2_000)).unwrap()),
        "accepted"
    );
}

#[test]
fn an_event_seen_without_then_with_its_position_counts_once_and_a_twin_still_counts() {
    let (book, key) = opened(1_000);
    let deposit = event(key, EventType::DidDeposit, 11, deposit_fields(500));
    book.insert_channel_event(deposit.clone()).unwrap();
    // The watcher now gives positions: the stored deposit gains its own.
    let status = book
        .insert_channel_event(seen_later(positioned(deposit.clone(), 0x71, 0)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_500)));
    let stored = history(&book, &key);
    assert_eq!(stored.events.len(), 2);
    assert_eq!(stored.events[1].log, positioned(deposit.clone(), 0x71, 0).log);
    assert_eq!(stored.events[1].ts_ms, deposit.ts_ms, "the first sighting's ts stays");
    // A genuine second deposit of the same amount in that block counts...
    let status = book.insert_channel_event(positioned(deposit.clone(), 0x72, 1)).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(2_000)));
    // ... and neither form of either sighting counts again.
    for again in [
        deposit.clone(),
        positioned(deposit.clone(), 0x71, 0),
        positioned(deposit, 0x72, 1),
    ] {
        let status = book.insert_channel_event(seen_later(again)).unwrap();
        assert_eq!(status.channel.value_wei, Some(U256::from(2_000)));
    }
    assert_eq!(history(&book, &key).events.len(), 3);
}

#[test]
fn a_sighting_that_contradicts_the_stored_event_is_refused_and_stores_nothing() {
    let (book, key) = opened(1_000);
    let deposit = positioned(event(key, EventType::DidDeposit, 11, deposit_fields(500)), 0x71, 0);
    book.insert_channel_event(deposit.clone()).unwrap();
    let before = history(&book, &key);
    let forged = ChannelEvent {
        fields: deposit_fields(5_000),
        ..deposit.clone()
    };
    match book.insert_channel_event(forged) {
        Err(tally_channel::ChannelError::IdentityClash(clash)) => assert_eq!(clash.seq, 1),
        other => panic!("expected an identity clash, got {other:?}"),
    }
    let moved = ChannelEvent {
        block_number: 12,
        ..deposit
    };
    assert!(matches!(
        book.insert_channel_event(moved),
        Err(tally_channel::ChannelError::IdentityClash(_))
    ));
    assert_eq!(history(&book, &key), before);
}

#[test]
fn intents_are_named_by_all_they_say_ts_included() {
    let (book, key) = opened(1_000);
    let expected = intent(key, EventType::DidDeposit, 10, deposit_fields(100));
    book.insert_channel_event(expected.clone()).unwrap();
    // The same intent again (a retried call): nothing changes.
    let status = book.insert_channel_event(expected.clone()).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_100)));
    // Another intent for an equal deposit, made later: a second expected deposit.
    let status = book.insert_channel_event(seen_later(expected.clone())).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_200)));
    // An intent has no log position: one given is dropped.
    let status = book
        .insert_channel_event(positioned(expected.clone(), 0x71, 0))
        .unwrap();
    assert_eq!(
        status.channel.value_wei,
        Some(U256::from(1_200)),
        "the first intent again"
    );
    assert!(history(&book, &key).events.iter().all(|event| event.log.is_none()));
}

#[test]
fn reorg_orphans_and_restores_positioned_events() {
    let (book, key) = opened(1_000);
    let deposit = event(key, EventType::DidDeposit, 11, deposit_fields(500));
    book.insert_channel_event(positioned(deposit.clone(), 0x71, 0)).unwrap();
    book.insert_channel_event(positioned(deposit.clone(), 0x72, 1)).unwrap();
    let orphaned = book
        .set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32])])
        .unwrap();
    assert_eq!(orphaned.updated_event_count, 2);
    assert_eq!(orphaned.updated_channels[0].channel.value_wei, Some(U256::from(1_000)));
    // Re-seen while orphaned: still the same two (invalid) events.
    let status = book
        .insert_channel_event(seen_later(positioned(deposit.clone(), 0x71, 0)))
        .unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_000)));
    let restored = book.set_recent_blocks(ChainId(1), 11, &[hash(11)]).unwrap();
    assert_eq!(restored.updated_event_count, 2);
    assert_eq!(restored.updated_channels[0].channel.value_wei, Some(U256::from(2_000)));
    // The same transaction mined again in another block is another event.
    let remined = ChannelEvent {
        block_number: 12,
        block_hash: Some(hash(12)),
        ..positioned(deposit, 0x71, 0)
    };
    book.set_recent_blocks(ChainId(1), 11, &[BlockHash([0x11; 32]), hash(12)])
        .unwrap();
    let status = book.insert_channel_event(remined).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(1_500)));
}

/// Forwards to a MemStore and remembers how many preconditions each
/// committed batch carried.
#[derive(Default)]
struct CountingStore {
    inner: MemStore,
    preconditions: std::sync::Mutex<Vec<usize>>,
}

impl tally_store::Store for CountingStore {
    fn get(&self, key: &[u8]) -> Result<Option<tally_store::Versioned>, tally_store::StoreError> {
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<tally_store::Page, tally_store::StoreError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: tally_store::Batch) -> Result<(), tally_store::StoreError> {
        let count = batch.preconditions().len();
        self.inner.commit(batch)?;
        self.preconditions.lock().unwrap().push(count);
        Ok(())
    }
}

#[test]
fn an_event_insert_checks_as_many_keys_however_many_events_the_channel_has() {
    let book = ChannelBook::new(CountingStore::default());
    let key = channel(1);
    book.insert_channel_event(open(key, 10, 100)).unwrap();
    let insert_deposit = |block: u64| {
        book.insert_channel_event(event(key, EventType::DidDeposit, block, deposit_fields(1)))
            .unwrap();
        // The last commit is the insert's (channel_status is not called).
        *book.store().preconditions.lock().unwrap().last().unwrap()
    };
    let early = insert_deposit(11);
    for block in 12..60 {
        insert_deposit(block);
    }
    let late = insert_deposit(60);
    assert_eq!(
        late, early,
        "preconditions per insert must not grow with the events stored"
    );
    assert!(early <= 8, "{early} preconditions");
    let status = book.channel_status(&key, false).unwrap();
    assert_eq!(status.channel.value_wei, Some(U256::from(150)));
}

#[test]
fn an_event_insert_racing_another_between_its_reads_loses_nothing() {
    use tally_store::Interleaved;
    let store = Interleaved::new(MemStore::new());
    let key = channel(1);
    ChannelBook::new(store.inner())
        .insert_channel_event(open(key, 10, 100))
        .unwrap();
    // An insert reads the identity index, the channel record, then scans
    // the events (guarded by the record). Another deposit lands just before
    // the scan: the record it rewrites makes the first attempt conflict.
    let theirs = event(key, EventType::DidDeposit, 12, deposit_fields(20));
    store.before_read(3, move |inner: &MemStore| {
        ChannelBook::new(inner).insert_channel_event(theirs).unwrap();
    });
    let book = ChannelBook::new(&store);
    let status = book
        .insert_channel_event(event(key, EventType::DidDeposit, 11, deposit_fields(3)))
        .unwrap();
    assert_eq!(store.pending(), 0, "the interleaving happened");
    assert_eq!(status.channel.value_wei, Some(U256::from(123)));
    assert_eq!(history(&book, &key).events.len(), 3);
}

#[test]
fn refused_updates_are_kept_up_to_the_cap_and_the_rest_only_counted() {
    assert_eq!(
        ChannelBookConfig::default().max_rejected_per_channel,
        tally_channel::DEFAULT_MAX_REJECTED_PER_CHANNEL
    );
    let config = ChannelBookConfig {
        max_rejected_per_channel: 3,
        ..ChannelBookConfig::default()
    };
    let book = ChannelBook::with_config(MemStore::new(), config);
    let key = channel(1);
    book.insert_channel_event(open(key, 10, 100)).unwrap();
    let too_large: Vec<_> = (101..=105).map(|amount| payment(key, amount)).collect();
    for update in &too_large {
        let outcome = book.insert_state_update(update.clone()).unwrap();
        assert_eq!(
            reason(&outcome),
            "amount_exceeds_channel_value",
            "refused whether kept or not"
        );
    }
    let stored = history(&book, &key);
    assert_eq!(stored.rejected.len(), 3);
    let count = book.rejected_count(&key).unwrap();
    assert_eq!((count.stored, count.dropped), (3, 2));
    // A kept refusal arriving again is recognised, not counted again.
    book.insert_state_update(stored.rejected[0].update.clone()).unwrap();
    assert_eq!(book.rejected_count(&key).unwrap(), count);
    // Other channels have their own log.
    assert_eq!(
        book.rejected_count(&channel(2)).unwrap(),
        tally_channel::RejectedCount::default()
    );
    // A cap of 0 keeps nothing.
    let none = ChannelBook::with_config(
        MemStore::new(),
        ChannelBookConfig {
            max_rejected_per_channel: 0,
            ..ChannelBookConfig::default()
        },
    );
    none.insert_state_update(too_large[0].clone()).unwrap();
    assert!(history(&none, &key).rejected.is_empty());
    assert_eq!(none.rejected_count(&key).unwrap().dropped, 1);
}

#[test]
fn history_pages_return_everything_once_in_order() {
    let (book, key) = opened(1_000);
    for block in 11..16 {
        book.insert_channel_event(event(key, EventType::DidDeposit, block, deposit_fields(1)))
            .unwrap();
    }
    for amount in [30, 10, 20, 50, 40] {
        book.insert_state_update(payment(key, amount)).unwrap();
    }
    let stored = history(&book, &key);
    let blocks: Vec<u64> = stored.events.iter().map(|event| event.block_number).collect();
    assert_eq!(blocks, [10, 11, 12, 13, 14, 15], "insertion order");
    let amounts: Vec<U256> = stored
        .state_updates
        .iter()
        .map(|stored| stored.update.amount_wei)
        .collect();
    assert_eq!(amounts, [10, 20, 30, 40, 50].map(U256::from), "by amount");
    let ids: Vec<u64> = stored.state_updates.iter().map(|stored| stored.id).collect();
    assert_eq!(ids, [2, 3, 1, 5, 4], "ids in storage order");

    // Limits are clamped; a cursor survives a trip through bytes.
    let first = book.channel_events(&key, None, 0).unwrap();
    assert_eq!(first.items.len(), 1);
    let cursor = tally_channel::HistoryCursor::from_bytes(first.next.unwrap().as_bytes().to_vec());
    let rest = book.channel_events(&key, Some(&cursor), usize::MAX).unwrap();
    assert_eq!(rest.items.len(), 5);
    assert_eq!(rest.next, None);
    // A channel with nothing stored has empty pages.
    let empty = book.channel_state_updates(&channel(9), None, 10).unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
}
