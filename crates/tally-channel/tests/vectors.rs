//! Signature vectors made with ethers 6 (see tests/vectors/generate.mjs):
//! every vector's digest, default verdict and strict-policy verdict.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::Value;
use tally_channel::verify::{parse_line, verify_line, verify_line_with_policy};
use tally_channel::{SignaturePolicy, payment_digest, types::encode_hex};

const VECTORS: &str = include_str!("vectors/channel_signatures.json");

fn vectors() -> Vec<Value> {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    let vectors = file["vectors"].as_array().unwrap().clone();
    assert_eq!(vectors.len() as u64, file["count"].as_u64().unwrap());
    vectors
}

fn verdict(value: &Value) -> (bool, Option<String>, Option<String>) {
    (
        value["valid"].as_bool().unwrap(),
        value["signer"].as_str().map(str::to_owned),
        value["reason"].as_str().map(str::to_owned),
    )
}

#[test]
fn every_vector_gets_its_expected_verdict() {
    let vectors = vectors();
    assert!(vectors.len() >= 300, "{} vectors", vectors.len());
    let mut failures = Vec::new();
    for vector in &vectors {
        let line = serde_json::to_string(&vector["input"]).unwrap();
        let got = verify_line(&line);
        let got = (got.valid, got.signer, got.reason.map(str::to_owned));
        if got != verdict(&vector["expected"]) {
            failures.push(format!("{}: got {got:?}", vector["name"]));
        }
        let strict = verify_line_with_policy(&line, SignaturePolicy::strict());
        let strict = (strict.valid, strict.signer, strict.reason.map(str::to_owned));
        if strict != verdict(&vector["expected_strict"]) {
            failures.push(format!("{} (strict): got {strict:?}", vector["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn digests_match_the_contracts_layouts() {
    let mut checked = 0;
    for vector in vectors() {
        let Some(expected) = vector["digest"].as_str() else {
            continue;
        };
        let input = parse_line(&serde_json::to_string(&vector["input"]).unwrap()).unwrap();
        let digest = payment_digest(input.scheme, &input.payment).unwrap();
        assert_eq!(encode_hex(&digest), expected, "{}", vector["name"]);
        checked += 1;
    }
    assert!(checked >= 200, "only {checked} digests");
}

#[test]
fn vectors_cover_every_scheme_and_reason() {
    let vectors = vectors();
    for scheme in [
        "unidirectional",
        "token_unidirectional",
        "broker_v2",
        "broker_state_update",
    ] {
        let valid = vectors
            .iter()
            .filter(|v| v["input"]["scheme"] == scheme && v["expected"]["valid"] == true)
            .count();
        assert!(valid >= 40, "{scheme}: {valid} valid vectors");
    }
    for reason in [
        "wrong_signer",
        "bad_signature_length",
        "bad_v",
        "invalid_signature",
        "invalid_amount",
        "invalid_input",
    ] {
        assert!(
            vectors.iter().any(|v| v["expected"]["reason"] == reason),
            "no vector for {reason}"
        );
    }
}

#[test]
fn invalid_signatures_carry_precise_sub_reasons() {
    use tally_channel::{SignatureError, recover_payment_signer};
    type Check = fn(&SignatureError) -> bool;
    let expectations: [(&str, Check); 8] = [
        ("/r=0", |e| *e == SignatureError::RZero),
        ("/s=0", |e| *e == SignatureError::SZero),
        ("/r=n", |e| *e == SignatureError::ROutOfRange),
        ("/s=n", |e| *e == SignatureError::SOutOfRange),
        ("/s=2^256-1", |e| *e == SignatureError::SOutOfRange),
        ("/r_off_curve", |e| *e == SignatureError::Unrecoverable),
        ("/v=29", |e| matches!(e, SignatureError::BadV { v: 29, .. })),
        ("/high_s", |e| *e == SignatureError::HighS),
    ];
    let vectors = vectors();
    for (suffix, expected) in expectations {
        let mut seen = 0;
        for vector in vectors.iter().filter(|v| v["name"].as_str().unwrap().ends_with(suffix)) {
            let input = parse_line(&serde_json::to_string(&vector["input"]).unwrap()).unwrap();
            let error = recover_payment_signer(
                input.scheme,
                &input.payment,
                &input.signature,
                SignaturePolicy::strict(),
            )
            .unwrap_err();
            assert!(expected(&error), "{}: {error:?}", vector["name"]);
            seen += 1;
        }
        assert!(seen >= 4, "{suffix}: {seen} vectors");
    }
}
