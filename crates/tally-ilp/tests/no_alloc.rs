//! Decoding never touches the heap.
//!
//! A counting global allocator (the `stats_alloc` crate: a `GlobalAlloc`
//! impl needs `unsafe`, which the workspace forbids in our own code, and
//! `forbid` cannot be relaxed per file) counts every allocation while all
//! the reference vectors, valid and malformed, are decoded in both modes.
//! This file holds a single test so that no other test thread allocates
//! while the count is taken.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::alloc::System;
use std::hint::black_box;

use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tally_ilp::bytes::Bytes;
use tally_ilp::{Mode, btp2, clp, ilp4, legacy};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn decode_all(family: &str, input: &[u8], shared: &Bytes) -> usize {
    let mut accepted = 0;
    for mode in [Mode::Strict, Mode::Lenient] {
        let ok = match family {
            "ilp4" => {
                black_box(ilp4::Packet::decode(input, mode)).is_ok()
                    & black_box(ilp4::Packet::decode_bytes(shared, mode)).is_ok()
            }
            "legacy" => {
                black_box(legacy::Packet::decode(input, mode)).is_ok()
                    & black_box(legacy::Packet::decode_bytes(shared, mode)).is_ok()
            }
            "clp" => {
                black_box(clp::Packet::decode(input, mode)).is_ok()
                    & black_box(clp::Packet::decode_bytes(shared, mode)).is_ok()
            }
            "btp2" => {
                black_box(btp2::Packet::decode(input, mode)).is_ok()
                    & black_box(btp2::Packet::decode_bytes(shared, mode)).is_ok()
            }
            other => panic!("unknown family {other}"),
        };
        accepted += usize::from(ok);
    }
    accepted
}

#[test]
fn decoding_every_vector_allocates_nothing() {
    let all: Value = serde_json::from_str(include_str!("vectors/vectors.json")).unwrap();
    let mut inputs = Vec::new();
    for section in ["valid", "malformed", "js_lenient"] {
        for v in all[section].as_array().unwrap() {
            let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
            // A `Bytes` made from a Vec allocates its shared header on the
            // first clone; clone once here so decode_bytes only bumps a count.
            let shared = Bytes::from(bytes.clone());
            drop(shared.clone());
            inputs.push((v["family"].as_str().unwrap().to_string(), bytes, shared));
        }
    }

    let region = Region::new(GLOBAL);
    let mut accepted = 0;
    for (family, bytes, shared) in &inputs {
        accepted += decode_all(family, bytes, shared);
    }
    let change = region.change();

    assert!(accepted > 150, "the vectors should mostly decode ({accepted})");
    assert_eq!(change.allocations, 0, "allocations during decode: {change:?}");
    assert_eq!(change.reallocations, 0, "reallocations during decode: {change:?}");
}
