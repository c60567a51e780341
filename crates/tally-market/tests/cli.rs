//! The JSON-lines tool (`examples/market-cli.rs`), through the line handler
//! it wraps: the exact answer format, every error kind, and the rule that
//! repeating an operation after a failed commit leaves the state as if it
//! had succeeded once.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use tally_market::cli::MarketCli;
use tally_store::MemStore;

const A: &str = "0101010101010101010101010101010101010101010101010101010101010101";
const B: &str = "0202020202020202020202020202020202020202020202020202020202020202";
const R: &str = "0303030303030303030303030303030303030303030303030303030303030303";
const REQ: &str = "0404040404040404040404040404040404040404040404040404040404040404";

fn cli() -> MarketCli<MemStore> {
    MarketCli::open(MemStore::new(), 1_000_000_000, [7; 32]).unwrap()
}

fn send(cli: &mut MarketCli<MemStore>, line: &Value) -> Value {
    let answer = cli.handle_line(&line.to_string());
    serde_json::from_str(&answer).unwrap()
}

fn create_a() -> Value {
    json!({"op":"create_availability","id":A,"total_size":1000,"duration":3600,
           "min_price_per_byte_per_second":"2","total_collateral":"10000","enabled":true,"until":0})
}

fn create_r() -> Value {
    json!({"op":"create_reservation","id":R,"availability_id":A,"size":400,"request_id":REQ,
           "slot_index":0,"collateral_per_byte":"3","valid_until":5000})
}

fn error(kind: &str) -> Value {
    json!({ "error": kind })
}

#[test]
fn answers_have_the_exact_documented_shape() {
    let mut cli = cli();
    assert_eq!(
        send(&mut cli, &create_a()),
        json!({"ok":{"id":A,"total_size":1000,"free_size":1000,"total_remaining_collateral":"10000","enabled":true,"until":0}})
    );
    assert_eq!(
        send(&mut cli, &create_r()),
        json!({"ok":{"id":R,"availability_id":A,"size":400,"request_id":REQ,"slot_index":0}})
    );
    assert_eq!(
        send(
            &mut cli,
            &json!({"op":"find","size":600,"duration":100,"price_per_byte_per_second":"2","collateral_per_byte":"1","valid_until":100})
        ),
        json!({"ok": A})
    );
    assert_eq!(
        send(
            &mut cli,
            &json!({"op":"find","size":601,"duration":100,"price_per_byte_per_second":"2","collateral_per_byte":"1","valid_until":100})
        ),
        json!({"ok": null})
    );
    assert_eq!(
        send(&mut cli, &json!({"op":"state"})),
        json!({"ok":{
            "quota":{"max":1_000_000_000u64,"used":0,"reserved":1000},
            "availabilities":[{"id":A,"total_size":1000,"free_size":600,"total_remaining_collateral":"8800","enabled":true,"until":0}],
            "reservations":[{"id":R,"availability_id":A,"size":400,"request_id":REQ,"slot_index":0}],
        }})
    );
    assert_eq!(
        send(
            &mut cli,
            &json!({"op":"delete_reservation","reservation_id":R,"returned_collateral":"1200"})
        ),
        json!({"ok":null})
    );
    assert_eq!(
        send(&mut cli, &json!({"op":"delete_availability","id":A})),
        json!({"ok":null})
    );
}

