//! Replays the committed fuzz seeds (fuzz/seeds/channel_json) and some
//! hostile inputs through the fuzz entry point: nothing may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_channel::fuzzing::channel_json;

#[test]
fn committed_seeds_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/channel_json");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        channel_json(&data);
        // Every truncation too: the cheapest way to reach the error paths.
        for end in (0..data.len()).step_by(7) {
            channel_json(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= 8, "only {count} seeds in {}", dir.display());
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_amount = format!(r#"{{"amount":"{}"}}"#, "9".repeat(100_000));
    for selector in 0u8..4 {
        for input in [
            "".to_owned(),
            "null".to_owned(),
            deep.clone(),
            huge_amount.clone(),
            r#"{"chain_id":-1,"amount":"1"}"#.to_owned(),
            r#"{"chain_id":1e400}"#.to_owned(),
            "\u{0}\u{ffff}".to_owned(),
        ] {
            let mut data = vec![selector];
            data.extend_from_slice(input.as_bytes());
            channel_json(&data);
        }
    }
}
