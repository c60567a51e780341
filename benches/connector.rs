//! Forwarded prepares per second through one connector on MemStore, against
//! the codec-only cost of the same forward, measured in the same run.
//!
//! Each group measures:
//! - `baseline`: the codec work a forward cannot avoid: decode the incoming
//!   BTP 2.0 Message and the ILPv4 Prepare inside it, encode the outgoing
//!   Prepare and its Message (tally-ilp, strict);
//! - `forward`: the whole forward: the link decodes, the connector routes
//!   (longest prefix), checks the parallelism rule, prepares the amount and
//!   records the payment and its owner in one MemStore commit, the link
//!   encodes the outgoing Message;
//! - `forward_and_fulfill` (group `round_trip`): the forward plus the
//!   Fulfill coming back and going upstream (a second commit), against the
//!   baseline plus the codec work of the Fulfill and its Response.
//!
//! Every 10,000 payments the connector starts on a fresh MemStore (not
//! timed), so the store stays the size of one that prunes settled payments;
//! MemStore's cost grows with its size (key comparisons in its B-tree).
//!
//! `1 - baseline / forward` is the share of time spent outside the codec.
//! Run with `cargo bench --bench connector --features connector`, then
//! `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark harness")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally::connector::routing::LiquidityCurve;
use tally::connector::wire::{Family, Link, LinkEvent};
use tally::connector::{AccountConfig, AccountId, Connector, ConnectorConfig, PrepareOutcome, Resolved, WorkerId};
use tally::ilp::bytes::Bytes;
use tally::ilp::{Encode, Mode, ProtocolData, ProtocolDataEntry, Timestamp, btp2, ilp4};
use tally::store::MemStore;

const NOW_MS: u64 = 1_505_392_496_000;
/// Payments per fresh connector: the store holds at most this many (about
/// five keys each).
const CHUNK: u64 = 10_000;
const DESTINATION: &[u8] = b"g.bob.acmecorp.sales.199.~ipr.cdfa5e16-e759-4ba3-88f6-8b9dc83c1868.2";

