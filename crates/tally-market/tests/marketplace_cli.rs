//! The JSON-lines tool of `examples/marketplace-cli.rs`, through its line
//! handler: every operation, the exact answer formats, a snake_case kind
//! per refusal, an error never changes the state, and a line repeated after
//! a failed commit applies at most once.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::{Value, json};
use tally_market::marketplace::cli::{MarketplaceCli, default_config};
use tally_market::{RequestId, slot_id};
use tally_store::{Fault, FaultyStore, MemStore, Store};

const CLIENT: &str = "0x1111111111111111111111111111111111111111";
const HOST: &str = "0x2222222222222222222222222222222222222222";
const HOST2: &str = "0x3333333333333333333333333333333333333333";
const VALIDATOR: &str = "0x4444444444444444444444444444444444444444";
const PERIOD: u64 = 120;

struct Tool<S: Store>(MarketplaceCli<S>);

impl<S: Store> Tool<S> {
    fn send(&mut self, line: Value) -> Value {
        serde_json::from_str(&self.0.handle_line(&line.to_string())).unwrap()
    }

    fn ok(&mut self, line: Value) -> Value {
        let answer = self.send(line.clone());
        answer
            .get("ok")
            .cloned()
            .unwrap_or_else(|| panic!("{line} answered {answer} ({:?})", self.0.last_error()))
    }

    /// Sends a line that must be refused with `kind`, and checks that the
    /// state did not change.
    fn refused(&mut self, line: Value, kind: &str) {
        let before = self.state();
        assert_eq!(self.send(line.clone()), json!({ "error": kind }), "{line}");
        assert_eq!(self.state(), before, "{line} changed the state");
    }

    fn state(&mut self) -> Value {
        self.ok(json!({"op": "state"}))
    }

    fn events(&mut self, line: Value) -> Vec<String> {
        let ok = self.ok(line);
        ok["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect()
    }

    fn advance(&mut self, seconds: u64) -> u64 {
        self.ok(json!({"op": "advance", "seconds": seconds}))["now"]
            .as_u64()
            .unwrap()
    }
}

fn tool() -> Tool<MemStore> {
    Tool(MarketplaceCli::open(MemStore::new(), default_config(), [1; 32]).unwrap())
}

fn nonce(n: u8) -> String {
    format!("0x{}", hex::encode([n; 32]))
}

/// 2 slots of 10 bytes for 2,400 s at 2 per byte-second (96,000 escrowed),
/// collateral 5 per byte (50 per slot), a proof every period, one slot may
/// be lost, expiry 600 s.
fn request(n: u8) -> Value {
    json!({
        "op": "request_storage",
        "client": CLIENT,
        "ask": {
            "slots": 2, "slot_size": 10, "duration": 2_400, "proof_probability": "1",
            "price_per_byte_per_second": "2", "collateral_per_byte": "5", "max_slot_loss": 1
        },
        "expiry": 600,
        "nonce": nonce(n),
    })
}

fn slot_hex(request_id: &str, index: u64) -> String {
    let id: RequestId = request_id.parse().unwrap();
    format!("0x{}", slot_id(&id, index).to_hex())
}

fn funded() -> Tool<MemStore> {
    let mut tool = tool();
    for account in [CLIENT, HOST, HOST2] {
        assert_eq!(
            tool.ok(json!({"op": "mint", "account": account, "amount": "1000000"})),
            json!({"events": []})
        );
    }
    tool
}

#[test]
fn the_state_has_exactly_the_documented_shape() {
    let mut tool = funded();
    let request_id = tool.ok(request(1))["request_id"].as_str().unwrap().to_owned();
    assert!(request_id.starts_with("0x") && request_id.len() == 66);
    let state = tool.state();
    let keys: Vec<&str> = state.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "balances",
            "burned",
            "contract_balance",
            "minted",
            "now",
            "requests",
            "slots"
        ]
    );
    assert_eq!(state["now"], json!(0));
    assert_eq!(state["minted"], json!("3000000"));
    assert_eq!(state["contract_balance"], json!("96000"));
    assert_eq!(state["burned"], json!("0"));
    assert_eq!(state["balances"][CLIENT], json!("904000"));
    assert_eq!(state["requests"], json!([{ "id": request_id, "state": "New" }]));
    let slots = state["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2);
    let mut ids: Vec<&str> = slots.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let sorted = {
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted
    };
    assert_eq!(ids, sorted, "slots sorted by id");
    ids.retain(|id| *id == slot_hex(&request_id, 0));
    assert_eq!(ids.len(), 1);
    for slot in slots {
        assert_eq!(slot["state"], json!("Free"));
        assert_eq!(slot["host"], Value::Null);
        assert_eq!(slot["request_id"], json!(request_id));
        let keys: Vec<&str> = slot.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["host", "id", "request_id", "slot_index", "state"]);
    }
}

