//! `tally_ilp::json` (feature `json`) against the JSON the JavaScript
//! reference decoders produced for the vectors (`tests/vectors/vectors.json`,
//! made by `tests/vectors/gen.js`), and its typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use tally_ilp::bytes::Bytes;
use tally_ilp::json::{self, Family, Field, JsonError};
use tally_ilp::{DecodeErrorKind, EncodeError, Mode, btp2, clp, ilp4, legacy};

/// JS accepts these, and so does lenient mode, except for the ones listed
/// here (with the reason).
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
    let all: Value = serde_json::from_str(include_str!("vectors/vectors.json")).unwrap();
    all[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| Vector {
            family: v["family"].as_str().unwrap().parse().unwrap(),
            name: v["name"].as_str().unwrap().to_string(),
            bytes: hex::decode(v["hex"].as_str().unwrap()).unwrap(),
            json: v["json"].clone(),
        })
        .collect()
}

#[test]
fn every_valid_vector_decodes_to_the_reference_json_and_encodes_back_from_it() {
    let vectors = load("valid");
    assert!(vectors.len() >= 75, "only {} valid vectors", vectors.len());
    for v in &vectors {
        for mode in [Mode::Strict, Mode::Lenient] {
            let value = json::decode_to_json(v.family, &v.bytes, mode).unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(value, v.json, "{} ({mode:?})", v.name);
        }
        let encoded = json::encode_from_json(v.family, &v.json).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(encoded.to_vec(), v.bytes, "{}: JSON -> encode", v.name);
    }
}

#[test]
fn what_only_javascript_accepts_decodes_leniently_to_the_reference_json() {
    let vectors = load("js_lenient");
    assert!(vectors.len() >= 14);
    for v in &vectors {
        let lenient = json::decode_to_json(v.family, &v.bytes, Mode::Lenient);
        if REJECTED_EVEN_WHEN_LENIENT.iter().any(|(name, _)| *name == v.name) {
            assert!(lenient.is_err(), "{} accepted in lenient mode", v.name);
        } else {
            let value = lenient.unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(value, v.json, "{}", v.name);
        }
        assert!(
            matches!(
                json::decode_to_json(v.family, &v.bytes, Mode::Strict),
                Err(JsonError::Decode(_))
            ),
            "{} accepted in strict mode",
            v.name
        );
    }
}

#[test]
fn per_family_json_of_a_view_and_of_an_owned_packet_agree_and_read_back_to_the_packet() {
    for v in load("valid") {
        let shared = Bytes::from(v.bytes.clone());
        let same = match v.family {
            Family::Ilp4 => {
                let view = json::ilp4::to_json(&ilp4::Packet::decode(&v.bytes, Mode::Strict).unwrap());
                let owned = ilp4::Packet::decode_bytes(&shared, Mode::Strict).unwrap();
                view == json::ilp4::to_json(&owned) && json::ilp4::from_json(&view).unwrap() == owned
            }
            Family::Legacy => {
                let view = json::legacy::to_json(&legacy::Packet::decode(&v.bytes, Mode::Strict).unwrap());
                let owned = legacy::Packet::decode_bytes(&shared, Mode::Strict).unwrap();
                view == json::legacy::to_json(&owned) && json::legacy::from_json(&view).unwrap() == owned
            }
            Family::Clp => {
                let view = json::clp::to_json(&clp::Packet::decode(&v.bytes, Mode::Strict).unwrap());
                let owned = clp::Packet::decode_bytes(&shared, Mode::Strict).unwrap();
                view == json::clp::to_json(&owned) && json::clp::from_json(&view).unwrap() == owned
            }
            Family::Btp2 => {
                let view = json::btp2::to_json(&btp2::Packet::decode(&v.bytes, Mode::Strict).unwrap());
                let owned = btp2::Packet::decode_bytes(&shared, Mode::Strict).unwrap();
                view == json::btp2::to_json(&owned) && json::btp2::from_json(&view).unwrap() == owned
            }
        };
        assert!(same, "{}", v.name);
    }
}