fn id(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

fn fulfillment(n: u64) -> [u8; 32] {
    let mut f = [0x11; 32];
    f[..8].copy_from_slice(&n.to_be_bytes());
    f
}

/// The incoming BTP Message carrying Prepare number `n` (request id `n`).
fn incoming(n: u64) -> Vec<u8> {
    let prepare = ilp4::Prepare {
        amount: 107,
        expires_at: Timestamp::from_unix_ms((NOW_MS + 30_000) as i64).unwrap(),
        execution_condition: ilp4::fulfillment_to_condition(&fulfillment(n)),
        destination: DESTINATION,
        data: &[0x5a; 100][..],
    }
    .encode()
    .unwrap();
    btp2::Message {
        request_id: n as u32,
        protocol_data: ProtocolData::from_entries([ProtocolDataEntry {
            protocol_name: b"ilp",
            content_type: 0,
            data: &prepare,
        }]),
    }
    .encode()
    .unwrap()
    .to_vec()
}

fn hub() -> Connector<MemStore> {
    let hub = Connector::new(MemStore::new(), WorkerId(0), ConnectorConfig::new(b"g.hub".to_vec())).unwrap();
    hub.open_account(&id("alice"), AccountConfig::default()).unwrap();
    hub.open_account(&id("bob"), AccountConfig::default()).unwrap();
    hub.credit(&id("bob"), [1; 16], u64::MAX / 2).unwrap();
    hub.announce_route(b"g.bob", &id("bob"), LiquidityCurve::identity())
        .unwrap();
    hub.announce_route(b"g.carl", &id("alice"), LiquidityCurve::identity())
        .unwrap();
    hub
}

/// Decode in, encode out: what the codec alone costs per forward.
fn codec_only(wire: &[u8]) -> Bytes {
    let btp2::Packet::Message(message) = btp2::Packet::decode(wire, Mode::Strict).unwrap() else {
        unreachable!()
    };
    let ilp = message.protocol_data.get(b"ilp").unwrap().data;
    let prepare = ilp4::Prepare::decode(ilp, Mode::Strict).unwrap();
    let out = ilp4::Prepare {
        amount: prepare.amount,
        expires_at: Timestamp::from_unix_ms(prepare.expires_at.unix_ms() - 1_000).unwrap(),
        execution_condition: prepare.execution_condition,
        destination: prepare.destination,
        data: prepare.data,
    }
    .encode()
    .unwrap();
    btp2::Message {
        request_id: message.request_id,
        protocol_data: ProtocolData::from_entries([ProtocolDataEntry {
            protocol_name: b"ilp",
            content_type: 0,
            data: &out,
        }]),
    }
    .encode()
    .unwrap()
}

/// The codec work of a Fulfill coming back: decode the Response and the
/// Fulfill, encode the Fulfill and the Response upstream.
fn codec_fulfill(wire: &[u8]) -> Bytes {
    let btp2::Packet::Response(response) = btp2::Packet::decode(wire, Mode::Strict).unwrap() else {
        unreachable!()
    };
    let fulfill = ilp4::Fulfill::decode(response.protocol_data.get(b"ilp").unwrap().data, Mode::Strict).unwrap();
    let out = fulfill.encode().unwrap();
    btp2::Response {
        request_id: response.request_id,
        protocol_data: ProtocolData::from_entries([ProtocolDataEntry {
            protocol_name: b"ilp",
            content_type: 0,
            data: &out,
        }]),
    }
    .encode()
    .unwrap()
}

fn forward_one(hub: &Connector<MemStore>, inbound: &mut Link, outbound: &mut Link, wire: &[u8]) -> Bytes {
    let received = inbound.receive(wire, NOW_MS).unwrap();
    let Some(LinkEvent::Prepare(prepare)) = received.events.into_iter().next() else {
        unreachable!()
    };
    let PrepareOutcome::Forward(out) = hub.handle_prepare(&prepare, NOW_MS).unwrap() else {
        unreachable!()
    };
    outbound.send_prepare(&out, NOW_MS).unwrap()
}

fn links() -> (Link, Link) {
    (
        Link::new(id("alice"), Family::Btp2, b"g.hub", [2; 32]),
        Link::new(id("bob"), Family::Btp2, b"g.hub", [3; 32]),
    )
}

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_prepare");
    group.throughput(Throughput::Elements(1));
    let sample = incoming(1);
    group.bench_function("baseline", |b| b.iter(|| black_box(codec_only(black_box(&sample)))));
    group.bench_function("forward", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                // A fresh connector every CHUNK payments keeps the store at the
                // size of a connector that prunes settled payments.
                let hub = hub();
                let count = CHUNK.min(iters - done);
                let inputs: Vec<_> = (0..count).map(|n| (incoming(n), links())).collect();
                let start = Instant::now();
                for (wire, (mut inbound, mut outbound)) in inputs {
                    black_box(forward_one(&hub, &mut inbound, &mut outbound, &wire));
                }
                total += start.elapsed();
                done += count;
            }
            total
        })
    });
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("round_trip");
    group.throughput(Throughput::Elements(1));
    let sample = incoming(1);
    let fulfill_response = fulfill_for(1);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            black_box(codec_only(black_box(&sample)));
            black_box(codec_fulfill(black_box(&fulfill_response)))
        })
    });
    group.bench_function("forward_and_fulfill", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let hub = hub();
                let count = CHUNK.min(iters - done);
                let inputs: Vec<_> = (0..count).map(|n| (n, incoming(n), links(), fulfill_for(n))).collect();
                let start = Instant::now();
                for (_, wire, (mut inbound, mut outbound), response) in inputs {
                    forward_one(&hub, &mut inbound, &mut outbound, &wire);
                    let received = outbound.receive(&response, NOW_MS).unwrap();
                    let Some(LinkEvent::Fulfilled {
                        transfer_id,
                        fulfillment,
                    }) = received.events.into_iter().next()
                    else {
                        unreachable!()
                    };
                    let Resolved::Upstream {
                        incoming_transfer_id,
                        reply,
                        ..
                    } = hub
                        .handle_fulfill(&id("bob"), &transfer_id, fulfillment, NOW_MS)
                        .unwrap()
                    else {
                        unreachable!()
                    };
                    black_box(inbound.send_reply(&incoming_transfer_id, &reply, NOW_MS).unwrap());
                }
                total += start.elapsed();
                done += count;
            }
            total
        })
    });
    group.finish();
}

/// Bob's Fulfill of payment `n`, as the Response to our Message 1.
fn fulfill_for(n: u64) -> Bytes {
    let packet = ilp4::Fulfill {
        fulfillment: fulfillment(n),
        data: &b""[..],
    }
    .encode()
    .unwrap();
    btp2::Response {
        request_id: 1,
        protocol_data: ProtocolData::from_entries([ProtocolDataEntry {
            protocol_name: b"ilp",
            content_type: 0,
            data: &packet,
        }]),
    }
    .encode()
    .unwrap()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = forward, round_trip
}
criterion_main!(benches);
