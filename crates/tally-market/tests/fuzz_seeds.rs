//! Replays the committed fuzz seeds (fuzz/seeds/market_cli, market_sales,
//! marketplace_cli)
//! and their truncations through the fuzz entry points: nothing may panic
//! and the invariants the targets check must hold.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_market::fuzzing::{market_cli, marketplace_cli, sales_machine};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(out.len() >= 3, "only {} seeds in {}", out.len(), dir.display());
    out
}

#[test]
fn committed_market_cli_seeds_keep_the_invariants() {
    for data in seeds("market_cli") {
        market_cli(&data);
        for end in (0..data.len()).step_by(97) {
            market_cli(&data[..end]);
        }
    }
}

#[test]
fn committed_market_sales_seeds_do_not_panic() {
    for data in seeds("market_sales") {
        for end in 0..=data.len() {
            sales_machine(&data[..end]);
        }
    }
}

#[test]
fn hostile_bytes_do_not_panic() {
    let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    market_cli(deep.as_bytes());
    market_cli(&[0xff, 0xfe, b'\n', b'{']);
    for seed in 0u8..=255 {
        let data: Vec<u8> = (0..200u16)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
            .collect();
        sales_machine(&data);
    }
}

#[test]
fn committed_marketplace_cli_seeds_keep_the_contract_invariants() {
    let seeds = seeds("marketplace_cli");
    assert!(seeds.len() >= 8, "only {} marketplace_cli seeds", seeds.len());
    for data in seeds {
        marketplace_cli(&data);
        for end in (0..data.len()).step_by(89) {
            marketplace_cli(&data[..end]);
        }
    }
}

