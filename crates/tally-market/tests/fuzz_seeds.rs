//! Replays the committed fuzz seeds (fuzz/seeds/market_cli, market_sales)
//! and their truncations through the fuzz entry points: nothing may panic
//! and the invariants the targets check must hold.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_market::fuzzing::{market_cli, sales_machine};

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