#[test]
fn family_names_parse_and_print_as_the_module_names() {
    for family in Family::ALL {
        assert_eq!(family.to_string().parse::<Family>().unwrap(), family);
    }
    assert_eq!("legacy".parse::<Family>().unwrap(), Family::Legacy);
    let error = "ilp5".parse::<Family>().unwrap_err();
    assert_eq!(error, JsonError::UnknownFamily { name: "ilp5".into() });
    assert_eq!(error.to_string(), r#"unknown family "ilp5""#);
}

fn encode_error(family: Family, value: Value) -> JsonError {
    json::encode_from_json(family, &value).unwrap_err()
}

#[test]
fn a_value_that_is_not_a_packet_object_names_what_is_wrong() {
    assert_eq!(encode_error(Family::Ilp4, json!([1, 2])), JsonError::NotAnObject);
    assert_eq!(
        encode_error(Family::Ilp4, json!({})),
        JsonError::MissingField {
            field: Field::Member("type")
        }
    );
    let error = encode_error(
        Family::Clp,
        json!({"type": "transfer", "requestId": 1, "protocolData": []}),
    );
    assert_eq!(
        error,
        JsonError::UnknownType {
            family: Family::Clp,
            type_name: "transfer".into()
        }
    );
    assert_eq!(error.to_string(), r#"unknown clp packet type "transfer""#);
    let error = encode_error(Family::Ilp4, json!({"type": "prepare"}));
    assert_eq!(
        error,
        JsonError::MissingField {
            field: Field::Member("amount")
        }
    );
    assert_eq!(error.to_string(), "missing field amount");
}

#[test]
fn malformed_fields_are_typed_errors_that_name_the_field() {
    let reject = |code: Value, data: &str| json!({"type": "reject", "code": code, "triggeredBy": "", "message": "", "data": data});
    assert_eq!(
        encode_error(Family::Ilp4, reject(json!(502), "")),
        JsonError::WrongType {
            field: Field::Member("code"),
            expected: "a string"
        }
    );
    assert_eq!(
        encode_error(Family::Ilp4, reject(json!("F0"), "")),
        JsonError::WrongLength {
            field: Field::Member("code"),
            expected_bytes: 3,
            found_bytes: 2
        }
    );
    let odd = encode_error(Family::Ilp4, reject(json!("F02"), "abc"));
    assert_eq!(
        odd,
        JsonError::OddHexLength {
            field: Field::Member("data")
        }
    );
    assert_eq!(odd.to_string(), "field data: hex has an odd number of digits");
    assert_eq!(
        encode_error(Family::Ilp4, reject(json!("F02"), "00zz")),
        JsonError::InvalidHexDigit {
            field: Field::Member("data"),
            index: 2
        }
    );

    let transfer = |amount: Value, request_id: Value| json!({"type": "transfer", "requestId": request_id, "amount": amount, "protocolData": []});
    assert_eq!(
        encode_error(Family::Btp2, transfer(json!("-1"), json!(1))),
        JsonError::NotAnInteger {
            field: Field::Member("amount"),
            bits: 64
        }
    );
    assert_eq!(
        encode_error(Family::Btp2, transfer(json!("18446744073709551616"), json!(1))),
        JsonError::NotAnInteger {
            field: Field::Member("amount"),
            bits: 64
        }
    );
    let too_big = encode_error(Family::Btp2, transfer(json!("1"), json!(4_294_967_296u64)));
    assert_eq!(
        too_big,
        JsonError::NotAnInteger {
            field: Field::Member("requestId"),
            bits: 32
        }
    );
    assert_eq!(too_big.to_string(), "field requestId is not a u32");
    // A u64 may also come as a JSON number.
    assert_eq!(
        json::encode_from_json(Family::Btp2, &transfer(json!(5), json!(7))).unwrap(),
        hex::decode("07000000070a00000000000000050100").unwrap()
    );

    let prepare = json!({"type": "prepare", "amount": "1", "expiresAt": "2017-09-14 12:34:56",
        "executionCondition": "00", "destination": "test.a", "data": ""});
    assert_eq!(
        encode_error(Family::Ilp4, prepare),
        JsonError::InvalidTime {
            field: Field::Member("expiresAt")
        }
    );
    let fulfill = json!({"type": "fulfill", "requestId": 1, "transferId": "not-a-uuid",
        "fulfillment": "00", "protocolData": []});
    assert_eq!(
        encode_error(Family::Clp, fulfill),
        JsonError::InvalidUuid {
            field: Field::Member("transferId")
        }
    );
    let response = json!({"type": "ilqp_liquidity_response", "liquidityCurve": "00",
        "appliesToPrefix": "test.", "sourceHoldDuration": 1, "expiresAt": "2017-09-14T12:34:56.789Z"});
    assert_eq!(
        encode_error(Family::Legacy, response),
        JsonError::LiquidityCurveLength { len_bytes: 1 }
    );
}

#[test]
fn malformed_list_entries_name_the_list_the_index_and_the_member() {
    let message = |entries: Value| json!({"type": "message", "requestId": 1, "protocolData": entries});
    assert_eq!(
        encode_error(Family::Btp2, message(json!({}))),
        JsonError::WrongType {
            field: Field::Member("protocolData"),
            expected: "an array"
        }
    );
    assert_eq!(
        encode_error(Family::Btp2, message(json!(["ilp"]))),
        JsonError::WrongType {
            field: Field::Entry("protocolData", 0),
            expected: "an object"
        }
    );
    let entry = json!({"protocolName": "ilp", "contentType": 0, "data": ""});
    let error = encode_error(
        Family::Btp2,
        message(json!([entry, {"protocolName": "x", "contentType": 256, "data": ""}])),
    );
    assert_eq!(
        error,
        JsonError::NotAnInteger {
            field: Field::EntryMember("protocolData", 1, "contentType"),
            bits: 8
        }
    );
    assert_eq!(error.to_string(), "field protocolData[1].contentType is not a u8");
    assert_eq!(
        encode_error(Family::Clp, message(json!([{"protocolName": "ilp", "contentType": 0}]))),
        JsonError::MissingField {
            field: Field::EntryMember("protocolData", 0, "data")
        }
    );

    let ilp_error = json!({"type": "ilp_error", "code": "F02", "name": "Unreachable", "triggeredBy": "test.a",
        "forwardedBy": ["test.b", 7], "triggeredAt": "2017-09-14T12:34:56.789Z", "data": ""});
    let error = encode_error(Family::Legacy, ilp_error);
    assert_eq!(
        error,
        JsonError::WrongType {
            field: Field::Entry("forwardedBy", 1),
            expected: "a string"
        }
    );
    assert_eq!(error.to_string(), "field forwardedBy[1] must be a string");
}

#[test]
fn wire_and_packet_rule_failures_keep_the_codec_errors() {
    let error = json::decode_to_json(Family::Ilp4, &[0x0d, 0x80], Mode::Strict).unwrap_err();
    let JsonError::Decode(decode) = error else {
        panic!("{error:?}")
    };
    assert_eq!((decode.offset, decode.kind), (1, DecodeErrorKind::EmptyLengthPrefix));
    assert!(error.to_string().starts_with("long-form length prefix 0x80"));

    let reject = json!({"type": "reject", "code": "F02", "triggeredBy": "nope", "message": "", "data": ""});
    // The JSON shape is fine; the packet is not.
    assert!(json::ilp4::from_json(&reject).is_ok());
    let error = encode_error(Family::Ilp4, reject);
    assert!(
        matches!(
            error,
            JsonError::Encode(EncodeError::InvalidAddress {
                field: "triggeredBy",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("invalid ILP address"));
}
