//! The codec against vectors made by the JavaScript reference packages
//! (`tests/vectors/gen.js`, output committed as `tests/vectors/vectors.json`;
//! no node needed here).
//!
//! These tests check the wire level: what decodes, what re-encodes, which
//! typed errors come back. `tests/json.rs` (feature `json`) checks every
//! vector's decoded fields against the reference decoder's JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::Value;
use tally_ilp as ilp;

use ilp::{DecodeErrorKind, Encode, Mode, btp2, clp, ilp4, legacy};

struct Vector {
    family: String,
    name: String,
    bytes: Vec<u8>,
    json: Value,
}

fn load(section: &str) -> Vec<Vector> {
    let text = include_str!("vectors/vectors.json");
    let all: Value = serde_json::from_str(text).unwrap();
    all[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            family: v["family"].as_str().unwrap().to_string(),
            name: v["name"].as_str().unwrap().to_string(),
            bytes: hex::decode(v["hex"].as_str().unwrap()).unwrap(),
            json: v["json"].clone(),
        })
        .collect()
}

fn strict_reencode(family: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let e = |e: ilp::DecodeError| e.to_string();
    let encoded = match family {
        "ilp4" => ilp4::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        "legacy" => legacy::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        "clp" => clp::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        "btp2" => btp2::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        other => panic!("unknown family {other}"),
    };
    encoded.map(|b| b.to_vec()).map_err(|e| e.to_string())
}

fn decode_error(family: &str, bytes: &[u8], mode: Mode) -> Option<ilp::DecodeError> {
    match family {
        "ilp4" => ilp4::Packet::decode(bytes, mode).err(),
        "legacy" => legacy::Packet::decode(bytes, mode).err(),
        "clp" => clp::Packet::decode(bytes, mode).err(),
        "btp2" => btp2::Packet::decode(bytes, mode).err(),
        other => panic!("unknown family {other}"),
    }
}

#[test]
fn every_valid_vector_decodes_in_both_modes_and_reencodes_byte_exactly() {
    let vectors = load("valid");
    assert!(vectors.len() >= 75, "only {} valid vectors", vectors.len());
    for v in &vectors {
        for mode in [Mode::Strict, Mode::Lenient] {
            assert!(
                decode_error(&v.family, &v.bytes, mode).is_none(),
                "{} ({mode:?})",
                v.name
            );
        }
        assert_eq!(
            strict_reencode(&v.family, &v.bytes).unwrap(),
            v.bytes,
            "{}: decode -> encode",
            v.name
        );
    }
}

#[test]
fn valid_vectors_cover_every_packet_type() {
    let vectors = load("valid");
    let covered = |family: &str| -> std::collections::BTreeSet<String> {
        vectors
            .iter()
            .filter(|v| v.family == family)
            .map(|v| v.json["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(covered("ilp4").len(), 3);
    assert_eq!(covered("legacy").len(), 11);
    assert_eq!(covered("clp").len(), 7);
    assert_eq!(covered("btp2").len(), 4);
}

#[test]
fn every_malformed_vector_is_a_typed_error_in_both_modes() {
    let vectors = load("malformed");
    assert!(vectors.len() >= 50, "only {} malformed vectors", vectors.len());
    for v in &vectors {
        for mode in [Mode::Strict, Mode::Lenient] {
            let error =
                decode_error(&v.family, &v.bytes, mode).unwrap_or_else(|| panic!("{} accepted ({mode:?})", v.name));
            assert!(
                error.offset <= v.bytes.len(),
                "{}: offset {} past the input",
                v.name,
                error.offset
            );
        }
    }
}

#[test]
fn what_only_javascript_accepts_is_rejected_in_strict_mode() {
    let vectors = load("js_lenient");
    assert!(vectors.len() >= 14);
    for v in &vectors {
        assert!(
            decode_error(&v.family, &v.bytes, Mode::Strict).is_some(),
            "{} accepted in strict mode",
            v.name
        );
    }
}

#[test]
fn malformed_inputs_name_the_failing_item_and_its_offset() {
    let kind = |family, hex: &str| decode_error(family, &hex::decode(hex).unwrap(), Mode::Lenient).unwrap();
    let e = kind("ilp4", "0c80");
    assert_eq!((e.offset, e.kind), (1, DecodeErrorKind::EmptyLengthPrefix));
    let e = kind("ilp4", "0d810500000000");
    assert_eq!((e.offset, e.kind), (1, DecodeErrorKind::NonCanonicalLength));
    let e = kind("ilp4", "63");
    assert_eq!((e.offset, e.kind), (0, DecodeErrorKind::UnknownType(99)));
    let e = kind("btp2", "0700000001030000");
    assert_eq!(
        (e.offset, e.kind),
        (
            6,
            DecodeErrorKind::UnexpectedEnd {
                needed: 3,
                available: 2
            }
        )
    );
    let e = kind("btp2", "070000000103000000");
    assert_eq!(
        (e.offset, e.kind),
        (
            6,
            DecodeErrorKind::UnexpectedEnd {
                needed: 8,
                available: 3
            }
        )
    );
    let e = kind("clp", "070000000103010900");
    assert_eq!(e.kind, DecodeErrorKind::CountTooLarge { count: 9, available: 1 });
}