/// Writes fuzz/seeds/marketplace_cli/ (the seeds name real request and
/// slot ids, so they are made through the tool itself):
/// `cargo test -p tally-market --all-features --test fuzz_seeds -- --ignored write_marketplace_cli_seeds`.
#[test]
#[ignore = "writes the committed seeds; run by hand after changing the tool"]
fn write_marketplace_cli_seeds() {
    use serde_json::{Value, json};
    use tally_market::marketplace::cli::{MarketplaceCli, default_config};
    use tally_market::{RequestId, slot_id};
    use tally_store::MemStore;

    const CLIENT: &str = "0x1111111111111111111111111111111111111111";
    const HOST: &str = "0x2222222222222222222222222222222222222222";
    const HOST2: &str = "0x3333333333333333333333333333333333333333";
    const VALIDATOR: &str = "0x4444444444444444444444444444444444444444";
    let request = |n: u8, slots: u64, probability: &str, loss: u64| {
        json!({
            "op": "request_storage", "client": CLIENT,
            "ask": {
                "slots": slots, "slot_size": 10, "duration": 2_400, "proof_probability": probability,
                "price_per_byte_per_second": "2", "collateral_per_byte": "5", "max_slot_loss": loss
            },
            "expiry": 600, "nonce": format!("0x{}", hex::encode([n; 32])),
        })
    };
    // The request's id, and its slots' ids, as the tool computes them.
    let ids = |line: &Value, slots: u64| {
        let mut tool = MarketplaceCli::open(MemStore::new(), default_config(), [0; 32]).unwrap();
        tool.handle_line(&json!({"op": "mint", "account": CLIENT, "amount": "1000000"}).to_string());
        let answer: Value = serde_json::from_str(&tool.handle_line(&line.to_string())).unwrap();
        let id = answer["ok"]["request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}: {answer}"))
            .to_owned();
        let parsed: RequestId = id.parse().unwrap();
        let slot_ids: Vec<String> = (0..slots)
            .map(|i| format!("0x{}", slot_id(&parsed, i).to_hex()))
            .collect();
        (id, slot_ids)
    };
    let mint = |account: &str| json!({"op": "mint", "account": account, "amount": "1000000"});
    let advance = |seconds: u64| json!({"op": "advance", "seconds": seconds});
    let reserve =
        |host: &str, id: &str, i: u64| json!({"op": "reserve_slot", "host": host, "request_id": id, "slot_index": i});
    let fill = |host: &str, id: &str, i: u64| json!({"op": "fill_slot", "host": host, "request_id": id, "slot_index": i, "proof": "0xabcd"});
    let prove = |host: &str, slot: &str| json!({"op": "submit_proof", "host": host, "slot_id": slot, "proof": "01"});
    let missing = |slot: &str, period: u64| json!({"op": "mark_proof_as_missing", "validator": VALIDATOR, "slot_id": slot, "period": period});
    let free = |host: &str, slot: &str| json!({"op": "free_slot", "host": host, "slot_id": slot});
    let withdraw = |id: &str| json!({"op": "withdraw_funds", "client": CLIENT, "request_id": id});
    let state = json!({"op": "state"});

    let two = request(1, 2, "1", 1);
    let (r, s) = ids(&two, 2);
    let funded = [mint(CLIENT), mint(HOST), mint(HOST2)];
    let mut seeds: Vec<(&str, Vec<Value>)> = Vec::new();
    let with = |lines: Vec<Value>| funded.iter().cloned().chain(lines).collect::<Vec<_>>();
    seeds.push((
        "lifecycle",
        with(vec![
            two.clone(),
            advance(100),
            reserve(HOST, &r, 0),
            fill(HOST, &r, 0),
            reserve(HOST2, &r, 1),
            fill(HOST2, &r, 1),
            state.clone(),
            advance(120),
            prove(HOST, &s[0]),
            prove(HOST2, &s[1]),
            advance(2_400),
            free(HOST, &s[0]),
            free(HOST2, &s[1]),
            withdraw(&r),
            state.clone(),
        ]),
    ));
    seeds.push((
        "slashing_and_repair",
        with(vec![
            two.clone(),
            advance(100),
            reserve(HOST, &r, 0),
            fill(HOST, &r, 0),
            reserve(HOST2, &r, 1),
            fill(HOST2, &r, 1),
            advance(120),
            prove(HOST, &s[0]),
            advance(141),
            missing(&s[0], 2),
            prove(HOST2, &s[1]),
            advance(120),
            missing(&s[0], 3),
            reserve(HOST2, &r, 0),
            fill(HOST2, &r, 0),
            state.clone(),
        ]),
    ));
    seeds.push((
        "cancelled",
        with(vec![
            two.clone(),
            reserve(HOST, &r, 0),
            fill(HOST, &r, 0),
            advance(601),
            withdraw(&r),
            state.clone(),
        ]),
    ));
    seeds.push((
        "failed",
        with(vec![
            two.clone(),
            reserve(HOST, &r, 0),
            fill(HOST, &r, 0),
            reserve(HOST2, &r, 1),
            fill(HOST2, &r, 1),
            advance(241),
            missing(&s[0], 1),
            missing(&s[1], 1),
            advance(120),
            missing(&s[0], 2),
            missing(&s[1], 2),
            state.clone(),
            advance(2_400),
            withdraw(&r),
            state.clone(),
        ]),
    ));
    seeds.push((
        "refusals",
        with(vec![
            fill(HOST, &r, 0),
            two.clone(),
            two.clone(),
            fill(HOST, &r, 0),
            reserve(HOST, &r, 5),
            reserve(HOST, &r, 0),
            reserve(HOST, &r, 0),
            fill(HOST2, &r, 0),
            prove(HOST, &s[0]),
            missing(&s[0], 0),
            free(HOST2, &s[0]),
            withdraw(&r),
            json!({"op": "mint", "account": CLIENT, "amount": "-1"}),
            json!({"op": "advance", "seconds": u64::MAX}),
            json!({"op": "nope"}),
            json!([1, 2]),
            json!(null),
        ]),
    ));
    seeds.push((
        "poor_client",
        vec![
            mint(HOST),
            two.clone(),
            json!({"op": "mint", "account": CLIENT, "amount": "5"}),
            two.clone(),
            state.clone(),
        ],
    ));
    let single = request(2, 1, "1000", 0);
    let (r1, s1) = ids(&single, 1);
    seeds.push((
        "no_proofs_needed",
        with(vec![
            single,
            reserve(HOST, &r1, 0),
            fill(HOST, &r1, 0),
            advance(3_000),
            free(HOST, &s1[0]),
            state.clone(),
        ]),
    ));
    seeds.push((
        "extreme_numbers",
        with(vec![
            json!({"op": "mint", "account": CLIENT,
            "amount": "115792089237316195423570985008687907853269984665640564039457584007913129639935"}),
            json!({"op": "request_storage", "client": CLIENT, "ask": {"slots": 65535, "slot_size": u64::MAX,
            "duration": u64::MAX, "proof_probability": "0", "price_per_byte_per_second": "1",
            "collateral_per_byte": "0", "max_slot_loss": 0}, "expiry": 1, "nonce": "0x00"}),
            json!({"op": "request_storage", "client": CLIENT, "ask": {"slots": 0, "slot_size": 0, "duration": 0,
            "proof_probability": "0", "price_per_byte_per_second": "0", "collateral_per_byte": "0",
            "max_slot_loss": 9}, "expiry": 0, "nonce": format!("0x{}", "00".repeat(32))}),
            advance(u64::MAX / 2),
            advance(u64::MAX / 2),
            state.clone(),
        ]),
    ));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/marketplace_cli");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, lines) in seeds {
        // The scenarios run through without a refusal, so they reach deep.
        if !matches!(name, "refusals" | "poor_client" | "extreme_numbers") {
            let mut tool = MarketplaceCli::open(MemStore::new(), default_config(), [0; 32]).unwrap();
            for line in &lines {
                let answer = tool.handle_line(&line.to_string());
                assert!(answer.starts_with(r#"{"ok":"#), "{name}: {line} answered {answer}");
            }
        }
        let mut text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        if name == "refusals" {
            text.push_str("{not json\n\n{\"op\":\"state\"}\n");
        }
        std::fs::write(dir.join(format!("{name}.jsonl")), text).unwrap();
    }
}