#[test]
fn a_full_lifecycle_with_a_slashing_and_a_repair_runs_through_the_tool() {
    let mut tool = funded();
    let request_id = tool.ok(request(1))["request_id"].as_str().unwrap().to_owned();
    let s0 = slot_hex(&request_id, 0);
    let s1 = slot_hex(&request_id, 1);
    tool.advance(100);
    for (index, host) in [(0, HOST), (1, HOST2)] {
        assert!(
            tool.events(json!({"op": "reserve_slot", "host": host, "request_id": request_id, "slot_index": index}))
                .is_empty()
        );
        let events = tool.events(json!({
            "op": "fill_slot", "host": host, "request_id": request_id, "slot_index": index, "proof": "0xabcd"
        }));
        let mut expected = vec!["ProofSubmitted", "SlotFilled"];
        if index == 1 {
            expected.push("RequestFulfilled");
        }
        assert_eq!(events, expected);
    }
    assert_eq!(tool.state()["requests"][0]["state"], json!("Started"));

    // HOST proves in period 1, then misses periods 2 and 3 and is freed.
    let now = tool.advance(PERIOD);
    assert_eq!(now, 220);
    assert_eq!(
        tool.events(json!({"op": "submit_proof", "host": HOST, "slot_id": s0, "proof": "01"})),
        ["ProofSubmitted"]
    );
    tool.advance(3 * PERIOD - now + 1); // 361: period 2 can be validated
    assert!(
        tool.events(json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": s0, "period": 2}))
            .is_empty()
    );
    tool.ok(json!({"op": "submit_proof", "host": HOST2, "slot_id": s1, "proof": "02"}));
    tool.advance(PERIOD); // 481: period 3
    assert_eq!(
        tool.events(json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": s0, "period": 3})),
        ["SlotFreed"]
    );
    let state = tool.state();
    assert_eq!(state["balances"][VALIDATOR], json!("4"), "20% of two 20% slashes of 50");
    let freed = state["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(s0))
        .unwrap()
        .clone();
    assert_eq!(
        (freed["state"].clone(), freed["host"].clone()),
        (json!("Repair"), Value::Null)
    );

    // HOST2 repairs, in the next period, for 45 (the repair reward is 10%).
    tool.advance(PERIOD);
    tool.ok(json!({"op": "reserve_slot", "host": HOST2, "request_id": request_id, "slot_index": 0}));
    tool.ok(json!({"op": "fill_slot", "host": HOST2, "request_id": request_id, "slot_index": 0, "proof": "03"}));

    // The request ends; both slots are paid; the client takes the rest.
    tool.advance(2_500);
    assert_eq!(tool.state()["requests"][0]["state"], json!("Finished"));
    for slot in [&s0, &s1] {
        assert!(
            tool.events(json!({"op": "free_slot", "host": HOST2, "slot_id": slot}))
                .is_empty()
        );
    }
    tool.refused(json!({"op": "free_slot", "host": HOST2, "slot_id": s0}), "already_paid");
    tool.ok(json!({"op": "withdraw_funds", "client": CLIENT, "request_id": request_id}));
    let state = tool.state();
    for slot in state["slots"].as_array().unwrap() {
        assert_eq!(slot["state"], json!("Paid"));
        assert_eq!(slot["host"], json!(HOST2));
    }
    // What the contract keeps: HOST's 50, less 4 to the validator and 5 of repair reward.
    assert_eq!(state["contract_balance"], json!("41"));
    assert_eq!(state["burned"], json!("41"));
    let total: u64 = state["balances"]
        .as_object()
        .unwrap()
        .values()
        .map(|b| b.as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total + 41, 3_000_000, "every minted token is somewhere");
}

#[test]
fn an_unfilled_request_expires_and_its_client_gets_everything_back() {
    let mut tool = funded();
    let request_id = tool.ok(request(1))["request_id"].as_str().unwrap().to_owned();
    tool.refused(
        json!({"op": "withdraw_funds", "client": CLIENT, "request_id": request_id}),
        "invalid_state",
    );
    tool.advance(601);
    assert_eq!(tool.state()["requests"][0]["state"], json!("Cancelled"));
    assert_eq!(
        tool.events(json!({"op": "withdraw_funds", "client": CLIENT, "request_id": request_id})),
        ["RequestCancelled"]
    );
    assert_eq!(tool.state()["balances"][CLIENT], json!("1000000"));
    tool.refused(
        json!({"op": "withdraw_funds", "client": CLIENT, "request_id": request_id}),
        "nothing_to_withdraw",
    );
}

#[test]
fn every_refusal_has_its_kind_and_changes_nothing() {
    let mut tool = funded();
    let request_id = tool.ok(request(1))["request_id"].as_str().unwrap().to_owned();
    let s0 = slot_hex(&request_id, 0);
    let unknown = nonce(0x55);
    tool.refused(request(1), "request_already_exists");
    let mut bad = request(2);
    bad["expiry"] = json!(0);
    tool.refused(bad, "invalid_expiry");
    let mut bad = request(2);
    bad["ask"]["slots"] = json!(0);
    tool.refused(bad, "insufficient_slots");
    let mut bad = request(2);
    bad["ask"]["max_slot_loss"] = json!(3);
    tool.refused(bad, "invalid_max_slot_loss");
    let mut bad = request(2);
    bad["ask"]["proof_probability"] = json!("0");
    tool.refused(bad, "insufficient_proof_probability");
    let mut bad = request(2);
    bad["ask"]["collateral_per_byte"] = json!("0");
    tool.refused(bad, "insufficient_collateral");
    let mut bad = request(2);
    bad["ask"]["price_per_byte_per_second"] = json!("0");
    tool.refused(bad, "insufficient_reward");
    let mut bad = request(2);
    bad["cid"] = json!("");
    tool.refused(bad, "invalid_cid");
    let mut bad = request(2);
    bad["ask"]["duration"] = json!(31 * 24 * 3_600);
    bad["expiry"] = json!(600);
    tool.refused(bad, "duration_exceeds_limit");
    let mut bad = request(2);
    bad["ask"]["price_per_byte_per_second"] = json!("1000000");
    tool.refused(bad, "insufficient_balance");
    let mut bad = request(2);
    bad["ask"]["slots"] = json!(5_000);
    bad["ask"]["max_slot_loss"] = json!(0);
    tool.refused(bad, "limit");
    let mut bad = request(2);
    bad["ask"]["price_per_byte_per_second"] = json!("1".repeat(76));
    tool.refused(bad, "overflow");
    tool.refused(
        json!({"op": "mint", "account": CLIENT, "amount": tally_market::U256::MAX.to_string()}),
        "overflow",
    );

    tool.refused(
        json!({"op": "reserve_slot", "host": HOST, "request_id": unknown, "slot_index": 0}),
        "unknown_request",
    );
    tool.refused(
        json!({"op": "reserve_slot", "host": HOST, "request_id": request_id, "slot_index": 2}),
        "invalid_slot",
    );
    tool.refused(
        json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 0, "proof": "01"}),
        "reservation_required",
    );
    tool.ok(json!({"op": "reserve_slot", "host": HOST, "request_id": request_id, "slot_index": 0}));
    tool.refused(
        json!({"op": "reserve_slot", "host": HOST, "request_id": request_id, "slot_index": 0}),
        "reservation_not_allowed",
    );
    tool.refused(
        json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 0, "proof": ""}),
        "invalid_proof",
    );
    tool.refused(json!({"op": "free_slot", "host": HOST, "slot_id": s0}), "slot_is_free");
    tool.refused(
        json!({"op": "submit_proof", "host": HOST, "slot_id": s0, "proof": "01"}),
        "unknown_request",
    );
    tool.refused(
        json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": s0, "period": 0}),
        "slot_not_accepting_proofs",
    );
    tool.ok(json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 0, "proof": "01"}));
    tool.refused(
        json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 0, "proof": "01"}),
        "slot_not_free",
    );
    tool.refused(
        json!({"op": "free_slot", "host": HOST2, "slot_id": s0}),
        "invalid_slot_host",
    );
    tool.refused(
        json!({"op": "submit_proof", "host": HOST2, "slot_id": s0, "proof": "01"}),
        "proof_not_submitted_by_host",
    );
    tool.refused(
        json!({"op": "submit_proof", "host": HOST, "slot_id": s0, "proof": "01"}),
        "proof_already_submitted",
    );
    let mark =
        |period: u64| json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": s0, "period": period});
    tool.refused(mark(0), "period_not_ended");
    tool.advance(PERIOD + 1);
    tool.refused(mark(0), "proof_not_missing");
    tool.refused(mark(1), "period_not_ended");
    tool.advance(PERIOD);
    tool.ok(mark(1));
    tool.refused(mark(1), "proof_already_marked_missing");
    tool.advance(40);
    tool.refused(mark(1), "validation_timed_out");
    tool.refused(
        json!({"op": "withdraw_funds", "client": HOST, "request_id": request_id}),
        "invalid_client_address",
    );
    tool.refused(json!({"op": "advance", "seconds": u64::MAX}), "overflow");

    // Malformed lines.
    for line in [
        json!({"op": "mint", "account": "0x12", "amount": "1"}),
        json!({"op": "mint", "account": CLIENT, "amount": "-1"}),
        json!({"op": "mint", "account": CLIENT}),
        json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 1, "proof": "zz"}),
        json!({"op": "advance", "seconds": -1}),
        json!({"op": "teleport"}),
        json!({"no": "op"}),
        json!([1, 2]),
    ] {
        tool.refused(line, "invalid");
    }
    let before = tool.state();
    assert_eq!(tool.0.handle_line("{not json"), r#"{"error":"invalid"}"#);
    assert_eq!(tool.0.handle_line(&"x".repeat(70_000)), r#"{"error":"invalid"}"#);
    assert_eq!(tool.state(), before);
}

#[test]
fn the_tools_default_configuration_requires_a_proof_every_period_at_probability_one() {
    let mut tool = funded();
    let request_id = tool.ok(request(1))["request_id"].as_str().unwrap().to_owned();
    let s0 = slot_hex(&request_id, 0);
    tool.ok(json!({"op": "reserve_slot", "host": HOST, "request_id": request_id, "slot_index": 0}));
    tool.ok(json!({"op": "fill_slot", "host": HOST, "request_id": request_id, "slot_index": 0, "proof": "01"}));
    // Periods 1 and 2 are missed; the second frees the slot (2 slashes).
    for period in 1..=2u64 {
        let now = tool.state()["now"].as_u64().unwrap();
        tool.advance((period + 1) * PERIOD + 1 - now);
        tool.ok(json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": s0, "period": period}));
    }
    let state = tool.state();
    assert!(
        state["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == json!(s0) && s["state"] == json!("Repair"))
    );
}

#[test]
fn a_line_repeated_after_a_failed_commit_applies_at_most_once() {
    for after_write in [false, true] {
        let store = FaultyStore::new(MemStore::new());
        let mut tool = Tool(MarketplaceCli::open(&store, default_config(), [2; 32]).unwrap());
        let mint = json!({"op": "mint", "account": CLIENT, "amount": "700"});
        let fault = Fault::on_commit().nth(1).times(1);
        store.inject(if after_write {
            fault.after_write()
        } else {
            fault.before_write()
        });
        assert_eq!(tool.send(mint.clone()), json!({"error": "store"}));
        assert_eq!(tool.ok(mint.clone()), json!({"events": []}));
        assert_eq!(
            tool.state()["balances"][CLIENT],
            json!("700"),
            "after_write: {after_write}"
        );
        // Once it succeeded, the same line again is a new mint.
        tool.ok(mint);
        assert_eq!(tool.state()["balances"][CLIENT], json!("1400"));
    }
}

#[test]
fn a_redb_like_restart_keeps_the_chain_and_its_clock() {
    let store = std::sync::Arc::new(MemStore::new());
    let mut first = Tool(MarketplaceCli::open(std::sync::Arc::clone(&store), default_config(), [3; 32]).unwrap());
    first.ok(json!({"op": "mint", "account": CLIENT, "amount": "5"}));
    first.advance(90);
    let before = first.state();
    drop(first);
    let mut second = Tool(MarketplaceCli::open(store, default_config(), [4; 32]).unwrap());
    assert_eq!(second.state(), before);
    assert_eq!(second.advance(1), 91);
}
