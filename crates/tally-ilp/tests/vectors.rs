//! The codec against vectors made by the JavaScript reference packages
//! (`tests/vectors/gen.js`, output committed as `tests/vectors/vectors.json`;
//! no node needed here).
//!
//! The JSON comparison goes through `examples/ilp_codec/mapping.rs`, the
//! mapping the `ilp-codec` example uses, so these tests also pin the
//! example's behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::Value;
use tally_ilp as ilp;

#[path = "../../../examples/ilp_codec/mapping.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared with the example; not every item is used here"
)]
mod mapping;

use ilp::{DecodeErrorKind, Encode, Mode, btp2, clp, ilp4, legacy};
use mapping::{Command, Family, decode_to_json, encode_from_json, from_hex, run_line};

/// JS accepts these, and so does lenient mode, except for the ones listed
/// in `REJECTED_EVEN_WHEN_LENIENT` (with the reason).
const REJECTED_EVEN_WHEN_LENIENT: &[(&str, &str)] = &[
    (
        "prepare_time_spaces",
        "blank date fields are not digits; JS reads them as 0 (year 1900)",
    ),
    (
        "prepare_time_garbage",
        "an unparseable time has no value; JS yields an Invalid Date",
    ),
];

struct Vector {
    family: Family,
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
            family: Family::parse(v["family"].as_str().unwrap()).unwrap(),
            name: v["name"].as_str().unwrap().to_string(),
            bytes: from_hex(v["hex"].as_str().unwrap()).unwrap(),
            json: v["json"].clone(),
        })
        .collect()
}

fn strict_reencode(family: Family, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let e = |e: ilp::DecodeError| e.to_string();
    let encoded = match family {
        Family::Ilp4 => ilp4::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        Family::Legacy => legacy::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        Family::Clp => clp::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
        Family::Btp2 => btp2::Packet::decode(bytes, Mode::Strict).map_err(e)?.encode(),
    };
    encoded.map(|b| b.to_vec()).map_err(|e| e.to_string())
}

fn decode_error(family: Family, bytes: &[u8], mode: Mode) -> Option<ilp::DecodeError> {
    match family {
        Family::Ilp4 => ilp4::Packet::decode(bytes, mode).err(),
        Family::Legacy => legacy::Packet::decode(bytes, mode).err(),
        Family::Clp => clp::Packet::decode(bytes, mode).err(),
        Family::Btp2 => btp2::Packet::decode(bytes, mode).err(),
    }
}

#[test]
fn every_valid_vector_decodes_to_the_reference_json_and_reencodes_byte_exactly() {
    let vectors = load("valid");
    assert!(vectors.len() >= 75, "only {} valid vectors", vectors.len());
    for v in &vectors {
        for mode in [Mode::Strict, Mode::Lenient] {
            let json = decode_to_json(v.family, &v.bytes, mode).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(json, v.json, "{} ({mode:?})", v.name);
        }
        assert_eq!(
            strict_reencode(v.family, &v.bytes).unwrap(),
            v.bytes,
            "{}: decode -> encode",
            v.name
        );
        let from_json = encode_from_json(v.family, &v.json).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(from_json.to_vec(), v.bytes, "{}: JSON -> encode", v.name);
    }
}

#[test]
fn valid_vectors_cover_every_packet_type() {
    let vectors = load("valid");
    let covered = |family: Family| -> std::collections::BTreeSet<String> {
        vectors
            .iter()
            .filter(|v| v.family == family)
            .map(|v| v.json["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(covered(Family::Ilp4).len(), 3);
    assert_eq!(covered(Family::Legacy).len(), 11);
    assert_eq!(covered(Family::Clp).len(), 7);
    assert_eq!(covered(Family::Btp2).len(), 4);
}

#[test]
fn every_malformed_vector_is_a_typed_error_in_both_modes() {
    let vectors = load("malformed");
    assert!(vectors.len() >= 50, "only {} malformed vectors", vectors.len());
    for v in &vectors {
        for mode in [Mode::Strict, Mode::Lenient] {
            let error =
                decode_error(v.family, &v.bytes, mode).unwrap_or_else(|| panic!("{} accepted ({mode:?})", v.name));
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
fn what_only_javascript_accepts_is_rejected_strictly_and_accepted_leniently() {
    let vectors = load("js_lenient");
    assert!(vectors.len() >= 14);
    for v in &vectors {
        assert!(
            decode_error(v.family, &v.bytes, Mode::Strict).is_some(),
            "{} accepted in strict mode",
            v.name
        );
        let lenient = decode_to_json(v.family, &v.bytes, Mode::Lenient);
        if REJECTED_EVEN_WHEN_LENIENT.iter().any(|(name, _)| *name == v.name) {
            assert!(lenient.is_err(), "{} accepted in lenient mode", v.name);
        } else {
            let json = lenient.unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(json, v.json, "{}", v.name);
        }
    }
}

#[test]
fn malformed_inputs_name_the_failing_item_and_its_offset() {
    let kind = |family, hex: &str| decode_error(family, &from_hex(hex).unwrap(), Mode::Lenient).unwrap();
    let e = kind(Family::Ilp4, "0c80");
    assert_eq!((e.offset, e.kind), (1, DecodeErrorKind::EmptyLengthPrefix));
    let e = kind(Family::Ilp4, "0d810500000000");
    assert_eq!((e.offset, e.kind), (1, DecodeErrorKind::NonCanonicalLength));
    let e = kind(Family::Ilp4, "63");
    assert_eq!((e.offset, e.kind), (0, DecodeErrorKind::UnknownType(99)));
    let e = kind(Family::Btp2, "0700000001030000");
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
    let e = kind(Family::Btp2, "070000000103000000");
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
    let e = kind(Family::Clp, "070000000103010900");
    assert_eq!(e.kind, DecodeErrorKind::CountTooLarge { count: 9, available: 1 });
}

#[test]
fn the_codec_tool_answers_each_line_in_order() {
    let decode = Command::Decode(Mode::Strict);
    assert_eq!(
        run_line(
            decode,
            "ilp4 0d21000000000000000000000000000000000000000000000000000000000000000000"
        ),
        r#"{"data":"","fulfillment":"0000000000000000000000000000000000000000000000000000000000000000","type":"fulfill"}"#
    );
    assert!(run_line(decode, "ilp4 0d80").starts_with(r#"{"error":"long-form length prefix 0x80"#));
    assert!(run_line(decode, "nope 00").contains("unknown family"));
    assert!(run_line(decode, "ilp4 0").contains("odd number"));
    assert!(run_line(decode, "").contains("error"));
    // Trailing byte: strict refuses, lenient accepts.
    let trailing = "btp2 01000000010201000";
    assert!(run_line(decode, &format!("{trailing}0")).contains("trailing"));
    assert_eq!(
        run_line(Command::Decode(Mode::Lenient), &format!("{trailing}0")),
        r#"{"protocolData":[],"requestId":1,"type":"response"}"#
    );
    assert_eq!(
        run_line(
            Command::Encode,
            r#"btp2 {"type":"transfer","requestId":7,"amount":"18446744073709551615","protocolData":[]}"#
        ),
        "07000000070affffffffffffffff0100"
    );
    assert!(run_line(Command::Encode, r#"ilp4 {"type":"prepare"}"#).contains("missing field"));
    assert!(
        run_line(
            Command::Encode,
            r#"ilp4 {"type":"reject","code":"F02","triggeredBy":"nope","message":"","data":""}"#
        )
        .contains("invalid ILP address")
    );
}
