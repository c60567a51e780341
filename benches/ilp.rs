//! tally-ilp's ILPv4 Prepare codec against `interledger-packet` 0.4 and a copy floor.
//!
//! Every group measures, in the same run:
//! - `baseline`: copying the packet's bytes into a preallocated buffer, the
//!   least any decoder or encoder that touches the bytes can do;
//! - `tally`: tally-ilp with full strict validation (address rules,
//!   calendar-checked timestamp, data limit, canonical lengths);
//! - `interledger_packet`: the `interledger-packet` crate 0.4, the existing
//!   Rust implementation (regex address check, chrono timestamp parse).
//!
//! Packets are a typical Prepare (100 bytes of data) and one with 32 KiB.
//! `roundtrip_*` decodes then re-encodes from the decoded fields. Run with
//! `cargo bench --bench ilp --features ilp`, then `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark harness")]

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use bytes04::BytesMut as BytesMut04;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use interledger_packet as ilprs;
use tally::ilp::{Encode, Mode, Timestamp, ilp4};

const EXPIRES_AT_MS: i64 = 1_505_392_496_789;
const DESTINATION: &str =
    "g.us-fed.ach.0.acmebank.swx0a0.acmecorp.sales.199.~ipr.cdfa5e16-e759-4ba3-88f6-8b9dc83c1868.2";

fn wire(data_len: usize) -> Vec<u8> {
    let data = vec![0x5a; data_len];
    ilp4::Prepare {
        amount: 107,
        expires_at: Timestamp::from_unix_ms(EXPIRES_AT_MS).unwrap(),
        execution_condition: [7; 32],
        destination: DESTINATION.as_bytes(),
        data: &data[..],
    }
    .encode()
    .unwrap()
    .to_vec()
}

fn sizes() -> [(&'static str, usize); 2] {
    [("100B", 100), ("32KiB", ilp4::MAX_DATA_BYTES)]
}

/// The copy floor: the packet's bytes into a buffer allocated up front.
fn copy_floor(b: &mut criterion::Bencher<'_>, wire: &[u8]) {
    let mut buffer = Vec::with_capacity(wire.len());
    b.iter(|| {
        buffer.clear();
        buffer.extend_from_slice(black_box(wire));
        black_box(&buffer);
    })
}

fn decode(c: &mut Criterion) {
    for (label, data_len) in sizes() {
        let wire = wire(data_len);
        let mut group = c.benchmark_group(format!("decode_prepare_{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("baseline", |b| copy_floor(b, &wire));
        group.bench_function("tally", |b| {
            b.iter(|| {
                let prepare = ilp4::Prepare::decode(black_box(&wire), Mode::Strict).unwrap();
                black_box((prepare.amount, prepare.expires_at, prepare.destination, prepare.data))
            })
        });
        group.bench_function("interledger_packet", |b| {
            b.iter_batched(
                || BytesMut04::from(&wire[..]),
                |buffer| {
                    let prepare = ilprs::Prepare::try_from(buffer).unwrap();
                    black_box((prepare.amount(), prepare.expires_at(), prepare.data().len()));
                    prepare
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for (label, data_len) in sizes() {
        let wire = wire(data_len);
        let data = vec![0x5a; data_len];
        let condition = [7u8; 32];
        let tally_prepare = ilp4::Prepare {
            amount: 107,
            expires_at: Timestamp::from_unix_ms(EXPIRES_AT_MS).unwrap(),
            execution_condition: condition,
            destination: DESTINATION.as_bytes(),
            data: &data[..],
        };
        let address = ilprs::Address::from_str(DESTINATION).unwrap();
        let expires_at = UNIX_EPOCH + Duration::from_millis(EXPIRES_AT_MS as u64);
        let mut group = c.benchmark_group(format!("encode_prepare_{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("baseline", |b| copy_floor(b, &wire));
        group.bench_function("tally", |b| {
            b.iter(|| black_box(black_box(&tally_prepare).encode().unwrap()))
        });
        group.bench_function("interledger_packet", |b| {
            b.iter(|| {
                let prepare = ilprs::PrepareBuilder {
                    amount: 107,
                    expires_at,
                    execution_condition: &condition,
                    destination: address.clone(),
                    data: black_box(&data[..]),
                }
                .build();
                black_box(BytesMut04::from(prepare))
            })
        });
        group.finish();
    }
}

fn roundtrip(c: &mut Criterion) {
    for (label, data_len) in sizes() {
        let wire = wire(data_len);
        let mut group = c.benchmark_group(format!("roundtrip_prepare_{label}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("baseline", |b| copy_floor(b, &wire));
        group.bench_function("tally", |b| {
            b.iter(|| {
                let prepare = ilp4::Prepare::decode(black_box(&wire), Mode::Strict).unwrap();
                black_box(prepare.encode().unwrap())
            })
        });
        group.bench_function("interledger_packet", |b| {
            b.iter_batched(
                || BytesMut04::from(&wire[..]),
                |buffer| {
                    let prepare = ilprs::Prepare::try_from(buffer).unwrap();
                    let condition: [u8; 32] = prepare.execution_condition().try_into().unwrap();
                    let rebuilt = ilprs::PrepareBuilder {
                        amount: prepare.amount(),
                        expires_at: prepare.expires_at(),
                        execution_condition: &condition,
                        destination: prepare.destination(),
                        data: prepare.data(),
                    }
                    .build();
                    black_box(BytesMut04::from(rebuilt))
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, decode, encode, roundtrip);
criterion_main!(benches);
