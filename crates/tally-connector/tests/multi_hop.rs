//! End to end through the codec: sender → connector 1 → connector 2 →
//! receiver, BTP 2.0 (ILPv4) on the outer links and CLP (legacy ILP)
//! between the connectors, every packet encoded and decoded on the way.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_connector::reconcile::ReconcileMessage;
use tally_connector::routing::quote::QuotePolicy;
use tally_connector::sim::{Network, Payment};
use tally_connector::wire::{Family, Link, LinkEvent};
use tally_connector::{AccountId, Connector};
use tally_ilp::{Encode, Mode, legacy};

struct Demo {
    net: Network,
    alice: usize,
    c1: usize,
    c2: usize,
}

fn demo() -> Demo {
    let mut net = Network::new(1_000_000);
    let alice = net.add_sender("alice");
    let c1 = net.add_connector("test.c1").unwrap();
    let c2 = net.add_connector("test.c2").unwrap();
    let bob = net.add_receiver("test.bob");
    net.connect(alice, c1, Family::Btp2, 0).unwrap();
    net.connect(c1, c2, Family::Clp, 1_000).unwrap();
    net.connect(c2, bob, Family::Btp2, 500).unwrap();
    net.route(c1, b"test.bob", c2).unwrap();
    net.route(c2, b"test.bob", bob).unwrap();
    Demo { net, alice, c1, c2 }
}