#[test]
fn lists_in_the_state_are_sorted_by_id() {
    let mut cli = cli();
    let mut second = create_a();
    second["id"] = json!(B);
    send(&mut cli, &second);
    send(&mut cli, &create_a());
    let state = send(&mut cli, &json!({"op":"state"}));
    let ids: Vec<&str> = state["ok"]["availabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![A, B]);
}

#[test]
fn each_refusal_has_its_kind() {
    let mut cli = cli();
    send(&mut cli, &create_a());
    send(&mut cli, &create_r());
    let cases = [
        (json!({"op":"release","reservation_id":B,"bytes":1}), "not_exists"),
        (json!({"op":"update_availability","id":B,"duration":1}), "not_exists"),
        (
            json!({"op":"release","reservation_id":R,"bytes":401}),
            "bytes_out_of_bounds",
        ),
        (
            json!({"op":"return_bytes","reservation_id":R,"bytes":1}),
            "bytes_out_of_bounds",
        ),
        (
            json!({"op":"update_availability","id":A,"total_size":399}),
            "bytes_out_of_bounds",
        ),
        (
            json!({"op":"update_availability","id":A,"until":4999}),
            "until_out_of_bounds",
        ),
        (
            json!({"op":"update_availability","id":A,"until":-1}),
            "until_out_of_bounds",
        ),
        (
            json!({"op":"create_availability","id":B,"total_size":1,"duration":1,"min_price_per_byte_per_second":"0","total_collateral":"0","until":-5}),
            "until_out_of_bounds",
        ),
        (
            json!({"op":"create_availability","id":B,"total_size":999_999_001u64,"duration":1,"min_price_per_byte_per_second":"0","total_collateral":"0"}),
            "quota_not_enough",
        ),
        (json!({"op":"delete_availability","id":A}), "invalid"),
        (json!({"op":"update_availability","id":A,"free_size":5}), "invalid"),
        (
            json!({"op":"create_availability","id":"xyz","total_size":1,"duration":1,"min_price_per_byte_per_second":"0","total_collateral":"0"}),
            "invalid",
        ),
        (
            json!({"op":"create_availability","id":B,"total_size":-1,"duration":1,"min_price_per_byte_per_second":"0","total_collateral":"0"}),
            "invalid",
        ),
        (
            json!({"op":"create_availability","id":B,"total_size":1,"duration":1,"min_price_per_byte_per_second":"1.5","total_collateral":"0"}),
            "invalid",
        ),
        (json!({"op":"create_availability","id":B,"duration":1}), "invalid"),
        (json!({"op":"launch"}), "invalid"),
        (json!({"no_op":1}), "invalid"),
        (json!([1, 2]), "invalid"),
    ];
    for (line, kind) in cases {
        assert_eq!(send(&mut cli, &line), error(kind), "{line}");
    }
    for raw in ["", "{", "not json", "null"] {
        assert_eq!(
            serde_json::from_str::<Value>(&cli.handle_line(raw)).unwrap(),
            error("invalid"),
            "{raw:?}"
        );
    }
    // Nothing refused changed anything.
    let state = send(&mut cli, &json!({"op":"state"}));
    assert_eq!(state["ok"]["availabilities"].as_array().unwrap().len(), 1);
    assert_eq!(state["ok"]["quota"]["reserved"], json!(1000));
}

#[test]
fn the_operation_hitting_a_failed_commit_answers_store() {
    for after_write in [false, true] {
        let mut cli = cli();
        assert_eq!(
            send(&mut cli, &json!({"op":"fail_next_commit","after_write":after_write})),
            json!({"ok":null})
        );
        // Reads do not commit: the fault waits for the next write.
        assert!(send(&mut cli, &json!({"op":"state"}))["ok"].is_object());
        assert_eq!(send(&mut cli, &create_a()), error("store"));
        let reserved = send(&mut cli, &json!({"op":"state"}))["ok"]["quota"]["reserved"].clone();
        assert_eq!(reserved, json!(if after_write { 1000 } else { 0 }));
        assert!(send(&mut cli, &create_a())["ok"].is_object(), "the repeat succeeds");
    }
}

/// The script every repeat test runs: one of each write.
fn script() -> Vec<Value> {
    vec![
        create_a(),
        json!({"op":"update_availability","id":A,"total_size":1500,"until":9000,"total_collateral":"20000"}),
        create_r(),
        json!({"op":"release","reservation_id":R,"bytes":100}),
        json!({"op":"release","reservation_id":R,"bytes":100}),
        json!({"op":"return_bytes","reservation_id":R,"bytes":50}),
        json!({"op":"delete_reservation","reservation_id":R,"returned_collateral":"1000"}),
        json!({"op":"create_availability","id":B,"total_size":10,"duration":1,"min_price_per_byte_per_second":"0","total_collateral":"0"}),
        json!({"op":"delete_availability","id":B}),
        json!({"op":"update_availability","id":A,"enabled":false}),
    ]
}

#[test]
fn repeating_an_operation_after_a_failed_commit_leaves_the_state_of_one_success() {
    let lines = script();
    for (failing, line) in lines.iter().enumerate() {
        for after_write in [false, true] {
            let mut clean = cli();
            let mut faulty = cli();
            for (n, line) in lines.iter().enumerate() {
                let expected = send(&mut clean, line);
                assert!(expected.get("ok").is_some(), "{line}: {expected}");
                if n == failing {
                    send(&mut faulty, &json!({"op":"fail_next_commit","after_write":after_write}));
                    assert_eq!(send(&mut faulty, line), error("store"), "{line}");
                }
                let answer = send(&mut faulty, line);
                assert!(answer.get("ok").is_some(), "repeat of {line}: {answer}");
                assert_eq!(
                    send(&mut faulty, &json!({"op":"state"})),
                    send(&mut clean, &json!({"op":"state"})),
                    "after {line} (fault at step {failing}, after_write {after_write})"
                );
            }
            faulty.reservations().snapshot().unwrap().check().unwrap();
            let _ = line;
        }
    }
}

#[test]
fn two_equal_releases_without_a_failure_apply_twice() {
    let mut cli = cli();
    send(&mut cli, &create_a());
    send(&mut cli, &create_r());
    let release = json!({"op":"release","reservation_id":R,"bytes":100});
    send(&mut cli, &release);
    assert_eq!(send(&mut cli, &release)["ok"]["size"], json!(200));
}

#[test]
fn a_repeat_after_other_operations_still_applies_once() {
    let mut cli = cli();
    send(&mut cli, &create_a());
    send(&mut cli, &create_r());
    let release = json!({"op":"release","reservation_id":R,"bytes":100});
    send(&mut cli, &json!({"op":"fail_next_commit","after_write":true}));
    assert_eq!(send(&mut cli, &release), error("store"));
    send(&mut cli, &json!({"op":"state"}));
    send(&mut cli, &json!({"op":"update_availability","id":A,"duration":10}));
    assert_eq!(send(&mut cli, &release)["ok"]["size"], json!(300), "released 100 once");
}