fn account(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

#[test]
fn a_payment_is_forwarded_over_two_hops_and_fulfilled() {
    let Demo { mut net, alice, c1, c2 } = demo();
    let result = net.pay(alice, &Payment::new(100, "test.bob.receiver", 30_000)).unwrap();
    assert!(result.fulfilled, "{result:?}\n{}", net.hops.join("\n"));
    let balances = net.balances().unwrap();
    assert_eq!(balances["test.c1"]["alice"], 100);
    assert_eq!(balances["test.c1"]["test-c2"], 900);
    assert_eq!(balances["test.c2"]["test-c1"], 100);
    assert_eq!(balances["test.c2"]["test-bob"], 400);
    // Every hop is in the log: prepare out, acks, fulfill back.
    assert!(
        net.hops
            .iter()
            .any(|h| h.contains("CLP Prepare") && h.contains("test.bob.receiver"))
    );
    assert!(net.hops.iter().any(|h| h.contains("CLP Fulfill")));
    assert!(net.hops.iter().filter(|h| h.contains("ILPv4 Fulfill")).count() >= 2);
    assert_eq!(
        net.connector(c1)
            .unwrap()
            .balances(&account("test-c2"))
            .unwrap()
            .total
            .outgoing_prepared,
        0
    );
    assert_eq!(
        net.connector(c2)
            .unwrap()
            .balances(&account("test-bob"))
            .unwrap()
            .total
            .outgoing_prepared,
        0
    );
}

#[test]
fn a_payment_beyond_the_second_hops_balance_comes_back_as_t04_from_it() {
    let Demo { mut net, alice, .. } = demo();
    let result = net.pay(alice, &Payment::new(600, "test.bob.receiver", 30_000)).unwrap();
    assert_eq!(result.code.as_deref(), Some("T04"));
    assert_eq!(
        result.triggered_by.as_deref(),
        Some("test.c2"),
        "triggeredBy is the refusing connector"
    );
    let balances = net.balances().unwrap();
    assert_eq!(balances["test.c1"]["test-c2"], 1_000, "c1 released its prepare");
    assert!(
        net.hops.iter().any(|h| h.contains("IlpError T04")),
        "{}",
        net.hops.join("\n")
    );
}

#[test]
fn a_payment_the_receiver_holds_times_out_with_r00_and_releases_everything() {
    let Demo { mut net, alice, c1, c2 } = demo();
    let transfer_id = net.send(alice, &Payment::new(50, "test.bob.hold", 10_000)).unwrap();
    net.run().unwrap();
    assert_eq!(net.result(&transfer_id), None, "still in flight");
    assert_eq!(net.balances().unwrap()["test.c2"]["test-bob"], 450, "prepared");
    net.advance(8_000).unwrap();
    let result = net.result(&transfer_id).unwrap();
    assert_eq!((result.fulfilled, result.code.as_deref()), (false, Some("R00")));
    assert_eq!(result.triggered_by.as_deref(), Some("test.c2"));
    let balances = net.balances().unwrap();
    assert_eq!(
        (balances["test.c1"]["test-c2"], balances["test.c2"]["test-bob"]),
        (1_000, 500)
    );
    // Both connectors' timers ran; nothing is left in flight.
    for node in [c1, c2] {
        assert!(net.connector(node).unwrap().recover(u64::MAX).unwrap().is_empty());
    }
}

#[test]
fn the_connectors_logs_reconcile_over_clp() {
    let Demo { mut net, alice, c1, c2 } = demo();
    net.pay(alice, &Payment::new(100, "test.bob.receiver", 30_000)).unwrap();
    net.pay(alice, &Payment::new(600, "test.bob.receiver", 30_000)).unwrap();
    net.send(alice, &Payment::new(50, "test.bob.hold", 10_000)).unwrap();
    net.run().unwrap();
    net.advance(60_000).unwrap();
    let now = net.now_ms();
    let (one, two) = (net.connector(c1).unwrap(), net.connector(c2).unwrap());
    let range = one.reconcile_range(&account("test-c2"), 0, now, now).unwrap();
    let ReconcileMessage::Range { entries, .. } = &range else {
        panic!()
    };
    assert_eq!(entries.len(), 3, "fulfilled, rejected, timed out");
    let answer = two.handle_reconcile(&account("test-c1"), &range, now).unwrap().unwrap();
    assert_eq!(
        answer,
        ReconcileMessage::Disputed {
            from_ms: 0,
            to_ms: now,
            disputed: vec![]
        }
    );
    assert!(
        one.handle_reconcile(&account("test-c2"), &answer, now)
            .unwrap()
            .is_none()
    );
    assert!(one.resolved_ranges(&account("test-c2")).unwrap().covers(0, now));
    assert!(two.resolved_ranges(&account("test-c1")).unwrap().covers(0, now));
    // pleaseReconcile is answered with the range.
    let asked = ReconcileMessage::PleaseReconcile { from_ms: 0, to_ms: now };
    assert!(matches!(
        two.handle_reconcile(&account("test-c1"), &asked, now).unwrap(),
        Some(ReconcileMessage::Range { .. })
    ));
}

#[test]
fn a_disputed_transfer_is_reported() {
    let Demo { mut net, alice, c1, c2 } = demo();
    net.pay(alice, &Payment::new(100, "test.bob.receiver", 30_000)).unwrap();
    net.advance(60_000).unwrap();
    let now = net.now_ms();
    let range = net
        .connector(c1)
        .unwrap()
        .reconcile_range(&account("test-c2"), 0, now, now)
        .unwrap();
    let ReconcileMessage::Range {
        from_ms,
        to_ms,
        mut entries,
    } = range
    else {
        panic!()
    };
    entries[0].paid = false; // c1 claims it never paid
    let tampered = ReconcileMessage::Range {
        from_ms,
        to_ms,
        entries,
    };
    let Some(ReconcileMessage::Disputed { disputed, .. }) = net
        .connector(c2)
        .unwrap()
        .handle_reconcile(&account("test-c1"), &tampered, now)
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(disputed.len(), 1);
    assert!(
        !net.connector(c2)
            .unwrap()
            .resolved_ranges(&account("test-c1"))
            .unwrap()
            .covers(0, now)
    );
}

#[test]
fn ilqp_quotes_are_answered_from_the_route_table_over_clp() {
    let store = tally_store::MemStore::new();
    let hub = Connector::new(
        store,
        tally_connector::WorkerId(0),
        tally_connector::ConnectorConfig::new(b"test.hub".to_vec()),
    )
    .unwrap();
    hub.open_account(&account("bob"), Default::default()).unwrap();
    hub.announce_route(
        b"test.bob.",
        &account("bob"),
        tally_connector::routing::LiquidityCurve::rate(1, 2).unwrap(),
    )
    .unwrap();
    let mut theirs = Link::new(account("hub"), Family::Clp, b"test.alice", [1; 32]);
    let mut ours = Link::new(account("alice"), Family::Clp, b"test.hub", [2; 32]);
    let request = legacy::IlqpBySourceRequest {
        destination_account: &b"test.bob.x"[..],
        source_amount: 1_000,
        destination_hold_duration_ms: 2_000,
    }
    .encode()
    .unwrap();
    let entry = tally_connector::wire::Entry::new(b"ilp", 0, request.to_vec());
    let (request_id, bytes) = theirs.send_message(&[entry], Some(5_000), 0).unwrap();
    let received = ours.receive(&bytes, 0).unwrap();
    let [
        LinkEvent::Message {
            request_id: got,
            entries,
        },
    ] = &received.events[..]
    else {
        panic!()
    };
    assert_eq!(*got, request_id);
    let answer = ours
        .answer_quote(
            *got,
            &entries[0].data,
            &hub.routes(),
            &QuotePolicy::default(),
            0,
            &mut |_| None,
        )
        .unwrap();
    let back = theirs.receive(&answer, 1).unwrap();
    let [LinkEvent::Response { entries, .. }] = &back.events[..] else {
        panic!("{back:?}")
    };
    let legacy::Packet::IlqpBySourceResponse(quote) = legacy::Packet::decode(&entries[0].data, Mode::Strict).unwrap()
    else {
        panic!()
    };
    assert_eq!((quote.destination_amount, quote.source_hold_duration_ms), (500, 3_000));
}

#[test]
fn reconcile_messages_travel_as_clp_protocol_data() {
    use tally_connector::reconcile::PROTOCOL_NAME;
    use tally_connector::wire::Entry;
    let Demo { mut net, alice, c1, c2 } = demo();
    net.pay(alice, &Payment::new(100, "test.bob.receiver", 30_000)).unwrap();
    net.advance(60_000).unwrap();
    let now = net.now_ms();
    let (one, two) = (net.connector(c1).unwrap(), net.connector(c2).unwrap());
    let mut at_one = Link::new(account("test-c2"), Family::Clp, b"test.c1", [7; 32]);
    let mut at_two = Link::new(account("test-c1"), Family::Clp, b"test.c2", [8; 32]);
    // c1 sends its resolved range as JSON in a `reconcile` entry.
    let range = one.reconcile_range(&account("test-c2"), 0, now, now).unwrap();
    let (request_id, bytes) = at_one
        .send_message(
            &[Entry::new(PROTOCOL_NAME, tally_ilp::CONTENT_TYPE_JSON, range.to_json())],
            None,
            now,
        )
        .unwrap();
    let received = at_two.receive(&bytes, now).unwrap();
    let [
        LinkEvent::Message {
            request_id: got,
            entries,
        },
    ] = &received.events[..]
    else {
        panic!()
    };
    let message = ReconcileMessage::from_json(&entries[0].data).unwrap();
    let answer = two
        .handle_reconcile(&account("test-c1"), &message, now)
        .unwrap()
        .unwrap();
    let reply = at_two
        .respond(
            *got,
            &[Entry::new(
                PROTOCOL_NAME,
                tally_ilp::CONTENT_TYPE_JSON,
                answer.to_json(),
            )],
        )
        .unwrap();
    let back = at_one.receive(&reply, now).unwrap();
    let [
        LinkEvent::Response {
            request_id: answered,
            entries,
        },
    ] = &back.events[..]
    else {
        panic!()
    };
    assert_eq!(*answered, request_id);
    let disputed = ReconcileMessage::from_json(&entries[0].data).unwrap();
    assert!(matches!(&disputed, ReconcileMessage::Disputed { disputed, .. } if disputed.is_empty()));
    one.handle_reconcile(&account("test-c2"), &disputed, now).unwrap();
    assert!(one.resolved_ranges(&account("test-c2")).unwrap().covers(0, now));
}
